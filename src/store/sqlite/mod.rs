//! The SQLite store: every Event in one database file, in WAL mode so that one reader
//! connection can answer queries while the writer commits.
//!
//! Layout (schema version 1): `events` keyed by position, with topic and thread names kept
//! once in `topics` and `threads`; a contentless FTS5 index over text bodies, keyed by
//! position and tagged with each Event's topic and thread; and `meta`, the high-water marks the
//! server resumes numbering from. Text bodies are stored as SQLite TEXT and blobs as BLOB, so
//! each comes back as what it was.
//!
//! Positions and times are `u64` in the protocol but SQLite integers are `i64`: values are
//! converted at the edge and refused (not wrapped) when out of range.

/// The SQL name of [`words::spaced`], as a literal for `concat!`.
macro_rules! spaced_fn {
    () => {
        "scalar_spaced"
    };
}

/// The SQL name of [`forgotten::bucket`], as a literal for `concat!`.
macro_rules! bucket_fn {
    () => {
        "scalar_bucket"
    };
}

/// The SQL that rebuilds the text index from the stored Events ([`REINDEX`]).
macro_rules! reindex {
    () => {
        concat!(
            "INSERT INTO events_fts (events_fts) VALUES ('delete-all');\n",
            index_text!(""),
            ";"
        )
    };
}

/// Adds to the text index the text Events of `events` that the SQL condition `$and` (starting
/// with `AND`) also picks, each under its topic's and thread's tokens (`Scoped::token`'s
/// `t<id>` and `h<id>`), and with its body spaced where words end ([`words`]).
macro_rules! index_text {
    ($and:literal) => {
        concat!(
            "INSERT INTO events_fts (rowid, body, scope) SELECT pos, ",
            spaced_fn!(),
            "(body), 't' || topic || coalesce(' h' || thread, '') FROM events \
             WHERE typeof(body) = 'text' ",
            $and
        )
    };
}

mod accounts;
mod ahead;
mod conversations;
mod deadline;
mod forgotten;
mod insert;
mod prune;
mod query;
pub mod salvage;
pub mod snapshot;
mod state;
#[cfg(test)]
pub(crate) mod tests;
pub mod words;

use super::StoreError;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Schema steps: step `i` takes the database from `user_version` `i` to `i + 1`. New versions
/// (accounts, bans, topic metadata) are appended, never edited, so any older file can be
/// brought forward.
const MIGRATIONS: &[&str] = &[
    SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6, SCHEMA_V7, SCHEMA_V8, SCHEMA_V9,
    SCHEMA_V10, SCHEMA_V11, SCHEMA_V12, SCHEMA_V13, SCHEMA_V14, SCHEMA_V15, SCHEMA_V16, SCHEMA_V17,
    SCHEMA_V18, SCHEMA_V19,
];

/// The schema version this build writes; a file with a higher one is refused.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

// STRICT so a wrong type is an error rather than a silent conversion; `body` is ANY so text
// and blobs keep their own storage class. The topic and thread indexes hold the rowid (`pos`)
// implicitly, so `(topic)` is already ordered as `(topic, pos)` without storing `pos` twice.
//
// The FTS `scope` column holds a token for the Event's topic (`t<id>`) and one for its thread
// (`h<id>`): a search ANDs its words with the scope's token, so FTS5 intersects the two lists
// and a common word in a small scope costs what the scope costs, not what the word costs
// across the whole store.
const SCHEMA_V1: &str = "
CREATE TABLE topics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    horizon INTEGER NOT NULL DEFAULT 0,
    count INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE threads (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE events (
    pos INTEGER PRIMARY KEY,
    topic INTEGER NOT NULL REFERENCES topics(id),
    thread INTEGER REFERENCES threads(id),
    time INTEGER NOT NULL,
    sender TEXT NOT NULL,
    id BLOB NOT NULL,
    body ANY NOT NULL,
    ctype TEXT,
    reply_to BLOB
) STRICT;
CREATE INDEX events_by_topic ON events(topic);
CREATE INDEX events_by_thread ON events(thread) WHERE thread IS NOT NULL;
-- Replaced in version 4.
CREATE INDEX events_by_id ON events(substr(id, 1, 8));
-- Full detail, although searches only AND words: a query word that the tokenizer splits
-- (a Devanagari or Tamil word at its combining marks) becomes a phrase of its parts, which
-- matches exactly what the same tokenizer made of the body. Column detail refuses phrases.
CREATE VIRTUAL TABLE events_fts USING fts5(
    body, scope, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2'
);
CREATE TABLE meta (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    last_pos INTEGER NOT NULL,
    last_time INTEGER NOT NULL
) STRICT;
INSERT INTO meta VALUES (1, 0, 0);
";

// Accounts: the ID and its password's Argon2id hash as a PHC string (algorithm, parameters
// and salt included, so parameters can change without invalidating old hashes).
const SCHEMA_V2: &str = "
CREATE TABLE accounts (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    created INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
";

// Server state (channels' government, server bans, the motd): a CBOR blob per key.
const SCHEMA_V3: &str = "
CREATE TABLE state (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT, WITHOUT ROWID;
";

// Ids are random, so every insert lands on a random page of an index keyed by id, and each
// page a commit touches is written to the WAL again. Keyed first by the position's bucket of
// 2^16 Events, only the newest bucket's pages (about 300) take inserts, so a commit's cost no
// longer grows with the store: measured on the store alone, 24-36 µs an Event at 1,000,000
// Events with version 1's index, 9-11 µs with this one. A lookup probes one bucket after the
// other (`ID_BUCKET_BITS` in query.rs must match). The first 8 bytes of the id keep the index
// small; the lookup then checks the whole id.
const SCHEMA_V4: &str = "
DROP INDEX events_by_id;
CREATE INDEX events_by_id ON events(pos >> 16, substr(id, 1, 8));
";

// A count of accounts added, deleted and renamed, by any connection or process (`scalard account`, the
// sqlite3 shell): the accounts thread polls it rather than reload every name whenever any
// other connection commits, which the history writer does several times a second.
const SCHEMA_V5: &str = "
CREATE TABLE account_changes (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    n INTEGER NOT NULL
) STRICT;
INSERT INTO account_changes VALUES (1, 0);
CREATE TRIGGER account_added AFTER INSERT ON accounts
    BEGIN UPDATE account_changes SET n = n + 1; END;
CREATE TRIGGER account_deleted AFTER DELETE ON accounts
    BEGIN UPDATE account_changes SET n = n + 1; END;
CREATE TRIGGER account_renamed AFTER UPDATE OF name ON accounts
    BEGIN UPDATE account_changes SET n = n + 1; END;
";

// FTS5's tokenizer took characters newer than its Unicode tables (most emoji among them) for
// parts of words, so "thanks🙂" could not be found by "thanks": bodies are now indexed with
// such characters spaced out (words.rs), and the index is rebuilt from the stored Events (2.6 s
// for 1,072,000 one-line Events, once).
const SCHEMA_V6: &str = REINDEX;

/// Rebuilds the text index from the stored Events: versions 6, 7, 12 to 15 and, after it
/// makes the index anew, 18.
const REINDEX: &str = reindex!();

// The tokenizer took accents off Latin letters only, so "καλημερα" did not find "καλημέρα":
// bodies are now indexed with the accents of every script taken off (words.rs, `unaccented`),
// and the index is rebuilt once more from the stored Events, as for version 6.
const SCHEMA_V7: &str = REINDEX;

// The first position that is the account's: its holder reads its direct messages from there
// on, not what was sent to the name before. Positions, not times: a busy topic's times run
// ahead of the clock. Accounts made before this version read everything, as they did.
const SCHEMA_V8: &str = "ALTER TABLE accounts ADD COLUMN from_pos INTEGER NOT NULL DEFAULT 0;";

// The life of a channel an Event was said in while the channel was closed (`Record::life`);
// NULL for the rest. Unindexed: a read filters rows its other bounds already found.
const SCHEMA_V9: &str = "ALTER TABLE events ADD COLUMN life INTEGER;";

// A password changed (`scalard account passwd`) counts as an account change too: the running
// server then closes the sessions that logged in with the old password.
const SCHEMA_V10: &str = "
CREATE TRIGGER account_password AFTER UPDATE OF hash ON accounts
    BEGIN UPDATE account_changes SET n = n + 1; END;
";

// Nothing in the file changes: from this version on, `scalard account add` leaves an account's
// start to the server (`accounts::UNSTARTED`), which an older server would never set. So the
// command refuses a file of an older version (an older server may still be running on it)
// until a server of this version has opened it.
const SCHEMA_V11: &str = "-- accounts.from_pos may be UNSTARTED";

// A run of Chinese or Japanese between punctuation was one word, found only whole: "日本語" did
// not find "日本語もテストします。". Each such character is now a word of its own (words.rs,
// `stands_alone`), and the index is rebuilt from the stored Events once more, as for version 6.
const SCHEMA_V12: &str = REINDEX;

// Kana voicing marks stay with their kana (composed), and more kana stand alone (words.rs), so
// the index is rebuilt again for a file a build of version 12 indexed; from older versions, the
// two are one rebuild (`migrate`).
const SCHEMA_V13: &str = REINDEX;

// Bodies and queries are composed (NFC) before they are spaced (words.rs), so that Hangul typed
// as jamo, a nukta typed apart or a compatibility ideograph finds its usual spelling: rebuilt
// once more, one rebuild with the two before from older versions.
const SCHEMA_V14: &str = REINDEX;

// Each Hangul syllable and letter is a word of its own too (words.rs), so that a noun finds
// the phrases that join particles to it ("서울" finds "서울에서"), with a token where a space
// or punctuation meets Korean (`KOREAN_GAP`), so a run is not found across Korean's word
// breaks; a voicing mark Unicode does not compose with its kana stays in its word (a private-use
// stand-in), the Hangul fillers are blanks, and letters given case after the tokenizer's
// Unicode 6.1 tables are folded: rebuilt once more, one rebuild with those before from older
// versions.
const SCHEMA_V15: &str = REINDEX;

// Retention deleted Events but kept a row for every topic and pair of users it emptied, so
// throwaway names grew the file and the pruning round for good. A pair's row now goes with its
// last Event; a topic's stays (its `horizon` says what a Catchup of it lost), up to a bound
// (`KEPT_EMPTIED`; counted in `meta.emptied` by triggers, as counting the index took 14 ms at
// 200,000), beyond which those with the oldest horizons go and the newest horizon among them is
// kept once for the whole server (`forgotten`): a Catchup of a topic with no row may have lost
// Events up to then, as far as the store can tell, and a topic that starts again starts with
// that horizon. Pairs emptied by earlier versions go here, their topics at the first pruning
// steps.
const SCHEMA_V16: &str = "
ALTER TABLE meta ADD COLUMN forgotten INTEGER NOT NULL DEFAULT 0;
ALTER TABLE meta ADD COLUMN emptied INTEGER NOT NULL DEFAULT 0;
CREATE INDEX topics_emptied ON topics(horizon) WHERE count = 0;
UPDATE meta SET emptied = (SELECT count(*) FROM topics WHERE count = 0);
CREATE TRIGGER topic_added AFTER INSERT ON topics WHEN new.count = 0
    BEGIN UPDATE meta SET emptied = emptied + 1; END;
CREATE TRIGGER topic_counted AFTER UPDATE OF count ON topics WHEN (old.count = 0) <> (new.count = 0)
    BEGIN UPDATE meta SET emptied = emptied + iif(new.count = 0, 1, -1); END;
CREATE TRIGGER topic_deleted AFTER DELETE ON topics WHEN old.count = 0
    BEGIN UPDATE meta SET emptied = emptied - 1; END;
DELETE FROM threads WHERE NOT EXISTS (SELECT 1 FROM events WHERE thread = threads.id);
";

// One horizon for all forgotten topics made every new channel say it had lost Events once any
// topic was forgotten: each bucket of names keeps its own now (forgotten.rs). A file that
// forgot topics under version 16 cannot tell which buckets they were in, so all get its one
// horizon; one that forgot none starts empty.
const SCHEMA_V17: &str = "
CREATE TABLE forgotten (bucket INTEGER PRIMARY KEY, horizon INTEGER NOT NULL) STRICT, WITHOUT ROWID;
WITH RECURSIVE b(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM b WHERE n < 65535)
    INSERT INTO forgotten SELECT n, forgotten FROM b, meta WHERE forgotten > 0;
ALTER TABLE meta DROP COLUMN forgotten;
";

// The tokenizer parted words at every mark that is not an accent, so "हिंदी" was the run of its
// consonants "ह द", which "हाँ दो" also holds: it keeps marks in their words now (category M),
// which needs a new index; Arabic's vowel marks and Hebrew's points come off (words.rs), Thai,
// Lao, Khmer and Myanmar letters stand alone as Chinese does, and text is composed by
// compatibility (fullwidth "２０２６" is "2026"). Made anew and filled from the stored Events,
// as the rebuilds before (a step that rebuilds is left to this one: `migrate`).
const SCHEMA_V18: &str = concat!(
    "DROP TABLE events_fts;
CREATE VIRTUAL TABLE events_fts USING fts5(
    body, scope, content='', contentless_delete=1,
    tokenize='unicode61 remove_diacritics 2 categories ''L* N* Co M*'''
);
",
    reindex!()
);

// A user's conversations (`conversations.rs`): a thread's key is its two IDs sorted, so those
// where the user is first are a range of the key's own index, and those where it is second a
// range of this one, both in the other user's order. `IF NOT EXISTS`: a file whose version
// was set back by hand (as tests do to fake an older one) keeps its index.
const SCHEMA_V19: &str =
    "CREATE INDEX IF NOT EXISTS threads_by_second ON threads (substr(key, instr(key, ' ') + 1), key);";

/// How long a connection waits for a lock held by another (a backup, the sqlite3 shell)
/// before the operation fails. Short in tests so the failure path can be exercised quickly.
const BUSY_TIMEOUT: Duration = if cfg!(test) {
    Duration::from_millis(200)
} else {
    Duration::from_secs(5)
};

/// How many topics one prune step looks at, so a step stays short however many topics exist.
const PRUNE_TOPICS: usize = 256;

/// How many topics emptied by retention keep their rows, so that a Catchup of one says what it
/// lost (each a name and two numbers, about 100 bytes with its index entries): more are
/// forgotten, with the oldest horizons first, and only then may a topic never used answer
/// with a horizon (`SCHEMA_V16`, `SCHEMA_V17`).
const KEPT_EMPTIED: u64 = 100_000;

/// The WAL is truncated back to this size after a checkpoint, so one burst does not leave a
/// large file behind for good.
const WAL_LIMIT: i64 = 64 << 20;
/// The writer's page cache, in KiB. Index pages a batch touches stay cached between commits.
const WRITER_CACHE_KIB: i64 = 64 << 10;
/// WAL pages between automatic checkpoints (SQLite's default is 1000): a page rewritten by
/// several commits is copied into the database once. Measured: 15% fewer µs per event at
/// full write rate. The WAL is truncated back to `WAL_LIMIT` after a checkpoint.
const CHECKPOINT_PAGES: i64 = 8000;

/// A connection to the history database: the writer's (from [`Db::open`]) or a reader's (from
/// [`Db::open_reader`]).
pub struct Db {
    conn: Connection,
    /// The last topic id a prune step finished with; the next step starts after it.
    prune_cursor: i64,
    /// How many topics emptied by retention keep their rows ([`Db::prune`]).
    kept_emptied: u64,
    /// More than `kept_emptied` such rows may exist: at open (an older version kept them all)
    /// and after a prune step emptied a topic.
    emptied_over: bool,
    /// How long a query may run, if bounded ([`Db::bound_queries`]).
    deadline: Option<deadline::Deadline>,
}

/// Adds what was being done to a SQLite error.
trait Context<T> {
    fn context(self, what: &str) -> Result<T, StoreError>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn context(self, what: &str) -> Result<T, StoreError> {
        self.map_err(|e| match e.sqlite_error_code() {
            // Only a reader's deadline interrupts ([`deadline`]).
            Some(rusqlite::ErrorCode::OperationInterrupted) => StoreError::TooSlow,
            // Not `NotADatabase`: a file that is none (a backup mistyped) is not damaged.
            Some(rusqlite::ErrorCode::DatabaseCorrupt) => StoreError::Damaged(format!("{what}: {e}")),
            // A value that is not what scalard wrote (text that is not UTF-8, a number out of
            // range, a wrong type) is damage too, and is sent where damage is (review: a raw
            // "invalid utf-8" stopped a start with no word of what to do).
            _ if unreadable_value(&e) => StoreError::Damaged(format!("{what}: {e}")),
            _ => StoreError::Io(format!("{what}: {e}")),
        })
    }
}

/// Whether `e` is a stored value that cannot be read as what it should be.
fn unreadable_value(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::Utf8Error(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
    )
}

/// Prefixes an I/O error with the database path, so a startup failure says which file.
fn at(path: &Path) -> impl Fn(StoreError) -> StoreError + '_ {
    move |e| match e {
        StoreError::Io(m) => StoreError::Io(format!("{}: {m}", path.display())),
        StoreError::Damaged(m) => StoreError::Damaged(format!("{}: {m}", path.display())),
        other => other,
    }
}

fn to_sql(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Io(format!("{what} {v} is out of SQLite's range")))
}

fn from_sql(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Io(format!("corrupt database: negative {what} {v}")))
}

impl Db {
    /// Opens (creating it if needed) the database at `path` for writing, in WAL mode with
    /// `synchronous=FULL`, and brings its schema up to [`SCHEMA_VERSION`]. The directory must
    /// exist. A file of a newer schema is [`StoreError::TooNew`].
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        Db::open_upgrading(path, true)
    }

    /// [`Db::open`], for a tool run beside the server (`scalard account`): a file of an older
    /// schema is [`StoreError::TooOld`], not upgraded. An older scalard may be running on it,
    /// and would go on writing the old way into the upgraded file (for version 6: indexing
    /// bodies that no search could find), or time out on the lock while a long step runs.
    pub fn open_as_is(path: &Path) -> Result<Db, StoreError> {
        Db::open_upgrading(path, false)
    }

    fn open_upgrading(path: &Path, upgrade: bool) -> Result<Db, StoreError> {
        // SQLite reports every open failure as "unable to open database file"; the OS error
        // for the directory says what is actually wrong.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(StoreError::Io(format!("{}: not a directory", dir.display()))),
                Err(e) => return Err(StoreError::Io(format!("{}: {e}", dir.display()))),
            }
        }
        check_not_restoring(path)?;
        if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
            return Err(StoreError::Empty);
        }
        // A killed `scalard restore` leaves a whole copy of a store behind (found by QA).
        clear_dead_creators(dir_of(path), &creators_stem(path));
        if std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            if std::fs::metadata(beside(path, "-wal")).is_ok_and(|m| m.len() > 0) {
                return Err(StoreError::OrphanLog);
            }
            Db::create(path)?;
        }
        let db = Db::open_file(path, upgrade)?;
        db.setup_text_index();
        Ok(db)
    }

    /// Opens (creating if need be) the file at `path` as the writer, its schema brought up to
    /// date.
    fn open_file(path: &Path, upgrade: bool) -> Result<Db, StoreError> {
        let mut db = Db::connect(path, OpenFlags::SQLITE_OPEN_CREATE)?;
        db.setup_writer().map_err(at(path))?;
        db.migrate(upgrade).map_err(at(path))?;
        Ok(db)
    }

    /// Makes a new store at `path` whole or not at all: its schema is written under a name
    /// of this creator's own (`scalard.db.new-PID-N`) and linked into place, so a first start
    /// that fails half way (a full disk, say) never leaves an empty `scalard.db`, which the
    /// next start must refuse ([`StoreError::Empty`]): it cannot tell one from a truncated
    /// store. Own names and a link rather than a rename, because `scalard account add` takes
    /// no lock and may create the store while the server's first start does: whoever links
    /// first wins, and the other opens that one. What a dead creator left is thrown away.
    fn create(path: &Path) -> Result<(), StoreError> {
        static N: AtomicU32 = AtomicU32::new(0);
        let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", path.display()));
        let stem = creators_stem(path);
        let dir = dir_of(path);
        clear_dead_creators(dir, &stem);
        let mine = format!(
            "{stem}{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let new = dir.join(mine);
        let made = Db::open_file(&new, true)
            .and_then(|db| {
                // Closed before it is linked: its log folded into the file, and a failure to do
                // that (a full disk) is one to report, not to drop.
                db.conn
                    .close()
                    .map_err(|(_, e)| StoreError::Io(format!("close: {e}")))
            })
            // An operator's `sudo scalard account add` before the first start made it root's
            // in the server's directory, and the server could not open it (found by an
            // operator's walk-through); the lock files beside it were the directory owner's.
            .and_then(|()| {
                File::open(&new)
                    .and_then(|f| crate::store::lock::own_as(&f, dir))
                    .map_err(io)
            });
        let linked = made.and_then(|()| match std::fs::hard_link(&new, path) {
            Ok(()) => File::open(dir).and_then(|d| d.sync_all()).map_err(io),
            // Another creator's is in place, whole: that one is opened.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io(e)),
        });
        remove_store_files(&new);
        linked
    }

    /// What a start would refuse in the store at `path`, found without making, upgrading or
    /// writing anything (`scalard check`; found by QA: it said "OK" for an empty file, one
    /// that is not a database, a newer schema and a log without its database, on each of
    /// which the start failed). The store, opened read-only, if there is one; none if a start
    /// would make it.
    pub fn inspect(path: &Path) -> Result<Option<Db>, StoreError> {
        check_not_restoring(path)?;
        if std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            return match std::fs::metadata(beside(path, "-wal")).is_ok_and(|m| m.len() > 0) {
                true => Err(StoreError::OrphanLog),
                false => Ok(None),
            };
        }
        snapshot::open_existing(path, true).map(Some)
    }

    /// Opens an existing store only to read it, for the commands that change nothing
    /// (`scalard account list`, `scalard ban list`): nothing is made, upgraded, locked for
    /// writing or written, so they work on a filesystem mounted read-only, a full disk or an
    /// immutable file, where [`Db::open_as_is`] fails (it opens the file as the writer and
    /// takes the write lock to look at the schema). An older schema is still
    /// [`StoreError::TooOld`]: its tables may lack what this build reads.
    pub fn open_read_only(path: &Path) -> Result<Db, StoreError> {
        let db = snapshot::open_existing(path, true)?;
        match db.user_version().map_err(at(path))? {
            v if v < SCHEMA_VERSION => Err(StoreError::TooOld(v)),
            _ => Ok(db),
        }
    }

    /// The schema version of the file: older than [`SCHEMA_VERSION`] until a start upgrades
    /// it.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.user_version()
    }

    /// Opens a second, query-only connection to an existing database, for the reader thread.
    /// WAL lets it read a consistent snapshot while the writer commits.
    pub fn open_reader(path: &Path) -> Result<Db, StoreError> {
        let db = Db::connect(path, OpenFlags::empty())?;
        db.setup_reader().map_err(at(path))?;
        Ok(db)
    }

    /// A connection to the file at `path`, read-write (WAL's readers need that too), with
    /// `more` flags (`SQLITE_OPEN_CREATE`), nothing set up yet.
    fn connect(path: &Path, more: OpenFlags) -> Result<Db, StoreError> {
        Db::connect_with(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | more,
        )
    }

    /// A connection to the file at `path` with exactly `flags`, nothing set up yet.
    fn connect_with(path: &Path, flags: OpenFlags) -> Result<Db, StoreError> {
        let conn = Connection::open_with_flags(path, flags)
            .context("cannot open")
            .map_err(at(path))?;
        Ok(Db {
            conn,
            prune_cursor: 0,
            kept_emptied: KEPT_EMPTIED,
            emptied_over: true,
            deadline: None,
        })
    }

    /// Stops each later [`Db::query`] that runs longer than `budget`: a page it has begun
    /// ends there (with `more`), one with nothing yet is [`StoreError::TooSlow`].
    pub fn bound_queries(&mut self, budget: Duration) -> Result<(), StoreError> {
        self.deadline = Some(deadline::Deadline::install(&mut self.conn, budget)?);
        Ok(())
    }

    fn setup_writer(&self) -> Result<(), StoreError> {
        // A file the OS will not let us write opens read-only without complaint; find out
        // now rather than at the first commit.
        if self.conn.is_readonly(rusqlite::MAIN_DB).context("open")? {
            return Err(StoreError::Io("the file is read-only".into()));
        }
        self.conn.busy_timeout(BUSY_TIMEOUT).context("busy_timeout")?;
        words::register(&self.conn).context("text index: word function")?;
        forgotten::register(&self.conn).context("forgotten topics: bucket function")?;
        // Before changing anything in a file a newer scalard wrote.
        let v = self.user_version()?;
        if v > SCHEMA_VERSION {
            return Err(StoreError::TooNew(v));
        }
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .context("journal_mode")?;
        // The reader thread depends on WAL to read while the writer writes.
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Io(format!(
                "cannot use WAL mode (journal_mode is {mode})"
            )));
        }
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .context("synchronous")?;
        self.conn
            .pragma_update(None, "journal_size_limit", WAL_LIMIT)
            .context("journal_size_limit")?;
        self.conn
            .pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
            .context("cache_size")?;
        self.conn
            .pragma_update(None, "wal_autocheckpoint", CHECKPOINT_PAGES)
            .context("wal_autocheckpoint")?;
        Ok(())
    }

    /// FTS5 merges segments as it writes them (automerge), which with retention's deletes was
    /// half the writer's time: 35 µs an Event at the retention limit, 17-23 µs without it
    /// (store alone, chat-like text). Segments are still merged when a level holds 16
    /// (crisismerge, bounding what a search reads), and the idle writer merges a little at a
    /// time ([`Db::tidy_text_index`]). A setting kept in the FTS table, written only when it is
    /// not there yet: a server whose disk filled while it ran must be able to start again and
    /// answer reads. Failing to write it costs speed, not correctness, so that is only logged.
    fn setup_text_index(&self) {
        let set = self
            .conn
            .query_row(
                "SELECT v = 0 FROM events_fts_config WHERE k = 'automerge'",
                [],
                |r| r.get::<_, bool>(0),
            )
            .optional();
        if let Ok(Some(true)) = set {
            return;
        }
        if let Err(e) = self.conn.execute(
            "INSERT INTO events_fts (events_fts, rank) VALUES ('automerge', 0)",
            [],
        ) {
            log::warn!(
                "store: cannot turn off the text index's merges on write (writes will be slower): {e}"
            );
        }
    }

    /// Merges up to `pages` pages' worth of the text index's segments: the idle writer's way of
    /// keeping searches fast when commits do not merge.
    pub fn tidy_text_index(&self, pages: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO events_fts (events_fts, rank) VALUES ('merge', ?1)",
                [pages],
            )
            .map(|_| ())
            .context("text index: merge")
    }

    fn setup_reader(&self) -> Result<(), StoreError> {
        self.conn.busy_timeout(BUSY_TIMEOUT).context("busy_timeout")?;
        self.conn
            .pragma_update(None, "query_only", true)
            .context("query_only")?;
        match self.user_version()? {
            v if v > SCHEMA_VERSION => Err(StoreError::TooNew(v)),
            v if v < SCHEMA_VERSION => Err(StoreError::Io(format!(
                "schema version {v}: not migrated (open it for writing first)"
            ))),
            _ => Ok(()),
        }
    }

    fn user_version(&self) -> Result<u32, StoreError> {
        let v: i64 = self
            .conn
            .pragma_query_one(None, "user_version")
            .context("user_version")?;
        // A negative version can only be a foreign file; treat it as newer than anything.
        Ok(u32::try_from(v).unwrap_or(u32::MAX))
    }

    /// Brings the schema up to [`SCHEMA_VERSION`]; without `upgrade`, only a file this call
    /// finds new (version 0, so no server has it yet), else [`StoreError::TooOld`].
    fn migrate(&mut self, upgrade: bool) -> Result<(), StoreError> {
        let mut made_here = None;
        let mut said = false;
        loop {
            // The version is read inside the write transaction so that two processes opening
            // one fresh file cannot both apply a step.
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .context("migration: begin")?;
            let v: i64 = tx
                .pragma_query_one(None, "user_version")
                .context("user_version")?;
            let v = u32::try_from(v).unwrap_or(u32::MAX);
            if v > SCHEMA_VERSION {
                return Err(StoreError::TooNew(v));
            }
            // Read in the same locked transaction as the step, so a server that makes the file
            // meanwhile is seen.
            let made_here = *made_here.get_or_insert(v == 0);
            if v == 0 {
                let tables: i64 = tx
                    .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                    .context("sqlite_master")?;
                if tables > 0 {
                    return Err(StoreError::NotOurs);
                }
            }
            if !upgrade && !made_here && v < SCHEMA_VERSION {
                return Err(StoreError::TooOld(v));
            }
            if v >= SCHEMA_VERSION {
                if made_here && v > 0 {
                    log::info!("store: new database, schema version {v}");
                }
                return Ok(());
            }
            // A new file is made whole in this one transaction, so another process opening it
            // meanwhile finds it empty or complete; an upgrade goes a step per transaction and
            // says each, since one can take seconds (versions 6 and 7 rebuild the search index).
            let to = if made_here { SCHEMA_VERSION } else { v + 1 };
            // Said before the first step, with where it starts: the server listens only once
            // the upgrade is done, and a log that said nothing until then read as a hang
            // (found by QA).
            if !made_here && !said {
                log::info!("store: upgrading the database schema from version {v} to {SCHEMA_VERSION}");
                said = true;
            }
            for (i, step) in MIGRATIONS.iter().enumerate().take(to as usize).skip(v as usize) {
                // A rebuild of the text index that a later step repeats is left to that one:
                // from version 5, one rebuild rather than three.
                let later = MIGRATIONS.get(i + 1..).unwrap_or_default();
                if *step == REINDEX && later.iter().any(|l| l.ends_with(REINDEX)) {
                    continue;
                }
                if !made_here && step.ends_with(REINDEX) {
                    log::info!(
                        "store: version {}: rebuilding the search index, which reads every \
                         message kept (a while, for a large store)",
                        i + 1
                    );
                }
                tx.execute_batch(step)
                    .context(&format!("migration to version {}", i + 1))?;
            }
            tx.pragma_update(None, "user_version", i64::from(to))
                .context("user_version")?;
            tx.commit()
                .context(&format!("migration to version {to}: commit"))?;
            if !made_here {
                log::info!("store: database schema migrated to version {to}");
            }
        }
    }

    /// Rewrites the search index whole and then the file, so that what was deleted is gone
    /// from it (`scalard compact`; store/compact.rs says why). For a store no server has open.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch(
                "INSERT INTO events_fts (events_fts) VALUES ('optimize');
                 PRAGMA wal_checkpoint(TRUNCATE);
                 VACUUM;
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )
            .context("compact")
    }

    /// The highest position ever stored (0 for a new database): new Events are numbered after
    /// it. Retention does not lower it, so positions are never reused.
    pub fn last_pos(&self) -> Result<u64, StoreError> {
        let v: i64 = self
            .conn
            .query_row(
                "SELECT max((SELECT last_pos FROM meta), coalesce((SELECT max(pos) FROM events), 0))",
                [],
                |r| r.get(0),
            )
            .context("last_pos")?;
        from_sql(v, "position")
    }

    /// The largest Event time ever stored (0 for a new database): new Event times start after
    /// it. Retention does not lower it, so times never go back across a restart.
    pub fn last_time(&self) -> Result<u64, StoreError> {
        let v: i64 = self
            .conn
            .query_row("SELECT last_time FROM meta", [], |r| r.get(0))
            .context("last_time")?;
        from_sql(v, "time")
    }

    /// How many Events are stored.
    pub fn count(&self) -> Result<u64, StoreError> {
        let v: i64 = self
            .conn
            .query_row("SELECT coalesce(sum(count), 0) FROM topics", [], |r| r.get(0))
            .context("count")?;
        from_sql(v, "count")
    }
}

/// A query's scope as row ids.
enum Scoped {
    Topic(i64),
    Thread(i64),
}

impl Scoped {
    /// Its token in the FTS `scope` column.
    fn token(&self) -> String {
        match self {
            Scoped::Topic(id) => format!("t{id}"),
            Scoped::Thread(id) => format!("h{id}"),
        }
    }
}

/// The file `scalard restore` keeps beside the store `db` (`scalard.db.restoring`) from before
/// it changes anything until it is done: while it is there, the store may be the old one, the
/// new one, or none at all.
pub fn restoring_marker(db: &Path) -> PathBuf {
    beside(db, ".restoring")
}

/// `path` with `suffix` added to its file name (`scalard.db` → `scalard.db-wal`).
pub(crate) fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The directory `path` is in (`.` for a bare name).
pub(crate) fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The start of the names a new store, or a restore's copy, is made under beside the store
/// `db` (`scalard.db.new-`; then `PID-N`), which [`clear_dead_creators`] knows.
pub(crate) fn creators_stem(db: &Path) -> String {
    let name = db.file_name().and_then(|n| n.to_str()).unwrap_or("db");
    format!("{name}.new-")
}

/// Refuses to open the store `db` while a restore runs there or was stopped part way: a
/// missing file would otherwise be made anew, empty, without a word.
pub fn check_not_restoring(db: &Path) -> Result<(), StoreError> {
    match restoring_marker(db).symlink_metadata() {
        Ok(_) => Err(StoreError::Restoring),
        Err(_) => Ok(()),
    }
}

/// Removes a store file and whatever SQLite left beside it (a working copy's), ignoring those
/// not there.
pub(crate) fn remove_store_files(db: &Path) {
    // `-whole`: a salvage's copy of a file cut short (sqlite/salvage.rs).
    for suffix in ["", "-wal", "-shm", "-journal", "-whole"] {
        let _ = std::fs::remove_file(beside(db, suffix));
    }
}

/// Throws away what creators of a new store in `dir` that are no longer running left there
/// (files named `STEM` + `PID-N`, the pid no running process's); also what a killed `scalard
/// backup` or `scalard restore` left (store/backup.rs).
pub(crate) fn clear_dead_creators(dir: &Path, stem: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(stem)) else {
            continue;
        };
        // `PID-N`, or `PID-N-wal` and the like: the main file's name, whose files all go.
        let mut parts = rest.splitn(3, '-');
        let (Some(pid), Some(n)) = (parts.next(), parts.next()) else {
            continue;
        };
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|p| Path::new("/proc").join(p.to_string()).exists());
        if !alive {
            remove_store_files(&dir.join(format!("{stem}{pid}-{n}")));
        }
    }
}
