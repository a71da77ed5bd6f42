//! Ban abuse: the chat workload alone, then beside a channel whose operators filled its ban
//! list (500 patterns, each slow to match by backtracking) and 30 connections of one banned ID
//! that send Subs to it as fast as their sockets take them, each refused with 801, and connect
//! again when the server closes them. The server keeps its default flood limits and `max-subs`
//! (only the connection rate and the per-address limits are raised, as everyone connects from
//! loopback).

use crate::Opts;
use crate::chat::{self, pct};
use crate::server::Server;
use scalar::client::Client;
use scalar::proto::frame::split;
use scalar::proto::{Action, Mod, Msg, Name, Status, Sub};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CHANNEL: &str = "#bans@localhost";
/// Operators adding the bans: each within its burst of 20 Messages.
const OPS: usize = 25;
const ATTACKERS: usize = 30;
/// Banned by the last pattern; the 499 others fail on it only after backtracking through its
/// run of `a`s.
const BANNED: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@localhost";
/// Sub frames handed to the socket per write.
const BATCH: usize = 512;

/// Runs the workload and prints its result lines.
pub fn run(opts: &Opts) -> io::Result<()> {
    // The harness raises max-subs for the other workloads; the free Subs follow it.
    let raised = ["--connect-rate", "off", "--max-subs", "64"];
    let server = Server::start_with_flood_limits(opts.scalard.as_deref(), &opts.history, &raised)?;
    let alone = chat::measure(&server, opts)?;
    println!("ban-abuse: chat alone: {alone}");
    // The operators stay connected, so the channel and its bans live on.
    let _ops = fill(&server, CHANNEL, Action::Ban, &patterns())?;
    let topic = Name::parse(CHANNEL).map_err(|e| io::Error::other(e.to_string()))?;
    let sub = Msg::Sub(Sub { seq: Some(1), topic })
        .to_frame()
        .map_err(|_| io::Error::other("frame"))?;
    let attack = Attack {
        name: "ban-abuse",
        what: "refused Subs",
        batch: sub.repeat(BATCH),
    };
    attack.beside(
        &server,
        opts,
        &alone,
        &vec![BANNED.to_string(); ATTACKERS],
        "801, 506",
    )
}

/// Connections sending the same frames over and over, each with an ID of `ids`, beside chat.
pub struct Attack {
    /// The workload, to begin its lines.
    pub name: &'static str,
    /// What the connections send, for the lines.
    pub what: &'static str,
    /// What each connection writes, again and again.
    pub batch: Vec<u8>,
}

impl Attack {
    /// Measures chat while the attack runs and prints it against `alone`; `errors` names the
    /// codes the attackers get back.
    pub fn beside(
        &self,
        server: &Server,
        opts: &Opts,
        alone: &chat::ChatResult,
        ids: &[String],
        errors: &str,
    ) -> io::Result<()> {
        let stop = AtomicBool::new(false);
        let (answered, closed) = (AtomicU64::new(0), AtomicU64::new(0));
        let start = Instant::now();
        let beside = std::thread::scope(|scope| {
            let attackers: Vec<_> = ids
                .iter()
                .map(|id| scope.spawn(|| self.attack(server.addr, id, &stop, &answered, &closed)))
                .collect();
            let beside = chat::measure(server, opts);
            stop.store(true, Ordering::Relaxed);
            for a in attackers {
                a.join()
                    .unwrap_or_else(|_| Err(io::Error::other("attacker panicked")))?;
            }
            beside
        })?;
        let secs = start.elapsed().as_secs_f64();
        let (name, n) = (self.name, ids.len());
        println!(
            "{name}: chat beside {n} connections sending {}: {beside}",
            self.what
        );
        let p99 = |r: &chat::ChatResult| pct(&r.latencies_us, 0.99);
        println!(
            "{name}: chat p99 {:.2} -> {:.2} ms ({:+.2} ms); {} Errors ({errors}) in {secs:.1} s ({:.0}/s); {} connections closed by the server and made again",
            p99(alone),
            p99(&beside),
            p99(&beside) - p99(alone),
            answered.load(Ordering::Relaxed),
            answered.load(Ordering::Relaxed) as f64 / secs,
            closed.load(Ordering::Relaxed),
        );
        Ok(())
    }
}

/// The 500 bans: 499 patterns that end in a domain no ID has, then [`BANNED`] itself.
fn patterns() -> Vec<String> {
    let run = "a".repeat(31);
    list_of_500("abcdefghijklmnopqrstuvwxyz0123456789", BANNED, |x, y| {
        format!("*{run}@localhos{x}{y}")
    })
}

/// A full list: 499 patterns `each` makes of two of `chars`, then `last`.
pub fn list_of_500(chars: &str, last: &str, each: impl Fn(char, char) -> String) -> Vec<String> {
    let pairs = chars.chars().flat_map(|x| chars.chars().map(move |y| (x, y)));
    let mut all: Vec<String> = pairs.take(499).map(|(x, y)| each(x, y)).collect();
    all.push(last.into());
    all
}

/// The owner of `channel` names [`OPS`] operators, who `action` each of `patterns` (ban or
/// mute them); they are returned, to stay connected so that the channel lives on.
pub fn fill(server: &Server, channel: &str, action: Action, patterns: &[String]) -> io::Result<Vec<Client>> {
    let timeout = Duration::from_secs(10);
    let topic = Name::parse(channel).map_err(|e| io::Error::other(e.to_string()))?;
    let mut owner = server.join("owner@localhost", channel)?;
    let mut ops = vec![];
    for i in 0..OPS {
        let id = format!("op{i}@localhost");
        ops.push(server.join(&id, channel)?);
        moderate(&mut owner, topic, Action::Op, &id, timeout)?;
    }
    for (k, pattern) in patterns.iter().enumerate() {
        let op = ops
            .get_mut(k % OPS)
            .ok_or_else(|| io::Error::other("no operator"))?;
        moderate(op, topic, action, pattern, timeout)?;
    }
    ops.push(owner);
    Ok(ops)
}

/// Mod `action` on `target`, waiting for its record.
fn moderate(c: &mut Client, topic: Name<'_>, action: Action, target: &str, t: Duration) -> io::Result<()> {
    c.request(t, |seq| {
        Msg::Mod(Mod {
            until: None,
            seq,
            topic,
            action,
            target,
            reason: None,
            since: None,
        })
    })
    .map(drop)
    .map_err(io::Error::other)
}

impl Attack {
    /// One attacker until `stop`: a connection of `id` writing the batch; one the server
    /// closes (506, for keeping its read buffer full while held) is counted in `closed` and
    /// made again, as a script would, so the attack lasts the whole run.
    fn attack(
        &self,
        addr: SocketAddr,
        id: &str,
        stop: &AtomicBool,
        answered: &AtomicU64,
        closed: &AtomicU64,
    ) -> io::Result<()> {
        while !stop.load(Ordering::Relaxed) {
            if self.attack_once(addr, id, stop, answered)? {
                closed.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// One connection: writes the batch until `stop` or the server closes it (then true),
    /// while another thread counts the Errors that come back into `answered`.
    fn attack_once(
        &self,
        addr: SocketAddr,
        id: &str,
        stop: &AtomicBool,
        answered: &AtomicU64,
    ) -> io::Result<bool> {
        let c = Client::connect(addr, id, Duration::from_secs(10)).map_err(io::Error::other)?;
        let (stream, pending) = c.into_parts();
        let mut w = stream
            .into_plain()
            .map_err(|_| io::Error::other("scalar-bench peers speak plain TCP"))?;
        let batch = &self.batch;
        let r = w.try_clone()?;
        // A write blocks once the server holds the connection: wake now and then to see `stop`.
        w.set_write_timeout(Some(Duration::from_millis(100)))?;
        let ended = AtomicBool::new(false);
        let closed = std::thread::scope(|scope| {
            scope.spawn(|| count_refusals(r, pending, answered, &ended));
            let (mut pos, mut closed) = (0, false);
            while !stop.load(Ordering::Relaxed) && !closed {
                match w.write(batch.get(pos..).unwrap_or_default()) {
                    Ok(n) => pos = (pos + n) % batch.len(),
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => closed = true,
                }
                closed |= ended.load(Ordering::Relaxed);
            }
            // Ends the reader too.
            let _ = w.shutdown(Shutdown::Both);
            closed
        });
        Ok(closed)
    }
}

/// Counts the Errors the server sends on `r` (after those in `buf`) until the connection ends,
/// then sets `ended`.
fn count_refusals(mut r: TcpStream, mut buf: Vec<u8>, answered: &AtomicU64, ended: &AtomicBool) {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let mut used = 0;
        while let Some(Ok(Status::Complete((payload, n)))) = buf.get(used..).map(split) {
            used += n;
            if matches!(Msg::decode(payload), Ok(Msg::Error(_))) {
                answered.fetch_add(1, Ordering::Relaxed);
            }
        }
        buf.drain(..used);
        match r.read(&mut chunk) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(0) | Err(_) => {
                ended.store(true, Ordering::Relaxed);
                return;
            }
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
}
