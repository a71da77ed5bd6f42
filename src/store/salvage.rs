//! `scalard salvage FILE`: what can still be read of a damaged store, written into a new file
//! (store/sqlite/salvage.rs says how), which `scalard restore` then puts in place. Without it,
//! a damaged store's only way back was the latest backup, and everything stored since was
//! lost. The file is written as a backup is (store/backup.rs): mode 0600, under a name of its
//! own until it is whole and checked.

use super::StoreError;
use super::backup::{copy_out, holds};
use super::sqlite::Db;
use super::sqlite::salvage::{self, Gap, Marked, Salvage};
use crate::civil::utc_words;
use std::path::Path;
use std::time::Instant;

/// Copies what can be read of the store `db_file` in `dir` into `target` (a new file, or a new
/// file in that directory). A server may run there. Returns what it did, lost rows first.
pub fn salvage(dir: &Path, db_file: &str, target: &Path, now_ms: u64) -> Result<String, String> {
    let started = Instant::now();
    let source = dir.join(db_file);
    let (s, summary, target) = copy_out(
        &source,
        (target, "salvaged", "cannot salvage into"),
        now_ms,
        // Read by the salvage itself: a store cut short is read from a whole-length copy that
        // it first makes beside the target. Opened once here all the same, read-only, so that
        // a store that cannot be opened at all (another user's, an empty file, another
        // program's database) is said as the store's, with the data directory's hints, before
        // the copy's file is made (found by QA: it was said as the target's, `cannot salvage
        // into DIR/salvaged-TIME.db: ...`). Damage is the salvage's to read past: a file cut
        // short already fails this open, and is read once made whole.
        (
            |from: &Path| match Db::inspect(from) {
                Ok(_) | Err(StoreError::Damaged(_)) => Ok(from.to_path_buf()),
                Err(e) => Err(e),
            },
            |from: std::path::PathBuf, to: &Path| salvage::copy_into(&from, to, now_ms),
        ),
    )?;
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

/// What `n` rows of `table` are, in words: `n` is how many if known (at most how many, if
/// `bound`), else "some".
fn records(table: &str, n: Option<u64>, bound: bool) -> String {
    let at_most = if bound { "at most " } else { "" };
    let some = |one: &str, many: &str| match n {
        Some(1) => format!("{at_most}1 {one}"),
        Some(n) => format!("{at_most}{n} {many}"),
        None => format!("some {many}"),
    };
    match table {
        "events" => some("message", "messages"),
        "topics" => format!(
            "the records of {} (the channels' messages are left out; users' records are made \
             again from their conversations, where read)",
            some("channel or user", "channels and users")
        ),
        "threads" => format!(
            "the records of {} (made again from their messages, where read)",
            some("conversation", "conversations")
        ),
        "meta" => "the store's own record (made again from what was read)".into(),
        "accounts" => some("account", "accounts"),
        "state" => some("channel setting, ban or motd", "channel settings, bans or motds"),
        "forgotten" => "horizons of forgotten topics (all now have the salvage's time)".into(),
        other => format!("{} of {other}", some("row", "rows")),
    }
}

/// At most how many rows lie between the numbered keys on either side of `gap` (keys are
/// never negative), if the later one is known.
fn up_to(gap: &Gap) -> Option<u64> {
    match gap.numbers() {
        (a, Some(b)) => u64::try_from(b.saturating_sub(a.unwrap_or(-1)).saturating_sub(1)).ok(),
        _ => None,
    }
}

/// The messages `gap` lost, with their positions.
fn lost_messages(gap: &Gap) -> String {
    let n = records("events", up_to(gap), true);
    match gap.numbers() {
        (Some(a), Some(b)) if b - a == 2 => format!("{n}, at position {}", a + 1),
        (Some(a), Some(b)) => format!("{n}, at positions {} to {}", a + 1, b - 1),
        (Some(a), None) => format!("{n}, after position {a} (the newest)"),
        (None, Some(b)) => format!("{n}, before position {b} (the oldest)"),
        (None, None) => "every message (none could be read)".into(),
    }
}

/// A key that is text, as the report names it.
fn text_key(k: &rusqlite::types::Value) -> Option<&str> {
    match k {
        rusqlite::types::Value::Text(t) => Some(t),
        _ => None,
    }
}

/// What the salvage lost or changed, a line each.
fn losses(s: &Salvage) -> Vec<String> {
    let mut lines = Vec::new();
    for t in &s.tables {
        for gap in &t.lost {
            lines.push(match t.table {
                "events" => format!("lost: {}", lost_messages(gap)),
                "accounts" => format!("lost: accounts: {gap}, by name"),
                "state" => format!("lost: channel settings, bans or the motd: {gap}, by key"),
                table => format!("lost: {}", records(table, up_to(gap), true)),
            });
        }
        if t.refused > 0 {
            // Keyed by name: the names are what the operator makes again (review).
            let names: Vec<&str> = match t.table {
                "accounts" | "state" => t.spoilt.iter().filter_map(text_key).take(10).collect(),
                _ => Vec::new(),
            };
            let named = match names.is_empty() {
                true => String::new(),
                false => format!(" ({})", names.join(", ")),
            };
            lines.push(format!(
                "lost, read with damaged values: {}{named}",
                records(t.table, Some(t.refused), false)
            ));
        }
    }
    // The names are what the operator must make again, and with every row lost the report
    // names none (found by QA): a backup does.
    if s.tables
        .iter()
        .any(|t| t.table == "accounts" && !t.lost.is_empty())
    {
        lines.push(
            "to name the accounts lost: restore the latest backup into an empty directory (scalard \
             restore FILE --data-dir DIR) and run scalard account list --data-dir DIR there; make \
             them again before the server starts, or their names are free to take"
                .into(),
        );
    }
    if s.orphans > 0 {
        lines.push(format!(
            "lost: {} whose channel's record was lost",
            records("events", Some(s.orphans), false)
        ));
    }
    if let Some(t) = s.unknown_horizon {
        lines.push(format!(
            "channels and users the copy has no record of now answer catch-ups with a horizon \
             of {}: some of theirs may be lost",
            utc_words(t)
        ));
    }
    if s.threads_remade > 0 {
        lines.push(format!(
            "made again: {} conversations' records, from their messages",
            s.threads_remade
        ));
    }
    if s.users_remade > 0 {
        lines.push(format!(
            "made again: {} users' records, from their conversations",
            s.users_remade
        ));
    }
    match s.marked {
        Marked::None => {}
        Marked::Some(1, t) => lines.push(format!(
            "catch-ups of the topic that lost messages now say history before {} may be \
             missing (its first message kept after the loss, or the salvage's time)",
            utc_words(t)
        )),
        Marked::Some(n, t) => lines.push(format!(
            "catch-ups of the {n} topics that lost messages now say history may be missing \
             before each one's first message kept after the loss (the latest {})",
            utc_words(t)
        )),
        Marked::Unsure(n, u, t) => lines.push(format!(
            "catch-ups of {n} {} now say history may be missing before each one's first \
             message kept after the loss (the latest {}): {u} of them in case, as the damaged \
             store's topic index could not say whether they lost messages",
            if n == 1 { "topic" } else { "topics" },
            utc_words(t)
        )),
    }
    if let Some((missing, pages)) = s.cut_short {
        lines.push(format!(
            "the file was cut short: its last {missing} of {pages} pages were missing, read as \
             empty"
        ));
    }
    if s.version < super::sqlite::SCHEMA_VERSION {
        lines.push(format!(
            "the damaged store had schema version {}; the copy has this scalard's",
            s.version
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::salvage::Copied;

    /// A lost page of accounts is said with where to find the names, which the report cannot
    /// give when every row went (found by QA).
    #[test]
    fn lost_accounts_are_said_with_where_to_find_their_names() {
        let table = |table, lost: Vec<Gap>| Copied {
            table,
            rows: 0,
            refused: 0,
            spoilt: Vec::new(),
            lost,
        };
        let every = Gap {
            after: None,
            before: None,
        };
        let s = |lost| Salvage {
            version: crate::store::sqlite::SCHEMA_VERSION,
            tables: vec![table("events", Vec::new()), table("accounts", lost)],
            orphans: 0,
            threads_remade: 0,
            users_remade: 0,
            cut_short: None,
            unknown_horizon: None,
            marked: Marked::None,
        };
        let said = losses(&s(vec![every]));
        assert!(
            said.iter().any(|l| l == "lost: accounts: every row, by name"),
            "{said:?}"
        );
        assert!(
            said.iter()
                .any(|l| l.contains("scalard account list --data-dir DIR")),
            "{said:?}"
        );
        assert!(losses(&s(Vec::new())).is_empty());
    }
}
