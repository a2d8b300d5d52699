//! Encodings of local text files without `.br` / `.gz` siblings: the first
//! answer is identity (already saying `Vary: Accept-Encoding`), later ones
//! br or gzip under their own ETags, with conditionals and ranges on each;
//! a changed file is never answered with the old file's encodings; files
//! with siblings, binary files, small files and `cache.compress_local =
//! false` get none made; encodings are still made after a SIGHUP reload,
//! which can switch them off and on.

use crate::common;

use common::oracle::{gunzip, unbrotli};
use common::reload::{toml_path, Node};
use common::*;

const BR: [(&str, &str); 1] = [("Accept-Encoding", "br")];
const GZIP: [(&str, &str); 1] = [("Accept-Encoding", "gzip")];

/// A compressible stylesheet of a few KB, different per `version`.
fn css(version: &str) -> Vec<u8> {
    format!(".{version} {{ color: red; margin: 0 auto; padding: 1px; }}\n")
        .repeat(80)
        .into_bytes()
}

/// Polls `path` with `Accept-Encoding: br` until it comes back br.
fn wait_for_br(s: &Server, path: &str) -> Response {
    wait_for_encoding(s, path, "br")
}

fn metric(s: &Server, name: &str) -> f64 {
    let text = s.get("/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

#[test]
fn first_answer_is_identity_with_vary_then_br_and_gzip_under_their_own_etags() {
    let f = Fixture::new();
    let v1 = css("v1");
    f.write("site.css", &v1);
    let s = Server::start(&f.root, &config_with(""));

    // Answered at once from the file, not after the compressor.
    let first = s.get_h("/site.css", &[("Accept-Encoding", "br, gzip")]);
    assert_eq!(first.status, 200, "{}", first.summary());
    assert_eq!(
        first.header("content-encoding"),
        None,
        "{}",
        first.summary()
    );
    assert!(
        first.vary_contains("accept-encoding"),
        "{}",
        first.summary()
    );
    assert_eq!(first.body, v1);
    let identity_tag = first.header("etag").unwrap().to_string();

    let br = wait_for_br(&s, "/site.css");
    assert!(br.vary_contains("accept-encoding"));
    assert_eq!(unbrotli(&br.body), v1);
    assert!(br.body.len() < v1.len() / 4, "{} bytes", br.body.len());
    let br_tag = br.header("etag").unwrap().to_string();
    assert!(
        br_tag.starts_with('"') && br_tag.ends_with("-br\""),
        "{br_tag}"
    );
    assert_ne!(br_tag, identity_tag);
    assert_eq!(
        br.header("content-length"),
        Some(br.body.len().to_string().as_str())
    );

    let gz = s.get_h("/site.css", &GZIP);
    assert_eq!(
        gz.header("content-encoding"),
        Some("gzip"),
        "{}",
        gz.summary()
    );
    assert_eq!(gunzip(&gz.body), v1);
    let gz_tag = gz.header("etag").unwrap().to_string();
    assert!(gz_tag.ends_with("-gz\""), "{gz_tag}");
    assert!(gz_tag != br_tag && gz_tag != identity_tag);

    // Identity keeps its tag and still says Vary.
    let plain = s.get("/site.css");
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("etag"), Some(identity_tag.as_str()));
    assert!(plain.vary_contains("accept-encoding"));

    // Conditionals on each representation.
    let not_modified = s.get_h(
        "/site.css",
        &[("Accept-Encoding", "br"), ("If-None-Match", &br_tag)],
    );
    assert_eq!(not_modified.status, 304, "{}", not_modified.summary());
    assert_eq!(not_modified.header("etag"), Some(br_tag.as_str()));
    assert!(not_modified.vary_contains("accept-encoding"));
    assert!(not_modified.body.is_empty());
    // The br tag does not validate the gzip (or identity) representation.
    let other = s.get_h(
        "/site.css",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &br_tag)],
    );
    assert_eq!(other.status, 200, "{}", other.summary());
    assert_eq!(other.header("etag"), Some(gz_tag.as_str()));
    let mismatch = s.get_h(
        "/site.css",
        &[("Accept-Encoding", "br"), ("If-Match", &identity_tag)],
    );
    assert_eq!(mismatch.status, 412, "{}", mismatch.summary());

    // Ranges of the br bytes.
    let part = s.get_h(
        "/site.css",
        &[("Accept-Encoding", "br"), ("Range", "bytes=0-9")],
    );
    assert_eq!(part.status, 206, "{}", part.summary());
    assert_eq!(part.header("content-encoding"), Some("br"));
    assert_eq!(part.header("etag"), Some(br_tag.as_str()));
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 0-9/{}", br.body.len()).as_str())
    );
    assert_eq!(part.body, br.body[..10]);
    let if_range = s.get_h(
        "/site.css",
        &[
            ("Accept-Encoding", "br"),
            ("Range", "bytes=5-"),
            ("If-Range", &br_tag),
        ],
    );
    assert_eq!(if_range.status, 206, "{}", if_range.summary());
    assert_eq!(if_range.body, br.body[5..]);
    // If-Range naming another representation: the whole br body.
    let stale_range = s.get_h(
        "/site.css",
        &[
            ("Accept-Encoding", "br"),
            ("Range", "bytes=5-"),
            ("If-Range", &identity_tag),
        ],
    );
    assert_eq!(stale_range.status, 200, "{}", stale_range.summary());
    assert_eq!(stale_range.body, br.body);
}

#[test]
fn a_changed_file_is_never_answered_with_the_old_files_encodings() {
    let f = Fixture::new();
    let (v1, v2) = (css("v1"), css("v2"));
    f.write("site.css", &v1);
    let s = Server::start(&f.root, &config_with(""));
    s.get("/site.css");
    let old_br = wait_for_br(&s, "/site.css");
    assert_eq!(unbrotli(&old_br.body), v1);
    let old_tag = old_br.header("etag").unwrap().to_string();

    replace_atomically(&f.path("site.css"), &v2);
    // Once any answer shows the new file, every later br answer is of it.
    let mut seen_new = false;
    let new_br = poll_until(MADE_TIMEOUT, || {
        let r = s.get_h("/site.css", &[("Accept-Encoding", "br, gzip")]);
        assert_eq!(r.status, 200, "{}", r.summary());
        let (body, tag) = (
            match r.header("content-encoding") {
                Some("br") => unbrotli(&r.body),
                Some("gzip") => gunzip(&r.body),
                _ => r.body.clone(),
            },
            r.header("etag").unwrap_or_default(),
        );
        if body == v2 {
            seen_new = true;
            assert_ne!(tag, old_tag);
        } else {
            assert!(
                !seen_new,
                "the old version after the new one: {}",
                r.summary()
            );
            assert_eq!(body, v1);
        }
        seen_new && r.header("content-encoding") == Some("br")
    });
    assert!(new_br, "br of the new version made");
    let gz = s.get_h("/site.css", &GZIP);
    assert_eq!(gunzip(&gz.body), v2);
}

#[test]
fn files_with_siblings_keep_them_and_a_sibling_that_appears_wins() {
    let f = Fixture::new();
    let v1 = css("v1");
    f.write("site.css", &v1);
    f.write("only-gz.css", &css("g"));
    let gz_sibling = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut e, &css("g")).unwrap();
        e.finish().unwrap()
    };
    f.write("only-gz.css.gz", &gz_sibling);
    let s = Server::start(&f.root, &config_with(""));

    // The fixture's app.css has both siblings: served as they are.
    let app = s.get_h("/app.css", &BR);
    assert_eq!(app.body, app_css_br());
    let only_gz = s.get_h("/only-gz.css", &[("Accept-Encoding", "br, gzip")]);
    assert_eq!(only_gz.header("content-encoding"), Some("gzip"));
    assert_eq!(only_gz.body, gz_sibling);

    // site.css has none: br is made. By then only-gz.css has had every
    // chance, and still gets no br of the node's.
    s.get("/site.css");
    let made = wait_for_br(&s, "/site.css");
    let made_tag = made.header("etag").unwrap().to_string();
    let only_gz = s.get_h("/only-gz.css", &[("Accept-Encoding", "br, gzip")]);
    assert_eq!(only_gz.header("content-encoding"), Some("gzip"));
    assert_eq!(only_gz.body, gz_sibling);
    assert_eq!(s.get_h("/app.css", &BR).body, app_css_br());

    // A q11 sibling put beside site.css replaces the node's br after the
    // re-check; the node's gzip goes with it (a file with siblings gets
    // none made).
    let sibling = brotli_q11(&v1);
    f.write("site.css.br", &sibling);
    let replaced = poll_until(CHANGE_TIMEOUT, || s.get_h("/site.css", &BR).body == sibling);
    assert!(replaced, "the sibling is served");
    let r = s.get_h("/site.css", &BR);
    assert_ne!(r.header("etag"), Some(made_tag.as_str()));
    let gz = s.get_h("/site.css", &GZIP);
    assert_eq!(gz.header("content-encoding"), None, "{}", gz.summary());
    assert_eq!(gz.body, v1);
}

fn brotli_q11(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &b[..], &mut out, &params).unwrap();
    out
}

#[test]
fn binary_small_and_switched_off_files_get_no_encodings() {
    let f = Fixture::new();
    f.write("site.css", &css("v1"));
    // Compressible bytes, but a PNG by name and type.
    f.write("big.png", &vec![0u8; 8192]);
    let s = Server::start(&f.root, &config_with(""));
    for path in ["/big.png", "/plain.txt"] {
        let r = s.get_h(path, &[("Accept-Encoding", "br, gzip")]);
        assert_eq!(r.status, 200);
        assert!(
            !r.vary_contains("accept-encoding"),
            "{path}: {}",
            r.summary()
        );
    }
    s.get("/site.css");
    wait_for_br(&s, "/site.css");
    for path in ["/big.png", "/plain.txt"] {
        let r = s.get_h(path, &[("Accept-Encoding", "br, gzip")]);
        assert_eq!(
            r.header("content-encoding"),
            None,
            "{path}: {}",
            r.summary()
        );
        assert!(!r.vary_contains("accept-encoding"), "{path}");
    }

    // compress_local = false: plain identity, and no Vary from the start.
    let off = Server::start(&f.root, &config_with("[cache]\ncompress_local = false\n"));
    for _ in 0..20 {
        let r = off.get_h("/site.css", &[("Accept-Encoding", "br, gzip")]);
        assert_eq!(r.header("content-encoding"), None, "{}", r.summary());
        assert!(!r.vary_contains("accept-encoding"), "{}", r.summary());
    }
    assert_eq!(compression_threads(&off), 0, "no pool without a use for it");
}

#[test]
fn the_encodings_count_in_the_memory_cache() {
    let f = Fixture::new();
    f.write("site.css", &css("v1"));
    let off = Server::start(&f.root, &config_with("[cache]\ncompress_local = false\n"));
    off.get("/site.css");
    let without = metric(&off, "cdn_edge_memory_cache_bytes");

    let s = Server::start(&f.root, &config_with(""));
    s.get("/site.css");
    let br = wait_for_br(&s, "/site.css");
    let gz = s.get_h("/site.css", &GZIP);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let with = metric(&s, "cdn_edge_memory_cache_bytes");
    assert_eq!(metric(&s, "cdn_edge_memory_cache_objects"), 1.0);
    assert!(
        with >= without + (br.body.len() + gz.body.len()) as f64,
        "{without} + {} + {} > {with}",
        br.body.len(),
        gz.body.len()
    );
}

#[test]
fn one_compression_pool_serves_the_origin_and_the_root() {
    let o = common::origin::Origin::start();
    let f = Fixture::new();
    f.write("site.css", &css("v1"));
    let cfg = config_with(&format!(
        "[origin]\nurl = \"{}\"\n[cache]\ncompress_workers = 3\n",
        o.url()
    ));
    let s = Server::start(&f.root, &cfg);
    s.get("/site.css");
    wait_for_br(&s, "/site.css");
    assert_eq!(compression_threads(&s), 3);
}

/// A config serving `root` with `workers` compression threads, and
/// `extra` appended to its `[cache]`.
fn reload_config(root: &std::path::Path, workers: usize, extra: &str) -> String {
    format!(
        "[server]\nroot = {}\nrefresh_ms = 50\n[cache]\ncompress_workers = {workers}\n{extra}",
        toml_path(root)
    )
}

/// Asks for `path` until an answer is identity without
/// `Vary: Accept-Encoding` (local compression off).
fn wait_for_plain(s: &Server, path: &str) {
    let mut last = None;
    let plain = poll_until(CHANGE_TIMEOUT, || {
        let r = s.get_h(path, &BR);
        let done = r.header("content-encoding").is_none() && !r.vary_contains("accept-encoding");
        last = Some(r);
        done
    });
    assert!(plain, "{path}: {}", last.unwrap().summary());
}

#[test]
fn encodings_are_still_made_after_reloads_which_switch_them_off_and_on() {
    let f = Fixture::new();
    f.write("site.css", &css("v1"));
    let n = Node::start(&reload_config(&f.root, 2, ""));
    n.get("/site.css");
    wait_for_br(&n, "/site.css");
    assert_eq!(compression_threads(&n), 2);

    // Quality and level apply on reload; the memory cache (and the
    // encodings in it) is kept; a file first asked for afterwards gets its own.
    let lines = n.reload_ok(&reload_config(
        &f.root,
        2,
        "brotli_quality = 9\ngzip_level = 9\n",
    ));
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(
        n.get_h("/site.css", &BR).header("content-encoding"),
        Some("br")
    );
    f.write("later.css", &css("later"));
    n.get("/later.css");
    let br = wait_for_br(&n, "/later.css");
    assert_eq!(unbrotli(&br.body), css("later"));
    let gz = n.get_h("/later.css", &GZIP);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&gz.body), css("later"));

    // The pool is the process's: its size needs a restart, and a reload
    // starts no second one.
    let lines = n.reload_ok(&reload_config(&f.root, 3, ""));
    assert!(
        lines.len() == 2 && lines[0].contains("cache.compress_workers = 3 needs a restart"),
        "{lines:#?}"
    );
    assert_eq!(compression_threads(&n), 2);

    // Off: the memory cache starts again, and files are plain identity.
    n.reload_ok(&reload_config(&f.root, 2, "compress_local = false\n"));
    wait_for_plain(&n, "/site.css");
    for _ in 0..5 {
        let r = n.get_h("/site.css", &BR);
        assert_eq!(r.header("content-encoding"), None, "{}", r.summary());
    }

    // On again: made again, from the next hits on.
    n.reload_ok(&reload_config(&f.root, 2, ""));
    n.get("/site.css");
    let br = wait_for_br(&n, "/site.css");
    assert_eq!(unbrotli(&br.body), css("v1"));
    assert_eq!(compression_threads(&n), 2);
}

#[test]
fn a_reload_that_turns_local_compression_on_starts_the_threads() {
    let f = Fixture::new();
    f.write("site.css", &css("v1"));
    let n = Node::start(&reload_config(&f.root, 2, "compress_local = false\n"));
    n.get("/site.css");
    wait_for_plain(&n, "/site.css");
    assert_eq!(compression_threads(&n), 0, "no pool without a use for it");
    n.reload_ok(&reload_config(&f.root, 2, ""));
    n.get("/site.css");
    wait_for_br(&n, "/site.css");
    assert_eq!(compression_threads(&n), 2);
}

/// The node's compression threads (their names are cut to 15 bytes in
/// /proc: "cdn-edge-compre").
fn compression_threads(s: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/task", s.pid()))
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.starts_with("cdn-edge-compre"))
        .count()
}
