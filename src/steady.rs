//! The wall clock for what cannot be undone: retention by age, a kept channel's expiry.
//!
//! Event times follow the system clock whatever it does. But deleting what is "older than 90
//! days" on the clock's word alone deletes everything at once when the clock jumps a year
//! ahead (a real-time clock's fault, a bad time source, a mistyped `date`), and setting it
//! right again brings nothing back; a kept channel forgotten so is anyone's to take (found by
//! helper 262 under libfaketime). So for those decisions a step of the wall clock ahead of the
//! monotonic clock counts only once it has held for [`HOLD`]: an operator who sets the clock
//! right meanwhile loses nothing, and a true correction (a box that started in 1970 until NTP
//! answered) counts from then on. A step back is taken at once: it only delays deletions. But
//! what is dated now to be judged by age later (a kept channel's emptying) is dated by
//! [`Steady::at_least`], for which a step back too counts only once it has held an hour.
//! Steps while the server was stopped cannot be told from time passing, and are taken.

use std::time::{Duration, Instant};

/// How long a step ahead must hold before ages count from it.
pub const HOLD: Duration = Duration::from_secs(3600);

/// A step ahead smaller than this is taken at once: NTP's small corrections, a suspended
/// laptop's monotonic clock (which stops while the wall clock does not) over a minute.
const SLACK_MS: u64 = 60_000;

/// The wall clock as ages are judged by: see the module's documentation.
#[derive(Debug)]
pub struct Steady {
    /// What is deleted or forgotten by age, for the log lines (`retention by age`).
    what: &'static str,
    /// The last reading taken: wall-clock ms, and the monotonic time then.
    base: Option<(u64, Instant)>,
    /// Since when the wall clock has been ahead of `base` by more than [`SLACK_MS`], and the
    /// wall clock then.
    ahead_since: Option<(Instant, u64)>,
    /// The latest time judged by, carried on by the monotonic clock, at the last reading:
    /// [`Steady::at_least`].
    high: Option<(u64, Instant)>,
    /// Since when the time judged by has been behind `high` by more than [`SLACK_MS`].
    behind_since: Option<Instant>,
    /// What [`Steady::now`] said last, and the monotonic time then: [`Steady::since_last`].
    last: Option<(u64, Instant)>,
}

/// The monotonic ms from `at` to `mono` (none if `mono` is earlier).
fn ms_since(mono: Instant, at: Instant) -> u64 {
    u64::try_from(mono.saturating_duration_since(at).as_millis()).unwrap_or(u64::MAX)
}

impl Steady {
    /// A clock for the decisions `what` names in its log lines.
    pub fn new(what: &'static str) -> Steady {
        Steady {
            what,
            base: None,
            ahead_since: None,
            high: None,
            behind_since: None,
            last: None,
        }
    }

    /// The time to judge by between readings, without taking one (a look every turn of a
    /// loop, where a reading a second is enough): the wall clock `unix_ms`, but not past what
    /// the last reading said and the monotonic time since `mono`. The wall clock before the
    /// first reading.
    pub fn since_last(&self, unix_ms: u64, mono: Instant) -> u64 {
        self.last.map_or(unix_ms, |(judged, at)| {
            unix_ms.min(judged.saturating_add(ms_since(mono, at)))
        })
    }

    /// The wall-clock ms to date a new fact by, when it is judged by age later (the time a
    /// kept channel emptied): the time judged by at the last reading, but a step back counted
    /// only once it has held for [`HOLD`] (until then, the time before the step and the
    /// monotonic time since), as a step ahead is. A step back is taken at once for deletions,
    /// which it only delays; but a channel emptied while the clock was a year behind, dated
    /// so, would be a year unused once the clock is set right, and forgotten for anyone to
    /// take (found in review, helper 264). 0 before the first reading.
    pub fn at_least(&self) -> u64 {
        self.high.map_or(0, |(ms, _)| ms)
    }

    /// The wall-clock ms to judge ages by, given the wall clock `unix_ms` at `mono`: the wall
    /// clock, but while it has stepped ahead for less than [`HOLD`], the time before the step
    /// and the monotonic time since.
    pub fn now(&mut self, unix_ms: u64, mono: Instant) -> u64 {
        let judged = self.judge(unix_ms, mono);
        self.carry(unix_ms, judged, mono);
        self.last = Some((judged, mono));
        judged
    }

    /// Keeps [`Steady::at_least`] by the wall clock `unix_ms` and the time `judged` at `mono`.
    /// Whether the clock is behind is the wall clock's say, not `judged`'s: a clock set right
    /// after a step back is a step ahead, which `judged` holds back for an hour, and that is
    /// no step back of its own.
    fn carry(&mut self, unix_ms: u64, judged: u64, mono: Instant) {
        let carried = self
            .high
            .map_or(judged, |(ms, at)| ms.saturating_add(ms_since(mono, at)));
        if unix_ms.saturating_add(SLACK_MS) >= carried {
            self.behind_since = None;
            self.high = Some((judged.max(carried), mono));
            return;
        }
        let since = *self.behind_since.get_or_insert(mono);
        if mono.saturating_duration_since(since) >= HOLD {
            // Held an hour: a true correction, counted from now on.
            self.behind_since = None;
            self.high = Some((judged, mono));
        } else {
            self.high = Some((carried, mono));
        }
    }

    /// [`Steady::now`], without keeping [`Steady::at_least`].
    fn judge(&mut self, unix_ms: u64, mono: Instant) -> u64 {
        let Some((wall, at)) = self.base else {
            self.base = Some((unix_ms, mono));
            return unix_ms;
        };
        let elapsed = ms_since(mono, at);
        let expected = wall.saturating_add(elapsed);
        if unix_ms <= expected.saturating_add(SLACK_MS) {
            if self.ahead_since.take().is_some() {
                log::info!("the wall clock is back in step: {} goes on", self.what);
            }
            self.base = Some((unix_ms, mono));
            return unix_ms;
        }
        // A step further ahead while one is held waits its own hour: a VM resumed (its
        // monotonic clock stopped meanwhile) and a mistyped `date` a year ahead 50 minutes
        // later must not take the year 10 minutes after it (found in review, helper 264).
        let further = self.ahead_since.is_some_and(|(since, stepped)| {
            unix_ms
                > stepped
                    .saturating_add(ms_since(mono, since))
                    .saturating_add(SLACK_MS)
        });
        let since = match self.ahead_since {
            Some((since, _)) if !further => since,
            _ => {
                log::warn!(
                    "the wall clock stepped {} s ahead: {} counts from the clock before the \
                     step for an hour (set the clock right meanwhile and nothing is lost)",
                    (unix_ms - expected) / 1000,
                    self.what
                );
                self.ahead_since = Some((mono, unix_ms));
                mono
            }
        };
        if mono.saturating_duration_since(since) >= HOLD {
            log::warn!(
                "the wall clock's step ahead held for an hour: {} counts from it now",
                self.what
            );
            self.ahead_since = None;
            self.base = Some((unix_ms, mono));
            return unix_ms;
        }
        expected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: u64 = 86_400_000;

    #[test]
    fn a_step_ahead_counts_only_once_it_has_held_an_hour() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut c = Steady::new("retention by age");
        let start = 1_800_000_000_000;
        assert_eq!(c.now(start, at(0)), start);
        // In step, and a small correction ahead: taken.
        assert_eq!(c.now(start + 10_000, at(10)), start + 10_000);
        assert_eq!(c.now(start + 50_000, at(20)), start + 50_000);
        // A year ahead: the clock before the step, going on with the monotonic clock.
        let year = start + 50_000 + 365 * DAY_MS;
        assert_eq!(c.now(year, at(30)), start + 60_000);
        assert_eq!(c.now(year + 1_800_000, at(1830)), start + 1_860_000);
        // Held an hour: taken from then on.
        assert_eq!(c.now(year + 3_600_000, at(3630)), year + 3_600_000);
        assert_eq!(c.now(year + 3_601_000, at(3631)), year + 3_601_000);
    }

    #[test]
    fn a_step_ahead_set_right_within_the_hour_never_counts() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut c = Steady::new("retention by age");
        let start = 1_800_000_000_000;
        c.now(start, at(0));
        assert_eq!(c.now(start + 100 * DAY_MS, at(1)), start + 1_000);
        // Set right: in step again; a second step ahead waits its own hour.
        assert_eq!(c.now(start + 1_200_000, at(1200)), start + 1_200_000);
        assert_eq!(c.now(start + 100 * DAY_MS, at(3000)), start + 3_000_000);
        // (The wall clock going on from its step as the monotonic clock does: a day more
        // would be a step of its own.)
        let ahead = start + 100 * DAY_MS;
        assert_eq!(c.now(ahead + 3_000_000, at(6000)), start + 6_000_000);
        assert_eq!(c.now(ahead + 3_601_000, at(6601)), ahead + 3_601_000);
    }

    #[test]
    fn what_is_dated_never_goes_back_before_a_step_back_held_an_hour() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut c = Steady::new("kept channels' expiry");
        assert_eq!(c.at_least(), 0);
        let start = 1_800_000_000_000;
        c.now(start, at(0));
        assert_eq!(c.at_least(), start);
        // A year back: taken for ages at once, but dates go on from before the step.
        let back = start - 365 * DAY_MS;
        assert_eq!(c.now(back + 10_000, at(10)), back + 10_000);
        assert_eq!(c.at_least(), start + 10_000);
        assert_eq!(c.now(back + 1_800_000, at(1800)), back + 1_800_000);
        assert_eq!(c.at_least(), start + 1_800_000);
        // Set right within the hour: a step ahead for ages (held an hour), none for dates.
        assert_eq!(c.now(start + 1_900_000, at(1900)), back + 1_900_000);
        assert_eq!(c.at_least(), start + 1_900_000);
        // A step back that holds an hour counts from then on.
        c.now(back, at(2000));
        c.now(back + 3_600_000, at(5600));
        assert_eq!(c.at_least(), back + 3_600_000);
        // A step ahead while it holds: dated by the clock before the step too.
        let ahead = back + 100 * DAY_MS;
        assert_eq!(c.now(ahead, at(5601)), back + 3_601_000);
        assert_eq!(c.at_least(), back + 3_601_000);
    }

    #[test]
    fn a_second_step_ahead_waits_its_own_hour() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut c = Steady::new("retention by age");
        let start = 1_800_000_000_000;
        c.now(start, at(0));
        // Two hours ahead (a VM resumed, say), then a year more 50 minutes later.
        let two_hours = 2 * 3_600_000;
        assert_eq!(c.now(start + 10_000 + two_hours, at(10)), start + 10_000);
        let year = start + 3_010_000 + two_hours + 365 * DAY_MS;
        assert_eq!(c.now(year, at(3010)), start + 3_010_000);
        // The first step's hour is over, but the year has held 10 minutes only.
        assert_eq!(c.now(year + 600_000, at(3610)), start + 3_610_000);
        assert_eq!(c.now(year + 3_600_000, at(6610)), year + 3_600_000);
    }

    #[test]
    fn a_step_back_is_taken_at_once() {
        let t0 = Instant::now();
        let mut c = Steady::new("retention by age");
        let start = 1_800_000_000_000;
        c.now(start, t0);
        let back = start - DAY_MS;
        assert_eq!(c.now(back, t0 + Duration::from_secs(1)), back);
        // And going on from there is in step.
        assert_eq!(c.now(back + 5_000, t0 + Duration::from_secs(6)), back + 5_000);
    }
}
