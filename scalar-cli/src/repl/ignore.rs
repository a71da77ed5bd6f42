//! `/ignore`: hiding a user's messages in this session, as every IRC client can. The server
//! still delivers them (`/block` has it refuse them); the client does not show them. What the
//! server writes (a channel's records) is shown whoever it names: it is how the channel is run.

use super::shared::{Shared, State};
use crate::event::Received;
use crate::names;
use scalar::proto::pattern::matches;
use scalar::server::MOD_CTYPE;

impl State {
    /// Whether `e` comes from someone ignored (never oneself, never a record, never an
    /// admin's announcement on the server's `!wall` or `!motd`).
    pub fn ignores(&self, e: &Received) -> bool {
        e.from != self.user
            && e.ctype.as_deref() != Some(MOD_CTYPE)
            && !e.topic.starts_with('!')
            && self.ignoring.iter().any(|p| matches(p, &e.from))
    }
}

/// Says how many of `events`, just counted in a note, were not shown for coming from users
/// ignored, or for being deleted (see [`super::deleted`]): the note's count would otherwise
/// disagree with the lines.
pub fn say_hidden(shared: &Shared, events: &[Received]) {
    let (ignored, deleted) = {
        let st = shared.state();
        let ignored = events.iter().filter(|e| st.ignores(e)).count();
        let deleted = events
            .iter()
            .filter(|e| !st.ignores(e) && st.deleted.covers(e))
            .count();
        (ignored, deleted)
    };
    let what = |n| if n == 1 { "message" } else { "messages" };
    if ignored > 0 {
        shared.screen.info(format!(
            "{ignored} {} from users you ignore not shown (/ignore)",
            what(ignored)
        ));
    }
    if deleted > 0 {
        shared
            .screen
            .info(format!("{deleted} deleted {} not shown", what(deleted)));
    }
}

/// `/ignore PATTERN`, `/unignore PATTERN` (`on`), or `/ignore` alone (`who` None): the list.
pub fn ignore(shared: &Shared, who: Option<&str>, on: bool) -> Result<(), String> {
    let mut st = shared.state();
    let domain = st.domain.clone();
    let Some(who) = who else {
        let list: Vec<&str> = st
            .ignoring
            .iter()
            .map(|p| names::short_target(p, &domain))
            .collect();
        let line = match list.is_empty() {
            true => "ignoring nobody".to_string(),
            false => format!("ignoring {}; /unignore USER shows them again", list.join(", ")),
        };
        drop(st);
        shared.screen.info(line);
        return Ok(());
    };
    let pattern = names::pattern(who, &domain)?;
    let short = names::short_target(&pattern, &domain).to_string();
    if on && pattern == st.user {
        return Err("you cannot ignore yourself".into());
    }
    let had = st.ignoring.contains(&pattern);
    let line = match (on, had) {
        (true, true) => format!("already ignoring {short}"),
        (true, false) => {
            st.ignoring.push(pattern);
            format!("ignoring {short}: their messages, actions and presence are hidden in this session")
        }
        (false, true) => {
            st.ignoring.retain(|p| *p != pattern);
            format!("no longer ignoring {short}")
        }
        (false, false) => format!("not ignoring {short}"),
    };
    drop(st);
    shared.screen.info(line);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Content;
    use scalar::proto::MsgId;

    fn ev(topic: &str, from: &str, ctype: Option<&str>) -> Received {
        Received {
            seq: None,
            topic: topic.into(),
            from: from.into(),
            time: 1,
            id: MsgId([1; 32]),
            verified: true,
            content: Content::Text("hi".into()),
            ctype: ctype.map(Into::into),
            reply_to: None,
        }
    }

    #[test]
    fn only_what_someone_ignored_says_is_hidden() {
        let mut st = State::default();
        st.user = "me@l".into();
        st.ignoring = vec!["troll@l".into(), "guest-*@l".into()];
        assert!(st.ignores(&ev("#a@l", "troll@l", None)));
        assert!(st.ignores(&ev("me@l", "guest-x1@l", None)), "a pattern, a DM");
        assert!(!st.ignores(&ev("#a@l", "bob@l", None)));
        assert!(!st.ignores(&ev("#a@l", "troll@l", Some(MOD_CTYPE))), "a record");
        assert!(
            !st.ignores(&ev("!wall@l", "troll@l", None)),
            "an admin's announcement"
        );
    }
}
