//! `scalard salvage FILE`: what can still be read of a damaged store, written into a new file
//! (store/sqlite/salvage.rs says how), which `scalard restore` then puts in place. Without it,
//! a damaged store's only way back was the latest backup, and everything stored since was
//! lost. The file is written as a backup is (store/backup.rs): mode 0600, under a name of its
//! own until it is whole and checked.

use super::backup::{copy_out, holds};
use super::sqlite::salvage::{self, Gap, Marked, Salvage};
use crate::civil::utc_words;
use std::path::Path;
use std::time::Instant;

/// Copies what can be read of the store `db_file` in `dir` into `target` (a new file, or a new
/// file in that directory). A server may run there. Returns what it did, lost rows first.
pub fn salvage(dir: &Path, db_file: &str, target: &Path, now_ms: u64) -> Result<String, String> {
    let started = Instant::now();
    let source = dir.join(db_file);
    let (s, summary, target) = copy_out(&source, (target, "salvaged"), now_ms, |from, to| {
        salvage::copy_into(from, to, now_ms)
    })?;
    let mut lines = vec![format!(
        "salvaged {} into {} in {:.1} s (mode 0600): {} copied",
        source.display(),
        target.display(),
        started.elapsed().as_secs_f64(),
        holds(&summary),
    )];
    lines.extend(losses(&s));
    if lines.len() == 1 {
        lines.push(
            "nothing was unreadable: every row was copied and every index made anew (damage \
             in an index is mended so)"
                .into(),
        );
    }
    lines.push(format!(
        "to put it in place: stop the server, then scalard restore {} with the same --data-dir \
         or --config (the damaged store is kept aside)",
        target.display()
    ));
    Ok(lines.join("\n"))
}

/// What `n` (a number, "at most N" or "some") rows of `table` are, in words.
fn records(table: &str, n: &str) -> String {
    match table {
        "events" => format!("{n} messages"),
        "topics" => format!("the records of {n} channels and users (their messages are left out)"),
        "threads" => format!("the records of {n} conversations (made again from their messages)"),
        "meta" => "the store's own record (made again from what was read)".into(),
        "accounts" => format!("{n} accounts"),
        "state" => format!("{n} channel settings, bans or motds"),
        "forgotten" => "some of the horizons of forgotten topics (all now have the salvage's time)".into(),
        other => format!("{n} rows of {other}"),
    }
}

/// "at most N" rows between the numbered keys on either side of `gap`, or "some".
fn up_to(gap: &Gap) -> String {
    match gap.numbers() {
        (Some(a), Some(b)) => format!("at most {}", b.saturating_sub(a).saturating_sub(1)),
        _ => "some".into(),
    }
}

/// The positions of the messages `gap` lost.
fn positions(gap: &Gap) -> String {
    match gap.numbers() {
        (Some(a), Some(b)) => format!("at positions {} to {}", a + 1, b - 1),
        (Some(a), None) => format!("after position {a} (the newest)"),
        (None, Some(b)) => format!("before position {b} (the oldest)"),
        (None, None) => "all of them".into(),
    }
}

/// What the salvage lost or changed, a line each.
fn losses(s: &Salvage) -> Vec<String> {
    let mut lines = Vec::new();
    for t in &s.tables {
        for gap in &t.lost {
            let n = up_to(gap);
            lines.push(match t.table {
                "events" => format!("lost: {n} messages, {}", positions(gap)),
                "accounts" => format!("lost: accounts: {gap}, by name"),
                "state" => format!("lost: channel settings, bans or the motd: {gap}, by key"),
                table => format!("lost: {}", records(table, &n)),
            });
        }
        if t.refused > 0 {
            let n = t.refused.to_string();
            lines.push(format!(
                "lost, read with damaged values: {}",
                records(t.table, &n)
            ));
        }
    }
    if s.orphans > 0 {
        lines.push(format!(
            "lost: {} messages whose channel's or user's row was lost",
            s.orphans
        ));
    }
    if s.threads_remade > 0 {
        lines.push(format!(
            "made again: {} conversations, from their messages",
            s.threads_remade
        ));
    }
    match s.marked {
        Marked::None => {}
        Marked::Some(n, t) => lines.push(format!(
            "catch-ups of the {} that lost messages now say history before {} may be missing \
             (the time of the first message kept after the loss, or of the salvage)",
            match n {
                1 => "topic".to_string(),
                n => format!("{n} topics"),
            },
            match n {
                1 => utc_words(t),
                _ => format!("the latest {}", utc_words(t)),
            }
        )),
        Marked::All(t) => lines.push(format!(
            "catch-ups of every topic now say that history before {} may be missing (the \
             damaged store could not say which topics lost messages)",
            utc_words(t)
        )),
    }
    if s.version < super::sqlite::SCHEMA_VERSION {
        lines.push(format!(
            "the damaged store had schema version {}; the copy has this scalard's",
            s.version
        ));
    }
    lines
}
