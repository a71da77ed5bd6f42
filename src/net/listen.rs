//! The listeners: binding, accepting (with the plain-TCP policy and the TLS set-up), and
//! reloading the certificate and the configuration on SIGHUP.

use super::conn::{Conn, Tls};
use super::reload::{Reloaded, Reloader};
use super::tls::{PlainPolicy, TlsError, TlsFiles};
use super::{LISTENER_BASE, Reconfig, Shell, sockopt};
use crate::server::{AtAccept, Now};
use mio::net::TcpListener;
use mio::{Interest, Token};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Connections closed at an accept (refused, or idle ones closed to make room) that may keep
/// their descriptor through the close grace while their last frames wait (a TLS one's, for its
/// handshake), counted with every other connection in its grace; past it such a connection is
/// closed at once, without its Error. An eighth of the descriptors kept beside the connections
/// ([`FD_RESERVE`]): lingering sockets take half.
///
/// [`FD_RESERVE`]: crate::server::FD_RESERVE
const MAX_CLOSING_AT_ACCEPT: usize = crate::server::FD_RESERVE / 8;

/// How often one kind of failure at accept is logged at most.
const FAILURE_LOG: Duration = Duration::from_secs(60);

/// A failure at accept, said once a minute at most with a count of those unsaid: connections
/// that could not be set up (their buffers not mapped, out of address space under `ulimit -v`
/// or a strict overcommit; the socket not registered), each closed, where a line each let
/// anyone who connects write the log at will (found by QA: 282 lines in 27 ms under
/// `ulimit -v 200000`); and `accept` itself failing (out of descriptors), tried again every
/// second for as long as it lasts, which was a line a second (found by QA: 86,400 a day).
#[derive(Debug, Default)]
pub(super) struct Throttled {
    said: Option<Instant>,
    unsaid: u64,
}

impl Throttled {
    fn failed(&mut self, now: Instant, what: std::fmt::Arguments<'_>) {
        if self
            .said
            .is_some_and(|t| now.saturating_duration_since(t) < FAILURE_LOG)
        {
            self.unsaid += 1;
            return;
        }
        match std::mem::take(&mut self.unsaid) {
            0 => log::error!("{what} (more such are counted, and said once a minute)"),
            n => log::error!("{what} ({n} more since the last such line)"),
        }
        self.said = Some(now);
    }
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
pub(super) struct Listener {
    pub(super) sock: TcpListener,
    pub(super) transport: Transport,
}

/// The TLS side of the shell: where the certificate comes from, and the configuration new
/// connections start with.
pub(super) struct TlsSetup {
    pub(super) files: TlsFiles,
    /// Replaced on reload; connections already open keep the one they started with (rustls
    /// holds its own reference), so a reload drops none of them.
    pub(super) config: Arc<rustls::ServerConfig>,
}

impl Shell {
    /// Binds `addr` and registers it with the poll, after the listeners already bound.
    pub(super) fn listen(&mut self, addr: SocketAddr, transport: Transport) -> io::Result<()> {
        // Said with the address: of several, which one failed.
        let mut sock =
            sockopt::bind_listener(addr).map_err(|e| io::Error::new(e.kind(), format!("{addr}: {e}")))?;
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
    /// [`waker`](Shell::waker). The files are read on a thread of their own (see `reload.rs`),
    /// and what they hold applied on the loop once read. Nothing is dropped: connections stay,
    /// with the new limits and policy applied from then on. Call after
    /// [`listen_tls`](Shell::listen_tls), whose files it reloads.
    pub fn reload_on(
        &mut self,
        flag: &'static AtomicBool,
        reconfigure: Box<dyn FnMut() -> Option<Reconfig> + Send>,
    ) -> io::Result<()> {
        let files = self.tls.as_ref().map(|s| s.files.clone());
        self.reloader = Some(Reloader::spawn(files, reconfigure, self.waker.clone())?);
        self.reload = Some(flag);
        Ok(())
    }

    /// A reload read: the certificate, then the configuration, each kept as it was if it
    /// failed.
    pub(super) fn reloaded(&mut self, done: Reloaded) {
        if let Some(tls) = done.tls {
            self.reload_tls(tls);
        }
        let Some(r) = done.config else {
            return;
        };
        // What is in force now, counted: a file emptied or cut short by mistake still parses,
        // and this line is where the operator sees that the admins or bans went with it.
        let summary = format!(
            "{} admin(s), {} configured ban(s), {}, {} retention rule(s)",
            r.policy.admins.len(),
            r.policy.bans.len(),
            if r.policy.motd.is_some() {
                "a configured motd"
            } else {
                "no configured motd"
            },
            r.retention.topics.len()
        );
        self.server.set_limits(r.limits);
        self.server.set_entry(&r.auth);
        self.set_policy(r.policy);
        if let Some(store) = &self.store {
            store.set_retention(r.retention.clone());
        }
        self.server.set_retention(r.retention);
        log::info!("configuration reloaded: {summary}");
    }

    /// Swaps in a freshly loaded certificate for new TLS connections; on failure keeps the one
    /// in use, so a half-written file during renewal does no harm.
    fn reload_tls(&mut self, loaded: Result<Arc<rustls::ServerConfig>, TlsError>) {
        let Some(setup) = self.tls.as_mut() else {
            return;
        };
        match loaded {
            Ok(config) => {
                setup.config = config;
                log::info!("TLS certificate reloaded from {}", setup.files.cert.display());
            }
            Err(e) => log::error!("TLS reload failed, keeping the certificate in use: {e}"),
        }
    }

    /// Accepts every connection waiting on listener `idx`, setting up each one's socket and
    /// buffers and introducing it to the core.
    pub(super) fn accept(&mut self, idx: usize, t: &Now) {
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
                    // docs/OPERATIONS.md). The pending connection stays in the backlog, tried
                    // again every second; said once a minute, not at every readiness of every
                    // listener (found by QA: 25 lines in a millisecond).
                    self.accept_failures
                        .failed(t.mono, format_args!("accept failed: {e}"));
                    self.retry_accept = true;
                    return;
                }
            };
            let tls = match (transport, &self.tls) {
                (Transport::Plain, _) if !self.plain.allows(peer.ip()) => {
                    // Closed before the core hears of it: no Scalar frame is sent, since the
                    // point is that nothing travels in clear to or from a remote peer.
                    self.server.refused_at_accept(peer.ip(), AtAccept::PlainFromAfar);
                    continue;
                }
                (Transport::Plain, _) => None,
                (Transport::Tls, Some(setup)) => match Tls::new(setup.config.clone()) {
                    Ok(tls) => Some(tls),
                    Err(e) => {
                        self.setup_failures
                            .failed(t.mono, format_args!("{peer}: cannot start TLS: {e}"));
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
            let dirty_before = self.dirty.len();
            let registered =
                self.poll
                    .registry()
                    .register(&mut sock, Token(key), Interest::READABLE | Interest::WRITABLE);
            match registered.and_then(|()| Conn::new(sock, peer, t.mono, tls)) {
                Ok(conn) => {
                    entry.insert(conn);
                }
                Err(e) => {
                    self.setup_failures
                        .failed(t.mono, format_args!("{peer}: cannot set up connection: {e}"));
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
            self.close_done_since(dirty_before, t.mono);
        }
    }

    /// Closes at once the connections this accept closed (the newcomer refused, or an idle one
    /// made room for it) whose last frames are written: a burst of refused connections held
    /// every descriptor until the end of the turn, which ran the process out of them (EMFILE,
    /// `accept failed`) with the server well below max-connections (found by QA: 118 refused
    /// from one address under `ulimit -n 128`). Only those dirtied since `from`, so that the
    /// rest of the turn's output is still written once, at its end.
    fn close_done_since(&mut self, from: usize, now: Instant) {
        if from >= self.dirty.len() {
            return;
        }
        for key in self.dirty.split_off(from) {
            // Not every connection an accept gives output is closing: a refusal for an address
            // pings that address's silent sessions (server/probe.rs), which stay open.
            let closing = self.conns.get_mut(key).and_then(|c| {
                c.closing.is_some().then(|| {
                    let result = c.flush(now);
                    result.is_err() || c.flushed()
                })
            });
            // Sockets the core no longer counts (closing, in their grace) beyond the bound: a
            // host could otherwise open TLS connections that never shake hands, each refused
            // for its address yet held for the grace, as fast as it likes, and run the process
            // out of descriptors (found by QA: 200 from one address under `ulimit -n 128`).
            let beyond = self.conns.len().saturating_sub(self.server.connections()) > MAX_CLOSING_AT_ACCEPT;
            match closing {
                Some(true) => self.drop_conn(key),
                Some(false) if beyond => {
                    log::debug!("conn {key}: closed at once, {MAX_CLOSING_AT_ACCEPT} closing already");
                    self.drop_conn(key);
                }
                // Still dirty (a TLS one's Error waits for its handshake, a probed session's
                // Ping): the end of the turn flushes it, as before.
                _ => self.dirty.push(key),
            }
        }
    }
}
