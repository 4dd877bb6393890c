//! The remote pool against a real `redis-server`: workers in separate processes (this test
//! binary, so the same build), CPython's `_TestPool` cases that apply, and crashes: workers
//! SIGKILLed mid-task (every task ends with exactly one result), a worker SIGSTOPped past
//! its lease (its tasks finish elsewhere and its late acks are refused).

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use multiproc::pool::TaskOptions;
use multiproc::process::Process;
use multiproc::remote::{self, Remote};
use multiproc::{PoolError, WorkerExit};

/// A worker process: runs until SIGTERM, then records what it did in `stats`.
fn worker((url, ns, slots, lease_ms): (String, String, usize, u64)) {
    let r = Remote::builder(&url, &ns)
        .lease(Duration::from_millis(lease_ms))
        .connect()
        .unwrap();
    let stats = remote::Worker::new(&r)
        .concurrency(slots)
        .stop_on_sigterm()
        .unwrap()
        .run()
        .unwrap();
    let d = r.dict::<u32, (u64, u64, u64)>("stats").unwrap();
    d.insert(
        std::process::id(),
        (stats.accepted, stats.refused, stats.renamed),
    )
    .unwrap();
}

fn start_worker(s: &RedisServer, ns: &str, slots: usize, lease_ms: u64) -> Process<()> {
    // A daemon: a failed test's workers die with it rather than hold up its exit.
    let mut p = Process::builder()
        .daemon(true)
        .target(worker, (s.url(), ns.to_string(), slots, lease_ms));
    p.start().unwrap();
    p
}

fn stop(mut p: Process<()>) {
    p.terminate().unwrap();
    let _ = p.join_timeout(Duration::from_secs(30));
}

fn square(x: u64) -> u64 {
    x * x
}

fn fails(x: u64) -> u64 {
    if x == 3 {
        panic!("three is right out");
    }
    x
}

#[test]
fn apply_map_and_callbacks_run_on_remote_workers() {
    common::watchdog(120, || {
        let s = common::redis::start(false);
        let r = remote::connect(&s.url(), "basic").unwrap();
        let w = start_worker(&s, "basic", 2, 2000);
        let pool = r.pool().unwrap();
        assert_eq!(pool.apply(square, 7).unwrap(), 49);
        assert_eq!(
            pool.map(square, 0..200u64).unwrap(),
            (0..200u64).map(square).collect::<Vec<_>>()
        );
        assert_eq!(
            pool.map(square, Vec::<u64>::new()).unwrap(),
            Vec::<u64>::new()
        );
        // Callbacks: each exactly once, in this process; error_callback only on failure.
        let (oks, errs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let results: Vec<_> = (0..10u64)
            .map(|i| {
                let (o, e) = (oks.clone(), errs.clone());
                pool.apply_async_with(
                    fails,
                    i,
                    TaskOptions::new()
                        .callback(move |_| {
                            o.fetch_add(1, Ordering::SeqCst);
                        })
                        .error_callback(move |_| {
                            e.fetch_add(1, Ordering::SeqCst);
                        }),
                )
                .unwrap()
            })
            .collect();
        for (i, r) in results.iter().enumerate() {
            match r.get_timeout(Duration::from_secs(30)) {
                Ok(v) => assert_eq!(v, i as u64),
                Err(PoolError::Panicked(p)) => {
                    assert_eq!(i, 3);
                    assert!(p.message.contains("three is right out"), "{p:?}");
                }
                Err(e) => panic!("task {i}: {e}"),
            }
        }
        assert_eq!(
            (oks.load(Ordering::SeqCst), errs.load(Ordering::SeqCst)),
            (9, 1)
        );
        let slow = pool.apply_async(square, 1).unwrap();
        assert_eq!(slow.get_timeout(Duration::from_secs(30)), Ok(1));
        assert!(slow.ready());
        pool.close();
        assert_eq!(pool.apply_async(square, 1).err(), Some(PoolError::Closed));
        pool.join_timeout(Some(Duration::from_secs(30))).unwrap();
        stop(w);
    });
}

#[test]
fn terminate_without_workers_fails_queued_tasks_at_once_and_they_never_run() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = remote::connect(&s.url(), "term").unwrap();
        // Another client's tasks in the same queue, before and after this pool's.
        let other = r.pool().unwrap();
        let before = other.submit_many(square, 0..50u64).unwrap();
        let pool = r.pool().unwrap();
        let results = pool.submit_many(square, 0..10_000u64).unwrap();
        let after = other.submit_many(square, 50..100u64).unwrap();
        assert_eq!(pool.queued().unwrap(), 10_100);
        let t = Instant::now();
        pool.terminate();
        assert!(t.elapsed() < Duration::from_secs(20));
        assert_eq!(pool.queued().unwrap(), 100, "the other client's tasks stay");
        other.terminate();
        for r in before.iter().chain(&after) {
            assert_eq!(
                r.get_timeout(Duration::from_secs(1)),
                Err(PoolError::Terminated)
            );
        }
        assert!(
            results
                .iter()
                .all(|r| r.get_timeout(Duration::from_secs(1)) == Err(PoolError::Terminated))
        );
        assert_eq!(
            pool.queued().unwrap(),
            0,
            "terminated tasks left in the queue"
        );
        // A queued task can be cancelled: it never runs.
        let pool = r.pool().unwrap();
        let c = pool.apply_async(square, 2).unwrap();
        assert!(c.cancel());
        assert_eq!(
            c.get_timeout(Duration::from_secs(1)),
            Err(PoolError::Cancelled)
        );
        assert_eq!(pool.queued().unwrap(), 0);
    });
}

/// A task that notes it started, and where (in a remote list), then works a little.
fn noted((x, started): (u64, remote::List<(u64, u32)>)) -> u64 {
    started.append((x, std::process::id())).unwrap();
    std::thread::sleep(Duration::from_millis(1));
    x.wrapping_mul(2654435761)
}

fn sigkill(pid: u32) {
    // SAFETY: a signal to a worker this test started and has not reaped (no pid reuse).
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
}

/// What a run with kills ended with.
struct Killed {
    values: usize,
    /// The tasks that ended `WorkerLost`.
    lost: Vec<u64>,
    /// (task, worker pid) for every run that started.
    started: Vec<(u64, u32)>,
    /// The workers killed.
    killed: Vec<u32>,
}

/// `n` tasks over 3 workers × 4 slots while `kills` random workers are SIGKILLed (and
/// replaced); every task ends with exactly one result.
fn run_with_kills(ns: &str, n: u64, kills: usize, attempts: u32) -> Killed {
    let s = common::redis::start(false);
    let lease = 600;
    let r = Remote::builder(&s.url(), ns)
        .lease(Duration::from_millis(lease))
        .connect()
        .unwrap();
    let started = r.list::<(u64, u32)>("started").unwrap();
    let mut workers: Vec<Process<()>> = (0..3).map(|_| start_worker(&s, ns, 4, lease)).collect();
    let mut killed = Vec::new();
    let pool = r
        .pool_builder()
        .max_attempts(attempts)
        .backoff(Duration::from_millis(50))
        .build()
        .unwrap();
    let results = pool
        .submit_many(noted, (0..n).map(|x| (x, started.clone())))
        .unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..kills {
        // Wait until some tasks ran since the last kill, then kill one at random.
        let before = started.len().unwrap();
        assert!(common::eventually(60, || started.len().unwrap()
            >= before + 50
            || started.len().unwrap() as u64 >= n));
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let victim = (rng % workers.len() as u64) as usize;
        let mut p = workers.remove(victim);
        killed.push(p.pid().unwrap());
        sigkill(p.pid().unwrap());
        let _ = p.join_timeout(Duration::from_secs(10));
        workers.push(start_worker(&s, ns, 4, lease));
    }
    let (mut values, mut lost) = (0, Vec::new());
    let mut seen = HashSet::new();
    for (x, res) in results.iter().enumerate() {
        match res.get_timeout(Duration::from_secs(120)) {
            Ok(v) => {
                assert_eq!(v, (x as u64).wrapping_mul(2654435761), "task {x}");
                values += 1;
            }
            Err(PoolError::WorkerLost { exit, .. }) => {
                assert_eq!(exit, WorkerExit::Vanished);
                lost.push(x as u64);
            }
            Err(e) => panic!("task {x}: {e}"),
        }
        assert!(seen.insert(x));
    }
    for w in workers {
        stop(w);
    }
    Killed {
        values,
        lost,
        started: started.to_vec().unwrap(),
        killed,
    }
}

#[test]
fn workers_killed_mid_run_lose_only_their_in_flight_tasks_at_most_once() {
    common::watchdog(300, || {
        let (n, kills) = (10_000u64, 10);
        let k = run_with_kills("kills-once", n, kills, 1);
        eprintln!(
            "{kills} kills: {} tasks lost, {} results",
            k.lost.len(),
            k.values
        );
        assert_eq!(
            k.values + k.lost.len(),
            n as usize,
            "every task has exactly one result"
        );
        // At most once: no task started twice.
        let distinct: HashSet<u64> = k.started.iter().map(|s| s.0).collect();
        assert_eq!(
            distinct.len(),
            k.started.len(),
            "a task ran twice without retries"
        );
        // Exactly the killed workers' in-flight tasks: each lost task that had started
        // started on a killed worker, and each killed worker had at most its 4 slots busy.
        for x in &k.lost {
            if let Some((_, pid)) = k.started.iter().find(|s| s.0 == *x) {
                assert!(
                    k.killed.contains(pid),
                    "task {x} lost, but it ran on live worker {pid}"
                );
            }
        }
        assert!(
            k.lost.len() <= kills * 4,
            "{} lost for {kills} kills",
            k.lost.len()
        );
    });
}

#[test]
fn with_retries_killed_workers_lose_nothing_and_each_result_is_accepted_once() {
    common::watchdog(300, || {
        let (n, kills) = (10_000u64, 10);
        let k = run_with_kills("kills-retry", n, kills, 5);
        eprintln!("{kills} kills: {} runs for {n} tasks", k.started.len());
        assert_eq!((k.values, k.lost.len()), (n as usize, 0));
        // Some ran twice (the killed in-flight ones), yet each has one result.
        assert!(k.started.len() >= n as usize);
    });
}

fn slow(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(1500));
    x + 1
}

#[test]
fn a_worker_stopped_past_its_lease_loses_its_task_to_another_and_its_late_ack_is_refused() {
    common::watchdog(120, || {
        let s = common::redis::start(false);
        let lease = 400;
        let r = Remote::builder(&s.url(), "stall")
            .lease(Duration::from_millis(lease))
            .connect()
            .unwrap();
        let stalled = start_worker(&s, "stall", 1, lease);
        let pool = r
            .pool_builder()
            .max_attempts(2)
            .backoff(Duration::ZERO)
            .build()
            .unwrap();
        let res = pool.apply_async(slow, 41).unwrap();
        // The task is claimed by the only worker: then stop it past its lease.
        assert!(common::eventually(30, || pool.queued().unwrap() == 0));
        let pid = stalled.pid().unwrap();
        // SAFETY: a signal to a worker this test started (unreaped).
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        let other = start_worker(&s, "stall", 1, lease);
        assert_eq!(res.get_timeout(Duration::from_secs(60)), Ok(42));
        // SAFETY: as above.
        unsafe { libc::kill(pid as i32, libc::SIGCONT) };
        // It wakes and finishes its copy (SIGTERM lets a running task end): its ack is
        // refused, the task having been answered by the other worker.
        stop(stalled);
        stop(other);
        let stats = r.dict::<u32, (u64, u64, u64)>("stats").unwrap();
        let (accepted, refused, _renamed) = stats.get(&pid).unwrap().unwrap();
        assert_eq!(
            (accepted, refused),
            (0, 1),
            "the stalled worker's late ack must be refused"
        );
    });
}
