//! The query a pulled object is keyed on, and asked of the origin and the
//! owner peer for: the request's query normalised by the operator's rules
//! (`[[rules]] query`, `http::query`), then by the `No-Vary-Search` the
//! origin last sent for the path (`http::no_vary_search`). The lookup
//! hands that query on in its `Ask`, so the memory and disk keys, the
//! cluster owner hash, the `Vary` markers and the origin's target are all
//! made from it and never disagree. Local files ignore the query.
//!
//! A request without a query costs nothing here. One with a query pays a
//! match of its path against the globs of the rules that set a query
//! policy (one `GlobSet`, built once per config generation; none when no
//! rule sets one) and, once some response carried `No-Vary-Search`, a
//! look in the per-path notes.
//!
//! ## No-Vary-Search
//!
//! The notes remember, per path, the `No-Vary-Search` of the last pulled
//! response stored for it (any query), as the draft's §7 ("Caching")
//! sketches a cache doing: a later request's query is normalised by the
//! path's note before it is keyed, so every query equivalent under the
//! note finds the one stored response. The response that brings a note is
//! stored under its own query's key; it is moved at once under the key of
//! its normal form (the draft: "written when storing in the cache, in
//! addition to the exact URL"), so the queries equivalent to the first one
//! hit it too. A stored response without the field (or with an invalid
//! one, ignored as a whole) removes the path's note: the last response
//! says. A normal form is taken only where the memory cache holds nothing
//! under it that says another field (the draft's §7 checks equivalence
//! under the stored response's own field): the request is then keyed as
//! sent.
//!
//! What the origin is sent on a miss is the normalised query, not the
//! client's: a cache may reuse a response for any equivalent request
//! (draft §7), and asking for the normal form keeps the invariant of
//! `http::cache_key`, that what is stored under a key is the origin's
//! answer to that key's target. Had the client's query been sent, a stale
//! note (the origin stopped sending the field) could store the answer to
//! `?a=1&b=2` under the key of `?a=1`, which a later request for `?a=1`
//! itself would get. The one exception is the response moved under its
//! normal form, which its own field declared equivalent. The cost: the
//! origin does not see the parameters its field said do not matter (it
//! said so itself).
//!
//! Notes live in memory only (after a restart, the first response read or
//! fetched for the path brings its note back), at most [`MAX_NOTES`] of
//! them (past that they are all forgotten: fewer hits, never a wrong
//! one); a purge of the path drops its note, and a reload that keeps the
//! memory cache keeps them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use globset::{GlobSet, GlobSetBuilder};

use crate::config::Rule;
use crate::http::cache_key;
use crate::http::no_vary_search::{self, Variance};
use crate::http::path::Key;
use crate::http::query::Policy;
use crate::lookup::{keep, Memory, Served, Source};

/// Most paths with a `No-Vary-Search` note at once.
pub const MAX_NOTES: usize = 10_000;

/// How the query of a request for a pulled object is keyed.
#[derive(Debug, Default)]
pub struct Keying {
    /// The globs of the rules that set `query`, in rule order (empty when
    /// none sets one other than `keep`).
    set: GlobSet,
    /// Their policies, by index in `set`.
    policies: Vec<Policy>,
    /// The paths' `No-Vary-Search` notes (shared by the generations that
    /// share the memory cache).
    notes: Arc<Notes>,
}

/// The `No-Vary-Search` of the last response stored per path (by the
/// path's key).
#[derive(Debug, Default)]
pub struct Notes {
    /// Whether any note is held: a lookup with none skips the lock.
    any: AtomicBool,
    map: RwLock<HashMap<String, Arc<Variance>>>,
}

impl Keying {
    /// The keying `rules` say (a later rule's `query` wins), with fresh notes.
    pub fn new(rules: &[Rule]) -> Self {
        let setting: Vec<&Rule> = rules.iter().filter(|r| r.query.is_some()).collect();
        if setting
            .iter()
            .all(|r| r.query.as_ref().is_some_and(Policy::is_keep))
        {
            return Self::default();
        }
        let mut b = GlobSetBuilder::new();
        for r in &setting {
            b.add(r.glob.glob().clone());
        }
        Self {
            // The globs compiled once already: they compile again.
            set: b.build().unwrap_or_else(|_| GlobSet::empty()),
            policies: setting.iter().filter_map(|r| r.query.clone()).collect(),
            notes: Arc::default(),
        }
    }

    /// This keying with `other`'s notes (a reload that keeps the memory
    /// cache keeps what it learnt of the origin).
    pub fn with_notes_of(self, other: &Keying) -> Self {
        Self {
            notes: other.notes.clone(),
            ..self
        }
    }

    /// The query `query` of a request for `key` is keyed on, when it is
    /// not `query` itself (`Some(None)`: no query at all). A normal form
    /// by the path's note is taken only where `memory` holds nothing
    /// under it that says otherwise (see [`Keying::agrees`]).
    pub(crate) fn normalised(
        &self,
        memory: &Memory,
        key: &Key,
        query: &str,
    ) -> Option<Option<String>> {
        let mut q = Some(Cow::Borrowed(query));
        if !self.set.is_empty() {
            let last = self.set.matches(key.path()).into_iter().max();
            if let Some(i) = last {
                q = self.policies[i].apply(Some(query));
            }
        }
        if let (Some(note), Some(ruled)) = (self.notes.of(key.cache_key()), q.as_deref()) {
            let normal = note.apply(Some(ruled));
            if normal.as_deref() != Some(ruled) && agrees(memory, key, normal.as_deref(), &note) {
                q = normal.map(|n| Cow::Owned(n.into_owned()));
            }
        }
        match q {
            Some(Cow::Borrowed(b)) if b == query => None,
            q => Some(q.map(Cow::into_owned)),
        }
    }

    /// Learns from `served`, which a lookup of `key` keyed on `query` got
    /// from the origin (or the disk): its `No-Vary-Search` becomes the
    /// path's note, or the note goes; a response with a note is moved
    /// under its query's normal form (see the module docs).
    pub(crate) fn learn(&self, memory: &Memory, key: &Key, query: Option<&str>, served: &Served) {
        let Source::Pulled(meta) = &served.0.source else {
            return;
        };
        let variance = variance_of(&meta.headers);
        let path = key.cache_key();
        let Some(variance) = variance else {
            self.notes.forget(path);
            return;
        };
        let normal = variance.apply(query).map(Cow::into_owned);
        self.notes.set(path, variance);
        if normal.as_deref() == query || !meta.vary.is_empty() {
            // Already its normal form; or a variant (under a marker of
            // its own query): found again once fetched under it.
            return;
        }
        let from = cache_key::of(key, query);
        let here = memory.get(&from);
        if here.is_some_and(|e| Arc::ptr_eq(&e, &served.0)) {
            // A new entry: the memory cache counts an entry it let go of
            // while held as still held, so the same one is not put back.
            let to = cache_key::of(key, normal.as_deref());
            keep(
                memory,
                to,
                served.0.asset.clone(),
                Source::Pulled(meta.clone()),
            );
            memory.remove(&from);
        }
    }

    /// Drops the note of the path keyed `path` (a purge).
    pub fn forget(&self, path: &str) {
        self.notes.forget(path);
    }

    /// Drops the notes of the paths keyed under `prefix` (a prefix purge).
    pub fn forget_prefix(&self, prefix: &str) {
        if !self.notes.any.load(Ordering::Relaxed) {
            return;
        }
        let mut map = self.notes.map.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|p, _| !p.starts_with(prefix));
        self.notes.any.store(!map.is_empty(), Ordering::Relaxed);
    }
}

/// Whether what `memory` holds under the key of `key` with `normal` may
/// answer a request that `note` normalises to it: nothing (a miss asks the
/// origin for `normal`), or a stored response that says the same
/// `No-Vary-Search` itself (the draft's §7 checks equivalence under the
/// stored response's own field). A response that says otherwise (stored
/// before the origin's field changed), or one that varies on request
/// headers (a marker, whose variants are not looked at here), is not
/// used: the request is keyed on its query as sent.
fn agrees(memory: &Memory, key: &Key, normal: Option<&str>, note: &Variance) -> bool {
    let Some(entry) = memory.get(&cache_key::of(key, normal)) else {
        return true;
    };
    match &entry.source {
        Source::Pulled(meta) => variance_of(&meta.headers).as_ref() == Some(note),
        _ => false,
    }
}

/// What a stored response's `No-Vary-Search` says (`None`: the whole query
/// matters).
fn variance_of(headers: &actix_web::http::header::HeaderMap) -> Option<Variance> {
    let lines = headers.get_all("no-vary-search");
    no_vary_search::parse(lines.filter_map(|v| v.to_str().ok()))
}

impl Notes {
    /// The note of the path keyed `path`.
    fn of(&self, path: &str) -> Option<Arc<Variance>> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        self.read().get(path).cloned()
    }

    fn set(&self, path: &str, v: Variance) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.get(path).is_some_and(|old| **old == v) {
            return;
        }
        if map.len() >= MAX_NOTES && !map.contains_key(path) {
            map.clear();
        }
        map.insert(path.to_string(), Arc::new(v));
        self.any.store(true, Ordering::Relaxed);
    }

    fn forget(&self, path: &str) {
        if !self.any.load(Ordering::Relaxed) || !self.read().contains_key(path) {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        map.remove(path);
        self.any.store(!map.is_empty(), Ordering::Relaxed);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Variance>>> {
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::path;

    fn rules(text: &str) -> Vec<Rule> {
        #[derive(serde::Deserialize)]
        struct R {
            rules: Vec<crate::config::RuleConfig>,
        }
        let r: R = toml::from_str(text).unwrap();
        crate::config::compile_rules(&r.rules).unwrap()
    }

    fn norm(k: &Keying, p: &str, q: &str) -> Option<Option<String>> {
        let memory = Arc::new(crate::store::memory::MemoryCache::new(1 << 20, 1 << 20));
        k.normalised(&memory, &path::key(p).unwrap(), q)
    }

    #[test]
    fn the_last_matching_rule_says() {
        let k = Keying::new(&rules(concat!(
            "[[rules]]\nglob = \"*\"\nquery = \"ignore\"\n",
            "[[rules]]\nglob = \"api/*\"\nquery = \"sort\"\n",
            "[[rules]]\nglob = \"api/raw/*\"\nquery = \"keep\"\n",
            "[[rules]]\nglob = \"*.css\"\nheaders = { X-A = \"1\" }\n",
        )));
        assert_eq!(norm(&k, "/a.js", "v=1"), Some(None));
        assert_eq!(
            norm(&k, "/a.css", "v=1"),
            Some(None),
            "a rule without query"
        );
        assert_eq!(norm(&k, "/api/x", "b=1&a=2"), Some(Some("a=2&b=1".into())));
        assert_eq!(norm(&k, "/api/x", "a=2&b=1"), None, "unchanged");
        assert_eq!(norm(&k, "/api/raw/x", "b=1&a=2"), None);
        let none = Keying::new(&rules("[[rules]]\nglob = \"*\"\nquery = \"keep\"\n"));
        assert!(none.set.is_empty());
        assert_eq!(norm(&none, "/a.js", "v=1"), None);
    }

    #[test]
    fn notes_apply_after_the_rules_and_are_bounded() {
        let k = Keying::new(&rules(
            "[[rules]]\nglob = \"*\"\nquery = { deny = [\"v\"] }\n",
        ));
        let key = path::key("/a.js").unwrap();
        k.notes.set(
            key.cache_key(),
            no_vary_search::parse(["key-order"]).unwrap(),
        );
        assert_eq!(
            norm(&k, "/a.js", "v=1&b=1&a=2"),
            Some(Some("a=2&b=1".into()))
        );
        assert_eq!(norm(&k, "/b.js", "v=1&b=1"), Some(Some("b=1".into())));
        k.forget(key.cache_key());
        assert_eq!(norm(&k, "/a.js", "b=1&a=2"), None);
        assert!(!k.notes.any.load(Ordering::Relaxed));
        for i in 0..=MAX_NOTES {
            k.notes
                .set(&format!("p{i}"), no_vary_search::parse(["params"]).unwrap());
        }
        assert_eq!(k.notes.read().len(), 1, "cleared when full");
    }
}
