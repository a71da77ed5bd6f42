//! What the fuzz targets share (included by `#[path]`: not a target of its own).

use scalar::server::HistoryConfig;
use scalar::store::Fsync;

/// A small history: few unwritten Events and query places, so the input reaches its bounds.
pub fn small_history(fsync: Fsync, ring_bytes: usize) -> HistoryConfig {
    HistoryConfig {
        fsync,
        last_pos: 0,
        ring_bytes,
        max_unwritten: 8,
        max_unwritten_bytes: 64 * 1024,
        max_reads: 2,
        max_searches: 1,
        retention: Default::default(),
    }
}

/// The checks of an [`Outbox`](scalar::server::Outbox) for a target without accounts or
/// other domains: every password, token and account start is refused.
#[macro_export]
macro_rules! refuse_checks {
    () => {
        fn verify(&mut self, _job: scalar::server::PasswordCheck) -> bool {
            false
        }
        fn check_token(&mut self, _job: scalar::server::TokenCheck) -> bool {
            false
        }
        fn keep_start(&mut self, _start: scalar::store::accounts::AccountStart) -> bool {
            false
        }
    };
}
