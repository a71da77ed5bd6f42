//! The mio shell around the server core: one poll loop, the listeners, and a slab of
//! connections with fixed buffers. It moves bytes between sockets and [`Server`]; every decision
//! about what those bytes mean is the core's.

mod batch;
mod conn;
pub mod heap;
mod linger;
mod listen;
pub mod metrics;
mod pagebuf;
mod read;
mod reload;
mod report;
mod sockopt;
pub mod tls;
mod wire;

pub use listen::Transport;

use crate::proto::MAX_FRAME;
use crate::server::{ConnId, Limits, Now, Server};
use crate::store::accounts::{Accounts, AccountsDone};
use crate::store::worker::{Start, Store};
use crate::store::{Done, StoreError};
use conn::{CLOSE_GRACE, Conn};
use listen::{Listener, TlsSetup};
use mio::{Events, Poll, Token};
use slab::Slab;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tls::PlainPolicy;
use wire::{Wire, mark_dirty, mark_unread};

/// How often the timers run.
const TICK: Duration = Duration::from_secs(1);
/// How long a connection must be idle before its buffers' pages are given back.
const RELEASE_AFTER: Duration = Duration::from_secs(2);
/// The token of the waker that interrupts the poll when a stop is asked for, or when the
/// store's threads have something for the loop.
const WAKER: Token = Token(usize::MAX);
/// Tokens at and above this (and below the waker's) are listeners.
const LISTENER_BASE: usize = usize::MAX / 2;
/// Reads made at a close for what the peer sent last.
const CLOSE_READS: usize = 4;
/// How often lingering sockets are looked at while the server stops.
const LINGER_LOOK: Duration = Duration::from_millis(100);

/// What a reload applies without dropping connections.
#[derive(Debug, Clone)]
pub struct Reconfig {
    /// Limits and timers.
    pub limits: Limits,
    /// Admins, server bans, message of the day.
    pub policy: crate::server::AdminPolicy,
    /// History's retention rules.
    pub retention: crate::store::Retention,
    /// Who may take an unregistered ID, and whether clients may register (`auth`,
    /// `registration`): closing the doors during a raid needs no restart.
    pub auth: crate::server::AuthConfig,
}

/// How a run of the server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Stopped {
    /// Events accepted but not stored: the store was failing (a full disk) when the server
    /// stopped, and its last try failed too. Each is logged with its position.
    pub unstored: u64,
    /// The store's file was removed or replaced while the server ran: what it wrote there
    /// before it noticed (at most a few seconds) is lost.
    pub store_gone: bool,
}

/// What the shell counts beyond the core's [`Stats`](crate::server::Stats).
#[derive(Debug, Default, Clone, Copy)]
pub struct ShellStats {
    /// Connections dropped as slow consumers.
    pub slow_consumers: u64,
}

/// The running server: listeners, connections and the core.
pub struct Shell {
    poll: Poll,
    listeners: Vec<Listener>,
    tls: Option<TlsSetup>,
    /// Which peers may use the plain listeners.
    plain: PlainPolicy,
    /// Set (by a SIGHUP handler) when the certificate files and the configuration should be
    /// read again.
    reload: Option<&'static AtomicBool>,
    /// Reads the certificate files and the configuration again, off the loop.
    reloader: Option<reload::Reloader>,
    conns: Slab<Conn>,
    server: Server,
    /// Where the metrics endpoint reads the counters, written each tick, if it serves.
    metrics: Option<(metrics::Latest, Instant)>,
    dirty: Vec<ConnId>,
    /// Connections that used their read budget and may have more input.
    unread: Vec<ConnId>,
    detached: Vec<ConnId>,
    scratch: Box<[u8]>,
    /// Where every connection's input is read first (see [`Shell::read_shared`]).
    rshared: Box<[u8]>,
    /// Events waiting to be pushed to their audience (see [`batch`]).
    batch: batch::Batch,
    /// An accept failed for want of resources: the listeners are edge-triggered, so try again
    /// on the next tick rather than waiting for the next incoming connection.
    retry_accept: bool,
    /// Accepted connections that could not be set up, for the log.
    setup_failures: listen::Throttled,
    /// Accepts that failed (out of descriptors), for the log.
    accept_failures: listen::Throttled,
    stats: ShellStats,
    /// The counts at the last hourly line.
    report: report::Report,
    waker: Arc<mio::Waker>,
    store: Option<Store>,
    /// Queries the store's queue refused: answered with an error on the next turn.
    refused: Vec<u64>,
    accounts: Option<Accounts>,
    verifier: Option<crate::federation::Verifier>,
    /// Closed sockets whose peer still sends, kept until it has what the server sent.
    lingering: linger::Lingerers,
}

/// Raises this process's soft limit on open files to its hard limit, since every connection is a
/// descriptor; returns the limit now in force (the soft one as it was, if it cannot be raised).
/// Fails only if the limit cannot be read.
pub fn raise_fd_limit() -> io::Result<u64> {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed, which is initialised.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return Err(io::Error::last_os_error());
        }
        let soft = r.rlim_cur;
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            // Refused (a sandbox's seccomp, say): the limit in force is still known, and the
            // connections are derived from it, not said to be unknown (found in review).
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                log::debug!("cannot raise the open-file limit: {}", io::Error::last_os_error());
                return Ok(soft);
            }
        }
        Ok(r.rlim_cur)
    }
}

fn now() -> Now {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Now {
        mono: Instant::now(),
        unix_ms,
    }
}

impl Shell {
    /// Binds every address and builds the core. Fails if any address cannot be bound.
    pub fn bind(addrs: &[SocketAddr], domain: &str, limits: Limits) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let mut shell = Shell {
            poll,
            listeners: Vec::new(),
            tls: None,
            plain: PlainPolicy::Any,
            reload: None,
            reloader: None,
            conns: Slab::new(),
            server: Server::new(domain, limits),
            metrics: None,
            dirty: Vec::new(),
            unread: Vec::new(),
            detached: Vec::new(),
            scratch: vec![0u8; MAX_FRAME].into_boxed_slice(),
            rshared: vec![0u8; conn::BUF].into_boxed_slice(),
            batch: batch::Batch::default(),
            retry_accept: false,
            setup_failures: Default::default(),
            accept_failures: Default::default(),
            stats: ShellStats::default(),
            report: report::Report::new(Instant::now()),
            waker,
            store: None,
            refused: Vec::new(),
            accounts: None,
            verifier: None,
            lingering: Default::default(),
        };
        for addr in addrs {
            shell.listen(*addr, Transport::Plain)?;
        }
        Ok(shell)
    }

    /// Serves the metrics endpoint on `addr` ([`metrics`]), from the counters as of each tick;
    /// the address bound.
    pub fn serve_metrics(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let latest = metrics::Latest::default();
        let bound = metrics::serve(addr, latest.clone())?;
        self.metrics = Some((latest, Instant::now()));
        Ok(bound)
    }

    /// Applies a policy (admins, bans, motd) to the core: at start and on reload.
    pub fn set_policy(&mut self, policy: crate::server::AdminPolicy) {
        let t = now();
        let (server, mut wire) = self.wire(t.mono);
        server.set_policy(policy, &t, &mut wire);
        wire.settle(server);
    }

    /// The waker that interrupts [`run`](Shell::run)'s wait, so a stop flag set from a signal
    /// handler, or a result from the store's threads, is seen at once. Its `wake` is one
    /// `write` to an eventfd.
    pub fn waker(&self) -> Arc<mio::Waker> {
        self.waker.clone()
    }

    /// Keeps history in `store` (opened with this shell's [`waker`](Shell::waker)).
    pub fn keep_history(&mut self, store: Store, config: &crate::server::HistoryConfig, start: Start) {
        self.server.keep_history(config, start.last_time, start.recent);
        self.server.times_ahead(start.ahead);
        self.server.restore(start.state);
        self.store = Some(store);
    }

    /// Keeps accounts through `accounts` (opened with this shell's [`waker`](Shell::waker)),
    /// `names` being the registered IDs, with when each was created (Unix ms).
    pub fn keep_accounts(&mut self, accounts: Accounts, names: crate::store::accounts::AccountList) {
        self.accounts = Some(accounts);
        let (server, mut wire) = self.wire(Instant::now());
        server.set_accounts(names, &mut wire);
        wire.settle(server);
    }

    /// Admits other domains' users through `verifier` (started with this shell's
    /// [`waker`](Shell::waker)), as far as `foreign` allows.
    pub fn admit_foreign(&mut self, verifier: crate::federation::Verifier, foreign: crate::server::Foreign) {
        self.server.set_foreign(foreign);
        self.verifier = Some(verifier);
    }

    /// The core, to configure before [`run`](Shell::run).
    pub fn server_mut(&mut self) -> &mut Server {
        &mut self.server
    }

    /// The addresses actually bound (with the real port when 0 was asked for), plain ones
    /// first, in the order they were given.
    pub fn local_addrs(&self) -> Vec<(SocketAddr, Transport)> {
        self.listeners
            .iter()
            .filter_map(|l| Some((l.sock.local_addr().ok()?, l.transport)))
            .collect()
    }

    /// Serves until `stop` becomes true, then says Bye to everyone, gives them a short grace
    /// period to receive it, closes the store, and returns how it ended.
    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<Stopped> {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        self.server.opened_at(Instant::now());
        while !stop.load(Ordering::Relaxed) {
            let wake = self.server.next_wake().map_or(next_tick, |w| w.min(next_tick));
            let idle = self.unread.is_empty() && self.refused.is_empty() && !self.server.news_waiting();
            let timeout = match idle {
                true => wake.saturating_duration_since(Instant::now()),
                false => Duration::ZERO,
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Some(flag) = self.reload
                && flag.swap(false, Ordering::Relaxed)
                && let Some(r) = &mut self.reloader
                && let Some(busy) = r.ask()
            {
                log::warn!(
                    "reload: the one in progress has been reading its files for {} s (on a hung \
                     mount?); this SIGHUP's reload runs after it, and none will if it never ends: \
                     restart scalard then",
                    busy.as_secs()
                );
            }
            if let Some(done) = self.reloader.as_mut().and_then(|r| r.done()) {
                self.reloaded(done);
            }
            let t = now();
            let (server, mut wire) = self.wire(t.mono);
            server.wake(&t, &mut wire);
            wire.settle(server);
            self.store_done(t.mono);
            self.accounts_done(&t);
            self.vouches_done(&t);
            for key in std::mem::take(&mut self.unread) {
                // The flag, not the list, says who is owed a read: a connection closed since
                // it was listed may have left its key to a new one, which is owed nothing (and
                // listed again if it is, which must not give it two reads).
                if self
                    .conns
                    .get_mut(key)
                    .is_some_and(|c| std::mem::take(&mut c.unread))
                {
                    self.readable(key, &t);
                }
            }
            for ev in events.iter() {
                match ev.token().0 {
                    _ if ev.token() == WAKER => {}
                    i if i >= LISTENER_BASE => self.accept(i - LISTENER_BASE, &t),
                    i if i >= linger::LINGER_BASE => {
                        self.lingering
                            .readable(i, self.poll.registry(), &mut self.rshared)
                    }
                    key => {
                        // One that used its budget this turn is read again next turn anyway;
                        // reading it now too would give it a second budget.
                        let queued = self.conns.get(key).is_some_and(|c| c.unread);
                        if (ev.is_readable() || ev.is_read_closed() || ev.is_error()) && !queued {
                            self.readable(key, &t);
                        }
                        if ev.is_writable() {
                            self.mark_dirty(key);
                        }
                    }
                }
            }
            self.flush_dirty(t.mono);
            if t.mono >= next_tick {
                self.tick(&t);
                next_tick = t.mono + TICK;
            }
        }
        self.shut_down()
    }

    fn wire(&mut self, now: Instant) -> (&mut Server, Wire<'_>) {
        let max_queue = self.server.limits().max_queue;
        let wire = Wire {
            conns: &mut self.conns,
            dirty: &mut self.dirty,
            stats: &mut self.stats,
            detached: &mut self.detached,
            scratch: &mut self.scratch,
            batch: &mut self.batch,
            max_queue,
            now,
            store: self.store.as_ref(),
            accounts: self.accounts.as_ref(),
            verifier: self.verifier.as_ref(),
            unread: &mut self.unread,
            refused: &mut self.refused,
        };
        (&mut self.server, wire)
    }

    /// Hands what the store's threads finished to the core.
    fn store_done(&mut self, now: Instant) {
        loop {
            let done = match (self.refused.pop(), &self.store) {
                (Some(token), _) => Done::Answer(token, Err(StoreError::Io("read queue full".into()))),
                (None, Some(store)) => match store.try_done() {
                    Some(d) => d,
                    None => return,
                },
                (None, None) => return,
            };
            let (server, mut wire) = self.wire(now);
            server.store_done(done, &mut wire);
            wire.settle(server);
        }
    }

    /// Hands the home servers' answers about tokens to the core.
    fn vouches_done(&mut self, t: &Now) {
        while let Some(a) = self
            .verifier
            .as_ref()
            .and_then(crate::federation::Verifier::try_done)
        {
            let (server, mut wire) = self.wire(t.mono);
            server.vouched(a.conn, a.ticket, a.vouched, t, &mut wire);
            wire.settle(server);
        }
    }

    /// Hands the accounts thread's verdicts and name lists to the core.
    fn accounts_done(&mut self, t: &Now) {
        while let Some(done) = self.accounts.as_ref().and_then(Accounts::try_done) {
            let (server, mut wire) = self.wire(t.mono);
            match done {
                AccountsDone::Verdict(checked) => server.verdict(checked, t, &mut wire),
                AccountsDone::Names { accounts, deleted } => {
                    server.accounts_changed(accounts, &deleted, &mut wire)
                }
            }
            wire.settle(server);
        }
    }

    fn mark_dirty(&mut self, key: ConnId) {
        mark_dirty(&mut self.conns, &mut self.dirty, key);
    }

    /// Writes pending output of every connection that got some, and closes the ones that are
    /// done.
    fn flush_dirty(&mut self, now: Instant) {
        for key in self.detached.drain(..) {
            self.server.disconnect(key);
        }
        let max_queue = self.server.limits().max_queue;
        let mut dirty = std::mem::take(&mut self.dirty);
        for key in dirty.drain(..) {
            let Some(c) = self.conns.get_mut(key) else {
                continue;
            };
            c.dirty = false;
            let before = c.pending();
            let result = c.flush(now);
            if result.is_err() || (c.closing.is_some() && c.flushed()) {
                self.drop_conn(key);
            } else if c.paused && c.drained(max_queue) {
                c.paused = false;
                mark_unread(&mut self.conns, &mut self.unread, key);
            } else if c.pending() < before && (c.paused || (c.pending() > 0 && self.server.pinged(key))) {
                // Its requests (a Pong among them) wait unread while it takes its output, or
                // the core's Ping may still wait behind what is left of it (a client that
                // sends nothing itself: found in review): that it takes some is what the
                // core would otherwise only learn from a frame. Once all is written, the Ping
                // is out and its time runs as any's.
                self.server.heard(key, now);
            }
        }
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    fn tick(&mut self, t: &Now) {
        let (core, connected) = (self.server.stats(), self.server.connections());
        if let Some(line) = self.report.due(t.mono, core, self.stats, connected) {
            log::info!("{line}");
        }
        if let Some((latest, started)) = &self.metrics {
            let now = metrics::Snapshot {
                core,
                slow_consumers: self.stats.slow_consumers,
                connected,
                channels: self.server.channel_count(),
                store: self.server.store_stats(),
                uptime_s: t.mono.saturating_duration_since(*started).as_secs(),
            };
            *latest.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, t.mono));
        }
        if std::mem::take(&mut self.retry_accept) {
            for i in 0..self.listeners.len() {
                self.accept(i, t);
            }
        }
        let flood_timeout = self.server.limits().flood_timeout;
        let flooding: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.full_since
                    .is_some_and(|s| t.mono.duration_since(s) >= flood_timeout)
            })
            .map(|(key, _)| key)
            // Only while still held for its rate (not merely waiting for the store since).
            .filter(|&key| self.server.throttled(key))
            .collect();
        let (server, mut wire) = self.wire(t.mono);
        for key in flooding {
            server.flooding(key, &mut wire);
        }
        server.tick(t, &mut wire);
        wire.settle(server);
        let late: Vec<ConnId> = self
            .conns
            .iter_mut()
            .filter_map(|(key, c)| {
                c.check_unsent(t.mono);
                match c.closing.as_ref().map(|c| c.deadline) {
                    Some(deadline) if t.mono >= deadline => return Some(key),
                    // Try its socket again: a peer that reads slowly frees room in the kernel's
                    // buffer long before the socket is reported writable again.
                    Some(_) if !c.dirty => {
                        c.dirty = true;
                        self.dirty.push(key);
                    }
                    _ => {}
                }
                if t.mono.duration_since(c.last_io) >= RELEASE_AFTER {
                    c.release_if_idle();
                }
                None
            })
            .collect();
        for key in late {
            log::debug!("conn {key}: closing deadline passed");
            self.drop_late(key, t.mono);
        }
        self.flush_dirty(t.mono);
        self.lingering
            .tick(self.poll.registry(), &mut self.rshared, t.mono);
    }

    /// Waits (for the close grace at most) for the commit of Messages accepted but not yet
    /// echoed (`--fsync always`), so that each is echoed before the Bye: stored but never
    /// echoed, a Message would be sent again by a client that reconnects, and stored twice.
    /// Likewise the records of changes waiting for their save (a block, a server ban).
    fn confirm_before_bye(&mut self) -> io::Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        store.flush();
        let deadline = Instant::now() + CLOSE_GRACE;
        let mut events = Events::with_capacity(1024);
        while self.server.unconfirmed() > 0 && Instant::now() < deadline {
            // The store's thread wakes the poll when it commits.
            self.wait_while_stopping(&mut events, deadline)?;
            let now = Instant::now();
            self.store_done(now);
            self.flush_dirty(now);
        }
        match self.server.unconfirmed() {
            0 => {}
            n => {
                log::error!("shutting down with {n} accepted messages or changes not confirmed by the store")
            }
        }
        Ok(())
    }

    /// Waits, while stopping, for readiness or a wake (until `deadline` at most), and marks every
    /// connection that had an event to be flushed: input is no longer read, and a writable edge
    /// is not reported twice.
    fn wait_while_stopping(&mut self, events: &mut Events, deadline: Instant) -> io::Result<()> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        match self.poll.poll(events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            self.mark_dirty(ev.token().0);
        }
        Ok(())
    }

    /// Closes a connection whose peer did not take its last frames in time, after handing the
    /// kernel what it can still use of them (see [`Conn::hand_rest_to_kernel`]).
    fn drop_late(&mut self, key: ConnId, now: Instant) {
        if let Some(c) = self.conns.get_mut(key) {
            c.hand_rest_to_kernel(now);
        }
        self.drop_conn(key);
    }

    /// Closes and forgets a connection.
    fn drop_conn(&mut self, key: ConnId) {
        if !self.conns.contains(key) {
            return;
        }
        let mut c = self.conns.remove(key);
        // Read what the peer sent last, so closing sends FIN rather than RST and the peer gets
        // our final frames. A few reads at most: a peer that keeps sending must not hold up the
        // loop; its socket lingers instead (see `linger`).
        let _ = c.sock.shutdown(std::net::Shutdown::Write);
        let left = linger::drain(&mut c.sock, &mut self.rshared, CLOSE_READS) == linger::Drained::More;
        let _ = self.poll.registry().deregister(&mut c.sock);
        self.server.disconnect(key);
        let peer = c.peer;
        let registry = self.poll.registry();
        match self.lingering.close(c.sock, left, registry, Instant::now()) {
            true => log::debug!("conn {key}: closed {peer}; lingering for its peer's input"),
            false => log::debug!("conn {key}: closed {peer}"),
        }
    }

    fn shut_down(&mut self) -> io::Result<Stopped> {
        let n = self.conns.len();
        let s = if n == 1 { "" } else { "s" };
        log::info!("shutting down: saying Bye to {n} connection{s}");
        self.listeners.clear();
        self.confirm_before_bye()?;
        let t = now();
        let (server, mut wire) = self.wire(t.mono);
        server.shutdown(&mut wire);
        wire.settle(server);
        self.flush_dirty(t.mono);
        let deadline = Instant::now() + CLOSE_GRACE;
        let mut events = Events::with_capacity(1024);
        while !self.conns.is_empty() && Instant::now() < deadline {
            self.wait_while_stopping(&mut events, deadline)?;
            self.flush_dirty(Instant::now());
        }
        let left: Vec<ConnId> = self.conns.iter().map(|(k, _)| k).collect();
        for key in left {
            self.drop_late(key, Instant::now());
        }
        // Those whose peers still send get a last grace to take their Bye (see `linger`).
        let deadline = Instant::now() + CLOSE_GRACE;
        while self.lingering.len() > 0 && Instant::now() < deadline {
            self.wait_while_stopping(&mut events, deadline.min(Instant::now() + LINGER_LOOK))?;
            self.lingering
                .tick(self.poll.registry(), &mut self.rshared, Instant::now());
        }
        self.lingering.close_all(self.poll.registry());
        // Commits what the writer still holds before the process exits.
        let closed = self.store.take().map(Store::close).unwrap_or_default();
        log::info!("stopped: {}", report::counts(self.server.stats(), self.stats));
        Ok(Stopped {
            unstored: closed.lost,
            store_gone: closed.file_gone,
        })
    }
}
