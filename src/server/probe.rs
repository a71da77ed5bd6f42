//! Pinging early the silent connections of an address at its limit. A client on a flaky link
//! (a phone changing networks, a NAT that forgot it) leaves each dead connection open until
//! the server's own Ping times out: `idle-timeout` and `ping-timeout` after its last frame,
//! 90 s by default. Reconnecting every few seconds, a few such users on one address filled its
//! `max-per-address` slots with the dead in 20 s, and were refused 501 (found by QA). When a
//! connection is refused for its address, that address's connections silent for a while are
//! pinged at once: the live ones answer, and the dead are closed a `ping-timeout` later, as
//! any connection that does not answer a Ping is (so no client gets less time to answer than
//! its Ident reply promised).

use super::session::Session;
use super::{ConnId, Now, Outbox, Server};
use crate::proto::{Msg, Ping};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a connection must have been silent to be pinged early.
pub(super) const SILENCE: Duration = Duration::from_secs(10);

/// The most probes a second, whatever the addresses knocking: each walks every session, and
/// many addresses at their limit (a low `max-per-address`, many IPv6 /64s) must not make each
/// refusal cost that (found in review: 16,384 addresses at a limit of 1 took 4.3 s of walks in
/// a debug build). An address past the budget is probed at a later knock.
const PROBES_PER_SEC: u32 = 8;

/// Addresses whose silent connections were pinged early, and when: not again while those
/// Pings are out. At most one entry per address at its limit, so bounded by the connections.
#[derive(Debug, Default)]
pub(super) struct Probed {
    at: HashMap<IpAddr, Instant>,
    /// The second the probes are counted in, and how many it had.
    second: Option<(Instant, u32)>,
}

impl Probed {
    /// Forgets the probes whose Pings have timed out.
    pub fn prune(&mut self, now: Instant, ping_timeout: Duration) {
        self.at
            .retain(|_, t| now.saturating_duration_since(*t) < ping_timeout);
    }
}

impl Server {
    /// A connection from the address `key` was refused for its limit: its connections
    /// silent for [`SILENCE`] or more, and not pinged yet, are pinged now. One walk over the
    /// sessions per address per `ping-timeout`, however often it knocks, and at most
    /// [`PROBES_PER_SEC`] walks a second in all.
    pub(super) fn probe_silent(&mut self, key: IpAddr, now: &Now, out: &mut impl Outbox) {
        let timeout = self.limits.ping_timeout;
        let p = &mut self.probed;
        if p.at
            .get(&key)
            .is_some_and(|t| now.mono.saturating_duration_since(*t) < timeout)
        {
            return;
        }
        let (start, n) = match p.second {
            Some((start, n)) if now.mono.saturating_duration_since(start) < Duration::from_secs(1) => {
                (start, n)
            }
            _ => (now.mono, 0),
        };
        if n >= PROBES_PER_SEC {
            return;
        }
        p.second = Some((start, n + 1));
        p.at.insert(key, now.mono);
        for (conn, s) in self.sessions.iter_mut().enumerate() {
            let Some(s) = s.as_deref_mut() else { continue };
            // Not one whose input is held (for the store or its rate): its silence is the
            // server's, and the tick does not ping it either.
            let held = s.waiting || s.unconfirmed > 0 || s.pace.held.is_some();
            if s.addr() != key || s.user.is_none() || s.pinged.is_some() || held {
                continue;
            }
            if now.mono.saturating_duration_since(s.last_heard) >= SILENCE {
                ping(s, conn, now, out);
            }
        }
    }
}

/// Pings `s`, numbered `conn`, and notes when: the tick closes it if nothing comes within
/// `ping-timeout`.
pub(super) fn ping(s: &mut Session, conn: ConnId, now: &Now, out: &mut impl Outbox) {
    s.pinged = Some(now.mono);
    out.reply(
        conn,
        &Msg::Ping(Ping {
            seq: None,
            time: now.unix_ms,
        }),
    );
}
