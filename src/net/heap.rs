//! The C allocator's one setting the server changes: where large allocations go.

/// Allocations of at least this many bytes get a mapping of their own, given back to the
/// kernel when freed. 128 KiB is glibc's starting value.
pub const MMAP_THRESHOLD: usize = 128 << 10;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD`], unless `MALLOC_MMAP_THRESHOLD_` is set
/// in the environment (an operator's own tuning wins). Returns whether the call was made and
/// glibc took it.
///
/// Why: glibc raises the threshold each time a mapped block is freed, up to 32 MiB. The tables
/// that grow with the connections (the slab, the user and channel tables) double, and once the
/// first old copy of one is freed, the next copies are made inside the heap instead. Each one
/// freed there leaves a hole that later allocations fill or not, depending on the order the
/// loop handled the logins in, so the resident memory of 10,000 idle connections wandered
/// between about 850 and 1,110 bytes each from run to run of one build (docs/PERFORMANCE.md,
/// "Memory per connection"). With the threshold fixed, every old copy goes back to the kernel.
/// The server's steady state makes no allocations that large (counted under fan-out: a handful
/// more `mmap` calls in a whole run), so the setting costs no system calls per message.
pub fn fix_mmap_threshold() -> bool {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some() {
        return false;
    }
    set_threshold(MMAP_THRESHOLD)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_threshold(bytes: usize) -> bool {
    let Ok(bytes) = libc::c_int::try_from(bytes) else {
        return false;
    };
    // SAFETY: mallopt only changes the allocator's parameters; it takes no pointers.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, bytes) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_threshold(_bytes: usize) -> bool {
    // Other C libraries (musl among them) have no such dynamic threshold.
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_threshold() {
        assert!(set_threshold(MMAP_THRESHOLD));
    }

    #[test]
    fn a_threshold_past_a_c_int_is_refused_not_cut() {
        // Truncated, usize::MAX would be -1: some other setting than the one asked for.
        assert!(!set_threshold(usize::MAX));
    }
}
