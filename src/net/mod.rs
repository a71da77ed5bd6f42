//! The mio shell around the server core: one poll loop, the listeners, and a slab of
//! connections with fixed buffers. It moves bytes between sockets and [`Server`]; every decision
//! about what those bytes mean is the core's.

mod batch;
mod conn;
mod pagebuf;
mod sockopt;
pub mod tls;
mod wire;

use crate::proto::{MAX_FRAME, Msg, Status, decode_frame};
use crate::server::{ConnId, Limits, Now, Server};
use crate::store::accounts::{Accounts, AccountsDone};
use crate::store::worker::{Start, Store};
use crate::store::{Done, StoreError};
use conn::{CLOSE_GRACE, Conn, Input};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tls::{PlainPolicy, Tls, TlsFiles};
use wire::{Wire, mark_dirty, mark_unread};

/// How often the timers run.
const TICK: Duration = Duration::from_secs(1);
/// How long a connection must be idle before its buffers' pages are given back.
const RELEASE_AFTER: Duration = Duration::from_secs(2);
/// Reads per readiness event before other connections get a turn.
const READ_BUDGET: usize = 8;
/// Frames handed to the core per connection per turn: bounds the work one client's pipelined
/// requests (a burst of publishes to a big channel, say) can make everyone else wait for.
const FRAME_BUDGET: usize = 256;
/// The token of the waker that interrupts the poll when a stop is asked for, or when the
/// store's threads have something for the loop.
const WAKER: Token = Token(usize::MAX);
/// Tokens at and above this (and below the waker's) are listeners.
const LISTENER_BASE: usize = usize::MAX / 2;

/// How far [`Shell::process`] got with a connection's buffered frames.
enum Processed {
    /// Every whole frame was handed over.
    All,
    /// The per-turn frame budget ran out.
    Budget,
    /// The core waits for the store on the connection's behalf.
    Waiting,
    /// Its output is backed up: its requests wait until the socket has taken most of it.
    Paused,
}

/// What a reload applies without dropping connections.
#[derive(Debug, Clone)]
pub struct Reconfig {
    /// Limits and timers.
    pub limits: Limits,
    /// Admins, server bans, message of the day.
    pub policy: crate::server::AdminPolicy,
}

/// What the shell counts beyond the core's [`Stats`](crate::server::Stats).
#[derive(Debug, Default, Clone, Copy)]
pub struct ShellStats {
    /// Connections dropped as slow consumers.
    pub slow_consumers: u64,
}

/// What a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Scalar frames straight over TCP.
    Plain,
    /// Scalar frames inside TLS.
    Tls,
}

/// A listening socket and what it speaks.
struct Listener {
    sock: TcpListener,
    transport: Transport,
}

/// The TLS side of the shell: where the certificate comes from, and the configuration new
/// connections start with.
struct TlsSetup {
    files: TlsFiles,
    /// Replaced on reload; connections already open keep the one they started with (rustls
    /// holds its own reference), so a reload drops none of them.
    config: Arc<rustls::ServerConfig>,
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
    /// Reads the configuration again: `None` if it cannot (the one in force stays).
    reconfigure: Option<Box<dyn FnMut() -> Option<Reconfig>>>,
    conns: Slab<Conn>,
    server: Server,
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
    stats: ShellStats,
    waker: Arc<mio::Waker>,
    store: Option<Store>,
    /// Queries the store's queue refused: answered with an error on the next turn.
    refused: Vec<u64>,
    accounts: Option<Accounts>,
    verifier: Option<crate::federation::Verifier>,
}

/// Raises this process's soft limit on open files to its hard limit, since every connection is a
/// descriptor; returns the limit now in force.
pub fn raise_fd_limit() -> io::Result<u64> {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed, which is initialised.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return Err(io::Error::last_os_error());
        }
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                return Err(io::Error::last_os_error());
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
            reconfigure: None,
            conns: Slab::new(),
            server: Server::new(domain, limits),
            dirty: Vec::new(),
            unread: Vec::new(),
            detached: Vec::new(),
            scratch: vec![0u8; MAX_FRAME].into_boxed_slice(),
            rshared: vec![0u8; conn::BUF].into_boxed_slice(),
            batch: batch::Batch::default(),
            retry_accept: false,
            stats: ShellStats::default(),
            waker,
            store: None,
            refused: Vec::new(),
            accounts: None,
            verifier: None,
        };
        for addr in addrs {
            shell.listen(*addr, Transport::Plain)?;
        }
        Ok(shell)
    }

    fn listen(&mut self, addr: SocketAddr, transport: Transport) -> io::Result<()> {
        let mut sock = TcpListener::bind(addr)?;
        let token = Token(LISTENER_BASE + self.listeners.len());
        self.poll
            .registry()
            .register(&mut sock, token, Interest::READABLE)?;
        self.listeners.push(Listener { sock, transport });
        Ok(())
    }

    /// Also listens for TLS on `addrs`, serving the certificate in `files` (already loaded
    /// into `config` by the caller, so that a bad file is reported before anything is bound).
    pub fn listen_tls(
        &mut self,
        addrs: &[SocketAddr],
        files: TlsFiles,
        config: Arc<rustls::ServerConfig>,
    ) -> io::Result<()> {
        self.tls = Some(TlsSetup { files, config });
        for addr in addrs {
            self.listen(*addr, Transport::Tls)?;
        }
        Ok(())
    }

    /// Sets which peers may use the plain listeners.
    pub fn set_plain_policy(&mut self, policy: PlainPolicy) {
        self.plain = policy;
    }

    /// Reads the certificate files again whenever `flag` is found set (then clears it), and
    /// the configuration through `reconfigure`: a signal handler sets it and wakes the loop with
    /// [`waker`](Shell::waker). Nothing is dropped: connections stay, with the new limits and
    /// policy applied from then on.
    pub fn reload_on(
        &mut self,
        flag: &'static AtomicBool,
        reconfigure: Box<dyn FnMut() -> Option<Reconfig>>,
    ) {
        self.reload = Some(flag);
        self.reconfigure = Some(reconfigure);
    }

    /// Applies a policy (admins, bans, motd) to the core: at start and on reload.
    pub fn set_policy(&mut self, policy: crate::server::AdminPolicy) {
        let t = now();
        let (server, mut wire) = self.wire(t.mono);
        server.set_policy(policy, &t, &mut wire);
        wire.settle(server);
    }

    fn reload(&mut self) {
        self.reload_tls();
        let Some(r) = self.reconfigure.as_mut().and_then(|f| f()) else {
            return;
        };
        self.server.set_limits(r.limits);
        self.set_policy(r.policy);
        log::info!("configuration reloaded");
    }

    /// Swaps in a freshly loaded certificate for new TLS connections; on failure keeps the one
    /// in use, so a half-written file during renewal does no harm.
    fn reload_tls(&mut self) {
        let Some(setup) = self.tls.as_mut() else {
            log::debug!("no TLS listener: no certificate to reload");
            return;
        };
        match setup.files.load() {
            Ok(config) => {
                setup.config = config;
                log::info!("TLS certificate reloaded from {}", setup.files.cert.display());
            }
            Err(e) => log::error!("TLS reload failed, keeping the certificate in use: {e}"),
        }
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
        self.server.restore(start.state);
        self.store = Some(store);
    }

    /// Keeps accounts through `accounts` (opened with this shell's [`waker`](Shell::waker)),
    /// `names` being the registered IDs.
    pub fn keep_accounts(&mut self, accounts: Accounts, names: Vec<Box<str>>) {
        self.server.set_accounts(names);
        self.accounts = Some(accounts);
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
    /// period to receive it, and returns.
    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        while !stop.load(Ordering::Relaxed) {
            let wake = self.server.next_wake().map_or(next_tick, |w| w.min(next_tick));
            let timeout = match self.unread.is_empty() && self.refused.is_empty() {
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
            {
                self.reload();
            }
            let t = now();
            let (server, mut wire) = self.wire(t.mono);
            server.wake(&t, &mut wire);
            wire.settle(server);
            self.store_done(t.mono);
            self.accounts_done(&t);
            self.vouches_done(&t);
            for key in std::mem::take(&mut self.unread) {
                if let Some(c) = self.conns.get_mut(key) {
                    c.unread = false;
                }
                self.readable(key, &t);
            }
            for ev in events.iter() {
                match ev.token().0 {
                    _ if ev.token() == WAKER => {}
                    i if i >= LISTENER_BASE => self.accept(i - LISTENER_BASE, &t),
                    key => {
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
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
                AccountsDone::Verdict {
                    conn,
                    ticket,
                    verdict,
                } => server.verified(conn, ticket, verdict, t, &mut wire),
                AccountsDone::Names(names) => server.accounts_changed(names, &mut wire),
            }
            wire.settle(server);
        }
    }

    fn accept(&mut self, idx: usize, t: &Now) {
        loop {
            let Some(listener) = self.listeners.get(idx) else {
                return;
            };
            let transport = listener.transport;
            let (mut sock, peer) = match listener.sock.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The peer gave up while queued in the backlog: take the next one.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // Typically EMFILE: the process is out of file descriptors (see ulimit -n in
                    // docs/OPERATIONS.md). The pending connection stays in the backlog.
                    log::error!("accept failed: {e}");
                    self.retry_accept = true;
                    return;
                }
            };
            let tls = match (transport, &self.tls) {
                (Transport::Plain, _) if !self.plain.allows(peer.ip()) => {
                    // Closed before the core hears of it: no Scalar frame is sent, since the
                    // point is that nothing travels in clear to or from a remote peer.
                    log::info!("{peer}: plain TCP from a non-loopback address refused (plain = loopback)");
                    continue;
                }
                (Transport::Plain, _) => None,
                (Transport::Tls, Some(setup)) => match Tls::new(setup.config.clone()) {
                    Ok(tls) => Some(tls),
                    Err(e) => {
                        log::error!("{peer}: cannot start TLS: {e}");
                        continue;
                    }
                },
                // A TLS listener is only bound together with its setup.
                (Transport::Tls, None) => continue,
            };
            if let Err(e) = sock.set_nodelay(true) {
                log::debug!("{peer}: set_nodelay: {e}");
            }
            let send_buffer = self.server.limits().send_buffer;
            if send_buffer > 0
                && let Err(e) = sockopt::set_send_buffer(&sock, send_buffer)
            {
                log::debug!("{peer}: SO_SNDBUF: {e}");
            }
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            let registered =
                self.poll
                    .registry()
                    .register(&mut sock, Token(key), Interest::READABLE | Interest::WRITABLE);
            match registered.and_then(|()| Conn::new(sock, peer, t.mono, tls)) {
                Ok(conn) => {
                    entry.insert(conn);
                }
                Err(e) => {
                    log::error!("{peer}: cannot set up connection: {e}");
                    continue;
                }
            }
            let (server, mut wire) = self.wire(t.mono);
            if server.accept(key, peer.ip(), t, &mut wire) {
                if transport == Transport::Tls {
                    // Passwords may cross it whatever the peer's address (PROTOCOL.md §1).
                    server.set_secure(key);
                }
                log::debug!("conn {key}: accepted {peer}");
            }
            wire.settle(server);
        }
    }

    /// Reads what the socket has, handing each whole frame to the core. After `READ_BUDGET`
    /// reads the connection goes to the back of the line, so one busy client cannot starve
    /// the others.
    fn readable(&mut self, key: ConnId, t: &Now) {
        let mut frames = FRAME_BUDGET;
        for turn in 0..=READ_BUDGET {
            // Whole frames left from an earlier turn go first; a read only follows once the
            // buffer holds at most a partial frame, so it always has room.
            let processed = self.process(key, t, &mut frames);
            let throttled = self.server.throttled(key);
            let Some(c) = self.conns.get_mut(key) else { return };
            match processed {
                // Held for its rate: read ahead into the buffer while it has room, to see
                // whether the peer keeps sending (see `tick`).
                Processed::Waiting if throttled => {
                    if c.read_full() {
                        c.full_since.get_or_insert(t.mono);
                        return;
                    }
                }
                // The socket is read again once the core resumes the connection.
                Processed::Waiting => return,
                // Not held for its rate while paused: a hold after it starts counting afresh.
                Processed::Paused => {
                    c.full_since = None;
                    return;
                }
                Processed::Budget => break,
                Processed::All if turn == READ_BUDGET => break,
                Processed::All => {}
            }
            if !throttled {
                c.full_since = None;
            }
            let discarding = c.closing.is_some();
            let input = match c.rlen == 0 && !throttled && !discarding {
                true => self.read_shared(key, t, &mut frames),
                false => c.read(t.mono),
            };
            let Some(c) = self.conns.get_mut(key) else { return };
            if c.tls.is_some() {
                // A TLS read may have produced a handshake reply or finished the handshake,
                // which releases output held back until then.
                self.mark_dirty(key);
            }
            let Some(c) = self.conns.get_mut(key) else { return };
            match input {
                Input::WouldBlock => {
                    // The peer stopped short of filling the buffer: it is not flooding.
                    c.full_since = None;
                    return;
                }
                Input::Failed => return self.drop_conn(key),
                // A peer that half-closes (a script that sends and then shuts down its side)
                // still gets the replies to what it sent: close once they are written.
                // The core still owes it an answer or an echo: it comes back here (resumed)
                // once that is written, and closes then.
                Input::Eof if self.server.busy(key) => return,
                Input::Eof => {
                    c.start_closing(t.mono);
                    self.server.disconnect(key);
                    return self.mark_dirty(key);
                }
                Input::Broken => {
                    // Only rustls's alert goes out; then the connection closes.
                    c.discard_output();
                    c.start_closing(t.mono);
                    self.server.disconnect(key);
                    return self.mark_dirty(key);
                }
                Input::Data if discarding => c.rlen = 0,
                Input::Data => {}
            }
        }
        mark_unread(&mut self.conns, &mut self.unread, key);
    }

    /// Hands the frames in the connection's own buffer to the core, at most `budget` of them,
    /// and none while the core waits for the store on this connection's behalf.
    fn process(&mut self, key: ConnId, t: &Now, budget: &mut usize) -> Processed {
        if self.server.waiting(key) {
            return Processed::Waiting;
        }
        if *budget == 0 {
            return Processed::Budget;
        }
        let Some(c) = self.conns.get_mut(key) else {
            return Processed::All;
        };
        if c.rlen == 0 {
            return Processed::All;
        }
        let Some(mut buf) = c.rbuf.take() else {
            return Processed::All;
        };
        let len = c.rlen;
        let (used, processed) = self.hand_over(key, t, budget, buf.get(..len).unwrap_or_default());
        buf.copy_within(used..len, 0);
        if let Some(c) = self.conns.get_mut(key) {
            c.rlen = len - used;
            c.rbuf = Some(buf);
        }
        processed
    }

    /// Reads into the shell's one shared buffer and hands the whole frames there straight to the
    /// core; only what is left (a partial frame, or frames the core cannot take yet) is copied
    /// into the connection's own buffer. So a client whose requests arrive whole never makes its
    /// read buffer's pages resident.
    fn read_shared(&mut self, key: ConnId, t: &Now, budget: &mut usize) -> Input {
        let Some(c) = self.conns.get_mut(key) else {
            return Input::WouldBlock;
        };
        let mut shared = std::mem::take(&mut self.rshared);
        let (input, n) = c.read_into(&mut shared, t.mono);
        let read = shared.get(..n).unwrap_or_default();
        let used = match n {
            0 => 0,
            _ => self.hand_over(key, t, budget, read).0,
        };
        if let Some(c) = self.conns.get_mut(key) {
            c.keep(read.get(used..).unwrap_or_default());
        }
        self.rshared = shared;
        input
    }

    /// Hands the whole frames at the start of `bytes` to the core while `budget` lasts, the core
    /// takes them and the connection's output is not backed up. Returns how many bytes it took.
    fn hand_over(&mut self, key: ConnId, t: &Now, budget: &mut usize, bytes: &[u8]) -> (usize, Processed) {
        let len = bytes.len();
        let mut start = 0;
        let mut paused = false;
        let (server, mut wire) = self.wire(t.mono);
        while start < len {
            if *budget == 0 || server.waiting(key) {
                break;
            }
            let backed_up = wire.conns.get(key).is_some_and(|c| c.backed_up(wire.max_queue));
            match decode_frame(&bytes[start..]) {
                // Only requests whose answer is small (or none) go on while the connection's
                // output is backed up: a lagging client can still answer a Ping (so it is not
                // timed out for silence the server caused), leave a channel, or say Bye.
                Ok(Status::Complete((decoded, _)))
                    if backed_up
                        && !matches!(
                            decoded,
                            Ok(Msg::Ping(_) | Msg::Pong(_) | Msg::Unsub(_) | Msg::Bye(_))
                        ) =>
                {
                    paused = true;
                    break;
                }
                Ok(Status::Complete((decoded, used))) => {
                    if !server.receive(key, decoded, used, t, &mut wire) {
                        // Held back: handed over again once the core resumes the connection.
                        break;
                    }
                    *budget -= 1;
                    // Before the next request: nothing more may be accepted for a connection
                    // the shell is dropping.
                    wire.forget_detached(server);
                    start += used;
                }
                Ok(Status::Partial) => break,
                Err(too_long) => {
                    server.frame_too_long(key, too_long.0, &mut wire);
                    start = len;
                }
            }
            if wire.conns.get(key).is_none_or(|c| c.closing.is_some()) {
                start = len;
            }
        }
        let processed = if server.waiting(key) {
            Processed::Waiting
        } else if paused {
            Processed::Paused
        } else if *budget == 0 {
            Processed::Budget
        } else {
            Processed::All
        };
        if let Some(c) = wire.conns.get_mut(key) {
            c.paused = paused;
        }
        wire.settle(server);
        (start, processed)
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
            let result = c.flush(now);
            if result.is_err() || (c.closing.is_some() && c.flushed()) {
                self.drop_conn(key);
            } else if c.paused && c.drained(max_queue) {
                c.paused = false;
                mark_unread(&mut self.conns, &mut self.unread, key);
            }
        }
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    fn tick(&mut self, t: &Now) {
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
                if c.closing.is_some() {
                    c.check_unsent(t.mono);
                }
                match c.closing {
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
            if let Some(c) = self.conns.get_mut(key) {
                c.hand_rest_to_kernel(t.mono);
            }
            self.drop_conn(key);
        }
        self.flush_dirty(t.mono);
    }

    /// Closes and forgets a connection.
    fn drop_conn(&mut self, key: ConnId) {
        if !self.conns.contains(key) {
            return;
        }
        let mut c = self.conns.remove(key);
        // Read what the peer sent last, so closing sends FIN rather than RST and the peer gets
        // our final frames. A few reads at most: a peer that keeps sending must not hold up the
        // loop (it gets an RST instead).
        let _ = c.sock.shutdown(std::net::Shutdown::Write);
        c.drain(4);
        let _ = self.poll.registry().deregister(&mut c.sock);
        self.server.disconnect(key);
        log::debug!("conn {key}: closed {}", c.peer);
    }

    fn shut_down(&mut self) -> io::Result<()> {
        log::info!("shutting down: saying Bye to {} connections", self.conns.len());
        self.listeners.clear();
        let t = now();
        let (server, mut wire) = self.wire(t.mono);
        server.shutdown(&mut wire);
        wire.settle(server);
        self.flush_dirty(t.mono);
        let deadline = Instant::now() + CLOSE_GRACE;
        let mut events = Events::with_capacity(1024);
        while !self.conns.is_empty() && Instant::now() < deadline {
            let timeout = deadline.saturating_duration_since(Instant::now());
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                self.mark_dirty(ev.token().0);
            }
            self.flush_dirty(Instant::now());
        }
        let left: Vec<ConnId> = self.conns.iter().map(|(k, _)| k).collect();
        for key in left {
            self.drop_conn(key);
        }
        if let Some(store) = self.store.take() {
            // Commits what the writer still holds before the process exits.
            store.close();
        }
        let s = self.server.stats();
        log::info!(
            "stopped: {} connections served, {} refused, {} messages, {} deliveries, {} slow consumers",
            s.accepted,
            s.refused,
            s.published,
            s.deliveries,
            self.stats.slow_consumers
        );
        Ok(())
    }
}
