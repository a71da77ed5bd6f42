//! Channels a reconnect could not rejoin yet: the server refused the Sub for a while, naming
//! the wait (a channel's join rate, 810, holding joins after a restart or during a raid),
//! where the chat used to leave the channel for good (found by QA). The gaps thread tries
//! each again once its wait is over, within `send`'s bounds ([`crate::resend`]); once back,
//! what was said there meanwhile is read as any gap is ([`super::gaps`]).

use super::gaps::{Start, Unfilled};
use super::shared::{ReqError, Shared, State, Want};
use crate::conn::NetError;
use crate::resend::Resend;
use scalar::proto::{Msg, Name, Sub};
use std::time::{Duration, Instant};

/// How long a channel waits while there is no connection, or its Sub got no answer, before
/// it is tried again.
const AGAIN: Duration = Duration::from_secs(5);

/// A channel to rejoin.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Where its catch-up starts once back: where the reconnect's would have.
    start: Start,
    /// When to try.
    due: Instant,
    /// The waits so far: given up past [`crate::resend::MAX_WAITING`].
    resend: Resend,
    /// It was the current topic: it is again once back, if none is then.
    current: bool,
    /// When the channel was made, as last known: one made anew meanwhile is said.
    made: Option<u64>,
}

impl Pending {
    /// Whether it was the current topic.
    pub fn was_current(&self) -> bool {
        self.current
    }
}

/// Notes that `topic`, whose rejoin was refused naming the wait `told`, is to be tried again,
/// its catch-up from `start`; leaves it meanwhile (lines typed are not sent to a channel the
/// connection is not in). The wait, or why it is not tried again (too long: the refusal is
/// the answer, as before).
pub fn later(st: &mut State, topic: &str, start: Start, told: Duration) -> Result<Duration, String> {
    let mut resend = Resend::default();
    let wait = resend.next(told)?;
    let current = st.current.as_deref() == Some(topic);
    let made = st.made.get(topic).copied();
    st.left(topic);
    if current {
        st.current = None;
    }
    let pending = Pending {
        start,
        due: Instant::now() + wait,
        resend,
        current,
        made,
    };
    st.rejoin.insert(topic.to_string(), pending);
    Ok(wait)
}

/// `/part` of a channel waiting to be rejoined: it is not, from now on; true if it was
/// waiting.
pub fn cancel(shared: &Shared, topic: &str) -> bool {
    let mut st = shared.state();
    if st.rejoin.remove(topic).is_none() {
        return false;
    }
    let short = crate::names::short(topic, &st.domain).to_string();
    drop(st);
    shared.screen.info(format!("no longer rejoining {short}"));
    true
}

/// Tries the channels due, while a connection is up (the gaps thread's tick).
pub fn retry_due(shared: &Shared) {
    let due: Vec<String> = {
        let st = shared.state();
        let now = Instant::now();
        match st.connected {
            true => (st.rejoin.iter().filter(|(_, p)| p.due <= now))
                .map(|(t, _)| t.clone())
                .collect(),
            false => Vec::new(),
        }
    };
    for topic in due {
        retry(shared, &topic);
    }
}

/// One try: back in the channel, with its gap to read; or waiting again; or given up, said.
fn retry(shared: &Shared, topic: &str) {
    let Ok(name) = Name::parse(topic) else {
        shared.state().rejoin.remove(topic);
        return;
    };
    let result = shared.request(Want::Reply, |seq| Msg::Sub(Sub { seq, topic: name }));
    let mut st = shared.state();
    let short = crate::names::short(topic, &st.domain).to_string();
    // `/join` or `/part` meanwhile took it over.
    let Some(p) = st.rejoin.get_mut(topic) else {
        return;
    };
    let now = Instant::now();
    let again = |p: &mut Pending, e: &dyn std::fmt::Display, told: Duration| match p.resend.next(told) {
        Ok(wait) => {
            p.due = now + wait;
            None
        }
        Err(why) => Some(format!(
            "cannot rejoin {short}: {e} ({why}); /join {short} to try again"
        )),
    };
    let said = match result {
        Ok(meta) => {
            let p = p.clone();
            st.rejoin.remove(topic);
            if !st.subs.iter().any(|s| s == topic) {
                st.subs.push(topic.to_string());
            }
            if p.current && st.current.is_none() {
                st.current = Some(topic.to_string());
            }
            if let Some(made) = p.made {
                st.made.insert(topic.to_string(), made);
            }
            let mut gap = Unfilled::new(p.start);
            gap.due = now;
            st.unfilled.insert(topic.to_string(), gap);
            drop(st);
            shared
                .screen
                .info(format!("rejoined {short}; what was said there meanwhile follows"));
            // As a reconnect's rejoin says it: the channel ended meanwhile and was made anew.
            return super::catchup::made_anew(shared, topic, &meta);
        }
        // No connection: the reconnect comes first, then this.
        Err(ReqError::NotConnected | ReqError::Lost) => {
            p.due = now + AGAIN;
            return;
        }
        // A Sub is the same however often it is sent: one unanswered is tried again.
        Err(e @ ReqError::Timeout) => again(p, &e, AGAIN),
        Err(ReqError::Net(
            e @ NetError::Refused {
                retry_after: Some(told),
                ..
            },
        )) => again(p, &e, told),
        Err(e) => Some(format!("cannot rejoin {short}: {e}")),
    };
    let Some(said) = said else { return };
    st.rejoin.remove(topic);
    drop(st);
    shared.screen.error(said);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_to_rejoin_is_left_meanwhile_and_remembers_it_was_current() {
        let mut st = State::default();
        st.subs = vec!["#a@l".into(), "#b@l".into()];
        st.current = Some("#a@l".into());
        let start = Start {
            last: None,
            lost_at: 5,
        };
        let wait = later(&mut st, "#a@l", start, Duration::from_secs(8));
        assert!(wait.is_ok_and(|w| w >= Duration::from_secs(8)));
        assert_eq!(st.subs, ["#b@l"]);
        assert_eq!(st.current, None, "what is typed next was meant for #a");
        assert!(
            st.rejoin
                .get("#a@l")
                .is_some_and(|p| p.current && p.start == start)
        );
        // A wait longer than the chat sits out is the refusal, as before.
        let long = later(&mut st, "#b@l", start, Duration::from_secs(3600));
        assert!(long.is_err_and(|e| e.contains("longer than scalar-cli waits")));
        assert!(!st.rejoin.contains_key("#b@l"));
        assert_eq!(st.subs, ["#b@l"], "still joined");
    }
}
