//! zstd (RFC 8878; in HTTP, RFC 9659) as a third content coding, end to
//! end: `.zst` siblings written by `cdn-edge build` and served to
//! `Accept-Encoding: zstd` under their own ETag (`-zst`), with conditionals,
//! ranges and `Vary`, a tie with br going to the smaller (br, for built
//! files); zstd made on the compression pool for pulled text, kept on disk
//! across a restart; and the coding sent in the access log and the metrics.
//! Every body is decoded by the reference library within the 8 MiB window
//! an HTTP client must accept (`common::oracle::unzstd`).

use crate::build::support::{build_ok, manifest, mfile, Tree};
use crate::common;

use std::path::Path;

use common::oracle::{unbrotli, unzstd};
use common::origin::{Origin, Reply};
use common::*;

const ZSTD: [(&str, &str); 1] = [("Accept-Encoding", "zstd")];

/// A compressible stylesheet of a few KB, different per `version`.
fn css(version: &str) -> Vec<u8> {
    (0..120)
        .map(|i| {
            format!(
                ".{version}-{i} {{ color: #{:06x}; margin: {i}px auto; }}\n",
                i * 7919
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// Polls `path` with `Accept-Encoding: zstd` until it comes back zstd.
fn wait_for_zstd(s: &Server, path: &str) -> Response {
    wait_for_encoding(s, path, "zstd")
}

/// Asserts a 200 in zstd.
fn assert_zstd(r: &Response) {
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        r.header("content-encoding"),
        Some("zstd"),
        "{}",
        r.summary()
    );
}

/// Conditionals and ranges on the zstd representation of `path`, whose
/// full zstd answer is `full`: a 304 for its ETag (and a 200 for another
/// coding's), a 206 of its bytes, and `If-Range` honoured only for its
/// own tag.
fn conditionals_and_ranges_on_zstd(s: &Server, path: &str, full: &Response) {
    let tag = full.header("etag").unwrap();
    let r = s.get_h(path, &[("Accept-Encoding", "zstd"), ("If-None-Match", tag)]);
    assert_eq!(r.status, 304, "{}", r.summary());
    assert_eq!(r.header("etag"), Some(tag));
    assert!(r.vary_contains("accept-encoding"), "{}", r.summary());
    assert!(r.body.is_empty());
    // The zstd tag names the zstd bytes only: identity is sent in full.
    let r = s.get_h(path, &[("If-None-Match", tag)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.header("content-encoding"), None);

    let len = full.body.len();
    let r = s.get_h(
        path,
        &[("Accept-Encoding", "zstd"), ("Range", "bytes=4-20")],
    );
    assert_eq!(r.status, 206, "{}", r.summary());
    assert_eq!(r.header("content-encoding"), Some("zstd"));
    assert_eq!(r.header("etag"), Some(tag));
    let want_range = format!("bytes 4-20/{len}");
    assert_eq!(r.header("content-range"), Some(want_range.as_str()));
    assert!(r.body == full.body[4..=20], "the zstd bytes 4-20");
    let r = s.get_h(
        path,
        &[
            ("Accept-Encoding", "zstd"),
            ("Range", "bytes=-10"),
            ("If-Range", tag),
        ],
    );
    assert_eq!(r.status, 206, "{}", r.summary());
    assert!(r.body == full.body[len - 10..]);
    let r = s.get_h(
        path,
        &[
            ("Accept-Encoding", "zstd"),
            ("Range", "bytes=0-9"),
            ("If-Range", "\"other\""),
        ],
    );
    assert_eq!(r.status, 200, "If-Range of another tag: {}", r.summary());
    assert!(r.body == full.body);
}

/// The access log's lines for `target`, once it holds at least `n` (polled).
fn log_lines_for(log: &Path, target: &str, n: usize) -> Vec<String> {
    let want = format!("\"GET {target} HTTP/1.1\"");
    let mut found = Vec::new();
    let ok = poll_until(CHANGE_TIMEOUT, || {
        found = std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&want))
            .map(str::to_string)
            .collect();
        found.len() >= n
    });
    assert!(
        ok,
        "{} lines for {target}, want {n}: {found:?}",
        found.len()
    );
    found
}

#[test]
fn a_built_tree_serves_its_zst_siblings() {
    let app = css("app").repeat(4);
    let t = Tree::with(&[("css/app.css", app.as_slice())]);
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let m = manifest(&out);
    let fp = mfile(&m, "css/app.css");
    let sibling = std::fs::read(out.join(format!("{fp}.zst"))).unwrap();
    assert_eq!(unzstd(&sibling), app, "the sibling decodes to the file");
    assert_eq!(
        m["css/app.css"]["encodings"]["zstd"].as_u64(),
        Some(sibling.len() as u64),
        "the manifest lists zstd with its size"
    );
    let integrity = m["css/app.css"]["integrity"].as_str().unwrap();
    assert_eq!(
        integrity,
        oracle::sri_sha384(&app),
        "SRI: the decoded bytes"
    );

    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let cfg = config_with(&format!(
        "[log]\naccess = \"{}\"\naccess_flush_ms = 20\n",
        log.display()
    ));
    let s = Server::start(&out, &cfg);
    let path = format!("/{fp}");
    let r = s.get_h(&path, &ZSTD);
    assert_zstd(&r);
    assert!(r.body == sibling, "the sibling's bytes");
    assert_eq!(unzstd(&r.body), app);
    let tag = r.header("etag").unwrap();
    assert!(is_strong_etag(tag) && tag.ends_with("-zst\""), "{tag}");
    assert!(r.vary_contains("accept-encoding"), "{}", r.summary());
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    let head = s.head_h(&path, &ZSTD);
    assert_eq!(head.header("etag"), Some(tag));
    assert_eq!(
        head.header("content-length"),
        Some(sibling.len().to_string().as_str())
    );
    conditionals_and_ranges_on_zstd(&s, &path, &r);

    // A tie of br and zstd goes to the smaller: for a built file, br.
    let br_len = std::fs::metadata(out.join(format!("{fp}.br")))
        .unwrap()
        .len() as usize;
    assert!(br_len < sibling.len(), "brotli 11 beats zstd 19 here");
    for ae in ["gzip, deflate, br, zstd", "zstd, br", "*"] {
        let r = s.get_h(&path, &[("Accept-Encoding", ae)]);
        assert_eq!(r.header("content-encoding"), Some("br"), "{ae}");
        assert_eq!(unbrotli(&r.body), app);
    }
    // A weight still decides before size, and q=0 excludes.
    for (ae, want) in [
        ("br;q=0.9, zstd", Some("zstd")),
        ("br;q=0, zstd;q=0.5, gzip;q=0.4", Some("zstd")),
        ("*, br;q=0", Some("zstd")),
        ("zstd;q=0, gzip", Some("gzip")),
        ("zstd;q=0", None),
    ] {
        let r = s.get_h(&path, &[("Accept-Encoding", ae)]);
        assert_eq!(r.status, 200, "{ae}: {}", r.summary());
        assert_eq!(r.header("content-encoding"), want, "{ae}");
    }

    // The access log and the metrics record the coding sent.
    // (Lines of different workers may reach the file in any order.)
    let lines = log_lines_for(&log, &path, 13);
    let ending = |coding: &str| lines.iter().filter(|l| l.ends_with(coding)).count();
    assert!(ending(" zstd") >= 5, "{lines:#?}");
    assert!(ending(" br") >= 3, "{lines:#?}");
    let metrics = s.get("/metrics").text();
    let sent = |coding: &str| {
        common::disk::counter(
            &metrics,
            &format!("cdn_edge_http_responses_by_encoding_total{{encoding=\"{coding}\"}}"),
        )
    };
    assert!(sent("zstd") >= 5, "{metrics}");
    assert!(sent("br") >= 3, "{metrics}");
    let bytes = common::disk::counter(
        &metrics,
        "cdn_edge_http_response_body_bytes_by_encoding_total{encoding=\"zstd\"}",
    );
    assert!(bytes >= sibling.len() as u64, "{metrics}");
}

#[test]
fn a_build_without_zstd_writes_no_zst_and_the_node_offers_none() {
    let app = css("plain").repeat(4);
    let t = Tree::with(&[("app.css", app.as_slice())]);
    let out = t.out("dist");
    build_ok(&t.src, &out, &["--encodings", "br,gzip"]);
    assert!(!out.join("app.css.zst").exists());
    let s = Server::start(&out, &config_with("[cache]\ncompress_local = true\n"));
    // Siblings are there: the node makes nothing of its own, zstd included.
    let r = s.get_h("/app.css", &[("Accept-Encoding", "zstd, gzip")]);
    assert_eq!(
        r.header("content-encoding"),
        Some("gzip"),
        "{}",
        r.summary()
    );
    let r = s.get_h("/app.css", &ZSTD);
    assert_eq!(r.header("content-encoding"), None, "{}", r.summary());
    assert!(r.body == app);
}

#[test]
fn a_local_file_without_siblings_gets_zstd_from_the_pool() {
    let f = Fixture::new();
    let v1 = css("local");
    f.write("site.css", &v1);
    let s = Server::start(&f.root, &config_with(""));
    let first = s.get_h("/site.css", &ZSTD);
    assert_eq!(first.header("content-encoding"), None, "identity at first");
    assert!(first.vary_contains("accept-encoding"));
    let r = wait_for_zstd(&s, "/site.css");
    assert_eq!(unzstd(&r.body), v1);
    let tag = r.header("etag").unwrap();
    assert!(tag.ends_with("-zst\""), "{tag}");
    assert_ne!(Some(tag), first.header("etag"));
    conditionals_and_ranges_on_zstd(&s, "/site.css", &r);
}

/// An origin serving `/kept.css` (text, cacheable, ETag `"k1"`).
fn origin_with_css(body: &[u8]) -> Origin {
    let o = Origin::start();
    o.route(
        "/kept.css",
        Reply::ok(body.to_vec())
            .header("Content-Type", "text/css")
            .header("Cache-Control", "public, max-age=600")
            .header("ETag", "\"k1\""),
    );
    o
}

#[test]
fn pulled_text_gets_zstd_from_the_pool() {
    let body = css("pulled");
    let o = origin_with_css(&body);
    let f = Fixture::new();
    let cfg = config_with(&format!("[origin]\nurl = \"{}\"\n", o.url()));
    let s = Server::start(&f.root, &cfg);
    let first = s.get_h("/kept.css", &ZSTD);
    assert_eq!(first.status, 200, "{}", first.summary());
    assert_eq!(first.header("etag"), Some("\"k1\""));
    let r = wait_for_zstd(&s, "/kept.css");
    assert_eq!(unzstd(&r.body), body);
    assert_eq!(
        r.header("etag"),
        Some("\"k1-zst\""),
        "the origin's tag, -zst"
    );
    assert!(r.vary_contains("accept-encoding"));
    assert!(r.body.len() < body.len() / 4, "{} bytes", r.body.len());
    conditionals_and_ranges_on_zstd(&s, "/kept.css", &r);
    // Every coding is there; a client weighting zstd first gets it, and
    // a plain tie goes to whichever of br and zstd is smaller.
    let br = s.get_h("/kept.css", &[("Accept-Encoding", "br")]);
    assert_eq!(br.header("content-encoding"), Some("br"));
    let tie = s.get_h("/kept.css", &[("Accept-Encoding", "br, zstd")]);
    let smaller = if br.body.len() <= r.body.len() {
        "br"
    } else {
        "zstd"
    };
    assert_eq!(tie.header("content-encoding"), Some(smaller));
    assert_eq!(o.count("/kept.css"), 1, "made from the stored copy");
}

#[test]
fn zstd_of_a_pulled_object_is_kept_on_disk_across_a_restart() {
    let body = css("disk");
    let o = origin_with_css(&body);
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_disk(&o.url(), dir.path());
    let made = {
        let s = Server::start(&f.root, &cfg);
        assert_eq!(s.get("/kept.css").status, 200);
        let r = wait_for_zstd(&s, "/kept.css");
        // The compression thread writes the encodings beside the object
        // after the swap: wait until the entry on disk holds the zstd bytes.
        let on_disk = poll_until(MADE_TIMEOUT, || {
            common::disk::entry_of(dir.path(), &r.body).is_some()
        });
        assert!(on_disk, "the zstd bytes reach the disk entry");
        r
    };
    let s = Server::start(&f.root, &cfg);
    // The first answer after the restart is already zstd: read from disk,
    // not made again (it would be identity while being made).
    let r = s.get_h("/kept.css", &ZSTD);
    assert_zstd(&r);
    assert_eq!(r.header("etag"), Some("\"k1-zst\""));
    assert!(r.body == made.body);
    assert_eq!(unzstd(&r.body), body);
    conditionals_and_ranges_on_zstd(&s, "/kept.css", &r);
    assert_eq!(o.count("/kept.css"), 1, "served from disk, not the origin");
}
