//! Asking other domains' servers about their users' tokens (docs/PROTOCOL.md §4, Other
//! domains), off the poll loop: a few threads behind a bounded queue, each finding the home
//! server (static table or DNS SRV), connecting with the shared blocking client (TLS unless
//! the table says otherwise), sending Verify and reading Vouch, within a deadline. Answers go
//! back to the loop through its `mio::Waker`.
//!
//! Threads rather than the loop's own sockets: the lookup is blocking DNS anyway, and a home
//! server that is down costs a thread its timeout, not the loop anything. A home that just
//! failed is remembered for a while, so a crowd logging in from a dead domain does not tie
//! up every thread.

use crate::client::Client;
use crate::discovery::Target;
use crate::proto::{Msg, Name, Verify};
use crate::server::{ConnId, TokenCheck, Vouched};
use crate::tls::Tls;
use mio::Waker;
use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Token checks that may wait for a thread; more are refused (`auth_throttled`).
pub const QUEUE: usize = 64;
/// Threads asking home servers at once.
const THREADS: usize = 4;
/// How long one check may take in all: lookup, connect, TLS, Verify, Vouch.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// How long a home server that could not be asked is not asked again.
const DOWN_FOR: Duration = Duration::from_secs(10);

/// Finds the servers of a domain, in the order to try them. Blocking (DNS).
pub type Resolve = dyn Fn(&str) -> Result<Vec<Target>, String> + Send + Sync;

/// The servers to ask about a token of `domain`'s users: the operator's `[servers]` entry as
/// written, else the TLS servers its DNS SRV records name. Never plain TCP found through DNS
/// (an attacker who can answer DNS or sit on the path could then forge a yes), and never an
/// address or `localhost` taken from an ID (a foreign user must not make this server connect
/// wherever it likes). Blocking (DNS).
pub fn home_servers(
    domain: &str,
    servers: &crate::discovery::Overrides,
    resolver: Option<std::net::SocketAddr>,
) -> Result<Vec<Target>, String> {
    if let Some(listed) = servers.get(domain) {
        return Ok(listed.to_vec());
    }
    let lower = domain.to_ascii_lowercase();
    if lower.parse::<std::net::IpAddr>().is_ok() || lower == "localhost" || lower.ends_with(".localhost") {
        return Err(format!(
            "{domain} is not a domain to look up (list it under [servers])"
        ));
    }
    let found = crate::discovery::resolve(domain, servers, resolver).map_err(|e| e.to_string())?;
    let tls: Vec<Target> = found.into_iter().filter(|t| t.tls).collect();
    if tls.is_empty() {
        return Err(format!("{domain} has no TLS server (_scalars._tcp)"));
    }
    Ok(tls)
}

/// One answer for the loop.
#[derive(Debug)]
pub struct Answer {
    /// The connection that asked.
    pub conn: ConnId,
    /// Its attempt.
    pub ticket: u64,
    /// What the home server said.
    pub vouched: Vouched,
}

/// The running threads.
pub struct Verifier {
    jobs: Option<SyncSender<TokenCheck>>,
    done: Receiver<Answer>,
    threads: Vec<JoinHandle<()>>,
}

struct Shared {
    jobs: Mutex<Receiver<TokenCheck>>,
    done: Mutex<Sender<Answer>>,
    waker: Arc<Waker>,
    /// This server's domain: the audience every token must be for.
    domain: Box<str>,
    resolve: Box<Resolve>,
    /// Homes that failed lately, and when.
    down: Mutex<HashMap<Box<str>, (Instant, String)>>,
}

impl Verifier {
    /// Starts the threads for the server of `domain`.
    pub fn start(domain: &str, resolve: Box<Resolve>, waker: Arc<Waker>) -> std::io::Result<Verifier> {
        let (jtx, jrx) = mpsc::sync_channel(QUEUE);
        let (dtx, drx) = mpsc::channel();
        let shared = Arc::new(Shared {
            jobs: Mutex::new(jrx),
            done: Mutex::new(dtx),
            waker,
            domain: domain.into(),
            resolve,
            down: Mutex::new(HashMap::new()),
        });
        let mut v = Verifier {
            jobs: Some(jtx),
            done: drx,
            threads: Vec::new(),
        };
        for i in 0..THREADS {
            let s = shared.clone();
            v.threads.push(
                thread::Builder::new()
                    .name(format!("scalard-vouch-{i}"))
                    .spawn(move || s.run())?,
            );
        }
        Ok(v)
    }

    /// Queues a check; false if the queue is full. Never blocks.
    pub fn check(&self, job: TokenCheck) -> bool {
        self.jobs.as_ref().is_some_and(|j| j.try_send(job).is_ok())
    }

    /// The next answer, if one is ready.
    pub fn try_done(&self) -> Option<Answer> {
        self.done.try_recv().ok()
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Shared {
    fn run(&self) {
        loop {
            // The lock is held only while waiting for the next job.
            let job = match self.jobs.lock() {
                Ok(rx) => rx.recv(),
                Err(_) => return,
            };
            let Ok(job) = job else { return };
            let vouched = self.ask(&job);
            let answer = Answer {
                conn: job.conn,
                ticket: job.ticket,
                vouched,
            };
            let sent = self
                .done
                .lock()
                .map(|tx| tx.send(answer).is_ok())
                .unwrap_or(false);
            if sent && let Err(e) = self.waker.wake() {
                log::warn!("federation: cannot wake the poll loop: {e}");
            }
        }
    }

    fn ask(&self, job: &TokenCheck) -> Vouched {
        if let Some(why) = self.recently_down(&job.home) {
            return Vouched::Unreachable(why);
        }
        let deadline = Instant::now() + DEADLINE;
        let result = (self.resolve)(&job.home).and_then(|homes| {
            let mut last = format!("no server found for {}", job.home);
            for home in homes {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(format!("no answer within {} s", DEADLINE.as_secs()));
                }
                match self.ask_at(&home, job, left) {
                    Ok(v) => return Ok(v),
                    Err(e) => last = format!("{home}: {e}"),
                }
            }
            Err(last)
        });
        match result {
            Ok(v) => v,
            Err(why) => {
                if let Ok(mut down) = self.down.lock() {
                    down.insert(job.home.clone(), (Instant::now(), why.clone()));
                }
                Vouched::Unreachable(why)
            }
        }
    }

    fn recently_down(&self, home: &str) -> Option<String> {
        let mut down = self.down.lock().ok()?;
        down.retain(|_, (at, _)| at.elapsed() < DOWN_FOR);
        down.get(home).map(|(_, why)| format!("{why} (moments ago)"))
    }

    fn ask_at(&self, home: &Target, job: &TokenCheck, timeout: Duration) -> Result<Vouched, String> {
        let tls = match home.tls {
            true => Some(Tls::webpki_roots().map_err(|e| e.to_string())?),
            false => None,
        };
        let user = Name::parse(&job.user).map_err(|e| e.to_string())?;
        let mut c = Client::connect_raw_with(home.addr().as_str(), timeout, tls.as_ref())
            .map_err(|e| e.to_string())?;
        let reply = c
            .request(timeout, |seq| {
                Msg::Verify(Verify {
                    seq,
                    user,
                    server: &self.domain,
                    token: &job.token,
                })
            })
            .map_err(|e| e.to_string())?;
        let now = crate::client::unix_ms();
        let vouched = match reply.msg().map_err(|e| e.to_string())? {
            Msg::Vouch(v) if v.user.as_str() == &*job.user && v.valid => {
                // A yes without an expiry holds for one token lifetime at most (the core caps it).
                Vouched::Yes(v.until.unwrap_or(u64::MAX).max(now))
            }
            Msg::Vouch(_) => Vouched::No,
            other => return Err(format!("answered Verify with {}", other.msg_type().label())),
        };
        c.bye(None, Duration::from_millis(100));
        Ok(vouched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::Overrides;

    #[test]
    fn homes_come_from_the_table_or_tls_dns_never_from_an_address() {
        let mut servers = Overrides::default();
        servers
            .insert_toml(
                "foo.test",
                &toml::Value::Table("address = \"127.0.0.1:7001\"\ntls = false".parse().unwrap()),
            )
            .unwrap();
        let listed = home_servers("foo.test", &servers, None).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(!listed[0].tls, "the operator's table is taken as written");
        for literal in ["10.0.0.5", "127.0.0.1", "localhost", "db.localhost"] {
            let e = home_servers(literal, &servers, None).unwrap_err();
            assert!(e.contains("not a domain to look up"), "{literal}: {e}");
        }
    }
}
