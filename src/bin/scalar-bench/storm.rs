//! Connect storm: one address (127.0.0.1) opens `--storm-rate` new connections a second, each
//! waiting for the first frame and closing, against the server's default connection rate per
//! address: first with nothing else running, then beside the chat workload (after the same chat
//! alone). The chat members connect first, from other loopback addresses, at most
//! `PER_ADDRESS` each, so that the rate never refuses them. Reports what the storm got
//! (admitted, refused with 505), the server's CPU time with and without it, and chat latency
//! both ways.

use crate::Opts;
use crate::chat::{self, ChatResult, Members, pct};
use crate::server::Server;
use mio::{Events, Interest, Poll, Token};
use scalar::proto::frame::split;
use scalar::proto::{ErrorCode, Msg, Status};
use slab::Slab;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// How long a storm connection waits for the server's first frame. The server says nothing to
/// a connection it admits until that one identifies; a refusal comes at once.
const FIRST_FRAME: Duration = Duration::from_millis(100);
/// Chat members per source address: half the default connection rate's burst of 32.
const PER_ADDRESS: usize = 16;

/// Runs the workload and prints its result lines.
pub fn run(opts: &Opts) -> io::Result<()> {
    let server = Server::start_with_flood_limits(opts.scalard.as_deref(), &opts.history, &[])?;
    let rate = opts.storm_rate.unwrap_or(1000).max(1);
    let span = Duration::from_secs(opts.seconds);
    let secs = opts.seconds as f64;
    // The storm with nothing else running gives the server's cost of it without the chat's
    // noise; the address's connection rate has leaked back to zero long before the next one.
    let (cpu_bare, bare) = cpu_during(&server, || storm(server.addr, rate, span));
    let bare = bare?;
    println!("connect-storm: storm alone: {}", bare.summary(rate, secs));
    let (alone, cpu_alone, _) = window(&server, opts, None)?;
    println!("connect-storm: chat alone: {alone}");
    let (storm, cpu_storm, k) = window(&server, opts, Some(rate))?;
    println!("connect-storm: chat during the storm: {storm}");
    println!("connect-storm: storm beside the chat: {}", k.summary(rate, secs));
    let per_refusal = |ms: f64, k: &Knocks| ms * 1000.0 / k.refused.max(1) as f64;
    println!(
        "connect-storm: server CPU over {secs:.0} s: storm alone {cpu_bare:.0} ms = {:.1} µs per refused \
         connection; chat alone {cpu_alone:.0} ms, chat and storm {cpu_storm:.0} ms: {:+.0} ms = {:.1} µs \
         per refused connection",
        per_refusal(cpu_bare, &bare),
        cpu_storm - cpu_alone,
        per_refusal(cpu_storm - cpu_alone, &k),
    );
    let p99 = |r: &ChatResult| pct(&r.latencies_us, 0.99);
    println!(
        "connect-storm: chat p99 {:.2} -> {:.2} ms ({:+.2} ms), deliveries/s {:.0} -> {:.0}",
        p99(&alone),
        p99(&storm),
        p99(&storm) - p99(&alone),
        alone.per_sec(),
        storm.per_sec()
    );
    let counted = bare.refused + k.refused;
    match server.stop() {
        Some(counts) => {
            println!("connect-storm: the server's counts: {counts} (the storms saw {counted} refusals)")
        }
        None => println!("connect-storm: the server wrote no counts"),
    }
    Ok(())
}

/// The loopback address chat member `i` connects from: 127.1.0.1 and up.
fn member_address(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 1, 0, 1)) + (i / PER_ADDRESS) as u32)
}

/// The server's CPU milliseconds while `f` runs, and what `f` returned.
fn cpu_during<T>(server: &Server, f: impl FnOnce() -> T) -> (f64, T) {
    let before = server.cpu_ms();
    let t = f();
    (server.cpu_ms() - before, t)
}

/// One chat run. Over its measured window another thread reads the server's CPU time and,
/// with a `rate`, storms. Returns the chat, the server's CPU milliseconds over the window and
/// what the storm got.
fn window(server: &Server, opts: &Opts, rate: Option<u32>) -> io::Result<(ChatResult, f64, Knocks)> {
    let members = Members::connect(server, opts, Some(member_address))?;
    let span = Duration::from_secs(opts.seconds);
    std::thread::scope(|scope| {
        let side = scope.spawn(|| {
            std::thread::sleep(chat::WARMUP);
            cpu_during(server, || match rate {
                Some(rate) => storm(server.addr, rate, span),
                None => {
                    std::thread::sleep(span);
                    Ok(Knocks::default())
                }
            })
        });
        let chat = members.talk(opts);
        let (cpu, knocks) = side.join().map_err(|_| io::Error::other("storm panicked"))?;
        Ok((chat?, cpu, knocks?))
    })
}

/// What the storm's connections got.
#[derive(Default)]
struct Knocks {
    /// No frame within `FIRST_FRAME`: the server took the connection.
    admitted: u64,
    /// Error 505 `connecting_too_fast`.
    refused: u64,
    /// Another frame or error, or closed without one.
    other: u64,
    /// connect() failed, or the TCP handshake did not finish within `FIRST_FRAME`.
    failed: u64,
    /// For each refusal, microseconds from connect() to the Error.
    refused_us: Vec<u32>,
}

impl Knocks {
    fn made(&self) -> u64 {
        self.admitted + self.refused + self.other + self.failed
    }

    /// One line: what `rate` a second asked for over `secs` got.
    fn summary(&self, rate: u32, secs: f64) -> String {
        let mut us = self.refused_us.clone();
        us.sort_unstable();
        format!(
            "{rate} connections/s asked, {:.0}/s made from 127.0.0.1 over {secs:.0} s: {} admitted (no \
             frame within {} ms), {} refused 505 (the Error came after ms p50 {:.2} p99 {:.2} max {:.2}), \
             {} other, {} failed to connect",
            self.made() as f64 / secs,
            self.admitted,
            FIRST_FRAME.as_millis(),
            self.refused,
            pct(&us, 0.5),
            pct(&us, 0.99),
            pct(&us, 1.0),
            self.other,
            self.failed,
        )
    }
}

/// A storm connection waiting for its first frame.
struct Knock {
    sock: mio::net::TcpStream,
    opened: Instant,
    /// The TCP handshake finished (the socket became writable).
    connected: bool,
    buf: [u8; 1024],
    len: usize,
}

/// `rate` new connections a second from 127.0.0.1 for `span`, opened on time whatever the
/// server does with them: one thread, non-blocking sockets, each closed once its first frame
/// arrives or `FIRST_FRAME` has passed.
fn storm(addr: SocketAddr, rate: u32, span: Duration) -> io::Result<Knocks> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut open: Slab<Knock> = Slab::new();
    // Deadlines in the order the connections were opened, which is their deadlines' order.
    let mut deadlines: VecDeque<(Instant, usize)> = VecDeque::new();
    let mut k = Knocks::default();
    let gap = Duration::from_secs(1) / rate;
    let mut next = Instant::now();
    let end = next + span;
    loop {
        let now = Instant::now();
        while next <= now && next < end {
            next += gap;
            match mio::net::TcpStream::connect(addr) {
                Ok(mut sock) => {
                    let entry = open.vacant_entry();
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    poll.registry()
                        .register(&mut sock, Token(entry.key()), interest)?;
                    deadlines.push_back((now + FIRST_FRAME, entry.key()));
                    entry.insert(Knock {
                        sock,
                        opened: now,
                        connected: false,
                        buf: [0; 1024],
                        len: 0,
                    });
                }
                Err(_) => k.failed += 1,
            }
        }
        while let Some(&(deadline, key)) = deadlines.front() {
            if deadline > now {
                break;
            }
            deadlines.pop_front();
            // The key may since belong to a newer connection, with a later deadline.
            if open.get(key).is_some_and(|c| c.opened + FIRST_FRAME == deadline) {
                let c = open.remove(key);
                match (c.connected, c.len) {
                    (false, _) => k.failed += 1,
                    (true, 0) => k.admitted += 1,
                    (true, _) => k.other += 1,
                }
            }
        }
        if next >= end && open.is_empty() {
            return Ok(k);
        }
        let wake = deadlines.front().map_or(next, |&(d, _)| d.min(next));
        poll.poll(&mut events, Some(wake.saturating_duration_since(Instant::now())))?;
        for ev in events.iter() {
            let key = ev.token().0;
            let Some(c) = open.get_mut(key) else { continue };
            if ev.is_writable() {
                c.connected = c.sock.peer_addr().is_ok();
            }
            if let Some(outcome) = read_first(c) {
                let c = open.remove(key);
                match outcome {
                    Some(code) if code == ErrorCode::ConnectingTooFast as u16 => {
                        k.refused += 1;
                        k.refused_us.push(c.opened.elapsed().as_micros() as u32);
                    }
                    _ => k.other += 1,
                }
            }
        }
    }
}

/// Reads what has arrived. `None`: keep waiting; `Some(Some(code))`: the first frame was an
/// Error with that code; `Some(None)`: any other frame, or the connection ended without one.
fn read_first(c: &mut Knock) -> Option<Option<u16>> {
    loop {
        if let Ok(Status::Complete((payload, _))) = split(&c.buf[..c.len]) {
            return Some(match Msg::decode(payload) {
                Ok(Msg::Error(e)) => Some(e.code),
                _ => None,
            });
        }
        match c.sock.read(&mut c.buf[c.len..]) {
            Ok(0) => return Some(None),
            Ok(n) => c.len += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Some(None),
        }
    }
}
