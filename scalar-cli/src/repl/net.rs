//! The socket-reader thread: reads every frame, answers Pings, hands replies to waiting
//! requests, shows Events, and when the connection drops, reconnects with backoff and restores
//! the session ([`catchup`](super::catchup)).
//!
//! It never waits on the terminal (output goes through the non-blocking [`Screen`] queue) nor
//! on the editor thread, so the server always sees a reader.
//!
//! [`Screen`]: super::screen::Screen

use super::catchup::{Gap, restore};
use super::shared::{Shared, Want};
use crate::conn::{Conn, NetError};
use crate::event::Received;
use crate::timefmt::now_ms;
use scalar::client::Frame;
use scalar::proto::{Msg, Ping};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Silence after which the client pings the server; a second such silence ends the connection.
const KEEPALIVE: Duration = Duration::from_secs(30);
/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// How long a connection must have lasted for the reconnect backoff to start short again.
const STABLE: Duration = Duration::from_secs(30);

/// Starts the reader thread on an identified connection.
pub fn spawn(
    shared: Arc<Shared>,
    conn: Conn,
    server: String,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("reader".into())
        .spawn(move || run(&shared, conn, &server))
}

fn run(shared: &Shared, mut conn: Conn, server: &str) {
    let mut delay = FIRST_BACKOFF;
    loop {
        let up_since = Instant::now();
        let (why, heard_at) = serve(shared, &mut conn);
        if shared.quitting.load(Ordering::SeqCst) {
            return;
        }
        shared.disconnected();
        // Where to catch up from is fixed now: live Events of the next connection must not
        // move it on before the gap is filled.
        let gap = Gap {
            lost_at: heard_at,
            last: shared.state().last.clone(),
        };
        shared
            .screen
            .error(format!("connection lost: {why}; reconnecting"));
        // A server that drops the client right after each reconnect must not get a fresh,
        // short backoff every time.
        if up_since.elapsed() >= STABLE {
            delay = FIRST_BACKOFF;
        }
        match reconnect(shared, server, &gap, &mut delay) {
            Some(c) => conn = c,
            None => return,
        }
    }
}

/// Reads frames until the connection ends; returns why it ended, and when the server was last
/// heard from.
fn serve(shared: &Shared, conn: &mut Conn) -> (NetError, u64) {
    let mut heard_at = now_ms();
    if let Err(e) = conn.set_read_timeout(Some(KEEPALIVE)) {
        return (e.into(), heard_at);
    }
    let mut pinged = false;
    let why = loop {
        match conn.recv() {
            Ok(frame) => {
                pinged = false;
                heard_at = now_ms();
                if let Err(e) = handle(shared, frame) {
                    break e;
                }
            }
            Err(NetError::Timeout(_)) if !pinged => {
                pinged = true;
                let ping = Msg::Ping(Ping {
                    seq: None,
                    time: now_ms(),
                });
                if let Err(e) = shared.send(&ping) {
                    break NetError::Protocol(format!("cannot ping the server: {e}"));
                }
            }
            Err(NetError::Timeout(_)) => break NetError::Timeout("the server to answer a Ping"),
            Err(e) => break e,
        }
    };
    (why, heard_at)
}

/// Acts on one frame of a live connection.
pub(super) fn handle(shared: &Shared, frame: Frame) -> Result<(), NetError> {
    let msg = match frame.msg() {
        Ok(m) => m,
        Err(e) => {
            // Receivers skip what they cannot decode (PROTOCOL.md §2); say so once per frame.
            shared
                .screen
                .error(format!("skipped a frame from the server: {e}"));
            return Ok(());
        }
    };
    match msg {
        Msg::Ping(p) => {
            let _ = shared.send(&Msg::Pong(p));
        }
        Msg::Bye(b) => return Err(NetError::dropped(b.code, b.reason)),
        Msg::Event(e) => match e.seq.and_then(|s| shared.want(s).map(|w| (s, w))) {
            Some((s, Want::Replay)) => {
                shared.forward(s, frame);
            }
            Some((s, Want::Reply)) => {
                shared.show_event(&Received::new(&e), false, true);
                shared.complete(s, frame);
            }
            // The same Event may come live and in a catch-up replay: shown once.
            None => shared.show_event(&Received::new(&e), false, true),
        },
        Msg::Error(e) => {
            let handed = e.seq.is_some_and(|s| shared.complete(s, frame.clone()));
            if !handed {
                // Not tied to a waiting request: a connection-level error, or a late reply.
                shared
                    .screen
                    .error(NetError::refused(e.code, e.reason).to_string());
            }
        }
        other => {
            if let Some(s) = other.seq() {
                shared.complete(s, frame);
            }
        }
    }
    Ok(())
}

/// Reconnects until it works, the user quits, or the server refuses the session.
fn reconnect(shared: &Shared, server: &str, gap: &Gap, delay: &mut Duration) -> Option<Conn> {
    let user = shared.state().user.clone();
    let mut attempt = 0u32;
    loop {
        if !sleep_unless_quitting(shared, jitter(*delay)) {
            return None;
        }
        attempt += 1;
        match crate::conn::open(server, &user, shared.timeout)
            .and_then(|mut c| restore(shared, &mut c, gap).map(|r| (c, r)))
        {
            Ok((c, restored)) => {
                let subs = shared.state().subs.clone();
                match c.try_clone_stream() {
                    Ok(w) => shared.install(w),
                    Err(e) => {
                        shared
                            .screen
                            .error(format!("reconnected, but cannot use the socket: {e}"));
                        continue;
                    }
                }
                let rejoined = if subs.is_empty() {
                    String::new()
                } else {
                    let domain = shared.state().domain.clone();
                    let names: Vec<&str> = subs.iter().map(|s| crate::names::short(s, &domain)).collect();
                    format!("; rejoined {}", names.join(", "))
                };
                shared.screen.info(format!("reconnected to {server}{rejoined}"));
                restored.show(shared);
                return Some(c);
            }
            Err(e @ NetError::Refused { .. }) => {
                shared
                    .screen
                    .error(format!("{e}; not reconnecting (/quit to leave)"));
                return None;
            }
            Err(e) => {
                // Say the first few failures, then only every tenth, so a long outage does not
                // flood the screen.
                if attempt <= 3 || attempt.is_multiple_of(10) {
                    let next = delay.saturating_mul(2).min(MAX_BACKOFF);
                    shared.screen.error(format!(
                        "reconnect attempt {attempt} failed: {e}; next in {}s",
                        next.as_secs_f32()
                    ));
                }
            }
        }
        *delay = delay.saturating_mul(2).min(MAX_BACKOFF);
    }
}

/// Spreads reconnections of many clients after a server restart: up to a quarter more.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    d + d.mul_f64(f64::from(nanos / 1000 % 1000) / 4000.0)
}

/// Sleeps `d` in short steps; false if the user quit meanwhile.
fn sleep_unless_quitting(shared: &Shared, d: Duration) -> bool {
    let until = Instant::now() + d;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if shared.quitting.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
    !shared.quitting.load(Ordering::SeqCst)
}
