//! The recipes in `deploy/` against the binary and against each other: the
//! Kubernetes manifest's config passes `cdn-edge check` and a node started
//! with the Deployment's arguments answers its probes; the compose file's
//! nodes name each other, mount files that exist, and pass `check`; the
//! load balancers' configs (nginx, HAProxy) list exactly the compose nodes.
//! (docs/benchmarks/cluster.sh runs the nginx and HAProxy files for real.)
//!
//! Nothing here resolves a name outside the machine: the cluster's DNS name
//! is pointed at `localhost` and static peers are not resolved by `check`.

use crate::common;

use common::*;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(rel)
}

fn load_yaml(rel: &str) -> Vec<Yaml> {
    let text = fs::read_to_string(deploy(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn s(y: &Yaml) -> &str {
    y.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {y:?}"))
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .unwrap_or_else(|| panic!("expected a list, got {y:?}"))
        .iter()
        .map(|v| s(v).to_string())
        .collect()
}

/// The one document of `kind` named `name`.
fn object<'a>(docs: &'a [Yaml], kind: &str, name: &str) -> &'a Yaml {
    let found: Vec<&Yaml> = docs
        .iter()
        .filter(|d| {
            d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name)
        })
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind} {name}");
    found[0]
}

/// The value after `flag` in an argument list.
fn flag<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} missing in {args:?}"));
    &args[i + 1]
}

fn toml_value(config: &str) -> toml::Value {
    config.parse().expect("the config is TOML")
}

/// `check`, then `serve` on 127.0.0.1:0, with these arguments.
fn check_ok(args: &[String]) {
    let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
    argv[0] = "check".into();
    let (status, stderr) = run_to_exit(&argv, None);
    assert!(status.success(), "check {args:?}: {stderr}");
}

#[test]
fn kubernetes_config_passes_check_and_a_node_with_its_arguments_answers_the_probes() {
    let docs = load_yaml("kubernetes/cdn-edge.yaml");
    let config_map = object(&docs, "ConfigMap", "cdn-edge-config");
    let config = s(&config_map["data"]["config.toml"]).to_string();
    let table = toml_value(&config);
    let deployment = object(&docs, "Deployment", "cdn-edge");
    let pod = &deployment["spec"]["template"];
    let labels = &pod["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    let container = &pod["spec"]["containers"][0];
    let args = strings(&container["args"]);
    assert_eq!(args[0], "serve");

    // Ports: the config listens where the container port, the advertised
    // URL and the headless Service (peers_dns) say.
    let listen_port = table["server"]["listen"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let port = &container["ports"][0];
    assert_eq!(
        port["containerPort"].as_i64().unwrap().to_string(),
        listen_port
    );
    let port_name = s(&port["name"]);
    assert_eq!(
        flag(&args, "--advertise"),
        format!("http://$(POD_IP):{listen_port}")
    );
    let env = container["env"].as_vec().unwrap();
    let pod_ip = env.iter().find(|e| e["name"].as_str() == Some("POD_IP"));
    assert_eq!(
        pod_ip.map(|e| s(&e["valueFrom"]["fieldRef"]["fieldPath"])),
        Some("status.podIP")
    );
    let peers_dns = table["cluster"]["peers_dns"].as_str().unwrap();
    let (dns_name, dns_port) = peers_dns.rsplit_once(':').unwrap();
    assert_eq!(dns_port, listen_port);
    let headless = object(&docs, "Service", "cdn-edge-peers");
    assert_eq!(s(&headless["spec"]["clusterIP"]), "None");
    assert!(dns_name.starts_with("cdn-edge-peers."), "{dns_name}");
    assert_eq!(&headless["spec"]["selector"], labels);
    assert_eq!(
        headless["spec"]["ports"][0]["port"]
            .as_i64()
            .unwrap()
            .to_string(),
        dns_port
    );
    assert_eq!(s(&headless["spec"]["ports"][0]["targetPort"]), port_name);
    let front = object(&docs, "Service", "cdn-edge");
    assert_eq!(&front["spec"]["selector"], labels);
    assert_eq!(s(&front["spec"]["ports"][0]["targetPort"]), port_name);

    // Mounts: the config file, the token file and the cache dir are where
    // the pod mounts them, and the secret exists under one name.
    let mounts = container["volumeMounts"].as_vec().unwrap();
    let mount_of = |path: &str| {
        mounts
            .iter()
            .find(|m| path.starts_with(s(&m["mountPath"])))
            .map(|m| s(&m["name"]).to_string())
            .unwrap_or_else(|| panic!("nothing mounted at {path}"))
    };
    let config_path = flag(&args, "--config");
    assert_eq!(mount_of(config_path), "config");
    let token_file = table["cluster"]["token_file"].as_str().unwrap();
    let secret_volume = mount_of(token_file);
    let volumes = pod["spec"]["volumes"].as_vec().unwrap();
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    assert_eq!(s(&volume("config")["configMap"]["name"]), "cdn-edge-config");
    let secret = s(&volume(&secret_volume)["secret"]["secretName"]).to_string();
    let purge = env
        .iter()
        .find(|e| e["name"].as_str() == Some("CDN_EDGE_PURGE_TOKEN"))
        .expect("the purge token comes from the secret");
    assert_eq!(s(&purge["valueFrom"]["secretKeyRef"]["name"]), secret);
    let cache_dir = table["cache"]["dir"].as_str().unwrap();
    assert!(volume(&mount_of(cache_dir))["emptyDir"].is_hash());

    // The grace period covers the drain and the in-flight grace.
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .unwrap();
    let secs = |key: &str| -> i64 {
        let v = table["server"][key]
            .as_str()
            .unwrap_or_else(|| panic!("{key}"));
        (v.strip_suffix('s').and_then(|n| n.parse().ok()))
            .unwrap_or_else(|| panic!("server.{key} = {v:?}: seconds, as \"10s\""))
    };
    let drain = secs("drain");
    let inflight = secs("shutdown_timeout");
    assert!(
        grace > drain + inflight,
        "grace {grace} s <= {drain} + {inflight}"
    );

    // The config as the pod sees it, with its mounted paths in a temp dir
    // and the DNS name on this machine.
    let tmp = tempfile::tempdir().unwrap();
    let at = |p: &str| tmp.path().join(p.trim_start_matches('/'));
    let root = table["server"]["root"].as_str().unwrap();
    fs::create_dir_all(at(root)).unwrap();
    fs::write(at(root).join("app.css"), "body{}").unwrap();
    fs::create_dir_all(at(token_file).parent().unwrap()).unwrap();
    fs::write(at(token_file), "a-cluster-token-of-24-chars\n").unwrap();
    let local = config
        .replace(root, at(root).to_str().unwrap())
        .replace(token_file, at(token_file).to_str().unwrap())
        .replace(cache_dir, at(cache_dir).to_str().unwrap())
        .replace(peers_dns, &format!("localhost:{dns_port}"));
    let cfg = tmp.path().join("config.toml");
    fs::write(&cfg, local).unwrap();
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace(config_path, cfg.to_str().unwrap())
                .replace("$(POD_IP)", "127.0.0.1")
        })
        .collect();
    check_ok(&args);

    let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
    argv.extend(["--listen".into(), "127.0.0.1:0".into()]);
    let node = Server::spawn(&argv, None).unwrap_or_else(|e| panic!("{e}"));
    for probe in ["livenessProbe", "readinessProbe"] {
        let get = &container[probe]["httpGet"];
        assert_eq!(s(&get["port"]), port_name, "{probe}");
        let r = node.get(s(&get["path"]));
        assert_eq!(r.status, 200, "{probe} {}", s(&get["path"]));
    }
    assert_eq!(node.get("/app.css").status, 200);
}

/// A compose service with its `<<: *anchor` merged (YAML merge keys are
/// not resolved by the loader).
fn service(compose: &Yaml, name: &str) -> yaml_rust2::yaml::Hash {
    let svc = compose["services"][name]
        .as_hash()
        .unwrap_or_else(|| panic!("no service {name}"));
    let mut merged = svc
        .get(&Yaml::from_str("<<"))
        .and_then(Yaml::as_hash)
        .cloned()
        .unwrap_or_default();
    for (k, v) in svc {
        if k.as_str() != Some("<<") {
            merged.insert(k.clone(), v.clone());
        }
    }
    merged
}

fn field<'a>(h: &'a yaml_rust2::yaml::Hash, key: &str) -> &'a Yaml {
    h.get(&Yaml::from_str(key)).unwrap_or(&Yaml::BadValue)
}

/// `./x:/y[:ro]` volume specs of a service as (host file, container path).
fn volumes(h: &yaml_rust2::yaml::Hash) -> Vec<(PathBuf, String)> {
    field(h, "volumes")
        .as_vec()
        .map(|v| v.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|v| {
            let mut parts = s(v).split(':');
            let host = deploy(parts.next().unwrap().trim_start_matches("./"));
            (host, parts.next().unwrap().to_string())
        })
        .collect()
}

/// The `host:port` servers of an nginx upstream or HAProxy backend.
fn lb_servers(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("server "))
        .filter_map(|l| {
            // nginx: `server HOST:PORT ...;`; HAProxy: `server NAME HOST:PORT ...`;
            // the nginx `server {` block has no address.
            l.trim_end_matches(';')
                .split_whitespace()
                .skip(1)
                .find(|w| w.contains(':'))
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn compose_nodes_name_each_other_and_the_load_balancers_list_them() {
    let compose = load_yaml("compose.yaml").remove(0);
    let names: Vec<String> = compose["services"]
        .as_hash()
        .unwrap()
        .keys()
        .map(|k| s(k).to_string())
        .filter(|n| n.starts_with("edge"))
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");

    let mut advertised = BTreeSet::new();
    let mut node_config = None;
    for name in &names {
        let svc = service(&compose, name);
        let command = strings(field(&svc, "command"));
        assert_eq!(flag(&command, "--advertise"), format!("http://{name}:8080"));
        advertised.insert(format!("http://{name}:8080"));
        let config_path = flag(&command, "--config").to_string();
        let (file, _) = volumes(&svc)
            .into_iter()
            .find(|(_, inside)| *inside == config_path)
            .unwrap_or_else(|| panic!("{name}: nothing mounted at {config_path}"));
        assert!(file.is_file(), "{}", file.display());
        node_config = Some((file, command));
        assert!(field(&svc, "secrets")
            .as_vec()
            .unwrap()
            .contains(&Yaml::from_str("cluster-token")));
    }
    let (config_file, command) = node_config.unwrap();
    let config = fs::read_to_string(&config_file).unwrap();
    let table = toml_value(&config);
    let peers: BTreeSet<String> = table["cluster"]["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_eq!(peers, advertised);
    let token_file = table["cluster"]["token_file"].as_str().unwrap();
    assert_eq!(token_file, "/run/secrets/cluster-token");
    assert_eq!(
        table["origin"]["url"].as_str(),
        Some("http://origin:8080"),
        "the compose origin"
    );
    let origin = service(&compose, "origin");
    assert_eq!(
        flag(&strings(field(&origin, "command")), "--listen"),
        "0.0.0.0:8080"
    );

    // The load balancer mounts a file of deploy/nginx; every LB recipe
    // lists exactly these nodes.
    let nodes: BTreeSet<String> = names.iter().map(|n| format!("{n}:8080")).collect();
    let lb = service(&compose, "lb");
    let mounted: Vec<PathBuf> = volumes(&lb).into_iter().map(|(f, _)| f).collect();
    assert!(
        mounted.contains(&deploy("nginx/round-robin.conf")),
        "{mounted:?}"
    );
    for f in [
        "nginx/round-robin.conf",
        "nginx/consistent-hash.conf",
        "haproxy.cfg",
    ] {
        let text = fs::read_to_string(deploy(f)).unwrap();
        assert_eq!(lb_servers(&text), nodes, "{f}");
    }
    assert!(fs::read_to_string(deploy("nginx/consistent-hash.conf"))
        .unwrap()
        .contains("hash $request_uri consistent;"));
    let haproxy = fs::read_to_string(deploy("haproxy.cfg")).unwrap();
    assert!(haproxy.contains("balance uri") && haproxy.contains("hash-type consistent"));

    // The node config passes `check` with its mounted paths in a temp dir.
    let tmp = tempfile::tempdir().unwrap();
    let at = |p: &str| tmp.path().join(p.trim_start_matches('/'));
    let root = table["server"]["root"].as_str().unwrap();
    let cache_dir = table["cache"]["dir"].as_str().unwrap();
    fs::create_dir_all(at(root)).unwrap();
    fs::create_dir_all(at(token_file).parent().unwrap()).unwrap();
    fs::write(at(token_file), "a-cluster-token-of-24-chars").unwrap();
    let local = config
        .replace(root, at(root).to_str().unwrap())
        .replace(token_file, at(token_file).to_str().unwrap())
        .replace(cache_dir, at(cache_dir).to_str().unwrap());
    let cfg = tmp.path().join("edge.toml");
    fs::write(&cfg, local).unwrap();
    let config_path = flag(&command, "--config").to_string();
    let args: Vec<String> = command
        .iter()
        .map(|a| a.replace(&config_path, cfg.to_str().unwrap()))
        .collect();
    check_ok(&args);
}
