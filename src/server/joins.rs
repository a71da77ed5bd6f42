//! Joins and leaves (PROTOCOL.md §4): a connection that asked in its Ident is told when a user
//! joins or leaves one of its channels, by an Event of [`MEMBER_CTYPE`] from that user on the
//! channel's topic, as IRC's JOIN, PART and QUIT tell. Like presence, these are not stored.

use super::presence::Unstored;
use super::session::Session;
use super::{ConnId, Outbox, Server};
use crate::proto::Name;
use std::rc::Rc;
use std::time::Instant;

/// The content type of join and leave Events; only the server publishes them.
pub const MEMBER_CTYPE: &str = "text/x-scalar-member";

/// The most subscribed connections a channel may have for its joins and leaves to be told to
/// every member: beyond, they would be most of its traffic, and a mass reconnect would send
/// each subscriber one per member (250 rejoining send about 31,000). Those who run the channel
/// are told at any size: a raid is largest there (found by QA: operators lost sight of it).
pub const MAX_TOLD: usize = 250;

/// What a member did by a Sub or an Unsub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Did<'a> {
    /// Its first connection in the channel subscribed.
    Joined,
    /// Its last one unsubscribed, saying why or not.
    Left(Option<&'a str>),
}

/// A member whose last connection in a channel closed, to be told once there is an outbox.
pub(super) struct Quit {
    channel: Rc<str>,
    user: Rc<str>,
    /// The body: `quit`, or `quit REASON`.
    said: Box<str>,
    /// The channel had more than [`MAX_TOLD`] connections when it quit: told to those who run
    /// it only. Judged then, not when told: a burst of closes shrinks the channel before its
    /// quits go out (found by QA: 280 quits told to every member).
    big: bool,
}

impl Quit {
    /// `user` quit `channel`, with `why` (its Bye's reason, or the label of the server's);
    /// `big` if the channel was past [`MAX_TOLD`] then.
    pub(super) fn new(channel: &Rc<str>, user: &Rc<str>, why: Option<&str>, big: bool) -> Quit {
        let said = match why {
            Some(why) => format!("quit {why}").into(),
            None => "quit".into(),
        };
        Quit {
            channel: channel.clone(),
            user: user.clone(),
            said,
            big,
        }
    }
}

/// Why a connection closed, as its channels are told (PROTOCOL.md §4, Joins and leaves).
#[derive(Debug, Clone, Copy)]
pub(super) enum Why<'a> {
    /// No reason: a dropped connection, a Bye without one.
    Nothing,
    /// The label of the server's Bye (`ping_timeout`, `flooding`, ...).
    Server(&'a str),
    /// The client's Bye's reason, given at `now`: the user's words, held to the channel's rate.
    User(&'a str, Instant),
}

/// Whether a line of the user of `s` is taken in `channel` now ([`says`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Said {
    /// Muted, unvoiced where moderated, or over the channel's rate.
    Not,
    /// Taken, and counted against the rate.
    Taken,
    /// Taken, and the channel now has a budget to refill ([`Server::mark_paced`]).
    Paced,
}

/// Whether the user of `s` may say a line everyone in `channel` reads (a leave's or quit's
/// reason), as a Message of it would be taken there now; if so it is counted against the
/// channel's rate. Fields, not the server: the session may be one still in the server's
/// table.
fn says(
    rooms: &mut std::collections::HashMap<Rc<str>, Box<super::room::Room>>,
    admins: &[Box<str>],
    s: &Session,
    channel: &str,
    now: Instant,
) -> Said {
    let (Some(who), Some(room)) = (super::admin::who(s, admins), rooms.get_mut(channel)) else {
        return Said::Taken;
    };
    if room.silences(who, s.addr(), now).is_some() {
        return Said::Not;
    }
    room.spend(who, now);
    match room.is_paced() {
        true => Said::Paced,
        false => Said::Taken,
    }
}

impl Server {
    /// Whether the user of session `s` may speak in `channel`, so give a reason when it quits:
    /// not when muted, or moderated without a voice, where the reason would speak for it.
    pub(super) fn may_say(&self, s: &Session, channel: &str) -> bool {
        let who = super::admin::who(s, &self.policy.admins);
        let room = self.rooms.get(channel);
        !who.zip(room)
            .is_some_and(|(who, room)| room.gagged(who, s.addr()))
    }

    /// Whether the user of `conn` may say why it leaves `channel`: as a Message of it would be
    /// taken there now (not muted, voiced where moderated, within the channel's rate), the
    /// reason being a line everyone there reads; it is then counted against that rate. Else
    /// the leave is told without it (found in review: reasons bypassed the rate).
    pub(super) fn leave_says(&mut self, conn: ConnId, channel: &str, now: Instant) -> bool {
        let Some(s) = self.sessions.get(conn).and_then(Option::as_deref) else {
            return false;
        };
        let said = says(&mut self.rooms, &self.policy.admins, s, channel, now);
        if said == Said::Paced {
            self.mark_paced(channel);
        }
        said != Said::Not
    }

    /// The quit of `user` (whose session `s` is closing, with `why`) from `channel`: without
    /// the reason where the user may not speak; the user's own reason (its Bye's) only where
    /// a Message of it would be taken, as a leave's (found by QA: a Bye's reason, 256 bytes a
    /// channel, went past the channel's rate at each reconnect). `big`: the channel had more
    /// than [`MAX_TOLD`] connections before it left.
    pub(super) fn quit(
        &mut self,
        s: &Session,
        channel: &Rc<str>,
        user: &Rc<str>,
        why: Why<'_>,
        big: bool,
    ) -> Option<Quit> {
        let why = match why {
            Why::Nothing => None,
            Why::Server(label) => Some(label).filter(|_| self.may_say(s, channel)),
            Why::User(reason, now) => {
                let said = says(&mut self.rooms, &self.policy.admins, s, channel, now);
                if said == Said::Paced {
                    self.mark_paced(channel);
                }
                Some(reason).filter(|_| said != Said::Not)
            }
        };
        Some(Quit::new(channel, user, why, big))
    }

    /// Tells `channel`'s subscribers that asked that `user` `did` it, after the quits not
    /// told yet, so that they come in the order they happened.
    pub(super) fn tell_members(&mut self, channel: &str, user: &str, did: Did<'_>, out: &mut impl Outbox) {
        self.tell_quits(out);
        match did {
            Did::Joined => self.tell(channel, user, "joined", (false, false), out),
            Did::Left(None) => self.tell(channel, user, "left", (true, false), out),
            Did::Left(Some(why)) => self.tell(channel, user, &format!("left {why}"), (true, false), out),
        }
    }

    /// Tells the quits waiting since their connections closed.
    pub(super) fn tell_quits(&mut self, out: &mut impl Outbox) {
        for q in std::mem::take(&mut self.quits) {
            self.tell(&q.channel, &q.user, &q.said, (true, q.big), out);
        }
    }

    /// Tells `text` of `user` to `channel`'s subscribers that asked; `gone` if `user` is no
    /// longer among them, `was_big` if the channel was past the bound when it went.
    fn tell(
        &mut self,
        channel: &str,
        user: &str,
        text: &str,
        (gone, was_big): (bool, bool),
        out: &mut impl Outbox,
    ) {
        let subscribers = self.channels.subscribers(channel);
        // The bound counts the one who joins or leaves: one who left is gone from the list.
        let counted = subscribers.len() + usize::from(gone);
        if subscribers.is_empty() {
            return;
        }
        // Members are shown only to those who run a channel with private members, or one past
        // the bound.
        let private = self.rooms.get(channel).is_some_and(|r| r.private_members());
        let big = was_big || counted > MAX_TOLD;
        let asked = |c: ConnId| {
            self.session(c)
                .is_some_and(|s| s.joins && s.user.as_deref() != Some(user))
                && ((!private && !big) || self.runs(c, channel))
        };
        let to: Vec<ConnId> = match big {
            // Their own connections, not a walk past every subscriber at each join: those in
            // the channel (the subscribers' list need not be asked that).
            true => self
                .runners(channel)
                .filter(|&c| self.session(c).is_some_and(|s| s.is_subscribed(channel)))
                .filter(|&c| asked(c) && !out.busy(c))
                .collect(),
            false => (subscribers.iter().copied())
                .filter(|&c| asked(c) && !out.busy(c))
                .collect(),
        };
        let (Ok(from), Ok(topic)) = (Name::parse(user), Name::parse(channel)) else {
            return;
        };
        if to.is_empty() {
            return;
        }
        let event = Unstored {
            from,
            topic,
            text,
            ctype: Some(MEMBER_CTYPE),
        };
        self.send_unstored(event, &to, None, self.now_ms, out);
    }

    /// The connections of the IDs that may run `channel` (its owner, its operators, the
    /// server's admins), subscribed or not, each once; whether they do now is the caller's
    /// to ask ([`Server::runs`]).
    fn runners<'a>(&'a self, channel: &str) -> impl Iterator<Item = ConnId> + 'a {
        let room = self.rooms.get(channel);
        let owner = room.map(|r| &*r.owner).into_iter();
        let ops = room.into_iter().flat_map(|r| r.rules().ops.iter().map(|o| &**o));
        let admins = self.policy.admins.iter().map(|a| &**a);
        let mut ids: Vec<&str> = owner.chain(ops).chain(admins).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .filter_map(|id| self.users.get(id))
            .flat_map(|u| u.conns.iter().copied())
    }
}
