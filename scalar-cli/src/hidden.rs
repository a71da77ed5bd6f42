//! Which characters from the network are shown by their code point (`<U+200B>`) rather than as
//! themselves: those a terminal would act on (C1 controls, which it may take for escape
//! sequences), those that reorder or break the text around them (bidi controls, line and
//! paragraph separators), and those that draw nothing, with which one user could make two
//! texts look the same (`pa<U+200B>ssword` is not `password`, nor found by searching for it)
//! or carry text nobody sees (tag characters, runs of variation selectors).
//!
//! Some of those draw nothing but are needed where they are: joiners in emoji sequences and in
//! the Arabic and Indic scripts (Persian's ZWNJ, a virama's ZWJ), variation selectors after
//! the kinds of character they select a form of (emoji and symbols, Han, Myanmar), the tag
//! characters of the three flags that use them (England, Scotland, Wales), Mongolian's vowel
//! separator between Mongolian letters, the left-to-right, right-to-left and Arabic letter marks
//! in a text written partly right to left (Hebrew and Arabic typists put them beside numbers
//! and punctuation). They pass only there; anywhere else (beside Latin,
//! Greek or Cyrillic letters, after another of their kind, in a run of tags that spells no
//! such flag) they are shown by code point. Within those kinds a selector may still select
//! nothing (a Han character has few registered variants): a few bits, not a hidden text.

use std::iter::Peekable;
use std::str::Chars;

const ZWNJ: char = '\u{200c}';
const ZWJ: char = '\u{200d}';
/// The black flag, which tag characters follow to name a subdivision.
const FLAG: char = '\u{1f3f4}';
/// Ends a flag's tag sequence.
const CANCEL_TAG: char = '\u{e007f}';
/// Makes the keycap emoji of a digit, `#` or `*` (after U+FE0F).
const KEYCAP: char = '\u{20e3}';

/// Shown by code point wherever it is.
fn always(c: char) -> bool {
    matches!(u32::from(c),
        // C1 controls: a terminal may take 0x9B for CSI.
        0x80..=0x9f
        // Bidi controls (the three marks pass in right-to-left text: `Marked`).
        | 0x061c | 0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069
        // Line and paragraph separators: a terminal may break the line there.
        | 0x2028 | 0x2029
        // Soft hyphen, combining grapheme joiner, Hangul fillers, Khmer inherent vowels,
        // zero-width space, word joiner and invisible operators,
        // deprecated format characters, zero-width no-break space, interlinear annotation,
        // shorthand format controls, invisible musical formatting, the language tag.
        | 0x00ad | 0x034f | 0x115f | 0x1160 | 0x17b4 | 0x17b5 | 0x200b
        | 0x2060..=0x2064 | 0x206a..=0x206f | 0x3164 | 0xfeff | 0xffa0 | 0xfff9..=0xfffb
        | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a | 0xe0001
        // Default-ignorable code points not assigned yet: drawn as nothing by some terminals,
        // as a column by others.
        | 0x2065 | 0xfff0..=0xfff8 | 0xe0000 | 0xe0002..=0xe001f | 0xe0080..=0xe00ff
        | 0xe01f0..=0xe0fff
    )
}

/// Whether no terminal can be trusted to draw `c`: a private-use character (a font's own, if
/// any: tmux draws U+E000 as nothing) or one not assigned as of the tables here, noncharacters
/// among them (found by QA: U+0378, U+E000 and U+10FFFF hid inside "password"). Not in the
/// emoji blocks, where a newer Unicode's emoji than the tables know would be shown by code
/// point for nothing.
fn unknown(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    match c.general_category() {
        GeneralCategory::PrivateUse => true,
        GeneralCategory::Unassigned => !is_emoji(c),
        _ => false,
    }
}

/// Pictographs and symbols that emoji sequences join (skin tones and U+FE0F among them).
fn is_emoji(c: char) -> bool {
    matches!(u32::from(c),
        0xa9 | 0xae | 0x203c | 0x2049 | 0x20e3 | 0x2100..=0x2bff | 0x3030 | 0x303d | 0x3297
        | 0x3299 | 0xfe0f | 0x1f000..=0x1faff
    )
}

/// Scripts whose letters joiners shape: Arabic, Syriac, Thaana, N'Ko and their extensions,
/// the Indic scripts, Myanmar, Khmer and Mongolian.
fn is_joining(c: char) -> bool {
    matches!(u32::from(c),
        0x0600..=0x08ff | 0x0900..=0x0dff | 0x1000..=0x109f | 0x1780..=0x18af | 0xa8e0..=0xa8ff
        | 0xfb50..=0xfdff | 0xfe70..=0xfefc
    )
}

/// Letters of the scripts written right to left: Hebrew, Arabic, Syriac, Thaana, N'Ko,
/// Samaritan, Mandaic and their presentation forms.
fn is_rtl(c: char) -> bool {
    matches!(u32::from(c), 0x0590..=0x08ff | 0xfb1d..=0xfdff | 0xfe70..=0xfefc)
}

/// Whether `c` is a letter (general category L): not a digit, a point or punctuation, which
/// a Latin text may hold one of (found by QA: an Arabic comma let marks hide in it).
fn is_letter(c: char) -> bool {
    use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};
    c.general_category_group() == GeneralCategoryGroup::Letter
}

/// The left-to-right, right-to-left and Arabic letter marks: strong directions that draw
/// nothing, which right-to-left typists need beside numbers and punctuation.
fn is_direction_mark(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}')
}

fn is_han(c: char) -> bool {
    matches!(u32::from(c), 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xf900..=0xfaff | 0x20000..=0x3ffff)
}

fn is_mongolian(c: char) -> bool {
    ('\u{1820}'..='\u{18af}').contains(&c)
}

/// The viramas of the Indic scripts, after which ZWJ asks for a half or final form, whatever
/// follows (Malayalam's chillu, Bengali's khanda ta in their older spelling).
fn is_virama(c: char) -> bool {
    matches!(
        u32::from(c),
        0x094d
            | 0x09cd
            | 0x0a4d
            | 0x0acd
            | 0x0b4d
            | 0x0bcd
            | 0x0c4d
            | 0x0ccd
            | 0x0d4d
            | 0x0dca
            | 0x1039
            | 0x17d2
    )
}

/// What the standardized variation sequences (U+FE00–FE0D) vary: mathematical and other
/// symbols, Myanmar, Mongolian, Phags-pa, Han.
fn is_variable(c: char) -> bool {
    is_han(c)
        || is_mongolian(c)
        || matches!(u32::from(c), 0x1000..=0x109f | 0x2100..=0x2bff | 0xa850..=0xa877)
}

/// The flags spelled with tag characters: England, Scotland, Wales (the only ones Unicode
/// recommends; any other run of tags would carry text nobody sees).
const TAG_FLAGS: [&str; 3] = ["gbeng", "gbsct", "gbwls"];

/// The tag characters (and cancel tag) of such a flag starting at `rest`, just after its
/// black flag; 0 if what follows is none.
fn flag_tags(rest: Peekable<Chars<'_>>) -> usize {
    let mut spelled = String::new();
    for c in rest.take(6) {
        match c {
            CANCEL_TAG if TAG_FLAGS.contains(&spelled.as_str()) => return spelled.len() + 1,
            '\u{e0061}'..='\u{e007a}' => spelled.push(char::from_u32(u32::from(c) - 0xe0000).unwrap_or('?')),
            _ => return 0,
        }
    }
    0
}

/// The characters of a text, each with whether it is shown by its code point.
pub struct Marked<'a> {
    chars: Peekable<Chars<'a>>,
    before: Option<char>,
    /// Tag characters still to come in the flag being read.
    flag_left: usize,
    /// Whether the text has a right-to-left letter, where direction marks pass.
    rtl: bool,
}

/// Each character of `s`, with whether it is shown by its code point (see the module).
pub fn marked(s: &str) -> Marked<'_> {
    Marked {
        chars: s.chars().peekable(),
        before: None,
        flag_left: 0,
        rtl: s.chars().any(|c| is_rtl(c) && is_letter(c)),
    }
}

impl Iterator for Marked<'_> {
    type Item = (char, bool);

    fn next(&mut self) -> Option<(char, bool)> {
        let c = self.chars.next()?;
        let (before, after) = (self.before, self.chars.peek().copied());
        let both = |f: fn(char) -> bool| before.is_some_and(f) && after.is_some_and(f);
        let shown = match c {
            ZWJ => !(both(is_emoji) || both(is_joining) || before.is_some_and(is_virama)),
            ZWNJ => !both(is_joining),
            '\u{fe0e}' | '\u{fe0f}' => {
                let keycap =
                    before.is_some_and(|b| matches!(b, '0'..='9' | '#' | '*')) && after == Some(KEYCAP);
                // After an emoji, but not after U+FE0F itself (a run of selectors).
                !(before.is_some_and(|b| is_emoji(b) && b != '\u{fe0f}') || keycap)
            }
            '\u{fe00}'..='\u{fe0d}' => !before.is_some_and(is_variable),
            '\u{e0100}'..='\u{e01ef}' => !before.is_some_and(is_han),
            '\u{180b}'..='\u{180d}' | '\u{180f}' => !before.is_some_and(is_mongolian),
            '\u{180e}' => !both(is_mongolian),
            // One at a time: a run of them would hide bits.
            c if is_direction_mark(c) => !self.rtl || before.is_some_and(is_direction_mark),
            '\u{e0020}'..=CANCEL_TAG if self.flag_left > 0 => {
                self.flag_left -= 1;
                false
            }
            '\u{e0020}'..=CANCEL_TAG => true,
            c => always(c) || unknown(c),
        };
        if c == FLAG {
            self.flag_left = flag_tags(self.chars.clone());
        }
        self.before = Some(c);
        Some((c, shown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(s: &str) -> Vec<char> {
        marked(s).filter(|&(_, h)| h).map(|(c, _)| c).collect()
    }

    #[test]
    fn what_draws_nothing_is_shown() {
        assert_eq!(
            shown("pa\u{200b}ss\u{feff}word\u{2060}"),
            ['\u{200b}', '\u{feff}', '\u{2060}']
        );
        assert_eq!(shown("\u{202e}x\u{85}"), ['\u{202e}', '\u{85}']);
        // Not assigned yet, which some terminals draw a column wide: never measured as nothing.
        assert_eq!(shown("\u{e0080}\u{2065}"), ['\u{e0080}', '\u{2065}']);
        // Found by QA: unassigned, a noncharacter and a private-use character, each drawn as
        // nothing by tmux inside "paypal" and "password".
        assert_eq!(
            shown("pa\u{378}ypa\u{10ffff}l pass\u{e000}word \u{d7ff}"),
            ['\u{378}', '\u{10ffff}', '\u{e000}', '\u{d7ff}']
        );
        // Emoji, Han, Hangul and accents are assigned and pass.
        assert!(shown("日本語 한국어 é 🙂 🫠").is_empty());
    }

    /// Found by a Hebrew and Arabic typist's trial: the marks their keyboards type beside
    /// numbers and punctuation were shown as `<U+200F>` in every message.
    #[test]
    fn direction_marks_pass_once_each_in_right_to_left_text() {
        assert!(shown("שלום 123\u{200f}!").is_empty());
        assert!(shown("مرحبا\u{61c}, 2026\u{200e}").is_empty());
        assert_eq!(shown("שלום\u{200f}\u{200f}"), ['\u{200f}'], "a run");
        assert_eq!(shown("pa\u{200f}ssword"), ['\u{200f}'], "no right-to-left letter");
        assert_eq!(shown("a\u{61c}b"), ['\u{61c}'], "the Arabic letter mark is none");
        // Found by QA: nor are Arabic-Indic digits, Arabic punctuation or a lone point.
        for none in [
            "١٢٣\u{200f}",
            "abc ، def\u{200f}",
            "\u{5b0}\u{200f}",
            "\u{600}\u{200f}",
        ] {
            assert_eq!(shown(none), ['\u{200f}'], "{none}");
        }
        assert_eq!(shown("שלום \u{202e}x"), ['\u{202e}'], "an override still shows");
    }

    /// Found by review: a joiner inside Cyrillic, or beside another joiner, passed.
    #[test]
    fn joiners_pass_only_where_a_script_or_emoji_needs_them() {
        assert_eq!(shown("pa\u{200d}ss\u{200c}"), [ZWJ, ZWNJ]);
        assert_eq!(shown("па\u{200d}роль"), [ZWJ], "Cyrillic joins nothing");
        assert_eq!(
            shown("é\u{200d}\u{200c}\u{200d}é"),
            [ZWJ, ZWNJ, ZWJ],
            "a run of joiners"
        );
        // A family, a rainbow flag (after U+FE0F), a skin tone; Persian's ZWNJ (می‌خواهم),
        // Hindi's ZWJ (क्‍ष).
        let fine = "👨\u{200d}👩\u{200d}👧 🏳\u{fe0f}\u{200d}🌈 👩🏽\u{200d}💻 \
                    \u{645}\u{6cc}\u{200c}\u{62e}\u{648} \u{915}\u{94d}\u{200d}\u{937}";
        assert!(shown(fine).is_empty(), "{:?}", shown(fine));
    }

    /// Found by the second review: selectors passed after any letter not ASCII, tags that
    /// spelled any 3-6 letters passed as a flag; and some needed characters were shown.
    #[test]
    fn only_what_a_script_or_emoji_needs_passes() {
        assert_eq!(
            shown("café\u{fe00} п\u{fe00}ароль é\u{fe0e}"),
            ['\u{fe00}', '\u{fe00}', '\u{fe0e}']
        );
        assert!(
            shown("≤\u{fe00} 葛\u{fe00} ☺\u{fe0e}").is_empty(),
            "symbols, Han, emoji"
        );
        let tags = |s: &str| -> String {
            s.chars()
                .map(|c| char::from_u32(0xe0000 + u32::from(c)).unwrap())
                .collect()
        };
        let wire = format!("\u{1f3f4}{}\u{e007f}", tags("wire50"));
        assert_eq!(shown(&wire).len(), 7, "no such flag: its tags shown");
        let scotland = format!("\u{1f3f4}{}\u{e007f}", tags("gbsct"));
        assert!(shown(&scotland).is_empty());
        // Mongolian's vowel separator between its letters; ZWJ after a virama at a word's
        // end (Malayalam's chillu, Bengali's khanda ta, as once spelled).
        assert!(shown("\u{182c}\u{1820}\u{1833}\u{1820}\u{180e}\u{1820}").is_empty());
        assert!(
            shown("\u{d05}\u{d35}\u{d28}\u{d4d}\u{200d} \u{9b9}\u{9a0}\u{9be}\u{9a4}\u{9cd}\u{200d} ")
                .is_empty()
        );
        assert_eq!(shown("a\u{180e}b"), ['\u{180e}']);
    }

    /// Found by review: anything after a black flag passed as its tags.
    #[test]
    fn tag_characters_pass_only_as_a_subdivision_flag() {
        let england = "\u{1f3f4}\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}";
        assert!(shown(england).is_empty());
        let tags = |s: &str| -> String {
            s.chars()
                .map(|c| char::from_u32(0xe0000 + u32::from(c)).unwrap())
                .collect()
        };
        assert_eq!(shown(&format!("visible{}", tags("hi"))).len(), 2);
        assert_eq!(
            shown(&format!("{england}{}", tags("hi"))).len(),
            2,
            "after the flag's end"
        );
        let smuggled = format!("\u{1f3f4}{}", tags("Secret: wire 5000 to X"));
        assert_eq!(shown(&smuggled).len(), 22, "no flag: every tag shown");
        let unended = format!("\u{1f3f4}{}", tags("gbeng"));
        assert_eq!(shown(&unended).len(), 5, "a flag ends with its cancel tag");
    }

    /// Found by review: variation selectors after ASCII, or in a run, carried what nobody saw.
    #[test]
    fn variation_selectors_pass_only_after_what_they_vary() {
        assert_eq!(shown("pa\u{fe00}ssword"), ['\u{fe00}']);
        assert_eq!(
            shown("☺\u{fe0f}\u{fe0f}"),
            ['\u{fe0f}'],
            "the second selects nothing"
        );
        assert!(shown("☺\u{fe0f} 1\u{fe0f}\u{20e3} 葛\u{e0100}").is_empty());
        assert_eq!(shown("a\u{e0100}"), ['\u{e0100}']);
    }
}
