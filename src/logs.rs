//! scalard's log set-up: `env_logger` on stderr, at `info` unless `RUST_LOG` says otherwise,
//! each line stamped with its UTC time unless the journal (which stamps lines itself) takes
//! them.

pub use log::Level;
use std::io::Write;

/// The levels `RUST_LOG` may name; any other word in it is taken for a module's name.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// The filter to log with, given `RUST_LOG` (`None` if unset), and what to tell the operator
/// about it. Unset or empty: `info`. Without a level for everything (`debug`), env_logger logs
/// only the modules named (`scalar::net=debug`), and a word that is no level (`verbose`) names a
/// module: scalard's other lines, its errors and start-up lines included, would be hidden. So
/// `info` comes first (a module named still gets its own level), and a word that is no level
/// is said, as the likely slip it is.
///
/// rustls is held to `error` unless `RUST_LOG` names it: its warnings are about what a peer sent
/// (a TLS 1.2 warning alert, a message out of order), several a connection, so any stranger
/// could fill the log with them; scalard logs each failed handshake itself, at debug.
pub fn filter(rust_log: Option<&str>, default: Level) -> (String, Option<String>) {
    let (spec, note) = filter_as_given(rust_log, default);
    (quiet_rustls(spec), note)
}

/// [`filter`] before rustls is held to `error`.
fn filter_as_given(rust_log: Option<&str>, default: Level) -> (String, Option<String>) {
    let default = default.as_str().to_ascii_lowercase();
    let Some(spec) = rust_log.map(str::trim).filter(|s| !s.is_empty()) else {
        return (default, None);
    };
    let bare = bare_directives(spec);
    let is_level = |d: &&str| LEVELS.contains(&d.to_ascii_lowercase().as_str());
    if bare.iter().any(is_level) {
        return (spec.into(), None);
    }
    let note = bare.iter().find(|d| !is_level(d)).map(|word| {
        format!(
            "scalard: RUST_LOG={spec:?}: {word:?} is no level (error, warn, info, debug or \
             trace), so it names a module; scalard's own lines are logged at {default}"
        )
    });
    (format!("{default},{spec}"), note)
}

/// The directives of an env_logger spec that name no module: a level for everything, or a
/// module's name alone. (The syntax: directives split by commas, then an optional `/regex`.)
fn bare_directives(spec: &str) -> Vec<&str> {
    let directives = spec.split('/').next().unwrap_or_default();
    directives
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.contains('='))
        .collect()
}

/// `spec` with `rustls=error` added, unless it names rustls (the operator's word stands) or
/// logs nothing at all (`off`: adding it would log rustls's errors).
fn quiet_rustls(spec: String) -> String {
    let off = bare_directives(&spec)
        .iter()
        .any(|d| d.eq_ignore_ascii_case("off"));
    if off || names_rustls(&spec) {
        return spec;
    }
    match spec.split_once('/') {
        Some((directives, regex)) => format!("{directives},rustls=error/{regex}"),
        None => format!("{spec},rustls=error"),
    }
}

/// Whether a directive of `spec` gives rustls as a whole a level, as env_logger reads it: a
/// name of exactly `rustls` (env_logger trims a directive, not the name before its `=`, so
/// `rustls = debug` names no module at all) and a level it takes (`rustls=verbose` is dropped
/// with a warning). Not a word of its `/regex`, which filters messages; not another crate
/// whose name holds "rustls" (found in review: `debug/rustls` let rustls's own debug lines
/// through); and not one of its modules (`rustls::server=debug`): that one stands for its
/// module, env_logger taking the longest name that matches, while the rest of rustls, where
/// the alerts a peer causes are logged, is still held to `error` (found in review).
fn names_rustls(spec: &str) -> bool {
    let directives = spec.split('/').next().unwrap_or_default();
    directives.split(',').map(str::trim).any(|d| {
        let mut parts = d.split('=');
        let (name, level) = (parts.next(), parts.next().map(str::trim));
        let level_taken = level.is_none_or(|l| l.is_empty() || l.parse::<log::LevelFilter>().is_ok());
        name == Some("rustls") && parts.next().is_none() && level_taken
    })
}

/// Starts logging to stderr; the note about `RUST_LOG`, if any, for the caller to print
/// where it matters (the server's start, not `--version` or an `account` command).
#[must_use]
pub fn init(default: Level) -> Option<String> {
    let (spec, note) = filter(std::env::var("RUST_LOG").ok().as_deref(), default);
    let mut logs = env_logger::Builder::new();
    logs.parse_filters(&spec);
    if !stderr_is_the_journal() {
        logs.format(|buf, r| {
            let now = crate::client::unix_ms();
            let stamp = crate::civil::rfc3339_utc(now);
            writeln!(buf, "[{stamp} {:<5} {}] {}", r.level(), r.target(), r.args())
        });
    }
    let logger = logs.build();
    let level = logger.filter();
    // Only the first logger set is used (env_logger's `init` would panic on a second).
    if log::set_boxed_logger(Box::new(OneLine(logger))).is_ok() {
        log::set_max_level(level);
    }
    note
}

/// env_logger, with each message's text [`Escaped`]: a log line quotes what clients sent (the
/// reason of an Error a client is refused with may be a channel operator's words), and a
/// newline there would start a line of the sender's making (found by helper 263: a ban's
/// reason forged a login line at `debug`), an escape sequence would act on the terminal of
/// whoever reads the log. Whatever the format: the journal's lines too.
struct OneLine(env_logger::Logger);

impl log::Log for OneLine {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.0.matches(record) {
            return;
        }
        self.0.log(
            &log::Record::builder()
                .args(format_args!("{}", Escaped(record.args())))
                .metadata(record.metadata().clone())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Text as a log line (or another report of one line per item: scalar-conformance's) writes
/// it: what [`needs_escape`] as Rust escapes it (`\n`, `\u{1b}`, `\u{202e}`); the rest as it
/// is.
pub struct Escaped<T>(pub T);

impl<T: std::fmt::Display> std::fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        write!(Escaping(f), "{}", self.0)
    }
}

/// Writes through to the formatter, escaping as [`Escaped`] says.
struct Escaping<'a, 'b>(&'a mut std::fmt::Formatter<'b>);

impl std::fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let mut rest = s;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| needs_escape(c)) {
            self.0.write_str(rest.get(..at).unwrap_or_default())?;
            write!(self.0, "{}", c.escape_default())?;
            rest = rest.get(at + c.len_utf8()..).unwrap_or_default();
        }
        self.0.write_str(rest)
    }
}

/// Whether a line of text from elsewhere shows `c` escaped: control characters (C0, DEL, C1:
/// a newline, a carriage return, an escape), line and paragraph separators and bidi controls
/// (which reorder what a terminal shows). All are in the Basic Multilingual Plane.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// Whether stderr is the journal: systemd sets `JOURNAL_STREAM` to its `DEVICE:INODE` when
/// stdout or stderr goes there, and children inherit it, so the descriptor itself is compared.
fn stderr_is_the_journal() -> bool {
    let Some(stream) = std::env::var("JOURNAL_STREAM").ok() else {
        return false;
    };
    let Some((dev, ino)) = stream.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    // SAFETY: fstat writes the struct on success, which is checked.
    unsafe {
        let mut st = std::mem::zeroed::<libc::stat>();
        libc::fstat(libc::STDERR_FILENO, &mut st) == 0 && st.st_dev == dev && st.st_ino == ino
    }
}

#[cfg(test)]
mod tests {
    use super::{Escaped, Level, filter, filter_as_given};

    #[test]
    fn a_message_is_one_line_without_escape_sequences() {
        let said = "spam\n[2026-12-07T00:00:00.000Z INFO  scalar] forged\r\u{1b}[2J\u{9b}\u{7f}\u{202e}\t";
        assert_eq!(
            Escaped(said).to_string(),
            "spam\\n[2026-12-07T00:00:00.000Z INFO  scalar] forged\\r\\u{1b}[2J\\u{9b}\\u{7f}\\u{202e}\\t"
        );
        // The rest as it is: text in any script, emoji, quotes and backslashes (of a `{:?}`).
        let plain = "rust 🦀 日本語 שלום \"q\" \\ é";
        assert_eq!(Escaped(plain).to_string(), plain);
        assert_eq!(
            Escaped(format_args!("conn {}: {}", 7, "a\nb")).to_string(),
            "conn 7: a\\nb"
        );
    }

    #[test]
    fn a_filter_without_a_level_for_everything_gets_info_first() {
        for (given, want) in [
            (None, "info"),
            (Some(""), "info"),
            (Some("  "), "info"),
            (Some("debug"), "debug"),
            (Some("WARN"), "WARN"),
            (Some("off"), "off"),
            (Some("warn,rustls=debug"), "warn,rustls=debug"),
            (Some("info,rustls=trace/handshake"), "info,rustls=trace/handshake"),
            (Some("scalar=debug"), "info,scalar=debug"),
            (Some("scalar::net=debug"), "info,scalar::net=debug"),
            (Some("rustls=debug"), "info,rustls=debug"),
            (Some("scalard=verbose"), "info,scalard=verbose"),
        ] {
            assert_eq!(
                filter_as_given(given, Level::Info),
                (want.to_string(), None),
                "{given:?}"
            );
        }
        for given in ["verbose", "mio", "verbose/x", "scalar::net"] {
            let (spec, note) = filter_as_given(Some(given), Level::Info);
            assert_eq!(spec, format!("info,{given}"));
            assert!(note.is_some_and(|n| n.contains("is no level")), "{given}");
        }
        // The offline commands' default: their own messages, not the store's news.
        assert_eq!(filter_as_given(None, Level::Warn), ("warn".to_string(), None));
        assert_eq!(filter_as_given(Some("mio"), Level::Warn).0, "warn,mio");
        assert_eq!(filter_as_given(Some("debug"), Level::Warn).0, "debug");
    }

    #[test]
    fn rustls_is_held_to_errors_unless_named() {
        for (given, want) in [
            (None, "info,rustls=error"),
            (Some("debug"), "debug,rustls=error"),
            (Some("scalar::net=debug"), "info,scalar::net=debug,rustls=error"),
            (Some("debug/handshake"), "debug,rustls=error/handshake"),
            (Some("warn,rustls=debug"), "warn,rustls=debug"),
            (Some("rustls=warn"), "info,rustls=warn"),
            (
                Some("rustls::server=debug"),
                "info,rustls::server=debug,rustls=error",
            ),
            (Some("debug/rustls"), "debug,rustls=error/rustls"),
            (
                Some("debug,not_rustls=info"),
                "debug,not_rustls=info,rustls=error",
            ),
            (Some("off"), "off"),
            (Some("OFF,scalar=info"), "OFF,scalar=info"),
        ] {
            assert_eq!(filter(given, Level::Info).0, want, "{given:?}");
        }
    }

    /// What env_logger itself does with the filter scalard makes of `RUST_LOG`: whether a
    /// warning of rustls's (where the alerts a peer sends are logged), a debug line of
    /// rustls's server module and an info line of scalard's own are logged. Found in review:
    /// a directive for one of rustls's modules, or for `rustls ` with a space before its `=`
    /// (a name env_logger matches to nothing), or with a level it drops, let every peer's
    /// alerts through at the level for everything.
    #[test]
    fn rustls_is_held_to_errors_as_env_logger_reads_the_filter() {
        use log::Log;
        let logged = |spec: &str, level: Level, target: &str| {
            let logger = env_logger::Builder::new().parse_filters(spec).build();
            let meta = log::Metadata::builder().level(level).target(target).build();
            logger.enabled(&meta)
        };
        for (given, alerts, server_debug, own) in [
            ("debug", false, false, true),
            ("info,rustls=warn", true, false, true),
            ("info,rustls=debug", true, true, true),
            ("rustls", true, true, true),
            ("RUSTLS=debug", false, false, true),
            ("scalar,rustls::server=debug", false, true, true),
            ("info,rustls::server=debug", false, true, true),
            ("debug, rustls = warn", false, false, true),
            ("debug,rustls=verbose", false, false, true),
            ("debug,", false, false, true),
            (" warn , rustls=warn ,", true, false, false),
        ] {
            let (spec, _) = filter(Some(given), Level::Info);
            let got = (
                logged(&spec, Level::Warn, "rustls::common_state"),
                logged(&spec, Level::Debug, "rustls::server::hs"),
                logged(&spec, Level::Info, "scalar::net"),
            );
            assert_eq!(got, (alerts, server_debug, own), "RUST_LOG={given:?} as {spec:?}");
        }
    }
}
