//! A closed terminal (SIGHUP) or a `kill` (SIGTERM) ends the client as `/quit` would for what
//! matters later: the inbox mark is written (else the last second's direct messages are shown
//! again at the next start) and the terminal is left as it was found, not in the editor's raw
//! mode; then the client ends by the signal, as before, so a shell or a supervisor sees why.
//!
//! The handler itself only decides (with async-signal-safe calls) and hands the work to a
//! thread through a pipe. It ends the client at once, by the signal's default action, when
//! that work cannot be done or waited for: in the background (a job stopped with Ctrl-Z, then
//! killed: the editor would stop it again by setting the terminal's modes, and the modes are
//! the foreground job's), or for a second signal while the first is handled (that work is stuck
//! on something). A signal the client was started to ignore (`nohup`) stays ignored.

use super::shared::Shared;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

/// The signals taken.
const SIGNALS: [libc::c_int; 2] = [libc::SIGHUP, libc::SIGTERM];

/// The pipe's write end, for the handler (-1 until there is one).
static PIPE: AtomicI32 = AtomicI32::new(-1);
/// A signal was handed to the thread already.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Where the watching thread finds the client, once there is one (a signal during the
/// password prompt finds none: there is no mark to keep yet).
pub type Client = Arc<OnceLock<Arc<Shared>>>;

/// Saves the terminal's modes (of standard input, if a terminal), starts the thread that does
/// the work and installs the handler.
pub fn watch() -> std::io::Result<Client> {
    let modes = terminal_modes();
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into `fds` on success, which is checked.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let [read, write] = fds;
    // The handler must never block: a full pipe means a signal is on its way already.
    // SAFETY: fcntl on the descriptor just made.
    unsafe { libc::fcntl(write, libc::F_SETFL, libc::O_NONBLOCK) };
    let client: Client = Arc::default();
    let seen = client.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let sig = first_to_end(read);
            let client = seen.get().cloned();
            // No client yet, and the echo off: at the password prompt, whose line the shell's
            // prompt would otherwise go on (not while connecting, which leaves no line open).
            let prompting = client.is_none() && terminal_modes().is_some_and(|t| t.c_lflag & libc::ECHO == 0);
            let unsent = keep_mark_within(client, MARK_WAIT);
            if let Some(modes) = modes {
                restore(&modes);
                if prompting {
                    end_line();
                }
            }
            // Lines a rate held back are lost with the client: said, as /quit says them.
            if let Some(unsent) = unsent.filter(|u| !u.is_empty()) {
                say_now(&format!("scalar-cli: {unsent}\n"));
            }
            die_of(sig);
        })?;
    PIPE.store(write, Ordering::SeqCst);
    for sig in SIGNALS {
        install(sig);
    }
    Ok(client)
}

/// Takes Ctrl-C from now on (the chat has started at a terminal): the editor reads it as a key
/// while a line is typed, but while the client waits for the server the terminal sends SIGINT,
/// which ended the client at once, its marks unwritten (found by QA). A first one is now only
/// said; a second within [`AGAIN_WITHIN`] ends the client as SIGTERM would.
pub fn take_interrupts() {
    install(libc::SIGINT);
}

/// How soon a second Ctrl-C must follow the first to end the client.
const AGAIN_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits for the signal that ends the client: any but a Ctrl-C that does not follow another
/// within [`AGAIN_WITHIN`], which is said instead.
fn first_to_end(read: libc::c_int) -> libc::c_int {
    let mut last: Option<std::time::Instant> = None;
    loop {
        let sig = wait(read);
        if sig != libc::SIGINT || last.is_some_and(|t| t.elapsed() < AGAIN_WITHIN) {
            // Any other signal from now on ends the client at once ([`on_signal`]).
            TAKEN.store(true, Ordering::SeqCst);
            return sig;
        }
        last = Some(std::time::Instant::now());
        say_now("\n-- Ctrl-C: press it again within 2 s to end scalar-cli (it clears the line you type)\n");
    }
}

/// How long the mark may take (its file lock held by another client, a stuck home
/// directory) before the client ends without it.
const MARK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Writes the inbox mark on a thread of its own, waiting for it at most `wait`: the client
/// ends after that whatever happened there (a panic included). What of the lines queued
/// ([`super::paced`]) goes unsent, in words, if it came in time.
fn keep_mark_within(shared: Option<Arc<Shared>>, wait: std::time::Duration) -> Option<String> {
    let shared = shared?;
    let (done, finished) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new().name("mark".into()).spawn(move || {
        shared.keep_mark();
        super::since::keep_all(&shared);
        super::read::keep_unsent(&shared);
        let _ = done.send(super::paced::unsent(&shared));
    });
    spawned.ok()?;
    finished.recv_timeout(wait).ok()
}

/// Handles `sig` with [`on_signal`], unless it is ignored.
fn install(sig: libc::c_int) {
    // SAFETY: sigaction with a null new action only reads the current one; the new one names
    // a handler that makes only async-signal-safe calls.
    unsafe {
        let mut old = std::mem::zeroed::<libc::sigaction>();
        if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 || old.sa_sigaction == libc::SIG_IGN {
            return;
        }
        let mut new = std::mem::zeroed::<libc::sigaction>();
        new.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // Other threads' blocking calls go on rather than fail with EINTR.
        new.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut new.sa_mask);
        libc::sigaction(sig, &new, std::ptr::null_mut());
    }
}

/// The handler: hands the signal to the thread, or ends the client at once (see the module's
/// documentation). Only async-signal-safe calls.
extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: tcgetpgrp, getpgrp, write, signal and raise are async-signal-safe; errno is
    // the interrupted thread's, put back as it was.
    unsafe {
        let errno = *libc::__errno_location();
        // -1: standard input is no terminal, or one that hung up: nothing to stop us.
        let owner = libc::tcgetpgrp(libc::STDIN_FILENO);
        let background = owner != -1 && owner != libc::getpgrp();
        // A Ctrl-C is handed over without taking the thread: it may only be said
        // ([`first_to_end`]), after which the next signal must reach the thread too. One
        // more while the client ends (a key held down) changes nothing: it would end the
        // client before its marks are kept (review 228).
        let hand_over = match sig {
            libc::SIGINT if TAKEN.load(Ordering::SeqCst) && !background => {
                *libc::__errno_location() = errno;
                return;
            }
            libc::SIGINT => true,
            _ => !TAKEN.swap(true, Ordering::SeqCst),
        };
        if !background && hand_over {
            let byte = sig as u8;
            if libc::write(PIPE.load(Ordering::SeqCst), (&raw const byte).cast(), 1) == 1 {
                *libc::__errno_location() = errno;
                return;
            }
        }
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
        *libc::__errno_location() = errno;
    }
}

/// Waits for the handler's byte; the signal it names.
fn wait(read: libc::c_int) -> libc::c_int {
    let mut byte = 0u8;
    loop {
        // SAFETY: reads one byte into `byte`, which is ours.
        match unsafe { libc::read(read, (&raw mut byte).cast(), 1) } {
            1 => return libc::c_int::from(byte),
            n if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            // Nothing else happens on our own pipe while its write end lives (static); should
            // it, this thread waits for good rather than end the client, or spin.
            _ => loop {
                std::thread::park();
            },
        }
    }
}

/// Standard input's terminal modes, if it is a terminal.
fn terminal_modes() -> Option<libc::termios> {
    // SAFETY: tcgetattr writes the struct on success, which is checked.
    unsafe {
        let mut t = std::mem::zeroed::<libc::termios>();
        (libc::tcgetattr(libc::STDIN_FILENO, &mut t) == 0).then_some(t)
    }
}

/// Puts the terminal's modes back, if this process is (still) in the terminal's foreground.
/// Writes nothing: a stalled terminal or an unread pipe must not keep the client from ending
/// (the shell's next prompt turns off the bracketed paste the editor may have left on).
fn restore(modes: &libc::termios) {
    // SAFETY: tcgetpgrp and getpgrp only read; `modes` came from tcgetattr on the same
    // descriptor.
    unsafe {
        if libc::tcgetpgrp(libc::STDIN_FILENO) == libc::getpgrp() {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, modes);
        }
    }
}

/// Ends the password prompt's line on standard error, as Ctrl-C there does.
fn end_line() {
    // SAFETY: isatty only reads.
    if unsafe { libc::isatty(libc::STDERR_FILENO) } == 1 {
        say_now("\n");
    }
}

/// Writes `text` to standard error if it takes it now, and, on a terminal, this process is in
/// its foreground (a background write would stop it): never waits for it.
fn say_now(text: &str) {
    let mut out = libc::pollfd {
        fd: libc::STDERR_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: isatty, tcgetpgrp and getpgrp only read; poll is given one pollfd of ours and
    // no wait; write writes from `text`, within its length.
    unsafe {
        // -1: no terminal controls this process, which no write can stop then.
        let owner = libc::tcgetpgrp(libc::STDIN_FILENO);
        let foreground = libc::isatty(libc::STDERR_FILENO) == 0 || owner == -1 || owner == libc::getpgrp();
        if foreground && libc::poll(&mut out, 1, 0) == 1 && out.revents & libc::POLLOUT != 0 {
            libc::write(libc::STDERR_FILENO, text.as_ptr().cast(), text.len());
        }
    }
}

/// Ends the process by `sig`, its default action.
fn die_of(sig: libc::c_int) -> ! {
    // SAFETY: resetting a signal to its default action and raising it: the process ends.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
    // Not reached; should the signal not end the process, end it anyway.
    std::process::exit(128 + sig)
}
