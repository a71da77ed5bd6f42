//! Reading: from a connection's socket into the shared buffer or its own, and whole frames from
//! there to the core, within the per-turn budgets that keep one client from holding up the rest.

use super::Shell;
use super::conn::Input;
use super::wire::mark_unread;
use crate::proto::{Msg, Status, decode_frame};
use crate::server::{ConnId, Now};

/// Reads per readiness event before other connections get a turn.
const READ_BUDGET: usize = 8;
/// Frames handed to the core per connection per turn: bounds the work one client's pipelined
/// requests (a burst of publishes to a big channel, say) can make everyone else wait for.
const FRAME_BUDGET: usize = 256;

/// How far [`Shell::process`] got with a connection's buffered frames.
enum Processed {
    /// Every whole frame was handed over.
    All,
    /// The per-turn frame budget ran out.
    Budget,
    /// The core waits for the store on the connection's behalf.
    Waiting,
    /// Its output is backed up: its requests wait until the socket has taken most of it.
    Paused,
}

impl Shell {
    /// Reads what the socket has, handing each whole frame to the core. After `READ_BUDGET`
    /// reads the connection goes to the back of the line, so one busy client cannot starve
    /// the others.
    pub(super) fn readable(&mut self, key: ConnId, t: &Now) {
        let mut frames = FRAME_BUDGET;
        for turn in 0..=READ_BUDGET {
            // Whole frames left from an earlier turn go first; a read only follows once the
            // buffer holds at most a partial frame, so it always has room.
            let processed = self.process(key, t, &mut frames);
            let throttled = self.server.throttled(key);
            let Some(c) = self.conns.get_mut(key) else { return };
            match processed {
                // Held for its rate: read ahead into the buffer while it has room, to see
                // whether the peer keeps sending (see `tick`).
                Processed::Waiting if throttled => {
                    if c.read_full() {
                        c.full_since.get_or_insert(t.mono);
                        return;
                    }
                }
                // The socket is read again once the core resumes the connection.
                Processed::Waiting => return,
                // Not held for its rate while paused: a hold after it starts counting afresh.
                Processed::Paused => {
                    c.full_since = None;
                    return;
                }
                Processed::Budget => break,
                Processed::All if turn == READ_BUDGET => break,
                Processed::All => {}
            }
            if !throttled {
                c.full_since = None;
            }
            let discarding = c.closing.is_some();
            let input = match c.rlen == 0 && !throttled && !discarding {
                true => self.read_shared(key, t, &mut frames),
                false => c.read(t.mono),
            };
            let Some(c) = self.conns.get_mut(key) else { return };
            if c.tls.is_some() {
                // A TLS read may have produced a handshake reply or finished the handshake,
                // which releases output held back until then.
                self.mark_dirty(key);
            }
            let Some(c) = self.conns.get_mut(key) else { return };
            match input {
                Input::WouldBlock => {
                    // The peer stopped short of filling the buffer: it is not flooding.
                    c.full_since = None;
                    return;
                }
                Input::Failed => return self.drop_conn(key),
                // A peer that half-closes (a script that sends and then shuts down its side)
                // still gets the replies to what it sent: close once they are written.
                // The core still owes it an answer or an echo: it comes back here (resumed)
                // once that is written, and closes then.
                Input::Eof if self.server.busy(key) => return,
                Input::Eof => {
                    c.start_closing(t.mono);
                    self.server.disconnect(key);
                    return self.mark_dirty(key);
                }
                Input::Broken => {
                    // Only rustls's alert goes out; then the connection closes.
                    c.discard_output();
                    c.start_closing(t.mono);
                    self.server.disconnect(key);
                    return self.mark_dirty(key);
                }
                Input::Data if discarding => c.rlen = 0,
                Input::Data => {}
            }
        }
        mark_unread(&mut self.conns, &mut self.unread, key);
    }

    /// Hands the frames in the connection's own buffer to the core, at most `budget` of them,
    /// and none while the core waits for the store on this connection's behalf.
    fn process(&mut self, key: ConnId, t: &Now, budget: &mut usize) -> Processed {
        if self.server.waiting(key) {
            return Processed::Waiting;
        }
        if *budget == 0 {
            return Processed::Budget;
        }
        let Some(c) = self.conns.get_mut(key) else {
            return Processed::All;
        };
        if c.rlen == 0 {
            return Processed::All;
        }
        let Some(mut buf) = c.rbuf.take() else {
            return Processed::All;
        };
        let len = c.rlen;
        let (used, processed) = self.hand_over(key, t, budget, buf.get(..len).unwrap_or_default());
        buf.copy_within(used..len, 0);
        if let Some(c) = self.conns.get_mut(key) {
            c.rlen = len - used;
            c.rbuf = Some(buf);
        }
        processed
    }

    /// Reads into the shell's one shared buffer and hands the whole frames there straight to the
    /// core; only what is left (a partial frame, or frames the core cannot take yet) is copied
    /// into the connection's own buffer. So a client whose requests arrive whole never makes its
    /// read buffer's pages resident.
    fn read_shared(&mut self, key: ConnId, t: &Now, budget: &mut usize) -> Input {
        let Some(c) = self.conns.get_mut(key) else {
            return Input::WouldBlock;
        };
        let mut shared = std::mem::take(&mut self.rshared);
        let (input, n) = c.read_into(&mut shared, t.mono);
        let read = shared.get(..n).unwrap_or_default();
        let used = match n {
            0 => 0,
            _ => self.hand_over(key, t, budget, read).0,
        };
        if let Some(c) = self.conns.get_mut(key) {
            c.keep(read.get(used..).unwrap_or_default());
        }
        self.rshared = shared;
        input
    }

    /// Hands the whole frames at the start of `bytes` to the core while `budget` lasts, the core
    /// takes them and the connection's output is not backed up. Returns how many bytes it took.
    fn hand_over(&mut self, key: ConnId, t: &Now, budget: &mut usize, bytes: &[u8]) -> (usize, Processed) {
        let len = bytes.len();
        let mut start = 0;
        let mut paused = false;
        let (server, mut wire) = self.wire(t.mono);
        while start < len {
            if *budget == 0 || server.waiting(key) {
                break;
            }
            // Told before the frame is decoded: a ClientHello of 790 bytes or more (a
            // post-quantum key share makes it 1-2 KB) is a whole "frame" of 0x0316 bytes, and
            // decoding it would answer its bytes as a stream of bad frames instead.
            if start == 0
                && super::tls::starts_like_client_hello(bytes)
                && wire.conns.get(key).is_some_and(|c| c.tls.is_none())
                && server.unidentified(key)
            {
                server.not_plain_scalar(key, &mut wire);
                start = len;
                break;
            }
            // What the connection's records cost beyond their plaintext and is not charged yet:
            // over plain TCP, none, and nothing more to look up per frame.
            let (backed_up, nearly_full, overhead) = wire.conns.get(key).map_or((false, false, 0), |c| {
                let overhead = c.tls.as_ref().map_or(0, |t| t.overhead());
                (
                    c.backed_up(wire.max_queue),
                    c.nearly_full(wire.max_queue),
                    overhead,
                )
            });
            match decode_frame(&bytes[start..]) {
                // Only requests whose answer is small (or none) go on while the connection's
                // output is backed up: a lagging client can still answer a Ping (so it is not
                // timed out for silence the server caused), leave a channel, or say Bye. Those
                // with a reply stop too once it is nearly full: a client that sends them
                // without reading would be cut off by their replies alone (QA: 22,000 Pings).
                // But for the Unsub of a channel it is in, which lessens what it is sent (a
                // slow link leaving a busy channel; review): one a subscription at most.
                Ok(Status::Complete((decoded, _)))
                    if backed_up
                        && !match decoded {
                            Ok(Msg::Pong(_) | Msg::Bye(_)) => true,
                            Ok(Msg::Unsub(u)) if server.subscribed(key, u.topic.as_str()) => true,
                            Ok(Msg::Ping(_) | Msg::Unsub(_)) => !nearly_full,
                            _ => false,
                        } =>
                {
                    paused = true;
                    break;
                }
                Ok(Status::Complete((decoded, used))) => {
                    // Over TLS, what the records cost beyond the frame's bytes counts too: as
                    // much as the bucket can hold with the frame (a charge above its burst is
                    // taken as the burst), the rest with the frames after it.
                    let overhead = match overhead {
                        0 => 0,
                        o => o.min(server.limits().bytes.map_or(usize::MAX, |r| {
                            usize::try_from(r.burst)
                                .unwrap_or(usize::MAX)
                                .saturating_sub(used)
                        })),
                    };
                    if !server.receive(key, decoded, used.saturating_add(overhead), t, &mut wire) {
                        // Held back: handed over again once the core resumes the connection.
                        break;
                    }
                    if overhead > 0
                        && let Some(tls) = wire.conns.get_mut(key).and_then(|c| c.tls.as_mut())
                    {
                        tls.charged(overhead);
                    }
                    *budget -= 1;
                    // Before the next request: nothing more may be accepted for a connection
                    // the shell is dropping.
                    wire.forget_detached(server);
                    start += used;
                }
                Ok(Status::Partial) => break,
                Err(too_long) => {
                    server.frame_too_long(key, too_long.0, &mut wire);
                    start = len;
                }
            }
            if wire.conns.get(key).is_none_or(|c| c.closing.is_some()) {
                start = len;
            }
        }
        let processed = if server.waiting(key) {
            Processed::Waiting
        } else if paused {
            Processed::Paused
        } else if *budget == 0 {
            Processed::Budget
        } else {
            Processed::All
        };
        if let Some(c) = wire.conns.get_mut(key) {
            c.paused = paused;
        }
        wire.settle(server);
        (start, processed)
    }
}
