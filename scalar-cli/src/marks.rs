//! Where each account left its inbox: one line per account, `USER LEFT_AT [ID TIME]`, in
//! `$XDG_DATA_HOME/scalar-cli/inbox-marks`. The next interactive run that logs in to the
//! account reads its inbox from there, so the direct messages that came while it was away
//! (a server keeps them for accounts: PROTOCOL.md §4, Message) are shown on start.
//!
//! Likewise where each user left each channel, `USER|CHANNEL LEFT_AT ID TIME` in
//! `channel-marks` ([`Book::Channels`]): the next `/join` of the channel shows what was said
//! there since.
//!
//! And the read markers (PROTOCOL.md §4) a chat that quit while it had no connection could
//! not send, `USER|TOPIC TIME` in `read-marks` ([`Book::Read`]): the next start that logs in to
//! the account sends them.
//!
//! [`Marks`] is the file's content, pure and unit-tested; [`load`] and [`save`] do the IO. The
//! file is this client's own bookkeeping: a line it cannot read is dropped (the cost is one
//! start-up without a catch-up for that account), never a failure.

use scalar::proto::MsgId;
use std::path::Path;

/// Which marks: a file, and how many lines it keeps (the one that left longest ago goes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Book {
    /// Accounts' inboxes, by user ID.
    Inbox,
    /// Channels, by [`topic_key`].
    Channels,
    /// Read markers not sent, by [`topic_key`]: the marker's time is the mark's `left_at`.
    Read,
}

impl Book {
    fn file(self) -> &'static str {
        match self {
            Book::Inbox => "inbox-marks",
            Book::Channels => "channel-marks",
            Book::Read => "read-marks",
        }
    }

    fn max(self) -> usize {
        match self {
            Book::Inbox => 64,
            Book::Channels | Book::Read => 1024,
        }
    }

    /// The time by which a mark of this book moves only forward, if it does: two clients of
    /// one user on this machine may save in either order (found in review: the one that saw
    /// less of a channel, leaving last, made the next join show read messages again). An
    /// inbox's is as written.
    fn forward_by(self, mark: Option<Mark>) -> Option<u64> {
        match self {
            Book::Inbox => None,
            Book::Channels => mark.and_then(|m| m.last).map(|(_, t)| t),
            Book::Read => mark.map(|m| m.left_at),
        }
    }
}

/// The key of `user`'s mark on `topic` (a channel's, or a read marker's).
pub fn topic_key(user: &str, topic: &str) -> String {
    format!("{user}|{topic}")
}

/// Where one account left its inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// When the client last heard from the server as this account (ms since the epoch, this
    /// client's clock).
    pub left_at: u64,
    /// The newest direct message it showed, and its time.
    pub last: Option<(MsgId, u64)>,
}

/// The marks file, by account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    marks: Vec<(String, Mark)>,
}

impl Marks {
    /// Parses the file's text; lines that do not parse are left out, and counted.
    pub fn parse(text: &str) -> (Marks, usize) {
        let mut bad = 0;
        let marks = text
            .lines()
            .filter_map(|l| {
                let m = parse_line(l);
                bad += usize::from(m.is_none());
                m
            })
            .collect();
        (Marks { marks }, bad)
    }

    /// `user`'s mark.
    pub fn get(&self, user: &str) -> Option<Mark> {
        self.marks.iter().find(|(u, _)| u == user).map(|(_, m)| *m)
    }

    /// Sets `user`'s mark, keeping at most `max`.
    pub fn set(&mut self, user: &str, mark: Mark, max: usize) {
        self.marks.retain(|(u, _)| u != user);
        self.marks.push((user.to_string(), mark));
        if self.marks.len() > max {
            self.marks.sort_by_key(|(_, m)| std::cmp::Reverse(m.left_at));
            self.marks.truncate(max);
        }
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (user, m) in &self.marks {
            out.push_str(&format!("{user} {}", m.left_at));
            if let Some((id, time)) = m.last {
                out.push_str(&format!(" {id} {time}"));
            }
            out.push('\n');
        }
        out
    }
}

fn parse_line(line: &str) -> Option<(String, Mark)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (user, left_at, last) = match words[..] {
        [user, left_at] => (user, left_at, None),
        [user, left_at, id, time] => (user, left_at, Some((MsgId::from_hex(id)?, time.parse().ok()?))),
        _ => return None,
    };
    let left_at = left_at.parse().ok()?;
    Some((user.to_string(), Mark { left_at, last }))
}

/// `$XDG_DATA_HOME/scalar-cli/inbox-marks` or `channel-marks` (see
/// [`crate::paths::data_file`]).
fn path(book: Book) -> Result<std::path::PathBuf, String> {
    crate::paths::data_file(book.file())
}

/// The marks in the file at `path`, and what was wrong with it, if anything: a missing file
/// holds none and is not wrong.
fn read(path: &Path) -> (Marks, Option<Wrong>) {
    match std::fs::read(path) {
        Ok(bytes) => {
            let (text, torn) = utf8_lines(&bytes);
            match Marks::parse(&text) {
                (marks, 0) if torn == 0 => (marks, None),
                (marks, bad) => {
                    let bad = bad + torn;
                    let why = format!("{}: {bad} unreadable line(s) ignored", path.display());
                    (marks, Some(Wrong { why, lines: true }))
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Marks::default(), None),
        Err(e) => {
            let why = format!("cannot read {}: {e}", path.display());
            (Marks::default(), Some(Wrong { why, lines: false }))
        }
    }
}

/// The lines of `bytes` that are UTF-8, each with its newline, and how many are not. A line
/// torn into other bytes (a write cut short, a disk's damage) is one unreadable line, as any
/// other line that does not parse: read as a whole, the file was unreadable, every account's
/// marks were ignored, and the read markers' warning came back at every start (found in
/// review).
fn utf8_lines(bytes: &[u8]) -> (String, usize) {
    let mut torn = 0;
    let mut text = String::with_capacity(bytes.len());
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        match std::str::from_utf8(line) {
            Ok(line) => text.push_str(line),
            Err(_) => torn += 1,
        }
    }
    (text, torn)
}

/// What was wrong with a marks file that [`read`] read.
#[derive(Debug)]
struct Wrong {
    /// Said to the user.
    why: String,
    /// Only some lines were unreadable: writing the rest back drops them. Otherwise the file
    /// could not be read at all, and writing it would lose what it holds.
    lines: bool,
}

/// `user`'s mark (a key of `book`), if this client left one; and what was wrong with the
/// file, if it could not be read whole (then a mark may have been lost).
pub fn load(book: Book, user: &str) -> (Option<Mark>, Option<String>) {
    match path(book) {
        Ok(path) => {
            let (marks, wrong) = read(&path);
            (marks.get(user), wrong.map(|w| w.why))
        }
        Err(why) => (None, Some(why)),
    }
}

/// Records `user`'s mark (dropping the file's unreadable lines). Err says why it could not be
/// written. The file is read, changed and written under a lock (`inbox-marks.lock`, flock(2)),
/// so clients of other accounts on the machine, and this client's own threads, do not undo
/// each other's marks.
pub fn save(book: Book, user: &str, mark: Mark) -> Result<(), String> {
    save_all(book, &[(user.to_string(), mark)])
}

/// Records several marks of `book` at once, under one lock; none moves back where the book's
/// marks only move forward ([`Book::forward_by`]).
pub fn save_all(book: Book, marks: &[(String, Mark)]) -> Result<(), String> {
    save_at(&path(book)?, marks, book)
}

fn save_at(path: &Path, new: &[(String, Mark)], book: Book) -> Result<(), String> {
    let _lock = Lock::take(&path.with_extension("lock"))?;
    let (mut marks, wrong) = read(path);
    // A file that could not be read at all (a passing I/O error, a permission) still holds
    // every other account's marks: written over with this one alone, they were lost.
    if let Some(Wrong { why, lines: false }) = wrong {
        return Err(why);
    }
    for (key, mark) in new {
        if book.forward_by(marks.get(key)) > book.forward_by(Some(*mark)) {
            continue;
        }
        marks.set(key, *mark, book.max());
    }
    crate::paths::write_private(path, &marks.render())
}

/// Takes the marks of `book` whose key starts with `prefix` out of its file, under its lock:
/// what the caller does with them is its own (read markers, sent once). Err says why the file
/// could not be read whole or written back (then they may be taken again, or lost).
pub fn take(book: Book, prefix: &str) -> Result<Vec<(String, Mark)>, String> {
    take_at(&path(book)?, prefix)
}

fn take_at(path: &Path, prefix: &str) -> Result<Vec<(String, Mark)>, String> {
    let _lock = Lock::take(&path.with_extension("lock"))?;
    let (marks, wrong) = read(path);
    let (taken, kept): (Vec<_>, Vec<_>) = marks.marks.into_iter().partition(|(k, _)| k.starts_with(prefix));
    // Unreadable lines are dropped too, whether or not any were taken: left in place they were
    // said at every start (found in review).
    if !taken.is_empty() || wrong.as_ref().is_some_and(|w| w.lines) {
        crate::paths::write_private(path, &Marks { marks: kept }.render())?;
    }
    match wrong {
        Some(w) if taken.is_empty() => Err(w.why),
        _ => Ok(taken),
    }
}

/// An exclusive flock(2) on a lock file, held until dropped (closing the file releases it).
struct Lock {
    _file: std::fs::File,
}

impl Lock {
    fn take(path: &Path) -> Result<Lock, String> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        // SAFETY: flock(2) on a descriptor this function owns, open until the Lock is dropped.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(format!("cannot lock {}: {e}", path.display()));
        }
        Ok(Lock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of its own for a test (`name`, this process), made empty, and the path of
    /// `file` in it.
    fn scratch(name: &str, file: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file);
        (dir, path)
    }

    /// A mark without a last message, left at `t`.
    fn at(t: u64) -> Mark {
        Mark {
            left_at: t,
            last: None,
        }
    }

    #[test]
    fn parses_what_it_renders_and_drops_what_it_cannot_read() {
        let mut m = Marks::default();
        m.set(
            "alice@l",
            Mark {
                left_at: 5,
                last: None,
            },
            8,
        );
        let last = Some((MsgId([7; 32]), 4));
        m.set("bob@l", Mark { left_at: 9, last }, 8);
        let text = format!(
            "{}garbage\nbob@l x\ncarol@l 1 {} 2\n",
            m.render(),
            "zz".repeat(32)
        );
        let (read, bad) = Marks::parse(&text);
        assert_eq!((&read, bad), (&m, 3));
        assert_eq!(read.get("bob@l"), Some(Mark { left_at: 9, last }));
        assert_eq!(read.get("carol@l"), None);
    }

    /// Many threads at once, each its own account: every mark is there at the end.
    #[test]
    fn saves_from_many_threads_lose_none() {
        let (dir, path) = scratch("marks", "inbox-marks");
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        save_at(&path, &[(format!("u{t}@l"), at(i))], Book::Inbox).unwrap();
                        assert!(read(&path).1.is_none(), "never half a file");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (marks, bad) = read(&path);
        assert!(bad.is_none());
        for t in 0..8 {
            assert_eq!(marks.get(&format!("u{t}@l")).map(|m| m.left_at), Some(24), "u{t}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A channel's mark only moves forward; an inbox's is as written.
    #[test]
    fn a_channel_mark_is_not_moved_back() {
        let (dir, path) = scratch("cmarks", "channel-marks");
        let at = |t| Mark {
            left_at: t,
            last: Some((MsgId([t as u8; 32]), t)),
        };
        let key = topic_key("a@l", "#c@l");
        save_at(&path, &[(key.clone(), at(9))], Book::Channels).unwrap();
        save_at(&path, &[(key.clone(), at(5))], Book::Channels).unwrap();
        assert_eq!(read(&path).0.get(&key), Some(at(9)));
        save_at(&path, &[(key.clone(), at(12))], Book::Channels).unwrap();
        assert_eq!(read(&path).0.get(&key), Some(at(12)));
        save_at(&path, &[(key.clone(), at(5))], Book::Inbox).unwrap();
        assert_eq!(read(&path).0.get(&key), Some(at(5)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Read markers kept for the next start: each only moves forward, and taking a user's
    /// takes them out of the file, and no one else's.
    #[test]
    fn unsent_read_markers_are_taken_once_by_their_user() {
        let (dir, path) = scratch("rmarks", "read-marks");
        let (a, b) = (topic_key("a@l", "#c@l"), topic_key("b@l", "#c@l"));
        save_at(&path, &[(a.clone(), at(9)), (b.clone(), at(3))], Book::Read).unwrap();
        save_at(&path, &[(a.clone(), at(5))], Book::Read).unwrap();
        assert_eq!(take_at(&path, "a@l|").unwrap(), vec![(a, at(9))]);
        assert_eq!(take_at(&path, "a@l|").unwrap(), vec![]);
        assert_eq!(read(&path).0.get(&b), Some(at(3)), "another user's stays");
        // An unreadable line is said once, and dropped: not said again at the next start.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}not a mark\n")).unwrap();
        assert!(take_at(&path, "a@l|").is_err(), "said");
        assert_eq!(take_at(&path, "a@l|").unwrap(), vec![], "said once");
        assert_eq!(read(&path).0.get(&b), Some(at(3)), "another user's still stays");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Found in review: a line whose bytes are not UTF-8 made the whole file unreadable, so
    /// every account's marks were ignored, and the read markers' warning was said at every
    /// start (it is for the lines that cannot be read, said once).
    #[test]
    fn a_line_that_is_not_utf8_is_one_unreadable_line() {
        let (dir, path) = scratch("umarks", "read-marks");
        let (a, b) = (topic_key("a@l", "#c@l"), topic_key("b@l", "#c@l"));
        save_at(&path, &[(b.clone(), at(3))], Book::Read).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(format!("{a} 9").as_bytes());
        bytes.extend_from_slice(b"\xff\xfe\n");
        bytes.extend_from_slice(b"\xff torn\n");
        std::fs::write(&path, &bytes).unwrap();
        let (marks, wrong) = read(&path);
        assert_eq!(marks.get(&b), Some(at(3)), "the readable line is read");
        assert!(wrong.is_some_and(|w| w.lines && w.why.contains("2 unreadable line(s)")));
        assert!(take_at(&path, "a@l|").is_err(), "said");
        assert_eq!(take_at(&path, "a@l|").unwrap(), vec![], "said once");
        assert_eq!(read(&path).0.get(&b), Some(at(3)), "another user's stays");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A file that cannot be read is not written over with the new mark alone (it lost every
    /// other account's); one with unreadable lines is, without them.
    #[test]
    fn a_mark_is_not_saved_over_a_file_that_cannot_be_read() {
        let (dir, path) = scratch("nomarks", "inbox-marks");
        // Reading a link to a folder fails (as a passing I/O error would); renaming over it
        // would not.
        std::os::unix::fs::symlink(&dir, &path).unwrap();
        assert!(save_at(&path, &[("a@l".to_string(), at(9))], Book::Inbox).is_err());
        assert!(
            std::fs::symlink_metadata(&path).unwrap().is_symlink(),
            "left as it was"
        );
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "b@l 3\nnot a mark\n").unwrap();
        save_at(&path, &[("a@l".to_string(), at(9))], Book::Inbox).unwrap();
        let (marks, wrong) = read(&path);
        assert!(wrong.is_none(), "the unreadable line dropped");
        assert_eq!((marks.get("a@l"), marks.get("b@l")), (Some(at(9)), Some(at(3))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_new_mark_replaces_the_old_and_the_oldest_go_past_the_bound() {
        let mut m = Marks::default();
        let max = Book::Inbox.max();
        for i in 0..(max as u64 + 3) {
            m.set(
                &format!("u{i}@l"),
                Mark {
                    left_at: 100 + i,
                    last: None,
                },
                max,
            );
        }
        m.set(
            "u5@l",
            Mark {
                left_at: 1_000,
                last: None,
            },
            max,
        );
        assert_eq!(m.marks.len(), max);
        assert_eq!(m.get("u5@l").map(|k| k.left_at), Some(1_000));
        for gone in ["u0@l", "u1@l", "u2@l"] {
            assert_eq!(m.get(gone), None, "{gone}");
        }
        assert!(m.get("u3@l").is_some());
    }
}
