//! Read markers: MarkRead and ReadMark.

use super::auth::rig;
use super::blocks::{restarted, saved_state};
use super::*;
use crate::server::Policy;

const ALICE: &str = "alice@example.com";
const CH: &str = "#rust@example.com";

fn mark(topic: &str, time: Option<u64>) -> Msg<'_> {
    Msg::MarkRead(MarkRead {
        seq: Some(5),
        topic: n(topic),
        time,
    })
}

/// alice logged in on 0 and 3, bob on 2, mallory (a name taken without a password) on 1; with
/// a store if `kept`.
fn marking(kept: bool) -> Rig {
    let mut r = rig(Policy::Open, false);
    if kept {
        r.keep_history(crate::store::Fsync::Batched, 64);
    }
    r.log_in(0, "alice");
    r.log_in(3, "alice");
    r.log_in(2, "bob");
    r.connect(1, "mallory@example.com");
    r
}

#[test]
fn a_marker_moves_forward_only_and_each_move_is_told_to_the_user_s_other_connections() {
    let mut r = marking(false);
    r.now.unix_ms = 10_000;
    assert_eq!(
        r.send(0, mark(CH, None)),
        [format!("ReadMark {CH} None seq=Some(5)")]
    );
    assert_eq!(
        r.send(0, mark(CH, Some(5_000))),
        [format!("ReadMark {CH} Some(5000) seq=Some(5)")]
    );
    assert_eq!(r.out.take(3), [format!("ReadMark {CH} Some(5000) seq=None")]);
    assert!(r.out.take(2).is_empty(), "bob is not told");
    // Back, or the same: no move, nobody else told.
    for back in [4_000, 5_000] {
        assert_eq!(
            r.send(3, mark(CH, Some(back))),
            [format!("ReadMark {CH} Some(5000) seq=Some(5)")]
        );
        assert!(r.out.take(0).is_empty());
    }
    // Ahead of the server's clock: taken as the clock.
    assert_eq!(
        r.send(3, mark(CH, Some(u64::MAX))),
        [format!("ReadMark {CH} Some(10000) seq=Some(5)")]
    );
    assert_eq!(r.out.take(0), [format!("ReadMark {CH} Some(10000) seq=None")]);
    // Each user's own; a conversation's is on the other user's ID.
    assert_eq!(
        r.send(2, mark(CH, None)),
        [format!("ReadMark {CH} None seq=Some(5)")]
    );
    assert_eq!(
        r.send(2, mark(ALICE, Some(7))),
        [format!("ReadMark {ALICE} Some(7) seq=Some(5)")]
    );
    assert_eq!(
        r.send(0, mark(ALICE, None)),
        [format!("ReadMark {ALICE} None seq=Some(5)")]
    );
}

#[test]
fn only_a_session_logged_in_has_markers_on_this_server_s_channels_and_users() {
    let mut r = marking(false);
    let refused = |r: &mut Rig, conn, topic| {
        let got = r.send(conn, mark(topic, Some(1)));
        got.into_iter().next().unwrap_or_default()
    };
    assert_eq!(refused(&mut r, 1, CH), "Error 805 registered_only seq=Some(5)");
    // Proven by another domain's token is no login here.
    r.connect(4, "carol@example.com");
    r.prove(4);
    assert_eq!(refused(&mut r, 4, CH), "Error 805 registered_only seq=Some(5)");
    assert_eq!(
        refused(&mut r, 0, "!motd@example.com"),
        "Error 405 not_subscribable seq=Some(5)"
    );
    assert_eq!(
        refused(&mut r, 0, "#rust@other.org"),
        "Error 401 foreign_topic seq=Some(5)"
    );
    // Precedence: 405, 401, 805.
    assert_eq!(
        refused(&mut r, 1, "!motd@other.org"),
        "Error 405 not_subscribable seq=Some(5)"
    );
    assert_eq!(
        refused(&mut r, 1, "bob@other.org"),
        "Error 401 foreign_topic seq=Some(5)"
    );
    assert!(r.out.take(3).is_empty(), "nothing moved");
    // A client does not send the reply.
    let told = Msg::ReadMark(ReadMark {
        seq: Some(5),
        topic: n(CH),
        time: Some(1),
    });
    assert_eq!(r.send(0, told), ["Error 205 unexpected_message seq=Some(5)"]);
}

#[test]
fn markers_outlive_a_restart_but_not_the_account() {
    let mut r = marking(true);
    r.send(0, mark(CH, Some(500)));
    r.send(0, mark("bob@example.com", Some(600)));
    let key = format!("!read {ALICE}");
    // Saved at most every SAVED_EVERY: not at the next tick, but within that.
    assert!(saved_state(&mut r).is_empty());
    r.advance(crate::server::markers::SAVED_EVERY);
    let state = saved_state(&mut r);
    assert!(state.iter().any(|(k, _)| *k == key), "{state:?}");

    let mut again = restarted(state.clone(), &[ALICE]);
    again.log_in(0, "alice");
    assert_eq!(
        again.send(0, mark(CH, None)),
        [format!("ReadMark {CH} Some(500) seq=Some(5)")]
    );
    let bob = "bob@example.com";
    assert_eq!(
        again.send(0, mark(bob, None)),
        [format!("ReadMark {bob} Some(600) seq=Some(5)")]
    );

    // alice deleted while the server was down: her markers go with her account.
    let mut gone = restarted(state, &[]);
    gone.advance(Duration::from_secs(1));
    assert!(gone.out.saved.contains(&(key, None)), "removed from the store");
    gone.server.set_accounts(made(&[ALICE]), &mut gone.out);
    gone.log_in(0, "alice");
    assert_eq!(
        gone.send(0, mark(CH, None)),
        [format!("ReadMark {CH} None seq=Some(5)")]
    );
}

#[test]
fn moves_not_saved_yet_are_saved_when_the_server_stops() {
    let mut r = marking(true);
    r.send(0, mark(CH, Some(500)));
    assert!(saved_state(&mut r).is_empty());
    r.server.shutdown(&mut r.out);
    let key = format!("!read {ALICE}");
    assert!(
        r.out.saved.iter().any(|(k, v)| *k == key && v.is_some()),
        "{:?}",
        r.out.saved
    );
}

#[test]
fn without_a_store_markers_are_kept_until_the_server_stops_and_nothing_is_saved() {
    let mut r = marking(false);
    r.send(0, mark(CH, Some(500)));
    r.advance(Duration::from_secs(2));
    assert!(r.out.saved.is_empty(), "{:?}", r.out.saved);
    assert_eq!(r.out.take(3), [format!("ReadMark {CH} Some(500) seq=None")]);
    assert_eq!(
        r.send(3, mark(CH, None)),
        [format!("ReadMark {CH} Some(500) seq=Some(5)")]
    );
}

#[test]
fn a_marker_reaches_the_newest_event_read_when_the_topic_runs_ahead_of_a_clock_stepped_back() {
    let mut r = marking(false);
    r.now.unix_ms = 10_000_000;
    r.sub(0, CH);
    r.sub(2, CH);
    let (before, _) = r.stamped(2, CH, "before");
    let (dm_before, _) = r.stamped(2, ALICE, "a word");
    // The clock steps back an hour (NTP): both topics' times go on rising after their last.
    r.now.unix_ms -= 3_600_000;
    let (after, _) = r.stamped(2, CH, "after");
    let (dm_after, _) = r.stamped(2, ALICE, "another");
    assert_eq!((after, dm_after), (before + 1, dm_before + 1));
    r.out.take(0);
    // alice read up to "after": her other devices must count it, and "before", as read.
    assert_eq!(
        r.send(0, mark(CH, Some(after))),
        [format!("ReadMark {CH} Some({after}) seq=Some(5)")]
    );
    // Past the newest Event and the clock: still no marker ahead of Events to come.
    assert_eq!(
        r.send(0, mark(CH, Some(u64::MAX))),
        [format!("ReadMark {CH} Some({after}) seq=Some(5)")]
    );
    let (next, _) = r.stamped(2, CH, "next");
    assert!(next > after, "the next Event is unread");
    r.out.take(0);
    // A conversation's marker is on bob's ID; bob's messages are on alice's, ahead too.
    let bob = "bob@example.com";
    assert_eq!(
        r.send(0, mark(bob, Some(dm_after))),
        [format!("ReadMark {bob} Some({dm_after}) seq=Some(5)")]
    );
    // A quiet topic is held to the clock as before.
    let quiet = "#quiet@example.com";
    let clock = r.now.unix_ms;
    assert_eq!(
        r.send(0, mark(quiet, Some(u64::MAX))),
        [format!("ReadMark {quiet} Some({clock}) seq=Some(5)")]
    );
}
