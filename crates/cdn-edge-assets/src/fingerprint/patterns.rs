//! Which file names the server treats as fingerprinted (a content hash in
//! the name, so the file never changes under it): the configurable list of
//! `cache_control.fingerprint_patterns`. Not how `build` names files (see
//! the parent module), though the defaults recognise those names too.
//!
//! A pattern is a regular expression searched in the file name (the last
//! path segment). When it has a group named `hash`, the text that group
//! captures must also look like a hash rather than a word or a number
//! ([`looks_random`]): that is what keeps `app-settings.js` and
//! `report-20240101.pdf` from being taken for Vite's `index-DiwrgTda.js`.

use regex::Regex;

/// The default patterns, one per family of bundler names; each is
/// explained in docs/reference/http/cache-control.md and in `config.toml`.
pub const DEFAULT: &[&str] = &[
    // cdn-edge build, webpack, Parcel, Create React App: a dot-separated
    // part, not first nor last, of 8+ hex digits (app.3f2a9c1b7d.css,
    // main.7e2c49a4a1d8f3b2.js, 123.0f1e2d3c.chunk.js, index.975ef6c8.js).
    r"\.[0-9a-fA-F]{8,}\.",
    // Vite 5+ / Rollup 4 (8 base64url characters after `-`), SvelteKit and
    // Astro (after `.`), before the extension: index-DiwrgTda.js,
    // vendor-BxK3f_9a.js, app.CZ0Nq5sJ.js.
    r"(?:[-.])(?P<hash>[A-Za-z0-9_-]{8})\.[A-Za-z0-9]+(\.map)?$",
    // Vite 4 / Rollup 3 (8 hex digits) and Next.js (16) after `-`:
    // index-5d1c3f2a.js, main-0123456789abcdef.js.
    r"-(?P<hash>[0-9a-f]{8,})\.[A-Za-z0-9]+(\.map)?$",
    // esbuild and Angular 17+ (8 characters of base32: A-Z, 2-7):
    // chunk-5JZG2WQ4.js, main-2WLW5ZSE.js.
    r"-[A-Z2-7]{8}\.[A-Za-z0-9]+(\.map)?$",
];

/// The name of the group whose text must look like a hash.
const HASH_GROUP: &str = "hash";

/// The compiled list of patterns.
#[derive(Debug, Clone)]
pub struct Patterns {
    list: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    re: Regex,
    /// Whether the pattern has a `hash` group to check with [`looks_random`].
    checked: bool,
}

/// A pattern that does not compile: its index in the list and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// Position in the list.
    pub index: usize,
    /// One line saying what is wrong.
    pub message: String,
}

impl Patterns {
    /// Compiles `patterns`; the first bad one is reported.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        let list = patterns
            .iter()
            .enumerate()
            .map(|(index, p)| {
                let p = p.as_ref();
                if p.is_empty() {
                    return Err(PatternError {
                        index,
                        message: "an empty pattern would match every name".into(),
                    });
                }
                let re = Regex::new(p).map_err(|e| PatternError {
                    index,
                    message: one_line(&e),
                })?;
                let checked = re.capture_names().flatten().any(|n| n == HASH_GROUP);
                Ok(Pattern { re, checked })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { list })
    }

    /// Whether `file_name` (no directories) carries a content hash by any
    /// of the patterns.
    pub fn matches(&self, file_name: &str) -> bool {
        self.list.iter().any(|p| {
            if !p.checked {
                return p.re.is_match(file_name);
            }
            p.re.captures_iter(file_name)
                .any(|c| c.name(HASH_GROUP).is_none_or(|h| looks_random(h.as_str())))
        })
    }
}

impl Patterns {
    /// Where the content hash is in `file_name` (a byte range), by the
    /// first pattern that finds one: its `hash` group, or else the part of
    /// its match between the separator it starts with and the next `.`
    /// (`.3f2a9c1b7d.` → `3f2a9c1b7d`, `-5JZG2WQ4.js` → `5JZG2WQ4`).
    pub fn hash_span(&self, file_name: &str) -> Option<std::ops::Range<usize>> {
        for p in &self.list {
            for c in p.re.captures_iter(file_name) {
                if let Some(h) = c.name(HASH_GROUP) {
                    if looks_random(h.as_str()) {
                        return Some(h.range());
                    }
                    continue;
                }
                let m = c.get(0)?;
                let text = m.as_str();
                let lead = usize::from(text.starts_with(['.', '-', '_']));
                let len = text[lead..].find('.').unwrap_or(text.len() - lead);
                if len > 0 {
                    return Some(m.start() + lead..m.start() + lead + len);
                }
            }
        }
        None
    }
}

impl Default for Patterns {
    fn default() -> Self {
        // Cannot fail: constant patterns, compiled by the unit tests.
        Self::new(DEFAULT).expect("the default patterns compile")
    }
}

/// Whether `s` looks like an encoded hash rather than a word or a number:
/// it mixes at least two of lowercase letters, uppercase letters and
/// digits (`DiwrgTda`, `BxK3f_9a`, `5d1c3f2a`; not `settings`, `SETTINGS`,
/// `20240101`), and it is not one or two capitalised words of four letters
/// or more (`Variable`, `SemiBold`, as in font file names).
///
/// A random 8-character base64url hash fails this about once in 240 (its
/// file is then served with the revalidate policy: slower, never wrong);
/// a word that passes (`BarChart`, `v2-solid`) is taken for a hash.
pub fn looks_random(s: &str) -> bool {
    let has = |f: fn(&u8) -> bool| s.as_bytes().iter().any(f);
    let kinds = [
        has(u8::is_ascii_lowercase),
        has(u8::is_ascii_uppercase),
        has(u8::is_ascii_digit),
    ];
    kinds.iter().filter(|k| **k).count() >= 2 && !capitalised_words(s)
}

/// Whether `s` is made of capitalised words (an uppercase letter, then
/// lowercase ones) of at least four letters each: `Variable`, `SemiBold`.
fn capitalised_words(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_uppercase() {
            return false;
        }
        let start = i;
        i += 1;
        while i < b.len() && b[i].is_ascii_lowercase() {
            i += 1;
        }
        if i - start < 4 {
            return false;
        }
    }
    !b.is_empty()
}

/// The one line of a regex error that says what is wrong (its full text
/// repeats the pattern with a caret under the fault).
fn one_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("error: "))
        .or_else(|| text.lines().map(str::trim).rfind(|l| !l.is_empty()))
        .unwrap_or("invalid regular expression")
        .to_string()
}

#[cfg(test)]
#[path = "patterns_tests.rs"]
mod tests;
