//! scalard: the Scalar server. See docs/OPERATIONS.md.

use scalar::config::{Config, ConfigError};
use scalar::logs::Level;
use scalar::net::tls::{PlainPolicy, TlsFiles};
use scalar::net::{Shell, Stopped, Transport};
use scalar::server::HistoryConfig;
use scalar::store::accounts::Accounts;
use scalar::store::admin;
use scalar::store::bans;
use scalar::store::lock::{self, DirLock, LockError, StoreHold};
use scalar::store::sqlite::{Db, SCHEMA_VERSION};
use scalar::store::worker::{Options, Start, Store};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGHUP: read the TLS certificate files and the configuration again.
static RELOAD: AtomicBool = AtomicBool::new(false);
static WAKER: OnceLock<Arc<mio::Waker>> = OnceLock::new();

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
    // A signal that lands between the loop's check of STOP and its wait would otherwise go
    // unseen until the next tick; the waker (one write to an eventfd, async-signal-safe)
    // ends the wait.
    if let Some(w) = WAKER.get() {
        let _ = w.wake();
    }
}

extern "C" fn on_hangup(_: libc::c_int) {
    RELOAD.store(true, Ordering::Relaxed);
    if let Some(w) = WAKER.get() {
        let _ = w.wake();
    }
}

/// The max-connections a configuration gets when it names none: the open-file limit less
/// what other files need, at most the default.
fn derived_max_connections(fd_limit: Option<usize>) -> usize {
    let default = scalar::server::DEFAULT_MAX_CONNECTIONS;
    fd_limit.map_or(default, |n| {
        n.saturating_sub(scalar::server::FD_RESERVE).clamp(1, default)
    })
}

/// The open-file limit, its soft limit raised to the hard one as a start raises it (every
/// connection is a descriptor), or why it cannot be read.
fn open_file_limit() -> std::io::Result<usize> {
    scalar::net::raise_fd_limit().map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Says where a limit given counts as another: a network holds at least one address, so
/// max-per-subnet below max-per-address counts as max-per-address (OPERATIONS.md).
fn warn_of_raised(limits: &scalar::server::Limits) {
    if let Some(warning) = raised(limits) {
        log::warn!("{warning}");
    }
}

/// What [`warn_of_raised`] logs, if anything; `scalard check` says it too.
fn raised(limits: &scalar::server::Limits) -> Option<String> {
    (limits.max_per_subnet < limits.max_per_address).then(|| {
        format!(
            "max-per-subnet {} is below max-per-address {}: a network may open {}",
            limits.max_per_subnet, limits.max_per_address, limits.max_per_address
        )
    })
}

/// Reads the command line (and so the configuration file) again, for SIGHUP. Without a
/// max-connections the limit is derived from the open-file limit read at start, as then.
fn reconfigure(
    fd_limit: Option<usize>,
    start: Config,
) -> Box<dyn FnMut() -> Option<scalar::net::Reconfig> + Send> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    Box::new(move || match Config::reread(args.clone(), &start.domain) {
        Ok(mut c) => {
            let left = start.start_only_changes(&c);
            if !left.is_empty() {
                log::warn!(
                    "reload: the change to {} waits for a restart (read at start only)",
                    left.join(", ")
                );
            }
            if !c.max_connections_set {
                c.limits.max_connections = derived_max_connections(fd_limit);
            }
            for note in &c.notes {
                log::warn!("reload: {note}");
            }
            warn_of_raised(&c.limits);
            Some(scalar::net::Reconfig {
                limits: c.limits,
                policy: c.policy,
                retention: c.retention,
                auth: c.auth,
            })
        }
        Err(e) => {
            log::error!("reload: {e}; the configuration in force stays");
            None
        }
    })
}

/// SIGINT and SIGTERM set STOP and wake the poll loop; SIGHUP sets RELOAD and wakes it. SIGPIPE
/// is ignored: a write to a closed socket must be an error on that connection, not the end of the
/// process. So are SIGUSR1 and SIGUSR2, which other servers take (NATS reopens its log on
/// SIGUSR1, a common logrotate `postrotate`) and whose default is to kill without a word (found
/// by QA), and SIGXFSZ: a file past `ulimit -f` is a failing write, which the store retries and
/// reports, not the end of the process.
fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the sigaction
    // struct is fully initialised before use.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
        sa.sa_sigaction = on_hangup as extern "C" fn(libc::c_int) as usize;
        libc::sigaction(libc::SIGHUP, &sa, std::ptr::null_mut());
        for sig in [libc::SIGPIPE, libc::SIGUSR1, libc::SIGUSR2, libc::SIGXFSZ] {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
}

/// Bytes of recent Events kept in memory for quick catch-ups.
const RING_BYTES: usize = 16 << 20;
/// Events that may wait for the writer (eight of the writer's batches, so a lone publisher can
/// run ahead of a commit), catch-ups that may wait for the reader, and searches for the
/// searcher (fewer: one may take ~10 ms, see the store's worker).
const WRITE_QUEUE: usize = 32_768;
const READ_QUEUE: usize = 64;
const SEARCH_QUEUE: usize = 16;
/// The newest stored Events read into memory at start (at most; the ring's byte budget
/// decides what stays), so the catch-ups of clients reconnecting after a restart are answered
/// without the disk.
const RECENT: usize = 50_000;
/// How long one catch-up or search may take on the store before it is stopped: the readers
/// answer one query at a time, and a search of a common pair of words through a topic of
/// 1,000,000 Events takes about 0.2 s.
const QUERY_TIME: Duration = Duration::from_millis(500);
/// Bytes of Events that may wait for the writer before publishers are held back.
const UNWRITTEN_BYTES: usize = 32 << 20;

/// Where the data directory is, as configured or by default.
fn data_dir_path(config: &Config) -> Result<PathBuf, String> {
    Ok(config
        .data_dir
        .clone()
        .or_else(scalar::config::default_data_dir)
        .ok_or("no data directory: give --data-dir (HOME is not set)")?)
}

/// The data directory, created if need be.
fn data_dir(config: &Config) -> Result<PathBuf, String> {
    let dir = data_dir_path(config)?;
    if dir.exists() && !dir.is_dir() {
        return Err(format!("data directory {} is not a directory", dir.display()));
    }
    // Found by QA: a directory there but not reachable (a parent of mode 700) was said to be
    // one that could not be made.
    let doing = match std::fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "create",
        // mkdir's "File exists" for a link to nothing says nothing of it (found by QA).
        Ok(m) if m.is_symlink() && !dir.exists() => {
            return Err(format!(
                "data directory {} is a symbolic link to nothing",
                dir.display()
            ));
        }
        _ => "access",
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot {doing} data directory {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Warns if users other than scalard's (and its group) can read its database: a data
/// directory made before scalard made them private, or made by hand. Not changed here: the
/// operator may have reasons (a backup user) this process cannot see.
fn others_read(config: &Config) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = data_dir_path(config).ok()?;
    let mode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    let (Ok(dir_mode), Ok(db_mode)) = (mode(&dir), mode(&dir.join(DB_FILE))) else {
        return None;
    };
    // Others need to pass through the directory and read the file.
    (dir_mode & 0o001 != 0 && db_mode & 0o004 != 0).then(|| {
        format!(
            "the store in {} is readable by every user of this host (directory {dir_mode:o}, {DB_FILE} {db_mode:o}): \
             it holds every message and the password hashes; chmod 700 {0}",
            dir.display()
        )
    })
}

/// The warnings of a start that `scalard check` says too (found by QA: it left these out):
/// settings an ephemeral server does not use, a store others may read, and an open-file limit
/// below the connections configured or not known (`fd_limit`, as the start raised it).
fn start_warnings(config: &Config, fd_limit: &std::io::Result<usize>) -> Vec<String> {
    let unused = config.unused_when_ephemeral();
    let unused = (config.ephemeral && !unused.is_empty())
        .then(|| format!("--ephemeral: {} not used (nothing is kept)", unused.join(", ")));
    let reserve = scalar::server::FD_RESERVE;
    let files = match (config.max_connections_set, fd_limit) {
        // Unread, the limit can neither bound max-connections nor be checked against it: the
        // operator is the one left to check (found by QA: `check` said nothing).
        (_, Err(e)) => Some(format!(
            "cannot read the open-file limit ({e}): max-connections {} is not checked against it",
            config.limits.max_connections
        )),
        (true, &Ok(n)) if n < config.limits.max_connections + reserve => Some(format!(
            "open-file limit {n} is below max-connections {} plus {reserve}; raise ulimit -n",
            config.limits.max_connections
        )),
        // Less than the reserve leaves one connection: said louder than a plain derivation.
        (false, &Ok(n)) if n <= reserve + 1 => Some(format!(
            "max-connections 1: the open-file limit {n} leaves none beyond the {reserve} other \
             files need; raise ulimit -n"
        )),
        _ => None,
    };
    let others = (!config.ephemeral).then(|| others_read(config)).flatten();
    let shut_out = shut_out_of_plain(config);
    let notes = config.notes.iter().cloned();
    [unused, files, others, shut_out]
        .into_iter()
        .flatten()
        .chain(notes)
        .collect()
}

/// `plain = "loopback"` with no TLS address but a plain one other hosts reach: nobody but
/// this host can connect at all, as each of their connections is closed at accept and logged
/// at info only (found by an operator's walk-through: `check` said OK, for a server that
/// had kept README's `--plain loopback` and dropped its TLS lines).
fn shut_out_of_plain(config: &Config) -> Option<String> {
    let open_to_others = config.listen.iter().any(|a| !a.ip().is_loopback());
    (config.plain == PlainPolicy::Loopback && config.tls_listen.is_empty() && open_to_others).then(|| {
        "plain = loopback and no tls-listen: clients of other hosts cannot connect at all (each \
         of their connections is closed at once); add tls-listen, or set plain = any"
            .to_string()
    })
}

/// Less free space than this on the data directory's disk is worth naming when the store
/// cannot open: SQLite makes a 32 KiB index file beside the database as it opens it.
const LOW_DISK: u64 = 1 << 20;

/// What the system says of the filesystem holding `dir`, if it says.
fn statvfs(dir: &std::path::Path) -> Option<libc::statvfs> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs only writes the struct it is given; `path` is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::statvfs(path.as_ptr(), &mut st) } == 0;
    ok.then_some(st)
}

/// Bytes this process may still write on the disk holding `dir`, if the system says.
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    statvfs(dir).map(|st| st.f_bavail.saturating_mul(st.f_frsize))
}

/// Whether the filesystem holding `dir` is mounted read-only.
fn read_only(dir: &std::path::Path) -> bool {
    statvfs(dir).is_some_and(|st| st.f_flag & libc::ST_RDONLY != 0)
}

/// The database file in the data directory: history and accounts.
const DB_FILE: &str = "scalard.db";

/// The files a start writes in the data directory: its lock, the database and SQLite's own.
const STORE_FILES: [&str; 4] = [lock::LOCK_FILE, DB_FILE, "scalard.db-wal", "scalard.db-shm"];

/// Locks the data directory for as long as the lock lives (no lock with `--ephemeral`): see
/// `scalar::store::lock`. Said and exited on here if it cannot be.
fn lock_data_dir(config: &Config) -> Result<Option<DirLock>, ExitCode> {
    if config.ephemeral {
        return Ok(None);
    }
    match data_dir(config).map(|dir| DirLock::take(&dir)) {
        // Said alone: the hints for a broken directory would be the wrong advice here.
        Ok(Ok(_)) if let Err(e) = restore_finished(config) => {
            eprintln!("scalard: {e}");
            Err(ExitCode::from(1))
        }
        Ok(Ok(lock)) => Ok(Some(lock)),
        Ok(Err(e @ LockError::InUse { .. })) => {
            eprintln!("scalard: {e}");
            eprintln!(
                "scalard: stop that one first (or wait for the restore or compact holding it), or \
                 give each server its own --data-dir"
            );
            Err(ExitCode::from(1))
        }
        Ok(Err(e)) => Err(unusable_data_dir(config, &e.to_string())),
        Err(e) => Err(unusable_data_dir(config, &e)),
    }
}

/// Refuses a data directory where a `scalard restore` runs or was stopped part way (found by
/// QA: `scalard check` passed where a start would fail).
fn restore_finished(config: &Config) -> Result<(), String> {
    let dir = data_dir_path(config)?;
    scalar::store::sqlite::check_not_restoring(&dir.join(DB_FILE))
        .map_err(|e| format!("{e} (data directory {})", dir.display()))
}

/// Says why the data directory cannot be used, and what to do.
fn unusable_data_dir(config: &Config, e: &str) -> ExitCode {
    eprintln!("scalard: {e}");
    for hint in data_dir_hints(config, e) {
        eprintln!("scalard: {hint}");
    }
    // Not "or run with --ephemeral" alone: on a server with accounts that reads as a fix, and
    // drops every account and all history from service (found by QA).
    eprintln!(
        "scalard: fix the data directory as said above; --ephemeral would serve meanwhile, \
         but without history or accounts (the store is left as it is)"
    );
    ExitCode::from(1)
}

/// What the state of the data directory's disk, or the error `e` of its store, says of why
/// the store failed: the server's start and the offline commands say the same.
fn data_dir_hints(config: &Config, e: &str) -> Vec<String> {
    let mut hints = Vec::new();
    // SQLite's own word for a full disk at open is often "disk I/O error". A read-only
    // filesystem reports no free space to this process either: that is said instead.
    if let Ok(dir) = data_dir_path(config)
        && read_only(&dir)
    {
        hints.push(lock::read_only(&dir));
    } else if let Ok(dir) = data_dir_path(config)
        && let Some(why) = lock::unwritable(&dir, &STORE_FILES).filter(|why| !e.contains(why.as_str()))
    {
        hints.push(why);
    } else if let Ok(dir) = data_dir_path(config)
        && let Some(free) = free_bytes(&dir).filter(|&b| b < LOW_DISK)
    {
        hints.push(format!(
            "the disk holding {} has {} KiB free: writing the store needs some (free space \
             there)",
            dir.display(),
            free / 1024
        ));
    }
    // The way a restore most often goes wrong: a copy put in over a stale WAL, which SQLite
    // then applies to it (and, at that first start, removes: a second start finds no WAL to
    // blame, but the copy is damaged all the same).
    if e.contains("malformed") {
        let wal = data_dir_path(config).is_ok_and(|d| d.join(format!("{DB_FILE}-wal")).exists());
        hints.push(
            match wal {
                true => {
                    "if a backup was copied in as scalard.db, it was likely damaged by the \
                     scalard.db-wal left beside it: with scalard stopped, delete scalard.db-wal \
                     and scalard.db-shm, then copy the backup in again (docs/OPERATIONS.md, \
                     Backups); if not, the disk damaged it: restore the latest backup, or what \
                     the store still holds (scalard salvage FILE, then scalard restore FILE; \
                     docs/OPERATIONS.md, A damaged store)"
                }
                false => {
                    "the file was damaged by the disk, or, if a backup was copied in as scalard.db \
                     while a scalard.db-wal was beside it, by that log: restore the latest backup, \
                     or what the store still holds (scalard salvage FILE, then scalard restore \
                     FILE; docs/OPERATIONS.md, A damaged store)"
                }
            }
            .to_string(),
        );
    } else if e.contains("the file is damaged") {
        // A value, not a page (review: the start said nothing of what to do).
        hints.push(
            "a value stored there cannot be read: scalard salvage FILE copies everything else \
             into a new store, then scalard restore FILE puts it in place (docs/OPERATIONS.md, \
             A damaged store)"
                .into(),
        );
    }
    // An older scalard after an upgrade: the data directory is fine, the binary is not.
    if e.contains("is newer than this scalard") {
        hints.push(
            "run the scalard that wrote it (or a newer one), or restore the backup taken before \
             the upgrade into a fresh data directory (docs/OPERATIONS.md, Upgrades)"
                .to_string(),
        );
    }
    hints
}

/// Opens (creating if need be) the history store in the data directory.
fn open_store(config: &Config, shell: &Shell) -> Result<(Store, HistoryConfig, Start), String> {
    let dir = data_dir(config)?;
    let options = Options {
        path: dir.join(DB_FILE),
        fsync: config.fsync,
        retention: config.retention.clone(),
        write_queue: WRITE_QUEUE,
        read_queue: READ_QUEUE,
        search_queue: SEARCH_QUEUE,
        recent: RECENT,
        recent_bytes: RING_BYTES,
        query_time: QUERY_TIME,
    };
    let (store, start) =
        Store::open(options, shell.waker()).map_err(|e| format!("{} in {}", e, dir.display()))?;
    log::info!(
        "history in {} ({} events, fsync {})",
        dir.display(),
        start.events,
        config.fsync.name()
    );
    let history = HistoryConfig {
        fsync: config.fsync,
        last_pos: start.last_pos,
        ring_bytes: RING_BYTES,
        max_unwritten: WRITE_QUEUE as u64 - 1,
        max_unwritten_bytes: UNWRITTEN_BYTES,
        max_reads: READ_QUEUE,
        max_searches: SEARCH_QUEUE,
        retention: config.retention.clone(),
    };
    Ok((store, history, start))
}

/// Opens the accounts thread on the database in the data directory.
fn open_accounts(config: &Config, shell: &mut Shell) -> Result<(), String> {
    let dir = data_dir(config)?;
    let path = dir.join(DB_FILE);
    // Absolute, for a command the operator runs from anywhere.
    shell
        .server_mut()
        .set_accounts_dir(&std::path::absolute(&dir).unwrap_or(dir));
    let (accounts, names) = Accounts::open(&path, shell.waker()).map_err(|e| e.to_string())?;
    // Who may come in, and how: the first thing an operator checks of a new deployment.
    let registration = match config.auth.registration {
        true => format!("open, up to {} accounts", config.limits.max_accounts),
        false => "closed".to_string(),
    };
    log::info!(
        "{} accounts; unregistered IDs: {}; registration: {registration}",
        names.len(),
        config.auth.policy.name()
    );
    if let Some(other) = foreign_only(&names, &config.domain) {
        log::warn!(
            "none of the {} accounts is of the domain served, {}: they cannot log in and their \
             names are anyone's (accounts of {other}; was the domain changed?)",
            names.len(),
            config.domain
        );
    }
    shell.keep_accounts(accounts, names);
    Ok(())
}

/// When there are accounts and none is of `domain`: one domain they are of. Accounts belong to
/// the domain they were made for, so a server started with another `--domain` (or without the
/// one it had) holds them all in vain.
fn foreign_only<'a>(accounts: &'a [scalar::store::accounts::Account], domain: &str) -> Option<&'a str> {
    let domain_of = |id: &'a str| id.rsplit_once('@').map_or("", |(_, d)| d);
    if accounts.iter().any(|a| domain_of(&a.name) == domain) {
        return None;
    }
    accounts.first().map(|a| domain_of(&a.name))
}

/// Starts the threads that ask other domains' servers about their users' tokens, if any
/// other domain is admitted.
fn admit_foreign(config: &Config, shell: &mut Shell) -> std::io::Result<()> {
    let foreign = config.foreign();
    if foreign == scalar::server::Foreign::None {
        return Ok(());
    }
    log::info!("users of other domains admitted: {foreign}");
    let (servers, resolver) = (config.servers.clone(), config.resolver);
    let resolve = move |domain: &str| scalar::federation::home_servers(domain, &servers, resolver);
    let verifier = scalar::federation::Verifier::start(&config.domain, Box::new(resolve), shell.waker())?;
    shell.admit_foreign(verifier, foreign);
    Ok(())
}

/// A subcommand's words `CMD [OPERAND] FLAGS...`, with an operand exactly when
/// `takes_operand(CMD)`; `None` if they are not so.
fn sub_words(
    args: &[String],
    takes_operand: impl Fn(&str) -> bool,
) -> Option<(&str, Option<&str>, &[String])> {
    let (cmd, rest) = args.split_first()?;
    if !takes_operand(cmd) {
        return Some((cmd, None, rest));
    }
    match rest.split_first() {
        Some((operand, flags)) if !operand.starts_with('-') => Some((cmd, Some(operand), flags)),
        _ => None,
    }
}

/// Whether a subcommand's words ask for its usage.
fn wants_help(args: &[String]) -> bool {
    args.first().is_some_and(|a| a == "help") || args.iter().any(|a| a == "--help" || a == "-h")
}

/// The configuration a subcommand's flags give (`--data-dir`, `--domain`, `--config`, …).
/// Every subcommand works on the store: an ephemeral configuration has none, and the default
/// data directory it would fall back to is no store of that server's (found by QA: `account
/// add` made a store there that the server never used).
fn sub_config(sub: &str, flags: &[String]) -> Result<Config, ExitCode> {
    let refuse = |e: String| {
        eprintln!("scalard {sub}: {e}");
        ExitCode::from(2)
    };
    let config = Config::from_args(flags.iter().cloned()).map_err(|e| refuse(e.to_string()))?;
    // What the configuration took but would have written otherwise (a domain with capitals,
    // taken folded), said here as a start says it.
    for note in &config.notes {
        eprintln!("scalard {sub}: {note}");
    }
    match config.ephemeral {
        true => Err(refuse(
            "the configuration is ephemeral (ephemeral = true, or --ephemeral): its server keeps \
             no store to work on; for a store, give its --data-dir without --ephemeral (and \
             without that --config)"
                .into(),
        )),
        false => Ok(config),
    }
}

/// Prints what a subcommand did (exit 0), or why it failed (exit 1). An empty list says so on
/// standard error, so that a script reading standard output still reads nothing.
fn sub_result(sub: &str, config: &Config, result: Result<String, String>) -> ExitCode {
    match result {
        Ok(msg) => {
            match msg.is_empty() {
                true => eprintln!("scalard {sub}: none"),
                false => out(&msg),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scalard {sub}: {e}");
            // Only under the store's own errors: "no account bob" is not the disk's doing.
            let hints = match e.starts_with("store: ") {
                true => data_dir_hints(config, &e),
                false => Vec::new(),
            };
            for hint in hints {
                eprintln!("scalard {sub}: {hint}");
            }
            ExitCode::from(1)
        }
    }
}

/// Prints `text` on standard output. A reader that stopped early (`scalard --help | head`) is
/// no error: std leaves SIGPIPE ignored, so `println!` would panic there.
fn out(text: &str) {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => eprintln!("scalard: {e}"),
        _ => {}
    }
}

/// `scalard account add|del|passwd|list [ID] [flags]`.
fn account(args: Vec<String>) -> ExitCode {
    let usage = "usage: scalard account add|del|passwd ID [--data-dir DIR] [--domain D | --config FILE]\n       scalard account del ID --force [--data-dir DIR] ...   (also when it owns kept channels, which then end)\n       scalard account list [--data-dir DIR | --config FILE]";
    if wants_help(&args) {
        out(usage);
        return ExitCode::SUCCESS;
    }
    let words = sub_words(&args, |c| admin::Command::parse(c) != Some(admin::Command::List));
    let Some((cmd, id, flags)) = words.and_then(|(c, id, f)| Some((admin::Command::parse(c)?, id, f))) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    // Only `del` takes --force: deleting an account that owns kept channels ends them.
    let force = cmd == admin::Command::Del && flags.iter().any(|f| f == "--force");
    let flags: Vec<String> = flags
        .iter()
        .filter(|f| !(force && *f == "--force"))
        .cloned()
        .collect();
    let flags = flags.as_slice();
    let config = match sub_config("account", flags) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // A domain the operator named (`--domain`, or a configuration's) means what it says.
    let named = |f: &String| {
        ["--domain", "--config"]
            .iter()
            .any(|k| f.split('=').next() == Some(k))
    };
    let domain_named = flags.iter().any(named);
    let typed = id.unwrap_or_default();
    let id = match id
        .map(|id| admin::account_id(id, &config.domain, domain_named))
        .transpose()
    {
        Ok(id) => id.unwrap_or_default(),
        Err(e) => {
            eprintln!("scalard account: {e}");
            return ExitCode::from(2);
        }
    };
    // Held to the end (the password asked for included): a restore must not replace the
    // store this opens, which would take the change with it (store/lock.rs).
    let making = cmd == admin::Command::Add;
    let _hold = match data_dir_path(&config)
        .ok()
        .map(|dir| StoreHold::shared(&dir.join(DB_FILE), making))
    {
        Some(Err(e)) => return sub_result("account", &config, Err(e)),
        hold => hold,
    };
    // Before the password is asked for: a bare name completed with the wrong domain.
    if cmd == admin::Command::Add
        && !domain_named
        && let Ok(dir) = data_dir_path(&config)
        && let Ok(db) = admin::open_existing(&dir.join(DB_FILE))
        && let Err(e) = admin::check_completed_domain(&db, typed, &id)
    {
        eprintln!("scalard account: {e}");
        return ExitCode::from(2);
    }
    // The database is looked for before the password is asked for, so that a wrong directory
    // is said first; only an account added before the first start makes it, and only once
    // the password was taken, so that a refused one leaves nothing behind.
    let open = || {
        let dir = match cmd {
            admin::Command::Add => data_dir(&config),
            _ => data_dir_path(&config),
        };
        dir.and_then(|dir| admin::open(&dir.join(DB_FILE), cmd))
    };
    let early = match cmd {
        // Not opened (that would make it), but a store already there is asked whether the
        // name is taken.
        admin::Command::Add => {
            let db = data_dir_path(&config).ok().map(|dir| dir.join(DB_FILE));
            if let Some(db) = db.filter(|db| db.exists())
                && let Err(e) = admin::open_existing(&db).and_then(|db| admin::check_exists(&db, cmd, &id))
            {
                return sub_result("account", &config, Err(e));
            }
            None
        }
        _ => match open().and_then(|db| admin::check_exists(&db, cmd, &id).map(|()| db)) {
            Ok(db) => Some(db),
            Err(e) => return sub_result("account", &config, Err(e)),
        },
    };
    let password = if cmd.needs_password() {
        match read_new_password(&id) {
            Ok(p) => Some(p),
            Err(NoPassword::Refused(e)) => {
                eprintln!("scalard account: {e}");
                return ExitCode::from(2);
            }
            Err(NoPassword::Unread(e)) => {
                eprintln!("scalard account: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    // A store made here is most often a sign of the wrong directory: the service's came from
    // $STATE_DIRECTORY, which this shell lacks (helper 141).
    let dir = data_dir_path(&config).ok();
    let new_store = cmd == admin::Command::Add && dir.as_ref().is_some_and(|d| !d.join(DB_FILE).exists());
    let db = match early.map_or_else(open, Ok) {
        Ok(db) => db,
        Err(e) => return sub_result("account", &config, Err(e)),
    };
    let owned = match cmd {
        admin::Command::Del => {
            admin::kept_channels(&db, &id).and_then(|owned| admin::owned_channels_note(&id, &owned, force))
        }
        _ => Ok(None),
    };
    let note = match owned {
        Ok(note) => note,
        Err(e) => return sub_result("account", &config, Err(e)),
    };
    let result = admin::run(&db, cmd, &id, password.as_deref());
    if let (Some(note), Ok(_)) = (note, &result) {
        eprintln!("scalard account: {note}");
    }
    if let (true, Ok(_), Some(dir)) = (new_store, &result, dir) {
        eprintln!(
            "scalard account: no store was in {}: made one there; the server must use this \
             directory too (--data-dir; under systemd, /var/lib/scalard)",
            dir.display()
        );
    }
    sub_result("account", &config, result)
}

/// `scalard ban list|del [BAN] [flags]`.
fn ban(args: Vec<String>) -> ExitCode {
    let usage = "usage: scalard ban list [--data-dir DIR | --config FILE]\n       scalard ban del BAN [--data-dir DIR] [--domain D | --config FILE]";
    if wants_help(&args) {
        out(usage);
        return ExitCode::SUCCESS;
    }
    let words = sub_words(&args, |c| c == "del");
    let Some((cmd, target, flags)) = words.and_then(|(c, t, f)| Some((bans::Command::parse(c)?, t, f)))
    else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let config = match sub_config("ban", flags) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let configured = bans::Configured {
        domain: &config.domain,
        bans: &config.policy.bans,
    };
    // Not made if missing: these commands read what a server saved.
    let result = data_dir_path(&config).and_then(|dir| bans::run(&dir, DB_FILE, cmd, target, configured));
    sub_result("ban", &config, result)
}

/// `scalard compact [flags]`: rewrites a stopped server's store without what was deleted
/// (store/compact.rs).
fn compact(args: Vec<String>) -> ExitCode {
    let usage = "usage: scalard compact [--data-dir DIR | --config FILE]";
    if wants_help(&args) {
        out(usage);
        return ExitCode::SUCCESS;
    }
    if args.first().is_some_and(|a| !a.starts_with('-')) {
        eprintln!("{usage}");
        return ExitCode::from(2);
    }
    let config = match sub_config("compact", &args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let result = data_dir_path(&config).and_then(|dir| scalar::store::compact::run(&dir, DB_FILE));
    sub_result("compact", &config, result)
}

/// What `scalard backup` and `scalard restore` run: the data directory, the store's file
/// name, the other file, the time now in Unix ms.
type CopyRun = fn(&Path, &str, &Path, u64) -> Result<String, String>;

/// `scalard backup FILE|DIR [flags]` (a copy beside a running server) and `scalard restore
/// FILE [flags]` (a copy put in place of a stopped one's store): store/backup.rs.
fn copy_command(sub: &str, operand: &str, args: Vec<String>, run: CopyRun) -> ExitCode {
    let usage = format!("usage: scalard {sub} {operand} [--data-dir DIR | --config FILE]");
    if wants_help(&args) {
        out(&usage);
        return ExitCode::SUCCESS;
    }
    let Some((file, flags)) = args.split_first().filter(|(f, _)| !f.starts_with('-')) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let config = match sub_config(sub, flags) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let result = data_dir_path(&config).and_then(|dir| run(&dir, DB_FILE, Path::new(file), now));
    sub_result(sub, &config, result)
}

/// The certificate and key files a TLS listener needs, if the configuration has one.
fn tls_files(config: &Config) -> Option<TlsFiles> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) if !config.tls_listen.is_empty() => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    }
}

/// `scalard check [--integrity] [OPTIONS]`: reads what a start would read (the options, the
/// configuration file, the TLS certificate and key, the store's header) without binding,
/// making or changing anything, and says what it found, with the warnings a start would log.
/// Run before a reload (`ExecReload=`), it tells the operator what SIGHUP would refuse: a
/// reload refused is only a log line. `--integrity` also reads the whole store for damage.
fn check(mut args: Vec<String>) -> ExitCode {
    let integrity = args.iter().any(|a| a == "--integrity");
    args.retain(|a| a != "--integrity");
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e @ (ConfigError::Help | ConfigError::Version)) => {
            out(&e.to_string());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("scalard check: {e}");
            return ExitCode::from(2);
        }
    };
    let tls_doubt = match tls_files(&config).map(|f| f.load_quietly()) {
        Some(Err(e)) => {
            eprintln!("scalard check: TLS: {e}");
            return ExitCode::from(1);
        }
        Some(Ok((_, doubt))) => doubt,
        None => None,
    };
    let list = |a: &[std::net::SocketAddr]| a.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
    if let (false, Err(e)) = (config.ephemeral, restore_finished(&config)) {
        eprintln!("scalard check: {e}");
        return ExitCode::from(1);
    }
    let mut warnings: Vec<String> = raised(&config.limits).into_iter().collect();
    // The limit a start would raise its own to: raised here too, in this process alone.
    warnings.extend(start_warnings(&config, &open_file_limit()));
    warnings.extend(tls_doubt);
    let store = match (config.ephemeral, data_dir_path(&config)) {
        (true, _) => {
            warnings.extend(accountless_admins(&config, None::<fn(&str) -> bool>, None));
            "ephemeral (no history, no accounts)".to_string()
        }
        (false, Ok(dir)) if let Some(e) = lock::unwritable(&dir, &STORE_FILES) => {
            eprintln!("scalard check: {e}");
            return ExitCode::from(1);
        }
        (false, Ok(dir)) => match check_store(&config, &dir, integrity) {
            Ok((said, more)) => {
                warnings.extend(more);
                format!("data directory {}{said}", dir.display())
            }
            Err(e) => {
                eprintln!("scalard check: {e}");
                for hint in data_dir_hints(&config, &e) {
                    eprintln!("scalard check: {hint}");
                }
                return ExitCode::from(1);
            }
        },
        (false, Err(e)) => {
            eprintln!("scalard check: {e}");
            return ExitCode::from(1);
        }
    };
    for warning in warnings {
        eprintln!("scalard check: warning: {warning}");
    }
    // Either list may be empty (a TLS-only server), not both.
    let listening = [("listening on ", &config.listen), ("TLS on ", &config.tls_listen)]
        .into_iter()
        .filter(|(_, addrs)| !addrs.is_empty())
        .map(|(what, addrs)| format!("{what}{}", list(addrs)))
        .collect::<Vec<_>>()
        .join("; ");
    out(&format!(
        "configuration OK: domain {}; {listening}; {store}; unregistered IDs: {}; \
         registration: {}; {} admin(s), {} configured ban(s)",
        config.domain,
        config.auth.policy.name(),
        if config.auth.registration {
            "open"
        } else {
            "closed"
        },
        config.policy.admins.len(),
        config.policy.bans.len(),
    ));
    ExitCode::SUCCESS
}

/// What `scalard check` says of the store in `dir` (after "data directory DIR"), and the
/// warnings a start would log of it; or what a start would refuse in it.
fn check_store(config: &Config, dir: &Path, integrity: bool) -> Result<(String, Vec<String>), String> {
    let Some(db) = Db::inspect(&dir.join(DB_FILE)).map_err(|e| e.to_string())? else {
        let warnings = accountless_admins(config, Some(|_: &str| false), Some(dir));
        return Ok((" (no store yet: the start makes one)".into(), warnings));
    };
    let version = db.schema_version().map_err(|e| e.to_string())?;
    let mut said = match version < SCHEMA_VERSION {
        true => format!(" (store of schema version {version}: the start upgrades it)"),
        false => String::new(),
    };
    // Before the accounts are read: a damaged row there would stop the check at that read,
    // without the word damage (review).
    if integrity {
        let damage = db.damage(&dir.join(DB_FILE), 10).map_err(|e| e.to_string())?;
        if !damage.is_empty() {
            return Err(format!(
                "the store is damaged: {} (docs/OPERATIONS.md, A damaged store)",
                damage.join("; ")
            ));
        }
        said.push_str(" (its integrity checked)");
    }
    // An older schema may not have the accounts a start would read after upgrading it.
    let warnings = match version == SCHEMA_VERSION {
        true => {
            let names = db.account_names().map_err(|e| e.to_string())?;
            accountless_admins(
                config,
                Some(|id: &str| names.iter().any(|n| &**n == id)),
                Some(dir),
            )
        }
        false => Vec::new(),
    };
    Ok((said, warnings))
}

/// [`scalar::server::accountless_admins`] of the configuration, the store in `dir`.
fn accountless_admins(
    config: &Config,
    has: Option<impl Fn(&str) -> bool>,
    dir: Option<&Path>,
) -> Vec<String> {
    let dir = dir.map(|d| d.display().to_string());
    scalar::server::accountless_admins(&config.policy.admins, &config.domain, has, dir.as_deref())
}

/// A new password: typed twice at a terminal, or one line of stdin.
fn read_new_password(id: &str) -> Result<String, NoPassword> {
    let read = |prompt: &str| scalar::tty::read_secret(prompt).map_err(NoPassword::from);
    let p = read(&format!("password for {id}: "))?;
    admin::check_password(&p).map_err(NoPassword::Refused)?;
    if scalar::tty::stdin_is_tty() && read("again: ")? != p {
        return Err(NoPassword::Refused("the two passwords differ".into()));
    }
    Ok(p)
}

/// Why `scalard account` took no new password: what was given, refused as any input it
/// refuses (exit 2, as OPERATIONS.md has it: found in a walk-through, a weak password exited
/// 1), or standard input that could not be read (exit 1).
enum NoPassword {
    /// None given, or one `check_password` or the second typing refused.
    Refused(String),
    /// Reading standard input failed.
    Unread(std::io::Error),
}

impl From<std::io::Error> for NoPassword {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            // Nothing given (an empty stdin, Ctrl-D at the prompt) is no password given.
            std::io::ErrorKind::UnexpectedEof => NoPassword::Refused(e.to_string()),
            // Read, but no text (found in review: exit 1, and std's "stream did not contain
            // valid UTF-8"): refused as the input it is.
            std::io::ErrorKind::InvalidData => NoPassword::Refused("the password is not UTF-8 text".into()),
            _ => NoPassword::Unread(e),
        }
    }
}

/// Whether binding `addr` fails because the host has no IPv6 (or no such address), rather
/// than for a reason to report, such as the port being taken.
fn no_ipv6(addr: &std::net::SocketAddr) -> bool {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => false,
        Err(e) => matches!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT)),
    }
}

fn main() -> ExitCode {
    // Everything scalard makes (the data directory, the database and its WAL and index files,
    // the lock) holds every message, direct ones included, and the password hashes: for its
    // own user only, whatever umask it was started with. SQLite gives the WAL and index files
    // the database's mode.
    // SAFETY: umask only sets the process's file mode mask; it cannot fail.
    unsafe { libc::umask(0o077) };
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The offline commands say what they did themselves; the store's news at info (a new
    // database, a migration) would be a server's log line among them (found by QA).
    let offline = matches!(
        args.first().map(String::as_str),
        Some("account" | "ban" | "compact" | "check" | "backup" | "restore" | "salvage")
    );
    let level = if offline { Level::Warn } else { Level::Info };
    let log_note = scalar::logs::init(level);
    match args.first().map(String::as_str) {
        Some("account") => return account(args.into_iter().skip(1).collect()),
        Some("ban") => return ban(args.into_iter().skip(1).collect()),
        Some("compact") => return compact(args.into_iter().skip(1).collect()),
        Some("check") => return check(args.into_iter().skip(1).collect()),
        Some("backup") => {
            let args = args.into_iter().skip(1).collect();
            return copy_command("backup", "FILE|DIR", args, scalar::store::backup::backup);
        }
        Some("restore") => {
            let args = args.into_iter().skip(1).collect();
            return copy_command("restore", "FILE", args, scalar::store::restore::restore);
        }
        Some("salvage") => {
            let args = args.into_iter().skip(1).collect();
            return copy_command("salvage", "FILE|DIR", args, scalar::store::salvage::salvage);
        }
        _ => {}
    }
    let mut config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e @ (ConfigError::Help | ConfigError::Version)) => {
            out(&e.to_string());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("scalard: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(note) = log_note {
        eprintln!("{note}");
    }
    // As read, for a reload to tell what changed.
    let as_read = config.clone();
    if config.default_listen {
        // The defaults name both loopback families; a host without IPv6 still starts on IPv4.
        // Only that: a port taken on ::1 is an error like one taken on 127.0.0.1, or clients
        // that try ::1 first would reach the other program.
        config.listen.retain(|a| {
            let kept = a.is_ipv4() || !no_ipv6(a);
            if !kept {
                log::info!("no IPv6 on this host: not listening on {a}");
            }
            kept
        });
    }
    if !scalar::net::heap::fix_mmap_threshold() {
        log::debug!("malloc's mmap threshold left as it is");
    }
    let reserve = scalar::server::FD_RESERVE;
    // Unread, it is a warning of start_warnings'.
    let fd_read = open_file_limit();
    let fd_limit = fd_read.as_ref().ok().copied();
    if !config.max_connections_set {
        // Every connection is a descriptor: derive the limit rather than fail at accept.
        config.limits.max_connections = derived_max_connections(fd_limit);
        match fd_limit {
            // Under the reserve: a warning of start_warnings'.
            Some(n) if n > reserve + 1 && n < scalar::server::DEFAULT_MAX_CONNECTIONS + reserve => {
                log::info!(
                    "max-connections {} (open-file limit {n} less {reserve})",
                    config.limits.max_connections
                )
            }
            _ => {}
        }
    }
    // Loaded before anything is bound, so a bad file stops scalard at once, like the data dir.
    let tls = match tls_files(&config).map(|f| (f.load(), f)) {
        Some((Ok(server_config), files)) => Some((files, server_config)),
        Some((Err(e), _)) => {
            eprintln!("scalard: TLS: {e}");
            return ExitCode::from(1);
        }
        None => None,
    };
    // Before binding, so that a second scalard started on this directory says that rather
    // than "address in use"; and declared before the shell, so that it is released only after
    // the store's last commit, whichever way the shell ends.
    let mut lock = match lock_data_dir(&config) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    if let Some(pid) = lock.as_ref().and_then(DirLock::unclean_stop) {
        log::warn!(
            "the last scalard on this data directory (pid {pid}) did not stop cleanly (killed, \
             crashed, or the machine lost power): if it ran with --fsync batched, what it \
             echoed in its last moments may not have been stored; with --fsync always, nothing \
             it echoed was lost (docs/OPERATIONS.md, Durability)"
        );
    }
    install_signal_handlers();
    let mut shell = match Shell::bind(&config.listen, &config.domain, config.limits.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scalard: cannot listen: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some((files, server_config)) = tls
        && let Err(e) = shell.listen_tls(&config.tls_listen, files, server_config)
    {
        eprintln!("scalard: cannot listen for TLS: {e}");
        return ExitCode::from(1);
    }
    shell.set_plain_policy(config.plain);
    if let Err(e) = shell.reload_on(&RELOAD, reconfigure(fd_limit, as_read)) {
        eprintln!("scalard: cannot start the reloading thread: {e}");
        return ExitCode::from(1);
    }
    let _ = WAKER.set(shell.waker());
    shell.server_mut().set_auth(config.auth.clone());
    if !config.ephemeral {
        let opened = open_store(&config, &shell)
            .map(|(store, history, start)| shell.keep_history(store, &history, start))
            .and_then(|()| open_accounts(&config, &mut shell));
        if let Err(e) = opened {
            return unusable_data_dir(&config, &e);
        }
    } else {
        // Who may come in, as a server with accounts says it (found by QA: nothing here).
        log::info!(
            "ephemeral: keeping no history and no accounts; unregistered IDs: {}",
            config.auth.policy.name()
        );
    }
    // After the store: the configured motd, if any, replaces the one saved there.
    shell.set_policy(config.policy.clone());
    shell.server_mut().set_token_lifetime(config.token_lifetime);
    if let Err(e) = admit_foreign(&config, &mut shell) {
        eprintln!("scalard: cannot start the federation threads: {e}");
        return ExitCode::from(1);
    }
    // Bound before the server says it listens, said after (the listeners come first).
    let metrics_at = match config.metrics_listen.map(|a| (a, shell.serve_metrics(a))) {
        None => None,
        Some((_, Ok(bound))) => Some(bound),
        Some((addr, Err(e))) => {
            eprintln!("scalard: cannot listen for metrics on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    // Before it says it listens: from then on a stop that is not clean is one.
    if let Some(Err(e)) = lock.as_mut().map(DirLock::serving) {
        log::warn!("cannot write the lock file: {e}; a crash will not be told at the next start");
    }
    for (addr, transport) in shell.local_addrs() {
        match transport {
            Transport::Plain => log::info!("listening on {addr}"),
            Transport::Tls => log::info!("listening on {addr} (tls)"),
        }
    }
    if let Some(bound) = metrics_at {
        log::info!("metrics at http://{bound}/metrics");
    }
    for warning in start_warnings(&config, &fd_read) {
        log::warn!("{warning}");
    }
    log::info!("serving domain {}", config.domain);
    warn_of_raised(&config.limits);
    match shell.run(&STOP) {
        Ok(Stopped {
            unstored: 0,
            store_gone: false,
        }) => {
            if let Some(Err(e)) = lock.as_mut().map(DirLock::stopped_cleanly) {
                log::warn!(
                    "cannot write the lock file: {e}; the next start will say this stop was not clean"
                );
            }
            ExitCode::SUCCESS
        }
        // A clean stop that lost accepted Messages is not a clean stop: exit 1, so that a
        // supervisor (systemd's Restart=on-failure, a script) records it.
        Ok(Stopped { unstored, .. }) if unstored > 0 => {
            log::error!("stopped with {unstored} accepted events not stored (see above): exit 1");
            ExitCode::from(1)
        }
        Ok(Stopped { .. }) => {
            log::error!("stopped with the store's file removed or replaced (see above): exit 1");
            ExitCode::from(1)
        }
        Err(e) => {
            log::error!("poll failed: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unread_open_file_limit_is_a_warning() {
        for given in [&[][..], &["--max-connections", "100"]] {
            let mut args = vec!["--ephemeral".to_string()];
            args.extend(given.iter().map(|s| s.to_string()));
            let config = Config::from_args(args).expect("a valid command line");
            let unread = Err(std::io::Error::from_raw_os_error(libc::EINVAL));
            let said = start_warnings(&config, &unread).join("\n");
            assert!(
                said.contains("cannot read the open-file limit")
                    && said.contains(&format!("max-connections {}", config.limits.max_connections)),
                "{given:?}: {said}"
            );
            // Read and ample, it is no warning.
            let said = start_warnings(&config, &Ok(1 << 20)).join("\n");
            assert!(!said.contains("open-file limit"), "{given:?}: {said}");
        }
    }

    /// `plain = loopback` is warned of where it shuts every other host out: no TLS address,
    /// and a plain one they reach. Beside TLS, or on loopback addresses only, it is not.
    #[test]
    fn plain_loopback_without_tls_is_a_warning_where_it_shuts_others_out() {
        let warns = |extra: &[&str]| {
            let mut args = vec!["--ephemeral".to_string(), "--plain".into(), "loopback".into()];
            args.extend(extra.iter().map(|s| s.to_string()));
            let config = Config::from_args(args).expect("a valid command line");
            start_warnings(&config, &Ok(1 << 20))
                .join("\n")
                .contains("plain = loopback")
        };
        assert!(warns(&["--listen", "0.0.0.0:7667"]));
        assert!(warns(&[
            "--listen",
            "127.0.0.1:7667",
            "--listen",
            "192.0.2.1:7667"
        ]));
        assert!(!warns(&[]), "the default listens on loopback only");
        assert!(!warns(&["--listen", "127.0.0.1:7667", "--listen", "[::1]:7667"]));
        let tls = ["--listen", "0.0.0.0:7667", "--tls-listen", "0.0.0.0:7668"];
        let files = ["--tls-cert", "c.pem", "--tls-key", "k.pem"];
        assert!(!warns(&[&tls[..], &files[..]].concat()));
    }
}
