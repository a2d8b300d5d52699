//! Reloads under load and in a loop: SIGHUPs sent while clients hammer the
//! node over keep-alive HTTP/1.1, new connections and h2c fail no request,
//! and a hundred reloads that each replace the root, the origin and the
//! compression threads leave no threads, file descriptors or origin
//! connections behind, nor a growing memory.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::http2::{test_cert, Client, Proto};
use common::origin::{Origin, Reply};
use common::reload::{toml_path, KeepAlive, Node};
use common::*;

/// A pulled text object, long enough to be compressed by the node.
fn pulled_css() -> Vec<u8> {
    app_css()
}

/// Two roots with the same files, two origins with the same object, and a
/// disk cache: reloads between their configs change the root, the origin
/// and what is cached, never what a request gets.
struct Scene {
    roots: [Fixture; 2],
    origins: [Origin; 2],
    disk: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let origins = [Origin::start(), Origin::start()];
        for o in &origins {
            let reply = Reply::ok(pulled_css())
                .header("cache-control", "max-age=600")
                .header("content-type", "text/css");
            o.route("/pulled.css", reply);
        }
        Scene {
            roots: [Fixture::new(), Fixture::new()],
            origins,
            disk: tempfile::tempdir().unwrap(),
        }
    }

    /// Config `i` of a cycle of three, each differing from the others in
    /// root or origin, rules, CORS, limits and compression settings.
    fn config(&self, i: usize) -> String {
        let v = i % 3;
        let side = i % 2;
        format!(
            "[server]\nroot = {root}\nrefresh_ms = {refresh}\n\
             [cache]\ndir = {dir}\nadmission = \"always\"\nbrotli_quality = {q}\ncompress_workers = 2\n\
             default_ttl_secs = {ttl}\n\
             [origin]\nurl = \"{origin}\"\nfirst_byte_timeout_ms = {fb}\n\
             [http2]\nmax_concurrent_streams = {streams}\n\
             [cors]\nallow_origins = {cors}\n\
             [[rules]]\nglob = \"*.txt\"\nheaders = {{ \"X-Generation\" = \"{i}\" }}\n",
            root = toml_path(&self.roots[side].root),
            refresh = 100 + v,
            dir = toml_path(self.disk.path()),
            q = 3 + v,
            ttl = v,
            origin = self.origins[(i / 2) % 2].url(),
            fb = 5_000 + v,
            streams = 64 + v,
            cors = ["[\"*\"]", "[\"https://a.example\"]", "[]"][v],
        )
    }
}

/// What a path must answer with (no `Accept-Encoding`: identity).
fn expected(path: &str) -> Vec<u8> {
    match path {
        "/app.css" => app_css(),
        "/plain.txt" => PLAIN_TXT.to_vec(),
        "/pulled.css" => pulled_css(),
        _ => unreachable!(),
    }
}

const PATHS: [&str; 3] = ["/app.css", "/plain.txt", "/pulled.css"];

/// Requests done and failures seen by the load threads.
#[derive(Default)]
struct Tally {
    done: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

impl Tally {
    fn check(&self, how: &str, path: &str, r: Result<Response, String>) {
        self.done.fetch_add(1, Ordering::Relaxed);
        let why = match r {
            Ok(r) if r.status == 200 && r.body == expected(path) => return,
            Ok(r) => r.summary(),
            Err(e) => e,
        };
        self.failures
            .lock()
            .unwrap()
            .push(format!("{how} {path}: {why}"));
    }
}

#[test]
fn sighups_mid_load_fail_no_request() {
    let scene = Scene::new();
    let n = Node::start(&scene.config(0));
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let cert = test_cert(&["localhost"]);
    let mut threads = Vec::new();
    for t in 0..5 {
        let (tally, stop, addr) = (tally.clone(), stop.clone(), n.addr);
        threads.push(std::thread::spawn(move || {
            let mut kept = KeepAlive::open(addr);
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                let path = PATHS[i % PATHS.len()];
                if t < 3 {
                    tally.check("keep-alive", path, kept.get(path, &[]));
                } else {
                    tally.check("new connection", path, try_request(addr, "GET", path, &[]));
                }
                i += 1;
            }
        }));
    }
    let h2c = Client::new(&n, &cert, Proto::H2c);
    {
        let (tally, stop) = (tally.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let path = PATHS[i % PATHS.len()];
                tally.check("h2c", path, h2c.try_req("GET", path, &[], None));
                i += 1;
            }
        }));
    }
    let reloads = 12;
    for i in 1..=reloads {
        // Reload while requests are under way.
        let before = tally.done.load(Ordering::Relaxed);
        assert!(poll_until(CHANGE_TIMEOUT, || tally
            .done
            .load(Ordering::Relaxed)
            >= before + 20));
        n.reload_ok(&scene.config(i));
    }
    let before = tally.done.load(Ordering::Relaxed);
    assert!(poll_until(CHANGE_TIMEOUT, || tally
        .done
        .load(Ordering::Relaxed)
        >= before + 20));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let failures = tally.failures.lock().unwrap();
    let done = tally.done.load(Ordering::Relaxed);
    eprintln!(
        "{done} requests across {reloads} reloads, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {done} requests failed across {reloads} reloads; first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    // The last config is the one in force.
    let r = n.get("/plain.txt");
    assert_eq!(r.header("x-generation"), Some(reloads.to_string().as_str()));
}

/// `(threads, open fds, VmRSS KiB)` of a process.
fn usage(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64;
    (field("Threads:"), fds, field("VmRSS:"))
}

#[test]
fn a_hundred_reloads_leave_no_threads_fds_or_memory_behind() {
    let scene = Scene::new();
    let n = Node::start(&scene.config(0));
    let requests = |n: &Node| {
        for path in PATHS {
            let r = n.get(path);
            assert_eq!(r.body, expected(path), "{}", r.summary());
        }
        // A second hit on the pulled object offers it for compression.
        n.get_h("/pulled.css", &[("accept-encoding", "br")]);
    };
    let mut i = 0;
    let mut cycle = |n: &Node, count: usize| {
        for _ in 0..count {
            i += 1;
            n.reload_ok(&scene.config(i));
            requests(n);
        }
    };
    cycle(&n, 12);
    let before = usage(n.pid());
    let origin_conns: usize = scene.origins.iter().map(Origin::threads).sum();
    cycle(&n, 100);
    // Compression threads of replaced configs end once their queue drains,
    // and the blocking pool's idle threads after a while: poll.
    let mut after = usage(n.pid());
    poll_until(Duration::from_secs(30), || {
        after = usage(n.pid());
        after.0 <= before.0
    });
    let conns: usize = scene.origins.iter().map(Origin::threads).sum();
    eprintln!(
        "after 12 reloads: {} threads, {} fds, {} KiB RSS, {origin_conns} origin threads; \
         after 100 more: {} threads, {} fds, {} KiB RSS, {conns} origin threads",
        before.0, before.1, before.2, after.0, after.1, after.2
    );
    assert!(after.0 <= before.0, "threads grew: {before:?} -> {after:?}");
    assert!(after.1 <= before.1 + 4, "fds grew: {before:?} -> {after:?}");
    assert!(
        conns <= origin_conns + 4,
        "origin connections grew: {origin_conns} -> {conns}"
    );
    // Not a measure of speed: a bound far above the noise of the
    // allocator, far below a leak of what each reload builds.
    assert!(
        after.2 <= before.2 + 24 * 1024,
        "RSS grew: {before:?} -> {after:?}"
    );
}
