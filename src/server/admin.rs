//! Server operators: configured admin IDs (who must have logged in to act) run every channel,
//! ban IDs and address ranges server-wide (Mod on `!server@DOMAIN`), speak to every
//! connection (`!wall@DOMAIN`) and set the message of the day (`!motd@DOMAIN`), which every
//! session receives right after its Ident reply.

use super::room::Who;
use super::{ConnId, Now, Outbox, Server};
use crate::proto::pattern::{TargetFault, in_range, is_pattern, matches, parse_range};
use crate::proto::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::rc::Rc;

/// Server bans admins may set with Mod (those of the configuration file are apart): every new
/// connection is checked against the address ranges among them and every Ident against the
/// patterns, one by one.
pub const MAX_SERVER_BANS: usize = 1_000;

/// A server-wide ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerBan {
    /// User IDs matching a pattern.
    Id(Box<str>),
    /// Connections from an address range.
    Net(IpAddr, u8),
}

impl std::fmt::Display for ServerBan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerBan::Id(p) => f.write_str(p),
            ServerBan::Net(net, prefix) => write!(f, "{net}/{prefix}"),
        }
    }
}

impl ServerBan {
    /// A ban as written: an ID pattern or an address range (`ADDR/PREFIX`).
    pub fn parse(s: &str) -> Option<Self> {
        if let Some((net, prefix)) = parse_range(s) {
            return Some(ServerBan::Net(net, prefix));
        }
        is_pattern(s).then(|| ServerBan::Id(s.into()))
    }

    /// Whether a connection from `addr` as `user` (if identified) is banned.
    pub fn hits(&self, addr: IpAddr, user: Option<&str>) -> bool {
        match self {
            ServerBan::Id(p) => user.is_some_and(|u| matches(p, u)),
            ServerBan::Net(net, prefix) => in_range(addr, *net, *prefix),
        }
    }
}

/// Whether `topic` is a server's `!server@` name, where admins ban (Mod) and list the bans
/// (Targets).
pub(super) fn is_server(topic: Name<'_>) -> bool {
    topic.kind() == Kind::Reserved && topic.local() == "server"
}

/// Why an admin on `peer` of the server of `domain` must not ban `ban`, if they must not: it
/// would cut them off, every client of this machine, or every user.
fn self_ban(ban: &ServerBan, peer: IpAddr, domain: &str) -> Option<String> {
    // Loopback first: no other address makes that one possible.
    let why = ban.bans_everyone(domain).or_else(|| ban.holds_loopback());
    let peer = peer.to_canonical();
    why.or_else(|| {
        ban.hits(peer, None).then(|| {
            format!(
                "{ban} holds your own address {peer}: it would cut you off too (ban from \
                 another address if you mean it)"
            )
        })
    })
}

impl ServerBan {
    /// Why no one may set this ban on the server of `domain`, if so: `*@DOMAIN`, `*@*`,
    /// `*@local*` match every user (but admins), whose clients then stop reconnecting, so that
    /// lifting it brings nobody back. A slip, never what an admin means. Refused from admins
    /// and from the configuration alike.
    pub fn bans_everyone(&self, domain: &str) -> Option<String> {
        let ServerBan::Id(p) = self else { return None };
        let (local, host) = p.split_once('@')?;
        (local.chars().all(|c| c == '*') && crate::proto::pattern::matches(host, domain))
            .then(|| format!("{self} would ban every user of this server"))
    }

    /// Why no one may set this ban, if so: it holds loopback, and would cut off this machine's
    /// own clients, where an admin can always connect from. Refused from admins and from the
    /// configuration alike.
    pub fn holds_loopback(&self) -> Option<String> {
        let loopback: [IpAddr; 2] = [Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
        // Any of 127.0.0.0/8 (a range that starts in it lies in it, or holds all of it).
        let in_127 = matches!(self, ServerBan::Net(net, _) if crate::proto::is_loopback(*net));
        (in_127 || loopback.iter().any(|&a| self.hits(a, None))).then(|| {
            format!("{self} holds loopback: it would cut off this machine's own clients, admins included")
        })
    }
}

/// What SIGHUP reloads from the configuration, without dropping connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Admin user IDs.
    pub admins: Vec<Box<str>>,
    /// Bans from the configuration file (those set with Mod are kept apart).
    pub bans: Vec<ServerBan>,
    /// The message of the day from the configuration, if any.
    pub motd: Option<Box<str>>,
}

/// The message of the day, as its Event.
#[derive(Debug, Clone)]
pub(super) struct Motd {
    pub(super) text: Box<str>,
    pub(super) from: Box<str>,
    pub(super) time: u64,
}

/// The session `s` as a channel judges it, with the server's `admins`: an admin is a
/// configured ID that logged in with a password (or a token), so that nobody can become one
/// by taking a free name. `None` before Ident.
pub(super) fn who<'a>(s: &'a super::session::Session, admins: &[Box<str>]) -> Option<Who<'a>> {
    let user = s.user.as_deref()?;
    Some(Who {
        user,
        logged_in: s.logged_in,
        admin: s.logged_in && admins.iter().any(|a| &**a == user),
    })
}

impl Server {
    /// Whether the session on `conn` is an admin's (see [`who`]).
    pub(super) fn is_admin(&self, conn: ConnId) -> bool {
        self.who(conn).is_some_and(|w| w.admin)
    }

    /// The session on `conn` as a channel judges it; `None` before Ident.
    pub(super) fn who(&self, conn: ConnId) -> Option<Who<'_>> {
        who(self.session(conn)?, &self.policy.admins)
    }

    /// The ID `user` as a channel judges the best of its sessions (logged in if one is): the
    /// role a member list shows for it.
    pub(super) fn who_is<'a>(&self, user: &'a str) -> Who<'a> {
        let sessions = self.users.get(user).map(|a| a.conns.iter()).into_iter().flatten();
        let logged_in = sessions.filter_map(|&c| self.session(c)).any(|s| s.logged_in);
        Who {
            user,
            logged_in,
            admin: logged_in && self.policy.admins.iter().any(|a| &**a == user),
        }
    }

    /// Applies a (re)loaded policy: admins, configured bans (closing the sessions they now
    /// hit), the configured message of the day. Limits are left as they are.
    pub fn set_policy(&mut self, policy: Policy, now: &Now, out: &mut impl Outbox) {
        self.see(now);
        let configured: Box<str> = format!("!motd@{}", self.domain).into();
        match &policy.motd {
            // Unchanged text keeps its time (and so its id): clients show it once.
            Some(text)
                if self
                    .motd
                    .as_ref()
                    .is_some_and(|m| m.text == *text && m.from == configured) => {}
            // A reload that leaves the file's motd as it was leaves an admin's set since: a
            // certificate renewal's reload must not undo it (found by QA).
            Some(text) if self.policy.motd.as_ref() == Some(text) => {}
            // Saved too, so that it replaces an admin's saved one across a restart as well.
            Some(text) => {
                self.motd = Some(Motd {
                    text: text.clone(),
                    from: configured,
                    time: self.now_ms,
                });
                self.motd_changed();
            }
            // The configuration no longer sets one: a configured one goes, an admin's stays.
            None if self.motd.as_ref().is_some_and(|m| m.from == configured) => {
                self.motd = None;
                self.motd_changed();
            }
            None => {}
        }
        // The file's line was not the only one: said, or the operator would think it lifted.
        let kept = |b: &&ServerBan| !policy.bans.contains(b) && self.bans.contains(b);
        for ban in self.policy.bans.iter().filter(kept) {
            log::warn!(
                "server ban {ban} left the configuration but stays: an admin banned it too (lift it with an admin's unban, /sunban in scalar-cli)"
            );
        }
        self.policy = policy;
        // An admin's ban of a configured one, from a scalard that kept its setter but did not
        // save it as the admin's (before 2026-12-07): the admin's now, as it is listed
        // (review 214: else it still went with the file's line, the list saying "by" them).
        let unsaved: Vec<ServerBan> = (self.policy.bans.iter())
            .filter(|b| !self.bans.contains(b) && self.ban_setters.contains_key(&*b.to_string()))
            .cloned()
            .collect();
        for ban in unsaved
            .into_iter()
            .take(MAX_SERVER_BANS.saturating_sub(self.bans.len()))
        {
            self.bans.push(ban);
            self.bans_changed();
        }
        // Reasons and setters outlive their bans only where a ban went another way than an
        // unban: out of the configuration, or lifted offline by an older `scalard ban del`.
        let bans: std::collections::HashSet<String> = self
            .policy
            .bans
            .iter()
            .chain(&self.bans)
            .map(ToString::to_string)
            .collect();
        let stale = |b: &str| !bans.contains(b);
        if self.ban_reasons.keys().any(|b| stale(b)) || self.ban_setters.keys().any(|b| stale(b)) {
            self.ban_reasons.retain(|b, _| bans.contains(&**b));
            self.ban_setters.retain(|b, _| bans.contains(&**b));
            self.bans_changed();
        }
        self.enforce_server_bans(out);
        // An admin's name is nobody's to use without its login, from now on too.
        for admin in self.policy.admins.clone() {
            self.close_unproven(&admin, &format!("{admin} is reserved: log in"), out);
        }
        self.warn_accountless_admins();
    }

    /// Logs each configured admin of this server's domain that has no account yet: nobody
    /// holds its rights until the operator creates it (clients may not register an admin's
    /// name). Other domains' admins log in with their home server's tokens.
    pub(super) fn warn_accountless_admins(&self) {
        let accounts = &self.accounts;
        let names = accounts
            .available
            .then_some(|id: &str| accounts.names.contains_key(id));
        for warning in accountless_admins(&self.policy.admins, &self.domain, names, accounts.dir.as_deref()) {
            log::warn!("{warning}");
        }
    }

    /// The ban that keeps out a connection from `addr` (as `user`), if any.
    fn server_ban(&self, addr: IpAddr, user: Option<&str>) -> Option<&ServerBan> {
        self.policy
            .bans
            .iter()
            .chain(&self.bans)
            .find(|b| b.hits(addr, user))
    }

    /// What those `ban` keeps out are told: with the admin's reason, if one was given.
    fn banned_because(&self, ban: &ServerBan) -> String {
        match self.ban_reasons.get(&*ban.to_string()) {
            Some(r) => clip(&format!("banned from this server: {r}"), MAX_REASON).to_string(),
            None => "banned from this server".to_string(),
        }
    }

    /// At accept: whether `addr` is banned, and what it is told if it is.
    pub(super) fn banned_addr(&self, addr: IpAddr) -> Option<String> {
        self.server_ban(addr, None).map(|b| self.banned_because(b))
    }

    /// At Ident: whether `user` from `conn` is banned; if so it is refused and closed.
    pub(super) fn refuse_banned(
        &mut self,
        conn: ConnId,
        user: &str,
        seq: Option<u32>,
        out: &mut impl Outbox,
    ) -> bool {
        let Some(s) = self.session(conn) else {
            return false;
        };
        // A configured admin who logged in is not kept out by an ID ban (say `*@domain`), so
        // it can always come back and lift it; address bans still apply.
        let admin = s.logged_in && self.policy.admins.iter().any(|a| &**a == user);
        let user = (!admin).then_some(user);
        let Some(why) = self.server_ban(s.peer, user).map(|b| self.banned_because(b)) else {
            return false;
        };
        self.fail(conn, seq, ErrorCode::BannedFromServer, &why, out);
        true
    }

    /// Closes every session a server ban now hits.
    fn enforce_server_bans(&mut self, out: &mut impl Outbox) {
        let hit: Vec<(ConnId, String)> = (0..self.sessions.len())
            .filter_map(|c| {
                let admin = self.is_admin(c);
                let s = self.session(c)?;
                let user = s.user.as_deref().filter(|_| !admin);
                self.server_ban(s.peer, user).map(|b| (c, self.banned_because(b)))
            })
            .collect();
        if !hit.is_empty() {
            // Said once, with the first few: an operator's ban should show what it did.
            let who: Vec<String> = hit
                .iter()
                .take(10)
                .filter_map(|&(c, _)| self.session(c))
                .map(|s| {
                    s.user
                        .as_deref()
                        .map_or_else(|| s.peer.to_string(), str::to_string)
                })
                .collect();
            let more = if hit.len() > who.len() { ", ..." } else { "" };
            log::info!(
                "server bans closed {} session(s): {}{more}",
                hit.len(),
                who.join(", ")
            );
        }
        for (conn, why) in hit {
            self.fail(conn, None, ErrorCode::BannedFromServer, &why, out);
        }
    }

    /// Mod on `!server@DOMAIN`: an admin bans or unbans an ID pattern or an address range
    /// (at most [`MAX_SERVER_BANS`] set this way).
    pub(super) fn moderate_server(&mut self, conn: ConnId, m: Mod<'_>, now: &Now, out: &mut impl Outbox) {
        if let Some((code, reason)) = self.foreign(m.topic) {
            return self.fail(conn, m.seq, code, &reason, out);
        }
        if !self.is_admin(conn) {
            return self.fail(
                conn,
                m.seq,
                ErrorCode::NotOperator,
                "only server admins ban and disconnect server-wide",
                out,
            );
        }
        // A kill saves nothing: a failing store does not keep an admin from it.
        if m.action == Action::Kick {
            return self.kill(conn, m, now, out);
        }
        if let Some((code, reason)) = self.refuse_unsaved() {
            return self.fail(conn, m.seq, code, &reason, out);
        }
        // The action first: a delete's target (an id) is no pattern either, and would be told
        // so rather than what is wrong (found in review).
        if !matches!(m.action, Action::Ban | Action::Unban) {
            let reason = format!(
                "{} is for channels; the server only kicks, bans and unbans",
                m.action.label()
            );
            return self.fail(conn, m.seq, ErrorCode::BadId, &reason, out);
        }
        let Some(ban) = ServerBan::parse(m.target) else {
            let why = format!("{}: {}", m.target, TargetFault::of(m.target));
            return self.fail(conn, m.seq, ErrorCode::BadId, &why, out);
        };
        match m.action {
            // Address bans spare nobody, admins included: one holding the admin's own address
            // would cut them off, and from then on every admin who connects from there; one
            // holding loopback, this machine's own clients (where an admin can always go).
            Action::Ban
                if let Some(why) = self
                    .session(conn)
                    .and_then(|s| self_ban(&ban, s.peer, &self.domain)) =>
            {
                return self.fail(conn, m.seq, ErrorCode::BadId, &why, out);
            }
            // A new ban only: an unban lifts the range as the ban was first written, as
            // `scalard ban del` does.
            Action::Ban if let Some(why) = crate::proto::pattern::range_fault(m.target) => {
                return self.fail(conn, m.seq, ErrorCode::BadId, &why, out);
            }
            Action::Ban if self.bans.len() >= MAX_SERVER_BANS && !self.bans.contains(&ban) => {
                let reason = format!("the server holds {MAX_SERVER_BANS} bans already");
                return self.fail(conn, m.seq, ErrorCode::ListFull, &reason, out);
            }
            // Saved even where the configuration holds it too: the admin's ban is the admin's,
            // and outlives the file's line until an admin lifts it (found by QA: listed as the
            // admin's, it went with the line, and nobody was told).
            Action::Ban => {
                match m.reason.filter(|r| !r.is_empty()) {
                    Some(r) => self.ban_reasons.insert(ban.to_string().into(), r.into()),
                    None => self.ban_reasons.remove(&*ban.to_string()),
                };
                // The latest ban of it, as a channel's list says.
                if let Some(admin) = self.session(conn).and_then(|s| s.user.clone()) {
                    self.ban_setters
                        .insert(ban.to_string().into(), (admin, now.unix_ms));
                }
                if !self.bans.contains(&ban) {
                    self.bans.push(ban);
                }
            }
            // One from the configuration would stay: the record would say it went. The
            // admins' own ban of it goes, so that removing it there is enough; its reason
            // stays, told to those the configuration keeps out.
            Action::Unban if self.policy.bans.contains(&ban) => {
                let own = self.bans.contains(&ban);
                let set = self.ban_setters.remove(&*ban.to_string()).is_some();
                self.bans.retain(|b| *b != ban);
                if own || set {
                    self.bans_changed();
                }
                // The admins' own ban went: said, and logged as any unban (review 214).
                let own = match own {
                    true => {
                        let by = self
                            .session(conn)
                            .and_then(|s| s.user.clone())
                            .unwrap_or_default();
                        log::warn!("{by}: server unban {ban} (its own; the configuration's stays)");
                        "the admins' ban of it is lifted, but it "
                    }
                    false => "it ",
                };
                let reason =
                    format!("{ban}: {own}is in the server's configuration file: remove it there and reload");
                return self.fail(conn, m.seq, ErrorCode::BadId, &reason, out);
            }
            Action::Unban if !self.bans.contains(&ban) => {
                let reason = format!("{ban} is not banned from this server: nothing to undo");
                return self.fail(conn, m.seq, ErrorCode::NoSuchUser, &reason, out);
            }
            // Unban: the only other action, checked above.
            _ => {
                self.bans.retain(|b| *b != ban);
                self.ban_reasons.remove(&*ban.to_string());
                self.ban_setters.remove(&*ban.to_string());
            }
        }
        // Marked first: with `--fsync always` the record waits for the save (`announce`).
        self.bans_changed();
        let by = self.server_record(conn, &m, now, out);
        log::warn!("{by}: server {} {}", m.action.label(), m.target);
        self.enforce_server_bans(out);
    }

    /// Sends the record of `m`, an admin's Mod on `!server@`, to the admin alone (its reply);
    /// returns the admin's ID, for the log.
    fn server_record(&mut self, conn: ConnId, m: &Mod<'_>, now: &Now, out: &mut impl Outbox) -> Rc<str> {
        let text = super::moderation::record_text(m);
        // To the admin alone, not `everyone`.
        let ctype = Some(super::MOD_CTYPE);
        self.announce(conn, m.seq, m.topic, &text, ctype, false, now, out);
        self.session(conn)
            .and_then(|s| s.user.clone())
            .unwrap_or_default()
    }

    /// An admin's kick on `!server@`: IRC's KILL. Every connection of the target ID is closed
    /// (809), and nothing keeps it from connecting again; the record goes to the admin alone.
    fn kill(&mut self, conn: ConnId, m: Mod<'_>, now: &Now, out: &mut impl Outbox) {
        let refusal = match Name::parse(m.target) {
            Ok(n) if n.kind() == Kind::User => None,
            _ => Some((
                ErrorCode::BadId,
                format!("{} is not a user ID: a kick names one user", m.target),
            )),
        };
        let refusal = refusal.or_else(|| {
            let admin = self.policy.admins.iter().any(|a| &**a == m.target);
            admin.then(|| {
                (
                    ErrorCode::NotOperator,
                    format!(
                        "{} is a server admin: admins do not disconnect each other",
                        m.target
                    ),
                )
            })
        });
        let conns = self
            .users
            .get(m.target)
            .map(|u| u.conns.to_vec())
            .unwrap_or_default();
        let refusal = refusal.or_else(|| {
            conns.is_empty().then(|| {
                (
                    ErrorCode::NoSuchUser,
                    format!("{} has no connection here", m.target),
                )
            })
        });
        if let Some((code, reason)) = refusal {
            return self.fail(conn, m.seq, code, &reason, out);
        }
        let by = self.server_record(conn, &m, now, out);
        let why = m.reason.map(|r| format!(": {r}")).unwrap_or_default();
        // Debug-quoted, as walls are: the reason is what a client typed.
        let logged = m.reason.map(|r| format!(": {r:?}")).unwrap_or_default();
        log::warn!(
            "{by}: server kick {} ({} connections){logged}",
            m.target,
            conns.len()
        );
        let told = format!("disconnected by the server admin {by}{why}");
        for c in conns {
            self.fail(c, None, ErrorCode::Killed, &told, out);
        }
    }

    /// A Message to a reserved topic: an admin's wall or message of the day; anyone else is
    /// refused as before.
    pub(super) fn publish_reserved(
        &mut self,
        conn: ConnId,
        m: Message<'_>,
        now: &Now,
        out: &mut impl Outbox,
    ) {
        let Body::Text(text) = m.body else {
            return self.fail(
                conn,
                m.seq,
                ErrorCode::Reserved,
                "walls and the motd are text",
                out,
            );
        };
        match m.topic.local() {
            "wall" => self.announce(conn, m.seq, m.topic, text, m.ctype, true, now, out),
            "motd" if let Some((code, reason)) = self.refuse_unsaved() => {
                self.fail(conn, m.seq, code, &reason, out)
            }
            "motd" => {
                let from = self
                    .session(conn)
                    .and_then(|s| s.user.as_deref().map(Box::from))
                    .unwrap_or_default();
                self.motd = (!text.is_empty()).then(|| Motd {
                    text: text.into(),
                    from,
                    time: now.unix_ms,
                });
                self.motd_changed();
                self.announce(conn, m.seq, m.topic, text, m.ctype, false, now, out);
            }
            _ => self.fail(
                conn,
                m.seq,
                ErrorCode::Reserved,
                "reserved topics cannot be published to",
                out,
            ),
        }
    }

    /// Whether a Message to a reserved topic is an admin's wall or motd.
    pub(super) fn admin_topic(&self, conn: ConnId, topic: Name<'_>) -> bool {
        topic.kind() == Kind::Reserved
            && matches!(topic.local(), "wall" | "motd")
            && self.foreign(topic).is_none()
            && self.is_admin(conn)
    }

    /// An Event from the admin on `conn` on a reserved topic: to every identified connection
    /// (`everyone`) or the admin alone, echoed with `seq`. Not stored: it is the server's
    /// voice, not a conversation.
    #[allow(clippy::too_many_arguments)]
    fn announce(
        &mut self,
        conn: ConnId,
        seq: Option<u32>,
        topic: Name<'_>,
        text: &str,
        ctype: Option<&str>,
        everyone: bool,
        now: &Now,
        out: &mut impl Outbox,
    ) {
        let Some(from) = self.session(conn).and_then(|s| s.user.clone()) else {
            return;
        };
        let Ok(from) = Name::parse(&from) else { return };
        // An admin's word to everyone, kept in the log as their bans are. Debug-quoted: it
        // is what a client typed.
        // (A server ban's record is logged where it is applied.)
        match (everyone, ctype == Some(super::MOD_CTYPE), text.is_empty()) {
            (true, _, _) => log::warn!("{from}: wall {text:?}"),
            (false, true, _) => {}
            (false, false, false) => log::warn!("{from}: motd {text:?}"),
            (false, false, true) => log::warn!("{from}: motd removed"),
        }
        let to: Vec<ConnId> = match everyone {
            true => (0..self.sessions.len())
                .filter(|&c| self.session(c).is_some_and(|s| s.user.is_some()))
                .collect(),
            false => Vec::new(),
        };
        let event = super::presence::Unstored {
            from,
            topic,
            text,
            ctype,
        };
        match everyone {
            true => self.send_unstored(event, &to, Some((conn, seq)), now.unix_ms, out),
            // A change kept in the server's state (a server ban, the motd).
            false => self.send_saved(event, &to, (conn, seq), now.unix_ms, out),
        }
    }

    /// Right after an Ident reply: the message of the day, if there is one.
    pub(super) fn send_motd(&mut self, conn: ConnId, out: &mut impl Outbox) {
        let Some(motd) = &self.motd else { return };
        let topic = format!("!motd@{}", self.domain);
        let (Ok(topic), Ok(from)) = (Name::parse(&topic), Name::parse(&motd.from)) else {
            return;
        };
        let body = Body::Text(&motd.text);
        let event = Event {
            seq: None,
            topic,
            from,
            time: motd.time,
            id: MsgId::compute(from.as_str(), topic.as_str(), motd.time, body, None, None),
            body,
            ctype: None,
            reply_to: None,
        };
        out.reply(conn, &Msg::Event(event));
    }
}

/// What to say of each of `admins` of `domain` that has no account (`has` says which have; none
/// for a server without accounts, where no admin can act), the store being in `dir`: the
/// server's log at start and reload, and `scalard check`, say the same.
pub fn accountless_admins(
    admins: &[Box<str>],
    domain: &str,
    has: Option<impl Fn(&str) -> bool>,
    dir: Option<&str>,
) -> Vec<String> {
    let local = admins
        .iter()
        .filter(|id| id.rsplit_once('@').is_some_and(|(_, d)| d == domain));
    let Some(has) = has else {
        return local
            .map(|admin| {
                format!(
                    "admin {admin} can never act: an admin logs in, and a server without a data \
                     directory (--ephemeral) keeps no accounts; nobody may use the name"
                )
            })
            .collect();
    };
    // The data directory and the domain too: without them the command would make the
    // account elsewhere, or refuse an ID of another domain than its default.
    let dir = match dir {
        Some(d) => format!(" --data-dir {} --domain {domain}", shell_word(d)),
        None => format!(" --domain {domain}"),
    };
    local
        .filter(|admin| !has(admin))
        .map(|admin| {
            format!("admin {admin} has no account: create it with `scalard account add {admin}{dir}`")
        })
        .collect()
}

/// `s` as one word of a POSIX shell command line: as it is when that is safe, else in single
/// quotes.
fn shell_word(s: &str) -> std::borrow::Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c);
    match !s.is_empty() && s.chars().all(plain) {
        true => s.into(),
        false => format!("'{}'", s.replace('\'', "'\\''")).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From loopback, a range holding it is refused for what it is: no other address makes it
    /// possible (the hint to ban from another address would mislead).
    #[test]
    fn a_ban_holding_the_admins_loopback_says_loopback() {
        let local: IpAddr = Ipv4Addr::LOCALHOST.into();
        let ban = ServerBan::parse("127.0.0.0/8").unwrap();
        let why = self_ban(&ban, local, "x.org").unwrap();
        assert!(why.contains("holds loopback"), "{why}");
        let own: IpAddr = Ipv4Addr::new(192, 0, 2, 7).into();
        let ban = ServerBan::parse("192.0.2.0/24").unwrap();
        let why = self_ban(&ban, own, "x.org").unwrap();
        assert!(why.contains("your own address 192.0.2.7"), "{why}");
        let ban = ServerBan::parse("*@x.org").unwrap();
        assert!(self_ban(&ban, own, "x.org").unwrap().contains("every user"));
    }

    #[test]
    fn a_path_is_one_word_of_the_command_suggested() {
        assert_eq!(shell_word("/var/lib/scalard"), "/var/lib/scalard");
        assert_eq!(shell_word("/srv/my data"), "'/srv/my data'");
        assert_eq!(shell_word("/srv/it's"), r"'/srv/it'\''s'");
        assert_eq!(shell_word("/x/$HOME"), "'/x/$HOME'");
        assert_eq!(shell_word(""), "''");
    }
}
