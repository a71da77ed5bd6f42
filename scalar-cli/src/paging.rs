//! Reading a topic's history page by page with Catchup or Search (PROTOCOL.md §4): the next
//! request, where the next page starts, when to stop, and every Event handed on once.
//!
//! Sans IO: the one-shot modes, the interactive commands and the reconnect catch-up each drive
//! it over their own connection (see [`read`]), and the tests drive it with made-up pages.

use crate::conn::NetError;
use crate::event::Received;
use scalar::client::Frame;
use scalar::proto::{Catchup, CatchupStatus, MAX_QUERY, Msg, MsgId, Name, Search};
use scalar::store::sqlite::words::words;
use std::collections::HashSet;

/// Events asked for per request. scalard replays at most 500 (and about 64 KiB) per request;
/// a smaller page keeps each reply short, so replies queued behind it do not wait long.
pub const PAGE: u32 = 100;

/// Why `query` is not worth a Search, if it is not: PROTOCOL.md §4, Search, allows 1 to
/// [`MAX_QUERY`] bytes, and a query with no words (runs of letters, numbers and marks holding a
/// letter or number) matches nothing on any server, so it is refused here, before it is sent,
/// rather than answered with an empty page that reads like "nothing matches".
pub fn refuse_query(query: &str) -> Option<String> {
    if query.trim().is_empty() || query.len() > MAX_QUERY {
        return Some(format!("search words are 1 to {MAX_QUERY} bytes in all"));
    }
    if !words(query).any(|w| w.chars().any(char::is_alphanumeric)) {
        return Some(format!(
            "\"{}\" has no words to search for (a word is a run of letters and numbers; \
             symbols, emoji and wildcards are not searched)",
            crate::render::clean_line(query)
        ));
    }
    None
}

/// The bounds of a read, as in Catchup: every Event read satisfies all that are set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bounds {
    /// Only Events with a time after this.
    pub since: Option<u64>,
    /// Only Events after the one with this id.
    pub after: Option<MsgId>,
    /// Only Events with a time before this.
    pub until: Option<u64>,
    /// Only Events before the one with this id.
    pub before: Option<MsgId>,
}

/// What a CatchupEnd said, owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End {
    /// How the page ended.
    pub status: CatchupStatus,
    /// Events of the topic at or before this time were deleted by retention.
    pub horizon: Option<u64>,
}

/// Why a read stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Everything in range was read (possibly nothing).
    Complete,
    /// As many as asked for were read, and more exist.
    More,
    /// The safety limit was reached, and more exist.
    Capped,
    /// The server keeps no history (or, for a search, no index) for the topic.
    Unavailable,
    /// The server does not have the Event the read starts from (and its time is not known).
    UnknownId,
    /// The server refused a page after earlier ones gave Events (a busy store, a query out of
    /// time: [`Pager::refused`] says); those are kept, and more may exist.
    Refused,
}

/// An error of a page request, which may be the server's refusal of that one page (an Error
/// answering it) rather than a failure of the connection.
pub trait PageError: Sized {
    /// The refusal, or the error as it was if it is something else.
    fn refusal(self) -> Result<NetError, Self>;
}

impl PageError for NetError {
    fn refusal(self) -> Result<NetError, Self> {
        match self {
            e @ NetError::Refused { .. } => Ok(e),
            e => Err(e),
        }
    }
}

/// One request, without its `seq`.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    range: Catchup<'a>,
    query: Option<&'a str>,
}

impl<'a> Ask<'a> {
    /// The Catchup or Search to send, numbered `seq`.
    pub fn msg(self, seq: Option<u32>) -> Msg<'a> {
        let range = Catchup { seq, ..self.range };
        match self.query {
            Some(query) => Msg::Search(Search { range, query }),
            None => Msg::Catchup(range),
        }
    }
}

/// The state of one read: a backward one (the newest Events, then older pages) or a forward
/// one (the oldest Events after a lower bound, then newer pages).
#[derive(Debug)]
pub struct Pager<'a> {
    topic: Name<'a>,
    query: Option<&'a str>,
    bounds: Bounds,
    forward: bool,
    /// The time of the Event `after` or `before` names, when known: the fallback bound if the
    /// server no longer has that Event.
    anchor_time: Option<u64>,
    /// The lower time bound the read started from (or fell back to), for judging `horizon`.
    floor: Option<u64>,
    left: u32,
    limit_is_cap: bool,
    /// Requests still allowed, when their number is bounded.
    pages_left: Option<u32>,
    seen: HashSet<MsgId>,
    /// The read fell back from an id the server no longer has to that Event's time: an Event
    /// of another topic of a conversation stamped in the same millisecond could be missed.
    pub by_time: bool,
    /// The newest `horizon` the server reported.
    pub horizon: Option<u64>,
    /// The refusal that ended the read ([`Ending::Refused`]).
    pub refused: Option<NetError>,
    /// Events handed on so far.
    pub got: u32,
}

impl<'a> Pager<'a> {
    /// The time the read stops before, if it has one.
    pub fn until(&self) -> Option<u64> {
        self.bounds.until
    }

    /// Whether the read is of a user's ID: direct messages or a conversation.
    pub fn of_user(&self) -> bool {
        self.topic.kind() == scalar::proto::Kind::User
    }

    /// A read of `topic` (a Search for `query`, else a Catchup) within `bounds`, of at most
    /// `limit` Events. `limit_is_cap` says the limit is a safety bound rather than the number
    /// the person asked for, which changes how stopping there is reported.
    pub fn new(
        topic: Name<'a>,
        query: Option<&'a str>,
        bounds: Bounds,
        limit: u32,
        limit_is_cap: bool,
    ) -> Self {
        Pager {
            topic,
            query,
            forward: bounds.since.is_some() || bounds.after.is_some(),
            floor: bounds.since,
            bounds,
            anchor_time: None,
            left: limit,
            limit_is_cap,
            pages_left: None,
            seen: HashSet::new(),
            by_time: false,
            horizon: None,
            refused: None,
            got: 0,
        }
    }

    /// Sets the time of the Event named by `after` or `before`, so that the read can go on by
    /// time if the server no longer has it.
    pub fn anchor_time(mut self, time: u64) -> Self {
        self.anchor_time = Some(time);
        self
    }

    /// Stops the read after `pages` requests (reported as [`Ending::Capped`] if more exist),
    /// however few Events the server put in each.
    pub fn max_pages(mut self, pages: u32) -> Self {
        self.pages_left = Some(pages);
        self
    }

    /// Whether the read is limited to a range (a time or a message on either side), so that
    /// finding nothing says nothing of the rest of the topic.
    pub fn bounded(&self) -> bool {
        let b = &self.bounds;
        b.since.is_some() || b.after.is_some() || b.until.is_some() || b.before.is_some()
    }

    /// Whether pages run forward (oldest first) rather than backward.
    pub fn forward(&self) -> bool {
        self.forward
    }

    /// The next request.
    pub fn ask(&self) -> Ask<'a> {
        let range = Catchup {
            seq: None,
            topic: self.topic,
            count: self.left.clamp(1, PAGE),
            since: self.bounds.since,
            after: self.bounds.after,
            until: self.bounds.until,
            before: self.bounds.before,
        };
        Ask {
            range,
            query: self.query,
        }
    }

    /// Takes one page (its Events oldest first, and how it ended). Returns the Events not handed
    /// on before, and why the read stops, or `None` to ask again.
    pub fn take(&mut self, events: Vec<Received>, end: End) -> (Vec<Received>, Option<Ending>) {
        if end.horizon.is_some() {
            self.horizon = end.horizon.max(self.horizon);
        }
        if let Some(p) = &mut self.pages_left {
            *p = p.saturating_sub(1);
        }
        match end.status {
            CatchupStatus::Unavailable => return (Vec::new(), Some(Ending::Unavailable)),
            CatchupStatus::UnknownId => {
                let retry = self.fall_back();
                return (Vec::new(), (!retry).then_some(Ending::UnknownId));
            }
            CatchupStatus::Complete | CatchupStatus::Truncated => {}
        }
        // The next page starts past this one, keeping the other bounds (PROTOCOL.md §4).
        let edge = if self.forward {
            events.last()
        } else {
            events.first()
        };
        if let Some(e) = edge {
            if self.forward {
                self.bounds.after = Some(e.id);
            } else {
                self.bounds.before = Some(e.id);
            }
            self.anchor_time = Some(e.time);
        }
        let fresh: Vec<Received> = events.into_iter().filter(|e| self.seen.insert(e.id)).collect();
        let n = u32::try_from(fresh.len()).unwrap_or(u32::MAX);
        self.got = self.got.saturating_add(n);
        self.left = self.left.saturating_sub(n);
        let stop = match end.status {
            CatchupStatus::Complete => Some(Ending::Complete),
            // Nothing new in a page said to have more: asking again could go on forever.
            _ if n == 0 => Some(Ending::More),
            _ if self.pages_left == Some(0) => Some(Ending::Capped),
            _ if self.left == 0 && self.limit_is_cap => Some(Ending::Capped),
            _ if self.left == 0 => Some(Ending::More),
            _ => None,
        };
        (fresh, stop)
    }

    /// After `unknown_id`: goes on from the anchor's time instead of its id, if that is known.
    fn fall_back(&mut self) -> bool {
        let Some(t) = self.anchor_time.take() else {
            return false;
        };
        if self.forward {
            self.bounds.after = None;
            self.bounds.since = Some(self.bounds.since.map_or(t, |s| s.max(t)));
            self.floor = self.bounds.since;
        } else {
            self.bounds.before = None;
            self.bounds.until = Some(self.bounds.until.map_or(t, |u| u.min(t)));
        }
        self.by_time = true;
        true
    }

    /// The retention horizon, when it cut into the range read: a backward read that reached
    /// the oldest Event kept, or a forward read whose lower time bound is before it. (`since`
    /// asks for times after it, and the horizon says times up to it may be missing: a read
    /// from exactly the horizon lost nothing, as when retention deleted just the Event it
    /// goes on from, and it fell back to that Event's time.)
    pub fn lost_before(&self, ending: Ending) -> Option<u64> {
        let h = self.horizon?;
        let relevant = match ending {
            Ending::Complete if !self.forward => true,
            Ending::Unavailable => false,
            _ => self.forward && self.floor.is_some_and(|f| f < h),
        };
        relevant.then_some(h)
    }
}

/// Reads pages until the pager stops. `fetch` sends one request and returns its page: the
/// Events replayed and the CatchupEnd. `each` gets every new Event once, oldest first within
/// the read as a whole (a backward read is held until its last page, then handed on); it
/// returns false to stop early, and then the result is `None`. A page the server refuses
/// after earlier pages gave Events ends the read with those ([`Ending::Refused`]); any other
/// error, or a refusal of the first, is the result.
pub fn read<E: PageError>(
    pager: &mut Pager<'_>,
    mut fetch: impl FnMut(Ask<'_>) -> Result<(Vec<Received>, End), E>,
    mut each: impl FnMut(Received) -> Result<bool, E>,
) -> Result<Option<Ending>, E> {
    let mut held: Vec<Vec<Received>> = Vec::new();
    let ending = loop {
        let (events, end) = match fetch(pager.ask()) {
            Ok(page) => page,
            Err(e) if pager.got > 0 => {
                pager.refused = Some(e.refusal()?);
                break Ending::Refused;
            }
            Err(e) => return Err(e),
        };
        let (fresh, stop) = pager.take(events, end);
        if pager.forward() {
            for e in fresh {
                if !each(e)? {
                    return Ok(None);
                }
            }
        } else {
            held.push(fresh);
        }
        if let Some(s) = stop {
            break s;
        }
    };
    // Each backward page is older than the one before it.
    for e in held.into_iter().rev().flatten() {
        if !each(e)? {
            return Ok(None);
        }
    }
    Ok(Some(ending))
}

/// Collects one page from the frames that answer its request, as `next` returns them: the
/// Events replayed, then the CatchupEnd that ends it.
pub fn page<E: From<NetError>>(
    mut next: impl FnMut() -> Result<Frame, E>,
) -> Result<(Vec<Received>, End), E> {
    let mut events = Vec::new();
    loop {
        let frame = next()?;
        match frame.msg()? {
            Msg::Event(e) => events.push(Received::new(&e)),
            Msg::CatchupEnd(end) => {
                let end = End {
                    status: end.status,
                    horizon: end.horizon,
                };
                return Ok((events, end));
            }
            other => {
                let what = format!("the server answered a Catchup with {}", other.msg_type().label());
                return Err(NetError::Protocol(what).into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Content;

    #[test]
    fn a_query_without_words_is_not_sent() {
        assert_eq!(refuse_query("x y"), None);
        assert_eq!(refuse_query("hel* ***"), None, "it has a word");
        assert_eq!(refuse_query("καλημέρα"), None);
        assert_eq!(
            refuse_query("***").as_deref(),
            Some(
                "\"***\" has no words to search for (a word is a run of letters and numbers; \
                 symbols, emoji and wildcards are not searched)"
            )
        );
        // A heart with its emoji presentation selector (a mark, U+FE0F) has no word either.
        let why = refuse_query("\u{2764}\u{fe0f} 🙂").unwrap_or_default();
        assert!(why.contains("has no words to search for"), "{why}");
        assert!(refuse_query("  ").is_some_and(|w| w.contains("1 to 256 bytes")));
        assert!(refuse_query(&"a".repeat(MAX_QUERY + 1)).is_some());
        assert_eq!(refuse_query(&"a".repeat(MAX_QUERY)), None);
    }

    fn ev(n: u8) -> Received {
        Received {
            seq: None,
            topic: "#t@l".into(),
            from: "a@l".into(),
            time: 1000 + u64::from(n),
            id: MsgId([n; 32]),
            verified: true,
            content: Content::Text(n.to_string()),
            ctype: None,
            reply_to: None,
        }
    }

    fn end(status: CatchupStatus) -> End {
        End {
            status,
            horizon: None,
        }
    }

    /// A fake server holding Events 1..=n of one topic, answering pages of at most `page`.
    fn serve(n: u8, page: u32, ask: Ask<'_>) -> (Vec<Received>, End) {
        let Msg::Catchup(c) = ask.msg(None) else {
            panic!("a Catchup")
        };
        let all: Vec<Received> = (1..=n).map(ev).collect();
        let pos = |id| all.iter().position(|e| e.id == id);
        let lo = c.after.map_or(Some(0), |a| pos(a).map(|i| i + 1));
        let hi = c.before.map_or(Some(all.len()), pos);
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return (Vec::new(), end(CatchupStatus::UnknownId));
        };
        let range: Vec<Received> = all[lo..hi.max(lo)]
            .iter()
            .filter(|e| c.since.is_none_or(|s| e.time > s) && c.until.is_none_or(|u| e.time < u))
            .cloned()
            .collect();
        let take = (c.count.min(page) as usize).min(range.len());
        let more = range.len() > take;
        let events = if c.forward() {
            range[..take].to_vec()
        } else {
            range[range.len() - take..].to_vec()
        };
        let status = if more {
            CatchupStatus::Truncated
        } else {
            CatchupStatus::Complete
        };
        (events, end(status))
    }

    fn run(p: &mut Pager<'_>, n: u8, page: u32) -> (Vec<u8>, Option<Ending>) {
        let mut got = Vec::new();
        let ending = read(
            p,
            |ask| Ok::<_, NetError>(serve(n, page, ask)),
            |e| {
                got.push(e.id.0[0]);
                Ok(true)
            },
        )
        .unwrap();
        (got, ending)
    }

    fn topic() -> Name<'static> {
        Name::parse("#t@l").unwrap()
    }

    /// A refusal of the page request, as the server sends for a busy or slow store.
    fn busy() -> NetError {
        NetError::refused(700, "too slow".into())
    }

    #[test]
    fn a_page_refused_after_others_ends_the_read_with_them() {
        // Backward: the pages held so far still come out, oldest first.
        let mut p = Pager::new(topic(), None, Bounds::default(), 25, false);
        let mut asked = 0;
        let mut got = Vec::new();
        let ending = read(
            &mut p,
            |ask| {
                asked += 1;
                if asked == 3 {
                    Err(busy())
                } else {
                    Ok(serve(60, 10, ask))
                }
            },
            |e| {
                got.push(e.id.0[0]);
                Ok(true)
            },
        );
        assert_eq!(ending.unwrap(), Some(Ending::Refused));
        assert_eq!(got, (41..=60).collect::<Vec<u8>>());
        assert!(matches!(p.refused, Some(NetError::Refused { code: 700, .. })));

        // The first page refused is the read's error, as is any error that is no refusal.
        let mut p = Pager::new(topic(), None, Bounds::default(), 25, false);
        let r = read(&mut p, |_| Err::<(Vec<Received>, End), _>(busy()), |_| Ok(true));
        assert!(matches!(r, Err(NetError::Refused { .. })));
        let mut p = Pager::new(topic(), None, Bounds::default(), 25, false);
        let mut asked = 0;
        let r = read(
            &mut p,
            |ask| {
                asked += 1;
                if asked == 2 {
                    Err(NetError::Closed)
                } else {
                    Ok(serve(60, 10, ask))
                }
            },
            |_| Ok(true),
        );
        assert!(matches!(r, Err(NetError::Closed)));
    }

    #[test]
    fn backward_pages_come_out_in_order() {
        let mut p = Pager::new(topic(), None, Bounds::default(), 25, false);
        let (got, ending) = run(&mut p, 60, 10);
        assert_eq!(got, (36..=60).collect::<Vec<u8>>());
        assert_eq!(ending, Some(Ending::More));
        let mut p = Pager::new(topic(), None, Bounds::default(), 100, false);
        let (got, ending) = run(&mut p, 60, 7);
        assert_eq!(got, (1..=60).collect::<Vec<u8>>());
        assert_eq!(ending, Some(Ending::Complete));
    }

    #[test]
    fn forward_pages_and_the_cap() {
        let b = Bounds {
            since: Some(1010),
            ..Bounds::default()
        };
        let mut p = Pager::new(topic(), None, b, 1000, true);
        let (got, ending) = run(&mut p, 60, 7);
        assert_eq!(got, (11..=60).collect::<Vec<u8>>());
        assert_eq!(ending, Some(Ending::Complete));
        let mut p = Pager::new(topic(), None, b, 20, true);
        let (got, ending) = run(&mut p, 60, 7);
        assert_eq!(got.len(), 20);
        assert_eq!(ending, Some(Ending::Capped));
        let mut p = Pager::new(topic(), None, b, 1000, true).max_pages(3);
        let (got, ending) = run(&mut p, 60, 7);
        assert_eq!((got.len(), ending), (21, Some(Ending::Capped)));
    }

    #[test]
    fn an_unknown_anchor_falls_back_to_its_time() {
        let b = Bounds {
            after: Some(MsgId([99; 32])),
            ..Bounds::default()
        };
        let mut p = Pager::new(topic(), None, b, 1000, true).anchor_time(1050);
        let (got, ending) = run(&mut p, 60, 100);
        assert_eq!(got, (51..=60).collect::<Vec<u8>>());
        assert_eq!(ending, Some(Ending::Complete));
        assert!(p.by_time);
        let b = Bounds {
            before: Some(MsgId([99; 32])),
            ..Bounds::default()
        };
        let mut p = Pager::new(topic(), None, b, 5, false);
        assert_eq!(run(&mut p, 60, 100), (vec![], Some(Ending::UnknownId)));
    }

    #[test]
    fn duplicates_unavailable_and_stalls() {
        let mut p = Pager::new(topic(), None, Bounds::default(), 10, false);
        let (fresh, stop) = p.take(vec![ev(1), ev(2)], end(CatchupStatus::Truncated));
        assert_eq!((fresh.len(), stop), (2, None));
        let (fresh, stop) = p.take(vec![ev(1)], end(CatchupStatus::Truncated));
        assert_eq!((fresh.len(), stop), (0, Some(Ending::More)), "no progress: stop");
        let (_, stop) = p.take(vec![], end(CatchupStatus::Unavailable));
        assert_eq!(stop, Some(Ending::Unavailable));
        assert_eq!(p.got, 2);
    }

    #[test]
    fn the_horizon_matters_only_where_the_range_reaches_it() {
        let mut p = Pager::new(topic(), None, Bounds::default(), 10, false);
        p.horizon = Some(500);
        assert_eq!(p.lost_before(Ending::Complete), Some(500));
        assert_eq!(p.lost_before(Ending::More), None);
        let since = |s| Bounds {
            since: Some(s),
            ..Bounds::default()
        };
        let mut p = Pager::new(topic(), None, since(400), 10, true);
        p.horizon = Some(500);
        assert_eq!(p.lost_before(Ending::Complete), Some(500));
        let mut p = Pager::new(topic(), None, since(600), 10, true);
        p.horizon = Some(500);
        assert_eq!(p.lost_before(Ending::Complete), None);
        let mut p = Pager::new(topic(), None, since(500), 10, true);
        p.horizon = Some(500);
        assert_eq!(
            p.lost_before(Ending::Complete),
            None,
            "times after 500 are all kept"
        );
    }

    #[test]
    fn an_anchor_retention_deleted_alone_loses_nothing() {
        // The read goes on from an Event at time 1050 that retention then deleted, and
        // nothing after it: the server's horizon is that Event's time.
        let b = Bounds {
            after: Some(MsgId([99; 32])),
            ..Bounds::default()
        };
        let unknown = End {
            status: CatchupStatus::UnknownId,
            horizon: Some(1050),
        };
        let mut p = Pager::new(topic(), None, b, 1000, true).anchor_time(1050);
        assert_eq!(p.take(vec![], unknown), (vec![], None), "falls back to the time");
        assert_eq!(p.ask().range.since, Some(1050));
        let (got, stop) = p.take(vec![ev(51)], end(CatchupStatus::Complete));
        assert_eq!((got.len(), stop), (1, Some(Ending::Complete)));
        assert_eq!(p.lost_before(Ending::Complete), None);
        // Retention deleted more than the anchor: the Events after it up to 1060 may be gone.
        let mut p = Pager::new(topic(), None, b, 1000, true).anchor_time(1050);
        p.take(
            vec![],
            End {
                horizon: Some(1060),
                ..unknown
            },
        );
        p.take(vec![ev(61)], end(CatchupStatus::Complete));
        assert_eq!(p.lost_before(Ending::Complete), Some(1060));
    }

    #[test]
    fn search_asks_with_the_query() {
        let p = Pager::new(topic(), Some("release notes"), Bounds::default(), 500, false);
        match p.ask().msg(Some(7)) {
            Msg::Search(s) => {
                assert_eq!(
                    (s.query, s.range.count, s.range.seq),
                    ("release notes", PAGE, Some(7))
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
