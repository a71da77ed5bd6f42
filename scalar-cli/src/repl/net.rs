//! The network thread: the only one that touches the connection. It writes the frames other
//! threads queue in the outbox, reads every frame, answers Pings, hands replies to waiting
//! requests, shows Events, and when the connection drops, reconnects with backoff and restores
//! the session ([`catchup`](super::catchup)).
//!
//! It waits on the socket and the outbox's wake-up pipe together (poll(2)), so a line typed
//! is written at once even while the server is silent, on plain and TLS connections alike
//! (see [`shared`](super::shared) for why one thread does both directions).
//!
//! It never waits on the terminal (output goes through the non-blocking [`Screen`] queue) nor
//! on the editor thread, so the server always sees a reader.
//!
//! [`Screen`]: super::screen::Screen

use super::catchup::{Gap, restore};
use super::shared::{Inbox, Shared, Shown, Want, outbox};
use crate::conn::{Conn, Dial, HOLD, NetError};
use crate::error::CliError;
use crate::event::Received;
use crate::patience::{FIRST_BACKOFF, MAX_BACKOFF, final_refusal, jitter, longer, worth_saying};
use crate::timefmt::now_ms;
use scalar::client::Frame;
use scalar::proto::{ErrorCode, Msg, Ping};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};

/// How long a connection must have lasted for the reconnect backoff to start short again.
const STABLE: Duration = Duration::from_secs(30);
/// Once the socket is readable, how long one read waits for the rest of a frame (or, under
/// TLS, for a record that carries none, such as a session ticket) before the thread goes back
/// to writing what was queued.
const SLICE: Duration = Duration::from_millis(50);

/// Starts the network thread on an identified connection, installing its outbox.
pub fn spawn(shared: Arc<Shared>, conn: Conn, dial: Dial) -> std::io::Result<std::thread::JoinHandle<()>> {
    let (out, inbox) = outbox()?;
    shared.install(out);
    std::thread::Builder::new()
        .name("network".into())
        .spawn(move || run(&shared, conn, inbox, &dial))
}

fn run(shared: &Shared, mut conn: Conn, mut inbox: Inbox, dial: &Dial) {
    let mut delay = FIRST_BACKOFF;
    loop {
        let up_since = Instant::now();
        let (why, heard_at) = serve(shared, &mut conn, &inbox);
        show_held_error(shared);
        let _ = conn.stream().shutdown(std::net::Shutdown::Both);
        if shared.quitting.load(Ordering::SeqCst) {
            return;
        }
        shared.disconnected();
        // Where to catch up from is fixed now: live Events of the next connection must not
        // move it on before the gap is filled.
        let gap = {
            let mut st = shared.state();
            // Until a connection is back, the account leaves its inbox here (keep_mark).
            st.lost_at.get_or_insert(heard_at);
            Gap::of(&st, heard_at)
        };
        // A session a server ban ended, or one whose name became an account (it had no
        // password, or it would have logged in), is not dialled again only to be told so; nor
        // one an admin disconnected, whose user decides (PROTOCOL.md §9, 809).
        let mut given_up = false;
        if let NetError::Dropped { code, .. } = why
            && [
                ErrorCode::BannedFromServer,
                ErrorCode::AuthRequired,
                ErrorCode::Killed,
            ]
            .map(|c| c as u16)
            .contains(&code)
        {
            give_up(shared, &format!("connection lost: {why}; "), Stopped::of(code));
            given_up = true;
        } else {
            let redial = shared.state().redial.take();
            match redial {
                Some(reason) => shared.screen.info(format!("connecting again {reason}")),
                None => shared
                    .screen
                    .error(format!("connection lost: {why}; reconnecting")),
            }
        }
        // A server that drops the client right after each reconnect must not get a fresh,
        // short backoff every time.
        if up_since.elapsed() >= STABLE {
            delay = FIRST_BACKOFF;
        }
        loop {
            // Given up: only `/reconnect` dials again, at once, and the waits after it start
            // short.
            if given_up {
                if !asked_to_reconnect(shared) {
                    return;
                }
                delay = FIRST_BACKOFF;
            }
            let reconnected = reconnect(shared, dial, &gap, &mut delay, given_up);
            // An Error a failed catch-up left held has no Bye coming any more.
            show_held_error(shared);
            match reconnected {
                Some((c, i)) => {
                    (conn, inbox) = (c, i);
                    break;
                }
                None if shared.quitting.load(Ordering::SeqCst) => return,
                None => given_up = true,
            }
        }
    }
}

/// Why the client stopped reconnecting by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// For what may change meanwhile: a server ban lifted, a certificate or a file put right.
    /// `/reconnect` tries again.
    ForNow,
    /// For what only a new run can change: the password it read (or the lack of one) no
    /// longer logs in, or the ID became foreign. This run never asks for a password again.
    ForThisRun,
}

impl Stopped {
    /// Why a session refused with `code` (a [`final_refusal`]) stopped.
    fn of(code: u16) -> Stopped {
        use ErrorCode::*;
        match ErrorCode::from_u16(code) {
            Some(AuthRequired | BadCredentials | ForeignId) => Stopped::ForThisRun,
            _ => Stopped::ForNow,
        }
    }

    /// What the user can do, said after "not reconnecting".
    fn next(self) -> &'static str {
        match self {
            Stopped::ForNow => "/reconnect to try again, /quit to leave",
            Stopped::ForThisRun => "/quit to leave; start scalar-cli again to log in, or with another --id",
        }
    }

    /// Why `/reconnect` cannot help, if it cannot.
    pub fn needs_restart(self) -> Option<&'static str> {
        match self {
            Stopped::ForNow => None,
            Stopped::ForThisRun => Some(
                "the server refused this run's login for good: /quit, then start scalar-cli \
                 again to log in",
            ),
        }
    }
}

/// Whether a refusal with `code` says the name is in use from another machine (604), and
/// has for `hold` since `taken` (set at the first): long enough for this client's own dropped
/// connection to time out on the server ([`crate::conn::name_hold`]), so someone else holds it
/// (found in review: the client tried every 15 s for ever, mostly silently).
fn taken_for_good(code: u16, taken: &mut Option<Instant>, hold: Duration) -> bool {
    if code != ErrorCode::NameTaken as u16 {
        return false;
    }
    taken.get_or_insert_with(Instant::now).elapsed() >= hold
}

/// Stops reconnecting by itself, for `stopped`'s reason: says so after `why` (empty, or
/// ending in "; "), with what the user can do.
fn give_up(shared: &Shared, why: &str, stopped: Stopped) {
    shared.state().stopped = Some(stopped);
    shared
        .screen
        .error(format!("{why}not reconnecting ({})", stopped.next()));
}

/// Waits for `/reconnect` (true) or `/quit` (false).
fn asked_to_reconnect(shared: &Shared) -> bool {
    loop {
        match sleep_unless_asked(shared, MAX_BACKOFF) {
            Slept::Waited => {}
            Slept::Asked => return true,
            Slept::Quit => return false,
        }
    }
}

/// What woke the network thread.
enum Woken {
    /// The socket has something to read (or failed, which the read reports).
    Socket,
    /// Frames were queued, or the outbox was closed.
    Outbox,
    /// Neither, within the time given.
    Timeout,
}

/// Waits until the socket is readable or the outbox rings, at most `wait`.
fn wait(conn: &Conn, inbox: &Inbox, wait: Duration) -> Result<Woken, NetError> {
    let fds = [
        (conn.stream().as_raw_fd(), libc::POLLIN),
        (inbox.wake.as_raw_fd(), libc::POLLIN),
    ];
    match crate::poll::two(fds, Some(wait)) {
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(Woken::Outbox),
        Err(e) => Err(NetError::Io(e)),
        Ok([_, wake]) if wake != 0 => Ok(Woken::Outbox),
        Ok([socket, _]) if socket != 0 => Ok(Woken::Socket),
        Ok(_) => Ok(Woken::Timeout),
    }
}

/// Writes what was queued and reads frames until the connection ends; returns why it ended,
/// and when the server was last heard from.
fn serve(shared: &Shared, conn: &mut Conn, inbox: &Inbox) -> (NetError, u64) {
    let mut heard_at = now_ms();
    let mut heard = Instant::now();
    let mut pinged = false;
    let (quiet, answer) = crate::conn::silences(conn);
    shared.state().name_hold = Some(crate::conn::name_hold(conn));
    if let Some(skew) = conn.skew_ms {
        // The server's clock from its Ident, before anything sets a time by it (found by
        // QA: a client two days fast banned for 49 hours where it asked one).
        shared.state().skew_ms = skew;
    }
    if let Err(e) = conn.set_read_timeout(Some(SLICE)) {
        return (e.into(), heard_at);
    }
    let why = loop {
        // Everything queued goes out first, in order.
        let closed = loop {
            match inbox.frames.try_recv() {
                Ok(bytes) => {
                    if let Err(e) = conn.send_raw(&bytes) {
                        break Some(e);
                    }
                }
                Err(TryRecvError::Empty) => break None,
                // The user quit, or the connection was given up: stop here.
                Err(TryRecvError::Disconnected) => break Some(NetError::Closed),
            }
        };
        if let Some(e) = closed {
            break e;
        }
        // A frame already buffered (here or inside TLS) would not make the socket readable.
        if !conn.has_buffered_input() {
            // Silence: ping; more silence: give up (`silences`).
            let wait_for = if pinged { answer } else { quiet };
            let left = (heard + wait_for).saturating_duration_since(Instant::now());
            // Not past HOLD from when the Error came, however often the outbox wakes this.
            let held = shared
                .state()
                .held_error
                .as_ref()
                .map(|h| HOLD.saturating_sub(h.2.elapsed()));
            let holding = held.is_some();
            match wait(conn, inbox, held.map_or(left, |h| h.min(left))) {
                Ok(Woken::Socket) => {}
                Ok(Woken::Outbox) => {
                    inbox.drain_wake();
                    continue;
                }
                Ok(Woken::Timeout) if holding => {
                    show_held_error(shared);
                    continue;
                }
                Ok(Woken::Timeout) if !pinged => {
                    pinged = true;
                    heard = Instant::now();
                    let ping = Msg::Ping(Ping {
                        seq: None,
                        time: now_ms(),
                    });
                    if let Err(e) = conn.send(&ping) {
                        break NetError::Protocol(format!("cannot ping the server: {e}"));
                    }
                    continue;
                }
                Ok(Woken::Timeout) => break NetError::Timeout("the server to answer a Ping"),
                Err(e) => break e,
            }
        }
        match conn.recv() {
            Ok(frame) => {
                pinged = false;
                heard_at = now_ms();
                heard = Instant::now();
                if let Err(e) = handle(shared, frame) {
                    break e;
                }
            }
            // Part of a frame (or a TLS record without data) came; the rest is polled for.
            Err(NetError::Timeout(_)) => {}
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
    if !matches!(msg, Msg::Bye(_)) {
        // Not the Bye it may have come before: the Error held is shown first, in order.
        show_held_error(shared);
    }
    match msg {
        Msg::Ping(p) => {
            shared.state().learn_clock(p.time);
            let _ = shared.send(&Msg::Pong(p));
        }
        Msg::Bye(b) => {
            let held = shared
                .state()
                .held_error
                .take()
                .map(|(code, reason, _)| (code, reason));
            let (end, unshown) = crate::conn::ended(held, &b);
            show_error(shared, unshown);
            return Err(end);
        }
        Msg::Event(e) => match e.seq.and_then(|s| shared.want(s).map(|w| (s, w))) {
            Some((s, Want::Replay)) => {
                shared.forward(s, frame);
            }
            Some((s, Want::Reply | Want::Mark)) => {
                shared.state().learn_clock_from_echo(e.time);
                shared.show_event(&Received::new(&e), Shown::Live);
                shared.complete(s, frame);
            }
            // The rest of a page whose request gave up waiting: not live, and not asked for
            // any more.
            None if e.seq.is_some_and(|s| shared.abandoned(s)) => {}
            // The same Event may come live and in a catch-up replay: shown once.
            None => {
                let e = Received::new(&e);
                super::presence::learn(shared, &e);
                shared.show_event(&e, Shown::Live);
            }
        },
        // A kick or a ban: no request asked for it, and it leaves the channel.
        Msg::Error(e) if e.seq.is_none() && e.code == ErrorCode::Kicked as u16 => {
            super::moderate::kicked(shared, e.topic.map(|t| t.as_str()), e.reason.unwrap_or_default());
        }
        Msg::Error(e) => {
            let handed = e.seq.is_some_and(|s| shared.complete(s, frame.clone()));
            if !handed {
                // Not tied to a waiting request: a connection-level error, or a late reply.
                // Held for the Bye that may follow (see `held_error`).
                let reason = e.reason.unwrap_or_default().to_string();
                shared.state().held_error = Some((e.code, reason, Instant::now()));
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

/// Shows the connection-level Error held back, if any: no Bye came with it.
pub(super) fn show_held_error(shared: &Shared) {
    let held = shared.state().held_error.take();
    show_error(shared, held.map(|(code, reason, _)| (code, reason)));
}

fn show_error(shared: &Shared, error: Option<(u16, String)>) {
    if let Some((code, reason)) = error {
        shared
            .screen
            .error(NetError::refused(code, Some(&reason)).to_string());
    }
}

/// Reconnects until it works, the user quits, or the server refuses the session (or its
/// certificate: a changed pin is not retried). The first attempt waits `delay` unless
/// `at_once`.
fn reconnect(
    shared: &Shared,
    dial: &Dial,
    gap: &Gap,
    delay: &mut Duration,
    at_once: bool,
) -> Option<(Conn, Inbox)> {
    let user = shared.state().user.clone();
    let server = dial.server.as_str();
    let mut attempt = 0u32;
    let mut wait = !at_once;
    // Since when the name has been in use from another machine (604), if it is, and how long
    // the server may hold it for this client's own dead connection.
    let mut taken: Option<Instant> = None;
    let hold = shared.state().name_hold.unwrap_or(crate::conn::NAME_HOLD);
    // The wait a failure's line said, so that the one slept is that one (found by QA: the line
    // said 0.5, 1.0, 2.0 s, the waits were jittered).
    let mut said: Option<Duration> = None;
    loop {
        // Held by the last attempt's catch-up, which failed: shown, not merged into this one's.
        show_held_error(shared);
        if wait {
            let pause = said.take().unwrap_or_else(|| jitter(*delay));
            match sleep_unless_asked(shared, pause) {
                Slept::Quit => return None,
                // `/reconnect` cut the wait short: the server is back, so are short waits,
                // and the first failures are said again (found by QA: they were silent).
                Slept::Asked => (*delay, attempt) = (FIRST_BACKOFF, 0),
                Slept::Waited => {}
            }
        }
        wait = true;
        attempt += 1;
        let note = |s: &str| shared.screen.info(s);
        match crate::conn::open(dial, &user, &note).and_then(|mut c| {
            adopt_id(shared, &c.user);
            Ok(restore(shared, &mut c, gap).map(|r| (c, r))?)
        }) {
            Ok((c, restored)) => {
                let subs = shared.state().subs.clone();
                let (out, inbox) = match outbox() {
                    Ok(made) => made,
                    Err(e) => {
                        shared
                            .screen
                            .error(format!("reconnected, but cannot make the outbox: {e}"));
                        // What they changed (a channel left, a watch ended) stays.
                        restored.say_refusals(shared);
                        continue;
                    }
                };
                let rejoined = if subs.is_empty() {
                    String::new()
                } else {
                    let domain = shared.state().domain.clone();
                    let names: Vec<&str> = subs.iter().map(|s| crate::names::short(s, &domain)).collect();
                    format!("; rejoined {}", names.join(", "))
                };
                // Lines typed once this is shown are sent, not refused as offline.
                shared.attach(out);
                shared.screen.info(format!("reconnected to {server}{rejoined}"));
                restored.show(shared);
                // Only now: once connected, the gaps thread may read a gap that the restore
                // just read and showed (or closed), and show it again.
                shared.online();
                // A `/reconnect` typed while this attempt was under way is done with; left
                // set, it would cut the next drop's first wait, or dial after a ban.
                shared.reconnect_now.store(false, Ordering::SeqCst);
                shared.state().stopped = None;
                // Doubled after a success too: a server that drops the client right after
                // each reconnect gets ever longer waits (`run` starts short again once a
                // connection lasted).
                *delay = longer(*delay);
                return Some((c, inbox));
            }
            Err(e)
                if let Some(NetError::Refused { code, .. } | NetError::Dropped { code, .. }) = e.net()
                    && let code = *code
                    && (final_refusal(code) || taken_for_good(code, &mut taken, hold)) =>
            {
                give_up(shared, &format!("{e}; "), Stopped::of(code));
                return None;
            }
            // A changed certificate may be an attack, and a local failure (the known-hosts
            // file) will not go away by itself: say so loudly, once.
            Err(e @ (CliError::Net(NetError::PinMismatch { .. }) | CliError::Local(_))) => {
                for line in e.to_string().lines() {
                    shared.screen.error(line);
                }
                give_up(shared, "", Stopped::ForNow);
                return None;
            }
            Err(e) => {
                // The server's own wait (a connection rate's `retry_after`) is the least.
                let next = longer(*delay).max(crate::patience::told_wait(&e));
                let pause = jitter(next);
                if worth_saying(attempt) {
                    shared.screen.error(format!(
                        "reconnect attempt {attempt} failed: {e}; next in {:.1}s",
                        pause.as_secs_f32()
                    ));
                }
                (*delay, said) = (next, Some(pause));
            }
        }
    }
}

/// Takes the ID the server gave this connection, where it is not the one asked for (a
/// guest gets a new one each time): direct messages, `/reply` and the inbox's catch-up follow
/// it.
fn adopt_id(shared: &Shared, user: &str) {
    let mut st = shared.state();
    if st.user != user && !user.is_empty() {
        let old = std::mem::replace(&mut st.user, user.to_string());
        drop(st);
        shared.screen.info(format!(
            "your ID is now {user}, not {old}: direct messages to {old} no longer reach you"
        ));
    }
}

/// How a wait between attempts ended.
#[derive(Debug, PartialEq, Eq)]
enum Slept {
    /// It lasted.
    Waited,
    /// `/reconnect` cut it short.
    Asked,
    /// The user quit.
    Quit,
}

/// Sleeps `d` in short steps, unless the user quits or types `/reconnect`.
fn sleep_unless_asked(shared: &Shared, d: Duration) -> Slept {
    let until = Instant::now() + d;
    loop {
        if shared.quitting.load(Ordering::SeqCst) {
            return Slept::Quit;
        }
        if shared.reconnect_now.swap(false, Ordering::SeqCst) {
            return Slept::Asked;
        }
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            return Slept::Waited;
        };
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a refusal of the login itself needs a new run; a ban may be lifted meanwhile.
    #[test]
    fn a_reconnect_is_offered_where_it_can_help() {
        assert_eq!(Stopped::of(ErrorCode::BannedFromServer as u16), Stopped::ForNow);
        for code in [
            ErrorCode::AuthRequired,
            ErrorCode::BadCredentials,
            ErrorCode::ForeignId,
        ] {
            assert_eq!(Stopped::of(code as u16), Stopped::ForThisRun, "{code:?}");
        }
        assert!(Stopped::ForNow.needs_restart().is_none());
        assert!(Stopped::ForThisRun.next().contains("start scalar-cli again"));
    }

    /// A name in use from another machine is waited out for a while, not for ever.
    #[test]
    fn a_name_in_use_elsewhere_is_waited_out_then_given_up() {
        let taken_code = ErrorCode::NameTaken as u16;
        let mut taken = None;
        let hold = Duration::from_secs(40);
        assert!(
            !taken_for_good(taken_code, &mut taken, hold),
            "the first refusal waits"
        );
        assert!(taken.is_some());
        let other = ErrorCode::TooManyConnections as u16;
        assert!(!taken_for_good(other, &mut taken, hold));
        let long_ago = Instant::now().checked_sub(hold);
        if let Some(t) = long_ago {
            taken = Some(t);
            assert!(taken_for_good(taken_code, &mut taken, hold), "then it gives up");
            assert!(
                !taken_for_good(taken_code, &mut taken, hold * 2),
                "not before the server's own timers have run out"
            );
        }
    }

    /// `/reconnect` ends a wait at once, and is used up by it.
    #[test]
    fn a_reconnect_cuts_the_wait_short() {
        let shared = Shared::new(
            "me@l".into(),
            "l".into(),
            super::super::screen::Screen::new(),
            false,
            Duration::from_secs(1),
        );
        shared.reconnect_now.store(true, Ordering::SeqCst);
        let start = Instant::now();
        assert_eq!(sleep_unless_asked(&shared, Duration::from_secs(60)), Slept::Asked);
        assert!(start.elapsed() < Duration::from_secs(30));
        assert_eq!(
            sleep_unless_asked(&shared, Duration::from_millis(10)),
            Slept::Waited
        );
        shared.quitting.store(true, Ordering::SeqCst);
        assert_eq!(sleep_unless_asked(&shared, Duration::from_secs(60)), Slept::Quit);
    }
}
