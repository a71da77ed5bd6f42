//! One connection in the shell: its socket, a fixed 16 KiB read buffer, a fixed 16 KiB write
//! buffer, and a bounded queue of shared Event frames behind the write buffer for moments when a
//! subscriber is a little behind.
//!
//! A TLS connection has the same buffers, holding plaintext: rustls decrypts into the read
//! buffer the core parses, and the write buffer's frames are handed to rustls to encrypt when the
//! socket can take more. Only this file and `tls.rs` know whether a connection is encrypted.

use super::pagebuf::PageBuf;
use super::sockopt::{kernel_unsent, send_buffer, set_send_buffer};
use super::tls::Tls;
use crate::proto::{MAX_FRAME, Msg};
use mio::net::TcpStream;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Size of each of a connection's two buffers: exactly one largest frame.
pub const BUF: usize = MAX_FRAME;

/// How long a closing connection may go without its socket taking any of its last frames.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How long a closing connection that keeps reading slowly may take for its last frames: its
/// write buffer (16 KiB) has to get into the kernel's send buffer, which takes a client reading
/// as little as about 1 KiB/s that long.
pub const CLOSE_LIMIT: Duration = Duration::from_secs(30);

/// What a queued frame counts against `max_queue`: its bytes plus the bookkeeping around them
/// (the shared allocation's counts and the queue slot), so that many tiny frames cannot hold
/// several times the limit in memory.
pub const QUEUE_ENTRY_OVERHEAD: usize = 64;

/// At most this many slices (the write buffer and queued frames) go into one `writev`.
const WRITE_SLICES: usize = 256;
/// A `writev` stops adding queued frames once it carries this many bytes.
const WRITE_MAX: usize = 256 * 1024;

fn charge(len: usize) -> usize {
    len + QUEUE_ENTRY_OVERHEAD
}

/// Output would exceed the connection's queue limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowConsumer;

/// What a read from the socket produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Some bytes arrived.
    Data,
    /// Nothing more for now.
    WouldBlock,
    /// The peer closed its side: it sends nothing more but may still read.
    Eof,
    /// The socket failed (reset, or another error).
    Failed,
    /// The peer broke TLS (garbage instead of a ClientHello, a bad record, an alert): rustls
    /// has queued its alert, which is the last thing to send before closing.
    Broken,
}

/// TLS reads (each at most about 4 KiB: rustls grows its buffer by that much per read) per
/// [`Conn::read_into`] call while they yield handshake records but no plaintext.
const TLS_READS: usize = 8;

/// A connection's socket and buffers.
pub struct Conn {
    /// The socket.
    pub sock: TcpStream,
    /// The peer.
    pub peer: SocketAddr,
    /// Read buffer; `None` only while the frames in it are being processed.
    pub rbuf: Option<PageBuf>,
    /// Bytes in `rbuf`.
    pub rlen: usize,
    wbuf: PageBuf,
    wpos: usize,
    wlen: usize,
    queue: VecDeque<Rc<[u8]>>,
    queued: usize,
    /// Set once the connection is to be closed: it gets no more output and its input is
    /// discarded; it is closed when its output is written or at this deadline, which each
    /// write that makes progress pushes back (see [`start_closing`](Conn::start_closing)).
    pub closing: Option<Instant>,
    /// The latest the deadline can be pushed back to.
    close_limit: Instant,
    /// While closing: what the kernel's send queue would hold if the peer had taken nothing
    /// since the last look (see [`check_unsent`](Conn::check_unsent)).
    unsent: usize,
    /// Queued in the shell's list of connections to flush.
    pub dirty: bool,
    /// Last read or write, for giving idle buffers' pages back.
    pub last_io: Instant,
    /// Whether the buffers may hold resident pages.
    pub resident: bool,
    /// TLS state, for connections accepted on a TLS listener.
    pub tls: Option<Box<Tls>>,
    /// Since when the read buffer has been full while the core held the input for its rate.
    pub full_since: Option<Instant>,
    /// Its requests are not read while this much of its output waits: see
    /// [`backed_up`](Conn::backed_up).
    pub paused: bool,
    /// In the shell's list of connections to read again next turn (kept as a flag so that
    /// adding to the list is O(1) however many connections are held).
    pub unread: bool,
}

impl Conn {
    /// Wraps an accepted socket, mapping its two buffers; `tls` for a TLS listener's.
    pub fn new(sock: TcpStream, peer: SocketAddr, now: Instant, tls: Option<Box<Tls>>) -> io::Result<Self> {
        Ok(Conn {
            sock,
            peer,
            rbuf: Some(PageBuf::new(BUF)?),
            rlen: 0,
            wbuf: PageBuf::new(BUF)?,
            wpos: 0,
            wlen: 0,
            queue: VecDeque::new(),
            queued: 0,
            closing: None,
            close_limit: now,
            unsent: 0,
            dirty: false,
            last_io: now,
            resident: false,
            tls,
            full_since: None,
            paused: false,
            unread: false,
        })
    }

    /// Starts closing, unless already closing: the connection is closed once its output is
    /// written, or when the peer has taken nothing (neither the socket new bytes, nor the peer
    /// any from the kernel's queue) for [`CLOSE_GRACE`], or after [`CLOSE_LIMIT`] at the latest.
    /// So a peer that reads, however slowly, gets its last frames (for a slow consumer, the
    /// Error that says why); one that stopped reading is gone soon.
    pub fn start_closing(&mut self, now: Instant) {
        if self.closing.is_none() {
            self.closing = Some(now + CLOSE_GRACE);
            self.close_limit = now + CLOSE_LIMIT;
            self.unsent = kernel_unsent(&self.sock).unwrap_or(0);
        }
    }

    /// `n` bytes of output reached the socket: a closing connection's deadline moves back.
    fn wrote(&mut self, n: usize, now: Instant) {
        self.last_io = now;
        if self.closing.is_some() {
            self.unsent += n;
            self.closing = Some((now + CLOSE_GRACE).min(self.close_limit));
        }
    }

    /// For a closing connection whose deadline passed: grows its send buffer by what is still
    /// to be written and writes it, so that the last frames (for a slow consumer, the Error that
    /// says why) go out whole after the close, as the peer reads on. A reader slower than the
    /// grace on a link whose window reopens in large steps (64 KiB on loopback) otherwise got a
    /// frame cut short. The growth is bounded: one write buffer, plus what rustls may hold for a
    /// TLS connection, plus room for a segment the kernel already holds past its limit; a
    /// longer backlog (a close the core started with a queue behind it) is cut as before, as is
    /// anything past what `net.core.wmem_max` lets a socket have.
    pub fn hand_rest_to_kernel(&mut self, now: Instant) {
        if self.flushed() {
            return;
        }
        let tls = if self.tls.is_some() { 2 * BUF } else { 0 };
        let rest = self.pending().min(BUF) + tls;
        if let Some(granted) = send_buffer(&self.sock) {
            // The kernel doubles what it is asked for.
            let ask = granted / 2 + rest + 64 * 1024;
            if ask * 2 > granted {
                let _ = set_send_buffer(&self.sock, ask);
            }
        }
        let _ = self.flush(now);
        if !self.flushed() {
            log::debug!(
                "{}: {} bytes of the last frames not taken by the kernel",
                self.peer,
                self.pending()
            );
        }
    }

    /// For a closing connection: moves its deadline back if the kernel's send queue shrank
    /// since the last look (the peer acknowledged bytes: it has room for them, which a client
    /// that stopped reading runs out of within one receive buffer). A reader slower than the send buffer can go
    /// seconds without the socket taking anything new (the kernel reopens a small receive
    /// window in steps), while it is in fact still reading what is already on its way.
    pub fn check_unsent(&mut self, now: Instant) {
        let Some(left) = kernel_unsent(&self.sock) else {
            return;
        };
        if left < self.unsent && self.closing.is_some() {
            self.closing = Some((now + CLOSE_GRACE).min(self.close_limit));
        }
        self.unsent = left;
    }

    /// Whether a reply may be written to the socket at once instead of into the write buffer:
    /// for a connection whose buffers are not resident (idle, or new), with nothing pending and
    /// nothing else written this turn, so that answering it does not make a page resident, and
    /// a client that pipelines requests still gets its replies in one write per turn.
    pub fn may_write_through(&self) -> bool {
        !self.resident && !self.dirty && self.tls.is_none() && self.closing.is_none() && self.flushed()
    }

    /// Writes a frame straight to the socket (see [`may_write_through`](Conn::may_write_through));
    /// what the socket does not take goes into the write buffer, which is empty, and a write
    /// error is left for the next flush to find.
    pub fn write_through(&mut self, frame: &[u8], now: Instant) {
        let written = loop {
            match self.sock.write(frame) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break 0,
            }
        };
        if written > 0 {
            self.wrote(written, now);
        }
        if let Some(rest) = frame.get(written..).filter(|r| !r.is_empty()) {
            self.copy_in(rest);
        }
    }

    /// Appends a frame to the output, copying it into the write buffer when it fits and nothing
    /// is queued ahead of it, else queueing the shared copy (made once per fan-out, on demand).
    ///
    /// Output is normally written once per loop turn. When the queue would pass `max_queue`,
    /// the socket is tried first: only a peer whose kernel buffer is full too is a slow
    /// consumer, not one that a burst within a single turn got ahead of.
    pub fn push(
        &mut self,
        frame: &[u8],
        shared: &mut Option<Rc<[u8]>>,
        max_queue: usize,
        now: Instant,
    ) -> Result<(), SlowConsumer> {
        if self.closing.is_some() {
            return Ok(());
        }
        if self.queue.is_empty() && self.copy_in(frame) {
            return Ok(());
        }
        if self.queued + charge(frame.len()) > max_queue {
            // A write error is left for the next flush to find.
            let _ = self.flush(now);
            if self.queue.is_empty() && self.copy_in(frame) {
                return Ok(());
            }
            if self.queued + charge(frame.len()) > max_queue {
                return Err(SlowConsumer);
            }
        }
        let rc = shared.get_or_insert_with(|| Rc::from(frame)).clone();
        self.queued += charge(rc.len());
        self.queue.push_back(rc);
        Ok(())
    }

    /// Encodes a message straight into the write buffer, if nothing is queued ahead of it and
    /// it fits (after moving pending bytes to the front, if need be). Returns false when the
    /// caller must take the slow path: encode elsewhere and [`push`](Conn::push) the frame.
    pub fn encode_in(&mut self, msg: &Msg<'_>) -> bool {
        if self.closing.is_some() {
            return true;
        }
        if !self.queue.is_empty() {
            return false;
        }
        for attempt in 0..2 {
            if let Ok(n) = msg.encode(&mut self.wbuf[self.wlen..]) {
                self.wlen += n;
                self.resident = true;
                return true;
            }
            if attempt == 0 && self.wpos > 0 {
                self.wbuf.copy_within(self.wpos..self.wlen, 0);
                self.wlen -= self.wpos;
                self.wpos = 0;
            } else {
                break;
            }
        }
        false
    }

    /// Drops the frames queued behind the write buffer (what is in the buffer, possibly a frame
    /// already partly written, stays): for a slow consumer, whose last frames must be the reason
    /// it is cut off, and must get through within the close grace period.
    pub fn drop_queue(&mut self) -> usize {
        let dropped = self.queue.len();
        self.queue.clear();
        self.queued = 0;
        dropped
    }

    /// Appends a frame even past the queue limit: only for the last Error and Bye of a
    /// connection that is being closed.
    pub fn push_final(&mut self, frame: &[u8]) {
        if self.queue.is_empty() && self.copy_in(frame) {
            return;
        }
        self.queued += charge(frame.len());
        self.queue.push_back(Rc::from(frame));
    }

    /// Copies into the write buffer if there is room, moving pending bytes to the front first
    /// when that makes room.
    fn copy_in(&mut self, frame: &[u8]) -> bool {
        if self.wlen + frame.len() > BUF {
            if self.wlen - self.wpos + frame.len() > BUF {
                return false;
            }
            self.wbuf.copy_within(self.wpos..self.wlen, 0);
            self.wlen -= self.wpos;
            self.wpos = 0;
        }
        self.wbuf[self.wlen..self.wlen + frame.len()].copy_from_slice(frame);
        self.wlen += frame.len();
        self.resident = true;
        true
    }

    /// True if no output is pending, plaintext or (for TLS) encrypted.
    pub fn flushed(&self) -> bool {
        self.wpos == self.wlen
            && self.queue.is_empty()
            && self.tls.as_ref().is_none_or(|t| !t.conn.wants_write())
    }

    /// Forgets all pending plaintext output: after a TLS error nothing but rustls's alert may
    /// be sent.
    pub fn discard_output(&mut self) {
        self.wpos = 0;
        self.wlen = 0;
        self.drop_queue();
    }

    /// Output pending: bytes in the buffer, plus the queue as charged against `max_queue`.
    pub fn pending(&self) -> usize {
        self.wlen - self.wpos + self.queued
    }

    /// Whether so much of its output waits (more than half of `max_queue`) that its requests
    /// should wait too: a client that pipelines requests without reading the replies is slowed
    /// down by TCP rather than cut off as a slow consumer, since the replies it made the server
    /// produce never outgrow the queue that way.
    pub fn backed_up(&self, max_queue: usize) -> bool {
        self.pending() > max_queue / 2
    }

    /// Whether a connection whose requests wait for its output may go on: a quarter of
    /// `max_queue` at most is left, so it does not stop and start on every frame.
    pub fn drained(&self, max_queue: usize) -> bool {
        self.pending() <= max_queue / 4
    }

    /// When the write buffer is fully written, refills it from the queue, as many whole frames
    /// as fit, so that one write carries many frames. False if there is nothing left to write.
    fn refill(&mut self) -> bool {
        if self.wpos == self.wlen {
            self.wpos = 0;
            self.wlen = 0;
            while let Some(front) = self.queue.front() {
                if self.wlen + front.len() > BUF {
                    break;
                }
                self.wbuf[self.wlen..self.wlen + front.len()].copy_from_slice(front);
                self.wlen += front.len();
                self.queued -= charge(front.len());
                self.queue.pop_front();
            }
        }
        self.wlen > self.wpos
    }

    /// Writes as much pending output as the socket takes.
    pub fn flush(&mut self, now: Instant) -> io::Result<()> {
        if let Some(mut tls) = self.tls.take() {
            // Taken out for the call so that rustls and the buffers can be borrowed together.
            let result = self.flush_tls(&mut tls, now);
            self.tls = Some(tls);
            return result;
        }
        loop {
            if self.wpos == self.wlen && self.queue.is_empty() {
                return Ok(());
            }
            match self.write_out() {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.consume(n);
                    self.wrote(n, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// One system call for the write buffer and the queued frames behind it (as many as
    /// [`WRITE_SLICES`] and [`WRITE_MAX`] allow): the queued frames go from their shared copies,
    /// never copied into this connection's buffer, and a loop turn's fan-out to a busy
    /// subscriber is one `writev`, not one `write` per 16 KiB.
    fn write_out(&mut self) -> io::Result<usize> {
        if self.queue.is_empty() {
            return self.sock.write(&self.wbuf[self.wpos..self.wlen]);
        }
        let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
        let mut used = 0;
        let mut bytes = 0;
        if self.wpos < self.wlen {
            slices[0] = IoSlice::new(&self.wbuf[self.wpos..self.wlen]);
            used = 1;
            bytes = self.wlen - self.wpos;
        }
        for (slot, frame) in slices[used..].iter_mut().zip(&self.queue) {
            if bytes >= WRITE_MAX {
                break;
            }
            *slot = IoSlice::new(frame);
            bytes += frame.len();
            used += 1;
        }
        self.sock.write_vectored(&slices[..used])
    }

    /// Accounts for `n` bytes written by [`write_out`](Conn::write_out): first from the write
    /// buffer, then whole queued frames; the rest of a frame the socket took only part of moves
    /// into the (by then empty) write buffer, so the queue holds only whole frames.
    fn consume(&mut self, mut n: usize) {
        let head = n.min(self.wlen - self.wpos);
        self.wpos += head;
        n -= head;
        if self.wpos == self.wlen {
            self.wpos = 0;
            self.wlen = 0;
        }
        while n > 0 {
            let Some(front) = self.queue.pop_front() else {
                break;
            };
            self.queued -= charge(front.len());
            if n < front.len() {
                let rest = front.len() - n;
                self.wbuf[..rest].copy_from_slice(&front[n..]);
                self.wlen = rest;
                self.resident = true;
                break;
            }
            n -= front.len();
        }
    }

    /// Encrypts and writes pending output. rustls is handed the next plaintext only once it
    /// has written everything it holds, so its own buffer stays within one write buffer's worth
    /// of records and the backlog stays in `wbuf` and the queue, where `max_queue` counts it.
    /// Plaintext waits until the handshake is done; a closing connection's last frames are
    /// followed by close_notify.
    fn flush_tls(&mut self, tls: &mut Tls, now: Instant) -> io::Result<()> {
        loop {
            while tls.conn.wants_write() {
                match tls.conn.write_tls(&mut self.sock) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => self.wrote(n, now),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if tls.broken || tls.conn.is_handshaking() {
                return Ok(());
            }
            if !self.refill() {
                if self.closing.is_none() || tls.close_sent {
                    return Ok(());
                }
                tls.conn.send_close_notify();
                tls.close_sent = true;
                continue;
            }
            match tls.conn.writer().write(&self.wbuf[self.wpos..self.wlen]) {
                Ok(n) if n > 0 => self.wpos += n,
                // rustls's buffer limit, which the loop above keeps us under: wait for a
                // writable socket rather than spin.
                Ok(_) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the read buffer is full (it then holds whole frames only: none is longer).
    pub fn read_full(&self) -> bool {
        self.rbuf.as_ref().is_some_and(|b| self.rlen >= b.len())
    }

    /// Reads into the free part of the read buffer: once from a plain socket; through rustls
    /// for TLS.
    pub fn read(&mut self, now: Instant) -> Input {
        let Some(mut buf) = self.rbuf.take() else {
            return Input::WouldBlock;
        };
        let (input, n) = self.read_into(buf.get_mut(self.rlen..).unwrap_or_default(), now);
        self.rbuf = Some(buf);
        self.rlen += n;
        self.resident |= n > 0;
        input
    }

    /// Reads into `buf` (the shell's shared buffer, or the free part of the connection's own):
    /// what it produced, and how many bytes.
    pub fn read_into(&mut self, buf: &mut [u8], now: Instant) -> (Input, usize) {
        if self.tls.is_some() {
            return self.read_tls(buf, now);
        }
        loop {
            return match self.sock.read(buf) {
                Ok(0) => (Input::Eof, 0),
                Ok(n) => {
                    self.last_io = now;
                    (Input::Data, n)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => (Input::WouldBlock, 0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => (Input::Failed, 0),
            };
        }
    }

    /// Keeps bytes the core did not take (a partial frame, or frames it cannot take yet) in
    /// the connection's own buffer, which must be empty; they fit, being at most one buffer.
    pub fn keep(&mut self, bytes: &[u8]) {
        if let Some(buf) = self.rbuf.as_mut()
            && let Some(to) = buf.get_mut(self.rlen..self.rlen + bytes.len())
        {
            to.copy_from_slice(bytes);
            self.rlen += bytes.len();
            self.resident |= !bytes.is_empty();
        }
    }

    /// Decrypted input: first the plaintext rustls already holds, then, once that is all in
    /// `free`, more records from the socket (read_tls and process_new_packets until a record
    /// yields plaintext or the socket would block).
    ///
    /// `free` is never overfilled: plaintext is copied in as far as it has room, and the rest
    /// stays in rustls until the core has consumed whole frames. The socket is only read while
    /// rustls holds no plaintext, so rustls holds at most what one `read_tls` brings in (one
    /// buffer of at most about 18 KiB of records; it refuses to read past 16 KiB of undelivered
    /// plaintext anyway).
    fn read_tls(&mut self, free: &mut [u8], now: Instant) -> (Input, usize) {
        let Some(tls) = self.tls.as_mut() else {
            return (Input::WouldBlock, 0);
        };
        if tls.broken {
            return (Input::WouldBlock, 0);
        }
        for _ in 0..TLS_READS {
            if free.is_empty() {
                // Full: a whole frame is in the buffer (no frame is longer than the buffer),
                // which the caller processes before reading again.
                return (Input::Data, 0);
            }
            match tls.conn.reader().read(free) {
                // Ok(0) with room to spare: the peer sent close_notify.
                Ok(0) => return (Input::Eof, 0),
                Ok(n) => {
                    self.last_io = now;
                    return (Input::Data, n);
                }
                // No plaintext buffered: read more records.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The TCP connection ended without close_notify. Frames are self-delimiting, so
                // a truncation is only ever a partial frame, which the core never sees.
                Err(_) => return (Input::Eof, 0),
            }
            match tls.conn.read_tls(&mut self.sock) {
                Ok(0) => return (Input::Eof, 0),
                Ok(_) => self.last_io = now,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (Input::WouldBlock, 0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A socket error, or a handshake message too large to buffer.
                Err(_) => return (Input::Failed, 0),
            }
            if let Err(e) = tls.conn.process_new_packets() {
                log::debug!("{}: TLS: {e}", self.peer);
                tls.broken = true;
                return (Input::Broken, 0);
            }
        }
        // Handshake records without plaintext yet: let the caller flush the reply and read again.
        (Input::Data, 0)
    }

    /// Reads and discards raw bytes the peer sent last (at most `reads` reads), without
    /// decrypting them: so that closing sends FIN rather than RST.
    pub fn drain(&mut self, reads: usize) {
        let Some(buf) = self.rbuf.as_mut() else { return };
        for _ in 0..reads {
            match self.sock.read(&mut buf[..]) {
                Ok(n) if n > 0 => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        self.rlen = 0;
    }

    /// Gives the buffers' pages back to the kernel if both are empty.
    pub fn release_if_idle(&mut self) -> bool {
        if !self.resident || self.rlen != 0 || !self.flushed() {
            return false;
        }
        if let Some(r) = self.rbuf.as_mut() {
            r.release();
        }
        self.wbuf.release();
        self.resident = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{PrivateKeyDer, ServerName};
    use std::sync::Arc;

    /// A TLS connection over loopback: the server side as the shell holds it, and a blocking
    /// rustls client that trusts it.
    fn pair() -> (
        Conn,
        rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
    ) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ck.cert.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
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
        let (mut conn, mut client) = pair();
        let sent = frames(60);
        let all: Vec<u8> = sent.concat();
        let writer = std::thread::spawn(move || {
            client.write_all(&all).unwrap();
            client.flush().unwrap();
            // Then read back what the server sends, until it closes with close_notify.
            let mut back = Vec::new();
            client.read_to_end(&mut back).unwrap();
            back
        });
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

        // The other way: frames queued behind the write buffer go out through rustls, in
        // order, then close_notify.
        for f in &sent {
            conn.push(f, &mut None, usize::MAX, Instant::now()).unwrap();
        }
        conn.start_closing(Instant::now());
        while !conn.flushed() {
            assert!(Instant::now() < deadline, "output stalled");
            conn.flush(Instant::now()).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(conn.tls.as_ref().unwrap().close_sent);
        assert_eq!(writer.join().unwrap(), sent.concat());
    }
}
