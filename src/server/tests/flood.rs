//! Anti-flood: holds, wake-ups, connection rates, subnets, and who makes room on a full server.

use super::*;

const CH: &str = "#flood@example.com";

fn message(text: &str) -> Vec<u8> {
    frame(Msg::Message(Message {
        seq: Some(9),
        topic: n(CH),
        body: Body::Text(text),
        ctype: None,
        reply_to: None,
    }))
}

/// Hands one frame to the core; true if it took it, false if it holds the connection.
fn offer(r: &mut Rig, conn: ConnId, bytes: &[u8]) -> bool {
    let Ok(Status::Complete((decoded, len))) = decode_frame(bytes) else {
        panic!("test frame")
    };
    r.server.receive(conn, decoded, len, &r.now, &mut r.out)
}

fn limited(messages: Rate, id_messages: Rate) -> Limits {
    Limits {
        messages: Some(messages),
        id_messages: Some(id_messages),
        ..Limits::default()
    }
}

#[test]
fn a_burst_passes_then_input_waits_for_the_rate_and_wakes_exactly_on_time() {
    let mut r = Rig::new(limited(Rate::new(5, 20), Rate::new(100, 100)));
    r.connect(0, "alice@example.com");
    r.sub(0, CH);
    for i in 0..20 {
        assert!(
            offer(&mut r, 0, &message(&i.to_string())),
            "message {i} is in the burst"
        );
    }
    assert_eq!(r.out.take(0).len(), 20, "twenty echoes");
    let m = message("21st");
    assert!(!offer(&mut r, 0, &m), "the 21st waits");
    assert!(r.server.waiting(0) && r.server.throttled(0) && r.server.busy(0));
    assert!(
        r.out.take(0).is_empty(),
        "nothing is refused: the frame just waits"
    );
    let wake = r.server.next_wake().expect("a wake-up is due");
    assert_eq!(wake, r.now.mono + Duration::from_millis(200), "one token at 5/s");

    r.now.mono += Duration::from_millis(199);
    r.server.wake(&r.now, &mut r.out);
    assert!(r.out.resumed.is_empty() && r.server.throttled(0), "not yet");
    r.now.mono += Duration::from_millis(1);
    r.server.wake(&r.now, &mut r.out);
    assert_eq!(r.out.resumed, [0]);
    assert!(!r.server.waiting(0) && r.server.next_wake().is_none());
    assert!(offer(&mut r, 0, &m), "handed over again, it passes");
    assert_eq!(
        r.out.take(0),
        ["Event #flood@example.com alice@example.com 21st seq=Some(9)"]
    );
    assert!(!offer(&mut r, 0, &m), "and the next waits again");
}

/// A server admin who logged in is never held (a raid's cleanup comes by the hundred); everyone
/// else is.
#[test]
fn a_logged_in_admin_is_not_held() {
    let mut r = super::auth::rig(crate::server::Policy::Open, false);
    r.server.set_limits(limited(Rate::new(5, 20), Rate::new(10, 40)));
    r.admins(&["alice@example.com"]);
    r.log_in(0, "alice");
    r.connect(1, "bob@example.com");
    for conn in [0, 1] {
        r.sub(conn, CH);
    }
    for i in 0..100 {
        assert!(offer(&mut r, 0, &message(&i.to_string())), "the admin's {i}");
    }
    assert!(!r.server.waiting(0));
    let held = (0..21).find(|i| !offer(&mut r, 1, &message(&i.to_string())));
    assert_eq!(held, Some(20), "bob is no admin: held after the burst");
}

/// A purge walks a week of its channel in the writer: it costs ten Messages' tokens.
#[test]
fn a_purge_costs_ten_messages() {
    let mut r = Rig::new(limited(Rate::new(5, 20), Rate::new(100, 100)));
    r.connect(0, "alice@example.com");
    r.sub(0, CH);
    let purge = frame(Msg::Mod(Mod {
        until: None,
        seq: Some(3),
        topic: n(CH),
        action: Action::Purge,
        target: "spam*@example.com",
        reason: None,
        since: None,
    }));
    assert!(
        offer(&mut r, 0, &purge) && offer(&mut r, 0, &purge),
        "twenty tokens: two"
    );
    assert!(!offer(&mut r, 0, &purge), "the third waits");
}

#[test]
fn only_messages_spend_message_tokens() {
    let mut r = Rig::new(limited(Rate::new(1, 1), Rate::new(1, 1)));
    r.connect(0, "alice@example.com");
    for _ in 0..50 {
        assert_eq!(
            r.sub(0, CH),
            ["Meta #flood@example.com true 1"],
            "Sub is not a message"
        );
    }
    assert!(offer(&mut r, 0, &message("one")));
    assert!(!offer(&mut r, 0, &message("two")));
}

#[test]
fn listings_cost_a_message() {
    // A Topics or Members request is a few bytes; its reply can be 40 KB.
    let mut r = Rig::new(limited(Rate::new(1, 2), Rate::new(100, 100)));
    r.connect(0, "alice@example.com");
    r.sub(0, CH);
    let topics = frame(Msg::Topics(Topics {
        seq: Some(4),
        start: 0,
        count: 100,
        cursor: None,
        query: None,
    }));
    let members = frame(Msg::Members(Members {
        seq: Some(5),
        topic: n(CH),
        count: 100,
        cursor: None,
        query: None,
    }));
    assert!(offer(&mut r, 0, &topics));
    assert!(offer(&mut r, 0, &members));
    assert!(!offer(&mut r, 0, &topics), "held, not refused");
}

/// A Sub of `topic`, framed.
fn sub_of(topic: &str) -> Vec<u8> {
    frame(Msg::Sub(Sub {
        seq: Some(2),
        topic: n(topic),
    }))
}

/// An Unsub of `topic`, framed.
fn unsub_of(topic: &str) -> Vec<u8> {
    frame(Msg::Unsub(Unsub {
        seq: Some(3),
        topic: n(topic),
        reason: Some("bye"),
    }))
}

#[test]
fn subs_past_the_free_ones_cost_a_message() {
    let mut r = Rig::new(limited(Rate::new(1, 1), Rate::new(100, 100)));
    r.connect(0, "alice@example.com");
    let (sub, unsub) = (sub_of(CH), unsub_of(CH));
    // A reconnect's worth of Subs spends only bytes...
    for i in 0..FREE_SUBS {
        let sub = sub_of(&format!("#c{i}@example.com"));
        assert!(offer(&mut r, 0, &sub), "Sub {i} is free");
    }
    // ... then each Sub costs a Message: the one in the bucket, then a wait.
    assert!(offer(&mut r, 0, &sub));
    assert!(offer(&mut r, 0, &unsub), "Unsub is not a message");
    assert!(!offer(&mut r, 0, &sub), "held, not refused");
    assert!(r.server.throttled(0));
    assert_eq!(r.server.next_wake(), Some(r.now.mono + Duration::from_secs(1)));
}

/// Joining and leaving again and again would put two lines a turn on every member's screen:
/// after a connection's first leave, its joins pay, so the churn goes at the message rate.
#[test]
fn joins_after_a_leave_cost_a_message() {
    let mut r = Rig::new(limited(Rate::new(1, 2), Rate::new(100, 100)));
    r.connect(0, "alice@example.com");
    let (sub, unsub) = (sub_of(CH), unsub_of(CH));
    assert!(offer(&mut r, 0, &sub), "a first join is free");
    assert!(offer(&mut r, 0, &unsub), "a leave spends only bytes");
    assert!(offer(&mut r, 0, &sub), "the burst's first token");
    assert!(offer(&mut r, 0, &unsub));
    assert!(offer(&mut r, 0, &sub), "the burst's second");
    assert!(offer(&mut r, 0, &unsub));
    assert!(!offer(&mut r, 0, &sub), "held, not refused");
    assert_eq!(r.server.next_wake(), Some(r.now.mono + Duration::from_secs(1)));
    // Watching a user's presence (Unsub of an ID topic) is no leave.
    r.connect(1, "bob@example.com");
    assert!(offer(&mut r, 1, &unsub_of("alice@example.com")));
    for i in 0..3 {
        assert!(offer(&mut r, 1, &sub), "free Sub {i}");
    }
}

#[test]
fn a_refused_sub_uses_up_more_of_the_free_ones() {
    let mut r = Rig::new(limited(Rate::new(1, 1), Rate::new(100, 100)));
    r.connect(0, "alice@example.com");
    r.sub(0, CH);
    r.send(
        0,
        Msg::SetMeta(SetMeta {
            seq: Some(4),
            topic: n(CH),
            display: None,
            subject: None,
            modes: Some(modes::INVITE_ONLY),
            rate: None,
            join_rate: None,
        }),
    );
    r.connect(1, "bob@example.com");
    let sub = frame(Msg::Sub(Sub {
        seq: Some(2),
        topic: n(CH),
    }));
    // Seven refusals use up 56 of the 64 free Subs: 8 are left, for an open channel.
    for i in 0..7 {
        assert!(offer(&mut r, 1, &sub), "refused Sub {i} is free");
        assert!(r.out.take(1).iter().any(|f| f.starts_with("Error 804")));
    }
    let open = frame(Msg::Sub(Sub {
        seq: Some(3),
        topic: n("#open@example.com"),
    }));
    let left = FREE_SUBS - 7 * REFUSED_SUB_WEIGHT;
    assert_eq!(left, 8);
    for i in 0..left {
        assert!(offer(&mut r, 1, &open), "free Sub {i}");
    }
    assert!(offer(&mut r, 1, &open), "one more, for the Message in the bucket");
    assert!(!offer(&mut r, 1, &sub), "then it waits");
}

#[test]
fn a_user_s_connections_share_one_bucket() {
    let mut r = Rig::new(limited(Rate::new(100, 100), Rate::new(1, 3)));
    r.connect(0, "alice@example.com");
    r.connect(1, "alice@example.com");
    r.connect(2, "bob@example.com");
    for c in 0..3 {
        r.sub(c, CH);
    }
    assert!(offer(&mut r, 0, &message("a")));
    assert!(offer(&mut r, 1, &message("b")));
    assert!(offer(&mut r, 0, &message("c")));
    assert!(
        !offer(&mut r, 1, &message("d")),
        "alice's fourth, on either connection, waits"
    );
    assert!(offer(&mut r, 2, &message("e")), "bob has his own");
    assert!(!r.server.throttled(0), "only the connection that asked is held");
}

/// A reload that turns the per-ID limit off forgets its buckets (found by QA: they stayed for
/// good, since only the limit's own check pruned them).
#[test]
fn the_per_id_buckets_go_with_their_limit() {
    let mut r = Rig::new(limited(Rate::new(100, 100), Rate::new(1, 3)));
    r.connect(0, "alice@example.com");
    r.sub(0, CH);
    assert!(offer(&mut r, 0, &message("a")));
    assert_eq!(r.server.flood.ids.len(), 1);
    r.server.set_limits(Limits {
        id_messages: None,
        ..limited(Rate::new(100, 100), Rate::new(1, 3))
    });
    r.advance(Duration::from_secs(1));
    assert!(r.server.flood.ids.is_empty());
}

#[test]
fn a_user_s_connections_take_the_shared_tokens_in_turn() {
    // Two of alice's connections publish as fast as they are let; a third, later, asks once.
    let mut r = Rig::new(limited(Rate::new(1000, 1000), Rate::new(10, 1)));
    for c in 0..3 {
        r.connect(c, "alice@example.com");
        r.sub(c, CH);
    }
    let m = message("x");
    let start = r.now.mono;
    let mut asked = [true, true, false];
    let mut third_passed = None;
    // The shell's part: offer each connection's next frame unless it is held, the lowest
    // connection first, as the holds' ties come out of their heap; wake them in time.
    for step in 0..50 {
        if step == 3 {
            asked[2] = true;
        }
        for c in 0..3 {
            if asked[c] && !r.server.throttled(c) && offer(&mut r, c, &m) && c == 2 {
                asked[2] = false;
                third_passed.get_or_insert(r.now.mono - start);
            }
        }
        r.now.mono += Duration::from_millis(100);
        r.server.wake(&r.now, &mut r.out);
    }
    // It asked at 300 ms, behind one booking of each flooder: its turn comes a few tokens on
    // (waiting and retrying, it lost every token to connection 0 and never passed).
    let passed = third_passed.expect("the third connection is served");
    assert!(passed <= Duration::from_millis(700), "{passed:?}");
}

#[test]
fn connections_that_book_and_leave_give_their_tokens_back() {
    let mut r = Rig::new(limited(Rate::new(100, 100), Rate::new(1, 1)));
    let m = message("x");
    // One passes on the burst; nineteen more of bob's connections book a token each and close.
    for c in 1..=20 {
        r.connect(c, "bob@example.com");
        r.sub(c, CH);
        assert_eq!(offer(&mut r, c, &m), c == 1, "connection {c}");
    }
    for c in 1..=20 {
        r.server.disconnect(c);
    }
    // bob's own connection waits for one token, not for twenty.
    r.connect(0, "bob@example.com");
    r.sub(0, CH);
    assert!(!offer(&mut r, 0, &m));
    r.now.mono += Duration::from_secs(1);
    r.server.wake(&r.now, &mut r.out);
    assert!(r.out.resumed.contains(&0), "resumed after one token's time");
    assert!(offer(&mut r, 0, &m));
}

#[test]
fn bytes_are_limited_too_and_a_frame_above_the_burst_still_passes() {
    let mut r = Rig::new(Limits {
        bytes: Some(Rate::new(1000, 4000)),
        messages: None,
        id_messages: None,
        ..Limits::default()
    });
    r.connect(0, "alice@example.com");
    r.sub(0, CH);
    let big = message(&"x".repeat(6000));
    // Ident and Sub spent a little: wait for a full bucket.
    r.now.mono += Duration::from_secs(1);
    assert!(offer(&mut r, 0, &big), "charged as the whole burst");
    assert!(!offer(&mut r, 0, &big));
    assert_eq!(r.server.next_wake(), Some(r.now.mono + Duration::from_secs(4)));
}

/// Alice at one Message a second, held on her second.
fn held_alice() -> Rig {
    let mut r = Rig::new(limited(Rate::new(1, 1), Rate::new(1, 1)));
    r.connect(0, "alice@example.com");
    r.sub(0, CH);
    assert!(offer(&mut r, 0, &message("a")));
    assert!(!offer(&mut r, 0, &message("b")));
    r.out.take(0);
    r
}

#[test]
fn a_held_connection_is_not_timed_out_for_silence() {
    let mut r = held_alice();
    // Its Pong may sit behind the held frame: the silence is the server's.
    r.advance(Duration::from_secs(200));
    r.advance(Duration::from_secs(200));
    assert!(r.out.take(0).is_empty(), "no Ping, no ping_timeout");
    assert!(r.out.closed.is_empty());
}

#[test]
fn flooding_closes_with_506_and_stale_holds_are_skipped() {
    let mut r = held_alice();
    r.server.flooding(0, &mut r.out);
    assert_eq!(r.out.take(0), ["Error 506 flooding seq=None", "Bye 506"]);
    assert_eq!(r.out.closed, [0]);
    r.server.flooding(0, &mut r.out);
    assert!(r.out.take(0).is_empty(), "once");
    r.connect(0, "bob@example.com");
    r.now.mono += Duration::from_secs(5);
    r.server.wake(&r.now, &mut r.out);
    assert!(
        r.out.resumed.is_empty(),
        "the hold of the closed connection is not bob's"
    );
    assert_eq!(r.server.next_wake(), None);
}

#[test]
fn an_address_opening_connections_too_fast_is_refused_with_505() {
    let mut r = Rig::new(Limits {
        connect_rate: Some(Rate::new(2, 3)),
        ..Limits::default()
    });
    let a: IpAddr = Ipv4Addr::new(192, 0, 2, 1).into();
    let b: IpAddr = Ipv4Addr::new(198, 51, 100, 2).into();
    for c in 0..3 {
        assert!(r.server.accept(c, a, &r.now, &mut r.out));
        r.server.disconnect(c);
    }
    assert!(
        !r.server.accept(3, a, &r.now, &mut r.out),
        "closing them does not help"
    );
    assert_eq!(
        r.out.take(3),
        [
            "Error 505 connecting_too_fast seq=None retry_after=500",
            "Bye 505"
        ]
    );
    assert!(
        r.server.accept(4, b, &r.now, &mut r.out),
        "another network is not affected"
    );
    let same_net: IpAddr = Ipv4Addr::new(192, 0, 2, 77).into();
    assert!(
        !r.server.accept(6, same_net, &r.now, &mut r.out),
        "the rate is per /24"
    );
    r.now.mono += Duration::from_millis(500);
    assert!(r.server.accept(5, a, &r.now, &mut r.out), "one more after 1/rate");
}

/// Found by QA: a host retrying while its address held all it may spent its network's rate on
/// connections refused 501, and a neighbour on the same /24 was refused 505 for it.
#[test]
fn connections_refused_for_a_full_address_spend_none_of_the_network_s_rate() {
    let mut r = Rig::new(Limits {
        connect_rate: Some(Rate::new(2, 3)),
        max_per_address: 1,
        ..Limits::default()
    });
    let full: IpAddr = Ipv4Addr::new(192, 0, 2, 1).into();
    let neighbour: IpAddr = Ipv4Addr::new(192, 0, 2, 2).into();
    assert!(r.server.accept(0, full, &r.now, &mut r.out));
    for c in 1..10 {
        assert!(!r.server.accept(c, full, &r.now, &mut r.out));
        assert_eq!(
            r.out.take(c)[0],
            "Error 501 too_many_from_address seq=None",
            "conn {c}"
        );
    }
    assert!(
        r.server.accept(10, neighbour, &r.now, &mut r.out),
        "the neighbour has the rest of the burst"
    );
}

/// Found by QA: a client on a flaky link left each dead connection counted for its address
/// until the server's own Ping timed out (`idle-timeout` + `ping-timeout`, 90 s), and a few
/// such users filled the address's slots. Refused for its address, a connection has that
/// address's silent connections pinged at once, and the dead closed a `ping-timeout` later.
#[test]
fn an_address_at_its_limit_has_its_silent_connections_pinged_at_once() {
    let mut r = Rig::new(Limits {
        max_per_address: 2,
        ..Limits::default()
    });
    let (a, other): (IpAddr, IpAddr) = (
        Ipv4Addr::new(192, 0, 2, 1).into(),
        Ipv4Addr::new(192, 0, 2, 9).into(),
    );
    r.connect_from(0, "alice@example.com", a);
    r.connect_from(9, "carol@example.com", other);
    r.advance(Duration::from_secs(5));
    r.connect_from(1, "bob@example.com", a);
    r.advance(Duration::from_secs(6));
    assert!(!r.server.accept(2, a, &r.now, &mut r.out));
    assert_eq!(r.out.take(2)[0], "Error 501 too_many_from_address seq=None");
    assert_eq!(r.out.take(0), ["Ping"], "silent for 11 s");
    assert!(r.out.take(1).is_empty(), "silent for 6 s only");
    assert!(r.out.take(9).is_empty(), "another address");
    // Knocking again while those Pings are out asks nobody again.
    r.advance(Duration::from_secs(5));
    assert!(!r.server.accept(3, a, &r.now, &mut r.out));
    r.out.take(3);
    assert!(r.out.take(1).is_empty(), "pinged once a ping-timeout");
    // Alice's connection is dead: it is closed a ping-timeout after the Ping, and makes room.
    r.advance(Duration::from_secs(25));
    assert!(r.out.closed.contains(&0), "{:?}", r.out.closed);
    assert!(!r.out.closed.contains(&1));
    assert!(r.server.accept(4, a, &r.now, &mut r.out));
}

/// Found in review: each probe walks every session, so many addresses at their limit made
/// every refusal cost a walk. At most 8 a second; the rest are probed at a later knock.
#[test]
fn addresses_at_their_limit_are_probed_at_most_eight_a_second() {
    let mut r = Rig::new(Limits {
        max_per_address: 1,
        ..Limits::default()
    });
    let addr = |i: u8| -> IpAddr { Ipv4Addr::new(192, 0, i, 1).into() };
    for i in 0..10u8 {
        r.connect_from(usize::from(i), &format!("u{i}@example.com"), addr(i));
    }
    r.advance(Duration::from_secs(11));
    let knock = |r: &mut Rig, i: u8| {
        let conn = 100 + usize::from(i);
        assert!(!r.server.accept(conn, addr(i), &r.now, &mut r.out));
        r.out.take(conn);
    };
    for i in 0..10u8 {
        knock(&mut r, i);
    }
    let pinged = |r: &mut Rig, i: u8| r.out.take(usize::from(i)) == ["Ping"];
    assert!((0..8).all(|i| pinged(&mut r, i)), "the first eight");
    assert!(!pinged(&mut r, 8) && !pinged(&mut r, 9), "past the budget");
    r.advance(Duration::from_secs(1));
    knock(&mut r, 8);
    assert!(pinged(&mut r, 8), "a later knock");
}

#[test]
fn subnets_have_their_own_limit() {
    let mut r = Rig::new(Limits {
        max_per_subnet: 3,
        max_per_address: 1,
        ..Limits::default()
    });
    for (c, host) in [1u8, 2, 3].into_iter().enumerate() {
        assert!(
            r.server
                .accept(c, Ipv4Addr::new(198, 51, 100, host).into(), &r.now, &mut r.out)
        );
    }
    assert!(
        !r.server
            .accept(3, Ipv4Addr::new(198, 51, 100, 4).into(), &r.now, &mut r.out)
    );
    assert_eq!(
        r.out.take(3),
        ["Error 501 too_many_from_address seq=None", "Bye 501"]
    );
    assert!(
        r.server
            .accept(4, Ipv4Addr::new(198, 51, 101, 4).into(), &r.now, &mut r.out)
    );
    let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
    for (c, a) in ["2001:db8:1:1::1", "2001:db8:1:2::1", "2001:db8:1:ff::1"]
        .into_iter()
        .enumerate()
    {
        assert!(
            r.server.accept(10 + c, v6(a), &r.now, &mut r.out),
            "three /64s of one /48"
        );
    }
    assert!(!r.server.accept(13, v6("2001:db8:1:3::1"), &r.now, &mut r.out));
    assert!(r.server.accept(14, v6("2001:db8:2::1"), &r.now, &mut r.out));
    // A disconnect frees its /64's and its /48's count (worked out again from the peer).
    r.server.disconnect(11);
    assert!(
        r.server.accept(16, v6("2001:db8:1:2::7"), &r.now, &mut r.out),
        "the /64 and the /48 have room again"
    );
    assert!(!r.server.accept(17, v6("2001:db8:1:3::1"), &r.now, &mut r.out));
    r.server.limits.max_per_address = 5;
    assert!(
        r.server
            .accept(15, Ipv4Addr::new(198, 51, 100, 4).into(), &r.now, &mut r.out),
        "never below max-per-address"
    );
}

#[test]
fn a_full_server_closes_the_idle_in_order_found_by_one_walk_and_checked_again() {
    let mut r = Rig::new(Limits {
        max_connections: 4,
        ..Limits::default()
    });
    for (c, u) in [(0, "a@example.com"), (1, "b@example.com"), (2, "c@example.com")] {
        r.connect(c, u);
        r.advance(Duration::from_secs(1));
    }
    r.connect(3, "d@example.com");
    let ip = Ipv4Addr::LOCALHOST.into();
    let idle = r.server.limits.idle_timeout;
    r.advance(idle - Duration::from_millis(2500));
    // Only a is idle enough; the walk that finds it also finds when b will be.
    assert!(r.server.accept(4, ip, &r.now, &mut r.out));
    assert!(r.out.closed.contains(&0));
    r.server.disconnect(0);
    assert!(
        !r.server.accept(5, ip, &r.now, &mut r.out),
        "b is not idle enough yet"
    );
    r.advance(Duration::from_secs(2));
    // b and c are idle now. c speaks after the walk found both: it is not closed.
    assert!(r.server.accept(0, ip, &r.now, &mut r.out));
    assert!(r.out.closed.contains(&1));
    r.server.disconnect(1);
    r.sub(2, CH);
    r.advance(Duration::from_millis(200));
    assert!(
        !r.server.accept(1, ip, &r.now, &mut r.out),
        "c spoke, d and the new ones are too recent"
    );
    assert!(!r.out.closed.contains(&2));
    // A shorter idle period (a reload) counts at once.
    let mut limits = r.server.limits.clone();
    limits.idle_timeout = Duration::from_secs(1);
    r.server.set_limits(limits);
    assert!(r.server.accept(1, ip, &r.now, &mut r.out));
    assert!(r.out.closed.contains(&3), "d, the longest idle now");
}

#[test]
fn a_full_server_makes_room_by_closing_the_longest_idle_unauthenticated_connection() {
    let mut r = Rig::new(Limits {
        max_connections: 3,
        ..Limits::default()
    });
    r.connect(0, "alice@example.com");
    r.connect(1, "bob@example.com");
    r.connect(2, "carol@example.com");
    if let Some(s) = r.server.sessions[0].as_mut() {
        s.logged_in = true;
    }
    let ip = Ipv4Addr::LOCALHOST.into();
    assert!(
        !r.server.accept(3, ip, &r.now, &mut r.out),
        "nobody has been idle yet"
    );
    assert_eq!(
        r.out.take(3),
        ["Error 500 too_many_connections seq=None", "Bye 500"]
    );

    r.advance(Duration::from_secs(30));
    r.sub(2, CH);
    // Pings and Pongs keep a connection open but do not make it active.
    assert_eq!(r.send(1, Msg::Ping(Ping { seq: None, time: 1 })), ["Pong 1"]);
    r.advance(Duration::from_secs(30));
    assert!(r.server.accept(3, ip, &r.now, &mut r.out), "bob made room");
    assert_eq!(
        r.out.take(1),
        ["Error 500 too_many_connections seq=None", "Bye 500"]
    );
    assert!(r.out.closed.contains(&1));
    assert!(
        !r.server.accept(4, ip, &r.now, &mut r.out),
        "carol was active 30 s ago, alice logged in"
    );
}
