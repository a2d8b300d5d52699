//! The body of a streamed origin response as the client gets it: parts of
//! at most [`PART`] bytes, each a copy, taken from the origin only when the
//! client side asks for the next (so a slow client slows the origin read,
//! never grows a buffer). It goes through its connection's [`Watch`], which
//! the send timeout may empty (`limits::send`): the response then ends in
//! an error, which aborts it (HTTP/1: the connection closes; HTTP/2: the
//! stream is reset), never completes it with missing bytes.
//!
//! Copies, not slices: a part the client side holds (an HTTP/2 stream
//! waiting for window) then keeps 16 KiB alive, not the origin client's
//! whole read buffer it came in.

use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;
use futures_util::StreamExt;

use super::limits::send::Watch;
use crate::origin::client::FetchError;

/// The largest part handed to the client side at once: one HTTP/2 DATA
/// frame of the default size; HTTP/1 buffers at most 32 KiB plus one.
pub const PART: usize = 16 << 10;

/// A streamed origin body, relayed (see the module docs).
pub struct Relay {
    watch: Rc<Watch>,
    len: Option<u64>,
}

impl Relay {
    /// Relays what `watch` holds; `len`: the length the origin declared.
    pub fn new(watch: Rc<Watch>, len: Option<u64>) -> Self {
        Self { watch, len }
    }
}

impl MessageBody for Relay {
    type Error = FetchError;

    fn size(&self) -> BodySize {
        match self.len {
            Some(n) => BodySize::Sized(n),
            None => BodySize::Stream,
        }
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let w = &self.watch;
        loop {
            {
                let mut part = w.part.borrow_mut();
                let (bytes, at) = &mut *part;
                if *at < bytes.len() {
                    let end = bytes.len().min(*at + PART);
                    let out = Bytes::copy_from_slice(&bytes[*at..end]);
                    *at = end;
                    drop(part);
                    w.took();
                    return Poll::Ready(Some(Ok(out)));
                }
            }
            let polled = match w.body().as_mut() {
                Some(body) => body.poll_next_unpin(cx),
                None if w.timed_out() => Poll::Ready(Some(Err(FetchError::Timeout))),
                None => Poll::Ready(None),
            };
            match polled {
                Poll::Pending => {
                    w.waits_on_origin();
                    return Poll::Pending;
                }
                Poll::Ready(Some(Ok(bytes))) => *w.part.borrow_mut() = (bytes, 0),
                // Ended, broken or cut: the origin body goes now.
                Poll::Ready(end) => {
                    w.release();
                    return Poll::Ready(end);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::limits::send::unwatched;
    use futures_util::stream;

    #[test]
    fn parts_are_cut_to_size_and_the_origin_body_goes_at_its_end() {
        let parts = vec![
            Ok(Bytes::from(vec![1u8; PART * 2 + 5])),
            Ok(Bytes::from_static(b"end")),
        ];
        let watch = unwatched(stream::iter(parts).boxed());
        let mut relay = Relay::new(watch.clone(), None);
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut sizes = Vec::new();
        while let Poll::Ready(Some(part)) = Pin::new(&mut relay).poll_next(&mut cx) {
            sizes.push(part.unwrap().len());
        }
        assert_eq!(sizes, [PART, PART, 5, 3]);
        assert!(watch.body().is_none(), "released at the end");
    }
}
