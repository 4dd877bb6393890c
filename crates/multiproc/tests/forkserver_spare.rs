//! The forkserver's spare child: one child forked ahead of the next request. A test binary of
//! its own, because it kills the server's children, which in a shared binary could be other
//! tests' processes.

mod common;

use common::watchdog;
use multiproc::process::{Process, StartMethod};

fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// The forkserver keeps one child forked ahead of the next request (its spare). Killed while
/// idle, it is reaped and replaced: the next starts work, each child reports its own pid, and
/// the server is left with no zombie.
#[test]
fn forkserver_spare_killed_while_idle_is_replaced() {
    watchdog(60, || {
        let start = || {
            let mut p = Process::builder()
                .start_method(StartMethod::Forkserver)
                .target(|_: ()| multiproc::process::current_process().pid, ());
            p.start().unwrap();
            let pid = p.pid().unwrap();
            assert_eq!(
                p.join().unwrap(),
                pid,
                "the child's pid is the one reported"
            );
            pid
        };
        start();
        let server = multiproc::process::forkserver_pid().unwrap();
        let mut spares = Vec::new();
        assert!(
            common::eventually(10, || {
                spares = children_of(server);
                !spares.is_empty()
            }),
            "the server keeps a spare"
        );
        for &s in &spares {
            // SAFETY: signalling a process by pid; it is the server's idle child (or the
            // child just joined, already exited).
            unsafe { libc::kill(s as i32, libc::SIGKILL) };
        }
        // The server notices the death (its pidfd) and reaps it before the next request
        // finds it; a request racing the kill would be handed to a dying spare.
        assert!(
            common::eventually(10, || !children_of(server)
                .iter()
                .any(|p| spares.contains(p))),
            "the killed spare was not reaped"
        );
        for _ in 0..3 {
            let pid = start();
            assert!(!spares.contains(&pid), "a killed spare ran a target");
        }
        let zombies = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        };
        assert!(
            common::eventually(10, || !children_of(server).into_iter().any(zombies)),
            "the server left a zombie: {:?}",
            children_of(server)
        );
    });
}
