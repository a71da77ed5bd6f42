//! Starting the scalard under test and reading its memory use.

use crate::Opts;
use crate::peer::join_over;
use scalar::client::Client;
use scalar::tls::{Fingerprint, Tls};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A scalard child process, killed on drop.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its temporary data directory, removed on drop.
    data: Option<std::path::PathBuf>,
    /// The flags it was started with besides the listener and connection limits, for a restart.
    args: Vec<String>,
    /// The server's last log line, its counts ("N connections served, N refused, ..."). In a
    /// Mutex only so that workload threads can share `&Server`.
    stopped: std::sync::Mutex<std::sync::mpsc::Receiver<String>>,
    /// With `--tls`: the plain listener too (`addr` is then the TLS one).
    pub plain: Option<SocketAddr>,
    /// With `--metrics-listen`: where the metrics are served.
    pub metrics: Option<SocketAddr>,
    /// From spawning the process to its "listening on" line.
    pub startup: Duration,
    /// With `--tls`: the client side, trusting only the certificate the server was given.
    pub tls: Option<Tls>,
    /// With `--tls`: the directory of that certificate and its key, removed on drop.
    cert_dir: Option<PathBuf>,
}

impl Server {
    /// Starts scalard as the options ask: its history mode, and with `--tls` a TLS listener
    /// (the one the workload then uses) with a certificate made for the run.
    pub fn start_for(opts: &Opts) -> std::io::Result<Server> {
        Server::start_for_with(opts, &["--flood", "off"])
    }

    /// [`start_for`](Server::start_for) with `extra` flags instead of `--flood off` (the
    /// server's own flood limits unless they say otherwise).
    pub fn start_for_with(opts: &Opts, extra: &[&str]) -> std::io::Result<Server> {
        let (path, history) = (opts.scalard.as_deref(), opts.history.as_str());
        if !opts.tls {
            return Server::start_fresh(path, history, extra);
        }
        let dir = std::env::temp_dir().join(format!("scalar-bench-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let made =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).map_err(std::io::Error::other);
        let written = made.and_then(|ck| {
            std::fs::write(dir.join("cert.pem"), ck.cert.pem())?;
            std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem())?;
            Tls::pinned(Some(Fingerprint::of(ck.cert.der()))).map_err(std::io::Error::other)
        });
        let started = written.and_then(|tls| {
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            let tls_flags = [
                "--tls-listen",
                "127.0.0.1:0",
                "--tls-cert",
                &cert.to_string_lossy(),
                "--tls-key",
                &key.to_string_lossy(),
            ]
            .map(String::from);
            let flags: Vec<&str> = tls_flags
                .iter()
                .map(String::as_str)
                .chain(extra.iter().copied())
                .collect();
            let mut server = Server::start_fresh(path, history, &flags)?;
            server.tls = Some(tls);
            Ok(server)
        });
        match started {
            Ok(mut server) => {
                server.cert_dir = Some(dir);
                Ok(server)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Connects as `user` and subscribes to `channel`, over TLS if the server was started with it.
    pub fn join(&self, user: &str, channel: &str) -> std::io::Result<Client> {
        join_over(self.addr, self.tls.as_ref(), user, channel)
    }

    /// Starts scalard on an ephemeral loopback port with limits that let the workloads run,
    /// and history `off`, `batched` or `always` (in a fresh temporary directory).
    pub fn start(path: Option<&str>, history: &str) -> std::io::Result<Server> {
        Server::start_with(path, history, &[])
    }

    /// [`start`](Server::start) with more flags. They follow `--flood off`: every workload opens
    /// many loopback connections at once and some publish as fast as they can, which the flood
    /// limits exist to slow down; a flag here can turn one limit back on.
    pub fn start_with(path: Option<&str>, history: &str, extra: &[&str]) -> std::io::Result<Server> {
        Server::start_fresh(path, history, &[&["--flood", "off"], extra].concat())
    }

    /// [`start_with`](Server::start_with) keeping history (batched, or `--history always`;
    /// `off` is taken as batched: what these workloads measure is in the store) and letting
    /// clients register accounts.
    pub fn start_with_accounts(opts: &crate::Opts) -> std::io::Result<Server> {
        let history = match opts.history.as_str() {
            "off" => "batched",
            other => other,
        };
        Server::start_with(opts.scalard.as_deref(), history, &["--registration", "open"])
    }

    /// [`start`](Server::start) with the server's own flood limits (its defaults, changed only by
    /// `extra`): for the workloads that measure those limits.
    pub fn start_with_flood_limits(
        path: Option<&str>,
        history: &str,
        extra: &[&str],
    ) -> std::io::Result<Server> {
        Server::start_fresh(path, history, extra)
    }

    /// Starts scalard with `args` and, unless history is `off`, a fresh data directory.
    fn start_fresh(path: Option<&str>, history: &str, args: &[&str]) -> std::io::Result<Server> {
        let data = match history {
            "off" => None,
            "batched" | "always" => {
                let d = std::env::temp_dir().join(format!("scalar-bench-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&d);
                Some(d)
            }
            other => {
                return Err(std::io::Error::other(format!(
                    "--history {other}: off, batched or always"
                )));
            }
        };
        let args = args.iter().map(|a| a.to_string()).collect();
        Server::start_in(path, history, data, args)
    }

    /// Stops the server (SIGTERM) and starts it again on the same data directory, with the same
    /// flags.
    pub fn restart(mut self, path: Option<&str>, history: &str) -> std::io::Result<Server> {
        let data = self.data.take();
        let args = std::mem::take(&mut self.args);
        let (tls, cert_dir) = (self.tls.take(), self.cert_dir.take());
        drop(self);
        let mut server = Server::start_in(path, history, data, args)?;
        (server.tls, server.cert_dir) = (tls, cert_dir);
        Ok(server)
    }

    /// Starts scalard with its history in `data` (none: `--ephemeral`).
    fn start_in(
        path: Option<&str>,
        history: &str,
        data: Option<std::path::PathBuf>,
        args: Vec<String>,
    ) -> std::io::Result<Server> {
        let path = match path {
            Some(p) => p.into(),
            None => std::env::current_exe()?.with_file_name("scalard"),
        };
        let mut cmd = Command::new(&path);
        match &data {
            None => cmd.arg("--ephemeral"),
            Some(d) => cmd.args(["--fsync", history]).arg("--data-dir").arg(d),
        };
        let spawned = std::time::Instant::now();
        // The workload's own flags come last: a later flag wins, so they can change these.
        let mut child = cmd
            .args([
                "--listen",
                "127.0.0.1:0",
                "--max-connections",
                "19000",
                "--max-per-address",
                "19000",
                "--max-per-subnet",
                "19000",
                "--max-subs",
                "1000",
            ])
            .args(&args)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| std::io::Error::other("no stderr"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let (stopped_tx, stopped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(a) = line.split("listening on ").nth(1) {
                    let _ = tx.send(a.trim().to_string());
                } else if let Some(a) = line.split("metrics at http://").nth(1) {
                    let _ = tx.send(format!("metrics {}", a.trim().trim_end_matches("/metrics")));
                } else if let Some(s) = line.split("stopped: ").nth(1) {
                    let _ = stopped_tx.send(s.trim().to_string());
                } else if line.contains("WARN") || line.contains("ERROR") {
                    eprintln!("scalard: {line}");
                }
            }
        });
        // Each listener logs "listening on ADDR", a TLS one with " (tls)" after it: the workload
        // uses the TLS one when there is one.
        // With a metrics listener, its line comes after the listeners'.
        let tls = args.iter().any(|a| a == "--tls-listen");
        let wants_metrics = args.iter().any(|a| a == "--metrics-listen");
        let parse = |a: &str| {
            a.parse::<SocketAddr>()
                .map_err(|_| std::io::Error::other(format!("bad listen address {a:?}")))
        };
        let (mut plain, mut secure, mut metrics) = (None, None, None);
        while plain.is_none() || (tls && secure.is_none()) || (wants_metrics && metrics.is_none()) {
            let line = rx
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| std::io::Error::other("scalard did not start"))?;
            if let Some(m) = line.strip_prefix("metrics ") {
                metrics = Some(parse(m)?);
            } else if let Some(a) = line.strip_suffix(" (tls)") {
                secure = Some(parse(a)?);
            } else {
                plain = Some(parse(&line)?);
            }
        }
        let (addr, plain) = match (secure, plain) {
            (Some(s), p) => (s, p),
            (None, Some(p)) => (p, None),
            (None, None) => return Err(std::io::Error::other("scalard did not start")),
        };
        Ok(Server {
            child,
            addr,
            plain,
            metrics,
            data,
            args,
            stopped: std::sync::Mutex::new(stopped),
            startup: spawned.elapsed(),
            tls: None,
            cert_dir: None,
        })
    }

    /// Bytes the data directory holds (the database and its WAL).
    pub fn data_bytes(&self) -> u64 {
        let Some(d) = &self.data else { return 0 };
        std::fs::read_dir(d)
            .map(|it| it.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The data directory, if it keeps one.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.data.as_deref()
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// CPU time the server has used so far, user and system over all its threads, in
    /// milliseconds.
    pub fn cpu_ms(&self) -> f64 {
        stat_cpu_ms(&format!("/proc/{}/stat", self.child.id()))
    }

    /// CPU time each of the server's threads has used so far, in milliseconds: its thread id,
    /// its name (the event loop's is "loop") and the time, in the order /proc lists them.
    pub fn threads_cpu_ms(&self) -> Vec<(String, String, f64)> {
        let pid = self.child.id();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Vec::new();
        };
        tasks
            .filter_map(|t| {
                let t = t.ok()?;
                let tid = t.file_name().to_string_lossy().into_owned();
                let name = match tid == pid.to_string() {
                    true => "loop".to_string(),
                    false => std::fs::read_to_string(t.path().join("comm"))
                        .ok()?
                        .trim()
                        .to_string(),
                };
                Some((tid, name, stat_cpu_ms(&t.path().join("stat").to_string_lossy())))
            })
            .collect()
    }

    /// Stops the server and returns its counts from its last log line ("N connections served,
    /// N refused, ..."), if it wrote one.
    pub fn stop(mut self) -> Option<String> {
        self.terminate();
        let stopped = self.stopped.get_mut().ok()?;
        stopped.recv_timeout(Duration::from_secs(1)).ok()
    }

    /// SIGTERM first, so a profiler wrapping the server can write its data; SIGKILL after 10 s.
    /// Then the data directory goes.
    fn terminate(&mut self) {
        // Once reaped (by `stop`), its pid may belong to another process: never signal it again.
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            // SAFETY: signalling our own child process, not yet reaped.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
            for _ in 0..1000 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for d in [self.data.take(), self.cert_dir.take()].into_iter().flatten() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// utime + stime from a /proc `stat` file, in milliseconds (it counts clock ticks, usually
/// 10 ms each); 0 if it cannot be read.
fn stat_cpu_ms(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces: count from after it,
    // where field 3 comes first, so utime and stime (fields 14 and 15) are at 11 and 12.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|n| n.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    ticks as f64 * 1000.0 / hz as f64
}
