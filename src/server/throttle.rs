//! Failed-login throttling: a leaky count of recent failures per key (an account, an address).
//! A key may fail `burst` times in a row; after that it waits until one failure has leaked
//! away, one per `leak`. Only failures count, so a user who types the right password is never
//! slowed down by their own earlier success.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// One table of failure counts, bounded in size.
#[derive(Debug)]
pub struct Throttle<K> {
    burst: u32,
    leak: Duration,
    cap: usize,
    map: HashMap<K, Count>,
}

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    /// When the count was last brought up to date.
    at: Instant,
}

impl Count {
    /// The count at `now`, with the failures that leaked away since `at` taken off.
    fn at(self, leak: Duration, now: Instant) -> Count {
        let elapsed = now.saturating_duration_since(self.at);
        let leaked = (elapsed.as_nanos() / leak.as_nanos().max(1)).min(u128::from(u32::MAX)) as u32;
        if leaked >= self.failures {
            return Count { failures: 0, at: now };
        }
        Count {
            failures: self.failures - leaked,
            // Keep the part of a leak period already served.
            at: self.at + leak * leaked,
        }
    }
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    /// A table that lets a key fail `burst` times, forgives one failure per `leak`, and holds
    /// at most `cap` keys.
    pub fn new(burst: u32, leak: Duration, cap: usize) -> Self {
        Throttle {
            burst,
            leak,
            cap,
            map: HashMap::new(),
        }
    }

    /// `None` if `key` may try now, else how long it must wait. When the table is full of keys
    /// that are still counting, a new key must wait too: the bound on memory wins over a
    /// stranger's first attempt.
    pub fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        match self.map.get(key) {
            Some(c) => {
                let c = c.at(self.leak, now);
                (c.failures >= self.burst).then(|| (c.at + self.leak).saturating_duration_since(now))
            }
            None if self.map.len() >= self.cap => Some(self.leak),
            None => None,
        }
    }

    /// Counts one failure of `key`.
    pub fn fail(&mut self, key: &K, now: Instant) {
        if !self.map.contains_key(key) && self.map.len() >= self.cap {
            self.prune(now);
            if self.map.len() >= self.cap {
                return;
            }
        }
        let c = self
            .map
            .entry(key.clone())
            .or_insert(Count { failures: 0, at: now });
        *c = c.at(self.leak, now);
        c.failures = c.failures.saturating_add(1);
    }

    /// Takes back one failure counted in advance (an attempt that turned out well).
    pub fn refund(&mut self, key: &K, now: Instant) {
        if let Some(c) = self.map.get_mut(key) {
            *c = c.at(self.leak, now);
            c.failures = c.failures.saturating_sub(1);
        }
    }

    /// Forgets the keys whose failures have all leaked away.
    pub fn prune(&mut self, now: Instant) {
        let leak = self.leak;
        self.map.retain(|_, c| c.at(leak, now).failures > 0);
    }

    /// How many keys are counting.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_may_fail_burst_times_then_waits_for_one_leak() {
        let t0 = Instant::now();
        let leak = Duration::from_secs(10);
        let mut t = Throttle::new(3, leak, 100);
        for _ in 0..3 {
            assert_eq!(t.wait(&"alice", t0), None);
            t.fail(&"alice", t0);
        }
        assert_eq!(t.wait(&"alice", t0), Some(leak));
        assert_eq!(
            t.wait(&"alice", t0 + Duration::from_secs(4)),
            Some(Duration::from_secs(6))
        );
        assert_eq!(t.wait(&"bob", t0), None, "other keys are not affected");
        assert_eq!(t.wait(&"alice", t0 + leak), None, "one failure leaked away");
        t.fail(&"alice", t0 + leak);
        t.refund(&"alice", t0 + leak);
        assert_eq!(
            t.wait(&"alice", t0 + leak),
            None,
            "a refunded attempt does not count"
        );
        t.fail(&"alice", t0 + leak);
        assert!(t.wait(&"alice", t0 + leak).is_some(), "and was used again");
        t.prune(t0 + leak * 3);
        assert_eq!(t.len(), 1, "still counting");
        t.prune(t0 + leak * 4);
        assert_eq!(t.len(), 0, "all leaked away");
    }

    #[test]
    fn the_table_is_bounded() {
        let t0 = Instant::now();
        let leak = Duration::from_secs(1);
        let mut t = Throttle::new(5, leak, 2);
        t.fail(&1, t0);
        t.fail(&2, t0);
        t.fail(&3, t0);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.wait(&3, t0),
            Some(leak),
            "a new key waits while the table is full"
        );
        t.fail(&3, t0 + leak);
        assert_eq!(t.len(), 1, "a full table is pruned before a new key is refused");
        assert_eq!(t.wait(&4, t0 + leak), None);
    }
}
