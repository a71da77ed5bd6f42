//! A connection's TLS layer, on rustls's unbuffered API. Records are read into one buffer
//! shared by the loop's connections and decrypted there; only a record's beginning is kept, in
//! a buffer of the connection's own, mapped like the others and given back when idle.
//! Plaintext is copied straight into the reader's buffer. Records sent are sealed in one buffer
//! shared by the loop's connections and written from there, and only what the socket does not
//! take waits in a vector of the connection's, freed once written. rustls then holds only the
//! session's state and keys: about 3.3 KiB a connection, where its buffered `ServerConnection`
//! holds 7.5 KiB, 4 KiB of it a receive buffer that is never freed (see docs/PERFORMANCE.md,
//! "TLS").

use super::Input;
use crate::net::pagebuf::PageBuf;
use rustls::ServerConfig;
use rustls::server::ServerConnectionData;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncodeTlsData, EncryptError};
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

/// Room for received records: the largest record (16 KiB of plaintext, 256 bytes of
/// expansion, a 5-byte header) and the start of the next, or the handshake messages rustls
/// joins in place (a ClientHello is a few hundred bytes to a few KiB). A handshake message that
/// does not fit ends the connection.
pub const RECORDS: usize = 24 * 1024;

/// Socket reads per [`Tls::read`] while they yield handshake records but no plaintext.
const TLS_READS: usize = 8;

/// Records rustls may have queued when a session fails, at most: the alert, behind a reply to
/// a KeyUpdate and little else.
const MAX_QUEUED: usize = 8;

/// Bytes a record adds to its plaintext, at most (header, TLS 1.2's explicit nonce or TLS
/// 1.3's content type, the tag): a first guess at the room to encrypt into.
const RECORD_OVERHEAD: usize = 5 + 8 + 16;

/// The largest plaintext a record carries.
const RECORD_PLAINTEXT: usize = 16 * 1024;

/// What to encrypt, once the handshake allows.
#[derive(Clone, Copy)]
enum Out<'a> {
    Nothing,
    Data(&'a [u8]),
    CloseNotify,
}

thread_local! {
    /// Where records are sealed before they are written: one buffer for every connection of
    /// the loop's thread (the only one that has TLS connections), grown once to the largest
    /// write buffer's records and reused, so that sending neither allocates nor zero-fills per
    /// write, and a connection holds records only when its socket does not take them all.
    static SEALED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };

    /// Where records are read to when a connection holds none (grown once to [`RECORDS`]):
    /// as the shell's shared read buffer does for plain connections, it keeps each
    /// connection's own receive buffer from becoming resident for records that arrive whole.
    static RECEIVED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A connection's TLS state. Boxed in the connection (`Conn`), so a plain connection pays
/// one pointer for it.
pub struct Tls {
    /// rustls's state machine and keys.
    conn: UnbufferedServerConnection,
    /// Received records not yet processed: after each read, only a record's beginning (and
    /// handshake fragments rustls is joining), since every whole record is processed at once.
    /// Records are read into [`RECEIVED`] first and only such a rest is copied here, so a
    /// connection whose records arrive whole never touches it. `None` only while it is lent
    /// to [`with_rx`](Tls::with_rx)'s closure.
    rx: Option<PageBuf<RECORDS>>,
    /// Where rustls's unprocessed bytes start in `rx`: moved to the front only before a read,
    /// not after every record.
    rx_start: usize,
    rx_len: usize,
    /// Socket bytes went into `rx` since [`took_input`](Tls::took_input) last asked.
    touched: bool,
    /// `rx` may have resident pages: socket bytes went into it since it was last released.
    rx_resident: bool,
    /// Plaintext decrypted but not yet taken, for want of room where it was read to. The
    /// socket is not read while it holds any, so it holds at most one read's records.
    spill: Vec<u8>,
    spill_pos: usize,
    /// Encrypted output not yet written: handshake records, an alert or close_notify, and the
    /// records of at most one write buffer's plaintext.
    tx: Vec<u8>,
    tx_pos: usize,
    /// The handshake got far enough for application data to be sent.
    ready: bool,
    /// The peer sent close_notify.
    peer_closed: bool,
    /// rustls reported a fatal error: its alert is the last thing sent, and no plaintext may
    /// follow it.
    pub broken: bool,
    /// close_notify has been queued after the last frame of a closing connection.
    pub close_sent: bool,
    /// Bytes read from the socket, plaintext given out, and the difference already charged to
    /// the flood limits ([`overhead`](Tls::overhead)).
    wire_in: u64,
    plain_out: u64,
    charged: u64,
}

impl Tls {
    /// Starts the server side of a handshake with `config`.
    pub fn new(config: Arc<ServerConfig>) -> io::Result<Box<Tls>> {
        let conn = UnbufferedServerConnection::new(config).map_err(io::Error::other)?;
        Ok(Box::new(Tls {
            conn,
            rx: Some(PageBuf::new()?),
            rx_start: 0,
            rx_len: 0,
            touched: false,
            rx_resident: false,
            spill: Vec::new(),
            spill_pos: 0,
            tx: Vec::new(),
            tx_pos: 0,
            ready: false,
            peer_closed: false,
            broken: false,
            close_sent: false,
            wire_in: 0,
            plain_out: 0,
            charged: 0,
        }))
    }

    /// Whether socket bytes arrived since the last call.
    pub fn took_input(&mut self) -> bool {
        std::mem::take(&mut self.touched)
    }

    /// The bytes read from the socket that were not plaintext (records' headers and tags, the
    /// handshake, alerts) and are not yet [charged](Tls::charged): what the frames handed over
    /// now cost on the wire beyond their own bytes. The flood limits count them with the
    /// frames, so that a peer sending each byte in a record of its own (23 bytes on the wire,
    /// and the loop's work of a record) pays for the records, not for the byte.
    pub fn overhead(&self) -> usize {
        let overhead = self.wire_in.saturating_sub(self.plain_out);
        usize::try_from(overhead.saturating_sub(self.charged)).unwrap_or(usize::MAX)
    }

    /// `n` bytes of [`overhead`](Tls::overhead) were charged with a frame.
    pub fn charged(&mut self, n: usize) {
        self.charged = self.charged.saturating_add(n as u64);
    }

    /// Decrypted input into `free`, and how many bytes: first plaintext an earlier read left
    /// over, then that of the records read from `sock` now. Only as many reads as it takes to
    /// get plaintext (at most [`TLS_READS`], for a handshake), and none while plaintext is left
    /// over, so what is held here stays within one read.
    pub fn read(&mut self, sock: &mut impl Read, free: &mut [u8], peer: SocketAddr) -> (Input, usize) {
        let (input, n) = self.decrypt_into(sock, free, peer);
        self.plain_out = self.plain_out.saturating_add(n as u64);
        (input, n)
    }

    /// [`read`](Tls::read) but for counting what it gives out.
    fn decrypt_into(&mut self, sock: &mut impl Read, free: &mut [u8], peer: SocketAddr) -> (Input, usize) {
        // After our close_notify the input is discarded anyway, and rustls must not see more:
        // a bad record would make it alert after close_notify, which it asserts against.
        if self.broken || self.close_sent {
            return (Input::WouldBlock, 0);
        }
        if self.spill_pos < self.spill.len() {
            let n = copy(&self.spill[self.spill_pos..], free);
            self.spill_pos += n;
            if self.spill_pos == self.spill.len() {
                self.spill = Vec::new();
                self.spill_pos = 0;
            }
            return (Input::Data, n);
        }
        for _ in 0..TLS_READS {
            if self.peer_closed {
                return (Input::Eof, 0);
            }
            if free.is_empty() {
                // Full: a whole frame is in the buffer (no frame is longer than the buffer),
                // which the caller processes before reading again.
                return (Input::Data, 0);
            }
            let read = if self.rx_len == 0 {
                RECEIVED.with_borrow_mut(|shared| {
                    if shared.len() < RECORDS {
                        shared.resize(RECORDS, 0);
                    }
                    let read = self.read_records(sock, shared, free, peer);
                    self.keep_rest(shared);
                    read
                })
            } else {
                self.with_rx(|tls, rx| tls.read_records(sock, rx, free, peer))
            };
            if let Some(done) = read {
                return done;
            }
        }
        // Handshake records without plaintext yet: let the caller flush the reply and read again.
        (Input::Data, 0)
    }

    /// One socket read into `buf` after the records it holds (moved to its front), then rustls
    /// over them: None if that gave no plaintext and no reason to stop reading.
    fn read_records(
        &mut self,
        sock: &mut impl Read,
        buf: &mut [u8],
        free: &mut [u8],
        peer: SocketAddr,
    ) -> Option<(Input, usize)> {
        buf.copy_within(self.rx_start..self.rx_len, 0);
        self.rx_len -= self.rx_start;
        self.rx_start = 0;
        let Some(room) = buf.get_mut(self.rx_len..).filter(|r| !r.is_empty()) else {
            log::debug!("{peer}: TLS: a handshake message larger than {RECORDS} bytes");
            return Some((Input::Failed, 0));
        };
        match sock.read(room) {
            Ok(0) => return Some((Input::Eof, 0)),
            Ok(n) => {
                self.rx_len += n;
                self.touched = true;
                self.wire_in = self.wire_in.saturating_add(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some((Input::WouldBlock, 0)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return None,
            Err(_) => return Some((Input::Failed, 0)),
        }
        match self.drive(buf, free, Out::Nothing, &mut Vec::new()) {
            Ok((0, _)) => None,
            Ok((n, _)) => Some((Input::Data, n)),
            Err(e) => {
                log::debug!("{peer}: TLS: {e}");
                self.fail(buf);
                Some((Input::Broken, 0))
            }
        }
    }

    /// Moves what rustls left unprocessed in the shared buffer `from` (a record's beginning)
    /// into the connection's own, at its front.
    fn keep_rest(&mut self, from: &[u8]) {
        let rest = from.get(self.rx_start..self.rx_len).unwrap_or_default();
        self.rx_start = 0;
        self.rx_len = 0;
        // A failed session reads nothing more: what follows the bad record is dropped.
        if rest.is_empty() || self.broken {
            return;
        }
        // Always there and as large as `from`: only `with_rx` lends it out, and not to this.
        if let Some(to) = self.rx.as_mut().and_then(|rx| rx.get_mut(..rest.len())) {
            to.copy_from_slice(rest);
            self.rx_len = rest.len();
            self.rx_resident = true;
        }
    }

    /// Runs `f` with the connection's own receive buffer, lent out so that rustls can work on
    /// it while `f` changes the rest of the state.
    fn with_rx<T>(&mut self, f: impl FnOnce(&mut Tls, &mut [u8]) -> T) -> T {
        let mut rx = self.rx.take();
        let out = f(self, rx.as_deref_mut().unwrap_or_default());
        self.rx = rx;
        out
    }

    /// Whether application data may be encrypted: the handshake got far enough, no error, and
    /// no close_notify of ours.
    pub fn ready(&self) -> bool {
        self.ready && !self.broken && !self.close_sent
    }

    /// Encrypts `plain` and writes the records to `sock`; what it does not take waits in
    /// [`unsent`](Tls::unsent). How many bytes were written, or None if the session no longer
    /// takes application data (it is closed).
    pub fn send(&mut self, plain: &[u8], sock: &mut impl Write) -> io::Result<Option<usize>> {
        self.output(Out::Data(plain), sock)
    }

    /// Sends close_notify the same way.
    pub fn close_notify(&mut self, sock: &mut impl Write) -> io::Result<Option<usize>> {
        self.output(Out::CloseNotify, sock)
    }

    fn output(&mut self, out: Out<'_>, sock: &mut impl Write) -> io::Result<Option<usize>> {
        SEALED.with_borrow_mut(|sealed| {
            let driven = self.with_rx(|tls, rx| {
                let driven = tls.drive(rx, &mut [], out, sealed);
                if driven.is_err() {
                    tls.fail(rx);
                }
                driven
            });
            let len = match driven {
                Ok((_, Some(len))) => len,
                Ok((_, None)) => return Ok(None),
                Err(e) => return Err(io::Error::other(e)),
            };
            let records = sealed.get(..len).unwrap_or_default();
            let mut written = 0;
            let mut failed = None;
            // Records rustls queued on the way (a handshake message) go first.
            while self.unsent().is_none() && written < records.len() {
                match sock.write(records.get(written..).unwrap_or_default()) {
                    Ok(0) => failed = Some(io::ErrorKind::WriteZero.into()),
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => failed = Some(e),
                }
                if failed.is_some() {
                    break;
                }
            }
            // Sealed, so kept even after a failed write: the next write meets the error again,
            // as it would for plaintext left in the write buffer.
            self.tx
                .extend_from_slice(records.get(written..).unwrap_or_default());
            match failed {
                Some(e) => Err(e),
                None => Ok(Some(written)),
            }
        })
    }

    /// Encrypted output not yet written, if any.
    pub fn unsent(&self) -> Option<&[u8]> {
        self.tx.get(self.tx_pos..).filter(|rest| !rest.is_empty())
    }

    /// Accounts for `n` bytes of [`unsent`](Tls::unsent) written. Once all are, the vector is
    /// freed rather than kept: the next connection's output then reuses the same heap memory,
    /// where kept vectors would each hold their own until the connection idles, and the heap,
    /// grown by them all, would not shrink back.
    pub fn sent(&mut self, n: usize) {
        self.tx_pos += n;
        if self.tx_pos >= self.tx.len() {
            self.tx = Vec::new();
            self.tx_pos = 0;
        }
    }

    /// Whether the receive buffer may hold resident pages (kept apart from the connection's
    /// buffers: a TLS record arriving touches this one, not theirs).
    pub fn resident(&self) -> bool {
        self.rx_resident
    }

    /// Gives back the pages of the receive buffer, for an idle connection, unless it holds a
    /// record's beginning (the next idle check tries again).
    pub fn release(&mut self) {
        if self.rx_resident && self.rx_len == 0 {
            if let Some(rx) = self.rx.as_mut() {
                rx.release();
            }
            self.rx_resident = false;
        }
    }

    /// After a fatal error: what rustls queued, its alert last, becomes the last output. It is
    /// asked only while it has queued records, which it hands out before looking at input:
    /// asked once more, it would process the bad input a second time and alert a second time
    /// (in a debug build, trip its own assertion against that). The queue can hold more than
    /// the alert: the reply to a client's KeyUpdate waits there for the next output. `input`
    /// is the buffer the records are in, as for [`drive`](Tls::drive).
    fn fail(&mut self, input: &mut [u8]) {
        self.broken = true;
        for _ in 0..MAX_QUEUED {
            if !self.conn.wants_write() {
                return;
            }
            let status = self
                .conn
                .process_tls_records(input.get_mut(self.rx_start..self.rx_len).unwrap_or_default());
            let discard = status.discard;
            // Without room for a record, the connection closes without it.
            let encoded = match status.state {
                Ok(ConnectionState::EncodeTlsData(mut chunk)) => queue(&mut self.tx, &mut chunk).is_ok(),
                _ => false,
            };
            self.processed(discard);
            if !encoded {
                return;
            }
        }
    }

    /// Moves past `n` bytes rustls is done with.
    fn processed(&mut self, n: usize) {
        self.rx_start = (self.rx_start + n).min(self.rx_len);
        if self.rx_start == self.rx_len {
            self.rx_start = 0;
            self.rx_len = 0;
        }
    }

    /// Runs rustls over the records in `input` (from `rx_start` to `rx_len`: the connection's
    /// own receive buffer, or the shared one they were just read into) until it needs more
    /// input or lets application data out: handshake output goes to `tx`; plaintext into
    /// `free` and, past its room, to `spill`; `out` is sealed into `sealed` once it may be.
    /// Returns how many bytes went into `free`, and how many sealed bytes `out` became (None if
    /// it was not sent).
    fn drive(
        &mut self,
        input: &mut [u8],
        free: &mut [u8],
        out: Out<'_>,
        sealed: &mut Vec<u8>,
    ) -> Result<(usize, Option<usize>), rustls::Error> {
        let mut got = 0;
        loop {
            let status = self
                .conn
                .process_tls_records(input.get_mut(self.rx_start..self.rx_len).unwrap_or_default());
            let mut discard = status.discard;
            let mut done = None;
            let step = match status.state {
                Err(e) => Err(e),
                Ok(ConnectionState::ReadTraffic(mut records)) => loop {
                    match records.next_record() {
                        None => break Ok(()),
                        Some(Err(e)) => break Err(e),
                        Some(Ok(record)) => {
                            discard += record.discard;
                            let rest = if self.spill.is_empty() {
                                let n = copy(record.payload, free.get_mut(got..).unwrap_or_default());
                                got += n;
                                record.payload.get(n..).unwrap_or_default()
                            } else {
                                record.payload
                            };
                            self.spill.extend_from_slice(rest);
                        }
                    }
                },
                Ok(ConnectionState::EncodeTlsData(mut chunk)) => queue(&mut self.tx, &mut chunk),
                // Written by the shell's flush, in order, after what is already in `tx`.
                Ok(ConnectionState::TransmitTlsData(transmit)) => {
                    transmit.done();
                    Ok(())
                }
                Ok(ConnectionState::PeerClosed) => {
                    self.peer_closed = true;
                    Ok(())
                }
                Ok(ConnectionState::WriteTraffic(mut write)) => {
                    self.ready = true;
                    let room = |len: usize| len + len.div_ceil(RECORD_PLAINTEXT).max(1) * RECORD_OVERHEAD;
                    let len = match out {
                        Out::Nothing => Ok(None),
                        Out::Data(plain) => seal(sealed, 0, room(plain.len()), |b| {
                            write.encrypt(plain, b).map_err(EncryptError::into_room)
                        })
                        .map(Some),
                        Out::CloseNotify => seal(sealed, 0, room(0), |b| {
                            write.queue_close_notify(b).map_err(EncryptError::into_room)
                        })
                        .map(Some),
                    };
                    len.map(|len| done = Some(len))
                }
                // Closed (both sides sent close_notify), waiting for handshake records, or early
                // data (never enabled: max_early_data_size is 0).
                Ok(_) => {
                    done = Some(None);
                    Ok(())
                }
            };
            self.processed(discard);
            step?;
            if let Some(len) = done {
                return Ok((got, len));
            }
        }
    }
}

/// What a rustls encoder needs to be told to try again: the room it asks for, if that is why it
/// failed.
trait IntoRoom {
    fn into_room(self) -> Option<usize>;
}

impl IntoRoom for EncodeError {
    fn into_room(self) -> Option<usize> {
        match self {
            EncodeError::InsufficientSize(e) => Some(e.required_size),
            _ => None,
        }
    }
}

impl IntoRoom for EncryptError {
    fn into_room(self) -> Option<usize> {
        match self {
            EncryptError::InsufficientSize(e) => Some(e.required_size),
            _ => None,
        }
    }
}

/// Has `write` put records into `buf` from `at` on, with `room` bytes there to start with and
/// more if rustls asks for them: how many bytes it wrote. `buf` is only ever grown, so a buffer
/// that is reused is not zero-filled again.
fn seal(
    buf: &mut Vec<u8>,
    at: usize,
    mut room: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
) -> Result<usize, rustls::Error> {
    loop {
        if buf.len() < at + room {
            buf.resize(at + room, 0);
        }
        match write(buf.get_mut(at..).unwrap_or_default()) {
            Ok(n) => return Ok(n),
            Err(Some(needed)) if needed > room => room = needed,
            Err(_) => return Err(rustls::Error::EncryptError),
        }
    }
}

/// Appends a record rustls queued (a handshake message, an alert) to `tx`; on failure `tx` is
/// as it was.
fn queue(tx: &mut Vec<u8>, chunk: &mut EncodeTlsData<'_, ServerConnectionData>) -> Result<(), rustls::Error> {
    let start = tx.len();
    let sealed = seal(tx, start, RECORD_OVERHEAD, |b| {
        chunk.encode(b).map_err(EncodeError::into_room)
    });
    tx.truncate(start + sealed.as_ref().map_or(0, |&n| n));
    sealed.map(|_| ())
}

/// Copies as much of `from` as fits into `to`: how many bytes.
fn copy(from: &[u8], to: &mut [u8]) -> usize {
    let n = from.len().min(to.len());
    to[..n].copy_from_slice(&from[..n]);
    n
}

#[cfg(test)]
mod tests;
