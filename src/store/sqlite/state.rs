//! The `state` table: what the server must remember across restarts besides Events and
//! accounts — a channel's government (owner, operators, bans, modes, description), the server
//! bans admins set, the message of the day. One row per key, its value an opaque CBOR blob the
//! core encodes and decodes (`server::saved`), so new fields need no migration.

use super::{Context, Db};
use crate::store::StoreError;
use rusqlite::Connection;

impl Db {
    /// Every saved key and value.
    pub fn state(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut s = self
            .conn
            .prepare("SELECT key, value FROM state ORDER BY key")
            .context("state read")?;
        let rows = s
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .context("state read")?;
        rows.collect::<Result<_, _>>().context("state read")
    }

    /// Saves `value` under `key`, or deletes the key for `None`.
    pub fn save_state(&self, key: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        write_state(&self.conn, key, value)
    }

    /// Saves several keys (deleting those whose value is `None`) in one transaction: all or
    /// none.
    pub fn save_states<'a>(
        &mut self,
        saves: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().context("state save: begin")?;
        for (key, value) in saves {
            write_state(&tx, key, value)?;
        }
        tx.commit().context("state save: commit")
    }
}

impl Db {
    /// Writes a row and takes it back, in one transaction that reaches the disk (its pages
    /// go to the log whatever their content ends as). Opening the store writes nothing, so a
    /// disk that filled while the server was down is found by this, not by the first commit
    /// after Messages were already echoed.
    pub fn probe(&mut self) -> Result<(), StoreError> {
        const KEY: &str = "!probe";
        let tx = self.conn.transaction().context("probe: begin")?;
        write_state(&tx, KEY, Some(&[0u8; 64]))?;
        write_state(&tx, KEY, None)?;
        tx.commit().context("probe: commit")
    }
}

/// Saves `value` under `key` on `conn` (which may be in a transaction), or deletes the key for
/// `None`.
pub(super) fn write_state(conn: &Connection, key: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
    match value {
        Some(v) => conn
            .execute(
                "INSERT INTO state (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                rusqlite::params![key, v],
            )
            .context("state save")?,
        None => conn
            .execute("DELETE FROM state WHERE key = ?1", [key])
            .context("state delete")?,
    };
    Ok(())
}
