//! Phase "upstream", coalesced (RFC 9111 §4): one fetch per object for
//! all the requests that select it at once (`coalesce`), each asked of the
//! key's owner peer first (`route`), then the origin; a waiter whose
//! leader failed may get its own stale copy (stale-if-error), and one
//! whose leader's answer is another variant fetches its own. An object
//! too large to hold streams straight through, counted against the memory
//! bound (`buffer`).

use std::sync::Arc;

use actix_web::http::header::HeaderMap;

use super::coalesce::Role;
use super::disk::DiskRead;
use super::{buffer, memory_key, variants, Job, Pulled, Puller};
use crate::http::freshness::NoStore;
use crate::http::path::Key;
use crate::lookup::{Ask, CacheStatus, Entry, Lookup, Memory, Served, Source, Trouble};
use crate::origin::client::{Overflow, Streamed};
use crate::origin::OriginStats;
use crate::store::memory::Reservation;

impl Puller {
    /// Phase "upstream", coalesced: fetches the request's object from the
    /// origin (revalidating `stale` when given) once for all concurrent
    /// requests that select the same object.
    pub(super) async fn fetch(
        &self,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        names: Option<Vec<String>>,
        stale: Option<(Arc<Entry>, bool)>,
        read: DiskRead,
    ) -> Lookup {
        let primary = memory_key(key, ask.query);
        let flight = match &names {
            Some(n) => variants::key(&primary, n, ask.headers),
            None => primary.clone(),
        };
        let mut target = key.url_path();
        if let Some(q) = ask.query {
            target.push('?');
            target.push_str(q);
        }
        if self.known_too_large(&flight) {
            return self.stream(memory, &target, ask).await;
        }
        let job = Job {
            primary: &primary,
            flight: &flight,
            target: &target,
            path: key.path(),
            ask,
            // A request that says no-store is passed through as it came.
            storing: !self.coalescer.passing(&flight) && !ask.directives.no_store,
            streamed: Default::default(),
        };
        // A waiter's own stale copy, where it may stand in for an error.
        let on_error = stale
            .as_ref()
            .filter(|(_, allowed)| *allowed)
            .map(|(e, _)| e.clone());
        let work = || self.fetch_once(memory, &job, stale, read);
        let (mut pulled, role) = self.coalescer.run(flight.clone(), work).await;
        if role == Role::Waiter {
            OriginStats::bump(&self.stats.coalesced_waiters);
            // The leader failed: stale-if-error (RFC 5861 §4) for this one.
            if let (Some(trouble), Some(entry)) = (pulled.trouble(), on_error) {
                pulled = Pulled::Stored(
                    Served(entry),
                    CacheStatus::StaleOnError(trouble),
                    flight.as_str().into(),
                );
            }
            // The leader's answer varies on headers this request sends
            // differently: it is not this request's variant (§4.1).
            if let Pulled::Stored(s, _, stored_at) = &pulled {
                if !s.is_variant_for(&primary, ask.headers, stored_at) {
                    pulled = self
                        .fetch_once(memory, &job, None, DiskRead::Unread)
                        .await
                        .into_value();
                }
            }
        }
        if let Pulled::Stored(_, CacheStatus::StaleOnError(t), _) = &pulled {
            OriginStats::bump(&self.stats.stale_served);
            OriginStats::bump(&self.stats.stale_on_error[t.index()]);
        }
        match pulled {
            Pulled::Stored(asset, status, _) => Lookup::Asset {
                asset,
                from_memory: false,
                status,
            },
            Pulled::Passed(f, reason) => Lookup::Passed(f, reason),
            Pulled::Failed(e) => Lookup::OriginFailed(e),
            // Streamed through uncached: a stream cannot be shared, so each
            // request makes its own (the pass mark keeps them from queueing);
            // the one whose fetch turned into a stream streams that.
            Pulled::TooLarge => {
                let mine = job
                    .streamed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                match mine {
                    Some((s, why)) => self.stream_out(memory, s, why, None),
                    None => {
                        self.mark_too_large(flight);
                        self.stream(memory, &target, ask).await
                    }
                }
            }
        }
    }

    /// Remembers that `memory_key`'s answer is too large to hold: its
    /// requests stream for the next `pass_for`.
    pub(super) fn mark_too_large(&self, memory_key: String) {
        let mut map = self.too_large.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(memory_key, std::time::Instant::now() + self.rules.pass_for);
    }

    /// Whether `memory_key`'s answer was found too large to hold lately.
    pub(super) fn known_too_large(&self, memory_key: &str) -> bool {
        let map = self.too_large.lock().unwrap_or_else(|e| e.into_inner());
        map.get(memory_key)
            .is_some_and(|until| *until > std::time::Instant::now())
    }

    /// Streams a key known too large: its room in the memory bound is
    /// reserved first, so a request refused for want of it never reaches
    /// the origin.
    async fn stream(&self, memory: &Memory, target: &str, ask: &Ask<'_>) -> Lookup {
        let held = match buffer::reserve_stream(memory, None) {
            Ok(held) => held,
            Err(e) => return Lookup::OriginFailed(e),
        };
        OriginStats::bump(&self.stats.requests);
        let headers = self.upstream_headers(ask, false, &[]);
        let started = std::time::Instant::now();
        let streamed = self.client.stream(target, &headers).await;
        // The body streams to the client: upstream time is to its head.
        ask.spent_upstream(started.elapsed());
        match streamed {
            Ok(s) => self.stream_out(memory, s, Overflow::TooLarge, Some(held)),
            Err(e) => Lookup::OriginFailed(e),
        }
    }

    /// A streamed answer, counted against the memory bound (`held`, or
    /// reserved now; refused when the bound has no room, see `buffer`).
    fn stream_out(
        &self,
        memory: &Memory,
        s: Streamed,
        why: Overflow,
        held: Option<Reservation>,
    ) -> Lookup {
        let reason = match why {
            Overflow::TooLarge => NoStore::TooLarge,
            Overflow::NoRoom => NoStore::NoRoom,
        };
        self.stats.not_stored(reason);
        let held = match held {
            Some(held) => Ok(held),
            None => buffer::reserve_stream(memory, s.len),
        };
        match held {
            Ok(held) => {
                let mut s = buffer::counted(s, held);
                self.rules.reading.strip_targeted(&mut s.headers);
                Lookup::Streamed(s, reason)
            }
            Err(e) => Lookup::OriginFailed(e),
        }
    }
}

impl Pulled {
    /// How the fetch failed, if it did: no answer, or a server error.
    fn trouble(&self) -> Option<Trouble> {
        match self {
            Pulled::Failed(e) => Some(Trouble::of(e)),
            Pulled::Passed(f, NoStore::ServerError) => Some(Trouble::Status(f.status)),
            _ => None,
        }
    }
}

impl Served {
    /// Whether this stored response, kept under `stored_at`, is the one a
    /// request with `headers` selects (it varies on nothing, or on values
    /// this request sends too).
    fn is_variant_for(&self, primary: &str, headers: &HeaderMap, stored_at: &str) -> bool {
        match &self.0.source {
            Source::Pulled(meta) if !meta.vary.is_empty() => {
                variants::key(primary, &meta.vary, headers) == stored_at
            }
            _ => true,
        }
    }
}
