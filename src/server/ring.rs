//! The newest Events of every topic, in memory, so the common catch-ups ("the last 50", "what
//! came after the last id I saw") are answered from the loop without touching the disk.
//!
//! One byte budget serves all topics: the oldest Event server-wide is evicted first, so each
//! topic's ring is always the newest contiguous stretch of its history.

use super::mix::MixMap;
use crate::proto::{Catchup, MsgId};
use crate::store::{Record, Rule};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// The rings of all topics.
#[derive(Debug, Default)]
pub struct Ring {
    all: VecDeque<Arc<Record>>,
    by_topic: HashMap<Box<str>, VecDeque<Arc<Record>>>,
    /// Every Event in memory by id, to its position: anchors are found without a scan.
    ids: MixMap<MsgId, u64>,
    bytes: usize,
    budget: usize,
}

/// A topic's ring is not shrunk below this many slots: small ones are not worth reallocating.
const MIN_TOPIC_CAPACITY: usize = 64;

/// What an Event costs the budget beyond its own weight: its places in the three collections.
const ENTRY_OVERHEAD: usize = 96;

/// What a topic's own entry costs the budget beyond its name: its map slot, its ring's header
/// and first allocation. Uncounted, topics of one Event each ran memory past the budget by
/// about this much each (noticed by helper 268).
const TOPIC_OVERHEAD: usize = 96;

/// What `topic`'s entry costs the budget while it holds Events.
pub(super) fn topic_cost(topic: &str) -> usize {
    TOPIC_OVERHEAD + topic.len()
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

    /// Forgets the Events of every topic that `drop` picks. Walks all of memory, so it is for
    /// rare changes (a reload), not the publish path.
    pub fn forget(&mut self, mut drop: impl FnMut(&str) -> bool) {
        let gone: Vec<Box<str>> = self.by_topic.keys().filter(|t| drop(t)).cloned().collect();
        for topic in &gone {
            self.end_life(topic);
        }
        let (kept, bytes) = (&self.by_topic, &mut self.bytes);
        // Entries left behind by `end_life` go too, and only here are they uncounted.
        self.all.retain(|r| {
            let keep = kept.contains_key(r.topic());
            if !keep {
                *bytes -= r.weight() + ENTRY_OVERHEAD;
            }
            keep
        });
    }

    /// Forgets the Events of `topic` at once, for a channel whose life ended with Events no
    /// later life may see: costs what the topic holds, not what memory holds. Their entries in
    /// the server-wide order stay, still counted against the budget, until evicted in turn.
    pub fn end_life(&mut self, topic: &str) {
        let Some(ring) = self.by_topic.remove(topic) else {
            return;
        };
        self.bytes -= topic_cost(topic);
        for old in ring {
            if self.ids.get(&old.id) == Some(&old.pos) {
                self.ids.remove(&old.id);
            }
        }
    }

    /// Adds the newest Event of its topic (positions must arrive in increasing order). The
    /// record of a delete forgets the Event it names first: memory changes when the record
    /// enters it, as the store does when it stores the record (with `--fsync always`, at its
    /// commit), so neither forgets an Event whose delete was never kept.
    pub fn push(&mut self, rec: Arc<Record>) {
        if let Some(id) = crate::server::deleted_by(rec.ctype(), rec.body()) {
            self.delete(rec.topic(), &id);
        }
        if let Some((pattern, since)) = crate::server::purged_by(rec.ctype(), rec.body()) {
            self.purge(rec.topic(), pattern, since);
        }
        self.bytes += rec.weight() + ENTRY_OVERHEAD;
        self.ids.insert(rec.id, rec.pos);
        // No `entry`: it would allocate a key per Event, on the publish path.
        match self.by_topic.get_mut(rec.topic()) {
            Some(r) => r.push_back(rec.clone()),
            None => {
                self.bytes += topic_cost(rec.topic());
                self.by_topic
                    .insert(rec.topic().into(), VecDeque::from([rec.clone()]));
            }
        }
        self.all.push_back(rec);
        while self.bytes > self.budget {
            let Some(old) = self.all.pop_front() else { break };
            self.bytes -= old.weight() + ENTRY_OVERHEAD;
            if self.ids.get(&old.id) == Some(&old.pos) {
                self.ids.remove(&old.id);
            }
            // Not there if its topic's life ended since (`end_life`): the topic may hold
            // newer Events by now, which stay.
            if let Some(r) = self.by_topic.get_mut(old.topic())
                && r.front().is_some_and(|f| Arc::ptr_eq(f, &old))
            {
                r.pop_front();
                if r.is_empty() {
                    self.by_topic.remove(old.topic());
                    self.bytes -= topic_cost(old.topic());
                } else if r.capacity() > MIN_TOPIC_CAPACITY && r.len() < r.capacity() / 4 {
                    // The budget counts entries, not capacity: a topic that once filled the
                    // ring must not keep room for all of it once others have taken its place.
                    r.shrink_to(r.len() * 2);
                }
            }
        }
    }

    /// Forgets the Event `id` of `topic` (an operator deleted it), if it is in memory and not
    /// a record of the server's, which the store keeps too (found by QA: a deleted ban record
    /// vanished from memory's catch-ups only). Its entry in the server-wide order stays,
    /// counted against the budget, until evicted in turn, as `end_life` leaves them; the
    /// topic's ring is still the newest stretch of its history, now without it.
    fn delete(&mut self, topic: &str, id: &MsgId) {
        let Some(&pos) = self.ids.get(id) else {
            return;
        };
        let Some(r) = self.by_topic.get_mut(topic) else {
            return;
        };
        let Ok(i) = r.binary_search_by_key(&pos, |e| e.pos) else {
            return;
        };
        if r.get(i)
            .and_then(|e| e.ctype())
            .and_then(crate::server::server_ctype)
            .is_some()
        {
            return;
        }
        r.remove(i);
        self.ids.remove(id);
        if r.is_empty() {
            self.by_topic.remove(topic);
            self.bytes -= topic_cost(topic);
        }
    }

    /// Forgets the Messages of `topic` from IDs matching `pattern` later than `since` (an
    /// operator purged them; the record is pushed after), as [`Ring::delete`] forgets one.
    fn purge(&mut self, topic: &str, pattern: &str, since: u64) {
        let Some(r) = self.by_topic.get_mut(topic) else {
            return;
        };
        let ids = &mut self.ids;
        r.retain(|e| {
            let gone = e.time > since
                && e.ctype().and_then(crate::server::server_ctype).is_none()
                && crate::proto::pattern::matches(pattern, e.from());
            if gone && ids.get(&e.id) == Some(&e.pos) {
                ids.remove(&e.id);
            }
            !gone
        });
        if r.is_empty() {
            self.by_topic.remove(topic);
            self.bytes -= topic_cost(topic);
        }
    }

    /// Who sent the Event `id` of `topic`, and its position, if it is in memory and a Message
    /// (not a record of the server's, which nobody sent as such).
    pub fn sender_of(&self, topic: &str, id: &MsgId) -> Option<(&str, u64)> {
        let pos = *self.ids.get(id)?;
        let r = self.by_topic.get(topic)?;
        let e = r.get(r.binary_search_by_key(&pos, |e| e.pos).ok()?)?;
        let record = e.ctype().and_then(crate::server::server_ctype).is_some();
        (!record).then(|| (e.from(), pos))
    }

    /// The position of the Event `id`, if it is in memory.
    pub fn pos_of(&self, id: &MsgId) -> Option<u64> {
        self.ids.get(id).copied()
    }

    /// Answers a catch-up on `topic` if memory alone can answer it exactly, including whether
    /// more exist; `None` sends it to the store. Only the part of the ring that the topic's
    /// retention `rule` still keeps at `now_ms` counts, so memory never shows (or anchors on)
    /// an Event the store has deleted or is about to delete. Events before position `floor`
    /// are not the asker's (an account's direct messages from before it was made): memory
    /// answers only when that part holds none. Costs O(log n + count): anchors come from the
    /// id map, time bounds from binary searches (times rise within a topic).
    pub fn answer(
        &self,
        topic: &str,
        c: &Catchup<'_>,
        (count, max_bytes): (usize, usize),
        (rule, floor): (Rule, Option<u64>),
        now_ms: u64,
    ) -> Option<Hit> {
        let r = self.by_topic.get(topic)?;
        let mut kept = 0;
        if let Some(max) = rule.max_events {
            kept = r.len().saturating_sub(usize::try_from(max).unwrap_or(usize::MAX));
        }
        if let Some(cutoff) = rule.too_old_before(now_ms) {
            kept = kept.max(r.partition_point(|e| e.time < cutoff));
        }
        // Then the store, which knows what came before the ring, answers just as it would.
        if let Some(f) = floor
            && r.get(kept).is_none_or(|e| e.pos < f)
        {
            return None;
        }
        let index_of = |id: MsgId| {
            let pos = *self.ids.get(&id)?;
            let i = r.binary_search_by_key(&pos, |e| e.pos).ok()?;
            (i >= kept).then_some(i)
        };
        // The upper end is always known: the ring holds the newest Events.
        let mut hi = r.len();
        if let Some(id) = c.before {
            hi = index_of(id)?;
        }
        if let Some(until) = c.until {
            hi = hi.min(r.partition_point(|e| e.time < until));
        }
        if c.forward() {
            // Everything above the lower bound must be in memory: the anchor is here, or the
            // oldest Event kept here is not after `since`.
            let mut lo = kept;
            if let Some(id) = c.after {
                lo = index_of(id)? + 1;
            }
            if let Some(since) = c.since {
                if r.get(kept).is_none_or(|e| e.time > since) {
                    return None;
                }
                lo = lo.max(r.partition_point(|e| e.time <= since));
            }
            let hi = hi.max(lo);
            let (events, cut) = take_bytes(r.range(lo..hi), count, max_bytes);
            return Some(Hit {
                more: cut || events.len() < hi - lo,
                events,
            });
        }
        // Backward: only when an older Event than the page is here, so "more" is certain.
        let hi = hi.max(kept);
        if hi - kept <= count {
            return None;
        }
        let (mut events, _) = take_bytes(r.range(kept..hi).rev(), count, max_bytes);
        events.reverse();
        Some(Hit { events, more: true })
    }
}

/// Up to `count` Events from `it` whose wire sizes stay within `max_bytes` (at least one); and
/// whether the byte limit cut the page short.
fn take_bytes<'a>(
    it: impl Iterator<Item = &'a Arc<Record>>,
    count: usize,
    max_bytes: usize,
) -> (Vec<Arc<Record>>, bool) {
    let mut out = Vec::new();
    let mut bytes = 0;
    for e in it.take(count) {
        bytes += e.wire_size();
        if bytes > max_bytes && !out.is_empty() {
            return (out, true);
        }
        out.push(e.clone());
    }
    (out, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Body;
    use crate::proto::Name;
    use crate::store::Fields;
    use std::time::Duration;

    /// A one-byte Event at `pos` in `topic`, timed `pos`.
    fn rec(pos: u64, topic: &str) -> Arc<Record> {
        let body = Body::Text("x");
        Arc::new(Record::new(Fields {
            pos,
            topic,
            thread: None,
            from: "u@x.org",
            time: pos,
            id: MsgId::compute("u@x.org", topic, pos, body, None, None),
            body,
            ctype: None,
            reply_to: None,
        }))
    }

    /// A topic that once held most of the ring gives the room back as others take its place.
    #[test]
    fn a_topic_pushed_out_gives_its_room_back() {
        let one = rec(0, "#a@x.org").weight() + ENTRY_OVERHEAD;
        let mut ring = Ring::new(10_000 * one);
        for pos in 1..=10_000 {
            ring.push(rec(pos, "#a@x.org"));
        }
        let full = ring.by_topic["#a@x.org"].capacity();
        assert!(full >= 10_000);
        for pos in 10_001..=19_990 {
            ring.push(rec(pos, "#b@x.org"));
        }
        let a = &ring.by_topic["#a@x.org"];
        assert!(a.len() <= 20, "{}", a.len());
        assert!(
            a.capacity() <= 4 * MIN_TOPIC_CAPACITY,
            "{} of {full} kept",
            a.capacity()
        );
    }

    /// Forgetting a topic takes its Events out of every collection and gives back their room,
    /// and leaves the other topics answering as before.
    #[test]
    fn a_forgotten_topic_is_gone_everywhere_and_the_others_stay() {
        let one = rec(0, "#a@x.org").weight() + ENTRY_OVERHEAD;
        let t = topic_cost("#a@x.org");
        let mut ring = Ring::new(100 * one + 2 * t);
        let (a, b): (Vec<_>, Vec<_>) = (1..=20)
            .map(|p| rec(p, if p % 2 == 0 { "#a@x.org" } else { "#b@x.org" }))
            .partition(|r| r.topic() == "#a@x.org");
        for r in a.iter().chain(&b) {
            ring.push(r.clone());
        }
        assert_eq!(ring.bytes, 20 * one + 2 * t);
        ring.forget(|t| t == "#a@x.org");
        assert_eq!(ring.bytes, 10 * one + t);
        assert_eq!(ring.all.len(), 10);
        assert!(!ring.by_topic.contains_key("#a@x.org"));
        assert!(a.iter().all(|r| !ring.ids.contains_key(&r.id)));
        assert!(b.iter().all(|r| ring.ids.get(&r.id) == Some(&r.pos)));
        let last = Catchup {
            seq: None,
            topic: Name::parse("#b@x.org").unwrap(),
            count: 3,
            since: None,
            until: None,
            after: None,
            before: None,
        };
        let hit = ring
            .answer("#b@x.org", &last, (3, usize::MAX), (Rule::default(), None), 0)
            .unwrap();
        let pos: Vec<u64> = hit.events.iter().map(|e| e.pos).collect();
        assert_eq!(pos, [15, 17, 19]);
        let mut on_a = last;
        on_a.topic = Name::parse("#a@x.org").unwrap();
        assert!(
            ring.answer("#a@x.org", &on_a, (3, usize::MAX), (Rule::default(), None), 0)
                .is_none()
        );
        // The room given back is used again before anything of #b is evicted.
        for p in 21..=110 {
            ring.push(rec(p, "#c@x.org"));
        }
        assert_eq!(ring.by_topic["#b@x.org"].len(), 10);
    }

    /// Each topic's own entry counts against the budget, and is given back with the topic's
    /// last Event, whichever way it goes (evicted, deleted, purged, its life ended): topics of
    /// one Event each ran memory past the budget by about 100 bytes each (helper 268).
    #[test]
    fn a_topic_s_own_entry_counts_and_is_given_back() {
        let one = rec(0, "#t00@x.org").weight() + ENTRY_OVERHEAD;
        // Written apart from topic_cost, so that a topic counted as nothing fails here: the
        // map's slot, the name's and the first slot's allocations, about 100 bytes.
        let t = 96 + "#t00@x.org".len();
        assert_eq!(topic_cost("#t00@x.org"), t);
        let mut ring = Ring::new(10 * (one + t));
        for p in 0..30 {
            ring.push(rec(p, &format!("#t{:02}@x.org", p)));
        }
        assert_eq!(ring.by_topic.len(), 10, "ten topics of one Event fill the budget");
        assert_eq!(ring.bytes, 10 * (one + t));
        let newest = |ring: &Ring, t: &str| ring.by_topic[t].back().map(|e| e.id);
        let id = newest(&ring, "#t29@x.org").unwrap();
        ring.delete("#t29@x.org", &id);
        ring.end_life("#t28@x.org");
        let r = rec(27, "#t27@x.org");
        ring.purge("#t27@x.org", r.from(), 0);
        // Their Events stay counted in the server-wide order until evicted; their entries not.
        assert_eq!(ring.bytes, 10 * one + 7 * t);
        ring.forget(|_| true);
        assert_eq!((ring.bytes, ring.all.len(), ring.by_topic.len()), (0, 0, 0));
    }

    /// A topic whose life ended is gone from memory at once; its entries in the server-wide
    /// order go only when evicted in turn, which must not take the topic's newer Events with
    /// them, and a later `forget` gives back what they still hold.
    #[test]
    fn an_ended_life_leaves_memory_without_disturbing_what_comes_after() {
        let one = rec(0, "#a@x.org").weight() + ENTRY_OVERHEAD;
        let t = topic_cost("#a@x.org");
        let mut ring = Ring::new(10 * one + 3 * t);
        for p in 1..=4 {
            ring.push(rec(p, "#a@x.org"));
        }
        ring.push(rec(5, "#b@x.org"));
        ring.end_life("#a@x.org");
        assert!(!ring.by_topic.contains_key("#a@x.org"));
        assert_eq!((ring.all.len(), ring.ids.len(), ring.bytes), (5, 1, 5 * one + t));
        // The channel's next life.
        for p in 6..=10 {
            ring.push(rec(p, "#a@x.org"));
        }
        // Evicting the old life's four entries leaves the new life's Events in place.
        for p in 11..=14 {
            ring.push(rec(p, "#c@x.org"));
        }
        let pos = |ring: &Ring, t: &str| ring.by_topic[t].iter().map(|e| e.pos).collect::<Vec<_>>();
        assert_eq!(pos(&ring, "#a@x.org"), [6, 7, 8, 9, 10]);
        assert_eq!((ring.all.len(), ring.bytes), (10, 10 * one + 3 * t));
        // Stale entries forgotten with their topic are uncounted.
        ring.end_life("#a@x.org");
        ring.forget(|t| t == "#b@x.org");
        assert_eq!((ring.all.len(), ring.bytes), (4, 4 * one + t));
        assert_eq!(pos(&ring, "#c@x.org"), [11, 12, 13, 14]);
    }

    /// The ring against a naive model of the store: whenever it answers, it answers exactly
    /// what the store would (events, order, `more`), under eviction, count and age retention
    /// (an Event exactly `max_age` old is still kept, as the store's prune keeps it) and an
    /// account's floor.
    #[test]
    fn answers_like_the_store_whenever_it_answers() {
        let mut seed: u64 = 0x9e37_79b9;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut answered = 0;
        for round in 0..40 {
            let mut ring = Ring::new(2000 + rnd(20000) as usize);
            let mut store: Vec<Record> = Vec::new();
            let topics = ["#a@x.org", "#b@x.org"];
            let mut t = [1000u64, 1000];
            let rule = Rule {
                max_events: (rnd(2) == 0).then(|| 1 + rnd(40)),
                max_age: (rnd(2) == 0).then(|| Duration::from_millis(100)),
            };
            // Times run from 1000 to about 1600: the age cutoff falls among them, often on one.
            let now = 1100 + rnd(600);
            for pos in 1..=300u64 {
                let k = rnd(2) as usize;
                t[k] += 1 + rnd(3);
                let text = format!("b{}", "x".repeat(rnd(50) as usize));
                let body = Body::Text(&text);
                let r = Record::new(Fields {
                    pos,
                    topic: topics[k],
                    thread: None,
                    from: "u@x.org",
                    time: t[k],
                    id: MsgId::compute("u@x.org", topics[k], t[k], body, None, None),
                    body,
                    ctype: None,
                    reply_to: None,
                });
                store.push(r.clone());
                ring.push(Arc::new(r));
            }
            let all: Vec<&Record> = store.iter().filter(|r| r.topic() == topics[0]).collect();
            let too_many = rule
                .max_events
                .map_or(0, |m| all.len().saturating_sub(m as usize));
            let too_old = rule
                .max_age
                .map_or(0, |_| all.iter().filter(|r| r.time + 100 < now).count());
            let kept = &all[too_many.max(too_old)..];
            for case in 0..2000 {
                let pick = |x: u64| match x % 7 {
                    0 => Some(MsgId([1; 32])),
                    _ => Some(all[(x as usize) % all.len()].id),
                };
                let mut c = Catchup {
                    seq: None,
                    topic: Name::parse(topics[0]).unwrap(),
                    count: rnd(10) as u32,
                    since: None,
                    until: None,
                    after: None,
                    before: None,
                };
                if rnd(3) == 0 {
                    c.since = Some(1000 + rnd(800));
                }
                if rnd(3) == 0 {
                    c.until = Some(1000 + rnd(800));
                }
                if rnd(3) == 0 {
                    c.after = pick(rnd(1000));
                }
                if rnd(3) == 0 {
                    c.before = pick(rnd(1000));
                }
                let floor = (rnd(3) == 0).then(|| 1 + rnd(300));
                let n = c.count as usize;
                let Some(hit) = ring.answer(topics[0], &c, (n, usize::MAX), (rule, floor), now) else {
                    continue;
                };
                answered += 1;
                // What the asker may see: not what retention deleted, nor what is at or before
                // its floor (as anchors neither).
                let seen: Vec<&Record> = kept
                    .iter()
                    .copied()
                    .filter(|r| floor.is_none_or(|f| r.pos >= f))
                    .collect();
                let pos_of = |id: MsgId| seen.iter().find(|r| r.id == id).map(|r| r.pos);
                let unknown = c.after.is_some_and(|a| pos_of(a).is_none())
                    || c.before.is_some_and(|b| pos_of(b).is_none());
                assert!(
                    !unknown,
                    "round {round} case {case}: answered for an unknown anchor"
                );
                let lo = c.after.and_then(pos_of).unwrap_or(0);
                let hi = c.before.and_then(pos_of).unwrap_or(u64::MAX);
                let m: Vec<u64> = seen
                    .iter()
                    .filter(|r| r.pos > lo && r.pos < hi)
                    .filter(|r| c.since.is_none_or(|s| r.time > s) && c.until.is_none_or(|u| r.time < u))
                    .map(|r| r.pos)
                    .collect();
                let want = match c.forward() {
                    true => m.iter().take(n).copied().collect::<Vec<_>>(),
                    false => m[m.len().saturating_sub(n)..].to_vec(),
                };
                let got: Vec<u64> = hit.events.iter().map(|e| e.pos).collect();
                assert_eq!(
                    (got, hit.more),
                    (want, m.len() > n),
                    "round {round} case {case}: {c:?}"
                );
            }
        }
        assert!(answered > 10_000, "the ring answered only {answered} cases");
    }
}
