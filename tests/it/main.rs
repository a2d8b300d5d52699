//! The integration tests, as one test binary (`cargo test --test it`):
//! one module per concern, each of which was a binary of its own, and the
//! shared helpers in `common/`. One binary links the crate and its
//! dependencies once, where one per file linked them forty-odd times.
//!
//! Run one module with `cargo test --test it keys::` (a test's full name
//! is `module::test`), one test with its name, and the tests that need a
//! program beyond the Rust toolchain with `-- --include-ignored` (each
//! such test is `#[ignore = "needs <program>: ..."]`; `.ci/run` installs
//! the programs and runs them).
//!
//! Every test starts its own `cdn-edge serve` children (or in-process
//! nodes) on 127.0.0.1:0 and its own origin, in its own temporary
//! directories, so tests of different modules run side by side like the
//! tests of one module did; none changes the test process's environment,
//! working directory or other process-wide state.

mod common;

mod access_log;
mod access_log_reload;
mod age;
mod bounds;
mod build;
mod cdn_loop;
mod changes;
mod check;
mod cluster;
mod cluster_config;
mod cluster_probe;
mod cluster_purge;
mod compression;
mod conditional;
mod cors;
mod deploy;
mod dictionaries;
mod dictionaries_pull;
mod directives;
mod directories;
mod disk;
mod disk_faults;
mod disk_stream;
mod disk_verify;
mod docs;
mod early_hints;
mod fingerprints;
mod forward;
mod headers;
mod herd;
mod http2;
mod http3;
mod http3_browser;
mod http3_parity;
mod keys;
mod large_files;
mod lifecycle;
mod limits;
mod listen;
mod local_compression;
mod manifest;
mod metrics;
mod namespace;
mod negotiation;
mod origin_answers;
mod origin_selftest;
mod pages;
mod papercuts;
mod preload;
mod pull;
mod purge;
mod query_keys;
mod ranges;
mod readiness;
mod reload;
mod reload_load;
mod robust;
mod rules_pulled;
mod safety;
mod tag_purge;
mod tls;
mod transparent;
mod vary;
mod zstd;
