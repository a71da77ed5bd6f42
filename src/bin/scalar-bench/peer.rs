//! A non-blocking connection for the load generator: large buffers, frames handed out as raw
//! payload slices so that counting deliveries costs next to nothing.

use scalar::client::Client;
use scalar::proto::{Body, Message, Msg, Name, Sub};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// Connects as `user`, subscribes to `channel` and returns the client once the server has
/// confirmed the subscription.
pub fn join(addr: SocketAddr, user: &str, channel: &str) -> io::Result<Client> {
    let timeout = Duration::from_secs(10);
    let mut c = Client::connect(addr, user, timeout).map_err(io::Error::other)?;
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
    rbuf: Vec<u8>,
    rlen: usize,
    wbuf: Vec<u8>,
    wpos: usize,
}

impl Peer {
    /// Takes over an identified client's socket.
    pub fn new(c: Client) -> io::Result<Peer> {
        let (stream, pending) = c.into_parts();
        let stream = stream
            .into_plain()
            .map_err(|_| io::Error::other("scalar-bench peers speak plain TCP"))?;
        Peer::from_stream(stream, &pending)
    }

    /// Takes over a socket whose handshake is done, with the bytes already read past it.
    pub fn from_stream(stream: std::net::TcpStream, pending: &[u8]) -> io::Result<Peer> {
        stream.set_nonblocking(true)?;
        // Room for what the client had read (its frames held while it waited for a reply
        // included) and as much again to read into.
        let mut rbuf = vec![0u8; 256 * 1024 + pending.len()];
        rbuf[..pending.len()].copy_from_slice(pending);
        Ok(Peer {
            sock: mio::net::TcpStream::from_std(stream),
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
            match self.sock.read(&mut self.rbuf[self.rlen..]) {
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

    /// Bytes queued and not yet written.
    pub fn unsent(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Writes what the socket takes.
    pub fn flush(&mut self) -> io::Result<()> {
        while self.wpos < self.wbuf.len() {
            match self.sock.write(&self.wbuf[self.wpos..]) {
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        }
        Ok(())
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
