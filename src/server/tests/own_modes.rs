//! A user's own mode registered-only: direct messages only from users who logged in.

use super::auth::rig;
use super::blocks::{restarted, saved_state};
use super::*;
use crate::server::Policy;

const ALICE: &str = "alice@example.com";
const MALLORY: &str = "mallory@example.com";

/// A SetMeta of `modes` (and `display`) on `topic`.
fn set_modes<'a>(topic: &'a str, modes: Option<u64>, display: Option<&'a str>) -> Msg<'a> {
    Msg::SetMeta(SetMeta {
        seq: Some(4),
        topic: n(topic),
        display,
        subject: None,
        modes,
        rate: None,
        join_rate: None,
    })
}

/// The `modes` of the Meta among `conn`'s frames (taken), if one came.
fn meta_modes(r: &mut Rig, conn: ConnId) -> Option<Option<u64>> {
    let (mine, rest) = std::mem::take(&mut r.out.frames)
        .into_iter()
        .partition::<Vec<_>, _>(|(c, _)| *c == conn);
    r.out.frames = rest;
    mine.iter().find_map(|(_, f)| match decode_frame(f) {
        Ok(Status::Complete((Ok(Msg::Meta(m)), _))) => Some(m.modes),
        _ => None,
    })
}

/// alice logged in on 0 and 3 (a rig that keeps history, so modes are saved); mallory, a
/// name taken without a password, on 1; bob logged in on 2.
fn moded(fsync: crate::store::Fsync) -> Rig {
    let mut r = rig(Policy::Open, false);
    r.keep_history(fsync, 64);
    r.log_in(0, "alice");
    r.log_in(3, "alice");
    r.connect(1, MALLORY);
    r.log_in(2, "bob");
    r
}

#[test]
fn registered_only_refuses_direct_messages_from_sessions_that_did_not_log_in() {
    let mut r = moded(crate::store::Fsync::Batched);
    r.feed(0, &frame(set_modes(ALICE, Some(modes::REGISTERED_ONLY), None)));
    let record = format!("Event {ALICE} {ALICE} modes +r seq=None");
    assert_eq!(
        r.out.take(3),
        std::slice::from_ref(&record),
        "her other session is told"
    );
    let mine = r.out.take(0);
    assert_eq!(
        mine,
        [record, format!("Meta {ALICE} false 0")],
        "the record, then the Meta"
    );
    assert!(
        r.out.take(1).is_empty() && r.out.take(2).is_empty(),
        "nobody else hears of it"
    );

    let (got, why) = r.say_why(1, ALICE, "buy my stuff");
    assert_eq!(got, ["Error 805 registered_only seq=Some(9)"]);
    assert_eq!(
        why.as_deref(),
        Some("alice@example.com takes direct messages only from users who logged in")
    );
    assert!(r.out.take(0).is_empty() && r.out.take(3).is_empty());
    // A guest neither.
    r.open(6, Ipv4Addr::new(192, 0, 2, 10).into());
    r.ident_reply(6, "guest-x");
    assert_eq!(r.say(6, ALICE, "hi"), ["Error 805 registered_only seq=Some(9)"]);
    // bob logged in: heard.
    assert_eq!(
        r.say(2, ALICE, "hello"),
        [format!("Event {ALICE} bob@example.com hello seq=Some(9)")]
    );
    assert_eq!(r.out.take(0).len(), 1);
    r.out.take(3);
    // mallory may still watch her, and learns of the mode before writing.
    r.feed(
        1,
        &frame(Msg::Sub(Sub {
            seq: Some(2),
            topic: n(ALICE),
        })),
    );
    assert_eq!(meta_modes(&mut r, 1), Some(Some(modes::REGISTERED_ONLY)));
    // alice writes to mallory, and to herself.
    assert_eq!(
        r.say(0, MALLORY, "no"),
        [format!("Event {MALLORY} {ALICE} no seq=Some(9)")]
    );
    r.out.take(1);
    r.out.take(3);

    // The same again changes nothing, and says nothing.
    r.feed(0, &frame(set_modes(ALICE, Some(modes::REGISTERED_ONLY), None)));
    assert_eq!(
        r.out.take(0),
        [format!("Meta {ALICE} false 1")],
        "mallory watches"
    );
    assert!(r.out.take(3).is_empty());
    // Lifted: mallory is heard again.
    r.feed(0, &frame(set_modes(ALICE, Some(0), None)));
    assert_eq!(r.out.take(3), [format!("Event {ALICE} {ALICE} modes - seq=None")]);
    assert_eq!(meta_modes(&mut r, 0), Some(None));
    assert_eq!(
        r.say(1, ALICE, "sorry"),
        [format!("Event {ALICE} {MALLORY} sorry seq=Some(9)")]
    );
}

#[test]
fn only_the_user_logged_in_sets_its_mode_and_only_that_one() {
    let mut r = moded(crate::store::Fsync::Batched);
    let refused = |r: &mut Rig, conn: ConnId, m: Msg<'_>| {
        r.feed(conn, &frame(m));
        let why = r.error_reason(conn);
        (r.out.take(conn), why)
    };
    let (got, why) = refused(&mut r, 1, set_modes(ALICE, Some(4), None));
    assert_eq!(
        (got, why.as_deref()),
        (
            vec!["Error 800 not_operator seq=Some(4)".to_string()],
            Some("only alice@example.com has its modes")
        )
    );
    let (got, why) = refused(&mut r, 1, set_modes(MALLORY, Some(4), None));
    assert_eq!(got, ["Error 805 registered_only seq=Some(4)"], "{why:?}");
    let (got, _) = refused(&mut r, 0, set_modes("bob@elsewhere.org", Some(4), None));
    assert_eq!(got, ["Error 401 foreign_topic seq=Some(4)"]);
    let (got, _) = refused(&mut r, 0, set_modes(ALICE, Some(4), Some("Alice")));
    assert_eq!(got, ["Error 405 not_subscribable seq=Some(4)"]);
    let join_rate = match set_modes(ALICE, None, None) {
        Msg::SetMeta(m) => Msg::SetMeta(SetMeta {
            join_rate: Some(6),
            ..m
        }),
        other => other,
    };
    let (got, why) = refused(&mut r, 0, join_rate);
    assert_eq!(got, ["Error 405 not_subscribable seq=Some(4)"]);
    assert_eq!(
        why.as_deref(),
        Some("a user ID has no display name, subject or rates; only modes (+r)")
    );
    for bits in [1, 2, 8, 16, 5] {
        let (got, _) = refused(&mut r, 0, set_modes(ALICE, Some(bits), None));
        assert_eq!(got, ["Error 100 malformed seq=Some(4)"], "{bits}");
    }
    assert!(r.out.take(3).is_empty(), "nothing changed");
    assert_eq!(
        r.say(1, ALICE, "hi"),
        [format!("Event {ALICE} {MALLORY} hi seq=Some(9)")]
    );
    // A SetMeta without modes only reads them.
    r.out.take(0);
    r.feed(0, &frame(set_modes(ALICE, None, None)));
    assert_eq!(meta_modes(&mut r, 0), Some(None));
}

#[test]
fn the_mode_outlives_a_restart_but_not_the_account() {
    let mut r = moded(crate::store::Fsync::Batched);
    r.feed(0, &frame(set_modes(ALICE, Some(4), None)));
    let key = format!("!modes {ALICE}");
    let state = saved_state(&mut r);
    assert!(state.iter().any(|(k, _)| *k == key), "{state:?}");

    let mut again = restarted(state.clone(), &[ALICE]);
    again.connect(1, MALLORY);
    assert_eq!(
        again.say(1, ALICE, "hi"),
        ["Error 805 registered_only seq=Some(9)"]
    );

    let mut gone = restarted(state, &[]);
    gone.connect(1, MALLORY);
    assert_eq!(gone.say(1, ALICE, "hi").len(), 1);
    assert_ne!(
        gone.say(1, ALICE, "hi"),
        ["Error 805 registered_only seq=Some(9)"]
    );
    gone.advance(Duration::from_secs(1));
    assert!(gone.out.saved.contains(&(key, None)), "removed from the store");
}

/// An invitation's record outside the channel is a message to the invited user: not from one
/// that did not log in, while the user takes messages only from those who did.
#[test]
fn an_invitation_from_one_who_did_not_log_in_is_not_told() {
    let mut r = moded(crate::store::Fsync::Batched);
    r.feed(0, &frame(set_modes(ALICE, Some(4), None)));
    for c in [0, 3] {
        r.out.take(c);
    }
    r.sub(1, "#trap@example.com");
    let invite = |seq| {
        Msg::Mod(Mod {
            until: None,
            seq: Some(seq),
            topic: n("#trap@example.com"),
            action: Action::Invite,
            target: ALICE,
            reason: None,
            since: None,
        })
    };
    assert_eq!(r.send(1, invite(7)).len(), 1, "the invitation stands");
    assert!(
        r.out.take(0).is_empty() && r.out.take(3).is_empty(),
        "alice is not told"
    );
    r.sub(2, "#club@example.com");
    r.send(
        2,
        Msg::Mod(Mod {
            topic: n("#club@example.com"),
            ..match invite(8) {
                Msg::Mod(m) => m,
                _ => unreachable!(),
            }
        }),
    );
    assert_eq!(r.out.take(0).len(), 1, "bob logged in: told");
}

/// Under `--fsync always` the record and the Meta wait for the mode's save, as a block's.
#[test]
fn under_fsync_always_the_record_and_meta_wait_for_the_save() {
    use crate::store::Done;
    let mut r = moded(crate::store::Fsync::Always);
    r.out.saved.clear();
    let before = r.out.to_store.iter().filter(|s| s.starts_with("save ")).count() as u64;
    r.feed(0, &frame(set_modes(ALICE, Some(4), None)));
    assert!(
        r.out.take(0).is_empty() && r.out.take(3).is_empty(),
        "nothing yet"
    );
    assert_eq!(
        r.out.saved.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        [format!("!modes {ALICE}")]
    );
    assert!(r.server.waiting(0));
    assert_eq!(
        r.say(1, ALICE, "hi"),
        ["Error 805 registered_only seq=Some(9)"],
        "in force already"
    );
    r.server.store_done(Done::Saved(before + 1), &mut r.out);
    let record = format!("Event {ALICE} {ALICE} modes +r seq=None");
    assert_eq!(r.out.take(0), [record.clone(), format!("Meta {ALICE} false 0")]);
    assert_eq!(r.out.take(3), [record]);
    assert!(!r.server.waiting(0));
}

/// While the user is offline its inbox keeps direct messages (an account): not those the mode
/// refuses, which leave nothing in the store.
#[test]
fn an_offline_user_s_inbox_takes_nothing_the_mode_refuses() {
    let mut r = moded(crate::store::Fsync::Batched);
    r.feed(0, &frame(set_modes(ALICE, Some(4), None)));
    r.server.disconnect(0);
    r.server.disconnect(3);
    r.out.persisted.clear();
    assert_eq!(r.say(1, ALICE, "hi"), ["Error 805 registered_only seq=Some(9)"]);
    assert!(r.out.persisted.is_empty(), "nothing stored");
    assert_eq!(
        r.say(2, ALICE, "see you"),
        [format!("Event {ALICE} bob@example.com see you seq=Some(9)")]
    );
    assert_eq!(r.out.persisted.len(), 1, "bob's waits for her");
}

/// A saved mode with bits no client could set is cut to the user's one mode and saved again;
/// one with none is removed from the store.
#[test]
fn a_hand_edited_mode_is_cut_to_what_a_client_could_set() {
    let key = format!("!modes {ALICE}");
    let saved = |bits: u64| {
        let mut v = Vec::new();
        ciborium::into_writer(&ciborium::Value::from(bits), &mut v).unwrap();
        v
    };
    let mut r = restarted(vec![(key.clone(), saved(12))], &[ALICE]);
    r.connect(1, MALLORY);
    assert_eq!(r.say(1, ALICE, "hi"), ["Error 805 registered_only seq=Some(9)"]);
    r.advance(Duration::from_secs(1));
    assert!(
        r.out.saved.contains(&(key.clone(), Some(saved(4)))),
        "{:?}",
        r.out.saved
    );

    let mut none = restarted(vec![(key.clone(), saved(0))], &[ALICE]);
    none.advance(Duration::from_secs(1));
    assert!(none.out.saved.contains(&(key, None)), "{:?}", none.out.saved);
}

/// Under `--fsync always`, a requester that closes before the save is done gets nothing (its
/// number may be another connection's by then); the user's other session still gets the record.
#[test]
fn a_requester_gone_before_the_save_leaves_the_record_to_the_others() {
    use crate::store::Done;
    let mut r = moded(crate::store::Fsync::Always);
    let before = r.out.to_store.iter().filter(|s| s.starts_with("save ")).count() as u64;
    r.feed(0, &frame(set_modes(ALICE, Some(4), None)));
    r.server.disconnect(0);
    r.server.store_done(Done::Saved(before + 1), &mut r.out);
    assert!(r.out.take(0).is_empty());
    assert_eq!(
        r.out.take(3),
        [format!("Event {ALICE} {ALICE} modes +r seq=None")]
    );
}
