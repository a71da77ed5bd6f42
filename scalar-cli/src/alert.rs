//! Alerts: a message that calls for this user's attention, a direct message to it or one that
//! names it, rings the terminal's bell and has its time shown in reverse, as IRC clients
//! highlight a nick (docs/CLI.md, "Alerts").

use crate::event::{Content, Received};

/// Whether `e`, arriving live, is for `me`'s attention: a message from someone else (not a
/// record, a presence, an announcement or one's own copy), sent to `me` directly or naming
/// `me`'s local part as a word.
pub fn wanted(e: &Received, me: &str) -> bool {
    let announcement = e.topic.starts_with('!');
    if e.from == me || announcement || e.ctype.as_deref().is_some_and(is_server_made) {
        return false;
    }
    if e.topic == me {
        return true;
    }
    let local = me.split_once('@').map_or(me, |(l, _)| l);
    matches!(&e.content, Content::Text(t) if names(t, local))
}

/// The content types of what the server writes (PROTOCOL.md §4): never an alert, even when
/// they name the user (a kick is shown, not rung).
fn is_server_made(ctype: &str) -> bool {
    [
        scalar::server::MOD_CTYPE,
        scalar::server::PRESENCE_CTYPE,
        scalar::server::MEMBER_CTYPE,
    ]
    .contains(&ctype)
}

/// Japanese honorifics that follow a name written in Latin letters, after a hyphen or an
/// underscore ("yuki-san"): the name is still meant (found by a trial in sixteen scripts).
const HONORIFICS: [&str; 7] = ["san", "sama", "kun", "chan", "sensei", "senpai", "dono"];

/// Whether `text` names `local` (a name's local part: ASCII letters, digits, `.`, `_`, `-`)
/// as a word, in any case: not as part of a longer name (`bobby`, `x.bob`), though a full stop
/// after it may end a sentence ("thanks, bob."), and an honorific may follow it ("yuki-san").
pub fn names(text: &str, local: &str) -> bool {
    if local.is_empty() {
        return false;
    }
    let bytes = text.as_bytes();
    let inside = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let honorific = |at: usize| {
        HONORIFICS.iter().any(|h| {
            bytes
                .get(at..at + h.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(h.as_bytes()))
                && bytes.get(at + h.len()).is_none_or(|&b| !inside(b))
        })
    };
    let mut from = 0;
    while let Some(at) = find_ignoring_case(bytes, local.as_bytes(), from) {
        let end = at + local.len();
        let before = at.checked_sub(1).and_then(|i| bytes.get(i)).copied();
        let after = bytes.get(end).copied();
        let next = bytes.get(end + 1).copied();
        let starts = before.is_none_or(|b| !inside(b) && b != b'.');
        let ends = match after {
            None => true,
            Some(b'.') => next.is_none_or(|b| !inside(b)),
            Some(b'-' | b'_') => honorific(end + 1),
            Some(b) => !inside(b),
        };
        if starts && ends {
            return true;
        }
        from = at + 1;
    }
    false
}

/// The first index at or after `from` where `needle` (ASCII) occurs in `hay`, ignoring ASCII
/// case. A match never starts inside a multi-byte character: those bytes are never ASCII.
fn find_ignoring_case(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let last = hay.len().checked_sub(needle.len())?;
    (from..=last).find(|&i| {
        hay.get(i..i + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::text_event as ev;

    #[test]
    fn a_name_is_a_word_in_any_case_not_part_of_a_longer_one() {
        for yes in [
            "bob: hi",
            "hi Bob",
            "BOB?",
            "thanks, bob.",
            "@bob look",
            "(bob)",
            "ok bob. next",
            "bob",
        ] {
            assert!(names(yes, "bob"), "{yes}");
        }
        for no in [
            "bobby",
            "kabob",
            "x.bob",
            "bob.smith",
            "bob_2",
            "bob-x",
            "",
            "b o b",
        ] {
            assert!(!names(no, "bob"), "{no}");
        }
        assert!(names("é bob", "bob"), "after a character of more than one byte");
        assert!(names("bobby and bob", "bob"), "the second one counts");
        assert!(names("ping j.doe!", "j.doe"));
        for honoured in ["yuki-san", "Yuki_SAN!", "yuki-sensei, please", "ask yuki-chan"] {
            assert!(names(honoured, "yuki"), "{honoured}");
        }
        for no in ["yuki-sanity", "yuki-x", "yuki_2", "yuki-sa"] {
            assert!(!names(no, "yuki"), "{no}");
        }
    }

    #[test]
    fn messages_to_or_naming_the_user_from_someone_else_alert() {
        let me = "bob@l";
        assert!(
            wanted(&ev("bob@l", "alice@l", "psst", None), me),
            "a direct message"
        );
        assert!(wanted(&ev("#a@l", "alice@l", "bob: look", None), me));
        assert!(!wanted(&ev("#a@l", "alice@l", "look", None), me));
        assert!(!wanted(&ev("#a@l", "bob@l", "I am bob", None), me), "one's own");
        assert!(!wanted(&ev("alice@l", "bob@l", "hi", None), me), "one's own copy");
        let record = ev(
            "#a@l",
            "alice@l",
            "kick bob@l spam",
            Some(scalar::server::MOD_CTYPE),
        );
        assert!(!wanted(&record, me));
        assert!(!wanted(&ev("!wall@l", "root@l", "bob: restart", None), me));
        let action = ev("#a@l", "alice@l", "waves at bob", Some("text/x-scalar-action"));
        assert!(wanted(&action, me));
    }
}
