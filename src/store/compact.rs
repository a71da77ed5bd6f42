//! `scalard compact`: rewrites a stopped server's store so that what was deleted is gone from
//! the file, not only from its rows. SQLite marks freed space for reuse without overwriting
//! it, and the search index keeps a deleted message's words in its segments behind a
//! tombstone until a merge rewrites them: a pasted secret that an operator deleted would stay
//! readable in the file (found in review). The index's own `optimize` rewrites it whole, then
//! `VACUUM` the file. Done here with the SQLite scalard is built with: the index uses
//! `contentless_delete`, which an older `sqlite3` (Debian 12's 3.40) cannot open.

use super::admin::open_existing;
use super::lock::DirLock;
use std::path::Path;

/// Compacts the store `db_file` in `dir`, which no server may have open. Returns what it did.
pub fn run(dir: &Path, db_file: &str) -> Result<String, String> {
    let path = dir.join(db_file);
    // Before the lock, which would make a lock file in a directory that has no store.
    let mut db = open_existing(&path)?;
    let _lock = DirLock::take_stopped(dir, "compacting rewrites the whole file")?;
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = super::sqlite::beside(&path, "-wal");
    let before = size(&path) + size(&wal);
    db.compact().map_err(|e| e.to_string())?;
    let after = size(&path) + size(&wal);
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    Ok(format!(
        "compacted {}: {:.1} MiB before, {:.1} MiB now; deleted messages are gone from the file \
         (backups made before still hold them)",
        path.display(),
        mib(before),
        mib(after)
    ))
}
