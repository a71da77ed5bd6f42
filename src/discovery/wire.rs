//! The DNS wire format (RFC 1035), for one job only: asking for the SRV records (RFC 2782) of a
//! name and reading the answer. Sans IO: bytes in, bytes out.
//!
//! The answer comes from the network, possibly from someone other than the nameserver, so every
//! read is bounds-checked and every failure is a typed [`WireError`]; nothing here indexes or
//! panics on input.

use std::fmt;

/// QTYPE and TYPE of an SRV record.
pub const TYPE_SRV: u16 = 33;
/// TYPE of a CNAME record: a resolver may answer with an alias chain before the SRV records.
const TYPE_CNAME: u16 = 5;
/// QCLASS and CLASS IN (the Internet).
const CLASS_IN: u16 = 1;
/// The fixed header: id, flags, and four section counts.
const HEADER_LEN: usize = 12;
/// The longest name in presentation form (255 bytes on the wire, less the length bytes).
const MAX_NAME: usize = 253;
/// The longest label.
const MAX_LABEL: usize = 63;
/// Compression pointers followed in one name before it counts as a loop. A real name has at
/// most 127 labels, so it never needs more jumps than that.
const MAX_JUMPS: usize = 127;
/// CNAMEs followed in one answer: real chains are one or two long.
const MAX_ALIASES: usize = 8;

const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const RCODE_NXDOMAIN: u16 = 3;

/// One SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    /// Lower is tried first.
    pub priority: u16,
    /// Among records of one priority, the relative chance of being tried first.
    pub weight: u16,
    /// The TCP port.
    pub port: u16,
    /// The host, lowercase, without the final dot; `.` is the root: "no such service".
    pub target: String,
}

/// Why a packet is not a usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The packet ends inside a field, or a length points past its end.
    Short,
    /// A name is not a host name: an empty or overlong label, a byte other than a letter, a
    /// digit, `-` or `_`, or more than 253 bytes in all.
    BadName,
    /// A name follows more compression pointers than any real name needs: a loop.
    PointerLoop,
    /// A label starts with reserved bits (0x40 or 0x80: extended label types, unused).
    BadLabel(u8),
    /// The packet's id is not the query's: a stale or forged answer.
    WrongId,
    /// The packet is a query, not a response.
    NotResponse,
    /// The question is not the one asked.
    WrongQuestion,
    /// The answer was truncated (TC): it did not fit a UDP datagram. This client does not
    /// retry over TCP: a domain needs far fewer SRV records than fit in 512 bytes.
    Truncated,
    /// The server failed (an RCODE other than success and NXDOMAIN: SERVFAIL, REFUSED…).
    Rcode(u8),
    /// An SRV record's data is not exactly its three numbers and a name.
    BadRdata,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Short => f.write_str("the answer is cut short"),
            WireError::BadName => f.write_str("a name in the answer is not a host name"),
            WireError::PointerLoop => f.write_str("a name in the answer loops"),
            WireError::BadLabel(b) => write!(f, "a name in the answer has a reserved label type {b:#04x}"),
            WireError::WrongId => f.write_str("the answer's id is not the query's"),
            WireError::NotResponse => f.write_str("a query came back instead of an answer"),
            WireError::WrongQuestion => f.write_str("the answer is to another question"),
            WireError::Truncated => f.write_str("the answer was truncated (too many records for UDP)"),
            WireError::Rcode(c) => write!(f, "the nameserver failed (RCODE {c})"),
            WireError::BadRdata => f.write_str("an SRV record is malformed"),
        }
    }
}

impl std::error::Error for WireError {}

/// The query for the SRV records of `name`: header with `id` and RD (recursion desired: the
/// nameservers of resolv.conf are recursive resolvers), one question, no other section.
pub fn query(id: u16, name: &str) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(HEADER_LEN + name.len() + 6);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&FLAG_RD.to_be_bytes());
    for count in [1u16, 0, 0, 0] {
        out.extend_from_slice(&count.to_be_bytes());
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(WireError::BadName);
    }
    for label in name.split('.') {
        let len = u8::try_from(label.len()).map_err(|_| WireError::BadName)?;
        if label.is_empty() || label.len() > MAX_LABEL || !label.bytes().all(host_byte) {
            return Err(WireError::BadName);
        }
        out.push(len);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&TYPE_SRV.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

/// The SRV records for `qname` in `packet`, the answer to the query with `id`. NXDOMAIN, and an
/// answer with no SRV records, are both an empty list. Records of other types, or for names
/// other than `qname` and its aliases (CNAMEs in the answer), are skipped.
pub fn parse(packet: &[u8], id: u16, qname: &str) -> Result<Vec<Srv>, WireError> {
    let mut r = Reader { buf: packet, pos: 0 };
    if r.u16()? != id {
        return Err(WireError::WrongId);
    }
    let flags = r.u16()?;
    if flags & FLAG_QR == 0 {
        return Err(WireError::NotResponse);
    }
    if flags & FLAG_TC != 0 {
        return Err(WireError::Truncated);
    }
    let (questions, answers) = (r.u16()?, r.u16()?);
    // The authority and additional sections are never read: only answers matter here.
    r.u16()?;
    r.u16()?;
    // Checked only now, so that a stray packet is told apart (WrongId, NotResponse) first.
    match flags & 0x000f {
        0 => {}
        RCODE_NXDOMAIN => return Ok(Vec::new()),
        // The mask keeps the value below 16.
        rcode => return Err(WireError::Rcode(rcode.to_be_bytes()[1])),
    }
    let want = qname.strip_suffix('.').unwrap_or(qname).to_ascii_lowercase();
    if questions != 1 || r.name()? != want || r.u16()? != TYPE_SRV || r.u16()? != CLASS_IN {
        return Err(WireError::WrongQuestion);
    }
    let mut owners = vec![want];
    let mut found = Vec::new();
    for _ in 0..answers {
        let owner = r.name()?;
        let (rtype, class) = (r.u16()?, r.u16()?);
        r.u32()?; // The TTL: nothing is cached, every connection asks again.
        let len = usize::from(r.u16()?);
        let end = r
            .pos
            .checked_add(len)
            .filter(|&e| e <= packet.len())
            .ok_or(WireError::Short)?;
        let ours = class == CLASS_IN && owners.contains(&owner);
        match rtype {
            TYPE_SRV if ours => {
                let (priority, weight, port) = (r.u16()?, r.u16()?, r.u16()?);
                let target = r.name()?;
                if r.pos != end {
                    return Err(WireError::BadRdata);
                }
                found.push(Srv {
                    priority,
                    weight,
                    port,
                    target,
                });
            }
            TYPE_CNAME if ours => {
                let alias = r.name()?;
                if r.pos != end {
                    return Err(WireError::BadRdata);
                }
                if owners.len() <= MAX_ALIASES {
                    owners.push(alias);
                }
            }
            _ => {}
        }
        r.pos = end;
    }
    Ok(found)
}

/// A byte that may appear in a label: letters, digits, `-`, and `_` (which service names
/// such as `_scalar` start with).
fn host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// A cursor over a packet; every read is checked.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte_at(&self, at: usize) -> Result<u8, WireError> {
        self.buf.get(at).copied().ok_or(WireError::Short)
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        let b = [self.byte_at(self.pos)?, self.byte_at(self.pos + 1)?];
        self.pos += 2;
        Ok(u16::from_be_bytes(b))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let (hi, lo) = (self.u16()?, self.u16()?);
        Ok(u32::from(hi) << 16 | u32::from(lo))
    }

    /// A name at the cursor, lowercase and without the final dot (`.` for the root),
    /// following compression pointers (RFC 1035 §4.1.4). The cursor ends after the name as it
    /// is written here: after its first pointer, if it has one.
    fn name(&mut self) -> Result<String, WireError> {
        let mut out = String::new();
        let mut at = self.pos;
        let mut resume = None;
        let mut jumps = 0;
        loop {
            let len = self.byte_at(at)?;
            match len & 0xc0 {
                0xc0 => {
                    let low = self.byte_at(at + 1)?;
                    jumps += 1;
                    if jumps > MAX_JUMPS {
                        return Err(WireError::PointerLoop);
                    }
                    resume.get_or_insert(at + 2);
                    at = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                }
                0x00 if len == 0 => {
                    at += 1;
                    break;
                }
                0x00 => {
                    let start = at + 1;
                    let label = self
                        .buf
                        .get(start..start + usize::from(len))
                        .ok_or(WireError::Short)?;
                    if !label.iter().all(|&b| host_byte(b)) {
                        return Err(WireError::BadName);
                    }
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
                    if out.len() > MAX_NAME {
                        return Err(WireError::BadName);
                    }
                    at = start + label.len();
                }
                _ => return Err(WireError::BadLabel(len)),
            }
        }
        self.pos = resume.unwrap_or(at);
        if out.is_empty() {
            out.push('.');
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "_scalars._tcp.foo.test";

    /// An answer to `query(id, Q)`: the question, then `records` (owner, type, rdata).
    fn answer(id: u16, flags: u16, records: &[(&[u8], u16, Vec<u8>)]) -> Vec<u8> {
        let mut p = query(id, Q).unwrap();
        p[2..4].copy_from_slice(&flags.to_be_bytes());
        p[6..8].copy_from_slice(&u16::try_from(records.len()).unwrap().to_be_bytes());
        for (owner, rtype, rdata) in records {
            p.extend_from_slice(owner);
            p.extend_from_slice(&rtype.to_be_bytes());
            p.extend_from_slice(&CLASS_IN.to_be_bytes());
            p.extend_from_slice(&300u32.to_be_bytes());
            p.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
            p.extend_from_slice(rdata);
        }
        p
    }

    /// A name in wire form, uncompressed.
    fn wire_name(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for l in name.split('.').filter(|l| !l.is_empty()) {
            out.push(u8::try_from(l.len()).unwrap());
            out.extend_from_slice(l.as_bytes());
        }
        out.push(0);
        out
    }

    fn srv_rdata(priority: u16, weight: u16, port: u16, target: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        for n in [priority, weight, port] {
            d.extend_from_slice(&n.to_be_bytes());
        }
        d.extend_from_slice(target);
        d
    }

    /// A pointer to the question's name, which starts right after the header.
    const TO_QNAME: &[u8] = &[0xc0, 12];
    const OK: u16 = 0x8180;

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    #[test]
    fn the_query_is_rfc_1035() {
        let q = query(0xabcd, "_scalar._tcp.Chat.example.org.").unwrap();
        let mut want = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(b"\x07_scalar\x04_tcp\x04Chat\x07example\x03org\x00\x00\x21\x00\x01");
        assert_eq!(q, want);
        assert_eq!(query(1, "a..b"), Err(WireError::BadName));
        assert_eq!(query(1, ""), Err(WireError::BadName));
        assert_eq!(query(1, &"a".repeat(64)), Err(WireError::BadName));
        assert_eq!(query(1, "a b.org"), Err(WireError::BadName));
        assert_eq!(query(1, &["a"; 128].join(".")), Err(WireError::BadName));
    }

    #[test]
    fn one_record() {
        let p = answer(
            7,
            OK,
            &[(
                &wire_name(Q),
                TYPE_SRV,
                srv_rdata(0, 5, 7668, &wire_name("Chat.Example.org.")),
            )],
        );
        assert_eq!(parse(&p, 7, Q), Ok(vec![srv(0, 5, 7668, "chat.example.org")]));
        assert_eq!(
            parse(&p, 7, "_SCALARS._tcp.foo.test."),
            Ok(vec![srv(0, 5, 7668, "chat.example.org")])
        );
    }

    #[test]
    fn several_records_compressed_and_others_skipped() {
        let mut target = b"\x01b".to_vec();
        // "b" then a pointer to "foo.test" inside the question: "b.foo.test".
        target.extend_from_slice(&[0xc0, 12 + 1 + 8 + 1 + 4]);
        let p = answer(
            9,
            OK,
            &[
                (TO_QNAME, TYPE_SRV, srv_rdata(10, 1, 1, &wire_name("a.test"))),
                (TO_QNAME, 1, vec![127, 0, 0, 1]), // an A record: skipped
                (
                    &wire_name("other.test"),
                    TYPE_SRV,
                    srv_rdata(0, 0, 9, &wire_name("x.test")),
                ),
                (TO_QNAME, TYPE_SRV, srv_rdata(20, 2, 2, &target)),
                (TO_QNAME, TYPE_SRV, srv_rdata(0, 0, 0, &[0])),
            ],
        );
        assert_eq!(
            parse(&p, 9, Q),
            Ok(vec![
                srv(10, 1, 1, "a.test"),
                srv(20, 2, 2, "b.foo.test"),
                srv(0, 0, 0, ".")
            ])
        );
    }

    #[test]
    fn aliases_are_followed() {
        let p = answer(
            3,
            OK,
            &[
                (TO_QNAME, TYPE_CNAME, wire_name("alias.test")),
                (
                    &wire_name("alias.test"),
                    TYPE_SRV,
                    srv_rdata(0, 0, 5, &wire_name("h.test")),
                ),
            ],
        );
        assert_eq!(parse(&p, 3, Q), Ok(vec![srv(0, 0, 5, "h.test")]));
    }

    #[test]
    fn pointer_loops_end() {
        // The owner is a pointer to itself, then one pointing to the other and back.
        let own = u8::try_from(query(1, Q).unwrap().len()).unwrap();
        let p = answer(1, OK, &[(&[0xc0, own], TYPE_SRV, srv_rdata(0, 0, 1, &[0]))]);
        assert_eq!(parse(&p, 1, Q), Err(WireError::PointerLoop));
        let p = answer(
            1,
            OK,
            &[(
                TO_QNAME,
                TYPE_SRV,
                srv_rdata(0, 0, 1, &[0xc0, own + 20, 0xc0, own + 18]),
            )],
        );
        assert_eq!(parse(&p, 1, Q), Err(WireError::PointerLoop));
        // A label chain growing without end through a pointer: stopped by the name's length.
        let p = answer(
            1,
            OK,
            &[(&[1, b'a', 0xc0, own], TYPE_SRV, srv_rdata(0, 0, 1, &[0]))],
        );
        assert!(matches!(
            parse(&p, 1, Q),
            Err(WireError::BadName | WireError::PointerLoop)
        ));
    }

    #[test]
    fn header_errors() {
        let p = answer(5, OK, &[(TO_QNAME, TYPE_SRV, srv_rdata(0, 0, 1, &[0]))]);
        assert_eq!(parse(&p, 6, Q), Err(WireError::WrongId));
        assert_eq!(parse(&answer(5, 0x0100, &[]), 5, Q), Err(WireError::NotResponse));
        assert_eq!(
            parse(&answer(5, OK | FLAG_TC, &[]), 5, Q),
            Err(WireError::Truncated)
        );
        assert_eq!(
            parse(&answer(5, 0x8183, &[]), 5, Q),
            Ok(vec![]),
            "NXDOMAIN: no records"
        );
        assert_eq!(parse(&answer(5, 0x8182, &[]), 5, Q), Err(WireError::Rcode(2)));
        assert_eq!(
            parse(&answer(5, OK, &[]), 5, Q),
            Ok(vec![]),
            "no answer: no records"
        );
        assert_eq!(
            parse(&p, 5, "_scalar._tcp.foo.test"),
            Err(WireError::WrongQuestion)
        );
    }

    #[test]
    fn garbage_never_panics() {
        let p = answer(
            5,
            OK,
            &[(TO_QNAME, TYPE_SRV, srv_rdata(1, 2, 3, &wire_name("host.test")))],
        );
        assert_eq!(parse(&p, 5, Q).map(|v| v.len()), Ok(1));
        // Every prefix is short somewhere (or, cut before the answer count, no records).
        for n in 0..p.len() {
            assert!(parse(&p[..n], 5, Q).is_err(), "prefix of {n} bytes");
        }
        // Every single-byte change is either still an answer or a typed error.
        for i in 0..p.len() {
            for b in [0x00, 0x3f, 0x40, 0x80, 0xc0, 0xff] {
                let mut q = p.clone();
                q[i] = b;
                let _ = parse(&q, 5, Q);
            }
        }
        // RDLENGTH larger or smaller than the record.
        let mut long = p.clone();
        let at = long.len() - wire_name("host.test").len() - 6 - 2;
        long[at + 1] += 1;
        assert_eq!(parse(&long, 5, Q), Err(WireError::Short));
        long.push(0);
        assert_eq!(parse(&long, 5, Q), Err(WireError::BadRdata));
        assert_eq!(parse(&[0xff; 3], 5, Q), Err(WireError::WrongId));
        assert_eq!(parse(&[0, 5, 0x81], 5, Q), Err(WireError::Short));
        // A name with a byte no host name has.
        let p = answer(5, OK, &[(TO_QNAME, TYPE_SRV, srv_rdata(1, 2, 3, b"\x03a.b\x00"))]);
        assert_eq!(parse(&p, 5, Q), Err(WireError::BadName));
        let p = answer(5, OK, &[(&[0x40, 0], TYPE_SRV, srv_rdata(1, 2, 3, &[0]))]);
        assert_eq!(parse(&p, 5, Q), Err(WireError::BadLabel(0x40)));
    }
}
