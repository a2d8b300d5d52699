//! Who may speak as a peer: the two internal request fields a node sends
//! with a miss it routes to the key's owner (the cluster token, and the hop
//! field naming the sender), and the check a node runs on every request
//! before anything else. A request carrying the hop field is a peer
//! request: it must carry the token too (compared in constant time), and
//! it is never routed again, so a misrouted key cannot loop. Not here:
//! sending peer requests (`pull::route`), answering 403 (`server`).

use actix_web::http::header::{HeaderMap, HeaderName};
use subtle::ConstantTimeEq;

/// The cluster token, on a peer request.
pub const TOKEN: HeaderName = HeaderName::from_static("x-cdn-edge-token");
/// The hop field: the sender's `advertise` URL, on a peer request.
pub const HOP: HeaderName = HeaderName::from_static("x-cdn-edge-hop");
/// Set by a node on its 403 to a peer request with a bad token, so the
/// sender treats it as a failed peer, not as an answer for its client.
/// Believed only on the answer to this node's own call to a peer, made
/// with the token (`pull::route`, `client`): every node strips the
/// `X-CDN-Edge-*` namespace from what its origin sends, so an origin cannot
/// forge it through the peer that relays its answer.
pub const REFUSED: HeaderName = HeaderName::from_static("x-cdn-edge-refused");

/// What a request is, as far as the cluster is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An outside client: no hop field (any token field it sent is ignored
    /// and never forwarded).
    Client,
    /// Another node of the cluster: the hop field and the right token.
    Peer,
    /// The hop field without the right token: refused (403), and why.
    Forged(&'static str),
}

/// Tells an outside request from a peer's, by the hop field and `token`.
pub fn caller(headers: &HeaderMap, token: &str) -> Caller {
    if !headers.contains_key(HOP) {
        return Caller::Client;
    }
    let mut given = headers.get_all(TOKEN);
    match (given.next(), given.next()) {
        (None, _) => Caller::Forged("a peer request (X-CDN-Edge-Hop) needs the cluster token"),
        (Some(_), Some(_)) => Caller::Forged("a peer request carries one cluster token"),
        (Some(v), None) if same_secret(v.as_bytes(), token.as_bytes()) => Caller::Peer,
        (Some(_), None) => Caller::Forged("wrong cluster token"),
    }
}

/// Whether two secrets are equal, in a time that depends neither on where
/// they differ nor on their lengths: their blake3 digests (fixed length)
/// are compared in constant time.
pub fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let (a, b) = (blake3::hash(given), blake3::hash(expected));
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    const T: &str = "0123456789abcdef0123";

    fn headers(pairs: &[(&HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append((*n).clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn only_the_hop_field_with_the_token_makes_a_peer() {
        let hop = "http://10.0.0.1:8080";
        assert_eq!(caller(&headers(&[]), T), Caller::Client);
        // A token alone is ignored: it does not make a peer.
        assert_eq!(caller(&headers(&[(&TOKEN, T)]), T), Caller::Client);
        assert_eq!(
            caller(&headers(&[(&HOP, hop), (&TOKEN, T)]), T),
            Caller::Peer
        );
        for bad in [
            headers(&[(&HOP, hop)]),
            headers(&[(&HOP, hop), (&TOKEN, "0123456789abcdef0124")]),
            headers(&[(&HOP, hop), (&TOKEN, "short")]),
            headers(&[(&HOP, hop), (&TOKEN, T), (&TOKEN, T)]),
        ] {
            assert!(matches!(caller(&bad, T), Caller::Forged(_)), "{bad:?}");
        }
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(!same_secret(b"", b"a"));
    }
}
