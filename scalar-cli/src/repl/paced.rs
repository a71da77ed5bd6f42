//! Lines the server refused for a short while — a channel's `rate` (806), an away user's full
//! inbox (406), each naming its `retry_after` — wait here and are sent again by a thread of
//! their own once the wait is over, in the order typed, while the user goes on typing. A line
//! for a topic with lines waiting waits behind them, so that nothing overtakes; other topics
//! are not held up. Without this a pasted block lost every line past the channel's rate.
//!
//! Bounded: at most [`MAX_PACED`] lines wait, and each is given up (and said) after
//! [`crate::resend`]'s waits, as `send`'s messages are. Lines wait through a reconnection.

use super::shared::{ReqError, Shared};
use crate::conn::NetError;
use crate::resend::Resend;
use scalar::proto::MsgId;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The most lines waiting at once, all topics together: a long paste into a channel of a few
/// messages a minute is refused past it, not sent for an hour.
pub const MAX_PACED: usize = 50;

/// How often a line waiting while there is no connection looks again: counted as waiting, so
/// that a server gone for good gives the lines up after [`crate::resend::MAX_WAITING`].
const OFFLINE_WAIT: Duration = Duration::from_secs(1);

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Where it goes.
    pub topic: String,
    /// What it says.
    pub text: String,
    /// Its content type (`/me`'s action), if not plain text.
    pub ctype: Option<&'static str>,
    /// The message it answers (`/reply`).
    pub reply_to: Option<MsgId>,
}

/// A line in the queue.
#[derive(Debug)]
struct Waiting {
    line: Line,
    resend: Resend,
    /// Tells it from its copy out with the thread once `/queue drop` emptied the queue.
    id: u64,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<Waiting>,
    /// When each topic with lines waiting is tried next.
    due: HashMap<String, Instant>,
    next_id: u64,
    /// The client is leaving: the thread ends.
    closed: bool,
}

impl Queue {
    fn waiting(&self, topic: &str) -> usize {
        self.lines.iter().filter(|w| w.line.topic == topic).count()
    }

    /// The first line of a topic whose wait is over, in the order typed; else the soonest a
    /// wait ends, if any line waits.
    fn next_due(&self, now: Instant) -> Result<(u64, Line), Option<Instant>> {
        let due = |w: &Waiting| self.due.get(&w.line.topic).copied().unwrap_or(now);
        match self.lines.iter().find(|w| due(w) <= now) {
            Some(w) => Ok((w.id, w.line.clone())),
            None => Err(self.lines.iter().map(due).min()),
        }
    }

    fn take(&mut self, id: u64) -> Option<Waiting> {
        let at = self.lines.iter().position(|w| w.id == id)?;
        let w = self.lines.remove(at)?;
        if self.waiting(&w.line.topic) == 0 {
            self.due.remove(&w.line.topic);
        }
        Some(w)
    }
}

/// The queue and the thread's wake-up.
#[derive(Default)]
pub struct Paced {
    queue: Mutex<Queue>,
    changed: Condvar,
}

/// How one try of a line went.
#[derive(Debug)]
pub enum Tried {
    /// The server took it.
    Sent,
    /// Not now: refused naming this wait, or no connection. What to say if it is given up.
    Again(String, Duration),
    /// Anything else: the line is done, and this says how.
    Failed(String),
}

impl Paced {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many lines for `topic` wait: a line typed for it now waits behind them.
    pub fn waiting(&self, topic: &str) -> usize {
        self.lock().waiting(topic)
    }

    /// Queues `line`: after a refusal naming the wait `told`, sent again once it is over;
    /// without one, behind the lines of its topic. The wait before it is tried, or why it is
    /// not queued (the queue is full, or the wait too long: the refusal is then the answer).
    pub fn push(&self, line: Line, told: Option<Duration>) -> Result<Duration, String> {
        let mut q = self.lock();
        if q.lines.len() >= MAX_PACED {
            return Err(format!(
                "{MAX_PACED} lines already wait for the server to take them (/queue)"
            ));
        }
        let now = Instant::now();
        let mut resend = Resend::default();
        if let Some(told) = told {
            let until = now + resend.next(told)?;
            let due = q.due.entry(line.topic.clone()).or_insert(until);
            *due = (*due).max(until);
        }
        let wait = q
            .due
            .get(&line.topic)
            .map_or(Duration::ZERO, |d| d.saturating_duration_since(now));
        q.next_id += 1;
        let id = q.next_id;
        q.lines.push_back(Waiting { line, resend, id });
        self.changed.notify_all();
        Ok(wait)
    }

    /// Waits for the next line whose wait is over; `None` once the client is leaving.
    fn next(&self) -> Option<(u64, Line)> {
        let mut q = self.lock();
        loop {
            if q.closed {
                return None;
            }
            let now = Instant::now();
            q = match q.next_due(now) {
                Ok(next) => return Some(next),
                Err(Some(soonest)) => {
                    let left = soonest.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(q, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                Err(None) => self.changed.wait(q).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }

    /// Records how the try of line `id` went: done, or waiting again. What to say if the line
    /// is given up.
    fn settle(&self, id: u64, tried: Tried) -> Option<String> {
        let mut q = self.lock();
        let said = match tried {
            Tried::Sent => None,
            Tried::Failed(said) => Some(said),
            Tried::Again(said, told) => {
                let w = q.lines.iter_mut().find(|w| w.id == id)?;
                match w.resend.next(told) {
                    Ok(wait) => {
                        let topic = w.line.topic.clone();
                        q.due.insert(topic, Instant::now() + wait);
                        self.changed.notify_all();
                        return None;
                    }
                    Err(gave_up) => Some(format!("{said} ({gave_up})")),
                }
            }
        };
        q.take(id)?;
        self.changed.notify_all();
        said
    }

    /// The lines waiting, per topic in the order first queued, with the wait before the next
    /// try of each.
    pub fn list(&self) -> Vec<(String, usize, Duration)> {
        let q = self.lock();
        let now = Instant::now();
        let mut out: Vec<(String, usize, Duration)> = Vec::new();
        for w in &q.lines {
            match out.iter_mut().find(|(t, ..)| *t == w.line.topic) {
                Some((_, n, _)) => *n += 1,
                None => {
                    let wait = q
                        .due
                        .get(&w.line.topic)
                        .map_or(Duration::ZERO, |d| d.saturating_duration_since(now));
                    out.push((w.line.topic.clone(), 1, wait));
                }
            }
        }
        out
    }

    /// Forgets every line waiting (one being sent right now may still be taken); how many.
    pub fn drop_all(&self) -> usize {
        let mut q = self.lock();
        let n = q.lines.len();
        q.lines.clear();
        q.due.clear();
        self.changed.notify_all();
        n
    }

    /// Waits until no line waits: each is sent or given up, within its bounds.
    pub fn drain(&self) {
        let mut q = self.lock();
        while !q.lines.is_empty() && !q.closed {
            q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Stops the thread; the lines left unsent, per topic.
    pub fn close(&self) -> Vec<(String, usize, Duration)> {
        let left = self.list();
        let mut q = self.lock();
        q.closed = true;
        q.lines.clear();
        q.due.clear();
        self.changed.notify_all();
        left
    }
}

/// Starts the thread that sends the lines waiting, with `send` (the chat's publishing).
pub fn spawn(
    shared: Arc<Shared>,
    send: fn(&Shared, &Line) -> Tried,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("paced".into()).spawn(move || {
        while let Some((id, line)) = shared.paced.next() {
            let tried = send(&shared, &line);
            if let Some(said) = shared.paced.settle(id, tried) {
                shared.screen.error(said);
            }
        }
    })
}

/// `/queue`: the lines waiting, per topic; with `drop`, forgets them.
pub fn show(shared: &Shared, drop: bool) {
    let short = |t: &str| crate::names::short(t, &shared.state().domain).to_string();
    if drop {
        let n = shared.paced.drop_all();
        shared
            .screen
            .info(format!("dropped {n} line(s) that waited to be sent"));
        return;
    }
    let waiting = shared.paced.list();
    if waiting.is_empty() {
        shared.screen.info("no line waits to be sent");
    }
    for (topic, n, wait) in waiting {
        shared.screen.info(format!(
            "{n} line(s) wait for {}: the next is sent in {:.1}s (/queue drop forgets them)",
            short(&topic),
            wait.as_secs_f32()
        ));
    }
}

/// Leaving: stops the thread and says which lines were not sent.
pub fn leave(shared: &Shared) {
    for (topic, n, _) in shared.paced.close() {
        let short = crate::names::short(&topic, &shared.state().domain).to_string();
        shared.screen.error(format!(
            "not sent to {short}: {n} line(s) still waited for the server to take them"
        ));
    }
}

/// At the end of piped input: waits for the lines queued to be sent (or given up), as `send`
/// does, so that `printf '...' | scalar-cli chat` loses nothing to a channel's rate.
pub fn finish(shared: &Shared) {
    let n: usize = shared.paced.list().iter().map(|(_, n, _)| n).sum();
    if n > 0 {
        shared.screen.info(format!(
            "end of input: sending the {n} line(s) still queued first"
        ));
        shared.paced.drain();
    }
}

/// How a try went, from its request's result: a refusal that names a wait is waited out, no
/// connection too; `failed` says how the line failed, if it is given up.
pub fn tried(result: Result<(), ReqError>, failed: impl FnOnce(ReqError) -> String) -> Tried {
    let Err(e) = result else { return Tried::Sent };
    let again = match &e {
        ReqError::Net(NetError::Refused {
            retry_after: Some(told),
            ..
        }) => Some(*told),
        ReqError::NotConnected => Some(OFFLINE_WAIT),
        _ => None,
    };
    match again {
        Some(wait) => Tried::Again(failed(e), wait),
        None => Tried::Failed(failed(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(topic: &str, text: &str) -> Line {
        Line {
            topic: topic.into(),
            text: text.into(),
            ctype: None,
            reply_to: None,
        }
    }

    fn rate(wait: Duration) -> Tried {
        Tried::Again("not sent to #a: 806 channel_rate".into(), wait)
    }

    #[test]
    fn a_topic_s_lines_go_in_order_after_its_wait_and_others_are_not_held_up() {
        let p = Paced::default();
        let wait = p.push(line("#a", "1"), Some(Duration::from_secs(30)));
        assert!(wait.is_ok_and(|w| w >= Duration::from_secs(29)));
        assert_eq!(p.waiting("#a"), 1);
        // Behind the first: the same wait.
        assert!(
            p.push(line("#a", "2"), None)
                .is_ok_and(|w| w >= Duration::from_secs(29))
        );
        assert_eq!(p.push(line("#b", "x"), None), Ok(Duration::ZERO));
        let now = Instant::now();
        let q = p.lock();
        let (id, first) = q.next_due(now).ok().unwrap_or((0, line("", "")));
        assert_eq!(first, line("#b", "x"));
        drop(q);
        assert_eq!(p.settle(id, Tried::Sent), None);
        // #a's first line once its wait is over, then its second.
        let later = now + Duration::from_secs(40);
        let (id, first) = p.lock().next_due(later).ok().unwrap_or((0, line("", "")));
        assert_eq!(first, line("#a", "1"));
        assert_eq!(p.settle(id, Tried::Sent), None);
        let (_, second) = p.lock().next_due(later).ok().unwrap_or((0, line("", "")));
        assert_eq!(second, line("#a", "2"));
        assert_eq!(p.waiting("#a"), 1);
        assert_eq!(p.waiting("#b"), 0);
    }

    #[test]
    fn a_refusal_again_waits_again_until_the_line_is_given_up() {
        let p = Paced::default();
        let _ = p.push(line("#a", "1"), Some(Duration::ZERO));
        let _ = p.push(line("#a", "2"), None);
        let id = p.lock().lines.front().map_or(0, |w| w.id);
        assert_eq!(p.settle(id, rate(Duration::from_secs(50))), None);
        let (_, _, wait) = p.list()[0].clone();
        assert!(wait >= Duration::from_secs(49), "{wait:?}");
        // A few more refusals of the same line, then it is given up, and the next goes on.
        let mut said = None;
        for _ in 0..10 {
            said = p.settle(id, rate(Duration::from_secs(50)));
            if said.is_some() {
                break;
            }
        }
        let said = said.unwrap_or_default();
        assert!(
            said.starts_with("not sent to #a: 806 channel_rate (gave up on the message"),
            "{said}"
        );
        assert_eq!(p.waiting("#a"), 1);
        let next = p.lock().next_due(Instant::now() + Duration::from_secs(70));
        assert_eq!(next.ok().map(|(_, l)| l), Some(line("#a", "2")));
    }

    #[test]
    fn a_wait_too_long_or_a_full_queue_is_the_refusal() {
        let p = Paced::default();
        let long = p.push(line("#a", "1"), Some(Duration::from_secs(3600)));
        assert!(long.is_err_and(|e| e.contains("longer than scalar-cli waits")));
        assert_eq!(p.waiting("#a"), 0);
        for i in 0..MAX_PACED {
            assert!(p.push(line("#a", &i.to_string()), None).is_ok());
        }
        let full = p.push(line("#b", "x"), None);
        assert_eq!(
            full,
            Err("50 lines already wait for the server to take them (/queue)".into())
        );
    }

    #[test]
    fn failures_and_drops_end_a_line_and_closing_ends_the_thread() {
        let p = Paced::default();
        let _ = p.push(line("#a", "1"), None);
        let _ = p.push(line("#a", "2"), None);
        let id = p.lock().lines.front().map_or(0, |w| w.id);
        let said = p.settle(id, Tried::Failed("not sent to #a: 404 banned".into()));
        assert_eq!(said.as_deref(), Some("not sent to #a: 404 banned"));
        // Dropped while out with the thread: its result finds nothing to settle.
        let id = p.lock().lines.front().map_or(0, |w| w.id);
        assert_eq!(p.drop_all(), 1);
        assert_eq!(p.settle(id, rate(Duration::from_secs(1))), None);
        let _ = p.push(line("#b", "3"), None);
        assert_eq!(p.close(), vec![("#b".to_string(), 1, Duration::ZERO)]);
        assert!(p.next().is_none());
        p.drain();
    }

    #[test]
    fn offline_lines_wait_for_the_connection() {
        let p = Paced::default();
        let _ = p.push(line("#a", "1"), None);
        let id = p.lock().lines.front().map_or(0, |w| w.id);
        let offline = tried(Err(ReqError::NotConnected), |e| format!("not sent: {e}"));
        assert!(
            matches!(&offline, Tried::Again(said, w) if said == "not sent: not connected" && *w == OFFLINE_WAIT)
        );
        assert_eq!(p.settle(id, offline), None);
        let rate = NetError::Refused {
            code: 806,
            reason: "channel_rate".into(),
            server: None,
            retry_after: Some(Duration::from_secs(7)),
        };
        let again = tried(Err(ReqError::Net(rate)), |e| e.to_string());
        assert!(matches!(again, Tried::Again(_, w) if w == Duration::from_secs(7)));
        let lost = tried(Err(ReqError::Lost), |e| e.to_string());
        assert!(matches!(lost, Tried::Failed(_)));
        assert_eq!(p.waiting("#a"), 1);
        assert!(p.list()[0].2 >= Duration::from_millis(900));
    }
}
