//! The access log's writer thread: it receives whole batches of lines from
//! the workers over a bounded channel and writes each with one `write`
//! call, so no worker ever waits on the file or on stdout. It reopens the
//! file when asked (SIGUSR1, for logrotate), moves to a new target when a
//! reload sends one ([`Switch`]), and ends when every sender is gone, after
//! writing what it was sent.
//!
//! Each batch carries the generation of the settings its lines were
//! written under, and goes to the target of that generation: lines of the
//! old settings that were still in a worker's buffer at a reload reach the
//! old target (the workers hand them over at once when the settings
//! change), later ones the new. An old target is kept for [`RETAIN`] after
//! the switch, then closed; a batch of its generation arriving later still
//! (none should) goes to the current target rather than be lost.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::AccessTarget;

/// How often the thread looks at the reopen flag and its old targets
/// when no batch comes.
const TICK: Duration = Duration::from_millis(200);
/// How long an old target stays open after a reload switched away from it.
const RETAIN: Duration = Duration::from_secs(10);

/// A batch of lines from one worker.
#[derive(Debug)]
pub(super) struct Batch {
    /// The lines, each ending in `\n`.
    pub bytes: Vec<u8>,
    /// How many lines.
    pub lines: u64,
    /// The generation of the settings they were written under.
    pub gen: u64,
}

/// A reload's new target, for the lines of generation `since` and after.
#[derive(Debug)]
pub(super) struct Switch {
    /// The first generation that writes to `dest`.
    pub since: u64,
    /// The new target, already open.
    pub dest: Destination,
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
    /// Nowhere: the log is off (workers then write no lines).
    Off,
    Stdout,
    File {
        path: PathBuf,
        file: File,
    },
}

impl Destination {
    /// Opens what `target` names; a file is opened for appending (created
    /// if missing), and an error names it.
    pub(super) fn open(target: &AccessTarget) -> Result<Self, super::OpenError> {
        Ok(match target {
            AccessTarget::Off => Destination::Off,
            AccessTarget::Stdout => Destination::Stdout,
            AccessTarget::File(path) => Destination::File {
                file: open(path).map_err(|source| super::OpenError::File {
                    path: path.clone(),
                    source,
                })?,
                path: path.clone(),
            },
        })
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Destination::Off => Ok(()),
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

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// A target and the first generation that writes to it.
#[derive(Debug)]
struct Target {
    since: u64,
    dest: Destination,
}

/// The current target, and the old ones kept a while for late lines.
#[derive(Debug)]
struct Targets {
    current: Target,
    /// Oldest first, each with the time it is closed.
    retired: VecDeque<(Target, Instant)>,
}

impl Targets {
    fn switch(&mut self, s: Switch, now: Instant) {
        let new = Target {
            since: s.since,
            dest: s.dest,
        };
        let old = std::mem::replace(&mut self.current, new);
        self.retired.push_back((old, now + RETAIN));
    }

    /// Closes the old targets whose time is up.
    fn expire(&mut self, now: Instant) {
        while self.retired.front().is_some_and(|(_, until)| *until <= now) {
            self.retired.pop_front();
        }
    }

    /// The target of generation `gen`: the newest that started at or
    /// before it, the current one if that one is closed already.
    fn of(&mut self, gen: u64) -> &mut Destination {
        if gen < self.current.since {
            let found = self.retired.iter().rposition(|(t, _)| t.since <= gen);
            if let Some(i) = found {
                return &mut self.retired[i].0.dest;
            }
        }
        &mut self.current.dest
    }
}

/// The thread's loop: write batches as they come, each to the target of
/// its generation; take the targets `switches` sends; reopen when `reopen`
/// is set (checked at least every `TICK`); until every sender of `rx` is
/// gone.
pub(super) fn run(
    dest: Destination,
    rx: Receiver<Batch>,
    switches: Receiver<Switch>,
    reopen: Arc<AtomicBool>,
    stats: Arc<LogStats>,
) {
    let mut targets = Targets {
        current: Target { since: 0, dest },
        retired: VecDeque::new(),
    };
    let mut failing = false;
    loop {
        let got = rx.recv_timeout(TICK);
        // After the batch arrived: a reload sends its switch before any
        // worker writes under the new generation, so it is here by now.
        let now = Instant::now();
        while let Ok(s) = switches.try_recv() {
            targets.switch(s, now);
        }
        targets.expire(now);
        if reopen.swap(false, Ordering::AcqRel) {
            targets.current.dest.reopen();
        }
        let batch = match got {
            Ok(b) => b,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match targets.of(batch.gen).write(&batch.bytes) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str) -> Destination {
        Destination::open(&AccessTarget::File(dir.join(name))).unwrap()
    }

    fn batch(gen: u64, text: &str) -> Batch {
        Batch {
            bytes: text.as_bytes().to_vec(),
            lines: 1,
            gen,
        }
    }

    #[test]
    fn each_batch_goes_to_the_target_of_its_generation() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        let (stx, srx) = std::sync::mpsc::channel();
        let stats = Arc::new(LogStats::default());
        let thread = {
            let stats = stats.clone();
            let dest = file(dir.path(), "a");
            std::thread::spawn(move || run(dest, rx, srx, Arc::default(), stats))
        };
        tx.send(batch(0, "a0\n")).unwrap();
        stx.send(Switch {
            since: 2,
            dest: file(dir.path(), "b"),
        })
        .unwrap();
        for (gen, text) in [(2, "b2\n"), (1, "a1\n"), (3, "b3\n")] {
            tx.send(batch(gen, text)).unwrap();
        }
        drop(tx);
        thread.join().unwrap();
        let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
        assert_eq!(read("a"), "a0\na1\n");
        assert_eq!(read("b"), "b2\nb3\n");
        assert_eq!(stats.written.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn an_old_target_is_closed_after_a_while_and_late_lines_go_to_the_current() {
        let dir = tempfile::tempdir().unwrap();
        let start = Instant::now();
        let mut t = Targets {
            current: Target {
                since: 0,
                dest: file(dir.path(), "a"),
            },
            retired: VecDeque::new(),
        };
        t.switch(
            Switch {
                since: 4,
                dest: file(dir.path(), "b"),
            },
            start,
        );
        t.switch(
            Switch {
                since: 6,
                dest: Destination::Off,
            },
            start + Duration::from_secs(1),
        );
        assert!(matches!(t.of(5), Destination::File { path, .. } if path.ends_with("b")));
        assert!(matches!(t.of(3), Destination::File { path, .. } if path.ends_with("a")));
        assert!(matches!(t.of(6), Destination::Off));
        t.expire(start + RETAIN);
        assert!(matches!(t.of(3), Destination::Off));
        assert!(matches!(t.of(5), Destination::File { path, .. } if path.ends_with("b")));
        t.expire(start + RETAIN + Duration::from_secs(1));
        assert!(t.retired.is_empty());
    }
}
