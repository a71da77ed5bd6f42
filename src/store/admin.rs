//! `scalard account`: the operator's account commands, straight on the database file. A
//! running scalard sees the change within a second (its accounts thread watches the file).

use super::StoreError;
use super::password;
use super::sqlite::{Db, beside};
use crate::proto::{MAX_PASSWORD, Name};
use crate::server::is_guest_name;
use std::path::Path;

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Create an account.
    Add,
    /// Delete an account.
    Del,
    /// Change an account's password.
    Passwd,
    /// List the accounts.
    List,
}

impl Command {
    /// The command named on the command line.
    pub fn parse(s: &str) -> Option<Command> {
        Some(match s {
            "add" => Command::Add,
            "del" => Command::Del,
            "passwd" => Command::Passwd,
            "list" => Command::List,
            _ => return None,
        })
    }

    /// True if the command needs a password.
    pub fn needs_password(self) -> bool {
        matches!(self, Command::Add | Command::Passwd)
    }
}

/// Turns what the operator typed into a full ID of `domain`: a bare name is completed, a full
/// one must be of this domain, and guest names are the server's. `named`: the operator gave
/// the domain (`--domain`, or a configuration's), so an ID of another is a slip in the ID.
pub fn account_id(typed: &str, domain: &str, named: bool) -> Result<String, String> {
    // Said before parsing: "#rust" lacks its domain, but that is not what is wrong with it.
    if typed.starts_with(['#', '!']) {
        return Err(format!(
            "{typed}: an account is a user's ID, not a channel's or the server's name"
        ));
    }
    // Names are lowercase; the client folds what its user types the same way.
    let folded = typed.to_ascii_lowercase();
    let name = Name::parse_user(&folded).map_err(|e| format!("{typed}: {e}"))?;
    if !name.is_local() && name.domain() != domain {
        // Found by an operator's walk-through: with --config given, "give --domain or
        // --config" sent the operator after what was there already.
        let fix = match named {
            true => format!("type {0} or {0}@{domain}", name.local()),
            false => "give --domain or --config".to_string(),
        };
        return Err(format!(
            "{typed} is not of this server's domain {domain}: accounts are its own ({fix})"
        ));
    }
    if is_guest_name(name.local()) {
        return Err(format!("{typed}: names starting with guest- are for guests"));
    }
    Ok(format!("{}@{domain}", name.local()))
}

/// For an account about to be added under a name typed without its domain (`id` is the name
/// completed): refuses when the database already holds accounts and none is of `id`'s domain.
/// The operator most likely left out the server's `--domain` (or `--config`), and the account
/// could never log in there. A full ID typed means what it says.
pub fn check_completed_domain(db: &Db, typed: &str, id: &str) -> Result<(), String> {
    if typed.contains('@') {
        return Ok(());
    }
    match other_domains(db, id)? {
        None => Ok(()),
        Some(others) => Err(format!(
            "{typed} would be {id}, but the accounts here are of {others}: give the server's \
             --domain or --config (or type the full ID to mean it)"
        )),
    }
}

/// The domains of the accounts in `db`, if it holds some and none of `id`'s domain.
fn other_domains(db: &Db, id: &str) -> Result<Option<String>, String> {
    let names = db.account_names().map_err(|e| e.to_string())?;
    let domain_of = |n: &str| n.rsplit_once('@').map_or("", |(_, d)| d).to_string();
    let domain = domain_of(id);
    let mut others: Vec<String> = names.iter().map(|n| domain_of(n)).collect();
    if others.is_empty() || others.contains(&domain) {
        return Ok(None);
    }
    others.sort_unstable();
    others.dedup();
    Ok(Some(others.join(", ")))
}

/// "no account ID", and, when the accounts here are all of other domains, which: the
/// operator most likely left out the server's `--domain`.
fn no_account(db: &Db, id: &str) -> String {
    match other_domains(db, id) {
        Ok(Some(others)) => format!(
            "no account {id}: the accounts here are of {others} (give the server's --domain or \
             --config)"
        ),
        _ => format!("no account {id}"),
    }
}

/// Before asking for a new password: that `cmd` has an account `id` to change (or, adding,
/// none in the way), so that a typo is said before the operator types a password for nothing.
pub fn check_exists(db: &Db, cmd: Command, id: &str) -> Result<(), String> {
    let exists = || {
        db.account_hash(id)
            .map(|h| h.is_some())
            .map_err(|e| e.to_string())
    };
    match cmd {
        Command::Passwd if !exists()? => Err(no_account(db, id)),
        Command::Add if exists()? => Err(already(id)),
        _ => Ok(()),
    }
}

fn already(id: &str) -> String {
    format!("{id} is already an account (passwd changes its password)")
}

/// Checks a new password's length.
pub fn check_password(p: &str) -> Result<(), String> {
    match p.len() {
        0 => Err("empty password".into()),
        n if n > MAX_PASSWORD => Err(format!("password longer than {MAX_PASSWORD} bytes")),
        _ if password::too_short(p) => Err(format!(
            "password shorter than {} characters",
            password::MIN_CHARS
        )),
        _ => Ok(()),
    }
}

/// Opens the database at `path` for `cmd`: before asking for a password, so that a wrong
/// directory is said first. Accounts may be added before the server's first start (which
/// makes the database); the other commands need one that is there.
pub fn open(path: &Path, cmd: Command) -> Result<Db, String> {
    match cmd {
        Command::Add => Db::open_as_is(path).map_err(|e| e.to_string()),
        // Reads only: it must work where nothing can be written (a read-only mount, a full
        // disk; found in review: it opened the store as the writer and failed there).
        Command::List => open_reading(path),
        Command::Del | Command::Passwd => open_existing(path),
    }
}

/// Runs `cmd` on `db` (see [`open`]) for account `id` (a full ID, see [`account_id`]);
/// returns what to tell the operator.
pub fn run(db: &Db, cmd: Command, id: &str, password: Option<&str>) -> Result<String, String> {
    let hash = || -> Result<String, String> {
        let p = password.ok_or("no password")?;
        check_password(p)?;
        password::hash(p.as_bytes()).map_err(|e| e.to_string())
    };
    let err = |e: super::StoreError| e.to_string();
    match cmd {
        Command::Add => {
            let now = crate::client::unix_ms();
            // A running server may have delivered DMs to the name that it has not stored yet,
            // and goes on until it learns of the account: it places the start then.
            let from = crate::store::accounts::UNSTARTED;
            match db.add_account(id, &hash()?, now, from).map_err(err)? {
                true => Ok(format!("account {id} added")),
                false => Err(already(id)),
            }
        }
        // The same password again changes nothing: a new hash (a new salt) would close the
        // account's sessions as if it had changed.
        Command::Passwd if same_password(db, id, password)? => Ok(format!(
            "password of {id} unchanged: it is that already (its sessions stay; to close them, \
             set another password, then this one)"
        )),
        Command::Passwd => match db.set_account_hash(id, &hash()?).map_err(err)? {
            true => Ok(format!("password of {id} changed")),
            false => Err(no_account(db, id)),
        },
        Command::Del => match db.delete_account(id).map_err(err)? {
            true => Ok(format!("account {id} deleted")),
            false => Err(no_account(db, id)),
        },
        Command::List => {
            let mut names = db.account_names().map_err(err)?;
            names.sort();
            Ok(names.join("\n"))
        }
    }
}

/// The channels `id` owns that the server keeps, sorted: deleting its account ends them (no
/// owner, not kept), and with an invite-only or registered-only one what its life said
/// (PROTOCOL.md §4, Channels; found by a team lead's trial, to whom nothing said so).
pub fn kept_channels(db: &Db, id: &str) -> Result<Vec<String>, String> {
    let state = db.state().map_err(|e| e.to_string())?;
    let mut owned: Vec<String> = (state.into_iter())
        .filter(|(k, v)| crate::server::kept_owner(k, v).is_some_and(|o| &*o == id))
        .map(|(k, _)| k)
        .collect();
    owned.sort();
    Ok(owned)
}

/// For `del` of `id`, which owns `owned` ([`kept_channels`]): without `force`, the refusal
/// that names them and what to do; with it, the note that says what became of them.
pub fn owned_channels_note(id: &str, owned: &[String], force: bool) -> Result<Option<String>, String> {
    if owned.is_empty() {
        return Ok(None);
    }
    let list = owned.join(", ");
    let what = "with its account gone a channel has no owner and is not kept: it ends with its \
                last subscriber, and what an invite-only or registered-only one said is \
                readable only by its members of then";
    match force {
        false => Err(format!(
            "{id} owns {list}: {what}. Hand each over first (/transfer USER in the channel, by \
             {id} or a server admin), or delete with --force"
        )),
        true => Ok(Some(format!("{id} owned {list}: {what}"))),
    }
}

/// Whether `password` is the one account `id` has (false if it has none, or no password was
/// given).
fn same_password(db: &Db, id: &str, password: Option<&str>) -> Result<bool, String> {
    let (Some(p), Some(hash)) = (password, db.account_hash(id).map_err(|e| e.to_string())?) else {
        return Ok(false);
    };
    password::verify(p.as_bytes(), &hash).map_err(|e| e.to_string())
}

/// Opens a database a server made, as it is; never makes one (a mistyped `--data-dir` would
/// otherwise be a new empty store).
pub fn open_existing(path: &Path) -> Result<Db, String> {
    must_exist(path)?;
    Db::open_as_is(path).map_err(|e| e.to_string())
}

/// [`open_existing`], only to read: for the commands that change nothing (`account list`,
/// `ban list`), which then work on a read-only mount or a full disk too.
pub fn open_reading(path: &Path) -> Result<Db, String> {
    must_exist(path)?;
    Db::open_read_only(path).map_err(|e| e.to_string())
}

/// Refuses a store file that is not there, for the commands that read what a server saved,
/// or that a restore is replacing (which may have moved it away for now).
pub fn must_exist(path: &Path) -> Result<(), String> {
    super::sqlite::check_not_restoring(path).map_err(|e| e.to_string())?;
    // `exists` would say "no" for a directory this user may not read, too.
    match path.try_exists() {
        Ok(true) => Ok(()),
        // The store went but its log stayed (moved without it): said as a start says it, not
        // as a directory scalard never used, which would point away from the log that a new
        // store there would take in (found by QA).
        Ok(false) if std::fs::metadata(beside(path, "-wal")).is_ok_and(|m| m.len() > 0) => {
            Err(StoreError::OrphanLog.to_string())
        }
        Ok(false) => Err(format!("no {} (has scalard run there?)", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_completed_and_checked() {
        assert_eq!(account_id("alice", "x.org", false).unwrap(), "alice@x.org");
        assert_eq!(account_id("alice@x.org", "x.org", false).unwrap(), "alice@x.org");
        assert!(
            account_id("alice@y.org", "x.org", false)
                .unwrap_err()
                .contains("domain x.org")
        );
        let e = account_id("alice@y.org", "x.org", true).unwrap_err();
        assert!(e.contains("type alice or alice@x.org"), "{e}");
        assert!(!e.contains("give --domain"), "{e}");
        assert!(account_id("guest-1", "x.org", false).is_err());
        for name in ["#rust", "#rust@x.org", "!server@x.org"] {
            let e = account_id(name, "x.org", false).unwrap_err();
            assert!(e.contains("not a channel"), "{name}: {e}");
        }
        assert_eq!(account_id("Bob", "x.org", false).unwrap(), "bob@x.org");
        assert!(
            account_id("bad name!", "x.org", false)
                .unwrap_err()
                .contains("a-z 0-9")
        );
        assert!(check_password("").is_err());
        assert!(check_password(&"a".repeat(257)).is_err());
        assert!(check_password("seven77").unwrap_err().contains("shorter than 8"));
        assert!(check_password("éééééééé").is_ok(), "characters, not bytes");
    }

    #[test]
    fn add_passwd_del_on_a_file() {
        let dir = crate::store::sqlite::tests::TempDir::new("admin");
        let db = dir.0.join("scalard.db");
        let none = open(&db, Command::List).err().unwrap();
        assert!(none.contains("has scalard run there?"), "{none}");
        assert!(!db.exists(), "list made no database");
        let at = |cmd, id, pw| run(&open(&db, cmd)?, cmd, id, pw);
        assert!(at(Command::Add, "a@x", Some("password1")).is_ok());
        assert!(at(Command::Add, "a@x", Some("password2")).is_err());
        assert!(at(Command::Passwd, "b@x", Some("password2")).is_err());
        assert!(at(Command::Passwd, "a@x", Some("password2")).is_ok());
        let hash = Db::open(&db).unwrap().account_hash("a@x").unwrap().unwrap();
        assert!(password::verify(b"password2", &hash).unwrap());
        // The same password again leaves the hash, and so the sessions, as they are.
        let same = at(Command::Passwd, "a@x", Some("password2")).unwrap();
        assert!(same.contains("unchanged"), "{same}");
        assert_eq!(Db::open(&db).unwrap().account_hash("a@x").unwrap().unwrap(), hash);
        assert_eq!(at(Command::List, "", None).unwrap(), "a@x");
        assert!(at(Command::Del, "a@x", None).is_ok());
        assert!(at(Command::Del, "a@x", None).is_err());
    }

    /// Run as root into the directory of the user the server runs as, `account add` before
    /// the first start makes the store that user's, as a restore does, so that the server can
    /// open it (an operator's walk-through: it was root's, and the server's start failed).
    #[test]
    fn as_root_a_store_add_makes_is_the_directory_owner_s() {
        use std::os::unix::fs::MetadataExt;
        if !crate::store::lock::as_root() {
            return;
        }
        let dir = crate::store::sqlite::tests::TempDir::new("admin-owner");
        std::os::unix::fs::chown(&dir.0, Some(65534), Some(65534)).unwrap();
        let db = dir.0.join("scalard.db");
        run(
            &open(&db, Command::Add).unwrap(),
            Command::Add,
            "a@x",
            Some("password1"),
        )
        .unwrap();
        let m = std::fs::metadata(&db).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534));
    }

    #[test]
    fn a_bare_name_completed_with_a_domain_no_account_has_is_refused() {
        let dir = crate::store::sqlite::tests::TempDir::new("admin-domain");
        let db = Db::open(&dir.0.join("scalard.db")).unwrap();
        assert!(
            check_completed_domain(&db, "frank", "frank@localhost").is_ok(),
            "no accounts yet"
        );
        assert!(db.add_account("alice@chat.test", "h", 1, 1).unwrap());
        let e = check_completed_domain(&db, "frank", "frank@localhost").unwrap_err();
        assert!(e.contains("frank@localhost") && e.contains("of chat.test"), "{e}");
        assert!(
            check_completed_domain(&db, "frank@localhost", "frank@localhost").is_ok(),
            "typed in full"
        );
        assert!(check_completed_domain(&db, "bob", "bob@chat.test").is_ok());
        let e = check_exists(&db, Command::Passwd, "alice@localhost").unwrap_err();
        assert!(e.contains("no account alice@localhost"), "{e}");
        assert!(check_exists(&db, Command::Passwd, "alice@chat.test").is_ok());
        assert!(check_exists(&db, Command::Add, "bob@chat.test").is_ok());
        let e = check_exists(&db, Command::Add, "alice@chat.test").unwrap_err();
        assert!(e.contains("already an account"), "{e}");
        // passwd and del of a name no account has say which domain the accounts are of.
        for cmd in [Command::Passwd, Command::Del] {
            let e = run(&db, cmd, "alice@localhost", Some("password")).unwrap_err();
            assert!(
                e.contains("no account alice@localhost") && e.contains("of chat.test"),
                "{e}"
            );
        }
        let e = run(&db, Command::Del, "bob@chat.test", None).unwrap_err();
        assert_eq!(e, "no account bob@chat.test", "same domain: nothing to add");
    }
}
