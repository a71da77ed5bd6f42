//! TLS end to end: scalar-cli over TLS to a real scalard.
//!
//! scalard speaks plain TCP here, so each test puts a small TLS-terminating proxy in front of
//! it, in the test process: rustls with a certificate made by rcgen, relaying bytes to the
//! server. Its threads stop when the proxy is dropped, and every relay ends after a minute at
//! most, so a failing test cannot leave them running.

mod common;

use common::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use scalar::tls::rustls;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const CONNECTION: i32 = 3;

/// A certificate and its key, as the proxy serves them.
struct Cert {
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

impl Cert {
    /// `sha256:HEX` of the end-entity certificate, as scalar-cli prints and pins it.
    fn fingerprint(&self) -> String {
        scalar::tls::Fingerprint::of(self.chain[0].as_ref()).to_string()
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(self.chain.clone(), key)
                .unwrap();
        Arc::new(config)
    }
}

/// A self-signed certificate for 127.0.0.1, as a server using trust on first use has.
fn self_signed() -> Cert {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    Cert {
        chain: vec![ck.cert.der().clone()],
        key: ck.signing_key.serialize_der(),
    }
}

/// A private CA (its PEM) and a certificate for 127.0.0.1 it issued.
fn ca_signed() -> (String, Cert) {
    ca_signed_for("127.0.0.1")
}

/// A private CA (its PEM) and a certificate for `name` it issued.
fn ca_signed_for(name: &str) -> (String, Cert) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "scalar test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let cert = Cert {
        chain: vec![leaf.der().clone(), ca.der().clone()],
        key: key.serialize_der(),
    };
    (ca.pem(), cert)
}

/// A TLS-terminating proxy on 127.0.0.1 in front of a plain server.
struct TlsProxy {
    addr: SocketAddr,
    /// The certificate served to new connections; tests swap it.
    config: Arc<Mutex<Arc<rustls::ServerConfig>>>,
    /// Set on drop: every thread of the proxy stops.
    stop: Arc<AtomicBool>,
    /// Bumped to cut the connections relayed so far (a dropped connection, for reconnects).
    generation: Arc<AtomicU64>,
}

/// How long one relayed connection may last, whatever happens.
const RELAY_LIFETIME: Duration = Duration::from_secs(60);

impl TlsProxy {
    fn start(cert: &Cert, backend: SocketAddr) -> TlsProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let proxy = TlsProxy {
            addr: listener.local_addr().unwrap(),
            config: Arc::new(Mutex::new(cert.server_config())),
            stop: Arc::new(AtomicBool::new(false)),
            generation: Arc::new(AtomicU64::new(0)),
        };
        let (config, stop, generation) = (proxy.config.clone(), proxy.stop.clone(), proxy.generation.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let config = config.lock().unwrap().clone();
                        let (stop, generation) = (stop.clone(), generation.clone());
                        std::thread::spawn(move || relay(tcp, config, backend, &stop, &generation));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        proxy
    }

    /// `127.0.0.1:PORT`.
    fn server(&self) -> String {
        self.addr.to_string()
    }

    /// Serves `cert` to connections made from now on.
    fn set_cert(&self, cert: &Cert) {
        *self.config.lock().unwrap() = cert.server_config();
    }

    /// Cuts every connection relayed so far.
    fn cut(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Relays one client: TLS on `tcp`, plain to `backend`. One thread, both directions, with
/// short read timeouts (a TLS session cannot be split between threads).
fn relay(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    backend: SocketAddr,
    stop: &AtomicBool,
    generation: &AtomicU64,
) {
    let born = generation.load(Ordering::SeqCst);
    let Ok(plain) = TcpStream::connect(backend) else {
        return;
    };
    let tick = Some(Duration::from_millis(5));
    if tcp.set_read_timeout(tick).is_err() || plain.set_read_timeout(tick).is_err() {
        return;
    }
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut plain = plain;
    let until = Instant::now() + RELAY_LIFETIME;
    let mut buf = vec![0u8; 64 * 1024];
    let idle = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    };
    while !stop.load(Ordering::SeqCst) && generation.load(Ordering::SeqCst) == born && Instant::now() < until
    {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if plain.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if idle(&e) => {}
            // A client that refuses the certificate ends up here.
            Err(_) => break,
        }
        match plain.read(&mut buf) {
            Ok(0) => {
                tls.conn.send_close_notify();
                let _ = tls.flush();
                break;
            }
            Ok(n) => {
                if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                    break;
                }
            }
            Err(e) if idle(&e) => {}
            Err(_) => break,
        }
    }
    let _ = tls.sock.shutdown(std::net::Shutdown::Both);
    let _ = plain.shutdown(std::net::Shutdown::Both);
}

/// scalar-cli pointed at the proxy, with `args` before the subcommand's.
fn cli_tls(server: &Server, home: &TempDir, proxy: &TlsProxy, args: &[&str]) -> Command {
    let mut c = cli(server, home);
    c.args(["--server", &proxy.server()]).args(args);
    c
}

fn write_file(home: &TempDir, name: &str, text: &str) -> String {
    let p = home.0.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn known_hosts(home: &TempDir) -> String {
    std::fs::read_to_string(home.0.join("data/scalar-cli/known_hosts")).unwrap_or_default()
}

#[test]
fn send_and_listen_with_a_private_ca() {
    let server = Server::start();
    let home = TempDir::new();
    let (ca_pem, cert) = ca_signed();
    let ca = write_file(&home, "ca.pem", &ca_pem);
    let proxy = TlsProxy::start(&cert, server.addr().parse().unwrap());

    let mut listener = Lines::spawn(cli_tls(
        &server,
        &home,
        &proxy,
        &["--ca", &ca, "--id", "bob", "listen", "#tls", "--count", "1"],
    ));
    wait_subscribers(&server, "#tls@localhost", 1);
    let r = run(
        cli_tls(
            &server,
            &home,
            &proxy,
            &["--ca", &ca, "--id", "alice", "send", "#tls"],
        ),
        b"hello over TLS\n",
    );
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let line = listener.next();
    assert!(
        line.ends_with("#tls@localhost alice@localhost: hello over TLS"),
        "{line}"
    );
    let (code, err) = listener.finish();
    assert_eq!(code, 0, "{err}");

    let r = run(cli_tls(&server, &home, &proxy, &["--ca", &ca, "ping"]), b"");
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("pong from 127.0.0.1:"), "{}", r.stdout);
    assert_eq!(known_hosts(&home), "", "--ca pins nothing");
}

/// Found in review: when the home server of the user's domain (reached for a token with the
/// same `--ca`) presented a certificate of another CA, the hint read as the server's given with
/// `--server`, which the client trusted; it now names the home, as a refusal there does.
#[test]
fn an_untrusted_home_server_is_named() {
    let dir = TempDir::new();
    let data = dir.0.join("home-data");
    std::fs::create_dir_all(&data).unwrap();
    add_account_of(&data, "alice", "foo.test");
    let home = Server::start_with(0, &["--domain", "foo.test", "--data-dir", data.to_str().unwrap()]);
    let entry = format!(
        "[servers.\"foo.test\"]\naddress = \"{}\"\ntls = false\n",
        home.addr()
    );
    let conf = write_file(&dir, "away.toml", &entry);
    let away_flags = [
        "--domain",
        "bar.test",
        "--trust-domain",
        "foo.test",
        "--config",
        &conf,
    ];
    let away = Server::start_with(0, &away_flags);
    let (ca_pem, away_cert) = ca_signed();
    let (_, home_cert) = ca_signed();
    let ca = write_file(&dir, "ca.pem", &ca_pem);
    let away_tls = TlsProxy::start(&away_cert, away.addr().parse().unwrap());
    let home_tls = TlsProxy::start(&home_cert, home.addr().parse().unwrap());
    let mut c = cli_tls(&away, &dir, &away_tls, &["--ca", &ca]);
    c.env("SCALAR_PASSWORD", PASSWORD).args([
        "--id",
        "alice@foo.test",
        "--home",
        &home_tls.server(),
        "--audience",
        "bar.test",
        "ping",
    ]);
    let r = run(c, b"");
    assert_eq!(r.code(), CONNECTION, "{}", r.stderr);
    let named = format!(
        "(at {}, the home server of foo.test, for a token)",
        home_tls.server()
    );
    assert!(
        r.stderr.contains("certificate is not trusted") && r.stderr.contains(&named),
        "{}",
        r.stderr
    );
}

#[test]
fn an_untrusted_certificate_fails_clearly() {
    let server = Server::start();
    let home = TempDir::new();
    let (_, cert) = ca_signed();
    let (other_ca, _) = ca_signed();
    let other = write_file(&home, "other.pem", &other_ca);
    let proxy = TlsProxy::start(&cert, server.addr().parse().unwrap());
    // Each of `args` fails to connect, with one line holding every one of `says`.
    let refused = |args: &[&str], says: &[&str]| {
        let r = run(cli_tls(&server, &home, &proxy, args), b"");
        assert_eq!(r.code(), CONNECTION, "{args:?}: {}", r.stderr);
        assert!(
            says.iter().all(|s| r.stderr.contains(s)),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        r.stderr
    };
    let untrusted = ["certificate is not trusted", "--tofu"];
    refused(&["--tls", "ping"], &untrusted);
    refused(&["--ca", &other, "ping"], &untrusted);
    // Trusted, but for another name than the one dialled: the hint is not "--ca".
    let (ca_pem, elsewhere) = ca_signed_for("chat.example.org");
    let ca = write_file(&home, "ca.pem", &ca_pem);
    proxy.set_cert(&elsewhere);
    let said = refused(
        &["--ca", &ca, "ping"],
        &["names another host", "a name it carries (chat.example.org)"],
    );
    // Found by QA: the names came in Rust's debug form, `DnsName("chat.example.org")`.
    assert!(
        said.contains("the certificate is not for 127.0.0.1: it is for chat.example.org"),
        "{said}"
    );
    // No TLS to a TLS port: the server's alert is recognised.
    let mut plain = cli(&server, &home);
    plain.args(["--server", &proxy.server(), "ping"]);
    let r = run(plain, b"");
    assert_eq!(r.code(), CONNECTION, "{}", r.stderr);
    assert!(r.stderr.contains("answered in TLS"), "{}", r.stderr);
    // A self-signed certificate marked as a CA's (openssl's default): the hint says so, and
    // what does work. --ca with its own file fails the same way.
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let ca_like = params.self_signed(&key).unwrap();
    let own = write_file(&home, "own.pem", &ca_like.pem());
    proxy.set_cert(&Cert {
        chain: vec![ca_like.der().clone()],
        key: key.serialize_der(),
    });
    let ca_marked = ["says it is a CA's", "CA:FALSE", "--tofu"];
    refused(&["--tls", "ping"], &ca_marked);
    refused(&["--ca", &own, "ping"], &ca_marked);
    // A CA file that is not one fails before connecting, and says which file.
    let junk = write_file(&home, "junk.pem", "not a certificate\n");
    let r = run(cli_tls(&server, &home, &proxy, &["--ca", &junk, "ping"]), b"");
    assert_eq!(r.code(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("junk.pem"), "{}", r.stderr);
    // TLS to a plain server: scalard answers the ClientHello in plain at once, and the client
    // says what it got, well before its timeout.
    let began = std::time::Instant::now();
    let r = run(
        cli_tls(
            &server,
            &home,
            &proxy,
            &["--tls", "--server", &server.addr(), "--timeout", "10", "ping"],
        ),
        b"",
    );
    assert_eq!(r.code(), CONNECTION, "{}", r.stderr);
    assert!(
        r.stderr.contains("does the server speak TLS on that port?"),
        "{}",
        r.stderr
    );
    assert!(
        began.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    // A server that accepts and says nothing: the handshake times out, saying what it waited
    // for.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = silent.local_addr().unwrap().to_string();
    let r = run(
        cli_tls(
            &server,
            &home,
            &proxy,
            &["--tls", "--server", &at, "--timeout", "1", "ping"],
        ),
        b"",
    );
    assert_eq!(r.code(), CONNECTION, "{}", r.stderr);
    assert!(r.stderr.contains("TLS handshake"), "{}", r.stderr);
    drop(silent);
}

/// Found by QA: with `--tofu`, the password was asked for before the pin was shown; ssh
/// shows a host key first, so that one can stop before typing a password to a stranger.
#[test]
fn a_first_use_shows_the_pin_before_asking_for_a_password() {
    let dir = TempDir::new();
    add_accounts(&dir, &["alice"]);
    let server = history_server(0, &dir);
    let home = TempDir::new();
    let cert = self_signed();
    let proxy = TlsProxy::start(&cert, server.addr().parse().unwrap());
    let mut p = common::pty::Pty::spawn(cli_tls(&server, &home, &proxy, &["--tofu", "--id", "alice"]));
    let asked = p.wait_for("password for alice", STEP);
    let text = p.text();
    let pinned = text.find(&cert.fingerprint().to_string());
    assert!(pinned.is_some_and(|i| i < asked), "{text}");
    p.type_keys(&format!("{PASSWORD}\r"));
    p.wait_for("as alice@localhost", STEP);
    p.type_keys("/quit\r");
    assert_eq!(p.wait_exit(STEP), 0);
}

#[test]
fn a_first_use_whose_login_is_refused_still_pins() {
    let server = Server::start();
    let home = TempDir::new();
    let cert = self_signed();
    let proxy = TlsProxy::start(&cert, server.addr().parse().unwrap());
    // An ID of a domain this server does not serve: refused after the handshake.
    let r = run(
        cli_tls(&server, &home, &proxy, &["--tofu", "--id", "x@other.org", "ping"]),
        b"",
    );
    assert_eq!(r.code(), 4, "{}", r.stderr);
    assert!(r.stderr.contains("pinned its certificate"), "{}", r.stderr);
    assert_eq!(
        known_hosts(&home),
        format!("{} {}\n", proxy.server(), cert.fingerprint())
    );
    // So the next connection checks the pin rather than trusting whoever answers.
    proxy.set_cert(&self_signed());
    let r = run(cli_tls(&server, &home, &proxy, &["--tofu", "ping"]), b"");
    assert_eq!(r.code(), CONNECTION, "{}", r.stderr);
    assert!(r.stderr.contains("HAS CHANGED"), "{}", r.stderr);
}

#[test]
fn trust_on_first_use_pins_and_refuses_a_changed_certificate() {
    let server = Server::start();
    let home = TempDir::new();
    let first = self_signed();
    let proxy = TlsProxy::start(&first, server.addr().parse().unwrap());
    let key = proxy.server();

    // First use: accepted and pinned.
    let r = run(cli_tls(&server, &home, &proxy, &["--tofu", "ping"]), b"");
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(r.stderr.contains("pinned its certificate"), "{}", r.stderr);
    assert_eq!(known_hosts(&home), format!("{key} {}\n", first.fingerprint()));

    // Later: the same certificate is accepted quietly.
    let r = run(
        cli_tls(
            &server,
            &home,
            &proxy,
            &["--tofu", "send", "#t", "pinned and fine"],
        ),
        b"",
    );
    assert_eq!((r.code(), r.stderr.as_str()), (0, ""));

    // Another certificate: refused loudly, nothing sent, the pin kept.
    let second = self_signed();
    proxy.set_cert(&second);
    let r = run(
        cli_tls(&server, &home, &proxy, &["--tofu", "send", "#t", "x"]),
        b"",
    );
    assert_eq!(r.code(), CONNECTION, "{}", r.stderr);
    for needle in [
        format!("THE CERTIFICATE OF {key} HAS CHANGED"),
        format!("pinned:    {}", first.fingerprint()),
        format!("presented: {}", second.fingerprint()),
        "attack".to_string(),
    ] {
        assert!(r.stderr.contains(&needle), "no {needle:?} in:\n{}", r.stderr);
    }
    assert_eq!(known_hosts(&home), format!("{key} {}\n", first.fingerprint()));

    // The command it prints accepts the new certificate.
    let command = r
        .stderr
        .lines()
        .find_map(|l| {
            l.trim_start_matches("scalar-cli:")
                .trim()
                .strip_prefix("scalar-cli trust ")
        })
        .unwrap_or_else(|| panic!("no trust command in:\n{}", r.stderr))
        .to_string();
    assert_eq!(command, format!("{key} {}", second.fingerprint()));
    let mut trust = cli(&server, &home);
    trust.arg("trust").args(command.split(' '));
    let r = run(trust, b"");
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(known_hosts(&home), format!("{key} {}\n", second.fingerprint()));
    let r = run(cli_tls(&server, &home, &proxy, &["--tofu", "ping"]), b"");
    assert_eq!(r.code(), 0, "{}", r.stderr);

    // A malformed line in the file is skipped with a warning, not a failure.
    let text = format!("garbage line\n{}", known_hosts(&home));
    write_file(&home, "data/scalar-cli/known_hosts", &text);
    let r = run(cli_tls(&server, &home, &proxy, &["--tofu", "ping"]), b"");
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(r.stderr.contains("line 1 is not"), "{}", r.stderr);
}

/// The interactive client, stdin and stdout piped (its plain-line mode).
struct Chat {
    child: Child,
    input: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Chat {
    fn spawn(mut cmd: Command) -> Chat {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Chat { child, input, lines }
    }

    fn type_line(&mut self, s: &str) {
        writeln!(self.input, "{s}").unwrap();
    }

    /// Waits for a line containing `needle`, within [`STEP`].
    fn expect(&self, needle: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => panic!("no line with {needle:?} in time"),
            }
        }
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn interactive_over_tls_sends_receives_and_reconnects() {
    let server = Server::start();
    let home = TempDir::new();
    let (ca_pem, cert) = ca_signed();
    let ca = write_file(&home, "ca.pem", &ca_pem);
    let proxy = TlsProxy::start(&cert, server.addr().parse().unwrap());
    let mut raw = server.client("carol");
    subscribe(&mut raw, "#up@localhost");

    let mut chat = Chat::spawn(cli_tls(&server, &home, &proxy, &["--ca", &ca, "--id", "alice"]));
    chat.expect(&format!(
        "connected to {} over TLS as alice@localhost",
        proxy.server()
    ));
    chat.type_line("/join #up");
    wait_subscribers(&server, "#up@localhost", 2);
    chat.type_line("typed over TLS");
    assert_eq!(next_text(&mut raw), "typed over TLS");
    publish(&mut raw, "#up@localhost", "to the TLS client");
    chat.expect("carol: to the TLS client");
    // Waiting on the socket and the outbox, the network thread does not spin.
    wait_idle(chat.child.id(), STEP);

    // The connection drops; the client reconnects, over TLS again, and rejoins.
    proxy.cut();
    chat.expect("reconnected to");
    wait_subscribers(&server, "#up@localhost", 2);
    chat.type_line("after the reconnect");
    assert_eq!(next_text(&mut raw), "after the reconnect");
    chat.type_line("/quit");
    let deadline = Instant::now() + STEP;
    let status = loop {
        if let Some(st) = chat.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "the client did not quit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn library_client_timeouts_leave_tls_usable() {
    use scalar::client::{Client, ClientError};
    let server = Server::start();
    let home = TempDir::new();
    let (ca_pem, cert) = ca_signed();
    let ca = write_file(&home, "ca.pem", &ca_pem);
    let proxy = TlsProxy::start(&cert, server.addr().parse().unwrap());
    let tls = scalar::tls::Tls::with_ca_file(std::path::Path::new(&ca)).unwrap();
    let mut c = Client::connect_with(proxy.server(), "dave@localhost", STEP, Some(&tls)).unwrap();
    assert!(c.is_tls());
    assert_eq!(
        c.peer_fingerprint().map(|f| f.to_string()),
        Some(cert.fingerprint())
    );
    assert!(c.try_clone_stream().is_err(), "a TLS session has one owner");
    subscribe(&mut c, "#slow@localhost");
    // Reads that time out in a row, then a frame: rustls's state survived the timeouts.
    c.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
    for _ in 0..5 {
        assert!(matches!(c.recv(), Err(ClientError::Timeout(_))));
        assert!(!c.has_buffered_input());
    }
    let mut raw = server.client("erin");
    subscribe(&mut raw, "#slow@localhost");
    publish(&mut raw, "#slow@localhost", "after the timeouts");
    c.set_read_timeout(Some(STEP)).unwrap();
    assert_eq!(next_text(&mut c), "after the timeouts");
    let ms = c.ping(STEP).unwrap();
    assert!(ms >= 0.0);
    // The TCP socket under TLS is still the one to shut down.
    c.stream().shutdown(std::net::Shutdown::Write).unwrap();
    assert!(matches!(c.recv(), Err(ClientError::Closed)));
}
