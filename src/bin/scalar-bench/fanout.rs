//! Fan-out: one publisher, S subscribers in one channel, 100-byte bodies. The publisher keeps at
//! most WINDOW messages ahead of the slowest subscriber, so the rate is what the server sustains
//! without anyone falling behind; every subscriber checks it gets every message once, in order.

use crate::Opts;
use crate::peer::{Peer, is_event, message_frame, tail_number};
use crate::server::Server;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::time::{Duration, Instant};

const WINDOW: u32 = 1000;
const BATCH: u32 = 64;
const DIGITS: usize = 10;
const CHANNEL: &str = "#fan@localhost";

/// Runs the workload and prints one result line.
pub fn run(opts: &Opts, subs: usize) -> io::Result<()> {
    let messages = opts
        .messages
        .unwrap_or(if subs >= 1000 { 20_000 } else { 200_000 });
    let server = Server::start_for(opts)?;
    let mut poll = Poll::new()?;
    let mut peers = Vec::with_capacity(subs + 1);
    for i in 0..=subs {
        let mut p = Peer::new(server.join(&format!("u{i}@localhost"), CHANNEL)?)?;
        poll.registry()
            .register(&mut p.sock, Token(i), Interest::READABLE | Interest::WRITABLE)?;
        peers.push(p);
    }
    let publisher = subs; // the last peer publishes (and is subscribed, so it gets echoes)

    // One frame, re-stamped with the message number in its last DIGITS bytes.
    let body = "x".repeat(100);
    let mut frame = message_frame(CHANNEL, &body)?;
    let stamp_at = frame.len() - DIGITS;

    let mut next = vec![0u32; subs + 1];
    let (mut sent, mut disorder) = (0u32, 0u64);
    let mut events = Events::with_capacity(4096);
    let start = Instant::now();
    let threads_before = server.threads_cpu_ms();
    let deadline = start + Duration::from_secs(120);
    let mut last_delivery = start;
    loop {
        let slowest = next[..subs].iter().copied().min().unwrap_or(messages);
        if slowest >= messages || Instant::now() > deadline {
            break;
        }
        let pubr = &mut peers[publisher];
        let mut batch = 0;
        while sent < messages && sent - slowest < WINDOW && batch < BATCH && pubr.unsent() < 64 * 1024 {
            frame[stamp_at..].copy_from_slice(format!("{sent:0DIGITS$}").as_bytes());
            pubr.queue(&frame);
            sent += 1;
            batch += 1;
        }
        pubr.flush()?;
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            let i = ev.token().0;
            let expected = &mut next[i];
            let open = peers[i].read_frames(|payload| {
                if is_event(payload) {
                    if tail_number(payload, DIGITS) != Some(u64::from(*expected)) {
                        disorder += 1;
                    }
                    *expected += 1;
                }
            })?;
            if !open {
                return Err(io::Error::other(format!("server closed subscriber {i}")));
            }
        }
        last_delivery = Instant::now();
    }
    let secs = last_delivery.duration_since(start).as_secs_f64();
    // Per thread name: with history on, whether the loop or the writer bounds the rate.
    let mut threads: Vec<(String, f64)> = Vec::new();
    for (tid, name, ms) in server.threads_cpu_ms() {
        let before = threads_before.iter().find(|t| t.0 == tid).map_or(0.0, |t| t.2);
        match threads.iter_mut().find(|t| t.0 == name) {
            Some(t) => t.1 += ms - before,
            None => threads.push((name, ms - before)),
        }
    }
    threads.retain(|t| t.1 > 0.0);
    let cpu_ms: f64 = threads.iter().map(|t| t.1).sum();
    let split: Vec<String> = threads
        .iter()
        .map(|(n, ms)| format!("{n} {:.2}", ms / 1000.0))
        .collect();
    let delivered: u64 = next[..subs].iter().map(|&n| u64::from(n)).sum();
    let expected = u64::from(messages) * subs as u64;
    println!(
        "fanout S={subs}: {messages} messages, {delivered} deliveries in {secs:.2} s = {:.2} M deliveries/s; \
         lost {}, out of order {disorder}; server CPU {:.2} s ({}; {:.0} ns a delivery), RSS {} KiB{}",
        delivered as f64 / secs / 1e6,
        expected - delivered.min(expected),
        cpu_ms / 1000.0,
        split.join(", "),
        cpu_ms * 1e6 / delivered.max(1) as f64,
        server.rss_kib(),
        if opts.tls { "; over TLS" } else { "" }
    );
    Ok(())
}
