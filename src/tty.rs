//! Reading a secret (a password) from the terminal without echoing it, or from stdin when
//! stdin is not a terminal (scripts pipe it in). Shared by `scalard account` and scalar-cli.

use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// The signals that would end the process at the prompt (Ctrl-C, Ctrl-\\, a `kill`, a closed
/// terminal): each puts the echo back first, when the process had left it to its default.
const ENDING: [libc::c_int; 4] = [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP];

/// Whether ECHO and ECHONL were on before the prompt, for the handler (which can take no
/// arguments): it puts back those two, which the prompt changed.
static ECHO_WAS: AtomicBool = AtomicBool::new(true);
static ECHONL_WAS: AtomicBool = AtomicBool::new(false);

/// Restores the terminal's settings, and the signals' dispositions, when dropped, even if
/// reading fails.
struct EchoOff {
    modes: libc::termios,
    /// The signals given [`on_ending`], with their dispositions before.
    handled: Vec<(libc::c_int, libc::sigaction)>,
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores settings read from the same descriptor by tcgetattr, then the
        // dispositions sigaction returned for the same signals.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.modes);
            for (sig, before) in &self.handled {
                libc::sigaction(*sig, before, std::ptr::null_mut());
            }
        }
    }
}

/// Puts the echo back as it was and ends the process by `sig` (its disposition is the default
/// again: SA_RESETHAND). Without it, Ctrl-C at the prompt left the shell without echo.
/// Only async-signal-safe calls (tcgetpgrp, getpgrp, tcgetattr, tcsetattr, write, raise).
extern "C" fn on_ending(sig: libc::c_int) {
    // SAFETY: async-signal-safe calls on a local struct and the standard descriptors.
    unsafe {
        // In the background (stopped with Ctrl-Z, then killed), tcsetattr would stop the
        // process (SIGTTOU) rather than let it end; the modes are the foreground job's then.
        // A terminal that is not the controlling one (tcgetpgrp fails) stops nobody.
        let group = libc::tcgetpgrp(libc::STDIN_FILENO);
        let foreground = group == -1 || group == libc::getpgrp();
        let mut t: libc::termios = std::mem::zeroed();
        if foreground && libc::tcgetattr(libc::STDIN_FILENO, &mut t) == 0 {
            let mut put_back = |flag: libc::tcflag_t, was: &AtomicBool| match was.load(Ordering::Relaxed) {
                true => t.c_lflag |= flag,
                false => t.c_lflag &= !flag,
            };
            put_back(libc::ECHO, &ECHO_WAS);
            put_back(libc::ECHONL, &ECHONL_WAS);
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t);
        }
        // The typed line was not echoed, nor its end: the shell's prompt starts a new line. (Not
        // in the background, where `stty tostop` would stop the process for it.)
        if foreground {
            libc::write(libc::STDERR_FILENO, c"\n".as_ptr().cast(), 1);
        }
        libc::raise(sig);
    }
}

/// Gives `sig` to [`on_ending`] if its disposition is the default (a signal ignored, or
/// handled by the program already, is left alone); the disposition before, if it did.
fn handle_ending(sig: libc::c_int) -> Option<(libc::c_int, libc::sigaction)> {
    // SAFETY: sigaction reads and writes the structs passed, initialised (zeroed, then the
    // fields set) before use; the handler is an `extern "C" fn(c_int)`.
    unsafe {
        let mut before: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, std::ptr::null(), &mut before) != 0 || before.sa_sigaction != libc::SIG_DFL {
            return None;
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_ending as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESETHAND;
        libc::sigemptyset(&mut action.sa_mask);
        (libc::sigaction(sig, &action, std::ptr::null_mut()) == 0).then_some((sig, before))
    }
}

/// How Ctrl-C and Ctrl-\\ act at the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// As signals: the process ends, the echo put back first (a command's prompt).
    Signal,
    /// As characters in the line read, for the caller to take as it will: a program that
    /// must not end there (scalar-cli's chat, whose `/passwd` cancels).
    Typed,
}

fn echo_off(keys: Keys) -> Option<EchoOff> {
    // SAFETY: isatty/tcgetattr/tcsetattr only read and write the struct passed, which is
    // initialised (zeroed, then filled by tcgetattr) before use.
    unsafe {
        if libc::isatty(libc::STDIN_FILENO) != 1 {
            return None;
        }
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(libc::STDIN_FILENO, &mut t) != 0 {
            return None;
        }
        ECHO_WAS.store(t.c_lflag & libc::ECHO != 0, Ordering::Relaxed);
        ECHONL_WAS.store(t.c_lflag & libc::ECHONL != 0, Ordering::Relaxed);
        let saved = EchoOff {
            modes: t,
            handled: match keys {
                Keys::Signal => ENDING.into_iter().filter_map(handle_ending).collect(),
                Keys::Typed => Vec::new(),
            },
        };
        t.c_lflag &= !libc::ECHO;
        t.c_lflag |= libc::ECHONL;
        if keys == Keys::Typed {
            t.c_lflag &= !libc::ISIG;
        }
        // A line as a shell reads it, whatever the mode before (found: in scalar-cli's chat,
        // after its line editor, Enter came as a CR that did not end the line).
        t.c_lflag |= libc::ICANON;
        t.c_iflag |= libc::ICRNL;
        t.c_oflag |= libc::OPOST | libc::ONLCR;
        libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t);
        Some(saved)
    }
}

/// True if stdin is a terminal.
pub fn stdin_is_tty() -> bool {
    // SAFETY: isatty reads nothing but its argument.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// Reads one line from stdin, without its line ending. On a terminal the prompt goes to stderr
/// and the typing is not echoed.
pub fn read_secret(prompt: &str) -> io::Result<String> {
    read_secret_with(prompt, Keys::Signal)
}

/// [`read_secret`], with Ctrl-C and Ctrl-\\ acting as `keys` says.
pub fn read_secret_with(prompt: &str, keys: Keys) -> io::Result<String> {
    let _guard = echo_off(keys);
    if _guard.is_some() {
        let mut err = io::stderr();
        write!(err, "{prompt}")?;
        err.flush()?;
    }
    let mut line = String::new();
    if io::stdin().lock().read_line(&mut line)? == 0 {
        // Ctrl-D at the prompt: the error goes on a line of its own, not after the prompt
        // (found by QA).
        if _guard.is_some() {
            let _ = writeln!(io::stderr());
        }
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no password given"));
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
