//! Compression dictionaries through the pull path (RFC 9842 with RFC
//! 9111): an origin's `Use-As-Dictionary` reaches clients as sent; a
//! response that varies on `Available-Dictionary` is stored once per value
//! of it; an origin that answers with its own `dcz` (having been asked
//! for identity) is passed on only to the clients whose `Accept-Encoding`
//! and `Available-Dictionary` it was made for, never decoded or re-encoded;
//! and pulled versions of a hashed name get the node's own dictionary field
//! and deltas against the version before, which the reference decoders
//! turn back into the new bytes.

use crate::common;

use base64::Engine;
use common::origin::{Origin, Reply};
use common::*;

fn edge(origin: &Origin) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!("[origin]\nurl = \"{}\"\n", origin.url()));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

const UAD: &str = "match=\"/app/*.js\", match-dest=(\"script\"), id=\"v1\"";
const DICT_A: &str = ":47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:";
const DICT_B: &str = ":ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs=:";

#[test]
fn an_origins_use_as_dictionary_passes_through() {
    let o = Origin::start();
    o.route(
        "/app/v1.js",
        Reply::ok("export const v = 1;\n")
            .header("Cache-Control", "max-age=600")
            .header("Content-Type", "text/javascript")
            .header("Use-As-Dictionary", UAD),
    );
    let (_f, s) = edge(&o);
    for _ in 0..2 {
        let r = s.get_h("/app/v1.js", &[("accept-encoding", "br")]);
        assert_eq!(r.status, 200, "{}", r.summary());
        assert_eq!(r.header("use-as-dictionary"), Some(UAD), "{}", r.summary());
    }
    assert_eq!(o.count("/app/v1.js"), 1, "stored");
}

#[test]
fn a_response_varying_on_available_dictionary_is_stored_per_value() {
    let o = Origin::start();
    o.route(
        "/app/v2.js",
        Reply::ok("dict=")
            .echo_header("available-dictionary")
            .header("Cache-Control", "max-age=600")
            .header("Vary", "Available-Dictionary"),
    );
    let (_f, s) = edge(&o);
    let get = |d: Option<&str>| {
        let mut h = vec![("accept-encoding", "identity")];
        if let Some(d) = d {
            h.push(("available-dictionary", d));
        }
        let r = s.get_h("/app/v2.js", &h);
        assert_eq!(r.status, 200, "{}", r.summary());
        assert!(r.vary_contains("available-dictionary"), "{}", r.summary());
        r.text()
    };
    assert_eq!(get(Some(DICT_A)), format!("dict={DICT_A}"));
    assert_eq!(get(Some(DICT_B)), format!("dict={DICT_B}"));
    assert_eq!(get(None), "dict=");
    assert_eq!(get(Some(DICT_A)), format!("dict={DICT_A}"));
    assert_eq!(o.count("/app/v2.js"), 3, "one fetch per value");
    // The origin was sent the client's field as it came.
    let seen = o.requests("/app/v2.js");
    assert_eq!(seen[0].header("available-dictionary"), Some(DICT_A));
}

#[test]
fn an_origins_own_delta_reaches_only_the_clients_it_was_made_for() {
    let o = Origin::start();
    let delta: Vec<u8> = [0x5e, 0x2a, 0x4d, 0x18, 0x20, 0, 0, 0]
        .into_iter()
        .chain([0xab; 32])
        .chain(*b"zstd frame bytes")
        .collect();
    o.route(
        "/app/v3.js",
        Reply::ok(delta.clone())
            .header("Cache-Control", "max-age=600")
            .header("Content-Encoding", "dcz")
            .header("Vary", "Accept-Encoding, Available-Dictionary"),
    );
    let (_f, s) = edge(&o);
    let chrome = "gzip, deflate, br, zstd, dcb, dcz";
    let r = s.get_h(
        "/app/v3.js",
        &[
            ("accept-encoding", chrome),
            ("available-dictionary", DICT_A),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.header("content-encoding"), Some("dcz"));
    assert_eq!(r.body, delta, "passed on byte for byte");
    // The same client again: from the store.
    let again = s.get_h(
        "/app/v3.js",
        &[
            ("accept-encoding", chrome),
            ("available-dictionary", DICT_A),
        ],
    );
    assert_eq!(again.body, delta);
    assert_eq!(again.header("cache-status"), Some("cdn-edge; hit"));
    assert_eq!(o.count("/app/v3.js"), 1);
    // Another dictionary, or no dictionary coding: never that stored delta.
    for h in [
        vec![
            ("accept-encoding", chrome),
            ("available-dictionary", DICT_B),
        ],
        vec![("accept-encoding", "br")],
    ] {
        s.get_h("/app/v3.js", &h);
    }
    assert_eq!(o.count("/app/v3.js"), 3, "each its own variant");
}

/// A script of many functions; `v` changes one line.
fn script(v: usize) -> String {
    (0..3000)
        .map(|i| {
            let k = if i == 1500 { v } else { 1 };
            format!("export function f{i}(x) {{ return x * {k} + {i}; }}\n")
        })
        .collect()
}

#[test]
fn pulled_versions_of_a_hashed_name_get_deltas_against_the_one_before() {
    deltas_between(
        "/js/app.0123456789.js",
        "/js/app.abcdef0123.js",
        "match=\"/js/app.*.js\", match-dest=(\"script\"), id=\"js/app.js\"",
    );
}

/// A bundler's names (Vite's `-` and 8 base64url characters) are found by
/// the node's fingerprint patterns as its own are.
#[test]
fn pulled_versions_of_a_vite_name_get_deltas_against_the_one_before() {
    deltas_between(
        "/assets/index-DiwrgTda.js",
        "/assets/index-BxK3f_9a.js",
        "match=\"/assets/index-*.js\", match-dest=(\"script\"), id=\"assets/index.js\"",
    );
}

/// Pulls `first` then `second` (two versions of one name) and checks the
/// dictionary field `use_as` on the first and both deltas of the second
/// against it.
fn deltas_between(first: &str, second: &str, use_as: &str) {
    let o = Origin::start();
    let (v1, v2) = (script(1), script(2));
    for (path, body) in [(first, &v1), (second, &v2)] {
        o.route(
            path,
            Reply::ok(body.clone())
                .header("Cache-Control", "public, max-age=31536000, immutable")
                .header("Content-Type", "text/javascript")
                .header("ETag", "\"o1\""),
        );
    }
    let (_f, s) = edge(&o);
    // v1 is pulled; once its encodings are made, it is a dictionary for
    // every version of the name.
    let r = wait_for_encoding(&s, first, "br");
    assert_eq!(r.header("use-as-dictionary"), Some(use_as));
    // v2 is pulled next: its deltas are made against v1, still held.
    wait_for_encoding(&s, second, "br");
    let sha = base64::engine::general_purpose::STANDARD.encode(oracle::sha256(v1.as_bytes()));
    let available = format!(":{sha}:");
    for coding in ["dcz", "dcb"] {
        let r = s.get_h(
            second,
            &[
                ("accept-encoding", coding),
                ("available-dictionary", &available),
            ],
        );
        assert_eq!(r.status, 200, "{}", r.summary());
        assert_eq!(
            r.header("content-encoding"),
            Some(coding),
            "{}",
            r.summary()
        );
        let decoded = match coding {
            "dcz" => oracle::undcz(&r.body, v1.as_bytes()),
            _ => oracle::undcb(&r.body, v1.as_bytes()),
        };
        assert_eq!(decoded, v2.as_bytes());
        assert!(r.body.len() < 200, "{coding}: {} bytes", r.body.len());
        assert!(r.vary_contains("available-dictionary"), "{}", r.summary());
        let etag = r.header("etag").unwrap();
        assert!(etag.starts_with(&format!("\"o1-{coding}-")), "{etag}");
    }
    // Without the field, the plain br; the origin was asked once per URL.
    let plain = s.get_h(second, &[("accept-encoding", "br")]);
    assert_eq!(oracle::unbrotli(&plain.body), v2.as_bytes());
    assert!(plain.vary_contains("available-dictionary"));
    assert_eq!(o.count(second), 1);
}

#[test]
fn an_origins_own_dictionary_field_is_kept_over_the_nodes() {
    let o = Origin::start();
    o.route(
        "/js/lib.0123456789.js",
        Reply::ok(script(1))
            .header("Cache-Control", "max-age=600")
            .header("Content-Type", "text/javascript")
            .header("Use-As-Dictionary", UAD),
    );
    let (_f, s) = edge(&o);
    let r = wait_for_encoding(&s, "/js/lib.0123456789.js", "br");
    assert_eq!(r.header_all("use-as-dictionary"), [UAD]);
}

/// A pulled object's deltas and the node's dictionary field are written
/// beside it in the disk cache with its encodings: after a restart they
/// are served from disk (the origin is not asked again), a 304
/// revalidation keeps them, and the record it rewrites still has them.
#[test]
fn pulled_deltas_survive_a_restart_and_a_revalidation() {
    let o = Origin::start();
    let (v1, v2) = (script(1), script(2));
    let (first, second) = ("/js/app.0123456789.js", "/js/app.abcdef0123.js");
    for (path, body, tag) in [(first, &v1, "\"a1\""), (second, &v2, "\"a2\"")] {
        o.route(
            path,
            Reply::ok(body.clone())
                .header("Cache-Control", "public, max-age=600")
                .header("Content-Type", "text/javascript")
                .header("ETag", tag)
                .etag_304(tag),
        );
    }
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_disk(&o.url(), dir.path());
    let sha = base64::engine::general_purpose::STANDARD.encode(oracle::sha256(v1.as_bytes()));
    let available = format!(":{sha}:");
    let ask = [
        ("accept-encoding", "dcz, br"),
        ("available-dictionary", available.as_str()),
    ];
    let etag = {
        let s = Server::start(&f.root, &cfg);
        wait_for_encoding(&s, first, "br");
        wait_for_encoding(&s, second, "br");
        let r = s.get_h(second, &ask);
        assert_eq!(r.header("content-encoding"), Some("dcz"), "{}", r.summary());
        // Written over its disk entry after the swap.
        assert!(poll_until(std::time::Duration::from_secs(20), || {
            disk_holds(dir.path(), b"\"dcz:")
        }));
        r.header("etag").unwrap().to_string()
    };
    assert!(etag.starts_with("\"a2-dcz-"), "{etag}");
    let check = |s: &Server| {
        let r = s.get_h(second, &ask);
        assert_eq!(r.header("content-encoding"), Some("dcz"), "{}", r.summary());
        assert_eq!(oracle::undcz(&r.body, v1.as_bytes()), v2.as_bytes());
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert!(r.vary_contains("available-dictionary"), "{}", r.summary());
    };
    let s = Server::start(&f.root, &cfg);
    check(&s);
    let r = s.get_h(first, &[("accept-encoding", "br")]);
    assert_eq!(
        r.header("use-as-dictionary"),
        Some("match=\"/js/app.*.js\", match-dest=(\"script\"), id=\"js/app.js\""),
        "{}",
        r.summary()
    );
    assert_eq!((o.count(first), o.count(second)), (1, 1), "read from disk");
    // Stale: a 304 confirms it, and the deltas stay.
    advance(&o, &s, 601);
    check(&s);
    assert_eq!(o.count(second), 2, "revalidated");
    drop(s);
    let s = Server::start(&f.root, &cfg);
    check(&s);
    assert_eq!(o.count(second), 2);
}

/// Whether some entry file of a disk cache directory holds `needle`.
fn disk_holds(dir: &std::path::Path, needle: &[u8]) -> bool {
    disk_entry_files(dir)
        .iter()
        .any(|p| std::fs::read(p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)))
}

/// A wave larger than memory lets the previous version go from memory to
/// the disk cache: the next version's deltas are made against it there.
#[test]
fn the_previous_version_is_read_back_from_disk_for_the_delta() {
    let o = Origin::start();
    let small = |v: usize| script(v)[..40_000].to_string();
    let (v1, v2) = (small(1), small(2));
    let (first, second) = ("/js/app.0123456789.js", "/js/app.abcdef0123.js");
    for (path, body) in [(first, &v1), (second, &v2)] {
        o.route(
            path,
            Reply::ok(body.clone())
                .header("Cache-Control", "public, max-age=600")
                .header("Content-Type", "text/javascript"),
        );
    }
    let others = 100;
    for i in 0..others {
        let noise: Vec<u8> = (0..40_000u32).map(|j| (j * 7 + i * 13) as u8).collect();
        o.route(
            &format!("/other{i}.bin"),
            Reply::ok(noise).header("Cache-Control", "max-age=600"),
        );
    }
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(&format!(
        "[origin]\nurl = \"{}\"\n[cache]\nmemory_bytes = {}\nmax_object_bytes = 65536\n\
         admission = \"always\"\ndir = \"{}\"\n",
        o.url(),
        1 << 20,
        dir.path().display()
    ));
    let s = Server::start(&f.root, &cfg);
    wait_for_encoding(&s, first, "br");
    // 4 MB through a 1 MiB cache: v1 is on disk only.
    for i in 0..others {
        assert_eq!(s.get(&format!("/other{i}.bin")).status, 200);
    }
    wait_for_encoding(&s, second, "br");
    let sha = base64::engine::general_purpose::STANDARD.encode(oracle::sha256(v1.as_bytes()));
    let available = format!(":{sha}:");
    let r = s.get_h(
        second,
        &[
            ("accept-encoding", "dcz"),
            ("available-dictionary", &available),
        ],
    );
    assert_eq!(r.header("content-encoding"), Some("dcz"), "{}", r.summary());
    assert_eq!(oracle::undcz(&r.body, v1.as_bytes()), v2.as_bytes());
    assert_eq!(o.count(first), 1, "v1 was not fetched again");
}
