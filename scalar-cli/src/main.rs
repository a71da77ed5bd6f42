//! scalar-cli: an interactive chat client for Scalar, with one-shot modes for scripts.
//! See docs/CLI.md.

mod alert;
mod args;
mod conn;
mod defaults;
mod error;
mod event;
mod fold;
mod hidden;
mod input;
mod json;
mod known_hosts;
mod listing;
mod marks;
mod modes;
mod names;
mod notice;
mod oneshot;
mod paging;
mod paths;
mod patience;
mod poll;
mod readnote;
mod render;
mod repl;
mod resend;
mod timefmt;

use args::Command;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let env = args::Env::from_process();
    let args = match args::parse(std::env::args_os().skip(1), &env) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let result = match &args.command {
        Command::Help => {
            let _ = writeln!(std::io::stdout(), "{}", args::USAGE);
            Ok(())
        }
        Command::Version => {
            let _ = writeln!(std::io::stdout(), "scalar-cli {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Chat => repl::run(&args),
        Command::Send {
            topic,
            text,
            reply_to,
            action,
            json,
        } => oneshot::send(&args, topic, text.as_deref(), *reply_to, *action, *json),
        Command::Listen {
            topics,
            from,
            or_since,
            count,
            json,
        } => oneshot::listen(&args, topics, (*from, *or_since), *count, *json),
        Command::History { topic, span, json } => oneshot::history(&args, topic, *span, *json),
        Command::Search {
            topic,
            query,
            last,
            json,
        } => oneshot::search(&args, topic, query, *last, *json),
        Command::Topics { query, json } => oneshot::topics(&args, query.as_deref(), *json),
        Command::Conversations { since, json } => oneshot::conversations(&args, *since, *json),
        Command::Ping => oneshot::ping(&args),
        Command::Trust { server, pin } => conn::trust(server, *pin).map(|done| oneshot::note(&done)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &error::CliError) -> ExitCode {
    match e {
        // The certificate-change warning is several lines of our own, one note each.
        error::CliError::Net(conn::NetError::PinMismatch { .. }) => {
            for line in e.to_string().lines() {
                oneshot::note(line);
            }
        }
        // Anything else is one line: newlines in a server's reason are shown as ^J.
        _ => oneshot::note(&e.to_string()),
    }
    e.exit_code()
}
