//! A cheap hash for maps whose keys the server chose itself, on the publish path: connection
//! numbers (slab indices) and message ids (SHA-256 digests the server computes, with its own
//! clock in the input). With history on, every Event is hashed this way six or seven times:
//! its id into the ring and twice when it is evicted, its publisher's count of unwritten Events
//! three times (four when it drops to zero). With std's SipHash for these the loop spent 2,030
//! instructions an Event hashing in all, with this 960 (callgrind, fan-out S=100, a run too
//! short to evict; docs/PERFORMANCE.md, "History in the loop").
//!
//! Keys a client picks (channel and user names) keep std's SipHash: this hash is only as
//! resistant to chosen collisions as its secret seed is unknown, which is all that keys a
//! client cannot choose need.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;

/// A map with the [`Mix`] hash.
pub type MixMap<K, V> = HashMap<K, V, Mix>;

/// Builds [`MixHasher`]s from the process's secret seed.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    seed: u64,
}

impl Default for Mix {
    fn default() -> Self {
        // std's RandomState holds secret keys drawn from the OS: a hash made with them is as
        // unpredictable as they are, with no system call and no error to handle here.
        static SEED: OnceLock<u64> = OnceLock::new();
        Mix {
            seed: *SEED.get_or_init(|| RandomState::new().hash_one(0u64)),
        }
    }
}

impl BuildHasher for Mix {
    type Hasher = MixHasher;

    fn build_hasher(&self) -> MixHasher {
        MixHasher(self.seed)
    }
}

/// Folds each 64-bit word of the key into the state with one wide multiplication.
#[derive(Debug)]
pub struct MixHasher(u64);

/// An odd constant with well-spread bits (the fractional part of the golden ratio).
const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in words.by_ref() {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.write_u64(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(b) ^ (rest.len() as u64) << 56);
        }
    }

    fn write_u64(&mut self, x: u64) {
        // The high and low halves of the product, folded: every input bit reaches every
        // output bit, so the low bits hashbrown indexes with are as mixed as the high ones.
        let p = u128::from(self.0 ^ x) * u128::from(K);
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }

    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::MsgId;
    use std::collections::HashSet;

    /// Dense connection numbers spread over the low bits hashbrown indexes by, and over the
    /// top seven bits it compares first.
    #[test]
    fn dense_keys_spread_over_low_and_high_bits() {
        let mix = Mix::default();
        let n = 4096u64;
        let low: HashSet<u64> = (0..n).map(|k| mix.hash_one(k as usize) & (n - 1)).collect();
        assert!(
            low.len() > n as usize / 2,
            "{} distinct buckets of {n}",
            low.len()
        );
        let top: HashSet<u64> = (0..n).map(|k| mix.hash_one(k as usize) >> 57).collect();
        assert_eq!(top.len(), 128);
    }

    /// Every byte of a key counts, including those of a tail shorter than a word.
    #[test]
    fn every_byte_counts() {
        let mix = Mix::default();
        let base = MsgId([7; 32]);
        for i in 0..32 {
            let mut other = base;
            other.0[i] ^= 1;
            assert_ne!(mix.hash_one(base), mix.hash_one(other), "byte {i}");
        }
        assert_ne!(
            mix.hash_one([1u8, 2, 3].as_slice()),
            mix.hash_one([1u8, 2, 4].as_slice())
        );
        assert_ne!(
            mix.hash_one([0u8; 3].as_slice()),
            mix.hash_one([0u8; 4].as_slice())
        );
    }

    #[test]
    fn a_map_finds_what_it_holds() {
        let mut m: MixMap<usize, usize> = MixMap::default();
        for k in 0..10_000 {
            m.insert(k, k * 2);
        }
        assert!((0..10_000).all(|k| m.get(&k) == Some(&(k * 2))));
        assert_eq!(m.get(&10_000), None);
    }
}
