//! The vocabulary of a lookup, shared by the edge (`Edge::lookup`), the
//! pull engine (`pull`), the encodings the node makes (`compress`) and the
//! server: what a lookup is asked ([`Ask`], `ask`), what the memory cache
//! holds (`entry`: an asset and where it came from; `marker`: the variants
//! of a URL whose responses vary), a handle on what is answered with
//! ([`Served`], `served`), and what a lookup answers ([`Lookup`],
//! [`CacheStatus`], here). It uses nothing of the modules that use it (see
//! docs/architecture.md).

mod ask;
mod entry;
mod marker;
mod served;

use std::sync::Arc;

use crate::http::freshness::NoStore;
use crate::origin::client::{FetchError, Fetched};

pub use ask::Ask;
pub(crate) use entry::{keep, Entry, Memory, Source, ENTRY_SLACK};
pub(crate) use marker::Marker;
pub use served::Served;

/// The result of a lookup.
#[derive(Debug)]
pub enum Lookup {
    /// An asset to serve; `from_memory` tells a cache hit from a load.
    Asset {
        asset: Served,
        from_memory: bool,
        status: CacheStatus,
    },
    /// A directory asked for without its trailing slash: redirect.
    Directory,
    /// Nothing here (and no origin, or the origin said so uncacheably).
    NotFound,
    /// An origin response that is not stored, and why: answer with it as it is.
    Passed(Arc<Fetched>, NoStore),
    /// `only-if-cached` and nothing stored may answer (RFC 9111 §5.2.1.7: 504).
    NotCached,
    /// An origin response passed on as it arrives, and why it was not
    /// stored (too large, no room in the memory bound, an unsafe method).
    Streamed(crate::origin::client::Streamed, NoStore),
    /// The origin could not be reached, timed out, or broke (502/504).
    OriginFailed(FetchError),
}

/// How a fetch failed when a stale copy stood in for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// No connection, or it broke before a response.
    Unreachable,
    /// No answer within the timeouts.
    Timeout,
    /// A 5xx answer (its status).
    Status(u16),
    /// The body broke, or another failure.
    Broken,
}

impl Trouble {
    /// Every label of [`Trouble::label`], in the order of [`Trouble::index`].
    pub const LABELS: [&'static str; 4] = ["unreachable", "timeout", "5xx", "broken"];

    /// How `e` failed.
    pub fn of(e: &FetchError) -> Self {
        match e {
            FetchError::Unreachable(_) => Trouble::Unreachable,
            FetchError::Timeout => Trouble::Timeout,
            FetchError::ServerError(s) => Trouble::Status(*s),
            _ => Trouble::Broken,
        }
    }

    /// Its metrics label.
    pub fn label(self) -> &'static str {
        Self::LABELS[self.index()]
    }

    /// Its position in [`Trouble::LABELS`].
    pub fn index(self) -> usize {
        match self {
            Trouble::Unreachable => 0,
            Trouble::Timeout => 1,
            Trouble::Status(_) => 2,
            Trouble::Broken => 3,
        }
    }
}

/// How a pulled answer was obtained, for the `Cache-Status` header (RFC 9211).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// A local file: no header.
    Local,
    /// A fresh stored response.
    Hit,
    /// Fetched now because nothing was stored.
    Miss,
    /// Revalidated (or refetched) now because the stored one was stale.
    Stale,
    /// A stale response served as the client's `max-stale` allows.
    StaleServed,
    /// A stale response served because the origin failed (stale-if-error:
    /// the response's, the node's default, or a rule's).
    StaleOnError(Trouble),
    /// A stale response served while it is revalidated in the background.
    StaleRevalidating,
}
