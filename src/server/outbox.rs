//! Where the server core's decisions go: the shell implements this over its sockets, tests over
//! vectors.

use crate::proto::Msg;
use crate::store::worker::StateSave;
use crate::store::{Query, Record};
use std::sync::Arc;

/// A connection, as numbered by the shell (its slab key).
pub type ConnId = usize;

/// The actions the core asks of the shell.
pub trait Outbox {
    /// Appends one encoded frame to a connection's output.
    fn send(&mut self, to: ConnId, frame: &[u8]);

    /// Appends one message to a connection's output. The shell encodes it, straight into the
    /// connection's write buffer where it fits; this default, for tests, encodes into a vector.
    fn reply(&mut self, to: ConnId, msg: &Msg<'_>) {
        match msg.to_frame() {
            Ok(frame) => self.send(to, &frame),
            Err(_) => log::error!("{} to conn {to} does not fit a frame", msg.msg_type().label()),
        }
    }

    /// Appends one encoded frame to the output of every connection in `to` but `except`. The
    /// frame is encoded once; the shell copies (or shares) the bytes.
    fn fanout(&mut self, to: &[ConnId], except: Option<ConnId>, frame: &[u8]) {
        for &c in to.iter().filter(|&&c| Some(c) != except) {
            self.send(c, frame);
        }
    }

    /// Closes a connection once the output already queued for it is written.
    fn close(&mut self, conn: ConnId);

    /// Whether `conn`'s output is backed up (the shell: more than a quarter of `max-queue`
    /// waiting), so that what is only news (joins and leaves) skips it rather than make it a
    /// slow consumer.
    fn busy(&self, _conn: ConnId) -> bool {
        false
    }

    /// Hands an accepted Event to the history store, to be committed in order of `pos`, with
    /// a piece of server state (`save`: a key and its whole new value, `None` to delete it)
    /// that must be stored with it, in the same transaction. Returns false if the store did not
    /// take it (which the core's bound on unwritten Events should make impossible): the core
    /// then refuses the Message rather than deliver an Event that will never be stored.
    fn persist(&mut self, rec: Arc<Record>, save: Option<StateSave>) -> bool;

    /// Asks the history store for a page; the answer comes back through
    /// [`Server::store_done`](super::Server::store_done).
    fn query(&mut self, q: Query);

    /// Asks the history store to commit what it holds now: a query waits for it.
    fn flush_store(&mut self);

    /// Hands a piece of server state (a key and its whole new value, `None` to delete it) to
    /// the store. Returns false if the store cannot take it now: the core tries again later.
    fn save_state(&mut self, key: &str, value: Option<Vec<u8>>) -> bool;

    /// A connection that waited for the store may have its input processed again.
    fn resume(&mut self, conn: ConnId);

    /// Hands a password check to the accounts thread; its verdict comes back through
    /// [`Server::verified`](super::Server::verified). Returns false if the thread's queue is
    /// full (or there is none): the core refuses the attempt.
    fn verify(&mut self, job: super::PasswordCheck) -> bool;

    /// Hands where an account starts to the accounts thread, for the store to keep. Returns
    /// false if the thread's queue is full (or there is none): the core hands it again when
    /// it next sees the account unstarted.
    fn keep_start(&mut self, start: crate::store::accounts::AccountStart) -> bool;

    /// Hands a token to be checked with its home server; the answer comes back through
    /// [`Server::vouched`](super::Server::vouched). Returns false if the queue is full (or
    /// there is none): the core refuses the Ident.
    fn check_token(&mut self, job: super::TokenCheck) -> bool;
}
