//! Carrying out a typed line on the editor thread. Results and errors go to the screen queue as
//! one line each; nothing here can end the program except `/quit`.

use super::command::{self, Command};
use super::shared::{ReqError, Shared, Want};
use super::{ignore, lists, meta, moderate, paced, presence, scroll};
use crate::conn::NetError;
use crate::event::{ACTION, short_ref};
use crate::input;
use crate::names::{self, Default};
use crate::paging::{Bounds, Pager};
use scalar::proto::{Action, Body, ErrorCode, Kind, Message, Msg, MsgId, Name, Ping, Role, Sub, Unsub};
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
    line_sent(shared, text).0
}

/// Carries out one line; says too whether it was a message the server took (its echo came).
pub fn line_sent(shared: &Shared, text: &str) -> (Flow, bool) {
    let cmd = match command::parse(text) {
        Ok(c) => c,
        Err(e) => {
            shared.line_failed(e);
            return (Flow::Continue, false);
        }
    };
    match run(shared, cmd) {
        Ok(sent) => (Flow::Continue, sent == Sent::Message),
        Err(Outcome::Quit(r)) => (Flow::Quit(r), false),
        Err(Outcome::Error(e)) => {
            shared.line_failed(e);
            (Flow::Continue, false)
        }
    }
}

/// What a command that went well did.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    /// A message the server took: its echo has come.
    Message,
    /// A message that waits for the server's rate ([`paced`]): it is sent later.
    Queued,
    /// Anything else.
    Other,
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

/// The current topic when it is a channel: what the commands about a channel act on.
pub(super) fn current_channel(shared: &Shared) -> Result<String, String> {
    let topic = current(shared, "/join #channel first")?;
    if topic.starts_with('#') {
        return Ok(topic);
    }
    let short = names::short(&topic, &shared.state().domain).to_string();
    Err(format!(
        "the current topic is your conversation with {short}, not a channel: /switch to one first"
    ))
}

fn run(shared: &Shared, cmd: Command<'_>) -> Result<Sent, Outcome> {
    let domain = shared.state().domain.clone();
    match cmd {
        Command::Nothing => {}
        Command::Say(text) => {
            let topic = current(shared, "/join #channel first, or /msg ID TEXT")?;
            return Ok(publish(shared, &topic, text, None, None)?);
        }
        Command::Me(text) => {
            let topic = current(shared, "/join #channel first")?;
            return Ok(publish(shared, &topic, text, Some(ACTION), None)?);
        }
        Command::Msg(to, text) => {
            let to = names::topic(to, &domain, Default::User)?;
            // A channel not joined would refuse it (403; found by QA: shown raw).
            let to = joined_if_channel(shared, to)?;
            return Ok(publish(shared, &to, text, None, None)?);
        }
        Command::Talk(to) => talk(shared, &names::topic(to, &domain, Default::User)?)?,
        Command::Reply(r, text) => {
            let seen = shared.state().resolve_ref(r)?;
            let me = shared.state().user.clone();
            // A direct message to us is answered to its sender; anything else where it was said.
            let topic = if seen.topic == me { seen.from } else { seen.topic };
            // A channel left since (or never joined: an invitation) would refuse it (403).
            let topic = joined_if_channel(shared, topic)?;
            return Ok(publish(shared, &topic, text, None, Some(seen.id))?);
        }
        // As in IRC, `/join #a,#b` joins each, the last joined becoming the current topic; one
        // refused does not stop the rest (found by QA: those after it were left unjoined,
        // unsaid), and each refusal is said.
        Command::Join(list) => {
            let failed: Vec<String> = list
                .split(',')
                .filter(|t| !t.is_empty())
                .filter_map(|t| names::channel(t, &domain).and_then(|c| join(shared, &c)).err())
                .collect();
            if !failed.is_empty() {
                return Err(failed.join("; ").into());
            }
        }
        Command::Part(words) => {
            let is_joined =
                |c: &str| names::channel(c, &domain).is_ok_and(|c| shared.state().subs.contains(&c));
            let (channel, reason) = command::part_words(words, is_joined)?;
            let topic = match channel {
                // As IRC's PART, a list: each checked before any is left.
                Some(list) if list.contains(',') => {
                    let topics = (list.split(',').filter(|t| !t.is_empty()))
                        .map(|t| joined(shared, names::channel(t, &domain)?))
                        .collect::<Result<Vec<_>, _>>()?;
                    if topics.is_empty() {
                        return Err(format!("{list:?} names no channel (/part #a,#b)").into());
                    }
                    for t in &topics {
                        part(shared, t, reason)?;
                    }
                    return Ok(Sent::Other);
                }
                // A channel waiting to be rejoined is not, from now on.
                Some(t) if names::channel(t, &domain).is_ok_and(|c| super::rejoin::cancel(shared, &c)) => {
                    return Ok(Sent::Other);
                }
                // A lone word: a channel, or a reason typed without one.
                Some(t) => {
                    joined(shared, names::channel(t, &domain)?).map_err(|e| match t.starts_with('#') {
                        true => e,
                        false => format!("{e}; to give a reason alone, name the channel: /part #CHANNEL {t}"),
                    })?
                }
                None => shared
                    .state()
                    .current
                    .clone()
                    .ok_or("no current topic to leave".to_string())?,
            };
            if topic.starts_with('#') {
                part(shared, &topic, reason)?;
            } else if reason.is_some() {
                // Nobody would be told it: refused rather than dropped unsaid.
                return Err(
                    "a conversation has nobody to tell a reason: /part alone closes it"
                        .to_string()
                        .into(),
                );
            } else {
                // A conversation view has nothing to unsubscribe from: just close it.
                let mut st = shared.state();
                st.current = st.subs.last().cloned();
                let now = st.now_talking();
                drop(st);
                shared.screen.info(format!("closed the conversation{now}"));
            }
        }
        Command::Switch(t) => {
            // A name that is no joined channel but someone talked with: that conversation, as
            // `/msg ID` would (found by QA: `/switch bob` said to join #bob). A full ID
            // (bob@other.example) is never a channel.
            let channel = names::channel(t, &domain);
            if !t.starts_with('#')
                && !channel.as_ref().is_ok_and(|c| shared.state().subs.contains(c))
                && let Ok(user) = names::topic(t, &domain, Default::User)
                && shared.state().talked_with(&user)
            {
                talk(shared, &user)?;
                return Ok(Sent::Other);
            }
            let channel = channel?;
            let short = names::short(&channel, &domain).to_string();
            let topic = joined(shared, channel).map_err(|e| match t.starts_with('#') {
                true => e,
                false => format!("not joined to {short}: /join it first, or /msg {t} to talk with {t}"),
            })?;
            let mut st = shared.state();
            st.current = Some(topic.clone());
            drop(st);
            shared
                .screen
                .info(format!("now talking in {}", names::short(&topic, &domain)));
        }
        Command::Topics(query) => lists::topics(shared, query)?,
        Command::Who(None, _) => lists::who(shared, &current_channel(shared)?, None, false)?,
        // A lone word: a joined channel (as before TEXT was taken, `/who rust` is #rust's), else
        // what to look for in the current one's.
        // `#word` is always a channel (found in review: `/who #Bad!` was looked for as text).
        Command::Who(Some(w), None) if w.starts_with('#') => {
            lists::who(shared, &joined(shared, names::channel(w, &domain)?)?, None, false)?
        }
        Command::Who(Some(w), None) => match names::channel(w, &domain) {
            Ok(c) if shared.state().subs.contains(&c) => lists::who(shared, &c, None, false)?,
            _ => lists::who(shared, &current_channel(shared)?, Some(w), true)?,
        },
        Command::Who(Some(t), text) => {
            lists::who(shared, &joined(shared, names::channel(t, &domain)?)?, text, false)?
        }
        // On the message's own channel, wherever this client is.
        Command::Mod(Action::Delete, r, reason) => moderate::delete(shared, r, reason)?,
        Command::Topic(_) | Command::Meta(_) | Command::Mode(_) | Command::Mod(..) | Command::Targets(_) => {
            on_channel(shared, &current_channel(shared)?, cmd)?
        }
        Command::In(named, cmd) => {
            let channel = joined(shared, names::channel(named, &domain)?)?;
            on_channel(shared, &channel, *cmd)?
        }
        Command::ServerBans => lists::targets(shared, scalar::proto::Action::Ban, lists::Of::Server)?,
        Command::ServerBan(action, target, reason) => moderate::server_ban(shared, action, target, reason)?,
        Command::Blocks => lists::targets(shared, scalar::proto::Action::Ban, lists::Of::Blocks)?,
        Command::Block(action, target, reason) => moderate::block(shared, action, target, reason)?,
        Command::Dms(only_accounts) => moderate::dms(shared, only_accounts)?,
        Command::Queue(drop) => paced::show(shared, drop),
        Command::Status(set) => presence::status(shared, set)?,
        Command::Watch(user) => presence::watch(shared, user, true)?,
        Command::Unwatch(user) => presence::watch(shared, user, false)?,
        Command::Whois(user) => presence::whois(shared, user)?,
        Command::Ignore(who) => ignore::ignore(shared, who, true)?,
        Command::Unignore(who) => ignore::ignore(shared, Some(who), false)?,
        // Admins speak to the server's reserved topics (PROTOCOL.md §4, Server admins).
        // Not messages the typed line gives way to (typed.rs): commands, which stay.
        Command::Wall(text) => {
            publish(shared, &format!("!wall@{domain}"), text, None, None)?;
        }
        Command::Motd(text) => {
            publish(shared, &format!("!motd@{domain}"), text, None, None)?;
        }
        Command::History(n) => scroll::history(shared, n, &current(shared, READ_HINT)?)?,
        Command::HistorySince(when) => {
            let topic = current(shared, READ_HINT)?;
            let since = when_typed(shared, "/history", when)?;
            scroll::since(shared, command::DEFAULT_HISTORY, &topic, since)?
        }
        Command::Conversations(when) => {
            let since = when
                .map(|w| when_typed(shared, "/conversations", w))
                .transpose()?;
            lists::conversations(shared, since)?
        }
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
        Command::Help(None) => {
            shared.screen.info("commands:");
            for l in command::help() {
                shared.screen.line(l);
            }
        }
        Command::Help(Some(name)) => match command::help_for(name) {
            Ok(line) => shared.screen.info(line),
            Err(e) => shared.line_failed(e),
        },
        Command::Quit(reason) => return Err(Outcome::Quit(reason.map(str::to_string))),
        Command::Reconnect => {
            let st = shared.state();
            if st.connected {
                return Err("already connected (/quit, then start again, for a new session)"
                    .to_string()
                    .into());
            }
            if let Some(why) = st.stopped.and_then(super::net::Stopped::needs_restart) {
                return Err(why.to_string().into());
            }
            drop(st);
            shared
                .reconnect_now
                .store(true, std::sync::atomic::Ordering::SeqCst);
            shared.screen.info("reconnecting now");
        }
        Command::Passwd => super::passwd::change(shared)?,
    }
    Ok(Sent::Other)
}

/// A command about one channel (its Meta, modes, lists and members: SetMeta, Mod, Targets) on
/// `channel`: the current one, or the one named first.
fn on_channel(shared: &Shared, channel: &str, cmd: Command<'_>) -> Result<(), String> {
    match cmd {
        Command::Topic(text) => meta::topic(shared, channel, text),
        Command::Meta(set) => meta::meta(shared, channel, set),
        Command::Mode(change) => meta::mode(shared, channel, change),
        Command::Mod(action, target, reason) => moderate::act(shared, channel, action, target, reason),
        Command::Targets(action) => lists::targets(shared, action, lists::Of::Channel(channel)),
        _ => Err("that command is not about a channel".into()),
    }
}

/// Sends a message and waits for its echo, which the reader thread shows. One the server
/// refuses for a short while (a channel's rate), or one for a topic with such lines waiting,
/// is queued and sent later ([`paced`]).
fn publish(
    shared: &Shared,
    topic: &str,
    text: &str,
    ctype: Option<&'static str>,
    reply_to: Option<MsgId>,
) -> Result<Sent, String> {
    input::check_len(text).map_err(|e| format!("not sent: the message is {}", e.describe()))?;
    Name::parse(topic).map_err(|e| format!("{topic}: {e}"))?;
    let short = names::short(topic, &shared.state().domain).to_string();
    let line = paced::Line {
        topic: topic.to_string(),
        text: text.to_string(),
        ctype,
        reply_to,
    };
    // Behind the lines waiting for the topic, never before them.
    if let Some(queued) = shared.paced.queue_behind(&line) {
        let n = queued.map_err(|why| format!("not sent to {short}: {why}"))?;
        // Said for the first behind, then every tenth: a pasted block is not a note a line.
        if n == 2 || n % 10 == 0 {
            shared
                .screen
                .info(format!("queued: {n} line(s) now wait for {short} (/queue)"));
        }
        return Ok(Sent::Queued);
    }
    match send_line(shared, &line) {
        Ok(()) => Ok(Sent::Message),
        Err(ReqError::Net(
            e @ NetError::Refused {
                retry_after: Some(told),
                ..
            },
        )) => {
            let wait = (shared.paced.push_refused(line, told))
                .map_err(|why| format!("not sent to {short}: {e} ({why})"))?;
            shared.screen.info(format!(
                "{e}; queued: sending it to {short} in {:.1}s (/queue)",
                wait.as_secs_f32()
            ));
            Ok(Sent::Queued)
        }
        Err(e) => Err(failure_text(shared, topic, e)),
    }
}

/// Sends `line` and waits for its echo; a direct message to someone away says so once it is
/// taken.
fn send_line(shared: &Shared, line: &paced::Line) -> Result<(), ReqError> {
    // Checked before it was sent or queued: this cannot fail.
    let topic = Name::parse(&line.topic).map_err(|e| ReqError::Net(NetError::Protocol(e.to_string())))?;
    let absent = match topic.kind() {
        Kind::User => super::presence::absent_line(shared, &line.topic),
        _ => None,
    };
    shared.request(Want::Reply, |seq| {
        Msg::Message(Message {
            seq,
            topic,
            body: Body::Text(&line.text),
            ctype: line.ctype,
            reply_to: line.reply_to,
        })
    })?;
    if let Some(absent) = absent {
        shared.screen.info(absent);
        super::presence::said(shared, &line.topic);
    }
    Ok(())
}

/// Sends a line that waited ([`paced`]'s thread).
pub(super) fn send_paced(shared: &Shared, line: &paced::Line) -> paced::Tried {
    let (stopped, rejoining) = {
        let st = shared.state();
        (st.stopped.is_some(), st.rejoin.contains_key(&line.topic))
    };
    // Its channel waits to be rejoined: the line waits with it, within its bounds, rather
    // than being refused as not subscribed.
    if rejoining {
        let short = names::short(&line.topic, &shared.state().domain).to_string();
        return paced::Tried::Refused {
            said: format!(
                "not sent to {short}: it was not rejoined ({})",
                quoted(&line.text)
            ),
            wait: std::time::Duration::from_secs(1),
        };
    }
    // Named: its typed line scrolled away long ago (found by QA).
    paced::Tried::of(send_line(shared, line), stopped, |e| {
        format!(
            "{} ({})",
            failure_text(shared, &line.topic, e),
            quoted(&line.text)
        )
    })
}

/// The start of a message's text, quoted, to name it in an error.
fn quoted(text: &str) -> String {
    const SHOWN: usize = 40;
    let clean = crate::render::clean_line(text);
    match clean.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("\"{}…\"", clean.get(..at).unwrap_or_default()),
        None => format!("\"{clean}\""),
    }
}

/// What to say of a message to `topic` that failed with `e`.
fn failure_text(shared: &Shared, topic: &str, e: ReqError) -> String {
    let short = names::short(topic, &shared.state().domain).to_string();
    match e {
        e @ ReqError::Lost => format!("{e}: the message to {short} may not have been delivered"),
        // The server may yet take it (a stalled server, a long queue): "not sent" would make
        // the user type it again, and the echo that comes later is shown as usual.
        e @ ReqError::Timeout => {
            format!("{e}: the message to {short} may still be delivered, and is shown here if it is")
        }
        // A server's topics (`!wall`, `!motd`) refuse everyone but its admins as `reserved`.
        ReqError::Net(e @ NetError::Refused { code, .. })
            if code == ErrorCode::Reserved as u16 && topic.starts_with('!') =>
        {
            format!("not sent to {short}: only the server's admins may publish there ({e})")
        }
        // A user who takes direct messages only from users who logged in (`/dms accounts`).
        ReqError::Net(e @ NetError::Refused { code, .. })
            if code == ErrorCode::RegisteredOnly as u16 && !topic.starts_with('#') =>
        {
            format!("not sent to {short}: {e} (log in to an account to write to them)")
        }
        e => format!("not sent to {short}: {e}"),
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
    let yourself = st.user == to;
    drop(st);
    shared.screen.info(match yourself {
        // Your own ID as a topic is your inbox (PROTOCOL.md, Catchup: who may read what).
        true => "your inbox: lines go to you (as notes to self), /history and /search read the \
                 direct messages you received; /switch #channel to go back"
            .to_string(),
        false => format!(
            "talking with {short}: lines go to {short}, /history and /search read your \
             conversation; /switch #channel to go back"
        ),
    });
    Ok(())
}

fn join(shared: &Shared, topic: &str) -> Result<(), String> {
    let name = Name::parse(topic).map_err(|e| format!("{topic}: {e}"))?;
    let unread = shared.state().unread(topic);
    let frame = shared
        .request(Want::Reply, |seq| Msg::Sub(Sub { seq, topic: name }))
        .map_err(|e| {
            let short = names::short(topic, &shared.state().domain).to_string();
            match why_not(&e) {
                Some(why) => format!("cannot join {short}: {why} ({e})"),
                None => format!("cannot join {short}: {e}"),
            }
        })?;
    let (here, unkept, subject, made, display, modes) = match frame.msg() {
        Ok(Msg::Meta(m)) => (
            m.subscribers,
            m.role == Some(Role::Owner) && m.kept == Some(false),
            m.subject.filter(|s| !s.is_empty()).map(crate::render::clean_line),
            m.created,
            m.display.filter(|s| !s.is_empty()).map(crate::render::clean_line),
            m.modes.unwrap_or(0),
        ),
        _ => (0, false, None, None, None, 0),
    };
    let mut st = shared.state();
    if !st.subs.iter().any(|s| s == topic) {
        st.subs.push(topic.to_string());
    }
    // Joined by hand: a rejoin still waiting is done.
    st.rejoin.remove(topic);
    if let Some(t) = made {
        st.made.insert(topic.to_string(), t);
    }
    st.modes.insert(topic.to_string(), modes);
    st.current = Some(topic.to_string());
    let short = names::short(topic, &st.domain).to_string();
    // scalard keeps the channels of an account up to a bound: past it, the one it owns now
    // ends with its last member, which nothing else would say.
    let unkept = unkept && st.logged_in;
    drop(st);
    // Its display name too, which may be in any script where the channel's name is ASCII.
    let display = display.map(|d| format!(", {d}")).unwrap_or_default();
    shared
        .screen
        .info(format!("joined {short}{display} ({here} connected)"));
    // As IRC shows a channel's topic on joining it.
    if let Some(subject) = subject {
        shared.screen.info(format!("topic of {short}: {subject}"));
    }
    if unkept {
        shared.screen.info(format!(
            "{short} is yours but not kept: it ends with its last member, modes and lists with it \
             (a server keeps only so many channels per account, and scalard only those made \
             while logged in)"
        ));
    }
    super::since::show(shared, name, unread);
    anchor_at_join(shared, name);
    Ok(())
}

/// Makes the channel's newest message, as the join finds it, the point a catch-up after a
/// drop resumes from, when nothing was seen there yet. Without it that catch-up starts a few
/// seconds before the drop (the clocks may differ), and a message said just before the join
/// would be shown as missed. Best effort: a server without history, or any failure, leaves
/// the catch-up as it was.
fn anchor_at_join(shared: &Shared, topic: Name<'_>) {
    if !shared.state().unread(topic.as_str()) {
        return;
    }
    let ask = Pager::new(topic, None, Bounds::default(), 1, false).ask();
    let Ok((events, _)) = shared.replay(ask) else {
        return;
    };
    let Some(newest) = events.last() else { return };
    let mut st = shared.state();
    // A live message may have come meanwhile: it is newer, and was seen.
    if st.unread(topic.as_str()) {
        st.last.insert(topic.to_string(), (newest.id, newest.time));
    }
}

/// The refusals of a channel that keeps someone out, in words (PROTOCOL.md §4, Sub).
fn why_not(e: &ReqError) -> Option<&'static str> {
    let ReqError::Net(NetError::Refused { code, .. }) = e else {
        return None;
    };
    match ErrorCode::from_u16(*code)? {
        ErrorCode::Banned => Some("you are banned from it"),
        // (scalard's reason goes on: ask an operator to invite you.)
        ErrorCode::InviteOnly => Some("it is invite-only"),
        ErrorCode::RegisteredOnly => Some("it admits only users who logged in with a password"),
        _ => None,
    }
}

/// `topic`, if this session joined it.
pub(super) fn joined(shared: &Shared, topic: String) -> Result<String, String> {
    let st = shared.state();
    match st.subs.contains(&topic) {
        true => Ok(topic),
        false => Err(format!(
            "not joined to {}: /join it first",
            names::short(&topic, &st.domain)
        )),
    }
}

/// `topic`, unless it is a channel this session has not joined ([`joined`]).
fn joined_if_channel(shared: &Shared, topic: String) -> Result<String, String> {
    match topic.starts_with('#') {
        true => joined(shared, topic),
        false => Ok(topic),
    }
}

/// Leaves `topic`, telling its members `reason` (PROTOCOL.md §4, Joins and leaves).
fn part(shared: &Shared, topic: &str, reason: Option<&str>) -> Result<(), String> {
    let name = Name::parse(topic).map_err(|e| format!("{topic}: {e}"))?;
    shared
        .request(Want::Reply, |seq| {
            Msg::Unsub(Unsub {
                seq,
                topic: name,
                reason,
            })
        })
        .map_err(|e| {
            let short = names::short(topic, &shared.state().domain).to_string();
            format!("cannot leave {short}: {e}")
        })?;
    let mut st = shared.state();
    st.left(topic);
    let msg = format!("left {}{}", names::short(topic, &st.domain), st.now_talking());
    drop(st);
    shared.screen.info(msg);
    paced::forget(shared, topic, "you left it");
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

/// The time typed after `since` in `command`, by the server's clock, or why it is none. One
/// read off this machine's clock (`2h`, `14:30`) is moved by how far the server's is from it,
/// which stamped what it holds (found by QA: a server three hours slow showed nothing for
/// `/history since 2h`); an exact one (RFC 3339, milliseconds) stays as typed.
fn when_typed(shared: &Shared, command: &str, when: &str) -> Result<u64, String> {
    let by_clock = crate::timefmt::parse_time(when).is_none();
    let skew = shared.state().skew_ms;
    let t = crate::timefmt::parse_when(when, crate::timefmt::now_ms());
    t.map(|t| if by_clock { t.saturating_add_signed(skew) } else { t }).ok_or_else(|| {
        format!(
            "{command} since: {when:?} is no time here: 90m, 2h, 3d, today, yesterday, 14:30, 2026-12-04 17:03, an RFC 3339 time or milliseconds since 1970 (12 digits or more: a smaller number is taken for a unit forgotten, 90 for 90m)"
        )
    })
}
