//! `/metrics`: Prometheus text with request, byte and memory-cache figures.

use crate::common;

use common::*;

/// The value of an un-labelled or labelled sample line, e.g.
/// `cdn_edge_http_requests_total{class="2xx"}`.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn counts_requests_bytes_hits_and_misses() {
    let f = Fixture::new();
    let s = Server::start(&f.root, &config_with(""));
    let plain = s.get("/plain.txt");
    assert_eq!(plain.status, 200);
    s.get("/plain.txt");
    s.get("/missing.txt");
    s.head_h("/plain.txt", &[]);
    let m = s.get("/metrics");
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().contains("text"));
    let t = m.text();
    assert!(
        !t.contains("cdn_edge_cluster_"),
        "no cluster figures alone: {t}"
    );
    assert_eq!(
        sample(&t, "cdn_edge_http_requests_total{class=\"2xx\"}"),
        Some(3.0),
        "{t}"
    );
    assert_eq!(
        sample(&t, "cdn_edge_http_requests_total{class=\"4xx\"}"),
        Some(1.0),
        "{t}"
    );
    // Two GET bodies of plain.txt and the 404's reason; HEAD sends none.
    let body_404 = s.get("/missing.txt").body.len() as f64;
    let sent = sample(&t, "cdn_edge_http_response_body_bytes_total").unwrap();
    assert_eq!(sent, 2.0 * plain.body.len() as f64 + body_404, "{t}");
    assert_eq!(
        sample(&t, "cdn_edge_memory_cache_hits_total"),
        Some(2.0),
        "{t}"
    );
    assert_eq!(
        sample(&t, "cdn_edge_memory_cache_misses_total"),
        Some(2.0),
        "{t}"
    );
    assert_eq!(
        sample(&t, "cdn_edge_memory_cache_objects"),
        Some(1.0),
        "{t}"
    );
    assert!(sample(&t, "cdn_edge_memory_cache_bytes").unwrap() >= plain.body.len() as f64);
}

#[test]
fn evictions_keep_the_cache_under_its_bound() {
    let f = Fixture::new();
    for i in 0..64 {
        f.write(&format!("blob{i}.bin"), &vec![i as u8; 20_000]);
    }
    // 16 shards of 32 KiB: each holds one 20 KB blob at a time.
    let s = Server::start(
        &f.root,
        &config_with(
            "[cache]\nmemory_bytes = 524288\nmax_object_bytes = 32768\nadmission = \"always\"\n",
        ),
    );
    for i in 0..64 {
        assert_eq!(s.get(&format!("/blob{i}.bin")).body, vec![i as u8; 20_000]);
    }
    let t = s.get("/metrics").text();
    assert!(
        sample(&t, "cdn_edge_memory_cache_evictions_total").unwrap() > 0.0,
        "{t}"
    );
    assert!(
        sample(&t, "cdn_edge_memory_cache_bytes").unwrap() <= 524288.0,
        "{t}"
    );
    assert!(
        sample(&t, "cdn_edge_memory_cache_objects").unwrap() <= 16.0,
        "{t}"
    );
}

#[test]
fn metrics_path_is_configurable_or_off() {
    let f = Fixture::new();
    f.write("metrics", b"a site's own file\n");
    let s = Server::start(&f.root, &config_with("metrics_path = \"/_edge/metrics\"\n"));
    assert_eq!(s.get("/metrics").body, b"a site's own file\n");
    assert!(s
        .get("/_edge/metrics")
        .text()
        .contains("cdn_edge_http_requests_total"));
    let off = Server::start(&f.root, &config_with("metrics_path = \"\"\n"));
    assert_eq!(off.get("/metrics").body, b"a site's own file\n");
}

#[test]
fn second_hit_admission_keeps_one_hit_wonders_out() {
    let f = Fixture::new();
    for i in 0..64 {
        f.write(&format!("once{i}.bin"), &vec![i as u8; 20_000]);
    }
    // 16 shards of 32 KiB: each holds one 20 KB blob.
    let s = Server::start(
        &f.root,
        &config_with("[cache]\nmemory_bytes = 524288\nmax_object_bytes = 32768\n"),
    );
    for i in 0..64 {
        assert_eq!(s.get(&format!("/once{i}.bin")).status, 200);
    }
    let t = s.get("/metrics").text();
    assert_eq!(
        sample(&t, "cdn_edge_memory_cache_evictions_total"),
        Some(0.0),
        "one-hit wonders evict nothing: {t}"
    );
    let held = sample(&t, "cdn_edge_memory_cache_objects").unwrap();
    assert!(held <= 16.0, "{t}");
}

#[test]
fn request_durations_by_status_class_and_cache_outcome() {
    let o = common::origin::Origin::start();
    o.route(
        "/pulled.js",
        common::origin::Reply::ok("x").header("cache-control", "max-age=60"),
    );
    let f = Fixture::new();
    let s = Server::start(
        &f.root,
        &config_with(&format!("[origin]\nurl = \"{}\"\n", o.url())),
    );
    for _ in 0..3 {
        assert_eq!(s.get("/plain.txt").status, 200);
    }
    assert_eq!(s.get("/pulled.js").status, 200);
    assert_eq!(s.get("/pulled.js").status, 200);
    assert_eq!(s.get("/bad/%2e%2e/x").status, 400);
    let t = s.get("/metrics").text();
    let h = "cdn_edge_http_request_duration_seconds";
    assert!(t.contains(&format!("# TYPE {h} histogram")), "{t}");
    for (labels, n) in [
        ("class=\"2xx\",cache=\"local\"", 3.0),
        ("class=\"2xx\",cache=\"miss\"", 1.0),
        ("class=\"2xx\",cache=\"hit\"", 1.0),
        ("class=\"4xx\",cache=\"none\"", 1.0),
    ] {
        assert_eq!(
            sample(&t, &format!("{h}_count{{{labels}}}")),
            Some(n),
            "{labels}: {t}"
        );
        assert_eq!(
            sample(&t, &format!("{h}_bucket{{le=\"+Inf\",{labels}}}")),
            Some(n),
            "{labels}: {t}"
        );
        assert!(sample(&t, &format!("{h}_sum{{{labels}}}")).unwrap() > 0.0);
    }
    assert!(t.contains(&format!(
        "{h}_bucket{{le=\"0.0001\",class=\"2xx\",cache=\"local\"}}"
    )));
}

#[test]
fn process_build_and_access_log_figures() {
    let f = Fixture::new();
    let s = Server::start(&f.root, &config_with("[log]\naccess = \"off\"\n"));
    let t = s.get("/metrics").text();
    assert!(
        sample(&t, "process_resident_memory_bytes").unwrap() > 1e6,
        "{t}"
    );
    assert!(
        sample(&t, "process_virtual_memory_bytes").unwrap() > 1e6,
        "{t}"
    );
    assert!(sample(&t, "process_open_fds").unwrap() >= 3.0, "{t}");
    assert!(sample(&t, "process_max_fds").unwrap() >= 3.0, "{t}");
    assert!(
        sample(&t, "process_cpu_seconds_total").unwrap() >= 0.0,
        "{t}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start = sample(&t, "process_start_time_seconds").unwrap();
    assert!((now - start).abs() < 3600.0, "start {start}, now {now}");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        t.lines().any(|l| l.starts_with("cdn_edge_build_info{")
            && l.contains(&format!("version=\"{version}\""))
            && l.contains("commit=\"")
            && l.ends_with(" 1")),
        "{t}"
    );
    assert_eq!(
        sample(&t, "cdn_edge_access_log_lines_total"),
        Some(0.0),
        "{t}"
    );
    assert_eq!(
        sample(&t, "cdn_edge_access_log_dropped_lines_total"),
        Some(0.0),
        "{t}"
    );
}
