//! Retention: deleting what breaks a topic's rule, a little at a time.

use super::{Context, Db, PRUNE_TOPICS};
use crate::store::{Retention, Rule, StoreError};
use rusqlite::{Transaction, TransactionBehavior, params};

impl Db {
    /// Deletes at most `budget` Events that break their topic's [`Rule`]: the oldest beyond
    /// `max_events`, and those older than `max_age` at `now_ms`. Each topic's `horizon` rises to
    /// the newest time it lost; a pair of users whose conversation has no Event left goes. A
    /// topic left with no Event keeps its row (its `horizon`), up to [`Db::kept_emptied`] such
    /// rows; beyond, those with the oldest horizons are forgotten (`SCHEMA_V17`). Looks at a
    /// bounded slice of topics per call, resuming where the last call stopped, so a call stays
    /// short however many topics there are. Returns how many Events it deleted.
    pub fn prune(&mut self, retention: &Retention, now_ms: u64, budget: usize) -> Result<usize, StoreError> {
        let unlimited = |r: &Rule| r.max_events.is_none() && r.max_age.is_none();
        if budget == 0 || (unlimited(&retention.default) && retention.topics.values().all(unlimited)) {
            return Ok(0);
        }
        // Immediate: the step reads before it writes, and a transaction begun as a read fails
        // at once, without the busy timeout, when it must become a write while another
        // connection (the accounts' thread) holds the write lock for a moment.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("prune: begin")?;
        let mut cursor = self.prune_cursor;
        let mut deleted = 0usize;
        let mut emptied = false;
        {
            let mut slice = tx
                .prepare(
                    "SELECT id, name, count FROM topics WHERE id > ?1 AND count > 0 ORDER BY id LIMIT ?2",
                )
                .context("prune: prepare")?;
            let topics: Vec<(i64, String, i64)> = slice
                .query_map(params![cursor, PRUNE_TOPICS as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .context("prune: topics")?
                .collect::<Result<_, _>>()
                .context("prune: topics")?;
            let last_slice = topics.len() < PRUNE_TOPICS;
            if last_slice {
                cursor = 0;
            }
            let mut oldest = tx
                .prepare("SELECT pos, time FROM events WHERE topic = ?1 ORDER BY pos LIMIT ?2")
                .context("prune: prepare")?;
            // One statement each per topic, not per Event: FTS5 flushes its pending changes at
            // every write statement (see INDEX_TEXT in insert.rs). The victims are the topic's
            // oldest, so they are exactly its Events up to the last one.
            let mut del_text = tx
                .prepare(
                    "DELETE FROM events_fts WHERE rowid IN
                     (SELECT pos FROM events WHERE topic = ?1 AND pos <= ?2 AND typeof(body) = 'text')",
                )
                .context("prune: prepare")?;
            let mut del_events = tx
                .prepare("DELETE FROM events WHERE topic = ?1 AND pos <= ?2")
                .context("prune: prepare")?;
            let mut update = tx
                .prepare("UPDATE topics SET count = count - ?2, horizon = max(horizon, ?3) WHERE id = ?1")
                .context("prune: prepare")?;
            // The conversations the victims were part of, asked before they go.
            let mut threads = tx
                .prepare(
                    "SELECT DISTINCT thread FROM events
                     WHERE topic = ?1 AND pos <= ?2 AND thread IS NOT NULL",
                )
                .context("prune: prepare")?;
            let mut del_thread = tx
                .prepare(
                    "DELETE FROM threads WHERE id = ?1
                     AND NOT EXISTS (SELECT 1 FROM events WHERE thread = ?1)",
                )
                .context("prune: prepare")?;
            for (topic, name, count) in topics {
                let rule = retention.rule(&name);
                let excess = rule
                    .max_events
                    .map_or(0, |m| count.saturating_sub(i64::try_from(m).unwrap_or(i64::MAX)));
                let cutoff = rule
                    .too_old_before(now_ms)
                    .map(|c| i64::try_from(c).unwrap_or(i64::MAX));
                if excess > 0 || cutoff.is_some() {
                    let room = budget - deleted;
                    // The victims are the topic's oldest: counted first (deleting under a
                    // running SELECT of the same table is not well defined), then deleted as
                    // the range up to the last of them.
                    let (mut victims, mut last, mut newest) = (0usize, None, 0i64);
                    let mut rows = oldest
                        .query(params![topic, room as i64])
                        .context("prune: oldest")?;
                    while let Some(row) = rows.next().context("prune: oldest")? {
                        let (pos, time): (i64, i64) =
                            (row.get(0).context("prune")?, row.get(1).context("prune")?);
                        // Times increase with position within a topic, so the first Event
                        // young enough ends the run.
                        let too_many = (victims as i64) < excess;
                        let too_old = cutoff.is_some_and(|c| time < c);
                        if !too_many && !too_old {
                            break;
                        }
                        (victims, last, newest) = (victims + 1, Some(pos), newest.max(time));
                    }
                    drop(rows);
                    if let Some(last) = last {
                        // A channel's Events are of no conversation.
                        let pairs: Vec<i64> = if name.starts_with('#') {
                            Vec::new()
                        } else {
                            threads
                                .query_map([topic, last], |r| r.get(0))
                                .context("prune: threads")?
                                .collect::<Result<_, _>>()
                                .context("prune: threads")?
                        };
                        del_text.execute([topic, last]).context("prune: delete text")?;
                        del_events.execute([topic, last]).context("prune: delete")?;
                        update
                            .execute(params![topic, victims as i64, newest])
                            .context("prune: topic")?;
                        for pair in pairs {
                            del_thread.execute([pair]).context("prune: delete thread")?;
                        }
                        emptied |= victims as i64 == count;
                    }
                    deleted += victims;
                }
                if deleted >= budget {
                    // This topic may have more to go: resume with it next time.
                    cursor = topic - 1;
                    break;
                }
                // Past the end of the list, the next call starts over.
                cursor = if last_slice { 0 } else { topic };
            }
        }
        // Set only once committed, as the cursor is: a failed commit leaves the rows, and the
        // flag, as they were.
        let over = match self.emptied_over || emptied {
            true => forget_emptied(&tx, self.kept_emptied, budget)?,
            false => false,
        };
        tx.commit().context("prune: commit")?;
        self.emptied_over = over;
        self.prune_cursor = cursor;
        Ok(deleted)
    }
}

/// Forgets up to `budget` of the emptied topics' rows beyond `kept`, those with the oldest
/// horizons first, and raises their buckets' horizons to theirs (forgotten.rs). Returns whether
/// more than `kept` are left.
fn forget_emptied(tx: &Transaction<'_>, kept: u64, budget: usize) -> Result<bool, StoreError> {
    let emptied: i64 = tx
        .query_row("SELECT emptied FROM meta", [], |r| r.get(0))
        .context("prune: emptied")?;
    let over = u64::try_from(emptied).unwrap_or(0).saturating_sub(kept);
    let now = over.min(budget as u64);
    if now == 0 {
        return Ok(false);
    }
    let gone: Vec<(String, i64)> = tx
        .prepare(
            "DELETE FROM topics WHERE id IN
                 (SELECT id FROM topics WHERE count = 0 ORDER BY horizon LIMIT ?1)
             RETURNING name, horizon",
        )
        .context("prune: prepare")?
        .query_map([now as i64], |r| Ok((r.get(0)?, r.get(1)?)))
        .context("prune: forget")?
        .collect::<Result<_, _>>()
        .context("prune: forget")?;
    let mut keep = tx
        .prepare(concat!(
            "INSERT INTO forgotten (bucket, horizon) VALUES (",
            bucket_fn!(),
            "(?1), ?2) ON CONFLICT (bucket) DO UPDATE SET horizon = max(horizon, excluded.horizon)"
        ))
        .context("prune: prepare")?;
    for (name, horizon) in gone {
        keep.execute(params![name, horizon]).context("prune: forget")?;
    }
    Ok(over > now)
}
