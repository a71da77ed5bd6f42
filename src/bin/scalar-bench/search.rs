//! Heavy searches: does a search that reads a whole channel's index hold up other clients'
//! catch-ups? Fills one channel with `BIG` Events whose bodies carry "alpha" or "beta", never
//! both, restarts the server (so the oldest Events are only on disk), then times a deep
//! catch-up (the channel's oldest 100) every `GAP`, and then the chat workload, each alone and
//! beside `SEARCHERS` clients that search the channel for "alpha beta" back to back: each of
//! those searches walks both words' postings to the end and finds nothing. Last, a light
//! search (a small channel's newest 50 matches) from another address, timed every `GAP`,
//! alone and beside the heavy searchers: how long one asker waits behind another's queue.

use crate::Opts;
use crate::chat::{self, pct};
use crate::history::{self, fill, timed};
use crate::peer::{join, name};
use crate::server::Server;
use crate::source::{TIMEOUT, catch_up, connect_from, handshake};
use scalar::proto::{Catchup, Msg, Search, Sub};
use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The channel, and the Events it gets: scalard's default retention per topic, so the most
/// one channel holds unless the operator allows more.
const CHANNEL: &str = "#big@localhost";
const BIG: usize = 100_000;
/// Clients searching at once.
const SEARCHERS: usize = 4;
/// Pause between two timed catch-ups.
const GAP: Duration = Duration::from_millis(20);
/// The small channel, its Events (all with the word the light search looks for), and the
/// light searcher's address (the heavy searchers' is 127.0.0.1).
const SMALL: &str = "#small@localhost";
const SMALL_EVENTS: usize = 1_000;
const LIGHT_FROM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Runs the workload and prints its result lines.
pub fn run(opts: &Opts) -> io::Result<()> {
    let history = match opts.history.as_str() {
        "off" => "batched",
        h => h,
    };
    let server = Server::start(opts.scalard.as_deref(), history)?;
    let mut filler = join(server.addr, "filler@localhost", CHANNEL)?;
    filler
        .request(TIMEOUT, |seq| {
            Msg::Sub(Sub {
                seq,
                topic: name(SMALL),
            })
        })
        .map_err(io::Error::other)?;
    fill(filler, BIG + SMALL_EVENTS, |i| match i < BIG {
        true => {
            let word = if i % 2 == 0 { "alpha" } else { "beta" };
            (CHANNEL.to_string(), format!("message {i} with the word {word}"))
        }
        false => (SMALL.to_string(), format!("message {i} with the word gamma")),
    })?;
    let server = server.restart(opts.scalard.as_deref(), history)?;
    let seconds = Duration::from_secs(opts.seconds);
    let (alone, _) = beside_searches(&server, 0, || deep_catchups(&server, seconds))?;
    println!(
        "heavy-search: {BIG} events in {CHANNEL}; deep catch-ups alone: {}",
        summary(&alone)
    );
    let (beside, searches) = beside_searches(&server, SEARCHERS, || deep_catchups(&server, seconds))?;
    println!(
        "heavy-search: deep catch-ups beside {SEARCHERS} clients searching back to back: {}; searches: {}",
        summary(&beside),
        summary(&searches)
    );
    let (alone, _) = beside_searches(&server, 0, || light_searches(&server, seconds))?;
    println!(
        "heavy-search: light searches of {SMALL} from {LIGHT_FROM} alone: {}",
        summary(&alone)
    );
    let (beside, searches) = beside_searches(&server, SEARCHERS, || light_searches(&server, seconds))?;
    println!(
        "heavy-search: light searches from {LIGHT_FROM} beside {SEARCHERS} clients from 127.0.0.1 \
         searching {CHANNEL}: {}; their searches: {}",
        summary(&beside),
        summary(&searches)
    );
    let alone = chat::measure(&server, opts)?;
    println!("heavy-search: chat alone: {}", history::summary(&alone));
    let (beside, searches) = beside_searches(&server, SEARCHERS, || chat::measure(&server, opts))?;
    println!(
        "heavy-search: chat beside {SEARCHERS} clients searching: {}; searches: {}",
        history::summary(&beside),
        summary(&searches)
    );
    Ok(())
}

fn summary(lat: &[u32]) -> String {
    format!(
        "p50 {:.2} p99 {:.2} max {:.2} ms over {}",
        pct(lat, 0.5),
        pct(lat, 0.99),
        pct(lat, 1.0),
        lat.len()
    )
}

/// A Catchup of the channel's oldest 100 Events, or a Search of it for two words no Event
/// has together, with `seq`.
fn request(search: bool, seq: u32) -> io::Result<Vec<u8>> {
    let range = Catchup {
        seq: Some(seq),
        topic: name(CHANNEL),
        count: if search { 50 } else { 100 },
        since: (!search).then_some(0),
        until: None,
        after: None,
        before: None,
    };
    let msg = match search {
        true => Msg::Search(Search {
            range,
            query: "alpha beta",
        }),
        false => Msg::Catchup(range),
    };
    msg.to_frame().map_err(|_| io::Error::other("frame"))
}

/// Deep catch-ups, one every `GAP`, for `time`: their latencies in µs, sorted.
fn deep_catchups(server: &Server, time: Duration) -> io::Result<Vec<u32>> {
    let c = join(server.addr, "reader@localhost", CHANNEL)?;
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let timer = s.spawn(|| timed(c, GAP, &stop, |_, seq| request(false, seq)));
        std::thread::sleep(time);
        stop.store(true, Ordering::Relaxed);
        let mut lat = timer
            .join()
            .map_err(|_| io::Error::other("the catch-up thread panicked"))??;
        lat.sort_unstable();
        Ok(lat)
    })
}

/// Searches of the small channel from another address, one every `GAP`, for `time`: their
/// latencies in µs, sorted.
fn light_searches(server: &Server, time: Duration) -> io::Result<Vec<u32>> {
    let conn = connect_from(LIGHT_FROM, server.addr, None)?;
    let (mut s, mut buf) = handshake(conn, "light@localhost", SMALL)?;
    let end = Instant::now() + time;
    let mut lat = Vec::new();
    for seq in 3.. {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let range = Catchup {
            seq: Some(seq),
            topic: name(SMALL),
            count: 50,
            since: None,
            until: None,
            after: None,
            before: None,
        };
        let frame = Msg::Search(Search {
            range,
            query: "gamma",
        })
        .to_frame()
        .map_err(|_| io::Error::other("frame"))?;
        catch_up(&mut s, &mut buf, &frame, seq)?;
        lat.push(now.elapsed().as_micros() as u32);
        std::thread::sleep(GAP);
    }
    lat.sort_unstable();
    Ok(lat)
}

/// Runs `f` while `searchers` clients search back to back; returns its result and the
/// searches' latencies in µs, sorted.
fn beside_searches<T>(
    server: &Server,
    searchers: usize,
    f: impl FnOnce() -> io::Result<T>,
) -> io::Result<(T, Vec<u32>)> {
    let stop = AtomicBool::new(false);
    let clients = (0..searchers)
        .map(|i| join(server.addr, &format!("searcher{i}@localhost"), CHANNEL))
        .collect::<io::Result<Vec<_>>>()?;
    std::thread::scope(|s| {
        let workers: Vec<_> = clients
            .into_iter()
            .map(|c| s.spawn(|| timed(c, Duration::ZERO, &stop, |_, seq| request(true, seq))))
            .collect();
        let r = f();
        stop.store(true, Ordering::Relaxed);
        let mut lat = Vec::new();
        for w in workers {
            lat.extend(
                w.join()
                    .map_err(|_| io::Error::other("a search thread panicked"))??,
            );
        }
        lat.sort_unstable();
        Ok((r?, lat))
    })
}
