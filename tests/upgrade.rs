//! Upgrades end to end: this scalard started on a data directory an older scalard wrote.
//! The stores are made here, without the old binaries, from what two old builds wrote
//! (tests/fixtures, `sqlite3 .dump` of their `scalard.db` after a clean stop): schema version 1,
//! the first release's (history only), made by commit 8f1904f, and version 10's (accounts, a
//! kept channel with its topic, ban and mute, a server ban, the motd, direct messages), made by
//! commit 3b1d7b2, with passwords `NAME-old-password`. Each is checked as an operator would
//! after the upgrade: the log says what was migrated, every message is there once and in
//! order, search finds the old ones, the old passwords and sanctions hold, new messages come
//! after the old ones, a restart migrates nothing again, and `scalard backup` counts it all.

mod common;

use common::*;
use scalar::client::{Client, Login};
use scalar::proto::*;
use scalar::store::sqlite::SCHEMA_VERSION;
use std::process::Command;
use std::time::Instant;

/// The first release's store: 8 messages in #general and #random.
const V1: &str = include_str!("fixtures/store-v1.sql");
/// Version 10's store: 7 Events (records of #kept among them) and 3 accounts.
const V10: &str = include_str!("fixtures/store-v10.sql");

/// A data directory holding the store the dump `sql` makes.
fn old_store(sql: &str) -> DataDir {
    let dir = DataDir::new();
    let db = rusqlite::Connection::open(dir.0.join("scalard.db")).expect("a new file");
    db.execute_batch(sql).expect("the dump loads");
    dir
}

/// One replayed Event: its topic, sender, text, id and time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    topic: String,
    from: String,
    text: String,
    id: MsgId,
    time: u64,
}

/// The newest 50 Events of `topic` (a Catchup), or with `query`, those that match it (a
/// Search), oldest first.
fn read(c: &mut Client, topic: &str, query: Option<&str>) -> Vec<Got> {
    let seq = c.seq();
    let range = latest(seq, topic, 50);
    let msg = match query {
        Some(query) => Msg::Search(Search { range, query }),
        None => Msg::Catchup(range),
    };
    c.send(&msg).expect("send");
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    loop {
        let f = c.reply(seq, deadline).expect("an answer");
        match f.msg().expect("decodes") {
            Msg::Event(e) => {
                assert_eq!(e.computed_id(), e.id, "the id of the Event as stored");
                let text = match e.body {
                    Body::Text(t) => t.to_string(),
                    Body::Blob(b) => format!("{} bytes", b.len()),
                };
                got.push(Got {
                    topic: e.topic.to_string(),
                    from: e.from.to_string(),
                    text,
                    id: e.id,
                    time: e.time,
                });
            }
            Msg::CatchupEnd(end) => {
                assert_eq!(end.status, CatchupStatus::Complete, "{topic} {query:?}");
                return got;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn texts(got: &[Got]) -> Vec<&str> {
    got.iter().map(|g| g.text.as_str()).collect()
}

/// Publishes `text` to `topic`: the echo.
fn publish(c: &mut Client, topic: &str, text: &str) -> Got {
    let f = c
        .request(WAIT, |seq| {
            Msg::Message(Message {
                seq,
                topic: name(topic),
                body: Body::Text(text),
                ctype: None,
                reply_to: None,
            })
        })
        .expect("an echo");
    match f.msg().expect("decodes") {
        Msg::Event(e) => Got {
            topic: e.topic.to_string(),
            from: e.from.to_string(),
            text: text.into(),
            id: e.id,
            time: e.time,
        },
        other => panic!("not an echo: {other:?}"),
    }
}

/// Whether the start logged a line holding `needle`.
fn logged(s: &Scalard, needle: &str) -> bool {
    s.startup.iter().any(|l| l.contains(needle))
}

/// Asserts that the start upgraded the store from `from`, saying so step by step.
fn upgraded_from(s: &Scalard, from: u32) {
    let said = s.startup.join("\n");
    let first = format!("store: upgrading the database schema from version {from} to {SCHEMA_VERSION}");
    assert!(said.contains(&first), "{said}");
    for v in from + 1..=SCHEMA_VERSION {
        let step = format!("store: database schema migrated to version {v}\n");
        assert!(said.contains(&step), "step {v}: {said}");
    }
    // A version that rebuilds the index says so before it starts, since it reads everything.
    assert!(said.contains("rebuilding the search index"), "{said}");
}

/// `scalard backup` into `dir`: what it said, and whether it succeeded.
fn backup(data: &DataDir) -> (bool, String) {
    let file = data.0.join("backup.db");
    let out = Command::new(env!("CARGO_BIN_EXE_scalard"))
        .arg("backup")
        .arg(&file)
        .args(["--data-dir", data.path()])
        .env_remove("RUST_LOG")
        .output()
        .expect("run scalard backup");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

const GENERAL: &str = "#general@localhost";
const RANDOM: &str = "#random@localhost";

#[test]
fn the_first_releases_store_is_upgraded_whole() {
    let dir = old_store(V1);
    let s = Scalard::start_in(Some(dir.path()), &[]);
    upgraded_from(&s, 1);
    assert!(logged(&s, "opened: 8 events, last position 8"), "{:?}", s.startup);

    let mut reader = s.client("reader");
    // A channel's history is its members'.
    sub(&mut reader, GENERAL);
    sub(&mut reader, RANDOM);
    let general = read(&mut reader, GENERAL, None);
    let old = [
        "first message of the first release",
        "thanks🙂 for the καλημέρα",
        "日本語もテストします。",
        "numbered message 1",
        "numbered message 2",
        "numbered message 3",
    ];
    assert_eq!(texts(&general), old);
    assert!(general.windows(2).all(|w| w[0].time < w[1].time), "{general:?}");
    assert_eq!(general[0].from, "alice@localhost");
    let random = read(&mut reader, RANDOM, None);
    assert_eq!(texts(&random), ["a random café note", "another random note"]);

    // The index is made anew from the stored bodies: words after an emoji, Greek without its
    // accents, a Japanese word inside a run, as this version finds them.
    for (topic, query, found) in [
        (GENERAL, "thanks", "thanks🙂 for the καλημέρα"),
        (GENERAL, "καλημερα", "thanks🙂 for the καλημέρα"),
        (GENERAL, "テスト", "日本語もテストします。"),
        (RANDOM, "cafe", "a random café note"),
    ] {
        assert_eq!(texts(&read(&mut reader, topic, Some(query))), [found], "{query}");
    }
    assert_eq!(read(&mut reader, GENERAL, Some("numbered")).len(), 3);

    // A new message comes after the old ones, in position and time.
    let new = publish(&mut reader, GENERAL, "numbered message 4, after the upgrade");
    let general = read(&mut reader, GENERAL, None);
    assert_eq!(general.len(), 7);
    assert_eq!(general.last(), Some(&new));
    assert!(new.time > general[5].time);
    drop(reader);

    // The next start has nothing left to migrate, and keeps each message once.
    drop(s);
    let s = Scalard::start_in(Some(dir.path()), &[]);
    assert!(!logged(&s, "upgrading the database schema"), "{:?}", s.startup);
    assert!(logged(&s, "opened: 9 events, last position 9"), "{:?}", s.startup);
    let mut reader = s.client("reader");
    sub(&mut reader, GENERAL);
    let again = read(&mut reader, GENERAL, None);
    assert_eq!(again, general);
    assert_eq!(texts(&read(&mut reader, GENERAL, Some("numbered"))).len(), 4);
    let (ok, said) = backup(&dir);
    assert!(
        ok && said.contains(&format!(
            "9 messages, 0 accounts (schema version {SCHEMA_VERSION})"
        )),
        "{said}"
    );
}

#[test]
fn version_10s_accounts_channels_and_bans_are_kept() {
    let dir = old_store(V10);
    // The kept channel was emptied when the fixture was made (2026-12-07): from 90 days later
    // (the default --kept-channel-days) the first tick, a second after the start, forgot it,
    // and the checks below failed on a slow run (review 269). Its expiry is not what is tested.
    let s = Scalard::start_in(
        Some(dir.path()),
        &["--admin", "admin", "--kept-channel-days", "0"],
    );
    upgraded_from(&s, 10);
    assert!(
        logged(&s, "restored 1 channel(s) and 1 server ban(s)"),
        "{:?}",
        s.startup
    );
    assert!(logged(&s, "3 accounts"), "{:?}", s.startup);

    // The old Argon2id hashes still check the old passwords, and only those.
    let login = |user: &str, password: &str| {
        let mut c = Client::connect_raw(s.addr, WAIT).expect("connect");
        let login = Login {
            password: password.into(),
            register: false,
        };
        c.identify(user, Some(&login), WAIT).map(|_| c)
    };
    assert!(login("alice", "wrong password").is_err());
    let mut alice = login("alice", "alice-old-password").expect("alice's old password");
    let mut bob = login("bob", "bob-old-password").expect("bob's old password");

    // Their conversation, both ways, from either side.
    let dm = read(&mut alice, "bob@localhost", None);
    assert_eq!(texts(&dm), ["private hello to bob", "private reply to alice"]);
    assert_eq!(read(&mut bob, "alice@localhost", None), dm);

    // The kept channel: its topic, its records, its mute; the server ban.
    let meta = sub_reply(&mut alice, "#kept@localhost");
    match meta.msg().expect("decodes") {
        Msg::Meta(m) => {
            assert_eq!(m.subject, Some("kept since version 10"));
            assert_eq!(m.kept, Some(true));
        }
        other => panic!("not a Meta: {other:?}"),
    }
    let kept = read(&mut alice, "#kept@localhost", None);
    assert_eq!(kept.len(), 5, "{kept:?}");
    assert_eq!(
        texts(&kept[3..]),
        ["hello from the kept channel", "bob says the café is open"]
    );
    let found = read(&mut alice, "#kept@localhost", Some("cafe"));
    assert_eq!(texts(&found), ["bob says the café is open"]);
    let mut carol = s.client("carol");
    sub(&mut carol, "#kept@localhost");
    say(&mut carol, 7, "#kept@localhost", "still muted?");
    let refused = loop {
        let frame = next(&mut carol);
        if frame.starts_with("Error") {
            break frame;
        }
    };
    assert_eq!(refused, "Error 802 muted seq=Some(7)");
    let mut mallory = s.raw();
    let err = mallory.identify("mallory", None, WAIT).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("banned"), "{err}");

    // New messages after the old ones.
    let new = publish(&mut alice, "#kept@localhost", "said after the upgrade");
    let kept_now = read(&mut alice, "#kept@localhost", None);
    assert_eq!(kept_now.last(), Some(&new));
    assert!(kept_now.iter().all(|g| g.time <= new.time));
    assert_eq!(kept_now.len(), 6);
    let (ok, said) = backup(&dir);
    assert!(
        ok && said.contains(&format!(
            "8 messages, 3 accounts (schema version {SCHEMA_VERSION})"
        )),
        "{said}"
    );
}
