//! Who receives a topic's Events: the subscribers of a channel, or the connections of a user.

use super::outbox::ConnId;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::rc::Rc;

/// The connections an Event on one topic goes to, and the time of the topic's last Event.
#[derive(Debug)]
pub struct Audience {
    /// The receiving connections, in no particular order. Most topics have one (a user with one
    /// connection, a channel with one subscriber): it is kept inline, with no allocation.
    pub conns: Conns,
    last_time: u64,
}

impl Audience {
    /// An empty audience whose first Event will be stamped after `floor`, so that a topic
    /// that disappears and comes back never repeats a time (and so an id) it used before
    /// ([`super::floor::Floors`]).
    pub fn new(floor: u64) -> Self {
        Audience {
            conns: Conns::new(),
            last_time: floor,
        }
    }

    /// Adds `conn`; returns the new count. The caller ensures it was not there.
    pub fn add(&mut self, conn: ConnId) -> usize {
        self.conns.push(conn);
        self.conns.len()
    }

    /// The time of its latest Event, or the floor it started after.
    pub fn last_time(&self) -> u64 {
        self.last_time
    }

    /// Removes `conn` if present; returns the count left.
    pub fn remove(&mut self, conn: ConnId) -> usize {
        if let Some(i) = self.conns.iter().position(|&c| c == conn) {
            self.conns.swap_remove(i);
        }
        self.conns.len()
    }

    /// The time for a new Event: the clock, or one past the topic's last Event if the clock has
    /// not moved on. Per topic, so that times stay close to the clock however busy the server
    /// is, while (from, topic, time) stays unique and `since` stays exact.
    pub fn stamp(&mut self, now_ms: u64) -> u64 {
        self.last_time = now_ms.max(self.last_time.saturating_add(1));
        self.last_time
    }
}

/// The connections of one topic: one inline, more on the heap.
pub type Conns = SmallVec<[ConnId; 1]>;

/// Channels by name. A channel exists while it has a subscriber.
#[derive(Debug, Default)]
pub struct Channels {
    by_name: HashMap<Rc<str>, Audience>,
}

impl Channels {
    /// The subscribers of a channel (empty if it does not exist).
    pub fn subscribers(&self, name: &str) -> &[ConnId] {
        self.by_name.get(name).map_or(&[], |a| a.conns.as_slice())
    }

    /// A channel's audience, if it exists.
    pub fn get(&self, name: &str) -> Option<&Audience> {
        self.by_name.get(name)
    }

    /// A channel's audience, if it exists, to stamp an Event.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Audience> {
        self.by_name.get_mut(name)
    }

    /// The channel's name as the table holds it, if it exists: other tables keyed by the same
    /// name share it rather than keep copies.
    pub fn key(&self, name: &str) -> Option<&Rc<str>> {
        self.by_name.get_key_value(name).map(|(k, _)| k)
    }

    /// Adds `conn`, creating the channel named `key` (with times after `floor`) if needed;
    /// returns the subscriber count. The caller ensures it was not subscribed.
    pub fn subscribe(&mut self, key: &Rc<str>, conn: ConnId, floor: u64) -> usize {
        if let Some(a) = self.by_name.get_mut(&**key) {
            return a.add(conn);
        }
        self.by_name
            .entry(key.clone())
            .or_insert_with(|| Audience::new(floor))
            .add(conn)
    }

    /// Removes `conn`; returns the remaining subscriber count, and for a channel that
    /// disappears with it (empty channels do), its last Event's time.
    pub fn unsubscribe(&mut self, name: &str, conn: ConnId) -> (usize, Option<u64>) {
        let Some(a) = self.by_name.get_mut(name) else {
            return (0, None);
        };
        let left = a.remove(conn);
        if left > 0 {
            return (left, None);
        }
        (0, self.by_name.remove(name).map(|a| a.last_time))
    }
}
