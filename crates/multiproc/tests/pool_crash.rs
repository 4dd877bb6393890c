//! Pool crash paths, for real: workers killed by SIGKILL, `abort()`, a segfault, `exit`, a
//! per-task timeout; the parent SIGKILLed with a busy pool. CPython's `Pool` hangs forever in
//! the first case (gh-66587); here exactly the task that was running fails with
//! `WorkerLost`, every other task runs exactly once (a shared count per task, and a
//! checksum), and the pool goes on.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use multiproc::pool::{MapOptions, Pool, TaskOptions, ThreadPool};
use multiproc::process::StartMethod;
use multiproc::shared::Array;
use multiproc::{PoolError, WorkerExit};

/// How many times each task ran, in shared memory: given to the workers by the initializer.
// after-fork: kept (test state, set once per worker process)
static COUNTS: OnceLock<Array<u32>> = OnceLock::new();

fn init_counts(a: Array<u32>) {
    let _ = COUNTS.set(a);
}

fn work(i: u32) -> u64 {
    COUNTS
        .get()
        .expect("initializer ran")
        .with(|c| c[i as usize] += 1);
    u64::from(i) * 7 + 1
}

/// Dies the way `how` says, in the middle of a task.
fn die(how: i32) -> u64 {
    match how {
        0 => std::process::abort(),
        1 => std::process::exit(3),
        libc::SIGSEGV => segfault(),
        // SAFETY: raising a signal at ourselves.
        sig => unsafe {
            libc::raise(sig);
        },
    }
    unreachable!("survived its own death")
}

/// A real segfault: a write to a page mapped with no access (std's SIGSEGV handler then
/// lets the fault kill the process, as for any bad pointer).
fn segfault() {
    // SAFETY: maps one inaccessible page and writes to it, on purpose: the process dies.
    unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(page, libc::MAP_FAILED);
        std::ptr::write_volatile(page.cast::<u8>(), 1);
    }
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// 50 workers die mid-task among 450 tasks that must each run exactly once.
fn deaths(m: StartMethod, how: i32, want: WorkerExit) {
    const N: u32 = 500;
    let counts = Array::<u32>::zeroed(N as usize).unwrap();
    let p = Pool::builder()
        .processes(2)
        .start_method(m)
        .initializer(init_counts, counts.clone())
        .build()
        .unwrap();
    let killers: Vec<u32> = (0..N).filter(|i| i % 10 == 5).collect();
    let mut results = Vec::new();
    for i in 0..N {
        let r = if killers.contains(&i) {
            p.apply_async(die, how).unwrap()
        } else {
            p.apply_async(work, i).unwrap()
        };
        results.push((i, r));
    }
    let mut sum = 0u64;
    let mut lost = 0;
    for (i, r) in &results {
        match r.get() {
            Ok(v) => {
                assert!(!killers.contains(i), "{m}: a dying task {i} returned");
                sum += v;
            }
            Err(PoolError::WorkerLost { pid, exit }) => {
                assert!(killers.contains(i), "{m}: task {i} was lost: {exit}");
                assert_eq!(exit, want, "{m}: task {i}");
                assert!(pid > 0);
                lost += 1;
            }
            Err(e) => panic!("{m}: task {i}: {e}"),
        }
    }
    assert_eq!(
        lost,
        killers.len(),
        "{m}: each killed task reports WorkerLost"
    );
    let want_sum: u64 = (0..N)
        .filter(|i| !killers.contains(i))
        .map(|i| u64::from(i) * 7 + 1)
        .sum();
    assert_eq!(sum, want_sum, "{m}: checksum");
    let ran = counts.to_vec();
    for i in 0..N {
        let want = u32::from(!killers.contains(&i));
        assert_eq!(
            ran[i as usize], want,
            "{m}: task {i} ran {} times",
            ran[i as usize]
        );
    }
    let s = p.stats();
    assert_eq!(s.tasks_lost, 50, "{m}: {s}");
    assert!(s.workers_lost >= 50, "{m}: {s}");
    // The last replacement starts just after its task was failed.
    assert!(
        common::eventually(10, || p.stats().workers_started >= 52),
        "{m}: {s}"
    );
    // The pool goes on, and ends cleanly.
    assert_eq!(p.apply(sleep_ms, 1), Ok(1));
    p.close();
    p.join().unwrap();
}

#[test]
fn a_worker_sigkilled_mid_task_50_times_fails_only_that_task() {
    common::each_method(|m| deaths(m, libc::SIGKILL, WorkerExit::Signal(9)));
}

#[test]
fn a_task_that_aborts_50_times_fails_only_itself() {
    common::each_method(|m| deaths(m, 0, WorkerExit::Signal(6)));
}

#[test]
fn a_task_that_segfaults_50_times_fails_only_itself() {
    common::each_method(|m| deaths(m, libc::SIGSEGV, WorkerExit::Signal(11)));
}

#[test]
fn a_task_that_calls_exit_fails_with_its_status() {
    common::each_method(|m| {
        let p = Pool::builder()
            .processes(1)
            .start_method(m)
            .build()
            .unwrap();
        match p.apply(die, 1) {
            Err(PoolError::WorkerLost { exit, .. }) => assert_eq!(exit, WorkerExit::Code(3), "{m}"),
            other => panic!("{m}: {other:?}"),
        }
        assert_eq!(p.apply(sleep_ms, 1), Ok(1), "{m}");
    });
}

#[test]
fn a_worker_killed_from_outside_fails_its_task_and_the_queue_goes_on() {
    common::each_method(|m| {
        let p = Pool::builder()
            .processes(1)
            .start_method(m)
            .build()
            .unwrap();
        for round in 0..5 {
            let victim = p.apply_async(sleep_ms, 60_000).unwrap();
            let queued: Vec<_> = (0..20)
                .map(|i| p.apply_async(sleep_ms, i).unwrap())
                .collect();
            assert!(common::eventually(30, || p.busy() == 1), "{m}");
            let pid = p.pids()[0];
            // SAFETY: signalling our own pool's worker.
            assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
            match victim.get() {
                Err(PoolError::WorkerLost { pid: lost, exit }) => {
                    assert_eq!(
                        (lost, exit),
                        (pid, WorkerExit::Signal(9)),
                        "{m} round {round}"
                    );
                }
                other => panic!("{m}: {other:?}"),
            }
            // What was queued behind it runs on the replacement, exactly as submitted.
            for (i, q) in queued.iter().enumerate() {
                assert_eq!(q.get(), Ok(i as u64), "{m} round {round}");
            }
            assert_ne!(p.pids(), vec![pid], "{m}: the worker was replaced");
        }
    });
}

#[test]
fn a_task_timing_out_20_times_in_a_row_never_hangs() {
    common::each_method(|m| {
        let p = Pool::builder()
            .processes(2)
            .start_method(m)
            .task_timeout(Duration::from_millis(50))
            .build()
            .unwrap();
        let mut pids = std::collections::HashSet::new();
        for i in 0..20 {
            pids.extend(p.pids());
            let t = Instant::now();
            assert_eq!(
                p.apply(sleep_ms, 60_000),
                Err(PoolError::TaskTimeout(Duration::from_millis(50))),
                "{m} #{i}"
            );
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{m}: {:?}",
                t.elapsed()
            );
        }
        // A task that fits in its (own, longer) limit is untouched.
        let ok = p
            .apply_async_with(
                sleep_ms,
                5,
                TaskOptions::new().timeout(Duration::from_secs(60)),
            )
            .unwrap();
        assert_eq!(ok.get(), Ok(5));
        let s = p.stats();
        assert_eq!(s.tasks_timed_out, 20, "{m}: {s}");
        assert_eq!(s.workers_lost, 0, "{m}: stopped workers are not lost: {s}");
        drop(p);
        for pid in pids {
            let gone = || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_err();
            assert!(common::eventually(10, gone), "{m}: worker {pid} not reaped");
        }
    });
}

#[test]
fn a_thread_pool_task_timing_out_20_times_abandons_and_replaces_its_thread() {
    common::watchdog(60, || {
        let p = ThreadPool::builder()
            .threads(2)
            .task_timeout(Duration::from_millis(20))
            .build()
            .unwrap();
        for i in 0..20 {
            assert_eq!(
                p.apply(sleep_ms, 300),
                Err(PoolError::TaskTimeout(Duration::from_millis(20))),
                "#{i}"
            );
        }
        assert_eq!(p.idle(), 2, "the pool keeps its size");
        let out = p
            .map_with(|x: u64| x + 1, 0..100, MapOptions::new().chunksize(10))
            .unwrap();
        assert_eq!(out.len(), 100);
        assert_eq!(p.stats().tasks_timed_out, 20);
    });
}

// ------------------------------------------------------------------ the parent killed

const HELPER_ENV: &str = "MULTIPROC_TEST_POOL_PARENT";

fn shm_entries() -> usize {
    std::fs::read_dir("/dev/shm").map_or(0, |d| d.count())
}

/// Runs only when re-executed by the test below: a busy pool of each start method, then
/// waits to be killed.
#[test]
#[ignore = "helper process for the parent-killed test"]
fn pool_parent_helper() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    let mut pools = Vec::new();
    for m in common::METHODS {
        let p = Pool::builder()
            .processes(2)
            .start_method(m)
            .build()
            .unwrap();
        let busy: Vec<_> = (0..10)
            .map(|_| p.apply_async(sleep_ms, 600_000).unwrap())
            .collect();
        while p.busy() < 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
        for pid in p.pids() {
            println!("WORKER {pid}");
        }
        pools.push((p, busy));
    }
    if let Some(fs) = multiproc::process::forkserver_pid() {
        println!("WORKER {fs}");
    }
    println!("READY");
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn killing_the_parent_of_a_busy_pool_leaves_no_worker_zombie_or_segment() {
    common::watchdog(120, || {
        let shm_before = shm_entries();
        let mut helper = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "pool_parent_helper",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HELPER_ENV, "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pids = Vec::new();
        for line in BufReader::new(helper.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some(at) = line.find("WORKER ") {
                pids.push(line[at + 7..].trim().parse::<u32>().unwrap());
            }
            if line.contains("READY") {
                break;
            }
        }
        assert_eq!(
            pids.len(),
            7,
            "two workers per start method and the forkserver: {pids:?}"
        );
        assert!(pids.iter().all(|&p| common::alive(p)));
        helper.kill().unwrap(); // SIGKILL
        helper.wait().unwrap();
        let t = Instant::now();
        assert!(
            common::eventually(20, || pids.iter().all(|&p| !common::alive(p))),
            "survivors: {:?}",
            pids.iter()
                .filter(|&&p| common::alive(p))
                .collect::<Vec<_>>()
        );
        let took = t.elapsed();
        println!("every worker gone {took:?} after the parent's SIGKILL");
        assert!(
            took < Duration::from_secs(5),
            "workers outlived the parent by {took:?}"
        );
        assert!(
            shm_entries() <= shm_before,
            "a segment was left in /dev/shm"
        );
    });
}
