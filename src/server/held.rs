//! Replies held until the state they announce is on disk (`--fsync always`): the record of a
//! block or of a user's mode, of a server ban, of a new message of the day. Such changes live
//! in the store's state (`saved`), not in an Event, so the commit that makes them durable is a
//! state save's, which the store counts ([`Done::Saved`](crate::store::Done::Saved)). The
//! requester's input waits meanwhile, so its replies stay in order, as behind a Message's echo.

use super::outbox::ConnId;
use super::presence::Unstored;
use super::{Outbox, Server};
use crate::proto::{ErrorCode, Msg};
use crate::store::Fsync;
use std::collections::VecDeque;

/// A record held for its save.
#[derive(Debug)]
struct Held {
    /// How many saves the store must have committed first; `None` until every key changed
    /// before the record was made has been handed to the store (its queue was full).
    after: Option<u64>,
    /// The requester and its reply (the record with the request's `seq`, or what follows the
    /// record it gets in `to`); `None` once it closed, since its number may go to another
    /// connection.
    echo: Option<(ConnId, Vec<u8>)>,
    /// The other connections that get the record, and the record without `seq`.
    to: Vec<ConnId>,
    frame: Vec<u8>,
}

/// The saves handed to the store, those it committed, and the records waiting for them.
#[derive(Debug, Default)]
pub struct HeldSaves {
    /// State saves the store took ([`Outbox::save_state`] returned true), counted as the
    /// store counts them.
    handed: u64,
    /// How many of those it has committed.
    done: u64,
    held: VecDeque<Held>,
}

impl HeldSaves {
    /// One more save taken by the store.
    pub(super) fn handed(&mut self) {
        self.handed += 1;
    }

    /// Every key changed so far has been handed to the store: the records held until then
    /// wait for exactly these saves.
    fn all_handed(&mut self) {
        let handed = self.handed;
        for h in self.held.iter_mut().rev().take_while(|h| h.after.is_none()) {
            h.after = Some(handed);
        }
    }

    /// The store committed its first `done` saves: the records they were waiting for, oldest
    /// first.
    fn saved(&mut self, done: u64) -> Vec<Held> {
        self.done = self.done.max(done);
        let mut ready = Vec::new();
        while self
            .held
            .front()
            .is_some_and(|h| h.after.is_some_and(|a| a <= self.done))
        {
            ready.extend(self.held.pop_front());
        }
        ready
    }

    /// How many records are held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Forgets a closed connection, whose number the shell may give to another.
    pub(super) fn forget(&mut self, conn: ConnId) {
        for h in &mut self.held {
            if h.echo.as_ref().is_some_and(|(c, _)| *c == conn) {
                h.echo = None;
            }
            h.to.retain(|&c| c != conn);
        }
    }
}

impl Server {
    /// Why a change kept in the server's state is refused now, if it is: under `--fsync
    /// always` its record waits for its save, which a failing store holds back for as long as
    /// it fails (for good once its writer is gone), so it is refused as a Message would be.
    pub(super) fn refuse_unsaved(&self) -> Option<(ErrorCode, String)> {
        self.history
            .as_ref()
            .filter(|h| h.fsync == Fsync::Always && h.failing)
            .map(|_| {
                let reason = "the history store cannot save changes now; try again later";
                (ErrorCode::StoreUnavailable, reason.into())
            })
    }

    /// Sends the record of a change kept in the server's state (made by `echo`'s request) to
    /// `to` and, with the request's `seq`, to `echo`: at once, or under `--fsync always` once
    /// the change is on disk.
    pub(super) fn send_saved(
        &mut self,
        e: Unstored<'_>,
        to: &[ConnId],
        echo: (ConnId, Option<u32>),
        now_ms: u64,
        out: &mut impl Outbox,
    ) {
        self.send_saved_as(e, to, echo, None, now_ms, out);
    }

    /// As [`Server::send_saved`], for a request whose reply is not its record (a user's
    /// SetMeta, answered by a Meta): the requester, one of `to`, gets the record as they do,
    /// then `reply`.
    pub(super) fn send_saved_then(
        &mut self,
        e: Unstored<'_>,
        to: &[ConnId],
        requester: ConnId,
        reply: Vec<u8>,
        now_ms: u64,
        out: &mut impl Outbox,
    ) {
        self.send_saved_as(e, to, (requester, None), Some(reply), now_ms, out);
    }

    fn send_saved_as(
        &mut self,
        e: Unstored<'_>,
        to: &[ConnId],
        echo: (ConnId, Option<u32>),
        then: Option<Vec<u8>>,
        now_ms: u64,
        out: &mut impl Outbox,
    ) {
        let (conn, seq) = echo;
        if !self
            .history
            .as_ref()
            .is_some_and(|h| h.fsync == Fsync::Always && !h.gone)
        {
            let Some(reply) = then else {
                return self.send_unstored(e, to, Some(echo), now_ms, out);
            };
            self.send_unstored(e, to, None, now_ms, out);
            return out.send(conn, &reply);
        }
        // Handed now, not at the next tick: the requester waits for it.
        self.save(out);
        let event = self.stamp_unstored(e, now_ms);
        let (Ok(frame), Ok(record)) = (
            Msg::Event(event).to_frame(),
            Msg::Event(crate::proto::Event { seq, ..event }).to_frame(),
        ) else {
            // A record always fits a frame (its parts are bounded); were one not to, nothing
            // is held for it.
            return log::error!("the record of a change on {} does not fit a frame", event.topic);
        };
        // The requester gets its record among the others' when another reply follows it.
        let others = |c: &ConnId| then.is_some() || *c != conn;
        let held = Held {
            after: None,
            to: to.iter().copied().filter(others).collect(),
            echo: Some((conn, then.unwrap_or(record))),
            frame,
        };
        let Some(h) = self.history.as_mut() else { return };
        h.saves.held.push_back(held);
        self.pause(conn);
        if self.unsaved.is_empty() {
            self.all_saves_handed(out);
        }
    }

    /// Every key changed so far was handed to the store: the records held until then wait
    /// for those saves (and go out now if, somehow, they are all done already).
    pub(super) fn all_saves_handed(&mut self, out: &mut impl Outbox) {
        let Some(h) = self.history.as_mut() else { return };
        h.saves.all_handed();
        let done = h.saves.done;
        self.saves_done(done, out);
    }

    /// The store committed its first `done` state saves: the records waiting for them go out.
    pub(super) fn saves_done(&mut self, done: u64, out: &mut impl Outbox) {
        let Some(h) = self.history.as_mut() else { return };
        let ready = h.saves.saved(done);
        self.release(ready, out);
    }

    /// The writer is gone: nothing held will be saved. The changes are in force until the
    /// server stops, so their records go out as they are.
    pub(super) fn release_all_saves(&mut self, out: &mut impl Outbox) {
        let Some(h) = self.history.as_mut() else { return };
        let all = std::mem::take(&mut h.saves.held).into();
        self.release(all, out);
    }

    fn release(&mut self, ready: Vec<Held>, out: &mut impl Outbox) {
        for h in ready {
            out.fanout(&h.to, None, &h.frame);
            self.stats.deliveries += h.to.len() as u64;
            if let Some((conn, reply)) = h.echo {
                out.send(conn, &reply);
                self.resume(conn, out);
            }
        }
    }
}
