//! The `purge` subcommand: sends the paths (or prefixes) and tags
//! (`--tag`), dropped or made stale (`--soft`), as `POST <purge.path>` to
//! the nodes given (`--node`, else `purge.nodes`, else
//! this config's `server.listen`), one after the other, and prints each
//! answer. A node of a cluster sends the purge on to its peers and lists
//! their results, so one node is enough; a later node that an earlier
//! answer lists as purged is not called again. Fails (with the nodes and
//! why) when some node named anywhere was not purged. Not here: purging
//! (`server::purge`), sending it on (`cluster::fanout`).

use std::collections::{BTreeMap, HashMap};

use crate::cli::PurgeArgs;
use crate::cluster::{Batch, Peer};
use crate::error_chain::chain;

/// Runs `purge`.
pub fn run(args: &PurgeArgs) -> Result<(), String> {
    let config = crate::config::Config::load(args.config.as_deref()).map_err(|e| chain(&e))?;
    let token = config
        .purge
        .effective_token()
        .map_err(|e| chain(&e))?
        .ok_or("purge: no token: set [purge] token in the config or CDN_EDGE_PURGE_TOKEN")?;
    let nodes = if !args.nodes.is_empty() {
        args.nodes
            .iter()
            .map(|n| base_url(n))
            .collect::<Result<_, _>>()?
    } else if !config.purge.nodes.is_empty() {
        config.purge.nodes.clone()
    } else {
        vec![format!("http://{}", config.server.listen)]
    };
    let body = serde_json::to_string(&batch_of(args)).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let mut tally = Tally::default();
    for node in &nodes {
        if let Some(via) = tally.purged_through(node) {
            println!("{node}: purged through {via}");
            continue;
        }
        let url = format!("{}{}", node.trim_end_matches('/'), config.purge.path);
        let sent = runtime.block_on(async {
            let resp = client
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await?;
            let status = resp.status();
            Ok::<_, reqwest::Error>((status, resp.text().await.unwrap_or_default()))
        });
        match sent {
            Ok((s, text)) if s.is_success() => {
                println!("{node}: {}", text.trim());
                for (peer, why) in tally.answered(node, &text) {
                    eprintln!("  {peer}: {why}");
                }
            }
            Ok((s, text)) => {
                eprintln!("{node}: {s}: {}", text.trim());
                tally.failed(node, format!("{s}"));
            }
            Err(e) => {
                eprintln!("{node}: {e}");
                tally.failed(node, e.to_string());
            }
        }
    }
    tally.verdict()
}

/// The body of the purge the arguments ask for.
fn batch_of(args: &PurgeArgs) -> Batch {
    let mut batch = Batch {
        tags: args.tags.clone(),
        soft: args.soft,
        ..Batch::default()
    };
    if args.prefix {
        batch.prefixes = args.paths.clone();
    } else {
        batch.paths = args.paths.clone();
    }
    batch
}

/// Which nodes were purged (and through which node), and which were not.
#[derive(Debug, Default)]
struct Tally {
    /// Normalised URL → the node whose answer says it was purged.
    purged: HashMap<String, String>,
    /// Normalised URL → why not, while it was not purged.
    failed: BTreeMap<String, String>,
}

impl Tally {
    /// The node through which `node` was purged already, if it was.
    fn purged_through(&self, node: &str) -> Option<&str> {
        self.purged.get(&normalise(node)).map(String::as_str)
    }

    /// Takes `node`'s 2xx answer `text`: it and every peer it lists as
    /// purged are done; the peers it lists with an error, and why.
    fn answered(&mut self, node: &str, text: &str) -> Vec<(String, String)> {
        self.done(node, node);
        let answer: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let mut errors = Vec::new();
        for entry in answer["nodes"].as_array().into_iter().flatten() {
            let Some(peer) = entry["node"].as_str() else {
                continue;
            };
            match (entry["purged"].as_u64(), entry["error"].as_str()) {
                (Some(_), _) => self.done(peer, node),
                (None, why) => {
                    let why = why.unwrap_or("no result").to_string();
                    self.failed(peer, why.clone());
                    errors.push((peer.to_string(), why));
                }
            }
        }
        errors
    }

    /// Records that `node` was not purged, unless it was already.
    fn failed(&mut self, node: &str, why: String) {
        let n = normalise(node);
        if !self.purged.contains_key(&n) {
            self.failed.insert(n, why);
        }
    }

    fn done(&mut self, node: &str, via: &str) {
        let n = normalise(node);
        self.failed.remove(&n);
        self.purged.entry(n).or_insert_with(|| via.to_string());
    }

    /// `Ok` when every node named was purged, else which were not.
    fn verdict(&self) -> Result<(), String> {
        if self.failed.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = self
            .failed
            .iter()
            .map(|(n, why)| format!("{n} ({why})"))
            .collect();
        Err(format!(
            "purge did not reach {} node(s): {}",
            list.len(),
            list.join(", ")
        ))
    }
}

/// A `--node` as a base URL: `host:port` is `http://host:port`; a
/// scheme other than http or https is refused.
fn base_url(node: &str) -> Result<String, String> {
    match node.split_once("://") {
        None if !node.is_empty() => Ok(format!("http://{node}")),
        Some(("http" | "https", rest)) if !rest.is_empty() => Ok(node.to_string()),
        _ => Err(format!(
            "--node {node}: a node's base URL, like http://127.0.0.1:8080 (http:// or https://; host:port alone means http://)"
        )),
    }
}

/// A node's URL as peers spell it (`http://Edge-1/` is `http://edge-1:80`).
fn normalise(url: &str) -> String {
    url.parse::<Peer>()
        .map(|p| p.url().to_string())
        .unwrap_or_else(|_| url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_purged_through_another_is_not_called_and_failures_are_named() {
        let mut t = Tally::default();
        let answer = r#"{"purged": 2, "nodes": [
            {"node": "http://a:8080", "purged": 1},
            {"node": "http://b:8080", "purged": 1},
            {"node": "http://c:8080", "error": "down: kept until it is back"}]}"#;
        let errors = t.answered("http://A:8080/", answer);
        assert_eq!(
            errors,
            [(
                "http://c:8080".to_string(),
                "down: kept until it is back".to_string()
            )]
        );
        assert_eq!(t.purged_through("http://b:8080/"), Some("http://A:8080/"));
        assert_eq!(t.purged_through("http://c:8080"), None);
        let e = t.verdict().unwrap_err();
        assert!(e.contains("1 node(s): http://c:8080 (down"), "{e}");
        // Called directly, it is purged after all.
        t.answered("http://c:8080", r#"{"purged": 0}"#);
        assert_eq!(t.verdict(), Ok(()));
        // A failure of a node purged already changes nothing.
        t.failed("http://b:8080", "refused".into());
        assert_eq!(t.verdict(), Ok(()));
    }

    #[test]
    fn a_node_without_a_scheme_is_http() {
        assert_eq!(base_url("127.0.0.1:8084").unwrap(), "http://127.0.0.1:8084");
        assert_eq!(base_url("edge-1:80").unwrap(), "http://edge-1:80");
        assert_eq!(base_url("https://a:1/").unwrap(), "https://a:1/");
        for bad in ["ftp://a:1", "http://", ""] {
            let e = base_url(bad).unwrap_err();
            assert!(e.contains("http://127.0.0.1:8080"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_lone_node_answer_is_that_node_alone() {
        let mut t = Tally::default();
        assert!(t
            .answered("http://127.0.0.1:1", "{\"purged\": 1}\n")
            .is_empty());
        t.failed("http://127.0.0.1:2", "connection refused".into());
        let e = t.verdict().unwrap_err();
        assert_eq!(
            e,
            "purge did not reach 1 node(s): http://127.0.0.1:2 (connection refused)"
        );
    }
}
