//! Which part of a channel's history its current life may read. History is kept under the
//! channel's name across its lives, and a channel the server does not keep ends with its last
//! subscriber, modes and all: without more, whoever starts it anew would read what its members
//! said while it was invite-only. So a life that was invite-only or registered-only at any
//! moment puts its Events out of reach when it ends: the channel's history is readable from
//! the position after them on, by every later life (answered as if retention had deleted the
//! rest, as for an account's start).
//!
//! The store keeps, per such channel, that start and whether the current life has been
//! private: a life still private when the server stops (or crashes) is ended at the next start,
//! after everything stored, unless its room is kept and so lives on.

use super::room::Room;
use super::{Outbox, Server};
use crate::proto::modes;
use ciborium::Value;

/// The modes that keep people out, and with them out of the channel's history.
pub const PRIVATE: u64 = modes::INVITE_ONLY | modes::REGISTERED_ONLY;
/// Channels not kept that may be made private while the server remembers this many starts:
/// each is held in memory and read back at every start, so a client making and leaving
/// private channels must not grow that without end. Kept rooms, bounded on their own, and
/// lives that end private are not refused by it.
pub const MAX_LIVES: usize = 65_536;
/// The saved state's key prefix; a channel's name follows it.
const KEY: &str = "!from ";

/// What the server remembers of a channel's past lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Life {
    /// The first position its history may be read from (0: all of it).
    pub from: u64,
    /// Its current life has been invite-only or registered-only at some moment.
    pub private: bool,
}

impl Server {
    /// The first position of `channel`'s history its current life may read, if not all.
    pub(super) fn history_from(&self, channel: &str) -> Option<u64> {
        self.lives.get(channel).map(|l| l.from).filter(|&f| f > 0)
    }

    /// Whether `room` of `channel` may be given `bits`: false only when that makes a room not
    /// kept private while the server already remembers [`MAX_LIVES`] channels' starts.
    pub(super) fn may_set_modes(&self, channel: &str, room: &Room, bits: u64) -> bool {
        bits & PRIVATE == 0
            || room.lasting
            || self.history.is_none()
            || self.lives.len() < MAX_LIVES
            || self.lives.contains_key(channel)
    }

    /// `channel`'s room has (now) modes `bits`: a private life is noted. Saved at once, ahead of
    /// the Events said in it (the writer writes the state saves queued before a batch with
    /// it), so that a crash during the life still ends it at the next start; a save the
    /// store cannot take now is retried at the next tick.
    pub(super) fn modes_set(&mut self, channel: &str, bits: u64, out: &mut impl Outbox) {
        if !self.note_private(channel, bits) {
            return;
        }
        let k = key(channel);
        if !self.life_value(&k).is_some_and(|v| out.save_state(&k, v)) {
            self.mark(&k);
        }
    }

    /// Notes a private life if `bits` make one and it is news.
    fn note_private(&mut self, channel: &str, bits: u64) -> bool {
        if bits & PRIVATE == 0 || self.history.is_none() {
            return false;
        }
        let life = self.lives.entry(channel.into()).or_default();
        !std::mem::replace(&mut life.private, true)
    }

    /// `channel`'s room is gone: if its life was private, what was said in it (and before) is
    /// out of reach from now on.
    pub(super) fn life_ended(&mut self, channel: &str, room: &Room) {
        let Some(next) = self.history.as_ref().map(|h| h.last_pos + 1) else {
            return;
        };
        let private = room.modes & PRIVATE != 0 || self.lives.get(channel).is_some_and(|l| l.private);
        if private {
            self.lives.insert(
                channel.into(),
                Life {
                    from: next,
                    private: false,
                },
            );
            self.mark(&key(channel));
        }
    }

    /// After the rooms are restored: a life that was private when the server stopped ended then,
    /// unless its room is kept; and a start past what the store kept (a crash lost the Events
    /// before it) moves back to the next position, so the channel's new Events count.
    pub(super) fn settle_lives(&mut self) {
        let Some(next) = self.history.as_ref().map(|h| h.last_pos + 1) else {
            return;
        };
        let mut changed = Vec::new();
        for (channel, life) in &mut self.lives {
            let kept = self.rooms.get(&**channel).is_some_and(|r| r.lasting);
            let settled = Life {
                from: if life.private && !kept {
                    next
                } else {
                    life.from.min(next)
                },
                private: life.private && kept,
            };
            if settled != *life {
                *life = settled;
                changed.push(key(channel));
            }
        }
        if !changed.is_empty() {
            log::info!(
                "{} channel(s) closed when the server stopped, or starting past what the store kept: their history starts now",
                changed.len()
            );
        }
        for k in changed {
            self.mark(&k);
        }
        // A kept room saved private before lives were remembered is private now.
        let kept_private: Vec<_> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.modes & PRIVATE != 0)
            .map(|(c, r)| (c.clone(), r.modes))
            .collect();
        for (channel, bits) in kept_private {
            if self.note_private(&channel, bits) {
                self.mark(&key(&channel));
            }
        }
    }

    /// The saved value of a key this module owns (`None`: delete it), or `None` if the key is
    /// not one of its own.
    pub(super) fn life_value(&self, key: &str) -> Option<Option<Vec<u8>>> {
        let channel = key.strip_prefix(KEY)?;
        Some(
            self.lives
                .get(channel)
                .filter(|l| **l != Life::default())
                .map(|l| {
                    let v = Value::Map(vec![
                        (Value::Text("from".into()), Value::Integer(l.from.into())),
                        (Value::Text("private".into()), Value::Bool(l.private)),
                    ]);
                    super::saved::encode(&v)
                }),
        )
    }

    /// Takes back a saved key this module owns; `None` if it is not one, `Some(false)` if its
    /// value is not what this version expects.
    pub(super) fn restore_life(&mut self, key: &str, v: &Value) -> Option<bool> {
        let channel = key.strip_prefix(KEY)?;
        let from = super::saved::uint(v, "from");
        let private = super::saved::field(v, "private").and_then(Value::as_bool);
        let (Some(from), Some(private)) = (from, private) else {
            return Some(false);
        };
        self.lives.insert(channel.into(), Life { from, private });
        Some(true)
    }
}

/// The saved state's key for `channel`'s life.
fn key(channel: &str) -> String {
    format!("{KEY}{channel}")
}
