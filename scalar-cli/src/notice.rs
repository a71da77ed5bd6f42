//! Events the server writes rather than people: a channel's records of moderation and of
//! changes (`text/x-scalar-mod`, "kick bob@x flooding"), presence (`text/x-scalar-presence`,
//! "away lunch") and admins' announcements on `!wall@DOMAIN` and `!motd@DOMAIN`
//! (PROTOCOL.md §4). Each becomes one sentence for people ("alice kicked bob (flooding)",
//! "bob is away: lunch"), for the chat and the plain lines of scripts alike; `--json` keeps
//! the raw body and content type.
//!
//! The sentences are not cleaned here: they quote text from the network (reasons, topic
//! lines), which the renderer cleans like any message body.

use crate::event::{Content, Received};
use scalar::proto::{Action, Kind, Name};
use scalar::server::{MEMBER_CTYPE, MOD_CTYPE, PRESENCE_CTYPE};

/// What a server-made Event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A channel's record of an operator's action or change: where it happened matters.
    Record(String),
    /// A user's presence, on the user's own ID topic.
    Presence(String),
    /// The record of a user's own block, on its own ID topic: it reaches only the user.
    Block(String),
    /// A message to everyone, or the message of the day.
    Announcement(String),
}

/// How names are shown: shortened against the server's `domain` ("" keeps them whole), and
/// `me`, if given, as "you".
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// The server's domain.
    pub domain: &'a str,
    /// This session's ID, for the chat; `None` for scripts.
    pub me: Option<&'a str>,
}

impl Names<'_> {
    /// A user ID, short, or "you"; anything else (an ID pattern, an address range) as it is.
    fn show<'s>(&self, id: &'s str) -> &'s str {
        if self.me == Some(id) {
            return "you";
        }
        // Someone else named `you` (or `yourself`) is shown whole, or their records would
        // read as this user's ("you banned bob"); and one named `themselves`, or "alice made
        // themselves an operator" would read as alice's own role (found by helper 263).
        match crate::names::short_target(id, self.domain) {
            "you" | "yourself" | "themselves" => id,
            short => short,
        }
    }
}

/// The notice an Event carries, if the server wrote it.
pub fn read(e: &Received, names: Names<'_>) -> Option<Notice> {
    let Content::Text(body) = &e.content else {
        return None;
    };
    let by = names.show(&e.from);
    let topic = Name::parse(&e.topic).ok()?;
    // Records are a channel's (or `!server@`'s), a presence Event its user's own, on its ID
    // (PROTOCOL.md §4): those types anywhere else did not come from the server (one that let
    // a direct message carry them), and read as the message they are.
    match e.ctype.as_deref() {
        // An admin's kill, IRC's KILL: its record on `!server@` names whom it disconnected.
        Some(MOD_CTYPE) if topic.kind() == Kind::Reserved && body.starts_with("kick ") => {
            let rest = body.strip_prefix("kick ").unwrap_or_default();
            let (target, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            let why = match reason.is_empty() {
                true => String::new(),
                false => format!(" ({reason})"),
            };
            let target = names.show(target);
            return Some(Notice::Record(format!(
                "{by} disconnected {target} from the server{why}"
            )));
        }
        Some(MOD_CTYPE) if topic.kind() != Kind::User => {
            return Some(Notice::Record(record(body, by, names)));
        }
        Some(MOD_CTYPE) if e.from == e.topic => return Some(Notice::Block(block(body, by, names))),
        Some(PRESENCE_CTYPE) if e.from == e.topic => return Some(Notice::Presence(presence(body, by))),
        Some(MEMBER_CTYPE) if topic.kind() == Kind::Channel => {
            return Some(Notice::Record(member(body, by)));
        }
        _ => {}
    }
    if topic.kind() != Kind::Reserved {
        return None;
    }
    let text = match topic.local() {
        "wall" => format!("announcement from {by}: {body}"),
        "motd" if body.is_empty() => format!("{by} removed the message of the day"),
        // The message of the day of the server's configuration comes from `!motd@DOMAIN`.
        "motd" if e.from == e.topic => format!("message of the day: {body}"),
        "motd" => format!("message of the day (set by {by}): {body}"),
        _ => return None,
    };
    Some(Notice::Announcement(text))
}

/// Whether `e` is the record of `me`'s invitation to its channel: the server also sends it
/// to the invited user's connections outside the channel (PROTOCOL.md §4, Mod).
pub fn invites(e: &Received, me: &str) -> bool {
    let Content::Text(body) = &e.content else {
        return false;
    };
    e.ctype.as_deref() == Some(MOD_CTYPE) && body.split(' ').take(2).eq(["invite", me])
}

/// A record's body, `ACTION TARGET[ REASON]` or `display|subject|modes|rate|join_rate VALUE`, as a
/// sentence about `by`.
fn record(body: &str, by: &str, names: Names<'_>) -> String {
    let (word, rest) = body.split_once(' ').unwrap_or((body, ""));
    match word {
        "display" if rest.is_empty() => format!("{by} removed the display name"),
        "display" => format!("{by} set the display name: {rest}"),
        "subject" if rest.is_empty() => format!("{by} removed the topic"),
        "subject" => format!("{by} set the topic: {rest}"),
        "modes" => format!("{by} set the modes to {}", crate::modes::describe_letters(rest)),
        "rate" if rest == "0" => format!("{by} lifted the message rate limit"),
        "rate" if rest == "1" => format!("{by} limited each member to 1 message a minute"),
        "rate" => format!("{by} limited each member to {rest} messages a minute"),
        "join_rate" if rest == "0" => format!("{by} lifted the join limit"),
        "join_rate" if rest == "1" => format!("{by} limited joins to 1 a minute"),
        "join_rate" => format!("{by} limited joins to {rest} a minute"),
        "purge" | "ban-until" | "mute-until" => {
            // `purge PATTERN SINCE[ REASON]`, `ban-until PATTERN UNTIL[ REASON]`.
            let mut words = rest.splitn(3, ' ');
            let (target, time) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
            let why = words.next().map(|r| format!(" ({r})")).unwrap_or_default();
            let at = match time.parse::<u64>() {
                Ok(ms) if word == "purge" => crate::timefmt::local_datetime_zoned(ms),
                // An end, rounded up: a time shown to the second must not be past already.
                Ok(ms) => crate::timefmt::local_datetime_zoned(crate::timefmt::ceil_second(ms)),
                Err(_) => time.to_string(),
            };
            let who = names.show(target);
            match word {
                "purge" => format!("{by} deleted {} since {at}{why}", messages_of(who)),
                "ban-until" => format!("{by} banned {who} until {at}{why}"),
                _ => format!("{by} muted {who} until {at}{why}"),
            }
        }
        _ => match Action::ALL.iter().find(|a| a.label() == word) {
            Some(&action) => {
                let (target, reason) = rest.split_once(' ').unwrap_or((rest, ""));
                let why = if reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({reason})")
                };
                // An admin taking over a channel, say: not "you made you the owner".
                let target = match names.show(target) {
                    t if t == by && by == "you" => "yourself",
                    t if t == by => "themselves",
                    t => t,
                };
                format!("{by} {}{why}", did(action, target))
            }
            // A record of a later version of the protocol: shown as written.
            None => format!("{by} recorded: {body}"),
        },
    }
}

/// A block's record, `ban PATTERN[ REASON]` or `unban PATTERN[ REASON]`, as a sentence about
/// `by`, whose blocks they are.
fn block(body: &str, by: &str, names: Names<'_>) -> String {
    let (word, rest) = body.split_once(' ').unwrap_or((body, ""));
    // A user's mode on its own ID (PROTOCOL.md §4, Blocks): registered-only or none.
    if word == "modes" {
        let take = if by == "you" { "take" } else { "takes" };
        return match rest.contains('r') {
            true => format!("{by} now {take} direct messages only from users who logged in"),
            false => format!("{by} {take} direct messages from anyone again"),
        };
    }
    let (target, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let did = match word {
        "ban" => "blocked",
        "unban" => "unblocked",
        _ => return format!("{by} recorded: {body}"),
    };
    let why = match reason.is_empty() {
        true => String::new(),
        false => format!(" ({reason})"),
    };
    format!("{by} {did} {}{why}", names.show(target))
}

/// What an operator did to `target`, in words.
fn did(action: Action, target: &str) -> String {
    match action {
        Action::Kick => format!("kicked {target}"),
        Action::Ban => format!("banned {target}"),
        Action::Unban => format!("unbanned {target}"),
        Action::Mute => format!("muted {target}"),
        Action::Unmute => format!("unmuted {target}"),
        Action::Op => format!("made {target} an operator"),
        Action::Deop => format!("took operator status from {target}"),
        Action::Voice => format!("gave {target} a voice"),
        Action::Devoice => format!("took the voice from {target}"),
        Action::Invite => format!("invited {target}"),
        Action::Uninvite if target == "you" => "withdrew your invitation".into(),
        Action::Uninvite => format!("withdrew the invitation of {target}"),
        Action::Except => format!("spared {target} from the bans"),
        Action::Unexcept => format!("withdrew the ban exception of {target}"),
        Action::Transfer => format!("made {target} the owner"),
        // The target is the owner, named as a check: nothing to show.
        Action::Drop => "dropped the channel: it ends when its last member leaves".into(),
        // The target is an id: its ref, as shown before each message.
        Action::Delete => format!("deleted the message {}", target.get(..8).unwrap_or(target)),
        // Shown from its own record form (`record`); here only without a time.
        Action::Purge => format!("deleted {}", messages_of(target)),
    }
}

/// "the messages of bob", or of "you", "your messages" (found by QA: "the messages of you").
fn messages_of(who: &str) -> String {
    match who {
        "you" => "your messages".into(),
        who => format!("the messages of {who}"),
    }
}

/// A join or leave (PROTOCOL.md §4, Joins and leaves), `joined`, `left`, `left REASON`, `quit`
/// or `quit REASON`, as a sentence about `who`.
fn member(body: &str, who: &str) -> String {
    match body.split_once(' ') {
        Some((did @ ("quit" | "left"), why)) => format!("{who} {did} ({why})"),
        _ if matches!(body, "joined" | "left" | "quit") => format!("{who} {body}"),
        _ => format!("{who}: {body}"),
    }
}

/// A presence body, `online`, `offline`, `away` or `away NOTE`, as a sentence about `who`.
fn presence(body: &str, who: &str) -> String {
    let is = if who == "you" { "are" } else { "is" };
    match body.split_once(' ') {
        Some(("away", note)) => format!("{who} {is} away: {note}"),
        _ if matches!(body, "online" | "offline" | "away") => format!("{who} {is} {body}"),
        _ => format!("{who}: {body}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::event::text_event as ev;

    const CHAT: Names<'static> = Names {
        domain: "l",
        me: Some("me@l"),
    };

    fn rec(body: &str) -> String {
        match read(&ev("#k@l", "alice@l", body, Some(MOD_CTYPE)), CHAT) {
            Some(Notice::Record(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn records() {
        assert_eq!(rec("kick bob@x flooding"), "alice kicked bob@x (flooding)");
        assert_eq!(rec("kick bob@l"), "alice kicked bob");
        assert_eq!(rec("kick me@l too loud"), "alice kicked you (too loud)");
        assert_eq!(
            rec("ban *@spam.example spam"),
            "alice banned *@spam.example (spam)"
        );
        assert_eq!(rec("ban *@l"), "alice banned *@l", "a pattern is never shortened");
        assert_eq!(rec("unmute bob@l"), "alice unmuted bob");
        assert_eq!(rec("op bob@l"), "alice made bob an operator");
        assert_eq!(rec("devoice bob@l"), "alice took the voice from bob");
        assert_eq!(rec("invite bob@l"), "alice invited bob");
        assert_eq!(rec("uninvite bob@l"), "alice withdrew the invitation of bob");
        assert_eq!(rec("uninvite me@l"), "alice withdrew your invitation");
        assert_eq!(rec("transfer me@l"), "alice made you the owner");
        assert_eq!(rec("transfer alice@l"), "alice made themselves the owner");
        assert_eq!(
            rec("drop alice@l"),
            "alice dropped the channel: it ends when its last member leaves"
        );
        assert_eq!(rec("subject 1.95 is out"), "alice set the topic: 1.95 is out");
        assert_eq!(rec("subject "), "alice removed the topic");
        assert_eq!(rec("display Rust 🦀"), "alice set the display name: Rust 🦀");
        assert_eq!(
            rec("modes +im"),
            "alice set the modes to +im (invite-only, moderated)"
        );
        assert_eq!(rec("modes -"), "alice set the modes to - (none)");
        assert_eq!(
            rec("rate 30"),
            "alice limited each member to 30 messages a minute"
        );
        assert_eq!(rec("rate 1"), "alice limited each member to 1 message a minute");
        assert_eq!(rec("rate 0"), "alice lifted the message rate limit");
        assert_eq!(rec("join_rate 12"), "alice limited joins to 12 a minute");
        assert_eq!(rec("join_rate 0"), "alice lifted the join limit");
        assert_eq!(rec("frob x"), "alice recorded: frob x");
        let since = crate::timefmt::local_datetime_zoned(1_764_000_000_000);
        assert_eq!(
            rec("purge spam*@l 1764000000000 raid"),
            format!("alice deleted the messages of spam*@l since {since} (raid)")
        );
        assert_eq!(
            rec("purge bob@l 1764000000000"),
            format!("alice deleted the messages of bob since {since}")
        );
        assert_eq!(
            rec("purge me@l 1764000000000"),
            format!("alice deleted your messages since {since}")
        );
        assert_eq!(
            rec("ban-until bob@l 1764000000000 cool off"),
            format!("alice banned bob until {since} (cool off)")
        );
        assert_eq!(
            rec("mute-until guest-*@l 1764000000000"),
            format!("alice muted guest-*@l until {since}")
        );
        let kill = read(
            &ev("!server@l", "root@l", "kick bob@l stuck", Some(MOD_CTYPE)),
            CHAT,
        );
        assert_eq!(
            kill,
            Some(Notice::Record(
                "root disconnected bob from the server (stuck)".into()
            ))
        );
        let mine = read(&ev("#k@l", "me@l", "kick bob@l", Some(MOD_CTYPE)), CHAT);
        assert_eq!(mine, Some(Notice::Record("you kicked bob".into())));
        // Someone called `you` is not this user.
        let other = read(&ev("#k@l", "you@l", "ban yourself@l", Some(MOD_CTYPE)), CHAT);
        assert_eq!(other, Some(Notice::Record("you@l banned yourself@l".into())));
        let script = Names { domain: "", me: None };
        let full = read(&ev("#k@l", "alice@l", "kick bob@l x", Some(MOD_CTYPE)), script);
        assert_eq!(full, Some(Notice::Record("alice@l kicked bob@l (x)".into())));
    }

    #[test]
    fn one_s_own_blocks() {
        let block = |body| read(&ev("me@l", "me@l", body, Some(MOD_CTYPE)), CHAT);
        assert_eq!(
            block("ban bob@l spam"),
            Some(Notice::Block("you blocked bob (spam)".into()))
        );
        assert_eq!(
            block("unban *@x"),
            Some(Notice::Block("you unblocked *@x".into()))
        );
        assert_eq!(
            block("kick bob@l"),
            Some(Notice::Block("you recorded: kick bob@l".into()))
        );
        let script = Names { domain: "", me: None };
        let e = ev("me@l", "me@l", "ban bob@l", Some(MOD_CTYPE));
        assert_eq!(read(&e, script), Some(Notice::Block("me@l blocked bob@l".into())));
        let e = ev("me@l", "me@l", "modes +r", Some(MOD_CTYPE));
        let only = "me@l now takes direct messages only from users who logged in";
        assert_eq!(read(&e, script), Some(Notice::Block(only.into())));
        assert_eq!(
            block("modes +r"),
            Some(Notice::Block(
                "you now take direct messages only from users who logged in".into()
            ))
        );
        assert_eq!(
            block("modes -"),
            Some(Notice::Block("you take direct messages from anyone again".into()))
        );
    }

    #[test]
    fn server_types_elsewhere_are_not_taken_for_the_server_s() {
        let forged = ev(
            "me@l",
            "bob@l",
            "kick me@l re-login at evil.example",
            Some(MOD_CTYPE),
        );
        assert_eq!(read(&forged, CHAT), None);
        let forged = ev(
            "me@l",
            "bob@l",
            "away SERVER NOTICE: reply with your password",
            Some(PRESENCE_CTYPE),
        );
        assert_eq!(read(&forged, CHAT), None);
        let own = ev("me@l", "me@l", "away lunch", Some(PRESENCE_CTYPE));
        assert_eq!(
            read(&own, CHAT),
            Some(Notice::Presence("you are away: lunch".into()))
        );
    }

    #[test]
    fn joins_and_leaves() {
        let m = |topic: &str, body: &str| read(&ev(topic, "bob@l", body, Some(MEMBER_CTYPE)), CHAT);
        let record = |s: &str| Some(Notice::Record(s.into()));
        assert_eq!(m("#k@l", "joined"), record("bob joined"));
        assert_eq!(m("#k@l", "left"), record("bob left"));
        assert_eq!(
            m("#k@l", "left see you tomorrow"),
            record("bob left (see you tomorrow)")
        );
        assert_eq!(m("#k@l", "quit"), record("bob quit"));
        assert_eq!(m("#k@l", "quit gone fishing"), record("bob quit (gone fishing)"));
        assert_eq!(
            m("#k@l", "danced"),
            record("bob: danced"),
            "a body of a later version"
        );
        assert_eq!(m("me@l", "joined"), None, "only on a channel");
    }

    #[test]
    fn presence_and_announcements() {
        let p = |from: &str, body: &str| read(&ev(from, from, body, Some(PRESENCE_CTYPE)), CHAT);
        assert_eq!(
            p("bob@l", "away lunch"),
            Some(Notice::Presence("bob is away: lunch".into()))
        );
        assert_eq!(
            p("bob@l", "online"),
            Some(Notice::Presence("bob is online".into()))
        );
        assert_eq!(p("me@l", "away"), Some(Notice::Presence("you are away".into())));
        let a = |topic: &str, from: &str, body: &str| read(&ev(topic, from, body, None), CHAT);
        assert_eq!(
            a("!wall@l", "root@l", "restart at 10"),
            Some(Notice::Announcement(
                "announcement from root: restart at 10".into()
            ))
        );
        assert_eq!(
            a("!motd@l", "!motd@l", "welcome"),
            Some(Notice::Announcement("message of the day: welcome".into()))
        );
        assert_eq!(
            a("!motd@l", "root@l", "hi"),
            Some(Notice::Announcement(
                "message of the day (set by root): hi".into()
            ))
        );
        assert_eq!(a("#k@l", "bob@l", "hi"), None, "a message is not a notice");
        assert_eq!(
            a("bob@l", "bob@l", "away"),
            None,
            "nor is a direct message saying away"
        );
    }
}
