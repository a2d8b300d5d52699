//! One worker's access log: its lines gather in a buffer of its own (no
//! lock, no system call per line), written when a response body is done
//! ([`LoggedBody`]), with the settings in force at that moment.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::http::{header, Method, StatusCode, Version};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use tokio::sync::watch;

use super::format;
use super::settings::Settings;
use super::writer::{Batch, LogStats};
use crate::config::AccessFormat;
use crate::http::client_ip;
use crate::server::cache_outcome::CacheOutcome;

/// Bytes a worker gathers before handing them to the writer.
const BATCH_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Buffer {
    bytes: Vec<u8>,
    lines: u64,
    /// The generation of the settings the lines were written under.
    gen: u64,
    time: format::TimeCache,
}

impl Buffer {
    /// What gathered, as a batch for the writer (`None` when nothing did).
    fn take(&mut self) -> Option<Batch> {
        if self.lines == 0 {
            return None;
        }
        Some(Batch {
            lines: std::mem::take(&mut self.lines),
            bytes: std::mem::replace(&mut self.bytes, Vec::with_capacity(BATCH_BYTES + 4096)),
            gen: self.gen,
        })
    }
}

/// One worker's log: its lines gather here, unshared.
#[derive(Debug)]
pub struct WorkerLog {
    stats: Arc<LogStats>,
    tx: SyncSender<Batch>,
    /// The settings of the moment, as published by a reload.
    watch: RefCell<watch::Receiver<Settings>>,
    /// This worker's copy of them.
    settings: RefCell<Settings>,
    buf: RefCell<Buffer>,
    timer: Cell<bool>,
}

impl WorkerLog {
    /// A log for the worker thread this is called on.
    pub(super) fn new(
        stats: Arc<LogStats>,
        tx: SyncSender<Batch>,
        mut watch: watch::Receiver<Settings>,
    ) -> Self {
        let settings = watch.borrow_and_update().clone();
        WorkerLog {
            stats,
            tx,
            buf: RefCell::new(Buffer {
                gen: settings.gen,
                ..Buffer::default()
            }),
            settings: RefCell::new(settings),
            watch: RefCell::new(watch),
            timer: Cell::new(false),
        }
    }

    /// Takes new settings if a reload published some: per call, one
    /// atomic load.
    fn refresh(&self) {
        let mut watch = self.watch.borrow_mut();
        if watch.has_changed().unwrap_or(false) {
            *self.settings.borrow_mut() = watch.borrow_and_update().clone();
        }
    }

    /// Wraps `resp`'s body so the request is logged when the body is done
    /// (unless the log is off).
    pub fn wrap(
        self: &Rc<Self>,
        req: &HttpRequest,
        resp: HttpResponse,
        started: Instant,
        cache: CacheOutcome,
        upstream: Option<Duration>,
    ) -> HttpResponse {
        self.refresh();
        if !self.settings.borrow().on() {
            return resp;
        }
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
            encoding: resp.headers().get(header::CONTENT_ENCODING).cloned(),
        };
        resp.map_body(|_, body| LoggedBody {
            body,
            sent: 0,
            pending: Some(pending),
        })
        .map_into_boxed_body()
    }

    fn write(&self, p: &Pending, sent: u64) {
        self.refresh();
        let settings = self.settings.borrow();
        if !settings.on() {
            return;
        }
        let req = &p.req;
        let headers = req.headers();
        let peer = req.peer_addr().map(|a| a.ip());
        let client = match peer {
            Some(peer) if !settings.trusted.is_empty() => {
                let lines: Vec<&str> = headers
                    .get_all("x-forwarded-for")
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                Some(client_ip::client(
                    peer,
                    lines.iter().copied(),
                    &settings.trusted,
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
            encoding: p.encoding.as_ref().map(|v| v.as_bytes()),
        };
        let now = SystemTime::now();
        let (older, full) = {
            let mut b = self.buf.borrow_mut();
            // Lines of other settings go first, to their own target.
            let older = if b.gen == settings.gen {
                None
            } else {
                let batch = b.take();
                b.gen = settings.gen;
                batch
            };
            let Buffer {
                bytes, lines, time, ..
            } = &mut *b;
            match settings.format {
                AccessFormat::Combined => format::combined(bytes, time, now, &entry),
                AccessFormat::Json => format::json(bytes, time, now, &entry),
            }
            *lines += 1;
            (older, bytes.len() >= BATCH_BYTES)
        };
        if let Some(batch) = older {
            self.send(batch);
        }
        if full {
            self.flush();
        }
    }

    /// Hands what gathered to the writer.
    fn flush(&self) {
        let batch = self.buf.borrow_mut().take();
        if let Some(batch) = batch {
            self.send(batch);
        }
    }

    /// Sends `batch` to the writer; drops it (counted) when the writer is
    /// that far behind.
    fn send(&self, batch: Batch) {
        match self.tx.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => {
                self.stats.dropped.fetch_add(b.lines, Ordering::Relaxed);
            }
        }
    }

    /// Flushes every `access_flush_ms` on this worker, for as long as it
    /// lives, and at once when a reload changes the settings (so lines of
    /// the old ones reach their target, and the new interval holds).
    fn start_timer(self: &Rc<Self>) {
        let weak: Weak<Self> = Rc::downgrade(self);
        let mut watch = self.watch.borrow().clone();
        actix_web::rt::spawn(async move {
            let mut published = true;
            loop {
                let every = watch.borrow_and_update().flush_every;
                let sleep = actix_web::rt::time::sleep(every);
                if published {
                    tokio::select! {
                        _ = sleep => {}
                        changed = watch.changed() => published = changed.is_ok(),
                    }
                } else {
                    sleep.await;
                }
                match weak.upgrade() {
                    Some(log) => {
                        log.refresh();
                        log.flush();
                    }
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
    /// The response's `Content-Encoding`: the coding sent.
    encoding: Option<header::HeaderValue>,
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
