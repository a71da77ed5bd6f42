//! Bans and mutes with an end (a Mod's `until`): the server lifts them when it comes, as
//! Ergo's and IRC services' timed bans and Twitch's timeouts end by themselves. The record
//! that set one said when it ends (`ban-until PATTERN UNTIL`), so the lifting writes none.

use super::Server;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The ends of the channels' timed bans and mutes, earliest first, each with its channel: one
/// entry per timed Mod, so a ban replaced or lifted before its end leaves one behind, found
/// stale when it comes. Rebuilt from the rooms when it grows past [`Ends::bound`], so that
/// operators re-banning with new ends cannot grow it without limit.
#[derive(Debug)]
pub(super) struct Ends {
    pub(super) heap: BinaryHeap<Reverse<(u64, Box<str>)>>,
    /// Twice the entries the last rebuild found, and at least [`MIN_BOUND`].
    pub(super) bound: usize,
}

/// The fewest entries [`Ends`] holds before a rebuild.
pub(super) const MIN_BOUND: usize = 65_536;

impl Default for Ends {
    fn default() -> Self {
        Ends {
            heap: BinaryHeap::new(),
            bound: MIN_BOUND,
        }
    }
}

impl Server {
    /// Notes that `channel` holds a ban or mute ending at `until`, for
    /// [`expire_sanctions`](Server::expire_sanctions).
    pub(super) fn time_sanction(&mut self, channel: &str, until: u64) {
        self.timed.heap.push(Reverse((until, channel.into())));
        if self.timed.heap.len() > self.timed.bound {
            self.rebuild_ends();
        }
    }

    /// Notes the ends of a restored room's bans and mutes.
    pub(super) fn time_sanctions_of(&mut self, channel: &str) {
        let Some(room) = self.rooms.get(channel) else {
            return;
        };
        let rules = room.rules();
        let ends: Vec<u64> = (rules.bans.iter().chain(rules.mutes()))
            .filter_map(|s| s.until)
            .collect();
        for until in ends {
            self.time_sanction(channel, until);
        }
    }

    /// [`Ends`] anew, from the bans and mutes that hold now: at most 1,000 a room, so this
    /// costs what the rooms hold, once per as many timed Mods as there are live ends.
    fn rebuild_ends(&mut self) {
        let heap: BinaryHeap<_> = (self.rooms.iter())
            .flat_map(|(channel, room)| {
                let rules = room.rules();
                (rules.bans.iter().chain(rules.mutes()))
                    .filter_map(|s| s.until)
                    .map(|t| Reverse((t, Box::from(&**channel))))
                    .collect::<Vec<_>>()
            })
            .collect();
        self.timed.bound = (2 * heap.len()).max(MIN_BOUND);
        self.timed.heap = heap;
    }

    /// Lifts the bans and mutes that have ended by `now_ms`, each channel's when its earliest
    /// end comes (one a later Mod replaced or lifted finds nothing to lift). Called every turn
    /// of the loop (a look at the heap's top), before what the turn reads: a ban holds nothing
    /// after its end.
    pub(super) fn expire_sanctions(&mut self, now_ms: u64) {
        while (self.timed.heap.peek()).is_some_and(|Reverse((t, _))| *t <= now_ms) {
            let Some(Reverse((_, channel))) = self.timed.heap.pop() else {
                break;
            };
            let Some(room) = self.rooms.get_mut(&*channel) else {
                continue;
            };
            let ended = room.lift_ended(now_ms);
            if ended.is_empty() {
                continue;
            }
            room.tidy();
            for (action, s) in &ended {
                log::info!("{channel}: the {} of {} ended", action.label(), s.pattern);
            }
            self.room_changed(&channel);
        }
    }
}
