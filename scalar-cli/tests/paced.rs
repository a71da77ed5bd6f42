//! A channel's rate in the chat: the lines it refuses for a while (806, naming the wait) are
//! queued and sent again once the wait is over, in order, while the user goes on typing.
//! They used to be lost, and a pasted block lost every line past the rate.

mod common;

use common::*;

/// Pipes `n` numbered lines into the chat of `bot` in `channel` (given `rate` a minute by
/// its owner); checks it ends well, refusing none, and every line arrives once, in order.
/// What the chat printed.
fn pipe(channel: &str, rate: u64, n: usize) -> String {
    let server = Server::start_with(0, &["--flood", "off"]);
    let home = TempDir::new();
    let mut op = rated(&server, &format!("{channel}@localhost"), rate);
    let lines: String = (0..n).map(|i| format!("line {i:03}\n")).collect();
    let mut chat = cli(&server, &home);
    chat.args(["--id", "bot"]);
    let r = run(chat, format!("/join {channel}\n{lines}").as_bytes());
    assert_eq!(r.code(), 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("not sent"), "{}", r.stdout);
    for i in 0..n {
        assert_eq!(next_text(&mut op), format!("line {i:03}"));
    }
    r.stdout
}

/// Piped into the chat, 12 lines to a channel of 60 a minute (ten at once, then one a second)
/// all come out, in order, and the end of input waits for them.
#[test]
fn piped_lines_beyond_a_channel_rate_wait_and_all_arrive_in_order() {
    let out = pipe("#rated", 60, 12);
    for want in [
        "806 channel_rate",
        "queued: sending it to #rated in",
        "end of input: sending the",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
}

/// Piped into the chat, more lines than the queue holds: the input is read no faster than
/// the server takes it, so none is refused (found by QA: past 50 queued, they were).
#[test]
fn a_pipe_longer_than_the_queue_waits_for_room_and_loses_nothing() {
    // 600 a minute: 100 at once, then ten a second; 170 lines fill the queue of 50.
    pipe("#busy", 600, 170);
}

/// At a terminal: a refused line is queued and says when it goes; the next line for the
/// channel waits behind it, another channel's does not; `/queue` lists them, `/queue drop`
/// forgets them, and `/quit` says which were not sent.
#[test]
fn typed_lines_beyond_a_rate_wait_behind_each_other_and_can_be_dropped() {
    let server = Server::start_with(0, &["--flood", "off"]);
    let home = TempDir::new();
    // 1 a minute: one at once, then a wait of a minute, which no slow machine outlasts here.
    let mut op = rated(&server, "#slow@localhost", 1);
    let mut p = chat(&server, &home, "bot");
    p.command("/join #slow", "joined #slow");
    p.command("one", "bot: one");
    let at = p.command("two", "806 channel_rate");
    p.wait_for_from(at, "queued: sending it to #slow in", STEP);
    p.command("three", "queued: 2 line(s) now wait for #slow (/queue)");
    // Another channel is not held up.
    p.command("/join #elsewhere", "joined #elsewhere");
    p.command("not held", "bot: not held");
    p.command("/queue", "2 line(s) wait for #slow: the next is sent in");
    p.command("/queue drop", "dropped 2 line(s) that waited to be sent");
    p.command("/queue", "no line waits to be sent");
    p.command("/switch #slow", "#slow");
    p.command("four", "queued: sending it to #slow in");
    let at = p.command("/quit", "not sent to #slow: 1 line(s) still waited");
    p.wait_for_from(at, "bye", STEP);
    assert_eq!(p.wait_exit(STEP), 0);
    assert_eq!(next_text(&mut op), "one");
    // Nothing queued went out: the next message in the channel is another member's.
    let mut marker = server.client("marker");
    subscribe(&mut marker, "#slow@localhost");
    publish(&mut marker, "#slow@localhost", "marker");
    assert_eq!(next_text(&mut op), "marker");
}

/// Ended by a signal (a `kill`, a closed terminal), the chat says which queued lines are lost
/// with it, as `/quit` does.
#[test]
fn a_signal_says_which_queued_lines_are_lost() {
    let server = Server::start_with(0, &["--flood", "off"]);
    let home = TempDir::new();
    let _op = rated(&server, "#slow@localhost", 1);
    let mut p = chat(&server, &home, "bot");
    p.command("/join #slow", "joined #slow");
    p.command("one", "bot: one");
    p.command("two", "queued: sending it to #slow in");
    // SAFETY: kill(2) on the pid of the child this test started.
    assert_eq!(
        unsafe { libc::kill(p.child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    assert_eq!(p.wait_signalled(STEP), Some(libc::SIGTERM));
    let text = p.text();
    assert!(
        text.contains("not sent: line(s) that waited for the server: 1 to #slow"),
        "{text}"
    );
}

/// A chat reading a pipe exits 4 when a line of it failed (a script cannot read the error
/// lines: it used to exit 0), saying how many on standard error; 0 when every line went.
#[test]
fn a_piped_chat_whose_lines_failed_exits_4() {
    let server = Server::start_with(0, &[]);
    let home = TempDir::new();
    let piped = |input: &str| {
        let mut chat = cli(&server, &home);
        chat.args(["--id", "bot"]);
        run(chat, input.as_bytes())
    };
    let r = piped("/join #fine\nall well\n");
    assert_eq!(r.code(), 0, "{}\n{}", r.stdout, r.stderr);
    // An unknown command, and a message refused by the server (a user it does not have).
    let r = piped("/join #fine\n/frobnicate\nsaid\n/msg nobody@elsewhere.example\nhello?\n");
    assert_eq!(r.code(), 4, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.matches("error: ").count(), 2, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("input failed or was not sent: 2 error line(s) say what"),
        "{}",
        r.stderr
    );
}

/// A proxy to `upstream` on a port of its own (returned) that passes everything, but gives
/// each Error `channel_rate` (806) from the server the reason `reason`: what a server, or
/// anyone on the path of plain TCP, may write.
fn rewording_proxy(upstream: String, reason: &'static str) -> u16 {
    use scalar::proto::{ErrorCode, Msg};
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for down in listener.incoming().map_while(Result::ok) {
            let Ok(up) = std::net::TcpStream::connect(&upstream) else {
                return;
            };
            let (mut from_down, mut to_up) = (down.try_clone().unwrap(), up.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_down, &mut to_up);
                let _ = to_up.shutdown(std::net::Shutdown::Both);
            });
            let (mut from_up, mut to_down) = (up, down);
            std::thread::spawn(move || {
                while let Some((len, payload)) = read_frame(&mut from_up) {
                    let mut frame = [&len[..], &payload].concat();
                    if let Ok(Msg::Error(e)) = Msg::decode(&payload)
                        && e.code == ErrorCode::ChannelRate as u16
                    {
                        let reworded = scalar::proto::ErrorMsg {
                            reason: Some(reason),
                            ..e
                        };
                        frame = Msg::Error(reworded).to_frame().unwrap();
                    }
                    if to_down.write_all(&frame).is_err() {
                        break;
                    }
                }
                let _ = to_down.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    port
}

/// The line that says a refused line is queued quotes the server's reason: shown cleaned,
/// as every other line with text from the network is, so that the server cannot retitle the
/// window, write to the clipboard or move the cursor. Found by helper 263: that line, and the
/// notes of a reconnection (the servers of a domain tried in turn), wrote it as it came.
#[test]
fn a_queued_line_s_reason_from_the_server_is_cleaned() {
    let server = Server::start_with(0, &["--flood", "off"]);
    let home = TempDir::new();
    let _op = rated(&server, "#rated@localhost", 60);
    let reason = "\u{1b}]0;owned\u{7}\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{9b}2J\u{202e}wait";
    let port = rewording_proxy(server.addr(), reason);
    let lines: String = (0..12).map(|i| format!("line {i:03}\n")).collect();
    let mut chat = cli(&server, &home);
    chat.env("SCALAR_SERVER", format!("127.0.0.1:{port}"))
        .args(["--id", "bot"]);
    let r = run(chat, format!("/join #rated\n{lines}").as_bytes());
    assert_eq!(r.code(), 0, "{}\n{}", r.stdout, r.stderr);
    let queued = (r.stdout.lines())
        .find(|l| l.contains("queued: sending it to #rated in"))
        .unwrap_or_else(|| panic!("no line was queued:\n{}", r.stdout));
    assert!(
        queued.contains("806 channel_rate: ^[]0;owned^G^[]52;c;cm0gLXJmIH4=^G<U+009B>2J<U+202E>wait"),
        "{queued:?}"
    );
    let raw = ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'];
    assert!(!r.stdout.contains(raw), "{:?}", r.stdout);
}
