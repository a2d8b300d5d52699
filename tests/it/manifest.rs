//! The server's use of a root's manifest.json: listed files are immutable,
//! their ETags come from the manifest's hashes (no rehash) when sizes match,
//! and a manifest rewritten while serving is picked up.

use crate::common;

use common::*;

const HASH_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const HASH_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn manifest(file: &str, size: usize, blake3: &str, br: Option<(usize, &str)>) -> String {
    let (enc, enc_b3) = match br {
        Some((n, h)) => (format!("{{\"br\": {n}}}"), format!("{{\"br\": \"{h}\"}}")),
        None => ("{}".to_string(), "{}".to_string()),
    };
    format!(
        "{{\"site.css\": {{\"file\": \"{file}\", \"size\": {size}, \"type\": \"text/css\", \"blake3\": \"{blake3}\", \"integrity\": \"\", \"encodings\": {enc}, \"encodings_blake3\": {enc_b3}}}}}\n"
    )
}

#[test]
fn etags_come_from_the_manifest_when_sizes_match() {
    let f = Fixture::new();
    f.write("site-v1.css", b"body{color:red}");
    f.write("site-v1.css.br", b"BROTLI");
    f.write(
        "manifest.json",
        manifest("site-v1.css", 15, HASH_A, Some((6, HASH_B))).as_bytes(),
    );
    let s = Server::start(&f.root, &config_with(""));
    let r = s.get("/site-v1.css");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("etag"),
        Some(format!("\"{}\"", &HASH_A[..32]).as_str())
    );
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let r = s.get_h("/site-v1.css", &[("accept-encoding", "br")]);
    assert_eq!(
        r.header("etag"),
        Some(format!("\"{}-br\"", &HASH_B[..32]).as_str())
    );
    assert_eq!(
        s.get("/manifest.json").header("cache-control"),
        Some("public, no-cache")
    );
}

#[test]
fn a_size_mismatch_means_the_file_is_hashed() {
    let f = Fixture::new();
    f.write("site-v1.css", b"body{color:red}");
    f.write(
        "manifest.json",
        manifest("site-v1.css", 999, HASH_A, None).as_bytes(),
    );
    let s = Server::start(&f.root, &config_with(""));
    let etag = s.get("/site-v1.css").header("etag").unwrap().to_string();
    assert_ne!(etag, format!("\"{}\"", &HASH_A[..32]));
    assert_eq!(etag.len(), 34);
}

#[test]
fn a_new_manifest_is_picked_up_while_serving() {
    let f = Fixture::new();
    f.write("site-v2.css", b"body{color:blue}");
    let s = Server::start(&f.root, &config_with(""));
    assert_eq!(
        s.get("/site-v2.css").header("cache-control"),
        Some("public, no-cache")
    );
    replace_atomically(
        &f.path("manifest.json"),
        manifest("site-v2.css", 16, HASH_A, None).as_bytes(),
    );
    replace_atomically(&f.path("site-v2.css"), b"body{color:blue}");
    assert!(poll_until(CHANGE_TIMEOUT, || {
        s.get("/site-v2.css").header("cache-control") == Some("public, max-age=31536000, immutable")
    }));
}

#[test]
fn an_invalid_manifest_does_not_stop_serving() {
    let f = Fixture::new();
    f.write("manifest.json", b"{ not json");
    let s = Server::start(&f.root, &config_with(""));
    assert_eq!(s.get("/plain.txt").status, 200);
    assert_eq!(s.get("/manifest.json").status, 200);
}
