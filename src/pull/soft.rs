//! Soft purge: objects a purge names become stale instead of gone, so the
//! next request revalidates them (a conditional request with the stored
//! validators, one per object thanks to the coalescer) and they may still
//! be served where a stale copy may (stale-while-revalidate,
//! stale-if-error). How: the object's `Age` is raised so that its current
//! age equals its freshness lifetime at the purge's `now` ([`aged`]): the
//! verdict (`http::freshness`, untouched) then finds it stale by 0 s and
//! counting, and its windows for stale serving start at the purge. The
//! raised age is kept in the memory entry's metadata and in the disk
//! record (`DiskMeta::age`), so it stays stale across a restart; the
//! revalidation's answer (a 304 or a new body) replaces it with the
//! origin's. Not here: finding what a purge names (`edge::admin`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use super::Puller;
use crate::blocking::log_join;
use crate::http::freshness::{self, Policy};
use crate::lookup::{Entry, Memory, Source};
use crate::origin::client::Fetched;
use crate::origin::stored::{DiskMeta, PulledMeta, Reading};
use crate::rule_set::RuleSet;
use crate::store::disk::{DiskCache, Part, Select};

/// What a purge selects on disk, owned (for the blocking pool).
#[derive(Debug, Clone)]
pub(crate) enum Selected {
    /// One key.
    Key(String),
    /// Every key under a prefix.
    Prefix(String),
    /// Every object carrying a tag.
    Tag(String),
}

impl Selected {
    pub(crate) fn as_select(&self) -> Select<'_> {
        match self {
            Selected::Key(k) => Select::Key(k),
            Selected::Prefix(p) => Select::Prefix(p),
            Selected::Tag(t) => Select::Tag(t),
        }
    }
}

/// The `Age` that makes `meta` stale from `now` on, by 0 s (RFC 9111
/// §4.2: fresh iff `freshness_lifetime > current_age`), or `None` when
/// it is stale already. With `corrected_age_value = age + response_delay`
/// and `current_age = max(apparent_age, corrected_age_value) +
/// resident_time` (§4.2.3), the age is `lifetime - resident_time -
/// response_delay` (whole seconds, rounded so the result is not fresh).
pub(crate) fn aged(meta: &PulledMeta, policy: &Policy, now: SystemTime) -> Option<u64> {
    let s = meta.stored();
    let lifetime = freshness::lifetime(&s, policy);
    if freshness::current_age(&s, now) >= lifetime {
        return None;
    }
    let secs = |later: SystemTime, earlier: SystemTime| {
        later.duration_since(earlier).map_or(0, |d| d.as_secs())
    };
    let resident = secs(now, meta.response_time);
    let delay = secs(meta.response_time, meta.request_time);
    let mut age = lifetime.saturating_sub(resident).saturating_sub(delay);
    let mut probe = s;
    probe.age_header = Some(age);
    // Whole seconds dropped above can only make it older, never fresh.
    let short = lifetime.saturating_sub(freshness::current_age(&probe, now));
    age += short;
    Some(age)
}

impl Puller {
    /// Soft-purges the memory entries `in_memory` (with their keys) and the
    /// disk entries `on_disk` names; how many objects were named. Memory
    /// first (the purge takes effect at once), then the disk records, in
    /// one blocking task, before returning (a restart keeps them stale).
    pub(crate) async fn soften(
        &self,
        memory: &Memory,
        in_memory: Vec<(String, Arc<Entry>)>,
        on_disk: Vec<Selected>,
    ) -> usize {
        let now = self.clock.now();
        let mut aged_entries = Vec::new();
        let mut names: std::collections::HashSet<String> = Default::default();
        for (key, entry) in in_memory {
            let Source::Pulled(meta) = &entry.source else {
                continue;
            };
            names.insert(key.clone());
            let Some(age) = aged(meta, &self.rules.policy, now) else {
                continue;
            };
            let mut meta = (**meta).clone();
            meta.age_header = Some(age);
            let new = Arc::new(Entry::new(
                entry.asset.clone(),
                Source::Pulled(Arc::new(meta)),
            ));
            let g = entry.disk_generation.load(Ordering::Relaxed);
            new.disk_generation.store(g, Ordering::Relaxed);
            let queued = entry.compress_queued.load(Ordering::Relaxed);
            new.compress_queued.store(queued, Ordering::Relaxed);
            if memory.replace_if(&key, |v| Arc::ptr_eq(v, &entry), new.clone()) {
                new.in_memory.store(true, Ordering::Relaxed);
                aged_entries.push((key, new));
            }
        }
        let Some(disk) = self.disk.clone() else {
            return names.len();
        };
        let (reading, policy, origin) =
            (self.rules.reading.clone(), self.rules.policy, self.identity);
        let operator = self.rules.operator.clone();
        let in_memory: Vec<String> = names.iter().cloned().collect();
        let task = move || {
            let mut keys: Vec<String> = on_disk
                .iter()
                .flat_map(|s| disk.keys_selected(s.as_select()))
                .collect();
            keys.extend(in_memory);
            keys.sort_unstable();
            keys.dedup();
            let softened: Vec<(String, u64)> = keys
                .into_iter()
                .filter_map(|k| {
                    let rules = Rules {
                        reading: &reading,
                        policy: &policy,
                        operator: &operator,
                    };
                    let g = soften_on_disk(&disk, &k, &rules, origin, now)?;
                    Some((k, g))
                })
                .collect();
            softened
        };
        let softened = tokio::task::spawn_blocking(task).await.unwrap_or_else(|e| {
            log_join("disk cache soft purge", e);
            Vec::new()
        });
        for (key, g) in &softened {
            if let Some((_, e)) = aged_entries.iter().find(|(k, _)| k == key) {
                e.disk_generation.store(*g, Ordering::Relaxed);
            }
            names.insert(key.clone());
        }
        names.len()
    }
}

/// What reading a disk record as a disk hit does takes.
struct Rules<'a> {
    reading: &'a Reading,
    policy: &'a Policy,
    operator: &'a RuleSet,
}

/// Soft-purges the disk entry of `key` (blocking): its record is written
/// again with the raised age, its parts copied as they are. The entry's
/// generation now, `None` when the disk does not hold it (or holds one of
/// another origin).
fn soften_on_disk(
    disk: &DiskCache,
    key: &str,
    rules: &Rules<'_>,
    origin: u64,
    now: SystemTime,
) -> Option<u64> {
    let (mut record, parts, generation) = disk.get_parts::<DiskMeta>(key, 0)?;
    if !record.servable_for(origin) {
        return None;
    }
    let fetched = Fetched {
        status: record.status,
        headers: record.headers.clone(),
        body: bytes::Bytes::new(),
        request_time: record.request_time,
        response_time: record.response_time,
    };
    // Read as a disk hit reads it: under the rules in force now.
    let say = Arc::new(rules.operator.say(&record.path));
    let mut meta = PulledMeta::of(&fetched, rules.reading, record.vary.clone()).said(say);
    if record.age.is_some() {
        meta.age_header = record.age;
    }
    let Some(age) = aged(&meta, rules.policy, now) else {
        return Some(generation); // stale already
    };
    record.age = Some(age);
    let lens: Vec<u64> = parts.iter().map(Part::size).collect();
    drop(parts);
    match disk.put_record_over(key, generation, &record, &lens) {
        Ok(Some(g)) => Some(g),
        Ok(None) => Some(generation),
        Err(e) => {
            crate::disk_record::warn_write(key, &e);
            Some(generation)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::freshness::Verdict;
    use std::time::{Duration, UNIX_EPOCH};

    fn meta(pairs: &[(&str, &str)], request: u64, response: u64) -> PulledMeta {
        let t = |s: u64| UNIX_EPOCH + Duration::from_secs(1_000_000_000 + s);
        let f = Fetched {
            status: 200,
            headers: crate::test_support::header_map(pairs),
            body: bytes::Bytes::new(),
            request_time: t(request),
            response_time: t(response),
        };
        PulledMeta::of(&f, &Reading::default(), vec![])
    }

    fn verdict(m: &PulledMeta, now: SystemTime) -> Verdict {
        let cc = Default::default();
        freshness::verdict(
            &m.stored(),
            &Policy::default(),
            &cc,
            now,
            &Default::default(),
        )
    }

    #[test]
    fn a_soft_purge_makes_a_fresh_object_stale_by_nothing_rfc_9111_4_2() {
        let t = |s: u64| UNIX_EPOCH + Duration::from_secs(1_000_000_000 + s);
        let p = Policy::default();
        for (pairs, req, resp) in [
            (
                &[("cache-control", "max-age=3600, stale-while-revalidate=60")][..],
                0,
                0,
            ),
            (&[("cache-control", "max-age=3600"), ("age", "100")], 0, 3),
            (
                &[
                    ("cache-control", "max-age=3600"),
                    ("date", "Sun, 09 Sep 2001 01:40:00 GMT"),
                ],
                0,
                1,
            ),
        ] {
            let mut m = meta(pairs, req, resp);
            let now = t(500);
            assert_eq!(verdict(&m, now), Verdict::Fresh);
            let age = aged(&m, &p, now).unwrap();
            m.age_header = Some(age);
            let stale = verdict(&m, now);
            assert!(
                matches!(stale, Verdict::Stale { .. }),
                "{pairs:?}: {stale:?}"
            );
            let s = m.stored();
            let over = freshness::current_age(&s, now) - freshness::lifetime(&s, &p);
            assert!(over <= 1, "stale by {over} s");
            assert!(aged(&m, &p, now).is_none(), "stale already");
        }
        let m = meta(
            &[("cache-control", "max-age=3600, stale-while-revalidate=60")],
            0,
            0,
        );
        let mut soft = m.clone();
        soft.age_header = aged(&m, &p, t(10));
        assert_eq!(
            verdict(&soft, t(30)),
            Verdict::Stale {
                may_serve_while_revalidating: true,
                may_serve_on_error: false
            },
            "the stale window starts at the purge"
        );
    }
}
