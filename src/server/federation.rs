//! Users of other domains (docs/PROTOCOL.md §4, Other domains). As a home server the core
//! issues tokens (Grant) and answers other servers about them (Verify); as the audience it
//! admits a foreign ID whose token the home server vouches for. Asking the home server is
//! network I/O, so the core hands a [`TokenCheck`] to the shell and picks the session up again
//! in [`Server::vouched`].

use super::auth::Dance;
use super::{ConnId, Now, Outbox, Server};
use crate::proto::*;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

/// Which other domains' users this server admits, on their home server's word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Foreign {
    /// None: an ID of another domain is `foreign_id` (the default).
    #[default]
    None,
    /// Only these domains.
    Allow(HashSet<Box<str>>),
    /// Any domain but these.
    Deny(HashSet<Box<str>>),
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sorted: a set's own order changes from run to run.
        let list = |d: &HashSet<Box<str>>| {
            let mut d: Vec<&str> = d.iter().map(|s| &**s).collect();
            d.sort_unstable();
            d.join(", ")
        };
        match self {
            Foreign::None => f.write_str("none"),
            Foreign::Allow(d) => write!(f, "those of {}", list(d)),
            Foreign::Deny(d) if d.is_empty() => f.write_str("any domain's"),
            Foreign::Deny(d) => write!(f, "any domain's but {}", list(d)),
        }
    }
}

impl Foreign {
    /// True if users of `domain` may come in with a token.
    pub fn admits(&self, domain: &str) -> bool {
        match self {
            Foreign::None => false,
            Foreign::Allow(d) => d.contains(domain),
            Foreign::Deny(d) => !d.contains(domain),
        }
    }
}

/// How long a token is good for, unless the operator says otherwise; also the longest a
/// home server's yes is kept.
pub const TOKEN_LIFETIME_MS: u64 = 5 * 60 * 1000;
/// Unexpired tokens one user may hold; a new one replaces the oldest.
const TOKENS_PER_USER: usize = 16;
/// Tokens issued, and foreign tokens vouched for, kept at once (each table).
const MAX_TOKENS: usize = 65_536;
/// How long a session waits for its home server's answer before it is told 608 anyway. The
/// verify threads give up after 5 s, but a DNS lookup before that has timeouts of its own
/// (the system's, for a host name): this bounds the wait whatever they are, so a session is
/// never held without end.
pub const VOUCH_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A question for a foreign ID's home server.
pub struct TokenCheck {
    /// The connection waiting for the answer.
    pub conn: ConnId,
    /// Which attempt, as for a password check.
    pub ticket: u64,
    /// The foreign ID.
    pub user: Box<str>,
    /// Its domain: whom to ask.
    pub home: Box<str>,
    /// The token it presented.
    pub token: Box<[u8]>,
}

impl std::fmt::Debug for TokenCheck {
    /// Never shows the token: it is a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCheck")
            .field("conn", &self.conn)
            .field("ticket", &self.ticket)
            .field("user", &self.user)
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

/// What the home server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vouched {
    /// Valid until this time.
    Yes(u64),
    /// Not valid.
    No,
    /// The home server could not be asked; the text says why.
    Unreachable(String),
    /// The home server failed moments ago and was not asked again: the check cost nothing,
    /// and does not count against the client (the text says why).
    Down(String),
    /// The home server's TLS certificate is not one this server trusts: this server's
    /// operator's to fix, so the user is told that trying again will not help (610).
    Untrusted {
        /// What the dial said.
        why: String,
        /// Found moments ago, and not dialled again: as [`Vouched::Down`], no failure of the
        /// client's, and logged at debug only.
        moments_ago: bool,
    },
}

struct Issued {
    user: Box<str>,
    audience: Box<str>,
    /// When it expires, on the wall clock: what the Token and each Vouch say.
    until: u64,
    /// When its lifetime has passed on the monotonic clock. A token is good only while both
    /// hold: a wall clock stepped back (NTP, a resumed VM) must not keep it good longer than
    /// its lifetime (found by stepping the clock back an hour: a 5-minute token was vouched
    /// for 65 minutes).
    ends: Instant,
}

/// `ms` after `now` on the monotonic clock. `token-lifetime` takes any number of seconds, and
/// `+` panics past what an Instant holds: not on Linux (seconds in an i64 hold u64::MAX ms),
/// but where it counts u64 nanoseconds (584 years). One that far is as good as never, so up to
/// 2^32 s is taken there (found in review).
fn mono_after(now: &Now, ms: u64) -> Instant {
    let far = |d| now.mono.checked_add(d);
    far(std::time::Duration::from_millis(ms))
        .or_else(|| far(std::time::Duration::from_secs(1 << 32)))
        .unwrap_or(now.mono)
}

impl Issued {
    fn good(&self, now: &Now) -> bool {
        self.until > now.unix_ms && self.ends > now.mono
    }
}

/// The core's federation state. No Debug: its keys are tokens.
pub(super) struct Federation {
    pub foreign: Foreign,
    /// How long the tokens this server issues last.
    pub lifetime_ms: u64,
    issued: HashMap<Box<[u8]>, Issued>,
    by_user: HashMap<Box<str>, VecDeque<Box<[u8]>>>,
    /// Foreign tokens a home server vouched for: the ID, until when on the wall clock (the
    /// home's word, bounded by ours), and until when on the monotonic clock (as [`Issued`]).
    vouched: HashMap<Box<[u8]>, (Box<str>, u64, Instant)>,
}

impl Default for Federation {
    fn default() -> Self {
        Federation {
            foreign: Foreign::None,
            lifetime_ms: TOKEN_LIFETIME_MS,
            issued: HashMap::new(),
            by_user: HashMap::new(),
            vouched: HashMap::new(),
        }
    }
}

impl Federation {
    /// Forgets expired tokens and answers.
    pub fn prune(&mut self, now: &Now) {
        let t = now.unix_ms;
        self.issued.retain(|_, i| i.good(now));
        let issued = &self.issued;
        self.by_user.retain(|_, q| {
            q.retain(|tok| issued.contains_key(tok));
            !q.is_empty()
        });
        self.vouched
            .retain(|_, (_, until, ends)| *until > t && *ends > now.mono);
    }

    /// Fills the table of issued tokens to its bound with tokens of a made-up user, good
    /// until `until`.
    #[cfg(test)]
    pub fn fill(&mut self, until: u64, ends: Instant) {
        for i in 0..MAX_TOKENS.saturating_sub(self.issued.len()) {
            let token: Box<[u8]> = (i as u64).to_le_bytes().into();
            let issued = Issued {
                user: "filler@example.com".into(),
                audience: "bar.org".into(),
                until,
                ends,
            };
            self.issued.insert(token, issued);
        }
    }

    /// Withdraws the tokens issued to `user` (its account is gone): other servers asking about
    /// them are told no.
    pub fn revoke(&mut self, user: &str) {
        for token in self.by_user.remove(user).unwrap_or_default() {
            self.issued.remove(&token);
        }
    }
}

impl Server {
    /// Sets which other domains' users this server admits.
    pub fn set_foreign(&mut self, foreign: Foreign) {
        self.federation.foreign = foreign;
    }

    /// Sets how long the tokens this server issues last.
    pub fn set_token_lifetime(&mut self, lifetime: std::time::Duration) {
        self.federation.lifetime_ms = u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX);
    }

    /// Grant: a token for the logged-in user, for the audience `server`.
    pub(super) fn grant(&mut self, conn: ConnId, m: Grant<'_>, now: &Now, out: &mut impl Outbox) {
        let user = match self.session(conn) {
            Some(s) if s.authenticated => s.user.as_deref().map(Box::<str>::from),
            _ => None,
        };
        let Some(user) = user else {
            let reason = "only a session that logged in with a password gets tokens";
            return self.fail(conn, m.seq, ErrorCode::AuthRequired, reason, out);
        };
        // Here the password is the proof; a token for this server would prove nothing more.
        if m.server.eq_ignore_ascii_case(&self.domain) {
            let reason = format!("tokens are for other servers; {} is this one", self.domain);
            return self.fail(conn, m.seq, ErrorCode::BadTopic, &reason, out);
        }
        let f = &mut self.federation;
        if f.issued.len() >= MAX_TOKENS {
            f.prune(now);
        }
        // A full table takes a user's new token in place of its own oldest; one who holds
        // none is refused until tokens expire.
        let full = f.issued.len() >= MAX_TOKENS;
        if full && f.by_user.get(&user).is_none_or(|mine| mine.is_empty()) {
            // Until the first of them ends, whatever `--token-lifetime` made them (60 s was
            // too soon for a day's tokens, and too late for 30 s ones). The prune just walked
            // the table; this walk is the refusal's alone.
            let first = f.issued.values().map(|i| i.until).min().unwrap_or(now.unix_ms);
            let wait = std::time::Duration::from_millis(first.saturating_sub(now.unix_ms).max(1));
            let reason = "too many tokens outstanding; try again when the first of them ends";
            let refused = super::Refused::waiting(ErrorCode::AuthThrottled, reason.into(), wait);
            return self.fail_refused(conn, m.seq, refused, out);
        }
        let token: Box<[u8]> = match crate::random::bytes::<32>() {
            Ok(b) => b.into(),
            Err(e) => {
                let reason = format!("no randomness: {e}");
                return self.fail(conn, m.seq, ErrorCode::AuthThrottled, &reason, out);
            }
        };
        let mut until = now.unix_ms.saturating_add(f.lifetime_ms);
        let mut ends = mono_after(now, f.lifetime_ms);
        let mine = f.by_user.entry(user.clone()).or_default();
        if (mine.len() >= TOKENS_PER_USER || full)
            && let Some(old) = mine.pop_front()
            && let Some(old) = f.issued.remove(&old)
            && full
        {
            // In a full table, no later than the one it replaces: else a horde of accounts
            // granting again and again would keep the table full, and newcomers out, for good
            // (review 215). The Token says when it ends.
            until = until.min(old.until);
            ends = ends.min(old.ends);
        }
        mine.push_back(token.clone());
        f.issued.insert(
            token.clone(),
            Issued {
                user,
                audience: m.server.into(),
                until,
                ends,
            },
        );
        let reply = Token {
            seq: m.seq,
            server: m.server,
            token: &token,
            until,
        };
        out.reply(conn, &Msg::Token(reply));
    }

    /// Verify: another server asks about a token this server issued.
    pub(super) fn verify_token(&mut self, conn: ConnId, m: Verify<'_>, now: &Now, out: &mut impl Outbox) {
        if m.user.kind() != Kind::User {
            let reason = format!("{} is not a user ID", m.user);
            return self.fail(conn, m.seq, ErrorCode::BadId, &reason, out);
        }
        // Asked about another domain's user, this is not its home: most likely the asker's
        // table of home servers points here by mistake, which an answer of "not valid"
        // would hide behind its users' failed logins.
        if m.user.domain() != &*self.domain {
            let reason = format!(
                "this server is the home of users @{} only, not of {}",
                self.domain, m.user
            );
            return self.fail(conn, m.seq, ErrorCode::ForeignId, &reason, out);
        }
        let until = self.federation.issued.get(m.token).and_then(|i| {
            (&*i.user == m.user.as_str() && &*i.audience == m.server && i.good(now)).then_some(i.until)
        });
        // Debug, not info: any connection may send Verify, and a log line each would let it
        // fill the log at the byte rate.
        log::debug!(
            "conn {conn}: {:?} asked about a token of {}: {}",
            m.server,
            m.user,
            if until.is_some() { "valid" } else { "not valid" }
        );
        let reply = Vouch {
            seq: m.seq,
            user: m.user,
            valid: until.is_some(),
            until,
        };
        out.reply(conn, &Msg::Vouch(reply));
    }

    /// An Ident with a foreign ID and a token: admitted from the cache of answers, or once
    /// its home server vouches for it.
    pub(super) fn foreign_ident(
        &mut self,
        conn: ConnId,
        m: Ident<'_>,
        token: &[u8],
        now: &Now,
        out: &mut impl Outbox,
    ) {
        let (user, home) = (m.user.as_str(), m.user.domain());
        if !self.federation.foreign.admits(home) {
            let reason = format!("this server does not admit users of {home}");
            return self.fail(conn, m.seq, ErrorCode::ForeignId, &reason, out);
        }
        if let Some((who, until, ends)) = self.federation.vouched.get(token)
            && &**who == user
            && *until > now.unix_ms
            && *ends > now.mono
        {
            self.proven(conn);
            return self.admit(conn, user.into(), false, m.seq, out);
        }
        // Every check costs a connection to the home server: limited like password attempts,
        // per address, and counted as failed unless the home vouches. Otherwise one client
        // could make this server dial out without bound, and get it refused. Not per ID: a
        // token is not guessed, and the IDs of an admitted domain are anyone's to make up.
        let Some(addr) = self.session(conn).map(|s| s.addr()) else {
            return;
        };
        if let Some(wait) = self.accounts.wait(user, addr, now) {
            return self.fail_refused(conn, m.seq, super::auth::throttled_refusal(wait), out);
        }
        self.accounts.tickets += 1;
        let ticket = self.accounts.tickets;
        let job = TokenCheck {
            conn,
            ticket,
            user: user.into(),
            home: home.into(),
            token: token.into(),
        };
        if !out.check_token(job) {
            let refused =
                super::Refused::busy("too many logins from other domains in progress; try again in 1 s");
            return self.fail_refused(conn, m.seq, refused, out);
        }
        self.accounts.begin(None, addr, now.mono);
        if let Some(s) = self.session_mut(conn) {
            s.dance = Some(Box::new(Dance::Vouching {
                ticket,
                user: user.into(),
                token: token.into(),
                seq: m.seq,
                since: now.mono,
            }));
        }
        self.pause(conn);
    }

    /// The home server's answer for `conn`'s attempt `ticket`.
    pub fn vouched(&mut self, conn: ConnId, ticket: u64, answer: Vouched, now: &Now, out: &mut impl Outbox) {
        let Some(s) = self.session_mut(conn) else { return };
        let addr = s.addr();
        let (user, token, seq) = match s.dance.take().map(|d| *d) {
            Some(Dance::Vouching {
                ticket: t,
                user,
                token,
                seq,
                since,
            }) if t == ticket => {
                super::auth::stop_the_clock(s, since, now);
                (user, token, seq)
            }
            other => {
                s.dance = other.map(Box::new);
                return;
            }
        };
        // A check that the home answered yes, or that never reached a home known to be down,
        // is no failure of the address: a client may repeat the latter at will (the failed
        // dial was logged already).
        let failed = super::auth::Failed {
            by_name: false,
            by_addr: !matches!(
                answer,
                Vouched::Yes(_)
                    | Vouched::Down(_)
                    | Vouched::Untrusted {
                        moments_ago: true,
                        ..
                    }
            ),
        };
        self.accounts.end(None, addr, failed, now.mono);
        match &answer {
            Vouched::Down(why)
            | Vouched::Untrusted {
                why,
                moments_ago: true,
            } => {
                log::debug!("conn {conn}: the home server of {user} is down: {why:?}");
            }
            // The details stay in the log: the addresses a domain's DNS named and how dialling
            // them failed would map this server's network for whoever asks.
            Vouched::Unreachable(why) | Vouched::Untrusted { why, .. } => {
                log::warn!("conn {conn}: cannot ask the home server of {user}: {why:?}")
            }
            _ => {}
        }
        match answer {
            Vouched::Yes(until) => {
                let f = &mut self.federation;
                if f.vouched.len() >= MAX_TOKENS {
                    f.prune(now);
                }
                // The answer is kept no longer than a token of ours would live, whatever the
                // home server says.
                let until = until.min(now.unix_ms.saturating_add(TOKEN_LIFETIME_MS));
                // Kept as long on the monotonic clock, so that our clock stepping back does
                // not keep it longer.
                let ends = mono_after(now, until.saturating_sub(now.unix_ms));
                if f.vouched.len() < MAX_TOKENS {
                    f.vouched.insert(token, (user.clone(), until, ends));
                }
                self.proven(conn);
                self.admit(conn, user, false, seq, out);
            }
            Vouched::No => {
                let reason = "the home server does not vouch for this token";
                self.fail(conn, seq, ErrorCode::BadCredentials, reason, out);
            }
            Vouched::Unreachable(_) | Vouched::Down(_) => {
                let home = user.split_once('@').map_or("", |(_, d)| d);
                let reason = format!("cannot ask the home server of {home} now; try again later");
                self.fail(conn, seq, ErrorCode::HomeUnreachable, &reason, out);
            }
            Vouched::Untrusted { .. } => {
                let home = user.split_once('@').map_or("", |(_, d)| d);
                let reason = format!(
                    "cannot ask the home server of {home}: this server does not trust its TLS \
                     certificate, which trying again will not change (its operator can name \
                     that certificate's CA)"
                );
                self.fail(conn, seq, ErrorCode::HomeUntrusted, &reason, out);
            }
        }
        self.resume(conn, out);
    }
}

impl Server {
    /// Sessions waiting longer than [`VOUCH_WAIT`] for their home server get 608 now; a late
    /// answer then finds no attempt to apply to.
    pub(super) fn vouches_overdue(&mut self, now: &Now, out: &mut impl Outbox) {
        let overdue: Vec<(ConnId, u64)> = (0..self.sessions.len())
            .filter_map(|conn| match self.session(conn)?.dance.as_deref()? {
                Dance::Vouching { ticket, since, .. }
                    if now.mono.saturating_duration_since(*since) >= VOUCH_WAIT =>
                {
                    Some((conn, *ticket))
                }
                _ => None,
            })
            .collect();
        for (conn, ticket) in overdue {
            let why = format!("no answer in {} s", VOUCH_WAIT.as_secs());
            self.vouched(conn, ticket, Vouched::Unreachable(why), now, out);
        }
    }

    /// The session's ID is proven by its home server's word: it counts as logged in (but may
    /// not ask this server for tokens: it has no account here).
    fn proven(&mut self, conn: ConnId) {
        if let Some(s) = self.session_mut(conn) {
            s.logged_in = true;
        }
    }
}
