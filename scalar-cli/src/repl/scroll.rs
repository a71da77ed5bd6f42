//! `/history`, `/search` and `/more`: reading the current topic's past backward, a page of N
//! at a time, then showing it oldest first with a note on how the read ended; or, for
//! `/history since`, forward from a time, a page at a time.
//!
//! In a conversation view (`/msg bob`) the topic is bob's ID, which the server reads as the
//! conversation with bob, both ways (PROTOCOL.md §4).

use super::shared::{Scroll, Shared, Shown};
use crate::event::Received;
use crate::names;
use crate::paging::{self, Bounds, Ending, Pager};
use crate::readnote::{self, Read};
use scalar::proto::Name;

/// How many matches `/search` shows per read.
const SEARCH_COUNT: u32 = 50;

/// `/history [N]`: the newest N messages.
pub fn history(shared: &Shared, count: u32, topic: &str) -> Result<(), String> {
    let scroll = Scroll {
        topic: topic.to_string(),
        query: None,
        count,
        mark: None,
        forward: false,
    };
    read(shared, scroll, None, false)
}

/// `/history since WHEN`: the first N messages after `since` (ms), for someone back after
/// longer than a join catches up on (found by the team lead's trial: "/history reads it"
/// read backward from the newest only).
pub fn since(shared: &Shared, count: u32, topic: &str, since: u64) -> Result<(), String> {
    let scroll = Scroll {
        topic: topic.to_string(),
        query: None,
        count,
        mark: None,
        forward: true,
    };
    read(shared, scroll, Some(since), false)
}

/// `/search WORDS`: the newest matches.
pub fn search(shared: &Shared, query: &str, topic: &str) -> Result<(), String> {
    if let Some(why) = paging::refuse_query(query) {
        return Err(why);
    }
    let scroll = Scroll {
        topic: topic.to_string(),
        query: Some(query.to_string()),
        count: SEARCH_COUNT,
        mark: None,
        forward: false,
    };
    read(shared, scroll, None, false)
}

/// `/more`: the page before the oldest message the last `/history` or `/search` of this topic
/// showed, or after the newest one `/history since` showed.
pub fn more(shared: &Shared, topic: &str) -> Result<(), String> {
    let (scroll, shown) = {
        let st = shared.state();
        let shown = names::history_of(topic, &st.user, &st.domain);
        (st.scroll.clone().filter(|s| s.topic == topic), shown)
    };
    let Some(scroll) = scroll else {
        return Err(format!(
            "nothing to go on with in {shown}: /more goes on from the last /history or /search, \
             which was not in {shown} or got nothing from the server"
        ));
    };
    if scroll.mark.is_none() {
        let what = if scroll.query.is_some() {
            "matches"
        } else {
            "messages"
        };
        let reached = match scroll.forward {
            true => format!("no newer {what} in {shown}: the last read reached the newest"),
            false => format!("no older {what} in {shown}: the last read reached the start"),
        };
        shared.screen.info(reached);
        return Ok(());
    }
    read(shared, scroll, None, true)
}

/// Reads one page of N from `scroll.mark` (backward, or forward for a read since a time; the
/// first page from the newest, or from `since`), shows it, says how it ended and remembers
/// where `/more` goes on.
fn read(shared: &Shared, scroll: Scroll, since: Option<u64>, continued: bool) -> Result<(), String> {
    let name = Name::parse(&scroll.topic).map_err(|e| format!("{}: {e}", scroll.topic))?;
    let mark = scroll.mark.map(|(id, _)| id);
    let bounds = match scroll.forward {
        true => Bounds {
            since,
            after: mark,
            ..Bounds::default()
        },
        false => Bounds {
            before: mark,
            ..Bounds::default()
        },
    };
    let mut pager = Pager::new(name, scroll.query.as_deref(), bounds, scroll.count, false);
    if let Some((_, time)) = scroll.mark {
        pager = pager.anchor_time(time);
    }
    let what = if scroll.query.is_some() {
        "search"
    } else {
        "history"
    };
    let mut got: Vec<Received> = Vec::new();
    let ending = paging::read(
        &mut pager,
        |ask| shared.replay(ask),
        |e| {
            got.push(e);
            Ok(true)
        },
    )
    .map_err(|e| format!("{what}: {e}"))?
    .unwrap_or(Ending::Complete);
    let how = match scroll.query {
        Some(_) => Shown::Found,
        None => Shown::Read,
    };
    shared.show_events(&got, how);
    let (me, domain) = {
        let st = shared.state();
        (st.user.clone(), st.domain.clone())
    };
    let shown = names::history_of(&scroll.topic, &me, &domain);
    let r = Read {
        topic: &shown,
        query: scroll.query.as_deref(),
        hint: "/more shows them",
        continued,
        confirm: true,
        quiet_if_none: false,
    };
    for n in readnote::notes(&pager, ending, &r) {
        shared.screen.info(n);
    }
    super::ignore::say_hidden(shared, &got);
    if let Some(e) = &pager.refused {
        shared.screen.error(format!("{what}: {e}"));
    }
    // Only a read that stopped short of the start (or the newest) can go on; one that reached
    // it says so on `/more`; one that got nothing from the server leaves nothing to go on with.
    let edge = match scroll.forward {
        true => got.last(),
        false => got.first(),
    };
    let next = match ending {
        Ending::More | Ending::Capped | Ending::Refused => Some(edge.map(|e| (e.id, e.time))),
        Ending::Complete => Some(None),
        Ending::Unavailable | Ending::UnknownId => None,
    };
    shared.state().scroll = next.map(|mark| Scroll { mark, ..scroll });
    Ok(())
}
