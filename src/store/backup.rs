//! `scalard backup` and `scalard restore`: a store copied out beside a running server, and a
//! copy put back in place of a stopped one's, without the `sqlite3` shell (not installed on
//! most hosts, and one older than 3.43 cannot open the search index) and without the steps a
//! restore by hand gets wrong: a stale `scalard.db-wal` left beside the copy is applied to it
//! by SQLite, undoing the restore or damaging the copy for good; a copy made readable by
//! everyone; a copy the server's user cannot open.
//!
//! Both go through a file of their own that is linked into place only once whole and checked,
//! so an interrupted run leaves the target as it was.

use super::lock::DirLock;
use super::sqlite::clear_dead_creators;
use super::sqlite::snapshot::{self, Summary};
use crate::civil::file_stamp;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The start of the name a backup is written under until it is whole (then `PID-0`): hidden,
/// and thrown away by the next backup into that directory once its process is gone.
const PARTIAL: &str = ".scalard-backup-";

/// Copies the store `db_file` in `dir` into `target` (a new file; or, for a directory, a new
/// file in it named after the time, `scalard-2026-12-06-181022.db`). A server may run there.
/// Returns what it did.
pub fn backup(dir: &Path, db_file: &str, target: &Path, now_ms: u64) -> Result<String, String> {
    let started = Instant::now();
    let source = dir.join(db_file);
    super::admin::must_exist(&source)?;
    let target = match target.is_dir() {
        true => target.join(format!("scalard-{}.db", file_stamp(now_ms))),
        false => target.to_path_buf(),
    };
    if target.symlink_metadata().is_ok() {
        return Err(format!(
            "{} exists: name a new file (a backup never replaces one)",
            target.display()
        ));
    }
    let target_dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    clear_dead_creators(target_dir, PARTIAL);
    let partial = target_dir.join(format!("{PARTIAL}{}-0", std::process::id()));
    let _ = std::fs::remove_file(&partial);
    // Made here, empty, for its mode: SQLite would make it as the umask says, and the copy
    // holds every message and the password hashes.
    let made = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(at(&partial))
        .and_then(|_| snapshot::copy_into(&source, &partial).map_err(|e| e.to_string()))
        .and_then(|_| sync(&partial))
        .and_then(|()| snapshot::inspect(&partial).map_err(|e| format!("the copy: {e}")))
        .and_then(|summary| {
            // A link, not a rename: a file made there meanwhile is not replaced.
            std::fs::hard_link(&partial, &target).map_err(at(&target))?;
            sync_dir_of(&target)?;
            Ok(summary)
        });
    remove_with_log(&partial);
    let summary = made?;
    let size = std::fs::metadata(&target).map_or(0, |m| m.len());
    Ok(format!(
        "backed up {} to {}: {}, {:.1} MiB, in {:.1} s (mode 0600; restore with `scalard restore \
         {}` while the server is stopped)",
        source.display(),
        target.display(),
        holds(&summary),
        size as f64 / f64::from(1 << 20),
        started.elapsed().as_secs_f64(),
        target.display()
    ))
}

/// Puts the backup `source` in place of the store `db_file` in `dir` (made if missing), which
/// no server may have open. The store replaced, if any, is kept beside it under a name of its
/// own, its log with it. Returns what it did.
pub fn restore(dir: &Path, db_file: &str, source: &Path, now_ms: u64) -> Result<String, String> {
    let meta = std::fs::metadata(source).map_err(at(source))?;
    if !meta.is_file() {
        return Err(format!("{}: not a file", source.display()));
    }
    // The copy would leave the log behind, and with it whatever it holds that the file does not.
    let log = beside(source, "-wal");
    if std::fs::metadata(&log).is_ok_and(|m| m.len() > 0) {
        return Err(format!(
            "{} is beside it, with the file's newest pages: restore a file `scalard backup` \
             made (which makes one of a store and its log: `scalard backup FILE --data-dir \
             DIR` for a stopped server's files, or a store a restore kept aside)",
            log.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(at(dir))?;
    let _lock = DirLock::take_stopped(dir, "restoring replaces the store it has open")?;
    let store = dir.join(db_file);
    // Named as a new store's is while it is made, so that what a killed run left is thrown
    // away, here and by a start that makes a new store.
    let stem = format!("{db_file}.new-");
    clear_dead_creators(dir, &stem);
    let copy = dir.join(format!("{stem}{}-restore", std::process::id()));
    let made = copy_in(source, &copy, dir).and_then(|()| {
        snapshot::inspect(&copy).map_err(|e| {
            format!(
                "{} is not a store this scalard can start on: {e}",
                source.display()
            )
        })
    });
    let placed = made.and_then(|summary| {
        let aside = set_aside(&store, &format!("before-restore-{}", file_stamp(now_ms)))?;
        std::fs::rename(&copy, &store).map_err(at(&store))?;
        sync_dir_of(&store)?;
        Ok((summary, aside))
    });
    remove_with_log(&copy);
    let (summary, aside) = placed?;
    let replaced = match aside {
        Some(aside) => format!(
            "; the store it replaced is kept in {}/ (delete it once the server runs well, or \
             go back to it with `scalard backup FILE --data-dir {0}` and a restore of FILE)",
            aside.display()
        ),
        None => String::new(),
    };
    Ok(format!(
        "restored {} as {}: {}{replaced}; start scalard now",
        source.display(),
        store.display(),
        holds(&summary)
    ))
}

/// What a store holds, in words.
fn holds(s: &Summary) -> String {
    match (s.events, s.accounts) {
        (Some(events), Some(accounts)) => {
            format!(
                "{events} messages, {accounts} accounts (schema version {})",
                s.version
            )
        }
        _ => format!(
            "schema version {}, older than this scalard's: it upgrades the store as it starts",
            s.version
        ),
    }
}

/// Copies `source` to the new file `copy`, mode 0600 whatever the source's, durably, and owned
/// as `dir` is when run as root: the server's user must be able to open it (under systemd's
/// `DynamicUser=` there is no user to name).
fn copy_in(source: &Path, copy: &Path, dir: &Path) -> Result<(), String> {
    let mut from = File::open(source).map_err(at(source))?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(copy)
        .map_err(at(copy))?;
    io::copy(&mut from, &mut to).map_err(at(copy))?;
    // SAFETY: geteuid only reads the process's credentials.
    if unsafe { libc::geteuid() } == 0 {
        let owner = std::fs::metadata(dir).map_err(at(dir))?;
        std::os::unix::fs::fchown(&to, Some(owner.uid()), Some(owner.gid())).map_err(at(copy))?;
    }
    to.sync_all().map_err(at(copy))
}

/// Moves the store at `store` and its log out of the way into the new directory `aside` beside
/// it, under their own names there (so that `scalard backup --data-dir ASIDE` reads them as
/// they were), returning that directory if there was a store. The file itself gets a second
/// name rather than a new one, so that `store` names a whole database until the copy replaces
/// it; its log is moved (SQLite applies a `-wal` to the file of that name) and its index
/// dropped.
fn set_aside(store: &Path, aside: &str) -> Result<Option<PathBuf>, String> {
    let aside = store.with_file_name(aside);
    let logs = ["-wal", "-journal"].map(|suffix| beside(store, suffix));
    let had_store = store.symlink_metadata().is_ok();
    if !had_store && !logs.iter().any(|l| l.symlink_metadata().is_ok()) {
        return Ok(None);
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&aside)
        .map_err(at(&aside))?;
    let name = store.file_name().unwrap_or_default();
    if had_store {
        let to = aside.join(name);
        std::fs::hard_link(store, &to).map_err(at(&to))?;
    }
    for log in logs.iter().filter(|l| l.symlink_metadata().is_ok()) {
        let to = aside.join(log.file_name().unwrap_or_default());
        std::fs::rename(log, &to).map_err(at(&to))?;
    }
    let shm = beside(store, "-shm");
    match std::fs::remove_file(&shm) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(at(&shm)(e)),
        _ => Ok(Some(aside)),
    }
}

/// `path` with `suffix` added to its file name (`scalard.db` → `scalard.db-wal`).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// An I/O error said with the file it was about.
fn at(path: &Path) -> impl Fn(io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

fn sync(path: &Path) -> Result<(), String> {
    File::open(path).and_then(|f| f.sync_all()).map_err(at(path))
}

/// Makes a name just linked or renamed in `path`'s directory durable.
fn sync_dir_of(path: &Path) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    sync(dir)
}

/// Removes a working copy and whatever SQLite left beside it; a copy already renamed is gone.
fn remove_with_log(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(beside(path, suffix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::Db;
    use crate::store::sqlite::tests::{TempDir, rec};

    const DB: &str = "scalard.db";
    /// 2026-12-06 18:10:22 UTC.
    const NOW: u64 = 1_796_580_622_000;

    fn store_with(dir: &Path, texts: &[&str]) {
        let mut db = Db::open(&dir.join(DB)).unwrap();
        let start = db.last_pos().unwrap() + 1;
        let records: Vec<_> = (start..)
            .zip(texts)
            .map(|(pos, t)| rec(pos, "#a@x.org", pos, t))
            .collect();
        db.insert(&records).unwrap();
    }

    /// The names of the files in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn count(dir: &Path) -> u64 {
        Db::open(&dir.join(DB)).unwrap().count().unwrap()
    }

    #[test]
    fn a_backup_restores_over_a_later_store_and_keeps_that_one_aside() {
        let live = TempDir::new("backup-live");
        let out = TempDir::new("backup-out");
        store_with(&live.0, &["one", "two"]);
        let said = backup(&live.0, DB, &out.0, NOW).unwrap();
        let file = out.0.join("scalard-2026-12-06-181022.db");
        assert!(said.contains("2 messages, 0 accounts"), "{said}");
        assert!(said.contains(&file.display().to_string()), "{said}");
        let mode = std::fs::metadata(&file).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Never over an existing file, the one just made included.
        let again = backup(&live.0, DB, &out.0, NOW).unwrap_err();
        assert!(again.contains("exists"), "{again}");
        store_with(&live.0, &["three"]);
        let said = restore(&live.0, DB, &file, NOW + 1000).unwrap();
        assert!(said.contains("2 messages"), "{said}");
        assert_eq!(count(&live.0), 2);
        let aside = live.0.join("before-restore-2026-12-06-181023");
        assert!(said.contains(&aside.display().to_string()), "{said}");
        // The store set aside keeps what it held, and a backup of it goes back to it.
        let back = out.0.join("back.db");
        backup(&aside, DB, &back, NOW).unwrap();
        restore(&live.0, DB, &back, NOW + 2000).unwrap();
        assert_eq!(count(&live.0), 3);
        let left = names(&live.0);
        assert!(!left.iter().any(|n| n.contains(".new-")), "{left:?}");
        assert_eq!(names(&out.0), ["back.db", "scalard-2026-12-06-181022.db"]);
    }

    /// A stale log beside the store replaced must not reach the copy: SQLite would apply it.
    #[test]
    fn the_replaced_stores_log_goes_with_it() {
        let live = TempDir::new("restore-log");
        let out = TempDir::new("restore-log-out");
        store_with(&live.0, &["kept"]);
        let file = out.0.join("b.db");
        backup(&live.0, DB, &file, NOW).unwrap();
        // A store killed with its log unfolded: open, write, and leak the connection.
        let mut db = Db::open(&live.0.join(DB)).unwrap();
        db.insert(&[rec(9, "#a@x.org", 9, "after the backup")]).unwrap();
        assert!(beside(&live.0.join(DB), "-wal").exists());
        std::mem::forget(db);
        restore(&live.0, DB, &file, NOW).unwrap();
        assert!(!beside(&live.0.join(DB), "-shm").exists());
        assert_eq!(count(&live.0), 1);
        // Where it went, it reads as it was, its log applied.
        let aside = live.0.join("before-restore-2026-12-06-181022");
        assert!(aside.join("scalard.db-wal").exists());
        assert_eq!(count(&aside), 2);
    }

    #[test]
    fn what_is_not_a_store_is_refused_and_the_store_stays() {
        let live = TempDir::new("restore-bad");
        let out = TempDir::new("restore-bad-out");
        store_with(&live.0, &["stays"]);
        let junk = out.0.join("junk.db");
        std::fs::write(&junk, vec![7u8; 8192]).unwrap();
        let e = restore(&live.0, DB, &junk, NOW).unwrap_err();
        assert!(e.contains("not a store this scalard can start on"), "{e}");
        let empty = out.0.join("empty.db");
        std::fs::write(&empty, b"").unwrap();
        assert!(restore(&live.0, DB, &empty, NOW).is_err());
        let e = restore(&live.0, DB, &out.0.join("missing.db"), NOW).unwrap_err();
        assert!(e.contains("missing.db"), "{e}");
        let e = restore(&live.0, DB, &out.0, NOW).unwrap_err();
        assert!(e.contains("not a file"), "{e}");
        assert_eq!(count(&live.0), 1);
        let names = names(&live.0);
        assert!(
            !names
                .iter()
                .any(|n| n.contains("before-restore") || n.contains(".new-")),
            "{names:?}"
        );
        let e = backup(&out.0, DB, &out.0.join("x.db"), NOW).unwrap_err();
        assert!(e.contains("has scalard run there"), "{e}");
    }

    /// What a killed backup or restore left is thrown away by the next one.
    #[test]
    fn leftovers_of_killed_runs_are_cleared() {
        let live = TempDir::new("leftovers");
        let out = TempDir::new("leftovers-out");
        store_with(&live.0, &["x"]);
        // No process has pid 0x7ffffff0 (above Linux's pid_max).
        let dead = [
            out.0.join(".scalard-backup-2147483632-0"),
            live.0.join("scalard.db.new-2147483632-restore"),
        ];
        for file in &dead {
            std::fs::write(file, b"half a copy").unwrap();
        }
        let file = out.0.join("b.db");
        backup(&live.0, DB, &file, NOW).unwrap();
        restore(&live.0, DB, &file, NOW).unwrap();
        for file in &dead {
            assert!(!file.exists(), "{}", file.display());
        }
    }

    #[test]
    fn a_running_server_is_not_restored_over() {
        let live = TempDir::new("restore-held");
        let out = TempDir::new("restore-held-out");
        store_with(&live.0, &["x"]);
        let file = out.0.join("b.db");
        let held = DirLock::take(&live.0).unwrap();
        // A backup beside the server is what it is for.
        backup(&live.0, DB, &file, NOW).unwrap();
        let e = restore(&live.0, DB, &file, NOW).unwrap_err();
        assert!(e.contains("stop it first"), "{e}");
        drop(held);
        restore(&live.0, DB, &file, NOW).unwrap();
    }

    #[test]
    fn a_copy_with_its_log_beside_it_is_refused() {
        let live = TempDir::new("restore-wal");
        let out = TempDir::new("restore-wal-out");
        store_with(&live.0, &["x"]);
        let file = out.0.join("b.db");
        backup(&live.0, DB, &file, NOW).unwrap();
        std::fs::write(beside(&file, "-wal"), b"pages").unwrap();
        let e = restore(&live.0, DB, &file, NOW).unwrap_err();
        assert!(e.contains("b.db-wal is beside it"), "{e}");
    }
}
