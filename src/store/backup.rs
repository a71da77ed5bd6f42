//! `scalard backup`: a consistent copy of the store, taken beside a running server, without the
//! `sqlite3` shell (not installed on most hosts, and one older than 3.43 cannot open the
//! search index). The copy is written under a name of its own and linked into place only once
//! whole and checked, so an interrupted run leaves no file that looks like a backup. The file
//! helpers here serve `scalard restore` (store/restore.rs) too.

use super::StoreError;
use super::lock::StoreHold;
pub(super) use super::sqlite::beside;
use super::sqlite::snapshot::{self, Summary};
use super::sqlite::{SCHEMA_VERSION, clear_dead_creators, dir_of, remove_store_files};
use crate::civil::file_stamp;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
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
    let ((), summary, target) = copy_out(
        &source,
        (target, "scalard", "cannot write the backup"),
        now_ms,
        (snapshot::open_source, snapshot::copy_into),
    )?;
    let size = std::fs::metadata(&target).map_or(0, |m| m.len());
    Ok(format!(
        "backed up {} to {}: {}, {:.1} MiB, in {:.1} s (mode 0600; to restore it, stop the \
         server and run scalard restore with this file and the same --data-dir or --config){}",
        source.display(),
        target.display(),
        holds(&summary),
        size as f64 / f64::from(1 << 20),
        started.elapsed().as_secs_f64(),
        unreadable_note(&summary),
    ))
}

/// Writes a copy of the store `source` into `target` (as [`backup`] names it, a file in a
/// directory named `STEM-TIME.db`) with `copy`, which gets what `open` made of the store and a
/// new empty file of mode 0600: under a name of its own until it is whole, synced and checked,
/// then linked into place. A failure of `open` is said as the store's (its text starts
/// `store: `, which the command follows with the data directory's hints); one of the copy after
/// `failed` and the target. What `copy` returned, what the copy holds and where it is.
pub(super) fn copy_out<S, T>(
    source: &Path,
    (target, stem, failed): (&Path, &str, &str),
    now_ms: u64,
    (open, copy): (
        impl FnOnce(&Path) -> Result<S, StoreError>,
        impl FnOnce(S, &Path) -> Result<T, StoreError>,
    ),
) -> Result<(T, Summary, PathBuf), String> {
    let dir = dir_of(source);
    let db_file = source
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    super::admin::must_exist(source)?;
    // Held to the end: a restore must not replace the store while it is copied.
    let _hold = StoreHold::shared(source, false)?;
    being_set_aside(dir, &db_file)?;
    let opened = open(source).map_err(|e| e.to_string())?;
    let asked = target;
    let target = backup_path(asked, stem, now_ms)?;
    let target_dir = dir_of(&target);
    // Absolute: SQLite would read `file:...` as a URI (found by QA).
    let target_dir = target_dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", target_dir.display()))?;
    clear_dead_creators(&target_dir, PARTIAL);
    let partial = target_dir.join(format!("{PARTIAL}{}-0", std::process::id()));
    // Its files beside it too (`-wal`, `-shm`, `-journal`, salvage's `-whole`): the name is
    // known from the PID, and a link left at one of them in a directory others may write to
    // made the copy fail to open (found in review). Unlinking removes a link, never what it
    // names.
    remove_store_files(&partial);
    // Said of the backup: the working copy's name means nothing to the operator.
    let writing = |e: String| {
        let e = e.replace(&format!("store: {}: ", partial.display()), "");
        format!("{failed} {}: {e}", target.display())
    };
    // Made here, empty, for its mode: SQLite would make it as the umask says, and the copy
    // holds every message and the password hashes.
    let made = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| e.to_string())
        .and_then(|_| copy(opened, &partial).map_err(|e| e.to_string()))
        .and_then(|done| sync(&partial).map(|()| done))
        .map_err(writing)
        .and_then(|done| {
            // Said of the store, not of a working file the operator never sees.
            let summary = snapshot::inspect(&partial).map_err(|e| {
                let e = e
                    .to_string()
                    .replace(&format!("store: {}: ", partial.display()), "");
                format!("the copy of {}: {e}", source.display())
            })?;
            Ok((done, summary))
        })
        .and_then(|(done, summary)| {
            let target = placed(&partial, target.clone(), (asked, stem), now_ms)?;
            sync_dir_of(&target)?;
            Ok((done, summary, target))
        });
    remove_store_files(&partial);
    made
}

/// Refuses a store a restore was stopped while moving it aside (found by QA: a backup of it,
/// taken to go back to it, held its file without its log, and said nothing).
pub(super) fn being_set_aside(dir: &Path, db_file: &str) -> Result<(), String> {
    // Whole, so that `--data-dir .` inside it is seen too (review).
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Ok(());
    };
    let marker = super::sqlite::restoring_marker(&parent.join(db_file));
    match std::fs::read_to_string(&marker) {
        Ok(text) if text.trim() == name.to_string_lossy() => Err(format!(
            "a scalard restore was stopped while it moved this store here ({} names it): run \
             scalard restore again to finish moving it, then back it up",
            marker.display()
        )),
        _ => Ok(()),
    }
}

/// Puts the whole copy `partial` at `target`; where `asked` is a directory and another backup
/// took that name meanwhile (two in one second), at the next free name there.
fn placed(
    partial: &Path,
    target: PathBuf,
    (asked, stem): (&Path, &str),
    now_ms: u64,
) -> Result<PathBuf, String> {
    let mut target = target;
    for _ in 0..10 {
        match link_new(partial, &target) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && asked.is_dir() => {
                target = backup_path(asked, stem, now_ms)?;
            }
            done => return done.map(|()| target.clone()).map_err(at(&target)),
        }
    }
    Err(format!("{}: too many backups at once", asked.display()))
}

/// The file a backup to `target` writes: `target` itself, which must not exist, in a directory
/// that does; or, for a directory (named with a trailing `/` or existing), a new file in it
/// named `STEM-` and the time (`-2`, `-3`, ... after it when one was made that second).
fn backup_path(target: &Path, stem: &str, now_ms: u64) -> Result<PathBuf, String> {
    let text = target.as_os_str().to_string_lossy();
    let wants_dir = text.ends_with('/');
    if target.is_dir() {
        return free_name(target, &format!("{stem}-{}", file_stamp(now_ms)), ".db");
    }
    // Found by QA: the whole copy was made before the missing directory was noticed.
    let parent = target.parent().filter(|d| !d.as_os_str().is_empty());
    match (wants_dir, parent) {
        (true, _) => Err(format!("{text}: no such directory")),
        (false, Some(p)) if !p.is_dir() => Err(format!("{}: no such directory", p.display())),
        _ if target.symlink_metadata().is_ok() => Err(format!(
            "{} exists: name a new file (scalard never writes over one)",
            target.display()
        )),
        _ => Ok(target.to_path_buf()),
    }
}

/// `dir/BASE EXT`, or `dir/BASE-2 EXT`, `-3`, ...: the first name not taken (at most 99 tries).
pub(super) fn free_name(dir: &Path, base: &str, ext: &str) -> Result<PathBuf, String> {
    (1..100)
        .map(|n| match n {
            1 => dir.join(format!("{base}{ext}")),
            n => dir.join(format!("{base}-{n}{ext}")),
        })
        .find(|p| p.symlink_metadata().is_err())
        .ok_or_else(|| format!("{}: 99 names {base}-N{ext} taken already", dir.display()))
}

/// Gives the whole file `from` the new name `to`, never replacing a file made there meanwhile:
/// a link, or where the filesystem has none (vfat, some network shares) a rename after a look.
fn link_new(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::hard_link(from, to) {
        Err(e) if no_links(&e) && to.symlink_metadata().is_err() => std::fs::rename(from, to),
        done => done,
    }
}

/// Whether `e` says the filesystem cannot make hard links.
fn no_links(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EOPNOTSUPP | libc::ENOSYS | libc::EMLINK)
    )
}

/// What a store holds, in words.
pub(super) fn holds(s: &Summary) -> String {
    let older = match s.version < SCHEMA_VERSION {
        true => ", older than this scalard's, which upgrades it when it starts on it",
        false => "",
    };
    format!(
        "{} messages, {} accounts (schema version {}{older})",
        s.events, s.accounts, s.version
    )
}

/// The rows a store holds that cannot be read, said after what a backup or a restore did: they
/// take them as they are (the copy is still the store's best), where a salvage leaves them out.
pub(super) fn unreadable_note(s: &Summary) -> String {
    match s.unreadable.is_empty() {
        true => String::new(),
        false => format!(
            "\nbut it is damaged: {} (the server fails every read of them; scalard salvage makes \
             a store without them: docs/OPERATIONS.md, A damaged store)",
            s.unreadable.join("; ")
        ),
    }
}

/// An I/O error said with the file it was about.
pub(super) fn at(path: &Path) -> impl Fn(io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

pub(super) fn sync(path: &Path) -> Result<(), String> {
    File::open(path).and_then(|f| f.sync_all()).map_err(at(path))
}

/// Makes a name just linked or renamed in `path`'s directory durable, where the filesystem
/// can: some refuse to sync a directory (`EINVAL`), and the name is there all the same.
pub(super) fn sync_dir_of(path: &Path) -> Result<(), String> {
    sync_dir(dir_of(path))
}

/// Makes the names in `dir` durable (see [`sync_dir_of`]).
pub(super) fn sync_dir(dir: &Path) -> Result<(), String> {
    match File::open(dir).and_then(|f| f.sync_all()) {
        Err(e) if e.raw_os_error() != Some(libc::EINVAL) => Err(at(dir)(e)),
        _ => Ok(()),
    }
}
