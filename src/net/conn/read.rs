//! The input path: from the socket (through rustls for TLS) into the shell's shared buffer or
//! the connection's own.

use super::{Conn, Input};
use std::io::{self, Read};
use std::time::Instant;

/// TLS reads (each at most about 4 KiB: rustls grows its buffer by that much per read) per
/// [`Conn::read_into`] call while they yield handshake records but no plaintext.
const TLS_READS: usize = 8;

impl Conn {
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
}
