//! What a word is, for search: PROTOCOL.md's maximal runs of letters, numbers and combining
//! marks (general categories L, N and M), by this build's Unicode tables.
//!
//! FTS5's `unicode61` tokenizer has its own, older tables: it takes a character it does not
//! know (🙂, ₽, the skin-tone modifiers, most symbols added since Unicode 6.1) for part of a
//! word, so "thanks🙂" was indexed as one word that no query could find. So the text index is
//! fed bodies with every other character already a space ([`spaced`], as the SQL function
//! [`SPACED`]), and queries are cut at the same characters ([`words`]); the tokenizer then
//! only folds case, the same way on both sides (letters given case since its tables are
//! folded here first: [`folded`]). Accents come off here too ([`unaccented`]), in every
//! script (the tokenizer's own folding knows Latin letters only), and so do the vowel marks
//! of Arabic and Hebrew, which their readers do not write; a few letters that typists leave
//! for a plainer one are that one ([`plain`]). Other marks (a Devanagari vowel sign) stay in
//! their word: the tokenizer keeps them (`SCHEMA_V18`), so that "हिंदी" is one word, not the
//! run of its consonants that "हाँ दो" also holds. Where the index needs a word no query can
//! hold (Korean's word breaks, a voicing mark Unicode does not compose with its kana), it gets
//! a private-use character ([`is_stand_in`]).
//!
//! Chinese and Japanese are written without spaces between words, so a run of them between
//! punctuation would be one word, which no query short of the whole run finds. Korean puts
//! spaces between phrases, with the particles joined to their nouns ("서울에서", in Seoul), so
//! a noun alone would find none of them either. Each of these scripts' characters
//! ([`stands_alone`]) is spaced out as a word of its own instead, in bodies and in queries
//! alike; a query word then becomes a phrase of its characters, which FTS5 matches only where
//! the body has them in a row: "日本語" finds "日本語もテストします。", "서울" finds "서울에서".
//! Thai, Lao, Khmer and Myanmar, also written without spaces between words, likewise, each
//! letter with its marks: "สวัสดี" finds "สวัสดีครับ".

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value, ValueRef};
use std::borrow::Cow;
use std::sync::OnceLock;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// The SQL name of [`spaced`], for the statements that fill the text index.
pub const SPACED: &str = spaced_fn!();

/// Whether `c` belongs to a word. Combining marks do, so that a word typed decomposed
/// ("re\u{301}sume\u{301}", as some keyboards send it) stays one word, which the tokenizer then
/// folds like its composed form.
pub fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    WORDS.has(c)
}

/// Whether `c` is a mark (general category M), which belongs to the letter before it: asked at
/// the start of every word.
fn is_mark(c: char) -> bool {
    !c.is_ascii() && MARKS.has(c)
}

fn by_mark(c: char) -> bool {
    c.general_category_group() == GeneralCategoryGroup::Mark
}

fn by_category(c: char) -> bool {
    use GeneralCategoryGroup::{Letter, Mark, Number};
    matches!(c.general_category_group(), Letter | Mark | Number) && !is_filler(c)
}

/// A test of a character's Unicode properties, answered for the Basic Multilingual Plane from
/// a bit a character (8 KiB, about 2 ms to make, once, at the first question): the property
/// tables' binary search costs about 30 ns a character, which the writer would pay for every
/// character of every non-Latin body (2.6 µs for a line of Hindi against 0.57 µs with the
/// table of word characters). Past the plane, the test itself.
struct Table {
    bits: OnceLock<Box<[u64]>>,
    test: fn(char) -> bool,
}

/// What [`is_word_char`], [`is_mark`], [`accented`] and [`folds`] ask.
static WORDS: Table = Table::new(by_category);
static MARKS: Table = Table::new(by_mark);
static ACCENTED: Table = Table::new(by_decomposition);
static FOLDS: Table = Table::new(by_folding);

impl Table {
    const fn new(test: fn(char) -> bool) -> Table {
        Table {
            bits: OnceLock::new(),
            test,
        }
    }

    /// The test's answer for `c`.
    fn has(&self, c: char) -> bool {
        let u = c as u32;
        let bits = self.bits.get_or_init(|| self.make());
        match bits.get((u >> 6) as usize) {
            Some(word) => word >> (u & 63) & 1 == 1,
            None => (self.test)(c),
        }
    }

    /// The test of every character of the Basic Multilingual Plane, a bit each.
    fn make(&self) -> Box<[u64]> {
        let mut bits = vec![0u64; 0x10000 / 64];
        for (u, c) in (0..0x10000u32).filter_map(|u| Some((u, char::from_u32(u)?))) {
            if (self.test)(c)
                && let Some(word) = bits.get_mut((u >> 6) as usize)
            {
                *word |= 1 << (u & 63);
            }
        }
        bits.into_boxed_slice()
    }
}

/// The words of `text`, in order.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c| !is_word_char(c)).filter(|w| !w.is_empty())
}

/// Whether `c` is a Han ideograph, a kana, a Bopomofo letter (with the iteration and
/// prolonged-sound marks that go with them), a Hangul syllable or letter, or a letter or
/// digit of Thai, Lao, Khmer or Myanmar: a word of its own for search (with the marks after
/// it), since these scripts put no spaces between words, or (Korean) join particles and
/// endings to them (PROTOCOL.md §4, Search); splitting them into words would need a dictionary.
#[inline]
pub fn stands_alone(c: char) -> bool {
    // One comparison for the characters of most text, which come before them all.
    c >= '\u{e00}'
        && (is_hangul(c)
            || (matches!(c as u32, 0x0E01..=0x0E5B | 0x0E81..=0x0EDF // Thai, Lao
                | 0x1000..=0x109F | 0x1780..=0x17FF | 0x19E0..=0x19FF) // Myanmar, Khmer
                && !is_mark(c))
            || matches!(c as u32,
                0x3005..=0x3007 | 0x3031..=0x3035 | 0x303B // 々 〆 〇, kana repeat marks, 〻
                | 0x3041..=0x3098 | 0x309B..=0x30FF // Hiragana, Katakana (non-letters among them
                // are no word characters; the combining voicing marks go with their kana)
                | 0x3105..=0x312F | 0x31A0..=0x31BF // Bopomofo
                | 0x31F0..=0x31FF // Katakana phonetic extensions
                | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF // ideographs, compatibility ones
                | 0x1AFF0..=0x1B16F // kana supplement and extensions, small kana
                | 0x20000..=0x3FFFD // ideographs, extensions B and later (all of planes 2 and 3)
            ))
}

/// Whether `c` is a Hangul syllable or letter (jamo, compatibility and halfwidth forms), but
/// for the invisible fillers ([`is_filler`]).
#[inline]
fn is_hangul(c: char) -> bool {
    // One comparison for the characters of most text, as in `stands_alone`.
    c >= '\u{1100}'
        && matches!(c as u32,
            0x1100..=0x115E | 0x1161..=0x11FF | 0x3131..=0x3163 | 0x3165..=0x318E // jamo
            | 0xA960..=0xA97F | 0xAC00..=0xD7A3 | 0xD7B0..=0xD7FF // more jamo; syllables
            | 0xFFA1..=0xFFDC // halfwidth letters
        )
}

/// What the index is given where a space or punctuation meets Korean: a token no query holds
/// (a private-use character, which the tokenizer keeps as a word and [`is_word_char`] never
/// lets into a query), so a run of syllables is found only within one of Korean's
/// space-parted words: "사과" does not find "회사 과장". Chinese and Japanese, which put no
/// spaces between words, get none.
const KOREAN_GAP: char = '\u{e000}';

/// What a kana's combining voicing mark (U+3099, U+309A) becomes where Unicode has no composed
/// character for the pair (a semi-voiced "か", an Ainu "セ゚"): private-use letters, which the
/// tokenizer keeps within the kana's word, so "か" does not find "か゚". (Made when the tokenizer
/// parted words at marks; its index since version 18 keeps marks, but a query must still be
/// spaced as the index was, so the stand-ins stay.)
const VOICED: [(char, char); 2] = [('\u{3099}', '\u{e001}'), ('\u{309a}', '\u{e002}')];

/// Whether `c` is one of the private-use characters [`spaced`] writes for the index
/// ([`KOREAN_GAP`], the voicing marks' stand-ins): never a query's, as they are no word
/// characters.
pub fn is_stand_in(c: char) -> bool {
    ('\u{e000}'..='\u{e002}').contains(&c)
}

/// Whether `c` is a kana (not a mark), which a voicing mark after it belongs to.
fn is_kana(c: char) -> bool {
    matches!(c as u32, 0x3041..=0x3096 | 0x309D..=0x309F | 0x30A1..=0x30FF | 0x31F0..=0x31FF
        | 0xFF66..=0xFF9D | 0x1AFF0..=0x1B16F)
}

/// Whether `c` is one of the invisible Hangul fillers: letters to Unicode, but no words to
/// find, and a spammer's way to part a word unseen; blanks for search, in bodies and queries.
fn is_filler(c: char) -> bool {
    c >= '\u{115f}' && matches!(c, '\u{115f}' | '\u{1160}' | '\u{3164}' | '\u{ffa0}')
}

/// A kana's combining voicing mark (U+3099, U+309A; the halfwidth ones are these once
/// composed by compatibility, [`spaced`]).
fn is_voicing(c: char) -> bool {
    c >= '\u{3099}' && matches!(c, '\u{3099}' | '\u{309a}')
}

/// `text` composed, its letters, numbers and marks by compatibility ([`normalized`]), with
/// every character that is not part of a word replaced by a space, each character that [`stands_alone`] spaced out, and its
/// accents taken off ([`unaccented`]); borrowed when there is nothing to change.
///
/// Composed first so that spellings Unicode counts as the same find each other: Hangul typed
/// as conjoining jamo, a letter and its nukta typed apart, a compatibility ideograph; and, by
/// compatibility, the fullwidth and halfwidth forms that Japanese and Chinese input methods
/// type ("２０２６" is "2026", "ｶﾀｶﾅ" is "カタカナ"), ligatures ("ﬁ" is "fi"), superscripts and
/// circled digits. Nearly all text comes composed already, which a quick check (none for
/// ASCII) tells.
pub fn spaced(text: &str) -> Cow<'_, str> {
    match normalized(text) {
        Cow::Borrowed(text) => spaced_composed(text),
        Cow::Owned(composed) => Cow::Owned(spaced_composed(&composed).into_owned()),
    }
}

/// `text` composed (NFC), with its letters, numbers and marks in their compatibility forms
/// (NFKC's): fullwidth "２" is "2", "ﬁ" is "fi", "ｶ" is "カ". Symbols keep theirs ("™" is not
/// "TM", nor "㎏" "kg"): they end words, so "acme" finds "Acme™" (found by QA: full NFKC made
/// one word of "Acme™"). Borrowed when nothing changes. A query is cut into [`words`] after
/// this, as a body is spaced: a form may hold what ends a word ("½" is "1⁄2").
pub fn normalized(text: &str) -> Cow<'_, str> {
    use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};
    if text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        return Cow::Borrowed(text);
    }
    let mut forms = String::with_capacity(text.len());
    for c in text.chars() {
        match is_word_char(c) {
            true => unicode_normalization::char::decompose_compatible(c, |d| forms.push(d)),
            false => forms.push(c),
        }
    }
    match forms.nfc().collect::<String>() {
        same if same == text => Cow::Borrowed(text),
        composed => Cow::Owned(composed),
    }
}

/// [`spaced`] of a text already composed.
fn spaced_composed(text: &str) -> Cow<'_, str> {
    // A mark with no letter or number before it in its word is no word's ("❤\u{fe0f}", a
    // run of marks alone): a blank, so that it neither joins what follows to a Korean word
    // before a gap nor differs between a body and a query that begins with it.
    let mut in_word = false;
    let changes = |c: char| {
        let lone = !in_word && is_mark(c);
        in_word = is_word_char(c) && !lone;
        lone || (c != ' ' && !is_word_char(c))
            || accented(c)
            || stands_alone(c)
            || is_voicing(c)
            || folds(c)
            || plain(c) != c
    };
    let Some(first) = text.find(changes) else {
        return Cow::Borrowed(text);
    };
    let (done, rest) = text.split_at(first);
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    out.push_str(done);
    // Whether the last character written stands alone: what follows it starts a new word,
    // but for a combining mark, which stays with it.
    let mut alone = false;
    // Whether a word was written, the last one was Korean, and what is not a word came since.
    let mut wrote = done.bytes().any(|b| b != b' ');
    let mut korean = false;
    let mut gap = done.ends_with(' ');
    let mut in_word = done.chars().next_back().is_some_and(is_word_char);
    for c in rest.chars() {
        if !is_word_char(c) || (!in_word && is_mark(c)) {
            out.push(' ');
            (alone, gap, in_word) = (false, true, false);
            continue;
        }
        in_word = true;
        if gap && wrote && (korean || is_hangul(c)) {
            out.push(KOREAN_GAP);
            out.push(' ');
        }
        // A mark is its letter's only where nothing parted the two (else it starts a word, as
        // it would in a query): what Korean is must not hang on what came before a gap.
        korean = is_hangul(c) || (korean && !gap && is_mark(c));
        (wrote, gap) = (true, false);
        let kana = || out.chars().next_back().filter(|&b| is_kana(b));
        if let Some(base) = is_voicing(c).then(kana).flatten() {
            // With its kana: composed where Unicode composes the two (the tokenizer parts a
            // combining mark from its letter, so a decomposed "が" would be indexed as "か"),
            // else its stand-in, or a halfwidth mark, which is a letter, as it is.
            match unicode_normalization::char::compose(base, c) {
                Some(composed) => {
                    out.pop();
                    out.push(composed);
                }
                None => out.push(VOICED.iter().find(|(m, _)| *m == c).map_or(c, |&(_, s)| s)),
            }
            continue;
        }
        // After anything but a kana, a voicing mark is a mark like any other.
        let here = stands_alone(c);
        // The category lookup only after a character that stands alone, where it costs little.
        if here || (alone && !is_mark(c)) {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
            alone = here;
        }
        push_unaccented(&mut out, plain(folded(c).unwrap_or(c)));
    }
    Cow::Owned(out)
}

/// The plainer letter that typists write for `c` (after its case is folded), where a search
/// should find either: Arabic's alef maksura and teh marbuta, as their yeh and heh, as Arabic
/// search engines do; Latin letters with a stroke, which no canonical decomposition takes
/// apart (Vietnamese "đ" typed as "d", Polish "ł" as "l", "ø" as "o"). Else `c`.
fn plain(c: char) -> char {
    if c < '\u{d8}' {
        return c;
    }
    match c {
        '\u{649}' => '\u{64a}',
        '\u{629}' => '\u{647}',
        'đ' | 'Đ' => 'd',
        'ł' | 'Ł' => 'l',
        'ø' | 'Ø' => 'o',
        'ħ' | 'Ħ' => 'h',
        'ŧ' | 'Ŧ' => 't',
        c => c,
    }
}

/// `c` with its case folded, for the letters non-ASCII: the tokenizer folds case by Unicode
/// 6.1's tables, so letters given case since (Cherokee's small letters, Georgian Mtavruli,
/// Adlam, Osage, the Old Cyrillic variants of "в") would find only themselves. Folding here
/// first, the same in bodies and queries, leaves the tokenizer nothing to differ on. The lower
/// case of the upper case, each one character ("Ꭰ" → "ꭰ", "ᲀ" → "в", "ς" → "σ"), as
/// Unicode's simple case folding does; not through an ASCII upper case ("ı" stays "ı": the
/// tokenizer knows every such letter).
fn folded(c: char) -> Option<char> {
    if !folds(c) {
        return None;
    }
    fold_of(c)
}

fn fold_of(c: char) -> Option<char> {
    fn one(mut it: impl Iterator<Item = char>) -> Option<char> {
        match (it.next(), it.next()) {
            (Some(x), None) => Some(x),
            _ => None,
        }
    }
    let upper = one(c.to_uppercase()).filter(|u| !u.is_ascii()).unwrap_or(c);
    one(upper.to_lowercase()).filter(|&l| l != c)
}

/// Whether [`folded`] changes `c`.
fn folds(c: char) -> bool {
    !c.is_ascii() && FOLDS.has(c)
}

fn by_folding(c: char) -> bool {
    fold_of(c).is_some()
}

/// `word` without its accents: a letter written with combining diacritical marks (U+0300 to
/// U+036F: acute, grave, diaeresis, breve, …), precomposed or not, becomes its base letter, in
/// any script, as the index's tokenizer already did for Latin letters only ("ά" → "α", "ё" →
/// "е", "é" → "e"); so do Hebrew's points and Arabic's vowel marks ([`is_accent`]). Other
/// marks (a Devanagari vowel sign, a nukta) are parts of their letters and stay. Applied to
/// bodies as they are indexed and to query words alike.
pub fn unaccented(word: &str) -> Cow<'_, str> {
    if !word.chars().any(accented) {
        return Cow::Borrowed(word);
    }
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        push_unaccented(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_unaccented(out: &mut String, c: char) {
    if is_accent(c) {
        return;
    }
    match accented(c) {
        // The first character of a canonical decomposition is its base letter, which may be
        // one with a stroke ("ǿ" is "ø" and an acute: found in review).
        true => unicode_normalization::char::decompose_canonical(c, |d| {
            if !is_accent(d) {
                out.push(plain(d));
            }
        }),
        false => out.push(c),
    }
}

/// A combining diacritical mark (the block U+0300–U+036F), or a mark that readers of
/// Hebrew and Arabic do not write and search without: Hebrew's points and cantillation marks,
/// Arabic's vowel marks (harakat, with the hamza and madda above and below that make "أ" and
/// "آ" of "ا"), its Quranic annotation marks, and the tatweel that stretches a word
/// ("مـرحـبـا"), a letter to Unicode.
fn is_accent(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F
        | 0x0591..=0x05BD | 0x05BF | 0x05C1 | 0x05C2 | 0x05C4 | 0x05C5 | 0x05C7
        | 0x0610..=0x061A | 0x0640 | 0x064B..=0x065F | 0x0670
        | 0x06D6..=0x06DC | 0x06DF..=0x06E4 | 0x06E7 | 0x06E8 | 0x06EA..=0x06ED
        | 0x08D3..=0x08E1 | 0x08E3..=0x08FF)
}

/// Whether [`unaccented`] changes `c`: an accent, or a letter whose canonical decomposition is
/// a base and accents only.
fn accented(c: char) -> bool {
    !c.is_ascii() && ACCENTED.has(c)
}

fn by_decomposition(c: char) -> bool {
    if is_accent(c) {
        return true;
    }
    let (mut n, mut only_accents_after) = (0, true);
    unicode_normalization::char::decompose_canonical(c, |d| {
        only_accents_after &= n == 0 || is_accent(d);
        n += 1;
    });
    n > 1 && only_accents_after
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
    fn chinese_and_japanese_characters_are_each_a_word_in_the_index() {
        assert_eq!(spaced("日本語もテストします。"), "日 本 語 も テ ス ト し ま す ");
        assert_eq!(spaced("Rust言語で2024年"), "Rust 言 語 で 2024 年");
        assert_eq!(spaced("注音ㄅㄆㄇ"), "注 音 ㄅ ㄆ ㄇ");
        // A voicing mark stays with its kana, composed where Unicode composes them (a
        // decomposed "が" is "が"); an ideograph of extension B counts.
        assert_eq!(spaced("か\u{3099}き𠮷x"), "が き 𠮷 x");
        // Halfwidth kana are kana, with their voicing marks (compatibility composition).
        assert_eq!(spaced("ﾃﾞ2024年 ﾊﾟｿｺﾝ"), "デ 2024 年 パ ソ コ ン");
        assert_eq!(spaced("a\u{3099}b"), "a\u{3099}b", "after no kana, left as it is");
        // Spellings Unicode counts as the same are composed alike first.
        assert_eq!(spaced("\u{1112}\u{1161}\u{11ab}국"), "한 국");
        assert_eq!(spaced("\u{928}\u{93c}"), spaced("\u{929}"));
        assert_eq!(spaced("\u{95b}"), spaced("\u{91c}\u{93c}"));
        assert_eq!(spaced("\u{f900}"), "\u{8c48}");
        // Any mark stays with what it follows, a vowel sign Rust counts as alphabetic too;
        // repeat marks and small kana stand alone.
        assert_eq!(
            spaced("日\u{93f}x こ〱x \u{1b132}y"),
            "日\u{93f} x こ 〱 x \u{1b132} y"
        );
        // Thai letters stand alone too, each with its marks; ideographic punctuation ends words.
        assert_eq!(spaced("日、สวัสดี"), "日 ส ว\u{e31} ส ด\u{e35}");
        // Hangul syllables and letters stand alone, composed from jamo first; where a space or
        // punctuation meets them, a token no query holds keeps a run from being found across.
        assert_eq!(spaced("서울에서 Rust를"), "서 울 에 서 \u{e000} Rust 를");
        assert_eq!(spaced("go 서울, 日本 語"), "go \u{e000} 서 울  \u{e000} 日 本 語");
        // Compatibility and halfwidth letters are the conjoining ones, by compatibility.
        assert_eq!(spaced("ㅋㅋ\u{1100}\u{1161}\u{11a8}"), "ᄏ ᄏ 각");
        assert_eq!(spaced("ﾡﾢ"), "ᄀ ᄁ");
        // The invisible fillers are blanks, not words.
        assert_eq!(spaced("서\u{3164}울"), "서 \u{e000} 울");
        assert_eq!(spaced("\u{3164}"), " ");
        // Found by the words fuzz target: a mark after a gap is no letter's, and no Korean
        // word's (it neither carries Korean's word break on nor keeps one from a letter).
        assert_eq!(spaced("ᅡ🙂\u{e31}\u{3164}\u{e31}"), "ᅡ    ");
        assert_eq!(spaced("Rust ❤\u{fe0f}를"), "Rust   \u{e000} 를");
        // Found by helper 143, writing the rule from PROTOCOL.md alone: a filler parts the
        // words of a query too; a voicing mark Unicode does not compose with its kana stays
        // with it; after anything but a kana, halfwidth or not, it is a mark like any other.
        assert_eq!(words("사\u{3164}과").collect::<Vec<_>>(), ["사", "과"]);
        assert_eq!(spaced("か\u{309a} が\u{3099}"), "か\u{e002} が\u{e001}");
        assert_eq!(spaced("aﾞ ﾞe ｶﾞe"), "a\u{3099}  e ガ e");
        assert_eq!(spaced("a\u{3099}b 日\u{3099}"), "a\u{3099}b 日\u{3099}");
        // Letters whose case Unicode added after the tokenizer's tables are folded here;
        // ASCII is the tokenizer's, and "İ", whose lower case is two characters, loses its
        // accent as any letter does.
        // (The digraph "Ǆ" is its two letters, by compatibility.)
        assert_eq!(spaced("ᎠᏗ Ა 𞤀 Ǆ İ Abc"), "ꭰꮧ ა 𞤢 Dz I Abc");
        assert_eq!(spaced("ᲀ ς ı ß"), "в σ ı ß");
        // Nothing to change, nothing copied.
        assert!(matches!(spaced("plain words"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_table_agrees_with_the_categories() {
        for c in (0..0x11000u32).filter_map(char::from_u32) {
            let expected = match c.is_ascii() {
                true => c.is_ascii_alphanumeric(),
                false => by_category(c),
            };
            assert_eq!(is_word_char(c), expected, "{:x}", c as u32);
            assert_eq!(is_mark(c), by_mark(c), "{:x}", c as u32);
            assert_eq!(folds(c), !c.is_ascii() && by_folding(c), "{:x}", c as u32);
        }
        assert!(
            is_word_char('\u{10400}') && !is_word_char('\u{1F642}'),
            "past the table"
        );
    }

    #[test]
    fn spaced_keeps_words_and_blanks_the_rest() {
        assert!(matches!(spaced("plain words"), Cow::Borrowed(_)));
        assert!(matches!(spaced("καλημερα κοσμε"), Cow::Borrowed(_)));
        assert_eq!(spaced("hello🙂world, ok"), "hello world  ok");
        assert_eq!(spaced("wave👋🏽ok"), "wave  ok");
        assert_eq!(spaced("re\u{301}sume\u{301}!"), "resume ");
        assert_eq!(spaced("καλημέρα, κόσμε"), "καλημερα  κοσμε");
    }

    #[test]
    fn accents_come_off_in_every_script_and_other_marks_stay() {
        let u = |w| unaccented(w).into_owned();
        // Greek: tonos, dialytika, both; precomposed or typed as marks.
        assert_eq!(u("ό"), "ο");
        assert_eq!(u("ο\u{301}"), "ο");
        assert_eq!(u("ΐ"), "ι");
        assert_eq!(u("Ά"), "Α");
        // Cyrillic ё and й, Latin and Vietnamese as the tokenizer folded them.
        assert_eq!(u("ёлка"), "елка");
        assert_eq!(u("й"), "и");
        assert_eq!(u("café"), "cafe");
        assert_eq!(u("tiếng"), "tieng");
        // Not accents: Devanagari vowel signs and nukta, Hangul syllables, ø, ß.
        for kept in ["क़ानून", "करें", "한국어", "øl", "straße"] {
            assert!(matches!(unaccented(kept), Cow::Borrowed(_)), "{kept}");
        }
    }

    /// Found by a trial in sixteen scripts: "كتب" did not find "كَتَبَ", nor "שלום" "שָׁלוֹם", nor
    /// "dung" "Đúng", nor "2026" "２０２６".
    #[test]
    fn vowel_marks_come_off_and_plainer_letters_stand_for_theirs() {
        assert_eq!(
            spaced("كَتَبَ مـرحـبـا أحمد إيمان آمن مدرسة مستشفى"),
            "كتب مرحبا احمد ايمان امن مدرسه مستشفي"
        );
        assert_eq!(spaced("שָׁלוֹם בַּבַּיִת"), "שלום בבית");
        assert_eq!(
            spaced("Đúng đẹp łódź Øl Ħaġar ǿresund"),
            "dung dep lodz ol hagar oresund"
        );
        assert_eq!(spaced("２０２６年ＡＢＣ ﬁx ①"), "2026 年 ABC fix 1");
        // Symbols keep their forms, and end words (found by QA).
        assert_eq!(spaced("Acme™ №5 5㎏ ½"), "Acme   5 5  1 2");
        // Other marks stay in their word: a Devanagari vowel sign, a virama.
        assert!(matches!(spaced("हिंदी नमस्ते"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_accent_table_agrees_with_the_decompositions() {
        for c in (0..0x11000u32).filter_map(char::from_u32) {
            let expected = !c.is_ascii() && by_decomposition(c);
            assert_eq!(accented(c), expected, "{:x}", c as u32);
        }
    }
}
