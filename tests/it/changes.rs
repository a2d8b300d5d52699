//! Files that change on disk while the server runs: replaced, deleted,
//! created. Visible within `refresh_ms` (50 here); the tests poll.

use crate::common;

use common::*;
use std::fs;

fn start(f: &Fixture) -> Server {
    Server::start(&f.root, &config_with(""))
}

#[test]
fn replaced_file_gets_new_content_and_etag() {
    let f = Fixture::new();
    let s = start(&f);
    let before = s.get("/plain.txt");
    assert_eq!(before.body, PLAIN_TXT);
    let old_etag = before.header("etag").unwrap().to_string();
    // Warm any cache a few times.
    for _ in 0..3 {
        assert_eq!(s.get("/plain.txt").body, PLAIN_TXT);
    }
    let new = b"brand new content, longer than before\n";
    replace_atomically(&f.path("plain.txt"), new);
    let mut last = None;
    let ok = poll_until(CHANGE_TIMEOUT, || {
        let r = s.get("/plain.txt");
        let done = r.body == new;
        last = Some(r);
        done
    });
    let r = last.unwrap();
    assert!(ok, "new content never served: {}", r.summary());
    assert_eq!(r.status, 200);
    let new_etag = r.header("etag").unwrap();
    assert_ne!(new_etag, old_etag, "ETag must change with content");
    assert_eq!(
        r.header("content-length"),
        Some(new.len().to_string().as_str())
    );
    // The old validator no longer gives 304.
    let r = s.get_h("/plain.txt", &[("If-None-Match", &old_etag)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, new);
}

#[test]
fn file_rewritten_in_place_same_length_is_noticed() {
    let f = Fixture::new();
    let s = start(&f);
    let before = s.get("/data.bin");
    let old_etag = before.header("etag").unwrap().to_string();
    let mut new = data_bin();
    new.reverse();
    fs::write(f.path("data.bin"), &new).unwrap();
    let ok = poll_until(CHANGE_TIMEOUT, || s.get("/data.bin").body == new);
    assert!(ok, "rewritten content never served");
    let r = s.get("/data.bin");
    assert_ne!(r.header("etag"), Some(old_etag.as_str()));
    // Ranges are over the new bytes too.
    let r = s.get_h("/data.bin", &[("Range", "bytes=0-9")]);
    assert_eq!(r.status, 206);
    assert!(r.body == new[..10]);
}

#[test]
fn deleted_file_stops_being_served() {
    let f = Fixture::new();
    let s = start(&f);
    assert_eq!(s.get("/plain.txt").status, 200);
    assert_eq!(s.get("/plain.txt").status, 200);
    fs::remove_file(f.path("plain.txt")).unwrap();
    let mut last = None;
    let ok = poll_until(CHANGE_TIMEOUT, || {
        let r = s.get("/plain.txt");
        let done = r.status == 404;
        last = Some(r);
        done
    });
    assert!(ok, "deleted file still served: {}", last.unwrap().summary());
    let h = s.head_h("/plain.txt", &[]);
    assert_eq!(h.status, 404);
}

#[test]
fn created_file_is_served() {
    let f = Fixture::new();
    let s = start(&f);
    // Ask first, so a cached "not found" would be the thing to refresh.
    assert_eq!(s.get("/fresh.txt").status, 404);
    assert_eq!(s.get("/sub/fresh.css").status, 404);
    fs::write(f.path("fresh.txt"), b"fresh!").unwrap();
    fs::create_dir_all(f.path("sub")).unwrap();
    fs::write(f.path("sub/fresh.css"), b"a{}").unwrap();
    let ok = poll_until(CHANGE_TIMEOUT, || {
        let r = s.get("/fresh.txt");
        r.status == 200 && r.body == b"fresh!"
    });
    assert!(
        ok,
        "created file never served: {}",
        s.get("/fresh.txt").summary()
    );
    let ok = poll_until(CHANGE_TIMEOUT, || s.get("/sub/fresh.css").body == b"a{}");
    assert!(ok, "created file in new dir never served");
    let r = s.get("/sub/fresh.css");
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
}

#[test]
fn replaced_representation_sibling_is_served() {
    let f = Fixture::new();
    let s = start(&f);
    let old = s.get_h("/app.css", &[("Accept-Encoding", "br")]);
    assert_eq!(old.body, app_css_br());
    let old_etag = old.header("etag").unwrap().to_string();
    let new_br = b"NEW-BROTLI-BYTES".to_vec();
    replace_atomically(&f.path("app.css.br"), &new_br);
    let ok = poll_until(CHANGE_TIMEOUT, || {
        s.get_h("/app.css", &[("Accept-Encoding", "br")]).body == new_br
    });
    assert!(ok, "replaced .br never served");
    let r = s.get_h("/app.css", &[("Accept-Encoding", "br")]);
    assert_ne!(r.header("etag"), Some(old_etag.as_str()));
}

#[test]
fn deleted_then_recreated_file_is_served_again() {
    let f = Fixture::new();
    let s = start(&f);
    assert_eq!(s.get("/img.png").status, 200);
    fs::remove_file(f.path("img.png")).unwrap();
    assert!(poll_until(CHANGE_TIMEOUT, || s.get("/img.png").status == 404));
    fs::write(f.path("img.png"), b"\x89PNG again").unwrap();
    assert!(poll_until(CHANGE_TIMEOUT, || {
        let r = s.get("/img.png");
        r.status == 200 && r.body == b"\x89PNG again"
    }));
}
