//! The wire format against its spec: the test vectors printed in docs/PROTOCOL.md, the CDDL
//! schema in docs/scalar.cddl, an independent CBOR implementation (ciborium), and property tests.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use scalar::proto::cbor::CborError;
use scalar::proto::*;

const SPEC: &str = include_str!("../docs/PROTOCOL.md");
const CDDL: &str = include_str!("../docs/scalar.cddl");

fn name(s: &str) -> Name<'_> {
    Name::parse(s).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 8949 §8 diagnostic notation for the subset Scalar uses.
fn diag(v: &ciborium::Value) -> String {
    use ciborium::Value as V;
    match v {
        V::Integer(i) => i128::from(*i).to_string(),
        V::Text(t) => format!("{t:?}"),
        V::Bytes(b) => format!("h'{}'", hex(b)),
        V::Bool(b) => b.to_string(),
        V::Null => "null".into(),
        V::Array(a) => format!("[{}]", a.iter().map(diag).collect::<Vec<_>>().join(", ")),
        V::Map(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", diag(k), diag(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => panic!("no diagnostic form for {other:?}"),
    }
}

fn payload_of(frame: &[u8]) -> &[u8] {
    match frame::split(frame).unwrap() {
        Status::Complete((p, n)) => {
            assert_eq!(n, frame.len());
            p
        }
        Status::Partial => panic!("partial frame"),
    }
}

/// The schema with every `.regexp` anchored at both ends: RFC 8610's regexps are XSD-style
/// (anchored), while the validator's regex engine matches anywhere.
fn anchored_cddl() -> String {
    let mut out = String::new();
    let mut rest = CDDL;
    while let Some(i) = rest.find(".regexp \"") {
        let (head, tail) = rest.split_at(i + ".regexp \"".len());
        let end = tail.find('"').expect("a closing quote");
        out.push_str(head);
        out.push_str(&format!("^(?:{})$", &tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

thread_local! {
    /// The schema, parsed once per test thread: parsing is most of a validation's cost.
    static SCHEMA: cddl::ast::CDDL<'static> = {
        let text: &'static str = Box::leak(anchored_cddl().into_boxed_str());
        cddl::cddl_from_str(text, true).expect("docs/scalar.cddl parses")
    };
}

/// Checks one payload against the CDDL rule `message` (the schema's first rule).
fn cddl_accepts(payload: &[u8]) -> Result<(), String> {
    use cddl::validator::Validator;
    let value = cddl::validator::cbor_value::decode_cbor(payload).map_err(|e| e.to_string())?;
    SCHEMA.with(|schema| {
        let mut v = cddl::validator::cbor::CBORValidator::new(schema, value, None);
        v.validate().map_err(|e| e.to_string())
    })
}

/// Validates one payload against the CDDL rule `message`.
fn check_cddl(payload: &[u8]) {
    if let Err(e) = cddl_accepts(payload) {
        panic!("{} does not match docs/scalar.cddl: {e}", hex(payload));
    }
}

#[test]
fn the_schema_holds_names_to_their_byte_limits() {
    // An Ident whose user is `local@domain` with a domain of `n` bytes.
    let ident = |local: &str, domain: &str| {
        let user = format!("{local}@{domain}");
        cbor(map(vec![
            (0, 1.into()),
            (11, ciborium::Value::Array(vec![1.into()])),
            (12, user.as_str().into()),
        ]))
    };
    let domain = |n: usize| format!("{}.{}", "b".repeat(63), "c".repeat(n - 64));
    let local = "a".repeat(MAX_LOCAL);
    assert!(
        cddl_accepts(&ident(&local, &domain(MAX_DOMAIN))).is_ok(),
        "126 bytes"
    );
    assert!(
        cddl_accepts(&ident(&local, &domain(MAX_DOMAIN + 1))).is_err(),
        "a 94-byte domain"
    );
    assert!(
        cddl_accepts(&ident(&"a".repeat(MAX_LOCAL + 1), "x")).is_err(),
        "a 33-byte local part"
    );
    // A channel of 127 bytes is the longest topic.
    let sub = |topic: &str| cbor(map(vec![(0, 8.into()), (2, topic.into())]));
    assert!(cddl_accepts(&sub(&format!("#{local}@{}", domain(MAX_DOMAIN)))).is_ok());
    assert!(cddl_accepts(&sub(&format!("#{local}@{}", domain(MAX_DOMAIN + 1)))).is_err());
}

const ID_A: MsgId = MsgId([0xaa; 32]);
/// [`ID_A`] as text, as a delete names it.
const HEX_ID: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// The placeholder token of the vectors: 32 bytes 0x70.
const TOKEN: [u8; 32] = [0x70; 32];
/// The placeholder nonce of the vectors: bytes 0x00 to 0x1f.
const NONCE: Nonce = Nonce({
    let mut n = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        n[i] = i as u8;
        i += 1;
    }
    n
});

fn event_for(
    body: Body<'static>,
    ctype: Option<&'static str>,
    reply_to: Option<MsgId>,
    seq: Option<u32>,
) -> Msg<'static> {
    let (from, topic, time) = (
        name("alice@example.com"),
        name("#rust@example.com"),
        1_764_000_000_000,
    );
    let id = MsgId::compute(
        from.as_str(),
        topic.as_str(),
        time,
        body,
        ctype,
        reply_to.as_ref(),
    );
    Msg::Event(Event {
        seq,
        topic,
        from,
        time,
        id,
        body,
        ctype,
        reply_to,
    })
}

/// Every vector of docs/PROTOCOL.md §10, in order.
fn vectors() -> Vec<(&'static str, Msg<'static>)> {
    let topic = name("#rust@example.com");
    vec![
        (
            "Ident (client)",
            Msg::Ident(Ident::new(Some(1), &[1], name("alice@example.com"))),
        ),
        (
            "Ident (server)",
            Msg::Ident(Ident {
                time: None,
                seq: Some(1),
                versions: List::Slice(&[1]),
                user: name("alice@example.com"),
                server: Some("example.com"),
                keepalive: Some(60_000),
                timeout: Some(30_000),
                auth: None,
                register: false,
                guest: false,
                token: None,
                carbons: false,
                joins: false,
            }),
        ),
        (
            "Ident (client, carbons)",
            Msg::Ident(Ident {
                carbons: true,
                ..Ident::new(Some(1), &[1], name("alice@example.com"))
            }),
        ),
        (
            "Ident (client, joins)",
            Msg::Ident(Ident {
                joins: true,
                ..Ident::new(Some(1), &[1], name("alice@example.com"))
            }),
        ),
        (
            "Ident (server, carbons)",
            Msg::Ident(Ident {
                time: Some(1764000000000),
                server: Some("example.com"),
                keepalive: Some(60_000),
                timeout: Some(30_000),
                carbons: true,
                ..Ident::new(Some(1), &[1], name("alice@example.com"))
            }),
        ),
        (
            "Ident (client, bare name, log in)",
            Msg::Ident(Ident {
                auth: Some(AUTH_PASSWORD),
                ..Ident::new(Some(1), &[1], Name::parse_user("alice").unwrap())
            }),
        ),
        (
            "Challenge",
            Msg::Challenge(Challenge {
                seq: Some(1),
                auth: AUTH_PASSWORD,
                nonce: NONCE,
            }),
        ),
        (
            "Auth",
            Msg::Auth(Auth {
                seq: Some(2),
                nonce: NONCE,
                password: "correct horse battery staple",
            }),
        ),
        (
            "SetPassword",
            Msg::SetPassword(SetPassword {
                seq: Some(4),
                password: "correct horse battery staple",
                new_password: "new horse, new battery",
            }),
        ),
        (
            "PasswordSet",
            Msg::PasswordSet(PasswordSet {
                seq: Some(4),
                count: 1,
            }),
        ),
        (
            "Grant",
            Msg::Grant(Grant {
                seq: Some(3),
                server: "bar.org",
            }),
        ),
        (
            "Token",
            Msg::Token(Token {
                seq: Some(3),
                server: "bar.org",
                token: &TOKEN,
                until: 1_764_000_300_000,
            }),
        ),
        (
            "Ident (client, other domain, token)",
            Msg::Ident(Ident {
                token: Some(&TOKEN),
                ..Ident::new(Some(1), &[1], name("alice@example.com"))
            }),
        ),
        (
            "Verify",
            Msg::Verify(Verify {
                seq: Some(1),
                user: name("alice@example.com"),
                server: "bar.org",
                token: &TOKEN,
            }),
        ),
        (
            "Vouch",
            Msg::Vouch(Vouch {
                seq: Some(1),
                user: name("alice@example.com"),
                valid: true,
                until: Some(1_764_000_300_000),
            }),
        ),
        (
            "Ident (server, guest)",
            Msg::Ident(Ident {
                server: Some("example.com"),
                keepalive: Some(60_000),
                timeout: Some(30_000),
                guest: true,
                ..Ident::new(Some(1), &[1], name("guest-k3v9ab-q2ab7xmz@example.com"))
            }),
        ),
        (
            "Bye",
            Msg::Bye(Bye {
                code: 0,
                reason: Some("gone fishing"),
            }),
        ),
        (
            "Error",
            Msg::Error(ErrorMsg {
                seq: Some(7),
                code: 403,
                reason: Some("not subscribed to #rust@example.com"),
                server: None,
                topic: None,
                retry_after: None,
            }),
        ),
        (
            "Error (kicked)",
            Msg::Error(ErrorMsg {
                seq: None,
                code: 803,
                reason: Some("kicked from #rust@example.com by alice@example.com: calm down"),
                server: None,
                topic: Some(topic),
                retry_after: None,
            }),
        ),
        (
            "Error (channel_rate, retry_after)",
            Msg::Error(ErrorMsg {
                seq: Some(9),
                code: ErrorCode::ChannelRate as u16,
                reason: Some("#rust@example.com allows fewer messages: wait 6 s"),
                server: None,
                topic: None,
                retry_after: Some(5_200),
            }),
        ),
        (
            "Error (join_rate, retry_after)",
            Msg::Error(ErrorMsg {
                seq: Some(5),
                code: ErrorCode::JoinRate as u16,
                reason: Some("#rust@example.com admits fewer joins now: wait 4 s"),
                server: None,
                topic: None,
                retry_after: Some(3_100),
            }),
        ),
        (
            "Ping",
            Msg::Ping(Ping {
                seq: Some(2),
                time: 1_764_000_000_000,
            }),
        ),
        (
            "Pong",
            Msg::Pong(Ping {
                seq: Some(2),
                time: 1_764_000_000_000,
            }),
        ),
        (
            "Message",
            Msg::Message(Message {
                seq: Some(3),
                topic,
                body: Body::Text("hello, world"),
                ctype: None,
                reply_to: None,
            }),
        ),
        (
            "Message (blob, reply)",
            Msg::Message(Message {
                seq: Some(4),
                topic,
                body: Body::Blob(&[0, 1, 2, 3]),
                ctype: Some("application/octet-stream"),
                reply_to: Some(ID_A),
            }),
        ),
        (
            "Event (echo)",
            event_for(Body::Text("hello, world"), None, None, Some(3)),
        ),
        (
            "Event (blob, reply)",
            event_for(
                Body::Blob(&[0, 1, 2, 3]),
                Some("application/octet-stream"),
                Some(ID_A),
                None,
            ),
        ),
        ("Sub", Msg::Sub(Sub { seq: Some(5), topic })),
        (
            "Unsub",
            Msg::Unsub(Unsub {
                seq: Some(6),
                topic,
                reason: None,
            }),
        ),
        (
            "Unsub (with a reason)",
            Msg::Unsub(Unsub {
                seq: Some(7),
                topic,
                reason: Some("see you tomorrow"),
            }),
        ),
        ("Meta", Msg::Meta(Meta::new(Some(5), topic, true, 12))),
        (
            "Topics",
            Msg::Topics(Topics {
                seq: Some(8),
                start: 0,
                count: 50,
                cursor: None,
                query: None,
            }),
        ),
        (
            "TopicList",
            Msg::TopicList(TopicList {
                seq: Some(8),
                total: 2,
                start: 0,
                topics: List::Slice(Box::leak(Box::new([
                    name("#go@example.com"),
                    name("#rust@example.com"),
                ]))),
                counts: None,
                subjects: None,
                displays: None,
                cursor: None,
            }),
        ),
        (
            "Catchup",
            Msg::Catchup(Catchup {
                seq: Some(9),
                topic,
                count: 50,
                since: Some(1_763_990_000_000),
                after: None,
                until: None,
                before: None,
            }),
        ),
        (
            "CatchupEnd",
            Msg::CatchupEnd(CatchupEnd {
                seq: Some(9),
                topic,
                status: CatchupStatus::Unavailable,
                count: 0,
                horizon: None,
            }),
        ),
        (
            "Catchup (backward, before an id)",
            Msg::Catchup(Catchup {
                seq: Some(10),
                topic,
                count: 20,
                since: None,
                after: None,
                until: None,
                before: MsgId::from_hex("fb906b3836a66f58fd305c0fc2e70bb5cb4d3b2041c800a7091607c18a673ef1"),
            }),
        ),
        (
            "CatchupEnd (more, horizon)",
            Msg::CatchupEnd(CatchupEnd {
                seq: Some(10),
                topic,
                status: CatchupStatus::Truncated,
                count: 20,
                horizon: Some(1_763_000_000_000),
            }),
        ),
        (
            "Search",
            Msg::Search(Search {
                range: Catchup {
                    seq: Some(11),
                    topic,
                    count: 50,
                    since: None,
                    after: None,
                    until: None,
                    before: None,
                },
                query: "release notes",
            }),
        ),
        (
            "Meta (channel, described)",
            Msg::Meta(Meta {
                display: Some("Rust 🦀"),
                subject: Some("1.95 is out"),
                created: Some(1764000000000),
                modes: Some(modes::REGISTERED_ONLY),
                rate: Some(0),
                role: Some(Role::Owner),
                kept: Some(true),
                ..Meta::new(Some(2), topic, true, 12)
            }),
        ),
        (
            "Topics (after a cursor)",
            Msg::Topics(Topics {
                seq: Some(7),
                start: 0,
                count: 100,
                cursor: Some(name("#go@example.com")),
                query: None,
            }),
        ),
        (
            "Topics (a query)",
            Msg::Topics(Topics {
                seq: Some(9),
                start: 0,
                count: 100,
                cursor: None,
                query: Some("rust"),
            }),
        ),
        (
            "Topics (a query, after a cursor)",
            Msg::Topics(Topics {
                seq: Some(10),
                start: 0,
                count: 100,
                cursor: Some(name("#go@example.com")),
                query: Some("rust"),
            }),
        ),
        (
            "Meta (channel, join rate)",
            Msg::Meta(Meta {
                modes: Some(modes::INVITE_ONLY),
                rate: Some(6),
                join_rate: Some(12),
                role: Some(Role::Operator),
                kept: Some(false),
                ..Meta::new(Some(3), topic, true, 40)
            }),
        ),
        (
            "TopicList (counts, subjects, cursor)",
            Msg::TopicList(TopicList {
                seq: Some(7),
                total: 3,
                start: 1,
                topics: List::Slice(Box::leak(Box::new([name("#rust@example.com")]))),
                counts: Some(List::Slice(&[12])),
                subjects: Some(List::Slice(&["1.95 is out"])),
                displays: None,
                cursor: Some(name("#rust@example.com")),
            }),
        ),
        (
            "TopicList (display names)",
            Msg::TopicList(TopicList {
                seq: Some(8),
                total: 2,
                start: 0,
                topics: List::Slice(Box::leak(Box::new([
                    name("#go@example.com"),
                    name("#rust@example.com"),
                ]))),
                counts: Some(List::Slice(&[0, 12])),
                subjects: Some(List::Slice(&["", "1.95 is out"])),
                displays: Some(List::Slice(&["", "Rust ☕"])),
                cursor: None,
            }),
        ),
        (
            "Mod (ban)",
            Msg::Mod(Mod {
                until: None,
                seq: Some(12),
                topic,
                action: Action::Ban,
                target: "*@spam.example",
                reason: Some("spam"),
                since: None,
            }),
        ),
        (
            "Event (moderation record)",
            event_for(
                Body::Text("ban *@spam.example spam"),
                Some("text/x-scalar-mod"),
                None,
                Some(12),
            ),
        ),
        (
            "Mod (timed mute)",
            Msg::Mod(Mod {
                until: Some(1764003600000),
                seq: Some(17),
                topic,
                action: Action::Mute,
                target: "bob@example.com",
                reason: Some("shouting"),
                since: None,
            }),
        ),
        (
            "Event (timed mute's record)",
            event_for(
                Body::Text("mute-until bob@example.com 1764003600000 shouting"),
                Some("text/x-scalar-mod"),
                None,
                Some(17),
            ),
        ),
        (
            "Mod (delete)",
            Msg::Mod(Mod {
                until: None,
                seq: Some(15),
                topic,
                action: Action::Delete,
                target: "fb906b3836a66f58fd305c0fc2e70bb5cb4d3b2041c800a7091607c18a673ef1",
                reason: Some("spam"),
                since: None,
            }),
        ),
        (
            "Mod (purge)",
            Msg::Mod(Mod {
                until: None,
                seq: Some(16),
                topic,
                action: Action::Purge,
                target: "spam*@example.com",
                reason: Some("raid"),
                since: Some(1764000000000),
            }),
        ),
        (
            "Mod (block)",
            Msg::Mod(Mod {
                until: None,
                seq: Some(13),
                topic: name("alice@example.com"),
                action: Action::Ban,
                target: "mallory@example.com",
                reason: None,
                since: None,
            }),
        ),
        (
            "SetMeta",
            Msg::SetMeta(SetMeta {
                seq: Some(13),
                topic,
                display: None,
                subject: Some("1.95 is out"),
                modes: Some(modes::INVITE_ONLY | modes::MODERATED),
                rate: None,
                join_rate: None,
            }),
        ),
        (
            "SetMeta (join rate)",
            Msg::SetMeta(SetMeta {
                seq: Some(14),
                topic,
                display: None,
                subject: None,
                modes: None,
                rate: None,
                join_rate: Some(12),
            }),
        ),
        (
            "SetMeta (own ID, registered-only)",
            Msg::SetMeta(SetMeta {
                seq: Some(13),
                topic: name("alice@example.com"),
                display: None,
                subject: None,
                modes: Some(modes::REGISTERED_ONLY),
                rate: None,
                join_rate: None,
            }),
        ),
        (
            "Meta (user ID, registered-only)",
            Msg::Meta(Meta {
                presence: Some(Presence::Online),
                account: Some(true),
                modes: Some(modes::REGISTERED_ONLY),
                ..Meta::new(Some(13), name("alice@example.com"), false, 1)
            }),
        ),
        (
            "SetPresence (away)",
            Msg::SetPresence(SetPresence {
                seq: Some(14),
                presence: Presence::Away,
                reason: Some("lunch"),
            }),
        ),
        ("Event (presence)", {
            let bob = name("bob@example.com");
            let (body, ctype) = (Body::Text("away lunch"), Some("text/x-scalar-presence"));
            Msg::Event(Event {
                seq: None,
                topic: bob,
                from: bob,
                time: 1_764_000_000_000,
                id: MsgId::compute(bob.as_str(), bob.as_str(), 1_764_000_000_000, body, ctype, None),
                body,
                ctype,
                reply_to: None,
            })
        }),
        (
            "Members",
            Msg::Members(Members {
                seq: Some(15),
                topic,
                count: 100,
                cursor: None,
                query: None,
            }),
        ),
        (
            "MemberList",
            Msg::MemberList(MemberList {
                seq: Some(15),
                topic,
                total: 2,
                users: List::Slice(Box::leak(Box::new([
                    name("alice@example.com"),
                    name("bob@example.com"),
                ]))),
                roles: List::Slice(&[3, 0]),
                cursor: None,
            }),
        ),
        (
            "Members (a query)",
            Msg::Members(Members {
                seq: Some(15),
                topic,
                count: 100,
                cursor: Some(name("alice@example.com")),
                query: Some("bo"),
            }),
        ),
        (
            "Targets",
            Msg::Targets(Targets {
                seq: Some(16),
                topic,
                action: Action::Ban,
                count: 100,
                cursor: None,
            }),
        ),
        (
            "TargetList",
            Msg::TargetList(TargetList {
                setters: Some(List::Slice(&["alice@example.com", ""])),
                set_at: Some(List::Slice(&[1764000000000, 0])),
                untils: Some(List::Slice(&[0, 1764003600000])),
                seq: Some(16),
                topic,
                action: Action::Ban,
                total: 2,
                targets: List::Slice(&["*@spam.example", "guest-*@example.com"]),
                reasons: Some(List::Slice(&["spam", ""])),
                cursor: None,
            }),
        ),
        (
            "Conversations",
            Msg::Conversations(Conversations {
                seq: Some(17),
                count: 100,
                since: Some(1764000000000),
                cursor: None,
            }),
        ),
        (
            "ConversationList",
            Msg::ConversationList(ConversationList {
                seq: Some(17),
                status: CatchupStatus::Truncated,
                users: List::Slice(Box::leak(Box::new([
                    name("alice@example.com"),
                    name("carol@example.com"),
                ]))),
                times: List::Slice(&[1764000060000, 1764000000001]),
                cursor: Some(name("carol@example.com")),
            }),
        ),
        (
            "MarkRead",
            Msg::MarkRead(MarkRead {
                seq: Some(18),
                topic,
                time: Some(1764000060000),
            }),
        ),
        (
            "ReadMark (another connection moved it)",
            Msg::ReadMark(ReadMark {
                seq: None,
                topic: name("carol@example.com"),
                time: Some(1764000000001),
            }),
        ),
    ]
}

/// Prints the vectors section of docs/PROTOCOL.md: `SCALAR_PRINT_VECTORS=1 cargo test --test
/// protocol print -- --nocapture`.
#[test]
fn print_vectors() {
    if std::env::var_os("SCALAR_PRINT_VECTORS").is_none() {
        return;
    }
    for (title, msg) in vectors() {
        let frame = msg.to_frame().unwrap();
        let v: ciborium::Value = ciborium::from_reader(payload_of(&frame)).unwrap();
        println!(
            "**{title}**\n\n```\ndiag:  {}\nframe: {}\n```\n",
            diag(&v),
            hex(&frame)
        );
    }
}

#[test]
fn spec_vectors_round_trip_byte_for_byte() {
    let mut checked = 0;
    if std::env::var_os("PRINT_VECTORS").is_some() {
        // For writing the spec: prints every vector in PROTOCOL.md's form.
        for (title, msg) in vectors() {
            let frame = msg.to_frame().unwrap();
            let v: ciborium::Value = ciborium::from_reader(payload_of(&frame)).unwrap();
            println!(
                "#### {title}\n```\ndiag:  {}\nframe: {}\n```",
                diag(&v),
                hex(&frame)
            );
        }
    }
    for (title, msg) in vectors() {
        let frame = msg.to_frame().unwrap();
        let payload = payload_of(&frame);

        assert!(
            SPEC.contains(&format!("frame: {}\n", hex(&frame))),
            "{title}: frame missing from PROTOCOL.md"
        );
        let v: ciborium::Value = ciborium::from_reader(payload).unwrap();
        assert!(
            SPEC.contains(&format!("diag:  {}\n", diag(&v))),
            "{title}: diagnostic form missing from PROTOCOL.md"
        );
        check_cddl(payload);
        checked += 1;
    }
    // And the other way: every frame the spec prints decodes and re-encodes to the same bytes.
    let frames: Vec<&str> = SPEC.lines().filter_map(|l| l.strip_prefix("frame: ")).collect();
    assert_eq!(
        frames.len(),
        checked,
        "PROTOCOL.md has vectors this test does not know"
    );
    for f in frames {
        let bytes = unhex(f);
        let msg = Msg::decode(payload_of(&bytes)).unwrap();
        assert_eq!(msg.to_frame().unwrap(), bytes);
        if let Msg::Event(e) = msg {
            assert_eq!(e.computed_id(), e.id, "Event vector id");
        }
    }
}

/// The "Event (echo)" vector's Event and the array its id hashes, encoded by ciborium (an
/// independent encoder).
fn hash_example() -> (Event<'static>, Vec<u8>) {
    let Msg::Event(e) = event_for(Body::Text("hello, world"), None, None, None) else {
        unreachable!()
    };
    let array = ciborium::Value::Array(vec![
        e.from.as_str().into(),
        e.topic.as_str().into(),
        e.time.into(),
        "hello, world".into(),
        ciborium::Value::Null,
        ciborium::Value::Null,
    ]);
    (e, cbor(array))
}

#[test]
fn message_id_hash_input_is_pinned() {
    // Rebuild the hashed array with an independent encoder (ciborium) and hash it directly.
    let (e, input) = hash_example();
    use sha2::Digest;
    let digest: [u8; 32] = sha2::Sha256::digest(&input).into();
    assert_eq!(e.id.0, digest, "id is SHA-256 of the deterministic array");
    assert!(
        SPEC.contains(&format!("hash input: {}\n", hex(&input))),
        "hash input missing from PROTOCOL.md"
    );
    assert!(
        SPEC.contains(&format!("id: {}\n", e.id)),
        "id missing from PROTOCOL.md"
    );
}

fn decode_err(payload: &[u8]) -> Rejected {
    Msg::decode(payload).unwrap_err()
}

/// Encodes a ciborium value as a payload.
fn cbor(v: ciborium::Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(&v, &mut out).unwrap();
    out
}

fn map(pairs: Vec<(i64, ciborium::Value)>) -> ciborium::Value {
    ciborium::Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

#[test]
fn every_decode_error_has_its_code() {
    use ciborium::Value as V;
    let sub = |topic: V| map(vec![(0, 8.into()), (1, 42.into()), (2, topic)]);
    let cases: Vec<(Vec<u8>, ErrorCode, Option<u32>)> = vec![
        (vec![], ErrorCode::EmptyFrame, None),
        (vec![0xa1, 0x00], ErrorCode::Malformed, None), // truncated map
        (vec![0xbf, 0x00, 0x08, 0xff], ErrorCode::Malformed, None), // indefinite map
        (vec![0xc0, 0x60], ErrorCode::Malformed, None), // tag
        (vec![0x80], ErrorCode::Malformed, None),       // not a map
        (
            [cbor(sub("#a@b".into())), vec![0x00]].concat(),
            ErrorCode::Malformed,
            Some(42),
        ), // trailing
        (cbor(map(vec![(1, 3.into())])), ErrorCode::Malformed, Some(3)), // no type
        (
            cbor(map(vec![(0, 99.into()), (1, 4.into())])),
            ErrorCode::UnknownType,
            Some(4),
        ),
        (
            cbor(map(vec![(0, 8.into()), (1, 5.into())])),
            ErrorCode::MissingField,
            Some(5),
        ),
        (cbor(sub(7.into())), ErrorCode::Malformed, Some(42)), // wrong type
        (cbor(sub("#A@b".into())), ErrorCode::BadTopic, Some(42)),
        (
            vec![0xa3, 0x00, 0x08, 0x01, 0x01, 0x02, 0x62, 0xc3, 0x28],
            ErrorCode::BadUtf8,
            Some(1),
        ),
        (
            cbor(map(vec![
                (0, 1.into()),
                (11, V::Array(vec![1.into()])),
                (12, "Bob@x".into()),
            ])),
            ErrorCode::BadId,
            None,
        ),
        (
            cbor(map(vec![
                (0, 1.into()),
                (11, V::Array(vec![1.into()])),
                (12, "bob@x".into()),
                (13, "\u{1b}]0;x".into()),
            ])),
            ErrorCode::BadTopic,
            None,
        ),
        (
            cbor(map(vec![
                (0, 6.into()),
                (2, "#a@b".into()),
                (6, "x".repeat(MAX_BODY + 1).into()),
            ])),
            ErrorCode::BodyTooLarge,
            None,
        ),
        (
            cbor(map(vec![
                (0, 6.into()),
                (2, "#a@b".into()),
                (6, "x".into()),
                (7, "".into()),
            ])),
            ErrorCode::BadCtype,
            None,
        ),
        (
            cbor(map(vec![
                (0, 2.into()),
                (9, 0.into()),
                (10, "r".repeat(MAX_REASON + 1).into()),
            ])),
            ErrorCode::FieldTooLong,
            None,
        ),
        (
            cbor(map(vec![
                (0, 9.into()),
                (1, 3.into()),
                (2, "#a@b".into()),
                (10, "r".repeat(MAX_REASON + 1).into()),
            ])),
            ErrorCode::FieldTooLong,
            Some(3),
        ), // an Unsub's reason past its bound
        (
            cbor(map(vec![(0, 4.into()), (1, (1u64 << 32).into()), (4, 1.into())])),
            ErrorCode::Malformed,
            None,
        ), // seq too big
        (
            vec![
                0xa3, 0x00, 0x08, 0x02, 0x64, b'#', b'a', b'@', b'b', 0x02, 0x64, b'#', b'a', b'@', b'b',
            ],
            ErrorCode::Malformed,
            None,
        ), // duplicate key
        (
            vec![
                0xa5, 0x00, 0x18, 0x48, 0x16, 0x00, 0x18, 0x30, 0x80, 0x18, 0x40, 0x80, 0x18, 0x40, 0x80,
            ],
            ErrorCode::Malformed,
            None,
        ), // a duplicate key above 63 (times)
        (
            cbor(map(vec![
                (0, 72.into()),
                (22, 3.into()),
                (48, V::Array(vec![])),
                (64, V::Array(vec![])),
            ])),
            ErrorCode::Malformed,
            None,
        ), // a ConversationList can say no unknown id
        (
            cbor(map(vec![(0, 71.into()), (15, 9.into()), (45, "Bob".into())])),
            ErrorCode::BadTopic,
            None,
        ), // a Conversations cursor that is no name
        (
            cbor(map(vec![(0, 73.into()), (2, "#a@b".into()), (4, "soon".into())])),
            ErrorCode::Malformed,
            None,
        ), // a MarkRead time that is no number
        (
            cbor(map(vec![(0, 73.into()), (4, 9.into())])),
            ErrorCode::MissingField,
            None,
        ), // a MarkRead without its topic
        (
            cbor(map(vec![
                (0, 69.into()),
                (2, "#a@b".into()),
                (15, 9.into()),
                (36, 1.into()),
            ])),
            ErrorCode::Malformed,
            None,
        ), // Targets of an action that adds to no list (kick)
        (
            cbor(map(vec![
                (0, 69.into()),
                (2, "#a@b".into()),
                (15, 9.into()),
                (36, 2.into()),
                (45, "#a@b".into()),
            ])),
            ErrorCode::BadId,
            None,
        ), // a cursor that no list entry could be
        (
            cbor(map(vec![
                (0, 70.into()),
                (2, "#a@b".into()),
                (16, 1.into()),
                (36, 2.into()),
                (51, V::Array(vec!["Bob@x".into()])),
            ])),
            ErrorCode::BadId,
            None,
        ), // an entry that is neither an ID pattern nor an address range
        (
            cbor(map(vec![
                (0, 70.into()),
                (2, "#a@b".into()),
                (16, 1.into()),
                (36, 2.into()),
                (51, V::Array(vec!["*@x".into()])),
                (52, V::Array(vec!["r".repeat(MAX_REASON + 1).into()])),
            ])),
            ErrorCode::FieldTooLong,
            None,
        ), // a reason past its bound
        (
            cbor(map(vec![
                (0, 17.into()),
                (1, 5.into()),
                (30, V::Bytes(vec![7; 32])),
                (31, "p".repeat(MAX_PASSWORD + 1).into()),
            ])),
            ErrorCode::FieldTooLong,
            Some(5),
        ), // an Auth's password past 256 bytes
        (
            cbor(map(vec![
                (0, 22.into()),
                (1, 5.into()),
                (31, "old password".into()),
                (55, "p".repeat(MAX_PASSWORD + 1).into()),
            ])),
            ErrorCode::FieldTooLong,
            Some(5),
        ), // a SetPassword's new password past 256 bytes
        (
            cbor(map(vec![
                (0, 65.into()),
                (1, 5.into()),
                (2, "#a@b".into()),
                (42, (MAX_RATE + 1).into()),
            ])),
            ErrorCode::Malformed,
            Some(5),
        ), // a channel's rate past 600 a minute
        (
            cbor(map(vec![
                (0, 65.into()),
                (1, 5.into()),
                (2, "#a@b".into()),
                (63, (MAX_JOIN_RATE + 1).into()),
            ])),
            ErrorCode::Malformed,
            Some(5),
        ), // a channel's join rate past 600 a minute
    ];
    for (payload, code, seq) in cases {
        let r = decode_err(&payload);
        assert_eq!(
            (r.error.code(), r.seq),
            (code, seq),
            "{} -> {:?}",
            hex(&payload),
            r.error
        );
    }
}

#[test]
fn unknown_keys_and_nulls_are_ignored() {
    use ciborium::Value as V;
    let payload = cbor(V::Map(vec![
        ("future".into(), V::Map(vec![(1.into(), V::Float(1.5))])),
        (0.into(), 4.into()),
        (99.into(), V::Array(vec![V::Null, (-5).into()])),
        (1.into(), V::Null),
        (4.into(), 17.into()),
    ]));
    assert_eq!(Msg::decode(&payload), Ok(Msg::Ping(Ping { seq: None, time: 17 })));
}

/// An Error whose `retry_after` cannot be read (text, a negative number) is still the Error,
/// without it (PROTOCOL.md §8, Waits): skipped, it would leave its request waiting for an
/// answer that came (found in review). Its other fields are held to their rules as before.
#[test]
fn an_error_s_unreadable_retry_after_is_dropped_not_the_error() {
    // {0: 3, 1: 5, 9: 806, 62: X}
    let error = |retry_after: &str| unhex(&format!("a40003010509190326183e{retry_after}"));
    let want = Msg::Error(ErrorMsg {
        seq: Some(5),
        code: ErrorCode::ChannelRate as u16,
        reason: None,
        server: None,
        topic: None,
        retry_after: None,
    });
    for (bad, what) in [("64736f6f6e", "text"), ("20", "-1"), ("f5", "true")] {
        assert_eq!(Msg::decode(&error(bad)), Ok(want), "{what}");
    }
    assert!(matches!(
        Msg::decode(&error("191450")),
        Ok(Msg::Error(ErrorMsg {
            retry_after: Some(5200),
            ..
        }))
    ));
    // A bad field that is not advice still refuses the frame.
    let bad_code = unhex("a4000301050963383036183e01");
    assert!(Msg::decode(&bad_code).is_err());
}

#[test]
fn nesting_is_limited_to_16_levels_inside_the_top_level_map() {
    use ciborium::Value as V;
    let nested = |levels: usize| (0..levels).fold(V::Integer(1.into()), |v, _| V::Array(vec![v]));
    // Key 40 is unknown (skipped whole); key 17 (topics) is known but not used by Ping.
    for key in [40, 17] {
        let ping = |levels| cbor(map(vec![(0, 4.into()), (4, 1.into()), (key, nested(levels))]));
        assert!(Msg::decode(&ping(16)).is_ok(), "16 levels under key {key}");
        let err = Msg::decode(&ping(17)).unwrap_err().error;
        assert_eq!(
            err,
            DecodeError::Cbor(CborError::TooDeep),
            "17 levels under key {key}"
        );
    }
}

#[test]
fn the_largest_message_makes_an_event_that_fits() {
    let local = "a".repeat(MAX_LOCAL);
    let domain = format!("{}.{}", "b".repeat(63), "c".repeat(29));
    let topic = format!("#{local}@{domain}");
    let from = format!("{local}@{domain}");
    let ctype = "t".repeat(MAX_CTYPE);
    let blob = vec![0xffu8; MAX_BODY];
    let text = "\u{10348}".repeat(MAX_BODY / 4);
    for body in [Body::Blob(&blob), Body::Text(&text)] {
        let msg = Message {
            seq: Some(u32::MAX),
            topic: name(&topic),
            body,
            ctype: Some(&ctype),
            reply_to: Some(ID_A),
        };
        let message = Msg::Message(msg).to_frame().unwrap();
        assert_eq!(
            message.len() - 2,
            15_605,
            "PROTOCOL.md §6 states the largest Message"
        );
        let ev = Event {
            seq: Some(u32::MAX),
            topic: msg.topic,
            from: name(&from),
            time: u64::MAX,
            id: ID_A,
            body,
            ctype: msg.ctype,
            reply_to: msg.reply_to,
        };
        let frame = Msg::Event(ev).to_frame().expect("largest Event fits one frame");
        assert_eq!(frame.len() - 2, 15_779, "PROTOCOL.md §6 states the largest Event");
        assert!(SPEC.contains("15,605") && SPEC.contains("15,779"));
    }
}

#[test]
fn clip_keeps_whole_characters() {
    assert_eq!(clip("héllo", 2), "h");
    assert_eq!(clip("héllo", 3), "hé");
    assert_eq!(clip("abc", 10), "abc");
}

#[test]
fn encode_refuses_what_does_not_fit() {
    let m = Msg::Ping(Ping { seq: None, time: 1 });
    let mut small = [0u8; 4];
    assert!(m.encode(&mut small).is_err());
    let body = "x".repeat(MAX_PAYLOAD);
    let m = Msg::Message(Message {
        seq: None,
        topic: name("#a@b"),
        body: Body::Text(&body),
        ctype: None,
        reply_to: None,
    });
    assert!(m.to_frame().is_err());
}

#[test]
fn frame_boundaries() {
    let ping = Msg::Ping(Ping {
        seq: Some(1),
        time: 5,
    })
    .to_frame()
    .unwrap();
    let two = [ping.clone(), ping.clone()].concat();
    for cut in 0..ping.len() {
        assert!(matches!(decode_frame(&two[..cut]), Ok(Status::Partial)));
    }
    let Ok(Status::Complete((Ok(m), used))) = decode_frame(&two) else {
        panic!()
    };
    assert_eq!((m.msg_type(), used), (MsgType::Ping, ping.len()));
    assert!(decode_frame(&[0xff, 0x3f]).is_err());
    let Ok(Status::Complete((Err(r), 2))) = decode_frame(&[0, 0]) else {
        panic!()
    };
    assert_eq!(r.error, DecodeError::Empty);
}

// ---- property tests ----------------------------------------------------------------------

fn local() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,31}"
}
fn domain() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,20}(\\.[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?){0,3}"
}
fn user() -> impl Strategy<Value = String> {
    (local(), domain()).prop_map(|(l, d)| format!("{l}@{d}"))
}
fn channel() -> impl Strategy<Value = String> {
    (local(), domain()).prop_map(|(l, d)| format!("#{l}@{d}"))
}

#[derive(Debug, Clone)]
struct Parts {
    seq: Option<u32>,
    user: String,
    chan: String,
    text: String,
    blob: Vec<u8>,
    ctype: Option<String>,
    reply: Option<[u8; 32]>,
    n: u64,
    versions: Vec<u64>,
    topics: Vec<String>,
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        (
            any::<Option<u32>>(),
            user(),
            channel(),
            ".{0,60}",
            proptest::collection::vec(any::<u8>(), 0..200),
        ),
        (
            proptest::option::of("[ -~]{1,64}"),
            any::<Option<[u8; 32]>>(),
            any::<u64>(),
            proptest::collection::vec(any::<u64>(), 1..=MAX_VERSIONS),
            proptest::collection::vec(channel(), 0..10),
        ),
    )
        .prop_map(
            |((seq, user, chan, text, blob), (ctype, reply, n, versions, topics))| Parts {
                seq,
                user,
                chan,
                text,
                blob,
                ctype,
                reply,
                n,
                versions,
                topics,
            },
        )
}

fn all_messages(p: &Parts) -> Vec<Msg<'static>> {
    // Leak once per case: the test needs 'static borrows and the cases are few.
    let p: &'static Parts = Box::leak(Box::new(p.clone()));
    let names: &'static [Name<'static>] = Box::leak(
        p.topics
            .iter()
            .map(|t| name(t))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let (seq, user, chan) = (p.seq, name(&p.user), name(&p.chan));
    let small = p.n as u32;
    let reply = p.reply.map(MsgId);
    let ctype = p.ctype.as_deref();
    let mut v = vec![
        Msg::Ident(Ident::new(seq, &p.versions, user)),
        Msg::Ident(Ident {
            auth: Some(p.n),
            register: p.n.is_multiple_of(2),
            carbons: p.n.is_multiple_of(7),
            ..Ident::new(seq, &p.versions, user)
        }),
        Msg::Ident(Ident {
            server: Some("example.org"),
            keepalive: Some(p.n),
            timeout: Some(small.into()),
            guest: p.n.is_multiple_of(3),
            carbons: p.n.is_multiple_of(5),
            joins: p.n.is_multiple_of(11),
            ..Ident::new(seq, &p.versions[..1], user)
        }),
        Msg::Challenge(Challenge {
            seq,
            auth: p.n,
            nonce: Nonce(p.reply.unwrap_or([7; 32])),
        }),
        Msg::Auth(Auth {
            seq,
            nonce: Nonce(p.reply.unwrap_or([7; 32])),
            password: if p.text.is_empty() { "x" } else { &p.text },
        }),
        Msg::SetPassword(SetPassword {
            seq,
            password: "x",
            new_password: if p.text.is_empty() { "x" } else { &p.text },
        }),
        Msg::PasswordSet(PasswordSet { seq, count: p.n }),
        Msg::Ident(Ident {
            token: p.blob.get(..p.blob.len().min(64)).filter(|t| t.len() >= 16),
            ..Ident::new(seq, &p.versions, user)
        }),
        Msg::Grant(Grant {
            seq,
            server: "example.org",
        }),
        Msg::Token(Token {
            seq,
            server: "example.org",
            token: p.reply.as_ref().map_or(&[9; 20][..], |r| &r[..]),
            until: p.n,
        }),
        Msg::Verify(Verify {
            seq,
            user,
            server: "example.org",
            token: p.reply.as_ref().map_or(&[9; 64][..], |r| &r[..]),
        }),
        Msg::Vouch(Vouch {
            seq,
            user,
            valid: p.n.is_multiple_of(2),
            until: p.n.is_multiple_of(2).then_some(p.n),
        }),
        Msg::Bye(Bye {
            code: small as u16,
            reason: Some(&p.text),
        }),
        Msg::Error(ErrorMsg {
            seq,
            code: small as u16,
            reason: None,
            server: p.n.is_multiple_of(2).then_some("example.org"),
            topic: p.n.is_multiple_of(3).then_some(chan),
            retry_after: None,
        }),
        Msg::Ping(Ping { seq, time: p.n }),
        Msg::Pong(Ping { seq, time: p.n }),
        Msg::Sub(Sub { seq, topic: chan }),
        Msg::Unsub(Unsub {
            seq,
            topic: chan,
            reason: None,
        }),
        Msg::Meta(Meta::new(seq, chan, p.n.is_multiple_of(2), p.n)),
        Msg::Meta(Meta {
            display: Some("Rust ☕"),
            subject: Some("borrow checker support group"),
            created: Some(p.n),
            modes: Some(p.n % 16),
            rate: Some(p.n % 601),
            join_rate: Some(p.n % 601),
            role: Some(Role::Operator),
            presence: Some(Presence::Away),
            kept: Some(p.n.is_multiple_of(5)),
            reason: Some(clip(&p.text, MAX_REASON)),
            account: Some(p.n.is_multiple_of(3)),
            admin: Some(true),
            ..Meta::new(seq, chan, true, p.n)
        }),
        Msg::Topics(Topics {
            seq,
            start: small,
            count: small / 3,
            cursor: Some(chan),
            query: Some(&p.text)
                .filter(|t| !t.is_empty() && t.len() <= 256)
                .map(|t| t.as_str()),
        }),
        Msg::TopicList(TopicList {
            seq,
            total: small,
            start: small / 2,
            topics: List::Slice(names),
            counts: None,
            subjects: None,
            displays: None,
            cursor: None,
        }),
        Msg::TopicList(TopicList {
            seq,
            total: small,
            start: small / 2,
            topics: List::Slice(names),
            counts: Some(List::Slice(Box::leak(vec![p.n; names.len()].into_boxed_slice()))),
            subjects: Some(List::Slice(Box::leak(
                vec!["a topic line"; names.len()].into_boxed_slice(),
            ))),
            displays: Some(List::Slice(Box::leak(
                vec!["Rust ☕"; names.len()].into_boxed_slice(),
            ))),
            cursor: names.last().copied(),
        }),
        Msg::Catchup(Catchup {
            seq,
            topic: chan,
            count: small,
            since: Some(p.n),
            after: reply,
            until: Some(p.n),
            before: reply,
        }),
        Msg::Search(Search {
            range: Catchup {
                seq,
                topic: user,
                count: small,
                since: None,
                after: None,
                until: Some(p.n),
                before: reply,
            },
            query: match clip(&p.text, MAX_QUERY) {
                "" => "x",
                q => q,
            },
        }),
        Msg::CatchupEnd(CatchupEnd {
            seq,
            topic: chan,
            status: CatchupStatus::Truncated,
            count: small,
            horizon: Some(p.n),
        }),
        {
            let action = Action::ALL[(p.n % Action::ALL.len() as u64) as usize];
            Msg::Mod(Mod {
                until: matches!(action, Action::Ban | Action::Mute).then_some(p.n),
                seq,
                topic: chan,
                action,
                // A delete names a message id (in hex), every other action an ID.
                target: match action {
                    Action::Delete => HEX_ID,
                    _ => user.as_str(),
                },
                reason: Some(clip(&p.text, MAX_REASON)),
                since: (action == Action::Purge).then_some(p.n),
            })
        },
        Msg::SetMeta(SetMeta {
            seq,
            topic: chan,
            display: Some(clip(&p.text, MAX_DISPLAY)),
            subject: Some(clip(&p.text, MAX_SUBJECT)),
            modes: Some(p.n & modes::ALL),
            rate: Some(p.n % (MAX_RATE + 1)),
            join_rate: Some(p.n % (MAX_RATE + 1)),
        }),
        Msg::SetPresence(SetPresence {
            seq,
            presence: if p.n.is_multiple_of(2) {
                Presence::Away
            } else {
                Presence::Online
            },
            reason: Some(clip(&p.text, MAX_REASON)),
        }),
        Msg::Members(Members {
            seq,
            topic: chan,
            count: small,
            cursor: Some(user),
            query: Some(&p.text)
                .filter(|t| !t.is_empty() && t.len() <= 256)
                .map(|t| t.as_str()),
        }),
        Msg::MemberList(MemberList {
            seq,
            topic: chan,
            total: small,
            users: List::Slice(Box::leak(Box::new([user]))),
            roles: List::Slice(Box::leak(Box::new([p.n % 4]))),
            cursor: Some(user),
        }),
        Msg::Targets(Targets {
            seq,
            topic: chan,
            action: Action::Mute,
            count: small,
            cursor: Some(user.as_str()),
        }),
        Msg::TargetList(TargetList {
            untils: Some(List::Slice(Box::leak(Box::new([p.n, 0, 1])))),
            setters: Some(List::Slice(Box::leak(Box::new([
                user.as_str(),
                "",
                user.as_str(),
            ])))),
            set_at: Some(List::Slice(Box::leak(Box::new([0, p.n, 1])))),
            seq,
            topic: chan,
            action: Action::Invite,
            total: small,
            targets: List::Slice(Box::leak(Box::new([user.as_str(), "*@*", "10.0.0.0/8"]))),
            reasons: Some(List::Slice(Box::leak(Box::new([
                clip(&p.text, MAX_REASON),
                "",
                "botnet",
            ])))),
            cursor: Some(user.as_str()),
        }),
        Msg::Conversations(Conversations {
            seq,
            count: small,
            since: Some(p.n),
            cursor: Some(user),
        }),
        Msg::ConversationList(ConversationList {
            seq,
            status: CatchupStatus::Complete,
            users: List::Slice(Box::leak(Box::new([user]))),
            times: List::Slice(Box::leak(Box::new([p.n]))),
            cursor: None,
        }),
        Msg::MarkRead(MarkRead {
            seq,
            topic: chan,
            time: Some(p.n),
        }),
        Msg::ReadMark(ReadMark {
            seq,
            topic: user,
            time: None,
        }),
    ];
    for body in [Body::Text(&p.text), Body::Blob(&p.blob)] {
        v.push(Msg::Message(Message {
            seq,
            topic: chan,
            body,
            ctype,
            reply_to: reply,
        }));
        let id = MsgId::compute(user.as_str(), chan.as_str(), p.n, body, ctype, reply.as_ref());
        v.push(Msg::Event(Event {
            seq,
            topic: chan,
            from: user,
            time: p.n,
            id,
            body,
            ctype,
            reply_to: reply,
        }));
    }
    // An admin's announcement: an Event on a reserved name (§4, Server admins).
    let wall = Name::parse("!wall@example.com").expect("a reserved name");
    let text = Body::Text(&p.text);
    v.push(Msg::Event(Event {
        seq,
        topic: wall,
        from: user,
        time: p.n,
        id: MsgId::compute(user.as_str(), wall.as_str(), p.n, text, None, None),
        body: text,
        ctype: None,
        reply_to: None,
    }));
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_message_round_trips_and_matches_the_schema(p in parts()) {
        for msg in all_messages(&p) {
            let frame = msg.to_frame().unwrap();
            let payload = payload_of(&frame);
            let back = Msg::decode(payload).unwrap();
            prop_assert_eq!(back, msg);
            prop_assert_eq!(back.to_frame().unwrap(), frame.clone());
            // An independent decoder reads the same map, with keys in ascending order.
            let v: ciborium::Value = ciborium::from_reader(payload).unwrap();
            let keys: Vec<i128> = v.as_map().unwrap().iter().map(|(k, _)| k.as_integer().unwrap().into()).collect();
            prop_assert!(keys.windows(2).all(|w| w[0] < w[1]));
            prop_assert_eq!(cbor(v), payload.to_vec());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_frame(&bytes);
        let _ = Msg::decode(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic(p in parts(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        for msg in all_messages(&p) {
            let mut frame = msg.to_frame().unwrap();
            for (at, x) in &flips {
                let i = at % frame.len();
                frame[i] ^= x;
            }
            let _ = decode_frame(&frame);
        }
    }
}

#[test]
fn schema_accepts_generated_messages() {
    // A slower check (the validator parses the schema on each call), so a fixed handful of cases.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..8 {
        let p = parts().new_tree(&mut runner).unwrap().current();
        for msg in all_messages(&p) {
            check_cddl(payload_of(&msg.to_frame().unwrap()));
        }
    }
}

#[test]
fn print_hash_input() {
    if std::env::var_os("SCALAR_PRINT_VECTORS").is_none() {
        return;
    }
    let (e, input) = hash_example();
    println!("hash input: {}\nid: {}", hex(&input), e.id);
}

#[test]
fn spec_error_table_matches_the_code() {
    for &code in ErrorCode::ALL {
        let closes = if code.closes() { "yes" } else { "no" };
        let row_start = format!("| {} | `{}` | ", code as u16, code.label());
        let row = SPEC
            .lines()
            .find(|l| l.starts_with(&row_start))
            .unwrap_or_else(|| panic!("{code} missing from PROTOCOL.md §9"));
        assert!(
            row.ends_with(&format!("| {closes} |")),
            "{code}: closes should be {closes}"
        );
        assert_eq!(ErrorCode::from_u16(code as u16), Some(code));
    }
}
