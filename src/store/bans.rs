//! `scalard ban`: the server bans admins set with Mod on `!server@DOMAIN`, listed and lifted
//! straight on the database file — the way back in after a ban that shut the admins out too.
//!
//! Lifting one needs the data directory's lock (see [`super::lock`]): a running scalard holds
//! its bans in memory, would go on applying the lifted one, and would save its own list back
//! over the edit at its next change. Listing works beside a running server.

use super::admin::{open_existing, open_reading};
use super::lock::{DirLock, LockError};
use super::sqlite::Db;
use crate::server::{
    BanSetters, SAVED_BAN_REASONS, SAVED_BAN_SETTERS, SAVED_BANS, ServerBan, bans_value, saved_ban_reasons,
    saved_ban_setters, saved_bans,
};
use std::collections::HashMap;
use std::path::Path;

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Print the saved bans, one a line.
    List,
    /// Lift a saved ban.
    Del,
}

impl Command {
    /// The command named on the command line.
    pub fn parse(s: &str) -> Option<Command> {
        match s {
            "list" => Some(Command::List),
            "del" => Some(Command::Del),
            _ => None,
        }
    }
}

/// What the server's configuration says that matters here.
#[derive(Debug, Clone, Copy)]
pub struct Configured<'a> {
    /// The server's domain, which completes a bare name.
    pub domain: &'a str,
    /// The configuration's bans, named when the target is one of them.
    pub bans: &'a [ServerBan],
}

/// Runs `cmd` on the database `db_file` in the data directory `dir`; `target` is the ban to
/// lift, as typed. Returns what to tell the operator.
pub fn run(
    dir: &Path,
    db_file: &str,
    cmd: Command,
    target: Option<&str>,
    configured: Configured<'_>,
) -> Result<String, String> {
    // Before the lock, which would make a lock file in a directory that has no store. `list`
    // only reads, so it works where nothing can be written (a read-only mount, a full disk).
    let db = match cmd {
        Command::List => open_reading(&dir.join(db_file))?,
        Command::Del => open_existing(&dir.join(db_file))?,
    };
    match cmd {
        Command::List => {
            let bans = saved(&db)?;
            let reasons = reasons(&db)?;
            let setters = setters_or_none(&db);
            Ok(bans
                .iter()
                .map(|b| {
                    let mut line = b.to_string();
                    // Quoted, control characters escaped: an admin typed it over the wire.
                    if let Some(r) = reasons.get(&*line) {
                        line = format!("{line}  {r:?}");
                    }
                    if let Some((by, at)) = setters.get(&*b.to_string()) {
                        line = format!("{line}  (set by {by} at {})", crate::civil::utc_words(*at));
                    }
                    line
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
        Command::Del => {
            let typed = target.ok_or("which ban?")?;
            let ban = typed_ban(typed, configured.domain).ok_or_else(|| {
                let folded = typed.to_ascii_lowercase();
                let why = crate::proto::pattern::typed_fault(&folded)
                    .unwrap_or(crate::proto::pattern::TargetFault::Neither);
                format!("{typed}: {why}")
            })?;
            let _lock = DirLock::take(dir).map_err(|e| match e {
                LockError::InUse { pid, .. } => format!(
                    "scalard{} is running on {}: lift the ban from an admin's session \
                     (`/sunban BAN` in scalar-cli: a Mod unban on !server@DOMAIN), or stop it first",
                    pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                    dir.display()
                ),
                LockError::Io { .. } => e.to_string(),
            })?;
            // Read under the lock: what a server that stopped just now saved last.
            let mut bans = saved(&db)?;
            let before = bans.len();
            bans.retain(|b| *b != ban);
            let configured_too = configured.bans.contains(&ban);
            if bans.len() == before {
                return Err(match configured_too {
                    true => format!(
                        "no saved server ban {ban} (it is in the configuration: remove it \
                         there, then SIGHUP or restart)"
                    ),
                    false => format!("no saved server ban {ban}{}", domain_hint(typed, &ban, &bans)),
                });
            }
            // Read before anything is written: a refusal then leaves the store as it was.
            let (mut reasons, mut setters) = (reasons(&db)?, setters_or_none(&db));
            db.save_state(SAVED_BANS, Some(&bans_value(&bans)))
                .map_err(|e| e.to_string())?;
            // A configured ban stays in force, with the reason an admin gave it (told to those
            // it keeps out); its setter goes with the admins' own ban of it, as online.
            if !configured_too && reasons.remove(&*ban.to_string()).is_some() {
                let value = crate::server::reasons_value(&reasons);
                db.save_state(SAVED_BAN_REASONS, Some(&value))
                    .map_err(|e| e.to_string())?;
            }
            if setters.remove(&*ban.to_string()).is_some() {
                let value = crate::server::setters_value(&setters);
                db.save_state(SAVED_BAN_SETTERS, Some(&value))
                    .map_err(|e| e.to_string())?;
            }
            Ok(match configured_too {
                true => format!(
                    "saved server ban {ban} lifted; it is in the configuration too: remove it \
                     there, then SIGHUP or restart"
                ),
                false => format!("server ban {ban} lifted"),
            })
        }
    }
}

/// A ban as the operator typed it: an address range, or an ID pattern folded to lowercase (as
/// IDs are), a bare name completed with the server's `domain`.
fn typed_ban(typed: &str, domain: &str) -> Option<ServerBan> {
    let folded = typed.to_ascii_lowercase();
    ServerBan::parse(&folded).or_else(|| match folded.contains('@') {
        true => None,
        false => ServerBan::parse(&format!("{folded}@{domain}")),
    })
}

/// After "no saved server ban X" for a name typed without its domain: the domains the saved
/// bans of that name are of, when it is of none of them. The operator most likely left out
/// the server's `--domain` (or `--config`), as `scalard account` also tells.
fn domain_hint(typed: &str, ban: &ServerBan, saved: &[ServerBan]) -> String {
    let ServerBan::Id(wanted) = ban else {
        return String::new();
    };
    let Some((local, _)) = wanted.split_once('@').filter(|_| !typed.contains('@')) else {
        return String::new();
    };
    let mut others: Vec<&str> = (saved.iter())
        .filter_map(|b| match b {
            ServerBan::Id(p) => p.split_once('@').filter(|(l, _)| *l == local).map(|(_, d)| d),
            ServerBan::Net(..) => None,
        })
        .collect();
    others.sort_unstable();
    others.dedup();
    match others.is_empty() {
        true => String::new(),
        false => format!(
            ": the saved bans of {local} are of {}: give the server's --domain or --config",
            others.join(", ")
        ),
    }
}

/// The reasons admins gave for the saved bans, by the ban as written.
fn reasons(db: &Db) -> Result<HashMap<Box<str>, Box<str>>, String> {
    saved_state(
        db,
        SAVED_BAN_REASONS,
        saved_ban_reasons,
        "reasons of the server bans",
    )
}

/// Who set the saved bans and when, by the ban as written; none if that does not decode (the
/// server skips it too): `ban list` and `ban del` are how an operator gets back in after a
/// lockout, and who set a ban is not worth failing them for (review 211).
fn setters_or_none(db: &Db) -> BanSetters {
    let what = "setters of the server bans";
    saved_state(db, SAVED_BAN_SETTERS, saved_ban_setters, what).unwrap_or_else(|e| {
        log::warn!("{e}: shown without who set them");
        BanSetters::default()
    })
}

/// The server's saved state under `key`, read with `decode`; empty if none was saved.
fn saved_state<T: Default>(
    db: &Db,
    key: &str,
    decode: fn(&[u8]) -> Option<T>,
    what: &str,
) -> Result<T, String> {
    let state = db.state().map_err(|e| e.to_string())?;
    match state.iter().find(|(k, _)| k == key) {
        None => Ok(T::default()),
        Some((_, value)) => decode(value).ok_or_else(|| format!("the saved {what} do not decode")),
    }
}

/// The saved server bans; none if none were ever saved.
fn saved(db: &Db) -> Result<Vec<ServerBan>, String> {
    saved_state(db, SAVED_BANS, saved_bans, "server bans")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = "scalard.db";
    const NONE: Configured<'static> = Configured {
        domain: "x.org",
        bans: &[],
    };

    fn setters_of_db(dir: &Path) -> BanSetters {
        setters_or_none(&Db::open(&dir.join(DB)).unwrap())
    }

    fn with_bans(dir: &Path, bans: &[&str]) {
        let db = Db::open(&dir.join(DB)).unwrap();
        let bans: Vec<ServerBan> = bans.iter().map(|b| ServerBan::parse(b).unwrap()).collect();
        db.save_state(SAVED_BANS, Some(&bans_value(&bans))).unwrap();
    }

    #[test]
    fn list_then_lift() {
        let dir = crate::store::sqlite::tests::TempDir::new("bans");
        for cmd in [Command::List, Command::Del] {
            let missing = run(&dir.0, DB, cmd, Some("192.0.2.0/24"), NONE).unwrap_err();
            assert!(missing.contains("has scalard run there?"), "{missing}");
        }
        assert!(!dir.0.join(DB).exists(), "no database made");
        assert!(
            !dir.0.join(super::super::lock::LOCK_FILE).exists(),
            "no lock file made"
        );
        Db::open(&dir.0.join(DB)).unwrap();
        assert_eq!(run(&dir.0, DB, Command::List, None, NONE).unwrap(), "");
        with_bans(&dir.0, &["*@spam.example", "192.0.2.0/24"]);
        let listed = run(&dir.0, DB, Command::List, None, NONE).unwrap();
        assert_eq!(listed, "*@spam.example\n192.0.2.0/24");
        // With the reasons the admins gave, where they gave one.
        let reasons = [("*@spam.example".into(), "selling\u{1b}[2J things".into())].into();
        let db = Db::open(&dir.0.join(DB)).unwrap();
        db.save_state(SAVED_BAN_REASONS, Some(&crate::server::reasons_value(&reasons)))
            .unwrap();
        let listed = run(&dir.0, DB, Command::List, None, NONE).unwrap();
        assert_eq!(
            listed,
            "*@spam.example  \"selling\\u{1b}[2J things\"\n192.0.2.0/24"
        );
        // And who set them, when the server knows.
        let setters = [(
            "192.0.2.0/24".into(),
            (std::rc::Rc::from("root@x.org"), 1_764_000_000_000),
        )]
        .into();
        db.save_state(SAVED_BAN_SETTERS, Some(&crate::server::setters_value(&setters)))
            .unwrap();
        let listed = run(&dir.0, DB, Command::List, None, NONE).unwrap();
        assert_eq!(
            listed,
            "*@spam.example  \"selling\\u{1b}[2J things\"\n192.0.2.0/24  (set by root@x.org at \
             2025-11-24 16:00:00 UTC)"
        );
        let lifted = run(&dir.0, DB, Command::Del, Some("192.0.2.0/24"), NONE).unwrap();
        assert_eq!(lifted, "server ban 192.0.2.0/24 lifted");
        assert_eq!(setters_of_db(&dir.0), HashMap::new(), "its setter goes with it");
        assert_eq!(
            run(&dir.0, DB, Command::List, None, NONE).unwrap(),
            "*@spam.example  \"selling\\u{1b}[2J things\""
        );
        let again = run(&dir.0, DB, Command::Del, Some("192.0.2.0/24"), NONE).unwrap_err();
        assert_eq!(again, "no saved server ban 192.0.2.0/24");
        let bans = [ServerBan::parse("198.51.100.0/24").unwrap()];
        let configured = Configured {
            domain: "x.org",
            bans: &bans,
        };
        let there = run(&dir.0, DB, Command::Del, Some("198.51.100.0/24"), configured).unwrap_err();
        assert!(there.contains("in the configuration"), "{there}");
        // In both: lifted where it was saved, and the operator told of the other.
        with_bans(&dir.0, &["198.51.100.0/24", "bob@x.org"]);
        let setters: BanSetters = [("198.51.100.0/24".into(), (std::rc::Rc::from("root@x.org"), 1))].into();
        db.save_state(SAVED_BAN_SETTERS, Some(&crate::server::setters_value(&setters)))
            .unwrap();
        let both = run(&dir.0, DB, Command::Del, Some("198.51.100.0/24"), configured).unwrap();
        assert!(both.contains("lifted; it is in the configuration too"), "{both}");
        assert_eq!(setters_of_db(&dir.0), HashMap::new(), "no admin's ban now");
        // Setters that do not decode are shown as none, not a failure (review 211).
        db.save_state(SAVED_BAN_SETTERS, Some(&[0xff])).unwrap();
        assert!(run(&dir.0, DB, Command::List, None, NONE).is_ok());
        // A bare name is of this domain, and IDs are lowercase.
        let bob = run(&dir.0, DB, Command::Del, Some("Bob"), NONE).unwrap();
        assert_eq!(bob, "server ban bob@x.org lifted");
        // A bare name that is no name is said to be a bad name (df41218; it was "neither an
        // ID pattern nor an address range", which this test still asked for).
        let bad = run(&dir.0, DB, Command::Del, Some("not a ban"), NONE).unwrap_err();
        assert!(bad.starts_with("not a ban: a pattern's name is"), "{bad}");
        // A bare name whose saved bans are of another domain: the server's --domain was left
        // out, most likely (helper 141). A full ID means what it says.
        with_bans(&dir.0, &["spammer@chat.test", "192.0.2.0/24"]);
        let other = run(&dir.0, DB, Command::Del, Some("spammer"), NONE).unwrap_err();
        assert_eq!(
            other,
            "no saved server ban spammer@x.org: the saved bans of spammer are of chat.test: \
             give the server's --domain or --config"
        );
        let full = run(&dir.0, DB, Command::Del, Some("spammer@x.org"), NONE).unwrap_err();
        assert_eq!(full, "no saved server ban spammer@x.org");
    }

    #[test]
    fn lifting_waits_for_the_server_to_stop() {
        let dir = crate::store::sqlite::tests::TempDir::new("bans-locked");
        with_bans(&dir.0, &["192.0.2.0/24"]);
        let server = DirLock::take(&dir.0).unwrap();
        let e = run(&dir.0, DB, Command::Del, Some("192.0.2.0/24"), NONE).unwrap_err();
        assert!(
            e.contains(&format!("(pid {}) is running", std::process::id())),
            "{e}"
        );
        // Listing needs no lock.
        assert_eq!(
            run(&dir.0, DB, Command::List, None, NONE).unwrap(),
            "192.0.2.0/24"
        );
        drop(server);
        assert!(run(&dir.0, DB, Command::Del, Some("192.0.2.0/24"), NONE).is_ok());
    }
}
