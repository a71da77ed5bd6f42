//! `/kick`, `/ban`, `/unban`, `/mute`, `/unmute`, `/op`, `/deop`, `/voice`, `/devoice`,
//! `/invite`, `/uninvite`, `/delete`, and the owner's `/transfer` and `/drop`: a Mod on a channel (the
//! current one, or the one named first) (PROTOCOL.md §4); `/block` and `/unblock` on one's own ID; and the other side of a
//! kick, a ban or a block, Error 803 `kicked`, after which this client is no longer in the
//! channel, or no longer watches the user who blocked it.

use super::shared::{ReqError, Shared, Want};
use crate::conn::NetError;
use crate::names;
use scalar::proto::{Action, ErrorCode, Mod, Msg, Name, SetMeta, modes};

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
    if action == Action::Transfer && !transfer_confirmed(shared, channel, targets) {
        return Ok(());
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
        false => Err(merged(action.label(), failed).join("; ")),
    }
}

/// The refusals of a list's Mods, those refused in a row for the same reason named together
/// (`cannot ban a, b and c: server refused: 800 not_operator: not an operator of #k@…`).
/// Found by QA's raid drill: a `/ban` of 50 raiders by an operator deopped meanwhile, or past
/// the channel's 500 bans, put the same refusal on one line 50 times, several screens of it.
/// A refusal names its target in its head (`cannot ban a`), never after the colon but in the
/// server's reason, which then differs from the next one's and is kept whole.
fn merged(label: &str, failed: Vec<String>) -> Vec<String> {
    let head = format!("cannot {label} ");
    // (targets, the reason after them), or a line of another form kept as it is.
    let mut runs: Vec<(Vec<String>, String)> = Vec::new();
    for line in failed {
        let split = (line.strip_prefix(&head))
            .and_then(|rest| rest.split_once(": "))
            .map(|(whom, why)| (whom.to_string(), why.to_string()));
        match (split, runs.last_mut()) {
            (Some((whom, why)), Some((whoms, last))) if !whoms.is_empty() && *last == why => {
                whoms.push(whom);
            }
            (Some((whom, why)), _) => runs.push((vec![whom], why)),
            // A refusal of the line itself, the same for every name (`/ban a,b,c 1h30m`: the
            // length), said once: found in review, it came once a name.
            (None, Some((whoms, last))) if whoms.is_empty() && *last == line => {}
            (None, _) => runs.push((Vec::new(), line)),
        }
    }
    (runs.into_iter())
        .map(|(whoms, why)| match whoms.is_empty() {
            true => why,
            false => format!("{head}{}: {why}", super::catchup::and_list(&whoms)),
        })
        .collect()
}

/// Whether `/transfer TARGET` in `channel` may go: at a terminal only when typed a second
/// time within [`CONFIRM_WITHIN`] (asked the first time); a script's at once. Only the new
/// owner or an admin could hand it back (found by QA: a slip made a muted troll the owner,
/// who deopped the operators). `/drop` asks for the owner's ID for the same reason.
fn transfer_confirmed(shared: &Shared, channel: &str, target: &str) -> bool {
    if !shared.tty {
        return true;
    }
    let mut asked = shared.transfer_asked.lock().unwrap_or_else(|e| e.into_inner());
    let now = std::time::Instant::now();
    let again = asked.as_ref().is_some_and(|(c, t, at)| {
        c == channel && t.eq_ignore_ascii_case(target) && now.duration_since(*at) < CONFIRM_WITHIN
    });
    *asked = match again {
        true => None,
        false => Some((channel.to_string(), target.to_string(), now)),
    };
    drop(asked);
    if !again {
        let short = names::short(channel, &shared.state().domain).to_string();
        shared.screen.info(format!(
            "hand {short} over to {target}? They would own it, and only they or a server admin \
             could give it back (you stay an operator): type /transfer {target} again within a \
             minute to do it"
        ));
    }
    again
}

/// How long a first `/transfer` waits for its confirmation.
const CONFIRM_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

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
        // The zone a record names after it (`2026-12-04 17:03:00 CET`), pasted too.
        Some(t) => match beyond.split_once(' ').unwrap_or((beyond, "")) {
            (zone, rest) if !zone.is_empty() && zone == crate::timefmt::zone_at(t) => Some((t, after(rest))),
            _ => Some((t, after(beyond))),
        },
        None => crate::timefmt::parse_when(first, now).map(|t| (t, after(rest))),
    }
}

/// A ban's or mute's length at the start of `reason` (`10m`, `2h`, `3d`, `1w`, `30s`) and the
/// reason after it; `None` if it starts with none. A first word that is a number and letters
/// but no length (`30x`, `1h30m`), a zero one, or one past a year is an error: found in review,
/// each made a ban for good with the word as its reason.
fn leading_span(reason: &str) -> Result<Option<(u64, Option<&str>)>, String> {
    let (first, rest) = reason.split_once(' ').unwrap_or((reason, ""));
    let why = Some(rest.trim()).filter(|r| !r.is_empty());
    match span_ms(first) {
        Some(0) => Err(format!("{first}: a ban or mute for no time at all")),
        Some(ms) if ms > MAX_SPAN_MS => Err(format!(
            "{first}: a ban or mute lasts a year at most (366d); without a length it lasts until lifted"
        )),
        Some(ms) => Ok(Some((ms, why))),
        // A number (signed, or in other digits), then letters: meant as a length (`1.5h`,
        // `-5m`, `2nd` too: better said than a ban for good).
        None if first.trim_start_matches(['+', '-']).starts_with(char::is_numeric)
            && first.contains(char::is_alphabetic) =>
        {
            Err(format!(
                "{first} is not a length: a number and s, m, h, d or w (10m, 2h, 3d, 1w)"
            ))
        }
        // `10 m`, `5 min`: a length with a space (found by QA).
        None if first.chars().all(|c| c.is_ascii_digit())
            && let Some(unit) = rest.split(' ').next().filter(|w| is_unit(w)) =>
        {
            Err(format!(
                "{first} {unit}: write a length without a space (10m, 2h, 3d, 1w)"
            ))
        }
        // `/ban bob 30`: a number alone is a length whose unit was forgotten, not a reason
        // (found in review; `/ban bob 2 links` stays a reason).
        None if !first.is_empty() && first.chars().all(|c| c.is_ascii_digit()) && rest.trim().is_empty() => {
            Err(format!(
                "{first} needs a unit: s, m, h, d or w ({first}m, {first}h, ...)"
            ))
        }
        None => Ok(None),
    }
}

/// Whether `word` names a unit of time, as someone typing a length with a space would.
fn is_unit(word: &str) -> bool {
    const UNITS: [&str; 23] = [
        "s", "sec", "secs", "second", "seconds", "m", "min", "mins", "minute", "minutes", "h", "hr", "hrs",
        "hour", "hours", "d", "day", "days", "w", "wk", "wks", "week", "weeks",
    ];
    UNITS.contains(&word.to_lowercase().trim_end_matches('.'))
}

/// `30s`, `10m`, `2h`, `3d`, `1w` (any case) in ms, however large (`u64::MAX` past it); `None`
/// for anything else.
fn span_ms(word: &str) -> Option<u64> {
    let word = word.to_ascii_lowercase();
    let unit: u64 = match word.chars().last()? {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 7 * 86_400_000,
        _ => return None,
    };
    // The unit is one ASCII byte.
    let n = word.get(..word.len() - 1)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(n.parse::<u64>().map_or(u64::MAX, |n| n.saturating_mul(unit)))
}

/// The longest ban or mute scalard takes: 366 days (PROTOCOL.md §4, Mod).
const MAX_SPAN_MS: u64 = 366 * 86_400_000;

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
    // Every list a pattern is added to: `/except 192.0.2.1` was taken as the user
    // 192.0.2.1@DOMAIN, and listed as if it were the address (found by QA).
    let what = match action {
        Action::Ban => Some("a ban"),
        Action::Mute => Some("a mute"),
        Action::Invite => Some("an invitation"),
        Action::Except => Some("an exception"),
        _ => None,
    };
    if let Some(what) = what {
        names_ids(target, what, instead)?;
    }
    // `/ban 10m`: the name was forgotten (found by QA: it banned a user named 10m for good).
    // Such a user is still named in full, `10m@DOMAIN`.
    if matches!(action, Action::Ban | Action::Mute) && span_ms(target).is_some() {
        let label = action.label();
        return Err(format!(
            "{target} is a length: /{label} NAME {target} [REASON] ({target}@{domain} for a user so named)"
        ));
    }
    let target = match action.takes_pattern() {
        true => names::pattern(target, &domain)?,
        false => names::user(target, &domain)?,
    };
    // The server's clock, as far as this client can tell: the server checks `until` and
    // `since` against it (found by QA: a client 10 minutes slow set every timeout 10 minutes
    // short, and a 5-minute one was refused as past).
    let now = shared.state().server_now();
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
        if let Some((span, why)) = leading_span(reason.unwrap_or_default())? {
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

/// `/sban`, `/sunban` and `/kill`: an admin's Mod on `!server@DOMAIN` (PROTOCOL.md §4, Server
/// admins); `target` is an address range as typed, or an ID pattern, or for a kill a user.
pub fn server_ban(shared: &Shared, action: Action, target: &str, reason: Option<&str>) -> Result<(), String> {
    let domain = shared.state().domain.clone();
    let target = server_target(action, target, &domain)?;
    send(shared, &format!("!server@{domain}"), action, &target, reason)
}

/// The target of a server-wide Mod as typed: a user for a kill; an address range; else an ID
/// pattern, completed with `domain`. Err says what is wrong with it: an address with a bad
/// prefix or a zone is said to be one, not "not a user ID or ID pattern".
fn server_target(action: Action, target: &str, domain: &str) -> Result<String, String> {
    use scalar::proto::pattern::{parse_range, typed_fault};
    match parse_range(target) {
        _ if action == Action::Kick => names::user(target, domain),
        Some(_) => Ok(target.to_string()),
        None => match typed_fault(&target.to_ascii_lowercase()) {
            // `/sban 10.0.0` (an address mistyped) would ban the ID 10.0.0@DOMAIN.
            Some(f) if f.is_address() => Err(format!("{target}: {f}")),
            _ => names::pattern(target, domain),
        },
    }
}

/// `/block` and `/unblock`: a Mod on this user's own ID (PROTOCOL.md §4, Blocks); `target` is
/// an ID pattern as typed. The reply, the record, is shown as "you blocked bob".
pub fn block(shared: &Shared, action: Action, target: &str, reason: Option<&str>) -> Result<(), String> {
    let (me, domain) = {
        let st = shared.state();
        (st.user.clone(), st.domain.clone())
    };
    if action == Action::Ban {
        names_ids(target, "a block", "")?;
    }
    let target = names::pattern(target, &domain)?;
    send(shared, &me, action, &target, reason)
}

/// What `/dms` tells a user of another domain, whose ID's modes are its home server's (401 here).
const VISITOR_DMS: &str =
    "a user of another domain chooses whom it takes direct messages from on its home server";

/// `/dms [accounts|anyone]`: whether this user takes direct messages only from users who
/// logged in (its ID's mode registered-only: PROTOCOL.md §4, Blocks), or sets it. The server's
/// record ("you now take direct messages only from users who logged in") says it is done.
pub fn dms(shared: &Shared, only_accounts: Option<bool>) -> Result<(), String> {
    let (me, logged_in, domain) = {
        let st = shared.state();
        (st.user.clone(), st.logged_in, st.domain.clone())
    };
    // Found by QA: a user of another domain, who did log in (at home), was told to log in.
    let visitor = me.rsplit_once('@').is_some_and(|(_, d)| d != domain);
    let asked =
        super::presence::asked_meta(shared, &me).map_err(|e| format!("cannot ask the server: {e}"))?;
    let on = asked.modes & modes::REGISTERED_ONLY != 0;
    let from = |on: bool| match on {
        true => "only from users who logged in",
        false => "from anyone",
    };
    let Some(want) = only_accounts else {
        let other = match (on, logged_in) {
            (true, _) => "/dms anyone",
            (false, true) => "/dms accounts: only from users who logged in",
            // Only an account's session sets it (805 otherwise): said before it is tried.
            (false, false) if visitor => VISITOR_DMS,
            (false, false) => "log in to an account to take them only from users who logged in",
        };
        shared
            .screen
            .info(format!("you take direct messages {} ({other})", from(on)));
        return Ok(());
    };
    if want == on {
        shared.screen.info(format!(
            "you take direct messages {} already: nothing to change",
            from(on)
        ));
        return Ok(());
    }
    if !logged_in {
        return Err(match visitor {
            true => VISITOR_DMS.into(),
            false => {
                "only a session logged in to an account chooses whom it takes direct messages from".into()
            }
        });
    }
    let topic = Name::parse(&me).map_err(|e| format!("{me}: {e}"))?;
    let set = SetMeta {
        seq: None,
        topic,
        display: None,
        subject: None,
        modes: Some(if want { modes::REGISTERED_ONLY } else { 0 }),
        rate: None,
        join_rate: None,
    };
    match shared.request(Want::Reply, |seq| Msg::SetMeta(SetMeta { seq, ..set })) {
        Ok(_) => Ok(()),
        // A server older than the mode answers as for any SetMeta that is not a channel's.
        Err(ReqError::Net(NetError::Refused { code, .. })) if code == ErrorCode::NotSubscribable as u16 => {
            Err("this server cannot do that (it is older than the registered-only mode of users)".into())
        }
        Err(e) => Err(format!("cannot change whom you take direct messages from: {e}")),
    }
}

/// Refuses an address where a ban, mute, invitation, exception or block names IDs: `127.0.0.1` would pass for a name
/// (`127.0.0.1@DOMAIN`) and hold nobody who connects from there (found by QA for `/ban`).
/// Lifting such a name, which an older client let through, still works.
fn names_ids(target: &str, what: &str, instead: &str) -> Result<(), String> {
    match scalar::proto::pattern::parse_range(target) {
        Some(_) => Err(format!(
            "{target}: {what} names IDs (bob, *@spam.example), not addresses{instead}"
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
    // On one's own ID a ban is a block. On the server's name it is a server ban, and a kick
    // is `/kill`: found by QA's raid drill, a refused `/kill rita` read "cannot kick rita",
    // and a refused `/sban` "cannot ban", as if of the current channel.
    let server_wide = topic.starts_with("!server@");
    let (verb, wide) = match (action, topic == shared.state().user, server_wide) {
        (Action::Ban, true, _) => ("block", ""),
        (Action::Unban, true, _) => ("unblock", ""),
        (Action::Kick, _, true) => ("disconnect", " from the server"),
        (Action::Ban, _, true) => ("ban", " from the server"),
        (Action::Unban, _, true) => ("lift the server ban of", ""),
        _ => (action.label(), ""),
    };
    let domain = shared.state().domain.clone();
    let topic = Name::parse(topic).map_err(|e| format!("{topic}: {e}"))?;
    let record = shared
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
            format!("cannot {verb} {whom}{wide}: {e}")
        })?;
    // A server older than timed bans ignores `until` and bans for good (found in review): its
    // record is a plain ban's, and the operator must know.
    let plain = match record.msg() {
        Ok(Msg::Event(e)) => matches!(e.body, scalar::proto::Body::Text(t) if !t.contains("-until ")),
        _ => false,
    };
    if until.is_some() && plain {
        let whom = names::short_target(target, &domain);
        let done = if action == Action::Ban { "banned" } else { "muted" };
        return Err(format!(
            "the server does not take a length: {whom} is {done} until lifted (/un{verb} {whom} lifts it)"
        ));
    }
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
    // Read before leaving, which forgets them.
    let modes = st.modes.get(&channel).copied().unwrap_or(0);
    let closed = match modes {
        m if m & scalar::proto::modes::INVITE_ONLY != 0 => Some("it is invite-only"),
        m if m & scalar::proto::modes::REGISTERED_ONLY != 0 && !st.logged_in => {
            Some("it admits only users who logged in")
        }
        _ => None,
    };
    let now = st.left_unasked(&channel);
    let short = names::short(&channel, &st.domain).to_string();
    drop(st);
    // 803 ends a ban's victims' subscriptions too; only the reason tells (scalard's begins
    // "banned from"), and joining again would only be refused.
    let back = match (reason.starts_with("banned from"), closed) {
        // A timed ban's reason says until when (scalard: `... until 2026-12-06 14:30:00 UTC`).
        (true, _) if reason.contains(" UTC") && reason.contains(" until ") => {
            "the ban ends by itself then, or an operator can unban you".to_string()
        }
        (true, _) => "an operator can unban you".to_string(),
        // The server lets back only the invited and operators (PROTOCOL.md §4, Sub; found in
        // review: `/join` was offered, and refused with 804).
        (false, Some(why)) => {
            format!("{why}: /join {short} lets you back in only if you are invited or an operator")
        }
        (false, None) => format!("/join {short} to go back"),
    };
    shared
        .screen
        .error(format!("{reason}; you are no longer in {short} ({back}){now}"));
    super::paced::forget(shared, &channel, "you were removed from it");
}

#[cfg(test)]
mod tests {
    use scalar::proto::Action;

    /// `/sban 10.0.0.0/33` was "not a user ID or ID pattern": it is an address range with a
    /// prefix too long.
    #[test]
    fn a_server_ban_s_target_says_what_is_wrong_with_it() {
        let t = |s| super::server_target(Action::Ban, s, "localhost");
        assert_eq!(
            t("10.0.0.0/33"),
            Err("10.0.0.0/33: the prefix length is at most 32".into())
        );
        assert_eq!(
            t("fe80::1%eth0"),
            Err("fe80::1%eth0: an address range has no zone (%...)".into())
        );
        assert_eq!(t("192.0.2.0/24"), Ok("192.0.2.0/24".into()));
        assert_eq!(t("Spam*"), Ok("spam*@localhost".into()));
        assert!(t("sp am").is_err_and(|e| e.contains("not a user ID or ID pattern")));
        assert!(
            t("192.0.2.300").is_err_and(|e| e.starts_with("192.0.2.300: not an address")),
            "an address mistyped is not the ID 192.0.2.300@localhost"
        );
        assert!(
            t("10.0.0.*").is_err_and(|e| e.starts_with("10.0.0.*: not an address")),
            "IRC's range is not the ID pattern 10.0.0.*@localhost"
        );
        assert_eq!(
            t("10.0.0@localhost"),
            Ok("10.0.0@localhost".into()),
            "written whole"
        );
    }

    /// A list's refusals for one reason in a row are one line; others stay as they were
    /// (QA's raid drill: the same refusal 50 times).
    #[test]
    fn a_list_s_refusals_for_one_reason_are_said_once() {
        let why = "server refused: 800 not_operator: not an operator of #k@l";
        let line = |t: &str| format!("cannot ban {t}: {why}");
        let got = super::merged(
            "ban",
            vec![
                line("a"),
                line("b"),
                "c: a ban names IDs (bob, *@spam.example), not addresses".into(),
                line("d"),
                "cannot ban olga: server refused: 800 not_operator: olga@l owns #k@l".into(),
                line("e"),
                line("f"),
            ],
        );
        assert_eq!(
            got,
            [
                format!("cannot ban a and b: {why}"),
                "c: a ban names IDs (bob, *@spam.example), not addresses".into(),
                line("d"),
                "cannot ban olga: server refused: 800 not_operator: olga@l owns #k@l".into(),
                format!("cannot ban e and f: {why}"),
            ]
        );
        let three = super::merged("ban", vec![line("a"), line("b"), line("c")]);
        assert_eq!(three, [format!("cannot ban a, b and c: {why}")]);
        // A refusal that names no one, the same for each name, is said once.
        let length = "1h30m is not a length: a number and s, m, h, d or w (10m, 2h, 3d, 1w)";
        let got = super::merged("ban", vec![length.into(), length.into(), length.into()]);
        assert_eq!(got, [length]);
    }

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
        // A record's time pasted with its zone (review 214): the zone is no reason.
        let t = at("2026-12-04 17:03:00").unwrap_or_default();
        let zone = crate::timefmt::zone_at(t);
        let (pasted, alone) = (
            format!("2026-12-04 17:03:00 {zone} raid"),
            format!("2026-12-04 17:03:00 {zone}"),
        );
        assert_eq!(lead(&pasted), Some((t, Some("raid"))));
        assert_eq!(lead(&alone), Some((t, None)));
    }

    #[test]
    fn a_ban_s_length_comes_first_and_a_mistyped_one_is_said() {
        use super::{MAX_SPAN_MS, leading_span};
        assert_eq!(leading_span("2h spam"), Ok(Some((7_200_000, Some("spam")))));
        assert_eq!(leading_span("10M"), Ok(Some((600_000, None))));
        assert_eq!(leading_span("30s"), Ok(Some((30_000, None))));
        assert_eq!(leading_span("1w raid"), Ok(Some((7 * 86_400_000, Some("raid")))));
        assert_eq!(leading_span("spam"), Ok(None));
        assert_eq!(leading_span(""), Ok(None));
        assert_eq!(
            leading_span("2 spammers"),
            Ok(None),
            "a number alone is a reason's"
        );
        assert_eq!(leading_span("r2d2 spam"), Ok(None));
        for bad in [
            "-5m",
            "+5m",
            "１０m",
            "10 m",
            "5 min spam",
            "30",
            "30x",
            "1h30m",
            "0m",
            "367d",
            "90min",
            "1.5h",
            "527041m",
            "99999999999999999999d",
        ] {
            assert!(leading_span(bad).is_err(), "{bad}");
        }
        assert!(leading_span("366d").is_ok());
        assert_eq!(leading_span("527040m"), Ok(Some((MAX_SPAN_MS, None))), "366 days");
    }
}
