//! Connections refused at accept, counted for the log: a line each would let anyone who can
//! open connections write it, so each is a debug line, and at `info` the count is said at
//! most once a minute, by cause, so that an operator sees which limit is turning people away
//! (found by QA: an office behind one address showed only as a number).

use crate::proto::ErrorCode;
use std::fmt;
use std::time::{Duration, Instant};

/// The least time between two counts in the log.
const TOLD_EVERY: Duration = Duration::from_secs(60);

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtAccept {
    /// A connection limit, the connection rate or a server ban: what the client was told.
    Code(ErrorCode),
    /// Plain TCP from another host under `plain = loopback`: closed without a word.
    PlainFromAfar,
}

impl fmt::Display for AtAccept {
    /// As the debug line says it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AtAccept::Code(code) => write!(f, "{code}"),
            AtAccept::PlainFromAfar => {
                f.write_str("plain TCP from a non-loopback address (plain = loopback)")
            }
        }
    }
}

impl AtAccept {
    /// As the count says it: the cause, in the operator's words.
    fn cause(self) -> String {
        let code = match self {
            AtAccept::PlainFromAfar => return "plain = loopback".into(),
            AtAccept::Code(code) => code,
        };
        let words = match code {
            ErrorCode::BannedFromServer => "a server ban",
            ErrorCode::ConnectingTooFast => "the connection rate",
            ErrorCode::TooManyFromAddress => "max-per-address or max-per-subnet",
            ErrorCode::TooManyConnections => "max-connections",
            other => other.label(),
        };
        format!("{words} ({})", code as u16)
    }
}

/// The refusals not yet said, by cause, and when the count was last said.
#[derive(Debug, Default)]
pub(super) struct Untold {
    /// A handful of causes at most: a list beats a map.
    by: Vec<(AtAccept, u64)>,
    told_at: Option<Instant>,
}

impl Untold {
    /// Counts one refusal.
    pub fn count(&mut self, why: AtAccept) {
        match self.by.iter_mut().find(|(w, _)| *w == why) {
            Some((_, n)) => *n += 1,
            None => self.by.push((why, 1)),
        }
    }

    /// The line to log now, if refusals came since the last and that was a minute ago or more
    /// (or never): the count by cause, the most first.
    pub fn tell(&mut self, now: Instant) -> Option<String> {
        let due = self.told_at.is_none_or(|t| now.duration_since(t) >= TOLD_EVERY);
        if self.by.is_empty() || !due {
            return None;
        }
        let since = match self.told_at {
            Some(t) => format!("{} s ago", now.duration_since(t).as_secs()),
            None => "the start".into(),
        };
        self.by.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let total: u64 = self.by.iter().map(|(_, n)| n).sum();
        let causes: Vec<String> = self
            .by
            .drain(..)
            .map(|(w, n)| format!("{n} by {}", w.cause()))
            .collect();
        self.told_at = Some(now);
        Some(format!(
            "refused {total} connection(s) since {since}: {} (RUST_LOG=debug names each address)",
            causes.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_names_each_cause_the_most_first_at_most_once_a_minute() {
        let mut u = Untold::default();
        let start = Instant::now();
        assert_eq!(u.tell(start), None, "nothing to say");
        u.count(AtAccept::Code(ErrorCode::ConnectingTooFast));
        for _ in 0..3 {
            u.count(AtAccept::Code(ErrorCode::TooManyFromAddress));
        }
        u.count(AtAccept::PlainFromAfar);
        assert_eq!(
            u.tell(start).as_deref(),
            Some(
                "refused 5 connection(s) since the start: 3 by max-per-address or \
                 max-per-subnet (501), 1 by the connection rate (505), 1 by plain = loopback \
                 (RUST_LOG=debug names each address)"
            )
        );
        u.count(AtAccept::Code(ErrorCode::BannedFromServer));
        assert_eq!(u.tell(start + Duration::from_secs(59)), None, "within the minute");
        assert_eq!(
            u.tell(start + Duration::from_secs(61)).as_deref(),
            Some(
                "refused 1 connection(s) since 61 s ago: 1 by a server ban (807) (RUST_LOG=debug names each address)"
            )
        );
        assert_eq!(u.tell(start + Duration::from_secs(200)), None, "nothing new");
    }
}
