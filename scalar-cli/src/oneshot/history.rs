//! `history` and `search`: a topic's past read page by page ([`crate::paging`]) and printed
//! oldest first like `listen`, then a note on standard error when the read did not simply end.

use super::{BYE_WAIT, Out, fold_topic, note, open, say_if_bare, subscribe};
use crate::args::{After, Args, MAX_READ, Span};
use crate::conn::Conn;
use crate::error::CliError;
use crate::event::Received;
use crate::paging::{self, Ask, Bounds, End, Ending, Pager};
use crate::readnote::{self, Read};
use scalar::proto::{Kind, Msg, MsgId, Name, Unsub};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// `history TOPIC [--last N] [--before ID | --since TIME | --after ID] [--json]`.
pub fn history(args: &Args, raw_topic: &str, span: Span, json: bool) -> Result<(), CliError> {
    let (bounds, limit, cap, hint) = match span {
        Span::Last { n, before } => {
            let b = Bounds {
                before,
                ..Bounds::default()
            };
            let hint = "--before the id of the oldest shown goes further back; --json shows ids";
            (b, n, false, hint)
        }
        // Forward through everything after TIME; the bound only guards against a runaway read.
        Span::Since { after, before } => {
            let (since, after) = match after {
                After::Time(t) => (Some(t), None),
                After::Id(id) => (None, Some(id)),
            };
            let b = Bounds {
                since,
                after,
                before,
                ..Bounds::default()
            };
            (
                b,
                MAX_READ,
                true,
                "--after the id of the last one shown goes on; --json shows ids",
            )
        }
    };
    read(args, raw_topic, None, bounds, (limit, cap), hint, json)
}

/// `search TOPIC WORDS... [--last N] [--json]`: the newest N matches, oldest first.
pub fn search(args: &Args, raw_topic: &str, query: &str, last: u32, json: bool) -> Result<(), CliError> {
    let hint = match last {
        MAX_READ => "/search and /more in the interactive client go further back",
        _ => "a larger --last shows more",
    };
    read(
        args,
        raw_topic,
        Some(query),
        Bounds::default(),
        (last, false),
        hint,
        json,
    )
}

/// The read both commands share. `limit` is the most Events to read, and whether that is a
/// safety cap rather than the number asked for.
fn read(
    args: &Args,
    raw_topic: &str,
    query: Option<&str>,
    bounds: Bounds,
    limit: (u32, bool),
    hint: &str,
    json: bool,
) -> Result<(), CliError> {
    let mut conn = open(args)?;
    let bounds = Bounds {
        since: bounds.since.map(|t| args.on_server_clock(t, conn.skew_ms)),
        ..bounds
    };
    let topic = fold_topic(raw_topic, &conn)?;
    let name = Name::parse(&topic).map_err(|e| CliError::Usage(format!("{topic}: {e}")))?;
    // Found by QA: `history bob` read the channel #bob without a word.
    say_if_bare(raw_topic, &topic, "reading", "a conversation");
    // Only subscribers may read a channel's history (PROTOCOL.md §4): subscribe, read, leave.
    let channel = name.kind() == Kind::Channel;
    if channel {
        subscribe(&mut conn, &topic, args.timeout)?;
    }
    let mut pager = Pager::new(name, query, bounds, limit.0, limit.1);
    let mut out = Out::new();
    let timeout = args.timeout;
    let ending = paging::read(
        &mut pager,
        |ask| fetch(&mut conn, ask, timeout),
        |e| Ok::<_, CliError>(out.event(&e, json)?.is_ok()),
    )?;
    let Some(ending) = ending else {
        // Standard output was closed: stop quietly, as `listen` does.
        conn.bye(None, BYE_WAIT);
        return Ok(());
    };
    if channel {
        conn.request(args.timeout, |seq| {
            Msg::Unsub(Unsub {
                seq,
                topic: name,
                reason: None,
            })
        })?;
    }
    let shown = crate::names::history_of(&topic, &conn.user, "");
    conn.bye(None, BYE_WAIT);
    let r = Read {
        topic: &shown,
        query,
        hint,
        continued: false,
        confirm: false,
        quiet_if_none: false,
    };
    say_notes(&pager, ending, &r)?;
    // What came before the refusal is out; the refusal is still the run's end (exit 4).
    match pager.refused {
        Some(e) => Err(CliError::Net(e)),
        None => Ok(()),
    }
}

/// `listen TOPIC --after ID | --since TIME`, after subscribing: prints what `topic` got since,
/// through `each` (false stops), so that a listener restarted after the last id it kept misses
/// nothing. Returns the ids it printed, as Events published after the Sub are also waiting as
/// live ones; `None` if `each` stopped it. A read that could not cover everything says so and
/// the listening goes on; an id the server does not have is an error, as for `history`. A
/// server that keeps no history says so, unless `unasked` (the catch-up was not asked for).
pub(super) fn catch_up(
    conn: &mut Conn,
    timeout: Duration,
    topic: &str,
    (from, or_since): (After, Option<u64>),
    unasked: bool,
    mut each: impl FnMut(&Received) -> Result<bool, CliError>,
) -> Result<Option<HashSet<MsgId>>, CliError> {
    let name = Name::parse(topic).map_err(|e| CliError::Usage(format!("{topic}: {e}")))?;
    let bounds = match from {
        After::Time(t) => Bounds {
            since: Some(t),
            ..Bounds::default()
        },
        After::Id(id) => Bounds {
            after: Some(id),
            ..Bounds::default()
        },
    };
    let mut pager = Pager::new(name, None, bounds, MAX_READ, true);
    let mut shown = HashSet::new();
    let ending = paging::read(
        &mut pager,
        |ask| fetch(conn, ask, timeout),
        |e| {
            shown.insert(e.id);
            each(&e)
        },
    )?;
    let Some(ending) = ending else { return Ok(None) };
    if let (Ending::UnknownId, Some(since)) = (ending, or_since) {
        let when = crate::timefmt::local_datetime_zoned(since);
        note(&format!(
            "the server does not have that message in {topic}: reading what it got since {when} instead"
        ));
        return catch_up(conn, timeout, topic, (After::Time(since), None), unasked, each);
    }
    if unasked && ending == Ending::Unavailable {
        return Ok(Some(shown));
    }
    let hint = format!(
        "`scalar-cli history {topic} --after ID` reads them, ID the last one shown (--json shows ids)"
    );
    let r = Read {
        topic,
        query: None,
        hint: &hint,
        continued: false,
        confirm: false,
        // Nothing missed needs no word; what was deleted does (review).
        quiet_if_none: true,
    };
    say_notes(&pager, ending, &r)?;
    if let Some(e) = pager.refused {
        note(&e.to_string());
    }
    Ok(Some(shown))
}

/// Says on standard error how the read `r` ended; an id the server does not have is the run's
/// error instead: no use to this server, so a script must not take it for success.
fn say_notes(pager: &Pager<'_>, ending: Ending, r: &Read<'_>) -> Result<(), CliError> {
    let notes = readnote::notes(pager, ending, r);
    if ending == Ending::UnknownId {
        return Err(CliError::Input(notes.join("; ")));
    }
    notes.iter().for_each(|n| note(n));
    Ok(())
}

/// Sends one Catchup or Search and collects its page, within `timeout`. Live Events of the
/// subscription are skipped.
fn fetch(conn: &mut Conn, ask: Ask<'_>, timeout: Duration) -> Result<(Vec<Received>, End), CliError> {
    let seq = conn.seq();
    conn.send(&ask.msg(Some(seq)))?;
    let deadline = Instant::now() + timeout;
    paging::page(|| Ok(conn.reply(seq, deadline)?))
}
