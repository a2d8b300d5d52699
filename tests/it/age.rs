//! The origin's `Age` read as RFC 9111 §5.1 says, on the real binary in
//! front of a real origin: the first member of a list counts (a list on
//! one line or several field lines), and an invalid value is ignored, as if
//! there were no `Age` — it does not make a fresh response stale.

use crate::common;

use common::origin::{Origin, Reply};
use common::*;

/// A node in front of `o`, and whether its second GET of `path` was a hit
/// after the origin answered the first with `max-age=3600` and `ages`
/// (one field line each).
fn second_get_is_a_hit(path: &str, ages: &[&str]) -> bool {
    let o = Origin::start();
    let mut reply = Reply::ok("body").header("cache-control", "max-age=3600");
    for a in ages {
        reply = reply.header("age", a);
    }
    o.route(path, reply);
    let f = Fixture::new();
    let s = Server::start(
        &f.root,
        &config_with(&format!("[origin]\nurl = \"{}\"\n", o.url())),
    );
    let first = s.get(path);
    assert_eq!(first.status, 200, "{path}");
    let second = s.get(path);
    assert_eq!(second.status, 200, "{path}");
    let hit = second.header("cache-status") == Some("cdn-edge; hit");
    assert_eq!(o.count(path), if hit { 1 } else { 2 }, "{path}");
    hit
}

#[test]
fn an_invalid_age_is_ignored_not_taken_as_stale_section_5_1() {
    for (i, bad) in ["abc", "-7200", "7200.0", "7200;foo=bar", "0x10"]
        .iter()
        .enumerate()
    {
        assert!(
            second_get_is_a_hit(&format!("/invalid-{i}.js"), &[bad]),
            "Age: {bad} must be ignored, leaving the response fresh"
        );
    }
}

#[test]
fn the_first_member_of_a_list_counts_section_5_1() {
    // First member 0: fresh for an hour.
    assert!(second_get_is_a_hit("/zero-first.js", &["0, 7200"]));
    assert!(second_get_is_a_hit("/zero-first-lines.js", &["0", "7200"]));
    // First member 7200, past max-age=3600: stale, so asked again.
    assert!(!second_get_is_a_hit("/old-first.js", &["7200, 0"]));
    assert!(!second_get_is_a_hit("/old-first-lines.js", &["7200", "0"]));
}
