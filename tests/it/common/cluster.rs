//! Nodes of one cluster, run in this test process through the library
//! (each on its own thread with its own actix system): their listeners
//! are bound on 127.0.0.1:0 first, so every node's `advertise` and peer
//! list can name the others' real ports before any node starts. A node
//! can be stopped (its port and connections close), as a node
//! that died, and started again on the same port with the same config.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use actix_web::dev::ServerHandle;
use cdn_edge::cluster::{Peer, Ring};
use cdn_edge::config::Config;

use super::{request, Response};

/// The token every node of a test cluster shares.
pub const TOKEN: &str = "test-cluster-token-0123456789";

/// One node of a cluster, serving until stopped or dropped.
pub struct Node {
    /// The address it serves on.
    pub addr: SocketAddr,
    /// Its base URL, as its peers name it.
    pub url: String,
    /// Its HTTP/3 address, when its config has `[http3]` (the listener
    /// runs until the test process ends).
    pub h3: Option<SocketAddr>,
    config: Config,
    handle: Option<ServerHandle>,
    thread: Option<JoinHandle<()>>,
}

impl Node {
    /// Sends one request.
    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.addr, method, path, headers)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Response {
        request(self.addr, "GET", path, &[])
    }

    /// Its `/metrics` text.
    pub fn metrics(&self) -> String {
        self.get("/metrics").text()
    }

    /// The value of one sample of its `/metrics`, by its name and labels
    /// (`cdn_edge_cluster_peer_up{peer="http://…"}`).
    pub fn metric(&self, sample: &str) -> Option<f64> {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Starts a stopped node again, on the same port with the same config
    /// (its disk cache, if it has one, is found again; memory is empty).
    pub fn restart(&mut self) {
        assert!(self.handle.is_none(), "the node is running");
        let l = TcpListener::bind(self.addr).expect("the node's port is free again");
        *self = serve(self.config.clone(), l, self.url.clone());
    }

    /// Stops the node as a node that died: its listener closes, and its
    /// connections close (a request in flight gets at most a second, its
    /// `shutdown_timeout_secs`). Returns once its worker has stopped: a
    /// forced stop returns before that, and a peer's request sent on a
    /// kept-alive connection meanwhile could still be served (or half
    /// served: one origin fetch more than the test counts).
    pub fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(h.stop(true));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `n` nodes in front of `origin`, each with the static peer list of all
/// of them and the same token, serving the root `root`.
pub fn start(n: usize, origin: &str, root: &Path) -> Vec<Node> {
    start_with_tokens(&vec![TOKEN; n], origin, root)
}

/// What a test cluster's nodes get beside the defaults.
#[derive(Default)]
pub struct Setup<'a> {
    /// Lines added to each node's `[cluster]` table (`probe_ms = 100`).
    pub cluster: &'a str,
    /// Tables added to each node's config (`[purge]`...).
    pub extra: &'a str,
    /// A directory under which each node gets a disk cache of its own.
    pub disk: Option<&'a Path>,
}

/// `n` nodes as [`start`] makes them, with `setup`.
pub fn start_setup(n: usize, origin: &str, root: &Path, setup: &Setup) -> Vec<Node> {
    start_nodes(&vec![TOKEN; n], origin, root, setup)
}

/// One node per token of `tokens` (a node with another token than its
/// peers is a misconfigured one), as [`start`] makes them.
pub fn start_with_tokens(tokens: &[&str], origin: &str, root: &Path) -> Vec<Node> {
    start_nodes(tokens, origin, root, &Setup::default())
}

fn start_nodes(tokens: &[&str], origin: &str, root: &Path, setup: &Setup) -> Vec<Node> {
    let listeners: Vec<TcpListener> = (0..tokens.len())
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let urls: Vec<String> = listeners
        .iter()
        .map(|l| format!("http://{}", l.local_addr().unwrap()))
        .collect();
    let peers = urls
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    listeners
        .into_iter()
        .zip(&urls)
        .zip(tokens)
        .enumerate()
        .map(|(i, ((l, me), token))| {
            let disk = match setup.disk {
                Some(d) => format!(
                    "[cache]\ndir = {:?}\n",
                    d.join(format!("node{i}")).display().to_string()
                ),
                None => String::new(),
            };
            let toml = format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\nshutdown_timeout_secs = 1\nroot = {root:?}\n\
                 [log]\naccess = \"off\"\n[origin]\nurl = \"{origin}\"\n{disk}\
                 [cluster]\nadvertise = \"{me}\"\ntoken = \"{token}\"\npeers = [{peers}]\n{}\n{}",
                setup.cluster,
                setup.extra,
                root = root.display().to_string(),
            );
            let config = Config::parse("test", &toml).unwrap();
            serve(config, l, me.clone())
        })
        .collect()
}

/// Runs a node of `config` on `listener` on a thread of its own.
fn serve(config: Config, listener: TcpListener, url: String) -> Node {
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let kept = config.clone();
    let thread = thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let prepared = cdn_edge::server::prepare(&config).unwrap();
            prepared.start_cluster().await;
            let started = prepared.serve_on(vec![listener]).unwrap();
            let h3 = started.http3.as_ref().map(|h| h.addr);
            tx.send((started.server.handle(), h3)).unwrap();
            let _ = started.server.await;
        });
    });
    let (handle, h3) = rx.recv().expect("the node started");
    Node {
        addr,
        url,
        h3,
        config: kept,
        handle: Some(handle),
        thread: Some(thread),
    }
}

/// Which of `nodes` owns the pulled object at `path` (no query).
pub fn owner(nodes: &[Node], path: &str) -> usize {
    ranked(nodes, path)[0]
}

/// The nodes in the order `path` prefers them: its owner first, then whom
/// to ask when it is down.
pub fn ranked(nodes: &[Node], path: &str) -> Vec<usize> {
    let peers: Vec<Peer> = nodes.iter().map(|n| n.url.parse().unwrap()).collect();
    let ring = Ring::new(peers.clone());
    let key = cdn_edge::http::path::key(path).unwrap();
    ring.ranked(key.cache_key().as_bytes())
        .into_iter()
        .map(|o| peers.iter().position(|p| p == o).unwrap())
        .collect()
}

/// Paths under `prefix` whose owner is node `i`, `count` of them.
pub fn owned_by(nodes: &[Node], i: usize, prefix: &str, count: usize) -> Vec<String> {
    (0..)
        .map(|k| format!("{prefix}{k}.css"))
        .filter(|p| owner(nodes, p) == i)
        .take(count)
        .collect()
}
