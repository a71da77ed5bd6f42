//! A message's typed line leaves the screen once it is sent: its echo shows it again with its
//! time, ref and sender, so the typed copy above it would show every line twice. IRC clients
//! avoid that by keeping the input line apart from the chat; a line editor has to take it
//! back.
//!
//! Taking it back means moving the cursor up over the rows rustyline drew and erasing them, so
//! it is done only when those rows are certainly the last ones on the screen: the printer was
//! held from the moment Enter was pressed ([`Screen::hold`](super::screen::Screen::hold), from
//! the validator, while rustyline still owns the terminal) and had nothing in flight then. Any
//! doubt (a message printed as Enter was pressed, a control character whose width rustyline
//! and the terminal may count differently, no terminal size) leaves the line where it is.

use super::command::{self, Command};
use super::shared::Shared;
use rustyline::GraphemeClusterMode;
use std::io::Write;
use unicode_segmentation::UnicodeSegmentation;

/// Whether `line` is a message that will be echoed: one the server is expected to take, so
/// that what replaces it on the screen is its echo (a refusal is printed after nothing,
/// and ↑ recalls the line).
pub fn is_message(shared: &Shared, line: &str) -> bool {
    let st = shared.state();
    if !st.connected {
        // Offline, the line is refused by the client itself: it stays above the error.
        return false;
    }
    match command::parse(line) {
        Ok(Command::Say(_) | Command::Me(_)) => st.current.is_some(),
        Ok(Command::Msg(_, text)) => !text.is_empty(),
        Ok(Command::Reply(r, _)) => st.resolve_ref(r).is_ok(),
        _ => false,
    }
}

/// The rows from the prompt's to the cursor's after rustyline accepted `line` behind
/// `prompt` on a terminal `columns` wide: counted as rustyline counts them (its
/// `calculate_position`), which is how it moved the cursor. `None` where that could differ
/// from the terminal: control characters, no columns.
pub fn rows(prompt: &str, line: &str, columns: usize, mode: GraphemeClusterMode) -> Option<usize> {
    if columns == 0 || prompt.chars().chain(line.chars()).any(char::is_control) {
        return None;
    }
    let (mut row, mut col) = (0usize, 0usize);
    for g in prompt.graphemes(true).chain(line.graphemes(true)) {
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
        let r = |p: &str, l: &str, c| rows(p, l, c, MODE);
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
    }
}
