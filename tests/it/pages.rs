//! A rule's `fallback` (a single-page app's document for client-side
//! routes) and `error_pages` (issue 20 item 3), over real sockets: from the
//! static root, and behind the edge with the app at a real origin.

use crate::common;

use common::origin::{Origin, Reply};
use common::*;

const SPA: &str = "[[rules]]\nglob = \"*\"\nfallback = \"/index.html\"\n";
const NAVIGATE: (&str, &str) = (
    "accept",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
);

#[test]
fn client_side_routes_get_the_document_and_missing_assets_their_404() {
    let f = Fixture::new();
    let pages =
        format!("{SPA}[[rules]]\nglob = \"*.js\"\nerror_pages = {{ 404 = \"/none.html\" }}\n");
    let s = Server::start(&f.root, &config_with(&pages));
    let index = s.get("/index.html");
    for route in ["/about", "/users/42", "/deep/link/"] {
        let r = s.get(route);
        assert_eq!(r.status, 200, "{route}: {}", r.summary());
        assert_eq!(r.body, index.body, "{route}");
        assert_eq!(r.header("etag"), index.header("etag"), "{route}");
    }
    // An asset fetched by a script or an <img>: its 404 stands.
    for (path, accept) in [
        ("/missing.js", "*/*"),
        ("/missing.png", "image/avif,image/webp,*/*;q=0.8"),
    ] {
        let r = s.get_h(path, &[("accept", accept)]);
        assert_eq!(r.status, 404, "{path}: {}", r.summary());
    }
    // An error page that is itself missing leaves the node's own answer.
    assert_eq!(s.get("/missing.js").body, b"not found\n");
    // A browser navigating to any missing page gets the document.
    let r = s.get_h("/old-page.php", &[NAVIGATE]);
    assert_eq!((r.status, &r.body), (200, &index.body));
    // HEAD too; files that exist are themselves.
    assert_eq!(s.head_h("/about", &[]).status, 200);
    assert_eq!(s.get("/plain.txt").body, PLAIN_TXT);
    // The document's validators answer conditionals as for itself.
    let etag = index.header("etag").unwrap().to_string();
    assert_eq!(s.get_h("/about", &[("if-none-match", &etag)]).status, 304);
}

#[test]
fn a_single_page_app_behind_the_edge_asks_the_origin_then_falls_back() {
    let o = Origin::start();
    o.route(
        "/index.html",
        Reply::ok("<div id=app>")
            .header("content-type", "text/html")
            .header("cache-control", "no-cache")
            .header("etag", "\"i1\"")
            .etag_304("\"i1\""),
    );
    o.route("/assets/app-LsUxLgqK.js", Reply::ok("app()"));
    let empty = tempfile::tempdir().unwrap();
    let cfg = config_with(&format!("[origin]\nurl = \"{}\"\n{SPA}", o.url()));
    let s = Server::start(empty.path(), &cfg);
    let r = s.get("/about");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"<div id=app>"[..]),
        "{}",
        r.summary()
    );
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(o.count("/about"), 1, "the origin was asked first");
    // The origin's 404 is kept (cache.negative_ttl): the next route is
    // answered without asking it about /about again.
    assert_eq!(s.get("/about").status, 200);
    assert_eq!(o.count("/about"), 1);
    assert_eq!(s.get("/assets/app-LsUxLgqK.js").body, b"app()");
    assert_eq!(s.get("/assets/missing-LsUxLgqK.js").status, 404);
}

#[test]
fn error_pages_answer_with_the_errors_status() {
    let o = Origin::start();
    o.route(
        "/404.html",
        Reply::ok("<h1>not here</h1>").header("content-type", "text/html"),
    );
    o.route(
        "/down.html",
        Reply::ok("<h1>back soon</h1>").header("cache-control", "max-age=3600"),
    );
    let empty = tempfile::tempdir().unwrap();
    let rules =
        "[[rules]]\nglob = \"*\"\nerror_pages = { 404 = \"/404.html\", 502 = \"/down.html\" }\n";
    let cfg = config_with(&format!(
        "[origin]\nurl = \"{}\"\nconnect_timeout = \"1s\"\n{rules}",
        o.url()
    ));
    let s = Server::start(empty.path(), &cfg);
    // Warm the down page while the origin is up.
    assert_eq!(s.get("/down.html").status, 200);
    let r = s.get_h(
        "/nope.css",
        &[("if-none-match", "*"), ("range", "bytes=0-3")],
    );
    assert_eq!(r.status, 404, "{}", r.summary());
    assert_eq!(r.body, b"<h1>not here</h1>");
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.header("etag").is_none());
    o.shutdown();
    let r = s.get("/app.js");
    assert_eq!(r.status, 502, "{}", r.summary());
    assert_eq!(r.body, b"<h1>back soon</h1>");
}
