//! Presence (PROTOCOL.md §4): `/status` tells whoever watches this user that it is away or
//! back (SetPresence), `/watch` and `/unwatch` follow another user's (Sub and Unsub on its ID).
//! The Events that say so are shown as sentences ([`crate::notice`]: "bob is away: lunch").
//!
//! The server forgets both with the connection, so a reconnection watches again and says
//! again that this user is away ([`restore`]).

use super::catchup::ask;
use super::command::StatusSet;
use super::shared::{Shared, Want};
use crate::conn::{Conn, NetError};
use crate::event::Received;
use crate::names;
use scalar::proto::{Msg, Name, Presence, SetPresence, Sub};

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
        Some(StatusSet::Back) => (Presence::Online, None),
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

/// This user's away note as the server has it (`Some(None)`: here), asked with a Meta of its
/// own ID: an Unsub, which changes nothing when not watching oneself, else a Sub, which is
/// then a repeat. `None` when the server cannot be asked (offline) or did not say.
fn away_as_the_server_says(shared: &Shared) -> Option<Option<String>> {
    let (me, watching_me) = {
        let st = shared.state();
        (st.user.clone(), st.watching.contains(&st.user))
    };
    let topic = Name::parse(&me).ok()?;
    let frame = shared
        .request(Want::Reply, |seq| {
            let sub = Sub { seq, topic };
            if watching_me {
                Msg::Sub(sub)
            } else {
                Msg::Unsub(sub)
            }
        })
        .ok()?;
    let Ok(Msg::Meta(m)) = frame.msg() else {
        return None;
    };
    match m.presence? {
        Presence::Away => Some(Some(m.reason.unwrap_or_default().to_string())),
        _ => Some(None),
    }
}

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
            if on { Msg::Sub(sub) } else { Msg::Unsub(sub) }
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
/// [`show_restored`].
pub(super) fn restore(
    shared: &Shared,
    conn: &mut Conn,
    held: &mut Vec<Received>,
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
                shared.screen.error(format!("cannot watch {user} again: {e}"));
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
            shared
                .screen
                .error(format!("cannot say again that you are away: {e}"));
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
