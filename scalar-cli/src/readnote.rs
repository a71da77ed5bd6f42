//! What to tell the person when a read of history ends: one sentence per fact, shared by the
//! one-shot modes (standard error) and the interactive commands (status lines).
//!
//! The distinctions matter more than the wording: "there is nothing" (complete, zero) is not
//! "the server keeps nothing" (unavailable), and neither is "part of it was deleted" (horizon).

use crate::paging::{Ending, Pager};
use crate::timefmt::local_datetime;

/// The read, as the notes name it.
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    /// The topic as shown: `#rust`, `#rust@example.com`, `the conversation with bob`.
    pub topic: &'a str,
    /// The search words, for a Search.
    pub query: Option<&'a str>,
    /// How to get more, in parentheses after "more exist": "/more shows them".
    pub hint: &'a str,
    /// Whether this read continues an earlier one further back (`/more`).
    pub continued: bool,
    /// Whether to confirm a complete, non-empty read (the chat does; scripts stay quiet).
    pub confirm: bool,
    /// Whether a complete read that found nothing goes unsaid (`listen --after`: nothing
    /// missed); what was deleted is said all the same.
    pub quiet_if_none: bool,
}

/// The first word of `query` that is one character and a `*`: no prefix search (PROTOCOL.md
/// §4, Search, asks two characters for one), so it finds only that word.
fn short_prefix(query: &str) -> Option<&str> {
    query.split_whitespace().find(|w| {
        w.strip_suffix('*')
            .is_some_and(|p| p.chars().count() == 1 && p != "*")
    })
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The notes for a read that ended with `ending`; empty when there is nothing to say.
pub fn notes(p: &Pager<'_>, ending: Ending, r: &Read<'_>) -> Vec<String> {
    let topic = r.topic;
    let n = p.got;
    let (item, items) = match r.query {
        Some(_) => ("match", "matches"),
        None => ("message", "messages"),
    };
    let mut out = Vec::new();
    let first = match (ending, r.query) {
        (Ending::Unavailable, None) => Some(format!(
            "the server keeps no history for {topic}: nothing could be fetched \
             (this does not mean nothing was said)"
        )),
        (Ending::Unavailable, Some(_)) => Some(format!(
            "the server cannot search {topic}: it keeps no history or no search index \
             (this does not mean nothing matches)"
        )),
        (Ending::UnknownId, _) => Some(format!(
            "the server does not have that message in {topic} (never sent there, or deleted by \
             its retention{}); nothing was fetched",
            if p.of_user() {
                ", or sent before your account was made or, without one, before you took the name"
            } else {
                // PROTOCOL.md §4, Who may read what, and Mod's delete.
                ", or deleted by an operator, or said while the channel was closed, in an \
                 earlier life of it"
            }
        )),
        (Ending::Complete, _) if n == 0 && r.quiet_if_none => None,
        (Ending::Complete, _) if n == 0 => Some(match (r.query, r.continued) {
            // Quoted as typed, as a message is shown: Rust's debug form wrote the marks of
            // Hindi, Arabic or Hebrew as `\u{902}` (found by a trial in those scripts).
            (Some(q), false) => format!(
                "no messages in {topic} match \"{}\"{}",
                crate::render::clean_line(q),
                short_prefix(q)
                    .map(|w| format!(
                        " (a starred word needs two letters before the *: {w} asks for the word itself)"
                    ))
                    .unwrap_or_default()
            ),
            (Some(_), true) => format!("no older matches in {topic}"),
            (None, true) if p.forward() => format!("no newer messages in {topic}"),
            (None, true) => format!("no older messages in {topic}"),
            (None, false) if p.forward() || p.bounded() => format!("no messages in {topic} in that range"),
            // PROTOCOL.md §4, Who may read what: found by QA, a user without an account
            // whose conversation looked empty after every reconnect.
            (None, false) if p.of_user() => format!(
                "{topic} has no messages you may read: an account reads its direct messages \
                 from when it was made, a name without one only those since this connection \
                 took it"
            ),
            (None, false) => format!("{topic} has no messages"),
        }),
        (Ending::Complete, _) if !r.confirm => None,
        (Ending::Complete, _) if p.forward() => Some(format!("{}, up to the newest", plural(n, item, items))),
        (Ending::Complete, Some(_)) => Some(format!("{}: no older ones in {topic}", plural(n, item, items))),
        (Ending::Complete, None) => Some(format!(
            "{}: back to the start of {topic}",
            plural(n, item, items)
        )),
        (Ending::More, _) if p.forward() => Some(format!(
            "showing the {} {}; newer ones exist ({})",
            if r.continued { "next" } else { "first" },
            plural(n, item, items),
            r.hint
        )),
        (Ending::More, _) => Some(format!(
            "showing the {}{}; older ones exist ({})",
            if r.continued { "next " } else { "last " },
            plural(n, item, items),
            r.hint
        )),
        (Ending::Refused, _) => Some(format!(
            "stopped after {}: the server refused the next page, so more may exist",
            plural(n, item, items)
        )),
        (Ending::Capped, _) => Some(format!(
            "stopped after {}, the most one read fetches; more exist ({})",
            plural(n, item, items),
            r.hint
        )),
    };
    out.extend(first);
    if p.by_time && ending != Ending::UnknownId {
        out.push(
            "the message to page from is no longer readable on the server, so the read went on \
             from its time: a message stamped in the same millisecond may be missing"
                .into(),
        );
    }
    if let Some(h) = p.lost_before(ending) {
        // An account reads its direct messages from its creation on, a name without one from
        // when this session took it (PROTOCOL.md §4). "Lost": a server may have lost some from
        // a damaged store, keeping those on either side (`scalard salvage`).
        let why = match p.of_user() {
            true => {
                "deleted by the server's retention or lost, or sent before your account was made \
                 or, without one, before you took the name"
            }
            false => "deleted by the server's retention or lost",
        };
        out.push(format!(
            "older messages of {topic} may be missing, {why} (up to {})",
            local_datetime(h)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paging::{Bounds, End};
    use scalar::proto::{CatchupStatus, Name};

    fn read(query: Option<&'static str>) -> Read<'static> {
        Read {
            topic: "#t",
            query,
            hint: "/more shows them",
            continued: false,
            confirm: true,
            quiet_if_none: false,
        }
    }

    #[test]
    fn each_ending_says_what_it_means() {
        let name = Name::parse("#t@l").unwrap();
        let mut p = Pager::new(name, None, Bounds::default(), 10, false);
        let end = |status| End {
            status,
            horizon: None,
        };
        p.take(Vec::new(), end(CatchupStatus::Complete));
        assert_eq!(notes(&p, Ending::Complete, &read(None)), ["#t has no messages"]);
        // A user's: what this session may read of it, said with why.
        let mut dms = Pager::new(Name::parse("bob@l").unwrap(), None, Bounds::default(), 10, false);
        dms.take(Vec::new(), end(CatchupStatus::Complete));
        let of_bob = Read {
            topic: "your conversation with bob",
            ..read(None)
        };
        let s = notes(&dms, Ending::Complete, &of_bob).join("\n");
        assert!(
            s.starts_with("your conversation with bob has no messages you may read:")
                && s.contains("since this connection took it"),
            "{s}"
        );
        let before = Bounds {
            before: Some(scalar::proto::MsgId([7; 32])),
            ..Bounds::default()
        };
        let mut older = Pager::new(name, None, before, 10, false);
        older.take(Vec::new(), end(CatchupStatus::Complete));
        assert_eq!(
            notes(&older, Ending::Complete, &read(None)),
            ["no messages in #t in that range"],
            "nothing before a message is not an empty topic"
        );
        let s = notes(&p, Ending::Complete, &read(Some("x y")));
        assert_eq!(s, ["no messages in #t match \"x y\""]);
        // PROTOCOL.md §4, Search: one letter and `*` asks for that word (found by QA: users
        // took "l*" finding nothing for no message beginning with l).
        let s = notes(&p, Ending::Complete, &read(Some("lunch l*")));
        assert_eq!(
            s,
            [
                "no messages in #t match \"lunch l*\" (a starred word needs two letters before the *: l* asks for the word itself)"
            ]
        );
        let s = notes(&p, Ending::Complete, &read(Some("lu* é*")));
        assert!(s[0].ends_with("é* asks for the word itself)"), "{s:?}");
        let s = notes(&p, Ending::Complete, &read(Some("lu* * **")));
        assert_eq!(s, ["no messages in #t match \"lu* * **\""]);
        let s = notes(
            &p,
            Ending::Complete,
            &read(Some("हिंदी كَتَبَ don't می\u{200c}خواهم")),
        );
        assert_eq!(s, ["no messages in #t match \"हिंदी كَتَبَ don't می\u{200c}خواهم\""]);
        let s = notes(&p, Ending::Complete, &read(Some("a\u{1b}[2Jb")));
        assert_eq!(
            s,
            ["no messages in #t match \"a^[[2Jb\""],
            "a control is shown, not done"
        );
        let s = notes(&p, Ending::Unavailable, &read(None)).join("\n");
        assert!(
            s.contains("keeps no history") && s.contains("does not mean nothing was said"),
            "{s}"
        );
        let s = notes(&p, Ending::Unavailable, &read(Some("x"))).join("\n");
        assert!(s.contains("cannot search #t"), "{s}");
        p.horizon = Some(1_764_000_000_000);
        let s = notes(&p, Ending::Complete, &read(None));
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(
            s[1].contains("deleted by the server's retention or lost (up to "),
            "{s:?}"
        );
        // In direct messages the horizon may also be the account's start.
        let mut dms = Pager::new(Name::parse("me@l").unwrap(), None, Bounds::default(), 10, false);
        dms.horizon = p.horizon;
        let s = notes(&dms, Ending::Complete, &read(None));
        assert!(s[1].contains("or sent before your account was made"), "{s:?}");
        let s = notes(&dms, Ending::UnknownId, &read(None));
        assert!(s[0].contains("or sent before your account was made"), "{s:?}");
        let s = notes(&p, Ending::UnknownId, &read(None));
        assert!(!s[0].contains("account"), "{s:?}");
        let s = notes(&p, Ending::More, &read(None));
        assert_eq!(
            s,
            ["showing the last 0 messages; older ones exist (/more shows them)"]
        );
        let quiet = Read {
            confirm: false,
            ..read(None)
        };
        p.got = 3;
        p.horizon = None;
        assert!(notes(&p, Ending::Complete, &quiet).is_empty());
        // Nothing read, and nothing to say of that (`listen --after`), but what was deleted.
        let none = Read {
            quiet_if_none: true,
            ..quiet
        };
        p.got = 0;
        assert!(notes(&p, Ending::Complete, &none).is_empty());
        p.horizon = Some(5);
        let said = notes(&p, Ending::Complete, &none);
        assert!(
            said.len() == 1 && said[0].contains("deleted by the server's retention"),
            "{said:?}"
        );
        (p.got, p.horizon) = (3, None);
        assert_eq!(
            notes(&p, Ending::Complete, &read(None)),
            ["3 messages: back to the start of #t"]
        );
        assert_eq!(
            notes(&p, Ending::Refused, &read(Some("x"))),
            ["stopped after 3 matches: the server refused the next page, so more may exist"]
        );
    }
}
