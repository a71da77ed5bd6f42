//! The store's threads: a writer that commits [`Record`]s in batches, a reader that answers
//! catch-ups and a searcher that answers searches, each behind a bounded queue so the poll loop
//! never blocks on the disk. Results come back on one channel, and every result wakes the poll
//! loop through its `mio::Waker`.

use super::sqlite::Db;
use super::turns::Turns;
use super::{BATCH_WINDOW, Done, Fsync, Query, Record, Retention};
use mio::Waker;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

/// The most Records one commit takes. Large enough that a commit's fixed cost is spread thin,
/// and well below what the core lets one publisher have unwritten (three quarters of scalard's
/// write queue), so that a publisher outrunning the disk keeps going while a batch commits
/// rather than waiting for each commit in turn. Fan-out S=100 with history (scalar-bench, 1M
/// messages): 16,384 with a queue of 16,384 gave 3.8 M deliveries/s, 4,096 gave 5.1 M, and 4,096
/// with a queue of 32,768 5.9 M. The batch window still bounds the wait.
const MAX_BATCH: usize = 4_096;
/// How often a batched writer gathering Events looks at its queue.
const GATHER_POLL: Duration = Duration::from_millis(5);
/// Pages of the text index's segments the idle writer merges at a time (a few ms of work).
const IDLE_MERGE_PAGES: i64 = 500;
/// How long the idle writer waits before doing some retention work anyway.
const IDLE: Duration = Duration::from_secs(1);
/// How long a failing writer waits before trying its batch again.
const RETRY: Duration = Duration::from_secs(1);
/// Retention runs at most this often while writes keep coming.
const PRUNE_EVERY: Duration = Duration::from_millis(200);
/// At most this many Events are deleted per retention step, to keep each step short; more
/// when more were written since the last step, so deleting keeps pace with writing.
const PRUNE_BUDGET: usize = 200;

/// How to run the store.
#[derive(Debug, Clone)]
pub struct Options {
    /// The database file. Its directory must exist; the file is created if needed.
    pub path: PathBuf,
    /// When commits reach the disk.
    pub fsync: Fsync,
    /// What to delete, and when.
    pub retention: Retention,
    /// How many Records may wait for the writer before [`Store::write`] refuses (at least 1).
    pub write_queue: usize,
    /// How many catch-ups may wait for the reader before [`Store::query`] refuses (at least 1).
    pub read_queue: usize,
    /// How many searches may wait for the searcher before [`Store::query`] refuses (at least 1).
    pub search_queue: usize,
    /// How many of the newest Events to read at start, for the server's memory.
    pub recent: usize,
    /// The same bound in bytes of [`Record::weight`](super::Record::weight): the memory's
    /// budget, so start-up never holds more than it keeps.
    pub recent_bytes: usize,
    /// How long one catch-up or search may run before it is stopped
    /// ([`Db::bound_queries`]).
    pub query_time: Duration,
}

/// What the database held when the store opened: where the server resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The highest position stored: new Events are numbered after it.
    pub last_pos: u64,
    /// New Event times start after it, but for the topics in `ahead`: the largest Event time
    /// stored, or the clock at start when that is past it and `ahead` names every topic past it.
    pub last_time: u64,
    /// Topics whose last time is past the clock at start, with that time: their new times
    /// start after it ([`Db::topics_ahead`]).
    pub ahead: Vec<(String, u64)>,
    /// How many Events are stored.
    pub events: u64,
    /// The newest stored Events (at most [`Options::recent`]), oldest first.
    pub recent: Vec<Record>,
    /// The server's saved state, key and value.
    pub state: Vec<(String, Vec<u8>)>,
}

/// How many state saves may wait for the writer: they are rare (an operator's action), and a
/// refused one is retried by the core on its next tick. They share the Records' queue (so the
/// writer takes everything in the order it was sent), which has room for them on top of the
/// Records the core may have unwritten.
const STATE_QUEUE: usize = 256;

/// A state save: a key and its new value, `None` to delete it.
pub type StateSave = (Box<str>, Option<Vec<u8>>);

/// A queue was full (or its thread is gone); the request was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

enum Job {
    /// A Record, and a state save to store with it (boxed: most have none).
    Write(Arc<Record>, Option<Box<StateSave>>),
    /// A state save on its own.
    Save(Box<StateSave>),
    Flush,
}

/// Tells the loop when the writer's thread ends while the store is open: only a panic ends
/// it then. Without word, publishers waiting for commits (`--fsync always`) would wait for
/// good, and Mod or SetMeta would be applied before the first write found the writer gone.
struct Obituary {
    notify: Notify,
    closing: Arc<AtomicBool>,
}

impl Drop for Obituary {
    fn drop(&mut self) {
        if !self.closing.load(Ordering::Acquire) {
            log::error!("store: the writer thread ended unexpectedly");
            self.notify.send(Done::Gone);
        }
    }
}

/// The running store: its threads and the queues to and from them.
pub struct Store {
    writes: Option<SyncSender<Job>>,
    /// State saves in the writer's queue: at most [`STATE_QUEUE`], so they never take a place
    /// the core counts on for Records.
    saves_queued: Arc<AtomicUsize>,
    reads: Option<SyncSender<Query>>,
    searches: Option<SyncSender<Query>>,
    done: Receiver<Done>,
    /// Set by [`Store::close`]: the readers skip what is left and a failing writer gives up.
    closing: Arc<AtomicBool>,
    /// A Flush is in the writer's queue: at most one is, so flushes never take the room
    /// that the core counts on for Records.
    flush_queued: Arc<AtomicBool>,
    /// Retention rules for the writer to take up (a reload): one slot, the latest wins.
    new_retention: Arc<Mutex<Option<Retention>>>,
    /// Returns how many Events it could not write before the store closed.
    writer: Option<JoinHandle<Closed>>,
    reader: Option<JoinHandle<()>>,
    searcher: Option<JoinHandle<()>>,
}

/// Sends results to the poll loop and wakes it.
#[derive(Clone)]
struct Notify {
    tx: Sender<Done>,
    waker: Arc<Waker>,
}

impl Notify {
    fn send(&self, d: Done) {
        // A send fails only once the Store is gone, and then nobody is waiting for it.
        if self.tx.send(d).is_ok()
            && let Err(e) = self.waker.wake()
        {
            log::warn!("store: cannot wake the poll loop: {e}");
        }
    }
}

/// Where new Event times start ([`Start::last_time`] and [`Start::ahead`]): after the latest
/// stored, or, when that is past the clock (set back since a step ahead; a busy topic ahead of
/// it), at the clock for every topic but those past it, named with their last times.
fn resume_times(db: &Db) -> Result<(u64, Vec<(String, u64)>), super::StoreError> {
    let last = db.last_time()?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if last < now {
        return Ok((last, Vec::new()));
    }
    Ok(match db.topics_ahead(now)? {
        Some(ahead) => {
            log::info!(
                "store: stored Event times reach {} s past the clock; {} topic(s) go on from theirs, the others from the clock",
                last.saturating_sub(now) / 1000,
                ahead.len()
            );
            (now, ahead)
        }
        None => (last, Vec::new()),
    })
}

impl Store {
    /// Opens the database (applying migrations) and the readers' connections on the calling
    /// thread, so a bad data directory fails here with a clear error, then starts the threads.
    /// Returns the store and where the server resumes.
    pub fn open(opts: Options, waker: Arc<Waker>) -> Result<(Store, Start), super::StoreError> {
        let db = Db::open(&opts.path)?;
        let last_pos = db.last_pos()?;
        let moved = db.clamp_account_starts(last_pos.saturating_add(1))?;
        if moved > 0 {
            log::warn!("store: {moved} account(s) made just before a crash start after what it kept");
        }
        let (last_time, ahead) = resume_times(&db)?;
        let start = Start {
            last_pos,
            last_time,
            ahead,
            events: db.count()?,
            recent: db.newest(opts.recent, opts.recent_bytes)?,
            state: db.state()?,
        };
        let mut reader_db = Db::open_reader(&opts.path)?;
        let mut searcher_db = Db::open_reader(&opts.path)?;
        reader_db.bound_queries(opts.query_time)?;
        searcher_db.bound_queries(opts.query_time)?;

        let (wtx, wrx) = mpsc::sync_channel(opts.write_queue.max(1) + STATE_QUEUE);
        let (read_queue, search_queue) = (opts.read_queue.max(1), opts.search_queue.max(1));
        let (rtx, rrx) = mpsc::sync_channel(read_queue);
        let (qtx, qrx) = mpsc::sync_channel(search_queue);
        let saves_queued = Arc::new(AtomicUsize::new(0));
        let (dtx, drx) = mpsc::channel();
        let notify = Notify { tx: dtx, waker };
        let closing = Arc::new(AtomicBool::new(false));
        let flush_queued = Arc::new(AtomicBool::new(false));
        let new_retention = Arc::new(Mutex::new(None));
        let mut store = Store {
            writes: Some(wtx),
            saves_queued: saves_queued.clone(),
            reads: Some(rtx),
            searches: Some(qtx),
            done: drx,
            closing: closing.clone(),
            flush_queued: flush_queued.clone(),
            new_retention: new_retention.clone(),
            writer: None,
            reader: None,
            searcher: None,
        };
        let writer = Writer {
            db,
            jobs: wrx,
            saves_queued,
            notify: notify.clone(),
            fsync: opts.fsync,
            retention: opts.retention,
            new_retention,
            closing: closing.clone(),
            flush_queued,
            failing: false,
            pruning: Chore::default(),
            tidying: Chore::default(),
            last_prune: Instant::now(),
            steady: crate::steady::Steady::new("retention by age"),
            written: 0,
            lost: 0,
            pending: BTreeMap::new(),
            saves_failing: false,
            saves_taken: 0,
            saves_told: 0,
            file: super::watch::FileWatch::new(opts.path.clone()),
        };
        let spawn_error = |e| super::StoreError::Io(format!("cannot start a store thread: {e}"));
        // On an error below, dropping `store` stops and joins whatever did start.
        store.writer = Some(
            thread::Builder::new()
                .name("scalard-writer".into())
                .spawn({
                    let (notify, closing) = (notify.clone(), closing.clone());
                    move || {
                        // Made in the thread: a thread that failed to start says nothing.
                        let _obituary = Obituary { notify, closing };
                        if writer.fsync == Fsync::Batched {
                            super::yield_to_the_loop(WRITER_NICE, "store");
                        }
                        writer.run()
                    }
                })
                .map_err(spawn_error)?,
        );
        store.reader = Some(
            thread::Builder::new()
                .name("scalard-reader".into())
                .spawn({
                    let (notify, closing) = (notify.clone(), closing.clone());
                    move || read(reader_db, rrx, read_queue, notify, closing)
                })
                .map_err(spawn_error)?,
        );
        store.searcher = Some(
            thread::Builder::new()
                .name("scalard-search".into())
                .spawn(move || {
                    super::yield_to_the_loop(SEARCHER_NICE, "store");
                    read(searcher_db, qrx, search_queue, notify, closing)
                })
                .map_err(spawn_error)?,
        );
        log::info!(
            "store: {} opened: {} events, last position {}",
            opts.path.display(),
            start.events,
            start.last_pos
        );
        Ok((store, start))
    }

    /// Queues a state save, behind the Records queued before it: it is stored no earlier than
    /// they are. Never blocks: with [`STATE_QUEUE`] saves waiting (or the writer gone) it is
    /// [`Full`], and the caller tries again later.
    pub fn save_state(&self, key: &str, value: Option<Vec<u8>>) -> Result<(), Full> {
        let tx = self.writes.as_ref().ok_or(Full)?;
        if self.saves_queued.fetch_add(1, Ordering::AcqRel) >= STATE_QUEUE {
            self.saves_queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Full);
        }
        tx.try_send(Job::Save(Box::new((key.into(), value))))
            .map_err(|_| {
                self.saves_queued.fetch_sub(1, Ordering::AcqRel);
                Full
            })
    }

    /// New retention rules (a reload): the writer applies them from its next retention step.
    /// The rules already in force when the store opened are in its [`Options`].
    pub fn set_retention(&self, retention: Retention) {
        // Held by the writer only to take the rules out: never for long. Plain data, so a
        // poisoned lock is still good.
        let mut slot = self.new_retention.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = Some(retention);
    }

    /// Queues a Record for writing; [`Done::Committed`] follows once it is on disk. Never
    /// blocks: a full queue (or a writer that is gone) is [`Full`], and the Record is dropped.
    /// The queue holds `write_queue` Records and [`STATE_QUEUE`] saves; only the caller's own
    /// bound keeps Records out of the saves' places.
    /// Shared, because the loop keeps the same Record in its ring of recent Events.
    pub fn write(&self, r: Arc<Record>) -> Result<(), Full> {
        self.write_saving(r, None)
    }

    /// Queues a Record as [`write`](Store::write) does, with a state save that goes to disk in
    /// the same transaction (after any save queued before it): a change and its record are
    /// stored together. It takes no place of its own in the queue.
    pub fn write_saving(&self, r: Arc<Record>, save: Option<StateSave>) -> Result<(), Full> {
        self.writes
            .as_ref()
            .ok_or(Full)?
            .try_send(Job::Write(r, save.map(Box::new)))
            .map_err(|_| Full)
    }

    /// Asks the writer to commit what it has gathered now rather than at the end of the batch
    /// window. Never blocks. At most one Flush waits in the queue, so a queue sized one above
    /// the Records the caller may have unwritten always has room for every Record.
    pub fn flush(&self) {
        if let Some(w) = &self.writes
            && !self.flush_queued.swap(true, Ordering::AcqRel)
        {
            match w.try_send(Job::Flush) {
                // A batched writer gathering Events sleeps between looks at its queue.
                Ok(()) => {
                    if let Some(h) = &self.writer {
                        h.thread().unpark();
                    }
                }
                Err(_) => self.flush_queued.store(false, Ordering::Release),
            }
        }
    }

    /// Queues a catch-up for the reader, or a search for the searcher; [`Done::Answer`] with
    /// its token follows. Never blocks: a full queue is [`Full`].
    pub fn query(&self, q: Query) -> Result<(), Full> {
        let queue = match q.text {
            None => &self.reads,
            Some(_) => &self.searches,
        };
        queue.as_ref().ok_or(Full)?.try_send(q).map_err(|_| Full)
    }

    /// The next result from the threads, if one is ready.
    pub fn try_done(&self) -> Option<Done> {
        self.done.try_recv().ok()
    }

    /// Stops the store: the writer commits everything still queued (or, if it is failing, tries
    /// one last time) and the threads are joined. Queued queries are not answered. Returns how
    /// many Events were not written (the writer was failing, and failed once more): each is
    /// also logged.
    pub fn close(mut self) -> Closed {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Closed {
        self.closing.store(true, Ordering::Release);
        // Closing the queues is what ends the threads' loops.
        self.writes = None;
        self.reads = None;
        self.searches = None;
        let closed = self.writer.take().map_or(Closed::default(), |h| {
            // Cuts short a failing writer's wait between retries.
            h.thread().unpark();
            h.join().unwrap_or_else(|_| {
                log::error!("store: the writer thread panicked");
                Closed::default()
            })
        });
        for (name, handle) in [("reader", self.reader.take()), ("searcher", self.searcher.take())] {
            if handle.is_some_and(|h| h.join().is_err()) {
                log::error!("store: the {name} thread panicked");
            }
        }
        closed
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How many nice levels the batched writer yields to the poll loop: about a tenth of the loop's
/// share under Linux's scheduler while they compete, all of an idle core otherwise. With
/// `--fsync batched` nobody waits for a commit, but a commit's burst of CPU on a machine with few
/// cores delays the loop's deliveries: chat p99 (scalar-bench) went from 1.40-1.50 ms to
/// 1.09-1.17 ms with it, fan-out S=100 with history from 6.08 to 5.80 M deliveries/s (within
/// this machine's noise). Under `--fsync always` every echo waits for the writer, so it keeps
/// the loop's priority.
const WRITER_NICE: libc::c_int = 10;

struct Writer {
    db: Db,
    jobs: Receiver<Job>,
    /// Shared with [`Store`]: the writer counts down the saves it takes.
    saves_queued: Arc<AtomicUsize>,
    notify: Notify,
    fsync: Fsync,
    retention: Retention,
    /// Rules handed over by [`Store::set_retention`], taken up at the start of each retention
    /// step.
    new_retention: Arc<Mutex<Option<Retention>>>,
    closing: Arc<AtomicBool>,
    /// Cleared when the writer takes the Flush out of its queue.
    flush_queued: Arc<AtomicBool>,
    /// A commit failed and [`Done::Failing`] was sent; [`Done::Recovered`] is owed.
    failing: bool,
    pruning: Chore,
    tidying: Chore,
    last_prune: Instant,
    /// The wall clock retention by age counts by (a step ahead only once it held).
    steady: crate::steady::Steady,
    /// Events committed since the last retention step.
    written: usize,
    /// Events given up when the store closed while writes failed.
    lost: u64,
    /// State saves taken from the queue and not yet written, the latest value of each key:
    /// kept until written (a kept channel's life, a transfer, a drop may be saved only once),
    /// and written in the same transaction as the next batch, so never after the Events queued
    /// behind them. As many entries as keys the core saves.
    pending: BTreeMap<Box<str>, Option<Vec<u8>>>,
    /// Writing `pending` alone failed and was said; said again only after it worked.
    saves_failing: bool,
    /// State saves taken from the queue ([`Job::Save`]) since the store opened, and how many
    /// of them the core was told are on disk ([`Done::Saved`]).
    saves_taken: u64,
    saves_told: u64,
    /// Whether the database file is still the one written to.
    file: super::watch::FileWatch,
}

/// What a store could not keep, said when it closes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    /// Events taken but not written: writes were failing at the stop, and the last try failed.
    pub lost: u64,
    /// The database file was removed or replaced (see [`FileWatch`](super::watch::FileWatch)):
    /// what was written to it before that was noticed is gone with it.
    pub file_gone: bool,
}

impl Writer {
    /// Serves until the store closes; returns what it could not keep.
    fn run(mut self) -> Closed {
        if self.probe() {
            self.serve();
            // Whatever ended the loop, the state saves already queued are written.
            self.save_state();
            if !self.pending.is_empty() {
                let keys: Vec<&str> = self.pending.keys().map(|k| &**k).collect();
                log::error!("store: closing with state saves unwritten: {}", keys.join(", "));
            }
        }
        self.file.look();
        let file_gone = self.file.gone().inspect(|e| {
            log::error!(
                "store: closing with {e}: what was written lately is only in the file scalard had \
                 open (lost if it was deleted)"
            );
        });
        Closed {
            lost: self.lost,
            file_gone: file_gone.is_some(),
        }
    }

    /// Finds out whether writes work before the first Message is taken, as a failed commit
    /// would ([`Done::Failing`], then retried until it works). Returns false if the store
    /// closed meanwhile.
    fn probe(&mut self) -> bool {
        loop {
            match self.db.probe() {
                Ok(()) => {
                    self.works();
                    return true;
                }
                Err(e) => {
                    self.fails(e);
                    thread::park_timeout(RETRY);
                    if self.closing.load(Ordering::Acquire) {
                        return false;
                    }
                }
            }
        }
    }

    fn serve(&mut self) {
        let mut batch = Vec::new();
        loop {
            self.save_state();
            match self.jobs.recv_timeout(IDLE) {
                Ok(Job::Write(r, save)) => self.take(&mut batch, r, save),
                Ok(Job::Save(save)) => {
                    // Saves queued together go in one transaction: with those behind it, or
                    // with the batch of the first Record behind them.
                    self.take_save(*save);
                    if !self.take_saves_until_write(&mut batch) {
                        continue;
                    }
                }
                Ok(Job::Flush) => {
                    self.flush_queued.store(false, Ordering::Release);
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.prune();
                    let tidied = self.db.tidy_text_index(IDLE_MERGE_PAGES);
                    self.tidying.report("text index merge", tidied);
                    self.idle_file_check();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let open = self.gather(&mut batch);
            if !self.commit(&mut batch) || !open {
                return;
            }
        }
    }

    /// Takes up the rules of a reload, if one came: before each retention step, so every step
    /// deletes by the latest.
    fn take_retention(&mut self) {
        // The slot holds plain data: a panic elsewhere cannot leave it half-written.
        let new = match self.new_retention.try_lock() {
            Ok(mut slot) => slot.take(),
            Err(TryLockError::Poisoned(p)) => p.into_inner().take(),
            Err(TryLockError::WouldBlock) => None,
        };
        if let Some(r) = new.filter(|r| *r != self.retention) {
            self.retention = r;
            log::info!("store: retention rules changed");
        }
    }

    /// Adds a Record to the batch, and the save that came with it to `pending`.
    fn take(&mut self, batch: &mut Vec<Arc<Record>>, r: Arc<Record>, save: Option<Box<StateSave>>) {
        #[cfg(test)]
        assert_ne!(r.topic(), tests::PANICKING_TOPIC, "a write told to panic");
        if let Some(save) = save {
            let (key, value) = *save;
            self.pending.insert(key, value);
        }
        batch.push(r);
    }

    /// Takes the saves queued next, up to the first Record, which starts the batch; returns
    /// whether one did.
    fn take_saves_until_write(&mut self, batch: &mut Vec<Arc<Record>>) -> bool {
        loop {
            match self.jobs.try_recv() {
                Ok(Job::Save(save)) => self.take_save(*save),
                Ok(Job::Flush) => self.flush_queued.store(false, Ordering::Release),
                Ok(Job::Write(r, save)) => {
                    self.take(batch, r, save);
                    return true;
                }
                Err(_) => return false,
            }
        }
    }

    /// A save taken from the queue: pending, over any older value of its key (the queue keeps
    /// the order the core sent them in).
    fn take_save(&mut self, (key, value): StateSave) {
        self.saves_queued.fetch_sub(1, Ordering::AcqRel);
        self.saves_taken += 1;
        self.pending.insert(key, value);
    }

    /// The pending saves are on disk: every save taken so far, which the core is told.
    fn saved(&mut self) {
        self.pending.clear();
        if self.saves_taken > self.saves_told {
            self.saves_told = self.saves_taken;
            self.notify.send(Done::Saved(self.saves_taken));
        }
        if std::mem::take(&mut self.saves_failing) {
            log::info!("store: state saves work again");
        }
    }

    /// The pending saves, as the store takes them.
    fn saves(pending: &BTreeMap<Box<str>, Option<Vec<u8>>>) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        pending.iter().map(|(k, v)| (&**k, v.as_deref()))
    }

    /// Writes the pending state saves, in one transaction. If that fails they stay pending,
    /// to go with the next batch or the next try.
    fn save_state(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        match self
            .file_in_place()
            .and_then(|()| self.db.save_states(Self::saves(&self.pending)))
        {
            Ok(()) => {
                self.works();
                self.saved();
            }
            // The core is told as for a failed commit: under `--fsync always` a reply waits for
            // these saves, and it refuses new changes (700) rather than hold them too (found by
            // review: a quiet server's failing saves were never reported).
            Err(e) => {
                if !self.saves_failing {
                    self.saves_failing = true;
                    log::error!("store: cannot save the server's state, will retry: {e}");
                }
                self.fails(e);
            }
        }
    }

    /// Adds to a batch that holds its first Record. Returns false once the queue is closed (and
    /// empty: a closed queue still yields what was sent before).
    fn gather(&mut self, batch: &mut Vec<Arc<Record>>) -> bool {
        match self.fsync {
            // Group commit: whatever queued up while the last commit was syncing goes in this
            // one, but nothing waits for more.
            Fsync::Always => {
                while batch.len() < MAX_BATCH {
                    match self.jobs.try_recv() {
                        Ok(Job::Write(r, save)) => self.take(batch, r, save),
                        Ok(Job::Save(save)) => self.take_save(*save),
                        Ok(Job::Flush) => self.flush_queued.store(false, Ordering::Release),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => return false,
                    }
                }
                true
            }
            Fsync::Batched => {
                let deadline = Instant::now() + BATCH_WINDOW;
                loop {
                    while batch.len() < MAX_BATCH {
                        match self.jobs.try_recv() {
                            Ok(Job::Write(r, save)) => self.take(batch, r, save),
                            Ok(Job::Save(save)) => self.take_save(*save),
                            Ok(Job::Flush) => {
                                self.flush_queued.store(false, Ordering::Release);
                                return true;
                            }
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => return false,
                        }
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    if batch.len() >= MAX_BATCH || left.is_zero() {
                        return true;
                    }
                    // Sleeps rather than waits on the queue: a receiver waiting on it is woken
                    // by every send, which costs the loop a system call per Event and this
                    // thread a wake-up. [`Store::flush`] unparks it.
                    thread::park_timeout(left.min(GATHER_POLL));
                }
            }
        }
    }

    /// Commits the batch, retrying until it works. While failing, nothing more is taken from
    /// the queue, so it fills and [`Store::write`] refuses: the bound on what a failure holds
    /// in memory. Returns false if the store closed before the batch could be written.
    fn commit(&mut self, batch: &mut Vec<Arc<Record>>) -> bool {
        let mut last_try = false;
        loop {
            // Saves taken with these Events go to disk with them, in their transaction (a kept
            // channel's life must be known wherever its Events are).
            let written = self.file_in_place();
            match written.and_then(|()| self.db.insert_saving(batch, Self::saves(&self.pending))) {
                Ok(()) => {
                    // Recovered before the saves and Events it lets go.
                    self.works();
                    self.saved();
                    if let Some(last) = batch.iter().map(|r| r.pos).max() {
                        self.notify.send(Done::Committed(last));
                    }
                    self.written += batch.len();
                    batch.clear();
                    if self.last_prune.elapsed() >= PRUNE_EVERY {
                        self.prune();
                    }
                    return true;
                }
                Err(e) if last_try => {
                    self.lost(batch, &e);
                    return false;
                }
                Err(e) => {
                    self.fails(e);
                    thread::park_timeout(RETRY);
                    last_try = self.closing.load(Ordering::Acquire);
                }
            }
        }
    }

    /// Whether the store's path still names the file written to (looked at every few seconds):
    /// if not, a write fails, and is retried until it does again. What is written to a file
    /// nobody can open after a stop would be lost then, silently; held as on a full disk, it is
    /// refused to new publishers (700) and, if the server stops, counted as lost.
    fn file_in_place(&mut self) -> Result<(), super::StoreError> {
        self.file.check();
        self.file.gone().map_or(Ok(()), Err)
    }

    /// On an idle writer, a file gone is said at once ([`Done::Failing`]), so that the next
    /// Message is refused rather than taken and then lost; and its return ends that. (A
    /// failure while anything is pending is a save's or a batch's, which their retries end.)
    fn idle_file_check(&mut self) {
        match self.file_in_place() {
            Err(e) => self.fails(e),
            // Back: but said to work only once a write does (the disk may be full meanwhile).
            Ok(()) if self.failing && self.pending.is_empty() => match self.db.probe() {
                Ok(()) => self.works(),
                Err(e) => self.fails(e),
            },
            Ok(()) => {}
        }
    }

    /// A write worked: if writes had failed, they work again, and the core is told.
    fn works(&mut self) {
        if self.failing {
            self.failing = false;
            log::info!("store: writes work again");
            self.notify.send(Done::Recovered);
        }
    }

    /// A write failed: the core is told once ([`Done::Failing`]), until one works.
    fn fails(&mut self, e: super::StoreError) {
        if !self.failing {
            self.failing = true;
            log::error!("store: write failed, will retry: {e}");
            self.notify.send(Done::Failing(e));
        } else {
            log::debug!("store: write still failing: {e}");
        }
    }

    /// Logs and counts what a store closing while failing could not write.
    fn lost(&mut self, batch: &[Arc<Record>], e: &super::StoreError) {
        let mut positions: Vec<u64> = batch.iter().map(|r| r.pos).collect();
        // The Store is closing, so its sender is gone and this ends at the queue's last Record.
        // The saves pending and queued go with the Events: a change stored without its record
        // (a drop, a life) would be worse than both lost. Closing lists them.
        while let Ok(job) = self.jobs.try_recv() {
            match job {
                Job::Write(r, save) => {
                    positions.push(r.pos);
                    if let Some(save) = save {
                        self.pending.insert(save.0, save.1);
                    }
                }
                Job::Save(save) => self.take_save(*save),
                Job::Flush => {}
            }
        }
        let keys: Vec<&str> = self.pending.keys().map(|k| &**k).collect();
        if !keys.is_empty() {
            log::error!(
                "store: closing while writes fail: state saves lost: {}",
                keys.join(", ")
            );
        }
        self.pending.clear();
        self.lost += positions.len() as u64;
        let (first, last) = (positions.iter().min(), positions.iter().max());
        if let (Some(first), Some(last)) = (first, last) {
            log::error!(
                "store: closing while writes fail ({e}): {} events lost, positions {first} to {last}",
                positions.len()
            );
        }
    }

    fn prune(&mut self) {
        self.take_retention();
        self.last_prune = Instant::now();
        let Ok(now) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) else {
            log::warn!("store: the clock is before 1970; retention skipped");
            return;
        };
        let now_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        // Not the wall clock alone: a step a year ahead would delete every topic's history
        // at once, for good (crate::steady).
        let now_ms = self.steady.now(now_ms, self.last_prune);
        let budget = PRUNE_BUDGET.max(std::mem::take(&mut self.written));
        let pruned = self.db.prune(&self.retention, now_ms, budget);
        match self.pruning.report("retention step", pruned) {
            Some(0) | None => {}
            Some(n) => log::debug!("store: retention deleted {n} events"),
        }
    }
}

/// Whether a chore of the writer, retried every idle second (and every retention step), is
/// failing: its warning is said once, and once more when it works again, so a full disk does
/// not log a line a second.
#[derive(Default)]
struct Chore {
    failing: bool,
}

impl Chore {
    /// Logs `result` if it changes the chore's state; returns its value.
    fn report<T>(&mut self, what: &str, result: Result<T, super::StoreError>) -> Option<T> {
        match result {
            Ok(v) => {
                if std::mem::take(&mut self.failing) {
                    log::info!("store: the {what} works again");
                }
                Some(v)
            }
            Err(e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    log::warn!("{e}; the {what} is retried, and logged again once it works");
                }
                None
            }
        }
    }
}

/// How many nice levels the searcher yields to the poll loop (and so to the reader, which keeps
/// the loop's). A search for words that are common but seldom meet walks both words' postings
/// to the end: about 10 ms of CPU in a channel at the default retention of 100,000 Events
/// (`scalar-bench heavy-search`), in full competition with the loop on a machine with few cores.
/// On a thread of its own it never holds up a catch-up, and niced it takes little from the
/// deliveries; nobody's next Message waits for it.
const SEARCHER_NICE: libc::c_int = 10;

/// The reader and the searcher: answer queries until the queue closes, each asker's in order,
/// the askers in turn ([`Turns`]). What is queued when a query ends competes for the next turn:
/// up to `cap` taken from the queue (its own size), so together with what the queue still holds
/// the store keeps at most twice its queue whatever its callers do.
fn read(db: Db, queries: Receiver<Query>, cap: usize, notify: Notify, closing: Arc<AtomicBool>) {
    let mut turns = Turns::new(cap);
    loop {
        while turns.has_room()
            && let Ok(q) = queries.try_recv()
        {
            turns.push(q.asker, q);
        }
        let Some(q) = turns.pop() else {
            // Idle: wait for the next, which goes through `turns` too, to count as served.
            match queries.recv() {
                Ok(q) => turns.push(q.asker, q),
                Err(_) => return,
            }
            continue;
        };
        if closing.load(Ordering::Acquire) {
            continue;
        }
        // A query that panics (a bug) is answered with an error and the thread goes on: the
        // connection that asked waits for an answer, and later queries for this thread.
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.query(&q)))
            .unwrap_or_else(|_| Err(super::StoreError::Io("the query panicked".into())));
        // The poll loop logs what it answers a stopped query with.
        if let Err(e) = &answer
            && !matches!(e, super::StoreError::TooSlow)
        {
            log::warn!("store: query failed: {e}");
        }
        notify.send(Done::Answer(q.token, answer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::tests::{TempDir, query, rec};
    use crate::store::{Rule, Scope, StoreError};
    use mio::{Events, Poll, Token};

    /// A poll loop's side of the store: the Poll its waker wakes.
    struct Loop {
        poll: Poll,
        events: Events,
        waker: Arc<Waker>,
    }

    impl Loop {
        fn new() -> Loop {
            let poll = Poll::new().unwrap();
            let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
            Loop {
                poll,
                events: Events::with_capacity(8),
                waker,
            }
        }

        /// The next result, waiting on the waker (so a missing wake fails the test) for at
        /// most `limit`.
        fn next(&mut self, store: &Store, limit: Duration) -> Option<Done> {
            let deadline = Instant::now() + limit;
            loop {
                if let Some(d) = store.try_done() {
                    return Some(d);
                }
                let left = deadline.checked_duration_since(Instant::now())?;
                self.poll.poll(&mut self.events, Some(left)).unwrap();
            }
        }

        /// Waits until everything up to `pos` is committed; returns what else arrived.
        fn committed(&mut self, store: &Store, pos: u64) -> Vec<Done> {
            let mut other = Vec::new();
            loop {
                match self.next(store, Duration::from_secs(5)) {
                    Some(Done::Committed(p)) if p >= pos => return other,
                    Some(Done::Committed(_)) => {}
                    Some(d) => other.push(d),
                    None => panic!("{pos} not committed; got {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_failing_chore_is_said_once_until_it_works() {
        let mut chore = Chore::default();
        let full = || Err::<usize, _>(StoreError::Io("database or disk is full".into()));
        assert_eq!(chore.report("retention step", Ok(3)), Some(3));
        assert!(!chore.failing);
        assert_eq!(chore.report("retention step", full()), None);
        assert!(chore.failing, "said; not again while it fails");
        assert_eq!(chore.report("retention step", full()), None);
        assert!(chore.failing);
        assert_eq!(chore.report("retention step", Ok(0)), Some(0));
        assert!(
            !chore.failing,
            "its recovery said; the next failure is said again"
        );
    }

    fn options(dir: &TempDir, fsync: Fsync) -> Options {
        Options {
            path: dir.db(),
            fsync,
            retention: Retention::default(),
            write_queue: 2000,
            read_queue: 16,
            search_queue: 16,
            recent: 3,
            recent_bytes: 1 << 20,
            query_time: Duration::from_secs(60),
        }
    }

    #[test]
    fn end_to_end() {
        let dir = TempDir::new("worker");
        let mut lp = Loop::new();
        let (store, start) = Store::open(options(&dir, Fsync::Batched), lp.waker.clone()).unwrap();
        assert_eq!(
            start,
            Start {
                last_pos: 0,
                last_time: 0,
                ahead: Vec::new(),
                events: 0,
                recent: Vec::new(),
                state: Vec::new(),
            }
        );
        for i in 1..=1000 {
            store
                .write(Arc::new(rec(
                    i,
                    if i % 2 == 0 { "#even" } else { "#odd" },
                    5000 + i,
                    "hello",
                )))
                .unwrap();
        }
        let mut last = 0;
        loop {
            match lp.next(&store, Duration::from_secs(5)) {
                Some(Done::Committed(p)) => {
                    assert!(p > last);
                    last = p;
                    if p == 1000 {
                        break;
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        store
            .query(Query {
                token: 42,
                count: 3,
                ..query(Scope::Topic("#even".into()))
            })
            .unwrap();
        match lp.next(&store, Duration::from_secs(5)) {
            Some(Done::Answer(42, Ok(page))) => {
                assert_eq!(
                    page.events.iter().map(|e| e.pos).collect::<Vec<_>>(),
                    [996, 998, 1000]
                );
                assert!(page.more);
            }
            other => panic!("{other:?}"),
        }
        // State saves: kept, replaced, deleted; those queued at close are written.
        store.save_state("#a", Some(b"one".to_vec())).unwrap();
        store.save_state("#b", Some(b"x".to_vec())).unwrap();
        store.save_state("#a", Some(b"two".to_vec())).unwrap();
        store.save_state("#b", None).unwrap();
        store.close();

        let (store, start) = Store::open(options(&dir, Fsync::Batched), lp.waker.clone()).unwrap();
        assert_eq!(
            (start.last_pos, start.last_time, start.events),
            (1000, 6000, 1000)
        );
        // The newest few, oldest first, for the server's memory.
        let recent: Vec<u64> = start.recent.iter().map(|r| r.pos).collect();
        assert_eq!(recent, [998, 999, 1000]);
        assert_eq!(start.state, [("#a".to_string(), b"two".to_vec())]);
        drop(store);
    }

    /// A state save queued before an Event is written no later than the Event's batch, so a
    /// crash never leaves the Event on disk without it.
    #[test]
    fn a_state_save_queued_before_an_event_is_on_disk_by_its_commit() {
        let dir = TempDir::new("save-order");
        let mut lp = Loop::new();
        let (store, _) = Store::open(options(&dir, Fsync::Always), lp.waker.clone()).unwrap();
        let on_disk = crate::store::sqlite::Db::open_reader(&dir.db()).unwrap();
        for i in 1..=20u64 {
            let key = format!("#k{i}");
            store.save_state(&key, Some(vec![1])).unwrap();
            store.write(Arc::new(rec(i, "#a", 5000 + i, "x"))).unwrap();
            lp.committed(&store, i);
            let state = on_disk.state().unwrap();
            assert!(state.iter().any(|(k, _)| *k == key), "{i}: {state:?}");
        }
        drop(store);
    }

    /// A save whose write fails (here another connection holds the write lock, as a full disk
    /// would also make it fail) is not dropped: it goes to disk with the Event queued after it,
    /// once writes work again (found by review: it was dropped, the Event committed without it).
    #[test]
    fn a_save_that_fails_is_written_with_the_next_event() {
        let dir = TempDir::new("save-fails");
        let mut lp = Loop::new();
        let (store, _) = Store::open(options(&dir, Fsync::Always), lp.waker.clone()).unwrap();
        let mut other = rusqlite::Connection::open(dir.db()).unwrap();
        let lock = other
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        store.save_state("#life", Some(vec![1])).unwrap();
        store.write(Arc::new(rec(1, "#life", 1, "closed"))).unwrap();
        match lp.next(&store, Duration::from_secs(5)) {
            Some(Done::Failing(_)) => {}
            d => panic!("{d:?}"),
        }
        lock.rollback().unwrap();
        store.flush();
        let other = lp.committed(&store, 1);
        // Told with the Event's commit: the save is on disk too.
        assert!(
            matches!(other.as_slice(), [Done::Recovered, Done::Saved(1)]),
            "{other:?}"
        );
        let on_disk = crate::store::sqlite::Db::open_reader(&dir.db()).unwrap();
        let state = on_disk.state().unwrap();
        assert_eq!(state, [("#life".to_string(), vec![1])]);
        drop(store);
    }

    /// The loop is told how many saves are on disk once they are ([`Done::Saved`], counting
    /// only those queued on their own), whether they went alone or with a batch of Events:
    /// under `--fsync always` the record of a change waits for it.
    #[test]
    fn the_saves_on_disk_are_counted_back_to_the_loop() {
        let dir = TempDir::new("save-count");
        let mut lp = Loop::new();
        let (store, _) = Store::open(options(&dir, Fsync::Always), lp.waker.clone()).unwrap();
        let on_disk = crate::store::sqlite::Db::open_reader(&dir.db()).unwrap();
        store.save_state("#a", Some(vec![1])).unwrap();
        store.save_state("#b", Some(vec![2])).unwrap();
        let mut told = 0;
        while told < 2 {
            match lp.next(&store, Duration::from_secs(5)) {
                Some(Done::Saved(n)) => {
                    assert!(n > told && n <= 2, "{n} after {told}");
                    told = n;
                }
                d => panic!("{d:?}"),
            }
        }
        assert_eq!(on_disk.state().unwrap().len(), 2, "on disk when told");
        // With a batch of Events, and beside a save riding on a Record (not counted).
        store.save_state("#c", Some(vec![3])).unwrap();
        let with = Some(("#d".into(), Some(vec![4])));
        store
            .write_saving(Arc::new(rec(1, "#a", 5001, "x")), with)
            .unwrap();
        // (Told before the Event's commit, or with it: never after.)
        let other = lp.committed(&store, 1);
        assert!(matches!(other.as_slice(), [Done::Saved(3)]), "{other:?}");
        assert_eq!(on_disk.state().unwrap().len(), 4);
        drop(store);
    }

    /// A save that fails on its own, with no Event behind it, is reported as a failed commit
    /// is, and its success once it works: under `--fsync always` a reply waits for it (found
    /// by review: a quiet server's failing saves were never reported).
    #[test]
    fn a_save_failing_alone_is_reported_and_so_is_its_recovery() {
        let dir = TempDir::new("save-alone-fails");
        let mut lp = Loop::new();
        let (store, _) = Store::open(options(&dir, Fsync::Always), lp.waker.clone()).unwrap();
        // Past the writer's first probe of the disk, which fails and recovers on its own.
        store.write(Arc::new(rec(1, "#a", 5001, "x"))).unwrap();
        assert!(lp.committed(&store, 1).is_empty());
        let mut other = rusqlite::Connection::open(dir.db()).unwrap();
        let lock = other
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        store.save_state("#k", Some(vec![1])).unwrap();
        match lp.next(&store, Duration::from_secs(10)) {
            Some(Done::Failing(_)) => {}
            d => panic!("{d:?}"),
        }
        lock.rollback().unwrap();
        assert!(matches!(
            lp.next(&store, Duration::from_secs(10)),
            Some(Done::Recovered)
        ));
        assert!(matches!(
            lp.next(&store, Duration::from_secs(10)),
            Some(Done::Saved(1))
        ));
        drop(store);
    }

    /// A save that comes with a Record is stored in its transaction, after (so over) a save of
    /// the same key queued before it, and before (so under) one queued after it.
    #[test]
    fn a_save_with_a_record_is_stored_with_it_in_order() {
        let dir = TempDir::new("save-with");
        let mut lp = Loop::new();
        let (store, _) = Store::open(options(&dir, Fsync::Always), lp.waker.clone()).unwrap();
        let on_disk = crate::store::sqlite::Db::open_reader(&dir.db()).unwrap();
        store.save_state("#k", Some(vec![1])).unwrap();
        let with = Some(("#k".into(), Some(vec![2])));
        store
            .write_saving(Arc::new(rec(1, "#a", 5001, "x")), with)
            .unwrap();
        lp.committed(&store, 1);
        assert_eq!(on_disk.state().unwrap(), [("#k".to_string(), vec![2])]);
        store.save_state("#k", None).unwrap();
        store.write(Arc::new(rec(2, "#a", 5002, "y"))).unwrap();
        lp.committed(&store, 2);
        assert!(on_disk.state().unwrap().is_empty());
        drop(store);
    }

    /// Saves queued together are written together (found by review: each went in its own
    /// transaction and fsync while the writer was idle, and a Record behind them waited for
    /// all of them).
    #[test]
    fn queued_saves_are_written_in_few_transactions() {
        let dir = TempDir::new("save-batch");
        let mut lp = Loop::new();
        let (store, _) = Store::open(options(&dir, Fsync::Always), lp.waker.clone()).unwrap();
        let n = 200;
        for i in 0..n {
            store.save_state(&format!("#c{i}"), Some(vec![1])).unwrap();
        }
        store.write(Arc::new(rec(1, "#a", 5001, "x"))).unwrap();
        lp.committed(&store, 1);
        let other = rusqlite::Connection::open(dir.db()).unwrap();
        let (busy, frames): (i64, i64) = other
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(busy, 0);
        assert!(frames < 50, "{n} saves and a Record took {frames} WAL frames");
        assert_eq!(
            other
                .query_row("SELECT count(*) FROM state", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            n
        );
    }

    /// The writer takes saves in the order they were sent, those riding with Records too: a
    /// later save of a key is never overwritten by an earlier one that rode with a Record
    /// still queued when the later one came (found by review), while the writer retries a
    /// failing batch and while it gathers one.
    #[test]
    fn saves_are_stored_in_the_order_they_were_sent() {
        for failing_then in [true, false] {
            let dir = TempDir::new("save-order-2");
            let mut lp = Loop::new();
            let (store, _) = Store::open(options(&dir, Fsync::Always), lp.waker.clone()).unwrap();
            let mut other = rusqlite::Connection::open(dir.db()).unwrap();
            let mut lock = Some(
                other
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .unwrap(),
            );
            store.write(Arc::new(rec(1, "#a", 5001, "x"))).unwrap();
            match lp.next(&store, Duration::from_secs(5)) {
                Some(Done::Failing(_)) => {}
                d => panic!("{d:?}"),
            }
            if !failing_then {
                // Queued while the writer sleeps between tries, taken as it gathers.
                lock.take().unwrap().rollback().unwrap();
            }
            let rode = Some(("#k".into(), Some(vec![1])));
            store
                .write_saving(Arc::new(rec(2, "#k", 5002, "mod")), rode)
                .unwrap();
            store.save_state("#k", Some(vec![2])).unwrap();
            store.save_state("#gone", Some(vec![3])).unwrap();
            let rode = Some(("#gone".into(), None));
            store
                .write_saving(Arc::new(rec(3, "#gone", 5003, "drop")), rode)
                .unwrap();
            if let Some(lock) = lock {
                lock.rollback().unwrap();
            }
            store.flush();
            lp.committed(&store, 3);
            let on_disk = crate::store::sqlite::Db::open_reader(&dir.db()).unwrap();
            assert_eq!(
                on_disk.state().unwrap(),
                [("#k".to_string(), vec![2])],
                "failing then: {failing_then}"
            );
            drop(store);
        }
    }

    use crate::store::sqlite::tests::PANICKING_QUERY;
    /// A topic whose write makes the idle writer panic (see `Writer::serve`).
    pub(super) const PANICKING_TOPIC: &str = "#panic";

    #[test]
    fn a_panic_is_survived_by_the_readers_and_reported_by_the_writer() {
        let dir = TempDir::new("panics");
        let mut lp = Loop::new();
        let (store, _) = Store::open(options(&dir, Fsync::Always), lp.waker.clone()).unwrap();
        let topic = || query(Scope::Topic("#a".into()));
        store
            .query(Query {
                token: PANICKING_QUERY,
                ..topic()
            })
            .unwrap();
        match lp.next(&store, Duration::from_secs(5)) {
            Some(Done::Answer(PANICKING_QUERY, Err(StoreError::Io(e)))) => {
                assert!(e.contains("panicked"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        // It panicked inside its read transaction: the next query still sees new commits.
        store.write(Arc::new(rec(1, "#a", 1, "kept"))).unwrap();
        assert!(lp.committed(&store, 1).is_empty());
        store.query(Query { token: 5, ..topic() }).unwrap();
        match lp.next(&store, Duration::from_secs(5)) {
            Some(Done::Answer(5, Ok(page))) => assert_eq!(page.events.len(), 1),
            other => panic!("{other:?}"),
        }

        store
            .write(Arc::new(rec(2, PANICKING_TOPIC, 2, "a bug")))
            .unwrap();
        assert!(matches!(
            lp.next(&store, Duration::from_secs(5)),
            Some(Done::Gone)
        ));
        assert!(store.write(Arc::new(rec(3, "#a", 3, "refused"))).is_err());
        assert!(lp.next(&store, Duration::from_millis(200)).is_none(), "said once");
        store.close();
    }

    #[test]
    fn always_commits_promptly() {
        let dir = TempDir::new("always");
        let mut lp = Loop::new();
        let (store, _) = Store::open(options(&dir, Fsync::Always), lp.waker.clone()).unwrap();
        let t = Instant::now();
        store.write(Arc::new(rec(1, "#a", 1, "now"))).unwrap();
        assert!(lp.committed(&store, 1).is_empty());
        assert!(t.elapsed() < BATCH_WINDOW, "{:?}", t.elapsed());
        store.close();
    }

    #[test]
    fn batched_gathers_until_the_window_or_a_flush() {
        let dir = TempDir::new("batched");
        let mut lp = Loop::new();
        let (store, _) = Store::open(options(&dir, Fsync::Batched), lp.waker.clone()).unwrap();
        let t = Instant::now();
        for i in 1..=10 {
            store.write(Arc::new(rec(i, "#a", i, "x"))).unwrap();
        }
        // One commit for all ten, at the end of the window.
        assert!(matches!(
            lp.next(&store, Duration::from_secs(5)),
            Some(Done::Committed(10))
        ));
        assert!(t.elapsed() >= BATCH_WINDOW);

        let t = Instant::now();
        store.write(Arc::new(rec(11, "#a", 11, "x"))).unwrap();
        store.flush();
        assert!(matches!(
            lp.next(&store, Duration::from_secs(5)),
            Some(Done::Committed(11))
        ));
        assert!(t.elapsed() < BATCH_WINDOW, "{:?}", t.elapsed());
        store.close();
    }

    #[test]
    fn failing_writes_are_kept_and_retried() {
        let dir = TempDir::new("failing");
        let mut lp = Loop::new();
        let opts = Options {
            write_queue: 2,
            ..options(&dir, Fsync::Always)
        };
        let (store, _) = Store::open(opts, lp.waker.clone()).unwrap();
        // Once the writer is serving (its probe at start is done)...
        store.write(Arc::new(rec(1, "#a", 1, "one"))).unwrap();
        assert!(lp.committed(&store, 1).is_empty());
        // ...another connection holding the write lock makes its commits fail.
        let mut other = rusqlite::Connection::open(dir.db()).unwrap();
        let lock = other
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        store.write(Arc::new(rec(2, "#a", 2, "two"))).unwrap();
        match lp.next(&store, Duration::from_secs(5)) {
            Some(Done::Failing(StoreError::Io(_))) => {}
            d => panic!("{d:?}"),
        }
        // Nothing more is taken while failing: the queue fills and refuses (its places for
        // Records, and the saves' reserve, which the core's own bound keeps Records out of).
        let last = 2 + 2 + STATE_QUEUE as u64;
        for pos in 3..=last {
            store.write(Arc::new(rec(pos, "#a", pos, "x"))).unwrap();
        }
        assert_eq!(
            store.write(Arc::new(rec(last + 1, "#a", last + 1, "x"))),
            Err(Full)
        );
        assert_eq!(store.save_state("#k", None), Err(Full));
        store.flush();
        lock.rollback().unwrap();
        assert!(matches!(
            lp.next(&store, Duration::from_secs(5)),
            Some(Done::Recovered)
        ));
        assert!(matches!(
            lp.next(&store, Duration::from_secs(5)),
            Some(Done::Committed(2))
        ));
        assert!(lp.committed(&store, last).is_empty());
        store.close();
        let db = Db::open(&dir.db()).unwrap();
        assert_eq!(db.count().unwrap(), last);
    }

    /// Found by QA: with the data directory removed (or a backup put in its place) while the
    /// server ran, Messages were still taken and echoed, written where nothing could read them
    /// after the stop, which then exited 0.
    #[test]
    fn a_store_file_removed_or_replaced_takes_no_writes_until_it_is_back() {
        let dir = TempDir::new("moved");
        let mut lp = Loop::new();
        let (store, _) = Store::open(options(&dir, Fsync::Always), lp.waker.clone()).unwrap();
        store.write(Arc::new(rec(1, "#a", 1, "one"))).unwrap();
        assert!(lp.committed(&store, 1).is_empty());
        let aside = dir.0.join("aside.db");
        // Said by an idle writer, before anything is written.
        std::fs::rename(dir.db(), &aside).unwrap();
        assert!(matches!(
            lp.next(&store, Duration::from_secs(5)),
            Some(Done::Failing(_))
        ));
        std::fs::rename(&aside, dir.db()).unwrap();
        assert!(matches!(
            lp.next(&store, Duration::from_secs(5)),
            Some(Done::Recovered)
        ));
        // And by a writer with something to write.
        std::fs::rename(dir.db(), &aside).unwrap();
        thread::sleep(Duration::from_millis(150));
        store.write(Arc::new(rec(2, "#a", 2, "two"))).unwrap();
        match lp.next(&store, Duration::from_secs(5)) {
            Some(Done::Failing(StoreError::Io(e))) => assert!(e.contains("removed or replaced"), "{e}"),
            d => panic!("{d:?}"),
        }
        std::fs::rename(&aside, dir.db()).unwrap();
        assert!(matches!(
            lp.next(&store, Duration::from_secs(5)),
            Some(Done::Recovered)
        ));
        assert!(lp.committed(&store, 2).is_empty());
        // Gone again at the stop: what it holds is counted as lost, not written out of reach.
        std::fs::rename(dir.db(), &aside).unwrap();
        thread::sleep(Duration::from_millis(150));
        store.write(Arc::new(rec(3, "#a", 3, "three"))).unwrap();
        assert!(matches!(
            lp.next(&store, Duration::from_secs(5)),
            Some(Done::Failing(_))
        ));
        assert_eq!(
            store.close(),
            Closed {
                lost: 1,
                file_gone: true
            }
        );
        // (Its write-ahead log stayed under the old name: the file goes back beside it.)
        std::fs::rename(&aside, dir.db()).unwrap();
        let db = Db::open(&dir.db()).unwrap();
        assert_eq!(db.count().unwrap(), 2);
    }

    #[test]
    fn close_while_failing_gives_up_quickly() {
        let dir = TempDir::new("giveup");
        let mut lp = Loop::new();
        let (store, _) = Store::open(options(&dir, Fsync::Always), lp.waker.clone()).unwrap();
        // A position SQLite cannot hold: this batch can never be written.
        store.write(Arc::new(rec(u64::MAX, "#a", 1, "poison"))).unwrap();
        assert!(matches!(
            lp.next(&store, Duration::from_secs(5)),
            Some(Done::Failing(_))
        ));
        // A change recorded by the Event behind it goes with that Event, not to disk alone.
        let change = Some(("#a".into(), Some(vec![1])));
        store
            .write_saving(Arc::new(rec(1, "#a", 2, "queued behind it")), change)
            .unwrap();
        let t = Instant::now();
        assert_eq!(store.close().lost, 2, "both Events are counted as lost");
        assert!(t.elapsed() < RETRY, "{:?}", t.elapsed());
        let db = Db::open(&dir.db()).unwrap();
        assert_eq!(db.count().unwrap(), 0);
        assert!(db.state().unwrap().is_empty());
    }

    #[test]
    fn drop_commits_what_is_queued() {
        let dir = TempDir::new("drop");
        let lp = Loop::new();
        let (store, _) = Store::open(options(&dir, Fsync::Batched), lp.waker.clone()).unwrap();
        for i in 1..=50 {
            store.write(Arc::new(rec(i, "#a", i, "x"))).unwrap();
        }
        drop(store);
        let db = Db::open(&dir.db()).unwrap();
        assert_eq!((db.count().unwrap(), db.last_pos().unwrap()), (50, 50));
    }

    #[test]
    fn idle_writer_applies_retention() {
        let dir = TempDir::new("retention");
        let mut lp = Loop::new();
        let retention = Retention {
            default: Rule {
                max_events: Some(5),
                max_age: None,
            },
            ..Default::default()
        };
        let (store, _) = Store::open(
            Options {
                retention,
                ..options(&dir, Fsync::Always)
            },
            lp.waker.clone(),
        )
        .unwrap();
        for i in 1..=20 {
            store.write(Arc::new(rec(i, "#a", i, "x"))).unwrap();
        }
        lp.committed(&store, 20);
        let reader = Db::open_reader(&dir.db()).unwrap();
        let deadline = Instant::now() + IDLE * 3;
        while reader.count().unwrap() != 5 {
            assert!(
                Instant::now() < deadline,
                "not pruned: {}",
                reader.count().unwrap()
            );
            thread::sleep(Duration::from_millis(20));
        }
        store.close();
    }

    #[test]
    fn unwritable_data_dir_fails_at_open() {
        let dir = TempDir::new("unwritable");
        let file = dir.0.join("file");
        std::fs::write(&file, b"x").unwrap();
        let lp = Loop::new();
        let opts = Options {
            path: file.join("history.db"),
            ..options(&dir, Fsync::Batched)
        };
        match Store::open(opts, lp.waker.clone()) {
            Err(StoreError::Io(m)) => assert!(m.contains(&*file.to_string_lossy()), "{m}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("opened under a regular file"),
        }
    }
}
