//! What outlives a restart when there is a store: the rooms of channels whose owner logged in,
//! the server bans admins set, and the message of the day. Each is one key whose whole value
//! (a CBOR map with text keys, so fields can be added without a migration) is saved again
//! whenever it changes; the keys to save wait in a set and are handed to the store on the next
//! tick, and again later if its queue was full, so a change is never dropped.

use super::admin::MAX_SERVER_BANS;
use super::admin::{Motd, ServerBan};
use super::own_modes::OWN_MODES;
use super::room::{Listed, MAX_LIST, Room, Sanction};
use super::{Outbox, Server};
use crate::proto::{Kind, MAX_BODY, MAX_DISPLAY, MAX_REASON, MAX_SUBJECT, Name, SearchText, clip, pattern};
use ciborium::Value;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// The key of the server bans set with Mod (`scalard ban` reads and edits it offline).
pub const BANS: &str = "!server";
/// The key of the reasons admins gave for the server bans under [`BANS`]: a map from the ban
/// as written to its reason. A key of its own, so that a version that does not know it still
/// reads the bans.
pub const BAN_REASONS: &str = "!server reasons";
/// The key of who set each server ban and when: a CBOR map from each ban to `[ID, unix ms]`.
/// Apart from the reasons, so that an older scalard still reads those.
pub const BAN_SETTERS: &str = "!server setters";

/// Who set each server ban (an admin's ID) and when (unix ms), by the ban as written.
pub type BanSetters = HashMap<Box<str>, (Rc<str>, u64)>;
/// The key of the message of the day set with a Message to `!motd@`.
const MOTD: &str = "!motd";
/// The key of the secret of guest IDs' address marks (`guest`): a CBOR map `{"key": 32
/// bytes}`. Kept so that a ban of a guest ID holds its address's guests after a restart too.
pub const GUEST_KEY: &str = "!guest key";
/// The key prefix (an account's name and when it was made follow) that `scalard account del`
/// leaves beside the deletion: a server that was stopped then learns of it at its next start,
/// even if the name has become an account again since (deleted and added while it was down),
/// and forgets what the old account held. The server deletes the key once it has. One key a
/// deleted account, not one a name: the server removes only marks it has read, never one
/// `account del` wrote for the name's next account meanwhile.
pub const DELETED: &str = "!deleted ";

/// The state key marking `account`, made at `created` (Unix ms), as deleted (see [`DELETED`]).
pub fn deleted_key(account: &str, created: u64) -> String {
    format!("{DELETED}{account} {created}")
}

/// The account a [`DELETED`] key marks. Versions before the key named the account's creation
/// wrote the name alone; IDs hold no spaces, so both read.
pub fn deleted_name(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(DELETED)?;
    Some(rest.split_once(' ').map_or(rest, |(name, _)| name))
}

/// The key prefix (an account's name follows) of an account's blocks: a CBOR array of the ID
/// patterns it blocks (see `blocks`). No key for an account that blocks nobody.
pub const BLOCKS: &str = "!blocks ";

/// The key prefix (an account's name follows) of an account's own modes: a CBOR uint, the
/// bits of its ID's modes (only registered-only, 4). No key for an account without any.
pub const MODES: &str = "!modes ";
/// The key prefix (an account's name follows) of an account's read markers: a CBOR array of
/// `[topic, time]` pairs, the one set longest ago first (see `markers`). No key for an account
/// without any.
pub const READ: &str = "!read ";

/// The value of a [`DELETED`] key for the account made at `created` (Unix ms): a CBOR map
/// `{"created": ms}`. A server that learned of the next account of the name already (at a
/// login, before its next look at the list) has closed the deleted one's sessions then, and
/// must not take the mark for a deletion of the account it holds now.
pub fn deleted_value(created: u64) -> Vec<u8> {
    encode(&Value::Map(vec![(text("created"), created.into())]))
}

/// When the account a [`DELETED`] value marks was made; `None` for a mark that does not
/// say (versions before this field left an empty map), which is taken for any account of
/// the name.
pub fn deleted_created(value: &[u8]) -> Option<u64> {
    uint(&ciborium::from_reader::<Value, _>(value).ok()?, "created")
}

/// Channels one account may own that outlive their last subscriber: a bound on what one
/// account can make the server remember.
pub const MAX_LASTING_ROOMS: usize = 64;
/// Channels the server keeps in all: accounts may be many (open registration), and every kept
/// room is held in memory, looked at each tick and read back at start.
pub const MAX_KEPT_ROOMS: usize = 65_536;

impl Server {
    /// Marks a key to be saved at the next tick (only with a store).
    pub(super) fn mark(&mut self, key: &str) {
        if self.history.is_some() {
            self.unsaved.insert(key.into());
        }
    }

    /// Removes the [`DELETED`] mark under `key` from the store at the next save: the server
    /// has acted on it.
    pub(super) fn unmark_deleted(&mut self, key: &str) {
        self.mark(key);
    }

    /// `user`'s blocks changed.
    pub(super) fn blocks_changed(&mut self, user: &str) {
        self.mark(&format!("{BLOCKS}{user}"));
    }

    /// `user`'s own modes changed.
    pub(super) fn modes_changed(&mut self, user: &str) {
        self.mark(&format!("{MODES}{user}"));
    }

    /// `user`'s read markers were forgotten: saved at once, not when moves are
    /// (`markers::SAVED_EVERY`), so that the store holds none of a deleted account's once its
    /// `!deleted` mark is gone.
    pub(super) fn markers_forgotten(&mut self, user: &str) {
        self.mark(&format!("{READ}{user}"));
    }

    /// A lasting room changed (or was created).
    pub(super) fn room_changed(&mut self, channel: &str) {
        if self.rooms.get(channel).is_some_and(|r| r.lasting) {
            self.mark(channel);
        }
    }

    /// The server bans set with Mod changed.
    pub(super) fn bans_changed(&mut self) {
        self.mark(BANS);
        self.mark(BAN_REASONS);
        self.mark(BAN_SETTERS);
    }

    /// The message of the day changed.
    pub(super) fn motd_changed(&mut self) {
        self.mark(MOTD);
    }

    /// Whether `owner` may own one more lasting room.
    pub(super) fn may_own_lasting(&self, owner: &str) -> bool {
        self.kept.len() < MAX_KEPT_ROOMS && self.may_take_lasting(owner)
    }

    /// Why `owner` may not own one more lasting room ([`Server::may_own_lasting`]), in words.
    pub(super) fn why_not_lasting(&self, owner: &str) -> String {
        match self.kept.len() < MAX_KEPT_ROOMS {
            true => format!("{owner} owns {MAX_LASTING_ROOMS} kept channels already"),
            false => format!("the server keeps {MAX_KEPT_ROOMS} channels already"),
        }
    }

    /// Whether `owner` may be given one more lasting room (by a transfer: the total stays).
    pub(super) fn may_take_lasting(&self, owner: &str) -> bool {
        self.lasting_of(owner).len() < MAX_LASTING_ROOMS
    }

    /// The lasting rooms `owner` owns (at most [`MAX_LASTING_ROOMS`]).
    pub(super) fn lasting_of(&self, owner: &str) -> &[Box<str>] {
        self.lasting_owned
            .get(owner)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The lasting room `channel` of `from` now belongs to `to`, or (`None`) is no longer
    /// lasting.
    pub(super) fn lasting_handed_over(&mut self, channel: &str, from: &str, to: Option<&str>) {
        if let Some(owned) = self.lasting_owned.get_mut(from) {
            owned.retain(|c| &**c != channel);
            if owned.is_empty() {
                self.lasting_owned.remove(from);
            }
        }
        if let Some(to) = to {
            self.lasting_owned
                .entry(to.into())
                .or_default()
                .push(channel.into());
        }
    }

    /// Stops keeping `channel`'s room (a drop, its owner's account gone, unused too long): it
    /// ends with its last subscriber, no longer counts against its owner, and its saved state
    /// is deleted at the next tick. Nothing if it was not kept.
    pub(super) fn unkeep(&mut self, channel: &str) {
        let Some(room) = self.rooms.get_mut(channel).filter(|r| r.lasting) else {
            return;
        };
        room.lasting = false;
        let owner = room.owner.clone();
        self.kept.remove(channel);
        self.lasting_handed_over(channel, &owner, None);
        self.mark(channel);
    }

    /// Forgets the accounts of this server that are gone (the operator deleted them), so that
    /// whoever takes or registers such a name later finds nothing of theirs: in kept rooms
    /// every name of this server without an account (which could hold nothing there; at start,
    /// an account deleted while the server was down), elsewhere the accounts just `deleted`.
    /// Their rooms are kept no more and have no owner; their roles, invitations and exceptions are
    /// withdrawn (bans and mutes stay).
    pub(super) fn forget_deleted_accounts(&mut self, deleted: &HashSet<Box<str>>) {
        if !self.accounts.available {
            return;
        }
        // Only an account blocks: a name without one (deleted while the server was down)
        // blocks nobody any more.
        let names = &self.accounts.names;
        let gone = |user: &str| deleted.contains(user) || !names.contains_key(user);
        let (blocked, moded) = (self.blocks.forget(gone), self.own_modes.forget(gone));
        let marked = self.read_markers.forget(gone);
        for user in blocked {
            self.blocks_changed(&user);
        }
        for user in moded {
            self.modes_changed(&user);
        }
        for user in marked {
            self.markers_forgotten(&user);
        }
        let (accounts, domain) = (&self.accounts.names, &*self.domain);
        let local = |user: &str| user.rsplit_once('@').is_some_and(|(_, d)| d == domain);
        let mut orphaned = Vec::new();
        let mut changed = Vec::new();
        for (channel, room) in self.rooms.iter_mut() {
            let kept = room.lasting;
            // An invitation's or exception's pattern names no one account (and no account
            // could be deleted from under it).
            let gone = |user: &str| {
                !user.contains('*')
                    && (deleted.contains(user) || (kept && local(user) && !accounts.contains_key(user)))
            };
            if gone(&room.owner) {
                orphaned.push((channel.clone(), room.owner.clone()));
            }
            let r = room.rules();
            let ids = [&r.ops, &r.voiced].into_iter().flatten().map(|u| &**u);
            let listed = [&r.invited, &r.excepts]
                .into_iter()
                .flatten()
                .map(|l| &*l.pattern);
            if ids.chain(listed).any(gone) {
                let r = room.rules_mut();
                for list in [&mut r.ops, &mut r.voiced] {
                    list.retain(|u| !gone(u));
                }
                for list in [&mut r.invited, &mut r.excepts] {
                    list.retain(|l| !gone(&l.pattern));
                }
                room.tidy();
                changed.push(channel.clone());
            }
        }
        for channel in changed {
            self.room_changed(&channel);
        }
        for (channel, owner) in orphaned {
            log::warn!(
                "{channel}: the account of its owner, {owner}, is gone: it has no owner now and is not kept"
            );
            self.unkeep(&channel);
            if let Some(r) = self.rooms.get_mut(&*channel) {
                // No ID is empty: nobody can take this one.
                r.owner = Rc::from("");
            }
            if self.channels.subscribers(&channel).is_empty() {
                self.end_room(&channel);
            }
        }
    }

    /// Kept rooms nobody has subscribed to for [`Limits::kept_idle`](super::Limits) are
    /// forgotten, as after a drop, so that channels nobody comes back to do not hold the
    /// server's bound for good. A room restored without the time it was emptied counts from
    /// now. `steady_ms` is the wall clock to count by ([`crate::steady`]): a step of the
    /// clock a hundred days ahead must not forget every kept channel, for anyone to take.
    pub(super) fn expire_kept_rooms(&mut self, steady_ms: u64) {
        let Some(idle) = self.limits.kept_idle else { return };
        let now = unix_s(steady_ms);
        let date = self.emptied_now();
        let mut expired = Vec::new();
        let mut dated = Vec::new();
        for channel in &self.kept {
            let Some(room) = self
                .rooms
                .get_mut(&**channel)
                .filter(|r| r.lasting && r.is_empty())
            else {
                continue;
            };
            if room.emptied == 0 {
                room.emptied = date;
                dated.push(channel.clone());
            } else if u64::from(now.saturating_sub(room.emptied)) >= idle.as_secs() {
                expired.push(channel.clone());
            }
        }
        for channel in dated {
            self.room_changed(&channel);
        }
        for channel in expired {
            let days = idle.as_secs() / 86_400;
            let plural = if days == 1 { "" } else { "s" };
            log::info!("{channel}: nobody subscribed for {days} day{plural}: no longer kept");
            self.unkeep(&channel);
            self.end_room(&channel);
        }
    }

    /// The time a kept room that empties now is dated by (seconds since 1970): the wall
    /// clock, but never before the time kept channels' expiry has already judged by. A clock
    /// set a year back and then right again must not date a room a year back, which would
    /// then be forgotten at once for anyone to take ([`crate::steady::Steady::at_least`]).
    /// Past it (a step ahead), the room is only kept longer.
    pub(super) fn emptied_now(&self) -> u32 {
        unix_s(self.now_ms.max(self.steady.at_least()))
    }

    /// Counts `channel` as a lasting room of `owner`.
    pub(super) fn own_lasting(&mut self, channel: &str, owner: &str) {
        self.lasting_owned
            .entry(owner.into())
            .or_default()
            .push(channel.into());
        self.kept.insert(channel.into());
    }

    /// Hands the changed keys to the store; those it cannot take now stay for the next tick.
    /// The removal of a `!deleted` mark goes last, and only once everything else was taken:
    /// the store writes in the order it is handed things, so the mark is never gone from disk
    /// while the channels its account held are still saved as kept.
    pub(super) fn save(&mut self, out: &mut impl Outbox) {
        let (marks, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.unsaved)
            .into_iter()
            .partition(|k| k.starts_with(DELETED));
        for key in rest {
            self.save_key(key, out);
        }
        let held = !self.unsaved.is_empty();
        for key in marks {
            match held {
                true => {
                    self.unsaved.insert(key);
                }
                false => self.save_key(key, out),
            }
        }
        if self.unsaved.is_empty() {
            self.all_saves_handed(out);
        }
    }

    fn save_key(&mut self, key: Box<str>, out: &mut impl Outbox) {
        let value = match &*key {
            k if k.starts_with(DELETED) => None,
            k if let Some(user) = k.strip_prefix(BLOCKS) => {
                let blocks = self.blocks.of(user);
                (!blocks.is_empty()).then(|| encode(&Value::Array(blocks.iter().map(|b| text(b)).collect())))
            }
            k if let Some(user) = k.strip_prefix(MODES) => {
                let bits = self.own_modes.of(user);
                (bits != 0).then(|| encode(&Value::from(bits)))
            }
            k if let Some(user) = k.strip_prefix(READ) => {
                let markers = self.read_markers.of(user);
                (!markers.is_empty()).then(|| encode(&markers_value(markers)))
            }
            BANS => Some(bans_value(&self.bans)),
            BAN_REASONS => Some(reasons_value(&self.ban_reasons)),
            BAN_SETTERS => Some(setters_value(&self.ban_setters)),
            MOTD => self.motd.as_ref().map(|m| encode(&motd_value(m))),
            GUEST_KEY => {
                (self.guest_key).map(|k| encode(&Value::Map(vec![(text("key"), Value::Bytes(k.to_vec()))])))
            }
            channel => room_saved(&self.rooms, channel),
        };
        match out.save_state(&key, value) {
            true => {
                if let Some(h) = self.history.as_mut() {
                    h.saves.handed();
                }
            }
            false => {
                self.unsaved.insert(key);
            }
        }
    }

    /// Takes back what the store held at start. An entry that does not decode is logged and
    /// skipped: the rest of the server's memory is still good. What an entry holds beyond what
    /// a client could have set (a hand-edited or damaged store) is cut to it, and logged: a
    /// subject too long for a Meta's frame would leave every Sub to its channel unanswered.
    pub fn restore(&mut self, state: Vec<(String, Vec<u8>)>) {
        for (key, value) in state {
            let Ok(v) = ciborium::from_reader::<Value, _>(value.as_slice()) else {
                log::error!("saved state of {key} does not decode; skipped");
                continue;
            };
            let mut cut = false;
            let restored = match key.as_str() {
                k if k.starts_with(DELETED) => {
                    self.accounts.deleted_offline.push(k.into());
                    Some(())
                }
                k if let Some(user) = k.strip_prefix(BLOCKS).filter(|u| is_user(u)) => {
                    v.as_array().map(|items| {
                        let blocks = items.iter().filter_map(Value::as_text).map(Box::from).collect();
                        cut = self.blocks.restore(user, blocks);
                    })
                }
                k if let Some(user) = k.strip_prefix(MODES).filter(|u| is_user(u)) => {
                    v.as_integer().and_then(|i| u64::try_from(i).ok()).map(|bits| {
                        // Another bit is none of the user's; none at all, no key to keep.
                        cut = bits == 0 || bits & !OWN_MODES != 0;
                        self.own_modes.set(user, bits);
                    })
                }
                k if let Some(user) = k.strip_prefix(READ).filter(|u| is_user(u)) => {
                    markers_of(&v).map(|markers| cut = self.read_markers.restore(user, markers))
                }
                BANS => bans_of(&v, &mut cut).map(|b| self.bans = b),
                BAN_REASONS => reasons_of(&v, &mut cut).map(|r| self.ban_reasons = r),
                BAN_SETTERS => setters_of(&v, &mut cut).map(|s| self.ban_setters = s),
                MOTD => motd_of(&v, &mut cut).map(|m| self.motd = Some(m)),
                GUEST_KEY => match field(&v, "key").and_then(Value::as_bytes) {
                    Some(b) => match <[u8; 32]>::try_from(b.as_slice()) {
                        Ok(k) => {
                            self.guest_key = Some(k);
                            Some(())
                        }
                        Err(_) => {
                            log::warn!(
                                "saved state of {GUEST_KEY} is no 32-byte key: a new one is made, so guests' \
                                 names mark their addresses anew (bans and mutes of guests named \
                                 before hold those names only, not their addresses' later guests)"
                            );
                            Some(())
                        }
                    },
                    None => None,
                },
                channel if !is_kind(channel, Kind::Channel) => None,
                channel => room_of(&v, &mut cut).map(|r| match r.used {
                    true => {
                        self.own_lasting(channel, &r.owner);
                        let key: Rc<str> = channel.into();
                        self.listed.insert(key.clone(), r.secret());
                        self.rooms.insert(key, Box::new(r));
                        self.time_sanctions_of(channel);
                    }
                    // Made and left unused when the server stopped: it ends, as it would have
                    // with its last subscriber, and its saved state goes.
                    false => {
                        log::info!("{channel}: nothing was said or set in it: not kept");
                        self.mark(channel);
                    }
                }),
            };
            match restored {
                None => log::error!("saved state of {key} is not what this version expects; skipped"),
                Some(()) if cut => {
                    log::warn!(
                        "saved state of {key} holds more than a client could set; cut to the protocol's bounds"
                    );
                    // Saved as cut, so that the next start does not say it again.
                    self.mark(&key);
                }
                Some(()) => {}
            }
        }
        if let Err(e) = self.make_guest_key() {
            log::error!("no randomness for the key of guests' address marks ({e}): made at the first guest");
        }
        // A kept channel's life is saved as its first Event is handed to the store, which in
        // batched mode a crash may then lose, and with it the position: it is not handed out
        // again, so that no later life of another room gets the same id.
        let newest_life = self.rooms.values().filter_map(|r| r.life()).max();
        if let (Some(h), Some(life)) = (self.history.as_mut(), newest_life) {
            h.skip_past(life);
        }
        log::info!(
            "restored {} channel(s) and {} server ban(s)",
            self.rooms.len(),
            self.bans.len()
        );
    }
}

/// The saved value of an account's read markers: `[[topic, time], ...]`.
fn markers_value(markers: &[(Box<str>, u64)]) -> Value {
    let pair = |(topic, time): &(Box<str>, u64)| Value::Array(vec![text(topic), Value::from(*time)]);
    Value::Array(markers.iter().map(pair).collect())
}

/// An account's read markers as saved; an entry that is not a `[text, uint]` pair is left for
/// [`ReadMarkers::restore`](super::markers::ReadMarkers::restore) to drop, by a topic that is
/// no name.
fn markers_of(v: &Value) -> Option<Vec<(Box<str>, u64)>> {
    let pair = |p: &Value| match p.as_array().map(Vec::as_slice) {
        Some([topic, time]) => Some((topic.as_text()?.into(), as_uint(time)?)),
        _ => None,
    };
    let items = v.as_array()?;
    Some(
        items
            .iter()
            .map(|p| pair(p).unwrap_or_else(|| ("".into(), 0)))
            .collect(),
    )
}

/// The saved value of a list of server bans: a CBOR array of their texts.
pub fn bans_value(bans: &[ServerBan]) -> Vec<u8> {
    encode(&Value::Array(
        bans.iter().map(|b| Value::Text(b.to_string())).collect(),
    ))
}

/// The saved value of the ban reasons: a CBOR map from each ban, as written, to its reason.
pub fn reasons_value(reasons: &HashMap<Box<str>, Box<str>>) -> Vec<u8> {
    let mut pairs: Vec<(&str, &str)> = reasons.iter().map(|(b, r)| (&**b, &**r)).collect();
    pairs.sort_unstable();
    let text = |t: &str| Value::Text(t.to_string());
    encode(&Value::Map(
        pairs.into_iter().map(|(b, r)| (text(b), text(r))).collect(),
    ))
}

/// The saved value of who set the server bans: a CBOR map from each ban, as written, to
/// `[ID, unix ms]`.
pub fn setters_value(setters: &BanSetters) -> Vec<u8> {
    let mut pairs: Vec<(&str, &str, u64)> = setters.iter().map(|(b, (by, at))| (&**b, &**by, *at)).collect();
    pairs.sort_unstable();
    let text = |t: &str| Value::Text(t.to_string());
    encode(&Value::Map(
        pairs
            .into_iter()
            .map(|(b, by, at)| (text(b), Value::Array(vec![text(by), Value::from(at)])))
            .collect(),
    ))
}

/// Who set the server bans, in a value saved under [`BAN_SETTERS`]; `None` if it is not one.
pub fn saved_ban_setters(value: &[u8]) -> Option<BanSetters> {
    setters_of(&ciborium::from_reader::<Value, _>(value).ok()?, &mut false)
}

/// Setters that are user IDs, of bans this version can read; `cut` is set if the value held
/// anything else.
fn setters_of(v: &Value, cut: &mut bool) -> Option<BanSetters> {
    let pairs = v.as_map()?;
    let setter = |v: &Value| match v.as_array()?.as_slice() {
        [by, at] => {
            let by = by.as_text().filter(|b| is_user(b))?;
            Some((Rc::from(by), u64::try_from(at.as_integer()?).ok()?))
        }
        _ => None,
    };
    let setters: BanSetters = pairs
        .iter()
        .filter_map(|(b, s)| Some((b.as_text()?, setter(s)?)))
        .filter(|(b, _)| ServerBan::parse(b).is_some())
        .map(|(b, s)| (b.into(), s))
        .collect();
    *cut |= setters.len() < pairs.len();
    Some(setters)
}

/// The ban reasons in a value saved under [`BAN_REASONS`]; `None` if it is not one.
pub fn saved_ban_reasons(value: &[u8]) -> Option<HashMap<Box<str>, Box<str>>> {
    reasons_of(&ciborium::from_reader::<Value, _>(value).ok()?, &mut false)
}

/// Reasons as an admin could give them (at most [`MAX_REASON`] bytes), of bans this version
/// can read; `cut` is set if the value held anything else. Not bounded by count: the bans of
/// the configuration keep the reasons admins gave them too, and they have no bound.
fn reasons_of(v: &Value, cut: &mut bool) -> Option<HashMap<Box<str>, Box<str>>> {
    let pairs = v.as_map()?;
    let reasons: HashMap<Box<str>, Box<str>> = pairs
        .iter()
        .filter_map(|(b, r)| Some((b.as_text()?, r.as_text()?)))
        .filter(|(b, _)| ServerBan::parse(b).is_some())
        .map(|(b, r)| (b.into(), clip_noted(r, MAX_REASON, cut).into()))
        .collect();
    *cut |= reasons.len() < pairs.len();
    Some(reasons)
}

/// The server bans in a value saved under [`BANS`]; `None` if it is not one. Entries this
/// version cannot parse are skipped, as at start.
pub fn saved_bans(value: &[u8]) -> Option<Vec<ServerBan>> {
    bans_of(&ciborium::from_reader::<Value, _>(value).ok()?, &mut false)
}

/// At most [`MAX_SERVER_BANS`]; `cut` is set if the value held more.
fn bans_of(v: &Value, cut: &mut bool) -> Option<Vec<ServerBan>> {
    let items = v.as_array()?;
    *cut |= items.len() > MAX_SERVER_BANS;
    Some(
        items
            .iter()
            .take(MAX_SERVER_BANS)
            .filter_map(Value::as_text)
            .filter_map(ServerBan::parse)
            // Saved by a version that took `::ffff:127.0.0.1` for a range matching nobody, or
            // that let an admin ban 127.0.0.2: loopback, which no ban may hold.
            .filter(|b| match b.holds_loopback() {
                Some(why) => {
                    log::warn!("a saved server ban is dropped: {why}");
                    false
                }
                None => true,
            })
            .collect(),
    )
}

/// Seconds since 1970, as a room keeps its times of use (past 2106: the last second).
pub(super) fn unix_s(ms: u64) -> u32 {
    u32::try_from(ms / 1000).unwrap_or(u32::MAX)
}

fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::into_writer(v, &mut out);
    out
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// What is saved of `channel`'s room: its value if it is kept, else `None` (no saved state).
pub(super) fn room_saved(rooms: &HashMap<Rc<str>, Box<Room>>, channel: &str) -> Option<Vec<u8>> {
    rooms.get(channel).filter(|r| r.lasting).map(|r| room_bytes(r))
}

/// The saved value of a kept room: a CBOR map with text keys. Written straight into bytes, not
/// through a [`Value`] tree: it is written on the loop with the record of each change, and a
/// room's five lists may hold 2,500 entries (as a tree, ~130 µs a change).
fn room_bytes(r: &Room) -> Vec<u8> {
    let rules = r.rules();
    let mut o = Cbor(Vec::new());
    o.head(MAP, 22);
    o.text("owner").text(&r.owner);
    o.text("created").head(UINT, r.created);
    o.text("emptied").head(UINT, r.emptied.into());
    o.text("ops").list(&rules.ops);
    o.text("voiced").list(&rules.voiced);
    o.text("invited").list(&rules.invited);
    // A key of its own: a version that knows none ignores it (and keeps the bans).
    o.text("excepts").list(&rules.excepts);
    // Who set each and when, and why, by pattern, in keys of their own as the mutes' are.
    o.text("invite notes").notes(&rules.invited);
    o.text("except notes").notes(&rules.excepts);
    o.text("bans").head(ARRAY, rules.bans.len() as u64);
    for b in &rules.bans {
        // The reason third, the end fourth, who and when last: a version that reads fewer
        // fields reads these.
        o.head(ARRAY, 6).text(&b.pattern);
        o.opt(b.addr.map(|a| a.to_string()).as_deref());
        o.opt(b.reason.as_deref());
        o.opt_uint(b.until);
        o.opt(b.by.as_deref());
        o.head(UINT, b.at);
    }
    let mutes = rules.mutes();
    o.text("mutes").head(ARRAY, mutes.len() as u64);
    for m in mutes {
        o.text(&m.pattern);
    }
    // Fields of their own, after the list: a version that knows none reads the mutes.
    let reasons = mutes
        .iter()
        .filter_map(|m| Some((&m.pattern, m.reason.as_deref()?)));
    o.text("mute reasons").head(MAP, reasons.clone().count() as u64);
    for (pattern, reason) in reasons {
        o.text(pattern).text(reason);
    }
    let addrs = mutes.iter().filter_map(|m| Some((&m.pattern, m.addr?)));
    o.text("mute addresses").head(MAP, addrs.clone().count() as u64);
    for (pattern, addr) in addrs {
        o.text(pattern).text(&addr.to_string());
    }
    let untils = mutes.iter().filter_map(|m| Some((&m.pattern, m.until?)));
    o.text("mute untils").head(MAP, untils.clone().count() as u64);
    for (pattern, until) in untils {
        o.text(pattern).head(UINT, until);
    }
    let setters = mutes
        .iter()
        .filter_map(|m| Some((&m.pattern, m.by.as_deref()?, m.at)));
    o.text("mute setters").head(MAP, setters.clone().count() as u64);
    for (pattern, by, at) in setters {
        o.text(pattern).head(ARRAY, 2).text(by).head(UINT, at);
    }
    o.text("modes").head(UINT, r.modes);
    o.text("rate").head(UINT, rules.rate);
    o.text("join_rate").head(UINT, rules.join_rate);
    o.text("display").opt(rules.display.as_deref());
    o.text("subject").opt(rules.subject.as_deref());
    match r.life() {
        Some(l) => o.text("life").head(UINT, l),
        None => o.text("life").null(),
    };
    o.text("used").0.push(if r.used { 0xf5 } else { 0xf4 });
    o.0
}

const UINT: u8 = 0;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;

/// CBOR written into a growing buffer (the protocol's [`Writer`](crate::proto::cbor::Writer)
/// fills a frame's fixed one).
struct Cbor(Vec<u8>);

impl Cbor {
    fn head(&mut self, major: u8, arg: u64) -> &mut Self {
        let mut h = [0; 9];
        let n = crate::proto::cbor::encode_head(major, arg, &mut h);
        self.0.extend_from_slice(h.get(..n).unwrap_or_default());
        self
    }

    fn text(&mut self, s: &str) -> &mut Self {
        self.head(TEXT, s.len() as u64).0.extend_from_slice(s.as_bytes());
        self
    }

    fn null(&mut self) -> &mut Self {
        self.0.push(0xf6);
        self
    }

    fn opt_uint(&mut self, n: Option<u64>) -> &mut Self {
        match n {
            Some(n) => self.head(UINT, n),
            None => self.null(),
        }
    }

    fn opt(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    fn list<T: std::ops::Deref<Target = str>>(&mut self, items: &[T]) -> &mut Self {
        self.head(ARRAY, items.len() as u64);
        for i in items {
            self.text(i);
        }
        self
    }

    /// A map of each entry's pattern to `[by, at, reason]` (`by` and `reason` may be null),
    /// for the entries whose setter is known.
    fn notes(&mut self, items: &[Listed]) -> &mut Self {
        let known = items.iter().filter(|l| l.by.is_some() || l.reason.is_some());
        self.head(MAP, known.clone().count() as u64);
        for l in known {
            self.text(&l.pattern).head(ARRAY, 3).opt(l.by.as_deref());
            self.head(UINT, l.at).opt(l.reason.as_deref());
        }
        self
    }
}

fn field<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .map(|(_, v)| v)
}

fn uint(v: &Value, name: &str) -> Option<u64> {
    field(v, name).and_then(as_uint)
}

fn as_uint(v: &Value) -> Option<u64> {
    v.as_integer().and_then(|i| u64::try_from(i).ok())
}

/// A room's list as a client could have made it: valid entries only, once each, at most
/// [`MAX_LIST`]; `cut` is set if the value held anything else.
fn texts(v: &Value, name: &str, valid: fn(&str) -> bool, cut: &mut bool) -> Vec<Box<str>> {
    let mut list = field(v, name)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_text).map(Into::into).collect())
        .unwrap_or_default();
    *cut |= bound_list(&mut list, valid, MAX_LIST);
    list
}

/// Keeps the entries of `list` that are `valid`, sorted, once each, and at most `max`;
/// whether anything went.
pub(super) fn bound_list(list: &mut Vec<Box<str>>, valid: fn(&str) -> bool, max: usize) -> bool {
    let before = list.len();
    list.retain(|e| valid(e));
    list.sort_unstable();
    list.dedup();
    list.truncate(max);
    list.len() != before
}

/// A room's invitations or exceptions (`name`), with who set each, when and why from
/// `notes` (saved since 2026-12-07: before, none is known).
fn listed(v: &Value, name: &str, notes: &str, cut: &mut bool) -> Vec<Listed> {
    let notes: HashMap<&str, &[Value]> = (field(v, notes).and_then(Value::as_map))
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|(p, n)| Some((p.as_text()?, n.as_array()?.as_slice())))
        .collect();
    let entries = texts(v, name, pattern::is_pattern, cut).into_iter();
    entries
        .map(|pattern| {
            let note = notes.get(&*pattern).copied().unwrap_or_default();
            let reason = note.get(2).and_then(Value::as_text).filter(|r| !r.is_empty());
            Listed {
                by: note
                    .first()
                    .and_then(Value::as_text)
                    .filter(|b| is_user(b))
                    .map(Box::from),
                at: note.get(1).and_then(as_uint).unwrap_or(0),
                reason: reason.map(|r| clip_noted(r, MAX_REASON, cut).into()),
                pattern,
            }
        })
        .collect()
}

fn opt_text(v: &Value, name: &str) -> Option<Box<str>> {
    field(v, name)?.as_text().map(Into::into)
}

/// `s` cut to `max` bytes; `cut` is set if it was longer.
fn clip_noted<'s>(s: &'s str, max: usize, cut: &mut bool) -> &'s str {
    *cut |= s.len() > max;
    clip(s, max)
}

/// An optional text field of at most `max` bytes.
fn opt_clipped(v: &Value, name: &str, max: usize, cut: &mut bool) -> Option<Box<str>> {
    opt_text(v, name).map(|t| clip_noted(&t, max, cut).into())
}

fn is_kind(name: &str, kind: Kind) -> bool {
    Name::parse(name).is_ok_and(|n| n.kind() == kind)
}

fn is_user(name: &str) -> bool {
    is_kind(name, Kind::User)
}

/// The owner of the channel whose saved state is `value` under `key`, if the server keeps it
/// (something was said or set in it): what `scalard account del` asks before it takes an
/// owner's account away, which ends its kept channels (PROTOCOL.md §4, Channels).
pub fn kept_owner(key: &str, value: &[u8]) -> Option<Rc<str>> {
    if !is_kind(key, Kind::Channel) {
        return None;
    }
    let v = ciborium::from_reader::<Value, _>(value).ok()?;
    room_of(&v, &mut false).filter(|r| r.used).map(|r| r.owner)
}

/// A saved room; `None` if it is not one (its owner no user ID among them). What it holds
/// beyond what Mods and SetMetas could set is cut, and `cut` set.
fn room_of(v: &Value, cut: &mut bool) -> Option<Room> {
    let owner = field(v, "owner")?.as_text().filter(|o| is_user(o))?;
    let mut r = Room::new(owner.into(), true, uint(v, "created")?);
    // Saved before this field existed: taken as used, as then.
    r.used = field(v, "used").and_then(Value::as_bool).unwrap_or(true);
    r.rules_mut().ops = texts(v, "ops", is_user, cut);
    r.rules_mut().voiced = texts(v, "voiced", is_user, cut);
    r.rules_mut().invited = listed(v, "invited", "invite notes", cut);
    r.rules_mut().excepts = listed(v, "excepts", "except notes", cut);
    // Reasons and addresses are looked up by pattern: a mute has at most one of each.
    let by_pattern = |name| {
        (field(v, name)
            .and_then(Value::as_map)
            .map_or(&[][..], Vec::as_slice)
            .iter())
        .filter_map(|(p, x)| Some((p.as_text()?, x.as_text()?)))
        .collect::<HashMap<_, _>>()
    };
    let (reasons, addrs) = (by_pattern("mute reasons"), by_pattern("mute addresses"));
    let untils: HashMap<&str, u64> = (field(v, "mute untils").and_then(Value::as_map))
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|(p, t)| Some((p.as_text()?, as_uint(t)?)))
        .collect();
    let setters: HashMap<&str, (&str, u64)> = (field(v, "mute setters").and_then(Value::as_map))
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|(p, s)| {
            let s = s.as_array()?;
            let by = s.first()?.as_text().filter(|b| is_user(b))?;
            Some((p.as_text()?, (by, s.get(1).and_then(as_uint).unwrap_or(0))))
        })
        .collect();
    let mutes = texts(v, "mutes", pattern::is_pattern, cut)
        .into_iter()
        .map(|pattern| {
            let reason = reasons.get(&*pattern).filter(|r| !r.is_empty());
            Sanction {
                addr: addrs.get(&*pattern).and_then(|a| a.parse().ok()),
                reason: reason.map(|r| clip_noted(r, MAX_REASON, cut).into()),
                until: untils.get(&*pattern).copied(),
                by: setters.get(&*pattern).map(|(by, _)| Box::from(*by)),
                at: setters.get(&*pattern).map_or(0, |(_, at)| *at),
                pattern,
            }
        });
    r.set_mutes(mutes.collect());
    let bans = field(v, "bans")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut seen = HashSet::new();
    r.rules_mut().bans = bans
        .iter()
        .filter_map(|b| {
            let b = b.as_array()?;
            let pattern = b.first()?.as_text().filter(|p| pattern::is_pattern(p))?;
            seen.insert(pattern).then(|| Sanction {
                pattern: pattern.into(),
                addr: b.get(1).and_then(Value::as_text).and_then(|a| a.parse().ok()),
                reason: b
                    .get(2)
                    .and_then(Value::as_text)
                    .map(|r| clip_noted(r, MAX_REASON, cut).into()),
                until: b.get(3).and_then(as_uint),
                by: b
                    .get(4)
                    .and_then(Value::as_text)
                    .filter(|b| is_user(b))
                    .map(Box::from),
                at: b.get(5).and_then(as_uint).unwrap_or(0),
            })
        })
        .take(MAX_LIST)
        .collect();
    *cut |= r.rules().bans.len() < bans.len();
    // Saved before this field existed: counted from the restart.
    r.emptied = uint(v, "emptied")
        .and_then(|t| u32::try_from(t).ok())
        .unwrap_or(0);
    r.modes = uint(v, "modes").unwrap_or(0) & crate::proto::modes::ALL;
    r.rules_mut().rate = uint(v, "rate").unwrap_or(0).min(crate::proto::MAX_RATE);
    // Saved before this field existed: none.
    r.rules_mut().join_rate = uint(v, "join_rate").unwrap_or(0).min(crate::proto::MAX_JOIN_RATE);
    r.rules_mut().display = opt_clipped(v, "display", MAX_DISPLAY, cut).map(SearchText::from);
    r.rules_mut().subject = opt_clipped(v, "subject", MAX_SUBJECT, cut).map(SearchText::from);
    r.rules_mut().life = uint(v, "life");
    r.tidy();
    Some(r)
}

fn motd_value(m: &Motd) -> Value {
    Value::Map(vec![
        (text("text"), text(&m.text)),
        (text("from"), text(&m.from)),
        (text("time"), Value::Integer(m.time.into())),
    ])
}

/// The motd, its text at most a Message body long; `None` if the value is not one (its sender
/// no valid name among them).
fn motd_of(v: &Value, cut: &mut bool) -> Option<Motd> {
    Some(Motd {
        text: opt_clipped(v, "text", MAX_BODY, cut)?,
        from: opt_text(v, "from").filter(|f| Name::parse(f).is_ok())?,
        time: uint(v, "time")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Who set each server ban reads back as written; an entry no admin could have made (a
    /// setter that is no user ID, a time that is no uint, a key that is no ban) is dropped,
    /// and said to be cut.
    #[test]
    fn the_setters_of_server_bans_read_back_and_bad_entries_are_dropped() {
        let setters: BanSetters = [
            ("192.0.2.0/24".into(), (Rc::from("root@x.org"), 7)),
            ("spam*@x.org".into(), (Rc::from("ann@x.org"), 9)),
        ]
        .into();
        assert_eq!(saved_ban_setters(&setters_value(&setters)), Some(setters.clone()));
        let mut pairs = match ciborium::from_reader::<Value, _>(setters_value(&setters).as_slice()) {
            Ok(Value::Map(p)) => p,
            other => panic!("{other:?}"),
        };
        pairs.push((
            text("bob@x.org"),
            Value::Array(vec![text("#ops@x.org"), Value::from(1)]),
        ));
        pairs.push((
            text("eve@x.org"),
            Value::Array(vec![text("root@x.org"), Value::from(-1)]),
        ));
        pairs.push((
            text("not a ban"),
            Value::Array(vec![text("root@x.org"), Value::from(1)]),
        ));
        let mut cut = false;
        assert_eq!(setters_of(&Value::Map(pairs), &mut cut), Some(setters));
        assert!(cut);
    }

    /// Saved by an older version, which took an IPv4-mapped loopback range for one matching
    /// nobody: dropped, as no ban may hold loopback.
    #[test]
    fn a_saved_ban_holding_loopback_is_dropped() {
        let saved = encode(&Value::Array(vec![
            text("::ffff:127.0.0.1"),
            text("198.51.100.0/24"),
        ]));
        let bans = saved_bans(&saved).unwrap();
        let texts: Vec<String> = bans.iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["198.51.100.0/24"]);
    }

    #[test]
    fn a_room_round_trips() {
        let mut r = Room::new("alice@x".into(), true, 42);
        r.rules_mut().ops = vec!["bob@x".into()];
        r.rules_mut().bans = vec![
            Sanction {
                at: 8_000,
                by: Some("alice@x".into()),
                until: Some(9_000),
                pattern: "guest-1@x".into(),
                addr: Some("192.0.2.1".parse().unwrap()),
                reason: Some("spam".into()),
            },
            Sanction {
                at: 0,
                by: None,
                until: None,
                pattern: "*@spam.example".into(),
                addr: None,
                reason: None,
            },
        ];
        // Sorted, as a restored list is.
        let mutes = r.rules().bans.iter().rev().cloned().map(|m| Sanction {
            reason: m.addr.is_none().then(|| "shouting".into()),
            ..m
        });
        r.set_mutes(mutes.collect());
        r.modes = 5;
        r.rules_mut().rate = 30;
        r.rules_mut().join_rate = 12;
        r.rules_mut().subject = Some("hello ☕".into());
        r.rules_mut().life = Some(1_234);
        r.rules_mut().excepts = vec![Listed {
            reason: Some("our bot".into()),
            by: Some("o@x".into()),
            at: 7_000,
            ..Listed::from("alice@spam.example")
        }];
        let partners = Listed {
            by: Some("o@x".into()),
            at: 8_000,
            ..Listed::from("*@partner.example")
        };
        r.rules_mut().invited = vec![partners, "dave@x".into()];
        let bytes = room_bytes(&r);
        let value = ciborium::from_reader::<Value, _>(bytes.as_slice()).unwrap();
        assert_eq!(encode(&value), bytes, "written as ciborium writes it");
        let back = room_of(&value, &mut false).unwrap();
        assert_eq!(room_bytes(&back), bytes);
        assert_eq!(back.list(crate::proto::Action::Except), ["alice@spam.example"]);
        assert_eq!(
            back.list(crate::proto::Action::Invite),
            ["*@partner.example", "dave@x"]
        );
        assert_eq!(back.rules().mutes(), r.rules().mutes());
        assert_eq!(back.rules().excepts, r.rules().excepts, "who, when and why");
        assert_eq!(back.rules().invited, r.rules().invited);
        assert_eq!(
            (
                back.modes,
                back.rules().rate,
                back.rules().join_rate,
                back.rules().bans[0].addr,
                back.rules().bans[0].reason.as_deref(),
                back.rules().bans[1].reason.as_deref(),
                back.life()
            ),
            (5, 30, 12, r.rules().bans[0].addr, Some("spam"), None, Some(1_234))
        );
        let untils = |s: &[Sanction]| s.iter().map(|s| s.until).collect::<Vec<_>>();
        assert_eq!(untils(&back.rules().bans), [Some(9_000), None]);
        assert_eq!(untils(back.rules().mutes()), [None, Some(9_000)]);
        let set = |s: &[Sanction]| s.iter().map(|s| (s.by.clone(), s.at)).collect::<Vec<_>>();
        let alice = (Some("alice@x".into()), 8_000);
        assert_eq!(set(&back.rules().bans), [alice.clone(), (None, 0)]);
        assert_eq!(set(back.rules().mutes()), [(None, 0), alice]);
        assert!(back.has_rules());
        let plain = Room::new("alice@x".into(), true, 42);
        let bytes = room_bytes(&plain);
        let back = room_of(
            &ciborium::from_reader::<Value, _>(bytes.as_slice()).unwrap(),
            &mut false,
        )
        .unwrap();
        assert!(
            !back.has_rules(),
            "a room restored with nothing set has no rules allocated"
        );
        assert_eq!(back.life(), None);
    }

    /// What no client could have set is cut at start: a reason past 256 bytes, a motd past a
    /// body, server bans past 1,000. Reasons are not bounded by count (configured bans keep
    /// theirs too, and have no bound), but a key that is no ban is dropped.
    #[test]
    fn saved_server_state_is_cut_to_the_protocols_bounds() {
        let mut pairs: Vec<(Value, Value)> = (0..1_050)
            .map(|i| (text(&format!("b{i}@x")), text("why")))
            .collect();
        pairs.push((text("b0@y"), text(&"r".repeat(300))));
        pairs.push((text("Not A Ban"), text("why")));
        let mut cut = false;
        let reasons = reasons_of(&Value::Map(pairs), &mut cut).unwrap();
        assert!(cut);
        assert_eq!(reasons.len(), 1_051);
        assert_eq!(reasons.get("b0@y").map(|r| r.len()), Some(MAX_REASON));
        let bans = Value::Array((0..1_200).map(|i| text(&format!("b{i}@x"))).collect());
        let mut cut = false;
        assert_eq!(bans_of(&bans, &mut cut).unwrap().len(), MAX_SERVER_BANS);
        assert!(cut);
        let motd = |t: &str, from: &str| {
            Value::Map(vec![
                (text("text"), text(t)),
                (text("from"), text(from)),
                (text("time"), Value::Integer(1.into())),
            ])
        };
        let mut cut = false;
        let m = motd_of(&motd(&"m".repeat(20_000), "root@x"), &mut cut).unwrap();
        assert_eq!((m.text.len(), cut), (MAX_BODY, true));
        let mut cut = false;
        assert!(motd_of(&motd("hi", "!motd@x"), &mut cut).is_some() && !cut);
        assert!(motd_of(&motd("hi", "Root"), &mut cut).is_none(), "no sender");
    }

    /// Saved by a version that kept no reasons: a ban of two fields.
    #[test]
    fn a_ban_saved_without_a_reason_is_read() {
        let bytes = room_bytes(&Room::new("alice@x".into(), true, 42));
        let mut saved = ciborium::from_reader::<Value, _>(bytes.as_slice()).unwrap();
        let old = Value::Array(vec![text("bob@x"), Value::Null]);
        if let Value::Map(fields) = &mut saved {
            for (k, v) in fields.iter_mut() {
                if k.as_text() == Some("bans") {
                    *v = Value::Array(vec![old.clone()]);
                }
            }
        }
        let back = room_of(&saved, &mut false).unwrap();
        let ban = &back.rules().bans[0];
        assert_eq!(
            (&*ban.pattern, ban.addr, ban.reason.as_deref()),
            ("bob@x", None, None)
        );
    }
}
