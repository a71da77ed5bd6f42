//! Error codes: the numbers carried by Error and Bye, and what each means for the connection.

use std::fmt;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident = $num:literal, $label:literal, $closes:literal; )*) => {
        /// Every error code Scalar v1 defines. Ranges: 100–199 framing and encoding, 200–299
        /// session state, 300–399 invalid values, 400–499 refused by policy, 500–599 limits and
        /// server state, 600–699 authentication, 700–799 history; 800–899 are reserved for
        /// moderation, 900–999 for implementation-specific codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum ErrorCode {
            $( $(#[$doc])* $name = $num, )*
        }

        impl ErrorCode {
            /// Every code, in numeric order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The code for a number read off the wire, if this implementation knows it.
            pub fn from_u16(n: u16) -> Option<Self> {
                match n { $( $num => Some(ErrorCode::$name), )* _ => None }
            }

            /// The short snake_case name used in docs and logs.
            pub fn label(self) -> &'static str {
                match self { $( ErrorCode::$name => $label, )* }
            }

            /// True if the server closes the connection after sending this error (with a Bye).
            pub fn closes(self) -> bool {
                match self { $( ErrorCode::$name => $closes, )* }
            }
        }
    };
}

error_codes! {
    /// The frame is not one well-formed CBOR map of the accepted subset, or a field has the
    /// wrong type or range.
    Malformed = 100, "malformed", false;
    /// The length prefix exceeds 16382: the stream cannot be trusted any further.
    FrameTooLong = 101, "frame_too_long", true;
    /// The length prefix is zero.
    EmptyFrame = 102, "empty_frame", false;
    /// The message type number is unknown to the receiver.
    UnknownType = 103, "unknown_type", false;
    /// A field the message type requires is absent.
    MissingField = 104, "missing_field", false;
    /// A text string is not valid UTF-8.
    BadUtf8 = 105, "bad_utf8", false;
    /// A request other than Ident, Auth, Verify or Bye before the handshake.
    NotIdentified = 200, "not_identified", true;
    /// A second Ident on an identified connection.
    AlreadyIdentified = 201, "already_identified", false;
    /// No protocol version in common.
    UnsupportedVersion = 202, "unsupported_version", true;
    /// No Ident within the handshake timeout.
    HandshakeTimeout = 203, "handshake_timeout", true;
    /// No Pong (or anything else) within the ping timeout.
    PingTimeout = 204, "ping_timeout", true;
    /// A message only the other side may send (a client sending Event, Meta, ...).
    UnexpectedMessage = 205, "unexpected_message", false;
    /// The ID in Ident does not follow the ID grammar.
    BadId = 300, "bad_id", false;
    /// A topic does not follow the topic grammar.
    BadTopic = 301, "bad_topic", false;
    /// The body is larger than 15360 bytes.
    BodyTooLarge = 302, "body_too_large", false;
    /// The content type is not 1–64 printable ASCII characters.
    BadCtype = 303, "bad_ctype", false;
    /// A text field (such as a reason) is longer than its limit.
    FieldTooLong = 304, "field_too_long", false;
    /// An ID of another domain: a server only vouches for its own users.
    ForeignId = 400, "foreign_id", false;
    /// A topic of another domain: this server does not relay to other servers.
    ForeignTopic = 401, "foreign_topic", false;
    /// Publishing to a reserved (`!`) topic. (A reserved name as an ID is `bad_id`.)
    Reserved = 402, "reserved", false;
    /// Publishing to a channel the connection has not subscribed to.
    NotSubscribed = 403, "not_subscribed", false;
    /// A direct message to an ID with no connection.
    NoSuchUser = 404, "no_such_user", false;
    /// Subscribing to a topic that cannot be subscribed to (a user ID, an unknown reserved name).
    NotSubscribable = 405, "not_subscribable", false;
    /// A direct message to an account that is away, from a network that has left as many in
    /// its inbox as the server keeps from one network for now.
    InboxLimit = 406, "inbox_limit", false;
    /// The server is at its connection limit.
    TooManyConnections = 500, "too_many_connections", true;
    /// The client's address is at its connection limit.
    TooManyFromAddress = 501, "too_many_from_address", true;
    /// The connection is at its subscription limit.
    TooManySubs = 502, "too_many_subs", false;
    /// The connection fell further behind than its output queue allows.
    SlowConsumer = 503, "slow_consumer", true;
    /// The server is shutting down.
    ShuttingDown = 504, "shutting_down", true;
    /// The client's address opens connections faster than the server allows.
    ConnectingTooFast = 505, "connecting_too_fast", true;
    /// The connection kept sending far ahead of its message or byte rate.
    Flooding = 506, "flooding", true;
    /// The ID is registered (or the server admits accounts only): Ident with `auth`.
    AuthRequired = 600, "auth_required", false;
    /// Wrong password, or no such account.
    BadCredentials = 601, "bad_credentials", false;
    /// Too many failed attempts for this ID or address lately, or too many verifications in
    /// hand.
    AuthThrottled = 602, "auth_throttled", false;
    /// A password must not cross plain TCP from a non-loopback address.
    InsecureTransport = 603, "insecure_transport", false;
    /// Registering an ID that is already an account, or a guest name.
    NameTaken = 604, "name_taken", false;
    /// The server does not let clients create accounts.
    RegistrationClosed = 605, "registration_closed", false;
    /// An Auth whose nonce is not the one of the connection's outstanding Challenge.
    StaleChallenge = 606, "stale_challenge", false;
    /// An authentication mechanism the server does not know.
    UnsupportedAuth = 607, "unsupported_auth", false;
    /// A foreign ID's home server could not be asked about its token.
    HomeUnreachable = 608, "home_unreachable", false;
    /// Registering with a password shorter than the server allows for a new account.
    WeakPassword = 609, "weak_password", false;
    /// A foreign ID's home server was reached, but its TLS certificate is not one this server
    /// trusts: no use trying again until this server's operator changes that.
    HomeUntrusted = 610, "home_untrusted", false;
    /// The server's history store cannot take the Message now (failing or overloaded), or
    /// cannot answer a Catchup or Search now; nothing was published. Try again later.
    StoreUnavailable = 700, "store_unavailable", false;
    /// The request needs an operator of the channel.
    NotOperator = 800, "not_operator", false;
    /// The channel bans this ID (or, for a guest, its address).
    Banned = 801, "banned", false;
    /// The channel mutes this ID: its Messages are refused.
    Muted = 802, "muted", false;
    /// An operator removed this connection from a channel (kick or ban); it may Sub again
    /// unless banned. Sent without `seq`; the connection stays.
    Kicked = 803, "kicked", false;
    /// The channel is invite-only and this ID was not invited.
    InviteOnly = 804, "invite_only", false;
    /// The channel admits only users who logged in.
    RegisteredOnly = 805, "registered_only", false;
    /// Over the channel's per-member message rate; the reason says how long to wait.
    ChannelRate = 806, "channel_rate", false;
    /// The server bans this ID or address.
    BannedFromServer = 807, "banned_from_server", true;
    /// The channel's list that the action adds to (bans, mutes, operators, voices,
    /// invitations) is full.
    ListFull = 808, "list_full", false;
    /// A server admin closed this connection (a kick on `!server@DOMAIN`); not a ban.
    Killed = 809, "killed", true;
    /// Over the channel's join rate; `retry_after` says how long to wait.
    JoinRate = 810, "join_rate", false;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", *self as u16, self.label())
    }
}
