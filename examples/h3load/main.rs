//! `h3load`: a small HTTP/3 load client on quinn + h3 (the crates the node's
//! HTTP/3 server is built on), for `docs/benchmarks/h3.sh`, since no HTTP/3
//! load generator installs from Debian here (h2load is built without
//! HTTP/3). Not a benchmark itself and not a test.
//!
//! ```sh
//! h3load https://127.0.0.1:8443 page.paths --connections 4 --streams 32 \
//!     --duration 10 --header 'Accept-Encoding: gzip, deflate, br' --ca cert.pem
//! h3load https://127.0.0.1:8443 page.paths --list --ca cert.pem   # one GET per path
//! h3load https://127.0.0.1:8443 page.paths --hold 1000 --hold-secs 10 --insecure
//! ```
//!
//! Three modes, each printing machine-readable `key=value` lines on stdout:
//! - load (default, [`load`]): C connections, S concurrent requests on each,
//!   the paths round-robin, for `--duration` seconds; one result line.
//! - `--list` ([`list`]): one GET per path on one connection, one line per
//!   path (status, content-encoding, body size and SHA-256, ALPN).
//! - `--hold N` ([`hold`]): N connections, one GET on each, then idle for
//!   `--hold-secs` while a script reads the server's memory.
//!
//! Every error is one line on stderr and exit status 1, never a panic.

mod args;
mod conn;
mod hold;
mod list;
mod load;
mod tls;

use clap::Parser;

/// What every mode returns on failure: the one line to print.
pub type Error = String;

fn main() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "h3load: internal error: {}",
            info.to_string().replace('\n', " ")
        );
    }));
    let args = args::Args::parse();
    if let Err(e) = run(args) {
        eprintln!("h3load: {e}");
        std::process::exit(1);
    }
}

/// Prints one result line on stdout and flushes it (a reader may be
/// waiting for it); a closed stdout is an error, not a panic.
pub fn emit(line: std::fmt::Arguments<'_>) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_fmt(line)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))
}

fn run(args: args::Args) -> Result<(), Error> {
    let target = std::sync::Arc::new(args::Target::from_args(&args)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let client = tls::client_config(&args)?;
    runtime.block_on(async move {
        if let Some(n) = args.hold {
            hold::run(target, client, &args, n).await
        } else if args.list {
            list::run(target, client, &args).await
        } else {
            load::run(target, client, &args).await
        }
    })
}
