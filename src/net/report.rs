//! The counters in words: once an hour while the server runs, so that an operator's log
//! watcher sees it is alive and how busy (without the metrics endpoint: [`super::metrics`]),
//! and once at the stop, for the whole run.

use super::ShellStats;
use crate::server::Stats;
use std::time::{Duration, Instant};

/// How often the running counts are logged.
pub const EVERY: Duration = Duration::from_secs(3600);

/// The counts at the last report, to say what happened since.
#[derive(Debug)]
pub(super) struct Report {
    at: Instant,
    core: Stats,
    shell: ShellStats,
}

impl Report {
    /// Counting from `now`, with nothing counted yet.
    pub(super) fn new(now: Instant) -> Self {
        Report {
            at: now,
            core: Stats::default(),
            shell: ShellStats::default(),
        }
    }

    /// The line to log if an hour has passed since the last (`connected`: open connections
    /// now), and the counts it covers become the last.
    pub(super) fn due(
        &mut self,
        now: Instant,
        core: Stats,
        shell: ShellStats,
        connected: usize,
    ) -> Option<String> {
        if now.duration_since(self.at) < EVERY {
            return None;
        }
        let since = Stats {
            accepted: core.accepted.saturating_sub(self.core.accepted),
            refused: core.refused.saturating_sub(self.core.refused),
            published: core.published.saturating_sub(self.core.published),
            deliveries: core.deliveries.saturating_sub(self.core.deliveries),
            errors: core.errors.saturating_sub(self.core.errors),
        };
        let slow = ShellStats {
            slow_consumers: shell.slow_consumers.saturating_sub(self.shell.slow_consumers),
        };
        *self = Report { at: now, core, shell };
        Some(format!(
            "stats: {connected} connected; in the last hour {}",
            counts(since, slow)
        ))
    }
}

/// `N connections served, N refused, N messages, N deliveries, N slow consumers`.
pub(super) fn counts(s: Stats, shell: ShellStats) -> String {
    format!(
        "{} connections served, {} refused, {} messages, {} deliveries, {} slow consumers",
        s.accepted, s.refused, s.published, s.deliveries, shell.slow_consumers
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing before the hour; then what the hour counted, not the totals; then nothing again
    /// until the next.
    #[test]
    fn the_hour_s_counts_once_an_hour() {
        let start = Instant::now();
        let mut r = Report::new(start);
        let at = |n: u64| Stats {
            accepted: n,
            refused: 1,
            published: 10 * n,
            deliveries: 100 * n,
            errors: 0,
        };
        let slow = |n| ShellStats { slow_consumers: n };
        assert_eq!(r.due(start + EVERY / 2, at(3), slow(0), 3), None);
        assert_eq!(
            r.due(start + EVERY, at(5), slow(2), 4).as_deref(),
            Some(
                "stats: 4 connected; in the last hour 5 connections served, 1 refused, 50 messages, 500 deliveries, 2 slow consumers"
            )
        );
        assert_eq!(r.due(start + EVERY + EVERY / 2, at(7), slow(2), 4), None);
        assert_eq!(
            r.due(start + 2 * EVERY, at(7), slow(2), 2).as_deref(),
            Some(
                "stats: 2 connected; in the last hour 2 connections served, 0 refused, 20 messages, 200 deliveries, 0 slow consumers"
            )
        );
    }
}
