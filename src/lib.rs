//! cdn-edge: a static-asset CDN edge server.
//!
//! See `shared/DESIGN.md` and the README for the architecture. Module arrows
//! point one way: `server` → `edge` → `store` → (`http`, `asset`).

pub mod http;
