//! The few socket options the shell sets or reads that mio does not wrap: the send buffer's
//! size, and how much of what was sent the peer has not acknowledged.

use mio::net::TcpStream;
use std::io;
use std::os::fd::AsRawFd;

/// Asks the kernel for a send buffer of `bytes` (it doubles the figure for its bookkeeping and
/// stops autotuning it), so that what a subscriber who stopped reading has sitting in the kernel
/// is bounded: otherwise loopback and fast links grow it to megabytes, which hides a slow
/// consumer for that long and holds its 503 behind all of it.
pub fn set_send_buffer(sock: &TcpStream, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is the open socket `sock` owns; the option value is a c_int that
    // lives across the call, with its size passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
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
