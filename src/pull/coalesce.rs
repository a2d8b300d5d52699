//! Request coalescing ("single flight") for pull-through fetches from the origin.
//!
//! When many requests miss the cache for the same key at once, [`Coalescer::run`]
//! lets exactly one of them (the leader) do the work, typically an origin fetch that
//! also stores the response, while the others wait for its outcome and share it.
//!
//! What it is for:
//!
//! - Collapsing a stampede on one missing or stale key into one origin request.
//! - Not turning a failure into a stampede: a leader whose fetch failed hands its
//!   waiters what they may be told of it ([`Outcome::Split`]: the same error, or
//!   the node's own answer of the same status), and the next request after that
//!   leads once more. A hanging origin, a 503 storm or truncated bodies under a
//!   200-way storm cost one origin request per round, not one per client.
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
//! - Not an error policy: a failed fetch is whatever `V` the work returns; the
//!   caller says what waiters may share of it (`Shared`, `Split`, or `Private` if
//!   they must each ask for themselves).
//!
//! The lock timeout is a lock age (nginx's `proxy_cache_lock_age`): when a flight
//! has had no outcome for that long, one waiter runs the work too (then one more
//! per further period), and the first shareable outcome of either goes to every
//! waiter; the others keep waiting. So a slow leader is backed up by one request,
//! never by all of its waiters at once.
//!
//! Leader failure: if the leader's future is dropped (client disconnect) or panics
//! before its work finishes, its waiters are woken at once and race to re-join; the
//! first becomes the new leader and the rest wait for it. So the work is re-run by
//! one waiter, not by all of them.
//!
//! `run` must be polled inside a Tokio runtime with the time driver enabled (waiters
//! use `tokio::time::timeout_at`). No lock is ever held across an `.await`.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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
    /// A failure: the leader's own value, and what its waiters get instead (what
    /// they may be told of it). No pass mark: the next caller leads once more.
    Split {
        /// What the leader answers with.
        leader: V,
        /// What every waiter answers with.
        waiters: V,
    },
    /// A result only the leader may use; waiters, and new callers for the given pass duration, do their own work.
    Private(V, Duration),
}

/// How a caller got its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Ran the work while others could wait for it (includes a waiter promoted
    /// after leader failure, and one that ran it after the lock timeout).
    Leader,
    /// Got a value shared by another caller without running its own work to the end.
    Waiter,
    /// Ran its own work uncoalesced: pass mark or `Private` leader.
    Alone,
}

/// Everything behind the mutex.
struct State<K, V> {
    flights: HashMap<K, Flight<V>>,
    passes: HashMap<K, Instant>,
    next_id: u64,
    sweep_at: usize,
}

/// An in-flight run. The channel's sender is shared by the leader and any
/// waiter that runs the work after the lock timeout.
struct Flight<V> {
    id: u64,
    tx: Arc<watch::Sender<Slot<V>>>,
    /// When one more waiter may run the work (lock age).
    next_extra: Instant,
}

/// What waiters see on the channel.
enum Slot<V> {
    Pending,
    Shared(V),
    Pass,
    /// The leader was dropped or panicked before an outcome.
    Gone,
}

/// What joining a key resulted in.
enum Join<'a, K: Eq + Hash, V> {
    Pass,
    Lead(LeaderGuard<'a, K, V>),
    Wait {
        rx: watch::Receiver<Slot<V>>,
        id: u64,
        until: Instant,
    },
}

/// How a wait ended.
enum Woken<V> {
    Shared(V),
    Pass,
    LeaderGone,
    TimedOut,
}

/// What a waiter does when the lock age passes.
enum Extra<V> {
    /// Run the work too, publishing on this channel.
    Run(Arc<watch::Sender<Slot<V>>>),
    /// Keep waiting, until this instant.
    Wait(Instant),
}

/// Unregisters the leader's flight when it finishes or is dropped unfinished.
struct LeaderGuard<'a, K: Eq + Hash, V> {
    owner: &'a Coalescer<K, V>,
    key: K,
    id: u64,
    tx: Arc<watch::Sender<Slot<V>>>,
    done: bool,
}

impl<V> Outcome<V> {
    /// The value the caller that ran the work answers with.
    pub fn into_value(self) -> V {
        match self {
            Outcome::Shared(v) | Outcome::Private(v, _) => v,
            Outcome::Split { leader, .. } => leader,
        }
    }
}

impl<K, V> Coalescer<K, V>
where
    K: Eq + Hash + Clone + Send + Sync,
    V: Clone + Send + Sync,
{
    /// A coalescer in which, after `lock_timeout` without an outcome, one more waiter runs the work too (see the module doc).
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
        'join: loop {
            match self.join(&key) {
                Join::Pass => break,
                Join::Lead(guard) => {
                    let outcome = work().await;
                    return (guard.finish(outcome), Role::Leader);
                }
                Join::Wait {
                    mut rx,
                    id,
                    mut until,
                } => loop {
                    match wait(&mut rx, until).await {
                        Woken::Shared(v) => return (v, Role::Waiter),
                        Woken::Pass => break 'join,
                        // The leader was dropped or panicked; its flight is gone, so re-join.
                        Woken::LeaderGone => continue 'join,
                        Woken::TimedOut => match self.extra(&key, id) {
                            Extra::Run(tx) => return help(&tx, rx, work()).await,
                            Extra::Wait(next) => until = next,
                        },
                    }
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

    /// Keys currently in flight (for tests).
    #[cfg(test)]
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
            return Join::Wait {
                rx: flight.tx.subscribe(),
                id: flight.id,
                until: flight.next_extra,
            };
        }
        let id = st.next_id;
        st.next_id = st.next_id.wrapping_add(1);
        let tx = Arc::new(watch::Sender::new(Slot::Pending));
        let next_extra = after(self.lock_timeout);
        st.flights.insert(
            key.clone(),
            Flight {
                id,
                tx: tx.clone(),
                next_extra,
            },
        );
        drop(st);
        Join::Lead(LeaderGuard {
            owner: self,
            key: key.clone(),
            id,
            tx,
            done: false,
        })
    }

    /// A waiter's lock age passed: it runs the work too if no other waiter
    /// of flight `id` did in the last `lock_timeout`, else it waits on.
    fn extra(&self, key: &K, id: u64) -> Extra<V> {
        let now = Instant::now();
        let mut st = self.lock();
        match st.flights.get_mut(key) {
            Some(f) if f.id == id && f.next_extra <= now => {
                f.next_extra = after(self.lock_timeout);
                Extra::Run(f.tx.clone())
            }
            Some(f) if f.id == id => Extra::Wait(f.next_extra),
            // Finished or gone: the channel already says so.
            _ => Extra::Wait(after(self.lock_timeout)),
        }
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
            Outcome::Split { leader, waiters } => (leader, Slot::Shared(waiters), None),
            Outcome::Private(v, d) => (v, Slot::Pass, Some(d)),
        };
        publish(&self.tx, slot);
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
        // Unregister first, then wake the waiters: when they re-join, the
        // stale flight is already gone.
        {
            let mut st = self
                .owner
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if st.flights.get(&self.key).is_some_and(|f| f.id == self.id) {
                st.flights.remove(&self.key);
            }
        }
        publish(&self.tx, Slot::Gone);
    }
}

/// Sets the channel's outcome unless it has one already (the first outcome,
/// the leader's or a helping waiter's, is the one waiters get).
fn publish<V>(tx: &watch::Sender<Slot<V>>, slot: Slot<V>) {
    tx.send_if_modified(|s| {
        if matches!(s, Slot::Pending) {
            *s = slot;
            true
        } else {
            false
        }
    });
}

/// A waiter past the lock age runs `mine` while still listening for the
/// flight's outcome: whichever comes first answers it, and its own
/// shareable outcome goes to every waiter still waiting.
async fn help<V, Fut>(
    tx: &watch::Sender<Slot<V>>,
    mut rx: watch::Receiver<Slot<V>>,
    mine: Fut,
) -> (V, Role)
where
    V: Clone,
    Fut: Future<Output = Outcome<V>>,
{
    tokio::select! {
        outcome = mine => match outcome {
            Outcome::Shared(v) => {
                publish(tx, Slot::Shared(v.clone()));
                (v, Role::Leader)
            }
            Outcome::Split { leader, waiters } => {
                publish(tx, Slot::Shared(waiters));
                (leader, Role::Leader)
            }
            // The leader decides whether its waiters are released.
            Outcome::Private(v, _) => (v, Role::Alone),
        },
        v = shared(&mut rx) => (v, Role::Waiter),
    }
}

/// The flight's shared value, once there is one; never, otherwise.
async fn shared<V: Clone>(rx: &mut watch::Receiver<Slot<V>>) -> V {
    if let Ok(slot) = rx.wait_for(|s| matches!(s, Slot::Shared(_))).await {
        if let Slot::Shared(v) = &*slot {
            return v.clone();
        }
    }
    std::future::pending().await
}

/// Waits until the flight has an outcome, or `deadline` passes.
async fn wait<V: Clone>(rx: &mut watch::Receiver<Slot<V>>, deadline: Instant) -> Woken<V> {
    let ready = |s: &Slot<V>| !matches!(s, Slot::Pending);
    match timeout_at(deadline, rx.wait_for(ready)).await {
        Ok(Ok(slot)) => match &*slot {
            Slot::Shared(v) => Woken::Shared(v.clone()),
            Slot::Pass => Woken::Pass,
            Slot::Gone | Slot::Pending => Woken::LeaderGone,
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
#[path = "coalesce_tests.rs"]
mod tests;
