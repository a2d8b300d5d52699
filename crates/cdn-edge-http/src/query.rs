//! What part of a request's query string names the object (a rule's
//! `query` policy): all of it as sent (`keep`, the default), none
//! (`ignore`), its parameters in a stable order (`sort`), or only some of
//! them (`allow`, `deny`). The origin is asked for the normalised query,
//! so the key and the target never disagree.

/// A query policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Policy {
    /// The query as received is part of the key (RFC 9111 §2: the target URI).
    #[default]
    Keep,
    /// The query is dropped: every query of the path is one object.
    Ignore,
    /// Parameters sorted by name (stable for equal names).
    Sort,
    /// Only these parameter names are kept (in the order received).
    Allow(Vec<String>),
    /// These parameter names are dropped.
    Deny(Vec<String>),
}
