//! scalar-bench: load workloads against a real scalard, for docs/PERFORMANCE.md.
//!
//! It is a benchmark, not a test: it reports numbers and asserts nothing. Every workload is
//! bounded in count and time, and talks only to a server it starts on 127.0.0.1 (or the one named
//! by --server, which must be on loopback).

mod bans;
mod chat;
mod conversations;
mod fanout;
mod flood;
mod history;
mod idle;
mod listing;
mod login;
mod members;
mod mutes;
mod peer;
mod search;
mod server;
mod slow;
mod soak;
mod source;
mod storm;

use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
scalar-bench: measure scalard

usage: scalar-bench [OPTIONS] WORKLOAD...

The server runs with --flood off (no message, byte or connection-rate limits), since the
workloads open many connections from one address at once and publish as fast as they can;
flood, ban-abuse, mute-abuse and connect-storm start it with its default limits instead, as they measure them.

workloads:
  fanout     one publisher, --subs subscribers in one channel, 100-byte bodies, as fast as the
             slowest subscriber keeps up: deliveries/s and loss
  chat       --rooms rooms of --members members, each sending --rate msg/s: latency, deliveries/s
  idle       --conns connections each subscribed to one channel: server RSS per connection
  history    fills the store with --events Events in 100 channels, restarts the server, then
             start-up time, bytes per event, and chat alone / beside last-100 catch-ups /
             beside searches (history batched, or --history always)
  heavy-search  fills one channel with 100,000 Events, restarts the server, then times a
             deep catch-up (the channel's oldest 100) every 20 ms, a light search of a small
             channel every 20 ms from another loopback address, then chat, each alone and
             beside 4 clients searching the big channel back to back for two words no Event has
             together
  login-storm  registers 100 accounts, then chat alone and beside --storm-rate wrong-password
             attempts/s from 250 loopback addresses: chat latency both ways, verdicts
  flood      default message and byte limits (connection rate off): chat alone and beside one
             client publishing into a room as fast as its socket takes it: chat latency and
             deliveries/s both ways, how much of the flood got through, when it got 506
  ban-abuse  default flood limits: chat alone and beside 30 connections of a banned ID sending
             Subs as fast as their sockets take them to a channel with 500 ban patterns that
             are slow to match: chat latency both ways, how many Subs were refused
  mute-abuse  default flood limits: chat alone and beside 120 muted members, each of its own
             ID, sending Messages as fast as their sockets take them to a channel with 500 mute
             patterns that are slow to match: chat latency both ways, how many were refused
  connect-storm  default connection rate: chat (members from 127.1.0.x, 16 each) alone and
             while 127.0.0.1 opens --storm-rate connections/s (each reads the first frame and
             closes): admitted vs refused (505), server CPU time per refusal, chat latency
  slow-readers  a canary's round trips in its own channel, alone and while one publisher
             writes 14,000-byte Messages as fast as it can to a channel of --subs subscribers
             that never read and 20 that read 8 KiB/s: canary latency both ways, what got
             through, how each reader's connection ended (503 + Bye, or cut mid-frame)
  topics-query  5000 channels, each with a 64-byte display name and a 256-byte topic line
             (Greek, then mixed-case ASCII): chat alone and beside one client asking for pages
             of Topics with a query none matches (500 names examined each) back to back:
             chat latency both ways, page latency
  members-query  one channel of 5000 members: chat alone and beside one member asking for
             pages of Members with a query none holds (500 IDs examined each) back to back:
             chat latency both ways, page latency
  conversations-list  one account with 5000 conversations (history batched, or --history
             always): chat alone and beside the account asking for pages of its Conversations
             with a since none passes (500 examined each) back to back: chat latency both
             ways, page latency
  soak       --duration seconds of mixed load (connection churn from many addresses, some
             over TLS, some dropped mid-frame; chat and direct messages; registrations, logins
             and wrong passwords; catch-ups and searches, some abandoned) against a server with
             its default flood limits and --history-max-events 50: every 10 s its RSS, peak
             RSS, descriptors, threads, data directory and WAL sizes, to tell a leak
  all        fanout with 100 and 1000 subscribers, chat, idle

options:
  --scalard PATH   server binary (default: scalard next to this program)
  --history MODE   off (--ephemeral), batched (default) or always (--fsync always); the
                   store goes to a fresh temporary directory, removed afterwards
  --tls            fanout, chat, idle and all only: the server listens for TLS too (with a
                   certificate made for the run) and every client connects over TLS
  --subs N         fanout subscribers (default 100); slow-readers: subscribers that never
                   read (default 200)
  --messages N     fanout messages (default 200000 / 20000 for >= 1000 subscribers)
  --rooms N        chat rooms (default 20)
  --members N      chat members per room (default 50)
  --rate N         chat messages per member per second (default 2)
  --seconds N      chat measurement time, and each slow-readers and heavy-search phase
                   (default 10)
  --duration N     soak: how long it runs, in seconds (default 1200)
  --conns N        idle connections (default 10000)
  --events N       history: Events to store first (default 1000000)
  --query TEXT     history: what the searches ask for (default lorem, a word of every
                   Event; topic* begins a word of every Event, in 1000 spellings)
  --storm-rate N   login-storm: wrong-password attempts per second (default 300);
                   connect-storm: new connections per second (default 1000)
  --storm-unknown  login-storm: attack names that are no account (no Argon2id at all), to
                   tell the cost of the connections from the cost of the hashing";

/// Parsed options.
#[derive(Debug, Clone)]
pub struct Opts {
    scalard: Option<String>,
    history: String,
    tls: bool,
    subs: Option<usize>,
    messages: Option<u32>,
    rooms: usize,
    members: usize,
    rate: u32,
    seconds: u64,
    duration: u64,
    conns: usize,
    events: usize,
    query: String,
    storm_rate: Option<u32>,
    storm_unknown: bool,
    workloads: Vec<String>,
}

fn parse() -> Result<Opts, lexopt::Error> {
    use lexopt::prelude::*;
    let mut o = Opts {
        scalard: None,
        history: "batched".into(),
        tls: false,
        subs: None,
        messages: None,
        rooms: 20,
        members: 50,
        rate: 2,
        seconds: 10,
        duration: 1200,
        conns: 10_000,
        events: 1_000_000,
        query: "lorem".into(),
        storm_rate: None,
        storm_unknown: false,
        workloads: Vec::new(),
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("scalard") => o.scalard = Some(p.value()?.string()?),
            Long("history") => o.history = p.value()?.string()?,
            Long("tls") => o.tls = true,
            Long("subs") => o.subs = Some(p.value()?.parse()?),
            Long("messages") => o.messages = Some(p.value()?.parse()?),
            Long("rooms") => o.rooms = p.value()?.parse()?,
            Long("members") => o.members = p.value()?.parse()?,
            Long("rate") => o.rate = p.value()?.parse()?,
            Long("seconds") => o.seconds = p.value()?.parse()?,
            Long("duration") => o.duration = p.value()?.parse()?,
            Long("conns") => o.conns = p.value()?.parse()?,
            Long("events") => o.events = p.value()?.parse()?,
            Long("query") => o.query = p.value()?.string()?,
            Long("storm-rate") => o.storm_rate = Some(p.value()?.parse()?),
            Long("storm-unknown") => o.storm_unknown = true,
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            Value(w) => o.workloads.push(w.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let opts = match parse() {
        Ok(o) if !o.workloads.is_empty() => o,
        Ok(_) => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("scalar-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let over_tls = ["fanout", "chat", "idle", "all"];
    if let Some(w) = opts
        .workloads
        .iter()
        .find(|w| opts.tls && !over_tls.contains(&w.as_str()))
    {
        eprintln!(
            "scalar-bench: {w} does not run over TLS: --tls is for {}",
            over_tls.join(", ")
        );
        return ExitCode::from(2);
    }
    if let Err(e) = scalar::net::raise_fd_limit() {
        eprintln!("scalar-bench: cannot raise the open-file limit: {e}");
    }
    for w in opts.workloads.clone() {
        let result = match w.as_str() {
            "fanout" => fanout::run(&opts, opts.subs.unwrap_or(100)),
            "chat" => chat::run(&opts),
            "idle" => idle::run(&opts),
            "history" => history::run(&opts),
            "heavy-search" => search::run(&opts),
            "login-storm" => login::run(&opts),
            "flood" => flood::run(&opts),
            "ban-abuse" => bans::run(&opts),
            "mute-abuse" => mutes::run(&opts),
            "connect-storm" => storm::run(&opts),
            "slow-readers" => slow::run(&opts),
            "topics-query" => listing::run(&opts),
            "members-query" => members::run(&opts),
            "conversations-list" => conversations::run(&opts),
            "soak" => soak::run(&opts),
            "all" => fanout::run(&opts, 100)
                .and_then(|()| {
                    fanout::run(
                        &Opts {
                            messages: None,
                            ..opts.clone()
                        },
                        1000,
                    )
                })
                .and_then(|()| chat::run(&opts))
                .and_then(|()| idle::run(&opts)),
            other => {
                eprintln!("scalar-bench: unknown workload {other:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        };
        if let Err(e) = result {
            eprintln!("scalar-bench: {w}: {e}");
            return ExitCode::from(1);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    ExitCode::SUCCESS
}
