//! Waiting out a server that is not there yet: the backoff of reconnections, and a first
//! connection that is tried again while it fails for now (the chat at a terminal, as IRC
//! clients do; a one-shot mode given `--retry`, so that a script's message is not lost to a
//! server restarting).

use crate::conn::{Conn, Dial, NetError};
use crate::error::CliError;
use scalar::proto::ErrorCode;
use std::time::{Duration, Instant};

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// How long a first connection that fails for now is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// Not at all: the failure is the answer.
    None,
    /// Until it is made, or the user gives up (Ctrl-C).
    Forever,
    /// Until then; the last failure is the answer after it.
    Until(Instant),
}

/// Connects as `id`; one that fails for now (no network yet, a laptop opened on a train; the
/// server down, restarting or full) is tried again, with waits from 1 s doubling to
/// [`MAX_BACKOFF`], for as long as `patience` says; each failure is said (the first few,
/// then every tenth), so a mistyped server shows. A refusal for good (a ban, a wrong
/// password, a name in use), a TLS or certificate failure (but a handshake's timeout, which a
/// busy server gives too) and a local one are the answer at once. Nothing was sent before a connection is made, so trying again posts nothing twice.
pub fn open(dial: &Dial, id: &str, patience: Patience, note: &dyn Fn(&str)) -> Result<Conn, CliError> {
    let (mut delay, mut attempt) = (FIRST_BACKOFF * 4, 0u32);
    loop {
        attempt = attempt.saturating_add(1);
        let e = match crate::conn::open(dial, id, note) {
            Ok(c) => return Ok(c),
            Err(e) => e,
        };
        let for_now = match e.net() {
            Some(
                NetError::Connect { .. }
                | NetError::Timeout(_)
                | NetError::Closed
                | NetError::Reset
                | NetError::Io(_),
            ) => true,
            Some(NetError::Refused { code, .. } | NetError::Dropped { code, .. }) => {
                !final_refusal(*code) && *code != ErrorCode::NameTaken as u16
            }
            _ => false,
        };
        // The server's own wait (a connection rate's `retry_after`) is the least.
        let told = told_wait(&e);
        // Jittered after the server's wait is taken: clients refused by one limit together
        // do not all come back in the same millisecond.
        let wait = jitter(delay.max(told));
        let (wait, give_up) = match patience {
            Patience::None => return Err(e),
            Patience::Forever => (wait, " (Ctrl-C to give up)"),
            // A try before the server's wait is over would be refused for sure (found by QA).
            Patience::Until(end) => match end.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() && told <= left => (wait.min(left), ""),
                _ => return Err(e),
            },
        };
        if !for_now {
            return Err(e);
        }
        if worth_saying(attempt) {
            note(&format!(
                "{e}; trying again in {:.1}s{give_up}",
                wait.as_secs_f32()
            ));
        }
        std::thread::sleep(wait);
        delay = longer(delay);
    }
}

/// How long the server said to wait before trying again (PROTOCOL.md §8, Waits), or zero; at
/// most [`MAX_TOLD_WAIT`].
pub fn told_wait(e: &CliError) -> Duration {
    match e.net() {
        Some(n) => n.retry_after().unwrap_or_default().min(MAX_TOLD_WAIT),
        None => Duration::ZERO,
    }
}

/// The longest wait a server's `retry_after` sets a reconnection: a server (or whoever sits
/// on a plain connection) saying a year must not leave the client asleep for good; scalard's
/// longest, a throttled login's, is minutes.
pub const MAX_TOLD_WAIT: Duration = Duration::from_secs(600);

/// Whether failed attempt number `attempt` (from 1) is said: the first few, then only every
/// tenth, so that a long outage does not flood the screen.
pub fn worth_saying(attempt: u32) -> bool {
    attempt <= 3 || attempt.is_multiple_of(10)
}

/// Whether the server's refusal of a reconnection is for good ("not you": a ban, a password
/// that no longer works, a name that became an account) rather than for now ("not now": a full
/// server, a connection rate, failed logins throttled, a busy store, a normal Bye), which the
/// reconnection waits out.
pub fn final_refusal(code: u16) -> bool {
    use ErrorCode::*;
    let for_now = match ErrorCode::from_u16(code) {
        Some(known) => matches!(
            known,
            HandshakeTimeout
                | PingTimeout
                | TooManyConnections
                | TooManyFromAddress
                | SlowConsumer
                | ShuttingDown
                | ConnectingTooFast
                // A name without an account in use from another host: free once its holder
                // (maybe this client's own dropped connection, not timed out yet) is gone.
                | NameTaken
                | Flooding
                | AuthThrottled
                | HomeUnreachable
                | StoreUnavailable
        ),
        // A normal Bye; and codes of a later protocol by their hundred (PROTOCOL.md's table):
        // 500s are limits and 700s the store, both passing.
        None => code == 0 || matches!(code / 100, 5 | 7),
    };
    !for_now
}

/// Spreads reconnections of many clients after a server restart: up to a quarter more.
pub fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    d + d.mul_f64(f64::from(nanos / 1000 % 1000) / 4000.0)
}

/// The wait after one of `delay`: twice as long, up to [`MAX_BACKOFF`].
pub fn longer(delay: Duration) -> Duration {
    delay.saturating_mul(2).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnection_gives_up_only_on_refusals_for_good() {
        for (code, gives_up) in [
            (ErrorCode::AuthRequired, true),
            (ErrorCode::BadCredentials, true),
            (ErrorCode::BannedFromServer, true),
            (ErrorCode::ForeignId, true),
            (ErrorCode::AuthThrottled, false),
            (ErrorCode::StoreUnavailable, false),
            (ErrorCode::TooManyConnections, false),
            (ErrorCode::ConnectingTooFast, false),
            (ErrorCode::NameTaken, false),
            (ErrorCode::ShuttingDown, false),
            (ErrorCode::HomeUnreachable, false),
            // Found by QA: a home whose certificate the server does not trust was 608, and
            // tried again for ever; trying again will not change it.
            (ErrorCode::HomeUntrusted, true),
        ] {
            assert_eq!(final_refusal(code as u16), gives_up, "{code:?}");
        }
        assert!(!final_refusal(0), "a normal Bye");
        assert!(
            !final_refusal(599) && !final_refusal(799),
            "unknown limits and store trouble"
        );
        assert!(final_refusal(699) && final_refusal(999), "other unknown codes");
    }

    #[test]
    fn the_server_s_wait_counts_up_to_a_bound() {
        let told = |ms| {
            let e = NetError::Dropped {
                code: ErrorCode::ConnectingTooFast as u16,
                reason: String::new(),
                retry_after: Some(Duration::from_millis(ms)),
            };
            told_wait(&CliError::Net(e))
        };
        assert_eq!(told(1_500), Duration::from_millis(1_500));
        assert_eq!(told(u64::MAX), MAX_TOLD_WAIT);
        assert_eq!(told_wait(&CliError::Net(NetError::Closed)), Duration::ZERO);
    }
}
