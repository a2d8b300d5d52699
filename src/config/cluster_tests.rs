//! Tests of `[cluster]`: defaults, required keys, bad values, files and flags.

use super::*;
use crate::config::{units, Config};

const TOKEN: &str = "0123456789abcdef0123";

/// The error of `settings` for this `[cluster]` table, one line.
fn error(table: &str) -> String {
    let c = match Config::parse("t", &format!("[cluster]\n{table}\n")) {
        Ok(c) => c,
        Err(e) => return e.to_string(),
    };
    let e = match c.validate("t") {
        Err(e) => e,
        Ok(()) => c.cluster.unwrap().settings("t").unwrap_err(),
    };
    let e = e.to_string();
    assert!(!e.contains('\n'), "{e}");
    e
}

fn settings(table: &str) -> Settings {
    let c = Config::parse("t", &format!("[cluster]\n{table}\n")).unwrap();
    c.validate("t").unwrap();
    c.cluster.unwrap().settings("t").unwrap()
}

#[test]
fn without_the_table_there_is_no_cluster() {
    assert_eq!(Config::load(None).unwrap().cluster, None);
    assert_eq!(Config::parse("t", "").unwrap().cluster, None);
}

#[test]
fn a_static_list_with_defaults() {
    let s = settings(&format!(
        "advertise = \"http://10.0.0.1:8080\"\ntoken = \"{TOKEN}\"\n\
         peers = [\"http://10.0.0.1:8080\", \"http://10.0.0.2:8080/\"]"
    ));
    assert_eq!(s.advertise.url(), "http://10.0.0.1:8080");
    assert_eq!(s.token, TOKEN);
    let PeerSource::Static(list) = &s.source else {
        panic!("{s:?}")
    };
    assert_eq!(list[1].url(), "http://10.0.0.2:8080");
    assert_eq!(s.down_for, Duration::from_secs(10));
    assert_eq!(s.probe_every, Some(Duration::from_secs(1)));
}

#[test]
fn the_bundled_config_lists_the_defaults_commented_out() {
    let d = ClusterConfig::default();
    for line in [
        format!(
            "# dns_refresh = \"{}\"",
            units::show_duration(d.dns_refresh)
        ),
        format!("# down_for = \"{}\"", units::show_duration(d.down_for)),
        format!(
            "# probe_interval = \"{}\"",
            units::show_duration(d.probe_interval.unwrap())
        ),
    ] {
        assert!(crate::config::DEFAULT_TOML.contains(&line), "{line}");
    }
}

#[test]
fn required_keys_are_named() {
    let peers = "peers = [\"http://10.0.0.2:8080\"]";
    let e = error(&format!("token = \"{TOKEN}\"\n{peers}"));
    assert!(
        e.contains("cluster.advertise") && e.contains("--advertise"),
        "{e}"
    );
    let e = error(&format!("advertise = \"http://a:1\"\n{peers}"));
    assert!(e.contains("cluster.token") && e.contains("required"), "{e}");
    let e = error(&format!("advertise = \"http://a:1\"\ntoken = \"{TOKEN}\""));
    assert!(
        e.contains("cluster.peers") && e.contains("one source"),
        "{e}"
    );
}

#[test]
fn bad_values_are_refused_with_the_key() {
    let base = format!("advertise = \"http://10.0.0.1:8080\"\ntoken = \"{TOKEN}\"\n");
    for (table, key, says) in [
        (
            "peers = [\"http://a:1\", \"a:1\"]",
            "cluster.peers[1]",
            "http://",
        ),
        (
            "peers = [\"http://a:1\"]\npeers_dns = \"peers.local:8080\"",
            "cluster.peers_dns",
            "not with cluster.peers",
        ),
        (
            "peers_file = \"/nonexistent/peers\"\npeers_dns = \"x:1\"",
            "cluster.peers_dns",
            "only one source",
        ),
        (
            "peers_file = \"/nonexistent/peers\"",
            "cluster.peers_file",
            "readable",
        ),
        (
            "peers_dns = \"peers.local\"",
            "cluster.peers_dns",
            "name:port",
        ),
        (
            "peers_dns = \"peers.local:0\"",
            "cluster.peers_dns",
            "name:port",
        ),
        (
            "peers_dns = \"peers.local:9090\"",
            "cluster.advertise",
            "http://<this node's IP address>:9090",
        ),
        (
            "peers = [\"http://a:1\"]\ndown_for = 0",
            "cluster.down_for",
            "1s to 1h",
        ),
        (
            "peers = [\"http://a:1\"]\nprobe_ms = 5",
            "cluster.probe_interval",
            "\"off\" (no probes)",
        ),
        (
            "peers = [\"http://a:1\"]\ndns_refresh = \"0s\"",
            "cluster.dns_refresh",
            "1s to 1h",
        ),
    ] {
        let e = error(&format!("{base}{table}"));
        assert!(e.contains(key) && e.contains(says), "{table}: {e}");
    }
    let e = error("advertise = \"ftp://a\"");
    assert!(e.contains("cluster.advertise = \"ftp://a\""), "{e}");
    let e = error("advertise = \"http://a:1\"\ntoken = \"short\"\npeers = [\"http://a:1\"]");
    assert!(e.contains("at least 16"), "{e}");
    assert!(!e.contains("short"), "the token is never shown: {e}");
    let e = error("bogus = 1");
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn a_token_file_and_a_peers_file_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("  {TOKEN}\n")).unwrap();
    std::fs::write(dir.path().join("peers"), "http://10.0.0.2:8080 # b\n").unwrap();
    let cfg = dir.path().join("c.toml");
    let table = "advertise = \"http://10.0.0.1:8080\"\ntoken_file = \"token\"\n\
                 peers_file = \"peers\"";
    std::fs::write(&cfg, format!("[cluster]\n{table}\n")).unwrap();
    let c = Config::load(Some(&cfg)).unwrap();
    let s = c.cluster.unwrap().settings("t").unwrap();
    assert_eq!(s.token, TOKEN);
    assert_eq!(
        s.source,
        PeerSource::File {
            path: dir.path().join("peers"),
            every: source::FILE_POLL
        }
    );
    std::fs::write(dir.path().join("peers"), "http://ok:1\nedge-2\n").unwrap();
    let e = Config::load(Some(&cfg)).unwrap_err().to_string();
    assert!(
        e.contains("cluster.peers_file") && e.contains("line 2"),
        "{e}"
    );
    std::fs::write(&cfg, format!("[cluster]\n{table}\ntoken = \"{TOKEN}\"\n")).unwrap();
    let e = Config::load(Some(&cfg)).unwrap_err().to_string();
    assert!(
        e.contains("cluster.token_file") && e.contains("not with"),
        "{e}"
    );
}

#[test]
fn dns_wants_this_node_as_dns_names_it() {
    let s = settings(&format!(
        "advertise = \"http://10.1.2.3:8080\"\ntoken = \"{TOKEN}\"\n\
         peers_dns = \"edge.default.svc.cluster.local:8080\"\ndns_refresh_secs = 30"
    ));
    let PeerSource::Dns { name, every } = s.source else {
        panic!("{s:?}")
    };
    assert_eq!(name.to_string(), "edge.default.svc.cluster.local:8080");
    assert_eq!(every, Duration::from_secs(30));
    let e = error(&format!(
        "advertise = \"http://edge-1:8080\"\ntoken = \"{TOKEN}\"\npeers_dns = \"edge:8080\""
    ));
    assert!(e.contains("cluster.advertise"), "{e}");
}

#[test]
fn flags_set_advertise_and_replace_the_source() {
    let mut none = None;
    ClusterConfig::apply_flags(&mut none, None, &[]);
    assert_eq!(none, None, "no flags, no cluster");
    let mut table = Some(ClusterConfig {
        peers_dns: Some("edge:8080".into()),
        token: Some(TOKEN.into()),
        ..Default::default()
    });
    let peers = vec!["http://10.0.0.2:8080".to_string()];
    ClusterConfig::apply_flags(&mut table, Some("http://10.0.0.1:8080"), &peers);
    let s = table.unwrap().settings("t").unwrap();
    assert_eq!(s.advertise.url(), "http://10.0.0.1:8080");
    assert!(matches!(s.source, PeerSource::Static(ref l) if l.len() == 1));
    let mut created = None;
    ClusterConfig::apply_flags(&mut created, Some("http://a:1"), &[]);
    assert_eq!(created.unwrap().advertise.as_deref(), Some("http://a:1"));
}
