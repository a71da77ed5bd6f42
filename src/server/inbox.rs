//! How much one network may leave in one away account's inbox. A direct message to an account
//! with no connection is stored for it (PROTOCOL.md §4, Message), and retention keeps only so
//! many per topic: without a bound, one network could push a million into an inbox while its
//! holder sleeps, and the real ones out (a hostile tester stored 105,000 from one /24 in under
//! three minutes). So each (inbox, sending network) pair may leave [`BURST`] at once, then one
//! per [`LEAK`]: a friend's long paste passes, a flood waits. Messages to a connected user, which
//! are read as they come, are not counted.

use super::throttle::{Throttle, Wait};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Direct messages one network may leave in one away inbox at once.
pub const BURST: u32 = 100;
/// Then one more per this long (100 an hour).
pub const LEAK: Duration = Duration::from_secs(36);
/// (inbox, network) pairs counted at once: a bound on memory. While the table is full of pairs
/// still counting, a new pair waits too (for at most one [`LEAK`]).
const PAIRS: usize = 65_536;

/// The counts, per away inbox and sending network (an IPv4 /24, an IPv6 /48).
#[derive(Debug)]
pub struct AwayInboxes {
    counts: Throttle<(Box<str>, IpAddr)>,
}

impl Default for AwayInboxes {
    fn default() -> Self {
        AwayInboxes {
            counts: Throttle::new(BURST, LEAK, PAIRS),
        }
    }
}

impl AwayInboxes {
    /// How long until `network` may leave another message in `inbox`; `None`: now.
    pub fn wait(&self, inbox: &str, network: IpAddr, now: Instant) -> Option<Duration> {
        match self.counts.wait(&(inbox.into(), network), now)? {
            Wait::Failed(d) => Some(d),
            // Nothing is ever in flight here.
            Wait::Busy => None,
        }
    }

    /// `network` left a message in `inbox`.
    pub fn count(&mut self, inbox: &str, network: IpAddr, now: Instant) {
        self.counts.fail(&(inbox.into(), network), now);
    }

    /// Forgets the pairs whose counts have leaked away.
    pub fn prune(&mut self, now: Instant) {
        self.counts.prune(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_leaves_a_burst_then_one_per_leak_in_each_inbox() {
        let mut a = AwayInboxes::default();
        let (net, other) = ([192, 0, 2, 0].into(), [198, 51, 100, 0].into());
        let t = Instant::now();
        for _ in 0..BURST {
            assert_eq!(a.wait("bob@x", net, t), None);
            a.count("bob@x", net, t);
        }
        assert_eq!(a.wait("bob@x", net, t), Some(LEAK));
        assert_eq!(a.wait("carol@x", net, t), None, "another inbox");
        assert_eq!(a.wait("bob@x", other, t), None, "another network");
        assert_eq!(a.wait("bob@x", net, t + LEAK), None);
        a.count("bob@x", net, t + LEAK);
        assert_eq!(a.wait("bob@x", net, t + LEAK), Some(LEAK));
        a.prune(t + LEAK * (BURST + 1));
        assert_eq!(a.counts.len(), 0);
    }
}
