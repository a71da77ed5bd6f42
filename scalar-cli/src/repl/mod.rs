//! The interactive client: the editor (or plain line reader) on the main thread, the socket
//! reader on another, a printer thread between them and the terminal, and one that reads again
//! the history a reconnect could not fetch and keeps the inbox mark ([`gaps`]); [`inbox`]
//! reads what came while an account was away, at start; [`signals`] leaves cleanly on a
//! closed terminal or a `kill`.

mod catchup;
mod command;
mod complete;
mod deleted;
mod exec;
mod gaps;
mod ignore;
mod inbox;
mod lists;
mod meta;
mod moderate;
mod net;
mod paced;
mod passwd;
mod presence;
mod read;
mod rejoin;
mod screen;
mod scroll;
mod shared;
mod signals;
mod since;
mod typed;

use crate::args::Args;
use crate::error::CliError;
use crate::input;
use crate::render::colour_wanted;
use exec::Flow;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Editor, ExternalPrinter};
use scalar::proto::{Bye, MAX_REASON, Msg};
use screen::{EditorSink, Screen, StdoutSink};
use shared::Shared;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Runs the interactive client until `/quit`, end of input, or a refusal of the session.
pub fn run(args: &Args) -> Result<(), CliError> {
    // First: a signal during the password prompt then finds the terminal modes of before.
    let watched =
        signals::watch().map_err(|e| CliError::Local(format!("cannot start the signal thread: {e}")))?;
    let screen = Screen::new();
    // The chat shows what this user says from its other clients too, and who comes and goes.
    let dial = crate::conn::Dial {
        carbons: true,
        joins: !args.no_joins,
        ..crate::conn::Dial::of(args)
    };
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    // Notes (a certificate pinned on first use) go to standard error before the chat starts,
    // and are not lost if this first connection fails.
    // At a terminal, one that fails for now is tried again until it is made (a laptop opened
    // on a train) or the user gives up.
    let patience = match tty {
        true => crate::patience::Patience::Forever,
        false => crate::patience::Patience::None,
    };
    let conn = crate::patience::open(&dial, &args.id, patience, &|s| crate::oneshot::note(s))?;
    // Made before anything is rendered: whether rustyline drives this terminal decides the
    // colour of every line, those shown before the prompt (the inbox, --join's catch-up) too.
    let editor = match tty {
        true => Editing::new(),
        false => None,
    };
    let shared = Arc::new(
        Shared::new(
            conn.user.clone(),
            conn.domain.clone(),
            screen.clone(),
            // Colour only in the full terminal mode; the plain mode writes plain lines
            // (docs/CLI.md). A terminal rustyline cannot drive (TERM=dumb, Emacs's shell, a
            // screen reader's console) is a terminal, yet takes no escapes: found by helper
            // 276, whose TERM=dumb chat read out `[32m` around every sender.
            colour_wanted(editor.is_some()),
            args.timeout,
        )
        .at_terminal(tty)
        .with_password(dial.password.clone()),
    );
    let _ = watched.set(shared.clone());
    if tty {
        signals::take_interrupts();
    }
    // A password given to another domain's server logs in with its token: not an account here.
    let local = conn.user.rsplit_once('@').is_some_and(|(_, d)| d == conn.domain);
    shared.state().logged_in = dial.password.wanted() && !conn.guest && local;
    // With --join, the channels joined next are the start (found by QA: it said to /join).
    let start = match args.join.is_empty() {
        true => "/join #channel to start, ",
        false => "",
    };
    screen.info(format!(
        "connected to {}{} as {}; {start}/help for commands, /quit to leave",
        args.server,
        if conn.is_tls() { " over TLS" } else { "" },
        conn.user
    ));
    let mut conn = conn;
    read::restore_unsent(&shared);
    inbox::show_since_last_run(&shared, &mut conn);
    // Reconnections log in with the password read now; they never prompt over the chat.
    let dial = crate::conn::Dial {
        prompt: false,
        ..dial
    };
    let reader = net::spawn(shared.clone(), conn, dial)
        .map_err(|e| CliError::Local(format!("cannot start the network thread: {e}")))?;
    gaps::spawn(shared.clone())
        .map_err(|e| CliError::Local(format!("cannot start the gap-filling thread: {e}")))?;
    paced::spawn(shared.clone(), exec::send_paced)
        .map_err(|e| CliError::Local(format!("cannot start the thread of queued lines: {e}")))?;
    // As a line typed first would: a refused one says why, and the chat starts anyway.
    for channels in &args.join {
        exec::line(&shared, &format!("/join {channels}"));
    }
    let flow = editor.map(|e| editor_loop(&shared, e));
    let (flow, plain) = match flow {
        Some(f) => (f, false),
        None => {
            let shown = screen::Prompt::default();
            // Weak: the sink lives in the screen, which the chat's state holds.
            let weak = Arc::downgrade(&shared);
            let reprompt = screen::Reprompt {
                shown: shown.clone(),
                now: Box::new(move || weak.upgrade().map(|s| prompt(&s)).unwrap_or_default()),
            };
            screen.start(Box::new(StdoutSink(tty.then_some(reprompt))));
            // A terminal the editor cannot drive (TERM=dumb, Emacs's shell): a person still
            // types here, and without a prompt nothing showed where a line would go (found
            // by helper 265: after `/msg bob`, plain lines went to bob unannounced).
            if tty {
                screen.info(format!(
                    "this terminal (TERM={}) has no line editing: no completion or input \
                     history; the prompt names where a line goes",
                    std::env::var("TERM").unwrap_or_default()
                ));
            }
            (plain_loop(&shared, tty.then_some(&shown)), true)
        }
    };
    leave(&shared, flow, &reader, plain);
    // A script cannot read the error lines: what it piped in did not all happen. A person at
    // a terminal has read them.
    match (plain && !tty, shared.failures()) {
        (true, n @ 1..) => Err(CliError::Failed(format!(
            "input failed or was not sent: {n} error line(s) say what"
        ))),
        _ => Ok(()),
    }
}

/// Says Bye and lets the reader see the server close, then prints what is left: all of it for
/// plain lines (`plain`), whose reader may be a slow script; what a terminal takes within 2 s
/// otherwise.
fn leave(shared: &Shared, flow: Flow, reader: &std::thread::JoinHandle<()>, plain: bool) {
    let reason = match &flow {
        Flow::Quit(r) => r
            .as_deref()
            .map(|r| scalar::proto::clip(r, MAX_REASON).to_string()),
        Flow::Continue => None,
    };
    paced::leave(shared);
    shared.quitting.store(true, Ordering::SeqCst);
    shared.keep_mark();
    since::keep_all(shared);
    // Before the Bye, in order: what was shown last is read, for the user's next device.
    read::send_marks(shared, usize::MAX);
    let bye = Msg::Bye(Bye {
        code: 0,
        reason: reason.as_deref(),
    });
    if shared.send(&bye).is_ok() {
        // The server flushes what it queued and closes; the reader shows it, then ends.
        let until = Instant::now() + Duration::from_secs(2);
        while !reader.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    shared.disconnected();
    // What this run read and no server took is kept for the next: all of it when quitting
    // while a reconnect was pending; after a Bye, what the connection did not answer before
    // it closed (put back by `disconnected`) and what the bound on those in flight held back
    // (found in review: both were lost). A server that answered everything leaves nothing.
    read::keep_unsent(shared);
    shared.screen.info("bye");
    match plain {
        true => shared.screen.flush_all(),
        false => shared.screen.flush(Duration::from_secs(2)),
    }
    shared.screen.close();
}

/// rustyline's editor and the printer that writes above its prompt, made before the chat
/// renders anything. Nothing touches the terminal yet.
struct Editing {
    rl: Editor<complete::ChatHelper, DefaultHistory>,
    printer: Box<dyn ExternalPrinter + Send>,
    /// How rustyline counts a character's columns: how the typed line is taken back
    /// (typed.rs).
    mode: rustyline::GraphemeClusterMode,
}

impl Editing {
    /// `None` if the terminal cannot host the editor (then the chat reads plain lines): not a
    /// terminal at either end, or one rustyline does not drive (TERM=dumb, cons25, emacs).
    fn new() -> Option<Editing> {
        let config = Config::builder()
            .max_history_size(1000)
            .ok()?
            .history_ignore_dups(true)
            .ok()?
            .history_ignore_space(true)
            .auto_add_history(false)
            .completion_type(CompletionType::List)
            .build();
        let mode = config.grapheme_cluster_mode();
        let mut rl = Editor::with_config(config).ok()?;
        // ENOTTY when either end is not a terminal, or the terminal is one rustyline does not
        // drive: the caller's plain fallback handles that.
        let printer = Box::new(rl.create_external_printer().ok()?);
        Some(Editing { rl, printer, mode })
    }
}

/// The rustyline loop, on an editor [`Editing::new`] made.
fn editor_loop(shared: &Arc<Shared>, editing: Editing) -> Flow {
    let Editing {
        mut rl,
        printer,
        mode,
    } = editing;
    let ambiguous = crate::fold::Ambiguous::of_locale();
    rl.set_helper(Some(complete::ChatHelper::new(shared.clone())));
    shared.screen.start(Box::new(EditorSink(printer)));
    let history = history_path();
    if let Some(path) = &history
        && let Err(e) = rl.load_history(path)
        && path.exists()
    {
        shared
            .screen
            .error(format!("cannot read input history {}: {e}", path.display()));
    }
    let flow = loop {
        let prompt = prompt(shared);
        let read = rl.readline(&prompt);
        // Held on Enter (the validator), the screen is as rustyline left it, if still. A
        // message's typed line is then taken back once the server took it: held until then,
        // so that nothing is printed below it meanwhile.
        let take_back = match &read {
            Ok(line) if shared.screen.still() && typed::is_message(line) => {
                // Not a line taller than the screen: part of it has scrolled out of reach.
                crate::fold::size().and_then(|(c, height)| {
                    typed::rows(&prompt, line, c, mode, ambiguous).filter(|&r| r < height)
                })
            }
            _ => None,
        };
        if take_back.is_none() {
            shared.screen.release();
        }
        // A pasted line's own newline (bracketed paste keeps it) is no part of the message
        // (found by QA: an empty last line under each such paste); the rows to take back are
        // those drawn, newline included (review 228).
        let read = read.map(|l| l.trim_end_matches(['\n', '\r']).to_string());
        match read {
            Ok(line) => {
                let talking_to = shared.state().current.clone();
                if !line.trim().is_empty() && !command::holds_secret(&line, talking_to.as_deref()) {
                    let _ = rl.add_history_entry(line.as_str());
                }
                let (flow, sent) = exec::line_sent(shared, &line);
                if let Some(rows) = take_back {
                    if sent {
                        typed::erase(rows);
                    }
                    shared.screen.release();
                }
                if let Flow::Quit(r) = flow {
                    break Flow::Quit(r);
                }
            }
            // Ctrl-C clears the line, as in a shell; Ctrl-D leaves.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break Flow::Quit(None),
            Err(e) => {
                shared.screen.error(format!("terminal: {e}"));
                break Flow::Quit(None);
            }
        }
    };
    // Appended under the file's lock rather than written whole: with two sessions open, the
    // one that quits first would otherwise lose its lines to the other's copy.
    if let Some(path) = &history
        && let Err(e) = rl.append_history(path)
    {
        shared
            .screen
            .error(format!("cannot save input history {}: {e}", path.display()));
    }
    flow
}

/// `#rust> `, or `scalar> ` with no current topic.
fn prompt(shared: &Shared) -> String {
    let st = shared.state();
    let here = st
        .current
        .as_deref()
        .map(|c| crate::names::short(c, &st.domain).to_string());
    let mark = if st.connected { "> " } else { " (offline)> " };
    format!("{}{mark}", here.as_deref().unwrap_or("scalar"))
}

/// Lines from a pipe or file: the same commands, no editing, output as plain lines. At a
/// terminal the editor cannot drive (`at_terminal`, the prompt shown, for the printer to show
/// again after what arrives), each line is asked for with the prompt.
fn plain_loop(shared: &Shared, at_terminal: Option<&screen::Prompt>) -> Flow {
    let stdin = std::io::stdin();
    let mut line_no = 0u64;
    loop {
        line_no += 1;
        if let Some(shown) = at_terminal {
            // What the last line printed comes first, so the prompt is the last thing shown.
            shared.screen.flush(Duration::from_millis(500));
            let text = prompt(shared);
            let mut shown = shown.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut out = std::io::stdout().lock();
            // A prompt that cannot be written changes nothing the line would do.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            *shown = Some(text);
        }
        // Locked for one line only (not for the match, as a temporary in its head would be): a
        // command may read the next lines itself (`/passwd` its passwords; found by QA: the
        // lock held across it waited for good).
        let read = input::read_line(&mut stdin.lock());
        if let Some(shown) = at_terminal {
            // Typed: what arrives now starts a line of its own already.
            *shown.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        }
        match read {
            Ok(None) => {
                paced::finish(shared);
                return Flow::Quit(None);
            }
            Ok(Some(Ok(line))) => {
                // Read no faster than the server takes the lines (found by QA: past 50
                // queued, a pipe's lines were refused).
                shared.paced.wait_for_room();
                if let Flow::Quit(reason) = exec::line(shared, &line) {
                    return Flow::Quit(reason);
                }
            }
            Ok(Some(Err(bad))) => {
                shared.line_failed(format!("line {line_no} is {}; not sent", bad.describe()))
            }
            Err(e) => {
                shared.line_failed(format!("cannot read standard input: {e}"));
                return Flow::Quit(None);
            }
        }
    }
}

/// `$XDG_DATA_HOME/scalar-cli/history`, else `~/.local/share/scalar-cli/history`; the folder is
/// created (private to the user) if missing. `None` if there is none (no home, or the folder cannot be made).
pub fn history_path() -> Option<PathBuf> {
    crate::paths::data_file("history").ok()
}
