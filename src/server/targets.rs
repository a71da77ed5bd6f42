//! Targets: a page of one of a channel's lists (bans, mutes, operators, voiced, invited, excepted) for
//! those who run it, or of the server's bans (on `!server@DOMAIN`) for its admins: what IRC
//! shows with `MODE #channel +b`.

use super::admin::is_server;
use super::meta::{PAGE_BUDGET, PAGE_ENTRY_OVERHEAD};
use super::{ConnId, Outbox, Server};
use crate::proto::*;
use std::borrow::Cow;

impl Server {
    /// Targets: the list its action adds to, sorted bytewise, a page after the cursor.
    pub(super) fn targets_page(&mut self, conn: ConnId, t: Targets<'_>, out: &mut impl Outbox) {
        let mut entries = match self.listed(conn, &t) {
            Ok(entries) => entries,
            Err((code, reason)) => return self.fail(conn, t.seq, code, &reason, out),
        };
        entries.sort_unstable();
        entries.dedup();
        let (page, more) = page_after(&entries, t.cursor, t.count.min(MAX_PAGE) as usize);
        let mut page: Vec<&str> = page.iter().map(|e| &**e).collect();
        // Bans and mutes keep their reasons, ends and setters (the server's bans and a
        // channel's), invitations and exceptions all but an end; operators and voices none.
        let ends = matches!(t.action, Action::Ban | Action::Mute);
        let held: Option<Vec<Held<'_>>> = (ends || matches!(t.action, Action::Invite | Action::Except))
            .then(|| page.iter().map(|e| self.held(t.topic, t.action, e)).collect());
        // A hundred entries with long reasons would not fit a frame: the page ends before.
        let mut size = 0;
        let held_len = |i: usize| {
            let held = held.as_ref().and_then(|h| h.get(i));
            held.map_or(0, |h| h.reason.len() + h.by.len() + 2 * TIME_LEN)
        };
        let fits = (page.iter().enumerate())
            .take_while(|&(i, e)| {
                size += e.len() + held_len(i) + PAGE_ENTRY_OVERHEAD;
                size <= PAGE_BUDGET
            })
            .count();
        let more = more || fits < page.len();
        page.truncate(fits);
        let held = held.map(|mut h| {
            h.truncate(fits);
            Columns::of(&h)
        });
        let list = TargetList {
            seq: t.seq,
            topic: t.topic,
            action: t.action,
            total: u32::try_from(entries.len()).unwrap_or(u32::MAX),
            targets: List::Slice(&page),
            reasons: held.as_ref().map(|c| List::Slice(&c.reasons)),
            untils: held.as_ref().filter(|_| ends).map(|c| List::Slice(&c.untils)),
            setters: held.as_ref().map(|c| List::Slice(&c.setters)),
            set_at: held.as_ref().map(|c| List::Slice(&c.set_at)),
            cursor: page.last().copied().filter(|_| more),
        };
        out.reply(conn, &Msg::TargetList(list));
    }

    /// What `topic` keeps of `entry`, one of its bans, mutes, invitations or exceptions
    /// (`action`). Looked up for a page (at most 100) among at most 500: rare and small.
    fn held(&self, topic: Name<'_>, action: Action, entry: &str) -> Held<'_> {
        let room = || self.rooms.get(topic.as_str());
        let sanction = match (is_server(topic), action) {
            (true, _) => {
                let reason = self.ban_reasons.get(entry).map_or("", |r| &**r);
                let (by, at) = self
                    .ban_setters
                    .get(entry)
                    .map_or(("", 0), |(by, at)| (&**by, *at));
                return Held {
                    reason,
                    by,
                    at,
                    ..Held::default()
                };
            }
            (false, Action::Invite | Action::Except) => {
                let listed = room().and_then(|r| r.listed(action, entry));
                return listed.map_or_else(Held::default, |l| Held {
                    reason: l.reason.as_deref().unwrap_or_default(),
                    by: l.by.as_deref().unwrap_or_default(),
                    at: l.at,
                    until: 0,
                });
            }
            (false, Action::Mute) => room().and_then(|r| r.mute_of(entry)),
            (false, _) => room().and_then(|r| r.ban(entry)),
        };
        sanction.map_or_else(Held::default, |s| Held {
            reason: s.reason.as_deref().unwrap_or_default(),
            until: s.until.unwrap_or(0),
            by: s.by.as_deref().unwrap_or_default(),
            at: s.at,
        })
    }

    /// The entries of the list `t` asks for, if the sender may see it. A guest ban's or mute's
    /// address is not among them: it is the guest's, not the operators' to learn.
    fn listed(&self, conn: ConnId, t: &Targets<'_>) -> Result<Vec<Cow<'_, str>>, (ErrorCode, String)> {
        if is_server(t.topic) {
            if let Some(refusal) = self.foreign(t.topic) {
                return Err(refusal);
            }
            if !self.is_admin(conn) {
                let reason = "only server admins see the server's bans".to_string();
                return Err((ErrorCode::NotOperator, reason));
            }
            if t.action != Action::Ban {
                let reason = format!("the server keeps bans, not {}s", t.action.label());
                return Err((ErrorCode::NotSubscribable, reason));
            }
            let bans = self.policy.bans.iter().chain(&self.bans);
            return Ok(bans.map(|b| Cow::Owned(b.to_string())).collect());
        }
        if t.topic.kind() == Kind::User {
            if let Some(refusal) = self.refuse_own(conn, t.topic, "blocks") {
                return Err(refusal);
            }
            if t.action != Action::Ban {
                let reason = format!("you keep blocks (action ban), not {}s", t.action.label());
                return Err((ErrorCode::NotSubscribable, reason));
            }
            let blocks = self.blocks.of(t.topic.as_str());
            return Ok(blocks.iter().map(|b| Cow::Borrowed(&**b)).collect());
        }
        if let Some(refusal) = self.refuse_non_operator(conn, t.topic) {
            return Err(refusal);
        }
        let room = self.rooms.get(t.topic.as_str());
        let list = room.map(|r| r.list(t.action)).unwrap_or_default();
        Ok(list.into_iter().map(Cow::Borrowed).collect())
    }
}

/// What a page says of one ban or mute beside its pattern (PROTOCOL.md §4, Targets): why
/// ("" for no reason given), when it ends, who set it and when ("" and 0 where not known:
/// the server's bans of its configuration; they never end).
#[derive(Debug, Default, Clone, Copy)]
struct Held<'a> {
    reason: &'a str,
    until: u64,
    by: &'a str,
    at: u64,
}

/// A page's [`Held`]s as the TargetList's columns.
struct Columns<'a> {
    reasons: Vec<&'a str>,
    untils: Vec<u64>,
    setters: Vec<&'a str>,
    set_at: Vec<u64>,
}

impl<'a> Columns<'a> {
    fn of(held: &[Held<'a>]) -> Self {
        Columns {
            reasons: held.iter().map(|h| h.reason).collect(),
            untils: held.iter().map(|h| h.until).collect(),
            setters: held.iter().map(|h| h.by).collect(),
            set_at: held.iter().map(|h| h.at).collect(),
        }
    }
}

/// The most a time takes in a frame: a CBOR uint.
const TIME_LEN: usize = 9;

/// The first `count` of `sorted` bytewise after `cursor` (from the start without one), and
/// whether more follow them.
fn page_after<'a, T: AsRef<str>>(sorted: &'a [T], cursor: Option<&str>, count: usize) -> (&'a [T], bool) {
    let from = cursor.map_or(0, |c| sorted.partition_point(|e| e.as_ref() <= c));
    let rest = sorted.get(from..).unwrap_or_default();
    let page = rest.get(..count).unwrap_or(rest);
    (page, rest.len() > page.len())
}

#[cfg(test)]
mod tests {
    use super::page_after;

    #[test]
    fn pages_run_after_the_cursor_and_say_whether_more_follow() {
        let all = ["*@a", "b@x", "c*@x", "d@x"];
        assert_eq!(page_after(&all, None, 2), (&all[..2], true));
        assert_eq!(page_after(&all, Some("b@x"), 2), (&all[2..], false));
        // A cursor that is no entry (one unbanned since) still places the page.
        assert_eq!(page_after(&all, Some("c@x"), 1), (&all[3..], false));
        assert_eq!(page_after(&all, Some("z@x"), 5), (&all[4..], false));
        assert_eq!(page_after(&all, None, 0), (&all[..0], true));
    }
}
