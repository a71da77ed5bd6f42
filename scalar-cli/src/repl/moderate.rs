//! `/kick`, `/ban`, `/unban`, `/mute`, `/unmute`, `/op`, `/deop`, `/voice`, `/devoice`,
//! `/invite`, `/uninvite`, `/delete`, and the owner's `/transfer` and `/drop`: a Mod on a channel (the
//! current one, or the one named first) (PROTOCOL.md §4); `/block` and `/unblock` on one's own ID; and the other side of a
//! kick, a ban or a block, Error 803 `kicked`, after which this client is no longer in the
//! channel, or no longer watches the user who blocked it.

use super::shared::{Shared, Want};
use crate::names;
use scalar::proto::{Action, Mod, Msg, Name};

/// Sends the Mod for `action` on `target` (a user, or a pattern for bans and mutes, as typed)
/// in `channel`. The reply is the channel's record of it, which the network thread
/// shows like everyone else's ("you kicked bob (flooding)").
pub fn act(
    shared: &Shared,
    channel: &str,
    action: Action,
    targets: &str,
    reason: Option<&str>,
) -> Result<(), String> {
    // IRC's `/kick a,b,c` and `/ban a,b,c`: a raid is cleaned up a line at a time, not a name at
    // a time (found by QA: `/ban a b c` banned a, for the reason "b c"). No ID or address has a
    // comma. Each goes as its own Mod, in turn; one refused does not stop the rest.
    let list: Vec<&str> = match action {
        Action::Transfer | Action::Drop => vec![targets],
        _ => targets
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect(),
    };
    // Found by QA: `/ban a, b spam` banned a for the reason "b spam"; `/kick ,,,` did nothing.
    if targets.ends_with(',') || list.is_empty() {
        let when = match action {
            Action::Purge => " [WHEN]",
            Action::Ban | Action::Mute => " [FOR]",
            _ => "",
        };
        let label = action.label();
        return Err(format!(
            "usage: /{label} a,b,c{when} [REASON]: the names with commas and no spaces"
        ));
    }
    if list.len() > MAX_TARGETS {
        return Err(format!("at most {MAX_TARGETS} targets a line"));
    }
    // Kicking or banning oneself mid-list would leave the channel and refuse the rest for it.
    let me = shared.state().user.clone();
    let domain = shared.state().domain.clone();
    if list.len() > 1
        && list
            .iter()
            .any(|t| names::user(t, &domain).is_ok_and(|t| t == me))
    {
        return Err("you are in the list: take yourself out (or act on yourself alone)".into());
    }
    let failed: Vec<String> = list
        .into_iter()
        .filter_map(|target| act_on(shared, channel, action, target, reason).err())
        .collect();
    match failed.is_empty() {
        true => Ok(()),
        false => Err(failed.join("; ")),
    }
}

/// A time at the start of `text` (two words first, `2026-12-04 17:03`, as the purge's record
/// shows one, then one, `2h`: found in review, the date alone was taken and the clock became
/// the reason), and the rest; `None` if `text` starts with none.
fn leading_time(text: &str, now: u64) -> Option<(u64, Option<&str>)> {
    fn after(s: &str) -> Option<&str> {
        Some(s.trim()).filter(|s| !s.is_empty())
    }
    let (first, rest) = text.split_once(' ').unwrap_or((text, ""));
    let (second, beyond) = rest.split_once(' ').unwrap_or((rest, ""));
    let two = (!second.is_empty())
        .then(|| crate::timefmt::parse_when(&format!("{first} {second}"), now))
        .flatten();
    match two {
        Some(t) => Some((t, after(beyond))),
        None => crate::timefmt::parse_when(first, now).map(|t| (t, after(rest))),
    }
}

/// Targets one `/ban a,b,c` line may name: a screenful of raiders.
const MAX_TARGETS: usize = 50;

/// [`act`] on one target.
fn act_on(
    shared: &Shared,
    channel: &str,
    action: Action,
    target: &str,
    reason: Option<&str>,
) -> Result<(), String> {
    let domain = shared.state().domain.clone();
    let instead = " (/sban bans addresses, server-wide, for its admins)";
    match action {
        Action::Ban => names_ids(target, "ban", instead)?,
        Action::Mute => names_ids(target, "mute", instead)?,
        _ => {}
    }
    let target = match action {
        Action::Ban | Action::Unban | Action::Mute | Action::Unmute | Action::Purge => {
            names::pattern(target, &domain)?
        }
        _ => names::user(target, &domain)?,
    };
    let now = crate::timefmt::now_ms();
    if action == Action::Purge {
        // `/purge bob 2h spam`: a time first (as `/history since` takes them) says how far
        // back; without one, as far as the server goes (scalard: a week).
        if let Some((since, why)) = leading_time(reason.unwrap_or_default(), now) {
            return send_timed(shared, channel, action, &target, why, (Some(since), None));
        }
    }
    if matches!(action, Action::Ban | Action::Mute) {
        // `/ban bob 2h spam`, `/mute bob 10m`: a length first makes it end by itself, as a
        // Twitch timeout does; without one it lasts until lifted.
        let (first, rest) = reason
            .unwrap_or_default()
            .split_once(' ')
            .unwrap_or((reason.unwrap_or_default(), ""));
        if let Some(span) = crate::timefmt::ago_ms(first) {
            let why = Some(rest.trim()).filter(|r| !r.is_empty());
            return send_timed(shared, channel, action, &target, why, (None, Some(now + span)));
        }
    }
    send(shared, channel, action, &target, reason)
}

/// `/delete REF [REASON]`: an operator deletes a channel's message, found by its ref as
/// `/reply` finds it, from the history of its channel (PROTOCOL.md §4, Mod). The reply is the
/// record, shown as everyone's ("you deleted the message 1a7d96c1 (spam)").
pub fn delete(shared: &Shared, r: &str, reason: Option<&str>) -> Result<(), String> {
    if r.starts_with('#') {
        return Err("usage: /delete REF [REASON]: the message's ref says its channel".into());
    }
    let seen = shared.state().resolve_ref(r)?;
    if !seen.topic.starts_with('#') {
        return Err(format!(
            "{r} is not a channel's message: only those are deleted (your own, or any by the channel's operators)"
        ));
    }
    if seen.record {
        return Err(format!(
            "{r} is the channel's record of a change: records are its audit trail, never deleted"
        ));
    }
    let channel = super::exec::joined(shared, seen.topic)?;
    send(shared, &channel, Action::Delete, &seen.id.to_string(), reason)
}

/// `/sban` and `/sunban`: an admin's Mod on `!server@DOMAIN` (PROTOCOL.md §4, Server
/// admins); `target` is an address range as typed, or an ID pattern.
pub fn server_ban(shared: &Shared, action: Action, target: &str, reason: Option<&str>) -> Result<(), String> {
    let domain = shared.state().domain.clone();
    let target = match scalar::proto::pattern::parse_range(target) {
        Some(_) => target.to_string(),
        None => names::pattern(target, &domain)?,
    };
    send(shared, &format!("!server@{domain}"), action, &target, reason)
}

/// `/block` and `/unblock`: a Mod on this user's own ID (PROTOCOL.md §4, Blocks); `target` is
/// an ID pattern as typed. The reply, the record, is shown as "you blocked bob".
pub fn block(shared: &Shared, action: Action, target: &str, reason: Option<&str>) -> Result<(), String> {
    let (me, domain) = {
        let st = shared.state();
        (st.user.clone(), st.domain.clone())
    };
    if action == Action::Ban {
        names_ids(target, "block", "")?;
    }
    let target = names::pattern(target, &domain)?;
    send(shared, &me, action, &target, reason)
}

/// Refuses an address where a ban, mute or block names IDs: `127.0.0.1` would pass for a name
/// (`127.0.0.1@DOMAIN`) and hold nobody who connects from there (found by QA for `/ban`).
/// Lifting such a name, which an older client let through, still works.
fn names_ids(target: &str, what: &str, instead: &str) -> Result<(), String> {
    match scalar::proto::pattern::parse_range(target) {
        Some(_) => Err(format!(
            "{target}: a {what} names IDs (bob, *@spam.example), not addresses{instead}"
        )),
        None => Ok(()),
    }
}

/// Sends one Mod and waits for its record.
fn send(
    shared: &Shared,
    topic: &str,
    action: Action,
    target: &str,
    reason: Option<&str>,
) -> Result<(), String> {
    send_timed(shared, topic, action, target, reason, (None, None))
}

/// [`send`], with a purge's `since` or a ban's or mute's `until`.
fn send_timed(
    shared: &Shared,
    topic: &str,
    action: Action,
    target: &str,
    reason: Option<&str>,
    (since, until): (Option<u64>, Option<u64>),
) -> Result<(), String> {
    // On one's own ID a ban is a block.
    let verb = match (action, topic == shared.state().user) {
        (Action::Ban, true) => "block",
        (Action::Unban, true) => "unblock",
        _ => action.label(),
    };
    let domain = shared.state().domain.clone();
    let topic = Name::parse(topic).map_err(|e| format!("{topic}: {e}"))?;
    shared
        .request(Want::Reply, |seq| {
            Msg::Mod(Mod {
                until,
                seq,
                topic,
                action,
                target,
                reason,
                since,
            })
        })
        .map_err(|e| {
            let whom = match action {
                // An id: its ref, as shown before each message.
                Action::Delete => target.get(..8).unwrap_or(target).to_string(),
                _ => names::short_target(target, &domain).to_string(),
            };
            format!("cannot {verb} {whom}: {e}")
        })?;
    Ok(())
}

/// Error 803 `kicked`: an operator removed this connection from `topic` (PROTOCOL.md §4,
/// Channels). The channel is left, as after `/part`, so that `/join` asks the server again.
/// A server that leaves `topic` out still names the channel in the reason: then the first
/// joined channel the reason names is taken (a reason the operator typed comes after it).
pub fn kicked(shared: &Shared, topic: Option<&str>, reason: &str) {
    let mut st = shared.state();
    let channel = topic
        .or_else(|| {
            reason
                .split_whitespace()
                .map(|w| w.trim_end_matches([':', ',', ';', '.', ')']))
                .find(|w| st.subs.iter().any(|s| s == w))
        })
        .filter(|c| st.subs.iter().any(|s| s == c))
        .map(str::to_string);
    let Some(channel) = channel else {
        // A user this client watched blocked it (PROTOCOL.md §4, Blocks): watching it again
        // would be refused, and a reconnect must not try.
        let watched = topic
            .filter(|t| st.watching.iter().any(|w| w == t))
            .map(str::to_string);
        let Some(user) = watched else {
            drop(st);
            shared.screen.error(format!("803 kicked: {reason}"));
            return;
        };
        st.watching.retain(|w| *w != user);
        let short = names::short(&user, &st.domain).to_string();
        drop(st);
        shared
            .screen
            .error(format!("{reason}; you no longer watch {short}"));
        return;
    };
    let now = st.left_unasked(&channel);
    let short = names::short(&channel, &st.domain).to_string();
    drop(st);
    // 803 ends a ban's victims' subscriptions too; only the reason tells (scalard's begins
    // "banned from"), and joining again would only be refused.
    let back = match reason.starts_with("banned from") {
        true => "an operator can unban you".to_string(),
        false => format!("/join {short} to go back"),
    };
    shared
        .screen
        .error(format!("{reason}; you are no longer in {short} ({back}){now}"));
}

#[cfg(test)]
mod tests {
    /// `/purge raid* 2026-12-04 17:03 raid`: the two-word time, then the reason (found in
    /// review: the date alone was taken, and the clock became the reason).
    #[test]
    fn a_purge_s_time_may_be_one_word_or_two() {
        let now = crate::timefmt::parse_time("2026-12-06T12:00:00Z").unwrap_or_default();
        let at = |s| crate::timefmt::parse_when(s, now);
        let lead = |s| super::leading_time(s, now);
        assert_eq!(
            lead("2026-12-04 17:03 raid now"),
            Some((at("2026-12-04 17:03").unwrap_or_default(), Some("raid now")))
        );
        assert_eq!(
            lead("2026-12-04 17:03"),
            Some((at("2026-12-04 17:03").unwrap_or_default(), None))
        );
        assert_eq!(lead("2h spam"), Some((now - 7_200_000, Some("spam"))));
        assert_eq!(lead("2h"), Some((now - 7_200_000, None)));
        assert_eq!(lead("spam from 2h"), None, "a reason, and the server's reach");
    }
}
