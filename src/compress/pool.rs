//! The process's one pool of compression threads: started by the first
//! `Compressor` made, shared by every later one (the origin's, the static
//! root's, those of a config built again), so a node never runs two pools
//! nor more queued work than one queue bound. Its threads run at a lower
//! priority and take jobs from a bounded queue; a key is never queued
//! twice at once.

use std::collections::HashSet;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};

use super::job::{self, Job};

/// The pool: where jobs are sent, and which (cache, key) pairs are queued
/// or being worked on.
pub(super) struct Pool {
    tx: SyncSender<Job>,
    queued: Arc<Mutex<HashSet<Slot>>>,
}

/// A key of one memory cache: the cache's address and the key.
type Slot = (usize, String);

/// What became of a job offered to the pool.
pub(super) enum Submitted {
    /// Queued.
    Queued,
    /// Another entry of the same key is queued or being worked on;
    /// `persisted` when this job had its encodings written to disk (where
    /// a later read of the key finds the other's).
    KeyBusy { persisted: bool },
    /// The queue is full.
    Full,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// The process's pool, started now with `workers` threads (at least one)
/// and `queue` slots if it is not running yet.
pub(super) fn get_or_start(workers: usize, queue: usize) -> std::io::Result<&'static Pool> {
    static STARTING: Mutex<()> = Mutex::new(());
    if let Some(p) = POOL.get() {
        return Ok(p);
    }
    let _one_at_a_time = lock(&STARTING);
    if let Some(p) = POOL.get() {
        return Ok(p);
    }
    let pool = Pool::start(workers, queue)?;
    Ok(POOL.get_or_init(|| pool))
}

impl Pool {
    fn start(workers: usize, queue: usize) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel::<Job>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let queued: Arc<Mutex<HashSet<Slot>>> = Arc::default();
        for i in 0..workers.max(1) {
            let (rx, done) = (rx.clone(), queued.clone());
            std::thread::Builder::new()
                .name(format!("cdn-edge-compress-{i}"))
                .spawn(move || {
                    background_priority();
                    loop {
                        // Only this pool's threads wait on the lock; never a worker.
                        let job = match lock(&rx).recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        let slot = slot_of(&job);
                        job::run(job);
                        lock(&done).remove(&slot);
                    }
                })?;
        }
        Ok(Self { tx, queued })
    }

    /// Queues `job` unless its key is already queued or the queue is full.
    pub(super) fn submit(&self, job: Job) -> Submitted {
        let slot = slot_of(&job);
        if !lock(&self.queued).insert(slot.clone()) {
            return Submitted::KeyBusy {
                persisted: job.persist.is_some(),
            };
        }
        match self.tx.try_send(job) {
            Ok(()) => Submitted::Queued,
            Err(_) => {
                lock(&self.queued).remove(&slot);
                Submitted::Full
            }
        }
    }
}

fn slot_of(job: &Job) -> Slot {
    (job.memory.as_ptr() as usize, job.key.clone())
}

/// Lowers the calling thread's scheduling priority (nice 10): encodings are
/// background work, and on a busy node requests must win the cores. Linux
/// applies `setpriority` to one thread when given its thread id; elsewhere
/// this does nothing.
fn background_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread's own id; no memory
    // is passed, and a failure (e.g. not permitted) only leaves the priority
    // as it was.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// A lock of the pool's; a panic elsewhere must not stop compression.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
