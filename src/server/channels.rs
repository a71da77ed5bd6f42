//! Channels and who subscribes to them.

use super::outbox::ConnId;
use std::collections::BTreeMap;

/// Channels by name. A channel exists while it has a subscriber; the map is ordered so that
/// Topics pages are stable and sorted bytewise, as the spec requires.
#[derive(Debug, Default)]
pub struct Channels {
    by_name: BTreeMap<Box<str>, Vec<ConnId>>,
}

impl Channels {
    /// The subscribers of a channel (empty if it does not exist).
    pub fn subscribers(&self, name: &str) -> &[ConnId] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// Adds `conn`; returns the subscriber count. The caller ensures it was not subscribed.
    pub fn subscribe(&mut self, name: &str, conn: ConnId) -> usize {
        let subs = match self.by_name.get_mut(name) {
            Some(subs) => subs,
            None => self.by_name.entry(name.into()).or_default(),
        };
        subs.push(conn);
        subs.len()
    }

    /// Removes `conn`; returns the remaining subscriber count. Empty channels disappear.
    pub fn unsubscribe(&mut self, name: &str, conn: ConnId) -> usize {
        let Some(subs) = self.by_name.get_mut(name) else {
            return 0;
        };
        if let Some(i) = subs.iter().position(|&c| c == conn) {
            subs.swap_remove(i);
        }
        let left = subs.len();
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
