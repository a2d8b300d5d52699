//! Compression dictionaries (RFC 9842) for built trees: `cdn-edge build`
//! run twice (two deploys of the same logical names) writes `dcz` and `dcb`
//! deltas of the new version against the old one; the node offers every
//! fingerprinted script and stylesheet as a dictionary
//! (`Use-As-Dictionary`) and answers a request naming the old version's
//! SHA-256 in `Available-Dictionary` with the delta, which the reference
//! decoders (Google's brotli with a raw dictionary, zstd with a raw
//! prefix) turn back into exactly the new bytes. Anything else (an
//! unknown, malformed or repeated field, a client that names no
//! dictionary coding) gets the plain answer.

use std::fs;
use std::path::Path;

use base64::Engine;

use crate::build::support::{build_ok, manifest, Tree};
use crate::common::{self, oracle, Response, Server};

const CHROME: &str = "gzip, deflate, br, zstd, dcb, dcz";

/// A script of `n` functions; `v` changes one line of it.
fn script(n: usize, v: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..n {
        let k = if i == n / 2 { v } else { 1 };
        s.push_str(&format!(
            "export function handler{i}(event) {{ return event.detail * {k} + {i}; }}\n"
        ));
    }
    s.into_bytes()
}

/// Two deploys into one output: v1, then v2 with `js/app.js` and
/// `css/site.css` changed. Returns the tree, the output and the v1 bytes.
fn two_deploys() -> (Tree, std::path::PathBuf, Vec<u8>, Vec<u8>) {
    let v1 = script(3000, 1);
    let css = |c: &str| {
        let rules: String = (0..1500)
            .map(|i| format!(".c{i} {{ margin: {}px {}px }}\n", i % 17, i % 29))
            .collect();
        format!("body {{ color: {c}; }}\n{rules}")
    };
    let t = Tree::with(&[
        ("js/app.js", &v1),
        ("js/util.js", b"export const u = 1;\n"),
        ("css/site.css", css("red").as_bytes()),
        ("img/logo.png", b"\x89PNG not really"),
    ]);
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let v2 = script(3000, 2);
    t.write("js/app.js", &v2);
    t.write("css/site.css", css("blue").as_bytes());
    build_ok(&t.src, &out, &[]);
    (t, out, v1, v2)
}

fn file_of(out: &Path, logical: &str) -> String {
    manifest(out)[logical]["file"].as_str().unwrap().to_string()
}

fn b64(h: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

fn get(srv: &Server, path: &str, headers: &[(&str, &str)]) -> Response {
    srv.get_h(path, headers)
}

fn vary(r: &Response) -> Vec<String> {
    r.header_all("vary")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect()
}

#[test]
fn the_build_writes_deltas_of_each_changed_file_against_its_last_version() {
    let (_t, out, v1, v2) = two_deploys();
    let m = manifest(&out);
    let app = &m["js/app.js"];
    let deltas = app["deltas"].as_array().expect("deltas of js/app.js");
    assert_eq!(deltas.len(), 1, "{app}");
    let d = &deltas[0];
    assert_eq!(d["dictionary"], b64(&oracle::sha256(&v1)));
    let file = app["file"].as_str().unwrap();
    let br = app["encodings"]["br"].as_u64().unwrap();
    let hex: String = oracle::sha256(&v1)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for (coding, decode) in [
        ("dcz", oracle::undcz as fn(&[u8], &[u8]) -> Vec<u8>),
        ("dcb", oracle::undcb),
    ] {
        let body = fs::read(out.join(format!("{file}.{hex}.{coding}"))).unwrap();
        assert_eq!(d["encodings"][coding].as_u64(), Some(body.len() as u64));
        assert_eq!(decode(&body, &v1), v2, "{coding}");
        assert!(
            (body.len() as u64) * 10 < br,
            "{coding}: {} bytes against br {br}",
            body.len()
        );
    }
    // The stylesheet too; unchanged files and images get none.
    assert!(
        m["css/site.css"]["deltas"].is_array(),
        "{}",
        m["css/site.css"]
    );
    for l in ["js/util.js", "img/logo.png"] {
        assert!(m[l].get("deltas").is_none(), "{l}");
    }
    // --dictionary-versions 0 writes none.
    let t = Tree::with(&[("a.js", &v1)]);
    let o = t.out("o");
    build_ok(&t.src, &o, &["--dictionary-versions", "0"]);
    t.write("a.js", &v2);
    build_ok(&t.src, &o, &["--dictionary-versions", "0"]);
    assert!(manifest(&o)["a.js"].get("deltas").is_none());
}

/// `--prune --keep 1` still keeps the builds the deltas come from
/// (`--dictionary-versions`, 2 by default): the third deploy gets deltas
/// against both earlier versions, whose files stay.
#[test]
fn prune_keeps_the_versions_deltas_are_made_against() {
    let (v1, v2, v3) = (script(800, 1), script(800, 2), script(800, 3));
    let t = Tree::with(&[("a.js", &v1)]);
    let o = t.out("o");
    let prune = ["--prune", "--keep", "1"];
    build_ok(&t.src, &o, &prune);
    let first = manifest(&o)["a.js"]["file"].as_str().unwrap().to_string();
    t.write("a.js", &v2);
    build_ok(&t.src, &o, &prune);
    t.write("a.js", &v3);
    build_ok(&t.src, &o, &prune);
    let m = manifest(&o);
    let against: Vec<_> = m["a.js"]["deltas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dictionary"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        against,
        [b64(&oracle::sha256(&v2)), b64(&oracle::sha256(&v1))],
        "{}",
        m["a.js"]
    );
    assert!(o.join(&first).is_file(), "v1 kept: {first}");
    // A fourth deploy lets v1 go: no delta is made against it any more.
    t.write("a.js", &script(800, 4));
    build_ok(&t.src, &o, &prune);
    assert!(!o.join(&first).exists(), "v1 pruned: {first}");
}

#[test]
fn a_client_holding_the_old_version_gets_the_delta() {
    // Deploy v1 and serve it: a browser gets v1 and keeps it as a
    // dictionary for every version of js/app.js.
    let v1 = script(3000, 1);
    let t = Tree::with(&[("js/app.js", &v1)]);
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let old_file = file_of(&out, "js/app.js");
    let srv = Server::start(&out, &common::config_with(""));
    let r = get(&srv, &format!("/{old_file}"), &[("accept-encoding", "br")]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("use-as-dictionary"),
        Some("match=\"/js/app.*.js\", match-dest=(\"script\"), id=\"js/app.js\"")
    );
    assert_eq!(oracle::unbrotli(&r.body), v1);
    // Deploy v2 into the same tree, under the running node.
    let v2 = script(3000, 2);
    t.write("js/app.js", &v2);
    build_ok(&t.src, &out, &[]);
    let new_file = file_of(&out, "js/app.js");
    assert_ne!(new_file, old_file);

    let available = format!(":{}:", b64(&oracle::sha256(&v1)));
    for (accept, coding) in [("dcz", "dcz"), ("dcb", "dcb"), (CHROME, "")] {
        let r = get(
            &srv,
            &format!("/{new_file}"),
            &[
                ("accept-encoding", accept),
                ("available-dictionary", &available),
            ],
        );
        assert_eq!(r.status, 200, "{}", r.summary());
        let ce = r.header("content-encoding").unwrap().to_string();
        if !coding.is_empty() {
            assert_eq!(ce, coding);
        }
        let decoded = match ce.as_str() {
            "dcz" => oracle::undcz(&r.body, &v1),
            "dcb" => oracle::undcb(&r.body, &v1),
            other => panic!("{accept}: {other}"),
        };
        assert_eq!(decoded, v2, "{accept}");
        let v = vary(&r);
        assert!(
            v.contains(&"accept-encoding".into()) && v.contains(&"available-dictionary".into()),
            "{v:?}"
        );
        let etag = r.header("etag").unwrap().to_string();
        assert!(etag.contains(&format!("-{ce}-")), "{etag}");
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        // Revalidated with its own ETag: 304, same ETag and Vary.
        let again = get(
            &srv,
            &format!("/{new_file}"),
            &[
                ("accept-encoding", accept),
                ("available-dictionary", &available),
                ("if-none-match", &etag),
            ],
        );
        assert_eq!(again.status, 304, "{}", again.summary());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        assert!(vary(&again).contains(&"available-dictionary".into()));
        // A range of the delta: its first 4 bytes are the magic.
        let part = get(
            &srv,
            &format!("/{new_file}"),
            &[
                ("accept-encoding", accept),
                ("available-dictionary", &available),
                ("range", "bytes=0-3"),
            ],
        );
        assert_eq!(part.status, 206);
        assert_eq!(part.body, r.body[..4]);
    }
    // Another node serving the same tree (a cluster's other member) sends
    // the same delta under the same ETag.
    let other = Server::start(&out, &common::config_with(""));
    let h = [
        ("accept-encoding", CHROME),
        ("available-dictionary", available.as_str()),
    ];
    let (a, b) = (
        get(&srv, &format!("/{new_file}"), &h),
        get(&other, &format!("/{new_file}"), &h),
    );
    assert_eq!((a.header("etag"), &a.body), (b.header("etag"), &b.body));
    assert!(matches!(b.header("content-encoding"), Some("dcz" | "dcb")));
    // Every representation of the asset says it varies by the field.
    let plain = get(&srv, &format!("/{new_file}"), &[("accept-encoding", "br")]);
    assert_eq!(plain.header("content-encoding"), Some("br"));
    assert!(vary(&plain).contains(&"available-dictionary".into()));
    // The new version is a dictionary for the next one.
    assert!(plain.header("use-as-dictionary").is_some());
}

#[test]
fn anything_but_a_known_dictionary_gets_the_plain_answer() {
    let (_t, out, v1, _) = two_deploys();
    let new_file = file_of(&out, "js/app.js");
    let srv = Server::start(&out, &common::config_with(""));
    let known = format!(":{}:", b64(&oracle::sha256(&v1)));
    // What a client that names no dictionary gets.
    let plain = get(
        &srv,
        &format!("/{new_file}"),
        &[("accept-encoding", CHROME)],
    );
    let plain_coding = plain.header("content-encoding").map(String::from);
    assert!(matches!(plain_coding.as_deref(), Some("br" | "zstd")));
    let other = format!(":{}:", b64(&oracle::sha256(b"another version")));
    let short = format!(":{}:", b64(&oracle::sha256(&v1)[..31]));
    let long = format!(":{}:", b64(&vec![7u8; 6 << 10]));
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "unknown hash",
            vec![("available-dictionary", other.as_str())],
        ),
        ("31 bytes", vec![("available-dictionary", short.as_str())]),
        ("a token", vec![("available-dictionary", "abc")]),
        ("a string", vec![("available-dictionary", "\"abc\"")]),
        ("not base64", vec![("available-dictionary", ":!!!:")]),
        (
            "two lines",
            vec![
                ("available-dictionary", known.as_str()),
                ("available-dictionary", known.as_str()),
            ],
        ),
        ("a list", vec![("available-dictionary", "x, y")]),
        (
            "a client's own pattern and id",
            vec![
                ("available-dictionary", other.as_str()),
                ("use-as-dictionary", "match=\"/*\", id=\"x\""),
                ("dictionary-id", "\"js/app.js\""),
            ],
        ),
        (
            "an 8 KiB field",
            vec![("available-dictionary", long.as_str())],
        ),
    ];
    for (what, mut headers) in cases {
        headers.push(("accept-encoding", CHROME));
        let r = get(&srv, &format!("/{new_file}"), &headers);
        assert_eq!(r.status, 200, "{what}: {}", r.summary());
        assert_eq!(
            r.header("content-encoding"),
            plain_coding.as_deref(),
            "{what}"
        );
        assert_eq!(r.body, plain.body, "{what}");
        assert_eq!(r.header("etag"), plain.header("etag"), "{what}");
    }
    // The right dictionary, but no dictionary coding named (`*` is not one).
    for accept in ["br, zstd", "*"] {
        let r = get(
            &srv,
            &format!("/{new_file}"),
            &[
                ("accept-encoding", accept),
                ("available-dictionary", &known),
            ],
        );
        assert_eq!(r.status, 200);
        assert!(
            !matches!(r.header("content-encoding"), Some("dcz" | "dcb")),
            "{accept}"
        );
    }
}

#[test]
fn a_pattern_that_would_cover_another_file_is_not_offered() {
    let t = Tree::with(&[
        ("js/app.js", b"export const a = 1;\n"),
        ("js/app.min.js", b"export const m = 1;\n"),
        ("css/site.css", b"body { color: red }\n"),
        (
            "img/logo.svg",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        ),
        ("img/logo.png", b"\x89PNG not really"),
    ]);
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let srv = Server::start(&out, &common::config_with(""));
    let uad = |l: &str| {
        get(&srv, &format!("/{}", file_of(&out, l)), &[])
            .header("use-as-dictionary")
            .map(String::from)
    };
    // `/js/app.*.js` would also cover `js/app.min.<hash>.js`.
    assert_eq!(uad("js/app.js"), None);
    assert_eq!(
        uad("js/app.min.js").as_deref(),
        Some("match=\"/js/app.min.*.js\", match-dest=(\"script\"), id=\"js/app.min.js\"")
    );
    assert_eq!(
        uad("css/site.css").as_deref(),
        Some("match=\"/css/site.*.css\", match-dest=(\"style\"), id=\"css/site.css\"")
    );
    // SVG is fetched under several destinations: no match-dest.
    assert_eq!(
        uad("img/logo.svg").as_deref(),
        Some("match=\"/img/logo.*.svg\", id=\"img/logo.svg\"")
    );
    // Other images and plain names are never dictionaries.
    assert_eq!(uad("img/logo.png"), None);
    assert!(get(&srv, "/js/app.min.js", &[])
        .header("use-as-dictionary")
        .is_none());
}

/// A page that runs `js/app.js` (a classic script) and shows what it says.
const PAGE: &[u8] = b"<!doctype html>\n<html><head><meta charset=\"utf-8\"></head><body>\n<p id=\"out\">loading</p>\n<script src=\"/js/app.js\"></script>\n</body></html>\n";

/// A classic script of `n` functions that writes `version` into the page.
fn page_script(n: usize, version: &str) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "function h{i}(e) {{ return e * {i} + {}; }}\n",
            i % 13
        ));
    }
    s.push_str(&format!(
        "document.getElementById(\"out\").textContent = \"{version}:\" + h7(6);\n"
    ));
    s.into_bytes()
}

#[test]
#[ignore = "needs chromium (Debian package): a real browser keeps the dictionary and decodes the delta"]
fn a_browser_gets_the_new_deploy_as_a_delta_against_the_old_one() {
    use crate::common::browser;
    use crate::common::http2::{test_cert, tls_table};
    let cert = test_cert(&["127.0.0.1", "localhost"]);
    let spki = base64::engine::general_purpose::STANDARD.encode(oracle::sha256(&cert.spki));
    let flags = [format!("--ignore-certificate-errors-spki-list={spki}")];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();

    let t = Tree::with(&[
        ("index.html", PAGE),
        ("js/app.js", &page_script(4000, "v1")),
    ]);
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let cfg = common::config_with(&format!(
        "[log]\naccess_flush = \"20ms\"\n{}",
        tls_table(&cert, "")
    ));
    let srv = Server::start(&out, &cfg);
    let url = format!("https://{}/index.html", srv.tls_addr());
    let profile = tempfile::tempdir().unwrap();

    let dom = browser::dump_dom(&url, profile.path(), &flags);
    assert_eq!(browser::out_text(&dom), "v1:49", "{dom}");

    // The next deploy, under the running node; the browser comes back.
    t.write("js/app.js", &page_script(4000, "v2"));
    build_ok(&t.src, &out, &[]);
    let v2_file = file_of(&out, "js/app.js");
    let dom = browser::dump_dom(&url, profile.path(), &flags);
    assert_eq!(browser::out_text(&dom), "v2:49", "{dom}");

    // The access log: v2's script went as a delta (the coding is the last field).
    let mut line = None;
    common::poll_until(std::time::Duration::from_secs(10), || {
        line = srv
            .stdout
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(&format!("GET /{v2_file} ")))
            .cloned();
        line.is_some()
    });
    let line = line.expect("v2's script in the access log");
    let coding = line.split_whitespace().last().unwrap();
    assert!(matches!(coding, "dcb" | "dcz"), "{line}");
}

/// The Vite fixture's `dist/` copied into a tree, its dynamic chunk
/// (`src/details.js`) given `body` under `name`.
fn vite_deploy(t: &Tree, name: &str, body: &[u8]) {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/build/fixtures/vite/dist");
    for (k, v) in crate::build::support::snapshot(&dist) {
        if !k.starts_with("assets/details-") {
            t.write(&k, &v);
        }
    }
    let old = fs::read_dir(t.src.join("assets")).unwrap();
    for f in old.flatten() {
        if f.file_name().to_string_lossy().starts_with("details-") {
            fs::remove_file(f.path()).unwrap();
        }
    }
    t.write(&format!("assets/{name}"), body);
    let manifest = fs::read_to_string(dist.join(".vite/manifest.json"))
        .unwrap()
        .replace("details-CuUsFHmZ.js", name);
    t.write(".vite/manifest.json", manifest.as_bytes());
}

#[test]
fn a_bundlers_hashed_names_get_dictionaries_and_deltas_by_the_bundlers_name() {
    let (v1, v2) = (script(3000, 1), script(3000, 2));
    let t = Tree::empty();
    vite_deploy(&t, "details-CuUsFHmZ.js", &v1);
    let out = t.out("dist");
    build_ok(&t.src, &out, &["--strict"]);
    let srv = Server::start(&out, &common::config_with(""));
    let r = get(&srv, "/assets/details-CuUsFHmZ.js", &[]);
    assert_eq!(
        r.header("use-as-dictionary"),
        Some("match=\"/assets/details-*.js\", match-dest=(\"script\"), id=\"assets/details-CuUsFHmZ.js\""),
        "{}",
        r.summary()
    );
    // `/assets/index-*.js` would not cover another file either.
    assert!(get(&srv, "/assets/index-Bf86mH4T.js", &[])
        .header("use-as-dictionary")
        .is_some());

    // The next deploy: Vite renamed the chunk; the build finds its last
    // version by Vite's name for it (`src/details.js`).
    vite_deploy(&t, "details-Dx7kLm2Q.js", &v2);
    build_ok(&t.src, &out, &["--strict"]);
    let m = manifest(&out);
    let entry = &m["assets/details-Dx7kLm2Q.js"];
    assert_eq!(
        entry["deltas"][0]["from"], "assets/details-CuUsFHmZ.js",
        "{entry}"
    );
    let available = format!(":{}:", b64(&oracle::sha256(&v1)));
    let r = get(
        &srv,
        "/assets/details-Dx7kLm2Q.js",
        &[
            ("accept-encoding", "dcb"),
            ("available-dictionary", &available),
        ],
    );
    assert_eq!(r.header("content-encoding"), Some("dcb"), "{}", r.summary());
    assert_eq!(oracle::undcb(&r.body, &v1), v2);
}
