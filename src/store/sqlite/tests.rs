//! The SQLite store against real database files.

use super::query::{
    BELOW_IN_THREAD, BELOW_IN_TOPIC, ID_BUCKET_BITS, PROBE_IN_THREAD, PROBE_IN_TOPIC, Select, select,
};
use super::*;
use crate::proto::{Body, MsgId};
use crate::store::accounts::UNSTARTED;
use crate::store::{Fields, Page, Query, Reader, Record, Retention, Rule, Scope, thread_of};
use rusqlite::params_from_iter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A query token that makes [`Db::query`] panic inside its read transaction, as a bug would.
pub(crate) const PANICKING_QUERY: u64 = u64::MAX - 1;

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("scalard-store-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub(crate) fn db(&self) -> PathBuf {
        self.0.join("history.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A text Event from alice.
fn fields<'a>(pos: u64, topic: &'a str, time: u64, text: &'a str) -> Fields<'a> {
    let body = Body::Text(text);
    Fields {
        pos,
        topic,
        thread: None,
        from: "alice",
        time,
        id: MsgId::compute("alice", topic, time, body, None, None),
        body,
        ctype: None,
        reply_to: None,
    }
}

pub(crate) fn rec(pos: u64, topic: &str, time: u64, text: &str) -> Record {
    Record::new(fields(pos, topic, time, text))
}

/// A binary Event: stored, never indexed for search.
fn blob(pos: u64, topic: &str, time: u64, bytes: &[u8]) -> Record {
    Record::new(Fields {
        body: Body::Blob(bytes),
        ..fields(pos, topic, time, "")
    })
}

pub(crate) fn dm(pos: u64, from: &str, to: &str, time: u64, text: &str) -> Record {
    let thread = thread_of(from, to);
    Record::new(Fields {
        thread: Some(&thread),
        from,
        id: MsgId::compute(from, to, time, Body::Text(text), None, None),
        ..fields(pos, to, time, text)
    })
}

pub(crate) fn query(scope: Scope) -> Query {
    Query {
        token: 7,
        asker: std::net::Ipv4Addr::LOCALHOST.into(),
        scope,
        since: None,
        until: None,
        after: None,
        before: None,
        text: None,
        count: 100,
        max_bytes: usize::MAX,
        reader: None,
        life: None,
    }
}

fn topic(name: &str) -> Scope {
    Scope::Topic(name.into())
}

fn search(scope: Scope, text: &str) -> Query {
    Query {
        text: Some(text.into()),
        ..query(scope)
    }
}

/// Positions and `more` of the page a query gets.
fn page(db: &Db, q: Query) -> (Vec<u64>, bool) {
    let p = db.query(&q).unwrap();
    (positions(&p), p.more)
}

fn positions(p: &Page) -> Vec<u64> {
    p.events.iter().map(|e| e.pos).collect()
}

fn fresh(dir: &TempDir) -> Db {
    Db::open(&dir.db()).unwrap()
}

/// Topic "#a" at odd positions 1..=19, "#b" at even ones; time = 1000 + pos.
fn two_topics(db: &mut Db) -> Vec<Record> {
    let recs: Vec<Record> = (1..=20)
        .map(|i| {
            rec(
                i,
                if i % 2 == 1 { "#a" } else { "#b" },
                1000 + i,
                &format!("message {i}"),
            )
        })
        .collect();
    db.insert(&recs).unwrap();
    recs
}

fn fts_hits(db: &Db, m: &str) -> i64 {
    db.conn
        .query_row(
            "SELECT count(*) FROM events_fts WHERE events_fts MATCH ?1",
            [m],
            |r| r.get(0),
        )
        .unwrap()
}

fn topic_row(db: &Db, name: &str) -> (i64, i64) {
    db.conn
        .query_row("SELECT count, horizon FROM topics WHERE name = ?1", [name], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
}

#[test]
fn round_trip_keeps_bodies_and_fields() {
    let dir = TempDir::new("roundtrip");
    let mut db = fresh(&dir);
    let first = rec(1, "#a", 10, "hello");
    let action = Record::new(Fields {
        ctype: Some("text/x-scalar-action"),
        reply_to: Some(first.id),
        ..fields(2, "#a", 11, "waves")
    });
    let binary = Record::new(Fields {
        ctype: Some("application/x-thing"),
        body: Body::Blob(&[0, 0xff, 0xfe, b'h', b'i']),
        ..fields(3, "#a", 12, "")
    });
    let textual_bytes = blob(4, "#a", 13, b"hello");
    let empty = rec(5, "#a", 14, "");
    let private = dm(6, "alice", "bob", 15, "psst");
    let all = vec![first, action, binary, textual_bytes, empty, private.clone()];
    db.insert(&all).unwrap();

    let page = db.query(&query(topic("#a"))).unwrap();
    assert_eq!(page.events, all[..5]);
    assert!(!page.more && !page.unknown_anchor);
    assert_eq!(page.horizon, None);
    let types: Vec<String> = db
        .conn
        .prepare("SELECT typeof(body) FROM events ORDER BY pos")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(types, ["text", "text", "blob", "blob", "text", "text"]);
    // A blob is never a search hit, even if its bytes read as a word.
    assert_eq!(positions(&db.query(&search(topic("#a"), "hello")).unwrap()), [1]);

    assert_eq!(
        db.query(&query(topic("bob"))).unwrap().events,
        std::slice::from_ref(&private)
    );
    assert_eq!(
        db.query(&query(Scope::Thread(thread_of("bob", "alice"))))
            .unwrap()
            .events,
        [private]
    );
    assert_eq!(db.count().unwrap(), 6);
}

/// A fresh store in `name` with `n` Events in "#a".
fn filled(name: &str, n: u64) -> (TempDir, Db) {
    let dir = TempDir::new(name);
    let mut db = fresh(&dir);
    let recs: Vec<Record> = (1..=n)
        .map(|i| rec(i, "#a", 1000 + i, "words to fill pages"))
        .collect();
    db.insert(&recs).unwrap();
    (dir, db)
}

/// A store whose newest pages are in its log (a running server's) is whole: the file is
/// shorter than its pages until a checkpoint (found in review: `check --integrity` beside a
/// running server said it was cut short).
#[test]
fn a_store_with_pages_in_its_log_is_not_damaged() {
    let (dir, _db) = filled("pages-in-log", 2000);
    let wal = std::fs::metadata(dir.0.join("history.db-wal")).map_or(0, |m| m.len());
    assert!(wal > 0, "the pages are in the log");
    let Some(seen) = Db::inspect(&dir.db()).unwrap() else {
        panic!("no store")
    };
    assert_eq!(seen.damage(&dir.db(), 10).unwrap(), Vec::<String>::new());
}

/// Text that is not UTF-8 passes SQLite's checks, which do not read values, but fails every
/// read of its row: the check reads the rows too, and says which (found in review: `check
/// --integrity`, a backup's and a restore's checks passed such a store).
#[test]
fn a_value_that_cannot_be_read_is_damage() {
    let (dir, db) = filled("unreadable-value", 500);
    for pos in [7, 300, 301, 302] {
        let sql = "UPDATE events SET sender = CAST(x'ff' AS TEXT) WHERE pos = ?1";
        assert_eq!(db.conn.execute(sql, [pos]).unwrap(), 1);
    }
    let damage = db.damage(&dir.db(), 10).unwrap();
    assert_eq!(
        damage,
        ["4 rows of events with a value that cannot be read (pos 7, 300, 301, …)"]
    );
    drop(db);
    // A backup's and a restore's check take it, saying so: the copy is still the store's best
    // (review: refused, a nightly backup stopped at one damaged row).
    let seen = super::snapshot::inspect(&dir.db()).unwrap();
    assert_eq!(seen.unreadable, damage);
    assert_eq!(seen.events, 500);
}

/// A value that cannot be read, met by a read, is damage, which sends the operator to what to
/// do (review: a raw "invalid utf-8" stopped a start, and `check` at the accounts).
#[test]
fn a_read_of_an_unreadable_value_is_said_to_be_damage() {
    let (dir, db) = filled("unreadable-account", 1);
    let sql = "INSERT INTO accounts (name, hash, created) VALUES ('bob@x.org', CAST(x'ff' AS TEXT), 0)";
    db.conn.execute(sql, []).unwrap();
    let e = db.account_names().unwrap_err();
    assert!(matches!(e, StoreError::Damaged(_)), "{e:?}");
    assert!(e.to_string().contains("A damaged store"), "{e}");
    assert_eq!(
        db.damage(&dir.db(), 10).unwrap(),
        ["1 row of accounts with a value that cannot be read (name \"bob@x.org\")"]
    );
}

/// A page damaged on disk is [`StoreError::Damaged`], which says where to look: the writer's
/// log line and the start's refusal send the operator to OPERATIONS.md's A damaged store.
#[test]
fn a_damaged_page_is_said_to_be_damage() {
    let (dir, db) = filled("damaged-page", 500);
    let page: i64 = db
        .conn
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 'events_by_topic'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(db);
    let mut file = std::fs::OpenOptions::new().write(true).open(dir.db()).unwrap();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start((page as u64 - 1) * 4096)).unwrap();
    std::io::Write::write_all(&mut file, &[0x55; 4096]).unwrap();
    drop(file);
    let db = fresh(&dir);
    assert!(!db.damage(&dir.db(), 10).unwrap().is_empty());
    let Some(seen) = Db::inspect(&dir.db()).unwrap() else {
        panic!("no store")
    };
    assert!(!seen.damage(&dir.db(), 10).unwrap().is_empty());
    let e = db.query(&query(topic("#a"))).unwrap_err();
    assert!(matches!(e, StoreError::Damaged(_)), "{e:?}");
    assert!(e.to_string().contains("A damaged store"), "{e}");
}

/// A row damaged behind the server's back (by hand, with the sqlite3 shell) makes the query fail
/// with an error naming the row, not a panic or a record with a wrong field.
#[test]
fn a_damaged_row_is_an_error() {
    let dir = TempDir::new("damaged");
    let mut db = fresh(&dir);
    db.insert(&[rec(1, "#a", 10, "hello")]).unwrap();
    let damage = [
        (
            "UPDATE events SET sender = CAST(x'ff' AS TEXT)",
            "a name is not UTF-8",
        ),
        (
            "UPDATE events SET ctype = CAST(x'c3' AS TEXT)",
            "a name is not UTF-8",
        ),
        ("UPDATE events SET body = 5", "body is neither text nor blob"),
    ];
    for (sql, why) in damage {
        let _ = db.conn.execute("DELETE FROM events", []);
        db.insert(&[rec(1, "#a", 10, "hello")]).unwrap();
        db.conn.execute(sql, []).unwrap();
        let e = db.query(&query(Scope::Topic("#a".into()))).unwrap_err();
        let StoreError::Io(msg) = e else { panic!("{e:?}") };
        assert!(msg.contains("position 1") && msg.contains(why), "{sql}: {msg}");
    }
}

#[test]
fn latest_and_backward_pages() {
    let dir = TempDir::new("backward");
    let mut db = fresh(&dir);
    let recs = two_topics(&mut db);
    let id = |pos: u64| recs[pos as usize - 1].id;

    assert_eq!(
        page(
            &db,
            Query {
                count: 3,
                ..query(topic("#a"))
            }
        ),
        (vec![15, 17, 19], true)
    );
    let p = db.query(&query(topic("#a"))).unwrap();
    assert_eq!(positions(&p), [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
    assert!(!p.more);
    let p = db
        .query(&Query {
            count: 10,
            ..query(topic("#a"))
        })
        .unwrap();
    assert_eq!((p.events.len(), p.more), (10, false));

    // Backward from an id.
    assert_eq!(
        page(
            &db,
            Query {
                before: Some(id(11)),
                count: 3,
                ..query(topic("#a"))
            }
        ),
        (vec![5, 7, 9], true)
    );
    assert_eq!(
        page(
            &db,
            Query {
                before: Some(id(5)),
                count: 3,
                ..query(topic("#a"))
            }
        ),
        (vec![1, 3], false)
    );
    // Backward from a time (exclusive).
    assert_eq!(
        page(
            &db,
            Query {
                until: Some(1011),
                count: 2,
                ..query(topic("#a"))
            }
        ),
        (vec![7, 9], true)
    );
    let p = db
        .query(&Query {
            until: Some(1012),
            count: 2,
            ..query(topic("#a"))
        })
        .unwrap();
    assert_eq!(positions(&p), [9, 11]);
    // Both upper bounds: the tighter wins.
    let p = db
        .query(&Query {
            until: Some(1008),
            before: Some(id(11)),
            ..query(topic("#a"))
        })
        .unwrap();
    assert_eq!(positions(&p), [1, 3, 5, 7]);
    let p = db
        .query(&Query {
            until: Some(0),
            ..query(topic("#a"))
        })
        .unwrap();
    assert!(p.events.is_empty() && !p.more);
    let p = db
        .query(&Query {
            until: Some(u64::MAX),
            count: 1,
            ..query(topic("#a"))
        })
        .unwrap();
    assert_eq!(positions(&p), [19]);
}

#[test]
fn forward_pages() {
    let dir = TempDir::new("forward");
    let mut db = fresh(&dir);
    let recs = two_topics(&mut db);
    let id = |pos: u64| recs[pos as usize - 1].id;

    assert_eq!(
        page(
            &db,
            Query {
                since: Some(1005),
                count: 3,
                ..query(topic("#a"))
            }
        ),
        (vec![7, 9, 11], true)
    );
    assert_eq!(
        page(
            &db,
            Query {
                since: Some(1015),
                count: 3,
                ..query(topic("#a"))
            }
        ),
        (vec![17, 19], false)
    );
    assert_eq!(
        page(
            &db,
            Query {
                since: Some(0),
                count: 2,
                ..query(topic("#b"))
            }
        ),
        (vec![2, 4], true)
    );
    let p = db
        .query(&Query {
            since: Some(u64::MAX),
            ..query(topic("#a"))
        })
        .unwrap();
    assert!(p.events.is_empty() && !p.more);

    assert_eq!(
        page(
            &db,
            Query {
                after: Some(id(5)),
                count: 3,
                ..query(topic("#a"))
            }
        ),
        (vec![7, 9, 11], true)
    );
    let p = db
        .query(&Query {
            after: Some(id(19)),
            ..query(topic("#a"))
        })
        .unwrap();
    assert!(p.events.is_empty() && !p.more && !p.unknown_anchor);
    // Both lower bounds apply.
    assert_eq!(
        page(
            &db,
            Query {
                after: Some(id(5)),
                since: Some(1010),
                count: 2,
                ..query(topic("#a"))
            }
        ),
        (vec![11, 13], true)
    );
    let p = db
        .query(&Query {
            after: Some(id(15)),
            since: Some(1010),
            ..query(topic("#a"))
        })
        .unwrap();
    assert_eq!(positions(&p), [17, 19]);
    // A window.
    assert_eq!(
        page(
            &db,
            Query {
                since: Some(1003),
                until: Some(1011),
                ..query(topic("#a"))
            }
        ),
        (vec![5, 7, 9], false)
    );
    assert_eq!(
        page(
            &db,
            Query {
                since: Some(1003),
                until: Some(1011),
                count: 2,
                ..query(topic("#a"))
            }
        ),
        (vec![5, 7], true)
    );
    let p = db
        .query(&Query {
            after: Some(id(3)),
            before: Some(id(9)),
            ..query(topic("#a"))
        })
        .unwrap();
    assert_eq!(positions(&p), [5, 7]);
    let p = db
        .query(&Query {
            after: Some(id(9)),
            before: Some(id(3)),
            ..query(topic("#a"))
        })
        .unwrap();
    assert!(p.events.is_empty() && !p.more);
}

#[test]
fn count_zero_says_whether_any_match() {
    let dir = TempDir::new("count0");
    let mut db = fresh(&dir);
    two_topics(&mut db);
    let p = db
        .query(&Query {
            count: 0,
            ..query(topic("#a"))
        })
        .unwrap();
    assert!(p.events.is_empty() && p.more);
    let p = db
        .query(&Query {
            count: 0,
            since: Some(1018),
            ..query(topic("#a"))
        })
        .unwrap();
    assert!(p.events.is_empty() && p.more);
    let p = db
        .query(&Query {
            count: 0,
            since: Some(1019),
            ..query(topic("#a"))
        })
        .unwrap();
    assert!(p.events.is_empty() && !p.more);
    let p = db
        .query(&Query {
            count: 0,
            ..search(topic("#a"), "message 3")
        })
        .unwrap();
    assert!(p.events.is_empty() && p.more);
    let p = db
        .query(&Query {
            count: 0,
            ..search(topic("#a"), "message 4")
        })
        .unwrap();
    assert!(p.events.is_empty() && !p.more);
}

#[test]
fn max_bytes_cuts_pages() {
    let dir = TempDir::new("maxbytes");
    let mut db = fresh(&dir);
    // Ten-byte bodies: each Event counts its wire size, `w` bytes.
    let recs: Vec<Record> = (1..=5)
        .map(|i| rec(i, "#a", 100 + i, &format!("body-{i:05}")))
        .collect();
    let w = recs[0].wire_size();
    db.insert(&recs).unwrap();
    let q = |max_bytes, since| Query {
        max_bytes,
        since,
        ..query(topic("#a"))
    };
    let p = db.query(&q(2 * w + 5, None)).unwrap();
    assert_eq!((positions(&p), p.more), (vec![4, 5], true));
    let p = db.query(&q(2 * w + 5, Some(0))).unwrap();
    assert_eq!((positions(&p), p.more), (vec![1, 2], true));
    let p = db.query(&q(3 * w, Some(0))).unwrap();
    assert_eq!((positions(&p), p.more), (vec![1, 2, 3], true));
    // At least one Event, however large.
    let p = db.query(&q(3, None)).unwrap();
    assert_eq!((positions(&p), p.more), (vec![5], true));
    let p = db.query(&q(0, Some(104))).unwrap();
    assert_eq!((positions(&p), p.more), (vec![5], false));
    let p = db.query(&q(5 * w, None)).unwrap();
    assert_eq!((p.events.len(), p.more), (5, false));
}

#[test]
fn anchors_must_be_in_scope() {
    let dir = TempDir::new("anchors");
    let mut db = fresh(&dir);
    let recs = two_topics(&mut db);
    let unknown = MsgId([9; 32]);
    for q in [
        Query {
            after: Some(unknown),
            ..query(topic("#a"))
        },
        Query {
            before: Some(unknown),
            ..query(topic("#a"))
        },
        // An id of another topic.
        Query {
            after: Some(recs[1].id),
            ..query(topic("#a"))
        },
        Query {
            before: Some(recs[1].id),
            ..query(topic("#a"))
        },
        Query {
            after: Some(recs[0].id),
            before: Some(recs[1].id),
            ..query(topic("#a"))
        },
        Query {
            after: Some(recs[0].id),
            ..query(topic("#nowhere"))
        },
        Query {
            after: Some(recs[1].id),
            ..search(topic("#a"), "message")
        },
    ] {
        let p = db.query(&q).unwrap();
        assert!(p.unknown_anchor && p.events.is_empty() && !p.more, "{q:?}");
    }
    let p = db.query(&query(topic("#nowhere"))).unwrap();
    assert_eq!(p, Page::default());
    let p = db.query(&query(Scope::Thread("x y".into()))).unwrap();
    assert_eq!(p, Page::default());
}

/// The id index is bucketed by position (2^16 a bucket): anchors are found in every bucket,
/// including the first and last of a scope and across buckets the scope has no Event in.
#[test]
fn anchors_are_found_in_every_bucket() {
    let dir = TempDir::new("buckets");
    let mut db = fresh(&dir);
    let a = [1u64, 65_535, 65_536, 200_000, 200_001, 400_000];
    let mut recs: Vec<Record> = a.iter().map(|&p| rec(p, "#a", p, &format!("a {p}"))).collect();
    // Another topic alone in a bucket between them, and a direct conversation across buckets.
    recs.push(rec(131_072, "#b", 131_072, "b"));
    recs.push(dm(70_000, "bob", "alice", 70_000, "hi"));
    recs.push(dm(300_000, "alice", "bob", 300_000, "hello"));
    recs.sort_by_key(|r| r.pos);
    db.insert(&recs).unwrap();

    for (i, &p) in a.iter().enumerate() {
        let id = recs.iter().find(|r| r.pos == p).unwrap().id;
        let after = page(
            &db,
            Query {
                after: Some(id),
                ..query(topic("#a"))
            },
        );
        assert_eq!(after, (a[i + 1..].to_vec(), false), "after {p}");
        let before = page(
            &db,
            Query {
                before: Some(id),
                ..query(topic("#a"))
            },
        );
        assert_eq!(before, (a[..i].to_vec(), false), "before {p}");
    }
    let hello = recs.iter().find(|r| r.pos == 300_000).unwrap().id;
    let hi = recs.iter().find(|r| r.pos == 70_000).unwrap().id;
    let thread = || query(Scope::Thread(thread_of("alice", "bob")));
    assert_eq!(
        page(
            &db,
            Query {
                before: Some(hello),
                ..thread()
            }
        ),
        (vec![70_000], false)
    );
    assert_eq!(
        page(
            &db,
            Query {
                after: Some(hi),
                ..thread()
            }
        ),
        (vec![300_000], false)
    );
    // An id of the other topic, in a bucket of this one's range, is still not this topic's.
    let b = recs.iter().find(|r| r.pos == 131_072).unwrap().id;
    assert!(
        db.query(&Query {
            after: Some(b),
            ..query(topic("#a"))
        })
        .unwrap()
        .unknown_anchor
    );

    // Each probe is an equality on both columns of the id index, and finding the next bucket
    // is a search of the topic's (thread's) index, not a scan.
    let plan = |sql: &str, args: &[&dyn rusqlite::ToSql]| -> String {
        let mut stmt = db.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map(args, |r| r.get::<_, String>(3)).unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join("; ")
    };
    for probe in [PROBE_IN_TOPIC, PROBE_IN_THREAD] {
        assert!(
            probe.contains(&format!("pos >> {ID_BUCKET_BITS} = ?3")),
            "{probe}"
        );
        let p = plan(probe, &[&&b.0[..], &1, &2]);
        assert!(p.contains("events_by_id (<expr>=? AND <expr>=?)"), "{p}");
    }
    assert!(SCHEMA_V4.contains(&format!("pos >> {ID_BUCKET_BITS},")));
    for (sql, index) in [
        (BELOW_IN_TOPIC, "events_by_topic"),
        (BELOW_IN_THREAD, "events_by_thread"),
    ] {
        // Seeks to the bound, rather than walking down from the scope's newest Event.
        let p = plan(sql, &[&1, &2]);
        assert!(
            p.starts_with("SEARCH") && p.contains(index) && p.contains("rowid<?"),
            "{p}"
        );
    }
}

#[test]
fn thread_scope_merges_both_directions() {
    let dir = TempDir::new("thread");
    let mut db = fresh(&dir);
    let recs = vec![
        dm(1, "alice", "bob", 100, "hi bob"),
        rec(2, "#a", 101, "channel"),
        dm(3, "bob", "alice", 102, "hi alice"),
        dm(4, "alice", "carol", 103, "hi carol"),
        dm(5, "carol", "bob", 104, "hi bob from carol"),
        dm(6, "bob", "alice", 105, "how are you"),
        dm(7, "alice", "bob", 106, "fine thanks"),
    ];
    db.insert(&recs).unwrap();
    let thread = || Scope::Thread(thread_of("bob", "alice"));
    let p = db.query(&query(thread())).unwrap();
    assert_eq!(positions(&p), [1, 3, 6, 7]);
    assert_eq!(p.events[1].thread(), Some("alice bob"));
    assert_eq!(
        page(
            &db,
            Query {
                count: 2,
                ..query(thread())
            }
        ),
        (vec![6, 7], true)
    );
    assert_eq!(
        page(
            &db,
            Query {
                before: Some(recs[5].id),
                count: 2,
                ..query(thread())
            }
        ),
        (vec![1, 3], false)
    );
    assert_eq!(
        page(
            &db,
            Query {
                after: Some(recs[0].id),
                count: 2,
                ..query(thread())
            }
        ),
        (vec![3, 6], true)
    );
    let p = db
        .query(&Query {
            since: Some(101),
            until: Some(106),
            ..query(thread())
        })
        .unwrap();
    assert_eq!(positions(&p), [3, 6]);
    // An id of another conversation, even one in the same topic.
    let p = db
        .query(&Query {
            after: Some(recs[4].id),
            ..query(thread())
        })
        .unwrap();
    assert!(p.unknown_anchor);
    let p = db.query(&search(thread(), "hi")).unwrap();
    assert_eq!(positions(&p), [1, 3]);

    // The horizon of a thread is the later of its two topics'.
    let keep_one = Rule {
        max_events: Some(1),
        max_age: None,
    };
    let mut r = Retention::default();
    r.topics.insert("alice".into(), keep_one);
    assert_eq!(db.prune(&r, 0, 100).unwrap(), 1);
    assert_eq!(db.query(&query(thread())).unwrap().horizon, Some(102));
    r.topics.insert("bob".into(), keep_one);
    assert_eq!(db.prune(&r, 0, 100).unwrap(), 2);
    let p = db.query(&query(thread())).unwrap();
    assert_eq!((positions(&p), p.horizon), (vec![6, 7], Some(104)));
    assert_eq!(db.query(&query(topic("alice"))).unwrap().horizon, Some(102));
    assert_eq!(db.query(&query(topic("#a"))).unwrap().horizon, None);
}

/// Chinese, Japanese and Korean searched against a model: a query of such characters finds exactly the
/// bodies whose words (each such character one, a run of other letters one) hold the query's
/// characters in a row, whatever else (punctuation, spaces, emoji) lies between them.
#[test]
fn a_run_of_chinese_japanese_or_korean_is_found_where_the_body_has_it_in_a_row() {
    const ALPHABET: [&str; 13] = [
        "日", "本", "語", "テ", "ス", "が", "서", "울", "a", "b", "、", " ", "🙂",
    ];
    // A fixed sequence (xorshift), so that a failure repeats.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut text = |len: usize, from: usize| (0..len).map(|_| ALPHABET[next(from)]).collect::<String>();
    let bodies: Vec<String> = (0..300).map(|i| text(1 + i % 12, ALPHABET.len())).collect();
    let queries: Vec<String> = (0..60).map(|i| text(1 + i % 3, 8)).collect();
    // The model's words: each of the first eight characters alone, a run of "a" and "b" one;
    // and "|" where what is no word parts a Korean syllable from the word before or after it,
    // which no query holds (Korean puts spaces between words, Chinese and Japanese do not).
    fn model_words(s: &str) -> Vec<String> {
        let mut words: Vec<String> = Vec::new();
        let (mut latin, mut gap) = (false, false);
        let korean = |c: char| matches!(c, '서' | '울');
        for c in s.chars() {
            if matches!(c, '、' | ' ' | '🙂') {
                (latin, gap) = (false, true);
                continue;
            }
            let last = words.last().and_then(|w| w.chars().last());
            if gap && last.is_some_and(|l| korean(l) || korean(c)) {
                words.push("|".into());
            }
            match c {
                'a' | 'b' if latin => words.last_mut().into_iter().for_each(|w| w.push(c)),
                c => words.push(c.to_string()),
            }
            (latin, gap) = (matches!(c, 'a' | 'b'), false);
        }
        words
    }
    let dir = TempDir::new("cjk-model");
    let mut db = fresh(&dir);
    let records: Vec<Record> = (bodies.iter().enumerate())
        .map(|(i, b)| rec(i as u64 + 1, "#a", 1_000 + i as u64, b))
        .collect();
    db.insert(&records).unwrap();
    let mut matched = 0;
    for q in &queries {
        let want = model_words(q);
        let expected: Vec<u64> = (bodies.iter().enumerate())
            .filter(|(_, b)| model_words(b).windows(want.len()).any(|w| w == want.as_slice()))
            .map(|(i, _)| i as u64 + 1)
            .collect();
        let found = positions(
            &db.query(&Query {
                count: 500,
                ..search(topic("#a"), q)
            })
            .unwrap(),
        );
        assert_eq!(found, expected, "{q:?}");
        matched += usize::from(!found.is_empty());
    }
    assert!(
        (20..60).contains(&matched),
        "{matched} of 60 queries found something"
    );
}

#[test]
fn search_matches_all_words_in_scope() {
    let dir = TempDir::new("search");
    let mut db = fresh(&dir);
    let blob = blob(5, "#a", 105, b"quick dog");
    db.insert(&[
        rec(1, "#a", 101, "The quick brown fox"),
        rec(2, "#a", 102, "the lazy dog"),
        rec(3, "#a", 103, "Café au lait, naïve"),
        rec(4, "#a", 104, "QUICK dog!"),
        blob,
        rec(6, "#b", 106, "quick dog"),
        rec(7, "#a", 107, "a dog, quickly"),
        rec(8, "#a", 108, "thanks🙂see you"),
        rec(9, "#a", 109, "5₽today, re\u{301}sume\u{301} attached"),
        rec(10, "#a", 110, "ΚΑΛΗΜΕΡΑ κόσμε, ёлка"),
        rec(11, "#a", 111, "ο\u{301}λα καλά"),
        rec(12, "#a", 112, "日本語もテストします。"),
        rec(13, "#a", 113, "日本の語学"),
        rec(14, "#a", 114, "か\u{3099}き ﾃﾞ2024"),
        rec(
            15,
            "#a",
            115,
            "\u{1112}\u{1161}\u{11ab}\u{1100}\u{116e}\u{11a8} \u{928}\u{93c}",
        ),
        rec(16, "#a", 116, "서울에서 만나요. Rust를 배워요"),
        rec(17, "#a", 117, "か\u{309a}セ\u{309a} zﾞ 과 사"),
        rec(18, "#a", 118, "Kotlin ❤\u{fe0f}를"),
        rec(19, "#a", 119, "ᎠᏗ ᲒᲐᲛᲐᲠᲯᲝᲑᲐ 𞤀𞤣𞤤𞤢𞤥"),
        rec(20, "#a", 120, "हाँ दो किताबें, नमस्ते"),
        rec(21, "#a", 121, "كَتَبَ مـرحـبـا بالعالم שָׁלוֹם"),
        rec(
            22,
            "#a",
            122,
            "สวัสดีครับ Đúng đẹp ２０２６年ＡＢＣホール ｶﾀｶﾅ Acme™",
        ),
    ])
    .unwrap();
    let hits = |text: &str| positions(&db.query(&search(topic("#a"), text)).unwrap());
    // Chinese and Japanese characters in a row, wherever the run of them starts.
    assert_eq!(hits("日本語"), [12]);
    assert_eq!(hits("テスト"), [12]);
    assert_eq!(hits("本語"), [12], "not 13, where they are apart");
    assert_eq!(hits("日本"), [12, 13]);
    assert_eq!(hits("語 日本"), [12, 13], "words in any order, as ever");
    assert_eq!(hits("日語"), Vec::<u64>::new());
    // A voicing mark is its kana's, typed decomposed or not, halfwidth or not.
    assert_eq!(hits("が"), [14]);
    assert_eq!(hits("か\u{3099}"), [14]);
    assert_eq!(hits("か"), Vec::<u64>::new());
    assert_eq!(hits("ﾃﾞ"), [14]);
    assert_eq!(hits("デ"), [14], "halfwidth is kana, by compatibility");
    assert_eq!(hits("ﾃ"), [12], "テスト");
    assert_eq!(hits("2024"), [14]);
    // Spellings Unicode counts as the same find each other: Hangul as jamo, a nukta apart.
    assert_eq!(hits("한국"), [15]);
    // Korean: a noun finds the phrase that joins a particle to it, a run of syllables in a row,
    // but not across the spaces Korean puts between words (helper 142).
    assert_eq!(hits("서울"), [16]);
    assert_eq!(hits("rust 배워"), [16]);
    assert_eq!(hits("울서"), Vec::<u64>::new());
    assert_eq!(hits("서만"), Vec::<u64>::new(), "서울에서 만나요: apart");
    assert_eq!(hits("rust를"), [16]);
    assert_eq!(hits("요rust"), Vec::<u64>::new(), "만나요. Rust를: apart");
    assert_eq!(
        hits("kotlin를"),
        Vec::<u64>::new(),
        "a mark alone after the gap joins nothing"
    );
    assert_eq!(hits("kotlin 를"), [18]);
    // Helper 143: a filler parts a query's words; a voicing mark Unicode does not compose with
    // its kana stays with it; after a Latin letter, halfwidth or not, it is a mark on it.
    assert_eq!(hits("사\u{3164}과"), [17]);
    assert_eq!(hits("か"), Vec::<u64>::new(), "か\u{309a} is not か");
    assert_eq!(hits("か\u{309a}"), [17]);
    assert_eq!(hits("セ\u{309a}"), [17]);
    assert_eq!(hits("z"), Vec::<u64>::new());
    assert_eq!(hits("z\u{3099}"), [17]);
    // Helper 144: case folds for letters Unicode gave case after the tokenizer's tables too
    // (Cherokee, Georgian Mtavruli, Adlam), either way.
    assert_eq!(hits("ꭰꮧ"), [19]);
    assert_eq!(hits("გამარჯობა"), [19]);
    assert_eq!(hits("𞤢𞤣𞤤𞤢𞤥"), [19]);
    assert_eq!(hits("ᲒᲐᲛᲐᲠᲯᲝᲑᲐ"), [19]);
    assert_eq!(hits("\u{929}"), [15]);
    // A trial in sixteen scripts: marks other than accents are their word's, so a Hindi word
    // is not the run of its consonants that another phrase holds; Arabic's vowel marks and
    // tatweel and Hebrew's points come off; Thai letters stand alone, as Chinese does;
    // Vietnamese "đ" is "d"; fullwidth and halfwidth forms are the usual ones.
    assert_eq!(hits("हिंदी"), Vec::<u64>::new(), "not हाँ दो");
    assert_eq!(hits("किताबें"), [20]);
    assert_eq!(hits("नमस्ते"), [20]);
    assert_eq!(hits("नमस"), Vec::<u64>::new(), "whole words, as in Latin");
    assert_eq!(hits("كتب"), [21]);
    assert_eq!(hits("كَتَبَ مرحبا"), [21]);
    assert_eq!(hits("שלום"), [21]);
    assert_eq!(hits("סวัสดี"), Vec::<u64>::new());
    assert_eq!(hits("สวัสดี"), [22]);
    assert_eq!(hits("ครับ"), [22]);
    assert_eq!(hits("dung dep"), [22]);
    assert_eq!(hits("2026 abc"), [22]);
    assert_eq!(hits("カタカナ ホール"), [22]);
    // Symbols keep their forms, and end words: "acme" finds "Acme™" (found by QA).
    assert_eq!(hits("acme™"), [22]);
    assert_eq!(hits("acme"), [22]);
    assert_eq!(hits("acmetm"), Vec::<u64>::new());
    // Accents come off in every script, on both sides, precomposed or typed as marks.
    assert_eq!(hits("καλημέρα"), [10]);
    assert_eq!(hits("καλημερα κοσμε"), [10]);
    assert_eq!(hits("κόσμε"), [10]);
    assert_eq!(hits("елка"), [10]);
    assert_eq!(hits("όλα"), [11]);
    assert_eq!(hits("ολα καλα"), [11]);
    assert_eq!(hits("quick dog"), [4]);
    assert_eq!(hits("DOG"), [2, 4, 7]);
    assert_eq!(hits("quick"), [1, 4]);
    assert_eq!(hits("cafe"), [3]);
    assert_eq!(hits("CAFÉ NAIVE"), [3]);
    assert_eq!(hits("dog-quick"), [4]);
    assert_eq!(hits("  ,;- "), Vec::<u64>::new());
    assert_eq!(hits(""), Vec::<u64>::new());
    // FTS5 syntax in the text is only words.
    assert_eq!(hits("quick OR fox"), Vec::<u64>::new());
    assert_eq!(hits("fox\" OR \"dog"), Vec::<u64>::new());
    assert_eq!(
        hits("qu*"),
        [1, 4, 7],
        "a starred word is a prefix (its own test below)"
    );
    assert_eq!(hits("q*"), Vec::<u64>::new(), "but not one letter's");
    assert_eq!(hits("NEAR(quick dog)"), Vec::<u64>::new());
    // The scope tokens are not words of the text.
    assert_eq!(hits("t1"), Vec::<u64>::new());
    assert_eq!(fts_hits(&db, "scope : t1"), 20);
    // Words end at every character that is not a letter, number or mark, however new to
    // the tokenizer's tables (🙂 and ₽ are), and a word typed decomposed is the word.
    assert_eq!(hits("thanks"), [8]);
    assert_eq!(hits("see you🙂"), [8]);
    assert_eq!(hits("today 5"), [9]);
    assert_eq!(hits("résumé"), [9]);
    assert_eq!(hits("re\u{301}sume\u{301}"), [9]);
    // A word the tokenizer drops entirely (a lone combining mark) matches nothing.
    assert!(super::words::is_word_char('\u{345}'));
    assert_eq!(hits("\u{345}"), Vec::<u64>::new());
    assert_eq!(positions(&db.query(&search(topic("#b"), "quick")).unwrap()), [6]);
    let p = db
        .query(&Query {
            since: Some(102),
            ..search(topic("#a"), "dog")
        })
        .unwrap();
    assert_eq!(positions(&p), [4, 7]);
}

/// The text index is written per run of new positions: gaps, blobs, direct messages and a
/// retried batch that overlaps what is stored still leave exactly one entry per text Event.
#[test]
fn text_index_covers_each_new_range_once() {
    let dir = TempDir::new("runs");
    let mut db = fresh(&dir);
    let blob = blob(2, "#a", 2, b"word");
    let first = vec![
        rec(1, "#a", 1, "word one"),
        blob,
        rec(3, "#a", 3, "word three"),
        dm(7, "alice", "bob", 7, "word seven"),
        rec(9, "#a", 9, "word nine"),
    ];
    db.insert(&first).unwrap();
    assert_eq!(fts_hits(&db, "word"), 4);
    // Retried with more: 3 and 9 are stored already, 4 and 10 are new.
    let retry = vec![
        rec(3, "#a", 3, "word three"),
        rec(4, "#a", 4, "word four"),
        rec(9, "#a", 9, "word nine"),
        rec(10, "#a", 10, "word ten"),
    ];
    db.insert(&retry).unwrap();
    assert_eq!(fts_hits(&db, "word"), 6);
    assert_eq!(
        positions(&db.query(&search(topic("#a"), "word")).unwrap()),
        [1, 3, 4, 9, 10]
    );
    let thread = Scope::Thread(thread_of("alice", "bob"));
    assert_eq!(positions(&db.query(&search(thread, "seven")).unwrap()), [7]);
    assert_eq!(positions(&db.query(&search(topic("bob"), "word")).unwrap()), [7]);
    // Once deleted, an Event is gone from the index, also after its segments are merged: no
    // second entry was left behind in an older one.
    db.conn
        .execute_batch(
            "DELETE FROM events_fts WHERE rowid IN (7, 9);
             INSERT INTO events_fts (events_fts) VALUES ('optimize');",
        )
        .unwrap();
    assert_eq!((fts_hits(&db, "nine"), fts_hits(&db, "seven")), (0, 0));
    assert_eq!(fts_hits(&db, "word"), 4);
}

/// Commits do not merge the text index's segments (automerge 0, set at the first open); the idle
/// writer's merges leave what a search finds as it was.
#[test]
fn text_index_merges_only_when_asked() {
    let dir = TempDir::new("merge");
    let mut db = fresh(&dir);
    let setting = |db: &Db| -> i64 {
        db.conn
            .query_row("SELECT v FROM events_fts_config WHERE k = 'automerge'", [], |r| {
                r.get(0)
            })
            .unwrap()
    };
    assert_eq!(setting(&db), 0);
    // Each batch is a segment of its own.
    for b in 0..20u64 {
        let batch: Vec<Record> = (1..=10)
            .map(|i| {
                let pos = b * 10 + i;
                rec(pos, "#a", pos, &format!("common word{pos}"))
            })
            .collect();
        db.insert(&batch).unwrap();
    }
    let segments = |db: &Db| -> i64 {
        db.conn
            .query_row("SELECT count(*) FROM events_fts_data", [], |r| r.get(0))
            .unwrap()
    };
    let before = segments(&db);
    let all: Vec<u64> = (1..=200).collect();
    let found = |db: &Db| {
        let q = Query {
            count: 500,
            ..search(topic("#a"), "common")
        };
        positions(&db.query(&q).unwrap())
    };
    assert_eq!(found(&db), all);
    db.tidy_text_index(500).unwrap();
    assert!(segments(&db) < before, "{} -> {}", before, segments(&db));
    assert_eq!(found(&db), all);
    assert_eq!(
        positions(&db.query(&search(topic("#a"), "word77")).unwrap()),
        [77]
    );
    drop(db);
    assert_eq!(setting(&fresh(&dir)), 0, "set again at the next open");
}

/// A query word of two characters or more directly followed by `*` finds the words it begins
/// (asked for by a persona: "deploy" did not find "deployment"); without the star, or
/// apart from it, a word is matched whole, as before.
#[test]
fn a_starred_word_finds_the_words_it_begins() {
    let dir = TempDir::new("prefix");
    let mut db = fresh(&dir);
    db.insert(&[
        rec(1, "#a", 101, "the deployment is done"),
        rec(2, "#a", 102, "Deployed it"),
        rec(3, "#a", 103, "deploy now, Café ouvert"),
        rec(4, "#a", 104, "a redeploy"),
        rec(5, "#a", 105, "日本語もテスト"),
    ])
    .unwrap();
    let hits = |text: &str| positions(&db.query(&search(topic("#a"), text)).unwrap());
    assert_eq!(hits("deploy*"), [1, 2, 3], "not redeploy");
    assert_eq!(hits("DEPLOY*"), [1, 2, 3]);
    assert_eq!(hits("deploy"), [3], "whole words without the star");
    assert_eq!(hits("deploy *"), [3], "nor with it apart");
    assert_eq!(hits("deploy* done"), [1]);
    assert_eq!(hits("caf*"), [3], "accents off, as for whole words");
    assert_eq!(hits("d*"), Vec::<u64>::new(), "one character is matched whole");
    assert_eq!(hits("日本*"), [5]);
    assert_eq!(hits("\"deploy*\""), [1, 2, 3], "quotes are no operators");
}

#[test]
fn search_pages_backward() {
    let dir = TempDir::new("searchpage");
    let mut db = fresh(&dir);
    let recs: Vec<Record> = (1..=30)
        .map(|i| {
            rec(
                i,
                "#a",
                100 + i,
                if i % 3 == 0 { "the needle here" } else { "just hay" },
            )
        })
        .collect();
    db.insert(&recs).unwrap();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let p = db
            .query(&Query {
                before,
                count: 4,
                ..search(topic("#a"), "needle")
            })
            .unwrap();
        let mut page = positions(&p);
        page.extend(seen);
        seen = page;
        if !p.more {
            break;
        }
        before = Some(p.events[0].id);
    }
    assert_eq!(seen, (1..=10).map(|i| i * 3).collect::<Vec<_>>());
}

#[test]
fn reinsert_is_idempotent() {
    let dir = TempDir::new("reinsert");
    let mut db = fresh(&dir);
    let recs = two_topics(&mut db);
    db.insert(&recs).unwrap();
    let mut more = recs[15..].to_vec();
    more.push(rec(21, "#a", 1021, "message 21"));
    db.insert(&more).unwrap();
    assert_eq!(db.count().unwrap(), 21);
    assert_eq!(topic_row(&db, "#a").0, 11);
    assert_eq!(topic_row(&db, "#b").0, 10);
    assert_eq!(fts_hits(&db, "message"), 21);
    assert_eq!(
        positions(&db.query(&search(topic("#a"), "message 17")).unwrap()),
        [17]
    );
    assert_eq!(db.last_pos().unwrap(), 21);
}

#[test]
fn prune_by_count_in_small_steps() {
    let dir = TempDir::new("prunecount");
    let mut db = fresh(&dir);
    let mut recs = Vec::new();
    for (t, name) in ["#a", "#b", "#keep"].into_iter().enumerate() {
        let t = t as u64;
        recs.extend((0..10).map(|i| rec(1 + t * 10 + i, name, 1000 + t * 10 + i, &format!("word{t}x{i}"))));
    }
    db.insert(&recs).unwrap();
    let mut r = Retention {
        default: Rule {
            max_events: Some(4),
            max_age: None,
        },
        ..Retention::default()
    };
    r.topics.insert("#keep".into(), Rule::default());
    let mut steps = Vec::new();
    loop {
        let n = db.prune(&r, 5000, 4).unwrap();
        assert!(n <= 4);
        if n == 0 {
            break;
        }
        steps.push(n);
    }
    assert_eq!(steps.iter().sum::<usize>(), 12);
    assert!(steps.len() >= 3);
    assert_eq!(db.count().unwrap(), 18);
    assert_eq!(positions(&db.query(&query(topic("#a"))).unwrap()), [7, 8, 9, 10]);
    assert_eq!(
        positions(&db.query(&query(topic("#b"))).unwrap()),
        [17, 18, 19, 20]
    );
    assert_eq!(db.query(&query(topic("#keep"))).unwrap().events.len(), 10);
    assert_eq!(topic_row(&db, "#a"), (4, 1005));
    assert_eq!(topic_row(&db, "#b"), (4, 1015));
    assert_eq!(db.query(&query(topic("#a"))).unwrap().horizon, Some(1005));
    assert_eq!(db.query(&query(topic("#keep"))).unwrap().horizon, None);
    // The deleted bodies left the text index too.
    assert_eq!(fts_hits(&db, "word0x5"), 0);
    assert_eq!(fts_hits(&db, "word0x6"), 1);
    assert_eq!(fts_hits(&db, "word1x0"), 0);
    assert_eq!(fts_hits(&db, "word2x0"), 1);
    let all: i64 = db
        .conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(all, 18);
}

#[test]
fn prune_by_age() {
    let dir = TempDir::new("pruneage");
    let mut db = fresh(&dir);
    let recs: Vec<Record> = (0..20)
        .map(|i| rec(i + 1, "#a", 80_000 + i * 1000, &format!("w{i}")))
        .collect();
    db.insert(&recs).unwrap();
    db.insert(&[rec(21, "#old", 1000, "ancient")]).unwrap();
    let mut r = Retention {
        default: Rule {
            max_events: None,
            max_age: Some(Duration::from_secs(10)),
        },
        ..Default::default()
    };
    r.topics.insert("#old".into(), Rule::default());
    // At 100 s, Events before 90 s are too old: times 80..89 s.
    let mut total = 0;
    while let n @ 1.. = db.prune(&r, 100_000, 3).unwrap() {
        assert!(n <= 3);
        total += n;
    }
    assert_eq!(total, 10);
    let p = db.query(&query(topic("#a"))).unwrap();
    assert_eq!(positions(&p), (11..=20).collect::<Vec<_>>());
    assert_eq!(p.horizon, Some(89_000));
    assert_eq!(fts_hits(&db, "w9"), 0);
    assert_eq!(fts_hits(&db, "w10"), 1);
    assert_eq!(db.query(&query(topic("#old"))).unwrap().events.len(), 1);
    // Before the epoch plus max_age nothing is old.
    let mut fresh_db = Db::open(&dir.0.join("other.db")).unwrap();
    fresh_db.insert(&[rec(1, "#a", 1, "x")]).unwrap();
    assert_eq!(fresh_db.prune(&r, 5_000, 10).unwrap(), 0);
}

#[test]
fn prune_walks_many_topics_a_slice_at_a_time() {
    let dir = TempDir::new("prunemany");
    let mut db = fresh(&dir);
    let n = 2 * PRUNE_TOPICS + 10;
    let recs: Vec<Record> = (0..2 * n as u64)
        .map(|i| rec(i + 1, &format!("#t{}", i % n as u64), 100 + i, "x"))
        .collect();
    db.insert(&recs).unwrap();
    let r = Retention {
        default: Rule {
            max_events: Some(1),
            max_age: None,
        },
        ..Default::default()
    };
    let steps: Vec<usize> = (0..4).map(|_| db.prune(&r, 0, 10_000).unwrap()).collect();
    assert_eq!(steps, [PRUNE_TOPICS, PRUNE_TOPICS, 10, 0]);
    assert_eq!(db.count().unwrap(), n as u64);
    // It wraps around: a new excess anywhere is found within one more round.
    db.insert(&[rec(10_000, "#t0", 99_999, "y")]).unwrap();
    let found: Vec<usize> = (0..3).map(|_| db.prune(&r, 0, 10_000).unwrap()).collect();
    assert_eq!(found.iter().sum::<usize>(), 1, "{found:?}");
}

/// What version 16 added: a file made by this version, with it taken out, is one of version 15.
const UNDO_V16: &str = "DROP TRIGGER topic_added; DROP TRIGGER topic_counted; DROP TRIGGER topic_deleted;
    DROP INDEX topics_emptied;
    ALTER TABLE meta DROP COLUMN forgotten; ALTER TABLE meta DROP COLUMN emptied;";

/// What version 17 added.
const UNDO_V17: &str =
    "DROP TABLE forgotten; ALTER TABLE meta ADD COLUMN forgotten INTEGER NOT NULL DEFAULT 0;";

/// What version 18 changed: the text index's tokenizer (emptied; the caller fills it).
const UNDO_V18: &str = "DROP TABLE events_fts;
    CREATE VIRTUAL TABLE events_fts USING fts5(
        body, scope, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2'
    );";

/// What version 19 added: the threads' index by their second user.
const UNDO_V19: &str = "DROP INDEX threads_by_second;";

/// Makes a file of this version one of `version`, by undoing what later versions added (those
/// from 16 on; tests of older versions undo the rest themselves).
fn undo_to(db: &Db, version: u32) {
    for (v, undo) in [(19, UNDO_V19), (18, UNDO_V18), (17, UNDO_V17), (16, UNDO_V16)] {
        if v > version {
            db.conn.execute_batch(undo).unwrap();
        }
    }
}

/// The emptied topics' rows, as the triggers counted them.
fn emptied(db: &Db) -> i64 {
    db.conn
        .query_row("SELECT emptied FROM meta", [], |r| r.get(0))
        .unwrap()
}

fn rows(db: &Db, table: &str) -> i64 {
    db.conn
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Prunes until nothing breaks `r` any more.
fn prune_all(db: &mut Db, r: &Retention) {
    for _ in 0..100 {
        if db.prune(r, 0, 1_000).unwrap() == 0 {
            return;
        }
    }
    panic!("pruning did not end");
}

fn limited(max_events: u64, unlimited: &[&str]) -> Retention {
    let mut r = Retention {
        default: Rule {
            max_events: Some(max_events),
            max_age: None,
        },
        ..Default::default()
    };
    for t in unlimited {
        r.topics.insert((*t).into(), Rule::default());
    }
    r
}

#[test]
fn emptied_topics_keep_their_horizon_up_to_a_bound_and_conversations_go() {
    let dir = TempDir::new("forget");
    let mut db = fresh(&dir);
    db.insert(&[
        rec(1, "#a", 1000, "one"),
        rec(2, "#a", 1001, "two"),
        rec(3, "#keep", 1500, "kept"),
        dm(4, "alice", "bob", 2000, "to bob"),
        dm(5, "bob", "alice", 2001, "to alice"),
    ])
    .unwrap();
    let pair = Scope::Thread(thread_of("alice", "bob"));
    let horizon = |db: &Db, scope: Scope| db.query(&query(scope)).unwrap().horizon;

    // #a and bob's direct messages are emptied; alice's, in the same conversation, stay.
    prune_all(&mut db, &limited(0, &["#keep", "alice"]));
    assert_eq!(topic_row(&db, "#a"), (0, 1001), "an emptied topic keeps its row");
    assert_eq!(emptied(&db), 2);
    assert_eq!(rows(&db, "threads"), 1, "the conversation still has an Event");
    assert_eq!(horizon(&db, topic("#a")), Some(1001));
    assert_eq!(horizon(&db, topic("#never")), None);
    let p = db.query(&query(pair.clone())).unwrap();
    assert_eq!((positions(&p), p.horizon), (vec![5], Some(2000)));

    // The other direction too: the conversation's row goes, its topics say what it lost.
    prune_all(&mut db, &limited(0, &["#keep"]));
    assert_eq!((rows(&db, "topics"), rows(&db, "threads")), (4, 0));
    assert_eq!(emptied(&db), 3);
    let p = db.query(&query(pair.clone())).unwrap();
    assert_eq!((p.events.len(), p.horizon), (0, Some(2001)));

    // Beyond the bound, the emptied rows with the oldest horizons go, within the step's budget,
    // and each one's horizon becomes its bucket's.
    (db.kept_emptied, db.emptied_over) = (1, true);
    let r = limited(0, &["#keep"]);
    db.prune(&r, 0, 1).unwrap();
    assert_eq!(rows(&db, "topics"), 3, "one row a step with a budget of one");
    db.prune(&r, 0, 1).unwrap();
    db.prune(&r, 0, 1).unwrap();
    assert_eq!(rows(&db, "topics"), 2, "#keep and the newest emptied, alice");
    assert_eq!(topic_row(&db, "alice"), (0, 2001));
    assert_eq!(emptied(&db), 1);
    assert_eq!(rows(&db, "forgotten"), 2);
    assert_eq!(horizon(&db, topic("#a")), Some(1001));
    assert_eq!(horizon(&db, topic("bob")), Some(2000));
    assert_eq!(horizon(&db, topic("#keep")), None);
    assert_eq!(horizon(&db, pair), Some(2001));
    // A topic never used says it lost nothing, unless it shares a forgotten one's bucket: the
    // store cannot tell it from one forgotten there.
    let near = |of: &str| {
        (0..1_000_000)
            .map(|i| format!("#n{i}"))
            .find(|n| forgotten::bucket(n) == forgotten::bucket(of))
            .unwrap()
    };
    assert_ne!(forgotten::bucket("#never"), forgotten::bucket("#a"));
    assert_ne!(forgotten::bucket("#never"), forgotten::bucket("bob"));
    assert_eq!(horizon(&db, topic("#never")), None);
    assert_eq!(horizon(&db, topic(&near("bob"))), Some(2000));
    assert_eq!(horizon(&db, topic(&near("#a"))), Some(1001));
    // An anchor in a forgotten topic is unknown, with the horizon.
    let gone = rec(1, "#a", 1000, "one").id;
    let p = db
        .query(&Query {
            after: Some(gone),
            ..query(topic("#a"))
        })
        .unwrap();
    assert_eq!((p.unknown_anchor, p.horizon), (true, Some(1001)));

    // #a starts again: what it had before may be missing, and it says so; a new topic
    // elsewhere does not.
    db.insert(&[rec(6, "#a", 9000, "three"), rec(8, "#new", 9001, "new")])
        .unwrap();
    let p = db.query(&query(topic("#a"))).unwrap();
    assert_eq!((positions(&p), p.horizon), (vec![6], Some(1001)));
    let p = db.query(&query(topic("#new"))).unwrap();
    assert_eq!((positions(&p), p.horizon), (vec![8], None));
    assert_eq!(positions(&db.query(&search(topic("#a"), "three")).unwrap()), [6]);
    assert_eq!(fts_hits(&db, "one OR two OR bob OR alice"), 0);
    assert_eq!(emptied(&db), 1, "a new row is not an emptied one");
    // An emptied row used again is no longer one.
    db.insert(&[dm(7, "bob", "alice", 9500, "back")]).unwrap();
    assert_eq!(topic_row(&db, "alice"), (1, 2001));
    assert_eq!(emptied(&db), 0);
    // The buckets' horizons survive a restart, and the reader sees them.
    drop(db);
    let db = fresh(&dir);
    assert_eq!(horizon(&db, topic("bob")), Some(2000));
    let reader = Db::open_reader(&dir.db()).unwrap();
    assert_eq!(horizon(&reader, topic(&near("bob"))), Some(2000));
}

#[test]
fn last_pos_and_time_are_high_water_marks() {
    let dir = TempDir::new("lastpos");
    let mut db = fresh(&dir);
    assert_eq!(
        (
            db.last_pos().unwrap(),
            db.last_time().unwrap(),
            db.count().unwrap()
        ),
        (0, 0, 0)
    );
    db.insert(&[rec(5, "#a", 500, "x"), rec(9, "#b", 400, "y")])
        .unwrap();
    assert_eq!((db.last_pos().unwrap(), db.last_time().unwrap()), (9, 500));
    let r = Retention {
        default: Rule {
            max_events: Some(0),
            max_age: None,
        },
        ..Default::default()
    };
    assert_eq!(db.prune(&r, 0, 10).unwrap(), 2);
    assert_eq!(
        (
            db.last_pos().unwrap(),
            db.last_time().unwrap(),
            db.count().unwrap()
        ),
        (9, 500, 0)
    );
    drop(db);
    let db = fresh(&dir);
    assert_eq!((db.last_pos().unwrap(), db.last_time().unwrap()), (9, 500));
    let reader = Db::open_reader(&dir.db()).unwrap();
    assert_eq!(reader.last_pos().unwrap(), 9);
}

/// At most `MAX_AHEAD` topics past the clock are named: one more and none is (every topic
/// then starts after the latest time, as the worker's start does with `None`).
#[test]
fn topics_past_the_clock_are_named_up_to_their_bound_only() {
    use super::ahead::MAX_AHEAD;
    let dir = TempDir::new("ahead-bound");
    let mut db = fresh(&dir);
    let names: Vec<String> = (0..=MAX_AHEAD).map(|i| format!("#t{i}")).collect();
    let recs: Vec<Record> = (names.iter().enumerate())
        .map(|(i, t)| rec(i as u64 + 1, t, 9_000, "x"))
        .collect();
    let (at, past) = recs.split_at(MAX_AHEAD);
    db.insert(at).unwrap();
    let named = db.topics_ahead(8_000).unwrap().map(|v| v.len());
    assert_eq!(named, Some(MAX_AHEAD));
    db.insert(past).unwrap();
    // Lengths, not the lists: a failure would print 100,001 names.
    let named = db.topics_ahead(8_000).unwrap().map(|v| v.len());
    assert_eq!(named, None, "one past the bound");
    let named = db.topics_ahead(9_001).unwrap().map(|v| v.len());
    assert_eq!(named, Some(0), "none ahead");
}

/// The topics whose times run past the clock at start are named with their last times (an
/// Event's, or the newest deleted one's), so that only they go on from there (floor.rs).
#[test]
fn topics_past_the_clock_are_named_with_their_last_times() {
    let dir = TempDir::new("ahead");
    let mut db = fresh(&dir);
    db.insert(&[
        rec(1, "#a", 500, "x"),
        rec(2, "#b", 9_000, "y"),
        rec(3, "#c", 8_600, "w"),
        rec(4, "#b", 9_001, "z"),
    ])
    .unwrap();
    let ahead = |db: &Db, now| {
        db.topics_ahead(now).unwrap().map(|mut v| {
            v.sort();
            v
        })
    };
    let named = |v: &[(&str, u64)]| Some(v.iter().map(|&(t, l)| (t.to_string(), l)).collect());
    assert_eq!(ahead(&db, 8_500), named(&[("#b", 9_001), ("#c", 8_600)]));
    assert_eq!(ahead(&db, 9_001), named(&[("#b", 9_001)]));
    assert_eq!(ahead(&db, 9_002), named(&[]));
    // Deleted, their horizons stand for them.
    let r = Retention {
        default: Rule {
            max_events: Some(0),
            max_age: None,
        },
        ..Default::default()
    };
    assert_eq!(db.prune(&r, 0, 10).unwrap(), 4);
    assert_eq!(ahead(&db, 8_500), named(&[("#b", 9_001), ("#c", 8_600)]));
    // A forgotten topic past the clock cannot be named: every topic waits for the latest.
    db.conn
        .execute("INSERT OR REPLACE INTO forgotten VALUES (7, 9500)", [])
        .unwrap();
    assert_eq!(ahead(&db, 8_500), None);
    assert_eq!(ahead(&db, 9_501), named(&[]));
}

#[test]
fn out_of_range_values_are_refused() {
    let dir = TempDir::new("range");
    let mut db = fresh(&dir);
    let err = db
        .insert(&[rec(1, "#a", 1, "ok"), rec(u64::MAX, "#a", 2, "bad")])
        .unwrap_err();
    assert!(matches!(err, StoreError::Io(m) if m.contains("out of")));
    // Nothing of the failed batch was kept.
    assert_eq!(db.count().unwrap(), 0);
    assert_eq!(db.query(&query(topic("#a"))).unwrap(), Page::default());
}

#[test]
fn migrations_and_versions() {
    let dir = TempDir::new("migrate");
    let db = fresh(&dir);
    assert_eq!(db.user_version().unwrap(), SCHEMA_VERSION);
    let mode: String = db.conn.pragma_query_one(None, "journal_mode").unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = db.conn.pragma_query_one(None, "synchronous").unwrap();
    assert_eq!(sync, 2);
    let reader = Db::open_reader(&dir.db()).unwrap();
    let err = reader.conn.execute("DELETE FROM events", []).unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
    drop((db, reader));
    // Reopening applies nothing twice.
    assert_eq!(fresh(&dir).user_version().unwrap(), SCHEMA_VERSION);

    // A file of version 1 (history only, from the first release) gains the accounts table.
    let old = TempDir::new("migrate-v1");
    version_1_store(&old);
    let db = Db::open(&old.db()).unwrap();
    assert_eq!(db.user_version().unwrap(), SCHEMA_VERSION);
    assert!(db.add_account("a@x", "h", 1, 1).unwrap());
    let kept: i64 = db
        .conn
        .query_row("SELECT count(*) FROM topics", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 1, "migrating keeps what was there");
    let index: String = db
        .conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'events_by_id'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        index.contains("pos >> 16"),
        "version 4 buckets the id index: {index}"
    );

    // A file of version 5 indexed bodies whole: version 6 indexes them again, spaced.
    let v5 = TempDir::new("migrate-v5");
    let db = indexed_as_before(&v5, "thanks🙂", 5);
    assert_eq!(fts_hits(&db, "body : thanks"), 0, "as version 5 indexed it");
    drop(db);
    // `scalard account` leaves the upgrade to the server, which may be running, older.
    assert!(matches!(Db::open_as_is(&v5.db()), Err(StoreError::TooOld(5))));
    let new = TempDir::new("as-is");
    assert_eq!(
        Db::open_as_is(&new.db()).unwrap().user_version().unwrap(),
        SCHEMA_VERSION
    );
    let db = fresh(&v5);
    assert_eq!(db.user_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(positions(&db.query(&search(topic("#a"), "thanks")).unwrap()), [1]);
    assert_eq!(fts_hits(&db, "thanks"), 1, "indexed once");
    // An account older than version 8 reads all its direct messages, as it did.
    let old = db.accounts().unwrap();
    assert_eq!(
        old.iter().map(|a| (&*a.name, a.from_pos)).collect::<Vec<_>>(),
        [("old@x", 0)]
    );

    // A file of version 6 kept the accents of non-Latin letters: version 7 indexes it again.
    reindexed_on_upgrade(6, "καλημέρα", "καλημερα", "καλημερα");
    // A file of version 11 took a run of Japanese for one word: version 12 spaces it out.
    reindexed_on_upgrade(11, "日本語もテストします。", "テスト", "\"テ ス ト\"");
    // A file of version 12 took a decomposed kana for its base: version 13 composes it.
    reindexed_on_upgrade(12, "か\u{3099}", "が", "が");
    // A file of version 13 kept Hangul typed as jamo apart from its syllables: version 14
    // composes it.
    reindexed_on_upgrade(13, "\u{1112}\u{1161}\u{11ab}", "한", "한");
    // A file of version 14 took a Korean phrase for one word: version 15 spaces it out.
    reindexed_on_upgrade(14, "서울에서", "서울", "\"서 울\"");
    // A file of version 17 parted words at Arabic's vowel marks: version 18 takes them off,
    // in an index made anew whose tokenizer keeps other marks in their words.
    reindexed_on_upgrade(17, "كَتَبَ", "كتب", "كتب");

    // A file of version 15 kept the rows of conversations retention emptied: version 16
    // deletes them.
    let v15 = TempDir::new("migrate-v15");
    let mut db = fresh(&v15);
    db.insert(&[
        dm(1, "alice", "bob", 3000, "hi"),
        dm(2, "carol", "bob", 4000, "yo"),
        rec(3, "#x", 5000, "gone"),
    ])
    .unwrap();
    db.conn
        .execute_batch(
            "DELETE FROM events WHERE pos IN (1, 3);
             UPDATE topics SET count = 0 WHERE name = '#x';
             UPDATE topics SET count = 1 WHERE name = 'bob';",
        )
        .unwrap();
    undo_to(&db, 15);
    db.conn.pragma_update(None, "user_version", 15).unwrap();
    drop(db);
    let db = fresh(&v15);
    assert_eq!(db.user_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(rows(&db, "threads"), 1);
    let p = db
        .query(&query(Scope::Thread(thread_of("bob", "carol"))))
        .unwrap();
    assert_eq!(positions(&p), [2]);
    assert_eq!(emptied(&db), 1, "#x, counted");

    // A file of version 16 that forgot topics cannot tell which: every bucket gets its horizon.
    // One that forgot none starts with none.
    for (was, now) in [(7000, Some(7000)), (0, None)] {
        let v16 = TempDir::new(&format!("migrate-v16-{was}"));
        let db = fresh(&v16);
        undo_to(&db, 16);
        db.conn.execute("UPDATE meta SET forgotten = ?1", [was]).unwrap();
        db.conn.pragma_update(None, "user_version", 16).unwrap();
        drop(db);
        let mut db = fresh(&v16);
        assert_eq!(db.user_version().unwrap(), SCHEMA_VERSION);
        let buckets = if was > 0 { forgotten::BUCKETS } else { 0 };
        assert_eq!(rows(&db, "forgotten"), i64::from(buckets));
        assert_eq!(db.query(&query(topic("#any"))).unwrap().horizon, now);
        db.insert(&[rec(1, "#any", 8000, "x")]).unwrap();
        assert_eq!(db.query(&query(topic("#any"))).unwrap().horizon, now);
    }

    let raw = Connection::open(dir.db()).unwrap();
    raw.pragma_update(None, "user_version", 99).unwrap();
    drop(raw);
    assert!(matches!(Db::open(&dir.db()), Err(StoreError::TooNew(99))));
    assert!(matches!(Db::open_reader(&dir.db()), Err(StoreError::TooNew(99))));

    // Another program's database: left as it was, not given scalard's tables.
    let other = TempDir::new("migrate-other");
    let raw = Connection::open(other.db()).unwrap();
    raw.execute_batch("CREATE TABLE foo(x); INSERT INTO foo VALUES (1);")
        .unwrap();
    drop(raw);
    assert!(matches!(Db::open(&other.db()), Err(StoreError::NotOurs)));
    let raw = Connection::open(other.db()).unwrap();
    let tables: i64 = raw
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1, "only its own table");
}

/// A store of `version` holding `body`, indexed as before version 6, where the FTS5 query
/// `indexed` (the body's words as this version indexes them) finds nothing; upgraded, a Search
/// for `query` finds the body, which is indexed once.
fn reindexed_on_upgrade(version: u32, body: &str, query: &str, indexed: &str) {
    let dir = TempDir::new(&format!("migrate-v{version}"));
    let db = indexed_as_before(&dir, body, version);
    let before = fts_hits(&db, &format!("body : {indexed}"));
    assert_eq!(before, 0, "as version {version} indexed {body:?}");
    drop(db);
    let db = fresh(&dir);
    assert_eq!(db.user_version().unwrap(), SCHEMA_VERSION);
    let found = positions(&db.query(&search(topic("#a"), query)).unwrap());
    assert_eq!(found, [1], "{query:?} after the upgrade from {version}");
    assert_eq!(fts_hits(&db, indexed), 1, "{body:?} indexed once");
}

/// A backup and a restore of a store of an older schema say what it holds, as of a current
/// one (found in a walk-through: only its schema version was said): version 5's, with an
/// account, and version 1's, from before accounts.
#[test]
fn an_older_stores_backup_and_restore_say_what_it_holds() {
    let older = ", older than this scalard's, which upgrades it when it starts on it)";
    let v5 = TempDir::new("older-backup");
    drop(indexed_as_before(&v5, "hi", 5));
    let out = TempDir::new("older-backup-out");
    let file = out.0.join("b.db");
    let said = crate::store::backup::backup(&v5.0, "history.db", &file, 0).unwrap();
    assert!(
        said.contains(&format!("1 messages, 1 accounts (schema version 5{older}")),
        "{said}"
    );
    let v1 = TempDir::new("older-restore");
    version_1_store(&v1);
    let into = TempDir::new("older-restore-into");
    let said = crate::store::restore::restore(&into.0, "scalard.db", &v1.db(), 0).unwrap();
    assert!(
        said.contains(&format!("1 messages, 0 accounts (schema version 1{older}")),
        "{said}"
    );
}

/// A store in `dir` as the first release made it (schema version 1: history only), holding
/// one Event in `#kept@x`.
fn version_1_store(dir: &TempDir) {
    let raw = Connection::open(dir.db()).unwrap();
    raw.execute_batch(SCHEMA_V1).unwrap();
    raw.pragma_update(None, "user_version", 1).unwrap();
    raw.execute_batch(
        "INSERT INTO topics (name, count) VALUES ('#kept@x', 1);
         INSERT INTO events (pos, topic, time, sender, id, body) VALUES (1, 1, 5, 'a@x', x'00', 'hi');",
    )
    .unwrap();
}

/// A store in `dir` holding one Event with `body` in `#a`, its text index made as versions
/// before 6 made it (bodies whole, as the tokenizer alone took them), marked `version`.
fn indexed_as_before(dir: &TempDir, body: &str, version: u32) -> Db {
    let mut db = fresh(dir);
    db.insert(&[rec(1, "#a", 101, body)]).unwrap();
    undo_to(&db, version);
    db.conn
        .execute_batch(
            "INSERT INTO events_fts (events_fts) VALUES ('delete-all');
             INSERT INTO events_fts (rowid, body, scope)
                 SELECT pos, body, 't' || topic FROM events;",
        )
        .unwrap();
    if version < 10 {
        db.conn.execute_batch("DROP TRIGGER account_password;").unwrap();
    }
    if version < 9 {
        db.conn
            .execute_batch("ALTER TABLE events DROP COLUMN life;")
            .unwrap();
    }
    if version < 8 {
        // And an account as versions before 8 kept it.
        db.conn
            .execute_batch(
                "ALTER TABLE accounts DROP COLUMN from_pos;
                 INSERT INTO accounts (name, hash, created) VALUES ('old@x', 'h', 1);",
            )
            .unwrap();
    }
    db.conn.pragma_update(None, "user_version", version).unwrap();
    db
}

#[test]
fn bad_paths_fail_clearly() {
    let dir = TempDir::new("badpath");
    let file = dir.0.join("plain");
    std::fs::write(&file, b"not a directory").unwrap();
    let Err(StoreError::Io(m)) = Db::open(&file.join("history.db")) else {
        panic!("opened under a file")
    };
    assert!(m.contains("plain") && m.contains("not a directory"), "{m}");
    let Err(StoreError::Io(m)) = Db::open(&dir.0.join("missing/history.db")) else {
        panic!("opened")
    };
    assert!(m.contains("missing"), "{m}");
    // A directory where the file should be.
    let Err(StoreError::Io(m)) = Db::open(&dir.0) else {
        panic!("opened a directory")
    };
    assert!(m.contains(&*dir.0.to_string_lossy()), "{m}");
    // Not a database.
    let Err(StoreError::Io(m)) = Db::open(&file) else {
        panic!("opened a text file")
    };
    assert!(m.contains("plain") && m.contains("not a database"), "{m}");
    // The reader does not create a file.
    assert!(Db::open_reader(&dir.0.join("none.db")).is_err());
    assert!(!dir.0.join("none.db").exists());
}

/// The query plans of the page queries: no full scans, no sorting.
#[test]
fn plans_use_indexes() {
    let dir = TempDir::new("plans");
    let mut db = fresh(&dir);
    two_topics(&mut db);
    let plan = |s: Select| -> String {
        let sql = format!("EXPLAIN QUERY PLAN {}", s.sql);
        let mut stmt = db.conn.prepare(&sql).unwrap();
        let rows = stmt
            .query_map(params_from_iter(s.args.iter()), |r| r.get::<_, String>(3))
            .unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join("; ")
    };
    let fts = || Some("\"x\"".to_string());
    for (s, want) in [
        (
            select(
                &Scoped::Topic(1),
                None,
                (0, i64::MAX),
                (None, None),
                None,
                false,
                10,
            ),
            "events_by_topic",
        ),
        (
            select(
                &Scoped::Topic(1),
                None,
                (5, 9),
                (Some(1), Some(5)),
                Some(4),
                true,
                10,
            ),
            "events_by_topic",
        ),
        (
            select(&Scoped::Thread(1), None, (5, 90), (None, None), None, false, 10),
            "events_by_thread",
        ),
        (
            select(
                &Scoped::Topic(1),
                fts(),
                (0, i64::MAX),
                (None, None),
                Some(4),
                false,
                10,
            ),
            "events_fts VIRTUAL TABLE",
        ),
        (
            select(&Scoped::Thread(1), fts(), (3, 7), (None, Some(9)), None, true, 10),
            "events_fts VIRTUAL TABLE",
        ),
    ] {
        let p = plan(s);
        assert!(p.contains(want), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "{p}");
        assert!(
            !p.split("; ")
                .any(|step| step == "SCAN e" || step.starts_with("SCAN e ")),
            "{p}"
        );
        assert!(
            p.starts_with(if want.starts_with("events_fts") {
                "SCAN events_fts"
            } else {
                "SEARCH e"
            }),
            "{p}"
        );
    }
}

#[test]
fn newest_is_bounded_in_count_and_bytes() {
    let dir = TempDir::new("newest");
    let mut db = fresh(&dir);
    let big = "x".repeat(1000);
    let recs: Vec<Record> = (1..=10).map(|i| rec(i, "#a", 100 + i, &big)).collect();
    db.insert(&recs).unwrap();
    let pos = |v: Vec<Record>| v.iter().map(|r| r.pos).collect::<Vec<_>>();
    assert_eq!(pos(db.newest(3, usize::MAX).unwrap()), [8, 9, 10]);
    let w = recs[0].weight();
    assert_eq!(pos(db.newest(100, 2 * w + 1).unwrap()), [9, 10]);
    assert!(db.newest(100, 0).unwrap().is_empty());
}

/// Opening a store that is set up writes nothing, so a server whose disk filled up can still
/// start and answer reads; the text index's setting is kept across opens.
#[test]
fn reopening_writes_nothing() {
    let dir = TempDir::new("reopen");
    let mut db = Db::open(&dir.db()).unwrap();
    db.insert(&[rec(1, "#a", 1, "hello")]).unwrap();
    drop(db);
    let db = Db::open(&dir.db()).unwrap();
    assert_eq!(db.conn.total_changes(), 0);
    let automerge: i64 = db
        .conn
        .query_row("SELECT v FROM events_fts_config WHERE k = 'automerge'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(automerge, 0);
}

/// A store of `n` Events in "#a", alternately "alpha" and "beta" (never both), and a reader on
/// it whose queries may run `budget`.
fn bounded(dir: &TempDir, n: u64, budget: Duration) -> Db {
    let mut db = fresh(dir);
    let recs: Vec<Record> = (1..=n)
        .map(|i| rec(i, "#a", 1000 + i, if i % 2 == 0 { "alpha" } else { "beta" }))
        .collect();
    db.insert(&recs).unwrap();
    let mut reader = Db::open_reader(&dir.db()).unwrap();
    reader.bound_queries(budget).unwrap();
    reader
}

#[test]
fn a_query_out_of_time_keeps_the_page_it_began() {
    let dir = TempDir::new("bounded-page");
    // With no time at all, SQLite's first look at the clock (after 1000 steps) stops the
    // query: a few dozen rows in.
    let mut reader = bounded(&dir, 300, Duration::ZERO);
    let latest = |db: &Db| {
        db.query(&Query {
            count: 200,
            ..query(topic("#a"))
        })
        .unwrap()
    };
    let cut = latest(&reader);
    let n = cut.events.len() as u64;
    assert!(n > 0 && n < 200, "{n} Events");
    // The newest n, in order: the page's beginning, which the next page goes on from.
    assert_eq!(positions(&cut), (301 - n..=300).collect::<Vec<_>>());
    assert!(cut.more && cut.cut);
    let found = reader
        .query(&Query {
            count: 100,
            ..search(topic("#a"), "alpha")
        })
        .unwrap();
    assert!(!found.events.is_empty() && found.events.len() < 100 && found.more);
    assert!(found.events.iter().all(|e| e.pos % 2 == 0));

    // Given time, the same reader answers in full: the bound is per query.
    reader.bound_queries(Duration::from_secs(60)).unwrap();
    let whole = latest(&reader);
    assert_eq!(positions(&whole), (101..=300).collect::<Vec<_>>());
    assert!(whole.more && !whole.cut);
}

#[test]
fn a_query_out_of_time_with_nothing_found_is_too_slow() {
    let dir = TempDir::new("bounded-none");
    let mut db = fresh(&dir);
    // A conversation whose one Event after time 600 is its newest, bob's. alice's 500 before
    // it have earlier times, but bob's time bound lets the read start after his older Event
    // at position 1, so a read `since` 600 walks all of alice's before it finds his.
    let mut recs = vec![dm(1, "bob", "alice", 10, "hi")];
    recs.extend((2..=501).map(|i| dm(i, "alice", "bob", i, "hello")));
    recs.push(dm(502, "bob", "alice", 700, "bye"));
    db.insert(&recs).unwrap();
    let mut reader = Db::open_reader(&dir.db()).unwrap();
    let q = Query {
        since: Some(600),
        ..query(Scope::Thread(thread_of("alice", "bob")))
    };
    reader.bound_queries(Duration::ZERO).unwrap();
    assert!(matches!(reader.query(&q), Err(StoreError::TooSlow)));
    // Given time, the same connection finds it.
    reader.bound_queries(Duration::from_secs(60)).unwrap();
    assert_eq!(positions(&reader.query(&q).unwrap()), [502]);
}

#[test]
fn an_anchor_looked_for_out_of_time_is_too_slow_not_unknown() {
    let dir = TempDir::new("bounded-anchor");
    let mut db = fresh(&dir);
    // One Event in each of 600 id buckets: an unknown id is looked for in every one of them.
    let recs: Vec<Record> = (1..=600u64)
        .map(|i| rec(i << ID_BUCKET_BITS, "#a", i, "x"))
        .collect();
    db.insert(&recs).unwrap();
    let mut reader = Db::open_reader(&dir.db()).unwrap();
    let q = Query {
        before: Some(MsgId([9; 32])),
        ..query(topic("#a"))
    };
    reader.bound_queries(Duration::ZERO).unwrap();
    assert!(matches!(reader.query(&q), Err(StoreError::TooSlow)));
    reader.bound_queries(Duration::from_secs(60)).unwrap();
    assert!(reader.query(&q).unwrap().unknown_anchor);
}

#[test]
fn a_search_is_stopped_inside_the_text_index() {
    let dir = TempDir::new("bounded-fts");
    let mut db = fresh(&dir);
    // Two long lists in the text index that never meet: FTS5 walks both in its own reads of the
    // index, which count as the query's steps, before any row could come out.
    let (a, b) = (["alpha"; 200].join(" "), ["beta"; 200].join(" "));
    // 8,000 Events: 4,000 are enough here, 2,000 are not.
    let recs: Vec<Record> = (1..=8000)
        .map(|i| rec(i, "#a", 1000 + i, if i % 2 == 0 { &a } else { &b }))
        .collect();
    for batch in recs.chunks(2000) {
        db.insert(batch).unwrap();
    }
    let mut reader = Db::open_reader(&dir.db()).unwrap();
    let q = search(topic("#a"), "alpha beta");
    reader.bound_queries(Duration::ZERO).unwrap();
    assert!(matches!(reader.query(&q), Err(StoreError::TooSlow)));
    reader.bound_queries(Duration::from_secs(60)).unwrap();
    assert!(reader.query(&q).unwrap().events.is_empty());
    assert_eq!(
        reader.query(&search(topic("#a"), "alpha")).unwrap().events.len(),
        100
    );
}

/// An account's direct messages start with the account: what was sent to the name before it
/// was registered (to a guest, or to a deleted account of that name) is not its holder's.
#[test]
fn an_account_reads_its_direct_messages_from_its_creation_on() {
    let dir = TempDir::new("account-floor");
    let mut db = fresh(&dir);
    let old = dm(1, "alice", "bob", 10, "to whoever was bob");
    db.insert(&[
        old.clone(),
        dm(2, "alice", "bob", 19, "to whoever was bob, just before"),
        dm(3, "bob", "alice", 15, "from whoever was bob"),
        dm(4, "alice", "bob", 20, "to the account"),
        dm(5, "bob", "alice", 30, "from the account"),
    ])
    .unwrap();
    // Made between positions 3 and 4 (at time 20: a busy topic's times may run ahead).
    assert!(db.add_account("bob", "h", 20, 4).unwrap());
    let mine = |q: Query| Query {
        reader: Some(Reader::Account("bob".into(), UNSTARTED)),
        ..q
    };
    let inbox = db.query(&mine(query(topic("bob")))).unwrap();
    assert_eq!((positions(&inbox), inbox.horizon), (vec![4], Some(19)));
    let talk = db
        .query(&mine(query(Scope::Thread(thread_of("alice", "bob")))))
        .unwrap();
    assert_eq!((positions(&talk), talk.horizon), (vec![4, 5], Some(19)));
    let found = db.query(&mine(search(topic("bob"), "whoever"))).unwrap();
    assert!(found.events.is_empty());
    let anyone = db.query(&search(topic("bob"), "whoever")).unwrap();
    assert_eq!(positions(&anyone), [1, 2]);
    // An id from before is unknown to it, as if retention had deleted it; so is a time.
    let after_old = db
        .query(&mine(Query {
            after: Some(old.id),
            ..query(topic("bob"))
        }))
        .unwrap();
    assert!(after_old.unknown_anchor && after_old.events.is_empty());
    let since_old = db
        .query(&mine(Query {
            since: Some(5),
            ..query(topic("bob"))
        }))
        .unwrap();
    assert_eq!(positions(&since_old), [4]);
    // Without the account's word (a guest using the name) the store answers as before.
    assert_eq!(positions(&db.query(&query(topic("bob"))).unwrap()), [1, 2, 4]);
    // A session that took the name without a proof at position 4 reads from there, and is
    // not told when the earlier holders last got anything.
    let taken = db
        .query(&Query {
            reader: Some(Reader::Since(4)),
            ..query(topic("bob"))
        })
        .unwrap();
    assert_eq!((positions(&taken), taken.horizon), (vec![4], None));
    // A limit that hides nothing is not mentioned.
    assert!(db.add_account("alice", "h", 5, 1).unwrap());
    let hers = db
        .query(&Query {
            reader: Some(Reader::Account("alice".into(), UNSTARTED)),
            ..query(topic("alice"))
        })
        .unwrap();
    assert_eq!((positions(&hers), hers.horizon), (vec![3, 5], None));
    // Once the account is deleted, a session still logged in to it reads nothing, up to the
    // newest Event, and knows no id.
    assert!(db.delete_account("bob").unwrap());
    let gone = db.query(&mine(query(topic("bob")))).unwrap();
    assert_eq!((positions(&gone), gone.horizon), (vec![], Some(20)));
    let gone = db
        .query(&mine(Query {
            before: Some(old.id),
            ..query(topic("bob"))
        }))
        .unwrap();
    assert!(gone.unknown_anchor);
}

/// A busy topic's times run ahead of the clock, so an account's floor is a position: what was
/// stored before the account, however it is stamped, is not its holder's.
#[test]
fn an_account_s_floor_is_a_position_not_a_time() {
    let dir = TempDir::new("account-floor-order");
    let mut db = fresh(&dir);
    db.insert(&[
        dm(1, "carol", "dave", 25, "stamped ahead, before dave's account"),
        dm(2, "dave", "carol", 18, "before dave's account"),
        dm(3, "carol", "dave", 26, "to the account"),
    ])
    .unwrap();
    assert!(db.add_account("dave", "h", 20, 3).unwrap());
    let mine = |scope| Query {
        reader: Some(Reader::Account("dave".into(), UNSTARTED)),
        ..query(scope)
    };
    let talk = db
        .query(&mine(Scope::Thread(thread_of("carol", "dave"))))
        .unwrap();
    // The horizon is the newest hidden Event's time, of either topic.
    assert_eq!((positions(&talk), talk.horizon), (vec![3], Some(25)));
    let inbox = db.query(&mine(topic("dave"))).unwrap();
    assert_eq!((positions(&inbox), inbox.horizon), (vec![3], Some(25)));
}

/// An account the server has placed but the store not yet heard of (still unstarted) reads
/// from the start the server gives with the query; once the store has one, the store's.
#[test]
fn an_unstarted_account_reads_from_the_start_the_server_placed() {
    let dir = TempDir::new("account-placed");
    let mut db = fresh(&dir);
    db.insert(&[
        dm(1, "carol", "erin", 10, "before"),
        dm(2, "carol", "erin", 11, "after"),
    ])
    .unwrap();
    assert!(db.add_account("erin", "h", 20, UNSTARTED).unwrap());
    let read = |db: &Db, placed| {
        let q = Query {
            reader: Some(Reader::Account("erin".into(), placed)),
            ..query(topic("erin"))
        };
        positions(&db.query(&q).unwrap())
    };
    assert_eq!(read(&db, UNSTARTED), Vec::<u64>::new());
    assert_eq!(read(&db, 2), vec![2]);
    assert!(db.start_account("erin", 20, 1).unwrap());
    assert_eq!(
        read(&db, 2),
        vec![1, 2],
        "the store's start counts once it has one"
    );
}

/// Events said while a channel was closed are read only in their life: pages, searches and
/// anchors all leave the other lives' out; the rest is everyone's.
#[test]
fn a_closed_life_s_events_are_read_only_in_that_life() {
    let dir = TempDir::new("lives");
    let mut db = fresh(&dir);
    let tagged = |pos, life, body: &str| {
        let mut r = rec(pos, "#a", 1000 + pos, body);
        r.life = life;
        r
    };
    let recs = vec![
        tagged(1, None, "public word"),
        tagged(2, Some(2), "secret word"),
        tagged(3, Some(2), "secret again"),
        tagged(4, None, "public again"),
        tagged(5, Some(5), "later secret word"),
    ];
    db.insert(&recs).unwrap();
    let in_life = |life, q: Query| page(&db, Query { life, ..q }).0;
    assert_eq!(in_life(None, query(topic("#a"))), [1, 4]);
    assert_eq!(in_life(Some(2), query(topic("#a"))), [1, 2, 3, 4]);
    assert_eq!(in_life(Some(5), query(topic("#a"))), [1, 4, 5]);
    assert_eq!(in_life(None, search(topic("#a"), "word")), [1]);
    assert_eq!(in_life(Some(5), search(topic("#a"), "word")), [1, 5]);
    // Another life's Event is no anchor: as if it were not there.
    let after = |life| {
        db.query(&Query {
            after: Some(recs[1].id),
            life,
            ..query(topic("#a"))
        })
        .unwrap()
    };
    assert!(after(None).unknown_anchor);
    assert!(after(Some(5)).unknown_anchor);
    assert_eq!(positions(&after(Some(2))), [3, 4]);
    // The tag comes back with the Event, for the ring at the next start.
    let newest = db.newest(10, usize::MAX).unwrap();
    assert_eq!(
        newest.iter().map(|r| r.life).collect::<Vec<_>>(),
        [None, Some(2), Some(2), None, Some(5)]
    );
    assert_eq!(newest, recs);
}

/// Found by QA: `scalard.db` deleted (or moved) without its `-wal`: the next start made a new
/// store, and SQLite applied the old log to it, a damaged mix of the two, without a word.
#[test]
fn a_write_ahead_log_without_its_file_is_refused_not_applied_to_a_new_store() {
    let dir = TempDir::new("orphan-log");
    let mut db = Db::open(&dir.db()).unwrap();
    db.insert(&[rec(1, "#a", 1, "kept in the log")]).unwrap();
    let wal = dir.0.join("history.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    // A copy of the live files, as a crash would leave them; then the database file goes.
    let aside = TempDir::new("orphan-log-aside");
    for name in ["history.db", "history.db-wal"] {
        std::fs::copy(dir.0.join(name), aside.0.join(name)).unwrap();
    }
    drop(db);
    std::fs::remove_file(aside.0.join("history.db")).unwrap();
    assert!(matches!(Db::open(&aside.db()), Err(StoreError::OrphanLog)));
    assert!(std::fs::metadata(aside.db()).is_err(), "no store made");
    std::fs::remove_file(aside.0.join("history.db-wal")).unwrap();
    assert!(Db::open(&aside.db()).is_ok(), "without the log, a new store");
}

#[test]
fn an_empty_file_is_refused_not_taken_for_a_new_store() {
    let dir = TempDir::new("empty-file");
    std::fs::write(dir.db(), b"").unwrap();
    assert!(matches!(Db::open(&dir.db()), Err(StoreError::Empty)));
    assert_eq!(std::fs::metadata(dir.db()).unwrap().len(), 0, "left as it was");
    std::fs::remove_file(dir.db()).unwrap();
    assert!(Db::open(&dir.db()).is_ok(), "no file at all is a new store");
}

#[test]
fn a_new_store_is_made_whole_under_another_name_then_put_in_place() {
    let dir = TempDir::new("new-store");
    let beside = |suffix: &str| dir.0.join(format!("history.db{suffix}"));
    // What a creator that died half way left (no process has that pid): thrown away.
    std::fs::write(beside(".new-4000000000-0"), b"").unwrap();
    std::fs::write(beside(".new-4000000000-0-wal"), b"junk").unwrap();
    // And a log whose file went already.
    std::fs::write(beside(".new-4000000001-3-shm"), b"junk").unwrap();
    // A running creator's (this process's, for the test) is left alone.
    let running = format!(".new-{}-999", std::process::id());
    std::fs::write(beside(&running), b"").unwrap();
    drop(Db::open(&dir.db()).unwrap());
    assert!(std::fs::metadata(dir.db()).unwrap().len() > 0);
    let left: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".new"))
        .collect();
    assert_eq!(left, [format!("history.db{running}")]);
    // And it is a store of this version, opened again as it is.
    assert!(Db::open_as_is(&dir.db()).is_ok());
}

#[test]
fn creators_at_once_all_open_the_one_store() {
    for round in 0..20 {
        let dir = TempDir::new(&format!("creators-{round}"));
        let path = dir.db();
        let opened: Vec<bool> = std::thread::scope(|s| {
            let tries: Vec<_> = (0..4).map(|_| s.spawn(|| Db::open(&path).is_ok())).collect();
            tries.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(opened, [true; 4], "round {round}");
        let names = std::fs::read_dir(&dir.0).unwrap().count();
        assert!(names <= 3, "only the store and its log files are left: {names}");
    }
}

#[test]
fn the_probe_writes_and_leaves_nothing() {
    let dir = TempDir::new("probe");
    let mut db = Db::open(&dir.db()).unwrap();
    db.probe().unwrap();
    assert!(db.state().unwrap().is_empty());
    // It is a real write: it needs the lock another connection holds.
    let mut other = rusqlite::Connection::open(dir.db()).unwrap();
    let lock = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    db.conn
        .busy_timeout(std::time::Duration::from_millis(50))
        .unwrap();
    assert!(db.probe().is_err());
    lock.rollback().unwrap();
    db.probe().unwrap();
}

/// A retention step waits, as every other write does, for the write lock another connection
/// holds for a moment (the accounts' thread saving a registration, a read marker): it takes
/// the lock before it reads. Begun as a read that then writes, it failed at once with
/// "database is locked" whenever that lock was held, which SQLite does not wait for (a reader
/// may not queue for the write lock). Found by a soak of registrations and logins beside
/// retention (helper 278): `store: prune: delete text: database is locked` every few minutes.
#[test]
fn a_retention_step_waits_for_a_write_lock_held_for_a_moment() {
    let (dir, mut db) = filled("prune-waits", 5);
    let r = Retention {
        default: Rule {
            max_events: Some(1),
            max_age: None,
        },
        ..Retention::default()
    };
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let path = dir.db();
    let holder = std::thread::spawn(move || {
        let mut other = rusqlite::Connection::open(path).unwrap();
        let lock = other
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        locked_tx.send(()).unwrap();
        // Well inside the busy timeout (200 ms in tests).
        std::thread::sleep(std::time::Duration::from_millis(50));
        lock.rollback().unwrap();
    });
    locked.recv().unwrap();
    assert_eq!(db.prune(&r, 0, 100).unwrap(), 4);
    holder.join().unwrap();
    assert_eq!(topic_row(&db, "#a").0, 1, "one Event left");
}

/// The record of an operator's delete of `of`, at `pos` in `topic`.
fn delete_record(pos: u64, topic: &str, of: &Record) -> Record {
    let text = format!("delete {} spam", of.id);
    let text: &'static str = Box::leak(text.into_boxed_str());
    Record::new(Fields {
        ctype: Some(crate::server::MOD_CTYPE),
        id: MsgId::compute(
            "alice",
            topic,
            900 + pos,
            Body::Text(text),
            Some(crate::server::MOD_CTYPE),
            None,
        ),
        ..fields(pos, topic, 900 + pos, text)
    })
}

/// A text Event from `from`.
fn said(pos: u64, topic: &'static str, from: &'static str, time: u64, text: &'static str) -> Record {
    Record::new(Fields {
        from,
        id: MsgId::compute(from, topic, time, Body::Text(text), None, None),
        ..fields(pos, topic, time, text)
    })
}

/// A record of alice's (an operator's change) saying `text`.
fn mod_record(pos: u64, topic: &'static str, time: u64, text: &str) -> Record {
    let text: &'static str = Box::leak(text.to_string().into_boxed_str());
    let ctype = Some(crate::server::MOD_CTYPE);
    Record::new(Fields {
        ctype,
        id: MsgId::compute("alice", topic, time, Body::Text(text), ctype, None),
        ..fields(pos, topic, time, text)
    })
}

/// A purge is carried out with its record, in its transaction: the Messages of matching IDs
/// later than its time leave the topic's pages and search; earlier ones, others', other
/// topics', records, and what comes after the record stay.
#[test]
fn a_purge_record_deletes_the_matching_messages_with_it() {
    let dir = TempDir::new("purge");
    let mut db = fresh(&dir);
    db.insert(&[
        said(1, "#a", "spam1@x", 100, "early spam"),
        said(2, "#a", "spam1@x", 200, "spam spam"),
        said(3, "#a", "bob@x", 201, "spam is bad"),
        said(4, "#a", "spam2@x", 202, "more spam"),
        said(5, "#b", "spam1@x", 203, "spam elsewhere"),
        mod_record(6, "#a", 204, "kick spam1@x"),
        said(7, "#a", "spamx@y", 205, "not of the pattern's domain"),
    ])
    .unwrap();
    // The record, and in its batch a Message after it: that one stays.
    db.insert(&[
        mod_record(8, "#a", 206, "purge spam*@x 150 raid"),
        said(9, "#a", "spam1@x", 207, "spam again"),
    ])
    .unwrap();
    assert_eq!(
        positions(&db.query(&query(topic("#a"))).unwrap()),
        [1, 3, 6, 7, 8, 9]
    );
    assert_eq!(positions(&db.query(&query(topic("#b"))).unwrap()), [5]);
    assert_eq!(
        positions(&db.query(&search(topic("#a"), "spam")).unwrap()),
        [1, 3, 8, 9],
        "the record's own words are searchable, as every record's"
    );
    assert_eq!(topic_row(&db, "#a").0, 6, "the count follows");
    // A record naming no pattern, or no time, deletes nothing.
    db.insert(&[
        mod_record(10, "#a", 208, "purge Bad! 0"),
        mod_record(11, "#a", 209, "purge bob@x"),
    ])
    .unwrap();
    assert_eq!(
        positions(&db.query(&query(topic("#a"))).unwrap()),
        [1, 3, 6, 7, 8, 9, 10, 11]
    );

    // A closed channel's purge deletes in its own life, and the open stretches (found in
    // review: an owner of a later life deleted an earlier one's, which it could never read).
    let in_life = |mut r: Record, life| {
        r.life = life;
        r
    };
    db.insert(&[
        in_life(said(12, "#c", "spam1@x", 300, "open spam"), None),
        in_life(said(13, "#c", "spam1@x", 301, "first life's"), Some(13)),
        in_life(said(14, "#c", "spam1@x", 302, "second life's"), Some(14)),
        in_life(mod_record(15, "#c", 303, "purge spam1@x 0"), Some(14)),
    ])
    .unwrap();
    fn column<T: rusqlite::types::FromSql>(db: &Db, sql: &str, i: usize) -> Vec<T> {
        let mut stmt = db.conn.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get(i)).unwrap();
        rows.map(Result::unwrap).collect()
    }
    let rows: Vec<i64> = column(
        &db,
        "SELECT pos FROM events WHERE topic = (SELECT id FROM topics WHERE name = '#c')",
        0,
    );
    assert_eq!(rows, [13, 15]);
    // The walk is the window's: the index on the topic, backward from the newest, after a
    // look at the oldest (its first row in the same index).
    for walk in [
        "SELECT pos FROM events WHERE topic = 1 AND time <= 5 ORDER BY pos DESC LIMIT 1",
        "SELECT time FROM events WHERE topic = 1 ORDER BY pos LIMIT 1",
    ] {
        let plan: Vec<String> = column(&db, &format!("EXPLAIN QUERY PLAN {walk}"), 3);
        let indexed = plan.iter().any(|p| p.contains("USING INDEX events_by_topic"));
        assert!(
            indexed && !plan.iter().any(|p| p.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }
}

/// An operator's delete is carried out with its record, in its transaction: the Event leaves
/// the topic's pages and its search index; records, other topics' Events and ids the store
/// does not have are left alone.
#[test]
fn a_delete_record_deletes_its_event_with_it() {
    let dir = TempDir::new("delete");
    let mut db = fresh(&dir);
    let (one, two, three) = (
        rec(1, "#a", 101, "first words"),
        rec(2, "#a", 102, "rude words"),
        rec(3, "#a", 103, "last words"),
    );
    let elsewhere = rec(4, "#b", 104, "rude words elsewhere");
    db.insert(&[&one, &two, &three, &elsewhere]).unwrap();
    let ban = Record::new(Fields {
        ctype: Some(crate::server::MOD_CTYPE),
        id: MsgId::compute(
            "alice",
            "#a",
            105,
            Body::Text("ban *@x"),
            Some(crate::server::MOD_CTYPE),
            None,
        ),
        ..fields(5, "#a", 105, "ban *@x")
    });
    db.insert(&[&ban]).unwrap();
    db.insert(&[delete_record(6, "#a", &two)]).unwrap();
    let p = db.query(&query(topic("#a"))).unwrap();
    assert_eq!(positions(&p), [1, 3, 5, 6]);
    assert_eq!(p.horizon, None, "no retention took it");
    assert_eq!(
        positions(&db.query(&search(topic("#a"), "rude")).unwrap()),
        Vec::<u64>::new()
    );
    assert_eq!(fts_hits(&db, "rude"), 1, "#b's, only");
    assert_eq!(db.count().unwrap(), 5);
    assert_eq!(topic_row(&db, "#a"), (4, 0));
    // An anchor on it is unknown now.
    let after = db
        .query(&Query {
            after: Some(two.id),
            ..query(topic("#a"))
        })
        .unwrap();
    assert!(after.unknown_anchor);

    // Not a record, not another topic's Event, not an id the store does not have.
    db.insert(&[
        delete_record(7, "#a", &ban),
        delete_record(8, "#a", &elsewhere),
        delete_record(9, "#a", &rec(99, "#a", 199, "never stored")),
    ])
    .unwrap();
    assert_eq!(
        positions(&db.query(&query(topic("#a"))).unwrap()),
        [1, 3, 5, 6, 7, 8, 9]
    );
    assert_eq!(positions(&db.query(&query(topic("#b"))).unwrap()), [4]);

    // An Event and its delete in one batch: never seen.
    let quick = rec(10, "#a", 110, "quickly regretted");
    db.insert(&[&quick, &delete_record(11, "#a", &quick)]).unwrap();
    assert_eq!(
        positions(&db.query(&search(topic("#a"), "regretted")).unwrap()),
        Vec::<u64>::new()
    );
    let last: Vec<u64> = positions(&db.query(&query(topic("#a"))).unwrap());
    assert_eq!(last.last(), Some(&11));
    assert!(!last.contains(&10));
    // It stays deleted across a restart.
    drop(db);
    let db = fresh(&dir);
    assert!(!positions(&db.query(&query(topic("#a"))).unwrap()).contains(&2));
}
