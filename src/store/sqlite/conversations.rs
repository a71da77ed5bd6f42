//! A user's conversations (PROTOCOL.md §4, Conversations): the threads whose key names the
//! user, in the other user's order, each with the time of its newest Event.

use super::{Context, Db, from_sql};
use crate::store::{Page, Query, StoreError};

/// Conversations one request looks at, at most, listed or not: bounds its work however many
/// conversations a user has, or how few of them match `since`. Only those the asker may read
/// count, and only they may be named (as the cursor): another holder's of the name are passed
/// over inside the query, bounded by its time alone (a cursor cannot name a place among them).
pub const MAX_EXAMINED: usize = 500;

// The threads `?1` is second in, other user first: keys `OTHER ?1` between `?2` (after the
// cursor) and `?1 ` (so not `?1 ?1`, which the next one reads), by `SCHEMA_V19`'s index; each
// with its newest Event (one seek down the thread index), if that is at or after `?4`.
const BEFORE: &str = "SELECT t.key, e.time FROM threads AS t
    CROSS JOIN events AS e ON e.pos = (SELECT max(pos) FROM events WHERE thread = t.id)
    WHERE substr(t.key, instr(t.key, ' ') + 1) = ?1 AND t.key > ?2 AND t.key < ?3 AND e.pos >= ?4
    ORDER BY t.key LIMIT ?5";
// The threads `?1` is first in: keys `USER OTHER` after `?1`, below `?2`, `USER!` (`!` is the
// byte after the space, and no ID holds either); the rest as above.
const AFTER: &str = "SELECT t.key, e.time FROM threads AS t
    CROSS JOIN events AS e ON e.pos = (SELECT max(pos) FROM events WHERE thread = t.id)
    WHERE t.key > ?1 AND t.key < ?2 AND e.pos >= ?3
    ORDER BY t.key LIMIT ?4";

/// The conversations a query looked at, in the other user's order: each one's thread key and
/// the time of its newest Event.
struct Looked {
    rows: Vec<(Box<str>, u64)>,
    /// The time bound stopped the reading: more may follow the rows.
    cut: bool,
}

impl Db {
    /// The page of `user`'s conversations bytewise after the other user `after`, for
    /// [`Scope::Conversations`](crate::store::Scope::Conversations): at most `q.count`, those
    /// whose newest Event `q.reader` may read and, with `q.since`, came after it.
    pub(super) fn conversations(
        &self,
        q: &Query,
        user: &str,
        after: Option<&str>,
    ) -> Result<Page, StoreError> {
        let floor = self.floor(q.reader.as_ref())?.unwrap_or(0);
        let looked = self.threads_of(user, after, floor)?;
        let mut page = Page {
            cut: looked.cut,
            more: looked.cut || looked.rows.len() > MAX_EXAMINED,
            ..Page::default()
        };
        let mut last = None;
        fn domain(id: &str) -> Option<&str> {
            id.rsplit_once('@').map(|(_, d)| d)
        }
        let home = domain(user);
        for (key, time) in looked.rows.iter().take(MAX_EXAMINED) {
            let other = match key.split_once(' ') {
                Some((a, b)) if a == user => b,
                Some((a, _)) => a,
                None => continue,
            };
            // Another domain's user wrote with its home's token: what it sent is in the
            // user's inbox, and its conversations are its home's to read (a Catchup of its ID
            // is foreign_topic). Passed over, so it may be the cursor: the user knows it.
            let ours = domain(other) == home;
            if ours && q.since.is_none_or(|s| *time > s) {
                if page.conversations.len() == q.count {
                    page.more = true;
                    break;
                }
                page.conversations.push((other.into(), *time));
            }
            last = Some(other);
        }
        if page.more && q.count > 0 {
            page.cursor = last.map(Into::into);
        }
        Ok(page)
    }

    /// The keys of `user`'s threads whose other user is after `after` and whose newest Event
    /// is at or after position `floor`, in that user's order, with that Event's time: one more
    /// than [`MAX_EXAMINED`] if there are that many. Out of time, those read by then (at
    /// least one, else [`StoreError::TooSlow`]).
    fn threads_of(&self, user: &str, after: Option<&str>, floor: i64) -> Result<Looked, StoreError> {
        let limit = i64::try_from(MAX_EXAMINED + 1).unwrap_or(i64::MAX);
        let own = format!("{user} ");
        let mut looked = Looked {
            rows: Vec::new(),
            cut: false,
        };
        let mut before = self.conn.prepare(BEFORE).context("conversations: prepare")?;
        let lower = after.map_or(String::new(), |a| format!("{a} {user}"));
        let rows = before.query(rusqlite::params![user, lower, own, floor, limit]);
        looked.read(rows.context("conversations")?)?;
        let left = limit - i64::try_from(looked.rows.len()).unwrap_or(limit);
        if looked.cut || left <= 0 {
            return Ok(looked);
        }
        let mut mine = self.conn.prepare(AFTER).context("conversations: prepare")?;
        let lower = match after {
            Some(a) => format!("{user} {a}"),
            None => own,
        };
        let rows = mine.query(rusqlite::params![lower, format!("{user}!"), floor, left]);
        looked.read(rows.context("conversations")?)?;
        Ok(looked)
    }
}

impl Looked {
    /// Adds the rows of [`BEFORE`] or [`AFTER`], until they end or the time bound stops them.
    fn read(&mut self, mut rows: rusqlite::Rows<'_>) -> Result<(), StoreError> {
        loop {
            match rows.next().context("conversations: step") {
                Ok(Some(row)) => {
                    let key: String = row.get(0).context("conversations: key")?;
                    let time = from_sql(row.get(1).context("conversations: time")?, "time")?;
                    self.rows.push((key.into(), time));
                }
                Ok(None) => return Ok(()),
                // Out of time: what was looked at is a page, and the next starts after it, so
                // each makes progress.
                Err(StoreError::TooSlow) if !self.rows.is_empty() => {
                    self.cut = true;
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::tests::{TempDir, dm, query, rec};
    use crate::store::{Reader, Scope};

    fn list(db: &Db, user: &str, after: Option<&str>, count: usize) -> Page {
        let q = Query {
            count,
            ..query(Scope::Conversations(user.into(), after.map(Into::into)))
        };
        db.query(&q).unwrap()
    }

    fn users(p: &Page) -> Vec<&str> {
        p.conversations.iter().map(|(u, _)| &**u).collect()
    }

    /// bob's conversations: with alice (before him), carol, dave (after him) and himself,
    /// and a channel Event and others' conversation that are not his.
    fn store(dir: &TempDir) -> Db {
        let mut db = Db::open(&dir.db()).unwrap();
        db.insert(&[
            dm(1, "alice", "bob", 100, "hi bob"),
            dm(2, "bob", "dave", 110, "hi dave"),
            rec(3, "#a", 120, "channel"),
            dm(4, "carol", "bob", 130, "hi bob"),
            dm(5, "bob", "alice", 140, "hi alice"),
            dm(6, "alice", "carol", 150, "not bob's"),
            dm(7, "bob", "bob", 160, "note to self"),
            dm(8, "bo", "bobby", 170, "neither"),
        ])
        .unwrap();
        db
    }

    #[test]
    fn lists_both_directions_in_the_other_users_order_with_the_newest_time() {
        let dir = TempDir::new("conv-order");
        let db = store(&dir);
        let p = list(&db, "bob", None, 100);
        assert_eq!(
            p.conversations,
            [
                ("alice".into(), 140),
                ("bob".into(), 160),
                ("carol".into(), 130),
                ("dave".into(), 110)
            ]
        );
        assert!(!p.more);
        // A prefix of another's name is not that name.
        assert_eq!(users(&list(&db, "bo", None, 100)), ["bobby"]);
        assert!(list(&db, "nobody", None, 100).conversations.is_empty());
    }

    #[test]
    fn pages_by_cursor_across_both_halves() {
        let dir = TempDir::new("conv-pages");
        let db = store(&dir);
        let first = list(&db, "bob", None, 1);
        assert_eq!(
            (users(&first), first.more, first.cursor.as_deref()),
            (vec!["alice"], true, Some("alice"))
        );
        let second = list(&db, "bob", Some("alice"), 2);
        assert_eq!(
            (users(&second), second.cursor.as_deref()),
            (vec!["bob", "carol"], Some("carol"))
        );
        let last = list(&db, "bob", Some("carol"), 2);
        assert_eq!(
            (users(&last), last.more, last.cursor.as_deref()),
            (vec!["dave"], false, None)
        );
        // Any name places the page, a partner or not.
        assert_eq!(users(&list(&db, "bob", Some("b"), 100)), ["bob", "carol", "dave"]);
        assert_eq!(users(&list(&db, "bob", Some("bobby"), 100)), ["carol", "dave"]);
        assert!(list(&db, "bob", Some("zz"), 100).conversations.is_empty());
    }

    #[test]
    fn count_zero_says_whether_any_matches_without_a_cursor() {
        let dir = TempDir::new("conv-zero");
        let db = store(&dir);
        let p = list(&db, "bob", None, 0);
        assert_eq!((p.conversations.len(), p.more, p.cursor), (0, true, None));
        let p = list(&db, "nobody", None, 0);
        assert_eq!((p.more, p.cursor), (false, None));
    }

    #[test]
    fn since_keeps_those_whose_newest_event_came_after_it() {
        let dir = TempDir::new("conv-since");
        let db = store(&dir);
        let q = |since| Query {
            since: Some(since),
            ..query(Scope::Conversations("bob".into(), None))
        };
        assert_eq!(users(&db.query(&q(130)).unwrap()), ["alice", "bob"]);
        assert_eq!(users(&db.query(&q(129)).unwrap()), ["alice", "bob", "carol"]);
        assert!(db.query(&q(160)).unwrap().conversations.is_empty());
    }

    #[test]
    fn a_reader_gets_only_conversations_it_may_read_and_their_newest_time_it_may() {
        let dir = TempDir::new("conv-reader");
        let db = store(&dir);
        // A name taken at position 5: alice's conversation goes on there, carol's and dave's
        // ended before.
        let since = Query {
            reader: Some(Reader::Since(5)),
            ..query(Scope::Conversations("bob".into(), None))
        };
        assert_eq!(users(&db.query(&since).unwrap()), ["alice", "bob"]);
        // An account made at position 4; a deleted one reads nothing.
        assert!(db.add_account("bob", "h", 1, 4).unwrap());
        let account = |name: &str| Query {
            reader: Some(Reader::Account(name.into(), 0)),
            ..query(Scope::Conversations(name.into(), None))
        };
        assert_eq!(
            users(&db.query(&account("bob")).unwrap()),
            ["alice", "bob", "carol"]
        );
        assert!(db.query(&account("carol")).unwrap().conversations.is_empty());
    }

    #[test]
    fn examines_a_bounded_number_and_says_where_it_stopped() {
        let dir = TempDir::new("conv-bound");
        let mut db = Db::open(&dir.db()).unwrap();
        // MAX_EXAMINED + 2 partners of "m", half before it and half after; only the last
        // two conversations are after `since`.
        let n = MAX_EXAMINED as u64 + 2;
        let names: Vec<String> = (0..n)
            .map(|i| match i % 2 {
                0 => format!("a{i:04}"),
                _ => format!("z{i:04}"),
            })
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        let recs: Vec<_> = (sorted.iter().enumerate())
            .map(|(i, o)| dm(i as u64 + 1, o, "m", 1000 + i as u64, "hi"))
            .collect();
        db.insert(&recs).unwrap();
        let q = |after: Option<&str>| Query {
            since: Some(1000 + n - 3),
            ..query(Scope::Conversations("m".into(), after.map(Into::into)))
        };
        let first = db.query(&q(None)).unwrap();
        assert!(first.conversations.is_empty() && first.more);
        assert_eq!(first.cursor.as_deref(), Some(sorted[MAX_EXAMINED - 1].as_str()));
        let next = db.query(&q(first.cursor.as_deref())).unwrap();
        assert_eq!(users(&next), [&*sorted[MAX_EXAMINED], &*sorted[MAX_EXAMINED + 1]]);
        assert!(!next.more);
    }

    /// Found in review: the cursor named the last conversation looked at, one of an earlier
    /// holder's of the name among them, which the reader may not know of.
    #[test]
    fn a_conversation_the_reader_may_not_read_is_never_named() {
        let dir = TempDir::new("conv-hidden");
        let mut db = Db::open(&dir.db()).unwrap();
        // The name is taken at position 10: carol and dave talked to the one before.
        db.insert(&[
            dm(1, "carol", "bob", 100, "to the old bob"),
            dm(2, "bob", "dave", 110, "from the old bob"),
            dm(11, "aaa", "bob", 200, "to the new bob"),
            dm(12, "zzz", "bob", 210, "to the new bob"),
        ])
        .unwrap();
        let q = |count, after: Option<&str>| Query {
            count,
            reader: Some(Reader::Since(10)),
            ..query(Scope::Conversations("bob".into(), after.map(Into::into)))
        };
        let first = db.query(&q(1, None)).unwrap();
        assert_eq!(
            (users(&first), first.cursor.as_deref()),
            (vec!["aaa"], Some("aaa"))
        );
        let rest = db.query(&q(1, Some("aaa"))).unwrap();
        assert_eq!((users(&rest), rest.more), (vec!["zzz"], false));
        // Past the bound of those looked at: hidden ones neither count nor are named.
        let recs: Vec<_> = (0..MAX_EXAMINED as u64 + 5)
            .map(|i| dm(i + 100, &format!("old{i:04}"), "m", 300 + i, "hi"))
            .collect();
        db.insert(&recs).unwrap();
        let hidden = Query {
            reader: Some(Reader::Since(100_000)),
            ..query(Scope::Conversations("m".into(), None))
        };
        let p = db.query(&hidden).unwrap();
        assert_eq!((p.conversations.len(), p.more, p.cursor), (0, false, None));
    }

    /// Found in review: another domain's users were dropped from a page after it was counted,
    /// so a page could be short and `count` 0 say more when none would be listed.
    #[test]
    fn another_domains_users_are_passed_over_before_counting() {
        let dir = TempDir::new("conv-foreign");
        let mut db = Db::open(&dir.db()).unwrap();
        db.insert(&[
            dm(1, "ann@far", "bob@here", 100, "from afar"),
            dm(2, "bob@here", "cat@here", 110, "hi cat"),
            dm(3, "zed@far", "bob@here", 120, "from afar too"),
        ])
        .unwrap();
        let list = |user: &str, count| {
            let q = Query {
                count,
                ..query(Scope::Conversations(user.into(), None))
            };
            db.query(&q).unwrap()
        };
        let p = list("bob@here", 1);
        assert_eq!((users(&p), p.more), (vec!["cat@here"], false));
        let p = list("bob@here", 0);
        assert!(p.more, "cat@here matches");
        // Only the other domain's: nothing to list, and no more.
        let dir2 = TempDir::new("conv-foreign-only");
        let mut db2 = Db::open(&dir2.db()).unwrap();
        db2.insert(&[dm(1, "ann@far", "dan@here", 100, "from afar")])
            .unwrap();
        let q = Query {
            count: 0,
            ..query(Scope::Conversations("dan@here".into(), None))
        };
        let p = db2.query(&q).unwrap();
        assert_eq!((p.conversations.len(), p.more), (0, false));
    }

    /// Out of time, a page holds what was looked at by then, and says where the next starts:
    /// paging on under a bound that stops every read part way still lists each conversation
    /// once (found in review: a read stopped before its first match was refused, each time).
    #[test]
    fn pages_cut_by_the_time_bound_make_progress_and_lose_nothing() {
        let dir = TempDir::new("conv-bounded");
        let mut db = Db::open(&dir.db()).unwrap();
        let recs: Vec<_> = (0..300u64)
            .map(|i| dm(i + 1, &format!("p{i:03}"), "m", 1000 + i, "hi"))
            .collect();
        db.insert(&recs).unwrap();
        let mut reader = Db::open_reader(&dir.db()).unwrap();
        reader.bound_queries(std::time::Duration::ZERO).unwrap();
        let (mut all, mut after, mut pages, mut cut) = (Vec::new(), None::<Box<str>>, 0, 0);
        loop {
            let q = Query {
                since: Some(1149),
                ..query(Scope::Conversations("m".into(), after.clone()))
            };
            let p = reader.query(&q).unwrap();
            pages += 1;
            cut += usize::from(p.cut);
            all.extend(p.conversations.iter().map(|(u, _)| u.to_string()));
            if !p.more {
                break;
            }
            assert!(p.cursor > after, "the cursor moves on");
            after = p.cursor;
            assert!(pages < 300, "pages without end");
        }
        let expected: Vec<String> = (150..300).map(|i| format!("p{i:03}")).collect();
        assert_eq!(all, expected);
        assert!(cut > 1, "the bound stopped {cut} of {pages} pages");
    }

    #[test]
    fn both_halves_are_read_by_an_index() {
        let dir = TempDir::new("conv-plan");
        let db = store(&dir);
        let before = rusqlite::params!["bob", "", "bob ", 0, 10];
        let after = rusqlite::params!["bob ", "bob!", 0, 10];
        let key_index = "sqlite_autoindex_threads_1 (key>? AND key<?)";
        for (sql, params, index) in [
            (BEFORE, before, "threads_by_second (<expr>=?"),
            (AFTER, after, key_index),
        ] {
            let plan: Vec<String> = (db.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap())
                .query_map(params, |r| r.get(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let plan = plan.join("; ");
            assert!(plan.contains(index), "{sql}: {plan}");
            // Each conversation's newest Event: one seek down the thread index.
            assert!(
                plan.contains("INDEX events_by_thread (thread=?)"),
                "{sql}: {plan}"
            );
            assert!(
                !plan.contains("SCAN") && !plan.contains("TEMP B-TREE"),
                "{sql}: {plan}"
            );
        }
    }
}
