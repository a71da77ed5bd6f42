//! Waiting on two descriptors at once, poll(2): where the client watches the server's socket
//! and something else (its own outbox, its standard input's reader, its standard output).

use std::os::fd::RawFd;
use std::time::Duration;

/// The `revents` of each of `fds` (a descriptor and the events asked for it) once one of them
/// has any, or none within `wait` (`None`: for good); or the error poll gave, an interrupting
/// signal's included. A descriptor that is closed is reported (POLLNVAL), never waited on.
pub fn two(fds: [(RawFd, libc::c_short); 2], wait: Option<Duration>) -> std::io::Result<[libc::c_short; 2]> {
    let mut p = fds.map(|(fd, events)| libc::pollfd {
        fd,
        events,
        revents: 0,
    });
    // Rounded up, so that a wait of a few µs does not spin.
    let ms = wait.map_or(-1, |w| {
        i32::try_from(w.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
    });
    // SAFETY: `p` is an array of two pollfd, valid and writable for the whole call.
    if unsafe { libc::poll(p.as_mut_ptr(), 2, ms) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(p.map(|f| f.revents))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_descriptor_with_news_is_told() {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (c, _d) = std::os::unix::net::UnixStream::pair().unwrap();
        let fds = [(a.as_raw_fd(), libc::POLLIN), (c.as_raw_fd(), libc::POLLIN)];
        let wait = Some(std::time::Duration::from_millis(10));
        assert_eq!(super::two(fds, wait).unwrap(), [0, 0], "nothing within the wait");
        b.write_all(b"x").unwrap();
        assert_eq!(super::two(fds, wait).unwrap(), [libc::POLLIN, 0]);
    }
}
