//! The TLS layer against mangled input, without sockets: a real client's handshake and records,
//! with bytes flipped, cut, doubled or inserted, fed in pieces of every size. Nothing may
//! panic; untouched input must come through whole.

use super::*;
use rustls::pki_types::ServerName;
use std::collections::VecDeque;

/// A socket in memory: reads give the queued pieces one by one, then WouldBlock; writes take
/// everything.
#[derive(Default)]
struct Pipe {
    pieces: VecDeque<Vec<u8>>,
    written: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(front) = self.pieces.front_mut() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let n = front.len().min(buf.len());
        buf[..n].copy_from_slice(&front[..n]);
        front.drain(..n);
        if front.is_empty() {
            self.pieces.pop_front();
        }
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// xorshift64*: reproducible cases without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// One of: a byte flipped, the end cut off, a stretch doubled, random bytes inserted, or (one
/// time in five) nothing.
fn mangle(bytes: &mut Vec<u8>, rng: &mut Rng) -> bool {
    if bytes.is_empty() {
        return false;
    }
    let at = rng.below(bytes.len());
    match rng.below(5) {
        0 => bytes[at] ^= 1 << rng.below(8),
        1 => bytes.truncate(at),
        2 => {
            let end = (at + 1 + rng.below(64)).min(bytes.len());
            let stretch = bytes[at..end].to_vec();
            bytes.splice(at..at, stretch);
        }
        3 => {
            let junk: Vec<u8> = (0..1 + rng.below(32)).map(|_| rng.below(256) as u8).collect();
            bytes.splice(at..at, junk);
        }
        _ => return false,
    }
    true
}

/// `bytes` in pieces of random sizes, 1 to 3000 bytes.
fn pieces(bytes: &[u8], rng: &mut Rng) -> VecDeque<Vec<u8>> {
    let mut out = VecDeque::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = (1 + rng.below(3000)).min(rest.len());
        out.push_back(rest[..n].to_vec());
        rest = &rest[n..];
    }
    out
}

/// Reads everything the pipe holds through `tls`, as the shell would (plaintext into a small
/// buffer, taken out after each read); sends a frame's worth when the session allows. Returns
/// the plaintext and how the input ended.
fn serve(tls: &mut Tls, sock: &mut Pipe) -> (Vec<u8>, Input) {
    let peer = SocketAddr::from(([127, 0, 0, 1], 1));
    let mut plain = Vec::new();
    let mut free = [0u8; 700];
    for _ in 0..10_000 {
        let (input, n) = tls.read(sock, &mut free, peer);
        plain.extend_from_slice(&free[..n]);
        if let Some(records) = tls.unsent() {
            let n = records.len();
            sock.written.extend_from_slice(records);
            tls.sent(n);
        }
        if tls.ready() {
            tls.send(b"\x01\x00\x00", sock).unwrap_or_default();
        }
        match input {
            Input::Data => {}
            end => return (plain, end),
        }
    }
    panic!("reading never ended");
}

fn setup() -> (Arc<ServerConfig>, Arc<rustls::ClientConfig>) {
    let (server, cert) = crate::net::tls::self_signed();
    let client = crate::net::tls::client_trusting(cert);
    (Arc::new(server), Arc::new(client))
}

fn client(config: &Arc<rustls::ClientConfig>) -> rustls::ClientConnection {
    rustls::ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap()).unwrap()
}

/// A finished handshake between a rustls client and the layer, its records in pieces.
fn handshake(
    server: &Arc<ServerConfig>,
    client_config: &Arc<rustls::ClientConfig>,
    rng: &mut Rng,
) -> (rustls::ClientConnection, Box<Tls>, Pipe) {
    let mut c = client(client_config);
    let mut tls = Tls::new(server.clone()).unwrap();
    let mut sock = Pipe::default();
    for _ in 0..10 {
        let mut out = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut out).unwrap();
        }
        sock.pieces = pieces(&out, rng);
        serve(&mut tls, &mut sock);
        let back = std::mem::take(&mut sock.written);
        c.read_tls(&mut &back[..]).unwrap();
        c.process_new_packets().unwrap();
        if !c.is_handshaking() && !c.wants_write() {
            break;
        }
    }
    assert!(!c.is_handshaking(), "the handshake did not finish");
    (c, tls, sock)
}

/// A finished handshake on fresh configurations, and the randomness (from `seed`) that cut
/// its records, for a test to go on with.
fn session(seed: u64) -> (rustls::ClientConnection, Box<Tls>, Pipe, Rng) {
    let (server, client_config) = setup();
    let mut rng = Rng(seed);
    let (c, tls, sock) = handshake(&server, &client_config, &mut rng);
    (c, tls, sock, rng)
}

/// A record that does not decrypt.
const BAD_RECORD: [u8; 37] = {
    let mut r = [7u8; 37];
    (r[0], r[1], r[2], r[3], r[4]) = (0x17, 0x03, 0x03, 0x00, 0x20);
    r
};

#[test]
fn the_alert_goes_out_behind_a_pending_key_update_reply() {
    let (mut c, mut tls, mut sock, mut rng) = session(0xacce_55ed);
    sock.written.clear();
    // The client updates its keys and asks for the server's update, which rustls queues for
    // the server's next output; then a bad record fails the session before any output.
    c.refresh_traffic_keys().unwrap();
    let mut records = Vec::new();
    while c.wants_write() {
        c.write_tls(&mut records).unwrap();
    }
    records.extend_from_slice(&BAD_RECORD);
    sock.pieces = pieces(&records, &mut rng);
    assert_eq!(serve(&mut tls, &mut sock).1, Input::Broken);
    let back = std::mem::take(&mut sock.written);
    c.read_tls(&mut &back[..]).unwrap();
    let e = c.process_new_packets().unwrap_err();
    assert!(
        matches!(
            e,
            rustls::Error::AlertReceived(rustls::AlertDescription::BadRecordMac)
        ),
        "{e:?}"
    );
}

#[test]
fn input_after_our_close_notify_is_not_looked_at() {
    let (mut c, mut tls, mut sock, mut rng) = session(0xc105_ed00);
    tls.close_sent = true;
    assert!(tls.close_notify(&mut sock).unwrap().is_some());
    let back = std::mem::take(&mut sock.written);
    c.read_tls(&mut &back[..]).unwrap();
    assert!(c.process_new_packets().unwrap().peer_has_closed());
    // A bad record instead of the peer's close_notify: rustls would alert after its
    // close_notify (and, in a debug build, assert against that).
    sock.pieces = pieces(&BAD_RECORD, &mut rng);
    assert_eq!(serve(&mut tls, &mut sock).1, Input::WouldBlock);
    assert!(sock.written.is_empty());
}

#[test]
fn mangled_client_hellos_never_panic() {
    let (server, client_config) = setup();
    let mut hello = Vec::new();
    client(&client_config).write_tls(&mut hello).unwrap();
    let mut rng = Rng(0x5ca1_ab1e);
    let mut broken = 0;
    for _ in 0..4000 {
        let mut bytes = hello.clone();
        mangle(&mut bytes, &mut rng);
        let mut tls = Tls::new(server.clone()).unwrap();
        let mut sock = Pipe {
            pieces: pieces(&bytes, &mut rng),
            ..Pipe::default()
        };
        let (plain, end) = serve(&mut tls, &mut sock);
        assert!(plain.is_empty(), "plaintext out of a ClientHello");
        broken += usize::from(end == Input::Broken);
    }
    assert!(
        broken > 1000,
        "only {broken} of 4000 cases got as far as a TLS error: the test did not test"
    );
}

#[test]
fn mangled_records_after_the_handshake_never_panic_and_whole_ones_arrive() {
    let (server, client_config) = setup();
    let mut rng = Rng(0xfee1_900d);
    let (mut whole, mut broken) = (0, 0);
    for case in 0..1000 {
        let (mut c, mut tls, mut sock) = handshake(&server, &client_config, &mut rng);
        // Then several records (up to the largest), maybe one of their bytes mangled.
        let sent: Vec<u8> = (0..1 + rng.below(40_000)).map(|i| (i * 7 + case) as u8).collect();
        c.writer().write_all(&sent).unwrap();
        if rng.below(4) == 0 {
            c.send_close_notify();
        }
        let mut records = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut records).unwrap();
        }
        let mangled = mangle(&mut records, &mut rng);
        sock.pieces = pieces(&records, &mut rng);
        let (plain, end) = serve(&mut tls, &mut sock);
        if !mangled {
            assert_eq!(plain, sent, "case {case}: untouched records, changed plaintext");
            whole += 1;
        } else {
            assert!(
                sent.starts_with(&plain),
                "case {case}: plaintext that was never sent"
            );
        }
        broken += usize::from(end == Input::Broken);
        if end == Input::Broken {
            assert_eq!(
                tls.read(&mut sock, &mut [0; 16], SocketAddr::from(([127, 0, 0, 1], 1)))
                    .0,
                Input::WouldBlock
            );
        }
    }
    assert!(
        whole > 100 && broken > 100,
        "{whole} whole, {broken} broken: the test did not test"
    );
}

#[test]
fn records_that_arrive_whole_leave_the_connections_receive_buffer_untouched() {
    let (mut c, mut tls, mut sock, _) = session(0x0b5e_55ed);
    tls.release();
    assert!(!tls.resident());
    let records = |c: &mut rustls::ClientConnection, plain: &[u8]| {
        c.writer().write_all(plain).unwrap();
        let mut out = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut out).unwrap();
        }
        out
    };
    // Whole records, each read at once: decrypted in the shared buffer only.
    for i in 0..3u8 {
        sock.pieces = VecDeque::from([records(&mut c, &[i; 500])]);
        assert_eq!(serve(&mut tls, &mut sock).0, [i; 500]);
    }
    assert!(
        !tls.resident(),
        "whole records touched the connection's receive buffer"
    );
    // A record cut in two: its beginning waits in the connection's own buffer.
    let cut = records(&mut c, &[9; 500]);
    sock.pieces = VecDeque::from([cut[..100].to_vec(), cut[100..].to_vec()]);
    assert_eq!(serve(&mut tls, &mut sock).0, [9; 500]);
    assert!(tls.resident());
    tls.release();
    assert!(!tls.resident());
}
