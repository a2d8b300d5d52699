//! `/` and directories: index.html, redirect to the slash form, no listings.

use crate::common;

use common::*;

fn start(f: &Fixture) -> Server {
    Server::start(&f.root, &config_with(""))
}

#[test]
fn root_serves_index_html() {
    let f = Fixture::new();
    let s = start(&f);
    let r = s.get("/");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, INDEX_HTML);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.has("etag"));
    let h = s.head_h("/", &[]);
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
}

#[test]
fn dir_with_slash_serves_its_index() {
    let f = Fixture::new();
    let s = start(&f);
    let r = s.get("/docs/");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, DOCS_INDEX_HTML);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("etag"), s.get("/docs/index.html").header("etag"));
}

#[test]
fn dir_without_slash_redirects() {
    let f = Fixture::new();
    f.write("a/b/index.html", b"nested");
    let s = start(&f);
    let r = s.get("/docs");
    assert_eq!(r.status, 301, "{}", r.summary());
    assert_eq!(r.header("location"), Some("/docs/"));
    assert!(
        !r.body
            .windows(DOCS_INDEX_HTML.len())
            .any(|w| w == DOCS_INDEX_HTML),
        "redirect must not carry the index"
    );
    let r = s.get("/a/b");
    assert_eq!(r.status, 301, "{}", r.summary());
    assert_eq!(r.header("location"), Some("/a/b/"));
    assert_eq!(s.get("/a/b/").body, b"nested");
}

#[test]
fn dir_without_index_is_404_no_listing() {
    let f = Fixture::new();
    f.write("listme/secret-name.txt", b"x");
    let s = start(&f);
    for p in ["/emptydir/", "/listme/"] {
        let r = s.get(p);
        assert_eq!(r.status, 404, "{p}: {}", r.summary());
        assert!(!r.text().contains("secret-name"), "{p}: listing leaked");
    }
    // The file inside is still served.
    assert_eq!(s.get("/listme/secret-name.txt").status, 200);
}

#[test]
fn missing_file_is_404() {
    let f = Fixture::new();
    let s = start(&f);
    for p in ["/nope.txt", "/docs/nope.html", "/nope/", "/plain.txt/"] {
        let r = s.get(p);
        assert_eq!(r.status, 404, "{p}: {}", r.summary());
    }
}

#[test]
fn index_html_is_not_fingerprinted() {
    let f = Fixture::new();
    let s = start(&f);
    assert_eq!(s.get("/").header("cache-control"), Some("public, no-cache"));
}
