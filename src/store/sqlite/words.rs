//! What a word is, for search: PROTOCOL.md's maximal runs of letters, numbers and combining
//! marks, by this build's Unicode tables.
//!
//! FTS5's `unicode61` tokenizer has its own, older tables: it takes a character it does not
//! know (🙂, ₽, the skin-tone modifiers, most symbols added since Unicode 6.1) for part of a
//! word, so "thanks🙂" was indexed as one word that no query could find. So the text index is
//! fed bodies with every other character already a space ([`spaced`], as the SQL function
//! [`SPACED`]), and queries are cut at the same characters ([`words`]); the tokenizer then
//! only folds case and diacritics, the same way on both sides.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value, ValueRef};
use std::borrow::Cow;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// The SQL name of [`spaced`], for the statements that fill the text index.
pub const SPACED: &str = spaced_fn!();

/// Whether `c` belongs to a word. Combining marks do, so that a word typed decomposed
/// ("re\u{301}sume\u{301}", as some keyboards send it) stays one word, which the tokenizer then
/// folds like its composed form.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c.general_category_group() == GeneralCategoryGroup::Mark
}

/// The words of `text`, in order.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c| !is_word_char(c)).filter(|w| !w.is_empty())
}

/// `text` with every character that is not part of a word replaced by a space (borrowed when
/// there is none).
pub fn spaced(text: &str) -> Cow<'_, str> {
    if text.chars().all(|c| c == ' ' || is_word_char(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    out.extend(text.chars().map(|c| if is_word_char(c) { c } else { ' ' }));
    Cow::Owned(out)
}

/// Makes [`SPACED`] callable in `conn`'s SQL. It passes anything but text through unchanged.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags =
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function(SPACED, 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Text(t) => match std::str::from_utf8(t) {
                Ok(s) => Value::Text(spaced(s).into_owned()),
                // Not stored by scalard (bodies are checked UTF-8), but a foreign row must not
                // stop the index: index it as SQLite would have.
                Err(_) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            },
            _ => ctx.get::<Value>(0)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_runs_of_letters_numbers_and_marks() {
        let w = |t| words(t).collect::<Vec<_>>();
        assert_eq!(w("hello🙂world"), ["hello", "world"]);
        assert_eq!(w("thanks🙂 5₽today"), ["thanks", "5", "today"]);
        assert_eq!(w("wave👋🏽ok"), ["wave", "ok"]);
        assert_eq!(w("a\u{2066}b\u{2069}c"), ["a", "b", "c"]);
        assert_eq!(w("re\u{301}sume\u{301}"), ["re\u{301}sume\u{301}"]);
        // Devanagari: a virama (a mark that is not alphabetic) inside one word.
        assert_eq!(w("क्षमा करें"), ["क्षमा", "करें"]);
        assert_eq!(w("½ Ⅻ, ok?"), ["½", "Ⅻ", "ok"]);
        assert!(w(" ,;-🙂 ").is_empty());
    }

    #[test]
    fn spaced_keeps_words_and_blanks_the_rest() {
        assert!(matches!(spaced("plain words"), Cow::Borrowed(_)));
        assert_eq!(spaced("hello🙂world, ok"), "hello world  ok");
        assert_eq!(spaced("wave👋🏽ok"), "wave  ok");
        assert_eq!(spaced("re\u{301}sume\u{301}!"), "re\u{301}sume\u{301} ");
    }
}
