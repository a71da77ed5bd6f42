//! Soak: a long mixed workload, watching the server's resources over time for leaks. For
//! `--duration` seconds, against a server with its default flood limits, accounts open, a TLS
//! listener and a small retention (`--history-max-events 50`, so that trimming runs all along):
//!
//! - churn: connections from ever new loopback addresses (64,000 in 127.20.0.0/16, so
//!   that the per-address and per-network tables fill), each as a new ID: Ident, Sub to three of
//!   the rooms, one Message, then a Bye, a drop without one, a drop in the middle of a frame, or
//!   a drop right after the Ident; one in four over TLS;
//! - chat: 12 members in 6 rooms, each publishing in turn and sending a direct message to the
//!   next member, all reconnecting every minute;
//! - accounts: a new account registered, a login to an earlier one (then a MarkRead), and a wrong
//!   password, each from its own address, about every 0.7 s;
//! - history: Catchups and Searches of the rooms and of members' direct messages, read to their
//!   end or given up by closing the connection before the answer.
//!
//! Every 10 s it prints the server's VmRSS, VmHWM, open descriptors, threads, data directory
//! and WAL sizes, its connection and channel gauges, and what the load did since the last line.
//! It asserts nothing: whether a column grows with time rather than levelling off is for the
//! reader.

use crate::Opts;
use crate::server::Server;
use crate::source::connect_from;
use scalar::client::Transport;
use scalar::proto::frame::split;
use scalar::proto::{
    AUTH_PASSWORD, Auth, Body, Bye, Catchup, Ident, MarkRead, Message, Msg, Name, Search, Status, Sub,
    VERSION,
};
use scalar::tls::Tls;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a soak client waits for any one reply.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Between two lines of the table.
const SAMPLE: Duration = Duration::from_secs(10);
/// Rooms the churn and the chat use.
const ROOMS: usize = 6;
/// Chat members (two per room).
const MEMBERS: usize = 12;
/// The chat members reconnect this often.
const CHAT_CYCLE: Duration = Duration::from_secs(60);
/// Events kept per topic: small, so that retention trims all along.
const KEEP: &str = "50";

/// What the load did, counted by the workers.
#[derive(Default)]
struct Counts {
    churn: AtomicU64,
    tls: AtomicU64,
    chat: AtomicU64,
    dms: AtomicU64,
    accounts: AtomicU64,
    logins: AtomicU64,
    wrong: AtomicU64,
    queries: AtomicU64,
    abandoned: AtomicU64,
    failed: AtomicU64,
}

impl Counts {
    fn snapshot(&self) -> [u64; 10] {
        [
            &self.churn,
            &self.tls,
            &self.chat,
            &self.dms,
            &self.accounts,
            &self.logins,
            &self.wrong,
            &self.queries,
            &self.abandoned,
            &self.failed,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }
}

/// Where the workers connect.
struct Target {
    plain: SocketAddr,
    tls: Option<(SocketAddr, Tls)>,
}

/// Runs the workload and prints its table.
pub fn run(opts: &Opts) -> io::Result<()> {
    let history = match opts.history.as_str() {
        "off" => "batched",
        other => other,
    };
    let opts = Opts {
        tls: true,
        history: history.into(),
        ..opts.clone()
    };
    let extra = [
        "--registration",
        "open",
        "--history-max-events",
        KEEP,
        "--metrics-listen",
        "127.0.0.1:0",
    ];
    let server = Server::start_for_with(&opts, &extra)?;
    let target = Target {
        plain: server.plain.unwrap_or(server.addr),
        tls: server.tls.clone().map(|t| (server.addr, t)),
    };
    let span = Duration::from_secs(opts.duration);
    println!(
        "soak: {} s against scalard pid {} (default flood limits, --history-max-events {KEEP}, TLS on {})",
        span.as_secs(),
        server.pid(),
        server.addr
    );
    let counts = Counts::default();
    let stop = AtomicBool::new(false);
    let end = Instant::now() + span;
    std::thread::scope(|scope| {
        let (t, c, s) = (&target, &counts, &stop);
        for w in 0..2 {
            scope.spawn(move || churn(t, w, c, s));
        }
        scope.spawn(move || chat(t, c, s));
        scope.spawn(move || accounts(t, c, s));
        scope.spawn(move || queries(t, c, s));
        sample(&server, &counts, end);
        stop.store(true, Ordering::Relaxed);
    });
    // A last line once every worker has closed its connections.
    std::thread::sleep(Duration::from_secs(2));
    println!(
        "{} (load: the totals)",
        line(&server, &counts.snapshot(), &[0; 10], span.as_secs())
    );
    match server.stop() {
        Some(c) => println!("soak: the server's counts: {c}"),
        None => println!("soak: the server wrote no counts"),
    }
    Ok(())
}

/// Prints a line every `SAMPLE` until `end`.
fn sample(server: &Server, counts: &Counts, end: Instant) {
    println!(
        "{:>6} {:>8} {:>8} {:>5} {:>4} {:>9} {:>9} {:>5} {:>5}  load since the last line: churn (tls) chat dms \
         accounts logins wrong-passwords queries (abandoned) failed",
        "s", "RSS KiB", "HWM KiB", "fds", "thr", "data KiB", "WAL KiB", "conns", "chans"
    );
    let started = Instant::now();
    let mut last = counts.snapshot();
    let mut next = started;
    while next < end {
        next += SAMPLE;
        std::thread::sleep(next.min(end).saturating_duration_since(Instant::now()));
        let now = counts.snapshot();
        println!("{}", line(server, &now, &last, started.elapsed().as_secs()));
        last = now;
    }
}

/// One line of the table.
fn line(server: &Server, now: &[u64; 10], last: &[u64; 10], secs: u64) -> String {
    let pid = server.pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let entries = |dir: String| std::fs::read_dir(dir).map_or(0, |d| d.count());
    let (data, wal) = dir_sizes(server.data_dir());
    let gauge = |name: &str| metric(server.metrics, name).map_or("-".to_string(), |v| v.to_string());
    let d: Vec<u64> = now.iter().zip(last).map(|(n, l)| n.saturating_sub(*l)).collect();
    format!(
        "{secs:>6} {:>8} {:>8} {:>5} {:>4} {:>9} {:>9} {:>5} {:>5}  {:?}",
        kib("VmRSS:"),
        kib("VmHWM:"),
        entries(format!("/proc/{pid}/fd")),
        entries(format!("/proc/{pid}/task")),
        data / 1024,
        wal / 1024,
        gauge("scalard_connections"),
        gauge("scalard_channels"),
        d,
    )
}

/// Bytes in the data directory, and in its WAL files of them.
fn dir_sizes(dir: Option<&std::path::Path>) -> (u64, u64) {
    let Some(Ok(entries)) = dir.map(std::fs::read_dir) else {
        return (0, 0);
    };
    let mut sizes = (0, 0);
    for e in entries.flatten() {
        let len = e.metadata().map_or(0, |m| m.len());
        sizes.0 += len;
        if e.file_name().to_string_lossy().ends_with("-wal") {
            sizes.1 += len;
        }
    }
    sizes
}

/// A gauge from the server's metrics endpoint.
fn metric(at: Option<SocketAddr>, name: &str) -> Option<u64> {
    let mut s = std::net::TcpStream::connect_timeout(&at?, TIMEOUT).ok()?;
    s.set_read_timeout(Some(TIMEOUT)).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The `n`th address of a pool of 64,000 in 127.`first`.0.0/16: each next one in the next of
/// its 256 /24s, so that no network comes near the connection rate (10 a second).
fn address(first: u8, n: u64) -> Ipv4Addr {
    let net = (n % 256) as u8;
    let host = ((n / 256) % 250) as u8 + 1;
    Ipv4Addr::new(127, first, net, host)
}

/// A blocking connection, plain or TLS, that sends frames and reads replies.
struct Link {
    t: Transport,
    buf: Vec<u8>,
    seq: u32,
}

impl Link {
    /// Connects from `src`, over TLS if `tls`.
    fn open(target: &Target, src: Ipv4Addr, tls: bool) -> io::Result<Link> {
        let t = match (&target.tls, tls) {
            (Some((addr, config)), true) => {
                let s = connect_from(src, *addr, None)?;
                timeouts(&s)?;
                scalar::client::handshake(s, config, &format!("localhost:{}", addr.port()), TIMEOUT)
                    .map_err(io::Error::other)?
            }
            _ => {
                let s = connect_from(src, target.plain, None)?;
                timeouts(&s)?;
                Transport::Plain(s)
            }
        };
        Ok(Link {
            t,
            buf: Vec::new(),
            seq: 0,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    fn send(&mut self, m: &Msg<'_>) -> io::Result<()> {
        let frame = m.to_frame().map_err(|_| io::Error::other("frame"))?;
        self.t.write_all(&frame)?;
        self.t.flush()
    }

    /// Sends what `build` makes of a fresh seq and reads until a frame with that seq that
    /// `last` accepts (an Error or a Bye instead fails it). Returns what ended it.
    fn request<'a>(
        &mut self,
        build: impl FnOnce(Option<u32>) -> Msg<'a>,
        last: impl Fn(&Msg<'_>) -> bool,
    ) -> io::Result<Reply> {
        let seq = self.next_seq();
        self.send(&build(Some(seq)))?;
        self.until(seq, last)
    }

    fn until(&mut self, seq: u32, last: impl Fn(&Msg<'_>) -> bool) -> io::Result<Reply> {
        let mut chunk = [0u8; 8192];
        let deadline = Instant::now() + TIMEOUT;
        loop {
            while let Status::Complete((payload, used)) =
                split(&self.buf).map_err(|e| io::Error::other(format!("frame length {}", e.0)))?
            {
                let answer = match Msg::decode(payload) {
                    Ok(Msg::Error(e)) => Some(Err(io::Error::other(format!("Error {}", e.code)))),
                    Ok(Msg::Bye(b)) => Some(Err(io::Error::other(format!("Bye {}", b.code)))),
                    Ok(Msg::Challenge(c)) if c.seq == Some(seq) => Some(Ok(Reply::Challenge(c.nonce))),
                    Ok(m) if m.seq() == Some(seq) && last(&m) => Some(Ok(Reply::Done)),
                    _ => None,
                };
                self.buf.drain(..used);
                if let Some(answer) = answer {
                    return answer;
                }
            }
            if Instant::now() > deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
            match self.t.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                // A read returns at most the chunk's length.
                Ok(n) => self.buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                // Under TLS: a record still coming in.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Identifies as `user`; with a password, logs in (or registers).
    fn ident(&mut self, user: &str, password: Option<(&str, bool)>) -> io::Result<()> {
        let name = Name::parse_user(user).map_err(|e| io::Error::other(format!("{user}: {e}")))?;
        let reply = self.request(
            |seq| {
                Msg::Ident(Ident {
                    auth: password.map(|_| AUTH_PASSWORD),
                    register: password.is_some_and(|(_, r)| r),
                    ..Ident::new(seq, &[VERSION], name)
                })
            },
            |_| true,
        )?;
        match (reply, password) {
            (Reply::Challenge(nonce), Some((password, _))) => {
                self.request(|seq| Msg::Auth(Auth { seq, nonce, password }), |_| true)?;
                Ok(())
            }
            (Reply::Challenge(_), None) => Err(io::Error::other("a Challenge without a password")),
            (Reply::Done, _) => Ok(()),
        }
    }

    fn sub(&mut self, topic: &str) -> io::Result<()> {
        let topic = parse(topic)?;
        self.request(|seq| Msg::Sub(Sub { seq, topic }), |_| true)
            .map(drop)
    }

    /// Publishes `text` to `topic` and waits for its echo or acknowledgement.
    fn publish(&mut self, topic: &str, text: &str) -> io::Result<()> {
        let topic = parse(topic)?;
        let build = |seq| {
            Msg::Message(Message {
                seq,
                topic,
                body: Body::Text(text),
                ctype: None,
                reply_to: None,
            })
        };
        self.request(build, |_| true).map(drop)
    }

    /// A Catchup (or with `query` a Search) of `topic`'s last 100 Events; `read` waits for its
    /// CatchupEnd, else the request is only sent.
    fn query(&mut self, topic: &str, query: Option<&str>, read: bool) -> io::Result<()> {
        let topic = parse(topic)?;
        let seq = self.next_seq();
        let range = Catchup {
            seq: Some(seq),
            topic,
            count: 100,
            since: None,
            until: None,
            after: None,
            before: None,
        };
        let msg = match query {
            Some(query) => Msg::Search(Search { range, query }),
            None => Msg::Catchup(range),
        };
        self.send(&msg)?;
        if read {
            self.until(seq, |m| matches!(m, Msg::CatchupEnd(_)))?;
        }
        Ok(())
    }

    /// Bye, then reads until the server closes (bounded by the read timeout).
    fn bye(mut self) {
        if self
            .send(&Msg::Bye(Bye {
                code: 0,
                reason: None,
            }))
            .is_ok()
        {
            let mut chunk = [0u8; 4096];
            let deadline = Instant::now() + TIMEOUT;
            while Instant::now() < deadline {
                match self.t.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
    }
}

/// What ended a request.
enum Reply {
    Done,
    Challenge(scalar::proto::Nonce),
}

fn timeouts(s: &std::net::TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))
}

fn parse(topic: &str) -> io::Result<Name<'_>> {
    Name::parse(topic).map_err(|e| io::Error::other(format!("{topic}: {e}")))
}

fn room(i: u64) -> String {
    format!("#soak{}@localhost", i % ROOMS as u64)
}

/// Counts a failure, and says the first few.
fn failed(counts: &Counts, what: &str, e: &io::Error) {
    if counts.failed.fetch_add(1, Ordering::Relaxed) < 20 {
        eprintln!("soak: {what}: {e}");
    }
}

/// Connection churn: worker `w` of two, about 20 connections a second.
fn churn(target: &Target, w: u64, counts: &Counts, stop: &AtomicBool) {
    let mut n = w;
    while !stop.load(Ordering::Relaxed) {
        let tls = n % 4 == 1;
        if let Err(e) = churn_once(target, n, tls) {
            failed(counts, "churn", &e);
        }
        counts.churn.fetch_add(1, Ordering::Relaxed);
        if tls {
            counts.tls.fetch_add(1, Ordering::Relaxed);
        }
        n += 2;
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn churn_once(target: &Target, n: u64, tls: bool) -> io::Result<()> {
    let mut l = Link::open(target, address(20, n), tls)?;
    l.ident(&format!("churn{n}"), None)?;
    // One in five leaves right after the Ident.
    if n % 5 == 3 {
        return Ok(());
    }
    for k in 0..3 {
        l.sub(&room(n + k))?;
    }
    l.publish(&room(n), &format!("churn {n} was here"))?;
    match n % 5 {
        // A drop in the middle of a frame: a length promising more than follows.
        0 => l.t.write_all(&[200, 0, 1, 2, 3]),
        // A drop without a Bye.
        1 => Ok(()),
        _ => {
            l.bye();
            Ok(())
        }
    }
}

/// The chat: `MEMBERS` members, each in turn publishing to its room and sending a direct
/// message to the next member; all reconnect every `CHAT_CYCLE`.
fn chat(target: &Target, counts: &Counts, stop: &AtomicBool) {
    let mut cycle = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = chat_cycle(target, cycle, counts, stop) {
            failed(counts, "chat", &e);
            std::thread::sleep(Duration::from_secs(1));
        }
        cycle += 1;
    }
}

fn chat_cycle(target: &Target, cycle: u64, counts: &Counts, stop: &AtomicBool) -> io::Result<()> {
    let mut members = Vec::with_capacity(MEMBERS);
    for m in 0..MEMBERS as u64 {
        let mut l = Link::open(target, Ipv4Addr::new(127, 30, 0, m as u8 + 1), m % 3 == 0)?;
        l.ident(&format!("member{m}"), None)?;
        l.sub(&room(m))?;
        members.push(l);
    }
    let end = Instant::now() + CHAT_CYCLE;
    let mut k = 0u64;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        for (m, l) in members.iter_mut().enumerate() {
            let m = m as u64;
            l.publish(&room(m), &format!("cycle {cycle} line {k} from member{m}"))?;
            counts.chat.fetch_add(1, Ordering::Relaxed);
            let to = format!("member{}@localhost", (m + 1) % MEMBERS as u64);
            l.publish(&to, &format!("psst {k}"))?;
            counts.dms.fetch_add(1, Ordering::Relaxed);
            // Now and then a catch-up of the member's own direct messages.
            if k % 10 == m % 10 {
                l.query(&format!("member{m}@localhost"), None, true)?;
                counts.queries.fetch_add(1, Ordering::Relaxed);
            }
        }
        k += 1;
        // Each member sends 2 a second at most: inside the default 5 a second.
        std::thread::sleep(Duration::from_millis(500));
    }
    for l in members {
        l.bye();
    }
    Ok(())
}

/// Accounts: about one registration, one login and one wrong password a second, each from its
/// own address (the login throttle is per address).
fn accounts(target: &Target, counts: &Counts, stop: &AtomicBool) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let src = |k: u64| address(40, 3 * n + k);
        let password = format!("password-{n}-long");
        let registered = Link::open(target, src(0), n.is_multiple_of(2))
            .and_then(|mut l| l.ident(&format!("acct{n}"), Some((&password, true))).map(|()| l));
        match registered {
            Ok(l) => {
                counts.accounts.fetch_add(1, Ordering::Relaxed);
                l.bye();
            }
            Err(e) => failed(counts, "register", &e),
        }
        let login = Link::open(target, src(1), false).and_then(|mut l| {
            l.ident(
                &format!("acct{}", n / 2),
                Some((&format!("password-{}-long", n / 2), false)),
            )?;
            let topic = parse("#soak0@localhost")?;
            l.sub("#soak0@localhost")?;
            l.request(
                |seq| {
                    Msg::MarkRead(MarkRead {
                        seq,
                        topic,
                        time: Some(scalar::client::unix_ms()),
                    })
                },
                |_| true,
            )?;
            Ok(l)
        });
        match login {
            Ok(l) => {
                counts.logins.fetch_add(1, Ordering::Relaxed);
                l.bye();
            }
            Err(e) => failed(counts, "login", &e),
        }
        let wrong = Link::open(target, src(2), false)
            .and_then(|mut l| l.ident(&format!("acct{}", n / 3), Some(("not-the-password", false))));
        match wrong {
            Err(e) if e.to_string() == "Error 601" => {
                counts.wrong.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => failed(counts, "wrong password", &e),
            Ok(()) => failed(counts, "wrong password", &io::Error::other("accepted")),
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Catchups and Searches of the rooms and of members' direct messages, every 100 ms; one in
/// three given up by closing the connection right after the request.
fn queries(target: &Target, counts: &Counts, stop: &AtomicBool) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let abandon = n % 3 == 2;
        let src = address(50, n);
        let asked = Link::open(target, src, n.is_multiple_of(4)).and_then(|mut l| {
            l.ident(&format!("reader{n}"), None)?;
            // A channel's history is its members' to read.
            let topic = room(n / 4);
            l.sub(&topic)?;
            let query = (n % 2 == 1).then_some("churn");
            l.query(&topic, query, !abandon)?;
            if !abandon {
                l.bye();
            }
            Ok(())
        });
        match asked {
            Ok(()) => {
                counts.queries.fetch_add(1, Ordering::Relaxed);
                if abandon {
                    counts.abandoned.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => failed(counts, "query", &e),
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
}
