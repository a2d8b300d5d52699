//! Large bodies held in memory, sent in slices. actix-http's HTTP/1 writer
//! copies each body part into its write buffer before writing, so a body
//! given whole would be copied whole for each client that reads it slowly
//! (a 16 MiB object: 16 MiB more per stalled connection, uncounted). Given
//! in [`SLICE`]-byte slices (no copy: they share the body), a connection's
//! write buffer holds at most 32 KiB plus one slice.
//!
//! A sliced body also holds the asset it comes from until it is sent: an
//! entry the memory cache lets go of meanwhile goes on counting against
//! the bound until then (`Weigh::outlive`). And it counts the slices its
//! client takes, for the send timeout (`limits::send`): over HTTP/2 a
//! stream at a zero window shows no other way.

use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;

use super::limits::{conns, send::Taken};
use crate::lookup::Served;

/// Bytes handed to the writer at a time.
pub const SLICE: usize = 32 << 10;

/// `resp` (to `req`) with a body in memory larger than [`SLICE`] sent in
/// slices, keeping `keep` (the asset it comes from, if any) alive until
/// sent.
pub fn sliced(req: &HttpRequest, resp: HttpResponse, keep: Option<&Served>) -> HttpResponse {
    if !matches!(resp.body().size(), BodySize::Sized(n) if n > SLICE as u64) {
        return resp;
    }
    let keep = keep.cloned();
    let taken = conns::watch_body(req);
    resp.map_body(|_, body| match body.try_into_bytes() {
        Ok(bytes) => BoxBody::new(Slices {
            bytes,
            taken,
            _keep: keep,
        }),
        Err(body) => body,
    })
}

/// A body in memory, handed over a slice at a time.
struct Slices {
    bytes: Bytes,
    taken: Option<Rc<Taken>>,
    _keep: Option<Served>,
}

impl MessageBody for Slices {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.bytes.len() as u64)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.bytes.is_empty() {
            return Poll::Ready(None);
        }
        if let Some(t) = &this.taken {
            t.took();
        }
        let n = this.bytes.len().min(SLICE);
        Poll::Ready(Some(Ok(this.bytes.split_to(n))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_bodies_go_in_slices_small_ones_whole() {
        let req = actix_web::test::TestRequest::default().to_http_request();
        let big = HttpResponse::Ok().body(vec![7u8; SLICE * 2 + 1]);
        let mut body = sliced(&req, big, None).into_body();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut sizes = Vec::new();
        while let Poll::Ready(Some(Ok(b))) = Pin::new(&mut body).poll_next(&mut cx) {
            sizes.push(b.len());
        }
        assert_eq!(sizes, [SLICE, SLICE, 1]);
        let small = sliced(&req, HttpResponse::Ok().body("abc"), None);
        assert!(small.into_body().try_into_bytes().is_ok(), "left whole");
    }
}
