//! Pull-through fetching from an origin: the HTTP client (`client`) and
//! request coalescing (`coalesce`). What may be stored and for how long is
//! decided by the pure rules in `http::cache_control` / `http::freshness`;
//! where it is stored is the store's business.

pub mod client;
pub mod coalesce;
pub mod pull;
