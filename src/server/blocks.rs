//! Blocks: a user logged in to an account of this server refuses direct messages, and being
//! watched, from the IDs it names, with Mod ban and unban on its own ID topic (PROTOCOL.md §4,
//! Blocks). Away inboxes keep what anyone sends, so without them a user could not refuse one
//! sender. Kept with the server's state, so they outlive a restart. (What patterns cannot
//! name, the IDs nobody proved, a user refuses with its own mode: `own_modes`.)

use super::per_account::PerAccount;
use super::presence::Unstored;
use super::{ConnId, MOD_CTYPE, Now, Outbox, Server};
use crate::proto::pattern;
use crate::proto::*;

/// Blocks one account may hold: IRC servers bound their SILENCE lists to a few dozen; a pattern
/// (`*@spam.example`) covers a whole domain. Bounds what one account makes the server keep.
pub const MAX_BLOCKS: usize = 100;

/// Blocks the server takes in all: accounts may be many (open registration), and every block
/// is held in memory and read back at start (about 40 MB of patterns at most).
pub const MAX_ALL_BLOCKS: usize = 262_144;
/// Blocks an account may still make when the server holds [`MAX_ALL_BLOCKS`]: accounts that
/// fill the server's bound must not leave the users they harass without any.
pub const FLOOR_BLOCKS: usize = 10;

/// Whether a block of `pattern` by `user` holds `sender`: by the pattern, or, for the exact ID
/// of one of this server's guests, the later guests of its address (their IDs carry its mark:
/// `guest`), as a channel's ban does. `user` has an account here: its domain is the server's.
fn holds(pattern: &str, sender: &str, user: &str) -> bool {
    let here = user.rsplit_once('@').map_or("", |(_, d)| d);
    pattern::matches(pattern, sender) || super::guest::same_address(pattern, sender, here)
}

/// Each account's blocks: ID patterns, sorted bytewise (the order Targets lists them in).
#[derive(Debug, Default)]
pub(super) struct Blocks {
    lists: PerAccount<Box<str>>,
    /// The log said the server's bound was reached (once, until it is left again).
    told_full: bool,
}

/// Why a block cannot be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Full {
    /// The account holds [`MAX_BLOCKS`].
    Account,
    /// The server holds [`MAX_ALL_BLOCKS`].
    Server,
}

impl Blocks {
    /// `user`'s blocks.
    pub fn of(&self, user: &str) -> &[Box<str>] {
        self.lists.of(user)
    }

    /// Whether `user` blocks `sender` (never itself).
    pub fn blocks(&self, user: &str, sender: &str) -> bool {
        user != sender && self.of(user).iter().any(|p| holds(p, sender, user))
    }

    /// Adds `pattern` to `user`'s blocks, unless a bound is reached. Blocking what is blocked
    /// changes nothing and is no failure.
    fn add(&mut self, user: &str, pattern: &str) -> Result<(), Full> {
        let server_full = self.lists.total >= MAX_ALL_BLOCKS;
        self.lists.edit(user, |list| {
            let Err(i) = list.binary_search_by(|p| (**p).cmp(pattern)) else {
                return Ok(());
            };
            if list.len() >= MAX_BLOCKS {
                return Err(Full::Account);
            }
            if server_full && list.len() >= FLOOR_BLOCKS {
                return Err(Full::Server);
            }
            list.insert(i, pattern.into());
            Ok(())
        })
    }

    /// Removes `pattern` from `user`'s blocks; false if it was not there.
    fn remove(&mut self, user: &str, pattern: &str) -> bool {
        let removed = self.lists.edit(user, |list| {
            list.binary_search_by(|p| (**p).cmp(pattern))
                .map(|i| list.remove(i))
                .is_ok()
        });
        self.told_full &= self.lists.total >= MAX_ALL_BLOCKS;
        removed
    }

    /// Sets `user`'s blocks, as saved (a restart). Only the account's bound applies: what was
    /// taken stays (the server's bound may be passed for a while, by blocks of accounts
    /// deleted while it was down, which are forgotten once the account list is in).
    /// Returns whether it dropped any (not patterns, repeated, or past the bound).
    pub fn restore(&mut self, user: &str, mut patterns: Vec<Box<str>>) -> bool {
        let cut = super::saved::bound_list(&mut patterns, pattern::is_pattern, MAX_BLOCKS);
        self.lists.replace(user, patterns);
        cut
    }

    /// Forgets the blocks of the users `gone` says are, returning whose it forgot.
    pub fn forget(&mut self, gone: impl Fn(&str) -> bool) -> Vec<Box<str>> {
        let users = self.lists.forget(gone);
        self.told_full &= self.lists.total >= MAX_ALL_BLOCKS;
        users
    }
}

/// What a sender `user` blocks is told.
fn refused_by(user: &str) -> String {
    format!("{user} does not take messages from you")
}

impl Server {
    /// Mod on a user's ID topic: the user blocks or unblocks an ID pattern. The reply is the
    /// record, an Event on its topic that its other connections get too (so every client of
    /// the user knows); it is not stored, and nobody else gets it.
    pub(super) fn moderate_own(&mut self, conn: ConnId, m: Mod<'_>, now: &Now, out: &mut impl Outbox) {
        if let Some((code, reason)) = self.refuse_block(conn, &m) {
            return self.fail(conn, m.seq, code, &reason, out);
        }
        let user = m.topic.as_str();
        match m.action {
            Action::Ban => {
                if let Err(full) = self.blocks.add(user, m.target) {
                    let reason = match full {
                        Full::Account => format!("you block {MAX_BLOCKS} patterns already"),
                        Full::Server => {
                            if !std::mem::replace(&mut self.blocks.told_full, true) {
                                log::warn!(
                                    "blocks: the server holds {MAX_ALL_BLOCKS}; accounts with \
                                     {FLOOR_BLOCKS} or more get no more"
                                );
                            }
                            "the server keeps as many blocks as it can".into()
                        }
                    };
                    return self.fail(conn, m.seq, ErrorCode::ListFull, &reason, out);
                }
                self.unwatch_blocked(user, m.target, out);
            }
            _ => {
                if !self.blocks.remove(user, m.target) {
                    let reason = format!("you do not block {}: nothing to undo", m.target);
                    return self.fail(conn, m.seq, ErrorCode::NoSuchUser, &reason, out);
                }
            }
        }
        self.blocks_changed(user);
        let text = super::moderation::record_text(&m);
        let (record, own) = self.own_record(m.topic, &text);
        self.send_saved(record, &own, (conn, m.seq), now.unix_ms, out);
    }

    /// The record `text` of a change a user made to its own ID (a block, its modes), from it
    /// on its ID topic, and the connections that get it: the user's own, nobody else's.
    pub(super) fn own_record<'a>(
        &self,
        user: Name<'a>,
        text: &'a str,
    ) -> (Unstored<'a>, super::channels::Conns) {
        let record = Unstored {
            from: user,
            topic: user,
            text,
            ctype: Some(MOD_CTYPE),
        };
        let own = self
            .users
            .get(user.as_str())
            .map(|a| a.conns.clone())
            .unwrap_or_default();
        (record, own)
    }

    /// Why `conn` may not change or see `what` of `user` (its blocks, its modes), if it may
    /// not: only a session of `user` itself that logged in to its account here.
    pub(super) fn refuse_own(&self, conn: ConnId, user: Name<'_>, what: &str) -> Option<(ErrorCode, String)> {
        if let Some(refusal) = self.foreign_own(conn, user, what) {
            return Some(refusal);
        }
        let s = self.session(conn)?;
        if s.user.as_deref() != Some(user.as_str()) {
            return Some((ErrorCode::NotOperator, format!("only {user} has its {what}")));
        }
        if !s.authenticated {
            let reason = format!("only a session logged in to an account here keeps {what}");
            return Some((ErrorCode::RegisteredOnly, reason));
        }
        None
    }

    /// Why the block `m` asks for cannot be made, if it cannot.
    fn refuse_block(&self, conn: ConnId, m: &Mod<'_>) -> Option<(ErrorCode, String)> {
        if let Some(refusal) = self
            .refuse_own(conn, m.topic, "blocks")
            .or_else(|| self.refuse_unsaved())
        {
            return Some(refusal);
        }
        if !matches!(m.action, Action::Ban | Action::Unban) {
            let reason = format!("{} is for channels; you block and unblock", m.action.label());
            return Some((ErrorCode::BadId, reason));
        }
        if !pattern::is_pattern(m.target) {
            return Some((ErrorCode::BadId, super::moderation::not_a_pattern(m.target)));
        }
        if m.target == m.topic.as_str() {
            return Some((ErrorCode::BadId, "you cannot block yourself".into()));
        }
        None
    }

    /// Why `conn` may not send a direct message to `user`, or watch it, if `user` blocks it.
    pub(super) fn blocked(&self, conn: ConnId, user: Name<'_>) -> Option<(ErrorCode, String)> {
        let sender = self.session(conn)?.user.as_deref()?;
        self.blocks
            .blocks(user.as_str(), sender)
            .then(|| (ErrorCode::Banned, refused_by(user.as_str())))
    }

    /// Stops the connections of IDs `pattern` matches from watching `user`, who just blocked
    /// them: each gets `kicked` (803) on `user`'s topic, as a channel's ban removes.
    fn unwatch_blocked(&mut self, user: &str, pattern: &str, out: &mut impl Outbox) {
        let Ok(topic) = Name::parse(user) else { return };
        let watchers = self.watchers.get(user).cloned().unwrap_or_default();
        let hit = |c: &ConnId| {
            self.session(*c)
                .and_then(|s| s.user.as_deref())
                .is_some_and(|u| u != user && holds(pattern, u, user))
        };
        let blocked: Vec<ConnId> = watchers.into_iter().filter(hit).collect();
        let reason = refused_by(user);
        for c in blocked {
            self.unwatch(c, user);
            self.send_kicked(c, topic, &reason, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_in_all_follows_adds_removals_restores_and_forgets() {
        let mut b = Blocks::default();
        assert_eq!(b.add("a@x", "m@x"), Ok(()));
        assert_eq!(b.add("a@x", "m@x"), Ok(()), "again: no change");
        assert_eq!(b.add("a@x", "*@spam.x"), Ok(()));
        assert_eq!(b.of("a@x").len(), 2);
        b.restore("b@x", vec!["m@x".into(), "m@x".into(), "Not A Pattern".into()]);
        assert_eq!(b.lists.total, 3);
        b.restore("b@x", vec!["n@x".into()]);
        assert_eq!(b.lists.total, 3, "a restore replaces");
        assert!(b.remove("a@x", "m@x") && !b.remove("a@x", "m@x"));
        assert_eq!(b.forget(|u| u == "a@x"), [Box::from("a@x")]);
        assert_eq!(b.lists.total, 1);
        for i in 0..MAX_BLOCKS {
            assert_eq!(b.add("c@x", &format!("u{i}@x")), Ok(()));
        }
        assert_eq!(b.add("c@x", "v@x"), Err(Full::Account));
        b.lists.total = MAX_ALL_BLOCKS;
        for i in 0..FLOOR_BLOCKS {
            assert_eq!(b.add("d@x", &format!("v{i}@x")), Ok(()), "an account's first few");
        }
        assert_eq!(b.add("d@x", "w@x"), Err(Full::Server));
        // A restore keeps what was taken, past the server's bound too.
        b.restore("e@x", vec!["a@x".into(), "b@x".into()]);
        assert_eq!(b.of("e@x").len(), 2);
        assert!(b.blocks("c@x", "u7@x") && !b.blocks("c@x", "c@x"));
    }
}
