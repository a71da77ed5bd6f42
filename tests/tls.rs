//! scalard over TLS, end to end: the real binary on 127.0.0.1 with certificates made by rcgen
//! at test time, a small blocking rustls client speaking raw Scalar frames, every wait bounded.

mod common;

use common::*;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use scalar::client::Frame;
use scalar::proto::*;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROOM: &str = "#room@localhost";

/// A self-signed certificate for "localhost" and its key, as PEM and as the DER a client trusts.
struct Cert {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn make_cert() -> Cert {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    Cert {
        cert_pem: ck.cert.pem(),
        key_pem: ck.signing_key.serialize_pem(),
        der: ck.cert.der().clone(),
    }
}

/// The PEM files scalard serves, in a directory removed when the test ends.
struct Pems {
    dir: DataDir,
}

impl Pems {
    fn new(cert: &Cert) -> Pems {
        let p = Pems { dir: DataDir::new() };
        p.write(cert);
        p
    }

    fn cert(&self) -> String {
        self.dir.0.join("fullchain.pem").to_string_lossy().into_owned()
    }

    fn key(&self) -> String {
        self.dir.0.join("privkey.pem").to_string_lossy().into_owned()
    }

    /// Replaces both files, each atomically (write then rename), as certbot's symlink swap does.
    fn write(&self, cert: &Cert) {
        for (path, text) in [(self.cert(), &cert.cert_pem), (self.key(), &cert.key_pem)] {
            let tmp = format!("{path}.tmp");
            std::fs::write(&tmp, text).expect("write PEM");
            std::fs::rename(&tmp, &path).expect("rename PEM");
        }
    }
}

/// Starts scalard with a TLS listener serving `pems`, plus `flags`.
fn start(pems: &Pems, flags: &[&str]) -> Scalard {
    Scalard::start_tls(&pems.cert(), &pems.key(), flags)
}

fn client_config(trusted: &[&Cert]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in trusted {
        roots.add(c.der.clone()).expect("add root");
    }
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A blocking TLS client speaking raw Scalar frames.
struct TlsClient {
    s: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl TlsClient {
    /// Connects and completes the handshake, trusting only `trusted`.
    fn connect(addr: SocketAddr, trusted: &[&Cert]) -> io::Result<TlsClient> {
        let sock = TcpStream::connect_timeout(&addr, WAIT)?;
        sock.set_read_timeout(Some(WAIT))?;
        sock.set_write_timeout(Some(WAIT))?;
        sock.set_nodelay(true)?;
        let name = ServerName::try_from("localhost").expect("server name");
        let conn = ClientConnection::new(client_config(trusted), name).map_err(io::Error::other)?;
        let mut s = StreamOwned::new(conn, sock);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        Ok(TlsClient { s, buf: Vec::new() })
    }

    /// Connects and identifies as `user@localhost`.
    fn ident(addr: SocketAddr, trusted: &[&Cert], user: &str) -> TlsClient {
        let mut c = TlsClient::connect(addr, trusted).expect("TLS handshake");
        let id = format!("{user}@localhost");
        c.send(&Msg::Ident(Ident::new(Some(1), &[VERSION], name(&id))));
        assert_eq!(c.next(), format!("Ident {id}"));
        c
    }

    fn send(&mut self, msg: &Msg<'_>) {
        let bytes = scalar::client::encode(msg).expect("encode");
        self.s.write_all(&bytes).expect("send");
        self.s.flush().expect("flush");
    }

    fn recv(&mut self) -> io::Result<Frame> {
        let mut chunk = [0u8; 4096];
        loop {
            match scalar::proto::frame::split(&self.buf) {
                Ok(Status::Complete((payload, used))) => {
                    let f = Frame(payload.to_vec());
                    self.buf.drain(..used);
                    return Ok(f);
                }
                Ok(Status::Partial) => {}
                Err(e) => return Err(io::Error::other(format!("frame too long: {}", e.0))),
            }
            match self.s.read(&mut chunk)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn next(&mut self) -> String {
        describe(&self.recv().expect("a frame"))
    }

    fn sub(&mut self, seq: u32, topic: &str) -> String {
        self.send(&Msg::Sub(Sub {
            seq: Some(seq),
            topic: name(topic),
        }));
        self.next()
    }

    fn say(&mut self, seq: u32, topic: &str, text: &str) {
        self.send(&Msg::Message(Message {
            seq: Some(seq),
            topic: name(topic),
            body: Body::Text(text),
            ctype: None,
            reply_to: None,
        }));
    }
}

/// Reads from a raw socket until the server closes it; panics if it stays open past `within`.
fn expect_closed(mut sock: TcpStream, within: Duration) -> Duration {
    let started = Instant::now();
    sock.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 1024];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            // An alert, or nothing useful: keep reading until the close.
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return started.elapsed(),
            // A signal reaching this thread is not the server's answer.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
        assert!(
            started.elapsed() < within,
            "the server did not close the connection"
        );
    }
}

#[test]
fn a_tls_client_idents_subscribes_and_gets_its_echo() {
    let a = make_cert();
    let pems = Pems::new(&a);
    let s = start(&pems, &[]);
    let tls = s.tls_addr.expect("TLS address");
    let mut alice = TlsClient::ident(tls, &[&a], "alice");
    assert_eq!(alice.sub(2, ROOM), "Meta #room@localhost true 1");
    alice.say(3, ROOM, "hello over TLS");
    assert_eq!(
        alice.next(),
        "Event #room@localhost alice@localhost hello over TLS seq=Some(3)"
    );
    // A clean goodbye: the server closes with close_notify (rustls reads it as a clean EOF;
    // a bare TCP close would be an UnexpectedEof error).
    alice.send(&Msg::Bye(Bye {
        code: 0,
        reason: None,
    }));
    let mut rest = [0u8; 16];
    assert_eq!(alice.s.read(&mut rest).expect("close_notify, then EOF"), 0);
}

#[test]
fn plain_and_tls_clients_share_a_channel() {
    let a = make_cert();
    let pems = Pems::new(&a);
    let s = start(&pems, &[]);
    let mut alice = TlsClient::ident(s.tls_addr.expect("TLS"), &[&a], "alice");
    let mut bob = s.client("bob");
    assert_eq!(alice.sub(2, ROOM), "Meta #room@localhost true 1");
    assert_eq!(sub(&mut bob, ROOM), "Meta #room@localhost true 2");
    alice.say(3, ROOM, "from TLS");
    assert_eq!(
        alice.next(),
        "Event #room@localhost alice@localhost from TLS seq=Some(3)"
    );
    assert_eq!(
        next(&mut bob),
        "Event #room@localhost alice@localhost from TLS seq=None"
    );
    say(&mut bob, 9, ROOM, "from plain");
    assert_eq!(
        next(&mut bob),
        "Event #room@localhost bob@localhost from plain seq=Some(9)"
    );
    assert_eq!(
        alice.next(),
        "Event #room@localhost bob@localhost from plain seq=None"
    );
}

#[test]
fn a_client_that_does_not_trust_the_certificate_fails_and_others_go_on() {
    let (a, other) = (make_cert(), make_cert());
    let pems = Pems::new(&a);
    let s = start(&pems, &[]);
    let tls = s.tls_addr.expect("TLS");
    let mut alice = TlsClient::ident(tls, &[&a], "alice");
    let err = TlsClient::connect(tls, &[&other])
        .err()
        .expect("handshake must fail");
    assert!(
        err.to_string().contains("UnknownIssuer") || err.to_string().contains("certificate"),
        "{err}"
    );
    assert_eq!(alice.sub(2, ROOM), "Meta #room@localhost true 1");
    let mut bob = TlsClient::ident(tls, &[&a], "bob");
    assert_eq!(bob.sub(2, ROOM), "Meta #room@localhost true 2");
}

#[test]
fn garbage_instead_of_a_client_hello_is_closed_cleanly() {
    let a = make_cert();
    let pems = Pems::new(&a);
    let s = start(&pems, &[]);
    let tls = s.tls_addr.expect("TLS");
    let mut alice = TlsClient::ident(tls, &[&a], "alice");
    for garbage in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        &raw_frame(b"\xa1\x00\x01")[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0][..],
    ] {
        let mut sock = TcpStream::connect(tls).expect("connect");
        sock.write_all(garbage).expect("send garbage");
        expect_closed(sock, WAIT);
    }
    assert_eq!(alice.sub(2, ROOM), "Meta #room@localhost true 1");
    let mut bob = TlsClient::ident(tls, &[&a], "bob");
    assert_eq!(bob.sub(2, ROOM), "Meta #room@localhost true 2");
    // The server is alive and still logs normally (no panic message on stderr).
    assert!(s.log.try_iter().all(|l| !l.contains("panicked")));
}

#[test]
fn a_tls_peer_sending_a_byte_a_record_is_held_to_what_the_records_cost() {
    let a = make_cert();
    let pems = Pems::new(&a);
    let s = start(&pems, &["--flood-bytes", "2000,2000"]);
    let mut alice = TlsClient::ident(s.tls_addr.expect("TLS"), &[&a], "alice");
    // 40 Pings, each byte in a record of its own: about 360 bytes of frames, 8 KB of records,
    // each of which costs the loop as much work as a record of a whole frame.
    let frames: Vec<u8> = (0..40)
        .flat_map(|i| {
            Msg::Ping(Ping {
                seq: Some(i),
                time: 0,
            })
            .to_frame()
            .expect("frame")
        })
        .collect();
    let began = Instant::now();
    for byte in &frames {
        alice.s.write_all(std::slice::from_ref(byte)).expect("send");
        alice.s.flush().expect("flush");
    }
    for i in 0..40 {
        assert_eq!(alice.next(), format!("Pong 0 seq=Some({i})"));
    }
    // Held to the records' bytes, 2,000 a second after a burst of 2,000: about 3 s.
    assert!(began.elapsed() >= Duration::from_secs(2), "{:?}", began.elapsed());
}

/// What `s` logged until a TLS session that begins now: a session's line marks where the log
/// stands after what came before it.
fn log_until_a_session(s: &Scalard, cert: &Cert) -> Vec<String> {
    let _alice = TlsClient::ident(s.tls_addr.expect("TLS"), &[cert], "alice");
    let mut lines = Vec::new();
    while lines
        .last()
        .is_none_or(|l: &String| !l.contains("is alice@localhost"))
    {
        lines.push(s.log.recv_timeout(WAIT).expect("the session's log line"));
    }
    lines
}

#[test]
fn what_a_tls_peer_sends_does_not_fill_the_log() {
    let a = make_cert();
    let pems = Pems::new(&a);
    let s = start(&pems, &[]);
    let tls = s.tls_addr.expect("TLS");
    // Four TLS 1.2 warning alerts (no_renegotiation), as many as rustls takes, then application
    // data before any handshake: rustls warns of each, five lines a connection.
    let mut garbage = [0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x64].repeat(4);
    garbage.extend_from_slice(&[0x17, 0x03, 0x03, 0x00, 0x01, 0x00]);
    for _ in 0..3 {
        let mut sock = TcpStream::connect(tls).expect("connect");
        sock.write_all(&garbage).expect("send garbage");
        expect_closed(sock, WAIT);
    }
    let lines = log_until_a_session(&s, &a);
    assert!(lines.iter().all(|l| !l.contains("rustls")), "{lines:#?}");
}

#[test]
fn a_stalled_handshake_is_closed_by_the_handshake_timeout() {
    let a = make_cert();
    let pems = Pems::new(&a);
    let s = start(&pems, &["--handshake-timeout", "1"]);
    let tls = s.tls_addr.expect("TLS");
    // Silent from the start.
    let silent = TcpStream::connect(tls).expect("connect");
    // Half a ClientHello.
    let mut half = TcpStream::connect(tls).expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let mut conn = ClientConnection::new(client_config(&[&a]), name).expect("client");
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).expect("ClientHello");
    half.write_all(&hello[..hello.len() / 2]).expect("send half");
    // The timeout (1 s) is followed by the close grace period (2 s) during which the Error could
    // still go out if the handshake completed; the tick is 1 s. The bound leaves room for a
    // loaded machine: what is checked is that both are closed, not how fast.
    let bound = Duration::from_secs(20);
    assert!(expect_closed(silent, bound) >= Duration::from_millis(900));
    expect_closed(half, bound);
    // Meanwhile and afterwards, TLS clients are served.
    let mut alice = TlsClient::ident(tls, &[&a], "alice");
    assert_eq!(alice.sub(2, ROOM), "Meta #room@localhost true 1");
}

#[test]
fn a_tls_client_that_never_idents_gets_the_timeout_error_encrypted() {
    let a = make_cert();
    let pems = Pems::new(&a);
    let s = start(&pems, &["--handshake-timeout", "1"]);
    let mut c = TlsClient::connect(s.tls_addr.expect("TLS"), &[&a]).expect("handshake");
    assert_eq!(c.next(), "Error 203 handshake_timeout seq=None");
    assert_eq!(c.next(), "Bye 203 handshake_timeout");
    let mut rest = [0u8; 16];
    assert_eq!(c.s.read(&mut rest).expect("close_notify, then EOF"), 0);
}

#[test]
fn large_and_pipelined_frames_cross_tls_both_ways() {
    let a = make_cert();
    let pems = Pems::new(&a);
    // The sender reads its echoes only after sending everything: let them queue.
    let s = start(&pems, &["--max-queue", "16000000"]);
    let tls = s.tls_addr.expect("TLS");
    let mut alice = TlsClient::ident(tls, &[&a], "alice");
    let mut bob = TlsClient::ident(tls, &[&a], "bob");
    assert_eq!(alice.sub(2, ROOM), "Meta #room@localhost true 1");
    assert_eq!(bob.sub(2, ROOM), "Meta #room@localhost true 2");
    // Sizes that make frames straddle TLS records (at most 16 KiB of plaintext each) and the
    // server's 16 KiB read buffer in every way, up to the largest body a Message may carry.
    let sizes = [1, 700, 4000, 9000, MAX_BODY - 1, MAX_BODY, 16, MAX_BODY];
    const N: usize = 240;
    let text = move |i: usize| {
        let n = sizes[i % sizes.len()].max(6);
        let mut t = format!("{i:06}");
        t.extend(std::iter::repeat_n((b'a' + (i % 26) as u8) as char, n - 6));
        t
    };
    let reader = std::thread::spawn(move || {
        for i in 0..N {
            let f = bob.recv().expect("event");
            let Ok(Msg::Event(e)) = f.msg() else {
                panic!("expected an Event")
            };
            assert_eq!(e.body, Body::Text(&text(i)), "event {i}");
        }
        bob
    });
    // Everything in as few writes as possible: rustls cuts it into records as it likes.
    let mut batch = Vec::new();
    for i in 0..N {
        let body = text(i);
        let m = Msg::Message(Message {
            seq: Some(i as u32 + 10),
            topic: name(ROOM),
            body: Body::Text(&body),
            ctype: None,
            reply_to: None,
        });
        batch.extend(scalar::client::encode(&m).expect("encode"));
    }
    alice.s.write_all(&batch).expect("send all");
    alice.s.flush().expect("flush");
    for i in 0..N {
        let f = alice.recv().expect("echo");
        let Ok(Msg::Event(e)) = f.msg() else {
            panic!("expected an Event")
        };
        assert_eq!((e.seq, e.body), (Some(i as u32 + 10), Body::Text(&text(i))));
    }
    let mut bob = reader.join().expect("reader");
    bob.send(&Msg::Ping(Ping {
        seq: Some(5),
        time: 1,
    }));
    assert_eq!(bob.next(), "Pong 1 seq=Some(5)");
}

/// Two certificates, a server serving the first, and a client of it in #room: for reloads.
struct Reloads {
    a: Cert,
    b: Cert,
    pems: Pems,
    s: Scalard,
    tls: std::net::SocketAddr,
    watcher: TlsClient,
}

impl Reloads {
    fn start() -> Reloads {
        let (a, b) = (make_cert(), make_cert());
        let pems = Pems::new(&a);
        let s = start(&pems, &[]);
        let tls = s.tls_addr.expect("TLS");
        let mut watcher = TlsClient::ident(tls, &[&a], "watcher");
        assert_eq!(watcher.sub(2, ROOM), "Meta #room@localhost true 1");
        Reloads {
            a,
            b,
            pems,
            s,
            tls,
            watcher,
        }
    }
}

fn sighup(s: &Scalard) {
    // SAFETY: kill only sends a signal to our own child.
    assert_eq!(unsafe { libc::kill(s.child.id() as i32, libc::SIGHUP) }, 0);
}

#[test]
fn sighup_reloads_the_certificate_without_dropping_anyone() {
    let Reloads {
        a,
        b,
        pems,
        s,
        tls,
        mut watcher,
    } = Reloads::start();

    // A few clients chat through the reload.
    const CHATTERS: usize = 3;
    const LINES: usize = 60;
    let mut chatters = Vec::new();
    for n in 0..CHATTERS {
        let mut c = TlsClient::ident(tls, &[&a], &format!("chatter{n}"));
        assert!(c.sub(2, ROOM).starts_with("Meta #room@localhost true"));
        chatters.push(c);
    }
    let threads: Vec<_> = chatters
        .into_iter()
        .enumerate()
        .map(|(n, mut c)| {
            std::thread::spawn(move || {
                for i in 0..LINES {
                    c.say(i as u32 + 10, ROOM, &format!("{n}:{i}"));
                    std::thread::sleep(Duration::from_millis(5));
                }
                // Every echo arrives, in order, among the others' Events.
                let mut echoed = 0;
                while echoed < LINES {
                    let f = c.recv().expect("frame");
                    if let Ok(Msg::Event(e)) = f.msg()
                        && e.seq.is_some()
                    {
                        assert_eq!(e.seq, Some(echoed as u32 + 10));
                        echoed += 1;
                    }
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(100));
    pems.write(&b);
    sighup(&s);
    s.expect_log("TLS certificate reloaded");
    // New clients get B; a client trusting only A no longer connects.
    let mut fresh = TlsClient::ident(tls, &[&b], "fresh");
    assert!(TlsClient::connect(tls, &[&a]).is_err());

    // A failed reload keeps B.
    std::fs::write(pems.key(), "not a key\n").expect("break the key");
    sighup(&s);
    s.expect_log("TLS reload failed");
    let _still_b = TlsClient::ident(tls, &[&b], "still");
    // A certificate clients would refuse (a CA's), with a key not its own: refused, and not
    // warned about as if it were the one in use (helper 141).
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params
        .self_signed(&rcgen::KeyPair::generate().expect("key"))
        .expect("CA");
    pems.write(&Cert {
        cert_pem: ca.pem(),
        key_pem: b.key_pem.clone(),
        der: ca.der().clone(),
    });
    sighup(&s);
    let said = s.expect_log("TLS");
    assert!(said.contains("TLS reload failed"), "{said}");
    let _still_b = TlsClient::ident(tls, &[&b], "still");

    for t in threads {
        t.join().expect("chatter");
    }
    // The watcher, connected with A all along, saw every line of every chatter, in order.
    let mut next_of = [0usize; CHATTERS];
    while next_of.iter().any(|&n| n < LINES) {
        let f = watcher.recv().expect("event");
        let Ok(Msg::Event(e)) = f.msg() else { continue };
        let Body::Text(t) = e.body else { panic!("text") };
        let (n, i) = t.split_once(':').expect("n:i");
        let (n, i): (usize, usize) = (n.parse().expect("n"), i.parse().expect("i"));
        assert_eq!(i, next_of[n], "chatter {n}");
        next_of[n] += 1;
    }
    // And it still publishes and receives, as does the client that came after the reload.
    // (The chatters have left or are leaving, so the count is not checked.)
    assert!(fresh.sub(2, ROOM).starts_with("Meta #room@localhost true "));
    watcher.say(99, ROOM, "still here");
    assert_eq!(
        watcher.next(),
        "Event #room@localhost watcher@localhost still here seq=Some(99)"
    );
    assert_eq!(
        fresh.next(),
        "Event #room@localhost watcher@localhost still here seq=None"
    );
}

/// A named pipe put in place of the certificate blocked the reload reading it until a writer
/// came, for good if none did (found by QA, with the configuration file): it is refused, the
/// certificate in use is kept and everyone is served; with the file back, the next SIGHUP
/// reloads. (That a reload stuck on a hung mount stalls no one is `net::reload`'s test.)
#[test]
fn a_named_pipe_in_place_of_the_certificate_is_refused_on_reload() {
    let Reloads {
        a,
        b,
        pems,
        s,
        tls,
        mut watcher,
    } = Reloads::start();
    std::fs::remove_file(pems.cert()).expect("remove");
    let fifo = std::ffi::CString::new(pems.cert()).expect("path");
    // SAFETY: mkfifo reads a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    sighup(&s);
    s.expect_log("not a regular file");
    watcher.say(3, ROOM, "still served");
    assert_eq!(
        watcher.next(),
        "Event #room@localhost watcher@localhost still served seq=Some(3)"
    );
    let mut during = TlsClient::ident(tls, &[&a], "during");
    assert!(during.sub(2, ROOM).starts_with("Meta #room@localhost true"));
    std::fs::remove_file(pems.cert()).expect("remove the pipe");
    std::fs::write(pems.key(), &b.key_pem).expect("key");
    std::fs::write(pems.cert(), &b.cert_pem).expect("cert");
    sighup(&s);
    s.expect_log("TLS certificate reloaded");
    let _fresh = TlsClient::ident(tls, &[&b], "fresh");
}

const P521_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIHuAgEAMBAGByqGSM49AgEGBSuBBAAjBIHWMIHTAgEBBEIAirqegvNqbveTHc1h
n3OsS0b6JQv25yl0UqhWJq3iw3HG0lnWisiknZo9wK9EEBIq+blLbfu4Ln+bYDo3
Mk/KZPahgYkDgYYABAGkhciozcSMmyrHUP2mC7mTK36AHLYbXw5V/q2nAaEjmThg
bf6GSnwOzwFEy9mmfbI7LjBQscaAolf03kvMUgw6zgDGL8LljFrd/jHAW+u0vP53
J86zYjxjt0CScTxFLwYd8JnIc50+rjtcWqrelmn9Tw+u+K03tfRcO/ywvcadayWl
Iw==
-----END PRIVATE KEY-----
";

/// An Ed25519 key encrypted with a passphrase (`openssl pkcs8 -topk8 -v2 aes-256-cbc`).
const ENCRYPTED_KEY: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhd9fTLU77tYgICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEH+mha1T87yZ9rHrf5OtuwAEQHea
G8GDtAmC1KfZAL3qfEA4dm6UcR978zRB+C2iOjny3TLIFfFgO8tL2fCppkM9FRK1
LW2qFdcx50GASIrQOhk=
-----END ENCRYPTED PRIVATE KEY-----
";

/// An RSA key in OpenSSL's older encrypted PKCS#1 form (`openssl genrsa -aes128 -traditional`).
const ENCRYPTED_RSA_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: AES-128-CBC,2ABFB08FF267A5EC6D4A72431D58A5EB

DChQONcXRhnLwsuy8KDrAdsW+jVriQjIjqNX/8/k620Q4lPz75DSxU55iWlLo3ot
F4RG+KMCrSNB2Yfm/XwHf+mytKNoIQuba0O+foc29Vier1AUpppcNR4aE45Qkib9
T9X7VP3ZL9SZQbsRgCRn+Qsn4eML5MRpMFW4AVeJ0FlaYsUtC9073W6tM5M0d8uA
6u9KU6U9Bj8PcoQr/q8qae3Q8SAHiRRPA9M7BwVRb0L2weADdTBF/BVac4uzGjfW
jdOU3PKARerS1CQmz9qKpONGiJbLjRPy1lWhQxWKHnkfaojsH1h8suIsA//USvtZ
kVnoG0lndpR4fX1h4nr8SW2Uzjqyc2OdcKL5qFXB5r9xuDrZieL2aWCI5+JEukt2
LVMlSO2E4lzPOimL6tG5pxipDh7YHAKAm+bnNMwiz4mqiYoSMwIqg9yrPtfMFRgo
DdMr9UYY/sW3ic0hoP3x2eoGdMAkVico0SxBQiF1hWBpbknr1RJk1WcPgUQHpvlb
33Rg2oRA87necFO6/womTbjWeyqTsWW+0fX2aiL9NpxwrKLiUgOFzy+xAsHQ2hEB
auUSOMO281GT03KzFeB05XlmUjFl9HrmTGqKhw7lbMWBakjjuBeEf2tnaZI/QDH7
Q0o11tPOQ0mZxAGOeATczF0wc66Hd4qBWpqcKvOgnj8kKezNjNZp2PDKtS0QA7kz
r3A6HcIRCbvBDbOaXoy8vMdklxSggXPGw5cyCE/hYyiE3PMb+ye1f77gxiuTQdd9
gZgWmR09r3DPVdfzLrtCMog3h0VPFz9VUzyY2KnI3HkK2Cy94ehINAqU3DGIvpa3
eUVUekwEcJQl8aEVvd7kuIBTNjeg5TRMTr1/zLR3joFK5C/o03DECL29gb9Lsy07
pR5vOG3ZW++pIMZ87W9CF9f8lkp1n1J1nYx4FBiV1BgpydtxdFo32W1oXHOx8npV
+1CLhW63lSom+cGqxGr+TbfPdXB9VCyY7eEiSPrPBS6PC4RW5V0aPofv74xN4vct
OvDHCC0eXly5ikBzPTdBNZf4rZmueymVocGN/wGRIqxaGLN8XsWL6LUs0WDl0SgR
yAtV97LKYD50b0N13UC5k60axRkrCne7l9aXGQUy1Quq0pvN0n/QfUFubU643ssz
+vCTy9c45uU/aoJTd5G4oFapCyuozNINnt23NQuwqGs4Dkcu8F0lauoR9GgpMNOM
AK427L7rBMI9J0FCjBTs7UhrI5iyUuBUYEzbTUfzkR0EeIEtbKUVrDML9T73n3PD
SeLVso3SxQEpa5D2RZx2v/lNTHuwXdLcEVVqQJzAJDUVbZKNtrFau2lm7YeRYyXu
EeH2iT6olbY/yxAoETNwuHX+P7yunrNuNGgyuQ2oXoaudYfIV6kBww7kDUNLSlfT
zcx1oTPzmPNFDYzBwH+Fr6ieu4Y+vjvcLVzB+yhFg+EhBV/D6bKGPO2XenkWTeUe
Z+FLK6YRqxmQUTrFrg8dXiOofG3Tpqij3tGVBxNkkpDpEojW1rh/YmcL9EHSxHOe
KtyiPTCuxSgPB1eGH1CyxaZ4X54x2nIRq4QCJQuN58kYut5EqxMuZIU3S5DjSCbr
-----END RSA PRIVATE KEY-----
";

#[test]
fn bad_certificate_files_stop_scalard_at_start() {
    let a = make_cert();
    let pems = Pems::new(&a);
    let missing = format!("{}/nope.pem", pems.dir.path());
    let not_pem = format!("{}/garbage.pem", pems.dir.path());
    std::fs::write(&not_pem, "hello\n").expect("write");
    // A P-521 key (made with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521`,
    // as certbot's --elliptic-curve secp521r1 makes): ring cannot sign with it.
    let p521 = format!("{}/p521.pem", pems.dir.path());
    std::fs::write(&p521, P521_KEY).expect("write");
    let encrypted = format!("{}/encrypted.pem", pems.dir.path());
    std::fs::write(&encrypted, ENCRYPTED_KEY).expect("write");
    let encrypted_rsa = format!("{}/encrypted-rsa.pem", pems.dir.path());
    std::fs::write(&encrypted_rsa, ENCRYPTED_RSA_KEY).expect("write");
    let other_key = format!("{}/otherkey.pem", pems.dir.path());
    std::fs::write(&other_key, make_cert().key_pem).expect("write");
    // Cut short, as a certificate still being written would be.
    let cut = format!("{}/cut.pem", pems.dir.path());
    std::fs::write(&cut, &a.cert_pem[..100]).expect("write");
    let (cert, key) = (pems.cert(), pems.key());
    for (c, k, needle) in [
        (missing.as_str(), key.as_str(), "nope.pem"),
        (cert.as_str(), not_pem.as_str(), "garbage.pem: no private key"),
        (
            not_pem.as_str(),
            key.as_str(),
            "garbage.pem: no certificate in it",
        ),
        (
            cut.as_str(),
            key.as_str(),
            "cut.pem: cut short: the \"-----END CERTIFICATE-----\" line is missing",
        ),
        // A certificate where the key should be.
        (cert.as_str(), cert.as_str(), "fullchain.pem: no private key"),
        // The key of another certificate: rustls refuses the pair, said in words.
        (
            cert.as_str(),
            other_key.as_str(),
            "the private key does not match the certificate",
        ),
        (cert.as_str(), p521.as_str(), "not P-521"),
        (
            cert.as_str(),
            encrypted.as_str(),
            "encrypted.pem: the private key is encrypted with a passphrase",
        ),
        (
            cert.as_str(),
            encrypted_rsa.as_str(),
            "encrypted-rsa.pem: the private key is encrypted with a passphrase",
        ),
        // A device, not a file: refused, not read without end.
        ("/dev/zero", key.as_str(), "not a regular file"),
    ] {
        let out = run_tls_listener(&["--tls-cert", c, "--tls-key", k]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("TLS") && err.contains(needle), "{err}");
    }
    let out = run_tls_listener(&[]);
    assert_eq!(out.status.code(), Some(2), "a config error");
}

/// Runs scalard with a TLS listener and `flags` to its exit (on its own ports: the default one
/// may be taken by a server running on this machine).
fn run_tls_listener(flags: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_scalard"))
        .args([
            "--ephemeral",
            "--listen",
            "127.0.0.1:0",
            "--tls-listen",
            "127.0.0.1:0",
        ])
        .args(flags)
        .output()
        .expect("run scalard")
}

#[test]
fn refusals_and_shutdown_reach_tls_clients_encrypted() {
    let a = make_cert();
    let pems = Pems::new(&a);
    // One connection at most: a second one is refused at accept, and the refusal waits for its
    // handshake to finish.
    let s = start(&pems, &["--max-connections", "1"]);
    let tls = s.tls_addr.expect("TLS");
    let mut alice = TlsClient::ident(tls, &[&a], "alice");
    let mut refused = TlsClient::connect(tls, &[&a]).expect("handshake");
    assert_eq!(refused.next(), "Error 500 too_many_connections seq=None");
    assert_eq!(refused.next(), "Bye 500 too_many_connections");
    let mut rest = [0u8; 16];
    assert_eq!(refused.s.read(&mut rest).expect("close_notify"), 0);
    drop(refused);

    // SIGTERM: Bye 504, encrypted, then close_notify, and scalard exits 0.
    let mut s = s;
    // SAFETY: kill only sends a signal to our own child.
    assert_eq!(unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) }, 0);
    assert_eq!(alice.next(), "Bye 504 shutting_down");
    assert_eq!(alice.s.read(&mut rest).expect("close_notify"), 0);
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(st) = s.child.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "scalard did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
}

#[test]
fn tls_connections_refused_at_accept_do_not_hold_every_descriptor() {
    let a = make_cert();
    let pems = Pems::new(&a);
    let (cert, key) = (pems.cert(), pems.key());
    // 96 descriptors less 64: max-connections 32, of which one per address.
    let flags = [&tls_flags(&cert, &key)[..], &["--max-per-address", "1"]].concat();
    let s = Scalard::start_with_fd_limit(96, &flags);
    let tls = s.tls_addr.expect("TLS");
    // Stopped while they arrive, so that all are accepted in one turn: 120 connections that
    // never start their handshake, all but the first refused for their address. Each refusal
    // waits for a handshake to be sent; held through the close grace, they took every
    // descriptor (found by QA: `accept failed: Too many open files`, and nobody else was
    // accepted meanwhile).
    s.signal(libc::SIGSTOP);
    let burst: Vec<_> = (0..120)
        .map(|_| TcpStream::connect(tls).expect("connect"))
        .collect();
    s.signal(libc::SIGCONT);
    // A newcomer is answered at once (refused for its address, which the burst holds).
    let mut late = s.raw();
    assert_eq!(next(&mut late), "Error 501 too_many_from_address seq=None");
    while let Ok(line) = s.log.recv_timeout(Duration::from_millis(300)) {
        assert!(!line.contains("accept failed"), "{line}");
    }
    // Once the burst's grace (2 s) is over, a refused TLS client that does shake hands still
    // gets its Error.
    std::thread::sleep(Duration::from_secs(3));
    let mut refused = TlsClient::connect(tls, &[&a]).expect("handshake");
    assert_eq!(refused.next(), "Error 501 too_many_from_address seq=None");
    drop(burst);
}

#[test]
fn a_tls_client_on_the_plain_port_is_told_at_once() {
    let a = make_cert();
    let pems = Pems::new(&a);
    // A handshake timeout long enough that waiting for it would show.
    let s = start(&pems, &["--handshake-timeout", "10"]);
    let began = Instant::now();
    let e = TlsClient::connect(s.addr, &[&a])
        .err()
        .expect("a TLS handshake with the plain port");
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "told only after {:?}: {e}",
        began.elapsed()
    );
    // What came back is plain Scalar, which rustls reads as a record of no TLS version.
    assert!(e.to_string().contains("corrupt message"), "{e}");
    // A plain client is still served.
    let mut plain = scalar::client::Client::connect(s.addr, "plain@localhost", WAIT).expect("plain client");
    assert!(plain.ping(WAIT).is_ok());
}

#[test]
fn a_large_client_hello_on_the_plain_port_is_told_at_once() {
    let a = make_cert();
    let pems = Pems::new(&a);
    let s = start(&pems, &["--handshake-timeout", "10"]);
    // A ClientHello over 790 bytes reads as a whole frame of 0x0316 bytes: a post-quantum key
    // share (browsers, OpenSSL 3.5) makes one 1-2 KB; long ALPN names stand in for it here.
    let mut config = (*client_config(&[&a])).clone();
    config.alpn_protocols = vec![vec![b'x'; 200]; 6];
    let name = ServerName::try_from("localhost").expect("server name");
    let mut tls = ClientConnection::new(Arc::new(config), name).expect("client");
    let mut hello = Vec::new();
    tls.write_tls(&mut hello).expect("ClientHello");
    assert!(hello.len() > 0x0316 + 2, "a ClientHello of {} bytes", hello.len());
    let mut raw = s.raw();
    raw.send_raw(&hello).expect("send");
    let f = raw.recv().expect("an answer");
    match f.msg() {
        Ok(Msg::Error(e)) => {
            assert_eq!(e.code, 100);
            assert_eq!(e.reason, Some("this port speaks plain Scalar, not TLS"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(next(&mut raw), "Bye 100 malformed");
    assert!(raw.recv().is_err(), "closed");
}

/// An IPv4 address of this host other than loopback, if it has one: a socket bound to it that
/// connects to 127.0.0.1 stays on this host, yet is a remote peer to `plain = loopback`.
fn own_non_loopback_v4() -> Option<std::net::Ipv4Addr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` on success; it is walked while alive and freed once.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return None;
        }
        let mut found = None;
        let mut at = list;
        while let Some(ifa) = at.as_ref() {
            if let Some(sa) = ifa.ifa_addr.as_ref()
                && i32::from(sa.sa_family) == libc::AF_INET
            {
                let sin = &*ifa.ifa_addr.cast::<libc::sockaddr_in>();
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() && !ip.is_unspecified() {
                    found = Some(ip);
                    break;
                }
            }
            at = ifa.ifa_next;
        }
        libc::freeifaddrs(list);
        found
    }
}

#[test]
fn plain_tcp_refused_from_other_hosts_does_not_fill_the_log() {
    let Some(own) = own_non_loopback_v4() else {
        eprintln!("skipped: this host has no IPv4 address but loopback");
        return;
    };
    let a = make_cert();
    let pems = Pems::new(&a);
    let s = start(&pems, &["--plain", "loopback"]);
    // Fifty plain connections from a non-loopback address: each is closed at once.
    for _ in 0..50 {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        sock.bind(&SocketAddr::from((own, 0)).into()).expect("bind");
        sock.connect(&s.addr.into()).expect("connect");
        expect_closed(TcpStream::from(sock), WAIT);
    }
    // The refusals are counted in one line a minute at most, which does not name them.
    let lines = log_until_a_session(&s, &a);
    let said = lines.iter().filter(|l| l.contains(&own.to_string())).count();
    assert_eq!(said, 0, "{lines:#?}");
}

#[test]
fn plain_loopback_still_serves_loopback_peers() {
    // Remote peers cannot be simulated without network namespaces; the decision itself is
    // unit-tested in src/net/tls.rs. Here: loopback plain and TLS clients both work.
    let a = make_cert();
    let pems = Pems::new(&a);
    let s = start(&pems, &["--plain", "loopback"]);
    let mut bob = s.client("bob");
    assert_eq!(sub(&mut bob, ROOM), "Meta #room@localhost true 1");
    let mut alice = TlsClient::ident(s.tls_addr.expect("TLS"), &[&a], "alice");
    assert_eq!(alice.sub(2, ROOM), "Meta #room@localhost true 2");
}

/// Connections per kind in [`memory_per_connection`].
const MEASURED: usize = 1000;

/// What TLS costs in resident memory per connection, idle and after some traffic, against
/// plain TCP: a measurement for docs/PERFORMANCE.md, not a test. Run it against a release
/// build: `cargo test --release --test tls -- --ignored --nocapture memory`.
#[test]
#[ignore]
fn memory_per_connection() {
    let a = make_cert();
    let pems = Pems::new(&a);
    let settle = || std::thread::sleep(Duration::from_secs(4));
    let flags = ["--max-per-address", "5000", "--idle-timeout", "600"];
    for tls in [false, true] {
        // A fresh server for each kind, so neither inherits the other's freed heap.
        let s = start(&pems, &flags);
        settle();
        let base = s.rss_kib();
        let body = "x".repeat(8000);
        let rss = if tls {
            let addr = s.tls_addr.expect("TLS");
            let mut cs: Vec<TlsClient> = (0..MEASURED)
                .map(|i| TlsClient::ident(addr, &[&a], &format!("u{i}")))
                .collect();
            settle();
            let idle = s.rss_kib();
            for (i, c) in cs.iter_mut().enumerate() {
                let topic = format!("#c{i}@localhost");
                assert!(c.sub(2, &topic).starts_with("Meta"));
                c.say(3, &topic, &body);
                assert!(c.next().starts_with("Event"));
            }
            settle();
            (idle, s.rss_kib())
        } else {
            let mut cs: Vec<_> = (0..MEASURED).map(|i| s.client(&format!("u{i}"))).collect();
            settle();
            let idle = s.rss_kib();
            for (i, c) in cs.iter_mut().enumerate() {
                let topic = format!("#c{i}@localhost");
                assert!(sub(c, &topic).starts_with("Meta"));
                say(c, 3, &topic, &body);
                assert!(next(c).starts_with("Event"));
            }
            settle();
            (idle, s.rss_kib())
        };
        let per = |kib: u64| kib.saturating_sub(base) as f64 * 1024.0 / MEASURED as f64;
        println!(
            "{}: VmRSS {base} KiB before, {} KiB with {MEASURED} idle identified connections \
             ({:.0} bytes each), {} KiB after each sent and received an 8 KB Event and \
             idled 4 s ({:.0} bytes each)",
            if tls { "tls" } else { "plain" },
            rss.0,
            per(rss.0),
            rss.1,
            per(rss.1),
        );
    }
}

/// A connection made from `from` to `to` (another loopback address than 127.0.0.1 stands for
/// another host).
fn connect_from(from: std::net::Ipv4Addr, to: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.bind(&SocketAddr::from((from, 0)).into()).expect("bind");
    sock.connect(&to.into()).expect("connect");
    TcpStream::from(sock)
}

#[test]
fn a_session_probed_while_tls_refusals_wait_for_handshakes_stays_open() {
    let a = make_cert();
    let pems = Pems::new(&a);
    let s = start(&pems, &["--max-per-address", "1"]);
    let mut alice = s.client("alice");
    // Silent long enough that a connection refused for her address probes her with a Ping
    // (server/probe.rs, 10 s).
    std::thread::sleep(Duration::from_secs(11));
    // Another host opens TLS connections that never shake hands: one admitted, the rest
    // refused for their address, some held through the grace for their Error.
    let tls = s.tls_addr.expect("TLS");
    let other = std::net::Ipv4Addr::new(127, 0, 0, 2);
    let burst: Vec<_> = (0..12).map(|_| connect_from(other, tls)).collect();
    std::thread::sleep(Duration::from_millis(300));
    // A newcomer from alice's address is refused, and her connection probed: the Ping is
    // output of this accept, yet she is no closing connection and must not be closed with
    // the refused ones.
    let mut late = s.raw();
    assert_eq!(next(&mut late), "Error 501 too_many_from_address seq=None");
    assert_eq!(next(&mut alice), "Ping");
    still_served(&mut alice);
    drop(burst);
}
