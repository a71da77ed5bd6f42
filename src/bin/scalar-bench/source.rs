//! Clients from chosen loopback source addresses. Linux routes all of 127.0.0.0/8 to the
//! loopback interface, so one load generator can be many hosts to the server's per-address
//! limits (the connection rate, the login throttle) while never leaving the machine.

use crate::peer::{Peer, name};
use scalar::proto::frame::split;
use scalar::proto::{Ident, Msg, Name, Status, Sub, VERSION};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::time::Duration;

/// How long a bench client waits for any one reply.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP connection to `server` from the loopback address `src`; with `rcvbuf`, its SO_RCVBUF
/// is set before connecting, so that the window it offers is small from the handshake on.
pub fn connect_from(src: Ipv4Addr, server: SocketAddr, rcvbuf: Option<u32>) -> io::Result<TcpStream> {
    let SocketAddr::V4(dst) = server else {
        return Err(io::Error::other("IPv4 only"));
    };
    if !src.is_loopback() || !dst.ip().is_loopback() {
        return Err(io::Error::other("scalar-bench stays on loopback"));
    }
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns; the sockaddr structs and
    // the option value are fully initialised and live across the calls; the descriptor is
    // handed to TcpStream (which closes it) as soon as it exists, so no path leaks it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        if let Some(size) = rcvbuf {
            let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
            let optlen = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            let optval = (&size as *const libc::c_int).cast();
            if libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, optval, optlen) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let from = sockaddr(src, 0);
        if libc::bind(fd, (&from as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(io::Error::last_os_error());
        }
        let to = sockaddr(*dst.ip(), dst.port());
        if libc::connect(fd, (&to as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// [`join`](crate::peer::join) from the loopback address `src`: connects, identifies as `user`
/// and subscribes to `channel`. The handshake is done here because `Client` picks its own
/// source address.
pub fn join_from(src: Ipv4Addr, server: SocketAddr, user: &str, channel: &str) -> io::Result<Peer> {
    let (s, pending) = handshake(connect_from(src, server, None)?, user, channel)?;
    Peer::from_stream(s, &pending)
}

/// On a fresh connection: identifies as `user` and subscribes to `channel`. Returns the
/// (blocking) socket and the bytes read past the Sub's reply.
pub fn handshake(mut s: TcpStream, user: &str, channel: &str) -> io::Result<(TcpStream, Vec<u8>)> {
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    let user = Name::parse_user(user).map_err(|e| io::Error::other(format!("{user}: {e}")))?;
    let mut buf = Vec::new();
    request(
        &mut s,
        &mut buf,
        &Msg::Ident(Ident::new(Some(1), &[VERSION], user)),
        1,
    )?;
    let sub = Sub {
        seq: Some(2),
        topic: name(channel),
    };
    request(&mut s, &mut buf, &Msg::Sub(sub), 2)?;
    Ok((s, buf))
}

/// Sends `msg` and reads until the frame answering `seq`; an Error or Bye instead fails it.
/// Bytes read past that frame are left in `buf`.
fn request(s: &mut TcpStream, buf: &mut Vec<u8>, msg: &Msg<'_>, seq: u32) -> io::Result<()> {
    s.write_all(&msg.to_frame().map_err(|_| io::Error::other("frame"))?)?;
    until(s, buf, seq, |_| true)
}

/// Sends the Catchup or Search `frame`, numbered `seq`, and reads until its CatchupEnd.
pub fn catch_up(s: &mut TcpStream, buf: &mut Vec<u8>, frame: &[u8], seq: u32) -> io::Result<()> {
    s.write_all(frame)?;
    until(s, buf, seq, |m| matches!(m, Msg::CatchupEnd(_)))
}

/// Reads until a frame carrying `seq` that `last` accepts.
fn until(s: &mut TcpStream, buf: &mut Vec<u8>, seq: u32, last: impl Fn(&Msg<'_>) -> bool) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    loop {
        while let Status::Complete((payload, used)) =
            split(buf).map_err(|e| io::Error::other(format!("frame length {}", e.0)))?
        {
            let answer = match Msg::decode(payload) {
                Ok(Msg::Error(e)) => Some(Err(io::Error::other(format!("Error {}", e.code)))),
                Ok(Msg::Bye(b)) => Some(Err(io::Error::other(format!("Bye {}", b.code)))),
                Ok(m) if m.seq() == Some(seq) && last(&m) => Some(Ok(())),
                _ => None,
            };
            buf.drain(..used);
            if let Some(answer) = answer {
                return answer;
            }
        }
        match s.read(&mut chunk)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
