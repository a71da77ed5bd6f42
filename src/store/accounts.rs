//! The accounts thread: checks passwords and registers accounts off the poll loop (an Argon2id
//! check costs tens of milliseconds of CPU), behind a bounded queue, and hands verdicts back
//! through the loop's `mio::Waker`. It also notices accounts that `scalard account` added or
//! deleted in the database and sends the loop the new list of names.

use super::StoreError;
use super::password;
use super::sqlite::Db;
use crate::server::{ConnId, PasswordCheck, Verdict};
use mio::Waker;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Password checks that may wait for the thread; more are refused (`auth_throttled`). At about
/// 30 ms a check, a full queue is a second's work.
pub const QUEUE: usize = 32;
/// How often the thread looks for account changes made by other processes.
const POLL: Duration = Duration::from_secs(1);

/// A registered ID, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The ID.
    pub name: Box<str>,
    /// When the account was made (Unix ms): one deleted and made again is another account.
    pub created: u64,
    /// The first position that is the account's: its holder reads the direct messages from
    /// there on, not those sent to the name before (0 for accounts older than this rule;
    /// [`UNSTARTED`] until a server with history has learned of it).
    pub from_pos: u64,
    /// Which password it has ([`password_key`] of its hash): the sessions that logged in with
    /// another are closed when it changes.
    pub password: u64,
}

/// A deletion `scalard account del` marked for the server (see `server::saved::DELETED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedMark {
    /// Its key in the store's state, for the server to remove once it has acted on it.
    pub key: Box<str>,
    /// The account's name.
    pub name: Box<str>,
    /// When the deleted account was made (Unix ms); `None` from versions that did not say.
    pub created: Option<u64>,
}

/// The start ([`Account::from_pos`]) of an account that no server has placed yet: `scalard
/// account add` cannot know which positions a running server has handed out, and delivered
/// to the name, before it learns of the account (up to a second later), so it leaves the
/// start to the server, which sets it to its next position ([`AccountStart`]; a server
/// starting sets it to the one after the last stored). Past every position, so meanwhile
/// the account reads nothing.
pub const UNSTARTED: u64 = i64::MAX as u64;

/// Where a server placed an account's start: its next position when it learned of an
/// [`UNSTARTED`] account, for the store to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountStart {
    /// The account.
    pub name: Box<str>,
    /// When it was made ([`Account::created`]): an account deleted and made again since is
    /// another, which this start is not for.
    pub created: u64,
    /// Its first position.
    pub from_pos: u64,
}

/// A number standing for the password whose stored hash is `hash`, never 0 (which stands for
/// none known): a new password (its hash has a new salt) gets another, but for a chance of
/// 2^-64. Not the hash itself, which the loop has no need to hold.
pub fn password_key(hash: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let h = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    h.hash_one(hash).max(1)
}

/// Every registered account.
pub type AccountList = Vec<Account>;

/// The accounts thread's answer to one [`PasswordCheck`].
#[derive(Debug)]
pub struct Checked {
    /// The account as the store holds it, for an accepted login, registration or change and
    /// for a wrong password: the loop's list may be a second old (the account added, or
    /// deleted and made again, or its password changed, since).
    pub account: Option<Account>,
    /// The name, for a registration: its end frees or settles the name in the loop even if
    /// the connection that asked is gone.
    pub registered: Option<Box<str>>,
    /// The connection that asked.
    pub conn: ConnId,
    /// Its attempt.
    pub ticket: u64,
    /// The answer.
    pub verdict: Verdict,
}

/// What the accounts thread hands back.
#[derive(Debug)]
pub enum AccountsDone {
    /// The verdict on one [`PasswordCheck`].
    Verdict(Checked),
    /// The accounts changed: every registered ID, with when it was created (Unix ms); and the
    /// names `scalard account del` marked as deleted (see `server::saved::DELETED`), which
    /// the loop forgets as deleted (even if they are accounts again) and unmarks.
    Names {
        /// Every account.
        accounts: AccountList,
        /// The deletions marked.
        deleted: Vec<DeletedMark>,
    },
}

/// What the accounts thread is asked to do.
enum Job {
    Check(PasswordCheck),
    Start(AccountStart),
}

/// The running accounts thread.
pub struct Accounts {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<AccountsDone>,
    thread: Option<JoinHandle<()>>,
}

impl Accounts {
    /// Opens the database at `path` (applying migrations) and starts the thread. Returns it
    /// and the registered IDs, with when each was created (Unix ms).
    pub fn open(path: &Path, waker: Arc<Waker>) -> Result<(Accounts, AccountList), StoreError> {
        let db = Db::open(path)?;
        // The names last: an account added in between is then in them as well as (at the
        // next look) in a moved count, which costs one extra reload, where the other order
        // would miss it.
        let version = db.data_version()?;
        let changes = db.account_changes()?;
        let names = db.accounts()?;
        let (jtx, jrx) = mpsc::sync_channel(QUEUE);
        let (dtx, drx) = mpsc::channel();
        let worker = Worker {
            db,
            jobs: jrx,
            done: dtx,
            waker,
            version,
            changes,
            last_look: Instant::now(),
            unsaved: Vec::new(),
        };
        let thread = thread::Builder::new()
            .name("scalard-accounts".into())
            .spawn(move || worker.run())
            .map_err(|e| StoreError::Io(format!("cannot start the accounts thread: {e}")))?;
        let accounts = Accounts {
            jobs: Some(jtx),
            done: drx,
            thread: Some(thread),
        };
        Ok((accounts, names))
    }

    /// Queues a check; false if the queue is full or the thread is gone. Never blocks.
    pub fn verify(&self, job: PasswordCheck) -> bool {
        self.queue(Job::Check(job))
    }

    /// Queues a start for the store to keep; false if the queue is full or the thread is
    /// gone. Never blocks. (The loop hands it again at its next tick.)
    pub fn keep_start(&self, start: AccountStart) -> bool {
        self.queue(Job::Start(start))
    }

    fn queue(&self, job: Job) -> bool {
        self.jobs.as_ref().is_some_and(|j| j.try_send(job).is_ok())
    }

    /// The next result, if one is ready.
    pub fn try_done(&self) -> Option<AccountsDone> {
        self.done.try_recv().ok()
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        // Closing the queue ends the thread after the check in hand.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    db: Db,
    jobs: Receiver<Job>,
    done: Sender<AccountsDone>,
    waker: Arc<Waker>,
    /// The database's `data_version` at the last look: unchanged means no other connection
    /// committed anything.
    version: i64,
    /// The account change count the names sent last correspond to.
    changes: i64,
    last_look: Instant,
    /// Starts the store did not take (locked, failing): tried again at each look. One per
    /// account, at most as many as the operator added.
    unsaved: Vec<AccountStart>,
}

impl Worker {
    fn run(mut self) {
        // To the lowest priority: when the poll loop and a password check both want a core, the
        // loop wins almost every time slice, so a storm of logins slows logins, not chat.
        // Measured with scalar-bench login-storm (PERFORMANCE.md).
        super::yield_to_the_loop(super::LOWEST_PRIORITY, "accounts");
        loop {
            match self.jobs.recv_timeout(POLL) {
                Ok(Job::Start(start)) => {
                    self.keep_start(start, false);
                }
                Ok(Job::Check(job)) => {
                    let (verdict, account) = self.check(&job);
                    let d = AccountsDone::Verdict(Checked {
                        account,
                        registered: job.register.then(|| job.user.clone()),
                        conn: job.conn,
                        ticket: job.ticket,
                        verdict,
                    });
                    self.send(d);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // Also between checks: a steady stream of logins must not keep the loop from
            // hearing of an account the operator just added.
            if self.last_look.elapsed() >= POLL {
                self.last_look = Instant::now();
                // Stopping at the first that fails: each may wait out the store's busy
                // timeout, and password checks wait behind them.
                let mut unsaved = std::mem::take(&mut self.unsaved).into_iter();
                for start in unsaved.by_ref() {
                    if !self.keep_start(start, true) {
                        break;
                    }
                }
                self.unsaved.extend(unsaved);
                self.reload();
            }
        }
    }

    fn send(&self, d: AccountsDone) {
        if self.done.send(d).is_ok()
            && let Err(e) = self.waker.wake()
        {
            log::warn!("accounts: cannot wake the poll loop: {e}");
        }
    }

    /// Sends the list of names if another connection (or process) added or deleted an account.
    fn reload(&mut self) {
        match self.db.data_version() {
            Ok(v) if v == self.version => return,
            Ok(v) => self.version = v,
            Err(e) => return log::warn!("accounts: {e}"),
        }
        // Most commits are the history writer's: only a changed count means new names.
        let fresh = self.db.account_changes().and_then(|n| match n == self.changes {
            true => Ok(None),
            false => Ok(Some((n, self.db.accounts()?, self.db.deleted_marks()?))),
        });
        match fresh {
            Ok(None) => {}
            Ok(Some((n, accounts, deleted))) => {
                self.changes = n;
                log::info!("accounts: reloaded, {} accounts", accounts.len());
                self.send(AccountsDone::Names { accounts, deleted });
            }
            Err(e) => {
                log::warn!("accounts: {e}");
                // The next look tries again.
                self.version = i64::MIN;
            }
        }
    }

    /// Keeps `s` in the store; `again` for a retry, which is said only once it works. False if
    /// the store failed (`s` waits for the next look).
    fn keep_start(&mut self, s: AccountStart, again: bool) -> bool {
        match self.db.start_account(&s.name, s.created, s.from_pos) {
            Ok(true) if again => log::info!("accounts: where {} starts is kept now", s.name),
            Ok(true) => log::debug!("accounts: {} starts at position {}", s.name, s.from_pos),
            // Deleted, or deleted and made again, meanwhile: the loop learns of that next.
            Ok(false) => {}
            // The loop reads by the start meanwhile; a restart before it is kept would start
            // the account later, after what came meanwhile.
            Err(e) => {
                if !again {
                    log::error!("accounts: {}: {e}; tried again every second", s.name);
                }
                self.unsaved.retain(|u| u.name != s.name);
                self.unsaved.push(s);
                return false;
            }
        }
        true
    }

    fn check(&mut self, job: &PasswordCheck) -> (Verdict, Option<Account>) {
        // The hash the password was checked against, for a login.
        let mut checked = None;
        let result = match &job.new_password {
            _ if job.register => self.register(job),
            Some(new) => self.change(job, new.expose()),
            None => self.login(job),
        };
        let result = result.map(|(verdict, hash)| {
            checked = hash;
            verdict
        });
        let verdict = result.unwrap_or_else(|e| {
            log::error!("accounts: {}: {e}", job.user);
            Verdict::Failed
        });
        self.settle(job, verdict, checked)
    }

    /// The verdict on `job` as the account is now, with the account for the loop: `checked` is
    /// the hash a login's password was checked against, which may have changed meanwhile.
    fn settle(
        &self,
        job: &PasswordCheck,
        verdict: Verdict,
        checked: Option<String>,
    ) -> (Verdict, Option<Account>) {
        if verdict == Verdict::Rejected && !job.register {
            // The loop tells a wrong password from no account by whether it knows the
            // account, which it may not yet for one the operator added a moment ago.
            return (verdict, self.db.account(&job.user).ok().flatten());
        }
        if verdict != Verdict::Accepted {
            return (verdict, None);
        }
        match self.db.account(&job.user) {
            // The password changed while this one was being checked (`scalard account
            // passwd`): the old one, right a moment ago, is wrong now. The account goes back
            // so that the loop learns of the change.
            Ok(Some(a)) if checked.is_some_and(|h| password_key(&h) != a.password) => {
                (Verdict::Rejected, Some(a))
            }
            Ok(Some(a)) => (verdict, Some(a)),
            // Deleted in between: what was proved is gone.
            Ok(None) => (Verdict::Rejected, None),
            Err(e) => {
                log::error!("accounts: {}: {e}", job.user);
                (Verdict::Failed, None)
            }
        }
    }

    /// The verdict on a login, and the hash the password was checked against.
    fn login(&self, job: &PasswordCheck) -> Result<(Verdict, Option<String>), String> {
        let Some(hash) = self.db.account_hash(&job.user).map_err(|e| e.to_string())? else {
            return Ok((Verdict::Rejected, None));
        };
        let ok = password::verify(job.password.expose(), &hash).map_err(|e| e.to_string())?;
        Ok((if ok { Verdict::Accepted } else { Verdict::Rejected }, Some(hash)))
    }

    /// The verdict on a change of password (SetPassword), and the hash the account has after
    /// it: the new one once it is stored.
    fn change(&mut self, job: &PasswordCheck, new: &[u8]) -> Result<(Verdict, Option<String>), String> {
        let (verdict, old) = self.login(job)?;
        let (Verdict::Accepted, Some(old)) = (verdict, old.as_deref()) else {
            return Ok((verdict, old));
        };
        let hash = password::hash(new).map_err(|e| e.to_string())?;
        // Only over the hash just checked: one changed meanwhile (`scalard account passwd`)
        // made the proof stale, as for a login.
        if !self
            .db
            .replace_account_hash(&job.user, old, &hash)
            .map_err(|e| e.to_string())?
        {
            return Ok((Verdict::Rejected, None));
        }
        // The loop learns of the change from the verdict, as of a registration.
        self.changes += 1;
        Ok((Verdict::Accepted, Some(hash)))
    }

    fn register(&mut self, job: &PasswordCheck) -> Result<(Verdict, Option<String>), String> {
        let hash = password::hash(job.password.expose()).map_err(|e| e.to_string())?;
        let now = crate::client::unix_ms();
        let created = self
            .db
            .add_account(&job.user, &hash, now, job.from_pos)
            .map_err(|e| e.to_string())?;
        // The loop learns this name from the verdict, so the one change it made to the count
        // does not call for a reload; one made by `scalard account` meanwhile still does.
        Ok(if created {
            self.changes += 1;
            (Verdict::Accepted, None)
        } else {
            (Verdict::Taken, None)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Password;
    use crate::store::sqlite::tests::TempDir;

    fn login(user: &str, password: &str) -> PasswordCheck {
        PasswordCheck {
            conn: 1,
            ticket: 1,
            user: user.into(),
            password: Password::new(password),
            register: false,
            from_pos: 0,
            new_password: None,
        }
    }

    /// A test worker on the database at `path`.
    fn worker(path: &Path, poll: &mio::Poll) -> Worker {
        Worker {
            db: Db::open(path).unwrap(),
            jobs: mpsc::sync_channel(1).1,
            done: mpsc::channel().0,
            waker: Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap()),
            version: 0,
            changes: 0,
            last_look: Instant::now(),
            unsaved: Vec::new(),
        }
    }

    /// SetPassword's check: a right current password stores the new one (the account sent
    /// back holds its key), a wrong one changes nothing and is a wrong password.
    #[test]
    fn a_change_of_password_needs_the_current_one() {
        let dir = TempDir::new("change");
        let path = dir.0.join("a.db");
        let operator = Db::open(&path).unwrap();
        let old = password::hash(b"old password").unwrap();
        assert!(operator.add_account("alice@x", &old, 1, 0).unwrap());
        let poll = mio::Poll::new().unwrap();
        let mut worker = worker(&path, &poll);
        let change = |current: &str| PasswordCheck {
            new_password: Some(Password::new("new password")),
            ..login("alice@x", current)
        };
        let (verdict, account) = worker.check(&change("wrong password"));
        assert_eq!(verdict, Verdict::Rejected);
        assert_eq!(account.map(|a| a.password), Some(password_key(&old)));
        assert_eq!(operator.account_hash("alice@x").unwrap(), Some(old.clone()));

        let (verdict, account) = worker.check(&change("old password"));
        assert_eq!(verdict, Verdict::Accepted);
        let new = operator.account_hash("alice@x").unwrap().unwrap();
        assert!(password::verify(b"new password", &new).unwrap());
        assert_eq!(account.map(|a| a.password), Some(password_key(&new)));
        assert_eq!(worker.changes, 1, "no reload needed for it");
        // The old one is wrong from now on, for a login and for another change alike.
        assert_eq!(
            worker.check(&login("alice@x", "old password")).0,
            Verdict::Rejected
        );
        assert_eq!(worker.check(&change("old password")).0, Verdict::Rejected);
    }

    /// After `scalard account passwd`, the old password changes nothing: the store replaces a
    /// hash only while it is the one checked (so that a reset landing between the check and
    /// the store stands too), and the worker refuses the change with the account as it is.
    #[test]
    fn a_change_over_an_operator_s_is_refused() {
        let dir = TempDir::new("change-race");
        let path = dir.0.join("a.db");
        let operator = Db::open(&path).unwrap();
        let old = password::hash(b"old password").unwrap();
        assert!(operator.add_account("alice@x", &old, 1, 0).unwrap());
        let reset = password::hash(b"reset by the operator").unwrap();
        assert!(operator.set_account_hash("alice@x", &reset).unwrap());
        assert!(!operator.replace_account_hash("alice@x", &old, "x").unwrap());
        assert_eq!(operator.account_hash("alice@x").unwrap(), Some(reset.clone()));
        let poll = mio::Poll::new().unwrap();
        let mut worker = worker(&path, &poll);
        let job = PasswordCheck {
            new_password: Some(Password::new("new password")),
            ..login("alice@x", "old password")
        };
        let (verdict, account) = worker.check(&job);
        assert_eq!(verdict, Verdict::Rejected);
        assert_eq!(account.map(|a| a.password), Some(password_key(&reset)));
    }

    /// `scalard account passwd` lands while the old password is being checked: the login is
    /// refused, and the loop learns the new password's key from the account sent back. (Driven
    /// step by step: a test that slept into the check failed when the check won the race.)
    #[test]
    fn a_password_changed_during_its_check_is_wrong_by_the_verdict() {
        let dir = TempDir::new("passwd-race");
        let path = dir.0.join("a.db");
        let operator = Db::open(&path).unwrap();
        let old = password::hash(b"old password").unwrap();
        assert!(operator.add_account("alice@x", &old, 1, 0).unwrap());
        let poll = mio::Poll::new().unwrap();
        let worker = worker(&path, &poll);
        let job = login("alice@x", "old password");
        let (verdict, checked) = worker.login(&job).unwrap();
        assert_eq!(verdict, Verdict::Accepted);
        let new = password::hash(b"new password").unwrap();
        assert!(operator.set_account_hash("alice@x", &new).unwrap());
        let (verdict, account) = worker.settle(&job, verdict, checked);
        assert_eq!(verdict, Verdict::Rejected);
        assert_eq!(account.map(|a| a.password), Some(password_key(&new)));
        // Unchanged, it stands.
        let job = login("alice@x", "new password");
        let (verdict, checked) = worker.login(&job).unwrap();
        let (verdict, account) = worker.settle(&job, verdict, checked);
        assert_eq!(verdict, Verdict::Accepted);
        assert_eq!(account.map(|a| a.password), Some(password_key(&new)));
    }

    /// Through the thread: a login after the change is refused, with the account.
    #[test]
    fn a_login_with_a_changed_password_is_refused_with_the_account() {
        let dir = TempDir::new("passwd-after");
        let path = dir.0.join("a.db");
        let operator = Db::open(&path).unwrap();
        let old = password::hash(b"old password").unwrap();
        assert!(operator.add_account("alice@x", &old, 1, 0).unwrap());
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let (accounts, _) = Accounts::open(&path, waker).unwrap();
        let new = password::hash(b"new password").unwrap();
        assert!(operator.set_account_hash("alice@x", &new).unwrap());
        assert!(accounts.verify(login("alice@x", "old password")));
        let deadline = Instant::now() + Duration::from_secs(10);
        let done = loop {
            match accounts.try_done() {
                Some(AccountsDone::Verdict(d)) => break d,
                _ if Instant::now() > deadline => panic!("no verdict"),
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        let Checked { verdict, account, .. } = done;
        assert_eq!(verdict, Verdict::Rejected);
        assert_eq!(account.map(|a| a.password), Some(password_key(&new)));
    }
}
