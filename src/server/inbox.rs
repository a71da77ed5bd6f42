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
//! free name or a guest is one of many the same client can take. And every sender's network
//! has a budget of [`NETWORK_SHARE`] senders' worth too, so that one host minting IDs (open
//! registration, a foreign domain's tokens) gets no more than that (helper 116). Messages to a
//! connected user, read as they come, are not counted, and an inbox's counts start afresh when
//! its holder comes to read them.

use super::throttle::{Throttle, Wait};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// (inbox, sender) pairs counted at once, in each of the two tables: a bound on memory. While
/// a table is full of pairs still counting, a new pair waits too (for at most one leak).
const PAIRS: usize = 65_536;
/// How many senders' bursts one network may leave in one inbox, over all its senders.
pub const NETWORK_SHARE: u32 = 10;
/// The refusal log line, at most this often (the rest are counted into the next one).
const TELL_EVERY: Duration = Duration::from_secs(1);

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
    /// The sender's network did, over all its senders.
    Network(Duration),
    /// A table of counts is full of other pairs; one leaks away within this long.
    Full(Duration),
}

/// The counts, per away inbox and sender, and per away inbox and network.
#[derive(Debug)]
pub struct AwayInboxes {
    /// `None`: no limit.
    tables: Option<Tables>,
    /// When a refusal was last logged, and how many have not been since.
    told: (Option<Instant>, u64),
}

#[derive(Debug)]
struct Tables {
    senders: Throttle<(Box<str>, Sender)>,
    networks: Throttle<(Box<str>, IpAddr)>,
}

impl AwayInboxes {
    /// Counts by `limit` (a burst, and how long until one more); `None`: no limit.
    pub fn new(limit: Option<(u32, Duration)>) -> Self {
        let tables = limit.map(|(burst, leak)| Tables {
            senders: Throttle::new(burst, leak, PAIRS),
            networks: Throttle::new(burst.saturating_mul(NETWORK_SHARE), leak / NETWORK_SHARE, PAIRS),
        });
        AwayInboxes {
            tables,
            told: (None, 0),
        }
    }

    /// Why `sender`, of `network`, may not leave another message in `inbox` now, if it may
    /// not.
    pub fn refusal(&self, inbox: &str, sender: &Sender, network: IpAddr, now: Instant) -> Option<Refusal> {
        let t = self.tables.as_ref()?;
        let key = (inbox.into(), sender.clone());
        match t.senders.wait(&key, now) {
            Some(Wait::Failed(d)) if t.senders.knows(&key) => return Some(Refusal::Sender(d)),
            Some(Wait::Failed(d)) => return Some(Refusal::Full(d)),
            // Nothing is ever in flight here.
            Some(Wait::Busy) | None => {}
        }
        let key = (inbox.into(), network);
        match t.networks.wait(&key, now)? {
            Wait::Failed(d) if t.networks.knows(&key) => Some(Refusal::Network(d)),
            Wait::Failed(d) => Some(Refusal::Full(d)),
            Wait::Busy => None,
        }
    }

    /// `sender`, of `network`, left a message in `inbox`.
    pub fn count(&mut self, inbox: &str, sender: &Sender, network: IpAddr, now: Instant) {
        if let Some(t) = self.tables.as_mut() {
            t.senders.fail(&(inbox.into(), sender.clone()), now);
            t.networks.fail(&(inbox.into(), network), now);
        }
    }

    /// Logs a refusal for the operator, who may want to know who fills an inbox (and ban
    /// them): at most one line a second, with how many were not logged since.
    pub fn tell(&mut self, inbox: &str, sender: &Sender, refusal: Refusal, now: Instant) {
        let (last, untold) = &mut self.told;
        if last.is_some_and(|t| now.saturating_duration_since(t) < TELL_EVERY) {
            *untold += 1;
            return;
        }
        let who = match sender {
            Sender::Id(id) => id.to_string(),
            Sender::Network(net) => format!("the network {net}"),
        };
        let why = match refusal {
            Refusal::Sender(_) => "it left as many messages there lately as one sender may",
            Refusal::Network(_) => "its network left as many messages there lately as it may",
            Refusal::Full(_) => "the table of counts is full",
        };
        let more = match std::mem::take(untold) {
            0 => String::new(),
            n => format!(" ({n} more refusal(s) since the last line)"),
        };
        log::info!("inbox of {inbox}: a message from {who} refused (406): {why}{more}");
        *last = Some(now);
    }

    /// `inbox`'s holder is here to read it: its counts start afresh. A walk over the tables,
    /// on an account's first connection (a login, which costs the accounts thread far more).
    pub fn read(&mut self, inbox: &str) {
        if let Some(t) = self.tables.as_mut() {
            t.senders.forget(|(i, _)| &**i == inbox);
            t.networks.forget(|(i, _)| &**i == inbox);
        }
    }

    /// Forgets the pairs whose counts have leaked away.
    pub fn prune(&mut self, now: Instant) {
        if let Some(t) = self.tables.as_mut() {
            t.senders.prune(now);
            t.networks.prune(now);
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
        let (lan, wan): (IpAddr, IpAddr) = ([192, 0, 2, 0].into(), [198, 51, 100, 0].into());
        let (net, other) = (Sender::Network(lan), Sender::Network(wan));
        let alice = Sender::Id("alice@x".into());
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(a.refusal("bob@x", &net, lan, t), None);
            a.count("bob@x", &net, lan, t);
        }
        assert_eq!(a.refusal("bob@x", &net, lan, t), Some(Refusal::Sender(leak)));
        assert_eq!(a.refusal("carol@x", &net, lan, t), None, "another inbox");
        assert_eq!(a.refusal("bob@x", &other, wan, t), None, "another network");
        assert_eq!(a.refusal("bob@x", &alice, lan, t), None, "an account");
        assert_eq!(a.refusal("bob@x", &net, lan, t + leak), None);
        a.count("bob@x", &net, lan, t + leak);
        assert_eq!(
            a.refusal("bob@x", &net, lan, t + leak),
            Some(Refusal::Sender(leak))
        );
        // bob reads his inbox: afresh.
        a.count("carol@x", &net, lan, t);
        a.read("bob@x");
        assert_eq!(a.refusal("bob@x", &net, lan, t + leak), None);
        a.prune(t + leak * 4);
        let sizes = a.tables.as_ref().map(|t| (t.senders.len(), t.networks.len()));
        assert_eq!(sizes, Some((0, 0)));
        let off = AwayInboxes::new(None);
        assert_eq!(off.refusal("bob@x", &net, lan, t), None);
    }

    /// IDs minted on one host (open registration, a foreign domain's tokens) each get their
    /// own burst, but their network as a whole only so many senders' worth.
    #[test]
    fn many_ids_of_one_network_leave_only_its_share() {
        let leak = Duration::from_secs(36);
        let mut a = AwayInboxes::new(Some((3, leak)));
        let lan: IpAddr = [192, 0, 2, 0].into();
        let t = Instant::now();
        let mut kept = 0;
        for i in 0..100 {
            let id = Sender::Id(format!("sock{i}@evil").into());
            while a.refusal("bob@x", &id, lan, t).is_none() {
                a.count("bob@x", &id, lan, t);
                kept += 1;
            }
        }
        assert_eq!(kept, 3 * NETWORK_SHARE);
        let fresh = Sender::Id("fresh@evil".into());
        assert_eq!(
            a.refusal("bob@x", &fresh, lan, t),
            Some(Refusal::Network(leak / NETWORK_SHARE))
        );
    }

    /// Each table holds at most [`PAIRS`] pairs: while it is full of pairs still counting, a
    /// new pair is refused as `Full` (the pairs counted go on), and once they have leaked away
    /// and are pruned it is taken.
    #[test]
    fn a_full_table_refuses_a_new_pair_until_its_pairs_leak_away() {
        let leak = Duration::from_secs(36);
        let mut a = AwayInboxes::new(Some((3, leak)));
        let lan: IpAddr = [192, 0, 2, 0].into();
        let alice = Sender::Id("alice@x".into());
        let t = Instant::now();
        for i in 0..PAIRS {
            a.count(&format!("u{i}@x"), &alice, lan, t);
        }
        let sizes = |a: &AwayInboxes| a.tables.as_ref().map(|t| (t.senders.len(), t.networks.len()));
        assert_eq!(sizes(&a), Some((PAIRS, PAIRS)));
        a.count("bob@x", &alice, lan, t);
        assert_eq!(sizes(&a), Some((PAIRS, PAIRS)), "no pair past the bound");
        assert_eq!(a.refusal("u0@x", &alice, lan, t), None, "a pair counted goes on");
        assert_eq!(a.refusal("bob@x", &alice, lan, t), Some(Refusal::Full(leak)));
        a.prune(t + leak);
        assert_eq!(a.refusal("bob@x", &alice, lan, t + leak), None);
    }
}
