//! A refusal as its Error says it: the code, the reason for people, and, for one that a later
//! try may pass, how long to wait first (`retry_after`, PROTOCOL.md §8, Waits), for programs,
//! which should not read a wait out of words.

use crate::proto::ErrorCode;
use std::time::Duration;

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refused {
    /// The Error's code.
    pub code: ErrorCode,
    /// The Error's reason.
    pub reason: String,
    /// The least wait after which the same request may pass; `None` where no wait changes it,
    /// or the server cannot tell.
    pub retry_after: Option<Duration>,
}

pub(super) use crate::civil::ceil_secs;

/// How long a check in flight takes at most, as a refusal for too many of them at once says:
/// the 602 of a login, token or password check that found the queue full.
pub(super) const BUSY_WAIT: Duration = Duration::from_secs(1);

impl Refused {
    /// The 602 of a check refused because too many are in flight (`reason` says which).
    pub fn busy(reason: &str) -> Self {
        Refused::waiting(ErrorCode::AuthThrottled, reason.into(), BUSY_WAIT)
    }

    /// A refusal that the same request may pass after `wait`.
    pub fn waiting(code: ErrorCode, reason: String, wait: Duration) -> Self {
        Refused {
            code,
            reason,
            retry_after: Some(wait),
        }
    }

    /// The wait as the Error carries it: whole milliseconds, rounded up, so that a client that
    /// waits exactly that long is not refused again for the part of a millisecond it lacked.
    pub fn retry_after_ms(&self) -> Option<u64> {
        self.retry_after
            .map(|d| u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX))
    }
}

impl From<(ErrorCode, String)> for Refused {
    fn from((code, reason): (ErrorCode, String)) -> Self {
        Refused {
            code,
            reason,
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_said_in_whole_milliseconds_rounded_up() {
        let r = |d| Refused::waiting(ErrorCode::ChannelRate, String::new(), d).retry_after_ms();
        assert_eq!(r(Duration::from_micros(5_200_001)), Some(5_201));
        assert_eq!(r(Duration::from_millis(36_000)), Some(36_000));
        assert_eq!(r(Duration::ZERO), Some(0));
        assert_eq!(
            Refused::from((ErrorCode::Banned, "x".into())).retry_after_ms(),
            None
        );
    }

    #[test]
    fn a_reason_s_seconds_round_up_as_the_milliseconds_do() {
        assert_eq!(ceil_secs(Duration::from_millis(12_000)), 12);
        assert_eq!(ceil_secs(Duration::from_millis(12_001)), 13);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::ZERO), 0);
    }
}
