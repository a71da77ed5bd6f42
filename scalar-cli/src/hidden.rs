//! Which characters from the network are shown by their code point (`<U+200B>`) rather than as
//! themselves: those a terminal would act on (C1 controls, which it may take for escape
//! sequences), those that reorder or break the text around them (bidi controls, line and
//! paragraph separators), and those that draw nothing, with which one user could make two
//! texts look the same (`pa<U+200B>ssword` is not `password`, nor found by searching for it)
//! or carry text nobody sees (tag characters). Joiners draw nothing either, but emoji and the
//! scripts of Persian or Hindi need them: they are shown by code point only beside ASCII, where
//! they have no use, and tag characters only outside the emoji flags they spell.

use std::iter::Peekable;
use std::str::Chars;

/// The black flag, which tag characters follow to name a region (🏴 then `gbeng`, then U+E007F).
const FLAG: char = '\u{1f3f4}';
/// Ends a flag's tag sequence.
const CANCEL_TAG: char = '\u{e007f}';

/// Shown by code point wherever it is.
fn always(c: char) -> bool {
    matches!(u32::from(c),
        // C1 controls: a terminal may take 0x9B for CSI.
        0x80..=0x9f
        // Bidi controls.
        | 0x061c | 0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069
        // Line and paragraph separators: a terminal may break the line there.
        | 0x2028 | 0x2029
        // Soft hyphen, combining grapheme joiner, Hangul fillers, Khmer inherent vowels,
        // Mongolian vowel separator, zero-width space, word joiner and invisible operators,
        // deprecated format characters, zero-width no-break space, interlinear annotation,
        // invisible musical formatting, the language tag.
        | 0x00ad | 0x034f | 0x115f | 0x1160 | 0x17b4 | 0x17b5 | 0x180e | 0x200b
        | 0x2060..=0x2064 | 0x206a..=0x206f | 0x3164 | 0xfeff | 0xffa0 | 0xfff9..=0xfffb
        | 0x1d173..=0x1d17a | 0xe0001
    )
}

/// The characters of a text, each with whether it is shown by its code point.
pub struct Marked<'a> {
    chars: Peekable<Chars<'a>>,
    before: Option<char>,
    /// Within a flag's tag sequence.
    flag: bool,
}

/// Each character of `s`, with whether it is shown by its code point (see the module).
pub fn marked(s: &str) -> Marked<'_> {
    Marked {
        chars: s.chars().peekable(),
        before: None,
        flag: false,
    }
}

impl Iterator for Marked<'_> {
    type Item = (char, bool);

    fn next(&mut self) -> Option<(char, bool)> {
        let c = self.chars.next()?;
        let after = self.chars.peek().copied();
        let beside_ascii = |c: Option<char>| c.is_none_or(|c| c.is_ascii());
        let hidden = match c {
            '\u{200c}' | '\u{200d}' => beside_ascii(self.before) || beside_ascii(after),
            '\u{e0020}'..=CANCEL_TAG => !self.flag,
            c => always(c),
        };
        self.flag = c == FLAG || (self.flag && ('\u{e0020}'..'\u{e007f}').contains(&c));
        self.before = Some(c);
        Some((c, hidden))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hidden(s: &str) -> Vec<char> {
        marked(s).filter(|&(_, h)| h).map(|(c, _)| c).collect()
    }

    #[test]
    fn what_draws_nothing_is_shown_unless_a_script_or_emoji_needs_it() {
        assert_eq!(
            hidden("pa\u{200b}ss\u{feff}word\u{2060}"),
            ['\u{200b}', '\u{feff}', '\u{2060}']
        );
        assert_eq!(
            hidden("pa\u{200d}ss\u{200c}"),
            ['\u{200d}', '\u{200c}'],
            "beside ASCII"
        );
        // A family emoji, and ZWNJ in Persian (می‌خواهم).
        assert!(hidden("👨\u{200d}👩\u{200d}👧 \u{645}\u{6cc}\u{200c}\u{62e}\u{648}").is_empty());
        assert_eq!(hidden("\u{202e}x\u{85}"), ['\u{202e}', '\u{85}']);
    }

    #[test]
    fn tag_characters_are_shown_outside_a_flag() {
        // England's flag: 🏴 g b e n g, cancel.
        let england = "\u{1f3f4}\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}";
        assert!(hidden(england).is_empty());
        let smuggled: String = "hi"
            .chars()
            .map(|c| char::from_u32(0xe0000 + u32::from(c)).unwrap())
            .collect();
        assert_eq!(hidden(&format!("visible{smuggled}")).len(), 2);
        assert_eq!(
            hidden(&format!("{england}{smuggled}")).len(),
            2,
            "after the flag's end"
        );
    }
}
