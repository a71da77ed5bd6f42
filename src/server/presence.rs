//! Presence: a connection that subscribes to a user ID watches it, and gets an Event of type
//! [`PRESENCE_CTYPE`] on that ID's topic when the user comes online (first connection), goes
//! offline (last connection closed) or says it is away or back (Status). Each change is one
//! Event encoded once and fanned out to the watchers: a user with 10,000 watchers costs one
//! fan-out, not 10,000 lookups. Presence is not stored.

use super::moderation::PRESENCE_CTYPE;
use super::room::presence;
use super::{ConnId, Now, Outbox, Server};
use crate::proto::*;

/// What an unstored Event says, before the server stamps it.
pub(super) struct Unstored<'a> {
    pub(super) from: Name<'a>,
    pub(super) topic: Name<'a>,
    pub(super) text: &'a str,
    pub(super) ctype: Option<&'a str>,
}

impl Server {
    /// `conn` watches `user` from now on.
    pub(super) fn watch(&mut self, conn: ConnId, user: &str) {
        if let Some(s) = self.session_mut(conn) {
            s.watching.push(user.into());
        }
        self.watchers.entry(user.into()).or_default().push(conn);
    }

    /// `conn` stops watching `user`.
    pub(super) fn unwatch(&mut self, conn: ConnId, user: &str) {
        if let Some(s) = self.session_mut(conn) {
            s.watching.retain(|w| &**w != user);
        }
        if let Some(w) = self.watchers.get_mut(user) {
            w.retain(|&c| c != conn);
            if w.is_empty() {
                self.watchers.remove(user);
            }
        }
    }

    /// What the server knows of `user`'s presence.
    pub(super) fn presence_of(&self, user: &str) -> Presence {
        presence(self.users.contains_key(user), self.away.contains_key(user))
    }

    /// Status: the user says it is away (with a note) or back; the reply is the presence
    /// Event, which its watchers get too.
    pub(super) fn status(&mut self, conn: ConnId, m: SetPresence<'_>, now: &Now, out: &mut impl Outbox) {
        let Some(user) = self
            .session(conn)
            .and_then(|s| s.user.as_deref().map(Box::<str>::from))
        else {
            return;
        };
        let was = match m.presence {
            Presence::Away => self
                .away
                .insert(user.clone(), m.reason.unwrap_or_default().into()),
            _ => self.away.remove(&user),
        };
        // Saying again what watchers were told last tells them nothing: only the sender hears.
        let changed = was.as_deref() != self.away.get(&user).map(|n| &**n);
        let text = match (m.presence, m.reason) {
            (Presence::Away, Some(note)) if !note.is_empty() => format!("away {note}"),
            (Presence::Away, _) => "away".into(),
            _ => "online".into(),
        };
        let mut to = Vec::new();
        if changed {
            to = self.watchers.get(&*user).cloned().unwrap_or_default();
            // The user's other connections that asked for carbons learn it too, so that none
            // says again later what another took back (PROTOCOL.md §4, Presence). One may
            // watch its own user: one Event all the same.
            for c in self.carbon_conns(&user, Some(conn), |_| true) {
                if !to.contains(&c) {
                    to.push(c);
                }
            }
        }
        self.announce_presence(&user, &text, &to, Some((conn, m.seq)), now.unix_ms, out);
    }

    /// Announces the users whose last connection closed (disconnect has no outbox), unless
    /// they came back meanwhile.
    pub(super) fn announce_gone(&mut self, out: &mut impl Outbox) {
        for user in std::mem::take(&mut self.gone) {
            if !self.users.contains_key(&*user) {
                self.presence_changed(&user, false, out);
            }
        }
    }

    /// The user's first connection identified, or its last one closed.
    pub(super) fn presence_changed(&mut self, user: &str, online: bool, out: &mut impl Outbox) {
        if !online {
            self.away.remove(user);
        }
        let text = if online { "online" } else { "offline" };
        let watchers = self.watchers.get(user).cloned().unwrap_or_default();
        self.announce_presence(user, text, &watchers, None, self.now_ms, out);
    }

    /// One presence Event from `user`, to `to`, and echoed to `echo` if given.
    fn announce_presence(
        &mut self,
        user: &str,
        text: &str,
        to: &[ConnId],
        echo: Option<(ConnId, Option<u32>)>,
        now_ms: u64,
        out: &mut impl Outbox,
    ) {
        if to.is_empty() && echo.is_none() {
            return;
        }
        let Ok(name) = Name::parse(user) else { return };
        let event = Unstored {
            from: name,
            topic: name,
            text,
            ctype: Some(PRESENCE_CTYPE),
        };
        self.send_unstored(event, to, echo, now_ms, out);
    }

    /// The Event of `e`, stamped now on its topic's clock: a topic's times stay strictly
    /// increasing whatever kind of Event it carries (PROTOCOL.md §4; found by QA: presence
    /// shared milliseconds with direct messages on a user's ID).
    pub(super) fn stamp_unstored<'a>(&mut self, e: Unstored<'a>, now_ms: u64) -> Event<'a> {
        let time = self.stamp_topic(e.topic.as_str(), now_ms);
        let body = Body::Text(e.text);
        Event {
            seq: None,
            topic: e.topic,
            from: e.from,
            time,
            id: MsgId::compute(e.from.as_str(), e.topic.as_str(), time, body, e.ctype, None),
            body,
            ctype: e.ctype,
            reply_to: None,
        }
    }

    /// An Event the server makes but does not store (presence, walls, records on
    /// `!server@`): stamped now, encoded once, fanned out to `to` and echoed with its `seq` to
    /// `echo` (which `to` may hold: it gets the echo alone).
    pub(super) fn send_unstored(
        &mut self,
        e: Unstored<'_>,
        to: &[ConnId],
        echo: Option<(ConnId, Option<u32>)>,
        now_ms: u64,
        out: &mut impl Outbox,
    ) {
        let event = self.stamp_unstored(e, now_ms);
        self.send_event(event, to, echo, out);
    }

    /// A time for a new Event of `topic`: its audience's clock, or for a topic without one
    /// (a user gone offline, a reserved name) its floor ([`super::floor`]).
    pub(super) fn stamp_topic(&mut self, topic: &str, now_ms: u64) -> u64 {
        let audience = match topic.starts_with('#') {
            true => self.channels.get_mut(topic),
            false => self.users.get_mut(topic),
        };
        match audience {
            Some(a) => a.stamp(now_ms),
            None => self.floors.stamp(topic, now_ms),
        }
    }

    /// Encodes `event` once for `to`, and echoes it with its `seq` to `echo`.
    fn send_event(
        &mut self,
        event: Event<'_>,
        to: &[ConnId],
        echo: Option<(ConnId, Option<u32>)>,
        out: &mut impl Outbox,
    ) {
        let echo_conn = echo.map(|(c, _)| c);
        if !to.is_empty()
            && let Ok(n) = Msg::Event(event).encode(&mut self.scratch)
        {
            out.fanout(to, echo_conn, &self.scratch[..n]);
            let echoed = echo_conn.is_some_and(|c| to.contains(&c));
            self.stats.deliveries += (to.len() - usize::from(echoed)) as u64;
        }
        if let Some((conn, seq)) = echo {
            out.reply(conn, &Msg::Event(Event { seq, ..event }));
        }
    }
}
