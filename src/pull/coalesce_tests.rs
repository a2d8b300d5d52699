//! Tests of `coalesce`: stampedes, failures, lock age, pass marks, runtimes.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use tokio::sync::Barrier;
use tokio::task::JoinHandle;
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

type Shared = Arc<Coalescer<&'static str, u32>>;

/// A leader for "k" whose work takes `time`, then gives `outcome`.
fn leader_of(c: &Shared, time: Duration, outcome: Outcome<u32>) -> JoinHandle<(u32, Role)> {
    let c = c.clone();
    tokio::spawn(async move {
        c.run("k", || async move {
            sleep(time).await;
            outcome
        })
        .await
    })
}

/// `n` callers for "k" whose own work, if run, counts in `calls`, takes
/// `time` and gives `outcome` (or never finishes, for `None`).
fn callers(
    c: &Shared,
    n: usize,
    calls: &Arc<AtomicUsize>,
    time: Duration,
    outcome: Option<Outcome<u32>>,
) -> Vec<JoinHandle<(u32, Role)>> {
    (0..n)
        .map(|_| {
            let (c, calls, outcome) = (c.clone(), calls.clone(), outcome.clone());
            tokio::spawn(async move {
                c.run("k", || async move {
                    calls.fetch_add(1, SeqCst);
                    sleep(time).await;
                    match outcome {
                        Some(o) => o,
                        None => std::future::pending().await,
                    }
                })
                .await
            })
        })
        .collect()
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
    let leader = leader_of(&c, 100 * MS, Outcome::Private(1, Duration::ZERO));
    wait_in_flight(&c, 1).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let waiters = callers(&c, 10, &calls, Duration::ZERO, Some(Outcome::Shared(2)));
    assert_eq!(leader.await.unwrap(), (1, Role::Leader));
    let results = join_all(waiters).await;
    assert_eq!(roles(&results, Role::Alone), 10);
    assert!(c.lock().passes.is_empty());
    let next = c.run("k", || async { Outcome::Shared(3) }).await;
    assert_eq!(next, (3, Role::Leader));
}

async fn waiters_after_failed_leader(c: Shared) {
    wait_in_flight(&c, 1).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let waiters = callers(&c, 20, &calls, 50 * MS, Some(Outcome::Shared(7)));
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
async fn after_the_lock_age_one_waiter_runs_the_work_and_all_share_it() {
    let c = Arc::new(Coalescer::new(100 * MS));
    let leader = leader_of(&c, Duration::from_secs(2), Outcome::Shared(1));
    wait_in_flight(&c, 1).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let results = join_all(callers(
        &c,
        10,
        &calls,
        Duration::ZERO,
        Some(Outcome::Shared(2)),
    ))
    .await;
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(calls.load(SeqCst), 1, "one waiter, not all of them");
    assert_eq!(roles(&results, Role::Leader), 1);
    assert_eq!(roles(&results, Role::Waiter), 9);
    assert!(results.iter().all(|(v, _)| *v == 2));
    assert_eq!(c.in_flight(), 1, "the slow leader is still running");
    assert_eq!(leader.await.unwrap(), (1, Role::Leader));
    assert_eq!(c.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_flight_is_backed_up_by_one_waiter_per_lock_age() {
    let c = Arc::new(Coalescer::new(200 * MS));
    let leader = leader_of(&c, 700 * MS, Outcome::Shared(1));
    wait_in_flight(&c, 1).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let results = join_all(callers(&c, 50, &calls, Duration::ZERO, None)).await;
    assert_eq!(leader.await.unwrap(), (1, Role::Leader));
    // One more run per 200 ms lock age over the leader's 700 ms (3),
    // with slack for a slow scheduler; never one per waiter.
    let extra = calls.load(SeqCst);
    assert!((1..=6).contains(&extra), "{extra} extra runs");
    assert!(
        results.iter().all(|r| *r == (1, Role::Waiter)),
        "the helpers gave up their own runs for the leader's answer"
    );
    assert_eq!(c.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_split_outcome_gives_waiters_their_value_and_leaves_no_mark() {
    let c = Arc::new(Coalescer::new(Duration::from_secs(10)));
    let split = Outcome::Split {
        leader: 1,
        waiters: 2,
    };
    let leader = leader_of(&c, 100 * MS, split);
    wait_in_flight(&c, 1).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let waiters = callers(&c, 20, &calls, Duration::ZERO, Some(Outcome::Shared(3)));
    assert_eq!(leader.await.unwrap(), (1, Role::Leader));
    let results = join_all(waiters).await;
    assert_eq!(calls.load(SeqCst), 0, "no waiter asked again");
    assert!(results.iter().all(|r| *r == (2, Role::Waiter)));
    assert!(c.lock().passes.is_empty());
    // The next request after the failure leads once more.
    let next = c.run("k", || async { Outcome::Shared(4) }).await;
    assert_eq!(next, (4, Role::Leader));
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
