//! After a reconnect: re-subscribing, then catching up on every joined channel and on the
//! direct messages received, from the last message seen on each before the connection was lost
//! (PROTOCOL.md §4: forward pages with `after`).
//!
//! Nothing is shown until the whole restore has worked: the missed messages of each topic come
//! under one marker line that says how many there were and whether the gap is filled, then the
//! live Events that arrived meanwhile. Each message is shown once: a message can arrive both
//! live and in the replay, and a restore that fails half way is done again from the same gap.

use super::gaps::{self, MAX_PAGES, Start, Unfilled};
use super::net::handle;
use super::presence;
use super::shared::{Shared, Shown, State};
use crate::conn::{Conn, NetError};
use crate::event::Received;
use crate::names;
use crate::paging::{self, Ask, End, Ending, Pager};
use crate::timefmt::local_hms;
use scalar::client::Frame;
use scalar::proto::{Conversations, Msg, MsgId, Name, Presence, Role, Sub};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// Live Events held while a restore runs; past it they are shown at once, before the gap.
const MAX_HELD: usize = 10_000;

/// What a lost connection left to catch up on.
#[derive(Debug, Clone)]
pub struct Gap {
    /// When the server was last heard from (ms since the epoch, this client's clock).
    pub lost_at: u64,
    /// The last Event seen on each topic before the connection was lost, and its time.
    pub last: HashMap<String, (MsgId, u64)>,
    /// The gaps an earlier reconnect could not fill: where each starts, and the time of the
    /// first message seen live after it, if any.
    pub unfilled: HashMap<String, (Start, Option<u64>)>,
}

impl Gap {
    /// The gap the session in `st` has, the connection lost at `lost_at`.
    pub fn of(st: &State, lost_at: u64) -> Gap {
        Gap {
            lost_at,
            last: st.last.clone(),
            unfilled: st
                .unfilled
                .iter()
                .map(|(t, u)| (t.clone(), (u.start, u.upto)))
                .collect(),
        }
    }

    /// Where the catch-up of `topic` starts.
    fn start(&self, topic: &str) -> Start {
        match self.unfilled.get(topic) {
            // Nothing was seen since that gap: it runs on into this one, read as one.
            Some(&(start, None)) => start,
            // That gap ends where live messages were seen, and the background reads it on its
            // own: reading it again here would spend the pages on what was shown.
            _ => Start {
                last: self.last.get(topic).copied(),
                lost_at: self.lost_at,
            },
        }
    }
}

/// One topic's catch-up, read.
pub struct Caught {
    /// The topic caught up on.
    topic: String,
    /// Where the read started.
    pub start: Start,
    /// The time the read stopped before, if it had one.
    upto: Option<u64>,
    /// The missed messages, oldest first.
    events: Vec<Received>,
    /// How the read ended.
    ending: Ending,
    /// The read went on by time after the server no longer had the last message seen.
    by_time: bool,
    /// The retention horizon, where it cut into the gap.
    lost_before: Option<u64>,
}

impl Caught {
    /// The topic's name as the user knows it (`#up`, `your inbox`).
    pub fn name(&self, shared: &Shared) -> String {
        let st = shared.state();
        names::history_of(&self.topic, &st.user, &st.domain)
    }

    /// How the read ended.
    pub fn ending(&self) -> Ending {
        self.ending
    }
}

/// A topic whose catch-up the server refused.
struct Refused {
    topic: String,
    start: Start,
    why: NetError,
}

/// A finished restore, to be shown once the connection is installed.
pub struct Restored {
    caught: Vec<Result<Caught, Refused>>,
    held: Vec<Received>,
    lost_at: u64,
    /// The users watched again, and their presence now.
    watched: Vec<(String, Option<Presence>)>,
    /// What the server refused on the way (a channel not rejoined, a user not watched again):
    /// said after the line that says the connection is back, not before it.
    refusals: Vec<String>,
    /// The user's conversations with messages since the client was last there, and the time
    /// of each one's newest (PROTOCOL.md §4, Conversations); and whether the list was read to
    /// its end.
    moved: (Vec<(String, u64)>, bool),
    /// What the restore comes after, for its lines.
    after: After,
}

/// What a catch-up comes after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// A lost connection, made again.
    Reconnect,
    /// The end of the client's last run (an account's inbox, at start).
    Absence,
}

impl After {
    /// What begins its lines: `reconnected`, or what was missed `while you were away`.
    fn lead(self) -> &'static str {
        match self {
            After::Reconnect => "reconnected",
            After::Absence => "while you were away",
        }
    }

    /// What begins the line of a catch-up the server refused.
    fn refused(self) -> &'static str {
        match self {
            After::Reconnect => "reconnected, but",
            After::Absence => "at start,",
        }
    }
}

/// Re-subscribes to every joined channel and catches up on each, and on the direct messages
/// received, on a fresh connection that the editor thread cannot use yet; then watches again
/// whom the user watched ([`presence::restore`]).
pub fn restore(shared: &Shared, conn: &mut Conn, gap: &Gap) -> Result<Restored, NetError> {
    let mut refusals = Vec::new();
    let restored = restore_noting(shared, conn, gap, &mut refusals);
    match restored {
        Ok(r) => Ok(Restored { refusals, ..r }),
        Err(e) => {
            // No connection to say they came after: said now, as what they changed (the
            // channels left, the users no longer watched) stays.
            for line in refusals {
                shared.screen.error(line);
            }
            Err(e)
        }
    }
}

/// [`restore`], noting the server's refusals in `refusals`.
fn restore_noting(
    shared: &Shared,
    conn: &mut Conn,
    gap: &Gap,
    refusals: &mut Vec<String>,
) -> Result<Restored, NetError> {
    let mut held = Vec::new();
    let subs = shared.state().subs.clone();
    let mut gone = Vec::new();
    for topic in &subs {
        let Ok(name) = Name::parse(topic) else { continue };
        match ask(shared, conn, &mut held, |seq| Msg::Sub(Sub { seq, topic: name }))? {
            Ok(meta) => made_anew(shared, topic, &meta),
            Err(e) => {
                gone.push((topic.clone(), e));
            }
        }
    }
    let (me, domain, logged_in) = {
        let mut st = shared.state();
        for (topic, e) in &gone {
            let short = crate::names::short(topic, &st.domain).to_string();
            // Refused for a while (a join rate): tried again once the wait is over.
            let later = e
                .retry_after()
                .map(|told| super::rejoin::later(&mut st, topic, gap.start(topic), told));
            if let Some(Ok(wait)) = later {
                let talking = match st
                    .rejoin
                    .get(topic)
                    .is_some_and(super::rejoin::Pending::was_current)
                {
                    true => "; no channel is current until then",
                    false => "",
                };
                refusals.push(format!(
                    "cannot rejoin {short} yet: {e}; trying again in {:.1}s{talking}",
                    wait.as_secs_f32()
                ));
                continue;
            }
            // As after a kick: nothing is current (what is typed next was meant for it).
            let talking = st.left_unasked(topic);
            refusals.push(format!("cannot rejoin {short}: {e}{talking}"));
        }
        (st.user.clone(), st.domain.clone(), st.logged_in)
    };
    let gone: Vec<String> = gone.into_iter().map(|(t, _)| t).collect();
    // A user of another domain (come with a token) has no inbox here: its ID's topic is its
    // home server's, and asking this one is foreign_topic. A name without an account reads
    // only what reaches it from this session on (PROTOCOL.md §4, Who may read what): what
    // came while away is not its to read.
    let inbox = (logged_in && me.rsplit_once('@').is_some_and(|(_, d)| d == domain)).then_some(&me);
    let watched = presence::restore(shared, conn, &mut held, refusals)?;
    let mut caught = Vec::new();
    for topic in subs.iter().filter(|t| !gone.contains(t)).chain(inbox) {
        // The server accepted each of these names (a Sub, the ID it gave).
        let Ok(name) = Name::parse(topic) else { continue };
        let start = match gap.start(topic) {
            // An inbox none of whose messages was ever shown here (the first run found it
            // empty; `repl::first_mark`): all of it is news, whatever this clock says.
            Start { last: None, .. } if Some(topic) == inbox => Start {
                last: None,
                lost_at: 0,
            },
            start => start,
        };
        caught.push(catch_up(shared, conn, name, start, &mut held)?);
    }
    // What this run showed is known ([`news_elsewhere`]): the margin may be generous.
    let moved = match inbox {
        Some(_) => moved_since(shared, conn, gap.lost_at, gaps::SKEW_MS, &mut held)?,
        None => (Vec::new(), true),
    };
    Ok(Restored {
        caught,
        held,
        lost_at: gap.lost_at,
        watched,
        refusals: Vec::new(),
        moved,
        after: After::Reconnect,
    })
}

/// The most pages of [`moved_since`]'s list read: a page looks at up to 500 conversations
/// (scalard), so 5,000 of them, in the other users' order; past them the line says there may
/// be more.
const MAX_MOVED_PAGES: u32 = 10;

/// The most conversations the line after a restore names; the rest it counts.
const MAX_NAMED: usize = 10;

/// The user's conversations with messages since `left_at`, this machine's time when the server
/// was last heard from (PROTOCOL.md §4, Conversations): one that another connection of the user
/// began while this client was away, and that the other user has not answered, is in no topic
/// this client reads back. Asked of the server's clock (as this connection's Ident set it),
/// `margin` ms before, since times of different topics are not in order; those already shown
/// are passed over when said ([`news_elsewhere`]), and those another device of the user read
/// here ([`super::read::unread_elsewhere`]). None where the server keeps no list of them,
/// refuses it, or answers what this client cannot use (the restore goes on without); the outer
/// error ends the restore (the connection failed). True with them if the list was read to its
/// end.
fn moved_since(
    shared: &Shared,
    conn: &mut Conn,
    left_at: u64,
    margin: u64,
    held: &mut Vec<Received>,
) -> Result<(Vec<(String, u64)>, bool), NetError> {
    let skew = conn.skew_ms.unwrap_or(shared.state().skew_ms);
    let since = left_at.saturating_add_signed(skew).saturating_sub(margin);
    let listed = crate::listing::conversations(MAX_MOVED_PAGES, Some(since), |c| {
        ask(shared, conn, held, |seq| {
            Msg::Conversations(Conversations { seq, ..c })
        })?
    });
    match listed {
        Ok(Ok(l)) => {
            let moved = l.items.into_iter().map(|c| (c.with, c.newest)).collect();
            // What another device of the user read is no news.
            let unread = super::read::unread_elsewhere(shared, conn, held, moved)?;
            Ok((unread, !l.cut))
        }
        Ok(Err(_)) | Err(NetError::Refused { .. } | NetError::Protocol(_)) => Ok((Vec::new(), true)),
        Err(e) => Err(e),
    }
}

/// On the first connection of an account: the direct messages that reached it since the
/// client last left it ([`crate::marks`]), read before the editor starts.
/// `left_at`: when the last run last heard from the server, which the conversations with
/// messages since are listed from.
pub fn since_last_run(
    shared: &Shared,
    conn: &mut Conn,
    start: Start,
    left_at: u64,
) -> Result<Restored, NetError> {
    let me = shared.state().user.clone();
    let name = Name::parse(&me).map_err(|e| NetError::Protocol(format!("{me}: {e}")))?;
    let mut held = Vec::new();
    let caught = catch_up(shared, conn, name, start, &mut held)?;
    // A new run knows nothing of what the last one showed: no margin, or what it wrote or
    // read just before it left would be named as news (found by QA: `bye`, then /quit).
    let moved = moved_since(shared, conn, left_at, 0, &mut held)?;
    Ok(Restored {
        caught: vec![caught],
        held,
        lost_at: start.lost_at,
        watched: Vec::new(),
        refusals: Vec::new(),
        moved,
        after: After::Absence,
    })
}

/// The newest direct message of this user's inbox, if it has one (the live Events that come
/// meanwhile go to `held`): where the first run of an account on a machine starts its mark,
/// so that what is already there is not taken for news at the next start.
pub fn newest_in_inbox(
    shared: &Shared,
    conn: &mut Conn,
    held: &mut Vec<Received>,
) -> Result<Option<(MsgId, u64)>, NetError> {
    let me = shared.state().user.clone();
    let name = Name::parse(&me).map_err(|e| NetError::Protocol(format!("{me}: {e}")))?;
    let mut pager = Pager::new(name, None, paging::Bounds::default(), 1, true);
    let start = Start {
        last: None,
        lost_at: 0,
    };
    let c = read(&me, start, &mut pager, |ask| fetch(shared, conn, ask, held))?;
    Ok(c.events.last().map(|e| (e.id, e.time)))
}

/// Reads what `topic` got after `start`. The outer error ends the restore (the connection
/// failed); a refusal (not subscribed after all, store_unavailable) concerns this topic only.
fn catch_up(
    shared: &Shared,
    conn: &mut Conn,
    topic: Name<'_>,
    start: Start,
    held: &mut Vec<Received>,
) -> Result<Result<Caught, Refused>, NetError> {
    let mut pager = gaps::pager(topic, start, None);
    let topic = topic.as_str();
    match read(topic, start, &mut pager, |ask| fetch(shared, conn, ask, held)) {
        Ok(c) => Ok(Ok(c)),
        Err(why @ NetError::Refused { .. }) => Ok(Err(Refused {
            topic: topic.to_string(),
            start,
            why,
        })),
        Err(e) => Err(e),
    }
}

/// Says so if `topic`, rejoined, is not the channel that was joined: it ended while the
/// client was away (the server did not keep it, or restarted) and whoever came first made it
/// anew, so its modes, topic, lists and roles start over; as IRC shows a channel's state on
/// rejoining, which nothing here would otherwise show.
pub(super) fn made_anew(shared: &Shared, topic: &str, meta: &Frame) {
    let Ok(Msg::Meta(m)) = meta.msg() else { return };
    let mut st = shared.state();
    st.modes.insert(topic.to_string(), m.modes.unwrap_or(0));
    let Some(now) = m.created else { return };
    let before = st.made.insert(topic.to_string(), now);
    if before.is_none_or(|t| t == now) {
        return;
    }
    let short = names::short(topic, &st.domain).to_string();
    drop(st);
    let you = match m.role {
        Some(Role::Owner) => "you own it now",
        Some(Role::Operator) => "you are an operator there now",
        Some(Role::Voiced) => "you have a voice there now",
        Some(Role::Member) | None => "you are a member there now",
    };
    shared.screen.info(format!(
        "{short} ended while you were away and was made anew: {you}; its modes, topic, lists \
         and operators started over"
    ));
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

/// Reads what `topic` got after `start` with `pager`, through `fetch`.
pub(super) fn read<E: paging::PageError + From<NetError>>(
    topic: &str,
    start: Start,
    pager: &mut Pager<'_>,
    fetch: impl FnMut(Ask<'_>) -> Result<(Vec<Received>, End), E>,
) -> Result<Caught, E> {
    let mut events = Vec::new();
    let ending = paging::read(pager, fetch, |e| {
        events.push(e);
        Ok(true)
    })?
    .unwrap_or(Ending::Complete);
    // A gap refused part way is kept and read again whole, as one refused at once: what it
    // got so far comes again then, once (duplicates are dropped by id).
    if let Some(e) = pager.refused.take() {
        return Err(e.into());
    }
    Ok(Caught {
        topic: topic.to_string(),
        start,
        upto: pager.until(),
        events,
        ending,
        by_time: pager.by_time,
        lost_before: pager.lost_before(ending),
    })
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
            Ok(Msg::Error(e)) if e.seq == Some(seq) => return Err(NetError::of_error(&e)),
            Ok(Msg::Ping(p)) => conn.send(&Msg::Pong(p))?,
            Ok(m) if m.seq() == Some(seq) => return Ok(frame),
            Ok(Msg::Event(e)) if held.len() < MAX_HELD => held.push(Received::new(&e)),
            _ => handle(shared, frame)?,
        }
    }
}

impl Restored {
    /// Says what the server refused on the way (see [`Restored::refusals`]).
    pub fn say_refusals(&self, shared: &Shared) {
        for line in &self.refusals {
            shared.screen.error(line);
        }
    }

    /// Shows each topic's missed messages under its marker, then the live Events held, each
    /// message once; then one line for the topics where nothing was missed. A topic whose
    /// catch-up was refused is kept as a gap to fill later ([`gaps`]).
    pub fn show(self, shared: &Shared) {
        self.say_refusals(shared);
        let (domain, me) = {
            let st = shared.state();
            (st.domain.clone(), st.user.clone())
        };
        let moved = news_elsewhere(&self.moved.0, &self.caught, &self.held, &shared.state());
        // The held live Events are checked against every message replayed and shown, not only
        // against the last ones shown, which a long replay pushes out.
        let replayed: HashSet<MsgId> = self
            .caught
            .iter()
            .flatten()
            .flat_map(|c| c.events.iter().map(|e| e.id))
            .collect();
        // The message of the day greets the session (it comes right after the Ident reply):
        // before what was missed, as an IRC server's MOTD comes first (found by QA: it came
        // after the inbox's catch-up).
        let (greeting, held): (Vec<Received>, Vec<Received>) =
            self.held.into_iter().partition(|e| e.topic.starts_with("!motd@"));
        for e in &greeting {
            shared.show_event(e, Shown::Live);
        }
        let mut nothing = Vec::new();
        let mut no_history = Vec::new();
        // Where the earliest of those gaps starts (an older one that was never filled).
        let mut since = self.lost_at;
        for c in self.caught {
            let c = match c {
                Ok(c) => c,
                Err(r) => {
                    let name = names::history_of(&r.topic, &me, &domain);
                    // An older gap still open and this one become one, read whole next time.
                    let start = shared.state().unfilled.get(&r.topic).map_or(r.start, |u| u.start);
                    let since = start.since();
                    let retry = gaps::worth_retrying(&r.why);
                    let line = format!(
                        "{} the history of {name} could not be fetched ({}): anything \
                         said there since {since} {}",
                        self.after.refused(),
                        r.why,
                        match retry {
                            true => "is missing until it can be; trying again in the background",
                            false => "may be missing",
                        }
                    );
                    let mut st = shared.state();
                    st.unfilled.remove(&r.topic);
                    if retry {
                        st.unfilled.insert(r.topic, Unfilled::new(start));
                    }
                    drop(st);
                    shared.screen.error(line);
                    continue;
                }
            };
            {
                // If this read covered it. Not an older gap left to the background (see
                // `Gap::start`), nor judged by `upto` now: a live Event past the restore's
                // hold may have set it since the read began.
                let mut st = shared.state();
                if st.unfilled.get(&c.topic).is_some_and(|u| u.start == c.start) {
                    st.unfilled.remove(&c.topic);
                }
            }
            if c.ending == Ending::Unavailable {
                since = since.min(c.start.lost_at);
                no_history.push(names::history_of(&c.topic, &me, &domain));
            } else if let Some(name) = show_caught(shared, c, &format!("{}: ", self.after.lead())) {
                nothing.push(name);
            }
        }
        if !nothing.is_empty() {
            shared.screen.info(format!(
                "{}: nothing missed in {}",
                self.after.lead(),
                and_list(&nothing)
            ));
        }
        if !no_history.is_empty() {
            shared.screen.info(format!(
                "the server keeps no history: what was said since {} in {} could not be \
                 fetched, and may have been missed",
                local_hms(since),
                and_list(&no_history)
            ));
        }
        if !moved.is_empty() {
            let mut with: Vec<String> = (moved.iter().take(MAX_NAMED))
                .map(|u| names::short(u, &domain).to_string())
                .collect();
            if moved.len() > MAX_NAMED {
                with.push(format!(
                    "{} others (/conversations lists them)",
                    moved.len() - MAX_NAMED
                ));
            }
            // The list was read part way: more may have moved, in later names.
            if !self.moved.1 {
                with.push("maybe others (/conversations lists them all)".into());
            }
            let how = match with.as_slice() {
                [one] => format!("/msg {one}, then /history, reads it"),
                _ => "/msg NAME, then /history, reads one".into(),
            };
            shared.screen.info(format!(
                "{}: new messages in your conversation{} with {} ({how})",
                self.after.lead(),
                if with.len() == 1 { "" } else { "s" },
                and_list(&with)
            ));
        }
        presence::show_restored(shared, &self.watched);
        for e in held.iter().filter(|e| !replayed.contains(&e.id)) {
            shared.show_event(e, Shown::Live);
        }
    }
}

/// Shows the messages of one topic's catch-up not shown before, under a marker line that
/// starts with `lead` and says whether the gap is filled. Returns the topic's name instead when
/// there is nothing to say: nothing missed, and the gap filled.
pub(super) fn show_caught(shared: &Shared, c: Caught, lead: &str) -> Option<String> {
    let name = c.name(shared);
    let (fresh, inbox, rest) = {
        let st = shared.state();
        let inbox = c.topic == st.user;
        // Direct messages are each the user's: past the page bound, the rest of the inbox's
        // gap is read in the background (`gaps`), and the inbox mark stays at its start.
        let rest = match (inbox, c.ending, c.events.last()) {
            (true, Ending::Capped, Some(last)) => {
                let mut rest = Unfilled::new(Start {
                    last: Some((last.id, last.time)),
                    lost_at: c.start.lost_at,
                });
                rest.upto = c.upto;
                Some(rest)
            }
            _ => None,
        };
        let fresh: Vec<Received> = c.events.into_iter().filter(|e| !st.seen(&e.id)).collect();
        (fresh, inbox, rest)
    };
    let deleted = fresh.iter().any(super::deleted::removes_messages);
    let gaps = gap_notes(c.ending, (c.by_time, deleted), c.lost_before, inbox);
    if fresh.is_empty() && gaps.is_empty() {
        return Some(name);
    }
    // A read that stopped at its bound knows only that more were missed (found by QA: "2000
    // messages missed" read as the total).
    let more = match c.ending {
        Ending::Capped => "at least ",
        _ => "",
    };
    let mut line = format!("{lead}{more}{} missed in {name}", missed(fresh.len()));
    if !fresh.is_empty() {
        line.push_str(" below");
    }
    line.push_str(&if gaps.is_empty() {
        "; the gap is filled".to_string()
    } else {
        format!("; {}", gaps.join("; "))
    });
    shared.screen.info(line);
    shared.show_events(&fresh, Shown::Missed);
    // Only now: a message shown marks where a gap of its topic ends (`State::advance`), and
    // these are before the rest, not after it.
    if let Some(rest) = rest {
        shared.state().unfilled.insert(c.topic.clone(), rest);
    }
    super::ignore::say_hidden(shared, &fresh);
    // A long replay pushes the marker off the screen, and ends with what looks like the
    // present: say again, below it, what is still missing.
    if !gaps.is_empty() && fresh.len() > REPEAT_GAP_AFTER {
        shared.screen.info(format!(
            "end of the {} missed in {name}; {}",
            missed(fresh.len()),
            gaps.join("; ")
        ));
    }
    None
}

/// Replays longer than this many messages repeat their marker's warnings after them.
const REPEAT_GAP_AFTER: usize = 20;

/// The other users of the conversations in `moved` whose newest message neither this
/// restore's inbox catch-up, nor the live Events held meanwhile (shown right after), nor this
/// run showed (one as new as the conversation's newest, either way), newest first: what another
/// connection of the user said there, or what the user did not read back.
fn news_elsewhere<'m>(
    moved: &'m [(String, u64)],
    caught: &[Result<Caught, Refused>],
    held: &[Received],
    st: &State,
) -> Vec<&'m str> {
    let me = st.user.as_str();
    // A direct message's other user: its sender if it came to this user, else its topic.
    fn other<'a>(me: &str, topic: &'a str, from: &'a str) -> &'a str {
        if topic == me { from } else { topic }
    }
    let inbox = caught.iter().flatten().filter(|c| c.topic == me);
    let mut shown: Vec<(&str, u64)> = inbox
        .flat_map(|c| c.events.iter().map(|e| (e.from.as_str(), e.time)))
        .collect();
    shown.extend(held.iter().map(|e| (other(me, &e.topic, &e.from), e.time)));
    shown.extend(st.recent.iter().map(|s| (other(me, &s.topic, &s.from), s.time)));
    let mut news: Vec<&(String, u64)> = (moved.iter())
        .filter(|(with, newest)| !shown.iter().any(|&(other, t)| other == with && t >= *newest))
        .collect();
    news.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    news.into_iter().map(|(with, _)| with.as_str()).collect()
}

/// `a`, `a and b`, `a, b and c`.
pub(super) fn and_list(items: &[String]) -> String {
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

/// What makes a gap not wholly filled, one phrase each. `by_time`: the last message seen was
/// not found, and whether an operator's delete or purge is among what came meanwhile.
fn gap_notes(
    ending: Ending,
    (by_time, deleted): (bool, bool),
    lost_before: Option<u64>,
    inbox: bool,
) -> Vec<String> {
    let mut v = Vec::new();
    // Retention that cut into the gap says more than the fallback by time it caused.
    if by_time && lost_before.is_none() && deleted {
        // Most likely why, shown below: a regular back after a raid's purge was told only of
        // a crash that may have lost it (found by QA's raid drill).
        v.push(
            "the last message seen there is no longer readable on the server, most likely \
             deleted by an operator (the record is below), so the rest was fetched by its time"
                .to_string(),
        );
    } else if by_time && lost_before.is_none() {
        v.push(
            "the gap may be incomplete: the last message seen there is no longer readable on the \
             server (deleted, or lost if the server crashed just after sending it: it and others \
             shown just before may be gone from its history), so the rest was fetched by its time"
                .to_string(),
        );
    }
    if let Some(h) = lost_before {
        // An account reads its direct messages from its creation on (PROTOCOL.md §4).
        let or = match inbox {
            true => ", or they were sent before your account was made",
            false => "",
        };
        v.push(format!(
            "the gap is incomplete: the server's retention deleted messages up to {}{or}",
            local_hms(h)
        ));
    }
    match ending {
        Ending::Capped if inbox => v.push(format!(
            "stopped after {MAX_PAGES} pages: the newer ones follow in the background"
        )),
        Ending::Capped => v.push(format!(
            "stopped after {MAX_PAGES} pages: newer missed messages were not fetched (/history shows \
             the latest)"
        )),
        Ending::More | Ending::UnknownId | Ending::Refused => {
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

    /// A session of me@l whose screen sends what it shows to the receiver.
    fn session() -> (Shared, Screen, mpsc::Receiver<String>) {
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
        (shared, screen, rx)
    }

    /// A complete read of `topic` from `start` that found `events`.
    fn caught(topic: &str, start: Start, events: Vec<Received>) -> Caught {
        Caught {
            topic: topic.into(),
            start,
            upto: None,
            events,
            ending: Ending::Complete,
            by_time: false,
            lost_before: None,
        }
    }

    /// A conversation whose newest message the inbox catch-up showed (bob's, from bob), or this
    /// run showed (erin's: this client wrote to her), is no news; one the user's other device
    /// wrote to (carol), or where the other user wrote after what was shown (dave), is, newest
    /// first.
    #[test]
    fn conversations_moved_elsewhere_are_those_the_inbox_did_not_show() {
        let (shared, _screen, _rx) = session();
        let mut to_erin = ev(4, "erin@l");
        to_erin.from = "me@l".into();
        shared.state().remember(&to_erin);
        let start = Start {
            last: None,
            lost_at: 0,
        };
        let inbox = caught("me@l", start, vec![ev(1, "me@l"), ev(5, "me@l")]);
        let channel = caught("#a@l", start, vec![ev(9, "#a@l")]);
        let mut dave = ev(7, "me@l");
        dave.from = "dave@l".into();
        let old = caught("me@l", start, vec![dave]);
        let moved = [
            ("bob@l".to_string(), 1_005),
            ("carol@l".to_string(), 1_003),
            ("dave@l".to_string(), 1_008),
            ("erin@l".to_string(), 1_004),
        ];
        let restored = [Ok(inbox), Ok(channel), Ok(old)];
        let news = news_elsewhere(&moved, &restored, &[], &shared.state());
        assert_eq!(news, ["dave@l", "carol@l"]);
    }

    #[test]
    fn an_inbox_read_stopped_at_the_page_bound_leaves_the_rest_to_the_background() {
        let (shared, screen, rx) = session();
        let start = Start {
            last: None,
            lost_at: 1_000,
        };
        let capped = |topic: &str, upto| Caught {
            ending: Ending::Capped,
            upto,
            ..caught(topic, start, (1..=3).map(|n| ev(n, topic)).collect())
        };
        let away = "while you were away: ";
        assert_eq!(show_caught(&shared, capped("me@l", Some(9_000)), away), None);
        assert_eq!(
            show_caught(&shared, capped("#a@l", Some(9_000)), "reconnected: "),
            None
        );
        screen.flush(Duration::from_secs(10));
        let all: String = rx.try_iter().collect();
        assert!(all.contains("the newer ones follow in the background"), "{all}");
        assert!(all.contains("newer missed messages were not fetched"), "{all}");
        let st = shared.state();
        let rest = &st.unfilled["me@l"];
        let last = ev(3, "me@l");
        assert_eq!(
            rest.start.last,
            Some((last.id, last.time)),
            "from the last one read"
        );
        assert_eq!((rest.start.lost_at, rest.upto), (1_000, Some(9_000)));
        assert!(!st.unfilled.contains_key("#a@l"), "a channel's is not read on");
        drop(st);
        // With no bound yet: the messages just shown are not where it ends (QA found the
        // first of them taken for that, so the rest was never read).
        shared.state().unfilled.clear();
        let again = capped("me@l", None);
        let again = Caught {
            events: (4..=6).map(|n| ev(n, "me@l")).collect(),
            ..again
        };
        assert_eq!(show_caught(&shared, again, away), None);
        assert_eq!(shared.state().unfilled["me@l"].upto, None);
    }

    #[test]
    fn a_live_event_also_replayed_is_shown_once_however_long_the_replay() {
        let (shared, screen, rx) = session();
        let start = Start {
            last: None,
            lost_at: 1_000,
        };
        let caught = |topic, events| caught(topic, start, events);
        // #a's replay has the Event that also came live during the restore; #b's replay, shown
        // after it, is longer than the memory of recent ids.
        let twice = ev(0, "#a@l");
        // #c's read was refused: nothing of it is shown, so its live copy must be, and the gap
        // is kept to be filled later.
        let failed = Refused {
            topic: "#c@l".into(),
            start,
            why: NetError::refused(700, "store_unavailable".into()),
        };
        let restored = Restored {
            caught: vec![
                Ok(caught("#a@l", vec![twice.clone()])),
                Ok(caught("#b@l", (1..=1100).map(|n| ev(n, "#b@l")).collect())),
                Err(failed),
            ],
            held: vec![twice, ev(5000, "#a@l"), ev(6000, "#c@l")],
            lost_at: 1_000,
            watched: Vec::new(),
            refusals: Vec::new(),
            moved: (Vec::new(), true),
            after: After::Reconnect,
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
        assert!(
            !all.contains("end of the"),
            "a filled gap needs no second word: {all}"
        );
        let st = shared.state();
        let gap = &st.unfilled["#c@l"];
        assert_eq!(gap.start, start);
        assert_eq!(
            gap.upto,
            Some(ev(6000, "#c@l").time),
            "the first live message after the gap bounds its next read"
        );
        assert!(!st.unfilled.contains_key("#a@l"));
    }

    #[test]
    fn a_long_replay_that_left_some_out_says_so_again_at_its_end() {
        let (shared, screen, rx) = session();
        let start = Start {
            last: None,
            lost_at: 1_000,
        };
        let long = Caught {
            ending: Ending::Capped,
            ..caught("#b@l", start, (1..=30).map(|n| ev(n, "#b@l")).collect())
        };
        assert_eq!(show_caught(&shared, long, "reconnected: "), None);
        screen.flush(Duration::from_secs(10));
        let all: String = rx.try_iter().collect();
        assert!(
            all.contains("reconnected: at least 30 messages missed in #b below"),
            "{all}"
        );
        let last = all.lines().last().unwrap_or_default();
        assert!(
            last.contains("end of the 30 messages missed in #b")
                && last.contains(&format!("stopped after {MAX_PAGES} pages")),
            "{all}"
        );
    }

    #[test]
    fn a_reconnect_reads_a_gap_not_yet_filled_only_if_it_runs_on_into_this_one() {
        let mut st = State::default();
        let old = Start {
            last: Some((MsgId([1; 32]), 100)),
            lost_at: 500,
        };
        st.unfilled.insert("#a@l".into(), Unfilled::new(old));
        st.unfilled.insert("#c@l".into(), Unfilled::new(old));
        // Messages seen live since then moved the last one seen on, past #a's gap, which now
        // ends at the first of them; nothing was seen in #c since its gap.
        st.advance(&ev(7, "#a@l"));
        st.advance(&ev(9, "#a@l"));
        st.advance(&ev(8, "#b@l"));
        assert_eq!(st.unfilled["#a@l"].upto, Some(ev(7, "#a@l").time));
        let gap = Gap::of(&st, 9_000);
        let after = |n| Start {
            last: Some((ev(n, "#a@l").id, 1_000 + u64::from(n))),
            lost_at: 9_000,
        };
        assert_eq!(
            gap.start("#a@l"),
            after(9),
            "the old gap is left to the background"
        );
        assert_eq!(gap.start("#c@l"), old, "one gap, read from its start");
        assert_eq!(gap.start("#b@l").lost_at, 9_000);
    }

    #[test]
    fn a_reconnect_closes_only_the_gaps_it_read_and_joins_a_refused_one() {
        let (shared, _screen, _shown) = session();
        let old = Start {
            last: None,
            lost_at: 500,
        };
        let mut bounded = Unfilled::new(old);
        bounded.upto = Some(700);
        let new = Start {
            last: Some((ev(9, "#a@l").id, 1_009)),
            lost_at: 9_000,
        };
        {
            let mut st = shared.state();
            st.unfilled.insert("#a@l".into(), bounded.clone());
            st.unfilled.insert("#b@l".into(), bounded);
        }
        // #c's gap was read whole, though a live Event (past the held ones) bounded it since.
        let mut whole = Unfilled::new(old);
        whole.upto = Some(1_050);
        shared.state().unfilled.insert("#c@l".into(), whole);
        let restored = Restored {
            caught: vec![
                Ok(caught("#c@l", old, vec![ev(10, "#c@l")])),
                Ok(caught("#a@l", new, vec![ev(10, "#a@l")])),
                Err(Refused {
                    topic: "#b@l".into(),
                    start: new,
                    why: NetError::refused(700, "store_unavailable".into()),
                }),
            ],
            held: Vec::new(),
            lost_at: 9_000,
            watched: Vec::new(),
            refusals: Vec::new(),
            moved: (Vec::new(), true),
            after: After::Reconnect,
        };
        restored.show(&shared);
        let st = shared.state();
        let a = &st.unfilled["#a@l"];
        assert_eq!((a.start, a.upto), (old, Some(700)), "still to be read");
        let b = &st.unfilled["#b@l"];
        assert_eq!((b.start, b.upto), (old, None), "both gaps, as one");
        assert!(!st.unfilled.contains_key("#c@l"), "filled by the reconnect");
    }

    #[test]
    fn a_gap_refused_part_way_is_kept_to_be_read_again_whole() {
        let start = Start {
            last: None,
            lost_at: 1_000,
        };
        let mut pager = gaps::pager(Name::parse("#a@l").unwrap(), start, None);
        let mut asked = 0;
        let r = read("#a@l", start, &mut pager, |_| {
            asked += 1;
            if asked > 1 {
                return Err(NetError::refused(700, "store_unavailable".into()));
            }
            let more = End {
                status: scalar::proto::CatchupStatus::Truncated,
                horizon: None,
            };
            Ok((vec![ev(1, "#a@l")], more))
        });
        assert_eq!(asked, 2);
        assert!(matches!(r, Err(NetError::Refused { code: 700, .. })));
    }

    #[test]
    fn gaps_say_why_they_are_not_filled() {
        assert!(gap_notes(Ending::Complete, (false, false), None, false).is_empty());
        let v = gap_notes(Ending::Complete, (true, false), None, false);
        assert!(v[0].starts_with("the gap may be incomplete"), "{v:?}");
        // An operator's purge came meanwhile: the likely cause, not a crash.
        let v = gap_notes(Ending::Complete, (true, true), None, false);
        assert!(v[0].contains("most likely deleted by an operator"), "{v:?}");
        assert!(!v[0].contains("crash"), "{v:?}");
        let v = gap_notes(Ending::Capped, (true, false), Some(1_764_000_000_000), false);
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
