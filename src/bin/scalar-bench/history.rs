//! History: fill the store with `--events` Events, restart (so nothing is in memory), and
//! measure start-up, the store's size, and the chat workload alone, beside a stream of
//! last-100 catch-ups, and beside a stream of searches.

use crate::Opts;
use crate::chat::{self, ChatResult, pct};
use crate::peer::{Peer, message_frame, name};
use crate::server::Server;
use mio::{Events, Interest, Poll, Token};
use scalar::client::Client;
use scalar::proto::{Catchup, Msg, Search, Sub};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Channels the Events are spread over.
const CHANNELS: usize = 100;
/// Messages in flight while filling.
const WINDOW: usize = 256;
/// Pause between two catch-ups or searches of the side stream.
const SIDE_GAP: Duration = Duration::from_millis(20);
const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the workload and prints its result lines.
pub fn run(opts: &Opts) -> io::Result<()> {
    let history = match opts.history.as_str() {
        "off" => "batched",
        h => h,
    };
    let server = Server::start(opts.scalard.as_deref(), history)?;
    let filled = Instant::now();
    // Bodies carry a rare and a common word, for the searches.
    let filler = in_every_channel(server.addr, "filler@localhost")?;
    fill(filler, opts.events, |i| {
        let body = format!("message {i} about topic{} with the common word lorem", i % 1000);
        (channel(i), body)
    })?;
    let secs = filled.elapsed().as_secs_f64();
    println!(
        "history fill: {} events in {secs:.1} s = {:.0}/s ({history})",
        opts.events,
        opts.events as f64 / secs
    );
    let server = server.restart(opts.scalard.as_deref(), history)?;
    println!(
        "history start-up with {} events: {:.0} ms to listening; store {:.1} MiB = {:.0} bytes/event",
        opts.events,
        server.startup.as_secs_f64() * 1000.0,
        server.data_bytes() as f64 / (1 << 20) as f64,
        server.data_bytes() as f64 / opts.events.max(1) as f64
    );
    let alone = chat::measure(&server, opts)?;
    println!("history chat alone: {}", summary(&alone));
    for side in [Side::Catchup, Side::Search] {
        let query = opts.query.clone();
        let (r, lat) = chat_beside(&server, opts, move |addr, stop| {
            side_stream(addr, side, &query, stop)
        })?;
        println!(
            "history chat beside {} (every {} ms): {}; {} took ms p50 {:.2} p99 {:.2} max {:.2} over {}",
            side.label(),
            SIDE_GAP.as_millis(),
            summary(&r),
            side.label(),
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            pct(&lat, 1.0),
            lat.len()
        );
    }
    Ok(())
}

/// The chat workload while `side` runs on a thread of its own against the server's address
/// until told to stop: the chat's result, and what `side` measured, sorted.
pub fn chat_beside(
    server: &Server,
    opts: &Opts,
    side: impl FnOnce(SocketAddr, &AtomicBool) -> io::Result<Vec<u32>> + Send + 'static,
) -> io::Result<(ChatResult, Vec<u32>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let (addr, flag) = (server.addr, stop.clone());
    let worker = std::thread::spawn(move || side(addr, &flag));
    let r = chat::measure(server, opts);
    stop.store(true, Ordering::Relaxed);
    let mut lat = worker
        .join()
        .map_err(|_| io::Error::other("side stream panicked"))??;
    lat.sort_unstable();
    Ok((r?, lat))
}

pub fn summary(r: &ChatResult) -> String {
    let l = &r.latencies_us;
    format!(
        "chat p50 {:.2} p99 {:.2} p99.9 {:.2} ms over {} deliveries",
        pct(l, 0.5),
        pct(l, 0.99),
        pct(l, 0.999),
        l.len()
    )
}

fn channel(i: usize) -> String {
    format!("#h{}@localhost", i % CHANNELS)
}

/// A client identified as `user` and subscribed to every channel.
fn in_every_channel(addr: SocketAddr, user: &str) -> io::Result<Client> {
    let mut c = Client::connect(addr, user, TIMEOUT).map_err(io::Error::other)?;
    for i in 0..CHANNELS {
        let topic = channel(i);
        c.request(TIMEOUT, |seq| {
            Msg::Sub(Sub {
                seq,
                topic: name(&topic),
            })
        })
        .map_err(io::Error::other)?;
    }
    Ok(c)
}

/// One publisher, `c` (subscribed to every channel it writes to), sends `n` messages, the
/// i-th to the topic and with the body `message(i)` gives, with `WINDOW` in flight.
pub fn fill(c: Client, n: usize, message: impl Fn(usize) -> (String, String)) -> io::Result<()> {
    let mut p = Peer::new(c)?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut p.sock, Token(0), Interest::READABLE | Interest::WRITABLE)?;
    let mut events = Events::with_capacity(4);
    let (mut sent, mut echoed, mut refused) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(600);
    while echoed < n {
        while sent < n && sent - echoed < WINDOW {
            let (topic, body) = message(sent);
            p.queue(&message_frame(&topic, &body)?);
            sent += 1;
        }
        p.flush()?;
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        let open = p.read_frames(|payload| match payload.get(1..3) {
            Some([0x00, 0x07]) => echoed += 1,
            Some([0x00, 0x03]) => refused += 1,
            _ => {}
        })?;
        if !open || refused > 0 || Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "fill stopped after {echoed} echoes ({refused} refused)"
            )));
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Side {
    Catchup,
    Search,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Catchup => "last-100 catch-ups",
            Side::Search => "searches",
        }
    }
}

/// Until `stop`, asks for the last 100 Events of a channel (or searches one for `query`) every
/// `SIDE_GAP`, round the channels; returns each request's latency in µs.
fn side_stream(addr: SocketAddr, side: Side, query: &str, stop: &AtomicBool) -> io::Result<Vec<u32>> {
    let c = in_every_channel(addr, "reader@localhost")?;
    timed(c, SIDE_GAP, stop, |i, seq| {
        let topic = channel(i);
        let range = |count| Catchup {
            seq: Some(seq),
            topic: name(&topic),
            count,
            since: None,
            until: None,
            after: None,
            before: None,
        };
        let msg = match side {
            Side::Catchup => Msg::Catchup(range(100)),
            Side::Search => Msg::Search(Search {
                range: range(50),
                query,
            }),
        };
        msg.to_frame().map_err(|_| io::Error::other("frame"))
    })
}

/// Until `stop`, sends the Catchup, Search or Topics `request(i, seq)` gives (its i-th, with a
/// fresh `seq`), waits for its CatchupEnd (or TopicList), then pauses `gap`; returns each
/// request's latency in µs.
pub fn timed(
    mut c: Client,
    gap: Duration,
    stop: &AtomicBool,
    request: impl Fn(usize, u32) -> io::Result<Vec<u8>>,
) -> io::Result<Vec<u32>> {
    let mut lat = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let seq = c.seq();
        let frame = request(i, seq)?;
        i += 1;
        let t = Instant::now();
        c.send_raw(&frame).map_err(io::Error::other)?;
        let deadline = t + TIMEOUT;
        loop {
            let f = c.reply(seq, deadline).map_err(io::Error::other)?;
            // A Topics, Members or Conversations page is its one reply.
            if matches!(
                f.msg(),
                Ok(Msg::CatchupEnd(_) | Msg::TopicList(_) | Msg::MemberList(_) | Msg::ConversationList(_))
            ) {
                break;
            }
        }
        lat.push(t.elapsed().as_micros() as u32);
        std::thread::sleep(gap);
    }
    Ok(lat)
}
