//! Where the server core's decisions go: the shell implements this over its sockets, tests over
//! vectors.

/// A connection, as numbered by the shell (its slab key).
pub type ConnId = usize;

/// The actions the core asks of the shell.
pub trait Outbox {
    /// Appends one encoded frame to a connection's output.
    fn send(&mut self, to: ConnId, frame: &[u8]);

    /// Appends one encoded frame to the output of every connection in `to` but `except`. The
    /// frame is encoded once; the shell copies (or shares) the bytes.
    fn fanout(&mut self, to: &[ConnId], except: Option<ConnId>, frame: &[u8]) {
        for &c in to.iter().filter(|&&c| Some(c) != except) {
            self.send(c, frame);
        }
    }

    /// Closes a connection once the output already queued for it is written.
    fn close(&mut self, conn: ConnId);
}
