//! `[build]`: the defaults of `cdn-edge build` (its flags override them).
//! Read by the build, not by a running node. Only the schema, defaults and
//! checks; the build is `build::`.

use serde::Deserialize;

use super::error::{at, ConfigError};

/// `[build]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuildConfig {
    /// Hex digits of the content hash in fingerprinted names (8..=64).
    pub hash_len: usize,
    /// Precompressed siblings to write.
    pub encodings: Vec<Encoding>,
    /// Brotli quality (0..=11).
    pub brotli_quality: u32,
    /// Gzip level (1..=9).
    pub gzip_level: u32,
    /// Zstd level (1..=19); every frame's window is at most 8 MiB.
    pub zstd_level: u32,
    /// A sibling is kept only when it saves at least this percentage.
    pub min_saving_percent: f64,
    /// Manifests whose files `--prune` keeps.
    pub keep: usize,
    /// Earlier builds whose versions of a file get a delta (RFC 9842
    /// `dcz`/`dcb`); 0: none.
    pub dictionary_versions: usize,
    /// A delta is kept only when it saves at least this percentage of the
    /// file's brotli size.
    pub dictionary_min_gain_percent: f64,
    /// Worker threads; 0 = one per core.
    pub jobs: usize,
    /// Warnings (missing references, non-UTF-8 text) fail the build.
    pub strict: bool,
    /// HTML pages are fingerprinted too (by default they keep their name).
    pub fingerprint_html: bool,
    /// ES module specifiers stay as written; `importmap.json` maps each
    /// module to its fingerprinted URL instead.
    pub importmap: bool,
    /// The asset host's base URL, recorded in the manifest and the start
    /// of every entry's `url`; `None` (`""`): URLs are absolute paths.
    #[serde(deserialize_with = "super::units::non_empty")]
    pub base_url: Option<String>,
}

/// A precompressed sibling `build` writes (`build.encodings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `"br"`: `name.br`.
    Br,
    /// `"zstd"`: `name.zst`.
    Zstd,
    /// `"gzip"`: `name.gz`.
    Gzip,
}

impl std::str::FromStr for Encoding {
    type Err = String;

    /// `br`, `zstd` or `gzip`, as `--encodings` lists them.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "br" => Ok(Self::Br),
            "zstd" => Ok(Self::Zstd),
            "gzip" => Ok(Self::Gzip),
            other => Err(format!("{other:?}: \"br\", \"zstd\" or \"gzip\"")),
        }
    }
}

impl Default for BuildConfig {
    fn default() -> Self {
        Self {
            hash_len: 10,
            encodings: vec![Encoding::Br, Encoding::Zstd, Encoding::Gzip],
            brotli_quality: 11,
            gzip_level: 9,
            zstd_level: 19,
            min_saving_percent: 5.0,
            keep: 3,
            dictionary_versions: 2,
            dictionary_min_gain_percent: 20.0,
            jobs: 0,
            strict: false,
            fingerprint_html: false,
            importmap: false,
            base_url: None,
        }
    }
}

impl BuildConfig {
    /// The siblings `encodings` asks for.
    pub fn wanted(&self) -> crate::precompress::Wanted {
        let has = |e| self.encodings.contains(&e);
        crate::precompress::Wanted {
            br: has(Encoding::Br),
            zstd: has(Encoding::Zstd),
            gzip: has(Encoding::Gzip),
        }
    }

    /// Checks the values; errors name the key.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = at(origin);
        if !(8..=64).contains(&self.hash_len) {
            return Err(invalid("build.hash_len", &self.hash_len, "8 to 64"));
        }
        if self.brotli_quality > 11 {
            return Err(invalid(
                "build.brotli_quality",
                &self.brotli_quality,
                "0 to 11",
            ));
        }
        if !(1..=9).contains(&self.gzip_level) {
            return Err(invalid("build.gzip_level", &self.gzip_level, "1 to 9"));
        }
        if !(1..=19).contains(&self.zstd_level) {
            return Err(invalid("build.zstd_level", &self.zstd_level, "1 to 19"));
        }
        if !(0.0..100.0).contains(&self.min_saving_percent) {
            return Err(invalid(
                "build.min_saving_percent",
                &self.min_saving_percent,
                "0 to less than 100",
            ));
        }
        if self.keep == 0 {
            return Err(invalid("build.keep", &self.keep, "at least 1"));
        }
        if self.dictionary_versions > 16 {
            return Err(invalid(
                "build.dictionary_versions",
                &self.dictionary_versions,
                "0 (no deltas) to 16",
            ));
        }
        if !(0.0..100.0).contains(&self.dictionary_min_gain_percent) {
            return Err(invalid(
                "build.dictionary_min_gain_percent",
                &self.dictionary_min_gain_percent,
                "0 to less than 100",
            ));
        }
        if let Some(b) = self.base_url.as_deref().filter(|b| !base_url_ok(b)) {
            return Err(invalid(
                "build.base_url",
                &b,
                "an absolute http(s) URL (\"https://static.example.com/\") or a path (\"/static/\"), no query",
            ));
        }
        Ok(())
    }
}

/// Whether `b` may start every asset URL: `http(s)://host[/path]` or
/// `/path`, without a query, a fragment or white space.
fn base_url_ok(b: &str) -> bool {
    let rest = b
        .strip_prefix("https://")
        .or_else(|| b.strip_prefix("http://"))
        .filter(|r| !r.is_empty() && !r.starts_with('/'));
    let shape = rest.is_some() || (b.starts_with('/') && !b.starts_with("//"));
    shape && !b.contains(['?', '#', ' ', '\t', '"', '<', '>'])
}
