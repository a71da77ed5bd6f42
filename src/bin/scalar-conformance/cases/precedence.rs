//! §8 Precedence: a request with several faults gets the Error of the first in the order §8
//! gives, and the refusals of §4 that only a request with such a fault provokes (reserved
//! names, blocks and passwords asked of a session that cannot have them).

use super::*;

/// Sends each `(request fields, code)` with its own `seq` from 3 on, and expects that Error
/// with it; `Err(Skip)` when the first is of a type the server does not know (103). `what`
/// names the requests for the report.
pub(super) fn each_refused(
    c: &mut Raw,
    what: &str,
    requests: &[(Vec<(u64, Value)>, u64)],
) -> Result<Result<(), Verdict>, Fail> {
    for (seq, (fields, code)) in (3..).zip(requests) {
        let mut pairs = vec![(1, u(seq))];
        pairs.extend(fields.iter().cloned());
        pairs.sort_by_key(|(k, _)| *k);
        let request = map(&pairs);
        let v = match ask(c, &request)? {
            Ok(v) => v,
            Err(skip) if seq == 3 => return Ok(Err(skip)),
            Err(_) => {
                return Err(format!(
                    "{what}: 103 to a type the server took before: {}",
                    diag(&request)
                ));
            }
        };
        if kind(&v) != Some(3) || uint(&v, 9) != Some(*code) || uint(&v, 1) != Some(seq) {
            return Err(format!(
                "{what}: {} expected Error {code}, got {}",
                diag(&request),
                show(&v)
            ));
        }
    }
    Ok(Ok(()))
}

/// Runs [`each_refused`] as a case's verdict.
pub(super) fn all_refused(
    c: &mut Raw,
    what: &str,
    requests: &[(Vec<(u64, Value)>, u64)],
) -> Result<Verdict, Fail> {
    Ok(match each_refused(c, what, requests)? {
        Ok(()) => Pass,
        Err(skip) => skip,
    })
}

fn message(topic: &str, ctype: Option<&str>) -> Vec<(u64, Value)> {
    let mut m = vec![(0, u(6)), (2, t(topic)), (6, t("x"))];
    m.extend(ctype.map(|c| (7, t(c))));
    m
}

/// §8 Precedence, for Message 402, 401, then 403, then 303 (a server's content type); for Sub
/// 405 before 401: a reserved name of another domain is 402 to publish and 405 to subscribe, a
/// channel of another domain 401 though not subscribed, an unsubscribed channel 403 whatever
/// the content type, and a user of another domain 401.
pub(super) fn a_message_s_and_a_sub_s_faults_in_order(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("pms")?;
    let requests = [
        (message("!motd@other.invalid", None), 402),
        (message("#x@other.invalid", None), 401),
        (message(&x.channel("pms"), Some("text/x-scalar-mod")), 403),
        (message("bob@other.invalid", None), 401),
        (vec![(0, u(8)), (2, t("!motd@other.invalid"))], 405),
    ];
    all_refused(&mut c, "Message and Sub", &requests)
}

/// §8 Precedence, for Mod 405, 401, 403, 800, then the action's own (300, 404), a target that
/// is no pattern at all (300) and a refused `until` (100) before all of these; and for Message
/// a server's content type (303) before a mute (802).
pub(super) fn a_mod_s_faults_in_order(x: &Ctx) -> Result<Verdict, Fail> {
    let (ch, mut a, _, mut b, member) = two_in_a_channel(x, "pmo")?;
    let (mut outsider, _) = x.client("pmoc")?;
    let pattern = format!("{}*@{}", x.fresh("pmo"), x.domain);
    let mod_of = |topic: &str, action: u64, target: &str| {
        vec![(0, u(MOD)), (2, t(topic)), (36, u(action)), (37, t(target))]
    };
    let mut timed = mod_of(&ch, 2, &pattern);
    timed.push((23, u(1)));
    let member_s = [
        // Not an operator: 800 comes before the action's own 300 (a kick of a pattern) and
        // 404 (an unban of what is not banned); a past `until`, 100, before 800.
        (mod_of(&ch, 1, &pattern), 800),
        (mod_of(&ch, 3, &pattern), 800),
        (timed, 100),
        (mod_of(&format!("!motd@{}", x.domain), 2, &pattern), 405),
        (mod_of("#x@other.invalid", 2, &pattern), 401),
    ];
    if let Err(skip) = each_refused(&mut b, "a member's Mod", &member_s)? {
        return Ok(skip);
    }
    let outsider_s = [
        (mod_of(&ch, 2, &pattern), 403),
        (mod_of(&ch, 2, "Not An ID"), 300),
        (vec![(0, u(MEMBERS)), (2, t(&ch)), (15, u(5))], 403),
        (vec![(0, u(TARGETS)), (2, t(&ch)), (15, u(5)), (36, u(2))], 403),
    ];
    if let Err(skip) = each_refused(&mut outsider, "an outsider's request", &outsider_s)? {
        return Ok(skip);
    }
    a.send(&moderate(9, &ch, 4, &member))?;
    a.reply()?;
    let muted = [
        (message(&ch, Some("text/x-scalar-mod")), 303),
        (message(&ch, None), 802),
    ];
    all_refused(&mut b, "a muted member's Message", &muted)
}

/// §4 Server admins: to anyone but an admin, a Mod or the bans' Targets on `!server@DOMAIN`
/// is `not_operator` (800; for Targets before 405, another list's), and a Message to
/// `!wall@`, `!server@` or `!motd@` is `reserved` (402).
pub(super) fn the_server_s_names_are_its_admins_only(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, me) = x.client("adm")?;
    let server = format!("!server@{}", x.domain);
    let mod_of =
        |action: u64, target: &str| vec![(0, u(MOD)), (2, t(&server)), (36, u(action)), (37, t(target))];
    let list = |action: u64| vec![(0, u(TARGETS)), (2, t(&server)), (15, u(5)), (36, u(action))];
    let requests = [
        (mod_of(2, &x.user("adm")), 800),
        (mod_of(1, &me), 800),
        (mod_of(2, "192.0.2.0/24"), 800),
        (list(2), 800),
        (list(4), 800),
        (message(&format!("!wall@{}", x.domain), None), 402),
        (message(&server, None), 402),
        (message(&format!("!motd@{}", x.domain), None), 402),
    ];
    all_refused(&mut c, "a non-admin's request on the server's names", &requests)
}

/// §4 Blocks and §8 Precedence (for Mod, Targets and SetMeta on a user ID: 401, 800, 805): a
/// Mod or Targets on another user's ID is 800, on an ID of another domain 401, and from a
/// session that did not log in to an account, on its own ID, 805; so is a SetMeta of its own
/// ID (on a server that offers the mode: 405 from one that does not).
pub(super) fn blocks_are_one_s_own_and_need_a_login(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, me) = x.client("blk")?;
    let other = x.user("blo");
    let block = |topic: &str| vec![(0, u(MOD)), (2, t(topic)), (36, u(2)), (37, t(&other))];
    let blocks = |topic: &str| vec![(0, u(TARGETS)), (2, t(topic)), (15, u(5)), (36, u(2))];
    let requests = [
        (block(&other), 800),
        (block("bob@other.invalid"), 401),
        (block(&me), 805),
        (blocks(&other), 800),
        (blocks(&me), 805),
    ];
    if let Err(skip) = each_refused(&mut c, "a block", &requests)? {
        return Ok(skip);
    }
    let mode = |topic: &str| vec![(0, u(SET_META)), (2, t(topic)), (41, u(4))];
    let offered = each_refused(
        &mut c,
        "SetMeta of one's own ID",
        &[(mode(&me), 805), (mode(&other), 800)],
    );
    let fallback = [(mode(&me), 405), (mode(&other), 405)];
    match offered {
        Ok(Ok(())) => Ok(Pass),
        Ok(Err(skip)) => Ok(skip),
        Err(e) => match each_refused(&mut c, "SetMeta of a user ID, without the mode", &fallback)? {
            Ok(()) => Ok(Pass),
            Err(_) => Err(e),
        },
    }
}

/// §8 Precedence, for Ident: 300 (a channel's name as `user`) before 202, and 400 (another
/// domain's ID) before 607; then 202, which closes.
pub(super) fn an_ident_s_faults_in_order(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let ident =
        |user: &str, versions: u64| vec![(0, u(1)), (11, Value::Array(vec![u(versions)])), (12, t(user))];
    let mut unknown_auth = ident("bob@other.invalid", 1);
    unknown_auth.push((29, u(99)));
    let requests = [(ident(&x.channel("pid"), 2), 300), (unknown_auth, 400)];
    if let Err(skip) = each_refused(&mut c, "Ident", &requests)? {
        return Ok(skip);
    }
    let mut last = ident("bob@other.invalid", 2);
    last.insert(1, (1, u(5)));
    c.expect_fatal(&frame(&cbor(&map(&last))), 202, Some(5))?;
    Ok(Pass)
}

/// §4 Changing a password and §8 Precedence (600, 602, 609, then 601): an empty password is
/// 100 and one over 256 bytes 304 (bad fields, first); from a session that did not log in,
/// anything else is 600, a new password too short included.
pub(super) fn set_password_checks_its_fields_then_the_login(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("spw")?;
    let change = |current: &str, new: &str| vec![(0, u(22)), (31, t(current)), (55, t(new))];
    let long = "p".repeat(257);
    let requests = [
        (change("whatever it was", ""), 100),
        (change("", "a good new password"), 100),
        (change("whatever it was", &long), 304),
        (change(&long, "a good new password"), 304),
        (change("whatever it was", "short"), 600),
        (change("whatever it was", "a good new password"), 600),
    ];
    let verdict = all_refused(&mut c, "SetPassword without a login", &requests)?;
    c.send(&ping(30, 30))?;
    expect_pong(&mut c, Some(30), 30)?;
    Ok(verdict)
}

/// §4 Authentication: `register` naming a guest's name (`guest-…`, which no account may have)
/// or, with `--account`, an existing account is refused at once (604 `name_taken`, or 605
/// `registration_closed` on a server that lets no client register, which comes first), not
/// challenged; where registration is open, a password shorter than the server allows is
/// `weak_password` (609) after the Auth.
pub(super) fn registering_what_cannot_be_registered(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let register = |user: &str| {
        map(&[
            (0, u(1)),
            (1, u(1)),
            (11, Value::Array(vec![u(1)])),
            (12, t(user)),
            (29, u(1)),
            (32, Value::Bool(true)),
        ])
    };
    let guest = format!("guest-{}@{}", x.fresh("r"), x.domain);
    c.send(&register(&guest))?;
    let first = c.reply()?;
    let closed = match (kind(&first), uint(&first, 9), uint(&first, 1)) {
        (Some(3), Some(605), Some(1)) => true,
        (Some(3), Some(604), Some(1)) => false,
        _ => {
            return Err(format!(
                "registering the guest name {guest}: expected Error 604 or 605, got {}",
                show(&first)
            ));
        }
    };
    let code = if closed { 605 } else { 604 };
    if let Some((id, _)) = &x.account {
        c.send(&register(id))?;
        c.expect_error(code, Some(1))
            .map_err(|e| format!("registering the existing account {id}: {e}"))?;
    }
    if closed {
        return Ok(Pass);
    }
    c.send(&register(&x.user("rw")))?;
    let challenge = c.reply()?;
    let Some(nonce) = get(&challenge, 30)
        .filter(|_| kind(&challenge) == Some(16))
        .cloned()
    else {
        return Err(format!(
            "registering a fresh name: expected a Challenge, got {}",
            show(&challenge)
        ));
    };
    c.send(&map(&[(0, u(17)), (1, u(2)), (30, nonce), (31, t("abc"))]))?;
    c.expect_error(609, Some(2))
        .map_err(|e| format!("registering with the password \"abc\": {e}"))?;
    Ok(Pass)
}
