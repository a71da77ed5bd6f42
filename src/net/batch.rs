//! Events for one audience, gathered while one connection's requests are handled: each
//! subscriber then gets them with one push (one copy into its write buffer, or one shared entry
//! in its queue), not one per Event. A publisher's burst into a busy channel costs each
//! subscriber one step per 16 KiB rather than one per Event.

use super::conn::BUF;
use crate::server::ConnId;

/// Frames waiting to go to the same connections. Output to any of them that is not part of the
/// batch must wait until the batch is pushed, so that each connection still gets its frames in
/// the order the core produced them.
#[derive(Debug, Default)]
pub(super) struct Batch {
    to: Vec<ConnId>,
    except: Option<ConnId>,
    bytes: Vec<u8>,
}

impl Batch {
    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether `frame`, for `to` but `except`, may join: the same audience, and the batch stays
    /// within `limit` bytes (at most one write buffer, so that what a socket leaves of a queued
    /// batch always fits the buffer it moves into; less where `max-queue` is small, since a
    /// batch that does not fit a subscriber's write buffer is queued, and counted, whole).
    pub fn fits(&self, to: &[ConnId], except: Option<ConnId>, frame: &[u8], limit: usize) -> bool {
        self.is_empty()
            || (self.except == except && self.bytes.len() + frame.len() <= limit.min(BUF) && self.to == to)
    }

    /// Adds `frame` (the caller checked that it [`fits`](Batch::fits)).
    pub fn add(&mut self, to: &[ConnId], except: Option<ConnId>, frame: &[u8]) {
        if self.is_empty() {
            self.to.clear();
            self.to.extend_from_slice(to);
            self.except = except;
        }
        self.bytes.extend_from_slice(frame);
    }

    /// Whether output to `conn` must wait for the batch: it is waiting and `conn` may be in
    /// its audience.
    pub fn holds_up(&self, conn: ConnId) -> bool {
        !self.is_empty() && self.except != Some(conn)
    }

    /// The connections that get the batch, and its bytes.
    pub fn parts(&self) -> (impl Iterator<Item = ConnId> + '_, &[u8]) {
        let except = self.except;
        (
            self.to.iter().copied().filter(move |&c| Some(c) != except),
            &self.bytes,
        )
    }

    /// Empties it, keeping its allocations for the next one.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.to.clear();
        self.except = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_only_its_own_audience_and_at_most_one_buffer() {
        let mut b = Batch::default();
        assert!(!b.holds_up(1));
        b.add(&[1, 2, 3], Some(1), &[7; 100]);
        const ANY: usize = usize::MAX;
        assert!(b.fits(&[1, 2, 3], Some(1), &[8; 100], ANY));
        assert!(!b.fits(&[1, 2, 4], Some(1), &[8; 100], ANY), "another audience");
        assert!(!b.fits(&[1, 2], Some(1), &[8; 100], ANY), "a changed audience");
        assert!(!b.fits(&[1, 2, 3], Some(2), &[8; 100], ANY), "another sender");
        assert!(
            !b.fits(&[1, 2, 3], Some(1), &vec![8; BUF - 99], ANY),
            "past one buffer"
        );
        assert!(b.fits(&[1, 2, 3], Some(1), &vec![8; BUF - 100], ANY));
        assert!(!b.fits(&[1, 2, 3], Some(1), &[8; 101], 200), "past the limit");
        assert!(!b.holds_up(1), "the sender's own replies need not wait");
        assert!(b.holds_up(2) && b.holds_up(9));
        let (to, bytes) = b.parts();
        assert_eq!(to.collect::<Vec<_>>(), [2, 3]);
        assert_eq!(bytes, &[7; 100][..]);
        b.clear();
        assert!(b.is_empty() && b.fits(&[5], None, &[0; 10], 1));
    }
}
