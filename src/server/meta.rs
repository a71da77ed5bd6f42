//! Sub, Unsub and Meta; SetMeta; the topic list (Topics) and a channel's members (Members).
//! A channel's Meta carries its description (display name, topic line, creation time, modes,
//! rates) and the asker's role; a user ID's carries its presence.

use super::room::Who;
use super::{ConnId, Now, Outbox, REFUSED_SUB_WEIGHT, Server};
use crate::proto::*;

/// Bytes of a TopicList page's entries (names, topic lines and display names) that fit one
/// frame with room for the rest of the map.
pub(super) const PAGE_BUDGET: usize = MAX_PAYLOAD - 256;
/// CBOR heads (name, topic line, display name) and the subscriber count of one entry, at most.
pub(super) const PAGE_ENTRY_OVERHEAD: usize = 3 + 3 + 2 + 9;

/// The most channel names one Topics, or member IDs one Members, with a `query` examines: a
/// rare word on a server of many channels, or in a channel of many members, costs the loop
/// this much a request (a page of matches, then the next from its cursor), never a walk of the
/// whole list.
pub(super) const QUERY_SCAN: usize = 500;

impl Server {
    pub(super) fn sub(&mut self, conn: ConnId, m: Sub<'_>, now: &Now, out: &mut impl Outbox) {
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
                if let Some((code, reason)) = self.blocked(conn, m.topic) {
                    return self.fail(conn, m.seq, code, &reason, out);
                }
                self.watch(conn, name);
            }
            return self.meta(conn, m.seq, m.topic, out);
        }
        if !already {
            if let Some(refused) = self.admit_to(conn, name, now) {
                if let Some(s) = self.session_mut(conn) {
                    // It counted as one free Sub already.
                    s.subs_sent = s.subs_sent.saturating_add(REFUSED_SUB_WEIGHT - 1);
                }
                return self.fail_refused(conn, m.seq, refused, out);
            }
            let key = self.name_key(name);
            let Some(s) = self.sessions.get_mut(conn).and_then(Option::as_mut) else {
                return;
            };
            s.subs.push(key.clone());
            let mut occupied = false;
            let mut joined = None;
            if let (Some(user), Some(room)) = (s.user.as_ref(), self.rooms.get_mut(name)) {
                joined = room.add_member(user).then(|| user.clone());
                // In use again: its days without a subscriber start afresh when it empties,
                // and a crash meanwhile must not count them from when it emptied before
                // (found by QA: a kept channel in use until a crash was then forgotten).
                if room.lasting && room.emptied != 0 {
                    room.emptied = 0;
                    occupied = true;
                }
            }
            if occupied {
                self.room_changed(name);
            }
            let floor = self.floors.take(&key);
            if self.channels.subscribe(&key, conn, floor) == 1 {
                let secret = self.rooms.get(name).is_some_and(|r| r.secret());
                self.listed.insert(key, secret);
            }
            if let Some(user) = joined {
                self.tell_members(name, &user, super::joins::Did::Joined, out);
            }
        }
        self.meta(conn, m.seq, m.topic, out);
    }

    /// A channel's name as the channel or room table already holds it, so that every table
    /// keyed by it (channels, rooms, each session's subscriptions) shares one copy.
    pub(super) fn name_key(&self, name: &str) -> std::rc::Rc<str> {
        self.channels
            .key(name)
            .or_else(|| self.rooms.get_key_value(name).map(|(k, _)| k))
            .cloned()
            .unwrap_or_else(|| name.into())
    }

    pub(super) fn unsub(&mut self, conn: ConnId, m: Unsub<'_>, now: &Now, out: &mut impl Outbox) {
        let name = m.topic.as_str();
        let Some(s) = self.session(conn) else { return };
        if s.is_subscribed(name) {
            let user = s.user.clone();
            if self.remove_from(conn, name)
                && let Some(user) = user
            {
                // Only a reason that says something, from one who may speak there now.
                let said = m.reason.filter(|r| !r.is_empty());
                let why = said.filter(|_| self.leave_says(conn, name, now.mono));
                self.tell_members(name, &user, super::joins::Did::Left(why), out);
            }
        } else if s.watching.iter().any(|w| &**w == name) {
            self.unwatch(conn, name);
        }
        self.meta(conn, m.seq, m.topic, out);
    }

    /// Meta for `topic` as `conn` sees it: the reply to Sub, Unsub and SetMeta.
    pub(super) fn meta(&mut self, conn: ConnId, seq: Option<u32>, topic: Name<'_>, out: &mut impl Outbox) {
        if let Some(meta) = self.meta_of(conn, seq, topic) {
            out.reply(conn, &Msg::Meta(meta));
        }
    }

    /// The Meta of `topic` as `conn` sees it; `None` for a connection without a session.
    pub(super) fn meta_of<'a>(&'a self, conn: ConnId, seq: Option<u32>, topic: Name<'a>) -> Option<Meta<'a>> {
        let name = topic.as_str();
        let s = self.session(conn)?;
        let mut meta = match topic.kind() {
            // One the user blocks learns nothing of its presence (an Unsub's Meta).
            Kind::User if self.blocked(conn, topic).is_some() => Meta::new(seq, topic, false, 0),
            Kind::User => {
                let watching = s.watching.iter().any(|w| &**w == name);
                let watchers = self.watchers.get(name).map_or(0, Vec::len);
                // Whether the name is its holder's by proof, and an admin's: what tells the
                // moderator from `m0d`, a free name anyone took (found by QA), as IRC's WHOIS
                // says who is logged in and who is an operator.
                let account = self.accounts.names.contains_key(name) || self.who_is(name).logged_in;
                let admin = self.policy.admins.iter().any(|a| &**a == name);
                Meta {
                    presence: Some(self.presence_of(name)),
                    reason: self.away.get(name).map(|n| &**n).filter(|n| !n.is_empty()),
                    account: Some(account),
                    admin: admin.then_some(true),
                    modes: Some(self.own_modes.of(name)).filter(|&m| m != 0),
                    ..Meta::new(seq, topic, watching, watchers as u64)
                }
            }
            // A secret channel tells one not in it no more than a channel that does not exist
            // (found by QA: an Unsub of a guessed name showed its topic and members' count).
            _ if self.rooms.get(name).is_some_and(|r| r.secret())
                && !self.who(conn).is_some_and(|w| self.sees_secret(w, name)) =>
            {
                return Some(Meta::new(seq, topic, false, 0));
            }
            _ => {
                let subscribers = self.channels.subscribers(name).len() as u64;
                Meta::new(seq, topic, s.is_subscribed(name), subscribers)
            }
        };
        if let Some(room) = self.rooms.get(name) {
            meta.display = room.rules().display.as_deref();
            meta.subject = room.rules().subject.as_deref();
            meta.created = Some(room.created);
            meta.modes = Some(room.modes);
            meta.rate = Some(room.rules().rate);
            meta.join_rate = Some(room.rules().join_rate);
            meta.role = self.who(conn).map(|w| room.role(w));
            meta.kept = Some(room.lasting);
        }
        Some(meta)
    }

    /// SetMeta: an operator changes the channel's description, modes or rates; each change is
    /// recorded on the channel, then the reply is the new Meta.
    pub(super) fn set_meta(&mut self, conn: ConnId, m: SetMeta<'_>, now: &Now, out: &mut impl Outbox) {
        if m.topic.kind() == Kind::User {
            return self.set_own_modes(conn, m, now, out);
        }
        if let Some((code, reason)) = self.refuse_channel_request(conn, m.topic, None) {
            return self.fail(conn, m.seq, code, &reason, out);
        }
        let Some(room) = self.rooms.get_mut(m.topic.as_str()) else {
            return;
        };
        // A mode change is recorded as said in the state it makes (`modes +i` closed, `modes -`
        // open). The other fields of a request that opens or closes the channel are recorded
        // as said closed: whoever sent them meant them for the closed channel, or for the
        // members it had while closed, so they stay with its life.
        let closed_before = room.closed();
        let mut changes = Vec::new();
        let text = |v: &str| (!v.is_empty()).then(|| Box::<str>::from(v));
        if let Some(d) = m
            .display
            .filter(|&d| room.rules().display.as_deref() != text(d).as_deref())
        {
            room.rules_mut().display = text(d).map(SearchText::from);
            changes.push((format!("display {d}"), None));
        }
        if let Some(t) = m
            .subject
            .filter(|&t| room.rules().subject.as_deref() != text(t).as_deref())
        {
            room.rules_mut().subject = text(t).map(SearchText::from);
            changes.push((format!("subject {t}"), None));
        }
        let mut secret = None;
        if let Some(bits) = m.modes.filter(|&b| b != room.modes) {
            room.modes = bits;
            secret = Some(room.secret());
            changes.push((format!("modes {}", mode_letters(bits)), Some(room.closed())));
        }
        if let Some(rate) = m.rate.filter(|&r| r != room.rules().rate) {
            room.rules_mut().rate = rate;
            changes.push((format!("rate {rate}"), None));
        }
        if let Some(rate) = m.join_rate.filter(|&r| r != room.rules().join_rate) {
            if let Some(held) = room.set_join_rate(rate) {
                super::moderation::log_held_joins(m.topic.as_str(), held, "it was lifted");
            }
            changes.push((format!("join_rate {rate}"), None));
        }
        let closed_either = closed_before || room.closed();
        room.used = true;
        room.tidy();
        if let Some(secret) = secret {
            let key = self.name_key(m.topic.as_str());
            self.listed.set_secret(key, secret);
        }
        self.room_changed(m.topic.as_str());
        for (change, closed) in changes {
            // Recorded without seq: the reply to SetMeta is the Meta below.
            let record = super::moderation::record_of(None, m.topic, &change);
            self.emit(conn, record, Some(closed.unwrap_or(closed_either)), now, out);
        }
        // With `--fsync always` the records wait for their commit (the requester's input waits
        // behind them): so does the Meta, which would otherwise say the change is done before
        // it is on disk (found by QA: a crash then lost a change its Meta had confirmed).
        let held = self
            .history
            .as_ref()
            .filter(|h| h.fsync == crate::store::Fsync::Always)
            .and_then(|h| h.unconfirmed.back())
            .is_some_and(|u| u.conn == Some(conn));
        if !held {
            return self.meta(conn, m.seq, m.topic, out);
        }
        let frame = self
            .meta_of(conn, m.seq, m.topic)
            .and_then(|meta| Msg::Meta(meta).to_frame().ok());
        match (
            frame,
            self.history.as_mut().and_then(|h| h.unconfirmed.back_mut()),
        ) {
            (Some(frame), Some(u)) => u.then = Some(frame.into_boxed_slice()),
            // (One that fits no frame is logged as such.)
            _ => self.meta(conn, m.seq, m.topic, out),
        }
    }

    /// Whether `who` may know that the secret channel `channel` exists (§4, SetMeta's secret
    /// mode): its ID is in it, on any of its connections (a user's phone lists what its laptop
    /// joined); it owns the channel where it is kept, having proved the ID (an owner finds its
    /// channel while nobody is in it); or it is an admin.
    fn sees_secret(&self, who: Who<'_>, channel: &str) -> bool {
        let room = self.rooms.get(channel);
        who.admin || room.is_some_and(|r| r.is_member(who.user) || (r.lasting && r.role(who) == Role::Owner))
    }

    /// The secret channels `who` may see, in any order, repeats allowed: those its
    /// connections are in and the kept ones it owns, as [`Server::sees_secret`] says. Its cost
    /// is its connections' subscriptions (at most `max-subs` each); a user with many
    /// connections pays it at its ID's message rate, which every Topics request spends.
    fn secret_seen_by(&self, who: Who<'_>) -> Vec<&str> {
        let conns = self
            .users
            .get(who.user)
            .map(|u| u.conns.as_slice())
            .unwrap_or_default();
        let subs = conns
            .iter()
            .filter_map(|&c| self.session(c))
            .flat_map(|s| s.subs.iter());
        let owned = self.lasting_of(who.user).iter();
        subs.map(|c| &**c)
            .chain(owned.map(|c| &**c))
            .filter(|c| self.rooms.get(*c).is_some_and(|r| r.secret()) && self.sees_secret(who, c))
            .collect()
    }

    pub(super) fn topics(&mut self, conn: ConnId, m: Topics<'_>, out: &mut impl Outbox) {
        let count = m.count.min(MAX_PAGE) as usize;
        let view = match self.who(conn) {
            Some(w) if w.admin => self.listed.to_admin(),
            Some(w) => self.listed.to(self.secret_seen_by(w)),
            None => self.listed.to(Vec::new()),
        };
        let start = match m.cursor {
            Some(c) => view.position_after(c.as_str()),
            None => m.start as usize,
        };
        // A page must fit one frame: 100 long names with 256-byte topic lines would not, so the
        // page ends early (its cursor says where to go on).
        let rules = |n: &Name<'_>| self.rooms.get(n.as_str()).map(|r| r.rules());
        let subject = |n: &Name<'_>| rules(n).and_then(|r| r.subject.as_deref()).unwrap_or_default();
        let display = |n: &Name<'_>| rules(n).and_then(|r| r.display.as_deref()).unwrap_or_default();
        let mut query = m.query.map(ListQuery::new);
        let limit = scan_limit(&query);
        let mut size = 0;
        let Walk {
            page,
            last,
            examined,
            before_first,
        } = walk(view.from(start), count, limit, |n| {
            let wanted = query.as_mut().is_none_or(|q| {
                let texts = rules(&n).map(|r| [r.display.as_ref(), r.subject.as_ref()]);
                q.matches_texts(n.as_str(), texts.unwrap_or_default())
            });
            if !wanted {
                return Step::Pass;
            }
            size += n.as_str().len() + subject(&n).len() + display(&n).len() + PAGE_ENTRY_OVERHEAD;
            match size > PAGE_BUDGET {
                true => Step::Full,
                false => Step::Take,
            }
        });
        let counts: Vec<u64> = page
            .iter()
            .map(|n| self.channels.subscribers(n.as_str()).len() as u64)
            .collect();
        let subjects: Vec<&str> = page.iter().map(subject).collect();
        let displays: Vec<&str> = page.iter().map(display).collect();
        let more = start + examined < view.len();
        let list = TopicList {
            seq: m.seq,
            total: u32::try_from(view.len()).unwrap_or(u32::MAX),
            // The first name sent's (PROTOCOL.md §4): with a query, past those passed over.
            start: u32::try_from(start + before_first.unwrap_or(0)).unwrap_or(u32::MAX),
            topics: List::Slice(&page),
            counts: Some(List::Slice(&counts)),
            subjects: Some(List::Slice(&subjects)),
            displays: Some(List::Slice(&displays)),
            cursor: last.filter(|_| more),
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
            _ if self.foreign(m.topic).is_some() => self.foreign(m.topic),
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
        let Some(room) = self.rooms.get(channel) else {
            return;
        };
        let count = m.count.min(MAX_PAGE) as usize;
        let (ids, total) = room.members_after(m.cursor.map(|c| c.as_str()));
        let left = ids.len();
        let query = m.query.map(ListQuery::new);
        // One no ID could hold is answered at once, not with a page for every 500 members
        // (review).
        let hopeless = query.as_ref().is_some_and(|q| !q.can_match_id());
        let Walk {
            page, last, examined, ..
        } = match hopeless {
            true => Walk::default(),
            false => walk(ids, count, scan_limit(&query), |n| {
                match query.as_ref().is_none_or(|q| q.matches_id(n.as_str())) {
                    true => Step::Take,
                    false => Step::Pass,
                }
            }),
        };
        let roles: Vec<u64> = page
            .iter()
            .map(|u| room.role(self.who_is(u.as_str())) as u64)
            .collect();
        let list = MemberList {
            seq: m.seq,
            topic: m.topic,
            total: u32::try_from(total).unwrap_or(u32::MAX),
            users: List::Slice(&page),
            roles: List::Slice(&roles),
            cursor: last.filter(|_| examined < left),
        };
        out.reply(conn, &Msg::MemberList(list));
    }
}

/// What a page's walk does with a name it examines.
enum Step {
    /// Lists it.
    Take,
    /// Passes over it: the query does not match it.
    Pass,
    /// Ends the page before it: the frame is full.
    Full,
}

/// A page of a list walked in order (Topics' names, Members' IDs).
#[derive(Default)]
struct Walk<'n> {
    /// The names taken.
    page: Vec<Name<'n>>,
    /// The last name examined and done with (taken or passed over): the cursor, when more
    /// follow.
    last: Option<Name<'n>>,
    /// How many were examined.
    examined: usize,
    /// How many were examined before the first one taken, if one was: where the page's
    /// `start` is, counted from where the walk began.
    before_first: Option<usize>,
}

/// Walks `names` for a page: at most `count` taken, at most `limit` examined, or until `step`
/// says the page is full. One walk for Topics and Members, so that their cursors follow one
/// rule (PROTOCOL.md §4: the last name listed or passed over).
fn walk<'n>(
    names: impl IntoIterator<Item = &'n str>,
    count: usize,
    limit: usize,
    mut step: impl FnMut(Name<'n>) -> Step,
) -> Walk<'n> {
    let mut w = Walk::default();
    for raw in names {
        if w.page.len() == count || w.examined == limit {
            break;
        }
        if let Ok(n) = Name::parse(raw) {
            match step(n) {
                Step::Full => break,
                Step::Take => {
                    w.before_first.get_or_insert(w.examined);
                    w.page.push(n);
                }
                Step::Pass => {}
            }
            w.last = Some(n);
        }
        w.examined += 1;
    }
    w
}

/// How many names a page examines: [`QUERY_SCAN`] with a query; without one, as many as it
/// takes to fill it.
fn scan_limit(query: &Option<ListQuery>) -> usize {
    match query {
        Some(_) => QUERY_SCAN,
        None => usize::MAX,
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
        (modes::SECRET, 's'),
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
