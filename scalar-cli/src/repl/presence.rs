//! Presence (PROTOCOL.md §4): `/status` tells whoever watches this user that it is away or
//! back (SetPresence), `/watch` and `/unwatch` follow another user's (Sub and Unsub on its ID).
//! The Events that say so are shown as sentences ([`crate::notice`]: "bob is away: lunch").
//!
//! The server forgets both with the connection, so a reconnection watches again and says
//! again that this user is away ([`restore`]), as another of its clients last said it
//! ([`learn`]).

use super::catchup::ask;
use super::command::StatusSet;
use super::shared::{Shared, Want};
use crate::conn::{Conn, NetError};
use crate::event::Received;
use crate::names;
use scalar::proto::{Msg, Name, Presence, SetPresence, Sub};
use std::time::{Duration, Instant};

/// `/status [away [NOTE] | back]`: says it, or shows what was said. The reply is the presence
/// Event watchers get too, which the network thread shows ("you are away: lunch").
pub fn status(shared: &Shared, set: Option<StatusSet<'_>>) -> Result<(), String> {
    let (presence, reason) = match set {
        None => {
            // The server's word when it can be had: another connection of this user may have
            // said away or back since.
            if let Some(away) = away_as_the_server_says(shared) {
                shared.state().away = away;
            }
            let line = match &shared.state().away {
                None => "you are here (online); /status away [NOTE] says you are not".to_string(),
                Some(n) if n.is_empty() => "you are away; /status back says you are here".into(),
                Some(n) => format!("you are away: {n}; /status back says you are here"),
            };
            shared.screen.info(crate::render::clean_line(&line));
            return Ok(());
        }
        Some(StatusSet::Away(note)) => (Presence::Away, note),
        Some(StatusSet::Back) => {
            // `/away` alone is IRC's "back": typed by one who is not away (meaning to be,
            // say), the server's reply, "you are online", read as coming back from nothing
            // (review). The server's word first: another connection may have said away.
            let here = shared.state().away.is_none();
            if here && away_as_the_server_says(shared) == Some(None) {
                shared
                    .screen
                    .info("you are not away, so nothing changed; /away NOTE or /status away says you are");
                return Ok(());
            }
            (Presence::Online, None)
        }
    };
    shared
        .request(Want::Reply, |seq| {
            Msg::SetPresence(SetPresence {
                seq,
                presence,
                reason,
            })
        })
        .map_err(|e| format!("cannot set your status: {e}"))?;
    shared.state().away = (presence == Presence::Away).then(|| reason.unwrap_or_default().to_string());
    Ok(())
}

/// This user's away note as the server has it (`Some(None)`: here). `None` when the server
/// cannot be asked (offline) or did not say.
fn away_as_the_server_says(shared: &Shared) -> Option<Option<String>> {
    let me = shared.state().user.clone();
    match presence_now(shared, &me)? {
        (Some(Presence::Away), note) => Some(Some(note.unwrap_or_default())),
        (Some(_), _) => Some(None),
        (None, _) => None,
    }
}

/// Takes this user's presence as said on another of its connections (a carbon copy of the
/// presence Event, PROTOCOL.md §4), so that a reconnection says again what holds now rather
/// than what this client last set. A user's quit from a channel makes what was learnt of it
/// for direct messages ([`absent_line`]) stale: the next one asks again (found by QA: a
/// message right after `-!- sam quit` was not said to wait for sam).
pub(super) fn learn(shared: &Shared, e: &Received) {
    let crate::event::Content::Text(body) = &e.content else {
        return;
    };
    if e.ctype.as_deref() == Some(scalar::server::MEMBER_CTYPE)
        && (body == "quit" || body.starts_with("quit "))
    {
        shared.state().absent.remove(&e.from);
        return;
    }
    if e.ctype.as_deref() != Some(scalar::server::PRESENCE_CTYPE) || e.from != e.topic {
        return;
    }
    let mut st = shared.state();
    if e.from == st.user {
        st.away = match body.split_once(' ') {
            Some(("away", note)) => Some(note.to_string()),
            None if body == "away" => Some(String::new()),
            _ => None,
        };
    }
}

/// `user`'s presence and away note as the server has them now, asked with a Meta of its ID:
/// an Unsub, which changes nothing when not watching it, else a Sub, which is then a repeat.
/// `None` when the server cannot be asked (offline) or did not answer with a Meta.
fn presence_now(shared: &Shared, user: &str) -> Option<(Option<Presence>, Option<String>)> {
    asked_meta(shared, user).ok().map(|a| (a.presence, a.note))
}

/// What a user ID's Meta says of it (PROTOCOL.md §4, Sub): its presence and away note,
/// whether its holder proved it and is an admin, and its modes.
pub(super) struct Asked {
    presence: Option<Presence>,
    note: Option<String>,
    account: Option<bool>,
    admin: bool,
    /// Its ID's modes (registered-only: direct messages only from users who logged in).
    pub modes: u64,
}

/// [`presence_now`] with the rest of the Meta, or why the server could not be asked or did
/// not answer.
pub(super) fn asked_meta(shared: &Shared, user: &str) -> Result<Asked, String> {
    let watching = shared.state().watching.iter().any(|w| w == user);
    let topic = Name::parse(user).map_err(|e| format!("{user}: {e}"))?;
    let frame = shared
        .request(Want::Reply, |seq| {
            let sub = Sub { seq, topic };
            if watching {
                Msg::Sub(sub)
            } else {
                Msg::Unsub(sub.undo())
            }
        })
        .map_err(|e| e.to_string())?;
    let Ok(Msg::Meta(m)) = frame.msg() else {
        return Err("the server answered with something else".into());
    };
    Ok(Asked {
        presence: m.presence,
        note: m.reason.map(str::to_string),
        account: m.account,
        admin: m.admin == Some(true),
        modes: m.modes.unwrap_or(0),
    })
}

/// `/whois USER`: USER's presence and away note as the server has them now, as IRC's WHOIS
/// answers with the away message, and whether this client watches USER.
pub fn whois(shared: &Shared, typed: &str) -> Result<(), String> {
    let domain = shared.state().domain.clone();
    let user = names::user(typed, &domain)?;
    let short = names::short(&user, &domain).to_string();
    // Presence is the home server's (PROTOCOL.md §4, Presence); an Unsub of another domain's
    // ID would be answered as if the user were offline.
    if !user.ends_with(&format!("@{domain}")) {
        return Err(format!(
            "{short} is a user of another server: this one does not say whether it is online"
        ));
    }
    let asked = asked_meta(shared, &user).map_err(|e| format!("cannot ask about {short}: {e}"))?;
    let presence = asked.presence;
    let now = match (presence, asked.note.filter(|n| !n.is_empty())) {
        (Some(Presence::Away), Some(note)) => format!("{short} is away: {note}"),
        (Some(p), _) => format!("{short} is {}", p.label()),
        // A user who blocks this one (PROTOCOL.md §4, Blocks) is not said.
        (None, _) => format!("the server does not say whether {short} is online"),
    };
    // Who it is: the moderator, or a look-alike free name (found by QA: `m0d` read as `mod`).
    let guest = short.starts_with("guest-");
    let now = match (asked.account, asked.admin) {
        (_, true) => format!("{now} (an account; a server admin)"),
        (Some(true), false) => format!("{now} (an account)"),
        // A guest's name is the server's to give: not anyone's to take, but no account.
        (Some(false), false) if guest => format!("{now} (a guest: no account)"),
        (Some(false), false) => format!("{now} (no account: anyone may take this name)"),
        // A server that does not say.
        (None, false) => now,
    };
    // Said before one writes, rather than learnt from a refusal.
    let now = match asked.modes & scalar::proto::modes::REGISTERED_ONLY != 0 {
        true => format!("{now}; takes direct messages only from users who logged in"),
        false => now,
    };
    let (watching, yourself) = {
        let st = shared.state();
        (st.watching.contains(&user), st.user == user)
    };
    // No /watch offered where the server would refuse it (a block) or of oneself.
    let watched = match (watching, presence.is_some() && !yourself) {
        (true, _) => format!("; you watch {short}"),
        (false, true) => format!("; /watch {short} to be told when that changes"),
        (false, false) => String::new(),
    };
    shared
        .screen
        .info(crate::render::clean_line(&format!("{now}{watched}")));
    Ok(())
}

/// Before a direct message to `user`, whom this client does not watch: the line to say once
/// the server took it, if `user` is offline (then the server keeps it for them: PROTOCOL.md
/// §4, Message) or away (with its note), as IRC servers answer a PRIVMSG to an away user
/// ([`presence_now`]). Asked before the message, not after: one who reads it and leaves at
/// once is not offline when it is sent (found by QA: a script's `listen --count 1` was said
/// to have messages waiting). Asked at most every [`ASK_AGAIN`], and said again only when it
/// changed or [`SAY_AGAIN`] passed, so a conversation is neither a request nor a note a line.
pub fn absent_line(shared: &Shared, user: &str) -> Option<String> {
    let (domain, skip) = {
        let st = shared.state();
        let local = user.rsplit_once('@').is_some_and(|(_, d)| d == st.domain);
        // Watching says it already; another domain's users are not this server's to ask.
        let watched = st.user == user || st.watching.iter().any(|w| w == user);
        let asked = st.absent.get(user).is_some_and(|a| a.asked.elapsed() < ASK_AGAIN);
        (st.domain.clone(), !local || watched || asked)
    };
    if skip {
        return None;
    }
    let presence = presence_now(shared, user)?;
    let short = names::short(user, &domain).to_string();
    let line = match &presence {
        (Some(Presence::Offline), _) => Some(format!(
            "{short} is offline: what you send waits for them on the server"
        )),
        (Some(Presence::Away), Some(note)) if !note.is_empty() => Some(format!("{short} is away: {note}")),
        (Some(Presence::Away), _) => Some(format!("{short} is away")),
        _ => None,
    };
    let now = Instant::now();
    let mut st = shared.state();
    let before = st.absent.remove(user);
    let repeat = before
        .as_ref()
        .is_some_and(|b| b.presence == presence && b.said.is_some_and(|t| t.elapsed() < SAY_AGAIN));
    // Said only once the message is sent ([`said`]): a failed send shows no line, and must
    // not keep the next one quiet (found in review).
    let said = match &line {
        Some(_) => before.and_then(|b| b.said),
        None => None,
    };
    if st.absent.len() >= MAX_ABSENT {
        st.absent.clear();
    }
    st.absent.insert(
        user.to_string(),
        Absence {
            presence,
            asked: now,
            said,
        },
    );
    drop(st);
    line.filter(|_| !repeat).map(|l| crate::render::clean_line(&l))
}

/// The line [`absent_line`] gave for `user` was shown: not said again for [`SAY_AGAIN`]
/// unless it changes.
pub fn said(shared: &Shared, user: &str) {
    if let Some(a) = shared.state().absent.get_mut(user) {
        a.said = Some(Instant::now());
    }
}

/// What [`absent_line`] last learnt of a user.
#[derive(Debug, Clone)]
pub struct Absence {
    /// The presence the Meta said, and the away note.
    presence: (Option<Presence>, Option<String>),
    /// When it was asked.
    asked: Instant,
    /// When it was last said, if it was not here.
    said: Option<Instant>,
}

/// How long after asking a user's presence it is not asked again.
const ASK_AGAIN: Duration = Duration::from_secs(10);
/// How long a user's absence, once said, is not said again while it lasts.
const SAY_AGAIN: Duration = Duration::from_secs(60);
/// The most users remembered; past it all are forgotten.
const MAX_ABSENT: usize = 256;

/// "bob (online)", or "bob" when the server did not say.
fn presence_of(user: &str, presence: Option<Presence>, domain: &str) -> String {
    let short = names::short(user, domain);
    match presence {
        Some(p) => format!("{short} ({})", p.label()),
        None => short.to_string(),
    }
}

/// `/watch USER` and `/unwatch USER`: Sub or Unsub on the user's ID.
pub fn watch(shared: &Shared, typed: &str, on: bool) -> Result<(), String> {
    let domain = shared.state().domain.clone();
    let user = names::user(typed, &domain)?;
    let topic = Name::parse(&user).map_err(|e| format!("{user}: {e}"))?;
    let short = names::short(&user, &domain).to_string();
    let frame = shared
        .request(Want::Reply, |seq| {
            let sub = Sub { seq, topic };
            if on { Msg::Sub(sub) } else { Msg::Unsub(sub.undo()) }
        })
        .map_err(|e| format!("cannot {} {short}: {e}", if on { "watch" } else { "unwatch" }))?;
    let mut st = shared.state();
    let was = st.watching.contains(&user);
    st.watching.retain(|w| *w != user);
    if !on {
        drop(st);
        shared.screen.info(match was {
            true => format!("no longer watching {short}"),
            false => format!("you were not watching {short}"),
        });
        return Ok(());
    }
    st.watching.push(user.clone());
    drop(st);
    let presence = match frame.msg() {
        Ok(Msg::Meta(m)) => m.presence,
        _ => None,
    };
    shared.screen.info(format!(
        "watching {}; /unwatch {short} stops",
        presence_of(&user, presence, &domain)
    ));
    Ok(())
}

/// On a fresh connection after a reconnect: watches again every user watched, and says again
/// that this user is away if it was. Returns each watched user's presence now, for
/// [`show_restored`]; what the server refused goes to `refusals`.
pub(super) fn restore(
    shared: &Shared,
    conn: &mut Conn,
    held: &mut Vec<Received>,
    refusals: &mut Vec<String>,
) -> Result<Vec<(String, Option<Presence>)>, NetError> {
    let (watching, away) = {
        let st = shared.state();
        (st.watching.clone(), st.away.clone())
    };
    let mut now = Vec::new();
    for user in watching {
        let Ok(topic) = Name::parse(&user) else { continue };
        match ask(shared, conn, held, |seq| Msg::Sub(Sub { seq, topic }))? {
            Ok(frame) => {
                let presence = match frame.msg() {
                    Ok(Msg::Meta(m)) => m.presence,
                    _ => None,
                };
                now.push((user, presence));
            }
            Err(e) => {
                refusals.push(format!("cannot watch {user} again: {e}"));
                shared.state().watching.retain(|w| *w != user);
            }
        }
    }
    if let Some(note) = away {
        let reason = (!note.is_empty()).then_some(note.as_str());
        let away = |seq| {
            Msg::SetPresence(SetPresence {
                seq,
                presence: Presence::Away,
                reason,
            })
        };
        if let Err(e) = ask(shared, conn, held, away)? {
            refusals.push(format!("cannot say again that you are away: {e}"));
        }
    }
    Ok(now)
}

/// After a reconnect: the presence of every user watched, as it is now (what changed while
/// the connection was down was not seen).
pub(super) fn show_restored(shared: &Shared, watched: &[(String, Option<Presence>)]) {
    if watched.is_empty() {
        return;
    }
    let domain = shared.state().domain.clone();
    let list: Vec<String> = watched.iter().map(|(u, p)| presence_of(u, *p, &domain)).collect();
    shared
        .screen
        .info(format!("reconnected: watching {}", list.join(", ")));
}
