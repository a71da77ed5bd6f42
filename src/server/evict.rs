//! Making room on a full server: which connection to close to admit a new one.

use super::session::Session;
use super::{ConnId, Now, Outbox, Server};
use crate::proto::ErrorCode;
use std::time::Instant;

/// How many of the longest idle sessions one walk over all of them finds.
const BATCH: usize = 64;

/// The sessions a full server would close first, found by one walk over them all: the longest
/// idle ones, kept for the next accepts (each looked at again before it is closed), or, when
/// none may be closed, the earliest time one could be. So a crowd knocking at a full server
/// costs a walk per [`BATCH`] closings or per idle period, not a walk per knock (16,384
/// sessions: ~130 µs).
#[derive(Debug, Default)]
pub(super) struct Evictable {
    /// Candidates with the `active` time they were found with, the longest idle last.
    queue: Vec<(Instant, ConnId)>,
    /// No session may be closed before this; `None`: not known.
    none_before: Option<Instant>,
}

impl Server {
    /// Makes room on a full server: closes the connection that has gone longest without a
    /// request, if it made none for an idle period and did not log in with a password (or a
    /// token). So a crowd of idle connections cannot lock everyone else out, while users who
    /// logged in are never pushed out by strangers.
    pub(super) fn evict_idle(&mut self, now: &Now, out: &mut impl Outbox) -> bool {
        let Some(victim) = self.next_evictable(now.mono) else {
            return false;
        };
        log::info!("server full: closing conn {victim}, idle longest, to admit a new one");
        let reason = "the server is full and this connection was idle";
        self.fail(victim, None, ErrorCode::TooManyConnections, reason, out);
        true
    }

    /// The session to close, if one may be: from the candidates found by the last walk, still
    /// idle since, or else from a new walk.
    fn next_evictable(&mut self, now: Instant) -> Option<ConnId> {
        if let Some(c) = self.next_found(now) {
            return Some(c);
        }
        if self.evictable.none_before.is_some_and(|t| now < t) {
            return None;
        }
        let idle = self.limits.idle_timeout;
        // A session accepted from now on may be closed an idle period from now at the soonest.
        let mut first = now.checked_add(idle).unwrap_or(now);
        let mut found = Vec::new();
        for (c, s) in self.sessions.iter().enumerate() {
            let Some(s) = s.as_deref().filter(|s| !s.logged_in) else {
                continue;
            };
            match s.active.checked_add(idle) {
                Some(t) if t <= now => found.push((s.active, c)),
                Some(t) => first = first.min(t),
                None => {}
            }
        }
        if found.len() > BATCH {
            found.select_nth_unstable_by_key(BATCH - 1, |&(active, _)| active);
            found.truncate(BATCH);
        }
        found.sort_unstable_by_key(|&(active, _)| std::cmp::Reverse(active));
        self.evictable = Evictable {
            none_before: found.is_empty().then_some(first),
            queue: found,
        };
        self.next_found(now)
    }

    /// The longest idle of the candidates still idle since they were found, if any.
    fn next_found(&mut self, now: Instant) -> Option<ConnId> {
        let idle = self.limits.idle_timeout;
        // The same session (a conn number is reused only by a newer one, active later), with no
        // request since, not logged in since.
        let same = |s: &Session, active: Instant| {
            s.active == active && !s.logged_in && now.saturating_duration_since(active) >= idle
        };
        while let Some((active, c)) = self.evictable.queue.pop() {
            if self.session(c).is_some_and(|s| same(s, active)) {
                return Some(c);
            }
        }
        None
    }

    /// Forgets what the last walk found: the idle period changed.
    pub(super) fn forget_evictable(&mut self) {
        self.evictable = Evictable::default();
    }
}
