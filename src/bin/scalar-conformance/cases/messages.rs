//! Publishing, fan-out, direct messages, subscriptions and the topic list (§4, §6).

use super::*;

pub(super) fn the_echo_carries_seq_from_time_and_a_true_id(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, user) = x.client("echo")?;
    let ch = x.channel("echo");
    c.sub(&ch, 2)?;
    let e = c.say(&ch, "hello, world", 3)?;
    check_event(&e, &user, &ch, "hello, world")?;
    Ok(Pass)
}

pub(super) fn fanout_reaches_each_subscriber_once(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("fan");
    let (mut a, user) = x.client("fa")?;
    let (mut b, _) = x.client("fb")?;
    let (mut d, _) = x.client("fd")?;
    let (mut outsider, _) = x.client("fo")?;
    for c in [&mut a, &mut b, &mut d] {
        c.sub(&ch, 2)?;
    }
    let echo = a.say(&ch, "one", 5)?;
    for c in [&mut b, &mut d] {
        let e = c.event()?;
        check_event(&e, &user, &ch, "one")?;
        if get(&e, 1).is_some() || get(&e, 5) != get(&echo, 5) {
            return Err("a subscriber's copy has a seq, or another id than the echo".into());
        }
    }
    // Exactly once, and nothing to the outsider: a Ping answered next proves no Event came first.
    for c in [&mut b, &mut d, &mut outsider] {
        c.send(&ping(9, 9))?;
        let v = c.recv()?;
        if kind(&v) != Some(5) {
            return Err(format!("expected only the Pong, got {}", show(&v)));
        }
    }
    Ok(Pass)
}

pub(super) fn publishing_unsubscribed_is_403(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ns")?;
    let ch = x.channel("ns");
    c.send(&map(&[(0, u(6)), (1, u(3)), (2, t(&ch)), (6, t("x"))]))?;
    c.expect_error(403, Some(3))?;
    Ok(Pass)
}

pub(super) fn publishing_to_a_reserved_name_is_402(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("rs")?;
    let name = format!("!motd@{}", x.domain);
    c.send(&map(&[(0, u(6)), (1, u(3)), (2, t(&name)), (6, t("x"))]))?;
    c.expect_error(402, Some(3))?;
    Ok(Pass)
}

pub(super) fn a_foreign_topic_is_401(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ft")?;
    c.send(&map(&[(0, u(8)), (1, u(3)), (2, t("#x@elsewhere.invalid"))]))?;
    c.expect_error(401, Some(3))?;
    Ok(Pass)
}

pub(super) fn a_dm_to_nobody_is_404(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("dn")?;
    let nobody = x.user("nobody");
    c.send(&map(&[(0, u(6)), (1, u(3)), (2, t(&nobody)), (6, t("x"))]))?;
    c.expect_error(404, Some(3))?;
    Ok(Pass)
}

pub(super) fn a_dm_reaches_every_connection_of_the_user(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, from) = x.client("dma")?;
    let bob = x.user("dmb");
    let (mut b1, mut b2) = (x.raw()?, x.raw()?);
    b1.ident(&bob)?;
    b2.ident(&bob)?;
    a.say(&bob, "psst", 3)?;
    for b in [&mut b1, &mut b2] {
        check_event(&b.event()?, &from, &bob, "psst")?;
    }
    Ok(Pass)
}

/// A connection that asked for carbons (§4 Message and Event) gets its user's direct messages
/// from the user's other connections, once and without `seq`; one that did not ask gets none,
/// and the echo still goes to the sender alone.
pub(super) fn carbons_copy_a_dm_to_the_connections_that_asked(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut b, bob) = x.client("cb")?;
    let alice = x.user("ca");
    let (mut plain, mut asked) = (x.raw()?, x.raw()?);
    plain.ident(&alice)?;
    if let Err(skip) = asking(&mut asked, &alice, 53, "carbons")? {
        return Ok(skip);
    }
    plain.say(&bob, "from the phone", 3)?;
    check_event(&b.event()?, &alice, &bob, "from the phone")?;
    let copy = asked.event()?;
    check_event(&copy, &alice, &bob, "from the phone")?;
    if get(&copy, 1).is_some() {
        return Err(format!("a copy carries a seq: {}", show(&copy)));
    }
    // Read frame by frame (`reply` would pass over Events without `seq`, as copies are): the
    // one that asked gets its echo and nothing else, the other nothing at all.
    asked.send(&map(&[
        (0, u(6)),
        (1, u(4)),
        (2, t(&bob)),
        (6, t("from the laptop")),
    ]))?;
    let echo = asked.recv()?;
    if kind(&echo) != Some(7) || uint(&echo, 1) != Some(4) {
        return Err(format!("expected the echo alone, got {}", show(&echo)));
    }
    check_event(&b.event()?, &alice, &bob, "from the laptop")?;
    for c in [&mut plain, &mut asked] {
        c.send(&ping(5, 5))?;
        let v = c.recv()?;
        if kind(&v) != Some(5) {
            return Err(format!("expected nothing before the Pong, got {}", show(&v)));
        }
    }
    Ok(Pass)
}

pub(super) fn the_largest_body_passes_one_more_byte_is_302(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, user) = x.client("big")?;
    let ch = x.channel("big");
    c.sub(&ch, 2)?;
    let body = "b".repeat(15360);
    let e = c.say(&ch, &body, 3)?;
    check_event(&e, &user, &ch, &body)?;
    c.send(&map(&[
        (0, u(6)),
        (1, u(4)),
        (2, t(&ch)),
        (6, t(&"b".repeat(15361))),
    ]))?;
    c.expect_error(302, Some(4))?;
    // The limit is in bytes (§6), not characters: 7680 two-byte "é" and a "b" are 15361
    // bytes in 7681 characters (a server that counted characters passed the case above).
    let accents = format!("{}b", "é".repeat(7680));
    c.send(&map(&[(0, u(6)), (1, u(5)), (2, t(&ch)), (6, t(&accents))]))?;
    c.expect_error(302, Some(5))
        .map_err(|e| format!("a body of 15361 bytes in 7681 characters: {e}"))?;
    Ok(Pass)
}

pub(super) fn a_bad_ctype_is_303(x: &Ctx) -> Result<Verdict, Fail> {
    refused_in_channel(
        x,
        "ct",
        |ch| vec![(0, u(6)), (2, t(ch)), (6, t("x")), (7, t("tab\there"))],
        303,
    )
}

pub(super) fn sub_and_unsub_answer_meta(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("meta");
    let (mut a, user_a) = x.client("ma")?;
    let (mut b, _) = x.client("mb")?;
    let m = a.sub(&ch, 2)?;
    let m2 = b.sub(&ch, 2)?;
    b.send(&map(&[(0, u(9)), (1, u(3)), (2, t(&ch))]))?;
    let m3 = b.reply()?;
    // `subscribers` counts connections, not users (§4 key 19, and Sub): a second connection
    // of a's user makes two (found by an outside implementer whose server counted users).
    let mut a2 = x.raw()?;
    a2.ident(&user_a)?;
    let m4 = a2.sub(&ch, 2)?;
    let got = |m: &Value| (get(m, 18).and_then(Value::as_bool), uint(m, 19));
    match (got(&m), got(&m2), got(&m3), got(&m4)) {
        ((Some(true), Some(1)), (Some(true), Some(2)), (Some(false), Some(1)), (Some(true), Some(2))) => {
            Ok(Pass)
        }
        other => Err(format!(
            "Meta (subscribed, subscribers) were {other:?}; the last is a second connection \
             of the first user's, which makes 2 connections"
        )),
    }
}

pub(super) fn a_user_id_is_watched_and_a_reserved_name_refused(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, user) = x.client("os")?;
    let m = c.sub(&user, 3)?;
    // Presence is optional: a server without it says none (found by an outside implementer:
    // this case failed a server that left it out).
    match (get(&m, 18).and_then(Value::as_bool), uint(&m, 44)) {
        (Some(true), Some(1)) => {}
        // Only a server without presence: one that takes SetPresence has it (review).
        (Some(true), None) => {
            c.send(&map(&[(0, u(66)), (1, u(5)), (44, u(1))]))?;
            let v = c.reply()?;
            if kind(&v) != Some(3) || uint(&v, 9) != Some(103) {
                return Err(format!(
                    "Sub to its own ID: Meta without presence, from a server that takes \
                     SetPresence ({})",
                    show(&v)
                ));
            }
        }
        other => {
            return Err(format!(
                "Sub to its own ID: (subscribed, presence) were {other:?}, want (true, 1 online \
                 or none)"
            ));
        }
    }
    let reserved = format!("!motd@{}", x.domain);
    c.send(&map(&[(0, u(8)), (1, u(4)), (2, t(&reserved))]))?;
    c.expect_error(405, Some(4))?;
    // Another domain's user ID is `foreign_topic` as another domain's channel is (§4 Sub;
    // found by an outside implementer whose server refused foreign channels only).
    let foreign = format!("{}@elsewhere.example", x.fresh("os"));
    c.send(&map(&[(0, u(8)), (1, u(5)), (2, t(&foreign))]))?;
    c.expect_error(401, Some(5))
        .map_err(|why| format!("Sub to {foreign}: {why}"))?;
    Ok(Pass)
}

pub(super) fn topics_lists_the_channel(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("tl")?;
    let ch = x.channel("tl");
    c.sub(&ch, 2)?;
    let mut start = 0;
    loop {
        c.send(&map(&[(0, u(11)), (1, u(3)), (14, u(start)), (15, u(100))]))?;
        let v = c.reply()?;
        let total = uint(&v, 16).ok_or("TopicList without total")?;
        let page = get(&v, 17)
            .and_then(Value::as_array)
            .ok_or("TopicList without topics")?;
        if page.iter().any(|n| n.as_text() == Some(ch.as_str())) {
            return Ok(Pass);
        }
        start += 100;
        if start >= total || page.is_empty() {
            return Err(format!("{ch} is not in the list of {total} channels"));
        }
    }
}

pub(super) fn a_from_in_a_message_is_ignored(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, user) = x.client("fr")?;
    let ch = x.channel("fr");
    c.sub(&ch, 2)?;
    c.send(&map(&[
        (0, u(6)),
        (1, u(3)),
        (2, t(&ch)),
        (3, t("someone@else.invalid")),
        (6, t("me")),
    ]))?;
    let e = c.reply()?;
    check_event(&e, &user, &ch, "me")?;
    Ok(Pass)
}

pub(super) fn the_echo_goes_to_the_sending_connection_only(x: &Ctx) -> Result<Verdict, Fail> {
    let user = x.user("eo");
    let (mut a, mut b) = (x.raw()?, x.raw()?);
    a.ident(&user)?;
    b.ident(&user)?;
    let ch = x.channel("eo");
    a.sub(&ch, 2)?;
    a.say(&ch, "mine", 3)?;
    b.send(&ping(4, 4))?;
    let v = b.recv()?;
    if kind(&v) != Some(5) {
        return Err(format!(
            "the user's other connection (not subscribed) got {}",
            show(&v)
        ));
    }
    Ok(Pass)
}

pub(super) fn a_blob_body_keeps_its_bytes_and_ctype(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("bl")?;
    let ch = x.channel("bl");
    c.sub(&ch, 2)?;
    let blob = Value::Bytes(vec![0, 1, 2, 255]);
    c.send(&map(&[
        (0, u(6)),
        (1, u(3)),
        (2, t(&ch)),
        (6, blob.clone()),
        (7, t("application/octet-stream")),
    ]))?;
    let e = c.reply()?;
    let id_ok = get(&e, 5).and_then(Value::as_bytes).cloned() == event_id(&e);
    if get(&e, 6) != Some(&blob) || text(&e, 7) != Some("application/octet-stream") || !id_ok {
        return Err(format!("blob Event differs: {e:?}"));
    }
    Ok(Pass)
}

pub(super) fn a_reply_to_is_carried(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("rt")?;
    let ch = x.channel("rt");
    c.sub(&ch, 2)?;
    let first = c.say(&ch, "question", 3)?;
    let id = get(&first, 5).cloned().ok_or("echo without id")?;
    c.send(&map(&[
        (0, u(6)),
        (1, u(4)),
        (2, t(&ch)),
        (6, t("answer")),
        (8, id.clone()),
    ]))?;
    let e = c.reply()?;
    if get(&e, 8) != Some(&id) || get(&e, 5).and_then(Value::as_bytes).cloned() != event_id(&e) {
        return Err(format!("reply Event differs: {e:?}"));
    }
    // An id the server never saw is fine too (§4).
    c.send(&map(&[
        (0, u(6)),
        (1, u(5)),
        (2, t(&ch)),
        (6, t("x")),
        (8, Value::Bytes(vec![0xaa; 32])),
    ]))?;
    let e = c.reply()?;
    match kind(&e) {
        Some(7) => Ok(Pass),
        _ => Err(format!("an unknown reply_to was refused: {}", show(&e))),
    }
}

pub(super) fn a_malformed_reply_to_is_100(x: &Ctx) -> Result<Verdict, Fail> {
    let short_id = Value::Bytes(vec![1; 31]);
    refused_in_channel(
        x,
        "mr",
        |ch| vec![(0, u(6)), (2, t(ch)), (6, t("x")), (8, short_id.clone())],
        100,
    )
}

pub(super) fn a_dm_to_yourself_arrives_once(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, user) = x.client("self")?;
    c.say(&user, "note to self", 3)?;
    c.send(&ping(4, 4))?;
    let v = c.recv()?;
    match kind(&v) {
        Some(5) => Ok(Pass),
        _ => Err(format!("after the echo, expected nothing more, got {}", show(&v))),
    }
}

pub(super) fn times_increase_per_topic(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ti")?;
    let (_, echoes) = fill(&mut c, x, &["1", "2", "3", "4", "5"])?;
    let times: Vec<u64> = echoes.iter().filter_map(|e| uint(e, 4)).collect();
    if times.len() == 5 && times.windows(2).all(|w| w[0] < w[1]) {
        Ok(Pass)
    } else {
        Err(format!("Event times are not strictly increasing: {times:?}"))
    }
}

pub(super) fn sub_and_unsub_are_idempotent(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("id")?;
    let ch = x.channel("id");
    c.sub(&ch, 2)?;
    let again = c.sub(&ch, 3)?;
    c.send(&map(&[(0, u(9)), (1, u(4)), (2, t(&ch))]))?;
    c.reply()?;
    c.send(&map(&[(0, u(9)), (1, u(5)), (2, t(&ch))]))?;
    let off = c.reply()?;
    let sub = |m: &Value| (get(m, 18).and_then(Value::as_bool), uint(m, 19));
    match (sub(&again), kind(&off), sub(&off)) {
        ((Some(true), Some(1)), Some(10), (Some(false), Some(0))) => Ok(Pass),
        other => Err(format!("repeated Sub/Unsub gave {other:?}")),
    }
}

pub(super) fn a_disconnect_unsubscribes(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("dc");
    let (mut a, _) = x.client("dca")?;
    a.sub(&ch, 2)?;
    {
        let (mut b, _) = x.client("dcb")?;
        b.sub(&ch, 2)?;
        b.send(&map(&[(0, u(2)), (9, u(0))]))?;
        let _ = b.recv();
    }
    // The server may take a moment to notice; ask until the count drops (bounded).
    for _ in 0..50 {
        let m = a.sub(&ch, 3)?;
        if uint(&m, 19) == Some(1) {
            return Ok(Pass);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("a closed connection still counts as a subscriber".into())
}

pub(super) fn topics_with_count_0_gives_the_total_only(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("tc")?;
    c.sub(&x.channel("tc"), 2)?;
    c.send(&map(&[(0, u(11)), (1, u(3)), (15, u(0))]))?;
    let v = c.reply()?;
    let page = get(&v, 17).and_then(Value::as_array).map(Vec::len);
    match (uint(&v, 16), page, uint(&v, 14)) {
        (Some(total), Some(0), Some(0)) if total >= 1 => Ok(Pass),
        other => Err(format!("(total, page length, start) were {other:?}")),
    }
}

/// §4, Topics: a page holds at most 100 names, however many are asked for; one that more
/// follow ends with `cursor`, its last name; and paging by cursor lists every channel once.
/// With more than 100 channels (made here when fewer exist: found by an outside implementer,
/// the case passed a server that sent 5,000 names, or no cursor, as none had that many).
pub(super) fn topics_pages_are_at_most_100(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("tp")?;
    let total = |c: &mut Raw| -> Result<u64, Fail> {
        c.send(&map(&[(0, u(11)), (1, u(2)), (15, u(0))]))?;
        let v = c.reply()?;
        uint(&v, 16).ok_or_else(|| format!("Topics count 0: no total in {}", show(&v)))
    };
    let mut made = Vec::new();
    // Kept open: a channel with no subscriber may be gone.
    let mut holders = Vec::new();
    while total(&mut c)? <= 100 && made.len() < 101 {
        if holders.len() == 30 {
            return Ok(Verdict::Skip("30 connections could not make 101 channels".into()));
        }
        // A server may limit connections from one address (found in review: 501 failed
        // this case against a correct server).
        let mut h = x.raw()?;
        h.send_ident(&x.user("tph"))?;
        let welcome = h.reply()?;
        if kind(&welcome) == Some(3) && uint(&welcome, 9) == Some(501) {
            return Ok(Verdict::Skip(format!(
                "{} connections from one address are all the server takes (501), too few to \
                 make 101 channels",
                holders.len() + 1
            )));
        }
        ident_reply(&welcome)?;
        for seq in 2.. {
            if made.len() == 101 || x.max_subs.is_some_and(|m| seq - 2 == m) {
                break;
            }
            let ch = x.channel("tpc");
            h.send(&map(&[(0, u(8)), (1, u(seq)), (2, t(&ch))]))?;
            let v = h.reply()?;
            match (kind(&v), uint(&v, 9)) {
                (Some(10), _) => made.push(ch),
                (Some(3), Some(502)) => break,
                _ => return Err(format!("Sub {ch}: expected Meta or Error 502, got {}", show(&v))),
            }
        }
        holders.push(h);
    }
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0..1000 {
        let mut ask = vec![(0, u(11)), (1, u(3)), (15, u(5000))];
        ask.extend(cursor.as_ref().map(|c| (45, t(c))));
        c.send(&map(&ask))?;
        let v = c.reply()?;
        let names: Vec<String> = get(&v, 17)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_text).map(str::to_string).collect())
            .unwrap_or_default();
        if names.len() > 100 {
            return Err(format!("page {page}: {} names for count 5000", names.len()));
        }
        let next = get(&v, 45).and_then(Value::as_text).map(str::to_string);
        let (start, all) = (uint(&v, 14).unwrap_or(0), uint(&v, 16).unwrap_or(0));
        match &next {
            Some(n) if names.last() != Some(n) => {
                return Err(format!(
                    "page {page}: cursor {n} is not its last name {:?}",
                    names.last()
                ));
            }
            None if start + (names.len() as u64) < all => {
                return Err(format!(
                    "page {page}: {} names from index {start} of {all}, and no cursor",
                    names.len()
                ));
            }
            _ => {}
        }
        seen.extend(names);
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    if let Some(missing) = made.iter().find(|m| seen.iter().filter(|s| s == m).count() != 1) {
        return Err(format!(
            "paging by cursor listed {missing} {} times, not once",
            seen.iter().filter(|s| *s == missing).count()
        ));
    }
    Ok(Pass)
}

/// §4 Message: a connection receives each Event once, even when it is both the sender and a
/// recipient: a subscribed publisher gets its echo and nothing more, read frame by frame (a
/// copy without `seq` before the echo would pass a reader that skips such Events; found by
/// mutation testing).
pub(super) fn a_subscribed_sender_gets_its_echo_alone(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, user) = x.client("so")?;
    let (mut b, _) = x.client("sr")?;
    let ch = x.channel("so");
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    a.send(&map(&[(0, u(6)), (1, u(3)), (2, t(&ch)), (6, t("once"))]))?;
    let echo = a.next()?;
    if kind(&echo) != Some(7) || uint(&echo, 1) != Some(3) {
        return Err(format!(
            "the sender: expected its echo first, got {}",
            show(&echo)
        ));
    }
    check_event(&echo, &user, &ch, "once")?;
    nothing_before_a_pong(&mut a, "the sender, after its echo,")?;
    check_event(&b.event()?, &user, &ch, "once")?;
    Ok(Pass)
}

/// §4 Message: a connection that asked for carbons and is itself the recipient of a direct
/// message to oneself gets it once (found by mutation testing: a server that sent it both as
/// the recipient's and as a copy passed every case).
pub(super) fn a_dm_to_yourself_reaches_a_carbons_connection_once(x: &Ctx) -> Result<Verdict, Fail> {
    let user = x.user("sc");
    let (mut a, mut b) = (x.raw()?, x.raw()?);
    a.ident(&user)?;
    if let Err(skip) = asking(&mut b, &user, 53, "carbons")? {
        return Ok(skip);
    }
    a.say(&user, "note to self", 3)?;
    let e = b.event()?;
    check_event(&e, &user, &user, "note to self")?;
    nothing_before_a_pong(&mut b, "the other connection, which asked for carbons,")?;
    Ok(Pass)
}
