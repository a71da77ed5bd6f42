//! Connecting as the user asked: the shared blocking client (`scalar::client`), over TLS when
//! asked (with trust on first use kept in the known-hosts file), plus the completion of an ID
//! given without `@domain`. A server given as a domain alone is looked up in DNS first
//! (`scalar::discovery`), at every connection, so a reconnection follows changed records.

use crate::args::{PasswordFrom, Trust};
use crate::error::CliError;
use crate::known_hosts;
pub use scalar::client::{Client as Conn, ClientError as NetError, Login, encode};
use scalar::proto::ErrorCode;
use scalar::tls::Tls;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a connection-level Error waits for the Bye that may follow it (the server sends
/// both at once), to be shown with it in one line ([`ended`]).
pub const HOLD: Duration = Duration::from_millis(100);

/// The longest silence before the client pings, and then waits for any frame, before it takes
/// the link for dead: 30 s each when the server does not say less.
const SILENCE: Duration = Duration::from_secs(30);
/// The shortest of either, however little the server says.
const MIN_SILENCE: Duration = Duration::from_secs(1);

/// How long the client listens to silence before it pings the server, and then waits for any
/// frame before it takes the link for dead: the server's own `keepalive` and `timeout` (its
/// Ident), each within 1 s and 30 s. A live server is heard from at least every `keepalive`
/// (its Pings), so a server that says it takes dead links for dead within seconds is matched,
/// rather than the client's prompt looking connected for a minute (found by QA on a stalled
/// link: 60 s, against a server that had closed it after 15).
pub fn silences(conn: &Conn) -> (Duration, Duration) {
    silences_for(conn.keepalive, conn.timeout)
}

fn silences_for(keepalive: Option<Duration>, timeout: Option<Duration>) -> (Duration, Duration) {
    let within = |d: Option<Duration>| d.map_or(SILENCE, |d| d.clamp(MIN_SILENCE, SILENCE));
    (within(keepalive), within(timeout))
}

/// How long a connection that died unseen holds its name on a server that does not say its
/// timers: past scalard's default keepalive and timeout (60 s and 30 s).
pub const NAME_HOLD: Duration = Duration::from_secs(120);
/// The least of it, however short the server's timers.
const MIN_NAME_HOLD: Duration = Duration::from_secs(10);

/// How long a connection of this client that died unseen may hold its name on the server: the
/// server's keepalive and timeout (its Ident), with a third more for the reconnect waits, so
/// that a name in use from "another machine" (604) is waited out only as long as the server
/// may take to notice the client's own dead connection (found by QA: a fixed 2 minutes gave
/// up early on a server with longer timers). scalard's defaults make the 2 minutes.
pub fn name_hold(conn: &Conn) -> Duration {
    name_hold_for(conn.keepalive, conn.timeout)
}

fn name_hold_for(keepalive: Option<Duration>, timeout: Option<Duration>) -> Duration {
    match (keepalive, timeout) {
        (Some(k), Some(t)) => ((k + t) * 4 / 3).max(MIN_NAME_HOLD),
        _ => NAME_HOLD,
    }
}

/// The end of the session a Bye announces, with the reason of the connection-level Error
/// `held` from just before it when that Error is the Bye's (scalard sends the reason in the
/// Error and only the code's label in the Bye), so that one line says both. Also returns
/// `held` when it is not the Bye's: it is still to be shown, before the end.
pub fn ended(held: Option<(u16, String)>, bye: &scalar::proto::Bye<'_>) -> (NetError, Option<(u16, String)>) {
    let label = ErrorCode::from_u16(bye.code).map(ErrorCode::label);
    let bare = bye.reason.is_none_or(|r| r.is_empty() || Some(r) == label);
    match held {
        Some((code, reason)) if code == bye.code && bare => (NetError::dropped(code, Some(&reason)), None),
        other => (NetError::dropped(bye.code, bye.reason), other),
    }
}

/// The account password of a run: read once, when first needed, from where the command line
/// said (a file, `SCALAR_PASSWORD`, or a prompt), then kept for reconnections.
#[derive(Clone, Default)]
pub struct Password {
    from: Option<PasswordFrom>,
    value: Arc<Mutex<Option<String>>>,
    /// `--register`, until the account exists: a reconnection then logs in.
    register: Arc<AtomicBool>,
    /// Whether the password file was looked at for others' read access ([`Password::exposed`]).
    checked: Arc<AtomicBool>,
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Why the password file is unsafe, the first time it is asked: others may read it (a
    /// mode with group or other bits; ssh refuses such a key file). A script author's
    /// `--password-file` of mode 644 was taken without a word (QA). Said, not refused: the
    /// file's place may keep others out (a private folder).
    pub fn exposed(&self) -> Option<String> {
        use std::os::unix::fs::PermissionsExt;
        let Some(PasswordFrom::File(path)) = &self.from else {
            return None;
        };
        if self.checked.swap(true, Ordering::Relaxed) {
            return None;
        }
        let meta = std::fs::metadata(path).ok()?;
        let mode = meta.permissions().mode();
        (meta.is_file() && mode & 0o077 != 0).then(|| {
            format!(
                "--password-file {}: others may read it (mode {:o}): chmod 600 it",
                path.display(),
                mode & 0o777
            )
        })
    }

    /// The password, reading it the first time. `prompt` allows asking at the terminal when
    /// no other source was given.
    fn get(&self, id: &str, prompt: bool) -> Result<String, CliError> {
        if let Some(p) = self.known() {
            return Ok(p);
        }
        let p = match &self.from {
            Some(PasswordFrom::File(path)) => std::fs::read_to_string(path)
                .map_err(|e| CliError::Local(format!("--password-file {}: {e}", path.display())))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            Some(PasswordFrom::Env(p)) => p.0.clone(),
            None if prompt && scalar::tty::stdin_is_tty() => {
                let p = scalar::tty::read_secret(&format!("password for {id}: "))
                    .map_err(|e| CliError::Local(format!("password: {e}")))?;
                if self.register.load(Ordering::Relaxed)
                    && scalar::tty::read_secret("again: ").map_err(|e| CliError::Local(e.to_string()))? != p
                {
                    return Err(CliError::Local("the two passwords differ".into()));
                }
                p
            }
            None => {
                return Err(CliError::Usage(
                    "a password is needed: --password-file FILE, SCALAR_PASSWORD, or run at a terminal"
                        .into(),
                ));
            }
        };
        if p.is_empty() {
            return Err(CliError::Local("the password is empty".into()));
        }
        if let Ok(mut v) = self.value.lock() {
            *v = Some(p.clone());
        }
        Ok(p)
    }

    /// From now on the password is `new` (the user changed it): reconnections log in with it.
    /// Says where the old one still is, for the next run, if it came from a file or the
    /// environment.
    pub fn replace(&self, new: String) -> Option<String> {
        if let Ok(mut v) = self.value.lock() {
            *v = Some(new);
        }
        match &self.from {
            Some(PasswordFrom::File(path)) => Some(format!("--password-file {}", path.display())),
            Some(PasswordFrom::Env(_)) => Some("SCALAR_PASSWORD".into()),
            None => None,
        }
    }

    /// The password read already, if it was.
    fn known(&self) -> Option<String> {
        self.value.lock().ok().and_then(|v| v.clone())
    }

    /// Whether it is typed at the terminal (no file or variable gave it): a mistyped one may be
    /// typed again.
    fn typed(&self) -> bool {
        self.from.is_none()
    }

    /// Forgets a typed password the server refused, so that the next [`get`](Password::get)
    /// asks again.
    fn forget(&self) {
        if let Ok(mut v) = self.value.lock() {
            *v = None;
        }
    }

    /// True if the command line gave a password or asked to register: log in at once.
    pub fn wanted(&self) -> bool {
        self.from.is_some() || self.known().is_some() || self.register.load(Ordering::Relaxed)
    }
}

/// Where and how to connect: what every connection of a run (and each reconnection of the
/// interactive client) uses.
#[derive(Debug, Clone)]
pub struct Dial {
    /// `HOST:PORT`, or a domain alone, looked up in DNS at each connection.
    pub server: String,
    /// The nameserver for that; `None`: those of /etc/resolv.conf.
    pub resolver: Option<std::net::SocketAddr>,
    /// TLS and how to trust the server; `None` for plain TCP.
    pub tls: Option<Trust>,
    /// How long to wait for each step.
    pub timeout: Duration,
    /// The account's password, when the session needs one.
    pub password: Password,
    /// Whether the password may be asked for at the terminal (not while the chat is on
    /// screen: a reconnection uses what the first connection read).
    pub prompt: bool,
    /// `--home`: where an ID of another domain gets its tokens; `None`: that domain itself,
    /// found through DNS.
    pub home: Option<String>,
    /// `--audience`: the domain the server serves, when its address does not show it.
    pub audience: Option<String>,
    /// The last token fetched for an ID of another domain, reused until it expires.
    pub token: Arc<std::sync::Mutex<Option<Held>>>,
    /// Set on the connection to the home server itself, which must not go looking for
    /// another home.
    pub at_home: bool,
    /// Ask for carbons (PROTOCOL.md §4): what this user sends from its other connections.
    pub carbons: bool,
    /// Ask to be told when users join and leave the channels (PROTOCOL.md §4).
    pub joins: bool,
}

/// A token from the home server, for one audience, until a time.
#[derive(Clone)]
pub struct Held {
    audience: String,
    token: Vec<u8>,
    until: u64,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Held({} until {})", self.audience, self.until)
    }
}

impl Dial {
    /// The connection settings of a command line.
    pub fn of(args: &crate::args::Args) -> Dial {
        Dial {
            server: args.server.clone(),
            resolver: args.resolver,
            tls: args.tls.clone(),
            timeout: args.timeout,
            password: Password {
                from: args.password.clone(),
                value: Arc::default(),
                register: Arc::new(AtomicBool::new(args.register)),
                checked: Arc::default(),
            },
            prompt: true,
            home: args.home.clone(),
            audience: args.audience.clone(),
            token: Arc::default(),
            at_home: false,
            carbons: false,
            joins: false,
        }
    }

    /// A token for `id` (of another domain) for the server of `audience`: the one held if it
    /// has a minute left, else a fresh one from the home server, logging in there with the
    /// password.
    ///
    /// Says too whether the token is one held from before (`true`) or fresh.
    fn token(&self, id: &str, audience: &str, note: &dyn Fn(&str)) -> Result<(Vec<u8>, bool), CliError> {
        let now = scalar::client::unix_ms();
        if let Ok(held) = self.token.lock()
            && let Some(h) = held.as_ref()
            && h.audience == audience
            && h.until > now + 60_000
        {
            return Ok((h.token.clone(), true));
        }
        let domain = id.split_once('@').map_or("", |(_, d)| d);
        let home = Dial {
            server: self.home.clone().unwrap_or_else(|| domain.to_string()),
            at_home: true,
            // It only fetches a token.
            carbons: false,
            joins: false,
            ..self.clone()
        };
        let named = |e| at_home(e, &home.server, domain);
        let mut conn = open(&home, id, note).map_err(named)?;
        let (token, until) = conn.grant(audience, self.timeout).map_err(|e| named(e.into()))?;
        conn.bye(None, Duration::from_millis(200));
        if let Ok(mut held) = self.token.lock() {
            *held = Some(Held {
                audience: audience.to_string(),
                token: token.clone(),
                until,
            });
        }
        Ok((token, false))
    }

    /// Drops the held token if it is `token`. A home server keeps its tokens in memory, so
    /// one it made before a restart is refused (601) though not expired.
    fn forget_token(&self, token: &[u8]) {
        if let Ok(mut held) = self.token.lock()
            && held.as_ref().is_some_and(|h| h.token == token)
        {
            *held = None;
        }
    }
}

/// `e`, met while getting a token from `server`, the home server of `domain`, saying so:
/// the user ran the client against another server, and a refused password, a home that is
/// down or one that does not answer would otherwise read as that server's (found by QA:
/// `601 bad_credentials: wrong password` with `--server` naming the other domain's server).
/// Every network failure there is said one way ([`CliError::AtHome`]), and is otherwise
/// what it was: the same exit code, tried again or not as it would be.
fn at_home(e: CliError, server: &str, domain: &str) -> CliError {
    let whose = format!("{server}, the home server of {domain}, for a token");
    match e {
        // Said in its own words, which are where it went: "cannot connect to WHOSE".
        CliError::Net(NetError::Connect { server: _, why }) => {
            CliError::Net(NetError::Connect { server: whose, why })
        }
        // Its lines name the server already, and say what to do there.
        e @ CliError::Net(NetError::PinMismatch { .. }) => e,
        CliError::Net(err) => CliError::AtHome { whose, err },
        other => other,
    }
}

/// Connects to the server and identifies as `id` (without `@domain`, the server completes
/// it). With a password (given, or asked for when the server says the ID is registered) it
/// logs in; with `--register` it creates the account first.
///
/// With `--tofu`, the pin is read from the known-hosts file at each call (so a reconnection
/// checks the pin the first connection wrote), and written after the first TLS handshake
/// with a server that had none, even if the login then fails; `note` is told about that and
/// about malformed lines.
pub fn open(dial: &Dial, id: &str, note: &dyn Fn(&str)) -> Result<Conn, CliError> {
    let (mut conn, server, first_use) = reach(dial, note)?;
    // Pinned as soon as the handshake is done (reach), before any password is asked for, as
    // ssh shows a host key first (found by QA: the password prompt came before the pin's
    // line); and whatever the login comes to: a mistyped first password must not leave the
    // next connection a first use again, open to whoever answers it.
    if first_use && let Some(pin) = conn.peer_fingerprint() {
        pin_first_use(&server, pin, note)?;
    }
    let login = |register: bool| -> Result<Login, CliError> {
        Ok(Login {
            password: dial.password.get(id, dial.prompt)?,
            register,
        })
    };
    let register = dial.password.register.load(Ordering::Relaxed);
    let first = if dial.password.wanted() {
        Some(login(register)?)
    } else {
        None
    };
    if let Some(why) = dial.password.exposed() {
        note(&why);
    }
    // Found by QA: `--register` for an account one has already said only "is taken". Not for
    // a name reserved or a guest's, which no account has (scalard: "... is taken").
    identify(dial, &mut conn, id, first.as_ref(), &login, note).map_err(|e| match e {
        CliError::Net(NetError::Refused {
            code,
            reason,
            server,
            retry_after,
        }) if register && code == ErrorCode::NameTaken as u16 && reason.ends_with(" is taken") => {
            CliError::Net(NetError::Refused {
                code,
                reason: format!("{reason} (if the account is yours, log in to it: leave out --register)"),
                server,
                retry_after,
            })
        }
        other => other,
    })?;
    if conn.guest {
        note(&format!("this server admits you as a guest: {}", conn.user));
    }
    if register {
        note(&format!("account {} created", conn.user));
        dial.password.register.store(false, Ordering::Relaxed);
    }
    Ok(conn)
}

/// How many times a password typed at the terminal may be tried in one login.
const TRIES: u32 = 3;

/// Identifies on `conn`: with `first` if given; asking for a password if the ID turns out to
/// be an account; with a token from its home server if it is of another domain.
fn identify(
    dial: &Dial,
    conn: &mut Conn,
    id: &str,
    first: Option<&Login>,
    login: &dyn Fn(bool) -> Result<Login, CliError>,
    note: &dyn Fn(&str),
) -> Result<(), CliError> {
    match conn.identify(id, first, dial.timeout) {
        Err(e @ NetError::Refused { code, .. })
            if code == ErrorCode::AuthRequired as u16 && first.is_none() =>
        {
            // Reconnecting as a name that has become an account meanwhile: no password to
            // give (one known would have gone with the Ident), and none may be asked for over
            // the chat. The server's reason says it.
            if !dial.prompt {
                return Err(e.into());
            }
            // A password typed wrong may be typed again, as at a login prompt: three tries.
            for tries_left in (0..TRIES).rev() {
                // The server's reason first: for a name that is no account there, no password helps.
                let login = login(false).map_err(|le| match le {
                    CliError::Usage(m) => CliError::Usage(format!("{e}; {m}")),
                    other => other,
                })?;
                // Typing takes as long as it takes, and the server gives an unidentified
                // connection only so long (scalard: 10 s): each try on a connection of its own.
                let (fresh, _, _) = reach(dial, note)?;
                std::mem::replace(conn, fresh).bye(None, Duration::from_millis(100));
                match conn.identify(id, Some(&login), dial.timeout) {
                    Err(NetError::Refused { code, reason, .. })
                        if code == ErrorCode::BadCredentials as u16
                            && dial.password.typed()
                            && tries_left > 0 =>
                    {
                        note(&format!("{}; try again", crate::render::clean_line(&reason)));
                        dial.password.forget();
                    }
                    other => return Ok(other?),
                }
            }
        }
        // An ID of another domain: this server names itself, and the ID's home server makes
        // a token for it (PROTOCOL.md §4, Other domains).
        Err(NetError::Refused {
            code,
            server: Some(audience),
            ..
        }) if code == ErrorCode::ForeignId as u16 && !dial.at_home && id.contains('@') => {
            if !crate::names::may_serve(&dial.server, &audience, dial.audience.as_deref()) {
                return Err(CliError::Local(format!(
                    "{} says it serves {audience}, which its name does not show: \
                     give --audience {audience} if that is right",
                    dial.server
                )));
            }
            let (token, held) = dial.token(id, &audience, note)?;
            match conn.identify_with_token(id, &token, dial.timeout) {
                // A held token its home server no longer knows (it restarted): ask for a new
                // one, once; a fresh token refused is the answer.
                Err(NetError::Refused { code, .. }) if code == ErrorCode::BadCredentials as u16 && held => {
                    dial.forget_token(&token);
                    let (fresh, _) = dial.token(id, &audience, note)?;
                    conn.identify_with_token(id, &fresh, dial.timeout)?;
                }
                other => other?,
            }
        }
        // Asked for a token, a "home" that serves another domain is not the ID's home.
        Err(NetError::Refused {
            code,
            server: Some(serves),
            ..
        }) if code == ErrorCode::ForeignId as u16 && dial.at_home => {
            let domain = id.rsplit_once('@').map_or("", |(_, d)| d);
            let check = match dial.home {
                Some(_) => "check --home".to_string(),
                None => format!("check {domain}'s DNS records, or give --home"),
            };
            return Err(CliError::Local(format!(
                "{} serves {serves}, so it is not the home server of {domain} where {id} \
                 logs in for a token ({check})",
                dial.server
            )));
        }
        other => other?,
    }
    Ok(())
}

/// The first server of `dial` that accepts a connection (and the TLS handshake), with its
/// `HOST:PORT` (the key of its pin) and whether this is a first use (`--tofu`, no pin yet).
fn reach(dial: &Dial, note: &dyn Fn(&str)) -> Result<(Conn, String, bool), CliError> {
    let candidates = candidates(dial)?;
    let mut last = None;
    for (i, (server, trust)) in candidates.iter().enumerate() {
        let (tls, first_use) = tls_for(trust.as_ref(), server, note)?;
        match Conn::connect_raw_with(server.as_str(), dial.timeout, tls.as_ref()) {
            Ok(mut conn) => {
                conn.carbons = dial.carbons;
                conn.joins = dial.joins;
                return Ok((conn, server.clone(), first_use));
            }
            // A changed or untrusted certificate is what an attacker looks like: say so, try
            // nothing else (above all not a plain server after it).
            Err(e @ (NetError::PinMismatch { .. } | NetError::Tls(_))) => return Err(e.into()),
            Err(e) => {
                if i + 1 < candidates.len() {
                    note(&format!(
                        "{server}: {e}; trying the next server of {}",
                        dial.server
                    ));
                }
                last = Some(e);
            }
        }
    }
    Err(last
        .unwrap_or_else(|| NetError::Connect {
            server: dial.server.clone(),
            why: "no server to try".into(),
        })
        .into())
}

/// The servers to try for `dial`, in order, each with how to trust it: `--server` itself, or
/// for a domain alone the servers its SRV records name (docs/CLI.md, "Finding the server").
/// A TLS server uses `--ca` or `--tofu` if given, else the well-known roots; a plain one is
/// skipped when the user asked for TLS.
fn candidates(dial: &Dial) -> Result<Vec<(String, Option<Trust>)>, CliError> {
    if !crate::names::discoverable(&dial.server) {
        return Ok(vec![(dial.server.clone(), dial.tls.clone())]);
    }
    let fail = |why: String| NetError::Connect {
        server: dial.server.clone(),
        why,
    };
    // The client has no table of its own: only DNS (or the fallback to port 7667).
    let overrides = scalar::discovery::Overrides::default();
    let targets = scalar::discovery::resolve(&dial.server, &overrides, dial.resolver)
        .map_err(|e| fail(e.to_string()))?;
    let usable: Vec<_> = targets
        .into_iter()
        .filter_map(|t| match (t.tls, &dial.tls) {
            (true, trust) => Some((t.addr(), Some(trust.clone().unwrap_or(Trust::Roots)))),
            (false, None) => Some((t.addr(), None)),
            (false, Some(_)) => None,
        })
        .collect();
    if usable.is_empty() {
        return Err(fail(
            "DNS names no TLS server for it (no _scalars._tcp record), and TLS was asked for".into(),
        )
        .into());
    }
    Ok(usable)
}

/// The TLS settings for `trust` at `server`, and whether this is a first use (`--tofu` with no
/// pin yet).
fn tls_for(
    trust: Option<&Trust>,
    server: &str,
    note: &dyn Fn(&str),
) -> Result<(Option<Tls>, bool), CliError> {
    // A CA file that cannot be used is a local failure (exit 1), not a connection one.
    let setup = |r: Result<Tls, scalar::tls::TlsSetupError>| r.map_err(|e| CliError::Local(e.to_string()));
    Ok(match trust {
        None => (None, false),
        Some(Trust::Roots) => (Some(setup(Tls::webpki_roots())?), false),
        Some(Trust::Ca(file)) => (Some(setup(Tls::with_ca_file(file))?), false),
        Some(Trust::Tofu) => {
            let path = known_hosts::path().map_err(no_home)?;
            let (hosts, warnings) = known_hosts::load(&path).map_err(CliError::Local)?;
            for w in warnings {
                let w = format!("{}: {w}", path.display());
                if first_time(&w) {
                    note(&w);
                }
            }
            let pin = hosts.lookup(server);
            (Some(setup(Tls::pinned(pin))?), pin.is_none())
        }
    })
}

/// Whether `warning` has not been given yet in this run: the file is read again at every
/// reconnection, and the same bad line is said once.
fn first_time(warning: &str) -> bool {
    static GIVEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    match given.iter().any(|g| g == warning) {
        true => false,
        false => {
            given.push(warning.to_string());
            true
        }
    }
}

fn no_home(why: String) -> CliError {
    CliError::Local(format!("--tofu needs a place for its known_hosts file: {why}"))
}

/// Records the certificate seen on a first use. Re-reads the file first, so a pin written by
/// another run meanwhile is not lost (and a different one is not silently replaced).
fn pin_first_use(server: &str, pin: scalar::tls::Fingerprint, note: &dyn Fn(&str)) -> Result<(), CliError> {
    let path = known_hosts::path().map_err(no_home)?;
    let (mut hosts, _) = known_hosts::load(&path).map_err(CliError::Local)?;
    match hosts.lookup(server) {
        Some(p) if p == pin => return Ok(()),
        Some(expected) => {
            return Err(NetError::PinMismatch {
                server: server.to_string(),
                expected,
                got: pin,
            }
            .into());
        }
        None => {}
    }
    hosts.set(server, pin);
    known_hosts::save(&path, &hosts).map_err(CliError::Local)?;
    note(&format!(
        "first connection to {server}: pinned its certificate {pin} in {}",
        path.display()
    ));
    Ok(())
}

/// `trust HOST:PORT sha256:HEX`: pins `pin` for `server`, replacing the pin it had.
pub fn trust(server: &str, pin: scalar::tls::Fingerprint) -> Result<String, CliError> {
    let path = known_hosts::path().map_err(no_home)?;
    let (mut hosts, _) = known_hosts::load(&path).map_err(CliError::Local)?;
    let old = hosts.set(server, pin);
    known_hosts::save(&path, &hosts).map_err(CliError::Local)?;
    Ok(match old {
        Some(o) if o == pin => format!("{server} was already pinned to {pin}"),
        Some(o) => format!("{server} is now pinned to {pin} (was {o}) in {}", path.display()),
        None => format!("{server} is now pinned to {pin} in {}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's timers, as its Ident says them, within bounds; a server that says none
    /// gets the client's own.
    #[test]
    fn the_client_s_timers_follow_the_server_s() {
        let s = Duration::from_secs;
        assert_eq!(
            silences_for(Some(s(60)), Some(s(30))),
            (s(30), s(30)),
            "scalard's defaults"
        );
        assert_eq!(silences_for(Some(s(10)), Some(s(5))), (s(10), s(5)));
        assert_eq!(silences_for(Some(Duration::from_millis(10)), None), (s(1), s(30)));
        assert_eq!(
            name_hold_for(Some(s(60)), Some(s(30))),
            s(120),
            "scalard's defaults"
        );
        assert_eq!(name_hold_for(Some(s(300)), Some(s(60))), s(480));
        assert_eq!(name_hold_for(Some(s(2)), Some(s(1))), s(10));
        assert_eq!(name_hold_for(None, Some(s(1))), NAME_HOLD);
    }

    #[test]
    fn a_warning_is_given_once_a_run() {
        let w = "known_hosts: line 3: not HOST:PORT sha256:HEX (a test's own)";
        assert!(super::first_time(w));
        assert!(!super::first_time(w));
        assert!(super::first_time("known_hosts: line 4: another (a test's own)"));
    }
}
