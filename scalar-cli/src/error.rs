//! The errors a run can end with, each a one-line message and a documented exit code
//! (docs/CLI.md, "Exit codes").

use crate::conn::NetError;
use std::fmt;
use std::process::ExitCode;

/// Exit code: bad usage (unknown option, missing argument, invalid topic or ID).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the server could not be reached, or the connection failed or timed out.
pub const EXIT_CONNECTION: u8 = 3;
/// Exit code: the server refused a request or the session (an Error or a Bye).
pub const EXIT_REFUSED: u8 = 4;
/// Exit code: the input to send is unusable (not UTF-8, or longer than a body may be).
pub const EXIT_INPUT: u8 = 5;
/// Exit code: anything else, such as a failure to write standard output.
pub const EXIT_OTHER: u8 = 1;

/// Why a run failed.
#[derive(Debug)]
pub enum CliError {
    /// The command line is wrong; the text says how.
    Usage(String),
    /// Talking to the server failed.
    Net(NetError),
    /// Input to be sent is unusable; nothing of it was sent.
    Input(String),
    /// Standard output or another local resource failed.
    Local(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Net(NetError::Refused { .. }) => EXIT_REFUSED,
            CliError::Net(_) => EXIT_CONNECTION,
            CliError::Input(_) => EXIT_INPUT,
            CliError::Local(_) => EXIT_OTHER,
        })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(s) => write!(f, "{s} (see --help)"),
            CliError::Net(e) => e.fmt(f),
            CliError::Input(s) | CliError::Local(s) => f.write_str(s),
        }
    }
}

impl From<NetError> for CliError {
    fn from(e: NetError) -> Self {
        CliError::Net(e)
    }
}
