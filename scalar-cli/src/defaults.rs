//! The defaults file, `$XDG_CONFIG_HOME/scalar/cli.conf` (or `$SCALAR_CONFIG`): the options a
//! user would otherwise type at every start, one a line, as on the command line, as irssi's
//! config keeps its server, nick and autojoin channels:
//!
//! ```text
//! # scalar-cli's defaults
//! --server chat.example.org
//! --id bob
//! --tofu
//! --join #rust,#go
//! ```
//!
//! The environment's variables win over it, and the command line over both. [`parse`] is pure
//! and unit-tested; [`read`] finds and reads the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the defaults file says; every field as the option of the same name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// `--server`.
    pub server: Option<String>,
    /// `--id`.
    pub id: Option<String>,
    /// `--resolver`.
    pub resolver: Option<String>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--tls`.
    pub tls: bool,
    /// `--ca`.
    pub ca: Option<PathBuf>,
    /// `--tofu`.
    pub tofu: bool,
    /// `--password-file`.
    pub password_file: Option<PathBuf>,
    /// `--home`.
    pub home: Option<String>,
    /// `--audience`.
    pub audience: Option<String>,
    /// `--join`, each as given (the chat only: a one-shot mode ignores them).
    pub join: Vec<String>,
    /// `--no-joins` (the chat only).
    pub no_joins: bool,
}

/// The options a defaults file may give: those that say where and who, not what to do once
/// (`--register`) or a mode's own.
const OPTIONS: &str = "--server, --id, --resolver, --timeout, --tls, --ca, --tofu, \
                       --password-file, --home, --audience, --join, --no-joins";

/// Where the file's relative paths are taken from: `~/` is `home`'s (no shell expands it), any
/// other relative path the file's own directory's, whatever the current directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Base<'a> {
    /// `$HOME`.
    pub home: Option<&'a Path>,
    /// The directory the file is in.
    pub dir: Option<&'a Path>,
}

/// Parses the file's text; `shown` names it in errors (`FILE:LINE: ...`), each value checked
/// as the command line's would be, so that a mistake is found at its line.
pub fn parse(shown: &str, text: &str, base: Base<'_>) -> Result<Defaults, String> {
    let mut d = Defaults::default();
    // An editor's byte order mark is no part of the first option.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |msg: String| format!("{shown}:{}: {msg}", i + 1);
        let (name, value) = match line.split_once(char::is_whitespace) {
            Some((n, v)) => (n, Some(v.trim())),
            None => (line, None),
        };
        // `--server=HOST`, as the command line takes it (found by QA: refused as an option
        // the file does not have, naming the option).
        let (name, value) = match (name.split_once('='), value) {
            (Some((n, v)), None) if n.starts_with("--") => (n, Some(v)),
            _ => (name, value),
        };
        let value = || value.ok_or_else(|| at(format!("{name} needs a value")));
        let flag = |set: &mut bool| match value() {
            Ok(v) => Err(at(format!("{name} takes no value, got {v:?}"))),
            Err(_) => {
                *set = true;
                Ok(())
            }
        };
        let path = |v: &str| match (v.strip_prefix("~/"), base.home, base.dir) {
            (Some(rest), Some(h), _) => Ok(h.join(rest)),
            (Some(_), None, _) => Err(at(format!("{name} {v}: ~/ needs $HOME, which is not set"))),
            (None, _, Some(dir)) if Path::new(v).is_relative() => Ok(dir.join(v)),
            _ => Ok(PathBuf::from(v)),
        };
        // A value with ` #` most likely carries a comment, which only a line of its own is.
        let checked = |r: Result<(), String>, v: &str| {
            r.map_err(|e| match v.contains(" #") {
                true => at(format!("{e} (a comment is a line of its own, starting with #)")),
                false => at(e),
            })
        };
        match name {
            "--server" | "-s" => {
                let v = value()?;
                checked(crate::args::server_of(v).map(drop), v)?;
                d.server = Some(v.to_string());
            }
            "--id" | "-i" => {
                let v = value()?;
                checked(crate::args::check_id(&v.to_ascii_lowercase(), v), v)?;
                d.id = Some(v.to_string());
            }
            "--resolver" => {
                let v = value()?;
                checked(crate::args::resolver_of(v).map(drop), v)?;
                d.resolver = Some(v.to_string());
            }
            "--timeout" | "-t" => d.timeout = Some(crate::args::timeout(value()?).map_err(at)?),
            "--tls" => flag(&mut d.tls)?,
            "--tofu" => flag(&mut d.tofu)?,
            "--no-joins" => flag(&mut d.no_joins)?,
            "--ca" => d.ca = Some(path(value()?)?),
            "--password-file" => d.password_file = Some(path(value()?)?),
            "--home" => d.home = Some(value()?.to_string()),
            "--audience" => d.audience = Some(value()?.to_string()),
            "--join" | "-j" => d.join.push(value()?.to_string()),
            _ => {
                return Err(at(format!(
                    "{name}: not an option of the defaults file, whose options are {OPTIONS}"
                )));
            }
        }
    }
    if d.ca.is_some() && d.tofu {
        return Err(format!(
            "{shown}: --ca and --tofu are two ways to trust a server; give one"
        ));
    }
    Ok(d)
}

/// Where the defaults file is: `$SCALAR_CONFIG`, else `$XDG_CONFIG_HOME/scalar/cli.conf`, else
/// `$HOME/.config/scalar/cli.conf`. `var` reads one variable (empty counts as unset).
pub fn path(var: impl Fn(&str) -> Option<String>) -> Option<(PathBuf, bool)> {
    if let Some(p) = var("SCALAR_CONFIG") {
        return Some((PathBuf::from(p), true));
    }
    // A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
    let dir = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some((dir.join("scalar").join("cli.conf"), false))
}

/// Reads and parses the defaults file, if there is one. A file named by `$SCALAR_CONFIG` must
/// exist; the usual one may not.
pub fn read(var: impl Fn(&str) -> Option<String>) -> Result<Defaults, String> {
    let Some((file, named)) = path(&var) else {
        return Ok(Defaults::default());
    };
    let shown = file.display().to_string();
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let home = var("HOME");
            let base = Base {
                home: home.as_deref().map(Path::new),
                dir: file.parent(),
            };
            parse(&shown, &text, base)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => Ok(Defaults::default()),
        Err(e) => Err(format!("the defaults file {shown}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_one_a_line_as_typed() {
        let text = "\u{feff}# mine\r\n\n--server chat.example.org\r\n  --id Bob  \n--tofu\n--join #rust,#go\n\
                    -j #ops\n--timeout 2.5\n--password-file ~/.config/scalar/pw\n--no-joins\n";
        let base = Base {
            home: Some(Path::new("/home/bob")),
            dir: Some(Path::new("/home/bob/.config/scalar")),
        };
        let d = parse("cli.conf", text, base).unwrap();
        assert_eq!(d.server.as_deref(), Some("chat.example.org"));
        assert_eq!(d.id.as_deref(), Some("Bob"));
        assert!(d.tofu && d.no_joins && !d.tls);
        assert_eq!(d.join, ["#rust,#go", "#ops"]);
        assert_eq!(d.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(
            d.password_file,
            Some(PathBuf::from("/home/bob/.config/scalar/pw"))
        );
        // A relative path is the file's directory's, not the current one's (found by QA).
        let d = parse("cli.conf", "--ca ca.pem", base).unwrap();
        assert_eq!(d.ca, Some(PathBuf::from("/home/bob/.config/scalar/ca.pem")));
        // `--option=value`, as on the command line (found by QA); not for a flag.
        let d = parse("cli.conf", "--server=127.0.0.1:7\n--id=bob", base).unwrap();
        assert_eq!(
            (d.server.as_deref(), d.id.as_deref()),
            (Some("127.0.0.1:7"), Some("bob"))
        );
        let e = parse("cli.conf", "--tofu=yes", base).unwrap_err();
        assert!(e.contains("--tofu takes no value"), "{e}");
    }

    #[test]
    fn mistakes_name_the_line() {
        let err = |text: &str| parse("cli.conf", text, Base::default()).unwrap_err();
        assert_eq!(err("--server\n"), "cli.conf:1: --server needs a value");
        assert_eq!(
            err("\n--tofu yes"),
            "cli.conf:2: --tofu takes no value, got \"yes\""
        );
        assert!(err("--register").starts_with("cli.conf:1: --register: not an option"));
        assert!(err("server = x").contains("server: not an option"));
        assert!(err("--timeout 0").starts_with("cli.conf:1: --timeout"));
        assert!(err("--ca /etc/ca.pem\n--tofu").contains("give one"));
        // A value checked where it is (found by QA: a bad one was reported without its line).
        assert!(err("\n--server ::1:42105").starts_with("cli.conf:2: --server"));
        assert!(err("--id BAD ID").starts_with("cli.conf:1: --id"));
        assert!(err("--resolver notanip:53").starts_with("cli.conf:1: --resolver"));
        assert!(
            err("--server x.example # mine").ends_with("(a comment is a line of its own, starting with #)")
        );
        assert!(err("--password-file ~/pw").contains("~/ needs $HOME"));
    }

    #[test]
    fn where_it_is() {
        let vars = |pairs: &'static [(&str, &str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let at = |p: Option<(PathBuf, bool)>| p.map(|(f, named)| (f.display().to_string(), named));
        assert_eq!(
            at(path(vars(&[("HOME", "/home/bob")]))),
            Some(("/home/bob/.config/scalar/cli.conf".into(), false))
        );
        assert_eq!(
            at(path(vars(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "/c")]))),
            Some(("/c/scalar/cli.conf".into(), false))
        );
        assert_eq!(
            at(path(vars(&[("SCALAR_CONFIG", "/x.conf"), ("HOME", "/h")]))),
            Some(("/x.conf".into(), true))
        );
        assert_eq!(at(path(vars(&[]))), None);
        assert_eq!(
            at(path(vars(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "rel")]))),
            Some(("/h/.config/scalar/cli.conf".into(), false)),
            "a relative XDG_CONFIG_HOME is ignored"
        );
        // Named but missing is an error; the usual file missing is not.
        assert!(read(vars(&[("SCALAR_CONFIG", "/nonexistent/scalar.conf")])).is_err());
        assert_eq!(read(vars(&[("HOME", "/nonexistent")])), Ok(Defaults::default()));
    }
}
