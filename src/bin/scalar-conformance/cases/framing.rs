//! Framing and the CBOR subset (§2, §3): lengths, split and joined writes, what is malformed.

use super::*;

fn fatal_length(x: &Ctx, prefix: [u8; 2]) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("fl")?;
    c.expect_fatal(&prefix, 101, None)?;
    Ok(Pass)
}

pub(super) fn empty_frame_is_answered_and_the_connection_stays(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ef")?;
    c.bytes(&[0, 0])?;
    c.expect_error(102, None)?;
    c.send(&ping(2, 7))?;
    expect_pong(&mut c, Some(2), 7)?;
    Ok(Pass)
}

pub(super) fn length_16383_is_fatal(x: &Ctx) -> Result<Verdict, Fail> {
    fatal_length(x, [0xff, 0x3f])
}

pub(super) fn length_ffff_is_fatal(x: &Ctx) -> Result<Verdict, Fail> {
    fatal_length(x, [0xff, 0xff])
}

pub(super) fn a_frame_written_a_byte_at_a_time(x: &Ctx) -> Result<Verdict, Fail> {
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
    ident_reply(&c.reply()?)?;
    Ok(Pass)
}

pub(super) fn two_frames_in_one_write(x: &Ctx) -> Result<Verdict, Fail> {
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
    ident_reply(&c.reply()?).map_err(|e| format!("first: {e}"))?;
    expect_pong(&mut c, Some(2), 5)?;
    Ok(Pass)
}

pub(super) fn bytes_after_the_item_are_malformed(x: &Ctx) -> Result<Verdict, Fail> {
    let mut p = cbor(&ping(2, 1));
    p.push(0x00);
    malformed_then_alive(x, &p, 100)
}

pub(super) fn a_truncated_item_is_malformed(x: &Ctx) -> Result<Verdict, Fail> {
    // A map of three pairs with only two.
    malformed_then_alive(x, &[0xa3, 0x00, 0x04, 0x04, 0x01], 100)
}

pub(super) fn indefinite_lengths_are_malformed(x: &Ctx) -> Result<Verdict, Fail> {
    malformed_then_alive(x, &[0xbf, 0x00, 0x04, 0x04, 0x01, 0xff], 100)
}

pub(super) fn tags_are_malformed(x: &Ctx) -> Result<Verdict, Fail> {
    malformed_then_alive(x, &ping_with(&[0xc1, 0x01]), 100)
}

pub(super) fn nesting_16_is_fine_17_is_not(x: &Ctx) -> Result<Verdict, Fail> {
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
    // Maps count as arrays do (§3): `{0: {0: ... {}}}`, 16 maps then 17.
    let maps = |n: usize| {
        let mut v = [0xa1, 0x00].repeat(n - 1);
        v.push(0xa0);
        v
    };
    c.bytes(&frame(&ping_with(&maps(16))))?;
    expect_pong(&mut c, Some(9), 1).map_err(|e| format!("16 nested maps: {e}"))?;
    c.bytes(&frame(&ping_with(&maps(17))))?;
    c.expect_error(100, None)
        .map_err(|e| format!("17 nested maps: {e}"))?;
    Ok(Pass)
}

pub(super) fn invalid_utf8_is_bad_utf8(x: &Ctx) -> Result<Verdict, Fail> {
    malformed_then_alive(x, &ping_with(&[0x62, 0xc3, 0x28]), 105)
}

/// A fault of the CBOR comes before one of a field's value, wherever each is in the map:
/// `{0: 6, 1: 9, 2: "#BAD", 6: <text that is not UTF-8>}` is 105, not 301.
pub(super) fn a_cbor_fault_after_a_bad_field_comes_first(x: &Ctx) -> Result<Verdict, Fail> {
    let payload = [
        0xa4, 0x00, 0x06, 0x01, 0x09, 0x02, 0x64, b'#', b'B', b'A', b'D', 0x06, 0x62, 0xc3, 0x28,
    ];
    faulty_then_alive(x, &payload, 105, Some(9))
}

pub(super) fn a_non_shortest_integer_is_accepted(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ns")?;
    // {0: 4, 1: 9, 4: 7} with 7 written in eight bytes.
    c.bytes(&frame(&[
        0xa3, 0x00, 0x04, 0x01, 0x09, 0x04, 0x1b, 0, 0, 0, 0, 0, 0, 0, 7,
    ]))?;
    expect_pong(&mut c, Some(9), 7)?;
    Ok(Pass)
}

/// §1: a plain port whose client opens with a TLS record's bytes (`16 03`, a ClientHello)
/// SHOULD answer at once with Error `malformed` (100) and Bye, and close. A SHOULD, so a
/// server that waits instead for the frame those bytes announce (0x0316 = 790 bytes) is
/// advisory ([`CLIENT_HELLO`]), as the suite reports the other SHOULDs, not failed.
pub(super) fn a_tls_client_hello_on_a_plain_port_is_refused_at_once(x: &Ctx) -> Result<Verdict, Fail> {
    if x.dial.tls.is_some() {
        return Ok(Verdict::Skip(
            "a plain port's rule, and this run is over TLS".into(),
        ));
    }
    let mut c = x.raw()?;
    // A TLS handshake record (22), version 3.1, 200 bytes long, holding a ClientHello (1) of
    // TLS 1.2 (3.3): its first 43 bytes, as a TLS library sends them, the rest never.
    let mut hello = vec![0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03];
    hello.extend([0x5a; 32]);
    c.bytes(&hello)?;
    match c.recv() {
        Ok(v) if kind(&v) == Some(3) && uint(&v, 9) == Some(100) => {
            c.expect_bye_and_close(100)?;
            Ok(Pass)
        }
        // Nothing in time, or the handshake timeout's Error: the server waited.
        Err(why) if why.contains("in time") => advisory(
            CLIENT_HELLO,
            "no answer to a ClientHello's first bytes: the server waits for the frame they \
             announce",
        ),
        Ok(v) if kind(&v) == Some(3) && uint(&v, 9) == Some(203) => advisory(
            CLIENT_HELLO,
            "the handshake timeout, not Error 100, answered a ClientHello's first bytes",
        ),
        Ok(v) => Err(format!(
            "a ClientHello's first bytes: expected Error 100 and Bye, or nothing, got {}",
            show(&v)
        )),
        Err(why) => Err(format!("a ClientHello's first bytes: {why}")),
    }
}
