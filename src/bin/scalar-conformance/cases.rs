//! The cases, each citing the part of docs/PROTOCOL.md it checks. A case returns `Ok(Pass)`,
//! `Ok(Skip(why))` when the server lacks an optional feature, or `Err(what went wrong)`.

use crate::wire::*;
use ciborium::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How a case ended, when it did not fail.
pub enum Verdict {
    /// It passed.
    Pass,
    /// The server lacks what it tests.
    Skip(String),
}
use Verdict::Pass;

/// What every case knows.
pub struct Ctx {
    /// The server.
    pub addr: std::net::SocketAddr,
    /// Its domain.
    pub domain: String,
}

impl Ctx {
    /// A name no other case uses: `base` and a number.
    fn fresh(&self, base: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        format!("{base}{}", N.fetch_add(1, Ordering::Relaxed))
    }

    fn user(&self, base: &str) -> String {
        format!("{}@{}", self.fresh(base), self.domain)
    }

    fn channel(&self, base: &str) -> String {
        format!("#{}@{}", self.fresh(base), self.domain)
    }

    fn raw(&self) -> Result<Raw, Fail> {
        Raw::connect(self.addr)
    }

    /// A connection identified as a fresh user.
    fn client(&self, base: &str) -> Result<(Raw, String), Fail> {
        let mut c = self.raw()?;
        let user = self.user(base);
        c.ident(&user)?;
        Ok((c, user))
    }
}

/// One case.
pub struct Case {
    /// Its name, for `--only` and the report.
    pub name: &'static str,
    /// The section of docs/PROTOCOL.md it checks.
    pub section: &'static str,
    /// The check.
    pub run: fn(&Ctx) -> Result<Verdict, Fail>,
}

macro_rules! cases {
    ($( $name:ident, $section:literal; )*) => {
        /// Every case, in the order they run.
        pub const ALL: &[Case] = &[$( Case { name: stringify!($name), section: $section, run: $name }, )*];
    };
}

cases! {
    empty_frame_is_answered_and_the_connection_stays, "§2";
    length_16383_is_fatal, "§2";
    length_ffff_is_fatal, "§2";
    a_frame_written_a_byte_at_a_time, "§2";
    two_frames_in_one_write, "§2";
    bytes_after_the_item_are_malformed, "§2";
    a_truncated_item_is_malformed, "§2";
    indefinite_lengths_are_malformed, "§3";
    tags_are_malformed, "§3";
    nesting_16_is_fine_17_is_not, "§3";
    invalid_utf8_is_bad_utf8, "§3";
    a_non_shortest_integer_is_accepted, "§3";
    a_payload_that_is_not_a_map_is_malformed, "§4";
    no_type_is_malformed, "§4";
    an_unknown_type_is_103_and_not_fatal, "§4";
    a_missing_field_is_104, "§4";
    unknown_keys_are_ignored, "§4";
    a_null_value_is_absent, "§4";
    an_error_carries_seq_read_before_the_fault, "§4 Error";
    requests_before_ident_are_fatal, "§8";
    pong_before_ident_is_fatal, "§8";
    ident_reply_has_domain_and_timers, "§4 Ident";
    a_bare_name_is_completed, "§4 Ident";
    a_foreign_id_is_400, "§4 Ident";
    no_common_version_is_fatal, "§4 Ident";
    a_second_ident_is_201, "§8";
    a_channel_as_id_is_300, "§5";
    ping_is_answered_with_the_same_time_and_seq, "§4 Ping";
    a_client_sending_an_event_is_205, "§8";
    the_echo_carries_seq_from_time_and_a_true_id, "§4 Message, §7";
    fanout_reaches_each_subscriber_once, "§4 Message";
    publishing_unsubscribed_is_403, "§4 Message";
    publishing_to_a_reserved_name_is_402, "§4 Message";
    a_foreign_topic_is_401, "§4 Message";
    a_dm_to_nobody_is_404, "§4 Message";
    a_dm_reaches_every_connection_of_the_user, "§4 Message";
    the_largest_body_passes_one_more_byte_is_302, "§6";
    a_bad_ctype_is_303, "§4";
    a_long_reason_is_304_and_the_bye_ignored, "§4 Bye";
    sub_and_unsub_answer_meta, "§4 Sub";
    only_channels_are_subscribable, "§4 Sub";
    topics_lists_the_channel, "§4 Topics";
    catchup_replays_or_says_unavailable, "§4 Catchup";
    catchup_needs_a_subscription, "§4 Catchup";
    bye_closes_the_connection, "§4 Bye";
}

fn ping(seq: u64, time: u64) -> Value {
    map(&[(0, u(4)), (1, u(seq)), (4, u(time))])
}

fn expect_pong(c: &mut Raw, seq: Option<u64>, time: u64) -> Result<(), Fail> {
    let v = c.reply()?;
    if kind(&v) == Some(5) && uint(&v, 4) == Some(time) && uint(&v, 1) == seq {
        return Ok(());
    }
    Err(format!("expected Pong time={time} seq={seq:?}, got {}", show(&v)))
}

/// A Ping payload with raw bytes for one unknown key (40) appended: `{0: 4, 1: 9, 4: 1, 40: X}`.
fn ping_with(extra_value: &[u8]) -> Vec<u8> {
    let mut p = vec![0xa4, 0x00, 0x04, 0x01, 0x09, 0x04, 0x01, 0x18, 0x28];
    p.extend_from_slice(extra_value);
    p
}

fn empty_frame_is_answered_and_the_connection_stays(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ef")?;
    c.bytes(&[0, 0])?;
    c.expect_error(102, None)?;
    c.send(&ping(2, 7))?;
    expect_pong(&mut c, Some(2), 7)?;
    Ok(Pass)
}

fn fatal_length(x: &Ctx, prefix: [u8; 2]) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("fl")?;
    c.bytes(&prefix)?;
    c.expect_error(101, None)?;
    c.expect_bye_and_close(101)?;
    Ok(Pass)
}

fn length_16383_is_fatal(x: &Ctx) -> Result<Verdict, Fail> {
    fatal_length(x, [0xff, 0x3f])
}

fn length_ffff_is_fatal(x: &Ctx) -> Result<Verdict, Fail> {
    fatal_length(x, [0xff, 0xff])
}

fn a_frame_written_a_byte_at_a_time(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let user = x.user("bb");
    let f = frame(&cbor(&map(&[
        (0, u(1)),
        (1, u(1)),
        (11, Value::Array(vec![u(1)])),
        (12, t(&user)),
    ])));
    for b in f {
        c.bytes(&[b])?;
        std::thread::sleep(Duration::from_millis(2));
    }
    let v = c.reply()?;
    match kind(&v) {
        Some(1) => Ok(Pass),
        _ => Err(format!("expected Ident, got {}", show(&v))),
    }
}

fn two_frames_in_one_write(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let user = x.user("tf");
    let mut both = frame(&cbor(&map(&[
        (0, u(1)),
        (1, u(1)),
        (11, Value::Array(vec![u(1)])),
        (12, t(&user)),
    ])));
    both.extend(frame(&cbor(&ping(2, 5))));
    c.bytes(&both)?;
    let v = c.reply()?;
    if kind(&v) != Some(1) {
        return Err(format!("expected Ident first, got {}", show(&v)));
    }
    expect_pong(&mut c, Some(2), 5)?;
    Ok(Pass)
}

fn malformed_then_alive(x: &Ctx, payload: &[u8], code: u64) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("mf")?;
    c.bytes(&frame(payload))?;
    c.expect_error(code, None)?;
    c.send(&ping(3, 11))?;
    expect_pong(&mut c, Some(3), 11)?;
    Ok(Pass)
}

fn bytes_after_the_item_are_malformed(x: &Ctx) -> Result<Verdict, Fail> {
    let mut p = cbor(&ping(2, 1));
    p.push(0x00);
    malformed_then_alive(x, &p, 100)
}

fn a_truncated_item_is_malformed(x: &Ctx) -> Result<Verdict, Fail> {
    // A map of three pairs with only two.
    malformed_then_alive(x, &[0xa3, 0x00, 0x04, 0x04, 0x01], 100)
}

fn indefinite_lengths_are_malformed(x: &Ctx) -> Result<Verdict, Fail> {
    malformed_then_alive(x, &[0xbf, 0x00, 0x04, 0x04, 0x01, 0xff], 100)
}

fn tags_are_malformed(x: &Ctx) -> Result<Verdict, Fail> {
    malformed_then_alive(x, &ping_with(&[0xc1, 0x01]), 100)
}

fn nesting_16_is_fine_17_is_not(x: &Ctx) -> Result<Verdict, Fail> {
    let nested = |n: usize| {
        let mut v = vec![0x81; n - 1];
        v.push(0x80);
        v
    };
    let (mut c, _) = x.client("ns")?;
    c.bytes(&frame(&ping_with(&nested(16))))?;
    expect_pong(&mut c, Some(9), 1)?;
    c.bytes(&frame(&ping_with(&nested(17))))?;
    c.expect_error(100, None)?;
    Ok(Pass)
}

fn invalid_utf8_is_bad_utf8(x: &Ctx) -> Result<Verdict, Fail> {
    malformed_then_alive(x, &ping_with(&[0x62, 0xc3, 0x28]), 105)
}

fn a_non_shortest_integer_is_accepted(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ns")?;
    // {0: 4, 1: 9, 4: 7} with 7 written in eight bytes.
    c.bytes(&frame(&[
        0xa3, 0x00, 0x04, 0x01, 0x09, 0x04, 0x1b, 0, 0, 0, 0, 0, 0, 0, 7,
    ]))?;
    expect_pong(&mut c, Some(9), 7)?;
    Ok(Pass)
}

fn a_payload_that_is_not_a_map_is_malformed(x: &Ctx) -> Result<Verdict, Fail> {
    malformed_then_alive(x, &[0x82, 0x00, 0x04], 100)
}

fn no_type_is_malformed(x: &Ctx) -> Result<Verdict, Fail> {
    malformed_then_alive(x, &cbor(&map(&[(1, u(4)), (4, u(1))])), 100)
}

fn an_unknown_type_is_103_and_not_fatal(x: &Ctx) -> Result<Verdict, Fail> {
    malformed_then_alive(x, &cbor(&map(&[(0, u(63)), (1, u(5))])), 103)
}

fn a_missing_field_is_104(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("mf");
    malformed_then_alive(x, &cbor(&map(&[(0, u(6)), (1, u(5)), (2, t(&ch))])), 104)
}

fn unknown_keys_are_ignored(x: &Ctx) -> Result<Verdict, Fail> {
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

fn a_null_value_is_absent(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("nv")?;
    c.send(&map(&[(0, u(4)), (1, Value::Null), (4, u(3))]))?;
    expect_pong(&mut c, None, 3)?;
    Ok(Pass)
}

fn an_error_carries_seq_read_before_the_fault(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("es")?;
    // seq 7 comes before a topic of the wrong type.
    c.send(&map(&[(0, u(6)), (1, u(7)), (2, u(5)), (6, t("x"))]))?;
    c.expect_error(100, Some(7))?;
    Ok(Pass)
}

fn requests_before_ident_are_fatal(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    c.send(&ping(1, 1))?;
    c.expect_error(200, Some(1))?;
    c.expect_bye_and_close(200)?;
    Ok(Pass)
}

fn pong_before_ident_is_fatal(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    c.send(&map(&[(0, u(5)), (4, u(1))]))?;
    c.expect_error(200, None)?;
    c.expect_bye_and_close(200)?;
    Ok(Pass)
}

fn ident_reply_has_domain_and_timers(x: &Ctx) -> Result<Verdict, Fail> {
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

fn a_bare_name_is_completed(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let local = x.fresh("bare");
    let v = c.ident(&local)?;
    let want = format!("{local}@{}", x.domain);
    match text(&v, 12) {
        Some(u) if u == want => Ok(Pass),
        other => Err(format!("expected {want}, got {other:?}")),
    }
}

fn a_foreign_id_is_400(x: &Ctx) -> Result<Verdict, Fail> {
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

fn no_common_version_is_fatal(x: &Ctx) -> Result<Verdict, Fail> {
    let mut c = x.raw()?;
    let user = x.user("nv");
    c.send(&map(&[
        (0, u(1)),
        (1, u(1)),
        (11, Value::Array(vec![u(99)])),
        (12, t(&user)),
    ]))?;
    c.expect_error(202, Some(1))?;
    c.expect_bye_and_close(202)?;
    Ok(Pass)
}

fn a_second_ident_is_201(x: &Ctx) -> Result<Verdict, Fail> {
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

fn a_channel_as_id_is_300(x: &Ctx) -> Result<Verdict, Fail> {
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

fn ping_is_answered_with_the_same_time_and_seq(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("pp")?;
    c.send(&ping(77, 1_764_000_000_000))?;
    expect_pong(&mut c, Some(77), 1_764_000_000_000)?;
    Ok(Pass)
}

fn a_client_sending_an_event_is_205(x: &Ctx) -> Result<Verdict, Fail> {
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

/// Checks an Event's fields against what was sent, and its id (§7).
fn check_event(e: &Value, from: &str, topic: &str, body: &str) -> Result<(), Fail> {
    if text(e, 3) != Some(from)
        || text(e, 2) != Some(topic)
        || text(e, 6) != Some(body)
        || uint(e, 4).is_none()
    {
        return Err(format!("Event fields differ from what was sent: {e:?}"));
    }
    let id = get(e, 5).and_then(Value::as_bytes).cloned();
    match (id, event_id(e)) {
        (Some(id), Some(want)) if id == want => Ok(()),
        _ => Err("the Event's id is not the SHA-256 of §7's array".into()),
    }
}

fn the_echo_carries_seq_from_time_and_a_true_id(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, user) = x.client("echo")?;
    let ch = x.channel("echo");
    c.sub(&ch, 2)?;
    let e = c.say(&ch, "hello, world", 3)?;
    check_event(&e, &user, &ch, "hello, world")?;
    Ok(Pass)
}

fn fanout_reaches_each_subscriber_once(x: &Ctx) -> Result<Verdict, Fail> {
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

fn publishing_unsubscribed_is_403(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ns")?;
    let ch = x.channel("ns");
    c.send(&map(&[(0, u(6)), (1, u(3)), (2, t(&ch)), (6, t("x"))]))?;
    c.expect_error(403, Some(3))?;
    Ok(Pass)
}

fn publishing_to_a_reserved_name_is_402(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("rs")?;
    let name = format!("!motd@{}", x.domain);
    c.send(&map(&[(0, u(6)), (1, u(3)), (2, t(&name)), (6, t("x"))]))?;
    c.expect_error(402, Some(3))?;
    Ok(Pass)
}

fn a_foreign_topic_is_401(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ft")?;
    c.send(&map(&[(0, u(8)), (1, u(3)), (2, t("#x@elsewhere.invalid"))]))?;
    c.expect_error(401, Some(3))?;
    Ok(Pass)
}

fn a_dm_to_nobody_is_404(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("dn")?;
    let nobody = x.user("nobody");
    c.send(&map(&[(0, u(6)), (1, u(3)), (2, t(&nobody)), (6, t("x"))]))?;
    c.expect_error(404, Some(3))?;
    Ok(Pass)
}

fn a_dm_reaches_every_connection_of_the_user(x: &Ctx) -> Result<Verdict, Fail> {
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

fn the_largest_body_passes_one_more_byte_is_302(x: &Ctx) -> Result<Verdict, Fail> {
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
    Ok(Pass)
}

fn a_bad_ctype_is_303(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ct")?;
    let ch = x.channel("ct");
    c.sub(&ch, 2)?;
    c.send(&map(&[
        (0, u(6)),
        (1, u(3)),
        (2, t(&ch)),
        (6, t("x")),
        (7, t("tab\there")),
    ]))?;
    c.expect_error(303, Some(3))?;
    Ok(Pass)
}

fn a_long_reason_is_304_and_the_bye_ignored(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("lr")?;
    c.send(&map(&[(0, u(2)), (9, u(0)), (10, t(&"r".repeat(257)))]))?;
    c.expect_error(304, None)?;
    c.send(&ping(5, 5))?;
    expect_pong(&mut c, Some(5), 5)?;
    Ok(Pass)
}

fn sub_and_unsub_answer_meta(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("meta");
    let (mut a, _) = x.client("ma")?;
    let (mut b, _) = x.client("mb")?;
    let m = a.sub(&ch, 2)?;
    let m2 = b.sub(&ch, 2)?;
    b.send(&map(&[(0, u(9)), (1, u(3)), (2, t(&ch))]))?;
    let m3 = b.reply()?;
    let got = |m: &Value| (get(m, 18).and_then(Value::as_bool), uint(m, 19));
    match (got(&m), got(&m2), got(&m3)) {
        ((Some(true), Some(1)), (Some(true), Some(2)), (Some(false), Some(1))) => Ok(Pass),
        other => Err(format!("Meta (subscribed, subscribers) were {other:?}")),
    }
}

fn only_channels_are_subscribable(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, user) = x.client("os")?;
    c.send(&map(&[(0, u(8)), (1, u(3)), (2, t(&user))]))?;
    c.expect_error(405, Some(3))?;
    let reserved = format!("!motd@{}", x.domain);
    c.send(&map(&[(0, u(8)), (1, u(4)), (2, t(&reserved))]))?;
    c.expect_error(405, Some(4))?;
    Ok(Pass)
}

fn topics_lists_the_channel(x: &Ctx) -> Result<Verdict, Fail> {
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

fn catchup_replays_or_says_unavailable(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, user) = x.client("cu")?;
    let ch = x.channel("cu");
    c.sub(&ch, 2)?;
    for (i, body) in ["a", "b", "c"].iter().enumerate() {
        c.say(&ch, body, 3 + i as u64)?;
    }
    c.send(&map(&[(0, u(13)), (1, u(9)), (2, t(&ch)), (15, u(10))]))?;
    let mut got = Vec::new();
    loop {
        let v = c.reply()?;
        match kind(&v) {
            Some(7) if uint(&v, 1) == Some(9) => {
                check_event(&v, &user, &ch, text(&v, 6).unwrap_or(""))?;
                got.push(text(&v, 6).unwrap_or("").to_string());
            }
            Some(14) => {
                return match uint(&v, 22) {
                    Some(2) if got.is_empty() => Ok(Verdict::Skip("the server keeps no history".into())),
                    Some(0) if got == ["a", "b", "c"] && uint(&v, 15) == Some(3) => Ok(Pass),
                    s => Err(format!("CatchupEnd status {s:?} after {got:?}")),
                };
            }
            _ => return Err(format!("during a Catchup: {}", show(&v))),
        }
    }
}

fn catchup_needs_a_subscription(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("cs")?;
    let ch = x.channel("cs");
    c.send(&map(&[(0, u(13)), (1, u(9)), (2, t(&ch)), (15, u(10))]))?;
    c.expect_error(403, Some(9))?;
    Ok(Pass)
}

fn bye_closes_the_connection(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("by")?;
    c.send(&map(&[(0, u(2)), (9, u(0))]))?;
    match c.recv() {
        Err(e) if e.contains("closed") => Ok(Pass),
        Err(e) => Err(e),
        Ok(v) => Err(format!("after Bye, expected a close, got {}", show(&v))),
    }
}
