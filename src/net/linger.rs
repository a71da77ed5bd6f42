//! Lingering close: a connection the server closed while its peer still had input on the way.
//! Closing a socket with unread input makes the kernel answer with a reset, which throws away
//! what the socket had not sent yet: the last frames, with the Error and Bye that say why. A
//! peer that pipelined more than the few reads made at the close (one flooding, or one that
//! stopped reading, cut off for it) lost exactly those. Such a socket is kept, its sending side
//! shut, and what arrives on it read and thrown away, until the peer has acknowledged all the
//! server sent, or closes, or [`LINGER`] passes, as web servers do (nginx's lingering close).

use super::sockopt::kernel_unsent;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use slab::Slab;
use std::io::{self, Read};
use std::time::{Duration, Instant};

/// How long a socket may linger at most: a peer that neither reads nor stops sending gets the
/// reset then.
pub const LINGER: Duration = Duration::from_secs(10);
/// Sockets lingering at once; past it a close is immediate (and may reset), so that peers
/// cannot make the server hold descriptors and kernel buffers without bound. Half the
/// descriptors kept beside the connections ([`FD_RESERVE`]), so lingering never takes one a
/// new connection would need.
///
/// [`FD_RESERVE`]: crate::server::FD_RESERVE
pub const MAX_LINGERING: usize = crate::server::FD_RESERVE / 2;
/// Reads (of the scratch buffer's size) made for one socket per readiness or tick: one that
/// keeps sending cannot hold up the loop.
const READS: usize = 16;

/// Tokens at and above this (below the listeners') are lingering sockets.
pub const LINGER_BASE: usize = usize::MAX / 4;

/// A lingering socket.
struct Lingering {
    sock: TcpStream,
    until: Instant,
}

/// The sockets lingering.
#[derive(Default)]
pub struct Lingerers {
    socks: Slab<Lingering>,
}

/// What reading a socket to throw its input away found.
#[derive(PartialEq, Eq)]
pub enum Drained {
    /// Nothing more to read now.
    Empty,
    /// The peer closed its side (or the socket failed): nothing more will come.
    Ended,
    /// The read budget ran out with input still there.
    More,
}

/// Reads and throws away what `sock` holds, `reads` reads at most.
pub fn drain(sock: &mut TcpStream, scratch: &mut [u8], reads: usize) -> Drained {
    for _ in 0..reads {
        match sock.read(scratch) {
            Ok(0) => return Drained::Ended,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Drained::Empty,
            Err(_) => return Drained::Ended,
        }
    }
    Drained::More
}

impl Lingerers {
    /// Closes `sock`, whose sending side is shut and whose input was read as far as the
    /// close allows: at once if nothing the server sent is at risk (no input left unread, or
    /// all its output acknowledged), else after lingering. Returns whether it lingers.
    pub fn close(
        &mut self,
        mut sock: TcpStream,
        input_left: bool,
        registry: &Registry,
        now: Instant,
    ) -> bool {
        if !input_left || kernel_unsent(&sock) == Some(0) || self.socks.len() >= MAX_LINGERING {
            return false;
        }
        let entry = self.socks.vacant_entry();
        let token = Token(LINGER_BASE + entry.key());
        if registry.register(&mut sock, token, Interest::READABLE).is_err() {
            return false;
        }
        entry.insert(Lingering {
            sock,
            until: now + LINGER,
        });
        true
    }

    /// The socket of `token` is readable: its input is thrown away; it is closed if the peer
    /// closed its side.
    pub fn readable(&mut self, token: usize, registry: &Registry, scratch: &mut [u8]) {
        let key = token - LINGER_BASE;
        let Some(l) = self.socks.get_mut(key) else { return };
        if drain(&mut l.sock, scratch, READS) == Drained::Ended {
            self.release(key, registry);
        }
    }

    /// Each tick: reads what each socket got (edge-triggered readiness is not reported again
    /// for input left after a budget ran out), and closes those done or out of time.
    pub fn tick(&mut self, registry: &Registry, scratch: &mut [u8], now: Instant) {
        let done: Vec<usize> = self
            .socks
            .iter_mut()
            .filter_map(|(key, l)| {
                let drained = drain(&mut l.sock, scratch, READS);
                let done = drained == Drained::Ended
                    || kernel_unsent(&l.sock).is_none_or(|n| n == 0)
                    || now >= l.until;
                done.then_some(key)
            })
            .collect();
        for key in done {
            self.release(key, registry);
        }
    }

    /// How many sockets linger.
    pub fn len(&self) -> usize {
        self.socks.len()
    }

    /// Closes every lingering socket (the server stops).
    pub fn close_all(&mut self, registry: &Registry) {
        for mut l in self.socks.drain() {
            let _ = registry.deregister(&mut l.sock);
        }
    }

    fn release(&mut self, key: usize, registry: &Registry) {
        if let Some(mut l) = self.socks.try_remove(key) {
            let _ = registry.deregister(&mut l.sock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A server-side socket whose peer does not read: what it wrote stays unacknowledged in
    /// the kernel, so a close would reset and lose it. And its peer, kept open.
    fn stalled_pair(listener: &std::net::TcpListener) -> (TcpStream, std::net::TcpStream) {
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        socket2::SockRef::from(&peer).set_recv_buffer_size(4096).unwrap();
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_nonblocking(true).unwrap();
        let chunk = [0u8; 16 * 1024];
        // Bounded: the peer's window and the send buffer fill within a few hundred KiB.
        for _ in 0..1024 {
            if sock.write(&chunk).is_err() {
                break;
            }
        }
        let sock = TcpStream::from_std(sock);
        assert!(kernel_unsent(&sock).is_some_and(|n| n > 0), "output at risk");
        (sock, peer)
    }

    /// At most MAX_LINGERING sockets linger: past it a close is immediate, so peers cannot
    /// make the server hold descriptors without bound; a socket with nothing at risk never
    /// lingers.
    #[test]
    fn at_most_max_lingering_sockets_linger() {
        let poll = mio::Poll::new().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut lingerers = Lingerers::default();
        let now = Instant::now();
        let mut peers = Vec::new();
        for i in 0..MAX_LINGERING {
            let (sock, peer) = stalled_pair(&listener);
            peers.push(peer);
            assert!(lingerers.close(sock, true, poll.registry(), now), "socket {i}");
        }
        assert_eq!(lingerers.len(), MAX_LINGERING);
        let (sock, _peer) = stalled_pair(&listener);
        assert!(
            !lingerers.close(sock, true, poll.registry(), now),
            "one past the bound"
        );
        assert_eq!(lingerers.len(), MAX_LINGERING);
        lingerers.close_all(poll.registry());
        let (sock, _peer) = stalled_pair(&listener);
        assert!(
            !lingerers.close(sock, false, poll.registry(), now),
            "no input left"
        );
        assert_eq!(lingerers.len(), 0);
    }
}
