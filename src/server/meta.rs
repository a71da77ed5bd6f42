//! Sub, Unsub and Meta; SetMeta; the topic list (Topics) and a channel's members (Members).
//! A channel's Meta carries its description (display name, topic line, creation time, modes,
//! rate) and the asker's role; a user ID's carries its presence.

use super::{ConnId, Now, Outbox, Server};
use crate::proto::*;

impl Server {
    pub(super) fn sub(&mut self, conn: ConnId, m: Sub<'_>, out: &mut impl Outbox) {
        if m.topic.kind() == Kind::Reserved {
            let reason = format!("{} cannot be subscribed to", m.topic);
            return self.fail(conn, m.seq, ErrorCode::NotSubscribable, &reason, out);
        }
        if let Some((code, reason)) = self.foreign(m.topic) {
            return self.fail(conn, m.seq, code, &reason, out);
        }
        let name = m.topic.as_str();
        let max_subs = self.limits.max_subs;
        let Some(s) = self.session(conn) else { return };
        let already = s.is_subscribed(name) || s.watching.iter().any(|w| &**w == name);
        if !already && s.subs.len() + s.watching.len() >= max_subs {
            let reason = format!("at most {max_subs} subscriptions per connection");
            return self.fail(conn, m.seq, ErrorCode::TooManySubs, &reason, out);
        }
        if m.topic.kind() == Kind::User {
            if !already {
                self.watch(conn, name);
            }
            return self.meta(conn, m.seq, m.topic, out);
        }
        if !already {
            if let Some((code, reason)) = self.admit_to(conn, name) {
                return self.fail(conn, m.seq, code, &reason, out);
            }
            if let Some(s) = self.session_mut(conn) {
                s.subs.push(name.into());
            }
            self.channels.subscribe(name, conn, self.latest);
        }
        self.meta(conn, m.seq, m.topic, out);
    }

    pub(super) fn unsub(&mut self, conn: ConnId, m: Sub<'_>, out: &mut impl Outbox) {
        let name = m.topic.as_str();
        let Some(s) = self.session_mut(conn) else { return };
        if let Some(i) = s.subs.iter().position(|c| &**c == name) {
            s.subs.swap_remove(i);
            let left = self.channels.unsubscribe(name, conn);
            self.emptied(name, left);
        } else if s.watching.iter().any(|w| &**w == name) {
            self.unwatch(conn, name);
        }
        self.meta(conn, m.seq, m.topic, out);
    }

    /// Meta for `topic` as `conn` sees it: the reply to Sub, Unsub and SetMeta.
    fn meta(&mut self, conn: ConnId, seq: Option<u32>, topic: Name<'_>, out: &mut impl Outbox) {
        let name = topic.as_str();
        let Some(s) = self.session(conn) else { return };
        let user = s.user.as_deref().unwrap_or_default();
        let mut meta = match topic.kind() {
            Kind::User => {
                let watching = s.watching.iter().any(|w| &**w == name);
                let watchers = self.watchers.get(name).map_or(0, Vec::len);
                Meta {
                    presence: Some(self.presence_of(name)),
                    reason: self.away.get(name).map(|n| &**n).filter(|n| !n.is_empty()),
                    ..Meta::new(seq, topic, watching, watchers as u64)
                }
            }
            _ => {
                let subscribers = self.channels.subscribers(name).len() as u64;
                Meta::new(seq, topic, s.is_subscribed(name), subscribers)
            }
        };
        if let Some(room) = self.rooms.get(name) {
            meta.display = room.display.as_deref();
            meta.subject = room.subject.as_deref();
            meta.created = Some(room.created);
            meta.modes = Some(room.modes);
            meta.rate = Some(room.rate);
            meta.role = Some(room.role(user));
        }
        out.reply(conn, &Msg::Meta(meta));
    }

    /// SetMeta: an operator changes the channel's description, modes or rate; each change is
    /// recorded on the channel, then the reply is the new Meta.
    pub(super) fn set_meta(&mut self, conn: ConnId, m: SetMeta<'_>, now: &Now, out: &mut impl Outbox) {
        if let Some((code, reason)) = self.refuse_channel_request(conn, m.topic) {
            return self.fail(conn, m.seq, code, &reason, out);
        }
        let Some(room) = self.rooms.get_mut(m.topic.as_str()) else {
            return;
        };
        let mut changes = Vec::new();
        let text = |v: &str| (!v.is_empty()).then(|| Box::<str>::from(v));
        if let Some(d) = m
            .display
            .filter(|&d| room.display.as_deref() != text(d).as_deref())
        {
            room.display = text(d);
            changes.push(format!("display {d}"));
        }
        if let Some(t) = m
            .subject
            .filter(|&t| room.subject.as_deref() != text(t).as_deref())
        {
            room.subject = text(t);
            changes.push(format!("subject {t}"));
        }
        if let Some(bits) = m.modes.filter(|&b| b != room.modes) {
            room.modes = bits;
            changes.push(format!("modes {}", mode_letters(bits)));
        }
        if let Some(rate) = m.rate.filter(|&r| r != room.rate) {
            room.rate = rate;
            changes.push(format!("rate {rate}"));
        }
        self.room_changed(m.topic.as_str());
        for change in changes {
            // Recorded without seq: the reply to SetMeta is the Meta below.
            self.record(conn, None, m.topic, &change, now, out);
        }
        self.meta(conn, m.seq, m.topic, out);
    }

    pub(super) fn topics(&mut self, conn: ConnId, m: Topics<'_>, out: &mut impl Outbox) {
        let count = m.count.min(MAX_PAGE) as usize;
        let (start, names): (usize, Vec<&str>) = match m.cursor {
            Some(c) => {
                let from = self.channels.position_after(c.as_str());
                (from, self.channels.page(from, count).collect())
            }
            None => (
                m.start as usize,
                self.channels.page(m.start as usize, count).collect(),
            ),
        };
        let page: Vec<Name<'_>> = names.iter().filter_map(|n| Name::parse(n).ok()).collect();
        let counts: Vec<u64> = page
            .iter()
            .map(|n| self.channels.subscribers(n.as_str()).len() as u64)
            .collect();
        let subjects: Vec<&str> = page
            .iter()
            .map(|n| {
                self.rooms
                    .get(n.as_str())
                    .and_then(|r| r.subject.as_deref())
                    .unwrap_or_default()
            })
            .collect();
        let more = start + page.len() < self.channels.len();
        let list = TopicList {
            seq: m.seq,
            total: u32::try_from(self.channels.len()).unwrap_or(u32::MAX),
            start: u32::try_from(start).unwrap_or(u32::MAX),
            topics: List::Slice(&page),
            counts: Some(List::Slice(&counts)),
            subjects: Some(List::Slice(&subjects)),
            cursor: page.last().copied().filter(|_| more),
        };
        out.reply(conn, &Msg::TopicList(list));
    }

    /// Members: the distinct user IDs subscribed to a channel, bytewise, a page after the
    /// cursor, with their roles. A subscriber may ask; in a private-members channel, an
    /// operator only.
    pub(super) fn members_page(&mut self, conn: ConnId, m: Members<'_>, out: &mut impl Outbox) {
        let channel = m.topic.as_str();
        let refusal = match self.session(conn) {
            _ if m.topic.kind() != Kind::Channel => Some((
                ErrorCode::NotSubscribable,
                "only channels have members".to_string(),
            )),
            Some(s) if !s.is_subscribed(channel) => {
                Some((ErrorCode::NotSubscribed, format!("not subscribed to {channel}")))
            }
            _ if self.rooms.get(channel).is_some_and(|r| r.private_members())
                && !self.runs(conn, channel) =>
            {
                Some((
                    ErrorCode::NotOperator,
                    format!("{channel} shows its members to operators only"),
                ))
            }
            _ => None,
        };
        if let Some((code, reason)) = refusal {
            return self.fail(conn, m.seq, code, &reason, out);
        }
        let mut ids: Vec<&str> = self
            .channels
            .subscribers(channel)
            .iter()
            .filter_map(|&c| self.session(c)?.user.as_deref())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let from = m
            .cursor
            .map_or(0, |c| ids.partition_point(|id| *id <= c.as_str()));
        let count = m.count.min(MAX_PAGE) as usize;
        let page: Vec<Name<'_>> = ids
            .iter()
            .skip(from)
            .take(count)
            .filter_map(|id| Name::parse(id).ok())
            .collect();
        let room = self.rooms.get(channel);
        let roles: Vec<u64> = page
            .iter()
            .map(|u| room.map_or(Role::Member, |r| r.role(u.as_str())) as u64)
            .collect();
        let more = from + page.len() < ids.len();
        let list = MemberList {
            seq: m.seq,
            topic: m.topic,
            total: u32::try_from(ids.len()).unwrap_or(u32::MAX),
            users: List::Slice(&page),
            roles: List::Slice(&roles),
            cursor: page.last().copied().filter(|_| more),
        };
        out.reply(conn, &Msg::MemberList(list));
    }
}

/// Modes as letters for the record: `+i` invite-only, `+m` moderated, `+r` registered-only,
/// `+p` private members; `-` when none.
pub fn mode_letters(bits: u64) -> String {
    let letters: String = [
        (modes::INVITE_ONLY, 'i'),
        (modes::MODERATED, 'm'),
        (modes::REGISTERED_ONLY, 'r'),
        (modes::PRIVATE_MEMBERS, 'p'),
    ]
    .iter()
    .filter(|(b, _)| bits & b != 0)
    .map(|&(_, l)| l)
    .collect();
    if letters.is_empty() {
        "-".into()
    } else {
        format!("+{letters}")
    }
}
