//! What the store remembers of the emptied topics it forgot (`SCHEMA_V17`): not their names,
//! but for each of [`BUCKETS`] buckets of names the newest horizon among those forgotten in it.
//! A topic the store has no row for is one never used or one forgotten, which the store cannot
//! tell apart; its bucket's horizon says how far back Events of it may be missing. With one
//! horizon for the whole server (version 16), every new channel said it had lost Events once
//! any topic was forgotten; with buckets, one in 65,536 does.

use super::{Context, from_sql};
use crate::store::StoreError;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OptionalExtension};

/// How many buckets names are spread over: the table holds at most this many rows (about 1 MB).
pub const BUCKETS: u32 = 1 << 16;

/// The bucket of a topic's name: FNV-1a over its bytes, folded to 16 bits. Stored files depend
/// on it, so it must never change without a migration that gives every bucket the newest
/// horizon.
pub fn bucket(name: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in name.as_bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    ((h >> 16) ^ h) & (BUCKETS - 1)
}

/// Makes [`bucket`] callable (as `bucket_fn!()`) in `conn`'s SQL. Anything but text is an error: names are text.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags =
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function(bucket_fn!(), 1, flags, |ctx| {
        Ok(bucket(ctx.get::<String>(0)?.as_str()))
    })
}

/// The newest horizon of the forgotten topics in `name`'s bucket, if any was forgotten there.
pub fn horizon(conn: &Connection, name: &str) -> Result<Option<u64>, StoreError> {
    let t: Option<i64> = conn
        .query_row(
            "SELECT horizon FROM forgotten WHERE bucket = ?1",
            [bucket(name)],
            |r| r.get(0),
        )
        .optional()
        .context("query: forgotten")?;
    t.filter(|&t| t > 0).map(|t| from_sql(t, "horizon")).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread() {
        // Stored files depend on these values.
        assert_eq!(bucket(""), 7385);
        assert_eq!(bucket("#rust@example.com"), 40493);
        assert_eq!(bucket("bob"), 9746);
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000 {
            seen.insert(bucket(&format!("#chan{i}@example.com")));
        }
        // 10,000 names over 65,536 buckets: about 700 collide if spread evenly.
        assert!(seen.len() > 9_000, "{}", seen.len());
    }
}
