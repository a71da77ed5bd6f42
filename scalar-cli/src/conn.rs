//! Connecting as the user asked: the shared blocking client (`scalar::client`) plus the
//! completion of an ID given without `@domain`.

use crate::names;
pub use scalar::client::{Client as Conn, ClientError as NetError, encode};
use std::time::Duration;

/// Connects to `server` (`HOST:PORT`) and identifies as `id`. An `id` without `@domain` is
/// completed with a guess from the host name; if the server refuses it as foreign and names its
/// domain (scalard does, in the reason), the handshake is tried once more with that.
pub fn open(server: &str, id: &str, timeout: Duration) -> Result<Conn, NetError> {
    if id.contains('@') {
        return Conn::connect(server, id, timeout);
    }
    let guess = names::guess_domain(server);
    match Conn::connect(server, &format!("{id}@{guess}"), timeout) {
        Err(NetError::Refused { code: 400, reason }) => match names::domain_in_reason(&reason) {
            Some(domain) if domain != guess => Conn::connect(server, &format!("{id}@{domain}"), timeout),
            _ => Err(NetError::Refused { code: 400, reason }),
        },
        other => other,
    }
}
