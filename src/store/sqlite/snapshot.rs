//! Whole-file copies of a store, for `scalard backup` and `scalard restore` (store/backup.rs):
//! one consistent snapshot taken beside a running server, and the check a copy passes before
//! it is put in place.
//!
//! `VACUUM INTO` rather than SQLite's online backup API: the backup API starts again whenever
//! another connection writes, so on a busy server it may never finish (QA saw the `sqlite3`
//! shell's `.backup` still copying after 20 s at 20 messages a second), while `VACUUM INTO`
//! copies one read transaction's snapshot in a single pass. Done with the SQLite scalard is
//! built with, so the host needs no `sqlite3` of a recent enough version.

use super::{Context, Db, SCHEMA_VERSION, at, forgotten, from_sql, words};
use crate::store::StoreError;
use rusqlite::OpenFlags;
use std::path::Path;

/// What a store file holds, as read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Its schema version: at most this build's, which upgrades an older one when it starts.
    pub version: u32,
    /// How many Events it stores.
    pub events: u64,
    /// How many accounts it holds.
    pub accounts: u64,
    /// Its rows whose values cannot be read, said a line for each table (see
    /// [`Db::unreadable`]): a server starts on such a store, but fails every read of them.
    pub unreadable: Vec<String>,
}

/// Opens the store at `source` for [`copy_into`]. Apart from the copy, so that a store that
/// cannot be opened (another user's, on a read-only mount, an empty file) is said as the
/// store's, not as a failure to write the copy (found by an operator's walk-through).
pub fn open_source(source: &Path) -> Result<Db, StoreError> {
    open_existing(source, false)
}

/// Writes a consistent snapshot of the store `db` (opened by [`open_source`]) into `target`,
/// which must not exist (SQLite refuses one that is not empty). A server may run on the store:
/// this only reads it (not `query_only`, which would refuse the write into `target` too),
/// though on a stopped store SQLite folds a log it finds into the file as any open does.
pub fn copy_into(db: Db, target: &Path) -> Result<(), StoreError> {
    let name = target
        .to_str()
        .ok_or_else(|| StoreError::Io(format!("{}: not a UTF-8 path", target.display())))?;
    // Said of the copy: a full disk there is what the operator must see.
    db.conn
        .execute("VACUUM INTO ?1", [name])
        .context("VACUUM INTO")
        .map_err(at(target))?;
    Ok(())
}

/// Checks that the file at `path` is a whole store this build can start on (SQLite's
/// `quick_check`, and a scalard schema no newer than this build's), and says what it holds,
/// rows whose values cannot be read included. Those do not refuse it (review): a backup of a
/// store with one is still its best copy, and a restore of one was taken before they were
/// looked for; a salvage makes a store without them. Opens it for writing, as SQLite's WAL
/// needs, but writes nothing: the caller owns the file.
pub fn inspect(path: &Path) -> Result<Summary, StoreError> {
    let db = open_existing(path, false)?;
    db.conn
        .pragma_update(None, "query_only", true)
        .context("query_only")
        .map_err(at(path))?;
    let damage = db.broken_pages(path, 3).map_err(at(path))?;
    if !damage.is_empty() {
        // Damaged, not Io: the operator is sent to what to do about it (salvage).
        return Err(StoreError::Damaged(format!(
            "{}: {}",
            path.display(),
            damage.join("; ")
        )));
    }
    let unreadable = db.unreadable(3).map_err(at(path))?;
    db.summary()
        .map(|s| Summary { unreadable, ..s })
        .map_err(at(path))
}

/// Opens an existing store file without creating or upgrading anything, and refuses
/// one that is not a scalard store or is newer than this build. `read_only` for a file that
/// is not the caller's: a connection that may write folds a log a crash left into the file
/// when it closes, and removes the log (found in review: `scalard check` did); and without a
/// log beside it, one that may only read still leaves an empty log and its index behind, so
/// the file is then read as unchanging (nothing else has it open: a server keeps its log).
pub(super) fn open_existing(path: &Path, read_only: bool) -> Result<Db, StoreError> {
    super::check_not_restoring(path)?;
    if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
        return Err(StoreError::Empty);
    }
    let reading = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = match (read_only, super::beside(path, "-wal").exists()) {
        (true, true) => Db::connect_with(path, reading)?,
        (true, false) => {
            let uri = format!("file:{}?immutable=1", uri_path(path));
            // Said of the file: the URI that opens it unchanging means nothing to the operator
            // (found by QA in a refusal: `file:/var/lib/scalard/scalard.db?immutable=1: ...`).
            let plain = |e: StoreError| match e {
                StoreError::Io(m) => StoreError::Io(m.replace(&uri, &path.display().to_string())),
                other => other,
            };
            Db::connect_with(Path::new(&uri), reading | OpenFlags::SQLITE_OPEN_URI).map_err(plain)?
        }
        (false, _) => Db::connect(path, OpenFlags::empty())?,
    };
    db.conn
        .busy_timeout(super::BUSY_TIMEOUT)
        .context("busy_timeout")
        .map_err(at(path))?;
    // The index's SQL functions, in case a check reads through them.
    words::register(&db.conn).context("text index: word function")?;
    forgotten::register(&db.conn).context("forgotten topics: bucket function")?;
    match db.user_version().map_err(at(path))? {
        v if v > SCHEMA_VERSION => Err(StoreError::TooNew(v)),
        0 => Err(StoreError::NotOurs),
        _ => Ok(db),
    }
}

/// `path` as the path of a `file:` URI: every byte but letters, digits and `/-._~`
/// percent-encoded (a `?`, `#` or `%` in a directory's name would end or change it).
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str()
        .as_bytes()
        .iter()
        .map(|&b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Db {
    /// What is wrong with the file at `path`, which this connection has open: at most `max`
    /// of the lines of SQLite's `quick_check` (which reads every page: seconds for a large
    /// store), or else of the rows whose values cannot be read (every row read again), and a
    /// length that is not its pages'; none if nothing.
    pub fn damage(&self, path: &Path, max: u32) -> Result<Vec<String>, StoreError> {
        let mut damage = self.broken_pages(path, max)?;
        // Whole pages may still hold a value every read of its row fails on (found in
        // review: text that is not UTF-8 passed); damaged pages say more than such rows.
        if damage.is_empty() {
            damage = self.unreadable(max)?;
        }
        Ok(damage)
    }

    /// The rows whose values cannot be read though their pages are whole (text that is not
    /// UTF-8, which SQLite's checks do not read), at most `max` lines, one a table.
    pub fn unreadable(&self, max: u32) -> Result<Vec<String>, StoreError> {
        super::salvage::unreadable_rows(&self.conn, max as usize)
    }

    /// [`damage`](Db::damage) of the pages alone: `quick_check`'s lines and the file's length.
    fn broken_pages(&self, path: &Path, max: u32) -> Result<Vec<String>, StoreError> {
        let mut damage: Vec<String> = self
            .conn
            .prepare(&format!("PRAGMA quick_check({max})"))
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .context("quick_check")?;
        damage.retain(|line| line != "ok");
        // A file cut short inside its last page passes quick_check (SQLite reads the rest as
        // zeros; found by QA): its length must be its pages'. Unless its log holds pages too
        // (a running server's, or a crash's): then the file is shorter until a checkpoint.
        if std::fs::metadata(super::beside(path, "-wal")).is_ok_and(|m| m.len() > 0) {
            return Ok(damage);
        }
        let pages = |pragma: &str| -> Result<u64, StoreError> {
            let v: i64 = self.conn.pragma_query_one(None, pragma).context(pragma)?;
            from_sql(v, pragma)
        };
        let (size, count) = (pages("page_size")?, pages("page_count")?);
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        if size.saturating_mul(count) != len {
            damage.push(format!(
                "{len} bytes, where its {count} pages of {size} take {} (cut short, or with something after its pages?)",
                size.saturating_mul(count)
            ));
        }
        Ok(damage)
    }

    /// The schema version and the counts, of an older schema too: the Events' counts in
    /// `topics` are as old as the store (version 1) and no upgrade recounts them, and an account
    /// is a row of `accounts` since that table came (version 2). Said by a backup and a restore
    /// of any store they take (found in a walk-through: an older one's said only its version).
    fn summary(&self) -> Result<Summary, StoreError> {
        let version = self.user_version()?;
        let accounts = match version {
            1 => 0,
            _ => {
                let n: i64 = self
                    .conn
                    .query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))
                    .context("count accounts")?;
                from_sql(n, "count")?
            }
        };
        Ok(Summary {
            version,
            events: self.count()?,
            accounts,
            unreadable: Vec::new(),
        })
    }
}
