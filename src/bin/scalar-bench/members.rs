//! Members with a `query` (PROTOCOL.md §4, Members): the loop examines up to 500 member IDs a
//! request. This measures what such a page costs and what a member asking for them back to
//! back does to everyone else's chat: one channel of 5000 members and a query that none holds
//! (but could: a query no ID could hold is answered at once), so every page examines its 500.

use crate::Opts;
use crate::history::timed;
use crate::listing::{chat_and_pages, page_after};
use crate::peer::name;
use crate::server::Server;
use scalar::client::Client;
use scalar::proto::{Members, Msg, Sub};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Members of the channel: ten pages of 500 examined IDs each.
const MEMBERS: usize = 5000;
const CROWD: &str = "#crowd@localhost";
const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the workload and prints its result lines.
pub fn run(opts: &Opts) -> io::Result<()> {
    // All from 127.0.0.1: the bench's per-address bounds (19,000) let them in.
    let server = Server::start_with(opts.scalard.as_deref(), "off", &[])?;
    let _crowd = crowd(server.addr)?;
    let what = format!("{MEMBERS} members");
    chat_and_pages(&server, opts, "members-query", &what, queries)
}

/// `MEMBERS` clients subscribed to `CROWD`, kept open while they live (with nothing to read:
/// they asked for no joins, and nobody speaks in `CROWD`).
fn crowd(addr: SocketAddr) -> io::Result<Vec<Client>> {
    (0..MEMBERS)
        .map(|i| joined(addr, &format!("m{i:05}@localhost")))
        .collect()
}

/// A client of `user` subscribed to `CROWD`.
fn joined(addr: SocketAddr, user: &str) -> io::Result<Client> {
    let mut c = Client::connect(addr, user, TIMEOUT).map_err(io::Error::other)?;
    c.request(TIMEOUT, |seq| {
        Msg::Sub(Sub {
            seq,
            topic: name(CROWD),
        })
    })
    .map_err(io::Error::other)?;
    Ok(c)
}

/// Until `stop`, pages through the members with a query none holds, one page after another
/// without a pause; returns each page's latency in µs.
fn queries(addr: SocketAddr, stop: &AtomicBool) -> io::Result<Vec<u32>> {
    let c = joined(addr, "lister@localhost")?;
    timed(c, Duration::ZERO, stop, |i, seq| {
        let after = page_after(i, MEMBERS, |n| format!("m{n:05}@localhost"));
        Msg::Members(Members {
            seq: Some(seq),
            topic: name(CROWD),
            count: 100,
            cursor: after.as_deref().map(name),
            query: Some("zqxjv"),
        })
        .to_frame()
        .map_err(|_| io::Error::other("frame"))
    })
}
