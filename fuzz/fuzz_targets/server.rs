//! Arbitrary bytes from several connections through the server core: it must never panic, and
//! every frame it sends must decode.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use scalar::proto::{Auth, Msg, Nonce, Status, decode_frame};
use scalar::server::{
    AdminPolicy, AuthConfig, ConnId, Foreign, Limits, Now, Outbox, PasswordCheck, Policy, Server, ServerBan,
    TokenCheck, Verdict, Vouched,
};
use scalar::store::accounts::{Account, Checked};
use scalar::store::{Done, Fsync};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

struct Check {
    /// Password checks handed over, answered when the input says so.
    jobs: Vec<PasswordCheck>,
    /// Token checks, answered likewise.
    tokens: Vec<TokenCheck>,
    /// The last Challenge's nonce sent to each connection.
    nonces: [Option<Nonce>; 4],
    /// With history (some inputs): the newest position handed, and the state saves taken;
    /// both committed at each tick.
    last_pos: u64,
    saves: u64,
}

impl Outbox for Check {
    fn send(&mut self, to: ConnId, frame: &[u8]) {
        match decode_frame(frame) {
            Ok(Status::Complete((Ok(Msg::Challenge(c)), n))) if n == frame.len() => {
                if let Some(slot) = self.nonces.get_mut(to) {
                    *slot = Some(c.nonce);
                }
            }
            Ok(Status::Complete((Ok(_), n))) if n == frame.len() => {}
            other => panic!("server sent a frame that does not decode: {other:?}"),
        }
    }
    fn close(&mut self, _conn: ConnId) {}
    // With history, what is stored is committed at the next tick; queries are never answered
    // (the `history` target plays those).
    fn persist(
        &mut self,
        rec: std::sync::Arc<scalar::store::Record>,
        _save: Option<scalar::store::worker::StateSave>,
    ) -> bool {
        self.last_pos = self.last_pos.max(rec.pos);
        true
    }
    fn query(&mut self, _q: scalar::store::Query) {}
    fn flush_store(&mut self) {}
    fn resume(&mut self, _conn: ConnId) {}
    // A store that is sometimes full: the core must keep the key for later.
    fn save_state(&mut self, key: &str, _value: Option<Vec<u8>>) -> bool {
        let taken = key.len() % 2 == 0;
        self.saves += u64::from(taken);
        taken
    }
    fn verify(&mut self, job: PasswordCheck) -> bool {
        self.jobs.push(job);
        self.jobs.len() <= 4
    }
    fn check_token(&mut self, job: TokenCheck) -> bool {
        self.tokens.push(job);
        self.tokens.len() <= 4
    }
    // No account is placed.
    fn keep_start(&mut self, _start: scalar::store::accounts::AccountStart) -> bool {
        false
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_subs: 4,
        ..Limits::default()
    };
    let mut server = Server::new("example.com", limits);
    let policy = match data.first().map(|b| b % 3) {
        Some(0) => Policy::Open,
        Some(1) => Policy::Guests,
        _ => Policy::Accounts,
    };
    server.set_auth(AuthConfig {
        policy,
        registration: true,
        ..AuthConfig::default()
    });
    let start = Instant::now();
    let mut now = Now {
        mono: start,
        unix_ms: 1_000,
    };
    let mut out = Check {
        jobs: Vec::new(),
        tokens: Vec::new(),
        nonces: [None; 4],
        last_pos: 0,
        saves: 0,
    };
    // Some inputs run with history and `--fsync always`: replies wait for commits and saves.
    let history = data.first().is_some_and(|b| b & 4 != 0);
    if history {
        server.keep_history(&common::small_history(Fsync::Always, 4096), 0, Vec::new());
    }
    server.set_accounts(
        vec![scalar::store::accounts::Account {
            name: "alice@example.com".into(),
            created: 0,
            from_pos: 0,
            password: 1,
        }],
        &mut out,
    );
    server.set_foreign(Foreign::Deny(Default::default()));
    // Admins and bans: alice (an account) may wall and ban once logged in; mallory is banned.
    let policy = AdminPolicy {
        admins: vec!["alice@example.com".into()],
        bans: ServerBan::parse("mallory@*").into_iter().collect(),
        motd: Some("be nice".into()),
    };
    server.set_policy(policy, &now, &mut out);
    // Each chunk: one control byte (which connection; whether to tick or disconnect), then a
    // frame's worth of bytes taken by its own length prefix.
    let mut rest = data;
    let mut open = [false; 4];
    while let Some((&ctl, tail)) = rest.split_first() {
        let conn = usize::from(ctl & 3);
        if !open[conn] {
            open[conn] = server.accept(conn, IpAddr::V4(Ipv4Addr::LOCALHOST), &now, &mut out);
            // Connections 2 and 3 came over TLS: passwords may cross them.
            if conn >= 2 {
                server.set_secure(conn);
            }
        }
        match ctl >> 6 {
            1 => {
                now.mono += Duration::from_secs(u64::from(ctl & 0x3f));
                now.unix_ms += u64::from(ctl);
                server.tick(&now, &mut out);
                server.wake(&now, &mut out);
                if history {
                    server.store_done(Done::Saved(out.saves), &mut out);
                    server.store_done(Done::Committed(out.last_pos), &mut out);
                }
            }
            2 if ctl & 0x20 != 0 => {
                server.disconnect(conn);
                open[conn] = false;
            }
            3 if ctl & 0x20 != 0 && !out.tokens.is_empty() => {
                let job = out.tokens.remove(0);
                let answer = match ctl & 3 {
                    0 => Vouched::Yes(now.unix_ms + 1000),
                    1 => Vouched::No,
                    _ => Vouched::Unreachable("down".into()),
                };
                server.vouched(job.conn, job.ticket, answer, &now, &mut out);
            }
            3 if !out.jobs.is_empty() => {
                let job = out.jobs.remove(0);
                let verdict = [
                    Verdict::Accepted,
                    Verdict::Rejected,
                    Verdict::Taken,
                    Verdict::Failed,
                ][usize::from(ctl >> 2 & 3)];
                // Sometimes with the account as the store read it, its password one of a few:
                // a change of password (SetPassword) then closes the sessions holding another.
                let account = (ctl & 0x10 != 0).then(|| Account {
                    name: job.user.clone(),
                    created: 0,
                    from_pos: 0,
                    password: u64::from(ctl & 3) + 1,
                });
                let checked = Checked {
                    account,
                    registered: job.register.then(|| job.user.clone()),
                    conn: job.conn,
                    ticket: job.ticket,
                    verdict,
                };
                server.verdict(checked, &now, &mut out);
            }
            _ => {}
        }
        match decode_frame(tail) {
            Ok(Status::Complete((decoded, used))) => {
                // The nonce is random, so no input could carry it: an Auth gets the one its
                // connection was sent, and the password path (and what a login opens) runs.
                let swapped;
                let mut decoded = decoded;
                if let (Ok(Msg::Auth(a)), Some(Some(nonce))) = (&decoded, out.nonces.get(conn)) {
                    swapped = Msg::Auth(Auth { nonce: *nonce, ..*a }).to_frame().ok();
                    if let Some(Ok(Status::Complete((d, _)))) = swapped.as_deref().map(decode_frame) {
                        decoded = d;
                    }
                }
                server.receive(conn, decoded, used, &now, &mut out);
                rest = &tail[used..];
            }
            Ok(Status::Partial) => break,
            Err(e) => {
                server.frame_too_long(conn, e.0, &mut out);
                break;
            }
        }
    }
});
