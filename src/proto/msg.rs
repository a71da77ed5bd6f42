//! The messages of Scalar v1 and their encoding: each a CBOR map with small integer keys
//! (see [`Key`]), written in ascending key order so the output is deterministic.

use super::cbor::{Overflow, Reader, Writer};
use super::frame::{MAX_PAYLOAD, put_prefix};
use super::id::MsgId;
use super::key::{Action, Key, MsgType, Presence, Role};
use super::name::Name;

/// The protocol version this crate speaks.
pub const VERSION: u64 = 1;
/// The largest body a Message may carry, in bytes: small enough that the Event made from any
/// valid Message (which adds `from`, `time` and `id`) still fits one frame.
pub const MAX_BODY: usize = 15 * 1024;
/// The longest content type, in bytes.
pub const MAX_CTYPE: usize = 64;
/// The longest reason in an Error or Bye, in bytes.
pub const MAX_REASON: usize = 256;
/// The most versions an Ident may offer.
pub const MAX_VERSIONS: usize = 8;
/// The most topics one TopicList carries, so that a page always fits one frame.
pub const MAX_PAGE: u32 = 100;

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary: how a
/// sender fits text (a reason, say) into a field's byte limit.
pub fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// The content of a Message or Event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// UTF-8 text (CBOR major type 3).
    Text(&'a str),
    /// Small binary data (CBOR major type 2); its `ctype` says what it is.
    Blob(&'a [u8]),
}

impl Body<'_> {
    /// The content's size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Body::Text(t) => t.len(),
            Body::Blob(b) => b.len(),
        }
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The longest password, in bytes.
pub const MAX_PASSWORD: usize = 256;

/// The authentication mechanism of v1: a password, answering a [`Challenge`].
pub const AUTH_PASSWORD: u64 = 1;

/// Ident, both ways: the client offers `versions` and names itself; the server answers with the
/// one chosen version, the ID the session now has, its own domain and its keepalive timers.
#[derive(Clone, Copy, PartialEq)]
pub struct Ident<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// Offered versions (client) or the single chosen one (server).
    pub versions: List<'a, u64>,
    /// The connection's user ID; in a client's Ident it may be a bare local part
    /// ([`Name::is_local`]), which the server completes with its domain.
    pub user: Name<'a>,
    /// The server's domain; only in the server's reply.
    pub server: Option<&'a str>,
    /// Server: milliseconds of silence after which it pings (at the latest: it may sooner).
    pub keepalive: Option<u64>,
    /// Server: milliseconds after its Ping within which it must hear something.
    pub timeout: Option<u64>,
    /// Client: log in with this mechanism ([`AUTH_PASSWORD`]); the server answers with a
    /// [`Challenge`].
    pub auth: Option<u64>,
    /// Client: create the account `user` (with `auth`).
    pub register: bool,
    /// Server: the session is a guest's, its ID chosen by the server.
    pub guest: bool,
    /// Client: a token from the home server of a foreign `user`.
    pub token: Option<&'a [u8]>,
    /// Client: send this connection copies of the direct messages its user sends from its
    /// other connections. Server: they will be sent.
    pub carbons: bool,
    /// Client: tell this connection when users join and leave its channels. Server: it will
    /// be told.
    pub joins: bool,
    /// Server: its clock as it answered (Unix ms), for a client that sets times by it (a
    /// ban's end).
    pub time: Option<u64>,
}

impl std::fmt::Debug for Ident<'_> {
    /// Shows a token's length only: it is a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ident")
            .field("seq", &self.seq)
            .field("versions", &self.versions)
            .field("user", &self.user)
            .field("server", &self.server)
            .field("keepalive", &self.keepalive)
            .field("timeout", &self.timeout)
            .field("auth", &self.auth)
            .field("register", &self.register)
            .field("guest", &self.guest)
            .field("token", &self.token.map(|t| format!("<{} bytes>", t.len())))
            .field("carbons", &self.carbons)
            .field("joins", &self.joins)
            .finish()
    }
}

impl<'a> Ident<'a> {
    /// A client's plain Ident: these versions, this user, nothing else.
    pub fn new(seq: Option<u32>, versions: &'a [u64], user: Name<'a>) -> Self {
        Ident {
            time: None,
            seq,
            versions: List::Slice(versions),
            user,
            server: None,
            keepalive: None,
            timeout: None,
            auth: None,
            register: false,
            guest: false,
            token: None,
            carbons: false,
            joins: false,
        }
    }
}

/// The shortest and longest token, in bytes.
pub const TOKEN_LEN: std::ops::RangeInclusive<usize> = 16..=64;

/// Grant: ask for a token for the server of domain `server`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// The audience: the domain of the server the token is for.
    pub server: &'a str,
}

/// Token: the answer to Grant.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// The Grant it answers.
    pub seq: Option<u32>,
    /// The audience.
    pub server: &'a str,
    /// The token, [`TOKEN_LEN`] bytes.
    pub token: &'a [u8],
    /// When it expires, milliseconds since the Unix epoch.
    pub until: u64,
}

/// Verify: a server asks a user's home server about a token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Verify<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// The user the token should be for.
    pub user: Name<'a>,
    /// The asking server's domain: the audience the token should be for.
    pub server: &'a str,
    /// The token.
    pub token: &'a [u8],
}

/// Tokens are credentials: debug output shows their length only.
macro_rules! redacted_debug {
    ($ty:ident { $($field:ident),* }) => {
        impl std::fmt::Debug for $ty<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    .field("token", &format_args!("<{} bytes>", self.token.len()))
                    .finish()
            }
        }
    };
}
redacted_debug!(Token { seq, server, until });
redacted_debug!(Verify { seq, user, server });

/// Vouch: the home server's answer to Verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vouch<'a> {
    /// The Verify it answers.
    pub seq: Option<u32>,
    /// The user asked about.
    pub user: Name<'a>,
    /// True only if the token was issued to `user` for the asking server and is unexpired.
    pub valid: bool,
    /// When a valid token expires: the asking server may keep the answer until then.
    pub until: Option<u64>,
}

/// Mod: a channel operator's action on a user ID or an ID pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mod<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// The channel.
    pub topic: Name<'a>,
    /// What to do.
    pub action: Action,
    /// Whom: a user ID (kick, op, deop) or an ID pattern (ban, unban, mute, unmute).
    pub target: &'a str,
    /// Why, shown to the channel and to the target.
    pub reason: Option<&'a str>,
    /// A purge's reach: Messages later than this time (Unix ms). Other actions ignore it.
    pub since: Option<u64>,
    /// When a ban or mute ends (Unix ms); without it, when lifted. Other actions ignore it.
    pub until: Option<u64>,
}

/// A server's one-time challenge: 32 random bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nonce(pub [u8; 32]);

/// Challenge: the server asks for the password of the account an Ident named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    /// The Ident it answers.
    pub seq: Option<u32>,
    /// The mechanism, as asked for.
    pub auth: u64,
    /// What the Auth must carry back.
    pub nonce: Nonce,
}

/// Auth: the password, answering the Challenge with this nonce.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Auth<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// The nonce of the Challenge answered.
    pub nonce: Nonce,
    /// 1 to [`MAX_PASSWORD`] bytes.
    pub password: &'a str,
}

impl std::fmt::Debug for Auth<'_> {
    /// Never shows the password: requests end up in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("seq", &self.seq)
            .field("nonce", &self.nonce)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// SetPassword: the session's account is to have `new_password` from now on; `password` is
/// the current one, as proof that the holder of the session knows it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SetPassword<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// The account's current password: 1 to [`MAX_PASSWORD`] bytes.
    pub password: &'a str,
    /// Its new password: 1 to [`MAX_PASSWORD`] bytes.
    pub new_password: &'a str,
}

impl std::fmt::Debug for SetPassword<'_> {
    /// Never shows the passwords: requests end up in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetPassword")
            .field("seq", &self.seq)
            .field("password", &"<redacted>")
            .field("new_password", &"<redacted>")
            .finish()
    }
}

/// PasswordSet: the account's password is the new one; `count` other sessions that had logged
/// in with the old one were closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordSet {
    /// The SetPassword it answers.
    pub seq: Option<u32>,
    /// How many of the account's other sessions were closed.
    pub count: u64,
}

/// Bye: the sender closes the connection after this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    /// 0 for a normal close, else the [`ErrorCode`](super::ErrorCode) that caused it.
    pub code: u16,
    /// Optional human-readable text.
    pub reason: Option<&'a str>,
}

/// Error: the request numbered `seq` (or the connection) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorMsg<'a> {
    /// The failed request's number, when it had one and it could be read.
    pub seq: Option<u32>,
    /// The [`ErrorCode`](super::ErrorCode) number.
    pub code: u16,
    /// Optional human-readable text.
    pub reason: Option<&'a str>,
    /// The server's domain, on a `foreign_id` refusal: the audience a token must be for.
    pub server: Option<&'a str>,
    /// The channel, on `kicked`: which one the connection was removed from.
    pub topic: Option<Name<'a>>,
    /// On a refusal that a later try may pass (`channel_rate`, `inbox_limit`,
    /// `auth_throttled`, `connecting_too_fast`): how long to wait first, at least, in ms.
    pub retry_after: Option<u64>,
}

/// Ping, and Pong with the same `time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    /// Request number.
    pub seq: Option<u32>,
    /// The sender's clock, milliseconds since the Unix epoch, echoed unchanged.
    pub time: u64,
}

/// Message: publish `body` to `topic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// A channel or a user ID.
    pub topic: Name<'a>,
    /// The content.
    pub body: Body<'a>,
    /// Content type; absent means plain text (or opaque bytes for a blob).
    pub ctype: Option<&'a str>,
    /// The message this one answers.
    pub reply_to: Option<MsgId>,
}

/// Event: a Message as the server relays it, stamped with sender, time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// Set only on the echo to the sender (and on Catchup replays): the request it answers.
    pub seq: Option<u32>,
    /// Where it was published.
    pub topic: Name<'a>,
    /// Who published it, as the server identified them.
    pub from: Name<'a>,
    /// Server time, milliseconds since the Unix epoch.
    pub time: u64,
    /// [`MsgId::compute`] over the fields below.
    pub id: MsgId,
    /// The content.
    pub body: Body<'a>,
    /// Content type.
    pub ctype: Option<&'a str>,
    /// The message this one answers.
    pub reply_to: Option<MsgId>,
}

impl Event<'_> {
    /// The id these fields hash to; equal to `self.id` for an Event from a correct server.
    pub fn computed_id(&self) -> MsgId {
        MsgId::compute(
            self.from.as_str(),
            self.topic.as_str(),
            self.time,
            self.body,
            self.ctype,
            self.reply_to.as_ref(),
        )
    }
}

/// Sub and Unsub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sub<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// The channel.
    pub topic: Name<'a>,
}

impl<'a> Sub<'a> {
    /// The Unsub that undoes this Sub, saying no reason.
    pub fn undo(self) -> Unsub<'a> {
        Unsub {
            seq: self.seq,
            topic: self.topic,
            reason: None,
        }
    }
}

/// Unsub: leave a channel, or stop watching a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsub<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// The channel (or user ID).
    pub topic: Name<'a>,
    /// Why, as IRC's PART says it: told to the channel's members with the leave.
    pub reason: Option<&'a str>,
}

/// Meta: a topic as seen by this connection, after a Sub, Unsub or SetMeta. The optional fields
/// describe a channel (or, `presence`, a user); a server sends those it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta<'a> {
    /// The request it answers.
    pub seq: Option<u32>,
    /// The topic.
    pub topic: Name<'a>,
    /// Whether this connection is now subscribed.
    pub subscribed: bool,
    /// How many connections are subscribed, this one included.
    pub subscribers: u64,
    /// The channel's display name.
    pub display: Option<&'a str>,
    /// The channel's topic line.
    pub subject: Option<&'a str>,
    /// When the channel was created.
    pub created: Option<u64>,
    /// The channel's modes ([`modes`](super::key::modes) bits).
    pub modes: Option<u64>,
    /// Messages per minute per member; 0 for no limit.
    pub rate: Option<u64>,
    /// Joins a minute of IDs not in the channel yet; 0 for no limit.
    pub join_rate: Option<u64>,
    /// This connection's role in the channel.
    pub role: Option<Role>,
    /// For a user ID: whether the user is around.
    pub presence: Option<Presence>,
    /// For a user ID that is away: its note.
    pub reason: Option<&'a str>,
    /// For a channel: whether the server keeps it (its modes, lists and history's readers)
    /// after its last subscriber leaves.
    pub kept: Option<bool>,
    /// A user ID's: whether its holder proved it (PROTOCOL.md §4, Presence).
    pub account: Option<bool>,
    /// A user ID's: whether it is one of the server's admins.
    pub admin: Option<bool>,
}

impl<'a> Meta<'a> {
    /// The four required fields, the rest absent.
    pub fn new(seq: Option<u32>, topic: Name<'a>, subscribed: bool, subscribers: u64) -> Self {
        Meta {
            seq,
            topic,
            subscribed,
            subscribers,
            display: None,
            subject: None,
            created: None,
            modes: None,
            rate: None,
            join_rate: None,
            role: None,
            presence: None,
            reason: None,
            kept: None,
            account: None,
            admin: None,
        }
    }
}

/// Topics: ask for `count` topic names starting at index `start`, or after the name `cursor`;
/// `count` 0 asks for the total only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topics<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// Index of the first topic wanted (ignored with `cursor`).
    pub start: u32,
    /// How many are wanted; the server sends at most [`MAX_PAGE`].
    pub count: u32,
    /// Only names bytewise after this one: pages that stay exact while channels come and go.
    pub cursor: Option<Name<'a>>,
    /// Only the channels whose name, display name or topic line contains this, in lowercase
    /// ([`ListQuery`](super::ListQuery)); the server may end a page early, with a cursor.
    pub query: Option<&'a str>,
}

/// TopicList: one page of the server's channels, sorted bytewise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopicList<'a> {
    /// The Topics it answers.
    pub seq: Option<u32>,
    /// How many channels exist.
    pub total: u32,
    /// Index of the first name in `topics`.
    pub start: u32,
    /// The page.
    pub topics: List<'a, Name<'a>>,
    /// Subscribers of each channel of the page.
    pub counts: Option<List<'a, u64>>,
    /// Topic line of each channel of the page ("" for none).
    pub subjects: Option<List<'a, &'a str>>,
    /// Display name of each channel of the page ("" for none).
    pub displays: Option<List<'a, &'a str>>,
    /// The last name of the page, when more follow: ask again with it as `cursor`.
    pub cursor: Option<Name<'a>>,
}

/// The longest channel display name, in bytes.
pub const MAX_DISPLAY: usize = 64;
/// The longest topic line, in bytes.
pub const MAX_SUBJECT: usize = 256;
/// The largest per-member message rate a channel may set (per minute).
pub const MAX_RATE: u64 = 600;
/// The largest join rate a channel may set (per minute).
pub const MAX_JOIN_RATE: u64 = 600;

/// SetMeta: an operator changes what it gives; the reply is Meta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetMeta<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// The channel.
    pub topic: Name<'a>,
    /// A new display name ("" removes it).
    pub display: Option<&'a str>,
    /// A new topic line ("" removes it).
    pub subject: Option<&'a str>,
    /// The new modes, all bits at once.
    pub modes: Option<u64>,
    /// The new per-member rate (Messages a minute, 0: none).
    pub rate: Option<u64>,
    /// The new join rate (joins a minute, 0: none).
    pub join_rate: Option<u64>,
}

/// SetPresence: the connection's user says whether it is around; the reply is the presence Event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetPresence<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// Online (back) or away.
    pub presence: Presence,
    /// A short note ("at lunch").
    pub reason: Option<&'a str>,
}

/// Members: a page of a channel's members (user IDs, each once), bytewise after `cursor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Members<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// The channel.
    pub topic: Name<'a>,
    /// How many are wanted; the server sends at most [`MAX_PAGE`].
    pub count: u32,
    /// Only IDs bytewise after this one.
    pub cursor: Option<Name<'a>>,
    /// Only the IDs that contain this, in lowercase (PROTOCOL.md §4, Members).
    pub query: Option<&'a str>,
}

/// MemberList: the reply to Members.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemberList<'a> {
    /// The Members it answers.
    pub seq: Option<u32>,
    /// The channel.
    pub topic: Name<'a>,
    /// How many members (distinct IDs) the channel has.
    pub total: u32,
    /// The page.
    pub users: List<'a, Name<'a>>,
    /// Each one's role (a [`Role`] number).
    pub roles: List<'a, u64>,
    /// The last ID of the page, when more follow.
    pub cursor: Option<Name<'a>>,
}

/// Targets: a page of one of a channel's lists, bytewise after `cursor`: the list that
/// `action` adds to (ban, mute, op, voice, invite). On the server's own `!server@` name, ban
/// asks for the server's bans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// The channel, or `!server@DOMAIN`.
    pub topic: Name<'a>,
    /// Which list: the one this action adds to.
    pub action: Action,
    /// How many are wanted; the server sends at most [`MAX_PAGE`].
    pub count: u32,
    /// Only entries bytewise after this one.
    pub cursor: Option<&'a str>,
}

/// TargetList: the reply to Targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetList<'a> {
    /// The Targets it answers.
    pub seq: Option<u32>,
    /// The channel, or `!server@DOMAIN`.
    pub topic: Name<'a>,
    /// Which list.
    pub action: Action,
    /// How many entries the list has.
    pub total: u32,
    /// The page: ID patterns (a user ID is one), and address ranges in the server's bans.
    pub targets: List<'a, &'a str>,
    /// Why each is there, "" where no reason was given: in a page of bans or mutes only.
    pub reasons: Option<List<'a, &'a str>>,
    /// When each ends (Unix ms), 0 for never: in a page of bans or mutes only.
    pub untils: Option<List<'a, u64>>,
    /// Who set each, "" where not known: in a page of bans or mutes only.
    pub setters: Option<List<'a, &'a str>>,
    /// When each was set (Unix ms), 0 where not known: in a page of bans or mutes only.
    pub set_at: Option<List<'a, u64>>,
    /// The last entry of the page, when more follow.
    pub cursor: Option<&'a str>,
}

/// Conversations: a page of the asker's direct-message conversations, each named by the
/// other user's ID, bytewise after `cursor` (PROTOCOL.md §4, Conversations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversations<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// How many are wanted; the server sends at most [`MAX_PAGE`].
    pub count: u32,
    /// Only conversations whose newest Event came after this time (Unix ms).
    pub since: Option<u64>,
    /// Only IDs bytewise after this name.
    pub cursor: Option<Name<'a>>,
}

/// ConversationList: the reply to Conversations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConversationList<'a> {
    /// The Conversations it answers.
    pub seq: Option<u32>,
    /// Complete, more follow (page on by `cursor`), or unavailable (no history is kept);
    /// never [`CatchupStatus::UnknownId`].
    pub status: CatchupStatus,
    /// The other user of each conversation.
    pub users: List<'a, Name<'a>>,
    /// The time of each one's newest Event (Unix ms).
    pub times: List<'a, u64>,
    /// The last ID listed or passed over, when more follow.
    pub cursor: Option<Name<'a>>,
}

/// MarkRead: moves the asker's read marker on `topic` to `time` if that is later, or, without
/// `time`, asks for it (PROTOCOL.md §4, Read markers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkRead<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// A channel, or a user ID (a conversation, as its Catchup reads it).
    pub topic: Name<'a>,
    /// The time of the newest Event read there (Unix ms).
    pub time: Option<u64>,
}

/// ReadMark: a user's read marker on a topic, the reply to MarkRead; without `seq`, told to
/// the user's other connections when one of them moved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadMark<'a> {
    /// The MarkRead it answers.
    pub seq: Option<u32>,
    /// The topic.
    pub topic: Name<'a>,
    /// The marker (Unix ms); none where the user has none on the topic.
    pub time: Option<u64>,
}

/// Whether an action names one of a channel's lists (the one it adds to), for Targets.
pub fn is_listed(action: Action) -> bool {
    matches!(
        action,
        Action::Ban | Action::Mute | Action::Op | Action::Voice | Action::Invite | Action::Except
    )
}

/// The longest search text, in bytes.
pub const MAX_QUERY: usize = 256;

/// Catchup: ask for past events of a topic. With a lower bound (`since` or `after`) the page
/// runs forward: the oldest `count` Events in range. Without one it runs backward: the newest
/// `count` Events in range (below `until`/`before`, if given). Either way they are replayed
/// oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Catchup<'a> {
    /// Request number.
    pub seq: Option<u32>,
    /// The channel, or a user ID (that user's direct messages, or a conversation with them).
    pub topic: Name<'a>,
    /// At most this many events.
    pub count: u32,
    /// Only events with a time after this.
    pub since: Option<u64>,
    /// Only events with a time before this.
    pub until: Option<u64>,
    /// Only events after the one with this id.
    pub after: Option<MsgId>,
    /// Only events before the one with this id.
    pub before: Option<MsgId>,
}

impl Catchup<'_> {
    /// True if the page runs forward from a lower bound.
    pub fn forward(&self) -> bool {
        self.since.is_some() || self.after.is_some()
    }
}

/// Search: a Catchup that only replays the text Events containing every word of `query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Search<'a> {
    /// The range and paging, exactly as in a Catchup.
    pub range: Catchup<'a>,
    /// The words to look for, 1 to [`MAX_QUERY`] bytes.
    pub query: &'a str,
}

/// How a Catchup or Search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CatchupStatus {
    /// Every matching event the server has was sent (possibly none: "there is nothing").
    Complete = 0,
    /// More matching events exist in the direction asked: newer ones after a forward page
    /// (ask again with `after` the last id), older ones after a backward page (ask again with
    /// `before` the first id).
    Truncated = 1,
    /// The server keeps no history for this topic ("I got nothing").
    Unavailable = 2,
    /// `after` or `before` names an Event the server does not have for this topic (never
    /// seen, or deleted by retention); nothing was replayed.
    UnknownId = 3,
}

impl CatchupStatus {
    /// The status for a number read off the wire.
    pub fn from_u64(n: u64) -> Option<Self> {
        Some(match n {
            0 => CatchupStatus::Complete,
            1 => CatchupStatus::Truncated,
            2 => CatchupStatus::Unavailable,
            3 => CatchupStatus::UnknownId,
            _ => return None,
        })
    }
}

/// CatchupEnd: closes the replay of a Catchup or Search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchupEnd<'a> {
    /// The Catchup it answers.
    pub seq: Option<u32>,
    /// The topic.
    pub topic: Name<'a>,
    /// The outcome.
    pub status: CatchupStatus,
    /// How many Events were replayed before this frame.
    pub count: u32,
    /// Set when retention deleted Events of this topic: at or before this time the history
    /// may be incomplete.
    pub horizon: Option<u64>,
}

/// Any Scalar message, borrowing its strings from the frame it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)]
pub enum Msg<'a> {
    Ident(Ident<'a>),
    Bye(Bye<'a>),
    Error(ErrorMsg<'a>),
    Ping(Ping),
    Pong(Ping),
    Message(Message<'a>),
    Event(Event<'a>),
    Sub(Sub<'a>),
    Unsub(Unsub<'a>),
    Meta(Meta<'a>),
    Topics(Topics<'a>),
    TopicList(TopicList<'a>),
    Catchup(Catchup<'a>),
    CatchupEnd(CatchupEnd<'a>),
    Search(Search<'a>),
    Challenge(Challenge),
    Auth(Auth<'a>),
    Grant(Grant<'a>),
    Token(Token<'a>),
    Verify(Verify<'a>),
    Vouch(Vouch<'a>),
    SetPassword(SetPassword<'a>),
    PasswordSet(PasswordSet),
    Mod(Mod<'a>),
    SetMeta(SetMeta<'a>),
    SetPresence(SetPresence<'a>),
    Members(Members<'a>),
    MemberList(MemberList<'a>),
    Targets(Targets<'a>),
    TargetList(TargetList<'a>),
    Conversations(Conversations<'a>),
    ConversationList(ConversationList<'a>),
    MarkRead(MarkRead<'a>),
    ReadMark(ReadMark<'a>),
}

/// The message does not fit in one frame (or in the buffer given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

impl Msg<'_> {
    /// The type number.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Msg::Ident(_) => MsgType::Ident,
            Msg::Bye(_) => MsgType::Bye,
            Msg::Error(_) => MsgType::Error,
            Msg::Ping(_) => MsgType::Ping,
            Msg::Pong(_) => MsgType::Pong,
            Msg::Message(_) => MsgType::Message,
            Msg::Event(_) => MsgType::Event,
            Msg::Sub(_) => MsgType::Sub,
            Msg::Unsub(_) => MsgType::Unsub,
            Msg::Meta(_) => MsgType::Meta,
            Msg::Topics(_) => MsgType::Topics,
            Msg::TopicList(_) => MsgType::TopicList,
            Msg::Catchup(_) => MsgType::Catchup,
            Msg::CatchupEnd(_) => MsgType::CatchupEnd,
            Msg::Search(_) => MsgType::Search,
            Msg::Challenge(_) => MsgType::Challenge,
            Msg::Auth(_) => MsgType::Auth,
            Msg::Grant(_) => MsgType::Grant,
            Msg::Token(_) => MsgType::Token,
            Msg::Verify(_) => MsgType::Verify,
            Msg::Vouch(_) => MsgType::Vouch,
            Msg::SetPassword(_) => MsgType::SetPassword,
            Msg::PasswordSet(_) => MsgType::PasswordSet,
            Msg::Mod(_) => MsgType::Mod,
            Msg::SetMeta(_) => MsgType::SetMeta,
            Msg::SetPresence(_) => MsgType::SetPresence,
            Msg::Members(_) => MsgType::Members,
            Msg::MemberList(_) => MsgType::MemberList,
            Msg::Targets(_) => MsgType::Targets,
            Msg::TargetList(_) => MsgType::TargetList,
            Msg::Conversations(_) => MsgType::Conversations,
            Msg::ConversationList(_) => MsgType::ConversationList,
            Msg::MarkRead(_) => MsgType::MarkRead,
            Msg::ReadMark(_) => MsgType::ReadMark,
        }
    }

    /// The request number, if the message carries one.
    pub fn seq(&self) -> Option<u32> {
        match self {
            Msg::Ident(m) => m.seq,
            Msg::Bye(_) => None,
            Msg::Error(m) => m.seq,
            Msg::Ping(m) | Msg::Pong(m) => m.seq,
            Msg::Message(m) => m.seq,
            Msg::Event(m) => m.seq,
            Msg::Sub(m) => m.seq,
            Msg::Unsub(m) => m.seq,
            Msg::Meta(m) => m.seq,
            Msg::Topics(m) => m.seq,
            Msg::TopicList(m) => m.seq,
            Msg::Catchup(m) => m.seq,
            Msg::CatchupEnd(m) => m.seq,
            Msg::Search(m) => m.range.seq,
            Msg::Challenge(m) => m.seq,
            Msg::Auth(m) => m.seq,
            Msg::Grant(m) => m.seq,
            Msg::Token(m) => m.seq,
            Msg::Verify(m) => m.seq,
            Msg::Vouch(m) => m.seq,
            Msg::SetPassword(m) => m.seq,
            Msg::PasswordSet(m) => m.seq,
            Msg::Mod(m) => m.seq,
            Msg::SetMeta(m) => m.seq,
            Msg::SetPresence(m) => m.seq,
            Msg::Members(m) => m.seq,
            Msg::MemberList(m) => m.seq,
            Msg::Targets(m) => m.seq,
            Msg::TargetList(m) => m.seq,
            Msg::Conversations(m) => m.seq,
            Msg::ConversationList(m) => m.seq,
            Msg::MarkRead(m) => m.seq,
            Msg::ReadMark(m) => m.seq,
        }
    }

    /// Encodes the whole frame (length prefix and CBOR item) at the start of `out`, returning its
    /// length. Fails without side effects beyond `out` if the frame would exceed
    /// [`MAX_PAYLOAD`](super::frame::MAX_PAYLOAD) or `out`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, TooLarge> {
        let payload = out.get_mut(2..).ok_or(TooLarge)?;
        let limit = payload.len().min(MAX_PAYLOAD);
        let mut w = Writer::new(&mut payload[..limit]);
        self.write(&mut w).map_err(|_| TooLarge)?;
        let n = w.len();
        put_prefix(out, n);
        Ok(n + 2)
    }

    /// Encodes into a new vector: for clients and tests, not the server's hot path.
    pub fn to_frame(&self) -> Result<Vec<u8>, TooLarge> {
        let mut buf = vec![0u8; MAX_PAYLOAD + 2];
        let n = self.encode(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Writes the CBOR map alone, without the length prefix.
    pub fn write(&self, w: &mut Writer<'_>) -> Result<(), Overflow> {
        let mut m = MapWriter::new(w)?;
        m.key(Key::Type)?.uint(self.msg_type() as u64)?;
        m.opt_uint(Key::Seq, self.seq().map(u64::from))?;
        match self {
            Msg::Ident(x) => {
                m.opt_uint(Key::Time, x.time)?;
                m.key(Key::Versions)?;
                x.versions.write(m.w)?;
                m.key(Key::User)?.text(x.user.as_str())?;
                m.opt_text(Key::Server, x.server)?;
                m.opt_uint(Key::Keepalive, x.keepalive)?;
                m.opt_uint(Key::Timeout, x.timeout)?;
                m.opt_uint(Key::Auth, x.auth)?;
                m.opt_true(Key::Register, x.register)?;
                m.opt_true(Key::Guest, x.guest)?;
                if let Some(t) = x.token {
                    m.key(Key::Token)?.bytes(t)?;
                }
                m.opt_true(Key::Carbons, x.carbons)?;
                m.opt_true(Key::Joins, x.joins)?;
            }
            Msg::Grant(x) => {
                m.key(Key::Server)?.text(x.server)?;
            }
            Msg::Token(x) => {
                m.key(Key::Server)?.text(x.server)?;
                m.key(Key::Until)?.uint(x.until)?;
                m.key(Key::Token)?.bytes(x.token)?;
            }
            Msg::Verify(x) => {
                m.key(Key::User)?.text(x.user.as_str())?;
                m.key(Key::Server)?.text(x.server)?;
                m.key(Key::Token)?.bytes(x.token)?;
            }
            Msg::Vouch(x) => {
                m.key(Key::User)?.text(x.user.as_str())?;
                m.opt_uint(Key::Until, x.until)?;
                m.key(Key::Valid)?.bool(x.valid)?;
            }
            Msg::Mod(x) => {
                m.key(Key::Topic)?.text(x.topic.as_str())?;
                m.opt_text(Key::Reason, x.reason)?;
                m.opt_uint(Key::Since, x.since)?;
                m.opt_uint(Key::Until, x.until)?;
                m.key(Key::Action)?.uint(x.action as u64)?;
                m.key(Key::Target)?.text(x.target)?;
            }
            Msg::Challenge(x) => {
                m.key(Key::Auth)?.uint(x.auth)?;
                m.key(Key::Nonce)?.bytes(&x.nonce.0)?;
            }
            Msg::Auth(x) => {
                m.key(Key::Nonce)?.bytes(&x.nonce.0)?;
                m.key(Key::Password)?.text(x.password)?;
            }
            Msg::SetPassword(x) => {
                m.key(Key::Password)?.text(x.password)?;
                m.key(Key::NewPassword)?.text(x.new_password)?;
            }
            Msg::PasswordSet(x) => {
                m.key(Key::Count)?.uint(x.count)?;
            }
            Msg::Bye(x) => {
                m.key(Key::Code)?.uint(x.code.into())?;
                m.opt_text(Key::Reason, x.reason)?;
            }
            Msg::Error(x) => {
                m.opt_text(Key::Topic, x.topic.map(|t| t.as_str()))?;
                m.key(Key::Code)?.uint(x.code.into())?;
                m.opt_text(Key::Reason, x.reason)?;
                m.opt_text(Key::Server, x.server)?;
                m.opt_uint(Key::RetryAfter, x.retry_after)?;
            }
            Msg::Ping(x) | Msg::Pong(x) => {
                m.key(Key::Time)?.uint(x.time)?;
            }
            Msg::Message(x) => {
                m.key(Key::Topic)?.text(x.topic.as_str())?;
                m.body(x.body, x.ctype, x.reply_to.as_ref())?;
            }
            Msg::Event(x) => {
                m.key(Key::Topic)?.text(x.topic.as_str())?;
                m.key(Key::From)?.text(x.from.as_str())?;
                m.key(Key::Time)?.uint(x.time)?;
                m.key(Key::Id)?.bytes(&x.id.0)?;
                m.body(x.body, x.ctype, x.reply_to.as_ref())?;
            }
            Msg::Sub(x) => {
                m.key(Key::Topic)?.text(x.topic.as_str())?;
            }
            Msg::Unsub(x) => {
                m.key(Key::Topic)?.text(x.topic.as_str())?;
                m.opt_text(Key::Reason, x.reason)?;
            }
            Msg::Meta(x) => {
                m.key(Key::Topic)?.text(x.topic.as_str())?;
                m.opt_text(Key::Reason, x.reason)?;
                m.key(Key::Subscribed)?.bool(x.subscribed)?;
                m.key(Key::Subscribers)?.uint(x.subscribers)?;
                m.opt_text(Key::Display, x.display)?;
                m.opt_text(Key::Subject, x.subject)?;
                m.opt_uint(Key::Created, x.created)?;
                m.opt_uint(Key::Modes, x.modes)?;
                m.opt_uint(Key::Rate, x.rate)?;
                m.opt_uint(Key::Role, x.role.map(|r| r as u64))?;
                m.opt_uint(Key::Presence, x.presence.map(|p| p as u64))?;
                for (key, flag) in [
                    (Key::Kept, x.kept),
                    (Key::Account, x.account),
                    (Key::Admin, x.admin),
                ] {
                    if let Some(flag) = flag {
                        m.key(key)?.bool(flag)?;
                    }
                }
                // Last: join_rate's key (63) came after the others were numbered.
                m.opt_uint(Key::JoinRate, x.join_rate)?;
            }
            Msg::Topics(x) => {
                m.key(Key::Start)?.uint(x.start.into())?;
                m.key(Key::Count)?.uint(x.count.into())?;
                m.opt_text(Key::Query, x.query)?;
                m.opt_text(Key::Cursor, x.cursor.map(|c| c.as_str()))?;
            }
            Msg::TopicList(x) => {
                m.key(Key::Start)?.uint(x.start.into())?;
                m.key(Key::Total)?.uint(x.total.into())?;
                m.key(Key::Topics)?;
                x.topics.write(m.w)?;
                m.opt_text(Key::Cursor, x.cursor.map(|c| c.as_str()))?;
                m.opt_list(Key::Counts, x.counts.as_ref())?;
                m.opt_list(Key::Subjects, x.subjects.as_ref())?;
                m.opt_list(Key::Displays, x.displays.as_ref())?;
            }
            Msg::SetMeta(x) => {
                m.key(Key::Topic)?.text(x.topic.as_str())?;
                m.opt_text(Key::Display, x.display)?;
                m.opt_text(Key::Subject, x.subject)?;
                m.opt_uint(Key::Modes, x.modes)?;
                m.opt_uint(Key::Rate, x.rate)?;
                m.opt_uint(Key::JoinRate, x.join_rate)?;
            }
            Msg::SetPresence(x) => {
                m.opt_text(Key::Reason, x.reason)?;
                m.key(Key::Presence)?.uint(x.presence as u64)?;
            }
            Msg::Conversations(x) => {
                m.key(Key::Count)?.uint(x.count.into())?;
                m.opt_uint(Key::Since, x.since)?;
                m.opt_text(Key::Cursor, x.cursor.map(|c| c.as_str()))?;
            }
            Msg::ConversationList(x) => {
                m.key(Key::Status)?.uint(x.status as u64)?;
                m.opt_text(Key::Cursor, x.cursor.map(|c| c.as_str()))?;
                m.key(Key::Users)?;
                x.users.write(m.w)?;
                m.key(Key::Times)?;
                x.times.write(m.w)?;
            }
            Msg::MarkRead(MarkRead { topic, time, .. }) | Msg::ReadMark(ReadMark { topic, time, .. }) => {
                m.key(Key::Topic)?.text(topic.as_str())?;
                m.opt_uint(Key::Time, *time)?;
            }
            Msg::Members(x) => {
                m.key(Key::Topic)?.text(x.topic.as_str())?;
                m.key(Key::Count)?.uint(x.count.into())?;
                m.opt_text(Key::Query, x.query)?;
                m.opt_text(Key::Cursor, x.cursor.map(|c| c.as_str()))?;
            }
            Msg::MemberList(x) => {
                m.key(Key::Topic)?.text(x.topic.as_str())?;
                m.key(Key::Total)?.uint(x.total.into())?;
                m.opt_text(Key::Cursor, x.cursor.map(|c| c.as_str()))?;
                m.key(Key::Users)?;
                x.users.write(m.w)?;
                m.key(Key::Roles)?;
                x.roles.write(m.w)?;
            }
            Msg::Targets(x) => {
                m.key(Key::Topic)?.text(x.topic.as_str())?;
                m.key(Key::Count)?.uint(x.count.into())?;
                m.key(Key::Action)?.uint(x.action as u64)?;
                m.opt_text(Key::Cursor, x.cursor)?;
            }
            Msg::TargetList(x) => {
                m.key(Key::Topic)?.text(x.topic.as_str())?;
                m.key(Key::Total)?.uint(x.total.into())?;
                m.key(Key::Action)?.uint(x.action as u64)?;
                m.opt_text(Key::Cursor, x.cursor)?;
                m.key(Key::Targets)?;
                x.targets.write(m.w)?;
                m.opt_list(Key::Reasons, x.reasons.as_ref())?;
                m.opt_list(Key::Untils, x.untils.as_ref())?;
                m.opt_list(Key::Setters, x.setters.as_ref())?;
                m.opt_list(Key::SetAt, x.set_at.as_ref())?;
            }
            Msg::Catchup(x) => m.range(x, None)?,
            Msg::Search(x) => m.range(&x.range, Some(x.query))?,
            Msg::CatchupEnd(x) => {
                m.key(Key::Topic)?.text(x.topic.as_str())?;
                m.key(Key::Count)?.uint(x.count.into())?;
                m.key(Key::Status)?.uint(x.status as u64)?;
                m.opt_uint(Key::Horizon, x.horizon)?;
            }
        }
        m.finish();
        Ok(())
    }
}

/// Writes a map whose size is patched in at the end; every message has fewer than 24 keys, so
/// the head is always one byte.
struct MapWriter<'w, 'b> {
    w: &'w mut Writer<'b>,
    at: usize,
    pairs: u8,
}

impl<'w, 'b> MapWriter<'w, 'b> {
    fn new(w: &'w mut Writer<'b>) -> Result<Self, Overflow> {
        let at = w.len();
        w.map(0)?;
        Ok(MapWriter { w, at, pairs: 0 })
    }

    fn key(&mut self, k: Key) -> Result<&mut Writer<'b>, Overflow> {
        self.pairs += 1;
        self.w.uint(k as u64)?;
        Ok(self.w)
    }

    fn opt_uint(&mut self, k: Key, v: Option<u64>) -> Result<(), Overflow> {
        v.map_or(Ok(()), |v| self.key(k)?.uint(v))
    }

    /// A flag is written only when set: absent means false.
    fn opt_true(&mut self, k: Key, v: bool) -> Result<(), Overflow> {
        if v { self.key(k)?.bool(true) } else { Ok(()) }
    }

    fn opt_text(&mut self, k: Key, v: Option<&str>) -> Result<(), Overflow> {
        v.map_or(Ok(()), |v| self.key(k)?.text(v))
    }

    fn opt_list<'l, T: ListItem<'l>>(&mut self, k: Key, v: Option<&List<'l, T>>) -> Result<(), Overflow> {
        match v {
            Some(list) => {
                self.key(k)?;
                list.write(self.w)
            }
            None => Ok(()),
        }
    }

    /// The body fields shared by Message and Event: body, ctype, reply_to (keys 6, 7, 8).
    fn body(
        &mut self,
        body: Body<'_>,
        ctype: Option<&str>,
        reply_to: Option<&MsgId>,
    ) -> Result<(), Overflow> {
        match body {
            Body::Text(t) => self.key(Key::Body)?.text(t)?,
            Body::Blob(b) => self.key(Key::Body)?.bytes(b)?,
        }
        self.opt_text(Key::Ctype, ctype)?;
        self.opt_id(Key::ReplyTo, reply_to)
    }

    /// The fields of a Catchup or Search after `seq`, in key order: topic, count, since, after,
    /// until, before, query.
    fn range(&mut self, x: &Catchup<'_>, query: Option<&str>) -> Result<(), Overflow> {
        self.key(Key::Topic)?.text(x.topic.as_str())?;
        self.key(Key::Count)?.uint(x.count.into())?;
        self.opt_uint(Key::Since, x.since)?;
        self.opt_id(Key::After, x.after.as_ref())?;
        self.opt_uint(Key::Until, x.until)?;
        self.opt_id(Key::Before, x.before.as_ref())?;
        self.opt_text(Key::Query, query)
    }

    fn opt_id(&mut self, k: Key, v: Option<&MsgId>) -> Result<(), Overflow> {
        v.map_or(Ok(()), |v| self.key(k)?.bytes(&v.0))
    }

    fn finish(self) {
        self.w.patch(self.at, 0xa0 | self.pairs);
    }
}

/// An element type of a [`List`].
pub trait ListItem<'a>: Copy {
    /// Reads one element from an already validated list.
    fn read(r: &mut Reader<'a>) -> Option<Self>;
    /// Writes one element.
    fn write(self, w: &mut Writer<'_>) -> Result<(), Overflow>;
}

impl<'a> ListItem<'a> for u64 {
    fn read(r: &mut Reader<'a>) -> Option<Self> {
        match r.item() {
            Ok(super::cbor::Item::Uint(v)) => Some(v),
            _ => None,
        }
    }
    fn write(self, w: &mut Writer<'_>) -> Result<(), Overflow> {
        w.uint(self)
    }
}

impl<'a> ListItem<'a> for &'a str {
    fn read(r: &mut Reader<'a>) -> Option<Self> {
        match r.item() {
            Ok(super::cbor::Item::Text(t)) => Some(t),
            _ => None,
        }
    }
    fn write(self, w: &mut Writer<'_>) -> Result<(), Overflow> {
        w.text(self)
    }
}

impl<'a> ListItem<'a> for Name<'a> {
    fn read(r: &mut Reader<'a>) -> Option<Self> {
        match r.item() {
            Ok(super::cbor::Item::Text(t)) => Name::parse(t).ok(),
            _ => None,
        }
    }
    fn write(self, w: &mut Writer<'_>) -> Result<(), Overflow> {
        w.text(self.as_str())
    }
}

/// A CBOR array: either still in the frame it was decoded from (checked, not yet copied) or a
/// slice the sender provides.
#[derive(Clone, Copy)]
pub enum List<'a, T> {
    /// Members as raw CBOR, validated when decoded.
    Wire {
        /// Number of members.
        len: usize,
        /// Their bytes.
        raw: &'a [u8],
    },
    /// Members to encode.
    Slice(&'a [T]),
}

impl<'a, T: ListItem<'a>> List<'a, T> {
    /// The number of members.
    pub fn len(&self) -> usize {
        match self {
            List::Wire { len, .. } => *len,
            List::Slice(s) => s.len(),
        }
    }

    /// True if there are no members.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The members in order.
    pub fn iter(&self) -> impl Iterator<Item = T> + 'a {
        let (slice, raw, len) = match *self {
            List::Wire { len, raw } => (&[][..], raw, len),
            List::Slice(s) => (s, &[][..], 0),
        };
        let mut r = Reader::new(raw);
        slice
            .iter()
            .copied()
            .chain((0..len).map_while(move |_| T::read(&mut r)))
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), Overflow> {
        w.array(self.len())?;
        self.iter().try_for_each(|x| x.write(w))
    }
}

impl<'a, T: ListItem<'a> + PartialEq> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a, T: ListItem<'a> + std::fmt::Debug> std::fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
