//! Whether the store's file is still the one the server writes to. An operator who deletes or
//! replaces the data directory while scalard runs changes nothing the server sees: SQLite keeps
//! writing to the file it opened, which nothing can open once scalard stops, so everything
//! stored since would be lost then, silently. The writer looks at the path now and then, says
//! so, and writes nothing more until the path names the file again: the server refuses what it
//! cannot keep (700), as on a full disk, and a stop counts what was not written.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often the path is looked at: one `stat` a few seconds costs nothing.
const EVERY: Duration = if cfg!(test) {
    Duration::from_millis(100)
} else {
    Duration::from_secs(5)
};

/// The store's file as opened.
#[derive(Debug)]
pub struct FileWatch {
    path: PathBuf,
    /// The file, opened once more (`None` if it could not be: nothing to check). Held open,
    /// its inode cannot go to a new file of the name while it is compared with the path's.
    opened: Option<std::fs::File>,
    last: Instant,
    /// The file is gone or replaced, and the log said so.
    told: bool,
}

impl FileWatch {
    /// Starts watching `path`, just opened.
    pub fn new(path: PathBuf) -> Self {
        let opened = std::fs::File::open(&path).ok();
        FileWatch {
            path,
            opened,
            last: Instant::now(),
            told: false,
        }
    }

    /// Looks at the path, at most every few seconds, and logs once if it no longer names the
    /// file opened (and again once it does).
    pub fn check(&mut self) {
        if self.last.elapsed() >= EVERY {
            self.look();
        }
    }

    /// [`check`](FileWatch::check) now, however recently it looked.
    pub fn look(&mut self) {
        let Some(opened) = self.opened.as_ref() else {
            return;
        };
        self.last = Instant::now();
        // Nothing known of the file opened: nothing to compare.
        let Ok(was) = opened.metadata() else { return };
        let same = match std::fs::metadata(&self.path) {
            Ok(now) => (now.dev(), now.ino()) == (was.dev(), was.ino()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            // Not known either way (a directory made unreadable, a stale NFS handle): nothing
            // changes, rather than refusing every Message for what may be a passing error.
            Err(_) => return,
        };
        match (same, self.told) {
            (false, false) => {
                self.told = true;
                log::error!(
                    "store: {} was removed or replaced while scalard runs: nothing more is \
                     written; put the file back (with its -wal file), or stop scalard (what it \
                     wrote lately is then only in the file it had open; a restart opens a new \
                     store there, once no -wal file is left of this one)",
                    self.path.display()
                );
            }
            (true, true) => {
                self.told = false;
                log::info!("store: {} is the file in use again", self.path.display());
            }
            _ => {}
        }
    }

    /// Whether the last [`check`](FileWatch::check) found the path naming another file, or
    /// none: writing would then go where nothing can read it after a stop.
    pub fn gone(&self) -> Option<super::StoreError> {
        self.told.then(|| {
            super::StoreError::Io(format!(
                "{} is not the file opened any more (removed or replaced)",
                self.path.display()
            ))
        })
    }

    /// Makes the next [`check`](FileWatch::check) look at once.
    #[cfg(test)]
    fn due(&mut self) {
        self.last = Instant::now() - EVERY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_or_replaced_file_is_noticed_once() {
        let dir = crate::store::sqlite::tests::TempDir::new("watch");
        let path = dir.0.join("x.db");
        std::fs::write(&path, b"a").unwrap();
        let mut w = FileWatch::new(path.clone());
        w.due();
        w.check();
        assert!(!w.told, "the same file");
        std::fs::remove_file(&path).unwrap();
        w.check();
        assert!(!w.told, "not due yet: at most every few seconds");
        w.due();
        w.check();
        assert!(w.gone().is_some(), "removed");
        // Another file of the name: still not the one written to.
        std::fs::write(&path, b"b").unwrap();
        w.due();
        w.check();
        assert!(w.told);
    }
}
