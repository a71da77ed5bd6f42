//! "Since you left": a channel joined again shows what was said there since this user last
//! left it on this machine (by `/quit`, `/part`, or a closed terminal), under a marker line, as
//! a reconnect does for a drop. Found by QA: an IRC user back from lunch saw nothing of what
//! was said (a line naming them among it), although the server keeps history; an IRC bouncer
//! would have played it back.
//!
//! Where each channel was left ([`State::leaving_mark`]: the last message seen there, or
//! where a gap not yet filled began) is held in memory for the run ([`State::left`]) and
//! written at its end to [`crate::marks`] ([`Book::Channels`]). Only for [`MAX_AWAY_MS`]:
//! after a longer absence the join says that `/history` reads back, rather than pouring out
//! the oldest of a long gap.
//!
//! [`State::leaving_mark`]: super::shared::State::leaving_mark
//! [`State::left`]: super::shared::State::left

use super::catchup;
use super::gaps::{self, Start};
use super::shared::Shared;
use crate::marks::{self, Book, Mark};
use crate::names;
use crate::paging::Ending;
use crate::timefmt::{local_datetime, local_hms, now_ms};
use scalar::proto::Name;

/// How long after leaving a channel a join still catches up on it.
const MAX_AWAY_MS: u64 = 24 * 3600 * 1000;

/// Records where this user leaves every channel: those joined now, and those left in this
/// run. At the end of a run (a channel where nothing was seen keeps the mark it had).
pub fn keep_all(shared: &Shared) {
    let marks: Vec<(String, Mark)> = {
        let mut st = shared.state();
        let mut marks: Vec<(String, Mark)> = std::mem::take(&mut st.left_marks).into_iter().collect();
        marks.extend(
            st.subs
                .iter()
                .filter_map(|c| Some((c.clone(), st.leaving_mark(c)?))),
        );
        marks
            .into_iter()
            .map(|(c, m)| (marks::topic_key(&st.user, &c), m))
            .collect()
    };
    if marks.is_empty() {
        return;
    }
    if let Err(why) = marks::save_all(Book::Channels, &marks) {
        shared
            .screen
            .error(format!("{why}: the next /join cannot show what was said since"));
    }
}

/// At a join of `topic` where nothing was seen in this run before it (`unread`, asked before
/// the Sub, as a live message that comes right after it would count as seen): shows what
/// was said there since this user last left it, if within [`MAX_AWAY_MS`]. Best effort: a
/// failed read says so in one line and leaves the channel as a join without a mark would.
pub fn show(shared: &Shared, topic: Name<'_>, unread: bool) {
    let (held, key, short) = {
        let mut st = shared.state();
        // Left in this run (a /part, a kick): that mark is the newer.
        let held = st.left_marks.remove(topic.as_str());
        if !unread && held.is_none() {
            return;
        }
        let short = names::short(topic.as_str(), &st.domain).to_string();
        (held, marks::topic_key(&st.user, topic.as_str()), short)
    };
    let mark = held
        .or_else(|| marks::load(Book::Channels, &key).0)
        .and_then(|m| Some((m.last?, m.left_at)));
    // Where another device of the user stopped reading (the server's marker), when that is
    // later than what this machine showed: only what came after it is news.
    let read = super::read::marker(shared, topic).filter(|&r| mark.is_none_or(|((_, shown), _)| r > shown));
    let (start, mut pager, lead, away) = match (read, mark) {
        (Some(r), _) => {
            let start = Start {
                last: None,
                lost_at: r,
            };
            // The marker is the time of the newest message read, not of the reading (found in
            // review: "you read it over a day ago" of a quiet channel read minutes before).
            (
                start,
                gaps::pager_since(topic, r),
                format!(
                    "after the newest message you read on another device ({}): ",
                    local_hms(r)
                ),
                format!("the newest message you read in {short}, on another device, is from"),
            )
        }
        (None, Some((last, left_at))) => {
            let start = Start {
                last: Some(last),
                lost_at: left_at,
            };
            (
                start,
                gaps::pager(topic, start, None),
                format!("since you left at {}: ", local_hms(left_at)),
                format!("you left {short}"),
            )
        }
        (None, None) => return,
    };
    if now_ms().saturating_sub(start.lost_at) > MAX_AWAY_MS {
        // To the minute, as /history since takes it (the seconds would read as a time of day).
        let left = local_datetime(start.lost_at);
        let left = left.get(..16).unwrap_or(&left);
        shared.screen.info(format!(
            "{away} over a day ago: /history since {left} reads what was said there since"
        ));
        return;
    }
    match catchup::read(topic.as_str(), start, &mut pager, |ask| shared.replay(ask)) {
        // A server that keeps no history: nothing to say at each join (found in review: it
        // said "nothing missed").
        Ok(caught) if caught.ending() == Ending::Unavailable => {}
        Ok(caught) => {
            if let Some(name) = catchup::show_caught(shared, caught, &lead) {
                shared.screen.info(format!("{lead}nothing missed in {name}"));
            }
        }
        Err(e) => shared.screen.error(format!(
            "{lead}what was said in {short} could not be read ({e}): /history reads it"
        )),
    }
}
