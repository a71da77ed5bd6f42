//! The store threads (placeholder until the SQLite store lands).

use super::{Done, Fsync, Query, Record, Retention, StoreError};
use std::path::PathBuf;
use std::sync::Arc;

/// How to open the store.
pub struct Options {
    /// The database file.
    pub path: PathBuf,
    /// Commit rule.
    pub fsync: Fsync,
    /// Retention.
    pub retention: Retention,
    /// Writer queue.
    pub write_queue: usize,
    /// Reader queue.
    pub read_queue: usize,
}

/// What the store holds at start.
pub struct Start {
    /// Last position.
    pub last_pos: u64,
    /// Last time.
    pub last_time: u64,
    /// Events stored.
    pub events: u64,
}

/// A queue was full.
#[derive(Debug)]
pub struct Full;

/// The store's threads.
pub struct Store;

impl Store {
    /// Opens the store.
    pub fn open(_o: Options, _w: Arc<mio::Waker>) -> Result<(Store, Start), StoreError> {
        Err(StoreError::Io("not yet".into()))
    }
    /// Queues a record for the writer.
    pub fn write(&self, _r: Arc<Record>) -> Result<(), Full> {
        Err(Full)
    }
    /// Asks the writer to commit now.
    pub fn flush(&self) {}
    /// Queues a query for the reader.
    pub fn query(&self, _q: Query) -> Result<(), Full> {
        Err(Full)
    }
    /// What the threads finished.
    pub fn try_done(&self) -> Option<Done> {
        None
    }
    /// Commits and joins.
    pub fn close(self) {}
}
