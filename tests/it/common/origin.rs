//! A scriptable HTTP/1.1 origin server on 127.0.0.1:0 for the pull-through
//! caching tests (RFC 9111): the edge fetches from it over real sockets.
//!
//! Each path is scripted with a [`Reply`] (status, headers, body, and faults:
//! a stall, a body cut short, a hang-up, 304 on a matching validator, chunked
//! framing). Every request is recorded (see [`Origin::count`] and
//! [`Origin::requests`]) before its reply is delayed, so a test can see that a
//! request arrived while the answer is still stalled.
//!
//! A reply can depend on the request: [`Reply::echo_header`] appends the
//! request's value of a named header to the body (for `Vary` tests). The
//! origin's clock can be moved forward with [`Origin::advance_clock`]; it
//! shifts only the `Date` the origin generates.
//!
//! The server adds only `Date` (unless scripted) and the framing header
//! (`Content-Length`, or `Transfer-Encoding: chunked`; neither on 1xx, 204,
//! 304, nor when the script sets one itself). Requests are parsed by hand;
//! HTTP/1.1 keep-alive is supported, one thread per connection. Dropping the
//! [`Origin`] (or [`Origin::shutdown`]) closes the port, cuts every open
//! connection, wakes stalled replies and joins every thread it started.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

/// How often a blocked connection read wakes to check for shutdown.
const POLL: Duration = Duration::from_millis(50);
/// A write that makes no progress for this long fails (and closes).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head accepted.
const MAX_HEAD: usize = 1 << 20;
/// Chunk size of a `chunked` reply body.
const CHUNK: usize = 1024;

/// A real HTTP/1.1 server on 127.0.0.1 scripted per path.
pub struct Origin {
    /// The bound address (127.0.0.1, an ephemeral port).
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

/// A request as the origin received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The method, as sent.
    pub method: String,
    /// The request target: path with query, as sent.
    pub target: String,
    /// Headers in wire order, names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked if it was sent chunked).
    pub body: Vec<u8>,
}

impl Seen {
    /// First value of a header, case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        super::values_of(&self.headers, name).next()
    }

    /// Every value of a header (one per header line), case-insensitive name.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        super::values_of(&self.headers, name).collect()
    }

    /// The path of the target (no query; absolute-form reduced to its path).
    pub fn path(&self) -> &str {
        path_of(&self.target)
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers sent as given, in order, after `Date`.
    pub headers: Vec<(String, String)>,
    /// The full body.
    pub body: Vec<u8>,
    /// Wait this long before sending anything (to test first-byte timeouts
    /// and coalescing). The request is recorded before the wait.
    pub delay: Duration,
    /// Send only this many body bytes (after a correct Content-Length for
    /// the full body), then close: a body cut short. With `chunked`, the
    /// chunks carry this many bytes and the last-chunk is never sent.
    pub cut_after: Option<usize>,
    /// Close the connection without answering at all.
    pub hang_up: bool,
    /// If the request's If-None-Match equals this ETag (weak comparison, a
    /// list or `*`; GET/HEAD only), answer 304 with `headers` and no body.
    pub etag_304: Option<String>,
    /// If If-Modified-Since is present (GET/HEAD), answer 304 with `headers`.
    pub not_modified_if_ims: bool,
    /// Send the body with Transfer-Encoding: chunked instead of
    /// Content-Length.
    pub chunked: bool,
    /// Append the request's value of this header (every line, joined by
    /// `", "`; nothing if absent) to `body`.
    pub echo_header: Option<String>,
}

impl Reply {
    /// 200 with this body and no extra headers.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(200, body)
    }

    /// This status and body, no extra headers.
    pub fn status(code: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: code,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
            cut_after: None,
            hang_up: false,
            etag_304: None,
            not_modified_if_ims: false,
            chunked: false,
            echo_header: None,
        }
    }

    /// Adds a header (sent as given). A scripted `Date`, `Content-Length` or
    /// `Transfer-Encoding` replaces the one the origin would add;
    /// `Connection: close` makes the origin close after answering.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Stalls this long before sending anything.
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    /// Sends only `n` body bytes, then closes.
    pub fn cut_after(mut self, n: usize) -> Reply {
        self.cut_after = Some(n);
        self
    }

    /// Closes the connection without answering.
    pub fn hang_up() -> Reply {
        Reply {
            hang_up: true,
            ..Reply::status(200, Vec::new())
        }
    }

    /// Answers 304 (with the scripted headers, no body) when If-None-Match
    /// matches `etag`.
    pub fn etag_304(mut self, etag: &str) -> Reply {
        self.etag_304 = Some(etag.to_string());
        self
    }

    /// Answers 304 (with the scripted headers, no body) whenever
    /// If-Modified-Since is present.
    pub fn not_modified_if_ims(mut self) -> Reply {
        self.not_modified_if_ims = true;
        self
    }

    /// Sends the body chunked instead of with Content-Length.
    pub fn chunked(mut self) -> Reply {
        self.chunked = true;
        self
    }

    /// Makes the body depend on the request: the request's value of header
    /// `name` (all its lines joined by `", "`, nothing if absent) is
    /// appended to the scripted body. `Reply::ok("lang=").echo_header(
    /// "accept-language")` answers `lang=de` to `Accept-Language: de` and
    /// `lang=` to a request without it.
    pub fn echo_header(mut self, name: &str) -> Reply {
        self.echo_header = Some(name.to_string());
        self
    }

    /// This reply as answered to `req` (the echoed header resolved).
    fn for_request(mut self, req: &Seen) -> Reply {
        if let Some(name) = self.echo_header.take() {
            self.body
                .extend_from_slice(req.header_all(&name).join(", ").as_bytes());
        }
        self
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// Whether this request gets a 304 instead of the scripted status.
    fn not_modified(&self, req: &Seen) -> bool {
        let m = req.method.to_ascii_uppercase();
        if m != "GET" && m != "HEAD" {
            return false;
        }
        if let Some(etag) = &self.etag_304 {
            let want = strip_weak(etag.trim());
            let hit = req
                .header_all("if-none-match")
                .iter()
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .any(|t| t == "*" || strip_weak(t) == want);
            if hit {
                return true;
            }
        }
        self.not_modified_if_ims && req.header("if-modified-since").is_some()
    }
}

fn strip_weak(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// The path of a request target: query and fragment dropped, an
/// absolute-form target reduced to its path.
fn path_of(target: &str) -> &str {
    let t = origin_form(target);
    let end = t.find(['?', '#']).unwrap_or(t.len());
    &t[..end]
}

/// An absolute-form target (`http://host/p?q`) reduced to `/p?q`.
fn origin_form(target: &str) -> &str {
    for scheme in ["http://", "https://"] {
        if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &target[scheme.len()..];
            return match rest.find('/') {
                Some(i) => &rest[i..],
                None => "/",
            };
        }
    }
    target
}

/// Whether a recorded target is what `key` names: the exact target (with
/// query) if `key` has a `?`, else the path.
fn target_matches(target: &str, key: &str) -> bool {
    if key.contains('?') {
        origin_form(target) == key
    } else {
        path_of(target) == key
    }
}

#[derive(Default)]
struct Routes {
    by_path: HashMap<String, Reply>,
    by_target: HashMap<String, Reply>,
}

struct Inner {
    routes: Mutex<Routes>,
    seen: Mutex<Vec<Seen>>,
    stopped: Mutex<bool>,
    wake: Condvar,
    /// Clones of open connections, to cut them on shutdown.
    conns: Mutex<HashMap<u64, TcpStream>>,
    handles: Mutex<Vec<JoinHandle<()>>>,
    /// Threads started and not yet finished.
    running: AtomicUsize,
    /// Seconds added to the real time in a generated `Date`.
    clock_offset: AtomicU64,
}

impl Inner {
    /// The origin's notion of now: real time plus the offset.
    fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_secs(self.clock_offset.load(Ordering::SeqCst))
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap()
    }

    /// Sleeps `d` unless shut down first; true if shut down.
    fn sleep_unless_stopped(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut stopped = self.stopped.lock().unwrap();
        while !*stopped {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stopped = self.wake.wait_timeout(stopped, deadline - now).unwrap().0;
        }
        true
    }

    fn lookup(&self, target: &str) -> Option<Reply> {
        let routes = self.routes.lock().unwrap();
        routes
            .by_target
            .get(origin_form(target))
            .or_else(|| routes.by_path.get(path_of(target)))
            .cloned()
    }
}

/// Decrements the running-thread count (and forgets the connection) when a
/// thread ends, however it ends.
struct ThreadGuard {
    inner: Arc<Inner>,
    conn: Option<u64>,
}

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        if let Some(id) = self.conn {
            self.inner.conns.lock().unwrap().remove(&id);
        }
        self.inner.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Origin {
    /// Binds 127.0.0.1:0 and starts accepting. No routes yet: every path
    /// answers 404 "no route".
    pub fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("origin: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("origin: local_addr");
        let inner = Arc::new(Inner {
            routes: Mutex::new(Routes::default()),
            seen: Mutex::new(Vec::new()),
            stopped: Mutex::new(false),
            wake: Condvar::new(),
            conns: Mutex::new(HashMap::new()),
            handles: Mutex::new(Vec::new()),
            running: AtomicUsize::new(1),
            clock_offset: AtomicU64::new(0),
        });
        let acceptor = {
            let inner = Arc::clone(&inner);
            thread::Builder::new()
                .name("origin-accept".into())
                .spawn(move || accept_loop(inner, listener))
                .expect("origin: spawn acceptor")
        };
        Origin {
            addr,
            inner,
            acceptor: Mutex::new(Some(acceptor)),
        }
    }

    /// Base URL, e.g. "http://127.0.0.1:41234".
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets what `path` (exact match on the request target's path, query
    /// ignored) answers from now on. Requests already being answered keep
    /// the reply they started with.
    pub fn route(&self, path: &str, reply: Reply) {
        let mut routes = self.inner.routes.lock().unwrap();
        routes.by_path.insert(path.to_string(), reply);
    }

    /// Sets what the exact target `path?query` answers from now on; it takes
    /// precedence over a [`Origin::route`] for the same path.
    pub fn route_with_query(&self, target: &str, reply: Reply) {
        let mut routes = self.inner.routes.lock().unwrap();
        routes.by_target.insert(target.to_string(), reply);
    }

    /// Requests received for `path` so far (any method). A `path` with a `?`
    /// counts only that exact target.
    pub fn count(&self, path: &str) -> usize {
        let seen = self.inner.seen.lock().unwrap();
        seen.iter()
            .filter(|s| target_matches(&s.target, path))
            .count()
    }

    /// Moves the origin's clock forward by `secs` (cumulative). Only the
    /// `Date` the origin generates moves; a scripted `Date` is sent as
    /// scripted. Pair it with `Server::advance` (see `common::advance`), as
    /// the edge judges age from the origin's `Date`.
    pub fn advance_clock(&self, secs: u64) {
        self.inner.clock_offset.fetch_add(secs, Ordering::SeqCst);
    }

    /// Total requests received.
    pub fn total(&self) -> usize {
        self.inner.seen.lock().unwrap().len()
    }

    /// All requests received for `path`, in order (method, path with query,
    /// headers lower-cased, body). A `path` with a `?` matches that exact
    /// target only.
    pub fn requests(&self, path: &str) -> Vec<Seen> {
        let seen = self.inner.seen.lock().unwrap();
        seen.iter()
            .filter(|s| target_matches(&s.target, path))
            .cloned()
            .collect()
    }

    /// Every request received, in order.
    pub fn all_requests(&self) -> Vec<Seen> {
        self.inner.seen.lock().unwrap().clone()
    }

    /// Origin threads still running (the acceptor and one per open
    /// connection); 0 once shut down.
    pub fn threads(&self) -> usize {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Stops accepting (connections are refused from then on: the port is
    /// closed), cuts open connections, wakes stalled replies and joins every
    /// thread. Idempotent; also done on drop.
    pub fn shutdown(&self) {
        *self.inner.stopped.lock().unwrap() = true;
        self.inner.wake.notify_all();
        let acceptor = self.acceptor.lock().unwrap().take();
        if let Some(handle) = acceptor {
            // Wake the blocking accept with a connection of our own.
            let deadline = Instant::now() + Duration::from_secs(5);
            while !handle.is_finished() && Instant::now() < deadline {
                let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
                thread::sleep(Duration::from_millis(2));
            }
            let _ = handle.join();
        }
        for stream in self.inner.conns.lock().unwrap().values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let handles = std::mem::take(&mut *self.inner.handles.lock().unwrap());
        for handle in handles {
            let _ = handle.join();
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    let _guard = ThreadGuard {
        inner: Arc::clone(&inner),
        conn: None,
    };
    let mut next_id = 0u64;
    loop {
        let accepted = listener.accept();
        if inner.is_stopped() {
            break;
        }
        match accepted {
            Ok((stream, _)) => {
                next_id += 1;
                spawn_conn(&inner, next_id, stream);
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
    // `listener` drops here: the port is closed.
}

fn spawn_conn(inner: &Arc<Inner>, id: u64, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    if stream.set_read_timeout(Some(POLL)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    inner.conns.lock().unwrap().insert(id, clone);
    inner.running.fetch_add(1, Ordering::SeqCst);
    let guard = ThreadGuard {
        inner: Arc::clone(inner),
        conn: Some(id),
    };
    let handle = thread::Builder::new()
        .name(format!("origin-conn-{id}"))
        .spawn(move || {
            let inner = Arc::clone(&guard.inner);
            let _ = serve_conn(&inner, stream);
            drop(guard);
        })
        .expect("origin: spawn connection thread");
    let mut handles = inner.handles.lock().unwrap();
    handles.retain(|h| !h.is_finished());
    handles.push(handle);
}

/// A connection's read side with its own buffer (keep-alive and pipelining).
struct Conn<'a> {
    inner: &'a Inner,
    stream: TcpStream,
    buf: Vec<u8>,
}

/// Why a request could not be read.
enum ReadErr {
    /// I/O failure, EOF mid-request, or shutdown: just close.
    Io,
    /// Malformed: answer 400, then close.
    Bad(&'static str),
}

impl From<io::Error> for ReadErr {
    fn from(_: io::Error) -> ReadErr {
        ReadErr::Io
    }
}

impl Conn<'_> {
    /// Reads more bytes into the buffer; 0 at EOF. Wakes every `POLL` to
    /// check for shutdown.
    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(n);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    if self.inner.is_stopped() {
                        return Err(io::Error::other("origin shut down"));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The next line without its CRLF (bare LF tolerated).
    fn read_line(&mut self) -> Result<Vec<u8>, ReadErr> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadErr::Bad("line too long"));
            }
            if self.fill()? == 0 {
                return Err(ReadErr::Io);
            }
        }
    }

    fn read_exact_n(&mut self, n: usize) -> Result<Vec<u8>, ReadErr> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(ReadErr::Io);
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// The next request; `Ok(None)` on a clean EOF between requests.
    fn read_request(&mut self) -> Result<Option<(Seen, bool)>, ReadErr> {
        // Request line (empty lines before it are ignored, RFC 9112 §2.2).
        let request_line = loop {
            if self.buf.is_empty() && self.fill()? == 0 {
                return Ok(None);
            }
            let line = self.read_line()?;
            if !line.is_empty() {
                break line;
            }
        };
        let request_line =
            String::from_utf8(request_line).map_err(|_| ReadErr::Bad("request line"))?;
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ReadErr::Bad("request line"));
        };
        if method.is_empty() || target.is_empty() || !version.starts_with("HTTP/1.") {
            return Err(ReadErr::Bad("request line"));
        }
        let http10 = version == "HTTP/1.0";

        let mut headers = Vec::new();
        let mut head_len = request_line.len();
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                break;
            }
            head_len += line.len();
            if head_len > MAX_HEAD {
                return Err(ReadErr::Bad("head too large"));
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            let Some((name, value)) = line.split_once(':') else {
                return Err(ReadErr::Bad("header line"));
            };
            if name.is_empty() || name.ends_with([' ', '\t']) {
                return Err(ReadErr::Bad("header name"));
            }
            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }

        let mut seen = Seen {
            method: method.to_string(),
            target: target.to_string(),
            headers,
            body: Vec::new(),
        };
        let chunked = seen
            .header_all("transfer-encoding")
            .iter()
            .any(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = match seen.header("content-length") {
            Some(v) if !chunked => Some(
                v.parse::<usize>()
                    .map_err(|_| ReadErr::Bad("content-length"))?,
            ),
            _ => None,
        };
        let expects_body = chunked || length.is_some_and(|n| n > 0);
        let continue_wanted = seen
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        if expects_body && continue_wanted {
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        if chunked {
            seen.body = self.read_chunked()?;
        } else if let Some(n) = length {
            seen.body = self.read_exact_n(n)?;
        }

        let tokens: Vec<String> = seen
            .header_all("connection")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        let keep_alive = if http10 {
            tokens.iter().any(|t| t == "keep-alive")
        } else {
            !tokens.iter().any(|t| t == "close")
        };
        Ok(Some((seen, keep_alive)))
    }

    fn read_chunked(&mut self) -> Result<Vec<u8>, ReadErr> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let line = String::from_utf8_lossy(&line);
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| ReadErr::Bad("chunk size"))?;
            if size == 0 {
                // Trailer section, up to the empty line.
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.read_exact_n(size)?);
            if !self.read_line()?.is_empty() {
                return Err(ReadErr::Bad("chunk data"));
            }
        }
    }
}

/// Serves requests on one connection until it closes, a reply closes it, or
/// the origin shuts down.
fn serve_conn(inner: &Inner, stream: TcpStream) -> io::Result<()> {
    let mut conn = Conn {
        inner,
        stream,
        buf: Vec::new(),
    };
    loop {
        if inner.is_stopped() {
            return Ok(());
        }
        let (req, keep_alive) = match conn.read_request() {
            Ok(Some(r)) => r,
            Ok(None) | Err(ReadErr::Io) => return Ok(()),
            Err(ReadErr::Bad(why)) => {
                let reply =
                    Reply::status(400, format!("bad request: {why}")).header("Connection", "close");
                let _ = write_reply(&mut conn.stream, "GET", &reply, false, inner.now());
                return Ok(());
            }
        };
        // Record before anything else (in particular before the delay).
        inner.seen.lock().unwrap().push(req.clone());
        let reply = inner
            .lookup(&req.target)
            .unwrap_or_else(|| Reply::status(404, "no route"))
            .for_request(&req);
        if !reply.delay.is_zero() && inner.sleep_unless_stopped(reply.delay) {
            return Ok(());
        }
        if reply.hang_up {
            let _ = conn.stream.shutdown(Shutdown::Both);
            return Ok(());
        }
        let not_modified = reply.not_modified(&req);
        write_reply(
            &mut conn.stream,
            &req.method,
            &reply,
            not_modified,
            inner.now(),
        )?;
        let scripted_close = reply
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .any(|(_, v)| v.to_ascii_lowercase().contains("close"));
        let cut = reply.cut_after.is_some() && !not_modified;
        if !keep_alive || scripted_close || cut {
            let _ = conn.stream.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// Writes one response (head, then the body unless HEAD or bodyless); a
/// generated `Date` says `now`.
fn write_reply(
    stream: &mut TcpStream,
    method: &str,
    reply: &Reply,
    not_modified: bool,
    now: SystemTime,
) -> io::Result<()> {
    let status = if not_modified { 304 } else { reply.status };
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
    if !reply.has_header("date") {
        let date = httpdate::fmt_http_date(now);
        out.extend_from_slice(format!("Date: {date}\r\n").as_bytes());
    }
    for (name, value) in &reply.headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    let bodyless = status < 200 || status == 204 || status == 304;
    let framing_scripted =
        reply.has_header("content-length") || reply.has_header("transfer-encoding");
    if !bodyless && !framing_scripted {
        if reply.chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        } else {
            out.extend_from_slice(format!("Content-Length: {}\r\n", reply.body.len()).as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    if !bodyless && !method.eq_ignore_ascii_case("HEAD") {
        let len = reply
            .cut_after
            .map_or(reply.body.len(), |n| n.min(reply.body.len()));
        let body = &reply.body[..len];
        if reply.chunked {
            for chunk in body.chunks(CHUNK) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            if reply.cut_after.is_none() {
                out.extend_from_slice(b"0\r\n\r\n");
            }
        } else {
            out.extend_from_slice(body);
        }
    }
    stream.write_all(&out)?;
    stream.flush()
}

/// The standard reason phrase (empty for unknown codes).
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        412 => "Precondition Failed",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}
