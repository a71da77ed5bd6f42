//! Guest IDs: `guest-MMMMMM-NAME-RRRRRR@DOMAIN`, where `MMMMMM` marks the address the guest
//! came from (a keyed hash of it, the key the server's secret), `NAME` is the name the guest
//! asked for and `RRRRRR` is random; random letters alone for a client that asked for no name.
//!
//! The random part makes each session's ID its own: in a channel the server does not keep,
//! roles and invitations are held by name, so an ID given again to whoever asked for it next
//! behind the same address (a NAT, a café's Wi-Fi) would hand it the channels its holder ran
//! (found in review). A guest keeps its name, not its ID, across reconnections.
//!
//! The server picks a guest's names, so without the mark a troll banned or muted by its guest
//! ID would come back under a new one by reconnecting. The mark lets a ban of one guest name
//! hold every guest of its address (`room::Sanction`), however long ago it left and across
//! restarts, without the server remembering addresses. Others learn which guests came from one
//! address, not the address, as long as the key stays secret (it is in the store, with
//! everything else the store holds).

use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// The local part every guest ID starts with; no account may have such a name.
pub const GUEST_PREFIX: &str = "guest-";
/// Characters of the address mark: 36⁶ ≈ 2.2·10⁹ marks, so that a ban of one guest holds
/// another address's guests by chance about once in two billion addresses, and a troll cannot
/// search for a /64 whose mark is a bystander's.
const MARK_CHARS: usize = 6;
/// Random letters and digits after the mark of a client that asked for no name: 36⁸ ≈
/// 2.8·10¹² names an address.
const RANDOM_CHARS: usize = 8;
/// `guest-MMMMMM-`: what two guest IDs of one address have in common.
const HEAD: usize = GUEST_PREFIX.len() + MARK_CHARS + 1;
/// Random letters and digits after a name, behind a hyphen: 36⁶ ≈ 2.2·10⁹ IDs an address and
/// name, so that nobody behind the same address gets a given guest's ID by asking again and
/// again (the connection rate allows a few a second).
const SUFFIX_CHARS: usize = 6;
/// Bytes of an asked name that the ID keeps: what a local part's 32 leave after the head and
/// the random part.
const NAME_BYTES: usize = 32 - HEAD - 1 - SUFFIX_CHARS;
const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// The server's secret for address marks: random, made when the server starts and kept in the
/// store (`saved`), so that marks hold across restarts.
pub type GuestKey = [u8; 32];

/// True for a local part reserved to guests.
pub fn is_guest_name(local: &str) -> bool {
    local.starts_with(GUEST_PREFIX)
}

/// The names of IRC's services, which IRC users message out of habit, with their passwords
/// (`/msg NickServ IDENTIFY …`): nobody takes one without logging in to an account the
/// operator made, or clients could register it to collect what such users send.
pub const SERVICE_NAMES: &[&str] = &[
    "nickserv", "chanserv", "memoserv", "operserv", "hostserv", "botserv", "saslserv", "helpserv",
];

/// True for a local part that is an IRC service's name ([`SERVICE_NAMES`]), in any case.
pub fn is_service_name(local: &str) -> bool {
    SERVICE_NAMES.iter().any(|n| n.eq_ignore_ascii_case(local))
}

/// The name a guest asked for with the local part `asked` (valid, as Ident checked): `asked`
/// itself, or for a guest ID of this form, one it had before (from this address or another),
/// its name without the random part; none for another `guest-` name, which asks the server to
/// choose.
pub fn asked_name(asked: &str) -> Option<&str> {
    let Some(rest) = asked.strip_prefix(GUEST_PREFIX) else {
        return Some(asked);
    };
    let (mark, name) = rest.split_once('-')?;
    let random = |r: &str| r.len() == SUFFIX_CHARS && r.bytes().all(in_alphabet);
    let name = match name.rsplit_once('-') {
        Some((n, r)) if !n.is_empty() && random(r) => n,
        _ => name,
    };
    (mark.len() == MARK_CHARS && !name.is_empty()).then_some(name)
}

/// A new guest ID for a client from `addr` (its /64 for IPv6) that asked for `name`
/// ([`asked_name`]): the name, cut to fit, and random letters; random letters alone for a
/// client that asked for none. Or the randomness error.
pub fn new_guest(
    key: &GuestKey,
    addr: IpAddr,
    domain: &str,
    name: Option<&str>,
) -> std::io::Result<Box<str>> {
    // Names are ASCII (§5), so cutting at any byte leaves a valid one.
    let tail = match name {
        Some(n) => {
            let kept = n.get(..NAME_BYTES).unwrap_or(n);
            format!("{kept}-{}", random_letters(SUFFIX_CHARS)?)
        }
        None => random_letters(RANDOM_CHARS)?,
    };
    Ok(format!("{GUEST_PREFIX}{}-{tail}@{domain}", mark(key, addr)).into())
}

/// `n` random letters and digits.
fn random_letters(n: usize) -> std::io::Result<String> {
    let mut tail = String::with_capacity(n);
    while tail.len() < n {
        // Bytes past the last whole multiple of 36 are drawn again, so every letter is as
        // likely as any other.
        let raw = crate::random::bytes::<16>()?;
        let fair = raw.iter().filter(|&&b| b < 252).map(|&b| letter(u64::from(b)));
        tail.extend(fair.take(n - tail.len()));
    }
    Ok(tail)
}

/// The address mark of `addr` under `key`.
fn mark(key: &GuestKey, addr: IpAddr) -> String {
    let mut h = Sha256::new();
    h.update(key);
    match addr {
        IpAddr::V4(a) => h.update(a.octets()),
        IpAddr::V6(a) => h.update(a.octets()),
    }
    let mut n = (h.finalize().iter().take(8)).fold(0u64, |n, &b| n << 8 | u64::from(b));
    (0..MARK_CHARS)
        .map(|_| {
            let c = letter(n);
            n /= 36;
            c
        })
        .collect()
}

/// Whether `b` is one of [`ALPHABET`]'s, as marks and random letters are.
fn in_alphabet(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn letter(n: u64) -> char {
    char::from(ALPHABET[(n % 36) as usize])
}

/// Whether `pattern` and `user` are guest IDs of `domain`, of this form (not patterns), with
/// the same address mark: the two came from one address, or, once in 36⁶ pairs, from two that
/// share it. Asked of every ban and mute of a channel: one comparison of their heads rejects
/// nearly every pair.
pub fn same_address(pattern: &str, user: &str, domain: &str) -> bool {
    pattern.get(..HEAD).is_some_and(|h| user.get(..HEAD) == Some(h))
        && marked(pattern) == Some(domain)
        && marked(user) == Some(domain)
}

/// A guest ID's domain, if it is one of this form.
fn marked(user: &str) -> Option<&str> {
    let (local, domain) = user.split_once('@')?;
    let (mark, name) = local.strip_prefix(GUEST_PREFIX)?.split_once('-')?;
    let mark_ok = mark.len() == MARK_CHARS && mark.bytes().all(in_alphabet);
    // Any name a local part may end with: a pattern's `*` is not one.
    let name_ok = !name.is_empty() && name.bytes().all(|b| in_alphabet(b) || b"._-".contains(&b));
    (mark_ok && name_ok).then_some(domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const D: &str = "example.com";

    #[test]
    fn guests_of_one_address_share_a_mark_and_no_more() {
        let key = [7; 32];
        let home: IpAddr = Ipv4Addr::new(192, 0, 2, 1).into();
        let a = new_guest(&key, home, D, None).unwrap();
        let b = new_guest(&key, home, D, None).unwrap();
        assert!(a.starts_with("guest-") && a.ends_with("@example.com"), "{a}");
        assert_eq!(a.len(), "guest-".len() + 6 + 1 + 8 + "@example.com".len(), "{a}");
        assert_ne!(a, b);
        assert!(same_address(&a, &b, D), "{a} {b}");
        assert!(
            !same_address(&a, &b, "example.org"),
            "not of the domain asked about"
        );
        // Another address, another key: another mark (these fixed ones differ).
        let other = new_guest(&key, Ipv4Addr::new(192, 0, 2, 2).into(), D, None).unwrap();
        assert!(!same_address(&a, &other, D), "{a} {other}");
        let rekeyed = new_guest(&[8; 32], home, D, None).unwrap();
        assert!(!same_address(&a, &rekeyed, D), "{a} {rekeyed}");
        let elsewhere = a.replace("example.com", "example.org");
        assert!(!same_address(
            &elsewhere,
            &new_guest(&key, home, "example.org", None).unwrap(),
            D
        ));
        let v6 = new_guest(&key, Ipv6Addr::LOCALHOST.into(), D, None).unwrap();
        assert!(same_address(
            &v6,
            &new_guest(&key, Ipv6Addr::LOCALHOST.into(), D, None).unwrap(),
            D
        ));
    }

    #[test]
    fn patterns_and_other_names_have_no_mark() {
        for not in [
            "guest-abcdef-*@example.com",
            "guest-abcd-abcdefgh@example.com",
            "guest-k3v9q2ab@example.com",
            "guest-abcdef-abcdefgh",
            "alice-abcdef-abcdefgh@example.com",
            "guest-ABCDEF-abcdefgh@example.com",
        ] {
            assert_eq!(marked(not), None, "{not}");
            assert!(!same_address(not, not, D), "{not}");
        }
        assert_eq!(marked("guest-ab12cd-abcdefgh@example.com"), Some(D));
        assert_eq!(marked("guest-ab12cd-carol.b_x-2@example.com"), Some(D));
        assert_eq!(marked("guest-ab12cd-@example.com"), None);
    }

    #[test]
    fn every_letter_of_the_random_part_is_drawn() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let g = new_guest(&[1; 32], Ipv4Addr::LOCALHOST.into(), D, None).unwrap();
            seen.extend(g["guest-".len() + 7..][..8].bytes());
        }
        assert_eq!(seen.len(), 36, "1,600 letters drawn");
    }

    #[test]
    fn a_guest_keeps_the_name_it_asked_for_cut_to_fit() {
        let (key, home) = ([7; 32], IpAddr::from(Ipv4Addr::new(192, 0, 2, 1)));
        let carol = new_guest(&key, home, D, Some("carol")).unwrap();
        let local = carol.strip_suffix("@example.com").unwrap();
        assert!(
            local.starts_with("guest-") && local[13..].starts_with("carol-"),
            "{carol}"
        );
        assert_eq!(local.len(), 13 + 5 + 7, "{carol}");
        // Asked again, the same name with other random letters: an ID is one session's.
        let again = new_guest(&key, home, D, asked_name(local)).unwrap();
        assert!(again[..19] == carol[..19] && again != carol, "{carol} {again}");
        assert!(same_address(&carol, &again, D), "{carol} {again}");
        // Its ID from another address: the name with that address's mark.
        let there = IpAddr::from(Ipv4Addr::new(192, 0, 2, 9));
        let moved = new_guest(&key, there, D, asked_name(local)).unwrap();
        assert!(
            moved[13..].starts_with("carol-") && moved[..13] != carol[..13],
            "{moved}"
        );
        // Cut to the local part's 32 bytes.
        let long = "abcdefghijklmnopqrstuvwxyz012345";
        let g = new_guest(&key, home, D, Some(long)).unwrap();
        let local = g.strip_suffix("@example.com").unwrap();
        assert_eq!(local.len(), 32, "{g}");
        assert!(local[13..].starts_with("abcdefghijkl-"), "{g}");
        assert_eq!(marked(&g), Some(D), "{g}");
    }

    #[test]
    fn only_a_guest_id_s_name_or_a_plain_name_is_asked_for() {
        assert_eq!(asked_name("carol"), Some("carol"));
        assert_eq!(asked_name("guest"), Some("guest"));
        assert_eq!(asked_name("guest-k3v9ab-q2ab7xmz"), Some("q2ab7xmz"));
        assert_eq!(
            asked_name("guest-k3v9ab-carol-x7k2ab"),
            Some("carol"),
            "its random part goes"
        );
        assert_eq!(asked_name("guest-k3v9ab-carol-x7k2"), Some("carol-x7k2"));
        assert_eq!(
            asked_name("team-abc123"),
            Some("team-abc123"),
            "a plain name is whole"
        );
        for chooses in ["guest-", "guest-me", "guest-k3v9ab-", "guest-k3v9a-carol"] {
            assert_eq!(asked_name(chooses), None, "{chooses}");
        }
    }
}
