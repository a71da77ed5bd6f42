//! Accounts and tokens (§4 Authentication, Other domains) with an account the run is given
//! (`--account ID:PASSWORD`); skipped without one. Passwords go over loopback or TLS only
//! (§1): run these against a server on this machine.

use super::*;

fn account(x: &Ctx) -> Option<(&str, &str)> {
    x.account.as_ref().map(|(i, p)| (i.as_str(), p.as_str()))
}

fn skip() -> Result<Verdict, Fail> {
    Ok(Verdict::Skip("give --account ID:PASSWORD to run it".into()))
}

/// Ident with `auth` 1; returns the Challenge's nonce.
fn challenge(c: &mut Raw, id: &str) -> Result<Value, Fail> {
    let v = ident_with_auth(c, id, &[])?;
    let nonce = get(&v, 30).and_then(Value::as_bytes).filter(|n| n.len() == 32);
    match (kind(&v), uint(&v, 1), uint(&v, 29), nonce) {
        (Some(16), Some(1), Some(1), Some(n)) => Ok(Value::Bytes(n.clone())),
        _ => Err(format!(
            "expected a Challenge with a 32-byte nonce, got {}",
            show(&v)
        )),
    }
}

/// Ident with `auth` 1 and `extra` keys (after `auth`'s); the reply.
fn ident_with_auth(c: &mut Raw, id: &str, extra: &[(u64, Value)]) -> Result<Value, Fail> {
    let mut fields = vec![(29, u(1))];
    fields.extend_from_slice(extra);
    c.send_ident_with(id, &fields)?;
    c.reply()
}

fn auth(c: &mut Raw, nonce: Value, password: &str) -> Result<Value, Fail> {
    c.send(&map(&[(0, u(17)), (1, u(2)), (30, nonce), (31, t(password))]))?;
    c.reply()
}

/// A connection logged in to the account.
pub(super) fn logged_in(x: &Ctx, id: &str, pw: &str) -> Result<Raw, Fail> {
    let mut c = x.raw()?;
    let nonce = challenge(&mut c, id)?;
    let v = auth(&mut c, nonce, pw)?;
    match (kind(&v), text(&v, 12), uint(&v, 1)) {
        (Some(1), Some(user), Some(2)) if user == id => Ok(c),
        _ => Err(format!("expected the Ident reply for {id}, got {}", show(&v))),
    }
}

pub(super) fn a_right_password_logs_in(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    logged_in(x, id, pw)?;
    Ok(Pass)
}

pub(super) fn a_wrong_password_is_601(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let mut c = x.raw()?;
    let nonce = challenge(&mut c, id)?;
    let v = auth(&mut c, nonce, &format!("{pw}-wrong"))?;
    match (kind(&v), uint(&v, 9), uint(&v, 1)) {
        (Some(3), Some(601), Some(2)) => Ok(Pass),
        _ => Err(format!("expected Error 601, got {}", show(&v))),
    }
}

pub(super) fn a_replayed_auth_is_606(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let mut c = x.raw()?;
    let nonce = challenge(&mut c, id)?;
    auth(&mut c, nonce.clone(), &format!("{pw}-wrong"))?;
    let v = auth(&mut c, nonce, pw)?;
    match (kind(&v), uint(&v, 9)) {
        (Some(3), Some(606)) => Ok(Pass),
        _ => Err(format!(
            "the same nonce twice: expected Error 606, got {}",
            show(&v)
        )),
    }
}

/// An Ident during a Challenge starts over: the new nonce logs in, the old one is stale.
pub(super) fn an_ident_during_a_challenge_starts_over(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    for old in [false, true] {
        let mut c = x.raw()?;
        let first = challenge(&mut c, id)?;
        let second = challenge(&mut c, id)?;
        if first == second {
            return Err("a second Challenge with the first one's nonce".into());
        }
        let v = auth(&mut c, if old { first } else { second }, pw)?;
        match (old, kind(&v), uint(&v, 9), text(&v, 12)) {
            (true, Some(3), Some(606), _) => {}
            (false, Some(1), _, Some(user)) if user == id => {}
            _ => {
                let which = if old {
                    "first (expected 606)"
                } else {
                    "second (expected the Ident reply)"
                };
                return Err(format!("Auth with the {which} nonce: got {}", show(&v)));
            }
        }
    }
    Ok(Pass)
}

pub(super) fn a_registered_name_without_its_password_is_600(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, _)) = account(x) else { return skip() };
    let mut c = x.raw()?;
    c.send(&map(&[
        (0, u(1)),
        (1, u(1)),
        (11, Value::Array(vec![u(1)])),
        (12, t(id)),
    ]))?;
    c.expect_error(600, Some(1))?;
    Ok(Pass)
}

pub(super) fn a_token_is_vouched_for_its_audience_only(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let mut c = logged_in(x, id, pw)?;
    c.send(&map(&[(0, u(18)), (1, u(3)), (13, t("audience.invalid"))]))?;
    let v = c.reply()?;
    let token = get(&v, 34)
        .and_then(Value::as_bytes)
        .filter(|t| (16..=64).contains(&t.len()))
        .cloned();
    let (Some(19), Some(token), Some(_)) = (kind(&v), token, uint(&v, 23)) else {
        return Err(format!("expected a Token, got {}", show(&v)));
    };
    let mut asker = x.raw()?;
    let mut verify = |server: &str, seq: u64| -> Result<Option<bool>, Fail> {
        asker.send(&map(&[
            (0, u(20)),
            (1, u(seq)),
            (12, t(id)),
            (13, t(server)),
            (34, Value::Bytes(token.clone())),
        ]))?;
        let v = asker.reply()?;
        Ok(get(&v, 35)
            .and_then(Value::as_bool)
            .filter(|_| kind(&v) == Some(21)))
    };
    match (verify("audience.invalid", 4)?, verify("other.invalid", 5)?) {
        (Some(true), Some(false)) => Ok(Pass),
        other => Err(format!("Vouch for the audience, then another: {other:?}")),
    }
}

/// §4 Other domains: a Vouch that says yes carries `until`, the token's expiry, as its
/// Token said it (a SHOULD: [`VOUCH_UNTIL`]; one without it is advisory). The yes itself is a
/// MUST, and so is an `until` that is the token's expiry when it is there.
pub(super) fn a_yes_vouch_says_when_the_token_expires(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let mut c = logged_in(x, id, pw)?;
    c.send(&map(&[(0, u(18)), (1, u(3)), (13, t("audience.invalid"))]))?;
    let v = c.reply()?;
    let (Some(19), Some(token), Some(expires)) =
        (kind(&v), get(&v, 34).and_then(Value::as_bytes), uint(&v, 23))
    else {
        return Err(format!("expected a Token, got {}", show(&v)));
    };
    let mut asker = x.raw()?;
    asker.send(&map(&[
        (0, u(20)),
        (1, u(4)),
        (12, t(id)),
        (13, t("audience.invalid")),
        (34, Value::Bytes(token.clone())),
    ]))?;
    let vouch = asker.reply()?;
    if kind(&vouch) != Some(21) || get(&vouch, 35).and_then(Value::as_bool) != Some(true) {
        return Err(format!(
            "a Verify of a token for its audience: expected a Vouch valid true, got {}",
            show(&vouch)
        ));
    }
    match (get(&vouch, 23), uint(&vouch, 23)) {
        (None, _) => advisory(VOUCH_UNTIL, "the Vouch's yes has no until"),
        (_, Some(until)) if until == expires => Ok(Pass),
        _ => Err(format!(
            "the Vouch's until is not the token's expiry, {expires} (the Token's until): {}",
            show(&vouch)
        )),
    }
}

pub(super) fn a_second_auth_after_login_is_201(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let mut c = logged_in(x, id, pw)?;
    c.send(&map(&[
        (0, u(17)),
        (1, u(9)),
        (30, Value::Bytes(vec![0; 32])),
        (31, t(pw)),
    ]))?;
    c.expect_error(201, Some(9))?;
    Ok(Pass)
}

/// A direct message to the account while it may be away is accepted and waits in its inbox
/// (§4 Message, a SHOULD for a server that keeps history: [`AWAY_INBOX`]; one that refuses it
/// with 404 is advisory, not failed); the account reads it on logging in.
pub(super) fn a_dm_to_an_away_account_waits_in_its_inbox(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let (mut c, _) = x.client("aw")?;
    if let Some(skip) = needs_history(&mut c, x)? {
        return Ok(skip);
    }
    if let Some(skip) = refuses_strangers(&mut c, id)? {
        return Ok(skip);
    }
    let body = format!("while you were away, from {}", x.user("aw"));
    c.send(&map(&[(0, u(6)), (1, u(3)), (2, t(id)), (6, t(&body))]))?;
    let v = c.reply()?;
    match (kind(&v), uint(&v, 1), uint(&v, 9)) {
        (Some(7), Some(3), _) => {}
        (Some(3), Some(3), Some(404)) => {
            let why = "the server keeps no direct messages for an account that is away (404)";
            return advisory(AWAY_INBOX, why);
        }
        _ => return Err(format!("a direct message to {id}: {}", show(&v))),
    }
    let mut me = logged_in(x, id, pw)?;
    match catchup(&mut me, id, &[(15, u(1))], None)? {
        (p, _, 1) if p == [body.as_str()] => Ok(Pass),
        other => Err(format!("the account's newest direct message was {other:?}")),
    }
}

/// The account blocks another ID (§4 Blocks): the record is the reply, that ID's direct
/// message to the account is refused with 801, and once unblocked it goes through. The block
/// is lifted whatever happens, so the run leaves the account as it found it.
pub(super) fn a_blocked_sender_is_801_until_unblocked(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let mut me = logged_in(x, id, pw)?;
    let (mut them, sender) = x.client("bk")?;
    if let Some(skip) = refuses_strangers(&mut them, id)? {
        return Ok(skip);
    }
    let block = |me: &mut Raw, action: u64, seq: u64| -> Result<(), Fail> {
        me.send(&map(&[
            (0, u(64)),
            (1, u(seq)),
            (2, t(id)),
            (36, u(action)),
            (37, t(&sender)),
        ]))?;
        let v = me.reply()?;
        let want = format!("{} {sender}", if action == 2 { "ban" } else { "unban" });
        match (kind(&v), uint(&v, 1), text(&v, 6), text(&v, 7)) {
            (Some(7), Some(s), Some(body), Some("text/x-scalar-mod")) if s == seq && body == want => Ok(()),
            _ => Err(format!("Mod {action} of {sender} on {id}: {}", show(&v))),
        }
    };
    block(&mut me, 2, 5)?;
    let say = |them: &mut Raw, seq: u64| -> Result<Value, Fail> {
        them.send(&map(&[(0, u(6)), (1, u(seq)), (2, t(id)), (6, t("blocked?"))]))?;
        them.reply()
    };
    let refused = say(&mut them, 3);
    block(&mut me, 3, 6)?;
    match refused.map(|v| (kind(&v), uint(&v, 1), uint(&v, 9), show(&v)))? {
        (Some(3), Some(3), Some(801), _) => {}
        (.., v) => return Err(format!("a blocked sender's direct message: {v}")),
    }
    let v = say(&mut them, 4)?;
    match (kind(&v), uint(&v, 1)) {
        (Some(7), Some(4)) => Ok(Pass),
        _ => Err(format!("a direct message once unblocked: {}", show(&v))),
    }
}

/// A skip if the account `id` takes direct messages only from users who logged in (§4 Blocks;
/// its Meta's `modes` 4, asked with an Unsub on `c`): the cases' senders did not log in.
fn refuses_strangers(c: &mut Raw, id: &str) -> Result<Option<Verdict>, Fail> {
    c.send(&map(&[(0, u(9)), (1, u(90)), (2, t(id))]))?;
    let v = c.reply()?;
    Ok(uint(&v, 41).filter(|m| m & 4 != 0).map(|_| {
        Verdict::Skip(format!(
            "{id} takes direct messages only from users who logged in (scalar-cli: /dms anyone)"
        ))
    }))
}

/// The account takes direct messages only from users who logged in (§4 Blocks: SetMeta
/// `modes` 4 on its own ID): the reply is its Meta with `modes` 4, a session that did not log
/// in is refused with 805 and sees the mode in the ID's Meta, and once the mode is lifted its
/// message goes through. Set back as it was whatever happens, so the run leaves the account
/// as it found it.
pub(super) fn registered_only_on_one_s_id_is_805_to_names_nobody_proved(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let mut me = logged_in(x, id, pw)?;
    let (mut them, _) = x.client("ro")?;
    let was = refuses_strangers(&mut them, id)?.map_or(0, |_| 4);
    let set = |me: &mut Raw, bits: u64, seq: u64| -> Result<Option<Verdict>, Fail> {
        me.send(&map(&[(0, u(65)), (1, u(seq)), (2, t(id)), (41, u(bits))]))?;
        let v = me.reply()?;
        let shown = uint(&v, 41).unwrap_or(0);
        match (kind(&v), uint(&v, 1), uint(&v, 9)) {
            (Some(10), Some(s), _) if s == seq && shown == bits => Ok(None),
            // A SHOULD (`REGISTERED_ONLY_ID`): a server without the mode answers as for a
            // channel's request.
            (Some(3), Some(s), Some(405)) if s == seq => Ok(Some(Verdict::Advisory(
                REGISTERED_ONLY_ID,
                "the server offers no registered-only mode of users (405)".into(),
            ))),
            // No SetMeta at all: an extension left out (§4: 64 and above), not the SHOULD.
            (Some(3), Some(s), Some(103)) if s == seq => Ok(Some(Verdict::Skip(
                "the server does not know SetMeta (103)".into(),
            ))),
            _ => Err(format!("SetMeta modes {bits} on {id}: {}", show(&v))),
        }
    };
    if let Some(skip) = set(&mut me, 4, 5)? {
        return Ok(skip);
    }
    let say = |them: &mut Raw, seq: u64| -> Result<Value, Fail> {
        them.send(&map(&[
            (0, u(6)),
            (1, u(seq)),
            (2, t(id)),
            (6, t("anyone there?")),
        ]))?;
        them.reply()
    };
    let refused = say(&mut them, 3);
    let meta = them
        .send(&map(&[(0, u(9)), (1, u(4)), (2, t(id))]))
        .and_then(|()| them.reply());
    set(&mut me, 0, 6)?;
    let verdict = check_registered_only(refused, meta, say(&mut them, 7));
    set(&mut me, was, 8)?;
    verdict
}

/// [`registered_only_on_one_s_id_is_805_to_names_nobody_proved`]'s replies: to a direct
/// message while the mode is set, to a Meta of the ID then, and to a message once it is lifted.
fn check_registered_only(
    refused: Result<Value, Fail>,
    meta: Result<Value, Fail>,
    after: Result<Value, Fail>,
) -> Result<Verdict, Fail> {
    match refused.map(|v| (kind(&v), uint(&v, 1), uint(&v, 9), show(&v)))? {
        (Some(3), Some(3), Some(805), _) => {}
        (.., v) => return Err(format!("a direct message from a name nobody proved: {v}")),
    }
    match meta.map(|v| (kind(&v), uint(&v, 41), show(&v)))? {
        (Some(10), Some(4), _) => {}
        (.., v) => return Err(format!("the account's Meta while it is registered-only: {v}")),
    }
    let v = after?;
    match (kind(&v), uint(&v, 1)) {
        (Some(7), Some(7)) => Ok(Pass),
        _ => Err(format!("a direct message once the mode is lifted: {}", show(&v))),
    }
}

/// SetPassword with `current` and `new` on `c`; the reply. A server that does not know the
/// request (103, which §4 allows) skips the case.
fn set_password(c: &mut Raw, seq: u64, current: &str, new: &str) -> Result<Result<Value, Verdict>, Fail> {
    c.send(&map(&[(0, u(22)), (1, u(seq)), (31, t(current)), (55, t(new))]))?;
    let v = c.reply()?;
    Ok(match (kind(&v), uint(&v, 9)) {
        (Some(3), Some(103)) => Err(Verdict::Skip("the server does not know SetPassword (103)".into())),
        _ => Ok(v),
    })
}

/// A wrong current password changes nothing (§4 Changing a password): 601 with the seq.
pub(super) fn set_password_with_a_wrong_current_one_is_601(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let mut c = logged_in(x, id, pw)?;
    let v = match set_password(&mut c, 3, &format!("{pw}-wrong"), pw)? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    match (kind(&v), uint(&v, 9), uint(&v, 1)) {
        (Some(3), Some(601), Some(3)) => Ok(Pass),
        _ => Err(format!(
            "SetPassword with a wrong current one: expected Error 601, got {}",
            show(&v)
        )),
    }
}

/// A change (to the same password, which §4 allows, so the account stays as the run found
/// it) is answered with PasswordSet, whose count includes the account's other session, which
/// is closed with 600 and Bye; the session that asked goes on.
pub(super) fn set_password_closes_the_account_s_other_sessions(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let mut other = logged_in(x, id, pw)?;
    let mut c = logged_in(x, id, pw)?;
    let v = match set_password(&mut c, 3, pw, pw)? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    match (kind(&v), uint(&v, 9), uint(&v, 1), uint(&v, 15)) {
        (Some(23), _, Some(3), Some(n)) if n >= 1 => {}
        (Some(3), Some(609), ..) => {
            let why = "the account's password is shorter than the server allows for a new one (609)";
            return Ok(Verdict::Skip(why.into()));
        }
        _ => {
            return Err(format!(
                "expected PasswordSet with a count of 1 or more, got {}",
                show(&v)
            ));
        }
    }
    other.expect_error(600, None)?;
    other.expect_bye_and_close(600)?;
    c.send(&map(&[(0, u(4)), (1, u(5)), (4, u(7))]))?;
    let v = c.reply()?;
    match (kind(&v), uint(&v, 1)) {
        (Some(5), Some(5)) => Ok(Pass),
        _ => Err(format!(
            "the session that changed it: expected a Pong, got {}",
            show(&v)
        )),
    }
}

/// A MarkRead on `topic` (with `time`, if given) numbered `seq`; the reply.
fn mark_read(c: &mut Raw, topic: &str, time: Option<u64>, seq: u64) -> Result<Value, Fail> {
    let mut m = vec![(0, u(73)), (1, u(seq)), (2, t(topic))];
    m.extend(time.map(|t| (4, u(t))));
    c.send(&map(&m))?;
    c.reply()
}

/// The `time` of a ReadMark answering `seq` (`None`: no marker), or what came instead.
fn read_mark(v: &Value, topic: &str, seq: Option<u64>) -> Result<Option<u64>, Fail> {
    match (kind(v), uint(v, 1), text(v, 2)) {
        (Some(74), s, Some(t)) if s == seq && t == topic => Ok(uint(v, 4)),
        _ => Err(format!(
            "expected a ReadMark of {topic} with seq {seq:?}, got {}",
            show(v)
        )),
    }
}

pub(super) fn a_read_marker_moves_forward_only_and_reaches_the_other_sessions(
    x: &Ctx,
) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let mut laptop = logged_in(x, id, pw)?;
    let mut phone = logged_in(x, id, pw)?;
    let ch = x.channel("rm");
    let v = mark_read(&mut phone, &ch, None, 3)?;
    if kind(&v) == Some(3) && uint(&v, 9) == Some(103) {
        return Ok(Verdict::Skip("the server has no read markers (103)".into()));
    }
    if read_mark(&v, &ch, Some(3))?.is_some() {
        return Err(format!("a channel nobody read has a marker: {}", show(&v)));
    }
    // A time long past: the server's clock caps a marker, never lowers one that is behind it.
    let at = 1_000_000;
    match read_mark(&mark_read(&mut phone, &ch, Some(at), 4)?, &ch, Some(4))? {
        Some(t) if t == at => {}
        other => return Err(format!("marked at {at}, the reply says {other:?}")),
    }
    match read_mark(&laptop.reply()?, &ch, None)? {
        Some(t) if t == at => {}
        other => return Err(format!("the other session was told {other:?}, not {at}")),
    }
    match read_mark(&mark_read(&mut laptop, &ch, Some(at - 1), 5)?, &ch, Some(5))? {
        Some(t) if t == at => Ok(Pass),
        other => Err(format!("an earlier time moved the marker back to {other:?}")),
    }
}

pub(super) fn a_read_marker_needs_a_login_here_and_a_channel_or_user(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("rn")?;
    let here = x.channel("rn");
    let v = mark_read(&mut c, &here, Some(1), 3)?;
    match (kind(&v), uint(&v, 9), uint(&v, 1)) {
        (Some(3), Some(103), _) => return Ok(Verdict::Skip("the server has no read markers (103)".into())),
        (Some(3), Some(805), Some(3)) => {}
        _ => {
            return Err(format!(
                "a session without a login: expected Error 805, got {}",
                show(&v)
            ));
        }
    }
    // §8 Precedence: 405, 401, then 805.
    for (topic, code) in [
        (format!("!rn@{}", x.domain), 405),
        ("!rn@other.example".to_string(), 405),
        ("#rn@other.example".to_string(), 401),
    ] {
        let v = mark_read(&mut c, &topic, Some(1), 4)?;
        if (kind(&v), uint(&v, 9), uint(&v, 1)) != (Some(3), Some(code), Some(4)) {
            return Err(format!(
                "a marker on {topic}: expected Error {code}, got {}",
                show(&v)
            ));
        }
    }
    Ok(Pass)
}

/// §4 Blocks: the account blocks a watcher's ID; its other connection gets the record without
/// `seq`, the watch ends with `kicked` (803, the account's ID as `topic`), a Sub to the ID is
/// `banned` (801) and an Unsub's Meta tells no presence and no watchers; the block is listed
/// (Targets, action 2, on its own ID); a block of its own ID is `bad_id` (300), and an unblock
/// of what is not blocked `no_such_user` (404). Lifted whatever happens.
pub(super) fn a_block_ends_a_watch_and_is_listed(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let (mut me, mut other) = (logged_in(x, id, pw)?, logged_in(x, id, pw)?);
    let (mut w, watcher) = x.client("bw")?;
    if let Some(skip) = refuses_strangers(&mut w, id)? {
        return Ok(skip);
    }
    w.sub(id, 3)?;
    let block = |action: u64, target: &str| {
        map(&[
            (0, u(64)),
            (1, u(5)),
            (2, t(id)),
            (36, u(action)),
            (37, t(target)),
        ])
    };
    me.send(&block(2, &watcher))?;
    let record = me.reply()?;
    let verdict = blocked(&mut other, &mut w, &mut me, (id, &watcher), &record);
    me.send(&block(3, &watcher))?;
    let lifted = me.reply()?;
    verdict?;
    if kind(&lifted) != Some(7) {
        return Err(format!("the unblock of {watcher}: {}", show(&lifted)));
    }
    me.send(&block(3, &watcher))?;
    me.expect_error(404, Some(5))
        .map_err(|e| format!("an unblock of what is not blocked: {e}"))?;
    me.send(&block(2, id))?;
    me.expect_error(300, Some(5))
        .map_err(|e| format!("a block of one's own ID: {e}"))?;
    w.sub(id, 6)?;
    Ok(Pass)
}

/// [`a_block_ends_a_watch_and_is_listed`] while the block holds: `record` is the block's reply
/// to `me`, `ids` the account's and the watcher's.
fn blocked(
    other: &mut Raw,
    w: &mut Raw,
    me: &mut Raw,
    ids: (&str, &str),
    record: &Value,
) -> Result<(), Fail> {
    let (id, watcher) = ids;
    let body = format!("ban {watcher}");
    if kind(record) != Some(7) || text(record, 6) != Some(&body) {
        return Err(format!(
            "the block of {watcher}: expected its record, got {}",
            show(record)
        ));
    }
    told(&other.event()?, id, id, &body, "text/x-scalar-mod")
        .map_err(|e| format!("the account's other connection: {e}"))?;
    let kicked = w
        .next()
        .map_err(|e| format!("the blocked watcher, expecting Error 803: {e}"))?;
    if kind(&kicked) != Some(3)
        || uint(&kicked, 9) != Some(803)
        || text(&kicked, 2) != Some(id)
        || get(&kicked, 1).is_some()
    {
        return Err(format!(
            "the blocked watcher: expected Error 803 with topic {id}, got {}",
            show(&kicked)
        ));
    }
    w.send(&map(&[(0, u(8)), (1, u(4)), (2, t(id))]))?;
    w.expect_error(801, Some(4))?;
    w.send(&map(&[(0, u(9)), (1, u(5)), (2, t(id))]))?;
    let meta = w.reply()?;
    if kind(&meta) != Some(10)
        || uint(&meta, 19) != Some(0)
        || get(&meta, 44).is_some()
        || get(&meta, 10).is_some()
    {
        return Err(format!(
            "a blocked ID's Unsub: expected Meta with 0 subscribers, no presence, no reason: {}",
            diag(&meta)
        ));
    }
    me.send(&targets(7, id, 2, 100, None))?;
    let list = me.reply()?;
    match lists(&list, watcher) {
        true => Ok(()),
        false => Err(format!(
            "the account's blocks: expected a TargetList holding {watcher}, got {}",
            show(&list)
        )),
    }
}

/// Checks that `v`, the reply to an Auth, is Error `code`; `what` names the Auth.
fn auth_refused(v: &Value, code: u64, what: &str) -> Result<(), Fail> {
    match (kind(v), uint(v, 9), uint(v, 1)) {
        (Some(3), Some(c), Some(2)) if c == code => Ok(()),
        _ => Err(format!("{what}: expected Error {code}, got {}", show(v))),
    }
}

/// §8 Precedence, for Auth: its own fields first (an empty password 100, one over 256 bytes
/// 304), which leave the Challenge outstanding (§4 Authentication); then a stale nonce (606)
/// before the password is looked at: an Auth without a Challenge, or with a nonce not the
/// latest Challenge's, is 606 with a wrong password too (not 601), and uses the Challenge up;
/// where clients may register, 606 comes before a short password's 609 as well.
pub(super) fn an_auth_s_faults_in_order(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let wrong = format!("{pw}-wrong");
    let stranger = Value::Bytes(vec![7; 32]);
    let mut c = x.raw()?;
    let v = auth(&mut c, stranger.clone(), &wrong)?;
    auth_refused(&v, 606, "an Auth before any Ident")?;
    let nonce = challenge(&mut c, id)?;
    let long = "p".repeat(257);
    for (password, code) in [("", 100), (long.as_str(), 304)] {
        let v = auth(&mut c, nonce.clone(), password)?;
        auth_refused(
            &v,
            code,
            &format!("an Auth with a password of {} bytes", password.len()),
        )?;
    }
    let v = auth(&mut c, nonce, pw)?;
    if (kind(&v), text(&v, 12)) != (Some(1), Some(id)) {
        return Err(format!(
            "an Auth after two refused for their fields: expected the Ident reply, the \
             Challenge still outstanding; got {}",
            show(&v)
        ));
    }
    let mut c = x.raw()?;
    let nonce = challenge(&mut c, id)?;
    let v = auth(&mut c, stranger, &wrong)?;
    auth_refused(&v, 606, "an Auth with another nonce and a wrong password")?;
    let v = auth(&mut c, nonce, pw)?;
    auth_refused(&v, 606, "the Challenge's own nonce, after an Auth with another")?;
    let mut r = x.raw()?;
    let asked = ident_with_auth(&mut r, &x.user("apr"), &[(32, Value::Bool(true))])?;
    let Some(nonce) = get(&asked, 30).filter(|_| kind(&asked) == Some(16)).cloned() else {
        // Registration closed (605), or the name refused: checked by the registration case.
        return Ok(Pass);
    };
    let v = auth(&mut r, nonce.clone(), "abc")?;
    auth_refused(&v, 609, "registering with the password \"abc\"")?;
    let v = auth(&mut r, nonce, "abc")?;
    auth_refused(
        &v,
        606,
        "the same registration's nonce again, and a short password",
    )?;
    Ok(Pass)
}

/// §4 Read markers: a server that keeps 128 markers an account (`scalard`) forgets, for a
/// 129th, the one moved longest ago: not the one set longest ago (moved again since), and a
/// MarkRead that only asks does not count. On fresh channels, so whatever the account held
/// before is older and goes first; the run leaves it markers on channels nobody else uses.
/// Skipped where the server keeps more (none forgotten).
pub(super) fn a_129th_read_marker_forgets_the_one_moved_longest_ago(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = account(x) else { return skip() };
    let mut c = logged_in(x, id, pw)?;
    let chans: Vec<String> = (0..129).map(|_| x.channel("rk")).collect();
    let (Some(first), Some(second), Some(last)) = (chans.first(), chans.get(1), chans.last()) else {
        return Err("no channels".into());
    };
    let at = 1_000_000;
    for ch in chans.iter().take(128) {
        let v = mark_read(&mut c, ch, Some(at), 3)?;
        if kind(&v) == Some(3) && uint(&v, 9) == Some(103) {
            return Ok(Verdict::Skip("the server has no read markers (103)".into()));
        }
        read_mark(&v, ch, Some(3))?;
    }
    // Set first, `first` is moved again and `second` only asked of: `second` is now the one
    // moved longest ago.
    read_mark(&mark_read(&mut c, first, Some(at + 1), 4)?, first, Some(4))?;
    read_mark(&mark_read(&mut c, second, None, 5)?, second, Some(5))?;
    read_mark(&mark_read(&mut c, last, Some(at), 6)?, last, Some(6))?;
    let mut gone = Vec::new();
    for ch in &chans {
        if read_mark(&mark_read(&mut c, ch, None, 7)?, ch, Some(7))?.is_none() {
            gone.push(ch.as_str());
        }
    }
    match gone.as_slice() {
        [] => Ok(Verdict::Skip(
            "the server keeps more than 128 read markers an account".into(),
        )),
        [one] if one == second => Ok(Pass),
        _ => Err(format!(
            "after a 129th marker, expected {second} (moved longest ago) forgotten alone; \
             forgotten: {gone:?}"
        )),
    }
}
