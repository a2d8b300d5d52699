//! `[cache]`: the memory cache's bounds and admission, the disk cache,
//! freshness defaults for pulled responses, how clients may ask for fresh
//! copies, and the encodings the node makes. Only the schema, defaults and
//! checks; the caches themselves are `store::`.

use std::path::PathBuf;
use std::time::Duration;

use actix_web::http::header::HeaderName;
use serde::Deserialize;

use super::error::{at, ConfigError};
use super::units::{self, show_size, Quoted};

/// `[cache]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Byte bound of the in-memory asset cache.
    #[serde(deserialize_with = "units::size")]
    pub memory_bytes: u64,
    /// Largest asset (all representations) admitted to the memory cache.
    #[serde(deserialize_with = "units::size")]
    pub max_object_bytes: u64,
    /// How long a pulled 404/410 without explicit freshness is kept.
    #[serde(deserialize_with = "units::duration")]
    pub negative_ttl: Duration,
    /// How long a pulled response with no freshness information at all (no
    /// Cache-Control, Expires or Last-Modified) is kept; zero = not kept.
    #[serde(deserialize_with = "units::duration")]
    pub default_ttl: Duration,
    /// Cap of the heuristic lifetime (10% of the age since Last-Modified).
    #[serde(deserialize_with = "units::duration")]
    pub heuristic_max: Duration,
    /// stale-while-revalidate when the origin says nothing.
    #[serde(deserialize_with = "units::duration")]
    pub stale_while_revalidate: Duration,
    /// stale-if-error when the origin says nothing.
    #[serde(deserialize_with = "units::duration")]
    pub stale_if_error: Duration,
    /// Honour a client's `Cache-Control: no-cache` / `max-age=0` (reload).
    pub client_no_cache: bool,
    /// A client's reload revalidates an object at most once per this;
    /// reloads in between are answered from the cache.
    #[serde(deserialize_with = "units::duration")]
    pub client_revalidate_interval: Duration,
    /// Directory of the disk cache of pulled objects; `None` (`""`): none.
    #[serde(deserialize_with = "units::non_empty")]
    pub dir: Option<PathBuf>,
    /// Byte bound of the disk cache.
    #[serde(deserialize_with = "units::size")]
    pub disk_bytes: u64,
    /// A `dir` that cannot be used at start stops the node (true), or is
    /// skipped with a warning and the node serves from memory only (false).
    pub dir_required: bool,
    /// Admission to a full memory cache.
    pub admission: Admission,
    /// Store pulled responses that carry Set-Cookie.
    pub store_set_cookie: bool,
    /// Store a response to a request with Cookie without explicit freshness
    /// (heuristic, `negative_ttl`, `default_ttl`).
    pub heuristic_with_cookie: bool,
    /// Most variants (responses that `Vary` on request headers) held per
    /// URL at once (expired and evicted ones free their place); more are
    /// passed through uncached.
    pub max_variants: usize,
    /// Smallest age bound a client's `max-age=N` / `min-fresh` may impose;
    /// tighter ones are ignored (zero = honour every client).
    #[serde(deserialize_with = "units::duration")]
    pub min_client_max_age: Duration,
    /// Targeted cache-control fields (RFC 9213) this cache obeys before
    /// `Cache-Control`, first match wins.
    pub targeted_fields: Vec<String>,
    /// Targeted fields meant for this node alone, removed from what
    /// clients get (the others, `CDN-Cache-Control`, target every CDN of a
    /// chain and are passed on).
    pub strip_targeted_fields: Vec<String>,
    /// Remove none of the targeted fields (not even those of
    /// `strip_targeted_fields`).
    pub pass_targeted_fields: bool,
    /// Brotli quality of the encodings the node makes (0..=11).
    pub brotli_quality: u32,
    /// Gzip level of the encodings the node makes (1..=9).
    pub gzip_level: u32,
    /// Zstd level of the encodings the node makes (1..=19); every frame's
    /// window is at most 8 MiB (RFC 9659 §3).
    pub zstd_level: u32,
    /// Make br, zstd and gzip of local text files that have no `.br` /
    /// `.zst` / `.gz` siblings (kept in memory with the file).
    pub compress_local: bool,
    /// Threads that make encodings; 0 = one per core.
    pub compress_workers: usize,
    /// Objects (pulled or local) waiting for encodings at most; more stay
    /// identity until a later hit offers them again.
    pub compress_queue: usize,
}

/// `cache.admission`: which new assets a full memory cache takes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Admission {
    /// `"second-hit"`: a new asset is kept on its second request, so
    /// one-hit wonders do not evict hot assets.
    SecondHit,
    /// `"always"`: plain LRU.
    Always,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            max_object_bytes: 16 << 20,
            negative_ttl: Duration::from_secs(60),
            default_ttl: Duration::ZERO,
            heuristic_max: Duration::from_secs(86_400),
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            client_no_cache: true,
            client_revalidate_interval: Duration::from_secs(1),
            dir: None,
            disk_bytes: 1 << 30,
            dir_required: true,
            admission: Admission::SecondHit,
            store_set_cookie: false,
            heuristic_with_cookie: false,
            max_variants: 16,
            min_client_max_age: Duration::ZERO,
            targeted_fields: vec![
                "CDN-Edge-Cache-Control".into(),
                "CDN-Cache-Control".into(),
                "Surrogate-Control".into(),
            ],
            strip_targeted_fields: vec![
                "CDN-Edge-Cache-Control".into(),
                "Surrogate-Control".into(),
            ],
            pass_targeted_fields: false,
            brotli_quality: 5,
            gzip_level: 6,
            zstd_level: 6,
            compress_local: true,
            compress_workers: 0,
            compress_queue: 256,
        }
    }
}

impl CacheConfig {
    /// Checks the values; errors name the key.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = at(origin);
        let default = Self::default();
        if self.max_object_bytes > self.memory_bytes {
            // Name the key the operator changed: a small memory bound
            // under the default largest object, or a raised largest object.
            return Err(if self.max_object_bytes == default.max_object_bytes {
                invalid(
                    "cache.memory_bytes",
                    &self.memory_bytes,
                    &format!(
                        "at least cache.max_object_bytes ({}): lower max_object_bytes too for a smaller cache",
                        show_size(self.max_object_bytes)
                    ),
                )
            } else {
                invalid(
                    "cache.max_object_bytes",
                    &self.max_object_bytes,
                    &format!(
                        "at most cache.memory_bytes ({})",
                        show_size(self.memory_bytes)
                    ),
                )
            });
        }
        for (key, d) in [
            ("cache.negative_ttl", self.negative_ttl),
            ("cache.default_ttl", self.default_ttl),
            ("cache.heuristic_max", self.heuristic_max),
            ("cache.stale_while_revalidate", self.stale_while_revalidate),
            ("cache.stale_if_error", self.stale_if_error),
            ("cache.min_client_max_age", self.min_client_max_age),
        ] {
            // Freshness counts whole seconds (RFC 9111 §1.2.2).
            units::within(d, Duration::ZERO, Duration::MAX, true)
                .map_err(|a| invalid(key, &Quoted(d), &a))?;
        }
        if self.brotli_quality > 11 {
            return Err(invalid(
                "cache.brotli_quality",
                &self.brotli_quality,
                "0 to 11",
            ));
        }
        if !(1..=9).contains(&self.gzip_level) {
            return Err(invalid("cache.gzip_level", &self.gzip_level, "1 to 9"));
        }
        if !(1..=19).contains(&self.zstd_level) {
            return Err(invalid("cache.zstd_level", &self.zstd_level, "1 to 19"));
        }
        if self.compress_workers > 64 {
            return Err(invalid(
                "cache.compress_workers",
                &self.compress_workers,
                "0 (one per core) to 64",
            ));
        }
        if !(1..=65_536).contains(&self.compress_queue) {
            return Err(invalid(
                "cache.compress_queue",
                &self.compress_queue,
                "1 to 65536",
            ));
        }
        if self.max_variants > 1024 {
            return Err(invalid(
                "cache.max_variants",
                &self.max_variants,
                "0 to 1024",
            ));
        }
        for (key, names) in [
            ("targeted_fields", &self.targeted_fields),
            ("strip_targeted_fields", &self.strip_targeted_fields),
        ] {
            for (i, f) in names.iter().enumerate() {
                if HeaderName::from_bytes(f.as_bytes()).is_err() {
                    return Err(invalid(
                        &format!("cache.{key}[{i}]"),
                        f,
                        "a header field name like \"CDN-Cache-Control\"",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn error(text: &str) -> String {
        let c = Config::parse("t", &format!("[cache]\n{text}\n")).map_err(|e| e.to_string());
        match c {
            Ok(c) => c.validate("t").unwrap_err().to_string(),
            Err(e) => e,
        }
    }

    #[test]
    fn a_small_memory_bound_names_itself() {
        assert_eq!(
            error("memory_bytes = 1000"),
            "t: cache.memory_bytes = 1000: at least cache.max_object_bytes (16 MiB): lower max_object_bytes too for a smaller cache"
        );
        assert_eq!(
            error("max_object_bytes = \"1 GiB\""),
            "t: cache.max_object_bytes = 1073741824: at most cache.memory_bytes (256 MiB)"
        );
        let ok = "memory_bytes = \"8 MiB\"\nmax_object_bytes = \"512 KiB\"";
        let c = Config::parse("t", &format!("[cache]\n{ok}\n")).unwrap();
        c.validate("t").unwrap();
        assert_eq!(
            (c.cache.memory_bytes, c.cache.max_object_bytes),
            (8 << 20, 512 << 10)
        );
    }

    #[test]
    fn admission_is_one_of_two_and_ttls_are_whole_seconds() {
        let e = error("admission = \"lru\"");
        assert!(e.contains("cache.admission = \"lru\""), "{e}");
        assert!(
            e.contains("`second-hit`, `always`") || e.contains("`second-hit` or `always`"),
            "{e}"
        );
        let c = Config::parse("t", "[cache]\nadmission = \"always\"\n").unwrap();
        assert_eq!(c.cache.admission, super::Admission::Always);
        let e = error("negative_ttl = \"1500ms\"");
        assert!(
            e.contains("cache.negative_ttl = \"1s 500ms\": whole seconds"),
            "{e}"
        );
    }
}
