//! The core's [`Outbox`] as the shell implements it: replies and Events go into the
//! connections' buffers (a slow consumer is cut off here), Records and queries to the store's
//! threads, password and token checks to theirs.

use super::ShellStats;
use super::batch::Batch;
use super::conn::{Conn, SlowConsumer};
use crate::proto::{ErrorCode, Msg};
use crate::server::{ConnId, Outbox, Server};
use crate::store::accounts::Accounts;
use crate::store::worker::{StateSave, Store};
use crate::store::{Query, Record};
use slab::Slab;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// The core's [`Outbox`], writing into the connections' buffers.
pub(super) struct Wire<'a> {
    pub(super) conns: &'a mut Slab<Conn>,
    pub(super) dirty: &'a mut Vec<ConnId>,
    pub(super) stats: &'a mut ShellStats,
    /// Connections the shell started closing on its own (slow consumers): the core must forget
    /// them once it is done with the current request.
    pub(super) detached: &'a mut Vec<ConnId>,
    /// Where a reply is encoded when it cannot go straight into its write buffer.
    pub(super) scratch: &'a mut [u8],
    /// Events waiting for their audience; pushed before any other output that could reach one
    /// of its connections, and at the latest when the Wire is settled or dropped.
    pub(super) batch: &'a mut Batch,
    pub(super) max_queue: usize,
    pub(super) now: Instant,
    pub(super) store: Option<&'a Store>,
    pub(super) accounts: Option<&'a Accounts>,
    pub(super) verifier: Option<&'a crate::federation::Verifier>,
    /// Connections whose held-back input may be processed again.
    pub(super) unread: &'a mut Vec<ConnId>,
    pub(super) refused: &'a mut Vec<u64>,
}

impl Wire<'_> {
    /// Pushes the waiting batch to its audience.
    pub(super) fn commit(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut *self.batch);
        let mut shared = None;
        let (to, bytes) = batch.parts();
        for c in to {
            self.push(c, bytes, &mut shared);
        }
        *self.batch = batch;
        self.batch.clear();
    }

    /// Ends the Wire: pushes the waiting batch, then tells the core about the connections the
    /// shell cut off meanwhile.
    pub(super) fn settle(mut self, server: &mut Server) {
        self.commit();
        self.forget_detached(server);
    }

    /// Tells the core about the connections the shell cut off (slow consumers), so that it
    /// accepts nothing more for them.
    pub(super) fn forget_detached(&mut self, server: &mut Server) {
        for gone in self.detached.drain(..) {
            server.detached(gone, ErrorCode::SlowConsumer);
        }
    }

    fn push(&mut self, to: ConnId, frame: &[u8], shared: &mut Option<Rc<[u8]>>) {
        let Some(c) = self.conns.get_mut(to) else { return };
        if c.push(frame, shared, self.max_queue, self.now) == Err(SlowConsumer) {
            self.stats.slow_consumers += 1;
            self.detached.push(to);
            drop_slow_consumer(c, self.now);
        }
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(to);
        }
    }

    fn mark_dirty(&mut self, to: ConnId) {
        mark_dirty(self.conns, self.dirty, to);
    }
}

/// Adds `key` to the connections to read again next turn, once.
pub(super) fn mark_unread(conns: &mut Slab<Conn>, unread: &mut Vec<ConnId>, key: ConnId) {
    if let Some(c) = conns.get_mut(key)
        && !std::mem::replace(&mut c.unread, true)
    {
        unread.push(key);
    }
}

/// Ends a slow consumer's output with the reason, and starts closing it. The frames still queued
/// are dropped, so that the reason (after at most one write buffer of Events) reaches a client
/// that is reading, however slowly, before the close grace period ends; the client sees an
/// unbroken run of Events, then Error 503. Out of line: it is rare.
#[cold]
#[inline(never)]
fn drop_slow_consumer(c: &mut Conn, now: Instant) {
    let pending = c.pending();
    let dropped = c.drop_queue();
    log::warn!(
        "{}: slow consumer, {pending} bytes pending; disconnecting ({dropped} queued frames dropped)",
        c.peer
    );
    let code = ErrorCode::SlowConsumer as u16;
    // The Bye names its code, as the core's do.
    let label = Some(ErrorCode::SlowConsumer.label());
    let error = Msg::Error(crate::proto::ErrorMsg {
        seq: None,
        code,
        reason: Some("output queue full"),
        server: None,
        topic: None,
        retry_after: None,
    });
    let bye = Msg::Bye(crate::proto::Bye { code, reason: label });
    let mut buf = [0u8; 128];
    for msg in [error, bye] {
        if let Ok(n) = msg.encode(&mut buf) {
            c.push_final(&buf[..n]);
        }
    }
    c.start_closing(now);
}

/// Puts a connection on the list to flush at the end of this turn, once.
pub(super) fn mark_dirty(conns: &mut Slab<Conn>, dirty: &mut Vec<ConnId>, key: ConnId) {
    if let Some(c) = conns.get_mut(key)
        && !c.dirty
    {
        c.dirty = true;
        dirty.push(key);
    }
}

impl Drop for Wire<'_> {
    /// Nothing the core produced is left behind (a caller that can should
    /// [`settle`](Wire::settle) instead, so that the core hears of slow consumers at once).
    fn drop(&mut self) {
        self.commit();
    }
}

impl Outbox for Wire<'_> {
    /// Straight to the socket for a connection that is not busy, else into its buffers.
    fn send(&mut self, to: ConnId, frame: &[u8]) {
        if self.batch.holds_up(to) {
            self.commit();
        }
        match self.conns.get_mut(to) {
            Some(c) if c.may_write_through() => {
                c.write_through(frame, self.now);
                self.mark_dirty(to);
            }
            _ => self.push(to, frame, &mut None),
        }
    }

    /// Encoded straight into a busy connection's write buffer; otherwise encoded in the scratch
    /// buffer and [`send`](Outbox::send).
    fn reply(&mut self, to: ConnId, msg: &Msg<'_>) {
        if self.batch.holds_up(to) {
            self.commit();
        }
        let Some(c) = self.conns.get_mut(to) else { return };
        if !c.may_write_through() && c.encode_in(msg) {
            self.mark_dirty(to);
            return;
        }
        let scratch = std::mem::take(&mut self.scratch);
        match msg.encode(scratch) {
            Ok(n) => self.send(to, &scratch[..n]),
            Err(_) => log::error!("{} to conn {to} does not fit a frame", msg.msg_type().label()),
        }
        self.scratch = scratch;
    }

    /// Into the batch when it goes to several connections; a batch for another audience is
    /// pushed first.
    fn fanout(&mut self, to: &[ConnId], except: Option<ConnId>, frame: &[u8]) {
        // A quarter of max-queue at most: a batch that does not fit a subscriber's write buffer
        // is queued whole, and must not alone make it a slow consumer.
        if !self.batch.fits(to, except, frame, self.max_queue / 4) {
            self.commit();
        }
        if to.len() > 1 {
            self.batch.add(to, except, frame);
            return;
        }
        let mut shared = None;
        for &c in to {
            if Some(c) != except {
                self.push(c, frame, &mut shared);
            }
        }
    }

    fn busy(&self, conn: ConnId) -> bool {
        self.conns
            .get(conn)
            .is_some_and(|c| c.pending() > self.max_queue / 4)
    }

    fn close(&mut self, conn: ConnId) {
        self.commit();
        let Some(c) = self.conns.get_mut(conn) else { return };
        c.start_closing(self.now);
        self.mark_dirty(conn);
    }

    fn persist(&mut self, rec: Arc<Record>, save: Option<StateSave>) -> bool {
        // The core keeps fewer Events unwritten than the queue holds, so this fails only if
        // the writer thread is gone.
        let pos = rec.pos;
        let taken = self.store.is_some_and(|s| s.write_saving(rec, save).is_ok());
        if !taken {
            log::error!("the store's writer refused the event at position {pos}");
        }
        taken
    }

    fn query(&mut self, q: Query) {
        if self.store.is_none_or(|s| s.query(q.clone()).is_err()) {
            self.refused.push(q.token);
        }
    }

    fn flush_store(&mut self) {
        if let Some(s) = self.store {
            s.flush();
        }
    }

    fn resume(&mut self, conn: ConnId) {
        mark_unread(self.conns, self.unread, conn);
    }

    fn save_state(&mut self, key: &str, value: Option<Vec<u8>>) -> bool {
        self.store.is_some_and(|s| s.save_state(key, value).is_ok())
    }

    fn verify(&mut self, job: crate::server::PasswordCheck) -> bool {
        self.accounts.is_some_and(|a| a.verify(job))
    }

    fn keep_start(&mut self, start: crate::store::accounts::AccountStart) -> bool {
        self.accounts.is_some_and(|a| a.keep_start(start))
    }

    fn check_token(&mut self, job: crate::server::TokenCheck) -> bool {
        self.verifier.is_some_and(|v| v.check(job))
    }
}
