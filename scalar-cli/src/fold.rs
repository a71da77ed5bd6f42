//! Long lines folded by the client, before the terminal wraps them.
//!
//! A terminal wraps a line that is wider than it at its last column, and the rest starts at
//! column 0, where a line of the chat starts: a message padded with spaces to the width would
//! put its last words there, as a line from anyone (`10:42:14 0badc0de bob: ...`) or from the
//! client itself (`error: ...`). Folded here, every continuation starts under the text, marked
//! as one, as a newline in a message does (render.rs). The width of each character is taken
//! as at least what a terminal may give it (an emoji made wide by U+FE0F as wide; a mark as a
//! column, as some terminals draw spacing vowel signs; every character not ASCII as wide in a
//! Chinese, Japanese or Korean locale, whose terminals may draw ambiguous ones so), so the
//! terminal does not reach its edge first; at worst a line folds a little early.

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthChar;

/// How far a continuation line is indented: under a chat line's text, past its time.
pub const INDENT: usize = 9;

/// What follows the indent on a continuation line.
pub const CONTINUED: &str = "| ";

/// Narrower than this, folding would leave no room for text: lines are left to the terminal.
const MIN_COLUMNS: usize = 20;

/// The columns of the terminal on standard output; `None` if it is not one.
pub fn columns() -> Option<usize> {
    size().map(|(columns, _)| columns)
}

/// The columns and rows of the terminal on standard output; `None` if it is not one.
pub fn size() -> Option<(usize, usize)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills the winsize passed, and only that.
    let got = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (got == 0 && ws.ws_col > 0).then_some((usize::from(ws.ws_col), usize::from(ws.ws_row)))
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

/// The columns `c` may take after a character that took `before`: never fewer than a
/// terminal gives it, so more at times.
fn width(c: char, before: usize, ambiguous: Ambiguous) -> usize {
    match (c, ambiguous) {
        // Emoji presentation: a narrow symbol before it is drawn wide.
        ('\u{fe0f}', _) => usize::from(before == 1),
        // What hidden.rs lets through only where it joins or varies what is drawn: nothing
        // of its own.
        ('\u{200c}' | '\u{200d}' | '\u{fe00}'..='\u{fe0e}' | '\u{e0000}'..='\u{e0fff}', _) => 0,
        // A flag's two letters: drawn two columns each by some terminals.
        ('\u{1f1e6}'..='\u{1f1ff}', _) => 2,
        // unicode-width gives marks none, spacing vowel signs among them (Tamil's ா, which a
        // terminal draws a column wide): a column each, which folds text with marks early
        // rather than late.
        (_, Ambiguous::Narrow) => c.width().unwrap_or(0).max(1),
        // Where ambiguous characters are wide, so may any letter not ASCII be (unicode-width
        // counts Greek and Cyrillic narrow even there; xterm -cjk_width does not).
        (_, Ambiguous::Wide) if !c.is_ascii() => c.width_cjk().unwrap_or(0).max(2),
        (_, Ambiguous::Wide) => c.width_cjk().unwrap_or(0).max(1),
    }
}

/// The columns a grapheme (a letter with its marks, an emoji sequence, a flag) may take: its
/// characters' together, which a terminal drawing a sequence as one emoji does not pass.
fn cluster_width(g: &str, ambiguous: Ambiguous) -> usize {
    let mut before = 0;
    g.chars()
        .map(|c| {
            before = width(c, before, ambiguous);
            before
        })
        .sum()
}

/// Folds `text` into `out`, its columns counted in `col`.
struct Folder<'o> {
    out: &'o mut String,
    col: usize,
    columns: usize,
    /// The last place on this line where it may fold ([`Break`]). A line is folded there
    /// when it can be, between words, rather than within one.
    fold_at: Option<Break>,
    /// The last character written, which tells whether a line may fold after it.
    last: Option<char>,
}

/// A place where a line may fold: at a space, which goes, or between two characters of the
/// scripts written without spaces ([`may_fold_between`]).
#[derive(Clone, Copy)]
struct Break {
    /// Where it is in `out`.
    at: usize,
    /// The bytes that go when the line folds there: a space's one, or none.
    gone: usize,
    /// The column after it.
    after: usize,
}

/// Characters of the scripts written without spaces between words (Han, kana, their
/// punctuation and fullwidth forms) and emoji: a line may fold before or after each, as
/// Unicode's line breaking lets it (UAX #14, class ID); else a run of them would move to the
/// next line whole, leaving the first line of a message empty after its sender's name.
fn folds_around(c: char) -> bool {
    c >= '\u{2e80}'
        && matches!(u32::from(c),
            0x2e80..=0x2fff | 0x3000..=0x30ff | 0x31f0..=0x31ff | 0x3400..=0x4dbf
            | 0x4e00..=0x9fff | 0xf900..=0xfaff | 0xff00..=0xff9f | 0x1f000..=0x1faff
            | 0x20000..=0x3fffd)
}

/// What no line starts with (closing punctuation, small kana, the prolonged sound and voicing
/// marks, the wave dash, ellipses, a percent sign: the Japanese rule of kinsoku) or ends with
/// (opening punctuation, a currency sign before its number).
fn starts_no_line(c: char) -> bool {
    ('\u{31f0}'..='\u{31ff}').contains(&c) // small Katakana of the phonetic extensions
        || ",.;:!?)]}%»›、。，．・：；？！ー）」』】〕〉》〙〗〛⦆〟’”ゝゞヽヾ々〜゛゜…‥‼⁇⁈⁉ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ）］｝％｡｣､･ﾞﾟ"
            .contains(c)
}

fn ends_no_line(c: char) -> bool {
    "([{«‹（「『【〔〈《〘〖〚⦅〝‘“［｛｢$£¥€＄￡￥".contains(c)
}

/// Whether a line may fold between `before` and `next` (neither a space).
fn may_fold_between(before: char, next: char) -> bool {
    (folds_around(before) || folds_around(next))
        && !starts_no_line(next)
        && !ends_no_line(before)
        && ![before, next].contains(&' ')
}

impl Folder<'_> {
    /// The columns a continuation line starts with.
    const PREFIX: usize = INDENT + CONTINUED.len();

    /// Writes `s`, `width` columns, on this line if it fits, else on a new continuation line
    /// (with the word it ends, if that fits there).
    fn put(&mut self, s: &str, width: usize) {
        // A space where the line is full is where it folds: it goes, as the ones folded at do.
        if s == " " && self.col + width > self.columns {
            self.fold_line(None);
            return;
        }
        let next = s.chars().next();
        if let (Some(before), Some(next)) = (self.last, next)
            && may_fold_between(before, next)
        {
            let (at, after) = (self.out.len(), self.col);
            self.fold_at = Some(Break { at, gone: 0, after });
        }
        if self.col + width > self.columns {
            let word = self
                .fold_at
                .filter(|b| Self::PREFIX + self.col - b.after + width <= self.columns);
            let tail = match word {
                Some(b) => {
                    let tail = self.out.split_off(b.at + b.gone);
                    self.out.truncate(b.at);
                    Some((tail, self.col - b.after))
                }
                None => None,
            };
            self.fold_line(tail);
        }
        self.out.push_str(s);
        self.col += width;
        if s == " " {
            let (at, after) = (self.out.len() - 1, self.col);
            self.fold_at = Some(Break { at, gone: 1, after });
        }
        self.last = s.chars().next_back().or(self.last);
    }

    /// Starts a continuation line, with `tail` (text and its columns) carried over to it.
    fn fold_line(&mut self, tail: Option<(String, usize)>) {
        self.out.push('\n');
        self.out.extend(std::iter::repeat_n(' ', INDENT));
        self.out.push_str(CONTINUED);
        self.col = Self::PREFIX;
        self.fold_at = None;
        if let Some((tail, w)) = tail {
            self.out.push_str(&tail);
            self.col += w;
        }
    }

    /// A line of the text ends.
    fn newline(&mut self) {
        self.out.push('\n');
        self.col = 0;
        self.fold_at = None;
    }
}

/// `text` (lines ending in newlines, or not) with every line wider than `columns` folded to
/// it: at its last space if the word after it fits the next line, else between graphemes, so
/// that a flag or an emoji sequence is not cut in two (one wider than a line is folded between
/// its characters). The client's own colour sequences
/// (`ESC [ ... m`; text from the network has none left, render.rs) take no room.
pub fn fold(text: &str, columns: usize, ambiguous: Ambiguous) -> String {
    if columns < MIN_COLUMNS {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + text.len() / columns * (INDENT + 3));
    let mut f = Folder {
        out: &mut out,
        col: 0,
        columns,
        fold_at: None,
        last: None,
    };
    let room = columns - Folder::PREFIX;
    let mut graphemes = text.graphemes(true);
    while let Some(g) = graphemes.next() {
        if g == "\n" {
            f.newline();
        } else if g == "\x07" {
            // The client's own bell (alert.rs; text from the network has none): no room.
            f.out.push_str(g);
        } else if g == "\x1b" {
            // A CSI sequence of the client's own: `[`, then up to its final byte (@ to ~).
            f.out.push_str(g);
            let mut opened = false;
            for h in graphemes.by_ref() {
                f.out.push_str(h);
                let first = h.bytes().next().unwrap_or(b'@');
                if opened && (b'@'..=b'~').contains(&first) {
                    break;
                }
                opened = true;
            }
        } else {
            match cluster_width(g, ambiguous) {
                w if w <= room => f.put(g, w),
                _ => {
                    let mut before = 0;
                    for (i, c) in g.char_indices() {
                        before = width(c, before, ambiguous);
                        f.put(g.get(i..i + c.len_utf8()).unwrap_or_default(), before);
                    }
                }
            }
        }
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

    /// Found by review: Tamil's vowel sign ா, which unicode-width counts 0 and terminals draw
    /// a column wide, let a padded line reach the edge unfolded; so did Cyrillic in a CJK
    /// terminal, which draws it wide.
    #[test]
    fn what_a_terminal_may_draw_wider_is_counted_so() {
        // Folded, every line after the first marked as a continuation.
        let assert_folded = |folded: String| {
            assert!(folded.lines().count() > 1, "{folded}");
            assert!(
                folded.lines().skip(1).all(|l| l.starts_with("         | ")),
                "{folded}"
            );
        };
        let forged = "10:42:14 0badc0de bob: hi";
        let tamil = format!("10:42:14 4131c8f7 mallory: {}{forged}", "\u{bbe}".repeat(53));
        assert_folded(fold(&tamil, 80, Narrow));
        let cyrillic = format!("{}{forged}", "ж".repeat(40));
        assert_folded(fold(&cyrillic, 80, Wide));
    }

    /// Found by QA: flags, emoji sequences and U+FE0F were cut from what they belong to.
    #[test]
    fn graphemes_are_not_cut() {
        let flags = "🇯🇵🇺🇸🇫🇷".repeat(10);
        for line in fold(&flags, 40, Narrow).lines() {
            let letters = line.trim_start_matches([' ', '|']).chars().count();
            assert_eq!(letters % 2, 0, "a flag cut in two: {line}");
        }
        let family = "👨\u{200d}👩\u{200d}👧\u{200d}👦 ".repeat(20);
        let folded = fold(&family, 40, Narrow);
        for line in folded.lines() {
            assert!(
                !line.ends_with('\u{200d}') && !line.contains("| \u{200d}"),
                "{line:?}"
            );
        }
        let peace = format!("{}\u{270c}\u{fe0f}", "a".repeat(38));
        assert_eq!(
            fold(&peace, 40, Narrow),
            peace,
            "✌️ fits the 39th and 40th columns"
        );
        let peace = format!("{}\u{270c}\u{fe0f}", "a".repeat(39));
        assert!(
            fold(&peace, 40, Narrow).ends_with("| \u{270c}\u{fe0f}"),
            "moved whole"
        );
        // One wider than a line (a ZWJ run) is folded between its characters.
        let run = vec!["👨"; 40].join("\u{200d}");
        assert!(widest(&fold(&run, 40, Narrow), Narrow) <= 40);
    }

    /// Found by a Chinese and Japanese typist's trial: a message of Han characters longer than
    /// the rest of the line moved whole to the next one, leaving `mei:` alone on the first.
    #[test]
    fn chinese_and_japanese_fold_between_characters() {
        let text = format!("04:04:47 f024d858 mei: {}", "我们明天在北京见面吧".repeat(3));
        let folded = fold(&text, 80, Narrow);
        let first = folded.lines().next().unwrap();
        assert!(first.starts_with("04:04:47 f024d858 mei: 我们明天"), "{folded}");
        assert!(widest(&folded, Narrow) <= 80, "{folded}");
        assert_eq!(
            folded.replace("\n         | ", ""),
            text,
            "nothing lost: {folded}"
        );
        // Never a line that starts with a closing mark, nor one that ends with an opening one.
        for n in 60..80 {
            let text = format!(
                "{}「東京」で会いましょう。{}",
                "a ".repeat(n / 4),
                "見".repeat(n / 2)
            );
            let folded = fold(&text, 40, Narrow);
            for line in folded.lines() {
                let line = line.trim_start_matches(' ').trim_start_matches(CONTINUED);
                assert!(!line.starts_with(['。', '」']), "{folded}");
                assert!(!line.ends_with('「'), "{folded}");
            }
            assert!(widest(&folded, Narrow) <= 40, "{folded}");
        }
        // Found by QA: more closing and opening marks, and the small kana of the extensions.
        for mark in ['…', '‼', '〜', '゛', '％', 'ㇰ', 'ㇲ'] {
            let text = format!("{}{mark}いいいい", "あ".repeat(29));
            for line in fold(&text, 70, Narrow).lines() {
                assert!(!line.trim_start_matches([' ', '|']).starts_with(mark), "{line}");
            }
        }
        for mark in ['〚', '⦅', '«', '＄'] {
            let text = format!("{}{mark}１００いい", "あ".repeat(28));
            for line in fold(&text, 70, Narrow).lines() {
                assert!(!line.ends_with(mark), "{line}");
            }
        }
        // Latin text beside them still folds between words only.
        let mixed = fold(&format!("{}Rust言語", "word ".repeat(15)), 40, Narrow);
        assert!(mixed.lines().all(|l| !l.ends_with("wor")), "{mixed}");
    }

    /// Found by QA: text was folded within words (`the c | urrent topic`).
    #[test]
    fn lines_fold_between_words_when_they_can() {
        let words = "the current topic and its members, listed with their roles ".repeat(4);
        let folded = fold(&words, 40, Narrow);
        assert!(widest(&folded, Narrow) <= 40, "{folded}");
        for line in folded.lines() {
            let text = line.trim_start_matches(' ').trim_start_matches(CONTINUED);
            for word in text.split(' ') {
                assert!(words.split(' ').any(|w| w == word), "{word:?} cut, in:\n{folded}");
            }
        }
        assert_eq!(
            folded.replace("\n         | ", " "),
            words,
            "only the spaces folded at go"
        );
        // A word longer than a line is still cut, where it must be; a space where a line is
        // full goes, so the next line does not start with it (`|  tail`).
        let long = format!("a {}", "x".repeat(100));
        assert!(widest(&fold(&long, 40, Narrow), Narrow) <= 40);
        let full = format!("ab {} tail", "x".repeat(37));
        assert_eq!(
            fold(&full, 40, Narrow),
            format!("ab {}\n         | tail", "x".repeat(37))
        );
    }

    #[test]
    fn colour_takes_no_room_and_marks_stay_with_their_letter() {
        let rung = format!("{}\x07\n", "a".repeat(80));
        assert_eq!(fold(&rung, 80, Narrow), rung, "a bell takes no room");
        let painted = format!("\x1b[31m{}\x1b[0m", "a".repeat(80));
        assert_eq!(fold(&painted, 80, Narrow), painted);
        // A mark counts a column (some are drawn one), and goes with its letter.
        let text = format!("{}e\u{301}", "a".repeat(79));
        let folded = format!("{}\n         | e\u{301}", "a".repeat(79));
        assert_eq!(fold(&text, 80, Narrow), folded);
        // Lines already short, and a narrow terminal, are left alone.
        assert_eq!(fold("a\nb\n", 80, Narrow), "a\nb\n");
        let long = "x".repeat(100);
        assert_eq!(fold(&long, 10, Narrow), long);
    }
}
