//! Request coalescing ("single flight") for pull-through fetches from the origin.
//!
//! When many requests miss the cache for the same key at once, [`Coalescer::run`]
//! lets exactly one of them (the leader) do the work, typically an origin fetch that
//! also stores the response, while the others wait for its outcome and share it.
//!
//! What it is for:
//!
//! - Collapsing a stampede on one missing or stale key into one origin request.
//! - Waiting across threads and Tokio runtimes: actix-web runs one current-thread
//!   runtime per worker, so a leader on one worker wakes waiters on the others.
//!   Waiting uses `tokio::sync::watch`, which is runtime-agnostic; nothing is spawned.
//! - Avoiding the "hit-for-pass" pile-up: a leader that gets an uncacheable result
//!   ([`Outcome::Private`]) releases its waiters at once to fetch concurrently, and
//!   for a while later requests for that key skip coalescing altogether.
//!
//! What it is not:
//!
//! - Not a cache: after a shared outcome the entry is dropped, and the value is
//!   expected to be in the cache by then. Later callers start a new run.
//! - Not a queue or a rate limiter: it bounds work per key, not across keys.
//! - Not an error policy: a failed fetch is whatever `V` the work returns; return it
//!   as `Outcome::Private` if other requests must not share it.
//!
//! Leader failure: if the leader's future is dropped (client disconnect) or panics
//! before its work finishes, its waiters are woken at once and race to re-join; the
//! first becomes the new leader and the rest wait for it, still within the lock
//! timeout they started with. So the work is re-run by one waiter, not by all of them.
//!
//! `run` must be polled inside a Tokio runtime with the time driver enabled (waiters
//! use `tokio::time::timeout_at`). No lock is ever held across an `.await`.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};

/// Pass marks are swept no more often than when this many are stored.
const MIN_SWEEP: usize = 64;

/// Used instead of a deadline that would overflow `Instant` (about 30 years).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// Coalesces concurrent work per key.
pub struct Coalescer<K, V> {
    lock_timeout: Duration,
    state: Mutex<State<K, V>>,
}

/// What the leader's work produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<V> {
    /// A result other requests may share (e.g. a cacheable response now stored).
    Shared(V),
    /// A result only the leader may use; waiters, and new callers for the given pass duration, do their own work.
    Private(V, Duration),
}

/// How a caller got its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Ran the work while others could wait for it (includes a waiter promoted after leader failure).
    Leader,
    /// Got the leader's shared value without running its own work.
    Waiter,
    /// Ran its own work uncoalesced: pass mark, `Private` leader, or lock timeout.
    Alone,
}

/// Everything behind the mutex.
struct State<K, V> {
    flights: HashMap<K, Flight<V>>,
    passes: HashMap<K, Instant>,
    next_id: u64,
    sweep_at: usize,
}

/// An in-flight run; the leader's guard holds the sending half.
struct Flight<V> {
    id: u64,
    rx: watch::Receiver<Slot<V>>,
}

/// What waiters see on the channel.
enum Slot<V> {
    Pending,
    Shared(V),
    Pass,
}

/// What joining a key resulted in.
enum Join<'a, K: Eq + Hash, V> {
    Pass,
    Lead(LeaderGuard<'a, K, V>),
    Wait(watch::Receiver<Slot<V>>),
}

/// How a wait ended.
enum Woken<V> {
    Shared(V),
    Pass,
    LeaderGone,
    TimedOut,
}

/// Unregisters the leader's flight when it finishes or is dropped unfinished.
struct LeaderGuard<'a, K: Eq + Hash, V> {
    owner: &'a Coalescer<K, V>,
    key: K,
    id: u64,
    tx: watch::Sender<Slot<V>>,
    done: bool,
}

impl<V> Outcome<V> {
    /// The value, shared or not.
    pub fn into_value(self) -> V {
        match self {
            Outcome::Shared(v) | Outcome::Private(v, _) => v,
        }
    }
}

impl<K, V> Coalescer<K, V>
where
    K: Eq + Hash + Clone + Send + Sync,
    V: Clone + Send + Sync,
{
    /// A coalescer whose waiters give up waiting after `lock_timeout` and then do the work themselves.
    pub fn new(lock_timeout: Duration) -> Self {
        Coalescer {
            lock_timeout,
            state: Mutex::new(State {
                flights: HashMap::new(),
                passes: HashMap::new(),
                next_id: 0,
                sweep_at: MIN_SWEEP,
            }),
        }
    }

    /// Runs `work` for `key` unless a run for the same key is in flight, in which case waits for its outcome.
    pub async fn run<F, Fut>(&self, key: K, work: F) -> (V, Role)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome<V>>,
    {
        let deadline = after(self.lock_timeout);
        loop {
            match self.join(&key) {
                Join::Pass => break,
                Join::Lead(guard) => {
                    let outcome = work().await;
                    return (guard.finish(outcome), Role::Leader);
                }
                Join::Wait(mut rx) => match wait(&mut rx, deadline).await {
                    Woken::Shared(v) => return (v, Role::Waiter),
                    Woken::Pass | Woken::TimedOut => break,
                    // The leader was dropped or panicked; its flight is gone, so re-join.
                    Woken::LeaderGone => continue,
                },
            }
        }
        (work().await.into_value(), Role::Alone)
    }

    /// Whether requests for `key` skip coalescing now (a recent answer for
    /// it was not shareable): their fetches are plain pass-through.
    pub fn passing(&self, key: &K) -> bool {
        let now = Instant::now();
        self.lock()
            .passes
            .get(key)
            .is_some_and(|until| *until > now)
    }

    /// Keys currently in flight (for metrics/tests).
    pub fn in_flight(&self) -> usize {
        self.lock().flights.len()
    }

    /// Decides, under the lock, whether the caller passes, leads or waits.
    fn join(&self, key: &K) -> Join<'_, K, V> {
        let now = Instant::now();
        let mut st = self.lock();
        if let Some(&until) = st.passes.get(key) {
            if until > now {
                return Join::Pass;
            }
            st.passes.remove(key);
        }
        if let Some(flight) = st.flights.get(key) {
            return Join::Wait(flight.rx.clone());
        }
        let id = st.next_id;
        st.next_id = st.next_id.wrapping_add(1);
        let (tx, rx) = watch::channel(Slot::Pending);
        st.flights.insert(key.clone(), Flight { id, rx });
        drop(st);
        Join::Lead(LeaderGuard {
            owner: self,
            key: key.clone(),
            id,
            tx,
            done: false,
        })
    }

    /// Removes the flight `id` for `key` and, for a private outcome, records a pass mark.
    fn retire(&self, key: &K, id: u64, pass_for: Option<Duration>) {
        let mut st = self.lock();
        if st.flights.get(key).is_some_and(|f| f.id == id) {
            st.flights.remove(key);
        }
        if let Some(d) = pass_for.filter(|d| !d.is_zero()) {
            let now = Instant::now();
            st.passes.insert(key.clone(), after(d));
            if st.passes.len() >= st.sweep_at {
                st.passes.retain(|_, until| *until > now);
                st.sweep_at = MIN_SWEEP.max(st.passes.len() * 2);
            }
        }
    }

    /// The state; a poisoned lock is still consistent because nothing panics while holding it.
    fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K, V> LeaderGuard<'_, K, V>
where
    K: Eq + Hash + Clone + Send + Sync,
    V: Clone + Send + Sync,
{
    /// Publishes the outcome to waiters, unregisters the flight and returns the leader's value.
    fn finish(mut self, outcome: Outcome<V>) -> V {
        let (value, slot, pass_for) = match outcome {
            Outcome::Shared(v) => (v.clone(), Slot::Shared(v), None),
            Outcome::Private(v, d) => (v, Slot::Pass, Some(d)),
        };
        self.tx.send_replace(slot);
        self.owner.retire(&self.key, self.id, pass_for);
        self.done = true;
        value
    }
}

impl<K: Eq + Hash, V> Drop for LeaderGuard<'_, K, V> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Unregister first; `tx` drops after this body, which wakes the waiters, so
        // when they re-join the stale flight is already gone.
        let mut st = self
            .owner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if st.flights.get(&self.key).is_some_and(|f| f.id == self.id) {
            st.flights.remove(&self.key);
        }
    }
}

/// Waits until the leader publishes, goes away, or `deadline` passes.
async fn wait<V: Clone>(rx: &mut watch::Receiver<Slot<V>>, deadline: Instant) -> Woken<V> {
    let ready = |s: &Slot<V>| !matches!(s, Slot::Pending);
    match timeout_at(deadline, rx.wait_for(ready)).await {
        Ok(Ok(slot)) => match &*slot {
            Slot::Shared(v) => Woken::Shared(v.clone()),
            Slot::Pass | Slot::Pending => Woken::Pass,
        },
        Ok(Err(_closed)) => Woken::LeaderGone,
        Err(_elapsed) => Woken::TimedOut,
    }
}

/// `now + d`, saturating to a far-future instant instead of overflowing.
fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or(now + FAR_FUTURE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::{mpsc, Arc};
    use tokio::sync::Barrier;
    use tokio::time::sleep;

    const MS: Duration = Duration::from_millis(1);

    fn roles(results: &[(u32, Role)], role: Role) -> usize {
        results.iter().filter(|(_, r)| *r == role).count()
    }

    async fn wait_in_flight(c: &Coalescer<&'static str, u32>, n: usize) {
        for _ in 0..5_000 {
            if c.in_flight() == n {
                return;
            }
            sleep(MS).await;
        }
        panic!("in_flight never reached {n}");
    }

    async fn join_all<T: Send + 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.expect("task failed"));
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn stampede_runs_work_once() {
        let c = Arc::new(Coalescer::new(Duration::from_secs(10)));
        let calls = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(200));
        let tasks = (0..200)
            .map(|_| {
                let (c, calls, start) = (c.clone(), calls.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    c.run("k", || async move {
                        calls.fetch_add(1, SeqCst);
                        sleep(50 * MS).await;
                        Outcome::Shared(7)
                    })
                    .await
                })
            })
            .collect();
        let results = join_all(tasks).await;
        assert_eq!(calls.load(SeqCst), 1);
        assert_eq!(roles(&results, Role::Leader), 1);
        assert_eq!(roles(&results, Role::Waiter), 199);
        assert!(results.iter().all(|(v, _)| *v == 7));
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn different_keys_run_in_parallel() {
        let c = Arc::new(Coalescer::new(Duration::from_secs(10)));
        let calls = Arc::new(AtomicUsize::new(0));
        // Both works must be running at once to pass this barrier.
        let both = Arc::new(Barrier::new(2));
        let tasks = ["a", "b"]
            .into_iter()
            .map(|key| {
                let (c, calls, both) = (c.clone(), calls.clone(), both.clone());
                tokio::spawn(async move {
                    c.run(key, || async move {
                        calls.fetch_add(1, SeqCst);
                        both.wait().await;
                        Outcome::Shared(1)
                    })
                    .await
                })
            })
            .collect();
        let results = tokio::time::timeout(Duration::from_secs(5), join_all(tasks))
            .await
            .expect("keys were serialized");
        assert_eq!(calls.load(SeqCst), 2);
        assert_eq!(roles(&results, Role::Leader), 2);
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn private_releases_waiters_concurrently_then_passes() {
        let work_time = 100 * MS;
        let c = Arc::new(Coalescer::new(Duration::from_secs(10)));
        let calls = Arc::new(AtomicUsize::new(0));
        // The 49 non-leaders must all be in their work at once to pass this barrier.
        let others = Arc::new(Barrier::new(49));
        let started = Instant::now();
        let tasks = (0..50)
            .map(|_| {
                let (c, calls, others) = (c.clone(), calls.clone(), others.clone());
                tokio::spawn(async move {
                    c.run("k", || async move {
                        if calls.fetch_add(1, SeqCst) > 0 {
                            others.wait().await;
                        }
                        sleep(work_time).await;
                        Outcome::Private(3, Duration::from_secs(30))
                    })
                    .await
                })
            })
            .collect();
        let results = tokio::time::timeout(Duration::from_secs(10), join_all(tasks))
            .await
            .expect("waiters were not released together");
        assert!(
            started.elapsed() < work_time * 25,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(calls.load(SeqCst), 50);
        assert_eq!(roles(&results, Role::Leader), 1);
        assert_eq!(roles(&results, Role::Alone), 49);
        assert_eq!(c.in_flight(), 0);

        // During pass_for nothing registers: a slow call does not hold up a fast one.
        let slow = {
            let c = c.clone();
            tokio::spawn(async move {
                c.run("k", || async {
                    sleep(Duration::from_secs(5)).await;
                    Outcome::Shared(0)
                })
                .await
            })
        };
        sleep(20 * MS).await;
        assert_eq!(c.in_flight(), 0);
        let t = Instant::now();
        let fast = c.run("k", || async { Outcome::Shared(9) }).await;
        assert_eq!(fast, (9, Role::Alone));
        assert!(t.elapsed() < Duration::from_secs(2));
        slow.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn private_with_zero_pass_releases_but_leaves_no_mark() {
        let c = Arc::new(Coalescer::new(Duration::from_secs(10)));
        let leader = {
            let c = c.clone();
            tokio::spawn(async move {
                c.run("k", || async {
                    sleep(100 * MS).await;
                    Outcome::Private(1, Duration::ZERO)
                })
                .await
            })
        };
        wait_in_flight(&c, 1).await;
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.run("k", || async { Outcome::Shared(2) }).await })
            })
            .collect();
        assert_eq!(leader.await.unwrap(), (1, Role::Leader));
        let results = join_all(waiters).await;
        assert_eq!(roles(&results, Role::Alone), 10);
        assert!(c.lock().passes.is_empty());
        let next = c.run("k", || async { Outcome::Shared(3) }).await;
        assert_eq!(next, (3, Role::Leader));
    }

    async fn waiters_after_failed_leader(c: Arc<Coalescer<&'static str, u32>>) {
        wait_in_flight(&c, 1).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let waiters: Vec<_> = (0..20)
            .map(|_| {
                let (c, calls) = (c.clone(), calls.clone());
                tokio::spawn(async move {
                    c.run("k", || async move {
                        calls.fetch_add(1, SeqCst);
                        sleep(50 * MS).await;
                        Outcome::Shared(7)
                    })
                    .await
                })
            })
            .collect();
        let results = join_all(waiters).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        // One waiter is promoted to leader; the rest share its value.
        assert_eq!(calls.load(SeqCst), 1);
        assert_eq!(roles(&results, Role::Leader), 1);
        assert_eq!(roles(&results, Role::Waiter), 19);
        assert!(results.iter().all(|(v, _)| *v == 7));
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn cancelled_leader_releases_waiters_promptly() {
        let c = Arc::new(Coalescer::new(Duration::from_secs(10)));
        let leader = {
            let c = c.clone();
            tokio::spawn(async move {
                let work = || async {
                    sleep(Duration::from_secs(60)).await;
                    Outcome::Shared(0)
                };
                tokio::time::timeout(300 * MS, c.run("k", work)).await
            })
        };
        waiters_after_failed_leader(c).await;
        assert!(leader.await.unwrap().is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn panicking_leader_releases_waiters_promptly() {
        let c = Arc::new(Coalescer::new(Duration::from_secs(10)));
        let leader = {
            let c = c.clone();
            tokio::spawn(async move {
                c.run("k", || async {
                    sleep(300 * MS).await;
                    panic!("origin client bug");
                })
                .await
            })
        };
        waiters_after_failed_leader(c).await;
        assert!(leader.await.unwrap_err().is_panic());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn lock_timeout_makes_waiters_do_their_own_work() {
        let c = Arc::new(Coalescer::new(100 * MS));
        let leader = {
            let c = c.clone();
            tokio::spawn(async move {
                c.run("k", || async {
                    sleep(Duration::from_secs(2)).await;
                    Outcome::Shared(1)
                })
                .await
            })
        };
        wait_in_flight(&c, 1).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let (c, calls) = (c.clone(), calls.clone());
                tokio::spawn(async move {
                    c.run("k", || async move {
                        calls.fetch_add(1, SeqCst);
                        Outcome::Shared(2)
                    })
                    .await
                })
            })
            .collect();
        let results = join_all(waiters).await;
        assert!(started.elapsed() < Duration::from_millis(1500));
        assert_eq!(calls.load(SeqCst), 10);
        assert!(results.iter().all(|r| *r == (2, Role::Alone)));
        assert_eq!(c.in_flight(), 1, "the slow leader is still running");
        assert_eq!(leader.await.unwrap(), (1, Role::Leader));
        assert_eq!(c.in_flight(), 0);
    }

    fn current_thread_rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn waiter_on_another_runtime_gets_shared_value() {
        let c = Arc::new(Coalescer::new(Duration::from_secs(10)));
        let (started_tx, started_rx) = mpsc::channel();
        let leader = {
            let c = c.clone();
            std::thread::spawn(move || {
                current_thread_rt().block_on(c.run("k", || async move {
                    started_tx.send(()).unwrap();
                    sleep(300 * MS).await;
                    Outcome::Shared(42)
                }))
            })
        };
        let waiter = {
            let c = c.clone();
            std::thread::spawn(move || {
                started_rx.recv().unwrap();
                current_thread_rt().block_on(c.run("k", || async { Outcome::Shared(0) }))
            })
        };
        assert_eq!(leader.join().unwrap(), (42, Role::Leader));
        assert_eq!(waiter.join().unwrap(), (42, Role::Waiter));
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn leader_cancelled_on_another_runtime_wakes_waiter() {
        let c = Arc::new(Coalescer::new(Duration::from_secs(10)));
        let (started_tx, started_rx) = mpsc::channel();
        let leader = {
            let c = c.clone();
            std::thread::spawn(move || {
                let run = c.run("k", || async move {
                    started_tx.send(()).unwrap();
                    sleep(Duration::from_secs(60)).await;
                    Outcome::Shared(0)
                });
                current_thread_rt().block_on(async { tokio::time::timeout(300 * MS, run).await })
            })
        };
        let waiter = {
            let c = c.clone();
            std::thread::spawn(move || {
                started_rx.recv().unwrap();
                let t = std::time::Instant::now();
                let got = current_thread_rt().block_on(c.run("k", || async { Outcome::Shared(5) }));
                (got, t.elapsed())
            })
        };
        assert!(leader.join().unwrap().is_err());
        let (got, took) = waiter.join().unwrap();
        assert_eq!(
            got,
            (5, Role::Leader),
            "promoted after the leader was dropped"
        );
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn expired_pass_marks_are_cleaned_up() {
        let c: Coalescer<u32, u32> = Coalescer::new(Duration::from_secs(1));
        for batch in 0..10 {
            for i in 0..100 {
                let key = batch * 100 + i;
                let got = c.run(key, || async { Outcome::Private(key, MS) }).await;
                assert_eq!(got, (key, Role::Leader));
            }
            sleep(5 * MS).await;
        }
        assert!(c.lock().passes.len() < 300, "{}", c.lock().passes.len());
        // An expired mark no longer forces a pass.
        assert_eq!(
            c.run(0, || async { Outcome::Shared(1) }).await,
            (1, Role::Leader)
        );
        assert_eq!(c.in_flight(), 0);
    }
}
