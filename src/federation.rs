//! Asking other domains' servers about their users' tokens (docs/PROTOCOL.md §4, Other
//! domains), off the poll loop: a few threads behind a bounded queue, each finding the home
//! server (static table or DNS SRV), connecting with the shared blocking client (TLS unless
//! the table says otherwise), sending Verify and reading Vouch, within a deadline. Answers go
//! back to the loop through its `mio::Waker`.
//!
//! Threads rather than the loop's own sockets: the lookup is blocking DNS anyway, and a home
//! server that is down costs a thread its timeout, not the loop anything. Each thread keeps
//! its last connection for a few seconds and asks the same home's next checks on it: a crowd
//! of one domain's users logging in at once (after a restart, say) must not cost the home a
//! connection each, which its connection-rate limit would refuse. A home that just
//! failed is remembered for a while, so a crowd logging in from a dead domain does not tie
//! up every thread; and at most [`PER_HOME`] threads ask one domain at once, so one slow
//! domain (or a hostile one, answering at the last moment) cannot tie them all up either.

use crate::client::Client;
use crate::discovery::Target;
use crate::proto::{Msg, Name, Verify};
use crate::server::{ConnId, TokenCheck, Vouched};
use crate::tls::Tls;
use mio::Waker;
use rustls::pki_types::CertificateDer;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Token checks that may wait for a thread; more are refused (`auth_throttled`).
pub const QUEUE: usize = 64;
/// Threads asking home servers at once.
const THREADS: usize = 4;
/// Threads asking one domain's home at once. The checks for a domain past it wait apart, so
/// those of other domains still get a thread.
const PER_HOME: usize = 2;
/// Checks that may wait for one domain's turn: about as many as its threads get through
/// (at [`DEADLINE`] each) before the core stops waiting for an answer (`VOUCH_WAIT`). More are
/// refused at once, as if the home were down.
const HELD_PER_HOME: usize = PER_HOME * (crate::server::VOUCH_WAIT.as_secs() / DEADLINE.as_secs()) as usize;
/// Checks that may wait for their domain's turn, of all domains together.
const HELD: usize = QUEUE;
/// How long one check may take in all: lookup, connect, TLS, Verify, Vouch.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// Addresses of one home server tried, at most.
const MAX_ADDRESSES: usize = 4;
/// How long a home server that could not be asked is not asked again.
const DOWN_FOR: Duration = Duration::from_secs(10);
/// How long a connection to a home is asked on again after it was opened: well within the
/// time a server gives a connection that never identifies (`scalard`: 10 s), after which
/// it would be closed under the next check.
const REUSE_FOR: Duration = Duration::from_secs(5);

/// How long a check waits for its answer on a kept connection before it gives up on that
/// one and dials afresh: a part of [`DEADLINE`], so that a kept connection gone silent leaves
/// the new one time.
const KEPT_WAIT: Duration = Duration::from_secs(2);

/// A thread's last connection to a home server.
struct Kept {
    home: Home,
    client: Client,
    opened: Instant,
}

/// Finds the servers of a domain, in the order to try them. Blocking (DNS).
pub type Resolve = dyn Fn(&str) -> Result<Vec<Home>, String> + Send + Sync;

/// A home server to ask, and how far to trust where it points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// Where it listens.
    pub target: Target,
    /// Found through DNS, which the domain's owner writes: only public addresses are dialled,
    /// so that nobody can aim this server at its own machine or network (a port scan by
    /// error messages, or a request to a service that trusts local callers). The operator's
    /// `[servers]` table is taken as written.
    pub public_only: bool,
    /// The certificates of the CA file its `[servers]` entry names, as read at the start:
    /// trusted instead of the web PKI's roots.
    pub ca: Option<Vec<CertificateDer<'static>>>,
}

/// The servers to ask about a token of `domain`'s users: the operator's `[servers]` entry as
/// written, else the TLS servers its DNS SRV records name. Never plain TCP found through DNS
/// (an attacker who can answer DNS or sit on the path could then forge a yes), and never an
/// address or `localhost` taken from an ID (a foreign user must not make this server connect
/// wherever it likes). Blocking (DNS).
pub fn home_servers(
    domain: &str,
    servers: &crate::discovery::Overrides,
    resolver: Option<SocketAddr>,
) -> Result<Vec<Home>, String> {
    let home = |public_only, ca: Option<Vec<CertificateDer<'static>>>| {
        move |target: &Target| Home {
            target: target.clone(),
            public_only,
            ca: ca.clone(),
        }
    };
    if let Some(listed) = servers.get(domain) {
        return Ok(listed
            .iter()
            .map(home(false, servers.ca(domain).map(<[_]>::to_vec)))
            .collect());
    }
    let lower = domain.to_ascii_lowercase();
    if lower.parse::<std::net::IpAddr>().is_ok() || lower == "localhost" || lower.ends_with(".localhost") {
        return Err(format!(
            "{domain} is not a domain to look up (list it under [servers])"
        ));
    }
    let found = crate::discovery::resolve(domain, servers, resolver).map_err(|e| e.to_string())?;
    let tls: Vec<Home> = found.iter().filter(|t| t.tls).map(home(true, None)).collect();
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
    /// Set when the Verifier is dropped: the threads then skip the checks still queued.
    stop: Arc<AtomicBool>,
}

struct Shared {
    jobs: Mutex<Receiver<TokenCheck>>,
    done: Mutex<Sender<Answer>>,
    waker: Arc<Waker>,
    /// This server's domain: the audience every token must be for.
    domain: Box<str>,
    resolve: Box<Resolve>,
    /// Homes that failed lately, when, why, and whether for a certificate not trusted here.
    down: Mutex<HashMap<Box<str>, (Instant, String, bool)>>,
    /// Who is asking which domain.
    homes: Mutex<Homes>,
    stop: Arc<AtomicBool>,
}

/// The checks in progress per home domain, and those waiting for their domain's turn (with
/// when they began to wait).
#[derive(Default)]
struct Homes {
    busy: HashMap<Box<str>, usize>,
    held: VecDeque<(Instant, TokenCheck)>,
}

/// What became of a job taken from the queue.
enum Claim {
    /// Its domain had room: this thread asks.
    Mine(TokenCheck),
    /// Its domain had its share of threads: it waits for one of them.
    Held,
    /// Its domain had its share and too many waiting.
    Refused(TokenCheck),
}

impl Homes {
    fn claim(&mut self, job: TokenCheck, now: Instant) -> Claim {
        let busy = self.busy.get(&job.home).copied().unwrap_or(0);
        let waiting = self.held.iter().filter(|(_, j)| j.home == job.home).count();
        // First come, first served within a domain: never ahead of one of its waiting checks.
        if busy < PER_HOME && waiting == 0 {
            *self.busy.entry(job.home.clone()).or_insert(0) += 1;
            Claim::Mine(job)
        } else if waiting < HELD_PER_HOME && self.held.len() < HELD {
            self.held.push_back((now, job));
            Claim::Held
        } else {
            Claim::Refused(job)
        }
    }

    /// The oldest waiting check whose domain has room now, claimed (`Ok`); or first one that
    /// waited longer than the core waits for an answer (`Err`: the client was told 608
    /// already, so its home is not asked).
    fn next_held(&mut self, now: Instant) -> Option<Result<TokenCheck, TokenCheck>> {
        let stale = |at: &Instant| now.saturating_duration_since(*at) >= crate::server::VOUCH_WAIT;
        if let Some(i) = self.held.iter().position(|(at, _)| stale(at)) {
            return self.held.remove(i).map(|(_, job)| Err(job));
        }
        let busy = &self.busy;
        let i = self
            .held
            .iter()
            .position(|(_, j)| busy.get(&j.home).is_none_or(|&n| n < PER_HOME))?;
        let (_, job) = self.held.remove(i)?;
        *self.busy.entry(job.home.clone()).or_insert(0) += 1;
        Some(Ok(job))
    }

    fn finished(&mut self, home: &str) {
        if let Some(n) = self.busy.get_mut(home) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.busy.remove(home);
            }
        }
    }
}

/// A check in progress: its domain's thread is given back when it ends.
struct Asking<'a> {
    homes: &'a Mutex<Homes>,
    home: &'a str,
}

impl Drop for Asking<'_> {
    fn drop(&mut self) {
        if let Ok(mut homes) = self.homes.lock() {
            homes.finished(self.home);
        }
    }
}

/// Why a home server gave no Vouch.
struct Failure {
    why: String,
    /// It answered, with an Error or something other than a Vouch: it is up, and may just be
    /// refusing this one check (its connection rate, say), so it is not marked down for
    /// everyone. A client that could make it refuse would otherwise shut out all its users.
    answered: bool,
    /// Its TLS certificate is not one this server trusts: the operator's to fix (a `[servers]`
    /// entry's `ca`), which no later try of the user's will (found by QA: a visitor was told
    /// to try again later, for ever).
    untrusted: bool,
}

impl Failure {
    fn unreachable(why: impl ToString) -> Failure {
        Failure {
            why: why.to_string(),
            answered: false,
            untrusted: false,
        }
    }
}

impl From<crate::client::ClientError> for Failure {
    fn from(e: crate::client::ClientError) -> Failure {
        use crate::client::ClientError::{Dropped, Refused, Tls};
        use crate::client::TlsError::Rustls;
        Failure {
            answered: matches!(e, Refused { .. } | Dropped { .. }),
            untrusted: matches!(e, Tls(Rustls(rustls::Error::InvalidCertificate(_)))),
            why: e.to_string(),
        }
    }
}

impl Verifier {
    /// Starts the threads for the server of `domain`.
    pub fn start(domain: &str, resolve: Box<Resolve>, waker: Arc<Waker>) -> std::io::Result<Verifier> {
        let (jtx, jrx) = mpsc::sync_channel(QUEUE);
        let (dtx, drx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            jobs: Mutex::new(jrx),
            done: Mutex::new(dtx),
            waker,
            domain: domain.into(),
            resolve,
            down: Mutex::new(HashMap::new()),
            homes: Mutex::new(Homes::default()),
            stop: stop.clone(),
        });
        let v = Verifier {
            jobs: Some(jtx),
            done: drx,
            stop,
        };
        for i in 0..THREADS {
            let s = shared.clone();
            // Dropping the Verifier before every thread started stops those that did.
            thread::Builder::new()
                .name(format!("scalard-vouch-{i}"))
                .spawn(move || s.run())?;
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
    /// Stops the threads without waiting for them: a check in progress may take its whole
    /// deadline, and its answer has nobody left to go to. Checks still queued are skipped
    /// (a queue's receiver hands them out even after its sender is gone).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.jobs = None;
    }
}

impl Shared {
    fn run(&self) {
        let mut kept = None;
        while let Some(job) = self.next_job() {
            let vouched = {
                // Gives the domain's thread back however `ask` ends.
                let _asking = Asking {
                    homes: &self.homes,
                    home: &job.home,
                };
                self.ask(&job, &mut kept)
            };
            self.answer(&job, vouched);
        }
        if let Some(k) = kept {
            k.client.bye(None, Duration::from_millis(100));
        }
    }

    /// The next check this thread asks: first one that waited for its domain's turn (which a
    /// thread that just finished with that domain makes), then the queue's. `None` once the
    /// Verifier is gone.
    fn next_job(&self) -> Option<TokenCheck> {
        loop {
            if self.stop.load(Ordering::Acquire) {
                return None;
            }
            let held = self.homes.lock().ok()?.next_held(Instant::now());
            match held {
                Some(Ok(job)) => return Some(job),
                Some(Err(stale)) => {
                    let why = format!("waited too long for a turn to ask {}", stale.home);
                    self.answer(&stale, Vouched::Down(why));
                    continue;
                }
                None => {}
            }
            // The lock is held only while waiting for the next job.
            let job = self.jobs.lock().ok()?.recv().ok()?;
            if self.stop.load(Ordering::Acquire) {
                return None;
            }
            let claim = self.homes.lock().ok()?.claim(job, Instant::now());
            match claim {
                Claim::Mine(job) => return Some(job),
                Claim::Held => {}
                Claim::Refused(job) => {
                    let why = format!("too many checks waiting for {}", job.home);
                    self.answer(&job, Vouched::Down(why));
                }
            }
        }
    }

    fn answer(&self, job: &TokenCheck, vouched: Vouched) {
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

    fn ask(&self, job: &TokenCheck, kept: &mut Option<Kept>) -> Vouched {
        if let Some(down) = self.recently_down(&job.home) {
            return down;
        }
        let deadline = Instant::now() + DEADLINE;
        let result = (self.resolve)(&job.home)
            .map_err(Failure::unreachable)
            .and_then(|homes| {
                let mut last = Failure::unreachable(format!("no server found for {}", job.home));
                for home in homes {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        let why = format!("no answer within {} s", DEADLINE.as_secs());
                        return Err(Failure { why, ..last });
                    }
                    match self.ask_at(&home, job, deadline, kept) {
                        Ok(v) => return Ok(v),
                        Err(e) => {
                            last = Failure {
                                why: format!("{}: {}", home.target, e.why),
                                answered: last.answered || e.answered,
                                untrusted: last.untrusted || e.untrusted,
                            }
                        }
                    }
                }
                Err(last)
            });
        match result {
            Ok(v) => v,
            Err(Failure {
                why,
                answered,
                untrusted,
            }) => {
                if !answered && let Ok(mut down) = self.down.lock() {
                    down.insert(job.home.clone(), (Instant::now(), why.clone(), untrusted));
                }
                match untrusted {
                    true => Vouched::Untrusted {
                        why,
                        moments_ago: false,
                    },
                    false => Vouched::Unreachable(why),
                }
            }
        }
    }

    /// What a check of `home` gets while it counts as down after a failure moments ago.
    fn recently_down(&self, home: &str) -> Option<Vouched> {
        let mut down = self.down.lock().ok()?;
        down.retain(|_, (at, _, _)| at.elapsed() < DOWN_FOR);
        down.get(home).map(|(_, why, untrusted)| {
            let why = format!("{why} (moments ago)");
            match untrusted {
                true => Vouched::Untrusted {
                    why,
                    moments_ago: true,
                },
                false => Vouched::Down(why),
            }
        })
    }

    /// Asks `home` about `job`'s token: on the thread's kept connection if it is to this home
    /// and fresh enough, else (or if that fails: the home may have closed it) on a new one,
    /// which is then kept.
    fn ask_at(
        &self,
        home: &Home,
        job: &TokenCheck,
        deadline: Instant,
        kept: &mut Option<Kept>,
    ) -> Result<Vouched, Failure> {
        let user = Name::parse(&job.user).map_err(Failure::unreachable)?;
        let left = || match deadline.saturating_duration_since(Instant::now()) {
            left if left.is_zero() => Err(Failure::unreachable("no time left")),
            left => Ok(left),
        };
        if let Some(mut k) = kept.take() {
            if k.home == *home && k.opened.elapsed() < REUSE_FOR {
                match self.verify(&mut k.client, user, job, left()?.min(KEPT_WAIT)) {
                    Ok(Ok(v)) => {
                        *kept = Some(k);
                        return Ok(v);
                    }
                    // The home answered, with an Error or something else: that is its answer,
                    // not a question to ask it twice.
                    Ok(Err(answer)) => return Err(answer),
                    Err(e @ crate::client::ClientError::Refused { .. }) => return Err(e.into()),
                    // It closed the connection (an Error and Bye of its own: its time limit
                    // for a connection that never identifies), or fell silent: a new one.
                    Err(_) => {}
                }
            } else {
                k.client.bye(None, Duration::from_millis(100));
            }
        }
        let tls = match (home.target.tls, &home.ca) {
            (true, Some(ca)) => Some(Tls::with_cas(ca).map_err(Failure::unreachable)?),
            (true, None) => Some(Tls::webpki_roots().map_err(Failure::unreachable)?),
            (false, _) => None,
        };
        // The lookup, the connection and the answer share the check's deadline.
        let dial = dialled(home)?;
        let opened = Instant::now();
        let mut client = Client::connect_raw_with(dial, left()?, tls.as_ref())?;
        // Only replies matter here: what else the home sends is dropped, not held.
        client.hold_at_most(0);
        let vouched = self.verify(&mut client, user, job, left()?)??;
        *kept = Some(Kept {
            home: home.clone(),
            client,
            opened,
        });
        Ok(vouched)
    }

    /// One Verify on `c`: what its Vouch says, or what else the home answered; the outer
    /// error when no answer came (or an Error did: `ClientError::Refused`).
    fn verify(
        &self,
        c: &mut Client,
        user: Name<'_>,
        job: &TokenCheck,
        left: Duration,
    ) -> Result<Result<Vouched, Failure>, crate::client::ClientError> {
        let reply = c.request(left, |seq| {
            Msg::Verify(Verify {
                seq,
                user,
                server: &self.domain,
                token: &job.token,
            })
        })?;
        let now = crate::client::unix_ms();
        let answered = |why: String| Failure {
            why,
            answered: true,
            untrusted: false,
        };
        Ok(match reply.msg() {
            // A yes whose token has expired by its own word is none (PROTOCOL.md §4: `valid`
            // means unexpired).
            Ok(Msg::Vouch(v))
                if v.user.as_str() == &*job.user && v.valid && v.until.is_none_or(|u| u > now) =>
            {
                // A yes without an expiry holds for one token lifetime at most (the core caps it).
                Ok(Vouched::Yes(v.until.unwrap_or(u64::MAX)))
            }
            Ok(Msg::Vouch(_)) => Ok(Vouched::No),
            Ok(other) => Err(answered(format!(
                "answered Verify with {}",
                other.msg_type().label()
            ))),
            Err(e) => Err(answered(e.to_string())),
        })
    }
}

/// A home's addresses, looked up here so that a [`Home::public_only`] one is dialled at its
/// public addresses only, under its name (which the certificate must carry).
struct Dialled {
    name: String,
    addrs: Vec<SocketAddr>,
}

impl ToSocketAddrs for Dialled {
    type Iter = std::vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> std::io::Result<Self::Iter> {
        Ok(self.addrs.clone().into_iter())
    }
}

impl fmt::Display for Dialled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Looks up `home` (blocking) and keeps the addresses it may be dialled at.
fn dialled(home: &Home) -> Result<Dialled, Failure> {
    let name = home.target.addr();
    let found = name
        .to_socket_addrs()
        .map_err(|e| Failure::unreachable(format!("{name}: {e}")))?;
    // A few: each is given a share of the check's deadline.
    let addrs: Vec<SocketAddr> = found
        .filter(|a| !home.public_only || is_public(a.ip()))
        .take(MAX_ADDRESSES)
        .collect();
    if addrs.is_empty() {
        return Err(Failure::unreachable(format!("{name} has no public address")));
    }
    Ok(Dialled { name, addrs })
}

/// Whether `ip` is an address of the public internet: not this machine, its own networks
/// (private, shared, link-local, unique local) or a special range, also not when wrapped in an
/// IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4), which a local gateway would
/// unwrap.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 0.0.0.0/8 ("this network"), 100.64.0.0/10 (carrier-grade NAT), 192.0.0.0/24
                // (protocol assignments), 198.18.0.0/15 (benchmarking), 240.0.0.0/4.
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let inner = |hi: u16, lo: u16| {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)))
            };
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            match seg {
                // NAT64, well-known prefix: the IPv4 address in the last 32 bits.
                [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return inner(hi, lo),
                // 6to4: the IPv4 address in bits 16 to 47.
                [0x2002, hi, lo, ..] => return inner(hi, lo),
                _ => {}
            }
            // Only global unicast (2000::/3) is public, and in it neither 2001::/23 (protocol
            // assignments: Teredo, benchmarking, ...), 2001:db8::/32 nor 3fff::/20
            // (documentation).
            let [first, second, ..] = seg;
            (first & 0xe000) == 0x2000
                && !(first == 0x2001 && (second < 0x0200 || second == 0x0db8))
                && (first & 0xfff0) != 0x3ff0
        }
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
        assert!(!listed[0].target.tls, "the operator's table is taken as written");
        assert!(!listed[0].public_only, "at whatever address it names");
        for literal in ["10.0.0.5", "127.0.0.1", "localhost", "db.localhost"] {
            let e = home_servers(literal, &servers, None).unwrap_err();
            assert!(e.contains("not a domain to look up"), "{literal}: {e}");
        }
    }

    #[test]
    fn public_addresses_are_told_from_local_and_special_ones() {
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "100.128.0.1",
            "2a00:1450::1",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
            "2002:101:101::1",
            "2600::1",
            "2001:4860::8888",
        ];
        for ip in public {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        let local = [
            "64:ff9b::a00:5",
            "::ffff:0:a00:5",
            "100::1",
            "3fff::1",
            "2001:2::1",
            "2001::1",
            "4000::1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:a00:5::1",
            "2002:c0a8:101::1",
            "::10.0.0.5",
            "fec0::1",
            "192.0.0.8",
            "198.18.0.1",
            "198.19.255.255",
            "127.0.0.1",
            "10.0.0.5",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ];
        for ip in local {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn a_home_found_through_dns_is_never_dialled_at_a_local_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let target = Target {
            host: "127.0.0.1".into(),
            port: listener.local_addr().unwrap().port(),
            tls: false,
        };
        let found = Home {
            target: target.clone(),
            public_only: true,
            ca: None,
        };
        let (v, _poll) = verifier(vec![found]);
        let answer = ask(&v, 1);
        match answer.vouched {
            Vouched::Unreachable(why) => assert!(why.contains("no public address"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(listener.accept().is_err(), "nothing connected");
        // The same address from the operator's table is dialled.
        let listed = Home {
            target,
            public_only: false,
            ca: None,
        };
        assert!(dialled(&listed).is_ok());
    }

    /// A Verifier whose every domain's home is `homes`, and the Poll its waker wakes.
    fn verifier(homes: Vec<Home>) -> (Verifier, mio::Poll) {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let resolve = move |_: &str| Ok(homes.clone());
        (
            Verifier::start("bar.test", Box::new(resolve), waker).unwrap(),
            poll,
        )
    }

    /// A check of a token of alice@foo.test.
    fn job(ticket: u64) -> TokenCheck {
        TokenCheck {
            conn: 3,
            ticket,
            user: "alice@foo.test".into(),
            home: "foo.test".into(),
            token: vec![1u8; 32].into_boxed_slice(),
        }
    }

    /// Asks `v` about a token of alice@foo.test and waits for the answer.
    fn ask(v: &Verifier, ticket: u64) -> Answer {
        assert!(v.check(job(ticket)));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(a) = v.try_done() {
                return a;
            }
            assert!(Instant::now() < deadline, "no answer");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// A home listed at a loopback port of this test.
    fn listed(l: &std::net::TcpListener) -> Home {
        let target = Target {
            host: "127.0.0.1".into(),
            port: l.local_addr().unwrap().port(),
            tls: false,
        };
        Home {
            target,
            public_only: false,
            ca: None,
        }
    }

    #[test]
    fn a_home_that_answers_is_not_marked_down_one_that_does_not_is() {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (v, _poll) = verifier(vec![listed(&l)]);
        // It refuses the check (as one over its connection rate would): asked every time.
        let home = thread::spawn(move || {
            for _ in 0..2 {
                let (mut s, _) = l.accept().unwrap();
                let mut b = [0u8; 512];
                let _ = s.read(&mut b);
                let e = crate::proto::ErrorMsg {
                    seq: None,
                    code: 505,
                    reason: Some("too many connections"),
                    server: None,
                    topic: None,
                    retry_after: None,
                };
                s.write_all(&Msg::Error(e).to_frame().unwrap()).unwrap();
            }
            l
        });
        for ticket in 1..=2 {
            match ask(&v, ticket).vouched {
                Vouched::Unreachable(why) => {
                    assert!(why.contains("505") && !why.contains("moments ago"), "{why}")
                }
                other => panic!("{other:?}"),
            }
        }
        // Nobody listens any more: the first ask fails to connect, the second is not tried.
        drop(home.join().unwrap());
        match ask(&v, 3).vouched {
            Vouched::Unreachable(why) => assert!(!why.contains("moments ago"), "{why}"),
            other => panic!("{other:?}"),
        }
        match ask(&v, 4).vouched {
            Vouched::Down(why) => assert!(why.contains("moments ago"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    /// A home that answers every Verify with a yes, `per_conn` of them on a connection, which
    /// it then closes; connections are served at once, each on a thread. Stops accepting when
    /// `stop` is set, and ends with how many it accepted.
    fn yes_home(per_conn: usize, stop: Arc<AtomicBool>) -> (Home, thread::JoinHandle<usize>) {
        use crate::proto::{Status, Vouch, decode_frame};
        use std::io::{Read, Write};
        let serve = move |mut s: std::net::TcpStream| {
            s.set_nonblocking(false).unwrap();
            let mut buf = Vec::new();
            let mut answered = 0;
            while answered < per_conn {
                let mut b = [0u8; 512];
                match s.read(&mut b) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&b[..n]),
                }
                while let Ok(Status::Complete((Ok(Msg::Verify(v)), len))) = decode_frame(&buf) {
                    let yes = Vouch {
                        seq: v.seq,
                        user: v.user,
                        valid: true,
                        until: None,
                    };
                    let _ = s.write_all(&Msg::Vouch(yes).to_frame().unwrap());
                    buf.drain(..len);
                    answered += 1;
                }
            }
        };
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let home = listed(&l);
        let t = thread::spawn(move || {
            let mut accepted = 0;
            while !stop.load(Ordering::Acquire) {
                match l.accept() {
                    Ok((s, _)) => {
                        accepted += 1;
                        thread::spawn(move || serve(s));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
            accepted
        });
        (home, t)
    }

    /// `n` checks one after the other against a [`yes_home`]; how many connections it took.
    fn connections_for(n: u64, per_conn: usize) -> usize {
        let stop = Arc::new(AtomicBool::new(false));
        let (home, t) = yes_home(per_conn, stop.clone());
        let (v, _poll) = verifier(vec![home]);
        for ticket in 1..=n {
            match ask(&v, ticket).vouched {
                Vouched::Yes(_) => {}
                other => panic!("check {ticket}: {other:?}"),
            }
        }
        drop(v);
        stop.store(true, Ordering::Release);
        t.join().unwrap()
    }

    #[test]
    fn checks_of_one_home_share_connections_and_a_closed_one_is_replaced() {
        // Each thread asks on its own kept connection: at most one each.
        assert!(connections_for(12, usize::MAX) <= THREADS);
        // A home that closes each connection after one answer: the threads' kept ones are
        // found closed and replaced, and every check is still answered.
        assert_eq!(connections_for(8, 1), 8);
    }

    /// The first answer `v` gives, within `limit`.
    fn first_answer(v: &Verifier, limit: Duration) -> Answer {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(a) = v.try_done() {
                return a;
            }
            assert!(Instant::now() < deadline, "no answer");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_slow_domain_gets_its_share_of_threads_and_no_more() {
        // slow.test accepts and never answers: each of its checks takes the whole deadline.
        // foo.test hangs up at once.
        let slow = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let quick = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (slow_home, quick_home) = (listed(&slow), listed(&quick));
        let closer = thread::spawn(move || drop(quick.accept()));
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let resolve = move |d: &str| match d {
            "slow.test" => Ok(vec![slow_home.clone()]),
            _ => Ok(vec![quick_home.clone()]),
        };
        let v = Verifier::start("bar.test", Box::new(resolve), waker).unwrap();
        let eve = |ticket| TokenCheck {
            user: "eve@slow.test".into(),
            home: "slow.test".into(),
            ..job(ticket)
        };
        for ticket in 0..6 {
            assert!(v.check(eve(ticket)));
        }
        assert!(v.check(job(100)));
        // Two threads wait for slow.test; the others are free for foo.test, whose answer
        // comes long before any of slow.test's.
        let a = first_answer(&v, DEADLINE * 2);
        assert_eq!(a.ticket, 100, "{:?}", a.vouched);
        assert!(matches!(a.vouched, Vouched::Unreachable(_)), "{:?}", a.vouched);
        closer.join().unwrap();

        // Those waiting for slow.test are bounded too: past HELD_PER_HOME, a check is refused
        // at once.
        let mut ticket = 6;
        while ticket < 6 + QUEUE as u64 {
            if v.check(eve(ticket)) {
                ticket += 1;
            } else {
                thread::sleep(Duration::from_millis(1));
            }
        }
        let a = first_answer(&v, DEADLINE / 2);
        match a.vouched {
            Vouched::Down(why) => assert!(why.contains("too many checks waiting for slow.test"), "{why}"),
            other => panic!("{other:?}"),
        }
        drop(slow);
    }

    #[test]
    fn checks_wait_their_domain_s_turn_in_order_and_within_bounds() {
        let t0 = Instant::now();
        let of = |home: &str, ticket| TokenCheck {
            home: home.into(),
            ..job(ticket)
        };
        let ticket = |c: Claim| match c {
            Claim::Mine(j) => ("mine", j.ticket),
            Claim::Held => ("held", 0),
            Claim::Refused(j) => ("refused", j.ticket),
        };
        let next = |h: &mut Homes, now| {
            h.next_held(now)
                .map(|r| r.map(|j| j.ticket).map_err(|j| j.ticket))
        };
        let mut h = Homes::default();
        assert_eq!(ticket(h.claim(of("a", 1), t0)), ("mine", 1));
        assert_eq!(ticket(h.claim(of("a", 2), t0)), ("mine", 2));
        assert_eq!(ticket(h.claim(of("a", 3), t0)), ("held", 0));
        assert_eq!(ticket(h.claim(of("b", 4), t0)), ("mine", 4), "another domain");
        // A thread freed by "a" takes its oldest waiting check; a newer one does not pass it.
        h.finished("a");
        assert_eq!(ticket(h.claim(of("a", 5), t0)), ("held", 0));
        assert_eq!(next(&mut h, t0), Some(Ok(3)));
        assert_eq!(next(&mut h, t0), None, "a is busy");
        // At most HELD_PER_HOME wait for one domain.
        for i in 1..HELD_PER_HOME as u64 {
            assert_eq!(ticket(h.claim(of("a", 10 + i), t0)), ("held", 0));
        }
        assert_eq!(ticket(h.claim(of("a", 99), t0)), ("refused", 99));
        assert_eq!(
            ticket(h.claim(of("c", 7), t0)),
            ("mine", 7),
            "the others still get in"
        );
        // One that waited longer than the core waits is handed back unasked.
        let late = t0 + crate::server::VOUCH_WAIT;
        assert_eq!(next(&mut h, late), Some(Err(5)));
        // Threads are given back.
        for home in ["a", "a", "b", "c"] {
            h.finished(home);
        }
        assert!(h.busy.is_empty(), "{:?}", h.busy);
    }

    /// Found by QA: a yes whose `until` had passed (1970) let the user in.
    #[test]
    fn a_yes_for_a_token_expired_by_its_own_word_is_a_no() {
        use crate::proto::{Status, Vouch, decode_frame};
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (v, _poll) = verifier(vec![listed(&l)]);
        let home = thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 512];
            let n = s.read(&mut b).unwrap();
            let Ok(Status::Complete((Ok(Msg::Verify(asked)), _))) = decode_frame(&b[..n]) else {
                panic!("not a Verify")
            };
            let stale = Vouch {
                seq: asked.seq,
                user: asked.user,
                valid: true,
                until: Some(1),
            };
            s.write_all(&Msg::Vouch(stale).to_frame().unwrap()).unwrap();
            thread::sleep(Duration::from_millis(200));
        });
        assert!(matches!(ask(&v, 1).vouched, Vouched::No));
        home.join().unwrap();
    }

    /// Found by QA: a home that waits, then floods Pings and reads nothing, held a check about
    /// twice its deadline, each Pong's write bounded by the socket's timeout, not the check's.
    #[test]
    fn a_home_flooding_pings_it_does_not_read_cannot_hold_a_check_past_its_deadline() {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (v, _poll) = verifier(vec![listed(&l)]);
        let home = thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 512];
            let _ = s.read(&mut b);
            thread::sleep(DEADLINE * 3 / 5);
            let ping = Msg::Ping(crate::proto::Ping { seq: None, time: 1 })
                .to_frame()
                .unwrap();
            let flood: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 4096).collect();
            s.set_write_timeout(Some(Duration::from_millis(100))).unwrap();
            // Until the checker hangs up (or a bound, should it not).
            let until = Instant::now() + DEADLINE * 2;
            while Instant::now() < until {
                match s.write_all(&flood) {
                    Err(e)
                        if !matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        break;
                    }
                    _ => {}
                }
            }
        });
        let start = Instant::now();
        assert!(matches!(ask(&v, 1).vouched, Vouched::Unreachable(_)));
        let took = start.elapsed();
        assert!(took < DEADLINE + Duration::from_millis(1500), "took {took:?}");
        home.join().unwrap();
    }

    #[test]
    fn dropping_the_verifier_does_not_wait_for_checks_in_progress() {
        // A home that accepts and never answers: each check takes the whole deadline.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (v, _poll) = verifier(vec![listed(&l)]);
        for ticket in 0..8 {
            assert!(v.check(job(ticket)));
        }
        thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        drop(v);
        assert!(start.elapsed() < DEADLINE / 5, "took {:?}", start.elapsed());
    }
}
