//! Server discovery against a fake DNS server on 127.0.0.1: the real UDP client, the real
//! `resolve`, canned answers. Nothing here leaves the loopback network.

use scalar::discovery::{self, DiscoveryError, Overrides, Resolver, Target, WireError};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the fake answers for one name.
#[derive(Clone)]
enum Reply {
    /// SRV records: (priority, weight, port, target).
    Records(Vec<(u16, u16, u16, &'static str)>),
    /// RCODE 3.
    NxDomain,
    /// An answer with TC set.
    Truncated,
    /// A forged answer (wrong id) first, then the real one.
    ForgedFirst(Vec<(u16, u16, u16, &'static str)>),
}

/// A UDP DNS server on 127.0.0.1 that answers SRV queries from a table; names not in it get
/// NXDOMAIN, unless it is silent, when it answers nothing at all.
struct FakeDns {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeDns {
    fn start(table: &[(&str, Reply)], silent: bool) -> FakeDns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = socket.local_addr().unwrap();
        let table: HashMap<String, Reply> = table.iter().map(|(n, r)| (n.to_string(), r.clone())).collect();
        let (queries, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (q, s) = (queries.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                q.fetch_add(1, Ordering::Relaxed);
                if silent {
                    continue;
                }
                let query = &buf[..n];
                let name = qname(query);
                let reply = table.get(&name).cloned().unwrap_or(Reply::NxDomain);
                if let Reply::ForgedFirst(_) = reply {
                    let mut forged = answer(query, 0x8180, &[(0, 0, 1, "evil.test")]);
                    forged[0] ^= 0xff;
                    socket.send_to(&forged, from).unwrap();
                }
                let packet = match reply {
                    Reply::Records(r) | Reply::ForgedFirst(r) => answer(query, 0x8180, &r),
                    Reply::NxDomain => answer(query, 0x8183, &[]),
                    Reply::Truncated => answer(query, 0x8380, &[]),
                };
                socket.send_to(&packet, from).unwrap();
            }
        });
        FakeDns {
            addr,
            queries,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The question's name, in dotted form.
fn qname(query: &[u8]) -> String {
    let mut labels = Vec::new();
    let mut at = 12;
    while query[at] != 0 {
        let len = usize::from(query[at]);
        labels.push(String::from_utf8_lossy(&query[at + 1..at + 1 + len]).into_owned());
        at += 1 + len;
    }
    labels.join(".")
}

/// The answer to `query`: its header and question, with `flags`, then the records, owners
/// compressed to point at the question's name.
fn answer(query: &[u8], flags: u16, records: &[(u16, u16, u16, &str)]) -> Vec<u8> {
    let mut p = query.to_vec();
    p[2..4].copy_from_slice(&flags.to_be_bytes());
    p[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    for &(priority, weight, port, target) in records {
        let mut rdata = Vec::new();
        for n in [priority, weight, port] {
            rdata.extend_from_slice(&n.to_be_bytes());
        }
        for label in target.split('.').filter(|l| !l.is_empty()) {
            rdata.push(label.len() as u8);
            rdata.extend_from_slice(label.as_bytes());
        }
        rdata.push(0);
        p.extend_from_slice(&[0xc0, 12, 0, 33, 0, 1, 0, 0, 0x0e, 0x10]);
        p.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        p.extend_from_slice(&rdata);
    }
    p
}

fn target(host: &str, port: u16, tls: bool) -> Target {
    Target {
        host: host.into(),
        port,
        tls,
    }
}

fn resolve(dns: &FakeDns, domain: &str) -> Result<Vec<Target>, DiscoveryError> {
    discovery::resolve(domain, &Overrides::default(), Some(dns.addr))
}

#[test]
fn srv_records_are_found_tls_first() {
    let dns = FakeDns::start(
        &[
            (
                "_scalars._tcp.foo.test",
                Reply::Records(vec![
                    (10, 0, 7670, "backup.foo.test."),
                    (0, 5, 7668, "chat.foo.test."),
                ]),
            ),
            (
                "_scalar._tcp.foo.test",
                Reply::Records(vec![(0, 0, 7667, "chat.foo.test.")]),
            ),
        ],
        false,
    );
    assert_eq!(
        resolve(&dns, "foo.test").unwrap(),
        [
            target("chat.foo.test", 7668, true),
            target("backup.foo.test", 7670, true),
            target("chat.foo.test", 7667, false),
        ]
    );
    // Only TLS records: no plain target, and no fallback either.
    let dns = FakeDns::start(
        &[(
            "_scalars._tcp.foo.test",
            Reply::Records(vec![(0, 5, 7668, "chat.foo.test")]),
        )],
        false,
    );
    assert_eq!(
        resolve(&dns, "Foo.Test.").unwrap(),
        [target("chat.foo.test", 7668, true)]
    );
}

#[test]
fn without_records_the_domain_itself_on_7667() {
    let dns = FakeDns::start(&[], false);
    assert_eq!(
        resolve(&dns, "bar.test").unwrap(),
        [target("bar.test", 7667, false)]
    );
    assert_eq!(dns.queries.load(Ordering::Relaxed), 2, "one query per SRV name");
}

#[test]
fn a_dot_says_no_service() {
    let dns = FakeDns::start(
        &[("_scalars._tcp.foo.test", Reply::Records(vec![(0, 0, 0, ".")]))],
        false,
    );
    assert!(matches!(resolve(&dns, "foo.test"), Err(DiscoveryError::NoService(d)) if d == "foo.test"));
    // "." for TLS, a plain server still found.
    let dns = FakeDns::start(
        &[
            ("_scalars._tcp.foo.test", Reply::Records(vec![(0, 0, 0, ".")])),
            (
                "_scalar._tcp.foo.test",
                Reply::Records(vec![(0, 0, 9, "h.foo.test")]),
            ),
        ],
        false,
    );
    assert_eq!(
        resolve(&dns, "foo.test").unwrap(),
        [target("h.foo.test", 9, false)]
    );
}

#[test]
fn tls_records_are_enough_when_the_plain_query_fails() {
    let tls = || Reply::Records(vec![(0, 0, 7668, "h.foo.test")]);
    let dns = FakeDns::start(
        &[
            ("_scalars._tcp.foo.test", tls()),
            ("_scalar._tcp.foo.test", Reply::Truncated),
        ],
        false,
    );
    assert_eq!(
        resolve(&dns, "foo.test").unwrap(),
        [target("h.foo.test", 7668, true)]
    );
    // Without TLS records the failure is the answer.
    let dns = FakeDns::start(&[("_scalar._tcp.foo.test", Reply::Truncated)], false);
    assert!(resolve(&dns, "foo.test").is_err());
}

#[test]
fn the_override_table_comes_first() {
    let dns = FakeDns::start(&[], true);
    let mut o = Overrides::default();
    o.insert("foo.test", vec![target("127.0.0.1", 7001, false)]);
    assert_eq!(
        discovery::resolve("foo.test", &o, Some(dns.addr)).unwrap(),
        [target("127.0.0.1", 7001, false)]
    );
    assert_eq!(dns.queries.load(Ordering::Relaxed), 0, "DNS is not asked");
}

#[test]
fn forged_and_truncated_answers() {
    let dns = FakeDns::start(
        &[
            (
                "_scalars._tcp.foo.test",
                Reply::ForgedFirst(vec![(0, 0, 1, "real.foo.test")]),
            ),
            ("_scalars._tcp.big.test", Reply::Truncated),
        ],
        false,
    );
    // The forged answer (wrong id) is ignored; the real one that follows is used.
    assert_eq!(
        resolve(&dns, "foo.test").unwrap(),
        [target("real.foo.test", 1, true)]
    );
    assert!(matches!(
        resolve(&dns, "big.test"),
        Err(DiscoveryError::Answer {
            error: WireError::Truncated,
            ..
        })
    ));
}

#[test]
fn a_silent_nameserver_times_out() {
    let dns = FakeDns::start(&[], true);
    let resolver = Resolver {
        timeout: Duration::from_millis(300),
        ..Resolver::at(dns.addr)
    };
    let start = Instant::now();
    // A DNS failure is an error, not a reason to fall back to plain TCP on port 7667.
    let r = discovery::resolve_with("foo.test", &Overrides::default(), &resolver);
    let took = start.elapsed();
    assert!(
        matches!(&r, Err(DiscoveryError::Timeout { name }) if name == "_scalars._tcp.foo.test"),
        "{r:?}"
    );
    assert!(
        took >= Duration::from_millis(550),
        "two tries of 300 ms: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "bounded: {took:?}");
    assert_eq!(
        dns.queries.load(Ordering::Relaxed),
        2,
        "asked twice, then given up"
    );
}

#[test]
fn a_closed_port_fails_fast() {
    // Nobody listens: the kernel's "port unreachable" ends each try at once.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start = Instant::now();
    let r = discovery::resolve(
        "foo.test",
        &Overrides::default(),
        Some(([127, 0, 0, 1], port).into()),
    );
    assert!(matches!(r, Err(DiscoveryError::Timeout { .. })), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
}
