//! Closing: a connection's last frames get out to a peer that reads, however slowly, and one
//! that stopped reading is gone soon.

use super::write::charge;
use super::{BUF, Conn};
use crate::net::sockopt::{kernel_unsent, send_buffer, set_send_buffer};
use crate::proto::{Msg, Status, decode_frame};
use std::time::{Duration, Instant};

/// How long a closing connection may go without its socket taking any of its last frames.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How long a closing connection that keeps reading slowly may take for its last frames: its
/// write buffer (16 KiB) has to get into the kernel's send buffer, which takes a client reading
/// as little as about 1 KiB/s that long.
pub const CLOSE_LIMIT: Duration = Duration::from_secs(30);

impl Conn {
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
    pub(super) fn wrote(&mut self, n: usize, now: Instant) {
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
    /// TLS connection, plus room for a segment the kernel already holds past its limit. So a
    /// longer backlog behind a close the core started (a ping timeout, say, with live Events
    /// queued ahead of its Error and Bye) first loses its live Events, as a slow consumer's
    /// queue does when it is found. What is still longer than that growth (a long run of
    /// replies), or than `net.core.wmem_max` lets a socket have, is cut.
    pub fn hand_rest_to_kernel(&mut self, now: Instant) {
        if self.flushed() {
            return;
        }
        let dropped = self.keep_last_words();
        if dropped > 0 {
            log::debug!(
                "{}: {dropped} queued live Events dropped at the close deadline",
                self.peer
            );
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

    /// For a connection the core closed with a Bye (for a ping timeout, a kick, a shutdown):
    /// drops the live Events queued for it, keeping every other frame in order (replies,
    /// replayed Events with their request's `seq`, the closing Error and Bye). The peer then
    /// sees an unbroken run of live Events, every reply it is owed, and why it was closed.
    /// Returns how many it dropped.
    fn keep_last_words(&mut self) -> usize {
        if !self
            .queue
            .back()
            .is_some_and(|f| matches!(decoded(f), Some(Msg::Bye(_))))
        {
            return 0;
        }
        let before = self.queue.len();
        let mut freed = 0;
        self.queue.retain(|f| {
            let live = matches!(decoded(f), Some(Msg::Event(e)) if e.seq.is_none());
            if live {
                freed += charge(f.len());
            }
            !live
        });
        self.queued -= freed;
        before - self.queue.len()
    }
}

/// A queued frame (always a whole one, and one the server encoded) as a message.
fn decoded(frame: &[u8]) -> Option<Msg<'_>> {
    match decode_frame(frame) {
        Ok(Status::Complete((Ok(msg), _))) => Some(msg),
        _ => None,
    }
}
