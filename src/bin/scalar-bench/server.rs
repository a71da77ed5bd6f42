//! Starting the scalard under test and reading its memory use.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A scalard child process, killed on drop.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its temporary data directory, removed on drop.
    data: Option<std::path::PathBuf>,
    /// From spawning the process to its "listening on" line.
    pub startup: Duration,
}

impl Server {
    /// Starts scalard on an ephemeral loopback port with limits that let the workloads run,
    /// and history `off`, `batched` or `always` (in a fresh temporary directory).
    pub fn start(path: Option<&str>, history: &str) -> std::io::Result<Server> {
        Server::start_with(path, history, &[])
    }

    /// [`start`](Server::start) with more flags.
    pub fn start_with(path: Option<&str>, history: &str, extra: &[&str]) -> std::io::Result<Server> {
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
        Server::start_in(path, history, data, extra)
    }

    /// Stops the server (SIGTERM) and starts it again on the same data directory.
    pub fn restart(mut self, path: Option<&str>, history: &str) -> std::io::Result<Server> {
        let data = self.data.take();
        drop(self);
        Server::start_in(path, history, data, &[])
    }

    /// Starts scalard with its history in `data` (none: `--ephemeral`).
    fn start_in(
        path: Option<&str>,
        history: &str,
        data: Option<std::path::PathBuf>,
        extra: &[&str],
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
        let mut child = cmd
            .args(extra)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--max-connections",
                "19000",
                "--max-per-address",
                "19000",
                "--max-subs",
                "1000",
            ])
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| std::io::Error::other("no stderr"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(a) = line.split("listening on ").nth(1) {
                    let _ = tx.send(a.trim().to_string());
                } else if line.contains("WARN") || line.contains("ERROR") {
                    eprintln!("scalard: {line}");
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| std::io::Error::other("scalard did not start"))?
            .parse()
            .map_err(|_| std::io::Error::other("bad listen address"))?;
        Ok(Server {
            child,
            addr,
            data,
            startup: spawned.elapsed(),
        })
    }

    /// Bytes the data directory holds (the database and its WAL).
    pub fn data_bytes(&self) -> u64 {
        let Some(d) = &self.data else { return 0 };
        std::fs::read_dir(d)
            .map(|it| it.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0)
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
}

impl Drop for Server {
    /// SIGTERM first, so a profiler wrapping the server can write its data; SIGKILL after 10 s.
    fn drop(&mut self) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        for _ in 0..1000 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self.data {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
