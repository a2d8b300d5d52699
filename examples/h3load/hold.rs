//! Hold mode: N connections on one UDP socket (64 set up at a time), one
//! GET on each (the paths round-robin), then no traffic at all for
//! `--hold-secs` (no keep-alive, see tls.rs), so the server holds N idle
//! QUIC connections. Prints `held=N failed=F` as soon as all are set up
//! (a script reads the server's memory then), and `released=N
//! still_open=K` at the end (K < N: the server's idle timeout was shorter
//! than the hold, or it closed them).

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use tokio::time::{sleep, timeout};

use crate::args::{secs, Args, Target};
use crate::conn::{self, Conn};
use crate::Error;

/// Opens, holds and releases the connections.
pub async fn run(
    target: Arc<Target>,
    config: quinn::ClientConfig,
    args: &Args,
    n: usize,
) -> Result<(), Error> {
    let endpoint = conn::endpoint(&target)?;
    let limit = secs(args.timeout);
    let results: Vec<Result<Conn, Error>> = stream::iter(0..n)
        .map(|i| {
            let (endpoint, config, target) = (&endpoint, &config, &target);
            async move {
                let uri = &target.uris[i % target.uris.len()];
                let mut c = timeout(limit, Conn::open(endpoint, config, target))
                    .await
                    .map_err(|_| format!("connect {}: timed out ({limit:?})", target.addr))??;
                let r = timeout(limit, conn::get(&mut c.send, uri, &target.headers, |_| {}))
                    .await
                    .map_err(|_| format!("{uri}: no answer in {limit:?}"))??;
                if !(200..400).contains(&r.status) {
                    return Err(format!("{uri}: status {}", r.status));
                }
                Ok(c)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let mut held = Vec::with_capacity(n);
    let mut first_error = None;
    for r in results {
        match r {
            Ok(c) => held.push(c),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let failed = n - held.len();
    crate::emit(format_args!("held={} failed={failed}", held.len()))?;
    if let Some(e) = &first_error {
        eprintln!("h3load: {failed} connections failed; first error: {e}");
    }
    if held.is_empty() {
        return Err("no connection could be held".into());
    }
    sleep(secs(args.hold_secs)).await;
    let open = held.iter().filter(|c| !c.is_closed()).count();
    crate::emit(format_args!("released={} still_open={open}", held.len()))?;
    drop(held);
    endpoint.close(0u32.into(), b"done");
    let _ = timeout(secs(2.0), endpoint.wait_idle()).await;
    Ok(())
}
