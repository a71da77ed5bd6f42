//! Where topics' Event times resume when the store's latest time is past the clock at start:
//! the clock was set back after a step ahead, or a busy topic ran ahead of it (one millisecond
//! an Event past 1,000 a second). Times rise strictly per topic (PROTOCOL.md §4), so only the
//! topics whose last time is past the clock must go on after it; starting every topic after
//! the latest time of all held a step a year ahead, set right seconds later, over every topic
//! made again after a restart until the clock caught up with it (noticed in review 264).

use super::{Context, Db, from_sql};
use crate::store::StoreError;

/// At most this many topics are named (about 100 bytes each in the server's memory): past it,
/// every topic starts after the latest time, as if none could be named.
pub const MAX_AHEAD: usize = 100_000;

impl Db {
    /// The topics whose last time (an Event kept, or the newest deleted: its horizon) is at or
    /// past `now_ms`, with that time. None if they cannot all be named: a forgotten topic's
    /// bucket (`forgotten`) may hold a time past `now_ms` for names the store no longer has,
    /// or there are more than [`MAX_AHEAD`].
    pub fn topics_ahead(&self, now_ms: u64) -> Result<Option<Vec<(String, u64)>>, StoreError> {
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        let forgotten: Option<i64> = self
            .conn
            .query_row("SELECT max(horizon) FROM forgotten", [], |r| r.get(0))
            .context("topics ahead: forgotten")?;
        if forgotten.is_some_and(|t| t >= now) {
            return Ok(None);
        }
        // An Event's time rises with its position within its topic, so the newest by position
        // (one step down the topic's index) is its last.
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, last FROM (
                     SELECT name, max(horizon, coalesce((SELECT time FROM events
                         WHERE topic = topics.id ORDER BY pos DESC LIMIT 1), 0)) AS last
                     FROM topics)
                 WHERE last >= ?1 LIMIT ?2",
            )
            .context("topics ahead: prepare")?;
        let limit = i64::try_from(MAX_AHEAD + 1).unwrap_or(i64::MAX);
        let mut rows = stmt.query([now, limit]).context("topics ahead")?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().context("topics ahead: step")? {
            if out.len() == MAX_AHEAD {
                return Ok(None);
            }
            let name: String = row.get(0).context("topics ahead: name")?;
            let last: i64 = row.get(1).context("topics ahead: time")?;
            out.push((name, from_sql(last, "time")?));
        }
        Ok(Some(out))
    }
}
