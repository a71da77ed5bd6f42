//! Message ids: SHA-256 over the core deterministic CBOR encoding of the fields that define a
//! message, so every implementation derives the same 32 bytes from the same Event.

use super::cbor::encode_head;
use super::msg::Body;
use sha2::{Digest, Sha256};
use std::fmt;

/// A message id: 32 bytes of SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgId(pub [u8; 32]);

impl MsgId {
    /// Hashes the array `[from, topic, time, body, ctype / null, reply_to / null]`, encoded with
    /// shortest heads and definite lengths (RFC 8949 §4.2.1). No floats, tags or maps are
    /// involved, so there is exactly one encoding to hash.
    pub fn compute(
        from: &str,
        topic: &str,
        time: u64,
        body: Body<'_>,
        ctype: Option<&str>,
        reply_to: Option<&MsgId>,
    ) -> MsgId {
        let mut h = Sha256::new();
        let head = |major: u8, arg: u64, h: &mut Sha256| {
            let mut tmp = [0u8; 9];
            let n = encode_head(major, arg, &mut tmp);
            h.update(&tmp[..n]);
        };
        head(4, 6, &mut h);
        for s in [from, topic] {
            head(3, s.len() as u64, &mut h);
            h.update(s.as_bytes());
        }
        head(0, time, &mut h);
        let (major, content) = match body {
            Body::Text(t) => (3, t.as_bytes()),
            Body::Blob(b) => (2, b),
        };
        head(major, content.len() as u64, &mut h);
        h.update(content);
        match ctype {
            Some(c) => {
                head(3, c.len() as u64, &mut h);
                h.update(c.as_bytes());
            }
            None => h.update([0xf6]),
        }
        match reply_to {
            Some(r) => {
                head(2, 32, &mut h);
                h.update(r.0);
            }
            None => h.update([0xf6]),
        }
        MsgId(h.finalize().into())
    }

    /// Reads an id from a 32-byte string.
    pub fn from_slice(b: &[u8]) -> Option<MsgId> {
        <[u8; 32]>::try_from(b).ok().map(MsgId)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<MsgId> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        let nibble = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
        for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
            *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(MsgId(out))
    }
}

/// Whether `s` is an id as the protocol writes ids in text: 64 lowercase hex digits (§7). One
/// spelling only, so that a record names an id the way every client prints it.
pub fn is_hex_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

impl fmt::Display for MsgId {
    /// Lowercase hex, the form ids take in logs, the CLI and JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MsgId({self})")
    }
}
