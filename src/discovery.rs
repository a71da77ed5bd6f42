//! Finding the servers of a domain (PROTOCOL.md §1): a static override table first, then the
//! DNS SRV records `_scalars._tcp.DOMAIN` (TLS) and `_scalar._tcp.DOMAIN` (plain TCP), then the
//! domain itself on port 7667, plain.
//!
//! The DNS client is deliberately minimal: one UDP query per SRV name to the nameservers of
//! `/etc/resolv.conf` (or one given address), no cache, no TCP. The wire format lives in
//! [`wire`], sans IO; the ordering of records ([`order`]) and the override table are sans IO
//! too; only [`Resolver::srv`] touches a socket.

pub mod wire;

use crate::config::DEFAULT_PORT;
use rustls::pki_types::CertificateDer;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};
pub use wire::{Srv, WireError};

/// How long one query waits for its answer.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// How many times one nameserver is asked before the next one is.
pub const TRIES: u32 = 2;
/// How many `nameserver` lines of resolv.conf count (the glibc resolver's limit too).
pub const MAX_NAMESERVERS: usize = 3;
/// The DNS port.
const DNS_PORT: u16 = 53;

/// One server to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A DNS name (without the final dot) or an IP literal.
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// Whether the server speaks TLS there.
    pub tls: bool,
}

impl Target {
    /// `HOST:PORT`, with an IPv6 literal in brackets: what `ToSocketAddrs` and the TLS server
    /// name expect.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.tls { "TLS" } else { "plain" };
        write!(f, "{} ({how})", self.addr())
    }
}

/// Why a domain's servers could not be found.
#[derive(Debug)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The domain cannot be put in a DNS query.
    BadDomain(String),
    /// resolv.conf names no nameserver, and none was given.
    NoNameserver,
    /// No nameserver answered in time.
    Timeout {
        /// The SRV name asked for.
        name: String,
    },
    /// A nameserver's answer was unusable (truncated, a failure code, or malformed).
    Answer {
        /// The SRV name asked for.
        name: String,
        /// What was wrong with it.
        error: WireError,
    },
    /// The domain's SRV records say it offers no Scalar service (a target of `.`).
    NoService(String),
    /// A socket, resolv.conf or the random source failed.
    Io(io::Error),
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::BadDomain(d) => write!(f, "{d:?} is not a domain name"),
            DiscoveryError::NoNameserver => {
                f.write_str("no nameserver: /etc/resolv.conf names none (give a resolver)")
            }
            DiscoveryError::Timeout { name } => write!(f, "no nameserver answered for {name}"),
            DiscoveryError::Answer { name, error } => write!(f, "looking up {name}: {error}"),
            DiscoveryError::NoService(d) => {
                write!(f, "{d} offers no Scalar service (its SRV records say so)")
            }
            DiscoveryError::Io(e) => write!(f, "DNS: {e}"),
        }
    }
}

impl std::error::Error for DiscoveryError {}

impl From<io::Error> for DiscoveryError {
    fn from(e: io::Error) -> Self {
        DiscoveryError::Io(e)
    }
}

/// Finds the servers of `domain`, in the order to try them:
///
/// 1. if `overrides` has the domain, its targets and nothing else;
/// 2. `localhost` and IP literals: themselves on port 7667, plain, without asking DNS;
/// 3. the targets of `_scalars._tcp.DOMAIN` (TLS), then of `_scalar._tcp.DOMAIN` (plain), each
///    ordered as RFC 2782 says;
/// 4. when neither name has any record: the domain itself on port 7667, plain.
///
/// DNS is asked at `resolver` if given, else at the nameservers of `/etc/resolv.conf`.
///
/// This **blocks**, for up to [`QUERY_TIMEOUT`] × [`TRIES`] per nameserver and name (about
/// 24 s at worst with three silent nameservers): never call it on a poll loop; run it on a
/// thread of its own. A DNS failure is an error rather than a reason to fall back to plain
/// TCP on port 7667, so that blocking DNS cannot silently downgrade a TLS domain.
pub fn resolve(
    domain: &str,
    overrides: &Overrides,
    resolver: Option<SocketAddr>,
) -> Result<Vec<Target>, DiscoveryError> {
    if let Some(found) = without_dns(domain, overrides) {
        return Ok(found);
    }
    let resolver = match resolver {
        Some(addr) => Resolver::at(addr),
        None => Resolver::system()?,
    };
    resolve_with(domain, overrides, &resolver)
}

/// What `domain` resolves to without asking DNS: its entry in the table, or itself when it is
/// an IP address or `localhost`.
fn without_dns(domain: &str, overrides: &Overrides) -> Option<Vec<Target>> {
    let domain = normalise(domain);
    overrides
        .get(&domain)
        .map(<[Target]>::to_vec)
        .or_else(|| literal(&domain).map(|t| vec![t]))
}

/// As [`resolve`], with the nameservers and timeouts of `resolver`.
pub fn resolve_with(
    domain: &str,
    overrides: &Overrides,
    resolver: &Resolver,
) -> Result<Vec<Target>, DiscoveryError> {
    if let Some(found) = without_dns(domain, overrides) {
        return Ok(found);
    }
    let domain = normalise(domain);
    // Checked before any query, so a bad name fails the same with or without nameservers.
    wire::query(0, &format!("_scalars._tcp.{domain}"))
        .map_err(|_| DiscoveryError::BadDomain(domain.clone()))?;
    let tls = resolver.srv(&format!("_scalars._tcp.{domain}"))?;
    // TLS servers come first and suffice: a plain query that fails then takes nothing away
    // (and a server checking tokens dials TLS servers only).
    let plain = match resolver.srv(&format!("_scalar._tcp.{domain}")) {
        Err(_) if !tls.is_empty() => Vec::new(),
        r => r?,
    };
    if tls.is_empty() && plain.is_empty() {
        return Ok(vec![fallback(&domain)]);
    }
    let targets: Vec<Target> = [(tls, true), (plain, false)]
        .into_iter()
        .flat_map(|(records, tls)| targets(records, tls, &mut random_upto))
        .collect();
    if targets.is_empty() {
        return Err(DiscoveryError::NoService(domain));
    }
    Ok(targets)
}

/// Lowercase, without the final dot: how domains are compared.
fn normalise(domain: &str) -> String {
    domain
        .trim()
        .strip_suffix('.')
        .unwrap_or(domain.trim())
        .to_ascii_lowercase()
}

/// The domain itself on the default port, plain (PROTOCOL.md §1: "MAY try the domain itself").
fn fallback(domain: &str) -> Target {
    Target {
        host: domain.to_string(),
        port: DEFAULT_PORT,
        tls: false,
    }
}

/// `localhost` and IP literals are not looked up: they name one host already.
fn literal(domain: &str) -> Option<Target> {
    let bare = domain
        .strip_prefix('[')
        .and_then(|d| d.strip_suffix(']'))
        .unwrap_or(domain);
    (domain == "localhost" || domain.ends_with(".localhost") || bare.parse::<IpAddr>().is_ok()).then(|| {
        Target {
            host: bare.to_string(),
            port: DEFAULT_PORT,
            tls: false,
        }
    })
}

/// The targets of one SRV name in the order to try them. A lone record with target `.` says
/// there is no such service; a `.` or port 0 among others is dropped (it names nothing).
pub fn targets(records: Vec<Srv>, tls: bool, pick: &mut dyn FnMut(u64) -> u64) -> Vec<Target> {
    order(records, pick)
        .into_iter()
        .filter(|s| s.target != "." && s.port != 0)
        .map(|s| Target {
            host: s.target,
            port: s.port,
            tls,
        })
        .collect()
}

/// Orders SRV records as RFC 2782 says: by priority, lowest first; among one priority, each
/// next record chosen at random with a chance proportional to its weight (weight 0 records
/// get a small chance, by coming first in the running sums). `pick(total)` returns a number in
/// `0..=total`; [`resolve`] passes the kernel's random numbers, tests a fixed sequence.
pub fn order(mut records: Vec<Srv>, pick: &mut dyn FnMut(u64) -> u64) -> Vec<Srv> {
    records.sort_by_key(|s| (s.priority, s.weight != 0));
    let mut out = Vec::with_capacity(records.len());
    while let Some(first) = records.first() {
        let priority = first.priority;
        let size = records.iter().take_while(|s| s.priority == priority).count();
        let mut group: Vec<Srv> = records.drain(..size).collect();
        while !group.is_empty() {
            let total: u64 = group.iter().map(|s| u64::from(s.weight)).sum();
            let chosen = pick(total).min(total);
            let mut running = 0;
            let at = group
                .iter()
                .position(|s| {
                    running += u64::from(s.weight);
                    running >= chosen
                })
                .unwrap_or(0);
            out.push(group.remove(at));
        }
    }
    out
}

/// A random number in `0..=total`, from the kernel. Should the kernel fail, 0: the order is
/// then by priority and listing order, still a valid order to try.
fn random_upto(total: u64) -> u64 {
    let r = u64::from_le_bytes(crate::random::bytes::<8>().unwrap_or_default());
    // The modulo's bias is below 2^-47 for weights that fit 16 bits: negligible.
    r % total.saturating_add(1)
}

/// Where and how to ask DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    /// The nameservers, asked in order.
    pub nameservers: Vec<SocketAddr>,
    /// How long one query waits.
    pub timeout: Duration,
    /// How many times each nameserver is asked.
    pub tries: u32,
}

impl Resolver {
    /// One nameserver, with the default timeout and tries.
    pub fn at(addr: SocketAddr) -> Resolver {
        Resolver {
            nameservers: vec![addr],
            timeout: QUERY_TIMEOUT,
            tries: TRIES,
        }
    }

    /// The nameservers of `/etc/resolv.conf`.
    pub fn system() -> Result<Resolver, DiscoveryError> {
        let text = std::fs::read_to_string("/etc/resolv.conf")?;
        let nameservers = nameservers(&text);
        if nameservers.is_empty() {
            return Err(DiscoveryError::NoNameserver);
        }
        Ok(Resolver {
            nameservers,
            ..Resolver::at(SocketAddr::from(([127, 0, 0, 1], DNS_PORT)))
        })
    }

    /// The SRV records of `name` (empty if it has none). Each nameserver is asked up to
    /// `tries` times while it stays silent; one that answers with a failure is not asked
    /// again; a truncated answer ends the search (another nameserver would truncate too).
    pub fn srv(&self, name: &str) -> Result<Vec<Srv>, DiscoveryError> {
        let mut last = DiscoveryError::NoNameserver;
        for &ns in &self.nameservers {
            for _ in 0..self.tries {
                match self.ask(ns, name) {
                    Ok(records) => return Ok(records),
                    Err(e @ (DiscoveryError::Timeout { .. } | DiscoveryError::Io(_))) => last = e,
                    Err(
                        e @ DiscoveryError::Answer {
                            error: WireError::Truncated,
                            ..
                        },
                    ) => return Err(e),
                    Err(e @ DiscoveryError::BadDomain(_)) => return Err(e),
                    Err(e) => {
                        last = e;
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    /// One query to `ns` and the wait for its answer.
    fn ask(&self, ns: SocketAddr, name: &str) -> Result<Vec<Srv>, DiscoveryError> {
        let id = u16::from_be_bytes(crate::random::bytes::<2>()?);
        let query = wire::query(id, name).map_err(|_| DiscoveryError::BadDomain(name.into()))?;
        let local: SocketAddr = match ns {
            SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local)?;
        // Connected: the kernel drops datagrams from any other address.
        socket.connect(ns)?;
        socket.send(&query)?;
        let deadline = Instant::now() + self.timeout;
        // Without EDNS an answer is at most 512 bytes; the room to spare costs nothing.
        let mut buf = [0u8; 4096];
        let timeout = || DiscoveryError::Timeout { name: name.into() };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timeout());
            }
            socket.set_read_timeout(Some(left))?;
            let n = match socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(timeout());
                }
                // ICMP "port unreachable" on a connected socket: nobody listens there.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return Err(timeout()),
                Err(e) => return Err(e.into()),
            };
            match wire::parse(buf.get(..n).unwrap_or_default(), id, name) {
                Ok(records) => return Ok(records),
                // Not the answer to this query (a late answer to an earlier try, or a forgery
                // guessing at it): keep waiting for the real one.
                Err(WireError::WrongId | WireError::NotResponse | WireError::WrongQuestion) => {}
                Err(error) => {
                    return Err(DiscoveryError::Answer {
                        name: name.into(),
                        error,
                    });
                }
            }
        }
    }
}

/// The nameservers of a resolv.conf: its first three `nameserver` lines with an IP address
/// (a scoped IPv6 address, `fe80::1%eth0`, is skipped: `SocketAddr` cannot carry its scope by
/// name).
pub fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
        })
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, DNS_PORT))
        .take(MAX_NAMESERVERS)
        .collect()
}

/// A resolver address as given in a flag or config key: `IP:PORT`, `[IPv6]:PORT`, or an IP
/// alone for port 53.
pub fn parse_resolver(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    s.parse::<SocketAddr>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, DNS_PORT)))
        // Nothing answers on port 0: said now, not as "no nameserver answered" at each lookup.
        .filter(|a| a.port() != 0)
}

/// The static table of servers, consulted before DNS: for a domain in it, its targets are the
/// only ones. In scalard's config file:
///
/// ```toml
/// [servers."foo.example"]
/// address = "127.0.0.1:7001"   # or a list: ["a.example:1", "[::1]:2"]
/// tls = false                  # default true
///
/// [servers."bar.example"]
/// address = "10.0.0.7:7668"
/// ca = "/etc/scalard/bar-ca.pem" # its certificate's CA, instead of the web PKI's roots
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    targets: BTreeMap<String, Vec<Target>>,
    /// The certificates of the CA file trusted for a domain's TLS servers, where its entry
    /// names one (a private federation's servers need not hold certificates of a public CA),
    /// as read with the configuration: the file is not read again until a restart, as the rest
    /// of the table is not (found in review: read at each connection to a home, a file
    /// replaced or removed after the start changed a running server, which a reload said it
    /// had left alone, and a bad one failed only its logins).
    cas: BTreeMap<String, Vec<CertificateDer<'static>>>,
}

/// Why an entry of the override table was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OverrideError {
    /// The key is not a lowercase DNS name.
    BadDomain(String),
    /// The entry is not a table.
    NotATable,
    /// The entry has no `address`, or an empty list of them.
    NoAddress,
    /// An address is not `HOST:PORT`.
    BadAddress(String),
    /// `tls` is not true or false.
    BadTls,
    /// `ca` is not a file of CA certificates (what is wrong with it), or comes with `tls =
    /// false`, where there is no certificate to check.
    BadCa(String),
    /// A key other than `address`, `tls` and `ca`.
    UnknownKey(String),
}

impl fmt::Display for OverrideError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OverrideError::BadDomain(d) => write!(f, "{d:?} is not a lowercase domain name"),
            OverrideError::NotATable => f.write_str("expected a table with address and tls"),
            OverrideError::NoAddress => {
                f.write_str("address is missing: give \"HOST:PORT\" or a list of them")
            }
            OverrideError::BadAddress(a) => {
                write!(
                    f,
                    "address {a:?} is not HOST:PORT (like chat.example.org:7668 or [::1]:7667)"
                )
            }
            OverrideError::BadTls => f.write_str("tls: expected true or false"),
            OverrideError::BadCa(why) => write!(f, "ca: {why}"),
            OverrideError::UnknownKey(k) => {
                write!(f, "unknown key {k} (address, tls and ca are known)")
            }
        }
    }
}

impl std::error::Error for OverrideError {}

impl Overrides {
    /// The targets of `domain`, if the table has it.
    pub fn get(&self, domain: &str) -> Option<&[Target]> {
        self.targets.get(domain).map(Vec::as_slice)
    }

    /// The CA certificates trusted for the TLS servers of `domain`, if its entry names a file.
    pub fn ca(&self, domain: &str) -> Option<&[CertificateDer<'static>]> {
        self.cas.get(domain).map(Vec::as_slice)
    }

    /// Sets the targets of `domain` (lowercase, no final dot), replacing any it had.
    pub fn insert(&mut self, domain: &str, targets: Vec<Target>) {
        self.targets.insert(normalise(domain), targets);
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Adds the entry `[servers."DOMAIN"]` of a TOML file: `address` (one `HOST:PORT` or a
    /// list, tried in order), `tls` (default true) and `ca` (a PEM file of the CA certificates
    /// its servers' certificates chain to, read now so that a bad one stops a start or `scalard
    /// check` rather than every login of the domain's users).
    pub fn insert_toml(&mut self, domain: &str, entry: &toml::Value) -> Result<(), OverrideError> {
        if !crate::proto::valid_domain(domain) {
            return Err(OverrideError::BadDomain(domain.into()));
        }
        let toml::Value::Table(t) = entry else {
            return Err(OverrideError::NotATable);
        };
        let mut tls = true;
        let mut ca = None;
        let mut addresses = Vec::new();
        for (key, value) in t {
            match (key.as_str(), value) {
                ("tls", toml::Value::Boolean(b)) => tls = *b,
                ("tls", _) => return Err(OverrideError::BadTls),
                ("ca", toml::Value::String(s)) => ca = Some(PathBuf::from(s)),
                ("ca", other) => {
                    let why = format!("expected the path of a PEM file, got a {}", other.type_str());
                    return Err(OverrideError::BadCa(why));
                }
                ("address", toml::Value::String(s)) => addresses.push(s.as_str()),
                ("address", toml::Value::Array(items)) => {
                    for item in items {
                        let s = item
                            .as_str()
                            .ok_or_else(|| OverrideError::BadAddress(format!("a {}", item.type_str())))?;
                        addresses.push(s);
                    }
                }
                ("address", other) => {
                    return Err(OverrideError::BadAddress(format!("a {}", other.type_str())));
                }
                (other, _) => return Err(OverrideError::UnknownKey(other.into())),
            }
        }
        if addresses.is_empty() {
            return Err(OverrideError::NoAddress);
        }
        let targets = addresses
            .into_iter()
            .map(|a| host_port(a, tls).ok_or_else(|| OverrideError::BadAddress(a.into())))
            .collect::<Result<_, _>>()?;
        let cas = match ca {
            Some(_) if !tls => {
                let why = "with tls = false there is no certificate to check".to_string();
                return Err(OverrideError::BadCa(why));
            }
            // Read as the server's own certificate is, since a reload reads it again: only a
            // regular file of at most 1 MiB (found in review: a named pipe there blocked the
            // reload thread for good).
            Some(path) => {
                let pem = crate::net::tls::read_pem(&path, "CERTIFICATE")
                    .map_err(|e| OverrideError::BadCa(format!("CA file {e}")))?;
                let certs = crate::tls::ca_certificates_in(&pem, &path);
                Some(certs.map_err(|e| OverrideError::BadCa(e.to_string()))?)
            }
            None => None,
        };
        // An entry replaces the domain's last one whole, its CA (or none) included.
        match cas {
            Some(certs) => self.cas.insert(normalise(domain), certs),
            None => self.cas.remove(&normalise(domain)),
        };
        self.insert(domain, targets);
        Ok(())
    }
}

/// `HOST:PORT` or `[IPv6]:PORT` as a target; the port is required (and not 0).
fn host_port(s: &str, tls: bool) -> Option<Target> {
    let (host, port) = match s.strip_prefix('[') {
        Some(rest) => {
            let (ip, port) = rest.split_once("]:")?;
            ip.parse::<std::net::Ipv6Addr>().ok()?;
            (ip, port)
        }
        None => s.rsplit_once(':').filter(|(h, _)| !h.contains(':'))?,
    };
    let port = port.parse::<u16>().ok().filter(|&p| p != 0)?;
    let valid = host.parse::<IpAddr>().is_ok() || crate::proto::valid_domain(&host.to_ascii_lowercase());
    valid.then(|| Target {
        host: host.to_ascii_lowercase(),
        port,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(priority: u16, weight: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port: 1,
            target: target.into(),
        }
    }

    fn names(records: &[Srv]) -> Vec<&str> {
        records.iter().map(|s| s.target.as_str()).collect()
    }

    #[test]
    fn priority_first_then_weight() {
        let records = vec![srv(20, 0, "c"), srv(10, 1, "b"), srv(10, 3, "a"), srv(5, 0, "z")];
        // pick always the top: the last record of the running sums (the heaviest here) wins.
        assert_eq!(names(&order(records.clone(), &mut |t| t)), ["z", "a", "b", "c"]);
        // pick 0: the first of the running sums with a sum ≥ 0.
        assert_eq!(names(&order(records, &mut |_| 0)), ["z", "b", "a", "c"]);
        // Weight 0 comes first in the sums, so only a pick of 0 chooses it.
        let zero = vec![srv(0, 5, "w"), srv(0, 0, "o")];
        assert_eq!(names(&order(zero.clone(), &mut |_| 0)), ["o", "w"]);
        assert_eq!(names(&order(zero, &mut |_| 1)), ["w", "o"]);
        assert!(order(vec![], &mut |_| 0).is_empty());
    }

    #[test]
    fn weights_are_chances() {
        // Weights 1 and 3, the light one first in the running sums (1, 4). RFC 2782 draws from
        // 0 to 4 inclusive, so the light one wins on 0 and 1, the heavy one on 2, 3 and 4: the
        // heavy one comes first 3 times in 5. The bounds are over 6 standard deviations from
        // that, so this fails only when the order is wrong.
        let (runs, mut heavy) = (4000, 0);
        for _ in 0..runs {
            let o = order(vec![srv(0, 1, "light"), srv(0, 3, "heavy")], &mut random_upto);
            heavy += usize::from(o[0].target == "heavy");
        }
        assert!(
            (2200..=2600).contains(&heavy),
            "heavy first {heavy} times in {runs}"
        );
        // Weight 0 keeps a small chance (1 in 11 against weight 10), never none.
        let zero = (0..2000)
            .filter(|_| order(vec![srv(0, 10, "w"), srv(0, 0, "o")], &mut random_upto)[0].target == "o")
            .count();
        assert!((80..=300).contains(&zero), "weight 0 first {zero} times in 2000");
        // A lower priority always comes first, whatever the weights.
        for _ in 0..100 {
            let o = order(vec![srv(1, 65535, "later"), srv(0, 0, "first")], &mut random_upto);
            assert_eq!(names(&o), ["first", "later"]);
        }
    }

    #[test]
    fn dot_means_no_service() {
        let t = targets(vec![srv(0, 0, ".")], true, &mut |_| 0);
        assert!(t.is_empty());
        let t = targets(vec![srv(0, 0, "."), srv(1, 0, "h.test")], false, &mut |_| 0);
        assert_eq!(
            t,
            [Target {
                host: "h.test".into(),
                port: 1,
                tls: false
            }]
        );
    }

    #[test]
    fn literals_and_overrides_skip_dns() {
        // No nameserver at all: any query would fail.
        let none = Resolver {
            nameservers: vec![],
            timeout: Duration::from_millis(1),
            tries: 1,
        };
        let mut o = Overrides::default();
        o.insert(
            "Foo.Test.",
            vec![Target {
                host: "127.0.0.1".into(),
                port: 7001,
                tls: false,
            }],
        );
        assert_eq!(resolve_with("foo.test", &o, &none).unwrap()[0].port, 7001);
        assert_eq!(resolve("FOO.test.", &o, None).unwrap()[0].port, 7001);
        for lit in ["localhost", "127.0.0.1", "::1", "[::1]"] {
            let t = resolve_with(lit, &o, &none).unwrap();
            assert_eq!((t.len(), t[0].port, t[0].tls), (1, DEFAULT_PORT, false), "{lit}");
        }
        assert_eq!(resolve_with("[::1]", &o, &none).unwrap()[0].addr(), "[::1]:7667");
        assert!(matches!(
            resolve_with("bar.test", &o, &none),
            Err(DiscoveryError::NoNameserver)
        ));
        assert!(matches!(
            resolve_with("bad domain", &o, &none),
            Err(DiscoveryError::BadDomain(_))
        ));
    }

    #[test]
    fn override_table_from_toml() {
        let table: toml::Table = r#"
            [servers."foo.example"]
            address = "127.0.0.1:7001"
            tls = false
            [servers."bar.example"]
            address = ["b1.example:1", "[::1]:2"]
        "#
        .parse()
        .unwrap();
        let mut o = Overrides::default();
        for (domain, entry) in table["servers"].as_table().unwrap() {
            o.insert_toml(domain, entry).unwrap();
        }
        let t = |host: &str, port, tls| Target {
            host: host.into(),
            port,
            tls,
        };
        assert_eq!(o.get("foo.example").unwrap(), [t("127.0.0.1", 7001, false)]);
        assert_eq!(
            o.get("bar.example").unwrap(),
            [t("b1.example", 1, true), t("::1", 2, true)]
        );
        assert_eq!(o.get("baz.example"), None);
        let bad = |toml: &str| {
            let v: toml::Table = toml.parse().unwrap();
            Overrides::default().insert_toml("x.example", &toml::Value::Table(v))
        };
        assert_eq!(bad("tls = true"), Err(OverrideError::NoAddress));
        assert_eq!(bad("address = []"), Err(OverrideError::NoAddress));
        assert_eq!(
            bad("address = \"x.example\""),
            Err(OverrideError::BadAddress("x.example".into()))
        );
        assert!(matches!(
            bad("address = \"x:0\""),
            Err(OverrideError::BadAddress(_))
        ));
        assert!(matches!(
            bad("address = \"::1:5\""),
            Err(OverrideError::BadAddress(_))
        ));
        assert!(matches!(
            bad("address = \"a b:5\""),
            Err(OverrideError::BadAddress(_))
        ));
        assert!(matches!(bad("address = [1]"), Err(OverrideError::BadAddress(_))));
        assert_eq!(bad("address = \"x:1\"\ntls = 1"), Err(OverrideError::BadTls));
        assert_eq!(
            bad("address = \"x:1\"\nport = 1"),
            Err(OverrideError::UnknownKey("port".into()))
        );
        let entry = toml::Value::Table(toml::Table::new());
        assert!(matches!(
            Overrides::default().insert_toml("Not A Domain", &entry),
            Err(OverrideError::BadDomain(_))
        ));
        assert_eq!(
            Overrides::default().insert_toml("x.example", &toml::Value::Integer(1)),
            Err(OverrideError::NotATable)
        );
    }

    #[test]
    fn resolv_conf() {
        let text = "# comment\nsearch example.org\nnameserver 10.0.0.1\n  nameserver ::1\n\
                    nameserver fe80::1%eth0\nnameserver\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n";
        let ns = nameservers(text);
        assert_eq!(
            ns,
            [
                SocketAddr::from(([10, 0, 0, 1], 53)),
                "[::1]:53".parse().unwrap(),
                SocketAddr::from(([10, 0, 0, 2], 53)),
            ]
        );
        assert_eq!(
            parse_resolver("127.0.0.1:5353"),
            Some(SocketAddr::from(([127, 0, 0, 1], 5353)))
        );
        assert_eq!(
            parse_resolver("127.0.0.1"),
            Some(SocketAddr::from(([127, 0, 0, 1], 53)))
        );
        assert_eq!(parse_resolver("[::1]:5"), Some("[::1]:5".parse().unwrap()));
        assert_eq!(parse_resolver("dns.example:53"), None);
    }
}
