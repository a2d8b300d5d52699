//! One fetch through the phases after the memory lookup (RFC 9111): the
//! disk lookup and its verdict, the upstream request (our validators, the
//! client's forwarded headers), the response filter (a 304 merged into
//! what is stored, §4.3.4; stale-if-error), and the decision to store it,
//! under which key, or why not. The phases' rules are pure functions
//! elsewhere (`origin::request`, `origin::stored`, `origin::decision`,
//! `http::freshness`); this strings them together with the I/O.

use std::sync::Arc;
use std::time::Duration;

use super::buffer::Buffer;
use super::coalesce::Outcome;
use super::disk::DiskRead;
use super::route::Answered;
use super::variants;
use super::{Job, Pulled, Puller};
use crate::http::freshness::{NoStore, Verdict};
use crate::lookup::{CacheStatus, Entry, Memory, Served, Source, Trouble};
use crate::origin::client::{FetchError, Fetched, Got, Overflow};
use crate::origin::decision::{self, Facts};
use crate::origin::stored::PulledMeta;
use crate::origin::OriginStats;

impl Puller {
    /// One fetch, through every phase after the memory lookup.
    pub(super) async fn fetch_once(
        &self,
        memory: &Memory,
        job: &Job<'_>,
        stale: Option<(Arc<Entry>, bool)>,
        read: DiskRead,
    ) -> Outcome<Pulled> {
        // Found too large to hold by the request this one waited for: it
        // streams its own without a fetch (see `Puller::fetch`).
        if self.known_too_large(job.flight) {
            return Outcome::Private(Pulled::TooLarge, self.rules.pass_for);
        }
        // A request that found its copy stale can come to lead only after
        // another revalidation of it ended (its flight is over, its answer
        // in memory): that answer, when fresh, is this one's too, rather
        // than a second revalidation (a wave after a soft purge).
        if let Some((seen, _)) = &stale {
            if let Some(cur) = memory.get(job.flight).filter(|c| !Arc::ptr_eq(c, seen)) {
                if let Source::Pulled(meta) = &cur.source {
                    let now = self.clock.now();
                    if matches!(self.verdict(meta, job.ask.directives, now), Verdict::Fresh) {
                        let at = Arc::from(job.flight);
                        return Outcome::Shared(Pulled::Stored(Served(cur), CacheStatus::Hit, at));
                    }
                }
            }
        }
        // Lookup, disk: after a restart or an eviction from memory the
        // disk may hold it. Fresh → served; stale → revalidated.
        let mut stale = stale;
        if stale.is_none() {
            if let Some(entry) = self.read_disk(memory, job.flight, read).await {
                let Source::Pulled(meta) = &entry.source else {
                    unreachable!("disk holds pulled entries")
                };
                match self.verdict(meta, job.ask.directives, self.clock.now()) {
                    Verdict::Fresh => {
                        let at = Arc::from(job.flight);
                        return Outcome::Shared(Pulled::Stored(
                            Served(entry),
                            CacheStatus::Hit,
                            at,
                        ));
                    }
                    Verdict::Stale {
                        may_serve_on_error, ..
                    } => {
                        let on_error = self.stands_in(meta, may_serve_on_error);
                        stale = Some((entry, on_error));
                    }
                    Verdict::MustRevalidate => {
                        let on_error = self.stands_in(meta, false);
                        stale = Some((entry, on_error));
                    }
                }
            }
        }
        let stale_meta = stale.as_ref().and_then(|(e, _)| match &e.source {
            Source::Pulled(m) => Some(m.as_ref().clone()),
            _ => None,
        });
        // Upstream request: the client's headers, our validators.
        let validators = stale_meta
            .as_ref()
            .map(PulledMeta::revalidation_headers)
            .unwrap_or_default();
        let headers = self.upstream_headers(job.ask, job.storing || stale.is_some(), &validators);
        let started = std::time::Instant::now();
        // The body is held against the memory bound as it arrives, or
        // streamed (see `buffer`).
        let mut buffer = Buffer::new(memory, self.whole(memory));
        let (got, answered) = self.upstream_get(job, &headers, &mut buffer).await;
        job.ask.spent_upstream(started.elapsed());
        if answered == Answered::Origin {
            self.count(&got, stale.is_some(), started);
        }
        let fetched = match got {
            Ok(Got::Whole(f)) => Ok(f),
            // Not held: this request streams it (waiters fetch their own).
            Ok(Got::Streamed(s, why)) => {
                let pass = match why {
                    Overflow::TooLarge => {
                        // Before the requests waiting for this fetch wake.
                        self.mark_too_large(job.flight.to_string());
                        self.rules.pass_for
                    }
                    Overflow::NoRoom => Duration::ZERO,
                };
                job.stream_instead(s, why);
                return Outcome::Private(Pulled::TooLarge, pass);
            }
            Err(e) => Err(e),
        };
        let outcome = self.answer(memory, job, fetched, stale, stale_meta).await;
        // A body passed on keeps its reservation until sent; one stored is
        // counted by the cache (or by its entry) now.
        if !matches!(
            &outcome,
            Outcome::Shared(Pulled::Passed(..))
                | Outcome::Private(Pulled::Passed(..), _)
                | Outcome::Split {
                    leader: Pulled::Passed(..),
                    ..
                }
        ) {
            buffer.release();
        }
        outcome
    }

    /// Phases "response filter", "decision" and "store" for what the
    /// origin answered (or how it failed).
    async fn answer(
        &self,
        memory: &Memory,
        job: &Job<'_>,
        fetched: Result<Fetched, FetchError>,
        stale: Option<(Arc<Entry>, bool)>,
        stale_meta: Option<PulledMeta>,
    ) -> Outcome<Pulled> {
        match fetched {
            // Response filter, §4.3.4: a 304 freshens the stored response.
            Ok(f) if f.status == 304 => match (stale, stale_meta) {
                (Some((entry, _)), Some(meta)) => {
                    let meta = meta.refreshed_by(&f, &self.rules.reading);
                    let at = entry_key(job, &meta);
                    let served = self.refresh(memory, &at, job.path, &entry, meta).await;
                    Outcome::Shared(Pulled::Stored(served, CacheStatus::Stale, at.into()))
                }
                _ => {
                    let f = self.rules.reading.for_clients(f);
                    Outcome::Private(Pulled::Passed(Arc::new(f), NoStore::Status), Duration::ZERO)
                }
            },
            // stale-if-error (RFC 5861 §4) covers an origin answering 5xx too.
            Ok(f) if f.status >= 500 && stale.as_ref().is_some_and(|(_, on_error)| *on_error) => {
                // Cannot fail: the match guard just saw `stale` is `Some`.
                let (entry, _) = stale.expect("checked above");
                let at = Arc::from(job.flight);
                let status = CacheStatus::StaleOnError(Trouble::Status(f.status));
                Outcome::Shared(Pulled::Stored(Served(entry), status, at))
            }
            Ok(f) => self.keep(memory, job, f, stale.is_some()).await,
            // stale-if-error (RFC 5861 §4): a stale copy stands in for a
            // failed fetch when the response allowed it.
            Err(e) => match stale {
                Some((entry, true)) => {
                    let at = Arc::from(job.flight);
                    let status = CacheStatus::StaleOnError(Trouble::of(&e));
                    Outcome::Shared(Pulled::Stored(Served(entry), status, at))
                }
                _ if matches!(e, FetchError::TooLarge(_)) => {
                    Outcome::Private(Pulled::TooLarge, self.rules.pass_for)
                }
                // Nothing in a failure is personal: the requests that
                // waited get it too, and the next request asks again.
                _ => Outcome::Shared(Pulled::Failed(e)),
            },
        }
    }

    /// Phases "decision" and "store" for a final response.
    async fn keep(
        &self,
        memory: &Memory,
        job: &Job<'_>,
        f: Fetched,
        was_stale: bool,
    ) -> Outcome<Pulled> {
        let (directives, targeted) = self.rules.reading.read(&f.headers);
        let say = self.say(job.path);
        let facts = Facts {
            status: f.status,
            headers: &f.headers,
            directives: &directives,
            targeted,
            request: job.ask.directives,
            request_has_authorization: job.ask.headers.contains_key("authorization"),
            store_set_cookie: say.store_set_cookie.unwrap_or(self.rules.store_set_cookie),
            request_has_cookie: job.ask.headers.contains_key("cookie"),
            heuristic_with_cookie: self.rules.heuristic_with_cookie,
        };
        let plan = decision::decide(&facts).and_then(|plan| {
            if !plan.vary.is_empty() {
                self.admit_variant(memory, job.primary, &plan.vary, job.ask.headers)?;
            }
            Ok(plan)
        });
        let plan = match plan {
            Ok(plan) => plan,
            Err(NoStore::ServerError) => {
                self.stats.not_stored(NoStore::ServerError);
                let shareable = decision::failure_shareable(&facts);
                return self.failed(f, shareable);
            }
            Err(reason) => {
                self.stats.not_stored(reason);
                let pass = if response_caused(reason, f.status) {
                    // A stale copy of something now uncacheable must go.
                    memory.remove(job.flight);
                    self.forget_on_disk(job.flight, false).await;
                    self.rules.pass_for
                } else {
                    Duration::ZERO
                };
                let f = self.rules.reading.for_clients(f);
                return Outcome::Private(Pulled::Passed(Arc::new(f), reason), pass);
            }
        };
        if plan.vary.is_empty() {
            // The URL no longer varies: its marker (if any) goes.
            if memory
                .get(job.primary)
                .is_some_and(|e| matches!(e.source, Source::Variants(_)))
            {
                memory.remove(job.primary);
            }
        }
        let meta = PulledMeta::of(&f, &self.rules.reading, plan.vary).said(say);
        let at = entry_key(job, &meta);
        let served = self.store(memory, &at, job.path, &f.body, meta).await;
        let status = if was_stale {
            CacheStatus::Stale
        } else {
            CacheStatus::Miss
        };
        Outcome::Shared(Pulled::Stored(served, status, at.into()))
    }

    /// A server error from the origin: the leader answers with it, its
    /// waiters with it too when nothing in it is personal (`shareable`),
    /// else with the node's own answer of the same status. It says nothing
    /// of what the URL may hold: no hit-for-pass, and a stored copy stays
    /// (RFC 9111 §4.3.3).
    fn failed(&self, f: Fetched, shareable: bool) -> Outcome<Pulled> {
        let status = f.status;
        let f = Arc::new(self.rules.reading.for_clients(f));
        let waiters = if shareable {
            Pulled::Passed(f.clone(), NoStore::ServerError)
        } else {
            Pulled::Failed(FetchError::ServerError(status))
        };
        Outcome::Split {
            leader: Pulled::Passed(f, NoStore::ServerError),
            waiters,
        }
    }

    /// The largest body a fetch holds whole: what memory can keep, or,
    /// with a disk cache, what the origin client takes whole.
    fn whole(&self, memory: &Memory) -> u64 {
        match self.disk {
            Some(_) => u64::MAX,
            None => memory.max_object_bytes() as u64,
        }
    }

    fn count(
        &self,
        got: &Result<Got, FetchError>,
        revalidating: bool,
        started: std::time::Instant,
    ) {
        let fetched = got.as_ref().map(|g| match g {
            Got::Whole(f) => f.status,
            Got::Streamed(s, _) => s.status,
        });
        let s = &self.stats;
        OriginStats::bump(&s.requests);
        s.latency.observe(started.elapsed().as_secs_f64());
        match fetched {
            Err(FetchError::Unreachable(_) | FetchError::Timeout) => s.reach.failed(),
            _ => s.reach.answered(),
        }
        match fetched {
            Err(_) => OriginStats::bump(&s.failures),
            Ok(304) if revalidating => OriginStats::bump(&s.revalidated_304),
            Ok(200) if revalidating => OriginStats::bump(&s.revalidated_200),
            Ok(_) => {}
        }
    }
}

/// Whether a reason lies with the response (so a stale copy goes and the
/// key skips coalescing for a while), not with this one request.
fn response_caused(reason: NoStore, status: u16) -> bool {
    // A 206 answers a client's forwarded Range: it says nothing of the
    // resource's cacheability.
    let request_caused = matches!(
        reason,
        NoStore::RequestNoStore
            | NoStore::Authorization
            | NoStore::CookieHeuristic
            | NoStore::TooManyVariants
            | NoStore::Pass
    );
    !request_caused && status != 206
}

/// Where a response of `job` is stored: its variant key when it varies.
fn entry_key(job: &Job<'_>, meta: &PulledMeta) -> String {
    if meta.vary.is_empty() {
        job.primary.to_string()
    } else {
        variants::key(job.primary, &meta.vary, job.ask.headers)
    }
}
