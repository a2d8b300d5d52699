//! Where assets come from: `local` (the static root and its manifest) and
//! `memory` (the byte-bounded LRU that keeps hot assets), plus `policy`
//! (which Cache-Control and extra headers a file gets).
//!
//! Stores do file I/O but know nothing of HTTP requests or actix handlers.

pub mod beneath;
pub mod disk;
pub mod local;
pub mod manifest_index;
pub mod memory;
pub mod nowait;
pub mod policy;
