//! The body of a streamed origin response, and what bounds it. The client
//! reads the next part only when the stream is polled for it (the client
//! of the node sets the pace), so an origin connection holds at most what
//! the HTTP client buffers ahead. Bounded in size and in time:
//!
//! - size: at most `origin.max_stream_bytes` in all; a declared length
//!   above it is refused before any byte (see `passing`), an undeclared
//!   body is cut there (an endless origin body ends);
//! - time: each read waits at most `origin.total_timeout_ms` for the
//!   origin (an origin that stalls mid-body is cut). Time spent waiting
//!   for the node's client is not counted here: the send timeout is
//!   (`server::limits`).
//!
//! A cut body ends with an error, which aborts the client's response: it
//! never looks complete.

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use hyper::body::Incoming;

use super::{transport, FetchError};

/// What the stream has left to give.
struct Left {
    /// Parts read before the body turned into a stream, in order.
    read: std::vec::IntoIter<Bytes>,
    /// The rest, from the origin; `None` once ended or cut.
    resp: Option<Incoming>,
    /// Bytes given so far.
    total: u64,
    limit: u64,
    idle: Duration,
}

/// `read` (what was read already), then the rest of `resp`'s body, cut at
/// `limit` bytes in all and after `idle` without a part from the origin.
pub(super) fn stream(
    resp: Incoming,
    read: Vec<Bytes>,
    limit: u64,
    idle: Duration,
) -> BoxStream<'static, Result<Bytes, FetchError>> {
    let left = Left {
        read: read.into_iter(),
        resp: Some(resp),
        total: 0,
        limit,
        idle,
    };
    stream::unfold(left, |mut left| async move {
        let part = match left.read.next() {
            Some(part) => Ok(part),
            None => {
                let resp = left.resp.as_mut()?;
                match tokio::time::timeout(left.idle, transport::chunk(resp)).await {
                    Err(_) => Err(FetchError::Timeout),
                    Ok(Ok(Some(part))) => Ok(part),
                    Ok(Ok(None)) => return None,
                    Ok(Err(e)) => Err(e),
                }
            }
        };
        let part = part.and_then(|p| {
            left.total += p.len() as u64;
            if left.total > left.limit {
                return Err(FetchError::TooLarge(left.limit));
            }
            Ok(p)
        });
        if part.is_err() {
            // Cut: the origin connection goes now, and the stream ends
            // after the error.
            left.resp = None;
            left.read = Vec::new().into_iter();
        }
        Some((part, left))
    })
    .boxed()
}
