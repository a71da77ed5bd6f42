//! Test harness: a real scalard on an ephemeral loopback port, the scalar-cli binary with a
//! private environment, and bounded waits everywhere (every wait has a timeout, every child is
//! killed on drop), so a failing test fails instead of hanging.
#![allow(dead_code)]

pub mod pty;

use scalar::client::Client;
use scalar::proto::{Body, Message, Msg, MsgId, Name, Sub};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// How long any single step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(15);

/// The scalar-cli binary under test.
pub fn cli_path() -> &'static str {
    env!("CARGO_BIN_EXE_scalar-cli")
}

/// The scalard binary: next to scalar-cli (`cargo test --workspace` builds both), else built
/// once here with the same cargo (for `cargo test -p scalar-cli`).
pub fn scalard_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = Path::new(cli_path()).with_file_name("scalard");
        if !path.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "--bin", "scalard", "-p", "scalar"])
                .current_dir(root);
            if cli_path().contains("/release/") {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build for scalard");
            assert!(status.success(), "cargo build --bin scalard failed");
        }
        assert!(path.exists(), "scalard not found at {}", path.display());
        path
    })
    .clone()
}

/// A running scalard on 127.0.0.1; stopped on drop.
pub struct Server {
    child: Option<Child>,
    /// The port it listens on.
    pub port: u16,
}

impl Server {
    /// Stops (SIGSTOP) or resumes (SIGCONT) the server: a frozen one answers nothing.
    pub fn freeze(&self, on: bool) {
        let sig = if on { libc::SIGSTOP } else { libc::SIGCONT };
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as libc::pid_t, sig) };
        }
    }

    /// Starts a server on an ephemeral port.
    pub fn start() -> Server {
        Server::start_on(0)
    }

    /// Starts a server on `port` (0: any), waiting until it logs `listening on`.
    pub fn start_on(port: u16) -> Server {
        Server::start_with(port, &[])
    }

    /// Starts a server on `port` with extra scalard arguments; it keeps no history unless they
    /// name a `--data-dir`. A port other than 0 must come from [`restartable_port`]: any other
    /// may be taken by another socket before the server binds it.
    pub fn start_with(port: u16, extra: &[&str]) -> Server {
        assert!(
            port == 0 || reserved(port),
            "port {port} was not reserved: start a server to be restarted on restartable_port()"
        );
        let ephemeral: &[&str] = match extra.contains(&"--data-dir") {
            true => &[],
            false => &["--ephemeral"],
        };
        let deadline = Instant::now() + STEP;
        loop {
            let mut child = Command::new(scalard_path())
                .args(["--listen", &format!("127.0.0.1:{port}")])
                // Tests connect and publish faster than people do; a test of a limit names it
                // in `extra`, which comes later and wins.
                .args(["--flood", "off"])
                .args(extra)
                .args(ephemeral)
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start scalard");
            let stderr = child.stderr.take().expect("scalard stderr");
            let (tx, rx) = mpsc::channel();
            // Keep draining the log for the server's whole life, so it never blocks on it.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(addr) = line.split("listening on ").nth(1) {
                        let _ = tx.send(addr.trim().to_string());
                    }
                }
            });
            match rx.recv_timeout(STEP) {
                Ok(addr) => {
                    let port = addr
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .expect("port");
                    return Server {
                        child: Some(child),
                        port,
                    };
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    // The port of a server just stopped may take a moment to free up.
                    assert!(Instant::now() < deadline, "scalard did not start on port {port}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the server with SIGTERM (it says Bye `shutting_down` to everyone), waiting for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + STEP;
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.wait();
        }
    }

    /// A raw protocol client, identified as `user@localhost`.
    pub fn client(&self, user: &str) -> Client {
        Client::connect(self.addr(), &format!("{user}@localhost"), STEP).expect("connect")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The sockets that hold the ports [`restartable_port`] gave out, for the test process's life.
static RESERVED: Mutex<Vec<socket2::Socket>> = Mutex::new(Vec::new());

/// Whether `port` is one [`restartable_port`] gave out.
fn reserved(port: u16) -> bool {
    let held = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
    held.iter().any(|s| {
        s.local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|a| a.port() == port)
    })
}

/// A loopback port for a server that the test stops and starts again on the same port (a
/// reconnect test): `Server::start_with(restartable_port(), …)`, later `start_with(port, …)`.
///
/// Port 0 is not enough for that: once the server stops, its port is free, and the kernel may
/// give it to any socket (a parallel test's server, proxy or connection: cargo runs a binary's
/// tests on several threads) before the restart, which then fails. So this port is
/// - outside the kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`), from
///   which alone both `bind` to port 0 and `connect` choose: no socket is given it unasked;
/// - probed by binding it without `SO_REUSEADDR`, which fails while any socket has it (a
///   listener, a connection, one in TIME_WAIT, another probe's), in this process or another;
/// - held by the socket that probed it, bound but not listening, `SO_REUSEADDR` set once bound,
///   until the process ends. Linux lets scalard (which sets `SO_REUSEADDR`) bind and listen
///   beside a bound socket that does not listen when both set it, but every later probe fails
///   on it: no other test, of this binary or a parallel one, takes the port while its server
///   is down, and a client dialling it then is refused, as with no server.
///
/// The search starts at a place set by the process id, so that parallel test binaries do not
/// all probe the same ports first.
pub fn restartable_port() -> u16 {
    use socket2::{Domain, Socket, Type};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (lo, hi) = outside_ephemeral_ports();
    let span = u32::from(hi - lo) + 1;
    let start = std::process::id().wrapping_mul(7919) % span;
    let mut held = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..span {
        let offset = (start + NEXT.fetch_add(1, Ordering::SeqCst)) % span;
        let port = lo + u16::try_from(offset).unwrap();
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        if sock.bind(&addr.into()).is_err() {
            continue;
        }
        sock.set_reuse_address(true).unwrap();
        held.push(sock);
        return port;
    }
    panic!("no free port in {lo}..={hi}");
}

/// Ports no socket is given unasked: up to 10,000 below the kernel's ephemeral range, or above
/// it if it starts too low (Linux's default range, 32768-60999, if it cannot be read). On a
/// host whose range leaves no room either side, any port: the held socket still keeps probes
/// off it, and Linux's `connect` passes over ports a `bind` holds.
fn outside_ephemeral_ports() -> (u16, u16) {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok();
    let mut bounds = range
        .iter()
        .flat_map(|r| r.split_whitespace())
        .filter_map(|n| n.parse::<u16>().ok());
    let (first, last) = match (bounds.next(), bounds.next()) {
        (Some(first), Some(last)) => (first, last),
        _ => (32768, 60999),
    };
    if first >= 2048 {
        (first.saturating_sub(10_000).max(1024), first - 1)
    } else if last <= 63_000 {
        (last + 1, u16::MAX)
    } else {
        (1024, u16::MAX)
    }
}

/// A private temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates a fresh directory.
    pub fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "scalar-cli-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// scalar-cli with a clean environment pointed at `server`.
pub fn cli(server: &Server, home: &TempDir) -> Command {
    let mut c = Command::new(cli_path());
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SCALAR_SERVER", server.addr())
        .env("HOME", &home.0)
        .env("XDG_DATA_HOME", home.0.join("data"))
        .env("USER", "tester")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    c
}

/// What a finished command produced.
pub struct Run {
    /// How it exited.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The exit code.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
}

/// Runs `cmd` with `stdin` as input; fails the test if it takes longer than [`STEP`].
pub fn run(mut cmd: Command, stdin: &[u8]) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scalar-cli");
    let pid = child.id();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(STEP) {
        Ok(out) => {
            let out = out.unwrap();
            let run = Run {
                status: out.status,
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            };
            assert_clean(&run.stderr);
            run
        }
        Err(_) => {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            panic!("scalar-cli did not finish within {STEP:?}");
        }
    }
}

/// Fails if output shows a panic or a Rust Debug dump instead of a one-line message.
pub fn assert_clean(text: &str) {
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "Refused {",
        "Io(",
        "Os {",
        "Protocol(",
        "Some(",
    ] {
        assert!(!text.contains(bad), "output has {bad:?}:\n{text}");
    }
}

/// A child process whose standard output is read line by line with timeouts.
pub struct Lines {
    /// The process.
    pub child: Child,
    rx: mpsc::Receiver<String>,
}

impl Lines {
    /// Starts `cmd` with stdout piped.
    pub fn spawn(mut cmd: Command) -> Lines {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Lines { child, rx }
    }

    /// The next line, within [`STEP`]. Past it, the process is stopped and what it wrote on
    /// standard error is part of the failure: a listen that waits in silence says why there.
    pub fn next(&mut self) -> String {
        match self.rx.recv_timeout(STEP) {
            Ok(line) => line,
            Err(e) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let mut err = String::new();
                if let Some(mut s) = self.child.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                panic!("no line of output in time ({e:?}); its standard error:\n{err}");
            }
        }
    }

    /// Waits for the process to exit, within [`STEP`]; returns its code and standard error.
    pub fn finish(mut self) -> (i32, String) {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                assert_clean(&err);
                return (st.code().unwrap_or(-1), err);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("process did not exit in time");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `topic` has at least `n` subscribers, as seen by subscribing `probe` to it
/// (which adds one). Used to know that a listener has subscribed before publishing.
pub fn wait_subscribers(server: &Server, topic: &str, n: u64) {
    let mut c = server.client("probe");
    let deadline = Instant::now() + STEP;
    loop {
        let f = c
            .request(STEP, |seq| {
                Msg::Sub(Sub {
                    seq,
                    topic: Name::parse(topic).unwrap(),
                })
            })
            .unwrap();
        if let Ok(Msg::Meta(m)) = f.msg()
            && m.subscribers > n
        {
            return;
        }
        assert!(Instant::now() < deadline, "nobody subscribed to {topic} in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a server on `port` (0: any) that keeps history in `dir`.
pub fn history_server(port: u16, dir: &TempDir) -> Server {
    Server::start_with(port, &["--data-dir", dir.0.to_str().unwrap()])
}

/// The password of the accounts [`add_accounts`] makes.
pub const PASSWORD: &str = "password";

/// Makes accounts (of localhost) named `names` in the data directory `dir`, with [`PASSWORD`]:
/// only a session that logged in reads the direct messages its name got before it.
pub fn add_accounts(dir: &TempDir, names: &[&str]) {
    for name in names {
        add_account_of(&dir.0, name, "localhost");
    }
}

/// Makes the account `name` of `domain` in the data directory `data`, with [`PASSWORD`].
pub fn add_account_of(data: &std::path::Path, name: &str, domain: &str) {
    let mut add = Command::new(scalard_path())
        .args(["account", "add", name, "--domain", domain, "--data-dir"])
        .arg(data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let line = format!("{PASSWORD}\n");
    std::io::Write::write_all(&mut add.stdin.take().unwrap(), line.as_bytes()).unwrap();
    assert!(add.wait().unwrap().success(), "account add {name}");
}

/// A raw client logged in to the account `user` (see [`add_accounts`]).
pub fn logged_in(server: &Server, user: &str) -> Client {
    let mut c = Client::connect_raw(server.addr(), STEP).expect("connect");
    let login = scalar::client::Login {
        password: PASSWORD.into(),
        register: false,
    };
    c.identify(&format!("{user}@localhost"), Some(&login), STEP)
        .expect("log in");
    c
}

/// Publishes `text` from a raw client and returns the id and time the server gave it (from
/// the echo).
pub fn say(c: &mut Client, topic: &str, text: &str) -> (MsgId, u64) {
    let f = c
        .request(STEP, |seq| {
            Msg::Message(Message {
                seq,
                topic: Name::parse(topic).unwrap(),
                body: Body::Text(text),
                ctype: None,
                reply_to: None,
            })
        })
        .unwrap();
    match f.msg() {
        Ok(Msg::Event(e)) => (e.id, e.time),
        other => panic!("expected the echo, got {other:?}"),
    }
}

/// Subscribes a raw client to `topic`.
pub fn subscribe(c: &mut Client, topic: &str) {
    c.request(STEP, |seq| {
        Msg::Sub(Sub {
            seq,
            topic: Name::parse(topic).unwrap(),
        })
    })
    .unwrap();
}

/// Publishes `text` from a raw client (subscribed, if `topic` is a channel).
pub fn publish(c: &mut Client, topic: &str, text: &str) {
    say(c, topic, text);
}

/// Publishes `n` messages of about `size` bytes to `topic` as fast as the server takes them: a
/// writer thread sends them with up to 100 in flight, while this thread reads the echoes (so
/// the flooder's own queue on the server stays under its limit). Message `i` starts with
/// `flood message number {i:05}`.
pub fn flood(server: &Server, topic: &str, n: usize, size: usize) {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    let mut c = server.client("flooder");
    subscribe(&mut c, topic);
    let mut w = c.stream().try_clone().unwrap();
    let topic = topic.to_string();
    let echoed = Arc::new(AtomicUsize::new(0));
    let seen = echoed.clone();
    let writer = std::thread::spawn(move || {
        // "Stopped" means no echo for a whole STEP, not a slow machine taking longer than a
        // STEP for the whole flood (the tests of this file run in parallel).
        let mut progress = (0, Instant::now());
        for i in 0..n {
            while i > seen.load(Ordering::SeqCst) + 100 {
                let now_seen = seen.load(Ordering::SeqCst);
                if now_seen != progress.0 {
                    progress = (now_seen, Instant::now());
                }
                assert!(progress.1.elapsed() < STEP, "echoes stopped");
                std::thread::sleep(Duration::from_micros(200));
            }
            let text = format!("flood message number {i:05} {}", "x".repeat(size));
            let frame = Msg::Message(Message {
                seq: Some(1_000_000 + i as u32),
                topic: Name::parse(&topic).unwrap(),
                body: Body::Text(&text),
                ctype: None,
                reply_to: None,
            })
            .to_frame()
            .unwrap();
            w.write_all(&frame).unwrap();
        }
    });
    while echoed.load(Ordering::SeqCst) < n {
        let f = c.recv().expect("echo in time");
        if let Ok(Msg::Event(e)) = f.msg()
            && e.seq.is_some()
        {
            echoed.fetch_add(1, Ordering::SeqCst);
        }
    }
    writer.join().unwrap();
}

/// Waits until process `pid` has used no CPU for 300 ms (Linux: /proc/PID/stat).
pub fn wait_idle(pid: u32, timeout: Duration) {
    let cpu = || -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the ")" that closes the command name; utime and stime are 14 and 15.
        let rest = stat.rsplit(')').next().unwrap_or("");
        rest.split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|f| f.parse::<u64>().ok())
            .sum()
    };
    let deadline = Instant::now() + timeout;
    let mut last = cpu();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_millis(300) {
        assert!(Instant::now() < deadline, "process {pid} stayed busy");
        std::thread::sleep(Duration::from_millis(50));
        let now = cpu();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
}

/// The text of the next Event a raw client receives (skipping anything else), within its
/// read timeout.
pub fn next_text(c: &mut Client) -> String {
    loop {
        let f = c.recv().expect("an event in time");
        if let Ok(Msg::Event(e)) = f.msg()
            && let Body::Text(t) = e.body
        {
            return t.to_string();
        }
    }
}

/// What [`proxy`] does with a frame from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    /// Sends it on to the server.
    On,
    /// Drops it, as a server that never answers it.
    Drop,
    /// Drops it and cuts the connection, both ways.
    Cut,
    /// Answers it with this frame instead of the server, as another server might.
    Answer(Vec<u8>),
}

/// The first entry of a frame's map, key 0 (type), is `msg_type`.
pub fn is_type(frame: &[u8], msg_type: u8) -> bool {
    frame.get(1..3) == Some(&[0x00, msg_type])
}

/// The next frame from `r`, its length prefix and its payload; `None` at the end or on an
/// error.
pub fn read_frame(r: &mut impl Read) -> Option<([u8; 2], Vec<u8>)> {
    let mut len = [0u8; 2];
    r.read_exact(&mut len).ok()?;
    let mut payload = vec![0u8; usize::from(u16::from_le_bytes(len))];
    r.read_exact(&mut payload).ok()?;
    Some((len, payload))
}

/// A proxy to `upstream` on a port of its own (returned), which hands each frame the client
/// sends, with the number of its connection (0 for the first), to `decide`.
pub fn proxy(upstream: String, decide: fn(usize, &[u8]) -> Pass) -> u16 {
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, down) in listener.incoming().map_while(Result::ok).enumerate() {
            let Ok(mut up) = std::net::TcpStream::connect(&upstream) else {
                return;
            };
            // Both the server's frames and the proxy's own answers go down: whole frames each,
            // under one lock, so that neither lands inside the other.
            let to_down = Arc::new(Mutex::new(down.try_clone().unwrap()));
            let (mut from_up, copier) = (up.try_clone().unwrap(), Arc::clone(&to_down));
            std::thread::spawn(move || {
                while let Some((len, frame)) = read_frame(&mut from_up) {
                    let mut d = copier.lock().unwrap();
                    if d.write_all(&len).and_then(|_| d.write_all(&frame)).is_err() {
                        break;
                    }
                }
                let _ = copier.lock().unwrap().shutdown(std::net::Shutdown::Both);
            });
            let mut down = down;
            std::thread::spawn(move || {
                while let Some((len, frame)) = read_frame(&mut down) {
                    match decide(n, &frame) {
                        Pass::On => {}
                        Pass::Drop => continue,
                        Pass::Cut => break,
                        Pass::Answer(reply) => {
                            if to_down.lock().unwrap().write_all(&reply).is_err() {
                                break;
                            }
                            continue;
                        }
                    }
                    if up.write_all(&len).and_then(|_| up.write_all(&frame)).is_err() {
                        break;
                    }
                }
                let _ = up.shutdown(std::net::Shutdown::Both);
                let _ = down.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    port
}

/// A proxy to `upstream` on a port of its own (returned), for one connection: it passes
/// everything from the client, and from the server the first frame (the Ident reply), then
/// nothing, without closing the client's side: a link gone silent.
pub fn stalling_proxy(upstream: String) -> u16 {
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Some(Ok(down)) = proxy.incoming().next() else {
            return;
        };
        let Ok(up) = std::net::TcpStream::connect(&upstream) else {
            return;
        };
        let (mut from_down, mut to_up) = (down.try_clone().unwrap(), up.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from_down, &mut to_up);
        });
        let (mut from_up, mut to_down) = (up, down);
        if let Some((len, frame)) = read_frame(&mut from_up) {
            let _ = to_down.write_all(&len).and_then(|_| to_down.write_all(&frame));
        }
        let _ = std::io::copy(&mut from_up, &mut std::io::sink());
        // Held open until the test ends: the client must find out by itself.
        std::thread::sleep(STEP);
        drop(to_down);
    });
    port
}

/// The owner of `topic`, a new channel it gave a `rate` (Messages a minute per member), its
/// record seen.
pub fn rated(server: &Server, topic: &str, rate: u64) -> Client {
    let mut op = server.client("op");
    subscribe(&mut op, topic);
    op.request(STEP, |seq| {
        Msg::SetMeta(scalar::proto::SetMeta {
            seq,
            topic: Name::parse(topic).unwrap(),
            display: None,
            subject: None,
            modes: None,
            rate: Some(rate),
            join_rate: None,
        })
    })
    .unwrap();
    assert_eq!(next_text(&mut op), format!("rate {rate}"));
    op
}

/// Starts the interactive client for `id` on a pty and waits for its first prompt.
pub fn chat(server: &Server, home: &TempDir, id: &str) -> pty::Pty {
    chat_with(cli(server, home), id)
}

/// Starts the interactive client of `cmd` as `id` on a pty and waits for its first prompt.
pub fn chat_with(mut cmd: Command, id: &str) -> pty::Pty {
    cmd.args(["--id", id]);
    let pty = pty::Pty::spawn(cmd);
    pty.wait_for("scalar> ", STEP);
    pty
}

/// A proxy to `upstream` on a port of its own (returned) that plays a minimal conforming server
/// without the extensions (PROTOCOL.md §4: "A server without the extension types answers each
/// of 64–74 so"): it answers each client frame of type 64–74 itself with Error `unknown_type`
/// (103), as the Python server written from the spec alone does, and passes the rest on.
pub fn no_extensions_proxy(upstream: String) -> u16 {
    proxy(upstream, |_, frame| {
        // Types 24 and above take two bytes in CBOR: 0x18 then the number.
        if !matches!(frame.get(1..4), Some(&[0x00, 0x18, t]) if (64..=74).contains(&t)) {
            return Pass::On;
        }
        let error = Msg::Error(scalar::proto::ErrorMsg {
            seq: Msg::decode(frame).ok().and_then(|m| m.seq()),
            code: 103,
            reason: Some("unknown type"),
            server: None,
            topic: None,
            retry_after: None,
        });
        Pass::Answer(scalar::client::encode(&error).unwrap())
    })
}

/// A gate in front of a server that a test stops and starts again: the client dials the gate's
/// port ([`Gate::addr`]), and the gate, while open, forwards each connection to `upstream`
/// byte for byte; while closed, it takes each new connection and drops it at once, a server
/// that is not there yet, so that the client's reconnect attempt fails. Connections made while
/// it was open go on until one side ends.
///
/// A reconnect test closes it before stopping the server, restarts the server and sets the
/// scene there at its own pace, then opens it: the client's next attempt, whenever its backoff
/// brings it, finds the scene set (without it, a slow machine could let an attempt in halfway).
pub struct Gate {
    /// The port the client dials.
    pub port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Gate {
    /// An open gate to `upstream`.
    pub fn new(upstream: String) -> Gate {
        use std::net::{Shutdown, TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let is_open = std::sync::Arc::clone(&open);
        std::thread::spawn(move || {
            for down in listener.incoming().map_while(Result::ok) {
                if !is_open.load(Ordering::SeqCst) {
                    drop(down);
                    continue;
                }
                // The server down while the gate is open: the same as a closed gate.
                let Ok(up) = TcpStream::connect(&upstream) else {
                    continue;
                };
                // One thread each way; either side ending ends both.
                let ends = [(down.try_clone(), up.try_clone()), (Ok(up), Ok(down))];
                for (from, to) in ends {
                    let (Ok(mut from), Ok(mut to)) = (from, to) else {
                        continue;
                    };
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = from.shutdown(Shutdown::Both);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Gate { port, open }
    }

    /// `127.0.0.1:PORT`, for the client.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Opens (`true`) or closes the gate to new connections.
    pub fn open(&self, on: bool) {
        self.open.store(on, Ordering::SeqCst);
    }
}

/// [`chat`] through `gate` (in front of `server`) rather than straight to `server`.
pub fn chat_through(gate: &Gate, server: &Server, home: &TempDir, id: &str) -> pty::Pty {
    let mut cmd = cli(server, home);
    cmd.env("SCALAR_SERVER", gate.addr());
    chat_with(cmd, id)
}
