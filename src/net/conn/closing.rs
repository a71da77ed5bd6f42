//! Closing: a connection's last frames get out to a peer that reads, however slowly, and one
//! that stopped reading is gone soon.

use super::write::charge;
use super::{BUF, Conn};
use crate::net::sockopt::{kernel_unsent, send_buffer, set_send_buffer};
use crate::proto::{Msg, Status, decode_frame};
use std::time::{Duration, Instant};

/// How many bytes of queued frames (behind the write buffer) a connection whose close deadline
/// passed still gets: about what the kernel takes in one step of a small receive window.
const KEPT_AT_DEADLINE: usize = 64 * 1024;

/// How long a closing connection may go without its socket taking any of its last frames.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How long a closing connection that keeps reading slowly may take for its last frames: its
/// write buffer (16 KiB) has to get into the kernel's send buffer, which takes a client reading
/// as little as about 1 KiB/s that long.
pub const CLOSE_LIMIT: Duration = Duration::from_secs(30);

/// A closing connection's deadlines.
#[derive(Debug)]
pub struct Closing {
    /// When it is closed unless the peer takes more of its output: each write that makes
    /// progress pushes it back.
    pub deadline: Instant,
    /// The latest the deadline can be pushed back to.
    limit: Instant,
    /// What the kernel's send queue would hold if the peer had taken nothing since the last
    /// look (see [`check_unsent`](Conn::check_unsent)).
    unsent: usize,
}

impl Closing {
    /// The peer took some output: it gets another grace period, within the limit.
    fn extend(&mut self, now: Instant) {
        self.deadline = (now + CLOSE_GRACE).min(self.limit);
    }
}

impl Conn {
    /// Starts closing, unless already closing: the connection is closed once its output is
    /// written, or when the peer has taken nothing (neither the socket new bytes, nor the peer
    /// any from the kernel's queue) for [`CLOSE_GRACE`], or after [`CLOSE_LIMIT`] at the latest.
    /// So a peer that reads, however slowly, gets its last frames (for a slow consumer, the
    /// Error that says why); one that stopped reading is gone soon.
    pub fn start_closing(&mut self, now: Instant) {
        if self.closing.is_none() {
            self.closing = Some(Box::new(Closing {
                deadline: now + CLOSE_GRACE,
                limit: now + CLOSE_LIMIT,
                unsent: kernel_unsent(&self.sock).unwrap_or(0),
            }));
        }
    }

    /// `n` bytes of output reached the socket: a closing connection's deadline moves back.
    pub(super) fn wrote(&mut self, n: usize, now: Instant) {
        self.last_io = now;
        if let Some(c) = self.closing.as_mut() {
            c.unsent += n;
            c.extend(now);
        }
    }

    /// For a closing connection whose deadline passed: cuts its output to what a peer can use
    /// (see [`cut_to_prefix`](Conn::cut_to_prefix)), grows its send buffer by that and writes
    /// it, so that the last frames (for a slow consumer, the Error that says why) go out whole
    /// after the close, as the peer reads on. A reader slower than the grace on a link whose
    /// window reopens in large steps (64 KiB on loopback) otherwise got a frame cut short. Only
    /// what `net.core.wmem_max` does not let a socket have is still cut.
    pub fn hand_rest_to_kernel(&mut self, now: Instant) {
        if self.flushed() {
            return;
        }
        let dropped = self.cut_to_prefix();
        if dropped > 0 {
            log::debug!(
                "{}: {dropped} queued entries dropped at the close deadline",
                self.peer
            );
        }
        // The kernel may already hold a segment past its limit: 64 KiB of room for that.
        let tls = if self.tls.is_some() { 2 * BUF } else { 0 };
        let rest = self.pending() + tls + 64 * 1024;
        // The kernel doubles what it is asked for, half of it for its own bookkeeping. A buffer
        // that already has the room is left alone: setting it ends the kernel's autotuning
        // (`--send-buffer 0`), and `net.core.wmem_max` could make it smaller than it grew.
        let unsent = kernel_unsent(&self.sock).unwrap_or(0);
        if let Some(granted) = send_buffer(&self.sock)
            && unsent + rest > granted / 2
        {
            let _ = set_send_buffer(&self.sock, granted / 2 + rest);
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
        let Some(c) = self.closing.as_mut() else {
            return;
        };
        let Some(left) = kernel_unsent(&self.sock) else {
            return;
        };
        if left < c.unsent {
            c.extend(now);
        }
        c.unsent = left;
    }

    /// Cuts the output of a connection whose close deadline passed to a prefix of what it was
    /// sent, then the core's last words: the write buffer, whole queued frames up to
    /// [`KEPT_AT_DEADLINE`] bytes, and, when the queue ends with the core's Bye (and the Error
    /// just before it that gives the same reason), those. The frames between are dropped. The
    /// peer so sees an unbroken start of its stream, as if the connection had broken there,
    /// then why it was closed: it resumes after the last Event it got and misses nothing, and
    /// a reply cut off (a catch-up without its CatchupEnd) shows as unfinished rather than as
    /// complete. Returns how many queue entries it dropped.
    fn cut_to_prefix(&mut self) -> usize {
        let last_words = self.last_words();
        let before_last = self.queue.len() - last_words;
        let mut kept_bytes = 0;
        let keep = self
            .queue
            .iter()
            .take(before_last)
            .take_while(|f| {
                kept_bytes += f.len();
                kept_bytes <= KEPT_AT_DEADLINE
            })
            .count();
        let mut freed = 0;
        for frame in self.queue.drain(keep..before_last) {
            freed += charge(frame.len());
        }
        self.queued -= freed;
        before_last - keep
    }

    /// How many entries at the queue's end are the core's last words: a Bye, and the Error
    /// just before it if it carries the same code and no `seq`.
    fn last_words(&self) -> usize {
        let n = self.queue.len();
        let Some(Msg::Bye(bye)) = self.queue.back().and_then(|f| decoded(f)) else {
            return 0;
        };
        match n
            .checked_sub(2)
            .and_then(|i| self.queue.get(i))
            .and_then(|f| decoded(f))
        {
            Some(Msg::Error(e)) if e.code == bye.code && e.seq.is_none() => 2,
            _ => 1,
        }
    }
}

/// A queued entry (whole frames the server encoded: one, or a fan-out batch of several) as
/// the message it starts with; a Bye or an Error is always an entry of its own.
fn decoded(frame: &[u8]) -> Option<Msg<'_>> {
    match decode_frame(frame) {
        Ok(Status::Complete((Ok(msg), _))) => Some(msg),
        _ => None,
    }
}
