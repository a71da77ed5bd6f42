//! What a channel's operators deleted (PROTOCOL.md §4, Mod's delete and purge), remembered for
//! the session: a page of `/history`, a search or a reconnect's catch-up read from the store
//! before the record was stored may bring a deleted message back, and a page holds the message
//! before the record that deletes it. Lines already on the terminal stay; the record's notice
//! says what went.

use crate::event::{Content, Received};
use scalar::proto::pattern::matches;
use scalar::proto::{Body, MsgId};
use scalar::server::{deleted_by, purged_by, server_ctype};
use std::collections::{HashSet, VecDeque};

/// How many deleted ids are remembered: far more than a session shows; past it the oldest go.
const IDS: usize = 10_000;
/// How many purges are remembered, likewise.
const PURGES: usize = 1_000;

/// One purge: the Messages of `pattern` in `topic` later than `since` and before `until` (the
/// record's own time) are deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Purge {
    topic: String,
    pattern: String,
    since: u64,
    until: u64,
}

/// The deletions seen in this session, bounded.
#[derive(Debug, Default)]
pub struct Deleted {
    ids: HashSet<(String, MsgId)>,
    order: VecDeque<(String, MsgId)>,
    purges: VecDeque<Purge>,
}

/// Whether `e` is an operator's record of messages deleted or purged from its channel.
pub fn removes_messages(e: &Received) -> bool {
    let Content::Text(text) = &e.content else {
        return false;
    };
    let (ctype, body) = (e.ctype.as_deref(), Body::Text(text));
    e.topic.starts_with('#') && (deleted_by(ctype, body).is_some() || purged_by(ctype, body).is_some())
}

impl Deleted {
    /// Remembers what `e` deletes, if it is a delete or purge record: of its own channel
    /// only, as the server deletes (found in review: any channel's owner could otherwise hide
    /// another channel's message from its members by a delete of its id).
    pub fn note(&mut self, e: &Received) {
        let Content::Text(text) = &e.content else {
            return;
        };
        if !e.topic.starts_with('#') {
            return;
        }
        let (ctype, body) = (e.ctype.as_deref(), Body::Text(text));
        if let Some(id) = deleted_by(ctype, body) {
            let key = (e.topic.clone(), id);
            if !self.ids.insert(key.clone()) {
                return;
            }
            self.order.push_back(key);
            if self.order.len() > IDS
                && let Some(old) = self.order.pop_front()
            {
                self.ids.remove(&old);
            }
        } else if let Some((pattern, since)) = purged_by(ctype, body) {
            let purge = Purge {
                topic: e.topic.clone(),
                pattern: pattern.to_string(),
                since,
                until: e.time,
            };
            if self.purges.contains(&purge) {
                return;
            }
            if self.purges.len() >= PURGES {
                self.purges.pop_front();
            }
            self.purges.push_back(purge);
        }
    }

    /// [`note`](Deleted::note) for each of `events`: a page shows a message before the record
    /// that deletes it.
    pub fn note_all(&mut self, events: &[Received]) {
        events.iter().for_each(|e| self.note(e));
    }

    /// Whether `e` is a message a delete or purge seen in this session deleted. Records are
    /// never deleted.
    pub fn covers(&self, e: &Received) -> bool {
        if e.ctype.as_deref().and_then(server_ctype).is_some() {
            return false;
        }
        self.ids.contains(&(e.topic.clone(), e.id))
            || self.purges.iter().any(|p| {
                p.topic == e.topic && p.since < e.time && e.time < p.until && matches(&p.pattern, &e.from)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::text_event;
    use scalar::server::MOD_CTYPE;

    fn at(mut e: Received, time: u64) -> Received {
        e.time = time;
        e.id = MsgId([time as u8; 32]);
        e
    }

    #[test]
    fn a_delete_hides_its_message_and_nothing_else() {
        let mut d = Deleted::default();
        let msg = at(text_event("#a@l", "bob@l", "oops", None), 1);
        let other = at(text_event("#a@l", "bob@l", "fine", None), 2);
        let rec = at(
            text_event(
                "#a@l",
                "op@l",
                &format!("delete {} pasted a key", msg.id),
                Some(MOD_CTYPE),
            ),
            3,
        );
        assert!(!d.covers(&msg));
        d.note(&rec);
        assert!(d.covers(&msg));
        assert!(!d.covers(&other));
        assert!(!d.covers(&rec), "a record is never deleted");
        let elsewhere = Received {
            topic: "#b@l".into(),
            ..msg.clone()
        };
        assert!(!d.covers(&elsewhere), "a delete is of its own channel's message");
        let mut dm = Deleted::default();
        dm.note(&Received {
            topic: "me@l".into(),
            ..rec.clone()
        });
        assert!(!dm.covers(&msg), "only a channel's records delete");
        // The same text from a user is a message, not a record.
        let mut fake = Deleted::default();
        fake.note(&at(
            text_event("#a@l", "x@l", &format!("delete {}", other.id), None),
            4,
        ));
        assert!(!fake.covers(&other));
    }

    #[test]
    fn a_purge_hides_the_pattern_s_messages_between_since_and_the_record() {
        let mut d = Deleted::default();
        d.note(&at(
            text_event("#a@l", "op@l", "purge raid*@l 100 raid", Some(MOD_CTYPE)),
            200,
        ));
        let raid = |topic: &str, from: &str, t| at(text_event(topic, from, "spam", None), t);
        assert!(d.covers(&raid("#a@l", "raid1@l", 150)));
        assert!(!d.covers(&raid("#a@l", "raid1@l", 100)), "not later than since");
        assert!(!d.covers(&raid("#a@l", "raid1@l", 200)), "not before the record");
        assert!(!d.covers(&raid("#a@l", "raid1@l", 250)), "said after the purge");
        assert!(!d.covers(&raid("#a@l", "bob@l", 150)), "another's");
        assert!(!d.covers(&raid("#b@l", "raid1@l", 150)), "another channel");
        let mut rec = raid("#a@l", "raid1@l", 150);
        rec.ctype = Some("text/x-scalar-member".into());
        assert!(!d.covers(&rec), "a record");
        let purge = text_event("#a@l", "op@l", "purge raid*@l 100 raid", Some(MOD_CTYPE));
        assert!(removes_messages(&purge));
        assert!(!removes_messages(&raid("#a@l", "raid1@l", 150)));
    }

    #[test]
    fn what_is_remembered_is_bounded() {
        let mut d = Deleted::default();
        for i in 0..(IDS as u64 + 5) {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&i.to_be_bytes());
            let hex = MsgId(id).to_string();
            d.note(&text_event(
                "#a@l",
                "op@l",
                &format!("delete {hex}"),
                Some(MOD_CTYPE),
            ));
        }
        assert_eq!((d.ids.len(), d.order.len()), (IDS, IDS));
        for i in 0..(PURGES as u64 + 5) {
            d.note(&at(
                text_event("#a@l", "op@l", &format!("purge x{i}@l 1"), Some(MOD_CTYPE)),
                9,
            ));
        }
        assert_eq!(d.purges.len(), PURGES);
    }
}
