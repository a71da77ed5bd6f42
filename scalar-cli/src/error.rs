//! The errors a run can end with, each a one-line message and a documented exit code
//! (docs/CLI.md, "Exit codes").

use crate::conn::NetError;
use scalar::client::TlsError;
use scalar::tls::{Fingerprint, rustls};
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
    /// Talking to the home server of the user's domain failed while getting a token: said
    /// with `whose`, since a refused password, a certificate's hint (`--ca FILE trusts ...`)
    /// or a timeout read as the server's given with `--server` (found by QA and in review).
    AtHome {
        /// `HOST:PORT, the home server of DOMAIN, for a token`.
        whose: String,
        /// The failure.
        err: NetError,
    },
    /// Input to be sent is unusable; nothing of it was sent.
    Input(String),
    /// Standard output or another local resource failed.
    Local(String),
    /// Some of the work asked for was not done, each failure said already (a chat reading a
    /// pipe whose lines were not all sent).
    Failed(String),
}

impl CliError {
    /// The network failure, at the server or at the home server for a token: whichever, it
    /// decides the exit code and whether trying again may help.
    pub fn net(&self) -> Option<&NetError> {
        match self {
            CliError::Net(e) | CliError::AtHome { err: e, .. } => Some(e),
            _ => None,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Failed(_) => EXIT_REFUSED,
            CliError::Net(e) | CliError::AtHome { err: e, .. } => match e {
                NetError::Refused { .. } => EXIT_REFUSED,
                _ => EXIT_CONNECTION,
            },
            CliError::Input(_) => EXIT_INPUT,
            CliError::Local(_) => EXIT_OTHER,
        })
    }
}

impl crate::paging::PageError for CliError {
    fn refusal(self) -> Result<NetError, Self> {
        match self {
            CliError::Net(e) => e.refusal().map_err(CliError::Net),
            other => Err(other),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(s) => write!(f, "{s} (see --help)"),
            CliError::Net(e) => net(e, f),
            CliError::AtHome { whose, err } => {
                net(err, f)?;
                write!(f, " (at {whose})")
            }
            CliError::Input(s) | CliError::Local(s) | CliError::Failed(s) => f.write_str(s),
        }
    }
}

/// How a network failure is said, with what to do about it where the client can tell.
fn net(e: &NetError, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match e {
        NetError::PinMismatch {
            server,
            expected,
            got,
        } => f.write_str(&pin_mismatch(server, expected, got)),
        NetError::Tls(TlsError::Rustls(rustls::Error::InvalidCertificate(c))) => {
            write!(f, "{e} ({})", certificate_hint(c))
        }
        NetError::Tls(TlsError::Rustls(rustls::Error::InvalidMessage(_))) => {
            write!(f, "{e} (does the server speak TLS on that port?)")
        }
        e => fmt::Display::fmt(e, f),
    }
}

/// What to do about a certificate the client refused, by why it did.
fn certificate_hint(c: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match c {
        _ if is_a_cas(c) => "the server's certificate says it is a CA's, which no client takes \
             for a server's own: --tofu pins it as it is; made again with -addext \
             basicConstraints=critical,CA:FALSE (see the README), --ca FILE trusts it too"
            .into(),
        E::Expired | E::ExpiredContext { .. } => {
            "the server's certificate has expired: its operator must renew it".into()
        }
        E::NotValidYet | E::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet: check this machine's clock, or its \
             operator's"
                .into()
        }
        E::NotValidForNameContext { presented, .. } if !presented.is_empty() => {
            // rustls gives each name as its Debug form: DnsName("chat.example.org").
            let names: Vec<&str> = presented
                .iter()
                .map(|p| {
                    p.strip_prefix("DnsName(\"")
                        .and_then(|p| p.strip_suffix("\")"))
                        .unwrap_or(p)
                })
                .collect();
            format!(
                "the certificate is trusted but names another host: connect by a name it \
                 carries ({})",
                names.join(", ")
            )
        }
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            "the certificate is trusted but names another host: connect by a name it carries".into()
        }
        _ => "the server's certificate is not trusted: --ca FILE trusts the CA in FILE (which \
             must be the one that signed it), --tofu pins a self-signed certificate on first use"
            .into(),
    }
}

/// Whether a certificate was refused for being a CA's: a self-signed one that `openssl req
/// -x509` made without saying `CA:FALSE`.
fn is_a_cas(c: &rustls::CertificateError) -> bool {
    let rustls::CertificateError::Other(other) = c else {
        return false;
    };
    matches!(
        other.0.downcast_ref::<webpki::Error>(),
        Some(webpki::Error::CaUsedAsEndEntity)
    )
}

/// The refusal of a server whose certificate is not the one pinned: several lines, loud on
/// purpose, with the command that accepts the new certificate once the user has checked it.
pub fn pin_mismatch(server: &str, expected: &Fingerprint, got: &Fingerprint) -> String {
    format!(
        "WARNING: THE CERTIFICATE OF {server} HAS CHANGED\n\
         The server presented a certificate other than the one pinned for it on first use:\n\
         \x20 pinned:    {expected}\n\
         \x20 presented: {got}\n\
         Someone may be intercepting the connection (an attack), or the server's operator\n\
         replaced its certificate. Nothing was sent. Check the new fingerprint with the\n\
         operator; if it is right, accept it with:\n\
         \x20 scalar-cli trust {server} {got}"
    )
}

impl From<NetError> for CliError {
    fn from(e: NetError) -> Self {
        CliError::Net(e)
    }
}
