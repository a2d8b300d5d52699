//! The body of a representation left in a store (`asset::Body::Stored`: a
//! disk-cache part too large for memory), as the client gets it: the
//! verified chunks the store yields, handed to the writer in [`SLICE`]-byte
//! slices (no copy), so a connection's write buffer holds at most 32 KiB
//! plus one slice. A chunk that fails to read or verify ends the body in an
//! error, which aborts the response before its end (HTTP/1: the connection
//! closes short of its Content-Length; HTTP/2: the stream is reset), never
//! completes it.
//!
//! It counts the slices its client takes for the send timeout
//! (`limits::send`, like a large body in memory): a client that takes none
//! for `limits.send_timeout` has its connection shut down, which drops
//! the body, its chunks, its share of the memory bound and the file.

use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;
use futures_util::StreamExt;

use super::limits::send::Taken;
use super::slices::SLICE;
use crate::asset::ByteStream;

/// A stored representation's bytes being sent (see the module docs).
pub struct StoredBody {
    stream: ByteStream,
    len: u64,
    chunk: Bytes,
    taken: Option<Rc<Taken>>,
}

impl StoredBody {
    /// `len` bytes from `stream`, their progress counted by `taken`.
    pub fn new(stream: ByteStream, len: u64, taken: Option<Rc<Taken>>) -> Self {
        Self {
            stream,
            len,
            chunk: Bytes::new(),
            taken,
        }
    }
}

impl MessageBody for StoredBody {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.len)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        loop {
            if !this.chunk.is_empty() {
                if let Some(t) = &this.taken {
                    t.took();
                }
                let n = this.chunk.len().min(SLICE);
                return Poll::Ready(Some(Ok(this.chunk.split_to(n))));
            }
            match this.stream.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.chunk = chunk,
                Poll::Ready(Some(Err(e))) => {
                    tracing::warn!(error = %e, "response from the disk cache aborted");
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn drain(body: &mut StoredBody) -> Vec<Result<usize, String>> {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(part)) = Pin::new(&mut *body).poll_next(&mut cx) {
            out.push(part.map(|b| b.len()).map_err(|e| e.to_string()));
        }
        out
    }

    #[test]
    fn chunks_go_in_slices_and_an_error_ends_the_body() {
        let chunks = vec![
            Ok(Bytes::from(vec![1u8; SLICE * 2 + 3])),
            Ok(Bytes::from_static(b"end")),
        ];
        let mut body = StoredBody::new(stream::iter(chunks).boxed(), 0, None);
        assert_eq!(drain(&mut body), [Ok(SLICE), Ok(SLICE), Ok(3), Ok(3)]);
        let bad = vec![
            Ok(Bytes::from_static(b"good")),
            Err(std::io::Error::other("blake3 mismatch")),
        ];
        let mut body = StoredBody::new(stream::iter(bad).boxed(), 10, None);
        assert_eq!(
            drain(&mut body),
            [Ok(4), Err("blake3 mismatch".to_string())]
        );
    }
}
