//! A channel's modes and description (§4 SetMeta), the edges of Mod (§4 Channels: what an
//! operator may not do, undoing what is not there) and presence (§4 Presence). Like the cases
//! of channels.rs, they are skipped on a server without the extension types (103).

use super::*;

const RECORD: &str = "text/x-scalar-mod";
const PRESENCE: &str = "text/x-scalar-presence";
const MEMBER: &str = "text/x-scalar-member";

/// A SetMeta of `fields` on `topic`.
fn set_meta(seq: u64, topic: &str, fields: &[(u64, Value)]) -> Value {
    let mut pairs = vec![(0, u(SET_META)), (1, u(seq)), (2, t(topic))];
    pairs.extend_from_slice(fields);
    map(&pairs)
}

/// The owner of a fresh channel sets `modes` on it: `Err(Skip)` on a server without SetMeta.
fn with_modes(a: &mut Raw, ch: &str, modes: u64) -> Result<Result<(), Verdict>, Fail> {
    match ask(a, &set_meta(3, ch, &[(41, u(modes))]))? {
        Ok(v) if kind(&v) == Some(10) && uint(&v, 41) == Some(modes) => Ok(Ok(())),
        Ok(v) => Err(format!("the owner's SetMeta of modes {modes}: {}", show(&v))),
        Err(skip) => Ok(Err(skip)),
    }
}

/// Publishes on `c` and expects the echo, or Error `code` when given.
fn speaks(c: &mut Raw, ch: &str, seq: u64, refused: Option<u64>) -> Result<(), Fail> {
    match refused {
        None => c.say(ch, "may I?", seq).map(drop),
        Some(code) => {
            c.send(&map(&[(0, u(6)), (1, u(seq)), (2, t(ch)), (6, t("may I?"))]))?;
            c.expect_error(code, Some(seq))
        }
    }
}

/// §4 SetMeta: each field that changed is recorded on the channel, in the order display,
/// subject, modes, rate, before the Meta that answers (to the sender without `seq`, as to every
/// member); a SetMeta that changes nothing records nothing, and a subject removed is recorded
/// as `subject ` (TEXT empty).
pub(super) fn set_meta_records_each_change_in_order_before_its_meta(x: &Ctx) -> Result<Verdict, Fail> {
    let (ch, mut a, owner, mut b, _) = two_in_a_channel(x, "smr")?;
    let fields = [(38, t("Café ☕")), (39, t("the line")), (41, u(2)), (42, u(30))];
    let want = ["display Café ☕", "subject the line", "modes +m", "rate 30"];
    a.send(&set_meta(3, &ch, &fields))?;
    let first = a.next()?;
    if kind(&first) == Some(3) && uint(&first, 9) == Some(103) {
        return Ok(Verdict::Skip(
            "the server does not implement this extension".into(),
        ));
    }
    let mut records = vec![first];
    for _ in 1..want.len() {
        records.push(a.next()?);
    }
    for (e, body) in records.iter().zip(want) {
        told(e, &owner, &ch, body, RECORD).map_err(|e| format!("the sender: {e}"))?;
    }
    let meta = a.next()?;
    let described = (text(&meta, 38), text(&meta, 39), uint(&meta, 41), uint(&meta, 42));
    if kind(&meta) != Some(10)
        || uint(&meta, 1) != Some(3)
        || described != (Some("Café ☕"), Some("the line"), Some(2), Some(30))
    {
        return Err(format!(
            "after the records, expected Meta seq 3 with what was set, got {}",
            show(&meta)
        ));
    }
    for body in want {
        told(&b.event()?, &owner, &ch, body, RECORD).map_err(|e| format!("the member: {e}"))?;
    }
    // The same again: its Meta, and no record.
    a.send(&set_meta(4, &ch, &fields))?;
    let again = a.next()?;
    if kind(&again) != Some(10) || uint(&again, 1) != Some(4) {
        return Err(format!(
            "a SetMeta that changes nothing: expected its Meta alone, got {}",
            show(&again)
        ));
    }
    nothing_before_a_pong(&mut b, "a member, after a SetMeta that changed nothing,")?;
    a.send(&set_meta(5, &ch, &[(39, t(""))]))?;
    told(&a.next()?, &owner, &ch, "subject ", RECORD)?;
    let removed = a.next()?;
    match (kind(&removed), uint(&removed, 1), text(&removed, 39)) {
        (Some(10), Some(5), None | Some("")) => Ok(Pass),
        _ => Err(format!(
            "subject \"\": expected Meta seq 5 without a subject, got {}",
            show(&removed)
        )),
    }
}

/// §4 SetMeta and the key table: a display name over 64 bytes or a subject over 256 is
/// `field_too_long` (304), `modes` over 31 or a `rate` over 600 `malformed` (100); 64 bytes of
/// display in four-byte characters are taken.
pub(super) fn set_meta_refuses_what_its_fields_cannot_hold(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, _) = x.client("sml")?;
    let ch = x.channel("sml");
    a.sub(&ch, 2)?;
    let crabs = "🦀".repeat(16);
    let fine = match ask(&mut a, &set_meta(3, &ch, &[(38, t(&crabs))]))? {
        Ok(v) => v,
        Err(skip) => return Ok(skip),
    };
    if kind(&fine) != Some(10) || text(&fine, 38) != Some(crabs.as_str()) {
        return Err(format!(
            "a display of 64 bytes: expected Meta with it, got {}",
            show(&fine)
        ));
    }
    let refusals = [
        (38, t(&"d".repeat(65)), 304),
        (39, t(&"s".repeat(257)), 304),
        (41, u(32), 100),
        (42, u(601), 100),
    ];
    for (seq, (key, value, code)) in (4..).zip(refusals) {
        a.send(&set_meta(seq, &ch, &[(key, value)]))?;
        a.expect_error(code, Some(seq))
            .map_err(|e| format!("SetMeta key {key}: {e}"))?;
    }
    Ok(Pass)
}

/// §4 SetMeta, mode 2 (moderated): a member without a voice is `muted` (802); voiced, it
/// speaks, devoiced it is muted again; an operator and the owner speak.
pub(super) fn a_moderated_channel_hears_voices_and_operators_only(x: &Ctx) -> Result<Verdict, Fail> {
    let (ch, mut a, _, mut b, member) = two_in_a_channel(x, "mdr")?;
    let (mut c, operator) = x.client("mdrc")?;
    c.sub(&ch, 2)?;
    if let Err(skip) = with_modes(&mut a, &ch, 2)? {
        return Ok(skip);
    }
    speaks(&mut b, &ch, 4, Some(802))?;
    for (seq, action, target) in [(5, 8, &member), (6, 6, &operator)] {
        a.send(&moderate(seq, &ch, action, target))?;
        let record = a.reply()?;
        if kind(&record) != Some(7) {
            return Err(format!("Mod {action} of {target}: {}", show(&record)));
        }
    }
    speaks(&mut b, &ch, 7, None)?;
    speaks(&mut c, &ch, 7, None)?;
    speaks(&mut a, &ch, 8, None)?;
    a.send(&moderate(9, &ch, 9, &member))?;
    a.reply()?;
    speaks(&mut b, &ch, 10, Some(802))?;
    Ok(Pass)
}

/// §4 SetMeta, mode 8 (private members): a member's Members is `not_operator` (800); the
/// owner's lists them.
pub(super) fn private_members_are_listed_to_operators_only(x: &Ctx) -> Result<Verdict, Fail> {
    let (ch, mut a, _, mut b, _) = two_in_a_channel(x, "pvm")?;
    if let Err(skip) = with_modes(&mut a, &ch, 8)? {
        return Ok(skip);
    }
    let members = |seq| map(&[(0, u(MEMBERS)), (1, u(seq)), (2, t(&ch)), (15, u(10))]);
    b.send(&members(4))?;
    b.expect_error(800, Some(4))?;
    a.send(&members(4))?;
    let list = a.reply()?;
    match (kind(&list), uint(&list, 16)) {
        (Some(68), Some(2)) => Ok(Pass),
        _ => Err(format!(
            "the owner's Members: expected MemberList total 2, got {}",
            show(&list)
        )),
    }
}

/// §4 SetMeta, mode 4 (registered-only): a name nobody proved is refused (805) until invited;
/// with `--account`, a session that logged in gets in uninvited.
pub(super) fn a_registered_only_channel_admits_logins_and_invitations(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, _) = x.client("rgo")?;
    let ch = x.channel("rgo");
    a.sub(&ch, 2)?;
    if let Err(skip) = with_modes(&mut a, &ch, 4)? {
        return Ok(skip);
    }
    let (mut b, stranger) = x.client("rgob")?;
    b.send(&map(&[(0, u(8)), (1, u(3)), (2, t(&ch))]))?;
    b.expect_error(805, Some(3))?;
    a.send(&moderate(4, &ch, 10, &stranger))?;
    a.reply()?;
    b.sub(&ch, 4)?;
    if let Some((id, pw)) = &x.account {
        accounts::logged_in(x, id, pw)?.sub(&ch, 5)?;
    }
    Ok(Pass)
}

/// §4 SetMeta, mode 16 (secret): Topics does not list the channel to a user not in it, and
/// lists it to one in it; anyone may still Sub; and its Meta to one it is not listed to (an
/// Unsub's) says no more than of a channel that does not exist.
pub(super) fn a_secret_channel_is_listed_to_its_members_only(x: &Ctx) -> Result<Verdict, Fail> {
    let name = x.fresh("sec");
    // `#NAME@` sorts just before `#NAMEz@` ('@' before 'z'), and no other channel between.
    let (ch, before) = (format!("#{name}z@{}", x.domain), format!("#{name}@{}", x.domain));
    let (mut a, _) = x.client("seca")?;
    a.sub(&ch, 2)?;
    let secret = set_meta(3, &ch, &[(39, t("hush")), (41, u(16))]);
    match ask(&mut a, &secret)? {
        Ok(v) if kind(&v) == Some(10) => {}
        Ok(v) => return Err(format!("the owner's SetMeta of modes 16: {}", show(&v))),
        Err(skip) => return Ok(skip),
    }
    let first_after = |c: &mut Raw| -> Result<Option<String>, Fail> {
        c.send(&map(&[(0, u(11)), (1, u(6)), (15, u(1)), (45, t(&before))]))?;
        let list = c.reply()?;
        let names = get(&list, 17)
            .and_then(Value::as_array)
            .ok_or(format!("Topics: {}", show(&list)))?;
        Ok(names.first().and_then(Value::as_text).map(str::to_string))
    };
    let (mut b, _) = x.client("secb")?;
    if first_after(&mut b)?.as_deref() == Some(ch.as_str()) {
        return Err(format!("{ch} is secret, but Topics lists it to a user not in it"));
    }
    if first_after(&mut a)?.as_deref() != Some(ch.as_str()) {
        return Err(format!("{ch} is secret: Topics should list it to its member"));
    }
    let unsub = |c: &mut Raw, topic: &str| -> Result<Value, Fail> {
        c.send(&map(&[(0, u(9)), (1, u(7)), (2, t(topic))]))?;
        c.reply()
    };
    let (seen, none) = (unsub(&mut b, &ch)?, unsub(&mut b, &x.channel("secn"))?);
    // All but the topic: what a Meta says of it.
    let said = |v: &Value| {
        let fields = v.as_map().cloned().unwrap_or_default().into_iter();
        Value::Map(fields.filter(|(k, _)| *k != u(2)).collect())
    };
    if said(&seen) != said(&none) {
        return Err(format!(
            "the Meta of the secret {ch} to one not in it says more than of a channel that does not exist: {} against {}",
            diag(&said(&seen)),
            diag(&said(&none))
        ));
    }
    b.sub(&ch, 8)?;
    Ok(Pass)
}

/// §4 Channels: undoing what is not there (unban, unmute, deop, devoice, uninvite,
/// unexcept), a kick of an ID not in the channel and a transfer to one not subscribed are
/// `no_such_user` (404), and record nothing.
pub(super) fn undoing_what_is_not_there_is_404_and_records_nothing(x: &Ctx) -> Result<Verdict, Fail> {
    let (ch, mut a, _, mut b, member) = two_in_a_channel(x, "und")?;
    let stranger = x.user("undc");
    let undo = [
        (3, &stranger),
        (5, &stranger),
        (7, &member),
        (9, &member),
        (11, &stranger),
        (17, &stranger),
        (1, &stranger),
        (12, &stranger),
    ];
    for (seq, (action, target)) in (3..).zip(undo) {
        let v = match ask(&mut a, &moderate(seq, &ch, action, target))? {
            Ok(v) => v,
            Err(skip) => return Ok(skip),
        };
        if kind(&v) != Some(3) || uint(&v, 9) != Some(404) || uint(&v, 1) != Some(seq) {
            return Err(format!(
                "Mod {action} of {target}, which is not there: expected Error 404, got {}",
                show(&v)
            ));
        }
    }
    nothing_before_a_pong(&mut b, "a member, after Mods that changed nothing,")?;
    Ok(Pass)
}

/// §4 Channels: an operator may not ban, mute, kick or deop the owner (800), nor may the
/// owner deop itself; the owner is still there and speaks.
pub(super) fn the_owner_is_out_of_an_operator_s_reach(x: &Ctx) -> Result<Verdict, Fail> {
    let (ch, mut a, owner, mut b, operator) = two_in_a_channel(x, "own")?;
    match ask(&mut a, &moderate(3, &ch, 6, &operator))? {
        Ok(v) if kind(&v) == Some(7) => {}
        Ok(v) => return Err(format!("op {operator}: {}", show(&v))),
        Err(skip) => return Ok(skip),
    }
    for (seq, action) in (4..).zip([2, 4, 1, 7]) {
        b.send(&moderate(seq, &ch, action, &owner))?;
        b.expect_error(800, Some(seq))
            .map_err(|e| format!("an operator's Mod {action} of the owner: {e}"))?;
    }
    a.send(&moderate(4, &ch, 7, &owner))?;
    a.expect_error(800, Some(4))
        .map_err(|e| format!("the owner's deop of itself: {e}"))?;
    speaks(&mut a, &ch, 5, None)?;
    Ok(Pass)
}

/// §4 Channels, the table of actions and ID patterns: kick, op, voice and transfer take a user
/// ID, not a pattern; a channel's bans and mutes take patterns, not address ranges; drop must
/// name the owner; all `bad_id` (300). An action outside 1–17, or a Targets list no Mod adds
/// to, is `malformed` (100).
pub(super) fn each_action_takes_only_its_kind_of_target(x: &Ctx) -> Result<Verdict, Fail> {
    let (ch, mut a, _, _b, member) = two_in_a_channel(x, "tgk")?;
    let pattern = format!("{}*@{}", x.fresh("tgk"), x.domain);
    let wrong = [
        (1, pattern.as_str(), 300),
        (6, &pattern, 300),
        (8, &pattern, 300),
        (12, &pattern, 300),
        (2, "192.0.2.0/24", 300),
        (4, "192.0.2.1", 300),
        (13, &member, 300),
        (0, &member, 100),
        (18, &member, 100),
    ];
    for (seq, (action, target, code)) in (3..).zip(wrong) {
        let v = match ask(&mut a, &moderate(seq, &ch, action, target))? {
            Ok(v) => v,
            Err(skip) => return Ok(skip),
        };
        if kind(&v) != Some(3) || uint(&v, 9) != Some(code) || uint(&v, 1) != Some(seq) {
            return Err(format!(
                "Mod {action} of {target}: expected Error {code}, got {}",
                show(&v)
            ));
        }
    }
    a.send(&targets(20, &ch, 3, 10, None))?;
    a.expect_error(100, Some(20))
        .map_err(|e| format!("Targets of action 3: {e}"))?;
    Ok(Pass)
}

/// §4 Presence: a watcher of an ID nobody holds sees it offline (and, where Meta says, not
/// an account); then `online` when it connects, `away NOTE`, nothing for a SetPresence that
/// changes nothing (though its sender gets its reply), the note in a new watcher's Meta,
/// `online` when it is back (a note sent with it ignored) and `offline` when its last
/// connection closes.
pub(super) fn presence_is_told_as_it_changes_and_only_then(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut w, _) = x.client("prw")?;
    let watched = x.user("prx");
    let meta = w.sub(&watched, 2)?;
    match (uint(&meta, 44), get(&meta, 57)) {
        (None, _) => return Ok(Verdict::Skip("Sub to a user ID gives no presence".into())),
        (Some(0), None | Some(Value::Bool(false))) => {}
        _ => {
            return Err(format!(
                "Meta of an ID nobody holds: expected presence 0 and no account, got {}",
                diag(&meta)
            ));
        }
    }
    let mut p = x.raw()?;
    p.ident(&watched)?;
    told(&w.event()?, &watched, &watched, "online", PRESENCE)?;
    let away = |seq| map(&[(0, u(SET_PRESENCE)), (1, u(seq)), (10, t("lunch")), (44, u(2))]);
    for seq in [3, 4] {
        let echo = match ask(&mut p, &away(seq))? {
            Ok(v) => v,
            Err(skip) => return Ok(skip),
        };
        check_event(&echo, &watched, &watched, "away lunch")?;
        if uint(&echo, 1) != Some(seq) {
            return Err(format!(
                "SetPresence {seq}: expected its echo, got {}",
                show(&echo)
            ));
        }
        if seq == 3 {
            told(&w.event()?, &watched, &watched, "away lunch", PRESENCE)?;
        }
    }
    nothing_before_a_pong(&mut w, "a watcher, after a SetPresence that changed nothing,")?;
    let (mut w2, _) = x.client("prv")?;
    let meta = w2.sub(&watched, 2)?;
    if (uint(&meta, 44), text(&meta, 10)) != (Some(2), Some("lunch")) {
        return Err(format!(
            "a new watcher's Meta: expected presence 2 and reason lunch, got {}",
            diag(&meta)
        ));
    }
    // Back takes no note (§4 Presence): one sent with it is ignored, and watchers get `online`.
    p.send(&map(&[
        (0, u(SET_PRESENCE)),
        (1, u(5)),
        (10, t("back")),
        (44, u(1)),
    ]))?;
    p.reply()?;
    for c in [&mut w, &mut w2] {
        told(&c.event()?, &watched, &watched, "online", PRESENCE)?;
    }
    p.send(&map(&[(0, u(2)), (9, u(0))]))?;
    drop(p);
    told(&w.event()?, &watched, &watched, "offline", PRESENCE)?;
    Ok(Pass)
}

/// §4 Presence and its key: SetPresence's `presence` is 1 or 2 (0 and 3 are `malformed`, 100),
/// absent `missing_field` (104), and a note over 256 bytes `field_too_long` (304).
pub(super) fn set_presence_refuses_what_it_cannot_say(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("spf")?;
    let bad = [
        (vec![(44, u(0))], 100),
        (vec![(44, u(3))], 100),
        (vec![(10, t("no presence"))], 104),
        (vec![(10, t(&"n".repeat(257))), (44, u(2))], 304),
    ];
    for (seq, (fields, code)) in (3..).zip(bad) {
        let mut pairs = vec![(0, u(SET_PRESENCE)), (1, u(seq))];
        pairs.extend(fields);
        let v = match ask(&mut c, &map(&pairs))? {
            Ok(v) => v,
            Err(skip) => return Ok(skip),
        };
        refused(&v, code, seq, &format!("SetPresence {seq}"))?;
    }
    Ok(Pass)
}

/// §4 Sub (Unsub's `reason`) and Joins and leaves: a reason over 256 bytes is 304 and changes
/// nothing; a muted member's reason is not said (`left`, not `left REASON`).
pub(super) fn an_unsub_reason_is_said_only_where_the_user_may_speak(x: &Ctx) -> Result<Verdict, Fail> {
    let mut a = x.raw()?;
    let owner = x.user("ura");
    if let Err(skip) = asking(&mut a, &owner, 54, "joins")? {
        return Ok(skip);
    }
    let ch = x.channel("ur");
    a.sub(&ch, 2)?;
    let (mut b, member) = x.client("urb")?;
    b.sub(&ch, 2)?;
    told(&a.event()?, &member, &ch, "joined", MEMBER)?;
    let leave = |seq, reason: &str| map(&[(0, u(9)), (1, u(seq)), (2, t(&ch)), (10, t(reason))]);
    b.send(&leave(3, &"r".repeat(257)))?;
    b.expect_error(304, Some(3))?;
    nothing_before_a_pong(&mut a, "the owner, after an Unsub refused,")?;
    match ask(&mut a, &moderate(3, &ch, 4, &member))? {
        Ok(v) if kind(&v) == Some(7) => {}
        Ok(v) => return Err(format!("mute {member}: {}", show(&v))),
        Err(skip) => return Ok(skip),
    }
    b.send(&leave(4, "you will hear this"))?;
    b.reply()?;
    told(&a.event()?, &member, &ch, "left", MEMBER)
        .map_err(|e| format!("a muted member's leave with a reason: {e}"))?;
    Ok(Pass)
}

/// §4 Joins and leaves: in a channel with private members (mode 8) only the connections that
/// run it are told of joins and leaves; a member that asked for them is not.
pub(super) fn joins_in_a_private_members_channel_are_told_to_who_runs_it(x: &Ctx) -> Result<Verdict, Fail> {
    let mut a = x.raw()?;
    if let Err(skip) = asking(&mut a, &x.user("pja"), 54, "joins")? {
        return Ok(skip);
    }
    let ch = x.channel("pj");
    a.sub(&ch, 2)?;
    if let Err(skip) = with_modes(&mut a, &ch, 8)? {
        return Ok(skip);
    }
    let (mut m, member) = (x.raw()?, x.user("pjm"));
    if asking(&mut m, &member, 54, "joins")?.is_err() {
        return Err("joins granted to one connection, not to the next".into());
    }
    m.sub(&ch, 2)?;
    told(&a.event()?, &member, &ch, "joined", MEMBER)?;
    let (mut j, joiner) = x.client("pjj")?;
    j.sub(&ch, 2)?;
    told(&a.event()?, &joiner, &ch, "joined", MEMBER)?;
    j.send(&map(&[(0, u(9)), (1, u(3)), (2, t(&ch))]))?;
    j.reply()?;
    told(&a.event()?, &joiner, &ch, "left", MEMBER)?;
    nothing_before_a_pong(&mut m, "a member of a channel with private members")?;
    Ok(Pass)
}
