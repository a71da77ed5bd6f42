//! How much one sender may leave in one away account's inbox. A direct message to an account
//! with no connection is stored for it (PROTOCOL.md §4, Message), and retention keeps only so
//! many per topic: without a bound, one sender could push a million into an inbox while its
//! holder sleeps, and the real ones out (a hostile tester stored 105,000 from one /24 in under
//! three minutes). So each (inbox, sender) pair may leave a burst at once, then one per leak
//! (`Limits::away_inbox`, by default 100, then one every 36 s): a friend's long paste passes,
//! a flood waits.
//!
//! A sender is its account when it proved its ID (so one user cannot use up what the others of
//! its network may leave, helper 115 found), else its network (an IPv4 /24, an IPv6 /48): a
//! free name or a guest is one of many the same client can take. Messages to a connected user,
//! read as they come, are not counted, and an inbox's counts start afresh when its holder
//! comes to read them.

use super::throttle::{Throttle, Wait};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// (inbox, sender) pairs counted at once: a bound on memory. While the table is full of pairs
/// still counting, a new pair waits too (for at most one leak).
const PAIRS: usize = 65_536;

/// Who a direct message counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sender {
    /// An ID its session proved (a password, or its home server's token).
    Id(Box<str>),
    /// The network of a session that proved nothing.
    Network(IpAddr),
}

/// Why one more message may not wait in an inbox now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The sender left as many there lately as it may; one more in this long.
    Sender(Duration),
    /// The table of counts is full of other pairs; one leaks away within this long.
    Full(Duration),
}

/// The counts, per away inbox and sender.
#[derive(Debug)]
pub struct AwayInboxes {
    counts: Option<Throttle<(Box<str>, Sender)>>,
    burst: u32,
}

impl AwayInboxes {
    /// Counts by `limit` (a burst, and how long until one more); `None`: no limit.
    pub fn new(limit: Option<(u32, Duration)>) -> Self {
        AwayInboxes {
            counts: limit.map(|(burst, leak)| Throttle::new(burst, leak, PAIRS)),
            burst: limit.map_or(0, |(b, _)| b),
        }
    }

    /// Why `sender` may not leave another message in `inbox` now, if it may not.
    pub fn refusal(&self, inbox: &str, sender: &Sender, now: Instant) -> Option<Refusal> {
        let counts = self.counts.as_ref()?;
        let key = (inbox.into(), sender.clone());
        match counts.wait(&key, now)? {
            Wait::Failed(d) if counts.knows(&key) => Some(Refusal::Sender(d)),
            Wait::Failed(d) => Some(Refusal::Full(d)),
            // Nothing is ever in flight here.
            Wait::Busy => None,
        }
    }

    /// `sender` left a message in `inbox`. Logged once the pair reaches its burst: the
    /// operator may want to know who fills an inbox (and ban them).
    pub fn count(&mut self, inbox: &str, sender: &Sender, now: Instant) {
        let Some(counts) = self.counts.as_mut() else {
            return;
        };
        let key = (inbox.into(), sender.clone());
        counts.fail(&key, now);
        if counts.wait(&key, now).is_some() && counts.knows(&key) {
            let who = match sender {
                Sender::Id(id) => id.to_string(),
                Sender::Network(net) => format!("the network {net}"),
            };
            log::info!(
                "inbox of {inbox}: {who} left {} messages while it was away; more are refused \
                 (406) for now",
                self.burst
            );
        }
    }

    /// `inbox`'s holder is here to read it: its counts start afresh.
    pub fn read(&mut self, inbox: &str) {
        if let Some(counts) = self.counts.as_mut() {
            counts.forget(|(i, _)| &**i == inbox);
        }
    }

    /// Forgets the pairs whose counts have leaked away.
    pub fn prune(&mut self, now: Instant) {
        if let Some(counts) = self.counts.as_mut() {
            counts.prune(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_leaves_a_burst_then_one_per_leak_in_each_inbox() {
        let leak = Duration::from_secs(36);
        let mut a = AwayInboxes::new(Some((3, leak)));
        let net = Sender::Network([192, 0, 2, 0].into());
        let (other, alice) = (
            Sender::Network([198, 51, 100, 0].into()),
            Sender::Id("alice@x".into()),
        );
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(a.refusal("bob@x", &net, t), None);
            a.count("bob@x", &net, t);
        }
        assert_eq!(a.refusal("bob@x", &net, t), Some(Refusal::Sender(leak)));
        assert_eq!(a.refusal("carol@x", &net, t), None, "another inbox");
        assert_eq!(a.refusal("bob@x", &other, t), None, "another network");
        assert_eq!(a.refusal("bob@x", &alice, t), None, "an account");
        assert_eq!(a.refusal("bob@x", &net, t + leak), None);
        a.count("bob@x", &net, t + leak);
        assert_eq!(a.refusal("bob@x", &net, t + leak), Some(Refusal::Sender(leak)));
        // bob reads his inbox: afresh.
        a.count("carol@x", &net, t);
        a.read("bob@x");
        assert_eq!(a.refusal("bob@x", &net, t + leak), None);
        a.prune(t + leak * 4);
        assert_eq!(a.counts.as_ref().map(Throttle::len), Some(0));
        let off = AwayInboxes::new(None);
        assert_eq!(off.refusal("bob@x", &net, t), None);
    }
}
