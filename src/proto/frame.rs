//! Framing: a two-byte little-endian length, then exactly that many bytes of one CBOR item.

/// The largest payload a frame may carry: 16 KiB minus the two length bytes.
pub const MAX_PAYLOAD: usize = 16 * 1024 - 2;
/// The largest frame on the wire, length prefix included: exactly one 16 KiB buffer.
pub const MAX_FRAME: usize = MAX_PAYLOAD + 2;

/// Whether a buffer holds a whole frame yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// A whole frame: its payload and how many buffer bytes it spans (prefix included).
    Complete(T),
    /// More bytes are needed; nothing was consumed.
    Partial,
}

/// The length prefix announces more than [`MAX_PAYLOAD`] bytes. The stream cannot be resynchronised
/// within a 16 KiB buffer, so the connection must be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTooLong(pub usize);

/// Finds the first frame in `buf` without copying: its payload (possibly empty) and its total size.
pub fn split(buf: &[u8]) -> Result<Status<(&[u8], usize)>, FrameTooLong> {
    let &[lo, hi, ..] = buf else {
        return Ok(Status::Partial);
    };
    let len = usize::from(u16::from_le_bytes([lo, hi]));
    if len > MAX_PAYLOAD {
        return Err(FrameTooLong(len));
    }
    match buf.get(2..2 + len) {
        Some(payload) => Ok(Status::Complete((payload, 2 + len))),
        None => Ok(Status::Partial),
    }
}

/// Writes the length prefix for a payload of `len` bytes into `out[..2]`.
/// The caller has checked that `len <= MAX_PAYLOAD` and that `out` has two bytes.
pub(crate) fn put_prefix(out: &mut [u8], len: usize) {
    out[..2].copy_from_slice(&(len as u16).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_complete_and_too_long() {
        assert_eq!(split(&[]), Ok(Status::Partial));
        assert_eq!(split(&[3]), Ok(Status::Partial));
        assert_eq!(split(&[3, 0, 1, 2]), Ok(Status::Partial));
        assert_eq!(
            split(&[3, 0, 1, 2, 3, 9]),
            Ok(Status::Complete((&[1u8, 2, 3][..], 5)))
        );
        assert_eq!(split(&[0, 0, 7]), Ok(Status::Complete((&[][..], 2))));
        assert_eq!(split(&[0xfe, 0x3f]), Ok(Status::Partial));
        assert_eq!(split(&[0xff, 0x3f]), Err(FrameTooLong(16383)));
        assert_eq!(split(&[0xff, 0xff]), Err(FrameTooLong(65535)));
    }
}
