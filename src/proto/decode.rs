//! Decoding a frame's payload into a [`Msg`] that borrows from it.
//!
//! Two passes: first every known key's value is collected into a table (skipping unknown keys,
//! refusing duplicates), then the message type picks its fields from the table. The table keeps
//! `seq` even when a later field is bad, so an Error can name the request it refuses.

use super::cbor::{CborError, Item, Reader};
use super::error::ErrorCode;
use super::id::MsgId;
use super::key::{Action, KEY_COUNT, Key, MsgType, Presence, Role, modes};
use super::msg::*;
use super::name::{Kind, Name, NameError};
use super::pattern::TargetFault;
use std::fmt;

/// Why a payload is not a valid message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A zero-length frame.
    Empty,
    /// Not well-formed CBOR of the accepted subset.
    Cbor(CborError),
    /// Bytes after the one CBOR item.
    Trailing,
    /// The item is not a map.
    NotAMap,
    /// A known key appears twice.
    DuplicateKey(Key),
    /// No type key (0), or its value is not an unsigned integer.
    NoType,
    /// A type number this implementation does not know.
    UnknownType(u64),
    /// A required field is absent.
    Missing(Key),
    /// A field has the wrong CBOR type.
    WrongType(Key),
    /// A number is outside its field's range, or a list too long.
    OutOfRange(Key),
    /// A byte string of a fixed size (an id, a nonce) has another length: the field and
    /// the size.
    Length(Key, usize),
    /// A name field breaks the grammar.
    BadName(Key, NameError),
    /// A Mod's target or a list entry is neither an ID pattern nor an address range: the
    /// field, and why.
    BadTarget(Key, TargetFault),
    /// A delete's target is not a message id in text (64 lowercase hex digits).
    NotAnId(Key),
    /// The body exceeds [`MAX_BODY`].
    BodyTooLarge(usize),
    /// The content type is empty, too long, or not printable ASCII.
    BadCtype,
    /// The reason exceeds [`MAX_REASON`].
    ReasonTooLong,
    /// The search text exceeds [`MAX_QUERY`].
    QueryTooLong,
    /// A text field exceeds its limit (display name, topic line): the field and the limit.
    TooLong(Key, usize),
}

impl DecodeError {
    /// The error code a server answers this with.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::Empty => ErrorCode::EmptyFrame,
            DecodeError::Cbor(CborError::InvalidUtf8) => ErrorCode::BadUtf8,
            DecodeError::UnknownType(_) => ErrorCode::UnknownType,
            DecodeError::Missing(_) => ErrorCode::MissingField,
            DecodeError::BadName(Key::User | Key::Setters, _)
            | DecodeError::BadTarget(..)
            | DecodeError::NotAnId(_) => ErrorCode::BadId,
            DecodeError::BadName(..) => ErrorCode::BadTopic,
            DecodeError::BodyTooLarge(_) => ErrorCode::BodyTooLarge,
            DecodeError::BadCtype => ErrorCode::BadCtype,
            DecodeError::ReasonTooLong | DecodeError::QueryTooLong | DecodeError::TooLong(..) => {
                ErrorCode::FieldTooLong
            }
            _ => ErrorCode::Malformed,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => write!(f, "empty frame"),
            DecodeError::Cbor(e) => write!(f, "invalid CBOR: {e:?}"),
            DecodeError::Trailing => write!(f, "bytes after the CBOR item"),
            DecodeError::NotAMap => write!(f, "message is not a CBOR map"),
            DecodeError::DuplicateKey(k) => write!(f, "duplicate key {}", k.label()),
            DecodeError::NoType => write!(f, "missing or invalid type"),
            DecodeError::UnknownType(t) => write!(f, "unknown message type {t}"),
            DecodeError::Missing(k) => write!(f, "missing field {}", k.label()),
            DecodeError::WrongType(k) => write!(f, "field {} has the wrong type", k.label()),
            DecodeError::OutOfRange(k) => write!(f, "field {} is out of range", k.label()),
            DecodeError::Length(k, n) => write!(f, "field {} must be {n} bytes", k.label()),
            DecodeError::BadName(k, e) => write!(f, "{}: {e}", k.label()),
            DecodeError::BadTarget(k, why) => write!(f, "{}: {why}", k.label()),
            DecodeError::NotAnId(k) => {
                write!(f, "{}: not a message id (64 lowercase hex digits)", k.label())
            }
            DecodeError::BodyTooLarge(n) => write!(f, "body of {n} bytes exceeds {MAX_BODY}"),
            DecodeError::BadCtype => write!(f, "ctype must be 1-{MAX_CTYPE} printable ASCII bytes"),
            DecodeError::ReasonTooLong => write!(f, "reason exceeds {MAX_REASON} bytes"),
            DecodeError::QueryTooLong => write!(f, "query exceeds {MAX_QUERY} bytes"),
            DecodeError::TooLong(k, max) => write!(f, "{} exceeds {max} bytes", k.label()),
        }
    }
}

impl From<CborError> for DecodeError {
    fn from(e: CborError) -> Self {
        DecodeError::Cbor(e)
    }
}

/// A payload that failed to decode, with the request number when it could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// The `seq` of the refused request, if known.
    pub seq: Option<u32>,
    /// What was wrong.
    pub error: DecodeError,
}

#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Uint(u64),
    Text(&'a str),
    Bytes(&'a [u8]),
    Bool(bool),
    Array(usize, &'a [u8]),
    Other,
}

/// Values of known keys; `null` counts as absent.
struct Fields<'a>([Option<Value<'a>>; KEY_COUNT]);

type Result<T> = std::result::Result<T, DecodeError>;

impl<'a> Fields<'a> {
    fn parse(&mut self, payload: &'a [u8]) -> Result<()> {
        if payload.is_empty() {
            return Err(DecodeError::Empty);
        }
        let mut r = Reader::new(payload);
        let Item::Map(pairs) = r.item()? else {
            return Err(DecodeError::NotAMap);
        };
        let mut seen = 0u128;
        for _ in 0..pairs {
            let mut probe = r.clone();
            let key = match probe.item()? {
                Item::Uint(k) => Key::from_u64(k),
                _ => None,
            };
            let Some(key) = key else {
                r.skip()?;
                r.skip()?;
                continue;
            };
            r = probe;
            let bit = 1u128 << key as u8;
            if seen & bit != 0 {
                return Err(DecodeError::DuplicateKey(key));
            }
            seen |= bit;
            self.0[key as usize] = value(&mut r, payload)?;
        }
        if !r.is_empty() {
            return Err(DecodeError::Trailing);
        }
        Ok(())
    }

    fn get(&self, k: Key) -> Option<Value<'a>> {
        self.0[k as usize]
    }

    fn uint(&self, k: Key) -> Result<Option<u64>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Uint(v)) => Ok(Some(v)),
            Some(_) => Err(DecodeError::WrongType(k)),
        }
    }

    fn u32(&self, k: Key) -> Result<Option<u32>> {
        self.uint(k)?
            .map(|v| u32::try_from(v).map_err(|_| DecodeError::OutOfRange(k)))
            .transpose()
    }

    fn text(&self, k: Key) -> Result<Option<&'a str>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Text(v)) => Ok(Some(v)),
            Some(_) => Err(DecodeError::WrongType(k)),
        }
    }

    fn bool(&self, k: Key) -> Result<Option<bool>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Bool(v)) => Ok(Some(v)),
            Some(_) => Err(DecodeError::WrongType(k)),
        }
    }

    fn id(&self, k: Key) -> Result<Option<MsgId>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Bytes(b)) => MsgId::from_slice(b).map(Some).ok_or(DecodeError::Length(k, 32)),
            Some(_) => Err(DecodeError::WrongType(k)),
        }
    }

    fn nonce(&self) -> Result<Nonce> {
        match self.get(Key::Nonce) {
            None => Err(DecodeError::Missing(Key::Nonce)),
            Some(Value::Bytes(b)) => b
                .try_into()
                .map(Nonce)
                .map_err(|_| DecodeError::Length(Key::Nonce, 32)),
            Some(_) => Err(DecodeError::WrongType(Key::Nonce)),
        }
    }

    fn token(&self) -> Result<Option<&'a [u8]>> {
        match self.get(Key::Token) {
            None => Ok(None),
            Some(Value::Bytes(b)) if TOKEN_LEN.contains(&b.len()) => Ok(Some(b)),
            Some(Value::Bytes(_)) => Err(DecodeError::OutOfRange(Key::Token)),
            Some(_) => Err(DecodeError::WrongType(Key::Token)),
        }
    }

    /// A required `server` that must be a domain.
    fn domain(&self) -> Result<&'a str> {
        req(self.opt_domain()?, Key::Server)
    }

    /// An optional `server` that must be a domain.
    fn opt_domain(&self) -> Result<Option<&'a str>> {
        match self.text(Key::Server)? {
            Some(d) if !super::name::valid_domain(d) => {
                Err(DecodeError::BadName(Key::Server, NameError::BadDomain))
            }
            d => Ok(d),
        }
    }

    fn password(&self, k: Key) -> Result<&'a str> {
        match req(self.text(k)?, k)? {
            "" => Err(DecodeError::OutOfRange(k)),
            // Named: SetPassword carries two (found by QA: a long new one was "password").
            p if p.len() > MAX_PASSWORD => Err(DecodeError::TooLong(k, MAX_PASSWORD)),
            p => Ok(p),
        }
    }

    fn name(&self, k: Key) -> Result<Option<Name<'a>>> {
        self.text(k)?
            .map(|t| Name::parse(t).map_err(|e| DecodeError::BadName(k, e)))
            .transpose()
    }

    fn reason(&self) -> Result<Option<&'a str>> {
        match self.text(Key::Reason)? {
            Some(r) if r.len() > MAX_REASON => Err(DecodeError::ReasonTooLong),
            r => Ok(r),
        }
    }

    /// An optional text field of at most `max` bytes.
    fn short_text(&self, k: Key, max: usize) -> Result<Option<&'a str>> {
        match self.text(k)? {
            Some(t) if t.len() > max => Err(DecodeError::TooLong(k, max)),
            t => Ok(t),
        }
    }

    /// An optional unsigned field of at most `max`.
    fn uint_max(&self, k: Key, max: u64) -> Result<Option<u64>> {
        match self.uint(k)? {
            Some(v) if v > max => Err(DecodeError::OutOfRange(k)),
            v => Ok(v),
        }
    }

    fn query(&self) -> Result<&'a str> {
        req(self.opt_query()?, Key::Query)
    }

    fn opt_query(&self) -> Result<Option<&'a str>> {
        match self.text(Key::Query)? {
            Some("") => Err(DecodeError::OutOfRange(Key::Query)),
            Some(q) if q.len() > MAX_QUERY => Err(DecodeError::QueryTooLong),
            q => Ok(q),
        }
    }

    fn ctype(&self) -> Result<Option<&'a str>> {
        match self.text(Key::Ctype)? {
            Some(c)
                if c.is_empty() || c.len() > MAX_CTYPE || !c.bytes().all(|b| (0x20..0x7f).contains(&b)) =>
            {
                Err(DecodeError::BadCtype)
            }
            c => Ok(c),
        }
    }

    fn body(&self) -> Result<Body<'a>> {
        let body = match self.get(Key::Body) {
            None => return Err(DecodeError::Missing(Key::Body)),
            Some(Value::Text(t)) => Body::Text(t),
            Some(Value::Bytes(b)) => Body::Blob(b),
            Some(_) => return Err(DecodeError::WrongType(Key::Body)),
        };
        if body.len() > MAX_BODY {
            return Err(DecodeError::BodyTooLarge(body.len()));
        }
        Ok(body)
    }

    /// A list whose members all pass `T::read`, with between `min` and `max` members.
    /// A list of at most a page of names.
    fn names(&self, k: Key) -> Result<List<'a, Name<'a>>> {
        self.list(
            k,
            0,
            MAX_PAGE as usize,
            DecodeError::BadName(k, NameError::BadLocal),
        )
    }

    /// An optional Mod target or list entry: an ID pattern or an address range.
    fn target(&self, k: Key) -> Result<Option<&'a str>> {
        match self.text(k)? {
            Some(t) => match super::pattern::target_fault(t) {
                Some(why) => Err(DecodeError::BadTarget(k, why)),
                None => Ok(Some(t)),
            },
            None => Ok(None),
        }
    }

    /// An optional message id in text (a delete's target): 64 lowercase hex digits (§7).
    fn msg_id_text(&self, k: Key) -> Result<Option<&'a str>> {
        match self.text(k)? {
            Some(t) if !super::id::is_hex_id(t) => Err(DecodeError::NotAnId(k)),
            t => Ok(t),
        }
    }

    /// The required action of Targets and TargetList: one that names a list.
    fn listed(&self) -> Result<Action> {
        let action = req(self.uint(Key::Action)?, Key::Action)?;
        Action::from_u64(action)
            .filter(|&a| is_listed(a))
            .ok_or(DecodeError::OutOfRange(Key::Action))
    }

    /// A page of list entries (TargetList), each an ID pattern or an address range.
    fn targets(&self) -> Result<List<'a, &'a str>> {
        let bad = DecodeError::BadTarget(Key::Targets, TargetFault::Neither);
        let list: List<'a, &'a str> = self.list(Key::Targets, 0, MAX_PAGE as usize, bad)?;
        match list.iter().find_map(super::pattern::target_fault) {
            Some(why) => Err(DecodeError::BadTarget(Key::Targets, why)),
            None => Ok(list),
        }
    }

    /// The optional reasons of a TargetList's entries, each at most a reason's length.
    fn reasons(&self) -> Result<Option<List<'a, &'a str>>> {
        match self.opt_list::<&str>(Key::Reasons)? {
            Some(l) if l.iter().any(|r| r.len() > MAX_REASON) => Err(DecodeError::ReasonTooLong),
            l => Ok(l),
        }
    }

    /// The optional setters of a TargetList's entries: each a user ID, or "" where not known.
    fn setters(&self) -> Result<Option<List<'a, &'a str>>> {
        let list = self.opt_list::<&str>(Key::Setters)?;
        let fault = |s: &str| match Name::parse(s) {
            _ if s.is_empty() => None,
            Ok(n) if n.kind() == Kind::User => None,
            Ok(_) => Some(NameError::NotAUser),
            Err(e) => Some(e),
        };
        match list.as_ref().and_then(|l| l.iter().find_map(fault)) {
            Some(e) => Err(DecodeError::BadName(Key::Setters, e)),
            None => Ok(list),
        }
    }

    /// An optional list of at most a page.
    fn opt_list<T: ListItem<'a>>(&self, k: Key) -> Result<Option<List<'a, T>>> {
        match self.get(k) {
            None => Ok(None),
            Some(_) => self
                .list(k, 0, MAX_PAGE as usize, DecodeError::WrongType(k))
                .map(Some),
        }
    }

    /// An optional field whose number must be one of `from`'s.
    fn numbered<T>(&self, k: Key, from: fn(u64) -> Option<T>) -> Result<Option<T>> {
        self.uint(k)?
            .map(|v| from(v).ok_or(DecodeError::OutOfRange(k)))
            .transpose()
    }

    fn list<T: ListItem<'a>>(&self, k: Key, min: usize, max: usize, bad: DecodeError) -> Result<List<'a, T>> {
        let Some(v) = self.get(k) else {
            return Err(DecodeError::Missing(k));
        };
        let Value::Array(len, raw) = v else {
            return Err(DecodeError::WrongType(k));
        };
        if !(min..=max).contains(&len) {
            return Err(DecodeError::OutOfRange(k));
        }
        let mut r = Reader::new(raw);
        for _ in 0..len {
            if T::read(&mut r).is_none() {
                return Err(bad);
            }
        }
        Ok(List::Wire { len, raw })
    }
}

fn value<'a>(r: &mut Reader<'a>, payload: &'a [u8]) -> Result<Option<Value<'a>>> {
    let start = r.clone();
    Ok(Some(match r.item()? {
        Item::Uint(v) => Value::Uint(v),
        Item::Text(t) => Value::Text(t),
        Item::Bytes(b) => Value::Bytes(b),
        Item::Bool(b) => Value::Bool(b),
        Item::Null => return Ok(None),
        Item::Array(n) => {
            let from = r.position();
            for _ in 0..n {
                r.skip_at(2)?;
            }
            let len = usize::try_from(n).map_err(|_| CborError::Truncated)?;
            Value::Array(len, &payload[from..r.position()])
        }
        Item::Map(_) => {
            *r = start;
            r.skip()?;
            Value::Other
        }
        Item::Nint(_) | Item::Other => Value::Other,
    }))
}

fn req<T>(v: Option<T>, k: Key) -> Result<T> {
    v.ok_or(DecodeError::Missing(k))
}

impl<'a> Msg<'a> {
    /// Decodes one frame's payload (the bytes after the length prefix).
    pub fn decode(payload: &'a [u8]) -> std::result::Result<Msg<'a>, Rejected> {
        let mut f = Fields([None; KEY_COUNT]);
        let parsed = f.parse(payload);
        let seq = f.u32(Key::Seq).ok().flatten();
        parsed
            .and_then(|()| from_fields(&f, seq))
            .map_err(|error| Rejected { seq, error })
    }
}

fn from_fields<'a>(f: &Fields<'a>, seq: Option<u32>) -> Result<Msg<'a>> {
    let ty = match f.get(Key::Type) {
        Some(Value::Uint(t)) => MsgType::from_u64(t).ok_or(DecodeError::UnknownType(t))?,
        _ => return Err(DecodeError::NoType),
    };
    f.u32(Key::Seq)?;
    let topic = || req(f.name(Key::Topic)?, Key::Topic);
    let range = || -> Result<Catchup<'a>> {
        Ok(Catchup {
            seq,
            topic: topic()?,
            count: req(f.u32(Key::Count)?, Key::Count)?,
            since: f.uint(Key::Since)?,
            until: f.uint(Key::Until)?,
            after: f.id(Key::After)?,
            before: f.id(Key::Before)?,
        })
    };
    let code = || {
        let c = req(f.uint(Key::Code)?, Key::Code)?;
        u16::try_from(c).map_err(|_| DecodeError::OutOfRange(Key::Code))
    };
    Ok(match ty {
        MsgType::Ident => Msg::Ident(Ident {
            seq,
            versions: f.list(
                Key::Versions,
                1,
                MAX_VERSIONS,
                DecodeError::WrongType(Key::Versions),
            )?,
            user: Name::parse_user(req(f.text(Key::User)?, Key::User)?)
                .map_err(|e| DecodeError::BadName(Key::User, e))?,
            server: f.opt_domain()?,
            keepalive: f.uint(Key::Keepalive)?,
            timeout: f.uint(Key::Timeout)?,
            auth: f.uint(Key::Auth)?,
            register: f.bool(Key::Register)?.unwrap_or(false),
            guest: f.bool(Key::Guest)?.unwrap_or(false),
            token: f.token()?,
            carbons: f.bool(Key::Carbons)?.unwrap_or(false),
            joins: f.bool(Key::Joins)?.unwrap_or(false),
            time: f.uint(Key::Time)?,
        }),
        MsgType::Grant => Msg::Grant(Grant {
            seq,
            server: f.domain()?,
        }),
        MsgType::Token => Msg::Token(Token {
            seq,
            server: f.domain()?,
            token: req(f.token()?, Key::Token)?,
            until: req(f.uint(Key::Until)?, Key::Until)?,
        }),
        MsgType::Verify => Msg::Verify(Verify {
            seq,
            user: req(f.name(Key::User)?, Key::User)?,
            server: f.domain()?,
            token: req(f.token()?, Key::Token)?,
        }),
        MsgType::Vouch => Msg::Vouch(Vouch {
            seq,
            user: req(f.name(Key::User)?, Key::User)?,
            valid: req(f.bool(Key::Valid)?, Key::Valid)?,
            until: f.uint(Key::Until)?,
        }),
        MsgType::Mod => {
            let action = Action::from_u64(req(f.uint(Key::Action)?, Key::Action)?)
                .ok_or(DecodeError::OutOfRange(Key::Action))?;
            let target = match action {
                Action::Delete => f.msg_id_text(Key::Target)?,
                _ => f.target(Key::Target)?,
            };
            Msg::Mod(Mod {
                seq,
                topic: topic()?,
                action,
                target: req(target, Key::Target)?,
                reason: f.reason()?,
                since: f.uint(Key::Since)?,
                until: f.uint(Key::Until)?,
            })
        }
        MsgType::Challenge => Msg::Challenge(Challenge {
            seq,
            auth: req(f.uint(Key::Auth)?, Key::Auth)?,
            nonce: f.nonce()?,
        }),
        MsgType::Auth => Msg::Auth(Auth {
            seq,
            nonce: f.nonce()?,
            password: f.password(Key::Password)?,
        }),
        MsgType::SetPassword => Msg::SetPassword(SetPassword {
            seq,
            password: f.password(Key::Password)?,
            new_password: f.password(Key::NewPassword)?,
        }),
        MsgType::PasswordSet => Msg::PasswordSet(PasswordSet {
            seq,
            count: req(f.uint(Key::Count)?, Key::Count)?,
        }),
        MsgType::Bye => Msg::Bye(Bye {
            code: code()?,
            reason: f.reason()?,
        }),
        MsgType::Error => Msg::Error(ErrorMsg {
            seq,
            code: code()?,
            reason: f.reason()?,
            server: f.opt_domain()?,
            topic: f.name(Key::Topic)?,
            // Advice, taken as absent when it cannot be read (PROTOCOL.md §8, Waits): a
            // refused frame would leave the request it answers waiting.
            retry_after: f.uint(Key::RetryAfter).unwrap_or(None),
        }),
        MsgType::Ping | MsgType::Pong => {
            let p = Ping {
                seq,
                time: req(f.uint(Key::Time)?, Key::Time)?,
            };
            if ty == MsgType::Ping {
                Msg::Ping(p)
            } else {
                Msg::Pong(p)
            }
        }
        MsgType::Message => Msg::Message(Message {
            seq,
            topic: topic()?,
            body: f.body()?,
            ctype: f.ctype()?,
            reply_to: f.id(Key::ReplyTo)?,
        }),
        MsgType::Event => Msg::Event(Event {
            seq,
            topic: topic()?,
            from: req(f.name(Key::From)?, Key::From)?,
            time: req(f.uint(Key::Time)?, Key::Time)?,
            id: req(f.id(Key::Id)?, Key::Id)?,
            body: f.body()?,
            ctype: f.ctype()?,
            reply_to: f.id(Key::ReplyTo)?,
        }),
        MsgType::Sub => Msg::Sub(Sub { seq, topic: topic()? }),
        MsgType::Unsub => Msg::Unsub(Unsub {
            seq,
            topic: topic()?,
            reason: f.reason()?,
        }),
        MsgType::Meta => Msg::Meta(Meta {
            seq,
            topic: topic()?,
            subscribed: req(f.bool(Key::Subscribed)?, Key::Subscribed)?,
            subscribers: req(f.uint(Key::Subscribers)?, Key::Subscribers)?,
            display: f.short_text(Key::Display, MAX_DISPLAY)?,
            subject: f.short_text(Key::Subject, MAX_SUBJECT)?,
            created: f.uint(Key::Created)?,
            modes: f.uint(Key::Modes)?,
            rate: f.uint(Key::Rate)?,
            join_rate: f.uint(Key::JoinRate)?,
            role: f.numbered(Key::Role, Role::from_u64)?,
            presence: f.numbered(Key::Presence, Presence::from_u64)?,
            kept: f.bool(Key::Kept)?,
            reason: f.reason()?,
            account: f.bool(Key::Account)?,
            admin: f.bool(Key::Admin)?,
        }),
        MsgType::Topics => Msg::Topics(Topics {
            seq,
            start: f.u32(Key::Start)?.unwrap_or(0),
            count: req(f.u32(Key::Count)?, Key::Count)?,
            cursor: f.name(Key::Cursor)?,
            query: f.opt_query()?,
        }),
        MsgType::TopicList => Msg::TopicList(TopicList {
            seq,
            total: req(f.u32(Key::Total)?, Key::Total)?,
            start: req(f.u32(Key::Start)?, Key::Start)?,
            topics: f.names(Key::Topics)?,
            counts: f.opt_list(Key::Counts)?,
            subjects: f.opt_list(Key::Subjects)?,
            displays: f.opt_list(Key::Displays)?,
            cursor: f.name(Key::Cursor)?,
        }),
        MsgType::SetMeta => Msg::SetMeta(SetMeta {
            seq,
            topic: topic()?,
            display: f.short_text(Key::Display, MAX_DISPLAY)?,
            subject: f.short_text(Key::Subject, MAX_SUBJECT)?,
            modes: f.uint_max(Key::Modes, modes::ALL)?,
            rate: f.uint_max(Key::Rate, MAX_RATE)?,
            join_rate: f.uint_max(Key::JoinRate, MAX_JOIN_RATE)?,
        }),
        MsgType::SetPresence => Msg::SetPresence(SetPresence {
            seq,
            presence: match f.numbered(Key::Presence, Presence::from_u64)? {
                Some(p @ (Presence::Online | Presence::Away)) => p,
                Some(Presence::Offline) => return Err(DecodeError::OutOfRange(Key::Presence)),
                None => return Err(DecodeError::Missing(Key::Presence)),
            },
            reason: f.reason()?,
        }),
        MsgType::Members => Msg::Members(Members {
            seq,
            topic: topic()?,
            count: req(f.u32(Key::Count)?, Key::Count)?,
            cursor: f.name(Key::Cursor)?,
            query: f.opt_query()?,
        }),
        MsgType::MemberList => Msg::MemberList(MemberList {
            seq,
            topic: topic()?,
            total: req(f.u32(Key::Total)?, Key::Total)?,
            users: f.names(Key::Users)?,
            roles: f.list(
                Key::Roles,
                0,
                MAX_PAGE as usize,
                DecodeError::WrongType(Key::Roles),
            )?,
            cursor: f.name(Key::Cursor)?,
        }),
        MsgType::Conversations => Msg::Conversations(Conversations {
            seq,
            count: req(f.u32(Key::Count)?, Key::Count)?,
            since: f.uint(Key::Since)?,
            cursor: f.name(Key::Cursor)?,
        }),
        MsgType::ConversationList => Msg::ConversationList(ConversationList {
            seq,
            status: CatchupStatus::from_u64(req(f.uint(Key::Status)?, Key::Status)?)
                .filter(|&s| s != CatchupStatus::UnknownId)
                .ok_or(DecodeError::OutOfRange(Key::Status))?,
            users: f.names(Key::Users)?,
            times: f.list(
                Key::Times,
                0,
                MAX_PAGE as usize,
                DecodeError::WrongType(Key::Times),
            )?,
            cursor: f.name(Key::Cursor)?,
        }),
        MsgType::MarkRead => Msg::MarkRead(MarkRead {
            seq,
            topic: topic()?,
            time: f.uint(Key::Time)?,
        }),
        MsgType::ReadMark => Msg::ReadMark(ReadMark {
            seq,
            topic: topic()?,
            time: f.uint(Key::Time)?,
        }),
        MsgType::Targets => Msg::Targets(Targets {
            seq,
            topic: topic()?,
            action: f.listed()?,
            count: req(f.u32(Key::Count)?, Key::Count)?,
            cursor: f.target(Key::Cursor)?,
        }),
        MsgType::TargetList => Msg::TargetList(TargetList {
            seq,
            topic: topic()?,
            action: f.listed()?,
            total: req(f.u32(Key::Total)?, Key::Total)?,
            targets: f.targets()?,
            reasons: f.reasons()?,
            untils: f.opt_list(Key::Untils)?,
            setters: f.setters()?,
            set_at: f.opt_list(Key::SetAt)?,
            cursor: f.target(Key::Cursor)?,
        }),
        MsgType::Catchup => Msg::Catchup(range()?),
        MsgType::Search => Msg::Search(Search {
            range: range()?,
            query: f.query()?,
        }),
        MsgType::CatchupEnd => Msg::CatchupEnd(CatchupEnd {
            seq,
            topic: topic()?,
            status: CatchupStatus::from_u64(req(f.uint(Key::Status)?, Key::Status)?)
                .ok_or(DecodeError::OutOfRange(Key::Status))?,
            count: req(f.u32(Key::Count)?, Key::Count)?,
            horizon: f.uint(Key::Horizon)?,
        }),
    })
}
