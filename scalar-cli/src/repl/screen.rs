//! The one way text reaches the terminal in the interactive client: a queue that never blocks
//! its producers, drained by a printer thread.
//!
//! Why a thread: rustyline's `ExternalPrinter::print` hands each message over a one-slot channel
//! and blocks until the editor takes it, which it does only while it is waiting for a key (not
//! while it shows a completion list, for instance); and a terminal that is not read (scroll
//! lock, a stopped pager) blocks any write. The socket-reader thread must never wait on either,
//! or it stops answering the server and is dropped as a slow consumer. So producers only push
//! here, and only the printer thread ever waits on the terminal.
//!
//! Why bounded, and what happens when full: the queue holds at most [`MAX_LINES`] lines and
//! [`MAX_BYTES`] bytes. When a new line would exceed that, the oldest waiting lines make room
//! and are counted instead, and the count is printed where they would have been as soon as the
//! terminal moves again ("N lines were not shown ..."), followed by the newest lines: after a
//! stall a person sees what is being said now, nothing is lost silently, and a stalled terminal
//! cannot make the client grow without bound. See docs/CLI.md, "Reader and printer".

use rustyline::ExternalPrinter;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The most lines held for a terminal that is not keeping up.
pub const MAX_LINES: usize = 10_000;
/// The most bytes held for a terminal that is not keeping up.
pub const MAX_BYTES: usize = 8 << 20;
/// The most lines handed to the terminal in one write.
const BATCH: usize = 256;

/// Where the printer thread writes.
pub trait Sink: Send {
    /// Writes `text` (whole lines, each ending in a newline); false if the sink is broken.
    fn write(&mut self, text: String) -> bool;

    /// The columns to fold lines to (see [`fold`](crate::fold)), if the sink is a terminal.
    fn columns(&self) -> Option<usize> {
        crate::fold::columns()
    }
}

/// Prints above rustyline's prompt without disturbing the line being typed.
pub struct EditorSink(pub Box<dyn ExternalPrinter + Send>);

impl Sink for EditorSink {
    fn write(&mut self, text: String) -> bool {
        self.0.print(text).is_ok()
    }
}

/// The prompt a terminal without line editing shows while no line has been typed after it.
pub type Prompt = std::sync::Arc<std::sync::Mutex<Option<String>>>;

/// Plain standard output, when there is no line editor. At a terminal the editor cannot drive
/// (TERM=dumb), what arrives while the prompt waits goes on a line of its own and the prompt
/// comes again after it: written after the prompt, the next line typed had none (found by
/// helper 265).
#[derive(Default)]
pub struct StdoutSink(pub Option<Reprompt>);

/// What a [`StdoutSink`] needs to show the prompt again: whether one waits (and which was
/// shown), and the prompt as it is now.
pub struct Reprompt {
    /// The prompt shown, while no line has been typed after it.
    pub shown: Prompt,
    /// The prompt now. What arrived may have changed it (a kick or ban from the current
    /// channel, the connection lost or back): the one written after it is this one, not the
    /// one shown before, which the line just read may contradict (found by helper 276: `no
    /// channel is current now`, then `#mod> ` again).
    pub now: Box<dyn Fn() -> String + Send>,
}

impl Sink for StdoutSink {
    fn write(&mut self, text: String) -> bool {
        let mut shown = self.0.as_ref().map(|p| {
            (
                p.shown.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
                &p.now,
            )
        });
        // The prompt's lock is taken before the chat's state (here, in `now`), and never the
        // other way round: the reader takes the state for the prompt, lets go, then this lock.
        let prompt = match shown.as_mut() {
            Some((s, now)) if s.is_some() => {
                let text = now();
                **s = Some(text.clone());
                Some(text)
            }
            _ => None,
        };
        let mut out = std::io::stdout().lock();
        let written = match prompt {
            Some(prompt) => out
                .write_all(b"\n")
                .and_then(|()| out.write_all(text.as_bytes()))
                .and_then(|()| out.write_all(prompt.as_bytes())),
            None => out.write_all(text.as_bytes()),
        };
        written.and_then(|()| out.flush()).is_ok()
    }
}

/// One entry of the queue.
enum Item {
    /// A line to print.
    Line(String),
    /// This many lines were dropped here. Only ever at the front, and only one.
    Dropped(u64),
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    lines: usize,
    bytes: usize,
    busy: bool,
    closed: bool,
    /// The printer takes no batch: the editor is about to erase the line it drew.
    held: bool,
    /// Nothing was being written when the hold began (see [`Screen::hold`]).
    still: bool,
}

#[derive(Default)]
struct Inner {
    q: Mutex<Queue>,
    /// Signalled when there is something to print, and when the printer goes idle.
    cv: Condvar,
}

impl Queue {
    /// Drops the oldest waiting line, counting it in the marker at the front.
    fn drop_oldest(&mut self) {
        let mut dropped = match self.items.front() {
            Some(Item::Dropped(n)) => {
                let n = *n;
                self.items.pop_front();
                n
            }
            _ => 0,
        };
        if let Some(Item::Line(l)) = self.items.pop_front() {
            self.lines -= 1;
            self.bytes -= l.len();
            dropped += 1;
        }
        self.items.push_front(Item::Dropped(dropped));
    }
}

/// A handle on the output queue; cheap to clone, safe to use from any thread.
#[derive(Clone, Default)]
pub struct Screen {
    inner: Arc<Inner>,
}

impl Screen {
    /// An empty queue; nothing is printed until [`start`](Screen::start).
    pub fn new() -> Screen {
        Screen::default()
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic elsewhere must not silence the client: the queue stays usable.
        self.inner.q.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues one line (without its newline). Never waits for the terminal.
    pub fn line(&self, s: impl Into<String>) {
        let s = s.into();
        let mut q = self.lock();
        q.lines += 1;
        q.bytes += s.len();
        q.items.push_back(Item::Line(s));
        while q.lines > MAX_LINES || q.bytes > MAX_BYTES {
            q.drop_oldest();
        }
        drop(q);
        self.inner.cv.notify_all();
    }

    /// Queues an informational line. Cleaned like an error: many quote the server's words (a
    /// refusal's reason before "queued: ...", a reconnection's notes), and each caller
    /// cleaning its own missed some (found by helper 263: a server's reason retitled the
    /// window and wrote to the clipboard). Cleaning what is clean already changes nothing.
    pub fn info(&self, s: impl AsRef<str>) {
        self.line(format!("-- {}", crate::render::clean_line(s.as_ref())));
    }

    /// Queues an error line. Errors quote the server's reasons, so they are cleaned like any
    /// other text from the network.
    pub fn error(&self, s: impl AsRef<str>) {
        self.line(format!("error: {}", crate::render::clean_line(s.as_ref())));
    }

    /// Starts the printer thread writing to `sink`.
    pub fn start(&self, mut sink: Box<dyn Sink>) {
        let screen = self.clone();
        let ambiguous = crate::fold::Ambiguous::of_locale();
        let spawned = std::thread::Builder::new().name("printer".into()).spawn(move || {
            while let Some(text) = screen.next_batch() {
                // At each batch: the terminal may have been resized.
                let text = match sink.columns() {
                    Some(columns) => crate::fold::fold(&text, columns, ambiguous),
                    None => text,
                };
                if !sink.write(text.clone()) {
                    // The editor is gone (it is being torn down): write plainly instead.
                    sink = Box::new(StdoutSink::default());
                    sink.write(text);
                }
                screen.lock().busy = false;
                screen.inner.cv.notify_all();
            }
        });
        if spawned.is_err() {
            let _ = writeln!(std::io::stderr(), "scalar-cli: cannot start the printer thread");
        }
    }

    /// Waits for lines, then takes up to [`BATCH`] of them as one text; `None` once closed and
    /// empty.
    fn next_batch(&self) -> Option<String> {
        let mut q = self.lock();
        while q.items.is_empty() || q.held {
            if q.closed && q.items.is_empty() {
                return None;
            }
            q = self.inner.cv.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        let mut text = String::new();
        let n = q.items.len().min(BATCH);
        let (mut lines, mut bytes) = (0, 0);
        for item in q.items.drain(..n) {
            match item {
                Item::Line(l) => {
                    lines += 1;
                    bytes += l.len();
                    text.push_str(&l);
                }
                Item::Dropped(n) => text.push_str(&format!(
                    "-- {n} line(s) were not shown: the terminal did not keep up (they were \
                     received; /history can fetch messages again where the server keeps history)"
                )),
            }
            text.push('\n');
        }
        q.lines -= lines;
        q.bytes -= bytes;
        q.busy = true;
        Some(text)
    }

    /// Waits until everything queued has been printed, or `timeout` has passed.
    pub fn flush(&self, timeout: Duration) {
        self.flush_within(Some(timeout));
    }

    /// Waits until everything queued has been written, however long the reader of standard
    /// output takes: for plain lines, which a script or a pipe reads at its own pace and must
    /// get whole. (A closed pipe does not make this wait: writes then fail and are dropped.)
    pub fn flush_all(&self) {
        self.flush_within(None);
    }

    fn flush_within(&self, timeout: Option<Duration>) {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut q = self.lock();
        while !q.items.is_empty() || q.busy {
            let Some(deadline) = deadline else {
                q = self.inner.cv.wait(q).unwrap_or_else(|e| e.into_inner());
                continue;
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            q = match self.inner.cv.wait_timeout(q, left) {
                Ok((q, _)) => q,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Stops the printer taking new lines until [`release`](Screen::release). Called as Enter
    /// is pressed, while rustyline still has the terminal in raw mode, where anything handed
    /// to it waits for its next prompt: what is on the screen then stays the last thing drawn
    /// unless a batch was already being handed over, which [`still`](Screen::still) tells.
    /// Never waits.
    pub fn hold(&self) {
        let mut q = self.lock();
        q.held = true;
        q.still = !q.busy;
    }

    /// Whether nothing has been printed since [`hold`](Screen::hold) began (false when not
    /// held).
    pub fn still(&self) -> bool {
        let q = self.lock();
        q.held && q.still
    }

    /// Lets the printer go on after [`hold`](Screen::hold).
    pub fn release(&self) {
        self.lock().held = false;
        self.inner.cv.notify_all();
    }

    /// Lets the printer thread end once the queue is empty.
    pub fn close(&self) {
        self.lock().closed = true;
        self.inner.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    struct Chan(mpsc::Sender<String>, Arc<Mutex<()>>);

    impl Sink for Chan {
        fn write(&mut self, text: String) -> bool {
            // Blocks while the test holds the gate: a stalled terminal.
            let _gate = self.1.lock();
            self.0.send(text).is_ok()
        }

        fn columns(&self) -> Option<usize> {
            None
        }
    }

    /// The editor's hold: nothing printed while held, and `still` false when a batch was
    /// already being written as the hold began.
    #[test]
    fn a_hold_keeps_the_screen_as_it_is() {
        let screen = Screen::new();
        let (tx, rx) = mpsc::channel();
        let gate = Arc::new(Mutex::new(()));
        screen.start(Box::new(Chan(tx, gate.clone())));
        assert!(!screen.still(), "not held");
        screen.hold();
        assert!(screen.still());
        screen.line("while held");
        std::thread::sleep(Duration::from_millis(100));
        assert!(rx.try_recv().is_err(), "printed while held");
        assert!(screen.still());
        screen.release();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "while held\n");
        // A batch being written (the terminal stalled) as the hold begins.
        let held = gate.lock().unwrap();
        screen.line("in flight");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !screen.lock().busy {
            assert!(Instant::now() < deadline, "the printer never took the line");
            std::thread::sleep(Duration::from_millis(5));
        }
        screen.hold();
        assert!(!screen.still());
        drop(held);
        screen.release();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "in flight\n");
    }

    #[test]
    fn never_blocks_and_counts_what_it_drops() {
        let screen = Screen::new();
        let (tx, rx) = mpsc::channel();
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        screen.start(Box::new(Chan(tx, gate.clone())));
        // The printer stalled on its first line before the rest come: had it started late, it
        // would take a batch between two overflows, each announced (seen once on a busy host).
        screen.line("line 0");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !screen.lock().busy {
            assert!(Instant::now() < deadline, "the printer never took the line");
            std::thread::sleep(Duration::from_millis(5));
        }
        let start = Instant::now();
        for i in 1..MAX_LINES + BATCH + 50 {
            screen.line(format!("line {i}"));
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "producers must not wait"
        );
        drop(held);
        screen.flush(Duration::from_secs(10));
        let all: String = rx.try_iter().collect();
        let total = MAX_LINES + BATCH + 50;
        assert_eq!(
            all.lines().last(),
            Some(format!("line {}", total - 1).as_str()),
            "newest kept"
        );
        assert_eq!(
            all.matches("were not shown").count(),
            1,
            "the drop is announced once"
        );
        let shown = all.lines().filter(|l| l.starts_with("line ")).count();
        let dropped: usize = all
            .lines()
            .find_map(|l| l.strip_prefix("-- ")?.split(' ').next()?.parse().ok())
            .unwrap();
        assert_eq!(
            shown + dropped,
            MAX_LINES + BATCH + 50,
            "every line shown or counted"
        );
    }
}
