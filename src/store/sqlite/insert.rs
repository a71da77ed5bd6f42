//! Writing a batch of Events in one transaction.

use super::{Context, Db, Scoped, to_sql};
use crate::proto::{Body, MsgId};
use crate::store::{Record, StoreError};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::borrow::Borrow;
use std::collections::HashMap;

impl Db {
    /// Stores a batch in one transaction. Records whose position is already stored are skipped,
    /// so a batch that failed part-way (or did commit, but was not acknowledged) can be retried.
    pub fn insert<R: Borrow<Record>>(&mut self, batch: &[R]) -> Result<(), StoreError> {
        self.insert_saving(batch, std::iter::empty())
    }

    /// Stores a batch as [`insert`](Db::insert) does, and in the same transaction the state
    /// `saves` (see [`save_state`](Db::save_state)): on disk together or not at all.
    pub fn insert_saving<'a, R: Borrow<Record>>(
        &mut self,
        batch: &[R],
        saves: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) -> Result<(), StoreError> {
        if batch.is_empty() {
            return self.save_states(saves);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("insert: begin")?;
        for (key, value) in saves {
            super::state::write_state(&tx, key, value)?;
        }
        {
            let mut names = Names::prepare(&tx)?;
            let mut event = tx
                .prepare(
                    "INSERT OR IGNORE INTO events
                         (pos, topic, thread, time, sender, id, body, ctype, reply_to, life)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .context("insert: prepare")?;
            let mut added: HashMap<i64, i64> = HashMap::new();
            let mut runs = Runs::default();
            let (mut last_pos, mut last_time) = (0i64, 0i64);
            for r in batch.iter().map(Borrow::<Record>::borrow) {
                let pos = to_sql(r.pos, "position")?;
                let time = to_sql(r.time, "time")?;
                let topic = names.topic(r.topic())?;
                let thread = match r.thread() {
                    Some(key) => Some(names.thread(key)?),
                    None => None,
                };
                let body = match r.body() {
                    Body::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
                    Body::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
                };
                let life = r.life.map(|l| to_sql(l, "life")).transpose()?;
                let inserted = event
                    .execute(params![
                        pos,
                        topic,
                        thread,
                        time,
                        r.from(),
                        &r.id.0[..],
                        body,
                        r.ctype(),
                        r.reply_to.as_ref().map(|m| &m.0[..]),
                        life,
                    ])
                    .context("insert: event")?;
                if inserted == 1 {
                    *added.entry(topic).or_default() += 1;
                    runs.add(pos);
                }
                last_pos = last_pos.max(pos);
                last_time = last_time.max(time);
            }
            // The text index is written per run of consecutive new positions (one run in
            // practice: a batch's positions follow each other), not per Event: every write
            // statement on an FTS5 table opens a savepoint, and FTS5 flushes its pending terms
            // to disk at each, so a statement per Event made a segment (and merge work) per
            // Event. Only new positions: indexing one again would leave a second entry.
            let mut fts = tx.prepare(INDEX_TEXT).context("insert: prepare")?;
            for (lo, hi) in runs.done {
                fts.execute(params![lo, hi]).context("insert: text index")?;
            }
            let mut count = tx
                .prepare("UPDATE topics SET count = count + ?2 WHERE id = ?1")
                .context("insert: prepare")?;
            for (topic, n) in added {
                count.execute(params![topic, n]).context("insert: topic count")?;
            }
            for r in batch.iter().map(Borrow::<Record>::borrow) {
                if let Some(id) = crate::server::deleted_by(r.ctype(), r.body()) {
                    let topic = names.topic(r.topic())?;
                    delete(&tx, topic, &id)?;
                }
                if let Some((pattern, since)) = crate::server::purged_by(r.ctype(), r.body()) {
                    let topic = names.topic(r.topic())?;
                    purge(&tx, topic, (pattern, since), (r.pos, r.life))?;
                }
            }
            tx.execute(
                "UPDATE meta SET last_pos = max(last_pos, ?1), last_time = max(last_time, ?2)",
                params![last_pos, last_time],
            )
            .context("insert: meta")?;
        }
        tx.commit().context("insert: commit")
    }
}

/// Deletes the Event `id` of the topic with row id `topic`, if the store has it (an operator's
/// delete, whose record is in the same transaction); not a record of the server's, which are
/// the channel's audit trail. Its topic's horizon stays: retention did not take it.
fn delete(tx: &Connection, topic: i64, id: &MsgId) -> Result<(), StoreError> {
    let Some((pos, _)) = super::query::find(tx, &Scoped::Topic(topic), id)? else {
        return Ok(());
    };
    let (ctype, text): (Option<String>, bool) = tx
        .query_row(
            "SELECT ctype, typeof(body) = 'text' FROM events WHERE pos = ?1",
            [pos],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .context("delete: event")?;
    if ctype.as_deref().and_then(crate::server::server_ctype).is_some() {
        return Ok(());
    }
    if text {
        tx.execute("DELETE FROM events_fts WHERE rowid = ?1", [pos])
            .context("delete: text index")?;
    }
    tx.execute("DELETE FROM events WHERE pos = ?1", [pos])
        .context("delete: event")?;
    tx.execute("UPDATE topics SET count = count - 1 WHERE id = ?1", [topic])
        .context("delete: topic count")?;
    Ok(())
}

/// Deletes the Messages of the topic with row id `topic` from IDs matching `pattern` later
/// than `since` and before the purge's record at position `record` (what was said after it
/// stays), of the record's `life` (a closed channel's earlier lives are not the purger's to
/// read, nor so to delete: found in review), as [`delete`] deletes one: never a record of the
/// server's.
fn purge(
    tx: &Connection,
    topic: i64,
    (pattern, since): (&str, u64),
    (record, life): (u64, Option<u64>),
) -> Result<(), StoreError> {
    // An ID pattern's only wildcard is `*`, which GLOB reads alike; IDs are lowercase, as GLOB
    // compares (checked again: the record is read back from text).
    if !crate::proto::pattern::is_pattern(pattern) {
        return Ok(());
    }
    let since = i64::try_from(since).unwrap_or(i64::MAX);
    let record = i64::try_from(record).unwrap_or(i64::MAX);
    // The walk is the window's, not the topic's (found in review: every purge read the whole
    // channel, twice): times rise with positions within a topic, so the window starts after
    // the newest Event at or before `since`, found by walking back from the newest — unless
    // the oldest is later than `since` already, when that walk would read the whole topic to
    // find nothing (a week's reach covers most channels whole).
    let oldest: Option<i64> = tx
        .query_row(
            "SELECT time FROM events WHERE topic = ?1 ORDER BY pos LIMIT 1",
            [topic],
            |r| r.get(0),
        )
        .optional()
        .context("purge: oldest")?;
    let start: i64 = match oldest {
        Some(time) if time <= since => tx
            .query_row(
                "SELECT pos FROM events WHERE topic = ?1 AND time <= ?2 ORDER BY pos DESC LIMIT 1",
                params![topic, since],
                |r| r.get(0),
            )
            .optional()
            .context("purge: window")?
            .unwrap_or(0),
        _ => 0,
    };
    // The server writes its records' content types exactly so (a client cannot publish them).
    let which = format!(
        "topic = ?1 AND pos > ?5 AND pos < ?3 AND time > ?2 AND sender GLOB ?4 \
         AND (ctype IS NULL OR ctype NOT IN ('{}')) AND {}",
        crate::server::SERVER_CTYPES.join("', '"),
        match life {
            Some(_) => "(life IS NULL OR life = ?6)",
            None => "life IS NULL AND ?6 IS NULL",
        }
    );
    let life = life.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
    // The window is walked once, into a list of what it matched (QA: a purge of nobody walked
    // it twice, once for the text index and once for the Events, about 50 ms of the writer's
    // time on 100,000 Events); the deletes then go by position.
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS purged (pos INTEGER PRIMARY KEY, text INTEGER NOT NULL)",
    )
    .context("purge: list")?;
    let gone = tx
        .execute(
            &format!("INSERT INTO temp.purged SELECT pos, typeof(body) = 'text' FROM events WHERE {which}"),
            params![topic, since, record, pattern, start, life],
        )
        .context("purge: window")?;
    if gone == 0 {
        return Ok(());
    }
    tx.execute_batch(
        "DELETE FROM events_fts WHERE rowid IN (SELECT pos FROM temp.purged WHERE text);
         DELETE FROM events WHERE pos IN (SELECT pos FROM temp.purged);
         DELETE FROM temp.purged;",
    )
    .context("purge: events")?;
    let gone = i64::try_from(gone).unwrap_or(i64::MAX);
    tx.execute(
        "UPDATE topics SET count = count - ?2 WHERE id = ?1",
        params![topic, gone],
    )
    .context("purge: topic count")?;
    Ok(())
}

/// Adds the text bodies among positions `?1..=?2` to the search index.
const INDEX_TEXT: &str = index_text!("AND pos BETWEEN ?1 AND ?2");

/// Positions gathered into runs of consecutive ones, in the order they came.
#[derive(Default)]
struct Runs {
    done: Vec<(i64, i64)>,
}

impl Runs {
    fn add(&mut self, pos: i64) {
        match self.done.last_mut() {
            Some((_, hi)) if pos == hi.saturating_add(1) => *hi = pos,
            _ => self.done.push((pos, pos)),
        }
    }
}

/// Looks up or creates topic and thread rows during one insert transaction.
struct Names<'c> {
    find_topic: rusqlite::Statement<'c>,
    add_topic: rusqlite::Statement<'c>,
    find_thread: rusqlite::Statement<'c>,
    add_thread: rusqlite::Statement<'c>,
    // Only for this transaction: a rolled-back batch must not leave ids behind.
    topics: HashMap<Box<str>, i64>,
    threads: HashMap<Box<str>, i64>,
}

impl<'c> Names<'c> {
    fn prepare(conn: &'c Connection) -> Result<Self, StoreError> {
        let p = |sql| conn.prepare(sql).context("insert: prepare");
        Ok(Names {
            find_topic: p("SELECT id FROM topics WHERE name = ?1")?,
            // Its Events before now may be among those the store forgot (`SCHEMA_V17`).
            add_topic: p(concat!(
                "INSERT INTO topics (name, horizon) VALUES (?1, coalesce(",
                "(SELECT horizon FROM forgotten WHERE bucket = ",
                bucket_fn!(),
                "(?1)), 0)) RETURNING id"
            ))?,
            find_thread: p("SELECT id FROM threads WHERE key = ?1")?,
            add_thread: p("INSERT INTO threads (key) VALUES (?1) RETURNING id")?,
            topics: HashMap::new(),
            threads: HashMap::new(),
        })
    }

    fn topic(&mut self, name: &str) -> Result<i64, StoreError> {
        Self::get(&mut self.topics, &mut self.find_topic, &mut self.add_topic, name)
    }

    fn thread(&mut self, key: &str) -> Result<i64, StoreError> {
        Self::get(
            &mut self.threads,
            &mut self.find_thread,
            &mut self.add_thread,
            key,
        )
    }

    fn get(
        seen: &mut HashMap<Box<str>, i64>,
        find: &mut rusqlite::Statement<'_>,
        add: &mut rusqlite::Statement<'_>,
        name: &str,
    ) -> Result<i64, StoreError> {
        if let Some(&id) = seen.get(name) {
            return Ok(id);
        }
        let id = match find
            .query_row([name], |r| r.get(0))
            .optional()
            .context("insert: name")?
        {
            Some(id) => id,
            None => add.query_row([name], |r| r.get(0)).context("insert: new name")?,
        };
        seen.insert(name.into(), id);
        Ok(id)
    }
}
