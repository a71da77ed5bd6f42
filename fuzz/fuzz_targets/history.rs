//! The server core with history on, and a store played by the fuzzer: commits, answers,
//! failures and recoveries arrive whenever the input says. Every frame the core sends must
//! decode, and once the store has caught up no connection may be left waiting: a frame the
//! core held back is always taken in the end.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;

use libfuzzer_sys::fuzz_target;
use scalar::proto::{Status, decode_frame};
use scalar::server::{ConnId, Limits, Now, Outbox, Server};
use scalar::store::{Done, Fsync, Page, Query, Record, Scope, StoreError};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNS: usize = 4;

#[derive(Default)]
struct FakeStore {
    written: Vec<Arc<Record>>,
    queries: VecDeque<Query>,
    resumed: Vec<ConnId>,
    /// State saves taken, all committed with the next commit.
    saves: u64,
}

impl Outbox for FakeStore {
    fn send(&mut self, _to: ConnId, frame: &[u8]) {
        match decode_frame(frame) {
            Ok(Status::Complete((Ok(_), n))) if n == frame.len() => {}
            other => panic!("server sent a frame that does not decode: {other:?}"),
        }
    }
    fn close(&mut self, _conn: ConnId) {}
    fn persist(&mut self, rec: Arc<Record>, _save: Option<scalar::store::worker::StateSave>) -> bool {
        if let Some(last) = self.written.last() {
            assert!(rec.pos > last.pos, "positions must increase");
        }
        self.written.push(rec);
        true
    }
    fn query(&mut self, q: Query) {
        self.queries.push_back(q);
    }
    fn flush_store(&mut self) {}
    fn resume(&mut self, conn: ConnId) {
        self.resumed.push(conn);
    }
    // State saves are the store's business; this target checks the Events.
    fn save_state(&mut self, _key: &str, _value: Option<Vec<u8>>) -> bool {
        self.saves += 1;
        true
    }
    // This target has no accounts and admits no other domains: every check is refused.
    refuse_checks!();
}

impl FakeStore {
    /// A plausible page for `q`: the newest `count` records of its topic; for a list of
    /// conversations, the user's first `count` other users after the cursor, each with its
    /// newest record's time.
    fn page(&self, q: &Query) -> Page {
        if let Scope::Conversations(user, after) = &q.scope {
            let mut newest = std::collections::BTreeMap::<&str, u64>::new();
            for r in &self.written {
                let Some((a, b)) = r.thread().and_then(|t| t.split_once(' ')) else {
                    continue;
                };
                let other = if a == &**user {
                    b
                } else if b == &**user {
                    a
                } else {
                    continue;
                };
                if after.as_deref().is_none_or(|c| other > c) {
                    newest.insert(other, r.time);
                }
            }
            let conversations: Vec<(Box<str>, u64)> = (newest.iter())
                .take(q.count)
                .map(|(u, t)| (Box::<str>::from(*u), *t))
                .collect();
            let more = newest.len() > q.count;
            return Page {
                cursor: more.then(|| conversations.last().map(|c| c.0.clone())).flatten(),
                conversations,
                more,
                ..Page::default()
            };
        }
        let events: Vec<Record> = self
            .written
            .iter()
            .filter(|r| match &q.scope {
                Scope::Topic(t) => r.topic() == &**t,
                Scope::Thread(t) => r.thread() == Some(&**t),
                Scope::Conversations(..) => false,
            })
            .rev()
            .take(q.count)
            .map(|r| (**r).clone())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Page {
            events,
            more: q.count == 0,
            unknown_anchor: q.after.is_some() && q.count % 2 == 1,
            horizon: None,
            // A fake store never runs out of time.
            cut: false,
            ..Page::default()
        }
    }
}

struct Rig {
    server: Server,
    store: FakeStore,
    now: Now,
    /// Frames each connection sent that the core has not taken yet, oldest first.
    backlog: [VecDeque<Vec<u8>>; CONNS],
    open: [bool; CONNS],
}

impl Rig {
    /// Hands a connection's backlog to the core as the shell does: in order, none while it
    /// waits, and a frame the core refuses stays at the front.
    fn pump(&mut self, conn: ConnId) {
        while !self.server.waiting(conn) {
            let Some(frame) = self.backlog[conn].pop_front() else {
                return;
            };
            let Ok(Status::Complete((decoded, len))) = decode_frame(&frame) else {
                continue;
            };
            if !self
                .server
                .receive(conn, decoded, len, &self.now, &mut self.store)
            {
                self.backlog[conn].push_front(frame);
                return;
            }
        }
    }

    fn done(&mut self, d: Done) {
        self.server.store_done(d, &mut self.store);
        for conn in std::mem::take(&mut self.store.resumed) {
            self.pump(conn);
        }
    }

    fn commit_all(&mut self) {
        let saves = self.store.saves;
        self.done(Done::Saved(saves));
        if let Some(last) = self.store.written.last().map(|r| r.pos) {
            self.done(Done::Committed(last));
        }
    }

    fn answer_one(&mut self, fail: bool) {
        let Some(q) = self.store.queries.pop_front() else {
            return;
        };
        let result = match fail {
            true => Err(StoreError::Io("fuzz".into())),
            false => Ok(self.store.page(&q)),
        };
        self.done(Done::Answer(q.token, result));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    // The rig pumps a backlog that a flood hold would leave waiting: the flood limits have a
    // fuzz target of their own in `server`.
    let limits = Limits {
        max_subs: 4,
        ..Limits::default().without_flood_limits()
    };
    let mut server = Server::new("example.com", limits);
    let fsync = match mode & 1 {
        0 => Fsync::Batched,
        _ => Fsync::Always,
    };
    let config = common::small_history(fsync, usize::from(mode >> 1) * 512);
    server.keep_history(&config, 0, Vec::new());
    let mut r = Rig {
        server,
        store: FakeStore::default(),
        now: Now {
            mono: Instant::now(),
            unix_ms: 1_000,
        },
        backlog: Default::default(),
        open: [false; CONNS],
    };
    // Each chunk: a control byte (connection, and what the store or clock does), then one
    // frame taken by its own length prefix.
    while let Some((&ctl, tail)) = rest.split_first() {
        let conn = usize::from(ctl & 3);
        if !r.open[conn] {
            r.open[conn] = r
                .server
                .accept(conn, IpAddr::V4(Ipv4Addr::LOCALHOST), &r.now, &mut r.store);
        }
        match ctl >> 4 {
            1 => r.commit_all(),
            2 => r.answer_one(false),
            3 => r.answer_one(true),
            4 => r.done(Done::Failing(StoreError::Io("fuzz".into()))),
            5 => r.done(Done::Recovered),
            6 => {
                r.now.mono += Duration::from_secs(u64::from(ctl & 0xf));
                r.now.unix_ms += u64::from(ctl);
                r.server.tick(&r.now, &mut r.store);
            }
            7 => {
                r.server.disconnect(conn);
                r.open[conn] = false;
                r.backlog[conn].clear();
            }
            _ => {}
        }
        match decode_frame(tail) {
            Ok(Status::Complete((_, used))) => {
                if r.backlog[conn].len() < 64 {
                    r.backlog[conn].push_back(tail[..used].to_vec());
                }
                r.pump(conn);
                rest = &tail[used..];
            }
            Ok(Status::Partial) => break,
            Err(e) => {
                r.server.frame_too_long(conn, e.0, &mut r.store);
                break;
            }
        }
    }
    // The store catches up and works: nobody may be left waiting with frames untaken. A commit
    // lets publishers held for room (or for their echoes) go on and write more, and queries
    // that waited for it go to the store: go on until a round brings nothing new.
    r.done(Done::Recovered);
    for _ in 0..1024 {
        let written = r.store.written.len();
        r.commit_all();
        if !r.store.queries.is_empty() {
            r.answer_one(false);
        } else if r.store.written.len() == written {
            break;
        }
    }
    r.commit_all();
    for conn in 0..CONNS {
        r.pump(conn);
        assert!(
            !r.server.waiting(conn) && r.backlog[conn].is_empty(),
            "connection {conn} still waits with {} frames after the store caught up",
            r.backlog[conn].len()
        );
    }
});
