//! How the cache took part in answering a request, in one word: the access
//! log's cache field and the `cache` label of the request-duration
//! histogram. The handler sets it from what the lookup returned (the same
//! facts that produce the `Cache-Status` header), never by reading headers
//! back.

use crate::lookup::CacheStatus;

/// How a request was answered, as far as the cache is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheOutcome {
    /// No lookup answered it: the node's own endpoints, refusals, not
    /// found, redirects.
    #[default]
    None,
    /// A file from the static root.
    Local,
    /// A fresh stored copy of a pulled object.
    Hit,
    /// Fetched from the origin now, to be stored (its `Cache-Status` says
    /// whether memory or disk took it).
    Miss,
    /// A stale stored copy, revalidated (or refetched) from the origin now.
    Revalidated,
    /// A stale copy served because the origin failed (stale-if-error).
    Stale,
    /// A stale copy served while it is revalidated in the background
    /// (stale-while-revalidate).
    Updating,
    /// Passed to or from the origin without storing (uncacheable, too
    /// large, unsafe method).
    Pass,
    /// The origin failed and nothing stored could stand in (502/504).
    Error,
}

impl CacheOutcome {
    /// Every value, in the order of [`CacheOutcome::index`].
    pub const ALL: [CacheOutcome; 9] = [
        CacheOutcome::None,
        CacheOutcome::Local,
        CacheOutcome::Hit,
        CacheOutcome::Miss,
        CacheOutcome::Revalidated,
        CacheOutcome::Stale,
        CacheOutcome::Updating,
        CacheOutcome::Pass,
        CacheOutcome::Error,
    ];

    /// The word logged and used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::None => "none",
            CacheOutcome::Local => "local",
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Revalidated => "revalidated",
            CacheOutcome::Stale => "stale",
            CacheOutcome::Updating => "updating",
            CacheOutcome::Pass => "pass",
            CacheOutcome::Error => "error",
        }
    }

    /// Its position in [`CacheOutcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl From<CacheStatus> for CacheOutcome {
    fn from(s: CacheStatus) -> Self {
        match s {
            CacheStatus::Local => CacheOutcome::Local,
            CacheStatus::Hit => CacheOutcome::Hit,
            CacheStatus::Miss => CacheOutcome::Miss,
            CacheStatus::Stale => CacheOutcome::Revalidated,
            CacheStatus::StaleServed | CacheStatus::StaleOnError(_) => CacheOutcome::Stale,
            CacheStatus::StaleRevalidating => CacheOutcome::Updating,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order() {
        for (i, o) in CacheOutcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i, "{}", o.as_str());
        }
    }
}
