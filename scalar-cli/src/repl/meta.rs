//! `/topic`, `/meta` and `/mode`: what the server says of a channel (the current one, or the one
//! named first) (its Meta:
//! display name, topic line, creation time, modes, rate, your role) and an operator's changes
//! to it (SetMeta, PROTOCOL.md §4).
//!
//! The Meta is read with a Sub, which on a joined channel changes nothing (Sub is idempotent)
//! and is answered by the Meta. A change is checked against it first: the server records only
//! what changes, so setting what is already there would otherwise show nothing at all.

use super::command::MetaSet;
use super::shared::{Shared, Want};
use crate::names;
use crate::render::clean_line;
use crate::timefmt::local_datetime;
use scalar::proto::{Msg, Name, Role, SetMeta, Sub};

/// A channel's Meta, owned.
#[derive(Debug, Clone, Default)]
struct Described {
    subscribers: u64,
    display: String,
    subject: String,
    created: Option<u64>,
    modes: Option<u64>,
    rate: Option<u64>,
    join_rate: Option<u64>,
    role: Option<Role>,
    kept: Option<bool>,
}

/// One change SetMeta makes.
#[derive(Debug, Clone, Copy)]
enum Change<'a> {
    Display(&'a str),
    Subject(&'a str),
    Modes(u64),
    Rate(u64),
    JoinRate(u64),
}

/// `channel`'s Meta.
fn described(shared: &Shared, channel: &str) -> Result<(String, Described), String> {
    let channel = channel.to_string();
    let topic = Name::parse(&channel).map_err(|e| format!("{channel}: {e}"))?;
    let frame = shared
        .request(Want::Reply, |seq| Msg::Sub(Sub { seq, topic }))
        .map_err(|e| format!("cannot read {channel}: {e}"))?;
    let Ok(Msg::Meta(m)) = frame.msg() else {
        return Err(format!(
            "cannot read {channel}: the server answered with something else"
        ));
    };
    let d = Described {
        subscribers: m.subscribers,
        display: m.display.unwrap_or_default().to_string(),
        subject: m.subject.unwrap_or_default().to_string(),
        created: m.created,
        modes: m.modes,
        rate: m.rate,
        join_rate: m.join_rate,
        role: m.role,
        kept: m.kept,
    };
    Ok((channel, d))
}

/// What `kept` means for the channel, in a few words. A server may keep only a channel where
/// something was said or set (PROTOCOL.md §4, Channels; found by QA: a channel made and left
/// unused was said to be kept).
fn kept(kept: bool) -> String {
    match kept {
        true => {
            "yes: its modes, lists and topic outlive its last member, once something is said or set in it"
                .into()
        }
        false => "no: it ends with its last member, modes, lists and all".into(),
    }
}

/// Makes `change` to `channel`, unless it already is so. The server's record of it ("you set
/// the topic: ...") says it is done.
fn change(shared: &Shared, channel: &str, now: &Described, change: Change<'_>) -> Result<(), String> {
    let (that, what, same) = match change {
        Change::Display(d) => ("that", "display name", now.display == d),
        Change::Subject(s) => ("that", "topic", now.subject == s),
        Change::Modes(b) => ("those", "modes", now.modes == Some(b)),
        Change::Rate(r) => ("that", "rate", now.rate == Some(r)),
        Change::JoinRate(r) => ("that", "join rate", now.join_rate == Some(r)),
    };
    let short = names::short(channel, &shared.state().domain).to_string();
    if same {
        let removing = matches!(change, Change::Display("") | Change::Subject(""));
        shared.screen.info(if removing {
            format!("{short} has no {what}: nothing to remove")
        } else {
            format!("{short} already has {that} {what}: nothing to change")
        });
        return Ok(());
    }
    let topic = Name::parse(channel).map_err(|e| format!("{channel}: {e}"))?;
    let mut set = SetMeta {
        seq: None,
        topic,
        display: None,
        subject: None,
        modes: None,
        rate: None,
        join_rate: None,
    };
    match change {
        Change::Display(d) => set.display = Some(d),
        Change::Subject(s) => set.subject = Some(s),
        Change::Modes(b) => set.modes = Some(b),
        Change::Rate(r) => set.rate = Some(r),
        Change::JoinRate(r) => set.join_rate = Some(r),
    }
    shared
        .request(Want::Reply, |seq| Msg::SetMeta(SetMeta { seq, ..set }))
        .map_err(|e| format!("cannot change the {what} of {short}: {e}"))?;
    Ok(())
}

/// `/topic [TEXT]`: shows the topic line, or sets it ("" removes it).
pub fn topic(shared: &Shared, channel: &str, text: Option<&str>) -> Result<(), String> {
    let (channel, now) = described(shared, channel)?;
    if let Some(t) = text {
        return change(shared, &channel, &now, Change::Subject(t));
    }
    let short = names::short(&channel, &shared.state().domain).to_string();
    shared.screen.info(if now.subject.is_empty() {
        format!("{short} has no topic (/topic TEXT sets one)")
    } else {
        format!("topic of {short}: {}", clean_line(&now.subject))
    });
    Ok(())
}

/// `/mode [CHANGE]`: shows the modes, or changes them (`+i-m`).
pub fn mode(shared: &Shared, channel: &str, typed: Option<&str>) -> Result<(), String> {
    let (channel, now) = described(shared, channel)?;
    let short = names::short(&channel, &shared.state().domain).to_string();
    let Some(bits) = now.modes else {
        return Err(format!("the server did not say the modes of {short}"));
    };
    match typed {
        Some(t) => change(
            shared,
            &channel,
            &now,
            Change::Modes(crate::modes::apply(t, bits)?),
        ),
        None => {
            let modes = crate::modes::describe(bits);
            shared.screen.info(format!("modes of {short}: {modes}"));
            Ok(())
        }
    }
}

/// `/meta [display NAME | rate N | joins N]`: shows everything the server says of the
/// channel, or sets its display name, message rate or join rate.
pub fn meta(shared: &Shared, channel: &str, set: Option<MetaSet<'_>>) -> Result<(), String> {
    let (channel, now) = described(shared, channel)?;
    match set {
        Some(MetaSet::Display(d)) => return change(shared, &channel, &now, Change::Display(d)),
        Some(MetaSet::Rate(r)) => return change(shared, &channel, &now, Change::Rate(r)),
        Some(MetaSet::JoinRate(r)) => return change(shared, &channel, &now, Change::JoinRate(r)),
        None => {}
    }
    let short = names::short(&channel, &shared.state().domain).to_string();
    let unknown = || "not said".to_string();
    shared.screen.info(if now.display.is_empty() {
        format!("{short} (no display name)")
    } else {
        format!("{short}: {}", clean_line(&now.display))
    });
    let subject = if now.subject.is_empty() {
        "none".to_string()
    } else {
        clean_line(&now.subject)
    };
    let rate = match now.rate {
        Some(0) => "no limit".to_string(),
        Some(1) => "1 message a minute per member".to_string(),
        Some(r) => format!("{r} messages a minute per member"),
        None => unknown(),
    };
    let joins = match now.join_rate {
        Some(0) => "no limit".to_string(),
        Some(r) => format!("{r} a minute of IDs the channel does not know (see /help meta)"),
        // A server older than the join rate.
        None => "no limit".to_string(),
    };
    let you = now.role.map_or_else(unknown, |r| r.label().to_string());
    for line in [
        format!("topic:    {subject}"),
        format!("created:  {}", now.created.map_or_else(unknown, local_datetime)),
        format!(
            "modes:    {}",
            now.modes.map_or_else(unknown, crate::modes::describe)
        ),
        format!("rate:     {rate}"),
        format!("joins:    {joins}"),
        format!("kept:     {}", now.kept.map_or_else(unknown, kept)),
        format!("you are:  {you}; {} connected", now.subscribers),
    ] {
        shared.screen.line(format!("   {line}"));
    }
    Ok(())
}
