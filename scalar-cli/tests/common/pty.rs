//! A pseudo-terminal for driving the interactive client as a person would: libc's
//! posix_openpt directly (no extra crate), the child on the pty as its controlling terminal,
//! and a reader thread collecting everything the child draws.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process on a pseudo-terminal.
pub struct Pty {
    master: File,
    screen: Arc<Mutex<Vec<u8>>>,
    paused: Arc<AtomicBool>,
    /// The reader thread met the terminal's end (EIO once the child and every copy of the
    /// slave are gone): everything the child drew is in `screen`.
    drained: Arc<AtomicBool>,
    /// The process.
    pub child: Child,
}

fn check(r: libc::c_int, what: &str) {
    assert!(r >= 0, "{what}: {}", std::io::Error::last_os_error());
}

/// The pty's width: wide, so that the client folds only the lines a test makes long on
/// purpose (it folds at the terminal's width, as a person's terminal would wrap).
pub const COLUMNS: u16 = 400;

impl Pty {
    /// Starts `cmd` with a new pty ([`COLUMNS`] columns, 40 rows) as stdin, stdout, stderr and
    /// controlling terminal.
    pub fn spawn(cmd: Command) -> Pty {
        Pty::spawn_reading(cmd, true)
    }

    /// [`spawn`](Pty::spawn), with the terminal not read until [`pause`](Pty::pause)`(false)`.
    pub fn spawn_paused(cmd: Command) -> Pty {
        Pty::spawn_reading(cmd, false)
    }

    fn spawn_reading(mut cmd: Command, reading: bool) -> Pty {
        // Both ends close on exec: a client or server that another test spawns meanwhile must
        // not inherit them, or a copy of the slave there keeps this terminal from ending until
        // that process does.
        // SAFETY: plain libc calls on descriptors this function owns; results are checked.
        let (master, slave) = unsafe {
            let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            check(m, "posix_openpt");
            check(libc::grantpt(m), "grantpt");
            check(libc::unlockpt(m), "unlockpt");
            let mut name = [0 as libc::c_char; 128];
            check(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), "ptsname_r");
            let s = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            check(s, "open slave");
            let ws = libc::winsize {
                ws_row: 40,
                ws_col: COLUMNS,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            check(libc::ioctl(s, libc::TIOCSWINSZ, &ws), "TIOCSWINSZ");
            (File::from_raw_fd(m), File::from_raw_fd(s))
        };
        cmd.stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap());
        // SAFETY: only async-signal-safe calls between fork and exec: a new session, then the
        // pty (already on fd 0) becomes its controlling terminal.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        hangups_not_ignored();
        let child = cmd.spawn().expect("spawn on pty");
        drop(slave);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = screen.clone();
        let paused = Arc::new(AtomicBool::new(!reading));
        let pause = paused.clone();
        let drained = Arc::new(AtomicBool::new(false));
        let done = drained.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child and every copy of the slave are gone.
            loop {
                // A paused terminal: the child's writes block once the pty buffer is full.
                while pause.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let Ok(n) = reader.read(&mut buf) else { break };
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(buf.get(..n).unwrap());
            }
            done.store(true, Ordering::SeqCst);
        });
        Pty {
            master,
            screen,
            paused,
            drained,
            child,
        }
    }

    /// Stops reading the terminal (like a stalled terminal emulator), or starts again.
    pub fn pause(&self, on: bool) {
        self.paused.store(on, Ordering::SeqCst);
    }

    /// Types `keys`.
    pub fn type_keys(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Everything drawn so far, escape sequences included (cheaper than [`text`] on large
    /// output).
    ///
    /// [`text`]: Pty::text
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits until the raw output contains `needle` (which must not span an escape sequence).
    pub fn wait_for_raw(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.raw().contains(needle) {
            assert!(Instant::now() < deadline, "timed out waiting for {needle:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything drawn so far, with terminal escape sequences removed.
    pub fn text(&self) -> String {
        strip_ansi(&String::from_utf8_lossy(&self.screen.lock().unwrap()))
    }

    /// Waits until the drawn text contains `needle` after byte offset `from` of [`text`];
    /// returns the offset just past it. Fails the test after `timeout`.
    ///
    /// [`text`]: Pty::text
    pub fn wait_for_from(&self, from: usize, needle: &str, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let t = self.text();
            if let Some(i) = t.get(from..).and_then(|s| s.find(needle)) {
                return from + i + needle.len();
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {needle:?}; screen so far:\n{t}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for `needle` anywhere in the drawn text.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> usize {
        self.wait_for_from(0, needle, timeout)
    }

    /// Types `line` and Enter, then waits for `want` in what is drawn after that (within
    /// [`STEP`](super::STEP)); returns the offset just past it, as [`wait_for_from`] does.
    ///
    /// [`wait_for_from`]: Pty::wait_for_from
    pub fn command(&mut self, line: &str, want: &str) -> usize {
        let from = self.text().len();
        self.type_keys(&format!("{line}\r"));
        self.wait_for_from(from, want, super::STEP)
    }

    /// The terminal's modes now (the master reads the same as the child's side).
    pub fn modes(&self) -> libc::termios {
        use std::os::fd::AsRawFd;
        // SAFETY: tcgetattr writes the struct on success, which is checked.
        unsafe {
            let mut t = std::mem::zeroed::<libc::termios>();
            check(libc::tcgetattr(self.master.as_raw_fd(), &mut t), "tcgetattr");
            t
        }
    }

    /// Waits for the child to end by a signal, and for what it drew to be read; which one
    /// (`None` if it exited).
    pub fn wait_signalled(&mut self, timeout: Duration) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                self.wait_drained(deadline);
                return st.signal();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the client did not end in time; screen:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits, until `deadline`, for the reader to have read all the child drew. An exit does
    /// not say that: what the child wrote last may still wait in the terminal for the reader
    /// thread (seen with 8 test threads: `listen --count 1` exited 0, and its line was not in
    /// `text()` yet, which was empty).
    /// A terminal the test stopped reading ([`pause`](Pty::pause)) is not waited for: it
    /// will not be read until the test says so.
    fn wait_drained(&self, deadline: Instant) {
        while !self.drained.load(Ordering::SeqCst) && !self.paused.load(Ordering::SeqCst) {
            if Instant::now() > deadline {
                panic!(
                    "the child ended but its terminal did not (a process still holds it); \
                     screen:\n{}",
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the child to exit, and for what it drew to be read; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                self.wait_drained(deadline);
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the client did not exit in time; screen:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes CSI sequences (`ESC [ ... final`), OSC sequences and other two-byte escapes, and
/// carriage returns, leaving the text as a person would read it in order.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' || (c == '\x1b' && chars.peek() == Some(&'\\')) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// What a terminal [`COLUMNS`] wide would show after drawing `s`, every row from the first
/// (scrolled-off rows kept), trailing spaces trimmed. A small model of a VT100: printable
/// characters one column each with the pending wrap at the last column, CR, LF, backspace,
/// and the cursor moves and erasures rustyline and the client use (CSI A B C D G K J); other
/// sequences (modes, colours, titles) draw nothing.
pub fn screen_rows(s: &str) -> Vec<String> {
    let cols = usize::from(COLUMNS);
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut r, mut c, mut pending) = (0usize, 0usize, false);
    let mut chars = s.chars().peekable();
    let newline = |rows: &mut Vec<Vec<char>>, r: &mut usize| {
        *r += 1;
        if rows.len() <= *r {
            rows.push(Vec::new());
        }
    };
    while let Some(ch) = chars.next() {
        match ch {
            '\x1b' => match chars.next() {
                Some('[') => {
                    let mut params = String::new();
                    let mut fin = ' ';
                    for d in chars.by_ref() {
                        if ('@'..='~').contains(&d) {
                            fin = d;
                            break;
                        }
                        params.push(d);
                    }
                    let n: usize = params.parse().unwrap_or(0);
                    let row = rows.get_mut(r).unwrap();
                    match fin {
                        'A' => r = r.saturating_sub(n.max(1)),
                        'B' => {
                            for _ in 0..n.max(1) {
                                newline(&mut rows, &mut r);
                            }
                        }
                        'C' => c = (c + n.max(1)).min(cols - 1),
                        'D' => c = c.saturating_sub(n.max(1)),
                        'G' => c = n.max(1) - 1,
                        'K' if n == 2 => row.clear(),
                        'K' => row.truncate(c),
                        'J' if n == 0 => {
                            row.truncate(c);
                            rows.truncate(r + 1);
                        }
                        _ => {}
                    }
                    pending = false;
                }
                Some(']') => {
                    while let Some(d) = chars.next() {
                        if d == '\x07' || (d == '\x1b' && chars.peek() == Some(&'\\')) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => (c, pending) = (0, false),
            '\n' => {
                newline(&mut rows, &mut r);
                pending = false;
            }
            '\x08' => (c, pending) = (c.saturating_sub(1), false),
            ch if ch.is_control() => {}
            ch => {
                if pending {
                    newline(&mut rows, &mut r);
                    (c, pending) = (0, false);
                }
                let row = rows.get_mut(r).unwrap();
                if row.len() <= c {
                    row.resize(c + 1, ' ');
                }
                row[c] = ch;
                match c + 1 == cols {
                    true => pending = true,
                    false => c += 1,
                }
            }
        }
    }
    rows.iter()
        .map(|row| row.iter().collect::<String>().trim_end().to_string())
        .collect()
}

/// Takes SIGHUP back to its default action in this test process if it was started ignoring it
/// (run under `nohup`): a client inherits the ignoring, as it is meant to (a test sets it on
/// purpose), and the tests that hang it up then waited in vain (found running CI under
/// `nohup`). Once, before the first client starts; a test's own `pre_exec` still sets it.
fn hangups_not_ignored() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: sigaction with a null new action only reads the current one; signal(2) sets the
    // default action, which this test process does not rely on otherwise.
    ONCE.call_once(|| unsafe {
        let mut old = std::mem::zeroed::<libc::sigaction>();
        if libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
        {
            libc::signal(libc::SIGHUP, libc::SIG_DFL);
        }
    });
}
