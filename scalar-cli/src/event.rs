//! An Event received from the server, owned, with its id checked.

use scalar::proto::{Body, Event, MsgId};

/// The content type that marks an action ("/me waves", PROTOCOL.md §4).
pub const ACTION: &str = "text/x-scalar-action";

/// An Event's content, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// UTF-8 text.
    Text(String),
    /// Binary data.
    Blob(Vec<u8>),
}

/// An Event, owned so it can cross threads and outlive its frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The request it answers (echo or Catchup replay), if any.
    pub seq: Option<u32>,
    /// Where it was published: a channel, or a user ID for a direct message.
    pub topic: String,
    /// Who published it.
    pub from: String,
    /// Server time, milliseconds since the Unix epoch.
    pub time: u64,
    /// The id the server sent.
    pub id: MsgId,
    /// Whether `id` matches the fields (PROTOCOL.md §7); false means the server, or something
    /// between it and here, altered the event.
    pub verified: bool,
    /// The content.
    pub content: Content,
    /// Its content type, if given.
    pub ctype: Option<String>,
    /// The message it answers.
    pub reply_to: Option<MsgId>,
}

impl Received {
    /// Copies an Event out of its frame and checks its id.
    pub fn new(e: &Event<'_>) -> Received {
        Received {
            seq: e.seq,
            topic: e.topic.as_str().to_string(),
            from: e.from.as_str().to_string(),
            time: e.time,
            id: e.id,
            verified: e.computed_id() == e.id,
            content: match e.body {
                Body::Text(t) => Content::Text(t.to_string()),
                Body::Blob(b) => Content::Blob(b.to_vec()),
            },
            ctype: e.ctype.map(str::to_string),
            reply_to: e.reply_to,
        }
    }

    /// True for an action ("/me").
    pub fn is_action(&self) -> bool {
        self.ctype.as_deref() == Some(ACTION)
    }

    /// True for a presence Event ("bob is away"), which the server does not store: no
    /// catch-up can start from it.
    pub fn is_presence(&self) -> bool {
        self.ctype.as_deref() == Some(scalar::server::PRESENCE_CTYPE)
    }

    /// Whether the server made this Event without storing it: presence, joins and leaves,
    /// and the records of the user's own blocks (PROTOCOL.md §4). Its id names nothing in
    /// history, so a catch-up must not start from it, and it is no direct message.
    pub fn is_unstored(&self) -> bool {
        let own_record = self.ctype.as_deref() == Some(scalar::server::MOD_CTYPE) && self.from == self.topic;
        let member = self.ctype.as_deref() == Some(scalar::server::MEMBER_CTYPE);
        self.is_presence() || own_record || member
    }
}

/// For tests: a text Event of `ctype` from `from` on `topic`, with id bytes all 1.
#[cfg(test)]
pub fn text_event(topic: &str, from: &str, text: &str, ctype: Option<&str>) -> Received {
    Received {
        seq: None,
        topic: topic.into(),
        from: from.into(),
        time: 1_764_000_000_000,
        id: MsgId([1; 32]),
        verified: true,
        content: Content::Text(text.into()),
        ctype: ctype.map(str::to_string),
        reply_to: None,
    }
}

/// The short reference shown next to a message: the first 8 hex digits of its id.
pub fn short_ref(id: &MsgId) -> String {
    let mut s = id.to_string();
    s.truncate(8);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalar::proto::Name;

    #[test]
    fn verifies_ids() {
        // The "Event (echo)" vector of PROTOCOL.md §10.
        let id = MsgId::from_hex("fb906b3836a66f58fd305c0fc2e70bb5cb4d3b2041c800a7091607c18a673ef1").unwrap();
        let mut e = Event {
            seq: Some(3),
            topic: Name::parse("#rust@example.com").unwrap(),
            from: Name::parse("alice@example.com").unwrap(),
            time: 1_764_000_000_000,
            id,
            body: Body::Text("hello, world"),
            ctype: None,
            reply_to: None,
        };
        let r = Received::new(&e);
        assert!(r.verified);
        assert_eq!(short_ref(&r.id), "fb906b38");
        e.time += 1;
        assert!(!Received::new(&e).verified);
    }
}
