//! Arbitrary saved state (a damaged or hand-edited store) through the server's restore: it
//! must never panic, and what it cuts to the protocol's bounds and saves back reads back whole:
//! restored again, it is cut no more and saved no more.
#![no_main]

// For its macro; the history this target runs without.
#[path = "common.rs"]
#[macro_use]
#[allow(dead_code)]
mod common;

use libfuzzer_sys::fuzz_target;
use scalar::server::{ConnId, Limits, Now, Outbox, Server};
use scalar::store::Fsync;
use std::time::Instant;

/// The keys the server saves under, one of each kind.
const KEYS: [&str; 10] = [
    "#a@example.com",
    "#b@example.com",
    "!server",
    "!server reasons",
    "!server setters",
    "!motd",
    "!blocks a@example.com",
    "!modes a@example.com",
    "!guest key",
    "!read a@example.com",
];

/// Takes every save; keeps what was saved last under each key.
#[derive(Default)]
struct Saves(Vec<(String, Option<Vec<u8>>)>);

impl Outbox for Saves {
    fn send(&mut self, _to: ConnId, _frame: &[u8]) {}
    fn close(&mut self, _conn: ConnId) {}
    fn persist(
        &mut self,
        _rec: std::sync::Arc<scalar::store::Record>,
        _save: Option<scalar::store::worker::StateSave>,
    ) -> bool {
        true
    }
    fn query(&mut self, _q: scalar::store::Query) {}
    fn flush_store(&mut self) {}
    fn resume(&mut self, _conn: ConnId) {}
    fn save_state(&mut self, key: &str, value: Option<Vec<u8>>) -> bool {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_string(), value));
        true
    }
    refuse_checks!();
}

/// A server restored from `state`, and what its first tick saved.
fn restored(state: Vec<(String, Vec<u8>)>) -> Saves {
    let mut server = Server::new("example.com", Limits::default());
    // Without a store the server saves nothing (`Server::mark`), and the check below held
    // for any restore.
    server.keep_history(&common::small_history(Fsync::Batched, 4096), 0, Vec::new());
    server.restore(state);
    let now = Now {
        mono: Instant::now(),
        unix_ms: 1_000_000,
    };
    let mut saves = Saves::default();
    server.tick(&now, &mut saves);
    saves
}

fuzz_target!(|data: &[u8]| {
    // Values split on 0xff 0xfe, each under the key its first byte picks.
    let mut state = Vec::new();
    let mut rest = data;
    while let Some((&pick, tail)) = rest.split_first() {
        let end = tail
            .windows(2)
            .position(|w| w == [0xff, 0xfe])
            .unwrap_or(tail.len());
        let key = KEYS[usize::from(pick) % KEYS.len()];
        state.push((key.to_string(), tail[..end].to_vec()));
        rest = tail.get(end + 2..).unwrap_or_default();
    }
    // The store as the first start left it: what it saved replaces what was there (a key it
    // saved as nothing is gone), the rest as it was.
    let first = restored(state.clone());
    let mut again: Vec<(String, Vec<u8>)> = state
        .into_iter()
        .filter(|(k, _)| !first.0.iter().any(|(saved, _)| saved == k))
        .collect();
    again.extend(first.0.iter().filter_map(|(k, v)| Some((k.clone(), v.clone()?))));
    let second = restored(again.clone());
    assert!(
        second.0.is_empty(),
        "saved as cut, then cut or changed again: {again:?} -> {:?}",
        second.0
    );
});
