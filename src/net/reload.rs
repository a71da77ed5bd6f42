//! SIGHUP's file reads, off the loop. Reading the certificate, the key and the configuration
//! file can block for as long as the file system likes (a hung network mount; a named pipe put
//! where a file was is refused unopened, `crate::regular`), so a thread of its own does it and hands the result back through the
//! loop's waker. A reload asked for while one is being read runs once more after it; any
//! number asked for meanwhile run as that one.

use super::Reconfig;
use super::tls::{TlsError, TlsFiles};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

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
    /// Since when the reload being read has been, if one is.
    busy_since: Option<Instant>,
    /// Requests taken into the channel whose results have not come: each runs once.
    outstanding: u32,
}

/// A reload still reading its files after this long is told of when another is asked for: a
/// file that blocks (on a hung mount; a named pipe is refused, `crate::regular`) would
/// otherwise swallow every later SIGHUP, a certificate renewal's among them, without a word
/// (found by QA).
const SLOW: Duration = Duration::from_secs(5);

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
        Ok(Reloader {
            ask,
            done,
            busy_since: None,
            outstanding: 0,
        })
    }

    /// Asks for a reload (without waiting for it). Returns how long the reload in progress has
    /// been reading its files, if one has for longer than [`SLOW`]: this one waits for it.
    pub fn ask(&mut self) -> Option<Duration> {
        let busy = self.busy_since.map(|t| t.elapsed()).filter(|&t| t >= SLOW);
        match self.ask.try_send(()) {
            Ok(()) => {
                self.outstanding += 1;
                self.busy_since.get_or_insert_with(Instant::now);
            }
            // One is already waiting, which reads the files after this signal too.
            Err(TrySendError::Full(())) => {}
            // No thread to read them: not a slow file (review).
            Err(TrySendError::Disconnected(())) => {
                log::error!("reload: the reloading thread is gone; restart scalard to reload");
                return None;
            }
        }
        busy
    }

    /// A reload's result, once it is there.
    pub fn done(&mut self) -> Option<Reloaded> {
        let done = self.done.try_recv().ok()?;
        self.outstanding = self.outstanding.saturating_sub(1);
        self.busy_since = (self.outstanding > 0).then(Instant::now);
        Some(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::mpsc::channel;

    /// A reload whose file blocks is reported when the next is asked for, once it has been
    /// blocking for `SLOW`; the one asked for meanwhile runs after it.
    #[test]
    fn a_stuck_reload_is_told_of() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let (unblock, blocked) = channel::<()>();
        let (started, starts) = channel::<()>();
        let blocked = Mutex::new(blocked);
        let reconfigure = Box::new(move || {
            let _ = started.send(());
            let _ = blocked.lock().unwrap().recv();
            None
        });
        let mut r = Reloader::spawn(None, reconfigure, waker).unwrap();
        assert_eq!(r.ask(), None, "nothing in progress");
        starts.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(r.ask(), None, "in progress, but not for long");
        // As if asked SLOW ago (a host up for less than that keeps its time).
        r.busy_since = Instant::now().checked_sub(SLOW).or(r.busy_since);
        if r.busy_since.is_some_and(|t| t.elapsed() < SLOW) {
            return;
        }
        assert!(r.ask().is_some_and(|t| t >= SLOW), "stuck: told");
        assert_eq!(r.outstanding, 2, "the third waits with the second");
        unblock.send(()).unwrap();
        let wait = |r: &mut Reloader| {
            let end = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(done) = r.done() {
                    return done;
                }
                assert!(Instant::now() < end, "no reload finished");
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        assert!(wait(&mut r).config.is_none());
        assert!(r.busy_since.is_some(), "the one asked for meanwhile is running");
        unblock.send(()).unwrap();
        wait(&mut r);
        assert_eq!((r.busy_since, r.outstanding), (None, 0));
        assert_eq!(r.ask(), None, "nothing in progress any more");
    }
}
