//! Phase "upstream request": the headers the node sends the origin for a
//! client's request (RFC 9110 §7.6). Every end-to-end field the client sent
//! goes on, in order and multiplicity, except:
//!
//! - hop-by-hop fields and those `Connection` names (§7.6.1);
//! - `Host`, `Content-Length`, `Expect` and `Accept-Encoding`, which the
//!   node sets itself (it asks for identity and makes its own encodings);
//! - the node's own `X-CDN-Edge-*` fields;
//! - the drop list (`origin.drop_request_headers`): by default the unkeyed
//!   inputs that origins reflect into responses a shared cache then serves
//!   to everyone (`X-Forwarded-Host`, `X-Original-URL`, ...);
//! - on a fetch whose answer will be stored, the client's conditionals and
//!   `Range`: the node revalidates with its own validators and answers the
//!   client's conditionals from what it stores (RFC 9111 §4.3.2).
//!
//! Then `Via: 1.1 cdn-edge` is appended (§7.6.3), the client's address is
//! appended to `X-Forwarded-For`, `X-Forwarded-Proto` is set, and the
//! node's pseudonym is appended to `CDN-Loop` (RFC 8586 §2: once per tier,
//! so not again on a request a peer of the same cluster routed here, which
//! carries the entry of the node the client reached). The rules
//! themselves are `http::forward`'s; this applies them to the crate's
//! header type. Pure.

use std::net::IpAddr;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::http::forward::{forwarded_request_headers, DropList, ForwardOptions, VIA};
use crate::http::namespace;

/// Which request headers the node forwards.
#[derive(Debug, Clone)]
pub struct Forwarding {
    /// Client headers never forwarded.
    pub drop: DropList,
    /// The scheme clients reached the node with, for `X-Forwarded-Proto`.
    pub proto: &'static str,
    /// This node's `cdn-info`, appended to `CDN-Loop` (RFC 8586):
    /// `server.pseudonym`.
    pub cdn_loop: HeaderValue,
}

/// The node's own fields (peer hops, tokens) and those it sets itself
/// (`Expect` is answered here: the body is read before forwarding).
fn internal() -> &'static DropList {
    static INTERNAL: std::sync::OnceLock<DropList> = std::sync::OnceLock::new();
    // Cannot fail: constant patterns (a unit test builds them).
    INTERNAL.get_or_init(|| DropList::new(&[namespace::PATTERN, "Expect"]).expect("valid patterns"))
}

/// The headers to send the origin for a client's request with `client`
/// headers from `peer`, over TLS when `secure`. `strip_conditionals` keeps the client's
/// conditionals and `Range` back; `validators` (the stored response's, when
/// revalidating) are added.
pub fn upstream(
    client: &HeaderMap,
    peer: Option<IpAddr>,
    secure: bool,
    via: &str,
    strip_conditionals: bool,
    validators: &[(HeaderName, HeaderValue)],
    f: &Forwarding,
) -> HeaderMap {
    let addr = peer.map(|ip| ip.to_string());
    let opts = ForwardOptions {
        drop_host: true,
        drop_content_length: true,
        drop_accept_encoding: true,
        internal: internal(),
        drop: &f.drop,
        storing: strip_conditionals,
        via: Some(via),
        client_addr: addr.as_deref(),
        proto: Some(if secure { "https" } else { f.proto }),
    };
    let mut out = build(client, &opts, validators);
    // One more field line after the client's: the same list as appending to
    // the last one (RFC 9110 §5.3), and nothing of theirs changed (§2).
    out.append(CDN_LOOP, f.cdn_loop.clone());
    out
}

/// The `CDN-Loop` field (RFC 8586).
pub const CDN_LOOP: HeaderName = HeaderName::from_static("cdn-loop");

/// The headers to send upstream for a request a peer of the cluster
/// routed here: its headers were already filtered by the node the client
/// reached, which appended the client to `X-Forwarded-For` and set
/// `X-Forwarded-Proto`, so those pass as they came (the drop list is not
/// applied twice); only hop-by-hop and internal fields go, and this hop is
/// added to `Via`.
pub fn relayed(
    peer_sent: &HeaderMap,
    strip_conditionals: bool,
    validators: &[(HeaderName, HeaderValue)],
) -> HeaderMap {
    let opts = ForwardOptions {
        drop_host: true,
        drop_content_length: true,
        drop_accept_encoding: true,
        internal: internal(),
        drop: &DropList::default(),
        storing: strip_conditionals,
        via: Some(VIA),
        client_addr: None,
        proto: None,
    };
    build(peer_sent, &opts, validators)
}

/// The forwarded fields of `client` under `opts`, then `validators`.
fn build(
    client: &HeaderMap,
    opts: &ForwardOptions<'_>,
    validators: &[(HeaderName, HeaderValue)],
) -> HeaderMap {
    let pairs = client.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
    let mut out = HeaderMap::with_capacity(client.len() + 4);
    for (n, v) in forwarded_request_headers(pairs, opts) {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_bytes(&v),
        ) {
            out.append(n, v);
        }
    }
    for (n, v) in validators {
        out.insert(n.clone(), v.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::forward::DEFAULT_DROP;
    use crate::test_support::header_map as h;

    fn fwd(drop: &[&str]) -> Forwarding {
        let drop: Vec<String> = drop.iter().map(|s| s.to_string()).collect();
        Forwarding {
            drop: DropList::new(&drop).unwrap(),
            proto: "http",
            cdn_loop: HeaderValue::from_static("cdn-edge"),
        }
    }

    fn all(m: &HeaderMap, n: &str) -> Vec<String> {
        m.get_all(n)
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn end_to_end_headers_pass_hop_by_hop_do_not_section_7_6_1() {
        let client = h(&[
            ("user-agent", "curl/8"),
            ("x-multi", "1"),
            ("x-multi", "2"),
            ("cookie", "a=b"),
            ("connection", "keep-alive, X-Hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic x"),
            ("host", "edge.example"),
            ("accept-encoding", "br"),
            ("x-cdn-edge-hop", "1"),
        ]);
        let out = upstream(&client, None, false, VIA, true, &[], &fwd(&[]));
        assert_eq!(all(&out, "x-multi"), ["1", "2"]);
        assert_eq!(all(&out, "user-agent"), ["curl/8"]);
        assert_eq!(all(&out, "cookie"), ["a=b"]);
        for gone in [
            "connection",
            "x-hop",
            "keep-alive",
            "te",
            "upgrade",
            "proxy-authorization",
            "host",
            "accept-encoding",
            "x-cdn-edge-hop",
        ] {
            assert!(!out.contains_key(gone), "{gone}");
        }
        assert_eq!(all(&out, "via"), ["1.1 cdn-edge"]);
        assert_eq!(all(&out, "x-forwarded-proto"), ["http"]);
        let tls = upstream(&client, None, true, VIA, true, &[], &fwd(&[]));
        assert_eq!(all(&tls, "x-forwarded-proto"), ["https"]);
    }

    #[test]
    fn via_and_forwarded_for_are_appended() {
        let client = h(&[("via", "1.0 fred"), ("x-forwarded-for", "10.0.0.1")]);
        let peer = Some("127.0.0.1".parse().unwrap());
        let kept = upstream(&client, peer, false, VIA, true, &[], &fwd(&[]));
        assert_eq!(all(&kept, "via"), ["1.0 fred", "1.1 cdn-edge"]);
        assert_eq!(all(&kept, "x-forwarded-for"), ["10.0.0.1, 127.0.0.1"]);
        let dropped = upstream(&client, peer, false, VIA, true, &[], &fwd(&DEFAULT_DROP));
        assert_eq!(all(&dropped, "x-forwarded-for"), ["127.0.0.1"]);
    }

    #[test]
    fn cdn_loop_gets_one_entry_per_tier_rfc_8586() {
        let client = h(&[("cdn-loop", "foo, bar"), ("cdn-loop", "cdn-edge")]);
        let out = upstream(&client, None, false, VIA, true, &[], &fwd(&DEFAULT_DROP));
        assert_eq!(all(&out, "cdn-loop"), ["foo, bar", "cdn-edge", "cdn-edge"]);
        // A peer of the same tier routed it here: its entry is there already.
        let from_peer = h(&[("cdn-loop", "cdn-edge")]);
        assert_eq!(
            all(&relayed(&from_peer, true, &[]), "cdn-loop"),
            ["cdn-edge"]
        );
    }

    #[test]
    fn the_drop_list_removes_poisoning_inputs() {
        let client = h(&[
            ("x-forwarded-host", "evil.example"),
            ("x-original-url", "/admin"),
            ("x-http-method-override", "DELETE"),
            ("forwarded", "host=evil"),
            ("x-secret", "1"),
        ]);
        let out = upstream(&client, None, false, VIA, true, &[], &fwd(&DEFAULT_DROP));
        for gone in [
            "x-forwarded-host",
            "x-original-url",
            "x-http-method-override",
            "forwarded",
        ] {
            assert!(!out.contains_key(gone), "{gone}");
        }
        let custom = upstream(&client, None, false, VIA, true, &[], &fwd(&["X-Secret"]));
        assert!(!custom.contains_key("x-secret"));
        assert!(custom.contains_key("x-forwarded-host"));
    }

    #[test]
    fn conditionals_stay_back_when_storing_section_4_3_2() {
        let client = h(&[
            ("if-none-match", "\"c\""),
            ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("range", "bytes=0-1"),
            ("if-range", "\"c\""),
        ]);
        let ours = [(
            HeaderName::from_static("if-none-match"),
            HeaderValue::from_static("\"stored\""),
        )];
        let storing = upstream(&client, None, false, VIA, true, &ours, &fwd(&[]));
        assert_eq!(all(&storing, "if-none-match"), ["\"stored\""]);
        assert!(!storing.contains_key("range") && !storing.contains_key("if-range"));
        assert!(!storing.contains_key("if-modified-since"));
        let passing = upstream(&client, None, false, VIA, false, &[], &fwd(&[]));
        assert_eq!(all(&passing, "if-none-match"), ["\"c\""]);
        assert!(passing.contains_key("range") && passing.contains_key("if-modified-since"));
    }

    #[test]
    fn a_peer_request_is_relayed_as_the_peer_filtered_it() {
        // What the node the client reached sent its owner.
        let peer_sent = h(&[
            ("user-agent", "curl/8"),
            ("via", "1.1 cdn-edge"),
            ("x-forwarded-for", "192.0.2.7"),
            ("x-forwarded-proto", "https"),
            ("x-cdn-edge-hop", "http://10.0.0.1:8080"),
            ("x-cdn-edge-token", "secret-secret-secret"),
            ("connection", "keep-alive"),
            ("if-none-match", "\"v1\""),
        ]);
        let out = relayed(&peer_sent, false, &[]);
        assert_eq!(all(&out, "user-agent"), ["curl/8"]);
        assert_eq!(
            all(&out, "x-forwarded-for"),
            ["192.0.2.7"],
            "not appended again"
        );
        assert_eq!(all(&out, "x-forwarded-proto"), ["https"]);
        assert_eq!(all(&out, "via"), ["1.1 cdn-edge", "1.1 cdn-edge"]);
        assert_eq!(all(&out, "if-none-match"), ["\"v1\""]);
        for gone in ["x-cdn-edge-hop", "x-cdn-edge-token", "connection"] {
            assert!(!out.contains_key(gone), "{gone}");
        }
        let storing = relayed(&peer_sent, true, &[]);
        assert!(!storing.contains_key("if-none-match"));
    }
}
