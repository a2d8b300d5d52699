//! A failed leader does not become a herd (issue 18, item 7): 200
//! concurrent misses on a hanging origin, a 503 storm and a truncated-body
//! storm each cost one origin request (a small bounded number when the lock
//! age is shorter than the failure), and every client gets the leader's
//! answer: the same status, the origin's own 5xx only when nothing in it is
//! personal. The next request after the failure asks again.

use crate::common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::origin::{Origin, Reply};
use common::*;

const CLIENTS: usize = 200;

fn edge(origin: &Origin, extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!(
        "[origin]\nurl = \"{}\"\nconnect_timeout_ms = 1000\n{extra}",
        origin.url()
    ));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

/// `CLIENTS` clients GET `path` at once (each on its own connection,
/// released together by a barrier); their responses, in no order.
fn storm(s: &Server, path: &str, headers: &[(&str, &str)]) -> Vec<Response> {
    let addr = s.addr;
    let start = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let start = start.clone();
            let path = path.to_string();
            let headers: Vec<(String, String)> = headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            thread::spawn(move || {
                let h: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                start.wait();
                request(addr, "GET", &path, &h)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn statuses(rs: &[Response]) -> Vec<u16> {
    let mut v: Vec<u16> = rs.iter().map(|r| r.status).collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn a_hanging_origin_is_asked_once_and_every_client_gets_its_504() {
    let o = Origin::start();
    o.route("/hang.js", Reply::ok("late").delay(Duration::from_secs(30)));
    // The lock age (5 s) is longer than the first-byte timeout: the
    // waiters see the leader fail.
    let (_f, s) = edge(
        &o,
        "first_byte_timeout_ms = 2000\ntotal_timeout_ms = 4000\nlock_timeout_ms = 5000\n",
    );
    let rs = storm(&s, "/hang.js", &[]);
    assert_eq!(statuses(&rs), [504], "{}", rs[0].summary());
    assert!(rs.iter().all(|r| r.text().contains("timed out")));
    assert_eq!(o.count("/hang.js"), 1, "the waiters did not each ask again");
}

#[test]
fn a_lock_age_shorter_than_the_failure_sends_one_more_request_per_period() {
    let o = Origin::start();
    o.route(
        "/hang.css",
        Reply::ok("late").delay(Duration::from_secs(30)),
    );
    let (_f, s) = edge(
        &o,
        "first_byte_timeout_ms = 2000\ntotal_timeout_ms = 4000\nlock_timeout_ms = 500\n",
    );
    let rs = storm(&s, "/hang.css", &[]);
    assert_eq!(statuses(&rs), [504], "{}", rs[0].summary());
    // The leader, then one request per 500 ms until it failed at 2 s (3),
    // with slack for a loaded machine; never one per waiting client.
    let n = o.count("/hang.css");
    assert!((1..=8).contains(&n), "{n} origin requests");
}

#[test]
fn a_503_storm_is_one_origin_request_and_the_next_request_asks_again() {
    let o = Origin::start();
    o.route(
        "/busy.js",
        Reply::status(503, "down for maintenance")
            .header("retry-after", "30")
            .delay(Duration::from_millis(700)),
    );
    let (_f, s) = edge(&o, "first_byte_timeout_ms = 5000\n");
    let rs = storm(&s, "/busy.js", &[]);
    assert_eq!(statuses(&rs), [503]);
    assert!(
        rs.iter().all(|r| r.body == b"down for maintenance"),
        "nothing in it is personal: every client gets the origin's answer"
    );
    assert_eq!(o.count("/busy.js"), 1);
    // No hit-for-pass after a failure: the next request leads once more,
    // and what it gets is stored as usual.
    o.route(
        "/busy.js",
        Reply::ok("back").header("cache-control", "max-age=60"),
    );
    assert_eq!(s.get("/busy.js").body, b"back");
    assert_eq!(s.get("/busy.js").body, b"back");
    assert_eq!(o.count("/busy.js"), 2);
}

#[test]
fn a_personal_5xx_reaches_its_own_client_only() {
    let o = Origin::start();
    o.route(
        "/account.js",
        Reply::status(500, "stack trace of alice's session")
            .header("set-cookie", "session=alice")
            .delay(Duration::from_millis(700)),
    );
    let (_f, s) = edge(&o, "first_byte_timeout_ms = 5000\n");
    let rs = storm(&s, "/account.js", &[]);
    assert_eq!(statuses(&rs), [500]);
    assert_eq!(o.count("/account.js"), 1);
    let own: Vec<_> = rs
        .iter()
        .filter(|r| r.has("set-cookie") || r.text().contains("alice"))
        .collect();
    assert_eq!(
        own.len(),
        1,
        "only the leader's client sees the origin's answer"
    );
    for r in rs.iter().filter(|r| !r.text().contains("alice")) {
        assert_eq!(r.text(), "origin server error\n");
    }
}

#[test]
fn a_truncated_body_storm_is_one_origin_request() {
    let o = Origin::start();
    o.route(
        "/cut.js",
        Reply::ok(vec![b'x'; 100_000])
            .header("cache-control", "max-age=60")
            .cut_after(1_000)
            .delay(Duration::from_millis(700)),
    );
    let (_f, s) = edge(&o, "first_byte_timeout_ms = 5000\n");
    let rs = storm(&s, "/cut.js", &[]);
    assert_eq!(statuses(&rs), [502], "{}", rs[0].summary());
    assert!(rs.iter().all(|r| r.text().contains("broken")));
    assert_eq!(o.count("/cut.js"), 1);
}

#[test]
fn a_hang_up_storm_is_one_origin_request() {
    let o = Origin::start();
    o.route(
        "/drop.css",
        Reply::hang_up().delay(Duration::from_millis(700)),
    );
    let (_f, s) = edge(&o, "first_byte_timeout_ms = 5000\nretries = 0\n");
    let rs = storm(&s, "/drop.css", &[]);
    assert_eq!(statuses(&rs), [502], "{}", rs[0].summary());
    assert!(rs.iter().all(|r| r.text().contains("unreachable")));
    assert_eq!(o.count("/drop.css"), 1);
}

#[test]
fn an_uncacheable_answer_still_goes_to_each_client_alone() {
    let o = Origin::start();
    o.route(
        "/me.json",
        Reply::ok("hello ")
            .header("cache-control", "private")
            .echo_header("cookie")
            .delay(Duration::from_millis(300)),
    );
    let (_f, s) = edge(&o, "first_byte_timeout_ms = 5000\n");
    let addr = s.addr;
    let start = Arc::new(Barrier::new(20));
    let threads: Vec<_> = (0..20)
        .map(|i| {
            let start = start.clone();
            thread::spawn(move || {
                let cookie = format!("user={i}");
                start.wait();
                let r = request(addr, "GET", "/me.json", &[("cookie", &cookie)]);
                (cookie, r)
            })
        })
        .collect();
    for t in threads {
        let (cookie, r) = t.join().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("hello {cookie}"), "its own answer");
    }
    assert_eq!(o.count("/me.json"), 20);
}

#[test]
fn waiters_of_a_leader_whose_client_went_away_are_answered_with_one_more_request_at_most() {
    let o = Origin::start();
    o.route(
        "/left.css",
        Reply::ok("a{}")
            .header("cache-control", "max-age=60")
            .delay(Duration::from_millis(700)),
    );
    let (_f, s) = edge(&o, "first_byte_timeout_ms = 5000\n");
    let mut leader = std::net::TcpStream::connect(s.addr).unwrap();
    std::io::Write::write_all(
        &mut leader,
        b"GET /left.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert!(poll_until(CHANGE_TIMEOUT, || o.count("/left.css") == 1));
    let addr = s.addr;
    let waiters: Vec<_> = (0..20)
        .map(|_| thread::spawn(move || request(addr, "GET", "/left.css", &[])))
        .collect();
    // The leader's client leaves while the fetch is in flight.
    drop(leader);
    for w in waiters {
        let r = w.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.summary());
        assert_eq!(r.body, b"a{}");
    }
    // The fetch went on, or one waiter took it over: never one per waiter.
    assert!(o.count("/left.css") <= 2, "{}", o.count("/left.css"));
}
