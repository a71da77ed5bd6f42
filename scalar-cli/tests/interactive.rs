//! The interactive client driven through a pseudo-terminal, as a person would use it, and
//! through a pipe (the plain fallback).

mod common;

use common::pty::Pty;
use common::*;
use scalar::client::Client;
use scalar::proto::{Body, Msg};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// [`chat`] logged in to the account `id` (see [`add_accounts`]).
fn chat_as(server: &Server, home: &TempDir, id: &str) -> Pty {
    let mut cmd = cli(server, home);
    cmd.env("SCALAR_PASSWORD", PASSWORD);
    chat_with(cmd, id)
}

#[test]
fn join_send_receive_while_typing_and_quit() {
    let server = Server::start();
    let home = TempDir::new();
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#rust@localhost");

    let mut p = chat(&server, &home, "alice");
    p.type_keys("/join #Rust\r");
    p.wait_for("joined #rust (2 connected)", STEP);
    p.wait_for("#rust> ", STEP);
    p.type_keys("hello from alice\r");
    assert_eq!(next_text(&mut bob), "hello from alice");
    let mark = p.wait_for("alice: hello from alice", STEP);

    // Half a line typed, then a message arrives: it must show at once (no key press needed,
    // rustyline #629), and the half line must be redrawn below it and survive intact.
    p.type_keys("half typed");
    let mark = p.wait_for_from(mark, "half typed", STEP);
    publish(&mut bob, "#rust@localhost", "interrupting cow");
    let mark = p.wait_for_from(mark, "bob: interrupting cow", Duration::from_secs(5));
    p.wait_for_from(mark, "#rust> half typed", Duration::from_secs(5));
    p.type_keys(" and finished\r");
    assert_eq!(next_text(&mut bob), "half typed and finished");

    // Errors are one clear line, never a panic or a Debug dump.
    p.type_keys("/frob\r");
    p.wait_for("error: unknown command /frob", STEP);
    p.type_keys("/msg nobody hi\r");
    p.wait_for("404 no_such_user: nobody@localhost is not connected", STEP);
    p.type_keys("/join\r");
    p.wait_for("error: usage: /join TOPIC", STEP);
    p.type_keys("/part #never\r");
    p.wait_for("error: not joined to #never: /join it first", STEP);
    p.type_keys("/msg #nowhere hi\r");
    p.wait_for("error: not joined to #nowhere: /join it first", STEP);
    p.type_keys("/jion #go\r");
    p.wait_for("error: unknown command /jion: did you mean /join?", STEP);

    // Tab completes commands.
    p.type_keys("/jo\t#go\r");
    p.wait_for("joined #go", STEP);
    // As in IRC, a list (found by QA: refused).
    p.type_keys("/join #x,y\r");
    p.wait_for("joined #x", STEP);
    p.wait_for("joined #y", STEP);
    p.type_keys("/switch rust\r");
    p.wait_for("now talking in #rust", STEP);

    p.type_keys("/quit see you\r");
    assert_eq!(p.wait_exit(STEP), 0);
    let text = p.text();
    assert_clean(&text);
    let history = std::fs::read_to_string(home.0.join("data/scalar-cli/history")).unwrap();
    assert!(history.contains("hello from alice"), "{history}");
}

/// Found by QA: a message padded with spaces to the terminal's width (the pty's) put
/// its end at column 0, where it read as a line from anyone. The client folds long lines
/// itself, so the end comes on a continuation line. And a zero-width space passed as is.
#[test]
fn a_message_padded_to_the_edge_or_hiding_characters_cannot_pass_for_another() {
    let server = Server::start();
    let home = TempDir::new();
    let mut mallory = server.client("mallory");
    subscribe(&mut mallory, "#w@localhost");
    let mut p = chat(&server, &home, "alice");
    p.type_keys("/join w\r");
    p.wait_for("joined #w", STEP);
    // `HH:MM:SS 0123abcd mallory: ` is 27 columns, then `ok`.
    let forged = "10:42:14 0badc0de bob: forged";
    let pad = usize::from(common::pty::COLUMNS) - 29;
    publish(
        &mut mallory,
        "#w@localhost",
        &format!("ok{}{forged}", " ".repeat(pad)),
    );
    p.wait_for("bob: forged", STEP);
    let text = p.text();
    let line = text.lines().find(|l| l.contains(forged)).unwrap_or_default();
    assert!(
        line.trim_end_matches('\r').starts_with("         | "),
        "{line:?} in:\n{text}"
    );
    // Nor can a character that draws nothing make two words look the same.
    publish(&mut mallory, "#w@localhost", "type your pa\u{200b}ssword here");
    p.wait_for("type your pa<U+200B>ssword here", STEP);
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

#[test]
fn reply_refs_and_ping() {
    let server = Server::start();
    let home = TempDir::new();
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#r@localhost");
    let mut p = chat(&server, &home, "alice");
    p.type_keys("/join r\r");
    p.wait_for("joined #r", STEP);
    publish(&mut bob, "#r@localhost", "question?");
    let end = p.wait_for("bob: question?", STEP);
    // The ref is the 8 hex digits just before the sender.
    let text = p.text();
    let before = text.get(..end - "bob: question?".len()).unwrap();
    let r = before.split_whitespace().last().unwrap().to_string();
    assert!(
        r.len() == 8 && r.bytes().all(|b| b.is_ascii_hexdigit()),
        "{r:?} in:\n{text}"
    );
    p.type_keys(&format!("/reply {r} answer\r"));
    loop {
        let f = bob.recv().unwrap();
        if let Ok(scalar::proto::Msg::Event(e)) = f.msg()
            && e.from.as_str() == "alice@localhost"
        {
            assert!(e.reply_to.unwrap().to_string().starts_with(&r));
            break;
        }
    }
    p.wait_for(&format!("alice: (re {r}) answer"), STEP);
    // A bracketed paste of a line with its newline: the newline is no part of the message
    // (found by QA: an empty last line under it); one of two lines is one message of both.
    p.type_keys("\x1b[200~pasted line\n\x1b[201~\r");
    p.type_keys("\x1b[200~first\nsecond\n\x1b[201~\r");
    let mut bodies = Vec::new();
    while bodies.len() < 2 {
        let f = bob.recv().unwrap();
        if let Ok(scalar::proto::Msg::Event(e)) = f.msg()
            && e.from.as_str() == "alice@localhost"
            && let scalar::proto::Body::Text(t) = e.body
        {
            bodies.push(t.to_string());
        }
    }
    assert_eq!(bodies, ["pasted line", "first\nsecond"]);
    p.type_keys("/part\r");
    p.wait_for("left #r", STEP);
    p.type_keys(&format!("/reply {r} too late\r"));
    p.wait_for("error: not joined to #r: /join it first", STEP);
    p.type_keys("/join r\r");
    p.wait_for("joined #r", STEP);
    p.type_keys("/ping\r");
    p.wait_for(" ms", STEP);
    p.type_keys("/history\r");
    p.wait_for("keeps no history for #r", STEP);
    p.type_keys("\x04");
    assert_eq!(p.wait_exit(STEP), 0);
}

#[test]
fn reconnects_after_server_restart() {
    let mut server = Server::start_on(restartable_port());
    let home = TempDir::new();
    let port = server.port;
    let mut p = chat(&server, &home, "alice");
    p.type_keys("/join #up\r");
    p.wait_for("joined #up", STEP);
    server.stop();
    p.wait_for("connection lost", STEP);
    let server = Server::start_on(port);
    p.wait_for("reconnected", STEP);
    p.wait_for("rejoined #up", STEP);
    // The server kept nothing of it: whoever came first made it anew.
    p.wait_for("#up ended while you were away and was made anew: you ", STEP);
    p.wait_for("keeps no history", STEP);
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#up@localhost");
    publish(&mut bob, "#up@localhost", "welcome back");
    p.wait_for("bob: welcome back", STEP);
    p.type_keys("still here\r");
    assert_eq!(next_text(&mut bob), "still here");
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

#[test]
fn history_search_and_more_in_the_chat() {
    let dir = TempDir::new();
    let server = history_server(0, &dir);
    let home = TempDir::new();
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#h@localhost");
    for i in 0..120 {
        let tag = if i % 40 == 0 { " release" } else { "" };
        say(&mut bob, "#h@localhost", &format!("line {i:03}{tag}"));
    }
    let mut p = chat(&server, &home, "alice");
    p.type_keys("/history\r");
    p.wait_for("error: no current topic: /join #channel or /msg ID first", STEP);
    p.type_keys("/join h\r");
    p.wait_for("joined #h", STEP);
    p.type_keys("/history\r");
    let mark = p.wait_for(
        "showing the last 50 messages; older ones exist (/more shows them)",
        STEP,
    );
    let page = p.text();
    assert!(page.contains("[history] bob: line 070"), "{page}");
    assert!(!page.contains("line 069"), "{page}");
    p.type_keys("/more\r");
    let mark = p.wait_for_from(mark, "showing the next 50 messages; older ones exist", STEP);
    p.type_keys("/more\r");
    let mark = p.wait_for_from(mark, "20 messages: back to the start of #h", STEP);
    p.type_keys("/more\r");
    let mark = p.wait_for_from(
        mark,
        "no older messages in #h: the last read reached the start",
        STEP,
    );
    // Three pages, each oldest first, together every message exactly once.
    let text = p.text();
    for i in 0..120 {
        let line = format!("bob: line {i:03}");
        assert_eq!(text.matches(&line).count(), 1, "{line} in:\n{text}");
    }
    let first = |needle: &str| text.find(needle).unwrap();
    assert!(first("line 070") < first("line 119") && first("line 119") < first("line 020"));

    p.type_keys("/search Release\r");
    let mark = p.wait_for_from(mark, "3 matches: no older ones in #h", STEP);
    p.type_keys("/search nope\r");
    let mark = p.wait_for_from(mark, "no messages in #h match \"nope\"", STEP);

    // A conversation view: lines and /history go to the conversation with bob.
    p.type_keys("/msg bob\r");
    let mark = p.wait_for_from(mark, "talking with bob", STEP);
    p.wait_for_from(mark, "bob> ", STEP);
    say(&mut bob, "alice@localhost", "psst");
    let mark = p.wait_for_from(mark, "[dm] bob: psst", STEP);
    p.type_keys("hi bob\r");
    assert_eq!(next_text(&mut bob), "hi bob");
    p.type_keys("/history\r");
    let mark = p.wait_for_from(mark, "[history] [dm] bob: psst", STEP);
    let mark = p.wait_for_from(mark, "[history] [dm to bob] alice: hi bob", STEP);
    p.wait_for_from(
        mark,
        "2 messages: back to the start of your conversation with bob",
        STEP,
    );
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
    assert_clean(&p.text());
}

/// What the user says to someone from another client shows in the chat too, as its own line of
/// that conversation (carbons, PROTOCOL.md §4), once.
#[test]
fn what_the_user_says_from_another_client_shows_in_the_chat() {
    let server = Server::start();
    let home = TempDir::new();
    let mut bob = server.client("bob");
    let mut phone = server.client("alice");
    let mut p = chat(&server, &home, "alice");
    say(&mut phone, "bob@localhost", "sent from my phone");
    assert_eq!(next_text(&mut bob), "sent from my phone");
    let mark = p.wait_for("[dm to bob] alice: sent from my phone", STEP);
    // The chat's own messages come back as echoes alone: the phone asked for no copies.
    p.type_keys("/msg bob\r");
    let mark = p.wait_for_from(mark, "bob> ", STEP);
    p.type_keys("and from the laptop\r");
    assert_eq!(next_text(&mut bob), "and from the laptop");
    p.wait_for_from(mark, "[dm to bob] alice: and from the laptop", STEP);
    say(&mut bob, "alice@localhost", "got both");
    assert_eq!(next_text(&mut phone), "got both");
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
    let text = p.text();
    assert_clean(&text);
    assert_eq!(text.matches("alice: sent from my phone").count(), 1, "{text}");
}

/// Found by QA: an away status taken back on one client came back after the server restarted,
/// said again by another client that still thought its user away. Each now learns what the
/// others say (carbons), and says again only that.
#[test]
fn a_status_taken_back_on_another_client_stays_back_after_a_reconnect() {
    let mut server = Server::start_on(restartable_port());
    let port = server.port;
    let (home_a, home_b) = (TempDir::new(), TempDir::new());
    let mut a = chat(&server, &home_a, "carol");
    let mut b = chat(&server, &home_b, "carol");
    b.type_keys("/status away phone\r");
    let mark = a.wait_for("you are away: phone", STEP);
    // Read from the server, as the user would check it.
    a.type_keys("/status\r");
    let mark = a.wait_for_from(mark, "you are away: phone; /status back", STEP);
    b.type_keys("/status back\r");
    a.wait_for_from(mark, "you are online", STEP);
    server.stop();
    for p in [&a, &b] {
        p.wait_for("connection lost", STEP);
    }
    let _server = Server::start_on(port);
    let mut marks = Vec::new();
    for p in [&a, &b] {
        marks.push(p.wait_for("reconnected", STEP));
    }
    for (p, mark) in [&mut a, &mut b].into_iter().zip(marks) {
        p.type_keys("/status\r");
        p.wait_for_from(mark, "you are here (online)", STEP);
        p.type_keys("/quit\r");
        assert_eq!(p.wait_exit(STEP), 0);
    }
}

/// `/away` alone is IRC's "back" (docs/CLI.md): typed by one who is not away, it says that
/// nothing changed, not "you are online" as if the user had come back (found in review); by
/// one who is away it still says the user back.
#[test]
fn away_alone_when_not_away_says_nothing_changed() {
    let server = Server::start();
    let home = TempDir::new();
    let mut p = chat(&server, &home, "dora");
    let mark = p.command("/away", "you are not away, so nothing changed");
    p.type_keys("/status away lunch\r");
    let mark = p.wait_for_from(mark, "you are away: lunch", STEP);
    p.type_keys("/away\r");
    p.wait_for_from(mark, "you are online", STEP);
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
    let text = p.text();
    assert_eq!(text.matches("you are online").count(), 1, "{text}");
}

/// A message naming the user, or a direct message to it, rings the terminal's bell; others do
/// not (docs/CLI.md, "Alerts").
#[test]
fn a_message_naming_the_user_rings_the_bell() {
    let server = Server::start();
    let home = TempDir::new();
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#rust@localhost");
    let mut p = chat(&server, &home, "alice");
    p.type_keys("/join #rust\r");
    p.wait_for("joined #rust", STEP);
    publish(&mut bob, "#rust@localhost", "nothing for anyone");
    publish(&mut bob, "#rust@localhost", "Alice: look");
    say(&mut bob, "alice@localhost", "psst");
    p.wait_for("[dm] bob: psst", STEP);
    let raw = p.raw();
    assert!(!raw.contains("anyone\x07"), "{raw:?}");
    assert!(raw.contains("look\x07") && raw.contains("psst\x07"), "{raw:?}");
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// Found by QA: each message showed twice, as typed behind the prompt and as its echo. The
/// typed line of a message is taken back once sent; a command's stays, as in a shell; a long
/// message's rows all go.
#[test]
fn a_sent_message_shows_once_as_its_echo() {
    let server = Server::start();
    let home = TempDir::new();
    let mut p = chat(&server, &home, "alice");
    p.command("/join #w", "joined #w");
    p.command("hello there", "alice: hello there");
    p.command("/me waves", "* alice waves");
    let long = "x".repeat(usize::from(common::pty::COLUMNS) + 20);
    // Folded by the client: its second row is a continuation.
    p.command(&long, "         | xxx");
    p.command("/who", "alice");
    // Not sent: the line stays, with the error under it.
    p.command("/msg nobody psst", "404 no_such_user");
    let rows = common::pty::screen_rows(&p.raw());
    let with = |s: &str| rows.iter().filter(|r| r.contains(s)).count();
    assert_eq!(with("hello there"), 1, "{rows:#?}");
    assert!(
        rows.iter().any(|r| r.ends_with("alice: hello there")),
        "{rows:#?}"
    );
    assert_eq!(with("waves"), 1, "{rows:#?}");
    assert!(!rows.iter().any(|r| r.starts_with("#w> x")), "{rows:#?}");
    assert_eq!(with("#w> /who"), 1, "a command stays: {rows:#?}");
    assert_eq!(with("#w> /msg nobody psst"), 1, "{rows:#?}");
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// `/who TEXT`: the members whose ID holds it (the server's Members query); a lone word that
/// names a joined channel is still that channel.
#[test]
fn who_with_text_lists_the_members_whose_id_holds_it() {
    let server = Server::start();
    let home = TempDir::new();
    let mut p = chat(&server, &home, "alice");
    p.command("/join #rust,#go", "joined #go");
    let (mut bob, mut carol) = (server.client("bob"), server.client("carol"));
    subscribe(&mut bob, "#go@localhost");
    subscribe(&mut carol, "#go@localhost");
    wait_subscribers(&server, "#go@localhost", 3);
    p.command("/who", "3 in #go: alice (owner), bob, carol");
    p.command("/who *CAR*", "1 in #go holding \"CAR\": carol");
    p.command("/who #go BO", "1 in #go holding \"BO\": bob");
    p.command("/who #rust bo", "no member of #rust holds \"bo\" in their ID");
    p.command("/who #Bad!", "error: #Bad!: not a valid topic");
    p.command(
        "/who zed",
        "no member of #go holds \"zed\" in their ID (nor is #zed a channel you joined)",
    );
    p.command("/who #nope", "error: not joined to #nope: /join it first");
    p.command("/who rust", "1 in #rust: alice (owner)");
    p.command("/who localhost", "3 in #go holding \"localhost\"");
    p.command("/who #go a b", "usage: /who [CHANNEL] [TEXT]");
    p.command("/quit", "");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// Found by QA: `/names #rust` was a usage error, and `/switch bob` said to join `#bob`.
#[test]
fn who_takes_a_channel_and_switch_a_conversation() {
    let server = Server::start();
    let home = TempDir::new();
    let mut p = chat(&server, &home, "alice");
    p.command("/join #rust,#go", "joined #go");
    p.command("/names #rust", "1 in #rust: alice (owner)");
    p.command("/who go", "1 in #go: alice (owner)");
    p.command("/who #nope", "error: not joined to #nope: /join it first");
    let mut bob = server.client("bob");
    say(&mut bob, "alice@localhost", "psst");
    p.wait_for("[dm] bob: psst", STEP);
    p.command("/switch bob", "talking with bob");
    p.wait_for("bob> ", STEP);
    p.command("/switch #rust", "now talking in #rust");
    // A full ID is never a channel (found by review: \"not a channel\").
    p.command("/switch bob@localhost", "talking with bob");
    p.command(
        "/switch carol",
        "error: not joined to #carol: /join it first, or /msg carol",
    );
    p.command("/switch rust", "now talking in #rust");
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// Found by QA: back from lunch, an IRC user saw nothing of what was said in the channel
/// (a line naming them among it). A channel joined again shows what was said since this
/// user left it on this machine: by /quit, and by /part.
#[test]
fn a_channel_joined_again_shows_what_was_said_since_you_left() {
    let dir = TempDir::new();
    let server = history_server(0, &dir);
    let home = TempDir::new();
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#c@localhost");
    let mut p = chat(&server, &home, "alice");
    p.command("/join #c", "joined #c");
    publish(&mut bob, "#c@localhost", "seen before lunch");
    p.wait_for("bob: seen before lunch", STEP);
    p.type_keys("/quit lunch\r");
    assert_eq!(p.wait_exit(STEP), 0);

    publish(&mut bob, "#c@localhost", "alice: movie at 8");
    publish(&mut bob, "#c@localhost", "and popcorn");
    let mut cmd = cli(&server, &home);
    cmd.args(["--id", "alice", "--join", "#c"]);
    let mut p = common::pty::Pty::spawn(cmd);
    let mark = p.wait_for("2 messages missed in #c below; the gap is filled", STEP);
    let mark = p.wait_for_from(mark, "bob: alice: movie at 8", STEP);
    p.wait_for_from(mark, "bob: and popcorn", STEP);
    assert!(p.text().contains("since you left at "), "{}", p.text());
    assert!(!p.text().contains("seen before lunch"), "{}", p.text());

    // A /part is a leaving too.
    p.command("/part", "left #c");
    publish(&mut bob, "#c@localhost", "while parted");
    let mark = p.command("/join #c", "1 message missed in #c below");
    p.wait_for_from(mark, "bob: while parted", STEP);
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);

    // Nothing since: said so, once.
    let mut cmd = cli(&server, &home);
    cmd.args(["--id", "alice", "--join", "#c"]);
    let mut p = common::pty::Pty::spawn(cmd);
    p.wait_for("nothing missed in #c", STEP);
    assert!(!p.text().contains("while parted"), "{}", p.text());
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// Found in review: a server that keeps no history was said to have "nothing missed".
#[test]
fn a_server_without_history_says_nothing_since_you_left() {
    let server = Server::start_with(0, &["--ephemeral"]);
    let home = TempDir::new();
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#e@localhost");
    let mut p = chat(&server, &home, "alice");
    p.command("/join #e", "joined #e");
    publish(&mut bob, "#e@localhost", "one");
    p.wait_for("bob: one", STEP);
    p.command("/part", "left #e");
    publish(&mut bob, "#e@localhost", "two");
    p.command("/join #e", "joined #e");
    p.command("/ping", "pong");
    assert!(!p.text().contains("since you left"), "{}", p.text());
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// `--join`, as IRC clients' autojoin (found by QA: every start began in no channel).
#[test]
fn the_chat_joins_the_channels_given_at_start() {
    let server = Server::start();
    let home = TempDir::new();
    let mut cmd = cli(&server, &home);
    cmd.args(["--id", "alice", "--join", "#a,b", "-j", "c"]);
    let mut p = common::pty::Pty::spawn(cmd);
    for joined in ["joined #a", "joined #b", "joined #c", "#c> "] {
        p.wait_for(joined, STEP);
    }
    // Nothing left to start with (found by QA: the greeting said to /join).
    assert!(!p.text().contains("/join #channel to start"), "{}", p.text());
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#c@localhost");
    p.type_keys("now\r");
    assert_eq!(next_text(&mut bob), "now", "the last joined is the current topic");
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// The defaults file, as irssi's config: who and which channels without typing them each time;
/// the command line still wins, and a mistake in the file is named with its line.
#[test]
fn the_defaults_file_says_who_and_where() {
    let server = Server::start();
    let home = TempDir::new();
    let dir = home.0.join(".config/scalar");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("cli.conf");
    std::fs::write(&conf, "# mine\n--id Carol\n--join #conf,#more\n").unwrap();
    let mut p = common::pty::Pty::spawn(cli(&server, &home));
    for shown in ["joined #conf", "joined #more", "#more> "] {
        p.wait_for(shown, STEP);
    }
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#more@localhost");
    // Who said the next text Event to `bob`, and what.
    let said = |bob: &mut Client| loop {
        let f = bob.recv().expect("an event in time");
        if let Ok(Msg::Event(e)) = f.msg()
            && let Body::Text(t) = e.body
        {
            return (e.from.as_str().to_string(), t.to_string());
        }
    };
    p.type_keys("from the file\r");
    assert_eq!(
        said(&mut bob),
        ("carol@localhost".into(), "from the file".into()),
        "the file's --id"
    );
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);

    // The command line wins; a one-shot mode ignores the chat's joins.
    let mut cmd = cli(&server, &home);
    cmd.args(["--id", "dave", "send", "#more", "hi"]);
    assert_eq!(common::run(cmd, b"").code(), 0);
    assert_eq!(said(&mut bob), ("dave@localhost".into(), "hi".into()));

    std::fs::write(&conf, "--id carol\n--register\n").unwrap();
    let mut cmd = cli(&server, &home);
    cmd.arg("ping");
    let r = common::run(cmd, b"");
    assert_eq!(r.code(), 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("cli.conf:2: --register: not an option"),
        "{}",
        r.stderr
    );
}

/// `--no-joins`: a quieter screen (found in review: no way to turn them off).
#[test]
fn no_joins_keeps_them_off_the_screen() {
    let server = Server::start();
    let home = TempDir::new();
    let mut cmd = cli(&server, &home);
    cmd.arg("--no-joins");
    let mut p = chat_with(cmd, "alice");
    p.type_keys("/join #rust\r");
    let mark = p.wait_for("joined #rust", STEP);
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#rust@localhost");
    publish(&mut bob, "#rust@localhost", "hi");
    p.wait_for_from(mark, "bob: hi", STEP);
    assert!(!p.text().contains("bob joined"), "{}", p.text());
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// IRC's JOIN, PART and QUIT: the chat says who comes and goes in its channels (PROTOCOL.md
/// §4, Joins and leaves).
#[test]
fn the_chat_says_who_joins_and_leaves() {
    let server = Server::start();
    let home = TempDir::new();
    let mut p = chat(&server, &home, "alice");
    p.type_keys("/join #rust\r");
    let mark = p.wait_for("joined #rust", STEP);
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#rust@localhost");
    let mark = p.wait_for_from(mark, "-!- bob joined", STEP);
    let unsub = |seq| {
        scalar::proto::Msg::Unsub(scalar::proto::Unsub {
            seq,
            topic: scalar::proto::Name::parse("#rust@localhost").unwrap(),
            reason: None,
        })
    };
    bob.request(STEP, unsub).unwrap();
    let mark = p.wait_for_from(mark, "-!- bob left", STEP);
    // /ignore hides them too.
    p.type_keys("/ignore carol\r");
    let mark = p.wait_for_from(mark, "ignoring carol", STEP);
    let mut carol = server.client("carol");
    subscribe(&mut carol, "#rust@localhost");
    subscribe(&mut bob, "#rust@localhost");
    let mark = p.wait_for_from(mark, "-!- bob joined", STEP);
    bob.bye(Some("lunch"), STEP);
    p.wait_for_from(mark, "-!- bob quit (lunch)", STEP);
    assert!(!p.text().contains("carol joined"), "{}", p.text());
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// A client publishing `live 00001`, `live 00002`, ... to a channel every 20 ms, reconnecting
/// whenever its connection fails, until stopped; it can be paused (it then disconnects).
struct Publisher {
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    thread: JoinHandle<(Vec<u32>, u32)>,
}

impl Publisher {
    fn start(addr: String, topic: &'static str) -> Publisher {
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let (s, pz) = (stop.clone(), paused.clone());
        let thread = std::thread::spawn(move || {
            let mut echoed = Vec::new();
            let mut n = 0u32;
            while !s.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
                if pz.load(Ordering::SeqCst) {
                    continue;
                }
                let timeout = Duration::from_secs(2);
                let Ok(mut c) = scalar::client::Client::connect(addr.as_str(), "bob@localhost", timeout)
                else {
                    continue;
                };
                let sub = c.request(timeout, |seq| {
                    scalar::proto::Msg::Sub(scalar::proto::Sub {
                        seq,
                        topic: scalar::proto::Name::parse(topic).unwrap(),
                    })
                });
                if sub.is_err() {
                    continue;
                }
                while !s.load(Ordering::SeqCst) && !pz.load(Ordering::SeqCst) {
                    n += 1;
                    let text = format!("live {n:05}");
                    let sent = c.request(timeout, |seq| {
                        scalar::proto::Msg::Message(scalar::proto::Message {
                            seq,
                            topic: scalar::proto::Name::parse(topic).unwrap(),
                            body: scalar::proto::Body::Text(&text),
                            ctype: None,
                            reply_to: None,
                        })
                    });
                    if sent.is_err() {
                        break;
                    }
                    echoed.push(n);
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            (echoed, n)
        });
        Publisher { stop, paused, thread }
    }

    /// Stops it; the numbers the server echoed, and the last number sent.
    fn finish(self) -> (Vec<u32>, u32) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

#[test]
fn reconnect_fills_the_gap_from_history_exactly_once() {
    let dir = TempDir::new();
    let mut server = history_server(restartable_port(), &dir);
    let port = server.port;
    let gate = Gate::new(server.addr());
    let home = TempDir::new();
    let mut p = chat_through(&gate, &server, &home, "alice");
    p.type_keys("/join #up\r");
    p.wait_for("joined #up", STEP);
    let bob = Publisher::start(server.addr(), "#up@localhost");
    p.wait_for("bob: live 00005", STEP);

    // The server goes away while bob publishes; bob waits while it is down.
    gate.open(false);
    server.stop();
    p.wait_for("connection lost", STEP);
    bob.paused.store(true, Ordering::SeqCst);
    // Alice's attempts fail at the closed gate until it opens: time to restart the server and
    // say things only history can give her.
    p.wait_for("reconnect attempt 1 failed", STEP);
    let server = history_server(port, &dir);
    let mut carol = server.client("carol");
    subscribe(&mut carol, "#up@localhost");
    for i in 1..=3 {
        say(&mut carol, "#up@localhost", &format!("gap {i}"));
    }
    assert_eq!(
        subscribers(&mut carol, "#up@localhost"),
        1,
        "alice was back too soon"
    );
    bob.paused.store(false, Ordering::SeqCst);
    gate.open(true);

    // Her next attempt may be a whole longest backoff away.
    let mark = p.wait_for("reconnected to", STEP * 3);
    let mark = p.wait_for_from(mark, "missed in #up below; the gap is filled", STEP);
    let mark = p.wait_for_from(mark, "[history] carol: gap 1", STEP);
    p.wait_for_from(mark, "[history] carol: gap 3", STEP);
    // Bob goes on publishing after alice is back; then everything is in.
    let until = Instant::now() + STEP;
    loop {
        let t = p.text();
        if t.get(mark..)
            .is_some_and(|after| after.matches("bob: live").count() >= 10)
        {
            break;
        }
        assert!(Instant::now() < until, "bob's messages stopped:\n{t}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (echoed, last) = bob.finish();
    say(&mut carol, "#up@localhost", "the end");
    p.wait_for("carol: the end", STEP);
    let text = p.text();
    for i in 1..=3 {
        assert_eq!(
            text.matches(&format!("carol: gap {i}")).count(),
            1,
            "gap {i}:\n{text}"
        );
    }
    for n in 1..=last {
        let shown = text.matches(&format!("bob: live {n:05}")).count();
        if echoed.contains(&n) {
            assert_eq!(shown, 1, "live {n:05} (echoed) shown {shown} times:\n{text}");
        } else {
            // Sent as the server went down: it may or may not have been taken.
            assert!(shown <= 1, "live {n:05} shown {shown} times:\n{text}");
        }
    }
    let marker = text.find("missed in #up below").unwrap();
    assert!(marker < text.find("carol: gap 1").unwrap());
    assert!(!text.contains("ID MISMATCH"));
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
    assert_clean(&text);
}

/// Alice's Sub count as seen by `c`, who is subscribed too: 1 means alice is not back yet.
fn subscribers(c: &mut scalar::client::Client, topic: &str) -> u64 {
    let meta = c
        .request(STEP, |seq| {
            scalar::proto::Msg::Sub(scalar::proto::Sub {
                seq,
                topic: scalar::proto::Name::parse(topic).unwrap(),
            })
        })
        .unwrap();
    match meta.msg() {
        Ok(scalar::proto::Msg::Meta(m)) => m.subscribers,
        other => panic!("{other:?}"),
    }
}

/// Stops `server` under the client `p` (joined to #a, through `gate`), starts it again on the
/// same port and data with the gate closed to the client's reconnect attempts, has carol say
/// one message in #a meanwhile, opens the gate and waits for the client's reconnect to show
/// exactly that one as missed. Returns the new server, to keep it running.
fn one_missed_across_a_restart(mut server: Server, gate: &Gate, dir: &TempDir, p: &mut Pty) -> Server {
    let port = server.port;
    gate.open(false);
    server.stop();
    let mark = p.wait_for("connection lost", STEP);
    let mark = p.wait_for_from(mark, "reconnect attempt 1 failed", STEP);
    let server = history_server(port, dir);
    let mut carol = server.client("carol");
    subscribe(&mut carol, "#a@localhost");
    say(&mut carol, "#a@localhost", "said during the gap");
    assert_eq!(
        subscribers(&mut carol, "#a@localhost"),
        1,
        "alice was back too soon"
    );
    gate.open(true);
    // The client's next attempt may be a whole longest backoff away.
    let mark = p.wait_for_from(mark, "reconnected to", STEP * 3);
    let mark = p.wait_for_from(mark, "1 message missed in #a below; the gap is filled", STEP);
    p.wait_for_from(mark, "[history] carol: said during the gap", STEP);
    server
}

#[test]
fn a_reconnect_catches_up_from_the_drop_not_from_what_was_read() {
    let dir = TempDir::new();
    let server = history_server(restartable_port(), &dir);
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#a@localhost");
    say(&mut bob, "#a@localhost", "needle in the hay");
    for i in 0..150 {
        say(&mut bob, "#a@localhost", &format!("hay {i:03}"));
    }
    drop(bob);
    // Older than the few seconds that a catch-up with no message seen reaches back.
    std::thread::sleep(Duration::from_millis(5500));
    let home = TempDir::new();
    let gate = Gate::new(server.addr());
    let mut p = chat_through(&gate, &server, &home, "alice");
    p.type_keys("/join #a\r");
    p.wait_for("joined #a", STEP);
    // An old message read, not seen live: no place to resume a catch-up from.
    p.type_keys("/search needle\r");
    p.wait_for("[history] bob: needle in the hay", STEP);

    let _server = one_missed_across_a_restart(server, &gate, &dir, &mut p);
    let text = p.text();
    assert!(!text.contains("hay 0"), "old messages shown as missed:\n{text}");
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// A message said just before the join is not shown as missed after a reconnect, though a
/// catch-up with nothing seen reaches back a few seconds before the drop (clock skew): the
/// join makes the channel's newest message the point to resume from.
#[test]
fn a_message_said_just_before_the_join_is_not_shown_as_missed() {
    let dir = TempDir::new();
    let server = history_server(restartable_port(), &dir);
    // Alice's client is up first, so that only the join comes between the message and the
    // catch-up's reach (a slow start would not make the test prove nothing).
    let home = TempDir::new();
    let gate = Gate::new(server.addr());
    let mut p = chat_through(&gate, &server, &home, "alice");
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#a@localhost");
    say(&mut bob, "#a@localhost", "said before alice joined");
    let said = Instant::now();
    drop(bob);
    p.type_keys("/join #a\r");
    p.wait_for("joined #a", STEP);
    // The join's last step asks the server for the channel's newest message, after saying
    // "joined": commands run one at a time, so the ping's answer comes after it (stopping the
    // server before it was answered made this test fail under load).
    p.command("/ping", "pong: ");
    // Within the 5 s a catch-up with nothing seen reaches back, or the test proves nothing.
    assert!(
        said.elapsed() < Duration::from_secs(4),
        "too slow to test anything"
    );
    let _server = one_missed_across_a_restart(server, &gate, &dir, &mut p);
    let text = p.text();
    assert!(
        !text.contains("said before alice joined"),
        "a message from before the join shown as missed:\n{text}"
    );
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

#[test]
fn a_catch_up_refused_at_reconnect_is_tried_again_until_the_gap_is_filled() {
    const ALICE: &str = "alice@localhost";
    let dir = TempDir::new();
    // An account: a new session of a name taken without a password would read nothing its
    // name got before it.
    add_accounts(&dir, &["alice"]);
    let mut server = history_server(restartable_port(), &dir);
    let port = server.port;
    let home = TempDir::new();
    let mut p = chat_as(&server, &home, "alice");
    server.stop();
    let mark = p.wait_for("connection lost", STEP);
    let server = history_server(port, &dir);
    // Hold the store's write lock, as a backup or a stuck disk would: the direct message bob
    // sends now is delivered but not stored. Alice saw no message in her inbox before, so
    // her catch-up reads from a time, which the server's memory cannot answer alone; the
    // store cannot answer it with the message either, so it is refused (700).
    let db = rusqlite::Connection::open(dir.0.join("scalard.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Direct messages go only to a user who is connected: alice is, on another device.
    let _phone = logged_in(&server, "alice");
    let mut bob = server.client("bob");
    say(&mut bob, ALICE, "said while the store was stuck");
    let mark = p.wait_for_from(mark, "reconnected to", STEP * 3);
    let mark = p.wait_for_from(mark, "your inbox could not be fetched", STEP);
    p.wait_for_from(mark, "trying again in the background", STEP);
    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    // A message seen live after the gap must not close it.
    let deadline = Instant::now() + STEP * 3;
    loop {
        let said = bob.request(STEP, |seq| {
            scalar::proto::Msg::Message(scalar::proto::Message {
                seq,
                topic: scalar::proto::Name::parse(ALICE).unwrap(),
                body: scalar::proto::Body::Text("said after the gap"),
                ctype: None,
                reply_to: None,
            })
        });
        let echoed = said.map(|f| f.msg().map(|m| m.msg_type()));
        if matches!(echoed, Ok(Ok(scalar::proto::MsgType::Event))) {
            break;
        }
        assert!(Instant::now() < deadline, "the store never recovered");
        std::thread::sleep(Duration::from_millis(200));
    }
    p.wait_for_from(mark, "bob: said after the gap", STEP);
    let mark = p.wait_for_from(
        mark,
        "caught up later: 1 message missed in your inbox below; the gap is filled",
        STEP * 6,
    );
    p.wait_for_from(mark, "bob: said while the store was stuck", STEP);
    let text = p.text();
    assert_eq!(text.matches("said after the gap").count(), 1, "{text}");
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// A laptop opened on a train (found by a trial on a flaky network: the chat exited 3): the
/// chat's first connection, failing for now, is tried again until the server is there.
#[test]
fn the_first_connection_waits_for_the_server() {
    let mut server = Server::start_with(restartable_port(), &[]);
    let port = server.port;
    server.stop();
    let home = TempDir::new();
    let mut cmd = cli(&server, &home);
    cmd.args(["--id", "alice"]);
    let mut p = Pty::spawn(cmd);
    let mark = p.wait_for("(Ctrl-C to give up)", STEP);
    let _server = Server::start_with(port, &[]);
    let mark = p.wait_for_from(mark, "connected to", Duration::from_secs(20));
    p.wait_for_from(mark, "scalar> ", STEP);
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// The ID in the next "admits you as a guest: ID" on `p` after `from`, and where it ends.
fn guest_id(p: &Pty, from: usize) -> (String, usize) {
    let start = p.wait_for_from(from, "admits you as a guest: ", STEP);
    let end = p.wait_for_from(start, "@localhost", STEP);
    (p.text().get(start..end).unwrap().to_string(), end)
}

/// A guest's ID is its address's mark, the name it asked for and random letters: after a
/// server restart (which keeps its mark key) the client gets the same mark and name with new
/// letters, takes the new ID, and direct messages to it arrive.
#[test]
fn a_guest_keeps_its_name_across_a_server_restart() {
    let dir = TempDir::new();
    let data = dir.0.join("server");
    let data = data.to_str().unwrap();
    let mut server = Server::start_with(restartable_port(), &["--data-dir", data, "--auth", "guests"]);
    let port = server.port;
    let home = TempDir::new();
    let mut p = chat(&server, &home, "alice");
    let (first, mark) = guest_id(&p, 0);
    let head = first
        .get(..first.len() - "-x7k2ab@localhost".len())
        .unwrap()
        .to_string();
    assert!(head.starts_with("guest-") && head.ends_with("-alice"), "{first}");
    server.stop();
    p.wait_for_from(mark, "connection lost", STEP);
    let server = Server::start_with(port, &["--data-dir", data, "--auth", "guests"]);
    let (second, mark) = guest_id(&p, mark);
    assert!(
        second.starts_with(&format!("{head}-")) && second != first,
        "{second}"
    );
    let mark = p.wait_for_from(mark, &format!("your ID is now {second}"), STEP);
    let mark = p.wait_for_from(mark, "reconnected to", STEP);
    let mut bob = server.client("bob");
    say(&mut bob, &second, "hello again");
    p.wait_for_from(mark, ": hello again", STEP);
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// A server that keeps nothing makes a new mark key at each start: the guest's mark changes.
#[test]
fn a_guest_given_a_new_id_on_reconnecting_takes_it() {
    let mut server = Server::start_with(restartable_port(), &["--auth", "guests"]);
    let port = server.port;
    let home = TempDir::new();
    let mut p = chat(&server, &home, "alice");
    let (first, mark) = guest_id(&p, 0);
    assert!(first.starts_with("guest-"), "{first}");
    server.stop();
    p.wait_for_from(mark, "connection lost", STEP);
    let server = Server::start_with(port, &["--auth", "guests"]);
    let (second, mark) = guest_id(&p, mark);
    assert_ne!(first, second, "another mark");
    let mark = p.wait_for_from(mark, &format!("your ID is now {second}"), STEP);
    let mark = p.wait_for_from(mark, "reconnected to", STEP);

    // Direct messages to the new ID are hers, and /reply answers their sender.
    let mut bob = server.client("bob");
    say(&mut bob, &second, "hello new guest");
    // Bob is a guest too.
    let line = format!(
        " [dm] {}: hello new guest",
        bob.user.trim_end_matches("@localhost")
    );
    let end = p.wait_for_from(mark, &line, STEP);
    let text = p.text();
    let before = text.get(..end - line.len()).unwrap();
    let r = before.split_whitespace().last().unwrap().to_string();
    p.type_keys(&format!("/reply {r} hi back\r"));
    assert_eq!(next_text(&mut bob), "hi back");
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

#[test]
fn a_server_that_drops_each_reconnect_gets_ever_longer_waits() {
    let server = Server::start();
    // A proxy that cuts every connection 200 ms after it is made.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    let upstream = server.addr();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for down in proxy.incoming().map_while(Result::ok) {
            count.fetch_add(1, Ordering::SeqCst);
            let Ok(up) = std::net::TcpStream::connect(&upstream) else {
                return;
            };
            let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                })
            };
            pipe(down.try_clone().unwrap(), up.try_clone().unwrap());
            pipe(up.try_clone().unwrap(), down.try_clone().unwrap());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                let _ = down.shutdown(std::net::Shutdown::Both);
                let _ = up.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    let home = TempDir::new();
    let mut cmd = cli(&server, &home);
    cmd.env("SCALAR_SERVER", format!("127.0.0.1:{proxy_port}"))
        .args(["--id", "alice"]);
    let mut p = Pty::spawn(cmd);
    p.wait_for("reconnected to", STEP);
    let start = Instant::now();
    let at_start = accepted.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(6));
    let made = accepted.load(Ordering::SeqCst) - at_start;
    // Waits of 0.5, 1, 2 and 4 s (plus jitter) fit at most 4 connections in 6 s; a wait
    // that stayed at 0.25 s would make a dozen.
    assert!(
        made <= 4,
        "{made} connections in {:?}:\n{}",
        start.elapsed(),
        p.text()
    );
    assert!(made >= 2, "it stopped reconnecting:\n{}", p.text());
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

#[test]
fn reconnect_after_retention_deleted_the_last_message_seen() {
    let dir = TempDir::new();
    let data = dir.0.to_str().unwrap().to_string();
    let args = ["--data-dir", data.as_str(), "--history-max-events", "5"];
    let mut server = Server::start_with(restartable_port(), &args);
    let port = server.port;
    let home = TempDir::new();
    let mut p = chat(&server, &home, "alice");
    p.type_keys("/join #r\r");
    p.wait_for("joined #r", STEP);
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#r@localhost");
    let seen = say(&mut bob, "#r@localhost", "old").0;
    p.wait_for("bob: old", STEP);
    server.stop();
    p.wait_for("connection lost", STEP);
    // While alice is away, 8 messages push "old" out of the 5 kept and the store prunes it:
    // on the same data, served on a port her client does not dial, so she cannot be back
    // before that is done, however slow the machine. (This slept 2.6 s after her third
    // attempt failed, for a fourth 2 to 2.5 s after it: 0.1 s of margin under load.)
    let mut interim = Server::start_with(0, &args);
    let mut bob = interim.client("bob");
    subscribe(&mut bob, "#r@localhost");
    for i in 1..=8 {
        say(&mut bob, "#r@localhost", &format!("new {i}"));
    }
    let deadline = Instant::now() + STEP;
    loop {
        // Count 0 replays nothing: it only says whether the anchor is still there.
        let f = bob
            .request(STEP, |seq| {
                scalar::proto::Msg::Catchup(scalar::proto::Catchup {
                    seq,
                    topic: scalar::proto::Name::parse("#r@localhost").unwrap(),
                    count: 0,
                    since: None,
                    after: Some(seen),
                    until: None,
                    before: None,
                })
            })
            .unwrap();
        if let Ok(scalar::proto::Msg::CatchupEnd(end)) = f.msg()
            && end.status == scalar::proto::CatchupStatus::UnknownId
        {
            break;
        }
        assert!(Instant::now() < deadline, "the store never pruned");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(bob);
    interim.stop();
    let _server = Server::start_with(port, &args);
    let mark = p.wait_for(
        "reconnected: 5 messages missed in #r below; the gap is incomplete: the server's retention \
         deleted messages up to",
        STEP,
    );
    p.wait_for_from(mark, "[history] bob: new 8", STEP);
    let text = p.text();
    for i in 1..=3 {
        assert!(
            !text.contains(&format!("bob: new {i}")),
            "new {i} was deleted:\n{text}"
        );
    }
    for i in 4..=8 {
        assert_eq!(
            text.matches(&format!("bob: new {i}")).count(),
            1,
            "new {i}:\n{text}"
        );
    }
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

#[test]
fn piped_input_uses_the_plain_fallback() {
    let server = Server::start();
    let home = TempDir::new();
    let mut cmd = cli(&server, &home);
    cmd.args(["--id", "alice"]);
    let r = run(cmd, b"/join #p\nhello\n/topics\n/bogus\n/quit\n");
    // `/bogus` failed, even though the script quit as it meant to.
    assert_eq!(r.code(), 4, "{}", r.stderr);
    for want in [
        "joined #p",
        "alice: hello",
        "1 channel(s)",
        "#p*  1",
        "error: unknown command /bogus",
        "-- bye",
    ] {
        assert!(r.stdout.contains(want), "{want:?} missing from:\n{}", r.stdout);
    }
    assert!(!r.stdout.contains('\x1b'), "no colour when not a terminal");
}

#[test]
fn a_stalled_terminal_does_not_stall_the_connection() {
    // A 4 MiB queue for alice: the flooder below sends as fast as the server echoes, with the
    // flood limits off, so her reader, sharing two cores with every other test, must keep up
    // only on average, not within the default 256 KiB and the kernel's ~128 KiB.
    let server = Server::start_with(0, &["--max-queue", "4194304"]);
    let home = TempDir::new();
    let mut p = chat(&server, &home, "alice");
    p.type_keys("/join #flood\r");
    p.wait_for("joined #flood", STEP);
    p.pause(true);
    // Far more lines than the pty (up to 640 KiB on Linux) and the client's screen queue
    // (10,000 lines) hold together, and far more bytes (about 6.6 MB) than the server queues
    // for alice and her kernel buffer hold: had her socket reader waited on the stalled
    // terminal, the server would drop her as a slow consumer.
    const N: usize = 30_000;
    flood(&server, "#flood@localhost", N, 40);
    // Let her reader work through everything while the terminal is still stalled: wait until
    // the process stops using CPU.
    wait_idle(p.child.id(), Duration::from_secs(60));
    p.pause(false);
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#flood@localhost");
    publish(&mut bob, "#flood@localhost", "after the flood");
    p.wait_for_raw("bob: after the flood", Duration::from_secs(60));
    p.type_keys("still connected\r");
    assert_eq!(next_text(&mut bob), "still connected");
    let raw = p.raw();
    assert!(!raw.contains("connection lost"));
    // Nothing lost silently: every flood message was either shown or counted as not shown.
    let shown = raw.matches("flooder: flood message number").count();
    let counted: usize = raw
        .split("-- ")
        .filter_map(|s| s.strip_suffix_between(" line(s) were not shown"))
        .sum();
    assert_eq!(shown + counted, N, "shown {shown}, counted {counted}");
    assert!(
        counted > 0,
        "the stalled terminal made the client count lines it could not show"
    );
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// The number at the start of `s` when `marker` follows it.
trait Leading {
    fn strip_suffix_between(&self, marker: &str) -> Option<usize>;
}

impl Leading for str {
    fn strip_suffix_between(&self, marker: &str) -> Option<usize> {
        let (n, _) = self.split_once(marker)?;
        n.parse().ok()
    }
}

/// What the server refuses on a reconnect (here a channel past a lowered `--max-subs`) is said
/// after the line that says the connection is back, which it belongs to; and if it was the
/// current channel, that none is now (found by helper 125: a line typed at the old prompt
/// went to the other channel without a word; since review 154, it goes nowhere).
#[test]
fn a_channel_not_rejoined_at_reconnect_is_said_after_reconnected() {
    let dir = TempDir::new();
    let mut server = history_server(restartable_port(), &dir);
    let port = server.port;
    let home = TempDir::new();
    let mut p = chat(&server, &home, "alice");
    p.command("/join #one", "joined #one");
    p.command("/join #two", "joined #two");
    server.stop();
    let mark = p.wait_for("connection lost", STEP);
    let dir_arg = dir.0.to_str().unwrap().to_string();
    let _server = Server::start_with(port, &["--data-dir", &dir_arg, "--max-subs", "1"]);
    let back = p.wait_for_from(mark, "reconnected to", STEP * 3);
    let refused = p.wait_for_from(back, "cannot rejoin #two: ", STEP);
    // #two was the current channel: none is now, and it says so; a line goes nowhere.
    p.wait_for_from(refused, "; no channel is current now (/switch to one)", STEP);
    p.command("meant for two", "error: no current topic");
    let text = p.text();
    assert!(
        !text[mark..back].contains("cannot rejoin"),
        "the refusal came before the reconnect it belongs to:\n{text}"
    );
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// A link gone silent is taken for dead after the server's own keepalive and timeout (2 s and
/// 1 s here), as its Ident says them: the prompt does not look connected for a minute (found
/// by QA on a stalled link).
#[test]
fn a_stalled_link_is_noticed_by_the_server_s_timers() {
    let server = Server::start_with(0, &["--idle-timeout", "2", "--ping-timeout", "1"]);
    let port = stalling_proxy(server.addr());
    let home = TempDir::new();
    let mut cmd = cli(&server, &home);
    cmd.env("SCALAR_SERVER", format!("127.0.0.1:{port}"))
        .args(["--id", "alice"]);
    let mut p = Pty::spawn(cmd);
    p.wait_for("connected to", STEP);
    // Its keepalive and timeout (3 s), with room for a loaded machine; not a minute.
    p.wait_for(
        "connection lost: timed out waiting for the server to answer a Ping",
        Duration::from_secs(10),
    );
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

/// A rejoin after a restart that the channel's join rate refuses for a while (810) is tried
/// again once the wait is over, the channel current again and its gap read (found by QA: the
/// chat left the channel for good).
#[test]
fn a_rejoin_held_by_a_join_rate_is_tried_again_and_fills_the_gap() {
    let dir = TempDir::new();
    add_accounts(&dir, &["owner"]);
    let data = dir.0.to_str().unwrap().to_string();
    // Join rates hold from the start: no rush of reconnections lets everyone back.
    let flags = ["--data-dir", &data, "--join-rush", "0"];
    let mut server = Server::start_with(restartable_port(), &flags);
    let home = TempDir::new();
    // Kept across the restart with its join rate: its owner logged in, and set it.
    let mut owner = logged_in(&server, "owner");
    subscribe(&mut owner, "#k@localhost");
    owner
        .request(STEP, |seq| {
            Msg::SetMeta(scalar::proto::SetMeta {
                seq,
                topic: scalar::proto::Name::parse("#k@localhost").unwrap(),
                display: None,
                subject: None,
                modes: None,
                rate: None,
                join_rate: Some(6),
            })
        })
        .unwrap();
    let gate = Gate::new(server.addr());
    let mut p = chat_through(&gate, &server, &home, "alice");
    p.command("/join #k", "joined #k");
    let port = server.port;
    // Alice's attempts fail at the closed gate until the stranger below is in.
    gate.open(false);
    server.stop();
    p.wait_for("reconnect attempt 1 failed", STEP);
    let server = Server::start_with(port, &flags);
    // A stranger comes first and takes the one join at once that 6 a minute allows.
    let mut carol = server.client("carol");
    subscribe(&mut carol, "#k@localhost");
    say(&mut carol, "#k@localhost", "said while alice waited");
    gate.open(true);
    // Her next attempt may be a whole longest backoff away.
    let at = p.wait_for("cannot rejoin #k yet: server refused: 810 join_rate", STEP * 3);
    let at = p.wait_for_from(at, "trying again in", STEP);
    // 10 s at 6 a minute, jittered.
    let at = p.wait_for_from(at, "rejoined #k", Duration::from_secs(30));
    p.wait_for_from(at, "[history] carol: said while alice waited", STEP);
    p.command("back again", "alice: back again");
    assert_eq!(next_text(&mut carol), "back again");
}

/// TERM=dumb without NO_COLOR: the plain lines of a terminal the editor cannot drive carry no
/// escapes, neither a sender's colour, the dim ref nor an alert's reverse time (found by helper
/// 276: a screen reader on a dumb terminal read `[32m` around every name; the colour was
/// chosen for any terminal before the editor was found unable to drive it).
#[test]
fn a_dumb_terminal_gets_no_colour_escapes() {
    let server = Server::start();
    let home = TempDir::new();
    let mut cmd = cli(&server, &home);
    cmd.env("TERM", "dumb").env_remove("NO_COLOR");
    let mut p = chat_with(cmd, "alice");
    p.command("/join #rust", "joined #rust");
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#rust@localhost");
    publish(&mut bob, "#rust@localhost", "alice: said live");
    p.wait_for("bob: alice: said live", STEP);
    p.command("/me waves", "* alice waves");
    p.command("/quit", "bye");
    assert_eq!(p.wait_exit(STEP), 0, "{}", p.text());
    assert!(!p.raw().contains('\x1b'), "{:?}", p.raw());
}

/// A terminal the editor cannot drive (TERM=dumb, as Emacs's shell sets) falls back to plain
/// lines, but a person still types there: each line is asked for with the prompt naming where
/// it goes, and a mistyped command does not make the session end as a failed script (found by
/// helper 265: no prompt at all, so after `/msg bob` plain lines went to bob unseen, and exit 4).
#[test]
fn a_dumb_terminal_still_shows_where_a_line_goes() {
    let server = Server::start();
    let home = TempDir::new();
    let mut cmd = cli(&server, &home);
    cmd.env("TERM", "dumb");
    let mut p = chat_with(cmd, "alice");
    p.wait_for("(TERM=dumb) has no line editing", STEP);
    p.command("/join #rust", "#rust> ");
    // What arrives while the prompt waits is a line of its own, and the prompt comes again
    // after it: the next line typed had none (found by helper 265).
    let mut bob = server.client("bob");
    subscribe(&mut bob, "#rust@localhost");
    publish(&mut bob, "#rust@localhost", "hello from bob");
    let at = p.wait_for("bob: hello from bob", STEP);
    p.wait_for_from(at, "#rust> ", STEP);
    p.command("/msg bob", "bob> ");
    p.command("/jion", "did you mean /join?");
    p.command("/quit", "bye");
    assert_eq!(p.wait_exit(STEP), 0, "{}", p.text());
}
