//! Every bound the server enforces, with its default. docs/OPERATIONS.md explains each.

use super::bucket::Rate;
use std::time::Duration;

/// Connections that `max_connections` leaves for other files (listeners, the store, logs) when
/// it is derived from the open-file limit.
pub const FD_RESERVE: usize = 64;

/// The most connections a default configuration admits, however high the open-file limit:
/// worst-case memory grows with it (docs/OPERATIONS.md, Memory).
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// Subs a connection may send for their bytes alone, as many as max-subs if that is more:
/// enough to resubscribe to every channel after a reconnect. Each one after them costs a
/// Message, since a Sub may be checked against 500 ban patterns, and Sub and Unsub in turn
/// would otherwise make that check as often as the bytes allow.
pub const FREE_SUBS: u16 = 64;

/// How many of the free Subs one the channel refuses (801, 804, 805) uses up: a client banned
/// from a channel it rejoins on every reconnect loses a few, a loop of refused Subs gets 8 free
/// ones, not 64 ([`FREE_SUBS`]).
pub const REFUSED_SUB_WEIGHT: u16 = 8;

/// Configurable limits and timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once, in all.
    pub max_connections: usize,
    /// Connections open at once from one IP address (an IPv6 /64).
    pub max_per_address: usize,
    /// Connections open at once from one subnet: an IPv4 /24, an IPv6 /48. Never below
    /// `max_per_address`, so that raising that one (behind a proxy, say) is enough.
    pub max_per_subnet: usize,
    /// New connections per network (an IPv4 /24, an IPv6 /48, as `max_per_subnet` counts
    /// them); `None`: no limit.
    pub connect_rate: Option<Rate>,
    /// Messages a connection may publish; beyond it its input waits. `None`: no limit.
    pub messages: Option<Rate>,
    /// Messages one user ID may publish over all its connections.
    pub id_messages: Option<Rate>,
    /// Bytes of frames a connection may send.
    pub bytes: Option<Rate>,
    /// How long a connection whose input waits may keep its read buffer full (it is that far
    /// ahead of its rate) before it is closed with `flooding`.
    pub flood_timeout: Duration,
    /// Channels one connection may subscribe to.
    pub max_subs: usize,
    /// Accounts past which clients may not register more (the operator still may add them):
    /// the per-address throttle slows one host, not many.
    pub max_accounts: usize,
    /// Bytes of Events that may wait behind a connection's full 16 KiB write buffer before the
    /// connection counts as a slow consumer and is disconnected.
    pub max_queue: usize,
    /// The kernel send buffer asked for each connection's socket (Linux doubles it for its
    /// bookkeeping); 0 leaves it to the kernel's autotuning. Capped so that what sits in the
    /// kernel for a subscriber that stopped reading is small: it is found slow after about this
    /// much plus `max_queue`, and its 503 is not stuck behind megabytes.
    pub send_buffer: usize,
    /// Time from accept to a successful Ident.
    pub handshake_timeout: Duration,
    /// Silence after which the server pings a connection.
    pub idle_timeout: Duration,
    /// Time a pinged connection has to send anything at all.
    pub ping_timeout: Duration,
    /// How long a kept channel may go without a subscriber before the server forgets it, as
    /// after a drop; `None`: kept for good.
    pub kept_idle: Option<Duration>,
    /// Direct messages one sender (an account, or a network for those without a proven ID)
    /// may leave at once in an away account's inbox, and how long until one more
    /// ([`super::inbox`]); `None`: no limit.
    pub away_inbox: Option<(u32, Duration)>,
    /// How long after the server starts taking connections no channel's join rate holds
    /// anyone: after a restart every member comes back at once (InspIRCd's joinflood waits out
    /// its `bootwait` the same way). Zero: join rates hold from the start.
    pub join_rush: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_address: 32,
            max_per_subnet: 128,
            connect_rate: Some(Rate::new(10, 32)),
            messages: Some(Rate::new(5, 20)),
            id_messages: Some(Rate::new(10, 40)),
            bytes: Some(Rate::new(32 * 1024, 128 * 1024)),
            flood_timeout: Duration::from_secs(10),
            max_subs: 64,
            max_accounts: DEFAULT_MAX_ACCOUNTS,
            max_queue: 256 * 1024,
            send_buffer: 64 * 1024,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(30),
            kept_idle: Some(Duration::from_secs(DEFAULT_KEPT_DAYS * 86_400)),
            away_inbox: Some((100, Duration::from_secs(36))),
            join_rush: Duration::from_secs(60),
        }
    }
}

/// Accounts clients may register by default: a team's or a community's many times over, and
/// at about 100 bytes each in memory (and a row on disk), 10 MB at most.
pub const DEFAULT_MAX_ACCOUNTS: usize = 100_000;

/// Days a kept channel may go unused by default: three months, as IRC services expire
/// registrations nobody uses (Atheme's default is 30 days, Anope's 14); long enough for a
/// holiday, short enough that channels nobody comes back to do not fill the server's bound.
pub const DEFAULT_KEPT_DAYS: u64 = 90;

impl Limits {
    /// The limits with every flood limit off: for benchmarks that publish as fast as they can.
    pub fn without_flood_limits(self) -> Self {
        Limits {
            connect_rate: None,
            messages: None,
            id_messages: None,
            bytes: None,
            away_inbox: None,
            ..self
        }
    }
}
