//! The one-shot modes for scripts: send, listen, history, search, topics, conversations, ping. Each opens one
//! connection, does its work on this thread and says Bye.

mod history;

pub use history::{history, search};

use crate::args::After;

use crate::args::Args;
use crate::conn::{Conn, NetError};
use crate::error::CliError;
use crate::event::Received;
use crate::input::{self, BadLine};
use crate::names;
use crate::{json, render};
use scalar::client::HELD_FRAMES;
use scalar::proto::{Body, Conversations, ErrorCode, Kind, Message, Msg, MsgId, Ping, Sub, Topics};
use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

/// How long a listener waits in silence before it pings the server itself, to notice a server
/// that vanished without closing the connection.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// How long to wait for the server to close after Bye.
const BYE_WAIT: Duration = Duration::from_secs(1);

/// Where output goes; a closed pipe (`| head -1`) ends the run quietly.
struct Out {
    out: io::Stdout,
    ambiguous: crate::fold::Ambiguous,
}

/// Standard output was closed by the reader: stop, successfully.
struct Closed;

impl Out {
    fn new() -> Out {
        Out {
            out: io::stdout(),
            ambiguous: crate::fold::Ambiguous::of_locale(),
        }
    }

    fn line(&mut self, s: &str) -> Result<Result<(), Closed>, CliError> {
        let mut lock = self.out.lock();
        match writeln!(lock, "{s}").and_then(|()| lock.flush()) {
            Ok(()) => Ok(Ok(())),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Err(Closed)),
            Err(e) => Err(CliError::Local(format!("cannot write to standard output: {e}"))),
        }
    }

    /// One Event, as a JSON object or a plain line: one line each for a script, but a plain
    /// line folded at a terminal's width (see [`fold`](crate::fold)), so that text padded to
    /// its edge does not start a line there.
    fn event(&mut self, e: &Received, json: bool) -> Result<Result<(), Closed>, CliError> {
        if json {
            return self.line(&json::event(e));
        }
        let line = render::plain_line(e);
        match crate::fold::columns() {
            Some(columns) => self.line(&crate::fold::fold(&line, columns, self.ambiguous)),
            None => self.line(&line),
        }
    }
}

/// Writes a note for the person running the command to standard error.
/// It may quote the server, so it is cleaned like any other text from the network.
/// A bare word is a channel in the one-shot modes but a user after `/msg`: says which it was
/// taken for, and what the ID would have done instead.
fn say_if_bare(raw_topic: &str, topic: &str, doing: &str, instead: &str) {
    if !raw_topic.trim().starts_with(['#', '!']) && !raw_topic.contains('@') {
        let user = topic.trim_start_matches('#');
        note(&format!(
            "{doing} the channel {topic}; {instead} needs the ID ({user})"
        ));
    }
}

pub fn note(s: &str) {
    let _ = writeln!(io::stderr(), "scalar-cli: {}", crate::render::clean_line(s));
}

fn open(args: &Args) -> Result<Conn, CliError> {
    open_as(args).map(|(conn, _)| conn)
}

/// [`open`], and whether the session logged in to an account of this server (a password, typed
/// or given, and not a guest), which alone has an inbox here.
fn open_as(args: &Args) -> Result<(Conn, bool), CliError> {
    use crate::patience::Patience;
    let patience = args
        .retry
        .map_or(Patience::None, |d| Patience::Until(std::time::Instant::now() + d));
    let dial = crate::conn::Dial::of(args);
    let conn = crate::patience::open(&dial, &args.id, patience, &|s| note(s))?;
    // A password given to another domain's server logs in with its token: not an account here.
    let local = conn.user.rsplit_once('@').is_some_and(|(_, d)| d == conn.domain);
    let account = dial.password.wanted() && !conn.guest && local;
    Ok((conn, account))
}

fn fold_topic(raw: &str, conn: &Conn) -> Result<String, CliError> {
    names::topic(raw, &conn.domain, names::Default::Channel).map_err(CliError::Usage)
}

fn subscribe(conn: &mut Conn, topic: &str, timeout: Duration) -> Result<(), CliError> {
    let name = scalar::proto::Name::parse(topic).map_err(|e| CliError::Usage(format!("{topic}: {e}")))?;
    conn.request(timeout, |seq| Msg::Sub(Sub { seq, topic: name }))?;
    Ok(())
}

/// `send TOPIC [TEXT...]`: sends TEXT, or each non-empty line of standard input, and waits for
/// each echo, so that success means the server accepted every message.
pub fn send(
    args: &Args,
    raw_topic: &str,
    text: Option<&str>,
    reply_to: Option<MsgId>,
    action: bool,
    json: bool,
) -> Result<(), CliError> {
    if let Some(t) = text {
        // As an empty line of standard input is skipped.
        if t.is_empty() {
            return Err(CliError::Usage("TEXT is empty: nothing to send".into()));
        }
        input::check_len(t)
            .map_err(|e| CliError::Input(format!("TEXT is {}; nothing was sent", e.describe())))?;
    }
    // At a terminal it connects first, as a password may have to be asked for there (review:
    // the reader thread holds standard input, and the prompt waited for it for good). From a
    // pipe it reads a line first: nothing to send needs no server, and shows the channel's
    // members no join and quit.
    let mut conn = match text.is_none() && io::stdin().is_terminal() {
        true => Some(open(args)?),
        false => None,
    };
    let mut lines = text.is_none().then(Lines::read_stdin);
    let first = match (text, lines.as_mut()) {
        (Some(t), _) => t.to_string(),
        (None, Some(lines)) => {
            let waiting = conn.as_mut().map(|c| {
                let quiet = quiet(c);
                (c, quiet, args.timeout)
            });
            match lines.next(waiting)? {
                Some(t) => t,
                None => {
                    if let Some(c) = conn {
                        c.bye(None, BYE_WAIT);
                    }
                    return Ok(());
                }
            }
        }
        (None, None) => return Ok(()),
    };
    let mut conn = match conn {
        Some(c) => c,
        None => open(args)?,
    };
    // The channel's Events are not this mode's business: a sender that runs for hours must
    // not hold 1024 of them (review).
    conn.hold_at_most(0);
    let topic = fold_topic(raw_topic, &conn)?;
    let name = scalar::proto::Name::parse(&topic).map_err(|e| CliError::Usage(format!("{topic}: {e}")))?;
    // A message meant for one person would otherwise sit in a channel's history for anyone
    // to read.
    say_if_bare(raw_topic, &topic, "sending to", "a direct message");
    if name.kind() == scalar::proto::Kind::Channel {
        // Only subscribers may publish to a channel (PROTOCOL.md §4, not_subscribed).
        subscribe(&mut conn, &topic, args.timeout)?;
    }
    let mut out = Out::new();
    // Returns the echo as `--json` prints it, for the caller to write once it has counted the
    // message as sent: a failed write is no failure to send.
    let publish = |conn: &mut Conn, text: &str| -> Result<Option<String>, CliError> {
        let mut resend = crate::resend::Resend::default();
        let echo = loop {
            let sent = conn.request(args.timeout, |seq| {
                Msg::Message(Message {
                    seq,
                    topic: name,
                    body: Body::Text(text),
                    // As the chat's `/me` sends it (a bot's "* ci-bot deployed 1.4").
                    ctype: action.then_some(crate::event::ACTION),
                    reply_to,
                })
            });
            // A refusal that names a short wait (a channel's rate, an away inbox's) is waited
            // out, so that a script's lines come out at the pace the server takes them.
            // Only a refusal of this message: a session that ended may have taken it.
            let Err(NetError::Refused {
                retry_after: Some(told),
                ..
            }) = sent
            else {
                break sent;
            };
            let wait = match resend.next(told) {
                Ok(wait) => wait,
                Err(why) => {
                    note(&why);
                    break sent;
                }
            };
            let e = sent.err().map(|e| e.to_string()).unwrap_or_default();
            note(&format!("{e}; sending it again in {:.1}s", wait.as_secs_f32()));
            // On the connection, not asleep: a server that stops meanwhile ends the wait.
            conn.wait(wait).inspect_err(|_| {
                note("the connection ended while waiting to send the message again: it was not sent")
            })?;
        }
        .inspect_err(|e| {
            // Only a refusal says it was not published: a server that stopped answering
            // may still publish it (under `--fsync always`, once a failing disk works
            // again), and a script that sends it again would post it twice.
            if !matches!(e, NetError::Refused { .. }) {
                note(&format!(
                    "no answer to the message: it may still be published; look with \
                     `scalar-cli history {topic}` before sending it again"
                ));
            }
        })?;
        // The echo gives a script the id to answer or thread on.
        Ok(match (json, echo.msg()) {
            (true, Ok(Msg::Event(e))) => Some(json::event(&Received::new(&e))),
            _ => None,
        })
    };
    // A closed output is no reason to stop sending; another failure to write is (exit 1), but
    // the message whose echo it was is published, and a script must not send it again (found
    // by a script author: `send --json > /dev/full` said `0 message(s) before line 1 were
    // sent` of a line the channel had).
    let mut print = |echo: Option<String>, sent: &str| -> Result<(), CliError> {
        match echo.map(|line| out.line(&line)) {
            Some(Err(e)) => {
                note(&format!("{sent}; its echo could not be written"));
                Err(e)
            }
            _ => Ok(()),
        }
    };
    let Some(lines) = lines.as_mut() else {
        let echo = publish(&mut conn, &first)?;
        print(echo, "the message was sent")?;
        conn.bye(None, BYE_WAIT);
        return Ok(());
    };
    let quiet = quiet(&conn);
    let mut next = Some(first);
    while let Some(text) = next {
        let echo = publish(&mut conn, &text).inspect_err(|_| {
            note(&format!(
                "{} message(s) before line {} were sent",
                lines.sent, lines.line_no
            ))
        })?;
        lines.sent += 1;
        print(
            echo,
            &format!(
                "{} message(s) were sent, line {} the last",
                lines.sent, lines.line_no
            ),
        )?;
        next = lines.next(Some((&mut conn, quiet, args.timeout)))?;
    }
    conn.bye(None, BYE_WAIT);
    Ok(())
}

/// The shortest wait for a line of input before the sender pings the server.
const MIN_QUIET: Duration = Duration::from_millis(100);

/// How long `send` waits for a line before it pings the server. Between lines the server
/// still hears from it: a sender fed by a pipe that is quiet for minutes stays connected,
/// rather than failing the next line (found by QA: a bot's sender was closed for not answering
/// Pings).
fn quiet(conn: &Conn) -> Duration {
    conn.keepalive
        .map_or(KEEPALIVE, |k| (k / 2).clamp(MIN_QUIET, KEEPALIVE))
}

/// Standard input's lines, read on a thread of their own so that the sender can answer the
/// server while it waits for the next one.
struct Lines {
    rx: mpsc::Receiver<io::Result<Option<Result<String, BadLine>>>>,
    /// Rung by the reader after each line it hands over (and at its end), so that the sender
    /// can wait in poll(2) for a line and for the server together; `None` if the socket pair
    /// could not be made, and the sender then waits for lines alone, as it did before.
    wake: Option<UnixStream>,
    line_no: u64,
    sent: u64,
}

/// What ended a sender's wait for its next line.
enum Woken {
    /// The reader handed over a line, or ended.
    Line,
    /// The server sent something (or closed the connection).
    Server,
    /// Neither, within the wait.
    Quiet,
}

impl Lines {
    fn read_stdin() -> Lines {
        // One line ahead at most: the rest waits in the pipe, not in memory.
        let (tx, rx) = mpsc::sync_channel(1);
        // Both ends non-blocking: a ring that finds the pair full (the sender has not drained
        // it yet) is not needed, and the reader must never wait on it.
        let pair = UnixStream::pair().and_then(|(r, w)| {
            r.set_nonblocking(true)?;
            w.set_nonblocking(true)?;
            Ok((r, w))
        });
        let (wake, ring) = match pair {
            Ok((r, w)) => (Some(r), Some(w)),
            Err(_) => (None, None),
        };
        std::thread::spawn(move || {
            let stdin = io::stdin();
            let mut r = stdin.lock();
            // A byte-order mark before the first line (text saved by Windows editors) is no
            // part of it.
            if r.fill_buf().is_ok_and(|b| b.starts_with("\u{feff}".as_bytes())) {
                r.consume(3);
            }
            loop {
                let line = input::read_line(&mut r);
                let last = !matches!(line, Ok(Some(_)));
                let sent = tx.send(line);
                if let Some(mut ring) = ring.as_ref() {
                    let _ = ring.write(&[1]);
                }
                if sent.is_err() || last {
                    break;
                }
            }
        });
        Lines {
            rx,
            wake,
            line_no: 0,
            sent: 0,
        }
    }

    /// Waits up to `wait` for a line or for the server, whichever comes first. A server that
    /// ends the session while the input is quiet (a restart: 504 shutting_down) is then seen
    /// at once, not at the next Ping, up to 30 s later: meanwhile a script that checked
    /// `kill -0` wrote its next line into the pipe, and the sender took it and failed on it
    /// (found by a script author feeding `send` through a FIFO across a server restart).
    fn wait(&self, conn: &mut Conn, wait: Duration) -> Woken {
        use std::os::fd::AsRawFd;
        let Some(wake) = &self.wake else {
            return Woken::Line;
        };
        if conn.has_buffered_input() {
            return Woken::Server;
        }
        let fds = [
            (wake.as_raw_fd(), libc::POLLIN),
            (conn.stream().as_raw_fd(), libc::POLLIN),
        ];
        match crate::poll::two(fds, Some(wait)) {
            // Interrupted by a signal that did not end the process: look again.
            Err(_) => Woken::Line,
            Ok([line, _]) if line != 0 => {
                // Drained: the channel, not the rings, says how many lines wait.
                let mut buf = [0u8; 64];
                while matches!((&*wake).read(&mut buf), Ok(n) if n > 0) {}
                Woken::Line
            }
            Ok([_, 0]) => Woken::Quiet,
            Ok(_) => Woken::Server,
        }
    }

    /// The next non-empty line; `None` at the end of the input. With a connection, waits for
    /// the server too: answers its Pings, ends as soon as it ends the session, and pings it
    /// whenever the input is quiet for `quiet`, each Ping given `timeout`.
    fn next(
        &mut self,
        mut conn: Option<(&mut Conn, Duration, Duration)>,
    ) -> Result<Option<String>, CliError> {
        // When the sender pings the server if no line comes first.
        let mut ping_at = conn.as_ref().map(|(_, quiet, _)| Instant::now() + *quiet);
        loop {
            let line = match (&mut conn, ping_at) {
                (Some((c, quiet, timeout)), Some(at)) => {
                    let left = at.saturating_duration_since(Instant::now());
                    let woken = match self.rx.try_recv() {
                        Ok(line) => Ok(line),
                        Err(TryRecvError::Disconnected) => return Ok(None),
                        Err(TryRecvError::Empty) if self.wake.is_some() => Err(self.wait(c, left)),
                        // No socket pair: waits for the line alone, as before.
                        Err(TryRecvError::Empty) => match self.rx.recv_timeout(left) {
                            Ok(line) => Ok(line),
                            Err(RecvTimeoutError::Timeout) => Err(Woken::Quiet),
                            Err(RecvTimeoutError::Disconnected) => return Ok(None),
                        },
                    };
                    let ended = |_: &NetError| {
                        note(&format!(
                            "{} message(s) were sent; the connection ended while waiting for \
                             line {} of standard input",
                            self.sent,
                            self.line_no + 1
                        ))
                    };
                    match woken {
                        Ok(line) => line,
                        Err(Woken::Line) => continue,
                        // Answers the server's Pings, drops its news (the sender holds none)
                        // and fails as soon as the session has ended.
                        Err(Woken::Server) => {
                            c.wait(Duration::from_millis(1)).inspect_err(ended)?;
                            continue;
                        }
                        Err(Woken::Quiet) => {
                            c.ping(*timeout).inspect_err(ended)?;
                            ping_at = Some(Instant::now() + *quiet);
                            continue;
                        }
                    }
                }
                // The reader ends only after the end or an error, which came first.
                _ => match self.rx.recv() {
                    Ok(line) => line,
                    Err(_) => return Ok(None),
                },
            };
            self.line_no += 1;
            match line.map_err(|e| CliError::Local(format!("cannot read standard input: {e}")))? {
                None => return Ok(None),
                Some(Ok(t)) if t.is_empty() => {}
                Some(Ok(t)) => return Ok(Some(t)),
                Some(Err(bad)) => return Err(self.bad_line(&bad)),
            }
        }
    }

    fn bad_line(&self, bad: &BadLine) -> CliError {
        CliError::Input(format!(
            "line {} of standard input is {}; it and the lines after it were not sent \
             ({} message(s) before it were)",
            self.line_no,
            bad.describe(),
            self.sent
        ))
    }
}

/// `listen [TOPIC...] [--after ID | --since TIME] [--count N] [--json]`: subscribes and prints
/// each Event as it arrives, direct messages included (only those, without TOPIC); with
/// `from`, first what the one TOPIC got since (or, if the server does not have `from`'s
/// message, since the time with it: `--after ID --since TIME`).
///
/// One thread does everything, so a reader that stops reading standard output stops this
/// process from reading the socket; the server then drops the connection as a slow consumer
/// and the run fails loudly (exit 3) instead of dropping events silently.
pub fn listen(
    args: &Args,
    raw_topics: &[String],
    (from, or_since): (Option<After>, Option<u64>),
    count: Option<u64>,
    json: bool,
) -> Result<(), CliError> {
    let began = Instant::now();
    let (mut conn, account) = open_as(args)?;
    // The channels still listened to: once kicked or banned from all of them, there is
    // nothing left to wait for.
    let mut topics = Vec::new();
    for raw in raw_topics {
        let topic = names::channel(raw, &conn.domain).map_err(CliError::Usage)?;
        subscribe(&mut conn, &topic, args.timeout)?;
        topics.push(topic);
    }
    let mut out = Out::new();
    let mut seen = 0u64;
    if count == Some(0) {
        conn.bye(None, BYE_WAIT);
        return Ok(());
    }
    // What to read first: the one TOPIC from where asked; and an account's inbox since this
    // run began, by the server's clock: a direct message sent while `listen` logged in (its
    // password checked) reached an account still away, which the server keeps for it, and was
    // never printed (found by a script author). When the run began is told by the monotonic
    // clock, as the wall clock may step meanwhile (NTP at boot, when a unit starts listen).
    let mut firsts = Vec::new();
    if let (Some(from), [topic]) = (from, topics.as_slice()) {
        let from = match from {
            After::Time(t) => After::Time(args.on_server_clock(t, conn.skew_ms)),
            id => id,
        };
        let or_since = or_since.map(|t| args.on_server_clock(t, conn.skew_ms));
        firsts.push((topic.clone(), (from, or_since), false));
    }
    if account {
        let since = began_on_server_clock(crate::timefmt::now_ms(), conn.skew_ms, began.elapsed());
        firsts.push((conn.user.clone(), (After::Time(since), None), true));
    }
    // What each catch-up printed, by topic, until the live Events of that topic that came
    // meanwhile (the same ones, then newer) are past.
    let mut replayed: HashMap<String, HashSet<MsgId>> = HashMap::new();
    for (topic, from, unasked) in firsts {
        let each = |e: &Received| -> Result<bool, CliError> {
            if out.event(e, json)?.is_err() {
                return Ok(false);
            }
            seen += 1;
            Ok(count.is_none_or(|n| seen < n))
        };
        match history::catch_up(&mut conn, args.timeout, &topic, from, unasked, each)? {
            Some(ids) => {
                replayed.insert(topic, ids);
            }
            None => {
                conn.bye(None, BYE_WAIT);
                return Ok(());
            }
        }
    }
    // Silence: ping; more silence: give up (`silences`).
    let (quiet, answer) = crate::conn::silences(&conn);
    conn.set_read_timeout(Some(quiet)).map_err(NetError::from)?;
    let mut pinged = false;
    // A connection-level Error, held for a moment for the Bye that may follow it: then one
    // line says both (`crate::conn::ended`).
    let mut held: Option<(u16, String)> = None;
    let show = |held: Option<(u16, String)>| {
        if let Some((code, reason)) = held {
            note(&NetError::refused(code, Some(&reason)).to_string());
        }
    };
    loop {
        let frame = match next_frame(&mut conn) {
            Next::OutputClosed => break,
            Next::Frame(f) => f,
        };
        let frame = match frame {
            Ok(f) => f,
            Err(NetError::Timeout(_)) if held.is_some() => {
                show(held.take());
                conn.set_read_timeout(Some(quiet)).map_err(NetError::from)?;
                continue;
            }
            Err(NetError::Timeout(_)) if !pinged => {
                pinged = true;
                let time = crate::timefmt::now_ms();
                conn.send(&Msg::Ping(Ping { seq: None, time }))?;
                conn.set_read_timeout(Some(answer)).map_err(NetError::from)?;
                continue;
            }
            Err(NetError::Timeout(_)) => return Err(NetError::Timeout("the server to answer a Ping").into()),
            Err(e) => {
                show(held.take());
                return Err(e.into());
            }
        };
        if std::mem::take(&mut pinged) {
            conn.set_read_timeout(Some(quiet)).map_err(NetError::from)?;
        }
        match conn.take_lost() {
            0 => {}
            n => note(&format!(
                "{n} event(s) that came while subscribing or catching up were not kept (more \
                 than {HELD_FRAMES}): some may be missing here"
            )),
        }
        let msg = match frame.msg() {
            Ok(m) => m,
            Err(e) => {
                note(&format!("skipped a frame the server sent: {e}"));
                continue;
            }
        };
        if held.is_some() && !matches!(msg, Msg::Bye(_)) {
            show(held.take());
            conn.set_read_timeout(Some(quiet)).map_err(NetError::from)?;
        }
        match msg {
            Msg::Event(ev) => {
                let kind = ev.topic.kind();
                let e = Received::new(&ev);
                if let Some(ids) = replayed.get(&e.topic) {
                    if ids.contains(&e.id) {
                        continue;
                    }
                    // Live Events come in order: from here on none of this topic was replayed.
                    replayed.remove(&e.topic);
                }
                if out.event(&e, json)?.is_err() {
                    break;
                }
                // The server's announcements (the message of the day, walls) and an invitation
                // to a channel not listened to are shown but not counted: `--count 1` waits
                // for the next Event of the topics or a DM.
                let elsewhere = kind == Kind::Channel && !topics.contains(&e.topic);
                if kind == Kind::Reserved || elsewhere {
                    continue;
                }
                seen += 1;
                if count.is_some_and(|n| seen >= n) {
                    break;
                }
            }
            Msg::Ping(p) => conn.send(&Msg::Pong(p))?,
            Msg::Bye(b) => {
                let (end, unshown) = crate::conn::ended(held.take(), &b);
                show(unshown);
                return Err(end.into());
            }
            Msg::Error(e) => {
                let Some(out_of) = e.topic.filter(|_| e.code == ErrorCode::Kicked as u16) else {
                    conn.set_read_timeout(Some(crate::conn::HOLD))
                        .map_err(NetError::from)?;
                    held = Some((e.code, e.reason.unwrap_or_default().to_string()));
                    continue;
                };
                let refusal = NetError::refused(e.code, e.reason);
                topics.retain(|t| t != out_of.as_str());
                if topics.is_empty() {
                    // The refusal is the run's error, said once, last.
                    note("no channel left to listen to");
                    conn.bye(None, BYE_WAIT);
                    return Err(refusal.into());
                }
                note(&refusal.to_string());
            }
            _ => {}
        }
    }
    conn.bye(None, BYE_WAIT);
    Ok(())
}

/// What ended a listener's wait for the server's next frame.
enum Next {
    /// A frame, or why none came (a timeout is the socket's read timeout running out).
    Frame(Result<scalar::client::Frame, NetError>),
    /// Whoever read standard output is gone (`| head -n 3` has its lines).
    OutputClosed,
}

/// The server's next frame, unless the reader of standard output goes away first. A write
/// would find that out only at the next Event, and in a quiet channel none may come for hours:
/// `listen | head -n 3` then never ended, nor did a listener whose pipeline's reader died
/// (found by a script author). So while no input is buffered this waits in poll(2) on the
/// socket and on standard output together: asked for no event, standard output reports only
/// POLLERR (a pipe or FIFO whose readers all closed) or POLLHUP (a socket shut, a terminal
/// hung up), never for a file or a pipe that is merely full. The wait is the socket's read
/// timeout, so the caller's silences (ping, then give up) run as before.
fn next_frame(conn: &mut Conn) -> Next {
    use std::os::fd::AsRawFd;
    if conn.has_buffered_input() {
        return Next::Frame(conn.recv());
    }
    let wait = match conn.stream().read_timeout() {
        Ok(w) => w,
        Err(e) => return Next::Frame(Err(e.into())),
    };
    // Standard output stays open: the runtime opens /dev/null in its place if it was closed
    // at start, for which poll reports nothing.
    let fds = [
        (conn.stream().as_raw_fd(), libc::POLLIN),
        (io::stdout().as_raw_fd(), 0),
    ];
    match crate::poll::two(fds, wait) {
        // Interrupted (a signal that did not end the process), or an error poll alone has:
        // the read says what the socket has, as it did before this wait.
        Err(_) => Next::Frame(conn.recv()),
        Ok([_, out]) if out & (libc::POLLERR | libc::POLLHUP) != 0 => Next::OutputClosed,
        Ok([0, 0]) => Next::Frame(Err(NetError::Timeout("the server"))),
        // The socket is readable, or failed, which the read reports (or standard output was
        // invalid, POLLNVAL, which cannot be watched: the read waits its timeout as before).
        Ok(_) => Next::Frame(conn.recv()),
    }
}

/// The most pages of 100 channels `topics` reads: a million channels.
const TOPICS_PAGES: u32 = 10_000;

/// `topics [TEXT] [--json]`: lists every channel (that matches TEXT), with its subscribers and
/// topic line in JSON.
pub fn topics(args: &Args, query: Option<&str>, json: bool) -> Result<(), CliError> {
    // Said as it is looked for: `topics '*'` lists every channel.
    let query = query.and_then(crate::listing::looked_for);
    let mut conn = open(args)?;
    let mut out = Out::new();
    let list = crate::listing::channels(TOPICS_PAGES, query, |t| {
        conn.request(args.timeout, |seq| Msg::Topics(Topics { seq, ..t }))
    })?;
    for c in &list.items {
        let line = if json {
            let subject = (!c.subject.is_empty()).then_some(c.subject.as_str());
            let display = (!c.display.is_empty()).then_some(c.display.as_str());
            let obj = json::Object::new().str("topic", &c.name);
            match c.subscribers {
                Some(n) => obj.num("subscribers", n),
                None => obj,
            }
            .opt_str("subject", subject)
            .opt_str("display", display)
            .finish()
        } else {
            c.name.clone()
        };
        if out.line(&line)?.is_err() {
            return Ok(());
        }
    }
    match (list.cut, query) {
        (true, None) => note(&format!(
            "stopped after {} topics of {}",
            list.items.len(),
            list.total
        )),
        (true, Some(_)) => note(&format!(
            "stopped after looking through {TOPICS_PAGES} pages: more channels may match"
        )),
        (false, None) if list.items.is_empty() => note("no channels: none listed to you on this server"),
        (false, Some(q)) if list.items.is_empty() => note(&format!(
            "no channel's name, display name or topic line holds \"{q}\""
        )),
        _ => {}
    }
    conn.bye(None, BYE_WAIT);
    Ok(())
}

/// The most pages of 100 conversations `conversations` reads: a million.
const CONVERSATIONS_PAGES: u32 = 10_000;

/// `conversations [--since TIME] [--json]`: the user's conversations (with messages after
/// TIME), newest first: each other user's ID, in JSON with the time of the newest message.
pub fn conversations(args: &Args, since: Option<u64>, json: bool) -> Result<(), CliError> {
    let mut conn = open(args)?;
    let since = since.map(|t| args.on_server_clock(t, conn.skew_ms));
    let mut out = Out::new();
    let list = crate::listing::conversations(CONVERSATIONS_PAGES, since, |c| {
        conn.request(args.timeout, |seq| Msg::Conversations(Conversations { seq, ..c }))
    })?;
    let mut list = match list {
        Ok(list) => list,
        // Either way no list is a server's choice, not the user's fault: said, exit 0.
        Err(why) => {
            note(&format!("{} (this does not mean there are none)", why.said()));
            conn.bye(None, BYE_WAIT);
            return Ok(());
        }
    };
    list.items
        .sort_by(|a, b| b.newest.cmp(&a.newest).then_with(|| a.with.cmp(&b.with)));
    for c in &list.items {
        let line = match json {
            true => json::Object::new()
                .str("with", &c.with)
                .num("time", c.newest)
                .finish(),
            false => c.with.clone(),
        };
        if out.line(&line)?.is_err() {
            return Ok(());
        }
    }
    match (list.cut, list.items.is_empty()) {
        (true, _) => note(&format!(
            "stopped after {} conversations: more may have messages",
            list.items.len()
        )),
        (false, true) => note("no conversations"),
        (false, false) => {}
    }
    conn.bye(None, BYE_WAIT);
    Ok(())
}

/// `ping`: connects, identifies, and measures one round trip.
pub fn ping(args: &Args) -> Result<(), CliError> {
    let mut conn = open(args)?;
    let ms = conn.ping(args.timeout)?;
    // The ID too: the server completes a bare one, or picks a guest's, and a bot that skips
    // its own Events needs it whole (found by QA).
    let line = format!(
        "pong from {} ({}) in {ms:.2} ms, as {}",
        conn.peer, conn.domain, conn.user
    );
    let _ = Out::new().line(&line)?;
    conn.bye(None, BYE_WAIT);
    Ok(())
}

/// How much earlier than a run's start its inbox is read from. The clocks are read in whole
/// ms (this machine's now and at the Ident, the server's then, the time since the start), each
/// rounded down, which can put the start up to 2 ms late; and a range runs from after its
/// start, so a message stamped in the ms the run began was left out (CI, once). A message of
/// the few ms before the run may be printed; none of the run is missed.
const ROUNDING_MS: u64 = 3;

/// When a run began `ago`, by the server's clock, less [`ROUNDING_MS`]: `now_ms` is this
/// machine's wall clock and `skew_ms` how far the server's ran ahead of it at its Ident (none:
/// the same). A wall-clock time taken back then and moved by the skew would carry a step of
/// this machine's clock made since: a step back would put it past what the server stamped
/// meanwhile.
fn began_on_server_clock(now_ms: u64, skew_ms: Option<i64>, ago: Duration) -> u64 {
    let ago = u64::try_from(ago.as_millis()).unwrap_or(u64::MAX);
    now_ms
        .saturating_add_signed(skew_ms.unwrap_or(0))
        .saturating_sub(ago)
        .saturating_sub(ROUNDING_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_ago_on_the_server_s_clock() {
        let s = Duration::from_secs;
        assert_eq!(began_on_server_clock(10_000, None, s(2)), 7_997);
        assert_eq!(began_on_server_clock(10_000, Some(500), s(2)), 8_497);
        assert_eq!(began_on_server_clock(10_000, Some(-500), s(2)), 7_497);
        assert_eq!(
            began_on_server_clock(1_000, Some(-5_000), s(2)),
            0,
            "not before the epoch"
        );
    }
}
