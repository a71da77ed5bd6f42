//! `history` and `search` against a scalard that keeps history (`--data-dir`): paging across
//! many pages in both directions, every message exactly once and in order, conversations from
//! both sides, and the notes and exit codes of the ways a read can end.

mod common;

use common::*;
use scalar::proto::MsgId;
use std::time::{Duration, Instant};

const INPUT: i32 = 5;

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// A server keeping history in a fresh directory (kept alive by the returned [`TempDir`]).
fn server_with_history() -> (Server, TempDir) {
    let dir = TempDir::new();
    (history_server(0, &dir), dir)
}

/// Runs scalar-cli with `args` as `id`; its exit code, the texts of its JSON lines (or its
/// plain lines) and its standard error.
fn cli_run(server: &Server, home: &TempDir, id: &str, args: &[&str]) -> Run {
    let mut c = cli(server, home);
    c.args(["--id", id]).args(args);
    run(c, b"")
}

/// [`cli_run`] logged in to the account `id` (see [`add_accounts`]).
fn cli_run_as(server: &Server, home: &TempDir, id: &str, args: &[&str]) -> Run {
    let mut c = cli(server, home);
    c.env("SCALAR_PASSWORD", PASSWORD).args(["--id", id]).args(args);
    run(c, b"")
}

/// The `text` of each JSON line, checking that no id repeats.
fn texts(r: &Run) -> Vec<String> {
    let objs: Vec<serde_json::Value> = r.stdout.lines().map(json).collect();
    let mut ids: Vec<&str> = objs.iter().map(|o| o["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), objs.len(), "an event was printed twice:\n{}", r.stdout);
    objs.iter()
        .map(|o| o["text"].as_str().unwrap().to_string())
        .collect()
}

/// Fails unless standard error has `note`.
fn says(r: &Run, note: &str) {
    assert!(r.stderr.contains(note), "{note:?} not in:\n{}", r.stderr);
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("m{i:03}")).collect()
}

#[test]
fn history_pages_back_and_forth_exactly_once() {
    let (server, _dir) = server_with_history();
    let home = TempDir::new();
    let mut alice = server.client("alice");
    subscribe(&mut alice, "#h@localhost");
    let stamps: Vec<(MsgId, u64)> = (0..300)
        .map(|i| say(&mut alice, "#h@localhost", &format!("m{i:03}")))
        .collect();

    // All of it, backward across pages of 100, printed oldest first; complete, so no note but
    // what a bare word was taken for (found by QA: said for `send` only).
    let r = cli_run(
        &server,
        &home,
        "reader",
        &["history", "h", "--last", "1000", "--json"],
    );
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(texts(&r), numbered(0..300));
    assert_eq!(
        r.stderr,
        "scalar-cli: reading the channel #h@localhost; a conversation needs the ID (h@localhost)\n"
    );

    let r = cli_run(
        &server,
        &home,
        "reader",
        &["history", "#h", "--last", "250", "--json"],
    );
    assert_eq!(texts(&r), numbered(50..300));
    assert!(
        r.stderr
            .contains("showing the last 250 messages; older ones exist"),
        "{}",
        r.stderr
    );

    // Before an id: the 120 just older than m200.
    let before = stamps[200].0.to_string();
    let r = cli_run(
        &server,
        &home,
        "reader",
        &["history", "h", "--before", &before, "-n", "120", "--json"],
    );
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(texts(&r), numbered(80..200));

    // Since a time, forward across pages to the end, in both forms of TIME.
    let since_ms = stamps[9].1.to_string();
    let r = cli_run(
        &server,
        &home,
        "reader",
        &["history", "h", "--since", &since_ms, "--json"],
    );
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(texts(&r), numbered(10..300));
    let rfc = json(r.stdout.lines().nth(100).unwrap())["time"]
        .as_str()
        .unwrap()
        .to_string();
    let r = cli_run(
        &server,
        &home,
        "reader",
        &["history", "h", "--since", &rfc, "--json"],
    );
    assert_eq!(texts(&r), numbered(111..300));
    // After an id, forward across pages, up to another.
    let r = cli_run(
        &server,
        &home,
        "reader",
        &["history", "h", "--after", &stamps[49].0.to_string(), "--json"],
    );
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(texts(&r), numbered(50..300));
    let r = cli_run(
        &server,
        &home,
        "reader",
        &[
            "history",
            "h",
            "--after",
            &stamps[49].0.to_string(),
            "--before",
            &stamps[260].0.to_string(),
            "--json",
        ],
    );
    assert_eq!(texts(&r), numbered(50..260));
    // A span: since a time, before an id.
    let r = cli_run(
        &server,
        &home,
        "reader",
        &[
            "history", "h", "--since", &since_ms, "--before", &before, "--json",
        ],
    );
    assert_eq!(texts(&r), numbered(10..200));

    // Plain lines, like `listen`.
    let r = cli_run(&server, &home, "reader", &["history", "h", "--last", "2"]);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert!(
        lines[1].ends_with(" #h@localhost alice@localhost: m299"),
        "{}",
        lines[1]
    );
}

#[test]
fn history_endings_and_exit_codes() {
    let (server, _dir) = server_with_history();
    let home = TempDir::new();
    let r = cli_run(&server, &home, "reader", &["history", "#quiet"]);
    assert_eq!((r.code(), r.stdout.as_str()), (0, ""));
    assert_eq!(r.stderr.trim(), "scalar-cli: #quiet@localhost has no messages");

    let unknown = "ab".repeat(32);
    let r = cli_run(
        &server,
        &home,
        "reader",
        &["history", "#quiet", "--before", &unknown],
    );
    assert_eq!(r.code(), INPUT, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("does not have that message in #quiet@localhost"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);

    // A server that keeps none says so; that is not "no messages".
    let ephemeral = Server::start();
    let r = cli_run(&ephemeral, &home, "reader", &["search", "#quiet", "x"]);
    assert_eq!(r.code(), 0);
    says(&r, "cannot search #quiet@localhost");
}

#[test]
fn search_finds_the_newest_matches_first() {
    let (server, _dir) = server_with_history();
    let home = TempDir::new();
    let mut alice = server.client("alice");
    subscribe(&mut alice, "#s@localhost");
    for i in 0..30 {
        let text = if i % 3 == 0 {
            format!("Release notes v{i}")
        } else {
            format!("chatter {i}")
        };
        say(&mut alice, "#s@localhost", &text);
    }
    let r = cli_run(
        &server,
        &home,
        "reader",
        &["search", "s", "release", "NOTES", "--json"],
    );
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let want: Vec<String> = (0..30)
        .step_by(3)
        .map(|i| format!("Release notes v{i}"))
        .collect();
    assert_eq!(texts(&r), want);
    let r = cli_run(
        &server,
        &home,
        "reader",
        &["search", "s", "release", "--last", "4", "--json"],
    );
    assert_eq!(texts(&r), want[6..]);
    says(&r, "showing the last 4 matches; older ones exist");
    // A starred word finds the words it begins: "chat*" the chatter, not the notes.
    let r = cli_run(
        &server,
        &home,
        "reader",
        &["search", "s", "chat*", "--last", "3", "--json"],
    );
    assert_eq!(
        texts(&r),
        ["chatter 26", "chatter 28", "chatter 29"],
        "{}",
        r.stderr
    );
    let r = cli_run(
        &server,
        &home,
        "reader",
        &["search", "s", "nothing", "like", "it"],
    );
    assert_eq!((r.code(), r.stdout.as_str()), (0, ""));
    assert!(
        r.stderr
            .contains("no messages in #s@localhost match \"nothing like it\""),
        "{}",
        r.stderr
    );
}

#[test]
fn a_conversation_reads_the_same_from_both_sides() {
    // Accounts: a later session of a name taken without a password reads nothing its name
    // got before it (anyone could have taken it).
    let dir = TempDir::new();
    add_accounts(&dir, &["alice", "bob"]);
    let server = history_server(0, &dir);
    let home = TempDir::new();
    let mut alice = logged_in(&server, "alice");
    let mut bob = logged_in(&server, "bob");
    let mut carol = server.client("carol");
    say(&mut alice, "bob@localhost", "a1");
    say(&mut bob, "alice@localhost", "b1");
    say(&mut carol, "bob@localhost", "c1");
    say(&mut alice, "bob@localhost", "a2");
    say(&mut alice, "carol@localhost", "for carol");

    let both = |me: &str, other: &str| {
        let r = cli_run_as(&server, &home, me, &["history", other, "--json"]);
        assert_eq!(r.code(), 0, "{}", r.stderr);
        let objs: Vec<serde_json::Value> = r.stdout.lines().map(json).collect();
        objs.iter()
            .map(|o| {
                format!(
                    "{}>{}:{}",
                    o["from"].as_str().unwrap(),
                    o["topic"].as_str().unwrap(),
                    o["text"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    let want = [
        "alice@localhost>bob@localhost:a1",
        "bob@localhost>alice@localhost:b1",
        "alice@localhost>bob@localhost:a2",
    ];
    assert_eq!(both("alice", "bob@localhost"), want);
    assert_eq!(both("bob", "alice@localhost"), want);
    // Your own ID: the direct messages you received, from anyone.
    let r = cli_run_as(&server, &home, "bob", &["history", "bob@localhost", "--json"]);
    assert_eq!(texts(&r), ["a1", "c1", "a2"]);
    // A name without an account: a later session (this one-shot) reads nothing it got
    // before, which may have been someone else's.
    let r = cli_run(&server, &home, "carol", &["history", "carol@localhost", "--json"]);
    assert_eq!(texts(&r), Vec::<String>::new(), "{}", r.stderr);
    let r = cli_run(&server, &home, "carol", &["search", "alice@localhost", "a1"]);
    assert!(
        r.stderr
            .contains("no messages in your conversation with alice@localhost match"),
        "{}",
        r.stderr
    );
}

#[test]
fn retention_is_told_apart_from_nothing() {
    let dir = TempDir::new();
    let server = Server::start_with(
        0,
        &["--data-dir", dir.0.to_str().unwrap(), "--history-max-events", "5"],
    );
    let home = TempDir::new();
    let mut alice = server.client("alice");
    subscribe(&mut alice, "#r@localhost");
    let first = say(&mut alice, "#r@localhost", "m000").0;
    for i in 1..8 {
        say(&mut alice, "#r@localhost", &format!("m{i:03}"));
    }
    // The store prunes within a second or so of the writes.
    let deadline = std::time::Instant::now() + STEP;
    let r = loop {
        let r = cli_run(&server, &home, "reader", &["history", "r", "--json"]);
        if r.stdout.lines().count() == 5 {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never pruned:\n{}",
            r.stdout
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(texts(&r), numbered(3..8));
    says(
        &r,
        "older messages of #r@localhost may be missing, deleted by the server's retention or lost (up to ",
    );
    let r = cli_run(
        &server,
        &home,
        "reader",
        &["history", "r", "--before", &first.to_string()],
    );
    assert_eq!(r.code(), INPUT, "{}", r.stderr);
    says(&r, "deleted by its retention");
}

#[test]
fn line_mode_writes_everything_to_a_slow_reader_before_it_exits() {
    const N: usize = 3000;
    let (server, _dir) = server_with_history();
    let home = TempDir::new();
    flood(&server, "#slow@localhost", N, 40);
    let mut c = cli(&server, &home);
    let mut child = c
        .args(["--id", "reader"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::{Read, Write};
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("/join #slow\n/history {N}\n/quit\n").as_bytes())
        .unwrap();
    // A reader that starts late (the client used to give its output 2 s at exit, then quit
    // with the rest unwritten), then reads to the end.
    std::thread::sleep(Duration::from_secs(3));
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let deadline = Instant::now() + STEP;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "scalar-cli did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    let shown = out.lines().filter(|l| l.contains("flood message number")).count();
    assert_eq!(shown, N, "{}", out.lines().last().unwrap_or_default());
    assert!(out.lines().any(|l| l == "-- bye"), "{out}");
}

#[test]
fn msg_to_yourself_is_your_inbox() {
    let (server, _dir) = server_with_history();
    let home = TempDir::new();
    let mut c = cli(&server, &home);
    c.args(["--id", "alice"]);
    let r = run(c, b"/msg alice\n/msg bob\n/quit\n");
    assert!(
        r.stdout.contains("-- your inbox: lines go to you"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("-- talking with bob:"), "{}", r.stdout);
}

/// `/history since WHEN` reads forward from a time, a page of 50, and `/more` goes on to newer
/// ones until the newest (the team lead's trial: back after more than a day, the chat said
/// "/history reads it", which read backward from the newest only).
#[test]
fn history_since_reads_forward_and_more_goes_on() {
    let (server, _dir) = server_with_history();
    let home = TempDir::new();
    let mut alice = server.client("alice");
    subscribe(&mut alice, "#h@localhost");
    let stamps: Vec<(MsgId, u64)> = (0..60)
        .map(|i| say(&mut alice, "#h@localhost", &format!("m{i:03}")))
        .collect();
    let mut c = cli(&server, &home);
    c.args(["--id", "reader"]);
    let input = format!(
        "/join #h\n/history since {}\n/more\n/more\n/history since soon\n/quit\n",
        stamps[4].1
    );
    let r = run(c, input.as_bytes());
    // "soon" is the one line that failed.
    assert_eq!(r.code(), 4, "{}", r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    let shown: Vec<&str> = r
        .stdout
        .lines()
        .filter_map(|l| l.split("alice: ").nth(1))
        .collect();
    let want: Vec<String> = numbered(5..60);
    assert_eq!(shown, want, "{all}");
    for note in [
        "showing the first 50 messages; newer ones exist (/more shows them)",
        "5 messages, up to the newest",
        "no newer messages in #h: the last read reached the newest",
        "\"soon\" is no time here",
    ] {
        assert!(all.contains(note), "{note:?} not in:\n{all}");
    }
}
