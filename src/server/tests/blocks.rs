//! Blocks: Mod ban and unban on one's own ID topic.

use super::auth::rig;
use super::*;
use crate::server::Policy;

const ALICE: &str = "alice@example.com";
const MALLORY: &str = "mallory@example.com";

/// alice's Mod on her own topic from `conn`.
fn block(r: &mut Rig, conn: ConnId, action: Action, target: &str, reason: Option<&str>) -> Vec<String> {
    let m = Mod {
        until: None,
        seq: Some(7),
        topic: n(ALICE),
        action,
        target,
        reason,
        since: None,
    };
    r.send(conn, Msg::Mod(m))
}

/// alice logged in on 0 and 3 (a rig that keeps history, so blocks are saved); mallory on 1,
/// watching alice; carol on 2; all without accounts but alice.
fn blocking() -> Rig {
    let mut r = rig(Policy::Open, false);
    r.keep_history(crate::store::Fsync::Batched, 64);
    r.log_in(0, "alice");
    r.log_in(3, "alice");
    r.connect(1, MALLORY);
    r.connect(2, "carol@example.com");
    assert_eq!(r.sub(1, ALICE), [format!("Meta {ALICE} true 1")]);
    r
}

#[test]
fn a_block_refuses_direct_messages_and_watching_and_tells_only_the_user() {
    let mut r = blocking();
    let record = format!("Event {ALICE} {ALICE} ban {MALLORY} spam");
    assert_eq!(
        block(&mut r, 0, Action::Ban, MALLORY, Some("spam")),
        [format!("{record} seq=Some(7)")]
    );
    assert_eq!(r.out.take(3), [format!("{record} seq=None")], "her other session");
    assert_eq!(
        r.error_reason(1).as_deref(),
        Some("alice@example.com does not take messages from you")
    );
    assert_eq!(r.out.take(1), ["Error 803 kicked seq=None"], "no longer watching");
    assert!(r.out.take(2).is_empty(), "nobody else hears of it");

    assert_eq!(r.say(1, ALICE, "hi"), ["Error 801 banned seq=Some(9)"]);
    assert_eq!(r.sub(1, ALICE), ["Error 801 banned seq=Some(2)"]);
    // Nor does an Unsub's Meta tell mallory whether alice is there.
    let unsub = Msg::Unsub(Unsub {
        seq: Some(4),
        topic: n(ALICE),
        reason: None,
    });
    r.feed(1, &frame(unsub));
    let Some((1, f)) = r.out.frames.pop() else {
        panic!("no reply to mallory")
    };
    let Ok(Status::Complete((Ok(Msg::Meta(m)), _))) = decode_frame(&f) else {
        panic!("not a Meta")
    };
    assert_eq!(
        (m.presence, m.reason, m.subscribers, m.subscribed),
        (None, None, 0, false)
    );
    assert!(r.out.take(0).is_empty() && r.out.take(3).is_empty());
    assert_eq!(
        r.say(2, ALICE, "hello"),
        [format!("Event {ALICE} carol@example.com hello seq=Some(9)")]
    );
    assert_eq!(
        r.out.take(0),
        [format!("Event {ALICE} carol@example.com hello seq=None")]
    );
    r.out.take(3);
    // alice still writes to mallory, and to herself whatever she blocks.
    assert_eq!(
        r.say(0, MALLORY, "stop"),
        [format!("Event {MALLORY} {ALICE} stop seq=Some(9)")]
    );
    r.out.take(1);
    r.out.take(3);
    assert_eq!(
        block(&mut r, 0, Action::Ban, "*@*", None),
        [format!("Event {ALICE} {ALICE} ban *@* seq=Some(7)")]
    );
    r.out.take(3);
    assert_eq!(
        r.say(0, ALICE, "note to self"),
        [format!("Event {ALICE} {ALICE} note to self seq=Some(9)")]
    );

    assert_eq!(
        r.send(0, targets(ALICE, Action::Ban, 10, None)),
        [format!(
            "TargetList ban 2 [\"*@*\", \"{MALLORY}\"] None [\"\", \"\"]"
        )]
    );
    r.out.take(3);
    assert_eq!(
        block(&mut r, 0, Action::Unban, MALLORY, None),
        [format!("Event {ALICE} {ALICE} unban {MALLORY} seq=Some(7)")]
    );
    block(&mut r, 0, Action::Unban, "*@*", None);
    assert_eq!(
        r.say(1, ALICE, "sorry"),
        [format!("Event {ALICE} {MALLORY} sorry seq=Some(9)")],
        "unblocked"
    );
}

#[test]
fn only_the_user_logged_in_blocks_and_only_id_patterns() {
    let mut r = blocking();
    // Someone else's blocks: neither made nor seen.
    let other = Mod {
        until: None,
        seq: Some(7),
        topic: n(ALICE),
        action: Action::Ban,
        target: MALLORY,
        reason: None,
        since: None,
    };
    assert_eq!(r.send(2, Msg::Mod(other)), ["Error 800 not_operator seq=Some(7)"]);
    assert_eq!(
        r.send(2, targets(ALICE, Action::Ban, 10, None)),
        ["Error 800 not_operator seq=Some(9)"]
    );
    // A name taken without a password keeps no blocks.
    let own = Mod {
        until: None,
        seq: Some(7),
        topic: n(MALLORY),
        action: Action::Ban,
        target: ALICE,
        reason: None,
        since: None,
    };
    assert_eq!(
        r.send(1, Msg::Mod(own)),
        ["Error 805 registered_only seq=Some(7)"]
    );
    for (action, target, code) in [
        (Action::Mute, MALLORY, "300 bad_id"),
        (Action::Ban, ALICE, "300 bad_id"),
        (Action::Ban, "192.0.2.0/24", "300 bad_id"),
        (Action::Ban, "Mallory", "300 bad_id"),
        (Action::Unban, MALLORY, "404 no_such_user"),
    ] {
        assert_eq!(
            block(&mut r, 0, action, target, None),
            [format!("Error {code} seq=Some(7)")],
            "{target}"
        );
    }
    assert_eq!(
        r.send(0, targets(ALICE, Action::Mute, 10, None)),
        ["Error 405 not_subscribable seq=Some(9)"]
    );
    assert!(r.out.take(3).is_empty(), "refusals change nothing");
    for i in 0..crate::server::blocks::MAX_BLOCKS {
        // Within the flood rate.
        r.advance(Duration::from_secs(1));
        assert_eq!(
            block(&mut r, 0, Action::Ban, &format!("u{i}@example.com"), None).len(),
            1
        );
    }
    r.advance(Duration::from_secs(1));
    assert_eq!(
        block(&mut r, 0, Action::Ban, MALLORY, None),
        ["Error 808 list_full seq=Some(7)"]
    );
    assert_eq!(
        block(&mut r, 0, Action::Ban, "u0@example.com", None).len(),
        1,
        "again: no change"
    );
}

/// A block of a guest's exact ID holds the guests of its address after it, as a channel's ban
/// does: their IDs carry its address's mark (guest.rs).
#[test]
fn a_block_of_a_guest_holds_its_next_guest_names() {
    let mut r = blocking();
    let troll: IpAddr = Ipv4Addr::new(192, 0, 2, 9).into();
    r.open(4, troll);
    let (guest, ..) = r.ident_reply(4, "guest-x");
    assert!(guest.starts_with("guest-"), "{guest}");
    block(&mut r, 0, Action::Ban, &guest, None);
    r.server.disconnect(4);
    r.out.take(0);
    r.out.take(3);
    r.open(5, troll);
    let (again, ..) = r.ident_reply(5, "guest-x");
    assert_ne!(again, guest);
    assert_eq!(r.say(5, ALICE, "hi"), ["Error 801 banned seq=Some(9)"]);
    // Another address's guest is not held.
    r.open(6, Ipv4Addr::new(192, 0, 2, 10).into());
    let (other, ..) = r.ident_reply(6, "guest-x");
    let heard = format!("Event {ALICE} {other} hi seq=Some(9)");
    assert_eq!(r.say(6, ALICE, "hi"), [heard]);
}

/// What `r` saved in the second after now: the store's state a restart reads back.
pub(super) fn saved_state(r: &mut Rig) -> Vec<(String, Vec<u8>)> {
    r.advance(Duration::from_secs(1));
    r.out.saved.drain(..).filter_map(|(k, v)| Some((k, v?))).collect()
}

/// A server started on `state` (that keeps history, so it saves too), whose store holds the
/// accounts `accounts`.
pub(super) fn restarted(state: Vec<(String, Vec<u8>)>, accounts: &[&str]) -> Rig {
    let mut r = rig(Policy::Open, false);
    r.keep_history(crate::store::Fsync::Batched, 64);
    r.server.restore(state);
    r.server.set_accounts(made(accounts), &mut r.out);
    r
}

#[test]
fn blocks_outlive_a_restart_but_not_the_account() {
    let mut r = blocking();
    block(&mut r, 0, Action::Ban, MALLORY, Some("spam"));
    let key = format!("!blocks {ALICE}");
    let state = saved_state(&mut r);
    assert!(state.iter().any(|(k, _)| *k == key), "{state:?}");

    let mut again = restarted(state.clone(), &[ALICE]);
    again.connect(1, MALLORY);
    assert_eq!(again.say(1, ALICE, "hi"), ["Error 801 banned seq=Some(9)"]);

    // alice deleted while the server was down: her blocks go with her account.
    let mut gone = restarted(state, &[]);
    gone.connect(1, MALLORY);
    assert_ne!(gone.say(1, ALICE, "hi"), ["Error 801 banned seq=Some(9)"]);
    gone.advance(Duration::from_secs(1));
    assert!(gone.out.saved.contains(&(key, None)), "removed from the store");
}

/// An invitation's record reaches the invited user outside the channel, as a message would:
/// not from someone it blocks (whatever the reason says), though the invitation stands.
#[test]
fn a_blocked_user_s_invitation_is_not_told() {
    let mut r = blocking();
    block(&mut r, 0, Action::Ban, MALLORY, None);
    r.out.take(0);
    r.out.take(1);
    r.out.take(3);
    r.sub(1, "#trap@example.com");
    let invite = Mod {
        until: None,
        seq: Some(7),
        topic: n("#trap@example.com"),
        action: Action::Invite,
        target: ALICE,
        reason: Some("buy my stuff"),
        since: None,
    };
    assert_eq!(
        r.send(1, Msg::Mod(invite)),
        [format!(
            "Event #trap@example.com {MALLORY} invite {ALICE} buy my stuff seq=Some(7)"
        )]
    );
    assert!(
        r.out.take(0).is_empty() && r.out.take(3).is_empty(),
        "alice is not told"
    );
    block(&mut r, 0, Action::Unban, MALLORY, None);
    r.out.take(0);
    r.out.take(3);
    let invite = Mod {
        until: None,
        seq: Some(8),
        topic: n("#trap@example.com"),
        action: Action::Invite,
        target: ALICE,
        reason: None,
        since: None,
    };
    r.send(1, Msg::Mod(invite));
    assert_eq!(
        r.out.take(0),
        [format!(
            "Event #trap@example.com {MALLORY} invite {ALICE} seq=None"
        )]
    );
}

/// Under `--fsync always` a block's record, the reply, waits for the block's save as a
/// Message's echo waits for its Event's commit; the requester's input waits with it. While the
/// store fails, a block is refused (700) rather than left waiting for as long as that lasts.
#[test]
fn under_fsync_always_a_block_s_record_waits_for_its_save() {
    use crate::store::Done;
    let mut r = rig(Policy::Open, false);
    r.keep_history(crate::store::Fsync::Always, 64);
    r.log_in(0, "alice");
    r.log_in(3, "alice");
    r.connect(1, MALLORY);
    r.out.saved.clear();
    let before = r.out.to_store.iter().filter(|s| s.starts_with("save ")).count() as u64;

    assert!(
        block(&mut r, 0, Action::Ban, MALLORY, None).is_empty(),
        "no reply yet"
    );
    assert!(r.out.take(3).is_empty());
    assert_eq!(
        r.out.saved.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["!blocks alice@example.com"],
        "handed at once, not at the next tick"
    );
    assert!(r.server.waiting(0), "alice's next request waits behind it");
    // In force already: a refusal needs nothing on disk.
    assert_eq!(r.say(1, ALICE, "hi"), ["Error 801 banned seq=Some(9)"]);
    r.server.store_done(Done::Saved(before), &mut r.out);
    assert!(r.out.take(0).is_empty(), "an earlier save is not this one");
    r.server.store_done(Done::Saved(before + 1), &mut r.out);
    let record = format!("Event {ALICE} {ALICE} ban {MALLORY}");
    assert_eq!(r.out.take(0), [format!("{record} seq=Some(7)")]);
    assert_eq!(r.out.take(3), [format!("{record} seq=None")]);
    assert!(!r.server.waiting(0));
    assert!(r.out.resumed.contains(&0));

    // alice's session closes before the save is done: her other session still gets the
    // record, and nothing goes to a connection that takes the number meanwhile.
    assert!(block(&mut r, 0, Action::Unban, MALLORY, None).is_empty());
    r.server.disconnect(0);
    r.server.store_done(Done::Saved(before + 2), &mut r.out);
    assert!(r.out.take(0).is_empty());
    assert_eq!(
        r.out.take(3),
        [format!("Event {ALICE} {ALICE} unban {MALLORY} seq=None")]
    );

    r.server.store_done(
        Done::Failing(crate::store::StoreError::Io("full".into())),
        &mut r.out,
    );
    assert_eq!(
        block(&mut r, 3, Action::Ban, MALLORY, None),
        ["Error 700 store_unavailable seq=Some(7)"]
    );
    assert!(!r.server.waiting(3), "refused, not held");
    r.server.store_done(Done::Recovered, &mut r.out);
    assert!(
        block(&mut r, 3, Action::Ban, MALLORY, None).is_empty(),
        "held again"
    );
    r.server.store_done(Done::Saved(before + 3), &mut r.out);
    assert_eq!(
        r.out.take(3),
        [format!("Event {ALICE} {ALICE} ban {MALLORY} seq=Some(7)")]
    );
}
