//! The node's own header namespace, `X-CDN-Edge-*`: fields only a node of
//! this software writes (the cluster token and hop on peer requests, the
//! refusal mark on a 403 to a forged peer request). Nothing in it is taken
//! from anyone who has not proved the cluster token: a client's are never
//! forwarded nor believed (except the hop and token pair the cluster checks),
//! and an origin's are removed from its responses where they enter the node,
//! so it can neither reach clients nor speak for a peer.
//!
//! Only the names live here; which fields the cluster reads, and when it
//! believes them, is `cluster::auth`'s and `pull::route`'s.

/// The namespace as a drop-list pattern (see `forward::DropList`).
pub const PATTERN: &str = "X-CDN-Edge-*";

/// The lower-cased prefix every field of the namespace starts with.
const PREFIX: &[u8] = b"x-cdn-edge-";

/// Whether `name` is in the node's namespace (ASCII case-insensitive).
pub fn is_own(name: &str) -> bool {
    let name = name.as_bytes();
    name.len() >= PREFIX.len() && name[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_in_any_case_and_nothing_else() {
        for own in ["x-cdn-edge-refused", "X-CDN-Edge-Token", "x-cdn-edge-"] {
            assert!(is_own(own), "{own}");
        }
        for other in ["x-cdn-edge", "x-cdn-edgex", "cdn-edge-x", "x-cdn", ""] {
            assert!(!is_own(other), "{other}");
        }
        let list = super::super::forward::DropList::new(&[PATTERN]).unwrap();
        assert!(list.matches("x-cdn-edge-anything") && !list.matches("x-cdn-edge"));
    }
}
