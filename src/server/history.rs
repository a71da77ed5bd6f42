//! What the core knows about the history store: positions handed out and committed, the ring
//! of recent Events, queries in flight, and (with `--fsync always`) Events waiting for their
//! commit before anyone sees them.

use super::mix::MixMap;
use super::outbox::{ConnId, Outbox};
use super::ring::Ring;
use crate::store::turns::Turns;
use crate::store::{Fsync, Query, Reader, Record, Retention, Scope};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

/// How the history store is set up, as far as the core cares.
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    /// When an Event counts as stored.
    pub fsync: Fsync,
    /// The last position and time already in the store.
    pub last_pos: u64,
    /// Bytes of recent Events kept in memory for quick catch-ups.
    pub ring_bytes: usize,
    /// Events accepted but not yet committed, at most; past it publishers are held back until
    /// a commit makes room. Must not exceed the store's write queue.
    pub max_unwritten: u64,
    /// The same bound in bytes of Events held in memory for the writer (checked before each
    /// Event, so it may be passed by one Event).
    pub max_unwritten_bytes: usize,
    /// Catch-ups in flight (waiting or running) for the store, at most; must not exceed the
    /// store's read queue.
    pub max_reads: usize,
    /// Searches in flight, at most, counted apart: they run on a thread of their own, so slow
    /// searches never take the catch-ups' places. Must not exceed the store's search queue.
    pub max_searches: usize,
    /// The store's retention rules: the ring answers only within them.
    pub retention: Retention,
}

/// A Catchup, Search or Conversations the store is answering: where the answer goes.
#[derive(Debug)]
pub struct Read {
    /// The asking connection; `None` once it closed (the query still counts until answered).
    pub conn: Option<ConnId>,
    /// Its request number.
    pub seq: Option<u32>,
    /// The topic named in the request, for CatchupEnd; `None` for a Conversations, answered
    /// by a ConversationList.
    pub topic: Option<Box<str>>,
    /// A Search, not a Catchup.
    pub search: bool,
    /// The asking connection's address (or /64): no address may hold more than its
    /// [`share`] of the places of either kind.
    pub asker: IpAddr,
}

/// Why a query cannot be started now (answered with 700, `store_unavailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// All places of its kind are taken, and as many as may wait for one wait.
    Server,
    /// The asking address holds its [`share`] of them: one that asks for many at once (slow
    /// searches from many connections) must leave places for everyone else.
    Address,
}

impl Busy {
    /// The refusal's reason, for the client.
    pub fn reason(self) -> &'static str {
        match self {
            Busy::Server => "too many history queries at once; try again",
            Busy::Address => "too many history queries at once from your address; try again",
        }
    }
}

/// The store as the loop sees it, for the metrics endpoint: what an operator alerts on when
/// the disk fills or slows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Writes fail (a full disk, a data directory removed) or the writer is gone: new
    /// Messages are refused (PROTOCOL.md, 700).
    pub failing: bool,
    /// Events accepted and not yet committed.
    pub unwritten: u64,
    /// Their bound: at it, publishers are held until a commit makes room.
    pub max_unwritten: u64,
    /// Their bytes, held in memory for the writer.
    pub unwritten_bytes: usize,
    /// The bound in bytes: at it too, publishers are held.
    pub max_unwritten_bytes: usize,
    /// Catch-ups and searches waiting for a place at the store or answered by it now.
    pub queries: usize,
}

/// An Event held back until it is committed (`--fsync always`).
#[derive(Debug)]
pub struct Unconfirmed {
    /// The Event.
    pub rec: Arc<Record>,
    /// Its publisher, who gets the echo; `None` once it disconnected.
    pub conn: Option<ConnId>,
    /// The Message's request number.
    pub seq: Option<u32>,
    /// A reply the publisher gets after the echo: a SetMeta's Meta, behind the last of its
    /// records, so that it says nothing is done before the change is on disk.
    pub then: Option<Box<[u8]>>,
}

/// The position and time of each uncommitted Event of one scope, oldest first (bounded, with
/// those of all scopes, by twice the unwritten bound: a direct message is in two).
type Unwritten = VecDeque<(u64, u64)>;

/// One connection may hold at most the unwritten bounds less 1/RESERVE of them, and one
/// address the places for queries likewise: that much is always left for everyone else. A lone
/// publisher still gets large batches (the writer's cost per Event grows as batches shrink: see
/// the store's worker).
const RESERVE: u64 = 4;

/// The most of `max` that one connection (or address) may hold: all but the reserve, and at
/// least one (so under 4 places, one may hold them all).
fn share(max: u64) -> u64 {
    (max - max / RESERVE).max(1)
}

/// Queries of one kind that may wait in the loop for a place at the store, as a multiple of
/// its places. Were a query refused once the places are taken, the few addresses that can
/// hold them all (two, each at its share of three quarters) would shut every other out of
/// search; waiting, in turns by address, a newcomer goes after at most one query of each
/// address already waiting, and it takes this many times as many addresses to fill the wait.
const BACKLOG: usize = 16;

/// The core's side of history.
#[derive(Debug)]
pub struct History {
    /// The commit rule.
    pub fsync: Fsync,
    /// The last position handed out.
    pub last_pos: u64,
    committed: u64,
    /// The store reported a failing write and has not recovered.
    pub failing: bool,
    /// The writer is gone for good: `failing` stays set.
    pub gone: bool,
    max_unwritten: u64,
    max_unwritten_bytes: usize,
    /// Position, weight and publisher of each unwritten Event, oldest first, and their total
    /// weight.
    unwritten_sizes: VecDeque<(u64, usize, Option<ConnId>)>,
    unwritten_bytes: usize,
    /// Unwritten Events and their weight per publishing connection: no connection may hold
    /// the last [`RESERVE`]th of the bounds, so one publisher that outruns the disk holds
    /// itself back, not everyone else.
    per_conn: MixMap<ConnId, (u64, usize)>,
    max_reads: usize,
    max_searches: usize,
    /// How many of `reads` are searches.
    searches: usize,
    /// Queries that wait for a place at the store, catch-ups then searches, each kind in
    /// turns by address; they are in `reads` and count against their address's share.
    backlog: [Turns<IpAddr, Query>; 2],
    /// Queries in flight by asking address and kind (search or not), where there are any.
    per_asker: HashMap<(IpAddr, bool), usize>,
    /// Recent Events by topic.
    pub ring: Ring,
    /// The store's retention rules.
    pub retention: Retention,
    next_token: u64,
    reads: HashMap<u64, Read>,
    /// Queries waiting for the Events of their scope accepted before them to be committed, so
    /// that the store sees everything the asker could have seen.
    waiting: VecDeque<(u64, Query)>,
    /// What is uncommitted in each topic, and in each conversation (its
    /// [`thread_of`](crate::store::thread_of) key, which has a space, so is never a topic's
    /// name), that has something: a query waits only for its own scope, so a quiet channel's
    /// history is read at once however busy the others are, and a conversation's whatever else
    /// its two users were sent.
    unwritten: HashMap<Box<str>, Unwritten>,
    /// Events waiting for their commit (`--fsync always` only), oldest first.
    pub unconfirmed: VecDeque<Unconfirmed>,
    /// State saves, and the records waiting for them (`--fsync always` only).
    pub saves: super::held::HeldSaves,
    /// Connections holding a Message back until the writer catches up.
    waiting_for_room: Vec<ConnId>,
    /// Queries refused as [`Busy`] since the last [`report_busy`](History::report_busy).
    busy_refusals: u64,
    /// Queries taken out to be refused ([`take_refused`](History::take_refused)).
    refused: Vec<Read>,
    /// When the refusals were last logged.
    reported: Option<std::time::Instant>,
}

impl History {
    /// Starts after what the store already holds.
    pub fn new(c: &HistoryConfig) -> Self {
        History {
            fsync: c.fsync,
            last_pos: c.last_pos,
            committed: c.last_pos,
            failing: false,
            gone: false,
            max_unwritten: c.max_unwritten,
            max_unwritten_bytes: c.max_unwritten_bytes,
            unwritten_sizes: VecDeque::new(),
            unwritten_bytes: 0,
            per_conn: MixMap::default(),
            max_reads: c.max_reads,
            max_searches: c.max_searches,
            searches: 0,
            backlog: [
                Turns::new(c.max_reads.saturating_mul(BACKLOG)),
                Turns::new(c.max_searches.saturating_mul(BACKLOG)),
            ],
            per_asker: HashMap::new(),
            ring: Ring::new(c.ring_bytes),
            retention: c.retention.clone(),
            next_token: 0,
            reads: HashMap::new(),
            waiting: VecDeque::new(),
            unwritten: HashMap::new(),
            unconfirmed: VecDeque::new(),
            saves: Default::default(),
            waiting_for_room: Vec::new(),
            busy_refusals: 0,
            refused: Vec::new(),
            reported: None,
        }
    }

    /// Hands out no position up to `pos` again: it names a kept channel's life (see
    /// [`Server::restore`](super::Server::restore)). Only at start, with nothing unwritten.
    pub fn skip_past(&mut self, pos: u64) {
        self.last_pos = self.last_pos.max(pos);
        self.committed = self.committed.max(pos);
    }

    /// Whether a new Event can be taken now: the store is working and not too far behind.
    pub fn can_write(&self) -> bool {
        self.has_room(1)
    }

    /// Whether `n` new Events can be taken now.
    pub fn has_room(&self, n: u64) -> bool {
        !self.failing
            && self.last_pos - self.committed + n <= self.max_unwritten
            && self.unwritten_bytes < self.max_unwritten_bytes
    }

    /// Whether `conn` may add `n` Events now: there is room, and it would not hold more than
    /// its share of the unwritten bounds (all but a reserve for the others). Under `--fsync
    /// always` also not more than `echo_cap` bytes: their echoes all go out at the commit, into
    /// the connection's output queue, which must not overflow for output the client asked for.
    pub fn has_room_for(&self, conn: ConnId, n: u64, echo_cap: usize) -> bool {
        let (events, bytes) = self.per_conn.get(&conn).copied().unwrap_or_default();
        // One that holds nothing goes whenever there is room: its share may be smaller than
        // what one request adds (a SetMeta's four Events under a tiny bound).
        self.has_room(n)
            && (events == 0
                || (events + n <= share(self.max_unwritten)
                    && (bytes as u64) < share(self.max_unwritten_bytes as u64)
                    && (self.fsync == Fsync::Batched || bytes < echo_cap)))
    }

    /// Counts an accepted Event's memory against the unwritten bounds, and against `conn`'s
    /// share of them, until it is committed.
    pub fn track(&mut self, rec: &Record, conn: ConnId) {
        let weight = rec.weight();
        self.unwritten_bytes += weight;
        self.unwritten_sizes.push_back((rec.pos, weight, Some(conn)));
        let mine = self.per_conn.entry(conn).or_default();
        mine.0 += 1;
        mine.1 += weight;
    }

    /// The position for the next accepted Event, stamped `time`, on `topic` (and, for a direct
    /// message, in the conversation `thread`).
    pub fn next_pos(&mut self, topic: &str, thread: Option<&str>, time: u64) -> u64 {
        self.last_pos += 1;
        for scope in [Some(topic), thread].into_iter().flatten() {
            match self.unwritten.get_mut(scope) {
                Some(u) => u.push_back((self.last_pos, time)),
                None => {
                    let u = VecDeque::from([(self.last_pos, time)]);
                    self.unwritten.insert(scope.into(), u);
                }
            }
        }
        self.last_pos
    }

    /// The newest uncommitted position that an answer to `q` could include (0 if none). Not one
    /// below where its reader starts ([`Query::reader`]): an earlier holder's of the name, which
    /// the reader may not know of, is no reason to wait or be refused (found in review).
    fn mark(&self, q: &Query) -> u64 {
        // An account whose start the core does not know yet: the store may place it lower, so
        // every unstored Event counts.
        let floor = q
            .reader
            .as_ref()
            .map_or(Some(0), Reader::known_start)
            .unwrap_or(0);
        let key = match &q.scope {
            Scope::Topic(key) | Scope::Thread(key) => key,
            // Any of the user's conversations: a thread key is its two IDs with a space.
            Scope::Conversations(user, _) => {
                let of_user = |k: &str| {
                    k.split_once(' ')
                        .is_some_and(|(a, b)| a == &**user || b == &**user)
                };
                return (self.unwritten.iter())
                    .filter(|(k, _)| of_user(k))
                    .filter_map(|(_, u)| u.back().map(|&(pos, _)| pos))
                    .filter(|&pos| pos >= floor)
                    .max()
                    .unwrap_or(0);
            }
        };
        // Positions rise along `u`: none at or past the floor if its newest is below.
        let Some(u) = self
            .unwritten
            .get(key)
            .filter(|u| u.back().is_some_and(|&(pos, _)| pos >= floor))
        else {
            return 0;
        };
        // The store's `until` is exclusive. Times rise within a topic, so its earliest is the
        // first; a conversation's come from two topics, so its earliest is found by a scan.
        let earliest = || match q.scope {
            Scope::Topic(_) => u.front().map_or(u64::MAX, |&(_, time)| time),
            Scope::Thread(_) | Scope::Conversations(..) => {
                u.iter().map(|&(_, time)| time).min().unwrap_or(u64::MAX)
            }
        };
        match q.until.is_none_or(|until| until > earliest()) {
            true => u.back().map_or(0, |&(pos, _)| pos),
            false => 0,
        }
    }

    /// Whether an answer from disk to `q` now could leave out Events that went out to their
    /// audience but are not stored yet, and say it was complete — or call its anchor unknown:
    /// in batched mode, while the writer may still store them. A read back from an Event's
    /// id could only miss that Event itself (commits go in order, so all before a stored one
    /// are stored): it waits if its anchor is one still in memory and not stored. Not for a
    /// read that ends before the scope's earliest unstored Event, nor once the writer is
    /// gone, when what is on disk is all there will be.
    pub fn would_miss_delivered(&self, q: &Query) -> bool {
        if self.fsync != Fsync::Batched || self.gone {
            return false;
        }
        match q.before {
            Some(id) => self.ring.pos_of(&id).is_some_and(|pos| pos > self.committed),
            None => self.mark(q) > self.committed,
        }
    }

    /// Counts a query refused as [`Busy`], for the log.
    pub fn refuse(&mut self) {
        self.busy_refusals += 1;
    }

    /// Logs how many queries were refused as busy, at most once a minute: a refusal costs
    /// the asker a few bytes, so a line each could flood the log.
    pub fn report_busy(&mut self, now: std::time::Instant) {
        let due = self
            .reported
            .is_none_or(|at| now.saturating_duration_since(at) >= std::time::Duration::from_secs(60));
        if self.busy_refusals > 0 && due {
            log::warn!(
                "{} history queries refused (700): too many at once, or too many from one address",
                self.busy_refusals
            );
            self.busy_refusals = 0;
            self.reported = Some(now);
        }
    }

    /// Why another catch-up (or, with `search`, another search) by `asker` may not be started
    /// now, if it may not.
    pub fn busy(&self, asker: IpAddr, search: bool) -> Option<Busy> {
        let max = self.places(search);
        let mine = self.per_asker.get(&(asker, search)).copied().unwrap_or(0);
        if u64::try_from(mine).unwrap_or(u64::MAX) >= share(max as u64) {
            Some(Busy::Address)
        } else if self.in_flight(search) >= max && !self.backlog[usize::from(search)].has_room() {
            Some(Busy::Server)
        } else {
            None
        }
    }

    /// The store as the loop sees it.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            failing: self.failing,
            unwritten: self.unwritten_sizes.len() as u64,
            max_unwritten: self.max_unwritten,
            unwritten_bytes: self.unwritten_bytes,
            max_unwritten_bytes: self.max_unwritten_bytes,
            queries: self.reads.len(),
        }
    }

    /// The store's places for queries of this kind.
    fn places(&self, search: bool) -> usize {
        match search {
            true => self.max_searches,
            false => self.max_reads,
        }
    }

    /// Queries of this kind handed to the store (or waiting for a commit to be), not waiting
    /// for a place.
    fn in_flight(&self, search: bool) -> usize {
        let all = match search {
            true => self.searches,
            false => self.reads.len() - self.searches,
        };
        all - self.backlog[usize::from(search)].len()
    }

    /// Starts a query for `read`: sent now if the store has every Event accepted so far,
    /// else once it does. Returns the token the answer will carry.
    pub fn start_read(&mut self, read: Read, mut q: Query, out: &mut impl Outbox) -> u64 {
        self.next_token += 1;
        q.token = self.next_token;
        self.searches += usize::from(read.search);
        *self.per_asker.entry((read.asker, read.search)).or_default() += 1;
        let search = read.search;
        self.reads.insert(q.token, read);
        // Counted in `reads` already: more than the places means this one waits for one.
        match self.in_flight(search) > self.places(search) {
            true => self.backlog[usize::from(search)].push(q.asker, q),
            false => self.send(q, out),
        }
        self.next_token
    }

    /// Hands `q` to the store now if it has every Event accepted so far, else once it does.
    fn send(&mut self, q: Query, out: &mut impl Outbox) {
        let mark = self.mark(&q);
        if self.committed >= mark || self.failing {
            out.query(q);
        } else {
            self.waiting.push_back((mark, q));
            out.flush_store();
        }
    }

    /// The store committed up to `pos`: queries waiting for it may go. Returns the Events that
    /// were waiting for this commit.
    pub fn committed(&mut self, pos: u64, out: &mut impl Outbox) -> Vec<Unconfirmed> {
        self.committed = self.committed.max(pos);
        let committed = self.committed;
        self.unwritten.retain(|_, u| {
            while u.front().is_some_and(|&(pos, _)| pos <= committed) {
                u.pop_front();
            }
            !u.is_empty()
        });
        while let Some(&(pos, weight, conn)) = self.unwritten_sizes.front()
            && pos <= committed
        {
            self.unwritten_bytes -= weight;
            self.unwritten_sizes.pop_front();
            if let Some(conn) = conn
                && let Some(mine) = self.per_conn.get_mut(&conn)
            {
                mine.0 -= 1;
                mine.1 -= weight;
                if mine.0 == 0 {
                    self.per_conn.remove(&conn);
                }
            }
        }
        // Marks are not in order (each is its own scope's), so look at every waiting query.
        let (ready, still): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(mark, _)| *mark <= committed);
        self.waiting = still;
        for (_, q) in ready {
            out.query(q);
        }
        let mut done = Vec::new();
        while self.unconfirmed.front().is_some_and(|u| u.rec.pos <= committed) {
            done.extend(self.unconfirmed.pop_front());
        }
        done
    }

    /// `conn` holds a Message back until [`History::room`] says the writer caught up.
    pub fn wait_for_room(&mut self, conn: ConnId) {
        if !self.waiting_for_room.contains(&conn) {
            self.waiting_for_room.push(conn);
        }
    }

    /// The connections that held a Message back, once there is room again, or once the store
    /// is failing: a commit may then be long in coming, and their Messages are refused with 700
    /// like everyone else's rather than held.
    pub fn room(&mut self) -> Vec<ConnId> {
        match self.failing || self.can_write() {
            true => std::mem::take(&mut self.waiting_for_room),
            false => Vec::new(),
        }
    }

    /// The asker of the query with this token, once its answer arrived (or it was refused
    /// from the commit wait); `None` if it closed. Its place goes to the next query waiting.
    pub fn finish_read(&mut self, token: u64, out: &mut impl Outbox) -> Option<Read> {
        let read = self.uncount(token)?;
        self.admit_next(read.search, out);
        read.conn.is_some().then_some(read)
    }

    /// Takes the query with this token out of the counts.
    fn uncount(&mut self, token: u64) -> Option<Read> {
        let read = self.reads.remove(&token)?;
        self.searches -= usize::from(read.search);
        let key = (read.asker, read.search);
        if let Some(n) = self.per_asker.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.per_asker.remove(&key);
            }
        }
        Some(read)
    }

    /// Gives a freed place of this kind to the next query waiting for one. One whose
    /// connection closed meanwhile is dropped, and, while the store fails, one that an answer
    /// from disk could leave delivered Events out of is put in `refused`, as when it starts:
    /// each takes its place in `reads` with it, so what is in flight stays the same.
    fn admit_next(&mut self, search: bool, out: &mut impl Outbox) {
        while let Some(q) = self.backlog[usize::from(search)].pop() {
            let closed = self.reads.get(&q.token).is_none_or(|r| r.conn.is_none());
            if closed || (self.failing && self.would_miss_delivered(&q)) {
                let read = self.uncount(q.token);
                self.refused.extend(read.filter(|r| r.conn.is_some()));
                continue;
            }
            return self.send(q, out);
        }
    }

    /// The store failed: queries waiting for a commit go now rather than wait for a recovery
    /// that may be long in coming: answered from what is on disk, or, where that could leave
    /// out what was delivered ([`would_miss_delivered`](History::would_miss_delivered)), put
    /// in `refused`.
    pub fn release_waiting(&mut self, out: &mut impl Outbox) {
        // Places freed here go to queries waiting for one, checked the same way; as the store
        // is failing (the caller has set `failing`), none of them waits for a commit.
        for (_, q) in std::mem::take(&mut self.waiting) {
            match self.would_miss_delivered(&q) {
                true => {
                    let read = self.finish_read(q.token, out);
                    self.refused.extend(read);
                }
                false => out.query(q),
            }
        }
    }

    /// The queries to refuse with 700 because, the store failing, an answer from disk could
    /// leave out Events their askers were delivered.
    pub fn take_refused(&mut self) -> Vec<Read> {
        std::mem::take(&mut self.refused)
    }

    /// Forgets a closed connection, whose number the shell may soon give to another: its
    /// Events waiting for a commit are still written and fanned out, but the echo has nowhere
    /// to go, and answers to its queries are dropped.
    pub fn forget(&mut self, conn: ConnId) {
        for u in self.unconfirmed.iter_mut().filter(|u| u.conn == Some(conn)) {
            u.conn = None;
        }
        self.saves.forget(conn);
        for r in self.reads.values_mut().filter(|r| r.conn == Some(conn)) {
            r.conn = None;
        }
        self.waiting_for_room.retain(|&c| c != conn);
        if self.per_conn.remove(&conn).is_some() {
            // Its number may go to a new connection, which must not pay for these.
            for u in self.unwritten_sizes.iter_mut().filter(|u| u.2 == Some(conn)) {
                u.2 = None;
            }
        }
    }
}
