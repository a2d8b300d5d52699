//! Tests of the whole configuration: the bundled default, errors naming
//! their key, the checks that span tables, and the deprecated names.

use std::time::Duration;

use super::*;

#[test]
fn embedded_default_is_valid_and_matches_code_defaults() {
    let c = Config::load(None).unwrap();
    assert_eq!(
        c,
        Config::default(),
        "config.toml and the code's defaults differ"
    );
    assert!(
        Config::deprecated_names(EMBEDDED, DEFAULT_TOML).is_empty(),
        "config.toml uses a deprecated name"
    );
}

#[test]
fn keep_request_headers_is_checked() {
    let ok = Config::parse(
        "t",
        "[origin]\nkeep_request_headers = [\"X-Forwarded-For\"]\n",
    )
    .unwrap();
    ok.validate("t").unwrap();
    assert_eq!(ok.origin.keep_request_headers, ["X-Forwarded-For"]);
    for bad in ["\"bad name\"", "\"X-CDN-Edge-Token\"", "\"x-cdn-edge-*\""] {
        let c = Config::parse("t", &format!("[origin]\nkeep_request_headers = [{bad}]\n"));
        let e = c.unwrap().validate("t").unwrap_err().to_string();
        assert!(e.contains("origin.keep_request_headers"), "{e}");
    }
}

#[test]
fn errors_name_the_key() {
    let e = Config::parse("t", "[server]\nworkers = -1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("server.workers"), "{e}");
    let e = Config::parse("t", "[server]\nlisten = \"nonsense\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("server.listen"), "{e}");
    let e = Config::parse("t", "[server]\nbogus = 1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("bogus"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    let c = Config::parse("t", "[[rules]]\nglob = \"a[\"\n").unwrap();
    let e = c.validate("t").unwrap_err().to_string();
    assert!(e.contains("rules[0].glob"), "{e}");
    let c = Config::parse(
        "t",
        "[[rules]]\nglob = \"*\"\nheaders = { \"X-A\" = \"a\\nb\" }\n",
    )
    .unwrap();
    assert!(c
        .validate("t")
        .unwrap_err()
        .to_string()
        .contains("rules[0].headers.X-A"));
    let c = Config::parse("t", "[origin]\nmax_stream_bytes = 1000\n").unwrap();
    let e = c.validate("t").unwrap_err().to_string();
    assert!(e.contains("origin.max_stream_bytes"), "{e}");
}

#[test]
fn sizes_and_durations_take_units() {
    let c = Config::parse(
        "t",
        "[cache]\nmemory_bytes = \"64MiB\"\nmax_object_bytes = \"1 MiB\"\nnegative_ttl = \"2m\"\n\
         [origin]\nfirst_byte_timeout = \"500ms\"\nmax_object_bytes = \"8 MB\"\n\
         [limits]\nsend_timeout = \"1h\"\nmax_body_bytes = 4096\n",
    )
    .unwrap();
    c.validate("t").unwrap();
    assert_eq!(c.cache.memory_bytes, 64 << 20);
    assert_eq!(c.cache.negative_ttl, Duration::from_secs(120));
    assert_eq!(c.origin.first_byte_timeout, Duration::from_millis(500));
    assert_eq!(c.origin.max_object_bytes, 8_000_000);
    assert_eq!(c.limits.send_timeout, Duration::from_secs(3600));
    assert_eq!(c.limits.max_body_bytes, 4096);
    let e = Config::parse("t", "[cache]\nmemory_bytes = \"256 XB\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("t:2: cache.memory_bytes = \"256 XB\": \"256 XB\" is not a size"),
        "{e}"
    );
    let e = Config::parse("t", "[origin]\nfirst_byte_timeout = 10\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("origin.first_byte_timeout = 10: 10 has no unit"),
        "{e}"
    );
}

#[test]
fn empty_strings_still_mean_off() {
    let c = Config::parse(
        "t",
        "[server]\nhealth_path = \"\"\n[origin]\nurl = \"\"\n[cache]\ndir = \"\"\n[tls]\nlisten = \"\"\nhsts = \"\"\n",
    )
    .unwrap();
    c.validate("t").unwrap();
    assert_eq!(c.server.health_path, None);
    assert_eq!(c.origin.url, None);
    assert_eq!(c.cache.dir, None);
    assert!(!c.tls.enabled());
}

#[test]
fn no_root_needs_an_origin() {
    let c = Config::parse("t", "[server]\nroot = \"\"\n").unwrap();
    let e = c.validate("t").unwrap_err().to_string();
    assert!(
        e.contains("server.root = \"\"") && e.contains("origin-only"),
        "{e}"
    );
    let c = Config::parse(
        "t",
        "[server]\nroot = \"\"\n[origin]\nurl = \"http://o:1\"\n",
    )
    .unwrap();
    c.validate("t").unwrap();
    assert_eq!(c.server.root, None);
}

#[test]
fn every_deprecated_name_reads_as_its_new_one() {
    for (table, old, new, unit) in deprecated::RENAMED {
        let n = if *unit == "ms" { 1500 } else { 7 };
        let want = if *unit == "ms" {
            Duration::from_millis(n)
        } else {
            Duration::from_secs(n)
        };
        let extra = if *table == "cluster" {
            "advertise = \"http://a:1\"\ntoken = \"0123456789abcdef0\"\npeers = [\"http://a:1\"]\n"
        } else {
            ""
        };
        let text = format!("[{table}]\n{extra}{old} = {n}\n");
        let with_old = Config::parse("t", &text).unwrap();
        let new_text = format!(
            "[{table}]\n{extra}{new} = \"{}\"\n",
            units::show_duration(want)
        );
        let with_new = Config::parse("t", &new_text).unwrap();
        assert_eq!(with_old, with_new, "{old} -> {new}");
        let names = Config::deprecated_names("t", &text);
        assert_eq!(names.len(), 1, "{old}");
        assert_eq!(names[0].new, format!("{table}.{new}"));
    }
}
