//! cdn-edge: a static-asset CDN edge server.
//!
//! Module arrows point one way, with no circle (docs/architecture.md
//! draws the whole and names every module):
//!
//! - `server` (actix wiring) → `edge` (`Edge::lookup`) → `pull` (the pull
//!   engine) → `origin` (the origin's HTTP client and rules), `cluster`
//!   (peers, ownership, purge fan-out) and `disk_record`;
//! - `edge`, `pull` → `compress` (encodings the node makes) → `lookup`
//!   (what a lookup is asked and answers, what memory holds) → `store`
//!   (root, memory, disk) → `asset` → `http`;
//! - `server` → `tls`; `config` is read by those that need it; `http`
//!   (crate `cdn_edge_http`) and the asset pipeline (crate
//!   `cdn_edge_assets`: `build`, `manifest`, `precompress`, `fingerprint`,
//!   `media_type`) depend on nothing of ours, and the compiler keeps it so.
//!
//! Beside them: `cli` and `purge_cli` (the command line), `listen`
//! (listen addresses as written), `clock` (the node's clock, which tests
//! move), `headers` (actix adapters of `http`'s rules), `throttle` (a log
//! line at most once per interval), `blocking` (a blocking task that did
//! not finish), `disk_record` (a pulled object's disk record: its codec,
//! below the pull engine and the compressor that both write it) and
//! `error_chain` (an error and its causes on one line).

/// The git commit the binary was built from (short hash), or "unknown"
/// (see `build.rs`).
pub const GIT_COMMIT: &str = env!("CDN_EDGE_GIT_COMMIT");

/// What `--version` prints after the name: the package version and the
/// commit.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CDN_EDGE_GIT_COMMIT"),
    ")"
);

/// The pure HTTP rules: the crate `cdn_edge_http` (crates/cdn-edge-http),
/// under the name the rest of the crate uses.
pub use cdn_edge_http as http;

/// The asset pipeline: the crate `cdn_edge_assets` (crates/cdn-edge-assets),
/// its modules under the names the rest of the crate uses.
pub use cdn_edge_assets::{build, delta, fingerprint, manifest, media_type, precompress};

pub mod asset;
mod blocking;
pub mod cli;
pub(crate) mod clock;
pub mod cluster;
pub(crate) mod compress;
pub mod config;
mod disk_record;
pub(crate) mod edge;
pub mod error_chain;
pub mod explain;
#[cfg(test)]
#[path = "../fuzz/targets/mod.rs"]
mod fuzz;
mod headers;
pub(crate) mod listen;
pub(crate) mod lookup;
pub mod origin;
pub(crate) mod pull;
pub mod purge_cli;
pub mod rule_set;
pub mod server;
pub mod store;
#[cfg(test)]
mod test_support;
pub(crate) mod throttle;
pub(crate) mod tls;
