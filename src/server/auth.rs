//! Who may take which ID: the operator's policy, guests, and the Challenge/Auth dance
//! (docs/PROTOCOL.md §4, Authentication). Checking a password costs tens of milliseconds, so
//! the core never does it: it hands a [`PasswordCheck`] to the shell's accounts thread and picks the
//! session up again in [`Server::verified`] when the [`Verdict`] comes back.

use super::guest::{asked_name, is_guest_name, is_service_name, new_guest};
use super::refused::{BUSY_WAIT, ceil_secs};
use super::throttle::{Throttle, Wait};
use super::{ConnId, Now, Outbox, Server, deleted_name};
use crate::proto::*;
use crate::store::accounts::{Account, AccountStart, Checked, DeletedMark, UNSTARTED};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Who may take an ID that is not a registered account, without a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone may take any unregistered ID, as asked.
    Open,
    /// Clients without a password get a guest ID the server chooses.
    Guests,
    /// Only accounts: a client without a password is refused.
    Accounts,
}

impl Policy {
    /// Every policy.
    pub const ALL: [Policy; 3] = [Policy::Open, Policy::Guests, Policy::Accounts];

    /// Its name in the configuration (`--auth`).
    pub fn name(self) -> &'static str {
        match self {
            Policy::Open => "open",
            Policy::Guests => "guests",
            Policy::Accounts => "accounts",
        }
    }
}

/// The operator's authentication settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Who may take which unregistered ID.
    pub policy: Policy,
    /// Whether clients may create accounts (Ident with `register`).
    pub registration: bool,
    /// Failed attempts an account may have in a row before it must wait.
    pub burst_per_user: u32,
    /// Failed attempts an address may have in a row before it must wait.
    pub burst_per_addr: u32,
    /// How often one failure is forgiven, per account and per address.
    pub leak_per_user: Duration,
    /// See [`leak_per_user`](AuthConfig::leak_per_user).
    pub leak_per_addr: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            policy: Policy::Open,
            registration: false,
            burst_per_user: 5,
            burst_per_addr: 20,
            leak_per_user: Duration::from_secs(12),
            leak_per_addr: Duration::from_secs(3),
        }
    }
}

/// At most this many accounts and addresses are counted by each throttle table.
const THROTTLE_KEYS: usize = 65_536;
/// A password on its way to the accounts thread. Its bytes are wiped when it is dropped and it
/// never prints, so it lingers in memory as briefly as the code allows and never in a log.
pub struct Password(Box<[u8]>);

impl Password {
    /// Takes a copy of `s`.
    pub fn new(s: &str) -> Self {
        Password(s.as_bytes().into())
    }

    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: a valid, aligned, exclusive reference; the volatile write keeps the
            // compiler from dropping the wipe as a dead store.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password check for the accounts thread.
#[derive(Debug)]
pub struct PasswordCheck {
    /// The connection waiting for it.
    pub conn: ConnId,
    /// Which attempt this is, so a verdict for a connection that went away (and whose slot was
    /// reused) is not applied to its successor.
    pub ticket: u64,
    /// The account.
    pub user: Box<str>,
    /// What the client sent.
    pub password: Password,
    /// Create the account with this password instead of checking it.
    pub register: bool,
    /// For `register`: the first position that is the new account's (the next one the core
    /// hands out), so that what was sent to the name before is not its holder's.
    pub from_pos: u64,
    /// The account's password from now on, if `password` is right (SetPassword).
    pub new_password: Option<Password>,
}

/// The accounts thread's answer to a [`PasswordCheck`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password is right, or the account was created.
    Accepted,
    /// Wrong password, or no such account.
    Rejected,
    /// Registering a name that is already an account.
    Taken,
    /// The store failed; try again later.
    Failed,
}

/// Who made a name an account, which the sessions holding it without its password are told
/// as they are closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MadeBy {
    /// A client's registration, from the holder's own host.
    Registration,
    /// The operator, on the server (`scalard account add`), found by a look at the store.
    Operator,
}

/// Where a connection is in the dance.
pub(super) enum Dance {
    /// A Challenge was sent; the next Auth must carry this nonce.
    Challenged {
        nonce: Nonce,
        user: Box<str>,
        register: bool,
    },
    /// The password is being checked; the connection's input is held until the verdict.
    Verifying {
        ticket: u64,
        user: Box<str>,
        /// Whether the attempt is counted by name too ([`Accounts::begin`]).
        by_name: bool,
        register: bool,
        from_pos: u64,
        seq: Option<u32>,
        since: Instant,
    },
    /// An identified session's change of its password is being checked (SetPassword); input
    /// is held meanwhile.
    Changing {
        ticket: u64,
        user: Box<str>,
        seq: Option<u32>,
        since: Instant,
    },
    /// A foreign ID's home server is being asked about its token; input is held meanwhile.
    Vouching {
        ticket: u64,
        user: Box<str>,
        token: Box<[u8]>,
        seq: Option<u32>,
        since: Instant,
    },
}

impl std::fmt::Debug for Dance {
    /// The stage and the ID only: nonces and tokens are credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (stage, user) = match self {
            Dance::Challenged { user, .. } => ("Challenged", user),
            Dance::Verifying { user, .. } => ("Verifying", user),
            Dance::Changing { user, .. } => ("Changing", user),
            Dance::Vouching { user, .. } => ("Vouching", user),
        };
        write!(f, "{stage}({user})")
    }
}

/// The handshake timeout does not count the time the server spent checking (PROTOCOL.md §4):
/// the session's clock moves on by that much.
pub(super) fn stop_the_clock(s: &mut super::session::Session, since: Instant, now: &Now) {
    s.accepted += now.mono.saturating_duration_since(since);
}

/// What the core knows of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Known {
    /// When it was made (Unix ms), as the store says; `None` for one registered since the
    /// store's list was read.
    pub created: Option<u64>,
    /// The first position that is its own (see [`Account::from_pos`]).
    pub from_pos: u64,
    /// Which password it has ([`Account::password`]); 0 for not known yet.
    pub password: u64,
}

impl Known {
    /// A registration the store has not confirmed yet, whose account starts at `from_pos`.
    fn pending(from_pos: u64) -> Self {
        Known {
            created: None,
            from_pos,
            password: 0,
        }
    }
}

impl From<&Account> for Known {
    fn from(a: &Account) -> Self {
        Known {
            created: Some(a.created),
            from_pos: a.from_pos,
            password: a.password,
        }
    }
}

/// Whether `mark` is of another account than the one of its name in `held`: the server
/// learned of the new one at a login since the deletion, and closed the old one's sessions
/// then; those logged in now are of the new one.
fn stale_mark(mark: &DeletedMark, held: &HashMap<Box<str>, Option<Known>>) -> bool {
    let held = held.get(&mark.name).copied().flatten().and_then(|k| k.created);
    matches!((mark.created, held), (Some(m), Some(h)) if m != h)
}

/// Whether `k` is a registration the store has not confirmed yet.
fn pending(k: &Option<Known>) -> bool {
    k.is_some_and(|k| k.created.is_none())
}

/// The core's authentication state.
#[derive(Debug)]
pub(super) struct Accounts {
    pub config: AuthConfig,
    /// Whether accounts exist at all (a server without a data directory has none).
    pub available: bool,
    /// The registered IDs, as last read from the store or registered since; what is known of
    /// each (`None` for one another client's registration found taken: it exists, nothing
    /// more is known until the store's next list).
    pub names: HashMap<Box<str>, Option<Known>>,
    by_user: Throttle<Box<str>>,
    by_addr: Throttle<IpAddr>,
    /// Each account's changes of password that went through (SetPassword): each costs the
    /// accounts thread two hashes, so they are bounded as failures are, but apart from the
    /// logins' count, which they must not use up (found in review).
    changes: Throttle<Box<str>>,
    /// The last attempt number handed out (password checks and token checks alike).
    pub tickets: u64,
    /// The keys of the marks `scalard account del` left for accounts it deleted while the
    /// server was down (read from the store at start, acted on once the account list is in).
    pub deleted_offline: Vec<Box<str>>,
    /// The data directory the accounts are in, for the commands the log suggests.
    pub dir: Option<Box<str>>,
    /// Whether the operator was told that registrations stopped at `max-accounts`, since
    /// the server last had room.
    pub full_told: bool,
    /// Account starts placed but not yet handed to the accounts thread (its queue was full):
    /// one per account, so at most as many as the operator added.
    pub unsent: Vec<AccountStart>,
}

impl Accounts {
    pub fn new(config: AuthConfig) -> Self {
        Accounts {
            by_user: Throttle::new(config.burst_per_user, config.leak_per_user, THROTTLE_KEYS),
            by_addr: Throttle::new(config.burst_per_addr, config.leak_per_addr, THROTTLE_KEYS),
            changes: Throttle::new(config.burst_per_user, config.leak_per_user, THROTTLE_KEYS),
            config,
            available: false,
            names: HashMap::new(),
            tickets: 0,
            deleted_offline: Vec::new(),
            dir: None,
            full_told: false,
            unsent: Vec::new(),
        }
    }

    pub fn prune(&mut self, now: &Now) {
        self.by_user.prune(now.mono);
        self.by_addr.prune(now.mono);
        self.changes.prune(now.mono);
    }

    /// Why `user` from `addr` may not change its password now ([`wait`](Accounts::wait), or
    /// too many changes lately), if it may not.
    pub fn change_wait(&self, user: &str, addr: IpAddr, now: &Now) -> Option<Wait> {
        self.wait(user, addr, now)
            .or_else(|| self.changes.wait(&user.into(), now.mono))
    }

    /// `user` changed its password.
    pub fn changed(&mut self, user: &str, now: Instant) {
        self.changes.fail(&user.into(), now);
    }

    /// Why `user` from `addr` may not try now, if it may not: the longer of the two waits
    /// for failures, else too many attempts in flight.
    pub fn wait(&self, user: &str, addr: IpAddr, now: &Now) -> Option<Wait> {
        let waits = [
            self.by_addr.wait(&addr, now.mono),
            self.by_user.wait(&user.into(), now.mono),
        ];
        let failed = waits
            .iter()
            .filter_map(|w| match w {
                Some(Wait::Failed(d)) => Some(*d),
                _ => None,
            })
            .max();
        failed
            .map(Wait::Failed)
            .or_else(|| waits.into_iter().flatten().next())
    }

    /// An attempt from `addr` is being checked, counted by `name` too when one is given (an
    /// account, or a name being registered: IDs that are neither can be made up at will, and
    /// would fill the per-name table, 65,536 keys, which once full makes every name wait).
    pub fn begin(&mut self, name: Option<&str>, addr: IpAddr, now: Instant) {
        if let Some(name) = name {
            self.by_user.begin(&name.into(), now);
        }
        self.by_addr.begin(&addr, now);
    }

    /// The attempt [begun](Accounts::begin) with the same `name` and `addr` is over, a
    /// failure or not of each.
    pub fn end(&mut self, name: Option<&str>, addr: IpAddr, failed: Failed, now: Instant) {
        if let Some(name) = name {
            self.by_user.end(&name.into(), failed.by_name, now);
        }
        self.by_addr.end(&addr, failed.by_addr, now);
    }
}

/// How an attempt ended, for each count it was in.
#[derive(Debug, Clone, Copy)]
pub(super) struct Failed {
    /// A failure of the name (an account, or a name being registered).
    pub by_name: bool,
    /// A failure of the client's address.
    pub by_addr: bool,
}

impl Dance {
    /// The server closed a connection during its attempt's check (a server ban, an idle
    /// eviction, shutdown): the attempt is no longer in flight, and no failure of the client's.
    /// (A client that hangs up meanwhile is not noticed before the verdict, since its input is
    /// held: that verdict counts as usual.) Nothing to end before the check or after it.
    pub(super) fn abandon(&self, accounts: &mut Accounts, addr: IpAddr) {
        let done = Failed {
            by_name: false,
            by_addr: false,
        };
        match self {
            Dance::Verifying {
                user, by_name, since, ..
            } => accounts.end(by_name.then_some(&**user), addr, done, *since),
            Dance::Changing { user, since, .. } => accounts.end(Some(user), addr, done, *since),
            Dance::Vouching { since, .. } => accounts.end(None, addr, done, *since),
            Dance::Challenged { .. } => {}
        }
    }
}

/// What a throttled attempt is told.
pub(super) fn throttled(wait: Wait) -> String {
    match wait {
        Wait::Failed(d) => format!("too many failed attempts; try again in {} s", ceil_secs(d).max(1)),
        Wait::Busy => "too many attempts of this name or address are being checked; try again in 1 s".into(),
    }
}

/// The 602 of a throttled attempt, with its wait: known after failures; while others are
/// checked, as long as one check may take, which the reason's second stands for.
pub(super) fn throttled_refusal(wait: Wait) -> Refusal {
    let reason = throttled(wait);
    let wait = match wait {
        Wait::Failed(d) => d,
        Wait::Busy => BUSY_WAIT,
    };
    Refusal::waiting(ErrorCode::AuthThrottled, reason, wait)
}

/// Why an Ident or Auth is refused, and what to tell the client.
type Refusal = super::Refused;

/// `user`, a name without an account, is in use from another host (PROTOCOL.md §4, Ident).
fn in_use(user: &str) -> Refusal {
    refuse(
        ErrorCode::NameTaken,
        format!(
            "{user} is in use from another machine: choose another name, or register it from \
             there to use it from anywhere"
        ),
    )
}

fn refuse(code: ErrorCode, reason: impl Into<String>) -> Refusal {
    (code, reason.into()).into()
}

impl Server {
    /// Sets who may take which ID.
    pub fn set_auth(&mut self, config: AuthConfig) {
        self.accounts = Accounts {
            available: self.accounts.available,
            names: std::mem::take(&mut self.accounts.names),
            dir: self.accounts.dir.take(),
            ..Accounts::new(config)
        };
    }

    /// Takes up a reload's `auth` and `registration` (nothing else of `config`: the login
    /// throttles' counts stay). They are asked at each Ident: sessions already in stay, as an
    /// IRC server's rehash leaves its users connected.
    pub fn set_entry(&mut self, config: &AuthConfig) {
        let now = &mut self.accounts.config;
        if (now.policy, now.registration) == (config.policy, config.registration) {
            return;
        }
        let open = |r: bool| if r { "open" } else { "closed" };
        // What changed, as it was (found by QA: `closed (was closed)` read as a change).
        let mut said = Vec::new();
        if now.policy != config.policy {
            said.push(format!(
                "unregistered IDs: {} (was {})",
                config.policy.name(),
                now.policy.name()
            ));
        }
        if now.registration != config.registration {
            said.push(format!(
                "registration: {} (was {})",
                open(config.registration),
                open(now.registration)
            ));
        }
        log::info!("reload: {}", said.join("; "));
        now.policy = config.policy;
        now.registration = config.registration;
    }

    /// Where the accounts are kept: the operator's `scalard account` commands must name it.
    pub fn set_accounts_dir(&mut self, dir: &std::path::Path) {
        self.accounts.dir = Some(dir.display().to_string().into());
    }

    /// The registered IDs and when each was created (Unix ms), as the accounts thread read
    /// them from the store: from now on accounts exist on this server, and these names need
    /// their password.
    pub fn set_accounts(&mut self, accounts: Vec<Account>, out: &mut impl Outbox) {
        self.accounts.available = true;
        self.accounts.names = self.known(&accounts, &HashMap::new(), &[], out);
        // Accounts deleted while the server was down, even if made again since.
        let marks = std::mem::take(&mut self.accounts.deleted_offline);
        let deleted = marks
            .iter()
            .filter_map(|k| deleted_name(k))
            .map(Box::from)
            .collect();
        self.forget_deleted_accounts(&deleted);
        for key in &marks {
            self.unmark_deleted(key);
        }
        self.warn_accountless_admins();
    }

    /// The registered IDs changed (the operator added or deleted accounts): sessions that use
    /// a name that is now an account without having logged in are closed with `auth_required`,
    /// so the name is its owner's from now on; and sessions that logged in to an account that
    /// is gone are closed the same way, as what they proved no longer exists. An account
    /// deleted and added again between two looks is a new account: the same.
    /// `marked` are the deletions `scalard account del` marked since the last look: gone as
    /// well, whether or not the names are accounts again (added and deleted, or deleted and
    /// added, between two looks); but not a mark of another account than the one this server
    /// holds, which it learned of at a login since (see [`stale_mark`]).
    pub fn accounts_changed(
        &mut self,
        accounts: Vec<Account>,
        marked: &[DeletedMark],
        out: &mut impl Outbox,
    ) {
        let before = std::mem::take(&mut self.accounts.names);
        self.accounts.available = true;
        let (stale, marked): (Vec<&DeletedMark>, Vec<&DeletedMark>) =
            marked.iter().partition(|m| stale_mark(m, &before));
        // The stale ones were acted on when the account was seen: only the mark is left to
        // remove; the others are, below. Each mark read, never one written since.
        for m in stale.iter().chain(&marked) {
            self.unmark_deleted(&m.key);
        }
        let marked: Vec<Box<str>> = marked.into_iter().map(|m| m.name.clone()).collect();
        self.accounts.names = self.known(&accounts, &before, &marked, out);
        // `scalard account add` without the server's --domain makes an account nobody can
        // log in to: say so while the operator is still at it.
        let foreign = |u: &str| u.rsplit_once('@').is_some_and(|(_, d)| d != &*self.domain);
        for user in self
            .accounts
            .names
            .keys()
            .filter(|u| !before.contains_key(*u) && foreign(u))
        {
            log::warn!(
                "accounts: {user} is not of the domain served, {}: nobody can log in to it \
                 (give scalard account the server's --domain, or its --config)",
                self.domain
            );
        }
        // A registration in flight is not in a list read before it was stored: the name stays
        // held until its verdict.
        for (user, k) in &before {
            if pending(k) && !self.accounts.names.contains_key(user) {
                self.accounts.names.insert(user.clone(), *k);
            }
        }
        let created = |k: &Option<Known>| k.and_then(|k| k.created);
        let password = |k: &Option<Known>| k.map_or(0, |k| k.password);
        let repassworded: Vec<(Box<str>, u64)> = before
            .iter()
            .filter_map(|(u, was)| {
                let now = self.accounts.names.get(u)?;
                let same = created(now).is_some() && created(now) == created(was);
                let changed = password(was) != 0 && password(now) != password(was);
                (same && changed).then(|| (u.clone(), password(now)))
            })
            .collect();
        let deleted: HashSet<Box<str>> = before
            .into_iter()
            .filter(|(u, was)| match (self.accounts.names.get(u), created(was)) {
                (None, _) => true,
                // (One logged in to the new account before this look is closed too, once.)
                (Some(now), Some(was)) => created(now).is_some_and(|c| c != was),
                _ => false,
            })
            .map(|(u, _)| u)
            .chain(marked.iter().cloned())
            .collect();
        self.accounts_gone(&deleted, out);
        for (user, password) in repassworded {
            self.password_changed(&user, password, out);
        }
        let squatted: Vec<Box<str>> = self
            .users
            .keys()
            .filter(|u| self.accounts.names.contains_key(&***u))
            .map(|u| Box::from(&**u))
            .collect();
        for user in squatted {
            // What a look at the store finds new was made there, not by a client's
            // registration, whose squatters went when it was taken.
            self.evict_squatters(&user, MadeBy::Operator, out);
        }
    }

    /// A registration of `user` ended with `verdict`, whether or not its connection is still
    /// there: one that did not make the account leaves no pending one behind (one that found
    /// the name taken leaves an account it knows nothing of).
    pub fn registration_ended(&mut self, user: &str, verdict: Verdict) {
        if verdict == Verdict::Accepted || !pending(&self.accounts.names.get(user).copied().flatten()) {
            return;
        }
        if verdict == Verdict::Taken {
            self.accounts.names.insert(user.into(), None);
        } else {
            self.accounts.names.remove(user);
        }
    }

    /// The accounts thread read `account` from the store, checking a password: the loop's
    /// list may be a second older. One made again since the list was read is a new account,
    /// which the sessions logged in to the old one are not. Returns how many sessions it
    /// closed for holding a password the account no longer has.
    pub fn account_seen(&mut self, account: Account, out: &mut impl Outbox) -> usize {
        let held = self.accounts.names.get(&account.name).copied().flatten();
        let now = self.placed(&account, held);
        self.send_starts(out);
        let was = self.accounts.names.insert(account.name.clone(), Some(now));
        let password_was = was.flatten().map_or(0, |k| k.password);
        if was.is_none() {
            // Added by the operator since the last look: as that look would have.
            self.evict_squatters(&account.name, MadeBy::Operator, out);
        }
        let replaced = was
            .flatten()
            .and_then(|k| k.created)
            .filter(|&c| Some(c) != now.created);
        if let Some(old) = replaced {
            self.accounts_gone(&HashSet::from([account.name.clone()]), out);
            // `scalard account del` marked the old account's deletion for a server that
            // missed it; this one acted on it now, so the mark goes with the forgetting (saved
            // after it). Left until the next look, a stop before that look would take it at
            // the start for a deletion not acted on, and forget what the new account set
            // meanwhile: its blocks, read markers and channels (helper 258).
            self.unmark_deleted(&super::deleted_key(&account.name, old));
        } else if password_was != 0 && password_was != now.password {
            return self.password_changed(&account.name, now.password, out);
        }
        0
    }

    /// The store's list of accounts, by name, as this server holds them (see [`placed`]),
    /// `before` being what it held until now; `deleted` were deleted since, so what it held
    /// of them is not of the accounts of their names now (even one made in the same
    /// millisecond).
    ///
    /// [`placed`]: Server::placed
    fn known(
        &mut self,
        accounts: &[Account],
        before: &HashMap<Box<str>, Option<Known>>,
        deleted: &[Box<str>],
        out: &mut impl Outbox,
    ) -> HashMap<Box<str>, Option<Known>> {
        let known = accounts
            .iter()
            .map(|a| {
                let held = before
                    .get(&a.name)
                    .copied()
                    .flatten()
                    .filter(|_| !deleted.contains(&a.name));
                (a.name.clone(), Some(self.placed(a, held)))
            })
            .collect();
        self.send_starts(out);
        known
    }

    /// What this server knows of account `a`, which it held as `held`. One whose start is
    /// [`UNSTARTED`] (`scalard account add` made it) starts at this server's next position,
    /// and the store is told: what the server delivered to the name before it knew of the
    /// account (up to a second after `add`, or to the account that was deleted meanwhile)
    /// was not for this one. Without history no DM is kept, and the start is left for a
    /// server with history to place.
    fn placed(&mut self, a: &Account, held: Option<Known>) -> Known {
        let mut k = Known::from(a);
        let Some(next) = self.history.as_ref().map(|h| h.last_pos + 1) else {
            return k;
        };
        if k.from_pos != UNSTARTED {
            return k;
        }
        // Placed already, but the store has not kept it yet (or could not be told).
        k.from_pos = match held {
            Some(h) if h.created == k.created && h.from_pos != UNSTARTED => h.from_pos,
            _ => next,
        };
        let start = AccountStart {
            name: a.name.clone(),
            created: a.created,
            from_pos: k.from_pos,
        };
        // Handed by the caller, once for all it placed (a reload may place many).
        self.accounts.unsent.retain(|s| s.name != start.name);
        self.accounts.unsent.push(start);
        k
    }

    /// Hands the accounts thread the starts placed and not handed yet; from the first its
    /// queue does not take (it is full), the rest wait for the next tick.
    pub(super) fn send_starts(&mut self, out: &mut impl Outbox) {
        let mut unsent = std::mem::take(&mut self.accounts.unsent).into_iter();
        for start in unsent.by_ref() {
            if !out.keep_start(start.clone()) {
                log::debug!(
                    "accounts: where {} starts waits for room in the queue",
                    start.name
                );
                self.accounts.unsent.push(start);
                break;
            }
        }
        self.accounts.unsent.extend(unsent);
    }

    /// `user`'s password was changed to the one `password` stands for (an operator's `scalard
    /// account passwd`, after a leak, say): the tokens it was granted are revoked and the
    /// sessions that logged in with another password are closed (600), as what proved them
    /// has changed. Those that logged in with the new one meanwhile stay. Returns how many
    /// were closed.
    fn password_changed(&mut self, user: &str, password: u64, out: &mut impl Outbox) -> usize {
        self.federation.revoke(user);
        let conns = self.users.get(user).map(|a| a.conns.clone()).unwrap_or_default();
        let stale = |s: &super::session::Session| s.authenticated && s.password != password;
        let closing: Vec<ConnId> = conns
            .into_iter()
            .filter(|&c| self.session(c).is_some_and(stale))
            .collect();
        for &conn in &closing {
            log::info!("conn {conn}: the password of {user} was changed; closing its session");
            let reason = format!("the password of {user} was changed: log in again");
            self.send_error(conn, None, ErrorCode::AuthRequired, &reason, out);
            self.bye(conn, ErrorCode::AuthRequired, out);
        }
        closing.len()
    }

    /// Accounts that are gone: their tokens, rooms and roles, and their sessions, which are
    /// closed with `auth_required`.
    fn accounts_gone(&mut self, deleted: &HashSet<Box<str>>, out: &mut impl Outbox) {
        for user in deleted {
            self.federation.revoke(user);
        }
        self.forget_deleted_accounts(deleted);
        let closing: Vec<ConnId> = (0..self.sessions.len())
            .filter(|&c| {
                self.session(c).is_some_and(|s| {
                    s.authenticated && s.user.as_deref().is_some_and(|u| deleted.contains(u))
                })
            })
            .collect();
        for conn in closing {
            let user = self
                .session(conn)
                .and_then(|s| s.user.clone())
                .unwrap_or_default();
            log::info!("conn {conn}: the account {user} was deleted; closing its session");
            let reason = format!("the account {user} was deleted");
            self.send_error(conn, None, ErrorCode::AuthRequired, &reason, out);
            self.bye(conn, ErrorCode::AuthRequired, out);
        }
    }

    /// Closes the sessions of `user` that did not log in with its password, now that `by`
    /// made it an account.
    fn evict_squatters(&mut self, user: &str, by: MadeBy, out: &mut impl Outbox) {
        let reason = match by {
            // Registered from the holder's own host (another's is refused while it is in
            // use), but maybe not by this session's user (found by QA: a user without a
            // password was told to log in with a password it never had).
            MadeBy::Registration => format!(
                "{user} was just registered as an account, from your host: log in with its \
                 password if it is yours, or use another name"
            ),
            // `scalard account add` on the server: nobody on the holder's host did it (found
            // by QA: such a session was told its own host had registered the name).
            MadeBy::Operator => format!(
                "{user} was just made an account by this server's operator: log in with its \
                 password if it is yours, or use another name"
            ),
        };
        self.close_unproven(user, &reason, out);
    }

    /// Closes the sessions of `user` that did not log in, telling them `reason` (600): the
    /// name now needs a login.
    pub(super) fn close_unproven(&mut self, user: &str, reason: &str, out: &mut impl Outbox) {
        let conns = self.users.get(user).map(|a| a.conns.clone()).unwrap_or_default();
        for conn in conns {
            // Logged in: with the password, or (an admin of another domain) its home's token.
            if self.session(conn).is_some_and(|s| !s.logged_in) {
                log::info!("conn {conn}: {user} now needs a login; closing a session without one");
                self.send_error(conn, None, ErrorCode::AuthRequired, reason, out);
                self.bye(conn, ErrorCode::AuthRequired, out);
            }
        }
    }

    /// Marks `conn` as private (TLS): a password may cross it whatever the peer's address.
    pub fn set_secure(&mut self, conn: ConnId) {
        if let Some(s) = self.session_mut(conn) {
            s.secure = true;
        }
    }

    /// Ident: checks the request against the policy, then admits the session, sends a
    /// Challenge, or refuses.
    pub(super) fn ident(&mut self, conn: ConnId, m: Ident<'_>, now: &Now, out: &mut impl Outbox) {
        // Kept through a login's Challenge; the next Ident, if this one is refused, says again.
        if let Some(s) = self.session_mut(conn) {
            s.carbons = m.carbons;
            s.joins = m.joins;
        }
        if m.user.kind() != Kind::User {
            return self.fail(conn, m.seq, ErrorCode::BadId, "an ID has no # or ! sigil", out);
        }
        if !m.versions.iter().any(|v| v == VERSION) {
            let reason = "this server speaks version 1";
            return self.fail(conn, m.seq, ErrorCode::UnsupportedVersion, reason, out);
        }
        let foreign = !m.user.is_local() && m.user.domain() != &*self.domain;
        let admitted = foreign && self.federation.foreign.admits(m.user.domain());
        match (foreign, m.token) {
            (true, Some(token)) if m.auth.is_none() => return self.foreign_ident(conn, m, token, now, out),
            // PROTOCOL.md §4: a token with `auth` is 601, whoever's ID it names; after 400 for
            // a domain not admitted, 607 and 603 (§8, Precedence; found by QA).
            (_, Some(_)) if m.auth.is_some() && (admitted || !foreign) => {
                let refusal = m
                    .auth
                    .map(|mech| self.may_log_in(conn, mech))
                    .and_then(Result::err);
                let refusal = refusal.unwrap_or_else(|| {
                    let why = "a token or a password, not both: a token alone, for users of other domains";
                    refuse(ErrorCode::BadCredentials, why)
                });
                return self.fail_refused(conn, m.seq, refusal, out);
            }
            (true, _) if admitted => {
                // The domain goes with the refusal: it is the audience the client's home server
                // must make a token for.
                let domain = self.domain.clone();
                let reason = format!("users of {} need a token from their home server", m.user.domain());
                let code = ErrorCode::ForeignId;
                let e = ErrorMsg {
                    server: Some(&domain),
                    ..super::error_msg(m.seq, code, &reason)
                };
                return self.send_error_msg(conn, e, out);
            }
            (true, _) => {
                let reason = format!("this server only vouches for IDs @{}", self.domain);
                return self.fail(conn, m.seq, ErrorCode::ForeignId, &reason, out);
            }
            (false, Some(_)) => {
                let reason = "a token is for users of other domains: log in with your password";
                return self.fail(conn, m.seq, ErrorCode::BadCredentials, reason, out);
            }
            (false, None) => {}
        }
        let user = format!("{}@{}", m.user.local(), self.domain);
        let outcome = match m.auth {
            Some(mech) => self.challenge(conn, mech, user, m.register, now),
            None => match self.session(conn).map(|s| s.peer) {
                Some(peer) => self
                    .unauthenticated(user, m.user.local(), peer)
                    .map(|(user, guest)| {
                        self.admit(conn, user, guest, m.seq, out);
                        None
                    }),
                None => Ok(None),
            },
        };
        match outcome {
            Ok(None) => {}
            Ok(Some(nonce)) => {
                let c = Challenge {
                    seq: m.seq,
                    auth: AUTH_PASSWORD,
                    nonce,
                };
                out.reply(conn, &Msg::Challenge(c));
            }
            Err(refusal) => self.fail_refused(conn, m.seq, refusal, out),
        }
    }

    /// The ID a client without a password (from `peer`) gets: the one asked for, or a
    /// guest's (true).
    fn unauthenticated(
        &mut self,
        user: String,
        local: &str,
        peer: IpAddr,
    ) -> Result<(Box<str>, bool), Refusal> {
        let addr = super::limit_key(peer);
        let a = &self.accounts;
        if a.names.contains_key(user.as_str()) {
            return Err(refuse(
                ErrorCode::AuthRequired,
                format!("{user} is registered: log in"),
            ));
        }
        match a.config.policy {
            Policy::Accounts => Err(refuse(
                ErrorCode::AuthRequired,
                "this server admits accounts only",
            )),
            Policy::Guests => self.guest_name(addr, local).map(|g| (g, true)),
            Policy::Open if is_guest_name(local) => self.guest_name(addr, local).map(|g| (g, true)),
            // An admin's name without its account yet: nobody may look like the admin (who
            // must log in, once the operator has made the account).
            Policy::Open if self.policy.admins.iter().any(|x| **x == *user) => Err(refuse(
                ErrorCode::AuthRequired,
                format!("{user} is reserved: log in"),
            )),
            Policy::Open if is_service_name(local) => Err(refuse(
                ErrorCode::NameTaken,
                format!("{user} is reserved: IRC users would send it their passwords"),
            )),
            // As a nick in use on IRC: without a password nothing tells its holder from a
            // stranger, who would read its direct messages as they come (found by QA). Its
            // holder's own machine may share it (a script's one-shot `send` beside a chat).
            Policy::Open if self.in_use_elsewhere(&user, peer) => Err(in_use(&user)),
            Policy::Open => Ok((user.into(), false)),
        }
    }

    /// Whether a connection from another host than `peer` uses `user`: another IPv4 address,
    /// another IPv6 /64; every loopback address is one host (a chat on 127.0.0.1 and a
    /// script on ::1 are one machine's, found in review).
    fn in_use_elsewhere(&self, user: &str, peer: IpAddr) -> bool {
        let host = |a: IpAddr| match super::limit_key(a) {
            k if a.is_loopback() || k.is_loopback() => IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
            k => k,
        };
        let here = host(peer);
        self.users.get(user).is_some_and(|a| {
            a.conns
                .iter()
                .filter_map(|&c| self.session(c))
                .any(|s| host(s.peer) != here)
        })
    }

    /// A fresh guest ID for a client from `addr` that asked for the local part `asked`
    /// ([`super::guest`]): of the name it asked for, so that guests choose how they are
    /// called, and keep it across reconnections; not an account, and not in use.
    fn guest_name(&mut self, addr: IpAddr, asked: &str) -> Result<Box<str>, Refusal> {
        let no_randomness =
            |e: std::io::Error| refuse(ErrorCode::AuthThrottled, format!("no randomness: {e}"));
        let key = self.make_guest_key().map_err(no_randomness)?;
        let name = asked_name(asked);
        for _ in 0..8 {
            let id = new_guest(&key, addr, &self.domain, name).map_err(no_randomness)?;
            if !self.users.contains_key(&*id) && !self.accounts.names.contains_key(&id) {
                return Ok(id);
            }
        }
        Err(refuse(ErrorCode::AuthThrottled, "no free guest name; try again"))
    }

    /// The key of guests' address marks, made (and marked to be saved) if there is none yet:
    /// at the start, after what the store held is restored, so that it is saved before guests
    /// come; without a store, at the first guest.
    pub(super) fn make_guest_key(&mut self) -> std::io::Result<super::guest::GuestKey> {
        if let Some(key) = self.guest_key {
            return Ok(key);
        }
        let key = crate::random::bytes()?;
        self.guest_key = Some(key);
        self.mark(super::saved::GUEST_KEY);
        Ok(key)
    }

    /// The first checks of a login with mechanism `mech` on `conn` (§8, Precedence): a
    /// mechanism this server knows (607), over a connection private enough (603).
    fn may_log_in(&self, conn: ConnId, mech: u64) -> Result<(), Refusal> {
        if mech != AUTH_PASSWORD {
            return Err(refuse(
                ErrorCode::UnsupportedAuth,
                format!("unknown mechanism {mech}; 1 is a password"),
            ));
        }
        if self.session(conn).is_some_and(|s| !s.secure) {
            return Err(refuse(
                ErrorCode::InsecureTransport,
                "no passwords over plain TCP: connect with TLS",
            ));
        }
        Ok(())
    }

    /// An Ident with `auth`: every check that needs no password, then a Challenge's nonce.
    fn challenge(
        &mut self,
        conn: ConnId,
        mech: u64,
        user: String,
        register: bool,
        now: &Now,
    ) -> Result<Option<Nonce>, Refusal> {
        self.may_log_in(conn, mech)?;
        let Some(s) = self.session(conn) else {
            return Ok(None);
        };
        let (addr, peer) = (s.addr(), s.peer);
        // Registering would close its holder's sessions (found in review): only from its host.
        if register && self.in_use_elsewhere(&user, peer) {
            return Err(in_use(&user));
        }
        let a = &mut self.accounts;
        if !a.available {
            return Err(if register {
                refuse(ErrorCode::RegistrationClosed, "this server keeps no accounts")
            } else {
                refuse(ErrorCode::BadCredentials, "this server keeps no accounts")
            });
        }
        if let Some(wait) = a.wait(&user, addr, now) {
            log::debug!(
                "conn {conn} from {}: login to {user} throttled",
                peer.to_canonical()
            );
            return Err(throttled_refusal(wait));
        }
        let known = a.names.contains_key(user.as_str());
        if register {
            if !a.config.registration {
                return Err(refuse(
                    ErrorCode::RegistrationClosed,
                    "ask the operator for an account",
                ));
            }
            if user.split('@').next().is_some_and(is_guest_name) {
                let reason = format!("{user}: names starting with guest- are for guests");
                return Err(refuse(ErrorCode::NameTaken, reason));
            }
            if user.split('@').next().is_some_and(is_service_name) {
                let reason = format!("{user} is reserved: IRC users would send it their passwords");
                return Err(refuse(ErrorCode::NameTaken, reason));
            }
            if known {
                return Err(refuse(ErrorCode::NameTaken, format!("{user} is taken")));
            }
            // An admin named in the configuration before its account exists must not be
            // claimable by whoever registers first: the operator creates that account.
            if self.policy.admins.iter().any(|x| **x == *user) {
                // Which names are admins' is not said to whoever asks.
                let reason = format!("{user} is reserved: ask the operator");
                return Err(refuse(ErrorCode::NameTaken, reason));
            }
        }
        if register && let Some(full) = self.accounts_full(&user) {
            return Err(full);
        }
        // A name this loop does not know as an account is challenged too: the accounts thread
        // looks it up in the store, where an account the operator added a moment ago already
        // is (the loop hears of it up to a second later), and a missing one is 601 after Auth,
        // an attempt like a wrong password.
        let nonce = crate::random::bytes::<32>()
            .map(Nonce)
            .map_err(|e| refuse(ErrorCode::AuthThrottled, format!("no randomness: {e}")))?;
        if let Some(s) = self.session_mut(conn) {
            s.dance = Some(Box::new(Dance::Challenged {
                nonce,
                user: user.into(),
                register,
            }));
        }
        Ok(Some(nonce))
    }

    /// The refusal of `user`'s registration while the server has as many accounts as clients
    /// may make (those being registered included), if it has. The operator is told once, at
    /// warn, each time the bound is reached, and of each refusal at debug only: refusals cost
    /// the client nothing, so one line each would let anyone fill the log (found in review).
    fn accounts_full(&mut self, user: &str) -> Option<Refusal> {
        let (max, now) = (self.limits.max_accounts, self.accounts.names.len());
        let told = &mut self.accounts.full_told;
        if now < max {
            *told = false;
            return None;
        }
        match std::mem::replace(told, true) {
            false => log::warn!(
                "registrations refused from now on: the server has {now} accounts (max-accounts {max})"
            ),
            true => log::debug!("registration of {user} refused: {now} accounts (max-accounts {max})"),
        }
        let reason =
            format!("the server has {now} accounts, and clients may make them up to {max}: ask the operator");
        Some(refuse(ErrorCode::RegistrationClosed, reason))
    }

    /// Auth: the answer to a Challenge. A matching nonce sends the password to the accounts
    /// thread and holds the connection's input until [`verified`](Server::verified).
    pub(super) fn auth(&mut self, conn: ConnId, m: Auth<'_>, now: &Now, out: &mut impl Outbox) {
        let Some(s) = self.session_mut(conn) else { return };
        // Any Auth uses up the outstanding Challenge: a nonce is good for one attempt.
        let (user, register) = match s.dance.take().map(|d| *d) {
            Some(Dance::Challenged {
                nonce,
                user,
                register,
            }) if nonce == m.nonce => (user, register),
            _ => {
                let reason = "no Challenge with this nonce: send Ident again";
                return self.fail(conn, m.seq, ErrorCode::StaleChallenge, reason, out);
            }
        };
        // Registration is asked again here, not only at Ident: a reload may have closed it since
        // the Challenge (found in review: a raid's scripts, challenged before, still registered),
        // and registrations made since count against the bound.
        if register && !self.accounts.config.registration {
            let reason = "ask the operator for an account";
            return self.fail(conn, m.seq, ErrorCode::RegistrationClosed, reason, out);
        }
        if let Some(refusal) = register.then(|| self.accounts_full(&user)).flatten() {
            return self.fail_refused(conn, m.seq, refusal, out);
        }
        if register && crate::store::password::too_short(m.password) {
            // Not a failed attempt: nothing was checked against an account.
            let min = crate::store::password::MIN_CHARS;
            let reason = format!("a new account's password needs at least {min} characters");
            return self.fail(conn, m.seq, ErrorCode::WeakPassword, &reason, out);
        }
        // Checked again here, not only at Ident: many Challenges may be out at once.
        if let Some((wait, peer)) = self
            .session(conn)
            .and_then(|s| Some((self.accounts.wait(&user, s.addr(), now)?, s.peer)))
        {
            log::debug!(
                "conn {conn} from {}: login to {user} throttled",
                peer.to_canonical()
            );
            return self.fail_refused(conn, m.seq, throttled_refusal(wait), out);
        }
        self.accounts.tickets += 1;
        let ticket = self.accounts.tickets;
        let from_pos = self.history.as_ref().map_or(0, |h| h.last_pos + 1);
        let job = PasswordCheck {
            conn,
            ticket,
            user: user.clone(),
            password: Password::new(m.password),
            register,
            from_pos,
            new_password: None,
        };
        if !out.verify(job) {
            let refused = super::Refused::busy("too many logins in progress; try again in 1 s");
            return self.fail_refused(conn, m.seq, refused, out);
        }
        // Only an account (or a name being registered) is counted by name.
        let by_name = register || self.accounts.names.contains_key(&*user);
        if let Some(addr) = self.session(conn).map(|s| s.addr()) {
            self.accounts.begin(by_name.then_some(&*user), addr, now.mono);
        }
        if register {
            // The account starts at `from_pos`: from here on nobody holds the name without
            // its password, so what reaches the name from there on is the account holder's.
            let pending = Some(Known::pending(from_pos));
            self.accounts.names.entry(user.clone()).or_insert(pending);
            self.evict_squatters(&user, MadeBy::Registration, out);
        }
        if let Some(s) = self.session_mut(conn) {
            s.dance = Some(Box::new(Dance::Verifying {
                ticket,
                user,
                by_name,
                register,
                from_pos,
                seq: m.seq,
                since: now.mono,
            }));
        }
        self.pause(conn);
    }

    /// The accounts thread's answer to a connection's attempt: its verdict, the account as
    /// the store holds it (if it read it) and, for a registration, the name.
    pub fn verdict(&mut self, checked: Checked, now: &Now, out: &mut impl Outbox) {
        let Checked {
            account,
            registered,
            conn,
            ticket,
            verdict,
        } = checked;
        let changing = self.session(conn).is_some_and(
            |s| matches!(s.dance.as_deref(), Some(Dance::Changing { ticket: t, .. }) if *t == ticket),
        );
        let mut closed = 0;
        if let Some(a) = account {
            if changing
                && verdict == Verdict::Accepted
                && let Some(s) = self.session_mut(conn)
            {
                // The session that changed the password holds the new one before the others
                // are closed for holding the old.
                s.password = a.password;
            }
            closed = self.account_seen(a, out);
        }
        if let Some(user) = registered {
            self.registration_ended(&user, verdict);
        }
        match changing {
            true => self.password_set(conn, verdict, closed, now, out),
            false => self.verified(conn, ticket, verdict, now, out),
        }
    }

    /// The accounts thread's verdict on `conn`'s login or registration `ticket`.
    pub fn verified(
        &mut self,
        conn: ConnId,
        ticket: u64,
        verdict: Verdict,
        now: &Now,
        out: &mut impl Outbox,
    ) {
        let Some(s) = self.session_mut(conn) else { return };
        let (user, by_name, register, from_pos, seq) = match s.dance.take().map(|d| *d) {
            Some(Dance::Verifying {
                ticket: t,
                user,
                by_name,
                register,
                from_pos,
                seq,
                since,
            }) if t == ticket => {
                stop_the_clock(s, since, now);
                (user, by_name, register, from_pos, seq)
            }
            other => {
                // Not this attempt's connection (it went away and the slot was reused).
                s.dance = other.map(Box::new);
                return;
            }
        };
        let (addr, peer) = (s.addr(), s.peer.to_canonical());
        let name = by_name.then_some(&*user);
        // A good password is no failure, but a registration counts for its address, so that
        // one address cannot create accounts without bound; trying to register a taken name
        // counts for the address, not the name (else anyone could lock an account out by
        // registering it); a failing store is nobody's failure.
        let (by_name, by_addr) = match verdict {
            Verdict::Accepted => (false, register),
            Verdict::Rejected => (true, true),
            Verdict::Taken => (false, true),
            Verdict::Failed => (false, false),
        };
        let failed = Failed { by_name, by_addr };
        self.accounts.end(name, addr, failed, now.mono);
        match verdict {
            Verdict::Accepted => {
                if register {
                    log::info!("conn {conn} from {peer} registered the account {user}");
                    let known = Known::pending(from_pos);
                    self.accounts.names.entry(user.clone()).or_insert(Some(known));
                    self.evict_squatters(&user, MadeBy::Registration, out);
                }
                // The account as the accounts thread read it after the check (`account_seen`).
                let password = self
                    .accounts
                    .names
                    .get(&*user)
                    .and_then(|k| *k)
                    .map_or(0, |k| k.password);
                // Before admit: it asks whether the session logged in (admins, bans).
                if let Some(s) = self.session_mut(conn) {
                    s.authenticated = true;
                    s.logged_in = true;
                    s.password = password;
                }
                self.admit(conn, user, false, seq, out);
            }
            Verdict::Rejected if !self.accounts.names.contains_key(&*user) => {
                // The address too, for tools that ban it (fail2ban); the connection's number is
                // reused once it closes.
                log::info!("conn {conn} from {peer}: no account {user}");
                let reason = format!("no account {user}");
                self.fail(conn, seq, ErrorCode::BadCredentials, &reason, out);
            }
            Verdict::Rejected => {
                log::info!("conn {conn} from {peer}: wrong password for {user}");
                self.fail(conn, seq, ErrorCode::BadCredentials, "wrong password", out);
            }
            Verdict::Taken => {
                self.accounts.names.entry(user.clone()).or_insert(None);
                self.fail(conn, seq, ErrorCode::NameTaken, &format!("{user} is taken"), out);
            }
            Verdict::Failed => {
                let reason = "the account store failed; try again later";
                self.fail(conn, seq, ErrorCode::StoreUnavailable, reason, out);
            }
        }
        self.resume(conn, out);
    }

    /// The session is `user` from now on: the Ident reply.
    pub(super) fn admit(
        &mut self,
        conn: ConnId,
        user: Box<str>,
        guest: bool,
        seq: Option<u32>,
        out: &mut impl Outbox,
    ) {
        if self.refuse_banned(conn, &user, seq, out) {
            return;
        }
        // A name held without a proof reads the direct messages that reach it from here on.
        let next = self.history.as_ref().map_or(0, |h| h.last_pos + 1);
        if let Some(s) = self.session_mut(conn).filter(|s| !s.logged_in) {
            s.reads_from = next;
        }
        // One copy of the name for the user table, the session and the rooms it joins.
        let user: Rc<str> = self
            .users
            .get_key_value(&*user)
            .map_or_else(|| user.into(), |(k, _)| k.clone());
        let floors = &mut self.floors;
        let first = self
            .users
            .entry(user.clone())
            .or_insert_with(|| super::channels::Audience::new(floors.take(&user)))
            .add(conn)
            == 1;
        // Its holder reads what waited in an account's inbox: senders may leave more again.
        if first && self.accounts.names.contains_key(&*user) {
            self.inboxes.read(&user);
        }
        // With the address, so that an admin can find whom to ban by address (`/sban`).
        if let Some(s) = self.session(conn) {
            let how = match (guest, s.authenticated, s.logged_in) {
                (true, ..) => ", a guest",
                (_, true, _) => ", logged in",
                (_, false, true) => ", vouched for by its home server",
                _ => ", without a password",
            };
            log::info!("conn {conn} from {} is {user}{how}", s.peer);
        }
        let Ok(name) = Name::parse(&user) else { return };
        let reply = Ident {
            seq,
            versions: List::Slice(&[VERSION]),
            user: name,
            server: Some(&self.domain),
            keepalive: Some(millis(self.limits.idle_timeout)),
            timeout: Some(millis(self.limits.ping_timeout)),
            auth: None,
            register: false,
            guest,
            token: None,
            carbons: self.session(conn).is_some_and(|s| s.carbons),
            joins: self.session(conn).is_some_and(|s| s.joins),
            // Set every turn of the loop (`wake`), before what it reads.
            time: (self.now_ms > 0).then_some(self.now_ms),
        };
        out.reply(conn, &Msg::Ident(reply));
        self.send_motd(conn, out);
        if first {
            self.presence_changed(&user, true, out);
        }
        if let Some(s) = self.session_mut(conn) {
            s.user = Some(user);
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
