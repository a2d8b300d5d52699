//! Where assets come from, and where the node keeps them: `local` (the
//! static root: a file, its `.br` / `.gz` siblings, its headers from
//! `policy`, and the build's manifest through `manifest_index`, with the
//! preload hints of its pages from `preload`), opened
//! only beneath the root (`beneath`, `openat2`), with `nowait` answering
//! from the kernel's caches without I/O where it can; `memory` (the
//! sharded, byte-bounded LRU of hot assets, and the reservations that
//! count what is held outside it); `disk` (the disk cache of pulled
//! objects: format, index, scan, open files, write errors).
//!
//! Stores do file I/O but know nothing of HTTP requests or actix handlers.
//! The map of the whole is docs/architecture.md.

pub(crate) mod beneath;
pub mod disk;
pub mod local;
pub(crate) mod manifest_index;
pub mod memory;
pub(crate) mod nowait;
pub(crate) mod policy;
pub(crate) mod preload;
