//! `/list` (the server's channels, with their subscribers and topic lines), `/who` (the
//! current channel's members and their roles), and `/ban`, `/mute`, `/op`, `/voice`,
//! `/invite`, `/sban` and `/block` alone (a channel's lists, the server's bans, one's blocks),
//! and `/conversations`: lists the server pages by a name cursor ([`crate::listing`]).

use super::shared::{Shared, Want};
use crate::listing::{self, Listed};
use crate::names;
use crate::render::clean_line;
use scalar::proto::{Action, Msg, Name, Role};

/// The most pages of 100 either list reads: 10,000 entries are more than a screen can use.
const MAX_PAGES: u32 = 100;

/// "(and 12 more not listed)" after a list cut short.
fn more<T>(l: &Listed<T>) -> String {
    let left = (l.total as usize).saturating_sub(l.items.len());
    if l.cut && left > 0 {
        format!(" (and {left} more not listed)")
    } else {
        String::new()
    }
}

/// What a list's heading says of its query, and what follows the list: ` holding "rust"`, and
/// whether more may match; without a query, how many more were not listed. (The total counts
/// every entry, not the matches: PROTOCOL.md §4, Topics and Members.)
fn holding<T>(query: Option<&str>, list: &Listed<T>) -> (String, String) {
    match query {
        Some(q) if list.cut => (
            format!(" holding \"{q}\""),
            " (more may: the search was cut short)".into(),
        ),
        Some(q) => (format!(" holding \"{q}\""), String::new()),
        None => (String::new(), more(list)),
    }
}

/// `/list [TEXT]`: one line per channel (that matches TEXT), `#rust*  12  Rust ☕: topic line`
/// (`*`: joined; the display name, if any, before the topic line).
pub fn topics(shared: &Shared, query: Option<&str>) -> Result<(), String> {
    // Said as it is looked for (`/list *` lists every channel, under no "holding").
    let query = query.and_then(listing::looked_for);
    let list = listing::channels(MAX_PAGES, query, |t| {
        shared.request(Want::Reply, |seq| Msg::Topics(scalar::proto::Topics { seq, ..t }))
    })
    .map_err(|e| format!("list: {e}"))?;
    if list.items.is_empty() {
        shared.screen.info(match (query, list.cut) {
            (None, _) => "no channels to list (/join one to enter it, or to create it)".into(),
            (Some(q), false) => format!("no channel's name, display name or topic line holds \"{q}\""),
            (Some(q), true) => format!("no channel found that holds \"{q}\" (the search was cut short)"),
        });
        return Ok(());
    }
    let mut st = shared.state();
    let rows: Vec<(String, String, String)> = list
        .items
        .iter()
        .map(|c| {
            let mark = if st.subs.contains(&c.name) { "*" } else { "" };
            let count = c.subscribers.map_or_else(|| "?".to_string(), |n| n.to_string());
            let about = match (c.display.is_empty(), c.subject.is_empty()) {
                (true, _) => clean_line(&c.subject),
                (false, true) => clean_line(&c.display),
                (false, false) => format!("{}: {}", clean_line(&c.display), clean_line(&c.subject)),
            };
            (
                format!("{}{mark}", names::short(&c.name, &st.domain)),
                count,
                about,
            )
        })
        .collect();
    st.learn_topics(list.items.iter().map(|c| c.name.clone()));
    drop(st);
    let name_width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let count_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let (matching, more) = holding(query, &list);
    shared.screen.info(format!(
        "{} channel(s){matching}, * = joined, with how many are connected{more}:",
        list.items.len(),
    ));
    for (name, count, about) in rows {
        let line = format!("   {name:<name_width$}  {count:>count_width$}  {about}");
        shared.screen.line(line.trim_end());
    }
    Ok(())
}

/// `/who [TEXT]`: the members of a joined channel (whose ID holds TEXT) on one line,
/// operators and voiced marked. `lone`: TEXT was a lone word, which could have been meant for
/// a channel's name.
pub fn who(shared: &Shared, channel: &str, query: Option<&str>, lone: bool) -> Result<(), String> {
    let topic = Name::parse(channel).map_err(|e| format!("{channel}: {e}"))?;
    let domain = shared.state().domain.clone();
    let short = names::short(channel, &domain);
    let query = query.and_then(listing::looked_for);
    let list = listing::members(topic, MAX_PAGES, query, |m| {
        shared.request(Want::Reply, |seq| {
            Msg::Members(scalar::proto::Members { seq, ..m })
        })
    })
    .map_err(|e| format!("cannot list the members of {short}: {e}"))?;
    if let Some(q) = query
        && list.items.is_empty()
    {
        // A word that names no joined channel was looked for (review: say so).
        let hint = match lone {
            true => format!(" (nor is #{q} a channel you joined)"),
            false => String::new(),
        };
        shared.screen.info(match list.cut {
            false => format!("no member of {short} holds \"{q}\" in their ID{hint}"),
            true => format!("no member of {short} found that holds \"{q}\" (the search was cut short)"),
        });
        return Ok(());
    }
    let shown: Vec<String> = list
        .items
        .iter()
        .map(|m| {
            let id = names::short(&m.id, &domain);
            match m.role {
                Role::Member => id.to_string(),
                role => format!("{id} ({})", role.label()),
            }
        })
        .collect();
    let (holding, more) = holding(query, &list);
    shared.screen.info(format!(
        "{} in {short}{holding}: {}{more}",
        list.items.len(),
        shown.join(", "),
    ));
    Ok(())
}

/// Whose list [`targets`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Of<'a> {
    /// This channel's.
    Channel(&'a str),
    /// The server's bans (`/sban` alone).
    Server,
    /// One's own blocks (`/block` alone).
    Blocks,
}

/// `/ban`, `/mute`, `/op`, `/voice` or `/invite` alone: a channel's list that the
/// action adds to, on one line; `/sban` alone: the server's bans; `/block` alone: one's blocks.
pub fn targets(shared: &Shared, action: Action, of: Of<'_>) -> Result<(), String> {
    let (me, domain) = {
        let st = shared.state();
        (st.user.clone(), st.domain.clone())
    };
    let topic = match of {
        Of::Server => format!("!server@{domain}"),
        Of::Blocks => me,
        Of::Channel(channel) => channel.to_string(),
    };
    let name = Name::parse(&topic).map_err(|e| format!("{topic}: {e}"))?;
    let short = names::short(&topic, &domain);
    // (one, many, where)
    let (one, many, place) = match (action, of) {
        (_, Of::Server) => ("server ban", "server bans", String::new()),
        (_, Of::Blocks) => ("block", "blocks", " of yours".to_string()),
        (Action::Ban, _) => ("ban", "bans", format!(" in {short}")),
        (Action::Mute, _) => ("mute", "mutes", format!(" in {short}")),
        (Action::Op, _) => ("operator", "operators", format!(" of {short}")),
        (Action::Voice, _) => ("user with a voice", "users with a voice", format!(" in {short}")),
        (Action::Except, _) => ("ban exception", "ban exceptions", format!(" in {short}")),
        _ => ("invitation", "invitations", format!(" to {short}")),
    };
    let list = listing::targets(name, action, MAX_PAGES, |t| {
        shared.request(Want::Reply, |seq| {
            Msg::Targets(scalar::proto::Targets { seq, ..t })
        })
    })
    .map_err(|e| match of {
        Of::Blocks => format!("cannot list your blocks: {e}"),
        _ => format!("cannot list the {many}{place}: {e}"),
    })?;
    if list.items.is_empty() {
        shared.screen.info(format!("no {many}{place}"));
        return Ok(());
    }
    let shown: Vec<String> = list
        .items
        .iter()
        .map(|t| {
            let entry = names::short_target(&t.entry, &domain);
            // An ID banned or muted exactly holds guests from its address too (PROTOCOL.md
            // §4, Mod), when the server knows it (scalard: for a guest always, by the mark in
            // its ID, and for blocks too; for another ID, if it was connected then): the list
            // shows neither, so say that it may, or the operator cannot tell why others from
            // there are held.
            let exact = |e: &str| !e.contains('*');
            let guest = of != Of::Server
                && matches!(action, Action::Ban | Action::Mute)
                && exact(&t.entry)
                && (matches!(of, Of::Channel(_)) || t.entry.starts_with(scalar::server::GUEST_PREFIX));
            let notes: Vec<String> = [
                (!t.reason.is_empty()).then(|| clean_line(&t.reason)),
                t.until.map(|u| {
                    format!(
                        "until {}",
                        crate::timefmt::local_datetime_zoned(crate::timefmt::ceil_second(u))
                    )
                }),
                // Who and when, as IRC's ban list says.
                t.by.as_deref().map(|by| {
                    let by = names::short_target(by, &domain);
                    match t.at {
                        Some(at) => format!("by {by} at {}", crate::timefmt::local_datetime_zoned(at)),
                        None => format!("by {by}"),
                    }
                }),
                guest.then(|| "and guests from its address, if the server knew it".to_string()),
            ]
            .into_iter()
            .flatten()
            .collect();
            match notes.is_empty() {
                true => entry.to_string(),
                false => format!("{entry} ({})", notes.join("; ")),
            }
        })
        .collect();
    let what = if list.items.len() == 1 { one } else { many };
    shared.screen.info(format!(
        "{} {what}{place}: {}{}",
        list.items.len(),
        shown.join(", "),
        more(&list)
    ));
    Ok(())
}

/// `/conversations [since WHEN]`: the user's conversations, newest first, one a line with
/// when its newest message came (with WHEN, those with messages since then): how a
/// conversation another device began is found, then opened with `/msg`.
pub fn conversations(shared: &Shared, since: Option<u64>) -> Result<(), String> {
    let list = listing::conversations(MAX_PAGES, since, |c| {
        shared.request(Want::Reply, |seq| {
            Msg::Conversations(scalar::proto::Conversations { seq, ..c })
        })
    })
    .map_err(|e| format!("cannot list your conversations: {e}"))?;
    let since_words = since.map(|t| format!(" since {}", crate::timefmt::local_datetime(t)));
    let since_words = since_words.unwrap_or_default();
    let mut list = match list {
        Ok(list) => list,
        Err(why) => {
            shared.screen.info(why.said());
            return Ok(());
        }
    };
    if list.items.is_empty() {
        shared.screen.info(format!("no conversations{since_words}"));
        return Ok(());
    }
    list.items
        .sort_by(|a, b| b.newest.cmp(&a.newest).then_with(|| a.with.cmp(&b.with)));
    let domain = shared.state().domain.clone();
    let rows: Vec<(String, String)> = (list.items.iter())
        .map(|c| {
            (
                names::short(&c.with, &domain).to_string(),
                crate::timefmt::local_datetime(c.newest),
            )
        })
        .collect();
    let more = match list.cut {
        true => " (more not listed)",
        false => "",
    };
    let count = match rows.len() {
        1 => "1 conversation".to_string(),
        n => format!("{n} conversations"),
    };
    shared.screen.info(format!(
        "{count}{since_words}, newest first{more}; /msg ID opens one:"
    ));
    let width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    for (with, at) in rows {
        shared.screen.line(format!("   {with:<width$}  {at}"));
    }
    Ok(())
}
