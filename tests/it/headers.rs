//! Response headers: Content-Type, nosniff, Content-Length, Accept-Ranges,
//! ETag, Last-Modified, Cache-Control policies (fingerprints, manifest,
//! configured values, [[rules]]), HEAD.

use crate::common;

use common::*;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "public, no-cache";

fn start(f: &Fixture) -> Server {
    Server::start(&f.root, &config_with(""))
}

#[test]
fn css_has_full_header_set() {
    let f = Fixture::new();
    let s = start(&f);
    let r = s.get("/app.css");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, app_css());
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("content-length"),
        Some(app_css().len().to_string().as_str())
    );
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let etag = r.header("etag").expect("etag");
    assert!(is_strong_etag(etag), "etag not strong: {etag}");
    assert_eq!(r.header("cache-control"), Some(REVALIDATE));
    assert!(
        r.header("content-encoding").is_none(),
        "identity must carry no Content-Encoding: {}",
        r.summary()
    );
}

#[test]
fn last_modified_is_file_mtime() {
    let f = Fixture::new();
    let s = start(&f);
    let expected = httpdate::fmt_http_date(fixed_mtime());
    assert_eq!(expected, "Tue, 01 Jun 2021 12:00:00 GMT");
    for p in ["/app.css", "/plain.txt", "/data.bin"] {
        let r = s.get(p);
        assert_eq!(r.status, 200, "{p}: {}", r.summary());
        assert_eq!(r.header("last-modified"), Some(expected.as_str()), "{p}");
    }
}

#[test]
fn content_types_by_extension() {
    let f = Fixture::new();
    f.write("manifest.json", b"{}");
    f.write("feed.xml", b"<?xml version=\"1.0\"?><a/>");
    let s = start(&f);
    let exact = [
        ("/plain.txt", "text/plain; charset=utf-8"),
        ("/app.css", "text/css; charset=utf-8"),
        ("/logo.svg", "image/svg+xml; charset=utf-8"),
        ("/img.png", "image/png"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/manifest.json", "application/json; charset=utf-8"),
        ("/data.bin", "application/octet-stream"),
    ];
    for (p, ct) in exact {
        let r = s.get(p);
        assert_eq!(r.status, 200, "{p}: {}", r.summary());
        assert_eq!(r.header("content-type"), Some(ct), "{p}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{p}");
    }
    let js = s.get("/app.3f2a9c1b7d.js");
    let ct = js.header("content-type").unwrap_or("");
    assert!(
        ct == "text/javascript; charset=utf-8" || ct == "application/javascript; charset=utf-8",
        "js content-type: {ct}"
    );
    let xml = s.get("/feed.xml");
    let ct = xml.header("content-type").unwrap_or("");
    assert!(
        ct == "application/xml; charset=utf-8" || ct == "text/xml; charset=utf-8",
        "xml content-type: {ct}"
    );
}

#[test]
fn content_length_matches_body_for_every_file() {
    let f = Fixture::new();
    let s = start(&f);
    for (p, bytes) in [
        ("/plain.txt", PLAIN_TXT.to_vec()),
        ("/img.png", IMG_PNG.to_vec()),
        ("/data.bin", data_bin()),
        ("/logo.svg", LOGO_SVG.to_vec()),
    ] {
        let r = s.get(p);
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.body, bytes, "{p}");
        assert_eq!(
            r.header("content-length"),
            Some(bytes.len().to_string().as_str()),
            "{p}"
        );
        assert_eq!(r.header("accept-ranges"), Some("bytes"), "{p}");
    }
}

#[test]
fn head_matches_get_without_body() {
    let f = Fixture::new();
    let s = start(&f);
    for p in ["/app.css", "/plain.txt", "/data.bin"] {
        let g = s.get(p);
        let h = s.head_h(p, &[]);
        assert_eq!(h.status, 200, "{p}: {}", h.summary());
        assert!(h.body.is_empty(), "HEAD {p} had a body: {}", h.summary());
        for name in [
            "content-type",
            "content-length",
            "etag",
            "last-modified",
            "cache-control",
            "accept-ranges",
            "x-content-type-options",
        ] {
            assert_eq!(h.header(name), g.header(name), "HEAD vs GET {p} {name}");
        }
    }
}

#[test]
fn etags_differ_between_files_and_are_stable() {
    let f = Fixture::new();
    let s = start(&f);
    let a = s.get("/plain.txt");
    let b = s.get("/data.bin");
    let a2 = s.get("/plain.txt");
    let ea = a.header("etag").expect("etag");
    assert!(is_strong_etag(ea), "{ea}");
    assert_eq!(Some(ea), a2.header("etag"), "ETag must be stable");
    assert_ne!(a.header("etag"), b.header("etag"));
}

#[test]
fn etag_is_content_hash_identical_across_servers() {
    let f1 = Fixture::new();
    let f2 = Fixture::new();
    // Same bytes, different mtimes: an mtime-derived ETag would differ.
    for rel in [
        "app.css",
        "app.css.br",
        "app.css.gz",
        "plain.txt",
        "data.bin",
    ] {
        set_mtime(
            &f2.path(rel),
            fixed_mtime() + std::time::Duration::from_secs(86_400 * 100),
        );
    }
    let s1 = start(&f1);
    let s2 = start(&f2);
    for (p, ae) in [
        ("/app.css", None),
        ("/app.css", Some("br")),
        ("/app.css", Some("gzip")),
        ("/plain.txt", None),
        ("/data.bin", None),
    ] {
        let h: Vec<(&str, &str)> = ae.map(|v| ("Accept-Encoding", v)).into_iter().collect();
        let r1 = s1.get_h(p, &h);
        let r2 = s2.get_h(p, &h);
        assert_eq!(r1.status, 200);
        assert_eq!(r2.status, 200);
        let e1 = r1.header("etag").expect("etag");
        assert!(is_strong_etag(e1), "{e1}");
        assert_eq!(r1.header("etag"), r2.header("etag"), "{p} {ae:?}");
        assert_ne!(
            r1.header("last-modified"),
            r2.header("last-modified"),
            "fixture sanity: mtimes differ"
        );
    }
}

#[test]
fn etag_changes_with_content_not_with_name() {
    // Same bytes under two names in one root: same representation bytes, so
    // the content hash (hence the ETag) is the same; different bytes differ.
    let f = Fixture::new();
    f.write("copy.txt", PLAIN_TXT);
    f.write("other.txt", b"hello plain text!\n");
    let s = start(&f);
    let a = s.get("/plain.txt");
    let b = s.get("/copy.txt");
    let c = s.get("/other.txt");
    assert_eq!(a.header("etag"), b.header("etag"));
    assert_ne!(a.header("etag"), c.header("etag"));
}

#[test]
fn fingerprinted_names_are_immutable_others_revalidate() {
    let f = Fixture::new();
    f.write("font.0123456789abcdef.woff2", b"wOF2fake");
    f.write("deep/dir/chunk.deadbeef.js", b"chunk");
    f.write("short.3f2a9c1.js", b"seven hex digits is not a fingerprint");
    // Not hex, and 9 characters: no bundler's hash either (8 characters
    // mixing letters and digits, `app.3f2a9c1z.js`, would be SvelteKit's).
    f.write("nothex.3f2a9c1zz.js", b"not hex");
    let s = start(&f);
    for p in [
        "/app.3f2a9c1b7d.js",
        "/font.0123456789abcdef.woff2",
        "/deep/dir/chunk.deadbeef.js",
    ] {
        let r = s.get(p);
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.header("cache-control"), Some(IMMUTABLE), "{p}");
    }
    for p in [
        "/app.css",
        "/plain.txt",
        "/index.html",
        "/short.3f2a9c1.js",
        "/nothex.3f2a9c1zz.js",
    ] {
        let r = s.get(p);
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.header("cache-control"), Some(REVALIDATE), "{p}");
    }
}

#[test]
fn manifest_listed_files_are_immutable() {
    let f = Fixture::new();
    f.write(
        "manifest.json",
        br#"{
  "app.css": {"file": "app-v2.css", "integrity": "sha384-x"},
  "src/main.js": {"file": "assets/main-v7.js", "isEntry": true}
}"#,
    );
    f.write("app-v2.css", b"body{}");
    f.write("assets/main-v7.js", b"main()");
    f.write("assets/unlisted.js", b"x()");
    let s = start(&f);
    for p in ["/app-v2.css", "/assets/main-v7.js"] {
        let r = s.get(p);
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.header("cache-control"), Some(IMMUTABLE), "{p}");
    }
    for p in ["/manifest.json", "/assets/unlisted.js", "/app.css"] {
        let r = s.get(p);
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.header("cache-control"), Some(REVALIDATE), "{p}");
    }
}

#[test]
fn cache_control_values_are_configurable() {
    let f = Fixture::new();
    let s = Server::start(
        &f.root,
        &config_with(
            "[cache_control]\nimmutable = \"public, max-age=99, immutable\"\nrevalidate = \"no-store\"\n",
        ),
    );
    assert_eq!(
        s.get("/app.3f2a9c1b7d.js").header("cache-control"),
        Some("public, max-age=99, immutable")
    );
    assert_eq!(
        s.get("/plain.txt").header("cache-control"),
        Some("no-store")
    );
}

#[test]
fn rules_override_cache_control_and_add_headers() {
    let f = Fixture::new();
    f.write("fonts/a.woff2", b"wOF2a");
    let s = Server::start(
        &f.root,
        &config_with(
            r#"
[[rules]]
glob = "*.woff2"
cache_control = "public, max-age=600"
headers = { "X-Test" = "yes" }
"#,
        ),
    );
    let r = s.get("/fonts/a.woff2");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.header("cache-control"), Some("public, max-age=600"));
    assert_eq!(r.header("x-test"), Some("yes"));
    let other = s.get("/plain.txt");
    assert_eq!(other.header("cache-control"), Some(REVALIDATE));
    assert!(other.header("x-test").is_none(), "{}", other.summary());
}

#[test]
fn later_rules_win_and_every_matching_rule_applies() {
    let f = Fixture::new();
    let s = Server::start(
        &f.root,
        &config_with(
            r#"
[[rules]]
glob = "*.txt"
cache_control = "public, max-age=1"
headers = { "X-First" = "1", "X-Shared" = "first" }

[[rules]]
glob = "plain.*"
cache_control = "public, max-age=2"
headers = { "X-Second" = "2", "X-Shared" = "second" }

[[rules]]
glob = "*.css"
headers = { "X-Css" = "c" }
"#,
        ),
    );
    let r = s.get("/plain.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=2"));
    assert_eq!(r.header("x-first"), Some("1"));
    assert_eq!(r.header("x-second"), Some("2"));
    assert_eq!(r.header_all("x-shared"), vec!["second"]);
    assert!(r.header("x-css").is_none());

    // A rule without cache_control leaves the default policy in place.
    let c = s.get("/app.css");
    assert_eq!(c.header("x-css"), Some("c"));
    assert_eq!(c.header("cache-control"), Some(REVALIDATE));
}

#[test]
fn rule_glob_star_crosses_directories() {
    let f = Fixture::new();
    let s = Server::start(
        &f.root,
        &config_with("[[rules]]\nglob = \"*.html\"\nheaders = { \"X-Html\" = \"y\" }\n"),
    );
    assert_eq!(s.get("/docs/index.html").header("x-html"), Some("y"));
    assert_eq!(s.get("/docs/").header("x-html"), Some("y"));
    assert_eq!(s.get("/index.html").header("x-html"), Some("y"));
}

#[test]
fn error_bodies_are_short_plain_text() {
    let f = Fixture::new();
    let s = start(&f);
    for (m, p, code) in [
        ("GET", "/nope.txt", 404),
        ("POST", "/plain.txt", 405),
        ("GET", "/emptydir/", 404),
    ] {
        let r = s.req(m, p, &[("Content-Length", "0")]);
        assert_eq!(r.status, code, "{m} {p}: {}", r.summary());
        let ct = r.header("content-type").unwrap_or("");
        assert!(ct.starts_with("text/plain"), "{m} {p} content-type {ct:?}");
        assert!(
            !r.body.is_empty() && r.body.len() < 1024,
            "{m} {p} body {:?}",
            r.text()
        );
    }
}
