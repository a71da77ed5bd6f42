//! A small blocking client on std sockets, shared by scalar-cli, scalar-bench and the tests.
//!
//! It does framing, the handshake, request numbering and reply matching, with a deadline on
//! every wait, and hands out owned frames; what to do with Events that arrive between replies is
//! the caller's business.
//!
//! The connection is plain TCP or TLS over TCP ([`Transport`]); TLS settings are in
//! [`crate::tls`].

use crate::proto::*;
use crate::tls::{Fingerprint, PinMismatch, Tls, TlsSetupError};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What went wrong talking to a server.
#[derive(Debug)]
pub enum ClientError {
    /// No address of the server accepted a connection.
    Connect {
        /// The server as given.
        server: String,
        /// Why the last attempt failed.
        why: String,
    },
    /// Nothing arrived in time; says what was awaited.
    Timeout(&'static str),
    /// The server closed the connection without a Bye.
    Closed,
    /// The connection was reset: by the server's host, or by something between (a NAT that
    /// forgot it, a proxy, a network change), which this end cannot tell apart.
    Reset,
    /// The socket failed.
    Io(io::Error),
    /// The server sent something this client cannot use.
    Protocol(String),
    /// The server ended the session with a Bye, or an Error not tied to a request.
    Dropped {
        /// The error code (0 in a Bye means a normal close).
        code: u16,
        /// The server's reason, possibly empty.
        reason: String,
        /// How long the Error said to wait before trying again (`retry_after`).
        retry_after: Option<Duration>,
    },
    /// The server refused a request with an Error.
    Refused {
        /// The error code.
        code: u16,
        /// The server's reason, possibly empty.
        reason: String,
        /// The server's domain, when the refusal names it (`foreign_id`: the audience a token
        /// must be for).
        server: Option<String>,
        /// How long the Error said to wait before the same request may pass (`retry_after`).
        retry_after: Option<Duration>,
    },
    /// TLS failed: the settings could not be made, the handshake failed (an untrusted
    /// certificate, a server not speaking TLS), or the session broke.
    Tls(TlsError),
    /// Trust on first use: the server presented a certificate other than the one pinned for it.
    /// This is what an attacker in the middle looks like, so nothing was sent.
    PinMismatch {
        /// The server as given.
        server: String,
        /// The pin on record.
        expected: Fingerprint,
        /// The certificate presented.
        got: Fingerprint,
    },
    /// A password or token would have crossed plain TCP to a non-loopback address; nothing
    /// was sent.
    InsecurePassword(SocketAddr),
}

/// What went wrong with TLS.
#[derive(Debug)]
pub enum TlsError {
    /// The TLS settings could not be made (an unreadable CA file, for instance).
    Setup(TlsSetupError),
    /// The host of the server address is not a DNS name or IP address a certificate can name.
    BadName(String),
    /// rustls failed: in the handshake (an untrusted certificate, ...) or later.
    Rustls(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Setup(e) => e.fmt(f),
            TlsError::BadName(s) => write!(f, "{s:?} is not a host name or address a certificate can name"),
            // rustls shows the names as Rust's debug form (`DnsName("localhost")`): found by QA.
            TlsError::Rustls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { expected, presented },
            )) => {
                let names: Vec<&str> = presented.iter().map(|n| plain_name(n)).collect();
                let what = match names.is_empty() {
                    true => "names nothing".to_string(),
                    false => format!("is for {}", names.join(", ")),
                };
                write!(
                    f,
                    "TLS: the certificate is not for {}: it {what}",
                    expected.to_str()
                )
            }
            TlsError::Rustls(e) => write!(f, "TLS: {e}"),
        }
    }
}

/// A name a certificate presents as rustls reports it, `DnsName("example.com")` or
/// `IpAddress(127.0.0.1)`, as the name alone.
fn plain_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        })
        .unwrap_or(presented)
}

impl From<TlsSetupError> for ClientError {
    fn from(e: TlsSetupError) -> Self {
        ClientError::Tls(TlsError::Setup(e))
    }
}

impl ClientError {
    /// The refusal carried by an Error answering a request.
    pub fn refused(code: u16, reason: Option<&str>) -> Self {
        ClientError::Refused {
            code,
            reason: reason.unwrap_or_default().to_string(),
            server: None,
            retry_after: None,
        }
    }

    /// The end of the session announced by a Bye, or by an Error without `seq`.
    pub fn dropped(code: u16, reason: Option<&str>) -> Self {
        ClientError::Dropped {
            code,
            reason: reason.unwrap_or_default().to_string(),
            retry_after: None,
        }
    }

    /// The refusal of the Error `e`, answering a request or ending the session (no `seq`):
    /// with the server's domain and the wait it names.
    pub fn of_error(e: &ErrorMsg<'_>) -> Self {
        let wait = e.retry_after.map(Duration::from_millis);
        match e.seq {
            Some(_) => ClientError::Refused {
                code: e.code,
                reason: e.reason.unwrap_or_default().to_string(),
                server: e.server.map(str::to_string),
                retry_after: wait,
            },
            None => ClientError::Dropped {
                code: e.code,
                reason: e.reason.unwrap_or_default().to_string(),
                retry_after: wait,
            },
        }
    }

    /// How long the server said to wait before trying again, if it said (PROTOCOL.md §8,
    /// Waits).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Refused { retry_after, .. } | ClientError::Dropped { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

/// "403 not_subscribed", or just the number for a code this client does not know.
pub fn code_label(code: u16) -> String {
    match ErrorCode::from_u16(code) {
        Some(c) => format!("{code} {}", c.label()),
        None if code == 0 => "0 normal close".into(),
        None => code.to_string(),
    }
}

/// "403 not_subscribed: reason", without repeating a reason that only restates the label.
fn with_reason(code: u16, reason: &str) -> String {
    let label = code_label(code);
    if reason.is_empty() || ErrorCode::from_u16(code).is_some_and(|c| c.label() == reason) {
        label
    } else {
        format!("{label}: {reason}")
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { server, why } => write!(f, "cannot connect to {server}: {why}"),
            ClientError::Timeout(what) => write!(f, "timed out waiting for {what}"),
            ClientError::Closed => f.write_str("the server closed the connection"),
            ClientError::Reset => f.write_str("the connection was reset (by the network or the server)"),
            ClientError::Io(e) => write!(f, "connection error: {e}"),
            ClientError::Protocol(s) => write!(f, "protocol error: {s}"),
            ClientError::Refused { code, reason, .. } => {
                write!(f, "server refused: {}", with_reason(*code, reason))
            }
            ClientError::Dropped { code, reason, .. } => {
                write!(f, "the server ended the session: {}", with_reason(*code, reason))
            }
            ClientError::Tls(e) => e.fmt(f),
            ClientError::PinMismatch {
                server,
                expected,
                got,
            } => write!(
                f,
                "the certificate of {server} changed: {got} is presented, {expected} is pinned"
            ),
            ClientError::InsecurePassword(peer) => write!(
                f,
                "refusing to send a password or token over plain TCP to {peer}: connect with TLS"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        // rustls reports its own failures (a bad record, an alert) as InvalidData wrapping its
        // error; keep that typed.
        if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return ClientError::Tls(TlsError::Rustls(tls.clone()));
        }
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout("the server"),
            // A reset is not the server's word: a mobile user told "the server closed the
            // connection" when the network dropped it thinks it was sent away (found by QA).
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => ClientError::Reset,
            io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => ClientError::Closed,
            _ => ClientError::Io(e),
        }
    }
}

/// Encodes a message as one whole frame.
pub fn encode(msg: &Msg<'_>) -> Result<Vec<u8>, ClientError> {
    msg.to_frame()
        .map_err(|_| ClientError::Protocol("message too large for one frame".into()))
}

/// One whole frame's payload, owned; decode it with [`Frame::msg`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(pub Vec<u8>);

impl Frame {
    /// Decodes the payload.
    pub fn msg(&self) -> Result<Msg<'_>, ClientError> {
        Msg::decode(&self.0).map_err(|r| ClientError::Protocol(r.error.to_string()))
    }
}

/// The byte stream under a [`Client`]: plain TCP, or TLS over TCP.
///
/// Reads and writes block, bounded by the TCP socket's timeouts. A timeout (WouldBlock) in the
/// middle of a TLS record leaves rustls's state intact: rustls keeps the part read, and the
/// next call goes on from there.
pub enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: a rustls connection is large).
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Transport {
    /// The TCP socket underneath, for timeouts, shutdown and polling.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => &s.sock,
        }
    }

    /// The TCP stream of a plain connection; a TLS one is given back, as its socket alone
    /// carries encrypted records nobody else can read.
    pub fn into_plain(self) -> Result<TcpStream, Transport> {
        match self {
            Transport::Plain(s) => Ok(s),
            tls => Err(tls),
        }
    }

    /// Whether this is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// Writes out everything rustls holds for the socket, waiting at most the write timeout
    /// for each write. Unlike rustls's `complete_io`, it never reads: a writer must not wait
    /// for the server to speak.
    fn push_tls(s: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>) -> io::Result<()> {
        while s.conn.wants_write() {
            match s.conn.write_tls(&mut s.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Read for Transport {
    /// Under TLS, at most one read of the socket per call, and `Interrupted` when it gave no
    /// plaintext yet (a record is still coming), so that a caller with a deadline checks it
    /// between reads. rustls's own Stream reads on until a whole record is in: one trickling
    /// in a byte at a time, each just inside the socket's timeout, would hold it for hours.
    /// A socket timeout surfaces as WouldBlock with the partial record kept inside rustls.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let s = match self {
            Transport::Plain(s) => return s.read(buf),
            Transport::Tls(s) => s,
        };
        match s.conn.reader().read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // Plaintext, the end (0 after close_notify), or an unclean end.
            done => return done,
        }
        // What rustls owes the server first (an alert, a key update).
        Transport::push_tls(s)?;
        s.conn.read_tls(&mut s.sock)?;
        if let Err(e) = s.conn.process_new_packets() {
            // The alert saying why, as TLS wants.
            let _ = Transport::push_tls(s);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        match s.conn.reader().read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::ErrorKind::Interrupted.into()),
            done => done,
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => {
                // Emptying rustls's buffer first keeps it from filling up, so every write is
                // taken whole (frames are at most 16 KiB).
                Transport::push_tls(s)?;
                let n = s.conn.writer().write(buf)?;
                // Bytes taken must be reported as taken; a failure to push them out shows in
                // `flush`.
                let _ = Transport::push_tls(s);
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => Transport::push_tls(s),
        }
    }
}

/// The least time one address of a server is given to accept a connection, when a timeout is
/// shared among several: Linux sends a SYN again after 1 s.
const MIN_CONNECT: Duration = Duration::from_millis(1500);

/// How many frames that came while [`Client::reply`] waited for another are held for
/// [`Client::recv`]; past that the oldest go, counted in [`Client::take_lost`].
pub const HELD_FRAMES: usize = 1024;

/// A blocking connection to a Scalar server.
pub struct Client {
    stream: Transport,
    buf: Box<[u8]>,
    len: usize,
    /// Frames without `seq` (Events of the topics, announcements) that arrived while `reply`
    /// waited for a reply, for `recv` to return first.
    held: VecDeque<Frame>,
    /// Held frames given up because more than [`HELD_FRAMES`] (or `hold_max`) came.
    lost: u64,
    /// How many frames are held at most: [`HELD_FRAMES`], unless [`Client::hold_at_most`]
    /// said fewer.
    hold_max: usize,
    next_seq: u32,
    /// The session's user ID, as the server accepted it (empty before Ident).
    pub user: String,
    /// The server's domain, from its Ident (empty before Ident).
    pub domain: String,
    /// The address connected to.
    pub peer: SocketAddr,
    /// How long the server lets the connection be silent before it pings, from its Ident.
    pub keepalive: Option<Duration>,
    /// How long the server waits for any frame after its Ping before it closes, from its
    /// Ident.
    pub timeout: Option<Duration>,
    /// True if the server made this session a guest's (and chose `user`).
    pub guest: bool,
    /// Set before [`identify`](Client::identify) to ask for carbons (PROTOCOL.md §4, Message
    /// and Event); after it, whether the server sends them.
    pub carbons: bool,
    /// Set before [`identify`](Client::identify) to ask to be told of joins and leaves
    /// (PROTOCOL.md §4, Joins and leaves); after it, whether the server tells them.
    pub joins: bool,
    /// How far the server's clock is ahead of this machine's (ms; behind if negative), as its
    /// Ident's `time` said; `None` from a server that does not say.
    pub skew_ms: Option<i64>,
}

/// Now, in milliseconds since the Unix epoch (the protocol's time).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A password login (or registration) for [`Client::identify`].
pub struct Login {
    /// The account's password.
    pub password: String,
    /// Create the account rather than log in to it.
    pub register: bool,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("register", &self.register)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects without identifying, trying each address of `server` for at most `timeout`.
    /// Reads and writes then wait at most `timeout` too.
    pub fn connect_raw(
        server: impl ToSocketAddrs + fmt::Display,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        Client::connect_raw_with(server, timeout, None)
    }

    /// As [`connect_raw`](Client::connect_raw), then with `tls` the TLS handshake: both within
    /// `timeout` from the end of the lookup, with the host part of `server` as the name the
    /// certificate must carry.
    pub fn connect_raw_with(
        server: impl ToSocketAddrs + fmt::Display,
        timeout: Duration,
        tls: Option<&Tls>,
    ) -> Result<Client, ClientError> {
        let (tcp, peer, deadline) = Client::connect_tcp(&server, timeout)?;
        let stream = match tls {
            None => Transport::Plain(tcp),
            Some(tls) => match deadline.saturating_duration_since(Instant::now()) {
                left if left.is_zero() => {
                    return Err(ClientError::Timeout("the connection (no time was left for TLS)"));
                }
                left => handshake(tcp, tls, &server.to_string(), left)?,
            },
        };
        Ok(Client {
            stream,
            buf: vec![0u8; MAX_FRAME].into_boxed_slice(),
            len: 0,
            held: VecDeque::new(),
            lost: 0,
            hold_max: HELD_FRAMES,
            next_seq: 1,
            user: String::new(),
            domain: String::new(),
            peer,
            keepalive: None,
            timeout: None,
            guest: false,
            carbons: false,
            joins: false,
            skew_ms: None,
        })
    }

    /// The TCP connection to the first address of `server` that accepts one, within `timeout`
    /// from the end of the lookup, shared out among the addresses not tried yet (each gets at
    /// least [`MIN_CONNECT`] of what is left, so that a SYN may be sent again), with the
    /// socket's timeouts set to `timeout`. Also returns when `timeout` ends.
    fn connect_tcp(
        server: &(impl ToSocketAddrs + fmt::Display),
        timeout: Duration,
    ) -> Result<(TcpStream, SocketAddr, Instant), ClientError> {
        let fail = |why: String| ClientError::Connect {
            server: server.to_string(),
            why,
        };
        let addrs: Vec<SocketAddr> = server
            .to_socket_addrs()
            .map_err(|e| fail(e.to_string()))?
            .collect();
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no address found");
        for (i, addr) in addrs.iter().enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            let share = (left / u32::try_from(addrs.len() - i).unwrap_or(u32::MAX))
                .max(MIN_CONNECT)
                .min(left);
            if share.is_zero() {
                last = format!("no answer within {} ms", timeout.as_millis());
                break;
            }
            match TcpStream::connect_timeout(addr, share) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    // A write only blocks when the server stops reading: never wait forever.
                    stream.set_write_timeout(Some(timeout))?;
                    stream.set_read_timeout(Some(timeout))?;
                    return Ok((stream, *addr, deadline));
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(fail(last))
    }

    /// Connects and identifies as `user` (a full ID, or a bare local name the server
    /// completes), without a password, waiting at most `timeout` for each step.
    pub fn connect(
        server: impl ToSocketAddrs + fmt::Display,
        user: &str,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        Client::connect_with(server, user, timeout, None)
    }

    /// As [`connect`](Client::connect), over TLS when `tls` is given.
    pub fn connect_with(
        server: impl ToSocketAddrs + fmt::Display,
        user: &str,
        timeout: Duration,
        tls: Option<&Tls>,
    ) -> Result<Client, ClientError> {
        let mut c = Client::connect_raw_with(server, timeout, tls)?;
        c.identify(user, None, timeout)?;
        Ok(c)
    }

    /// The handshake: Ident as `user`, and with a `login` the Challenge/Auth dance
    /// (PROTOCOL.md §4). On success `user`, `domain`, `keepalive` and `guest` are set.
    pub fn identify(
        &mut self,
        user: &str,
        login: Option<&Login>,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        let name = Name::parse_user(user).map_err(|e| ClientError::Protocol(format!("ID {user}: {e}")))?;
        // PROTOCOL.md §1: whatever the server asks, a password only travels inside TLS or to
        // this machine.
        if login.is_some() && !self.is_tls() && !is_loopback(self.peer.ip()) {
            return Err(ClientError::InsecurePassword(self.peer));
        }
        let (carbons, joins) = (self.carbons, self.joins);
        let mut reply = self.request(timeout, |seq| {
            Msg::Ident(Ident {
                auth: login.map(|_| AUTH_PASSWORD),
                register: login.is_some_and(|l| l.register),
                carbons,
                joins,
                ..Ident::new(seq, &[VERSION], name)
            })
        })?;
        if let (Msg::Challenge(c), Some(login)) = (reply.msg()?, login) {
            let nonce = c.nonce;
            reply = self.request(timeout, |seq| {
                Msg::Auth(Auth {
                    seq,
                    nonce,
                    password: &login.password,
                })
            })?;
        }
        self.accept_ident(&reply)
    }

    /// Identifies as `user`, an ID of another domain, with a token from its home server
    /// ([`grant`](Client::grant)); PROTOCOL.md §4, Other domains.
    pub fn identify_with_token(
        &mut self,
        user: &str,
        token: &[u8],
        timeout: Duration,
    ) -> Result<(), ClientError> {
        let name = Name::parse(user).map_err(|e| ClientError::Protocol(format!("ID {user}: {e}")))?;
        // A token is a credential too: the same rule as for a password.
        if !self.is_tls() && !is_loopback(self.peer.ip()) {
            return Err(ClientError::InsecurePassword(self.peer));
        }
        let (carbons, joins) = (self.carbons, self.joins);
        let reply = self.request(timeout, |seq| {
            Msg::Ident(Ident {
                token: Some(token),
                carbons,
                joins,
                ..Ident::new(seq, &[VERSION], name)
            })
        })?;
        self.accept_ident(&reply)
    }

    /// Asks this (home) server for a token for the server of domain `audience`; returns it
    /// and when it expires (ms since the epoch).
    pub fn grant(&mut self, audience: &str, timeout: Duration) -> Result<(Vec<u8>, u64), ClientError> {
        let reply = self.request(timeout, |seq| {
            Msg::Grant(Grant {
                seq,
                server: audience,
            })
        })?;
        match reply.msg()? {
            Msg::Token(t) => Ok((t.token.to_vec(), t.until)),
            other => Err(ClientError::Protocol(format!(
                "expected Token, got {}",
                other.msg_type().label()
            ))),
        }
    }

    /// Takes the session's ID, domain and timers from the server's Ident reply.
    fn accept_ident(&mut self, reply: &Frame) -> Result<(), ClientError> {
        match reply.msg()? {
            // §4: the server answers with the one version it chose, of those offered.
            Msg::Ident(i) if i.versions.len() != 1 || i.versions.iter().any(|v| v != VERSION) => {
                let chosen: Vec<u64> = i.versions.iter().collect();
                Err(ClientError::Protocol(format!(
                    "the server chose versions {chosen:?}; this client offered only {VERSION}"
                )))
            }
            Msg::Ident(i) => {
                self.user = i.user.as_str().to_string();
                // The decoder has checked `server` is a domain; a server that leaves it out
                // serves the accepted ID's domain.
                let domain = i.server.unwrap_or(i.user.domain());
                self.domain = domain.to_string();
                self.keepalive = i.keepalive.map(Duration::from_millis);
                self.timeout = i.timeout.map(Duration::from_millis);
                self.guest = i.guest;
                self.carbons = i.carbons;
                self.joins = i.joins;
                self.skew_ms = i.time.map(|t| {
                    let here = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis());
                    i64::try_from(i128::from(t) - i128::try_from(here).unwrap_or(0)).unwrap_or(0)
                });
                Ok(())
            }
            other => Err(ClientError::Protocol(format!(
                "expected Ident, got {}",
                other.msg_type().label()
            ))),
        }
    }

    /// A fresh request number; never 0, so it cannot be confused with anything unset.
    pub fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = self.next_seq.checked_add(1).unwrap_or(1);
        s
    }

    /// The TCP socket (under TLS too), for timeouts and shutdown.
    pub fn stream(&self) -> &TcpStream {
        self.stream.tcp()
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// The fingerprint of the certificate the server presented, on a TLS connection.
    pub fn peer_fingerprint(&self) -> Option<Fingerprint> {
        match &self.stream {
            Transport::Plain(_) => None,
            Transport::Tls(s) => s
                .conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| Fingerprint::of(c.as_ref())),
        }
    }

    /// A second handle on the socket, for a thread that writes while this one reads. Plain
    /// connections only: a TLS session cannot be shared between threads (it fails with
    /// `Unsupported`).
    pub fn try_clone_stream(&self) -> io::Result<TcpStream> {
        match &self.stream {
            Transport::Plain(s) => s.try_clone(),
            Transport::Tls(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a TLS connection cannot be written from a second handle",
            )),
        }
    }

    /// Whether [`recv`](Client::recv) can make progress without waiting for the socket: a
    /// whole frame (or an oversized length) is buffered here, or TLS holds decrypted bytes not
    /// yet taken. A caller that polls the socket before reading must check this first, or it
    /// may wait for data that already arrived.
    pub fn has_buffered_input(&mut self) -> bool {
        if !self.held.is_empty() {
            return true;
        }
        if !matches!(
            frame::split(self.buf.get(..self.len).unwrap_or_default()),
            Ok(Status::Partial)
        ) {
            return true;
        }
        match &mut self.stream {
            Transport::Plain(_) => false,
            // An error (a bad record) is input too: recv reports it.
            Transport::Tls(s) => s.conn.process_new_packets().map_or(true, |st| {
                st.plaintext_bytes_to_read() > 0 || st.peer_has_closed()
            }),
        }
    }

    /// Sets how long one [`recv`](Client::recv) waits; `None` waits forever.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.stream.tcp().set_read_timeout(t)
    }

    /// Sends one message.
    pub fn send(&mut self, msg: &Msg<'_>) -> Result<(), ClientError> {
        self.send_raw(&encode(msg)?)
    }

    /// [`send`](Client::send), given up at `deadline` if the server stops reading: a Pong sent
    /// while waiting for a reply must not hold the wait past its end (a hostile home server
    /// flooding Pings and reading nothing held a check twice its deadline).
    fn send_by(&mut self, msg: &Msg<'_>, deadline: Instant) -> Result<(), ClientError> {
        let before = self.stream.tcp().write_timeout()?;
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        self.stream
            .tcp()
            .set_write_timeout(Some(before.map_or(left, |b| b.min(left))))?;
        let sent = self.send(msg);
        self.stream.tcp().set_write_timeout(before)?;
        sent
    }

    /// Sends bytes as they are (tests use this for broken frames).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes)?;
        // Under TLS, bytes can sit in rustls until flushed.
        self.stream.flush()?;
        Ok(())
    }

    /// Receives the next frame, whatever it is: first those held while [`reply`](Client::reply)
    /// waited, then the socket's. A timeout leaves a partial frame buffered, so calling again
    /// continues where this call stopped.
    pub fn recv(&mut self) -> Result<Frame, ClientError> {
        self.recv_by(None)
    }

    /// How many frames without `seq` were given up since the last call, because more than
    /// [`HELD_FRAMES`] came while requests waited for their replies and nothing took them.
    pub fn take_lost(&mut self) -> u64 {
        std::mem::take(&mut self.lost)
    }

    /// [`recv`](Client::recv), giving up at `deadline`.
    fn recv_by(&mut self, deadline: Option<Instant>) -> Result<Frame, ClientError> {
        match self.held.pop_front() {
            Some(f) => Ok(f),
            None => self.read_frame(deadline),
        }
    }

    /// The socket's next frame, giving up at `deadline` even if the frame keeps arriving a byte
    /// at a time (each read has its own timeout; a trickle would reset it forever).
    fn read_frame(&mut self, deadline: Option<Instant>) -> Result<Frame, ClientError> {
        loop {
            match frame::split(self.buf.get(..self.len).unwrap_or_default()) {
                Err(e) => {
                    // PROTOCOL.md §2: the stream cannot be trusted any further; say why, then
                    // the caller drops the connection.
                    let reason = format!("frame length {} too long", e.0);
                    let bye = Bye {
                        code: ErrorCode::FrameTooLong as u16,
                        reason: Some(&reason),
                    };
                    let _ = self.send(&Msg::Bye(bye));
                    // Before its Ident, what a server sends is most likely not Scalar at all
                    // (an HTTP server's "HTTP/1.1 400" reads as a length of 21,576).
                    let hint = match self.domain.is_empty() {
                        true => " (is it a Scalar server?)",
                        false => "",
                    };
                    return Err(ClientError::Protocol(format!("{reason}{hint}")));
                }
                Ok(Status::Complete((payload, used))) => {
                    let f = Frame(payload.to_vec());
                    self.buf.copy_within(used..self.len, 0);
                    self.len -= used;
                    return Ok(f);
                }
                Ok(Status::Partial) => {}
            }
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ClientError::Timeout("the server's reply"));
                }
                self.set_read_timeout(Some(left))?;
            }
            let free = self.buf.get_mut(self.len..).unwrap_or_default();
            match self.stream.read(free) {
                // A TLS server's alert (or handshake) in answer to a plain client's first frame.
                Ok(0)
                    if self.domain.is_empty()
                        && !self.stream.is_tls()
                        && crate::tls::starts_like_tls(self.buf.get(..self.len).unwrap_or_default()) =>
                {
                    return Err(ClientError::Protocol(
                        "the server answered in TLS and closed (is it a TLS port?)".into(),
                    ));
                }
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => self.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Receives until the next frame carrying `seq` (a reply, or an Event of a Catchup replay),
    /// answering Pings. Frames without `seq` (the Events of the topics, announcements, an Error
    /// that leaves the connection open such as a kick) and frames it cannot decode are held for
    /// [`recv`](Client::recv), up to [`HELD_FRAMES`]; replies to other requests (one that timed
    /// out) are skipped. An Error for `seq` becomes [`ClientError::Refused`]; a Bye, or an
    /// Error without `seq` that closes the connection, ends the session
    /// ([`ClientError::Dropped`]). Fails with a timeout at `deadline`.
    pub fn reply(&mut self, seq: u32, deadline: Instant) -> Result<Frame, ClientError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout("the server's reply"));
            }
            self.set_read_timeout(Some(left))?;
            let f = self.read_frame(Some(deadline)).map_err(|e| match e {
                ClientError::Timeout(_) => ClientError::Timeout("the server's reply"),
                e => e,
            })?;
            let Ok(msg) = f.msg() else {
                self.hold(f);
                continue;
            };
            match msg {
                Msg::Ping(p) => self.send_by(&Msg::Pong(p), deadline)?,
                Msg::Bye(b) => return Err(ClientError::dropped(b.code, b.reason)),
                Msg::Error(e) if e.seq == Some(seq) => return Err(ClientError::of_error(&e)),
                // One that leaves the connection open (a kick from one channel) is news, like an
                // Event; one that closes it ends the wait.
                Msg::Error(e)
                    if e.seq.is_none() && ErrorCode::from_u16(e.code).is_some_and(|c| !c.closes()) =>
                {
                    self.hold(f)
                }
                Msg::Error(e) if e.seq.is_none() => return Err(ClientError::of_error(&e)),
                m if m.seq() == Some(seq) => return Ok(f),
                m if m.seq().is_none() => self.hold(f),
                _ => {}
            }
        }
    }

    /// Waits `d` on the connection, as a request would wait for its reply: answers the server's
    /// Pings and holds its news for [`recv`](Client::recv), but fails as soon as the session
    /// ends (a Bye, an Error that closes it, the socket), rather than after the wait.
    pub fn wait(&mut self, d: Duration) -> Result<(), ClientError> {
        // A number no request was sent with: nothing answers it, so the wait runs its course.
        let unasked = self.seq();
        match self.reply(unasked, Instant::now() + d) {
            Ok(_) | Err(ClientError::Timeout(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Keeps a frame for `recv`, the oldest going past the bound.
    fn hold(&mut self, f: Frame) {
        self.held.push_back(f);
        self.trim_held();
    }

    /// Holds at most `n` frames for [`recv`](Client::recv) (fewer than [`HELD_FRAMES`]): a
    /// program that only makes requests, such as the server asking a user's home, holds none,
    /// so that a hostile peer's unasked frames cannot pile up in its memory (16 MiB each).
    pub fn hold_at_most(&mut self, n: usize) {
        self.hold_max = n.min(HELD_FRAMES);
        self.trim_held();
    }

    fn trim_held(&mut self) {
        while self.held.len() > self.hold_max {
            self.held.pop_front();
            self.lost += 1;
        }
    }

    /// Sends a request with a fresh `seq` and waits up to `timeout` for its reply.
    pub fn request<'a>(
        &mut self,
        timeout: Duration,
        build: impl FnOnce(Option<u32>) -> Msg<'a>,
    ) -> Result<Frame, ClientError> {
        let seq = self.seq();
        let deadline = Instant::now() + timeout;
        // The request's write within its time too: a server (or a home server asked on a kept
        // connection) that stopped reading must not hold it longer.
        self.send_by(&build(Some(seq)), deadline)?;
        self.reply(seq, deadline)
    }

    /// Measures a round trip with Ping, in milliseconds.
    pub fn ping(&mut self, timeout: Duration) -> Result<f64, ClientError> {
        let start = Instant::now();
        let time = unix_ms();
        self.request(timeout, |seq| Msg::Ping(Ping { seq, time }))?;
        Ok(start.elapsed().as_secs_f64() * 1000.0)
    }

    /// Gives up the connection, with any bytes already read but not yet returned as frames
    /// (the held frames first, framed again).
    pub fn into_parts(self) -> (Transport, Vec<u8>) {
        let mut pending = Vec::new();
        for f in &self.held {
            // A frame's payload came with a 2-byte length, so it fits one again.
            let len = u16::try_from(f.0.len()).unwrap_or(u16::MAX);
            pending.extend_from_slice(&len.to_le_bytes());
            pending.extend_from_slice(&f.0);
        }
        pending.extend_from_slice(self.buf.get(..self.len).unwrap_or_default());
        (self.stream, pending)
    }

    /// Sends Bye (code 0) and waits up to `wait` for the server to close, so that everything the
    /// server had queued for this connection has been read when this returns.
    pub fn bye(mut self, reason: Option<&str>, wait: Duration) {
        let reason = reason.map(|r| clip(r, MAX_REASON));
        let deadline = Instant::now() + wait;
        // Within `wait` too, if the server stopped reading.
        if self
            .send_by(&Msg::Bye(Bye { code: 0, reason }), deadline)
            .is_err()
        {
            return;
        }
        // Until an error: the close, or the deadline however slowly frames come.
        while self.recv_by(Some(deadline)).is_ok() {}
    }
}

/// Runs the TLS handshake on a fresh TCP connection within `timeout`, with the host part of
/// `server` (`HOST:PORT`) as the name the certificate must carry.
pub fn handshake(
    mut tcp: TcpStream,
    tls: &Tls,
    server: &str,
    timeout: Duration,
) -> Result<Transport, ClientError> {
    let name =
        crate::tls::server_name(server).ok_or_else(|| ClientError::Tls(TlsError::BadName(server.into())))?;
    let mut conn = rustls::ClientConnection::new(tls.config(), name)
        .map_err(|e| ClientError::Tls(TlsError::Rustls(e)))?;
    let deadline = Instant::now() + timeout;
    let restore = tcp.read_timeout()?;
    let too_slow = || ClientError::Timeout("the TLS handshake (does the server speak TLS there?)");
    // One read at a time with the deadline checked between them (rather than complete_io,
    // which loops inside): a server trickling its handshake a byte at a time still times out.
    loop {
        while conn.wants_write() {
            conn.write_tls(&mut tcp)?;
        }
        if !conn.is_handshaking() {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(too_slow());
        }
        tcp.set_read_timeout(Some(left))?;
        match conn.read_tls(&mut tcp) {
            Ok(0) => return Err(ClientError::Closed),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(too_slow());
            }
            Err(e) => return Err(e.into()),
        }
        if let Err(e) = conn.process_new_packets() {
            // Tell the server why, as TLS wants, then give up.
            let _ = conn.write_tls(&mut tcp);
            return Err(handshake_error(e, server));
        }
    }
    tcp.set_read_timeout(restore)?;
    Ok(Transport::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
}

/// A failed handshake as a typed error: a pin mismatch is told apart from other rustls errors.
fn handshake_error(e: rustls::Error, server: &str) -> ClientError {
    if let rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) = &e
        && let Some(m) = other.0.downcast_ref::<PinMismatch>()
    {
        return ClientError::PinMismatch {
            server: server.to_string(),
            expected: m.expected,
            got: m.got,
        };
    }
    ClientError::Tls(TlsError::Rustls(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `bytes` to `s` one every 100 ms, until the reader goes away.
    fn trickle(s: &mut TcpStream, bytes: impl IntoIterator<Item = u8>) {
        for b in bytes {
            std::thread::sleep(Duration::from_millis(100));
            if s.write_all(&[b]).is_err() {
                return;
            }
        }
    }

    /// A server on a loopback port for one connection: it takes the client's first bytes, then
    /// `then` has the socket. Returns its address and its thread.
    fn fake_server(
        then: impl FnOnce(&mut TcpStream) + Send + 'static,
    ) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 4096];
            let _ = s.read(&mut b);
            then(&mut s);
        });
        (addr, peer)
    }

    /// `f` returned within `limit`.
    fn within<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let r = f();
        assert!(start.elapsed() < limit, "took {:?}", start.elapsed());
        r
    }

    /// A Ping with a timeout of 500 ms fails with a timeout, and within 2 s.
    fn ping_times_out(c: &mut Client) {
        let r = within(Duration::from_secs(2), || {
            c.request(Duration::from_millis(500), |seq| Msg::Ping(Ping { seq, time: 1 }))
        });
        assert!(matches!(r, Err(ClientError::Timeout(_))), "{r:?}");
    }

    /// A connection reset (here by the server's host, as a NAT or a proxy would) is said as a
    /// reset, not as the server closing the connection; a close is still a close.
    #[test]
    fn a_reset_is_told_from_a_close() {
        for reset in [true, false] {
            let (addr, peer) = fake_server(move |s| {
                let user = Name::parse("alice@localhost").unwrap();
                let reply = Ident::new(Some(1), &[VERSION], user);
                let _ = s.write_all(&Msg::Ident(reply).to_frame().unwrap());
                let mut b = [0u8; 64];
                let _ = s.read(&mut b);
                if reset {
                    // SO_LINGER with a zero timeout: close sends RST, not FIN.
                    let linger = libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    };
                    // SAFETY: setsockopt on a socket this test owns, with a valid option value.
                    unsafe {
                        libc::setsockopt(
                            std::os::fd::AsRawFd::as_raw_fd(s),
                            libc::SOL_SOCKET,
                            libc::SO_LINGER,
                            std::ptr::addr_of!(linger).cast(),
                            std::mem::size_of::<libc::linger>() as libc::socklen_t,
                        );
                    }
                }
            });
            let mut c = Client::connect(addr, "alice", Duration::from_secs(2)).unwrap();
            c.send(&Msg::Ping(Ping { seq: None, time: 1 })).unwrap();
            peer.join().unwrap();
            let r = c.recv();
            let want = if reset {
                "the connection was reset (by the network or the server)"
            } else {
                "the server closed the connection"
            };
            assert_eq!(r.map(|_| ()).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn a_server_choosing_a_version_not_offered_is_refused() {
        for versions in [&[7u64][..], &[VERSION, 7]] {
            let (addr, peer) = fake_server(move |s| {
                let user = Name::parse("alice@localhost").unwrap();
                let reply = Ident::new(Some(1), versions, user);
                let _ = s.write_all(&Msg::Ident(reply).to_frame().unwrap());
            });
            let r = Client::connect(addr, "alice", Duration::from_secs(2));
            let Err(ClientError::Protocol(e)) = r else {
                panic!("{versions:?}: {:?}", r.map(|_| ()))
            };
            assert!(e.contains("versions"), "{e}");
            peer.join().unwrap();
        }
    }

    #[test]
    fn a_client_told_to_hold_nothing_drops_what_it_did_not_ask_for() {
        for (most, held) in [(0, 0), (2, 2), (HELD_FRAMES, 5)] {
            let (addr, peer) = fake_server(|s| {
                let news = ErrorMsg {
                    seq: None,
                    code: ErrorCode::Kicked as u16,
                    reason: None,
                    server: None,
                    topic: None,
                    retry_after: None,
                };
                for _ in 0..5 {
                    let _ = s.write_all(&Msg::Error(news).to_frame().unwrap());
                }
                let pong = Ping {
                    seq: Some(1),
                    time: 1,
                };
                let _ = s.write_all(&Msg::Pong(pong).to_frame().unwrap());
            });
            let mut c = Client::connect_raw(addr, Duration::from_secs(2)).unwrap();
            c.hold_at_most(most);
            let r = c.request(Duration::from_secs(2), |seq| Msg::Ping(Ping { seq, time: 1 }));
            assert!(r.is_ok(), "{:?}", r.err());
            assert_eq!((c.held.len(), c.take_lost()), (held, 5 - held as u64), "{most}");
            peer.join().unwrap();
        }
    }

    /// An Error that answers a request with a `retry_after` it cannot read (text here) is
    /// still its refusal, at once, not a wait until the timeout for an answer that came
    /// (PROTOCOL.md §8, Waits; found in review).
    #[test]
    fn a_refusal_with_an_unreadable_wait_is_still_the_refusal() {
        let (addr, peer) = fake_server(|s| {
            // {0: 3, 1: 1, 9: 806, 62: "soon"}, framed.
            let payload = [
                0xa4, 0x00, 0x03, 0x01, 0x01, 0x09, 0x19, 0x03, 0x26, 0x18, 0x3e, 0x64, b's', b'o', b'o',
                b'n',
            ];
            let _ = s.write_all(&[payload.len() as u8, 0]);
            let _ = s.write_all(&payload);
            // Open until the client goes, as a server's connection stays.
            let _ = s.read(&mut [0u8; 1]);
        });
        let mut c = Client::connect_raw(addr, Duration::from_secs(2)).unwrap();
        let r = within(Duration::from_secs(1), || {
            c.request(Duration::from_secs(2), |seq| Msg::Ping(Ping { seq, time: 1 }))
        });
        let Err(e) = r else { panic!("{r:?}") };
        assert!(matches!(e, ClientError::Refused { code: 806, .. }), "{e:?}");
        assert_eq!(e.retry_after(), None);
        drop(c);
        peer.join().unwrap();
    }

    #[test]
    fn a_reply_trickling_in_a_byte_at_a_time_still_times_out() {
        // A 40-byte frame announced, then one byte every 100 ms, for at most 3 s.
        let (addr, peer) = fake_server(|s| {
            let _ = s.write_all(&[40, 0]);
            trickle(s, [0; 30]);
        });
        let mut c = Client::connect_raw(addr, Duration::from_secs(1)).unwrap();
        ping_times_out(&mut c);
        drop(c);
        peer.join().unwrap();
    }

    #[test]
    fn a_tls_handshake_trickling_in_still_times_out() {
        // A handshake record announced at 16 KiB, then a byte every 100 ms, for at most 3 s.
        let (addr, peer) = fake_server(|s| {
            let _ = s.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]);
            trickle(s, [0; 30]);
        });
        let tls = Tls::webpki_roots().unwrap();
        let r = within(Duration::from_secs(2), || {
            Client::connect_raw_with(addr, Duration::from_millis(500), Some(&tls))
        });
        assert!(matches!(r, Err(ClientError::Timeout(_))), "{:?}", r.err());
        peer.join().unwrap();
    }

    #[test]
    fn a_tls_reply_trickling_in_still_times_out() {
        let (config, _) = crate::net::tls::self_signed();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut conn = rustls::ServerConnection::new(std::sync::Arc::new(config)).unwrap();
            while conn.is_handshaking() {
                conn.complete_io(&mut s).unwrap();
            }
            // One record holding a 16,000-byte frame, sent a byte every 100 ms for at most 3 s:
            // nothing of it can be decrypted before its last byte.
            let mut frame = vec![0x80, 0x3e];
            frame.resize(2 + 16_000, 0);
            conn.writer().write_all(&frame).unwrap();
            let mut record = Vec::new();
            conn.write_tls(&mut record).unwrap();
            trickle(&mut s, record.into_iter().take(30));
        });
        let tls = Tls::pinned(None).unwrap();
        let server = format!("localhost:{port}");
        let mut c = Client::connect_raw_with(server.as_str(), Duration::from_secs(5), Some(&tls)).unwrap();
        ping_times_out(&mut c);
        // Bye waits no longer than it is told either.
        within(Duration::from_secs(1), || c.bye(None, Duration::from_millis(300)));
        peer.join().unwrap();
    }

    #[test]
    fn a_server_that_does_not_speak_scalar_is_named_as_such() {
        let (addr, peer) = fake_server(|s| {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        });
        let r = Client::connect(addr, "alice", Duration::from_secs(5));
        match r {
            Err(ClientError::Protocol(why)) => {
                assert_eq!(why, "frame length 21576 too long (is it a Scalar server?)")
            }
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("connected"),
        }
        peer.join().unwrap();
    }

    #[test]
    fn errors_read_well() {
        let e = ClientError::refused(403, Some("not subscribed to #x@localhost"));
        assert_eq!(
            e.to_string(),
            "server refused: 403 not_subscribed: not subscribed to #x@localhost"
        );
        let e = ClientError::dropped(504, Some("shutting_down"));
        assert_eq!(e.to_string(), "the server ended the session: 504 shutting_down");
        assert_eq!(ClientError::refused(999, None).to_string(), "server refused: 999");
    }

    #[test]
    fn an_error_s_wait_comes_with_its_refusal_or_its_end() {
        let e = ErrorMsg {
            seq: Some(3),
            code: ErrorCode::ChannelRate as u16,
            reason: Some("wait 6 s"),
            server: None,
            topic: None,
            retry_after: Some(5_200),
        };
        let refused = ClientError::of_error(&e);
        assert!(
            matches!(refused, ClientError::Refused { code: 806, .. }),
            "{refused:?}"
        );
        assert_eq!(refused.retry_after(), Some(Duration::from_millis(5_200)));
        let ended = ClientError::of_error(&ErrorMsg { seq: None, ..e });
        assert!(
            matches!(ended, ClientError::Dropped { code: 806, .. }),
            "{ended:?}"
        );
        assert_eq!(ended.retry_after(), Some(Duration::from_millis(5_200)));
        let plain = ClientError::of_error(&ErrorMsg {
            retry_after: None,
            ..e
        });
        assert_eq!(plain.retry_after(), None);
    }
}
