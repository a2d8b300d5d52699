//! A real browser runs the built ES-module app (`fixtures/esm`) from the
//! edge, cross-origin and under Subresource Integrity: a page served by
//! another node (another origin: another port) loads the entry module
//! from the edge with `<script integrity>` and the build's import map
//! (the cycle's entries, and the integrity of every module), and every
//! module runs: the chain, the cycle, the side-effect module, the dynamic
//! import and the `new URL()` asset. A wrong integrity for one module
//! stops it. Headless Chromium from Debian (`.ci/run` installs it).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use super::support::*;
use crate::common::{self, browser};

/// A port free on 127.0.0.1 a moment ago (the edge's URL must be known
/// before the build, which records it as the base URL).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A node serving `root` on `port` with the access log on stdout.
fn node(root: &Path, port: u16, config_dir: &Path) -> common::Server {
    let cfg = config_dir.join(format!("node-{port}.toml"));
    fs::write(
        &cfg,
        common::config_with("[log]\naccess_flush = \"20ms\"\n"),
    )
    .unwrap();
    let args: Vec<OsString> = vec![
        "serve".into(),
        "--config".into(),
        cfg.into_os_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}").into(),
        "--root".into(),
        root.as_os_str().to_owned(),
    ];
    common::Server::spawn(&args, None).unwrap_or_else(|e| panic!("{e}"))
}

/// A page on another origin that loads `entry` (URL, integrity) from the
/// edge under the import map `map` (an `importmap.html` element).
fn page(map: &str, entry_url: &str, entry_integrity: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>app</title>\n{map}\
         <script type=\"module\" src=\"{entry_url}\" integrity=\"{entry_integrity}\" \
         crossorigin=\"anonymous\"></script>\n</head>\
         <body><p id=\"out\">loading</p></body></html>\n"
    )
}

#[test]
#[ignore = "needs chromium (Debian package): a real browser runs the modules"]
fn a_browser_runs_every_module_cross_origin_from_the_edge_under_sri() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/build/fixtures/esm");
    let t = Tree::empty();
    for (k, v) in snapshot(&fixture) {
        if k != "README.md" {
            t.write(&k, &v);
        }
    }
    let port = free_port();
    let edge_url = format!("http://127.0.0.1:{port}");
    let out = t.out("dist");
    build_ok(&t.src, &out, &["--base-url", &format!("{edge_url}/")]);
    let m = manifest(&out);
    let entry = &m["js/main.js"];
    let (entry_url, entry_sri) = (
        entry["url"].as_str().unwrap(),
        entry["integrity"].as_str().unwrap(),
    );
    assert!(entry_url.starts_with(&edge_url), "{entry_url}");
    let map = fs::read_to_string(out.join("importmap.html")).unwrap();

    let dirs = tempfile::tempdir().unwrap();
    let edge = node(&out, port, dirs.path());
    let app_root = dirs.path().join("app");
    fs::create_dir_all(&app_root).unwrap();
    fs::write(
        app_root.join("index.html"),
        page(&map, entry_url, entry_sri),
    )
    .unwrap();
    // One module's integrity altered: the browser must refuse it.
    let lazy_sri = m["js/lazy.js"]["integrity"].as_str().unwrap();
    assert!(map.contains(lazy_sri), "{map}");
    let wrong = common::oracle::sri_sha384(b"not the module");
    fs::write(
        app_root.join("tampered.html"),
        page(&map.replace(lazy_sri, &wrong), entry_url, entry_sri),
    )
    .unwrap();
    let app = common::Server::start(&app_root, &common::config_with(""));
    let app_url = format!("http://127.0.0.1:{}", app.addr.port());
    assert_ne!(app_url, edge_url);

    let dom = browser::dump_dom(
        &format!("{app_url}/index.html"),
        &dirs.path().join("p1"),
        &[],
    );
    let img = m["img/dot.png"]["file"].as_str().unwrap();
    let want = format!("aleaf-v1|pong|lazy:leaf-v1|side|/{img}|");
    assert!(
        browser::out_text(&dom).starts_with(&want),
        "want {want}…, got {}",
        browser::out_text(&dom)
    );

    // Every module came from the edge under its fingerprinted name, 200.
    let mut fetched = BTreeMap::new();
    common::poll_until(Duration::from_secs(10), || {
        fetched = edge_requests(&edge);
        m.iter()
            .filter(|(l, _)| l.starts_with("js/"))
            .all(|(_, e)| fetched.contains_key(&format!("/{}", e["file"].as_str().unwrap())))
    });
    for (l, e) in m.iter().filter(|(l, _)| l.starts_with("js/")) {
        let path = format!("/{}", e["file"].as_str().unwrap());
        assert_eq!(
            fetched.get(&path).map(String::as_str),
            Some("200"),
            "{l}: {fetched:?}"
        );
        assert!(
            !fetched.contains_key(&format!("/{l}")),
            "{l} by its plain name"
        );
    }

    let dom = browser::dump_dom(
        &format!("{app_url}/tampered.html"),
        &dirs.path().join("p2"),
        &[],
    );
    let text = browser::out_text(&dom);
    assert!(text.starts_with("error: "), "{text}");
    assert!(!text.contains("lazy:"), "{text}");
}

/// path → status of every GET the edge logged (combined format).
fn edge_requests(edge: &common::Server) -> BTreeMap<String, String> {
    let lines = edge.stdout.lock().unwrap().clone();
    lines
        .iter()
        .filter_map(|l| {
            let req = l.split('"').nth(1)?;
            let path = req.split(' ').nth(1)?;
            let status = l.split('"').nth(2)?.split_whitespace().next()?;
            Some((path.to_string(), status.to_string()))
        })
        .collect()
}
