//! Login storm: the chat workload alone, then beside a storm of wrong passwords against
//! registered accounts from many loopback addresses (127.0.0.2 and up, so the per-address
//! throttle sees a crowd, not one attacker). Reports chat latency both ways and what the
//! storm got: wrong-password verdicts (Argon2id checks that ran) and throttled refusals.

use crate::Opts;
use crate::chat::{self, pct};
use crate::server::Server;
use crate::source::connect_from;
use scalar::client::{Client, Login};
use scalar::proto::frame::split;
use scalar::proto::{AUTH_PASSWORD, Auth, Ident, Msg, Name, Status, VERSION};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Accounts under attack.
const ACCOUNTS: usize = 100;
/// Attackers' connections in flight at once.
const ATTACKERS: usize = 64;
/// Source addresses the attackers spread over.
const ADDRESSES: u8 = 250;

/// Runs the workload and prints its result lines.
pub fn run(opts: &Opts) -> io::Result<()> {
    let server = Server::start_with_accounts(opts)?;
    let made = Instant::now();
    for i in 0..ACCOUNTS {
        let login = Login {
            password: format!("right-password-{i}"),
            register: true,
        };
        // Registrations count against the address's login budget (602 beyond it): wait for it
        // to leak, as a client would, a bounded number of times.
        let mut tries = 0;
        loop {
            let mut c =
                Client::connect_raw(server.addr, Duration::from_secs(10)).map_err(io::Error::other)?;
            match c.identify(&format!("acct{i}"), Some(&login), Duration::from_secs(10)) {
                Ok(()) => break,
                Err(scalar::client::ClientError::Refused { code: 602, .. }) if tries < 30 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }
    eprintln!(
        "login: {ACCOUNTS} accounts registered in {:.1} s",
        made.elapsed().as_secs_f64()
    );

    let alone = chat::measure(&server, opts)?;
    println!("login-storm: chat alone: {alone}");

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let rate = opts.storm_rate.unwrap_or(300).max(1);
    let unknown = opts.storm_unknown;
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|a| {
            let (stop, counts, addr) = (stop.clone(), counts.clone(), server.addr);
            // Each attacker keeps to its share of the rate.
            let gap = Duration::from_secs(1) * ATTACKERS as u32 / rate;
            let prefix = if unknown { "nobody" } else { "acct" };
            std::thread::spawn(move || attack(a, prefix, addr, gap, &stop, &counts))
        })
        .collect();
    let started = Instant::now();
    let storm = chat::measure(&server, opts);
    stop.store(true, Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    for a in attackers {
        let _ = a.join();
    }
    let storm = storm?;
    println!("login-storm: chat during the storm: {storm}");
    let (wrong, throttled, other) = (
        counts.wrong.load(Ordering::Relaxed),
        counts.throttled.load(Ordering::Relaxed),
        counts.other.load(Ordering::Relaxed),
    );
    println!(
        "login-storm{}: {:.0} attempts/s asked, {:.0}/s made: {:.0}/s refused 601 (each an Argon2id \
         check unless the names are unknown), {:.0}/s throttled (602), {other} other outcomes; chat p99 \
         {:.2} -> {:.2} ms ({:+.2} ms)",
        if unknown { " (unknown names)" } else { "" },
        f64::from(rate),
        (wrong + throttled + other) as f64 / secs,
        wrong as f64 / secs,
        throttled as f64 / secs,
        pct(&alone.latencies_us, 0.99),
        pct(&storm.latencies_us, 0.99),
        pct(&storm.latencies_us, 0.99) - pct(&alone.latencies_us, 0.99),
    );
    Ok(())
}

#[derive(Default)]
struct Counts {
    wrong: AtomicU64,
    throttled: AtomicU64,
    other: AtomicU64,
}

/// One attacker: wrong passwords, one connection per attempt, from its own addresses.
/// `prefix` names the accounts attacked: `acct` (registered: each attempt that gets through the
/// throttle costs an Argon2id check) or `nobody` (unknown: refused at once, no hashing).
fn attack(a: usize, prefix: &str, server: SocketAddr, gap: Duration, stop: &AtomicBool, counts: &Counts) {
    let mut next = Instant::now();
    let mut k = a;
    while !stop.load(Ordering::Relaxed) {
        let src = Ipv4Addr::new(127, 0, 0, 2 + (k % usize::from(ADDRESSES)) as u8);
        let code = attempt(src, server, &format!("{prefix}{}", k % ACCOUNTS)).unwrap_or(0);
        let c = match code {
            601 => &counts.wrong,
            602 => &counts.throttled,
            _ => &counts.other,
        };
        c.fetch_add(1, Ordering::Relaxed);
        k += ATTACKERS;
        next += gap;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// One wrong-password attempt; returns the error code it ended with.
fn attempt(src: Ipv4Addr, server: SocketAddr, user: &str) -> io::Result<u16> {
    let mut s = connect_from(src, server, None)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = Name::parse_user(user).map_err(|e| io::Error::other(e.to_string()))?;
    let ident = Ident {
        auth: Some(AUTH_PASSWORD),
        ..Ident::new(Some(1), &[VERSION], name)
    };
    let mut buf = vec![0u8; scalar::proto::MAX_FRAME];
    send(&mut s, &Msg::Ident(ident))?;
    let nonce = match recv(&mut s, &mut buf)? {
        Reply::Challenge(n) => n,
        Reply::Error(code) => return Ok(code),
    };
    let auth = Auth {
        seq: Some(2),
        nonce,
        password: "wrong",
    };
    send(&mut s, &Msg::Auth(auth))?;
    match recv(&mut s, &mut buf)? {
        Reply::Error(code) => Ok(code),
        Reply::Challenge(_) => Ok(0),
    }
}

enum Reply {
    Challenge(scalar::proto::Nonce),
    Error(u16),
}

fn send(s: &mut TcpStream, m: &Msg<'_>) -> io::Result<()> {
    s.write_all(&m.to_frame().map_err(|_| io::Error::other("frame"))?)
}

fn recv(s: &mut TcpStream, buf: &mut [u8]) -> io::Result<Reply> {
    let mut len = 0;
    loop {
        if let Ok(Status::Complete((payload, _))) = split(buf.get(..len).unwrap_or_default()) {
            return match Msg::decode(payload) {
                Ok(Msg::Challenge(c)) => Ok(Reply::Challenge(c.nonce)),
                Ok(Msg::Error(e)) => Ok(Reply::Error(e.code)),
                _ => Ok(Reply::Error(0)),
            };
        }
        let n = s.read(buf.get_mut(len..).unwrap_or_default())?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        len += n;
    }
}
