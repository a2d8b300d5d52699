//! Purges by tag, and soft purges of every kind (path, prefix, tag): what
//! each one names in memory (the memory cache's tag index, its keys) and
//! on disk (the disk index, `store::disk::Select`). A hard purge drops the
//! objects; a soft one makes pulled objects stale (`pull::soft`) and drops
//! local files' entries (they are read again from the root anyway). The
//! path and prefix purges that drop are `admin`'s.

use std::sync::Arc;

use super::Edge;
use crate::http::cache_key;
use crate::http::path::Key;
use crate::lookup::{Entry, Source};
use crate::pull::soft::Selected;

/// What one purge item names.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A request path: every query and `Vary` variant of it; with a query
    /// (`/a.js?v=1`), the object of that query as sent and as it is keyed
    /// (`keying`), with their `Vary` variants.
    Path(&'a Key, Option<&'a str>),
    /// A path prefix, spelt as a client may (see `cache_key::prefix`).
    Prefix(&'a str),
    /// Every object carrying a tag (`origin::tags`).
    Tag(&'a str),
}

impl Edge {
    /// Drops what `target` names, or, when `soft`, makes it stale; how
    /// many objects it named.
    pub async fn purge_item(&self, target: Target<'_>, soft: bool) -> usize {
        match (target, soft) {
            (Target::Path(k, query), false) => self.purge_target(k, query).await,
            (Target::Prefix(p), false) => self.purge_prefix(p).await,
            (Target::Tag(t), false) => self.purge_tag(t).await,
            (target, true) => self.soften(target).await,
        }
    }

    /// Drops every object carrying `tag`, in memory and on disk at once;
    /// how many (disk entries count where memory had no copy). The memory
    /// part runs on the blocking pool (so a fan-out to peers on the same
    /// worker goes on meanwhile), and the values taken out are freed there
    /// after the answer, still counted against the bound: freeing many
    /// objects takes longer than taking them out.
    pub async fn purge_tag(&self, tag: &str) -> usize {
        let (memory, owned) = (self.memory.clone(), tag.to_string());
        let in_memory = async move {
            let memory2 = memory.clone();
            let took = tokio::task::spawn_blocking(move || memory2.take_tagged(&owned)).await;
            let Ok((taken, weight)) = took else {
                return 0;
            };
            let n = taken.len();
            let held = memory.reserve(weight);
            tokio::task::spawn_blocking(move || drop((taken, held)));
            n
        };
        let on_disk = async {
            match &self.origin {
                Some(o) => o.forget_selected(Selected::Tag(tag.into())).await,
                None => 0,
            }
        };
        let (n, on_disk) = futures_util::future::join(in_memory, on_disk).await;
        n.max(on_disk)
    }

    /// Makes stale what `target` names; how many objects it named.
    async fn soften(&self, target: Target<'_>) -> usize {
        let (in_memory, on_disk) = match target {
            Target::Path(key, Some(q)) => {
                let mut keys = vec![cache_key::of(key, Some(q))];
                if let Some(normal) = self.keying.normalised(&self.memory, key, q) {
                    keys.push(cache_key::of(key, normal.as_deref()));
                }
                let (mut m, mut disk) = (Vec::new(), Vec::new());
                for k in keys {
                    let v = cache_key::variants_of(&k);
                    m.extend(self.memory.with_prefix(&v));
                    if let Some(e) = self.memory.get(&k) {
                        m.push((k.clone(), e));
                    }
                    disk.extend([Selected::Key(k), Selected::Prefix(v)]);
                }
                (m, disk)
            }
            Target::Path(key, None) => {
                let k = key.cache_key();
                let (q, v) = (cache_key::queries_of(k), cache_key::variants_of(k));
                let mut m = self.memory.with_prefix(&q);
                m.extend(self.memory.with_prefix(&v));
                if let Some(e) = self.memory.get(k) {
                    m.push((k.to_string(), e));
                }
                let disk = vec![
                    Selected::Key(k.to_string()),
                    Selected::Prefix(q),
                    Selected::Prefix(v),
                ];
                (m, disk)
            }
            Target::Prefix(p) => {
                let Ok(p) = cache_key::prefix(p) else {
                    return 0;
                };
                (self.memory.with_prefix(&p), vec![Selected::Prefix(p)])
            }
            Target::Tag(t) => (self.memory.tagged(t), vec![Selected::Tag(t.into())]),
        };
        let (pulled, local): (Vec<(String, Arc<Entry>)>, Vec<_>) = in_memory
            .into_iter()
            .partition(|(_, e)| !matches!(e.source, Source::Local { .. }));
        for (k, _) in &local {
            self.memory.remove(k);
        }
        let n = match &self.origin {
            Some(o) => o.soften(&self.memory, pulled, on_disk).await,
            None => 0,
        };
        n + local.len()
    }

    /// The tag indexes' sizes: (pairs, bytes) in memory (inside
    /// `cache.memory_bytes`), and on disk when there is a disk cache.
    pub fn tag_usage(&self) -> ((u64, u64), Option<(u64, u64)>) {
        let (n, b) = self.memory.tag_usage();
        let disk = self
            .origin
            .as_ref()
            .and_then(|o| o.disk())
            .map(|d| d.tag_usage());
        ((n as u64, b as u64), disk)
    }
}
