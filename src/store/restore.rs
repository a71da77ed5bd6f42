//! `scalard restore`: a backup put in place of a stopped server's store without the steps a
//! restore by hand gets wrong: a stale `scalard.db-wal` left beside the copy is applied to it by
//! SQLite, undoing the restore or damaging the copy for good; a copy readable by everyone; a
//! copy, or a lock file, the server's user cannot open.
//!
//! The copy is made and checked under a name of its own before anything else changes. From
//! then on `scalard.db.restoring` names the directory the old store goes to: while it is
//! there, nothing opens the store (a start, `scalard account`, `scalard backup`), which may be
//! the old one, the new one or none, and a restore run again finishes what a killed one began,
//! into the same directory. The old store is moved, never linked: a second name for the live
//! file would let writes to one corrupt the other (found by QA).

use super::StoreError;
use super::backup::{at, being_set_aside, beside, free_name, holds, sync_dir, sync_dir_of, unreadable_note};
use super::lock::{DirLock, StoreHold, as_root, own_as};
use super::sqlite::snapshot::{self, Summary};
use super::sqlite::{
    SCHEMA_VERSION, clear_dead_creators, creators_stem, remove_store_files, restoring_marker,
};
use crate::civil::file_stamp;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The start of the name of the directory a replaced store is kept in.
const ASIDE: &str = "before-restore-";

/// Puts the backup `source` in place of the store `db_file` in `dir` (made if missing), which
/// no server may have open. The store replaced, if any, is kept in a directory beside it, its
/// log with it. Returns what it did.
pub fn restore(dir: &Path, db_file: &str, source: &Path, now_ms: u64) -> Result<String, String> {
    let meta = std::fs::metadata(source).map_err(at(source))?;
    if !meta.is_file() {
        return Err(format!("{}: not a file", source.display()));
    }
    // The copy would leave the log behind, and with it whatever it holds that the file does
    // not (a hot rollback journal, the pages to take back).
    let logs = ["-wal", "-journal"].map(|suffix| beside(source, suffix));
    if let Some(log) = logs
        .iter()
        .find(|l| std::fs::metadata(l).is_ok_and(|m| m.len() > 0))
    {
        return Err(format!(
            "{} is beside it, with pages the file lacks: restore a file `scalard backup` \
             made (which makes one of a store and its log: `scalard backup FILE --data-dir \
             DIR` for a stopped server's files, or a store a restore kept aside)",
            log.display()
        ));
    }
    // A store a stopped restore was moving aside may have its log still in the data
    // directory it came from (review).
    if let (Some(from), Some(name)) = (source.parent(), source.file_name()) {
        being_set_aside(from, &name.to_string_lossy())?;
    }
    // Made by root, it would be root's, and the server's user could not use it (nor would
    // anything say so until the server failed to start).
    if as_root() && !dir.exists() {
        return Err(format!(
            "no data directory {}: make it owned by the server's user first (or start the \
             server once: under systemd, its StateDirectory= makes it), then restore",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(at(dir))?;
    let why = "restoring replaces the store it has open";
    let _lock = DirLock::take_stopped(dir, why)?;
    let _hold = StoreHold::alone(dir, why)?;
    let store = dir.join(db_file);
    let marker = restoring_marker(&store);
    let resumed = interrupted(&marker);
    let aside = match &resumed {
        Some(name) => dir.join(name),
        None => free_name(dir, &format!("{ASIDE}{}", file_stamp(now_ms)), "")?,
    };
    if resumed.is_none() {
        mark(&marker, &aside, dir)?;
    }
    // Named as a new store's is while it is made, so that what a killed run left is thrown
    // away, here and by the next start.
    let stem = creators_stem(&store);
    clear_dead_creators(dir, &stem);
    let copy = dir.join(format!("{stem}{}-restore", std::process::id()));
    // One a killed run of this pid left (a container's restore is pid 1 every time: found in
    // review): stale, as the lock is ours.
    remove_store_files(&copy);
    let checked = copy_in(source, &copy, dir)
        .map_err(|e| {
            let e = e.replace(&format!("{}: ", copy.display()), "");
            format!("cannot copy {} into {}: {e}", source.display(), dir.display())
        })
        .and_then(|()| {
            snapshot::inspect(&copy).map_err(|e| {
                format!(
                    "{} is not a store this scalard can start on: {}",
                    source.display(),
                    refusal(e, &copy, source)
                )
            })
        });
    let summary = match checked {
        Ok(summary) => summary,
        Err(e) => {
            remove_store_files(&copy);
            // Nothing changed yet: the store is as it was.
            if resumed.is_none() {
                let _ = std::fs::remove_file(&marker);
                return Err(format!("{e} (nothing was changed)"));
            }
            return Err(e);
        }
    };
    let placed = set_aside(&store, &aside, dir).and_then(|kept| {
        std::fs::rename(&copy, &store).map_err(at(&store))?;
        sync_dir_of(&store)?;
        Ok(kept)
    });
    remove_store_files(&copy);
    let kept = placed.map_err(|e| format!("{e}; stopped part way: run scalard restore again"))?;
    std::fs::remove_file(&marker).map_err(at(&marker))?;
    sync_dir_of(&marker)?;
    Ok(said(
        source,
        &store,
        &summary,
        (kept != Kept::Nothing).then_some((&aside, kept)),
        resumed.is_some(),
    ))
}

/// What a restore says it did.
fn said(source: &Path, store: &Path, s: &Summary, aside: Option<(&PathBuf, Kept)>, resumed: bool) -> String {
    let finished = match resumed {
        true => " (finishing one that was stopped part way)",
        false => "",
    };
    let replaced = match aside {
        Some((aside, Kept::Store)) => format!(
            "; the store it replaced is kept in {}/ (delete it once the server runs well, or go \
             back to it with `scalard backup FILE --data-dir {}` and a restore of FILE)",
            aside.display(),
            shell_quoted(aside)
        ),
        Some((aside, _)) => format!(
            "; there was no {} but a log of one, kept in {}/ so that it never reaches the \
             restored store (delete it once the server runs well)",
            store.file_name().unwrap_or_default().to_string_lossy(),
            aside.display()
        ),
        None => String::new(),
    };
    format!(
        "restored {} as {}{finished}: {}{replaced}; start scalard now{}",
        source.display(),
        store.display(),
        holds(s),
        unreadable_note(s)
    )
}

/// The directory an interrupted restore was moving the old store into, as its marker names it
/// (a bare name of ours, nothing else).
fn interrupted(marker: &Path) -> Option<String> {
    let text = std::fs::read_to_string(marker).ok()?;
    let name = text.trim();
    (name.starts_with(ASIDE) && !name.contains('/')).then(|| name.to_string())
}

/// Writes the marker, naming `aside`, durably: from now on nothing opens the store until the
/// restore is done.
fn mark(marker: &Path, aside: &Path, dir: &Path) -> Result<(), String> {
    let name = aside.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(marker)
        .map_err(at(marker))?;
    own_as(&file, dir).map_err(at(marker))?;
    file.write_all(format!("{name}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(at(marker))?;
    sync_dir_of(marker)
}

/// Why the copy of a backup was refused, said of the backup (`source`) rather than of the copy.
fn refusal(e: StoreError, copy: &Path, source: &Path) -> String {
    match e {
        StoreError::NotOurs => "an SQLite database without scalard's tables".into(),
        StoreError::Empty => "it is empty (0 bytes)".into(),
        StoreError::TooNew(v) => format!(
            "its schema version {v} is newer than this scalard's {SCHEMA_VERSION}: restore it \
             with the scalard that made it"
        ),
        e => e
            .to_string()
            .replace(&copy.display().to_string(), &source.display().to_string()),
    }
}

/// Copies `source` to the new file `copy`, mode 0600 whatever the source's, durably, and owned
/// as `dir` is when run as root.
fn copy_in(source: &Path, copy: &Path, dir: &Path) -> Result<(), String> {
    let mut from = File::open(source).map_err(at(source))?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(copy)
        .map_err(at(copy))?;
    io::copy(&mut from, &mut to).map_err(at(copy))?;
    own_as(&to, dir).map_err(at(copy))?;
    to.sync_all().map_err(at(copy))
}

/// Moves the store at `store` and its log into the directory `aside` beside it, under their
/// own names there (so that `scalard backup --data-dir ASIDE` reads them as they were). Says
/// whether `aside` holds a store now. Run again after a stop part way, it moves what is left,
/// and leaves in place a file `aside` has already: then the one at `store` is the stopped
/// run's copy, which the new one replaces.
fn set_aside(store: &Path, aside: &Path, dir: &Path) -> Result<Kept, String> {
    let files = ["", "-wal", "-journal"].map(|suffix| beside(store, suffix));
    let there = |p: &PathBuf| p.symlink_metadata().is_ok();
    if files.iter().any(there) && !aside.is_dir() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(aside)
            .map_err(at(aside))?;
    }
    // Again on a run that finishes a stopped one, which may have stopped before this.
    if aside.is_dir() {
        File::open(aside)
            .and_then(|d| own_as(&d, dir))
            .map_err(at(aside))?;
    }
    for file in files.iter().filter(|f| there(f)) {
        let to = aside.join(file.file_name().unwrap_or_default());
        match (there(&to), file == store) {
            (false, _) => std::fs::rename(file, &to).map_err(at(&to))?,
            (true, true) => {}
            (true, false) => {
                return Err(format!(
                    "both {} and {} are there: move one away by hand",
                    file.display(),
                    to.display()
                ));
            }
        }
    }
    let shm = beside(store, "-shm");
    match std::fs::remove_file(&shm) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(at(&shm)(e)),
        _ => {}
    }
    // Both directories: the names that came and the names that went (review).
    if aside.is_dir() {
        sync_dir(aside)?;
    }
    sync_dir_of(store)?;
    let kept = |f: &PathBuf| aside.join(f.file_name().unwrap_or_default()).exists();
    Ok(match (kept(&store.to_path_buf()), files.iter().any(kept)) {
        (true, _) => Kept::Store,
        (false, true) => Kept::Leftovers,
        (false, false) => Kept::Nothing,
    })
}

/// What a restore moved into the directory kept aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    /// Nothing was there: a data directory without a store.
    Nothing,
    /// The store replaced (and its log, if it had one).
    Store,
    /// Only what a store left without its file (a `-wal` or `-journal`): moved all the same,
    /// so that SQLite never applies it to the restored copy, and said, since the operator
    /// could not guess a directory was made for it (found by QA).
    Leftovers,
}

/// `path` as a shell word: quoted when it holds anything but letters, digits and `/._-`.
fn shell_quoted(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c));
    match plain {
        true => text,
        false => format!("'{}'", text.replace('\'', r"'\''")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backup::backup;
    use crate::store::sqlite::Db;
    use crate::store::sqlite::tests::{TempDir, rec};
    use std::os::unix::fs::MetadataExt;

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

    /// A store of `texts` in a directory named after `name`, and its backup `b.db` in another.
    fn backed_up(name: &str, texts: &[&str]) -> (TempDir, TempDir, PathBuf) {
        let live = TempDir::new(name);
        let out = TempDir::new(&format!("{name}-out"));
        store_with(&live.0, texts);
        let file = out.0.join("b.db");
        backup(&live.0, DB, &file, NOW).unwrap();
        (live, out, file)
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
        // Never over an existing file; into a directory, under a name of its own.
        let again = backup(&live.0, DB, &file, NOW).unwrap_err();
        assert!(again.contains("exists"), "{again}");
        std::fs::remove_file(
            backup(&live.0, DB, &out.0, NOW)
                .map(|_| out.0.join("scalard-2026-12-06-181022-2.db"))
                .unwrap(),
        )
        .unwrap();
        store_with(&live.0, &["three"]);
        let said = restore(&live.0, DB, &file, NOW + 1000).unwrap();
        assert!(said.contains("2 messages"), "{said}");
        assert_eq!(count(&live.0), 2);
        let aside = live.0.join("before-restore-2026-12-06-181023");
        assert!(aside.is_dir(), "{said}");
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
    /// Root makes no data directory (it would be root's); anyone else makes its own.
    #[test]
    fn a_missing_data_directory_is_made_only_by_its_own_user() {
        let (_live, out, file) = backed_up("restore-new-dir", &["x"]);
        let dir = out.0.join("fresh");
        match (as_root(), restore(&dir, DB, &file, NOW)) {
            (true, Err(e)) => {
                assert!(e.contains("make it owned by the server's user first"), "{e}");
                assert!(!dir.exists(), "nothing made");
            }
            (false, Ok(said)) => assert!(dir.join(DB).exists(), "{said}"),
            (root, got) => panic!("as root: {root}; {got:?}"),
        }
    }

    #[test]
    fn the_replaced_stores_log_goes_with_it() {
        let (live, _out, file) = backed_up("restore-log", &["kept"]);
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
        assert!(e.contains("stop the server running there first"), "{e}");
        drop(held);
        restore(&live.0, DB, &file, NOW).unwrap();
    }

    #[test]
    fn a_copy_with_its_log_beside_it_is_refused() {
        let (live, _out, file) = backed_up("restore-wal", &["x"]);
        std::fs::write(beside(&file, "-wal"), b"pages").unwrap();
        let e = restore(&live.0, DB, &file, NOW).unwrap_err();
        assert!(e.contains("b.db-wal is beside it"), "{e}");
    }

    /// Restores a second apart, or in the same second, each keep their own directory.
    #[test]
    fn restores_in_one_second_keep_each_store_apart() {
        let (live, out, file) = backed_up("restore-twice", &["x"]);
        for _ in 0..3 {
            restore(&live.0, DB, &file, NOW).unwrap();
        }
        let kept: Vec<String> = names(&live.0)
            .into_iter()
            .filter(|n| n.starts_with("before-restore-"))
            .collect();
        assert_eq!(
            kept,
            [
                "before-restore-2026-12-06-181022",
                "before-restore-2026-12-06-181022-2",
                "before-restore-2026-12-06-181022-3"
            ]
        );
        // And backups into one directory in one second.
        backup(&live.0, DB, &out.0, NOW).unwrap();
        backup(&live.0, DB, &out.0, NOW).unwrap();
        assert!(out.0.join("scalard-2026-12-06-181022-2.db").exists());
    }

    /// A restore stopped after the old store went aside, before the new one was in place:
    /// nothing opens the directory (a start would make a new, empty store), and the restore
    /// run again finishes into the same directory, the old store's log with it.
    #[test]
    fn a_restore_stopped_part_way_blocks_the_store_until_run_again() {
        let (live, out, file) = backed_up("restore-stopped", &["old one", "old two"]);
        store_with(&live.0, &["newest, in the log"]);
        // What a kill part way leaves: the marker, and the store moved aside without its log.
        let store = live.0.join(DB);
        let aside = live.0.join("before-restore-2026-12-06-181022");
        std::fs::create_dir(&aside).unwrap();
        std::fs::write(restoring_marker(&store), "before-restore-2026-12-06-181022\n").unwrap();
        std::fs::rename(&store, aside.join(DB)).unwrap();
        assert!(matches!(Db::open(&store), Err(StoreError::Restoring)));
        assert!(!store.exists(), "no new store was made");
        let e = backup(&live.0, DB, &out.0.join("c.db"), NOW).unwrap_err();
        assert!(e.contains("scalard restore"), "{e}");
        // Nor the store half moved aside, whose log is still beside the marker (QA: such a
        // backup held its file alone, and said nothing).
        let e = backup(&aside, DB, &out.0.join("d.db"), NOW).unwrap_err();
        assert!(e.contains("stopped while it moved this store here"), "{e}");
        // Nor restored from there elsewhere: its log is still in the data directory (review).
        let elsewhere = TempDir::new("restore-stopped-elsewhere");
        let e = restore(&elsewhere.0, DB, &aside.join(DB), NOW).unwrap_err();
        assert!(e.contains("stopped while it moved this store here"), "{e}");
        // A copy this very pid left, as a container's restore (pid 1 each time) would.
        let mine = live.0.join(format!("{DB}.new-{}-restore", std::process::id()));
        std::fs::write(&mine, b"half a copy").unwrap();
        let said = restore(&live.0, DB, &file, NOW + 5000).unwrap();
        assert!(said.contains("finishing one that was stopped part way"), "{said}");
        assert!(!restoring_marker(&store).exists());
        assert_eq!(count(&live.0), 2);
        assert_eq!(count(&aside), 3, "the old store, its log applied");
        assert_eq!(
            names(&live.0)
                .iter()
                .filter(|n| n.starts_with("before-restore-"))
                .count(),
            1
        );
    }

    /// A backup refused before anything changed leaves no marker, so the store opens.
    #[test]
    fn a_refused_backup_leaves_the_store_usable() {
        let (live, out, file) = backed_up("restore-refused", &["x"]);
        // Cut short by one byte: quick_check alone let it through (QA).
        let bytes = std::fs::read(&file).unwrap();
        let cut = out.0.join("cut.db");
        std::fs::write(&cut, &bytes[..bytes.len() - 1]).unwrap();
        let e = restore(&live.0, DB, &cut, NOW).unwrap_err();
        assert!(e.contains("cut short"), "{e}");
        assert!(!e.contains(".new-"), "said of the backup, not of the copy: {e}");
        let junk = out.0.join("junk.db");
        std::fs::write(&junk, &bytes[..100]).unwrap();
        let e = restore(&live.0, DB, &junk, NOW).unwrap_err();
        assert!(!e.contains("data directory of its own"), "{e}");
        assert!(!restoring_marker(&live.0.join(DB)).exists());
        assert_eq!(count(&live.0), 1);
    }

    /// Run as root into a directory of another user, the store and the lock file are that
    /// user's, so that the server can start there (QA: a lock file left root's kept it out).
    #[test]
    fn as_root_what_a_restore_makes_is_the_directory_owner_s() {
        // SAFETY: geteuid only reads the process's credentials.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let live = TempDir::new("restore-owner");
        let out = TempDir::new("restore-owner-out");
        store_with(&out.0, &["x"]);
        let file = out.0.join("b.db");
        backup(&out.0, DB, &file, NOW).unwrap();
        std::os::unix::fs::chown(&live.0, Some(65534), Some(65534)).unwrap();
        restore(&live.0, DB, &file, NOW).unwrap();
        for made in [DB, crate::store::lock::LOCK_FILE] {
            let m = std::fs::metadata(live.0.join(made)).unwrap();
            assert_eq!((m.uid(), m.gid()), (65534, 65534), "{made}");
        }
    }

    /// A backup into a directory that is not there fails before it copies anything.
    #[test]
    fn a_backup_into_a_missing_directory_fails_at_once() {
        let live = TempDir::new("backup-missing");
        store_with(&live.0, &["x"]);
        let missing = live.0.join("nosuch");
        let e = backup(&live.0, DB, Path::new(&format!("{}/", missing.display())), NOW).unwrap_err();
        assert!(e.contains("no such directory"), "{e}");
        let e = backup(&live.0, DB, &missing.join("x.db"), NOW).unwrap_err();
        assert!(e.contains("no such directory"), "{e}");
        assert!(!names(&live.0).iter().any(|n| n.starts_with(".scalard-backup-")));
    }
}
