//! Parsing a typed line into a command. Pure: no state, no I/O, so every error message can be
//! tested.

/// Every command: name, arguments, what it does. Drives `/help`, completion and errors.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "/join",
        "TOPIC",
        "subscribe to a channel; it becomes the current topic",
    ),
    ("/part", "[TOPIC]", "unsubscribe (default: the current topic)"),
    ("/switch", "TOPIC", "make a joined channel the current topic"),
    (
        "/msg",
        "ID [TEXT]",
        "send a direct message; without TEXT, talk with ID (lines, /history, /search go there)",
    ),
    ("/me", "TEXT", "send an action (* you TEXT)"),
    (
        "/reply",
        "REF TEXT",
        "answer the message whose ref (hex shown before it) is REF",
    ),
    ("/topics", "", "list the server's channels (* = joined)"),
    (
        "/history",
        "[N]",
        "the last N messages of the current topic or conversation (default 50)",
    ),
    (
        "/search",
        "WORDS",
        "the newest 50 messages of the current topic with every word",
    ),
    (
        "/more",
        "",
        "go further back: the next page of the last /history or /search",
    ),
    ("/ping", "", "measure the round trip to the server"),
    ("/help", "", "this list"),
    ("/quit", "[REASON]", "leave"),
];

/// The most messages `/history` asks for at once.
pub const MAX_HISTORY: u32 = 10_000;
/// How many messages `/history` shows unless told otherwise.
pub const DEFAULT_HISTORY: u32 = 50;

/// A parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// Nothing to do (an empty line).
    Nothing,
    /// Text for the current topic.
    Say(&'a str),
    /// `/join TOPIC`.
    Join(&'a str),
    /// `/part [TOPIC]`.
    Part(Option<&'a str>),
    /// `/switch TOPIC`.
    Switch(&'a str),
    /// `/msg ID TEXT`.
    Msg(&'a str, &'a str),
    /// `/msg ID`: talk with ID.
    Talk(&'a str),
    /// `/me TEXT`.
    Me(&'a str),
    /// `/reply REF TEXT`.
    Reply(&'a str, &'a str),
    /// `/topics`.
    Topics,
    /// `/history [N]`.
    History(u32),
    /// `/search WORDS`.
    Search(&'a str),
    /// `/more`.
    More,
    /// `/ping`.
    Ping,
    /// `/help`.
    Help,
    /// `/quit [REASON]`.
    Quit(Option<&'a str>),
}

/// The usage line of a command, for error messages.
fn usage(name: &str) -> String {
    match COMMANDS.iter().find(|(n, _, _)| *n == name) {
        Some((n, "", _)) => format!("usage: {n}"),
        Some((n, a, _)) => format!("usage: {n} {a}"),
        None => String::new(),
    }
}

/// Splits off the first word; the rest keeps its inner spacing.
fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (s.get(..i).unwrap_or(s), s.get(i..).unwrap_or("").trim_start()),
        None => (s, ""),
    }
}

/// Parses one line. `//text` sends `/text` literally.
pub fn parse(line: &str) -> Result<Command<'_>, String> {
    if line.trim().is_empty() {
        return Ok(Command::Nothing);
    }
    if let Some(rest) = line.strip_prefix("//") {
        return Ok(Command::Say(line.get(1..).unwrap_or(rest)));
    }
    let Some(body) = line.strip_prefix('/') else {
        return Ok(Command::Say(line));
    };
    let (name, rest) = word(body);
    let rest = rest.trim_end();
    let name = format!("/{}", name.to_ascii_lowercase());
    let need = |cond: bool| if cond { Ok(()) } else { Err(usage(&name)) };
    let cmd = match name.as_str() {
        "/join" | "/j" => {
            let (t, extra) = word(rest);
            need(!t.is_empty() && extra.is_empty())?;
            Command::Join(t)
        }
        "/part" | "/leave" => {
            let (t, extra) = word(rest);
            need(extra.is_empty())?;
            Command::Part((!t.is_empty()).then_some(t))
        }
        "/switch" | "/s" => {
            let (t, extra) = word(rest);
            need(!t.is_empty() && extra.is_empty())?;
            Command::Switch(t)
        }
        "/msg" | "/m" => {
            let (to, text) = word(rest);
            need(!to.is_empty())?;
            if text.is_empty() {
                Command::Talk(to)
            } else {
                Command::Msg(to, text)
            }
        }
        "/me" => {
            need(!rest.is_empty())?;
            Command::Me(rest)
        }
        "/reply" | "/r" => {
            let (r, text) = word(rest);
            need(!r.is_empty() && !text.is_empty())?;
            Command::Reply(r, text)
        }
        "/topics" | "/list" => {
            need(rest.is_empty())?;
            Command::Topics
        }
        "/history" => {
            if rest.is_empty() {
                Command::History(DEFAULT_HISTORY)
            } else {
                match rest.parse::<u32>() {
                    Ok(n) if (1..=MAX_HISTORY).contains(&n) => Command::History(n),
                    _ => {
                        return Err(format!(
                            "/history takes a count from 1 to {MAX_HISTORY}, not {rest:?}"
                        ));
                    }
                }
            }
        }
        "/search" | "/find" => {
            need(!rest.is_empty())?;
            Command::Search(rest)
        }
        "/more" => {
            need(rest.is_empty())?;
            Command::More
        }
        "/ping" => {
            need(rest.is_empty())?;
            Command::Ping
        }
        "/help" | "/?" => Command::Help,
        "/quit" | "/exit" | "/q" => Command::Quit((!rest.is_empty()).then_some(rest)),
        _ => {
            let shown = crate::render::clean_line(&name);
            return Err(format!(
                "unknown command {shown} (/help lists them; // sends a line starting with /)"
            ));
        }
    };
    Ok(cmd)
}

/// The `/help` text, one line per command.
pub fn help() -> Vec<String> {
    let mut lines: Vec<String> = COMMANDS
        .iter()
        .map(|(n, a, what)| format!("  {:<18} {what}", format!("{n} {a}")))
        .collect();
    lines.push("  other lines go to the current topic; //text sends /text".into());
    lines.push("  Tab completes commands, topics, IDs and refs; Ctrl-D also quits".into());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse("hello /there"), Ok(Command::Say("hello /there")));
        assert_eq!(parse("//etc/passwd"), Ok(Command::Say("/etc/passwd")));
        assert_eq!(parse("   "), Ok(Command::Nothing));
        assert_eq!(parse("/join #Rust"), Ok(Command::Join("#Rust")));
        assert_eq!(parse("/JOIN  #rust  "), Ok(Command::Join("#rust")));
        assert_eq!(parse("/part"), Ok(Command::Part(None)));
        assert_eq!(parse("/msg bob hi  there"), Ok(Command::Msg("bob", "hi  there")));
        assert_eq!(parse("/reply ab12cd ok"), Ok(Command::Reply("ab12cd", "ok")));
        assert_eq!(parse("/history"), Ok(Command::History(50)));
        assert_eq!(parse("/msg Bob"), Ok(Command::Talk("Bob")));
        assert_eq!(
            parse("/search  release notes "),
            Ok(Command::Search("release notes"))
        );
        assert_eq!(parse("/more"), Ok(Command::More));
        assert_eq!(parse("/history 5"), Ok(Command::History(5)));
        assert_eq!(
            parse("/quit gone fishing"),
            Ok(Command::Quit(Some("gone fishing")))
        );
        assert_eq!(parse("/me waves"), Ok(Command::Me("waves")));
    }

    #[test]
    fn errors_are_one_helpful_line() {
        assert_eq!(parse("/join").unwrap_err(), "usage: /join TOPIC");
        assert_eq!(parse("/join a b").unwrap_err(), "usage: /join TOPIC");
        assert_eq!(parse("/msg").unwrap_err(), "usage: /msg ID [TEXT]");
        assert_eq!(parse("/search").unwrap_err(), "usage: /search WORDS");
        assert_eq!(parse("/more 5").unwrap_err(), "usage: /more");
        assert_eq!(parse("/ping x").unwrap_err(), "usage: /ping");
        assert!(parse("/history 0").unwrap_err().contains("from 1 to"));
        assert!(parse("/history x").unwrap_err().contains("from 1 to"));
        let e = parse("/frob\x1b[2J").unwrap_err();
        assert!(e.starts_with("unknown command /frob^["), "{e}");
        for l in help() {
            assert!(!l.contains('\n'));
        }
    }
}
