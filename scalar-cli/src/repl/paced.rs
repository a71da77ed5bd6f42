//! Lines the server refused for a short while — a channel's `rate` (806), an away user's full
//! inbox (406), each naming its `retry_after` — wait here and are sent again by a thread of
//! their own once the wait is over, in the order typed, while the user goes on typing. A line
//! for a topic with lines waiting waits behind them, so that nothing overtakes; other topics
//! are not held up. Without this a pasted block lost every line past the channel's rate.
//!
//! Bounded: at most [`MAX_PACED`] lines wait; each is given up (and said) after
//! [`crate::resend`]'s waits for its own refusals, as `send`'s messages are, and all of them
//! once there has been no connection for [`MAX_WAITING`] (or the client stopped
//! reconnecting). Lines wait through a reconnection.

use super::shared::{ReqError, Shared};
use crate::conn::NetError;
use crate::resend::{MAX_WAITING, Resend};
use scalar::proto::MsgId;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The most lines waiting at once, all topics together: a long paste into a channel of a few
/// messages a minute is refused past it, not sent for an hour.
pub const MAX_PACED: usize = 50;

/// How often the lines waiting while there is no connection look again.
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
    /// Its waits after refusals so far: each line is given up on its own.
    resend: Resend,
    /// Unique per push: the result of a line that `/queue drop` removed while it was being
    /// sent finds nothing to settle.
    id: u64,
}

/// The lines waiting, and when each topic is tried next.
#[derive(Debug, Default)]
struct Queue {
    lines: VecDeque<Waiting>,
    /// When each topic with lines waiting is tried next.
    due: HashMap<String, Instant>,
    next_id: u64,
    /// The line out with the thread now.
    in_flight: Option<u64>,
    /// Since when every try found no connection: one clock for the whole queue, which is
    /// given up past [`MAX_WAITING`] (a line behind others would otherwise start its own only
    /// once at the front: hours for a full queue).
    offline_since: Option<Instant>,
    /// The client is leaving, or the thread ended: nothing more is sent.
    closed: bool,
}

impl Queue {
    fn waiting(&self, topic: &str) -> usize {
        self.lines.iter().filter(|w| w.line.topic == topic).count()
    }

    /// How long until `topic` is tried next.
    fn wait_for(&self, topic: &str, now: Instant) -> Duration {
        (self.due.get(topic)).map_or(Duration::ZERO, |d| d.saturating_duration_since(now))
    }

    fn push(&mut self, line: Line, resend: Resend) -> Result<(), String> {
        if self.lines.len() >= MAX_PACED {
            return Err(format!(
                "{MAX_PACED} lines already wait for the server to take them (/queue)"
            ));
        }
        self.next_id += 1;
        let id = self.next_id;
        self.lines.push_back(Waiting { line, resend, id });
        Ok(())
    }

    /// The first line of a topic whose wait is over, in the order typed; else the soonest a
    /// wait ends, if any line waits.
    fn next_due(&self, now: Instant) -> Result<(u64, Line), Option<Instant>> {
        let due = |w: &Waiting| self.due.get(&w.line.topic).copied().unwrap_or(now);
        let out = |w: &&Waiting| Some(w.id) == self.in_flight;
        match self.lines.iter().find(|w| !out(w) && due(w) <= now) {
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
        self.emptied();
        Some(w)
    }

    /// An empty queue waits for no connection: a later outage's clock starts afresh.
    fn emptied(&mut self) {
        if self.lines.is_empty() {
            self.offline_since = None;
        }
    }

    /// Whether the line out with the thread is still queued.
    fn sending(&self) -> bool {
        self.in_flight
            .is_some_and(|id| self.lines.iter().any(|w| w.id == id))
    }

    /// The lines waiting per topic, in the order first queued, with the wait before the next
    /// try of each; without the line out with the thread.
    fn counts(&self, now: Instant) -> Vec<(String, usize, Duration)> {
        let mut out: Vec<(String, usize, Duration)> = Vec::new();
        for w in self.lines.iter().filter(|w| Some(w.id) != self.in_flight) {
            match out.iter_mut().find(|(t, ..)| *t == w.line.topic) {
                Some((_, n, _)) => *n += 1,
                None => out.push((w.line.topic.clone(), 1, self.wait_for(&w.line.topic, now))),
            }
        }
        out
    }
}

/// The queue and the thread's wake-up.
#[derive(Debug, Default)]
pub struct Paced {
    queue: Mutex<Queue>,
    changed: Condvar,
}

/// How one try of a line went.
#[derive(Debug)]
pub enum Tried {
    /// The server took it.
    Sent,
    /// Refused, naming a wait.
    Refused {
        /// What to say if the line is given up.
        said: String,
        /// The server's wait.
        wait: Duration,
    },
    /// No connection now, while the client reconnects.
    Offline,
    /// Anything else: the line is done, and this says how.
    Failed(String),
}

impl Tried {
    /// How a try went, from its request's result: a refusal that names a wait is waited out,
    /// no connection too while the client reconnects (not once it `stopped`); `failure` says
    /// how the line failed, for when it is given up.
    pub fn of(
        result: Result<(), ReqError>,
        stopped: bool,
        failure: impl FnOnce(ReqError) -> String,
    ) -> Tried {
        match result {
            Ok(()) => Tried::Sent,
            Err(ReqError::NotConnected) if !stopped => Tried::Offline,
            Err(ReqError::Net(
                e @ NetError::Refused {
                    retry_after: Some(wait),
                    ..
                },
            )) => Tried::Refused {
                said: failure(ReqError::Net(e)),
                wait,
            },
            Err(e) => Tried::Failed(failure(e)),
        }
    }
}

impl Paced {
    /// The queue, even if a thread panicked holding it: its state stays consistent between
    /// its short critical sections.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, q: MutexGuard<'a, Queue>, at_most: Option<Duration>) -> MutexGuard<'a, Queue> {
        match at_most {
            Some(d) => self
                .changed
                .wait_timeout(q, d)
                .map_or_else(|e| e.into_inner().0, |r| r.0),
            None => self.changed.wait(q).unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Queues `line` behind the lines of its topic, if any wait (else the caller sends it):
    /// how many then wait for the topic, or why it is not queued (the queue is full).
    pub fn queue_behind(&self, line: &Line) -> Option<Result<usize, String>> {
        let mut q = self.lock();
        let ahead = q.waiting(&line.topic);
        if ahead == 0 || q.closed {
            return None;
        }
        let queued = q.push(line.clone(), Resend::default()).map(|()| ahead + 1);
        self.changed.notify_all();
        Some(queued)
    }

    /// Queues `line`, refused naming the wait `told`, to be sent again once it is over: the
    /// wait, or why it is not queued (the queue is full, or the wait too long: the refusal is
    /// then the answer).
    pub fn push_refused(&self, line: Line, told: Duration) -> Result<Duration, String> {
        let mut q = self.lock();
        if q.closed {
            return Err("nothing more is sent: the client is leaving".into());
        }
        let now = Instant::now();
        let mut resend = Resend::default();
        let until = now + resend.next(told)?;
        let topic = line.topic.clone();
        q.push(line, resend)?;
        let due = q.due.entry(topic.clone()).or_insert(until);
        *due = (*due).max(until);
        self.changed.notify_all();
        Ok(q.wait_for(&topic, now))
    }

    /// Waits for the next line whose wait is over, and marks it out with the thread; `None`
    /// once closed.
    fn next(&self) -> Option<(u64, Line)> {
        let mut q = self.lock();
        loop {
            if q.closed {
                return None;
            }
            let now = Instant::now();
            q = match q.next_due(now) {
                Ok((id, line)) => {
                    q.in_flight = Some(id);
                    return Some((id, line));
                }
                Err(Some(soonest)) => self.wait(q, Some(soonest.saturating_duration_since(now))),
                Err(None) => self.wait(q, None),
            };
        }
    }

    /// Records how the try of line `id` went: done, or waiting again. What to say of lines
    /// given up, with `short` naming their topics.
    fn settle(&self, id: u64, tried: Tried, short: &dyn Fn(&str) -> String) -> Vec<String> {
        let mut q = self.lock();
        q.in_flight = None;
        self.changed.notify_all();
        let now = Instant::now();
        let said = match tried {
            Tried::Sent => None,
            Tried::Failed(said) => Some(said),
            Tried::Offline => {
                let since = *q.offline_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= MAX_WAITING {
                    return self.give_up_offline(&mut q, short);
                }
                if let Some(w) = q.lines.iter().find(|w| w.id == id) {
                    let topic = w.line.topic.clone();
                    q.due.insert(topic, now + OFFLINE_WAIT);
                }
                return Vec::new();
            }
            Tried::Refused { said, wait } => {
                let Some(w) = q.lines.iter_mut().find(|w| w.id == id) else {
                    return Vec::new();
                };
                match w.resend.next(wait) {
                    Ok(wait) => {
                        let topic = w.line.topic.clone();
                        q.due.insert(topic, now + wait);
                        q.offline_since = None;
                        return Vec::new();
                    }
                    Err(gave_up) => Some(format!("{said} ({gave_up})")),
                }
            }
        };
        q.offline_since = None;
        q.take(id);
        said.into_iter().collect()
    }

    /// Gives up every line: no connection for [`MAX_WAITING`].
    fn give_up_offline(&self, q: &mut Queue, short: &dyn Fn(&str) -> String) -> Vec<String> {
        let said = q.counts(Instant::now()).into_iter().map(|(topic, n, _)| {
            format!(
                "not sent to {}: {n} line(s) waited, and there has been no connection for {} s",
                short(&topic),
                MAX_WAITING.as_secs()
            )
        });
        let said = said.collect();
        q.lines.clear();
        q.due.clear();
        q.offline_since = None;
        said
    }

    /// The lines waiting, per topic in the order first queued, with the wait before the next
    /// try of each.
    pub fn list(&self) -> Vec<(String, usize, Duration)> {
        self.lock().counts(Instant::now())
    }

    /// How many lines wait.
    pub fn len(&self) -> usize {
        self.lock().lines.len()
    }

    /// Forgets every line waiting: how many, and whether one was being sent right then (it
    /// may still be taken).
    pub fn drop_all(&self) -> (usize, bool) {
        let mut q = self.lock();
        let unsure = q.sending();
        let n = q.lines.len().saturating_sub(usize::from(unsure));
        q.lines.clear();
        q.due.clear();
        q.emptied();
        self.changed.notify_all();
        (n, unsure)
    }

    /// Forgets the lines waiting for `topic` (left, or kicked out of it: they would only be
    /// refused, or sent after a later join that no longer meant them): how many, and whether
    /// one of them was being sent right then (it may still be taken, but is not tried again).
    pub fn drop_topic(&self, topic: &str) -> (usize, bool) {
        let mut q = self.lock();
        let in_flight = q.in_flight;
        let unsure = (q.lines.iter()).any(|w| w.line.topic == topic && Some(w.id) == in_flight);
        let before = q.lines.len();
        q.lines.retain(|w| w.line.topic != topic);
        q.due.remove(topic);
        q.emptied();
        self.changed.notify_all();
        (
            (before - q.lines.len()).saturating_sub(usize::from(unsure)),
            unsure,
        )
    }

    /// Waits while the queue is full: piped input is read no faster than the server takes
    /// it, rather than refused past [`MAX_PACED`].
    pub fn wait_for_room(&self) {
        let mut q = self.lock();
        while q.lines.len() >= MAX_PACED && !q.closed {
            q = self.wait(q, None);
        }
    }

    /// Whether the lines wait for a connection rather than for the server's rate.
    pub fn offline(&self) -> bool {
        self.lock().offline_since.is_some()
    }

    /// Waits until no line waits: each is sent or given up, within its bounds (or the thread
    /// ended).
    pub fn drain(&self) {
        let mut q = self.lock();
        while !q.lines.is_empty() && !q.closed {
            q = self.wait(q, None);
        }
    }

    /// Stops the thread, waiting up to `at_most` for a line being sent (so that it is not
    /// written after the Bye): the lines left unsent, per topic, and whether one was still
    /// out with the thread.
    pub fn close(&self, at_most: Duration) -> (Vec<(String, usize)>, bool) {
        let mut q = self.lock();
        q.closed = true;
        self.changed.notify_all();
        let until = Instant::now() + at_most;
        while q.in_flight.is_some() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            q = self.wait(q, Some(left));
        }
        let left = q
            .counts(Instant::now())
            .into_iter()
            .map(|(t, n, _)| (t, n))
            .collect();
        let unsure = q.in_flight.is_some();
        q.lines.clear();
        q.due.clear();
        (left, unsure)
    }

    /// The thread ended: nothing waits for it any more.
    fn stop(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }
}

/// Closes the queue when the thread ends, by a panic too, so that the end of piped input does
/// not wait for it for good.
struct Stop<'a>(&'a Paced);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Starts the thread that sends the lines waiting, with `send` (the chat's publishing).
pub fn spawn(
    shared: Arc<Shared>,
    send: fn(&Shared, &Line) -> Tried,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("paced".into()).spawn(move || {
        let _stop = Stop(&shared.paced);
        let short = |t: &str| crate::names::short(t, &shared.state().domain).to_string();
        while let Some((id, line)) = shared.paced.next() {
            let tried = send(&shared, &line);
            for said in shared.paced.settle(id, tried, &short) {
                shared.line_failed(said);
            }
        }
    })
}

/// `/queue`: the lines waiting, per topic; with `drop`, forgets them.
pub fn show(shared: &Shared, drop: bool) {
    if drop {
        let (n, unsure) = shared.paced.drop_all();
        let sending = match unsure {
            true => "; one being sent right now may still go",
            false => "",
        };
        shared
            .screen
            .info(format!("dropped {n} line(s) that waited to be sent{sending}"));
        return;
    }
    let waiting = shared.paced.list();
    if waiting.is_empty() {
        shared.screen.info("no line waits to be sent");
    }
    let offline = shared.paced.offline();
    for (topic, n, wait) in waiting {
        let short = crate::names::short(&topic, &shared.state().domain).to_string();
        let when = match offline {
            true => "they are sent once connected again".to_string(),
            false => format!("the next is sent in {:.1}s", wait.as_secs_f32()),
        };
        shared.screen.info(format!(
            "{n} line(s) wait for {short}: {when} (/queue drop forgets them)"
        ));
    }
}

/// Forgets the lines waiting for `topic`, saying so with `why` (`you left it`).
pub fn forget(shared: &Shared, topic: &str, why: &str) {
    let (n, unsure) = shared.paced.drop_topic(topic);
    let short = crate::names::short(topic, &shared.state().domain).to_string();
    if n > 0 {
        shared.line_failed(format!(
            "not sent to {short}: {n} line(s) that waited, since {why}"
        ));
    }
    if unsure {
        shared.line_failed(format!(
            "a line to {short} was being sent then: it may have been delivered"
        ));
    }
}

/// The lines waiting, in words for the end of the client by a signal (`""` for none): they
/// are lost with it. Stops the thread: nothing more is sent.
pub fn unsent(shared: &Shared) -> String {
    let (left, _) = shared.paced.close(Duration::ZERO);
    let domain = shared.state().domain.clone();
    let each: Vec<String> = (left.iter())
        .map(|(topic, n)| format!("{n} to {}", crate::names::short(topic, &domain)))
        .collect();
    match each.is_empty() {
        true => String::new(),
        false => format!(
            "not sent: line(s) that waited for the server: {}",
            each.join(", ")
        ),
    }
}

/// Leaving: stops the thread and says which lines were not sent.
pub fn leave(shared: &Shared) {
    let (left, unsure) = shared.paced.close(shared.timeout);
    for (topic, n) in left {
        let short = crate::names::short(&topic, &shared.state().domain).to_string();
        shared.line_failed(format!(
            "not sent to {short}: {n} line(s) still waited for the server to take them"
        ));
    }
    if unsure {
        shared.line_failed("a line that waited was being sent when you left: it may have been delivered");
    }
}

/// At the end of piped input: waits for the lines queued to be sent (or given up), as `send`
/// does, so that `printf '...' | scalar-cli chat` loses nothing to a channel's rate.
pub fn finish(shared: &Shared) {
    let n = shared.paced.len();
    if n > 0 {
        shared.screen.info(format!(
            "end of input: sending the {n} line(s) still queued first"
        ));
        shared.paced.drain();
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
        Tried::Refused {
            said: "not sent to #a: 806 channel_rate".into(),
            wait,
        }
    }

    fn same(t: &str) -> String {
        t.to_string()
    }

    /// Queues a line for `topic`: behind its lines, or as refused with the least wait.
    fn queue(p: &Paced, topic: &str, text: &str) {
        if p.queue_behind(&line(topic, text)).is_none() {
            let _ = p.push_refused(line(topic, text), Duration::ZERO);
        }
    }

    fn front(p: &Paced) -> u64 {
        p.lock().lines.front().map_or(0, |w| w.id)
    }

    #[test]
    fn a_topic_s_lines_go_in_order_after_its_wait_and_others_are_not_held_up() {
        let p = Paced::default();
        assert_eq!(
            p.queue_behind(&line("#a", "0")),
            None,
            "nothing waits: sent at once"
        );
        let wait = p.push_refused(line("#a", "1"), Duration::from_secs(30));
        assert!(wait.is_ok_and(|w| w >= Duration::from_secs(29)));
        assert_eq!(p.queue_behind(&line("#a", "2")), Some(Ok(2)));
        assert_eq!(
            p.queue_behind(&line("#b", "x")),
            None,
            "another topic is not held up"
        );
        let later = Instant::now() + Duration::from_secs(40);
        let (id, first) = p.lock().next_due(later).ok().unwrap_or((0, line("", "")));
        assert_eq!(first, line("#a", "1"));
        assert!(p.settle(id, Tried::Sent, &same).is_empty());
        let (_, second) = p.lock().next_due(later).ok().unwrap_or((0, line("", "")));
        assert_eq!(second, line("#a", "2"));
        assert_eq!((p.len(), p.lock().waiting("#b")), (1, 0));
    }

    #[test]
    fn the_thread_wakes_for_a_line_due_and_closing_waits_for_its_send() {
        let p = Arc::new(Paced::default());
        let waiter = p.clone();
        let thread = std::thread::spawn(move || {
            let first = waiter.next();
            // Being sent while the client leaves.
            std::thread::sleep(Duration::from_millis(200));
            let said = first
                .as_ref()
                .map(|(id, _)| waiter.settle(*id, Tried::Sent, &same));
            (first.map(|(_, l)| l), said, waiter.next())
        });
        std::thread::sleep(Duration::from_millis(50));
        // Due at once: 100 ms, the least wait.
        assert!(p.push_refused(line("#a", "1"), Duration::ZERO).is_ok());
        let _ = p.queue_behind(&line("#a", "2"));
        // Woken by the line's due time, however slowly the machine runs (bounded).
        let until = Instant::now() + Duration::from_secs(10);
        while p.lock().in_flight.is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (left, unsure) = p.close(Duration::from_secs(5));
        assert!(!unsure, "the line out was settled before close returned");
        assert_eq!(left, [("#a".to_string(), 1)], "the second never went");
        let (first, said, next) = thread.join().unwrap_or((None, None, Some((0, line("", "")))));
        assert_eq!(first, Some(line("#a", "1")));
        assert_eq!(said, Some(Vec::new()));
        assert_eq!(next, None, "closed");
    }

    #[test]
    fn a_refusal_again_waits_again_until_the_line_is_given_up() {
        let p = Paced::default();
        queue(&p, "#a", "1");
        queue(&p, "#a", "2");
        let id = front(&p);
        assert!(p.settle(id, rate(Duration::from_secs(50)), &same).is_empty());
        let (_, _, wait) = p.list()[0].clone();
        assert!(wait >= Duration::from_secs(49), "{wait:?}");
        // A few more refusals of the same line, then it is given up, and the next goes on.
        let mut said = Vec::new();
        for _ in 0..10 {
            said = p.settle(id, rate(Duration::from_secs(50)), &same);
            if !said.is_empty() {
                break;
            }
        }
        let said = said.join("");
        assert!(
            said.starts_with("not sent to #a: 806 channel_rate (gave up after waiting"),
            "{said}"
        );
        assert_eq!(p.lock().waiting("#a"), 1);
        let next = p.lock().next_due(Instant::now() + Duration::from_secs(70));
        assert_eq!(next.ok().map(|(_, l)| l), Some(line("#a", "2")));
    }

    #[test]
    fn a_wait_too_long_or_a_full_queue_is_the_refusal() {
        let p = Paced::default();
        let long = p.push_refused(line("#a", "1"), Duration::from_secs(3600));
        assert!(long.is_err_and(|e| e.contains("longer than scalar-cli waits")));
        assert_eq!(p.len(), 0);
        assert!(p.push_refused(line("#a", "0"), Duration::from_secs(1)).is_ok());
        for i in 1..MAX_PACED {
            assert_eq!(p.queue_behind(&line("#a", &i.to_string())), Some(Ok(i + 1)));
        }
        let full = Err("50 lines already wait for the server to take them (/queue)".into());
        assert_eq!(p.queue_behind(&line("#a", "x")), Some(full.clone()));
        assert_eq!(
            p.push_refused(line("#b", "x"), Duration::from_secs(1)),
            full.map(|_: usize| Duration::ZERO)
        );
    }

    #[test]
    fn failures_and_drops_end_a_line() {
        let p = Paced::default();
        queue(&p, "#a", "1");
        queue(&p, "#a", "2");
        let id = front(&p);
        let said = p.settle(id, Tried::Failed("not sent to #a: 801 banned".into()), &same);
        assert_eq!(said, ["not sent to #a: 801 banned"]);
        // Dropped while out with the thread: its result finds nothing to settle.
        let out = p.next().map(|(id, _)| id);
        assert_eq!(out, Some(front(&p)));
        let _ = p.queue_behind(&line("#a", "3"));
        assert_eq!(p.drop_all(), (1, true), "the one out is not counted");
        // Found in review: a second drop while the line is still out underflowed.
        assert_eq!(p.drop_all(), (0, false));
        assert!(
            p.settle(out.unwrap_or(0), rate(Duration::from_secs(1)), &same)
                .is_empty()
        );
        p.drain();
        let _ = p.push_refused(line("#b", "3"), Duration::ZERO);
        assert_eq!(p.close(Duration::ZERO), (vec![("#b".to_string(), 1)], false));
        assert!(p.next().is_none());
    }

    #[test]
    fn leaving_a_topic_forgets_its_lines_and_a_full_queue_holds_input_back() {
        let p = Arc::new(Paced::default());
        let _ = p.push_refused(line("#a", "0"), Duration::from_secs(1));
        for i in 1..MAX_PACED {
            queue(&p, if i % 2 == 0 { "#a" } else { "#b" }, "x");
        }
        assert_eq!(p.len(), MAX_PACED);
        let reader = p.clone();
        let room = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let found = room.clone();
        let waited = std::thread::spawn(move || {
            reader.wait_for_room();
            found.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        // Still held while full: a machine however slow cannot make this pass wrongly.
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !room.load(std::sync::atomic::Ordering::SeqCst),
            "read on while full"
        );
        assert_eq!(p.drop_topic("#b"), (MAX_PACED / 2, false));
        assert!(waited.join().is_ok());
        assert!(room.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!((p.len(), p.lock().waiting("#b")), (MAX_PACED / 2, 0));
        assert!(!p.lock().due.contains_key("#b"));
    }

    #[test]
    fn offline_lines_wait_for_the_connection_then_all_are_given_up() {
        let p = Paced::default();
        for topic in ["#a", "#a", "#b"] {
            queue(&p, topic, "x");
        }
        let id = front(&p);
        assert!(p.settle(id, Tried::Offline, &same).is_empty());
        assert_eq!(p.len(), 3);
        assert!(p.list()[0].2 >= Duration::from_millis(900));
        // One clock for the queue: past it, every line goes, each topic said once.
        p.lock().offline_since = Instant::now().checked_sub(MAX_WAITING);
        let said = p.settle(id, Tried::Offline, &same);
        assert_eq!(
            said,
            [
                "not sent to #a: 2 line(s) waited, and there has been no connection for 300 s",
                "not sent to #b: 1 line(s) waited, and there has been no connection for 300 s"
            ]
        );
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn tries_are_told_apart() {
        let failure = |e: ReqError| format!("not sent: {e}");
        assert!(matches!(
            Tried::of(Err(ReqError::NotConnected), false, failure),
            Tried::Offline
        ));
        let stopped = Tried::of(Err(ReqError::NotConnected), true, failure);
        assert!(matches!(&stopped, Tried::Failed(s) if s == "not sent: not connected"));
        let rate = NetError::Refused {
            code: 806,
            reason: "channel_rate".into(),
            server: None,
            retry_after: Some(Duration::from_secs(7)),
        };
        let again = Tried::of(Err(ReqError::Net(rate)), false, failure);
        assert!(matches!(again, Tried::Refused { wait, .. } if wait == Duration::from_secs(7)));
        assert!(matches!(
            Tried::of(Err(ReqError::Lost), false, failure),
            Tried::Failed(_)
        ));
        assert!(matches!(Tried::of(Ok(()), false, failure), Tried::Sent));
    }
}
