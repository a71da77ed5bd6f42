//! scalard: the Scalar server. See docs/OPERATIONS.md.

use scalar::config::{Config, ConfigError};
use scalar::net::Shell;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static WAKER: OnceLock<mio::Waker> = OnceLock::new();

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
    // A signal that lands between the loop's check of STOP and its wait would otherwise go
    // unseen until the next tick; the waker (one write to an eventfd, async-signal-safe)
    // ends the wait.
    if let Some(w) = WAKER.get() {
        let _ = w.wake();
    }
}

/// SIGINT and SIGTERM set STOP and wake the poll loop. SIGPIPE is ignored: a write to a closed
/// socket must be an error on that connection, not the end of the process.
fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the sigaction
    // struct is fully initialised before use.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut config = match Config::from_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e @ (ConfigError::Help | ConfigError::Version)) => {
            println!("{e}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("scalard: {e}");
            return ExitCode::from(2);
        }
    };
    if config.default_listen {
        // The defaults name both loopback families; a host without IPv6 still starts on IPv4.
        config
            .listen
            .retain(|a| std::net::TcpListener::bind(a).is_ok() || a.is_ipv4());
    }
    if config.data_dir.is_some() {
        log::warn!("--data-dir is reserved for history; this version keeps none");
    }
    match scalar::net::raise_fd_limit() {
        Ok(n) if (n as usize) < config.limits.max_connections + 16 => log::warn!(
            "open-file limit {n} is below max-connections {}; raise ulimit -n",
            config.limits.max_connections
        ),
        Ok(_) => {}
        Err(e) => log::warn!("cannot read the open-file limit: {e}"),
    }
    install_signal_handlers();
    let mut shell = match Shell::bind(&config.listen, &config.domain, config.limits.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scalard: cannot listen on {:?}: {e}", config.listen);
            return ExitCode::from(1);
        }
    };
    match shell.waker() {
        Ok(w) => {
            let _ = WAKER.set(w);
        }
        Err(e) => log::warn!("no waker for signals ({e}); a stop may take up to a second"),
    }
    for addr in shell.local_addrs() {
        log::info!("listening on {addr}");
    }
    log::info!("serving domain {}", config.domain);
    match shell.run(&STOP) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("poll failed: {e}");
            ExitCode::from(1)
        }
    }
}
