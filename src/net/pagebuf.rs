//! Fixed-size buffers backed by their own anonymous memory mapping.
//!
//! The kernel hands out a mapping's pages zero-filled on first touch, so a 16 KiB buffer of which
//! a connection only ever used the first hundred bytes costs one resident page, not four, and
//! nothing is zero-filled up front. `release` gives the pages back while the buffer is empty.
//! With a few libc calls for socket options and resource limits, this is the crate's unsafe code.

use std::io;
use std::ptr::NonNull;

/// A page-aligned, zero-initialised byte buffer of `LEN` bytes (a multiple of the page size is
/// best). The length is the type's, not a field: one pointer per buffer, as idle memory is
/// counted per connection.
pub struct PageBuf<const LEN: usize> {
    ptr: NonNull<u8>,
}

impl<const LEN: usize> PageBuf<LEN> {
    /// Maps the buffer.
    pub fn new() -> io::Result<Self> {
        // SAFETY: an anonymous private mapping with no address hint has no preconditions; the
        // result is checked against MAP_FAILED before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(PageBuf { ptr })
    }

    /// Returns the pages to the kernel; the contents read as zeros afterwards. Call only while the
    /// buffer holds nothing that is still needed.
    pub fn release(&mut self) {
        // SAFETY: the range is exactly our own mapping; MADV_DONTNEED on private anonymous memory
        // only replaces its contents with zero pages, which any byte pattern allows.
        unsafe {
            libc::madvise(self.ptr.as_ptr().cast(), LEN, libc::MADV_DONTNEED);
        }
    }
}

impl<const LEN: usize> std::ops::Deref for PageBuf<LEN> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the mapping is `LEN` readable bytes, initialised (zero or written), and lives
        // as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), LEN) }
    }
}

impl<const LEN: usize> std::ops::DerefMut for PageBuf<LEN> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), LEN) }
    }
}

impl<const LEN: usize> Drop for PageBuf<LEN> {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `new`, which nothing borrows any more.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), LEN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_writable_and_released() {
        let mut b = PageBuf::<16384>::new().unwrap();
        assert!(b.iter().all(|&x| x == 0));
        b[100] = 7;
        b[16383] = 9;
        assert_eq!((b[100], b[16383]), (7, 9));
        b.release();
        assert_eq!((b[100], b[16383]), (0, 0));
    }
}
