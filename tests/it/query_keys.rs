//! Cache keys and the query (issue 20 item 4): a rule's `query` policy
//! (`ignore`, `sort`, `allow`, `deny`; `keep` by default) decides which
//! part of the query names a pulled object, and the origin is asked for
//! that normalised query, on one node and across a cluster; purges of a
//! query spelling drop its normalised object; the origin's
//! `No-Vary-Search` (key-order, params, except) is honoured on its own,
//! and an invalid one ignored; a bad `query` value is refused by `check`
//! and at reload with file:line.

use std::ffi::OsString;
use std::time::Duration;

use crate::common;

use common::cluster::{self, Setup};
use common::origin::{Origin, Reply};
use common::reload::Node;
use common::*;

const TOKEN: &str = "query-keys-purge-token";

fn cacheable(body: &str) -> Reply {
    Reply::ok(body)
        .header("content-type", "application/javascript")
        .header("cache-control", "max-age=600")
}

fn edge(origin: &Origin, extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!(
        "[origin]\nurl = \"{}\"\n[purge]\ntoken = \"{TOKEN}\"\n{extra}",
        origin.url()
    ));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

/// The targets the origin was asked for `path` (any query), in order.
fn asked(o: &Origin, path: &str) -> Vec<String> {
    o.requests(path).into_iter().map(|s| s.target).collect()
}

fn is_hit(r: &Response) -> bool {
    r.header("cache-status") == Some("cdn-edge; hit")
}

/// The figure: 1,000 distinct `?v=` values on an `ignore` path are
/// one origin fetch, asked without a query; then 50 concurrent clients
/// with distinct values on another path are one fetch too.
#[test]
fn ignore_makes_a_thousand_values_one_fetch() {
    let o = Origin::start();
    o.route("/app.js", cacheable("app"));
    o.route(
        "/lib.js",
        cacheable("lib").delay(Duration::from_millis(300)),
    );
    let (_f, s) = edge(&o, "[[rules]]\nglob = \"*.js\"\nquery = \"ignore\"\n");
    for v in 0..1000 {
        let r = s.get(&format!("/app.js?v={v}"));
        assert_eq!(r.status, 200, "v={v}: {}", r.summary());
        assert_eq!(r.text(), "app");
    }
    assert_eq!(asked(&o, "/app.js"), ["/app.js"], "one fetch, no query");

    let addr = s.addr;
    let clients: Vec<_> = (0..50)
        .map(|i| std::thread::spawn(move || request(addr, "GET", &format!("/lib.js?v={i}"), &[])))
        .collect();
    for c in clients {
        let r = c.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.summary());
        assert_eq!(r.text(), "lib");
    }
    assert_eq!(asked(&o, "/lib.js"), ["/lib.js"], "50 at once: one fetch");
}

/// `sort`: two orders of the same parameters are one object, asked in
/// sorted order; `allow` and `deny` keep and drop by (decoded) name.
#[test]
fn sort_allow_and_deny_name_one_object_and_ask_for_it() {
    let o = Origin::start();
    for p in ["/s/a.js", "/al/a.js", "/de/a.js", "/other.js"] {
        o.route(p, cacheable(p));
    }
    let rules = concat!(
        "[[rules]]\nglob = \"s/*\"\nquery = \"sort\"\n",
        "[[rules]]\nglob = \"al/*\"\nquery = { allow = [\"v\"] }\n",
        "[[rules]]\nglob = \"de/*\"\nquery = { deny = [\"utm_source\"] }\n",
    );
    let (_f, s) = edge(&o, rules);

    assert_eq!(s.get("/s/a.js?b=1&a=2").text(), "/s/a.js");
    assert!(is_hit(&s.get("/s/a.js?a=2&b=1")));
    assert!(is_hit(&s.get("/s/a.js?b=1&&a=2&")));
    assert_eq!(asked(&o, "/s/a.js"), ["/s/a.js?a=2&b=1"]);

    assert_eq!(s.get("/al/a.js?utm=x&v=1").text(), "/al/a.js");
    assert!(is_hit(&s.get("/al/a.js?v=1&utm=y")));
    s.get("/al/a.js?v=2");
    assert!(is_hit(&s.get("/al/a.js?utm=z&v=2")));
    // None allowed: no query at all, and the query-less request is it.
    s.get("/al/a.js?utm=z");
    assert!(is_hit(&s.get("/al/a.js")));
    assert_eq!(
        asked(&o, "/al/a.js"),
        ["/al/a.js?v=1", "/al/a.js?v=2", "/al/a.js"]
    );

    assert_eq!(s.get("/de/a.js?a=1&utm_source=x").text(), "/de/a.js");
    assert!(is_hit(&s.get("/de/a.js?a=1&utm_source=y")));
    assert!(
        is_hit(&s.get("/de/a.js?%75tm_source=z&a=1")),
        "decoded name"
    );
    assert!(is_hit(&s.get("/de/a.js?a=1")));
    assert_eq!(asked(&o, "/de/a.js"), ["/de/a.js?a=1"]);

    // A path no rule matches keeps its queries apart, as sent (`keep`).
    s.get("/other.js?v=1");
    s.get("/other.js?v=2");
    assert!(is_hit(&s.get("/other.js?v=1")));
    assert_eq!(asked(&o, "/other.js"), ["/other.js?v=1", "/other.js?v=2"]);
}

/// A cluster keys by the normalised query: the owner of the normalised
/// key is asked, once, whatever node and value a client used.
#[test]
fn a_cluster_keys_by_the_normalised_query() {
    let o = Origin::start();
    o.route("/app.js", cacheable("app"));
    o.route("/s.js", cacheable("s"));
    let f = Fixture::new();
    let extra = "[[rules]]\nglob = \"app.js\"\nquery = \"ignore\"\n\
                 [[rules]]\nglob = \"s.js\"\nquery = \"sort\"\n";
    let setup = Setup {
        extra,
        ..Default::default()
    };
    let nodes = cluster::start_setup(3, &o.url(), &f.root, &setup);
    for round in 0..3 {
        for (i, n) in nodes.iter().enumerate() {
            let r = n.get(&format!("/app.js?v={round}{i}"));
            assert_eq!(r.status, 200, "node {i}: {}", r.summary());
            assert_eq!(r.text(), "app");
            let q = if (round + i) % 2 == 0 {
                "b=1&a=2"
            } else {
                "a=2&b=1"
            };
            assert_eq!(n.get(&format!("/s.js?{q}")).text(), "s");
        }
    }
    assert_eq!(asked(&o, "/app.js"), ["/app.js"]);
    assert_eq!(asked(&o, "/s.js"), ["/s.js?a=2&b=1"]);
}

/// A purge spelt with a query drops the object that query is keyed on
/// (any order, under `sort`), and only it; a purge of the path drops them
/// all.
#[test]
fn a_purge_with_a_query_drops_its_normalised_object() {
    let o = Origin::start();
    o.route("/p.js", cacheable("p"));
    let (_f, s) = edge(&o, "[[rules]]\nglob = \"*.js\"\nquery = \"sort\"\n");
    let auth = format!("Bearer {TOKEN}");
    s.get("/p.js?a=2&b=1");
    s.get("/p.js?c=1");
    let r = s.req("PURGE", "/p.js?b=1&a=2", &[("Authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.text().contains("\"purged\": 1"), "{}", r.text());
    assert!(is_hit(&s.get("/p.js?c=1")), "another query stays");
    assert!(!is_hit(&s.get("/p.js?a=2&b=1")), "purged");
    assert_eq!(o.count("/p.js?a=2&b=1"), 2);

    let r = s.post(
        "/_purge",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        b"{\"paths\": [\"/p.js?b=1&&a=2\"]}",
    );
    assert!(r.text().contains("\"purged\": 1"), "{}", r.text());
    assert_eq!(o.count("/p.js?a=2&b=1"), 2);
    assert!(!is_hit(&s.get("/p.js?b=1&a=2")));
    assert_eq!(o.count("/p.js?a=2&b=1"), 3);

    let r = s.req("PURGE", "/p.js", &[("Authorization", &auth)]);
    assert!(r.text().contains("\"purged\": 2"), "{}", r.text());
    assert!(!is_hit(&s.get("/p.js?c=1")));
}

/// `No-Vary-Search` on its own (no rule): queries equivalent under the
/// origin's field hit the one stored response — the first one's too — and
/// a miss asks the origin for the normal form; an invalid field is
/// ignored as a whole.
#[test]
fn no_vary_search_is_honoured_on_its_own() {
    let o = Origin::start();
    let nvs = |path: &str, field: &str| {
        o.route(path, cacheable(path).header("No-Vary-Search", field));
    };
    nvs("/k.js", "key-order");
    nvs("/p.js", "params=(\"utm\" \"fbclid\")");
    nvs("/e.js", "params, except=(\"c\")");
    nvs("/i.js", "params=(\"a\"), except=(\"x\")");
    nvs("/n.js", "key-order=5");
    let (_f, s) = edge(&o, "");

    // key-order
    assert_eq!(s.get("/k.js?b=1&a=2").text(), "/k.js");
    assert!(is_hit(&s.get("/k.js?a=2&b=1")), "the first response, moved");
    assert!(is_hit(&s.get("/k.js?b=1&a=2")));
    assert!(!is_hit(&s.get("/k.js?a=3")));
    assert_eq!(asked(&o, "/k.js"), ["/k.js?b=1&a=2", "/k.js?a=3"]);

    // params=("utm" "fbclid")
    s.get("/p.js?id=1&utm=a");
    assert!(is_hit(&s.get("/p.js?utm=b&id=1&fbclid=x")));
    assert!(is_hit(&s.get("/p.js?id=1")));
    assert!(!is_hit(&s.get("/p.js?id=2&utm=c")));
    assert!(is_hit(&s.get("/p.js?id=2")));
    assert_eq!(asked(&o, "/p.js"), ["/p.js?id=1&utm=a", "/p.js?id=2"]);

    // params, except=("c")
    s.get("/e.js?c=1&x=1");
    assert!(is_hit(&s.get("/e.js?x=2&c=1")));
    assert!(!is_hit(&s.get("/e.js?c=2&y=1")));
    assert!(is_hit(&s.get("/e.js?c=2")));
    assert_eq!(asked(&o, "/e.js"), ["/e.js?c=1&x=1", "/e.js?c=2"]);

    // Invalid: ignored, every query its own object.
    for path in ["/i.js", "/n.js"] {
        s.get(&format!("{path}?a=1"));
        s.get(&format!("{path}?a=2"));
        s.get(&format!("{path}?a=1&x=1"));
        assert!(is_hit(&s.get(&format!("{path}?a=1"))));
        assert_eq!(o.count(path), 3, "{path}");
    }

    // A response without the field takes the path's note back.
    o.route("/k.js", cacheable("/k.js"));
    let auth = format!("Bearer {TOKEN}");
    s.req("PURGE", "/k.js", &[("Authorization", &auth)]);
    s.get("/k.js?b=1&a=2");
    assert!(!is_hit(&s.get("/k.js?a=2&b=1")));
    assert_eq!(o.count("/k.js"), 4);

    // A response stored before the origin's field came says nothing of
    // it: a query the new note normalises to its key is not answered by
    // it (the draft checks the stored response's own field).
    o.route("/c.js", cacheable("old"));
    assert_eq!(s.get("/c.js?a=1").text(), "old");
    nvs("/c.js", "params=(\"x\")");
    s.get("/c.js?b=1");
    let r = s.get("/c.js?a=1&x=5");
    assert!(!is_hit(&r), "{}", r.summary());
    assert_eq!(r.text(), "/c.js");
    assert!(is_hit(&s.get("/c.js?x=6&a=1")));
    assert_eq!(
        asked(&o, "/c.js"),
        ["/c.js?a=1", "/c.js?b=1", "/c.js?a=1&x=5"]
    );
}

/// A bad `query` value is refused by `check` and at reload with the file,
/// the line, the key and what is allowed; the running config stays.
#[test]
fn a_bad_query_is_refused_with_file_and_line() {
    let f = Fixture::new();
    let bad = "[server]\nrefresh = \"50ms\"\n[[rules]]\nglob = \"*\"\nquery = \"drop\"\n";
    let cfg = f.parent().join("check.toml");
    std::fs::write(&cfg, bad).unwrap();
    let args: Vec<OsString> = vec!["check".into(), "--config".into(), cfg.into()];
    let (status, out, err) = run_captured(&args, None, &[]);
    assert_eq!(status.code(), Some(2), "{out}{err}");
    assert!(
        err.contains("check.toml:5: rules[0].query") && err.contains("\"ignore\""),
        "{err}"
    );

    let good = "[[rules]]\nglob = \"*\"\nquery = \"ignore\"\n";
    let n = Node::with_flags(
        good,
        &[
            "--listen",
            "127.0.0.1:0",
            "--root",
            f.root.to_str().unwrap(),
        ],
    );
    for (config, line) in [
        ("[[rules]]\nglob = \"*\"\nquery = { allow = \"v\" }\n", 3),
        ("[[rules]]\nglob = \"*\"\nquery = { keep = [\"v\"] }\n", 3),
        ("\n[[rules]]\nglob = \"*\"\nquery = 1\n", 4),
    ] {
        let lines = n.reload_with(config);
        assert_eq!(lines.len(), 1, "{config}: {lines:#?}");
        let want = format!("config.toml:{line}: rules[0].query");
        assert!(
            lines[0].contains("refused") && lines[0].contains(&want),
            "{config}: {}",
            lines[0]
        );
        assert_eq!(n.get("/plain.txt").status, 200, "the running config stays");
    }
}
