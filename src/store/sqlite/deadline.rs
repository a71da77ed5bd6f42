//! A time bound on one query. SQLite calls the connection's progress handler every few
//! thousand virtual-machine steps; once the query's deadline has passed the handler says stop,
//! and the statement fails with `SQLITE_INTERRUPT` ([`StoreError::TooSlow`]). So one search in
//! a huge topic cannot hold a reader thread, and with it everyone's queries, for seconds.

use crate::store::StoreError;
use rusqlite::Connection;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Steps between two looks at the clock: a few microseconds of work, so a query overruns its
/// bound by about that, and the clock costs nothing measurable.
const STEPS: i32 = 1000;

/// No deadline set.
const NONE: u64 = u64::MAX;

/// The current query's deadline, shared with the progress handler (which must be `Send` and
/// `'static`), as nanoseconds after `origin`.
struct Shared {
    origin: Instant,
    at: AtomicU64,
}

impl Shared {
    fn passed(&self) -> bool {
        let at = self.at.load(Ordering::Relaxed);
        at != NONE && self.origin.elapsed().as_nanos() >= u128::from(at)
    }
}

/// The bound of a connection's queries, installed on it by [`Deadline::install`].
pub(super) struct Deadline {
    shared: Arc<Shared>,
    budget: Duration,
}

impl Deadline {
    /// Makes every query [`Deadline::start`]s on `conn` stop after `budget`.
    pub(super) fn install(conn: &mut Connection, budget: Duration) -> Result<Deadline, StoreError> {
        let shared = Arc::new(Shared {
            origin: Instant::now(),
            at: AtomicU64::new(NONE),
        });
        let handler = shared.clone();
        conn.progress_handler(STEPS, Some(move || handler.passed()))
            .map_err(|e| StoreError::Io(format!("progress handler: {e}")))?;
        Ok(Deadline { shared, budget })
    }

    /// Starts the clock of one query; it runs until the returned guard drops.
    pub(super) fn start(&self) -> Running<'_> {
        let at = self
            .shared
            .origin
            .elapsed()
            .saturating_add(self.budget)
            .as_nanos();
        // Past u64's 584 years the bound is no bound.
        let at = u64::try_from(at).unwrap_or(NONE - 1);
        self.shared.at.store(at, Ordering::Relaxed);
        Running(&self.shared)
    }
}

/// A query under way; dropping it lifts the bound, so what follows the query on the
/// connection (ending its read transaction) is never stopped.
pub(super) struct Running<'a>(&'a Shared);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.at.store(NONE, Ordering::Relaxed);
    }
}
