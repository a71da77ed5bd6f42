//! The connection's buffers against real sockets, plain and TLS.

use super::write::WRITE_SLICES;
use super::*;
use crate::net::sockopt::set_send_buffer;
use rustls::pki_types::ServerName;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

/// A TLS connection over loopback: the server side as the shell holds it, and a blocking
/// rustls client that trusts it.
fn pair() -> (
    Conn,
    rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
) {
    let (server, cert) = crate::net::tls::self_signed();
    let client = crate::net::tls::client_trusting(cert);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let csock = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    csock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (ssock, peer) = listener.accept().unwrap();
    ssock.set_nonblocking(true).unwrap();
    let tls = Tls::new(Arc::new(server)).unwrap();
    let conn = Conn::new(TcpStream::from_std(ssock), peer, Instant::now(), Some(tls)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let cconn = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
    (conn, rustls::StreamOwned::new(cconn, csock))
}

/// The TLS client's side in a thread: sends `bytes`, then reads what the server sends until
/// its close_notify, and returns that. It reads at most 16 KiB a millisecond, so that a
/// server writing more than the socket's buffers hold must keep some back (a reader as fast
/// as the writer sometimes let every write through).
fn send_then_read_to_close(
    mut client: rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
    bytes: Vec<u8>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        client.write_all(&bytes).unwrap();
        client.flush().unwrap();
        let (mut back, mut chunk) = (Vec::new(), vec![0u8; 16 * 1024]);
        loop {
            match client.read(&mut chunk).unwrap() {
                0 => return back,
                n => back.extend_from_slice(&chunk[..n]),
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

/// The bytes of `n` frames of growing sizes up to the largest, numbered so that a lost,
/// doubled or reordered byte shows.
fn frames(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let len = [3, 1000, 5000, MAX_FRAME - 2, 16, 12000][i % 6];
            let mut f = (len as u16).to_le_bytes().to_vec();
            f.extend((0..len).map(|j| (i * 7 + j) as u8));
            f
        })
        .collect()
}

/// A plain connection over loopback whose socket takes little at a time, and its client.
fn plain_pair() -> (Conn, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (ssock, peer) = listener.accept().unwrap();
    ssock.set_nonblocking(true).unwrap();
    let conn = Conn::new(TcpStream::from_std(ssock), peer, Instant::now(), None).unwrap();
    set_send_buffer(&conn.sock, 4096).unwrap();
    (conn, client)
}

#[test]
fn a_write_through_keeps_what_the_socket_does_not_take_in_order() {
    let (mut conn, client) = plain_pair();
    // Frames straight to the socket until it takes only part of one: the rest waits in the
    // write buffer, and nothing more goes through until it is written.
    let sent = frames(400);
    let mut n = 0;
    while conn.may_write_through() {
        assert!(n < sent.len(), "the socket never filled up");
        conn.write_through(&sent[n], Instant::now());
        n += 1;
    }
    assert!(conn.resident && conn.pending() > 0);
    let rest: Vec<u8> = sent[n..].concat();
    for f in &sent[n..] {
        conn.push(f, &mut None, usize::MAX, Instant::now()).unwrap();
    }
    assert!(
        !rest.is_empty(),
        "the test did not queue anything behind the write buffer"
    );
    flush_all(&mut conn, client, sent.concat());
}

#[test]
fn a_tls_write_through_touches_no_buffer_and_keeps_unwritten_records_in_order() {
    let (mut conn, client) = pair();
    let hello = frames(1).concat();
    let sent = frames(400);
    let want: Vec<u8> = [hello.clone(), sent.concat()].concat();
    // The client's first frame makes it finish the handshake.
    let reader = send_then_read_to_close(client, hello);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (shared, got) = read_first_frame(&mut conn);
    // The frame it sent comes back first, as a reply would.
    assert!(
        conn.may_write_through(),
        "a TLS connection that only read may write through"
    );
    conn.write_through(&shared[..got], Instant::now());
    // Then frames straight to the socket until its small send buffer leaves records waiting.
    set_send_buffer(&conn.sock, 4096).unwrap();
    let mut n = 0;
    while conn.may_write_through() {
        assert!(n < sent.len(), "the socket never filled up");
        conn.write_through(&sent[n], Instant::now());
        n += 1;
    }
    assert!(
        !conn.resident,
        "a write through over TLS touched the connection's buffers"
    );
    assert!(conn.tls.as_ref().unwrap().unsent().is_some());
    for f in &sent[n..] {
        conn.push(f, &mut None, usize::MAX, Instant::now()).unwrap();
    }
    assert!(
        n < sent.len(),
        "nothing queued behind the waiting records: the test did not test"
    );
    conn.start_closing(Instant::now());
    while !conn.flushed() || !conn.tls.as_ref().unwrap().close_sent {
        assert!(Instant::now() < deadline, "output stalled");
        conn.flush(Instant::now()).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(reader.join().unwrap(), want);
    // Idle: whatever the receive buffer held is given back.
    conn.release_if_idle();
    assert!(!conn.tls.as_ref().unwrap().resident());
}

/// Reads as the shell does, into a shared buffer, until the client's first frame (of
/// [`frames`]) is in: the handshake is done and the session takes application data. Returns
/// the buffer and how much of it the frame fills.
fn read_first_frame(conn: &mut Conn) -> (Vec<u8>, usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut shared = vec![0u8; BUF];
    let mut got = 0;
    while got < frames(1)[0].len() {
        assert!(Instant::now() < deadline, "no handshake");
        let (input, n) = conn.read_into(&mut shared[got..], Instant::now());
        assert!(matches!(input, Input::Data | Input::WouldBlock), "{input:?}");
        got += n;
        conn.flush(Instant::now()).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    (shared, got)
}

#[test]
fn a_write_through_to_a_reset_tls_peer_fails_the_next_flush() {
    let (mut conn, mut client) = pair();
    let hello = std::thread::spawn(move || {
        client.write_all(&frames(1)[0]).unwrap();
        client.flush().unwrap();
        client
    });
    read_first_frame(&mut conn);
    // The peer resets the connection (SO_LINGER 0, then close).
    let client = hello.join().unwrap();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads a linger struct of the size given, on a socket we own.
    let set = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&client.sock),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0);
    drop(client);
    std::thread::sleep(Duration::from_millis(50));
    // A reply written through meets the reset; the records it sealed wait, so a flush meets it
    // again and the shell drops the connection, as it does when plaintext waits.
    assert!(conn.may_write_through());
    conn.write_through(&frames(1)[0], Instant::now());
    assert!(!conn.flushed(), "the records were dropped with the error");
    assert!(conn.flush(Instant::now()).is_err());
}

/// Flushes until everything is written, while a reader checks that exactly `want` arrives.
fn flush_all(conn: &mut Conn, mut client: std::net::TcpStream, want: Vec<u8>) {
    // Read in small pieces, so that the socket keeps filling up and writes end inside
    // frames.
    let reader = std::thread::spawn(move || {
        let mut got = vec![0u8; want.len()];
        for piece in got.chunks_mut(700) {
            client.read_exact(piece).unwrap();
            std::thread::sleep(Duration::from_micros(50));
        }
        assert_eq!(got, want);
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !conn.flushed() {
        assert!(Instant::now() < deadline, "output stalled");
        conn.flush(Instant::now()).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    reader.join().unwrap();
}

#[test]
fn many_small_queued_frames_go_out_whole_and_in_order() {
    let (mut conn, client) = plain_pair();
    // More queued frames than one writev carries, of odd sizes, so that writes end inside
    // frames and the queue is sent over many calls.
    let sent: Vec<Vec<u8>> = (0..3000)
        .map(|i| {
            let len = 1 + i % 37;
            let mut f = (len as u16).to_le_bytes().to_vec();
            f.extend((0..len).map(|j| (i * 13 + j) as u8));
            f
        })
        .collect();
    // A large frame fills the write buffer, so that the small ones queue behind it.
    let filler = vec![0xAB; BUF - 10];
    conn.push(&filler, &mut None, usize::MAX, Instant::now()).unwrap();
    for f in &sent {
        conn.push(f, &mut None, usize::MAX, Instant::now()).unwrap();
    }
    assert!(conn.queue.len() > WRITE_SLICES, "not enough queued frames");
    let mut all = filler;
    all.extend(sent.concat());
    flush_all(&mut conn, client, all);
    assert_eq!((conn.wpos, conn.wlen, conn.queued), (0, 0, 0));
}

#[test]
fn tls_fills_the_read_buffer_in_pieces_and_never_past_it() {
    let (mut conn, client) = pair();
    let sent = frames(60);
    let writer = send_then_read_to_close(client, sent.concat());
    // Play the shell: read, and take whole frames out only when the buffer is full or the
    // socket has nothing more, so that rustls must keep the rest.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    let mut full_seen = 0;
    while got.len() < sent.len() {
        assert!(Instant::now() < deadline, "stalled after {} frames", got.len());
        let input = conn.read(Instant::now());
        conn.flush(Instant::now()).unwrap();
        assert!(conn.rlen <= BUF);
        if conn.rlen == BUF {
            full_seen += 1;
        }
        match input {
            Input::Data if conn.rlen < BUF => continue,
            Input::Data | Input::WouldBlock => {}
            other => panic!("{other:?}"),
        }
        let buf = conn.rbuf.as_mut().unwrap();
        let mut start = 0;
        while let Ok(crate::proto::Status::Complete((_, used))) =
            crate::proto::frame::split(&buf[start..conn.rlen])
        {
            got.push(buf[start..start + used].to_vec());
            start += used;
        }
        buf.copy_within(start..conn.rlen, 0);
        conn.rlen -= start;
        if input == Input::WouldBlock {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(got, sent);
    assert!(
        full_seen > 0,
        "the read buffer was never full: the test did not test"
    );

    // The other way: frames queued behind the write buffer go out encrypted, in order, then
    // close_notify. A small send buffer makes the socket take only part of the records
    // sealed at a time, so the rest must wait in the connection and go out first next time.
    set_send_buffer(&conn.sock, 4096).unwrap();
    for f in &sent {
        conn.push(f, &mut None, usize::MAX, Instant::now()).unwrap();
    }
    conn.start_closing(Instant::now());
    let mut records_waited = 0;
    while !conn.flushed() {
        assert!(Instant::now() < deadline, "output stalled");
        conn.flush(Instant::now()).unwrap();
        records_waited += usize::from(conn.tls.as_ref().unwrap().unsent().is_some());
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        records_waited > 0,
        "the socket always took every record: the test did not test"
    );
    assert!(conn.tls.as_ref().unwrap().close_sent);
    assert_eq!(writer.join().unwrap(), sent.concat());
}

#[test]
fn bad_records_after_the_handshake_break_the_session_and_get_an_alert() {
    let bad: [&[u8]; 4] = [
        // Longer than any record may be.
        &[0x17, 0x03, 0x03, 0x48, 0x01],
        // A record that does not decrypt.
        &[
            0x17, 0x03, 0x03, 0x00, 0x20, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
            7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
        ],
        // A plaintext alert once records are encrypted.
        &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
        // Not TLS at all.
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nand more, and more, and more",
    ];
    for (i, garbage) in bad.into_iter().enumerate() {
        let (mut conn, mut client) = pair();
        let hello = std::thread::spawn(move || {
            client.write_all(&frames(1)[0]).unwrap();
            client.flush().unwrap();
            client
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while conn.rlen == 0 {
            assert!(Instant::now() < deadline, "no plaintext from the handshake");
            conn.read(Instant::now());
            conn.flush(Instant::now()).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut client = hello.join().unwrap();
        client.sock.write_all(garbage).unwrap();
        let broken = loop {
            assert!(Instant::now() < deadline, "the bad record went unnoticed");
            match conn.read(Instant::now()) {
                Input::WouldBlock => std::thread::sleep(Duration::from_millis(1)),
                Input::Data => {}
                other => break other,
            }
        };
        assert_eq!(broken, Input::Broken, "{garbage:?}");
        // The alert goes out as the connection closes (as the shell has it), and the session
        // stays broken: nothing more is read or sent. A session found broken while nothing
        // closes it (as a write through could) makes the flush that sends the alert fail, so
        // that the shell drops the connection.
        if i % 2 == 0 {
            conn.start_closing(Instant::now());
            conn.flush(Instant::now()).unwrap();
        } else {
            assert!(conn.flush(Instant::now()).is_err());
        }
        assert!(conn.flushed());
        assert_eq!(conn.read(Instant::now()), Input::WouldBlock);
        let mut alert = [0u8; 64];
        let n = client.sock.read(&mut alert).unwrap();
        assert!(n >= 5 && [0x15, 0x17].contains(&alert[0]), "{:?}", &alert[..n]);
    }
}
