//! The suite's own client: frames written byte by byte and read back with ciborium, a general
//! CBOR library, so that nothing here shares scalard's decoder (a bug there cannot hide itself
//! by agreeing with itself).

use ciborium::Value;
use scalar::client::{Transport, handshake};
use scalar::tls::Tls;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long any one wait may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// A failed expectation: what was wrong, for the report.
pub type Fail = String;

/// One raw connection, plain or TLS (the frames are the same either way).
pub struct Raw {
    sock: Transport,
    buf: Vec<u8>,
}

/// Where the server is, and how to reach it.
pub struct Dial {
    /// Its address.
    pub addr: SocketAddr,
    /// `HOST:PORT` as given: the name its certificate must carry.
    pub server: String,
    /// TLS, and whom to trust; `None` for plain TCP.
    pub tls: Option<Tls>,
}

/// A CBOR map with integer keys, in the order given (cases give them ascending).
pub fn map(pairs: &[(u64, Value)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (Value::Integer((*k).into()), v.clone()))
            .collect(),
    )
}

/// Text.
pub fn t(s: &str) -> Value {
    Value::Text(s.into())
}

/// An unsigned integer.
pub fn u(n: u64) -> Value {
    Value::Integer(n.into())
}

/// The encoding of one value.
pub fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::into_writer(v, &mut out);
    out
}

/// A frame around `payload`: the two-byte little-endian length, then the bytes.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u16).to_le_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// `v`, read from `payload`, if the server wrote it as §3 says senders MUST: map keys
/// ascending, and every integer and length in its shortest form (ciborium writes a value
/// back that way, so the bytes must be the same).
fn deterministic(payload: &[u8], v: Value) -> Result<Value, Fail> {
    let keys: Vec<u64> = v
        .as_map()
        .map(|m| {
            m.iter()
                .filter_map(|(k, _)| k.as_integer()?.try_into().ok())
                .collect()
        })
        .unwrap_or_default();
    if let Some(w) = keys.windows(2).find(|w| w[0] >= w[1]) {
        return Err(format!(
            "the server wrote key {} before key {}, not in ascending order (§3): {}",
            w[0],
            w[1],
            show(&v)
        ));
    }
    let canonical = cbor(&v);
    if let Some(rest) = payload
        .strip_prefix(canonical.as_slice())
        .filter(|r| !r.is_empty())
    {
        return Err(format!(
            "the server's frame holds {} byte(s) after its CBOR item (§2: one item a frame): {}",
            rest.len(),
            show(&v)
        ));
    }
    if canonical != payload {
        return Err(format!(
            "the server's frame is not in the shortest, definite-length encoding (§3): {}",
            show(&v)
        ));
    }
    Ok(v)
}

/// The value of integer key `k` in a map.
pub fn get(v: &Value, k: u64) -> Option<&Value> {
    v.as_map()?
        .iter()
        .find(|(key, _)| key.as_integer().and_then(|i| u64::try_from(i).ok()) == Some(k))
        .map(|(_, v)| v)
}

/// Key `k` as an unsigned integer.
pub fn uint(v: &Value, k: u64) -> Option<u64> {
    get(v, k)?.as_integer().and_then(|i| u64::try_from(i).ok())
}

/// Key `k` as text.
pub fn text(v: &Value, k: u64) -> Option<&str> {
    get(v, k)?.as_text()
}

/// A message's type (key 0).
pub fn kind(v: &Value) -> Option<u64> {
    uint(v, 0)
}

/// The name of message type `k` (PROTOCOL.md §3), for failure reports.
fn type_name(k: u64) -> &'static str {
    const NAMES: [&str; 24] = [
        "",
        "Ident",
        "Bye",
        "Error",
        "Ping",
        "Pong",
        "Message",
        "Event",
        "Sub",
        "Unsub",
        "Meta",
        "Topics",
        "TopicList",
        "Catchup",
        "CatchupEnd",
        "Search",
        "Challenge",
        "Auth",
        "Grant",
        "Token",
        "Verify",
        "Vouch",
        "SetPassword",
        "PasswordSet",
    ];
    const MORE: [&str; 11] = [
        "Mod",
        "SetMeta",
        "SetPresence",
        "Members",
        "MemberList",
        "Targets",
        "TargetList",
        "Conversations",
        "ConversationList",
        "MarkRead",
        "ReadMark",
    ];
    let name = match k {
        0..=23 => usize::try_from(k).ok().and_then(|i| NAMES.get(i)),
        64..=74 => usize::try_from(k - 64).ok().and_then(|i| MORE.get(i)),
        _ => None,
    };
    name.copied().filter(|n| !n.is_empty()).unwrap_or("unknown type")
}

/// A short description of a message, for failure reports.
pub fn show(v: &Value) -> String {
    let seq = match uint(v, 1) {
        Some(seq) => format!("seq {seq}"),
        None => "no seq".into(),
    };
    match (kind(v), uint(v, 9)) {
        (Some(3), Some(code)) => format!("Error {code}, {seq} ({})", text(v, 10).unwrap_or("")),
        (Some(2), Some(code)) => format!("Bye {code}"),
        (Some(k @ (4 | 5)), _) => format!("{} ({k}), {seq}, time {:?}", type_name(k), uint(v, 4)),
        (Some(k), _) => format!("{} ({k}), {seq}", type_name(k)),
        (None, _) => format!("a map without a type: {v:?}"),
    }
}

/// `v` in CBOR's diagnostic notation (RFC 8949 §8), texts over 40 bytes cut short with their
/// length, for failure reports that name a request.
pub fn diag(v: &Value) -> String {
    let list = |items: Vec<String>| items.join(", ");
    match v {
        Value::Integer(i) => i128::from(*i).to_string(),
        Value::Text(s) if s.len() > 40 => {
            let cut = (0..=40).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
            format!("{:?}… ({} bytes)", s.get(..cut).unwrap_or(""), s.len())
        }
        Value::Text(s) => format!("{s:?}"),
        Value::Bytes(b) => format!("h'{}'", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        Value::Array(a) => format!("[{}]", list(a.iter().map(diag).collect())),
        Value::Map(m) => format!(
            "{{{}}}",
            list(
                m.iter()
                    .map(|(k, v)| format!("{}: {}", diag(k), diag(v)))
                    .collect()
            )
        ),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        other => format!("{other:?}"),
    }
}

impl Raw {
    /// Connects, and with TLS completes the handshake.
    pub fn connect(dial: &Dial) -> Result<Raw, Fail> {
        let tcp = TcpStream::connect_timeout(&dial.addr, WAIT).map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let _ = tcp.set_write_timeout(Some(WAIT));
        let sock = match &dial.tls {
            None => Transport::Plain(tcp),
            Some(tls) => handshake(tcp, tls, &dial.server, WAIT).map_err(|e| e.to_string())?,
        };
        Ok(Raw {
            sock,
            buf: Vec::new(),
        })
    }

    /// Whether what came back so far starts like a TLS record (an alert or a handshake, TLS
    /// 1.x): a TLS server's answer to plain frames.
    pub fn got_tls(&self) -> bool {
        scalar::tls::starts_like_tls(&self.buf)
    }

    /// Writes bytes as they are.
    pub fn bytes(&mut self, b: &[u8]) -> Result<(), Fail> {
        self.sock
            .write_all(b)
            .and_then(|()| self.sock.flush())
            .map_err(|e| format!("write: {e}"))
    }

    /// Writes one message as a frame.
    pub fn send(&mut self, v: &Value) -> Result<(), Fail> {
        self.bytes(&frame(&cbor(v)))
    }

    /// The next frame's payload, decoded; fails after `WAIT`, or if the server closes.
    pub fn recv(&mut self) -> Result<Value, Fail> {
        self.recv_by(Instant::now() + WAIT)
    }

    /// [`recv`](Raw::recv), failing at `deadline`: the waits that pass over frames (Pings,
    /// others' Events) share one, so that a server that pings more often than `WAIT` cannot
    /// keep a wait for a frame that never comes going for ever.
    fn recv_by(&mut self, deadline: Instant) -> Result<Value, Fail> {
        loop {
            if self.buf.len() >= 2 {
                let len = usize::from(u16::from_le_bytes([self.buf[0], self.buf[1]]));
                if self.buf.len() >= 2 + len {
                    let payload: Vec<u8> = self.buf.drain(..2 + len).skip(2).collect();
                    let v = ciborium::from_reader(payload.as_slice()).map_err(|e| match e {
                        ciborium::de::Error::Io(_) => {
                            "the server sent a frame whose CBOR item is cut short".to_string()
                        }
                        e => format!("the server sent a frame that is not CBOR: {e}"),
                    })?;
                    if kind(&v) == Some(3) && uint(&v, 9) == Some(505) {
                        CONNECTING_TOO_FAST.store(true, Ordering::Relaxed);
                    }
                    return deterministic(&payload, v);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("no frame from the server in time".into());
            }
            let _ = self.sock.tcp().set_read_timeout(Some(left));
            let mut chunk = [0u8; 16384];
            match self.sock.read(&mut chunk) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                // A TLS record still coming: read on, within the deadline.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err("no frame from the server in time".into());
                }
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// The next frame that is not a server Ping (answered); fails after `WAIT`, Pings
    /// included.
    pub fn next(&mut self) -> Result<Value, Fail> {
        self.next_by(Instant::now() + WAIT)
    }

    /// [`next`](Raw::next), failing at `deadline`.
    fn next_by(&mut self, deadline: Instant) -> Result<Value, Fail> {
        loop {
            let v = self.recv_by(deadline)?;
            if kind(&v) != Some(4) {
                return Ok(v);
            }
            // §4: the same time, and seq if any.
            let mut pong = vec![(0, u(5)), (4, get(&v, 4).cloned().unwrap_or(u(0)))];
            pong.extend(get(&v, 1).map(|seq| (1, seq.clone())));
            self.send(&map(&pong))?;
        }
    }

    /// The next frame that is not a server Ping (answered) or an Event without `seq`; fails
    /// after `WAIT`, those included.
    pub fn reply(&mut self) -> Result<Value, Fail> {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.next_by(deadline)?;
            if kind(&v) != Some(7) || get(&v, 1).is_some() {
                return Ok(v);
            }
        }
    }

    /// Expects an Error with `code` (and `seq`, when given).
    pub fn expect_error(&mut self, code: u64, seq: Option<u64>) -> Result<(), Fail> {
        let v = self.reply()?;
        if kind(&v) == Some(3) && uint(&v, 9) == Some(code) && (seq.is_none() || uint(&v, 1) == seq) {
            return Ok(());
        }
        let with = seq.map_or("(any seq)".to_string(), |s| format!("with seq {s}"));
        Err(format!("expected Error {code} {with}, got {}", show(&v)))
    }

    /// Expects Bye `code`, then the server closing.
    pub fn expect_bye_and_close(&mut self, code: u64) -> Result<(), Fail> {
        // Named, or a server that closes at once without its Bye reads as a plain close.
        let v = self.recv().map_err(|e| format!("expected Bye {code}: {e}"))?;
        if kind(&v) != Some(2) || uint(&v, 9) != Some(code) {
            return Err(format!("expected Bye {code}, got {}", show(&v)));
        }
        match self.recv() {
            Err(e) if e.contains("closed") => Ok(()),
            Err(e) => Err(format!("after Bye, expected the server to close: {e}")),
            Ok(v) => Err(format!(
                "after Bye, expected the server to close, got {}",
                show(&v)
            )),
        }
    }

    /// Writes `sent` (a frame, or bytes that break the framing), then expects what §9 says an
    /// error that closes brings: Error `code` (with `seq`, when given), Bye with the same
    /// code, and the close. One helper for every case of that shape, so that they all check
    /// the same three things.
    pub fn expect_fatal(&mut self, sent: &[u8], code: u64, seq: Option<u64>) -> Result<(), Fail> {
        self.bytes(sent)?;
        self.expect_error(code, seq)?;
        self.expect_bye_and_close(code)
    }

    /// Sends an Ident as `user` (seq 1, version 1), without waiting for the reply.
    pub fn send_ident(&mut self, user: &str) -> Result<(), Fail> {
        self.send_ident_with(user, &[])
    }

    /// [`send_ident`](Raw::send_ident) with `extra` keys too.
    pub fn send_ident_with(&mut self, user: &str, extra: &[(u64, Value)]) -> Result<(), Fail> {
        self.send(&ident_request(user, extra))
    }

    /// Idents as `user`; returns the reply.
    pub fn ident(&mut self, user: &str) -> Result<Value, Fail> {
        self.send_ident(user)?;
        let v = self.reply()?;
        ident_reply(&v).map_err(|e| format!("Ident as {user}: {e}"))?;
        Ok(v)
    }

    /// Subscribes to `channel`; returns the Meta.
    pub fn sub(&mut self, channel: &str, seq: u64) -> Result<Value, Fail> {
        self.send(&map(&[(0, u(8)), (1, u(seq)), (2, t(channel))]))?;
        let v = self.reply()?;
        if kind(&v) != Some(10) || uint(&v, 1) != Some(seq) {
            return Err(format!("Sub {channel}: expected Meta, got {}", show(&v)));
        }
        Ok(v)
    }

    /// Publishes text; returns the echo.
    pub fn say(&mut self, topic: &str, body: &str, seq: u64) -> Result<Value, Fail> {
        self.send(&map(&[(0, u(6)), (1, u(seq)), (2, t(topic)), (6, t(body))]))?;
        let v = self.reply()?;
        if kind(&v) != Some(7) || uint(&v, 1) != Some(seq) {
            return Err(format!("Message to {topic}: expected the echo, got {}", show(&v)));
        }
        Ok(v)
    }

    /// The next Event, whatever its `seq`.
    pub fn event(&mut self) -> Result<Value, Fail> {
        let v = self.next()?;
        match kind(&v) {
            Some(7) => Ok(v),
            _ => Err(format!("expected an Event, got {}", show(&v))),
        }
    }
}

/// Set once the server sent `connecting_too_fast` (505): the cases connect far faster
/// than people do, and against a server that limits new connections every case after fails
/// alike (found by hand against scalard's defaults: about 170 failures for one cause). The run
/// then stops and says so (main.rs), as it does for a fault that would fail every case.
/// An Ident as `user` (seq 1, version 1), with `extra` keys too.
pub fn ident_request(user: &str, extra: &[(u64, Value)]) -> Value {
    let mut fields = vec![
        (0, u(1)),
        (1, u(1)),
        (11, Value::Array(vec![u(1)])),
        (12, t(user)),
    ];
    fields.extend_from_slice(extra);
    map(&fields)
}

pub static CONNECTING_TOO_FAST: AtomicBool = AtomicBool::new(false);

/// The id §7 gives an Event: SHA-256 over `[from, topic, time, body, ctype/null,
/// reply_to/null]`, computed here with ciborium rather than the library's encoder.
pub fn event_id(e: &Value) -> Option<Vec<u8>> {
    use sha2::{Digest, Sha256};
    let arr = Value::Array(vec![
        get(e, 3)?.clone(),
        get(e, 2)?.clone(),
        get(e, 4)?.clone(),
        get(e, 6)?.clone(),
        get(e, 7).cloned().unwrap_or(Value::Null),
        get(e, 8).cloned().unwrap_or(Value::Null),
    ]);
    Some(Sha256::digest(cbor(&arr)).to_vec())
}

/// Checks that `v` is an Ident reply with the fields §4 requires of it, so that something that
/// only echoes the client's Ident back is not taken for a server.
pub fn ident_reply(v: &Value) -> Result<(), Fail> {
    if kind(v) != Some(1) {
        return Err(format!("expected the Ident reply, got {}", show(v)));
    }
    let missing: Vec<&str> = [(12, "user"), (13, "server"), (27, "keepalive"), (28, "timeout")]
        .into_iter()
        .filter(|&(k, _)| get(v, k).is_none())
        .map(|(_, name)| name)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "an Ident reply without {}: {}",
            missing.join(", "),
            show(v)
        ));
    }
    // The ID the session now has, which the client must use (a guest's too): one that breaks
    // §5 cannot be written back in any request, nor is it what the server's Events will carry
    // to others in a form they can check.
    match get(v, 12).and_then(Value::as_text) {
        Some(user) if is_user_id(user) => Ok(()),
        _ => Err(format!(
            "an Ident reply whose user, {}, is not a user ID of §5 (a local part of 1-32 \
             bytes of [a-z0-9._-], starting with a letter or digit, @, a domain)",
            get(v, 12).map_or("absent".to_string(), diag)
        )),
    }
}

/// Whether `s` follows §5's grammar of a user ID, checked here rather than by the library's
/// parser, so that a bug there cannot hide itself.
pub fn is_user_id(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let lower_digit = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let local_ok = (1..=32).contains(&local.len())
        && local.bytes().next().is_some_and(lower_digit)
        && local
            .bytes()
            .all(|c| lower_digit(c) || matches!(c, b'.' | b'_' | b'-'));
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|c| lower_digit(c) || c == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    local_ok && domain.len() <= 93 && domain.split('.').all(label_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_follow_section_5() {
        for good in [
            "alice@example.com",
            "a@b",
            "guest-k3v9ab-carol-x7k2ab@example.com",
            "x.y_z-1@a-b.c",
        ] {
            assert!(is_user_id(good), "{good}");
        }
        let local33 = format!("{}@example.com", "a".repeat(33));
        for bad in [
            "alice",
            "Alice@example.com",
            "#rust@example.com",
            "-a@example.com",
            "a@-b.com",
            "a@b..com",
            "a@example.com@x",
            local33.as_str(),
        ] {
            assert!(!is_user_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_message_is_shown_by_its_type_s_name() {
        assert_eq!(
            show(&map(&[(0, u(5)), (1, u(2)), (4, u(7))])),
            "Pong (5), seq 2, time Some(7)"
        );
        assert_eq!(show(&map(&[(0, u(21))])), "Vouch (21), no seq");
        assert_eq!(show(&map(&[(0, u(68))])), "MemberList (68), no seq");
        assert_eq!(show(&map(&[(0, u(72))])), "ConversationList (72), no seq");
        assert_eq!(show(&map(&[(0, u(74))])), "ReadMark (74), no seq");
        assert_eq!(show(&map(&[(0, u(40))])), "unknown type (40), no seq");
        assert_eq!(show(&map(&[(0, u(0))])), "unknown type (0), no seq");
    }

    fn read(payload: &[u8]) -> Result<Value, Fail> {
        deterministic(payload, ciborium::from_reader(payload).unwrap())
    }

    #[test]
    fn a_request_is_shown_in_diagnostic_notation() {
        let long = "p".repeat(257);
        let v = map(&[
            (0, u(22)),
            (31, t(&long)),
            (30, Value::Bytes(vec![0, 255])),
            (11, Value::Array(vec![u(1)])),
        ]);
        let p40 = "p".repeat(40);
        assert_eq!(
            diag(&v),
            format!("{{0: 22, 31: \"{p40}\"… (257 bytes), 30: h'00ff', 11: [1]}}")
        );
    }

    #[test]
    fn only_the_deterministic_encoding_passes() {
        // {0: 5, 4: 7}
        assert!(read(&[0xa2, 0x00, 0x05, 0x04, 0x07]).is_ok());
        // {4: 7, 0: 5}: the same map, keys out of order.
        let e = read(&[0xa2, 0x04, 0x07, 0x00, 0x05]).unwrap_err();
        assert!(e.contains("key 4 before key 0"), "{e}");
        // {0: 5, 4: 7} with 7 in two bytes.
        let e = read(&[0xa2, 0x00, 0x05, 0x04, 0x18, 0x07]).unwrap_err();
        assert!(e.contains("shortest"), "{e}");
        // An indefinite-length text.
        let e = read(&[0xa2, 0x00, 0x05, 0x04, 0x7f, 0x61, 0x61, 0xff]).unwrap_err();
        assert!(e.contains("shortest"), "{e}");
        // A repeated key.
        assert!(read(&[0xa2, 0x00, 0x05, 0x00, 0x05]).is_err());
        // A byte after the map.
        let e = read(&[0xa1, 0x00, 0x05, 0x00]).unwrap_err();
        assert!(e.contains("1 byte(s) after its CBOR item"), "{e}");
    }
}
