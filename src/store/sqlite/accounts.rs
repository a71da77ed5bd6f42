//! The `accounts` table: one row per registered ID with its password hash.

use super::{Context, Db};
use crate::store::StoreError;
use crate::store::accounts::{Account, DeletedMark, UNSTARTED};
use rusqlite::{OptionalExtension, params};

impl Db {
    /// The stored hash of `name`'s password, if `name` is an account.
    pub fn account_hash(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare("SELECT hash FROM accounts WHERE name = ?1")
            .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
            .context("account lookup")
    }

    /// Creates the account, whose direct messages are those from position `from_pos` on; false
    /// if it exists already.
    pub fn add_account(
        &self,
        name: &str,
        hash: &str,
        now_ms: u64,
        from_pos: u64,
    ) -> Result<bool, StoreError> {
        let now = super::to_sql(now_ms, "time")?;
        let from = super::to_sql(from_pos, "position")?;
        self.conn
            .prepare(
                "INSERT INTO accounts (name, hash, created, from_pos) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![name, hash, now, from]))
            .map(|n| n == 1)
            .context("account insert")
    }

    /// Replaces the account's hash; false if there is no such account.
    pub fn set_account_hash(&self, name: &str, hash: &str) -> Result<bool, StoreError> {
        self.conn
            .execute("UPDATE accounts SET hash = ?2 WHERE name = ?1", [name, hash])
            .map(|n| n == 1)
            .context("account update")
    }

    /// Replaces the account's hash if it is still `old`; false if it is not (changed
    /// meanwhile, or no such account).
    pub fn replace_account_hash(&self, name: &str, old: &str, new: &str) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "UPDATE accounts SET hash = ?3 WHERE name = ?1 AND hash = ?2",
                [name, old, new],
            )
            .map(|n| n == 1)
            .context("account update")
    }

    /// Deletes the account; false if there was none.
    pub fn delete_account(&self, name: &str) -> Result<bool, StoreError> {
        // With a mark for the server, in the same transaction: one that is stopped learns of the
        // deletion at its next start even if the name is an account again by then (see
        // `server::saved::DELETED`).
        let tx = self.conn.unchecked_transaction().context("account delete")?;
        let created: Option<i64> = tx
            .query_row(
                "DELETE FROM accounts WHERE name = ?1 RETURNING created",
                [name],
                |r| r.get(0),
            )
            .optional()
            .context("account delete")?;
        if let Some(created) = created {
            let created = u64::try_from(created).unwrap_or_default();
            tx.execute(
                "INSERT INTO state (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![
                    crate::server::deleted_key(name, created),
                    crate::server::deleted_value(created)
                ],
            )
            .context("account delete")?;
        }
        tx.commit().context("account delete")?;
        Ok(created.is_some())
    }

    /// The names `delete_account` marked (see `server::saved::DELETED`) and the server has not
    /// unmarked yet.
    pub fn deleted_marks(&self) -> Result<Vec<DeletedMark>, StoreError> {
        let prefix = crate::server::DELETED;
        let mut s = self
            .conn
            .prepare("SELECT key, value FROM state WHERE substr(key, 1, ?1) = ?2 ORDER BY key")
            .context("deleted marks")?;
        let rows = s
            .query_map(params![prefix.chars().count() as i64, prefix], |r| {
                // (`state` is a STRICT table: every value is a blob.)
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .context("deleted marks")?;
        let marks = rows.collect::<Result<Vec<_>, _>>().context("deleted marks")?;
        Ok(marks
            .into_iter()
            .filter_map(|(key, value)| {
                Some(DeletedMark {
                    name: crate::server::deleted_name(&key)?.into(),
                    created: crate::server::deleted_created(&value),
                    key: key.into(),
                })
            })
            .collect())
    }

    /// The account `name`, if it is one.
    pub fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        self.conn
            .query_row(
                "SELECT created, from_pos, hash FROM accounts WHERE name = ?1",
                [name],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)),
            )
            .optional()
            .context("account lookup")?
            .map(|(created, from_pos, hash)| account_of(name, created, from_pos, &hash))
            .transpose()
    }

    /// Moves the start of account `name` made at `created` back to `from_pos` (a server
    /// learned of an [`UNSTARTED`] account); false if there is no such account or its start
    /// is not past `from_pos`.
    pub fn start_account(&self, name: &str, created: u64, from_pos: u64) -> Result<bool, StoreError> {
        let created = super::to_sql(created, "created")?;
        let from = super::to_sql(from_pos, "position")?;
        self.conn
            .execute(
                "UPDATE accounts SET from_pos = ?3 WHERE name = ?1 AND created = ?2 AND from_pos > ?3",
                params![name, created, from],
            )
            .map(|n| n == 1)
            .context("account start")
    }

    /// At start, with `next` the first position to come: accounts added while no server ran
    /// ([`UNSTARTED`]) start there. So do those whose start lies past every stored Event,
    /// registered while Events before their start were unwritten and lost with a crash (the
    /// newest positions are handed out again): rather than wait for the numbering to catch
    /// up. Returns how many of the second kind moved.
    pub fn clamp_account_starts(&self, next: u64) -> Result<usize, StoreError> {
        let next = super::to_sql(next, "position")?;
        let unstarted = super::to_sql(UNSTARTED, "position")?;
        let tx = self.conn.unchecked_transaction().context("account starts")?;
        let crashed = tx
            .execute(
                "UPDATE accounts SET from_pos = ?1 WHERE from_pos > ?1 AND from_pos < ?2",
                [next, unstarted],
            )
            .context("account starts")?;
        tx.execute("UPDATE accounts SET from_pos = ?1 WHERE from_pos > ?1", [next])
            .context("account starts")?;
        tx.commit().context("account starts")?;
        Ok(crashed)
    }

    /// Every account.
    pub fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let mut s = self
            .conn
            .prepare("SELECT name, created, from_pos, hash FROM accounts")
            .context("account list")?;
        let rows = s
            .query_map([], |r| {
                let name = r.get::<_, String>(0)?;
                Ok((
                    name,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .context("account list")?;
        rows.map(|r| {
            let (name, created, from_pos, hash) = r.context("account list")?;
            account_of(&name, created, from_pos, &hash)
        })
        .collect()
    }

    /// Every account's ID.
    pub fn account_names(&self) -> Result<Vec<Box<str>>, StoreError> {
        Ok(self.accounts()?.into_iter().map(|a| a.name).collect())
    }

    /// How many times an account was added, deleted or renamed or its password changed, by
    /// any connection: the registered IDs or their passwords changed if this did.
    pub fn account_changes(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT n FROM account_changes", [], |r| r.get(0))
            .context("account changes")
    }

    /// A number that changes whenever another connection (`scalard account`, say) commits to
    /// the database: how the accounts thread notices changes it did not make.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .context("data_version")
    }
}

/// An account from its row's columns.
fn account_of(name: &str, created: i64, from_pos: i64, hash: &str) -> Result<Account, StoreError> {
    Ok(Account {
        name: name.into(),
        created: super::from_sql(created, "created")?,
        from_pos: super::from_sql(from_pos, "position")?,
        password: crate::store::accounts::password_key(hash),
    })
}

#[cfg(test)]
mod tests {
    use crate::store::accounts::{DeletedMark, UNSTARTED};
    use crate::store::sqlite::Db;
    use crate::store::sqlite::tests::TempDir;

    #[test]
    fn accounts_are_added_changed_listed_and_deleted() {
        let dir = TempDir::new("accounts");
        let db = Db::open(&dir.0.join("a.db")).unwrap();
        assert_eq!(db.account_hash("alice@x").unwrap(), None);
        assert!(db.add_account("alice@x", "h1", 1, 1).unwrap());
        assert!(
            !db.add_account("alice@x", "h2", 2, 1).unwrap(),
            "no second account of one name"
        );
        assert_eq!(db.account_hash("alice@x").unwrap().as_deref(), Some("h1"));
        assert!(db.set_account_hash("alice@x", "h3").unwrap());
        assert!(!db.set_account_hash("bob@x", "h3").unwrap());
        assert_eq!(db.account_hash("alice@x").unwrap().as_deref(), Some("h3"));
        assert_eq!(db.account_names().unwrap(), vec!["alice@x".into()]);

        let other = Db::open(&dir.0.join("a.db")).unwrap();
        let v = db.data_version().unwrap();
        assert!(other.delete_account("alice@x").unwrap());
        assert_ne!(
            db.data_version().unwrap(),
            v,
            "another connection's commit is noticed"
        );
        assert!(!db.delete_account("alice@x").unwrap());
        assert!(db.account_names().unwrap().is_empty());
        // The deletion leaves its mark for the server, once, saying which account it was.
        assert_eq!(
            db.state().unwrap(),
            [("!deleted alice@x 1".to_string(), crate::server::deleted_value(1))]
        );
        db.save_state("!motd", Some(&[0xa0])).unwrap();
        // A mark an older version left (an empty map) is of any account of the name.
        db.save_state("!deleted bob@x", Some(&[0xa0])).unwrap();
        let mark = |key: &str, name: &str, created| DeletedMark {
            key: key.into(),
            name: name.into(),
            created,
        };
        assert_eq!(
            db.deleted_marks().unwrap(),
            [
                mark("!deleted alice@x 1", "alice@x", Some(1)),
                mark("!deleted bob@x", "bob@x", None)
            ]
        );
        // Made again and deleted again before the server removed the first mark: a mark of
        // its own, which that removal leaves.
        assert!(db.add_account("alice@x", "h4", 7, 1).unwrap());
        assert!(db.delete_account("alice@x").unwrap());
        db.save_state("!deleted alice@x 1", None).unwrap();
        assert_eq!(
            db.deleted_marks().unwrap(),
            [
                mark("!deleted alice@x 7", "alice@x", Some(7)),
                mark("!deleted bob@x", "bob@x", None)
            ]
        );
    }

    /// An account registered while Events before its start were still unwritten, then a crash
    /// that lost them: positions are handed out again from the last one kept, and the account
    /// must not wait for them to pass its start.
    #[test]
    fn an_account_starting_past_what_a_crash_kept_starts_after_it() {
        let dir = TempDir::new("account-starts");
        let db = Db::open(&dir.0.join("a.db")).unwrap();
        assert!(db.add_account("early@x", "h", 1, 5).unwrap());
        assert!(db.add_account("late@x", "h", 2, 992).unwrap());
        assert!(db.add_account("added@x", "h", 3, UNSTARTED).unwrap());
        // Only the crash's kind is counted (it is warned of); the added one starts there too.
        assert_eq!(db.clamp_account_starts(903).unwrap(), 1);
        let starts = |name| db.account(name).unwrap().map(|a| a.from_pos);
        assert_eq!(
            (starts("early@x"), starts("late@x"), starts("added@x")),
            (Some(5), Some(903), Some(903))
        );
        assert_eq!(starts("nobody@x"), None);
    }

    /// A running server places an account `scalard account add` made: only that account
    /// (not one made again since, with another `created`), and never later.
    #[test]
    fn a_start_is_kept_for_the_account_it_was_placed_for_only() {
        let dir = TempDir::new("account-start");
        let db = Db::open(&dir.0.join("a.db")).unwrap();
        assert!(db.add_account("bob@x", "h", 7, UNSTARTED).unwrap());
        let start = |db: &Db| db.account("bob@x").unwrap().map(|a| a.from_pos);
        assert!(!db.start_account("bob@x", 6, 40).unwrap(), "another bob");
        assert_eq!(start(&db), Some(UNSTARTED));
        assert!(db.start_account("bob@x", 7, 40).unwrap());
        assert_eq!(start(&db), Some(40));
        assert!(!db.start_account("bob@x", 7, 90).unwrap(), "never moved later");
        assert!(!db.start_account("nobody@x", 7, 40).unwrap());
        assert_eq!(start(&db), Some(40));
    }

    #[test]
    fn account_changes_count_names_added_deleted_and_renamed_and_passwords_not_history() {
        let dir = TempDir::new("account-changes");
        let mut db = Db::open(&dir.0.join("a.db")).unwrap();
        let other = Db::open(&dir.0.join("a.db")).unwrap();
        let n = db.account_changes().unwrap();
        db.insert(&[crate::store::sqlite::tests::rec(1, "#a", 1, "hi")])
            .unwrap();
        assert!(db.add_account("alice@x", "h", 1, 1).unwrap());
        assert_eq!(db.account_changes().unwrap(), n + 1, "not the Event");
        let password = |db: &Db| db.account("alice@x").unwrap().map(|a| a.password);
        let was = password(&db);
        assert!(db.set_account_hash("alice@x", "h2").unwrap());
        assert_eq!(db.account_changes().unwrap(), n + 2, "a new password");
        assert!(was.is_some() && password(&db) != was);
        assert!(other.add_account("bob@x", "h", 1, 1).unwrap());
        assert!(!other.add_account("bob@x", "h", 1, 1).unwrap());
        assert!(other.delete_account("alice@x").unwrap());
        assert!(!other.delete_account("alice@x").unwrap());
        assert_eq!(db.account_changes().unwrap(), n + 4);
        // A rename by hand (the sqlite3 shell) is a new name too.
        other
            .conn
            .execute("UPDATE accounts SET name = 'carol@x' WHERE name = 'bob@x'", [])
            .unwrap();
        assert_eq!(db.account_changes().unwrap(), n + 5);
    }
}
