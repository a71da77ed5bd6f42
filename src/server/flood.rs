//! Anti-flood: token buckets per connection (messages, bytes) and per user ID (messages), and
//! a connection rate per network (an IPv4 /24, an IPv6 /48: `subnet_key`). A request that
//! finds its bucket empty is not refused: the connection's input is held until the tokens
//! have grown ("fake lag"), so the flooder's own read buffer and TCP window do the waiting
//! and its audience never notices. Only a connection that keeps its read buffer full while
//! held (it is far ahead of its rate, not pasting a paragraph) is closed, with `flooding`.
//!
//! Holding costs nothing per waiting frame: one heap entry per held connection, and a wake-up
//! when the earliest hold ends ([`Server::next_wake`]).

use super::bucket::{Bucket, Rate};
use super::throttle::{Throttle, Wait};
use super::{ConnId, FREE_SUBS, Limits, Now, Outbox, Server};
use crate::proto::{Decoded, ErrorCode, Msg};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Message tokens a purge costs (see [`Server::charge`]).
pub const PURGE_COST: u32 = 10;

/// Networks whose connection rate is remembered at once: a bound on memory that a crowd of
/// networks cannot push past (a stranger waits while the table is full of recent ones).
const CONNECT_KEYS: usize = 65_536;

/// A connection's buckets, and whether its input is held.
#[derive(Debug)]
pub struct Pace {
    msgs: Bucket,
    bytes: Bucket,
    /// Until when its input is held, if it is.
    pub held: Option<Instant>,
    /// The tokens its held request booked in its user's bucket already (0: none).
    id_booked: u32,
}

impl Pace {
    /// Full buckets for the rates in `limits`.
    pub fn new(limits: &Limits, now: Instant) -> Self {
        // With no rate a bucket is never read.
        let full = |r: Option<Rate>| Bucket::full(r.unwrap_or(Rate::new(0, 0)), now);
        Pace {
            msgs: full(limits.messages),
            bytes: full(limits.bytes),
            held: None,
            id_booked: 0,
        }
    }
}

/// The server-wide part: per-ID buckets, the holds in time order, connection rates.
#[derive(Debug)]
pub struct Flood {
    pub(super) ids: HashMap<Box<str>, Bucket>,
    holds: BinaryHeap<Reverse<(Instant, ConnId)>>,
    connects: Option<Throttle<IpAddr>>,
}

/// The table of connection counts for `rate`, if any.
fn connect_table(rate: Option<Rate>) -> Option<Throttle<IpAddr>> {
    rate.map(|r| {
        let leak = Duration::from_secs(1) / r.per_sec.max(1);
        Throttle::new(r.burst, leak, CONNECT_KEYS)
    })
}

impl Flood {
    /// Empty tables; new connections per network limited to `connect_rate`, if any.
    pub fn new(connect_rate: Option<Rate>) -> Self {
        Flood {
            ids: HashMap::new(),
            holds: BinaryHeap::new(),
            connects: connect_table(connect_rate),
        }
    }

    /// A new connection rate (a reload): the counts start afresh; holds stay.
    pub fn set_connect_rate(&mut self, rate: Option<Rate>) {
        self.connects = connect_table(rate);
    }

    /// Counts a new connection from the network `key`; if it opens them too fast, how long
    /// until it may open one.
    pub fn connect(&mut self, key: IpAddr, now: Instant) -> Result<(), Duration> {
        let Some(t) = self.connects.as_mut() else {
            return Ok(());
        };
        if t.wait(&key, now).is_some() {
            // A full table refuses strangers: first forget those whose count has leaked away,
            // so only networks still counting can keep a stranger out.
            t.prune(now);
            match t.wait(&key, now) {
                Some(Wait::Failed(wait)) => return Err(wait),
                // (Connections are counted, not checked: none is ever in flight.)
                Some(Wait::Busy) => return Err(Duration::from_secs(1)),
                None => {}
            }
        }
        t.fail(&key, now);
        Ok(())
    }
}

impl Server {
    /// Charges `frame` (`len` bytes) to the connection's and its user's buckets. Returns false
    /// if it must wait: the connection is then held, and resumed when its tokens have grown.
    pub(super) fn charge(&mut self, conn: ConnId, frame: &Decoded<'_>, len: usize, now: Instant) -> bool {
        let l = &self.limits;
        let (msg_rate, id_rate, byte_rate) = (l.messages, l.id_messages, l.bytes);
        let admins = &self.policy.admins;
        let Some(s) = self.sessions.get_mut(conn).and_then(Option::as_mut) else {
            return true;
        };
        // A server admin (logged in) is not held: under a raid its bans and deletes come by the
        // hundred, from a script that need not pace them (found by QA: held, then closed for
        // flooding, mid-cleanup). Admins are whom the operator trusts with the server anyway.
        if super::admin::who(s, admins).is_some_and(|w| w.admin) {
            return true;
        }
        // Requests that make the server publish or list for others cost a message, as do Subs
        // past the free ones and SetPassword (two password hashes); the rest (Catchup, Unsub,
        // Ping, ...) only their bytes.
        let sub = matches!(frame, Ok(Msg::Sub(_)));
        let free_subs = l.max_subs.clamp(usize::from(FREE_SUBS), usize::from(u16::MAX));
        let publish = s.user.is_some()
            && (matches!(
                frame,
                Ok(Msg::Message(_)
                    | Msg::Mod(_)
                    | Msg::SetMeta(_)
                    | Msg::SetPresence(_)
                    | Msg::Members(_)
                    | Msg::Targets(_)
                    | Msg::Topics(_)
                    | Msg::SetPassword(_))
            ) || (sub && usize::from(s.subs_sent) >= free_subs));
        // A purge walks a week of its channel in the writer's transaction: it costs as much as
        // ten Messages, so that one member's purges cannot hold up everyone's writes.
        let cost = match frame {
            Ok(Msg::Mod(m)) if m.action == crate::proto::Action::Purge => PURGE_COST,
            _ => 1,
        };
        let bytes = u32::try_from(len).unwrap_or(u32::MAX);
        // The user's token is booked when the request first asks, and waited for like the
        // connection's own: the user's connections are then served in the order they asked,
        // so two that flood cannot take every token from a third as each grows.
        let id_wait = match (publish, s.user.as_deref(), id_rate) {
            (true, Some(u), Some(r)) if s.pace.id_booked == 0 => {
                // The key is allocated only for a user's first Message in a while.
                let wait = match self.flood.ids.get_mut(u) {
                    Some(b) => b.book(cost, r, now),
                    None => {
                        let mut b = Bucket::full(r, now);
                        let wait = b.book(cost, r, now);
                        self.flood.ids.insert(u.into(), b);
                        wait
                    }
                };
                s.pace.id_booked = cost;
                Some(wait).filter(|w| !w.is_zero())
            }
            _ => None,
        };
        let waits = [
            byte_rate.and_then(|r| s.pace.bytes.wait(bytes, r, now)),
            msg_rate
                .filter(|_| publish)
                .and_then(|r| s.pace.msgs.wait(cost, r, now)),
            id_wait,
        ];
        if let Some(wait) = waits.into_iter().flatten().max() {
            let until = now + wait;
            s.pace.held = Some(until);
            self.flood.holds.push(Reverse((until, conn)));
            return false;
        }
        if let Some(r) = byte_rate {
            s.pace.bytes.spend(bytes, r, now);
        }
        if sub {
            s.subs_sent = s.subs_sent.saturating_add(1);
        }
        // The free Subs are for a connection's first joins (a reconnect resubscribing): once
        // it leaves a channel, every join pays, or joining and leaving again and again would
        // put two lines a turn on every member's screen at no cost (QA: 172 in a second).
        if matches!(frame, Ok(Msg::Unsub(u)) if u.topic.kind() == crate::proto::Kind::Channel) {
            s.subs_sent = u16::MAX;
        }
        if let Some(r) = msg_rate.filter(|_| publish) {
            s.pace.msgs.spend(cost, r, now);
        }
        s.pace.id_booked = 0;
        true
    }

    /// `s` closed: a token it booked for its user's held request goes back, or connections
    /// that ask and leave would run the user's bucket into debt without end.
    pub(super) fn unbook(&mut self, s: &super::session::Session) {
        if let (booked @ 1.., Some(user), Some(rate)) =
            (s.pace.id_booked, s.user.as_deref(), self.limits.id_messages)
            && let Some(b) = self.flood.ids.get_mut(user)
        {
            b.unbook(booked, rate);
        }
    }

    /// When the earliest hold ends, if any connection is held: the shell wakes the core then
    /// with [`wake`](Server::wake).
    pub fn next_wake(&self) -> Option<Instant> {
        self.flood.holds.peek().map(|Reverse((at, _))| *at)
    }

    /// Whether news waits for the next [`wake`](Server::wake): the quits and the presence of
    /// users whose last connection closed, which the shell should not sleep on (an idle
    /// server's next turn could be a tick away).
    pub fn news_waiting(&self) -> bool {
        !self.quits.is_empty() || !self.gone.is_empty()
    }

    /// Resumes the connections whose hold has ended, lifts the bans and mutes that have, and
    /// sends what waited for an outbox (presence of users whose last connection closed). The
    /// shell calls it every turn.
    pub fn wake(&mut self, now: &Now, out: &mut impl Outbox) {
        self.see(now);
        // Every turn, before what it reads: a Sub that comes after a ban's end finds it lifted.
        // By the tick's held clock (crate::steady), not the wall clock: a clock stepped a year
        // ahead lifted every timed ban at once, saved so (found in review, helper 264).
        let ending = self.steady.since_last(now.unix_ms, now.mono);
        self.expire_sanctions(ending);
        self.tell_quits(out);
        self.announce_gone(out);
        while let Some(&Reverse((at, conn))) = self.flood.holds.peek() {
            if at > now.mono {
                break;
            }
            self.flood.holds.pop();
            // An entry left by a connection that closed, or was held again since, is skipped.
            if let Some(s) = self.session_mut(conn)
                && s.pace.held == Some(at)
            {
                s.pace.held = None;
                out.resume(conn);
            }
        }
    }

    /// Whether `conn`'s input is held for its rate (the shell may read ahead into its buffer,
    /// to see whether it keeps sending).
    pub fn throttled(&self, conn: ConnId) -> bool {
        self.session(conn).is_some_and(|s| s.pace.held.is_some())
    }

    /// The shell found `conn` held with a full read buffer for `flood_timeout`: it is far
    /// ahead of its rate and does not slow down. Closes it with `flooding`.
    pub fn flooding(&mut self, conn: ConnId, out: &mut impl Outbox) {
        if self.session(conn).is_none() {
            return;
        }
        if let Some(user) = self.session(conn).and_then(|s| s.user.as_deref()) {
            log::warn!("conn {conn} ({user}): flooding; disconnecting");
        }
        let reason = "too many messages: slow down";
        self.fail(conn, None, ErrorCode::Flooding, reason, out);
    }

    /// Forgets the per-ID buckets that have grown full again; all of them once the limit is
    /// off (a reload that turns it off would else keep them for good: found by QA).
    pub(super) fn prune_flood(&mut self, now: Instant) {
        match self.limits.id_messages {
            Some(r) => self.flood.ids.retain(|_, b| !b.is_full(r, now)),
            None if !self.flood.ids.is_empty() => self.flood.ids = Default::default(),
            None => {}
        }
        if let Some(t) = self.flood.connects.as_mut() {
            t.prune(now);
        }
    }
}
