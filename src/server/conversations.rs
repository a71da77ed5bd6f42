//! Conversations: the list of a user's direct-message conversations, read from the store
//! (PROTOCOL.md §4, Conversations).

use super::catchup::status;
use super::history::Read;
use super::{ConnId, Outbox, Server};
use crate::proto::*;
use crate::store::{Page, Query, Scope};

/// Why a list is refused while the store fails and direct messages it would cover are not on
/// disk.
pub(super) const UNSTORED: &str = "the history store is failing and has not stored the newest \
                                   direct messages of your conversations; try again later";

/// Why a list found nothing it may name before its time bound.
pub(super) const TOO_SLOW: &str = "listing your conversations took longer than this server allows; \
                                   try again later";

impl Server {
    /// A Conversations request: the store lists them, after the Events accepted before it
    /// are stored (see [`History::start_read`](super::history::History::start_read)).
    pub(super) fn conversations(&mut self, conn: ConnId, c: Conversations<'_>, out: &mut impl Outbox) {
        let Some((me, asker, proofs)) = self.session(conn).and_then(|s| {
            let me = Box::<str>::from(s.user.as_deref()?);
            Some((me, s.addr(), (s.authenticated, s.logged_in, s.reads_from)))
        }) else {
            return;
        };
        // A user of another domain, proven by its home's token, talks here only to this
        // server's users, whose direct messages are theirs; its conversations are its home's.
        if me.rsplit_once('@').is_none_or(|(_, d)| d != &*self.domain) {
            let reason = "your conversations are kept by your home server";
            return self.fail(conn, c.seq, ErrorCode::ForeignTopic, reason, out);
        }
        let reader = self.reader(&me, proofs);
        let Some(h) = self.history.as_mut() else {
            return list(conn, c.seq, CatchupStatus::Unavailable, &[], None, out);
        };
        if let Some(busy) = h.busy(asker, false) {
            h.refuse();
            return self.fail(conn, c.seq, ErrorCode::StoreUnavailable, busy.reason(), out);
        }
        let query = Query {
            token: 0,
            asker,
            scope: Scope::Conversations(me, c.cursor.map(|n| n.as_str().into())),
            since: c.since,
            until: None,
            after: None,
            before: None,
            text: None,
            count: c.count.min(MAX_PAGE) as usize,
            max_bytes: usize::MAX,
            reader,
            life: None,
        };
        if h.failing && h.would_miss_delivered(&query) {
            return self.fail(conn, c.seq, ErrorCode::StoreUnavailable, UNSTORED, out);
        }
        let read = Read {
            conn: Some(conn),
            seq: c.seq,
            topic: None,
            search: false,
            asker,
        };
        h.start_read(read, query, out);
        // Its next request waits for this answer, so replies stay in order.
        self.pause(conn);
    }
}

/// Sends the ConversationList of a page the store found.
pub(super) fn conversation_list(conn: ConnId, seq: Option<u32>, page: &Page, out: &mut impl Outbox) {
    let cursor = page.cursor.as_deref().and_then(|c| Name::parse(c).ok());
    list(conn, seq, status(page.more), &page.conversations, cursor, out);
}

fn list(
    conn: ConnId,
    seq: Option<u32>,
    status: CatchupStatus,
    page: &[(Box<str>, u64)],
    cursor: Option<Name<'_>>,
    out: &mut impl Outbox,
) {
    // The store's names came from parsed requests; one that no longer parses is left out
    // rather than sent malformed.
    let (users, times): (Vec<Name<'_>>, Vec<u64>) = (page.iter())
        .filter_map(|(u, t)| Some((Name::parse(u).ok()?, *t)))
        .unzip();
    let reply = ConversationList {
        seq,
        status,
        users: List::Slice(&users),
        times: List::Slice(&times),
        cursor,
    };
    out.reply(conn, &Msg::ConversationList(reply));
}
