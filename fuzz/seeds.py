#!/usr/bin/env python3
"""Seed corpora for the cargo-fuzz targets decode, server, history and saved.

Sources: the test vectors of docs/PROTOCOL.md section 10 (parsed from the `frame:` lines), plus
frames built here with a tiny CBOR encoder using the key/type numbers of src/proto/key.rs.

  decode : each protocol vector as its own file, and a few multi-frame streams.
  server : byte 0 doubles as policy selector (b % 3) and first control byte; then chunks of
           [ctl][frame]; ctl & 3 = connection, ctl >> 6: 1 = tick (ctl & 0x3f s),
           2 (+0x20) = disconnect, 3 (+0x20) = answer a token check, 3 = answer a password check
           (verdict (ctl >> 2) & 3; with 0x10, the account too, its password 1 + (ctl & 3)).
  history: byte 0 = mode (bit0 fsync Always, mode >> 1 = ring size / 512); then chunks of
           [ctl][frame]; ctl & 3 = connection, ctl >> 4: 1 commit, 2 answer query, 3 fail query,
           4 store failing, 5 recovered, 6 tick, 7 disconnect.
  saved  : values split on ff fe, each a key-picking byte (index into KEYS of saved.rs) and
           a saved value as scalard writes it, some holding more than a client could set.

Usage: python3 fuzz/seeds.py   (from the repository root; rewrites fuzz/seeds/<target>/)
"""
import hashlib
import os
import re
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")


# ---- minimal CBOR encoder (the subset scalar accepts: uint, text, bytes, bool, array, map) ----
def head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    if n < 0x100:
        return bytes([major << 5 | 24, n])
    if n < 0x10000:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    if n < 0x100000000:
        return bytes([major << 5 | 26]) + struct.pack(">I", n)
    return bytes([major << 5 | 27]) + struct.pack(">Q", n)


def cbor(v):
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return head(0, v)
    if isinstance(v, str):
        b = v.encode()
        return head(3, len(b)) + b
    if isinstance(v, (bytes, bytearray)):
        return head(2, len(v)) + bytes(v)
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in sorted(v.items()))
    raise TypeError(v)


def frame(m):
    p = cbor(m)
    return struct.pack("<H", len(p)) + p


# Message types and keys (src/proto/key.rs).
IDENT, BYE, PING, PONG, MESSAGE, SUB, UNSUB, TOPICS, CATCHUP, SEARCH = 1, 2, 4, 5, 6, 8, 9, 11, 13, 15
AUTH, GRANT, VERIFY, MOD, SETMETA, SETPRESENCE, MEMBERS = 17, 18, 20, 64, 65, 66, 67
T, SEQ, TOPIC, BODY, CTYPE, REPLY_TO, REASON, VERSIONS, USER, SERVER = 0, 1, 2, 6, 7, 8, 10, 11, 12, 13
START, COUNT, SINCE, AFTER, UNTIL, BEFORE, QUERY = 14, 15, 20, 21, 23, 24, 25
K_AUTH, NONCE, PASSWORD, REGISTER, TOKEN = 29, 30, 31, 32, 34
ACTION, TARGET, DISPLAY, SUBJECT, MODES, RATE, PRESENCE, CURSOR = 36, 37, 38, 39, 41, 42, 44, 45
D = "example.com"
RUST, GO = "#rust@" + D, "#go@" + D
TIME = 1764000000000


class Seq:
    def __init__(self):
        self.n = 0

    def __call__(self):
        self.n += 1
        return self.n


def ident(s, user, kw={}):
    m = {T: IDENT, SEQ: s(), VERSIONS: [1], USER: user}
    m.update(kw)
    return frame(m)


def msg(s, topic, body, kw={}):
    m = {T: MESSAGE, SEQ: s(), TOPIC: topic, BODY: body}
    m.update(kw)
    return frame(m)


def req(s, t, kw={}):
    m = {T: t, SEQ: s()}
    m.update(kw)
    return frame(m)


# ---- the protocol's own test vectors ----
def vectors():
    text = open(os.path.join(ROOT, "docs", "PROTOCOL.md"), encoding="utf-8").read()
    out = []
    for name, hexframe in re.findall(r"#### (.+?)\n```\ndiag:.*?\nframe: ([0-9a-f]+)", text, re.S):
        out.append((name.strip(), bytes.fromhex(hexframe)))
    assert len(out) >= 40, f"only {len(out)} vectors found"
    return out


def write(target, blobs):
    d = os.path.join(OUT, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    seen = set()
    for b in blobs:
        assert len(b) < 4096, (target, len(b))
        h = hashlib.sha1(b).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        with open(os.path.join(d, h), "wb") as f:
            f.write(b)
    # A seed corpus is a starting point, not a test suite: small enough to read through.
    assert len(seen) <= 80, (target, len(seen))
    print(f"{target}: {len(seen)} files, {sum(len(b) for b in set(blobs))} bytes")


def decode_corpus(vec):
    blobs = [f for _, f in vec]
    by = dict(vec)
    # Streams of several frames, as a connection reads them.
    blobs.append(by["Ident (client)"] + by["Sub"] + by["Message"] + by["Catchup"] + by["Bye"])
    blobs.append(by["Ident (server)"] + by["Meta"] + by["Event (echo)"] + by["CatchupEnd"])
    # An unknown key (ignored) and an unknown type (refused), a frame with a bad payload.
    blobs.append(frame({T: PING, SEQ: 1, 4: TIME, 99: "x"}))
    blobs.append(frame({T: 200, SEQ: 1}) + frame({T: PING, SEQ: 2, 4: TIME}))
    return blobs


def server_corpus(vec):
    by = dict(vec)
    ping = lambda s: req(s, PING, {4: TIME})
    seeds = []

    # Open policy (byte 0 = 0x00, 0 % 3 == 0), one connection doing everything.
    s = Seq()
    c = [ident(s, "bob@" + D), req(s, SUB, {TOPIC: RUST}), msg(s, RUST, "hello, world"),
         msg(s, RUST, b"\x00\x01\x02\x03", {CTYPE: "application/octet-stream", REPLY_TO: b"\xaa" * 32}),
         req(s, TOPICS, {START: 0, COUNT: 50}), req(s, MEMBERS, {TOPIC: RUST, COUNT: 100, QUERY: "bo"}),
         req(s, SETMETA, {TOPIC: RUST, SUBJECT: "1.95 is out", MODES: 3, DISPLAY: "Rust"}),
         req(s, SETPRESENCE, {REASON: "lunch", PRESENCE: 2}),
         req(s, MOD, {TOPIC: RUST, REASON: "spam", ACTION: 2, TARGET: "*@spam.example"}),
         req(s, CATCHUP, {TOPIC: RUST, COUNT: 50, SINCE: TIME - 10_000_000}),
         req(s, SEARCH, {TOPIC: RUST, COUNT: 50, QUERY: "hello"}),
         ping(s), frame({T: PONG, SEQ: s(), 4: TIME}), req(s, UNSUB, {TOPIC: RUST}),
         frame({T: BYE, 9: 0, REASON: "gone fishing"})]
    seeds.append(b"".join(b"\x00" + f for f in c))

    # Two users in a channel (conn 0 bob, conn 1 carol): ops, kick, mute, DMs.
    s = Seq()
    c = [(0, ident(s, "bob@" + D)), (1, ident(s, "carol")), (0, req(s, SUB, {TOPIC: RUST})),
         (1, req(s, SUB, {TOPIC: RUST})), (1, msg(s, RUST, "hi bob")),
         (0, req(s, MOD, {TOPIC: RUST, ACTION: 6, TARGET: "carol@" + D})),
         (1, req(s, MOD, {TOPIC: RUST, ACTION: 4, TARGET: "bob@" + D})),
         (0, req(s, MOD, {TOPIC: RUST, ACTION: 1, TARGET: "carol@" + D, REASON: "calm down"})),
         (0, msg(s, "carol@" + D, "a direct message")), (1, msg(s, "bob@" + D, "back at you")),
         (0, req(s, MOD, {TOPIC: RUST, ACTION: 15, TARGET: "carol@*", SINCE: 0, REASON: "raid"})),
         (0, req(s, MOD, {TOPIC: RUST, ACTION: 2, TARGET: "dave@*", UNTIL: 2_000, REASON: "cool off"})),
         (0, req(s, MOD, {TOPIC: RUST, ACTION: 4, TARGET: "carol@" + D, UNTIL: 1})),
         (0, req(s, MOD, {TOPIC: RUST, ACTION: 12, TARGET: "carol@" + D})),
         (1, req(s, MOD, {TOPIC: RUST, ACTION: 13, TARGET: "carol@" + D}))]
    seeds.append(b"".join(bytes([k]) + f for k, f in c))

    # Moderated / invite-only channel, voice and invite.
    s = Seq()
    c = [(3, ident(s, "dave@" + D)), (2, ident(s, "erin@" + D)), (3, req(s, SUB, {TOPIC: GO})),
         (3, req(s, SETMETA, {TOPIC: GO, MODES: 1 | 2 | 8, RATE: 2})),
         (2, req(s, SUB, {TOPIC: GO})), (3, req(s, MOD, {TOPIC: GO, ACTION: 10, TARGET: "erin@" + D})),
         (2, req(s, SUB, {TOPIC: GO})), (2, msg(s, GO, "may I?")),
         (3, req(s, MOD, {TOPIC: GO, ACTION: 8, TARGET: "erin@" + D})), (2, msg(s, GO, "thanks")),
         (2, req(s, MEMBERS, {TOPIC: GO, COUNT: 10})),
         (3, req(s, TOPICS, {START: 0, COUNT: 100, CURSOR: RUST}))]
    seeds.append(b"".join(bytes([k]) + f for k, f in c))

    # Guests policy (byte 0 = 0x01): a guest name is assigned.
    s = Seq()
    seeds.append(b"\x01" + ident(s, "guest-abc") + b"\x01" + req(s, SUB, {TOPIC: RUST})
                 + b"\x01" + msg(s, RUST, "guest here"))

    # Accounts policy (first control byte 0x02): password Ident (refused over plain TCP), registration,
    # alice's account, and a foreign ID with a token, answered by control bytes 0xe0..0xe3.
    s = Seq()
    c = [(2, ident(s, "alice", {K_AUTH: 1})), (2, ident(s, "zed@" + D, {K_AUTH: 1, REGISTER: True})),
         (2, ident(s, "alice@" + D)), (2, by["Auth"]),
         (1, ident(s, "alice@bar.org", {TOKEN: b"\x70" * 32})), (0xE1, ping(s)),
         (1, req(s, SUB, {TOPIC: RUST})), (1, msg(s, RUST, "from bar.org")),
         (0, ident(s, "mallory@bar.org", {TOKEN: b"\x71" * 32})), (0xE2, ping(s)),
         (3, ident(s, "carol@bar.org", {TOKEN: b"\x72" * 32})), (0xE3, ping(s))]
    seeds.append(b"".join(bytes([k]) + f for k, f in c))
    s = Seq()
    c = [(0, ident(s, "bob@bar.org", {TOKEN: b"\x70" * 32})), (0xE0, req(s, SUB, {TOPIC: RUST})),
         (1, ident(s, "bob@bar.org", {TOKEN: b"\x70" * 32})), (0, msg(s, RUST, "vouched")),
         (0, req(s, GRANT, {SERVER: "bar.org"})), (0, by["Verify"]), (0, by["Vouch"])]
    seeds.append(b"".join(bytes([k]) + f for k, f in c))

    # alice logs in on connection 2 (TLS), then changes her password: the verdicts are control
    # bytes 0xC2 (accepted) and 0xD2 (accepted, with the account's new password).
    s = Seq()
    c = [(2, ident(s, "alice", {K_AUTH: 1})), (2, by["Auth"]), (0xC2, ping(s)),
         (3, ident(s, "alice", {K_AUTH: 1})), (3, by["Auth"]), (0xC3, ping(s)),
         (2, by["SetPassword"]), (0xD2, ping(s)), (3, ping(s))]
    seeds.append(b"".join(bytes([k]) + f for k, f in c))

    # Read markers: alice on 2 and 3 moves one and asks; a session without a login is refused.
    s = Seq()
    c = [(2, ident(s, "alice", {K_AUTH: 1})), (2, by["Auth"]), (0xC2, ping(s)),
         (3, ident(s, "alice", {K_AUTH: 1})), (3, by["Auth"]), (0xC3, ping(s)),
         (2, by["MarkRead"]), (3, req(s, 73, {TOPIC: RUST})), (3, req(s, 73, {TOPIC: "bob@" + D, 4: 2 ** 64 - 1})),
         (0, ident(s, "bob@" + D)), (0, by["MarkRead"]), (0, by["ReadMark (another connection moved it)"])]
    seeds.append(b"".join(bytes([k]) + f for k, f in c))

    # Admin topics, banned ID, motd, wall (need alice logged in; tried anyway).
    s = Seq()
    c = [(0, ident(s, "mallory@" + D)), (1, ident(s, "bob@" + D)),
         (1, msg(s, "!wall@" + D, "server going down")), (1, msg(s, "!motd@" + D, "hi")),
         (1, req(s, MOD, {TOPIC: "!server@" + D, ACTION: 2, TARGET: "10.0.0.0/8", REASON: "x"})),
         (1, req(s, SUB, {TOPIC: "!motd@" + D}))]
    seeds.append(b"".join(bytes([k]) + f for k, f in c))

    # Time: handshake timeout, keepalive ping, ping timeout; disconnect and reconnect.
    s = Seq()
    c = [(0, ident(s, "bob@" + D)), (0x7F, ping(s)), (0x7F, ping(s)), (0x40, ping(s)),
         (0xA0, ident(s, "bob@" + D)), (0x7F, req(s, SUB, {TOPIC: RUST})), (0x7F, ping(s))]
    seeds.append(b"".join(bytes([k]) + f for k, f in c))

    # Flood: many messages from one connection, then a tick.
    s = Seq()
    c = [ident(s, "bob@" + D), req(s, SUB, {TOPIC: RUST})] + [msg(s, RUST, "x" * 40) for _ in range(30)]
    seeds.append(b"\x00" + b"\x00".join(c) + b"\x41" + ping(s))

    # Before Ident, malformed frames, oversized fields, frame-too-long at the end.
    s = Seq()
    c = [req(s, SUB, {TOPIC: RUST}), b"\x00\x00", frame({T: 200, SEQ: 9}), frame([1, 2]),
         frame({T: MESSAGE, SEQ: 3, TOPIC: "#Bad@x", BODY: "x"}), ident(s, "bob@" + D, {VERSIONS: [2]}),
         ident(s, "#chan@" + D), ident(s, "bob@" + D), ident(s, "bob@" + D),
         msg(s, RUST, "x" * 3000), b"\xff\xff"]
    seeds.append(b"\x00" + b"\x00".join(c))

    # Each client-sent vector on its own after an Ident.
    for name in ["Message (blob, reply)", "Catchup (backward, before an id)", "Topics (after a cursor)",
                 "Meta (channel, described)", "Mod (ban)", "Mod (purge)", "Mod (timed mute)", "SetMeta", "SetPresence (away)", "Members",
                 "Search", "Grant", "Unsub", "Ident (client, bare name, log in)"]:
        s = Seq()
        seeds.append(b"\x00" + ident(s, "bob@" + D) + b"\x00" + by["Sub"] + b"\x00" + by[name])
    return seeds


def history_corpus(vec):
    by = dict(vec)
    seeds = []
    ping = lambda s: req(s, PING, {4: TIME})

    def run(mode, chunks):
        seeds.append(bytes([mode]) + b"".join(bytes([k]) + f for k, f in chunks))

    # Publish, commit, catch up (answered), search.
    s = Seq()
    run(4, [(0, ident(s, "alice@" + D)), (0, req(s, SUB, {TOPIC: RUST})), (0, msg(s, RUST, "one")),
            (0, msg(s, RUST, "two")), (0x10, req(s, CATCHUP, {TOPIC: RUST, COUNT: 50, SINCE: 0})),
            (0x20, req(s, SEARCH, {TOPIC: RUST, COUNT: 10, QUERY: "one"})), (0x20, ping(s))])
    # Fsync Always, no ring: every catchup goes to the store; some answers fail.
    s = Seq()
    run(1, [(0, ident(s, "alice@" + D)), (1, ident(s, "bob@" + D)), (0, req(s, SUB, {TOPIC: RUST})),
            (1, req(s, SUB, {TOPIC: RUST})), (0, msg(s, RUST, "hello")), (1, msg(s, RUST, "hi")),
            (0x11, req(s, CATCHUP, {TOPIC: RUST, COUNT: 3})), (0x31, ping(s)),
            (0x10, req(s, CATCHUP, {TOPIC: RUST, COUNT: 0})), (0x20, ping(s)),
            (0x01, req(s, CATCHUP, {TOPIC: RUST, COUNT: 20, BEFORE: b"\xfb" * 32})), (0x21, ping(s))])
    # Store failing, publishers held, recovery.
    s = Seq()
    run(2, [(0, ident(s, "alice@" + D)), (0, req(s, SUB, {TOPIC: RUST}))]
        + [(0, msg(s, RUST, f"m{i}")) for i in range(10)]
        + [(0x40, msg(s, RUST, "while failing")), (0x40, req(s, CATCHUP, {TOPIC: RUST, COUNT: 5})),
           (0x50, ping(s)), (0x10, ping(s)), (0x20, ping(s))])
    # Direct messages and their thread catchup; after-anchor catchup; ticks; disconnects.
    s = Seq()
    run(6, [(0, ident(s, "alice@" + D)), (1, ident(s, "bob@" + D)), (0, msg(s, "bob@" + D, "psst")),
            (1, msg(s, "alice@" + D, "yes?")), (0x10, req(s, CATCHUP, {TOPIC: "bob@" + D, COUNT: 10})),
            (0x20, req(s, CATCHUP, {TOPIC: "alice@" + D, COUNT: 3, AFTER: b"\x11" * 32})),
            (0x6F, ping(s)), (0x71, ping(s)), (0x21, ident(s, "bob@" + D)),
            (0x61, req(s, CATCHUP, {TOPIC: "alice@" + D, COUNT: 1, UNTIL: TIME}))])
    # Many queries at once (max_reads 2, max_searches 1), answered slowly.
    s = Seq()
    c = [(0, ident(s, "alice@" + D)), (0, req(s, SUB, {TOPIC: RUST})), (0, msg(s, RUST, "x"))]
    c += [(0, req(s, CATCHUP, {TOPIC: RUST, COUNT: 5 + i})) for i in range(4)]
    c += [(0, req(s, SEARCH, {TOPIC: RUST, COUNT: 5, QUERY: "x"})) for _ in range(2)]
    c += [(0x20, ping(s)), (0x30, ping(s)), (0x20, ping(s)), (0x10, ping(s))]
    run(3, c)
    # Moderation records, presence, meta go to history.
    s = Seq()
    run(8, [(0, ident(s, "alice@" + D)), (1, ident(s, "bob@" + D)), (0, req(s, SUB, {TOPIC: RUST})),
            (1, req(s, SUB, {TOPIC: RUST})), (0, by["Mod (ban)"]),
            (0, req(s, MOD, {TOPIC: RUST, ACTION: 1, TARGET: "bob@" + D})), (0, by["SetMeta"]),
            (1, by["SetPresence (away)"]), (0x10, by["Catchup"]), (0x20, by["Catchup (backward, before an id)"]),
            (0x20, by["Search"]), (0x20, ping(s))])
    # The list of conversations: waiting for unstored direct messages, answered, failing, paged.
    s = Seq()
    run(10, [(0, ident(s, "alice@" + D)), (1, ident(s, "bob@" + D)), (0, msg(s, "bob@" + D, "psst")),
             (1, by["Conversations"]), (0x10, ping(s)), (0x20, ping(s)), (0x40, msg(s, "bob@" + D, "again")),
             (0x01, req(s, 71, {COUNT: 1, CURSOR: "a@" + D})), (0x50, ping(s)), (0x21, ping(s))])
    # Each vector a client sends, after Ident and Sub, in several modes.
    for i, name in enumerate(["Message", "Message (blob, reply)", "Catchup", "Catchup (backward, before an id)",
                              "Search", "Topics", "Members", "Unsub", "Meta", "Bye", "Conversations"]):
        s = Seq()
        run(i, [(0, ident(s, "alice@" + D)), (0, by["Sub"]), (0, by["Message"]), (0x10, by[name]),
                (0x20, ping(s))])
    return seeds


def saved_corpus():
    """Saved state as the server writes it (src/server/saved.rs), and past its bounds."""
    room = {"owner": "a@" + D, "created": 5, "emptied": 0, "ops": ["b@" + D, "c@" + D],
            "voiced": ["d@" + D], "invited": ["*@p.example", "e@" + D], "excepts": ["x@spam.example"],
            "invite notes": {"*@p.example": ["a@" + D, 7, "partners"], "e@" + D: ["a@" + D, 0, "r" * 300]},
            "except notes": {"x@spam.example": ["not an id", 9, "bot"]},
            "bans": [["*@spam.example", "192.0.2.1", "spam", 2000000, "a@" + D, 4], ["q@x", 0, 0, 0, 0, 0]],
            "mutes": ["m@x", "n*@x"], "mute reasons": {"m@x": "loud"}, "mute addresses": {"m@x": "::1"},
            "mute untils": {"n*@x": 9}, "mute setters": {"m@x": ["a@" + D, 3]}, "modes": 7, "rate": 30,
            "join_rate": 12, "display": "H\u00e9", "subject": "s" * 300, "used": True}
    values = [(0, room), (2, ["a*@x", "192.0.2.0/24", "127.0.0.1"]), (3, {"a*@x": "spam", "bob@x": "r" * 400}),
              (4, {"a*@x": ["root@" + D, 5], "bob@x": ["nope", 1]}), (5, {"text": "hi", "time": 5}),
              (6, ["*@x", "b@" + D]), (7, 4), (8, {"key": b"k" * 32}),
              (9, [["#a@" + D, 5], ["b@" + D, 6], ["!motd@" + D, 1], ["#a@" + D, 7], [3, 4], "x"])]
    blobs = [bytes([k]) + cbor(v) for k, v in values]
    return blobs + [b"\xff\xfe".join(blobs)]


def main():
    vec = vectors()
    write("decode", decode_corpus(vec))
    write("server", server_corpus(vec))
    write("history", history_corpus(vec))
    write("saved", saved_corpus())


if __name__ == "__main__":
    main()
