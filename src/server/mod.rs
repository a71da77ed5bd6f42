//! The server's logic, sans IO: it takes decoded requests and the time, keeps sessions and
//! subscriptions, and tells an [`Outbox`] which frames go to which connection. Sockets, buffers
//! and the poll loop live in [`crate::net`].

mod admin;
mod auth;
pub(super) mod blocks;
mod bucket;
mod carbons;
mod catchup;
mod channels;
mod conversations;
mod evict;
mod federation;
mod flood;
mod floor;
mod guest;
mod held;
mod history;
mod inbox;
mod joins;
mod limits;
mod listed;
mod markers;
mod meta;
mod mix;
mod moderation;
mod outbox;
mod own_modes;
mod password;
mod per_account;
mod presence;
mod probe;
mod publish;
mod refused;
mod ring;
mod room;
mod saved;
mod session;
mod sorted;
mod targets;
mod throttle;
mod timed;
mod turned_away;

pub use admin::{Policy as AdminPolicy, ServerBan, accountless_admins};
pub use auth::{AuthConfig, Password, PasswordCheck, Policy, Verdict};
pub use bucket::Rate;
pub use catchup::MAX_REPLAY;
pub use federation::{Foreign, TOKEN_LIFETIME_MS, TokenCheck, VOUCH_WAIT, Vouched};
pub use guest::{GUEST_PREFIX, SERVICE_NAMES, is_guest_name, is_service_name};
pub use history::{HistoryConfig, StoreStats};
use joins::Why;
pub use joins::{MAX_TOLD, MEMBER_CTYPE};
pub use limits::{DEFAULT_MAX_CONNECTIONS, FD_RESERVE, FREE_SUBS, Limits, REFUSED_SUB_WEIGHT};
pub use meta::mode_letters;
pub use moderation::{MOD_CTYPE, PRESENCE_CTYPE, SERVER_CTYPES, deleted_by, purged_by, server_ctype};
pub use outbox::{ConnId, Outbox};
pub use saved::{
    BAN_REASONS as SAVED_BAN_REASONS, BAN_SETTERS as SAVED_BAN_SETTERS, BANS as SAVED_BANS, BanSetters,
    DELETED, bans_value, deleted_created, deleted_key, deleted_name, deleted_value, kept_owner,
    reasons_value, saved_ban_reasons, saved_ban_setters, saved_bans, setters_value,
};
pub use turned_away::AtAccept;

use crate::proto::*;
use auth::Accounts;
use channels::{Audience, Channels};
use history::History;
use refused::Refused;
use session::Session;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

/// The current time, passed in so the core never reads a clock.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time, for timers.
    pub mono: Instant,
    /// Wall-clock milliseconds since the Unix epoch, for Event times.
    pub unix_ms: u64,
}

/// Counters for logs and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Connections admitted.
    pub accepted: u64,
    /// Connections refused at accept: a connection limit or rate, a server ban, or plain TCP
    /// from another host under `plain = loopback`.
    pub refused: u64,
    /// Messages accepted and turned into Events.
    pub published: u64,
    /// Event frames handed to the outbox (echoes included).
    pub deliveries: u64,
    /// Errors sent.
    pub errors: u64,
}

/// The sans-IO server core.
pub struct Server {
    domain: Box<str>,
    limits: Limits,
    /// Boxed: the Vec grows by doubling, and each empty or spare slot would otherwise be a
    /// whole Session wide (idle memory per connection, docs/PERFORMANCE.md).
    sessions: Vec<Option<Box<Session>>>,
    open: usize,
    per_addr: HashMap<IpAddr, usize>,
    per_subnet: HashMap<IpAddr, usize>,
    flood: flood::Flood,
    channels: Channels,
    /// The channels Topics lists: those with a subscriber, and kept ones without (their
    /// rooms), so that a quiet channel can still be found (PROTOCOL.md §4, Topics).
    listed: listed::Listed,
    users: HashMap<Rc<str>, Audience>,
    /// Who runs each channel, and whom it keeps out or quiet.
    /// Boxed: most channels have a room with one member and no moderation, and the map's
    /// empty slots would otherwise each be a whole Room wide.
    rooms: HashMap<Rc<str>, Box<room::Room>>,
    /// Who watches each user ID's presence.
    watchers: HashMap<Box<str>, Vec<ConnId>>,
    /// Users who said they are away, with their note.
    away: HashMap<Box<str>, Box<str>>,
    /// Users whose last connection closed, to announce at the next chance to send.
    gone: Vec<Box<str>>,
    /// Members whose last connection in a channel closed, to be told (disconnect has no
    /// outbox; PROTOCOL.md §4, Joins and leaves).
    quits: Vec<joins::Quit>,
    /// Admins, configured bans, configured motd.
    policy: admin::Policy,
    /// Server bans set by admins while running.
    bans: Vec<admin::ServerBan>,
    /// The ends of the channels' timed bans and mutes.
    timed: timed::Ends,
    /// The reasons admins gave for those of `bans` they gave one for, by the ban as written:
    /// told to whom they keep out.
    ban_reasons: HashMap<Box<str>, Box<str>>,
    /// Who set each server ban an admin set, and when (unix ms), by the ban as written: what
    /// the ban list says, as a channel's says of its bans.
    ban_setters: BanSetters,
    /// The message of the day.
    motd: Option<admin::Motd>,
    /// The wall clock as last seen (for Events made where no `Now` is passed).
    now_ms: u64,
    /// The monotonic clock then (none before the first `Now`): with `now_ms`, the held
    /// clock between ticks ([`Server::held_ms`]).
    now_mono: Option<Instant>,
    /// The wall clock kept channels' expiry and timed sanctions' ends count by (a step ahead
    /// only once it held).
    steady: crate::steady::Steady,
    /// The lasting rooms each account owns (which it counts against, and may find in Topics).
    lasting_owned: HashMap<Box<str>, Vec<Box<str>>>,
    /// The lasting rooms, by channel: the tick looks for those unused too long among these
    /// (at most [`saved::MAX_KEPT_ROOMS`]), not among every room.
    kept: HashSet<Box<str>>,
    /// Rooms whose members' rate budgets, or join budget, are not all full again, which the
    /// tick prunes.
    paced: HashSet<Box<str>>,
    /// When the loop started taking connections ([`Server::opened_at`]): the rush of
    /// reconnections after it is not held by channels' join rates.
    opened: Option<Instant>,
    /// The secret of guest IDs' address marks ([`guest`]): restored, or made at the start (with
    /// a store; saved) or at the first guest.
    guest_key: Option<guest::GuestKey>,
    /// Whom a full server closes first.
    evictable: evict::Evictable,
    /// Addresses at their limit whose silent connections were pinged early.
    probed: probe::Probed,
    /// Keys of server state changed since they were last handed to the store.
    unsaved: std::collections::BTreeSet<Box<str>>,
    /// Where the times of a topic without an audience start.
    floors: floor::Floors,
    /// What each sender has left in each away account's inbox lately.
    inboxes: inbox::AwayInboxes,
    /// Whom each account refuses direct messages from.
    blocks: blocks::Blocks,
    /// Users' own modes (registered-only).
    own_modes: own_modes::OwnModes,
    read_markers: markers::ReadMarkers,
    scratch: Box<[u8]>,
    stats: Stats,
    /// Connections refused at accept and not yet counted in the log.
    untold: turned_away::Untold,
    /// `None` on a server that keeps no history.
    history: Option<History>,
    accounts: Accounts,
    federation: federation::Federation,
}

impl Server {
    /// A server for `domain` (which must be a valid domain name) with the given limits.
    pub fn new(domain: &str, limits: Limits) -> Self {
        Server {
            domain: domain.into(),
            sessions: Vec::new(),
            open: 0,
            per_addr: HashMap::new(),
            per_subnet: HashMap::new(),
            flood: flood::Flood::new(limits.connect_rate),
            channels: Channels::default(),
            listed: listed::Listed::default(),
            users: HashMap::new(),
            rooms: HashMap::new(),
            watchers: HashMap::new(),
            away: HashMap::new(),
            gone: Vec::new(),
            quits: Vec::new(),
            policy: admin::Policy::default(),
            bans: Vec::new(),
            timed: timed::Ends::default(),
            ban_reasons: HashMap::new(),
            ban_setters: HashMap::new(),
            motd: None,
            now_ms: 0,
            now_mono: None,
            steady: crate::steady::Steady::new("kept channels' expiry and timed bans' ends"),
            unsaved: Default::default(),
            lasting_owned: HashMap::new(),
            kept: HashSet::new(),
            paced: HashSet::new(),
            opened: None,
            guest_key: None,
            evictable: Default::default(),
            probed: probe::Probed::default(),
            floors: floor::Floors::default(),
            inboxes: inbox::AwayInboxes::new(limits.away_inbox),
            blocks: Default::default(),
            own_modes: Default::default(),
            read_markers: Default::default(),
            scratch: vec![0u8; MAX_FRAME].into_boxed_slice(),
            stats: Stats::default(),
            untold: turned_away::Untold::default(),
            history: None,
            accounts: Accounts::new(AuthConfig::default()),
            federation: Default::default(),
            limits,
        }
    }

    /// Keeps history from now on, in a store that already holds Events up to `c.last_pos`,
    /// the latest stamped `last_time` (new times come after it, so ids never repeat).
    /// `recent` are the newest stored Events, oldest first: they fill the ring of recent Events,
    /// but for topics among them that have Events said while closed (whose lives the ring does
    /// not tell apart), which the store answers for.
    pub fn keep_history(&mut self, c: &HistoryConfig, last_time: u64, recent: Vec<crate::store::Record>) {
        let mut h = History::new(c);
        let closed: std::collections::HashSet<Box<str>> = recent
            .iter()
            .filter(|r| r.life.is_some())
            .map(|r| r.topic().into())
            .collect();
        for rec in recent.into_iter().filter(|r| !closed.contains(r.topic())) {
            h.ring.push(std::sync::Arc::new(rec));
        }
        self.history = Some(h);
        self.floors.started_after(last_time);
    }

    /// Takes the clocks of `now` as the latest seen.
    fn see(&mut self, now: &Now) {
        self.now_ms = now.unix_ms;
        self.now_mono = Some(now.mono);
    }

    /// The wall clock as the last tick's held clock carries it on ([`crate::steady`]): what a
    /// topic that loses its audience is judged by, whether its times are still ahead of the
    /// clock and must be kept ([`floor`]). By the raw clock, a step a year ahead for seconds
    /// made every topic made again afterwards start a year ahead (review 264).
    fn held_ms(&self) -> u64 {
        self.now_mono
            .map_or(self.now_ms, |mono| self.steady.since_last(self.now_ms, mono))
    }

    /// Topics whose stored times run past the clock at start, with their last times
    /// ([`crate::store::Start::ahead`]): their new times start after them, where the others'
    /// start at `keep_history`'s `last_time`.
    pub fn times_ahead(&mut self, ahead: Vec<(String, u64)>) {
        for (topic, last) in ahead {
            self.floors.stored(&topic, last);
        }
    }

    /// The loop starts taking connections at `mono`: for [`Limits::join_rush`] from then, the
    /// members coming back after a restart are not held by channels' join rates. A core never
    /// told has no rush: join rates hold from the start.
    pub fn opened_at(&mut self, mono: Instant) {
        self.opened = Some(mono);
    }

    /// Whether `conn` waits for the store (a query's answer, or its Event's commit) or for its
    /// flood rate: the shell must not hand it more frames until the core calls
    /// [`Outbox::resume`].
    pub fn waiting(&self, conn: ConnId) -> bool {
        self.sessions
            .get(conn)
            .and_then(Option::as_ref)
            .is_some_and(|s| s.waiting || s.pace.held.is_some())
    }

    /// Whether the core still owes `conn` something from the store (an answer, or the echo of
    /// an Event waiting for its commit), or holds its input for its rate: a peer that
    /// half-closed must not be forgotten yet.
    pub fn busy(&self, conn: ConnId) -> bool {
        self.sessions
            .get(conn)
            .and_then(Option::as_ref)
            .is_some_and(|s| s.waiting || s.unconfirmed > 0 || s.pace.held.is_some())
    }

    fn pause(&mut self, conn: ConnId) {
        if let Some(s) = self.session_mut(conn) {
            s.waiting = true;
        }
    }

    fn resume(&mut self, conn: ConnId, out: &mut impl Outbox) {
        if let Some(s) = self.session_mut(conn)
            && std::mem::take(&mut s.waiting)
        {
            out.resume(conn);
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// New limits (a reload): they apply to what happens from now on. Connections over a new
    /// connection limit stay; buckets keep their level and grow at the new rates.
    pub fn set_limits(&mut self, limits: Limits) {
        if limits.connect_rate != self.limits.connect_rate {
            self.flood.set_connect_rate(limits.connect_rate);
        }
        if limits.idle_timeout != self.limits.idle_timeout {
            self.forget_evictable();
        }
        if limits.away_inbox != self.limits.away_inbox {
            self.inboxes = inbox::AwayInboxes::new(limits.away_inbox);
        }
        self.limits = limits;
    }

    /// New retention rules (a reload); the store is told apart, and deletes by them from its
    /// next retention step. Memory holds Events by bytes, not by rule, and hides what the rules
    /// drop by counting back from the newest: under a stricter or unchanged rule a topic's
    /// memory stays right, but under a looser one it would show (and anchor on) Events the
    /// store has already deleted, so those topics are forgotten. They fill again with new
    /// Events; until then their catch-ups go to the store.
    pub fn set_retention(&mut self, retention: crate::store::Retention) {
        if let Some(h) = self.history.as_mut()
            && h.retention != retention
        {
            let old = &h.retention;
            h.ring
                .forget(|topic| retention.rule(topic).keeps_more_than(&old.rule(topic)));
            h.retention = retention;
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Has the tick prune `channel`'s room: some rate budget in it is not full again, or a
    /// member may still return without counting.
    fn mark_paced(&mut self, channel: &str) {
        if !self.paced.contains(channel) {
            self.paced.insert(channel.into());
        }
    }

    /// How many channels there are: with a subscriber, or kept without one.
    pub fn channel_count(&self) -> usize {
        self.listed.to_admin().len()
    }

    /// The store as the core sees it; `None` without one (`--ephemeral`).
    pub fn store_stats(&self) -> Option<StoreStats> {
        self.history.as_ref().map(|h| h.stats())
    }

    /// How many connections are open.
    pub fn connections(&self) -> usize {
        self.open
    }

    /// A new connection from `addr`. Returns false if a limit refuses it; the refusal (Error,
    /// Bye, close) is already in the outbox.
    pub fn accept(&mut self, conn: ConnId, addr: IpAddr, now: &Now, out: &mut impl Outbox) -> bool {
        let (key, subnet) = (limit_key(addr), subnet_key(addr));
        let count = |m: &HashMap<IpAddr, usize>, k| m.get(&k).copied().unwrap_or(0);
        self.see(now);
        // The connection rate is counted after the limits of connections held: a host retrying
        // while its address is full spent its network's rate on connections that could never
        // be admitted, and its neighbours were refused 505 for it (found by QA).
        let refusal: Option<Refused> = if let Some(why) = self.banned_addr(addr) {
            Some((ErrorCode::BannedFromServer, why).into())
        } else if count(&self.per_addr, key) >= self.limits.max_per_address {
            // Some of them may be dead connections of this very client's: asked now, they
            // make room a ping-timeout from now rather than an idle-timeout more.
            self.probe_silent(key, now, out);
            let reason = "too many connections from your address";
            Some((ErrorCode::TooManyFromAddress, reason.into()).into())
        } else if count(&self.per_subnet, subnet)
            >= self.limits.max_per_subnet.max(self.limits.max_per_address)
        {
            let reason = "too many connections from your network";
            Some((ErrorCode::TooManyFromAddress, reason.into()).into())
        } else if let Err(wait) = self.flood.connect(subnet, now.mono) {
            let reason = format!(
                "too many new connections from your network (its /24 or /48); try again in {} s",
                refused::ceil_secs(wait).max(1)
            );
            Some(Refused::waiting(ErrorCode::ConnectingTooFast, reason, wait))
        } else if self.open >= self.limits.max_connections && !self.evict_idle(now, out) {
            Some((ErrorCode::TooManyConnections, "the server is full".into()).into())
        } else {
            None
        };
        if let Some(r) = refusal {
            self.refused_at_accept(addr, AtAccept::Code(r.code));
            let e = ErrorMsg {
                retry_after: r.retry_after_ms(),
                ..error_msg(None, r.code, &r.reason)
            };
            self.send_error_msg(conn, e, out);
            self.send_bye(conn, r.code, out);
            out.close(conn);
            return false;
        }
        if self.sessions.len() <= conn {
            self.sessions.resize_with(conn + 1, || None);
        }
        let session = Session::new(addr, is_loopback(addr), &self.limits, now.mono);
        self.sessions[conn] = Some(Box::new(session));
        *self.per_addr.entry(key).or_insert(0) += 1;
        *self.per_subnet.entry(subnet).or_insert(0) += 1;
        self.open += 1;
        self.stats.accepted += 1;
        true
    }

    /// Forgets a connection: the shell calls this when it closes one (or starts to), the core
    /// when it closes one itself. Safe to call again, and for unknown ids.
    pub fn disconnect(&mut self, conn: ConnId) {
        self.disconnect_why(conn, Why::Nothing, true);
    }

    /// [`disconnect`](Server::disconnect), the members of its channels to be told it quit
    /// with `why`. `may_return`: the connection ended by the network or the user, not by the
    /// server's sanction, so its channels' join rates let the user back for a while
    /// ([`room::RETURN_WINDOW_MS`]).
    fn disconnect_why(&mut self, conn: ConnId, why: Why<'_>, may_return: bool) {
        let Some(s) = self.sessions.get_mut(conn).and_then(Option::take) else {
            return;
        };
        if let Some(h) = self.history.as_mut() {
            h.forget(conn);
        }
        if let Some(dance) = s.dance.as_deref() {
            dance.abandon(&mut self.accounts, s.addr());
        }
        self.unbook(&s);
        self.open -= 1;
        for (map, key) in [(&mut self.per_addr, s.addr()), (&mut self.per_subnet, s.subnet())] {
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
        for ch in &s.subs {
            // Judged before the leave, which counts the one that goes; the reason only once it
            // is the user's last connection there, or a quit nobody is told would spend the
            // channel's rate (review 215: a phone's Bye held its desktop's next Message).
            let big = self.channels.subscribers(ch).len() > joins::MAX_TOLD;
            if !self.leave(conn, s.user.as_deref(), ch) {
                continue;
            }
            let quit = s.user.as_ref().and_then(|user| self.quit(&s, ch, user, why, big));
            if let (true, Some(user), Some(room)) = (may_return, s.user.as_deref(), self.rooms.get_mut(ch)) {
                room.quit_member(user, s.logged_in, self.now_ms);
                if room.is_paced() {
                    self.mark_paced(ch);
                }
            }
            if let Some(quit) = quit {
                self.quits.push(quit);
            }
        }
        for user in &s.watching {
            if let Some(w) = self.watchers.get_mut(user) {
                w.retain(|&c| c != conn);
                if w.is_empty() {
                    self.watchers.remove(user);
                }
            }
        }
        if let Some(user) = s.user.as_deref()
            && let Some(conns) = self.users.get_mut(user)
            && conns.remove(conn) == 0
        {
            if let Some(gone) = self.users.remove(user) {
                self.floors.gone(user, gone.last_time(), self.held_ms());
            }
            // A quick reconnect (before the offline is announced) starts without the note.
            self.away.remove(user);
            self.gone.push(user.into());
        }
    }

    /// The stream of `conn` announced a frame longer than the protocol allows.
    pub fn frame_too_long(&mut self, conn: ConnId, len: usize, out: &mut impl Outbox) {
        let reason = format!("frame length {len} exceeds {MAX_PAYLOAD}");
        self.fail(conn, None, ErrorCode::FrameTooLong, &reason, out);
    }

    /// The peer of `conn`, whose requests the shell holds while its output is backed up, or
    /// whose Ping may still wait behind its output, took some of that output: it is alive,
    /// reading, and its silence (a Pong unread behind the held request, a Ping of its own
    /// held, the server's Ping not reached yet) is the server's doing, not a reason for
    /// `ping_timeout` (204). A peer that reads nothing makes no progress and times out as any.
    pub fn heard(&mut self, conn: ConnId, now: std::time::Instant) {
        if let Some(s) = self.session_mut(conn) {
            s.last_heard = now;
            s.pinged = None;
        }
    }

    /// Whether the server pinged `conn` and has heard nothing from it since.
    pub fn pinged(&self, conn: ConnId) -> bool {
        self.session(conn).is_some_and(|s| s.pinged.is_some())
    }

    /// Whether `conn` is subscribed to `topic`.
    pub fn subscribed(&self, conn: ConnId, topic: &str) -> bool {
        self.session(conn).is_some_and(|s| s.is_subscribed(topic))
    }

    /// Whether `conn` has not identified yet: the only time a stream may start like something
    /// that is not Scalar at all.
    pub fn unidentified(&self, conn: ConnId) -> bool {
        self.session(conn).is_some_and(|s| s.user.is_none())
    }

    /// The stream of `conn`, not identified yet, starts like a TLS record on a plain listener:
    /// a TLS client. Its ClientHello read as a frame announces a length it never sends, so
    /// waiting for the frame would keep it until the handshake timeout; it is told at once, in
    /// plain, which its TLS library reports as a protocol error.
    pub fn not_plain_scalar(&mut self, conn: ConnId, out: &mut impl Outbox) {
        let reason = "this port speaks plain Scalar, not TLS";
        self.send_error(conn, None, ErrorCode::Malformed, reason, out);
        self.bye(conn, ErrorCode::Malformed, out);
    }

    /// One frame from `conn` (`len` bytes on the wire), decoded or refused by the decoder.
    ///
    /// Returns false if the core cannot take the frame yet: the connection is over its flood
    /// rate, or has Events waiting for their commit (`--fsync always`) and this frame's reply
    /// would overtake their echoes. The shell keeps the frame and hands it over again after
    /// [`Outbox::resume`].
    pub fn receive(
        &mut self,
        conn: ConnId,
        frame: Decoded<'_>,
        len: usize,
        now: &Now,
        out: &mut impl Outbox,
    ) -> bool {
        self.see(now);
        // Told to those in the channel when the user left, before this request changes that.
        if !self.quits.is_empty() {
            self.tell_quits(out);
        }
        let Some(s) = self.session_mut(conn) else {
            return true;
        };
        s.last_heard = now.mono;
        if !matches!(frame, Ok(Msg::Ping(_) | Msg::Pong(_))) {
            s.active = now.mono;
        }
        s.pinged = None;
        let identified = s.user.is_some();
        // The Events a request may make: a Message or Mod one, a SetMeta one per field.
        let events = match &frame {
            Ok(Msg::Message(_) | Msg::Mod(_)) => 1,
            Ok(Msg::SetMeta(_)) => 4,
            _ => 0,
        };
        let echo_cap = self.limits.max_queue / 4;
        let behind = self
            .history
            .as_ref()
            .is_some_and(|h| !h.failing && !h.has_room_for(conn, events, echo_cap));
        if events > 0 && behind {
            // The writer is behind: hold the publisher back (its read buffer, then TCP, do the
            // holding) rather than refuse, until a commit makes room.
            self.pause(conn);
            if let Some(h) = self.history.as_mut() {
                h.wait_for_room(conn);
            }
            return false;
        }
        let Some(s) = self.session_mut(conn) else {
            return true;
        };
        if s.unconfirmed > 0 {
            // Only a Message that will be accepted may go on: its echo queues behind the others.
            let accepted =
                matches!(&frame, Ok(Msg::Message(m)) if self.refuse_publish(conn, m, now.mono).is_none());
            if !accepted {
                self.pause(conn);
                return false;
            }
        }
        // Last, so that a frame held back for the store above is charged once, when taken.
        if !self.charge(conn, &frame, len, now.mono) {
            return false;
        }
        self.handle(conn, frame, identified, now, out);
        true
    }

    fn handle(
        &mut self,
        conn: ConnId,
        frame: Decoded<'_>,
        identified: bool,
        now: &Now,
        out: &mut impl Outbox,
    ) {
        let msg = match frame {
            Ok(msg) => msg,
            Err(r) => {
                let reason = r.error.to_string();
                return self.fail(conn, r.seq, r.error.code(), &reason, out);
            }
        };
        match msg {
            Msg::Ident(m) if identified => self.fail(
                conn,
                m.seq,
                ErrorCode::AlreadyIdentified,
                "already identified",
                out,
            ),
            Msg::Ident(m) => self.ident(conn, m, now, out),
            Msg::Auth(m) if identified => self.fail(
                conn,
                m.seq,
                ErrorCode::AlreadyIdentified,
                "already identified",
                out,
            ),
            Msg::Auth(m) => self.auth(conn, m, now, out),
            Msg::Verify(m) => self.verify_token(conn, m, now, out),
            Msg::Bye(b) => {
                let why = b
                    .reason
                    .filter(|r| !r.is_empty())
                    .map_or(Why::Nothing, |r| Why::User(r, now.mono));
                self.close(conn, why, true, out)
            }
            _ if !identified => self.fail(conn, msg.seq(), ErrorCode::NotIdentified, "send Ident first", out),
            Msg::Ping(p) => out.reply(conn, &Msg::Pong(p)),
            Msg::Pong(_) => {}
            Msg::Message(m) => self.publish(conn, m, now, out),
            Msg::Sub(m) => self.sub(conn, m, now, out),
            Msg::Unsub(m) => self.unsub(conn, m, now, out),
            Msg::Topics(m) => self.topics(conn, m, out),
            Msg::Catchup(m) => self.catchup(conn, m, None, now, out),
            Msg::Search(m) => self.catchup(conn, m.range, Some(m.query), now, out),
            Msg::Grant(m) => self.grant(conn, m, now, out),
            Msg::Mod(m) => self.moderate(conn, m, now, out),
            Msg::SetMeta(m) => self.set_meta(conn, m, now, out),
            Msg::SetPresence(m) => self.status(conn, m, now, out),
            Msg::Members(m) => self.members_page(conn, m, out),
            Msg::Targets(m) => self.targets_page(conn, m, out),
            Msg::Conversations(m) => self.conversations(conn, m, out),
            Msg::MarkRead(m) => self.mark_read(conn, m, now, out),
            Msg::SetPassword(m) => self.set_password(conn, m, now, out),
            Msg::Event(_)
            | Msg::Meta(_)
            | Msg::TopicList(_)
            | Msg::CatchupEnd(_)
            | Msg::Error(_)
            | Msg::Challenge(_)
            | Msg::Token(_)
            | Msg::Vouch(_)
            | Msg::MemberList(_)
            | Msg::PasswordSet(_)
            | Msg::TargetList(_)
            | Msg::ConversationList(_)
            | Msg::ReadMark(_) => {
                let reason = format!("{} is sent by servers only", msg.msg_type().label());
                self.fail(conn, msg.seq(), ErrorCode::UnexpectedMessage, &reason, out)
            }
        }
    }

    /// Counts a connection from `addr` refused at accept, for `why`: a debug line each, and
    /// at `info` a count by cause at most once a minute ([`turned_away`]). The shell calls it
    /// for those it closes before the core hears of them (plain TCP from another host, `plain
    /// = loopback`).
    pub fn refused_at_accept(&mut self, addr: IpAddr, why: AtAccept) {
        self.stats.refused += 1;
        self.untold.count(why);
        log::debug!("refused connection from {addr}: {why}");
    }

    /// Drives the timers: handshake timeout, idle pings, ping timeout. Call about once a second.
    pub fn tick(&mut self, now: &Now, out: &mut impl Outbox) {
        self.accounts.prune(now);
        self.send_starts(out);
        self.federation.prune(now);
        self.vouches_overdue(now, out);
        self.prune_flood(now.mono);
        self.see(now);
        self.tell_quits(out);
        self.announce_gone(out);
        self.probed.prune(now.mono, self.limits.ping_timeout);
        if let Some(line) = self.untold.tell(now.mono) {
            log::info!("{line}");
        }
        self.inboxes.prune(now.mono);
        let steady_ms = self.steady.now(now.unix_ms, now.mono);
        self.floors.prune(steady_ms);
        self.expire_kept_rooms(steady_ms);
        self.expire_sanctions(steady_ms);
        self.save_moved_markers(Some(now.mono));
        self.save(out);
        if let Some(h) = self.history.as_mut() {
            h.report_busy(now.mono);
        }
        let rooms = &mut self.rooms;
        self.paced.retain(|channel| {
            rooms.get_mut(&**channel).is_some_and(|room| {
                if let Some(held) = room.prune(now) {
                    moderation::log_held_joins(channel, held, "its budget was full again");
                }
                room.is_paced()
            })
        });
        for conn in 0..self.sessions.len() {
            let Some(s) = self.sessions[conn].as_mut() else {
                continue;
            };
            let l = &self.limits;
            if s.waiting || s.unconfirmed > 0 || (s.pace.held.is_some() && s.user.is_some()) {
                // Its input is held (for the store, or for its rate), so a Pong it sent may not have been seen:
                // the silence is the server's, not the peer's.
                s.last_heard = now.mono;
                s.pinged = None;
            } else if s.user.is_none() {
                if now.mono.duration_since(s.accepted) >= l.handshake_timeout {
                    self.fail(conn, None, ErrorCode::HandshakeTimeout, "no Ident in time", out);
                }
            } else if let Some(at) = s.pinged {
                if now.mono.duration_since(at) >= l.ping_timeout {
                    self.fail(conn, None, ErrorCode::PingTimeout, "no answer to Ping", out);
                }
            } else if now.mono.duration_since(s.last_heard) >= l.idle_timeout {
                probe::ping(s, conn, now, out);
            }
        }
    }

    /// How many accepted Messages still wait for their commit before they are echoed, and
    /// records of changes for their save (under `--fsync always`).
    pub fn unconfirmed(&self) -> usize {
        self.history
            .as_ref()
            .map_or(0, |h| h.unconfirmed.len() + h.saves.len())
    }

    /// Says Bye (`shutting_down`) to every connection and closes them all.
    pub fn shutdown(&mut self, out: &mut impl Outbox) {
        for channel in &self.paced {
            if let Some(held) = self.rooms.get_mut(&**channel).and_then(|r| r.take_held_joins()) {
                moderation::log_held_joins(channel, held, "the server stopped");
            }
        }
        for conn in 0..self.sessions.len() {
            if self.sessions[conn].is_some() {
                self.bye(conn, ErrorCode::ShuttingDown, out);
            }
        }
        // State changed since the last tick goes to the store before it closes: after the
        // closes, which change it too (a kept channel's last subscriber gone sets when it
        // emptied, from which its days are counted; an unused one is not kept).
        self.save_moved_markers(None);
        self.save(out);
        if !self.unsaved.is_empty() {
            log::error!(
                "{} piece(s) of server state could not be saved at shutdown",
                self.unsaved.len()
            );
        }
    }

    fn session(&self, conn: ConnId) -> Option<&Session> {
        self.sessions.get(conn).and_then(Option::as_deref)
    }

    fn session_mut(&mut self, conn: ConnId) -> Option<&mut Session> {
        self.sessions.get_mut(conn).and_then(Option::as_deref_mut)
    }

    /// The error for a topic this server cannot act on, if any.
    fn foreign(&self, topic: Name<'_>) -> Option<(ErrorCode, String)> {
        (topic.domain() != &*self.domain).then(|| {
            (
                ErrorCode::ForeignTopic,
                format!("this server only serves topics @{}", self.domain),
            )
        })
    }

    /// [`Self::foreign`], but for the asker's own ID of another domain saying where its `what`
    /// are: "this server only serves topics @…" told a visitor nothing about its own ID
    /// (found by QA: `/block` and `history` of one's own ID on another domain's server).
    fn foreign_own(&self, conn: ConnId, topic: Name<'_>, what: &str) -> Option<(ErrorCode, String)> {
        let refusal = self.foreign(topic)?;
        let own = self.session(conn).and_then(|s| s.user.as_deref()) == Some(topic.as_str());
        Some(match own {
            true => (
                ErrorCode::ForeignTopic,
                format!("your {what} are kept by your home server, not this one"),
            ),
            false => refusal,
        })
    }

    fn send_error(
        &mut self,
        conn: ConnId,
        seq: Option<u32>,
        code: ErrorCode,
        reason: &str,
        out: &mut impl Outbox,
    ) {
        self.send_error_msg(conn, error_msg(seq, code, reason), out);
    }

    /// Sends the Error `e`, its reason clipped to what a reason may hold.
    fn send_error_msg(&mut self, conn: ConnId, e: ErrorMsg<'_>, out: &mut impl Outbox) {
        self.stats.errors += 1;
        let reason = e.reason.map(|r| clip(r, MAX_REASON));
        out.reply(conn, &Msg::Error(ErrorMsg { reason, ..e }));
    }

    fn send_bye(&mut self, conn: ConnId, code: ErrorCode, out: &mut impl Outbox) {
        out.reply(
            conn,
            &Msg::Bye(Bye {
                code: code as u16,
                reason: Some(code.label()),
            }),
        );
    }

    /// Sends Error; for a fatal code also Bye, and closes.
    fn fail(&mut self, conn: ConnId, seq: Option<u32>, code: ErrorCode, reason: &str, out: &mut impl Outbox) {
        self.fail_with(conn, error_msg(seq, code, reason), code, out);
    }

    /// [`fail`](Server::fail) with `r`, saying how long to wait where it knows.
    fn fail_refused(&mut self, conn: ConnId, seq: Option<u32>, r: Refused, out: &mut impl Outbox) {
        let e = ErrorMsg {
            retry_after: r.retry_after_ms(),
            ..error_msg(seq, r.code, &r.reason)
        };
        self.fail_with(conn, e, r.code, out);
    }

    fn fail_with(&mut self, conn: ConnId, e: ErrorMsg<'_>, code: ErrorCode, out: &mut impl Outbox) {
        log::debug!("conn {conn}: {code}: {}", e.reason.unwrap_or_default());
        self.send_error_msg(conn, e, out);
        if code.closes() {
            self.bye(conn, code, out);
        }
    }

    /// Says Bye with `code` and closes the connection: the members of its channels are told
    /// it quit with the code's label (PROTOCOL.md §4, Joins and leaves).
    fn bye(&mut self, conn: ConnId, code: ErrorCode, out: &mut impl Outbox) {
        self.send_bye(conn, code, out);
        // Others would learn that something happened to the user's account.
        let why = match code {
            ErrorCode::AuthRequired => Why::Nothing,
            _ => Why::Server(code.label()),
        };
        // A kill, a flood's close, a ban: not a dropped network that the join rate forgives.
        let may_return = matches!(
            code,
            ErrorCode::PingTimeout | ErrorCode::SlowConsumer | ErrorCode::ShuttingDown
        );
        self.close(conn, why, may_return, out);
    }

    /// The shell cut `conn` off (a slow consumer): as [`disconnect`](Server::disconnect),
    /// its channels told it quit with `code`'s label.
    pub fn detached(&mut self, conn: ConnId, code: ErrorCode) {
        self.disconnect_why(conn, Why::Server(code.label()), true);
    }

    /// Closes a connection and forgets it at once: while the shell writes its last frames it
    /// is in no channel and no user's connections, so nothing more is accepted for it. `why`
    /// is what its channels are told it quit with.
    fn close(&mut self, conn: ConnId, why: Why<'_>, may_return: bool, out: &mut impl Outbox) {
        out.close(conn);
        self.disconnect_why(conn, why, may_return);
    }
}

/// The network a connection counts against for `max-per-subnet`: an IPv4 /24, an IPv6 /48 (a
/// site's usual allocation).
fn subnet_key(addr: IpAddr) -> IpAddr {
    match limit_key(addr) {
        IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & 0xffff_ff00).into()),
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 80) - 1)).into()),
    }
}

/// The address a connection counts against for `max-per-address`. An IPv6 host usually has a
/// whole /64 to pick addresses from, so IPv6 connections count per /64; an IPv4-mapped address
/// counts as the IPv4 address it is.
fn limit_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
        v4 => v4,
    }
}

/// The Error of `code` with `reason`, answering the request `seq`.
fn error_msg(seq: Option<u32>, code: ErrorCode, reason: &str) -> ErrorMsg<'_> {
    ErrorMsg {
        seq,
        code: code as u16,
        reason: Some(reason),
        server: None,
        topic: None,
        retry_after: None,
    }
}

#[cfg(test)]
mod tests;
