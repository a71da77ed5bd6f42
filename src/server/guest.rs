//! Guest IDs: `guest-MMMM-RRRRRRRR@DOMAIN`, where `MMMM` marks the address the guest came from
//! (a keyed hash of it, the key the server's secret) and `RRRRRRRR` is random.
//!
//! The server picks a guest's names, so without the mark a troll banned or muted by its guest
//! ID would come back under a new one by reconnecting. The mark lets a ban of one guest name
//! hold every guest of its address (`room::Sanction`), however long ago it left and across
//! restarts, without the server remembering addresses. Others learn which guests came from one
//! address, not the address: the key is secret, and 36⁴ marks are shared by many addresses.

use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// The local part every guest ID starts with; no account may have such a name.
pub const GUEST_PREFIX: &str = "guest-";
/// Characters of the address mark.
const MARK_CHARS: usize = 4;
/// Random letters and digits after the mark: 36⁸ ≈ 2.8·10¹² names an address, so a guest ID
/// is not reused by chance (it could otherwise read its predecessor's direct messages).
const RANDOM_CHARS: usize = 8;
const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// The server's secret for address marks: random, made at the first guest and kept in the
/// store (`saved`), so that marks hold across restarts.
pub type GuestKey = [u8; 32];

/// True for a local part reserved to guests.
pub fn is_guest_name(local: &str) -> bool {
    local.starts_with(GUEST_PREFIX)
}

/// A new guest ID for a client from `addr` (its /64 for IPv6), or the randomness error.
pub fn new_guest(key: &GuestKey, addr: IpAddr, domain: &str) -> std::io::Result<Box<str>> {
    let raw = crate::random::bytes::<RANDOM_CHARS>()?;
    let tail: String = raw.iter().map(|b| letter(u32::from(*b))).collect();
    Ok(format!("{GUEST_PREFIX}{}-{tail}@{domain}", mark(key, addr)).into())
}

/// The address mark of `addr` under `key`.
fn mark(key: &GuestKey, addr: IpAddr) -> String {
    let mut h = Sha256::new();
    h.update(key);
    match addr {
        IpAddr::V4(a) => h.update(a.octets()),
        IpAddr::V6(a) => h.update(a.octets()),
    }
    let mut n = (h.finalize().iter().take(4)).fold(0u32, |n, &b| n << 8 | u32::from(b));
    (0..MARK_CHARS)
        .map(|_| {
            let c = letter(n);
            n /= 36;
            c
        })
        .collect()
}

fn letter(n: u32) -> char {
    char::from(ALPHABET[(n % 36) as usize])
}

/// Whether `a` and `b` are guest IDs of this form (not patterns) with the same address mark
/// and domain: the two came from one address, or, once in 36⁴ pairs, from two that share it.
pub fn same_address(a: &str, b: &str) -> bool {
    matches!((marked(a), marked(b)), (Some(x), Some(y)) if x == y)
}

/// A guest ID's address mark and domain, if it is one of this form.
fn marked(user: &str) -> Option<(&str, &str)> {
    let (local, domain) = user.split_once('@')?;
    let (mark, random) = local.strip_prefix(GUEST_PREFIX)?.split_once('-')?;
    let ours = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| ALPHABET.contains(&b));
    (ours(mark, MARK_CHARS) && ours(random, RANDOM_CHARS)).then_some((mark, domain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn guests_of_one_address_share_a_mark_and_no_more() {
        let key = [7; 32];
        let home: IpAddr = Ipv4Addr::new(192, 0, 2, 1).into();
        let a = new_guest(&key, home, "example.com").unwrap();
        let b = new_guest(&key, home, "example.com").unwrap();
        assert!(a.starts_with("guest-") && a.ends_with("@example.com"), "{a}");
        assert_eq!(a.len(), "guest-".len() + 4 + 1 + 8 + "@example.com".len(), "{a}");
        assert_ne!(a, b);
        assert!(same_address(&a, &b), "{a} {b}");
        // Another address, another key, another domain: another mark (these fixed ones differ).
        let other = new_guest(&key, Ipv4Addr::new(192, 0, 2, 2).into(), "example.com").unwrap();
        assert!(!same_address(&a, &other), "{a} {other}");
        let rekeyed = new_guest(&[8; 32], home, "example.com").unwrap();
        assert!(!same_address(&a, &rekeyed), "{a} {rekeyed}");
        let (mark, _) = marked(&a).unwrap();
        assert!(!same_address(&a, &format!("guest-{mark}-abcdefgh@example.org")));
        let v6 = new_guest(&key, Ipv6Addr::LOCALHOST.into(), "example.com").unwrap();
        assert!(same_address(
            &v6,
            &new_guest(&key, Ipv6Addr::LOCALHOST.into(), "example.com").unwrap()
        ));
    }

    #[test]
    fn patterns_and_other_names_have_no_mark() {
        for not in [
            "guest-abcd-*@example.com",
            "guest-abcd-abcdefg@example.com",
            "guest-abc-abcdefgh@example.com",
            "guest-k3v9q2ab@example.com",
            "guest-abcd-abcdefgh",
            "alice-abcd-abcdefgh@example.com",
            "guest-ABCD-abcdefgh@example.com",
        ] {
            assert_eq!(marked(not), None, "{not}");
            assert!(!same_address(not, not), "{not}");
        }
        assert_eq!(
            marked("guest-ab12-abcdefgh@example.com"),
            Some(("ab12", "example.com"))
        );
    }
}
