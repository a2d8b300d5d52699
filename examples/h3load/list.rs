//! List mode: one GET per path, in file order, on one connection; one line
//! each: `alpn= version= status= encoding= bytes= sha256= path=`, so a
//! script can check the protocol, the coding and the bytes of every
//! response (the SHA-256 of the body as received, e.g. of the `.br` file).

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::time::timeout;

use crate::args::{secs, Args, Target};
use crate::conn::{self, Conn};
use crate::Error;

/// Fetches every path once and prints its line; fails on the first error.
pub async fn run(
    target: Arc<Target>,
    config: quinn::ClientConfig,
    args: &Args,
) -> Result<(), Error> {
    let endpoint = conn::endpoint(&target)?;
    let limit = secs(args.timeout);
    let mut c = timeout(limit, Conn::open(&endpoint, &config, &target))
        .await
        .map_err(|_| format!("connect {}: timed out", target.addr))??;
    let alpn = c.alpn();
    for uri in &target.uris {
        let mut hash = Sha256::new();
        let r = timeout(
            limit,
            conn::get(&mut c.send, uri, &target.headers, |b| hash.update(b)),
        )
        .await
        .map_err(|_| format!("{uri}: no answer in {limit:?}"))??;
        let encoding = r
            .encoding
            .as_ref()
            .and_then(|e| e.to_str().ok())
            .unwrap_or("identity");
        let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        crate::emit(format_args!(
            "alpn={alpn} version=HTTP/3 status={} encoding={encoding} bytes={} sha256={hex} path={}",
            r.status,
            r.bytes,
            uri.path()
        ))?;
    }
    drop(c);
    endpoint.close(0u32.into(), b"done");
    Ok(())
}
