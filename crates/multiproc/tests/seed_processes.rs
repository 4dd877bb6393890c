//! Every process example from the seed tutorials, run with each start method and checked
//! against what the seed says it shows.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{METHODS, watchdog};
use multiproc::process::StartMethod;

macro_rules! example {
    ($name:ident, $path:literal) => {
        #[allow(dead_code)]
        #[path = $path]
        mod $name;
    };
}

example!(process_start_join, "../examples/process_start_join.rs");
example!(ten_processes, "../examples/ten_processes.rs");
example!(process_pids, "../examples/process_pids.rs");
example!(thread_in_process, "../examples/thread_in_process.rs");
example!(terminate, "../examples/terminate.rs");
example!(os_fork, "../examples/os_fork.rs");
example!(lock_ten_processes, "../examples/lock_ten_processes.rs");
example!(daemon_process, "../examples/daemon_process.rs");
example!(cpu_bound, "../examples/cpu_bound.rs");
example!(pipe, "../examples/pipe.rs");
example!(pipe_eof, "../examples/pipe_eof.rs");

#[test]
fn process_start_join_runs_the_target() {
    for m in METHODS {
        let (lines, code) = watchdog(30, move || {
            process_start_join::run(m, Duration::from_millis(10))
        });
        assert_eq!(lines, ["进程名称：my process", "进程完成"]);
        assert_eq!(code, Some(0));
    }
}

#[test]
fn ten_processes_each_with_its_own_pid() {
    for m in METHODS {
        let out = watchdog(60, move || ten_processes::run(m, Duration::from_millis(50)));
        let mut lines: Vec<_> = out.iter().map(|(l, _)| l.clone()).collect();
        lines.sort();
        assert_eq!(
            lines,
            (0..10)
                .map(|n| format!("hello bob {n}"))
                .collect::<Vec<_>>()
        );
        let mut pids: Vec<_> = out.iter().map(|(_, p)| *p).collect();
        pids.sort();
        pids.dedup();
        assert_eq!(pids.len(), 10);
        assert!(!pids.contains(&std::process::id()));
    }
}

#[test]
fn child_ppid_is_parent_pid() {
    for m in [StartMethod::Fork, StartMethod::Spawn] {
        let (parent, child) = watchdog(30, move || process_pids::run(m));
        assert_eq!(parent.pid, std::process::id());
        assert_eq!(child.ppid, parent.pid, "{m}");
        assert_ne!(child.pid, parent.pid);
        assert_eq!(parent.name, "MainProcess");
        assert!(child.name.starts_with("Process-"));
    }
}

#[test]
fn a_thread_started_inside_a_process() {
    for m in METHODS {
        let (a, b, pid, thread_pid) = watchdog(30, move || thread_in_process::run(m));
        assert_eq!(a, "hello World");
        assert_eq!(b, "Thread World");
        assert_eq!(pid, thread_pid, "the thread runs inside the child process");
        assert_ne!(pid, std::process::id());
    }
}

#[test]
fn join_timeout_then_terminate() {
    for m in METHODS {
        let (alive, code) = watchdog(30, move || terminate::run(m, Duration::from_millis(100)));
        assert!(alive, "join(timeout) returned but the child kept running");
        assert_eq!(code, Some(-15));
    }
}

const FORK_ENV: &str = "MULTIPROC_TEST_OS_FORK_HELPER";

/// Re-executed by the test below. A raw `fork()` copies only the calling thread: in the test
/// harness, with other test threads printing, the child could inherit Rust's stdout lock held
/// forever. In this helper process nothing else is running when it forks.
#[test]
#[ignore = "helper process for os_fork_pid_zero_branch_is_the_child"]
fn os_fork_helper() {
    if std::env::var_os(FORK_ENV).is_none() {
        return;
    }
    let (pid, code) = os_fork::run(7);
    println!("FORKED {pid} {code}");
}

#[test]
fn os_fork_pid_zero_branch_is_the_child() {
    watchdog(30, || {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "os_fork_helper",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(FORK_ENV, "1")
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.find("FORKED ").map(|at| l[at + 7..].to_owned()))
            .expect("helper ran");
        let mut parts = line.split_whitespace();
        let pid: u32 = parts.next().unwrap().parse().unwrap();
        let code: i32 = parts.next().unwrap().parse().unwrap();
        assert_ne!(pid, std::process::id());
        assert_eq!(
            code, 7,
            "the child took the pid == 0 branch and exited with its code"
        );
        assert!(
            text.contains("----子进程-----"),
            "the child printed in its branch"
        );
    })
}

#[test]
fn ten_processes_print_under_one_lock() {
    for m in METHODS {
        let out = watchdog(60, move || lock_ten_processes::run(m));
        assert!(
            out.iter().all(|&(inside, _)| inside == 1),
            "{m}: two processes inside at once: {out:?}"
        );
        let mut turns: Vec<u32> = out.iter().map(|&(_, t)| t).collect();
        turns.sort();
        assert_eq!(turns, (0..10).collect::<Vec<_>>());
    }
}

#[test]
fn cpu_bound_work_splits_over_processes_and_threads() {
    watchdog(60, || {
        let n = 2_000_000;
        let (serial, _) = cpu_bound::serial(n);
        assert_eq!(cpu_bound::threads(n, 4).0, serial);
        for m in METHODS {
            assert_eq!(cpu_bound::processes(n, 4, m).0, serial);
        }
    })
}

const DAEMON_ENV: &str = "MULTIPROC_TEST_DAEMON_HELPER";

/// Re-executed by the test below: starts the daemon process, prints its pid, and returns, so
/// the program exits normally.
#[test]
#[ignore = "helper process for a_daemon_process_ends_with_the_program"]
fn daemon_helper() {
    let Ok(method) = std::env::var(DAEMON_ENV) else {
        return;
    };
    let p = daemon_process::start(method.parse().unwrap());
    println!("DAEMON {}", p.pid().unwrap());
    println!("end");
}

#[test]
fn a_daemon_process_ends_with_the_program() {
    for m in METHODS {
        watchdog(60, move || {
            let out = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "daemon_helper",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(DAEMON_ENV, m.name())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut pid = None;
            let mut out = out;
            for line in BufReader::new(out.stdout.take().unwrap()).lines() {
                let line = line.unwrap();
                if let Some(at) = line.find("DAEMON ") {
                    pid = Some(line[at + 7..].trim().parse::<u32>().unwrap());
                }
            }
            let status = out.wait().unwrap();
            assert!(status.success());
            let pid = pid.expect("the helper printed the daemon's pid");
            let gone = || {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| {
                        s.rsplit(')')
                            .next()
                            .and_then(|r| r.split_whitespace().next())
                            == Some("Z")
                    })
                    .unwrap_or(true)
            };
            assert!(gone(), "{m}: the daemon process outlived the program");
        });
    }
}

#[test]
fn pipe_child_sends_a_list() {
    for m in METHODS {
        let got = watchdog(30, move || pipe::run(m));
        assert_eq!(got, ("Hello".to_string(), None, "World".to_string()));
    }
}

#[test]
fn close_the_unused_end_or_recv_never_sees_eof() {
    for m in METHODS {
        let (got, eof_while_held, eof_after_close) = watchdog(30, move || pipe_eof::run(m));
        assert_eq!(got, [0, 1, 2]);
        assert!(
            !eof_while_held,
            "{m}: EOF while the parent held the child's end"
        );
        assert!(eof_after_close, "{m}: no EOF after closing it");
    }
}

example!(queue_list, "../examples/queue_list.rs");
example!(queue_three, "../examples/queue_three.rs");
example!(
    queue_producers_consumers,
    "../examples/queue_producers_consumers.rs"
);

#[test]
fn queue_child_puts_a_list() {
    for m in METHODS {
        let got = watchdog(30, move || queue_list::run(m));
        assert_eq!(got, ("Hello".to_string(), None, "World".to_string()));
    }
}

#[test]
fn queue_three_as_the_seed_prints() {
    let lines = watchdog(30, queue_three::run);
    assert_eq!(
        lines,
        [
            "q.qsize() -> 0",
            "q.qsize() -> 1",
            "q.get() -> num1",
            "q.get_nowait() -> Empty (would block)",
            "q.full() -> true",
            "q.put_nowait(\"d\") -> Full",
            "q.empty() -> true",
        ]
    );
}

#[test]
fn queue_shared_by_producers_and_consumers_delivers_each_item_once() {
    for m in METHODS {
        let got = watchdog(60, move || queue_producers_consumers::run(m, 3, 2, 2_000));
        let n: u64 = got.iter().map(|(n, _)| n).sum();
        let sum: u64 = got.iter().map(|(_, s)| s).sum();
        assert_eq!(n, 3 * 2_000);
        assert_eq!(sum, 3 * (0..2_000u64).sum::<u64>());
    }
}
