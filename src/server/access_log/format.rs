//! The two line formats of the access log, written into a byte buffer.
//!
//! `combined` is nginx's `combined` with four fields appended:
//!
//! ```text
//! $client - - [$time] "$method $target $protocol" $status $body_bytes "$referer" "$user_agent" $duration_us $cache $upstream_us $encoding
//! 203.0.113.7 - - [06/Nov/2024:08:49:37 +0000] "GET /app.3f2a9c1b.css HTTP/1.1" 200 5120 "https://www.example.com/" "Mozilla/5.0" 184 hit - zstd
//! ```
//!
//! Times are UTC. Absent values are `-`; quoted fields escape `"`, `\`,
//! control and non-ASCII bytes as `\xHH`, as nginx does. `json` writes one
//! object per line with the same fields (plus `peer`, the socket address),
//! `null` for absent ones.

use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// Everything one line says about one request.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The client (after `X-Forwarded-For` from trusted proxies).
    pub client: Option<IpAddr>,
    /// The socket peer.
    pub peer: Option<IpAddr>,
    /// Request method.
    pub method: &'a str,
    /// Request target (path and query).
    pub target: &'a str,
    /// `HTTP/1.1`, `HTTP/2.0`, ...
    pub protocol: &'a str,
    /// Response status.
    pub status: u16,
    /// Body bytes sent (0 for HEAD).
    pub body_bytes: u64,
    /// The `Referer` field.
    pub referer: Option<&'a [u8]>,
    /// The `User-Agent` field.
    pub user_agent: Option<&'a [u8]>,
    /// From the handler's start to the last body byte.
    pub duration: Duration,
    /// The cache outcome word.
    pub cache: &'a str,
    /// Time spent waiting for the origin on this request's behalf.
    pub upstream: Option<Duration>,
    /// The coding sent: the response's `Content-Encoding` (`None`: identity).
    pub encoding: Option<&'a [u8]>,
}

const COMBINED_TIME: &[BorrowedFormatItem<'_>] =
    format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
const ISO_TIME: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

/// The current second, formatted once for every line written within it.
#[derive(Debug, Default)]
pub struct TimeCache {
    secs: u64,
    combined: String,
    iso: String,
}

impl TimeCache {
    /// Brings the cache to `now`; returns the milliseconds within the second.
    fn at(&mut self, now: SystemTime) -> u32 {
        let since = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        if since.as_secs() != self.secs || self.combined.is_empty() {
            let t = time::OffsetDateTime::from(
                SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs()),
            );
            self.secs = since.as_secs();
            self.combined = t.format(COMBINED_TIME).unwrap_or_default();
            self.iso = t.format(ISO_TIME).unwrap_or_default();
        }
        since.subsec_millis()
    }
}

/// Appends `e` as a `combined` line, time `now`.
pub fn combined(out: &mut Vec<u8>, time: &mut TimeCache, now: SystemTime, e: &Entry<'_>) {
    time.at(now);
    addr(out, e.client);
    out.extend_from_slice(b" - - [");
    out.extend_from_slice(time.combined.as_bytes());
    out.extend_from_slice(b"] \"");
    escaped(out, e.method.as_bytes());
    out.push(b' ');
    escaped(out, e.target.as_bytes());
    out.push(b' ');
    out.extend_from_slice(e.protocol.as_bytes());
    out.extend_from_slice(b"\" ");
    number(out, e.status as u64);
    out.push(b' ');
    number(out, e.body_bytes);
    for field in [e.referer, e.user_agent] {
        out.extend_from_slice(b" \"");
        match field {
            Some(v) if !v.is_empty() => escaped(out, v),
            _ => out.push(b'-'),
        }
        out.push(b'"');
    }
    out.push(b' ');
    number(out, e.duration.as_micros() as u64);
    out.push(b' ');
    out.extend_from_slice(e.cache.as_bytes());
    out.push(b' ');
    match e.upstream {
        Some(d) => number(out, d.as_micros() as u64),
        None => out.push(b'-'),
    }
    out.push(b' ');
    // A field without spaces: an origin's own value is passed on as it
    // came, so anything outside a token is escaped, a space included.
    match e.encoding {
        Some(v) if !v.is_empty() => token(out, v),
        _ => out.push(b'-'),
    }
    out.push(b'\n');
}

/// Appends `e` as one JSON object and a newline, time `now`.
pub fn json(out: &mut Vec<u8>, time: &mut TimeCache, now: SystemTime, e: &Entry<'_>) {
    let ms = time.at(now);
    out.extend_from_slice(b"{\"time\":\"");
    out.extend_from_slice(time.iso.as_bytes());
    let _ = write!(out, ".{ms:03}Z\",\"client\":");
    json_addr(out, e.client);
    out.extend_from_slice(b",\"peer\":");
    json_addr(out, e.peer);
    out.extend_from_slice(b",\"method\":");
    json_str(out, e.method.as_bytes());
    out.extend_from_slice(b",\"target\":");
    json_str(out, e.target.as_bytes());
    out.extend_from_slice(b",\"protocol\":");
    json_str(out, e.protocol.as_bytes());
    out.extend_from_slice(b",\"status\":");
    number(out, e.status as u64);
    out.extend_from_slice(b",\"body_bytes\":");
    number(out, e.body_bytes);
    for (name, v) in [
        (&b",\"referer\":"[..], e.referer),
        (b",\"user_agent\":", e.user_agent),
    ] {
        out.extend_from_slice(name);
        match v {
            Some(v) => json_str(out, v),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.extend_from_slice(b",\"duration_us\":");
    number(out, e.duration.as_micros() as u64);
    out.extend_from_slice(b",\"cache\":");
    json_str(out, e.cache.as_bytes());
    out.extend_from_slice(b",\"upstream_us\":");
    match e.upstream {
        Some(d) => number(out, d.as_micros() as u64),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"encoding\":");
    match e.encoding {
        Some(v) => json_str(out, v),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b"}\n");
}

fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn addr(out: &mut Vec<u8>, ip: Option<IpAddr>) {
    match ip {
        // The common case, without the formatting machinery.
        Some(IpAddr::V4(v4)) => {
            let mut text = [0u8; 15];
            let mut n = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text[n] = b'.';
                    n += 1;
                }
                if octet >= 100 {
                    text[n] = b'0' + octet / 100;
                    n += 1;
                }
                if octet >= 10 {
                    text[n] = b'0' + octet / 10 % 10;
                    n += 1;
                }
                text[n] = b'0' + octet % 10;
                n += 1;
            }
            out.extend_from_slice(&text[..n]);
        }
        Some(ip) => {
            let _ = write!(out, "{ip}");
        }
        None => out.push(b'-'),
    }
}

fn json_addr(out: &mut Vec<u8>, ip: Option<IpAddr>) {
    if ip.is_none() {
        out.extend_from_slice(b"null");
        return;
    }
    out.push(b'"');
    addr(out, ip);
    out.push(b'"');
}

/// nginx's default log escaping: `"`, `\`, control bytes and bytes beyond
/// ASCII become `\xHH`, so a field can never end a line or a quoted field.
fn escaped(out: &mut Vec<u8>, v: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    // Almost always: nothing to escape, one copy.
    if plain(v) {
        out.extend_from_slice(v);
        return;
    }
    let is_plain = |b: u8| b != b'"' && b != b'\\' && (0x20..0x7f).contains(&b);
    let mut rest = v;
    while let Some(i) = rest.iter().position(|b| !is_plain(*b)) {
        let b = rest[i];
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(&[b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
}

/// An unquoted field: like [`escaped`], with a space escaped too, so the
/// field stays one.
fn token(out: &mut Vec<u8>, v: &[u8]) {
    if plain(v) && !v.contains(&b' ') {
        out.extend_from_slice(v);
        return;
    }
    for chunk in v.split_inclusive(|b| *b == b' ') {
        match chunk.strip_suffix(b" ") {
            Some(part) => {
                escaped(out, part);
                out.extend_from_slice(b"\\x20");
            }
            None => escaped(out, chunk),
        }
    }
}

/// Whether `v` is printable ASCII without `"` and `\`: nothing to escape,
/// in either format. Checked without an early exit, so it vectorises.
fn plain(v: &[u8]) -> bool {
    let bad = v.iter().fold(0u8, |bad, &b| {
        bad | u8::from(b < 0x20) | u8::from(b >= 0x7f) | u8::from(b == b'"') | u8::from(b == b'\\')
    });
    bad == 0
}

/// A JSON string of `v` (bytes that are not UTF-8 become U+FFFD).
fn json_str(out: &mut Vec<u8>, v: &[u8]) {
    if plain(v) {
        out.push(b'"');
        out.extend_from_slice(v);
        out.push(b'"');
        return;
    }
    let s = String::from_utf8_lossy(v);
    let _ = serde_json::to_writer(&mut *out, &*s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry<'static> {
        Entry {
            client: Some("203.0.113.7".parse().unwrap()),
            peer: Some("10.0.0.2".parse().unwrap()),
            method: "GET",
            target: "/app.css?v=1",
            protocol: "HTTP/1.1",
            status: 200,
            body_bytes: 5120,
            referer: Some(b"https://www.example.com/"),
            user_agent: Some(b"Mozilla/5.0 \"quoted\"\n\xff"),
            duration: Duration::from_micros(184),
            cache: "hit",
            upstream: None,
            encoding: Some(b"zstd"),
        }
    }

    fn at() -> SystemTime {
        // 2024-11-06T08:49:37.250Z
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_730_882_977_250)
    }

    #[test]
    fn combined_line_is_nginx_combined_plus_four_fields() {
        let mut out = Vec::new();
        combined(&mut out, &mut TimeCache::default(), at(), &entry());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "203.0.113.7 - - [06/Nov/2024:08:49:37 +0000] \"GET /app.css?v=1 HTTP/1.1\" 200 5120 \
             \"https://www.example.com/\" \"Mozilla/5.0 \\x22quoted\\x22\\x0A\\xFF\" 184 hit - zstd\n"
        );
        let mut e = entry();
        e.referer = None;
        e.user_agent = Some(b"");
        e.upstream = Some(Duration::from_micros(1500));
        e.encoding = None;
        e.client = None;
        let mut out = Vec::new();
        combined(&mut out, &mut TimeCache::default(), at(), &e);
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("- - - ["), "{line}");
        e.client = Some("2001:db8::7".parse().unwrap());
        let mut out = Vec::new();
        combined(&mut out, &mut TimeCache::default(), at(), &e);
        assert!(out.starts_with(b"2001:db8::7 - - ["));
        for ip in ["0.0.0.0", "9.10.99.100", "255.255.255.255"] {
            e.client = Some(ip.parse().unwrap());
            let mut out = Vec::new();
            combined(&mut out, &mut TimeCache::default(), at(), &e);
            assert!(out.starts_with(format!("{ip} - - [").as_bytes()));
        }
        e.client = Some("10.200.0.255".parse().unwrap());
        let mut out = Vec::new();
        json(&mut out, &mut TimeCache::default(), at(), &e);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("\"client\":\"10.200.0.255\""));
        assert!(line.ends_with(" \"-\" \"-\" 184 hit 1500 -\n"), "{line}");
        // An origin's own coding, whatever it holds, stays one field.
        e.encoding = Some(b"gzip, x custom\"");
        let mut out = Vec::new();
        combined(&mut out, &mut TimeCache::default(), at(), &e);
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.ends_with(" 1500 gzip,\\x20x\\x20custom\\x22\n"),
            "{line}"
        );
    }

    #[test]
    fn json_line_is_one_valid_object() {
        let mut out = Vec::new();
        let mut e = entry();
        e.upstream = Some(Duration::from_micros(99));
        json(&mut out, &mut TimeCache::default(), at(), &e);
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["time"], "2024-11-06T08:49:37.250Z");
        assert_eq!(v["client"], "203.0.113.7");
        assert_eq!(v["peer"], "10.0.0.2");
        assert_eq!(v["status"], 200);
        assert_eq!(v["body_bytes"], 5120);
        assert_eq!(v["user_agent"], "Mozilla/5.0 \"quoted\"\n\u{fffd}");
        assert_eq!(v["upstream_us"], 99);
        assert_eq!(v["cache"], "hit");
        assert_eq!(v["encoding"], "zstd");
        e.encoding = None;
        let mut out = Vec::new();
        json(&mut out, &mut TimeCache::default(), at(), &e);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v["encoding"].is_null());
    }

    #[test]
    fn time_is_reformatted_only_when_the_second_changes() {
        let mut t = TimeCache::default();
        assert_eq!(t.at(at()), 250);
        let before = t.combined.clone();
        t.at(at() + Duration::from_millis(500));
        assert_eq!(t.combined, before);
        t.at(at() + Duration::from_millis(800));
        assert_eq!(t.combined, "06/Nov/2024:08:49:38 +0000");
    }
}
