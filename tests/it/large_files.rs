//! Files larger than the memory cache admits are streamed from disk with
//! the same headers, validators and ranges as in-memory ones.

use crate::common;

use common::*;

const SMALL_CACHE: &str = "[cache]\nmemory_bytes = 1048576\nmax_object_bytes = 65536\n";

fn big() -> Vec<u8> {
    noise(0, 300_000)
}

fn fixture() -> Fixture {
    let f = Fixture::new();
    f.write("big.bin", &big());
    f.write("big.txt", &big());
    f.write("big.txt.gz", &big()[..200_000]);
    f
}

#[test]
fn large_file_is_streamed_whole_with_the_same_etag_as_from_memory() {
    let f = fixture();
    let disk = Server::start(&f.root, &config_with(SMALL_CACHE));
    let memory = Server::start(&f.root, &config_with(""));
    for _ in 0..2 {
        let r = disk.get("/big.bin");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, big());
        assert_eq!(r.header("content-length"), Some("300000"));
        assert_eq!(r.header("etag"), memory.get("/big.bin").header("etag"));
        assert_eq!(r.header("cache-control"), Some("public, no-cache"));
        assert!(r.has("last-modified"));
    }
    let h = disk.head_h("/big.bin", &[]);
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), Some("300000"));
    assert!(h.body.is_empty());
}

#[test]
fn large_file_ranges_and_conditionals() {
    let f = fixture();
    let s = Server::start(&f.root, &config_with(SMALL_CACHE));
    let r = s.get_h("/big.bin", &[("range", "bytes=1000-1999")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 1000-1999/300000"));
    assert_eq!(r.body, &big()[1000..2000]);
    let r = s.get_h("/big.bin", &[("range", "bytes=-10")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &big()[299_990..]);
    let r = s.get_h("/big.bin", &[("range", "bytes=300000-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */300000"));
    let etag = s.get("/big.bin").header("etag").unwrap().to_string();
    let r = s.get_h("/big.bin", &[("if-none-match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
}

#[test]
fn large_encoded_sibling_is_negotiated() {
    let f = fixture();
    let s = Server::start(&f.root, &config_with(SMALL_CACHE));
    let r = s.get_h("/big.txt", &[("accept-encoding", "gzip")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.body, &big()[..200_000]);
    assert!(r.vary_contains("accept-encoding"));
}

#[test]
fn replaced_large_file_is_picked_up() {
    let f = fixture();
    let s = Server::start(&f.root, &config_with(SMALL_CACHE));
    let old = s.get("/big.bin");
    let mut new = big();
    new.reverse();
    replace_atomically(&f.path("big.bin"), &new);
    assert!(poll_until(CHANGE_TIMEOUT, || s.get("/big.bin").body == new));
    assert_ne!(s.get("/big.bin").header("etag"), old.header("etag"));
}
