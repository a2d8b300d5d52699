//! Shared helpers for the integration tests: a real `cdn-edge serve` child
//! process bound to 127.0.0.1:0, a raw HTTP/1.1 client over `TcpStream` (so
//! request targets are sent byte for byte, `..` and all), and a fixture root.
//!
//! Every server runs with `CDN_EDGE_TEST_CLOCK=1`, so a test moves the
//! node's clock with [`Server::advance`] (and the origin's with
//! [`advance`]) instead of sleeping.
//!
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

pub mod browser;
pub mod cluster;
pub mod disk;
pub mod http2;
pub mod http3;
pub mod oracle;
pub mod origin;
pub mod reload;

/// How long a server may take to print its listening line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a refused start or a shutdown may take before the test gives up.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long to poll for a change on disk to become visible.
pub const CHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// The environment variable that enables the node's settable clock.
pub const TEST_CLOCK_ENV: &str = "CDN_EDGE_TEST_CLOCK";
/// Where a node with the test clock takes `POST <secs>` to advance it.
pub const CLOCK_PATH: &str = "/_edge/clock";

/// The mtime every fixture file gets: 2021-06-01T12:00:00Z.
pub fn fixed_mtime() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_622_548_800)
}

/// Removes ANSI colour escapes (tracing may colour its output).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Parses the address out of a `listening on http://ADDR` line.
fn parse_listen_line(line: &str) -> Option<SocketAddr> {
    let idx = line.find("listening on http://")?;
    let rest = &line[idx + "listening on http://".len()..];
    let token: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != ',' && *c != '\'')
        .collect();
    let token = token.trim_end_matches(['/', '.', ')', ']']);
    token.parse().ok().or_else(|| {
        // an IPv6-less bracketed form or trailing junk: try progressively shorter
        let mut t = token;
        while !t.is_empty() {
            if let Ok(a) = t.parse() {
                return Some(a);
            }
            t = &t[..t.len() - 1];
        }
        None
    })
}

/// Sends `signal` (`"USR1"`, `"TERM"`, `"HUP"`, `"KILL"`) to the process
/// `pid` only, by the system call (no `kill` program needed).
pub fn send_signal(pid: u32, signal: &str) {
    let sig = match signal {
        "TERM" => libc::SIGTERM,
        "HUP" => libc::SIGHUP,
        "USR1" => libc::SIGUSR1,
        "KILL" => libc::SIGKILL,
        "INT" => libc::SIGINT,
        other => panic!("no such signal here: {other}"),
    };
    let pid = libc::pid_t::try_from(pid).expect("a pid");
    assert!(pid > 0, "a child's pid, never a group");
    // SAFETY: kill(2) with a child's pid, never 0 or -1 (a group).
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill -{signal} {pid}: {}",
        std::io::Error::last_os_error()
    );
}

/// Waits for a child to exit, polling; `None` on timeout.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A running `cdn-edge serve` child process.
pub struct Server {
    child: Child,
    /// The address the server reported it bound.
    pub addr: SocketAddr,
    /// Every stderr line so far (ANSI stripped).
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// Every stdout line so far (the access log when it goes to stdout).
    pub stdout: Arc<Mutex<Vec<String>>>,
    exited: Option<ExitStatus>,
    _config_dir: Option<TempDir>,
}

impl Server {
    /// Writes `config_toml` to a temp dir and starts
    /// `cdn-edge serve --config FILE --listen 127.0.0.1:0 --root ROOT`.
    pub fn start(root: &Path, config_toml: &str) -> Server {
        Server::try_start(root, config_toml).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Server::start`], or why the node did not start (its stderr).
    pub fn try_start(root: &Path, config_toml: &str) -> Result<Server, String> {
        let dir = tempfile::tempdir().expect("config tempdir");
        let cfg = dir.path().join("config.toml");
        fs::write(&cfg, config_toml).expect("write config");
        let mut s = Server::spawn(&serve_args(&cfg, root), None)?;
        s._config_dir = Some(dir);
        Ok(s)
    }

    /// Starts `cdn-edge serve --config CFG --listen 127.0.0.1:0 --root ROOT`
    /// in `cwd` (if given).
    pub fn start_config_file(cfg: &Path, root: &Path, cwd: Option<&Path>) -> Server {
        Server::spawn(&serve_args(cfg, root), cwd).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the binary with exactly these arguments (and cwd, if given) and
    /// waits for the listening line. `Err` carries the stderr if the process
    /// exited or never reported listening.
    pub fn spawn(args: &[OsString], cwd: Option<&Path>) -> Result<Server, String> {
        Server::spawn_with(args, cwd, |_| {})
    }

    /// [`Server::spawn`], with `prepare` given the command before it runs
    /// (to drop privileges, say).
    pub fn spawn_with(
        args: &[OsString],
        cwd: Option<&Path>,
        prepare: impl FnOnce(&mut Command),
    ) -> Result<Server, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cdn-edge"));
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .env(TEST_CLOCK_ENV, "1");
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        prepare(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| format!("spawn cdn-edge: {e}"))?;
        let stdout_lines = Arc::new(Mutex::new(Vec::new()));
        {
            let out = child.stdout.take().expect("stdout piped");
            let lines = Arc::clone(&stdout_lines);
            thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    match line {
                        Ok(l) => lines.lock().unwrap().push(l),
                        Err(_) => break,
                    }
                }
            });
        }
        let stderr = child.stderr.take().expect("stderr piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        {
            let lines = Arc::clone(&lines);
            thread::spawn(move || {
                let mut reader = BufReader::new(stderr);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let line = strip_ansi(String::from_utf8_lossy(&buf).trim_end());
                            lines.lock().unwrap().push(line.clone());
                            let _ = tx.send(line);
                        }
                    }
                }
            });
        }
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(addr) = parse_listen_line(&line) {
                        assert!(
                            addr.ip().is_loopback(),
                            "server bound a non-loopback address: {addr}"
                        );
                        return Ok(Server {
                            child,
                            addr,
                            stderr: lines,
                            stdout: stdout_lines,
                            exited: None,
                            _config_dir: None,
                        });
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = wait_timeout(&mut child, Duration::from_secs(5));
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "server exited ({status:?}) before listening; stderr:\n{}",
                        lines.lock().unwrap().join("\n")
                    ));
                }
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "server did not print `listening on http://` within {START_TIMEOUT:?}; stderr:\n{}",
                    lines.lock().unwrap().join("\n")
                ));
            }
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM to the child (and only the child).
    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Sends SIGHUP to the child (and only the child): reload the config.
    pub fn sighup(&self) {
        self.signal("HUP");
    }

    /// Waits for the child to exit; `None` on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = wait_timeout(&mut self.child, timeout);
        }
        self.exited
    }

    /// All stderr lines seen so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// All stdout lines seen so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Sends `signal` (`"USR1"`, `"TERM"`, `"HUP"`, `"KILL"`) to the child only.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Sends one request.
    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.addr, method, path, headers)
    }

    /// `GET path` with no extra headers.
    pub fn get(&self, path: &str) -> Response {
        request(self.addr, "GET", path, &[])
    }

    /// `GET path` with headers.
    pub fn get_h(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.addr, "GET", path, headers)
    }

    /// `HEAD path` with headers.
    pub fn head_h(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.addr, "HEAD", path, headers)
    }

    /// `POST path` with headers and a body (Content-Length framed).
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        request_with_body(self.addr, "POST", path, headers, body)
    }

    /// Moves the node's clock forward by `secs` (cumulative) through
    /// `POST /_edge/clock`; asserts the node answered 200. Only the node's
    /// clock moves: use [`advance`] to move the origin's `Date` with it.
    pub fn advance(&self, secs: u64) {
        let r = self.post(CLOCK_PATH, &[], secs.to_string().as_bytes());
        assert_eq!(
            r.status,
            200,
            "advancing the node's clock by {secs} s: {}",
            r.summary()
        );
    }
}

/// Moves the origin's and the node's clocks forward together by `secs`: the
/// node judges an object's age from the origin's `Date` (RFC 9111 §4.2.3), so
/// both must move.
pub fn advance(o: &origin::Origin, s: &Server, secs: u64) {
    o.advance_clock(secs);
    s.advance(secs);
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the binary with these args to its exit, in `cwd` (if given) and
/// with `env` set; returns its status, stdout and stderr (ANSI stripped).
/// Panics if it is still running after `EXIT_TIMEOUT`.
pub fn run_captured(
    args: &[OsString],
    cwd: Option<&Path>,
    env: &[(&str, &str)],
) -> (ExitStatus, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cdn-edge"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let mut child = cmd.spawn().expect("spawn cdn-edge");
    let pipe = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            strip_ansi(&String::from_utf8_lossy(&buf))
        })
    };
    let out = pipe(Box::new(child.stdout.take().unwrap()));
    let err = pipe(Box::new(child.stderr.take().unwrap()));
    let status = wait_timeout(&mut child, EXIT_TIMEOUT).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("cdn-edge {args:?} did not exit within {EXIT_TIMEOUT:?}")
    });
    (status, out.join().unwrap(), err.join().unwrap())
}

/// Runs the binary with these args (expecting it to exit by itself) and
/// returns its exit status and stderr (ANSI stripped). Panics if it is still
/// running after `EXIT_TIMEOUT` (e.g. it accepted a bad config and served).
pub fn run_to_exit(args: &[OsString], cwd: Option<&Path>) -> (ExitStatus, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cdn-edge"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .env(TEST_CLOCK_ENV, "1");
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let mut child = cmd.spawn().expect("spawn cdn-edge");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    match wait_timeout(&mut child, EXIT_TIMEOUT) {
        Some(status) => {
            let buf = reader.join().unwrap();
            (status, strip_ansi(&String::from_utf8_lossy(&buf)))
        }
        None => {
            let _ = child.kill();
            let _ = child.wait();
            let buf = reader.join().unwrap();
            panic!(
                "cdn-edge {:?} did not exit within {EXIT_TIMEOUT:?}; stderr:\n{}",
                args,
                strip_ansi(&String::from_utf8_lossy(&buf))
            );
        }
    }
}

/// Runs `serve --config FILE --listen 127.0.0.1:0 --root ROOT` with this
/// config text, expecting a refusal; returns status and stderr.
pub fn run_config_expect_exit(root: &Path, config_toml: &str) -> (ExitStatus, String) {
    let dir = tempfile::tempdir().expect("config tempdir");
    let cfg = dir.path().join("config.toml");
    fs::write(&cfg, config_toml).expect("write config");
    run_to_exit(&serve_args(&cfg, root), None)
}

/// `serve --config CFG --listen 127.0.0.1:0 --root ROOT`.
pub fn serve_args(cfg: &Path, root: &Path) -> Vec<OsString> {
    vec![
        "serve".into(),
        "--config".into(),
        cfg.as_os_str().to_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--root".into(),
        root.as_os_str().to_owned(),
    ]
}

/// Bytes that do not compress (so no encodings are made of them).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The non-empty lines of a text.
pub fn nonempty_lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| !l.trim().is_empty()).collect()
}

// ---------------------------------------------------------------------------
// Raw HTTP/1.1 client
// ---------------------------------------------------------------------------

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in wire order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body bytes (de-chunked if chunked; everything after the head otherwise).
    pub body: Vec<u8>,
    /// Interim responses read before it (status, headers in wire order).
    pub interim: Vec<(u16, Fields)>,
}

/// The values of the header lines named `name` (case-insensitive), in
/// wire order: what the client's `Response` and the origin's `Seen` read.
pub fn values_of<'a, 'n>(
    headers: &'a [(String, String)],
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Response {
    /// A response from an `http` head and its body (the HTTP/2 and HTTP/3
    /// clients' answers).
    pub fn of_head(status: u16, fields: &http::HeaderMap, body: Vec<u8>) -> Response {
        let headers = fields
            .iter()
            .map(|(n, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_string(), v)
            })
            .collect();
        Response {
            status,
            headers,
            body,
            interim: Vec::new(),
        }
    }

    /// Panics if the response has a connection-specific field, which
    /// HTTP/2 and HTTP/3 forbid (RFC 9113 §8.2.2, RFC 9114 §4.2); `proto`
    /// names the protocol in the message.
    pub fn assert_no_connection_fields(&self, proto: &str) {
        for name in [
            "connection",
            "keep-alive",
            "transfer-encoding",
            "upgrade",
            "proxy-connection",
        ] {
            assert!(
                !self.has(name),
                "{proto} response with {name}: {}",
                self.summary()
            );
        }
    }

    /// First value of a header, case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        values_of(&self.headers, name).next()
    }

    /// Every value of a header, case-insensitive name.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        values_of(&self.headers, name).collect()
    }

    /// Whether the header is present at all.
    pub fn has(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// The comma-separated tokens of every instance of a header, trimmed.
    pub fn tokens(&self, name: &str) -> Vec<String> {
        self.header_all(name)
            .iter()
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Whether `Vary` (one header or several, comma lists) names `token`.
    pub fn vary_contains(&self, token: &str) -> bool {
        self.tokens("vary")
            .iter()
            .any(|t| t.eq_ignore_ascii_case(token) || t == "*")
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A one-line summary for assertion messages.
    pub fn summary(&self) -> String {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]).into_owned();
        format!(
            "status={} headers={:?} body[..200]={:?}",
            self.status, self.headers, body
        )
    }
}

/// Sends one HTTP/1.1 request with `Connection: close` and reads the reply to
/// EOF. `path` is written verbatim as the request target.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(n);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let raw = send_raw(addr, head.as_bytes());
    parse_response(&raw, method.eq_ignore_ascii_case("HEAD")).unwrap_or_else(|e| {
        panic!(
            "{method} {path}: bad response ({e}): {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// Sends one HTTP/1.1 request with `Connection: close`, these headers, a
/// `Content-Length` and `body`, and reads the reply to EOF.
pub fn request_with_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    let got = send_raw(addr, &raw);
    parse_response(&got, false).unwrap_or_else(|e| {
        panic!(
            "{method} {path}: bad response ({e}): {:?}",
            String::from_utf8_lossy(&got)
        )
    })
}

/// Like [`request`], but a connection closed without a parsable response is
/// an `Err` (with what was read) rather than a panic.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response, String> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let raw = send_raw(addr, head.as_bytes());
    parse_response(&raw, method.eq_ignore_ascii_case("HEAD"))
        .map_err(|e| format!("{e}: {:?}", String::from_utf8_lossy(&raw)))
}

/// Writes raw bytes, reads until EOF, returns everything read.
pub fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(bytes).expect("write request");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            // A signal arrived (seen under load): read again.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!(
                "reading response failed ({e}); got so far: {:?}",
                String::from_utf8_lossy(&buf[..buf.len().min(500)])
            ),
        }
    }
    buf
}

/// Splits a raw response into its head and body; interim responses
/// (`1xx` but `101`, RFC 9110 §15.2) before it are kept in `interim`.
pub fn parse_response(raw: &[u8], _is_head: bool) -> Result<Response, String> {
    let mut interim = Vec::new();
    let mut raw = raw;
    loop {
        let (status, headers, end) = parse_head(raw)?;
        raw = &raw[end + 4..];
        if (100..200).contains(&status) && status != 101 {
            interim.push((status, headers));
            continue;
        }
        let chunked = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        });
        let body = if chunked { dechunk(raw)? } else { raw.to_vec() };
        return Ok(Response {
            status,
            headers,
            body,
            interim,
        });
    }
}

/// Header lines in wire order: (name as sent, value trimmed).
pub type Fields = Vec<(String, String)>;

/// The status and header lines of the head `raw` starts with, and where
/// its blank line starts.
fn parse_head(raw: &[u8]) -> Result<(u16, Fields, usize), String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of head")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| e.to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty head")?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (n, v) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    Ok((status, headers, end))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line")?;
        let size_line = std::str::from_utf8(&data[..line_end]).map_err(|e| e.to_string())?;
        let size_str = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_str, 16).map_err(|e| format!("chunk size: {e}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

impl Server {
    /// One sample of the node's `/metrics` (`None`: not there).
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.get("/metrics")
            .text()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    }

    /// The node's peak resident memory so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM");
        kib * 1024.0
    }
}

/// A client that asks for `path` and never reads: a 4 KiB receive buffer,
/// so the node's writes to it soon block.
pub fn stalled(addr: SocketAddr, path: &str) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut c: TcpStream = sock.into();
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .unwrap();
    c
}

/// Polls `f` until it returns true or `timeout` passes; returns whether it did.
pub fn poll_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// How long encodings the node makes in the background may take to appear.
pub const MADE_TIMEOUT: Duration = Duration::from_secs(20);

/// Polls `path` with `Accept-Encoding: <coding>` until it comes back in that
/// coding (made on the compression pool), within [`MADE_TIMEOUT`]; the
/// last answer.
pub fn wait_for_encoding(s: &Server, path: &str, coding: &str) -> Response {
    let mut last = None;
    let made = poll_until(MADE_TIMEOUT, || {
        let r = s.get_h(path, &[("Accept-Encoding", coding)]);
        let done = r.header("content-encoding") == Some(coding);
        last = Some(r);
        done
    });
    let last = last.unwrap();
    assert!(made, "{coding} made of {path}: {}", last.summary());
    last
}

/// The `Allow` header's methods, upper-cased and sorted.
pub fn allow_set(r: &Response) -> Vec<String> {
    let mut v: Vec<String> = r
        .tokens("allow")
        .iter()
        .map(|t| t.to_ascii_uppercase())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Whether an ETag is strong and well-formed (`"..."`).
pub fn is_strong_etag(e: &str) -> bool {
    e.len() >= 2 && e.starts_with('"') && e.ends_with('"') && !e[1..e.len() - 1].contains('"')
}

// ---------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------

/// The identity bytes of `app.css` (~2 KB of text).
pub fn app_css() -> Vec<u8> {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < 2048 {
        s.push_str(&format!(
            ".c{i} {{ color: #{:06x}; margin: {i}px; }}\n",
            i * 7919 % 0xffffff
        ));
        i += 1;
    }
    s.into_bytes()
}

/// The bytes standing in for `app.css.br` (the server does not decode them).
pub fn app_css_br() -> Vec<u8> {
    let mut v = b"BROTLI-REPRESENTATION-OF-APP-CSS:".to_vec();
    v.extend((0..300u32).map(|i| (i * 31 % 256) as u8));
    v
}

/// The bytes standing in for `app.css.gz`.
pub fn app_css_gz() -> Vec<u8> {
    let mut v = vec![0x1f, 0x8b, 0x08, 0x00];
    v.extend_from_slice(b"GZIP-REPRESENTATION-OF-APP-CSS:");
    v.extend((0..500u32).map(|i| (i * 17 % 256) as u8));
    v
}

/// The 1000 known bytes of `data.bin`.
pub fn data_bin() -> Vec<u8> {
    (0..1000u32).map(|i| (i % 251) as u8).collect()
}

pub const PLAIN_TXT: &[u8] = b"hello plain text\n";
pub const LOGO_SVG: &[u8] =
    b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1\" height=\"1\"></svg>\n";
pub const IMG_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
pub const FINGERPRINTED_JS: &[u8] = b"console.log('fingerprinted');\n";
pub const INDEX_HTML: &[u8] = b"<!doctype html><title>root index</title>\n";
pub const DOCS_INDEX_HTML: &[u8] = b"<!doctype html><title>docs index</title>\n";
pub const SECRET: &[u8] = b"TOP-SECRET";

/// A temp tree: `<tmp>/root` (the served root) and `<tmp>/outside` (holding
/// `secret.txt` = `TOP-SECRET`), so `root/../outside/secret.txt` is real.
pub struct Fixture {
    _tmp: TempDir,
    /// The served root.
    pub root: PathBuf,
    /// A directory beside the root, never to be served.
    pub outside: PathBuf,
}

impl Fixture {
    /// Builds the standard fixture.
    pub fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("fixture tempdir");
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        let f = Fixture {
            _tmp: tmp,
            root,
            outside,
        };
        f.write("app.css", &app_css());
        f.write("app.css.br", &app_css_br());
        f.write("app.css.gz", &app_css_gz());
        f.write("plain.txt", PLAIN_TXT);
        f.write("logo.svg", LOGO_SVG);
        f.write("img.png", IMG_PNG);
        f.write("app.3f2a9c1b7d.js", FINGERPRINTED_JS);
        f.write("index.html", INDEX_HTML);
        f.write("docs/index.html", DOCS_INDEX_HTML);
        fs::create_dir_all(f.root.join("emptydir")).unwrap();
        f.write(".env", b"SECRET_ENV=TOP-SECRET\n");
        f.write(
            ".git/config",
            b"[core]\n\trepositoryformatversion = TOP-SECRET\n",
        );
        f.write("data.bin", &data_bin());
        let secret = f.outside.join("secret.txt");
        fs::write(&secret, SECRET).unwrap();
        std::os::unix::fs::symlink(&secret, f.root.join("escape.txt")).unwrap();
        std::os::unix::fs::symlink(&f.outside, f.root.join("escape_dir")).unwrap();
        f
    }

    /// The parent temp dir holding `root/` and `outside/`.
    pub fn parent(&self) -> &Path {
        self._tmp.path()
    }

    /// Absolute path of a file under the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes a file under the root (creating directories) with the fixed mtime.
    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.root.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, bytes).unwrap();
        set_mtime(&p, fixed_mtime());
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

/// Sets a regular file's mtime.
pub fn set_mtime(p: &Path, t: SystemTime) {
    let f = fs::File::options()
        .write(true)
        .open(p)
        .expect("open for mtime");
    f.set_modified(t).expect("set mtime");
}

/// Replaces a file's content atomically (temp file + rename) with mtime now.
pub fn replace_atomically(p: &Path, bytes: &[u8]) {
    let tmp = p.with_file_name(format!(".{}.tmp", p.file_name().unwrap().to_string_lossy()));
    fs::write(&tmp, bytes).unwrap();
    fs::rename(&tmp, p).unwrap();
}

/// A config with a short refresh interval, plus `extra` appended.
pub fn config_with(extra: &str) -> String {
    format!("[server]\nrefresh = \"50ms\"\n{extra}")
}

/// [`config_with`] pulling from `origin` with a disk cache in `dir`.
pub fn config_with_disk(origin: &str, dir: &std::path::Path) -> String {
    config_with(&format!(
        "[origin]\nurl = \"{origin}\"\n[cache]\ndir = \"{}\"\n",
        dir.display()
    ))
}

/// The entry files (`*.obj`) under a disk cache directory.
pub fn disk_entry_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "obj") {
                files.push(p);
            }
        }
    }
    files
}
