//! Every bound the server enforces, with its default. docs/OPERATIONS.md explains each.

use std::time::Duration;

/// Configurable limits and timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once, in all.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_per_address: usize,
    /// Channels one connection may subscribe to.
    pub max_subs: usize,
    /// Bytes of Events that may wait behind a connection's full 16 KiB write buffer before the
    /// connection counts as a slow consumer and is disconnected.
    pub max_queue: usize,
    /// Time from accept to a successful Ident.
    pub handshake_timeout: Duration,
    /// Silence after which the server pings a connection.
    pub idle_timeout: Duration,
    /// Time a pinged connection has to send anything at all.
    pub ping_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_per_address: 32,
            max_subs: 64,
            max_queue: 256 * 1024,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(30),
        }
    }
}
