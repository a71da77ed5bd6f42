//! Queries served in turn: each asker's in the order it asked, the askers one after another.
//! A reader thread answers one query at a time, so in order of arrival one client that queues
//! many slow searches would hold up everyone else's for all of them; in turns, a query waits
//! for at most the one running and one of each asker that was waiting before it came.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Items waiting, by asker.
#[derive(Debug)]
pub struct Turns<K, T> {
    /// Every asker with something waiting, its queue never empty.
    queues: HashMap<K, VecDeque<T>>,
    /// Those askers, the next to be served first, but for `served`.
    order: VecDeque<K>,
    /// The asker served last, if it has more waiting: it goes behind those that came while it
    /// was served (the item it got takes time to answer), at the next [`pop`](Turns::pop).
    served: Option<K>,
}

impl<K, T> Default for Turns<K, T> {
    fn default() -> Self {
        Turns {
            queues: HashMap::new(),
            order: VecDeque::new(),
            served: None,
        }
    }
}

impl<K: Hash + Eq + Copy, T> Turns<K, T> {
    /// Adds `item` after what `asker` already has waiting; a new asker comes after every other.
    pub fn push(&mut self, asker: K, item: T) {
        match self.queues.get_mut(&asker) {
            Some(q) => q.push_back(item),
            None => {
                self.queues.insert(asker, VecDeque::from([item]));
                self.order.push_back(asker);
            }
        }
    }

    /// The oldest item of the asker whose turn it is; that asker then waits behind the others,
    /// including those that come before the next `pop`.
    pub fn pop(&mut self) -> Option<T> {
        self.order.extend(self.served.take());
        let asker = self.order.pop_front()?;
        let q = self.queues.get_mut(&asker)?;
        let item = q.pop_front();
        match q.is_empty() {
            true => {
                self.queues.remove(&asker);
            }
            false => self.served = Some(asker),
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(t: &mut Turns<char, u32>) -> Vec<u32> {
        std::iter::from_fn(|| t.pop()).collect()
    }

    #[test]
    fn askers_take_turns_each_in_its_own_order() {
        let mut t = Turns::default();
        for i in 1..=4 {
            t.push('a', i);
        }
        t.push('b', 10);
        t.push('c', 20);
        t.push('b', 11);
        assert_eq!(drain(&mut t), [1, 10, 20, 2, 11, 3, 4]);
        assert_eq!(t.pop(), None);
    }

    /// One that arrives while another's item is being answered comes next, however many that
    /// other has waiting.
    #[test]
    fn a_newcomer_waits_only_for_the_item_being_answered() {
        let mut t = Turns::default();
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
    }
}
