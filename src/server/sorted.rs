//! Channel names in bytewise order, for Topics pages.

use std::rc::Rc;

/// The most names one block holds before it is split in two.
const BLOCK: usize = 512;

/// Names in bytewise order, in blocks of at most [`BLOCK`]. One sorted Vec moved half of all
/// names on each channel made or ended (0.5 ms at a million, which clients churning channels
/// can ask for as often as they may Sub); a block moves at most [`BLOCK`]. Finding the name at
/// an index walks the blocks' lengths: at most 2n/257 + 1 blocks for n names, about 8,000 at a
/// million.
#[derive(Debug, Default)]
pub struct Sorted {
    /// Never an empty block; each block's names come before the next block's.
    blocks: Vec<Vec<Rc<str>>>,
    len: usize,
}

impl Sorted {
    /// The block `name` belongs in: the first whose last name is not before it, else the last.
    fn block_for(&self, name: &str) -> usize {
        let i = self
            .blocks
            .partition_point(|b| b.last().is_some_and(|l| &**l < name));
        i.min(self.blocks.len().saturating_sub(1))
    }

    /// Adds `name` unless present.
    pub fn insert(&mut self, name: Rc<str>) {
        let i = self.block_for(&name);
        let Some(block) = self.blocks.get_mut(i) else {
            self.blocks.push(vec![name]);
            self.len += 1;
            return;
        };
        let Err(at) = block.binary_search(&name) else {
            return;
        };
        block.insert(at, name);
        self.len += 1;
        if block.len() > BLOCK {
            let upper = block.split_off(block.len() / 2);
            // Half a block in a full one's allocation would hold twice what it needs.
            block.shrink_to_fit();
            self.blocks.insert(i + 1, upper);
        }
    }

    /// Removes `name` if present.
    pub fn remove(&mut self, name: &str) {
        let i = self.block_for(name);
        let Some(block) = self.blocks.get_mut(i) else {
            return;
        };
        let Ok(at) = block.binary_search_by(|k| (**k).cmp(name)) else {
            return;
        };
        block.remove(at);
        self.len -= 1;
        if block.is_empty() {
            self.blocks.remove(i);
            return;
        }
        // A block that shrank joins a neighbour if both fit in half a block: so no two
        // neighbours ever do (splits make halves of a full block, and only this one shrank),
        // and there are at most 2n/257 + 1 blocks for n names however they came and went.
        self.join_if_small(i);
        if let Some(before) = i.checked_sub(1) {
            self.join_if_small(before);
        }
    }

    /// Moves block `i + 1` into block `i` if together they fit in half a block.
    fn join_if_small(&mut self, i: usize) {
        let len = |j: usize| self.blocks.get(j).map_or(usize::MAX, Vec::len);
        if len(i).saturating_add(len(i + 1)) > BLOCK / 2 {
            return;
        }
        let next = self.blocks.remove(i + 1);
        if let Some(block) = self.blocks.get_mut(i) {
            block.extend(next);
        }
    }

    /// Whether `name` is here.
    pub fn contains(&self, name: &str) -> bool {
        self.blocks
            .get(self.block_for(name))
            .is_some_and(|b| b.binary_search_by(|k| (**k).cmp(name)).is_ok())
    }

    /// How many names there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The index of the first name bytewise after `name` (which need not be here).
    pub fn position_after(&self, name: &str) -> usize {
        let i = self
            .blocks
            .partition_point(|b| b.last().is_some_and(|l| &**l <= name));
        let before: usize = self.blocks.iter().take(i).map(Vec::len).sum();
        let within = self
            .blocks
            .get(i)
            .map_or(0, |b| b.partition_point(|k| &**k <= name));
        before + within
    }

    /// Up to `count` names from index `start` on, in order.
    pub fn page(&self, start: usize, count: usize) -> impl Iterator<Item = &str> {
        let (mut first, mut skip) = (self.blocks.len(), 0);
        let mut seen = 0;
        for (i, b) in self.blocks.iter().enumerate() {
            if start < seen + b.len() {
                (first, skip) = (i, start - seen);
                break;
            }
            seen += b.len();
        }
        self.blocks
            .get(first..)
            .unwrap_or_default()
            .iter()
            .flatten()
            .skip(skip)
            .take(count)
            .map(|k| &**k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A small deterministic generator, so that a failure repeats.
    fn next(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *state >> 33
    }

    #[test]
    fn blocks_stay_few_when_all_but_one_name_of_each_goes() {
        let mut s = Sorted::default();
        let name = |i: usize| format!("#c{i:07}@x");
        for i in 0..20_000 {
            s.insert(name(i).into());
        }
        let firsts: Vec<String> = s
            .blocks
            .iter()
            .filter_map(|b| b.first())
            .map(|k| k.to_string())
            .collect();
        for i in 0..20_000 {
            if !firsts.contains(&name(i)) {
                s.remove(&name(i));
            }
        }
        assert_eq!(s.len(), firsts.len());
        assert_eq!(
            s.blocks.len(),
            1,
            "{} names in {} blocks",
            s.len(),
            s.blocks.len()
        );
    }

    #[test]
    fn agrees_with_a_btreeset_through_growth_and_shrinking() {
        let (mut s, mut model, mut rng) = (Sorted::default(), BTreeSet::new(), 7u64);
        let mut most_blocks = 0;
        // Grows past several splits, then mostly shrinks, so that blocks split and merge.
        for step in 0..20_000 {
            let name = format!("#c{}@x", next(&mut rng) % 4_000);
            let grow = if step < 10_000 { 3 } else { 1 };
            if next(&mut rng) % 4 < grow {
                s.insert(name.as_str().into());
                model.insert(name);
            } else {
                s.remove(&name);
                model.remove(&name);
            }
            assert_eq!(s.len(), model.len());
            most_blocks = most_blocks.max(s.blocks.len());
            if step % 500 == 0 {
                let all: Vec<&str> = s.page(0, usize::MAX).collect();
                assert_eq!(all, model.iter().map(String::as_str).collect::<Vec<_>>());
                assert!(s.blocks.iter().all(|b| !b.is_empty() && b.len() <= BLOCK));
                assert!(
                    s.blocks.windows(2).all(|w| w[0].len() + w[1].len() > BLOCK / 2),
                    "no two neighbours fit in half a block"
                );
                for probe in ["", "#c1@x", "#c2000@x", "#c999@x", "~"] {
                    let want = model.iter().filter(|k| k.as_str() <= probe).count();
                    assert_eq!(s.position_after(probe), want, "{probe}");
                }
                for start in [0, 1, BLOCK - 1, BLOCK, 1_000, model.len(), model.len() + 5] {
                    let page: Vec<&str> = s.page(start, 100).collect();
                    let want: Vec<&str> = model.iter().skip(start).take(100).map(String::as_str).collect();
                    assert_eq!(page, want, "from {start}");
                }
            }
        }
        assert!(most_blocks > 4, "the test split blocks: {most_blocks}");
    }
}
