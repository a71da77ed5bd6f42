//! The newest Events of every topic, in memory, so the common catch-ups ("the last 50", "what
//! came after the last id I saw") are answered from the loop without touching the disk.
//!
//! One byte budget serves all topics: the oldest Event server-wide is evicted first, so each
//! topic's ring is always the newest contiguous stretch of its history.

use crate::proto::Catchup;
use crate::store::{Record, Rule};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// The rings of all topics.
#[derive(Debug, Default)]
pub struct Ring {
    all: VecDeque<Arc<Record>>,
    by_topic: HashMap<Box<str>, VecDeque<Arc<Record>>>,
    bytes: usize,
    budget: usize,
}

/// A page answered from memory.
#[derive(Debug)]
pub struct Hit {
    /// The Events, oldest first.
    pub events: Vec<Arc<Record>>,
    /// More exist in the direction asked.
    pub more: bool,
}

impl Ring {
    /// Rings holding at most about `budget` bytes of Events in all.
    pub fn new(budget: usize) -> Self {
        Ring {
            budget,
            ..Ring::default()
        }
    }

    /// Adds the newest Event of its topic (positions must arrive in increasing order).
    pub fn push(&mut self, rec: Arc<Record>) {
        self.bytes += rec.weight();
        self.by_topic
            .entry(rec.topic.clone())
            .or_default()
            .push_back(rec.clone());
        self.all.push_back(rec);
        while self.bytes > self.budget {
            let Some(old) = self.all.pop_front() else { break };
            self.bytes -= old.weight();
            if let Some(r) = self.by_topic.get_mut(&old.topic) {
                r.pop_front();
                if r.is_empty() {
                    self.by_topic.remove(&old.topic);
                }
            }
        }
    }

    /// Answers a catch-up on `topic` if memory alone can answer it exactly, including whether
    /// more exist; `None` sends it to the store. Only the part of the ring that the topic's
    /// retention `rule` still keeps at `now_ms` counts, so memory never shows (or anchors on)
    /// an Event the store has deleted or is about to delete.
    pub fn answer(
        &self,
        topic: &str,
        c: &Catchup<'_>,
        (count, max_bytes): (usize, usize),
        rule: Rule,
        now_ms: u64,
    ) -> Option<Hit> {
        let all = self.by_topic.get(topic)?;
        let mut kept = 0;
        if let Some(max) = rule.max_events {
            kept = all
                .len()
                .saturating_sub(usize::try_from(max).unwrap_or(usize::MAX));
        }
        if let Some(age) = rule.max_age {
            let cutoff = now_ms.saturating_sub(age.as_millis() as u64);
            kept = kept.max(all.partition_point(|e| e.time <= cutoff));
        }
        let r = all.range(kept..).collect::<VecDeque<_>>();
        let index_of = |id| r.iter().position(|e| e.id == id);
        // The upper end is always known: the ring holds the newest Events.
        let mut hi = r.len();
        if let Some(id) = c.before {
            hi = index_of(id)?;
        }
        if let Some(until) = c.until {
            hi = hi.min(r.partition_point(|e| e.time < until));
        }
        let in_range = |e: &Arc<Record>| c.since.is_none_or(|s| e.time > s);
        if c.forward() {
            // Everything above the lower bound must be in memory: the anchor is here, or the
            // oldest Event here is not after `since`.
            let mut lo = 0;
            if let Some(id) = c.after {
                lo = index_of(id)? + 1;
            }
            if let Some(since) = c.since
                && r.front().is_none_or(|e| e.time > since)
            {
                return None;
            }
            let matching: Vec<&Arc<Record>> =
                r.range(lo..hi.max(lo)).copied().filter(|e| in_range(e)).collect();
            let (taken, more) = take_bytes(matching.iter().copied(), count, max_bytes);
            return Some(Hit {
                more: more || taken.len() < matching.len(),
                events: taken,
            });
        }
        // Backward: only when an older Event than the page is here, so "more" is certain.
        let below = r.range(..hi);
        if below.len() <= count {
            return None;
        }
        let (mut taken, _) = take_bytes(below.rev().copied(), count, max_bytes);
        taken.reverse();
        Some(Hit {
            events: taken,
            more: true,
        })
    }
}

/// Up to `count` Events from `it` whose bodies stay within `max_bytes` (at least one); and
/// whether the byte limit cut the page short.
fn take_bytes<'a>(
    it: impl Iterator<Item = &'a Arc<Record>>,
    count: usize,
    max_bytes: usize,
) -> (Vec<Arc<Record>>, bool) {
    let mut out = Vec::new();
    let mut bytes = 0;
    for e in it.take(count) {
        bytes += e.body.len();
        if bytes > max_bytes && !out.is_empty() {
            return (out, true);
        }
        out.push(e.clone());
    }
    (out, false)
}
