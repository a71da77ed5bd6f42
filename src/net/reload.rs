//! SIGHUP's file reads, off the loop. Reading the certificate, the key and the configuration
//! file can block for as long as the file system likes (a hung network mount, a named pipe put
//! where a file was), so a thread of its own does it and hands the result back through the
//! loop's waker. A reload asked for while one is being read runs once more after it; any
//! number asked for meanwhile run as that one.

use super::Reconfig;
use super::tls::{TlsError, TlsFiles};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// What a reload read: the certificate's new configuration (if there is a TLS listener) and
/// the configuration (None if it could not be read, and the one in force stays).
pub(super) struct Reloaded {
    pub tls: Option<Result<Arc<rustls::ServerConfig>, TlsError>>,
    pub config: Option<Reconfig>,
}

/// The reloading thread's two ends, held by the loop.
pub(super) struct Reloader {
    ask: SyncSender<()>,
    done: Receiver<Reloaded>,
}

impl Reloader {
    /// Starts the thread: on each request it loads `files` (if any) and runs `reconfigure`.
    pub fn spawn(
        files: Option<TlsFiles>,
        mut reconfigure: Box<dyn FnMut() -> Option<Reconfig> + Send>,
        waker: Arc<mio::Waker>,
    ) -> std::io::Result<Reloader> {
        // One request waiting at most: more SIGHUPs before it is taken are the same request.
        let (ask, asked) = sync_channel::<()>(1);
        // One result waiting at most: the loop takes it on its next turn.
        let (tell, done) = sync_channel(1);
        std::thread::Builder::new()
            .name("scalard-reload".into())
            .spawn(move || {
                for () in asked {
                    let tls = files.as_ref().map(TlsFiles::load);
                    let config = reconfigure();
                    if tell.send(Reloaded { tls, config }).is_err() {
                        return;
                    }
                    if let Err(e) = waker.wake() {
                        log::error!("reload: cannot wake the loop: {e}");
                    }
                }
            })?;
        Ok(Reloader { ask, done })
    }

    /// Asks for a reload (without waiting for it).
    pub fn ask(&self) {
        // Full: one is already waiting, which reads the files after this signal too.
        let _ = self.ask.try_send(());
    }

    /// A reload's result, once it is there.
    pub fn done(&self) -> Option<Reloaded> {
        self.done.try_recv().ok()
    }
}
