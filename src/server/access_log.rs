//! The access log: one line per request, written when the response body is
//! done (or the client went away), with the body bytes actually sent.
//!
//! Off the hot path: each worker formats its lines into a buffer of its own
//! (`worker`: no lock, no system call per line). A buffer goes to the
//! writer thread (`writer`) over a bounded channel when it holds 64 KiB,
//! and at least every `log.access_flush_ms` by a timer on the worker. When
//! the channel is full (the disk or the reader of stdout cannot keep up),
//! the batch is dropped and its lines counted in
//! `cdn_edge_access_log_dropped_lines_total`: workers never wait for the
//! log. At most `QUEUE` batches (8 MiB) wait: about half a second of lines
//! at 100k requests/s, enough to ride out a disk that stalls for a moment,
//! small beside the memory bound's slack.
//!
//! The buffers and the writer thread live as long as the process, even
//! while the log is off, so that a reload can change every `[log]` key
//! (`settings`). The file is reopened on SIGUSR1 (for logrotate). Line
//! formats: `format`.

mod format;
mod settings;
mod worker;
mod writer;

use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, sync_channel, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::LogConfig;
use settings::{Publisher, Reconfigure, Settings};
pub use worker::WorkerLog;
pub use writer::LogStats;

/// Batches waiting for the writer at most.
const QUEUE: usize = 128;

/// Why the access log cannot start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Its file cannot be opened for appending.
    #[error("log.access {}", path.display())]
    File {
        /// The file `log.access` names.
        path: std::path::PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// Its writer thread cannot be started.
    #[error("access log thread")]
    Thread(#[source] std::io::Error),
}

/// The node's access log: the writer thread and what workers need to feed it.
#[derive(Debug)]
pub struct AccessLog {
    stats: Arc<LogStats>,
    publisher: Arc<Publisher>,
    tx: Option<SyncSender<writer::Batch>>,
    reopen: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AccessLog {
    /// Opens the log `config` asks for (off, stdout or a file) and starts
    /// its writer thread; a file that cannot be opened is an error naming
    /// it.
    pub fn open(config: &LogConfig) -> Result<AccessLog, OpenError> {
        let settings = Settings::new(config, 0);
        let dest = writer::Destination::open(&settings.target)?;
        let stats = Arc::new(LogStats::default());
        let (tx, rx) = sync_channel(QUEUE);
        let (switches, switched) = channel();
        let reopen = Arc::new(AtomicBool::new(false));
        let thread = {
            let (reopen, stats) = (reopen.clone(), stats.clone());
            std::thread::Builder::new()
                .name("access-log".into())
                .spawn(move || writer::run(dest, rx, switched, reopen, stats))
                .map_err(OpenError::Thread)?
        };
        let publisher = Publisher {
            settings: watch::Sender::new(settings),
            switches,
        };
        Ok(AccessLog {
            stats,
            publisher: Arc::new(publisher),
            tx: Some(tx),
            reopen,
            thread: Some(thread),
        })
    }

    /// The counters of lines written and dropped.
    pub fn stats(&self) -> Arc<LogStats> {
        self.stats.clone()
    }

    /// What the app factory needs to give each worker its own log.
    pub fn feeder(&self) -> Feeder {
        Feeder {
            stats: self.stats.clone(),
            // Cannot fail: only `finish`, which takes the log by value,
            // clears `tx`.
            tx: self.tx.clone().expect("open until finished"),
            settings: self.publisher.settings.subscribe(),
        }
    }

    /// The flag SIGUSR1 sets to have the file reopened.
    pub fn reopen_flag(&self) -> Arc<AtomicBool> {
        self.reopen.clone()
    }

    /// What a reload checks and applies `[log]` with: a new target is
    /// opened by the check (one that cannot be refuses the reload), the
    /// rest applies to the next line.
    pub fn reload_part(&self) -> Box<dyn super::reload::Part> {
        Box::new(Reconfigure(self.publisher.clone()))
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
    stats: Arc<LogStats>,
    tx: SyncSender<writer::Batch>,
    settings: watch::Receiver<Settings>,
}

impl Feeder {
    /// A log for the worker thread this is called on.
    pub fn worker(&self) -> Rc<WorkerLog> {
        Rc::new(WorkerLog::new(
            self.stats.clone(),
            self.tx.clone(),
            self.settings.clone(),
        ))
    }
}
