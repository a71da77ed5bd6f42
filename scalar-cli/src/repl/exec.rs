//! Carrying out a typed line on the editor thread. Results and errors go to the screen queue as
//! one line each; nothing here can end the program except `/quit`.

use super::command::{self, Command};
use super::scroll;
use super::shared::{ReqError, Shared, Want};
use crate::event::{ACTION, short_ref};
use crate::input;
use crate::names::{self, Default};
use scalar::proto::{Body, Kind, Message, Msg, MsgId, Name, Ping, Sub, Topics};
use std::time::Instant;

/// What the loop does after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// Leave, with this reason in the Bye.
    Quit(Option<String>),
}

/// Carries out one line.
pub fn line(shared: &Shared, text: &str) -> Flow {
    let cmd = match command::parse(text) {
        Ok(c) => c,
        Err(e) => {
            shared.screen.error(e);
            return Flow::Continue;
        }
    };
    if let Err(e) = run(shared, cmd) {
        match e {
            Outcome::Quit(r) => return Flow::Quit(r),
            Outcome::Error(e) => shared.screen.error(e),
        }
    }
    Flow::Continue
}

/// How a command ended, when not simply done.
enum Outcome {
    Error(String),
    Quit(Option<String>),
}

impl From<String> for Outcome {
    fn from(s: String) -> Self {
        Outcome::Error(s)
    }
}

/// What to do before reading history without a current topic.
const READ_HINT: &str = "/join #channel or /msg ID first";

/// The current topic, or an error that says what to do instead.
fn current(shared: &Shared, hint: &str) -> Result<String, String> {
    shared
        .state()
        .current
        .clone()
        .ok_or(format!("no current topic: {hint}"))
}

fn run(shared: &Shared, cmd: Command<'_>) -> Result<(), Outcome> {
    let domain = shared.state().domain.clone();
    match cmd {
        Command::Nothing => {}
        Command::Say(text) => {
            let topic = current(shared, "/join #channel first, or /msg ID TEXT")?;
            publish(shared, &topic, text, None, None)?;
        }
        Command::Me(text) => {
            let topic = current(shared, "/join #channel first")?;
            publish(shared, &topic, text, Some(ACTION), None)?;
        }
        Command::Msg(to, text) => {
            let to = names::topic(to, &domain, Default::User)?;
            publish(shared, &to, text, None, None)?;
        }
        Command::Talk(to) => talk(shared, &names::topic(to, &domain, Default::User)?)?,
        Command::Reply(r, text) => {
            let seen = shared.state().resolve_ref(r)?;
            let me = shared.state().user.clone();
            // A direct message to us is answered to its sender; anything else where it was said.
            let topic = if seen.topic == me { seen.from } else { seen.topic };
            publish(shared, &topic, text, None, Some(seen.id))?;
        }
        Command::Join(t) => join(shared, &names::channel(t, &domain)?)?,
        Command::Part(None) if current(shared, "").is_ok_and(|c| !c.starts_with('#')) => {
            // A conversation view has nothing to unsubscribe from: just close it.
            let mut st = shared.state();
            st.current = st.subs.last().cloned();
            let now = st
                .current
                .as_deref()
                .map(|c| names::short(c, &domain).to_string());
            drop(st);
            let now = now.map_or(String::new(), |c| format!("; now talking in {c}"));
            shared.screen.info(format!("closed the conversation{now}"));
        }
        Command::Part(t) => {
            let topic = match t {
                Some(t) => names::channel(t, &domain)?,
                None => shared
                    .state()
                    .current
                    .clone()
                    .ok_or("no current topic to leave".to_string())?,
            };
            part(shared, &topic)?;
        }
        Command::Switch(t) => {
            let topic = names::channel(t, &domain)?;
            let mut st = shared.state();
            if !st.subs.contains(&topic) {
                return Err(format!("not joined to {topic}: /join it first").into());
            }
            st.current = Some(topic.clone());
            drop(st);
            shared
                .screen
                .info(format!("now talking in {}", names::short(&topic, &domain)));
        }
        Command::Topics => topics(shared)?,
        Command::History(n) => scroll::history(shared, n, &current(shared, READ_HINT)?)?,
        Command::Search(words) => scroll::search(shared, words, &current(shared, READ_HINT)?)?,
        Command::More => scroll::more(shared, &current(shared, READ_HINT)?)?,
        Command::Ping => {
            let start = Instant::now();
            let time = crate::timefmt::now_ms();
            shared
                .request(Want::Reply, |seq| Msg::Ping(Ping { seq, time }))
                .map_err(|e| format!("ping: {e}"))?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            shared.screen.info(format!("pong: {ms:.1} ms"));
        }
        Command::Help => {
            shared.screen.info("commands:");
            for l in command::help() {
                shared.screen.line(l);
            }
        }
        Command::Quit(reason) => return Err(Outcome::Quit(reason.map(str::to_string))),
    }
    Ok(())
}

/// Sends a message and waits for its echo, which the reader thread shows.
fn publish(
    shared: &Shared,
    topic: &str,
    text: &str,
    ctype: Option<&str>,
    reply_to: Option<MsgId>,
) -> Result<(), String> {
    input::check_len(text).map_err(|e| format!("not sent: the message is {}", e.describe()))?;
    let name = Name::parse(topic).map_err(|e| format!("{topic}: {e}"))?;
    let result = shared.request(Want::Reply, |seq| {
        Msg::Message(Message {
            seq,
            topic: name,
            body: Body::Text(text),
            ctype,
            reply_to,
        })
    });
    match result {
        Ok(_) => Ok(()),
        Err(e @ ReqError::Lost) => Err(format!("{e}: the message may not have been delivered")),
        Err(e) => Err(format!(
            "not sent to {}: {e}",
            names::short(topic, &shared.state().domain)
        )),
    }
}

/// `/msg ID`: makes the conversation with ID the current topic.
fn talk(shared: &Shared, to: &str) -> Result<(), String> {
    match Name::parse(to).map(|n| n.kind()) {
        Ok(Kind::User) => {}
        _ => return Err(format!("{to} is not a user ID: /switch to a joined channel")),
    }
    let mut st = shared.state();
    st.current = Some(to.to_string());
    let short = names::short(to, &st.domain).to_string();
    drop(st);
    shared.screen.info(format!(
        "talking with {short}: lines go to {short}, /history and /search read your conversation; \
         /switch #channel to go back"
    ));
    Ok(())
}

fn join(shared: &Shared, topic: &str) -> Result<(), String> {
    let name = Name::parse(topic).map_err(|e| format!("{topic}: {e}"))?;
    let frame = shared
        .request(Want::Reply, |seq| Msg::Sub(Sub { seq, topic: name }))
        .map_err(|e| format!("cannot join {topic}: {e}"))?;
    let here = match frame.msg() {
        Ok(Msg::Meta(m)) => m.subscribers,
        _ => 0,
    };
    let mut st = shared.state();
    if !st.subs.iter().any(|s| s == topic) {
        st.subs.push(topic.to_string());
    }
    st.current = Some(topic.to_string());
    let short = names::short(topic, &st.domain).to_string();
    drop(st);
    shared.screen.info(format!("joined {short} ({here} connected)"));
    Ok(())
}

fn part(shared: &Shared, topic: &str) -> Result<(), String> {
    let name = Name::parse(topic).map_err(|e| format!("{topic}: {e}"))?;
    shared
        .request(Want::Reply, |seq| Msg::Unsub(Sub { seq, topic: name }))
        .map_err(|e| format!("cannot leave {topic}: {e}"))?;
    let mut st = shared.state();
    st.subs.retain(|s| s != topic);
    if st.current.as_deref() == Some(topic) {
        st.current = st.subs.last().cloned();
    }
    let msg = match &st.current {
        Some(c) => format!(
            "left {}; now talking in {}",
            names::short(topic, &st.domain),
            names::short(c, &st.domain)
        ),
        None => format!("left {}", names::short(topic, &st.domain)),
    };
    drop(st);
    shared.screen.info(msg);
    Ok(())
}

fn topics(shared: &Shared) -> Result<(), String> {
    let mut all = Vec::new();
    let mut start = 0u32;
    loop {
        let frame = shared
            .request(Want::Reply, |seq| {
                Msg::Topics(Topics {
                    seq,
                    start,
                    count: 100,
                    cursor: None,
                })
            })
            .map_err(|e| format!("topics: {e}"))?;
        let Ok(Msg::TopicList(list)) = frame.msg() else {
            return Err("topics: the server answered with something else".into());
        };
        let before = all.len();
        all.extend(list.topics.iter().map(|t| t.as_str().to_string()));
        let got = u32::try_from(all.len() - before).unwrap_or(u32::MAX);
        start = start.saturating_add(got);
        // Bounded: stop at the total, on an empty page, or after 100 pages.
        if got == 0 || start >= list.total || all.len() >= 10_000 {
            break;
        }
    }
    let mut st = shared.state();
    let shown: Vec<String> = all
        .iter()
        .map(|t| {
            let mark = if st.subs.contains(t) { "*" } else { "" };
            format!("{}{mark}", names::short(t, &st.domain))
        })
        .collect();
    st.learn_topics(all.iter().cloned());
    drop(st);
    if shown.is_empty() {
        shared
            .screen
            .info("no channels on this server yet (/join one to create it)");
    } else {
        shared
            .screen
            .info(format!("{} channel(s): {}", shown.len(), shown.join(" ")));
    }
    Ok(())
}

/// The short refs of recent messages, newest first, for completion.
pub fn recent_refs(shared: &Shared) -> Vec<String> {
    shared
        .state()
        .recent
        .iter()
        .rev()
        .map(|s| short_ref(&s.id))
        .collect()
}
