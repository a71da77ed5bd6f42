//! One client, however its address is written: an IPv4 address, the same one IPv4-mapped
//! (`::ffff:a.b.c.d`, as a dual-stack socket would give it), and an IPv6 host's whole /64,
//! for the server's bans, the login throttle and guests' marks (the connection limits'
//! counting is in mod.rs and flood.rs). From an address review.

use super::auth::rig;
use super::*;
use crate::server::{AdminPolicy, Policy, ServerBan};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A server ban of a range holds the range's IPv4 clients however the address is written,
/// and an IPv6 range every address in it, at accept; nothing past its bounds.
#[test]
fn a_server_ban_of_a_range_holds_its_addresses_in_every_form() {
    let mut r = Rig::new(Limits::default());
    let policy = AdminPolicy {
        bans: ["192.0.2.0/24", "2001:db8:1::/48"]
            .iter()
            .filter_map(|b| ServerBan::parse(b))
            .collect(),
        ..AdminPolicy::default()
    };
    r.server.set_policy(policy, &r.now, &mut r.out);
    let banned = [
        "192.0.2.0",
        "192.0.2.255",
        "::ffff:192.0.2.9",
        "2001:db8:1::",
        "2001:db8:1:ffff:ffff:ffff:ffff:ffff",
    ];
    for (conn, a) in banned.into_iter().enumerate() {
        assert!(!r.server.accept(conn, ip(a), &r.now, &mut r.out), "{a}");
        assert_eq!(
            r.out.take(conn)[0],
            "Error 807 banned_from_server seq=None",
            "{a}"
        );
    }
    let free = [
        "192.0.1.255",
        "192.0.3.0",
        "::ffff:192.0.3.1",
        "2001:db8:0:ffff::1",
        "2001:db8:2::",
    ];
    for (conn, a) in free.into_iter().enumerate() {
        assert!(r.server.accept(10 + conn, ip(a), &r.now, &mut r.out), "{a}");
    }
}

/// Failed logins count against the address they come from whichever way it is written, and
/// an IPv6 host's whole /64: a new address in it is no fresh start.
#[test]
fn the_login_throttle_counts_a_mapped_address_as_ipv4_and_ipv6_per_64() {
    for (probe, again, other) in [
        ("::ffff:192.0.2.1", "192.0.2.1", "192.0.2.2"),
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:3::1"),
    ] {
        let mut r = rig(Policy::Open, false);
        r.open(0, ip(probe));
        r.server.set_secure(0);
        for i in 0..20 {
            let nonce = r.challenged(0, &format!("nobody{i}"), false);
            r.auth(0, nonce, "password");
            r.verdict(Verdict::Rejected);
        }
        r.open(1, ip(again));
        r.server.set_secure(1);
        let refused = r.ident(1, "nobody", true, false);
        assert!(
            refused[0].starts_with("Error 602 auth_throttled"),
            "{again}: {refused:?}"
        );
        r.open(2, ip(other));
        r.server.set_secure(2);
        r.challenged(2, "nobody", false);
    }
}

/// A guest's mark is its address's: the same for an IPv4 address and its mapped form, and
/// for every address of an IPv6 /64; another for the next /64.
#[test]
fn a_guest_s_mark_is_its_ipv4_address_or_its_ipv6_64() {
    let mut r = rig(Policy::Guests, false);
    let mut mark = |conn, a: &str| {
        r.open(conn, ip(a));
        let (id, ..) = r.ident_reply(conn, "x");
        id.get(..12).map(str::to_string).unwrap()
    };
    assert_eq!(mark(0, "192.0.2.1"), mark(1, "::ffff:192.0.2.1"));
    assert_ne!(mark(2, "192.0.2.1"), mark(3, "192.0.2.2"));
    assert_eq!(
        mark(4, "2001:db8:1:2::1"),
        mark(5, "2001:db8:1:2:ffff:ffff:ffff:ffff")
    );
    assert_ne!(mark(6, "2001:db8:1:2::1"), mark(7, "2001:db8:1:3::1"));
}
