//! One data directory, one server: scalard holds an exclusive lock on `scalard.lock` in its data
//! directory for as long as it runs.
//!
//! Two servers on one store would each number their Events from the same last position, and
//! the store skips a position it already holds (so that a retried batch is not stored twice):
//! the second server's Events would be acknowledged and then lost without a word. A `flock` is
//! released by the kernel when its holder exits in any way, SIGKILL included, so unlike a PID
//! file it never needs cleaning up after a crash. `scalard account` takes no lock: it edits
//! accounts beside a running server on purpose.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "scalard.lock";

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

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
                return Ok(DirLock { _file: file });
            }
            if error.kind() != io::ErrorKind::WouldBlock {
                return Err(io_err(error));
            }
            let mut text = String::new();
            let pid = file
                .read_to_string(&mut text)
                .ok()
                .and_then(|_| text.trim().parse().ok());
            return Err(LockError::InUse { path, pid });
        }
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(pid.as_bytes()))
            .map_err(io_err)?;
        Ok(DirLock { _file: file })
    }
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
