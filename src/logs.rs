//! scalard's log set-up: `env_logger` on stderr, at `info` unless `RUST_LOG` says otherwise,
//! each line stamped with its UTC time unless the journal (which stamps lines itself) takes
//! them.

use std::io::Write;

/// The levels `RUST_LOG` may name; any other word in it is taken for a module's name.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// The filter to log with, given `RUST_LOG` (`None` if unset), and what to tell the operator
/// about it. Unset or empty: `info`. One that names no level for scalard's own lines (a word
/// that is no level, such as `verbose`, or only another crate's, `rustls=debug`) would hide
/// every one of them, the start-up lines included: `info` for them, beside what it asks.
pub fn filter(rust_log: Option<&str>) -> (String, Option<String>) {
    let Some(spec) = rust_log.map(str::trim).filter(|s| !s.is_empty()) else {
        return ("info".into(), None);
    };
    // env_logger's syntax: directives split by commas, then an optional `/regex`.
    let directives = spec.split('/').next().unwrap_or_default();
    let ours = |module: &str| "scalard".starts_with(module) || module.starts_with("scalar");
    let covered = directives
        .split(',')
        .map(str::trim)
        .any(|d| match d.split_once('=') {
            Some((module, _)) => ours(module.trim()),
            None => LEVELS.contains(&d.to_ascii_lowercase().as_str()) || (!d.is_empty() && ours(d)),
        });
    if covered {
        return (spec.into(), None);
    }
    let note = format!(
        "scalard: RUST_LOG={spec:?} names no level for scalard's own lines (error, warn, info, \
         debug or trace; a word that is none of them names a module), which would hide them \
         all: logging them at info"
    );
    (format!("info,{spec}"), Some(note))
}

/// Starts logging to stderr. The note about `RUST_LOG`, if any, goes to stderr first.
pub fn init() {
    let (spec, note) = filter(std::env::var("RUST_LOG").ok().as_deref());
    if let Some(note) = note {
        eprintln!("{note}");
    }
    let mut logs = env_logger::Builder::new();
    logs.parse_filters(&spec);
    // systemd sets JOURNAL_STREAM for a service whose stderr is the journal.
    if std::env::var_os("JOURNAL_STREAM").is_none() {
        logs.format(|buf, r| {
            let now = crate::client::unix_ms();
            let stamp = crate::civil::rfc3339_utc(now);
            writeln!(buf, "[{stamp} {:<5} {}] {}", r.level(), r.target(), r.args())
        });
    }
    logs.init();
}

#[cfg(test)]
mod tests {
    use super::filter;

    #[test]
    fn a_filter_that_would_hide_scalard_s_own_lines_gets_info_for_them() {
        for (given, want) in [
            (None, "info"),
            (Some(""), "info"),
            (Some("  "), "info"),
            (Some("debug"), "debug"),
            (Some("WARN"), "WARN"),
            (Some("off"), "off"),
            (Some("scalar=debug"), "scalar=debug"),
            (Some("scalard=warn,rustls=debug"), "scalard=warn,rustls=debug"),
            (Some("scalar::net"), "scalar::net"),
            (Some("info,rustls=trace/handshake"), "info,rustls=trace/handshake"),
        ] {
            assert_eq!(filter(given), (want.to_string(), None), "{given:?}");
        }
        for given in ["verbose", "rustls=debug", "mio", "verbose/x"] {
            let (spec, note) = filter(Some(given));
            assert_eq!(spec, format!("info,{given}"));
            assert!(note.is_some_and(|n| n.contains("names no level")), "{given}");
        }
    }
}
