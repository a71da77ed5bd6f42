//! Search's words: what the index is fed (`spaced` of a body) and what a query becomes
//! (`spaced` of each of its words) must agree, or a search misses a body holding the very
//! words asked for. Each word of any text, spaced alone, must be a run of the text's own
//! spaced pieces; nothing but word characters, spaces and the private-use stand-ins (Korean's
//! word breaks, uncomposed voicing marks) may come out. Input bytes pick characters from scripts where the spacing has rules (kana
//! and their voicing marks, ideographs, accents, other marks, Hangul jamo that compose, a
//! Hangul filler), then any UTF-8 that follows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scalar::store::sqlite::words::{is_stand_in, is_word_char, normalized, spaced, words};

const ALPHABET: [char; 34] = [
    'か', '\u{3099}', '\u{309a}', 'ﾃ', 'ﾞ', 'ﾟ', 'は', 'ゝ', '〱', 'ー', '日', '𠮷', '\u{1b132}',
    'ㄅ', 'a', '\u{1161}', '\u{93c}', 'é', '\u{301}', 'क', '\u{94d}', '\u{93f}', 'ก', '\u{e31}', '한',
    ' ', '、', '.', '🙂', '\u{200d}', '\u{fe0f}', '\u{1100}', '서', '\u{3164}',
];

fn pieces(s: &str) -> Vec<&str> {
    s.split(' ').filter(|p| !p.is_empty()).collect()
}

fuzz_target!(|data: &[u8]| {
    let (picks, tail) = data.split_at(data.len().min(64));
    let mut text: String = picks
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()])
        .collect();
    text.push_str(&String::from_utf8_lossy(tail));
    let indexed = spaced(&text);
    assert!(
        indexed.chars().all(|c| c == ' ' || is_stand_in(c) || is_word_char(c)),
        "{text:?} spaced to {indexed:?}"
    );
    let all = pieces(&indexed);
    // A query is cut into words once composed, as a body is (words.rs, `normalized`).
    for word in words(&normalized(&text)) {
        let asked = spaced(word);
        let want = pieces(&asked);
        assert!(
            want.is_empty() || all.windows(want.len()).any(|w| w == want.as_slice()),
            "{word:?} of {text:?}: {want:?} not within {all:?}"
        );
    }
});
