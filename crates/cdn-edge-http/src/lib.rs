//! cdn-edge's pure HTTP rules (RFC 9110, RFC 9111, RFC 9213): what a
//! field means and what a cache or proxy must do about it, as functions
//! of plain values. The server crate (`cdn_edge`, where this crate is
//! `cdn_edge::http`) applies them; its place in the whole is drawn in
//! docs/architecture.md.
//!
//! Nothing here does I/O or reads a clock: every function takes field
//! values (and, where time matters, the instants to compare) as arguments,
//! so each rule is unit- and property-tested on its own. Nothing here knows
//! a header type, an asset, a store or actix, and this crate depends on
//! nothing of cdn-edge's: the compiler keeps it that way.
//!
//! - Requests: `path` (target → store key), `cache_key` (the one key of a
//!   request), `query` (which part of the query names the object) and
//!   `no_vary_search` (the origin's say on it), `accept_encoding` (negotiation), `dictionary`
//!   (RFC 9842 compression dictionaries), `conditional` and `etag`
//!   (preconditions), `range`, `bearer`, `client_ip`, `cors_origin`.
//! - Caching: `cache_control` (directives), `freshness` (a stored
//!   response's age and verdict) with `reuse` and `storability` behind it,
//!   `targeted` (CDN-Cache-Control), `vary`.
//! - Proxying: `forward` (what goes upstream), `namespace` (the node's own
//!   `X-CDN-Edge-*` fields), `cdn_loop` (RFC 8586: how often a request
//!   came through us).
//! - Syntax shared by all: `syntax` (lists, tokens, quoted-strings), `date`.

pub mod accept_encoding;
pub mod bearer;
pub mod cache_control;
pub mod cache_key;
pub mod cdn_loop;
pub mod client_ip;
pub mod conditional;
pub mod cors_origin;
pub mod date;
pub mod dictionary;
pub mod etag;
pub mod forward;
pub mod freshness;
pub mod namespace;
pub mod no_vary_search;
pub mod path;
pub mod query;
pub mod range;
pub mod reuse;
pub mod storability;
pub mod syntax;
pub mod targeted;
pub mod vary;
