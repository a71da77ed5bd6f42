//! Opening a file that the server reads again while it runs (SIGHUP's configuration file, the
//! TLS certificate and key): only a regular file. A named pipe put in place of one blocks its
//! `open` until a writer comes, which for a pipe since deleted is never, and the reload, with
//! every later one, stayed stuck until a restart (found by QA). Opened without blocking, then
//! checked; a hung network mount can still stall it, which the reload's warning then says.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens `path` for reading if it is a regular file; anything else (a named pipe, a device, a
/// directory) is an error that says so.
pub fn open(path: &Path) -> io::Result<File> {
    // O_NONBLOCK only changes how a pipe or device opens and reads; a regular file reads
    // as always.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(
            "not a regular file (a named pipe, a device?): refused, as reading it could block",
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_pipe_is_refused_without_blocking() {
        let dir = crate::store::sqlite::tests::TempDir::new("regular");
        let fifo = dir.0.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads the NUL-terminated path only.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open(&fifo).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(open(&dir.0).is_err(), "a directory");
        let plain = dir.0.join("plain");
        std::fs::write(&plain, "text").unwrap();
        let text = io::read_to_string(open(&plain).unwrap()).unwrap();
        assert_eq!(text, "text");
    }
}
