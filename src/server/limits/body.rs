//! Reading a request body within `[limits]`: its size and how long it may
//! stall.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::{body_too_large, RequestLimits};
use crate::server::errors;

/// Reads a request body up to `limit` bytes; 413 beyond it, 408 when it
/// stalls for `limits.body_timeout_secs`. No payload (a GET's, dropped
/// unread) reads as empty.
pub async fn read_body(
    payload: Option<web::Payload>,
    limit: usize,
    limits: &RequestLimits,
) -> Result<bytes::Bytes, HttpResponse> {
    use futures_util::StreamExt;
    let Some(mut payload) = payload else {
        return Ok(bytes::Bytes::new());
    };
    let mut body = bytes::BytesMut::new();
    loop {
        let next = actix_web::rt::time::timeout(limits.body_timeout, payload.next());
        let Some(chunk) = next.await.map_err(|_| limits.body_timed_out())? else {
            break;
        };
        let chunk = chunk
            .map_err(|e| errors::text(StatusCode::BAD_REQUEST, format!("request body: {e}\n")))?;
        if body.len() + chunk.len() > limit {
            return Err(body_too_large(limit as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
