//! Which request headers a proxy forwards upstream (RFC 9110 §7.6): dropping
//! hop-by-hop fields, unkeyed cache-poisoning inputs and, on a fetch whose
//! answer will be stored, conditionals; then adding `Via` and the
//! `X-Forwarded-*` fields.
//!
//! Pure functions over name/value pairs: the caller supplies the incoming
//! headers and the facts (client address, scheme) and sends what comes back.
//! Response headers are not handled here. Names come back lower-cased (as
//! HTTP/2 and `HeaderName` spell them); values are passed through untouched.

use super::syntax::is_token;

/// Hop-by-hop fields, never forwarded (RFC 9110 §7.6.1; `keep-alive` and
/// `proxy-connection` are the common legacy ones, `proxy-*` concern this hop).
pub const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "proxy-authentication-info",
];

/// Default drop list (`origin.drop_request_headers`): request fields that
/// change what an origin generates but are not in the cache key, so that
/// one client's value would be stored and served to everyone (Kettle,
/// "Practical Web Cache Poisoning" 2018 and "Web Cache Entanglement" 2020;
/// Param Miner's header list; Nguyen et al., "Your Cache Has Fallen",
/// CPDoS 2019, for the method overrides). None is sent by a browser. What
/// the node itself sets (`X-Forwarded-For`, `X-Forwarded-Proto`, `Via`) it
/// sets from what it knows, whatever this list says. The `X-Forwarded-*`
/// names listed after the prefix are covered by it, and listed so that a
/// list edited to lose the prefix still drops them.
pub const DEFAULT_DROP: [&str; 26] = [
    // Where the request was addressed: host, scheme, port, path prefix.
    "X-Forwarded-*",
    "Forwarded",
    "X-Host",
    "X-Original-Host",
    "X-HTTP-Host-Override",
    "X-Forwarded-Host",
    "X-Forwarded-Server",
    "X-Forwarded-Scheme",
    "X-Forwarded-Proto",
    "X-Forwarded-Port",
    "X-Forwarded-Prefix",
    "X-Forwarded-Ssl",
    "X-Url-Scheme",
    "X-Scheme",
    "Front-End-Https",
    // Which path or method the origin should act on.
    "X-Original-URL",
    "X-Original-URI",
    "X-Rewrite-URL",
    "X-HTTP-Method-Override",
    "X-HTTP-Method",
    "X-Method-Override",
    // Who the client is: the node's `X-Forwarded-For` says it.
    "X-Real-IP",
    "True-Client-IP",
    "Client-IP",
    "X-Client-IP",
    "X-Cluster-Client-IP",
];

/// Conditional and range fields (RFC 9110 §13, §14.2): not forwarded on a
/// fetch whose answer will be stored, so the origin sends the full response.
pub const CONDITIONAL: [&str; 6] = [
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "if-range",
    "range",
];

/// The `Via` entry this proxy adds: received-protocol and pseudonym (RFC 9110 §7.6.3).
pub const VIA: &str = "1.1 cdn-edge";

/// Lower-cased, deduplicated names listed in `Connection` (RFC 9110 §7.6.1);
/// elements that are not tokens are skipped.
pub fn connection_named<'a>(connection_lines: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for e in connection_lines.into_iter().flat_map(|l| l.split(',')) {
        let e = e.trim_matches([' ', '\t']).to_ascii_lowercase();
        if is_token(&e) && !names.contains(&e) {
            names.push(e);
        }
    }
    names
}

/// Field-name patterns, case-insensitive: an exact name, or a prefix ending in `*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Patterns {
    /// Lower-cased exact names.
    exact: Vec<String>,
    /// Lower-cased prefixes, without the `*`.
    prefixes: Vec<String>,
}

impl Patterns {
    /// Parses config patterns; the error names the first bad one.
    fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Patterns, BadPattern> {
        let mut list = Patterns::default();
        for p in patterns {
            let p = p.as_ref();
            let (body, prefix) = match p.strip_suffix('*') {
                Some(body) => (body, true),
                None => (p, false),
            };
            if !is_token(body) || body.contains('*') {
                return Err(BadPattern(p.to_string()));
            }
            let set = if prefix {
                &mut list.prefixes
            } else {
                &mut list.exact
            };
            let body = body.to_ascii_lowercase();
            if !set.contains(&body) {
                set.push(body);
            }
        }
        Ok(list)
    }

    /// Whether `name` matches a pattern (ASCII case-insensitive).
    fn matches(&self, name: &str) -> bool {
        let name = name.as_bytes();
        self.exact
            .iter()
            .any(|e| e.as_bytes().eq_ignore_ascii_case(name))
            || self.prefixes.iter().any(|p| {
                let p = p.as_bytes();
                name.len() >= p.len() && name[..p.len()].eq_ignore_ascii_case(p)
            })
    }
}

/// A header pattern that is not a field name, optionally ending in `*`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("header pattern {0:?}: expected a field name, optionally ending in '*'")]
pub struct BadPattern(pub String);

/// Field names to drop: patterns (an exact name, or a prefix ending in
/// `*`, case-insensitive), less exceptions given the same way (so one
/// field of a dropped prefix can still pass).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropList {
    drop: Patterns,
    except: Patterns,
}

impl DropList {
    /// Builds the list from config patterns; the error names the first bad one.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<DropList, BadPattern> {
        Ok(DropList {
            drop: Patterns::new(patterns)?,
            except: Patterns::default(),
        })
    }

    /// This list, less the names `patterns` match (`origin.keep_request_headers`).
    pub fn except<S: AsRef<str>>(self, patterns: &[S]) -> Result<DropList, BadPattern> {
        Ok(DropList {
            except: Patterns::new(patterns)?,
            ..self
        })
    }

    /// The list built from [`DEFAULT_DROP`].
    pub fn defaults() -> DropList {
        DropList::new(&DEFAULT_DROP).unwrap_or_default()
    }

    /// Whether `name` is dropped: it matches a pattern and no exception
    /// (ASCII case-insensitive).
    pub fn matches(&self, name: &str) -> bool {
        self.drop.matches(name) && !self.except.matches(name)
    }
}

/// What [`forwarded_request_headers`] drops and adds besides the fixed rules.
#[derive(Debug, Clone, Copy)]
pub struct ForwardOptions<'a> {
    /// Drop `Host`: the HTTP client sets it from the origin URL.
    pub drop_host: bool,
    /// Drop `Content-Length`: the HTTP client sets it from the body it sends.
    pub drop_content_length: bool,
    /// Drop `Accept-Encoding`: the caller sends its own (e.g. `identity`).
    pub drop_accept_encoding: bool,
    /// Our own internal fields (`X-CDN-Edge-*`, see `namespace`), never sent upstream.
    pub internal: &'a DropList,
    /// Configured unkeyed inputs (see [`DEFAULT_DROP`]).
    pub drop: &'a DropList,
    /// The answer will be stored: drop [`CONDITIONAL`] fields.
    pub storing: bool,
    /// `Via` entry to add (e.g. [`VIA`], with the version of the request
    /// received); `None` adds none.
    pub via: Option<&'a str>,
    /// Client address to append to `X-Forwarded-For`; `None` adds nothing.
    pub client_addr: Option<&'a str>,
    /// `X-Forwarded-Proto` value (`http` / `https`), replacing any incoming
    /// one; `None` sets nothing.
    pub proto: Option<&'a str>,
}

/// The request fields to send upstream, in order and multiplicity, minus:
/// hop-by-hop fields and those named in `Connection` (§7.6.1); `Host`,
/// `Content-Length`, `Accept-Encoding` as `opts` says; `opts.internal` and
/// `opts.drop` matches; [`CONDITIONAL`] when `opts.storing`.
///
/// Then appended, in this order: `Via` as one more field line after any
/// incoming ones (the same list as appending to the last line, §5.3,
/// §7.6.3); `X-Forwarded-For` as one line, the incoming values that survived
/// the drops followed by `client_addr`; `X-Forwarded-Proto: proto`.
pub fn forwarded_request_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    opts: &ForwardOptions<'_>,
) -> Vec<(String, Vec<u8>)> {
    let headers: Vec<(&str, &[u8])> = headers.into_iter().collect();
    let connection_lines: Vec<String> = (headers.iter())
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    let connection = connection_named(connection_lines.iter().map(String::as_str));
    let mut out = Vec::with_capacity(headers.len() + 3);
    let mut forwarded_for: Vec<&[u8]> = Vec::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        let is = |n: &str| name == n;
        let dropped = HOP_BY_HOP.contains(&name.as_str())
            || connection.contains(&name)
            || (opts.drop_host && is("host"))
            || (opts.drop_content_length && is("content-length"))
            || (opts.drop_accept_encoding && is("accept-encoding"))
            || opts.internal.matches(&name)
            || opts.drop.matches(&name)
            || (opts.storing && CONDITIONAL.contains(&name.as_str()));
        if dropped || (opts.proto.is_some() && is("x-forwarded-proto")) {
            continue;
        }
        if opts.client_addr.is_some() && is("x-forwarded-for") {
            forwarded_for.push(value);
            continue;
        }
        out.push((name, value.to_vec()));
    }
    if let Some(via) = opts.via {
        out.push(("via".to_owned(), via.as_bytes().to_vec()));
    }
    if let Some(addr) = opts.client_addr {
        let mut list: Vec<u8> = Vec::new();
        for v in forwarded_for.into_iter().map(|v| v.trim_ascii()) {
            if !v.is_empty() {
                list.extend_from_slice(v);
                list.extend_from_slice(b", ");
            }
        }
        list.extend_from_slice(addr.as_bytes());
        out.push(("x-forwarded-for".to_owned(), list));
    }
    if let Some(proto) = opts.proto {
        out.push(("x-forwarded-proto".to_owned(), proto.as_bytes().to_vec()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `forwarded_request_headers` with the defaults the edge uses, adding nothing.
    fn fwd(headers: &[(&str, &str)], storing: bool) -> Vec<(String, String)> {
        let (internal, drop) = (
            DropList::new(&[super::super::namespace::PATTERN]).unwrap(),
            DropList::defaults(),
        );
        let opts = ForwardOptions {
            drop_host: true,
            drop_content_length: true,
            drop_accept_encoding: true,
            internal: &internal,
            drop: &drop,
            storing,
            via: None,
            client_addr: None,
            proto: None,
        };
        with(headers, &opts)
    }

    fn with(headers: &[(&str, &str)], opts: &ForwardOptions<'_>) -> Vec<(String, String)> {
        let h = headers.iter().map(|(n, v)| (*n, v.as_bytes()));
        (forwarded_request_headers(h, opts).into_iter())
            .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn others_keep_order_and_multiplicity() {
        let h = [
            ("Accept", "a"),
            ("cookie", "x=1"),
            ("Accept", "b"),
            ("User-Agent", "u"),
        ];
        assert_eq!(
            fwd(&h, true),
            pairs(&[
                ("accept", "a"),
                ("cookie", "x=1"),
                ("accept", "b"),
                ("user-agent", "u")
            ])
        );
    }

    #[test]
    fn hop_by_hop_and_connection_named_are_dropped_section_7_6_1() {
        let mut h: Vec<(&str, &str)> = HOP_BY_HOP.iter().map(|n| (*n, "x")).collect();
        h.extend([
            ("Connection", "close, X-Secret"),
            ("x-secret", "1"),
            ("connection", "Cookie"),
            ("cookie", "c"),
            ("a", "1"),
        ]);
        assert_eq!(fwd(&h, false), pairs(&[("a", "1")]));
        assert_eq!(
            connection_named(["close, X-A ,, x-a", "bad name, B"]),
            ["close", "x-a", "b"]
        );
    }

    #[test]
    fn client_set_fields_follow_the_options() {
        let h = [
            ("Host", "h"),
            ("Content-Length", "0"),
            ("Accept-Encoding", "gzip"),
            ("a", "1"),
        ];
        assert_eq!(fwd(&h, false), pairs(&[("a", "1")]));
        let none = DropList::default();
        let keep = ForwardOptions {
            drop_host: false,
            drop_content_length: false,
            drop_accept_encoding: false,
            internal: &none,
            drop: &none,
            storing: false,
            via: None,
            client_addr: None,
            proto: None,
        };
        assert_eq!(with(&h, &keep).len(), 4);
        let only_host = ForwardOptions {
            drop_host: true,
            ..keep
        };
        assert_eq!(with(&h, &only_host)[0].0, "content-length");
    }

    #[test]
    fn drop_lists_and_internal_names() {
        let h = [
            ("X-Forwarded-Host", "evil"),
            ("x-forwarded-for", "1.2.3.4"),
            ("Forwarded", "for=x"),
            ("X-Original-URL", "/admin"),
            ("x-rewrite-url", "/"),
            ("X-HTTP-Method-Override", "DELETE"),
            ("X-CDN-Edge-Debug", "1"),
            ("x-forwarded", "kept"),
            ("a", "1"),
        ];
        assert_eq!(
            fwd(&h, false),
            pairs(&[("x-forwarded", "kept"), ("a", "1")])
        );
    }

    #[test]
    fn conditionals_only_dropped_when_storing() {
        let h: Vec<(&str, &str)> = CONDITIONAL.iter().map(|n| (*n, "x")).collect();
        assert!(fwd(&h, true).is_empty());
        assert_eq!(fwd(&h, false).len(), CONDITIONAL.len());
    }

    #[test]
    fn via_and_x_forwarded_are_appended_section_7_6_3() {
        let (none, drop) = (DropList::default(), DropList::defaults());
        let opts = ForwardOptions {
            drop_host: true,
            drop_content_length: true,
            drop_accept_encoding: true,
            internal: &none,
            drop: &none,
            storing: false,
            via: Some(VIA),
            client_addr: Some("10.0.0.9"),
            proto: Some("https"),
        };
        let h = [
            ("Via", "1.0 fred"),
            ("X-Forwarded-For", "1.1.1.1, 2.2.2.2"),
            ("x-forwarded-for", " "),
            ("X-Forwarded-For", "3.3.3.3"),
            ("X-Forwarded-Proto", "http"),
            ("a", "1"),
        ];
        let want = [
            ("via", "1.0 fred"),
            ("a", "1"),
            ("via", VIA),
            ("x-forwarded-for", "1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9"),
            ("x-forwarded-proto", "https"),
        ];
        assert_eq!(with(&h, &opts), pairs(&want));
        // With the default drop list the incoming X-Forwarded-* are not trusted.
        let dropping = ForwardOptions {
            drop: &drop,
            ..opts
        };
        let want = [
            ("via", "1.0 fred"),
            ("a", "1"),
            ("via", VIA),
            ("x-forwarded-for", "10.0.0.9"),
            ("x-forwarded-proto", "https"),
        ];
        assert_eq!(with(&h, &dropping), pairs(&want));
        // Nothing to add: incoming X-Forwarded-* pass as filtered.
        let plain = ForwardOptions {
            via: None,
            client_addr: None,
            proto: None,
            ..opts
        };
        assert_eq!(with(&h, &plain).len(), 6);
    }

    #[test]
    fn drop_list_patterns() {
        let d = DropList::new(&["X-Foo-*", "Bar", "bar", "x-foo-*"]).unwrap();
        assert!(d.matches("x-foo-") && d.matches("X-FOO-baz") && d.matches("BAR"));
        assert!(!d.matches("x-foo") && !d.matches("barn") && !d.matches("é-x"));
        assert_eq!(d, DropList::new(&["bar", "x-foo-*"]).unwrap());
        for bad in ["", "*", "a b*", "x-*-y", "a**", "x:y"] {
            let e = DropList::new(&["ok", bad]).unwrap_err();
            assert_eq!(e, BadPattern(bad.to_string()));
            let e = e.to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        assert_eq!(DropList::defaults(), DropList::new(&DEFAULT_DROP).unwrap());
        assert!(DropList::defaults().matches("x-forwarded-scheme"));
    }

    #[test]
    fn exceptions_let_one_field_of_the_list_pass() {
        let d = DropList::new(&["X-Forwarded-*", "X-Host"])
            .unwrap()
            .except(&["x-forwarded-for"])
            .unwrap();
        assert!(!d.matches("X-Forwarded-For"));
        assert!(d.matches("x-forwarded-host") && d.matches("x-host"));
        assert!(!d.matches("accept"));
        let e = DropList::defaults()
            .except(&["bad name"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"bad name\""), "{e}");
    }

    #[test]
    fn the_defaults_drop_the_poisoning_inputs_and_no_ordinary_field() {
        let d = DropList::defaults();
        for poison in [
            "X-Host",
            "X-Original-Host",
            "X-HTTP-Method",
            "X-Method-Override",
            "X-HTTP-Method-Override",
            "X-Forwarded-Host",
            "X-Forwarded-Port",
            "X-Forwarded-Server",
            "X-Forwarded-Proto",
            "X-Original-URL",
            "X-Rewrite-URL",
            "Forwarded",
            "X-Real-IP",
        ] {
            assert!(d.matches(poison), "{poison}");
        }
        for normal in [
            "Accept",
            "Accept-Language",
            "Accept-Encoding",
            "Cookie",
            "Authorization",
            "User-Agent",
            "Referer",
            "Origin",
            "Host",
            "Via",
            "If-None-Match",
            "Range",
            "Cache-Control",
            "X-Requested-With",
        ] {
            assert!(!d.matches(normal), "{normal}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_never_forwards_hop_by_hop(
            h in proptest::collection::vec(("[a-zA-Z-]{1,12}|connection|te|range", "[ -~]{0,20}"), 0..12),
            storing in any::<bool>(),
        ) {
            let refs: Vec<(&str, &str)> = h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            for (n, _) in fwd(&refs, storing) {
                prop_assert!(!HOP_BY_HOP.contains(&n.as_str()));
                prop_assert!(!(storing && CONDITIONAL.contains(&n.as_str())));
            }
        }
    }
}
