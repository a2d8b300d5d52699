//! Preload hints at the edge (issue 21, item 5): a local HTML entry point
//! the manifest knows carries `Link` preload fields for the stylesheets and
//! module scripts its graph needs, and an HTTP/1.1 GET answered `200` gets
//! a `103 Early Hints` with the same fields first; never HTTP/1.0, never a
//! `304`, never a pulled page; `server.preload_links = false` removes both.
//! Expected fields are computed here from Vite's own manifest and the
//! built files (SRI by `common::oracle`), not from the node's manifest.

use std::fs;
use std::path::{Path, PathBuf};

use crate::build::support::{build_ok, sri_of_file, Tree};
use crate::common::origin::{Origin, Reply};
use crate::common::{self, send_raw, Response, Server};

type Json = serde_json::Map<String, serde_json::Value>;

/// The Vite fixture built by `cdn-edge build`: the tree, the output, and
/// Vite's own manifest.
fn built_vite() -> (Tree, PathBuf, Json) {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/build/fixtures/vite/dist");
    let vite =
        serde_json::from_slice(&fs::read(dist.join(".vite/manifest.json")).unwrap()).unwrap();
    let t = Tree::empty();
    let out = t.out("out");
    build_ok(&dist, &out, &["--strict"]);
    (t, out, vite)
}

fn style(file: &str) -> String {
    format!("</{file}>; rel=preload; as=style; crossorigin")
}

fn module(out: &Path, file: &str) -> String {
    let sri = sri_of_file(&out.join(file));
    format!("</{file}>; rel=modulepreload; crossorigin; integrity=\"{sri}\"")
}

/// What Vite's manifest says `index.html` needs: its stylesheets, then its
/// entry chunk.
fn vite_links(out: &Path, vite: &Json) -> Vec<String> {
    let page = &vite["index.html"];
    let css = page["css"].as_array().unwrap();
    assert!(
        page["imports"].as_array().is_none(),
        "the fixture's entry imports nothing"
    );
    css.iter()
        .map(|c| style(c.as_str().unwrap()))
        .chain([module(out, page["file"].as_str().unwrap())])
        .collect()
}

fn links(r: &Response) -> Vec<String> {
    r.header_all("link").into_iter().map(String::from).collect()
}

/// The `Link` fields of each interim response of `r`, and their statuses.
fn hints(r: &Response) -> Vec<(u16, Vec<String>)> {
    r.interim
        .iter()
        .map(|(status, h)| {
            let l = common::values_of(h, "link").map(String::from).collect();
            (*status, l)
        })
        .collect()
}

#[test]
fn a_vite_page_carries_its_preload_links_and_a_103_before_its_200() {
    let (_t, out, vite) = built_vite();
    let want = vite_links(&out, &vite);
    let srv = Server::start(&out, &common::config_with(""));
    for path in ["/index.html", "/"] {
        // Twice: from disk, then from memory; the 103 each time.
        for _ in 0..2 {
            let r = srv.get(path);
            assert_eq!(r.status, 200, "{}", r.summary());
            assert_eq!(links(&r), want, "{path}");
            assert_eq!(hints(&r), [(103, want.clone())], "{path}");
        }
    }
    // The 103 comes whole before the 200 on the wire.
    let raw = send_raw(
        srv.addr,
        b"GET / HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 103 Early Hints\r\n"), "{text}");
    let final_at = text.find("HTTP/1.1 200 OK\r\n").unwrap();
    assert_eq!(text[..final_at].matches("\r\n\r\n").count(), 1, "{text}");

    // A HEAD has the fields, no 103.
    let r = srv.req("HEAD", "/index.html", &[]);
    assert_eq!(
        (r.status, links(&r), r.interim.len()),
        (200, want.clone(), 0)
    );
    // HTTP/1.0: no 1xx ever (RFC 9110 §15.2), the fields still.
    let raw = send_raw(srv.addr, b"GET /index.html HTTP/1.0\r\nHost: e\r\n\r\n");
    let r = common::parse_response(&raw, false).unwrap();
    assert_eq!((r.status, r.interim.len()), (200, 0), "{}", r.summary());
    assert_eq!(links(&r), want);
    // A 304: the browser keeps its page, nothing to preload for.
    let etag = srv.get("/index.html").header("etag").unwrap().to_string();
    let r = srv.get_h("/index.html", &[("if-none-match", &etag)]);
    assert_eq!((r.status, r.interim.len()), (304, 0), "{}", r.summary());
    assert!(links(&r).is_empty());
    // Other files: none.
    let chunk = vite["index.html"]["file"].as_str().unwrap();
    let r = srv.get(&format!("/{chunk}"));
    assert_eq!((r.status, r.interim.len()), (200, 0));
    assert!(links(&r).is_empty());
}

#[test]
fn the_chain_of_static_imports_is_preloaded_once_styles_first() {
    // A Vite-format dist whose entry imports a shared chunk, which imports
    // a vendor chunk and the entry back (a cycle), and loads one lazily.
    let js = |s: &str| s.as_bytes().to_vec();
    let t = Tree::with(&[
        (
            "index.html",
            b"<!doctype html><script type=module crossorigin src=/assets/main-Ab12Cd34.js></script>",
        ),
        ("assets/main-Ab12Cd34.js", &js("import './shared-Xy98Zw76.js';")),
        ("assets/shared-Xy98Zw76.js", &js("import './vendor-Gh56Jk78.js';")),
        ("assets/vendor-Gh56Jk78.js", &js("export const v = 1;")),
        ("assets/lazy-Lm90Np12.js", &js("export const l = 1;")),
        ("assets/main-Mn01Op23.css", b"body{color:red}"),
        ("assets/shared-Qr45St67.css", b"p{color:blue}"),
        (
            ".vite/manifest.json",
            br#"{
  "index.html": {"file": "assets/main-Ab12Cd34.js", "src": "index.html", "isEntry": true,
    "imports": ["_shared-Xy98Zw76.js"], "dynamicImports": ["src/lazy.js"],
    "css": ["assets/main-Mn01Op23.css"]},
  "_shared-Xy98Zw76.js": {"file": "assets/shared-Xy98Zw76.js",
    "imports": ["_vendor-Gh56Jk78.js", "index.html"], "css": ["assets/shared-Qr45St67.css"]},
  "_vendor-Gh56Jk78.js": {"file": "assets/vendor-Gh56Jk78.js"},
  "src/lazy.js": {"file": "assets/lazy-Lm90Np12.js", "src": "src/lazy.js", "isDynamicEntry": true}
}"#,
        ),
    ]);
    let out = t.out("out");
    build_ok(&t.src, &out, &[]);
    let srv = Server::start(&out, &common::config_with(""));
    let r = srv.get("/index.html");
    let want = [
        style("assets/shared-Qr45St67.css"),
        style("assets/main-Mn01Op23.css"),
        module(&out, "assets/main-Ab12Cd34.js"),
        module(&out, "assets/shared-Xy98Zw76.js"),
        module(&out, "assets/vendor-Gh56Jk78.js"),
    ];
    assert_eq!(links(&r), want, "{}", r.summary());
    assert_eq!(hints(&r), [(103, want.to_vec())]);
}

#[test]
fn preload_links_off_removes_the_fields_and_the_103() {
    let (_t, out, _) = built_vite();
    let srv = Server::start(&out, &common::config_with("preload_links = false\n"));
    let r = srv.get("/index.html");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(links(&r).is_empty(), "{}", r.summary());
    assert!(r.interim.is_empty());
}

#[test]
fn a_pulled_page_gets_no_preload_links() {
    // The manifest still lists index.html, but the page is not in the root:
    // it comes from the origin.
    let (_t, out, _) = built_vite();
    let page = fs::read(out.join("index.html")).unwrap();
    fs::remove_file(out.join("index.html")).unwrap();
    for sibling in ["index.html.br", "index.html.gz"] {
        let _ = fs::remove_file(out.join(sibling));
    }
    let o = Origin::start();
    let mut reply = Reply::ok(page.clone());
    reply.headers = vec![
        ("content-type".into(), "text/html; charset=utf-8".into()),
        ("cache-control".into(), "max-age=60".into()),
    ];
    o.route("/index.html", reply);
    let srv = Server::start(
        &out,
        &common::config_with(&format!("[origin]\nurl = \"{}\"\n", o.url())),
    );
    for _ in 0..2 {
        let r = srv.get("/index.html");
        assert_eq!(r.status, 200, "{}", r.summary());
        assert!(r.body == page);
        assert!(links(&r).is_empty(), "{}", r.summary());
        assert!(r.interim.is_empty());
    }
    assert_eq!(o.count("/index.html"), 1);
}
