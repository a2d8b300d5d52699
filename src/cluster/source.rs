//! Where the peer list comes from, as configured: a static list, a file
//! of URLs, or a DNS name whose every address is a peer (what a
//! Kubernetes headless Service gives). This file holds the choice and the
//! file format; reading the file and asking DNS while serving is `peers`'.

use std::path::PathBuf;
use std::time::Duration;

use super::peer::{BadPeer, Peer};
use crate::listen::ListenAddr;

/// How often a peers file is checked for changes.
pub const FILE_POLL: Duration = Duration::from_secs(1);

/// The one source of peers of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerSource {
    /// A fixed list (`cluster.peers`, or `--peer` flags).
    Static(Vec<Peer>),
    /// One URL a line (`cluster.peers_file`), checked every `every`.
    File {
        /// The file (absolute, or relative to the working directory).
        path: PathBuf,
        /// How often it is read again to see whether it changed.
        every: Duration,
    },
    /// Every A/AAAA record of a name (`cluster.peers_dns`), as
    /// `http://ADDRESS:PORT`, resolved again every `every`.
    Dns {
        /// `name:port`.
        name: ListenAddr,
        /// How often the name is resolved again.
        every: Duration,
    },
}

impl PeerSource {
    /// How often the list may change and must be read again; `None` for a
    /// static list.
    pub fn every(&self) -> Option<Duration> {
        match self {
            Self::Static(_) => None,
            Self::File { every, .. } | Self::Dns { every, .. } => Some(*every),
        }
    }
}

/// A line of a peers file that is not a peer's base URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {text:?}: {reason}")]
pub struct BadLine {
    /// The line's number, from 1.
    pub line: usize,
    /// What it says (without its comment).
    pub text: String,
    /// Why it is not a base URL.
    pub reason: BadPeer,
}

/// Parses a peers file: one base URL a line; blank lines and everything
/// from a `#` on are ignored. The error names the line, the text and why.
pub fn parse_list(text: &str) -> Result<Vec<Peer>, BadLine> {
    let mut peers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let url = line.split('#').next().unwrap_or_default().trim();
        if url.is_empty() {
            continue;
        }
        let peer = url.parse::<Peer>().map_err(|reason| BadLine {
            line: i + 1,
            text: url.to_string(),
            reason,
        })?;
        peers.push(peer);
    }
    Ok(peers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peers_file_is_urls_with_comments_and_blank_lines() {
        let text = "# the edge nodes\n\
                    http://10.0.0.1:8080\n\
                    \n\
                    \thttp://10.0.0.2:8080/   # rack 2\n\
                    HTTP://Edge-3\r\n";
        let got: Vec<String> = parse_list(text)
            .unwrap()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "http://10.0.0.1:8080",
                "http://10.0.0.2:8080",
                "http://edge-3:80"
            ]
        );
        assert!(parse_list("# nobody yet\n\n").unwrap().is_empty());
    }

    #[test]
    fn a_bad_line_is_named() {
        let e = parse_list("http://a:1\n\nedge-2:8080\n").unwrap_err();
        assert_eq!(e.line, 3);
        let e = e.to_string();
        assert!(e.starts_with("line 3: \"edge-2:8080\": "), "{e}");
        assert!(e.contains("http://"), "{e}");
    }

    #[test]
    fn only_changing_sources_are_polled() {
        assert_eq!(PeerSource::Static(Vec::new()).every(), None);
        let dns = PeerSource::Dns {
            name: "localhost:8080".parse().unwrap(),
            every: Duration::from_secs(5),
        };
        assert_eq!(dns.every(), Some(Duration::from_secs(5)));
    }
}
