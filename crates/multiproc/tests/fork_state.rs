//! What a forked child inherits from its parent's multiproc state, and what it must not:
//! every lock held by another thread is taken over, every connection to a helper (the launcher
//! thread, the segment tracker, the forkserver) is the child's own. Modelled on CPython's
//! `test_threading.ThreadJoinOnShutdown` and `test_os.ForkTests` (fork while other threads
//! work, then use the library in the child). Alone in its binary, and its tests one at a time
//! (`alone`): the threads that keep the parent's locks busy would disturb other tests.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{eventually, watchdog};
use multiproc::process::{self, Fork, Process, StartMethod};
use multiproc::shared::{Shared, SharedMemory};
use multiproc::sync::Event;

/// Held by each test for its whole run: each forks while threads of its own keep the
/// library busy, and another test's threads busy at the same forks (a segment being made,
/// a handler being registered) would make a failure say nothing about the test it shows in.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// In a raw `fork()` child: gives the child at most `secs` (a hang then ends it with
/// SIGALRM, which the parent sees as exit code -14, instead of leaving an orphan).
fn child_deadline(secs: u32) {
    // SAFETY: `alarm` only arms a timer.
    unsafe { libc::alarm(secs) };
}

fn double(x: u32) -> u32 {
    x * 2
}

#[test]
fn a_raw_fork_child_can_start_fork_processes_after_its_parent_did() {
    let _alone = alone();
    watchdog(60, || {
        // The parent's launcher thread exists once a Fork start has run.
        let mut p = Process::builder()
            .start_method(StartMethod::Fork)
            .target(double, 1);
        p.start().unwrap();
        assert_eq!(p.join_timeout(Duration::from_secs(30)).unwrap(), 2);
        // SAFETY: the parent has only the test threads; the child uses multiproc and exits.
        match unsafe { process::fork() }.unwrap() {
            Fork::Child => {
                child_deadline(20);
                let mut p = Process::builder()
                    .start_method(StartMethod::Fork)
                    .target(double, 21);
                let ok =
                    p.start().is_ok() && p.join_timeout(Duration::from_secs(15)).ok() == Some(42);
                // SAFETY: ends the child without running the parent's destructors.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            Fork::Parent(pid) => {
                assert_eq!(
                    process::waitpid(pid).unwrap(),
                    0,
                    "the child's first Fork start failed or hung (-14: hung)"
                );
            }
        }
    });
}

fn shm_exists(name: &str) -> bool {
    std::path::Path::new("/dev/shm").join(name).exists()
}

#[test]
fn forking_while_another_thread_creates_named_segments_does_not_hang_the_child() {
    let _alone = alone();
    watchdog(120, || {
        let stop = Arc::new(AtomicBool::new(false));
        let busy = std::thread::spawn({
            let stop = stop.clone();
            move || {
                // Keeps the tracker's lock taken and released all the time.
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("mp_fork_state_{}_{i}", std::process::id());
                    let m = SharedMemory::create_named(&name, 4096).unwrap();
                    m.unlink().unwrap();
                    i += 1;
                }
            }
        });
        for i in 0..100 {
            let name = format!("mp_fork_state_child_{}_{i}", std::process::id());
            // SAFETY: the child creates and unlinks one segment, then exits.
            match unsafe { process::fork() }.unwrap() {
                Fork::Child => {
                    child_deadline(20);
                    let ok = SharedMemory::create_named(&name, 4096)
                        .and_then(|m| m.unlink())
                        .is_ok();
                    // SAFETY: ends the child without running the parent's destructors.
                    unsafe { libc::_exit(if ok { 0 } else { 1 }) }
                }
                Fork::Parent(pid) => {
                    assert_eq!(
                        process::waitpid(pid).unwrap(),
                        0,
                        "fork {i}: the child failed or hung creating a segment (-14: hung)"
                    );
                    assert!(!shm_exists(&name), "fork {i}: {name} left behind");
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        busy.join().unwrap();
    });
}

fn create_and_wait((name, created): (String, Shared<Event>)) {
    let m = SharedMemory::create_named(&name, 4096).unwrap();
    std::mem::forget(m);
    created.set();
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn a_segment_created_by_a_fork_child_is_unlinked_when_the_child_is_killed() {
    let _alone = alone();
    watchdog(60, || {
        // The parent has a tracker of its own already.
        let mine = SharedMemory::create_named(
            &format!("mp_fork_state_parent_{}", std::process::id()),
            4096,
        )
        .unwrap();
        let name = format!("mp_fork_state_killed_{}", std::process::id());
        let created = Shared::new(Event::new()).unwrap();
        let mut p = Process::builder()
            .start_method(StartMethod::Fork)
            .target(create_and_wait, (name.clone(), created.clone()));
        p.start().unwrap();
        // Killed only once `create_named` returned (a kill between its `shm_open` and the
        // tracker's registration leaves the name: a window of a few system calls).
        assert!(
            created.wait_timeout(Duration::from_secs(30)),
            "the child never created {name}"
        );
        assert!(shm_exists(&name));
        p.kill().unwrap();
        let _ = p.join_timeout(Duration::from_secs(30));
        assert!(
            eventually(10, || !shm_exists(&name)),
            "{name} outlived its creator (it was registered with the parent's tracker)"
        );
        assert!(
            shm_exists(mine.name()),
            "the parent's own segment must stay"
        );
        mine.unlink().unwrap();
    });
}

fn triple(x: u32) -> u32 {
    x * 3
}

/// A Fork pool worker checks each task's function against the executable's text, a table
/// filled once per process. A worker forked while another thread of its parent was filling
/// it inherited the table "being filled" and waited forever on its first task (found by the
/// pool suite: 1 run in 10 hung). Each attempt is a fresh raw-fork child whose table is
/// empty, racing a thread that fills it against a Fork pool's start.
#[test]
fn a_fork_worker_started_while_another_thread_fills_the_text_table_runs_its_tasks() {
    let _alone = alone();
    watchdog(240, || {
        let mut hung = 0;
        for _ in 0..40 {
            // SAFETY: the parent has only the test threads; the child uses multiproc and exits.
            match unsafe { process::fork() }.unwrap() {
                Fork::Child => {
                    child_deadline(5);
                    let filler = std::thread::spawn(|| {
                        // Serializing a Callable fills the table.
                        postcard::to_stdvec(&process::Callable::new(triple)).is_ok()
                    });
                    let ok = multiproc::pool::Pool::builder()
                        .processes(1)
                        .start_method(StartMethod::Fork)
                        .build()
                        .is_ok_and(|p| p.apply(triple, 5) == Ok(15));
                    let ok = ok && filler.join().unwrap_or(false);
                    // SAFETY: ends the child without running the parent's destructors.
                    unsafe { libc::_exit(if ok { 0 } else { 1 }) }
                }
                Fork::Parent(pid) => match process::waitpid(pid).unwrap() {
                    0 => {}
                    -14 => hung += 1,
                    other => panic!("the child failed with {other}"),
                },
            }
        }
        assert_eq!(hung, 0, "{hung} of 40 pools hung on their first task");
    });
}
