//! Tab completion: command names, joined and listed channels, recent IDs and message refs;
//! and the moment Enter is pressed, for [`typed`](super::typed).

use super::command::{ALIASES, COMMANDS, canonical, in_channel};
use super::exec::recent_refs;
use super::shared::Shared;
use crate::names::short;
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};
use std::sync::Arc;

/// The rustyline helper: completion, and a validator that accepts every line but holds the
/// printer as it does; no hints or highlighting.
pub struct ChatHelper {
    shared: Arc<Shared>,
}

impl ChatHelper {
    /// A helper reading the session state.
    pub fn new(shared: Arc<Shared>) -> ChatHelper {
        ChatHelper { shared }
    }

    fn topics(&self) -> Vec<String> {
        let st = self.shared.state();
        let mut v: Vec<String> = st.subs.iter().map(|t| short(t, &st.domain).to_string()).collect();
        for t in &st.known {
            let s = short(t, &st.domain).to_string();
            if !v.contains(&s) {
                v.push(s);
            }
        }
        v
    }

    fn senders(&self) -> Vec<String> {
        let st = self.shared.state();
        st.senders
            .iter()
            .rev()
            .map(|t| short(t, &st.domain).to_string())
            .collect()
    }
}

/// The first argument in the usage of the command `typed` (or of the command it is an alias
/// of): `TOPIC`, `USER`, ...
fn first_arg(typed: &str) -> Option<&'static str> {
    let name = canonical(&typed.to_ascii_lowercase());
    let (_, args, _) = COMMANDS.iter().find(|(n, _, _)| *n == name)?;
    // `USER[,USER...]`: a list of them completes as one (the name being typed).
    let first = args.split_whitespace().next()?;
    first.split("[,").next()
}

/// The candidates for the word being typed, given the words before it.
pub fn candidates(
    before: &[&str],
    word: &str,
    topics: &[String],
    ids: &[String],
    refs: &[String],
) -> Vec<String> {
    // IRC's order, `/kick #rust bob`: a channel named first, then the command's arguments.
    let channel_first = |cmd: &str| in_channel(&canonical(&cmd.to_ascii_lowercase()));
    let before = match before {
        [cmd, ch, ..] if ch.starts_with('#') && channel_first(cmd) => {
            return candidates(&before_without(before), word, topics, ids, refs);
        }
        [cmd, ..] if word.starts_with('#') && channel_first(cmd) => {
            return filtered(topics.to_vec(), word);
        }
        _ => before,
    };
    let pool: Vec<String> = match before {
        [] if word.starts_with('/') => {
            let lower = word.to_ascii_lowercase();
            // IRC's words for commands too, once a letter is typed: `/q<Tab>` never gave
            // `/query` (found by an IRC user). Not the one-letter ones, which are typed whole.
            let aliases = ALIASES
                .iter()
                .map(|&(alias, _)| alias)
                .filter(|alias| alias.len() > 3 && lower.len() > 1);
            return COMMANDS
                .iter()
                .map(|&(n, _, _)| n)
                .chain(aliases)
                .filter(|n| n.starts_with(&lower))
                .map(|n| format!("{n} "))
                .collect();
        }
        // The first argument of a command: what its usage names there.
        [cmd] if cmd.starts_with('/') && !cmd.starts_with("//") => match first_arg(cmd) {
            // A conversation is switched to by its person's name.
            Some("TOPIC") if canonical(cmd) == "/switch" => topics.iter().chain(ids).cloned().collect(),
            Some("TOPIC" | "[TOPIC]" | "[CHANNEL]") => topics.to_vec(),
            Some("ID" | "USER" | "PATTERN") => ids.to_vec(),
            Some("REF") => refs.to_vec(),
            // `/help jo` or `/help /jo` (found by QA: nothing completed).
            Some("[COMMAND]") => COMMANDS
                .iter()
                .map(|(n, _, _)| match word.starts_with('/') {
                    true => n.to_string(),
                    false => n.trim_start_matches('/').to_string(),
                })
                .collect(),
            _ => Vec::new(),
        },
        // A name that starts a line addresses its person, as IRC clients complete it:
        // `bob: ` (found by QA: bare `bob`).
        [] => ids.iter().map(|id| format!("{id}: ")).collect(),
        // In text, complete names of people, as IRC clients do.
        _ => ids.to_vec(),
    };
    filtered(pool, word)
}

/// `before` without its second word, the channel named first.
fn before_without<'a>(before: &[&'a str]) -> Vec<&'a str> {
    before
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 1)
        .map(|(_, w)| *w)
        .collect()
}

/// The candidates of `pool` that start with `word`, folded as names are.
fn filtered(pool: Vec<String>, word: &str) -> Vec<String> {
    let lower = word.to_ascii_lowercase();
    let mut out: Vec<String> = pool.into_iter().filter(|c| c.starts_with(&lower)).collect();
    out.dedup();
    out
}

impl Completer for ChatHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = line.get(..pos).unwrap_or(line);
        // The word under the cursor starts after the last whitespace character.
        let start = before
            .char_indices()
            .rfind(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = before.get(start..).unwrap_or("");
        let words: Vec<&str> = before.get(..start).unwrap_or("").split_whitespace().collect();
        let (topics, ids) = (self.topics(), self.senders());
        let refs = if words.first().is_some_and(|w| first_arg(w) == Some("REF")) {
            recent_refs(&self.shared)
        } else {
            Vec::new()
        };
        Ok((start, candidates(&words, word, &topics, &ids, &refs)))
    }
}

impl Hinter for ChatHelper {
    type Hint = String;
}

impl Highlighter for ChatHelper {}

impl Validator for ChatHelper {
    /// Called on Enter, in raw mode, before rustyline draws the accepted line: the printer is
    /// held from here, so the editor can take that line back off the screen.
    fn validate(&self, _: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        self.shared.screen.hold();
        Ok(ValidationResult::Valid(None))
    }
}

impl Helper for ChatHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_by_context() {
        let topics = vec!["#rust".to_string(), "#go".to_string()];
        let ids = vec!["alice".to_string(), "bob".to_string()];
        let refs = vec!["ab12cd34".to_string()];
        let c = |b: &[&str], w: &str| candidates(b, w, &topics, &ids, &refs);
        assert_eq!(c(&[], "/jo"), ["/join "]);
        assert_eq!(c(&[], "/qu"), ["/queue ", "/quit ", "/query "], "IRC's words too");
        assert_eq!(c(&[], "/kic"), ["/kick ", "/kickban "]);
        assert_eq!(
            c(&[], "/"),
            COMMANDS
                .iter()
                .map(|(n, _, _)| format!("{n} "))
                .collect::<Vec<_>>()
        );
        assert_eq!(c(&["/join"], "#r"), ["#rust"]);
        assert_eq!(c(&["/msg"], "b"), ["bob"]);
        assert_eq!(c(&["/reply"], "ab"), ["ab12cd34"]);
        assert_eq!(c(&["/help"], "jo"), ["join"]);
        assert_eq!(c(&["/help"], "/jo"), ["/join"]);
        assert_eq!(c(&["hello"], "al"), ["alice"]);
        assert_eq!(c(&[], "Al"), ["alice: "], "at a line's start, addressed");
        assert!(c(&["/topics"], "x").is_empty());
        assert_eq!(c(&["/j"], "#g"), ["#go"], "an alias completes as its command");
        // A channel named first, as IRC writes it, then the command's own arguments (found by
        // QA: nothing completed after `/kick #`).
        assert_eq!(c(&["/kick"], "#r"), ["#rust"]);
        assert_eq!(c(&["/KICK", "#rust"], "b"), ["bob"]);
        assert_eq!(c(&["/invite", "alice"], "#g"), ["#go"]);
        assert_eq!(c(&["/topic"], "#"), ["#rust", "#go"]);
        assert_eq!(c(&["/kick"], "a"), ["alice"]);
        assert_eq!(c(&["/watch"], "b"), ["bob"]);
        assert_eq!(c(&["/r"], "ab"), ["ab12cd34"]);
        assert!(c(&["/history"], "a").is_empty());
        assert_eq!(c(&["/names"], "#r"), ["#rust"]);
        assert_eq!(c(&["/switch"], "b"), ["bob"], "a conversation");
        assert_eq!(c(&["/switch"], "#g"), ["#go"]);
    }
}
