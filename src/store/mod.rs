//! History storage: what the server core asks of a store, and the SQLite store that answers on
//! its own threads.
//!
//! The types here are plain data, so the core stays sans IO: it hands [`Record`]s to be
//! written and [`Query`]s to be answered through its [`Outbox`](crate::server::Outbox), and is
//! told later what was committed ([`Done::Committed`]) and what a query found
//! ([`Done::Answer`]). [`sqlite`] keeps the events in one database file; [`worker`] runs it on a
//! writer thread and a reader thread behind bounded queues and hands results back to the poll
//! loop through a `mio::Waker`; the readers serve their askers in [`turns`].

pub mod accounts;
pub mod admin;
pub mod backup;
pub mod bans;
pub mod compact;
pub mod lock;
pub mod password;
pub mod restore;
pub mod salvage;
pub mod sqlite;
pub mod turns;
mod watch;
pub mod worker;

use crate::proto::{Body, MsgId};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// An Event as stored: everything needed to replay it, plus its place in the server's order.
///
/// The loop makes one for every Event it accepts and keeps it in the ring until it is evicted,
/// so its names and text body share one allocation: with the `Arc` around it, two allocations
/// an Event where separate strings made four or five (docs/PERFORMANCE.md, "History in the
/// loop").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The server-wide position: strictly increasing in the order Events were accepted. Pages,
    /// anchors and replays follow this order.
    pub pos: u64,
    /// Its Event time.
    pub time: u64,
    /// Its message id.
    pub id: MsgId,
    /// The message it answers.
    pub reply_to: Option<MsgId>,
    /// For an Event said in a channel while it was closed (invite-only or registered-only),
    /// the channel's life it was said in: only that life's readers see it (see
    /// [`Query::life`]). `None` for everything else, which every later reader may see.
    pub life: Option<u64>,
    /// The topic, the sender, the conversation key, the content type and a text body, end to
    /// end.
    text: Box<str>,
    /// Where the topic, sender, conversation key and content type end in `text`.
    ends: [usize; 4],
    /// Which of the conversation key and the content type are there (either may be empty
    /// when present, as far as this type knows).
    has: (bool, bool),
    /// A binary body; then `text` holds no body.
    blob: Option<Box<[u8]>>,
}

/// What a [`Record`] is made from.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    /// See [`Record::pos`].
    pub pos: u64,
    /// Where it was published: a channel or a user ID.
    pub topic: &'a str,
    /// For a direct message, the conversation it belongs to ([`thread_of`]); `None` for a
    /// channel.
    pub thread: Option<&'a str>,
    /// Who published it.
    pub from: &'a str,
    /// See [`Record::time`].
    pub time: u64,
    /// See [`Record::id`].
    pub id: MsgId,
    /// The content.
    pub body: Body<'a>,
    /// Content type.
    pub ctype: Option<&'a str>,
    /// See [`Record::reply_to`].
    pub reply_to: Option<MsgId>,
}

impl Record {
    /// A record of `f`, its strings copied into one allocation (two for a binary body).
    pub fn new(f: Fields<'_>) -> Record {
        let (thread, ctype) = (f.thread.unwrap_or(""), f.ctype.unwrap_or(""));
        let (body, blob) = match f.body {
            Body::Text(t) => (t, None),
            Body::Blob(b) => ("", Some(Box::from(b))),
        };
        let parts = [f.topic, f.from, thread, ctype, body];
        let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0; 4];
        for (i, p) in parts.into_iter().enumerate() {
            text.push_str(p);
            if let Some(end) = ends.get_mut(i) {
                *end = text.len();
            }
        }
        Record {
            pos: f.pos,
            time: f.time,
            id: f.id,
            reply_to: f.reply_to,
            life: None,
            text: text.into_boxed_str(),
            ends,
            has: (f.thread.is_some(), f.ctype.is_some()),
            blob,
        }
    }

    /// Part `i` of `text` (0 the topic … 4 the body).
    fn part(&self, i: usize) -> &str {
        let start = i
            .checked_sub(1)
            .and_then(|j| self.ends.get(j))
            .copied()
            .unwrap_or(0);
        let end = self.ends.get(i).copied().unwrap_or(self.text.len());
        self.text.get(start..end).unwrap_or("")
    }

    /// Where it was published: a channel or a user ID.
    pub fn topic(&self) -> &str {
        self.part(0)
    }

    /// Who published it.
    pub fn from(&self) -> &str {
        self.part(1)
    }

    /// For a direct message, the conversation it belongs to ([`thread_of`]); `None` for a
    /// channel.
    pub fn thread(&self) -> Option<&str> {
        self.has.0.then(|| self.part(2))
    }

    /// Content type.
    pub fn ctype(&self) -> Option<&str> {
        self.has.1.then(|| self.part(3))
    }

    /// The content.
    pub fn body(&self) -> Body<'_> {
        match &self.blob {
            Some(b) => Body::Blob(b),
            None => Body::Text(self.part(4)),
        }
    }

    /// Bytes its Event takes on the wire, at most: the fields plus every key, head, the id, the
    /// time and a `seq`. What a replay's byte cap counts, so many small Events with long names
    /// cannot pass it.
    pub fn wire_size(&self) -> usize {
        const FIXED: usize = 128;
        FIXED + self.topic().len() + self.from().len() + self.body().len() + self.ctype().map_or(0, str::len)
    }

    /// Bytes this record occupies in memory, roughly: what the ring charges for it.
    pub fn weight(&self) -> usize {
        std::mem::size_of::<Record>() + self.text.len() + self.blob.as_ref().map_or(0, |b| b.len())
    }
}

/// The conversation key of a direct message between two users: both IDs, sorted, separated
/// by a space (which no name contains), so alice→bob and bob→alice share it.
pub fn thread_of(a: &str, b: &str) -> Box<str> {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    format!("{x} {y}").into()
}

/// Which events a query looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every Event published to one topic.
    Topic(Box<str>),
    /// Every direct message of one conversation ([`thread_of`]), in both directions.
    Thread(Box<str>),
    /// The conversations of one user, the first field, whose other user's ID is bytewise
    /// after the second: the page holds the newest Event of each (PROTOCOL.md §4,
    /// Conversations).
    Conversations(Box<str>, Option<Box<str>>),
}

/// A request for a page of stored Events. Bounds combine: an Event must satisfy all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The core's handle for the answer.
    pub token: u64,
    /// Who asked (the connection's address, or its /64): askers are served in turn.
    pub asker: IpAddr,
    /// What to look at.
    pub scope: Scope,
    /// Only Events with a time after this.
    pub since: Option<u64>,
    /// Only Events with a time before this.
    pub until: Option<u64>,
    /// Only Events after the one with this id (which must be in the scope).
    pub after: Option<MsgId>,
    /// Only Events before the one with this id (which must be in the scope).
    pub before: Option<MsgId>,
    /// Search text: only text Events containing all its words. `None` for a plain catch-up.
    pub text: Option<Box<str>>,
    /// At most this many Events.
    pub count: usize,
    /// Stop adding Events once their [`Record::wire_size`]s pass this many bytes (at least one
    /// is returned).
    pub max_bytes: usize,
    /// Who reads, when these are a user's own direct messages or conversations: Events before
    /// the reader's start are not the reader's, and are left out as if retention had deleted
    /// them. `None` for a channel.
    pub reader: Option<Reader>,
    /// The life of the channel being read, if it has one: Events tagged with another life
    /// ([`Record::life`]) are left out, and an anchor naming one is unknown. `None` leaves out
    /// every tagged Event.
    pub life: Option<u64>,
}

/// Whose a user's direct messages are, when read (see [`Query::reader`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    /// A session logged in to this account: from the account's first position on (see
    /// [`accounts::Account::from_pos`]), so not what was sent to whoever used the name before,
    /// or to an account of that name since deleted. With no such account any more, nothing.
    /// The second field is the start the server placed for it ([`accounts::UNSTARTED`] if
    /// none): what counts while the store still says unstarted (it is told a moment later).
    Account(Box<str>, u64),
    /// A session that took a free name without a password: from the position it took it at,
    /// so not what was sent to the name's earlier users (anyone may take a free name).
    Since(u64),
}

impl Reader {
    /// The first position that is the reader's, where the server knows it without the store:
    /// `None` for an account whose start is not placed yet ([`accounts::UNSTARTED`]), which
    /// only the store can answer for.
    pub fn known_start(&self) -> Option<u64> {
        match *self {
            Reader::Since(pos) => Some(pos),
            Reader::Account(_, placed) => (placed != accounts::UNSTARTED).then_some(placed),
        }
    }
}

impl Query {
    /// True if the page runs forward from a lower bound (`since` or `after`): the oldest
    /// matching Events. Otherwise it runs backward from the newest (or from `until`/`before`).
    pub fn forward(&self) -> bool {
        self.since.is_some() || self.after.is_some()
    }
}

/// What a query found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// Matching Events in ascending position order.
    pub events: Vec<Record>,
    /// For [`Scope::Conversations`]: the other user of each conversation listed, bytewise, and
    /// the time of its newest Event.
    pub conversations: Vec<(Box<str>, u64)>,
    /// More matching Events exist in the direction asked (newer for a forward page, older for
    /// a backward one), or may: see `cut`.
    pub more: bool,
    /// The query ran out of time after finding these Events, so whether more exist is not
    /// known (`more` is set).
    pub cut: bool,
    /// `after` or `before` named an id not in the scope: nothing was looked up.
    pub unknown_anchor: bool,
    /// For [`Scope::Conversations`] with `more`: the other user's ID the next page starts
    /// after, the last one listed or passed over.
    pub cursor: Option<Box<str>>,
    /// At or before this time, Events of the scope may have been deleted by retention (for a
    /// thread, the later of its two topics' horizons), or are not the asker's to read (see
    /// [`Query::reader`]).
    pub horizon: Option<u64>,
}

/// Why the store could not do something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// SQLite or the file system failed; the text is for the log.
    Io(String),
    /// SQLite found the file damaged; the text is for the log.
    Damaged(String),
    /// The data directory holds a database of a newer schema than this build knows.
    TooNew(u32),
    /// The database has an older schema, which only the server upgrades (see
    /// [`Db::open_as_is`](sqlite::Db::open_as_is)).
    TooOld(u32),
    /// A query ran past its time bound ([`Options::query_time`](worker::Options::query_time))
    /// and was stopped.
    TooSlow,
    /// The file is another program's SQLite database (schema version 0, with tables in it),
    /// which scalard must not write its own tables into.
    NotOurs,
    /// The file exists but is empty: truncated, most likely. SQLite would take it for a new
    /// database, and the accounts, bans and history it held would be gone without a word.
    Empty,
    /// There is no file, but there is its write-ahead log (`scalard.db-wal`): the store was
    /// deleted or moved without it. SQLite would apply that log to a new file, pages of a
    /// database that is not there, and make a damaged one of the two without a word.
    OrphanLog,
    /// A `scalard restore` is under way in the data directory, or was stopped part way
    /// (`scalard.db.restoring` is there): the store may be the old one, the new one, or
    /// none, and a new empty one must not be made in its place.
    Restoring,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io(e) => write!(f, "store: {e}"),
            StoreError::Damaged(e) => write!(
                f,
                "store: {e}: the file is damaged (docs/OPERATIONS.md, A damaged store)"
            ),
            StoreError::TooNew(v) => write!(f, "store: schema version {v} is newer than this scalard"),
            StoreError::TooOld(v) => write!(
                f,
                "store: schema version {v} is older than this scalard's: start (or restart) this \
                 scalard once to upgrade it, then try again"
            ),
            StoreError::TooSlow => write!(f, "store: a query ran past its time bound and was stopped"),
            StoreError::NotOurs => write!(
                f,
                "store: the file is another program's SQLite database (it has tables, but no scalard \
                 schema); give scalard a data directory of its own"
            ),
            StoreError::OrphanLog => write!(
                f,
                "store: the database file is missing, but its write-ahead log (scalard.db-wal) is \
                 there: the store was moved or deleted without it. Put scalard.db back beside it; \
                 or, to start a new, empty store, move scalard.db-wal and scalard.db-shm away"
            ),
            StoreError::Restoring => write!(
                f,
                "store: a `scalard restore` is running in the data directory, or was stopped part \
                 way (scalard.db.restoring is there): run it again to finish it"
            ),
            StoreError::Empty => write!(
                f,
                "store: the database file is empty (0 bytes; truncated?): restore it from a backup \
                 (docs/OPERATIONS.md), or, if this server never stored anything, delete it to start \
                 a new store"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

/// What the store's threads hand back to the poll loop.
#[derive(Debug)]
pub enum Done {
    /// Every Record with `pos` ≤ this is committed (on disk, by the fsync mode's standard).
    Committed(u64),
    /// The first this many state saves taken by
    /// [`Store::save_state`](crate::store::worker::Store::save_state) since the store opened
    /// are committed, as Records are.
    Saved(u64),
    /// A write failed; the batch is kept and retried. New writes should be refused until
    /// [`Done::Recovered`].
    Failing(StoreError),
    /// Writes work again after [`Done::Failing`].
    Recovered,
    /// The answer to the [`Query`] with this token.
    Answer(u64, Result<Page, StoreError>),
    /// The writer thread ended while the store was open (it panicked): nothing more will be
    /// written or committed.
    Gone,
}

/// When a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Each commit is synced before it is acknowledged; the echo waits for it.
    Always,
    /// Writes are gathered for at most [`BATCH_WINDOW`] and committed (and synced) together.
    Batched,
}

impl Fsync {
    /// Every mode.
    pub const ALL: [Fsync; 2] = [Fsync::Always, Fsync::Batched];

    /// Its name in the configuration (`--fsync`).
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Batched => "batched",
        }
    }
}

/// The longest an accepted Event waits in memory before its batch is committed, in batched
/// mode: the most a crash can lose.
pub const BATCH_WINDOW: Duration = Duration::from_millis(100);

/// How long Events of a topic are kept. `None` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rule {
    /// Keep at most this many Events per topic.
    pub max_events: Option<u64>,
    /// Keep Events for at most this long.
    pub max_age: Option<Duration>,
}

impl Rule {
    /// Whether this rule keeps some Event that `old` would have deleted: a higher or no limit
    /// on count or age.
    pub fn keeps_more_than(&self, old: &Rule) -> bool {
        fn more<T: Ord>(new: Option<T>, old: Option<T>) -> bool {
            match (new, old) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(n), Some(o)) => n > o,
            }
        }
        more(self.max_events, old.max_events) || more(self.max_age, old.max_age)
    }

    /// The time before which a topic's Events are too old at `now_ms`; `None` when age deletes
    /// nothing. An Event exactly `max_age` old is still kept. The store's prune and the
    /// in-memory ring both draw the line here, so memory never answers past what the store
    /// keeps.
    pub fn too_old_before(&self, now_ms: u64) -> Option<u64> {
        let age = u64::try_from(self.max_age?.as_millis()).unwrap_or(u64::MAX);
        now_ms.checked_sub(age)
    }
}

/// Retention: a default rule and per-topic overrides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Retention {
    /// For every topic without an override.
    pub default: Rule,
    /// By topic name.
    pub topics: HashMap<Box<str>, Rule>,
}

impl Retention {
    /// The rule for a topic.
    pub fn rule(&self, topic: &str) -> Rule {
        self.topics.get(topic).copied().unwrap_or(self.default)
    }
}

/// As many nice levels as there are: [`yield_to_the_loop`] by this gives nice 19, the lowest,
/// from any start.
pub(crate) const LOWEST_PRIORITY: libc::c_int = 39;

/// Lowers the calling thread's CPU priority by `by` nice levels (to 19 at most, the lowest), so
/// that the poll loop wins when both want a core. Relative, so a server started under `nice`
/// keeps the gap. `what` names the thread in the warning if it fails.
pub(crate) fn yield_to_the_loop(by: libc::c_int, what: &str) {
    // SAFETY: gettid, getpriority and setpriority take plain integers and touch no memory of
    // ours; on Linux a thread id names that thread alone. getpriority cannot fail for the
    // calling thread (its -1 is nice -1, not an error).
    let r = unsafe {
        let tid = libc::gettid() as libc::id_t;
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, (now + by).min(19))
    };
    if r != 0 {
        log::warn!(
            "{what}: cannot lower the thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field comes back as it went in, whichever are absent, empty or binary.
    #[test]
    fn a_record_gives_back_its_fields() {
        let id = MsgId([3; 32]);
        let base = Fields {
            pos: 7,
            topic: "#rust@x.org",
            thread: None,
            from: "alice@x.org",
            time: 9,
            id,
            body: Body::Text("héllo"),
            ctype: None,
            reply_to: None,
        };
        let cases = [
            base,
            Fields {
                thread: Some("alice@x.org bob@x.org"),
                ctype: Some("text/x-scalar-action"),
                reply_to: Some(id),
                ..base
            },
            Fields {
                thread: Some(""),
                ctype: Some(""),
                body: Body::Text(""),
                ..base
            },
            Fields {
                topic: "",
                from: "",
                body: Body::Blob(&[0, 0xff, b'h']),
                ctype: Some("application/x-thing"),
                ..base
            },
        ];
        for f in cases {
            let r = Record::new(f);
            let got = (r.topic(), r.from(), r.thread(), r.ctype(), r.body());
            assert_eq!(got, (f.topic, f.from, f.thread, f.ctype, f.body));
            assert_eq!(
                (r.pos, r.time, r.id, r.reply_to),
                (f.pos, f.time, f.id, f.reply_to)
            );
            let strings = f.topic.len() + f.from.len() + f.ctype.map_or(0, str::len);
            assert_eq!(r.wire_size(), 128 + strings + f.body.len());
        }
    }
}
