//! The few socket options the shell sets or reads that mio does not wrap: the send buffer's
//! size, how much of what was sent the peer has not acknowledged, and a listener's IPv6 alone.

use mio::net::{TcpListener, TcpStream};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

/// Binds a listening socket to `addr` as mio's `TcpListener::bind` does (`SO_REUSEADDR`, a
/// backlog of 1024, non-blocking, closed on exec), but an IPv6 one for IPv6 alone
/// (`IPV6_V6ONLY`), whatever the host's `net.ipv6.bindv6only`: with Linux's default, `[::]:P`
/// also took IPv4's `0.0.0.0:P`, so the documented pair `--listen 0.0.0.0:7667 --listen
/// [::]:7667` failed to start, `[::]:7667` being "already in use" (found by an operator's
/// walk-through). Each address given is then exactly what is listened on.
pub fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let kind = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: socket takes no pointers; a descriptor it returns is owned from here on.
    let fd = unsafe { libc::socket(family, kind, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new, open descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int(&sock, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if addr.is_ipv6() {
        set_int(&sock, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than sockaddr_in and aligned for it.
            let sin =
                unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than sockaddr_in6 and aligned for it.
            let sin6 =
                unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    // SAFETY: `storage` holds a sockaddr of `len` bytes and lives across the call; the
    // descriptor is the open socket `sock` owns.
    let bound = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&storage as *const libc::sockaddr_storage).cast(),
            len as libc::socklen_t,
        )
    };
    if bound != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is the open, bound socket `sock` owns; no pointers.
    if unsafe { libc::listen(sock.as_raw_fd(), 1024) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is a bound, listening, non-blocking TCP socket, handed over whole.
    let std_listener = unsafe { std::net::TcpListener::from_raw_fd(sock.into_raw_fd()) };
    Ok(TcpListener::from_std(std_listener))
}

/// Sets the socket option `level`/`name` of `sock` to the int `value`.
fn set_int(sock: &impl AsRawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: the descriptor is the open socket `sock` owns; the option value is a c_int that
    // lives across the call, with its size passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Asks the kernel for a send buffer of `bytes` (it doubles the figure for its bookkeeping and
/// stops autotuning it), so that what a subscriber who stopped reading has sitting in the kernel
/// is bounded: otherwise loopback and fast links grow it to megabytes, which hides a slow
/// consumer for that long and holds its 503 behind all of it.
pub fn set_send_buffer(sock: &TcpStream, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    set_int(sock, libc::SOL_SOCKET, libc::SO_SNDBUF, value)
}

/// The send buffer the kernel granted (twice what was asked: its bookkeeping is included).
pub fn send_buffer(sock: &TcpStream) -> Option<usize> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the descriptor is the open socket `sock` owns; the kernel writes at most `len`
    // bytes into `value`, which lives across the call, and the actual length into `len`.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        usize::try_from(value).ok()
    } else {
        None
    }
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

    /// An IPv4 listener and `[::]:P` are two listeners side by side, as OPERATIONS.md's
    /// examples give them (`0.0.0.0:P` there; loopback here, which Linux's default dual-stack
    /// `[::]` took as well): the second was "already in use".
    #[test]
    fn ipv4_and_the_ipv6_wildcard_share_a_port() {
        let v4 = bind_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = v4.local_addr().unwrap().port();
        match bind_listener(SocketAddr::from(([0u16; 8], port))) {
            Ok(v6) => assert_eq!(v6.local_addr().unwrap().port(), port),
            // A host without IPv6 has nothing to test here.
            Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {}
            Err(e) => panic!("[::]:{port} beside 127.0.0.1:{port}: {e}"),
        }
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
