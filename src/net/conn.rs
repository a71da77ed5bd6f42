//! One connection in the shell: its socket, a fixed 16 KiB read buffer, a fixed 16 KiB write
//! buffer, and a bounded queue of shared Event frames behind the write buffer for moments when a
//! subscriber is a little behind.
//!
//! A TLS connection has the same buffers, holding plaintext: records are decrypted into the read
//! buffer the core parses, and the write buffer's frames are encrypted when the socket can take
//! more (`tls.rs`). Only this module knows whether a connection is encrypted.

mod closing;
mod read;
mod tls;
mod write;

pub use closing::{CLOSE_GRACE, Closing};
pub use tls::Tls;

use super::pagebuf::PageBuf;
use crate::proto::MAX_FRAME;
use mio::net::TcpStream;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

/// Size of each of a connection's two buffers: exactly one largest frame.
pub const BUF: usize = MAX_FRAME;

/// What a queued frame counts against `max_queue`: its bytes plus the bookkeeping around them
/// (the shared allocation's counts and the queue slot), so that many tiny frames cannot hold
/// several times the limit in memory.
pub const QUEUE_ENTRY_OVERHEAD: usize = 64;

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

/// A connection's socket and buffers.
pub struct Conn {
    /// The socket.
    pub sock: TcpStream,
    /// The peer.
    pub peer: SocketAddr,
    /// Read buffer; `None` only while the frames in it are being processed.
    pub rbuf: Option<PageBuf<BUF>>,
    /// Bytes in `rbuf`.
    pub rlen: usize,
    wbuf: PageBuf<BUF>,
    wpos: usize,
    wlen: usize,
    queue: VecDeque<Rc<[u8]>>,
    queued: usize,
    /// Set once the connection is to be closed: it gets no more output and its input is
    /// discarded; it is closed when its output is written or at the deadline (see
    /// [`start_closing`](Conn::start_closing)). Boxed: few connections are ever closing, and
    /// idle memory is counted per connection.
    pub closing: Option<Box<Closing>>,
    /// Queued in the shell's list of connections to flush.
    pub dirty: bool,
    /// Last read or write, for giving idle buffers' pages back.
    pub last_io: Instant,
    /// Whether the read or the write buffer may hold resident pages (TLS's receive buffer
    /// keeps its own count: see [`Tls::resident`]).
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
            rbuf: Some(PageBuf::new()?),
            rlen: 0,
            wbuf: PageBuf::new()?,
            wpos: 0,
            wlen: 0,
            queue: VecDeque::new(),
            queued: 0,
            closing: None,
            dirty: false,
            last_io: now,
            resident: false,
            tls,
            full_since: None,
            paused: false,
            unread: false,
        })
    }

    /// Gives the buffers' pages back to the kernel if both are empty.
    pub fn release_if_idle(&mut self) -> bool {
        let tls_resident = self.tls.as_ref().is_some_and(|t| t.resident());
        if !(self.resident || tls_resident) || self.rlen != 0 || !self.flushed() {
            return false;
        }
        if self.resident {
            if let Some(r) = self.rbuf.as_mut() {
                r.release();
            }
            self.wbuf.release();
            self.resident = false;
        }
        if let Some(t) = self.tls.as_mut() {
            t.release();
        }
        true
    }
}

#[cfg(test)]
mod tests;
