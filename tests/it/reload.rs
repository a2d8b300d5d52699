//! SIGHUP reloads the config file (same file, same flags) and the
//! certificates while serving: rules, CORS, the root, the origin and the
//! certificates change for the next request, connections opened before
//! stay usable, a bad config is refused with one line and the running one
//! stays, restart-only keys are reported, and SIGTERM stays graceful.
//! Reloading under load and reloading a hundred times are in
//! `reload_load.rs`.

use crate::common;

use std::time::Duration;

use common::http2::{test_cert, tls_table, Client, Proto};
use common::origin::{Origin, Reply};
use common::reload::{toml_path, KeepAlive, Node};
use common::*;

/// A second root whose `plain.txt` says so.
fn other_root() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("plain.txt"), b"root b\n").unwrap();
    d
}

#[test]
fn rules_cors_and_root_apply_to_the_next_request_on_old_connections_too() {
    let f = Fixture::new();
    let b = other_root();
    let before = format!(
        "[server]\nroot = {}\n[cors]\nallow_origins = [\"https://a.example\"]\n",
        toml_path(&f.root)
    );
    let n = Node::start(&before);
    let mut kept = KeepAlive::open(n.addr);
    let origin_b = [("origin", "https://b.example")];
    let r = kept.get("/plain.txt", &origin_b).unwrap();
    assert_eq!(r.body, PLAIN_TXT);
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("x-reloaded"), None);

    let after = format!(
        "[server]\nroot = {}\n[cors]\nallow_origins = [\"https://b.example\"]\n\
         [[rules]]\nglob = \"*.txt\"\nheaders = {{ \"X-Reloaded\" = \"yes\" }}\n",
        toml_path(b.path())
    );
    n.reload_ok(&after);
    let shows = |r: &Response| {
        r.body == b"root b\n"
            && r.header("access-control-allow-origin") == Some("https://b.example")
            && r.header("x-reloaded") == Some("yes")
    };
    let mut last = None;
    assert!(
        poll_until(CHANGE_TIMEOUT, || {
            let r = n.get_h("/plain.txt", &origin_b);
            let ok = shows(&r);
            last = Some(r);
            ok
        }),
        "new config not in force: {}",
        last.unwrap().summary()
    );
    // The connection opened before the reload serves on, under the new config.
    let r = kept.get("/plain.txt", &origin_b).unwrap();
    assert!(shows(&r), "{}", r.summary());
    // Files only the old root has are gone with it.
    assert_eq!(kept.get("/app.css", &[]).unwrap().status, 404);
}

#[test]
fn a_symlinked_root_flipped_to_a_new_release_is_served_after_a_reload() {
    let f = Fixture::new();
    let b = other_root();
    let current = f.parent().join("current");
    std::os::unix::fs::symlink(&f.root, &current).unwrap();
    let config = format!(
        "[server]\nroot = {}\nrefresh_ms = 3600000\n",
        toml_path(&current)
    );
    let n = Node::start(&config);
    assert_eq!(n.get("/plain.txt").body, PLAIN_TXT);
    // The deploy: the link now names the new release; the config is the same.
    let next = f.parent().join("next");
    std::os::unix::fs::symlink(b.path(), &next).unwrap();
    std::fs::rename(&next, &current).unwrap();
    n.reload_ok(&config);
    assert_eq!(n.get("/plain.txt").body, b"root b\n");
}

#[test]
fn a_bad_config_is_refused_in_one_line_and_the_running_one_stays() {
    let f = Fixture::new();
    let good = "[[rules]]\nglob = \"*.txt\"\nheaders = { \"X-Gen\" = \"good\" }\n";
    let mut n = Node::with_flags(
        good,
        &[
            "--listen",
            "127.0.0.1:0",
            "--root",
            f.root.to_str().unwrap(),
        ],
    );
    let missing = f.parent().join("missing");
    let cases = [
        ("[server\n", "config.toml"),
        ("[cache]\nadmission = \"sometimes\"\n", "cache.admission"),
        ("[[rules]]\nglob = \"a[\"\n", "rules[0].glob"),
        (
            &format!(
                "[tls]\nlisten = \"127.0.0.1:0\"\ncert = {0}\nkey = {0}\n",
                toml_path(&missing)
            ),
            "tls.cert",
        ),
        ("[origin]\nurl = \"ftp://x\"\n", "origin.url"),
    ];
    for (config, names) in cases {
        let lines = n.reload_with(config);
        assert_eq!(lines.len(), 1, "{config}: {lines:#?}");
        assert!(
            lines[0].contains("refused") && lines[0].contains(names),
            "{config}: {}",
            lines[0]
        );
        let r = n.get("/plain.txt");
        assert_eq!(r.header("x-gen"), Some("good"), "{config}: {}", r.summary());
    }
    // A root that is not there (the flag names it on every reload too).
    std::fs::rename(&f.root, f.parent().join("moved")).unwrap();
    let lines = n.reload_with(good);
    assert!(
        lines.len() == 1 && lines[0].contains("refused") && lines[0].contains("root"),
        "{lines:#?}"
    );
    std::fs::rename(f.parent().join("moved"), &f.root).unwrap();
    // A config file that is gone.
    std::fs::remove_file(&n.file).unwrap();
    let lines = common::reload::reload(&n);
    assert!(
        lines.len() == 1 && lines[0].contains("refused") && lines[0].contains("config.toml"),
        "{lines:#?}"
    );
    // Still up, and a good config applies.
    n.reload_ok(&good.replace("good", "better"));
    assert_eq!(n.get("/plain.txt").header("x-gen"), Some("better"));
    assert!(n.server().wait_exit(Duration::ZERO).is_none());
}

#[test]
fn restart_only_keys_are_reported_and_the_rest_applies() {
    let f = Fixture::new();
    let root = toml_path(&f.root);
    // No --listen flag: the file's server.listen is the one in force.
    let n = Node::with_flags(
        &format!("[server]\nlisten = \"127.0.0.1:0\"\nroot = {root}\nworkers = 2\n"),
        &[],
    );
    let lines = n.reload_ok(&format!(
        "[server]\nlisten = \"127.0.0.1:1\"\nroot = {root}\nworkers = 3\n\
         [cors]\nallow_origins = []\n"
    ));
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[0].contains("server.listen = \"127.0.0.1:1\" needs a restart")
            && lines[0].contains("\"127.0.0.1:0\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("server.workers = 3 needs a restart"),
        "{}",
        lines[1]
    );
    // Still on the port it bound, with the new CORS.
    let r = n.get("/plain.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn certificates_are_swapped_for_new_handshakes_only() {
    let f = Fixture::new();
    let a = test_cert(&["localhost"]);
    let cfg = format!(
        "[server]\nroot = {}\n{}",
        toml_path(&f.root),
        tls_table(&a, "")
    );
    let n = Node::start(&cfg);
    let old = Client::new(&n, &a, Proto::H2Tls);
    assert_eq!(old.peer_certificate("/plain.txt"), a.der);
    // Renewed in place, as certbot does, then reloaded.
    let b = test_cert(&["localhost"]);
    std::fs::copy(&b.cert, &a.cert).unwrap();
    std::fs::copy(&b.key, &a.key).unwrap();
    n.reload_ok(&cfg);
    let new = Client::new(&n, &b, Proto::H2Tls);
    assert_eq!(new.peer_certificate("/plain.txt"), b.der);
    // The connection made before still works (it was verified against A).
    assert_eq!(old.get("/plain.txt", &[]).body, PLAIN_TXT);
    // A broken certificate is refused; B stays.
    std::fs::write(&a.cert, b"not a certificate").unwrap();
    let lines = n.reload_with(&cfg);
    assert!(
        lines.len() == 1 && lines[0].contains("refused") && lines[0].contains("tls.cert"),
        "{lines:#?}"
    );
    let fresh = Client::new(&n, &b, Proto::H1Tls);
    assert_eq!(fresh.peer_certificate("/plain.txt"), b.der);
}

#[test]
fn hsts_reloads_on_https() {
    let f = Fixture::new();
    let cert = test_cert(&["localhost"]);
    let base = format!("[server]\nroot = {}\n", toml_path(&f.root));
    let n = Node::start(&format!("{base}{}", tls_table(&cert, "")));
    let c = Client::new(&n, &cert, Proto::H2Tls);
    assert_eq!(
        c.get("/plain.txt", &[]).header("strict-transport-security"),
        None
    );
    n.reload_ok(&format!(
        "{base}[http2]\nmax_concurrent_streams = 1\n{}",
        tls_table(&cert, "hsts = \"max-age=60\"")
    ));
    let r = c.get("/plain.txt", &[]);
    assert_eq!(r.header("strict-transport-security"), Some("max-age=60"));
}

#[test]
fn the_test_clock_and_the_counters_survive_a_reload() {
    let f = Fixture::new();
    let n = Node::with_flags(
        "",
        &[
            "--listen",
            "127.0.0.1:0",
            "--root",
            f.root.to_str().unwrap(),
        ],
    );
    n.advance(100);
    n.get("/plain.txt");
    n.reload_ok("[cors]\nallow_origins = []\n");
    let r = n.post(CLOCK_PATH, &[], b"5");
    assert_eq!(r.text().trim(), "105", "{}", r.summary());
    // Two requests before the reload (clock, file), one after (clock).
    let metrics = n.get("/metrics").text();
    assert!(
        metrics.contains("cdn_edge_http_requests_total{class=\"2xx\"} 3"),
        "{metrics}"
    );
}

#[test]
fn sigterm_after_reloads_is_graceful() {
    let f = Fixture::new();
    let mut n = Node::with_flags(
        "",
        &[
            "--listen",
            "127.0.0.1:0",
            "--root",
            f.root.to_str().unwrap(),
        ],
    );
    n.reload_ok("[cors]\nallow_origins = []\n");
    n.reload_ok("");
    assert_eq!(n.get("/plain.txt").status, 200);
    n.sigterm();
    let s = n.server();
    let status = s.wait_exit(EXIT_TIMEOUT).expect("exit after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", s.stderr_text());
}

/// A node over `root` pulling from `origin` into the disk cache `dir`;
/// `extra` goes at the end of `[origin]`.
fn pull_config(root: &std::path::Path, origin: &str, dir: &std::path::Path, extra: &str) -> String {
    format!(
        "[server]\nroot = {}\n[cache]\ndir = {}\nadmission = \"always\"\n\
         [origin]\nurl = \"{origin}\"\n{extra}",
        toml_path(root),
        toml_path(dir)
    )
}

#[test]
fn objects_of_another_origin_are_not_served_from_memory_or_disk() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (Origin::start(), Origin::start());
    for (o, body) in [(&one, "one"), (&two, "two")] {
        o.route(
            "/o.css",
            Reply::ok(body).header("cache-control", "max-age=600"),
        );
    }
    let n = Node::start(&pull_config(&f.root, &one.url(), dir.path(), ""));
    assert_eq!(n.get("/o.css").body, b"one");
    assert_eq!(
        n.get("/o.css").header("cache-status"),
        Some("cdn-edge; hit")
    );
    n.reload_ok(&pull_config(&f.root, &two.url(), dir.path(), ""));
    let r = n.get("/o.css");
    assert_eq!(r.body, b"two", "{}", r.summary());
    assert_eq!((one.count("/o.css"), two.count("/o.css")), (1, 1));
}

#[test]
fn the_memory_cache_and_fetches_in_flight_outlive_a_reload_that_keeps_their_origin() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let o = Origin::start();
    o.route(
        "/o.css",
        Reply::ok("kept").header("cache-control", "max-age=600"),
    );
    let slow = Reply::ok("slow")
        .header("cache-control", "max-age=600")
        .delay(Duration::from_secs(2));
    o.route("/slow.css", slow);
    let n = Node::start(&pull_config(&f.root, &o.url(), dir.path(), ""));
    assert_eq!(n.get("/o.css").body, b"kept");
    let first = {
        let addr = n.addr;
        std::thread::spawn(move || request(addr, "GET", "/slow.css", &[]))
    };
    assert!(poll_until(CHANGE_TIMEOUT, || o.count("/slow.css") == 1));
    // Origin timeouts and CORS change: the origin itself does not.
    n.reload_ok(&pull_config(
        &f.root,
        &o.url(),
        dir.path(),
        "first_byte_timeout_ms = 9000\n[cors]\nallow_origins = []\n",
    ));
    let second = request(n.addr, "GET", "/slow.css", &[]);
    assert_eq!(second.body, b"slow");
    assert_eq!(first.join().unwrap().body, b"slow");
    assert_eq!(o.count("/slow.css"), 1, "the fetch in flight was joined");
    let r = n.get("/o.css");
    assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(o.count("/o.css"), 1);
}
