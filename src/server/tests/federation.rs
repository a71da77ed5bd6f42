//! Users of other domains in the core: tokens issued and vouched for, foreign Idents, with
//! the home server played by hand.

use super::auth::rig;
use super::*;
use crate::server::{Foreign, Policy, Verdict, Vouched};

/// A logged-in alice on conn 0; returns the token she got for `audience`.
fn token_for(r: &mut Rig, audience: &str) -> Vec<u8> {
    let (token, until) = granted(r, audience);
    assert_eq!(until, r.now.unix_ms + 300_000);
    token
}

/// A token of alice's for `audience`, and until when it is good.
fn granted(r: &mut Rig, audience: &str) -> (Vec<u8>, u64) {
    r.open(0, Ipv4Addr::LOCALHOST.into());
    let nonce = r.challenged(0, "alice", false);
    r.auth(0, nonce, "password");
    r.verdict(Verdict::Accepted);
    r.feed(
        0,
        &frame(Msg::Grant(Grant {
            seq: Some(5),
            server: audience,
        })),
    );
    let (_, f) = r.out.frames.pop().expect("a reply");
    let Ok(Status::Complete((Ok(Msg::Token(t)), _))) = decode_frame(&f) else {
        panic!("expected Token, got {}", describe(&f))
    };
    assert_eq!((t.seq, t.server), (Some(5), audience));
    (t.token.to_vec(), t.until)
}

fn verify(r: &mut Rig, conn: ConnId, user: &str, audience: &str, token: &[u8]) -> (bool, Option<u64>) {
    let m = Verify {
        seq: Some(8),
        user: n(user),
        server: audience,
        token,
    };
    r.feed(conn, &frame(Msg::Verify(m)));
    let (_, f) = r.out.frames.pop().expect("a reply");
    let Ok(Status::Complete((Ok(Msg::Vouch(v)), _))) = decode_frame(&f) else {
        panic!("expected Vouch, got {}", describe(&f))
    };
    assert_eq!((v.seq, v.user.as_str()), (Some(8), user));
    (v.valid, v.until)
}

#[test]
fn a_home_server_vouches_only_for_its_own_unexpired_tokens_for_the_right_audience() {
    let mut r = rig(Policy::Open, false);
    let token = token_for(&mut r, "bar.org");
    // Another server asks, on a connection that never identified.
    r.open(1, Ipv4Addr::new(192, 0, 2, 9).into());
    let until = r.now.unix_ms + 300_000;
    assert_eq!(
        verify(&mut r, 1, "alice@example.com", "bar.org", &token),
        (true, Some(until))
    );
    assert_eq!(
        verify(&mut r, 1, "alice@example.com", "baz.org", &token),
        (false, None),
        "another audience"
    );
    assert_eq!(
        verify(&mut r, 1, "bob@example.com", "bar.org", &token),
        (false, None),
        "another user"
    );
    assert_eq!(
        verify(&mut r, 1, "alice@example.com", "bar.org", &[7; 32]),
        (false, None),
        "unknown"
    );
    r.advance(Duration::from_secs(1));
    r.now.unix_ms += 300_000;
    assert_eq!(
        verify(&mut r, 1, "alice@example.com", "bar.org", &token),
        (false, None),
        "expired"
    );
    // Asked about a user of another domain: not its home, said as such (a table of homes
    // pointing here by mistake), not hidden behind a "not valid".
    let m = Verify {
        seq: Some(9),
        user: n("carol@other.org"),
        server: "bar.org",
        token: &token,
    };
    let said = r.send(1, Msg::Verify(m));
    assert_eq!(said, ["Error 400 foreign_id seq=Some(9)"]);
    // Nor is a channel or a reserved name anyone's: not echoed in a Vouch.
    for user in ["#chan@example.com", "!motd@example.com"] {
        let m = Verify {
            seq: Some(10),
            user: n(user),
            server: "bar.org",
            token: &token,
        };
        assert_eq!(
            r.send(1, Msg::Verify(m)),
            ["Error 300 bad_id seq=Some(10)"],
            "{user}"
        );
    }
}

#[test]
fn only_a_logged_in_session_gets_tokens_and_each_user_holds_a_bounded_number() {
    let mut r = rig(Policy::Open, false);
    r.open(0, Ipv4Addr::LOCALHOST.into());
    r.ident(0, "bob", false, false);
    let grant = Msg::Grant(Grant {
        seq: Some(5),
        server: "bar.org",
    });
    assert_eq!(r.send(0, grant), ["Error 600 auth_required seq=Some(5)"]);
    r.open(1, Ipv4Addr::LOCALHOST.into());
    assert_eq!(
        r.send(1, grant),
        ["Error 200 not_identified seq=Some(5)", "Bye 200"]
    );

    let first = token_for(&mut r, "bar.org");
    let own = Msg::Grant(Grant {
        seq: Some(5),
        server: "example.com",
    });
    assert_eq!(
        r.send(0, own),
        ["Error 301 bad_topic seq=Some(5)"],
        "a token for this server would prove nothing"
    );
    for _ in 0..16 {
        r.feed(0, &frame(grant));
    }
    r.open(2, Ipv4Addr::LOCALHOST.into());
    assert!(
        !verify(&mut r, 2, "alice@example.com", "bar.org", &first).0,
        "the oldest made room"
    );
}

/// A full table of tokens (a horde of accounts granting) refuses a user who holds none with
/// how long to wait, and takes a user's new token in place of its own oldest (found by QA:
/// PROTOCOL.md said scalard never refuses, and it refused everyone).
#[test]
fn a_full_table_of_tokens_refuses_newcomers_and_replaces_a_holder_s_oldest() {
    let mut r = rig(Policy::Open, false);
    let first = token_for(&mut r, "bar.org");
    let first_until = r.now.unix_ms + 300_000;
    r.server
        .federation
        .fill(r.now.unix_ms + 300_000, r.now.mono + Duration::from_secs(300));
    let grant = Msg::Grant(Grant {
        seq: Some(5),
        server: "bar.org",
    });
    // The new one ends when the one it replaces would have (review 215: else a horde granting
    // again and again would keep the table full for good).
    r.advance(Duration::from_secs(10));
    r.feed(0, &frame(grant));
    let (_, f) = r.out.frames.pop().expect("a reply");
    let Ok(Status::Complete((Ok(Msg::Token(t)), _))) = decode_frame(&f) else {
        panic!("expected Token, got {}", describe(&f))
    };
    assert_eq!(t.until, first_until);
    r.open(2, Ipv4Addr::LOCALHOST.into());
    assert!(
        !verify(&mut r, 2, "alice@example.com", "bar.org", &first).0,
        "replaced"
    );
    r.open(1, Ipv4Addr::LOCALHOST.into());
    let nonce = r.challenged(1, "bob", false);
    r.auth(1, nonce, "password");
    r.verdict(Verdict::Accepted);
    r.out.take(1);
    // Told to wait until the first of them ends: the fillers, 290 s on.
    assert_eq!(
        r.send(1, grant),
        ["Error 602 auth_throttled seq=Some(5) retry_after=290000"]
    );
}

#[test]
fn a_foreign_id_with_a_token_waits_for_its_home_server() {
    let mut r = Rig::new(Limits::default());
    r.server.set_foreign(Foreign::Allow(["foo.org".into()].into()));
    r.open(0, Ipv4Addr::LOCALHOST.into());
    let ident = |token: &'static [u8], user: &'static str| {
        Msg::Ident(Ident {
            token: Some(token),
            ..Ident::new(Some(1), &[1], n(user))
        })
    };
    // No token, or a domain not on the list: refused at once.
    assert_eq!(
        r.send(0, Msg::Ident(Ident::new(Some(1), &[1], n("alice@foo.org")))),
        ["Error 400 foreign_id seq=Some(1)"]
    );
    assert_eq!(
        r.send(0, ident(&[1; 32], "eve@evil.org")),
        ["Error 400 foreign_id seq=Some(1)"]
    );
    // A token for one of our own users makes no sense.
    assert_eq!(
        r.send(0, ident(&[1; 32], "bob@example.com")),
        ["Error 601 bad_credentials seq=Some(1)"]
    );

    assert!(r.send(0, ident(&[1; 32], "alice@foo.org")).is_empty());
    assert!(r.server.waiting(0));
    let job = r.out.token_checks.pop().unwrap();
    assert_eq!(
        (&*job.user, &*job.home, &*job.token),
        ("alice@foo.org", "foo.org", &[1u8; 32][..])
    );
    let until = r.now.unix_ms + 60_000;
    r.server
        .vouched(job.conn, job.ticket, Vouched::Yes(until), &r.now, &mut r.out);
    assert_eq!(r.out.take(0), ["Ident alice@foo.org Some(\"example.com\")"]);
    assert_eq!(r.out.resumed, [0]);

    // The answer is kept: another connection with the same token gets in at once.
    r.open(1, Ipv4Addr::LOCALHOST.into());
    assert_eq!(
        r.send(1, ident(&[1; 32], "alice@foo.org")),
        ["Ident alice@foo.org Some(\"example.com\")"]
    );
    assert!(r.out.token_checks.is_empty());
    // Not for another user, and not after it expires.
    r.open(2, Ipv4Addr::LOCALHOST.into());
    assert!(r.send(2, ident(&[1; 32], "mallory@foo.org")).is_empty());
    let job = r.out.token_checks.pop().unwrap();
    r.server
        .vouched(job.conn, job.ticket, Vouched::No, &r.now, &mut r.out);
    assert_eq!(r.out.take(2), ["Error 601 bad_credentials seq=Some(1)"]);
    r.now.unix_ms += 60_001;
    assert!(
        r.send(2, ident(&[1; 32], "alice@foo.org")).is_empty(),
        "expired: asked again"
    );
    let job = r.out.token_checks.pop().unwrap();
    r.server.vouched(
        job.conn,
        job.ticket,
        Vouched::Unreachable("timed out".into()),
        &r.now,
        &mut r.out,
    );
    assert_eq!(r.out.take(2), ["Error 608 home_unreachable seq=Some(1)"]);
    // The foreign user is a user here: it may join channels, but its DMs live at home.
    assert_eq!(r.sub(0, "#rust@example.com"), ["Meta #rust@example.com true 1"]);
    let c = catchup_msg("alice@foo.org");
    assert_eq!(r.send(0, c), ["Error 401 foreign_topic seq=Some(3)"]);
    // So does its conversation with a user here.
    let c = catchup_msg("bob@example.com");
    assert_eq!(r.send(0, c), ["Error 401 foreign_topic seq=Some(3)"]);
}

/// A server that admits the users of foo.org, with connection 0 open from 127.0.0.1.
fn admitting_foo() -> Rig {
    let mut r = Rig::new(Limits::default());
    r.server.set_foreign(Foreign::Allow(["foo.org".into()].into()));
    r.open(0, Ipv4Addr::LOCALHOST.into());
    r
}

/// An Ident of `user` with `token`.
fn token_ident<'a>(user: &'a str, token: &'a [u8]) -> Msg<'a> {
    Msg::Ident(Ident {
        token: Some(token),
        ..Ident::new(Some(1), &[1], n(user))
    })
}

/// `conn` presents `token` as `user`, which waits for its home server; the home's answer is
/// `answer`. Returns what `conn` got then.
fn vouch(r: &mut Rig, conn: ConnId, user: &str, token: &[u8], answer: Vouched) -> Vec<String> {
    assert!(r.send(conn, token_ident(user, token)).is_empty(), "{user} waits");
    let job = r.out.token_checks.pop().expect("its home is asked");
    r.server.vouched(job.conn, job.ticket, answer, &r.now, &mut r.out);
    r.out.take(conn)
}

/// Found by QA: a foreign ID with a token and `auth` got 400 foreign_id ("need a token"),
/// though it sent one; PROTOCOL.md §4 answers a token with `auth` 601 at once.
#[test]
fn a_token_with_a_password_mechanism_is_refused_at_once() {
    let mut r = admitting_foo();
    let token = [7; 32];
    for user in ["alice@foo.org", "bob@example.com"] {
        let m = Msg::Ident(Ident {
            token: Some(&token),
            auth: Some(1),
            ..Ident::new(Some(1), &[1], n(user))
        });
        assert_eq!(r.send(0, m), ["Error 601 bad_credentials seq=Some(1)"], "{user}");
        assert!(r.out.token_checks.is_empty(), "no home asked");
    }
    // Found by QA: after what §8's precedence puts first, a domain not admitted (400) and a
    // mechanism unknown (607).
    let with = |user, auth| {
        Msg::Ident(Ident {
            token: Some(&token),
            auth: Some(auth),
            ..Ident::new(Some(1), &[1], n(user))
        })
    };
    let refused = r.send(0, with("gus@bar.org", 1));
    assert_eq!(refused, ["Error 400 foreign_id seq=Some(1)"]);
    let refused = r.send(0, with("bob@example.com", 7));
    assert_eq!(refused, ["Error 607 unsupported_auth seq=Some(1)"]);
}

/// With the token-check threads' queue full (`federation::QUEUE`, 64: OPERATIONS.md, "full:
/// 602"), a token Ident is refused at once with 602 and a wait of a second, not held or
/// dropped; the connection stays, and its next try is asked of its home.
#[test]
fn a_token_check_refused_by_a_full_queue_is_602_and_the_connection_stays() {
    let mut r = admitting_foo();
    let token = [7; 32];
    r.out.refuse_token_checks = true;
    r.feed(0, &frame(token_ident("alice@foo.org", &token)));
    let why = r.error_reason(0).unwrap_or_default();
    assert!(why.contains("too many logins from other domains"), "{why}");
    let got = r.out.take(0);
    assert_eq!(got, ["Error 602 auth_throttled seq=Some(1) retry_after=1000"]);
    assert!(!r.out.closed.contains(&0), "the connection stays");
    r.out.token_checks.clear();
    r.out.refuse_token_checks = false;
    let yes = Vouched::Yes(r.now.unix_ms + 60_000);
    assert_eq!(
        vouch(&mut r, 0, "alice@foo.org", &token, yes),
        ["Ident alice@foo.org Some(\"example.com\")"]
    );
}

#[test]
fn token_checks_are_limited_like_password_attempts() {
    let mut r = admitting_foo();
    let token = [7; 32];
    // Refusals, each a connection to the home server, count against the address, not the ID
    // (a domain's IDs are anyone's to make up, and would fill the per-name table): past the
    // per-name burst (5) the home is asked again...
    for _ in 0..6 {
        assert_eq!(
            vouch(&mut r, 0, "alice@foo.org", &token, Vouched::No),
            ["Error 601 bad_credentials seq=Some(1)"]
        );
    }
    // ...and other IDs from the same address go on until the address's burst (20) is spent,
    // unreachable homes counting too; then the home is not asked.
    for i in 0..14 {
        let down = Vouched::Unreachable("no answer".into());
        assert_eq!(
            vouch(&mut r, 0, &format!("user{i}@foo.org"), &token, down),
            ["Error 608 home_unreachable seq=Some(1)"]
        );
    }
    assert_eq!(
        r.send(0, token_ident("carol@foo.org", &token)),
        ["Error 602 auth_throttled seq=Some(1) retry_after=3000"]
    );
    assert!(r.out.token_checks.is_empty());
    // An answer from the list of homes down (nobody was asked) costs nothing.
    r.open(5, Ipv4Addr::new(192, 0, 2, 5).into());
    for _ in 0..8 {
        let down = Vouched::Down("down (moments ago)".into());
        assert_eq!(
            vouch(&mut r, 5, "erin@foo.org", &token, down),
            ["Error 608 home_unreachable seq=Some(1)"],
            "not throttled"
        );
    }
    // A yes takes its attempt back: from another address, one ID gets in more often than
    // its burst (a new token each time, or the kept answer would be used).
    for i in 0..8u8 {
        let conn = 10 + usize::from(i);
        r.open(conn, Ipv4Addr::new(192, 0, 2, 1).into());
        let yes = Vouched::Yes(r.now.unix_ms + 60_000);
        assert_eq!(
            vouch(&mut r, conn, "dave@foo.org", &[i; 32], yes),
            ["Ident dave@foo.org Some(\"example.com\")"],
            "attempt {i}"
        );
    }
}

#[test]
fn a_home_that_never_answers_is_given_up_on() {
    let mut r = admitting_foo();
    assert!(r.send(0, token_ident("alice@foo.org", &[7; 32])).is_empty());
    let job = r.out.token_checks.pop().expect("asked");
    r.advance(crate::server::VOUCH_WAIT - Duration::from_secs(1));
    assert!(r.out.take(0).is_empty(), "still waiting");
    r.advance(Duration::from_secs(1));
    assert_eq!(r.out.take(0), ["Error 608 home_unreachable seq=Some(1)"]);
    assert_eq!(r.out.resumed, [0]);
    // A late yes finds no attempt to apply to.
    let yes = Vouched::Yes(r.now.unix_ms + 60_000);
    r.server.vouched(job.conn, job.ticket, yes, &r.now, &mut r.out);
    assert!(r.out.take(0).is_empty());
}

fn catchup_msg(topic: &str) -> Msg<'_> {
    Msg::Catchup(Catchup {
        seq: Some(3),
        topic: n(topic),
        count: 10,
        since: None,
        until: None,
        after: None,
        before: None,
    })
}

#[test]
fn a_foreign_users_channels_are_not_kept() {
    let mut r = admitting_foo();
    r.keep_history(crate::store::Fsync::Batched, 64);
    let yes = Vouched::Yes(r.now.unix_ms + 60_000);
    assert_eq!(
        vouch(&mut r, 0, "m@foo.org", &[7; 32], yes),
        ["Ident m@foo.org Some(\"example.com\")"]
    );
    r.sub(0, "#theirs@example.com");
    // Nor its conversations: its home keeps them.
    let list = Msg::Conversations(Conversations {
        seq: Some(4),
        count: 10,
        since: None,
        cursor: None,
    });
    assert_eq!(r.send(0, list), ["Error 401 foreign_topic seq=Some(4)"]);
    assert!(r.out.queries.is_empty());
    r.server.disconnect(0);
    r.advance(Duration::from_secs(1));
    assert!(
        !r.out.saved.iter().any(|(k, _)| k.starts_with('#')),
        "{:?}",
        r.out.saved
    );
}

#[test]
fn a_deleted_account_s_tokens_are_vouched_for_no_more() {
    let mut r = rig(Policy::Open, false);
    let token = token_for(&mut r, "bar.org");
    r.open(1, Ipv4Addr::new(192, 0, 2, 9).into());
    assert!(verify(&mut r, 1, "alice@example.com", "bar.org", &token).0);
    r.server.accounts_changed(Vec::new(), &[], &mut r.out);
    assert_eq!(
        verify(&mut r, 1, "alice@example.com", "bar.org", &token),
        (false, None),
        "whoever registers alice next must not inherit her tokens"
    );
}

#[test]
fn the_policy_reads_as_words_in_the_log() {
    let set = |d: &[&str]| d.iter().map(|s| Box::<str>::from(*s)).collect();
    assert_eq!(Foreign::None.to_string(), "none");
    assert_eq!(
        Foreign::Allow(set(&["b.test", "a.test"])).to_string(),
        "those of a.test, b.test"
    );
    assert_eq!(Foreign::Deny(set(&[])).to_string(), "any domain's");
    assert_eq!(
        Foreign::Deny(set(&["spam.test"])).to_string(),
        "any domain's but spam.test"
    );
}

/// A wall clock stepped back (NTP, a resumed VM) must not keep a token, or a home's yes to
/// one, good past its lifetime: found by stepping the clock back an hour, when a 5-minute
/// token was vouched for for 65 minutes.
#[test]
fn a_token_lives_no_longer_than_its_lifetime_when_the_clock_steps_back() {
    // A lifetime past what the monotonic clock holds (any number of seconds is configurable)
    // is granted, not a panic of the poll loop.
    let mut r = rig(Policy::Open, false);
    r.server.set_token_lifetime(Duration::from_secs(u64::MAX));
    assert_eq!(granted(&mut r, "bar.org").1, u64::MAX);

    let mut r = rig(Policy::Open, false);
    r.now.unix_ms = 10_000_000;
    let token = token_for(&mut r, "bar.org");
    r.open(1, Ipv4Addr::new(192, 0, 2, 9).into());
    let until = r.now.unix_ms + 300_000;
    assert_eq!(
        verify(&mut r, 1, "alice@example.com", "bar.org", &token),
        (true, Some(until))
    );
    // 301 s pass while the clock is stepped back an hour.
    r.now.unix_ms -= 3_600_000;
    r.now.mono += Duration::from_secs(301);
    assert_eq!(
        verify(&mut r, 1, "alice@example.com", "bar.org", &token),
        (false, None),
        "expired: its lifetime has passed"
    );

    // As the audience: the home's yes is kept no longer either.
    let mut r = admitting_foo();
    r.now.unix_ms = 10_000_000;
    let until = r.now.unix_ms + 60_000;
    let got = vouch(&mut r, 0, "alice@foo.org", &[1; 32], Vouched::Yes(until));
    assert_eq!(got, ["Ident alice@foo.org Some(\"example.com\")"]);
    r.now.unix_ms -= 3_600_000;
    r.now.mono += Duration::from_secs(61);
    r.open(1, Ipv4Addr::LOCALHOST.into());
    assert!(
        r.send(1, token_ident("alice@foo.org", &[1; 32])).is_empty(),
        "asked again"
    );
    assert_eq!(r.out.token_checks.len(), 1);
}
