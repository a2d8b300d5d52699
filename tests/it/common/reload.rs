//! Reload tests' helpers: a node whose config file the test rewrites and
//! reloads with SIGHUP, waiting for the node's own account of each reload
//! (`reload N: applied` / `refused` in its log), and a keep-alive HTTP/1.1
//! connection that is opened before a reload and used after it.
#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::{parse_response, poll_until, Response, Server};

/// How long a reload may take to be logged.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// A TOML string holding `p`.
pub fn toml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// A node started with `--config FILE` plus flags; the test owns FILE.
pub struct Node {
    server: Server,
    _dir: TempDir,
    /// The config file.
    pub file: PathBuf,
}

impl Deref for Node {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

impl Node {
    /// Writes `config` and starts `serve --config FILE --listen 127.0.0.1:0`.
    pub fn start(config: &str) -> Node {
        Node::with_flags(config, &["--listen", "127.0.0.1:0"])
    }

    /// Writes `config` and starts `serve --config FILE` with `flags`.
    pub fn with_flags(config: &str, flags: &[&str]) -> Node {
        let dir = tempfile::tempdir().expect("config tempdir");
        let file = dir.path().join("config.toml");
        std::fs::write(&file, config).expect("write config");
        let mut args: Vec<OsString> = vec!["serve".into(), "--config".into(), file.clone().into()];
        args.extend(flags.iter().map(OsString::from));
        let server = Server::spawn(&args, None).unwrap_or_else(|e| panic!("{e}"));
        Node {
            server,
            _dir: dir,
            file,
        }
    }

    /// The node itself.
    pub fn server(&mut self) -> &mut Server {
        &mut self.server
    }

    /// Rewrites the config file, reloads, and returns the reload's log
    /// lines (see [`reload`]).
    pub fn reload_with(&self, config: &str) -> Vec<String> {
        std::fs::write(&self.file, config).expect("write config");
        reload(&self.server)
    }

    /// Like [`Node::reload_with`], asserting the reload applied.
    pub fn reload_ok(&self, config: &str) -> Vec<String> {
        let lines = self.reload_with(config);
        assert!(
            lines.last().is_some_and(|l| l.contains(": applied")),
            "reload not applied: {lines:#?}"
        );
        lines
    }
}

/// The log lines of reload `n`.
fn lines_of(s: &Server, n: usize) -> Vec<String> {
    let tag = format!("reload {n}: ");
    s.stderr
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(&tag))
        .cloned()
        .collect()
}

/// Reloads the node has finished so far (applied or refused).
pub fn reloads_done(s: &Server) -> usize {
    s.stderr
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("reload ") && (l.contains(": applied") || l.contains(": refused")))
        .count()
}

/// Sends SIGHUP and waits for the node to finish that reload; returns the
/// reload's log lines, the outcome (`applied` / `refused`) last.
pub fn reload(s: &Server) -> Vec<String> {
    let n = reloads_done(s) + 1;
    s.sighup();
    let finished = |lines: &[String]| {
        lines
            .iter()
            .any(|l| l.contains(": applied") || l.contains(": refused"))
    };
    let done = poll_until(RELOAD_TIMEOUT, || finished(&lines_of(s, n)));
    assert!(done, "reload {n} never finished; log:\n{}", s.stderr_text());
    lines_of(s, n)
}

/// One HTTP/1.1 connection kept open across requests.
pub struct KeepAlive {
    stream: TcpStream,
    addr: SocketAddr,
}

impl KeepAlive {
    /// Connects to `addr`.
    pub fn open(addr: SocketAddr) -> KeepAlive {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        KeepAlive { stream, addr }
    }

    /// `GET path` on this connection (the answer must be sized, as every
    /// answer of the node to a GET of a local file is).
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
        let mut head = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        self.stream
            .write_all(head.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut raw = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let end = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(format!("closed after {} bytes", raw.len())),
                Ok(n) => raw.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("no content-length: {head}"))?;
        while raw.len() < end + len {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("closed in the body".into()),
                Ok(n) => raw.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        parse_response(&raw[..end + len], false)
    }
}
