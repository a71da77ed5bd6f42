//! Mute abuse: the chat workload alone, then beside a channel whose operators filled its mute
//! list (500 patterns, each walking many pieces of the ID before it fails) and [`ATTACKERS`]
//! muted members, each with an ID of its own, sending Messages to it as fast as their sockets
//! take them, each refused with 802. The server keeps its default flood limits (only the
//! connection rate and the per-address limits are raised, as everyone connects from loopback):
//! what the attack costs is the 802s the limits let through, times the mutes each is checked
//! against.

use crate::Opts;
use crate::bans::{Attack, fill, list_of_500};
use crate::chat;
use crate::server::Server;
use scalar::proto::{Action, Body, Message, Msg, Name, Sub};
use std::io;

const CHANNEL: &str = "#mutes@localhost";
/// The connections a /24 may have by default.
const ATTACKERS: usize = 120;
/// Message frames handed to the socket per write.
const BATCH: usize = 512;

/// Runs the workload and prints its result lines.
pub fn run(opts: &Opts) -> io::Result<()> {
    let raised = ["--connect-rate", "off"];
    let server = Server::start_with_flood_limits(opts.scalard.as_deref(), &opts.history, &raised)?;
    let alone = chat::measure(&server, opts)?;
    println!("mute-abuse: chat alone: {alone}");
    let _ops = fill(&server, CHANNEL, Action::Mute, &patterns())?;
    let topic = Name::parse(CHANNEL).map_err(|e| io::Error::other(e.to_string()))?;
    let frame = |m: Msg<'_>| m.to_frame().map_err(|_| io::Error::other("frame"));
    let sub = frame(Msg::Sub(Sub { seq: Some(1), topic }))?;
    let message = frame(Msg::Message(Message {
        seq: Some(2),
        topic,
        body: Body::Text("hello"),
        ctype: None,
        reply_to: None,
    }))?;
    let attack = Attack {
        name: "mute-abuse",
        what: "Messages while muted",
        batch: [sub, message.repeat(BATCH)].concat(),
    };
    attack.beside(&server, opts, &alone, &ids(), "802, 506")
}

/// The attackers' IDs: 29 `a`s and three digits, so that each mute pattern finds all but its
/// last piece.
fn ids() -> Vec<String> {
    let run = "a".repeat(29);
    (0..ATTACKERS).map(|i| format!("{run}{i:03}@localhost")).collect()
}

/// The 500 mutes: 499 patterns of 14 `a` pieces then `xy@localhost` for two letters past `a`
/// (found in no ID, after the `a`s are), each in a domain ending in `*` so that its last piece
/// is empty and passes; then one that mutes every attacker.
fn patterns() -> Vec<String> {
    let pieces = "a*".repeat(14);
    list_of_500("bcdefghijklmnopqrstuvwxyz", "a*@localhost", |x, y| {
        format!("*{pieces}{x}{y}@localhost*")
    })
}
