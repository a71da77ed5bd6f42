//! Turning Events into lines for people: local time, short ref, topic, sender, text.
//!
//! Text from the network is never written to a terminal as is: control characters (which could
//! move the cursor, retitle the window or hide text), bidi overrides and characters that draw
//! nothing are made visible first (see [`hidden`](crate::hidden)); long lines are folded by
//! [`fold`](crate::fold) as they are printed.

use crate::event::{Content, Received, short_ref};
use crate::fold::{CONTINUED, INDENT};
use crate::names::short;
use crate::notice::{self, Names, Notice};
use crate::timefmt::{local_datetime, local_hms};
use std::fmt::Write;

/// Whether to colour output: only on a terminal, and never when `NO_COLOR` is set and not
/// empty (<https://no-color.org>).
pub fn colour_wanted(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Makes one line of untrusted text safe to print: `^X` for C0 controls and DEL, `<U+XXXX>` for
/// what [`hidden`](crate::hidden) marks; a tab becomes a space. Newlines become `^J` too, so
/// that one message is always one line.
pub fn clean_line(s: &str) -> String {
    clean(s, None)
}

/// What starts a line the server wrote (a record of moderation, a presence), as irssi marks
/// them: apart from an action's `*`, which anyone can write (`/me kicked bob`).
const SERVER_SAID: &str = "-!-";

fn clean(s: &str, indent: Option<usize>) -> String {
    let mut out = String::with_capacity(s.len());
    for (c, hidden) in crate::hidden::marked(s) {
        let n = u32::from(c);
        match c {
            // Marked, so that a line of the text never passes for a line of the chat.
            '\n' if indent.is_some() => {
                out.push('\n');
                out.extend(std::iter::repeat_n(' ', indent.unwrap_or(0)));
                out.push_str(CONTINUED);
            }
            '\t' => out.push(' '),
            _ if n < 0x20 || n == 0x7f => {
                out.push('^');
                out.push(char::from_u32(n ^ 0x40).unwrap_or('?'));
            }
            _ if hidden => {
                let _ = write!(out, "<U+{n:04X}>");
            }
            _ => out.push(c),
        }
    }
    out
}

/// ANSI colours for senders: the six bright hues that read on dark and light backgrounds, and
/// their normal variants.
const PALETTE: [u8; 12] = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];

/// The colour of a sender: the same name always gets the same colour (FNV-1a of the name).
pub fn colour_of(name: &str) -> u8 {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    PALETTE
        .get((h % PALETTE.len() as u64) as usize)
        .copied()
        .unwrap_or(0)
}

/// Wraps `s` in a colour when `on`.
pub fn paint(s: &str, colour: u8, on: bool) -> String {
    if on {
        format!("\x1b[{colour}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Dims `s` when `on`.
pub fn dim(s: &str, on: bool) -> String {
    if on {
        format!("\x1b[2m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// The content as displayed: text cleaned, or a note for a blob.
fn body(e: &Received, indent: Option<usize>) -> String {
    match &e.content {
        Content::Text(t) => clean(t, indent),
        Content::Blob(b) => format!(
            "[{} bytes of {}]",
            b.len(),
            clean_line(e.ctype.as_deref().unwrap_or("application/octet-stream"))
        ),
    }
}

/// How the chat view shows an Event.
pub struct ChatView<'a> {
    /// The server's domain, stripped from names for brevity.
    pub domain: &'a str,
    /// This session's own ID.
    pub me: &'a str,
    /// The current topic; its name is left out of lines about it.
    pub current: Option<&'a str>,
    /// Colours on or off.
    pub colour: bool,
    /// A marker for replayed history ("history"), if any.
    pub replay: bool,
    /// The Event is for this user's attention ([`crate::alert`]): its time is shown in
    /// reverse (with colours on).
    pub alert: bool,
}

impl ChatView<'_> {
    /// One Event as shown in the chat: `HH:MM:SS ref [topic] sender: text`, or for what the
    /// server wrote, `HH:MM:SS ref [topic] -!- alice kicked bob (flooding)` (see [`notice`]).
    pub fn line(&self, e: &Received) -> String {
        let mut out = String::new();
        let time = local_hms(e.time);
        let time = match self.alert && self.colour {
            true => format!("\x1b[7m{time}\x1b[0m"),
            false => time,
        };
        // A join's, leave's or presence's id names nothing a /reply or /delete could use
        // (found by QA: shown, it led to "no recent message has ref"): blank, in its column.
        let reference = match e.is_unstored() {
            true => " ".repeat(8),
            false => short_ref(&e.id),
        };
        let _ = write!(out, "{time} {}", dim(&reference, self.colour));
        if self.replay {
            out.push_str(" [history]");
        }
        if !e.verified {
            out.push_str(" [ID MISMATCH]");
        }
        // Continuation lines of a multi-line message line up under its first character.
        let indent = Some(INDENT);
        let names = Names {
            domain: self.domain,
            me: Some(self.me),
        };
        match notice::read(e, names) {
            Some(Notice::Record(s)) => {
                self.place(&mut out, e);
                let _ = write!(out, " {SERVER_SAID} {}", clean(&s, indent));
            }
            // The topic of a presence is the user it is about, of a block the user's own, and
            // an announcement is everyone's: naming the topic would say nothing.
            Some(Notice::Presence(s) | Notice::Block(s)) => {
                let _ = write!(out, " {SERVER_SAID} {}", clean(&s, indent));
            }
            Some(Notice::Announcement(s)) => {
                let _ = write!(out, " *** {}", clean(&s, indent));
            }
            None => {
                self.place(&mut out, e);
                let from = short(&e.from, self.domain);
                let who = paint(from, colour_of(&e.from), self.colour);
                if e.is_action() {
                    let _ = write!(out, " * {who} {}", body(e, indent));
                } else {
                    let _ = write!(out, " {who}:");
                    if let Some(r) = &e.reply_to {
                        let _ = write!(out, " {}", dim(&format!("(re {})", short_ref(r)), self.colour));
                    }
                    let _ = write!(out, " {}", body(e, indent));
                }
            }
        }
        out
    }

    /// Where an Event was said, when that is not the current topic: ` [dm]`, ` [dm to bob]`,
    /// ` #go`.
    fn place(&self, out: &mut String, e: &Received) {
        if e.topic == self.me {
            out.push_str(" [dm]");
        } else if e.from == self.me && !e.topic.starts_with(['#', '!']) {
            let _ = write!(out, " [dm to {}]", short(&e.topic, self.domain));
        } else if self.current != Some(e.topic.as_str()) {
            let _ = write!(out, " {}", short(&e.topic, self.domain));
        }
    }
}

/// One Event as a plain line for scripts (`listen`, `history` without `--json`):
/// `YYYY-MM-DD HH:MM:SS ref topic from: text`, full names, one line per event; what the server
/// wrote is `... topic from -!- sentence`, an action `... topic from * text`.
pub fn plain_line(e: &Received) -> String {
    let mut out = format!("{} {}", local_datetime(e.time), short_ref(&e.id));
    if !e.verified {
        out.push_str(" [ID MISMATCH]");
    }
    let _ = write!(out, " {} {}", e.topic, e.from);
    let names = Names { domain: "", me: None };
    match notice::read(e, names) {
        Some(Notice::Record(s) | Notice::Presence(s) | Notice::Block(s) | Notice::Announcement(s)) => {
            let _ = write!(out, " {SERVER_SAID} {}", clean_line(&s));
        }
        None if e.is_action() => {
            let _ = write!(out, " * {}", body(e, None));
        }
        None => {
            out.push(':');
            if let Some(r) = &e.reply_to {
                let _ = write!(out, " (re {})", short_ref(r));
            }
            let _ = write!(out, " {}", body(e, None));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalar::proto::MsgId;

    fn ev(topic: &str, from: &str, text: &str) -> Received {
        Received {
            id: MsgId([0xab; 32]),
            ..crate::event::text_event(topic, from, text, None)
        }
    }

    /// The chat of me@localhost, in #rust, without colours.
    fn view() -> ChatView<'static> {
        ChatView {
            domain: "localhost",
            me: "me@localhost",
            current: Some("#rust@localhost"),
            colour: false,
            replay: false,
            alert: false,
        }
    }

    #[test]
    fn an_alert_shows_its_time_in_reverse_with_colours_on() {
        let e = ev("#rust@localhost", "bob@localhost", "me: look");
        let line = |colour, alert| {
            ChatView {
                colour,
                alert,
                ..view()
            }
            .line(&e)
        };
        assert!(line(true, true).starts_with("\x1b[7m"), "{:?}", line(true, true));
        assert!(!line(true, false).starts_with("\x1b[7m"));
        assert_eq!(line(false, true), line(false, false), "no colours, no marks");
    }

    /// The chat's info lines are cleaned whole, and some quote text cleaned already (a topic
    /// line, an away note): a second cleaning must change nothing.
    #[test]
    fn cleaning_twice_is_cleaning_once() {
        for s in [
            "a\x1b]0;t\x07b\t\n\u{9b}\u{202e}\u{200b}",
            "שלום 123\u{200f}! \u{200f}\u{200f}",
            "👨\u{200d}👩\u{200d}👧 1\u{fe0f}\u{20e3} 葛\u{e0100} a\u{fe0f}\u{fe0f}",
            "\u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}\u{e0041}",
            "\u{182c}\u{1820}\u{180e}\u{1820} \u{645}\u{6cc}\u{200c}\u{62e} pa\u{e000}ss",
        ] {
            let once = clean_line(s);
            assert_eq!(clean_line(&once), once, "{s:?}");
            let quoted = format!("topic of #x: {once}");
            assert_eq!(clean_line(&quoted), quoted, "{s:?}");
        }
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean_line("a\x1b[2Jb\tc\nd\u{7f}"), "a^[[2Jb c^Jd^?");
        assert_eq!(clean_line("x\u{202e}y\u{85}"), "x<U+202E>y<U+0085>");
        assert_eq!(clean_line("a\u{2028}b\u{2029}"), "a<U+2028>b<U+2029>");
        assert_eq!(
            clean_line("a\u{61c}b"),
            "a<U+061C>b",
            "arabic letter mark, a bidi control"
        );
        assert_eq!(clean("a\nb", Some(2)), "a\n  | b");
        assert_eq!(clean_line("héllo ☃"), "héllo ☃");
    }

    #[test]
    fn colours_are_stable() {
        assert_eq!(colour_of("alice@localhost"), colour_of("alice@localhost"));
        assert!(PALETTE.contains(&colour_of("bob@localhost")));
    }

    #[test]
    fn chat_lines() {
        let v = view();
        let line = v.line(&ev("#rust@localhost", "alice@localhost", "hi"));
        assert!(line.ends_with(" abababab alice: hi"), "{line}");
        let line = v.line(&ev("#go@localhost", "alice@localhost", "hi"));
        assert!(line.ends_with(" abababab #go alice: hi"), "{line}");
        let line = v.line(&ev("me@localhost", "bob@localhost", "psst"));
        assert!(line.ends_with(" [dm] bob: psst"), "{line}");
        let mut e = ev("#rust@localhost", "alice@localhost", "waves");
        e.ctype = Some(crate::event::ACTION.into());
        assert!(v.line(&e).ends_with(" * alice waves"));
        // Neither an action nor a line of a text passes for what the server wrote, or for a
        // line of the chat.
        e.content = Content::Text("kicked bob (flooding)".into());
        assert!(v.line(&e).ends_with(" * alice kicked bob (flooding)"));
        e.ctype = None;
        e.content = Content::Text("ok\ndeadbeef bob: op alice".into());
        let line = v.line(&e);
        assert!(
            line.ends_with(" alice: ok\n         | deadbeef bob: op alice"),
            "{line}"
        );
        e.content = Content::Text("waves".into());
        e.reply_to = Some(MsgId([0x12; 32]));
        e.verified = false;
        let line = v.line(&e);
        assert!(
            line.contains("[ID MISMATCH] alice: (re 12121212) waves"),
            "{line}"
        );
    }

    #[test]
    fn notices_read_as_sentences() {
        use scalar::server::{MOD_CTYPE, PRESENCE_CTYPE};
        let v = view();
        let mut e = ev(
            "#rust@localhost",
            "alice@localhost",
            "kick bob@localhost flooding",
        );
        e.ctype = Some(MOD_CTYPE.into());
        assert!(
            v.line(&e).ends_with(" abababab -!- alice kicked bob (flooding)"),
            "{}",
            v.line(&e)
        );
        e.topic = "#go@localhost".into();
        assert!(
            v.line(&e)
                .ends_with(" abababab #go -!- alice kicked bob (flooding)")
        );
        let plain = plain_line(&e);
        assert!(
            plain.ends_with(
                " #go@localhost alice@localhost -!- alice@localhost kicked bob@localhost (flooding)"
            ),
            "{plain}"
        );
        let mut p = ev("bob@localhost", "bob@localhost", "away lunch");
        p.ctype = Some(PRESENCE_CTYPE.into());
        // No ref: a presence's id names nothing to reply to or delete (nor a join's).
        assert!(
            v.line(&p).ends_with(":00          -!- bob is away: lunch"),
            "{}",
            v.line(&p)
        );
        let mut j = ev("#rust@localhost", "bob@localhost", "joined");
        j.ctype = Some(scalar::server::MEMBER_CTYPE.into());
        assert!(!v.line(&j).contains("abababab"), "{}", v.line(&j));
        assert!(plain_line(&j).contains(" abababab "), "scripts' columns stay");
        let w = ev("!wall@localhost", "root@localhost", "restart");
        assert!(
            v.line(&w)
                .ends_with(" abababab *** announcement from root: restart")
        );
    }

    #[test]
    fn plain_lines() {
        let line = plain_line(&ev("#rust@localhost", "alice@localhost", "a\nb"));
        assert!(
            line.ends_with(" abababab #rust@localhost alice@localhost: a^Jb"),
            "{line}"
        );
    }
}
