//! A closed terminal (SIGHUP) or a `kill` (SIGTERM) ends the client as `/quit` would for what
//! matters later: the inbox mark is written (else the last second's direct messages are shown
//! again at the next start) and the terminal is left as it was found, not in the editor's raw
//! mode. Both signals are blocked in every thread and taken by one that waits for them, so
//! this runs as plain code, not in a signal handler; then the client ends by the signal, as
//! before, so a shell or a supervisor sees why.

use super::shared::Shared;
use std::sync::{Arc, OnceLock};

/// The signals taken.
const SIGNALS: [libc::c_int; 2] = [libc::SIGHUP, libc::SIGTERM];

/// Where the watching thread finds the client, once there is one (a signal during the
/// password prompt finds none: there is no mark to keep yet).
pub type Client = Arc<OnceLock<Arc<Shared>>>;

/// Blocks the signals in this thread and every thread it starts from now on, and starts the
/// one that waits for them. Call it first, before any other thread starts: one started before
/// would take the signal and die of it at once. Also saves the terminal's modes (of standard
/// input, if a terminal) to put back.
pub fn watch() -> std::io::Result<Client> {
    let set = signal_set();
    // SAFETY: `set` is an initialised signal set; the old mask is not asked for.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if r != 0 {
        return Err(std::io::Error::from_raw_os_error(r));
    }
    let modes = terminal_modes();
    let client: Client = Arc::default();
    let seen = client.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let sig = wait(&set);
            if let Some(shared) = seen.get() {
                shared.keep_mark();
            }
            if let Some(modes) = modes {
                restore(&modes);
            }
            die_of(sig);
        })?;
    Ok(client)
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set; sigaddset adds valid signal numbers to it.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        for s in SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Waits for one of the blocked signals; its number.
fn wait(set: &libc::sigset_t) -> libc::c_int {
    loop {
        let mut sig = 0;
        // SAFETY: `set` is initialised and blocked in every thread; `sig` is written on success.
        if unsafe { libc::sigwait(set, &mut sig) } == 0 {
            return sig;
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

/// Puts the terminal's modes back, ends a line the editor left open and turns off the
/// bracketed paste it may have turned on. Nothing to do if the terminal is gone (SIGHUP).
fn restore(modes: &libc::termios) {
    use std::io::Write;
    // SAFETY: `modes` came from tcgetattr on the same descriptor.
    if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, modes) } == 0 {
        let mut out = std::io::stdout();
        let _ = out.write_all(b"\x1b[?2004l\r\n");
        let _ = out.flush();
    }
}

/// Ends the process by `sig`, its default action.
fn die_of(sig: libc::c_int) -> ! {
    // SAFETY: resetting a signal to its default, unblocking it in this thread and raising it
    // here: the process ends by it.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut only = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut only);
        libc::sigaddset(&mut only, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &only, std::ptr::null_mut());
        libc::raise(sig);
    }
    // Not reached; should the signal not end the process, end it anyway.
    std::process::exit(128 + sig)
}
