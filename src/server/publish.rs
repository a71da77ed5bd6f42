//! Message → Event: the checks, the stamp, the store, and the fan-out.

use super::channels::{Audience, Channels};
use super::history::Unconfirmed;
use super::refused::ceil_secs;
use super::room::Room;
use super::room::Silence;
use super::{ConnId, Outbox, Refused, Server, Stats};
use crate::proto::*;
use crate::server::Now;
use crate::store::{Fields, Fsync, Record, thread_of};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;

impl Server {
    pub(super) fn publish(&mut self, conn: ConnId, m: Message<'_>, now: &Now, out: &mut impl Outbox) {
        if self.admin_topic(conn, m.topic) {
            return self.publish_reserved(conn, m, now, out);
        }
        // The same checks as `refuse_publish`, with one lookup of the channel's room for its
        // silence check, the member's rate and whether the Event is tagged with its life.
        let (mut closed, mut paced) = (None, false);
        let refusal = self.refuse_basic(conn, &m, now.mono).or_else(|| {
            let session = self.sessions.get(conn)?.as_ref()?;
            let who = super::admin::who(session, &self.policy.admins)?;
            let room = self
                .rooms
                .get_mut(m.topic.as_str())
                .filter(|_| m.topic.kind() == Kind::Channel)?;
            closed = Some(room.closed());
            if let Some(silence) = room.silences(who, session.addr(), now.mono) {
                let voiceless = room.lasting && !who.logged_in;
                return Some(silence_refusal(silence, who.user, voiceless, m.topic));
            }
            let failing = self.history.as_ref().is_some_and(|h| h.failing);
            if !failing {
                // (A Message the store refuses says nothing, and keeps no channel.) A kept
                // room's first use is saved with this Message, in its transaction: a restart
                // keeps a room something was said in, and only such a room.
                if room.lasting && !room.used {
                    self.unsaved.insert(m.topic.as_str().into());
                }
                room.used = true;
                room.spend(who, now.mono);
                paced = room.is_paced();
            }
            None
        });
        if paced {
            self.mark_paced(m.topic.as_str());
        }
        if let Some(r) = refusal.or_else(|| self.store_refusal().map(Refused::from)) {
            if r.code == ErrorCode::InboxLimit {
                self.tell_inbox_refusal(conn, m.topic, now.mono);
            }
            return self.fail_refused(conn, m.seq, r, out);
        }
        self.emit(conn, m, closed, now, out);
    }

    /// Turns a Message that may be published into an Event: stamps it, stores it, delivers
    /// it (or waits for its commit), with the echo to `conn`. `closed` says whether its
    /// channel was closed when it was said, where the caller knows (`None`: look now).
    /// Returns the Event's time and id once it is accepted.
    pub(super) fn emit(
        &mut self,
        conn: ConnId,
        m: Message<'_>,
        closed: Option<bool>,
        now: &Now,
        out: &mut impl Outbox,
    ) -> Option<(u64, MsgId)> {
        let from = self
            .sessions
            .get(conn)
            .and_then(Option::as_ref)
            .and_then(|s| s.user.as_deref())?;
        let from = Name::parse(from).ok()?;
        let audience = match m.topic.kind() {
            Kind::Channel => self.channels.get_mut(m.topic.as_str()),
            _ => self.users.get_mut(m.topic.as_str()),
        };
        let time = match audience {
            Some(audience) => audience.stamp(now.unix_ms),
            // A direct message to an account that is away (checked above).
            None if m.topic.kind() == Kind::User => {
                if let Some(s) = self.sessions.get(conn).and_then(Option::as_ref) {
                    let topic = m.topic.as_str();
                    self.inboxes.count(topic, &s.inbox_sender(), s.subnet(), now.mono);
                }
                self.floors.stamp(m.topic.as_str(), now.unix_ms)
            }
            None => return None,
        };
        let id = MsgId::compute(
            from.as_str(),
            m.topic.as_str(),
            time,
            m.body,
            m.ctype,
            m.reply_to.as_ref(),
        );
        let event = Event {
            seq: None,
            topic: m.topic,
            from,
            time,
            id,
            body: m.body,
            ctype: m.ctype,
            reply_to: m.reply_to,
        };
        self.stats.published += 1;
        let Some(h) = self.history.as_mut() else {
            let copies = self.carbons(&event, Some(conn), None);
            let parts = (
                &self.channels,
                &self.users,
                &mut self.scratch[..],
                &mut self.stats,
            );
            Self::deliver(parts, (Some(conn), &[], &copies), m.seq, event, out);
            return Some((time, id));
        };
        let thread = (m.topic.kind() == Kind::User).then(|| thread_of(from.as_str(), m.topic.as_str()));
        let pos = h.next_pos(m.topic.as_str(), thread.as_deref(), time);
        // Most channels are open: their Events skip a second lookup of the room.
        let life = match (m.topic.kind(), closed) {
            (Kind::Channel, None | Some(true)) => {
                life_of(&mut self.rooms, &mut self.unsaved, m.topic.as_str(), closed, pos)
            }
            _ => None,
        };
        let h = self.history.as_mut()?; // checked above
        let mut rec = Record::new(Fields {
            pos,
            topic: m.topic.as_str(),
            thread: thread.as_deref(),
            from: from.as_str(),
            time,
            id,
            body: m.body,
            ctype: m.ctype,
            reply_to: m.reply_to,
        });
        rec.life = life;
        let rec = Arc::new(rec);
        h.track(&rec, conn);
        // A change to the channel not yet saved (the one this Event records, or the life it
        // begins) is stored with it, in its transaction, so never after it.
        let topic = m.topic.as_str();
        let save = (m.topic.kind() == Kind::Channel && self.unsaved.remove(topic))
            .then(|| (topic.into(), super::saved::room_saved(&self.rooms, topic)));
        let saving = save.is_some();
        if !out.persist(rec.clone(), save) {
            if saving {
                self.unsaved.insert(topic.into());
            }
            self.writer_gone(conn, m.seq, rec, out);
            return None;
        }
        match h.fsync {
            Fsync::Batched => {
                h.ring.push(rec);
                let copies = self.carbons(&event, Some(conn), None);
                let parts = (
                    &self.channels,
                    &self.users,
                    &mut self.scratch[..],
                    &mut self.stats,
                );
                Self::deliver(parts, (Some(conn), &[], &copies), m.seq, event, out);
            }
            Fsync::Always => {
                // Nobody sees the Event before it is on disk. The publisher may go on
                // publishing (its Events commit together); any other request waits for the
                // echoes, so replies stay in order (see `receive`).
                h.unconfirmed.push_back(Unconfirmed {
                    rec,
                    conn: Some(conn),
                    seq: m.seq,
                    then: None,
                });
                if let Some(s) = self.session_mut(conn) {
                    s.unconfirmed += 1;
                }
            }
        }
        Some((time, id))
    }

    /// Why this Message cannot be published, if it cannot.
    pub(super) fn refuse_publish(
        &self,
        conn: ConnId,
        m: &Message<'_>,
        now: std::time::Instant,
    ) -> Option<Refused> {
        self.refuse_basic(conn, m, now)
            .or_else(|| {
                let (who, addr) = (self.who(conn)?, self.session(conn)?.addr());
                let room = self
                    .rooms
                    .get(m.topic.as_str())
                    .filter(|_| m.topic.kind() == Kind::Channel)?;
                let silence = room.silences(who, addr, now);
                let voiceless = room.lasting && !who.logged_in;
                silence.map(|s| silence_refusal(s, who.user, voiceless, m.topic))
            })
            .or_else(|| self.store_refusal().map(Refused::from))
    }

    /// The checks of a Message that need no room: the topic, the subscription, the content
    /// type.
    fn refuse_basic(&self, conn: ConnId, m: &Message<'_>, now: std::time::Instant) -> Option<Refused> {
        match m.topic.kind() {
            Kind::Reserved => {
                let reason = "reserved topics cannot be published to";
                return Some((ErrorCode::Reserved, reason.into()).into());
            }
            _ if self.foreign(m.topic).is_some() => return self.foreign(m.topic).map(Refused::from),
            Kind::Channel
                if !self
                    .session(conn)
                    .is_some_and(|s| s.is_subscribed(m.topic.as_str())) =>
            {
                let reason = format!("not subscribed to {}", m.topic);
                return Some((ErrorCode::NotSubscribed, reason).into());
            }
            // Before the inbox counts: what is refused leaves nothing there.
            Kind::User
                if let Some(refusal) = self
                    .blocked(conn, m.topic)
                    .or_else(|| self.unproven(conn, m.topic)) =>
            {
                return Some(refusal.into());
            }
            Kind::User if !self.users.contains_key(m.topic.as_str()) => {
                // Not `return`: a message kept for an account is checked as any other.
                if let Some(refusal) = self.away_refusal(conn, m.topic, now) {
                    return Some(refusal);
                }
            }
            _ => {}
        }
        m.ctype.and_then(super::moderation::server_ctype).map(|t| {
            let reason = format!("{t} is the server's own content type");
            (ErrorCode::BadCtype, reason).into()
        })
    }

    /// Why a direct message from `conn` to `user`, who has no connection, cannot wait in its
    /// inbox, if it cannot: only an account's inbox is kept for it (a free name's next holder
    /// may not read what came before it, PROTOCOL.md §4), only by a server that keeps history,
    /// and only so many from one network ([`super::inbox`]).
    fn away_refusal(&self, conn: ConnId, user: Name<'_>, now: std::time::Instant) -> Option<Refused> {
        let account = match self.accounts.names.get(user.as_str()) {
            // A registration not yet confirmed is no account yet.
            Some(known) => known.is_none_or(|k| k.created.is_some()),
            None => false,
        };
        let why = match (self.history.is_some(), account) {
            (true, true) => return self.inbox_refusal(conn, user, now),
            (false, _) => "this server keeps no messages for later",
            (true, false) => "and has no account here to keep messages for",
        };
        Some((ErrorCode::NoSuchUser, format!("{user} is not connected, {why}")).into())
    }

    /// The refusal of one more direct message from `conn` to `user`'s away inbox, if its
    /// sender, or its sender's network, has left as many there lately as it may.
    fn inbox_refusal(&self, conn: ConnId, user: Name<'_>, now: std::time::Instant) -> Option<Refused> {
        use super::inbox::{Refusal, Sender};
        let session = self.session(conn)?;
        let sender = session.inbox_sender();
        let secs = |d| ceil_secs(d).max(1);
        let (burst, leak) = self.limits.away_inbox?;
        let lately = format!(
            "lately as this server keeps ({burst} at once, then one every {} s)",
            leak.as_secs()
        );
        let refusal = self
            .inboxes
            .refusal(user.as_str(), &sender, session.subnet(), now)?;
        let (Refusal::Sender(wait) | Refusal::Network(wait) | Refusal::Full(wait)) = refusal;
        let reason = match refusal {
            Refusal::Sender(wait) => format!(
                "{user} is not connected, and {} left as many messages for it {lately}: try \
                 again in {} s",
                match sender {
                    Sender::Id(_) => "you have",
                    Sender::Network(_) => "your network has",
                },
                secs(wait)
            ),
            Refusal::Network(wait) => format!(
                "{user} is not connected, and your network has left as many messages for it, \
                 over all its senders, as this server keeps: try again in {} s",
                secs(wait)
            ),
            Refusal::Full(wait) => format!(
                "{user} is not connected, and this server counts as many senders to inboxes \
                 as it can now: try again in {} s",
                secs(wait)
            ),
        };
        Some(Refused::waiting(ErrorCode::InboxLimit, reason, wait))
    }

    /// Logs a refusal of [`inbox_refusal`](Server::inbox_refusal) for the operator.
    fn tell_inbox_refusal(&mut self, conn: ConnId, user: Name<'_>, now: std::time::Instant) {
        let Some(session) = self.session(conn) else { return };
        let (sender, network) = (session.inbox_sender(), session.subnet());
        if let Some(refusal) = self.inboxes.refusal(user.as_str(), &sender, network, now) {
            self.inboxes.tell(user.as_str(), &sender, refusal, now);
        }
    }

    /// The refusal while the store fails, if it does.
    fn store_refusal(&self) -> Option<(ErrorCode, String)> {
        self.history.as_ref().filter(|h| h.failing).map(|_| {
            (
                ErrorCode::StoreUnavailable,
                "the history store is failing; nothing was published".into(),
            )
        })
    }

    /// Sends an Event to its topic's audience but `skip`, to `copies` (its sender's
    /// [`carbons`](Self::carbons)), and its echo (with `seq`) to the publisher if it is still
    /// connected. Borrows only the fields it needs, so `event` may borrow the publisher's
    /// session.
    fn deliver(
        (channels, users, scratch, stats): (
            &Channels,
            &HashMap<std::rc::Rc<str>, Audience>,
            &mut [u8],
            &mut Stats,
        ),
        (publisher, skip, copies): (Option<ConnId>, &[ConnId], &[ConnId]),
        seq: Option<u32>,
        mut event: Event<'_>,
        out: &mut impl Outbox,
    ) {
        let audience = match event.topic.kind() {
            Kind::Channel => channels.get(event.topic.as_str()),
            _ => users.get(event.topic.as_str()),
        };
        // Every Message of a valid size makes an Event that fits (PROTOCOL.md §6), so encoding
        // cannot fail here; if it ever did, the echo below reports it rather than losing it.
        let conns = audience.map_or(&[][..], |a| &a.conns[..]);
        if (!conns.is_empty() || !copies.is_empty())
            && let Ok(n) = Msg::Event(event).encode(scratch)
        {
            let kept: Vec<ConnId>;
            let to = match skip.is_empty() {
                true => conns,
                false => {
                    kept = conns.iter().filter(|c| !skip.contains(c)).copied().collect();
                    &kept[..]
                }
            };
            out.fanout(to, publisher, &scratch[..n]);
            let echoed = publisher.is_some_and(|p| to.contains(&p));
            stats.deliveries += (to.len() - usize::from(echoed)) as u64;
            // Apart: the recipients' list is the topic's own, and a copy never goes to one.
            if !copies.is_empty() {
                out.fanout(copies, None, &scratch[..n]);
                stats.deliveries += copies.len() as u64;
            }
        }
        if let Some(conn) = publisher {
            event.seq = seq;
            out.reply(conn, &Msg::Event(event));
            stats.deliveries += 1;
        }
    }

    /// For a direct message committed only now (`--fsync always`): the connections of its
    /// recipient's name that are not the recipient it was sent to, as they took the name (or
    /// made it an account) since it was accepted. They may not read it (PROTOCOL.md §4, Who
    /// may read what), so they are not sent it either.
    fn took_the_name_since(&self, rec: &Record) -> Vec<ConnId> {
        let topic = rec.topic();
        if topic.starts_with(['#', '!']) {
            return Vec::new();
        }
        let Some(audience) = self.users.get(topic) else {
            return Vec::new();
        };
        let late = self.came_after(topic, rec.pos);
        let conns = audience.conns.iter().copied();
        conns.filter(|&c| self.session(c).is_some_and(&late)).collect()
    }

    /// Whether a session of `name` took the name, or made it an account, after the Event at
    /// store position `pos`: not its holder's to read then.
    pub(super) fn came_after(&self, name: &str, pos: u64) -> impl Fn(&super::session::Session) -> bool {
        let account_from = self
            .accounts
            .names
            .get(name)
            .copied()
            .flatten()
            .map_or(0, |k| k.from_pos);
        move |s| match (s.authenticated, s.logged_in) {
            (true, _) => account_from > pos,
            (false, false) => s.reads_from > pos,
            (false, true) => false,
        }
    }

    /// Whether `rec` may be seen by whoever is in its channel now: not if it was said while
    /// the channel was closed in a life that has ended since (with `--fsync always`, before
    /// its commit).
    fn of_this_life(&self, rec: &Record) -> bool {
        rec.life.is_none() || self.rooms.get(rec.topic()).and_then(|r| r.life()) == rec.life
    }

    /// The store did not take an Event: its writer is gone (a store that only fails keeps
    /// taking Events and says so with `Done::Failing`). From now on the store counts as
    /// failing: this Message and every later one are refused with 700, and waiting queries
    /// are answered from disk. Events still waiting for their commit (`--fsync always`) may
    /// have been committed just before the writer went, which its last `Committed`, still on
    /// its way, would say; [`Done::Gone`](crate::store::Done::Gone) comes after it. So this
    /// Message is refused only then, behind them, keeping the publisher's replies in order.
    fn writer_gone(&mut self, conn: ConnId, seq: Option<u32>, rec: Arc<Record>, out: &mut impl Outbox) {
        self.store_failing(out);
        let owed = self
            .history
            .as_mut()
            .filter(|h| !h.gone && !h.unconfirmed.is_empty());
        let Some(h) = owed else {
            let reason = "the history store is gone; nothing was published";
            return self.fail(conn, seq, ErrorCode::StoreUnavailable, reason, out);
        };
        log::error!("the history store's writer refused an event; refusing messages from now on");
        h.unconfirmed.push_back(Unconfirmed {
            rec,
            conn: Some(conn),
            seq,
            then: None,
        });
        if let Some(s) = self.session_mut(conn) {
            s.unconfirmed += 1;
        }
    }

    /// The writer is gone ([`Done::Gone`](crate::store::Done::Gone)): the store fails for good,
    /// and every Event still waiting for its commit is refused to its publisher, in order.
    pub(super) fn writer_lost(&mut self, out: &mut impl Outbox) {
        let Some(h) = self.history.as_mut().filter(|h| !h.gone) else {
            return;
        };
        h.gone = true;
        log::error!("the history store's writer is gone; refusing messages from now on");
        self.store_failing(out);
        self.release_all_saves(out);
        let Some(h) = self.history.as_mut() else { return };
        let abandoned = std::mem::take(&mut h.unconfirmed);
        let reason = "the history store is gone; nothing was published";
        for u in abandoned {
            if let Some(c) = u.conn {
                self.fail(c, u.seq, ErrorCode::StoreUnavailable, reason, out);
                // A SetMeta's change is in force (until the server stops), as the Meta says.
                if let Some(then) = u.then {
                    out.send(c, &then);
                }
                if let Some(s) = self.session_mut(c) {
                    s.unconfirmed = 0;
                    s.waiting = false;
                    out.resume(c);
                }
            }
        }
    }

    /// Events now on disk (`--fsync always`): into the ring, out to their audience, and the
    /// echo to the publisher, whose next request may now go on.
    pub(super) fn confirm(&mut self, done: Vec<Unconfirmed>, out: &mut impl Outbox) {
        for u in done {
            let current = self.of_this_life(&u.rec);
            let late = self.took_the_name_since(&u.rec);
            if let Some(event) = event_of(&u.rec, None) {
                let copies = self.carbons(&event, u.conn, Some(u.rec.pos));
                // An ended life's Event goes to its publisher alone, whose echo it is.
                let none = Channels::default();
                let parts = (
                    if current { &self.channels } else { &none },
                    &self.users,
                    &mut self.scratch[..],
                    &mut self.stats,
                );
                Self::deliver(parts, (u.conn, &late, &copies), u.seq, event, out);
            }
            if let (Some(c), Some(then)) = (u.conn, &u.then) {
                out.send(c, then);
            }
            // After the echo, and whatever happened to it: the publisher must never be left
            // owed an echo that will not come.
            if let Some(c) = u.conn
                && let Some(s) = self.session_mut(c)
            {
                s.unconfirmed = s.unconfirmed.saturating_sub(1);
                if s.unconfirmed == 0 {
                    // Even if nothing was held: the shell may have a half-close to finish.
                    s.waiting = false;
                    out.resume(c);
                }
            }
            if let Some(h) = self.history.as_mut().filter(|_| current) {
                h.ring.push(u.rec);
            }
        }
    }
}

/// A stored Event as it goes on the wire; `None` if the record's names do not parse (which
/// only a damaged database could cause).
pub(super) fn event_of(rec: &Record, seq: Option<u32>) -> Option<Event<'_>> {
    let (Ok(topic), Ok(from)) = (Name::parse(rec.topic()), Name::parse(rec.from())) else {
        log::error!("stored event at position {} has a bad topic or sender", rec.pos);
        return None;
    };
    Some(Event {
        seq,
        topic,
        from,
        time: rec.time,
        id: rec.id,
        body: rec.body(),
        ctype: rec.ctype(),
        reply_to: rec.reply_to,
    })
}

/// The life to tag an Event at `pos` in `channel` with ([`Record::life`]): the channel's, if it
/// was closed when the Event was said (`closed`, or `None`: now). The first such Event of a
/// life gives the life its id. (Fields, not `self`: the publisher's name is borrowed from its
/// session meanwhile.)
fn life_of(
    rooms: &mut HashMap<Rc<str>, Box<Room>>,
    unsaved: &mut BTreeSet<Box<str>>,
    channel: &str,
    closed: Option<bool>,
    pos: u64,
) -> Option<u64> {
    let room = rooms
        .get_mut(channel)
        .filter(|r| closed.unwrap_or_else(|| r.closed()))?;
    if let Some(life) = room.life() {
        return Some(life);
    }
    room.rules_mut().life = Some(pos);
    // A kept channel's life goes on after a restart, its Events with it: saved with this one.
    if room.lasting {
        unsaved.insert(channel.into());
    }
    Some(pos)
}

/// The Error for a member the channel does not let publish now; `voiceless`: the channel is
/// kept and the session did not log in, so no voice can be given to it there.
fn silence_refusal(silence: Silence<'_>, user: &str, voiceless: bool, topic: Name<'_>) -> Refused {
    match silence {
        Silence::Muted(mute) => (ErrorCode::Muted, format!("muted in {topic}{}", mute.told(user))).into(),
        Silence::Moderated => {
            // The way on, as invite-only's 804 says it (QA's raid drill: a regular under a
            // raid's +m was told only that it could not speak). In a kept channel a voice
            // holds only in a session that logged in, and is refused (404) to a name without
            // an account: asking an operator for one would be no way on (found in review).
            let way = match voiceless {
                true => ", and it is kept: only a session that logged in holds a voice in it",
                false => "; ask an operator for a voice",
            };
            let reason = format!("{topic} is moderated: only voiced members speak{way}");
            (ErrorCode::Muted, reason).into()
        }
        Silence::Rate(wait) => {
            let reason = format!("{topic} allows fewer messages: wait {} s", ceil_secs(wait));
            Refused::waiting(ErrorCode::ChannelRate, reason, wait)
        }
    }
}
