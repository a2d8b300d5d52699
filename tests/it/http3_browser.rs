//! HTTP/3 in a real browser: headless Chromium loads a page from the node
//! whose stylesheet, script, font (WOFF2) and image come from the node
//! too; the access log says `HTTP/3.0` for each, and the DOM shows the
//! script ran after the stylesheet applied, the font loaded and the image
//! decoded, each over `h3` by Resource Timing's `nextHopProtocol`.
//!
//! Two ways Chromium comes to HTTP/3, both tested:
//! - told to (`--origin-to-force-quic-on=localhost:PORT`): QUIC at once,
//!   to the UDP port with the number of the HTTPS one, so the node
//!   listens for HTTPS and HTTP/3 on one port number
//!   (`common::http3::start_on_free_port`);
//! - as browsers do: a first load over HTTP/2 learns `Alt-Svc: h3=":PORT"`
//!   (kept in the profile), the next load in the same profile uses HTTP/3.
//!   Chromium uses an advertised QUIC endpoint only with a certificate from
//!   a known root, except for the hosts of `--origin-to-force-quic-on`
//!   (its net log on the first try: "TLS handshake failure … certificate
//!   unknown", then the alternative service marked broken): so these
//!   tests force QUIC on `localhost:9`, a port nothing listens on and no
//!   page names, which lets `localhost`'s test certificate pass.
//!
//! With QUIC blocked (a UDP black hole on the port: every datagram read,
//! none answered), a forced origin does not fall back to TCP: the load
//! fails with `net::ERR_QUIC_PROTOCOL_ERROR` after the handshake times out
//! (seen with Chromium 156). With `Alt-Svc` learned from an earlier visit,
//! Chromium races QUIC against TCP, and the page loads whole over HTTP/2:
//! that is what a browser behind a firewall dropping UDP meets, and what
//! the last test checks.
//!
//! The test certificate is taken by the SHA-256 of its public key
//! (`--ignore-certificate-errors-spki-list`, which QUIC honours too). The
//! files: `http3_browser/box.woff2`, a font of one glyph (`X`, a box) made
//! for these tests with fontTools' FontBuilder, 300 bytes, and
//! `http3_browser/red-4x3.png`, a 4x3 red PNG.

use crate::common;

use std::net::UdpSocket;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::browser;
use common::http2::{test_cert, TestCert};
use common::http3::{same_port_tables, start_on_free_port, start_on_port};
use common::{oracle, poll_until, Server};

/// The font: one glyph, `X`, a box.
const FONT: &[u8] = include_bytes!("http3_browser/box.woff2");

/// The image: 4x3 red pixels.
const PNG: &[u8] = include_bytes!("http3_browser/red-4x3.png");

/// The page: a stylesheet, an image, a script.
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>h3</title>
<link rel="stylesheet" href="/css/page.css">
</head><body>
<p id="box">X</p>
<img id="img" src="/img/red-4x3.png" alt="">
<p id="out">loading</p>
<script src="/js/page.js"></script>
</body></html>
"#;

/// The stylesheet: the font, and a colour the script reads back.
const CSS: &str = r#"@font-face {
  font-family: EdgeBox;
  src: url(/fonts/box.woff2) format("woff2");
}
#box { font-family: EdgeBox, monospace; color: rgb(1, 2, 3); }
"#;

/// The script: once the page loaded (stylesheet and image), loads the
/// font and writes what it sees into `#out`: the colour the stylesheet
/// gave, the font's status, the image's size, and the protocol of every
/// resource (Resource Timing's `nextHopProtocol`) and of the page.
const JS: &str = r#"window.addEventListener("load", async () => {
  const out = [];
  out.push("color=" + getComputedStyle(document.getElementById("box")).color);
  let font = "none";
  try {
    const faces = await document.fonts.load("16px EdgeBox", "X");
    font = faces.length + ":" + (faces[0] ? faces[0].status : "-");
  } catch (e) {
    font = "error:" + e;
  }
  out.push("font=" + font);
  const img = document.getElementById("img");
  out.push("img=" + img.naturalWidth + "x" + img.naturalHeight);
  const nav = performance.getEntriesByType("navigation")[0];
  out.push("page=" + (nav ? nav.nextHopProtocol : "?"));
  const res = performance.getEntriesByType("resource")
    .map((e) => new URL(e.name).pathname + "@" + e.nextHopProtocol)
    .sort();
  out.push("res=" + res.join(","));
  document.getElementById("out").textContent = out.join(" ");
});
"#;

/// The site's files.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files: [(&str, &[u8]); 5] = [
        ("index.html", PAGE.as_bytes()),
        ("css/page.css", CSS.as_bytes()),
        ("js/page.js", JS.as_bytes()),
        ("fonts/box.woff2", FONT),
        ("img/red-4x3.png", PNG),
    ];
    for (name, bytes) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    dir
}

/// The paths the page loads besides itself.
const SUBRESOURCES: [&str; 4] = [
    "/css/page.css",
    "/js/page.js",
    "/fonts/box.woff2",
    "/img/red-4x3.png",
];

/// The node's config for `port`: the access log on stdout, flushed often,
/// `[tls]` there, and with `h3` `[http3]` on the same port number.
fn config(cert: &TestCert, port: u16, h3: bool) -> String {
    common::config_with(&format!(
        "[log]\naccess = \"stdout\"\naccess_flush = \"20ms\"\n{}",
        same_port_tables(cert, port, h3.then_some(""))
    ))
}

/// A port of `localhost` QUIC is forced on that nothing listens on and no
/// page names: it lets Chromium take the test certificate for QUIC to an
/// advertised endpoint of `localhost` (see the module's doc).
const UNUSED_FORCED_PORT: u16 = 9;

/// Chromium's flags for a node with `cert`: QUIC forced on for
/// `localhost:FORCED`, the certificate taken by its key, and the machine's
/// closed network left alone (no background fetches, no Google lookups).
fn flags(cert: &TestCert, forced: u16) -> Vec<String> {
    let spki = base64::engine::general_purpose::STANDARD.encode(oracle::sha256(&cert.spki));
    vec![
        format!("--origin-to-force-quic-on=localhost:{forced}"),
        format!("--ignore-certificate-errors-spki-list={spki}"),
        "--host-resolver-rules=MAP localhost 127.0.0.1".to_string(),
        "--disable-background-networking".to_string(),
        "--disable-component-update".to_string(),
        "--disable-sync".to_string(),
        "--disable-default-apps".to_string(),
    ]
}

/// Loads the page with `flags` and a fresh profile; the `#out` text.
fn load(port: u16, flags: &[String], profile: &Path) -> String {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let url = format!("https://localhost:{port}/index.html");
    let dom = browser::dump_dom(&url, profile, &flags);
    browser::out_text(&dom).to_string()
}

/// Empties the profile's HTTP cache, keeping what else it learned (its
/// `Alt-Svc` memory is in `Default/Network Persistent State`): the next
/// load fetches every file anew, so Resource Timing names the protocol
/// each came over (a revalidated file keeps its first answer's).
fn forget_http_cache(profile: &Path) {
    for dir in ["Cache", "Code Cache"] {
        let _ = std::fs::remove_dir_all(profile.join("Default").join(dir));
    }
}

/// Loads the page (its HTTP cache emptied first) until `#out` is
/// `want`, at most three times: Chromium races a QUIC endpoint it learned
/// of against TCP, and TCP can win while QUIC has not yet worked from this
/// profile (on a loaded machine); once it has, Chromium gives QUIC a head
/// start. The number of access log lines before the load that showed
/// `want`.
fn load_until(s: &Server, port: u16, flags: &[String], profile: &Path, want: &str) -> usize {
    let mut outs = Vec::new();
    for _ in 0..3 {
        let seen = s.stdout_lines().len();
        forget_http_cache(profile);
        let out = load(port, flags, profile);
        if out == want {
            return seen;
        }
        outs.push(out);
    }
    panic!(
        "never {want:?} in three loads: {outs:#?}\n{}",
        s.stdout_lines().join("\n")
    );
}

/// Waits for an access log line for each of `paths` (`GET PATH `) after
/// the first `skip` lines, and returns the protocol each was logged with
/// (`HTTP/3.0`, `HTTP/2.0`).
fn logged_protocols(s: &Server, skip: usize, paths: &[&str]) -> Vec<(String, String)> {
    let find = |lines: &[String], p: &str| {
        let needle = format!("\"GET {p} ");
        lines.iter().rev().find_map(|l| {
            let rest = &l[l.find(&needle)? + needle.len()..];
            Some(rest[..rest.find('"')?].to_string())
        })
    };
    let lines = || s.stdout_lines().into_iter().skip(skip).collect::<Vec<_>>();
    poll_until(Duration::from_secs(10), || {
        let lines = lines();
        paths.iter().all(|p| find(&lines, p).is_some())
    });
    let lines = lines();
    paths
        .iter()
        .map(|p| {
            let proto =
                find(&lines, p).unwrap_or_else(|| panic!("no access log line for {p}: {lines:#?}"));
            (p.to_string(), proto)
        })
        .collect()
}

/// The page and every subresource: what each load must log.
fn every_path() -> Vec<&'static str> {
    let mut paths = vec!["/index.html"];
    paths.extend(SUBRESOURCES);
    paths
}

/// Asserts the access log after its first `skip` lines has every path of
/// the page logged over `proto` (`HTTP/3.0`).
fn assert_logged(s: &Server, skip: usize, proto: &str) {
    for (path, logged) in logged_protocols(s, skip, &every_path()) {
        assert_eq!(logged, proto, "{path}: {}", s.stdout_lines().join("\n"));
    }
}

/// What `#out` shows when everything loaded over `proto` (Resource
/// Timing's name: `h3`, `h2`).
fn expected(proto: &str) -> String {
    let mut res: Vec<String> = SUBRESOURCES
        .iter()
        .map(|p| format!("{p}@{proto}"))
        .collect();
    res.sort();
    format!(
        "color=rgb(1, 2, 3) font=1:loaded img=4x3 page={proto} res={}",
        res.join(",")
    )
}

#[test]
#[ignore = "needs chromium (Debian package): a real browser loads a page and its CSS, JS, font and image over HTTP/3"]
fn a_browser_told_to_use_quic_loads_everything_over_http3() {
    let root = site();
    let cert = test_cert(&["localhost"]);
    let (s, port) = start_on_free_port(root.path(), |p| config(&cert, p, true), true);
    let profile = tempfile::tempdir().unwrap();
    let out = load(port, &flags(&cert, port), profile.path());
    assert_eq!(out, expected("h3"), "{}", s.stdout_lines().join("\n"));
    assert_logged(&s, 0, "HTTP/3.0");
}

#[test]
#[ignore = "needs chromium (Debian package): a real browser learns Alt-Svc over HTTP/2, then comes back over HTTP/3"]
fn a_browser_learns_alt_svc_over_http2_then_comes_back_over_http3() {
    let root = site();
    let cert = test_cert(&["localhost"]);
    let (s, port) = start_on_free_port(root.path(), |p| config(&cert, p, true), true);
    let profile = tempfile::tempdir().unwrap();
    let flags = flags(&cert, UNUSED_FORCED_PORT);
    // First visit: the page over HTTP/2, whose answer advertises HTTP/3
    // (its subresources may go either way: the HTTP/2 connection is there).
    let out = load(port, &flags, profile.path());
    assert!(
        out.starts_with("color=rgb(1, 2, 3) font=1:loaded img=4x3 page=h2 "),
        "{out}"
    );
    let first = logged_protocols(&s, 0, &["/index.html"]);
    assert_eq!(first[0].1, "HTTP/2.0");
    // Next visits, the same profile: everything over HTTP/3.
    let seen = load_until(&s, port, &flags, profile.path(), &expected("h3"));
    assert_logged(&s, seen, "HTTP/3.0");
}

/// A UDP socket on 127.0.0.1:`port` that reads every datagram and
/// answers none: QUIC blocked. Counts what it swallowed until dropped.
struct BlackHole {
    stop: Arc<AtomicBool>,
    swallowed: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BlackHole {
    /// Binds the port, or `None` when it is taken.
    fn bind(port: u16) -> Option<BlackHole> {
        let sock = UdpSocket::bind(("127.0.0.1", port)).ok()?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let swallowed = Arc::new(AtomicUsize::new(0));
        let (st, sw) = (stop.clone(), swallowed.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while !st.load(Ordering::Relaxed) {
                if sock.recv_from(&mut buf).is_ok() {
                    sw.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Some(BlackHole {
            stop,
            swallowed,
            thread: Some(thread),
        })
    }

    /// Datagrams swallowed so far.
    fn swallowed(&self) -> usize {
        self.swallowed.load(Ordering::Relaxed)
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
#[ignore = "needs chromium (Debian package): with QUIC blocked the page still loads, over HTTP/2"]
fn with_quic_blocked_the_page_loads_over_http2() {
    let root = site();
    let cert = test_cert(&["localhost"]);
    let (mut s, port) = start_on_free_port(root.path(), |p| config(&cert, p, true), true);
    let profile = tempfile::tempdir().unwrap();
    let flags = flags(&cert, UNUSED_FORCED_PORT);
    // A visit that learns Alt-Svc and uses HTTP/3 (as the test above).
    load(port, &flags, profile.path());
    load_until(&s, port, &flags, profile.path(), &expected("h3"));
    // Then UDP is blocked: the node again, with HTTPS alone on the port,
    // its UDP number a black hole.
    s.sigterm();
    assert!(
        s.wait_exit(common::EXIT_TIMEOUT).is_some(),
        "the node did not stop"
    );
    let hole = BlackHole::bind(port).expect("the UDP port, free again");
    let s = start_on_port(root.path(), &config(&cert, port, false), false)
        .unwrap_or_else(|e| panic!("the node again on {port}: {e}"));
    forget_http_cache(profile.path());
    let out = load(port, &flags, profile.path());
    assert_eq!(out, expected("h2"), "{}", s.stdout_lines().join("\n"));
    assert!(hole.swallowed() > 0, "the browser never tried QUIC");
    assert_logged(&s, 0, "HTTP/2.0");
}
