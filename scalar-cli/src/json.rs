//! JSON output, written by hand: one flat object per line, so a string escaper and a few value
//! kinds are all that is needed, and the crate stays free of serde. The tests parse the output
//! with serde_json to hold this to the grammar (RFC 8259).

use crate::event::{Content, Received};
use crate::timefmt::rfc3339_utc;
use std::fmt::Write;

/// Appends `s` as a JSON string literal: quotes, backslashes, control characters (C0, DEL)
/// and what the chat shows by code point ([`hidden`](crate::hidden)) escaped, so that the
/// output is safe on a terminal too (and the escapes lose nothing); everything else (valid
/// UTF-8 already) as is.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for (c, hidden) in crate::hidden::marked(s) {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' || hidden => {
                // Past the BMP (tag characters), as a surrogate pair.
                for unit in c.encode_utf16(&mut [0; 2]) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Builds one JSON object, keys in the order they are added.
pub struct Object {
    out: String,
}

impl Object {
    /// An empty object.
    pub fn new() -> Object {
        Object {
            out: String::from("{"),
        }
    }

    fn key(&mut self, k: &str) -> &mut String {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        push_str(&mut self.out, k);
        self.out.push(':');
        &mut self.out
    }

    /// A string member.
    pub fn str(mut self, k: &str, v: &str) -> Object {
        push_str(self.key(k), v);
        self
    }

    /// A string member, or null.
    pub fn opt_str(mut self, k: &str, v: Option<&str>) -> Object {
        match v {
            Some(v) => push_str(self.key(k), v),
            None => self.key(k).push_str("null"),
        }
        self
    }

    /// An integer member.
    pub fn num(mut self, k: &str, v: u64) -> Object {
        let _ = write!(self.key(k), "{v}");
        self
    }

    /// A boolean member.
    pub fn bool(mut self, k: &str, v: bool) -> Object {
        self.key(k).push_str(if v { "true" } else { "false" });
        self
    }

    /// The finished object, without a newline.
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

impl Default for Object {
    fn default() -> Self {
        Object::new()
    }
}

/// Lowercase hex of a byte string.
fn hex(b: &[u8]) -> String {
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// One Event as a JSON object (docs/CLI.md, "JSON output").
pub fn event(e: &Received) -> String {
    let (text, blob) = match &e.content {
        Content::Text(t) => (Some(t.as_str()), None),
        Content::Blob(b) => (None, Some(hex(b))),
    };
    Object::new()
        .str("topic", &e.topic)
        .str("from", &e.from)
        .str("time", &rfc3339_utc(e.time))
        .num("time_ms", e.time)
        .str("id", &e.id.to_string())
        .opt_str("text", text)
        .opt_str("blob", blob.as_deref())
        .opt_str("ctype", e.ctype.as_deref())
        .opt_str("in_reply_to", e.reply_to.map(|r| r.to_string()).as_deref())
        .bool("verified", e.verified)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\n\u{1}\u{7f}é☃");
        assert_eq!(s, r#""a\"b\\c\n\u0001\u007fé☃""#);
        let mut s = String::new();
        push_str(&mut s, "\u{85}\u{9b}[2J\u{202e}x");
        assert_eq!(s, r#""\u0085\u009b[2J\u202ex""#);
        // Past the BMP, a surrogate pair: a tag character outside a flag.
        let mut s = String::new();
        push_str(&mut s, "a\u{200b}\u{e0041}");
        assert_eq!(s, r#""a\u200b\udb40\udc41""#);
    }

    #[test]
    fn objects() {
        let o = Object::new()
            .str("a", "x")
            .opt_str("b", None)
            .num("c", 7)
            .bool("d", true)
            .finish();
        assert_eq!(o, r#"{"a":"x","b":null,"c":7,"d":true}"#);
        assert_eq!(Object::new().finish(), "{}");
    }
}
