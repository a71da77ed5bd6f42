//! The map keys and message type numbers of the wire format. One key table serves every message
//! type, so a key always means the same thing wherever it appears.

macro_rules! numbered {
    ($(#[$m:meta])* $vis:vis enum $ty:ident : $repr:ty { $( $(#[$doc:meta])* $name:ident = $num:literal, $label:literal, )* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr($repr)]
        $vis enum $ty { $( $(#[$doc])* $name = $num, )* }

        impl $ty {
            /// Every value, in numeric order.
            pub const ALL: &'static [$ty] = &[$($ty::$name),*];

            /// The value for a number read off the wire.
            pub fn from_u64(n: u64) -> Option<Self> {
                match n { $( $num => Some($ty::$name), )* _ => None }
            }

            /// The name used in docs and in error messages.
            pub fn label(self) -> &'static str {
                match self { $( $ty::$name => $label, )* }
            }
        }
    };
}

numbered! {
    /// A map key. Keys above the last one defined here are reserved for later versions and
    /// extensions; receivers skip keys they do not know.
    pub enum Key: u8 {
        /// The message type (a [`MsgType`] number); present in every message.
        Type = 0, "type",
        /// The client's request number, echoed in the reply.
        Seq = 1, "seq",
        /// The topic a request or Event is about.
        Topic = 2, "topic",
        /// The sender of an Event.
        From = 3, "from",
        /// Milliseconds since the Unix epoch, UTC.
        Time = 4, "time",
        /// A message id.
        Id = 5, "id",
        /// The content of a Message or Event.
        Body = 6, "body",
        /// The content type of the body.
        Ctype = 7, "ctype",
        /// The id of the message this one answers.
        ReplyTo = 8, "reply_to",
        /// An error code.
        Code = 9, "code",
        /// Human-readable text for an Error or Bye.
        Reason = 10, "reason",
        /// Protocol versions (Ident).
        Versions = 11, "versions",
        /// The connection's user ID (Ident).
        User = 12, "user",
        /// The server's domain (Ident reply).
        Server = 13, "server",
        /// First index of a page (Topics, TopicList).
        Start = 14, "start",
        /// How many items: asked for, or delivered.
        Count = 15, "count",
        /// How many items exist in all (TopicList).
        Total = 16, "total",
        /// A page of topic names (TopicList).
        Topics = 17, "topics",
        /// Whether the connection is subscribed (Meta).
        Subscribed = 18, "subscribed",
        /// How many connections are subscribed (Meta).
        Subscribers = 19, "subscribers",
        /// Only events after this time (Catchup).
        Since = 20, "since",
        /// Only events after this id (Catchup).
        After = 21, "after",
        /// The outcome of a Catchup or Search (CatchupEnd).
        Status = 22, "status",
        /// Only events before this time (Catchup, Search).
        Until = 23, "until",
        /// Only events before the one with this id (Catchup, Search).
        Before = 24, "before",
        /// Search text (Search).
        Query = 25, "query",
        /// At or before this time, Events of the topic may have been deleted (CatchupEnd).
        Horizon = 26, "horizon",
        /// Milliseconds of silence after which the server pings (Ident reply).
        Keepalive = 27, "keepalive",
        /// Milliseconds after its Ping within which the server must hear something (Ident reply).
        Timeout = 28, "timeout",
        /// An authentication mechanism (Ident, Challenge): 1 is a password.
        Auth = 29, "auth",
        /// A one-time challenge (Challenge, Auth).
        Nonce = 30, "nonce",
        /// An account's password (Auth).
        Password = 31, "password",
        /// Create the account (Ident with `auth`).
        Register = 32, "register",
        /// The session is a guest's, its ID chosen by the server (Ident reply).
        Guest = 33, "guest",
        /// A short-lived proof of identity for another server (Ident, Token, Verify).
        Token = 34, "token",
        /// A home server's answer about a token (Vouch).
        Valid = 35, "valid",
        /// What a moderation request does (Mod): an [`Action`] number.
        Action = 36, "action",
        /// Whom a moderation request is about: a user ID, or an ID pattern with `*` (Mod).
        Target = 37, "target",
        /// A channel's display name, any Unicode (SetMeta, Meta).
        Display = 38, "display",
        /// A channel's topic line (SetMeta, Meta).
        Subject = 39, "subject",
        /// When a channel was created (Meta).
        Created = 40, "created",
        /// A channel's modes, a bit set (SetMeta, Meta).
        Modes = 41, "modes",
        /// Messages per minute one member may publish to a channel; 0 for no limit.
        Rate = 42, "rate",
        /// The asking connection's role in a channel (Meta).
        Role = 43, "role",
        /// A user's presence: 0 offline, 1 online, 2 away (Status, Meta).
        Presence = 44, "presence",
        /// A name to page after (Topics, Members; an entry of the list in Targets), or the last
        /// one of a page that has more.
        Cursor = 45, "cursor",
        /// Subscriber counts, one per name of `topics` (TopicList).
        Counts = 46, "counts",
        /// Topic lines, one per name of `topics` (TopicList).
        Subjects = 47, "subjects",
        /// A page of user IDs (MemberList).
        Users = 48, "users",
        /// Roles, one per ID of `users` (MemberList).
        Roles = 49, "roles",
        /// Whether the server keeps a channel after its last subscriber leaves (Meta).
        Kept = 50, "kept",
        /// A page of one of a channel's lists: ID patterns, and on the server's own name
        /// address ranges too (TargetList).
        Targets = 51, "targets",
        /// Why each entry of `targets` is there, as the admin said ("" for no reason given)
        /// (TargetList of the server's bans).
        Reasons = 52, "reasons",
        /// Client's Ident: copies of the direct messages its user sends from its other
        /// connections are wanted; server's Ident: they will come.
        Carbons = 53, "carbons",
        /// Client's Ident: this connection wants to be told when users join and leave its
        /// channels; server's Ident: it will be.
        Joins = 54, "joins",
        /// The password an account is to have from now on (SetPassword).
        NewPassword = 55, "new_password",
        /// The display name of each channel of a TopicList page ("" for none).
        Displays = 56, "displays",
        /// In a user ID's Meta: whether its holder proved it (an account, or another
        /// domain's token): false, anyone may take the name.
        Account = 57, "account",
        /// In a user ID's Meta: the ID is one of the server's admins.
        Admin = 58, "admin",
        /// When each entry of `targets` ends, 0 for never (TargetList of bans or mutes).
        Untils = 59, "untils",
        /// Who set each entry of `targets`, "" where not known (TargetList of bans or mutes).
        Setters = 60, "setters",
        /// When each entry of `targets` was set, 0 where not known (TargetList of bans or
        /// mutes).
        SetAt = 61, "set_at",
        /// In an Error whose refusal a later try may pass: how long to wait first, at least,
        /// in milliseconds.
        RetryAfter = 62, "retry_after",
        /// Joins a minute a channel admits from IDs not in it yet; 0 for no limit (SetMeta,
        /// Meta).
        JoinRate = 63, "join_rate",
        /// The time of each conversation's newest Event, one per ID of `users`
        /// (ConversationList).
        Times = 64, "times",
    }
}

/// How many keys this version defines; keys at or above this are skipped on decode. Derived
/// from the last key (keys run 0, 1, 2, ... without gaps), so that a new key cannot index past
/// the decoder's table.
pub const KEY_COUNT: usize = Key::ALL.len();

numbered! {
    /// What a Mod request does to its target on a channel.
    pub enum Action: u8 {
        /// Removes the target's connections from the channel; they may come back.
        Kick = 1, "kick",
        /// Keeps IDs matching the pattern out of the channel (and removes those in it).
        Ban = 2, "ban",
        /// Lifts a ban on exactly this pattern.
        Unban = 3, "unban",
        /// Keeps IDs matching the pattern from publishing to the channel.
        Mute = 4, "mute",
        /// Lifts a mute on exactly this pattern.
        Unmute = 5, "unmute",
        /// Makes the target an operator of the channel.
        Op = 6, "op",
        /// Takes the target's operator role away (not the owner's).
        Deop = 7, "deop",
        /// Lets the target speak in a moderated channel.
        Voice = 8, "voice",
        /// Takes the target's voice away.
        Devoice = 9, "devoice",
        /// Lets the target (an ID, or every ID a pattern matches) into an invite-only channel
        /// (and past a registered-only one).
        Invite = 10, "invite",
        /// Withdraws the target's invitation.
        Uninvite = 11, "uninvite",
        /// Makes the target the owner (the old owner stays an operator).
        Transfer = 12, "transfer",
        /// Stops keeping the channel after its last subscriber; the target names its owner.
        Drop = 13, "drop",
        /// Deletes the channel's Event whose id (in hex) is the target from its history.
        Delete = 14, "delete",
        /// Deletes the Messages of IDs matching the pattern (later than `since`) from the
        /// channel's history.
        Purge = 15, "purge",
        /// Spares IDs matching the pattern from the channel's bans (IRC's `+e`).
        Except = 16, "except",
        /// Lifts the exception of exactly this pattern.
        Unexcept = 17, "unexcept",
    }
}

numbered! {
    /// A member's standing in a channel, from least to most.
    pub enum Role: u8 {
        /// Subscribed, nothing more.
        Member = 0, "member",
        /// May speak in a moderated channel.
        Voiced = 1, "voiced",
        /// Runs the channel: Mod and SetMeta.
        Operator = 2, "operator",
        /// Created the channel; an operator nobody can demote.
        Owner = 3, "owner",
    }
}

impl Action {
    /// Whether its target is an ID pattern (a plain ID is one), not one user ID alone: on a
    /// channel, for ban, mute, invite, except, their undoing and purge (PROTOCOL.md §4,
    /// Channels).
    pub fn takes_pattern(self) -> bool {
        matches!(
            self,
            Action::Ban
                | Action::Unban
                | Action::Mute
                | Action::Unmute
                | Action::Purge
                | Action::Invite
                | Action::Uninvite
                | Action::Except
                | Action::Unexcept
        )
    }
}

impl PartialOrd for Role {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Role {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

numbered! {
    /// Whether a user is around.
    pub enum Presence: u8 {
        /// No connection.
        Offline = 0, "offline",
        /// Connected.
        Online = 1, "online",
        /// Connected, but said to be away.
        Away = 2, "away",
    }
}

numbered! {
    /// A message type number (key 0). 1–63 are the core protocol; 64 and above are reserved for
    /// extensions (authentication, presence, moderation).
    pub enum MsgType: u8 {
        /// C→S opens a session; S→C accepts it.
        Ident = 1, "Ident",
        /// Either side: the connection is about to close.
        Bye = 2, "Bye",
        /// S→C: a request failed, or the connection misbehaved.
        Error = 3, "Error",
        /// Either side: answered by Pong with the same time.
        Ping = 4, "Ping",
        /// The answer to Ping.
        Pong = 5, "Pong",
        /// C→S: publish to a topic.
        Message = 6, "Message",
        /// S→C: something was published on a topic.
        Event = 7, "Event",
        /// C→S: subscribe to a topic.
        Sub = 8, "Sub",
        /// C→S: unsubscribe from a topic.
        Unsub = 9, "Unsub",
        /// S→C: a topic's state, the reply to Sub and Unsub.
        Meta = 10, "Meta",
        /// C→S: ask for a page of the topic list.
        Topics = 11, "Topics",
        /// S→C: a page of the topic list.
        TopicList = 12, "TopicList",
        /// C→S: ask for past events of a topic.
        Catchup = 13, "Catchup",
        /// S→C: the end of a Catchup's or Search's replayed events.
        CatchupEnd = 14, "CatchupEnd",
        /// C→S: search past events of a topic.
        Search = 15, "Search",
        /// S→C: the one-time nonce an Auth must answer.
        Challenge = 16, "Challenge",
        /// C→S: the password, answering a Challenge.
        Auth = 17, "Auth",
        /// C→S: ask for a token for another server.
        Grant = 18, "Grant",
        /// S→C: the token, the reply to Grant.
        Token = 19, "Token",
        /// Server→home server: is this token good for this user and audience?
        Verify = 20, "Verify",
        /// Home server→server: the answer to Verify.
        Vouch = 21, "Vouch",
        /// C→S: change the session's account's password, giving the current one.
        SetPassword = 22, "SetPassword",
        /// S→C: the password was changed, the reply to SetPassword.
        PasswordSet = 23, "PasswordSet",
        /// C→S: a channel operator's action (kick, ban, mute, op, ...).
        Mod = 64, "Mod",
        /// C→S: change a channel's display name, topic line, modes or rate.
        SetMeta = 65, "SetMeta",
        /// C→S: set one's presence (online or away, with a note).
        SetPresence = 66, "SetPresence",
        /// C→S: ask for a page of a channel's members.
        Members = 67, "Members",
        /// S→C: a page of a channel's members, the reply to Members.
        MemberList = 68, "MemberList",
        /// C→S: ask for a page of one of a channel's lists (bans, mutes, operators, voiced,
        /// invited), named by the Mod action that adds to it.
        Targets = 69, "Targets",
        /// S→C: a page of a channel's list, the reply to Targets.
        TargetList = 70, "TargetList",
        /// C→S: ask for a page of the asker's direct-message conversations.
        Conversations = 71, "Conversations",
        /// S→C: a page of the asker's conversations, the reply to Conversations.
        ConversationList = 72, "ConversationList",
        /// C→S: move the asker's read marker on a topic, or ask for it.
        MarkRead = 73, "MarkRead",
        /// S→C: a read marker, the reply to MarkRead (or, without `seq`, another connection of
        /// the user moved it).
        ReadMark = 74, "ReadMark",
    }
}

/// Channel mode bits (key `modes`).
pub mod modes {
    /// Only invited users (and operators) may subscribe.
    pub const INVITE_ONLY: u64 = 1;
    /// Only voiced users and operators may publish.
    pub const MODERATED: u64 = 2;
    /// Only users who logged in (not guests, not open-policy names) may subscribe.
    pub const REGISTERED_ONLY: u64 = 4;
    /// Only operators may list the members.
    pub const PRIVATE_MEMBERS: u64 = 8;
    /// Listed by Topics only to its subscribers (and the server's admins).
    pub const SECRET: u64 = 16;
    /// Every bit this version defines.
    pub const ALL: u64 = 31;
}

// The decoder tracks the keys it has seen in one u128, and indexes its table by key.
const _: () = assert!(KEY_COUNT <= 128);
const _: () = {
    let mut i = 0;
    while i < Key::ALL.len() {
        assert!(Key::ALL[i] as usize == i, "keys run without gaps");
        i += 1;
    }
};
