//! scalard end to end: the real binary over TCP on 127.0.0.1, every wait bounded.

mod common;

use common::*;
use scalar::client::ClientError;
use scalar::proto::*;
use std::io::Write;
use std::time::{Duration, Instant};

const ROOM: &str = "#room@localhost";

#[test]
fn every_request_gets_its_reply() {
    let s = Scalard::start(&[]);
    let mut alice = s.client("alice");
    let mut bob = s.client("bob");
    assert_eq!(alice.domain, "localhost");
    assert_eq!(sub(&mut alice, ROOM), "Meta #room@localhost true 1");
    assert_eq!(sub(&mut bob, ROOM), "Meta #room@localhost true 2");

    say(&mut alice, 41, ROOM, "hello");
    assert_eq!(
        next(&mut alice),
        "Event #room@localhost alice@localhost hello seq=Some(41)"
    );
    assert_eq!(
        next(&mut bob),
        "Event #room@localhost alice@localhost hello seq=None"
    );

    alice
        .send(&Msg::Ping(Ping {
            seq: Some(7),
            time: 12345,
        }))
        .unwrap();
    assert_eq!(next(&mut alice), "Pong 12345 seq=Some(7)");

    alice
        .send(&Msg::Topics(Topics {
            seq: Some(8),
            start: 0,
            count: 10,
            cursor: None,
            query: None,
        }))
        .unwrap();
    assert_eq!(next(&mut alice), "TopicList 1 0 [#room@localhost]");

    let catchup = latest(9, ROOM, 10);
    alice.send(&Msg::Catchup(catchup)).unwrap();
    assert_eq!(
        next(&mut alice),
        "Event #room@localhost alice@localhost hello seq=Some(9)"
    );
    assert_eq!(next(&mut alice), "CatchupEnd Complete 1 seq=Some(9)");

    alice
        .send(&Msg::Unsub(Unsub {
            seq: Some(10),
            topic: name(ROOM),
            reason: None,
        }))
        .unwrap();
    assert_eq!(next(&mut alice), "Meta #room@localhost false 1");
    say(&mut alice, 11, ROOM, "still here?");
    assert_eq!(next(&mut alice), "Error 403 not_subscribed seq=Some(11)");

    // Direct messages reach every connection of the user, plus the echo.
    let mut bob2 = s.client("bob");
    say(&mut alice, 12, "bob@localhost", "psst");
    assert_eq!(
        next(&mut alice),
        "Event bob@localhost alice@localhost psst seq=Some(12)"
    );
    assert_eq!(
        next(&mut bob),
        "Event bob@localhost alice@localhost psst seq=None"
    );
    assert_eq!(
        next(&mut bob2),
        "Event bob@localhost alice@localhost psst seq=None"
    );
    say(&mut alice, 13, "nobody@localhost", "hello?");
    assert_eq!(next(&mut alice), "Error 404 no_such_user seq=Some(13)");

    // Bye: the server closes.
    alice
        .send(&Msg::Bye(Bye {
            code: 0,
            reason: None,
        }))
        .unwrap();
    assert!(matches!(alice.recv(), Err(ClientError::Closed)));
}

#[test]
fn bad_frames_get_errors_and_the_connection_survives() {
    let s = Scalard::start(&[]);
    let mut alice = s.client("alice");
    let mut bob = s.client("bob");
    sub(&mut alice, ROOM);
    sub(&mut bob, ROOM);
    let big = "x".repeat(MAX_BODY + 1);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (raw_frame(&[]), "Error 102 empty_frame seq=None"),
        (raw_frame(&[0xff]), "Error 100 malformed seq=None"),
        (raw_frame(&[0xa1, 0x00]), "Error 100 malformed seq=None"),
        (
            raw_frame(&[0xa2, 0x00, 0x04, 0x04, 0x01, 0x00]),
            "Error 100 malformed seq=None",
        ), // trailing
        (
            raw_frame(&[0xa3, 0x00, 0x04, 0x01, 0x05, 0x04, 0x3b, 0, 0, 0, 0, 0, 0, 0, 0]),
            "Error 100 malformed seq=Some(5)",
        ),
        (
            raw_frame(&[0xa2, 0x00, 0x18, 0x63, 0x01, 0x06]),
            "Error 103 unknown_type seq=Some(6)",
        ),
        (
            raw_frame(&[0xa2, 0x00, 0x08, 0x01, 0x07]),
            "Error 104 missing_field seq=Some(7)",
        ),
        (
            raw_frame(&[0xa3, 0x00, 0x06, 0x02, 0x62, 0xc3, 0x28, 0x01, 0x08]),
            "Error 105 bad_utf8 seq=None",
        ),
        (
            Msg::Sub(Sub {
                seq: Some(9),
                topic: name("#a@localhost"),
            })
            .to_frame()
            .unwrap(),
            "Meta #a@localhost true 1",
        ),
    ];
    for (frame, want) in cases {
        alice.send_raw(&frame).unwrap();
        assert_eq!(next(&mut alice), want, "after {frame:02x?}");
    }
    // Names and sizes the decoder refuses.
    let mut upper = vec![0xa3, 0x00, 0x08, 0x01, 0x0a, 0x02, 0x6f];
    upper.extend_from_slice(b"#Room@localhost");
    alice.send_raw(&raw_frame(&upper)).unwrap();
    assert_eq!(next(&mut alice), "Error 301 bad_topic seq=Some(10)");
    let m = Message {
        seq: Some(11),
        topic: name(ROOM),
        body: Body::Text(&big),
        ctype: None,
        reply_to: None,
    };
    alice.send(&Msg::Message(m)).unwrap();
    assert_eq!(next(&mut alice), "Error 302 body_too_large seq=Some(11)");
    // A server-only message from a client.
    let meta = Meta::new(Some(12), name(ROOM), true, 1);
    alice.send(&Msg::Meta(meta)).unwrap();
    assert_eq!(next(&mut alice), "Error 205 unexpected_message seq=Some(12)");
    // Both clients still work.
    say(&mut alice, 13, ROOM, "after the storm");
    assert_eq!(
        next(&mut alice),
        "Event #room@localhost alice@localhost after the storm seq=Some(13)"
    );
    assert_eq!(
        next(&mut bob),
        "Event #room@localhost alice@localhost after the storm seq=None"
    );
}

#[test]
fn an_over_long_frame_is_fatal() {
    let s = Scalard::start(&[]);
    let mut c = s.client("alice");
    c.send_raw(&[0xff, 0x3f]).unwrap();
    assert_eq!(next(&mut c), "Error 101 frame_too_long seq=None");
    assert_eq!(next(&mut c), "Bye 101 frame_too_long");
    assert!(matches!(c.recv(), Err(ClientError::Closed)));
    // The server is fine.
    let mut d = s.client("bob");
    assert_eq!(sub(&mut d, ROOM), "Meta #room@localhost true 1");
}

#[test]
fn nothing_but_ident_before_the_handshake() {
    let s = Scalard::start(&[]);
    let mut c = s.raw();
    c.send(&Msg::Sub(Sub {
        seq: Some(1),
        topic: name(ROOM),
    }))
    .unwrap();
    assert_eq!(next(&mut c), "Error 200 not_identified seq=Some(1)");
    assert_eq!(next(&mut c), "Bye 200 not_identified");
    assert!(matches!(c.recv(), Err(ClientError::Closed)));

    let mut c = s.raw();
    let ident = Ident::new(Some(2), &[1], name("eve@elsewhere.org"));
    c.send(&Msg::Ident(ident)).unwrap();
    assert_eq!(next(&mut c), "Error 400 foreign_id seq=Some(2)");
    let ident = Ident::new(Some(3), &[9], name("eve@localhost"));
    c.send(&Msg::Ident(ident)).unwrap();
    assert_eq!(next(&mut c), "Error 202 unsupported_version seq=Some(3)");
    assert_eq!(next(&mut c), "Bye 202 unsupported_version");

    // A channel's name as the ID, with and without its domain: the same fault, said as such
    // (without its domain it was "missing @domain", which is not what is wrong with it).
    let mut c = s.raw();
    for (seq, user) in [(4u8, "#rust"), (5, "#rust@localhost")] {
        // {type: Ident, seq, versions: [1], user}
        let mut p = vec![
            0xa4,
            0x00,
            0x01,
            0x01,
            seq,
            0x0b,
            0x81,
            0x01,
            0x0c,
            0x60 + user.len() as u8,
        ];
        p.extend_from_slice(user.as_bytes());
        c.send_raw(&raw_frame(&p)).unwrap();
        let f = c.recv().expect("an answer");
        match f.msg() {
            Ok(Msg::Error(e)) => {
                assert_eq!((e.code, e.seq), (300, Some(u32::from(seq))), "{user}");
                assert!(
                    e.reason.is_some_and(|r| r.contains("an ID has no # or ! sigil")),
                    "{user}: {e:?}"
                );
            }
            other => panic!("{user}: {other:?}"),
        }
    }
}

#[test]
fn a_frame_arriving_one_byte_per_write() {
    let s = Scalard::start(&[]);
    let mut c = s.raw();
    let ident = Ident::new(Some(1), &[1], name("slow@localhost"));
    let mut bytes = Msg::Ident(ident).to_frame().unwrap();
    bytes.extend(
        Msg::Ping(Ping {
            seq: Some(2),
            time: 99,
        })
        .to_frame()
        .unwrap(),
    );
    let mut stream = c.stream().try_clone().unwrap();
    for b in &bytes {
        stream.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(next(&mut c), "Ident slow@localhost");
    assert_eq!(next(&mut c), "Pong 99 seq=Some(2)");
}

#[test]
fn handshake_and_ping_timeouts() {
    let s = Scalard::start(&[
        "--handshake-timeout",
        "1",
        "--idle-timeout",
        "1",
        "--ping-timeout",
        "1",
    ]);
    let started = Instant::now();
    let mut silent = s.raw();
    let mut idle = s.client("idle");
    assert_eq!(next(&mut silent), "Error 203 handshake_timeout seq=None");
    assert_eq!(next(&mut silent), "Bye 203 handshake_timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The identified client is pinged; answering keeps it alive, silence ends it.
    let Ok(Msg::Ping(p)) = idle.recv().unwrap().msg() else {
        panic!("expected Ping")
    };
    idle.send(&Msg::Pong(p)).unwrap();
    assert_eq!(next(&mut idle), "Ping");
    assert_eq!(next(&mut idle), "Error 204 ping_timeout seq=None");
    assert_eq!(next(&mut idle), "Bye 204 ping_timeout");
    assert!(matches!(idle.recv(), Err(ClientError::Closed)));
}

#[test]
fn connection_and_subscription_limits() {
    let s = Scalard::start(&["--max-connections", "2", "--max-subs", "1"]);
    let mut a = s.client("a");
    let _b = s.client("b");
    let mut c = s.raw();
    assert_eq!(next(&mut c), "Error 500 too_many_connections seq=None");
    assert_eq!(next(&mut c), "Bye 500 too_many_connections");
    assert_eq!(sub(&mut a, "#one@localhost"), "Meta #one@localhost true 1");
    assert_eq!(
        sub(&mut a, "#two@localhost"),
        "Error 502 too_many_subs seq=Some(3)"
    );

    let s = Scalard::start(&["--max-per-address", "1"]);
    let _a = s.client("a");
    let mut b = s.raw();
    assert_eq!(next(&mut b), "Error 501 too_many_from_address seq=None");
}

/// A network holds at least one address: a lower max-per-subnet counts as max-per-address,
/// and the log says so rather than leave the operator to find out.
#[test]
fn a_max_per_subnet_below_max_per_address_is_raised_and_said() {
    let s = Scalard::start(&["--max-per-address", "3", "--max-per-subnet", "2"]);
    s.expect_log("max-per-subnet 2 is below max-per-address 3: a network may open 3");
    let _open: Vec<_> = ["a", "b", "c"].iter().map(|u| s.client(u)).collect();
    let mut fourth = s.raw();
    assert_eq!(next(&mut fourth), "Error 501 too_many_from_address seq=None");
}

#[test]
fn a_slow_consumer_is_dropped_while_the_others_keep_up() {
    let s = Scalard::start(&["--max-queue", "65536"]);
    let mut publisher = s.client("pub");
    let mut fast = s.client("fast");
    let mut slow = s.client("slow");
    for c in [&mut publisher, &mut fast, &mut slow] {
        sub(c, ROOM);
    }
    const N: u32 = 2000;
    // The fast one is never more than WINDOW Events (64 KB) behind, however the threads are
    // scheduled: far less than its queue and kernel buffer hold.
    const WINDOW: u32 = 8;
    let body = "z".repeat(8000);
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = received.clone();
    let reader = std::thread::spawn(move || {
        let mut got = 0;
        while got < N {
            let f = fast.recv().expect("fast reader keeps receiving");
            if let Ok(Msg::Event(e)) = f.msg() {
                assert_eq!(e.body, Body::Text(&"z".repeat(8000)));
                got += 1;
                counter.store(got, std::sync::atomic::Ordering::Release);
            }
        }
        got
    });
    for i in 0..N {
        let deadline = Instant::now() + WAIT;
        while received.load(std::sync::atomic::Ordering::Acquire) + WINDOW < i {
            assert!(Instant::now() < deadline, "the fast reader stalled at {i}");
            std::thread::sleep(Duration::from_micros(200));
        }
        say(&mut publisher, i, ROOM, &body);
        let f = publisher.recv().unwrap();
        assert!(matches!(f.msg(), Ok(Msg::Event(_))), "echo {i}: {}", describe(&f));
    }
    assert_eq!(reader.join().unwrap(), N, "the fast subscriber got every message");
    s.expect_log("slow consumer");
    // The slow one finds a prefix of the events, then the reason it was dropped, then EOF.
    let (mut events, mut tail) = (0, Vec::new());
    loop {
        match slow.recv() {
            Ok(f) => match f.msg() {
                Ok(Msg::Event(_)) if tail.is_empty() => events += 1,
                _ => tail.push(describe(&f)),
            },
            Err(ClientError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    eprintln!("the slow consumer got {events} of {N} events before being dropped");
    assert!(events > 0 && events < N, "slow consumer got {events}");
    assert_eq!(
        tail,
        ["Error 503 slow_consumer seq=None", "Bye 503 slow_consumer"]
    );
}

/// A subscriber that reads all along, only far slower (8 KiB/s) than the publisher sends: it is
/// cut off, and what it reads is an unbroken run of whole Events, then the reason, then EOF —
/// not a frame cut short because its last bytes were still waiting when the server gave up.
#[test]
fn a_slow_reader_gets_the_reason_it_was_dropped() {
    slow_reader(None);
}

/// The same with a small receive buffer: the kernel reopens its window in steps, so the
/// server's socket takes nothing new for seconds while the reader is still reading what is on
/// its way; the close grace must count that as progress.
#[test]
fn a_slow_reader_with_a_small_receive_buffer_gets_the_reason_too() {
    slow_reader(Some(16 * 1024));
}

fn slow_reader(rcvbuf: Option<libc::c_int>) {
    use std::io::Read;
    let s = Scalard::start(&["--max-queue", "65536"]);
    let mut publisher = s.client("pub");
    let mut slow = s.client("slow");
    sub(&mut publisher, ROOM);
    sub(&mut slow, ROOM);
    let mut stream = slow.stream().try_clone().unwrap();
    if let Some(size) = rcvbuf {
        set_receive_buffer(&stream, size);
    }
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let reader = std::thread::spawn(move || {
        // Slowly for longer than the close grace (2 s) several times over, then at full speed
        // to the end.
        let slow_until = Instant::now() + Duration::from_secs(6);
        let (mut got, mut chunk) = (Vec::new(), [0u8; 1024]);
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("after {} bytes: {e}", got.len()),
            }
            if Instant::now() < slow_until {
                std::thread::sleep(Duration::from_millis(125));
            }
        }
    });
    let body = "s".repeat(8000);
    let mut cut = false;
    for i in 0..2000 {
        say(&mut publisher, i, ROOM, &body);
        assert!(next(&mut publisher).starts_with("Event"));
        if s.log.try_iter().any(|l| l.contains("slow consumer")) {
            cut = true;
            break;
        }
    }
    assert!(cut, "the slow reader was never found slow");
    let bytes = reader.join().unwrap();
    let tail = last_words(&bytes, &body);
    assert_eq!(
        tail,
        ["Error 503 slow_consumer seq=None", "Bye 503 slow_consumer"]
    );
}

/// Everything a dropped reader received, as whole frames: an unbroken run of live Events with
/// `body`, then what came after the first other frame (described). Fails if the bytes end in a
/// frame cut short, or no Event came first.
fn last_words(bytes: &[u8], body: &str) -> Vec<String> {
    let (mut rest, mut events, mut tail) = (bytes, 0, Vec::new());
    while let Ok(Status::Complete((payload, used))) = frame::split(rest) {
        let f = scalar::client::Frame(payload.to_vec());
        match f.msg() {
            Ok(Msg::Event(e)) if tail.is_empty() && e.seq.is_none() => {
                assert_eq!(e.body, Body::Text(body));
                events += 1;
            }
            _ => tail.push(describe(&f)),
        }
        rest = &rest[used..];
    }
    eprintln!("the reader got {events} Events, then {tail:?}");
    assert!(
        rest.is_empty(),
        "a frame cut short: {} bytes left over",
        rest.len()
    );
    assert!(events > 0, "no Event before the last words");
    tail
}

fn set_receive_buffer(stream: &std::net::TcpStream, size: libc::c_int) {
    use std::os::fd::AsRawFd;
    // SAFETY: an open socket, and a c_int that lives across the call, with its size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
}

/// A client that stops reading with a long backlog queued for it is timed out (no answer to
/// the Ping it never read). When it reads again, long after the close deadline, it gets whole
/// frames, not a frame cut short: an unbroken start of what it was sent (live Events), then the
/// reason. What lay between, here the rest of the Events and a catch-up it asked for last, is
/// dropped whole: no replayed Event arrives without the rest of its page and CatchupEnd.
#[test]
fn a_stalled_reader_timed_out_with_a_backlog_gets_whole_frames_and_the_reason() {
    let tail = stalled_reader(0, |_| {
        // Pinged after 1 s of silence, timed out 1 s later, then 2 s of close grace without
        // the socket taking anything; timers run once a second. By then it has been closed.
        std::thread::sleep(Duration::from_secs(10));
    });
    assert_eq!(tail, ["Error 204 ping_timeout seq=None", "Bye 204 ping_timeout"]);
}

/// The same when the server stops (SIGTERM) while the client is stalled: after the 2 s the
/// server gives everyone to receive its Bye, the client still gets whole frames, then the Bye.
#[test]
fn a_stalled_reader_at_shutdown_gets_whole_frames_and_the_bye() {
    let tail = stalled_reader(0, |s| {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(
            unsafe { libc::kill(s.child.id() as libc::pid_t, libc::SIGTERM) },
            0
        );
        std::thread::sleep(Duration::from_secs(4));
    });
    assert_eq!(tail, ["Bye 504 shutting_down"]);
}

/// The same when the stalled client also sent far more requests than the server read before
/// it closed the connection (found by helper 122): closing a socket with input unread makes
/// the kernel reset it, which threw away the last frames it had not sent yet. The socket now
/// lingers, its input thrown away, until the client has them.
#[test]
fn a_stalled_reader_with_requests_unread_still_gets_whole_frames_and_the_reason() {
    let tail = stalled_reader(4000, |_| std::thread::sleep(Duration::from_secs(10)));
    assert_eq!(tail, ["Error 204 ping_timeout seq=None", "Bye 204 ping_timeout"]);
}

/// A subscriber with a small receive buffer stops reading while about 480 KiB is published to
/// its channel (the kernel's buffers take a fraction, the rest waits in the server's queue, far
/// more than the close deadline's hand-over lets the kernel take) and a catch-up it asked for
/// waits behind that, then `more` catch-ups, which the server stops reading; then `meanwhile`
/// gets the server to close it. Returns what it read after the unbroken run of Events (see
/// [`last_words`]).
fn stalled_reader(more: usize, meanwhile: impl FnOnce(&Scalard)) -> Vec<String> {
    use std::io::Read;
    let s = Scalard::start(&[
        "--max-queue",
        "1048576",
        "--idle-timeout",
        "1",
        "--ping-timeout",
        "1",
    ]);
    let mut publisher = s.client("pub");
    let mut stalled = s.client("stalled");
    sub(&mut publisher, ROOM);
    sub(&mut stalled, ROOM);
    let mut stream = stalled.stream().try_clone().unwrap();
    set_receive_buffer(&stream, 16 * 1024);
    let body = "b".repeat(8000);
    for i in 0..60 {
        say(&mut publisher, i, ROOM, &body);
        assert!(next(&mut publisher).starts_with("Event"));
    }
    let catchup = Msg::Catchup(Catchup {
        seq: Some(77),
        topic: name(ROOM),
        count: 3,
        since: None,
        after: None,
        until: None,
        before: None,
    });
    stalled.send(&catchup).unwrap();
    // From another thread: the socket stops taking them once the server stops reading.
    let writer = {
        use std::io::Write;
        let mut out = stream.try_clone().unwrap();
        out.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
        let frame = catchup.to_frame().unwrap().repeat(more);
        std::thread::spawn(move || {
            let _ = out.write_all(&frame);
        })
    };
    meanwhile(&s);
    writer.join().unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    last_words(&bytes, &body)
}

/// A client that sends many requests before reading any reply is slowed down (the server stops
/// reading its requests while its replies wait), not cut off as a slow consumer: it caused that
/// output itself, and gets all of it, in order, once it reads.
#[test]
fn a_client_that_pipelines_without_reading_is_slowed_not_dropped() {
    pipeline_without_reading(&[]);
}

/// The same with `--fsync always`, where echoes wait for the commit and go out together.
#[test]
fn a_client_that_pipelines_is_not_dropped_with_fsync_always() {
    pipeline_without_reading(&["--fsync", "always"]);
}

fn pipeline_without_reading(flags: &[&str]) {
    let s = Scalard::start(flags);
    let mut alice = s.client("alice");
    sub(&mut alice, ROOM);
    let body = "p".repeat(1000);
    // 2 MB of echoes: several times what the queue and the kernel's buffers hold.
    let request = |i| {
        Msg::Message(Message {
            seq: Some(i),
            topic: name(ROOM),
            body: Body::Text(&body),
            ctype: None,
            reply_to: None,
        })
    };
    pipelined(&s, alice, 2000, request, |i, f| match f.msg() {
        Ok(Msg::Event(e)) => assert_eq!(e.seq, Some(i)),
        _ => panic!("echo {i}: {}", describe(f)),
    });
}

/// Pings and Unsubs are taken while a client's output is backed up (it can still answer the
/// server's Ping or leave a busy channel), but not so far that their own replies would make
/// it a slow consumer.
#[test]
fn a_client_that_pipelines_pings_or_unsubs_without_reading_is_not_dropped() {
    let s = Scalard::start(&["--ephemeral"]);
    // 100,000 Pongs, about 1.2 MB: several times what the queue and the kernel's buffers
    // hold, in small frames, each counted with its bookkeeping.
    let ping = |i| {
        Msg::Ping(Ping {
            seq: Some(i),
            time: 0,
        })
    };
    pipelined(&s, s.client("alice"), 100_000, ping, |i, f| match f.msg() {
        Ok(Msg::Pong(p)) => assert_eq!(p.seq, Some(i)),
        _ => panic!("Pong {i}: {}", describe(f)),
    });
    let unsub = |i| {
        Msg::Unsub(Unsub {
            seq: Some(i),
            topic: name(ROOM),
            reason: None,
        })
    };
    pipelined(&s, s.client("bob"), 30_000, unsub, |i, f| match f.msg() {
        Ok(Msg::Meta(m)) => assert_eq!(m.seq, Some(i)),
        _ => panic!("Meta {i}: {}", describe(f)),
    });
}

/// A client whose requests wait because its output is backed up (here a Message sent while a
/// burst of the channel's Events waits for it) is not closed for silence while it reads that
/// output, however slowly: its Pong would be unread behind the held Message, and was, so the
/// server closed it with 204 (found in review). One that reads nothing still times out
/// (`a_stalled_reader_…` above).
#[test]
fn a_slow_reader_whose_requests_wait_is_not_timed_out_while_it_reads() {
    let (_s, _alice, mut bob) = backed_up(50, &["--idle-timeout", "1", "--ping-timeout", "1"]);
    say(&mut bob, 1, ROOM, "held");
    read_slowly(&mut bob, 50);
    loop {
        let f = bob.recv().expect("the rest, and the held Message's echo");
        match f.msg() {
            Ok(Msg::Event(e)) if e.seq == Some(1) => break,
            Ok(Msg::Event(_)) => {}
            Ok(Msg::Ping(p)) => bob.send(&Msg::Pong(p)).unwrap(),
            _ => panic!("{}", describe(&f)),
        }
    }
}

/// The same for a client that sends nothing at all (no request of its own waits): the
/// server's Ping lies behind the backlog it is reading, however slowly, so its Pong cannot
/// come in time; that silence is the server's doing too. It was closed with 204 (found in
/// review of the fix above, which covered only a client whose requests wait).
#[test]
fn a_slow_reader_that_sends_nothing_is_not_timed_out_while_it_reads() {
    let (_s, _alice, mut bob) = backed_up(50, &["--idle-timeout", "1", "--ping-timeout", "1"]);
    let mut events = read_slowly(&mut bob, 50);
    // The rest, then an answer: a connection timed out meanwhile gets its 204 after them.
    while events < 50 {
        let f = bob.recv().expect("the rest");
        match f.msg() {
            Ok(Msg::Event(_)) => events += 1,
            Ok(Msg::Ping(p)) => bob.send(&Msg::Pong(p)).unwrap(),
            _ => panic!("after {events} Events: {}", describe(&f)),
        }
    }
    let ping = bob.send(&Msg::Ping(Ping {
        seq: Some(9),
        time: 1,
    }));
    loop {
        let f = bob
            .recv()
            .unwrap_or_else(|e| panic!("the Pong: {e:?} (its Ping: {ping:?})"));
        match f.msg() {
            Ok(Msg::Pong(p)) if p.seq == Some(9) => break,
            // Unanswerable once closed: what comes next says so.
            Ok(Msg::Ping(p)) => drop(bob.send(&Msg::Pong(p))),
            _ => panic!("{}", describe(&f)),
        }
    }
}

/// The Unsub of a channel a client is in goes through even when its output is nearly full:
/// it lessens what the client is sent. It was held (found in review), so a client on a slow
/// link could not leave a busy channel, and the channel's next Events made it a slow consumer.
#[test]
fn a_nearly_full_client_can_still_leave_a_channel() {
    // About 910 KB for bob: past three quarters of his queue, short of all of it.
    let (s, mut alice, mut bob) = backed_up(65, &[]);
    let unsub = Msg::Unsub(Unsub {
        seq: Some(1),
        topic: name(ROOM),
        reason: None,
    });
    bob.send(&unsub).unwrap();
    // Taken by the server before alice says more (a 300 ms sleep stood here): the channel
    // counts alice alone. Bob's reply waits behind his queue, so alice asks.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        // Anything else alice is sent meanwhile (bob's leaving) comes before the Meta.
        let mut meta = sub(&mut alice, ROOM);
        while !meta.starts_with("Meta ") {
            meta = next(&mut alice);
        }
        if meta == format!("Meta {ROOM} true 1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the Unsub was never taken: {meta}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Another 280 KB: past his queue, were he still in the channel.
    let body = "x".repeat(14_000);
    for i in 100..120 {
        say(&mut alice, i, ROOM, &body);
        next(&mut alice);
    }
    let mut events = 0;
    loop {
        let f = bob.recv().expect("his Events, then the Unsub's reply");
        match f.msg() {
            Ok(Msg::Event(_)) => events += 1,
            Ok(Msg::Meta(m)) if m.seq == Some(1) => break,
            _ => panic!("after {events} Events: {}", describe(&f)),
        }
    }
    assert_eq!(events, 65, "none of the later ones");
    let dropped = s.log.try_iter().filter(|l| l.contains("slow consumer"));
    assert_eq!(dropped.count(), 0);
}

/// Reads an Event every 250 ms for about 8 s (the 1 s time-outs would close a client within
/// 2), at most `of` of them, answering Pings; checks that at least 8 came, whatever the
/// machine's load made of each wait. Returns how many.
fn read_slowly(bob: &mut scalar::client::Client, of: u32) -> u32 {
    let mut events = 0;
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until && events < of {
        let f = bob.recv().expect("a frame");
        match f.msg() {
            Ok(Msg::Event(_)) => events += 1,
            Ok(Msg::Ping(p)) => bob.send(&Msg::Pong(p)).unwrap(),
            _ => panic!("after {events} Events: {}", describe(&f)),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(events >= 8, "{events} Events read");
    events
}

/// A server with a 1 MiB `max-queue` (and `extra` flags) where bob, in the room with alice and
/// a small receive buffer, has been sent `n` Events of 14,000 bytes by her and read none.
fn backed_up(n: u32, extra: &[&str]) -> (Scalard, scalar::client::Client, scalar::client::Client) {
    let mut flags = vec!["--ephemeral", "--flood", "off", "--max-queue", "1048576"];
    flags.extend(["--send-buffer", "4096"]);
    flags.extend(extra);
    let s = Scalard::start(&flags);
    let mut alice = s.client("alice");
    let mut bob = s.client("bob");
    set_receive_buffer(&bob.try_clone_stream().unwrap(), 16 * 1024);
    sub(&mut alice, ROOM);
    sub(&mut bob, ROOM);
    let body = "x".repeat(14_000);
    for i in 0..n {
        say(&mut alice, i, ROOM, &body);
        next(&mut alice);
    }
    (s, alice, bob)
}

/// Sends `n` requests made by `request` in one write from a thread, reading nothing for a
/// second, then reads a reply to each (checked by `reply`), and checks that no connection was
/// dropped as a slow consumer meanwhile.
fn pipelined<'a>(
    s: &Scalard,
    mut c: scalar::client::Client,
    n: u32,
    request: impl Fn(u32) -> Msg<'a>,
    reply: impl Fn(u32, &scalar::client::Frame),
) {
    let frames: Vec<u8> = (0..n).flat_map(|i| request(i).to_frame().unwrap()).collect();
    let mut w = c.try_clone_stream().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&frames).unwrap());
    std::thread::sleep(Duration::from_secs(1));
    for i in 0..n {
        reply(i, &c.recv().expect("every reply"));
    }
    writer.join().unwrap();
    assert_eq!(
        s.log.try_iter().filter(|l| l.contains("slow consumer")).count(),
        0
    );
}

/// One write carrying Messages to a room, a direct message and a Message to another room, then
/// more to the first room, and last a kick: the server gathers a room's Events to push them
/// together, and each subscriber must still get everything in the order it was sent, the
/// kicked one its Error last.
#[test]
fn a_burst_into_several_topics_reaches_each_subscriber_in_order() {
    const OTHER: &str = "#other@localhost";
    let s = Scalard::start(&["--ephemeral"]);
    let mut alice = s.client("alice");
    let mut bob = s.client("bob");
    let mut carol = s.client("carol");
    for c in [&mut alice, &mut bob, &mut carol] {
        sub(c, ROOM);
    }
    sub(&mut bob, OTHER);
    sub(&mut alice, OTHER);
    let mut sent = Vec::new();
    let mut burst = Vec::new();
    let mut add = |topic: &'static str, text: String| {
        let m = Message {
            seq: Some(sent.len() as u32),
            topic: name(topic),
            body: Body::Text(&text),
            ctype: None,
            reply_to: None,
        };
        burst.extend(Msg::Message(m).to_frame().unwrap());
        sent.push((topic, text));
    };
    for round in 0..3 {
        for i in 0..40 {
            add(ROOM, format!("r{round} m{i}"));
        }
        add("bob@localhost", format!("r{round} to bob"));
        add(OTHER, format!("r{round} elsewhere"));
    }
    let kick = Mod {
        until: None,
        seq: Some(sent.len() as u32),
        topic: name(ROOM),
        action: Action::Kick,
        target: "bob@localhost",
        reason: Some("testing"),
        since: None,
    };
    burst.extend(Msg::Mod(kick).to_frame().unwrap());
    alice.try_clone_stream().unwrap().write_all(&burst).unwrap();
    let record = format!("Event {ROOM} alice@localhost kick bob@localhost testing seq=None");
    let seen = |topics: &[&str]| -> Vec<String> {
        sent.iter()
            .filter(|(t, _)| topics.contains(t))
            .map(|(t, text)| format!("Event {t} alice@localhost {text} seq=None"))
            .chain([record.clone()])
            .collect()
    };
    let mut bobs = seen(&[ROOM, "bob@localhost", OTHER]);
    bobs.push("Error 803 kicked seq=None".into());
    let carols = seen(&[ROOM]);
    for (c, want) in [(&mut bob, bobs), (&mut carol, carols)] {
        let got: Vec<String> = want.iter().map(|_| next(c)).collect();
        assert_eq!(got, want);
    }
    for i in 0..=sent.len() {
        assert!(next(&mut alice).ends_with(&format!("seq=Some({i})")));
    }
}

#[test]
fn a_thousand_clients_in_one_room_get_every_message_once_in_order() {
    let s = Scalard::start(&["--max-connections", "1100", "--max-per-address", "1100"]);
    let mut members: Vec<_> = (0..1000).map(|i| s.client(&format!("m{i}"))).collect();
    for m in &mut members {
        assert!(sub(m, ROOM).starts_with("Meta #room@localhost true"));
    }
    let mut publisher = s.client("pub");
    sub(&mut publisher, ROOM);
    const N: u32 = 20;
    for i in 0..N {
        say(&mut publisher, i, ROOM, &format!("message {i}"));
    }
    for i in 0..N {
        assert_eq!(
            next(&mut publisher),
            format!("Event {ROOM} pub@localhost message {i} seq=Some({i})")
        );
    }
    for m in &mut members {
        for i in 0..N {
            assert_eq!(
                next(m),
                format!("Event {ROOM} pub@localhost message {i} seq=None")
            );
        }
    }
    // Exactly once: nothing more is waiting.
    let mut m = members.pop().unwrap();
    m.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    assert!(
        matches!(m.recv(), Err(ClientError::Timeout(_))),
        "no duplicate events"
    );
}

#[test]
fn connect_disconnect_cycles_do_not_grow_memory() {
    // Ephemeral: history's caches (the ring of recent Events, SQLite's page cache) fill up to
    // their fixed bounds as messages are stored, which is not what this test is about.
    let s = Scalard::start(&["--max-per-address", "64", "--ephemeral"]);
    let addr = s.addr;
    let cycle = |n: usize| {
        std::thread::scope(|scope| {
            for t in 0..4 {
                scope.spawn(move || {
                    for i in 0..n / 4 {
                        let mut c = client_at(addr, &format!("c{t}x{i}"));
                        sub(&mut c, &format!("#r{}@localhost", i % 50));
                        say(&mut c, 1, &format!("#r{}@localhost", i % 50), "hi");
                        next(&mut c);
                        if i % 2 == 0 {
                            c.bye(None, WAIT);
                        } // else: just drop the socket
                    }
                });
            }
        })
    };
    cycle(1000);
    let before = s.rss_kib();
    cycle(4000);
    let after = s.rss_kib();
    eprintln!("server RSS: {before} KiB after 1000 cycles, {after} KiB after 5000");
    assert!(
        after <= before + 512,
        "RSS grew from {before} KiB to {after} KiB over 4000 cycles"
    );
    let mut c = s.client("last");
    c.send(&Msg::Topics(Topics {
        seq: Some(1),
        start: 0,
        count: 0,
        cursor: None,
        query: None,
    }))
    .unwrap();
    assert_eq!(
        next(&mut c),
        "TopicList 0 0 []",
        "every channel went away with its subscribers"
    );
}

#[test]
fn sigterm_says_bye_to_everyone_and_exits_cleanly() {
    let mut s = Scalard::start(&[]);
    let mut a = s.client("a");
    let mut b = s.client("b");
    sub(&mut a, ROOM);
    // Another server's log-rotation signals end nothing (found by QA: they killed it at once).
    for sig in [libc::SIGUSR1, libc::SIGUSR2] {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(s.child.id() as i32, sig) };
    }
    a.ping(WAIT).expect("still serving");
    assert!(s.child.try_wait().unwrap().is_none(), "still running");
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    assert_eq!(next(&mut a), "Bye 504 shutting_down");
    assert_eq!(next(&mut b), "Bye 504 shutting_down");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "scalard did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
}

#[test]
fn garbage_from_one_client_does_not_stall_the_others() {
    let s = Scalard::start(&[]);
    let mut alice = s.client("alice");
    let mut bob = s.client("bob");
    sub(&mut alice, ROOM);
    sub(&mut bob, ROOM);
    let addr = s.addr;
    let vandal = std::thread::spawn(move || {
        // A deterministic stream of junk frames (xorshift), bounded in count.
        let mut c = scalar::client::Client::connect(addr, "vandal@localhost", WAIT).unwrap();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut sent = 0;
        for _ in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 64) as usize;
            let payload: Vec<u8> = (0..len).map(|i| (x >> (i % 8 * 8)) as u8 ^ i as u8).collect();
            if c.send_raw(&raw_frame(&payload)).is_err() {
                break;
            }
            sent += 1;
        }
        sent
    });
    for i in 0..200 {
        say(&mut alice, i, ROOM, "steady");
        assert_eq!(
            next(&mut alice),
            format!("Event {ROOM} alice@localhost steady seq=Some({i})")
        );
        assert_eq!(
            next(&mut bob),
            format!("Event {ROOM} alice@localhost steady seq=None")
        );
    }
    assert!(vandal.join().unwrap() > 0);
    assert!(
        s.client("carol").user == "carol@localhost",
        "server still accepts"
    );
}

#[test]
fn listens_on_ipv6_too() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scalard"))
        // --ephemeral: a test must never touch the user's own data directory.
        .args(["--ephemeral", "--listen", "[::1]:0", "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let mut addrs = Vec::new();
    while addrs.len() < 2 {
        let line = lines.next().expect("log line").unwrap();
        if let Some(a) = line.split("listening on ").nth(1) {
            addrs.push(a.trim().parse::<std::net::SocketAddr>().unwrap());
        }
    }
    for a in addrs {
        let c = scalar::client::Client::connect(a, "six@localhost", WAIT).unwrap();
        assert_eq!(c.user, "six@localhost");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A RUST_LOG without a level for everything still shows scalard's lines, and says why once
/// at the server's start; `--version` prints the version alone.
#[test]
fn a_rust_log_without_a_level_keeps_the_info_lines_and_says_so_at_start() {
    let scalard = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scalard"));
        cmd.env("RUST_LOG", "verbose");
        cmd
    };
    let version = scalard().arg("--version").output().unwrap();
    assert!(version.status.success());
    let said = String::from_utf8_lossy(&version.stdout).to_string();
    let schema = scalar::store::sqlite::SCHEMA_VERSION;
    assert!(said.starts_with("scalard "), "{said}");
    assert!(
        said.trim_end()
            .ends_with(&format!("store schema version {schema})")),
        "{said}"
    );
    // The commit it was built from, as git names it (the tests run in a checkout).
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=10", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(head) = head {
        assert!(said.contains(&format!("(commit {head}, ")), "{said}");
    }
    assert_eq!(
        String::from_utf8_lossy(&version.stderr),
        "",
        "nothing else for --version"
    );
    let mut child = scalard()
        // --ephemeral: a test must never touch the user's own data directory.
        .args(["--ephemeral", "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let first = lines.next().expect("a line").unwrap();
    assert!(first.contains("\"verbose\" is no level"), "{first}");
    let listening = lines.map_while(Result::ok).find(|l| l.contains("listening on "));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        listening.is_some_and(|l| l.contains(" INFO ")),
        "the info lines are shown"
    );
}

#[test]
fn a_client_that_half_closes_still_gets_its_replies() {
    let s = Scalard::start(&[]);
    let mut c = s.client("script");
    let frames = [
        Msg::Sub(Sub {
            seq: Some(1),
            topic: name(ROOM),
        })
        .to_frame()
        .unwrap(),
        Msg::Message(Message {
            seq: Some(2),
            topic: name(ROOM),
            body: Body::Text("x"),
            ctype: None,
            reply_to: None,
        })
        .to_frame()
        .unwrap(),
    ]
    .concat();
    c.send_raw(&frames).unwrap();
    c.stream().shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(next(&mut c), "Meta #room@localhost true 1");
    assert_eq!(
        next(&mut c),
        "Event #room@localhost script@localhost x seq=Some(2)"
    );
    assert!(matches!(c.recv(), Err(ClientError::Closed)));
}

#[test]
fn policy_errors_over_the_wire() {
    let s = Scalard::start(&[]);
    let mut c = s.client("alice");
    let ident = Ident::new(Some(1), &[1], name("alice@localhost"));
    c.send(&Msg::Ident(ident)).unwrap();
    assert_eq!(next(&mut c), "Error 201 already_identified seq=Some(1)");
    assert_eq!(
        sub(&mut c, "!motd@localhost"),
        "Error 405 not_subscribable seq=Some(2)"
    );
    assert_eq!(
        sub(&mut c, "#elsewhere@example.org"),
        "Error 401 foreign_topic seq=Some(3)"
    );
    say(&mut c, 4, "!motd@localhost", "hi");
    assert_eq!(next(&mut c), "Error 402 reserved seq=Some(4)");
    // {0: 6, 1: 5, 2: "#room@localhost", 6: "x", 7: ""}: an empty ctype.
    let mut p = vec![0xa5, 0x00, 0x06, 0x01, 0x05, 0x02, 0x6f];
    p.extend_from_slice(ROOM.as_bytes());
    p.extend_from_slice(&[0x06, 0x61, b'x', 0x07, 0x60]);
    c.send_raw(&raw_frame(&p)).unwrap();
    assert_eq!(next(&mut c), "Error 303 bad_ctype seq=Some(5)");
    // A Bye whose reason is too long is refused and ignored.
    let reason = "r".repeat(MAX_REASON + 1);
    c.send(&Msg::Bye(Bye {
        code: 0,
        reason: Some(&reason),
    }))
    .unwrap();
    assert_eq!(next(&mut c), "Error 304 field_too_long seq=None");
    c.send(&Msg::Ping(Ping {
        seq: Some(6),
        time: 1,
    }))
    .unwrap();
    assert_eq!(next(&mut c), "Pong 1 seq=Some(6)");
}

#[test]
fn out_of_file_descriptors_the_backlog_waits_and_is_served_later() {
    // A max-connections above the descriptors, to exhaust them on purpose.
    let s = Scalard::start_with_fd_limit(24, &["--max-connections", "4096"]);
    // More connections than descriptors: the kernel completes them all, scalard accepts
    // what it can and leaves the rest in the backlog.
    let mut first: Vec<_> = (0..30).map(|_| s.raw()).collect();
    s.expect_log("accept failed");
    // Said once a minute, not at each connection that arrives meanwhile (found by QA: 25 lines
    // in a millisecond; review: those above all came before the first failure), nor at each
    // retry, a second apart (found by QA: 86,400 lines a day): none more within 2.5 s, as 10
    // more arrive (each a readiness of the listener) and two retries fail.
    let until = Instant::now() + Duration::from_millis(2500);
    let more: Vec<_> = (0..10).map(|_| s.raw()).collect();
    let mut again = 0;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match s.log.recv_timeout(left) {
            Ok(line) => again += usize::from(line.contains("accept failed")),
            Err(_) => break,
        }
    }
    assert_eq!(again, 0, "more lines of accept failed");
    drop(more);
    let waiting = first.split_off(16);
    drop(first);
    // Descriptors are free again; without another incoming connection to wake the listener,
    // the waiting ones must still be accepted and served.
    for (i, mut c) in waiting.into_iter().enumerate() {
        let user = format!("late{i}@localhost");
        let ident = Ident::new(Some(1), &[1], name(&user));
        c.send(&Msg::Ident(ident)).unwrap();
        assert_eq!(next(&mut c), format!("Ident {user}"));
    }
}

#[test]
fn a_burst_of_refused_connections_does_not_run_out_of_descriptors() {
    // 96 descriptors less 64 for other files: 32 connections, of which one per address.
    let s = Scalard::start_with_fd_limit(96, &["--max-per-address", "1"]);
    let mut alice = s.client("alice");
    // Stopped while the burst arrives, so that all of it waits in the backlog and is accepted
    // in one turn: more refused connections than the descriptors left (about 85).
    s.signal(libc::SIGSTOP);
    let mut burst: Vec<_> = (0..120).map(|_| s.raw()).collect();
    s.signal(libc::SIGCONT);
    for c in &mut burst {
        assert_eq!(next(c), "Error 501 too_many_from_address seq=None");
    }
    // Each refused one was closed as soon as its Error and Bye were written, not at the end
    // of the turn: the process never ran out (found by QA: with them all held, accept failed
    // with EMFILE under max-connections, and the rest of the burst waited a second for it).
    while let Ok(line) = s.log.recv_timeout(Duration::from_millis(300)) {
        assert!(!line.contains("accept failed"), "{line}");
    }
    still_served(&mut alice);
}

/// The server's virtual memory size, in bytes.
fn vm_size(s: &Scalard) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).expect("proc status");
    let line = status.lines().find(|l| l.starts_with("VmSize:")).expect("VmSize");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("number");
    kib * 1024
}

#[test]
fn connections_that_cannot_be_set_up_are_counted_not_each_logged() {
    let s = Scalard::start(&[
        "--ephemeral",
        "--max-per-address",
        "1000",
        "--max-per-subnet",
        "1000",
    ]);
    let mut alice = s.client("alice");
    // Connections opened and closed first, so that the tables that grow with them have room
    // for the rest: what runs out below is the address space for their buffers only.
    drop((0..300).map(|_| s.raw()).collect::<Vec<_>>());
    std::thread::sleep(Duration::from_millis(500));
    // Address space for about 64 more connections' buffers (two of 16 KiB each), as under
    // `ulimit -v` or a strict overcommit.
    let limit = vm_size(&s) + 64 * 32 * 1024;
    let r = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    let pid = s.child.id() as libc::pid_t;
    // SAFETY: prlimit only reads `r`, and changes a limit of the child this test started.
    assert_eq!(
        unsafe { libc::prlimit(pid, libc::RLIMIT_AS, &r, std::ptr::null_mut()) },
        0
    );
    let open: Vec<_> = (0..200).map(|_| s.raw()).collect();
    // Each of the connections past it is closed; the log says so once, with a count later,
    // not a line each (found by QA: 282 lines in 27 ms, anyone who connects writing the log).
    let mut said = 0;
    while let Ok(line) = s.log.recv_timeout(Duration::from_millis(500)) {
        said += usize::from(line.contains("cannot set up connection"));
    }
    assert_eq!(said, 1, "lines of cannot set up connection");
    still_served(&mut alice);
    drop(open);
}

#[test]
fn max_connections_is_derived_from_the_descriptors_and_refuses_before_they_run_out() {
    // 80 descriptors less 64 for other files: 16 connections.
    let s = Scalard::start_with_fd_limit(80, &[]);
    let open: Vec<_> = (0..16).map(|i| s.client(&format!("u{i}"))).collect();
    let mut late = s.raw();
    assert_eq!(next(&mut late), "Error 500 too_many_connections seq=None");
    drop(open);
}

#[test]
fn a_burst_within_one_turn_does_not_drop_subscribers_that_keep_up() {
    let s = Scalard::start(&[]);
    let mut publisher = s.client("pub");
    sub(&mut publisher, ROOM);
    const N: u32 = 4000;
    let readers: Vec<_> = (0..3)
        .map(|i| {
            let mut c = s.client(&format!("reader{i}"));
            sub(&mut c, ROOM);
            std::thread::spawn(move || {
                let mut got = 0;
                while got < N {
                    match c.recv().map(|f| describe(&f)) {
                        Ok(d) if d.starts_with("Event") => got += 1,
                        Ok(d) => panic!("reader {i} after {got} events: {d}"),
                        Err(e) => panic!("reader {i} after {got} events: {e}"),
                    }
                }
                got
            })
        })
        .collect();
    // 4000 small Messages in one write: the server reads them in one turn, and each reader's
    // share of that turn's output is far more than its write buffer and max-queue.
    let burst: Vec<u8> = (0..N)
        .flat_map(|i| {
            let m = Message {
                seq: Some(i),
                topic: name(ROOM),
                body: Body::Text("0123456789"),
                ctype: None,
                reply_to: None,
            };
            Msg::Message(m).to_frame().unwrap()
        })
        .collect();
    publisher.send_raw(&burst).unwrap();
    // The publisher reads its echoes too: one that does not is paused, by design.
    for i in 0..N {
        assert!(next(&mut publisher).starts_with("Event"), "echo {i}");
    }
    for r in readers {
        assert_eq!(r.join().unwrap(), N);
    }
}

#[test]
fn a_connection_being_dropped_gets_no_more_direct_messages() {
    let s = Scalard::start(&["--max-queue", "4096"]);
    let mut alice = s.client("alice");
    let mut flood = s.client("flood");
    let mut bob = s.client("bob");
    sub(&mut bob, ROOM); // and never reads again
    sub(&mut flood, ROOM);
    let body = "y".repeat(MAX_BODY);
    let mut dropped = false;
    for i in 0..1000 {
        say(&mut flood, i, ROOM, &body);
        next(&mut flood);
        if s.log.try_iter().any(|l| l.contains("slow consumer")) {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "bob never became a slow consumer");
    // bob's connection may still be open (its last frames cannot be written), but it is on its
    // way out: a direct message to bob must be refused, not accepted and lost.
    say(&mut alice, 1, "bob@localhost", "still there?");
    assert_eq!(next(&mut alice), "Error 404 no_such_user seq=Some(1)");
    drop(bob);
}

#[test]
fn the_client_says_bye_101_to_an_over_long_frame() {
    // A fake server that answers the handshake with a length prefix of 0xffff.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = [0u8; 256];
        let n = std::io::Read::read(&mut sock, &mut buf).unwrap();
        assert!(n > 2, "the client's Ident");
        sock.write_all(&[0xff, 0xff]).unwrap();
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut sock, &mut rest);
        rest
    });
    let r = scalar::client::Client::connect(addr, "alice@localhost", WAIT);
    assert!(matches!(r, Err(ClientError::Protocol(_))));
    drop(r);
    let said = fake.join().unwrap();
    let Ok(Status::Complete((Ok(Msg::Bye(b)), _))) = decode_frame(&said) else {
        panic!("no Bye: {said:02x?}")
    };
    assert_eq!(b.code, ErrorCode::FrameTooLong as u16);
}

/// Events that arrive while a request waits for its reply are kept for `recv`, in order, and
/// so are they when the connection is handed on (`into_parts`), not skipped.
#[test]
fn events_that_come_during_a_request_are_kept() {
    let s = Scalard::start(&["--ephemeral"]);
    let mut alice = s.client("alice");
    let mut bob = s.client("bob");
    for (seq, text) in [(1, "first"), (2, "second")] {
        say(&mut bob, seq, "alice@localhost", text);
        assert_eq!(
            next(&mut bob),
            format!("Event alice@localhost bob@localhost {text} seq=Some({seq})")
        );
    }
    // Both DMs are in alice's socket before the Meta that answers her Sub.
    let meta = sub_reply(&mut alice, "#kept@localhost");
    assert_eq!(describe(&meta), "Meta #kept@localhost true 1");
    assert!(alice.has_buffered_input());
    assert_eq!(
        next(&mut alice),
        "Event alice@localhost bob@localhost first seq=None"
    );
    say(&mut bob, 3, "alice@localhost", "third");
    assert_eq!(
        next(&mut bob),
        "Event alice@localhost bob@localhost third seq=Some(3)"
    );
    let seq = alice.seq();
    alice
        .send(&Msg::Ping(Ping {
            seq: Some(seq),
            time: 1,
        }))
        .expect("send");
    alice.reply(seq, Instant::now() + WAIT).expect("Pong");
    // Handed on with "second" and "third" held: both come out of the pending bytes, framed.
    let (_, pending) = alice.into_parts();
    let mut rest = pending.as_slice();
    let mut texts = Vec::new();
    while let Ok(Status::Complete((payload, used))) = frame::split(rest) {
        texts.push(describe(&scalar::client::Frame(payload.to_vec())));
        rest = &rest[used..];
    }
    assert_eq!(
        texts,
        [
            "Event alice@localhost bob@localhost second seq=None",
            "Event alice@localhost bob@localhost third seq=None"
        ]
    );
    assert!(rest.is_empty());
}

/// With the default addresses, a port taken on ::1 stops the start like one taken on 127.0.0.1
/// (clients that try ::1 first would reach the other program); only a host without IPv6 goes
/// on with IPv4 alone. Uses the default port, 7667: skipped where it is not free.
#[test]
fn a_taken_default_port_on_ipv6_loopback_is_an_error() {
    let Ok(v6) = std::net::TcpListener::bind("[::1]:7667") else {
        eprintln!("skipped: [::1]:7667 cannot be bound here (no IPv6, or taken)");
        return;
    };
    if std::net::TcpListener::bind("127.0.0.1:7667").is_err() {
        eprintln!("skipped: 127.0.0.1:7667 is taken");
        return;
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scalard"))
        .args(["--ephemeral"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run scalard");
    // It must stop by itself; one that started serving is stopped after 10 s and fails.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        match child.try_wait().expect("wait") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => break None,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    if status.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("stderr");
    drop(v6);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{err}");
    assert!(err.contains("[::1]:7667") && err.contains("in use"), "{err}");
}

/// `--metrics-listen` serves the counters in Prometheus's format while the chat goes on: a
/// scrape sees the connections and messages of a moment before (a tick), and a silent or
/// bad client of the port neither stops it nor the chat.
#[test]
fn the_metrics_endpoint_counts_what_the_server_does() {
    let s = Scalard::start(&["--ephemeral", "--metrics-listen", "127.0.0.1:0"]);
    let addr = s.metrics_addr();
    let mut alice = s.client("alice");
    let mut bob = s.client("bob");
    sub(&mut alice, ROOM);
    sub(&mut bob, ROOM);
    for seq in 1..=3 {
        say(&mut alice, seq, ROOM, "hi");
        next(&mut alice);
        next(&mut bob);
    }
    // A client of the port that says nothing, and one that trickles a byte every 300 ms: each
    // holds the endpoint 2 s at most in all (found in review: a trickle renewed a per-read
    // timeout, for hours).
    let _silent = std::net::TcpStream::connect(&addr).unwrap();
    let mut trickle = std::net::TcpStream::connect(&addr).unwrap();
    let trickler = std::thread::spawn(move || {
        for _ in 0..40 {
            if trickle.write_all(b"G").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    scrape(&addr, "GET /metrics HTTP/1.1\r\n\r\n");
    let waited = start.elapsed();
    assert!(
        waited < Duration::from_secs(8),
        "a scrape behind two stalled clients took {waited:?}"
    );
    let text = scrape_until(&addr, |t| sample(t, "scalard_messages_total") == Some(3));
    assert!(
        !text.contains("scalard_store_"),
        "no store, no store gauges: {text}"
    );
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert_eq!(sample(&text, "scalard_messages_total"), Some(3), "{text}");
    assert_eq!(sample(&text, "scalard_connections"), Some(2), "{text}");
    assert_eq!(sample(&text, "scalard_channels"), Some(1), "{text}");
    assert!(
        sample(&text, "scalard_deliveries_total").is_some_and(|d| d >= 6),
        "{text}"
    );
    let not_found = scrape(&addr, "GET / HTTP/1.1\r\n\r\n");
    assert!(not_found.starts_with("HTTP/1.1 404 Not Found"), "{not_found}");
    let garbage = scrape(&addr, "\x16\x03\x01 not http\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400 Bad Request"), "{garbage}");
    let _ = trickler.join();
    // The chat never noticed.
    say(&mut alice, 9, ROOM, "still here");
    assert_eq!(
        next(&mut bob),
        "Event #room@localhost alice@localhost still here seq=None"
    );
}
