//! Joins and leaves (PROTOCOL.md §4): who is told, of what, and when not.

use super::*;

const CH: &str = "#a@example.com";

fn told(who: &str, did: &str) -> String {
    format!("Event {CH} {who} {did} seq=None")
}

fn bye(reason: Option<&str>) -> Msg<'_> {
    Msg::Bye(Bye { code: 0, reason })
}

fn kick(r: &mut Rig, conn: ConnId, target: &str) -> Vec<String> {
    let m = Mod {
        until: None,
        seq: Some(7),
        topic: n(CH),
        action: Action::Kick,
        target,
        reason: None,
        since: None,
    };
    r.send(conn, Msg::Mod(m))
}

/// alice (connection 0, who asked for joins and owns the channel) and bob (1), both in it.
fn alice_asking_and_bob() -> Rig {
    let mut r = Rig::new(Limits::default());
    r.connect_asking(0, "alice@example.com", false, true);
    r.connect(1, "bob@example.com");
    r.sub(0, CH);
    r.sub(1, CH);
    r
}

/// Connection 0, the channel's owner, mutes bob.
fn mute_bob(r: &mut Rig) {
    let mute = Mod {
        until: None,
        seq: Some(7),
        topic: n(CH),
        action: Action::Mute,
        target: "bob@example.com",
        reason: None,
        since: None,
    };
    r.send(0, Msg::Mod(mute));
}

fn private_members(r: &mut Rig, conn: ConnId) -> Vec<String> {
    let m = SetMeta {
        seq: Some(4),
        topic: n(CH),
        display: None,
        subject: None,
        modes: Some(modes::PRIVATE_MEMBERS),
        rate: None,
        join_rate: None,
    };
    r.send(conn, Msg::SetMeta(m))
}

fn unsub(r: &mut Rig, conn: ConnId) {
    leave(r, conn, None);
}

fn leave(r: &mut Rig, conn: ConnId, reason: Option<&str>) {
    let m = Unsub {
        seq: Some(3),
        topic: n(CH),
        reason,
    };
    r.send(conn, Msg::Unsub(m));
}

#[test]
fn a_user_joins_with_its_first_connection_and_leaves_with_its_last() {
    let mut r = Rig::new(Limits::default());
    r.connect_asking(0, "alice@example.com", false, true);
    r.connect(1, "bob@example.com");
    r.connect(2, "bob@example.com");
    r.connect(3, "carol@example.com");
    r.sub(0, CH);
    r.sub(3, CH);
    assert_eq!(r.out.take(0), [told("carol@example.com", "joined")]);
    assert!(r.out.take(3).is_empty(), "carol did not ask");
    r.sub(1, CH);
    assert_eq!(r.out.take(0), [told("bob@example.com", "joined")]);
    r.sub(2, CH);
    assert!(r.out.take(0).is_empty(), "bob was in already");
    unsub(&mut r, 1);
    assert!(r.out.take(0).is_empty(), "bob is still in");
    unsub(&mut r, 2);
    assert_eq!(r.out.take(0), [told("bob@example.com", "left")]);
    // Closed with a Bye's reason: told once there is an outbox, in order with what follows.
    r.sub(1, CH);
    r.out.take(0);
    r.send(1, bye(Some("gone fishing")));
    r.connect(1, "bob@example.com");
    r.sub(1, CH);
    assert_eq!(
        r.out.take(0),
        [
            told("bob@example.com", "quit gone fishing"),
            told("bob@example.com", "joined")
        ]
    );
    r.send(1, bye(None));
    r.server.wake(&r.now, &mut r.out);
    assert_eq!(r.out.take(0), [told("bob@example.com", "quit")]);
    // Closed by the server: the label of its Bye's code.
    r.connect(1, "bob@example.com");
    r.sub(1, CH);
    r.out.take(0);
    r.server.frame_too_long(1, 70_000, &mut r.out);
    r.server.wake(&r.now, &mut r.out);
    assert_eq!(r.out.take(0), [told("bob@example.com", "quit frame_too_long")]);
    // One of a user's two connections closing is no quit; the second is, once.
    r.out.take(1);
    r.connect(1, "bob@example.com");
    r.connect(2, "bob@example.com");
    r.sub(1, CH);
    r.sub(2, CH);
    r.out.take(0);
    r.server.disconnect(1);
    r.server.wake(&r.now, &mut r.out);
    assert!(r.out.take(0).is_empty(), "bob is still in");
    r.server.disconnect(2);
    r.server.wake(&r.now, &mut r.out);
    r.server.wake(&r.now, &mut r.out);
    assert_eq!(r.out.take(0), [told("bob@example.com", "quit")]);
    // A connection that was not in the channel any more tells nothing when it closes.
    unsub(&mut r, 3);
    r.out.take(0);
    r.server.disconnect(3);
    r.server.wake(&r.now, &mut r.out);
    assert!(r.out.take(0).is_empty());
}

#[test]
fn a_kick_is_its_record_alone_and_private_members_are_told_to_operators_only() {
    let mut r = Rig::new(Limits::default());
    r.connect_asking(0, "alice@example.com", false, true);
    r.connect_asking(1, "bob@example.com", false, true);
    r.connect(2, "carol@example.com");
    for c in 0..3 {
        r.sub(c, CH);
    }
    r.out.take(0);
    r.out.take(1);
    kick(&mut r, 0, "carol@example.com");
    let bob = r.out.take(1);
    assert_eq!(bob.len(), 1, "{bob:?}");
    assert!(bob[0].contains("kick carol@example.com"), "{bob:?}");
    private_members(&mut r, 0);
    r.out.take(0);
    r.out.take(1);
    r.sub(2, CH);
    assert_eq!(r.out.take(0), [told("carol@example.com", "joined")], "the owner");
    assert!(r.out.take(1).is_empty(), "bob may not list the members");
    unsub(&mut r, 2);
    assert_eq!(r.out.take(0), [told("carol@example.com", "left")]);
    assert!(r.out.take(1).is_empty(), "nor learn who leaves");
}

/// CH with alice (its owner) and bob (a member), both asking for joins, then `others` more
/// connections, u2 on.
fn owner_member_and(others: usize) -> Rig {
    let mut r = Rig::new(
        Limits {
            max_per_address: 1_000,
            max_per_subnet: 1_000,
            ..Limits::default()
        }
        .without_flood_limits(),
    );
    r.connect_asking(0, "alice@example.com", false, true);
    r.sub(0, CH);
    r.connect_asking(1, "bob@example.com", false, true);
    r.sub(1, CH);
    for c in 2..2 + others {
        r.connect(c, &format!("u{c}@example.com"));
        r.sub(c, CH);
    }
    r
}

/// Past [`MAX_TOLD`] connections a channel's joins and leaves go only to those who run it:
/// its members would get little else, but its operators watch a raid there (found by QA: they
/// lost sight of it exactly when it was largest).
#[test]
fn a_channel_of_more_than_max_told_connections_tells_only_its_operators() {
    let mut r = owner_member_and(MAX_TOLD - 2);
    assert_eq!(
        r.out.take(1).len(),
        MAX_TOLD - 2,
        "up to {MAX_TOLD} connections, each"
    );
    r.out.take(0);
    r.connect(MAX_TOLD, "last@example.com");
    r.sub(MAX_TOLD, CH);
    assert!(r.out.take(1).is_empty(), "the {}th", MAX_TOLD + 1);
    assert_eq!(
        r.out.take(0),
        [told("last@example.com", "joined")],
        "the owner is"
    );
    // Its leave counts it too (found in review: told, though its join was not).
    unsub(&mut r, MAX_TOLD);
    assert!(r.out.take(1).is_empty());
    assert_eq!(r.out.take(0), [told("last@example.com", "left")]);
    unsub(&mut r, 2);
    assert_eq!(
        r.out.take(1),
        [told("u2@example.com", "left")],
        "{MAX_TOLD} with it"
    );
}

/// A burst of closes in a channel past the bound: each quit is judged by the channel's size
/// when it quit, not when it is told (found by QA: 280 closes at once told every member all
/// of them, the channel having shrunk below the bound by then).
#[test]
fn a_burst_of_quits_past_the_bound_goes_to_operators_only() {
    let last = MAX_TOLD + 5;
    let mut r = owner_member_and(last - 2);
    r.out.take(0);
    r.out.take(1);
    // Closed together: their quits wait for the next outbox.
    for c in 2..last {
        r.server.disconnect(c);
    }
    r.server.tell_quits(&mut r.out);
    let closed = last - 2;
    assert_eq!(r.out.take(0).len(), closed, "the owner is told each");
    assert_eq!(
        r.out.take(1).len(),
        closed - 5,
        "bob, those at {MAX_TOLD} connections or fewer"
    );
}

/// Found in review: a quit was told to whoever was subscribed when it went out, not to who
/// was there when the user left; now it goes out before the next request changes that.
#[test]
fn a_quit_goes_to_who_was_there_before_the_next_request() {
    let mut r = Rig::new(Limits::default());
    r.connect_asking(0, "alice@example.com", false, true);
    r.connect(1, "bob@example.com");
    r.connect_asking(2, "carol@example.com", false, true);
    r.sub(0, CH);
    r.sub(1, CH);
    r.out.take(0);
    r.server.disconnect(1);
    // In the same turn, carol comes in: she never saw bob, and alice learns in order.
    assert_eq!(r.sub(2, CH), ["Meta #a@example.com true 2"]);
    assert_eq!(
        r.out.take(0),
        [
            told("bob@example.com", "quit"),
            told("carol@example.com", "joined")
        ]
    );
}

/// A close's news (the quit, the user's offline presence) waits for the next wake, which the
/// shell must not sleep on: it says so until then.
#[test]
fn a_close_s_news_keeps_the_shell_awake_until_told() {
    let mut r = alice_asking_and_bob();
    r.out.take(0);
    assert!(!r.server.news_waiting());
    r.server.disconnect(1);
    assert!(r.server.news_waiting(), "a quit and bob's presence wait");
    r.server.wake(&r.now, &mut r.out);
    assert!(!r.server.news_waiting());
    assert_eq!(r.out.take(0), [told("bob@example.com", "quit")]);
}

/// A quit's reason is the user's words: not where it may not speak (muted, or moderated
/// without a voice), and none that would tell of its account (auth_required).
#[test]
fn a_quit_says_no_reason_where_the_user_may_not_speak_or_of_its_account() {
    let mut r = alice_asking_and_bob();
    mute_bob(&mut r);
    r.out.take(0);
    r.send(1, bye(Some("BUY CHEAP WATCHES")));
    r.server.wake(&r.now, &mut r.out);
    assert_eq!(r.out.take(0), [told("bob@example.com", "quit")]);
    // bob's name becomes an account: his session without a password is closed.
    r.connect(2, "dave@example.com");
    r.sub(2, CH);
    r.out.take(0);
    r.server.set_accounts(Vec::new(), &mut r.out);
    r.server
        .accounts_changed(made(&["dave@example.com"]), &[], &mut r.out);
    r.server.wake(&r.now, &mut r.out);
    assert_eq!(r.out.take(0), [told("dave@example.com", "quit")]);
}

/// A leave says the user's reason, as IRC's PART, but not where it may not speak.
#[test]
fn a_leave_says_its_reason_where_the_user_may_speak() {
    let mut r = alice_asking_and_bob();
    r.out.take(0);
    leave(&mut r, 1, Some("see you tomorrow"));
    assert_eq!(r.out.take(0), [told("bob@example.com", "left see you tomorrow")]);
    r.sub(1, CH);
    mute_bob(&mut r);
    r.out.take(0);
    leave(&mut r, 1, Some("BUY CHEAP WATCHES"));
    assert_eq!(r.out.take(0), [told("bob@example.com", "left")]);
    // An empty reason says nothing (found in review: `left ` with a space).
    r.connect(2, "carol@example.com");
    r.sub(2, CH);
    r.out.take(0);
    leave(&mut r, 2, Some(""));
    assert_eq!(r.out.take(0), [told("carol@example.com", "left")]);
}

/// [`alice_asking_and_bob`] in a channel that takes six Messages a minute from each member
/// (one at once), set by alice.
fn alice_and_bob_at_six_a_minute() -> Rig {
    let mut r = alice_asking_and_bob();
    let rate = SetMeta {
        seq: Some(4),
        topic: n(CH),
        display: None,
        subject: None,
        modes: None,
        rate: Some(6),
        join_rate: None,
    };
    r.send(0, Msg::SetMeta(rate));
    r
}

/// A leave's reason is a line everyone in the channel reads: it counts against the channel's
/// rate, and over it the leave is told without it (found in review: Sub and Unsub with a
/// reason, over and over, bypassed the rate).
#[test]
fn a_leave_s_reason_counts_against_the_channel_s_rate() {
    let mut r = alice_and_bob_at_six_a_minute();
    r.out.take(0);
    leave(&mut r, 1, Some("one"));
    assert_eq!(r.out.take(0), [told("bob@example.com", "left one")]);
    r.sub(1, CH);
    r.out.take(0);
    // Six a minute: one at once, spent by the reason above.
    leave(&mut r, 1, Some("two"));
    assert_eq!(r.out.take(0), [told("bob@example.com", "left")]);
    r.sub(1, CH);
    r.out.take(1);
    assert_eq!(
        r.say(1, CH, "hi"),
        ["Error 806 channel_rate seq=Some(9) retry_after=10000"]
    );
    // So is a quit's, its Bye's (found by QA: reconnecting to quit again and again put a
    // 256-byte line a channel on every screen, at no rate); the server's own labels are not
    // the user's words, and stay.
    r.out.take(0);
    r.send(1, bye(Some("BUY CHEAP WATCHES")));
    r.server.wake(&r.now, &mut r.out);
    assert_eq!(r.out.take(0), [told("bob@example.com", "quit")]);
    r.advance(Duration::from_secs(10));
    r.connect(3, "bob@example.com");
    r.sub(3, CH);
    r.out.take(0);
    r.send(3, bye(Some("later")));
    r.server.wake(&r.now, &mut r.out);
    assert_eq!(
        r.out.take(0),
        [told("bob@example.com", "quit later")],
        "within the rate again"
    );
}

/// A Bye's reason from one of a user's connections, the user staying in the channel on
/// another, is told nobody and spends none of the channel's rate (review 215: a phone's Bye
/// held its desktop's next Message); a server label is said over the rate.
#[test]
fn a_quit_nobody_is_told_spends_no_rate_and_a_server_label_is_said_over_it() {
    let mut r = alice_and_bob_at_six_a_minute();
    r.connect(5, "bob@example.com");
    r.sub(5, CH);
    r.out.take(0);
    r.send(1, bye(Some("phone going to sleep")));
    r.server.wake(&r.now, &mut r.out);
    assert!(r.out.take(0).is_empty(), "bob is still there");
    let said = r.say(5, CH, "hi from the desktop");
    assert!(said.iter().any(|l| l.starts_with("Event")), "{said:?}");
    // Over the rate now, bob's desktop times out: the label is the server's, and said.
    r.out.take(0);
    r.server.detached(5, ErrorCode::PingTimeout);
    r.server.wake(&r.now, &mut r.out);
    assert_eq!(r.out.take(0), [told("bob@example.com", "quit ping_timeout")]);
}

/// Joins and leaves keep a channel's Event times strictly increasing (§4), however many come
/// in one millisecond; and a connection whose output is backed up is skipped.
#[test]
fn joins_keep_the_channel_s_times_and_skip_a_busy_connection() {
    let mut r = Rig::new(Limits::default());
    r.connect_asking(0, "alice@example.com", false, true);
    r.sub(0, CH);
    for (c, u) in [(1, "b@example.com"), (2, "c@example.com"), (3, "d@example.com")] {
        r.connect(c, u);
        r.sub(c, CH);
    }
    let (said, _) = r.stamped(1, CH, "after the joins");
    let times: Vec<u64> = (r.out.frames.iter())
        .filter(|(c, _)| *c == 0)
        .filter_map(|(_, f)| match decode_frame(f) {
            Ok(Status::Complete((Ok(Msg::Event(e)), _))) => Some(e.time),
            _ => None,
        })
        .collect();
    assert_eq!(times.len(), 4, "three joins and the message");
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert_eq!(times.last(), Some(&said));
    r.out.take(0);
    r.out.busy.push(0);
    unsub(&mut r, 3);
    assert!(r.out.take(0).is_empty(), "busy: skipped");
}
