//! A message's typed line leaves the screen once the server took it: its echo shows it again
//! with its time, ref and sender, so the typed copy above it would show every line twice. IRC
//! clients avoid that by keeping the input line apart from the chat; a line editor has to take
//! it back.
//!
//! Taking it back means moving the cursor up over the rows rustyline drew and erasing them, so
//! it is done only when those rows are the last ones drawn: the printer is held from the
//! moment Enter is pressed ([`Screen::hold`](super::screen::Screen::hold), from the validator,
//! while rustyline still owns the terminal) until the server has answered, and nothing was in
//! flight as the hold began. A message not sent (refused by the server or the client, offline,
//! no answer in time) stays, with the error under it. Any doubt (a message printed as Enter
//! was pressed, a control character whose width rustyline and the terminal may count
//! differently, no terminal size) leaves the line where it is; at worst (keys typed ahead
//! while the message is on its way, which the terminal echoes) too little is erased, never a
//! line of the chat, since nothing else is printed meanwhile.

use super::command::{self, Command};
use crate::fold::Ambiguous;
use rustyline::GraphemeClusterMode;
use std::io::Write;
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthChar;

/// Whether `line` is a message, which the server echoes if it takes it.
pub fn is_message(line: &str) -> bool {
    matches!(
        command::parse(line),
        Ok(Command::Say(_) | Command::Me(_) | Command::Msg(..) | Command::Reply(..))
    )
}

/// Whether every terminal draws `g` as wide as rustyline counts it: one character, or one
/// followed by marks that draw nothing of their own (é as e and U+0301). Not an emoji
/// sequence: terminals join some of them and not others (found by QA: tmux drew a line of 👩‍💻
/// on fewer rows than rustyline counted, and a chat line above it was erased), nor a
/// character whose width depends on the locale's terminal (East Asian ambiguous, where those
/// are wide).
fn drawn_as_counted(g: &str, ambiguous: Ambiguous) -> bool {
    let mut chars = g.chars();
    let Some(first) = chars.next() else {
        return true;
    };
    let steady = |c: char| ambiguous == Ambiguous::Narrow || c.width() == c.width_cjk();
    // A flag's letters, alone or paired.
    !('\u{1f1e6}'..='\u{1f1ff}').contains(&first)
        && steady(first)
        && chars.all(|c| {
            c.width() == Some(0)
                && steady(c)
                // Joiners, variation selectors and tags make sequences; skin tones are wide.
                && !matches!(c, '\u{200d}' | '\u{fe00}'..='\u{fe0f}' | '\u{e0000}'..='\u{e0fff}')
        })
}

/// The rows from the prompt's to the cursor's after rustyline accepted `line` behind
/// `prompt` on a terminal `columns` wide: counted as rustyline counts them (its
/// `calculate_position`), which is how it moved the cursor. `None` where that could differ
/// from the terminal: control characters, graphemes not [`drawn_as_counted`], no columns.
pub fn rows(
    prompt: &str,
    line: &str,
    columns: usize,
    mode: GraphemeClusterMode,
    ambiguous: Ambiguous,
) -> Option<usize> {
    if columns == 0 || prompt.chars().chain(line.chars()).any(char::is_control) {
        return None;
    }
    let (mut row, mut col) = (0usize, 0usize);
    for g in prompt.graphemes(true).chain(line.graphemes(true)) {
        if !drawn_as_counted(g, ambiguous) {
            return None;
        }
        let w = usize::from(mode.width(g));
        col += w;
        // A wide character that does not fit moves whole to the next row.
        if col > columns {
            row += 1;
            col = w;
        }
    }
    // A row filled exactly: rustyline writes a newline of its own to reach the next one.
    if col == columns {
        row += 1;
    }
    // And the newline that ends the line.
    Some(row + 1)
}

/// Erases the `rows` rows above the cursor, leaving the cursor where the first began.
pub fn erase(rows: usize) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\r\x1b[{rows}A\x1b[J").and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODE: GraphemeClusterMode = GraphemeClusterMode::WcWidth;

    #[test]
    fn counts_rows_as_rustyline_wraps() {
        let r = |p: &str, l: &str, c| rows(p, l, c, MODE, Ambiguous::Narrow);
        assert_eq!(r("#a> ", "hi", 80), Some(1));
        // Ten columns: the prompt and eight letters fill the row; one more wraps.
        assert_eq!(
            r("#a> ", "abcdef", 10),
            Some(2),
            "a full row adds rustyline's newline"
        );
        assert_eq!(r("#a> ", "abcde", 10), Some(1));
        assert_eq!(r("#a> ", "abcdefg", 10), Some(2));
        assert_eq!(
            r("#a> ", &"x".repeat(26), 10),
            Some(4),
            "30 columns: three rows and the newline"
        );
        // A wide character never splits: at column 9 of 10 it starts the next row.
        assert_eq!(r("#a> ", "abcde日", 10), Some(2));
        assert_eq!(r("#a> ", "abcd日", 10), Some(2), "exactly full");
        assert_eq!(r("#a> ", "a\tb", 80), None);
        assert_eq!(r("#a> ", "a\u{1b}[2Jb", 80), None);
        assert_eq!(r("#a> ", "hi", 0), None);
        // As terminals draw them alike: a mark on its letter, an emoji alone, CJK.
        assert_eq!(r("#a> ", "cafe\u{301}", 80), Some(1));
        assert_eq!(r("#a> ", "ok 😀 日本", 80), Some(1));
        // Not so (found by QA in tmux): sequences, skin tones, flags, variation selectors.
        for seq in ["👩\u{200d}💻", "👍🏽", "🇫🇷", "❤\u{fe0f}"] {
            assert_eq!(r("#a> ", &format!("ok {seq}"), 80), None, "{seq}");
        }
        // East Asian ambiguous characters where the terminal may draw them wide.
        assert_eq!(rows("#a> ", "§ ok", 80, MODE, Ambiguous::Narrow), Some(1));
        assert_eq!(rows("#a> ", "§ ok", 80, MODE, Ambiguous::Wide), None);
        assert_eq!(rows("#a> ", "日本 ok", 80, MODE, Ambiguous::Wide), Some(1));
    }
}
