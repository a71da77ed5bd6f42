//! scalard's configuration: command-line flags and an optional TOML file with the same keys.
//! Flags win over the file; the file wins over the defaults.

use crate::discovery::Overrides;
use crate::net::tls::PlainPolicy;
use crate::proto::valid_domain;
use crate::server::{AdminPolicy, AuthConfig, Limits, Policy, Rate, ServerBan};
use crate::store::{Fsync, Retention, Rule};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The default port (no port is canonical in Scalar; SRV records name the real one).
pub const DEFAULT_PORT: u16 = 7667;

/// Everything scalard needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// True when `listen` is the default, so an address family the host lacks is not fatal.
    pub default_listen: bool,
    /// Addresses to listen on for TLS.
    pub tls_listen: Vec<SocketAddr>,
    /// The certificate chain (PEM, leaf first) served on `tls_listen`.
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Which peers may use the plain listeners.
    pub plain: PlainPolicy,
    /// The domain this server serves.
    pub domain: String,
    /// Where the history store lives; `None` for the default ([`default_data_dir`]).
    pub data_dir: Option<PathBuf>,
    /// Keep no history at all (IRC-like): Catchup answers "unavailable".
    pub ephemeral: bool,
    /// When a stored Event counts as written.
    pub fsync: Fsync,
    /// How long Events are kept.
    pub retention: Retention,
    /// Limits and timers.
    pub limits: Limits,
    /// Who may take which ID.
    pub auth: AuthConfig,
    /// The static table of other domains' servers (`[servers."DOMAIN"]`), consulted before
    /// DNS by [`crate::discovery::resolve`].
    pub servers: Overrides,
    /// The nameserver to ask for SRV records; `None`: those of /etc/resolv.conf.
    pub resolver: Option<SocketAddr>,
    /// Where the Prometheus metrics endpoint listens; `None`: nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Admit users of any other domain (but `distrust`), on their home server's word.
    pub foreign_any: bool,
    /// Other domains whose users are admitted, on their home server's word.
    pub trust: Vec<Box<str>>,
    /// With `foreign_any`: domains whose users are not.
    pub distrust: Vec<Box<str>>,
    /// How long a token this server issues is good for.
    pub token_lifetime: Duration,
    /// The key that gave each of `trust`, and each of `distrust`, as written (a file's
    /// `trust-domains` or `trust-domain`, the flag `--trust-domain`): an error names it.
    domain_keys: (Vec<Box<str>>, Vec<Box<str>>),
    /// `max-connections` was given: it is not derived from the open-file limit.
    pub max_connections_set: bool,
    /// Admins, server bans and the message of the day: what SIGHUP reloads with the limits.
    pub policy: AdminPolicy,
    /// What the configuration took but should say otherwise, for a start, a check and a reload
    /// to warn of: a ban's range not written as itself, taken as the range it lies in, and a
    /// number or a boolean written as a string (refused, a file that served before would stop a
    /// start after an upgrade: review).
    pub notes: Vec<String>,
}

/// Whether a listener on `b` cannot be bound beside one of scalard's on `a`, as measured on
/// Linux (SO_REUSEADDR on both): the same port and address family, and the same address or
/// either unspecified. scalard's IPv6 listeners hold IPv6 alone (IPV6_V6ONLY,
/// net/sockopt.rs), so `[::]:P` leaves IPv4's `P` free. The metrics listener (`metrics`) is
/// std's, which leaves the host's `net.ipv6.bindv6only` in force: its `[::]` is taken to hold
/// IPv4's port too, as with the default 0 (a check cannot know the host a start will meet),
/// and its IPv4 address written as IPv6 (`[::ffff:127.0.0.1]`) is that IPv4 address.
fn takes_port(a: &SocketAddr, b: &SocketAddr, metrics: bool) -> bool {
    let (x, y) = match metrics {
        true => (a.ip(), b.ip().to_canonical()),
        false => (a.ip(), b.ip()),
    };
    a.port() == b.port()
        && match x.is_ipv4() == y.is_ipv4() {
            true => x == y || x.is_unspecified() || y.is_unspecified(),
            false => metrics && y.is_ipv6() && y.is_unspecified(),
        }
}

/// A TOML syntax error on one line, as a log line must be (a reload's error is logged):
/// `line 2, column 11: unclosed array, expected `]``, not the parser's drawing of the line.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let Some(at) = e.span().map(|s| s.start.min(text.len())) else {
        return e.message().trim().to_string();
    };
    let before = text.get(..at).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
    let message = e.message().trim();
    // The parser's "duplicate key" names none: the span is the key (found by QA).
    let key = e.span().and_then(|s| text.get(s)).map(str::trim);
    match key.filter(|k| message == "duplicate key" && !k.is_empty() && !k.contains('\n')) {
        Some(key) => format!("line {line}, column {column}: duplicate key {key}"),
        None => format!("line {line}, column {column}: {message}"),
    }
}

/// The keys of the configuration file that take a list or a table (handled in `apply_toml`,
/// not `set`).
const LIST_KEYS: [&str; 8] = [
    "listen",
    "tls-listen",
    "retention",
    "admins",
    "bans",
    "trust-domains",
    "distrust-domains",
    "servers",
];

impl Config {
    /// The settings read at start only that `new` changes, by their names in the
    /// configuration: a reload cannot apply them, and says which it left.
    pub fn start_only_changes(&self, new: &Config) -> Vec<&'static str> {
        let differ = [
            ("listen", self.listen != new.listen),
            ("tls-listen", self.tls_listen != new.tls_listen),
            ("tls-cert", self.tls_cert != new.tls_cert),
            ("tls-key", self.tls_key != new.tls_key),
            ("plain", self.plain != new.plain),
            ("domain", self.domain != new.domain),
            ("data-dir", self.data_dir != new.data_dir),
            ("ephemeral", self.ephemeral != new.ephemeral),
            ("fsync", self.fsync != new.fsync),
            ("servers", self.servers != new.servers),
            ("resolver", self.resolver != new.resolver),
            ("metrics-listen", self.metrics_listen != new.metrics_listen),
            ("foreign", self.foreign_any != new.foreign_any),
            // A reload's change is the file's.
            ("trust-domains", self.trust != new.trust),
            ("distrust-domains", self.distrust != new.distrust),
            ("token-lifetime", self.token_lifetime != new.token_lifetime),
        ];
        named(differ)
    }

    /// The settings given (not left at their defaults) that an ephemeral server, which keeps
    /// nothing, has no use for, by their names in the configuration.
    pub fn unused_when_ephemeral(&self) -> Vec<&'static str> {
        let default = Config::default();
        named([
            ("data-dir", self.data_dir.is_some()),
            ("fsync", self.fsync != default.fsync),
            (
                "history-max-events",
                self.retention.default.max_events != default.retention.default.max_events,
            ),
            (
                "history-max-days",
                self.retention.default.max_age != default.retention.default.max_age,
            ),
            ("[retention]", !self.retention.topics.is_empty()),
            (
                "kept-channel-days",
                self.limits.kept_idle != default.limits.kept_idle,
            ),
        ])
    }
}

/// The names whose flag is set.
fn named<const N: usize>(flags: [(&'static str, bool); N]) -> Vec<&'static str> {
    flags
        .into_iter()
        .filter(|&(_, set)| set)
        .map(|(name, _)| name)
        .collect()
}

/// `off`, or two whole numbers of at least 1 written `A,B`, as `form` names them.
fn parse_pair(name: &str, value: &str, form: &str) -> Result<Option<(u32, u32)>, ConfigError> {
    if value == "off" {
        return Ok(None);
    }
    let parsed = value
        .split_once(',')
        .and_then(|(a, b)| Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((a, b)) if a > 0 && b > 0 => Ok(Some((a, b))),
        _ => Err(bad(
            name,
            format!("expected {form} (both at least 1) or off, got {value:?}"),
        )),
    }
}

/// A rate written `PER_SEC,BURST` (`5,20`: five a second, twenty at once), or `off`.
fn parse_rate(name: &str, value: &str) -> Result<Option<Rate>, ConfigError> {
    Ok(parse_pair(name, value, "PER_SEC,BURST")?.map(|(per_sec, burst)| Rate::new(per_sec, burst)))
}

/// An away-inbox limit written `BURST,SECS` (`100,36`: a hundred at once, then one every 36
/// seconds), or `off`.
fn parse_inbox_limit(name: &str, value: &str) -> Result<Option<(u32, Duration)>, ConfigError> {
    let pair = parse_pair(name, value, "BURST,SECS")?;
    Ok(pair.map(|(burst, secs)| (burst, Duration::from_secs(u64::from(secs)))))
}

/// The default per-topic retention: the newest 100,000 Events of each topic, however old.
pub const DEFAULT_MAX_EVENTS: u64 = 100_000;

/// The most `max-subs` may be. A connection's subscriptions are a list, looked through at each
/// Sub: small, as a connection's memory must be, it costs a connection that fills it time
/// quadratic in its length, which the loop spends (found by QA: with `--max-subs 100000`, one
/// connection's second 30,000 Subs took 404 s of a debug build's loop).
pub const MAX_SUBS: usize = 10_000;

/// Where history lives when `--data-dir` is not given: `$STATE_DIRECTORY` (set by systemd's
/// `StateDirectory=`), else `$XDG_DATA_HOME/scalard` (if absolute), else
/// `~/.local/share/scalard`.
pub fn default_data_dir() -> Option<PathBuf> {
    let var = |k| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = var("STATE_DIRECTORY") {
        // systemd may list several directories, separated by colons; the first is ours.
        let first = d
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        return Some(PathBuf::from(first));
    }
    // The XDG spec has relative values ignored: they would move with the working directory.
    var("XDG_DATA_HOME")
        .filter(|d| d.is_absolute())
        .map(|d| d.join("scalard"))
        .or_else(|| var("HOME").map(|h| h.join(".local/share/scalard")))
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec![
                SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, DEFAULT_PORT)),
            ],
            default_listen: true,
            tls_listen: Vec::new(),
            tls_cert: None,
            tls_key: None,
            plain: PlainPolicy::Any,
            domain: "localhost".into(),
            data_dir: None,
            ephemeral: false,
            fsync: Fsync::Batched,
            retention: Retention {
                default: Rule {
                    max_events: Some(DEFAULT_MAX_EVENTS),
                    max_age: None,
                },
                topics: Default::default(),
            },
            limits: Limits::default(),
            auth: AuthConfig::default(),
            servers: Overrides::default(),
            resolver: None,
            metrics_listen: None,
            foreign_any: false,
            max_connections_set: false,
            policy: AdminPolicy::default(),
            notes: Vec::new(),
            trust: Vec::new(),
            distrust: Vec::new(),
            token_lifetime: Duration::from_millis(crate::server::TOKEN_LIFETIME_MS),
            domain_keys: (Vec::new(), Vec::new()),
        }
    }
}

/// Why the configuration was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `--help` was asked for.
    Help,
    /// `--version` was asked for.
    Version,
    /// A flag or key this program does not know.
    Unknown(String),
    /// An argument that is not a flag, where a flag was expected.
    Stray(String),
    /// A flag or key's value is missing or invalid.
    BadValue {
        /// The flag or key.
        key: String,
        /// What was wrong.
        why: String,
    },
    /// The config file could not be read or parsed.
    File(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Help => f.write_str(USAGE),
            // What an operator matches a binary against before an upgrade or a way back:
            // the store's schema (an older scalard refuses a newer file) and the protocol.
            ConfigError::Version => write!(
                f,
                "scalard {} (commit {}, protocol version {}, store schema version {})",
                env!("CARGO_PKG_VERSION"),
                env!("SCALAR_COMMIT"),
                crate::proto::VERSION,
                crate::store::sqlite::SCHEMA_VERSION
            ),
            ConfigError::Unknown(k) => write!(f, "unknown option {k} (see --help)"),
            ConfigError::Stray(a) => {
                write!(f, "unexpected argument {a:?}: options start with -- (see --help)")
            }
            ConfigError::BadValue { key, why } => write!(f, "{key}: {why}"),
            ConfigError::File(e) => write!(f, "config file: {e}"),
        }
    }
}

/// Whether `key` names a setting: a flag without its dashes, or a file key.
fn knows(key: &str) -> bool {
    LIST_KEYS.contains(&key) || !matches!(Config::default().set(key, "", key), Err(ConfigError::Unknown(_)))
}

/// Whether `key` takes any text (a path, a name, the message of the day), so that a number
/// or a boolean given for it in the file is a slip (`motd = 5`), not a value to take as text.
fn takes_text(key: &str) -> bool {
    !LIST_KEYS.contains(&key) && Config::default().set(key, "x", key).is_ok()
}

/// The note for `value`, a string the file gave `key` where a number or a boolean belongs
/// (`max-connections = "2"`, `ephemeral = "true"`, a retention table's `"5000"`), when it is
/// one: taken, as a flag's value is, but said, so that the file gets mended. One rule for every
/// key, top-level or in a table. Only a number a TOML integer holds: a larger one can only be
/// written as a string.
fn quoted_note(key: &str, value: &str) -> Option<String> {
    let bare = match value.parse::<i64>() {
        Ok(n) => n.to_string(),
        Err(_) => value.parse::<bool>().ok()?.to_string(),
    };
    Some(format!(
        "{key}: {value:?} is a string; write it without quotes ({key} = {bare})"
    ))
}

/// The --help text.
pub const USAGE: &str = "\
scalard: the Scalar chat server

usage: scalard [OPTIONS]
       scalard account add|del|passwd ID [--data-dir DIR] [--domain D | --config FILE]
                            (password of 8 characters or more, from a prompt, or
                            from stdin when it is not a terminal; del of an owner
                            of kept channels needs --force, and ends them)
       scalard account list [--data-dir DIR | --config FILE]
       scalard ban list|del [BAN] [--data-dir DIR] [--domain D | --config FILE]   (the server
                            bans admins saved; del needs scalard stopped)
       scalard compact [--data-dir DIR | --config FILE]   (with scalard stopped: rewrites
                            the store so that deleted messages are gone from the file)
       scalard backup FILE|DIR [--data-dir DIR | --config FILE]   (beside a running
                            server: a consistent copy of the store, mode 0600, into
                            a new FILE or a dated file in DIR)
       scalard restore FILE [--data-dir DIR | --config FILE]   (with scalard stopped:
                            puts a backup in place of the store, which is kept
                            aside in the data directory's before-restore-TIME/)
       scalard salvage FILE|DIR [--data-dir DIR | --config FILE]   (what a damaged
                            store still holds, copied into a new store, mode 0600,
                            saying what was lost; then scalard restore it)
       scalard check [--integrity] [OPTIONS]   (reads the options, the configuration
                            file, the TLS files and the store's header as a start
                            would, says what it found, and exits: 0 if a server run
                            as this user would start on them, as far as they go: a
                            damaged page of the store is found only by --integrity,
                            which reads every page and row)

  --listen ADDR             listen on ADDR (repeatable; IPv4 or [IPv6]:port)
                            default 127.0.0.1:7667 and [::1]:7667
  --tls-listen ADDR         listen for TLS on ADDR (repeatable; needs --tls-cert
                            and --tls-key); SIGHUP reloads the certificate
  --tls-cert FILE           certificate chain, PEM, leaf first (fullchain.pem)
  --tls-key FILE            its private key, PEM (privkey.pem)
  --plain any|loopback      who may use the plain --listen addresses (default
                            any; loopback: remote peers must use TLS)
  --domain DOMAIN           the domain served (default localhost)
  --config FILE             TOML file with the same keys, e.g. max-subs = 64
  --data-dir DIR            where history is kept (default $STATE_DIRECTORY,
                            else $XDG_DATA_HOME/scalard if absolute,
                            else ~/.local/share/scalard)
  --ephemeral               keep no history (Catchup answers \"unavailable\")
  --fsync MODE              batched (default: commits every 100 ms at most) or
                            always (the echo waits until the Event is on disk)
  --history-max-events N    Events kept per topic (default 100000; 0: no limit)
  --history-max-days N      days an Event is kept (default: no limit); the file's
                            [retention.\"TOPIC\"] tables set both for one topic
  --trust-domain D          admit users of domain D (repeatable) on their home
                            server's word (a token it vouches for)
  --foreign any             admit users of every other domain that way, but
  --distrust-domain D       those of D (repeatable)
  --token-lifetime SECS     how long tokens for other servers last (default 300)
  --auth POLICY             who may take an unregistered ID without a password:
                            open (default: anyone, as asked), guests (the server
                            assigns guest-MMMMMM-NAME-RRRRRR), accounts (nobody)
  --registration MODE       closed (default) or open: clients may create accounts
  --max-accounts N          accounts past which clients may not register more
                            (default 100000; scalard account add still may)
  --max-connections N       connections in all (default: the open-file limit
                            less 64, at most 16384)
  --max-per-address N       connections per IP address or IPv6 /64 (default 32)
  --max-per-subnet N        connections per IPv4 /24 or IPv6 /48 (default 128)
  --connect-rate R,B        new connections per second per network (IPv4 /24,
                            IPv6 /48), burst B (default 10,32; off: no limit)
  --flood-messages R,B      Messages per second per connection, burst B (default
                            5,20); beyond it input waits (off: no limit)
  --flood-id-messages R,B   the same per user ID over all its connections
                            (default 10,40)
  --flood-bytes R,B         bytes per second per connection (default
                            32768,131072)
  --flood-timeout SECS      how long a held connection may keep 16 KiB unread
                            before it is closed with 506 flooding (default 10)
  --away-inbox-limit B,S    direct messages one sender (an account; others by
                            network) may leave in an away account's inbox: B at
                            once, then one every S seconds (default 100,36; off)
  --flood off               every flood and connection-rate limit off, and
                            --away-inbox-limit
  --admin ID                a server admin (repeatable; a bare name is of --domain;
                            must log in with a password to act): bans, !wall,
                            !motd, runs every channel
  --ban PATTERN|RANGE       ban an ID pattern (*@spam.example) or an address
                            range (192.0.2.0/24) server-wide (repeatable)
  --motd TEXT               the message of the day, sent after every Ident
                            (SIGHUP re-reads the admins, bans, motd and limits)
  --max-subs N              subscriptions per connection (default 64, at most 10000)
  --kept-channel-days N     days a kept channel (one whose owner logged in) may go
                            without subscribers before it is forgotten (default 90;
                            0: never)
  --max-queue BYTES         output queued behind a full write buffer (default 262144)
  --send-buffer BYTES       kernel send buffer per connection (default 65536;
                            0: the kernel's autotuning)
  --handshake-timeout SECS  time to send Ident (default 10)
  --idle-timeout SECS       silence before the server pings (default 60)
  --ping-timeout SECS       time to answer a ping (default 30)
  --join-rush SECS          after starting, how long channels' join rates hold
                            nobody, while everyone reconnects (default 60; 0: none)
  --metrics-listen ADDR     serve Prometheus metrics at http://ADDR/metrics (off
                            by default; use a private address, e.g. 127.0.0.1:9667)
  --resolver IP[:PORT]      the nameserver asked for other domains' SRV records
                            (default: those of /etc/resolv.conf)
                            (the file's [servers.\"DOMAIN\"] tables come first:
                            see docs/OPERATIONS.md)
  -h, --help                this text
  -V, --version             the version

Logging: RUST_LOG=debug (default info) to stderr.";

fn bad(key: &str, why: impl fmt::Display) -> ConfigError {
    ConfigError::BadValue {
        key: key.into(),
        why: why.to_string(),
    }
}

impl Config {
    /// Builds the configuration from command-line arguments (without the program name).
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Config, ConfigError> {
        Config::read(args, None)
    }

    /// [`from_args`](Config::from_args) again, for a running server that serves `domain`: a
    /// change of domain waits for a restart, so bare names in admins and bans are of `domain`,
    /// not of the one the file now names.
    pub fn reread<I: IntoIterator<Item = String>>(args: I, domain: &str) -> Result<Config, ConfigError> {
        Config::read(args, Some(domain))
    }

    fn read<I: IntoIterator<Item = String>>(args: I, serving: Option<&str>) -> Result<Config, ConfigError> {
        use lexopt::prelude::*;
        let mut parser = lexopt::Parser::from_args(args);
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut file = None;
        while let Some(arg) = parser.next().map_err(|e| bad("arguments", e))? {
            match arg {
                Short('h') | Long("help") => return Err(ConfigError::Help),
                Short('V') | Long("version") => return Err(ConfigError::Version),
                Long("config") => file = Some(parser.value().map_err(|e| bad("--config", e))?),
                Long("ephemeral") => pairs.push(("ephemeral".into(), "true".into())),
                Long(key) => {
                    let key = key.to_string();
                    // Before asking for its value, or a misspelt switch would be "missing
                    // argument".
                    if !knows(&key) {
                        return Err(ConfigError::Unknown(format!("--{key}")));
                    }
                    let value = parser.value().map_err(|e| bad(&format!("--{key}"), e))?;
                    let value = value
                        .into_string()
                        .map_err(|_| bad(&format!("--{key}"), "not UTF-8"))?;
                    pairs.push((key, value));
                }
                Short(c) => return Err(ConfigError::Unknown(format!("-{c}"))),
                Value(v) => return Err(ConfigError::Stray(v.to_string_lossy().into_owned())),
            }
        }
        let mut config = Config::default();
        if let Some(path) = file {
            // At start anything readable will do (`--config <(...)`); on reload only a regular
            // file, which cannot block the reload for good.
            let text = match serving {
                Some(_) => crate::regular::open(path.as_ref()).and_then(std::io::read_to_string),
                None => std::fs::read_to_string(&path),
            }
            .map_err(|e| ConfigError::File(format!("{}: {e}", path.to_string_lossy())))?;
            // Every error names the file: the same key may be a flag too.
            config.apply_toml(&text).map_err(|e| {
                let why = match e {
                    ConfigError::File(why) => why,
                    ConfigError::Unknown(key) => format!("unknown key {key}"),
                    e => e.to_string(),
                };
                ConfigError::File(format!("{}: {why}", path.to_string_lossy()))
            })?;
        }
        let mut listen_flags = Vec::new();
        let mut tls_flags = Vec::new();
        for (key, value) in pairs {
            match key.as_str() {
                "listen" => listen_flags.push(parse_listen("--listen", &value)?),
                "tls-listen" => tls_flags.push(parse_listen("--tls-listen", &value)?),
                _ => config.set(&key, &value, &format!("--{key}"))?,
            }
        }
        if !listen_flags.is_empty() {
            config.listen = listen_flags;
            config.default_listen = false;
        }
        if !tls_flags.is_empty() {
            config.tls_listen = tls_flags;
        }
        let domain = serving.map_or_else(|| config.domain.clone(), str::to_string);
        config.complete_names(&domain)?;
        if let Some(why) = config.policy.bans.iter().find_map(|b| b.bans_everyone(&domain)) {
            return Err(bad("--ban or bans (config file)", why));
        }
        config.check(&domain)?;
        Ok(config)
    }

    /// Gives the admins, banned IDs and retention topics named without a domain the domain
    /// served, `domain`. A topic named both ways is refused: which rule was meant?
    fn complete_names(&mut self, domain: &str) -> Result<(), ConfigError> {
        let bare: Vec<Box<str>> = self
            .retention
            .topics
            .keys()
            .filter(|t| t.ends_with('@'))
            .cloned()
            .collect();
        for topic in bare {
            let full: Box<str> = format!("{topic}{domain}").into();
            if self.retention.topics.contains_key(&full) {
                return Err(bad(
                    &format!("retention.{full:?}"),
                    format!("given twice, also as {:?}", topic.trim_end_matches('@')),
                ));
            }
            if let Some(rule) = self.retention.topics.remove(&topic) {
                self.retention.topics.insert(full, rule);
            }
        }
        for admin in &mut self.policy.admins {
            if !admin.contains('@') {
                *admin = format!("{admin}@{domain}").into();
            }
        }
        for ban in &mut self.policy.bans {
            if let ServerBan::Id(id) = ban
                && id.ends_with('@')
            {
                *id = format!("{id}{domain}").into();
            }
        }
        // `["root", "Root", "root@DOMAIN"]` is one admin, and said so by check and the reload
        // line (found by QA: "3 admin(s)").
        let mut seen = std::collections::HashSet::new();
        self.policy.admins.retain(|a| seen.insert(a.clone()));
        let mut bans: Vec<ServerBan> = Vec::new();
        for ban in std::mem::take(&mut self.policy.bans) {
            if !bans.contains(&ban) {
                bans.push(ban);
            }
        }
        self.policy.bans = bans;
        Ok(())
    }

    /// Which other domains' users are admitted.
    pub fn foreign(&self) -> crate::server::Foreign {
        use crate::server::Foreign;
        let set = |v: &[Box<str>]| v.iter().cloned().collect();
        match (self.foreign_any, self.trust.is_empty()) {
            (true, _) => Foreign::Deny(set(&self.distrust)),
            (false, false) => Foreign::Allow(set(&self.trust)),
            (false, true) => Foreign::None,
        }
    }

    /// Checks what single keys cannot: that there is something to listen on, that accounts
    /// have a data directory to live in, and that TLS listeners and their certificate come
    /// together. Before anything is bound, so a mistake is reported as itself even when the
    /// port is taken. Retention rules must be of `serving`, the domain served: the file's at
    /// start; on a reload that changes it (which waits for a restart), the one still served,
    /// whose bare names were completed with it.
    fn check(&self, serving: &str) -> Result<(), ConfigError> {
        // Its own domain in a list of others is a mistake, not a setting: its users are never
        // admitted as foreign, nor their server looked up (found by QA: accepted silently).
        let own = |list: &[Box<str>]| list.iter().position(|d| **d == *self.domain);
        let named = [
            own(&self.trust).map(|at| self.domain_key(false, at)),
            own(&self.distrust).map(|at| self.domain_key(true, at)),
            self.servers.get(&self.domain).map(|_| "servers"),
        ];
        if let Some(key) = named.into_iter().flatten().next() {
            return Err(bad(
                key,
                format!(
                    "{} is this server's own domain, whose users are its own",
                    self.domain
                ),
            ));
        }
        if self.foreign_any && !self.trust.is_empty() {
            let key = self.domain_key(false, 0);
            // The other list as the same place spells it, file or flags.
            let other = key.replacen("trust", "distrust", 1);
            return Err(bad(
                key,
                format!("lists the domains to admit; with foreign = any, list the others with {other}"),
            ));
        }
        if !self.foreign_any && !self.distrust.is_empty() {
            return Err(bad(
                self.domain_key(true, 0),
                "only means something with foreign = any",
            ));
        }
        if self.listen.is_empty() && self.tls_listen.is_empty() {
            return Err(bad("listen", "no address to listen on"));
        }
        self.retention_of(serving)?;
        // Port 0 is a fresh port each time, never the same address twice.
        let mut all: Vec<SocketAddr> = self
            .listen
            .iter()
            .chain(&self.tls_listen)
            .filter(|a| a.port() != 0)
            .copied()
            .collect();
        all.sort_unstable();
        if let Some(twice) = all.windows(2).find_map(|w| match w {
            [a, b] if a == b => Some(*a),
            _ => None,
        }) {
            return Err(match self.default_listen {
                // Given once, as tls-listen: it is the plain default too.
                true => bad(
                    "tls-listen",
                    format!("{twice} is also a default (plain) listen address: give --listen too"),
                ),
                false => bad("listen", format!("{twice} is given twice")),
            });
        }
        // Found by QA: it passed `scalard check`, then the start failed to bind it (exit 1,
        // which systemd restarts, not 2, which it does not). An unspecified address holds
        // its port on every address of its family (review: 0.0.0.0:P beside 127.0.0.1:P;
        // found in a walk-through: among the listeners themselves too).
        let overlap = all.iter().enumerate().find_map(|(i, a)| {
            let later = all.get(i + 1..)?;
            later.iter().find(|b| takes_port(a, b, false)).map(|b| (*a, *b))
        });
        if let Some((a, b)) = overlap {
            let key = match self.tls_listen.contains(&a) || self.tls_listen.contains(&b) {
                true => "tls-listen",
                false => "listen",
            };
            let wide = if a.ip().is_unspecified() { a } else { b };
            let given = [a, b]
                .into_iter()
                .find(|x| self.default_listen && self.listen.contains(x));
            let hint = given
                .map(|d| format!(" ({d} is a default (plain) listen address: give --listen too)"))
                .unwrap_or_default();
            return Err(bad(
                key,
                format!(
                    "{a} and {b} take the same port: {wide} holds it on every address of its \
                     family{hint}"
                ),
            ));
        }
        if let Some(m) = self.metrics_listen.filter(|m| m.port() != 0)
            && let Some(a) = all.iter().find(|a| takes_port(a, &m, true))
        {
            return Err(bad(
                "metrics-listen",
                format!("{m} takes the port of listen address {a}"),
            ));
        }
        if self.ephemeral && (self.auth.policy == Policy::Accounts || self.auth.registration) {
            return Err(bad(
                "ephemeral",
                "accounts live in the data directory: --auth accounts and --registration open need it",
            ));
        }
        let files = (self.tls_cert.is_some(), self.tls_key.is_some());
        match (self.tls_listen.is_empty(), files) {
            (false, (true, true)) | (true, (false, false)) => Ok(()),
            (false, _) => Err(bad("tls-listen", "needs both tls-cert and tls-key")),
            (true, _) => Err(bad(
                "tls-cert",
                "tls-cert and tls-key are only used with tls-listen",
            )),
        }
    }

    /// The key that gave the `at`th domain of `trust` (of `distrust` if `distrust`), as it was
    /// written: `trust-domains` in the file, `--trust-domain` on the command line (found in a
    /// walk-through: a file's `trust-domains` was called `trust-domain`).
    fn domain_key(&self, distrust: bool, at: usize) -> &str {
        let (keys, key) = match distrust {
            false => (&self.domain_keys.0, "trust-domain"),
            true => (&self.domain_keys.1, "distrust-domain"),
        };
        keys.get(at).map_or(key, |k| k)
    }

    /// Applies a TOML document's keys.
    pub fn apply_toml(&mut self, text: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::File(toml_error(text, &e)))?;
        for (key, value) in table {
            match (key.as_str(), value) {
                ("listen", toml::Value::Array(items)) => {
                    self.listen = items
                        .iter()
                        .map(|v| v.as_str().ok_or_else(|| bad("listen", "expected strings")))
                        .map(|s| s.and_then(|s| parse_listen("listen", s)))
                        .collect::<Result<_, _>>()?;
                    self.default_listen = false;
                }
                ("listen", toml::Value::String(s)) => {
                    self.listen = vec![parse_listen("listen", &s)?];
                    self.default_listen = false;
                }
                ("tls-listen", toml::Value::Array(items)) => {
                    self.tls_listen = items
                        .iter()
                        .map(|v| v.as_str().ok_or_else(|| bad("tls-listen", "expected strings")))
                        .map(|s| s.and_then(|s| parse_listen("tls-listen", s)))
                        .collect::<Result<_, _>>()?;
                }
                ("tls-listen", toml::Value::String(s)) => {
                    self.tls_listen = vec![parse_listen("tls-listen", &s)?];
                }
                ("retention", toml::Value::Table(topics)) => {
                    for (topic, rule) in topics {
                        self.topic_rule(&topic, rule)?;
                    }
                }
                (
                    "admins" | "bans" | "trust-domains" | "distrust-domains",
                    v @ (toml::Value::Array(_) | toml::Value::String(_)),
                ) => {
                    // Each item as its flag takes it (--admin, --ban, ...), its errors under the
                    // file's key. One string is a list of one, as for `listen` (found by QA:
                    // `listen = "ADDR"` was taken, `admins = "root"` refused).
                    let items = match v {
                        toml::Value::Array(items) => items,
                        one => vec![one],
                    };
                    let one = key.trim_end_matches('s');
                    for v in items {
                        let item = v.as_str().ok_or_else(|| bad(&key, "expected strings"))?;
                        self.set(one, item, &key)?;
                    }
                }
                ("servers", toml::Value::Table(domains)) => {
                    for (domain, entry) in domains {
                        let name = format!("servers.{domain:?}");
                        let domain = self.fold_domain(&name, &domain);
                        self.servers
                            .insert_toml(&domain, &entry)
                            .map_err(|e| bad(&name, e))?;
                    }
                }
                (k, other) if LIST_KEYS.contains(&k) => {
                    let want = match k {
                        "retention" | "servers" => "a table",
                        "listen" | "tls-listen" => "an address or a list of them",
                        _ => "a string or a list of them",
                    };
                    return Err(bad(
                        k,
                        format!("unexpected {}: expected {want}", other.type_str()),
                    ));
                }
                (_, toml::Value::String(s)) => {
                    self.set(&key, &s, &key)?;
                    if !takes_text(&key) {
                        self.notes.extend(quoted_note(&key, &s));
                    }
                }
                (_, v @ (toml::Value::Integer(_) | toml::Value::Boolean(_))) if takes_text(&key) => {
                    let text = match &v {
                        toml::Value::Integer(i) => i.to_string(),
                        other => other.as_bool().unwrap_or_default().to_string(),
                    };
                    let why = format!(
                        "unexpected {}: expected a string (quote it: \"{text}\")",
                        v.type_str()
                    );
                    return Err(bad(&key, why));
                }
                (_, toml::Value::Integer(i)) => self.set(&key, &i.to_string(), &key)?,
                (_, toml::Value::Boolean(b)) => self.set(&key, &b.to_string(), &key)?,
                (_, other) => {
                    // An unknown key is that, whatever its value (a misspelt list included);
                    // the keys above take lists or tables, the rest single values.
                    if !knows(&key) {
                        return Err(ConfigError::Unknown(key));
                    }
                    // The flag's name given a list (found by QA: `admin = ["zoe"]`).
                    let plural = format!("{key}s");
                    let many = matches!(other, toml::Value::Array(_) | toml::Value::Table(_));
                    let hint = match (many, LIST_KEYS.contains(&plural.as_str())) {
                        (false, _) => String::new(),
                        (true, true) => format!(": a list goes in {plural} = [...]"),
                        (true, false) => ": this key takes one value, as its flag does (see --help)".into(),
                    };
                    return Err(bad(&key, format!("unexpected {}{hint}", other.type_str())));
                }
            }
        }
        Ok(())
    }

    /// A `[retention."#topic@domain"]` table: the topic's own `history-max-events` and
    /// `history-max-days`. It replaces the default rule for that topic: a key it leaves out
    /// means no limit, whatever order the file and flags come in.
    fn topic_rule(&mut self, topic: &str, rule: toml::Value) -> Result<(), ConfigError> {
        let key = format!("retention.{topic:?}");
        // A bare name (`#ops`) is of the domain served, as an admin's: checked with a stand-in
        // domain, kept with a bare `@` until the domain is known (`complete_names`).
        let bare = !topic.contains('@');
        let named = match bare {
            true => format!("{topic}@example.org"),
            false => topic.to_string(),
        };
        match crate::proto::Name::parse(&named) {
            Ok(n) if n.kind() == crate::proto::Kind::Reserved => {
                return Err(bad(&key, "a reserved name, which keeps no history"));
            }
            Ok(_) => {}
            // Names are lowercase on the wire: say so rather than only that it is not one.
            Err(_) if crate::proto::Name::parse(&named.to_lowercase()).is_ok() => {
                return Err(bad(
                    &key,
                    format!("names are lowercase: {:?}", topic.to_lowercase()),
                ));
            }
            Err(_) => {
                return Err(bad(
                    &key,
                    "not a topic name like \"#ops\" or \"#ops@example.org\"",
                ));
            }
        }
        let toml::Value::Table(t) = rule else {
            return Err(bad(&key, "expected a table"));
        };
        let mut r = Rule::default();
        for (k, v) in t {
            // The key first: a misspelt one is named as unknown whatever its value.
            if !matches!(k.as_str(), "history-max-events" | "history-max-days") {
                return Err(ConfigError::Unknown(format!("{key}.{k}")));
            }
            let name = format!("{key}.{k}");
            let n = match &v {
                toml::Value::String(s) => {
                    let n = s.parse::<u64>().ok();
                    if n.is_some() {
                        self.notes.extend(quoted_note(&name, s));
                    }
                    n
                }
                v => v.as_integer().and_then(|n| u64::try_from(n).ok()),
            }
            .ok_or_else(|| bad(&name, "expected a whole number"))?;
            if k == "history-max-events" {
                r.max_events = (n > 0).then_some(n);
            } else {
                r.max_age = days(n);
            }
        }
        let topic = match bare {
            true => format!("{topic}@"),
            false => topic.to_string(),
        };
        self.retention.topics.insert(topic.into(), r);
        Ok(())
    }

    /// Refuses retention rules for topics of another domain than `domain`.
    fn retention_of(&self, domain: &str) -> Result<(), ConfigError> {
        let foreign = |t: &str| crate::proto::Name::parse(t).is_ok_and(|n| n.domain() != domain);
        match self.retention.topics.keys().find(|t| foreign(t)) {
            Some(topic) => Err(bad(
                &format!("retention.{topic:?}"),
                format!("a topic of another domain: this server ({domain}) keeps only its own"),
            )),
            None => Ok(()),
        }
    }

    /// The domain `value`, given as `name`, in lowercase. DNS names ignore case and Scalar's
    /// are lowercase (PROTOCOL.md §5, as IDs are folded where typed): a domain written with
    /// capitals is that domain, taken folded with a note, as a quoted number is (found in a
    /// walk-through: `--domain Chat.Example.ORG` was refused). What is no domain in any case
    /// is left as it is, for the caller to refuse.
    fn fold_domain(&mut self, name: &str, value: &str) -> String {
        let folded = value.to_ascii_lowercase();
        if folded != value && valid_domain(&folded) {
            self.notes.push(format!(
                "{name}: {value:?} is taken as {folded} (names are lowercase); write it so"
            ));
            return folded;
        }
        value.to_string()
    }

    /// Sets `key` to `value`, given as `name` (`--key` for a flag; a list's item under the
    /// file's plural key), the name its errors give.
    fn set(&mut self, key: &str, value: &str, name: &str) -> Result<(), ConfigError> {
        let folded;
        let value = match matches!(key, "domain" | "trust-domain" | "distrust-domain") {
            true => {
                folded = self.fold_domain(name, value);
                folded.as_str()
            }
            false => value,
        };
        let num = || {
            value
                .parse::<u64>()
                .map_err(|_| bad(name, format!("expected a whole number, got {value:?}")))
        };
        let count = || num().and_then(|n| usize::try_from(n).map_err(|_| bad(name, "too large")));
        // For a limit or a timer of which 0 would lock everyone out (every connection refused,
        // closed or pinged at once) rather than turn it off.
        let at_least_1 = |n: u64| match n {
            0 => Err(bad(name, "must be at least 1")),
            n => Ok(n),
        };
        let count1 = || {
            num()
                .and_then(at_least_1)
                .and_then(|n| usize::try_from(n).map_err(|_| bad(name, "too large")))
        };
        let secs1 = || num().and_then(at_least_1).map(Duration::from_secs);
        let l = &mut self.limits;
        match key {
            "domain" if valid_domain(value) => self.domain = value.into(),
            "domain" => return Err(bad(name, "must be a DNS name, like chat.example.org")),
            "data-dir" | "tls-cert" | "tls-key" if value.is_empty() => {
                return Err(bad(name, "an empty path"));
            }
            "data-dir" => self.data_dir = Some(value.into()),
            "tls-cert" => self.tls_cert = Some(value.into()),
            "tls-key" => self.tls_key = Some(value.into()),
            "plain" => {
                self.plain = match value {
                    "any" => PlainPolicy::Any,
                    "loopback" => PlainPolicy::Loopback,
                    _ => return Err(bad(name, format!("expected any or loopback, got {value:?}"))),
                }
            }
            "ephemeral" => {
                self.ephemeral = value
                    .parse()
                    .map_err(|_| bad(name, format!("expected true or false, got {value:?}")))?
            }
            "fsync" => {
                self.fsync = Fsync::ALL
                    .into_iter()
                    .find(|f| f.name() == value)
                    .ok_or_else(|| bad(name, expected_one_of(Fsync::ALL.map(Fsync::name), value)))?
            }
            "history-max-events" => self.retention.default.max_events = Some(num()?).filter(|&n| n > 0),
            "history-max-days" => self.retention.default.max_age = days(num()?),
            "auth" => {
                self.auth.policy = Policy::ALL
                    .into_iter()
                    .find(|p| p.name() == value)
                    .ok_or_else(|| bad(name, expected_one_of(Policy::ALL.map(Policy::name), value)))?
            }
            "registration" => {
                self.auth.registration = match value {
                    "open" => true,
                    "closed" => false,
                    _ => return Err(bad(name, format!("expected open or closed, got {value:?}"))),
                }
            }
            "max-connections" => {
                l.max_connections = count1()?;
                self.max_connections_set = true;
            }
            "max-per-address" => l.max_per_address = count1()?,
            // Never below max-per-address (Limits), so 0 refuses nobody.
            "max-per-subnet" => l.max_per_subnet = count()?,
            "connect-rate" => l.connect_rate = parse_rate(name, value)?,
            "flood-messages" => l.messages = parse_rate(name, value)?,
            "flood-id-messages" => l.id_messages = parse_rate(name, value)?,
            "flood-bytes" => l.bytes = parse_rate(name, value)?,
            "flood-timeout" => l.flood_timeout = secs1()?,
            "away-inbox-limit" => l.away_inbox = parse_inbox_limit(name, value)?,
            "flood" if value == "off" => *l = l.clone().without_flood_limits(),
            "flood" => return Err(bad(name, format!("the one value is off, got {value:?}"))),
            // 0 is a server for direct messages only: they need no Sub.
            "max-subs" => {
                let n = count()?;
                if n > MAX_SUBS {
                    self.notes.push(format!(
                        "{name}: {n} is past the most, {MAX_SUBS}; it is taken as {MAX_SUBS}"
                    ));
                }
                l.max_subs = n.min(MAX_SUBS);
            }
            "max-accounts" => l.max_accounts = count()?,
            "kept-channel-days" => {
                let days = num()?;
                l.kept_idle = (days > 0).then(|| Duration::from_secs(days.saturating_mul(86_400)));
            }
            "max-queue" => l.max_queue = count()?,
            "send-buffer" => l.send_buffer = count()?,
            "handshake-timeout" => l.handshake_timeout = secs1()?,
            "idle-timeout" => l.idle_timeout = secs1()?,
            "ping-timeout" => l.ping_timeout = secs1()?,
            "join-rush" => l.join_rush = Duration::from_secs(num()?),
            "foreign" => {
                self.foreign_any = match value {
                    "none" => false,
                    "any" => true,
                    _ => return Err(bad(name, format!("expected none or any, got {value:?}"))),
                }
            }
            "trust-domain" | "distrust-domain" => {
                if !valid_domain(value) {
                    return Err(bad(name, format!("not a domain: {value:?}")));
                }
                let (list, keys) = match key == "trust-domain" {
                    true => (&mut self.trust, &mut self.domain_keys.0),
                    false => (&mut self.distrust, &mut self.domain_keys.1),
                };
                list.push(value.into());
                keys.push(name.into());
            }
            "token-lifetime" => self.token_lifetime = secs1()?,
            "admin" => {
                // Names are lowercase; folded as `scalard account` and the client fold them.
                let id = value.to_ascii_lowercase();
                if id.split('@').next().is_some_and(crate::server::is_guest_name) {
                    // No account can have such a name, and an admin must log in.
                    return Err(bad(
                        name,
                        format!("{value:?}: names starting with guest- are for guests"),
                    ));
                }
                match crate::proto::Name::parse(&id) {
                    Ok(n) if n.kind() == crate::proto::Kind::User => self.policy.admins.push(id.into()),
                    // A bare name: of the domain served, completed once that is known.
                    _ if crate::proto::Name::parse(&format!("{id}@localhost"))
                        .is_ok_and(|n| n.kind() == crate::proto::Kind::User) =>
                    {
                        self.policy.admins.push(id.into())
                    }
                    _ => return Err(bad(name, format!("not a user ID or name: {value:?}"))),
                }
            }
            // IDs are lowercase (as admins', and as /sban folds them); address ranges ignore case.
            "ban" => match ServerBan::parse(&value.to_ascii_lowercase()) {
                Some(b) if let Some(why) = b.holds_loopback() => return Err(bad(name, why)),
                Some(b) => {
                    if let Some(why) = crate::proto::pattern::range_fault(value) {
                        self.notes.push(format!("{name}: {why}; it is taken as {b}"));
                    }
                    self.policy.bans.push(b)
                }
                // A bare name (or pattern, `spam*`): of the domain served, as an admin's, and
                // as the CLI's `/sban` completes it; ends in `@` until the domain is known.
                // Dotted numbers that are no address are still taken so, since a file that
                // served before must not stop a start, but said: most likely an address
                // mistyped, which banned nobody it meant to without a word.
                None => {
                    use crate::proto::pattern::{TargetFault, typed_fault};
                    let id = value.to_ascii_lowercase();
                    match typed_fault(&id) {
                        None if !id.contains('@') => {}
                        Some(TargetFault::NotAddress) => self.notes.push(format!(
                            "{name}: {value:?} is {}; it bans the ID {id} of the domain served, as a bare name does",
                            TargetFault::NotAddress
                        )),
                        why => {
                            let why = why.unwrap_or(TargetFault::Neither);
                            return Err(bad(name, format!("{value:?}: {why}")));
                        }
                    }
                    self.policy.bans.push(ServerBan::Id(format!("{id}@").into()))
                }
            },
            "motd" if value.len() > crate::proto::MAX_BODY => {
                return Err(bad(
                    name,
                    format!(
                        "{} bytes: a message body holds at most {}",
                        value.len(),
                        crate::proto::MAX_BODY
                    ),
                ));
            }
            "motd" => self.policy.motd = (!value.is_empty()).then(|| value.into()),
            "metrics-listen" => self.metrics_listen = Some(parse_addr(name, value)?),
            "resolver" => {
                let addr = crate::discovery::parse_resolver(value)
                    .ok_or_else(|| bad(name, format!("expected IP or IP:PORT, got {value:?}")))?;
                self.resolver = Some(addr);
            }
            _ => return Err(ConfigError::Unknown(name.to_string())),
        }
        Ok(())
    }
}

/// `n` days, or no limit for 0.
fn days(n: u64) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(n.saturating_mul(86_400)))
}

/// An address scalard listens on (`listen`, `tls-listen`): as [`parse_addr`], but not an
/// IPv4 address written as IPv6 (`[::ffff:127.0.0.1]:7667`), which its listeners, IPv6 ones
/// being for IPv6 alone (`net::sockopt::bind_listener`), cannot bind: refused here, with the
/// spelling that works, not at the start (exit 1) after `check` said OK (found in review).
fn parse_listen(key: &str, s: &str) -> Result<SocketAddr, ConfigError> {
    let addr = parse_addr(key, s)?;
    match addr {
        SocketAddr::V6(a) if let Some(v4) = a.ip().to_ipv4_mapped() => Err(bad(
            key,
            format!(
                "{s:?} is an IPv4 address written as IPv6: write it {v4}:{}",
                a.port()
            ),
        )),
        _ => Ok(addr),
    }
}

fn parse_addr(key: &str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| {
        bad(
            key,
            format!("{s:?} is not an address like 0.0.0.0:7667 or [::]:7667"),
        )
    })
}

/// "expected a, b or c, got \"x\"", for a value that is none of `names`.
fn expected_one_of<const N: usize>(names: [&str; N], value: &str) -> String {
    let list = match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, init)) => format!("{} or {last}", init.join(", ")),
        None => String::new(),
    };
    format!("expected {list}, got {value:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_states_the_password_minimum_account_add_holds_to() {
        let said = format!(
            "password of {} characters or more",
            crate::store::password::MIN_CHARS
        );
        assert!(USAGE.contains(&said), "scalard --help should say: {said}");
    }

    /// The configuration file `text` read as a reload of a server serving `serving` would,
    /// and as a start would.
    fn reread_and_start(text: &str, serving: &str) -> (Config, Config) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("scalard-reread-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let file = ["--config".to_string(), path.to_string_lossy().into_owned()];
        let again = Config::reread(file.clone(), serving);
        let first = Config::from_args(file);
        std::fs::remove_file(&path).unwrap();
        (again.unwrap(), first.unwrap())
    }

    fn args(a: &[&str]) -> Result<Config, ConfigError> {
        Config::from_args(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn an_empty_path_is_refused_by_name() {
        for key in ["--tls-cert", "--tls-key", "--data-dir"] {
            let e = args(&[key, ""]).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("empty path"), "{e}");
        }
    }

    #[test]
    fn a_bare_admin_name_is_of_the_domain_served_and_names_are_folded() {
        let c = args(&[
            "--admin",
            "alice",
            "--domain",
            "example.org",
            "--admin",
            "Bob@X.org",
            "--admin",
            "ALICE@example.org",
            "--admin",
            "Alice",
        ])
        .unwrap();
        let admins: Vec<&str> = c.policy.admins.iter().map(|a| &**a).collect();
        assert_eq!(admins, ["alice@example.org", "bob@x.org"], "each once");
        for bad in ["Bad Name!", "#ops", "@x.org"] {
            assert!(args(&["--admin", bad]).is_err(), "{bad}");
        }
        let c = args(&[
            "--ban",
            "Mallory",
            "--ban",
            "spam*",
            "--ban",
            "mallory@Example.org",
            "--domain",
            "example.org",
        ])
        .unwrap();
        let bans: Vec<String> = c.policy.bans.iter().map(|b| b.to_string()).collect();
        assert_eq!(
            bans,
            ["mallory@example.org", "spam*@example.org"],
            "bans complete too"
        );
        let c = args(&["--ban", "Mallory@Example.ORG", "--ban", "2001:DB8::/32"]).unwrap();
        let bans: Vec<String> = c.policy.bans.iter().map(|b| b.to_string()).collect();
        assert_eq!(
            bans,
            ["mallory@example.org", "2001:db8::/32"],
            "folded as names are"
        );
        // A reload whose file names another domain (which waits for a restart): bare names
        // are of the domain served.
        let file = "domain = \"other.test\"\nadmins = [\"root\"]\nbans = [\"eve\"]\n";
        let (again, first) = reread_and_start(file, "chat.test");
        assert_eq!(&*again.policy.admins[0], "root@chat.test");
        assert_eq!(again.policy.bans[0].to_string(), "eve@chat.test");
        assert_eq!(
            &*first.policy.admins[0], "root@other.test",
            "at start, the file's"
        );
        for guest in ["guest-x", "Guest-x@x.org"] {
            let e = args(&["--admin", guest]).unwrap_err().to_string();
            assert!(e.contains("are for guests"), "{e}");
        }
    }

    #[test]
    fn flags_override_defaults() {
        let c = args(&[
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "[::1]:9",
            "--domain",
            "chat.example.org",
            "--max-subs",
            "3",
            "--max-accounts",
            "2000",
        ])
        .unwrap();
        assert_eq!(c.listen.len(), 2);
        assert!(!c.default_listen);
        assert_eq!(c.domain, "chat.example.org");
        assert_eq!(c.limits.max_subs, 3);
        assert_eq!(c.limits.max_accounts, 2000);
        assert_eq!(args(&[]).unwrap(), Config::default());
    }

    #[test]
    fn bad_input_is_named() {
        assert!(matches!(
            args(&["--domain", "Bad Domain"]),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(
            args(&["--max-subs", "many"]),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(
            args(&["--frobnicate", "1"]),
            Err(ConfigError::Unknown(_))
        ));
        assert!(matches!(
            args(&["--listen", "nowhere"]),
            Err(ConfigError::BadValue { .. })
        ));
        assert_eq!(
            args(&["stray"]).unwrap_err().to_string(),
            "unexpected argument \"stray\": options start with -- (see --help)"
        );
        // A misspelt switch is unknown, not missing its value; a short one is named as typed.
        assert_eq!(
            args(&["--ephemral"]).unwrap_err().to_string(),
            "unknown option --ephemral (see --help)"
        );
        assert_eq!(
            args(&["-v"]).unwrap_err().to_string(),
            "unknown option -v (see --help)"
        );
        assert!(matches!(args(&["--max-subs"]), Err(ConfigError::BadValue { .. })));
        assert_eq!(args(&["--help"]), Err(ConfigError::Help));
    }

    #[test]
    fn a_reload_names_the_settings_it_cannot_apply() {
        let start = args(&["--domain", "a.example", "--max-subs", "5"]).unwrap();
        let same = args(&["--domain", "a.example", "--max-subs", "9"]).unwrap();
        assert!(start.start_only_changes(&same).is_empty(), "max-subs reloads");
        let moved = args(&["--domain", "b.example", "--fsync", "always", "--auth", "guests"]).unwrap();
        assert_eq!(
            start.start_only_changes(&moved),
            ["domain", "fsync"],
            "auth reloads"
        );
    }

    #[test]
    fn a_ban_of_every_user_is_refused_as_from_an_admin() {
        for all in ["*@localhost", "*@*", "*", "**@local*"] {
            let e = args(&["--ban", all]).unwrap_err().to_string();
            assert!(e.contains("would ban every user of this server"), "{all}: {e}");
        }
        let e = args(&["--domain", "chat.example", "--ban", "*@*.example"]).unwrap_err();
        assert!(e.to_string().contains("every user"), "{e}");
        let serving = Config::reread(["--ban".to_string(), "*".to_string()], "x.org");
        assert!(
            serving
                .unwrap_err()
                .to_string()
                .contains("*@x.org would ban every user")
        );
        assert!(args(&["--ban", "*@spam.example"]).is_ok());
        assert!(args(&["--ban", "spam*"]).is_ok());
    }

    #[test]
    fn a_ban_holding_loopback_is_refused_as_from_an_admin() {
        let all_of_127 = ["127.0.0.2", "127.9.0.0/16", "::ffff:127.0.0.9"];
        for range in ["127.0.0.0/8", "127.0.0.1", "::1", "0.0.0.0/0"]
            .into_iter()
            .chain(all_of_127)
        {
            let e = args(&["--ban", range]).unwrap_err().to_string();
            assert!(e.contains("holds loopback"), "{range}: {e}");
            let e = Config::default()
                .apply_toml(&format!("bans = [\"{range}\"]"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("bans") && e.contains("holds loopback"),
                "{range}: {e}"
            );
        }
        for fine in ["192.0.2.0/24", "*@spam.example", "2001:db8::/32"] {
            assert!(args(&["--ban", fine]).is_ok(), "{fine}");
        }
    }

    /// As OPERATIONS.md says (QA found it said nothing of lists): a `--listen` replaces the
    /// file's list, an `--admin` or `--trust-domain` adds to the file's.
    #[test]
    fn list_flags_replace_listen_and_add_to_the_others() {
        let path = std::env::temp_dir().join(format!("scalard-lists-{}.toml", std::process::id()));
        let file = "listen = [\"127.0.0.1:1\"]\nadmins = [\"a\"]\n\
                    trust-domains = [\"a.test\"]\n";
        std::fs::write(&path, file).unwrap();
        let c = args(&[
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:2",
            "--admin",
            "b",
            "--trust-domain",
            "b.test",
        ]);
        std::fs::remove_file(&path).unwrap();
        let c = c.unwrap();
        assert_eq!(c.listen, vec![SocketAddr::from(([127, 0, 0, 1], 2))]);
        assert_eq!(c.policy.admins.len(), 2, "{:?}", c.policy.admins);
        assert_eq!(c.trust.len(), 2, "{:?}", c.trust);
    }

    /// `--max-subs` had no bound: a connection's subscriptions are a list it looks through at
    /// each Sub, so 100,000 took minutes of the loop (found by QA: the second 30,000 Subs of
    /// one connection took 404 s, debug build). Taken as the most, said in a note.
    #[test]
    fn max_subs_past_the_most_is_taken_as_the_most() {
        let c = args(&["--max-subs", "100000"]).unwrap();
        assert_eq!(c.limits.max_subs, MAX_SUBS);
        let [note] = &c.notes[..] else {
            panic!("{:?}", c.notes)
        };
        assert!(note.contains("100000 is past the most, 10000"), "{note}");
        let c = args(&["--max-subs", "10000"]).unwrap();
        assert_eq!((c.limits.max_subs, c.notes.len()), (10_000, 0));
    }

    /// A range not written as itself (`10.1.2.3/8` bans all of 10.0.0.0/8, most likely not
    /// what was meant) is said as a warning, as from an admin it is refused; taken as the range
    /// it reads as, since a file that served before must not stop a start (review).
    #[test]
    fn a_ban_not_written_as_its_range_is_taken_with_a_note() {
        let c = args(&["--ban", "10.1.2.3/8"]).unwrap();
        assert_eq!(c.policy.bans, [ServerBan::parse("10.0.0.0/8").unwrap()]);
        let [note] = &c.notes[..] else {
            panic!("{:?}", c.notes)
        };
        assert!(note.contains("10.0.0.0/8; write that"), "{note}");
        let mut c = Config::default();
        c.apply_toml("bans = [\"192.0.2.0/024\"]").unwrap();
        let [note] = &c.notes[..] else {
            panic!("{:?}", c.notes)
        };
        assert!(note.starts_with("ban") && note.contains("plain number"), "{note}");
        // As is an address spelt otherwise than listed.
        let c = args(&["--ban", "::ffff:10.1.2.3"]).unwrap();
        assert_eq!(c.policy.bans, [ServerBan::parse("10.1.2.3").unwrap()]);
        let [note] = &c.notes[..] else {
            panic!("{:?}", c.notes)
        };
        assert!(note.ends_with("it is taken as 10.1.2.3/32"), "{note}");
        assert!(args(&["--ban", "10.0.0.0/8"]).unwrap().notes.is_empty());
    }

    /// `--ban 10.0.0` (an address mistyped) banned the ID `10.0.0@DOMAIN` without a word: still
    /// taken so (a file that served must not stop a start), said in a note. `--ban "bo b"`
    /// said "neither an ID pattern nor an address range": it is a bad name.
    #[test]
    fn a_bare_ban_that_is_no_name_or_no_address_is_said_so() {
        let c = args(&["--ban", "10.0.0"]).unwrap();
        assert_eq!(c.policy.bans, [ServerBan::Id("10.0.0@localhost".into())]);
        let [note] = &c.notes[..] else {
            panic!("{:?}", c.notes)
        };
        assert!(note.contains("\"10.0.0\" is not an address"), "{note}");
        assert!(
            note.ends_with("it bans the ID 10.0.0 of the domain served, as a bare name does"),
            "{note}"
        );
        let e = args(&["--ban", "bo b"]).unwrap_err();
        assert!(e.to_string().contains("\"bo b\": a pattern's name is"), "{e}");
        let c = args(&["--ban", "spam*"]).unwrap();
        assert_eq!(c.policy.bans, [ServerBan::Id("spam*@localhost".into())]);
        assert!(c.notes.is_empty(), "{:?}", c.notes);
    }

    /// Found in review: `--listen [::ffff:127.0.0.1]:P` passed `check`, then the start failed
    /// (exit 1): an IPv6 listener is for IPv6 alone. Refused at once, saying how to write it;
    /// the metrics listener, dual-stack, still takes it.
    #[test]
    fn an_ipv4_address_written_as_ipv6_is_no_listen_address() {
        for flag in ["--listen", "--tls-listen"] {
            let e = args(&[flag, "[::ffff:127.0.0.1]:7667"]).unwrap_err().to_string();
            assert!(e.contains("write it 127.0.0.1:7667"), "{e}");
        }
        let e = Config::default()
            .apply_toml("listen = [\"[::ffff:10.0.0.1]:7667\"]\n")
            .unwrap_err();
        assert!(e.to_string().contains("write it 10.0.0.1:7667"), "{e}");
        assert!(args(&["--listen", "[::1]:7667"]).is_ok());
        assert!(args(&["--metrics-listen", "[::ffff:127.0.0.1]:9100"]).is_ok());
    }

    /// A domain is a DNS name, whose case means nothing, and Scalar's names are lowercase: one
    /// written with capitals, by flag or in the file, is taken folded, with a note.
    #[test]
    fn a_domain_with_capitals_is_taken_folded_with_a_note() {
        let c = args(&["--domain", "Chat.Example.ORG", "--trust-domain", "Other.ORG"]).unwrap();
        assert_eq!(c.domain, "chat.example.org");
        assert_eq!(c.trust, ["other.org".into()]);
        let [note, _] = &c.notes[..] else {
            panic!("{:?}", c.notes)
        };
        assert_eq!(
            note,
            "--domain: \"Chat.Example.ORG\" is taken as chat.example.org (names are lowercase); \
             write it so"
        );
        let mut c = Config::default();
        c.apply_toml("domain = \"Chat.Example.ORG\"").unwrap();
        assert_eq!(c.domain, "chat.example.org");
        let [note] = &c.notes[..] else {
            panic!("{:?}", c.notes)
        };
        assert!(
            note.starts_with("domain: \"Chat.Example.ORG\" is taken as"),
            "{note}"
        );
        // Not a name in any case: refused as written.
        let e = args(&["--domain", "Chat_Example.ORG"]).unwrap_err().to_string();
        assert!(e.contains("must be a DNS name"), "{e}");
        assert!(args(&["--domain", "chat.example.org"]).unwrap().notes.is_empty());
        // Nor was a [servers] table's name folded (found in review).
        let mut c = Config::default();
        c.apply_toml("[servers.\"Other.ORG\"]\naddress = \"127.0.0.1:7668\"\n")
            .unwrap();
        assert!(c.servers.get("other.org").is_some());
        let [note] = &c.notes[..] else {
            panic!("{:?}", c.notes)
        };
        assert!(note.starts_with("servers.\"Other.ORG\": "), "{note}");
    }

    /// A number in quotes was always taken as the number (refused, a file that served before
    /// would stop a start after an upgrade): taken still, with a note naming the key.
    #[test]
    fn a_number_in_quotes_is_taken_with_a_note() {
        let mut c = Config::default();
        c.apply_toml("idle-timeout = \"+5\"\nmax-connections = \"2\"\nmax-subs = 3\nmotd = \"5\"\n")
            .unwrap();
        assert_eq!(
            (c.limits.max_connections, c.limits.idle_timeout.as_secs()),
            (2, 5)
        );
        let [idle, connections] = &c.notes[..] else {
            panic!("{:?}", c.notes)
        };
        assert!(
            connections.starts_with("max-connections: ") && connections.contains("max-connections = 2"),
            "{connections}"
        );
        assert!(
            idle.starts_with("idle-timeout: ") && idle.contains("without quotes"),
            "{idle}"
        );
        // Past what a TOML number holds, it can only be written so: no note.
        c.notes.clear();
        c.apply_toml("max-queue = \"18446744073709551615\"\n").unwrap();
        assert!(c.notes.is_empty(), "{:?}", c.notes);
    }

    /// One rule for every single value the file gives: a quoted boolean and a quoted number in
    /// a retention table are taken with the same note as a top-level quoted number (found in
    /// review: the tables refused `"5000"`, and `ephemeral = "true"` was taken with no note).
    #[test]
    fn a_quoted_boolean_or_retention_number_is_taken_with_the_same_note() {
        let mut c = Config::default();
        c.apply_toml(
            "ephemeral = \"true\"\n[retention.\"#ops\"]\nhistory-max-events = \"5000\"\nhistory-max-days = 2\n",
        )
        .unwrap();
        assert!(c.ephemeral);
        let rule = c.retention.topics.get("#ops@").map(|r| (r.max_events, r.max_age));
        assert_eq!(rule, Some((Some(5000), days(2))));
        let [ephemeral, events] = &c.notes[..] else {
            panic!("{:?}", c.notes)
        };
        assert_eq!(
            ephemeral,
            "ephemeral: \"true\" is a string; write it without quotes (ephemeral = true)"
        );
        assert_eq!(
            events,
            "retention.\"#ops\".history-max-events: \"5000\" is a string; write it without quotes \
             (retention.\"#ops\".history-max-events = 5000)"
        );
        // Still no whole number, quoted or not.
        let e = Config::default()
            .apply_toml("[retention.\"#ops\"]\nhistory-max-days = \"-1\"\n")
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("history-max-days: expected a whole number"),
            "{e}"
        );
    }

    #[test]
    fn an_ephemeral_server_names_the_history_settings_it_does_not_use() {
        assert!(args(&["--ephemeral"]).unwrap().unused_when_ephemeral().is_empty());
        let c = args(&[
            "--ephemeral",
            "--fsync",
            "always",
            "--history-max-events",
            "10",
            "--kept-channel-days",
            "3",
            "--data-dir",
            "/tmp/x",
        ])
        .unwrap();
        assert_eq!(
            c.unused_when_ephemeral(),
            ["data-dir", "fsync", "history-max-events", "kept-channel-days"]
        );
        // Each retention setting by its own name, only those given.
        let mut c = args(&["--ephemeral", "--history-max-days", "3"]).unwrap();
        assert_eq!(c.unused_when_ephemeral(), ["history-max-days"]);
        c.apply_toml("[retention.\"#ops@localhost\"]\nhistory-max-events = 5\n")
            .unwrap();
        assert_eq!(c.unused_when_ephemeral(), ["history-max-days", "[retention]"]);
    }

    #[test]
    fn history_settings_from_flags_and_file() {
        let c = args(&["--ephemeral", "--fsync", "always", "--history-max-events", "0"]).unwrap();
        assert!(c.ephemeral);
        assert_eq!(c.fsync, Fsync::Always);
        assert_eq!(c.retention.default.max_events, None, "0 means no limit");
        assert_eq!(
            args(&[]).unwrap().retention.default.max_events,
            Some(DEFAULT_MAX_EVENTS)
        );
        assert!(matches!(
            args(&["--fsync", "sometimes"]),
            Err(ConfigError::BadValue { .. })
        ));
        assert_eq!(
            args(&["--kept-channel-days", "0"]).unwrap().limits.kept_idle,
            None,
            "0 keeps them for good"
        );
        assert_eq!(
            args(&["--kept-channel-days", "7"]).unwrap().limits.kept_idle,
            Some(Duration::from_secs(7 * 86_400))
        );
        let mut c = Config::default();
        c.apply_toml(
            "history-max-days = 90\nephemeral = false\n\
             [retention.\"#ops@localhost\"]\nhistory-max-events = 5\n",
        )
        .unwrap();
        assert_eq!(
            c.retention.default.max_age,
            Some(Duration::from_secs(90 * 86_400))
        );
        let ops = c.retention.rule("#ops@localhost");
        assert_eq!(
            (ops.max_events, ops.max_age),
            (Some(5), None),
            "a topic's table replaces the default"
        );
        assert_eq!(c.retention.rule("#other@localhost"), c.retention.default);
        assert!(
            c.apply_toml("[retention.\"Not A Topic\"]\nhistory-max-events = 1\n")
                .is_err()
        );
        assert!(c.apply_toml("[retention.\"#a@localhost\"]\nfrobs = 1\n").is_err());
        // Misspelt, with a value of the wrong kind too: the key is what is wrong.
        let e = c
            .apply_toml("[retention.\"#a@localhost\"]\nhistory-max-dayz = \"7\"\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown option retention.\"#a@localhost\".history-max-dayz (see --help)"
        );
    }

    #[test]
    fn toml_uses_the_same_keys() {
        let mut c = Config::default();
        c.apply_toml("listen = [\"127.0.0.1:1\"]\ndomain = \"x.org\"\nmax-queue = 1024\nidle-timeout = 5\n")
            .unwrap();
        assert_eq!(c.listen, vec![SocketAddr::from(([127, 0, 0, 1], 1))]);
        assert_eq!((c.domain.as_str(), c.limits.max_queue), ("x.org", 1024));
        assert_eq!(c.limits.idle_timeout, Duration::from_secs(5));
        assert!(c.apply_toml("max-subs = true").is_err());
        let mut empty = Config::default();
        empty.apply_toml("listen = []").unwrap();
        let path = std::env::temp_dir().join(format!("scalard-empty-listen-{}.toml", std::process::id()));
        std::fs::write(&path, "listen = []\n").unwrap();
        let r = Config::from_args(["--config".to_string(), path.to_string_lossy().into_owned()]);
        std::fs::remove_file(&path).unwrap();
        assert!(
            matches!(r, Err(ConfigError::BadValue { .. })),
            "an empty listen list is refused"
        );
        assert!(c.apply_toml("nonsense = 1").is_err());
        assert!(c.apply_toml("= broken").is_err());
        // A misspelt key is unknown whatever its value's type; a known one with the wrong type
        // says so.
        for wrong in [
            "lissen = [\"127.0.0.1:1\"]",
            "lissen = \"127.0.0.1:1\"",
            "lissen = { a = 1 }",
        ] {
            let e = c.apply_toml(wrong).unwrap_err().to_string();
            assert_eq!(e, "unknown option lissen (see --help)", "{wrong}");
        }
        for (wrong, what) in [
            ("max-subs = [1]", "unexpected array: this key takes one value"),
            ("max-subs = 1.5", "unexpected float"),
            (
                "admin = [\"zoe\"]",
                "unexpected array: a list goes in admins = [...]",
            ),
            ("servers = [\"x\"]", "unexpected array"),
            ("retention = [\"x\"]", "unexpected array"),
            ("admins = { a = 1 }", "unexpected table"),
            ("listen = { a = 1 }", "unexpected table"),
        ] {
            let e = c.apply_toml(wrong).unwrap_err().to_string();
            assert!(e.contains(what) && !e.contains("unknown"), "{wrong}: {e}");
        }
        // One value of the wrong type is not told it is many (found in review).
        let e = c.apply_toml("max-subs = 1.5").unwrap_err().to_string();
        assert!(!e.contains("one value"), "{e}");
    }

    /// A list key given one string takes it as a list of one, each as its flag would.
    #[test]
    fn a_list_key_given_one_string_takes_it() {
        let mut one = Config::default();
        let mut many = Config::default();
        for (single, list) in [
            ("admins = \"alice@localhost\"", "admins = [\"alice@localhost\"]"),
            ("bans = \"*@spam.example\"", "bans = [\"*@spam.example\"]"),
            ("trust-domains = \"a.example\"", "trust-domains = [\"a.example\"]"),
            (
                "distrust-domains = \"b.example\"",
                "distrust-domains = [\"b.example\"]",
            ),
        ] {
            one.apply_toml(single).unwrap();
            many.apply_toml(list).unwrap();
        }
        assert_eq!(format!("{one:?}"), format!("{many:?}"));
        assert_eq!(one.policy.admins.len(), 1);
        let e = one.apply_toml("admins = \"Bad Name!\"").unwrap_err().to_string();
        assert!(e.starts_with("admins: "), "{e}");
    }

    #[test]
    fn a_list_key_given_one_value_is_named_with_what_it_wants() {
        let mut c = Config::default();
        for (wrong, key, want) in [
            (
                "admins = 5",
                "admins",
                "unexpected integer: expected a string or a list of them",
            ),
            (
                "listen = 7667",
                "listen",
                "unexpected integer: expected an address or a list",
            ),
            (
                "retention = 5",
                "retention",
                "unexpected integer: expected a table",
            ),
        ] {
            let e = c.apply_toml(wrong).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("{key}: ")) && e.contains(want),
                "{wrong}: {e}"
            );
        }
        // An item's own error names the file's key, not the flag's.
        let e = c.apply_toml("admins = [\"Bad Name!\"]").unwrap_err().to_string();
        assert!(e.starts_with("admins: "), "{e}");
    }

    #[test]
    fn retention_of_another_domains_topic_and_an_address_twice_are_refused() {
        let mut c = Config::default();
        c.apply_toml("[retention.\"#x@other.example\"]\nhistory-max-events = 5\n")
            .unwrap();
        let e = c.check("localhost").unwrap_err().to_string();
        assert!(
            e.contains("#x@other.example") && e.contains("another domain"),
            "{e}"
        );
        // With the domain changed in the same file it passes the file's own check, but a
        // reload holds it to the domain still served (the change waits for a restart).
        c.apply_toml("domain = \"other.example\"").unwrap();
        assert!(c.check("other.example").is_ok());
        let e = c.check("localhost").unwrap_err().to_string();
        assert!(e.contains("this server (localhost)"), "{e}");
        // A bare name on such a reload is of the domain served, and so is kept: the reload
        // is not refused for a rule it completed itself.
        let file = "domain = \"x.example\"\n[retention.\"#firehose\"]\nhistory-max-events = 5\n";
        let (again, first) = reread_and_start(file, "localhost");
        assert_eq!(again.retention.rule("#firehose@localhost").max_events, Some(5));
        assert_eq!(first.retention.rule("#firehose@x.example").max_events, Some(5));
        let e = args(&["--listen", "127.0.0.1:1", "--listen", "127.0.0.1:1"]).unwrap_err();
        assert_eq!(e.to_string(), "listen: 127.0.0.1:1 is given twice");
        let e = args(&["--listen", "127.0.0.1:1", "--metrics-listen", "127.0.0.1:1"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "metrics-listen: 127.0.0.1:1 takes the port of listen address 127.0.0.1:1"
        );
        let e = args(&["--listen", "0.0.0.0:1", "--metrics-listen", "127.0.0.1:1"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("takes the port of listen address 0.0.0.0:1"),
            "{e}"
        );
        // scalard's [::] holds IPv6 alone; the metrics' [::] is std's, IPv4 too where the
        // host's default leaves it so (found in a walk-through: [::] was taken as both).
        let e = args(&["--tls-listen", "[::]:1", "--metrics-listen", "[::1]:1"]).unwrap_err();
        assert!(
            e.to_string().contains("takes the port of listen address [::]:1"),
            "{e}"
        );
        let metrics = |listen: &str, m: &str| args(&["--listen", listen, "--metrics-listen", m]);
        assert!(metrics("[::]:1", "127.0.0.1:1").is_ok());
        assert!(metrics("[::]:1", "0.0.0.0:1").is_ok());
        assert!(metrics("[::1]:1", "0.0.0.0:1").is_ok());
        assert!(metrics("[::]:1", "[::ffff:127.0.0.1]:1").is_ok());
        assert!(metrics("127.0.0.1:1", "[::1]:1").is_ok());
        for (listen, m) in [
            ("127.0.0.1:1", "[::]:1"),
            ("0.0.0.0:1", "[::]:1"),
            ("127.0.0.1:1", "[::ffff:127.0.0.1]:1"),
            ("[::1]:1", "[::]:1"),
        ] {
            let e = metrics(listen, m).unwrap_err().to_string();
            assert!(
                e.contains("takes the port of listen address"),
                "{listen} {m}: {e}"
            );
        }
        // Nor may scalard's own listeners overlap: the start's second bind would fail.
        let e = args(&["--listen", "0.0.0.0:1", "--tls-listen", "127.0.0.1:1"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tls-listen: 0.0.0.0:1 and 127.0.0.1:1 take the same port: 0.0.0.0:1 holds it on \
             every address of its family"
        );
        let e = args(&["--listen", "[::1]:1", "--listen", "[::]:1"]).unwrap_err();
        assert!(e.to_string().starts_with("listen: [::]:1 and [::1]:1"), "{e}");
        assert!(args(&["--listen", "0.0.0.0:1", "--listen", "[::]:1"]).is_ok());
        let e = args(&["--tls-listen", "0.0.0.0:7667"]).unwrap_err().to_string();
        assert!(
            e.ends_with("(127.0.0.1:7667 is a default (plain) listen address: give --listen too)"),
            "{e}"
        );
        assert!(args(&["--listen", "127.0.0.1:1", "--metrics-listen", "127.0.0.1:2"]).is_ok());
        assert!(args(&["--listen", "127.0.0.1:1", "--metrics-listen", "127.0.0.2:1"]).is_ok());
        let e = args(&["--listen", "127.0.0.1:1", "--tls-listen", "127.0.0.1:1"]).unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
        let e = args(&["--tls-listen", "127.0.0.1:7667"]).unwrap_err().to_string();
        assert!(e.contains("also a default (plain) listen address"), "{e}");
        assert!(args(&["--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2"]).is_ok());
        assert!(args(&["--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"]).is_ok());
    }

    #[test]
    fn retention_of_a_reserved_or_uppercase_name_says_why_not() {
        let rule = |topic: &str| {
            let toml = format!("[retention.\"{topic}\"]\nhistory-max-events = 5\n");
            Config::default().apply_toml(&toml).unwrap_err().to_string()
        };
        assert!(rule("!motd@localhost").contains("reserved name"));
        assert!(rule("#X@localhost").contains("lowercase: \"#x@localhost\""));
        assert!(rule("not a topic").contains("not a topic name"));
        assert!(rule("#X").contains("lowercase: \"#x\""));
    }

    #[test]
    fn the_away_inbox_limit_is_set_turned_off_and_on_again() {
        let limit = |a: &[&str]| args(a).map(|c| c.limits.away_inbox);
        assert_eq!(limit(&[]).unwrap(), Some((100, Duration::from_secs(36))));
        assert_eq!(
            limit(&["--away-inbox-limit", "5,10"]).unwrap(),
            Some((5, Duration::from_secs(10)))
        );
        assert_eq!(limit(&["--away-inbox-limit", "off"]).unwrap(), None);
        assert_eq!(limit(&["--flood", "off"]).unwrap(), None);
        let again = ["--flood", "off", "--away-inbox-limit", "5,10"];
        assert_eq!(limit(&again).unwrap(), Some((5, Duration::from_secs(10))));
        for bad in ["0,10", "5,0", "5", "x,y"] {
            assert!(limit(&["--away-inbox-limit", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_toml_syntax_error_is_one_line_with_its_place() {
        let e = Config::default()
            .apply_toml("motd = \"hi\"\nlisten = [\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "config file: line 2, column 11: unclosed array, expected `]`");
        let e = Config::default()
            .apply_toml("motd = \"a\"\nmotd = \"b\"\n")
            .unwrap_err();
        assert_eq!(e.to_string(), "config file: line 2, column 1: duplicate key motd");
        let e = Config::default().apply_toml("é = = 1").unwrap_err().to_string();
        assert!(
            e.starts_with("config file: line 1, column ") && !e.contains('\n'),
            "{e}"
        );
    }

    /// The probe `takes_text` relies on: the keys of text take "x", the others do not.
    #[test]
    fn the_keys_of_text_are_told_from_the_others() {
        for key in [
            "domain", "data-dir", "tls-cert", "tls-key", "motd", "admin", "ban",
        ] {
            assert!(takes_text(key), "{key}");
        }
        for key in [
            "max-connections",
            "ephemeral",
            "plain",
            "fsync",
            "auth",
            "flood",
            "listen",
        ] {
            assert!(!takes_text(key), "{key}");
        }
    }

    #[test]
    fn every_error_in_the_config_file_names_it() {
        let dir = std::env::temp_dir().join(format!("scalard-config-errors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("scalard.toml");
        let name = file.to_str().unwrap();
        for (text, why) in [
            ("motdd = \"hi\"\n", "unknown key motdd"),
            ("max-connections = \"many\"\n", "max-connections: "),
            (
                "[retention.\"#ops\"]\nhistory-max-hours = 5\n",
                "unknown key retention.\"#ops\".history-max-hours",
            ),
            (
                "motd = 5\n",
                "motd: unexpected integer: expected a string (quote it: \"5\")",
            ),
            ("domain = true\n", "domain: unexpected boolean: expected a string"),
            (
                "max-connections = true\n",
                "max-connections: expected a whole number",
            ),
            ("listen = [\n", "line 1, column 11"),
        ] {
            std::fs::write(&file, text).unwrap();
            let e = args(&["--config", name]).unwrap_err().to_string();
            assert!(e.starts_with(&format!("config file: {name}: {why}")), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bare_retention_topic_is_of_the_domain_served() {
        let dir = std::env::temp_dir().join(format!("scalard-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bare.toml");
        let with = |text: &str| {
            std::fs::write(&file, text).unwrap();
            args(&["--config", file.to_str().unwrap()])
        };
        let c = with("domain = \"chat.test\"\n[retention.\"#ops\"]\nhistory-max-events = 5\n").unwrap();
        let topics: Vec<&str> = c.retention.topics.keys().map(|t| &**t).collect();
        assert_eq!(topics, ["#ops@chat.test"]);
        assert_eq!(c.retention.topics["#ops@chat.test"].max_events, Some(5));
        let e = with(
            "[retention.\"#ops\"]\nhistory-max-events = 5\n\
             [retention.\"#ops@localhost\"]\nhistory-max-events = 6\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("given twice"), "{e}");
        // A reload holds bare names to the domain served.
        std::fs::write(&file, "[retention.\"#ops\"]\nhistory-max-days = 1\n").unwrap();
        let again = ["--domain", "chat.test", "--config", file.to_str().unwrap()].map(String::from);
        let c = Config::reread(again, "chat.test").unwrap();
        assert!(c.retention.topics.contains_key("#ops@chat.test"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_own_domain_is_not_another_to_trust() {
        let e = args(&["--domain", "a.example", "--trust-domain", "a.example"]).unwrap_err();
        assert!(e.to_string().contains("own domain"), "{e}");
        assert!(args(&["--domain", "a.example", "--trust-domain", "b.example"]).is_ok());
        let own = [
            "--domain",
            "a.example",
            "--foreign",
            "any",
            "--distrust-domain",
            "a.example",
        ];
        let e = args(&own).unwrap_err().to_string();
        assert!(e.contains("distrust-domain") && e.contains("own domain"), "{e}");
        let mut c = args(&["--domain", "a.example"]).unwrap();
        c.apply_toml("[servers.\"a.example\"]\naddress = \"127.0.0.1:7001\"\n")
            .unwrap();
        let e = c.check("a.example").unwrap_err().to_string();
        assert!(e.contains("servers") && e.contains("own domain"), "{e}");
    }

    /// A list's error names its key as written, the file's plural or singular or the flag
    /// (found in a walk-through: `trust-domains = [...]` was called `trust-domain`).
    #[test]
    fn a_domain_list_error_names_the_key_as_written() {
        let checked = |file: &str| {
            let mut c = Config::default();
            c.apply_toml(file).unwrap();
            c.check("localhost").unwrap_err().to_string()
        };
        for (file, want) in [
            ("trust-domains = [\"localhost\"]", "trust-domains: localhost is"),
            ("trust-domain = \"localhost\"", "trust-domain: localhost is"),
            (
                "foreign = \"any\"\ndistrust-domains = [\"a.example\", \"localhost\"]",
                "distrust-domains: localhost is",
            ),
            (
                "foreign = \"any\"\ntrust-domains = \"a.example\"",
                "trust-domains: lists the domains to admit; with foreign = any, list the others \
                 with distrust-domains",
            ),
            ("distrust-domains = \"a.example\"", "distrust-domains: only means"),
        ] {
            let e = checked(file);
            assert!(e.starts_with(want), "{file}: {e}");
        }
        let e = args(&["--trust-domain", "localhost"]).unwrap_err().to_string();
        assert!(e.starts_with("--trust-domain: localhost is"), "{e}");
        let e = args(&["--foreign", "any", "--trust-domain", "a.example"])
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("list the others with --distrust-domain"), "{e}");
        let e = args(&["--distrust-domain", "a.example"]).unwrap_err().to_string();
        assert!(e.starts_with("--distrust-domain: only means"), "{e}");
    }

    #[test]
    fn a_motd_must_fit_a_message_body() {
        let fits = "x".repeat(crate::proto::MAX_BODY);
        assert!(args(&["--motd", &fits]).is_ok());
        let e = args(&["--motd", &format!("{fits}x")]).unwrap_err().to_string();
        assert!(e.contains("motd") && e.contains("at most 15360"), "{e}");
    }

    #[test]
    fn limits_and_timers_that_would_lock_everyone_out_are_refused() {
        for key in [
            "max-connections",
            "max-per-address",
            "handshake-timeout",
            "idle-timeout",
            "ping-timeout",
            // A held connection cut at once; every token expired before it is used.
            "flood-timeout",
            "token-lifetime",
        ] {
            let e = args(&[&format!("--{key}"), "0"]).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("at least 1"), "{key}: {e}");
            assert!(args(&[&format!("--{key}"), "1"]).is_ok(), "{key} 1");
        }
        // Where 0 means something (no limit, the kernel's choice, direct messages only, the
        // per-address limit), it stays allowed.
        for key in [
            "send-buffer",
            "history-max-events",
            "kept-channel-days",
            "max-subs",
            "max-per-subnet",
            "join-rush",
        ] {
            assert!(args(&[&format!("--{key}"), "0"]).is_ok(), "{key} 0");
        }
    }

    #[test]
    fn tls_settings() {
        let c = args(&[
            "--tls-listen",
            "0.0.0.0:7668",
            "--tls-listen",
            "[::]:7668",
            "--tls-cert",
            "/etc/letsencrypt/live/x/fullchain.pem",
            "--tls-key",
            "/etc/letsencrypt/live/x/privkey.pem",
            "--plain",
            "loopback",
        ])
        .unwrap();
        assert_eq!(c.tls_listen.len(), 2);
        assert!(c.default_listen, "the plain defaults stay beside TLS");
        assert_eq!(c.plain, PlainPolicy::Loopback);
        assert_eq!(
            c.tls_key,
            Some(PathBuf::from("/etc/letsencrypt/live/x/privkey.pem"))
        );
        assert_eq!(args(&[]).unwrap().plain, PlainPolicy::Any);
        let needs = |a: &[&str], key: &str| match args(a) {
            Err(ConfigError::BadValue { key: k, .. }) => assert_eq!(k, key, "{a:?}"),
            other => panic!("{a:?}: {other:?}"),
        };
        needs(&["--tls-listen", "127.0.0.1:0"], "tls-listen");
        needs(
            &["--tls-listen", "127.0.0.1:0", "--tls-cert", "c.pem"],
            "tls-listen",
        );
        needs(&["--tls-cert", "c.pem", "--tls-key", "k.pem"], "tls-cert");
        needs(&["--plain", "sometimes"], "--plain");
        needs(&["--tls-listen", "nowhere"], "--tls-listen");

        let path = std::env::temp_dir().join(format!("scalard-tls-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "listen = []\ntls-listen = \"127.0.0.1:0\"\ntls-cert = \"c.pem\"\n\
             tls-key = \"k.pem\"\nplain = \"loopback\"\n",
        )
        .unwrap();
        let r = Config::from_args(["--config".to_string(), path.to_string_lossy().into_owned()]);
        std::fs::remove_file(&path).unwrap();
        let c = r.expect("TLS only, from the file");
        assert!(c.listen.is_empty());
        assert_eq!(c.tls_listen, vec![SocketAddr::from(([127, 0, 0, 1], 0))]);
        assert_eq!(c.tls_cert, Some(PathBuf::from("c.pem")));
        assert_eq!(c.plain, PlainPolicy::Loopback);
    }

    #[test]
    fn servers_and_resolver() {
        use crate::discovery::Target;
        assert_eq!(Config::default().resolver, None);
        assert_eq!(Config::default().metrics_listen, None);
        let m = args(&["--metrics-listen", "127.0.0.1:9667"]).unwrap();
        assert_eq!(m.metrics_listen, Some(SocketAddr::from(([127, 0, 0, 1], 9667))));
        let e = args(&["--metrics-listen", "localhost:9667"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("metrics-listen") && e.contains("not an address"),
            "{e}"
        );
        assert!(Config::default().servers.is_empty());
        let c = args(&["--resolver", "127.0.0.1:5353"]).unwrap();
        assert_eq!(c.resolver, Some(SocketAddr::from(([127, 0, 0, 1], 5353))));
        assert!(matches!(
            args(&["--resolver", "dns.example"]),
            Err(ConfigError::BadValue { .. })
        ));
        let mut c = Config::default();
        c.apply_toml(
            "resolver = \"[::1]:53\"\n\
             [servers.\"foo.example\"]\naddress = \"127.0.0.1:7001\"\ntls = false\n\
             [servers.\"bar.example\"]\naddress = [\"a.example:1\", \"b.example:2\"]\n",
        )
        .unwrap();
        assert_eq!(c.resolver, Some("[::1]:53".parse().unwrap()));
        let t = |host: &str, port, tls| Target {
            host: host.into(),
            port,
            tls,
        };
        assert_eq!(
            c.servers.get("foo.example").unwrap(),
            [t("127.0.0.1", 7001, false)]
        );
        assert_eq!(
            c.servers.get("bar.example").unwrap(),
            [t("a.example", 1, true), t("b.example", 2, true)]
        );
        // What the server-to-server code calls: the table answers without DNS.
        let found = crate::discovery::resolve("foo.example", &c.servers, c.resolver).unwrap();
        assert_eq!(found, [t("127.0.0.1", 7001, false)]);
        let err = c
            .apply_toml("[servers.\"x.example\"]\naddress = \"nowhere\"\n")
            .unwrap_err();
        assert!(
            matches!(&err, ConfigError::BadValue { key, .. } if key.contains("x.example")),
            "{err}"
        );
        assert!(c.apply_toml("[servers.\"x.example\"]\nport = 1\n").is_err());
        assert!(c.apply_toml("servers = 1").is_err());
        // A CA file is read at once: a bad one is said now, not at each login it would fail.
        let ca = |rest: &str| {
            let entry = format!("[servers.\"x.example\"]\naddress = \"127.0.0.1:1\"\n{rest}");
            Config::default().apply_toml(&entry).map_err(|e| e.to_string())
        };
        let e = ca("ca = \"/nonexistent/ca.pem\"\n").unwrap_err();
        assert!(e.contains("ca: CA file /nonexistent/ca.pem"), "{e}");
        let e = ca("tls = false\nca = \"/nonexistent/ca.pem\"\n").unwrap_err();
        assert!(
            e.contains("with tls = false there is no certificate to check"),
            "{e}"
        );
        assert!(
            ca("ca = 1\n")
                .unwrap_err()
                .contains("expected the path of a PEM file")
        );
    }

    /// The CA file's certificates are the entry's: a reload that finds others in the file
    /// (the path unchanged) says the change waits for a restart, as for any change to
    /// `[servers]`, rather than have a running server read the new file at its next login.
    #[test]
    fn a_servers_ca_file_with_other_certificates_is_a_change() {
        let dir = std::env::temp_dir().join(format!("servers-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        let entry = format!(
            "[servers.\"x.example\"]\naddress = \"127.0.0.1:1\"\nca = \"{}\"\n",
            ca.display()
        );
        let read = |names: &str| {
            let ck = rcgen::generate_simple_self_signed(vec![names.to_string()]).unwrap();
            std::fs::write(&ca, ck.cert.pem()).unwrap();
            let mut c = Config::default();
            c.apply_toml(&entry).unwrap();
            c
        };
        let (start, reloaded) = (read("a.example"), read("b.example"));
        assert_eq!(start.start_only_changes(&reloaded), vec!["servers"]);
        assert!(start.start_only_changes(&start.clone()).is_empty());
        // A reload reads it again, so it is only a regular file, as the TLS files are: a named
        // pipe is refused at once (it blocked the reader for good). On a thread, so that a
        // server that blocks fails this test rather than hangs it.
        let fifo = dir.join("fifo.pem");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads the NUL-terminated path only.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let entry = entry.replace(ca.to_str().unwrap(), fifo.to_str().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(Config::default().apply_toml(&entry).map_err(|e| e.to_string()));
        });
        let e = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("read without blocking")
            .unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_mode_that_is_none_of_the_names_lists_them() {
        let e = args(&["--fsync", "sometimes"]).unwrap_err().to_string();
        assert!(
            e.ends_with("expected always or batched, got \"sometimes\""),
            "{e}"
        );
        let e = args(&["--auth", "maybe"]).unwrap_err().to_string();
        assert!(
            e.ends_with("expected open, guests or accounts, got \"maybe\""),
            "{e}"
        );
        assert_eq!(args(&["--auth", "guests"]).unwrap().auth.policy, Policy::Guests);
    }
}
