//! Whether the origin answers, for the readiness endpoint: the last word of
//! real traffic (see `origin::reachability`), refreshed by a `HEAD /` probe
//! when it is older than the caller allows.

use std::time::Duration;

use super::Edge;

impl Edge {
    /// `None` without an origin; else whether it answered lately. When the
    /// last word is older than `fresh_for` (or there is none) and no probe
    /// is running, probes now, waiting at most `limit`; a request arriving
    /// while a probe runs gets the last word.
    pub async fn origin_ready(&self, fresh_for: Duration, limit: Duration) -> Option<bool> {
        let origin = self.origin.as_ref()?;
        let reach = &origin.stats.reach;
        let last = reach.last();
        if let Some((up, age)) = last {
            if age < fresh_for {
                return Some(up);
            }
        }
        if !reach.start_probe() {
            return Some(last.is_none_or(|(up, _)| up));
        }
        // Released even when this request goes away mid-probe.
        struct Claim<'a>(&'a crate::origin::reachability::Reachability);
        impl Drop for Claim<'_> {
            fn drop(&mut self) {
                self.0.end_probe();
            }
        }
        let _claim = Claim(reach);
        match origin.client.probe(limit).await {
            // A 1xx is no answer to relay, but the origin is up.
            Ok(_) | Err(crate::origin::client::FetchError::Interim(_)) => {
                reach.answered();
                Some(true)
            }
            Err(e) => {
                tracing::warn!(origin = origin.client.base(), "readiness probe: {e}");
                reach.failed();
                Some(false)
            }
        }
    }
}
