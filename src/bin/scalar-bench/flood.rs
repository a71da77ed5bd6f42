//! Flood: the chat workload alone, then beside one client that publishes into one of its rooms
//! as fast as its socket takes frames, never waiting for an echo, with the server's default
//! flood limits. Reports chat latency and throughput both ways, and what the flooder got: how
//! many of its Messages came through, and when it was cut off with 506 `flooding`.

use crate::Opts;
use crate::chat::{self, ChatResult, pct};
use crate::peer::{is_event, join, message_frame};
use crate::server::Server;
use scalar::proto::frame::split;
use scalar::proto::{Msg, Status};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const FLOODER: &str = "flooder@localhost";
/// The flooder's body. It ends in letters, so the chat members, who read a send time from the
/// last digits of every body, do not count its Events as chat deliveries.
const BODY: &str =
    "flood flood flood flood flood flood flood flood flood flood flood flood flood flood flood flood";
/// Frames handed to the socket per write.
const BATCH: usize = 512;

/// Runs the workload and prints its result lines.
pub fn run(opts: &Opts) -> io::Result<()> {
    // The default message and byte limits; only the connection rate is off, because every
    // chat member connects from 127.0.0.1 within a second or two.
    let server =
        Server::start_with_flood_limits(opts.scalard.as_deref(), &opts.history, &["--connect-rate", "off"])?;
    let alone = chat::measure(&server, opts)?;
    println!("flood: chat alone: {alone}");
    let stop = AtomicBool::new(false);
    let (beside, conns) = std::thread::scope(|scope| {
        let flooder = scope.spawn(|| flood(server.addr, &stop));
        let beside = chat::measure(&server, opts);
        stop.store(true, Ordering::Relaxed);
        let conns = flooder
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("flooder panicked")));
        (beside, conns)
    });
    let (beside, conns) = (beside?, conns?);
    println!("flood: chat beside the flooder: {beside}");
    for (i, c) in conns.iter().enumerate() {
        println!("flood: flooder connection {}: {c}", i + 1);
    }
    let p99 = |r: &ChatResult| pct(&r.latencies_us, 0.99);
    println!(
        "flood: chat p99 {:.2} -> {:.2} ms ({:+.2} ms), deliveries/s {:.0} -> {:.0} ({:+.2}%)",
        p99(&alone),
        p99(&beside),
        p99(&beside) - p99(&alone),
        alone.per_sec(),
        beside.per_sec(),
        (beside.per_sec() / alone.per_sec() - 1.0) * 100.0
    );
    Ok(())
}

/// What one of the flooder's connections sent and got.
pub struct Conn {
    /// How long it flooded.
    secs: f64,
    /// Messages handed to the socket.
    sent: u64,
    /// Its own Events that came back: the Messages the server let through.
    through: u64,
    /// The Error it got, and when (seconds after it started flooding).
    error: Option<(u16, f64)>,
    /// Whether the server closed it (rather than the workload ending).
    closed: bool,
}

impl std::fmt::Display for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} s, {} Messages written, {} let through ({:.1}/s)",
            self.secs,
            self.sent,
            self.through,
            self.through as f64 / self.secs
        )?;
        match self.error {
            Some((code, at)) => write!(f, "; Error {code} after {at:.2} s")?,
            None => write!(f, "; no Error")?,
        }
        let end = if self.closed {
            "closed by the server"
        } else {
            "open at the end"
        };
        write!(f, "; {end}")
    }
}

/// Until `stop`: one connection at a time floods the first chat room. One the server closes
/// is replaced at once, as a flooding script would do, so the flood lasts the whole run.
fn flood(addr: SocketAddr, stop: &AtomicBool) -> io::Result<Vec<Conn>> {
    let room = chat::room(0);
    let frame = message_frame(&room, BODY)?;
    let batch = frame.repeat(BATCH);
    let mut conns = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        conns.push(flood_once(addr, FLOODER, &room, &batch, frame.len(), BODY, stop)?);
    }
    Ok(conns)
}

/// One connection, as `user` subscribed to `channel`: writes `batch` (whole frames of
/// `frame_len` bytes, Messages with `body`) over and over as fast as the socket takes it, until
/// `stop` or the server closes it, while another thread reads and counts what comes back.
pub fn flood_once(
    addr: SocketAddr,
    user: &str,
    channel: &str,
    batch: &[u8],
    frame_len: usize,
    body: &str,
    stop: &AtomicBool,
) -> io::Result<Conn> {
    let c = join(addr, user, channel)?;
    let (stream, pending) = c.into_parts();
    let mut w = stream
        .into_plain()
        .map_err(|_| io::Error::other("scalar-bench peers speak plain TCP"))?;
    let r = w.try_clone()?;
    // A write blocks once the server holds the connection: wake now and then to see `stop`.
    w.set_write_timeout(Some(Duration::from_millis(100)))?;
    r.set_read_timeout(None)?;
    let start = Instant::now();
    let ended = AtomicBool::new(false);
    let (written, closed, got) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| read_back(r, pending, body, start, &ended));
        let (mut pos, mut written, mut closed) = (0, 0u64, false);
        while !stop.load(Ordering::Relaxed) && !closed {
            match w.write(&batch[pos..]) {
                Ok(n) => {
                    written += n as u64;
                    pos = (pos + n) % batch.len();
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => closed = true,
            }
            closed |= ended.load(Ordering::Relaxed);
        }
        let _ = w.shutdown(Shutdown::Both);
        (written, closed, reader.join())
    });
    let (through, error) = got.map_err(|_| io::Error::other("flooder's reader panicked"))?;
    Ok(Conn {
        secs: start.elapsed().as_secs_f64(),
        sent: written / frame_len as u64,
        through,
        error,
        closed,
    })
}

/// Reads everything the server sends the flooder until the connection ends (then sets
/// `ended`): counts its own Events (those with `body`) and notes the first Error.
fn read_back(
    mut r: TcpStream,
    mut buf: Vec<u8>,
    body: &str,
    start: Instant,
    ended: &AtomicBool,
) -> (u64, Option<(u16, f64)>) {
    let (mut through, mut error) = (0, None);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let mut used = 0;
        while let Ok(Status::Complete((payload, n))) = split(&buf[used..]) {
            used += n;
            if is_event(payload) {
                through += u64::from(payload.ends_with(body.as_bytes()));
            } else if let Ok(Msg::Error(e)) = Msg::decode(payload) {
                error.get_or_insert((e.code, start.elapsed().as_secs_f64()));
            }
        }
        buf.drain(..used);
        match r.read(&mut chunk) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A reset after the server's close ends it too.
            Ok(0) | Err(_) => {
                ended.store(true, Ordering::Relaxed);
                return (through, error);
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
