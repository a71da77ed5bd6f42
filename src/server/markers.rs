//! Read markers (PROTOCOL.md §4, Read markers): where a user logged in to an account stopped
//! reading each topic, on whichever device, as IRCv3's `draft/read-marker`. A device that
//! starts says as news only what none of the user's devices showed. Kept with the server's
//! state (`!read NAME`), so they outlive a restart; forgotten with the account.

use super::per_account::PerAccount;
use super::saved::READ;
use super::{ConnId, Now, Outbox, Server};
use crate::proto::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Markers one account keeps: a user reads a few dozen channels and conversations; the one
/// set longest ago goes first, so a new one is never refused.
pub const MAX_MARKERS: usize = 128;

/// Markers the server keeps in all: accounts may be many (open registration), and every
/// marker is held in memory and read back at start: 24 bytes in its account's list and its
/// topic's allocation (48 bytes for a name of 25–40, 144 for the longest), so about 19 MB
/// with names of a usual length, 45 MB with the longest (measured: PERFORMANCE.md).
pub const MAX_ALL_MARKERS: usize = 262_144;

/// Markers an account keeps adding, not recycling its own, while the server holds
/// [`MAX_ALL_MARKERS`]: accounts that fill the server's bound must not leave others with none.
pub const FLOOR_MARKERS: usize = 16;

/// How often an account's moved markers are saved, at most. A chat moves them each second it
/// shows messages, and a save writes the account's whole list (up to 18 KB): saved at each
/// move, a thousand readers would write megabytes a second. A crash loses at most this much
/// of their moves, which the clients make again as they show messages; a stop saves them all.
pub const SAVED_EVERY: Duration = Duration::from_secs(30);

/// Each account's markers: (topic, time), the one set longest ago first; and whose moved
/// since they were last saved.
#[derive(Debug, Default)]
pub(super) struct ReadMarkers {
    lists: PerAccount<(Box<str>, u64)>,
    moved: HashSet<Box<str>>,
    /// When the moved ones are saved next, if any moved since the last save.
    due: Option<Instant>,
}

impl ReadMarkers {
    /// `user`'s markers, the one set longest ago first.
    pub fn of(&self, user: &str) -> &[(Box<str>, u64)] {
        self.lists.of(user)
    }

    /// `user`'s marker on `topic`.
    pub fn get(&self, user: &str, topic: &str) -> Option<u64> {
        self.of(user)
            .iter()
            .find(|(t, _)| **t == *topic)
            .map(|&(_, time)| time)
    }

    /// Moves `user`'s marker on `topic` to `time`, if that is later or there is none (a
    /// marker never moves back); returns whether it moved. A new one past a bound takes the
    /// place of the account's own set longest ago.
    pub fn advance(&mut self, user: &str, topic: &str, time: u64) -> bool {
        let server_full = self.lists.total >= MAX_ALL_MARKERS;
        self.lists.edit(user, |list| {
            let topic: Box<str> = match list.iter().position(|(t, _)| **t == *topic) {
                Some(i) if list.get(i).is_some_and(|&(_, old)| old >= time) => return false,
                // Moved to the end: set last, so forgotten last.
                Some(i) => list.remove(i).0,
                None => {
                    if list.len() >= MAX_MARKERS || (server_full && list.len() >= FLOOR_MARKERS) {
                        list.remove(0);
                    }
                    topic.into()
                }
            };
            list.push((topic, time));
            true
        })
    }

    /// Sets `user`'s markers, as saved (a restart), the one set longest ago first. Only the
    /// account's bound applies, as for blocks: what was taken stays. Returns whether it
    /// dropped any (not topics, repeated, or past the bound: the newest are kept).
    pub fn restore(&mut self, user: &str, mut markers: Vec<(Box<str>, u64)>) -> bool {
        let given = markers.len();
        let mut seen = std::collections::HashSet::new();
        // The later of two entries of a topic is the one set last.
        markers.reverse();
        markers.retain(|(t, _)| is_marked_topic(t) && seen.insert(t.clone()));
        markers.truncate(MAX_MARKERS);
        markers.reverse();
        let cut = markers.len() != given;
        self.lists.replace(user, markers);
        cut
    }

    /// Forgets the markers of the users `gone` says are, returning whose it forgot.
    pub fn forget(&mut self, gone: impl Fn(&str) -> bool) -> Vec<Box<str>> {
        self.lists.forget(gone)
    }
}

/// Whether `name` is a topic a marker may be on: a channel or a user ID.
pub fn is_marked_topic(name: &str) -> bool {
    Name::parse(name).is_ok_and(|n| n.kind() != Kind::Reserved)
}

impl Server {
    /// MarkRead: moves the asker's marker, or only reads it; the reply is the marker as it
    /// then is, and a move is told to the user's other connections too.
    pub(super) fn mark_read(&mut self, conn: ConnId, m: MarkRead<'_>, now: &Now, out: &mut impl Outbox) {
        if let Some((code, reason)) = self.refuse_marker(conn, m.topic) {
            return self.fail(conn, m.seq, code, &reason, out);
        }
        let Some(user) = self.session(conn).and_then(|s| s.user.clone()) else {
            return;
        };
        let topic = m.topic.as_str();
        // No marker runs ahead of Events still to come: none past the clock, nor past the
        // newest time the topic has. Not the clock alone: a topic runs ahead of it when busy
        // or after the clock stepped back (NTP, a resumed VM), and a marker held at the clock
        // left the Events the user had read counted as unread on every other device until the
        // clock caught up (found by stepping the clock back an hour). A conversation's Events
        // from the other user are on the asker's own ID, whose times run on their own.
        let newest = match m.topic.kind() {
            Kind::User => self.newest_time(topic).max(self.newest_time(&user)),
            _ => self.newest_time(topic),
        };
        let bound = now.unix_ms.max(newest);
        let moved = m
            .time
            .is_some_and(|t| self.read_markers.advance(&user, topic, t.min(bound)));
        let time = self.read_markers.get(&user, topic);
        let mark = |seq| {
            Msg::ReadMark(ReadMark {
                seq,
                topic: m.topic,
                time,
            })
        };
        out.reply(conn, &mark(m.seq));
        if !moved {
            return;
        }
        if self.history.is_some() {
            self.read_markers.moved.insert((*user).into());
        }
        let told = mark(None);
        if let (Some(u), Ok(frame)) = (self.users.get(&*user), told.to_frame()) {
            out.fanout(&u.conns, Some(conn), &frame);
        }
    }

    /// The newest time `topic` has given an Event, delivered or stored (the time its next
    /// one comes after, where it has no audience now).
    fn newest_time(&self, topic: &str) -> u64 {
        let audience = match Name::parse(topic).map(|n| n.kind()) {
            Ok(Kind::Channel) => self.channels.get(topic),
            _ => self.users.get(topic),
        };
        audience.map_or_else(|| self.floors.floor(topic), |a| a.last_time())
    }

    /// Hands the moved markers to the save at `now` if they are due (see [`SAVED_EVERY`]), or
    /// all of them at once without `now` (a stop).
    pub(super) fn save_moved_markers(&mut self, now: Option<Instant>) {
        let m = &mut self.read_markers;
        if m.moved.is_empty() {
            return;
        }
        match (now, m.due) {
            (Some(now), None) => m.due = Some(now + SAVED_EVERY),
            (Some(now), Some(due)) if now < due => {}
            _ => {
                m.due = None;
                for user in std::mem::take(&mut m.moved) {
                    self.mark(&format!("{READ}{user}"));
                }
            }
        }
    }

    /// Why `conn` may not have a marker on `topic`, if it may not.
    fn refuse_marker(&self, conn: ConnId, topic: Name<'_>) -> Option<(ErrorCode, String)> {
        if topic.kind() == Kind::Reserved {
            let reason = format!("{topic} is no channel or user: it has no read marker");
            return Some((ErrorCode::NotSubscribable, reason));
        }
        if let Some(refusal) = self.foreign(topic) {
            return Some(refusal);
        }
        if !self.session(conn)?.authenticated {
            let reason = "only a session logged in to an account here keeps read markers";
            return Some((ErrorCode::RegisteredOnly, reason.into()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_moves_forward_only() {
        let mut m = ReadMarkers::default();
        assert!(m.advance("a@x", "#r@x", 10));
        assert!(!m.advance("a@x", "#r@x", 10));
        assert!(!m.advance("a@x", "#r@x", 9));
        assert_eq!(m.get("a@x", "#r@x"), Some(10));
        assert!(m.advance("a@x", "#r@x", 11));
        assert_eq!(m.get("a@x", "#r@x"), Some(11));
        assert_eq!(m.get("b@x", "#r@x"), None);
        assert_eq!(m.lists.total, 1);
    }

    #[test]
    fn past_the_account_s_bound_the_one_set_longest_ago_goes() {
        let mut m = ReadMarkers::default();
        for i in 0..MAX_MARKERS {
            assert!(m.advance("a@x", &format!("#c{i}@x"), 1));
        }
        // Moved again, #c0 is set last now: #c1 goes first.
        assert!(m.advance("a@x", "#c0@x", 2));
        assert!(m.advance("a@x", "#new@x", 1));
        assert_eq!(m.of("a@x").len(), MAX_MARKERS);
        assert_eq!(m.get("a@x", "#c1@x"), None);
        assert_eq!(m.get("a@x", "#c0@x"), Some(2));
        assert_eq!(m.get("a@x", "#new@x"), Some(1));
        assert_eq!(m.lists.total, MAX_MARKERS);
    }

    #[test]
    fn past_the_server_s_bound_an_account_recycles_only_beyond_its_floor() {
        let mut m = ReadMarkers::default();
        m.lists.total = MAX_ALL_MARKERS;
        for i in 0..FLOOR_MARKERS {
            assert!(m.advance("a@x", &format!("#c{i}@x"), 1));
        }
        assert_eq!(m.lists.total, MAX_ALL_MARKERS + FLOOR_MARKERS);
        assert!(m.advance("a@x", "#more@x", 1));
        assert_eq!(m.of("a@x").len(), FLOOR_MARKERS);
        assert_eq!(m.get("a@x", "#c0@x"), None);
        assert_eq!(m.lists.total, MAX_ALL_MARKERS + FLOOR_MARKERS);
    }

    #[test]
    fn restored_markers_drop_what_no_client_could_set() {
        let mut m = ReadMarkers::default();
        let saved = vec![
            ("#a@x".into(), 1),
            ("!motd@x".into(), 2),
            ("not a name".into(), 3),
            ("#a@x".into(), 4),
            ("b@x".into(), 5),
        ];
        assert!(m.restore("u@x", saved));
        assert_eq!(m.of("u@x"), &[("#a@x".into(), 4), ("b@x".into(), 5)]);
        assert_eq!(m.lists.total, 2);
        let many = (0..MAX_MARKERS + 3)
            .map(|i| (format!("#c{i}@x").into(), 1))
            .collect();
        assert!(m.restore("u@x", many));
        assert_eq!(m.of("u@x").len(), MAX_MARKERS);
        // The newest are kept.
        assert_eq!(m.get("u@x", "#c2@x"), None);
        assert_eq!(m.get("u@x", "#c3@x"), Some(1));
        assert_eq!(m.lists.total, MAX_MARKERS);
        assert!(!m.restore("u@x", vec![("#a@x".into(), 1)]));
        assert_eq!(m.forget(|u| u == "u@x"), vec![Box::<str>::from("u@x")]);
        assert_eq!(m.lists.total, 0);
    }
}
