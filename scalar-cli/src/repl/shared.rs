//! What the editor thread and the network thread share: the session state, the outbox of
//! frames to send, and the requests waiting for their replies.
//!
//! Locks are held only to read or change memory, never across a wait on the network or the
//! terminal.
//!
//! Only the network thread touches the connection. A TLS session cannot be read on one
//! thread and written on another (rustls keeps one state for both directions), so instead of
//! a cloned socket for writing, other threads queue encoded frames in the [`Outbox`] and wake
//! the network thread, which waits on the socket and the wake-up pipe at once (poll(2)) and
//! writes them. Plain and TLS connections take the same path.

use super::gaps::Unfilled;
use super::screen::Screen;
use crate::conn::{NetError, encode};
use crate::event::Received;
use crate::marks::Mark;
use crate::paging::{Ask, End};
use crate::render::ChatView;
use crate::timefmt::{day_name, local_day, now_ms};
use scalar::client::Frame;
use scalar::proto::{ErrorCode, Msg, MsgId};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

/// How many recent messages `/reply` can refer to and live Events and catch-ups are
/// deduplicated against.
const RECENT: usize = 1000;
/// The most channels left in a run whose marks are held for their next join (as many as the
/// marks file keeps).
const MAX_LEFT: usize = 1024;
/// How many timed-out replays are remembered, to drop the rest of their pages when it comes.
const ABANDONED: usize = 16;
/// How many recent senders tab completion offers.
const SENDERS: usize = 200;
/// How many channel names from `/topics` tab completion remembers.
const KNOWN: usize = 1000;

/// A message seen recently.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Its id.
    pub id: MsgId,
    /// Where it was published.
    pub topic: String,
    /// Who sent it.
    pub from: String,
    /// The server's time of it.
    pub time: u64,
    /// A record of the server's (a change to a channel), which is never deleted.
    pub record: bool,
}

/// Where `/more` goes on from: the last `/history` or `/search`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scroll {
    /// The topic read.
    pub topic: String,
    /// The search words, for `/search`.
    pub query: Option<String>,
    /// How many per read.
    pub count: u32,
    /// Where `/more` goes on: the oldest Event shown so far and its time, or for a read
    /// `forward`, the newest; `None` once the start (or the newest) was reached, or the read
    /// cannot go on.
    pub mark: Option<(MsgId, u64)>,
    /// A read since a time (`/history since`): pages go on to newer Events.
    pub forward: bool,
}

/// The session as this client remembers it; the server forgets it on disconnect.
#[derive(Debug, Default)]
pub struct State {
    /// Our ID.
    pub user: String,
    /// The server's domain.
    pub domain: String,
    /// Joined channels, in the order joined.
    pub subs: Vec<String>,
    /// When each joined channel was made (its Meta's `created`), as the join or the last
    /// reconnect found it: another time at a reconnect means it ended meanwhile (the server
    /// did not keep it) and was made anew, its modes, topic and roles with it.
    pub made: HashMap<String, u64>,
    /// Each joined channel's modes (PROTOCOL.md §4, SetMeta) as last learnt: its Meta at the
    /// join or the last rejoin, then its `modes` records since; so that a kick's line does not
    /// offer a `/join` that only an invitation would let through.
    pub modes: HashMap<String, u64>,
    /// User IDs watched (`/watch`), re-watched after a reconnect.
    pub watching: Vec<String>,
    /// ID patterns whose messages are not shown (`/ignore`).
    pub ignoring: Vec<String>,
    /// What the channels' operators deleted in this session, not shown again.
    pub deleted: super::deleted::Deleted,
    /// The note of `/status away` (maybe ""), said again after a reconnect; `None` when here.
    pub away: Option<String>,
    /// Where plain lines go.
    pub current: Option<String>,
    /// Recent messages, oldest first.
    pub recent: VecDeque<Seen>,
    /// The ids in `recent`, for a quick duplicate check.
    recent_ids: HashSet<MsgId>,
    /// Recent senders, most recent last, without repeats.
    pub senders: VecDeque<String>,
    /// Channel names listed by `/topics`.
    pub known: VecDeque<String>,
    /// The newest message seen per topic: where a catch-up resumes.
    pub last: HashMap<String, (MsgId, u64)>,
    /// Gaps a reconnect could not fill, per topic, to be read again.
    pub unfilled: HashMap<String, Unfilled>,
    /// Channels a reconnect could not rejoin yet, to be tried again.
    pub rejoin: HashMap<String, super::rejoin::Pending>,
    /// Whether a connection is up.
    pub connected: bool,
    /// What `/more` continues.
    pub scroll: Option<Scroll>,
    /// The local day of the last message shown (see [`State::day_change`]).
    day_shown: Option<i64>,
    /// A connection-level Error (code, reason, when it came) not shown yet: a server that ends
    /// the session sends an Error with the reason and then a Bye, which then says both in one
    /// line. Any other frame, or `conn::HOLD` without one, shows it alone.
    pub held_error: Option<(u16, String, Instant)>,
    /// Whether the session logged in with a password, to an account of the server.
    pub logged_in: bool,
    /// Whether the inbox mark could not be written, said once ([`Shared::keep_mark`]).
    mark_failed: bool,
    /// Whether a direct message was shown since the inbox mark was last written.
    pub mark_due: bool,
    /// While the connection is down: when the server was last heard from.
    pub lost_at: Option<u64>,
    /// Why this client closed the connection itself, to connect again (said instead of
    /// "connection lost").
    pub redial: Option<&'static str>,
    /// What was learnt of the users sent direct messages ([`super::presence::absent_line`]).
    pub absent: HashMap<String, super::presence::Absence>,
    /// Why the network thread stopped reconnecting by itself, while it has.
    pub stopped: Option<super::net::Stopped>,
    /// Where channels left in this run were left ([`State::left`]), for their next join.
    pub left_marks: HashMap<String, Mark>,
    /// How far the server's clock is ahead of this machine's (ms; behind if negative), as the
    /// latest server Ping said, or an echo stamped earlier ([`State::learn_clock`],
    /// [`State::learn_clock_from_echo`]).
    pub skew_ms: i64,
    /// How long a connection of this client that died unseen may hold its name on the
    /// server, by the last connection's timers ([`crate::conn::name_hold`]).
    pub name_hold: Option<Duration>,
    /// What the chat showed, for the server's read markers ([`super::read`]).
    pub read: super::read::ReadMarks,
}

impl State {
    /// Learns the server's clock from a time it read just now (a Ping's, the Ident reply's).
    pub fn learn_clock(&mut self, server_ms: u64) {
        self.skew_ms = skew_at(server_ms);
    }

    /// Learns from an echo's time, just stamped: the server's clock is at most that, as a
    /// topic's times run ahead of it when they come faster than one a millisecond, and after
    /// the clock stepped back go on from the topic's last one. Taken whole, an hour's step
    /// back made `/ban bob 10m` last 70 minutes (noticed by helper 262), so an echo only
    /// lowers what was learnt.
    pub fn learn_clock_from_echo(&mut self, server_ms: u64) {
        self.skew_ms = self.skew_ms.min(skew_at(server_ms));
    }

    /// The server's clock now, as far as this client can tell ([`State::learn_clock`]).
    pub fn server_now(&self) -> u64 {
        crate::timefmt::now_ms().saturating_add_signed(self.skew_ms)
    }

    /// Whether a direct message between this user and `user` is among the recent ones: a
    /// conversation `/switch` can go back to.
    pub fn talked_with(&self, user: &str) -> bool {
        self.recent
            .iter()
            .any(|s| s.topic == user || (s.topic == self.user && s.from == user))
    }

    /// Records a message for `/reply` and completion. False if it was already seen.
    pub fn remember(&mut self, e: &Received) -> bool {
        // What the server does not keep (joins, presence) is nothing to answer, and comes
        // once: found in review, a server's restart's joins pushed out the ids that keep a
        // message from showing twice. Only its sender is worth completing.
        if !e.is_unstored() {
            if !self.recent_ids.insert(e.id) {
                return false;
            }
            if self.recent.len() >= RECENT
                && let Some(old) = self.recent.pop_front()
            {
                self.recent_ids.remove(&old.id);
            }
            self.recent.push_back(Seen {
                id: e.id,
                topic: e.topic.clone(),
                from: e.from.clone(),
                time: e.time,
                record: e
                    .ctype
                    .as_deref()
                    .and_then(scalar::server::server_ctype)
                    .is_some(),
            });
        }
        // Reserved names (`!motd@DOMAIN`) send announcements, not messages to answer.
        if e.from != self.user && !e.from.starts_with('!') {
            self.senders.retain(|s| *s != e.from);
            if self.senders.len() >= SENDERS {
                self.senders.pop_front();
            }
            self.senders.push_back(e.from.clone());
        }
        true
    }

    /// The line that goes before a message of local day `day` (see [`local_day`]), if the
    /// message before it was on another day: lines show only the clock time, so history from
    /// other days, and a session that runs past midnight, say which day they are on. The first
    /// message shown needs one only if it is not from `today`.
    pub fn day_change(&mut self, day: i64, today: i64) -> Option<String> {
        let before = self.day_shown.replace(day).unwrap_or(today);
        (before != day).then(|| format!("-- {}", day_name(day)))
    }

    /// Moves the point a catch-up after a drop resumes from past `e`, a message that came
    /// live or in such a catch-up (never one read with `/history` or `/search`: it may be old,
    /// and the messages after it were not seen). It must be one the server keeps.
    pub fn advance(&mut self, e: &Received) {
        if e.is_unstored() || self.invitation(e) {
            return;
        }
        if let Some(gap) = self.unfilled.get_mut(&e.topic) {
            gap.upto.get_or_insert(e.time);
        }
        if self.last.get(&e.topic).is_none_or(|(_, t)| e.time >= *t) {
            self.last.insert(e.topic.clone(), (e.id, e.time));
        }
    }

    /// Takes a joined channel's new modes from its record (`modes +i`, `modes -`).
    pub fn note_modes(&mut self, e: &Received) {
        let crate::event::Content::Text(body) = &e.content else {
            return;
        };
        if e.ctype.as_deref() != Some(scalar::server::MOD_CTYPE) || !self.subs.contains(&e.topic) {
            return;
        }
        if let Some(bits) = body.strip_prefix("modes ").and_then(crate::modes::of_letters) {
            self.modes.insert(e.topic.clone(), bits);
        }
    }

    /// Whether `e` is this user's invitation to a channel it has not joined: the one Event of
    /// such a channel that comes (PROTOCOL.md §4, Mod), nothing to resume there.
    pub fn invitation(&self, e: &Received) -> bool {
        !self.subs.contains(&e.topic) && crate::notice::invites(e, &self.user)
    }

    /// Forgets the joined channel `topic` (a `/part`, a kick, a refused rejoin); the channel
    /// joined last becomes current if `topic` was.
    pub fn left(&mut self, topic: &str) {
        // Where it was left, for the next join in this run (`since`): kept here, not written
        // (a kick is seen on the network thread, which never waits on files).
        if let Some(mark) = self.leaving_mark(topic)
            && (self.left_marks.len() < MAX_LEFT || self.left_marks.contains_key(topic))
        {
            self.left_marks.insert(topic.to_string(), mark);
        }
        self.subs.retain(|s| s != topic);
        self.made.remove(topic);
        self.modes.remove(topic);
        // What was said there while away is not missed: a rejoin starts from the rejoin.
        self.last.remove(topic);
        self.unfilled.remove(topic);
        if self.current.as_deref() == Some(topic) {
            self.current = self.subs.last().cloned();
        }
    }

    /// Leaves `topic` without the user asking (a kick, a refused rejoin): if it was the current
    /// topic, none is now, for what the user types next was meant for it (found by QA: an
    /// admin's operator commands landed in another channel). Returns what to add to the line
    /// that says so: how to go on, if nothing is current now.
    pub fn left_unasked(&mut self, topic: &str) -> &'static str {
        let was_current = self.current.as_deref() == Some(topic);
        self.left(topic);
        if !was_current {
            return "";
        }
        self.current = None;
        "; no channel is current now (/switch to one)"
    }

    /// Whether nothing was seen yet in `topic` in this run (nor is a gap of it waiting).
    pub fn unread(&self, topic: &str) -> bool {
        !self.last.contains_key(topic) && !self.unfilled.contains_key(topic)
    }

    /// Where this user leaves `topic` now, for the next catch-up to start from: an unfilled
    /// gap's start, else the last message seen there and when the server was last heard from.
    pub fn mark_of(&self, topic: &str) -> Mark {
        match self.unfilled.get(topic) {
            Some(gap) => Mark {
                left_at: gap.start.lost_at,
                last: gap.start.last,
            },
            None => Mark {
                left_at: self.lost_at.unwrap_or_else(now_ms),
                last: self.last.get(topic).copied(),
            },
        }
    }

    /// [`mark_of`](State::mark_of) a channel where something was seen, for its next join
    /// (`since`); `None` for a conversation, or a channel where nothing was.
    pub fn leaving_mark(&self, topic: &str) -> Option<Mark> {
        Some(self.mark_of(topic)).filter(|m| topic.starts_with('#') && m.last.is_some())
    }

    /// "; now talking in #rust" after the current topic changed, or "" when there is none.
    pub fn now_talking(&self) -> String {
        self.current
            .as_deref()
            .map(|c| {
                let (with, short) = (!c.starts_with('#'), crate::names::short(c, &self.domain));
                format!("; now talking {} {short}", if with { "with" } else { "in" })
            })
            .unwrap_or_default()
    }

    /// Records channel names seen in a topic list.
    pub fn learn_topics(&mut self, names: impl IntoIterator<Item = String>) {
        for n in names {
            if !self.known.contains(&n) {
                if self.known.len() >= KNOWN {
                    self.known.pop_front();
                }
                self.known.push_back(n);
            }
        }
    }

    /// Whether the message with this id was shown recently.
    pub fn seen(&self, id: &MsgId) -> bool {
        self.recent_ids.contains(id)
    }

    /// Finds the recent message whose id starts with `prefix` (hex, at least 4 digits).
    pub fn resolve_ref(&self, prefix: &str) -> Result<Seen, String> {
        let p = prefix.trim().to_ascii_lowercase();
        if p.len() < 4 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{prefix:?} is not a message ref (the hex digits shown before a message)"
            ));
        }
        let mut hits = self
            .recent
            .iter()
            .rev()
            .filter(|s| s.id.to_string().starts_with(&p));
        match (hits.next(), hits.next()) {
            (Some(s), None) => Ok(s.clone()),
            // Found by QA: a ref from an earlier run gave no way on.
            (None, _) => Err(format!(
                "no recent message has ref {p} (refs are of the last {RECENT} messages shown \
                 in this run: /history shows older ones again)"
            )),
            (Some(_), Some(_)) => Err(format!("ref {p} matches several messages; give more digits")),
        }
    }

    /// The view used to render lines now.
    pub fn view(&self, colour: bool, replay: bool) -> ChatView<'_> {
        ChatView {
            domain: &self.domain,
            me: &self.user,
            current: self.current.as_deref(),
            colour,
            replay,
            alert: false,
        }
    }
}

/// How an Event comes to be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// As it happens: shown once (it may come in a catch-up's replay too), and a catch-up
    /// after a drop resumes after it.
    Live,
    /// Missed while disconnected and fetched by the reconnect's catch-up: marked
    /// `[history]`, shown once, and the next catch-up resumes after it.
    Missed,
    /// Asked for with `/history`: marked, shown even if it was shown before, and not where a
    /// catch-up resumes.
    Read,
    /// Found by `/search`: shown as [`Shown::Read`], but the topic is not read up to it (the
    /// read markers, [`super::read`]): what came between the matches was not shown.
    Found,
}

/// What a waiting request wants from frames carrying its `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The first frame with the seq is the reply (an echo Event counts).
    Reply,
    /// Events with the seq are a Catchup or Search replay, handed to the request (which shows
    /// them once its read is complete, in order); CatchupEnd is the reply.
    Replay,
    /// The reply to a MarkRead, which nothing waits for ([`super::read::answered`]).
    Mark,
}

/// Why a request got no reply.
#[derive(Debug)]
pub enum ReqError {
    /// No connection right now.
    NotConnected,
    /// The connection dropped before the reply; the request may or may not have taken effect.
    Lost,
    /// No reply in time.
    Timeout,
    /// The server refused, or the socket failed.
    Net(NetError),
}

impl crate::paging::PageError for ReqError {
    fn refusal(self) -> Result<NetError, Self> {
        match self {
            ReqError::Net(e) => e.refusal().map_err(ReqError::Net),
            other => Err(other),
        }
    }
}

impl From<NetError> for ReqError {
    fn from(e: NetError) -> Self {
        ReqError::Net(e)
    }
}

impl std::fmt::Display for ReqError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReqError::NotConnected => f.write_str("not connected"),
            ReqError::Lost => f.write_str("the connection dropped before the server answered"),
            ReqError::Timeout => f.write_str("no answer from the server in time"),
            // The chat sends only types a conforming server knows, or the extensions (64–74)
            // that a minimal one may answer so (PROTOCOL.md §4): for the user, a part the
            // server leaves out, not "103 unknown_type" meant for a developer.
            ReqError::Net(NetError::Refused { code, .. }) if *code == ErrorCode::UnknownType as u16 => {
                f.write_str("the server leaves out that optional part of the protocol")
            }
            ReqError::Net(e) => e.fmt(f),
        }
    }
}

/// The sending end of a connection's outbox: frames for the network thread to write.
pub struct Outbox {
    frames: mpsc::Sender<Vec<u8>>,
    /// One byte here wakes the network thread from poll(2).
    wake: UnixStream,
}

/// The network thread's end of the outbox.
pub struct Inbox {
    /// Frames to write, in order.
    pub frames: mpsc::Receiver<Vec<u8>>,
    /// Readable when frames were queued (or the outbox was dropped).
    pub wake: UnixStream,
}

impl Outbox {
    fn push(&self, bytes: Vec<u8>) -> Result<(), ReqError> {
        self.frames.send(bytes).map_err(|_| ReqError::NotConnected)?;
        self.ring();
        Ok(())
    }

    fn ring(&self) {
        // Non-blocking: a full pipe already holds a wake-up, which is all that is needed.
        let _ = (&self.wake).write(&[1]);
    }
}

impl Inbox {
    /// Empties the wake-up pipe (the frames are taken from `frames`).
    pub fn drain_wake(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// A fresh outbox for a new connection.
pub fn outbox() -> io::Result<(Outbox, Inbox)> {
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    let (tx, rx) = mpsc::channel();
    Ok((Outbox { frames: tx, wake: a }, Inbox { frames: rx, wake: b }))
}

/// Everything both threads use.
pub struct Shared {
    state: Mutex<State>,
    writer: Mutex<Option<Outbox>>,
    pending: Mutex<HashMap<u32, (Want, mpsc::Sender<Frame>)>>,
    /// The last [`ABANDONED`] replays that timed out, whose late Events are dropped.
    abandoned: Mutex<VecDeque<u32>>,
    next_seq: AtomicU32,
    /// Set once the user quits: the reader then stops instead of reconnecting.
    pub quitting: AtomicBool,
    /// Set by `/reconnect`: the network thread dials at once, whether it was waiting between
    /// attempts or had given up.
    pub reconnect_now: AtomicBool,
    /// The output queue.
    pub screen: Screen,
    /// Lines the server refused for a short while, sent again once its wait is over.
    pub paced: super::paced::Paced,
    /// Whether to colour output.
    pub colour: bool,
    /// The chat runs at a terminal: it rings the bell for an alert ([`crate::alert`]), and
    /// asks before it hands a channel over (`/transfer`).
    pub tty: bool,
    /// A `/transfer` asked to be confirmed: the channel, the new owner, and when.
    pub transfer_asked: Mutex<Option<(String, String, std::time::Instant)>>,
    /// How long to wait for replies and connections.
    pub timeout: Duration,
    /// The account's password as reconnections log in with it: `/passwd` changes it.
    pub password: crate::conn::Password,
    /// Error lines about input the client could not carry out (a message not sent, a command
    /// refused): a chat reading a pipe ends with exit 4 when there were any.
    failures: AtomicU64,
}

/// How far `server_ms`, read off the server's clock just now, is ahead of this machine's.
fn skew_at(server_ms: u64) -> i64 {
    let here = i128::from(crate::timefmt::now_ms());
    i64::try_from(i128::from(server_ms) - here).unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Shared state for a session of `user` on a server of `domain`.
    pub fn new(user: String, domain: String, screen: Screen, colour: bool, timeout: Duration) -> Shared {
        Shared {
            state: Mutex::new(State {
                user,
                domain,
                ..State::default()
            }),
            writer: Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
            abandoned: Mutex::new(VecDeque::new()),
            next_seq: AtomicU32::new(1),
            quitting: AtomicBool::new(false),
            reconnect_now: AtomicBool::new(false),
            screen,
            paced: super::paced::Paced::default(),
            colour,
            tty: false,
            transfer_asked: Mutex::new(None),
            timeout,
            password: crate::conn::Password::default(),
            failures: AtomicU64::new(0),
        }
    }

    /// Says `text` on an error line, as what became of a line of input that was not carried
    /// out (counted for the exit code of a chat reading a pipe).
    pub fn line_failed(&self, text: impl AsRef<str>) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.screen.error(text);
    }

    /// How many [`Shared::line_failed`] notes were said.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// As it is, reconnecting with `password` (one the network thread's dial shares).
    pub fn with_password(self, password: crate::conn::Password) -> Shared {
        Shared { password, ..self }
    }

    /// As it is, at a terminal or not ([`Shared::tty`]).
    pub fn at_terminal(self, tty: bool) -> Shared {
        Shared { tty, ..self }
    }

    /// The session state.
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Makes `outbox` the way to the connection requests are written to.
    pub fn install(&self, outbox: Outbox) {
        self.attach(outbox);
        self.online();
    }

    /// The first half of [`install`](Shared::install): requests may be sent from now on.
    pub fn attach(&self, outbox: Outbox) {
        *lock(&self.writer) = Some(outbox);
    }

    /// The second half of [`install`](Shared::install): the client counts as connected (the
    /// prompt, and the thread that fills gaps, go by this).
    pub fn online(&self) {
        let mut st = self.state();
        st.connected = true;
        st.lost_at = None;
        st.read.reset();
    }

    /// Forgets the connection: waiting requests fail with [`ReqError::Lost`], and the network
    /// thread, woken up, finds its outbox gone and drops the connection.
    pub fn disconnected(&self) {
        if let Some(Outbox { frames, wake }) = lock(&self.writer).take() {
            // The sender goes first, so the thread woken finds the outbox closed.
            drop(frames);
            let _ = (&wake).write(&[1]);
        }
        lock(&self.pending).clear();
        let mut st = self.state();
        st.connected = false;
        st.read.requeue();
    }

    /// Queues one message for the connection, if there is one. The network thread writes it;
    /// if that fails, the connection is lost and waiting requests fail with
    /// [`ReqError::Lost`].
    pub fn send(&self, msg: &Msg<'_>) -> Result<(), ReqError> {
        let bytes = encode(msg).map_err(ReqError::Net)?;
        let w = lock(&self.writer);
        w.as_ref().ok_or(ReqError::NotConnected)?.push(bytes)
    }

    fn seq(&self) -> u32 {
        // Never 0, and far from the reader's own numbers during a reconnect (which start at 1
        // on a fresh connection before any request of ours is written to it).
        self.next_seq.fetch_add(1, Ordering::Relaxed).max(1) | 0x8000_0000
    }

    /// Sends a request built with a fresh `seq`, registered as waiting for `want`.
    fn start<'a>(
        &self,
        want: Want,
        build: impl FnOnce(Option<u32>) -> Msg<'a>,
    ) -> Result<(u32, mpsc::Receiver<Frame>), ReqError> {
        let seq = self.seq();
        let (tx, rx) = mpsc::channel();
        lock(&self.pending).insert(seq, (want, tx));
        if let Err(e) = self.send(&build(Some(seq))) {
            lock(&self.pending).remove(&seq);
            return Err(e);
        }
        Ok((seq, rx))
    }

    /// The next frame for the request numbered `seq`, until `deadline`. An Error becomes
    /// [`ReqError::Net`] with [`NetError::Refused`].
    fn next(&self, seq: u32, rx: &mpsc::Receiver<Frame>, deadline: Instant) -> Result<Frame, ReqError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = match rx.recv_timeout(left) {
            Ok(f) => f,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some((Want::Replay, _)) = lock(&self.pending).remove(&seq) {
                    let mut gone = lock(&self.abandoned);
                    if gone.len() >= ABANDONED {
                        gone.pop_front();
                    }
                    gone.push_back(seq);
                }
                return Err(ReqError::Timeout);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(ReqError::Lost),
        };
        match frame.msg() {
            Ok(Msg::Error(e)) => Err(ReqError::Net(NetError::of_error(&e))),
            Ok(_) => Ok(frame),
            Err(e) => Err(ReqError::Net(NetError::Protocol(e.to_string()))),
        }
    }

    /// Sends a request built with a fresh `seq` whose reply nothing waits for: it goes to
    /// `want`'s handler ([`complete`](Shared::complete)).
    pub fn start_unanswered<'a>(
        &self,
        want: Want,
        build: impl FnOnce(Option<u32>) -> Msg<'a>,
    ) -> Result<u32, ReqError> {
        self.start(want, build).map(|(seq, _)| seq)
    }

    /// Sends a request built with a fresh `seq` and waits for its reply.
    pub fn request<'a>(
        &self,
        want: Want,
        build: impl FnOnce(Option<u32>) -> Msg<'a>,
    ) -> Result<Frame, ReqError> {
        let (seq, rx) = self.start(want, build)?;
        self.next(seq, &rx, Instant::now() + self.timeout)
    }

    /// Sends one Catchup or Search and waits for its whole page: the Events replayed, then
    /// the CatchupEnd, all within the timeout.
    pub fn replay(&self, ask: Ask<'_>) -> Result<(Vec<Received>, End), ReqError> {
        let (seq, rx) = self.start(Want::Replay, |seq| ask.msg(seq))?;
        let deadline = Instant::now() + self.timeout;
        crate::paging::page(|| self.next(seq, &rx, deadline))
    }

    /// Whether `seq` numbered a replay that gave up waiting (its page came too late).
    pub fn abandoned(&self, seq: u32) -> bool {
        lock(&self.abandoned).contains(&seq)
    }

    /// What the request numbered `seq` is waiting for, if one is.
    pub fn want(&self, seq: u32) -> Option<Want> {
        lock(&self.pending).get(&seq).map(|(w, _)| *w)
    }

    /// Hands one frame of a replay to the request numbered `seq`, which goes on waiting for
    /// more; false if none is waiting.
    pub fn forward(&self, seq: u32, frame: Frame) -> bool {
        match lock(&self.pending).get(&seq) {
            Some((_, tx)) => tx.send(frame).is_ok(),
            None => false,
        }
    }

    /// Hands `frame` to the request numbered `seq`; false if none is waiting (it timed out).
    pub fn complete(&self, seq: u32, frame: Frame) -> bool {
        let waiting = lock(&self.pending).remove(&seq);
        match waiting {
            Some((Want::Mark, _)) => {
                super::read::answered(self, seq, &frame);
                true
            }
            Some((_, tx)) => tx.send(frame).is_ok(),
            None => false,
        }
    }

    /// Records where an account leaves its inbox now ([`crate::marks`]): after the newest
    /// direct message shown, or where a gap the client could not fill starts, so the next run
    /// shows what comes after it. Names without an account have nothing kept for them.
    pub fn keep_mark(&self) {
        let (user, mark) = {
            let mut st = self.state();
            st.mark_due = false;
            if !st.logged_in {
                return;
            }
            (st.user.clone(), st.mark_of(&st.user))
        };
        if let Err(why) = crate::marks::save(crate::marks::Book::Inbox, &user, mark) {
            let mut st = self.state();
            if !std::mem::replace(&mut st.mark_failed, true) {
                drop(st);
                self.screen.error(format!(
                    "{why}: the next start cannot tell which direct messages you have seen"
                ));
            }
        }
    }

    /// [`keep_mark`](Shared::keep_mark), if a direct message was shown since it last ran.
    pub fn keep_mark_if_due(&self) {
        if self.state().mark_due {
            self.keep_mark();
        }
    }

    /// Records and shows a page of Events, oldest first, as `how` says: a message the page's
    /// own later records deleted is not shown.
    pub fn show_events(&self, events: &[Received], how: Shown) {
        self.state().deleted.note_all(events);
        for e in events {
            self.show_event(e, how);
        }
    }

    /// Records and shows an Event, as `how` says.
    pub fn show_event(&self, e: &Received, how: Shown) {
        let mut st = self.state();
        st.deleted.note(e);
        let fresh = st.remember(e);
        if !matches!(how, Shown::Read | Shown::Found) {
            st.advance(e);
            // Written by the gaps thread within a second: no file IO on this thread.
            st.mark_due |= fresh && st.logged_in && e.topic == st.user && !e.is_unstored();
            if !fresh {
                return;
            }
        }
        // A replay's records are older than the Meta its rejoin took.
        if how == Shown::Live {
            st.note_modes(e);
        }
        if st.ignores(e) || st.deleted.covers(e) {
            return;
        }
        // Only what the user is shown is read (PROTOCOL.md §4, Read markers), and a search
        // shows no run of the topic.
        if how != Shown::Found {
            st.note_read(e);
        }
        let alert = how == Shown::Live && crate::alert::wanted(e, &st.user);
        let view = ChatView {
            alert,
            ..st.view(self.colour, how != Shown::Live)
        };
        let mut line = view.line(e);
        if alert && self.tty {
            // At the end, where it takes no room (the fold counts no width for it).
            line.push('\x07');
        }
        if how == Shown::Live && st.invitation(e) {
            line.push_str(&format!(
                " (/join {} to enter)",
                crate::names::short(&e.topic, &st.domain)
            ));
        }
        // One queued item, so that no other thread's line comes between the two.
        let line = match st.day_change(local_day(e.time), local_day(now_ms())) {
            Some(day) => format!("{day}\n{line}"),
            None => line,
        };
        drop(st);
        self.screen.line(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Content;

    /// me@l on domain l, giving up on a reply after 50 ms.
    fn quick_shared() -> Shared {
        Shared::new(
            "me@l".into(),
            "l".into(),
            Screen::new(),
            false,
            Duration::from_millis(50),
        )
    }

    #[test]
    fn the_rest_of_a_page_that_came_too_late_is_known_as_such() {
        let shared = quick_shared();
        let (out, _inbox) = outbox().unwrap();
        shared.install(out);
        let topic = scalar::proto::Name::parse("#a@l").unwrap();
        let pager = crate::paging::Pager::new(topic, None, crate::paging::Bounds::default(), 10, false);
        assert!(matches!(shared.replay(pager.ask()), Err(ReqError::Timeout)));
        let seq = *lock(&shared.abandoned).back().unwrap();
        assert!(shared.abandoned(seq) && shared.want(seq).is_none());
        // A request whose reply is late is not: a late echo still shows what was published.
        let ping = |seq| Msg::Ping(scalar::proto::Ping { seq, time: 0 });
        assert!(matches!(
            shared.request(Want::Reply, ping),
            Err(ReqError::Timeout)
        ));
        assert_eq!(lock(&shared.abandoned).len(), 1);
    }

    /// Found in review: a kick, or a gap not yet filled, left the next join to an older
    /// mark. Where a channel is left is held for its next join, a gap's start first; and a
    /// channel left unasked leaves nothing current.
    #[test]
    fn a_channel_left_keeps_where_it_was_left_for_the_next_join() {
        let shared = quick_shared();
        let mut st = shared.state();
        st.subs.push("#a@l".into());
        st.last.insert("#a@l".into(), (MsgId([1; 32]), 10));
        st.current = Some("#a@l".into());
        st.subs.push("#b@l".into());
        assert!(!st.left_unasked("#a@l").is_empty(), "it was current");
        assert_eq!(st.current, None, "not #b@l");
        assert_eq!(st.left_marks["#a@l"].last, Some((MsgId([1; 32]), 10)));
        st.last.insert("#b@l".into(), (MsgId([3; 32]), 30));
        let start = super::super::gaps::Start {
            last: Some((MsgId([2; 32]), 20)),
            lost_at: 15,
        };
        let gap = super::super::gaps::Unfilled::new(start);
        st.unfilled.insert("#b@l".into(), gap);
        st.left("#b@l");
        let held = Mark {
            left_at: 15,
            last: Some((MsgId([2; 32]), 20)),
        };
        assert_eq!(st.left_marks["#b@l"], held);
        assert_eq!(st.leaving_mark("bob@l"), None, "not a conversation");
    }

    /// A message read with /history or /search is shown, but never becomes the point a
    /// reconnect resumes from, nor the end of a gap still to fill: it may be old, and what came
    /// after it was not seen. (The integration test that once covered this now resumes from
    /// the message its /join found.)
    #[test]
    fn a_message_read_does_not_move_the_catch_up() {
        let shared = quick_shared();
        let start = super::super::gaps::Start {
            last: None,
            lost_at: 500,
        };
        shared
            .state()
            .unfilled
            .insert("#b@l".into(), super::super::gaps::Unfilled::new(start));
        shared.show_event(&ev(1, "#a@l", "bob@l"), Shown::Read);
        shared.show_event(&ev(2, "#b@l", "bob@l"), Shown::Read);
        let st = shared.state();
        assert!(st.last.is_empty());
        assert_eq!(st.unfilled["#b@l"].upto, None);
        drop(st);
        shared.show_event(&ev(3, "#a@l", "bob@l"), Shown::Live);
        assert_eq!(shared.state().last["#a@l"].0, MsgId([3; 32]));
    }

    /// PROTOCOL.md's SHOULD for delete and purge: a page read from the store before the
    /// record was stored may hold the message, before the record; and a later read may bring
    /// it back. Neither shows it.
    #[test]
    fn a_deleted_message_is_shown_neither_from_its_page_nor_again() {
        struct Lines(std::sync::mpsc::Sender<String>);
        impl super::super::screen::Sink for Lines {
            fn write(&mut self, text: String) -> bool {
                self.0.send(text).is_ok()
            }
            fn columns(&self) -> Option<usize> {
                None
            }
        }
        let said = |id, text: &str| Received {
            content: Content::Text(text.into()),
            ..ev(id, "#a@l", "bob@l")
        };
        let record = |id, text: String| Received {
            content: Content::Text(text),
            ctype: Some(scalar::server::MOD_CTYPE.into()),
            ..ev(id, "#a@l", "op@l")
        };
        let shared = quick_shared();
        let (tx, rx) = std::sync::mpsc::channel();
        shared.screen.start(Box::new(Lines(tx)));
        let (gone, kept) = (said(1, "oops"), said(2, "fine"));
        shared.show_events(
            &[gone.clone(), kept, record(3, format!("delete {}", gone.id))],
            Shown::Read,
        );
        // A purge's record, then (a catch-up read before it was stored) what it covers.
        shared.show_event(&record(6, "purge bob@l 1003".into()), Shown::Live);
        shared.show_events(&[said(4, "purged"), said(7, "later")], Shown::Missed);
        shared.show_event(&gone, Shown::Missed);
        shared.screen.flush_all();
        let out = rx.try_iter().collect::<String>();
        assert!(out.contains("fine") && out.contains("later"), "{out}");
        assert!(!out.contains("oops") && !out.contains("purged"), "{out}");
        assert!(out.contains("deleted the message 01010101"), "{out}");
    }

    fn ev(id: u8, topic: &str, from: &str) -> Received {
        Received {
            seq: None,
            topic: topic.into(),
            from: from.into(),
            time: 1000 + u64::from(id),
            id: MsgId([id; 32]),
            verified: true,
            content: Content::Text("x".into()),
            ctype: None,
            reply_to: None,
        }
    }

    #[test]
    fn a_day_line_goes_before_a_message_from_another_day_than_the_last() {
        let mut st = State::default();
        let (today, yesterday) = (20_000, 19_999);
        assert_eq!(st.day_change(today, today), None, "today's first needs none");
        assert_eq!(st.day_change(today, today), None);
        // Scrolling back into yesterday, then a new message live.
        assert_eq!(
            st.day_change(yesterday, today).as_deref(),
            Some("-- Thursday 2024-10-03")
        );
        assert_eq!(st.day_change(yesterday, today), None);
        assert_eq!(
            st.day_change(today, today).as_deref(),
            Some("-- Friday 2024-10-04")
        );
        // Past midnight.
        assert_eq!(
            st.day_change(today + 1, today + 1).as_deref(),
            Some("-- Saturday 2024-10-05")
        );
        let mut fresh = State::default();
        assert_eq!(
            fresh.day_change(yesterday, today).as_deref(),
            Some("-- Thursday 2024-10-03"),
            "a session that starts with old history says its day"
        );
    }

    /// Found by QA: a ban's end was set by this machine's clock, ten minutes slow.
    #[test]
    fn the_server_s_clock_is_learnt_from_what_it_stamps() {
        let mut st = State::default();
        let here = crate::timefmt::now_ms();
        assert!(
            st.server_now().abs_diff(here) < 1_000,
            "none learnt: this machine's"
        );
        st.learn_clock(here + 600_000);
        assert!(st.server_now().abs_diff(here + 600_000) < 1_000);
        st.learn_clock(here - 600_000);
        assert!(
            st.server_now().abs_diff(here - 600_000) < 1_000,
            "the latest stands"
        );
    }

    /// An echo's time is at least the server's clock, more in a topic that runs ahead of it
    /// (a burst, a step back of the server's clock): an hour ahead, a `/ban bob 10m` lasted
    /// 70 minutes. An echo only lowers what was learnt.
    #[test]
    fn an_echo_ahead_of_the_server_s_clock_is_not_taken_for_it() {
        let mut st = State::default();
        let here = crate::timefmt::now_ms();
        st.learn_clock(here);
        st.learn_clock_from_echo(here + 3_600_000);
        assert!(st.server_now().abs_diff(here) < 1_000, "not an hour ahead");
        st.learn_clock_from_echo(here - 600_000);
        assert!(
            st.server_now().abs_diff(here - 600_000) < 1_000,
            "an echo earlier than what was learnt says the server's clock is behind it"
        );
    }

    #[test]
    fn remembers_and_resolves() {
        let mut st = State {
            user: "me@l".into(),
            ..State::default()
        };
        assert!(st.remember(&ev(0xab, "#a@l", "bob@l")));
        assert!(!st.remember(&ev(0xab, "#a@l", "bob@l")));
        assert!(st.remember(&ev(0xac, "#a@l", "me@l")));
        assert_eq!(st.resolve_ref("ABAB").unwrap().from, "bob@l");
        assert!(st.resolve_ref("abc").is_err());
        assert!(st.resolve_ref("zzzz").is_err());
        let e = st.resolve_ref("ffff").unwrap_err();
        assert!(e.contains("no recent") && e.contains("/history"), "{e}");
        assert_eq!(st.senders, ["bob@l"]);
        assert!(st.last.is_empty(), "remembering is not advancing");
        st.advance(&ev(0xac, "#a@l", "me@l"));
        st.advance(&ev(0xab, "#a@l", "bob@l"));
        assert_eq!(
            st.last["#a@l"].0,
            MsgId([0xac; 32]),
            "an older one does not move it back"
        );
        assert!(st.remember(&ev(0xa1, "#a@l", "x@l")));
        assert!(st.resolve_ref("a").is_err());
        assert!(st.resolve_ref("aaaa").is_err());
    }

    #[test]
    fn catch_up_never_starts_from_what_the_server_does_not_keep() {
        let mut st = State {
            user: "me@l".into(),
            ..State::default()
        };
        let mut away = ev(1, "me@l", "me@l");
        away.ctype = Some(scalar::server::PRESENCE_CTYPE.into());
        st.advance(&away);
        assert!(!st.last.contains_key("me@l"), "a presence Event is not stored");
        assert!(st.remember(&ev(2, "!motd@l", "!motd@l")));
        assert!(
            st.senders.is_empty(),
            "the server's own topics are nobody to answer"
        );
        st.subs = vec!["#a@l".into(), "#b@l".into()];
        st.current = Some("#a@l".into());
        st.advance(&ev(3, "#a@l", "bob@l"));
        st.left("#a@l");
        assert_eq!((st.subs.len(), st.current.as_deref()), (1, Some("#b@l")));
        assert!(
            st.last.is_empty(),
            "a rejoin would catch up on what was said while away"
        );
        assert_eq!(st.now_talking(), "; now talking in #b@l");
    }
}
