//! Token buckets: the flood limits. A bucket holds up to `burst` tokens and gains `per_sec` a
//! second; a request that finds too few tokens is not refused but held until they have grown
//! (IRC servers' "fake lag"), so an honest burst is only delayed and a flood costs the flooder.

use std::time::{Duration, Instant};

/// A rate with a burst: `per_sec` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Tokens gained per second.
    pub per_sec: u32,
    /// Tokens a bucket can hold: what may be spent at once after a quiet spell.
    pub burst: u32,
}

impl Rate {
    /// `per_sec` a second with a burst of `burst`.
    pub const fn new(per_sec: u32, burst: u32) -> Self {
        Rate { per_sec, burst }
    }
}

/// Micro-tokens per token: integer arithmetic, exact enough for rates up to millions a second.
const MICRO: u64 = 1_000_000;

/// How long `micro` micro-tokens take to grow at `rate` (an hour at a rate of zero, which the
/// configuration does not allow).
fn grow(micro: u64, rate: Rate) -> Duration {
    match rate.per_sec {
        0 => Duration::from_secs(3600),
        r => Duration::from_micros(micro.div_ceil(u64::from(r))),
    }
}

/// One bucket. It starts full.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    /// Micro-tokens at `at`.
    level: u64,
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn full(rate: Rate, now: Instant) -> Self {
        Bucket {
            level: u64::from(rate.burst) * MICRO,
            at: now,
        }
    }

    /// The level at `now` (micro-tokens), after what grew since the last update.
    fn level(&self, rate: Rate, now: Instant) -> u64 {
        let grown = now.saturating_duration_since(self.at).as_micros() * u128::from(rate.per_sec);
        let cap = u64::from(rate.burst) * MICRO;
        (u128::from(self.level) + grown).min(u128::from(cap)) as u64
    }

    /// `None` if the bucket holds `cost` tokens now, else how long until it will. A cost above
    /// the burst counts as the burst, so a request never waits forever; with a rate of zero
    /// (which the configuration does not allow) an empty bucket answers an hour.
    pub fn wait(&self, cost: u32, rate: Rate, now: Instant) -> Option<Duration> {
        let need = u64::from(cost.min(rate.burst)) * MICRO;
        let short = need.checked_sub(self.level(rate, now)).filter(|&s| s > 0)?;
        // A bucket that owes booked tokens ([`book`](Bucket::book)) pays them first.
        Some(self.at.saturating_duration_since(now) + grow(short, rate))
    }

    /// Takes `cost` tokens (capped at the burst), as many as there are: call after
    /// [`wait`](Bucket::wait) said there is no need to wait.
    pub fn spend(&mut self, cost: u32, rate: Rate, now: Instant) {
        let need = u64::from(cost.min(rate.burst)) * MICRO;
        self.level = self.level(rate, now).saturating_sub(need);
        self.at = now;
    }

    /// Takes `cost` tokens (capped at the burst) now if there are as many, else books them: the
    /// bucket owes them, its level staying at zero until they have grown, and later bookings
    /// queue behind. Returns how long the booker waits for its tokens (zero: none). Requests
    /// that share a bucket are then served in the order they asked, which waiting and retrying
    /// does not promise: whoever is retried first when a token grows takes it every time.
    pub fn book(&mut self, cost: u32, rate: Rate, now: Instant) -> Duration {
        let need = u64::from(cost.min(rate.burst)) * MICRO;
        let level = self.level(rate, now);
        if level >= need {
            self.spend(cost, rate, now);
            return Duration::ZERO;
        }
        // Owed tokens are counted from when the debt ends (`at`, in the future), not from now.
        let from = self.at.max(now);
        self.at = from + grow(need - level, rate);
        self.level = 0;
        self.at - now
    }

    /// Gives back `cost` tokens that [`book`](Bucket::book) took or booked for a request that
    /// will never be served (its connection closed): the bucket's clock goes back by the time
    /// they take to grow, which is one refund whether they were owed or taken.
    pub fn unbook(&mut self, cost: u32, rate: Rate) {
        let need = u64::from(cost.min(rate.burst)) * MICRO;
        if let Some(at) = self.at.checked_sub(grow(need, rate)) {
            self.at = at;
        }
    }

    /// [`wait`](Bucket::wait), then [`spend`](Bucket::spend) if there was no need to wait.
    #[cfg(test)]
    pub fn take(&mut self, cost: u32, rate: Rate, now: Instant) -> Result<(), Duration> {
        match self.wait(cost, rate, now) {
            Some(d) => Err(d),
            None => {
                self.spend(cost, rate, now);
                Ok(())
            }
        }
    }

    /// Whether the bucket has grown full again by `now`: it then carries no memory of the past
    /// and may be forgotten.
    pub fn is_full(&self, rate: Rate, now: Instant) -> bool {
        self.level(rate, now) >= u64::from(rate.burst) * MICRO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let rate = Rate::new(2, 5);
        let t0 = Instant::now();
        let mut b = Bucket::full(rate, t0);
        for _ in 0..5 {
            assert_eq!(b.take(1, rate, t0), Ok(()));
        }
        assert_eq!(b.take(1, rate, t0), Err(Duration::from_millis(500)));
        // Half a token after 250 ms: still 250 ms to wait.
        let t1 = t0 + Duration::from_millis(250);
        assert_eq!(b.take(1, rate, t1), Err(Duration::from_millis(250)));
        let t2 = t0 + Duration::from_millis(500);
        assert_eq!(b.take(1, rate, t2), Ok(()));
        assert_eq!(b.take(1, rate, t2), Err(Duration::from_millis(500)));
        assert!(!b.is_full(rate, t2));
        assert!(b.is_full(rate, t2 + Duration::from_millis(2500)));
    }

    #[test]
    fn bookings_queue_in_the_order_they_were_made() {
        let rate = Rate::new(10, 2);
        let t0 = Instant::now();
        let mut b = Bucket::full(rate, t0);
        let ms = Duration::from_millis;
        assert_eq!(b.book(1, rate, t0), Duration::ZERO);
        assert_eq!(b.book(1, rate, t0), Duration::ZERO);
        // Empty: each booking waits for its own token, behind the earlier ones.
        assert_eq!(b.book(1, rate, t0), ms(100));
        assert_eq!(b.book(1, rate, t0), ms(200));
        assert_eq!(
            b.book(1, rate, t0 + ms(50)),
            ms(250),
            "after the two booked before"
        );
        // The booked tokens are owed: a wait counts them, and when they have grown the bucket
        // is empty, not full.
        assert_eq!(
            b.wait(1, rate, t0 + ms(50)),
            Some(ms(350)),
            "a token after the debt"
        );
        assert!(b.wait(1, rate, t0 + ms(300)).is_some());
        assert_eq!(b.wait(1, rate, t0 + ms(400)), None);
        assert!(!b.is_full(rate, t0 + ms(400)));
        assert!(b.is_full(rate, t0 + ms(500)));
    }

    #[test]
    fn a_booking_given_back_is_as_if_never_made() {
        let rate = Rate::new(10, 2);
        let t0 = Instant::now() + Duration::from_secs(10);
        let ms = Duration::from_millis;
        let mut b = Bucket::full(rate, t0);
        b.book(1, rate, t0);
        b.book(1, rate, t0);
        // Three owed, then two of them given back: the next waits for one.
        for _ in 0..3 {
            b.book(1, rate, t0);
        }
        b.unbook(1, rate);
        b.unbook(1, rate);
        assert_eq!(b.book(1, rate, t0), ms(200));
        // A token taken, not owed, comes back too.
        let mut full = Bucket::full(rate, t0);
        assert_eq!(full.book(1, rate, t0), Duration::ZERO);
        full.unbook(1, rate);
        assert!(full.is_full(rate, t0));
    }

    #[test]
    fn costs_above_the_burst_are_charged_as_the_burst() {
        let rate = Rate::new(1000, 4000);
        let t0 = Instant::now();
        let mut b = Bucket::full(rate, t0);
        assert_eq!(b.take(16_000, rate, t0), Ok(()));
        assert_eq!(b.take(16_000, rate, t0), Err(Duration::from_secs(4)));
        assert_eq!(b.take(16_000, rate, t0 + Duration::from_secs(4)), Ok(()));
    }

    #[test]
    fn a_zero_rate_never_overflows() {
        let rate = Rate::new(0, 1);
        let t0 = Instant::now();
        let mut b = Bucket::full(rate, t0);
        assert_eq!(b.take(1, rate, t0), Ok(()));
        assert_eq!(
            b.take(1, rate, t0 + Duration::from_secs(1 << 40)),
            Err(Duration::from_secs(3600))
        );
        let fast = Rate::new(u32::MAX, u32::MAX);
        let mut b = Bucket::full(fast, t0);
        assert_eq!(b.take(u32::MAX, fast, t0 + Duration::from_secs(1 << 40)), Ok(()));
    }
}
