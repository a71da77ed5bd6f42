//! Who receives a topic's Events: the subscribers of a channel, or the connections of a user.

use super::outbox::ConnId;
use std::collections::BTreeMap;

/// The connections an Event on one topic goes to, and the time of the topic's last Event.
#[derive(Debug, Default)]
pub struct Audience {
    /// The receiving connections, in no particular order.
    pub conns: Vec<ConnId>,
    last_time: u64,
}

impl Audience {
    /// Adds `conn`; returns the new count. The caller ensures it was not there.
    pub fn add(&mut self, conn: ConnId) -> usize {
        self.conns.push(conn);
        self.conns.len()
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

/// Channels by name. A channel exists while it has a subscriber; the map is ordered so that
/// Topics pages are stable and sorted bytewise, as the spec requires.
#[derive(Debug, Default)]
pub struct Channels {
    by_name: BTreeMap<Box<str>, Audience>,
}

impl Channels {
    /// The subscribers of a channel (empty if it does not exist).
    pub fn subscribers(&self, name: &str) -> &[ConnId] {
        self.by_name.get(name).map_or(&[], |a| a.conns.as_slice())
    }

    /// A channel's audience, if it exists.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Audience> {
        self.by_name.get_mut(name)
    }

    /// Adds `conn`, creating the channel if needed; returns the subscriber count. The caller
    /// ensures it was not subscribed.
    pub fn subscribe(&mut self, name: &str, conn: ConnId) -> usize {
        match self.by_name.get_mut(name) {
            Some(a) => a.add(conn),
            None => self.by_name.entry(name.into()).or_default().add(conn),
        }
    }

    /// Removes `conn`; returns the remaining subscriber count. Empty channels disappear.
    pub fn unsubscribe(&mut self, name: &str, conn: ConnId) -> usize {
        let Some(a) = self.by_name.get_mut(name) else {
            return 0;
        };
        let left = a.remove(conn);
        if left == 0 {
            self.by_name.remove(name);
        }
        left
    }

    /// How many channels exist.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Channel names from index `start` on, in order.
    pub fn names_from(&self, start: usize) -> impl Iterator<Item = &str> {
        self.by_name.keys().skip(start).map(|k| &**k)
    }
}
