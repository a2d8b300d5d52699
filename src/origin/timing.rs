//! Upstream time of one client request, for the access log: the origin
//! client adds the time of each exchange it makes on behalf of the request
//! being handled (retries and revalidations included) to a task-local
//! total, which the server reads when the response is done. Requests that
//! waited for another request's fetch, and background revalidations, record
//! nothing: they sent nothing upstream themselves.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

tokio::task_local! {
    static UPSTREAM: Cell<Option<Duration>>;
}

/// Runs `fut`, returning its output and the upstream time it spent (`None`
/// when it made no origin request).
pub async fn measured<F: Future>(fut: F) -> (F::Output, Option<Duration>) {
    UPSTREAM
        .scope(Cell::new(None), async move {
            let out = fut.await;
            (out, UPSTREAM.with(Cell::get))
        })
        .await
}

/// Adds `d` to the upstream time of the request being measured, if any.
pub fn record(d: Duration) {
    let _ = UPSTREAM.try_with(|c| c.set(Some(c.get().unwrap_or_default() + d)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sums_within_a_scope_and_ignores_outside() {
        record(Duration::from_millis(5));
        let ((), t) = measured(async {
            record(Duration::from_millis(2));
            tokio::task::yield_now().await;
            record(Duration::from_millis(3));
        })
        .await;
        assert_eq!(t, Some(Duration::from_millis(5)));
        let ((), none) = measured(async {}).await;
        assert_eq!(none, None);
    }
}
