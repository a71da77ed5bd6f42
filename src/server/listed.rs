//! The channels Topics lists, in bytewise order: those with a subscriber and the kept ones
//! without (PROTOCOL.md §4, Topics). A secret channel (+s) is listed only to its subscribers
//! and the server's admins, so the names are held twice: all of them, for the admins, and the
//! public ones, which everyone else sees merged with the secret ones it is in. Each asker's
//! list is exact (its `start`, `total` and cursors count only what it may see: a count
//! taken over hidden names would let it find them out by bisecting cursors, found in
//! review), and a page costs its own names plus the asker's few secret ones, never a walk past
//! everyone else's.

use super::sorted::Sorted;
use std::iter::Peekable;
use std::rc::Rc;

/// All the listed channels, and the public ones among them.
#[derive(Debug, Default)]
pub struct Listed {
    all: Sorted,
    public: Sorted,
}

impl Listed {
    /// Lists `name`, secret or not (nothing if listed already).
    pub fn insert(&mut self, name: Rc<str>, secret: bool) {
        if !secret {
            self.public.insert(name.clone());
        }
        self.all.insert(name);
    }

    /// Lists `name` no more.
    pub fn remove(&mut self, name: &str) {
        self.public.remove(name);
        self.all.remove(name);
    }

    /// `name`, if listed, is secret now, or public (its mode changed).
    pub fn set_secret(&mut self, name: Rc<str>, secret: bool) {
        if !self.all.contains(&name) {
            return;
        }
        match secret {
            true => self.public.remove(&name),
            false => self.public.insert(name),
        }
    }

    /// How many channels are listed, secret ones included.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// The list as an admin sees it: every channel.
    pub fn to_admin(&self) -> View<'_> {
        View {
            base: &self.all,
            mine: Vec::new(),
        }
    }

    /// The list as someone sees it who is in the secret channels `mine` (in any order): the
    /// public ones and those.
    pub fn to<'a>(&'a self, mut mine: Vec<&'a str>) -> View<'a> {
        mine.sort_unstable();
        mine.dedup();
        View {
            base: &self.public,
            mine,
        }
    }
}

/// One asker's list: `base` merged with the secret channels it is in, which `base` lacks.
pub struct View<'a> {
    base: &'a Sorted,
    mine: Vec<&'a str>,
}

impl<'a> View<'a> {
    /// How many channels the asker may see.
    pub fn len(&self) -> usize {
        self.base.len() + self.mine.len()
    }

    /// The index of the first channel named bytewise after `name` (which need not exist).
    pub fn position_after(&self, name: &str) -> usize {
        self.base.position_after(name) + self.mine.iter().filter(|m| **m <= name).count()
    }

    /// The names from index `start` on, in order.
    pub fn from(&self, start: usize) -> impl Iterator<Item = &'a str> + '_ {
        // How many of the asker's own come before `start`: the m-th of them stands at m plus
        // the base names before it.
        let before = self
            .mine
            .iter()
            .enumerate()
            .take_while(|&(m, name)| m + self.base.position_after(name) < start)
            .count();
        let base = self.base.page(start - before, usize::MAX).peekable();
        let mine = self
            .mine
            .get(before..)
            .unwrap_or_default()
            .iter()
            .copied()
            .peekable();
        Merge { base, mine }
    }
}

/// Two ascending runs of names, disjoint, as one.
struct Merge<A: Iterator, B: Iterator> {
    base: Peekable<A>,
    mine: Peekable<B>,
}

impl<'a, A: Iterator<Item = &'a str>, B: Iterator<Item = &'a str>> Iterator for Merge<A, B> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match (self.base.peek(), self.mine.peek()) {
            (Some(b), Some(m)) if m < b => self.mine.next(),
            (Some(_), _) => self.base.next(),
            (None, _) => self.mine.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(names: &[(&str, bool)]) -> Listed {
        let mut l = Listed::default();
        for &(n, secret) in names {
            l.insert(n.into(), secret);
        }
        l
    }

    /// Every asker's view is exact at every index and after every cursor, real or not, and
    /// tells nothing of the secret channels it is not in.
    #[test]
    fn views_are_exact_and_keep_others_secrets() {
        let l = listed(&[
            ("#a", true),
            ("#b", false),
            ("#c", true),
            ("#d", false),
            ("#e", true),
            ("#f", false),
        ]);
        let all: Vec<&str> = l.to_admin().from(0).collect();
        assert_eq!(all, ["#a", "#b", "#c", "#d", "#e", "#f"]);
        for mine in [vec![], vec!["#c"], vec!["#e", "#a"], vec!["#a", "#c", "#e"]] {
            let v = l.to(mine.clone());
            let mut want: Vec<&str> = ["#b", "#d", "#f"]
                .into_iter()
                .chain(mine.iter().copied())
                .collect();
            want.sort_unstable();
            assert_eq!(v.len(), want.len(), "{mine:?}");
            for start in 0..=want.len() + 1 {
                let got: Vec<&str> = v.from(start).collect();
                assert_eq!(
                    got,
                    want.get(start..).unwrap_or_default(),
                    "{mine:?} from {start}"
                );
            }
            for cursor in [
                "#", "#a", "#aa", "#b", "#bb", "#c", "#cc", "#d", "#e", "#ee", "#f", "#g",
            ] {
                let at = v.position_after(cursor);
                assert_eq!(
                    at,
                    want.iter().filter(|w| **w <= cursor).count(),
                    "{mine:?} after {cursor}"
                );
            }
        }
        // With none of them mine, a cursor just before or after a secret name places alike.
        let v = l.to(Vec::new());
        assert_eq!(v.position_after("#bz"), v.position_after("#c"));
        assert_eq!(v.position_after("#c"), v.position_after("#cz"));
    }

    #[test]
    fn a_mode_change_moves_a_name_and_removal_takes_it_from_both() {
        let mut l = listed(&[("#a", false), ("#b", false)]);
        l.set_secret("#a".into(), true);
        assert_eq!(l.to(Vec::new()).from(0).collect::<Vec<_>>(), ["#b"]);
        l.set_secret("#zz".into(), false);
        assert_eq!(l.len(), 2, "only a listed name changes");
        l.set_secret("#a".into(), false);
        assert_eq!(l.to(Vec::new()).from(0).collect::<Vec<_>>(), ["#a", "#b"]);
        l.remove("#a");
        assert_eq!(l.to_admin().from(0).collect::<Vec<_>>(), ["#b"]);
        assert_eq!(l.to(Vec::new()).from(0).collect::<Vec<_>>(), ["#b"]);
    }
}
