//! Channels' government, metadata, members and presence (§4: Channels, SetMeta, Members,
//! Presence). Servers that do not implement these extension types answer them with 103, and
//! the cases are skipped.

use super::*;

pub(super) fn the_first_subscriber_owns_the_channel(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("own");
    let (mut a, _) = x.client("owa")?;
    let (mut b, _) = x.client("owb")?;
    let (ma, mb) = (a.sub(&ch, 2)?, b.sub(&ch, 2)?);
    match (uint(&ma, 43), uint(&mb, 43)) {
        (Some(3), Some(0)) => Ok(Pass),
        (None, None) => Ok(Verdict::Skip("Meta carries no role".into())),
        other => Err(format!(
            "Meta roles (first, second) were {other:?}, want owner 3 then member 0"
        )),
    }
}

pub(super) fn mod_needs_an_operator_and_its_record_reaches_everyone(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("mod");
    let (mut a, owner) = x.client("moa")?;
    let (mut b, other) = x.client("mob")?;
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    let refused = match ask(&mut b, &moderate(3, &ch, 4, &owner))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    if kind(&refused) != Some(3) || uint(&refused, 9) != Some(800) {
        return Err(format!(
            "a member's Mod: expected Error 800, got {}",
            show(&refused)
        ));
    }
    let echo = ask(&mut a, &moderate(4, &ch, 4, &other))?.map_err(|_| "Mod unknown to the owner")?;
    let record = format!("mute {other}");
    check_event(&echo, &owner, &ch, &record)?;
    if text(&echo, 7) != Some("text/x-scalar-mod") || uint(&echo, 1) != Some(4) {
        return Err(format!(
            "the record: want ctype text/x-scalar-mod and seq 4, got {}",
            show(&echo)
        ));
    }
    let copy = b.event()?;
    check_event(&copy, &owner, &ch, &record)?;
    b.send(&map(&[(0, u(6)), (1, u(5)), (2, t(&ch)), (6, t("let me speak"))]))?;
    b.expect_error(802, Some(5))?;
    Ok(Pass)
}

pub(super) fn a_kick_sends_the_record_then_803_with_the_channel(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("kick");
    let (mut a, _) = x.client("kia")?;
    let (mut b, other) = x.client("kib")?;
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    if let Err(skip) = ask(&mut a, &moderate(3, &ch, 1, &other))? {
        return Ok(skip);
    }
    let record = b.event()?;
    if text(&record, 6) != Some(&format!("kick {other}")) {
        return Err(format!("expected the kick's record first, got {}", show(&record)));
    }
    let e = b.recv()?;
    if kind(&e) != Some(3) || uint(&e, 9) != Some(803) || get(&e, 1).is_some() || text(&e, 2) != Some(&ch) {
        return Err(format!(
            "expected Error 803 without seq and with topic {ch}, got {}",
            show(&e)
        ));
    }
    b.send(&map(&[(0, u(6)), (1, u(6)), (2, t(&ch)), (6, t("still here?"))]))?;
    b.expect_error(403, Some(6))?;
    b.sub(&ch, 7)?;
    Ok(Pass)
}

pub(super) fn an_invitation_lets_in_until_it_is_withdrawn(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("inv");
    let (mut a, _) = x.client("iva")?;
    let (mut b, other) = x.client("ivb")?;
    a.sub(&ch, 2)?;
    let invite_only = map(&[(0, u(SET_META)), (1, u(3)), (2, t(&ch)), (41, u(1))]);
    if let Err(skip) = ask(&mut a, &invite_only)? {
        return Ok(skip);
    }
    b.send(&map(&[(0, u(8)), (1, u(2)), (2, t(&ch))]))?;
    b.expect_error(804, Some(2))?;
    for (seq, action, label) in [(4, 10, "invite"), (5, 11, "uninvite")] {
        let echo = ask(&mut a, &moderate(seq, &ch, action, &other))?.map_err(|_| "Mod unknown")?;
        if text(&echo, 6) != Some(&format!("{label} {other}")) {
            return Err(format!("{label}: expected its record, got {}", show(&echo)));
        }
    }
    // The invited, outside the channel, got the invitation's record (and only that one).
    let told = b.event()?;
    if text(&told, 6) != Some(&format!("invite {other}")) || text(&told, 2) != Some(&ch) {
        return Err(format!(
            "the invited user's connection: expected the invite record on {ch}, got {}",
            show(&told)
        ));
    }
    b.send(&map(&[(0, u(8)), (1, u(3)), (2, t(&ch))]))?;
    b.expect_error(804, Some(3))?;
    ask(&mut a, &moderate(6, &ch, 10, &other))?.map_err(|_| "Mod unknown")?;
    b.sub(&ch, 4)?;
    Ok(Pass)
}

/// §4, Channels: an invitation may be an ID pattern (IRC's `+I`): every ID it matches may
/// Sub to the invite-only channel, and one it does not match still may not.
pub(super) fn an_invitation_pattern_lets_in_the_ids_it_matches(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("ipt");
    let (mut a, _) = x.client("ipa")?;
    let (mut b, matched) = x.client("ipb")?;
    let (mut c, _) = x.client("ipc")?;
    a.sub(&ch, 2)?;
    let invite_only = map(&[(0, u(SET_META)), (1, u(3)), (2, t(&ch)), (41, u(1))]);
    if let Err(skip) = ask(&mut a, &invite_only)? {
        return Ok(skip);
    }
    let Some((local, domain)) = matched.split_once('@') else {
        return Err(format!("{matched} is no user ID"));
    };
    // The matched ID's name but its last character, then `*`.
    let stem = local.get(..local.len().saturating_sub(1)).unwrap_or(local);
    let pattern = format!("{stem}*@{domain}");
    let echo = ask(&mut a, &moderate(4, &ch, 10, &pattern))?.map_err(|_| "Mod unknown")?;
    if text(&echo, 6) != Some(&format!("invite {pattern}")) {
        return Err(format!(
            "invite {pattern}: expected its record, got {}",
            show(&echo)
        ));
    }
    c.send(&map(&[(0, u(8)), (1, u(2)), (2, t(&ch))]))?;
    c.expect_error(804, Some(2))?;
    b.sub(&ch, 2)?;
    Ok(Pass)
}

/// §4, Channels: an exception (IRC's `+e`) spares the IDs it matches from the channel's bans:
/// of two IDs a ban matches, the excepted one may Sub and the other may not.
pub(super) fn an_exception_spares_whom_it_matches_from_a_ban(x: &Ctx) -> Result<Verdict, Fail> {
    const EXCEPT: u64 = 16;
    let ch = x.channel("ex");
    let (mut a, _) = x.client("exa")?;
    let (mut b, spared) = x.client("exb")?;
    let (mut c, _) = x.client("exc")?;
    a.sub(&ch, 2)?;
    let echo = match ask(&mut a, &moderate(3, &ch, EXCEPT, &spared))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    if text(&echo, 6) != Some(&format!("except {spared}")) {
        return Err(format!(
            "except {spared}: expected its record, got {}",
            show(&echo)
        ));
    }
    // A ban of the excepted ID alone could never apply: refused, as one of an operator's.
    a.send(&moderate(4, &ch, 2, &spared))?;
    a.expect_error(800, Some(4))?;
    // One that matches both holds the other only.
    let domain = spared.split_once('@').map_or("", |(_, d)| d);
    let pattern = format!("ex*@{domain}");
    let echo = ask(&mut a, &moderate(5, &ch, 2, &pattern))?.map_err(|_| "Mod unknown")?;
    if text(&echo, 6) != Some(&format!("ban {pattern}")) {
        return Err(format!("ban {pattern}: expected its record, got {}", show(&echo)));
    }
    c.send(&map(&[(0, u(8)), (1, u(2)), (2, t(&ch))]))?;
    c.expect_error(801, Some(2))?;
    b.sub(&ch, 2)?;
    Ok(Pass)
}

pub(super) fn only_the_owner_hands_a_channel_over(x: &Ctx) -> Result<Verdict, Fail> {
    const TRANSFER: u64 = 12;
    let ch = x.channel("tr");
    let (mut a, me) = x.client("tra")?;
    let (mut b, other) = x.client("trb")?;
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    let op = match ask(&mut a, &moderate(3, &ch, 6, &other))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    if text(&op, 6) != Some(&format!("op {other}")) {
        return Err(format!("op: expected its record, got {}", show(&op)));
    }
    // An operator is not the owner.
    b.send(&moderate(3, &ch, TRANSFER, &other))?;
    b.expect_error(800, Some(3))?;
    let echo = ask(&mut a, &moderate(4, &ch, TRANSFER, &other))?.map_err(|_| "Mod unknown")?;
    if text(&echo, 6) != Some(&format!("transfer {other}")) {
        return Err(format!("transfer: expected its record, got {}", show(&echo)));
    }
    // Now a is an operator only: it cannot take the channel back, and the new owner can
    // demote it.
    a.send(&moderate(5, &ch, TRANSFER, &me))?;
    a.expect_error(800, Some(5))?;
    let deop = ask(&mut b, &moderate(4, &ch, 7, &me))?.map_err(|_| "Mod unknown")?;
    if text(&deop, 6) != Some(&format!("deop {me}")) {
        return Err(format!("the new owner's deop of the old: got {}", show(&deop)));
    }
    Ok(Pass)
}

pub(super) fn set_meta_answers_meta_and_is_for_operators(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("meta");
    let (mut a, _) = x.client("mea")?;
    let (mut b, _) = x.client("meb")?;
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    let set = |seq| {
        map(&[
            (0, u(SET_META)),
            (1, u(seq)),
            (2, t(&ch)),
            (39, t("the topic line")),
            (41, u(1)),
        ])
    };
    let refused = match ask(&mut b, &set(3))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    if uint(&refused, 9) != Some(800) {
        return Err(format!(
            "a member's SetMeta: expected Error 800, got {}",
            show(&refused)
        ));
    }
    let meta = ask(&mut a, &set(4))?.map_err(|_| "SetMeta unknown to the owner")?;
    match (kind(&meta), uint(&meta, 1), text(&meta, 39), uint(&meta, 41)) {
        (Some(10), Some(4), Some("the topic line"), Some(1)) => Ok(Pass),
        _ => Err(format!(
            "expected Meta seq 4 with subject and modes 1, got {}",
            show(&meta)
        )),
    }
}

/// A channel's `rate` of 6 a minute lets a member publish one message at once, then refuses
/// the next with 806 and says how long to wait (§8 Waits: `retry_after`, a SHOULD,
/// [`RETRY_AFTER`]; a server that names the wait only in words is advisory): at most the 10 s
/// a message takes at that rate.
pub(super) fn a_channel_rate_is_806_with_how_long_to_wait(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("rate");
    let (mut a, _) = x.client("rta")?;
    let (mut b, _) = x.client("rtb")?;
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    let set = map(&[(0, u(SET_META)), (1, u(3)), (2, t(&ch)), (42, u(6))]);
    match ask(&mut a, &set)? {
        Ok(v) if kind(&v) == Some(10) => {}
        Ok(v) => return Err(format!("the owner's SetMeta of rate 6: {}", show(&v))),
        Err(skip) => return Ok(skip),
    }
    let say = |b: &mut Raw, seq: u64| -> Result<Value, Fail> {
        b.send(&map(&[(0, u(6)), (1, u(seq)), (2, t(&ch)), (6, t("paced"))]))?;
        b.reply()
    };
    let first = say(&mut b, 4)?;
    if (kind(&first), uint(&first, 1)) != (Some(7), Some(4)) {
        return Err(format!("a member's first message at rate 6: {}", show(&first)));
    }
    let second = say(&mut b, 5)?;
    match (
        kind(&second),
        uint(&second, 1),
        uint(&second, 9),
        uint(&second, 62),
    ) {
        (Some(3), Some(5), Some(806), Some(1..=10_000)) => Ok(Pass),
        (Some(3), Some(5), Some(806), None) => advisory(RETRY_AFTER, "806 without retry_after"),
        _ => Err(format!(
            "the second message at once: expected Error 806 seq 5 with retry_after 1..=10000 ms, got {}",
            show(&second)
        )),
    }
}

/// A channel's `join_rate` of 6 a minute admits one new name at once, then refuses the next
/// Sub with 810 and says how long to wait (at most the 10 s a join takes at that rate); its Meta
/// says the rate. A server may hold no joins for a while after it starts (§4 SetMeta): one
/// that admits the second name is skipped, not failed.
pub(super) fn a_join_rate_is_810_with_how_long_to_wait(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("joins");
    let (mut a, _) = x.client("jra")?;
    a.sub(&ch, 2)?;
    let set = map(&[(0, u(SET_META)), (1, u(3)), (2, t(&ch)), (63, u(6))]);
    match ask(&mut a, &set)? {
        Ok(v) if kind(&v) == Some(10) && uint(&v, 63) == Some(6) => {}
        Ok(v) => {
            return Err(format!(
                "the owner's SetMeta of join_rate 6: expected Meta with join_rate 6, got {}",
                show(&v)
            ));
        }
        Err(skip) => return Ok(skip),
    }
    let join = |who: &str| -> Result<Value, Fail> {
        let (mut c, _) = x.client(who)?;
        c.send(&map(&[(0, u(8)), (1, u(4)), (2, t(&ch))]))?;
        c.reply()
    };
    let first = join("jrb")?;
    if (kind(&first), uint(&first, 1)) != (Some(10), Some(4)) {
        return Err(format!(
            "the first new name's Sub at join_rate 6: {}",
            show(&first)
        ));
    }
    let second = join("jrc")?;
    match (
        kind(&second),
        uint(&second, 1),
        uint(&second, 9),
        uint(&second, 62),
    ) {
        (Some(3), Some(4), Some(810), Some(1..=10_000)) => Ok(Pass),
        // A SHOULD, as for 806.
        (Some(3), Some(4), Some(810), None) => advisory(RETRY_AFTER, "810 without retry_after"),
        (Some(10), Some(4), ..) => Ok(Verdict::Skip(
            "a second new name joined at once: the server may hold no joins just after it starts \
             (§4 SetMeta; scalard: --join-rush)"
                .into(),
        )),
        _ => Err(format!(
            "the second new name's Sub at once: expected Error 810 seq 4 with retry_after \
             1..=10000 ms, got {}",
            show(&second)
        )),
    }
}

pub(super) fn members_lists_each_id_once_with_its_role(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("mem");
    let (mut a, owner) = x.client("mma")?;
    let (mut b, other) = x.client("mmb")?;
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    let list = match ask(
        &mut b,
        &map(&[(0, u(MEMBERS)), (1, u(3)), (2, t(&ch)), (15, u(100))]),
    )? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    let users: Vec<&str> = get(&list, 48)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_text).collect())
        .unwrap_or_default();
    let roles: Vec<u64> = get(&list, 49)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_integer().and_then(|i| u64::try_from(i).ok()))
                .collect()
        })
        .unwrap_or_default();
    let mut want = vec![(owner.as_str(), 3), (other.as_str(), 0)];
    want.sort();
    let got: Vec<(&str, u64)> = users.into_iter().zip(roles).collect();
    if kind(&list) == Some(68) && uint(&list, 16) == Some(2) && got == want {
        Ok(Pass)
    } else {
        Err(format!(
            "expected MemberList total 2, {want:?}; got {}",
            show(&list)
        ))
    }
}

/// §4, Members: pages of one, each after the last one's `cursor`, list every member once,
/// sorted bytewise, with `total` the whole count, and the last page has no cursor.
pub(super) fn members_pages_by_cursor(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("mpg");
    let mut ids = Vec::new();
    let mut conns = Vec::new();
    for base in ["mpa", "mpb", "mpc"] {
        let (mut c, id) = x.client(base)?;
        c.sub(&ch, 2)?;
        conns.push(c);
        ids.push(id);
    }
    ids.sort();
    let Some(c) = conns.first_mut() else {
        return Err("no connection".into());
    };
    let mut found: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        if found.len() > ids.len() {
            return Err(format!("more pages than members: {found:?}"));
        }
        let mut fields = vec![(0, u(MEMBERS)), (1, u(3)), (2, t(&ch)), (15, u(1))];
        fields.extend(cursor.as_deref().map(|after| (45, t(after))));
        let list = match ask(c, &map(&fields))? {
            Ok(v) => v,
            Err(skip) => return Ok(skip),
        };
        let users: Vec<String> = get(&list, 48)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_text).map(str::to_string).collect())
            .unwrap_or_default();
        let next = get(&list, 45).and_then(Value::as_text).map(str::to_string);
        let last_page = found.len() + 1 == ids.len();
        let page_ok = kind(&list) == Some(68)
            && uint(&list, 16) == Some(3)
            && users.len() == 1
            && match last_page {
                true => next.is_none(),
                false => next.as_deref() == users.first().map(String::as_str),
            };
        if !page_ok {
            return Err(format!(
                "Members with count 1, page {} of 3 (after {cursor:?}): expected MemberList total 3 \
                 with one ID, and a cursor (that ID) unless it is the last; got {}",
                found.len() + 1,
                show(&list)
            ));
        }
        found.extend(users);
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    if found == ids {
        Ok(Pass)
    } else {
        Err(format!("pages of one listed {found:?}; expected {ids:?}"))
    }
}

/// §4, Members: with `query`, only the IDs that hold it (in lowercase) are listed, however
/// many pages (some of them empty) it takes to page through them by cursor; `total` still
/// counts every member.
pub(super) fn a_members_query_lists_only_the_ids_that_match(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("mq");
    let mut ids = Vec::new();
    let mut conns = Vec::new();
    for base in ["mqa", "mqb", "mqc"] {
        let (mut c, id) = x.client(base)?;
        c.sub(&ch, 2)?;
        conns.push(c);
        ids.push(id);
    }
    let (wanted, query) = match ids[1].split_once('@') {
        Some((local, _)) => (ids[1].clone(), local.to_uppercase()),
        None => return Err(format!("{} is no user ID", ids[1])),
    };
    let Some(c) = conns.first_mut() else {
        return Err("no connection".into());
    };
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        if page == 1000 {
            return Err("1000 pages of Members with a query, and still a cursor".into());
        }
        let mut fields = vec![
            (0, u(MEMBERS)),
            (1, u(3)),
            (2, t(&ch)),
            (15, u(100)),
            (25, t(&query)),
        ];
        fields.extend(cursor.as_deref().map(|after| (45, t(after))));
        let list = match ask(c, &map(&fields))? {
            Ok(v) => v,
            Err(skip) => return Ok(skip),
        };
        if kind(&list) != Some(68) || uint(&list, 16) != Some(3) {
            return Err(format!(
                "Members with a query in a channel of 3: expected MemberList total 3, got {}",
                show(&list)
            ));
        }
        let users = get(&list, 48)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        found.extend(users.iter().filter_map(Value::as_text).map(str::to_string));
        match get(&list, 45).and_then(Value::as_text) {
            Some(next) if cursor.as_deref() != Some(next) => cursor = Some(next.to_string()),
            Some(next) => return Err(format!("the cursor {next} does not move on")),
            None => break,
        }
    }
    if found == [wanted.clone()] {
        Ok(Pass)
    } else {
        Err(format!(
            "the query {query:?} should list {wanted} alone; got {found:?}"
        ))
    }
}

pub(super) fn targets_lists_the_bans_to_operators_only(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("lst");
    let (mut a, _) = x.client("lsa")?;
    let (mut b, _) = x.client("lsb")?;
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    let bans = |seq, cursor: Option<&str>| {
        let mut fields = vec![(0, u(TARGETS)), (1, u(seq)), (2, t(&ch)), (15, u(1)), (36, u(2))];
        fields.extend(cursor.map(|c| (45, t(c))));
        map(&fields)
    };
    let refused = match ask(&mut b, &bans(3, None))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    if kind(&refused) != Some(3) || uint(&refused, 9) != Some(800) {
        return Err(format!(
            "a member's Targets: expected Error 800, got {}",
            show(&refused)
        ));
    }
    let patterns = [
        format!("{}*@{}", x.fresh("zz"), x.domain),
        "*@spam.example".to_string(),
    ];
    for (seq, p) in (4..).zip(&patterns) {
        a.send(&moderate(seq, &ch, 2, p))?;
        a.reply()?;
    }
    let mut want = patterns.to_vec();
    want.sort();
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    for seq in 6..9 {
        a.send(&bans(seq, cursor.as_deref()))?;
        let page = a.reply()?;
        let entries = get(&page, 51)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        got.extend(entries.iter().filter_map(Value::as_text).map(str::to_string));
        if kind(&page) != Some(70) || uint(&page, 16) != Some(2) || uint(&page, 36) != Some(2) {
            return Err(format!("expected TargetList ban, total 2; got {}", show(&page)));
        }
        cursor = text(&page, 45).map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    if got == want {
        Ok(Pass)
    } else {
        Err(format!("paged by one, expected {want:?}; got {got:?}"))
    }
}

pub(super) fn a_watcher_sees_presence_and_the_sender_its_echo(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, _) = x.client("pra")?;
    let (mut b, watched) = x.client("prb")?;
    let meta = a.sub(&watched, 2)?;
    if uint(&meta, 44) != Some(1) {
        return Ok(Verdict::Skip("Sub to a user ID gives no presence".into()));
    }
    let away = map(&[(0, u(SET_PRESENCE)), (1, u(3)), (10, t("lunch")), (44, u(2))]);
    let echo = match ask(&mut b, &away)? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    check_event(&echo, &watched, &watched, "away lunch")?;
    if text(&echo, 7) != Some("text/x-scalar-presence") || uint(&echo, 1) != Some(3) {
        return Err(format!(
            "the presence echo: want ctype text/x-scalar-presence, seq 3; got {}",
            show(&echo)
        ));
    }
    let seen = a.event()?;
    check_event(&seen, &watched, &watched, "away lunch")?;
    Ok(Pass)
}

pub(super) fn clients_cannot_publish_the_server_s_content_types(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("sct")?;
    let ch = x.channel("sct");
    c.sub(&ch, 2)?;
    // Compared as media types: whatever the case, whatever parameters follow.
    let ctypes = [
        (3, "text/x-scalar-mod"),
        (4, "text/x-scalar-presence; x=1"),
        (5, "Text/X-Scalar-Member"),
        (6, "TEXT/X-SCALAR-MOD ;a=b"),
    ];
    for (seq, ctype) in ctypes {
        c.send(&map(&[
            (0, u(6)),
            (1, u(seq)),
            (2, t(&ch)),
            (6, t("kick everyone")),
            (7, t(ctype)),
        ]))?;
        c.expect_error(303, Some(seq))
            .map_err(|e| format!("a Message with ctype {ctype:?}: {e}"))?;
    }
    Ok(Pass)
}

/// A connection that asked (§4 Joins and leaves) is told, without `seq`, when a user joins,
/// leaves and quits its channel, with the leave's and the quit's reasons; one that did not ask
/// is not, and no client may publish such an Event itself.
pub(super) fn joins_and_leaves_are_told_to_who_asked(x: &Ctx) -> Result<Verdict, Fail> {
    let mut asked = x.raw()?;
    if let Err(skip) = asking(&mut asked, &x.user("ja"), 54, "joins")? {
        return Ok(skip);
    }
    let ch = x.channel("jl");
    asked.sub(&ch, 2)?;
    let told = |c: &mut Raw, who: &str, body: &str| -> Result<(), Fail> {
        let e = c.recv()?;
        let want = [(2, ch.as_str()), (3, who), (6, body), (7, "text/x-scalar-member")];
        match kind(&e) == Some(7) && get(&e, 1).is_none() && want.iter().all(|&(k, v)| text(&e, k) == Some(v))
        {
            true => Ok(()),
            false => Err(format!("expected {who} {body:?} on {ch}, got {}", show(&e))),
        }
    };
    let (mut plain, plain_id) = x.client("jp")?;
    plain.sub(&ch, 2)?;
    told(&mut asked, &plain_id, "joined")?;
    let (mut bob, bob_id) = x.client("jb")?;
    bob.sub(&ch, 3)?;
    told(&mut asked, &bob_id, "joined")?;
    bob.send(&map(&[(0, u(9)), (1, u(4)), (2, t(&ch))]))?;
    bob.reply()?;
    told(&mut asked, &bob_id, "left")?;
    bob.sub(&ch, 5)?;
    told(&mut asked, &bob_id, "joined")?;
    bob.send(&map(&[(0, u(9)), (1, u(4)), (2, t(&ch)), (10, t("back soon"))]))?;
    bob.reply()?;
    told(&mut asked, &bob_id, "left back soon")?;
    bob.sub(&ch, 5)?;
    told(&mut asked, &bob_id, "joined")?;
    bob.send(&map(&[
        (0, u(6)),
        (1, u(6)),
        (2, t(&ch)),
        (6, t("joined")),
        (7, t("text/x-scalar-member")),
    ]))?;
    bob.expect_error(303, Some(6))?;
    bob.send(&map(&[(0, u(2)), (9, u(0)), (10, t("lunch"))]))?;
    told(&mut asked, &bob_id, "quit lunch")?;
    // Nothing more to either: read frame by frame, as `reply` passes over Events.
    for (c, who) in [
        (&mut asked, "one that asked"),
        (&mut plain, "one that did not ask"),
    ] {
        c.send(&ping(7, 7))?;
        let v = c.recv()?;
        if kind(&v) != Some(5) {
            return Err(format!("{who} got {} before its Pong", show(&v)));
        }
    }
    Ok(Pass)
}

pub(super) fn topics_pages_after_a_cursor_with_counts(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("tcu")?;
    let (first, second) = (x.channel("tcu0"), x.channel("tcu1"));
    c.sub(&first, 2)?;
    c.sub(&second, 3)?;
    // Just before `first` ('.' sorts before '0'): the page must start with it.
    let before = first.replacen("tcu0", "tcu.", 1);
    c.send(&map(&[(0, u(11)), (1, u(4)), (15, u(2)), (45, t(&before))]))?;
    let list = c.reply()?;
    let names: Vec<&str> = get(&list, 17)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_text).collect())
        .unwrap_or_default();
    if names.first() != Some(&first.as_str()) {
        return Err(format!(
            "Topics after {before}: expected {first} first, got {}",
            show(&list)
        ));
    }
    match get(&list, 46).and_then(Value::as_array).map(Vec::len) {
        Some(n) if n == names.len() => Ok(Pass),
        None => Ok(Verdict::Skip("TopicList carries no counts".into())),
        Some(_) => Err("counts and topics differ in length".into()),
    }
}

/// §4, Topics: with `query`, only the channels whose name before the `@`, display name or
/// topic line holds it (in lowercase) are listed, however many pages (some of them empty)
/// it takes to page through them by cursor; each page's `start` is its first name's index.
/// Topics is core: a server without SetMeta is checked on names alone (found by an outside
/// implementer: the whole case was skipped).
pub(super) fn a_topics_query_lists_only_the_channels_that_match(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("tqu")?;
    let query = x.fresh("tq");
    let (named, described, other) = (x.channel(&query), x.channel("tqb"), x.channel("tqc"));
    // One that sorts before them all and does not match: the first page's `start` passes it.
    let before = x.channel("aa");
    for (i, ch) in [&before, &named, &described, &other].into_iter().enumerate() {
        c.sub(ch, 2 + i as u64)?;
    }
    let subject = format!("all about {}", query.to_uppercase());
    let set = map(&[(0, u(SET_META)), (1, u(5)), (2, t(&described)), (39, t(&subject))]);
    let has_subjects = ask(&mut c, &set)?.is_ok();
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        if page == 1000 {
            return Err("1000 pages of Topics with a query, and still a cursor".into());
        }
        let mut ask = vec![(0, u(11)), (1, u(6)), (15, u(100)), (25, t(&query))];
        if let Some(after) = &cursor {
            ask.push((45, t(after)));
        }
        c.send(&map(&ask))?;
        let list = c.reply()?;
        if kind(&list) != Some(12) {
            return Err(format!("Topics with a query: {}", show(&list)));
        }
        let names = get(&list, 17)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        found.extend(names.iter().filter_map(Value::as_text).map(str::to_string));
        if let Some(first) = names.first().and_then(Value::as_text) {
            first_is_at_start(&mut c, first, &list)?;
        }
        match get(&list, 45).and_then(Value::as_text) {
            Some(next) if cursor.as_deref() != Some(next) => cursor = Some(next.to_string()),
            Some(next) => return Err(format!("the cursor {next} does not move on")),
            None => break,
        }
    }
    if let Some(wrong) = [&before, &other].into_iter().find(|c| found.contains(c)) {
        return Err(format!(
            "{wrong} was listed for the query {query:?}, which it does not hold: {found:?}"
        ));
    }
    if !found.contains(&named) {
        return Err(format!(
            "the query {query:?} should find {named} (its name): got {found:?}"
        ));
    }
    if has_subjects && !found.contains(&described) {
        return Err(format!(
            "the query {query:?} should find {described} (its topic line, in capitals): got \
             {found:?}"
        ));
    }
    Ok(Pass)
}

/// §4, Topics: a page's `total` and `start` count every channel, those a query passed over
/// included: Topics at that `start` without a query lists `first` first, and says the same
/// `total`. Not told if the channels changed meanwhile (another client's came or went: the
/// total without a query moves between two asks).
fn first_is_at_start(c: &mut Raw, first: &str, page: &Value) -> Result<(), Fail> {
    let Some(start) = uint(page, 14) else {
        return Err("TopicList without start".into());
    };
    c.send(&map(&[(0, u(11)), (1, u(7)), (14, u(start)), (15, u(1))]))?;
    let at = c.reply()?;
    if uint(&at, 16) != uint(page, 16) {
        c.send(&map(&[(0, u(11)), (1, u(7)), (15, u(0))]))?;
        let again = c.reply()?;
        if uint(&again, 16) != uint(&at, 16) {
            return Ok(());
        }
        return Err(format!(
            "with a query, total {:?} should count every channel, as without one: {:?}",
            uint(page, 16),
            uint(&at, 16)
        ));
    }
    let there = get(&at, 17)
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_text);
    match there == Some(first) {
        true => Ok(()),
        false => Err(format!(
            "a page with a query listed {first} first and said start {start}, but Topics at \
             that start lists {there:?}"
        )),
    }
}

/// §4, Who may read what: what was said in a channel while it was invite-only stays with that
/// life of the channel; whoever starts it anew neither reads nor finds it. Skipped where the
/// server kept the channel (its next subscriber is not its owner), or keeps no history.
pub(super) fn what_a_closed_life_said_stays_with_it(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, _) = x.client("cla")?;
    if let Some(skip) = needs_history(&mut a, x)? {
        return Ok(skip);
    }
    let ch = x.channel("closed");
    a.sub(&ch, 2)?;
    let invite_only = map(&[(0, u(SET_META)), (1, u(3)), (2, t(&ch)), (41, u(1))]);
    if let Err(skip) = ask(&mut a, &invite_only)? {
        return Ok(skip);
    }
    a.say(&ch, "behind closed doors", 4)?;
    a.send(&map(&[(0, u(9)), (1, u(5)), (2, t(&ch))]))?;
    let left = a.reply()?;
    if kind(&left) != Some(10) {
        return Err(format!("Unsub: expected Meta, got {}", show(&left)));
    }
    let (mut b, _) = x.client("clb")?;
    let meta = b.sub(&ch, 2)?;
    if uint(&meta, 43) != Some(3) {
        return Ok(Verdict::Skip(
            "the channel outlived its last subscriber (kept)".into(),
        ));
    }
    let (got, _, _) = catchup(&mut b, &ch, &[(15, u(50))], None)?;
    let (found, _, _) = catchup(&mut b, &ch, &[(15, u(50))], Some("doors"))?;
    if got.iter().chain(&found).any(|body| body == "behind closed doors") {
        return Err(format!(
            "the channel's next owner read its closed life: {got:?}, search {found:?}"
        ));
    }
    Ok(Pass)
}

/// An operator's delete (action 14): a target that is no message id is a bad field; the
/// record reaches every member; the message leaves the channel's history and search (within
/// 2 s: a server may answer from its store before the record is stored). Skipped on a server
/// that keeps no history.
pub(super) fn an_operator_s_delete_takes_a_message_out_of_history(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, _) = x.client("dla")?;
    if let Some(skip) = needs_history(&mut a, x)? {
        return Ok(skip);
    }
    let (mut b, other) = x.client("dlb")?;
    let ch = x.channel("del");
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    let echo = a.say(&ch, "regrettable words", 3)?;
    b.event()?;
    let Some(Value::Bytes(id)) = get(&echo, 5) else {
        return Err(format!("the echo has no id: {}", show(&echo)));
    };
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    // The first Mod asks whether the server has the type at all: a server that keeps history
    // without the extensions answers it 103, and the case is skipped, not failed.
    let refused = match ask(&mut a, &moderate(4, &ch, 14, &other))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    if kind(&refused) != Some(3) || uint(&refused, 9) != Some(300) || uint(&refused, 1) != Some(4) {
        return Err(format!(
            "a delete whose target is a user ID, not a message id: expected Error 300 with seq 4, got {}",
            show(&refused)
        ));
    }
    let record = match ask(&mut a, &moderate(5, &ch, 14, &hex))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    let said = format!("delete {hex}");
    if text(&record, 6) != Some(&said) || uint(&record, 1) != Some(5) {
        return Err(format!("expected the delete's record, got {}", show(&record)));
    }
    let told = b.event()?;
    if text(&told, 6) != Some(&said) {
        return Err(format!("the other member got {}", show(&told)));
    }
    for _ in 0..20 {
        let (got, _, _) = catchup(&mut b, &ch, &[(15, u(50))], None)?;
        let (found, _, _) = catchup(&mut b, &ch, &[(15, u(50))], Some("regrettable"))?;
        if !got.iter().chain(&found).any(|body| body == "regrettable words") {
            return Ok(Pass);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("the deleted message is still in the channel's history after 2 s".into())
}

/// An operator's purge (action 15): not a member's (800); the record, `purge ID SINCE`,
/// reaches every member; the ID's Messages leave the channel's history (within 2 s, as a
/// delete's), another's stay. Skipped without history, or where the server does not know the
/// action (100: it came after the others).
pub(super) fn an_operator_s_purge_takes_an_id_s_messages_out_of_history(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, owner) = x.client("pga")?;
    if let Some(skip) = needs_history(&mut a, x)? {
        return Ok(skip);
    }
    let (mut b, spammer) = x.client("pgb")?;
    let ch = x.channel("purge");
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    a.say(&ch, "the owner stays", 3)?;
    b.event()?;
    for (seq, body) in [(3, "spam one"), (4, "spam two")] {
        b.say(&ch, body, seq)?;
        a.event()?;
    }
    let record = match ask(&mut a, &moderate(5, &ch, 15, &spammer))? {
        Ok(v) if kind(&v) == Some(3) && uint(&v, 9) == Some(100) => {
            return Ok(Verdict::Skip("the server does not know purge (100)".into()));
        }
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    let said = text(&record, 6).and_then(|t| t.strip_prefix(&format!("purge {spammer} ")));
    if said.is_none_or(|t| t.parse::<u64>().is_err()) || uint(&record, 1) != Some(5) {
        return Err(format!("expected the purge's record, got {}", show(&record)));
    }
    let told = b.event()?;
    if text(&told, 6) != text(&record, 6) {
        return Err(format!("the other member got {}", show(&told)));
    }
    b.send(&moderate(6, &ch, 15, &owner))?;
    b.expect_error(800, Some(6))?;
    for _ in 0..20 {
        let (got, _, _) = catchup(&mut b, &ch, &[(15, u(50))], None)?;
        let spam = got.iter().any(|body| body.starts_with("spam "));
        if !spam && got.iter().any(|body| body == "the owner stays") {
            return Ok(Pass);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("the purged messages are still in the channel's history after 2 s".into())
}

/// A timed ban (§4 Channels, `until` on a Mod ban): an end already past is 100; the record is
/// `ban-until ID UNTIL`; the banned member is removed (803) and kept out (801), the list of
/// bans gives the end in `untils`; once the end has passed the ban is gone and the member gets
/// back in. Skipped where the server ignores `until` (it answers with a plain ban's record).
pub(super) fn a_timed_ban_ends_by_itself(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, _) = x.client("tba")?;
    let (mut b, banned) = x.client("tbb")?;
    let ch = x.channel("tban");
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    let (until, ends) = ahead(&mut a, &ch)?;
    let timed = |seq, until| moderate_with(seq, &ch, 2, &banned, &[(23, u(until))]);
    let past = match ask(&mut a, &timed(3, until.saturating_sub(60_000)))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    if kind(&past) == Some(7) {
        // The ban's own record: `until` ignored. Lift it and say so.
        a.send(&moderate(4, &ch, 3, &banned))?;
        a.reply()?;
        return Ok(Verdict::Skip("the server ignores until on a ban".into()));
    }
    if kind(&past) != Some(3) || uint(&past, 9) != Some(100) {
        return Err(format!(
            "a ban until a minute ago: expected Error 100, got {}",
            show(&past)
        ));
    }
    let record = a.send(&timed(5, until)).and_then(|()| a.reply())?;
    let said = format!("ban-until {banned} {until}");
    if text(&record, 6) != Some(&said) || uint(&record, 1) != Some(5) {
        return Err(format!("expected the record {said:?}, got {}", show(&record)));
    }
    b.expect_error(803, None)?;
    b.send(&map(&[(0, u(8)), (1, u(6)), (2, t(&ch))]))?;
    b.expect_error(801, Some(6))?;
    let list = map(&[(0, u(TARGETS)), (1, u(7)), (2, t(&ch)), (15, u(10)), (36, u(2))]);
    let page = a.send(&list).and_then(|()| a.reply())?;
    let untils: Vec<u64> = (get(&page, 59).and_then(Value::as_array))
        .map(|l| l.iter().filter_map(|v| v.as_integer()?.try_into().ok()).collect())
        .unwrap_or_default();
    if untils != [until] {
        return Err(format!(
            "the bans' list: expected untils [{until}], got {}",
            show(&page)
        ));
    }
    wait_out(&mut [&mut a, &mut b], ends)?;
    b.sub(&ch, 8)?;
    Ok(Pass)
}

/// How long the timed ban's and mute's cases give them: long enough to see them hold (a few
/// round trips), and no longer, as the suite waits it out.
const TIMED: Duration = Duration::from_millis(1_500);

/// An `until` [`TIMED`] ahead by the server's clock, which is what §4 says a client sets it
/// by (here: the `time` of the echo of a Message that `c` sends to `channel`), and when it
/// will have passed by this machine's (a little later: the echo was made before it came).
fn ahead(c: &mut Raw, channel: &str) -> Result<(u64, std::time::Instant), Fail> {
    let echo = c.say(channel, "the time, please", 90)?;
    let ends = std::time::Instant::now() + TIMED + Duration::from_millis(100);
    let time = uint(&echo, 4).ok_or(format!("an echo without time: {}", show(&echo)))?;
    Ok((time + TIMED.as_millis() as u64, ends))
}

/// This machine's clock, in ms since the epoch.
fn now_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_millis() as u64)
}

/// Waits until `deadline` for a timed ban or mute to end, with Pings on `conns`, not in
/// silence: a server started with short timers, as for the timer cases, closed them (found by
/// QA: `write: Broken pipe`).
fn wait_out(conns: &mut [&mut Raw], deadline: std::time::Instant) -> Result<(), Fail> {
    for n in 1.. {
        let rest = deadline.saturating_duration_since(std::time::Instant::now());
        if rest.is_zero() {
            break;
        }
        std::thread::sleep(rest.min(Duration::from_millis(500)));
        for c in conns.iter_mut() {
            c.send(&super::ping(100 + n, n))?;
            super::expect_pong(c, Some(100 + n), n)?;
        }
    }
    Ok(())
}

/// A member deletes its own Message (§4 Channels, delete): the record, with the Mod's seq, and
/// not a Message of another's (800). A server that allows only operators (800 to its own, as
/// §4 lets it) or keeps no history is skipped.
pub(super) fn a_member_deletes_its_own_message_not_another_s(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut owner, _) = x.client("dma")?;
    if let Some(skip) = needs_history(&mut owner, x)? {
        return Ok(skip);
    }
    let (mut member, _) = x.client("dmb")?;
    let ch = x.channel("dme");
    owner.sub(&ch, 2)?;
    member.sub(&ch, 2)?;
    let hex_of = |echo: &Value| match get(echo, 5) {
        Some(Value::Bytes(id)) => Ok(id.iter().map(|b| format!("{b:02x}")).collect::<String>()),
        _ => Err(format!("the echo has no id: {}", show(echo))),
    };
    let owners = hex_of(&owner.say(&ch, "the owner's words", 3)?)?;
    member.event()?;
    let own = hex_of(&member.say(&ch, "my own slip", 3)?)?;
    owner.event()?;
    let mine = match ask(&mut member, &moderate(4, &ch, 14, &own))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    match (kind(&mine), uint(&mine, 9), text(&mine, 6), uint(&mine, 1)) {
        (Some(3), Some(800), ..) => {
            let why = "the server lets only operators delete (800 to a member's own message)";
            return Ok(Verdict::Skip(why.into()));
        }
        (Some(7), _, Some(body), Some(4)) if body == format!("delete {own}") => {}
        _ => return Err(format!("a member's delete of its own message: {}", show(&mine))),
    }
    member.send(&moderate(5, &ch, 14, &owners))?;
    member.expect_error(800, Some(5))?;
    Ok(Pass)
}

/// A timed mute (§4 Channels, `until` on a Mod mute): the record is `mute-until ID UNTIL`;
/// the member is `muted` (802) until then, and speaks again once it has passed, with nothing
/// lifting it. Skipped where the server ignores `until`.
pub(super) fn a_timed_mute_ends_by_itself(x: &Ctx) -> Result<Verdict, Fail> {
    let (ch, mut a, _, mut b, muted) = two_in_a_channel(x, "tmu")?;
    let (until, ends) = ahead(&mut a, &ch)?;
    let record = match ask(&mut a, &moderate_with(3, &ch, 4, &muted, &[(23, u(until))]))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    if text(&record, 6) == Some(&format!("mute {muted}")) {
        a.send(&moderate(4, &ch, 5, &muted))?;
        a.reply()?;
        return Ok(Verdict::Skip("the server ignores until on a mute".into()));
    }
    let said = format!("mute-until {muted} {until}");
    if text(&record, 6) != Some(&said) || uint(&record, 1) != Some(3) {
        return Err(format!("expected the record {said:?}, got {}", show(&record)));
    }
    b.send(&map(&[(0, u(6)), (1, u(4)), (2, t(&ch)), (6, t("muted?"))]))?;
    b.expect_error(802, Some(4))?;
    wait_out(&mut [&mut a, &mut b], ends)?;
    b.say(&ch, "after", 5)
        .map_err(|e| format!("once the mute has ended: {e}"))?;
    Ok(Pass)
}

/// §4 Channels, timed bans: an `until` further ahead than the server allows (`scalard`: 366
/// days) is `malformed` (100), on a ban as on a mute, and changes nothing: the member is
/// still in and speaks. §4 lets a server allow longer: one that takes 367 days (its record)
/// is skipped, the ban lifted.
pub(super) fn an_until_over_366_days_ahead_is_100(x: &Ctx) -> Result<Verdict, Fail> {
    let (ch, mut a, _, mut b, member) = two_in_a_channel(x, "tfar")?;
    let far = now_ms() + 367 * 24 * 3_600_000;
    for (seq, action, undo) in [(3, 2, 3), (4, 4, 5)] {
        let v = match ask(&mut a, &moderate_with(seq, &ch, action, &member, &[(23, u(far))]))? {
            Ok(v) => v,
            Err(skip) => return Ok(skip),
        };
        match (kind(&v), uint(&v, 9), uint(&v, 1)) {
            (Some(3), Some(100), Some(s)) if s == seq => {}
            (Some(7), ..) => {
                a.send(&moderate(10, &ch, undo, &member))?;
                a.reply()?;
                let why = "the server takes an until 367 days ahead (§4 lets it choose its bound)";
                return Ok(Verdict::Skip(why.into()));
            }
            _ => {
                return Err(format!(
                    "Mod {action} until 367 days ahead: expected Error 100, got {}",
                    show(&v)
                ));
            }
        }
    }
    nothing_before_a_pong(&mut b, "the member, after two refused Mods,")?;
    b.say(&ch, "still here", 5)?;
    Ok(Pass)
}

/// §4 Topics and Members, and the key table: `query` is 1–256 bytes: an empty one is
/// `malformed` (100), one of 257 bytes `field_too_long` (304). Topics is core: a server
/// without Members is checked on Topics alone.
pub(super) fn a_query_of_0_or_257_bytes_is_refused(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("qz")?;
    let ch = x.channel("qz");
    c.sub(&ch, 2)?;
    let long = "q".repeat(257);
    let topics = |q: &str| vec![(0, u(11)), (15, u(5)), (25, t(q))];
    let members = |q: &str| vec![(0, u(MEMBERS)), (2, t(&ch)), (15, u(5)), (25, t(q))];
    let core = [(topics(""), 100), (topics(&long), 304)];
    if precedence::each_refused(&mut c, "Topics with a query", &core)?.is_err() {
        return Err("Topics, a core type, answered with 103".into());
    }
    let extension = [(members(""), 100), (members(&long), 304)];
    precedence::all_refused(&mut c, "Members with a query", &extension)
}

/// §4 Targets: a `cursor` that is neither an ID pattern nor an address range is `bad_id`
/// (300); an address range places the page, as any entry does.
pub(super) fn a_targets_cursor_is_a_pattern_or_a_range(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, _) = x.client("tcr")?;
    let ch = x.channel("tcr");
    a.sub(&ch, 2)?;
    let page = match ask(&mut a, &targets(3, &ch, 2, 5, Some("192.0.2.0/24")))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    if kind(&page) != Some(70) {
        return Err(format!(
            "the bans after the cursor 192.0.2.0/24: expected a TargetList, got {}",
            show(&page)
        ));
    }
    let list = |cursor: &str| {
        let fields = [
            (0, u(TARGETS)),
            (2, t(&ch)),
            (15, u(5)),
            (36, u(2)),
            (45, t(cursor)),
        ];
        (fields.to_vec(), 300)
    };
    let bad = [list("Not An ID"), list("192.0.2.0/33")];
    precedence::all_refused(&mut a, "Targets after a cursor that is no entry", &bad)
}

/// §4 Channels, kept channels: in a channel the server keeps (its owner logged in; Meta's
/// `kept`), op, voice, invite, except and transfer to an ID of this server without an
/// account are `no_such_user` (404): only a session that logged in could use them. Needs
/// `--account`; the channel is dropped (action 13) whatever happens, so the run leaves the
/// account no kept channel. Skipped where the server does not keep it.
pub(super) fn a_kept_channel_s_roles_are_for_accounts_only(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((id, pw)) = &x.account else {
        return Ok(Verdict::Skip("give --account ID:PASSWORD to run it".into()));
    };
    let mut owner = accounts::logged_in(x, id, pw)?;
    let ch = x.channel("kept");
    let meta = owner.sub(&ch, 2)?;
    if get(&meta, 50).and_then(Value::as_bool) != Some(true) {
        let why = "the server does not keep a channel whose owner logged in (Meta's kept)";
        return Ok(Verdict::Skip(why.into()));
    }
    let (mut b, nobody) = x.client("keptb")?;
    b.sub(&ch, 2)?;
    let mod_of = |action: u64| vec![(0, u(MOD)), (2, t(&ch)), (36, u(action)), (37, t(&nobody))];
    let refused = [6, 8, 10, 16, 12].map(|action| (mod_of(action), 404));
    let what = format!("in a kept channel, a Mod of {nobody}, who has no account");
    let verdict = precedence::each_refused(&mut owner, &what, &refused);
    let dropped = owner
        .send(&moderate(20, &ch, 13, id))
        .and_then(|()| owner.reply())?;
    match verdict? {
        Err(skip) => Ok(skip),
        Ok(()) if kind(&dropped) == Some(7) => Ok(Pass),
        Ok(()) => Err(format!("the owner's drop of {ch}: {}", show(&dropped))),
    }
}

/// A connection identified as a guest (an Ident as `guest-x@DOMAIN`: §4 Ident), and the ID
/// the server gave it; `None` where the server gives no guest names.
fn as_guest(x: &Ctx) -> Result<Option<(Raw, String)>, Fail> {
    let mut c = x.raw()?;
    c.send_ident(&format!("guest-x@{}", x.domain))?;
    let v = c.reply()?;
    if kind(&v) != Some(1) || get(&v, 33).and_then(Value::as_bool) != Some(true) {
        return Ok(None);
    }
    ident_reply(&v).map_err(|e| format!("a guest's Ident: {e}"))?;
    let id = text(&v, 12).ok_or("a guest's Ident reply without user")?;
    Ok(Some((c, id.to_string())))
}

/// §4 Channels, ban: a guest banned by its exact ID is banned by its address too: the next
/// guest from there is kept out (801), a name taken without a password is not. Skipped where
/// the server gives no guest names.
pub(super) fn a_banned_guest_s_address_keeps_the_next_guest_out(x: &Ctx) -> Result<Verdict, Fail> {
    let Some((mut g, guest)) = as_guest(x)? else {
        return Ok(Verdict::Skip("the server gives no guest names".into()));
    };
    let (mut a, _) = x.client("gba")?;
    let ch = x.channel("gban");
    a.sub(&ch, 2)?;
    g.sub(&ch, 2)?;
    let record = match ask(&mut a, &moderate(3, &ch, 2, &guest))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    if text(&record, 6) != Some(&format!("ban {guest}")) {
        return Err(format!("ban {guest}: expected its record, got {}", show(&record)));
    }
    g.expect_error(803, None)?;
    let Some((mut next, next_id)) = as_guest(x)? else {
        return Err("a second guest from the same address got no guest name".into());
    };
    next.send(&map(&[(0, u(8)), (1, u(3)), (2, t(&ch))]))?;
    next.expect_error(801, Some(3))
        .map_err(|e| format!("{next_id}, a guest from the banned {guest}'s address: {e}"))?;
    let (mut named, _) = x.client("gbn")?;
    named.sub(&ch, 2)?;
    Ok(Pass)
}

/// Whether the refusal `e` (already checked to be the Error wanted) tells `reason`: a pass, or
/// `should` advisory, saying what its reason was instead.
pub(super) fn tells_reason(e: &Value, reason: &str, should: Should) -> Result<Verdict, Fail> {
    match text(e, 10) {
        Some(said) if said.contains(reason) => Ok(Pass),
        Some(said) => advisory(should, &format!("its reason {said:?} leaves out {reason:?}")),
        None => advisory(should, &format!("it has no reason, not even {reason:?}")),
    }
}

/// §4 Channels, ban: the ban's `reason` is kept and added to the 801's reason. The banned
/// member is removed (803) and its Sub refused (801, a MUST); a reason without the ban's is
/// advisory.
pub(super) fn a_ban_s_reason_is_told_in_the_801(x: &Ctx) -> Result<Verdict, Fail> {
    let (ch, mut a, _, mut b, banned) = two_in_a_channel(x, "brs")?;
    let why = x.fresh("spamming");
    let record = match ask(&mut a, &moderate_with(3, &ch, 2, &banned, &[(10, t(&why))]))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    if kind(&record) != Some(7) || uint(&record, 1) != Some(3) {
        return Err(format!(
            "a ban with a reason: expected its record, got {}",
            show(&record)
        ));
    }
    b.expect_error(803, None)?;
    b.send(&map(&[(0, u(8)), (1, u(4)), (2, t(&ch))]))?;
    let e = b.reply()?;
    refused(&e, 801, 4, "a Sub of the banned ID")?;
    tells_reason(&e, &why, BAN_REASON)
}

/// §4 Channels, mute: the mute's `reason` is kept and added to the 802's reason. The muted
/// member's Message is refused (802, a MUST); a reason without the mute's is advisory.
pub(super) fn a_mute_s_reason_is_told_in_the_802(x: &Ctx) -> Result<Verdict, Fail> {
    let (ch, mut a, _, mut b, muted) = two_in_a_channel(x, "mrs")?;
    let why = x.fresh("shouting");
    let record = match ask(&mut a, &moderate_with(3, &ch, 4, &muted, &[(10, t(&why))]))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    if kind(&record) != Some(7) || uint(&record, 1) != Some(3) {
        return Err(format!(
            "a mute with a reason: expected its record, got {}",
            show(&record)
        ));
    }
    b.send(&map(&[(0, u(6)), (1, u(4)), (2, t(&ch)), (6, t("muted?"))]))?;
    let e = b.reply()?;
    refused(&e, 802, 4, "a Message of the muted ID")?;
    tells_reason(&e, &why, MUTE_REASON)
}
