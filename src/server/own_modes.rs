//! A user's own modes: registered-only, with which a user logged in to an account takes direct
//! messages only from users who logged in (PROTOCOL.md §4, Blocks), as IRC's user mode +R. A
//! block names IDs, and where anyone may take a new name (guests, names without a password)
//! a sender comes back under another, which no pattern covers. Kept with the server's state
//! (`!modes NAME`), so it outlives a restart; forgotten with the account.

use super::{ConnId, Now, Outbox, Server};
use crate::proto::*;
use std::collections::HashSet;

/// The modes a user's ID takes: registered-only alone.
pub const OWN_MODES: u64 = modes::REGISTERED_ONLY;

/// The accounts that take direct messages only from users who logged in: one entry an
/// account at most, so bounded as the accounts are.
#[derive(Debug, Default)]
pub(super) struct OwnModes {
    registered_only: HashSet<Box<str>>,
}

impl OwnModes {
    /// Whether `user` takes direct messages only from users who logged in.
    pub fn registered_only(&self, user: &str) -> bool {
        self.registered_only.contains(user)
    }

    /// `user`'s modes, as its Meta says them.
    pub fn of(&self, user: &str) -> u64 {
        match self.registered_only(user) {
            true => modes::REGISTERED_ONLY,
            false => 0,
        }
    }

    /// Sets `user`'s modes to `bits` (of [`OWN_MODES`]; others are not the user's and are
    /// left out); returns whether they changed.
    pub fn set(&mut self, user: &str, bits: u64) -> bool {
        match bits & modes::REGISTERED_ONLY != 0 {
            true => self.registered_only.insert(user.into()),
            false => self.registered_only.remove(user),
        }
    }

    /// Forgets the modes of the users `gone` says are, returning whose it forgot.
    pub fn forget(&mut self, gone: impl Fn(&str) -> bool) -> Vec<Box<str>> {
        let users: Vec<Box<str>> = self.registered_only.iter().filter(|u| gone(u)).cloned().collect();
        for user in &users {
            self.registered_only.remove(user);
        }
        users
    }
}

impl Server {
    /// SetMeta on a user's own ID: it sets its modes. The record goes to every connection of
    /// the user, the requester's too, then the requester gets the user's Meta; nobody else
    /// learns of it but by a Meta of the user.
    pub(super) fn set_own_modes(&mut self, conn: ConnId, m: SetMeta<'_>, now: &Now, out: &mut impl Outbox) {
        if let Some((code, reason)) = self.refuse_own_modes(conn, &m) {
            return self.fail(conn, m.seq, code, &reason, out);
        }
        let user = m.topic.as_str();
        let Some(bits) = m.modes else {
            return self.meta(conn, m.seq, m.topic, out);
        };
        if !self.own_modes.set(user, bits) {
            return self.meta(conn, m.seq, m.topic, out);
        }
        self.modes_changed(user);
        let text = format!("modes {}", super::meta::mode_letters(bits));
        let (record, own) = self.own_record(m.topic, &text);
        let meta = self
            .meta_of(conn, m.seq, m.topic)
            .map(|meta| Msg::Meta(meta).to_frame());
        match meta {
            Some(Ok(meta)) => self.send_saved_then(record, &own, conn, meta, now.unix_ms, out),
            // A user's Meta is small; were one not to fit, the record is the reply.
            _ => self.send_saved(record, &own, (conn, m.seq), now.unix_ms, out),
        }
    }

    /// Why the SetMeta `m` on a user's ID cannot be made, if it cannot: as a block, and only
    /// its modes, only those of [`OWN_MODES`].
    fn refuse_own_modes(&self, conn: ConnId, m: &SetMeta<'_>) -> Option<(ErrorCode, String)> {
        if let Some(refusal) = self
            .refuse_own(conn, m.topic, "modes")
            .or_else(|| self.refuse_unsaved())
        {
            return Some(refusal);
        }
        if m.display.is_some() || m.subject.is_some() || m.rate.is_some() || m.join_rate.is_some() {
            let reason = "a user ID has no display name, subject or rates; only modes (+r)";
            return Some((ErrorCode::NotSubscribable, reason.into()));
        }
        if m.modes.is_some_and(|b| b & !OWN_MODES != 0) {
            let reason = "a user ID takes one mode: 4 (registered-only: direct messages only from users \
                          who logged in)";
            return Some((ErrorCode::Malformed, reason.into()));
        }
        None
    }

    /// Why `conn` may not send a direct message to `user` (nor tell it an invitation), if
    /// `user` takes them only from users who logged in and the session did not. Its own
    /// sessions are never refused.
    pub(super) fn unproven(&self, conn: ConnId, user: Name<'_>) -> Option<(ErrorCode, String)> {
        let s = self.session(conn)?;
        let refused = !s.logged_in
            && s.user.as_deref() != Some(user.as_str())
            && self.own_modes.registered_only(user.as_str());
        refused.then(|| {
            let reason = format!("{user} takes direct messages only from users who logged in");
            (ErrorCode::RegisteredOnly, reason)
        })
    }
}
