//! One data directory, one server: scalard holds an exclusive lock on `scalard.lock` in its data
//! directory for as long as it runs.
//!
//! Two servers on one store would each number their Events from the same last position, and
//! the store skips a position it already holds (so that a retried batch is not stored twice):
//! the second server's Events would be acknowledged and then lost without a word. A `flock` is
//! released by the kernel when its holder exits in any way, SIGKILL included, so unlike a PID
//! file it never needs cleaning up after a crash. `scalard account` and `scalard backup` take
//! not this lock but a [`StoreHold`]: they work beside a running server on purpose.
//!
//! The file also tells the next start whether this one stopped cleanly: it says `PID serving`
//! while the server serves, and only `PID` once it stopped with everything it accepted
//! stored. Found still serving, the last server was killed, crashed or lost its power, and in
//! batched mode what it echoed last may be gone: the operator is told (found by QA: nothing in
//! the logs said so).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "scalard.lock";

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DirLock {
    file: File,
    /// The PID of the server that held it last, if that one never said it stopped cleanly.
    unclean: Option<u32>,
    /// The filesystem has no locks: nothing stops another holder.
    unlocked: bool,
}

/// The lock file of the commands that use the store file beside a server, or replace it.
pub const HOLD_FILE: &str = "scalard.hold.lock";

/// A hold on the store file apart from the server's lock: `scalard restore` puts another file
/// in its place, so it holds it alone, while `scalard account` and `scalard backup`, which
/// work beside a running server and so cannot take the server's lock, share it. Without it,
/// an account command that opened the store before a restore began wrote into the store set
/// aside and said it was done (found in review); a backup copied the store being replaced.
#[derive(Debug)]
pub struct StoreHold {
    /// Held while it is open; none where nothing is held (no store there, a filesystem
    /// without locks, a directory this user may not write in for a shared hold).
    _file: Option<File>,
}

impl StoreHold {
    /// Shares the hold on the store file `store`; refused while a restore replaces it. A
    /// store not there has none to hold, unless the command is `making` it in a directory
    /// that is (`scalard account add` before the first start: a restore could rename its
    /// file over the new store, found in review); otherwise no lock file is left beside a
    /// mistyped `--data-dir` (found by QA). A filesystem without locks holds nothing (as
    /// before the hold existed).
    pub fn shared(store: &Path, making: bool) -> Result<StoreHold, String> {
        let dir = super::sqlite::dir_of(store);
        let held = store.exists() || (making && dir.is_dir());
        if !held {
            return Ok(StoreHold { _file: None });
        }
        StoreHold::take(dir, libc::LOCK_SH, || {
            format!(
                "a scalard restore is replacing the store in {}: wait for it to finish",
                dir.display()
            )
        })
    }

    /// Holds `dir`'s store alone; refused while an account command or a backup uses it.
    pub fn alone(dir: &Path, why: &str) -> Result<StoreHold, String> {
        StoreHold::take(dir, libc::LOCK_EX, || {
            format!(
                "a scalard account command or backup is using the store in {}: wait for it to \
                 finish ({why})",
                dir.display()
            )
        })
    }

    fn take(dir: &Path, how: libc::c_int, busy: impl Fn() -> String) -> Result<StoreHold, String> {
        let path = dir.join(HOLD_FILE);
        let at = |e: io::Error| format!("cannot lock {}: {e}", path.display());
        // Read-only will do for a lock: a backup from a directory this user may only read
        // works as it did before the hold.
        let file = match File::open(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .and_then(|f| own_as(&f, dir).map(|()| f)),
            opened => opened,
        };
        let file = match file {
            Err(e) if how == libc::LOCK_SH && cannot_write(&e) => return Ok(StoreHold { _file: None }),
            file => file.map_err(at)?,
        };
        // SAFETY: flock only reads the descriptor, which `file` keeps open.
        if unsafe { libc::flock(file.as_raw_fd(), how | libc::LOCK_NB) } != 0 {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::WouldBlock => Err(busy()),
                _ if no_locks_here(&error) => Ok(StoreHold { _file: None }),
                _ => Err(at(error)),
            };
        }
        Ok(StoreHold { _file: Some(file) })
    }
}

/// The lock file's word for a server that serves (and has not stopped cleanly yet).
const SERVING: &str = "serving";

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it: the PID it wrote there, if it did.
    InUse {
        /// The lock file.
        path: PathBuf,
        /// The holder, as it wrote itself into the file.
        pid: Option<u32>,
    },
    /// The lock file could not be opened or locked.
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::InUse { path, pid } => {
                let dir = path.parent().unwrap_or(path).display();
                match pid {
                    Some(pid) => write!(
                        f,
                        "the data directory {dir} is in use by another scalard (pid {pid})"
                    ),
                    None => write!(f, "the data directory {dir} is in use by another scalard"),
                }
            }
            LockError::Io { path, error } => write!(f, "cannot lock {}: {error}", path.display()),
        }
    }
}

impl std::error::Error for LockError {}

impl DirLock {
    /// Takes the lock on `dir` without waiting, and writes this process's PID into the file
    /// for whoever finds it taken.
    pub fn take(dir: &Path) -> Result<DirLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io_err = |error| LockError::Io {
            path: path.clone(),
            error,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        own_as(&file, dir).map_err(io_err)?;
        // SAFETY: flock only reads the descriptor, which `file` keeps open.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = io::Error::last_os_error();
            if no_locks_here(&error) {
                // Such a filesystem (NFS without its lock daemon, say) ran scalard before
                // this lock existed; refusing now would stop a server that worked.
                log::warn!(
                    "cannot lock {}: {error}; make sure no other scalard uses this directory",
                    path.display()
                );
                return Ok(DirLock {
                    file,
                    unclean: None,
                    unlocked: true,
                });
            }
            if error.kind() != io::ErrorKind::WouldBlock {
                return Err(io_err(error));
            }
            let pid = read_pid(&mut file).map(|(pid, _)| pid);
            return Err(LockError::InUse { path, pid });
        }
        let unclean = read_pid(&mut file).and_then(|(_, unclean)| unclean);
        let mut lock = DirLock {
            file,
            unclean,
            unlocked: false,
        };
        // The word of an unclean stop stays until this server serves: a start that fails
        // before must not wipe it (review).
        lock.write(unclean.is_some()).map_err(io_err)?;
        Ok(lock)
    }

    /// [`DirLock::take`] for an offline command that needs the server stopped (`scalard
    /// compact`, `scalard restore`): a running server is named, with `why` it must stop.
    /// On a filesystem without locks it refuses: it could not tell a running server, whose
    /// store it would change under it (found in review; a server only warns there).
    pub fn take_stopped(dir: &Path, why: &str) -> Result<DirLock, String> {
        let lock = DirLock::take(dir).map_err(|e| match e {
            // The holder may be a server or another command that needs it alone (found
            // by QA: a restore running was named as a server).
            LockError::InUse { pid, .. } => format!(
                "scalard{} holds {}: stop the server running there first, or wait for the \
                 restore or compact running there ({why})",
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                dir.display()
            ),
            LockError::Io { .. } => e.to_string(),
        })?;
        match lock.unlocked {
            true => Err(format!(
                "{} cannot be locked here (a filesystem without locks): make sure no scalard runs \
                 there, then run this on a copy of the directory on a local disk ({why})",
                dir.display()
            )),
            false => Ok(lock),
        }
    }

    /// The PID of the server that held the lock before and did not stop cleanly (killed,
    /// crashed, the machine's power lost), if it did not.
    pub fn unclean_stop(&self) -> Option<u32> {
        self.unclean
    }

    /// From now on, until [`stopped_cleanly`](DirLock::stopped_cleanly), a stop is unclean;
    /// an earlier unclean stop has been told.
    pub fn serving(&mut self) -> io::Result<()> {
        self.unclean = None;
        self.write(true)
    }

    /// Everything accepted is stored: the next start need not warn.
    pub fn stopped_cleanly(&mut self) -> io::Result<()> {
        self.write(false)
    }

    /// Writes this process's PID, and whether a stop now would be unclean (with the PID of
    /// the server whose unclean stop is not told yet, if not this one's), durably: a power
    /// loss just after a clean stop must not leave the word of an unclean one. Written over
    /// the old text, then cut to length, so that no moment leaves the file empty.
    fn write(&mut self, serving: bool) -> io::Result<()> {
        let me = std::process::id();
        let text = match (serving, self.unclean) {
            (false, _) => format!("{me}\n"),
            (true, Some(old)) if old != me => format!("{me} {SERVING} {old}\n"),
            (true, _) => format!("{me} {SERVING}\n"),
        };
        self.file.rewind()?;
        self.file.write_all(text.as_bytes())?;
        self.file.set_len(text.len() as u64)?;
        self.file.sync_data()
    }
}

/// Gives `file` (a file or directory scalard made in `dir`) the owner of `dir` when run as
/// root: the server's user must be able to open what an operator's `sudo scalard restore`
/// made there (found by QA: a lock file left root's kept the server from starting; under
/// systemd's `DynamicUser=` there is no user to name).
pub(crate) fn own_as(file: &File, dir: &Path) -> io::Result<()> {
    if !as_root() {
        return Ok(());
    }
    let owner = std::fs::metadata(dir)?;
    std::os::unix::fs::fchown(file, Some(owner.uid()), Some(owner.gid()))
}

/// Whether this process runs as root, whose files the server's user may not open.
pub(crate) fn as_root() -> bool {
    // SAFETY: geteuid only reads the process's credentials.
    unsafe { libc::geteuid() == 0 }
}

/// The PID a lock file holds, and the PID of the server that stopped uncleanly, if it says
/// one did (`PID serving`, or `PID serving OLD` after a start that failed before serving).
fn read_pid(file: &mut File) -> Option<(u32, Option<u32>)> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    let mut words = text.split_whitespace();
    let pid = words.next()?.parse().ok()?;
    let unclean = match (words.next(), words.next()) {
        (Some(SERVING), Some(old)) => Some(old.parse().unwrap_or(pid)),
        (Some(SERVING), None) => Some(pid),
        _ => None,
    };
    Some((pid, unclean))
}

/// Why a server run by this user could not keep a store in `dir`, if it could not: `dir` is
/// no directory, cannot be reached, or is not one this user may write in (where it does not
/// exist yet: the nearest parent that does, where a start makes it). What a start would
/// meet at its lock, said by `scalard check` before one (found by QA: check said
/// "configuration OK" for a root's directory the server's user could not use); or one of
/// the `files` there a start writes is not. `None` where it cannot tell.
pub fn unwritable(dir: &Path, files: &[&str]) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: geteuid only reads the process's credentials.
    let uid = unsafe { libc::geteuid() };
    let shown = dir.display();
    let mut at = dir;
    loop {
        match std::fs::metadata(at) {
            Ok(m) if at == dir && !m.is_dir() => return Some(format!("{shown} is not a directory")),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // On the way up too: a start's mkdir meets it as "File exists" (review 211).
                if std::fs::symlink_metadata(at).is_ok() {
                    return Some(match at == dir {
                        true => format!("{shown} is a symbolic link to nothing"),
                        false => format!(
                            "the data directory {shown} cannot be made: {} is a symbolic link to \
                             nothing",
                            at.display()
                        ),
                    });
                }
                // A relative path's last parent is "": the working directory.
                at = match at.parent() {
                    Some(up) if !up.as_os_str().is_empty() => up,
                    Some(_) if at != Path::new(".") => Path::new("."),
                    _ => return None,
                };
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Some(format!(
                    "the data directory {shown} cannot be reached by this user (uid {uid}): {e}"
                ));
            }
            Err(e) => return Some(format!("the data directory {shown} cannot be reached: {e}")),
        }
    }
    // Not faccessat with AT_EACCESS: glibc makes that faccessat2, which some container
    // sandboxes refuse (EPERM) whatever the path; scalard is no setuid program, so its real
    // IDs are the effective ones.
    let denied = |path: &Path, mode| {
        let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        // SAFETY: access only reads the NUL-terminated path.
        if unsafe { libc::access(path.as_ptr(), mode) } == 0 {
            return None;
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EACCES | libc::EROFS) => Some(error),
            // An immutable file's; unless a sandbox refuses the call itself, which it does for
            // asking whether the path exists too.
            // SAFETY: as above.
            Some(libc::EPERM) if unsafe { libc::access(path.as_ptr(), libc::F_OK) } == 0 => Some(error),
            // Anything else (no such file, a sandbox refusing the call) says nothing of it.
            _ => None,
        }
    };
    let owner = |path: &Path| std::fs::metadata(path).map_or(u32::MAX, |m| m.uid());
    let Some(error) = denied(at, libc::W_OK | libc::X_OK) else {
        let mut files = files.iter().map(|f| dir.join(f)).filter(|_| at == dir);
        return files.find_map(|file| {
            if file.is_dir() {
                return Some(format!(
                    "{} is a directory: scalard keeps a file there",
                    file.display()
                ));
            }
            // Opened as a start opens it (nothing made, nothing written): access() does not
            // see an append-only file, which a start cannot open for writing (review 211).
            let error = OpenOptions::new().read(true).write(true).open(&file).err()?;
            if !matches!(
                error.raw_os_error(),
                Some(libc::EACCES | libc::EPERM | libc::EROFS)
            ) {
                return None;
            }
            let owner = owner(&file);
            Some(format!(
                "{} is not writable by this user (uid {uid}; owner uid {owner}): {error}; {}",
                file.display(),
                fix(uid, owner, &error, true)
            ))
        });
    };
    if error.raw_os_error() == Some(libc::EROFS) {
        return Some(read_only(at));
    }
    let (owner, fix) = (owner(at), fix(uid, owner(at), &error, false));
    let itself = at == dir;
    // "." said as where it is: under a service manager, the working directory is no given.
    let cwd;
    let at = match at == Path::new(".") {
        true => {
            cwd = std::env::current_dir().unwrap_or_else(|_| at.to_path_buf());
            &cwd
        }
        false => at,
    };
    Some(match itself {
        true => format!(
            "the data directory {shown} is not writable by this user (uid {uid}; owner uid \
             {owner}): {error}; {fix}"
        ),
        false => format!(
            "the data directory {shown} cannot be made: {} is not writable by this user (uid \
             {uid}; owner uid {owner}): {error}; make {shown}, owned by the user scalard runs \
             as (under systemd, StateDirectory= does)",
            at.display()
        ),
    })
}

/// What to do about `error`, met by this process's user `uid` at a file (`file`) or directory
/// owned by `owner` in the data directory.
fn fix(uid: u32, owner: u32, error: &io::Error, file: bool) -> String {
    match (error.raw_os_error(), owner == uid) {
        (Some(libc::EPERM), _) => "it is immutable or append-only (lsattr): chattr -i -a it".into(),
        (_, true) if file => "chmod u+rw it".into(),
        (_, true) => "chmod u+rwx it".into(),
        // Not chmod for another's: the store holds password hashes, and the group or everyone
        // is not whom to open it to. Either side may be the wrong one: a `scalard backup` or
        // `account` run by another user than the server's meets the server's own files
        // (found in a first-day walk-through: "chown it" sent the operator the wrong way).
        // An owner not found (the file went meanwhile) is no user to name.
        (_, false) if owner == u32::MAX => "chown it to the user scalard runs as".into(),
        (_, false) => {
            format!("run this as uid {owner}, its owner, or chown it to the user scalard runs as")
        }
    }
}

/// What is said of a data directory on a filesystem mounted read-only (`at`, or the parent
/// it would be made in).
pub fn read_only(at: &Path) -> String {
    format!(
        "the filesystem holding {} is mounted read-only: scalard writes there (its lock, its \
         database)",
        at.display()
    )
}

/// Whether `error` says this user may not make a file there (nor, then, may a restore run by
/// it replace the store).
fn cannot_write(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
    )
}

/// Whether `error` says the filesystem has no locks at all, rather than that the lock failed.
fn no_locks_here(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ENOLCK | libc::EOPNOTSUPP | libc::ENOSYS)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `scalard check` says of data directories any user (root too) could not use, and
    /// of those it can: a file, a link to nothing, a path through a file; a relative path.
    #[test]
    fn a_data_directory_that_cannot_be_one_is_told_apart() {
        let dir = crate::store::sqlite::tests::TempDir::new("unwritable");
        let file = dir.0.join("file");
        std::fs::write(&file, "").unwrap();
        assert_eq!(
            unwritable(&file, &[]),
            Some(format!("{} is not a directory", file.display()))
        );
        let through = file.join("data");
        let said = unwritable(&through, &[]).unwrap_or_default();
        assert!(
            said.contains("cannot be reached") && said.contains("ot a directory"),
            "{said}"
        );
        let link = dir.0.join("link");
        std::os::unix::fs::symlink(dir.0.join("nowhere"), &link).unwrap();
        assert_eq!(
            unwritable(&link, &[]),
            Some(format!("{} is a symbolic link to nothing", link.display()))
        );
        assert_eq!(unwritable(&dir.0, &[]), None);
        std::fs::create_dir(dir.0.join(LOCK_FILE)).unwrap();
        let said = unwritable(&dir.0, &[LOCK_FILE]).unwrap_or_default();
        assert!(
            said.ends_with("scalard.lock is a directory: scalard keeps a file there"),
            "{said}"
        );
        // An append-only file, which access() passes and root cannot open for writing either
        // (where the filesystem and the privileges allow: skipped elsewhere).
        let db = dir.0.join("scalard.db");
        std::fs::write(&db, "").unwrap();
        if append_only(&db, true) {
            let said = unwritable(&dir.0, &["scalard.db"]);
            assert!(append_only(&db, false), "append-only flag cleared");
            let said = said.unwrap_or_default();
            assert!(
                said.contains("scalard.db is not writable") && said.contains("chattr -i -a"),
                "{said}"
            );
        }
        assert_eq!(unwritable(&dir.0.join("to/be/made"), &[]), None);
        // SAFETY: geteuid only reads the process's credentials.
        if unsafe { libc::geteuid() } == 0 {
            // Made in the working directory, which root may write in.
            assert_eq!(unwritable(Path::new("no-such-data-dir/x"), &[]), None);
        }
    }

    /// Sets or clears `path`'s append-only flag as `chattr +a`/`-a` does; whether it could.
    /// By ioctl, not by running `chattr`: a child process holds a copy of every descriptor of
    /// this test binary from its fork until its exec, close-on-exec or not, and with them the
    /// `flock`s of the lock tests running beside this one, which then found a lock they had
    /// just dropped still held (69 failures in 300 runs of these tests on 8 threads).
    fn append_only(path: &Path, on: bool) -> bool {
        // FS_APPEND_FL, from linux/fs.h (the libc crate does not name it).
        const APPEND: libc::c_int = 0x20;
        let Ok(file) = File::open(path) else { return false };
        let mut flags: libc::c_int = 0;
        // SAFETY: both ioctls read or write one int through a pointer to a live local, on a
        // descriptor `file` keeps open.
        unsafe {
            if libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) != 0 {
                return false;
            }
            flags = if on { flags | APPEND } else { flags & !APPEND };
            libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) == 0
        }
    }

    #[test]
    fn a_restore_holds_the_store_alone_and_the_others_share_it() {
        let dir = crate::store::sqlite::tests::TempDir::new("hold");
        // Nothing to hold, nothing made.
        let store = dir.0.join("scalard.db");
        StoreHold::shared(&store, false).unwrap();
        assert!(!dir.0.join(HOLD_FILE).exists());
        // Held where a store is being made.
        let making = StoreHold::shared(&store, true).unwrap();
        assert!(StoreHold::alone(&dir.0, "restoring").is_err());
        drop(making);
        StoreHold::shared(&dir.0.join("none").join("scalard.db"), true).unwrap();
        assert!(!dir.0.join("none").exists());
        std::fs::write(&store, "").unwrap();
        let (a, b) = (
            StoreHold::shared(&store, false).unwrap(),
            StoreHold::shared(&store, false).unwrap(),
        );
        let e = StoreHold::alone(&dir.0, "restoring").unwrap_err();
        assert!(e.contains("account command or backup is using"), "{e}");
        drop((a, b));
        let alone = StoreHold::alone(&dir.0, "restoring").unwrap();
        let e = StoreHold::shared(&store, false).unwrap_err();
        assert!(e.contains("restore is replacing"), "{e}");
        drop(alone);
        StoreHold::shared(&store, false).unwrap();
    }

    #[test]
    fn one_holder_at_a_time() {
        let dir = crate::store::sqlite::tests::TempDir::new("lock");
        let first = DirLock::take(&dir.0).unwrap();
        match DirLock::take(&dir.0) {
            Err(LockError::InUse { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("second take: {other:?}"),
        }
        let message = DirLock::take(&dir.0).unwrap_err().to_string();
        assert!(message.contains("in use by another scalard (pid"), "{message}");
        drop(first);
        DirLock::take(&dir.0).unwrap();
    }

    /// A lock released while its server served was a stop that was not clean; one released
    /// after `stopped_cleanly`, or before serving, was.
    #[test]
    fn an_unclean_stop_is_told_to_the_next_holder() {
        let dir = crate::store::sqlite::tests::TempDir::new("unclean");
        let mut first = DirLock::take(&dir.0).unwrap();
        assert_eq!(first.unclean_stop(), None);
        first.serving().unwrap();
        // Held meanwhile: the next server is told the PID all the same.
        assert!(matches!(
            DirLock::take(&dir.0),
            Err(LockError::InUse { pid: Some(p), .. }) if p == std::process::id()
        ));
        drop(first);
        let mut second = DirLock::take(&dir.0).unwrap();
        assert_eq!(second.unclean_stop(), Some(std::process::id()));
        second.serving().unwrap();
        second.stopped_cleanly().unwrap();
        drop(second);
        let third = DirLock::take(&dir.0).unwrap();
        assert_eq!(third.unclean_stop(), None, "stopped cleanly");
        drop(third);
        // A start that failed before serving left no word either; nor does an older scalard's
        // file, which holds its PID alone.
        assert_eq!(DirLock::take(&dir.0).unwrap().unclean_stop(), None);
        // One that failed before serving after an unclean stop leaves that word for the next.
        let mut crashed = DirLock::take(&dir.0).unwrap();
        crashed.serving().unwrap();
        drop(crashed);
        let failed = DirLock::take(&dir.0).unwrap();
        assert_eq!(failed.unclean_stop(), Some(std::process::id()));
        drop(failed);
        assert_eq!(
            DirLock::take(&dir.0).unwrap().unclean_stop(),
            Some(std::process::id())
        );
        // A shorter text than the one before leaves none of the old behind.
        std::fs::write(dir.0.join(LOCK_FILE), "1 serving 2\n").unwrap();
        let mut lock = DirLock::take(&dir.0).unwrap();
        assert_eq!(lock.unclean_stop(), Some(2));
        lock.stopped_cleanly().unwrap();
        let text = std::fs::read_to_string(dir.0.join(LOCK_FILE)).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        drop(lock);
        std::fs::write(dir.0.join(LOCK_FILE), "4242\n").unwrap();
        assert_eq!(DirLock::take(&dir.0).unwrap().unclean_stop(), None);
    }

    #[test]
    fn only_a_filesystem_without_locks_is_let_through() {
        for errno in [libc::ENOLCK, libc::EOPNOTSUPP, libc::ENOSYS] {
            assert!(no_locks_here(&io::Error::from_raw_os_error(errno)));
        }
        for errno in [libc::EWOULDBLOCK, libc::EACCES, libc::EBADF] {
            assert!(!no_locks_here(&io::Error::from_raw_os_error(errno)));
        }
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let dir = crate::store::sqlite::tests::TempDir::new("lock-missing");
        let gone = dir.0.join("no-such-dir");
        assert!(matches!(DirLock::take(&gone), Err(LockError::Io { .. })));
    }
}
