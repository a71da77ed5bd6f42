//! Queries served in turn: each asker's in the order it asked, the askers one after another.
//! A reader thread answers one query at a time, so in order of arrival one client that queues
//! many slow searches would hold up everyone else's for all of them; in turns, a query waits
//! for at most the one running and one of each asker that was waiting before it came.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Items waiting, by asker; the caller keeps them to a bound with [`has_room`](Turns::has_room).
#[derive(Debug)]
pub struct Turns<K, T> {
    /// Every asker with something waiting, its queue never empty.
    queues: HashMap<K, VecDeque<T>>,
    /// Those askers, the next to be served first; all but `served`.
    order: VecDeque<K>,
    /// The asker served last: whether or not it has more waiting, it goes behind those that
    /// came while its item was answered, at the next [`pop`](Turns::pop).
    served: Option<K>,
    len: usize,
    cap: usize,
}

impl<K: Hash + Eq + Copy, T> Turns<K, T> {
    /// Room for `cap` items (at least one).
    pub fn new(cap: usize) -> Self {
        Turns {
            queues: HashMap::new(),
            order: VecDeque::new(),
            served: None,
            len: 0,
            cap: cap.max(1),
        }
    }

    /// How many items wait.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether another item fits under the bound.
    pub fn has_room(&self) -> bool {
        self.len < self.cap
    }

    /// Adds `item` after what `asker` already has waiting; a new asker comes after every
    /// other.
    pub fn push(&mut self, asker: K, item: T) {
        self.len += 1;
        match self.queues.get_mut(&asker) {
            Some(q) => q.push_back(item),
            None => {
                self.queues.insert(asker, VecDeque::from([item]));
                // The asker just served is put in line by `pop`, behind newcomers.
                if self.served != Some(asker) {
                    self.order.push_back(asker);
                }
            }
        }
    }

    /// The oldest item of the asker whose turn it is; that asker then waits behind the others,
    /// including those that come before the next `pop`. With nothing waiting, the next items
    /// go first come, first served.
    pub fn pop(&mut self) -> Option<T> {
        if let Some(last) = self.served.take()
            && self.queues.contains_key(&last)
        {
            self.order.push_back(last);
        }
        let asker = self.order.pop_front()?;
        // Every asker in `order` has a queue, never empty.
        let q = self.queues.get_mut(&asker)?;
        let item = q.pop_front()?;
        if q.is_empty() {
            self.queues.remove(&asker);
        }
        self.served = Some(asker);
        self.len -= 1;
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(t: &mut Turns<char, u32>) -> Vec<u32> {
        std::iter::from_fn(|| t.pop()).collect()
    }

    fn turns() -> Turns<char, u32> {
        Turns::new(1000)
    }

    #[test]
    fn askers_take_turns_each_in_its_own_order() {
        let mut t = turns();
        for (asker, item) in [
            ('a', 1),
            ('a', 2),
            ('a', 3),
            ('a', 4),
            ('b', 10),
            ('c', 20),
            ('b', 11),
        ] {
            t.push(asker, item);
        }
        assert_eq!(drain(&mut t), [1, 10, 20, 2, 11, 3, 4]);
        assert_eq!(t.pop(), None);
    }

    /// One that arrives while another's item is being answered comes next, however many that
    /// other has waiting, and whether that other asks again only now.
    #[test]
    fn a_newcomer_waits_only_for_the_item_being_answered() {
        let mut t = turns();
        for i in 0..100 {
            t.push('a', i);
        }
        assert_eq!(t.pop(), Some(0));
        t.push('b', 1000);
        assert_eq!(t.pop(), Some(1000));
        assert_eq!(t.pop(), Some(1));
        t.push('b', 1001);
        t.push('c', 2000);
        assert_eq!(t.pop(), Some(1001));
        assert_eq!(t.pop(), Some(2000));
        assert_eq!(t.pop(), Some(2));
        assert_eq!(drain(&mut t).len(), 97);

        // `a` has nothing more waiting while its item is answered, then asks again just
        // before `b` does: `b` still goes first.
        let mut t = turns();
        t.push('a', 1);
        assert_eq!(t.pop(), Some(1));
        t.push('a', 2);
        t.push('b', 100);
        assert_eq!(drain(&mut t), [100, 2]);
    }

    /// After an idle spell (a `pop` that found nothing), arrival order decides again.
    #[test]
    fn idle_resets_the_turns() {
        let mut t = turns();
        t.push('a', 1);
        assert_eq!(t.pop(), Some(1));
        assert_eq!(t.pop(), None);
        t.push('a', 2);
        t.push('b', 100);
        assert_eq!(drain(&mut t), [2, 100]);
    }

    #[test]
    fn it_counts_against_its_bound() {
        let mut t = Turns::new(2);
        t.push('a', 1);
        assert!(t.has_room());
        t.push('b', 2);
        assert!(!t.has_room());
        assert_eq!(t.pop(), Some(1));
        assert!(t.has_room());
    }
}
