//! ID patterns for bans and mutes: a user ID in which `*` stands for any run of characters,
//! as in IRC's ban masks (`*@spam.example`, `guest-*@example.org`).

use super::name::{MAX_DOMAIN, MAX_LOCAL};

/// Whether `s` is an ID pattern: the user-ID grammar (PROTOCOL.md §5) with `*` allowed
/// anywhere in either part. A plain user ID is a pattern that matches itself alone.
pub fn is_pattern(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let ok = |part: &str, max: usize, extra: &[u8]| {
        !part.is_empty()
            && part.len() <= max
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'*' || extra.contains(&b))
    };
    ok(local, MAX_LOCAL, b"._-") && ok(domain, MAX_DOMAIN, b".-")
}

/// Whether `s` can be a Mod's target or an entry of a channel's list: an ID pattern, or an
/// address range (which only the server's bans hold).
pub fn is_target(s: &str) -> bool {
    is_pattern(s) || parse_range(s).is_some()
}

/// Why a text is neither an ID pattern nor an address range ([`target_fault`]): said to whoever
/// typed it, who otherwise had to guess which of the two they got wrong (found in review: a
/// `/33`, a zone id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetFault {
    /// An address with a prefix longer than the address (`10.0.0.0/33`): its bits.
    PrefixTooLong(u8),
    /// An address whose prefix length is not a number (`10.0.0.0/x`).
    PrefixNotNumber,
    /// An IPv6 address with a zone (`fe80::1%eth0`): a zone is one host's own, never a peer's.
    Zone,
    /// The part before the `@` of an ID pattern is empty, too long or has a character IDs
    /// have not.
    Local,
    /// The part after the `@` of an ID pattern, likewise.
    Domain,
    /// Neither an address nor anything with an `@`.
    Neither,
    /// Dotted numbers that are no address (`192.0.2.300`, `10.0.0`, `10.0.0.*`), typed where a bare name
    /// stands for an ID of the domain served ([`typed_fault`]): an address mistyped, most
    /// likely, not the ID `10.0.0@DOMAIN`.
    NotAddress,
}

impl TargetFault {
    /// Whether the text was an address, with a fault in its prefix or a zone: not meant as an
    /// ID pattern, and not to be told it is none.
    pub fn is_address(&self) -> bool {
        matches!(
            self,
            TargetFault::PrefixTooLong(_)
                | TargetFault::PrefixNotNumber
                | TargetFault::Zone
                | TargetFault::NotAddress
        )
    }

    /// Why `s`, which a caller failed to read as a ban, is not one: [`target_fault`], for
    /// callers that have already found that it is no target.
    pub fn of(s: &str) -> TargetFault {
        target_fault(s).unwrap_or(TargetFault::Neither)
    }
}

impl std::fmt::Display for TargetFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetFault::PrefixTooLong(bits) => write!(f, "the prefix length is at most {bits}"),
            TargetFault::PrefixNotNumber => f.write_str("the prefix length is not a plain number"),
            TargetFault::Zone => f.write_str("an address range has no zone (%...)"),
            TargetFault::Local => write!(f, "a pattern's name is 1-{MAX_LOCAL} of a-z 0-9 . _ - and *"),
            TargetFault::Domain => write!(f, "a pattern's domain is 1-{MAX_DOMAIN} of a-z 0-9 . - and *"),
            TargetFault::Neither => {
                f.write_str("neither an ID pattern (*@spam.example) nor an address range (192.0.2.0/24)")
            }
            TargetFault::NotAddress => f.write_str(
                "not an address (IPv4 is four numbers 0-255: 192.0.2.1, 192.0.2.0/24); an ID so named is written with its @domain",
            ),
        }
    }
}

/// Why `s` is not a Mod's target ([`is_target`]), or None if it is one.
pub fn target_fault(s: &str) -> Option<TargetFault> {
    if is_target(s) {
        return None;
    }
    let (text, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
    let addr = text.parse::<std::net::IpAddr>();
    let zoned = || {
        text.split_once('%')
            .is_some_and(|(a, _)| a.parse::<std::net::Ipv6Addr>().is_ok())
    };
    Some(match (addr, prefix, s.split_once('@')) {
        // An address and a prefix that is no range: a number too large, or no number.
        (Ok(addr), Some(p), _) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            TargetFault::PrefixTooLong(if addr.is_ipv4() { 32 } else { 128 })
        }
        (Ok(_), Some(_), _) => TargetFault::PrefixNotNumber,
        (Err(_), _, _) if zoned() => TargetFault::Zone,
        (_, _, Some((local, _))) if !is_pattern(&format!("{local}@x")) => TargetFault::Local,
        (_, _, Some(_)) => TargetFault::Domain,
        _ => TargetFault::Neither,
    })
}

/// Why `s` is no target where a name without `@` stands for an ID of the domain served (the
/// configuration's `ban`, `scalard ban del`, scalar-cli's `/sban`), or None if it is a target
/// or such a name. A bare name that is none is said to be a bad name (`bo b` was "neither an
/// ID pattern nor an address range"); dotted numbers that are no address are
/// [`TargetFault::NotAddress`] (`--ban 10.0.0`, an address mistyped, banned the ID
/// `10.0.0@DOMAIN` without a word), with a `*` among them too (`10.0.0.*`, IRC's range).
pub fn typed_fault(s: &str) -> Option<TargetFault> {
    if is_target(s) {
        return None;
    }
    if s.contains('@') {
        return target_fault(s);
    }
    let text = s.split_once('/').map_or(s, |(a, _)| a);
    // With `*` too: `10.0.0.*` is how IRC writes a range, and as an ID pattern it banned
    // nobody (review 269). A pattern of dotted numbers only is of no name anyone is given.
    let dotted = text.contains('.')
        && text.bytes().any(|b| b.is_ascii_digit())
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'*');
    if dotted && text.parse::<std::net::Ipv4Addr>().is_err() {
        return Some(TargetFault::NotAddress);
    }
    if is_pattern(&format!("{s}@x")) {
        return None;
    }
    Some(match target_fault(s) {
        Some(f) if f.is_address() => f,
        _ => TargetFault::Local,
    })
}

/// Whether `id` matches `pattern`, in one pass over each: the text before the first `*` must
/// begin `id`, the text after the last `*` must end it, and the pieces between are found
/// left to right in what is left (the leftmost place for each is never worse than a later
/// one). Linear in |pattern| + |id|: a channel checks every Sub against up to 500 patterns,
/// which its operators choose, so the quadratic worst case of backtracking must not exist.
pub fn matches(pattern: &str, id: &str) -> bool {
    // Stars and one-byte pieces are found by plain byte scans: IDs and patterns are short
    // ASCII, where std's char and Two-Way searchers cost more to set up than the scan.
    let star = |c: char| c == '*';
    let Some((first, tail)) = pattern.split_once(star) else {
        return pattern == id;
    };
    let (middle, last) = tail.rsplit_once(star).unwrap_or(("", tail));
    let Some(rest) = id.strip_prefix(first) else {
        return false;
    };
    let Some(mut rest) = rest.strip_suffix(last) else {
        return false;
    };
    for piece in middle.split(star).filter(|p| !p.is_empty()) {
        match after(rest, piece) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    true
}

/// What follows the first `piece` in `s`, if it is there.
fn after<'a>(s: &'a str, piece: &str) -> Option<&'a str> {
    match piece.as_bytes() {
        &[b] => s.bytes().position(|c| c == b).and_then(|i| s.get(i + 1..)),
        _ => s.split_once(piece).map(|(_, after)| after),
    }
}

/// An address range written `ADDR/PREFIX` (or a bare address): `192.0.2.0/24`,
/// `2001:db8::/32`. The address is masked to the prefix. A range within the IPv4-mapped IPv6
/// addresses (`::ffff:192.0.2.0/120`) is the IPv4 range it maps, as [`in_range`] compares an
/// IPv4-mapped address as the IPv4 address it is.
pub fn parse_range(s: &str) -> Option<(std::net::IpAddr, u8)> {
    use std::net::IpAddr;
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(bits);
    if prefix > bits {
        return None;
    }
    let (addr, prefix) = match addr {
        IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => (IpAddr::V4(v4), prefix - 96),
            None => (addr, prefix),
        },
        _ => (addr, prefix),
    };
    Some((mask(addr, prefix), prefix))
}

/// Why `s`, an address range, is not written as the range it is: a prefix length with a sign
/// or a leading zero (`/08`), bits set past the prefix (`192.0.2.7/24`, whose range is
/// `192.0.2.0/24`), or an address spelt otherwise than the range is listed (`2001:DB8::/32`,
/// `2001:0db8::1`, `::ffff:192.0.2.7`). A ban of such a text holds another range than it seems
/// to, or the record and the list disagree (found by QA: `1.2.3.4/08` banned `1.0.0.0/8`), so a
/// new one is refused; [`parse_range`] still takes it, as bans saved before are. None for a
/// range written as itself, and for what is no range at all.
pub fn range_fault(s: &str) -> Option<String> {
    let (text, prefix) = match s.split_once('/') {
        Some((text, prefix)) => (text, Some(prefix)),
        None => (s, None),
    };
    let addr = text.parse::<std::net::IpAddr>().ok()?;
    let read_as = parse_range(s);
    if let Some(prefix) = prefix {
        let digits = !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit());
        if !digits || (prefix.len() > 1 && prefix.starts_with('0')) {
            let meant = read_as.map_or_else(String::new, |(net, bits)| format!(" ({net}/{bits}?)"));
            return Some(format!(
                "{s}: the prefix length must be a plain number (no sign, no leading zero){meant}"
            ));
        }
    }
    let (net, bits) = read_as?;
    let all = if addr.is_ipv4() { 32 } else { 128 };
    let written = prefix.map_or(Some(all), |p| p.parse::<u8>().ok())?;
    if mask(addr, written) != addr {
        return Some(format!(
            "{s} has bits set past its prefix: the range it lies in is {net}/{bits}; write that"
        ));
    }
    // The list says a range as std writes its address (RFC 5952 for IPv6, a mapped one as the
    // IPv4 address it is): any other spelling would be recorded unlike it is listed.
    (text != net.to_string()).then(|| format!("{s} is another spelling of {net}/{bits}; write that"))
}

/// Whether `addr` lies in the range `net`/`prefix` (from [`parse_range`]). An IPv4-mapped IPv6
/// address counts as the IPv4 address it is.
pub fn in_range(addr: std::net::IpAddr, net: std::net::IpAddr, prefix: u8) -> bool {
    use std::net::IpAddr;
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    addr.is_ipv4() == net.is_ipv4() && mask(addr, prefix) == net
}

fn mask(addr: std::net::IpAddr, prefix: u8) -> std::net::IpAddr {
    use std::net::IpAddr;
    match addr {
        IpAddr::V4(v4) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & m).into())
        }
        IpAddr::V6(v6) => {
            let m = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(v6) & m).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_must_be_written_as_itself() {
        for ok in [
            "192.0.2.0/24",
            "192.0.2.7",
            "0.0.0.0/0",
            "2001:db8::/32",
            "2001:db8::1",
            "bob@x",
        ] {
            assert_eq!(range_fault(ok), None, "{ok}");
        }
        for (bad, says) in [
            ("1.2.3.4/08", "plain number"),
            ("1.2.3.0/+24", "plain number"),
            ("1.2.3.0/", "plain number"),
            ("1.2.3.4/24", "the range it lies in is 1.2.3.0/24"),
            ("1.2.3.4/8", "the range it lies in is 1.0.0.0/8"),
            ("2001:db8::1/32", "2001:db8::/32"),
            ("::ffff:192.0.2.7/120", "192.0.2.0/24"),
            // Spelt otherwise than listed: the record would say one text, the list another.
            ("2001:DB8::/32", "2001:db8::/32; write that"),
            ("::ffff:192.0.2.0/120", "192.0.2.0/24; write that"),
            ("::ffff:1.2.3.4", "1.2.3.4/32; write that"),
            ("2001:0db8::1", "2001:db8::1/128; write that"),
            ("2001:db8:0:0:0:0:0:1/128", "2001:db8::1/128; write that"),
        ] {
            let why = range_fault(bad).unwrap_or_default();
            assert!(why.contains(says), "{bad}: {why}");
        }
        // Still read as before: a ban saved so keeps holding.
        assert_eq!(parse_range("1.2.3.4/08"), Some(("1.0.0.0".parse().unwrap(), 8)));
        assert_eq!(parse_range("2001:DB8::/32"), parse_range("2001:db8::/32"));
    }

    #[test]
    fn a_text_that_is_no_target_is_told_why() {
        use TargetFault::*;
        for (bad, fault) in [
            ("10.0.0.0/33", PrefixTooLong(32)),
            ("10.0.0.0/300", PrefixTooLong(32)),
            ("::/129", PrefixTooLong(128)),
            ("10.0.0.0/x", PrefixNotNumber),
            ("10.0.0.0/", PrefixNotNumber),
            ("10.0.0.0/-1", PrefixNotNumber),
            ("fe80::1%eth0", Zone),
            ("fe80::%eth0/64", Zone),
            ("Bob@x.org", Local),
            ("@x.org", Local),
            ("bob@", Domain),
            ("bob@x_y.org", Domain),
            ("bob@x.org/24", Domain),
            ("10.0.0", Neither),
            ("spam", Neither),
        ] {
            assert_eq!(target_fault(bad), Some(fault), "{bad}");
        }
        for ok in ["10.0.0.0/8", "*@x.org", "2001:db8::/32", "10.1.2.3"] {
            assert_eq!(target_fault(ok), None, "{ok}");
        }
    }

    /// Where a bare name stands for an ID of the domain served: `bo b` is a bad name, not
    /// "neither"; dotted numbers that are no address are said to be none (`10.0.0` banned the
    /// ID `10.0.0@DOMAIN`).
    #[test]
    fn a_bare_text_that_is_no_target_is_told_why() {
        use TargetFault::*;
        for (bad, fault) in [
            ("bo b", Local),
            ("Bob", Local),
            ("192.0.2.300", NotAddress),
            ("10.0.0", NotAddress),
            ("10.0.0/8", NotAddress),
            // IRC's way to write a range: of no ID (review 269).
            ("10.0.0.*", NotAddress),
            ("192.168.*", NotAddress),
            ("10.0.0.0/33", PrefixTooLong(32)),
            ("fe80::1%eth0", Zone),
            ("2001:db8::g", Local),
            ("bob@x_y.org", Domain),
        ] {
            assert_eq!(typed_fault(bad), Some(fault), "{bad}");
        }
        for ok in [
            "bob",
            "spam*",
            "b.o.b",
            "10.1.2.3",
            "10.0.0.0/8",
            "*@x.org",
            "bot7",
            "*.*",
            "v1.2*",
        ] {
            assert_eq!(typed_fault(ok), None, "{ok}");
        }
    }

    #[test]
    fn patterns_match_like_ban_masks() {
        assert!(matches("*@spam.example", "bot7@spam.example"));
        assert!(!matches("*@spam.example", "bot7@spam.example.org"));
        assert!(matches("guest-*@example.org", "guest-1a2b3c4d@example.org"));
        assert!(matches("alice@example.org", "alice@example.org"));
        assert!(!matches("alice@example.org", "alice2@example.org"));
        assert!(matches("*", "anyone@anywhere"));
        assert!(matches("a*b*c@x", "aXXbYYbc@x"));
        assert!(!matches("a*b*c@x", "aXXbYY@x"));
        assert!(matches("**@x", "q@x"));
    }

    /// The definition, by recursion: exponential, but plain.
    fn reference(p: &[u8], s: &[u8]) -> bool {
        match (p.split_first(), s.split_first()) {
            (None, _) => s.is_empty(),
            (Some((b'*', rest)), _) => {
                reference(rest, s) || s.split_first().is_some_and(|(_, t)| reference(p, t))
            }
            (Some((c, rest)), Some((d, t))) => c == d && reference(rest, t),
            (Some(_), None) => false,
        }
    }

    #[test]
    fn patterns_match_as_the_definition_says() {
        // Every pattern over {a, b, *} up to 7 long against every ID over {a, b} up to 7 long.
        fn all(alphabet: &[u8], max: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..max {
                last = last
                    .iter()
                    .flat_map(|w| alphabet.iter().map(move |&c| format!("{w}{}", c as char)))
                    .collect();
                out.extend(last.iter().cloned());
            }
            out
        }
        let ids = all(b"ab", 7);
        for p in all(b"ab*", 7) {
            for id in &ids {
                let want = reference(p.as_bytes(), id.as_bytes());
                assert_eq!(matches(&p, id), want, "{p:?} against {id:?}");
            }
        }
    }

    #[test]
    fn address_ranges() {
        let (net, p) = parse_range("192.0.2.77/24").unwrap();
        assert_eq!((net.to_string().as_str(), p), ("192.0.2.0", 24));
        assert!(in_range("192.0.2.200".parse().unwrap(), net, p));
        assert!(in_range("::ffff:192.0.2.1".parse().unwrap(), net, p));
        assert!(!in_range("192.0.3.1".parse().unwrap(), net, p));
        let (net6, p6) = parse_range("2001:db8::/32").unwrap();
        assert!(in_range("2001:db8:ffff::1".parse().unwrap(), net6, p6));
        assert!(!in_range("192.0.2.1".parse().unwrap(), net6, p6));
        assert_eq!(parse_range("10.0.0.1").map(|r| r.1), Some(32));
        assert_eq!(parse_range("0.0.0.0/0").map(|r| r.1), Some(0));
        for bad in ["10.0.0.0/33", "x/8", "10.0.0.0/", "::/129"] {
            assert_eq!(parse_range(bad), None, "{bad}");
        }
        // IPv4-mapped ranges are the IPv4 ranges they map, so they match (v4 or mapped) peers.
        for (mapped, v4) in [
            ("::ffff:192.0.2.7", "192.0.2.7/32"),
            ("::ffff:192.0.2.0/120", "192.0.2.0/24"),
            ("::ffff:0:0/96", "0.0.0.0/0"),
        ] {
            let (net, p) = parse_range(mapped).unwrap();
            assert_eq!(format!("{net}/{p}"), v4);
            for peer in ["192.0.2.7", "::ffff:192.0.2.7"] {
                assert!(in_range(peer.parse().unwrap(), net, p), "{mapped} {peer}");
            }
        }
        assert!(parse_range("::ffff:0:0/95").unwrap().0.is_ipv6());
    }

    #[test]
    fn the_grammar_is_the_id_grammar_with_stars() {
        for ok in [
            "*@spam.example",
            "alice@example.org",
            "guest-*@*",
            "a.b_c-d@x-y.z",
        ] {
            assert!(is_pattern(ok), "{ok}");
        }
        for bad in [
            "*", "alice", "Alice@x", "a@b@c", "@x", "a@", "#c@x", "a b@x", "a@x_y",
        ] {
            assert!(!is_pattern(bad), "{bad}");
        }
        assert!(!is_pattern(&format!("{}@x", "a".repeat(33))));
    }
}
