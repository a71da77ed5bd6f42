//! The session (§4's rules, Ident, Error, Ping, Bye, §5's names, §8; authentication and other
//! domains as far as a client without an account can see them).

use super::*;

pub(super) fn a_payload_that_is_not_a_map_is_malformed(x: &Ctx) -> Result<Verdict, Fail> {
    malformed_then_alive(x, &[0x82, 0x00, 0x04], 100)
}

pub(super) fn no_type_is_malformed(x: &Ctx) -> Result<Verdict, Fail> {
    malformed_then_alive(x, &cbor(&map(&[(1, u(4)), (4, u(1))])), 100)
}

pub(super) fn an_unknown_type_is_103_and_not_fatal(x: &Ctx) -> Result<Verdict, Fail> {
    malformed_then_alive(x, &cbor(&map(&[(0, u(63)), (1, u(5))])), 103)
}

pub(super) fn a_missing_field_is_104(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("mf");
    // Its `seq` read, as the rest of the frame (found by an outside implementer: not checked).
    faulty_then_alive(x, &cbor(&map(&[(0, u(6)), (1, u(5)), (2, t(&ch))])), 104, Some(5))
}

pub(super) fn unknown_keys_are_ignored(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("uk")?;
    c.send(&map(&[
        (0, u(4)),
        (1, u(4)),
        (4, u(3)),
        (200, t("anything")),
        (40, Value::Float(1.5)),
    ]))?;
    expect_pong(&mut c, Some(4), 3)?;
    Ok(Pass)
}

/// §4: keys a receiver ignores are never forwarded. A Message with keys no message uses
/// (99), one only other types use (40) and a negative one is published; neither its echo nor
/// a subscriber's copy carries them (found by an outside implementer: a server that put a
/// client's unknown key in every Event passed the suite).
pub(super) fn ignored_keys_are_never_forwarded(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("ik");
    let (mut a, _) = x.client("ika")?;
    let (mut b, _) = x.client("ikb")?;
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    let ignored = [u(40), u(99), Value::Integer((-1).into())];
    let mut message = vec![
        (u(0), u(6)),
        (u(1), u(3)),
        (u(2), t(&ch)),
        (u(6), t("with keys to ignore")),
    ];
    message.extend(ignored.iter().map(|k| (k.clone(), t("ignore me"))));
    a.send(&Value::Map(message))?;
    let (echo, copy) = (a.reply()?, b.event()?);
    for (whose, e) in [("echo", &echo), ("subscriber's copy", &copy)] {
        if kind(e) != Some(7) {
            return Err(format!("the {whose}: expected an Event, got {}", show(e)));
        }
        let keys = e.as_map().into_iter().flatten().map(|(k, _)| k);
        if let Some(k) = keys.into_iter().find(|k| ignored.contains(k)) {
            let k = k
                .as_integer()
                .map_or_else(|| format!("{k:?}"), |k| i128::from(k).to_string());
            return Err(format!(
                "the {whose} carries the Message's ignored key {k}: {}",
                show(e)
            ));
        }
    }
    Ok(Pass)
}

pub(super) fn a_null_value_is_absent(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("nv")?;
    c.send(&map(&[(0, u(4)), (1, Value::Null), (4, u(3))]))?;
    expect_pong(&mut c, None, 3)?;
    Ok(Pass)
}

pub(super) fn an_error_carries_seq_read_before_the_fault(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("es")?;
    // seq 7 comes before a topic of the wrong type.
    c.send(&map(&[(0, u(6)), (1, u(7)), (2, u(5)), (6, t("x"))]))?;
    c.expect_error(100, Some(7))?;
    Ok(Pass)
}

pub(super) fn requests_before_ident_are_fatal(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    c.expect_fatal(&frame(&cbor(&ping(1, 1))), 200, Some(1))?;
    Ok(Pass)
}

pub(super) fn pong_before_ident_is_fatal(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let pong = map(&[(0, u(5)), (4, u(1))]);
    c.expect_fatal(&frame(&cbor(&pong)), 200, None)?;
    Ok(Pass)
}

pub(super) fn ident_reply_has_domain_and_timers(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let user = x.user("ir");
    let v = c.ident(&user)?;
    let versions = get(&v, 11).and_then(Value::as_array).map(Vec::len);
    match (
        text(&v, 12),
        text(&v, 13),
        uint(&v, 27),
        uint(&v, 28),
        versions,
        uint(&v, 1),
    ) {
        (Some(u), Some(d), Some(_), Some(_), Some(1), Some(1)) if u == user && d == x.domain => Ok(Pass),
        _ => Err(format!(
            "Ident reply lacks user/server/keepalive/timeout/one version/seq: {v:?}"
        )),
    }
}

pub(super) fn a_bare_name_is_completed(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let local = x.fresh("bare");
    let v = c.ident(&local)?;
    let want = format!("{local}@{}", x.domain);
    match text(&v, 12) {
        Some(u) if u == want => Ok(Pass),
        other => Err(format!("expected {want}, got {other:?}")),
    }
}

/// §4, Ident: local parts starting with `guest-` are the server's to assign. An Ident that asks
/// for one without `auth` gets a guest ID, `guest-...` of the server's domain with `guest`
/// true in the reply, and is known by it (its echo's `from`); or, under the `accounts`
/// policy, 600 (found by an outside implementer: no case covered guests).
pub(super) fn a_guest_name_asked_for_is_the_server_s_to_assign(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    c.send_ident(&format!("guest-x@{}", x.domain))?;
    let v = c.reply()?;
    if kind(&v) == Some(3) && uint(&v, 9) == Some(600) {
        return Ok(Verdict::Skip("Idents need a password here (600)".into()));
    }
    ident_reply(&v).map_err(|e| format!("Ident as guest-x: {e}"))?;
    let user = text(&v, 12).unwrap_or_default().to_string();
    let (local, domain) = user.split_once('@').unwrap_or_default();
    if get(&v, 33).and_then(Value::as_bool) != Some(true)
        || !local.starts_with("guest-")
        || domain != x.domain
    {
        return Err(format!(
            "Ident as guest-x: expected a guest ID (guest-... of {}, guest true), got user \
             {user:?}, guest {:?}",
            x.domain,
            get(&v, 33)
        ));
    }
    let ch = x.channel("gu");
    c.sub(&ch, 2)?;
    let echo = c.say(&ch, "hello from a guest", 3)?;
    match text(&echo, 3) {
        Some(from) if from == user => Ok(Pass),
        other => Err(format!("the guest's echo is from {other:?}, not {user}")),
    }
}

/// [`guest_session`] asking for the guest ID `first` a session had: a `guest-` name asked for
/// is the server's to assign, so the ID given must be a guest ID (which, or the skip).
fn guest_again(x: &Ctx, first: &str) -> Result<Result<String, Verdict>, Fail> {
    let (next, guest) = match guest_session(x, first)? {
        Ok(got) => got,
        Err(skip) => return Ok(Err(skip)),
    };
    if !guest || !next.starts_with("guest-") {
        return Err(format!(
            "an Ident as the guest ID {first} got {next} (guest {guest}): a guest- name asked \
             for is the server's to assign, a guest ID"
        ));
    }
    Ok(Ok(next))
}

/// Idents a new connection without a password as `asked`, says `Bye`, and closes: the ID it
/// got, and whether it is a guest's; `Err(Skip)` when Idents need a password here (600).
fn guest_session(x: &Ctx, asked: &str) -> Result<Result<(String, bool), Verdict>, Fail> {
    let mut c = x.raw()?;
    c.send_ident(asked)?;
    let v = c.reply()?;
    if kind(&v) == Some(3) && uint(&v, 9) == Some(600) {
        return Ok(Err(Verdict::Skip("Idents need a password here (600)".into())));
    }
    ident_reply(&v).map_err(|e| format!("Ident as {asked}: {e}"))?;
    let user = text(&v, 12).unwrap_or_default().to_string();
    let guest = get(&v, 33).and_then(Value::as_bool) == Some(true);
    c.send(&map(&[(0, u(2)), (9, u(0))]))?;
    // The session is over once the server closes (or soon after, if it does not).
    let _ = c.recv();
    Ok(Ok((user, guest)))
}

/// §4 Ident: a guest ID is not given to two sessions one after the other ([`GUEST_ID_ONCE`],
/// a SHOULD): a guest that asks for the guest ID it had on reconnecting gets a guest ID
/// (`guest-` names are the server's to assign: a MUST), not necessarily that one, and a
/// server that hands it back is advisory.
pub(super) fn a_guest_id_is_not_given_to_the_next_session(x: &Ctx) -> Result<Verdict, Fail> {
    let (first, _) = match guest_session(x, &format!("guest-x@{}", x.domain))? {
        Ok(got) => got,
        Err(skip) => return Ok(skip),
    };
    let next = match guest_again(x, &first)? {
        Ok(next) => next,
        Err(skip) => return Ok(skip),
    };
    if next == first {
        return advisory(
            GUEST_ID_ONCE,
            &format!("the guest ID {first} went to the next session that asked for it"),
        );
    }
    Ok(Pass)
}

/// §4 Ident, a server that gives guest IDs to names asked for without a password (`scalard
/// --auth guests`): the guest ID is made of the name asked for, and a guest that asks for
/// the ID it had on reconnecting gets one made of that name again ([`GUEST_NAME`], a SHOULD:
/// advisory when it is not). Skipped where such an Ident gets the name itself.
pub(super) fn a_guest_id_is_made_of_the_name_asked_for_and_kept(x: &Ctx) -> Result<Verdict, Fail> {
    let name = x.fresh("gn");
    let (first, guest) = match guest_session(x, &format!("{name}@{}", x.domain))? {
        Ok(got) => got,
        Err(skip) => return Ok(skip),
    };
    if !guest {
        return Ok(Verdict::Skip(
            "the server gives guest IDs only to who asks for a guest- name".into(),
        ));
    }
    if !first.starts_with("guest-") {
        return Err(format!("a guest ID that is not a guest- name: {first}"));
    }
    if !first.contains(&name) {
        return advisory(
            GUEST_NAME,
            &format!("an Ident as {name} got the guest ID {first}"),
        );
    }
    let next = match guest_again(x, &first)? {
        Ok(next) => next,
        Err(skip) => return Ok(skip),
    };
    match next.contains(&name) {
        true => Ok(Pass),
        false => advisory(
            GUEST_NAME,
            &format!("reconnecting as {first}, a guest got {next}, without the name {name}"),
        ),
    }
}

pub(super) fn a_foreign_id_is_400(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    c.send(&map(&[
        (0, u(1)),
        (1, u(1)),
        (11, Value::Array(vec![u(1)])),
        (12, t("eve@elsewhere.invalid")),
    ]))?;
    c.expect_error(400, Some(1))?;
    Ok(Pass)
}

pub(super) fn no_common_version_is_fatal(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let user = x.user("nv");
    let ident = map(&[
        (0, u(1)),
        (1, u(1)),
        (11, Value::Array(vec![u(99)])),
        (12, t(&user)),
    ]);
    c.expect_fatal(&frame(&cbor(&ident)), 202, Some(1))?;
    Ok(Pass)
}

pub(super) fn a_second_ident_is_201(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, user) = x.client("si")?;
    c.send(&map(&[
        (0, u(1)),
        (1, u(2)),
        (11, Value::Array(vec![u(1)])),
        (12, t(&user)),
    ]))?;
    c.expect_error(201, Some(2))?;
    Ok(Pass)
}

pub(super) fn a_channel_as_id_is_300(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let ch = x.channel("cid");
    c.send(&map(&[
        (0, u(1)),
        (1, u(1)),
        (11, Value::Array(vec![u(1)])),
        (12, t(&ch)),
    ]))?;
    c.expect_error(300, Some(1))?;
    Ok(Pass)
}

pub(super) fn ping_is_answered_with_the_same_time_and_seq(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("pp")?;
    c.send(&ping(77, 1_764_000_000_000))?;
    expect_pong(&mut c, Some(77), 1_764_000_000_000)?;
    Ok(Pass)
}

pub(super) fn a_client_sending_an_event_is_205(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, user) = x.client("ev")?;
    let ch = x.channel("ev");
    c.send(&map(&[
        (0, u(7)),
        (1, u(4)),
        (2, t(&ch)),
        (3, t(&user)),
        (4, u(1)),
        (5, Value::Bytes(vec![0; 32])),
        (6, t("x")),
    ]))?;
    c.expect_error(205, Some(4))?;
    Ok(Pass)
}

pub(super) fn a_long_reason_is_304_and_the_bye_ignored(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("lr")?;
    c.send(&map(&[(0, u(2)), (9, u(0)), (10, t(&"r".repeat(257)))]))?;
    c.expect_error(304, None)?;
    c.send(&ping(5, 5))?;
    expect_pong(&mut c, Some(5), 5)?;
    Ok(Pass)
}

pub(super) fn bye_closes_the_connection(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("by")?;
    c.send(&map(&[(0, u(2)), (9, u(0))]))?;
    match c.recv() {
        Err(e) if e.contains("closed") => Ok(Pass),
        Err(e) => Err(e),
        Ok(v) => Err(format!("after Bye, expected a close, got {}", show(&v))),
    }
}

pub(super) fn a_server_only_message_from_a_client_is_205(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("so")?;
    let ch = x.channel("so");
    c.send(&map(&[
        (0, u(10)),
        (1, u(3)),
        (2, t(&ch)),
        (18, Value::Bool(true)),
        (19, u(1)),
    ]))?;
    c.expect_error(205, Some(3))?;
    c.send(&map(&[(0, u(3)), (1, u(4)), (9, u(100))]))?;
    c.expect_error(205, Some(4))?;
    Ok(Pass)
}

pub(super) fn an_error_without_a_readable_seq_has_none(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ns")?;
    // seq is a string: the frame is refused, and the Error cannot carry it.
    c.send(&map(&[(0, u(4)), (1, t("seven")), (4, u(1))]))?;
    let v = c.reply()?;
    match (kind(&v), uint(&v, 9), get(&v, 1)) {
        (Some(3), Some(100), None) => Ok(Pass),
        _ => Err(format!("expected Error 100 without seq, got {}", show(&v))),
    }
}

pub(super) fn a_repeated_key_is_refused_or_one_wins(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("rk")?;
    // {0: 4, 1: 5, 4: 1, 4: 2}: a receiver MAY refuse it (100); if not, it answers a Ping.
    c.bytes(&frame(&[0xa4, 0x00, 0x04, 0x01, 0x05, 0x04, 0x01, 0x04, 0x02]))?;
    let v = c.reply()?;
    match (kind(&v), uint(&v, 9), uint(&v, 4)) {
        (Some(3), Some(100), _) | (Some(5), _, Some(1 | 2)) => Ok(Pass),
        _ => Err(format!("a repeated key gave {}", show(&v))),
    }
}

pub(super) fn ident_offering_several_versions_gets_one(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let user = x.user("vs");
    c.send(&map(&[
        (0, u(1)),
        (1, u(1)),
        (11, Value::Array(vec![u(7), u(1), u(3)])),
        (12, t(&user)),
    ]))?;
    let v = c.reply()?;
    match get(&v, 11).and_then(Value::as_array) {
        Some(vs) if vs.len() == 1 && vs[0] == u(1) => Ok(Pass),
        _ => Err(format!("expected versions [1], got {v:?}")),
    }
}

pub(super) fn a_bad_topic_is_301(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("bt")?;
    c.send(&map(&[(0, u(8)), (1, u(3)), (2, t("#no domain"))]))?;
    c.expect_error(301, Some(3))?;
    Ok(Pass)
}

pub(super) fn uppercase_names_are_bad(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("uc")?;
    let ch = format!("#Rust@{}", x.domain);
    c.send(&map(&[(0, u(8)), (1, u(3)), (2, t(&ch))]))?;
    c.expect_error(301, Some(3))?;
    let mut d = x.raw()?;
    let user = format!("Alice@{}", x.domain);
    d.send(&map(&[
        (0, u(1)),
        (1, u(1)),
        (11, Value::Array(vec![u(1)])),
        (12, t(&user)),
    ]))?;
    d.expect_error(300, Some(1))?;
    // A bare name too (§4 Ident: a bare `local` part, §5's grammar): not folded to lowercase
    // and taken (found by an outside implementer whose server took `ALICE` as `alice`).
    let mut e = x.raw()?;
    let bare = x.fresh("uc").to_uppercase();
    e.send(&map(&[
        (0, u(1)),
        (1, u(1)),
        (11, Value::Array(vec![u(1)])),
        (12, t(&bare)),
    ]))?;
    e.expect_error(300, Some(1))
        .map_err(|why| format!("an Ident as the bare name {bare}: {why}"))?;
    Ok(Pass)
}

pub(super) fn a_domain_over_93_bytes_is_bad(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ld")?;
    let long = format!("#a@{}.{}", "b".repeat(63), "c".repeat(30));
    c.send(&map(&[(0, u(8)), (1, u(3)), (2, t(&long))]))?;
    c.expect_error(301, Some(3))?;
    Ok(Pass)
}

pub(super) fn an_ident_with_an_unknown_auth_is_607_or_refused(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let user = x.user("ua");
    c.send(&map(&[
        (0, u(1)),
        (1, u(1)),
        (11, Value::Array(vec![u(1)])),
        (12, t(&user)),
        (29, u(99)),
    ]))?;
    c.expect_error(607, Some(1))?;
    Ok(Pass)
}

pub(super) fn auth_without_a_challenge_is_stale(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    c.send(&map(&[
        (0, u(17)),
        (1, u(2)),
        (30, Value::Bytes(vec![1; 32])),
        (31, t("password")),
    ]))?;
    c.expect_error(606, Some(2))?;
    Ok(Pass)
}

pub(super) fn grant_needs_a_login(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("gr")?;
    c.send(&map(&[(0, u(18)), (1, u(3)), (13, t("other.invalid"))]))?;
    c.expect_error(600, Some(3))?;
    // The login is checked before the audience (§8, Precedence): naming this server is 301
    // only to a session that logged in.
    c.send(&map(&[(0, u(18)), (1, u(4)), (13, t(&x.domain))]))?;
    c.expect_error(600, Some(4))?;
    Ok(Pass)
}

pub(super) fn verify_of_another_domain_s_user_is_foreign_id(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    c.send(&map(&[
        (0, u(20)),
        (1, u(4)),
        (12, t("someone@elsewhere.invalid")),
        (13, t("other.invalid")),
        (34, Value::Bytes(vec![9; 32])),
    ]))?;
    c.expect_error(400, Some(4))?;
    Ok(Pass)
}

pub(super) fn verify_of_an_unknown_token_is_no(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let user = x.user("vt");
    c.send(&map(&[
        (0, u(20)),
        (1, u(3)),
        (12, t(&user)),
        (13, t("other.invalid")),
        (34, Value::Bytes(vec![9; 32])),
    ]))?;
    let v = c.reply()?;
    match (kind(&v), get(&v, 35).and_then(Value::as_bool), uint(&v, 1)) {
        (Some(21), Some(false), Some(3)) => Ok(Pass),
        _ => Err(format!("expected Vouch valid=false, got {}", show(&v))),
    }
}

/// §8 Precedence puts the session's faults in the order 201, 200, 205: a type only servers
/// send, arriving before the Ident, is `not_identified` (200, fatal), not 205 (found by an
/// outside implementer whose server answered 205 and stayed open, and passed every case).
pub(super) fn a_server_only_message_before_ident_is_200(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let ch = x.channel("sb");
    // A Meta with every field §4's table requires of it: no field fault comes first.
    let meta = map(&[
        (0, u(10)),
        (1, u(3)),
        (2, t(&ch)),
        (18, Value::Bool(true)),
        (19, u(1)),
    ]);
    c.expect_fatal(&frame(&cbor(&meta)), 200, Some(3))?;
    Ok(Pass)
}

/// §4's table makes a Bye's `code` required: one without it is `missing_field` (104), and
/// like any Bye that fails validation it is otherwise ignored (§4 Bye): the connection stays
/// (found by an outside implementer whose server took it as a close, and passed every case).
pub(super) fn a_bye_without_code_is_104_and_ignored(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("bc")?;
    c.send(&map(&[(0, u(2))]))?;
    c.expect_error(104, None)
        .map_err(|why| format!("a Bye without code: {why}"))?;
    c.send(&ping(5, 5))?;
    expect_pong(&mut c, Some(5), 5)?;
    Ok(Pass)
}
