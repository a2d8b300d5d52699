//! Bodies streamed from disk, for representations too large to keep in
//! memory. The file is opened when the body is first polled and checked
//! against the version that was hashed: a file changed since is never sent
//! under the old ETag (the response is aborted instead, and the next check
//! of the entry reloads it).

use std::io::{self, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::body::SizedStream;
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

/// Read size per chunk.
const CHUNK: usize = 64 * 1024;

/// A body of `len` bytes from `offset` in the file at `path`, which must
/// still be `total_len` bytes long with mtime `modified`.
pub fn sized(
    path: Arc<PathBuf>,
    modified: Option<SystemTime>,
    total_len: u64,
    offset: u64,
    len: u64,
) -> SizedStream<impl Stream<Item = Result<Bytes, io::Error>>> {
    let open = async move {
        // By its real path, following no symlink swapped in since.
        let real = Arc::clone(&path);
        let file = tokio::task::spawn_blocking(move || crate::store::beneath::open_real(&real))
            .await
            .map_err(io::Error::other)??;
        let mut file = tokio::fs::File::from_std(file);
        let meta = file.metadata().await?;
        if meta.len() != total_len || meta.modified().ok() != modified {
            tracing::warn!(path = %path.display(), "file changed since it was hashed; aborting response");
            return Err(io::Error::other("file changed since it was hashed"));
        }
        file.seek(SeekFrom::Start(offset)).await?;
        Ok(ReaderStream::with_capacity(file.take(len), CHUNK))
    };
    SizedStream::new(len, futures_util::stream::once(open).try_flatten())
}
