//! IDs, channels and reserved names: the three kinds of topic, with their fixed grammar.
//!
//! Every name is `SIGIL? local "@" domain` in lowercase ASCII, so that comparing two names is
//! comparing bytes and a name always fits a known number of bytes.

use std::fmt;

/// The longest local part (between the sigil and the `@`).
pub const MAX_LOCAL: usize = 32;
/// The longest domain.
pub const MAX_DOMAIN: usize = 93;
/// The longest topic of any kind, sigil included.
pub const MAX_TOPIC: usize = 1 + MAX_LOCAL + 1 + MAX_DOMAIN;

/// Which kind of topic a name denotes, told by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `user@domain`: a user's ID; messages to it are direct messages.
    User,
    /// `#name@domain`: a chat room.
    Channel,
    /// `!name@domain`: reserved for the server's own topics; never a user or a channel.
    Reserved,
}

/// Why a string is not a valid name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// Longer than [`MAX_TOPIC`] bytes.
    TooLong,
    /// No `@domain` part.
    NoDomain,
    /// The local part is empty, too long, or has a character outside `[a-z0-9._-]` or does not
    /// start with a letter or digit.
    BadLocal,
    /// The domain is not a lowercase DNS name of at most [`MAX_DOMAIN`] bytes.
    BadDomain,
    /// Where a user's ID is asked for, a channel's or reserved name without its domain
    /// (`#rust`): that it lacks a domain is not what is wrong with it.
    NotAUser,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameError::TooLong => "longer than 127 bytes",
            NameError::NoDomain => "missing @domain",
            NameError::BadLocal => "name must be 1-32 of a-z 0-9 . _ - starting with a letter or digit",
            NameError::BadDomain => "domain must be a lowercase DNS name of at most 93 bytes",
            NameError::NotAUser => "an ID has no # or ! sigil",
        })
    }
}

/// A validated name, borrowed from wherever it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name<'a> {
    text: &'a str,
    kind: Kind,
    at: usize,
}

impl<'a> Name<'a> {
    /// Checks `text` against the grammar.
    pub fn parse(text: &'a str) -> Result<Self, NameError> {
        if text.len() > MAX_TOPIC {
            return Err(NameError::TooLong);
        }
        let (kind, rest) = match text.as_bytes().first() {
            Some(b'#') => (Kind::Channel, &text[1..]),
            Some(b'!') => (Kind::Reserved, &text[1..]),
            _ => (Kind::User, text),
        };
        let at = rest.find('@').ok_or(NameError::NoDomain)?;
        let (local, domain) = (&rest[..at], &rest[at + 1..]);
        if !valid_local(local) {
            return Err(NameError::BadLocal);
        }
        if !valid_domain(domain) {
            return Err(NameError::BadDomain);
        }
        Ok(Name {
            text,
            kind,
            at: text.len() - domain.len() - 1,
        })
    }

    /// Like [`parse`](Name::parse), but also accepts a bare local part (`alice`): what a
    /// client's Ident may carry when it does not know the server's domain yet.
    pub fn parse_user(text: &'a str) -> Result<Self, NameError> {
        if !text.contains('@') {
            if valid_local(text) {
                return Ok(Name {
                    text,
                    kind: Kind::User,
                    at: text.len(),
                });
            }
            // A bad local part, said as such: "Bob" lacks no domain, and "#rust" is no ID
            // whatever domain it had. (With its domain, a channel's name follows the grammar,
            // and the Ident's own checks refuse it: PROTOCOL.md §8, Precedence.)
            return Err(match text.starts_with(['#', '!']) {
                true => NameError::NotAUser,
                false => NameError::BadLocal,
            });
        }
        Name::parse(text)
    }

    /// True for a bare local part without `@domain` (see [`parse_user`](Name::parse_user)).
    pub fn is_local(&self) -> bool {
        self.at == self.text.len()
    }

    /// The part before the `@` (the whole name for a bare local part), without the sigil.
    pub fn local(&self) -> &'a str {
        let start = usize::from(self.kind != Kind::User);
        self.text.get(start..self.at).unwrap_or_default()
    }

    /// The whole name as sent on the wire.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// Which kind of topic this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The part after the `@`; empty for a bare local part.
    pub fn domain(&self) -> &'a str {
        self.text.get(self.at + 1..).unwrap_or_default()
    }
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

fn valid_local(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=MAX_LOCAL).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'))
}

/// True for a lowercase DNS name: labels of 1–63 `[a-z0-9-]` not starting or ending with `-`.
pub fn valid_domain(s: &str) -> bool {
    (1..=MAX_DOMAIN).contains(&s.len())
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            (1..=63).contains(&b.len())
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
                && b.iter()
                    .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_domains() {
        let n = Name::parse("alice@example.com").unwrap();
        assert_eq!((n.kind(), n.domain()), (Kind::User, "example.com"));
        let n = Name::parse("#rust-lang@localhost").unwrap();
        assert_eq!((n.kind(), n.domain()), (Kind::Channel, "localhost"));
        assert_eq!(Name::parse("!motd@x.y").unwrap().kind(), Kind::Reserved);
        assert_eq!(Name::parse("#rust@x").unwrap().local(), "rust");
    }

    #[test]
    fn a_bare_local_part_is_a_user_name_only_where_asked_for() {
        let n = Name::parse_user("alice").unwrap();
        assert!(n.is_local());
        assert_eq!((n.kind(), n.local(), n.domain()), (Kind::User, "alice", ""));
        let full = Name::parse_user("alice@x.org").unwrap();
        assert!(!full.is_local());
        assert_eq!((full.local(), full.domain()), ("alice", "x.org"));
        assert_eq!(Name::parse("alice"), Err(NameError::NoDomain));
        for bad in ["", "Alice", "-a", "a b"] {
            assert_eq!(Name::parse_user(bad), Err(NameError::BadLocal), "{bad:?}");
        }
        // Review: "#rust" was refused as "missing @domain", which sent the user after the
        // wrong fault.
        for bad in ["#rust", "!motd", "#"] {
            assert_eq!(Name::parse_user(bad), Err(NameError::NotAUser), "{bad:?}");
        }
    }

    #[test]
    fn rejects_what_the_grammar_excludes() {
        let bad = [
            ("", NameError::NoDomain),
            ("alice", NameError::NoDomain),
            ("@x", NameError::BadLocal),
            ("Alice@x", NameError::BadLocal),
            ("-a@x", NameError::BadLocal),
            ("a b@x", NameError::BadLocal),
            ("a@b@c", NameError::BadDomain),
            ("a@", NameError::BadDomain),
            ("a@-x", NameError::BadDomain),
            ("a@x..y", NameError::BadDomain),
            ("a@X.com", NameError::BadDomain),
            ("#@x", NameError::BadLocal),
            ("é@x", NameError::BadLocal),
        ];
        for (s, e) in bad {
            assert_eq!(Name::parse(s), Err(e), "{s:?}");
        }
        let long_local = format!("{}@x", "a".repeat(MAX_LOCAL + 1));
        assert_eq!(Name::parse(&long_local), Err(NameError::BadLocal));
        let longest = format!(
            "#{}@{}",
            "a".repeat(MAX_LOCAL),
            "b".repeat(63) + "." + &"c".repeat(29)
        );
        assert_eq!(longest.len(), MAX_TOPIC);
        assert!(Name::parse(&longest).is_ok());
        assert_eq!(Name::parse(&format!("{longest}d")), Err(NameError::TooLong));
    }
}
