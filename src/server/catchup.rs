//! Catchup and Search: who may read what, the ring for the common cases, the store for the
//! rest, and the replay.

use super::history::Read;
use super::publish::event_of;
use super::{ConnId, Now, Outbox, Server};
use crate::proto::*;
use crate::store::{Done, Page, Query, Reader, Record, Scope, StoreError, thread_of};
use std::ops::Deref;

/// Events replayed for one request, at most: with the byte cap below, bounds the output one
/// request adds to a connection's queue.
pub const MAX_REPLAY: u32 = 500;

impl Server {
    /// A Catchup (`text` None) or Search.
    pub(super) fn catchup(
        &mut self,
        conn: ConnId,
        c: Catchup<'_>,
        text: Option<&str>,
        now: &Now,
        out: &mut impl Outbox,
    ) {
        if let Some((code, reason)) = self.foreign_own(conn, c.topic, "direct messages") {
            return self.fail(conn, c.seq, code, &reason, out);
        }
        let Some((me, asker, authenticated, proven, reads_from)) = self.session(conn).and_then(|s| {
            let me = Box::<str>::from(s.user.as_deref()?);
            Some((me, s.addr(), s.authenticated, s.logged_in, s.reads_from))
        }) else {
            return;
        };
        let scope = match c.topic.kind() {
            Kind::Reserved => None,
            Kind::Channel => {
                if !self
                    .session(conn)
                    .is_some_and(|s| s.is_subscribed(c.topic.as_str()))
                {
                    let reason = format!("subscribe to {} to read its history", c.topic);
                    return self.fail(conn, c.seq, ErrorCode::NotSubscribed, &reason, out);
                }
                Some(Scope::Topic(c.topic.as_str().into()))
            }
            // A user's own topic holds the direct messages sent to them; any other user's
            // topic means the conversation with that user, both ways.
            Kind::User if c.topic.as_str() == &*me => Some(Scope::Topic(me.clone())),
            // A foreign user's conversations live on its home server (what it sent to users
            // here is in their direct messages, theirs to read).
            Kind::User if me.rsplit_once('@').is_none_or(|(_, d)| d != &*self.domain) => {
                let reason = "your conversations are kept by your home server";
                return self.fail(conn, c.seq, ErrorCode::ForeignTopic, reason, out);
            }
            Kind::User => Some(Scope::Thread(thread_of(&me, c.topic.as_str()))),
        };
        let reader = match c.topic.kind() {
            Kind::User => self.reader(&me, (authenticated, proven, reads_from)),
            _ => None,
        };
        // The ring answers a user's reads when the core knows where they start too.
        let ring_floor = match &reader {
            None => Some(None),
            Some(r) => r.known_start().map(Some),
        };
        // What was said while the channel was closed is for its life's readers alone: the
        // store leaves out other lives' (the ring never holds them).
        let life = match c.topic.kind() {
            Kind::Channel => self.rooms.get(c.topic.as_str()).and_then(|r| r.life()),
            _ => None,
        };
        let max_bytes = (self.limits.max_queue / 4).max(1);
        let count = c.count.min(MAX_REPLAY) as usize;
        let (Some(h), Some(scope)) = (self.history.as_mut(), scope) else {
            return end(conn, c, CatchupStatus::Unavailable, 0, None, out);
        };
        if let (None, Some(floor), Scope::Topic(name)) = (text, ring_floor, &scope)
            && let Some(hit) = h.ring.answer(
                name,
                &c,
                (count, max_bytes),
                (h.retention.rule(name), floor),
                now.unix_ms,
            )
        {
            let n = replay(conn, c.seq, hit.events.iter().map(Deref::deref), out);
            return end(conn, c, status(hit.more), n, None, out);
        }
        if let Some(busy) = h.busy(asker, text.is_some()) {
            h.refuse();
            return self.fail(conn, c.seq, ErrorCode::StoreUnavailable, busy.reason(), out);
        }
        let query = Query {
            token: 0,
            asker,
            scope,
            since: c.since,
            until: c.until,
            after: c.after,
            before: c.before,
            text: text.map(Into::into),
            count,
            max_bytes,
            reader,
            life,
        };
        if h.failing && h.would_miss_delivered(&query) {
            return self.fail(conn, c.seq, ErrorCode::StoreUnavailable, UNSTORED, out);
        }
        let read = Read {
            conn: Some(conn),
            seq: c.seq,
            topic: Some(c.topic.as_str().into()),
            search: text.is_some(),
            asker,
        };
        h.start_read(read, query, out);
        // Its next request waits for this answer, so replies stay in order.
        self.pause(conn);
    }

    /// Whose `me`'s direct messages are when this session reads them, given whether it logged
    /// in to an account, whether its home server's token proved it, and the position it took
    /// the name at. A session logged in to an account reads them only from the account's
    /// first position on (the store looks it up); one that took a free name without a proof,
    /// only those that reached the name since (its earlier users' are not its). One proven by
    /// its home's token reads them all (`None`): the name is its own.
    pub(super) fn reader(
        &self,
        me: &str,
        (authenticated, proven, reads_from): (bool, bool, u64),
    ) -> Option<Reader> {
        match (authenticated, proven) {
            (true, _) => {
                let known = self.accounts.names.get(me).copied().flatten();
                let placed = known.map_or(crate::store::accounts::UNSTARTED, |k| k.from_pos);
                Some(Reader::Account(me.into(), placed))
            }
            (false, false) => Some(Reader::Since(reads_from)),
            (false, true) => None,
        }
    }

    /// The store fails, for now or for good: queries waiting for a commit go on, or are
    /// refused where an answer from disk could miss what was delivered (see
    /// [`History::release_waiting`](super::history::History::release_waiting)); publishers
    /// held back for room go on, to be refused with 700.
    pub(super) fn store_failing(&mut self, out: &mut impl Outbox) {
        let Some(h) = self.history.as_mut() else { return };
        h.failing = true;
        h.release_waiting(out);
        for conn in h.room() {
            self.resume(conn, out);
        }
        self.refuse_unstored(out);
    }

    /// Refuses the queries the store's failure took out
    /// ([`History::take_refused`](super::history::History::take_refused)).
    fn refuse_unstored(&mut self, out: &mut impl Outbox) {
        let Some(h) = self.history.as_mut() else { return };
        for Read { conn, seq, topic, .. } in h.take_refused() {
            let Some(conn) = conn else { continue };
            let reason = match topic {
                Some(_) => UNSTORED,
                None => super::conversations::UNSTORED,
            };
            self.fail(conn, seq, ErrorCode::StoreUnavailable, reason, out);
            self.resume(conn, out);
        }
    }

    /// Something the store's threads finished.
    pub fn store_done(&mut self, done: Done, out: &mut impl Outbox) {
        let Some(h) = self.history.as_mut() else { return };
        match done {
            Done::Committed(pos) => {
                let ready = h.committed(pos, out);
                let room = h.room();
                self.confirm(ready, out);
                for conn in room {
                    self.resume(conn, out);
                }
            }
            Done::Saved(n) => self.saves_done(n, out),
            // The writer is gone for good; what it said before it went changes nothing.
            Done::Failing(_) | Done::Recovered if h.gone => {}
            Done::Failing(e) => {
                log::error!("{e}; refusing new messages until writes work again");
                self.store_failing(out);
            }
            Done::Gone => self.writer_lost(out),
            Done::Recovered => {
                log::warn!("the history store writes again");
                h.failing = false;
            }
            Done::Answer(token, result) => {
                let read = h.finish_read(token, out);
                self.refuse_unstored(out);
                if let Some(read) = read {
                    self.answer(read, result, out);
                }
            }
        }
    }

    fn answer(&mut self, read: Read, result: Result<Page, StoreError>, out: &mut impl Outbox) {
        let what = read.topic.as_deref().unwrap_or("a user's conversations");
        // Before the asker is looked for: one that left meanwhile still cost the store this.
        match &result {
            Ok(page) if page.cut => log::debug!(
                "a history query of {what} ran past its time bound: {} events found",
                page.events.len() + page.conversations.len()
            ),
            Err(StoreError::TooSlow) => {
                log::info!("a history query of {what} ran past its time bound and was stopped")
            }
            _ => {}
        }
        let Some(conn) = read.conn else { return };
        match result {
            Ok(page) => match read.topic.as_deref().map(Name::parse) {
                Some(Ok(topic)) => {
                    let c = Catchup {
                        seq: read.seq,
                        topic,
                        count: 0,
                        since: None,
                        until: None,
                        after: None,
                        before: None,
                    };
                    match page.unknown_anchor {
                        true => end(conn, c, CatchupStatus::UnknownId, 0, page.horizon, out),
                        false => {
                            let n = replay(conn, read.seq, page.events.iter(), out);
                            end(conn, c, status(page.more), n, page.horizon, out);
                        }
                    }
                }
                None => super::conversations::conversation_list(conn, read.seq, &page, out),
                // Cannot happen: the name was parsed when the request came.
                Some(Err(_)) => {}
            },
            Err(StoreError::TooSlow) => {
                let reason = match read.topic {
                    Some(_) => TOO_SLOW,
                    None => super::conversations::TOO_SLOW,
                };
                self.fail(conn, read.seq, ErrorCode::StoreUnavailable, reason, out);
            }
            Err(e) => {
                log::error!("history query failed: {e}");
                let reason = "the history store failed to answer";
                self.fail(conn, read.seq, ErrorCode::StoreUnavailable, reason, out);
            }
        }
        self.resume(conn, out);
    }
}

/// Why a read found nothing before its time bound. Narrower reads are quicker: a time range or
/// an anchor skips the rest of the topic, and a rare word's short list in the text index is
/// all a search of it walks.
const TOO_SLOW: &str = "the history query took longer than this server allows; ask for a narrower \
                        range (or, searching, rarer words and longer beginnings before a *)";

/// Why a read is refused while the store fails and Events it would cover are not on disk.
const UNSTORED: &str = "the history store is failing and has not stored the newest Events of this \
                        topic; try again later";

pub(super) fn status(more: bool) -> CatchupStatus {
    if more {
        CatchupStatus::Truncated
    } else {
        CatchupStatus::Complete
    }
}

/// Sends stored Events with the request's `seq`; returns how many.
fn replay<'r>(
    conn: ConnId,
    seq: Option<u32>,
    events: impl Iterator<Item = &'r Record>,
    out: &mut impl Outbox,
) -> u32 {
    let mut n = 0;
    for rec in events {
        if let Some(ev) = event_of(rec, seq) {
            out.reply(conn, &Msg::Event(ev));
            n += 1;
        }
    }
    n
}

fn end(
    conn: ConnId,
    c: Catchup<'_>,
    status: CatchupStatus,
    count: u32,
    horizon: Option<u64>,
    out: &mut impl Outbox,
) {
    let end = CatchupEnd {
        seq: c.seq,
        topic: c.topic,
        status,
        count,
        horizon,
    };
    out.reply(conn, &Msg::CatchupEnd(end));
}
