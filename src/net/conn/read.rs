//! The input path: from the socket (decrypted, for TLS) into the shell's shared buffer or
//! the connection's own.

use super::{Conn, Input};
use std::io::{self, Read};
use std::time::Instant;

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

    /// Decrypted input (see [`Tls::read`](super::Tls::read)).
    fn read_tls(&mut self, free: &mut [u8], now: Instant) -> (Input, usize) {
        let Some(tls) = self.tls.as_mut() else {
            return (Input::WouldBlock, 0);
        };
        let (input, n) = tls.read(&mut self.sock, free, self.peer);
        if tls.took_input() {
            self.last_io = now;
        }
        (input, n)
    }
}
