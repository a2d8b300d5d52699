//! Disk faults: a cache directory that fills up mid-run (a 1 MiB tmpfs,
//! where this process may mount one) costs the node its disk copies, never
//! an answer: every client gets its whole body, the failed writes are
//! counted by kind, and what fits in memory is served from there. A
//! cache directory that cannot be used at start stops the node with one
//! line, or is skipped with a warning when `cache.dir_required = false`.

use crate::common;

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use common::disk::counter;
use common::origin::{Origin, Reply};
use common::*;

/// A tmpfs of `size` on a new directory, unmounted on drop.
struct SmallFs(tempfile::TempDir);

impl SmallFs {
    fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallFs(dir))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// Bodies: noise, compressible text (whose encodings are made and
/// written too), and one larger than the whole file system.
fn body(i: u64, size: usize) -> Vec<u8> {
    match i % 3 {
        _ if i == 7 => noise(i, 3 << 20),
        0 => format!(".c{i}{{color:red}}\n")
            .repeat(size / 16)
            .into_bytes(),
        _ => noise(i, size),
    }
}

fn content_type(i: u64) -> &'static str {
    match i % 3 {
        _ if i == 7 => "application/octet-stream",
        0 => "text/css",
        _ => "application/octet-stream",
    }
}

#[test]
fn a_full_cache_disk_costs_disk_copies_never_an_answer() {
    let Some(fs) = SmallFs::mount("1m") else {
        return;
    };
    let o = Origin::start();
    let n = 24;
    let size = 100_000;
    for i in 0..n {
        o.route(
            &format!("/img{i}.bin"),
            Reply::ok(body(i, size))
                .header("cache-control", "max-age=600")
                .header("content-type", content_type(i)),
        );
    }
    let f = Fixture::new();
    // The bound says 64 MiB; the file system holds 1 MiB.
    let cfg = config_with(&format!(
        "[origin]\nurl = \"{}\"\n[cache]\ndir = \"{}\"\ndisk_bytes = 67108864\nadmission = \"always\"\n",
        o.url(),
        fs.0.path().display()
    ));
    let s = Server::start(&f.root, &cfg);
    for round in 0..2 {
        for i in 0..n {
            let path = format!("/img{i}.bin");
            let r = s.get(&path);
            assert_eq!(r.status, 200, "round {round} {path}: {}", r.summary());
            assert_eq!(r.body, body(i, size), "round {round} {path}: whole body");
            let gz = s.get_h(&path, &[("accept-encoding", "gzip, br")]);
            assert_eq!(gz.status, 200, "round {round} {path}: {}", gz.summary());
        }
    }
    // Every object was fetched once: the second round came from memory.
    assert!(o.total() >= n as usize);
    // Concurrent misses and hits on a full disk: every answer whole.
    let addr = s.addr;
    let threads: Vec<_> = (0..6u64)
        .map(|t| {
            std::thread::spawn(move || {
                for k in 0..n {
                    let i = (k + t * 5) % n;
                    let path = format!("/img{i}.bin?t={t}");
                    let r = request(addr, "GET", &path, &[("accept-encoding", "br")]);
                    assert_eq!(r.status, 200, "{path}: {}", r.summary());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let m = s.get("/metrics").text();
    let enospc = counter(&m, "cdn_edge_disk_write_errors_total{kind=\"enospc\"}");
    assert!(enospc > 0, "{m}");
    assert_eq!(
        counter(&m, "cdn_edge_disk_write_errors_total{kind=\"eio\"}"),
        0
    );
    assert_eq!(
        counter(&m, "cdn_edge_http_requests_total{class=\"5xx\"}"),
        0
    );
    // No temp file left behind, once the writes still in flight (stored
    // copies and encodings are written in the background) are done.
    let temp_files = || {
        let mut found = Vec::new();
        let mut stack = vec![fs.0.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.to_string_lossy().ends_with(".tmp") {
                    found.push(p.clone());
                }
                if p.is_dir() {
                    stack.push(p);
                }
            }
        }
        found
    };
    assert!(
        poll_until(CHANGE_TIMEOUT, || temp_files().is_empty()),
        "{:?}",
        temp_files()
    );
}

fn serve_args(cfg: &Path, root: &Path) -> Vec<OsString> {
    vec![
        "serve".into(),
        "--config".into(),
        cfg.into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--root".into(),
        root.into(),
    ]
}

#[test]
fn an_unusable_cache_dir_stops_the_node_or_is_skipped_as_configured() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    // A directory below a regular file: unusable, for root too.
    std::fs::write(dir.path().join("file"), "x").unwrap();
    let cache = dir.path().join("file/cache");
    let cfg = dir.path().join("config.toml");
    let base = format!("[cache]\ndir = \"{}\"\n", cache.display());
    std::fs::write(&cfg, config_with(&base)).unwrap();
    let (status, err) = run_to_exit(&serve_args(&cfg, &f.root), None);
    assert!(!status.success());
    let lines = nonempty_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("cache.dir") && lines[0].contains("dir_required"),
        "{err}"
    );

    std::fs::write(&cfg, config_with(&format!("{base}dir_required = false\n"))).unwrap();
    let s = Server::start_config_file(&cfg, &f.root, None);
    assert_eq!(s.get("/app.css").status, 200);
    assert!(
        s.stderr_text().contains("serving without a disk cache"),
        "{}",
        s.stderr_text()
    );
    let m = s.get("/metrics").text();
    assert!(!m.contains("disk_write_errors"), "{m}");
}
