//! The access log's writer thread: it receives whole batches of lines from
//! the workers over a bounded channel and writes each with one `write`
//! call, so no worker ever waits on the file or on stdout. It reopens the
//! file when asked (SIGUSR1, for logrotate) and ends when every sender is
//! gone, after writing what it was sent.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// A batch of lines from one worker.
#[derive(Debug)]
pub(super) struct Batch {
    /// The lines, each ending in `\n`.
    pub bytes: Vec<u8>,
    /// How many lines.
    pub lines: u64,
}

/// Lines written and lost, for `/metrics`.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Lines written.
    pub written: AtomicU64,
    /// Lines lost: the channel was full, or the write failed.
    pub dropped: AtomicU64,
}

/// Where the lines go.
#[derive(Debug)]
pub(super) enum Destination {
    Stdout,
    File { path: PathBuf, file: File },
}

impl Destination {
    /// Opens `path` for appending (created if missing).
    pub(super) fn file(path: PathBuf) -> io::Result<Self> {
        let file = open(&path)?;
        Ok(Destination::File { path, file })
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Destination::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Destination::File { file, .. } => file.write_all(bytes),
        }
    }

    /// Reopens a file by its path (the old one was renamed away); keeps the
    /// old handle when the path cannot be opened.
    fn reopen(&mut self) {
        if let Destination::File { path, file } = self {
            match open(path) {
                Ok(f) => {
                    *file = f;
                    tracing::info!(path = %path.display(), "access log reopened");
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), "access log: cannot reopen: {e}")
                }
            }
        }
    }
}

fn open(path: &PathBuf) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The thread's loop: write batches as they come, reopen when `reopen` is
/// set (checked at least every `tick`), until every sender is gone.
pub(super) fn run(
    mut dest: Destination,
    rx: Receiver<Batch>,
    reopen: Arc<AtomicBool>,
    stats: Arc<LogStats>,
    tick: Duration,
) {
    let mut failing = false;
    loop {
        let got = rx.recv_timeout(tick);
        if reopen.swap(false, Ordering::AcqRel) {
            dest.reopen();
        }
        let batch = match got {
            Ok(b) => b,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match dest.write(&batch.bytes) {
            Ok(()) => {
                failing = false;
                stats.written.fetch_add(batch.lines, Ordering::Relaxed);
            }
            Err(e) => {
                // Said once per run of failures, counted always.
                if !failing {
                    tracing::error!("access log: write failed, lines dropped: {e}");
                }
                failing = true;
                stats.dropped.fetch_add(batch.lines, Ordering::Relaxed);
            }
        }
    }
}
