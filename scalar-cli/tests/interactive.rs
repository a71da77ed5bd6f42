//! The interactive client driven through a pseudo-terminal, as a person would use it, and
//! through a pipe (the plain fallback).

mod common;

use common::pty::Pty;
use common::*;
use std::time::Duration;

/// Starts the interactive client for `id` on a pty and waits for its first prompt.
fn chat(server: &Server, home: &TempDir, id: &str) -> Pty {
    let mut cmd = cli(server, home);
    cmd.args(["--id", id]);
    let pty = Pty::spawn(cmd);
    pty.wait_for("scalar> ", STEP);
    pty
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

    // Tab completes commands.
    p.type_keys("/jo\t#go\r");
    p.wait_for("joined #go", STEP);
    p.type_keys("/switch rust\r");
    p.wait_for("now talking in #rust", STEP);

    p.type_keys("/quit see you\r");
    assert_eq!(p.wait_exit(STEP), 0);
    let text = p.text();
    assert_clean(&text);
    let history = std::fs::read_to_string(home.0.join("data/scalar-cli/history")).unwrap();
    assert!(history.contains("hello from alice"), "{history}");
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
    p.type_keys("/ping\r");
    p.wait_for(" ms", STEP);
    p.type_keys("/history\r");
    p.wait_for("keeps no history for #r", STEP);
    p.type_keys("\x04");
    assert_eq!(p.wait_exit(STEP), 0);
}

#[test]
fn reconnects_after_server_restart() {
    let mut server = Server::start();
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
fn piped_input_uses_the_plain_fallback() {
    let server = Server::start();
    let home = TempDir::new();
    let mut cmd = cli(&server, &home);
    cmd.args(["--id", "alice"]);
    let r = run(cmd, b"/join #p\nhello\n/topics\n/bogus\n/quit\n");
    assert_eq!(r.code(), 0, "{}", r.stderr);
    for want in [
        "joined #p",
        "alice: hello",
        "1 channel(s): #p*",
        "error: unknown command /bogus",
        "-- bye",
    ] {
        assert!(r.stdout.contains(want), "{want:?} missing from:\n{}", r.stdout);
    }
    assert!(!r.stdout.contains('\x1b'), "no colour when not a terminal");
}

#[test]
fn a_stalled_terminal_does_not_stall_the_connection() {
    let server = Server::start();
    let home = TempDir::new();
    let mut p = chat(&server, &home, "alice");
    p.type_keys("/join #flood\r");
    p.wait_for("joined #flood", STEP);
    p.pause(true);
    // Far more lines than the pty (up to 640 KiB on Linux) and the client's screen queue
    // (10,000 lines) hold together, and far more bytes than the server queues for alice
    // (256 KiB): had her socket reader waited on the stalled terminal, the server would drop
    // her as a slow consumer.
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
