//! A server admin's powers (§4 Server admins), with an admin's account the run is given
//! (`--admin ID:PASSWORD`); skipped without one. What everyone else gets on the server's
//! names is checked in precedence.rs. They kill, ban and lift only fresh IDs of the run.

use super::*;

fn skip() -> Result<Verdict, Fail> {
    Ok(Verdict::Skip(
        "give --admin ID:PASSWORD (a server admin's account) to run it".into(),
    ))
}

/// The admin's ID and a connection logged in to it.
fn admin(x: &Ctx) -> Result<Option<(String, Raw)>, Fail> {
    let Some((id, pw)) = &x.admin else {
        return Ok(None);
    };
    Ok(Some((id.clone(), accounts::logged_in(x, id, pw)?)))
}

/// Sends the admin's Mod `action` of `target` on `!server@DOMAIN`, with a reason, as `seq`;
/// the reply.
fn on_server(c: &mut Raw, x: &Ctx, seq: u64, action: u64, target: &str) -> Result<Value, Fail> {
    let server = format!("!server@{}", x.domain);
    c.send(&moderate_with(
        seq,
        &server,
        action,
        target,
        &[(10, t("conformance"))],
    ))?;
    c.reply()
}

/// Checks that `reply` is the record `body` on `!server@DOMAIN` from `admin`, with `seq`.
fn the_record(x: &Ctx, reply: &Value, admin: &str, seq: u64, body: &str) -> Result<(), Fail> {
    let server = format!("!server@{}", x.domain);
    check_event(reply, admin, &server, body)
        .map_err(|_| format!("expected the record {body:?}, got {}", show(reply)))?;
    match (text(reply, 7), uint(reply, 1)) {
        (Some("text/x-scalar-mod"), Some(s)) if s == seq => Ok(()),
        _ => Err(format!(
            "the record {body:?}: expected ctype text/x-scalar-mod and seq {seq}, got {}",
            show(reply)
        )),
    }
}

/// Expects, on a connection the server is closing, Error `code` without `seq`, then Bye and
/// the close; `what` names the connection.
fn closed_with(c: &mut Raw, code: u64, what: &str) -> Result<(), Fail> {
    let e = c.reply().map_err(|e| format!("{what}: {e}"))?;
    if kind(&e) != Some(3) || uint(&e, 9) != Some(code) || get(&e, 1).is_some() {
        return Err(format!(
            "{what}: expected Error {code} without seq, got {}",
            show(&e)
        ));
    }
    c.expect_bye_and_close(code).map_err(|e| format!("{what}: {e}"))
}

/// A kill (Mod kick on `!server@`) closes every connection of the ID with `killed` (809) and
/// Bye, and its record goes to the admin; the ID may connect again. Then the ID has no
/// connection (404), a pattern is no ID (300), and an admin's ID is out of reach (800). A
/// user ID's Meta says who is an admin (`admin`, `account` true) and who proved nothing.
pub(super) fn an_admin_s_kill_closes_every_connection_of_the_id(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((admin_id, mut admin)) = admin(x)? else {
        return skip();
    };
    let victim = x.user("kill");
    let (mut v1, mut v2) = (x.raw()?, x.raw()?);
    v1.ident(&victim)?;
    v2.ident(&victim)?;
    let of_admin = v1.sub(&admin_id, 2)?;
    let of_victim = admin.sub(&victim, 2)?;
    let says = |m: &Value| {
        (
            get(m, 57).and_then(Value::as_bool),
            get(m, 58).and_then(Value::as_bool),
        )
    };
    match (says(&of_admin), says(&of_victim)) {
        ((Some(true), Some(true)), (Some(false) | None, None)) => {}
        other => {
            return Err(format!(
                "(account, admin) in the Metas of the admin and of a free name: {other:?}"
            ));
        }
    }
    let record = on_server(&mut admin, x, 3, 1, &victim)?;
    the_record(x, &record, &admin_id, 3, &format!("kick {victim} conformance"))?;
    for (c, what) in [
        (&mut v1, "the killed ID's first connection"),
        (&mut v2, "its second"),
    ] {
        closed_with(c, 809, what)?;
    }
    let pattern = format!("{}*@{}", x.fresh("kill"), x.domain);
    for (seq, (target, code)) in (4..).zip([(victim.as_str(), 404), (&pattern, 300), (&admin_id, 800)]) {
        let v = on_server(&mut admin, x, seq, 1, target)?;
        if (kind(&v), uint(&v, 9), uint(&v, 1)) != (Some(3), Some(code), Some(seq)) {
            return Err(format!(
                "a kill of {target}: expected Error {code}, got {}",
                show(&v)
            ));
        }
    }
    x.raw()?.ident(&victim)?;
    Ok(Pass)
}

/// A server ban of an ID closes its session with `banned_from_server` (807) and Bye, and
/// refuses its Idents the same way; the ban is listed to the admin (Targets, action 2, on
/// `!server@`); once unbanned the ID connects again, and an unban of what is not banned is
/// `no_such_user` (404). Lifted whatever happens.
pub(super) fn a_server_ban_closes_and_keeps_out_until_lifted(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((admin_id, mut admin)) = admin(x)? else {
        return skip();
    };
    // `NAMEz@`: `NAME@` sorts just before it, and no other ID between.
    let victim = format!("{}z@{}", x.fresh("sban"), x.domain);
    let mut v = x.raw()?;
    v.ident(&victim)?;
    let record = on_server(&mut admin, x, 3, 2, &victim)?;
    let verdict = the_record(x, &record, &admin_id, 3, &format!("ban {victim} conformance"))
        .and_then(|()| banned(x, &mut admin, &mut v, &victim));
    let lifted = on_server(&mut admin, x, 5, 3, &victim)?;
    verdict?;
    the_record(x, &lifted, &admin_id, 5, &format!("unban {victim} conformance"))?;
    let again = on_server(&mut admin, x, 6, 3, &victim)?;
    if (kind(&again), uint(&again, 9)) != (Some(3), Some(404)) {
        return Err(format!(
            "an unban of what is not banned: expected Error 404, got {}",
            show(&again)
        ));
    }
    x.raw()?.ident(&victim)?;
    Ok(Pass)
}

/// [`a_server_ban_closes_and_keeps_out_until_lifted`] while the ban holds.
fn banned(x: &Ctx, admin: &mut Raw, v: &mut Raw, victim: &str) -> Result<(), Fail> {
    closed_with(v, 807, "the banned ID's connection")?;
    let mut again = x.raw()?;
    again
        .expect_fatal(&frame(&cbor(&ident_request(victim, &[]))), 807, Some(1))
        .map_err(|e| format!("an Ident of the banned ID: {e}"))?;
    let server = format!("!server@{}", x.domain);
    // A page of one after a name just before the victim's: however many bans the server
    // holds, none sorts between.
    let before = victim.replacen("z@", "@", 1);
    admin.send(&targets(4, &server, 2, 1, Some(&before)))?;
    let list = admin.reply()?;
    match lists(&list, victim) {
        true => Ok(()),
        false => Err(format!(
            "the server's bans: expected a TargetList holding {victim}, got {}",
            show(&list)
        )),
    }
}

/// A Message to `!wall@DOMAIN` reaches every identified connection, as an Event from the
/// admin without `seq` (the admin's own with it), and no connection that has not identified.
pub(super) fn a_wall_reaches_every_identified_connection(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((admin_id, mut admin)) = admin(x)? else {
        return skip();
    };
    let wall = format!("!wall@{}", x.domain);
    let (mut a, _) = x.client("wa")?;
    let (mut b, _) = x.client("wb")?;
    let mut unidentified = x.raw()?;
    let body = format!("conformance run {}: please ignore", x.run);
    let echo = admin.say(&wall, &body, 3)?;
    check_event(&echo, &admin_id, &wall, &body)?;
    for c in [&mut a, &mut b] {
        let e = c.event()?;
        check_event(&e, &admin_id, &wall, &body)?;
        if get(&e, 1).is_some() {
            return Err(format!(
                "a wall's Event to another connection carries a seq: {}",
                show(&e)
            ));
        }
    }
    unidentified.send_ident(&x.user("wc"))?;
    let first = unidentified.next()?;
    match kind(&first) {
        Some(1) => Ok(Pass),
        _ => Err(format!(
            "a connection that had not identified: expected the Ident reply first, got {}",
            show(&first)
        )),
    }
}

/// §4 Server admins: a new ban's range is written as it is listed, or it is `bad_id` (300)
/// and bans nothing: bits set past its prefix (`192.0.2.7/24`), a prefix with a leading zero,
/// IPv6 not in RFC 5952's lowercase and shortest form, IPv4 written as IPv6. An unban takes
/// the range as written (a ban may date from before the rule): `192.0.2.7/24` is not banned,
/// so `no_such_user` (404).
pub(super) fn a_new_ban_s_range_is_written_as_it_is_listed(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((_, mut admin)) = admin(x)? else {
        return skip();
    };
    let server = format!("!server@{}", x.domain);
    let mod_of =
        |action: u64, target: &str| vec![(0, u(MOD)), (2, t(&server)), (36, u(action)), (37, t(target))];
    let mut requests: Vec<_> = [
        "192.0.2.7/24",
        "192.0.2.0/024",
        "2001:DB8::/32",
        "2001:0db8::1",
        "::ffff:192.0.2.0/120",
    ]
    .into_iter()
    .map(|range| (mod_of(2, range), 300))
    .collect();
    requests.push((mod_of(3, "192.0.2.7/24"), 404));
    precedence::all_refused(&mut admin, "an admin's Mod of a range not as listed", &requests)
}

/// §4 Server admins: a server ban's `reason` is kept and put in the 807's reason, both in the
/// one that closes the banned ID's session and in the one that refuses its next Ident. The
/// 807s themselves (without `seq`, then with the Ident's, each followed by Bye) are MUSTs;
/// a reason without the ban's is advisory. Lifted whatever happens.
pub(super) fn a_server_ban_s_reason_is_told_in_the_807(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((admin_id, mut admin)) = admin(x)? else {
        return skip();
    };
    let victim = x.user("sbr");
    let why = x.fresh("spamming");
    let mut v = x.raw()?;
    v.ident(&victim)?;
    let server = format!("!server@{}", x.domain);
    let record = match ask(
        &mut admin,
        &moderate_with(3, &server, 2, &victim, &[(10, t(&why))]),
    )? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    let verdict = the_record(x, &record, &admin_id, 3, &format!("ban {victim} {why}"))
        .and_then(|()| reasons_told(x, &mut v, &victim, &why));
    let lifted = on_server(&mut admin, x, 4, 3, &victim)?;
    let verdict = verdict?;
    the_record(x, &lifted, &admin_id, 4, &format!("unban {victim} conformance"))?;
    Ok(verdict)
}

/// [`a_server_ban_s_reason_is_told_in_the_807`] while the ban holds: the verdict on the two
/// 807s' reasons.
fn reasons_told(x: &Ctx, v: &mut Raw, victim: &str, why: &str) -> Result<Verdict, Fail> {
    let closing = v.reply()?;
    if kind(&closing) != Some(3) || uint(&closing, 9) != Some(807) || get(&closing, 1).is_some() {
        return Err(format!(
            "the banned ID's connection: expected Error 807 without seq, got {}",
            show(&closing)
        ));
    }
    v.expect_bye_and_close(807)?;
    let mut again = x.raw()?;
    again.send_ident(victim)?;
    let refusal = again.reply()?;
    refused(&refusal, 807, 1, "an Ident of the banned ID")?;
    again.expect_bye_and_close(807)?;
    for (e, what) in [
        (&closing, "the 807 that closed its session"),
        (&refusal, "the 807 to its Ident"),
    ] {
        if let Ok(Verdict::Advisory(should, said)) = channels::tells_reason(e, why, SERVER_BAN_REASON) {
            return Ok(Verdict::Advisory(should, format!("{what}: {said}")));
        }
    }
    Ok(Pass)
}
