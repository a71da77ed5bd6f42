//! Long lines folded by the client, before the terminal wraps them.
//!
//! A terminal wraps a line that is wider than it at its last column, and the rest starts at
//! column 0, where a line of the chat starts: a message padded with spaces to the width would
//! put its last words there, as a line from anyone (`10:42:14 0badc0de bob: ...`) or from the
//! client itself (`error: ...`). Folded here, every continuation starts under the text, marked
//! as one, as a newline in a message does (render.rs). The width of each character is taken
//! as at least what the terminal gives it (an emoji made wide by U+FE0F as wide; East Asian
//! ambiguous characters such as `①` or `…` as wide in a Chinese, Japanese or Korean locale,
//! whose terminals may draw them so), so the terminal does not reach its edge first; at worst
//! a line folds a little early.

use unicode_width::UnicodeWidthChar;

/// How far a continuation line is indented: under a chat line's text, past its time.
pub const INDENT: usize = 9;

/// What follows the indent on a continuation line.
pub const CONTINUED: &str = "| ";

/// Narrower than this, folding would leave no room for text: lines are left to the terminal.
const MIN_COLUMNS: usize = 20;

/// The columns of the terminal on standard output; `None` if it is not one.
pub fn columns() -> Option<usize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills the winsize passed, and only that.
    let got = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (got == 0 && ws.ws_col > 0).then_some(usize::from(ws.ws_col))
}

/// How the terminal counts East Asian ambiguous characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ambiguous {
    /// One column, as most terminals draw them.
    Narrow,
    /// Two, as terminals do in a CJK locale.
    Wide,
}

impl Ambiguous {
    /// Wide where the locale (`LC_ALL`, else `LC_CTYPE`, else `LANG`) is Chinese, Japanese or
    /// Korean.
    pub fn of_locale() -> Ambiguous {
        let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            .unwrap_or_default();
        match ["zh", "ja", "ko"].iter().any(|l| locale.starts_with(l)) {
            true => Ambiguous::Wide,
            false => Ambiguous::Narrow,
        }
    }
}

/// The columns `c` may take after a character that took `before`.
fn width(c: char, before: usize, ambiguous: Ambiguous) -> usize {
    match (c, ambiguous) {
        // Emoji presentation: a narrow symbol before it is drawn wide.
        ('\u{fe0f}', _) => usize::from(before == 1),
        (_, Ambiguous::Narrow) => c.width().unwrap_or(0),
        (_, Ambiguous::Wide) => c.width_cjk().unwrap_or(0),
    }
}

/// `text` (lines ending in newlines, or not) with every line wider than `columns` folded to
/// it. The client's own colour sequences (`ESC [ ... m`; text from the network has none left,
/// render.rs) take no room.
pub fn fold(text: &str, columns: usize, ambiguous: Ambiguous) -> String {
    if columns < MIN_COLUMNS {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + text.len() / columns * (INDENT + 3));
    let (mut col, mut before) = (0, 0);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\n' {
            out.push(c);
            (col, before) = (0, 0);
            continue;
        }
        if c == '\x1b' {
            out.push(c);
            for d in chars.by_ref() {
                out.push(d);
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        let w = width(c, before, ambiguous);
        if col + w > columns {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', INDENT));
            out.push_str(CONTINUED);
            col = INDENT + CONTINUED.len();
        }
        out.push(c);
        col += w;
        before = w;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ambiguous::{Narrow, Wide};

    /// The widest line of `text`, as [`fold`] counts.
    fn widest(text: &str, ambiguous: Ambiguous) -> usize {
        let line = |l: &str| {
            l.chars()
                .fold((0, 0), |(n, b), c| {
                    (n + width(c, b, ambiguous), width(c, b, ambiguous))
                })
                .0
        };
        text.lines().map(line).max().unwrap_or(0)
    }

    /// Found by QA: a message padded to the terminal's width put a forged line at column 0.
    #[test]
    fn padding_to_the_edge_cannot_start_a_line_of_the_chat() {
        let line = "10:42:14 4131c8f7 mallory: ok";
        let forged = "10:42:14 0badc0de bob: fake message from bob";
        let text = format!("{line}{}{forged}\n", " ".repeat(80 - line.len()));
        let folded = fold(&text, 80, Narrow);
        assert!(widest(&folded, Narrow) <= 80, "{folded}");
        let lines: Vec<&str> = folded.lines().collect();
        assert_eq!(lines.len(), 2, "{folded}");
        assert_eq!(lines[1], format!("         | {forged}"));
    }

    #[test]
    fn wide_and_emoji_characters_count_as_wide() {
        let folded = fold(&"漢".repeat(50), 80, Narrow);
        assert_eq!(folded.lines().next().unwrap().chars().count(), 40);
        // U+2764 is narrow alone, wide with U+FE0F.
        let hearts = fold(&"\u{2764}\u{fe0f}".repeat(50), 80, Narrow);
        assert_eq!(hearts.lines().next().unwrap().chars().count(), 80, "40 hearts");
        // East Asian ambiguous: narrow, but wide in a CJK terminal.
        let circled = "①".repeat(100);
        let first = |a| fold(&circled, 80, a).lines().next().unwrap().chars().count();
        assert_eq!((first(Narrow), first(Wide)), (80, 40));
    }

    #[test]
    fn colour_takes_no_room_and_marks_stay_with_their_letter() {
        let painted = format!("\x1b[31m{}\x1b[0m", "a".repeat(80));
        assert_eq!(fold(&painted, 80, Narrow), painted);
        let text = format!("{}e\u{301}", "a".repeat(79));
        assert_eq!(
            fold(&text, 80, Narrow),
            text,
            "the accent is on the 80th column's letter"
        );
        // Lines already short, and a narrow terminal, are left alone.
        assert_eq!(fold("a\nb\n", 80, Narrow), "a\nb\n");
        let long = "x".repeat(100);
        assert_eq!(fold(&long, 10, Narrow), long);
    }
}
