//! `103 Early Hints` from the origin (issue 20, item 7): forwarded to the
//! HTTP/1.1 client whose request leads the fetch, as they arrive; never
//! stored or replayed on a hit; never to HTTP/1.0 clients; HTTP/2 clients
//! get the final response alone; bounded per request. Against a raw origin
//! that sends interim responses and holds its final one until the test
//! releases it.

use crate::common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::http2::{test_cert, Client, Proto};
use common::*;

/// Interim responses `/many.css` sends (more than the node passes on).
const MANY: usize = 12;

/// What the node passes on of them (`origin::client::interim`).
const MAX_INTERIM: usize = 8;

/// A raw HTTP/1.1 origin: each path has its script (see [`HintOrigin::answer`]).
struct HintOrigin {
    url: String,
    /// Releases the final response of a held path, one per send.
    release: Sender<()>,
    /// Requests seen, by path.
    seen: Arc<Mutex<HashMap<String, usize>>>,
}

const LINK_A: &str = "</a.css>; rel=preload; as=style";
const LINK_B: &str = "</b.js>; rel=modulepreload";

impl HintOrigin {
    fn start() -> HintOrigin {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let (release, held) = channel();
        let held = Arc::new(Mutex::new(held));
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let counts = seen.clone();
        thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { return };
                let (held, seen) = (held.clone(), counts.clone());
                thread::spawn(move || serve(conn, &held, &seen));
            }
        });
        HintOrigin { url, release, seen }
    }

    fn count(&self, path: &str) -> usize {
        self.seen.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// Answers requests on one connection until it closes.
fn serve(conn: TcpStream, held: &Mutex<Receiver<()>>, seen: &Mutex<HashMap<String, usize>>) {
    let mut out = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("/").to_string();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
        }
        let n = {
            let mut s = seen.lock().unwrap();
            let n = s.entry(path.clone()).or_insert(0);
            *n += 1;
            *n
        };
        if answer(&mut out, &path, n, held).is_err() {
            return;
        }
    }
}

fn hint(out: &mut TcpStream, links: &[&str]) -> std::io::Result<()> {
    let mut head = String::from("HTTP/1.1 103 Early Hints\r\n");
    for l in links {
        head.push_str(&format!("Link: {l}\r\n"));
    }
    // The origin's own hop-by-hop and the node's namespace never pass.
    head.push_str("X-CDN-Edge-Owner: origin\r\n\r\n");
    out.write_all(head.as_bytes())?;
    out.flush()
}

fn ok(out: &mut TcpStream, body: &str, cc: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/css\r\nCache-Control: {cc}\r\n\
         ETag: \"v1\"\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    out.write_all(head.as_bytes())
}

/// The script of `path`, asked for the `n`th time.
fn answer(
    out: &mut TcpStream,
    path: &str,
    n: usize,
    held: &Mutex<Receiver<()>>,
) -> std::io::Result<()> {
    let wait = || {
        let _ = held.lock().unwrap().recv_timeout(Duration::from_secs(30));
    };
    match path {
        "/held.css" => {
            hint(out, &[LINK_A])?;
            wait();
            ok(out, "held{}", "max-age=3600")
        }
        "/two.css" => {
            hint(out, &[LINK_A])?;
            hint(out, &[LINK_B])?;
            wait();
            ok(out, "two{}", "max-age=3600")
        }
        "/many.css" => {
            for _ in 0..MANY {
                hint(out, &[LINK_A])?;
            }
            ok(out, "many{}", "max-age=3600")
        }
        "/stale.css" if n > 1 => {
            hint(out, &[LINK_A])?;
            out.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
        }
        "/processing.css" => {
            out.write_all(b"HTTP/1.1 102 Processing\r\n\r\n")?;
            ok(out, "p{}", "max-age=3600")
        }
        _ => {
            hint(out, &[LINK_A])?;
            ok(out, &format!("{path}{{}}"), "max-age=1")
        }
    }
}

fn node(o: &HintOrigin, extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!(
        "[origin]\nurl = \"{}\"\nfirst_byte_timeout = \"20s\"\ntotal_timeout = \"30s\"\n{extra}",
        o.url
    ));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

/// A raw client connection that sent `GET path` (HTTP/1.1, closing).
fn ask(s: &Server, path: &str) -> TcpStream {
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    c
}

/// Reads from `c` until `buf` holds `heads` message heads.
fn read_heads(c: &mut TcpStream, buf: &mut Vec<u8>, heads: usize) {
    let mut chunk = [0u8; 4096];
    while buf.windows(4).filter(|w| w == b"\r\n\r\n").count() < heads {
        let n = c.read(&mut chunk).expect("reading the interim response");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One message off the wire: status, head (lower-cased), body.
struct Message {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// Splits `raw` into its messages (bodies by Content-Length).
fn messages(raw: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < raw.len() {
        let end = raw[at..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of head: {}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8_lossy(&raw[at..at + end]).to_ascii_lowercase();
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        at += end + 4;
        let len = if status < 200 {
            0
        } else {
            head.lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse().unwrap())
        };
        out.push(Message {
            status,
            head,
            body: raw[at..at + len].to_vec(),
        });
        at += len;
    }
    out
}

/// `GET path` over HTTP/1.1 on a connection of its own: every message.
fn get(s: &Server, path: &str) -> Vec<Message> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n");
    messages(&send_raw(s.addr, req.as_bytes()))
}

fn read_all(c: &mut TcpStream, mut buf: Vec<u8>) -> Vec<Message> {
    c.read_to_end(&mut buf).unwrap();
    messages(&buf)
}

#[test]
fn an_origin_103_reaches_the_client_before_the_final_response_and_never_a_hit() {
    let o = HintOrigin::start();
    let (_f, s) = node(&o, "");
    let mut c = ask(&s, "/held.css");
    let mut buf = Vec::new();
    // The origin holds its 200 until released: the 103 must come first.
    read_heads(&mut c, &mut buf, 1);
    let first = messages(&buf);
    assert_eq!(first.len(), 1, "{}", String::from_utf8_lossy(&buf));
    assert_eq!(first[0].status, 103);
    assert!(first[0].head.starts_with("http/1.1 103 early hints\r\n"));
    assert!(
        first[0].head.contains(&format!("link: {LINK_A}")),
        "{}",
        first[0].head
    );
    assert!(!first[0].head.contains("x-cdn-edge"), "{}", first[0].head);
    o.release.send(()).unwrap();
    let all = read_all(&mut c, buf);
    assert_eq!(all.len(), 2);
    assert_eq!((all[1].status, &all[1].body[..]), (200, &b"held{}"[..]));
    assert!(all[1]
        .head
        .contains("cache-status: cdn-edge; fwd=uri-miss; stored"));
    // A hit: no interim response, nothing stored of it.
    let hit = get(&s, "/held.css");
    assert_eq!(hit.len(), 1, "{}", hit[0].head);
    assert_eq!((hit[0].status, &hit[0].body[..]), (200, &b"held{}"[..]));
    assert!(hit[0].head.contains("cache-status: cdn-edge; hit"));
    assert!(!hit[0].head.contains("rel=preload"), "{}", hit[0].head);
    assert_eq!(o.count("/held.css"), 1);
}

#[test]
fn two_103s_are_both_forwarded_and_a_flood_is_bounded() {
    let o = HintOrigin::start();
    let (_f, s) = node(&o, "");
    let mut c = ask(&s, "/two.css");
    let mut buf = Vec::new();
    read_heads(&mut c, &mut buf, 2);
    o.release.send(()).unwrap();
    let all = read_all(&mut c, buf);
    let statuses: Vec<u16> = all.iter().map(|m| m.status).collect();
    assert_eq!(statuses, [103, 103, 200]);
    assert!(all[0].head.contains(&format!("link: {LINK_A}")));
    assert!(all[1].head.contains(&format!("link: {LINK_B}")));
    // An origin sending 12 interim responses: 8 pass, the answer is whole.
    let raw = send_raw(
        s.addr,
        b"GET /many.css HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n",
    );
    let all = messages(&raw);
    let hints = all.iter().filter(|m| m.status == 103).count();
    assert_eq!(hints, MAX_INTERIM, "{}", String::from_utf8_lossy(&raw));
    let last = all.last().unwrap();
    assert_eq!((last.status, &last.body[..]), (200, &b"many{}"[..]));
    // Any other 1xx is not passed on.
    let raw = send_raw(
        s.addr,
        b"GET /processing.css HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n",
    );
    let all = messages(&raw);
    assert_eq!(all.len(), 1, "{}", String::from_utf8_lossy(&raw));
    assert_eq!(all[0].status, 200);
}

#[test]
fn http10_and_http2_clients_get_no_interim_response() {
    let o = HintOrigin::start();
    let (_f, s) = node(&o, "");
    let raw = send_raw(s.addr, b"GET /old.css HTTP/1.0\r\nHost: e\r\n\r\n");
    let all = messages(&raw);
    assert_eq!(all.len(), 1, "{}", String::from_utf8_lossy(&raw));
    assert_eq!((all[0].status, &all[0].body[..]), (200, &b"/old.css{}"[..]));
    assert_eq!(o.count("/old.css"), 1);
    let cert = test_cert(&["localhost"]);
    let r = Client::new(&s, &cert, Proto::H2c).get("/h2.css", &[]);
    assert_eq!((r.status, &r.body[..]), (200, &b"/h2.css{}"[..]));
    assert_eq!(o.count("/h2.css"), 1);
}

#[test]
fn a_103_before_an_error_answered_from_a_stale_copy_keeps_the_answer_whole() {
    let o = HintOrigin::start();
    let rules = "[[rules]]\nglob = \"stale.css\"\nstale_if_error = \"1d\"\n";
    let (_f, s) = node(&o, rules);
    assert_eq!(get(&s, "/stale.css").last().unwrap().status, 200);
    s.advance(10);
    let raw = send_raw(
        s.addr,
        b"GET /stale.css HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n",
    );
    let all = messages(&raw);
    let statuses: Vec<u16> = all.iter().map(|m| m.status).collect();
    assert_eq!(statuses, [103, 200], "{}", String::from_utf8_lossy(&raw));
    assert_eq!(all[1].body, b"/stale.css{}");
    assert!(
        all[1].head.contains("detail=stale-if-error"),
        "{}",
        all[1].head
    );
    assert_eq!(o.count("/stale.css"), 2);
}

#[test]
fn pipelined_requests_with_hints_stay_well_framed() {
    let o = HintOrigin::start();
    let (_f, s) = node(&o, "");
    // A hit first, so the pipeline mixes answers made at once and fetched.
    assert_eq!(get(&s, "/p0.css").last().unwrap().status, 200);
    let raw = send_raw(
        s.addr,
        b"GET /p1.css HTTP/1.1\r\nHost: e\r\n\r\nGET /p0.css HTTP/1.1\r\nHost: e\r\n\r\n\
          GET /p2.css HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n",
    );
    let all = messages(&raw);
    let finals: Vec<&[u8]> = all
        .iter()
        .filter(|m| m.status == 200)
        .map(|m| &m.body[..])
        .collect();
    assert_eq!(
        finals,
        [&b"/p1.css{}"[..], b"/p0.css{}", b"/p2.css{}"],
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert!(all.iter().all(|m| m.status == 103 || m.status == 200));
    // Each 103 comes right before the miss it belongs to, never a hit.
    let order: Vec<String> = all
        .iter()
        .map(|m| match m.status {
            103 => "hint".to_string(),
            _ => String::from_utf8_lossy(&m.body).into_owned(),
        })
        .collect();
    assert!(
        !order
            .windows(2)
            .any(|w| w[0] == "hint" && w[1] == "/p0.css{}"),
        "{order:?}"
    );
}
