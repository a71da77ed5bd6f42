//! Arbitrary bytes from several connections through the server core: it must never panic, and
//! every frame it sends must decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scalar::proto::{Status, decode_frame};
use scalar::server::{AuthConfig, ConnId, Limits, Now, Outbox, Policy, Server, Verdict, Verify};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

struct Check {
    /// Password checks handed over, answered when the input says so.
    jobs: Vec<Verify>,
}

impl Outbox for Check {
    fn send(&mut self, _to: ConnId, frame: &[u8]) {
        match decode_frame(frame) {
            Ok(Status::Complete((Ok(_), n))) if n == frame.len() => {}
            other => panic!("server sent a frame that does not decode: {other:?}"),
        }
    }
    fn close(&mut self, _conn: ConnId) {}
    // This target runs the core without history: nothing is stored or queried.
    fn persist(&mut self, _rec: std::sync::Arc<scalar::store::Record>) -> bool {
        true
    }
    fn query(&mut self, _q: scalar::store::Query) {}
    fn flush_store(&mut self) {}
    fn resume(&mut self, _conn: ConnId) {}
    fn verify(&mut self, job: Verify) -> bool {
        self.jobs.push(job);
        self.jobs.len() <= 4
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_subs: 4, ..Limits::default() };
    let mut server = Server::new("example.com", limits);
    let policy = match data.first().map(|b| b % 3) {
        Some(0) => Policy::Open,
        Some(1) => Policy::Guests,
        _ => Policy::Accounts,
    };
    server.set_auth(AuthConfig { policy, registration: true, ..AuthConfig::default() });
    server.set_accounts(["alice@example.com".into()]);
    let start = Instant::now();
    let mut now = Now { mono: start, unix_ms: 1_000 };
    let mut out = Check { jobs: Vec::new() };
    // Each chunk: one control byte (which connection; whether to tick or disconnect), then a
    // frame's worth of bytes taken by its own length prefix.
    let mut rest = data;
    let mut open = [false; 4];
    while let Some((&ctl, tail)) = rest.split_first() {
        let conn = usize::from(ctl & 3);
        if !open[conn] {
            open[conn] = server.accept(conn, IpAddr::V4(Ipv4Addr::LOCALHOST), &now, &mut out);
        }
        match ctl >> 6 {
            1 => {
                now.mono += Duration::from_secs(u64::from(ctl & 0x3f));
                now.unix_ms += u64::from(ctl);
                server.tick(&now, &mut out);
            }
            2 if ctl & 0x20 != 0 => {
                server.disconnect(conn);
                open[conn] = false;
            }
            3 if !out.jobs.is_empty() => {
                let job = out.jobs.remove(0);
                let verdict = [Verdict::Accepted, Verdict::Rejected, Verdict::Taken, Verdict::Failed][usize::from(ctl >> 2 & 3)];
                server.verified(job.conn, job.ticket, verdict, &now, &mut out);
            }
            _ => {}
        }
        match decode_frame(tail) {
            Ok(Status::Complete((decoded, used))) => {
                server.receive(conn, decoded, &now, &mut out);
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
