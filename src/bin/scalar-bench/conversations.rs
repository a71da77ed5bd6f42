//! The list of a user's conversations (PROTOCOL.md §4, Conversations): the store examines up
//! to 500 of the user's conversations a request, each its newest Event by one seek. This
//! measures what such a page costs and what a user asking for them back to back does to
//! everyone else's chat: one account with 5000 conversations and a `since` none of them
//! passes, so every page examines its 500 on the reader thread.

use crate::Opts;
use crate::history::timed;
use crate::listing::{chat_and_pages, page_after};
use crate::peer::name;
use crate::server::Server;
use scalar::client::{Client, Login};
use scalar::proto::{Body, Conversations, Message, Msg};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// The account's conversations: ten pages of 500 examined each.
const CONVERSATIONS: usize = 5000;
const USER: &str = "lister@localhost";
const PASSWORD: &str = "lister-password";
const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the workload and prints its result lines.
pub fn run(opts: &Opts) -> io::Result<()> {
    // The list is the store's: without history there is none to measure.
    let server = Server::start_with_accounts(opts)?;
    drop(login(server.addr, true)?);
    let made = Instant::now();
    // Each another user's one direct message to the account, which keeps it while away.
    for i in 0..CONVERSATIONS {
        let mut c =
            Client::connect(server.addr, &format!("u{i:05}@localhost"), TIMEOUT).map_err(io::Error::other)?;
        c.request(TIMEOUT, |seq| {
            Msg::Message(Message {
                seq,
                topic: name(USER),
                body: Body::Text("hello"),
                ctype: None,
                reply_to: None,
            })
        })
        .map_err(io::Error::other)?;
    }
    eprintln!(
        "conversations-list: {CONVERSATIONS} conversations made in {:.1} s",
        made.elapsed().as_secs_f64()
    );
    let what = format!("one account's {CONVERSATIONS} conversations");
    chat_and_pages(&server, opts, "conversations-list", &what, pages)
}

/// The account, logged in (registered first if `register`).
fn login(addr: SocketAddr, register: bool) -> io::Result<Client> {
    let mut c = Client::connect_raw(addr, TIMEOUT).map_err(io::Error::other)?;
    let login = Login {
        password: PASSWORD.into(),
        register,
    };
    c.identify(USER, Some(&login), TIMEOUT)
        .map_err(io::Error::other)?;
    Ok(c)
}

/// Until `stop`, pages through the account's conversations with a `since` none passes, one
/// page after another without a pause; returns each page's latency in µs.
fn pages(addr: SocketAddr, stop: &AtomicBool) -> io::Result<Vec<u32>> {
    let c = login(addr, false)?;
    timed(c, Duration::ZERO, stop, |i, seq| {
        let after = page_after(i, CONVERSATIONS, |n| format!("u{n:05}@localhost"));
        Msg::Conversations(Conversations {
            seq: Some(seq),
            count: 100,
            since: Some(u64::MAX - 1),
            cursor: after.as_deref().map(name),
        })
        .to_frame()
        .map_err(|_| io::Error::other("frame"))
    })
}
