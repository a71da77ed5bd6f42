//! Failed-login throttling: a leaky count of recent failures per key (an account, an address).
//! A key may fail `burst` times in a row; after that it waits until one failure has leaked
//! away, one per `leak`. Only failures count, so a user who types the right password is never
//! slowed down by their own earlier success. Attempts still being checked are counted apart,
//! at most [`IN_FLIGHT`] a key: several right passwords at once (a bot's sessions coming back
//! after a restart) are not refused as failures, and a burst of guesses sent together still
//! meets the failures of the ones before it.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Attempts of one key that may be checked at once. Guesses sent together can fail at most
/// `burst` − 1 + this many times before the key waits; each failure then leaks away in turn,
/// so the long-run rate of guesses stays one per `leak`.
pub const IN_FLIGHT: u32 = 16;

/// Why a key may not try now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// It failed `burst` times lately: this long until one failure leaks away.
    Failed(Duration),
    /// [`IN_FLIGHT`] of its attempts are being checked: try again once one is done.
    Busy,
}

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
    /// Attempts begun and not yet ended.
    pending: u32,
    /// When the count was last brought up to date.
    at: Instant,
}

impl Count {
    /// The count at `now`, with the failures that leaked away since `at` taken off.
    fn at(self, leak: Duration, now: Instant) -> Count {
        let elapsed = now.saturating_duration_since(self.at);
        let leaked = (elapsed.as_nanos() / leak.as_nanos().max(1)).min(u128::from(u32::MAX)) as u32;
        if leaked >= self.failures {
            return Count {
                failures: 0,
                at: now,
                ..self
            };
        }
        Count {
            failures: self.failures - leaked,
            // Keep the part of a leak period already served.
            at: self.at + leak * leaked,
            ..self
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

    /// `None` if `key` may try now, else why not. When the table is full of keys that are
    /// still counting, a new key must wait too: the bound on memory wins over a stranger's
    /// first attempt.
    pub fn wait(&self, key: &K, now: Instant) -> Option<Wait> {
        match self.map.get(key) {
            Some(c) => {
                let c = c.at(self.leak, now);
                if c.failures >= self.burst {
                    // Until the failures are below the burst again: one leak for each one over
                    // it (guesses sent together can pass it by many).
                    let over = c.failures - self.burst + 1;
                    Some(Wait::Failed(
                        (c.at + self.leak * over).saturating_duration_since(now),
                    ))
                } else {
                    (c.pending >= IN_FLIGHT).then_some(Wait::Busy)
                }
            }
            None if self.map.len() >= self.cap => Some(Wait::Failed(self.leak)),
            None => None,
        }
    }

    /// The count of `key`, made if there is room (pruned first if the table is full).
    fn entry(&mut self, key: &K, now: Instant) -> Option<&mut Count> {
        if !self.map.contains_key(key) && self.map.len() >= self.cap {
            self.prune(now);
            if self.map.len() >= self.cap {
                return None;
            }
        }
        let zero = Count {
            failures: 0,
            pending: 0,
            at: now,
        };
        let c = self.map.entry(key.clone()).or_insert(zero);
        *c = c.at(self.leak, now);
        Some(c)
    }

    /// Counts one failure of `key`.
    pub fn fail(&mut self, key: &K, now: Instant) {
        if let Some(c) = self.entry(key, now) {
            c.failures = c.failures.saturating_add(1);
        }
    }

    /// An attempt of `key` is being checked; [`end`](Throttle::end) says how it went.
    pub fn begin(&mut self, key: &K, now: Instant) {
        if let Some(c) = self.entry(key, now) {
            c.pending = c.pending.saturating_add(1);
        }
    }

    /// An attempt [begun](Throttle::begin) is over; `failed` counts it as a failure.
    pub fn end(&mut self, key: &K, failed: bool, now: Instant) {
        if let Some(c) = self.entry(key, now) {
            c.pending = c.pending.saturating_sub(1);
            c.failures = c.failures.saturating_add(u32::from(failed));
        }
    }

    /// Whether `key` is counting (not merely waiting for room in a full table).
    pub fn knows(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Forgets the keys `gone` says, whatever their counts.
    pub fn forget(&mut self, mut gone: impl FnMut(&K) -> bool) {
        self.map.retain(|k, _| !gone(k));
    }

    /// Forgets the keys whose failures have all leaked away and that have nothing in flight.
    pub fn prune(&mut self, now: Instant) {
        let leak = self.leak;
        self.map
            .retain(|_, c| c.pending > 0 || c.at(leak, now).failures > 0);
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
        let fail = |t: &mut Throttle<&str>, at| {
            t.begin(&"alice", at);
            t.end(&"alice", true, at);
        };
        for _ in 0..3 {
            assert_eq!(t.wait(&"alice", t0), None);
            fail(&mut t, t0);
        }
        assert_eq!(t.wait(&"alice", t0), Some(Wait::Failed(leak)));
        assert_eq!(
            t.wait(&"alice", t0 + Duration::from_secs(4)),
            Some(Wait::Failed(Duration::from_secs(6)))
        );
        assert_eq!(t.wait(&"bob", t0), None, "other keys are not affected");
        assert_eq!(t.wait(&"alice", t0 + leak), None, "one failure leaked away");
        t.begin(&"alice", t0 + leak);
        t.end(&"alice", false, t0 + leak);
        assert_eq!(
            t.wait(&"alice", t0 + leak),
            None,
            "an attempt that went well does not count"
        );
        fail(&mut t, t0 + leak);
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
        for key in [1, 2, 3] {
            t.end(&key, true, t0);
        }
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.wait(&3, t0),
            Some(Wait::Failed(leak)),
            "a new key waits while the table is full"
        );
        t.end(&3, true, t0 + leak);
        assert_eq!(t.len(), 1, "a full table is pruned before a new key is refused");
        assert_eq!(t.wait(&4, t0 + leak), None);
    }

    #[test]
    fn attempts_in_flight_are_not_failures_but_are_bounded() {
        let t0 = Instant::now();
        let leak = Duration::from_secs(12);
        let mut t = Throttle::new(5, leak, 100);
        for _ in 0..IN_FLIGHT {
            assert_eq!(t.wait(&"alice", t0), None);
            t.begin(&"alice", t0);
        }
        assert_eq!(
            t.wait(&"alice", t0),
            Some(Wait::Busy),
            "right passwords are not failures"
        );
        // All were guesses: the failures then hold the key for as many leaks.
        for _ in 0..IN_FLIGHT {
            t.end(&"alice", true, t0);
        }
        t.prune(t0);
        assert_eq!(t.len(), 1, "a key with attempts in flight or failures is kept");
        // The wait said is the whole of it, not one leak at a time.
        assert_eq!(t.wait(&"alice", t0), Some(Wait::Failed(leak * (IN_FLIGHT - 4))));
        assert_eq!(
            t.wait(&"alice", t0 + leak * (IN_FLIGHT - 5)),
            Some(Wait::Failed(leak))
        );
        assert_eq!(t.wait(&"alice", t0 + leak * (IN_FLIGHT - 4)), None);
    }
}
