//! The Prometheus scrape endpoint (`--metrics-listen`): what the hourly log line counts, and
//! what is open now, for a monitoring system to graph and alert on. A thread of its own serves
//! it from a [`Snapshot`] the loop writes once a second, so a scraper (or a slow or hostile
//! client of the port) never reaches the loop, a connection or the store. One request at a
//! time, each within [`IO_TIMEOUT`] in all and [`MAX_REQUEST`] bytes: the port is for a
//! monitoring system on a private address, not for the public. Counters older than
//! [`STALE`] are not served as if current: a loop that stopped is a failed scrape (503).

use crate::server::{Stats, StoreStats};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The largest request read: a scraper's GET is a few hundred bytes.
pub const MAX_REQUEST: usize = 8 * 1024;

/// How long one connection may take, from accept to the answer taken: a client that trickles
/// its request a byte at a time holds the endpoint no longer than this.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// How old the loop's counters may be before a scrape says the loop is stuck: it writes them
/// every second.
pub const STALE: Duration = Duration::from_secs(10);

/// What the loop knows, as of its last tick.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// The core's counters since the start.
    pub core: Stats,
    /// Connections dropped as slow consumers since the start.
    pub slow_consumers: u64,
    /// Connections open now.
    pub connected: usize,
    /// Channels now: those with a subscriber, and those kept without one.
    pub channels: usize,
    /// The store, if there is one.
    pub store: Option<StoreStats>,
    /// Seconds since the start.
    pub uptime_s: u64,
}

/// The snapshot the loop writes and the endpoint's thread reads, with when it was written
/// (none before the loop's first tick).
pub type Latest = Arc<Mutex<Option<(Snapshot, Instant)>>>;

/// The snapshot in Prometheus's text format (version 0.0.4).
pub fn render(s: &Snapshot) -> String {
    let c = &s.core;
    let mut rows: Vec<(&str, &str, &str, u64)> = vec![
        (
            "scalard_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
            s.uptime_s,
        ),
        (
            "scalard_connections",
            "gauge",
            "Connections open now.",
            s.connected as u64,
        ),
        (
            "scalard_channels",
            "gauge",
            "Channels with a subscriber, or kept without one.",
            s.channels as u64,
        ),
        (
            "scalard_connections_accepted_total",
            "counter",
            "Connections admitted.",
            c.accepted,
        ),
        (
            "scalard_connections_refused_total",
            "counter",
            "Connections refused at accept: a connection limit or rate, a server ban, plain TCP from another host.",
            c.refused,
        ),
        (
            "scalard_slow_consumers_total",
            "counter",
            "Connections dropped as slow consumers.",
            s.slow_consumers,
        ),
        (
            "scalard_messages_total",
            "counter",
            "Messages accepted and published as Events.",
            c.published,
        ),
        (
            "scalard_deliveries_total",
            "counter",
            "Event frames sent, echoes included.",
            c.deliveries,
        ),
        ("scalard_errors_total", "counter", "Error frames sent.", c.errors),
        ("scalard_build_info", "gauge", BUILD_HELP, 1),
    ];
    if let Some(st) = &s.store {
        rows.extend([
            (
                "scalard_store_failing",
                "gauge",
                "1 while the history store cannot write (a full disk, say) and new messages are refused.",
                u64::from(st.failing),
            ),
            (
                "scalard_store_unwritten_events",
                "gauge",
                "Messages accepted and not yet committed to the store.",
                st.unwritten,
            ),
            (
                "scalard_store_unwritten_events_max",
                "gauge",
                "The bound on unwritten messages: at it, senders wait for the disk.",
                st.max_unwritten,
            ),
            (
                "scalard_store_unwritten_bytes",
                "gauge",
                "Bytes of unwritten messages held in memory for the store.",
                st.unwritten_bytes as u64,
            ),
            (
                "scalard_store_unwritten_bytes_max",
                "gauge",
                "The bound on unwritten bytes: at it too, senders wait for the disk.",
                st.max_unwritten_bytes as u64,
            ),
            (
                "scalard_store_queries",
                "gauge",
                "History catch-ups and searches waiting for or running at the store.",
                st.queries as u64,
            ),
        ]);
    }
    let mut out = String::new();
    for (name, kind, help, value) in rows {
        let labels = match name {
            "scalard_build_info" => format!(
                "{{version=\"{}\",commit=\"{}\",protocol=\"{}\"}}",
                env!("CARGO_PKG_VERSION"),
                env!("SCALAR_COMMIT"),
                crate::proto::VERSION
            ),
            _ => String::new(),
        };
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{labels} {value}\n"
        );
    }
    out
}

const BUILD_HELP: &str = "The server's version, commit and protocol version, as labels.";

/// The answer to one request (its bytes as read, at most [`MAX_REQUEST`]): the metrics for a
/// GET (or HEAD) of `/metrics` from `latest` (the counters, or how long since the loop last
/// wrote them when that is longer than [`STALE`]), else an HTTP error that says why.
pub fn answer(request: &[u8], latest: Result<&Snapshot, Duration>) -> Vec<u8> {
    let line = request.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(line)
        .unwrap_or_default()
        .trim_end_matches('\r');
    let mut words = line.split(' ');
    let (method, target, version) = (words.next(), words.next(), words.next());
    let path = target.map(|t| t.split('?').next().unwrap_or_default());
    let complete = ended(request);
    let (status, body) = match (method, path, version) {
        _ if !complete => (
            "400 Bad Request",
            "the request did not end (a blank line) within 8 KiB\n".to_string(),
        ),
        (Some(_), Some(_), Some(v)) if !v.starts_with("HTTP/1.") => {
            ("400 Bad Request", "not an HTTP/1 request line\n".to_string())
        }
        (Some("GET" | "HEAD"), Some("/metrics"), Some(_)) => match latest {
            Ok(s) => ("200 OK", render(s)),
            Err(age) => (
                "503 Service Unavailable",
                format!(
                    "the server's loop has not counted for {} s: it is stuck or still starting\n",
                    age.as_secs()
                ),
            ),
        },
        (Some("GET" | "HEAD"), Some(_), Some(_)) => {
            ("404 Not Found", "the metrics are at /metrics\n".to_string())
        }
        (Some(_), Some(_), Some(_)) => ("405 Method Not Allowed", "GET /metrics\n".to_string()),
        _ => ("400 Bad Request", "not an HTTP/1 request line\n".to_string()),
    };
    let kind = match status {
        "200 OK" => "text/plain; version=0.0.4; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != Some("HEAD") {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// Listens on `addr` and serves the endpoint from `latest` on a thread of its own; the address
/// bound (a port 0 made real).
pub fn serve(addr: SocketAddr, latest: Latest) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let mut warned: Option<Instant> = None;
            for stream in listener.incoming() {
                match stream {
                    Ok(s) => {
                        if let Err(e) = one(s, &latest) {
                            log::debug!("metrics: {e}");
                        }
                    }
                    // Out of descriptors, say: a moment, then on (the loop is not affected),
                    // said once a minute at most.
                    Err(e) => {
                        if warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                            log::warn!("metrics: cannot accept: {e}");
                            warned = Some(Instant::now());
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
    Ok(bound)
}

/// Reads one request and answers it, all within [`IO_TIMEOUT`].
fn one(mut stream: TcpStream, latest: &Latest) -> io::Result<()> {
    let deadline = Instant::now() + IO_TIMEOUT;
    // Each read may wait only for what is left: a trickle does not renew it.
    let left = || {
        let d = deadline.saturating_duration_since(Instant::now());
        (!d.is_zero()).then_some(d)
    };
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut request = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while request.len() < MAX_REQUEST && !ended(&request) {
        let Some(wait) = left() else { break };
        stream.set_read_timeout(Some(wait))?;
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            // Timed out: answered as an unfinished request.
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => break,
            Err(e) => return Err(e),
        };
        let room = MAX_REQUEST - request.len();
        request.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
    }
    let latest = *latest.lock().unwrap_or_else(|e| e.into_inner());
    let counters = match &latest {
        Some((s, at)) if at.elapsed() <= STALE => Ok(s),
        Some((_, at)) => Err(at.elapsed()),
        None => Err(Duration::ZERO),
    };
    stream.write_all(&answer(&request, counters))?;
    // Unread input at the close would reset the connection and lose the answer (a request
    // cut at 8 KiB): say the end, then take what is left for a moment.
    stream.shutdown(std::net::Shutdown::Write)?;
    while let Some(wait) = left() {
        stream.set_read_timeout(Some(wait))?;
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    Ok(())
}

/// Whether `request` holds a whole head (up to its blank line).
fn ended(request: &[u8]) -> bool {
    request.windows(4).any(|w| w == b"\r\n\r\n") || request.windows(2).any(|w| w == b"\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            core: Stats {
                accepted: 7,
                refused: 1,
                published: 42,
                deliveries: 420,
                errors: 3,
            },
            slow_consumers: 2,
            connected: 5,
            channels: 4,
            store: Some(StoreStats {
                failing: true,
                unwritten: 12,
                max_unwritten: 4096,
                unwritten_bytes: 3000,
                max_unwritten_bytes: 1 << 25,
                queries: 1,
            }),
            uptime_s: 90,
        }
    }

    #[test]
    fn renders_every_counter_in_the_text_format() {
        let text = render(&snapshot());
        for line in [
            "# TYPE scalard_messages_total counter",
            "scalard_messages_total 42",
            "scalard_deliveries_total 420",
            "scalard_connections 5",
            "scalard_channels 4",
            "scalard_connections_accepted_total 7",
            "scalard_connections_refused_total 1",
            "scalard_slow_consumers_total 2",
            "scalard_errors_total 3",
            "scalard_uptime_seconds 90",
            "scalard_store_failing 1",
            "scalard_store_unwritten_events 12",
            "scalard_store_unwritten_events_max 4096",
            "scalard_store_unwritten_bytes 3000",
            "scalard_store_unwritten_bytes_max 33554432",
            "scalard_store_queries 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
        }
        let build = format!(
            "scalard_build_info{{version=\"{}\",commit=\"{}\",protocol=\"1\"}} 1",
            env!("CARGO_PKG_VERSION"),
            env!("SCALAR_COMMIT")
        );
        assert!(text.contains(&build), "{text}");
        // Each sample has its HELP and TYPE, and the text ends with a newline.
        assert_eq!(text.matches("# HELP ").count(), text.matches("# TYPE ").count());
        assert!(text.ends_with('\n'));
        // Without a store (`--ephemeral`), no store gauges at all rather than zeros.
        let ephemeral = render(&Snapshot {
            store: None,
            ..snapshot()
        });
        assert!(!ephemeral.contains("scalard_store_"), "{ephemeral}");
    }

    #[test]
    fn answers_a_get_of_metrics_and_says_why_to_anything_else() {
        let s = snapshot();
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap_or_default();
        let stuck = text(answer(
            b"GET /metrics HTTP/1.1\r\n\r\n",
            Err(Duration::from_secs(12)),
        ));
        assert!(stuck.starts_with("HTTP/1.1 503 Service Unavailable"), "{stuck}");
        assert!(stuck.contains("has not counted for 12 s"), "{stuck}");
        let answer = |request: &[u8], s: &Snapshot| answer(request, Ok(s));
        let ok = text(answer(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &s));
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Type: text/plain; version=0.0.4"), "{ok}");
        let (head, body) = ok.split_once("\r\n\r\n").unwrap_or_default();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        assert_eq!(body, render(&s));
        let query = text(answer(b"GET /metrics?x=1 HTTP/1.0\n\n", &s));
        assert!(query.starts_with("HTTP/1.1 200 OK"), "{query}");
        let head_only = text(answer(b"HEAD /metrics HTTP/1.1\r\n\r\n", &s));
        assert!(head_only.ends_with("\r\n\r\n"), "no body: {head_only}");
        for (request, status) in [
            (&b"GET / HTTP/1.1\r\n\r\n"[..], "404 Not Found"),
            (b"POST /metrics HTTP/1.1\r\n\r\n", "405 Method Not Allowed"),
            (b"GET /metrics HTTP/1.1\r\nHost: x\r\n", "400 Bad Request"),
            (b"GET /metrics SSH-2.0\r\n\r\n", "400 Bad Request"),
            (b"\x16\x03\x01\x02\x00\r\n\r\n", "400 Bad Request"),
            (b"", "400 Bad Request"),
        ] {
            let got = text(answer(request, &s));
            assert!(
                got.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{request:?}: {got}"
            );
        }
    }
}
