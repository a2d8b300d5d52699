//! Several nodes as one cache: who the peers are, which of them owns a
//! key, and which are up.
pub mod peer;
pub mod ring;
