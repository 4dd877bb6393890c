//! The remote objects when things die: a lock holder SIGKILLed (the next holder is told
//! `OwnerDied`) or SIGSTOPped past its lease (its fenced writes are refused after another
//! was granted the lock), 4 processes incrementing under one lock, and the Redis server
//! itself SIGSTOPped, or SIGKILLed and restarted, under a running pool.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use multiproc::process::Process;
use multiproc::remote::{self, Remote};
use multiproc::{GetError, PoolError, RemoteError};

fn signal(pid: u32, sig: i32) {
    // SAFETY: a signal to a process this test started and has not reaped (no pid reuse).
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

fn connect(s: &RedisServer, ns: &str, lease_ms: u64) -> Remote {
    Remote::builder(&s.url(), ns)
        .lease(Duration::from_millis(lease_ms))
        .connect()
        .unwrap()
}

/// Takes the lock, says so, then waits for `go` and tries a fenced write; reports the
/// outcome in the list `outcome`.
fn holder((url, ns, lease_ms): (String, String, u64)) {
    let r = Remote::builder(&url, &ns)
        .lease(Duration::from_millis(lease_ms))
        .connect()
        .unwrap();
    let lock = r.lock("l").unwrap();
    let value = r.value("v", 0u64).unwrap();
    let held = lock.hold().unwrap();
    r.event("held").unwrap().set().unwrap();
    r.event("go").unwrap().wait().unwrap();
    let outcome = match value.set_fenced(&held, 666) {
        Ok(()) => "written".to_string(),
        Err(RemoteError::Fenced(f)) => format!("fenced {f}"),
        Err(e) => format!("error {e}"),
    };
    r.list::<String>("outcome")
        .unwrap()
        .append(outcome)
        .unwrap();
    std::mem::forget(held);
}

/// A connection to namespace `ns`, and a child process that holds lock `l` there.
fn start_holder(s: &RedisServer, ns: &str, lease: u64) -> (Remote, Process<()>) {
    let r = connect(s, ns, lease);
    let mut p = Process::new(holder, (s.url(), ns.to_string(), lease));
    p.start().unwrap();
    assert!(
        r.event("held")
            .unwrap()
            .wait_timeout(Duration::from_secs(30))
            .unwrap()
    );
    (r, p)
}

#[test]
fn a_lock_whose_holder_is_killed_is_granted_after_its_lease_with_owner_died() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let lease = 500;
        let (r, mut p) = start_holder(&s, "killed-holder", lease);
        let lock = r.lock("l").unwrap();
        assert!(!lock.try_acquire().unwrap(), "held by the child");
        signal(p.pid().unwrap(), libc::SIGKILL);
        let _ = p.join();
        let t = Instant::now();
        assert!(matches!(
            lock.acquire_timeout(Duration::from_secs(20)),
            Err(RemoteError::OwnerDied)
        ));
        assert!(t.elapsed() < Duration::from_secs(10));
        assert_eq!(lock.fence(), Some(2));
        lock.release().unwrap();
        // A clean release does not count as a death.
        assert_eq!(lock.acquire_timeout(Duration::from_secs(5)), Ok(true));
        lock.release().unwrap();
    });
}

#[test]
fn a_holder_stopped_past_its_lease_loses_the_lock_and_its_fenced_write_is_refused() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let lease = 400;
        let (r, mut p) = start_holder(&s, "stalled-holder", lease);
        signal(p.pid().unwrap(), libc::SIGSTOP);
        let lock = r.lock("l").unwrap();
        let value = r.value("v", 0u64).unwrap();
        {
            let held = lock.hold().unwrap();
            assert!(held.previous_owner_died());
            assert!(held.fence() > 1);
            value.set_fenced(&held, 1).unwrap();
        }
        signal(p.pid().unwrap(), libc::SIGCONT);
        r.event("go").unwrap().set().unwrap();
        p.join_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(
            r.list::<String>("outcome").unwrap().to_vec().unwrap(),
            vec!["fenced 1"]
        );
        assert_eq!(value.get().unwrap(), 1, "the stale holder's write landed");
    });
}

fn increment((url, ns, n): (String, String, u64)) {
    let r = remote::connect(&url, &ns).unwrap();
    let lock = r.lock("counter").unwrap();
    let total = r.value("total", 0u64).unwrap();
    for _ in 0..n {
        let held = lock.hold().unwrap();
        let v = total.get().unwrap();
        total.set_fenced(&held, v + 1).unwrap();
    }
}

#[test]
fn four_processes_increment_under_one_lock_without_losing_an_update() {
    common::watchdog(300, || {
        let s = common::redis::start(false);
        let r = remote::connect(&s.url(), "counter").unwrap();
        let per = 5_000;
        let mut ps: Vec<_> = (0..4)
            .map(|_| Process::new(increment, (s.url(), "counter".to_string(), per)))
            .collect();
        for p in &mut ps {
            p.start().unwrap();
        }
        for p in &mut ps {
            p.join_timeout(Duration::from_secs(280)).unwrap();
        }
        assert_eq!(r.value("total", 0u64).unwrap().get().unwrap(), 4 * per);
    });
}

fn worker((url, ns, slots): (String, String, usize)) {
    let r = Remote::builder(&url, &ns)
        .op_timeout(Duration::from_secs(1))
        .lease(Duration::from_secs(2))
        .connect()
        .unwrap();
    let _ = remote::Worker::new(&r)
        .concurrency(slots)
        .stop_on_sigterm()
        .unwrap()
        .run();
}

fn noted((x, started): (u64, remote::List<u64>)) -> u64 {
    // Cut off by the test: retried until the server is back.
    while started.append(x).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(10));
    x * 3
}

/// Runs `n` tasks on 2 workers × 2 slots, calling `disturb` with the server once they are
/// under way; every result must come back, each once and right.
fn pool_through(
    s: &mut RedisServer,
    ns: &str,
    n: u64,
    disturb: impl FnOnce(&mut RedisServer),
) -> Vec<u64> {
    let r = Remote::builder(&s.url(), ns)
        .op_timeout(Duration::from_secs(1))
        .lease(Duration::from_secs(2))
        .connect()
        .unwrap();
    let started = r.list::<u64>("started").unwrap();
    let mut ws: Vec<_> = (0..2)
        .map(|_| {
            // Daemons: a failed test's workers die with it rather than hold up its exit.
            let mut p = Process::builder()
                .daemon(true)
                .target(worker, (s.url(), ns.to_string(), 2));
            p.start().unwrap();
            p
        })
        .collect();
    let pool = r.pool().unwrap();
    let results = pool
        .submit_many(noted, (0..n).map(|x| (x, started.clone())))
        .unwrap();
    assert!(common::eventually(60, || started.len().unwrap_or(0) >= 20));
    disturb(s);
    for (x, res) in results.iter().enumerate() {
        assert_eq!(
            res.get_timeout(Duration::from_secs(120)),
            Ok(x as u64 * 3),
            "task {x}"
        );
    }
    for p in &mut ws {
        p.terminate().unwrap();
        let _ = p.join_timeout(Duration::from_secs(30));
    }
    started.to_vec().unwrap()
}

#[test]
fn a_server_stopped_longer_than_the_lease_loses_and_duplicates_nothing() {
    common::watchdog(180, || {
        let mut s = common::redis::start(false);
        let n = 300;
        let started = pool_through(&mut s, "server-stop", n, |s| {
            common::redis::signal(s, libc::SIGSTOP);
            // The server is stopped past every lease (2 s) and call timeout (1 s).
            std::thread::sleep(Duration::from_secs(3));
            common::redis::signal(s, libc::SIGCONT);
        });
        let distinct: HashSet<u64> = started.iter().copied().collect();
        assert_eq!(distinct.len(), n as usize);
        assert_eq!(started.len(), n as usize, "a task ran twice");
    });
}

#[test]
fn a_server_killed_and_restarted_with_aof_loses_nothing_submitted() {
    common::watchdog(180, || {
        let mut s = common::redis::start(true);
        pool_through(&mut s, "server-kill", 300, |s| {
            // What was written a second ago is on disk (appendfsync everysec).
            std::thread::sleep(Duration::from_millis(1200));
            s.restart().unwrap();
        });
    });
}

#[test]
fn waiters_get_backend_lost_when_the_server_comes_back_empty() {
    common::watchdog(60, || {
        let mut s = common::redis::start(false);
        let r = connect(&s, "lost-waiters", 2000);
        let q = r.queue::<u32>("q", 0).unwrap();
        let pool = r.pool().unwrap();
        let pending = pool.apply_async(|x: u64| x, 1).unwrap();
        let q2 = q.clone();
        let waiter = std::thread::spawn(move || {
            let t = Instant::now();
            (q2.get_timeout(Duration::from_secs(20)), t.elapsed())
        });
        assert!(common::eventually(10, || r.check().is_ok()));
        s.restart().unwrap();
        let (got, took) = waiter.join().unwrap();
        assert!(
            matches!(got, Err(GetError::Unavailable(ref m)) if m.contains("lost")),
            "{got:?}"
        );
        assert!(took < Duration::from_secs(20));
        assert!(
            matches!(pending.get_timeout(Duration::from_secs(20)), Err(PoolError::Broken(ref m)) if m.contains("lost"))
        );
    });
}
