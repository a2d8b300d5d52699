//! Phases "lookup" and "verdict" of a pulled object (RFC 9111 §4): what
//! the URL's key holds in memory (a stored response, or the marker that
//! picks the request's variant), else on disk; whether it may answer now
//! (fresh, stale within what the response and the request allow, or to be
//! revalidated), and, when it may not, the fetch that follows (`upstream`).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use super::disk::DiskRead;
use super::{memory_key, variants, Puller};
use crate::compress;
use crate::http::cache_control::CacheControl;
use crate::http::freshness::{self, Verdict};
use crate::http::path::Key;
use crate::lookup::{Ask, CacheStatus, Entry, Lookup, Memory, Served, Source};
use crate::origin::stored::PulledMeta;
use crate::origin::OriginStats;

/// What a stored entry cannot answer alone: the origin's part that
/// follows ([`Puller::follow`]).
pub(crate) enum Next {
    /// No stored variant answers (`names`: the URL varies on these
    /// headers, but this variant is not in memory).
    Miss(Option<Vec<String>>),
    /// The stored copy must be refreshed first: a fetch, conditional on
    /// the stale copy (`stale`: it and whether it may stand in for a
    /// failed fetch), varying on `names`.
    Fetch {
        /// The request headers the URL varies on, if any.
        names: Option<Vec<String>>,
        /// The stored copy and whether it may answer if the fetch fails.
        stale: (Arc<Entry>, bool),
    },
}

impl Puller {
    /// Answers from what the URL's key holds (a stored object, or a marker
    /// that picks the request's variant) when that needs no origin: a hit
    /// is decided here, without a future, so it pays no allocation and no
    /// copy of the fetch's state (which the origin's part holds, boxed by
    /// the caller of [`Puller::follow`]). `Err` says what must follow.
    pub(crate) fn serve(
        self: &Arc<Self>,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        entry: Arc<Entry>,
    ) -> Result<Lookup, Next> {
        match &entry.source {
            Source::Variants(m) => {
                let primary = memory_key(key, ask.query);
                let vkey = variants::key(&primary, &m.names, ask.headers);
                match memory.get(&vkey) {
                    Some(e) if matches!(e.source, Source::Pulled(_)) => {
                        self.serve_stored(memory, key, ask, e, Some(&vkey))
                    }
                    _ => Err(Next::Miss(Some(m.names.clone()))),
                }
            }
            Source::Pulled(_) => self.serve_stored(memory, key, ask, entry, None),
            Source::Local { .. } => Ok(Lookup::NotFound),
        }
    }

    /// The origin's part of a lookup that [`Puller::serve`] could not
    /// answer alone.
    pub(crate) async fn follow(
        &self,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        next: Next,
    ) -> Lookup {
        match next {
            Next::Miss(names) => self.miss(memory, key, ask, names, DiskRead::Unread).await,
            Next::Fetch { names, stale } => {
                self.fetch(memory, key, ask, names, Some(stale), DiskRead::Unread)
                    .await
            }
        }
    }

    /// Phase "verdict": whether `meta` may answer a request with
    /// `request` directives at `now` (reloads damped, see `ClientLimits`).
    pub(super) fn verdict(
        &self,
        meta: &PulledMeta,
        request: &CacheControl,
        now: SystemTime,
    ) -> Verdict {
        let (policy, limits) = (&self.rules.policy, &self.rules.limits);
        freshness::verdict(&meta.stored(), policy, request, now, limits)
    }

    /// Whether `meta` may stand in for a failed fetch now: as its verdict
    /// said (`by_verdict`: stale-if-error, RFC 5861 §4, or the client's
    /// max-stale), or within the operator's own window (a rule's
    /// `stale_if_error`, whatever the origin's directives).
    pub(super) fn stands_in(&self, meta: &PulledMeta, by_verdict: bool) -> bool {
        by_verdict
            || freshness::operator_stale_if_error(
                &meta.stored(),
                &self.rules.policy,
                self.clock.now(),
            )
    }

    /// Answers from a stored pulled object (kept under `at`; `None`: the
    /// URL's own key, spelled out only when something needs it, not on
    /// every hit) while it may answer as it is; else says how it is
    /// revalidated.
    fn serve_stored(
        self: &Arc<Self>,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        entry: Arc<Entry>,
        at: Option<&str>,
    ) -> Result<Lookup, Next> {
        let at = || at.map_or_else(|| Cow::Owned(memory_key(key, ask.query)), Cow::Borrowed);
        let Source::Pulled(meta) = &entry.source else {
            return Ok(Lookup::NotFound);
        };
        // Encodings the queue had no room for are offered again.
        if compress::pending(&entry) {
            self.compressor
                .offer(memory, &at(), &entry, self.persist_to(key.path()));
        }
        let verdict = self.verdict(meta, ask.directives, self.clock.now());
        let hit = |status| Lookup::Asset {
            asset: Served(entry.clone()),
            from_memory: true,
            status,
        };
        // §5.2.1.7: only what may be served without the origin, else 504.
        if ask.directives.only_if_cached {
            return Ok(match verdict {
                Verdict::Fresh => hit(CacheStatus::Hit),
                Verdict::Stale {
                    may_serve_while_revalidating: true,
                    ..
                } => hit(CacheStatus::StaleServed),
                _ => Lookup::NotCached,
            });
        }
        Ok(match verdict {
            Verdict::Fresh => hit(CacheStatus::Hit),
            // stale-while-revalidate (RFC 5861 §3): answer with the stale
            // copy now; one background fetch (coalesced) revalidates it.
            Verdict::Stale {
                may_serve_while_revalidating: true,
                may_serve_on_error,
            } => {
                // Stale allowed only by the client's max-stale (§5.2.1.2),
                // not by the response's window: served as it is.
                let own = self.verdict(meta, &CacheControl::default(), self.clock.now());
                if !matches!(
                    own,
                    Verdict::Stale {
                        may_serve_while_revalidating: true,
                        ..
                    }
                ) {
                    OriginStats::bump(&self.stats.stale_served);
                    return Ok(hit(CacheStatus::StaleServed));
                }
                let stale = (entry.clone(), self.stands_in(meta, may_serve_on_error));
                self.revalidate_in_background(memory, key, ask, stale, &at());
                OriginStats::bump(&self.stats.stale_served);
                hit(CacheStatus::StaleRevalidating)
            }
            Verdict::Stale {
                may_serve_on_error, ..
            } => {
                let names = (!meta.vary.is_empty()).then(|| meta.vary.clone());
                let stale = (entry.clone(), self.stands_in(meta, may_serve_on_error));
                return Err(Next::Fetch { names, stale });
            }
            Verdict::MustRevalidate => {
                let names = (!meta.vary.is_empty()).then(|| meta.vary.clone());
                let stale = (entry.clone(), self.stands_in(meta, false));
                return Err(Next::Fetch { names, stale });
            }
        })
    }

    /// Nothing in memory answers the request (`names`: the URL is known to
    /// vary on these headers, but not this variant; `read`: what the lookup
    /// already read of the URL's own key from disk).
    pub(crate) async fn miss(
        &self,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        names: Option<Vec<String>>,
        read: DiskRead,
    ) -> Lookup {
        // A read of the URL's key says nothing of a variant's.
        let read = if names.is_some() {
            DiskRead::Unread
        } else {
            read
        };
        if ask.directives.only_if_cached {
            // The disk may still hold it.
            let primary = memory_key(key, ask.query);
            let flight = match &names {
                Some(n) => variants::key(&primary, n, ask.headers),
                None => primary,
            };
            return match self.read_disk(memory, &flight, read).await {
                Some(entry) => match &entry.source {
                    Source::Pulled(meta)
                        if self.verdict(meta, ask.directives, self.clock.now())
                            == Verdict::Fresh =>
                    {
                        Lookup::Asset {
                            asset: Served(entry.clone()),
                            from_memory: false,
                            status: CacheStatus::Hit,
                        }
                    }
                    _ => Lookup::NotCached,
                },
                None => Lookup::NotCached,
            };
        }
        self.fetch(memory, key, ask, names, None, read).await
    }

    /// stale-while-revalidate (RFC 5861 §3): one background fetch
    /// (coalesced) revalidates the stale copy `stale` kept under `at`,
    /// with the request's headers, while the request is answered with it.
    fn revalidate_in_background(
        self: &Arc<Self>,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        stale: (Arc<Entry>, bool),
        at: &str,
    ) {
        let Source::Pulled(meta) = &stale.0.source else {
            return;
        };
        let (me, memory, key) = (self.clone(), memory.clone(), key.clone());
        let query = ask.query.map(str::to_string);
        let (headers, peer) = (ask.headers.clone(), ask.peer);
        let (authority, secure) = (ask.authority.map(str::to_string), ask.secure);
        let (from_peer, via) = (ask.from_peer, ask.via);
        let names = (!meta.vary.is_empty()).then(|| meta.vary.clone());
        let (seen, at) = (meta.response_time, at.to_string());
        actix_web::rt::spawn(async move {
            // One revalidation per stale copy: a request that saw it just
            // before another background fetch refreshed it (or a purge
            // dropped it) has nothing left to do. (An entry only given
            // encodings since is the same copy.) A fetch still in flight
            // is joined by the coalescer.
            let same_copy = memory.get(&at).is_some_and(
                |now| matches!(&now.source, Source::Pulled(m) if m.response_time == seen),
            );
            if !same_copy {
                return;
            }
            let directives = CacheControl::default();
            let ask = Ask {
                query: query.as_deref(),
                headers: &headers,
                peer,
                directives: &directives,
                upstream: None,
                authority: authority.as_deref(),
                secure,
                from_peer,
                via,
            };
            me.fetch(&memory, &key, &ask, names, Some(stale), DiskRead::Unread)
                .await;
        });
    }
}
