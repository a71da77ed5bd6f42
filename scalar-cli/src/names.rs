//! Turning what a person types into wire names, and wire names into short display forms.
//!
//! On the wire every name is lowercase and complete (`#rust@localhost`); people type `#Rust` or
//! `rust`. PROTOCOL.md §5 lets clients fold case and add the server's domain.

use scalar::proto::{Kind, MAX_LOCAL, Name};

/// The default server, when neither `--server` nor `SCALAR_SERVER` names one.
pub const DEFAULT_SERVER: &str = "localhost:7667";

/// What a bare word (no `#`, `!` or `@`) should become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    /// `rust` means the channel `#rust@domain`.
    Channel,
    /// `bob` means the user `bob@domain`.
    User,
}

/// Folds `input` to the wire form of a topic: lowercase, a `#` added to a bare word when a
/// channel is meant, and `@domain` added when missing. Fails with a one-line reason.
pub fn topic(input: &str, domain: &str, default: Default) -> Result<String, String> {
    let raw = input.trim();
    if raw.is_empty() {
        return Err("a topic or ID is needed".into());
    }
    let mut s = raw.to_ascii_lowercase();
    if default == Default::Channel && !s.starts_with(['#', '!']) && !s.contains('@') {
        s.insert(0, '#');
    }
    if !s.contains('@') {
        s.push('@');
        s.push_str(domain);
    }
    match Name::parse(&s) {
        Ok(_) => Ok(s),
        Err(e) => Err(format!("{raw}: not a valid topic or ID ({e})")),
    }
}

/// Folds `input` to a channel name; other kinds of topic are refused before asking the server.
pub fn channel(input: &str, domain: &str) -> Result<String, String> {
    let name = topic(input, domain, Default::Channel)?;
    match Name::parse(&name).map(|n| n.kind()) {
        Ok(Kind::Channel) => Ok(name),
        _ => Err(format!("{name} is not a channel (channels start with #)")),
    }
}

/// Folds `input` to a user ID (`bob` means `bob@domain`); channels and reserved names are
/// refused before asking the server.
pub fn user(input: &str, domain: &str) -> Result<String, String> {
    let name = topic(input, domain, Default::User)?;
    match Name::parse(&name).map(|n| n.kind()) {
        Ok(Kind::User) => Ok(name),
        _ => Err(format!("{name} is not a user ID")),
    }
}

/// Folds `input` to an ID pattern for a ban or a mute (PROTOCOL.md §4): lowercase, and
/// `@domain` added when missing, so `guest-*` means `guest-*@domain`.
pub fn pattern(input: &str, domain: &str) -> Result<String, String> {
    let raw = input.trim();
    let mut s = raw.to_ascii_lowercase();
    if !s.contains('@') {
        s.push('@');
        s.push_str(domain);
    }
    if scalar::proto::pattern::is_pattern(&s) {
        return Ok(s);
    }
    // IRC's hostmask, typed from habit (`/ban bob!*@*`): found by helper 265, the error did not
    // say that IDs have no such parts, nor which ID the nick stands for.
    if let Some((nick, _)) = raw.split_once('!') {
        let id = format!("{}@{domain}", nick.to_ascii_lowercase());
        // A nick of `*` alone (`*!*@host`) matches every ID: no hint, which would ban all.
        let hint = match !nick.trim_matches('*').is_empty() && scalar::proto::pattern::is_pattern(&id) {
            true => format!("; for the nick {nick}, give {} alone", nick.to_ascii_lowercase()),
            false => String::new(),
        };
        return Err(format!(
            "{raw}: IRC's nick!user@host masks are not IDs here: an ID is NAME@DOMAIN (such as \
             bob, *@spam.example, guest-*){hint}"
        ));
    }
    Err(format!(
        "{raw}: not a user ID or ID pattern (such as bob, *@spam.example, guest-*)"
    ))
}

/// A shorter form for display: `#rust` for `#rust@localhost` when `localhost` is the server's
/// domain, the full name otherwise.
pub fn short<'a>(name: &'a str, domain: &str) -> &'a str {
    match name.strip_suffix(domain).and_then(|s| s.strip_suffix('@')) {
        Some(local) if !domain.is_empty() && !local.is_empty() => local,
        _ => name,
    }
}

/// A Mod target or list entry as shown: a user ID short, like [`short`]; an ID pattern or an
/// address range whole, since `*@localhost` shortened would read as everyone.
pub fn short_target<'a>(target: &'a str, domain: &str) -> &'a str {
    match Name::parse(target).map(|n| n.kind()) {
        Ok(Kind::User) => short(target, domain),
        _ => target,
    }
}

/// How notes name the history of `topic` as read by `me` (PROTOCOL.md §4, "Who may read
/// what"): a channel as itself, another user's ID as the conversation with them, one's own ID
/// as one's inbox (the direct messages one received). Names are shortened against `domain` (give "" for
/// full names).
pub fn history_of(topic: &str, me: &str, domain: &str) -> String {
    let shown = short(topic, domain);
    if topic == me {
        "your inbox".into()
    } else if topic.starts_with(['#', '!']) {
        shown.to_string()
    } else {
        format!("your conversation with {shown}")
    }
}

/// The ID to use: `--id`, else `SCALAR_ID`, else the login name folded to the local-part
/// grammar. The result may lack `@domain`; [`crate::conn::open`] completes it.
pub fn default_id(flag: Option<String>, env_id: Option<String>, env_user: Option<String>) -> String {
    if let Some(id) = flag.or(env_id).filter(|s| !s.trim().is_empty()) {
        return id.trim().to_ascii_lowercase();
    }
    fold_local(env_user.as_deref().unwrap_or("user"))
}

/// Folds any string to a valid local part: lowercase, other characters replaced by `_`, leading
/// punctuation dropped, at most 32 bytes; `user` if nothing is left.
pub fn fold_local(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(MAX_LOCAL)
        .collect();
    if mapped.is_empty() { "user".into() } else { mapped }
}

/// True if `server` is a domain alone, without a port, other than `localhost`: its servers are
/// then found in DNS (SRV records; `scalar::discovery`). An IP address or `localhost` without a
/// port still means port 7667, as before there was discovery.
pub fn discoverable(server: &str) -> bool {
    !server.contains([':', '[', ']'])
        && server.parse::<std::net::IpAddr>().is_err()
        && !server.eq_ignore_ascii_case("localhost")
        && !server.to_ascii_lowercase().ends_with(".localhost")
}

/// Whether a server reached as `server` (`HOST:PORT`, or a domain alone) may serve `audience`,
/// the domain it names in a `foreign_id` refusal: the host must be that domain or a name under
/// it, or the user said so with `--audience`. A server cannot be taken at its word here: one
/// that names another could collect a token good there (PROTOCOL.md §4, Other domains).
pub fn may_serve(server: &str, audience: &str, said: Option<&str>) -> bool {
    if let Some(said) = said {
        return said.eq_ignore_ascii_case(audience);
    }
    let host = match server.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => server,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host.parse::<std::net::IpAddr>().is_err()
        && host != "localhost"
        && (host == audience || host.ends_with(&format!(".{audience}")))
}

/// Adds the default port to a server given without one.
pub fn with_port(server: &str) -> String {
    let has_port = if server.starts_with('[') {
        server.contains("]:")
    } else {
        server.matches(':').count() == 1
    };
    if has_port {
        server.to_string()
    } else if server.starts_with('[') {
        format!("{server}:{}", scalar::config::DEFAULT_PORT)
    } else if server.contains(':') {
        format!("[{server}]:{}", scalar::config::DEFAULT_PORT)
    } else {
        format!("{server}:{}", scalar::config::DEFAULT_PORT)
    }
}

/// Whether `server`, as [`with_port`] or a domain alone leaves it, names a host and (if any) a
/// port from 1 to 65535: a typo is then a usage error, not a failed connection.
pub fn well_formed_server(server: &str) -> bool {
    // A domain alone is looked up in DNS, which only takes a DNS name (a trailing dot allowed).
    if discoverable(server) {
        return scalar::proto::valid_domain(server.strip_suffix('.').unwrap_or(server));
    }
    let (host, port) = match server.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (server, None),
    };
    // An IPv6 address given without brackets has them added (`with_port`): what is inside must
    // then be one, not "::1:42105", an address and a port run together. ("::1:7000" is an
    // address, port 7667: the port needs the brackets.)
    let host_ok = match host.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok()),
        None => !host.is_empty(),
    };
    host_ok && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_fold_and_complete() {
        let t = |s| topic(s, "localhost", Default::Channel);
        assert_eq!(t("#Rust").unwrap(), "#rust@localhost");
        assert_eq!(t("rust").unwrap(), "#rust@localhost");
        assert_eq!(t("#go@Example.COM").unwrap(), "#go@example.com");
        assert_eq!(t("!motd").unwrap(), "!motd@localhost");
        assert!(t("#a b").unwrap_err().contains("not a valid"));
        assert!(t("").is_err());
        assert!(t("#é").is_err());
        let u = |s| topic(s, "localhost", Default::User);
        assert_eq!(u("Bob").unwrap(), "bob@localhost");
        assert_eq!(u("bob@x.org").unwrap(), "bob@x.org");
        assert!(channel("bob@localhost", "localhost").is_err());
        assert_eq!(channel("x", "localhost").unwrap(), "#x@localhost");
        assert_eq!(user("Bob", "l").unwrap(), "bob@l");
        assert!(user("#rust", "l").is_err());
        assert_eq!(
            pattern("Bob!*@*", "l").unwrap_err(),
            "Bob!*@*: IRC's nick!user@host masks are not IDs here: an ID is NAME@DOMAIN (such \
             as bob, *@spam.example, guest-*); for the nick Bob, give bob alone"
        );
        assert!(
            pattern("*!*@host.example", "l")
                .unwrap_err()
                .ends_with("(such as bob, *@spam.example, guest-*)")
        );
        assert!(pattern("!x", "l").unwrap_err().ends_with("guest-*)"));
        assert_eq!(pattern("Guest-*", "l").unwrap(), "guest-*@l");
        assert_eq!(pattern("*@Spam.example", "l").unwrap(), "*@spam.example");
        assert!(
            pattern("#x", "l")
                .unwrap_err()
                .contains("not a user ID or ID pattern")
        );
    }

    #[test]
    fn short_forms() {
        assert_eq!(short("#rust@localhost", "localhost"), "#rust");
        assert_eq!(short("#rust@example.com", "localhost"), "#rust@example.com");
        assert_eq!(short("bob@notlocalhost", "localhost"), "bob@notlocalhost");
        assert_eq!(short("x", ""), "x");
        assert_eq!(history_of("#a@l", "me@l", "l"), "#a");
        assert_eq!(history_of("bob@l", "me@l", ""), "your conversation with bob@l");
        assert_eq!(history_of("me@l", "me@l", "l"), "your inbox");
    }

    #[test]
    fn default_ids() {
        assert_eq!(default_id(Some("Alice@X".into()), None, None), "alice@x");
        assert_eq!(default_id(None, Some("bob".into()), Some("x".into())), "bob");
        assert_eq!(default_id(None, None, Some("John Smith".into())), "john_smith");
        assert_eq!(default_id(None, None, Some("__é".into())), "user");
        assert_eq!(default_id(None, None, None), "user");
        assert_eq!(fold_local(&"a".repeat(40)).len(), 32);
    }

    #[test]
    fn a_server_may_serve_its_own_domain_only() {
        assert!(may_serve("bar.org", "bar.org", None));
        assert!(may_serve("chat.bar.org:7668", "bar.org", None));
        assert!(!may_serve("evil.example:7668", "bar.org", None));
        assert!(
            !may_serve("notbar.org:1", "bar.org", None),
            "a suffix is not a subdomain"
        );
        assert!(
            !may_serve("127.0.0.1:7667", "bar.org", None),
            "an address proves nothing"
        );
        assert!(may_serve("127.0.0.1:7667", "bar.org", Some("bar.org")));
        assert!(
            !may_serve("bar.org", "bar.org", Some("baz.org")),
            "what the user said wins"
        );
    }

    #[test]
    fn servers_and_domains() {
        assert_eq!(with_port("example.com"), "example.com:7667");
        assert_eq!(with_port("127.0.0.1:1"), "127.0.0.1:1");
        assert_eq!(with_port("::1"), "[::1]:7667");
        assert_eq!(with_port("[::1]:9"), "[::1]:9");
        assert_eq!(with_port("[::1]"), "[::1]:7667");
        assert!(discoverable("chat.example.org"));
        assert!(discoverable("example"));
        for no in [
            "localhost",
            "LocalHost",
            "a.localhost",
            "127.0.0.1",
            "::1",
            "[::1]",
            "h:1",
            "[::1]:9",
        ] {
            assert!(!discoverable(no), "{no}");
        }
    }
}
