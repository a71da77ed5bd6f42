//! Reading a secret (a password) from the terminal without echoing it, or from stdin when
//! stdin is not a terminal (scripts pipe it in). Shared by `scalard account` and scalar-cli.

use std::io::{self, BufRead, Write};

/// Restores the terminal's settings when dropped, even if reading fails.
struct EchoOff(libc::termios);

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores settings read from the same descriptor by tcgetattr.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0) };
    }
}

fn echo_off() -> Option<EchoOff> {
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
        let saved = EchoOff(t);
        t.c_lflag &= !libc::ECHO;
        t.c_lflag |= libc::ECHONL;
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
    let _guard = echo_off();
    if _guard.is_some() {
        let mut err = io::stderr();
        write!(err, "{prompt}")?;
        err.flush()?;
    }
    let mut line = String::new();
    if io::stdin().lock().read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no password given"));
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
