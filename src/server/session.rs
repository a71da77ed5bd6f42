//! What the server knows about one connection: the seed's two pieces of state (who it is, what it
//! subscribes to) plus the timers that keep it honest.

use std::net::IpAddr;
use std::time::Instant;

/// One connection's state.
#[derive(Debug)]
pub struct Session {
    /// The user ID, once Ident succeeded.
    pub user: Option<std::rc::Rc<str>>,
    /// Subscribed channels.
    pub subs: smallvec::SmallVec<[std::rc::Rc<str>; 1]>,
    /// When the connection was accepted (handshake timeout).
    pub accepted: Instant,
    /// When the last frame arrived (idle timeout).
    pub last_heard: Instant,
    /// When the last request other than Ping and Pong arrived: who is idle when the server is
    /// full.
    pub active: Instant,
    /// Flood buckets, and whether input is held for them.
    pub pace: super::flood::Pace,
    /// The peer's own address (for server bans on address ranges); what it counts against for
    /// the per-address and per-subnet limits is worked out from it when needed rather than kept
    /// (idle memory is counted per connection).
    pub peer: IpAddr,
    /// User IDs whose presence it watches.
    pub watching: Vec<Box<str>>,
    /// When the server pinged a silent connection, if it did and heard nothing since.
    pub pinged: Option<Instant>,
    /// Waiting for the store: its further input is held back until the answer is sent.
    pub waiting: bool,
    /// Its Events waiting for their commit (`--fsync always`), whose echoes are still due.
    pub unconfirmed: u32,
    /// Private enough for a password: TLS, or a loopback peer.
    pub secure: bool,
    /// Logged in with a password (not merely taking a free name): may ask for tokens.
    pub authenticated: bool,
    /// Asked in its Ident for copies of the direct messages its user sends from other
    /// connections (PROTOCOL.md §4, Message and Event).
    pub carbons: bool,
    /// Asked in its Ident to be told of joins and leaves in its channels (PROTOCOL.md §4,
    /// Joins and leaves).
    pub joins: bool,
    /// Subs it sent (one its channel refused counting [`super::REFUSED_SUB_WEIGHT`]), against
    /// its free ones ([`super::FREE_SUBS`]); `u16::MAX` once it left a channel, after which
    /// none is free.
    pub subs_sent: u16,
    /// Logged in with a password, or admitted on a token its home server vouched for: the ID
    /// is proven, which registered-only channels, lasting rooms, admins and making room on a
    /// full server go by.
    pub logged_in: bool,
    /// Which password of its account it logged in with
    /// ([`Account::password`](crate::store::accounts::Account::password)); 0 for none.
    pub password: u64,
    /// For a session that did not prove its name: the first position of the direct messages
    /// it may read, those that reached the name since it took it (anyone may take a free name
    /// once its user has left).
    pub reads_from: u64,
    /// An authentication in progress; boxed, as it is rare and brief.
    pub dance: Option<Box<super::auth::Dance>>,
}

impl Session {
    /// A fresh connection.
    pub fn new(peer: IpAddr, secure: bool, limits: &super::Limits, now: Instant) -> Self {
        Session {
            peer,
            watching: Vec::new(),
            active: now,
            pace: super::flood::Pace::new(limits, now),
            user: None,
            subs: smallvec::SmallVec::new(),
            accepted: now,
            last_heard: now,
            pinged: None,
            waiting: false,
            unconfirmed: 0,
            secure,
            authenticated: false,
            carbons: false,
            joins: false,
            subs_sent: 0,
            logged_in: false,
            password: 0,
            reads_from: 0,
            dance: None,
        }
    }

    /// What the peer counts against for the per-address limit (its address, or its /64).
    pub fn addr(&self) -> IpAddr {
        super::limit_key(self.peer)
    }

    /// What the peer counts against for the per-subnet limit (its /24 or /48).
    pub fn subnet(&self) -> IpAddr {
        super::subnet_key(self.peer)
    }

    /// Who its direct messages to an away inbox count against ([`super::inbox`]): its ID if
    /// proven, else its network.
    pub fn inbox_sender(&self) -> super::inbox::Sender {
        match (&self.user, self.authenticated || self.logged_in) {
            (Some(id), true) => super::inbox::Sender::Id(id.as_ref().into()),
            _ => super::inbox::Sender::Network(self.subnet()),
        }
    }

    /// True if subscribed to `channel`.
    pub fn is_subscribed(&self, channel: &str) -> bool {
        self.subs.iter().any(|s| &**s == channel)
    }
}
