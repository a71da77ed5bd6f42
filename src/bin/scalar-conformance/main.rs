//! scalar-conformance: checks a running Scalar server against docs/PROTOCOL.md, one case per
//! rule, each citing its section. Any implementation can run it:
//!
//!     scalar-conformance HOST:PORT --domain D [--only PATTERN] [--json] [--tls | --ca FILE | --pin FP]
//!
//! It prints one line per case and `N passed, N failed, N skipped, N advisory`, and exits 1 on
//! any failure. Advisory is a SHOULD of PROTOCOL.md not met: listed apart, never a failure.

mod cases;
mod wire;

use cases::{ALL, Ctx, Verdict};
use scalar::tls::{Fingerprint, Tls};
use std::io::Write;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::process::ExitCode;
use wire::Dial;

const USAGE: &str = "\
usage: scalar-conformance HOST:PORT --domain DOMAIN [--only PATTERN] [--json]
         [--handshake-timeout S] [--idle-timeout S --ping-timeout S] [--max-subs N]
         [--account ID:PASSWORD] [--admin ID:PASSWORD] [--tls | --ca FILE | --pin sha256:HEX]

--only runs the cases whose name, or whose `NAME (SECTION)` as printed, contains PATTERN:
--only timer_, --only '§4 Sub', --only '(§4)'.
The timer cases run only when the server's timeouts are given (start the server with short
ones); the limit and account cases only with --max-subs and --account, the server admin's
with --admin (an admin's account: they kill, ban and lift a fresh ID, and write to !wall).
Others are skipped.
The account cases make wrong-password attempts, which a server's login throttle counts: runs
within a minute of each other may see 602.
Each case is pass, fail (a MUST broken), skip, or advisory (a SHOULD of PROTOCOL.md not met,
quoted); exit status 1 if any failed, 2 if the run could not be made, else 0, advisories or not.
The cases open connections and publish faster than people do: turn the server's flood and
connection-rate limits off (scalard --flood off), or they are what the run measures.

Over TLS: --tls trusts the usual public CAs (the certificate must name HOST), --ca FILE the
CA certificates in a PEM file (likewise), --pin accepts exactly the certificate with that
SHA-256 fingerprint, whatever it names (a test server's self-signed one).";

/// The command line, checked.
#[derive(Default)]
struct Opts {
    server: Option<String>,
    domain: Option<String>,
    only: Option<String>,
    json: bool,
    handshake: Option<u64>,
    idle: Option<u64>,
    ping: Option<u64>,
    max_subs: Option<u64>,
    account: Option<(String, String)>,
    admin: Option<(String, String)>,
    tls: Option<Tls>,
}

/// Reads the arguments; `Err` is what to tell the user (the usage if empty). A value that
/// does not parse is an error, never a silent skip of the cases that need it.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Opts>, String> {
    let mut o = Opts::default();
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("{a}: not a number: {v}"));
        match a.as_str() {
            "--domain" => o.domain = Some(value()?),
            "--handshake-timeout" => o.handshake = Some(number(value()?)?),
            "--idle-timeout" => o.idle = Some(number(value()?)?),
            "--ping-timeout" => o.ping = Some(number(value()?)?),
            "--max-subs" => o.max_subs = Some(number(value()?)?),
            "--tls" | "--ca" | "--pin" if o.tls.is_some() => {
                return Err("--tls, --ca and --pin are three ways to trust the server; give one".into());
            }
            "--tls" => o.tls = Some(Tls::webpki_roots().map_err(|e| e.to_string())?),
            "--ca" => o.tls = Some(Tls::with_ca_file(Path::new(&value()?)).map_err(|e| e.to_string())?),
            "--pin" => {
                let v = value()?;
                let pin = Fingerprint::parse(&v).ok_or(format!("--pin: not a SHA-256 fingerprint: {v}"))?;
                o.tls = Some(Tls::pinned(Some(pin)).map_err(|e| e.to_string())?);
            }
            "--account" | "--admin" => {
                let v = value()?;
                let (id, pw) = v.split_once(':').ok_or(format!("{a}: not ID:PASSWORD: {v}"))?;
                let login = Some((id.to_string(), pw.to_string()));
                match a.as_str() {
                    "--admin" => o.admin = login,
                    _ => o.account = login,
                }
            }
            "--only" => o.only = Some(value()?),
            "--json" => o.json = true,
            "-h" | "--help" => return Ok(None),
            _ if o.server.is_none() && !a.starts_with('-') => o.server = Some(a),
            _ if a.starts_with('-') => return Err(format!("unknown option {a}")),
            _ => return Err(format!("one server only: {a}")),
        }
    }
    Ok(Some(o))
}

/// An account's ID as the server answers it: a bare name gets `domain`, as servers complete
/// a bare Ident.
fn full_id(id: String, domain: &str) -> String {
    match id.contains('@') {
        true => id,
        false => format!("{id}@{domain}"),
    }
}

fn main() -> ExitCode {
    let o = match parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("scalar-conformance: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (Some(server), Some(domain)) = (o.server, o.domain) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let Some(addr) = server.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        eprintln!("scalar-conformance: cannot resolve {server} (give HOST:PORT)");
        return ExitCode::from(2);
    };
    let cases: Vec<_> = ALL.iter().filter(|c| chosen(c, o.only.as_deref())).collect();
    if cases.is_empty() {
        eprintln!(
            "scalar-conformance: no case matches --only {}",
            o.only.as_deref().unwrap_or_default()
        );
        return ExitCode::from(2);
    }
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ d.as_secs() as u32);
    let ctx = Ctx {
        dial: Dial {
            addr,
            server: server.clone(),
            tls: o.tls,
        },
        run: format!("{:x}", run % 0x10_0000),
        handshake_timeout: o.handshake,
        idle_timeout: o.idle,
        ping_timeout: o.ping,
        max_subs: o.max_subs,
        account: o.account.map(|(id, pw)| (full_id(id, &domain), pw)),
        admin: o.admin.map(|(id, pw)| (full_id(id, &domain), pw)),
        domain,
    };
    if let Err(why) = cases::preflight(&ctx) {
        // It may quote the server (an Ident reply it cannot take): escaped, as the cases' details.
        eprintln!("scalar-conformance: {}", scalar::logs::Escaped(&why));
        return ExitCode::from(2);
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    // The cases whose SHOULD the server does not meet, for the summary.
    let mut advisories = Vec::new();
    for case in cases {
        let (status, detail, should) = match (case.run)(&ctx) {
            Ok(Verdict::Pass) => {
                passed += 1;
                ("pass", String::new(), None)
            }
            Ok(Verdict::Skip(why)) => {
                skipped += 1;
                ("skip", why, None)
            }
            Ok(Verdict::Advisory(should, what)) => {
                advisories.push(case);
                // The SHOULD quoted, so that the implementer weighs it without the spec open.
                let detail = format!("{what} (a SHOULD, {}: \"{}\")", should.section, should.says);
                ("advisory", detail, Some(should))
            }
            Err(why) => {
                failed += 1;
                ("fail", why, None)
            }
        };
        let line = match (o.json, detail.is_empty()) {
            (true, _) => format!(
                "{{\"case\":{},\"section\":{},\"result\":{},\"detail\":{}{}}}",
                json(case.name),
                json(case.section),
                json(status),
                json(&detail),
                // An advisory's SHOULD, where it is said, for a program to group them by.
                should.map_or(String::new(), |s| format!(
                    ",\"should\":{{\"section\":{},\"says\":{}}}",
                    json(s.section),
                    json(s.says)
                ))
            ),
            (false, true) => format!("{status} {} ({})", case.name, case.section),
            // The detail quotes the server under test (an Error's reason): escaped, so that
            // it can neither add a line of its own to the report nor act on the terminal.
            (false, false) => format!(
                "{status} {} ({}): {}",
                case.name,
                case.section,
                scalar::logs::Escaped(&detail)
            ),
        };
        // A reader that stopped (`| head`) ends the run quietly, not with a panic.
        if writeln!(std::io::stdout(), "{line}").is_err() {
            return ExitCode::from(u8::from(failed > 0));
        }
        if wire::CONNECTING_TOO_FAST.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!(
                "scalar-conformance: stopped after {}: the server refused a new connection as \
                 connecting too fast (505); the cases connect far faster than people do: start \
                 it without a limit on new connections (scalard: --flood off --join-rush 0), \
                 then run again",
                case.name
            );
            return ExitCode::from(2);
        }
    }
    let advisory = advisories.len();
    let summary = match o.json {
        // The last line a JSON-lines reader reads is JSON too.
        true => format!(
            "{{\"passed\":{passed},\"failed\":{failed},\"skipped\":{skipped},\"advisory\":{advisory},\
             \"advisories\":[{}]}}",
            advisories
                .iter()
                .map(|c| json(c.name))
                .collect::<Vec<_>>()
                .join(",")
        ),
        // Advisory last, so that the line starts as it did before there were advisories.
        false => format!("{passed} passed, {failed} failed, {skipped} skipped, {advisory} advisory"),
    };
    let mut out = std::io::stdout().lock();
    // The advisories again, apart from the failures above them: what to weigh, not to fix.
    if !o.json && advisory > 0 {
        let _ = writeln!(
            out,
            "advisory: SHOULDs of PROTOCOL.md this server does not meet (not failures):"
        );
        for c in &advisories {
            let _ = writeln!(out, "  {} ({})", c.name, c.section);
        }
    }
    let _ = writeln!(out, "{summary}");
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether `--only` chose case `c`: its name, or its line's `NAME (SECTION)`, contains the
/// pattern, so that a section is run by its number (`§4 Sub`, or `(§4)` for §4's opening
/// rules alone), as an implementer building a server part by part checks each part.
fn chosen(c: &cases::Case, only: Option<&str>) -> bool {
    only.is_none_or(|p| c.name.contains(p) || format!("{} ({})", c.name, c.section).contains(p))
}

/// `s` as a JSON string (RFC 8259): a server's words in a case's detail may hold quotes and
/// control characters, which Rust's Debug form does not escape as JSON does.
fn json(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            // C0 as JSON requires, and what would act on a terminal printing the line (C1,
            // DEL, bidi controls, line separators), all in the BMP: one `\uXXXX` each.
            c if scalar::logs::needs_escape(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A case's detail quotes the server, whatever it sent: escaped as JSON, not as Debug.
    #[test]
    fn details_are_json_strings() {
        assert_eq!(json("a\"b\\c\n\u{1b}é"), r#""a\"b\\c\u000a\u001bé""#);
        // Nor anything else a terminal would act on (found by helper 263: C1 went through).
        assert_eq!(
            json("\u{9b}2J\u{7f}\u{202e}\u{2028}日"),
            r#""\u009b2J\u007f\u202e\u2028日""#
        );
    }

    fn parsed(args: &[&str]) -> Result<Option<Opts>, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    /// `--only` takes a section as it takes a name: `(§4)` is §4's own cases, not §4 Sub's.
    #[test]
    fn only_chooses_by_name_or_section() {
        let names = |p: &str| -> Vec<&str> {
            ALL.iter()
                .filter(|c| chosen(c, Some(p)))
                .map(|c| c.name)
                .collect()
        };
        assert!(names("(§4)").contains(&"no_type_is_malformed"));
        assert!(!names("(§4)").contains(&"sub_and_unsub_answer_meta"));
        assert!(names("§4 Sub").contains(&"sub_and_unsub_answer_meta"));
        assert!(
            names("§4 Sub")
                .iter()
                .all(|n| ALL.iter().any(|c| c.name == *n && c.section.contains("§4 Sub")))
        );
        assert_eq!(
            names("timer_"),
            [
                "timer_handshake_timeout_closes_a_silent_connection",
                "timer_an_idle_client_is_pinged",
                "timer_an_unanswered_ping_closes"
            ]
        );
        assert_eq!(
            names("§2").len(),
            ALL.iter().filter(|c| c.section.contains("§2")).count()
        );
        assert!(names("§2").len() >= 7);
    }

    #[test]
    fn a_value_that_does_not_parse_is_an_error() {
        let e = |args: &[&str]| parsed(args).err().unwrap_or_default();
        assert_eq!(e(&["h:1", "--max-subs", "abc"]), "--max-subs: not a number: abc");
        assert_eq!(
            e(&["h:1", "--handshake-timeout"]),
            "--handshake-timeout needs a value"
        );
        assert_eq!(
            e(&["h:1", "--account", "nocolon"]),
            "--account: not ID:PASSWORD: nocolon"
        );
        assert_eq!(e(&["h:1", "--frob"]), "unknown option --frob");
        assert_eq!(e(&["h:1", "h:2"]), "one server only: h:2");
        assert_eq!(
            e(&["h:1", "--admin", "nocolon"]),
            "--admin: not ID:PASSWORD: nocolon"
        );
        let o = parsed(&[
            "h:1",
            "--domain",
            "d",
            "--max-subs",
            "8",
            "--account",
            "a:b:c",
            "--admin",
            "r:s",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (o.max_subs, o.account, o.admin),
            (
                Some(8),
                Some(("a".into(), "b:c".into())),
                Some(("r".into(), "s".into()))
            )
        );
        assert!(parsed(&["--help"]).unwrap().is_none());
        assert_eq!(full_id("a".into(), "d"), "a@d");
        assert_eq!(full_id("a@e".into(), "d"), "a@e");
    }
}
