//! A non-blocking connection for the load generator: large buffers, frames handed out as raw
//! payload slices so that counting deliveries costs next to nothing.

use rustls::ClientConnection;
use scalar::client::{Client, Transport};
use scalar::proto::{Body, Message, Msg, Name, Sub};
use scalar::tls::Tls;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// Connects as `user`, subscribes to `channel` and returns the client once the server has
/// confirmed the subscription.
pub fn join(addr: SocketAddr, user: &str, channel: &str) -> io::Result<Client> {
    join_over(addr, None, user, channel)
}

/// [`join`], over TLS with `tls`.
pub fn join_over(addr: SocketAddr, tls: Option<&Tls>, user: &str, channel: &str) -> io::Result<Client> {
    let timeout = Duration::from_secs(10);
    let mut c = Client::connect_with(addr, user, timeout, tls).map_err(io::Error::other)?;
    let topic = Name::parse(channel).map_err(|e| io::Error::other(format!("{channel}: {e}")))?;
    c.request(timeout, |seq| Msg::Sub(Sub { seq, topic }))
        .map_err(io::Error::other)?;
    Ok(c)
}

/// A name the workloads spell out themselves (so it is known to be valid).
pub fn name(s: &str) -> Name<'_> {
    Name::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// The frame of a Message with a text `body` to `topic`, without seq, ctype or reply_to: its
/// Event then ends with the body (see [`tail_number`]).
pub fn message_frame(topic: &str, body: &str) -> io::Result<Vec<u8>> {
    let msg = Message {
        seq: None,
        topic: name(topic),
        body: Body::Text(body),
        ctype: None,
        reply_to: None,
    };
    Msg::Message(msg)
        .to_frame()
        .map_err(|_| io::Error::other("frame"))
}

/// One connection of the load generator.
pub struct Peer {
    /// The socket, registered with the workload's poll.
    pub sock: mio::net::TcpStream,
    /// The TLS session on `sock`, if the server was started with `--tls`.
    tls: Option<Box<ClientConnection>>,
    rbuf: Vec<u8>,
    rlen: usize,
    wbuf: Vec<u8>,
    wpos: usize,
}

impl Peer {
    /// Takes over an identified client's socket (and TLS session).
    pub fn new(c: Client) -> io::Result<Peer> {
        let (transport, pending) = c.into_parts();
        match transport {
            Transport::Plain(stream) => Peer::from_stream(stream, &pending),
            Transport::Tls(owned) => {
                let owned = *owned;
                let mut p = Peer::from_stream(owned.sock, &pending)?;
                p.tls = Some(Box::new(owned.conn));
                Ok(p)
            }
        }
    }

    /// Takes over a plain socket whose handshake is done, with the bytes already read past it.
    pub fn from_stream(stream: std::net::TcpStream, pending: &[u8]) -> io::Result<Peer> {
        stream.set_nonblocking(true)?;
        // Room for what the client had read (its frames held while it waited for a reply
        // included) and as much again to read into.
        let mut rbuf = vec![0u8; 256 * 1024 + pending.len()];
        rbuf[..pending.len()].copy_from_slice(pending);
        Ok(Peer {
            sock: mio::net::TcpStream::from_std(stream),
            tls: None,
            rbuf,
            rlen: pending.len(),
            wbuf: Vec::new(),
            wpos: 0,
        })
    }

    /// Reads until the socket is drained, calling `f` with each whole frame's payload. Returns
    /// false if the server closed the connection.
    pub fn read_frames(&mut self, mut f: impl FnMut(&[u8])) -> io::Result<bool> {
        loop {
            let into = &mut self.rbuf[self.rlen..];
            let read = match &mut self.tls {
                None => self.sock.read(into),
                Some(tls) => read_tls(tls, &mut self.sock, into),
            };
            match read {
                Ok(0) => return Ok(false),
                Ok(n) => self.rlen += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let mut at = 0;
            while self.rlen - at >= 2 {
                let len = usize::from(u16::from_le_bytes([self.rbuf[at], self.rbuf[at + 1]]));
                if self.rlen - at < 2 + len {
                    break;
                }
                f(&self.rbuf[at + 2..at + 2 + len]);
                at += 2 + len;
            }
            self.rbuf.copy_within(at..self.rlen, 0);
            self.rlen -= at;
        }
    }

    /// Queues bytes to send.
    pub fn queue(&mut self, bytes: &[u8]) {
        self.wbuf.extend_from_slice(bytes);
    }

    /// Bytes queued and not yet written (or, over TLS, not yet taken by rustls, which holds at
    /// most its buffer limit of 64 KiB).
    pub fn unsent(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Writes what the socket takes.
    pub fn flush(&mut self) -> io::Result<()> {
        let sock = &mut self.sock;
        // rustls takes nothing while its buffer is full; once more after writing it out, then
        // give up until the next flush rather than spin.
        let mut took_none = false;
        while self.wpos < self.wbuf.len() {
            let pending = &self.wbuf[self.wpos..];
            let written = match &mut self.tls {
                None => sock.write(pending),
                Some(tls) => seal(tls, sock, pending),
            };
            match written {
                Ok(0) if took_none => break,
                Ok(0) => took_none = true,
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(tls) = &mut self.tls {
            // What rustls took but the socket did not, from this flush or an earlier one.
            seal(tls, sock, &[]).or_else(would_block_is_fine)?;
        }
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        }
        Ok(())
    }
}

/// Decrypted bytes into `into`, reading the socket only when rustls has none: `Ok(0)` at the
/// end of the stream, `WouldBlock` when the socket has nothing more.
fn read_tls(
    tls: &mut ClientConnection,
    sock: &mut mio::net::TcpStream,
    into: &mut [u8],
) -> io::Result<usize> {
    loop {
        match tls.reader().read(into) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            done => return done,
        }
        if tls.read_tls(sock)? == 0 {
            return Ok(0);
        }
        tls.process_new_packets().map_err(io::Error::other)?;
    }
}

/// Gives rustls what it takes of `plain` and writes its records out. Returns how many bytes
/// of `plain` it took, even if the socket then filled up; `WouldBlock` only if it took none
/// and the socket is full.
fn seal(tls: &mut ClientConnection, sock: &mut mio::net::TcpStream, plain: &[u8]) -> io::Result<usize> {
    let taken = tls.writer().write(plain)?;
    while tls.wants_write() {
        match tls.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && taken > 0 => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(taken)
}

fn would_block_is_fine(e: io::Error) -> io::Result<usize> {
    match e.kind() {
        io::ErrorKind::WouldBlock => Ok(0),
        _ => Err(e),
    }
}

/// Reads the number written as the last `digits` ASCII digits of an Event payload. A Message
/// with no ctype or reply_to becomes an Event whose body is its last field, so the body's tail is
/// the frame's tail (deterministic encoding, keys in ascending order).
pub fn tail_number(payload: &[u8], digits: usize) -> Option<u64> {
    let tail = payload.get(payload.len().checked_sub(digits)?..)?;
    tail.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

/// True if the payload is an Event (type 7): map head, key 0, value 7.
pub fn is_event(payload: &[u8]) -> bool {
    payload.get(1..3) == Some(&[0x00, 0x07])
}
