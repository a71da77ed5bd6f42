//! scalar-conformance: checks a running Scalar server against docs/PROTOCOL.md, one case per
//! rule, each citing its section. Any implementation can run it:
//!
//!     scalar-conformance HOST:PORT --domain D [--only PATTERN] [--json]
//!
//! It prints one line per case and `N passed, N failed, N skipped`, and exits 1 on any failure.

mod cases;
mod wire;

use cases::{ALL, Ctx, Verdict};
use std::net::ToSocketAddrs;
use std::process::ExitCode;

const USAGE: &str = "\
usage: scalar-conformance HOST:PORT --domain DOMAIN [--only PATTERN] [--json]
         [--handshake-timeout S] [--idle-timeout S --ping-timeout S] [--max-subs N]
         [--account ID:PASSWORD]

The timer cases run only when the server's timeouts are given (start the server with short
ones); the limit and account cases only with --max-subs and --account. Others are skipped.
The cases open connections and publish faster than people do: turn the server's flood and
connection-rate limits off (scalard --flood off), or they are what the run measures.";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut server, mut domain, mut only, mut json) = (None, None, None, false);
    let (mut handshake, mut idle, mut ping, mut max_subs, mut account) = (None, None, None, None, None);
    let num = |v: Option<String>| v.and_then(|v| v.parse::<u64>().ok());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--domain" => domain = args.next(),
            "--handshake-timeout" => handshake = num(args.next()),
            "--idle-timeout" => idle = num(args.next()),
            "--ping-timeout" => ping = num(args.next()),
            "--max-subs" => max_subs = num(args.next()),
            "--account" => {
                account = args
                    .next()
                    .and_then(|a| a.split_once(':').map(|(i, p)| (i.to_string(), p.to_string())))
            }
            "--only" => only = args.next(),
            "--json" => json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if server.is_none() && !a.starts_with('-') => server = Some(a),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(server), Some(domain)) = (server, domain) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let Some(addr) = server.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        eprintln!("scalar-conformance: cannot resolve {server}");
        return ExitCode::from(2);
    };
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ d.as_secs() as u32);
    let ctx = Ctx {
        addr,
        domain,
        run: format!("{:x}", run % 0x10_0000),
        handshake_timeout: handshake,
        idle_timeout: idle,
        ping_timeout: ping,
        max_subs,
        account,
    };
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for case in ALL
        .iter()
        .filter(|c| only.as_deref().is_none_or(|p| c.name.contains(p)))
    {
        let (status, detail) = match (case.run)(&ctx) {
            Ok(Verdict::Pass) => {
                passed += 1;
                ("pass", String::new())
            }
            Ok(Verdict::Skip(why)) => {
                skipped += 1;
                ("skip", why)
            }
            Err(why) => {
                failed += 1;
                ("fail", why)
            }
        };
        if json {
            println!(
                "{{\"case\":{:?},\"section\":{:?},\"result\":{:?},\"detail\":{:?}}}",
                case.name, case.section, status, detail
            );
        } else if detail.is_empty() {
            println!("{status} {} ({})", case.name, case.section);
        } else {
            println!("{status} {} ({}): {detail}", case.name, case.section);
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
