//! The Scalar wire protocol, sans IO: framing, CBOR messages, names, ids and error codes.
//! Nothing here touches a socket or reads a clock.

mod addr;
pub mod cbor;
mod decode;
mod error;
pub mod frame;
mod id;
mod key;
mod msg;
mod name;
pub mod pattern;
mod query;

pub use addr::is_loopback;
pub use decode::{DecodeError, Rejected};
pub use error::ErrorCode;
pub use frame::{MAX_FRAME, MAX_PAYLOAD, Status};
pub use id::{MsgId, is_hex_id};
pub use key::{Action, KEY_COUNT, Key, MsgType, Presence, Role, modes};
pub use msg::*;
pub use name::{Kind, MAX_DOMAIN, MAX_LOCAL, MAX_TOPIC, Name, NameError, valid_domain};
pub use query::{ListQuery, SearchText};

/// A frame that could be split off the front of a buffer, decoded or refused.
pub type Decoded<'a> = Result<Msg<'a>, Rejected>;

/// Splits the first frame off `buf` and decodes it: the message (or why it was refused) and the
/// number of bytes the frame spans, or `Partial`. Only an over-long length prefix is fatal to the
/// stream; every other fault is confined to its own frame.
pub fn decode_frame(buf: &[u8]) -> Result<Status<(Decoded<'_>, usize)>, frame::FrameTooLong> {
    Ok(match frame::split(buf)? {
        Status::Complete((payload, used)) => Status::Complete((Msg::decode(payload), used)),
        Status::Partial => Status::Partial,
    })
}
