//! Which peers count as this machine: PROTOCOL.md §1 lets a password cross plain TCP only to
//! a loopback address.

use std::net::IpAddr;

/// Loopback, including an IPv4 loopback address reached through a dual-stack IPv6 socket
/// (`::ffff:127.0.0.1`), which `IpAddr::is_loopback` does not count.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}
