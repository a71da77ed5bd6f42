//! Topics with a `query` (PROTOCOL.md §4, Topics): the loop examines up to 500 channel names a
//! request, each with its display name and topic line. This measures what such a page costs
//! and what a client asking for them back to back does to everyone else's chat, over the
//! worst case the server allows: every channel with a 64-byte display name and a 256-byte
//! topic line, in Greek (folded ahead of time, where they are set) or in mixed-case ASCII
//! (lowered as they are read), and a word that none holds, so every page examines its 500.

use crate::Opts;
use crate::chat::{self, pct};
use crate::history::{chat_beside, summary, timed};
use crate::peer::name;
use crate::server::Server;
use scalar::client::Client;
use scalar::proto::{Msg, SetMeta, Sub, Topics};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Channels listed: ten pages of 500 examined names each.
const CHANNELS: usize = 5000;
const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the workload and prints its result lines.
pub fn run(opts: &Opts) -> io::Result<()> {
    for (label, display, subject) in [
        ("greek", "Ελληνικά ΚΑΝΆΛΙ ".repeat(2), "ΚΑΛΗΜΈΡΑ κόσμε ".repeat(9)),
        (
            "ascii",
            "Mixed Case Name ".repeat(4),
            "All About The Rust Language ".repeat(9),
        ),
    ] {
        let server = Server::start_with(opts.scalard.as_deref(), "off", &["--max-subs", "5000"])?;
        let display = clipped(&display, 64);
        let subject = clipped(&subject, 256);
        let _owner = described(server.addr, display, subject)?;
        let what = format!("{CHANNELS} channels");
        chat_and_pages(&server, opts, &format!("topics-query ({label})"), &what, queries)?;
    }
    Ok(())
}

/// The chat workload alone, then beside `pages` (back-to-back query pages over `what`), and
/// the two result lines, each starting with `label`.
pub fn chat_and_pages(
    server: &Server,
    opts: &Opts,
    label: &str,
    what: &str,
    pages: fn(SocketAddr, &AtomicBool) -> io::Result<Vec<u32>>,
) -> io::Result<()> {
    let alone = chat::measure(server, opts)?;
    let (beside, lat) = chat_beside(server, opts, pages)?;
    println!("{label} chat alone: {}", summary(&alone));
    println!(
        "{label} chat beside back-to-back query pages ({what}, {SCAN} examined a page): {}; \
         pages took ms p50 {:.2} p99 {:.2} max {:.2} over {}",
        summary(&beside),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0),
        lat.len()
    );
    Ok(())
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn clipped(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A client that made `CHANNELS` channels and gave each `display` and `subject`; it keeps
/// them open while it lives.
fn described(addr: SocketAddr, display: &str, subject: &str) -> io::Result<Client> {
    let mut c = Client::connect(addr, "owner@localhost", TIMEOUT).map_err(io::Error::other)?;
    for i in 0..CHANNELS {
        let topic = format!("#q{i:05}@localhost");
        c.request(TIMEOUT, |seq| {
            Msg::Sub(Sub {
                seq,
                topic: name(&topic),
            })
        })
        .map_err(io::Error::other)?;
        c.request(TIMEOUT, |seq| {
            Msg::SetMeta(SetMeta {
                seq,
                topic: name(&topic),
                display: Some(display),
                subject: Some(subject),
                modes: None,
                rate: None,
                join_rate: None,
            })
        })
        .map_err(io::Error::other)?;
    }
    Ok(c)
}

/// Names a server examines for one page with a query (scalard's bound).
const SCAN: usize = 500;

/// Where the `i`th of back-to-back query pages over `total` names starts: after the last name
/// the page before examined (`nth` spells the `n`th, from 0), or at the start (`None`) once
/// every name was examined.
pub fn page_after(i: usize, total: usize, nth: impl Fn(usize) -> String) -> Option<String> {
    match i % (total / SCAN).max(1) {
        0 => None,
        n => Some(nth(n * SCAN - 1)),
    }
}

/// Until `stop`, pages through the channels with a query none matches, one page after
/// another without a pause; returns each page's latency in µs.
fn queries(addr: SocketAddr, stop: &AtomicBool) -> io::Result<Vec<u32>> {
    let c = Client::connect(addr, "lister@localhost", TIMEOUT).map_err(io::Error::other)?;
    timed(c, Duration::ZERO, stop, |i, seq| {
        let after = page_after(i, CHANNELS, |n| format!("#q{n:05}@localhost"));
        Msg::Topics(Topics {
            seq: Some(seq),
            start: 0,
            count: 100,
            cursor: after.as_deref().map(name),
            query: Some("zqxjv"),
        })
        .to_frame()
        .map_err(|_| io::Error::other("frame"))
    })
}
