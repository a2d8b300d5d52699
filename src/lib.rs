//! cdn-edge: a static-asset CDN edge server.
//!
//! Module arrows point one way (see the README's architecture section):
//! `server` → `edge` → `store` → `asset` → `http`, and `server` → `tls`.
//! `config` and `manifest` are read by all; `http` depends on nothing of ours.

pub mod asset;
pub mod build;
pub mod cli;
pub mod clock;
pub mod config;
pub mod edge;
pub mod fingerprint;
pub mod fsutil;
pub mod http;
pub mod manifest;
pub mod origin;
pub mod precompress;
pub mod server;
pub mod store;
#[cfg(test)]
mod test_support;
pub mod tls;
