//! Gaps a reconnect could not fill. When the server refuses a topic's catch-up (its store is
//! failing: a full disk, a stuck lock, error 700), what was said there while the connection
//! was down is unknown. Moving on would lose it for good: the next live message would become
//! the point the next catch-up starts from. So the gap is kept per topic, read again in the
//! background while connected, with a growing wait between tries. A reconnect meanwhile
//! starts that topic's catch-up from the gap only while nothing was seen there since it.

use super::catchup::{self, Caught};
use super::shared::{ReqError, Shared, State};
use crate::conn::NetError;
use crate::paging::{Bounds, Ending, PAGE, Pager};
use crate::timefmt::local_hms;
use scalar::proto::{ErrorCode, MsgId, Name};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The most pages one topic's catch-up reads; past it the note says newer missed messages were
/// not fetched. Bounds the time and memory a catch-up takes (all is held until shown).
pub const MAX_PAGES: u32 = 20;
/// How far before the moment the server was last heard from a topic with no message seen is
/// caught up from: the client's clock and the server's may differ a little.
pub(super) const SKEW_MS: u64 = 5_000;
/// The wait before the first try to fill a gap again; it doubles up to [`LAST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(5);
/// The longest wait between tries: one Catchup a minute costs a failing server little.
const LAST_RETRY: Duration = Duration::from_secs(60);
/// How often the background thread looks for gaps due: tries are seconds apart anyway, and
/// an idle client should not wake often.
const TICK: Duration = Duration::from_secs(1);

/// Where a topic's catch-up starts: after the last message seen there, or, with none seen,
/// from the moment the server was last heard from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// The last Event seen on the topic before the connection was lost, and its time.
    pub last: Option<(MsgId, u64)>,
    /// When the server was last heard from (ms since the epoch, this client's clock).
    pub lost_at: u64,
}

impl Start {
    /// When the gap began, as its lines say it: a time, or `the start` for one read whole
    /// (`lost_at` 0: an inbox none of whose messages was ever shown here).
    pub fn since(&self) -> String {
        match self.lost_at {
            0 => "the start".into(),
            t => local_hms(t),
        }
    }
}

/// A gap whose catch-up was refused, to be read again.
#[derive(Debug, Clone)]
pub struct Unfilled {
    /// Where the gap starts.
    pub start: Start,
    /// The time of the first message seen on the topic after the gap (live): the read stops
    /// before it (`until`: times rise strictly within a topic), since everything from it on
    /// was shown. Until it is known, a reconnect reads the gap from `start` on, as part of its
    /// own (`catchup::Gap::start`).
    pub upto: Option<u64>,
    /// Which gap this is: a read started for an earlier one of the same topic (before a
    /// reconnect made it anew) must not close this one.
    made: u64,
    /// When to try again.
    pub due: Instant,
    /// The wait after the next failure.
    wait: Duration,
}

impl Unfilled {
    /// A gap from `start`, tried again in [`FIRST_RETRY`].
    pub fn new(start: Start) -> Unfilled {
        static MADE: AtomicU64 = AtomicU64::new(0);
        Unfilled {
            start,
            upto: None,
            made: MADE.fetch_add(1, Ordering::Relaxed),
            due: Instant::now() + FIRST_RETRY,
            wait: FIRST_RETRY,
        }
    }

    /// After a failed try: the next one waits twice as long, up to [`LAST_RETRY`].
    fn failed(&mut self) {
        self.wait = self.wait.saturating_mul(2).min(LAST_RETRY);
        self.due = Instant::now() + self.wait;
    }
}

/// The forward read of what `topic` got after `start`, stopping before the time `upto` if
/// given, at most [`MAX_PAGES`] pages.
pub fn pager(topic: Name<'_>, start: Start, upto: Option<u64>) -> Pager<'_> {
    let bounds = Bounds {
        after: start.last.map(|(id, _)| id),
        since: start
            .last
            .is_none()
            .then(|| start.lost_at.saturating_sub(SKEW_MS)),
        until: upto,
        ..Bounds::default()
    };
    let pager = forward(topic, bounds);
    match start.last {
        // If the server no longer has that message, go on from its time: retention deleted
        // it. Or a crash lost it, and then its time may be ahead of what the server stamps
        // since: a topic sent more than 1,000 messages a second runs ahead of the clock, and
        // after the restart its times go on from the last one stored (helper 123). So from
        // no later than the loss either; what was shown already is not shown twice.
        Some((_, time)) => pager.anchor_time(match start.lost_at {
            0 => time,
            lost => time.min(lost.saturating_sub(SKEW_MS)),
        }),
        None => pager,
    }
}

/// The forward read of what `topic` got after the server's time `since`, exactly (a read
/// marker, which that server stamped), at most [`MAX_PAGES`] pages.
pub fn pager_since(topic: Name<'_>, since: u64) -> Pager<'_> {
    let bounds = Bounds {
        since: Some(since),
        ..Bounds::default()
    };
    forward(topic, bounds)
}

/// A forward read within `bounds`, at most [`MAX_PAGES`] pages.
fn forward(topic: Name<'_>, bounds: Bounds) -> Pager<'_> {
    Pager::new(topic, None, bounds, MAX_PAGES * PAGE, true).max_pages(MAX_PAGES)
}

/// Starts the thread that fills gaps again while connected, and writes the inbox mark after
/// direct messages were shown ([`Shared::keep_mark`]). It stops when the user quits.
pub fn spawn(shared: Arc<Shared>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("gaps".into()).spawn(move || {
        while !shared.quitting.load(Ordering::SeqCst) {
            std::thread::sleep(TICK);
            for topic in due(&shared) {
                fill(&shared, &topic);
            }
            super::rejoin::retry_due(&shared);
            super::read::send_due(&shared);
            shared.keep_mark_if_due();
        }
    })
}

/// The topics whose gap is due for another try, while a connection is up.
fn due(shared: &Shared) -> Vec<String> {
    let mut st = shared.state();
    if !st.connected {
        return Vec::new();
    }
    // A guest's old inbox went with its old ID (a channel left forgets its gap itself).
    let State {
        unfilled, subs, user, ..
    } = &mut *st;
    unfilled.retain(|topic, _| topic == user || subs.contains(topic));
    let now = Instant::now();
    unfilled
        .iter()
        .filter(|(_, u)| u.due <= now)
        .map(|(t, _)| t.clone())
        .collect()
}

/// Reads one gap again; shows what it held once the read worked, or schedules the next try.
fn fill(shared: &Shared, topic: &str) {
    let Some((start, upto, made)) = shared
        .state()
        .unfilled
        .get(topic)
        .map(|u| (u.start, u.upto, u.made))
    else {
        return;
    };
    let Ok(name) = Name::parse(topic) else {
        shared.state().unfilled.remove(topic);
        return;
    };
    let mut pager = pager(name, start, upto);
    let caught = catchup::read(topic, start, &mut pager, |ask| shared.replay(ask));
    let mut st = shared.state();
    // A reconnect meanwhile read this gap itself, or made it anew (or the channel was left).
    let Some(u) = st.unfilled.get_mut(topic).filter(|u| u.made == made) else {
        return;
    };
    match caught {
        Ok(caught) => {
            st.unfilled.remove(topic);
            drop(st);
            shown_later(shared, caught);
        }
        // The connection went: the reconnect's catch-up starts from this gap.
        Err(ReqError::NotConnected | ReqError::Lost) => {}
        Err(ReqError::Timeout) => u.failed(),
        Err(ReqError::Net(e)) if worth_retrying(&e) => u.failed(),
        Err(ReqError::Net(e)) => {
            st.unfilled.remove(topic);
            drop(st);
            let since = start.since();
            let name = {
                let st = shared.state();
                crate::names::history_of(topic, &st.user, &st.domain)
            };
            shared.screen.error(format!(
                "the gap in {name} since {since} cannot be filled ({e}): messages said there \
                 meanwhile may be missing"
            ));
        }
    }
}

/// Whether a refused catch-up may work later: the server's store is failing or busy (700).
/// Another refusal (not subscribed after all) will not go away by asking again.
pub fn worth_retrying(e: &NetError) -> bool {
    matches!(e, NetError::Refused { code, .. } if *code == ErrorCode::StoreUnavailable as u16)
}

/// Shows a gap filled after the reconnect, under its own marker line.
fn shown_later(shared: &Shared, caught: Caught) {
    let lead = format!("since {}, caught up later: ", caught.start.since());
    if caught.ending() == Ending::Unavailable {
        let name = caught.name(shared);
        shared.screen.info(format!(
            "{lead}the server keeps no history of {name} now: the gap cannot be filled"
        ));
    } else if let Some(name) = catchup::show_caught(shared, caught, &lead) {
        shared.screen.info(format!(
            "{lead}nothing missed in {name} after all; the gap is filled"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repl::screen::Screen;
    use crate::repl::shared::outbox;
    use scalar::client::Frame;
    use scalar::proto::{CatchupEnd, CatchupStatus, Msg};

    /// The last message seen is unknown to the server (lost in its crash): the read goes on by
    /// time, from no later than the loss, as Events stamped after the restart may carry times
    /// before the lost one's.
    #[test]
    fn a_gap_whose_last_message_is_unknown_is_read_from_no_later_than_the_loss() {
        let topic = scalar::proto::Name::parse("#a@l").unwrap();
        let id = scalar::proto::MsgId([7; 32]);
        for (seen_at, lost_at, from) in [(60_000, 50_000, 45_000), (20_000, 50_000, 20_000)] {
            let start = Start {
                last: Some((id, seen_at)),
                lost_at,
            };
            let mut p = pager(topic, start, None);
            let end = crate::paging::End {
                status: CatchupStatus::UnknownId,
                horizon: None,
            };
            assert_eq!(p.take(Vec::new(), end).1, None, "goes on by time");
            let Msg::Catchup(c) = p.ask().msg(None) else {
                panic!("not a Catchup")
            };
            assert_eq!((c.after, c.since), (None, Some(from)), "seen at {seen_at}");
        }
    }

    #[test]
    fn a_read_begun_for_a_gap_does_not_close_the_one_a_reconnect_made_anew() {
        let shared = Arc::new(Shared::new(
            "me@l".into(),
            "l".into(),
            Screen::new(),
            false,
            Duration::from_secs(5),
        ));
        let (out, inbox) = outbox().unwrap();
        shared.install(out);
        let start = Start {
            last: None,
            lost_at: 1_000,
        };
        let gap = Unfilled {
            upto: Some(1_500),
            ..Unfilled::new(start)
        };
        shared.state().unfilled.insert("me@l".into(), gap);
        let filler = {
            let shared = shared.clone();
            std::thread::spawn(move || fill(&shared, "me@l"))
        };
        let sent = inbox.frames.recv_timeout(Duration::from_secs(5)).unwrap();
        let seq = match Msg::decode(&sent[2..]).unwrap() {
            Msg::Catchup(c) => {
                assert_eq!(c.until, Some(1_500));
                c.seq.unwrap()
            }
            other => panic!("{other:?}"),
        };
        // Meanwhile the connection dropped, and the reconnect's catch-up was refused again:
        // the same start, but the gap now runs on past 1,500.
        shared
            .state()
            .unfilled
            .insert("me@l".into(), Unfilled::new(start));
        let end = Msg::CatchupEnd(CatchupEnd {
            seq: Some(seq),
            topic: Name::parse("me@l").unwrap(),
            status: CatchupStatus::Complete,
            count: 0,
            horizon: None,
        });
        assert!(shared.complete(seq, Frame(end.to_frame().unwrap()[2..].to_vec())));
        filler.join().unwrap();
        let st = shared.state();
        assert_eq!(
            st.unfilled.get("me@l").map(|u| u.upto),
            Some(None),
            "closed by the answer for the older gap"
        );
    }

    #[test]
    fn a_gap_is_read_from_its_start_up_to_the_first_message_seen_after_it() {
        let topic = Name::parse("#a@l").unwrap();
        let last = (MsgId([1; 32]), 5_000);
        let upto = 7_000;
        let start = Start {
            last: Some(last),
            lost_at: 9_000,
        };
        let ask = pager(topic, start, Some(upto)).ask().msg(None);
        let Msg::Catchup(c) = ask else { panic!("{ask:?}") };
        assert_eq!((c.after, c.until, c.since), (Some(last.0), Some(upto), None));
        // With no message seen there, from a little before the server was last heard from.
        let start = Start {
            last: None,
            lost_at: 9_000,
        };
        let Msg::Catchup(c) = pager(topic, start, None).ask().msg(None) else {
            panic!()
        };
        assert_eq!((c.after, c.until, c.since), (None, None, Some(4_000)));
    }

    #[test]
    fn tries_again_ever_less_often() {
        let mut u = Unfilled::new(Start {
            last: None,
            lost_at: 0,
        });
        let mut waits = Vec::new();
        for _ in 0..8 {
            u.failed();
            waits.push(u.wait.as_secs());
        }
        assert_eq!(waits, [10, 20, 40, 60, 60, 60, 60, 60]);
        assert!(u.due > Instant::now() + Duration::from_secs(59));
    }
}
