//! After a reconnect: re-subscribing, then catching up on every joined channel and on the
//! direct messages received, from the last message seen on each before the connection was lost
//! (PROTOCOL.md §4: forward pages with `after`).
//!
//! Nothing is shown until the whole restore has worked: the missed messages of each topic come
//! under one marker line that says how many there were and whether the gap is filled, then the
//! live Events that arrived meanwhile. Each message is shown once: a message can arrive both
//! live and in the replay, and a restore that fails half way is done again from the same gap.

use super::net::handle;
use super::presence;
use super::shared::{Shared, Shown};
use crate::conn::{Conn, NetError};
use crate::event::Received;
use crate::names;
use crate::paging::{self, Ask, Bounds, End, Ending, PAGE, Pager};
use crate::timefmt::local_hms;
use scalar::client::Frame;
use scalar::proto::{Msg, MsgId, Name, Presence, Sub};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// The most pages one topic's catch-up reads; past it the note says newer missed messages were
/// not fetched. Bounds the time and memory a reconnect takes (all is held until shown).
pub const MAX_PAGES: u32 = 20;
/// Live Events held while a restore runs; past it they are shown at once, before the gap.
const MAX_HELD: usize = 10_000;
/// How far before the moment the server was last heard from a topic with no message seen is
/// caught up from: the client's clock and the server's may differ a little.
const SKEW_MS: u64 = 5_000;

/// What a lost connection left to catch up on.
#[derive(Debug, Clone)]
pub struct Gap {
    /// When the server was last heard from (ms since the epoch, this client's clock).
    pub lost_at: u64,
    /// The last Event seen on each topic before the connection was lost, and its time.
    pub last: HashMap<String, (MsgId, u64)>,
}

/// How one topic's catch-up went.
struct Caught {
    /// The topic caught up on.
    topic: String,
    /// The missed messages, oldest first.
    events: Vec<Received>,
    /// How the read ended, or why it could not be made.
    ending: Result<Ending, String>,
    /// The read went on by time after the server no longer had the last message seen.
    by_time: bool,
    /// The retention horizon, where it cut into the gap.
    lost_before: Option<u64>,
}

/// A finished restore, to be shown once the connection is installed.
pub struct Restored {
    caught: Vec<Caught>,
    held: Vec<Received>,
    lost_at: u64,
    /// The users watched again, and their presence now.
    watched: Vec<(String, Option<Presence>)>,
}

/// Re-subscribes to every joined channel and catches up on each, and on the direct messages
/// received, on a fresh connection that the editor thread cannot use yet; then watches again
/// whom the user watched ([`presence::restore`]).
pub fn restore(shared: &Shared, conn: &mut Conn, gap: &Gap) -> Result<Restored, NetError> {
    let mut held = Vec::new();
    let subs = shared.state().subs.clone();
    let mut gone = Vec::new();
    for topic in &subs {
        let Ok(name) = Name::parse(topic) else { continue };
        if let Err(e) = ask(shared, conn, &mut held, |seq| Msg::Sub(Sub { seq, topic: name }))? {
            shared.screen.error(format!("cannot rejoin {topic}: {e}"));
            gone.push(topic.clone());
        }
    }
    let me = {
        let mut st = shared.state();
        for topic in &gone {
            st.left(topic);
        }
        st.user.clone()
    };
    let watched = presence::restore(shared, conn, &mut held)?;
    let mut caught = Vec::new();
    for topic in subs.iter().filter(|t| !gone.contains(t)).chain([&me]) {
        caught.push(catch_up(shared, conn, topic, gap, &mut held)?);
    }
    Ok(Restored {
        caught,
        held,
        lost_at: gap.lost_at,
        watched,
    })
}

/// Sends the request `build` makes (numbered here) on the fresh connection and waits for its
/// reply. The outer error ends the restore (the connection failed); the inner one is the
/// server's refusal of this request alone.
pub(super) fn ask<'a>(
    shared: &Shared,
    conn: &mut Conn,
    held: &mut Vec<Received>,
    build: impl FnOnce(Option<u32>) -> Msg<'a>,
) -> Result<Result<Frame, NetError>, NetError> {
    let seq = conn.seq();
    conn.send(&build(Some(seq)))?;
    match wait(shared, conn, seq, held) {
        Ok(frame) => Ok(Ok(frame)),
        Err(e @ NetError::Refused { .. }) => Ok(Err(e)),
        Err(e) => Err(e),
    }
}

/// Reads what `topic` got after the last message seen there (or, with none seen, after the
/// server was last heard from), forward, at most [`MAX_PAGES`] pages.
fn catch_up(
    shared: &Shared,
    conn: &mut Conn,
    topic: &str,
    gap: &Gap,
    held: &mut Vec<Received>,
) -> Result<Caught, NetError> {
    let mut caught = Caught {
        topic: topic.to_string(),
        events: Vec::new(),
        ending: Err("not a valid topic".into()),
        by_time: false,
        lost_before: None,
    };
    let Ok(name) = Name::parse(topic) else {
        return Ok(caught);
    };
    let last = gap.last.get(topic).copied();
    let bounds = Bounds {
        after: last.map(|(id, _)| id),
        since: last.is_none().then(|| gap.lost_at.saturating_sub(SKEW_MS)),
        ..Bounds::default()
    };
    let mut pager = Pager::new(name, None, bounds, MAX_PAGES * PAGE, true).max_pages(MAX_PAGES);
    if let Some((_, time)) = last {
        // If the server no longer has that message (retention), go on from its time.
        pager = pager.anchor_time(time);
    }
    let events = &mut caught.events;
    let read = paging::read(
        &mut pager,
        |ask| fetch(shared, conn, ask, held),
        |e| {
            events.push(e);
            Ok(true)
        },
    );
    caught.ending = match read {
        Ok(ending) => Ok(ending.unwrap_or(Ending::Complete)),
        // A refusal (not subscribed after all, store_unavailable) concerns this topic only.
        Err(e @ NetError::Refused { .. }) => Err(e.to_string()),
        Err(e) => return Err(e),
    };
    caught.by_time = pager.by_time;
    caught.lost_before = caught.ending.as_ref().ok().and_then(|e| pager.lost_before(*e));
    Ok(caught)
}

/// Sends one Catchup and collects its page.
fn fetch(
    shared: &Shared,
    conn: &mut Conn,
    ask: Ask<'_>,
    held: &mut Vec<Received>,
) -> Result<(Vec<Received>, End), NetError> {
    let seq = conn.seq();
    conn.send(&ask.msg(Some(seq)))?;
    paging::page(|| wait(shared, conn, seq, held))
}

/// Waits for the next frame carrying `seq`. Live Events that arrive meanwhile are held, to be
/// shown after the missed ones; other frames are handled as on a live connection.
fn wait(shared: &Shared, conn: &mut Conn, seq: u32, held: &mut Vec<Received>) -> Result<Frame, NetError> {
    let deadline = Instant::now() + shared.timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(NetError::Timeout("the server's reply"));
        }
        conn.set_read_timeout(Some(left))?;
        let frame = conn.recv()?;
        match frame.msg() {
            Ok(Msg::Error(e)) if e.seq == Some(seq) => return Err(NetError::refused(e.code, e.reason)),
            Ok(Msg::Ping(p)) => conn.send(&Msg::Pong(p))?,
            Ok(m) if m.seq() == Some(seq) => return Ok(frame),
            Ok(Msg::Event(e)) if held.len() < MAX_HELD => held.push(Received::new(&e)),
            _ => handle(shared, frame)?,
        }
    }
}

impl Restored {
    /// Shows each topic's missed messages under its marker, then the live Events held, each
    /// message once; then one line for the topics where nothing was missed.
    pub fn show(self, shared: &Shared) {
        let (domain, me) = {
            let st = shared.state();
            (st.domain.clone(), st.user.clone())
        };
        let since = local_hms(self.lost_at);
        // The held live Events are checked against every message replayed and shown, not only
        // against the last ones shown, which a long replay pushes out. (A topic whose read
        // failed shows none of what it got.)
        let replayed: HashSet<MsgId> = self
            .caught
            .iter()
            .filter(|c| c.ending.is_ok())
            .flat_map(|c| c.events.iter().map(|e| e.id))
            .collect();
        let mut nothing = Vec::new();
        let mut no_history = Vec::new();
        for c in self.caught {
            let name = names::history_of(&c.topic, &me, &domain);
            let fresh: Vec<Received> = {
                let st = shared.state();
                c.events.into_iter().filter(|e| !st.seen(&e.id)).collect()
            };
            match c.ending {
                Ok(Ending::Unavailable) => no_history.push(name),
                Err(e) => shared.screen.error(format!(
                    "reconnected, but the history of {name} could not be fetched ({e}): anything said \
                     there since {since} may be missing"
                )),
                Ok(ending) => {
                    let gaps = gap_notes(ending, c.by_time, c.lost_before);
                    if fresh.is_empty() && gaps.is_empty() {
                        nothing.push(name);
                        continue;
                    }
                    let mut line = format!("reconnected: {} missed in {name}", missed(fresh.len()));
                    if !fresh.is_empty() {
                        line.push_str(" below");
                    }
                    line.push_str(&if gaps.is_empty() {
                        "; the gap is filled".to_string()
                    } else {
                        format!("; {}", gaps.join("; "))
                    });
                    shared.screen.info(line);
                    for e in &fresh {
                        shared.show_event(e, Shown::Missed);
                    }
                }
            }
        }
        if !nothing.is_empty() {
            shared
                .screen
                .info(format!("reconnected: nothing missed in {}", and_list(&nothing)));
        }
        if !no_history.is_empty() {
            shared.screen.info(format!(
                "the server keeps no history: what was said since {since} in {} could not be \
                 fetched, and may have been missed",
                and_list(&no_history)
            ));
        }
        presence::show_restored(shared, &self.watched);
        for e in self.held.iter().filter(|e| !replayed.contains(&e.id)) {
            shared.show_event(e, Shown::Live);
        }
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn missed(n: usize) -> String {
    match n {
        0 => "no messages".into(),
        1 => "1 message".into(),
        n => format!("{n} messages"),
    }
}

/// What makes a gap not wholly filled, one phrase each.
fn gap_notes(ending: Ending, by_time: bool, lost_before: Option<u64>) -> Vec<String> {
    let mut v = Vec::new();
    // Retention that cut into the gap says more than the fallback by time it caused.
    if by_time && lost_before.is_none() {
        v.push(
            "the gap may be incomplete: the last message seen there is no longer on the server, \
             so the rest was fetched by its time"
                .to_string(),
        );
    }
    if let Some(h) = lost_before {
        v.push(format!(
            "the gap is incomplete: the server's retention deleted messages up to {}",
            local_hms(h)
        ));
    }
    match ending {
        Ending::Capped => v.push(format!(
            "stopped after {MAX_PAGES} pages: newer missed messages were not fetched (/history shows \
             the latest)"
        )),
        Ending::More | Ending::UnknownId => {
            v.push("the server stopped short: more messages may be missing".into());
        }
        Ending::Complete | Ending::Unavailable => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Content;
    use crate::repl::screen::{Screen, Sink};
    use std::sync::mpsc;
    use std::time::Duration;

    struct Lines(mpsc::Sender<String>);

    impl Sink for Lines {
        fn write(&mut self, text: String) -> bool {
            self.0.send(text).is_ok()
        }
    }

    fn ev(n: u32, topic: &str) -> Received {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&n.to_be_bytes());
        Received {
            seq: None,
            topic: topic.into(),
            from: "bob@l".into(),
            time: 1_000 + u64::from(n),
            id: MsgId(id),
            verified: true,
            content: Content::Text(format!("message {n}")),
            ctype: None,
            reply_to: None,
        }
    }

    #[test]
    fn a_live_event_also_replayed_is_shown_once_however_long_the_replay() {
        let screen = Screen::new();
        let (tx, rx) = mpsc::channel();
        screen.start(Box::new(Lines(tx)));
        let shared = Shared::new(
            "me@l".into(),
            "l".into(),
            screen.clone(),
            false,
            Duration::from_secs(1),
        );
        let caught = |topic: &str, events| Caught {
            topic: topic.into(),
            events,
            ending: Ok(Ending::Complete),
            by_time: false,
            lost_before: None,
        };
        // #a's replay has the Event that also came live during the restore; #b's replay, shown
        // after it, is longer than the memory of recent ids.
        let twice = ev(0, "#a@l");
        // #c's read failed after a page: nothing of it is shown, so its live copy must be.
        let failed = Caught {
            ending: Err("700 store_unavailable".into()),
            ..caught("#c@l", vec![ev(6000, "#c@l")])
        };
        let restored = Restored {
            caught: vec![
                caught("#a@l", vec![twice.clone()]),
                caught("#b@l", (1..=1100).map(|n| ev(n, "#b@l")).collect()),
                failed,
            ],
            held: vec![twice, ev(5000, "#a@l"), ev(6000, "#c@l")],
            lost_at: 1_000,
            watched: Vec::new(),
        };
        restored.show(&shared);
        screen.flush(Duration::from_secs(10));
        let all: String = rx.try_iter().collect();
        assert_eq!(all.matches("message 0\n").count(), 1, "{all}");
        assert_eq!(
            all.matches("message 5000\n").count(),
            1,
            "the live one that was not replayed"
        );
        assert_eq!(all.matches("message 6000\n").count(), 1, "{all}");
        assert!(all.contains("1100 messages missed in #b"), "{all}");
    }

    #[test]
    fn gaps_say_why_they_are_not_filled() {
        assert!(gap_notes(Ending::Complete, false, None).is_empty());
        let v = gap_notes(Ending::Complete, true, None);
        assert!(v[0].starts_with("the gap may be incomplete"), "{v:?}");
        let v = gap_notes(Ending::Capped, true, Some(1_764_000_000_000));
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(
            v[0].starts_with("the gap is incomplete: the server's retention"),
            "{v:?}"
        );
        assert!(
            v[1].contains(&format!("stopped after {MAX_PAGES} pages")),
            "{v:?}"
        );
        assert_eq!(missed(1), "1 message");
        assert_eq!(missed(0), "no messages");
        let list = |v: &[&str]| and_list(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(list(&["#a"]), "#a");
        assert_eq!(list(&["#a", "#b", "your inbox"]), "#a, #b and your inbox");
    }
}
