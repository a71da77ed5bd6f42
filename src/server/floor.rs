//! Where a topic's Event times start when it has no audience to remember them: a channel made
//! (again), a user connecting (again), a direct message kept for an account that is away.
//!
//! Times rise strictly per topic (PROTOCOL.md §4), so a topic made again must not repeat a
//! time it used before. Its last time only matters while it is at or past the clock: a busy
//! topic runs ahead of the clock (one millisecond an Event past 1,000 a second), and only such
//! a topic's last time is kept here, until the clock passes it. Every other topic starts at the
//! clock, or just past the latest clock reading seen if the clock has stepped back since. Before this, every new topic started after the latest time of all, so one busy topic
//! pushed every new topic's times into the future with it.

use std::collections::HashMap;

/// The floors of topics without an audience.
#[derive(Debug, Default)]
pub struct Floors {
    /// The latest time stored before this start, which the store does not say per topic.
    start: u64,
    /// Topics without an audience whose last time is at or past the clock, and that time.
    ahead: HashMap<Box<str>, u64>,
    /// The latest clock reading seen. Every time forgotten was before it, so a clock that
    /// steps back (NTP, a resumed VM) cannot hand a topic made again a time it used. The
    /// server passes the held clock ([`crate::steady`]), not the raw one: a step ahead for
    /// seconds would otherwise start every topic made again after it, and the topics the step
    /// stamped are kept by name anyway while their times are ahead of the held clock.
    clock: u64,
}

impl Floors {
    /// Times stored before this start go up to `t`.
    pub fn started_after(&mut self, t: u64) {
        self.start = self.start.max(t);
    }

    /// `topic`'s stored times reach `last`, past the clock at start.
    pub fn stored(&mut self, topic: &str, last: u64) {
        let kept = self.ahead.entry(topic.into()).or_default();
        *kept = (*kept).max(last);
    }

    /// Where `topic`'s times start now that it gets an audience again (which keeps them from
    /// here on): after its last time if that is kept, and after every stored one.
    pub fn take(&mut self, topic: &str) -> u64 {
        let floor = self.floor(topic);
        self.ahead.remove(topic);
        floor
    }

    /// Where `topic`'s times would start now, without taking it: no Event of the topic,
    /// stored or delivered, has a later time, and its next one will be after it.
    pub fn floor(&self, topic: &str) -> u64 {
        let kept = self.ahead.get(topic).copied().unwrap_or(0);
        kept.max(self.start).max(self.clock.saturating_sub(1))
    }

    /// `topic`'s audience is gone, its last Event stamped `last`: kept while the clock (at
    /// `now_ms`) has not passed it.
    pub fn gone(&mut self, topic: &str, last: u64, now_ms: u64) {
        self.clock = self.clock.max(now_ms);
        if last >= now_ms {
            self.ahead.insert(topic.into(), last);
        }
    }

    /// The time of an Event of `topic`, which has no audience (a direct message kept for an
    /// account that is away): the clock, or one past its last time.
    pub fn stamp(&mut self, topic: &str, now_ms: u64) -> u64 {
        let time = now_ms.max(self.take(topic).saturating_add(1));
        self.ahead.insert(topic.into(), time);
        time
    }

    /// Forgets the times the clock has passed.
    pub fn prune(&mut self, now_ms: u64) {
        self.clock = self.clock.max(now_ms);
        self.ahead.retain(|_, t| *t >= now_ms);
    }

    /// How many topics' times are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ahead.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_made_again_never_repeats_a_time_and_others_start_at_the_clock() {
        let mut f = Floors::default();
        f.started_after(500);
        assert_eq!(f.take("#new"), 500, "after what is stored");
        // #busy ran 2 s ahead of the clock when its last member left.
        f.gone("#busy", 3_000, 1_000);
        f.gone("#quiet", 900, 1_000);
        assert_eq!(f.len(), 1, "a topic behind the clock needs nothing kept");
        assert_eq!(f.take("#busy"), 3_000);
        assert_eq!(
            f.take("#quiet"),
            999,
            "just before the clock: it starts at the clock"
        );
        // Kept for an away inbox: each one past the one before, in the same millisecond too.
        assert_eq!(f.stamp("bob@x", 1_000), 1_000);
        assert_eq!(f.stamp("bob@x", 1_000), 1_001);
        assert_eq!(f.stamp("carol@x", 1_000), 1_000, "not pushed by bob's");
        f.prune(1_001);
        assert_eq!(f.take("bob@x"), 1_001, "still at the clock: kept");
        f.gone("bob@x", 1_001, 1_001);
        f.prune(1_002);
        assert_eq!(f.len(), 0);
        // The clock steps back a second: what was forgotten was before the clock then.
        assert_eq!(f.stamp("bob@x", 2), 1_002);
        assert!(f.take("#quiet") >= 1_001);
    }
}
