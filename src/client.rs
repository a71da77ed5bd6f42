//! A small blocking client on std sockets, shared by scalar-cli, scalar-bench and the tests.
//!
//! It does framing and the handshake and hands out owned frames; what to do with Events that
//! arrive between replies is the caller's business.

use crate::proto::*;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// What went wrong talking to a server.
#[derive(Debug)]
pub enum ClientError {
    /// The socket failed (including timeouts).
    Io(io::Error),
    /// The server closed the connection.
    Closed,
    /// The server sent a frame this client cannot decode.
    Protocol(String),
    /// The server refused a request or the session with an Error or Bye.
    Refused {
        /// The error code.
        code: u16,
        /// The server's reason.
        reason: String,
    },
}

impl ClientError {
    fn refused(code: u16, reason: Option<&str>) -> Self {
        let reason = reason.unwrap_or_default().to_string();
        ClientError::Refused { code, reason }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "connection error: {e}"),
            ClientError::Closed => write!(f, "the server closed the connection"),
            ClientError::Protocol(e) => write!(f, "protocol error: {e}"),
            ClientError::Refused { code, reason } => {
                let label = ErrorCode::from_u16(*code).map_or("error", ErrorCode::label);
                if reason.is_empty() {
                    write!(f, "server said {code} {label}")
                } else {
                    write!(f, "server said {code} {label}: {reason}")
                }
            }
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// One whole frame's payload, owned; decode it with [`Frame::msg`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(pub Vec<u8>);

impl Frame {
    /// Decodes the payload.
    pub fn msg(&self) -> Result<Msg<'_>, ClientError> {
        Msg::decode(&self.0).map_err(|r| ClientError::Protocol(r.error.to_string()))
    }
}

/// A blocking connection to a Scalar server.
pub struct Client {
    stream: TcpStream,
    buf: Box<[u8]>,
    len: usize,
    next_seq: u32,
    /// The session's user ID, once identified.
    pub user: String,
    /// The server's domain, from its Ident.
    pub domain: String,
}

impl Client {
    /// Connects without identifying (for tests that speak raw protocol).
    pub fn connect_raw(addr: impl ToSocketAddrs) -> Result<Client, ClientError> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: vec![0u8; MAX_FRAME].into_boxed_slice(),
            len: 0,
            next_seq: 1,
            user: String::new(),
            domain: String::new(),
        })
    }

    /// Connects and identifies as `user`.
    pub fn connect(addr: impl ToSocketAddrs, user: &str) -> Result<Client, ClientError> {
        let mut c = Client::connect_raw(addr)?;
        let user_name = Name::parse(user).map_err(|e| ClientError::Protocol(format!("{user}: {e}")))?;
        let seq = c.seq();
        c.send(&Msg::Ident(Ident {
            seq: Some(seq),
            versions: List::Slice(&[VERSION]),
            user: user_name,
            server: None,
        }))?;
        let reply = c.reply(seq)?;
        match reply.msg()? {
            Msg::Ident(i) => {
                c.user = i.user.as_str().to_string();
                c.domain = i.server.unwrap_or_default().to_string();
            }
            other => {
                return Err(ClientError::Protocol(format!(
                    "expected Ident, got {}",
                    other.msg_type().label()
                )));
            }
        }
        Ok(c)
    }

    /// A fresh request number.
    pub fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        s
    }

    /// The socket, e.g. to set timeouts or clone it for a reader thread.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Sets how long [`recv`](Client::recv) waits; `None` waits forever.
    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(t)
    }

    /// Sends one message.
    pub fn send(&mut self, msg: &Msg<'_>) -> Result<(), ClientError> {
        let frame = msg
            .to_frame()
            .map_err(|_| ClientError::Protocol("message too large for one frame".into()))?;
        self.send_raw(&frame)
    }

    /// Sends bytes as they are (tests use this for broken frames).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    /// Receives the next frame, whatever it is.
    pub fn recv(&mut self) -> Result<Frame, ClientError> {
        loop {
            match frame::split(&self.buf[..self.len]) {
                Err(e) => return Err(ClientError::Protocol(format!("frame length {} too long", e.0))),
                Ok(Status::Complete((payload, used))) => {
                    let f = Frame(payload.to_vec());
                    self.buf.copy_within(used..self.len, 0);
                    self.len -= used;
                    return Ok(f);
                }
                Ok(Status::Partial) => {}
            }
            let n = match self.stream.read(&mut self.buf[self.len..]) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            self.len += n;
        }
    }

    /// Receives frames until the reply to request `seq`, answering server Pings on the way.
    /// Frames that are not the reply (Events of others) are dropped; callers that need them use
    /// [`recv`](Client::recv). An Error reply or a Bye becomes [`ClientError::Refused`].
    pub fn reply(&mut self, seq: u32) -> Result<Frame, ClientError> {
        loop {
            let f = self.recv()?;
            match f.msg()? {
                Msg::Ping(p) => self.send(&Msg::Pong(p))?,
                Msg::Bye(b) => return Err(ClientError::refused(b.code, b.reason)),
                Msg::Error(e) if e.seq == Some(seq) || e.seq.is_none() => {
                    return Err(ClientError::refused(e.code, e.reason));
                }
                m if m.seq() == Some(seq) => return Ok(f),
                _ => {}
            }
        }
    }

    /// Sends a request with a fresh `seq` and waits for its reply.
    pub fn request<'a>(&mut self, build: impl FnOnce(Option<u32>) -> Msg<'a>) -> Result<Frame, ClientError> {
        let seq = self.seq();
        self.send(&build(Some(seq)))?;
        self.reply(seq)
    }

    /// Gives up the socket, with any bytes already read but not yet returned as frames.
    pub fn into_parts(self) -> (TcpStream, Vec<u8>) {
        let pending = self.buf[..self.len].to_vec();
        (self.stream, pending)
    }

    /// Sends Bye (code 0) and waits briefly for the server to close.
    pub fn bye(mut self) -> Result<(), ClientError> {
        self.send(&Msg::Bye(Bye {
            code: 0,
            reason: None,
        }))?;
        self.set_timeout(Some(Duration::from_secs(2)))?;
        while self.recv().is_ok() {}
        Ok(())
    }
}
