//! Connecting as the user asked: the shared blocking client (`scalar::client`), over TLS when
//! asked (with trust on first use kept in the known-hosts file), plus the completion of an ID
//! given without `@domain`.

use crate::args::Trust;
use crate::error::CliError;
use crate::known_hosts;
use crate::names;
pub use scalar::client::{Client as Conn, ClientError as NetError, encode};
use scalar::tls::Tls;
use std::time::Duration;

/// Where and how to connect: what every connection of a run (and each reconnection of the
/// interactive client) uses.
#[derive(Debug, Clone)]
pub struct Dial {
    /// `HOST:PORT`.
    pub server: String,
    /// TLS and how to trust the server; `None` for plain TCP.
    pub tls: Option<Trust>,
    /// How long to wait for each step.
    pub timeout: Duration,
}

impl Dial {
    /// The connection settings of a command line.
    pub fn of(args: &crate::args::Args) -> Dial {
        Dial {
            server: args.server.clone(),
            tls: args.tls.clone(),
            timeout: args.timeout,
        }
    }
}

/// Connects to the server and identifies as `id`. An `id` without `@domain` is completed with
/// a guess from the host name; if the server refuses it as foreign and names its domain
/// (scalard does, in the reason), the handshake is tried once more with that.
///
/// With `--tofu`, the pin is read from the known-hosts file at each call (so a reconnection
/// checks the pin the first connection wrote), and written after the first successful
/// connection to a server that had none; `note` is told about that and about malformed lines.
pub fn open(dial: &Dial, id: &str, note: &dyn Fn(&str)) -> Result<Conn, CliError> {
    let (tls, first_use) = tls_for(dial, note)?;
    let server = dial.server.as_str();
    let connect = |id: &str| Conn::connect_with(server, id, dial.timeout, tls.as_ref());
    let conn = if id.contains('@') {
        connect(id)?
    } else {
        let guess = names::guess_domain(server);
        match connect(&format!("{id}@{guess}")) {
            Err(NetError::Refused { code: 400, reason }) => match names::domain_in_reason(&reason) {
                Some(domain) if domain != guess => connect(&format!("{id}@{domain}"))?,
                _ => return Err(NetError::Refused { code: 400, reason }.into()),
            },
            other => other?,
        }
    };
    if first_use && let Some(pin) = conn.peer_fingerprint() {
        pin_first_use(server, pin, note)?;
    }
    Ok(conn)
}

/// The TLS settings for `dial`, and whether this is a first use (`--tofu` with no pin yet).
fn tls_for(dial: &Dial, note: &dyn Fn(&str)) -> Result<(Option<Tls>, bool), CliError> {
    // A CA file that cannot be used is a local failure (exit 1), not a connection one.
    let setup = |r: Result<Tls, scalar::tls::TlsSetupError>| r.map_err(|e| CliError::Local(e.to_string()));
    Ok(match &dial.tls {
        None => (None, false),
        Some(Trust::Roots) => (Some(setup(Tls::webpki_roots())?), false),
        Some(Trust::Ca(file)) => (Some(setup(Tls::with_ca_file(file))?), false),
        Some(Trust::Tofu) => {
            let path = known_hosts::path().ok_or_else(no_home)?;
            let (hosts, warnings) = known_hosts::load(&path).map_err(CliError::Local)?;
            for w in warnings {
                note(&format!("{}: {w}", path.display()));
            }
            let pin = hosts.lookup(&dial.server);
            (Some(setup(Tls::pinned(pin))?), pin.is_none())
        }
    })
}

fn no_home() -> CliError {
    CliError::Local("--tofu needs a place for its known_hosts file: set XDG_DATA_HOME or HOME".into())
}

/// Records the certificate seen on a first use. Re-reads the file first, so a pin written by
/// another run meanwhile is not lost (and a different one is not silently replaced).
fn pin_first_use(server: &str, pin: scalar::tls::Fingerprint, note: &dyn Fn(&str)) -> Result<(), CliError> {
    let path = known_hosts::path().ok_or_else(no_home)?;
    let (mut hosts, _) = known_hosts::load(&path).map_err(CliError::Local)?;
    match hosts.lookup(server) {
        Some(p) if p == pin => return Ok(()),
        Some(expected) => {
            return Err(NetError::PinMismatch {
                server: server.to_string(),
                expected,
                got: pin,
            }
            .into());
        }
        None => {}
    }
    hosts.set(server, pin);
    known_hosts::save(&path, &hosts).map_err(CliError::Local)?;
    note(&format!(
        "first connection to {server}: pinned its certificate {pin} in {}",
        path.display()
    ));
    Ok(())
}

/// `trust HOST:PORT sha256:HEX`: pins `pin` for `server`, replacing the pin it had.
pub fn trust(server: &str, pin: scalar::tls::Fingerprint) -> Result<String, CliError> {
    let path = known_hosts::path().ok_or_else(no_home)?;
    let (mut hosts, _) = known_hosts::load(&path).map_err(CliError::Local)?;
    let old = hosts.set(server, pin);
    known_hosts::save(&path, &hosts).map_err(CliError::Local)?;
    Ok(match old {
        Some(o) if o == pin => format!("{server} was already pinned to {pin}"),
        Some(o) => format!("{server} is now pinned to {pin} (was {o}) in {}", path.display()),
        None => format!("{server} is now pinned to {pin} in {}", path.display()),
    })
}
