//! Which channels a Topics `query` matches (PROTOCOL.md §4, Topics): those whose name before the
//! `@`, display name or topic line contains it, all in Unicode's lowercase; and which members a
//! Members `query` matches: the IDs that contain it. One definition for the server, which
//! filters its pages, and for clients, which check a page from a server too old to know
//! `query`.

/// A Topics or Members query, folded once for the many channels or IDs it is tried on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    folded: String,
    /// The channel's text folded, reused from one channel to the next.
    scratch: String,
}

impl ListQuery {
    /// The query `text` stands for.
    pub fn new(text: &str) -> ListQuery {
        let mut folded = String::new();
        fold_into(&mut folded, text);
        ListQuery {
            folded,
            scratch: String::new(),
        }
    }

    /// Whether the channel `name` (a full name: only the part before `@` is searched), with
    /// its display name and topic line (`""` for none), matches.
    pub fn matches(&mut self, name: &str, display: &str, subject: &str) -> bool {
        [local(name), display, subject]
            .into_iter()
            .any(|text| self.holds(text))
    }

    /// [`ListQuery::matches`] for a server, which keeps its channels' texts folded
    /// already where folding is not cheap.
    pub fn matches_texts(&mut self, name: &str, texts: [Option<&SearchText>; 2]) -> bool {
        self.holds(local(name))
            || (texts.into_iter().flatten()).any(|t| {
                t.folded
                    .as_deref()
                    .unwrap_or(&t.text)
                    .contains(self.folded.as_str())
            })
    }

    /// Whether the user ID `id` contains the query. IDs are lowercase ASCII (PROTOCOL.md §5),
    /// so they are compared as they are: a query whose lowercase is not ASCII matches none.
    pub fn matches_id(&self, id: &str) -> bool {
        id.contains(self.folded.as_str())
    }

    /// Whether any user ID could contain the query: IDs hold only `a-z 0-9 . _ - @` (§5).
    pub fn can_match_id(&self) -> bool {
        (self.folded.bytes()).all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b))
    }

    /// Whether `text`, folded, contains the query.
    fn holds(&mut self, text: &str) -> bool {
        fold_into(&mut self.scratch, text);
        self.scratch.contains(self.folded.as_str())
    }
}

/// A channel's name before the `@`: its domain is every channel's, so not searched.
fn local(name: &str) -> &str {
    name.split_once('@').map_or(name, |(local, _)| local)
}

/// A channel's display name or topic line, with its lowercase kept beside it when that is
/// another text: folded once, where it is set, rather than for each query that reads it.
/// Unicode's case tables cost about 30 ns a character (a query that walked 500 channels with
/// 200-byte Greek topic lines took 1.6 ms of the loop folding them as it read them, 37 µs
/// folded ahead; measured in a release build), and even ASCII's lowering of a 256-byte line,
/// a copy, made a page of 500 cost twice what a page of folded Greek did (`scalar-bench
/// topics-query`, docs/PERFORMANCE.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    text: Box<str>,
    folded: Option<Box<str>>,
}

impl From<Box<str>> for SearchText {
    fn from(text: Box<str>) -> SearchText {
        let mut f = String::new();
        fold_into(&mut f, &text);
        let folded = (*f != *text).then(|| f.into_boxed_str());
        SearchText { text, folded }
    }
}

impl From<&str> for SearchText {
    fn from(text: &str) -> SearchText {
        SearchText::from(Box::<str>::from(text))
    }
}

impl std::ops::Deref for SearchText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

/// Writes `text` in lowercase into `out`, in place of what it held: the whole string's
/// mapping (a capital sigma at a word's end is `ς`), then `ς` as `σ`, so that a word found
/// at the end of one text is found inside another (and Python's `str.lower()` agrees).
fn fold_into(out: &mut String, text: &str) {
    out.clear();
    if text.is_ascii() {
        out.push_str(text);
        out.make_ascii_lowercase();
    } else {
        out.extend(
            text.to_lowercase()
                .chars()
                .map(|c| if c == 'ς' { 'σ' } else { c }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_display_and_topic_line_in_any_case() {
        let mut q = ListQuery::new("RuSt");
        assert!(q.matches("#rust@example.com", "", ""));
        assert!(q.matches("#trusted@example.com", "", ""));
        assert!(q.matches("#r@example.com", "Rust ☕", ""));
        assert!(q.matches("#r@example.com", "", "all about RUST"));
        assert!(!q.matches("#go@example.com", "Go", "gophers"));
        // The domain is every channel's: not searched.
        let mut q = ListQuery::new("example");
        assert!(!q.matches("#go@example.com", "", ""));
        let mut q = ListQuery::new("#go");
        assert!(q.matches("#go@example.com", "", ""));
        assert!(!q.matches("#ago@example.com", "", ""));
    }

    #[test]
    fn unicode_is_compared_in_lowercase() {
        let mut q = ListQuery::new("ΚΑΛΗΜΈΡΑ");
        assert!(q.matches("#gr@x.org", "", "καλημέρα κόσμε"));
        let mut q = ListQuery::new("straße");
        assert!(q.matches("#de@x.org", "STRAßE", ""));
        // The full mapping: İ lowercases to "i̇" (two chars), which a plain "i" does not contain.
        let mut q = ListQuery::new("i̇stanbul");
        assert!(q.matches("#tr@x.org", "İSTANBUL", ""));
        // Final sigma, on either side (found in review: ΚΌΣΜΟΣ lowered a letter at a time
        // ends in σ, Python's lower() in ς).
        let mut q = ListQuery::new("κόσμος");
        assert!(q.matches("#gr@x.org", "", "ΚΌΣΜΟΣ"));
        assert!(q.matches("#gr@x.org", "", "ΚΌΣΜΟΣΑ"));
        let mut q = ListQuery::new("ΚΌΣΜΟΣ");
        assert!(q.matches("#gr@x.org", "", "ο κόσμος μας"));
        let mut q = ListQuery::new("日本");
        assert!(q.matches("#jp@x.org", "", "日本語の部屋"));
        assert!(!q.matches("#jp@x.org", "", "中文"));
    }

    #[test]
    fn ids_match_in_lowercase_wherever_the_query_falls() {
        let q = ListQuery::new("Ali");
        assert!(q.matches_id("alice@example.com"));
        assert!(q.matches_id("bob@itali.org"));
        assert!(!q.matches_id("bob@example.com"));
        // The domain is part of an ID, so a query finds everyone from there.
        assert!(ListQuery::new("EXAMPLE.org").matches_id("carol@example.org"));
        // The Kelvin sign's lowercase is ASCII's k; an accented letter's is not ASCII.
        assert!(ListQuery::new("\u{212a}ate").matches_id("kate@x.org"));
        assert!(!ListQuery::new("é").matches_id("e@x.org"));
        assert!(ListQuery::new("Al.I_-9@").can_match_id());
        assert!(ListQuery::new("\u{212a}").can_match_id());
        for hopeless in ["é", "*ali", "a b", "日本"] {
            assert!(!ListQuery::new(hopeless).can_match_id(), "{hopeless}");
        }
    }

    /// The server's texts, folded ahead or not, match as the client's plain ones do.
    #[test]
    fn kept_texts_match_as_plain_ones() {
        let texts = [
            "",
            "Rust ☕",
            "all about RUST",
            "ΚΑΛΗΜΈΡΑ κόσμε",
            "gophers",
            "İSTANBUL",
        ];
        for query in ["rust", "καλημέρα", "i̇stanbul", "go", "☕", "x"] {
            let mut q = ListQuery::new(query);
            for display in texts {
                for subject in texts {
                    let (d, s) = (SearchText::from(display), SearchText::from(subject));
                    assert_eq!(
                        q.matches_texts("#c@x.org", [Some(&d), Some(&s)]),
                        q.matches("#c@x.org", display, subject),
                        "{query:?} in {display:?} / {subject:?}"
                    );
                }
            }
            assert_eq!(q.matches_texts("#rusty@x.org", [None, None]), query == "rust");
        }
        assert_eq!(&*SearchText::from("Rust ☕"), "Rust ☕");
    }
}
