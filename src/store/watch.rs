//! Whether the store's file is still the one the server writes to. An operator who deletes or
//! replaces the data directory while scalard runs changes nothing the server sees: SQLite keeps
//! writing to the file it opened, which nothing can open once scalard stops, so everything
//! stored since is lost then, silently. The writer looks at the path now and then and says so.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often the path is looked at: one `stat` a few seconds costs nothing.
const EVERY: Duration = Duration::from_secs(5);

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
        let Some(opened) = self.opened.as_ref().filter(|_| self.last.elapsed() >= EVERY) else {
            return;
        };
        self.last = Instant::now();
        // Nothing known of the file opened: nothing to compare.
        let Ok(was) = opened.metadata() else { return };
        let same =
            std::fs::metadata(&self.path).is_ok_and(|now| (now.dev(), now.ino()) == (was.dev(), was.ino()));
        match (same, self.told) {
            (false, false) => {
                self.told = true;
                log::error!(
                    "store: {} was removed or replaced while scalard runs: what it stores now \
                     goes to the file it opened, which is lost when it stops; stop scalard (a \
                     restart opens a new store there) or put the file back",
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
        assert!(w.told, "removed");
        // Another file of the name: still not the one written to.
        std::fs::write(&path, b"b").unwrap();
        w.due();
        w.check();
        assert!(w.told);
    }
}
