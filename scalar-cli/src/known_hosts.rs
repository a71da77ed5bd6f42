//! The pins of trust on first use (`--tofu`): one line per server, `HOST:PORT sha256:HEX`,
//! in `$XDG_DATA_HOME/scalar-cli/known_hosts`.
//!
//! [`KnownHosts`] is the file's content, pure and unit-tested: parse, look up, add or replace,
//! write back. Lines it does not understand (comments, blank lines, malformed ones) are kept
//! as they are when the file is rewritten; malformed ones are reported as warnings, never a
//! failure, so one bad line cannot lock the user out of every server. [`load`] and [`save`]
//! do the file IO.

use scalar::tls::Fingerprint;
use std::path::{Path, PathBuf};

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// `HOST:PORT sha256:HEX`.
    Pin { server: String, pin: Fingerprint },
    /// A comment, a blank or malformed line, kept verbatim.
    Other(String),
}

/// The known-hosts file, line by line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownHosts {
    lines: Vec<Line>,
}

/// The key a server is pinned under: `HOST:PORT` (a missing port added), host in lowercase.
pub fn key(server: &str) -> String {
    crate::names::with_port(server.trim()).to_ascii_lowercase()
}

impl KnownHosts {
    /// Parses the file's text; returns the pins and a warning for each malformed line.
    pub fn parse(text: &str) -> (KnownHosts, Vec<String>) {
        let mut warnings = Vec::new();
        let lines = text
            .lines()
            .enumerate()
            .map(|(i, raw)| {
                let t = raw.trim();
                if t.is_empty() || t.starts_with('#') {
                    return Line::Other(raw.to_string());
                }
                let mut words = t.split_whitespace();
                match (words.next(), words.next().and_then(pin_word), words.next()) {
                    (Some(server), Some(pin), None) => Line::Pin {
                        server: key(server),
                        pin,
                    },
                    _ => {
                        warnings.push(format!("line {} is not `HOST:PORT sha256:HEX`; ignored", i + 1));
                        Line::Other(raw.to_string())
                    }
                }
            })
            .collect();
        (KnownHosts { lines }, warnings)
    }

    /// The pin for `server`; the first one if the file has several.
    pub fn lookup(&self, server: &str) -> Option<Fingerprint> {
        let k = key(server);
        self.lines.iter().find_map(|l| match l {
            Line::Pin { server, pin } if *server == k => Some(*pin),
            _ => None,
        })
    }

    /// Pins `pin` for `server`, replacing any pin it had (in place, dropping duplicates) or
    /// adding a line at the end. Returns the pin replaced.
    pub fn set(&mut self, server: &str, pin: Fingerprint) -> Option<Fingerprint> {
        let k = key(server);
        let old = self.lookup(&k);
        let mut placed = false;
        self.lines.retain_mut(|l| match l {
            Line::Pin { server, pin: p } if *server == k => {
                if placed {
                    return false;
                }
                *p = pin;
                placed = true;
                true
            }
            _ => true,
        });
        if !placed {
            self.lines.push(Line::Pin { server: k, pin });
        }
        old
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            match l {
                Line::Pin { server, pin } => out.push_str(&format!("{server} {pin}")),
                Line::Other(s) => out.push_str(s),
            }
            out.push('\n');
        }
        out
    }
}

/// `sha256:HEX`; the prefix is required in the file, so another hash can be added later.
fn pin_word(w: &str) -> Option<Fingerprint> {
    w.strip_prefix("sha256:").and_then(Fingerprint::parse)
}

/// `$XDG_DATA_HOME/scalar-cli/known_hosts`, else `~/.local/share/scalar-cli/known_hosts`; Err
/// says why there is none.
pub fn path() -> Result<PathBuf, String> {
    crate::paths::data_file("known_hosts")
}

/// Reads the file; a missing file is empty. Other read errors fail: ignoring an unreadable
/// file would silently turn every pinned server into a first use.
pub fn load(path: &Path) -> Result<(KnownHosts, Vec<String>), String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(KnownHosts::parse(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((KnownHosts::default(), Vec::new())),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Writes the file whole ([`crate::paths::write_private`]).
pub fn save(path: &Path, hosts: &KnownHosts) -> Result<(), String> {
    crate::paths::write_private(path, &hosts.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(b: u8) -> Fingerprint {
        Fingerprint([b; 32])
    }

    #[test]
    fn parses_and_looks_up() {
        let text = format!(
            "# pins\n\nchat.Example.org:7667 {}\n127.0.0.1:9 {}\n[::1]:7667 {}\n",
            fp(1),
            fp(2),
            fp(3)
        );
        let (h, warnings) = KnownHosts::parse(&text);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(h.lookup("chat.example.org:7667"), Some(fp(1)));
        assert_eq!(
            h.lookup("CHAT.example.org"),
            Some(fp(1)),
            "default port, any case"
        );
        assert_eq!(h.lookup("127.0.0.1:9"), Some(fp(2)));
        assert_eq!(h.lookup("[::1]:7667"), Some(fp(3)));
        assert_eq!(h.lookup("127.0.0.1:10"), None);
        assert_eq!(h.render().replace("chat.example.org", "chat.Example.org"), text);
    }

    #[test]
    fn malformed_lines_are_skipped_with_a_warning() {
        let good = format!("h:1 {}", fp(7));
        let text = format!(
            "h:1\nh:1 {}\nh:1 sha256:xyz\nh:1 {} extra\n{good}\n\u{0}garbage é\n",
            fp(1).hex(),
            fp(1)
        );
        let (mut h, warnings) = KnownHosts::parse(&text);
        assert_eq!(warnings.len(), 5, "{warnings:?}");
        assert!(warnings[0].starts_with("line 1 "), "{warnings:?}");
        assert_eq!(h.lookup("h:1"), Some(fp(7)));
        // Rewriting keeps what it did not understand.
        h.set("other:2", fp(9));
        let (again, _) = KnownHosts::parse(&h.render());
        assert_eq!(again.lookup("h:1"), Some(fp(7)));
        assert_eq!(again.lookup("other:2"), Some(fp(9)));
        assert!(h.render().contains("\u{0}garbage é\n"));
    }

    #[test]
    fn adds_and_replaces() {
        let mut h = KnownHosts::default();
        assert_eq!(h.set("a:1", fp(1)), None);
        assert_eq!(h.set("b:2", fp(2)), None);
        assert_eq!(h.set("A:1", fp(3)), Some(fp(1)));
        assert_eq!(h.lookup("a:1"), Some(fp(3)));
        assert_eq!(h.render(), format!("a:1 {}\nb:2 {}\n", fp(3), fp(2)));
        // Duplicates collapse into the first line.
        let (mut d, _) = KnownHosts::parse(&format!("x:1 {}\ny:1 {}\nx:1 {}\n", fp(1), fp(2), fp(3)));
        assert_eq!(d.lookup("x:1"), Some(fp(1)));
        assert_eq!(d.set("x:1", fp(4)), Some(fp(1)));
        assert_eq!(d.render(), format!("x:1 {}\ny:1 {}\n", fp(4), fp(2)));
    }

    #[test]
    fn load_and_save() {
        let dir = std::env::temp_dir().join(format!("scalar-cli-kh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("known_hosts");
        let _ = std::fs::remove_file(&p);
        assert_eq!(load(&p).unwrap(), (KnownHosts::default(), vec![]));
        let mut h = KnownHosts::default();
        h.set("h:1", fp(5));
        save(&p, &h).unwrap();
        assert_eq!(load(&p).unwrap().0.lookup("h:1"), Some(fp(5)));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(load(&dir).is_err(), "a directory cannot be read as the file");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
