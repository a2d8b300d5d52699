//! The access log: one line per request, written when the response body is
//! done (or the client went away), with the body bytes actually sent.
//!
//! Off the hot path: each worker formats its lines into a buffer of its own
//! (no lock, no system call per line). A buffer goes to the writer thread
//! (`writer`) over a bounded channel when it holds 64 KiB, and at least
//! every `log.access_flush_ms` by a timer on the worker. When the channel
//! is full (the disk or the reader of stdout cannot keep up), the batch is
//! dropped and its lines counted in `cdn_edge_access_log_dropped_lines_total`:
//! workers never wait for the log. At most `QUEUE` batches (8 MiB) wait:
//! about half a second of lines at 100k requests/s, enough to ride out a
//! disk that stalls for a moment, small beside the memory bound's slack.
//!
//! The file is reopened on SIGUSR1 (for logrotate). Line formats: `format`.

mod format;
mod writer;

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::http::{header, Method, StatusCode, Version};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;

use super::cache_outcome::CacheOutcome;
use crate::config::{AccessFormat, AccessTarget, LogConfig};
use crate::http::client_ip;
pub use writer::LogStats;

/// Bytes a worker gathers before handing them to the writer.
const BATCH_BYTES: usize = 64 * 1024;
/// Batches waiting for the writer at most.
const QUEUE: usize = 128;

/// What every worker's log shares.
#[derive(Debug)]
struct Settings {
    format: AccessFormat,
    trusted: Vec<ipnet::IpNet>,
    flush_every: Duration,
    stats: Arc<LogStats>,
}

/// The node's access log: the writer thread and what workers need to feed it.
#[derive(Debug)]
pub struct AccessLog {
    settings: Arc<Settings>,
    tx: Option<SyncSender<writer::Batch>>,
    reopen: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AccessLog {
    /// Opens the log `config` asks for (`None` when it is off); a file that
    /// cannot be opened is an error naming it.
    pub fn open(config: &LogConfig) -> Result<Option<AccessLog>, String> {
        let dest = match config.target() {
            AccessTarget::Off => return Ok(None),
            AccessTarget::Stdout => writer::Destination::Stdout,
            AccessTarget::File(path) => writer::Destination::file(path.clone())
                .map_err(|e| format!("log.access {}: {e}", path.display()))?,
        };
        let stats = Arc::new(LogStats::default());
        let flush_every = Duration::from_millis(config.access_flush_ms);
        let settings = Arc::new(Settings {
            format: config.format(),
            trusted: config.trusted(),
            flush_every,
            stats: stats.clone(),
        });
        let (tx, rx) = sync_channel(QUEUE);
        let reopen = Arc::new(AtomicBool::new(false));
        let tick = flush_every.min(Duration::from_millis(200));
        let thread = {
            let reopen = reopen.clone();
            std::thread::Builder::new()
                .name("access-log".into())
                .spawn(move || writer::run(dest, rx, reopen, stats, tick))
                .map_err(|e| format!("access log thread: {e}"))?
        };
        Ok(Some(AccessLog {
            settings,
            tx: Some(tx),
            reopen,
            thread: Some(thread),
        }))
    }

    /// The counters of lines written and dropped.
    pub fn stats(&self) -> Arc<LogStats> {
        self.settings.stats.clone()
    }

    /// What the app factory needs to give each worker its own log.
    pub fn feeder(&self) -> Feeder {
        Feeder {
            settings: self.settings.clone(),
            tx: self.tx.clone().expect("open until finished"),
        }
    }

    /// The flag SIGUSR1 sets to have the file reopened.
    pub fn reopen_flag(&self) -> Arc<AtomicBool> {
        self.reopen.clone()
    }

    /// After the server stopped: lets the writer write what it was sent
    /// and waits for it (at most `limit`, should a worker linger).
    pub async fn finish(mut self, limit: Duration) {
        self.tx = None;
        let deadline = Instant::now() + limit;
        if let Some(t) = self.thread.take() {
            while !t.is_finished() && Instant::now() < deadline {
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// Makes worker logs; cloned into the app factory.
#[derive(Debug, Clone)]
pub struct Feeder {
    settings: Arc<Settings>,
    tx: SyncSender<writer::Batch>,
}

impl Feeder {
    /// A log for the worker thread this is called on.
    pub fn worker(&self) -> Rc<WorkerLog> {
        Rc::new(WorkerLog {
            settings: self.settings.clone(),
            tx: self.tx.clone(),
            buf: RefCell::new(Buffer::default()),
            timer: Cell::new(false),
        })
    }
}

#[derive(Debug, Default)]
struct Buffer {
    bytes: Vec<u8>,
    lines: u64,
    time: format::TimeCache,
}

/// One worker's log: its lines gather here, unshared.
#[derive(Debug)]
pub struct WorkerLog {
    settings: Arc<Settings>,
    tx: SyncSender<writer::Batch>,
    buf: RefCell<Buffer>,
    timer: Cell<bool>,
}

impl WorkerLog {
    /// Wraps `resp`'s body so the request is logged when the body is done.
    pub fn wrap(
        self: &Rc<Self>,
        req: &HttpRequest,
        resp: HttpResponse,
        started: Instant,
        cache: CacheOutcome,
        upstream: Option<Duration>,
    ) -> HttpResponse {
        // Started here, on the worker's runtime, never from a drop (which
        // may run while the runtime is being torn down).
        if !self.timer.replace(true) {
            self.start_timer();
        }
        let pending = Pending {
            log: self.clone(),
            req: req.clone(),
            started,
            status: resp.status(),
            cache,
            upstream,
        };
        resp.map_body(|_, body| LoggedBody {
            body,
            sent: 0,
            pending: Some(pending),
        })
        .map_into_boxed_body()
    }

    fn write(&self, p: &Pending, sent: u64) {
        let req = &p.req;
        let headers = req.headers();
        let peer = req.peer_addr().map(|a| a.ip());
        let client = match peer {
            Some(peer) if !self.settings.trusted.is_empty() => {
                let lines: Vec<&str> = headers
                    .get_all("x-forwarded-for")
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                Some(client_ip::client(
                    peer,
                    lines.iter().copied(),
                    &self.settings.trusted,
                ))
            }
            _ => peer,
        };
        let entry = format::Entry {
            client,
            peer,
            method: req.method().as_str(),
            target: req.uri().path_and_query().map_or("/", |pq| pq.as_str()),
            protocol: protocol(req.version()),
            status: p.status.as_u16(),
            body_bytes: if req.method() == Method::HEAD {
                0
            } else {
                sent
            },
            referer: headers.get(header::REFERER).map(|v| v.as_bytes()),
            user_agent: headers.get(header::USER_AGENT).map(|v| v.as_bytes()),
            duration: p.started.elapsed(),
            cache: p.cache.as_str(),
            upstream: p.upstream,
        };
        let now = SystemTime::now();
        let full = {
            let mut b = self.buf.borrow_mut();
            let Buffer { bytes, lines, time } = &mut *b;
            match self.settings.format {
                AccessFormat::Combined => format::combined(bytes, time, now, &entry),
                AccessFormat::Json => format::json(bytes, time, now, &entry),
            }
            *lines += 1;
            bytes.len() >= BATCH_BYTES
        };
        if full {
            self.flush();
        }
    }

    /// Hands what gathered to the writer; drops it (counted) when the
    /// writer is that far behind.
    fn flush(&self) {
        let batch = {
            let mut b = self.buf.borrow_mut();
            if b.lines == 0 {
                return;
            }
            let lines = std::mem::take(&mut b.lines);
            let bytes = std::mem::replace(&mut b.bytes, Vec::with_capacity(BATCH_BYTES + 4096));
            writer::Batch { bytes, lines }
        };
        match self.tx.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => {
                self.settings
                    .stats
                    .dropped
                    .fetch_add(b.lines, Ordering::Relaxed);
            }
        }
    }

    /// Flushes every `flush_every` on this worker, for as long as it lives.
    fn start_timer(self: &Rc<Self>) {
        let weak: Weak<Self> = Rc::downgrade(self);
        let every = self.settings.flush_every;
        actix_web::rt::spawn(async move {
            loop {
                actix_web::rt::time::sleep(every).await;
                match weak.upgrade() {
                    Some(log) => log.flush(),
                    None => break,
                }
            }
        });
    }
}

impl Drop for WorkerLog {
    fn drop(&mut self) {
        self.flush();
    }
}

fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// What the line needs that is known before the body is sent.
struct Pending {
    log: Rc<WorkerLog>,
    req: HttpRequest,
    started: Instant,
    status: StatusCode,
    cache: CacheOutcome,
    upstream: Option<Duration>,
}

/// A response body that counts what it yields and logs the request when it
/// is dropped: after its last chunk, or when the connection went away.
struct LoggedBody {
    body: BoxBody,
    sent: u64,
    pending: Option<Pending>,
}

impl MessageBody for LoggedBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.sent += chunk.len() as u64;
        }
        polled
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            p.log.write(&p, self.sent);
        }
    }
}
