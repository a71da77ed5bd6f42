//! Slow readers: a hostile fan-out, as a new user (a guest, no account) would try it. One
//! publisher writes 14,000-byte Messages to `#big` as fast as its socket takes them, never
//! waiting for an echo; `#big` has --subs subscribers that never read and 20 that read 8 KiB a
//! second. A canary in its own channel times its round trips alone, then during the attack: the
//! fairness the server keeps for everyone else. Each reader's ending is reported too: one the
//! server cuts off should get Error 503 `slow_consumer` then Bye (PROTOCOL.md §9), not EOF.

use crate::Opts;
use crate::chat::pct;
use crate::flood::flood_once;
use crate::peer::{is_event, join, message_frame, name};
use crate::server::Server;
use crate::source::{connect_from, handshake};
use scalar::client::Client;
use scalar::proto::frame::split;
use scalar::proto::{Body, ErrorCode, Message, Msg, Status};
use std::io::{self, Read};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const BIG: &str = "#big@localhost";
const CANARY: &str = "#canary@localhost";
const BODY_BYTES: usize = 14_000;
/// Publisher frames handed to the socket per write.
const BATCH: usize = 16;
const SLOW_READERS: usize = 20;
/// 8 KiB a second, as a trickle of small reads.
const SLOW_CHUNK: usize = 1024;
const SLOW_TICK: Duration = Duration::from_millis(125);
/// Every attacker's SO_RCVBUF (the kernel doubles it), set before connecting: small, so that
/// what they do not read waits in the server rather than on this side. (The server's own send
/// buffer still grows as Linux lets it, up to tcp_wmem's maximum.)
const RCVBUF: u32 = 16 * 1024;
/// How long the readers go on at their pace once the attack ends (about 30 s in all), past the
/// server's close grace (2 s). Then each drains the rest at full speed, to learn how its
/// connection ended without waiting for whatever the kernels hold to trickle in at 8 KiB/s.
const AFTER: Duration = Duration::from_secs(20);
/// A drain that gets nothing for this long finds the connection open.
const QUIET: Duration = Duration::from_secs(1);
const DRAIN: Duration = Duration::from_secs(10);
/// The canary's pause between round trips, its cap on them per phase, its patience for one.
const PAUSE: Duration = Duration::from_millis(2);
const MAX_ROUND_TRIPS: usize = 100_000;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the workload and prints its result lines.
pub fn run(opts: &Opts) -> io::Result<()> {
    let server = Server::start(opts.scalard.as_deref(), &opts.history)?;
    let addr = server.addr;
    let span = Duration::from_secs(opts.seconds);
    let mut canary = join(addr, "guest-canary@localhost", CANARY)?;
    let alone = round_trips(&mut canary, span);
    println!("slow-readers: canary alone: {}", summary(&alone));

    let non_readers = opts.subs.unwrap_or(200);
    let mut subs = Vec::with_capacity(non_readers + SLOW_READERS);
    for i in 0..non_readers + SLOW_READERS {
        let s = connect_from(Ipv4Addr::LOCALHOST, addr, Some(RCVBUF))?;
        subs.push(handshake(s, &format!("guest-r{i}@localhost"), BIG)?);
    }
    let body = "x".repeat(BODY_BYTES);
    let frame = message_frame(BIG, &body)?;
    let batch = frame.repeat(BATCH);
    let stop = AtomicBool::new(false);
    let until = Instant::now() + span + AFTER;
    let (under, publisher, ends) = std::thread::scope(|scope| {
        let readers: Vec<_> = subs
            .into_iter()
            .enumerate()
            .map(|(i, (s, pending))| scope.spawn(move || read(s, pending, i >= non_readers, until)))
            .collect();
        let publisher = scope.spawn(|| {
            let user = "guest-publisher@localhost";
            flood_once(addr, user, BIG, &batch, frame.len(), &body, &stop)
        });
        let under = round_trips(&mut canary, span);
        stop.store(true, Ordering::Relaxed);
        let publisher = publisher
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("publisher panicked")));
        let ends: Vec<End> = readers.into_iter().filter_map(|r| r.join().ok()).collect();
        (under, publisher, ends)
    });
    println!("slow-readers: canary under attack: {}", summary(&under));
    let p99 = |r: &Trips| pct(&r.0, 0.99);
    println!(
        "slow-readers: canary p99 {:.2} -> {:.2} ms ({:+.2} ms)",
        p99(&alone),
        p99(&under),
        p99(&under) - p99(&alone)
    );
    println!(
        "slow-readers: publisher ({BODY_BYTES}-byte bodies): {}",
        publisher?
    );
    let (never, slow) = ends.split_at(non_readers.min(ends.len()));
    println!(
        "slow-readers: {} readers at 8 KiB/s: {}; {} of the ends came while still at that pace",
        slow.len(),
        tally(slow),
        slow.iter().filter(|e| e.at_pace).count()
    );
    println!(
        "slow-readers: {} subscribers that never read: {}",
        never.len(),
        tally(never)
    );
    match server.stop() {
        Some(counts) => println!("slow-readers: the server's counts: {counts}"),
        None => println!("slow-readers: the server wrote no counts"),
    }
    Ok(())
}

/// Round-trip times in microseconds, sorted, and the error that stopped them early, if any.
struct Trips(Vec<u32>, Option<String>);

/// For `span` (at most `MAX_ROUND_TRIPS`): a small Message to the canary's own channel, timed
/// until its echo, then `PAUSE`.
fn round_trips(c: &mut Client, span: Duration) -> Trips {
    let end = Instant::now() + span;
    let mut t = Trips(Vec::new(), None);
    while Instant::now() < end && t.0.len() < MAX_ROUND_TRIPS {
        let sent = Instant::now();
        let echo = c.request(TIMEOUT, |seq| {
            let body = Body::Text("canary");
            let topic = name(CANARY);
            Msg::Message(Message {
                seq,
                topic,
                body,
                ctype: None,
                reply_to: None,
            })
        });
        match echo {
            Ok(_) => {
                t.0.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX))
            }
            Err(e) => {
                t.1 = Some(e.to_string());
                break;
            }
        }
        std::thread::sleep(PAUSE);
    }
    t.0.sort_unstable();
    t
}

fn summary(Trips(us, failed): &Trips) -> String {
    let pcts = format!(
        "p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.2} ms ({} round trips)",
        pct(us, 0.50),
        pct(us, 0.99),
        pct(us, 0.999),
        pct(us, 1.0),
        us.len()
    );
    match failed {
        Some(e) => format!("{pcts}; then failed: {e}"),
        None => pcts,
    }
}

/// What one subscriber of `#big` got, and how its connection ended.
#[derive(Default)]
struct End {
    events: u64,
    /// The code of the last Error frame.
    error: Option<u16>,
    bye: bool,
    /// EOF or a reset: the server closed the connection.
    closed: bool,
    /// It closed while the reader still kept to its pace (rather than in the final drain).
    at_pace: bool,
    /// Bytes read and not yet a whole frame: at the close, a truncated frame.
    buf: Vec<u8>,
}

impl End {
    /// One read into `chunk`; counts the whole frames. Returns whether bytes came.
    fn read(&mut self, s: &mut TcpStream, chunk: &mut [u8]) -> bool {
        use io::ErrorKind::{Interrupted, TimedOut, WouldBlock};
        let n = match s.read(chunk) {
            Ok(n) if n > 0 => n,
            Err(e) if matches!(e.kind(), WouldBlock | TimedOut | Interrupted) => return false,
            // EOF, or a reset.
            _ => {
                self.closed = true;
                return false;
            }
        };
        self.buf.extend_from_slice(&chunk[..n]);
        let mut used = 0;
        while let Ok(Status::Complete((payload, len))) = split(&self.buf[used..]) {
            used += len;
            if is_event(payload) {
                self.events += 1;
            } else {
                match Msg::decode(payload) {
                    Ok(Msg::Error(e)) => self.error = Some(e.code),
                    Ok(Msg::Bye(_)) => self.bye = true,
                    _ => {}
                }
            }
        }
        self.buf.drain(..used);
        true
    }
}

/// One subscriber of `#big` until `until`: 1 KiB every `SLOW_TICK` if `slow`, else nothing at
/// all. Then it drains what is left as fast as it comes, until the connection ends or stays
/// quiet for `QUIET`.
fn read(mut s: TcpStream, pending: Vec<u8>, slow: bool, until: Instant) -> End {
    let mut end = End {
        buf: pending,
        ..End::default()
    };
    let mut chunk = vec![0u8; 64 * 1024];
    // A read waits at most one tick, so that the pace holds when nothing comes.
    let _ = s.set_read_timeout(Some(SLOW_TICK));
    let mut next = Instant::now();
    while slow && !end.closed && next < until {
        end.read(&mut s, &mut chunk[..SLOW_CHUNK]);
        next += SLOW_TICK;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    std::thread::sleep(until.saturating_duration_since(Instant::now()));
    end.at_pace = end.closed;
    let _ = s.set_read_timeout(Some(QUIET));
    let give_up = Instant::now() + DRAIN;
    while !end.closed && Instant::now() < give_up && end.read(&mut s, &mut chunk) {}
    end
}

/// How a group of subscribers' connections ended, in one line.
fn tally(ends: &[End]) -> String {
    let count = |f: &dyn Fn(&End) -> bool| ends.iter().filter(|e| f(e)).count();
    let cut = |e: &End| e.error == Some(ErrorCode::SlowConsumer as u16) && e.bye;
    let mut events: Vec<u64> = ends.iter().map(|e| e.events).collect();
    events.sort_unstable();
    format!(
        "{} ended with Error 503 + Bye, {} with a truncated frame + EOF, {} with EOF at a frame \
         boundary without the reason, {} still connected; whole Events read min {} median {} max {}",
        count(&cut),
        count(&|e| !cut(e) && e.closed && !e.buf.is_empty()),
        count(&|e| !cut(e) && e.closed && e.buf.is_empty()),
        count(&|e| !e.closed),
        events.first().unwrap_or(&0),
        events.get(events.len() / 2).unwrap_or(&0),
        events.last().unwrap_or(&0),
    )
}
