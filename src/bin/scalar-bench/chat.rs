//! Chat: R rooms of M members, each member sending `rate` messages a second stamped with its send
//! time; every delivery's latency is measured on one clock (this process's).

use crate::Opts;
use crate::peer::{Peer, is_event, message_frame, tail_number};
use crate::server::Server;
use crate::source::join_from;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const DIGITS: usize = 16;
/// From the first send to the start of the measurement.
pub const WARMUP: Duration = Duration::from_secs(2);

/// Runs the workload and prints one result line.
pub fn run(opts: &Opts) -> io::Result<()> {
    let server = Server::start_for(opts)?;
    let r = measure(&server, opts)?;
    println!("{r}{}", if opts.tls { "; over TLS" } else { "" });
    Ok(())
}

/// What one chat run measured.
pub struct ChatResult {
    rooms: usize,
    members: usize,
    rate: u32,
    seconds: u64,
    expected: u64,
    late_sends: u64,
    /// Delivery latencies in microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl ChatResult {
    /// Deliveries a second over the measurement.
    pub fn per_sec(&self) -> f64 {
        self.latencies_us.len() as f64 / self.seconds as f64
    }
}

/// The `p` quantile of sorted microseconds, in milliseconds.
pub fn pct(sorted_us: &[u32], p: f64) -> f64 {
    let i = ((sorted_us.len() as f64 * p) as usize).min(sorted_us.len().saturating_sub(1));
    sorted_us.get(i).map_or(f64::NAN, |&us| us as f64 / 1000.0)
}

impl std::fmt::Display for ChatResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let l = &self.latencies_us;
        write!(
            f,
            "chat {}x{} at {}/s: {} deliveries in {} s = {:.0}/s (expected about {:.0}/s); \
             latency ms p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.2}; sends late >1ms: {}",
            self.rooms,
            self.members,
            self.rate,
            l.len(),
            self.seconds,
            self.per_sec(),
            self.expected as f64 / self.seconds as f64,
            pct(l, 0.50),
            pct(l, 0.99),
            pct(l, 0.999),
            pct(l, 1.0),
            self.late_sends,
        )
    }
}

/// The name of chat room `i`.
pub fn room(i: usize) -> String {
    format!("#room{i}@localhost")
}

/// Runs the chat workload against a running server.
pub fn measure(server: &Server, opts: &Opts) -> io::Result<ChatResult> {
    Members::connect(server, opts, None)?.talk(opts)
}

/// The chat's members, connected and subscribed to their rooms, not yet talking: a workload
/// can start something between the two.
pub struct Members {
    poll: Poll,
    peers: Vec<Peer>,
    /// Each member's Message frame, re-stamped with its send time for every send.
    frames: Vec<Vec<u8>>,
}

impl Members {
    /// Connects `--rooms` × `--members` members, member `i` from the loopback address
    /// `from(i)` if given (else from whatever address the kernel picks, 127.0.0.1).
    pub fn connect(server: &Server, opts: &Opts, from: Option<fn(usize) -> Ipv4Addr>) -> io::Result<Members> {
        let poll = Poll::new()?;
        let n = opts.rooms * opts.members;
        let mut peers = Vec::with_capacity(n);
        let mut frames = Vec::with_capacity(n);
        let body = "c".repeat(100);
        for i in 0..n {
            let room = room(i / opts.members);
            let user = format!("m{i}@localhost");
            let mut p = match from {
                None => Peer::new(server.join(&user, &room)?)?,
                Some(from) => join_from(from(i), server.addr, &user, &room)?,
            };
            poll.registry()
                .register(&mut p.sock, Token(i), Interest::READABLE)?;
            peers.push(p);
            frames.push(message_frame(&room, &body)?);
        }
        Ok(Members { poll, peers, frames })
    }

    /// Talks: [`WARMUP`], then `--seconds` measured. The members disconnect when it returns.
    pub fn talk(self, opts: &Opts) -> io::Result<ChatResult> {
        let Members {
            mut poll,
            mut peers,
            mut frames,
        } = self;
        let n = peers.len();
        // Sends are spread evenly: one member every `gap`, each member every 1/rate seconds.
        let gap = Duration::from_secs(1) / (n as u32 * opts.rate.max(1));
        let epoch = Instant::now();
        let measure_from = epoch + WARMUP;
        let end = measure_from + Duration::from_secs(opts.seconds);
        let mut latencies_us: Vec<u32> = Vec::new();
        let mut events = Events::with_capacity(4096);
        let mut k: u64 = 0;
        let mut late_sends = 0u64;
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            while epoch + gap * k as u32 <= now {
                let i = (k % n as u64) as usize;
                let f = &mut frames[i];
                let at = f.len() - DIGITS;
                let stamp = now.duration_since(epoch).as_nanos() as u64;
                f[at..].copy_from_slice(format!("{stamp:0DIGITS$}").as_bytes());
                peers[i].queue(f);
                peers[i].flush()?;
                if now.duration_since(epoch + gap * k as u32) > Duration::from_millis(1) {
                    late_sends += 1;
                }
                k += 1;
            }
            let wait = (epoch + gap * k as u32).saturating_duration_since(Instant::now());
            poll.poll(&mut events, Some(wait))?;
            let now = Instant::now();
            let t = now.duration_since(epoch).as_nanos() as u64;
            for ev in events.iter() {
                let i = ev.token().0;
                peers[i].read_frames(|payload| {
                    if is_event(payload)
                        && now >= measure_from
                        && let Some(sent) = tail_number(payload, DIGITS)
                    {
                        latencies_us.push((t.saturating_sub(sent) / 1000) as u32);
                    }
                })?;
            }
        }
        latencies_us.sort_unstable();
        Ok(ChatResult {
            rooms: opts.rooms,
            members: opts.members,
            rate: opts.rate,
            seconds: opts.seconds,
            expected: opts.seconds * u64::from(opts.rate) * n as u64 * opts.members as u64,
            late_sends,
            latencies_us,
        })
    }
}
