//! Mod, an operator's action on a channel (kick, ban, mute, op, voice, invite and their undoing),
//! and the owner's (transfer, drop). Every action is published on the channel as an Event of type
//! [`MOD_CTYPE`], so each client shows the audit trail and history keeps it.

use super::refused::{Refused, ceil_secs};
use super::room::{Closed, Listed, MAX_LIST, Room, Sanction, Who, put_listed, set};
use super::{ConnId, Now, Outbox, Server};
use crate::proto::pattern;
use crate::proto::*;
use std::borrow::Cow;
use std::net::IpAddr;

/// The content type of the Events that record moderation and channel changes; only the server
/// publishes them.
pub const MOD_CTYPE: &str = "text/x-scalar-mod";
/// The content type of presence Events (on a user's ID topic).
pub const PRESENCE_CTYPE: &str = "text/x-scalar-presence";

/// Which of the content types a client may not publish `ctype` is, if it is one: they would
/// forge the server's records. Compared as media types are (RFC 6838): the type without its
/// parameters, ignoring case and spaces.
pub fn server_ctype(ctype: &str) -> Option<&'static str> {
    let media = ctype.split(';').next().unwrap_or_default().trim();
    SERVER_CTYPES.into_iter().find(|t| media.eq_ignore_ascii_case(t))
}

/// The content types of the server's records, as it writes them.
pub const SERVER_CTYPES: [&str; 3] = [MOD_CTYPE, PRESENCE_CTYPE, super::joins::MEMBER_CTYPE];

impl Server {
    /// Mod: checks that the sender runs the channel, applies the action, publishes its record
    /// (the echo is the reply), then removes whom it kicked or banned.
    pub(super) fn moderate(&mut self, conn: ConnId, mut m: Mod<'_>, now: &Now, out: &mut impl Outbox) {
        if m.action == Action::Purge {
            m.since = Some(purge_since(m.since, now.unix_ms));
        }
        if !matches!(m.action, Action::Ban | Action::Mute) {
            m.until = None;
        }
        if let Some(reason) = m.until.and_then(|t| refuse_until(m.topic, t, now.unix_ms)) {
            return self.fail(conn, m.seq, ErrorCode::Malformed, &reason, out);
        }
        if super::admin::is_server(m.topic) {
            return self.moderate_server(conn, m, now, out);
        }
        if m.topic.kind() == Kind::User {
            return self.moderate_own(conn, m, now, out);
        }
        if let Some((code, reason)) = self.refuse_mod(conn, &m) {
            return self.fail(conn, m.seq, code, &reason, out);
        }
        let channel = m.topic.as_str();
        let victims = self.apply(conn, &m, now.unix_ms);
        let record = record_text(&m);
        // The change, if it is to be saved, is stored with its record (`emit`), whose echo is
        // the reply.
        let stamped = self.emit(conn, record_of(m.seq, m.topic, &record), None, now, out);
        if let (Action::Invite, Some(stamp)) = (m.action, stamped) {
            self.tell_invited(conn, m, &record, stamp, out);
        }
        // With `--fsync always` the record waits for its commit, but those it removes are gone
        // by then: they get it now.
        let pending = self
            .history
            .as_ref()
            .filter(|h| h.fsync == crate::store::Fsync::Always)
            .and_then(|h| h.unconfirmed.back())
            .filter(|u| u.conn == Some(conn))
            .map(|u| u.rec.clone());
        if let Some(ev) = pending
            .as_deref()
            .and_then(|rec| super::publish::event_of(rec, None))
        {
            for &v in &victims {
                out.reply(v, &Msg::Event(ev));
            }
        }
        let by = self
            .session(conn)
            .and_then(|s| s.user.clone())
            .unwrap_or_default();
        let why = m.reason.map(|r| format!(": {r}")).unwrap_or_default();
        for v in victims {
            let reason = match m.action {
                Action::Ban => {
                    let user = self
                        .session(v)
                        .and_then(|s| s.user.as_deref())
                        .unwrap_or_default();
                    let how = Sanction::how(m.target, user);
                    let until = super::room::until_words(m.until);
                    format!("banned from {channel} by {by}{how}{until}{why}")
                }
                _ => format!("kicked from {channel} by {by}{why}"),
            };
            self.remove_from(v, channel);
            self.send_kicked(v, m.topic, &reason, out);
        }
    }

    /// Tells `conn` it was removed from `topic` (`kicked`, 803, without `seq`) and why.
    pub(super) fn send_kicked(&mut self, conn: ConnId, topic: Name<'_>, reason: &str, out: &mut impl Outbox) {
        self.stats.errors += 1;
        let kicked = ErrorMsg {
            seq: None,
            code: ErrorCode::Kicked as u16,
            reason: Some(clip(reason, MAX_REASON)),
            server: None,
            topic: Some(topic),
            retry_after: None,
        };
        out.reply(conn, &Msg::Error(kicked));
    }

    /// An invitation's record also goes to the invited user's connections outside the
    /// channel (those in it had it with everyone) that it bans not, as IRC's INVITE tells its
    /// target: it is how they learn they may join; unless the invited user blocks the inviter,
    /// or takes direct messages only from users who logged in and the inviter did not. Sent
    /// as soon as it is accepted, with `--fsync always` too, as to those a kick removes.
    fn tell_invited(
        &self,
        conn: ConnId,
        m: Mod<'_>,
        record: &str,
        (time, id): (u64, MsgId),
        out: &mut impl Outbox,
    ) {
        let Some(from) = self.session(conn).and_then(|s| s.user.as_deref()) else {
            return;
        };
        let (Ok(from), Some(invited)) = (Name::parse(from), self.users.get(m.target)) else {
            return;
        };
        // Outside the channel the record is a message to the invited user: one it blocks, or
        // one that did not log in when it takes messages only from those who did, would reach
        // it there, with any reason as its text.
        let unproven = Name::parse(m.target).is_ok_and(|t| self.unproven(conn, t).is_some());
        if unproven || self.blocks.blocks(m.target, from.as_str()) {
            return;
        }
        let r = record_of(None, m.topic, record);
        let ev = Event {
            seq: None,
            topic: m.topic,
            from,
            time,
            id,
            body: r.body,
            ctype: r.ctype,
            reply_to: r.reply_to,
        };
        // Not those the channel bans, whom the invitation does not let in (801 comes first).
        let room = self.rooms.get(m.topic.as_str());
        let outside = |c: &ConnId| {
            let Some(s) = self.session(*c) else { return false };
            let banned = self
                .who(*c)
                .is_some_and(|w| room.is_some_and(|r| r.bans(w, s.addr())));
            !s.is_subscribed(m.topic.as_str()) && !banned
        };
        for &c in invited.conns.iter().filter(|c| outside(c)) {
            out.reply(c, &Msg::Event(ev));
        }
    }

    /// Whether the session on `conn` runs `channel`: its owner or an operator, or a server
    /// admin who logged in.
    pub(super) fn runs(&self, conn: ConnId, channel: &str) -> bool {
        let Some(who) = self.who(conn) else { return false };
        who.admin || self.rooms.get(channel).is_some_and(|r| r.is_operator(who))
    }

    /// Whether the session on `conn` sent the Message whose id is `target` (in hex) to
    /// `channel`, as far as memory tells: a sender may delete its own, while the server holds
    /// it among its newest Events (the ring: the store alone would be a query off the loop).
    /// Its own: sent by its name since the session's holder has held it (found by QA: the
    /// next taker of a free name, or of a deleted account's, deleted what the last one said).
    fn whose(&self, conn: ConnId, channel: &str, target: &str) -> Whose {
        let (Some(s), Some(id)) = (self.session(conn), MsgId::from_hex(target)) else {
            return Whose::Other;
        };
        let Some(user) = s.user.as_deref() else {
            return Whose::Other;
        };
        let ring = self.history.as_ref().map(|h| &h.ring);
        match ring.and_then(|r| r.sender_of(channel, &id)) {
            Some((from, pos)) if from == user => match self.came_after(user, pos)(s) {
                true => Whose::Earlier,
                false => Whose::Mine,
            },
            _ => Whose::Other,
        }
    }

    /// Why `m` cannot be carried out, if it cannot.
    fn refuse_mod(&self, conn: ConnId, m: &Mod<'_>) -> Option<(ErrorCode, String)> {
        if m.action == Action::Delete {
            return self.refuse_delete(conn, m);
        }
        let channel = m.topic.as_str();
        let owners = matches!(m.action, Action::Transfer | Action::Drop).then_some(m.action);
        if let Some(refusal) = self.refuse_channel_request(conn, m.topic, owners) {
            return Some(refusal);
        }
        let room = self.rooms.get(channel)?;
        if !m.action.takes_pattern() && Name::parse(m.target).map(|n| n.kind()) != Ok(Kind::User) {
            let reason = format!("{} needs a user ID, not a pattern", m.action.label());
            return Some((ErrorCode::BadId, reason));
        }
        if !pattern::is_pattern(m.target) {
            // An address range: only the server bans those.
            let reason = match pattern::parse_range(m.target) {
                Some(_) => format!(
                    "a channel's {} takes ID patterns, not addresses",
                    m.action.label()
                ),
                None => not_a_pattern(m.target),
            };
            return Some((ErrorCode::BadId, reason));
        }
        // In a kept room a role or an invitation counts only in a session that logged in: one
        // for a name without an account here could never be used. A pattern names no one
        // account: it holds for those who logged in (room.rs), unless it matches guests' names
        // alone, which never log in (found by QA: listed as in force, it let no guest in).
        let no_account = match m.target.contains('*') {
            false => self.no_account_here(m.target).then_some("has no account here"),
            true => self.guests_only(m.target).then_some("matches only guests' names"),
        };
        let grants = matches!(
            m.action,
            Action::Op | Action::Voice | Action::Invite | Action::Except | Action::Transfer
        );
        if let Some(why) = no_account.filter(|_| room.lasting && grants) {
            let reason = format!(
                "{} {why}, and {channel} is kept: only a session that logged in holds a role, an invitation or an exception in it",
                m.target
            );
            return Some((ErrorCode::NoSuchUser, reason));
        }
        if room.list_full(m.action, m.target) {
            return Some((ErrorCode::ListFull, full_list(channel, m.action)));
        }
        if m.action == Action::Deop && &*room.owner == m.target {
            return Some((ErrorCode::NotOperator, "the owner stays an operator".into()));
        }
        if let Some(refusal) = self.refuse_owner_action(room, m) {
            return Some(refusal);
        }
        if let Some(refusal) = self.refuse_protected(conn, room, m) {
            return Some(refusal);
        }
        if m.action == Action::Kick
            && self
                .members(channel, |s| s.user.as_deref() == Some(m.target))
                .is_empty()
        {
            return Some((ErrorCode::NoSuchUser, format!("{} is not in {channel}", m.target)));
        }
        // Undoing what is not there would record a change that is none (and, for a guest kept
        // out by another's address, look as if it let the guest back).
        if let Some((list, not)) = undoing(m.action)
            && !room.list(list).contains(&m.target)
        {
            let reason = format!("{} {not} in {channel}: nothing to undo", m.target);
            return Some((ErrorCode::NoSuchUser, reason));
        }
        None
    }

    /// Why the delete `m` cannot be carried out, if it cannot: an operator's, or a member's
    /// of its own Message.
    fn refuse_delete(&self, conn: ConnId, m: &Mod<'_>) -> Option<(ErrorCode, String)> {
        let channel = m.topic.as_str();
        let whose = match self.refuse_non_member(conn, m.topic) {
            None => self.whose(conn, channel, m.target),
            Some(_) => Whose::Other,
        };
        if whose == Whose::Mine {
            // Its own Message: as an operator's delete, but for the role; and a member the
            // channel keeps quiet gives no reason, which would speak for it (found by QA).
            let gagged = || {
                let s = self.session(conn)?;
                let room = self.rooms.get(channel)?;
                Some(room.gagged(self.who(conn)?, s.addr()))
            };
            if m.reason.is_some_and(|r| !r.is_empty()) && gagged() == Some(true) {
                let reason = format!("you may not speak in {channel}: delete without a reason");
                return Some((ErrorCode::Muted, reason));
            }
            return self.refuse_while_failing();
        }
        match self.refuse_channel_request(conn, m.topic, None) {
            Some((ErrorCode::NotOperator, _)) => {
                let reason = match (&self.history, whose) {
                    (None, _) => format!(
                        "not an operator of {channel}: this server keeps no history, so it cannot tell whose a message is; only operators delete"
                    ),
                    (Some(_), Whose::Earlier) => format!(
                        "not an operator of {channel}: that message was said under your name before this session took it (a name without a password is anyone's), so only an operator deletes it"
                    ),
                    (Some(_), _) => format!(
                        "not an operator of {channel}: a member deletes only its own messages, while the server holds them among its newest (and not twice)"
                    ),
                };
                Some((ErrorCode::NotOperator, reason))
            }
            // Its target's form (an id) was checked with the fields; any operator may delete.
            refusal => refusal,
        }
    }

    /// The checks every operator request on a channel shares: a channel of this server, which
    /// the sender has subscribed to and runs — or owns, for an `owners` action (transfer, drop).
    pub(super) fn refuse_channel_request(
        &self,
        conn: ConnId,
        topic: Name<'_>,
        owners: Option<Action>,
    ) -> Option<(ErrorCode, String)> {
        if let Some(refusal) = self.refuse_non_operator(conn, topic) {
            return Some(refusal);
        }
        let channel = topic.as_str();
        if let Some(action) = owners {
            let room = self.rooms.get(channel);
            let owns = |w: Who<'_>| w.admin || room.is_some_and(|r| r.role(w) == Role::Owner);
            if !self.who(conn).is_some_and(owns) {
                let reason = format!("only the owner of {channel} may {} it", action.label());
                return Some((ErrorCode::NotOperator, reason));
            }
        }
        self.refuse_while_failing()
    }

    /// A change whose record could not be kept is refused, nothing changing, as a Message is.
    fn refuse_while_failing(&self) -> Option<(ErrorCode, String)> {
        self.history.as_ref().filter(|h| h.failing).map(|_| {
            (
                ErrorCode::StoreUnavailable,
                "the history store is failing; nothing was changed".into(),
            )
        })
    }

    /// Why the sender may not make a member's request of `topic`, if it may not: it must be
    /// a channel of this server, which the sender has subscribed to.
    fn refuse_non_member(&self, conn: ConnId, topic: Name<'_>) -> Option<(ErrorCode, String)> {
        if topic.kind() != Kind::Channel {
            return Some((ErrorCode::NotSubscribable, "only channels have operators".into()));
        }
        if let Some(f) = self.foreign(topic) {
            return Some(f);
        }
        let channel = topic.as_str();
        if !self.session(conn)?.is_subscribed(channel) {
            return Some((ErrorCode::NotSubscribed, format!("not subscribed to {channel}")));
        }
        None
    }

    /// Why the sender may not act as an operator of `topic`, if it may not: it must be a
    /// channel of this server, which the sender has subscribed to and runs.
    pub(super) fn refuse_non_operator(&self, conn: ConnId, topic: Name<'_>) -> Option<(ErrorCode, String)> {
        if let Some(refusal) = self.refuse_non_member(conn, topic) {
            return Some(refusal);
        }
        let channel = topic.as_str();
        if !self.runs(conn, channel) {
            return Some((ErrorCode::NotOperator, format!("not an operator of {channel}")));
        }
        None
    }

    /// Why the owner's own actions, transfer and drop, cannot be carried out by their owner, if
    /// they cannot.
    fn refuse_owner_action(&self, room: &Room, m: &Mod<'_>) -> Option<(ErrorCode, String)> {
        if !matches!(m.action, Action::Transfer | Action::Drop) {
            return None;
        }
        let channel = m.topic.as_str();
        let owner = &*room.owner;
        if m.action == Action::Drop && owner != m.target {
            let reason = format!("drop names the owner of {channel}, {owner}");
            return Some((ErrorCode::BadId, reason));
        }
        if m.action == Action::Transfer && owner != m.target {
            // Only to someone here: a channel must not be pushed onto an ID that never asked
            // (counting against its kept channels), nor onto one nobody can use. A kept
            // channel goes only to a session logged in to an account of this server.
            let here = |s: &super::session::Session| {
                s.user.as_deref() == Some(m.target) && (s.authenticated || !room.lasting)
            };
            if self.members(channel, here).is_empty() {
                let anyhow = |s: &super::session::Session| s.user.as_deref() == Some(m.target);
                let reason = match room.lasting && !self.members(channel, anyhow).is_empty() {
                    true => format!(
                        "{} is in {channel}, which is kept, but not logged in to an account here",
                        m.target
                    ),
                    false => format!("{} is not in {channel}", m.target),
                };
                return Some((ErrorCode::NoSuchUser, reason));
            }
            // The old owner becomes an operator, the new one stops being one, and owns one
            // more kept channel.
            let swap = room.rules().ops.iter().any(|o| &**o == m.target);
            if !swap && room.list_full(Action::Op, owner) {
                let reason = format!("{channel} has {MAX_LIST} operators already");
                return Some((ErrorCode::ListFull, reason));
            }
            if room.lasting && !self.may_take_lasting(m.target) {
                let reason = format!("{} owns as many kept channels as one account may", m.target);
                return Some((ErrorCode::ListFull, reason));
            }
        }
        None
    }

    /// The address a ban or mute of exactly `target` holds guests from besides the ID: an ID
    /// banned or muted while connected is by its address too, for guests: it could come back
    /// from there as one, which the pattern would miss (found by QA: an account banned came
    /// back as a guest). A guest is held by the mark in its ID besides. Not a loopback
    /// address: this host's own clients (a bridge, a TLS terminator) are many. Judged on the
    /// peer's own address, not the /64 kept: `::1`'s is `::`, which is no loopback address
    /// (found in review: a ban of an account on `::1` held every later guest from there).
    fn seen_at(&self, target: &str) -> Option<IpAddr> {
        (!target.contains('*'))
            .then(|| self.users.get(target))
            .flatten()
            .and_then(|a| a.conns.first())
            .and_then(|&c| self.session(c))
            .filter(|s| !crate::proto::is_loopback(s.peer))
            .map(|s| s.addr())
    }

    /// Whether a ban of `target` in `room` would keep nobody out: only IDs an exception spares
    /// could match it (found by QA: announced as "banned you", it did nothing). An exact ID's
    /// ban also holds guests from its address (a guest's mark, or the address it is connected
    /// from), so it is not void then; in a kept room, where exceptions spare only sessions
    /// that logged in, a pattern may also match names taken without one, so only an exact ID
    /// whose every session must log in is judged there.
    fn ban_void(&self, room: &Room, target: &str) -> bool {
        let (local, domain) = target.rsplit_once('@').unwrap_or((target, ""));
        let guest = domain == &*self.domain && super::is_guest_name(local);
        let (pattern, exact) = (target.contains('*'), !target.contains('*'));
        if (pattern && room.lasting) || (exact && (guest || self.seen_at(target).is_some())) {
            return false;
        }
        let used = Who {
            user: target,
            logged_in: !self.no_account_here(target),
            admin: false,
        };
        room.excepted(used)
    }

    /// Whether `id` is a name of this server without an account: nobody logs in as it.
    pub(super) fn no_account_here(&self, id: &str) -> bool {
        id.rsplit_once('@').is_some_and(|(_, d)| d == &*self.domain) && !self.accounts.names.contains_key(id)
    }

    /// Whether `pattern` matches none but this server's guests' names (`guest-*@DOMAIN`): no
    /// account has one (registration refuses them), and other domains' users are not guests.
    fn guests_only(&self, pattern: &str) -> bool {
        pattern
            .rsplit_once('@')
            .is_some_and(|(local, d)| d == &*self.domain && super::is_guest_name(local))
    }

    /// An operator kicking the owner or a server admin, as IRC services' founder and oper
    /// protection refuse: only an admin may. A ban or mute by the ID of the owner, an operator
    /// or an admin is refused to everyone: both spare them, so it would be announced ("banned
    /// you"), listed, and do nothing. (Patterns that also match them are taken, for the others
    /// they match; and in a kept room, where roles need a login, so is a listed operator's ID
    /// that nobody can log in as.)
    fn refuse_protected(&self, conn: ConnId, room: &Room, m: &Mod<'_>) -> Option<(ErrorCode, String)> {
        let me = self.who(conn)?;
        let channel = m.topic.as_str();
        if matches!(m.action, Action::Ban | Action::Mute | Action::Purge) {
            // The ID as every session using it is judged: logged in, unless nobody can be.
            let used = Who {
                user: m.target,
                logged_in: !self.no_account_here(m.target),
                admin: false,
            };
            let spared = match room.role(used) {
                Role::Owner => Some(format!("owns {channel}: bans, mutes and purges spare the owner")),
                Role::Operator => Some(format!(
                    "is an operator of {channel}: bans, mutes and purges spare operators (deop first)"
                )),
                _ if self.policy.admins.iter().any(|a| &**a == m.target) => {
                    Some("is an admin of this server: bans, mutes and purges spare admins".to_string())
                }
                _ if m.action == Action::Ban && self.ban_void(room, m.target) => Some(format!(
                    "is spared from the bans of {channel} by an exception: the ban would keep nobody out \
                     (/except lists them; unexcept first)"
                )),
                _ => None,
            };
            if let Some(spared) = spared {
                return Some((ErrorCode::NotOperator, format!("{} {spared}", m.target)));
            }
        }
        // A ban's pattern spares them when it is enforced; a purge's is carried out in the
        // store, which cannot ask, so one that would take theirs is refused (found in review:
        // `*@*` took every operator's week).
        if m.action == Action::Purge {
            let owner = std::iter::once(&*room.owner).filter(|o| !o.is_empty());
            let ops = room.rules().ops.iter().map(|o| &**o);
            let admins = self.policy.admins.iter().map(|a| &**a);
            if let Some(spared) = owner
                .chain(ops)
                .chain(admins)
                .find(|id| pattern::matches(m.target, id))
            {
                let reason = format!(
                    "{} matches {spared}, who runs {channel}: purges spare the owner, operators and admins",
                    m.target
                );
                return Some((ErrorCode::NotOperator, reason));
            }
        }
        if m.action != Action::Kick || me.admin {
            return None;
        }
        let target = self.who_is(m.target);
        let reason = if target.admin {
            format!("{} is an admin of this server", m.target)
        } else if room.role(target) == Role::Owner && me.user != m.target {
            format!("{} owns {channel}", m.target)
        } else {
            return None;
        };
        Some((ErrorCode::NotOperator, reason))
    }

    /// Changes the room for an action already checked; returns the connections to remove.
    fn apply(&mut self, conn: ConnId, m: &Mod<'_>, now_ms: u64) -> Vec<ConnId> {
        let channel = m.topic.as_str();
        let target = m.target;
        let by = self
            .session(conn)
            .and_then(|s| s.user.clone())
            .unwrap_or_default();
        if m.action == Action::Delete {
            // The room does not change. The record is the deletion: the store carries it out
            // in the transaction that stores the record (insert.rs), and memory when the
            // record enters it (`Ring::push`), so neither forgets the Event without the record.
            // The store alone knows whether it held the Event (and a record is never deleted):
            // the log says what was asked (found by QA: it read as a ban record deleted).
            log::info!("{channel}: {by} deletes the message {target}, if it is one the store holds");
            return Vec::new();
        }
        if m.action == Action::Purge {
            // As a delete: the record is the deletion, of every Message it covers.
            let since = m.since.unwrap_or_default();
            log::info!("{channel}: {by} purges the messages of {target} since {since} ms");
            return Vec::new();
        }
        // A channel handed to a session logged in to an account here is kept from now on, as
        // if that session had created it.
        let keep = m.action == Action::Transfer
            && self
                .rooms
                .get(channel)
                .is_some_and(|r| !r.lasting && &*r.owner != target)
            && self.may_own_lasting(target)
            && !self
                .members(channel, |s| s.authenticated && s.user.as_deref() == Some(target))
                .is_empty();
        let seen_at = matches!(m.action, Action::Ban | Action::Mute)
            .then(|| self.seen_at(target))
            .flatten();
        let Some(room) = self.rooms.get_mut(channel) else {
            return Vec::new();
        };
        match m.action {
            Action::Kick => {}
            Action::Ban | Action::Mute => {
                let sanction = Sanction {
                    pattern: target.into(),
                    addr: seen_at,
                    reason: m.reason.filter(|r| !r.is_empty()).map(Into::into),
                    until: m.until,
                    by: (!by.is_empty()).then(|| Box::from(&*by)),
                    at: now_ms,
                };
                match m.action {
                    Action::Ban => room.put_ban(sanction),
                    _ => room.put_mute(sanction),
                }
                // Once it is in its room: a rebuild of the ends reads them from the rooms.
                if let Some(until) = m.until {
                    self.time_sanction(channel, until);
                }
            }
            Action::Unban => room.rules_mut().bans.retain(|b| &*b.pattern != target),
            Action::Unmute => room.unmute(target),
            Action::Op | Action::Deop => set(&mut room.rules_mut().ops, target, m.action == Action::Op),
            Action::Voice | Action::Devoice => {
                set(&mut room.rules_mut().voiced, target, m.action == Action::Voice)
            }
            Action::Invite | Action::Except => {
                let listed = Listed {
                    pattern: target.into(),
                    reason: m.reason.filter(|r| !r.is_empty()).map(Into::into),
                    by: (!by.is_empty()).then(|| Box::from(&*by)),
                    at: now_ms,
                };
                let rules = room.rules_mut();
                let list = match m.action {
                    Action::Invite => &mut rules.invited,
                    _ => &mut rules.excepts,
                };
                put_listed(list, listed);
            }
            Action::Uninvite => set(&mut room.rules_mut().invited, target, false),
            Action::Unexcept => set(&mut room.rules_mut().excepts, target, false),
            Action::Transfer if &*room.owner != target => {
                let old = std::mem::replace(&mut room.owner, target.into());
                set(&mut room.rules_mut().ops, target, false);
                // A channel whose owner's account was deleted has none (see saved.rs). In a
                // kept channel only an account holds a role (a guest who made it and hands it
                // to a user who logged in is not listed as an operator it cannot be).
                let kept = room.lasting || keep;
                if !old.is_empty() && (!kept || self.accounts.names.contains_key(&*old)) {
                    set(&mut room.rules_mut().ops, &old, true);
                }
                if room.lasting {
                    self.lasting_handed_over(channel, &old, Some(target));
                } else if keep {
                    room.lasting = true;
                    self.own_lasting(channel, target);
                }
            }
            Action::Transfer => {}
            Action::Drop => self.unkeep(channel),
            Action::Delete | Action::Purge => {}
        }
        if let Some(room) = self.rooms.get_mut(channel) {
            room.used = true;
            room.tidy();
        }
        let until = super::room::until_words(m.until);
        log::info!("{channel}: {by} {} {target}{until}", m.action.label());
        self.room_changed(channel);
        match m.action {
            Action::Kick => self.members(channel, |s| s.user.as_deref() == Some(target)),
            Action::Ban => {
                let Some((room, ban)) = self.rooms.get(channel).and_then(|r| Some((r, r.ban(target)?)))
                else {
                    return Vec::new();
                };
                let admins = &self.policy.admins;
                // Never the channel's operators, nor admins: a ban keeps others out.
                let banned = |s: &super::session::Session| {
                    super::admin::who(s, admins).is_some_and(|w| room.ban_keeps_out(ban, w, s.addr()))
                };
                self.members(channel, banned)
            }
            _ => Vec::new(),
        }
    }

    /// The channel's subscribed connections whose session passes `pick`.
    pub(super) fn members(
        &self,
        channel: &str,
        pick: impl Fn(&super::session::Session) -> bool,
    ) -> Vec<ConnId> {
        self.channels
            .subscribers(channel)
            .iter()
            .copied()
            .filter(|&c| self.session(c).is_some_and(&pick))
            .collect()
    }

    /// Takes `conn` out of `channel`: an Unsub, a kick. True if its user left with it (it
    /// was the user's last connection there).
    pub(super) fn remove_from(&mut self, conn: ConnId, channel: &str) -> bool {
        let Some(s) = self.sessions.get_mut(conn).and_then(Option::as_mut) else {
            return false;
        };
        let Some(i) = s.subs.iter().position(|c| &**c == channel) else {
            return false;
        };
        s.subs.swap_remove(i);
        let user = s.user.clone();
        self.leave(conn, user.as_deref(), channel)
    }

    /// The channel's side of `conn` (as `user`) leaving it: its subscribers, its members and,
    /// with none left, its room too unless its owner logged in. True if the user left with it.
    pub(super) fn leave(&mut self, conn: ConnId, user: Option<&str>, channel: &str) -> bool {
        let (left, gone) = self.channels.unsubscribe(channel, conn);
        if let Some(last) = gone {
            self.floors.gone(channel, last, self.held_ms());
        }
        let mut member_left = false;
        if let (Some(u), Some(room)) = (user, self.rooms.get_mut(channel)) {
            member_left = room.drop_member(u);
        }
        if left > 0 {
            return member_left;
        }
        let emptied = self.emptied_now();
        match self.rooms.get_mut(channel) {
            Some(r) if r.lasting && r.used => {
                r.emptied = emptied;
                self.room_changed(channel);
            }
            Some(r) => {
                if r.lasting {
                    log::info!("{channel}: nothing was said or set in it: not kept");
                    self.unkeep(channel);
                }
                self.end_room(channel);
            }
            None => self.unlist(channel),
        }
        member_left
    }

    /// Forgets `channel`'s room: its life ends. What was said in it while it was closed goes
    /// out of memory's answers with it; the store leaves it out of any later life's.
    pub(super) fn end_room(&mut self, channel: &str) {
        let mut room = self.rooms.remove(channel);
        if let Some(held) = room.as_mut().and_then(|r| r.take_held_joins()) {
            log_held_joins(channel, held, "the channel ended");
        }
        let life = room.and_then(|r| r.life());
        self.unlist(channel);
        if let (Some(_), Some(h)) = (life, self.history.as_mut()) {
            h.ring.end_life(channel);
        }
    }

    /// Takes `channel` out of Topics' list once it has neither a subscriber nor a room.
    fn unlist(&mut self, channel: &str) {
        if self.channels.get(channel).is_none() && !self.rooms.contains_key(channel) {
            self.listed.remove(channel);
        }
    }

    /// A new subscriber: the channel's first, with no room yet, becomes its owner. Returns the
    /// refusal if the room keeps it out; else the join is counted against its join rate.
    pub(super) fn admit_to(&mut self, conn: ConnId, channel: &str, now: &Now) -> Option<Refused> {
        let who = self.who(conn)?;
        let s = self.session(conn)?;
        let owner = s.user.as_ref()?;
        let user = &**owner;
        let Some(room) = self.rooms.get(channel) else {
            // Kept only for an account of this server: a token's vouched ID is proven, but its
            // home may vouch for any number of IDs, each of which could keep 64 channels.
            let lasting = s.authenticated && self.may_own_lasting(user);
            if s.authenticated && !lasting {
                log::info!("{channel}: not kept, {}", self.why_not_lasting(user));
            }
            let room = Room::new(owner.clone(), lasting, self.now_ms);
            if lasting {
                self.own_lasting(channel, &room.owner);
            }
            let key = self.name_key(channel);
            self.rooms.insert(key, Box::new(room));
            self.room_changed(channel);
            return None;
        };
        if let Some(ban) = room.banned_by(who, s.addr()) {
            let told = ban.told(user);
            return Some((ErrorCode::Banned, format!("banned from {channel}{told}")).into());
        }
        let closed = match room.closed_to(who) {
            // In a kept channel an invitation holds only in a session that logged in: asking an
            // operator would be no way on for one that did not (review 271, as for +m's 802).
            Some(Closed::InviteOnly) if room.lasting && !who.logged_in => (
                ErrorCode::InviteOnly,
                format!(
                    "{channel} is invite-only, and it is kept: only a session that logged in can be invited in"
                ),
            ),
            Some(Closed::InviteOnly) => (
                ErrorCode::InviteOnly,
                format!("{channel} is invite-only: ask an operator to invite you"),
            ),
            Some(Closed::RegisteredOnly) => (
                ErrorCode::RegisteredOnly,
                format!("{channel} is for users who logged in"),
            ),
            None => return self.admit_join(conn, channel, now),
        };
        Some(closed.into())
    }

    /// Counts a join to `channel` of the session on `conn` against the channel's join rate;
    /// the refusal if the rate holds it now.
    fn admit_join(&mut self, conn: ConnId, channel: &str, now: &Now) -> Option<Refused> {
        // Everyone comes back at once after a restart: no join rate holds them then.
        let rush_for = self.limits.join_rush;
        let rush = (self.opened).is_some_and(|t| now.mono.saturating_duration_since(t) < rush_for);
        let s = self.sessions.get(conn).and_then(Option::as_deref)?;
        let who = super::admin::who(s, &self.policy.admins)?;
        let room = self.rooms.get_mut(channel)?;
        if let Some(wait) = room.join_wait(who, rush, now) {
            if room.hold_join() == 1 {
                let rate = room.rules().join_rate;
                log::info!(
                    "{channel}: its join rate ({rate} a minute) refuses joins now, {} first",
                    who.user
                );
            }
            let reason = format!("{channel} admits fewer joins now: wait {} s", ceil_secs(wait));
            return Some(Refused::waiting(ErrorCode::JoinRate, reason, wait));
        }
        room.count_join(who, rush, now);
        if room.is_paced() {
            self.mark_paced(channel);
        }
        None
    }
}

/// Tells the operator's log how many joins `channel`'s join rate refused in a rush, once the
/// rush is over (`until`: how it ended), so that a raid it held shows there.
pub(super) fn log_held_joins(channel: &str, held: u32, until: &str) {
    log::info!("{channel}: its join rate refused {held} join(s) until {until}");
}

/// The reason of a 808 for a channel's full list: which list, and how to go on. Found by QA's
/// raid drill: "500 entries of that kind" named neither, and left an operator banning raiders
/// one by one without a next step when the 501st was refused. A pattern is one more entry, so
/// it is offered only after lifting some (found in review: "lift some, or ban a pattern" sent
/// the operator to a pattern that got the same 808).
fn full_list(channel: &str, action: Action) -> String {
    let (list, way) = match action {
        Action::Ban => (
            "bans",
            "lift some first, then one pattern (guest-*) can hold what several held",
        ),
        Action::Mute => (
            "mutes",
            "lift some first, then one pattern (guest-*) can hold what several held",
        ),
        Action::Op => ("operators", "take the role from some first"),
        Action::Voice => ("voiced IDs", "take the voice from some first"),
        Action::Invite => (
            "invitations",
            "withdraw some first, then one pattern can hold what several held",
        ),
        Action::Except => (
            "ban exceptions",
            "withdraw some first, then one pattern can hold what several held",
        ),
        _ => ("entries of that kind", "remove some first"),
    };
    format!("{channel} has {MAX_LIST} {list}, as many as it keeps: {way}")
}

/// For an action that undoes (unban, unmute, deop, devoice, uninvite): the list it takes from,
/// and how to say its target is not on it.
fn undoing(action: Action) -> Option<(Action, &'static str)> {
    match action {
        Action::Unban => Some((Action::Ban, "is not banned")),
        Action::Unmute => Some((Action::Mute, "is not muted")),
        Action::Deop => Some((Action::Op, "is not an operator")),
        Action::Devoice => Some((Action::Voice, "has no voice")),
        Action::Uninvite => Some((Action::Invite, "is not invited")),
        Action::Unexcept => Some((Action::Except, "is not excepted from the bans")),
        _ => None,
    }
}

/// A Mod's record as its Event says it: `ACTION TARGET[ REASON]`, a purge's `purge PATTERN
/// SINCE[ REASON]`, a timed ban's `ban-until PATTERN UNTIL[ REASON]` (PROTOCOL.md §4, Mod).
pub(super) fn record_text(m: &Mod<'_>) -> String {
    let (label, time) = match (m.action, m.since, m.until) {
        (Action::Purge, Some(t), _) => (Cow::Borrowed(m.action.label()), format!(" {t}")),
        (Action::Ban | Action::Mute, _, Some(t)) => {
            (format!("{}-until", m.action.label()).into(), format!(" {t}"))
        }
        _ => (Cow::Borrowed(m.action.label()), String::new()),
    };
    match m.reason {
        Some(r) => format!("{label} {}{time} {r}", m.target),
        None => format!("{label} {}{time}", m.target),
    }
}

/// Why a ban's or mute's end `until` is refused at `now_ms`, if it is: one already past, one
/// further than [`MAX_UNTIL_MS`], or on a topic whose bans last until lifted.
fn refuse_until(topic: Name<'_>, until: u64, now_ms: u64) -> Option<String> {
    if super::admin::is_server(topic) || topic.kind() == Kind::User {
        return Some("the server's bans and blocks last until lifted: leave out until".into());
    }
    if until <= now_ms {
        return Some(format!(
            "until is past ({}): the ban or mute would be over",
            crate::civil::utc_words(until)
        ));
    }
    if until - now_ms > MAX_UNTIL_MS {
        return Some("a ban or mute ends within 366 days (for longer, give it no end)".into());
    }
    None
}

/// How far ahead a ban or mute may end: a year (and a leap day); a longer one is one until
/// lifted, which the operator can say.
pub const MAX_UNTIL_MS: u64 = 366 * 24 * 3_600_000;

/// The reach a purge's record says, and the store and memory act on, for a `since` asked at
/// `now_ms`: never further back than [`PURGE_REACH_MS`], so that one request deletes a bounded
/// stretch of history; none asked is as far as that.
pub fn purge_since(since: Option<u64>, now_ms: u64) -> u64 {
    let reach = now_ms.saturating_sub(PURGE_REACH_MS);
    // A later one stands, even past the clock: a busy topic's Event times run ahead of it
    // (PROTOCOL.md §4, Event), and a purge since one of them means what it says.
    since.map_or(reach, |t| t.max(reach))
}

/// How far back one purge reaches: a week, as far as Discord's deletion on a ban goes; what a
/// spammer said before that has been read by then, and an operator deletes it one by one.
pub const PURGE_REACH_MS: u64 = 7 * 24 * 3_600_000;

/// What a purge record (`purge PATTERN SINCE[ REASON]`, of content type `ctype`) deletes: the
/// Messages of IDs matching the pattern later than SINCE, before the record. As for a delete,
/// the record is the deletion, carried out where it is stored.
pub fn purged_by<'a>(ctype: Option<&str>, body: Body<'a>) -> Option<(&'a str, u64)> {
    let (Some(MOD_CTYPE), Body::Text(text)) = (ctype, body) else {
        return None;
    };
    let mut words = text.strip_prefix("purge ")?.split(' ');
    let target = words.next().filter(|t| pattern::is_pattern(t))?;
    let since = words.next()?.parse().ok()?;
    Some((target, since))
}

/// The Event a record deletes, if `body`, of content type `ctype`, is the record of a delete
/// (`delete ID[ REASON]`). The record is the deletion: the store carries it out in the
/// transaction that stores the record, so that neither is on disk without the other.
///
/// The content type is matched exactly, unlike [`server_ctype`]: only the server writes this
/// one, always spelled so, and clients cannot publish it in any spelling.
pub fn deleted_by(ctype: Option<&str>, body: Body<'_>) -> Option<MsgId> {
    let (Some(MOD_CTYPE), Body::Text(text)) = (ctype, body) else {
        return None;
    };
    let rest = text.strip_prefix("delete ")?;
    let id = rest.split(' ').next()?;
    is_hex_id(id).then(|| MsgId::from_hex(id)).flatten()
}

/// Whose a channel's message is, to a member asking to delete it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Whose {
    /// Sent by its name since this session's holder has held it.
    Mine,
    /// Sent by its name before: by the name's last holder, as far as the server can tell.
    Earlier,
    /// Another's, a record, or not in memory.
    Other,
}

/// Why `target` is refused where an ID pattern is wanted.
pub(super) fn not_a_pattern(target: &str) -> String {
    format!("{target} is not an ID pattern (lowercase local@domain, * for any run)")
}

/// The server's record of a change on `topic`, published as if the operator had said it: a
/// Message of [`MOD_CTYPE`] saying it in `text`.
pub(super) fn record_of<'a>(seq: Option<u32>, topic: Name<'a>, text: &'a str) -> Message<'a> {
    Message {
        seq,
        topic,
        body: Body::Text(clip(text, MAX_BODY)),
        ctype: Some(MOD_CTYPE),
        reply_to: None,
    }
}
