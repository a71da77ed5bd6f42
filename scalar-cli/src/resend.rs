//! Waiting out a refusal of one message that names how long to wait (PROTOCOL.md §8, Waits): a
//! channel's `rate` (806), an away user's full inbox (406). `send` waits on its connection,
//! the chat's queue ([`crate::repl`]) while the user goes on typing; both by these bounds, so
//! a line piped into either comes out at the pace the server takes it, or is said to be lost.

use std::time::Duration;

/// The longest wait sat out before a refused message is sent again: a channel's rate is at
/// least one a minute, and an away inbox's leak 36 s on scalard's defaults. A longer one is
/// the refusal.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// How long one message is waited for in all before its refusal is the answer: the server
/// names the least wait, which others sharing the limit (one account's senders) may lengthen.
pub const MAX_WAITING: Duration = Duration::from_secs(300);

/// The shortest wait before a message is sent again, whatever the server says: a server
/// saying 0 must not make the client hammer it.
pub const MIN_WAIT: Duration = Duration::from_millis(100);

/// One message's waiting so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resend {
    waited: Duration,
}

impl Resend {
    /// How long to wait, after a refusal that names `told`, before sending the message again;
    /// or why not to send it again (the refusal is then the answer). The wait is counted.
    pub fn next(&mut self, told: Duration) -> Result<Duration, String> {
        let secs = scalar::civil::ceil_secs;
        if told > MAX_WAIT {
            return Err(format!(
                "the server asks to wait {} s, longer than scalar-cli waits to send a message \
                 again ({} s)",
                secs(told),
                MAX_WAIT.as_secs()
            ));
        }
        // A little more at random: senders sharing a limit (one account's) do not all come
        // back in the same millisecond to collide again (found by QA).
        let wait = crate::patience::jitter(told.max(MIN_WAIT));
        if self.waited + wait > MAX_WAITING {
            return Err(format!(
                "gave up after waiting {} s for the server",
                secs(self.waited)
            ));
        }
        self.waited += wait;
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_what_the_server_says_within_its_bounds() {
        let s = Duration::from_secs;
        let wait = Resend::default().next(s(10)).unwrap_or_default();
        // Jittered by up to a quarter more, never less.
        assert!(wait >= s(10) && wait <= s(10) * 5 / 4, "{wait:?}");
        let zero = Resend::default().next(Duration::ZERO).unwrap_or_default();
        assert!(zero >= MIN_WAIT, "{zero:?}");
        assert!(Resend::default().next(MAX_WAIT).is_ok());
        let long = Resend::default().next(s(90)).err().unwrap_or_default();
        assert!(
            long.contains("wait 90 s, longer than scalar-cli waits to send a message again (60 s)"),
            "{long}"
        );
    }

    #[test]
    fn gives_up_on_one_message_after_minutes_of_waits() {
        let mut one = Resend::default();
        let mut n = 0;
        let why = loop {
            match one.next(Duration::from_secs(50)) {
                Ok(_) => n += 1,
                Err(why) => break why,
            }
        };
        // 50 s, jittered to at most 62.5 s: 4 to 6 waits fit in 300 s.
        assert!((4..=6).contains(&n), "{n} waits");
        assert!(why.starts_with("gave up after waiting "), "{why}");
        // Stopped only by a wait that would not fit: at most 62.5 s short of the bound.
        assert!(one.waited >= Duration::from_millis(237_500), "{:?}", one.waited);
        assert!(one.waited <= MAX_WAITING, "{:?}", one.waited);
    }
}
