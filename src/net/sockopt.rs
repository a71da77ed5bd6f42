//! The few socket options the shell sets or reads that mio does not wrap: the send buffer's
//! size, how much of what was sent the peer has not acknowledged, and a listener's IPv6 alone.

use mio::net::{TcpListener, TcpStream};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// Binds a listening socket to `addr` as mio's `TcpListener::bind` does (`SO_REUSEADDR`,
/// non-blocking, closed on exec), but with a backlog of 1024, not mio's 128 (std's figure,
/// since mio 1.1: what scalard's listeners had before this function), so that the clients of a
/// restart that reconnect at once wait in the kernel rather than being refused (the kernel caps
/// it at `net.core.somaxconn`), and an IPv6 one for IPv6 alone
/// (`IPV6_V6ONLY`), whatever the host's `net.ipv6.bindv6only`: with Linux's default, `[::]:P`
/// also took IPv4's `0.0.0.0:P`, so the documented pair `--listen 0.0.0.0:7667 --listen
/// [::]:7667` failed to start, `[::]:7667` being "already in use" (found by an operator's
/// walk-through). Each address given is then exactly what is listened on.
pub fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = listener_socket(addr)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    Ok(TcpListener::from_std(sock.into()))
}

/// The socket [`bind_listener`] binds, with its options set.
fn listener_socket(addr: SocketAddr) -> io::Result<socket2::Socket> {
    use socket2::{Domain, Socket, Type};
    // Closed on exec: socket2 makes its sockets so on Unix.
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_nonblocking(true)?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    Ok(sock)
}

/// Asks the kernel for a send buffer of `bytes` (it doubles the figure for its bookkeeping and
/// stops autotuning it), so that what a subscriber who stopped reading has sitting in the kernel
/// is bounded: otherwise loopback and fast links grow it to megabytes, which hides a slow
/// consumer for that long and holds its 503 behind all of it.
pub fn set_send_buffer(sock: &TcpStream, bytes: usize) -> io::Result<()> {
    socket2::SockRef::from(sock).set_send_buffer_size(bytes)
}

/// The send buffer the kernel granted (twice what was asked: its bookkeeping is included).
pub fn send_buffer(sock: &TcpStream) -> Option<usize> {
    socket2::SockRef::from(sock).send_buffer_size().ok()
}

/// Bytes in the socket's send queue that the peer has not acknowledged (SIOCOUTQ).
pub fn kernel_unsent(sock: &TcpStream) -> Option<usize> {
    let mut value: libc::c_int = 0;
    // SAFETY: the descriptor is the open socket `sock` owns; TIOCOUTQ (SIOCOUTQ for a socket)
    // writes one c_int, which lives across the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::TIOCOUTQ, &mut value as *mut libc::c_int) };
    if rc == 0 {
        usize::try_from(value).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv6 listener is for IPv6 alone, so that `0.0.0.0:P` and `[::]:P` (OPERATIONS.md's
    /// examples) are two listeners side by side: with Linux's default dual-stack `[::]` the
    /// second was "already in use". Checked on the socket before it is bound (binding a
    /// specific address such as `::1` makes it IPv6-only anyway), not by binding every address.
    #[test]
    fn an_ipv6_listener_is_for_ipv6_alone() {
        let sock = match listener_socket("[::1]:0".parse().unwrap()) {
            Ok(sock) => sock,
            // A host without IPv6 has nothing to test here.
            Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => return,
            Err(e) => panic!("an IPv6 socket: {e}"),
        };
        assert!(sock.only_v6().unwrap());
        assert!(sock.reuse_address().unwrap());
    }

    /// A listener bound here takes connections as mio's own did.
    #[test]
    fn a_bound_listener_accepts() {
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(l) = bind_listener(addr.parse().unwrap()) else {
                continue;
            };
            let at = l.local_addr().unwrap();
            let _c = std::net::TcpStream::connect(at).unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                match l.accept() {
                    Ok(_) => break,
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock && std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Err(e) => panic!("{addr}: {e}"),
                }
            }
        }
    }
}
