//! History storage: what the server core asks of a store, and the SQLite store that answers on
//! its own threads.
//!
//! The types here are plain data, so the core stays sans IO: it hands [`Record`]s to be
//! written and [`Query`]s to be answered through its [`Outbox`](crate::server::Outbox), and is
//! told later what was committed ([`Done::Committed`]) and what a query found
//! ([`Done::Answer`]). [`sqlite`] keeps the events in one database file; [`worker`] runs it on a
//! writer thread and a reader thread behind bounded queues and hands results back to the poll
//! loop through a `mio::Waker`.

pub mod accounts;
pub mod admin;
pub mod password;
pub mod sqlite;
pub mod worker;

use crate::proto::{Body, MsgId};
use std::collections::HashMap;
use std::time::Duration;

/// An Event as stored: everything needed to replay it, plus its place in the server's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The server-wide position: strictly increasing in the order Events were accepted. Pages,
    /// anchors and replays follow this order.
    pub pos: u64,
    /// Where it was published: a channel or a user ID.
    pub topic: Box<str>,
    /// For a direct message, the conversation it belongs to ([`thread_of`]); `None` for a
    /// channel.
    pub thread: Option<Box<str>>,
    /// Who published it.
    pub from: Box<str>,
    /// Its Event time.
    pub time: u64,
    /// Its message id.
    pub id: MsgId,
    /// The content.
    pub body: OwnedBody,
    /// Content type.
    pub ctype: Option<Box<str>>,
    /// The message it answers.
    pub reply_to: Option<MsgId>,
}

/// An owned [`Body`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedBody {
    /// UTF-8 text.
    Text(Box<str>),
    /// Binary data.
    Blob(Box<[u8]>),
}

impl OwnedBody {
    /// Borrows it as the wire type.
    pub fn as_body(&self) -> Body<'_> {
        match self {
            OwnedBody::Text(t) => Body::Text(t),
            OwnedBody::Blob(b) => Body::Blob(b),
        }
    }

    /// An owned copy of a wire body.
    pub fn from_body(b: Body<'_>) -> Self {
        match b {
            Body::Text(t) => OwnedBody::Text(t.into()),
            Body::Blob(b) => OwnedBody::Blob(b.into()),
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.as_body().len()
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Record {
    /// Bytes its Event takes on the wire, at most: the fields plus every key, head, the id, the
    /// time and a `seq`. What a replay's byte cap counts, so many small Events with long names
    /// cannot pass it.
    pub fn wire_size(&self) -> usize {
        const FIXED: usize = 128;
        FIXED
            + self.topic.len()
            + self.from.len()
            + self.body.len()
            + self.ctype.as_ref().map_or(0, |c| c.len())
    }

    /// Bytes this record occupies in memory, roughly: what the ring charges for it.
    pub fn weight(&self) -> usize {
        std::mem::size_of::<Record>()
            + self.topic.len()
            + self.thread.as_ref().map_or(0, |t| t.len())
            + self.from.len()
            + self.body.len()
            + self.ctype.as_ref().map_or(0, |c| c.len())
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
}

/// A request for a page of stored Events. Bounds combine: an Event must satisfy all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The core's handle for the answer.
    pub token: u64,
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
    /// More matching Events exist in the direction asked (newer for a forward page, older for
    /// a backward one).
    pub more: bool,
    /// `after` or `before` named an id not in the scope: nothing was looked up.
    pub unknown_anchor: bool,
    /// At or before this time, Events of the scope may have been deleted by retention (for a
    /// thread, the later of its two topics' horizons).
    pub horizon: Option<u64>,
}

/// Why the store could not do something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// SQLite or the file system failed; the text is for the log.
    Io(String),
    /// The data directory holds a database of a newer schema than this build knows.
    TooNew(u32),
    /// The database has an older schema, which only the server upgrades (see
    /// [`Db::open_as_is`](sqlite::Db::open_as_is)).
    TooOld(u32),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io(e) => write!(f, "store: {e}"),
            StoreError::TooNew(v) => write!(f, "store: schema version {v} is newer than this scalard"),
            StoreError::TooOld(v) => write!(
                f,
                "store: schema version {v} is older than this scalard's: start (or restart) this \
                 scalard once to upgrade it, then try again"
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
