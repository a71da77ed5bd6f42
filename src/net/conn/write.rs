//! The output path: frames into the write buffer (or, for a fan-out to a subscriber that is
//! behind, the shared copy into its queue), and from there to the socket in as few system calls
//! as the kernel allows.

use super::Tls;
use super::{BUF, Conn, QUEUE_ENTRY_OVERHEAD, SlowConsumer};
use crate::proto::Msg;
use std::io::{self, IoSlice, Write};
use std::rc::Rc;
use std::time::Instant;

/// At most this many slices (the write buffer and queued frames) go into one `writev`.
pub(super) const WRITE_SLICES: usize = 256;
/// A `writev` stops adding queued frames once it carries this many bytes.
const WRITE_MAX: usize = 256 * 1024;

/// What a queued frame of `len` bytes counts against `max_queue`.
pub(super) fn charge(len: usize) -> usize {
    len + QUEUE_ENTRY_OVERHEAD
}

impl Conn {
    /// Whether a reply may be written to the socket at once instead of into the write buffer:
    /// for a connection whose buffers are not resident (idle, or new), with nothing pending and
    /// nothing else written this turn, so that answering it does not make a page resident, and
    /// a client that pipelines requests still gets its replies in one write per turn. Over TLS,
    /// once the session takes application data.
    pub fn may_write_through(&self) -> bool {
        !self.resident
            && !self.dirty
            && self.closing.is_none()
            && self.flushed()
            && self.tls.as_ref().is_none_or(|t| t.ready())
    }

    /// Writes a frame straight to the socket (see [`may_write_through`](Conn::may_write_through));
    /// what the socket does not take goes into the write buffer, which is empty (over TLS, the
    /// records it does not take wait as records), and a write error is left for the next flush
    /// to find.
    pub fn write_through(&mut self, frame: &[u8], now: Instant) {
        let written = match &mut self.tls {
            // Sealed whole; what a failed write did not take waits as records, so the next
            // flush meets the error again.
            Some(tls) => match tls.send(frame, &mut self.sock) {
                Ok(sent) => sent.unwrap_or(0),
                // The session failed: only its alert goes out, then the connection closes.
                Err(_) if tls.broken => {
                    self.start_closing(now);
                    0
                }
                Err(_) => 0,
            },
            None => loop {
                match self.sock.write(frame) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break 0,
                }
            },
        };
        if written > 0 {
            self.wrote(written, now);
        }
        if self.tls.is_some() {
            return;
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
    pub(super) fn copy_in(&mut self, frame: &[u8]) -> bool {
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
            && self.tls.as_ref().is_none_or(|t| t.unsent().is_none())
    }

    /// Forgets all pending plaintext output: after a TLS error nothing but the alert may
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

    /// Whether its output is so far backed up (more than three quarters of `max_queue`) that
    /// not even the requests taken while it is [backed up](Self::backed_up) may go on if they
    /// have a reply: a client sending Pings or Unsubs without reading would otherwise make
    /// itself a slow consumer with their replies alone.
    pub fn nearly_full(&self, max_queue: usize) -> bool {
        self.pending() > max_queue / 4 * 3
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
            // Taken out for the call so that the TLS state and the buffers can be borrowed together.
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

    /// Encrypts and writes pending output. The next plaintext is encrypted only once every
    /// record before it is written, so the records waiting stay within one write buffer's worth
    /// and the backlog stays in `wbuf` and the queue, where `max_queue` counts it. Plaintext
    /// waits until the handshake lets it out; a closing connection's last frames are followed
    /// by close_notify.
    fn flush_tls(&mut self, tls: &mut Tls, now: Instant) -> io::Result<()> {
        loop {
            while let Some(records) = tls.unsent() {
                match self.sock.write(records) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        tls.sent(n);
                        self.wrote(n, now);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if !tls.ready() {
                // A failed session that nothing started closing: its alert is out, now it
                // ends (failures while reading or writing through start closing at once).
                if tls.broken && self.closing.is_none() {
                    return Err(io::Error::other("the TLS session failed"));
                }
                return Ok(());
            }
            let sent = if self.refill() {
                let sent = tls.send(&self.wbuf[self.wpos..self.wlen], &mut self.sock)?;
                self.wpos = self.wlen;
                sent
            } else if self.closing.is_some() && !tls.close_sent {
                tls.close_sent = true;
                tls.close_notify(&mut self.sock)?
            } else {
                return Ok(());
            };
            match sent {
                Some(n) if n > 0 => self.wrote(n, now),
                Some(_) => {}
                // Closed on both sides: nothing more can go out.
                None => return Ok(()),
            }
        }
    }
}
