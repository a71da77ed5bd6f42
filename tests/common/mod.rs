//! Shared harness for the end-to-end tests: start the real scalard on an ephemeral loopback port,
//! talk to it with the blocking client, and stop it when the test ends.
#![allow(dead_code)]

use scalar::client::{Client, Frame};
use scalar::proto::*;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running scalard, killed when dropped.
pub struct Scalard {
    pub child: Child,
    pub addr: SocketAddr,
    /// The TLS listener's address, when started with `--tls-listen`.
    pub tls_addr: Option<SocketAddr>,
    /// Lines the server logged after "listening on".
    pub log: mpsc::Receiver<String>,
    /// Lines the server logged before it listened (a store's upgrade, say).
    pub startup: Vec<String>,
    /// The data directory the harness made for it, removed on drop.
    pub data: Option<DataDir>,
}

/// The flags that make scalard also listen for TLS on 127.0.0.1:0 with the PEM files `cert`
/// and `key`.
pub fn tls_flags<'a>(cert: &'a str, key: &'a str) -> [&'a str; 6] {
    [
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
    ]
}

/// A fresh data directory under the system's temporary directory, removed on drop.
pub struct DataDir(pub PathBuf);

impl DataDir {
    pub fn new() -> DataDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("scalard-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make data dir");
        DataDir(dir)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("UTF-8 temp path")
    }

    /// Writes `text` as `scalard.toml` here (again, for a reload); returns its path for
    /// `--config`.
    pub fn config(&self, text: &str) -> String {
        let conf = self.0.join("scalard.toml");
        std::fs::write(&conf, text).expect("write the configuration");
        conf.to_str().expect("UTF-8 temp path").to_string()
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Scalard {
    /// Starts scalard on 127.0.0.1:0 with extra flags; with history in a fresh data directory
    /// unless the flags name one or say `--ephemeral`.
    pub fn start(flags: &[&str]) -> Scalard {
        let own = !flags.iter().any(|f| *f == "--ephemeral" || *f == "--data-dir");
        let data = own.then(DataDir::new);
        let mut s = Scalard::start_in(data.as_ref().map(DataDir::path), flags);
        s.data = data;
        s
    }

    /// Starts scalard with its history in `dir` (if given), so a test can restart it there.
    /// Its flood limits are off: tests connect and publish faster than people do. A test of a
    /// limit names it in `flags`, which come later and win (or uses [`Scalard::start_limited`]).
    pub fn start_in(dir: Option<&str>, flags: &[&str]) -> Scalard {
        Scalard::start_flagged(dir, &[&["--flood", "off"][..], flags].concat())
    }

    /// Starts an ephemeral scalard that also listens for TLS on 127.0.0.1:0 with the PEM files
    /// `cert` and `key`, plus `flags`.
    pub fn start_tls(cert: &str, key: &str, flags: &[&str]) -> Scalard {
        Scalard::start(&[&["--ephemeral"][..], &tls_flags(cert, key), flags].concat())
    }

    /// Starts scalard with its default flood limits (and a fresh data directory).
    pub fn start_limited(flags: &[&str]) -> Scalard {
        let data = DataDir::new();
        let mut s = Scalard::start_flagged(Some(data.path()), flags);
        s.data = Some(data);
        s
    }

    fn start_flagged(dir: Option<&str>, flags: &[&str]) -> Scalard {
        scalar::net::raise_fd_limit().expect("fd limit");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scalard"));
        cmd.args(flags);
        if let Some(d) = dir {
            cmd.args(["--data-dir", d]);
        }
        Scalard::spawn(cmd)
    }

    /// Starts an ephemeral scalard, its flood limits off, logging with `RUST_LOG` set to
    /// `rust_log` (the others log at `info`).
    pub fn start_logging(rust_log: &str, flags: &[&str]) -> Scalard {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scalard"));
        cmd.args(["--ephemeral", "--flood", "off"])
            .args(flags)
            .env("RUST_LOG", rust_log);
        Scalard::spawn(cmd)
    }

    /// Starts scalard with at most `n` open files (soft and hard) and extra flags.
    pub fn start_with_fd_limit(n: u64, flags: &[&str]) -> Scalard {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scalard"));
        cmd.args(["--ephemeral", "--flood", "off"]).args(flags);
        // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
        unsafe {
            cmd.pre_exec(move || {
                let r = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                match libc::setrlimit(libc::RLIMIT_NOFILE, &r) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
        Scalard::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Scalard {
        let tls = cmd.get_args().any(|a| a == "--tls-listen");
        if !cmd.get_envs().any(|(k, _)| k == "RUST_LOG") {
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd
            .args(["--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn scalard");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Plain listeners are logged first, then TLS ones as "listening on ADDR (tls)".
        let mut startup = Vec::new();
        let mut listening = || loop {
            let line = rx
                .recv_timeout(WAIT)
                .expect("scalard did not say it was listening");
            startup.push(line.clone());
            if let Some(a) = line.split("listening on ").nth(1) {
                let a = a.trim();
                break match a.strip_suffix(" (tls)") {
                    Some(a) => (a.parse().expect("address"), true),
                    None => (a.parse().expect("address"), false),
                };
            }
        };
        let (addr, is_tls) = listening();
        assert!(!is_tls, "the plain listener comes first");
        let tls_addr = tls.then(listening).map(|(a, is_tls)| {
            assert!(is_tls, "one plain listener, then TLS");
            a
        });
        Scalard {
            child,
            addr,
            tls_addr,
            log: rx,
            startup,
            data: None,
        }
    }

    /// Connects and identifies as `user` (a local name; @localhost is added).
    pub fn client(&self, user: &str) -> Client {
        client_at(self.addr, user)
    }

    /// A raw connection, not identified.
    pub fn raw(&self) -> Client {
        Client::connect_raw(self.addr, WAIT).expect("connect")
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("proc status");
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
        line.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("number")
    }

    /// Sends the server `signal` (SIGHUP: reload).
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill only sends a signal to the child this harness started.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// The address of the metrics endpoint (started with `--metrics-listen 127.0.0.1:0`), as
    /// its log line says.
    pub fn metrics_addr(&self) -> String {
        let line = self.expect_log("metrics at http://");
        line.split("http://")
            .nth(1)
            .and_then(|a| a.strip_suffix("/metrics"))
            .expect("the address")
            .to_string()
    }

    /// Waits for a log line containing `needle`.
    pub fn expect_log(&self, needle: &str) -> String {
        loop {
            let line = self
                .log
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no log line with {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }
}

impl Drop for Scalard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GETs from the metrics endpoint at `addr` with `request`: the whole answer.
pub fn scrape(addr: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).expect("connect to the metrics endpoint");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).expect("an answer, then the close");
    out
}

/// A sample's value in the text format.
pub fn sample(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes the metrics endpoint at `addr` until `ok` holds for the text (or 15 s have
/// passed): that text.
pub fn scrape_until(addr: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let got = scrape(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        if ok(&got) || std::time::Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Connects to `addr` and identifies as `user@localhost`.
pub fn client_at(addr: SocketAddr, user: &str) -> Client {
    Client::connect(addr, &format!("{user}@localhost"), WAIT).expect("connect")
}

pub fn name(s: &str) -> Name<'_> {
    Name::parse(s).expect("valid name")
}

/// A Catchup of the latest `count` Events of `topic`.
pub fn latest(seq: u32, topic: &str, count: u32) -> Catchup<'_> {
    Catchup {
        seq: Some(seq),
        topic: name(topic),
        count,
        since: None,
        after: None,
        until: None,
        before: None,
    }
}

/// A compact text form of a frame, so assertions read like the protocol.
pub fn describe(f: &Frame) -> String {
    match f.msg().expect("server frames decode") {
        Msg::Ident(i) => format!("Ident {}", i.user),
        Msg::Error(e) => {
            let code = ErrorCode::from_u16(e.code).map_or(e.code.to_string(), |c| c.to_string());
            format!("Error {code} seq={:?}", e.seq)
        }
        Msg::Bye(b) => {
            let code = ErrorCode::from_u16(b.code).map_or(b.code.to_string(), |c| c.to_string());
            format!("Bye {code}")
        }
        Msg::Pong(p) => format!("Pong {} seq={:?}", p.time, p.seq),
        Msg::Ping(_) => "Ping".into(),
        Msg::Meta(m) => format!("Meta {} {} {}", m.topic, m.subscribed, m.subscribers),
        Msg::Event(e) => {
            assert_eq!(e.computed_id(), e.id, "event id");
            let body = match e.body {
                Body::Text(t) => t.to_string(),
                Body::Blob(b) => format!("{} bytes", b.len()),
            };
            format!("Event {} {} {body} seq={:?}", e.topic, e.from, e.seq)
        }
        Msg::TopicList(t) => {
            let names: Vec<String> = t.topics.iter().map(|n| n.to_string()).collect();
            format!("TopicList {} {} [{}]", t.total, t.start, names.join(" "))
        }
        Msg::CatchupEnd(c) => format!("CatchupEnd {:?} {} seq={:?}", c.status, c.count, c.seq),
        other => format!("{other:?}"),
    }
}

/// Receives the next frame and describes it.
pub fn next(c: &mut Client) -> String {
    describe(&c.recv().expect("a frame"))
}

/// Checks that `c` is still served: a Ping gets its Pong.
pub fn still_served(c: &mut Client) {
    c.send(&Msg::Ping(Ping {
        seq: Some(1),
        time: 7,
    }))
    .expect("send a Ping");
    assert_eq!(next(c), "Pong 7 seq=Some(1)");
}

/// Subscribes `c` to `topic` and returns the answer to that Sub (its Meta, or an Error),
/// whatever else arrives first.
pub fn sub_reply(c: &mut Client, topic: &str) -> Frame {
    let seq = c.seq();
    c.send(&Msg::Sub(Sub {
        seq: Some(seq),
        topic: name(topic),
    }))
    .expect("send");
    c.reply(seq, std::time::Instant::now() + WAIT)
        .expect("the Sub's answer")
}

pub fn sub(c: &mut Client, topic: &str) -> String {
    let seq = c.seq();
    c.send(&Msg::Sub(Sub {
        seq: Some(seq),
        topic: name(topic),
    }))
    .expect("send");
    next(c)
}

pub fn say(c: &mut Client, seq: u32, topic: &str, text: &str) {
    let m = Message {
        seq: Some(seq),
        topic: name(topic),
        body: Body::Text(text),
        ctype: None,
        reply_to: None,
    };
    c.send(&Msg::Message(m)).expect("send");
}

/// A frame with the given payload bytes.
pub fn raw_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u16).to_le_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// Runs `scalard account CMD ID --data-dir DIR`, feeding `password` on stdin; returns whether
/// it succeeded and what it printed (stdout, then stderr).
pub fn account(dir: &str, cmd: &str, id: &str, password: &str) -> (bool, String) {
    account_with(dir, cmd, id, password, &[])
}

/// [`account`] with more flags.
pub fn account_with(dir: &str, cmd: &str, id: &str, password: &str, flags: &[&str]) -> (bool, String) {
    let (code, text) = account_code(dir, cmd, id, password, flags);
    (code == Some(0), text)
}

/// [`account_with`], with the exit code.
pub fn account_code(dir: &str, cmd: &str, id: &str, password: &str, flags: &[&str]) -> (Option<i32>, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_scalard"))
        .args(["account", cmd])
        .args((!id.is_empty()).then_some(id))
        .args(["--data-dir", dir])
        .args(flags)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scalard account");
    if let Some(mut stdin) = child.stdin.take() {
        // It may have refused (and exited) before reading a password.
        let _ = writeln!(stdin, "{password}");
    }
    let out = child.wait_with_output().expect("scalard account");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// Connects to `addr` and logs in (or registers) with a password.
pub fn login_at(
    addr: SocketAddr,
    user: &str,
    password: &str,
    register: bool,
) -> Result<Client, scalar::client::ClientError> {
    let mut c = Client::connect_raw(addr, WAIT)?;
    let login = scalar::client::Login {
        password: password.into(),
        register,
    };
    c.identify(user, Some(&login), WAIT)?;
    Ok(c)
}

/// A data directory with the account `alice` (password `correct horse`).
pub fn with_alice() -> DataDir {
    let dir = DataDir::new();
    let (ok, out) = account(dir.path(), "add", "alice@localhost", "correct horse");
    assert!(ok, "{out}");
    dir
}

/// Logs alice in.
pub fn alice(s: &Scalard) -> Client {
    login_at(s.addr, "alice", "correct horse", false).expect("alice logs in")
}

/// The rows `sql` reads from the store in `dir` (read-only, beside the running server), each
/// as its first column (text) and second (its bytes); none if the store cannot be read now
/// (not made yet, or busy), which the waits below take as "not yet".
fn store_rows(dir: &DataDir, sql: &str) -> Vec<(String, Vec<u8>)> {
    use rusqlite::types::ValueRef;
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let Ok(db) = rusqlite::Connection::open_with_flags(dir.0.join("scalard.db"), flags) else {
        return Vec::new();
    };
    let bytes = |v: ValueRef<'_>| match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
        _ => Vec::new(),
    };
    let rows = db.prepare(sql).and_then(|mut st| {
        st.query_map([], |r| {
            let first = String::from_utf8_lossy(&bytes(r.get_ref(0)?)).into_owned();
            Ok((first, bytes(r.get_ref(1)?)))
        })?
        .collect::<Result<Vec<_>, _>>()
    });
    rows.unwrap_or_default()
}

/// Waits (at most [`WAIT`]) until the server in `dir` has saved state (a channel's record, a
/// block, the guests' key) under a key containing `key`, its value holding `value` ("" for
/// any). A test that SIGKILLs the server to show what a change outlives waits for this: the
/// save comes within a tick of the change and a second of the writer's, which a loaded
/// machine stretches (a fixed 2.5 s sleep stood here).
pub fn wait_saved(dir: &DataDir, key: &str, value: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let rows = store_rows(dir, "SELECT key, value FROM state");
        let holds = |v: &[u8]| value.is_empty() || v.windows(value.len()).any(|w| w == value.as_bytes());
        if rows.iter().any(|(k, v)| k.contains(key) && holds(v)) {
            return;
        }
        let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            std::time::Instant::now() < deadline,
            "never saved under {key:?} with {value:?}; keys {keys:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (at most [`WAIT`]) until the server in `dir` has stored (committed) `n` Events in
/// all.
pub fn wait_stored_events(dir: &DataDir, n: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let rows = store_rows(dir, "SELECT sender, body FROM events");
        if rows.len() >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} Events stored",
            rows.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
