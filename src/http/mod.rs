//! Pure HTTP semantics (RFC 9110): content negotiation, validators, conditional
//! requests, byte ranges, dates and request-path normalisation.
//!
//! Nothing here does I/O or reads a clock: every function takes header values
//! (and, where time matters, the instants to compare) as arguments, so each rule
//! is unit- and property-tested on its own. Nothing here knows about assets,
//! stores or actix; the server module maps these answers onto responses.

pub mod accept_encoding;
pub mod bearer;
pub mod cache_control;
pub mod cache_key;
pub mod client_ip;
pub mod conditional;
pub mod cors_origin;
pub mod date;
pub mod etag;
pub mod forward;
pub mod freshness;
pub mod namespace;
pub mod path;
pub mod range;
pub mod reuse;
pub mod storability;
pub mod syntax;
pub mod targeted;
pub mod vary;
