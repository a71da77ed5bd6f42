//! Answering a Query: resolving the scope and anchors, turning times into positions, and the
//! one SELECT that reads a page.

use super::words::{normalized, spaced, words};
use super::{Context, Db, Scoped, forgotten, from_sql, to_sql};
use crate::proto::Body;
use crate::proto::MsgId;
use crate::store::accounts::UNSTARTED;
use crate::store::{Fields, Page, Query, Reader, Record, Scope, StoreError};
use rusqlite::types::{FromSql, Value, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

/// Bits of a position below the id index's bucket: schema version 4's `pos >> 16`, which the
/// probes below must spell the same way for SQLite to use the index.
pub(super) const ID_BUCKET_BITS: u32 = 16;
// INDEXED BY: the topic (thread) index would also fit the WHERE and is far worse.
pub(super) const PROBE_IN_TOPIC: &str = "SELECT pos, life FROM events INDEXED BY events_by_id
    WHERE pos >> 16 = ?3 AND substr(id, 1, 8) = substr(?1, 1, 8) AND id = ?1 AND topic = ?2";
pub(super) const PROBE_IN_THREAD: &str = "SELECT pos, life FROM events INDEXED BY events_by_id
    WHERE pos >> 16 = ?3 AND substr(id, 1, 8) = substr(?1, 1, 8) AND id = ?1 AND thread = ?2";
// One seek each (a lone max() uses the index's end), so skipping empty buckets is cheap.
pub(super) const BELOW_IN_TOPIC: &str = "SELECT max(pos) FROM events WHERE topic = ?1 AND pos < ?2";
pub(super) const BELOW_IN_THREAD: &str = "SELECT max(pos) FROM events WHERE thread = ?1 AND pos < ?2";

impl Db {
    /// Answers a query; see [`Query`] and [`Page`] for what that means. An unknown topic or
    /// thread is an empty page, not an error.
    pub fn query(&self, q: &Query) -> Result<Page, StoreError> {
        // Every statement below reads one snapshot: a prune committed between reading the
        // horizon and reading the page would otherwise leave the page short of the Events it
        // deleted, under the horizon from before, so the page would look complete.
        let snapshot = self.conn.unchecked_transaction().context("query: begin")?;
        // Declared after the snapshot so that it drops first: its end is never stopped.
        let running = self.deadline.as_ref().map(|d| d.start());
        #[cfg(test)]
        assert_ne!(q.token, super::tests::PANICKING_QUERY, "a query told to panic");
        let page = self.page(q)?;
        drop(running);
        snapshot.commit().context("query: end")?;
        Ok(page)
    }

    fn page(&self, q: &Query) -> Result<Page, StoreError> {
        if let Scope::Conversations(user, after) = &q.scope {
            return self.conversations(q, user, after.as_deref());
        }
        let anchored = q.after.is_some() || q.before.is_some();
        let scope = match self.resolve(&q.scope)? {
            Resolution::Known(scope) => scope,
            // Nothing is in an unknown scope, so neither is the anchor.
            Resolution::Unknown { horizon } => {
                return Ok(Page {
                    unknown_anchor: anchored,
                    horizon,
                    ..Page::default()
                });
            }
        };
        let mut page = Page {
            horizon: scope.horizon,
            ..Page::default()
        };
        let floor = self.floor(q.reader.as_ref())?;
        // An account's horizon says its start; a name held without a proof is told nothing of
        // what its earlier holders got, not even when (its retention horizon only).
        if let (Some(f), Some(Reader::Account(..))) = (floor, &q.reader) {
            page.horizon = page.horizon.max(self.newest_time_before(&scope, f)?);
        }

        // Positions: `lo <= pos < hi`.
        let (mut lo, mut hi) = (0i64, i64::MAX);
        for (anchor, is_after) in [(&q.after, true), (&q.before, false)] {
            let Some(id) = anchor else { continue };
            let Some((p, life)) = find(&self.conn, &scope.of, id)? else {
                page.unknown_anchor = true;
                return Ok(page);
            };
            // One the asker may not read is unknown to it, as if deleted.
            if floor.is_some_and(|f| p < f) || life.is_some_and(|l| u64::try_from(l).ok() != q.life) {
                page.unknown_anchor = true;
                return Ok(page);
            }
            if is_after {
                lo = lo.max(p.saturating_add(1));
            } else {
                hi = hi.min(p);
            }
        }
        let fts = match &q.text {
            Some(text) => match fts_query(text) {
                Some(m) => Some(m),
                None => return Ok(page),
            },
            None => None,
        };
        // Times, kept exact in SQL; also turned into position bounds (below) so the scan starts
        // near the first match instead of walking every older Event of the topic.
        let since = match q.since {
            Some(s) => match i64::try_from(s) {
                Ok(s) if s < i64::MAX => Some(s),
                _ => return Ok(page),
            },
            None => None,
        };
        let until = match q.until {
            Some(0) => return Ok(page),
            Some(u) => i64::try_from(u).ok(),
            None => None,
        };
        if since.is_some() || until.is_some() {
            let top = self.top()?;
            if let Some(s) = since {
                let split = scope.topics.iter().map(|&(t, _)| self.time_split(t, s + 1, top));
                lo = lo.max(min_of(split)?.unwrap_or(0));
            }
            if let Some(u) = until {
                let split = scope.topics.iter().map(|&(t, _)| self.time_split(t, u, top));
                hi = hi.min(max_of(split)?.unwrap_or(i64::MAX));
            }
        }
        if let Some(f) = floor {
            lo = lo.max(f);
        }
        if lo >= hi {
            return Ok(page);
        }

        let forward = q.forward();
        // One more than asked, to learn whether more exist.
        let limit = i64::try_from(q.count.saturating_add(1)).unwrap_or(i64::MAX);
        let life = q.life.map(|l| to_sql(l, "life")).transpose()?;
        let sel = select(&scope.of, fts, (lo, hi), (since, until), life, forward, limit);
        let mut stmt = self.conn.prepare(&sel.sql).context("query: prepare")?;
        let mut rows = stmt.query(params_from_iter(sel.args.iter())).context("query")?;
        let mut bytes = 0usize;
        loop {
            let row = match rows.next().context("query: step") {
                Ok(Some(row)) => row,
                Ok(None) => break,
                // Out of time: what was found is a page, and more may exist past it. Rows come
                // out in the page's order, so those found are its first ones, not a sample.
                Err(StoreError::TooSlow) if !page.events.is_empty() => {
                    (page.more, page.cut) = (true, true);
                    break;
                }
                Err(e) => return Err(e),
            };
            if page.events.len() == q.count {
                page.more = true;
                break;
            }
            let r = read_record(row)?;
            let len = r.wire_size();
            if !page.events.is_empty() && bytes.saturating_add(len) > q.max_bytes {
                page.more = true;
                break;
            }
            bytes = bytes.saturating_add(len);
            page.events.push(r);
        }
        if !forward {
            page.events.reverse();
        }
        Ok(page)
    }

    /// The first position `reader` may read (see [`Query::reader`]); an account deleted since
    /// (its session is about to be closed) reads nothing. `None`: every position.
    pub(super) fn floor(&self, reader: Option<&Reader>) -> Result<Option<i64>, StoreError> {
        Ok(match reader {
            Some(Reader::Account(name, placed)) => Some(match self.account_start(name)? {
                Some(start) if start == to_sql(UNSTARTED, "position")? => to_sql(*placed, "position")?,
                Some(start) => start,
                None => i64::MAX,
            }),
            Some(Reader::Since(pos)) => Some(i64::try_from(*pos).unwrap_or(i64::MAX)),
            None => None,
        })
    }

    /// The first position that is account `name`'s own; `None` if there is no such account.
    fn account_start(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row("SELECT from_pos FROM accounts WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .context("query: account")
    }

    /// The time of the scope's newest Event below position `floor`, if any: up to there the
    /// asker reads nothing. Per topic, as times rise with positions only within one.
    fn newest_time_before(&self, scope: &Resolved, floor: i64) -> Result<Option<u64>, StoreError> {
        let mut newest = None;
        for &(topic, _) in &scope.topics {
            let t: Option<i64> = match scope.of {
                Scoped::Topic(_) => self.conn.query_row(
                    "SELECT time FROM events WHERE topic = ?1 AND pos < ?2 ORDER BY pos DESC LIMIT 1",
                    [topic, floor],
                    |r| r.get(0),
                ),
                Scoped::Thread(k) => self.conn.query_row(
                    "SELECT time FROM events WHERE thread = ?1 AND topic = ?2 AND pos < ?3 \
                     ORDER BY pos DESC LIMIT 1",
                    [k, topic, floor],
                    |r| r.get(0),
                ),
            }
            .optional()
            .context("query: floor")?;
            newest = newest.max(t.map(|t| from_sql(t, "time")).transpose()?);
        }
        Ok(newest)
    }

    /// The scope's row ids and horizon, or only its horizon if it holds no Event.
    fn resolve(&self, scope: &Scope) -> Result<Resolution, StoreError> {
        let topic = |name: &str| -> Result<Option<(i64, i64)>, StoreError> {
            self.conn
                .query_row("SELECT id, horizon FROM topics WHERE name = ?1", [name], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .context("query: topic")
        };
        // A direct message is published to its recipient, so a thread's Events live in the
        // topics of its two users. `thread`: for a thread, its row id if it has one.
        let (thread, names) = match scope {
            Scope::Topic(name) => (None, vec![&**name]),
            // A list, not a scope of Events ([`Db::conversations`]): nothing resolves.
            Scope::Conversations(..) => (None, Vec::new()),
            Scope::Thread(key) => {
                let id: Option<i64> = self
                    .conn
                    .query_row("SELECT id FROM threads WHERE key = ?1", [&**key], |r| r.get(0))
                    .optional()
                    .context("query: thread")?;
                let names = match key.split_once(' ') {
                    Some((a, b)) if a != b => vec![a, b],
                    Some((a, _)) => vec![a],
                    None => Vec::new(),
                };
                (Some(id), names)
            }
        };
        let (mut topics, mut lost) = (Vec::new(), None);
        for name in names {
            match topic(name)? {
                Some(t) => topics.push(t),
                // Never written to, or forgotten: the store cannot tell which.
                None => lost = lost.max(forgotten::horizon(&self.conn, name)?),
            }
        }
        let horizon = topics.iter().map(|&(_, h)| h).max().filter(|&h| h > 0);
        let horizon = horizon.map(|h| from_sql(h, "horizon")).transpose()?.max(lost);
        let of = match thread {
            Some(id) => id.map(Scoped::Thread),
            None => topics.first().map(|&(id, _)| Scoped::Topic(id)),
        };
        Ok(match of {
            Some(of) => Resolution::Known(Resolved { of, topics, horizon }),
            None => Resolution::Unknown { horizon },
        })
    }

    /// One past the highest stored position.
    fn top(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT coalesce(max(pos), -1) + 1 FROM events", [], |r| r.get(0))
            .context("query: top")
    }

    /// The lowest position from which on every Event of the topic has a time of at least `t`,
    /// found by bisecting the position range with indexed probes. Relies on Event times being
    /// strictly increasing per topic (PROTOCOL.md, Event); the caller still filters on time, so
    /// a topic that broke the rule could only see some Events skipped, never wrong ones.
    fn time_split(&self, topic: i64, t: i64, top: i64) -> Result<i64, StoreError> {
        let mut probe = self
            .conn
            .prepare("SELECT pos, time FROM events WHERE topic = ?1 AND pos >= ?2 ORDER BY pos LIMIT 1")
            .context("query: prepare")?;
        // Every Event below `lo` is older than `t`; every Event from `hi` on is not.
        let (mut lo, mut hi) = (0i64, top);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let first: Option<(i64, i64)> = probe
                .query_row(params![topic, mid], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .context("query: time bound")?;
            match first {
                Some((p, time)) if p < hi && time < t => lo = p.saturating_add(1),
                _ => hi = mid,
            }
        }
        Ok(lo)
    }
}

/// What [`Db::resolve`] found.
enum Resolution {
    Known(Resolved),
    /// No Event was ever stored in the scope, or none is left.
    Unknown {
        horizon: Option<u64>,
    },
}

struct Resolved {
    of: Scoped,
    /// `(id, horizon)` of the topics the scope's Events are published to.
    topics: Vec<(i64, i64)>,
    horizon: Option<u64>,
}

/// SQL text and its arguments.
pub(super) struct Select {
    pub(super) sql: String,
    pub(super) args: Vec<Value>,
}

impl Select {
    fn arg(&mut self, v: impl Into<Value>) -> String {
        self.args.push(v.into());
        format!("?{}", self.args.len())
    }
}

/// The page query. Positions are bounded `lo <= pos < hi`, times exclusively; of the Events
/// tagged with a channel's life, only those of `life` are in it.
pub(super) fn select(
    scope: &Scoped,
    fts: Option<String>,
    (lo, hi): (i64, i64),
    (since, until): (Option<i64>, Option<i64>),
    life: Option<i64>,
    forward: bool,
    limit: i64,
) -> Select {
    let mut s = Select {
        sql: String::new(),
        args: Vec::new(),
    };
    let mut cond = Vec::new();
    // With a search the FTS index drives, newest (or oldest) match first, so LIMIT stops it
    // early; the events table is then probed by rowid. CROSS JOIN pins that order. The position
    // bounds go on the FTS rowid so that FTS5 itself skips to them.
    let (from, pos) = match fts {
        Some(words) => {
            let m = format!("body : ({words}) AND scope : \"{}\"", scope.token());
            cond.push(format!("events_fts MATCH {}", s.arg(m)));
            (
                "events_fts CROSS JOIN events AS e ON e.pos = events_fts.rowid",
                "events_fts.rowid",
            )
        }
        None => ("events AS e", "e.pos"),
    };
    cond.push(match *scope {
        Scoped::Topic(t) => format!("e.topic = {}", s.arg(t)),
        Scoped::Thread(t) => format!("e.thread = {}", s.arg(t)),
    });
    if lo > 0 {
        cond.push(format!("{pos} >= {}", s.arg(lo)));
    }
    if hi < i64::MAX {
        cond.push(format!("{pos} < {}", s.arg(hi)));
    }
    if let Some(t) = since {
        cond.push(format!("e.time > {}", s.arg(t)));
    }
    if let Some(t) = until {
        cond.push(format!("e.time < {}", s.arg(t)));
    }
    cond.push(match life {
        Some(l) => format!("(e.life IS NULL OR e.life = {})", s.arg(l)),
        None => "e.life IS NULL".into(),
    });
    let order = if forward { "ASC" } else { "DESC" };
    let limit = s.arg(limit);
    s.sql = format!(
        "SELECT e.pos, t.name, h.key, e.time, e.sender, e.id, e.body, e.ctype, e.reply_to, e.life
         FROM {from} CROSS JOIN topics AS t ON t.id = e.topic LEFT JOIN threads AS h ON h.id = e.thread
         WHERE {} ORDER BY {pos} {order} LIMIT {limit}",
        cond.join(" AND ")
    );
    s
}

impl Db {
    /// The newest Events of the whole store, at most `limit` and at most `max_bytes` of
    /// [`Record::weight`], oldest first: what the server's
    /// ring of recent Events starts with, so catch-ups after a restart (every client that
    /// reconnects asks for one) are answered from memory. Each topic's share is the newest
    /// stretch of that topic, as the ring requires.
    pub fn newest(&self, limit: usize, max_bytes: usize) -> Result<Vec<Record>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT e.pos, t.name, h.key, e.time, e.sender, e.id, e.body, e.ctype, e.reply_to, e.life
                 FROM events AS e JOIN topics AS t ON t.id = e.topic
                 LEFT JOIN threads AS h ON h.id = e.thread
                 ORDER BY e.pos DESC LIMIT ?1",
            )
            .context("newest: prepare")?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt.query([limit]).context("newest")?;
        let (mut out, mut bytes) = (Vec::new(), 0);
        while let Some(row) = rows.next().context("newest: step")? {
            let r = read_record(row)?;
            bytes += r.weight();
            if bytes > max_bytes {
                break;
            }
            out.push(r);
        }
        out.reverse();
        Ok(out)
    }
}

/// An FTS5 query matching text that contains every word of `text` ([`words`]), each quoted so
/// no word is read as an operator, and one of two characters or more directly followed by `*`
/// matching the words it begins (PROTOCOL.md §4, Search). `None` if `text` has no words.
fn fts_query(text: &str) -> Option<String> {
    let mut out = String::new();
    // Accents off and Chinese, Japanese or Korean characters spaced out, as the index has them: such a
    // word becomes a phrase, its characters in a row. (A word of marks alone is no word: spaced,
    // it is blanks.)
    let text = normalized(text);
    for word in words(&text) {
        let phrase = spaced(word);
        if phrase.trim().is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push('"');
        out.push_str(&phrase.replace('"', "\"\""));
        out.push('"');
        if is_prefix(&text, word) {
            out.push('*');
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Whether `word`, a word of the query `text`, asks for the words it begins: it is followed at
/// once by `*`, and is two characters or more (one letter's prefix would be half the index).
fn is_prefix(text: &str, word: &str) -> bool {
    // `word` is a slice of `text`: where it ends there.
    let end = (word.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize) + word.len();
    word.chars().nth(1).is_some() && text.get(end..).is_some_and(|rest| rest.starts_with('*'))
}

fn min_of(it: impl Iterator<Item = Result<i64, StoreError>>) -> Result<Option<i64>, StoreError> {
    it.collect::<Result<Vec<_>, _>>().map(|v| v.into_iter().min())
}

fn max_of(it: impl Iterator<Item = Result<i64, StoreError>>) -> Result<Option<i64>, StoreError> {
    it.collect::<Result<Vec<_>, _>>().map(|v| v.into_iter().max())
}

/// Decodes a row of [`select`].
fn read_record(row: &Row<'_>) -> Result<Record, StoreError> {
    let pos: i64 = row.get(0).context("read event")?;
    let bad = |what: &str| StoreError::Io(format!("corrupt event at position {pos}: {what}"));
    fn col<T: FromSql>(row: &Row<'_>, i: usize, pos: i64) -> Result<T, StoreError> {
        row.get(i).context(&format!("corrupt event at position {pos}"))
    }
    let id = |v: ValueRef<'_>| match v {
        ValueRef::Blob(b) => MsgId::from_slice(b),
        _ => None,
    };
    let body = match row.get_ref(6).context("read event")? {
        ValueRef::Text(t) => Body::Text(std::str::from_utf8(t).map_err(|_| bad("body is not UTF-8"))?),
        ValueRef::Blob(b) => Body::Blob(b),
        _ => return Err(bad("body is neither text nor blob")),
    };
    let reply_to = match row.get_ref(8).context("read event")? {
        ValueRef::Null => None,
        v => Some(id(v).ok_or_else(|| bad("reply_to is not an id"))?),
    };
    // Borrowed from the row: the record copies them once, into its one allocation.
    let text = |i: usize| match row.get_ref(i).context("read event")? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(Some)
            .map_err(|_| bad("a name is not UTF-8")),
        _ => Err(bad("a name is not text")),
    };
    let name = |i| text(i)?.ok_or_else(|| bad("a name is missing"));
    let life: Option<i64> = col(row, 9, pos)?;
    let mut r = Record::new(Fields {
        pos: from_sql(pos, "position")?,
        topic: name(1)?,
        thread: text(2)?,
        time: from_sql(col(row, 3, pos)?, "time")?,
        from: name(4)?,
        id: id(row.get_ref(5).context("read event")?).ok_or_else(|| bad("id is not an id"))?,
        body,
        ctype: text(7)?,
        reply_to,
    });
    r.life = life.map(|l| from_sql(l, "life")).transpose()?;
    Ok(r)
}

/// The position of the Event with this id, if it is in the scope `of`, and its life
/// ([`Record::life`]): a catch-up's anchor, or an Event to delete (insert.rs). The id index is
/// bucketed by position (schema version 4), so the buckets the scope has Events in are probed
/// newest first (the anchor of a catch-up is nearly always recent), each found with one index
/// seek: an unknown id costs two seeks per such bucket, however long the scope's span of
/// positions.
pub(super) fn find(
    conn: &Connection,
    of: &Scoped,
    id: &MsgId,
) -> Result<Option<(i64, Option<i64>)>, StoreError> {
    let (key, below, probe) = match *of {
        Scoped::Topic(k) => (k, BELOW_IN_TOPIC, PROBE_IN_TOPIC),
        Scoped::Thread(k) => (k, BELOW_IN_THREAD, PROBE_IN_THREAD),
    };
    let mut below = conn.prepare(below).context("query: prepare")?;
    let mut probe = conn.prepare(probe).context("query: prepare")?;
    // The scope's newest position below `limit`, if any.
    let mut newest_below = |limit: i64| -> Result<Option<i64>, StoreError> {
        below
            .query_row(params![key, limit], |r| r.get(0))
            .context("query: anchor bucket")
    };
    let mut next = newest_below(i64::MAX)?;
    while let Some(pos) = next {
        let bucket = pos >> ID_BUCKET_BITS;
        let found = probe
            .query_row(params![&id.0[..], key, bucket], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .context("query: anchor")?;
        if found.is_some() {
            return Ok(found);
        }
        next = newest_below(bucket << ID_BUCKET_BITS)?;
    }
    Ok(None)
}
