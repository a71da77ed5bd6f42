//! Accounts, guests and the login dance, end to end: the real scalard and `scalard account`,
//! over TCP on 127.0.0.1.

mod common;

use common::*;
use scalar::client::{Client, ClientError};
use scalar::proto::*;
use std::time::{Duration, Instant};

fn refused(r: Result<scalar::client::Client, ClientError>) -> u16 {
    match r {
        Err(ClientError::Refused { code, .. }) => code,
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(c) => panic!("expected a refusal, got in as {}", c.user),
    }
}

#[test]
fn an_account_added_by_the_operator_logs_in_with_its_password_only() {
    let dir = DataDir::new();
    let (ok, out) = account(dir.path(), "add", "alice", "correct horse");
    assert!(ok, "{out}");
    assert!(out.contains("account alice@localhost added"), "{out}");
    // The store it made is named: a service's may be elsewhere (helper 141).
    let note = format!("no store was in {}: made one there", dir.path());
    assert!(out.contains(&note), "{out}");
    // Its own words only, not the store's log of a new database (found by QA).
    assert!(!out.contains("schema version"), "{out}");
    let (ok, out) = account(dir.path(), "add", "carol", "correct horse");
    assert!(ok && !out.contains("no store was in"), "{out}");
    let (ok, out) = account(dir.path(), "add", "alice", "again");
    assert!(!ok && out.contains("already an account"), "{out}");
    // Refused input, exit 2 as OPERATIONS.md says (found in a walk-through: it exited 1).
    let (code, out) = account_code(dir.path(), "add", "bob", "seven77", &[]);
    assert!(
        code == Some(2) && out.contains("shorter than 8 characters"),
        "{code:?} {out}"
    );
    let (code, out) = account_code(dir.path(), "add", "bob", "", &[]);
    assert!(
        code == Some(2) && out.contains("empty password"),
        "{code:?} {out}"
    );
    let none = std::process::Command::new(env!("CARGO_BIN_EXE_scalard"))
        .args(["account", "add", "bob", "--data-dir", dir.path()])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("scalard account");
    let text = String::from_utf8_lossy(&none.stderr);
    assert!(
        none.status.code() == Some(2) && text.contains("no password given"),
        "{:?} {text}",
        none.status
    );
    // Bytes that are no text are refused input too, not a stdin that could not be read.
    let mut bytes = std::process::Command::new(env!("CARGO_BIN_EXE_scalard"))
        .args(["account", "add", "bob", "--data-dir", dir.path()])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("scalard account");
    if let Some(mut stdin) = bytes.stdin.take() {
        let _ = std::io::Write::write_all(&mut stdin, b"pass\xffword1\n");
    }
    let bytes = bytes.wait_with_output().expect("scalard account");
    let text = String::from_utf8_lossy(&bytes.stderr);
    assert!(
        bytes.status.code() == Some(2) && text.contains("not UTF-8"),
        "{:?} {text}",
        bytes.status
    );
    let (ok, out) = account(dir.path(), "add", "guest-1", "password");
    assert!(!ok && out.contains("guests"), "{out}");

    let s = Scalard::start_in(Some(dir.path()), &[]);
    let mut alice = login_at(s.addr, "alice", "correct horse", false).expect("login");
    assert_eq!(alice.user, "alice@localhost");
    assert!(!alice.guest);
    assert_eq!(alice.keepalive, Some(Duration::from_secs(60)));
    assert_eq!(refused(login_at(s.addr, "alice", "wrong", false)), 601);
    // Nobody takes a registered name without its password.
    assert_eq!(
        refused(scalar::client::Client::connect(s.addr, "alice", WAIT)),
        600
    );
    // Unregistered names stay open (the default policy), and a bare name is completed.
    let bob = s.client("bob");
    assert_eq!(bob.user, "bob@localhost");

    // The session is alice's: a Message that claims another sender (key 3) gets her name.
    let mut bob = bob;
    sub(&mut bob, "#rust@localhost");
    sub(&mut alice, "#rust@localhost");
    let mut payload = vec![0xa5, 0x00, 0x06, 0x01, 0x05];
    payload.extend([0x02, 0x6f]);
    payload.extend(b"#rust@localhost");
    payload.extend([0x03, 0x6d]);
    payload.extend(b"bob@localhost");
    payload.extend([0x06, 0x62]);
    payload.extend(b"hi");
    alice.send_raw(&raw_frame(&payload)).unwrap();
    assert_eq!(
        next(&mut alice),
        "Event #rust@localhost alice@localhost hi seq=Some(5)"
    );
    assert_eq!(
        next(&mut bob),
        "Event #rust@localhost alice@localhost hi seq=None"
    );

    // passwd and del take effect on the running server.
    let (ok, out) = account(dir.path(), "passwd", "alice@localhost", "battery staple");
    assert!(ok, "{out}");
    assert!(login_at(s.addr, "alice", "battery staple", false).is_ok());
    assert_eq!(refused(login_at(s.addr, "alice", "correct horse", false)), 601);
    let (ok, out) = account(dir.path(), "del", "alice", "");
    assert!(ok, "{out}");
    let deadline = Instant::now() + WAIT;
    while scalar::client::Client::connect(s.addr, "alice", WAIT).is_err() {
        assert!(Instant::now() < deadline, "the deleted account is still guarded");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The session that logged in to it proved an account that is gone: it was closed.
    let (error, bye) = (next(&mut alice), next(&mut alice));
    assert!(
        error.starts_with("Error") && error.contains("auth_required"),
        "{error}"
    );
    assert!(bye.starts_with("Bye") && bye.contains("auth_required"), "{bye}");
}

/// `scalard account add` leaves the account's start to the server, which a server older than
/// schema version 11 would never set: on such a file (an older server may still run on it)
/// the command refuses until the new server has opened it.
/// A domain written with capitals is that domain, said folded (found in a walk-through: it
/// was refused); the note a start gives, `scalard account` gives too.
#[test]
fn account_add_takes_a_domain_with_capitals_folded() {
    let dir = DataDir::new();
    let flags = ["--domain", "Chat.Example.ORG"];
    let (ok, out) = account_with(dir.path(), "add", "Alice", "correct horse", &flags);
    assert!(
        ok && out.contains("account alice@chat.example.org added"),
        "{out}"
    );
    assert!(
        out.contains("--domain: \"Chat.Example.ORG\" is taken as chat.example.org"),
        "{out}"
    );
}

#[test]
fn account_add_waits_for_a_server_that_places_what_it_adds() {
    let dir = DataDir::new();
    drop(Scalard::start_in(Some(dir.path()), &[]));
    let db = std::path::Path::new(dir.path()).join("scalard.db");
    let older = |v: i64| {
        let c = rusqlite::Connection::open(&db).expect("open");
        // What versions 16 and 17 added, taken out again so that the upgrade can add it.
        c.execute_batch(
            "DROP TABLE forgotten;
             DROP TRIGGER topic_added; DROP TRIGGER topic_counted; DROP TRIGGER topic_deleted;
             DROP INDEX topics_emptied; ALTER TABLE meta DROP COLUMN emptied;",
        )
        .expect("version 15");
        c.pragma_update(None, "user_version", v).expect("user_version");
    };
    older(10);
    let (ok, out) = account(dir.path(), "add", "alice", "password");
    assert!(
        !ok && out.contains("schema version 10 is older than this scalard's"),
        "{out}"
    );
    drop(Scalard::start_in(Some(dir.path()), &[]));
    let (ok, out) = account(dir.path(), "add", "alice", "password");
    assert!(ok, "{out}");
}

#[test]
fn an_account_added_while_the_server_runs_logs_in_at_once() {
    let s = Scalard::start(&[]);
    let dir = s.data.as_ref().unwrap().path().to_string();
    let mut squatter = s.client("dave");
    s.expect_log("from 127.0.0.1 is dave@localhost, without a password");
    match login_at(s.addr, "nobody", "password", false) {
        Err(ClientError::Refused {
            code: 601, reason, ..
        }) => {
            assert_eq!(reason, "no account nobody@localhost")
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("nobody logged in"),
    }
    // With the address, for tools that ban it (found by QA: the lines had none).
    s.expect_log("from 127.0.0.1: no account nobody@localhost");
    let (ok, out) = account(&dir, "add", "dave", "password");
    assert!(ok, "{out}");
    // Not a second later, when the server would have looked at its accounts again: the store
    // is asked, and says a wrong password is one (not that there is no account).
    match login_at(s.addr, "dave", "wrong-password", false) {
        Err(ClientError::Refused {
            code: 601, reason, ..
        }) => assert_eq!(reason, "wrong password"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a wrong password logged in"),
    }
    s.expect_log("from 127.0.0.1: wrong password for dave@localhost");
    let dave = login_at(s.addr, "dave", "password", false).expect("logs in at once");
    assert_eq!(dave.user, "dave@localhost");
    // The operator made it, on the server: nobody registered it from the squatter's host
    // (found by QA: the reason said so, as for a client's registration).
    let f = squatter.recv().expect("told");
    let Ok(Msg::Error(e)) = f.msg() else {
        panic!("{}", describe(&f))
    };
    assert_eq!(
        (e.code, e.reason),
        (
            600,
            Some(
                "dave@localhost was just made an account by this server's operator: log in \
                 with its password if it is yours, or use another name"
            )
        )
    );
    let bye = next(&mut squatter);
    assert!(bye.starts_with("Bye 600"), "{bye}");
}

#[test]
fn an_account_added_for_another_domain_is_named_in_the_log() {
    let dir = DataDir::new();
    let s = Scalard::start_in(Some(dir.path()), &["--domain", "chat.test"]);
    // Without --domain, `scalard account` makes alice@localhost.
    let (ok, out) = account(dir.path(), "add", "alice", "password");
    assert!(ok && out.contains("alice@localhost"), "{out}");
    let line = s.expect_log("is not of the domain served");
    assert!(
        line.contains("alice@localhost is not of the domain served, chat.test"),
        "{line}"
    );
}

#[test]
fn an_account_added_while_the_server_runs_is_guarded_within_seconds() {
    let s = Scalard::start(&[]);
    let dir = s.data.as_ref().unwrap().path().to_string();
    // Messages stored for longer than the accounts thread's look (1 s) commit to the same
    // database, but are no change to the accounts: nothing is reloaded for them.
    let mut alice = s.client("alice");
    sub(&mut alice, "#talk@localhost");
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        alice
            .request(WAIT, |seq| {
                Msg::Message(Message {
                    seq,
                    topic: name("#talk@localhost"),
                    body: Body::Text("hello"),
                    ctype: None,
                    reply_to: None,
                })
            })
            .expect("echo");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Whether they made it reload is read below, from every line before carol's reload: a
    // look that the commits set off comes before the one that finds her (checking the lines
    // that came through 300 ms after the commits could miss one late on a busy machine).
    let (ok, out) = account(&dir, "add", "carol", "password");
    assert!(ok, "{out}");
    let deadline = Instant::now() + WAIT;
    loop {
        match scalar::client::Client::connect(s.addr, "carol", WAIT) {
            Err(ClientError::Refused { code: 600, .. }) => break,
            Ok(_) => assert!(Instant::now() < deadline, "carol is still open to anyone"),
            Err(e) => panic!("{e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(login_at(s.addr, "carol", "password", false).is_ok());
    let before = s.expect_log("accounts: reloaded");
    assert!(
        before.contains("accounts: reloaded, 1 accounts"),
        "history commits made the accounts reload: {before}"
    );
}

#[test]
fn a_password_changed_while_the_server_runs_ends_the_sessions_that_used_the_old_one() {
    let s = Scalard::start(&[]);
    let dir = s.data.as_ref().unwrap().path().to_string();
    let (ok, out) = account(&dir, "add", "alice", "old password");
    assert!(ok, "{out}");
    let mut before = login_at(s.addr, "alice", "old password", false).expect("logs in");
    let mut bob = s.client("bob");
    let (ok, out) = account(&dir, "passwd", "alice", "new password");
    assert!(ok, "{out}");
    // Within the accounts thread's look (1 s), or at a login that reads the account first.
    let f = before.recv().expect("told");
    let Ok(Msg::Error(e)) = f.msg() else {
        panic!("{}", describe(&f))
    };
    assert_eq!(
        (e.code, e.reason),
        (
            600,
            Some("the password of alice@localhost was changed: log in again")
        )
    );
    assert!(matches!(before.recv(), Ok(f) if describe(&f).starts_with("Bye 600")));
    assert_eq!(refused(login_at(s.addr, "alice", "old password", false)), 601);
    let mut after = login_at(s.addr, "alice", "new password", false).expect("logs in");
    assert!(after.ping(WAIT).is_ok(), "the new session stays");
    assert!(bob.ping(WAIT).is_ok());
}

#[test]
fn a_replayed_auth_and_an_auth_without_a_challenge_are_stale() {
    let dir = DataDir::new();
    assert!(account(dir.path(), "add", "alice", "password").0);
    let s = Scalard::start_in(Some(dir.path()), &[]);
    let mut c = s.raw();
    let ident = Ident {
        auth: Some(AUTH_PASSWORD),
        ..Ident::new(Some(1), &[1], Name::parse_user("alice").unwrap())
    };
    c.send(&Msg::Ident(ident)).unwrap();
    let f = c.recv().unwrap();
    let Ok(Msg::Challenge(ch)) = f.msg() else {
        panic!("{}", describe(&f))
    };
    let auth = Msg::Auth(Auth {
        seq: Some(2),
        nonce: ch.nonce,
        password: "password",
    })
    .to_frame()
    .unwrap();
    c.send_raw(&auth).unwrap();
    assert_eq!(next(&mut c), "Ident alice@localhost");
    // The same frame on a new connection, and again on this one.
    let mut replay = s.raw();
    replay.send_raw(&auth).unwrap();
    assert_eq!(next(&mut replay), "Error 606 stale_challenge seq=Some(2)");
    replay
        .send(&Msg::Ident(Ident {
            auth: Some(AUTH_PASSWORD),
            ..Ident::new(Some(3), &[1], name("alice@localhost"))
        }))
        .unwrap();
    let f = replay.recv().unwrap();
    assert!(matches!(f.msg(), Ok(Msg::Challenge(_))), "{}", describe(&f));
    replay.send_raw(&auth).unwrap();
    assert_eq!(next(&mut replay), "Error 606 stale_challenge seq=Some(2)");
    c.send_raw(&auth).unwrap();
    assert_eq!(next(&mut c), "Error 201 already_identified seq=Some(2)");
}

#[test]
fn guests_get_marked_names_and_cannot_take_registered_ones() {
    let dir = DataDir::new();
    assert!(account(dir.path(), "add", "alice", "password").0);
    let s = Scalard::start_in(Some(dir.path()), &["--auth", "guests"]);
    let g1 = s.client("alice-fan");
    let g2 = scalar::client::Client::connect(s.addr, "guest-anything", WAIT).unwrap();
    for g in [&g1, &g2] {
        assert!(g.guest);
        assert!(
            g.user.starts_with("guest-") && g.user.ends_with("@localhost"),
            "{}",
            g.user
        );
    }
    assert_ne!(g1.user, g2.user);
    // Each with its address, for an admin who bans by address (found by QA: debug only).
    s.expect_log(&format!("from 127.0.0.1 is {}, a guest", g1.user));
    assert_eq!(
        refused(scalar::client::Client::connect(s.addr, "alice", WAIT)),
        600
    );
    assert!(login_at(s.addr, "alice", "password", false).is_ok());
    s.expect_log("from 127.0.0.1 is alice@localhost, logged in");
    // Two guests can talk.
    let (mut g1, mut g2) = (g1, g2);
    let to = g2.user.clone();
    say(&mut g1, 7, &to, "hello guest");
    next(&mut g1);
    assert!(next(&mut g2).contains("hello guest"));
}

/// A guest keeps the name it asked for (`guest-MMMMMM-carol-RRRRRR`), each session with an ID
/// of its own: asking again, even for the ID it had, gets the name with new letters, so that
/// nobody behind the same address takes over a guest's ID, nor the channels it ran.
#[test]
fn a_guest_keeps_its_name_and_each_session_has_its_own_id() {
    let s = Scalard::start(&["--auth", "guests"]);
    let carol = s.client("carol");
    let id = carol.user.clone();
    let head = id
        .get(..id.len() - "-x7k2ab@localhost".len())
        .unwrap()
        .to_string();
    assert!(head.starts_with("guest-") && head.ends_with("-carol"), "{id}");
    let other = s.client("carol");
    assert!(
        other.user.starts_with(&format!("{head}-")) && other.user != id,
        "{}",
        other.user
    );
    drop(carol);
    let again = s.client(id.trim_end_matches("@localhost"));
    assert!(again.guest, "{}", again.user);
    assert!(
        again.user.starts_with(&format!("{head}-")) && again.user != id,
        "{}",
        again.user
    );
}

#[test]
fn accounts_only_refuses_everyone_without_a_password() {
    let dir = DataDir::new();
    assert!(account(dir.path(), "add", "alice", "password").0);
    let s = Scalard::start_in(Some(dir.path()), &["--auth", "accounts"]);
    assert_eq!(refused(scalar::client::Client::connect(s.addr, "bob", WAIT)), 600);
    assert!(login_at(s.addr, "alice", "password", false).is_ok());
}

#[test]
fn self_registration_when_the_operator_allows_it() {
    let dir = DataDir::new();
    {
        let closed = Scalard::start_in(Some(dir.path()), &[]);
        assert_eq!(refused(login_at(closed.addr, "dave", "password", true)), 605);
    }
    let s = Scalard::start_in(Some(dir.path()), &["--registration", "open"]);
    assert_eq!(refused(login_at(s.addr, "dave", "s3cret", true)), 609);
    let dave = login_at(s.addr, "dave", "s3cret-pw", true).expect("register");
    assert_eq!(dave.user, "dave@localhost");
    s.expect_log("from 127.0.0.1 registered the account dave@localhost");
    assert_eq!(refused(login_at(s.addr, "dave", "other", true)), 604);
    assert_eq!(
        refused(scalar::client::Client::connect(s.addr, "dave", WAIT)),
        600
    );
    drop(s);
    // The account outlives the server.
    let s = Scalard::start_in(Some(dir.path()), &[]);
    assert!(login_at(s.addr, "dave", "s3cret-pw", false).is_ok());
    assert_eq!(refused(login_at(s.addr, "dave", "other", false)), 601);
    let (ok, out) = account(dir.path(), "list", "", "");
    assert!(ok && out.contains("dave@localhost"), "{out}");
}

/// SIGHUP takes up `auth` and `registration` (a moderator under a raid closed them and had to
/// restart, dropping everyone: found by QA): new Idents follow them at once, sessions in stay.
#[test]
fn a_reload_closes_registration_and_unregistered_ids_without_a_restart() {
    let dir = DataDir::new();
    let conf = dir.config("registration = \"open\"\n");
    let s = Scalard::start_in(Some(dir.path()), &["--config", &conf]);
    let mut dave = login_at(s.addr, "dave", "s3cret-pw", true).expect("register");
    let mut bob = scalar::client::Client::connect(s.addr, "bob", WAIT).expect("open");
    dir.config("registration = \"closed\"\nauth = \"accounts\"\n");
    s.signal(libc::SIGHUP);
    s.expect_log("reload: unregistered IDs: accounts (was open); registration: closed (was open)");
    assert_eq!(refused(login_at(s.addr, "erin", "s3cret-pw", true)), 605);
    assert_eq!(
        refused(scalar::client::Client::connect(s.addr, "carol", WAIT)),
        600
    );
    assert!(
        login_at(s.addr, "dave", "s3cret-pw", false).is_ok(),
        "accounts log in"
    );
    dave.ping(WAIT).expect("dave stays");
    bob.ping(WAIT).expect("bob stays");
    // And open again.
    dir.config("registration = \"open\"\n");
    s.signal(libc::SIGHUP);
    s.expect_log("reload: unregistered IDs: open (was accounts); registration: open (was closed)");
    login_at(s.addr, "erin", "s3cret-pw", true).expect("register");
}

/// `--max-accounts` bounds what clients register, not what the operator adds.
#[test]
fn registrations_stop_at_max_accounts() {
    let dir = DataDir::new();
    let s = Scalard::start_in(
        Some(dir.path()),
        &["--registration", "open", "--max-accounts", "2"],
    );
    for name in ["dave", "erin"] {
        login_at(s.addr, name, "s3cret-pw", true).expect("register");
    }
    assert_eq!(refused(login_at(s.addr, "frank", "s3cret-pw", true)), 605);
    s.expect_log("registrations refused from now on: the server has 2 accounts (max-accounts 2)");
    let (ok, _) = account(dir.path(), "add", "frank", "s3cret-pw");
    assert!(ok, "the operator still adds accounts");
    assert!(login_at(s.addr, "frank", "s3cret-pw", false).is_ok());
}

#[test]
fn an_admin_s_name_is_the_operator_s_to_create() {
    let dir = DataDir::new();
    let flags = [
        "--registration",
        "open",
        "--admin",
        "bob@other.example",
        "--admin",
        "root",
    ];
    let s = Scalard::start_in(Some(dir.path()), &flags);
    // Said at start (before the address, which the harness reads past) and on each SIGHUP;
    // for root, and first: bob, of another domain, logs in with his home's token.
    // SAFETY: kill only sends a signal to the child we started.
    unsafe { libc::kill(s.child.id() as i32, libc::SIGHUP) };
    let line = s.expect_log("has no account");
    // With the data directory, or the command would make the account somewhere else.
    let command = format!(
        "`scalard account add root@localhost --data-dir {} --domain localhost`",
        dir.path()
    );
    assert!(
        line.contains("admin root@localhost has no account") && line.contains(&command),
        "{line}"
    );
    assert_eq!(refused(login_at(s.addr, "root", "password", true)), 604);
    assert!(
        login_at(s.addr, "dave", "password", true).is_ok(),
        "other names register"
    );
    // Once the operator makes it, root logs in as ever.
    assert!(account(dir.path(), "add", "root", "password").0);
    // The log line comes just before the loop reads the new list: it may be a moment late.
    let deadline = Instant::now() + WAIT;
    let mut root = loop {
        match login_at(s.addr, "root", "password", false) {
            Ok(c) => break c,
            Err(e) => assert!(Instant::now() < deadline, "root cannot log in: {e}"),
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    // What an admin says to everyone is logged, as its bans are.
    say(&mut root, 9, "!wall@localhost", "down at\n5");
    assert!(next(&mut root).starts_with("Event"));
    let line = s.expect_log(": wall");
    assert!(line.contains(r#"root@localhost: wall "down at\n5""#), "{line}");
}

#[test]
fn a_login_storm_is_throttled_and_others_keep_chatting() {
    let dir = DataDir::new();
    assert!(account(dir.path(), "add", "alice", "password").0);
    let s = Scalard::start_in(Some(dir.path()), &[]);
    let mut bob = s.client("bob");
    let mut carol = s.client("carol");
    sub(&mut bob, "#ops@localhost");
    sub(&mut carol, "#ops@localhost");
    // Wrong passwords from one address: the first few are checked, then the address and the
    // account must wait.
    let mut codes = Vec::new();
    for _ in 0..30 {
        codes.push(refused(login_at(s.addr, "alice", "guess", false)));
    }
    assert_eq!(&codes[..5], [601; 5]);
    assert!(codes[5..].iter().all(|&c| c == 602), "{codes:?}");
    // The right password waits as well: the account is under attack.
    assert_eq!(refused(login_at(s.addr, "alice", "password", false)), 602);
    for i in 0..20 {
        say(&mut bob, 100 + i, "#ops@localhost", "still here");
        next(&mut bob);
        assert!(next(&mut carol).contains("still here"));
    }
}

#[test]
fn an_ephemeral_server_has_no_accounts() {
    let s = Scalard::start(&["--ephemeral"]);
    assert_eq!(refused(login_at(s.addr, "alice", "password", false)), 601);
    // On the running server's own port: the mistake is found before anything is bound, so it
    // is reported as itself, not as the port being taken.
    let taken = s.addr.to_string();
    for flag in [["--auth", "accounts"], ["--registration", "open"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_scalard"))
            .args(["--ephemeral", "--listen", &taken])
            .args(flag)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("data directory") && !err.contains("listen"), "{err}");
    }
}

#[test]
fn an_account_added_during_steady_logins_and_registrations_is_still_guarded() {
    let dir = DataDir::new();
    assert!(account(dir.path(), "add", "alice", "password").0);
    let s = Scalard::start_in(Some(dir.path()), &["--registration", "open"]);
    let addr = s.addr;
    // A login every 200 ms for at most 8 s keeps the accounts thread busy.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(8);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < end {
                let _ = login_at(addr, "alice", "password", false);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    // The operator adds bob, then a client registers carol (its own commit must not hide
    // bob's).
    assert!(account(dir.path(), "add", "bob", "password").0);
    assert!(login_at(s.addr, "carol", "password", true).is_ok());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match scalar::client::Client::connect(s.addr, "bob", WAIT) {
            Err(ClientError::Refused { code: 600, .. }) => break,
            Ok(_) => assert!(Instant::now() < deadline, "bob is still open to anyone"),
            Err(e) => panic!("{e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    busy.join().unwrap();
}

/// What scalard logs on `dir` with `flags` up to the moment it listens.
fn start_log(dir: &str, flags: &[&str]) -> Vec<String> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scalard"))
        .args(["--listen", "127.0.0.1:0", "--data-dir", dir])
        .args(flags)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn scalard");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .take(100)
    {
        let listening = line.contains("listening on");
        lines.push(line);
        if listening {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

#[test]
fn a_server_started_for_another_domain_than_its_accounts_says_so() {
    let dir = DataDir::new();
    let (ok, out) = account(dir.path(), "add", "alice", "correct horse");
    assert!(ok, "{out}");
    let log = start_log(dir.path(), &["--domain", "chat.example.org"]);
    let warning = log
        .iter()
        .find(|l| l.contains("none of the 1 accounts is of the domain served"));
    assert!(
        warning.is_some_and(|l| l.contains("chat.example.org") && l.contains("accounts of localhost")),
        "{log:?}"
    );
    // Started for their domain, it has nothing to say.
    let log = start_log(dir.path(), &[]);
    assert!(log.iter().any(|l| l.contains("listening on")), "{log:?}");
    assert!(!log.iter().any(|l| l.contains("none of the")), "{log:?}");
}

/// A bare name with the domain given (`--domain`) means that domain, even where the accounts
/// so far are of another: the operator said so (found by an operator's walkthrough, as was
/// an empty list printing nothing at all).
#[test]
fn a_bare_name_with_its_domain_named_is_added_beside_other_domains() {
    let dir = DataDir::new();
    assert!(account(dir.path(), "add", "alice", "password").0);
    assert!(account(dir.path(), "del", "alice", "").0);
    // An empty list says so (on standard error).
    assert_eq!(
        account(dir.path(), "list", "", ""),
        (true, "scalard account: none\n".into())
    );
    assert!(account(dir.path(), "add", "alice", "password").0);
    let (ok, out) = account_with(dir.path(), "add", "erin", "password", &["--domain", "chat.test"]);
    assert!(ok, "{out}");
    assert!(out.contains("account erin@chat.test added"), "{out}");
}

/// Read markers end to end: what alice read on one device is told to her other one at once,
/// and known to a device that comes after a restart; a name without an account keeps none.
#[test]
fn a_read_marker_reaches_the_other_device_and_outlives_a_restart() {
    let dir = with_alice();
    let mark = |c: &mut Client, topic: &str, time: Option<u64>| {
        let seq = c.seq();
        let m = MarkRead {
            seq: Some(seq),
            topic: name(topic),
            time,
        };
        c.send(&Msg::MarkRead(m)).expect("send");
        let reply = c.recv().expect("a reply");
        match reply.msg() {
            Ok(Msg::ReadMark(r)) if r.seq == Some(seq) && r.topic.as_str() == topic => r.time,
            _ => panic!("not the ReadMark: {}", describe(&reply)),
        }
    };
    {
        let mut s = Scalard::start_in(Some(dir.path()), &[]);
        let mut laptop = alice(&s);
        let mut phone = alice(&s);
        assert_eq!(mark(&mut laptop, "#rust@localhost", None), None);
        assert_eq!(mark(&mut phone, "#rust@localhost", Some(1_000)), Some(1_000));
        let told = laptop.recv().expect("told");
        match told.msg() {
            Ok(Msg::ReadMark(r)) => assert_eq!(
                (r.seq, r.topic.as_str(), r.time),
                (None, "#rust@localhost", Some(1_000))
            ),
            _ => panic!("{}", describe(&told)),
        }
        assert_eq!(
            mark(&mut laptop, "#rust@localhost", Some(900)),
            Some(1_000),
            "never back"
        );
        assert_eq!(mark(&mut laptop, "bob@localhost", Some(2_000)), Some(2_000));
        let mut dave = s.client("dave");
        let seq = dave.seq();
        let m = MarkRead {
            seq: Some(seq),
            topic: name("#rust@localhost"),
            time: Some(5),
        };
        dave.send(&Msg::MarkRead(m)).expect("send");
        assert_eq!(
            next(&mut dave),
            format!("Error 805 registered_only seq=Some({seq})")
        );
        // Moves are saved every 30 s, and all of them when the server stops.
        s.signal(libc::SIGTERM);
        assert!(s.child.wait().expect("exit").success());
    }
    let s = Scalard::start_in(Some(dir.path()), &[]);
    let mut next_day = alice(&s);
    assert_eq!(mark(&mut next_day, "#rust@localhost", None), Some(1_000));
    assert_eq!(mark(&mut next_day, "bob@localhost", None), Some(2_000));
}

/// `scalard account list` and `scalard ban list` only read the store, so they work where
/// nothing can be written: a read-only mount, a full disk, a file made immutable (found in
/// review: they opened it as the writer, taking its write lock to look at the schema, and
/// failed with `the file is read-only`). Here the file is made unwritable, as root with
/// `chattr +i` (skipped where the filesystem or the sandbox does not allow it), as anyone
/// else by its mode; and listed again while a server runs on it (writable), reading what it
/// wrote through its log.
#[test]
fn account_list_and_ban_list_read_an_unwritable_store() {
    let dir = with_alice();
    let db = dir.0.join("scalard.db");
    // SAFETY: geteuid only reads the process's credentials.
    let root = unsafe { libc::geteuid() } == 0;
    let chattr = |flag: &str| {
        std::process::Command::new("chattr")
            .arg(flag)
            .arg(&db)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let unwritable = match root {
        true => chattr("+i"),
        false => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o400)).is_ok()
        }
    };
    if unwritable {
        let listed = account(dir.path(), "list", "", "");
        let bans = std::process::Command::new(env!("CARGO_BIN_EXE_scalard"))
            .args(["ban", "list", "--data-dir", dir.path()])
            .output()
            .expect("scalard ban list");
        // Writing is still refused, and said as before.
        let passwd = account(dir.path(), "passwd", "alice", "another password");
        // Writable again before any assertion, so that the directory can be removed.
        match root {
            true => assert!(chattr("-i"), "chattr -i"),
            false => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
        assert_eq!(listed, (true, "alice@localhost\n".to_string()));
        let said = String::from_utf8_lossy(&bans.stderr);
        assert!(bans.status.success() && said.contains("none"), "{said}");
        assert!(!passwd.0 && passwd.1.contains("read-only"), "{}", passwd.1);
    }
    let s = Scalard::start_in(Some(dir.path()), &[]);
    let (ok, out) = account(dir.path(), "add", "bob", "bob's password");
    assert!(ok, "{out}");
    assert_eq!(
        account(dir.path(), "list", "", ""),
        (true, "alice@localhost\nbob@localhost\n".to_string())
    );
    drop(s);
}

/// An account deleted and made again at once (within the server's look at the store) is a new
/// account: the old one's sessions, with Catchups in flight, never read what reaches the new
/// one, and the new one reads nothing of the old one's. (A review suspected the store's
/// floor, which reads an account's start from its current row, of letting an old session read
/// the new account's direct messages until it is closed; it cannot: the server places the new
/// account's start and closes the old sessions in one step, and drops the answers of closed
/// connections.)
#[test]
fn an_account_deleted_and_made_again_shares_nothing_with_the_old_one_s_sessions() {
    let dir = with_alice();
    let s = Scalard::start_in(Some(dir.path()), &[]);
    let (mut old, mut other) = (alice(&s), alice(&s));
    let mut bob = s.client("bob");
    say(&mut bob, 2, "alice@localhost", "to the old alice");
    assert!(next(&mut bob).contains("to the old alice"));
    assert!(next(&mut old).contains("to the old alice"));
    assert!(account(dir.path(), "del", "alice", "").0);
    assert!(account(dir.path(), "add", "alice", "battery staple").0);
    // Reads of its direct messages, sent without waiting for the answers.
    for seq in 10..60 {
        old.send(&Msg::Catchup(latest(seq, "alice@localhost", 100)))
            .expect("send");
    }
    let mut new = login_at(s.addr, "alice", "battery staple", false).expect("the new alice");
    say(&mut bob, 3, "alice@localhost", "to the new alice");
    assert!(next(&mut bob).contains("to the new alice"));
    for session in [&mut old, &mut other] {
        let mut got = Vec::new();
        while let Ok(f) = session.recv() {
            let d = describe(&f);
            let bye = d.starts_with("Bye");
            got.push(d);
            if bye {
                break;
            }
        }
        assert!(
            got.last().is_some_and(|d| d == "Bye 600 auth_required"),
            "{got:?}"
        );
        assert!(!got.iter().any(|d| d.contains("new alice")), "{got:?}");
    }
    new.send(&Msg::Catchup(latest(9, "alice@localhost", 100)))
        .expect("send");
    let mut got = Vec::new();
    while !got.last().is_some_and(|d: &String| d.starts_with("CatchupEnd")) {
        got.push(next(&mut new));
    }
    assert!(
        got.iter()
            .any(|d| d.contains("to the new alice") && d.contains("seq=Some(9)")),
        "{got:?}"
    );
    assert!(!got.iter().any(|d| d.contains("old alice")), "{got:?}");
}

/// An account deleted and made again, whose new holder logs in before the server's next look
/// at the store: the server learns of the new account at that login and forgets the old one's
/// state then. What the new holder sets next (a block, a read marker) outlives a stop made
/// before that look (found by helper 258: the deletion's mark was left in the store, and the
/// next start forgot the new account's block and markers as the old one's).
#[test]
fn a_new_account_s_state_outlives_a_stop_just_after_the_old_one_s_deletion() {
    let dir = with_alice();
    let mut s = Scalard::start_in(Some(dir.path()), &[]);
    // All of it within the second before the server's first look.
    assert!(account(dir.path(), "del", "alice", "").0);
    assert!(account(dir.path(), "add", "alice", "battery staple").0);
    let mut new = login_at(s.addr, "alice", "battery staple", false).expect("the new alice");
    let block = Mod {
        seq: Some(3),
        topic: name("alice@localhost"),
        action: Action::Ban,
        target: "dave@localhost",
        reason: None,
        since: None,
        until: None,
    };
    new.send(&Msg::Mod(block)).expect("send");
    assert_eq!(
        next(&mut new),
        "Event alice@localhost alice@localhost ban dave@localhost seq=Some(3)"
    );
    let mark = |c: &mut scalar::client::Client, time| {
        let m = MarkRead {
            seq: Some(4),
            topic: name("#rust@localhost"),
            time,
        };
        c.send(&Msg::MarkRead(m)).expect("send");
        match c.recv().expect("ReadMark").msg() {
            Ok(Msg::ReadMark(r)) => r.time,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(mark(&mut new, Some(1_000)), Some(1_000));
    drop(new);
    s.signal(libc::SIGTERM);
    assert!(s.child.wait().expect("exit").success());
    let s = Scalard::start_in(Some(dir.path()), &[]);
    let mut new = login_at(s.addr, "alice", "battery staple", false).expect("the new alice");
    assert_eq!(mark(&mut new, None), Some(1_000), "the new account's marker");
    let mut dave = s.client("dave");
    say(&mut dave, 2, "alice@localhost", "hello");
    assert_eq!(next(&mut dave), "Error 801 banned seq=Some(2)", "its block");
}
