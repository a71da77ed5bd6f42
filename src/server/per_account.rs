//! Lists that accounts keep on the server (blocks, read markers), each bounded by its own
//! kind, and counted in all: open registration must not let accounts together make the
//! server hold more than it can.

use std::collections::HashMap;

/// Each account's list, and how many entries they hold in all.
#[derive(Debug)]
pub(super) struct PerAccount<T> {
    by_user: HashMap<Box<str>, Vec<T>>,
    /// Entries in all the lists.
    pub(super) total: usize,
}

impl<T> Default for PerAccount<T> {
    fn default() -> Self {
        PerAccount {
            by_user: HashMap::new(),
            total: 0,
        }
    }
}

impl<T> PerAccount<T> {
    /// `user`'s list.
    pub fn of(&self, user: &str) -> &[T] {
        self.by_user.get(user).map_or(&[], Vec::as_slice)
    }

    /// Changes `user`'s list with `f`, keeping the count in all; a list left empty is
    /// dropped, and none is made for a user `f` adds nothing for.
    pub fn edit<R>(&mut self, user: &str, f: impl FnOnce(&mut Vec<T>) -> R) -> R {
        let (r, before, after) = match self.by_user.get_mut(user) {
            Some(list) => {
                let before = list.len();
                let r = f(list);
                (r, before, list.len())
            }
            None => {
                let mut list = Vec::new();
                let r = f(&mut list);
                let after = list.len();
                if after > 0 {
                    self.by_user.insert(user.into(), list);
                }
                (r, 0, after)
            }
        };
        if after == 0 && before > 0 {
            self.by_user.remove(user);
        }
        self.total = self.total - before + after;
        r
    }

    /// Sets `user`'s list to `list`.
    pub fn replace(&mut self, user: &str, list: Vec<T>) {
        self.edit(user, |l| *l = list);
    }

    /// Forgets the lists of the users `gone` says are, returning whose it forgot.
    pub fn forget(&mut self, gone: impl Fn(&str) -> bool) -> Vec<Box<str>> {
        let users: Vec<Box<str>> = self.by_user.keys().filter(|u| gone(u)).cloned().collect();
        for user in &users {
            if let Some(list) = self.by_user.remove(user) {
                self.total -= list.len();
            }
        }
        users
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_in_all_follows_every_change() {
        let mut p = PerAccount::<u8>::default();
        assert!(!p.edit("a", |l| l.contains(&1)));
        assert!(p.of("a").is_empty() && p.total == 0, "nothing made for a look");
        p.edit("a", |l| l.extend([1, 2, 3]));
        p.replace("b", vec![4]);
        assert_eq!((p.of("a"), p.total), (&[1, 2, 3][..], 4));
        p.edit("a", |l| l.pop());
        p.replace("b", vec![5, 6]);
        assert_eq!(p.total, 4);
        p.replace("a", Vec::new());
        assert_eq!(p.total, 2);
        assert_eq!(
            p.forget(|u| u == "b" || u == "a"),
            [Box::from("b")],
            "a emptied is gone already"
        );
        assert_eq!(p.total, 0);
    }
}
