//! cdn-edge's asset pipeline: `build` turns a source tree into the tree the
//! edge serves (fingerprinted names, CSS references rewritten, `.br` /
//! `.gz` siblings, `manifest.json`), and the server shares the parts it
//! needs rather than copying them: `manifest` (the format it reads back),
//! `precompress` (the encoders it runs on pulled text), `fingerprint` (the
//! names it serves as immutable) and `media_type` (one `Content-Type` rule
//! for responses and the manifest); `fsutil` writes files atomically. Its place in the whole is drawn in
//! docs/architecture.md.
//!
//! This crate depends on nothing of cdn-edge's (the compiler keeps it that
//! way): the server crate (`cdn_edge`, where these modules keep their
//! names, `cdn_edge::build` and so on) depends on it, never the reverse.

pub mod build;
pub mod delta;
pub mod fingerprint;
mod fsutil;
pub mod manifest;
pub mod media_type;
pub mod precompress;
