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

const USAGE: &str = "usage: scalar-conformance HOST:PORT --domain DOMAIN [--only PATTERN] [--json]";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut server, mut domain, mut only, mut json) = (None, None, None, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--domain" => domain = args.next(),
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
    let ctx = Ctx { addr, domain };
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
