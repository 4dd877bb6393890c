//! Only a definite answer counts as death: a robust lock is taken from its holder only when
//! the holder's process is gone, a zombie, or its pid now names another process. A waiter
//! that cannot look (no fd to open `/proc` with) waits; a pid that came round again to a new
//! process does not keep a dead owner's lock; `try_acquire` and short timeouts recover a dead
//! owner's lock as the blocking form does. Really killing holders, as `owner_died.rs` does.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, watchdog};
use multiproc::OwnerDied;
use multiproc::process::{self, Fork, Process, StartMethod};
use multiproc::shared::Shared;
use multiproc::sync::{Lock, RLock};

/// Fills this process's fd table (after lowering its limit to `limit`); returns the fds.
fn exhaust_fds(limit: u64) -> Vec<std::fs::File> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = limit.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    let mut fds = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        fds.push(f);
    }
    assert_eq!(
        std::fs::File::open("/dev/null").unwrap_err().raw_os_error(),
        Some(libc::EMFILE)
    );
    fds
}

/// In a child with a full fd table: neither a timed acquire past the poll interval nor a
/// try may take the lock a live process holds.
fn waiter_out_of_fds(lock: Shared<Lock>) -> String {
    let fds = exhaust_fds(256);
    let timed = lock.acquire_timeout_checked(Duration::from_millis(350));
    let tried = lock.try_acquire_checked();
    let verdict = match (&timed, &tried) {
        (None, None) => "waited".to_owned(),
        (t, r) => format!(
            "took a live holder's lock: timed {:?}, try {:?}",
            t.as_ref().map(|r| r.is_err()),
            r.as_ref().map(|r| r.is_err())
        ),
    };
    drop(timed);
    drop(tried);
    drop(fds);
    verdict
}

#[test]
fn a_waiter_that_cannot_open_proc_does_not_take_a_live_holders_lock() {
    watchdog(60, || {
        let lock = Shared::new(Lock::new()).unwrap();
        let g = lock.acquire();
        for _ in 0..5 {
            let mut p = Process::builder()
                .start_method(StartMethod::Fork)
                .target(waiter_out_of_fds, lock.clone());
            p.start().unwrap();
            assert_eq!(p.join_timeout(Duration::from_secs(30)).unwrap(), "waited");
        }
        assert!(lock.locked());
        drop(g);
        assert!(!lock.locked());
    });
}

fn hold_and_leave(lock: Shared<Lock>) {
    lock.acquire().leak();
}

/// Field 22 of `/proc/<pid>/stat`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

fn hold_and_tell_start(lock: Shared<Lock>) -> u64 {
    lock.acquire().leak();
    start_time(std::process::id()).unwrap()
}

fn hold_rlock_and_leave(lock: Shared<RLock>) {
    std::mem::forget(lock.acquire());
}

/// Runs `body(arg)` in a forked child to its end (the child takes a lock and exits holding
/// it); what it returned.
fn in_child<A, R>(body: fn(A) -> R, arg: A) -> R
where
    A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    let mut p = Process::builder()
        .start_method(StartMethod::Fork)
        .target(body, arg);
    p.start().unwrap();
    p.join_timeout(Duration::from_secs(30)).unwrap()
}

#[test]
fn try_acquire_recovers_a_dead_owners_lock() {
    watchdog(60, || {
        let lock = Shared::new(Lock::new()).unwrap();
        in_child(hold_and_leave, lock.clone());
        assert!(lock.locked(), "the child left it held");
        match lock.try_acquire_checked() {
            Some(Err(OwnerDied(g))) => drop(g),
            Some(Ok(_)) => panic!("taken over silently"),
            None => panic!("try_acquire never recovers a dead owner's lock"),
        }
        assert!(!lock.locked());
        // The plain form takes it over too (silently, as `acquire` does).
        in_child(hold_and_leave, lock.clone());
        assert!(lock.try_acquire().is_some());
        assert!(!lock.locked());
    });
}

#[test]
fn a_short_timeout_recovers_a_dead_owners_lock() {
    watchdog(60, || {
        let lock = Shared::new(Lock::new()).unwrap();
        in_child(hold_and_leave, lock.clone());
        let t0 = Instant::now();
        match lock.acquire_timeout_checked(Duration::from_millis(10)) {
            Some(Err(OwnerDied(g))) => drop(g),
            Some(Ok(_)) => panic!("taken over silently"),
            None => panic!("a 10 ms timeout gave up before looking at the owner"),
        }
        assert!(t0.elapsed() < Duration::from_secs(5));

        let rlock = Shared::new(RLock::new()).unwrap();
        in_child(hold_rlock_and_leave, rlock.clone());
        match rlock.try_acquire_checked() {
            Some(Err(OwnerDied(g))) => {
                assert_eq!(rlock.recursion_count(), 1);
                drop(g);
            }
            _ => panic!("RLock::try_acquire_checked did not recover"),
        }
        assert!(
            rlock.try_acquire().is_some(),
            "released when the recovered guard dropped"
        );
    });
}

/// Makes the next process forked on this machine get `pid`, if this process may (root can
/// write `ns_last_pid`); else cycles through pids by forking when `pid_max` is small. Returns
/// the pid of a live process (stopped in `pause`) holding that number, or `None` when neither
/// way is available here.
fn reuse_pid(pid: u32, not_started_at: u64, deadline: Instant) -> Option<u32> {
    let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let can_set = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/sys/kernel/ns_last_pid")
        .is_ok();
    if !can_set && max > 65_536 {
        return None;
    }
    while Instant::now() < deadline {
        if can_set {
            let _ = std::fs::write("/proc/sys/kernel/ns_last_pid", format!("{}", pid - 1));
        }
        // SAFETY: the child only pauses (or exits at once), both async-signal-safe.
        match unsafe { process::fork() }.unwrap() {
            Fork::Child => {
                // SAFETY: plain libc calls; the child never returns into the test.
                unsafe {
                    if libc::getpid() as u32 == pid {
                        libc::alarm(60);
                        loop {
                            libc::pause();
                        }
                    }
                    libc::_exit(0)
                }
            }
            Fork::Parent(got) if got == pid => {
                // Start times count clock ticks: a process that gets the pid within the tick
                // its previous holder started in cannot be told apart (a reuse that fast
                // needs this test's `ns_last_pid`). Try again in a later tick.
                if start_time(got) != Some(not_started_at) {
                    return Some(got);
                }
                // SAFETY: signalling our own child.
                unsafe { libc::kill(got as i32, libc::SIGKILL) };
                process::waitpid(got).unwrap();
            }
            Fork::Parent(other) => {
                process::waitpid(other).unwrap();
            }
        }
    }
    None
}

#[test]
fn a_dead_owners_pid_reused_by_another_process_does_not_wedge_the_lock() {
    watchdog(120, || {
        let lock = Shared::new(Lock::new()).unwrap();
        let mut p = Process::builder()
            .start_method(StartMethod::Fork)
            .target(hold_and_tell_start, lock.clone());
        p.start().unwrap();
        let dead = p.pid().unwrap(); // needed before join: not `in_child`
        let started = p.join_timeout(Duration::from_secs(30)).unwrap();
        let Some(stranger) = reuse_pid(dead, started, Instant::now() + Duration::from_secs(60))
        else {
            eprintln!("skipped: cannot make pid {dead} come round on this machine");
            return;
        };
        assert!(eventually(10, || std::fs::metadata(format!(
            "/proc/{dead}"
        ))
        .is_ok()));
        let got = lock.acquire_timeout_checked(Duration::from_secs(3));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(stranger as i32, libc::SIGKILL) };
        process::waitpid(stranger).unwrap();
        match got {
            Some(Err(OwnerDied(g))) => drop(g),
            Some(Ok(_)) => panic!("taken over silently"),
            None => panic!("pid {dead} came round to another process and wedged the lock"),
        }
    });
}

fn consume_one((q, fd_starved): (multiproc::process::Queue<u64>, bool)) -> Option<u64> {
    let fds = if fd_starved {
        exhaust_fds(256)
    } else {
        Vec::new()
    };
    let got = q.get_timeout(Duration::from_secs(3)).ok();
    drop(fds);
    got
}

#[test]
fn a_consumer_that_cannot_open_proc_does_not_take_over_a_live_consumers_side() {
    watchdog(90, || {
        let q = multiproc::process::Queue::<u64>::new(0).unwrap();
        // A live consumer waits (holding its side), and an fd-starved one waits beside it.
        let mut a = Process::builder()
            .start_method(StartMethod::Fork)
            .target(consume_one, (q.clone(), false));
        a.start().unwrap();
        let mut b = Process::builder()
            .start_method(StartMethod::Fork)
            .target(consume_one, (q.clone(), true));
        b.start().unwrap();
        // Long enough for the starved one to probe the live one's side several times; not
        // a synchronisation (either order of arrival must give one item to one consumer).
        std::thread::sleep(Duration::from_millis(500));
        q.put(7).unwrap();
        let got_a = a.join_timeout(Duration::from_secs(30)).unwrap();
        let got_b = b.join_timeout(Duration::from_secs(30)).unwrap();
        let got: Vec<u64> = got_a.into_iter().chain(got_b).collect();
        assert_eq!(got, vec![7], "one item put, consumers got {got:?}");
    });
}
