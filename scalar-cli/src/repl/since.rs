//! "Since you left": a channel joined again shows what was said there since this user last
//! left it on this machine (by `/quit`, `/part`, or a closed terminal), under a marker line, as
//! a reconnect does for a drop. Found by QA: an IRC user back from lunch saw nothing of what
//! was said (a line naming them among it), although the server keeps history; an IRC bouncer
//! would have played it back.
//!
//! Where each channel was left is kept in [`crate::marks`] ([`Book::Channels`]): the last
//! message seen there. Only for [`MAX_AWAY_MS`]: after a longer absence the join says that
//! `/history` reads back, rather than pouring out the oldest of a long gap.

use super::catchup;
use super::gaps::{self, Start};
use super::shared::Shared;
use crate::marks::{self, Book, Mark};
use crate::names;
use crate::timefmt::{local_hms, now_ms};
use scalar::proto::Name;

/// How long after leaving a channel a join still catches up on it.
const MAX_AWAY_MS: u64 = 24 * 3600 * 1000;

/// Records where this user leaves `channels`: the last message seen in each (a channel where
/// none was seen keeps the mark it had).
pub fn keep(shared: &Shared, channels: &[String]) {
    let marks: Vec<(String, Mark)> = {
        let st = shared.state();
        let left_at = now_ms();
        channels
            .iter()
            .filter_map(|c| {
                let last = *st.last.get(c)?;
                let mark = Mark {
                    left_at,
                    last: Some(last),
                };
                Some((marks::channel_key(&st.user, c), mark))
            })
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

/// Records where this user leaves every joined channel: at the end of a run.
pub fn keep_all(shared: &Shared) {
    let subs = shared.state().subs.clone();
    keep(shared, &subs);
}

/// At a join of `topic` where nothing was seen yet in this run: shows what was said there
/// since this user last left it, if within [`MAX_AWAY_MS`]. Best effort: a failed read says
/// so in one line and leaves the channel as a join without a mark would.
pub fn show(shared: &Shared, topic: Name<'_>) {
    let (key, short) = {
        let st = shared.state();
        if st.last.contains_key(topic.as_str()) || st.unfilled.contains_key(topic.as_str()) {
            return;
        }
        let short = names::short(topic.as_str(), &st.domain).to_string();
        (marks::channel_key(&st.user, topic.as_str()), short)
    };
    let Some(mark) = marks::load(Book::Channels, &key).0 else {
        return;
    };
    let Some(last) = mark.last else { return };
    if now_ms().saturating_sub(mark.left_at) > MAX_AWAY_MS {
        shared.screen.info(format!(
            "you left {short} over a day ago: /history reads what was said there since"
        ));
        return;
    }
    let start = Start {
        last: Some(last),
        lost_at: mark.left_at,
    };
    let mut pager = gaps::pager(topic, start, None);
    let lead = format!("since you left at {}: ", local_hms(mark.left_at));
    match catchup::read(topic.as_str(), start, &mut pager, |ask| shared.replay(ask)) {
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
