//! `multiproc::process` semantics, after CPython's `_test_multiprocessing` (`_TestProcess`):
//! one body per behaviour, run over the three start methods.

mod common;

use std::time::{Duration, Instant};

use common::{each_method, watchdog};
use multiproc::ProcessError;
use multiproc::process::{self, Process, StartMethod};
use serde::{Deserialize, Serialize};

fn builder(m: StartMethod) -> process::Builder {
    Process::builder().start_method(m)
}

fn proc_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn add((a, b): (u64, u64)) -> u64 {
    a + b
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u32,
    name: String,
    tags: Vec<String>,
    score: Option<f64>,
}

#[test]
fn returns_value_and_exit_code_zero() {
    each_method(|m| {
        let mut p = builder(m).target(add, (40, 2));
        assert_eq!(p.exitcode(), None);
        assert_eq!(p.pid(), None);
        p.start().unwrap();
        assert!(p.pid().is_some());
        assert_eq!(p.join().unwrap(), 42, "{m}");
        assert_eq!(p.exitcode(), Some(0));
        assert!(!p.is_alive());
        assert!(
            !proc_exists(p.pid().unwrap()) || m == StartMethod::Forkserver,
            "child not reaped"
        );
    });
}

#[test]
fn args_and_results_of_several_types() {
    each_method(|m| {
        let rec = Record {
            id: 7,
            name: "进程".into(),
            tags: vec!["a".into(), "b".into()],
            score: Some(0.5),
        };
        let mut p = builder(m).target(
            |mut r: Record| {
                r.id += 1;
                r.tags.push("child".into());
                r
            },
            rec.clone(),
        );
        p.start().unwrap();
        let back = p.join().unwrap();
        assert_eq!(back.id, 8);
        assert_eq!(back.tags, ["a", "b", "child"]);
        assert_eq!(back.name, rec.name);

        let mut p = builder(m).target(|n: usize| vec![7u8; n], 1 << 20);
        p.start().unwrap();
        let big = p.join().unwrap();
        assert_eq!(big.len(), 1 << 20, "a 1 MiB result comes back whole");

        let mut p = builder(m).target(|()| (), ());
        p.start().unwrap();
        p.join().unwrap();
    });
}

#[test]
fn panic_is_a_typed_error_with_location_and_exit_code_one() {
    each_method(|m| {
        let mut p = builder(m).target(
            |x: u32| -> u32 {
                if x > 0 {
                    panic!("child failed with {x}");
                }
                x
            },
            5,
        );
        p.start().unwrap();
        match p.join() {
            Err(ProcessError::Panicked(panic)) => {
                assert_eq!(panic.message, "child failed with 5");
                let loc = panic.location.expect("location");
                assert!(
                    loc.starts_with("crates/multiproc/tests/process.rs:"),
                    "{loc}"
                );
            }
            other => panic!("{m}: expected a panic, got {other:?}"),
        }
        assert_eq!(p.exitcode(), Some(1));
    });
}

#[test]
fn exit_status_of_a_target_that_exits() {
    each_method(|m| {
        let mut p = builder(m).target(|code: i32| -> u32 { std::process::exit(code) }, 3);
        p.start().unwrap();
        assert!(matches!(p.join(), Err(ProcessError::Exited(3))), "{m}");
        assert_eq!(p.exitcode(), Some(3));
        // exit(0) from a target returning () is a normal end (Python's sys.exit()).
        let mut p = builder(m).target(|()| -> () { std::process::exit(0) }, ());
        p.start().unwrap();
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(0));
    });
}

fn sleeper(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

#[test]
fn terminate_and_kill_give_negative_signal_codes() {
    each_method(|m| {
        let mut p = builder(m).target(sleeper, 60);
        p.start().unwrap();
        assert!(p.is_alive());
        p.terminate().unwrap();
        let r = p.join();
        assert!(matches!(r, Err(ProcessError::Killed(15))), "{m}: {r:?}");
        assert_eq!(p.exitcode(), Some(-15));

        let mut p = builder(m).target(sleeper, 60);
        p.start().unwrap();
        p.kill().unwrap();
        assert!(matches!(p.join(), Err(ProcessError::Killed(9))));
        assert_eq!(p.exitcode(), Some(-9));
        // Signalling an ended process is not an error (Python ignores ProcessLookupError).
        p.terminate().unwrap();
    });
}

#[test]
fn join_timeout_waits_at_least_then_leaves_it_running() {
    each_method(|m| {
        let mut p = builder(m).target(sleeper, 60);
        p.start().unwrap();
        let t0 = Instant::now();
        assert!(matches!(
            p.join_timeout(Duration::from_millis(100)),
            Err(ProcessError::Timeout)
        ));
        assert!(t0.elapsed() >= Duration::from_millis(100));
        assert!(p.is_alive());
        assert_eq!(p.exitcode(), None);
        p.kill().unwrap();
        assert!(matches!(
            p.join_timeout(Duration::from_secs(10)),
            Err(ProcessError::Killed(9))
        ));
        assert!(!p.is_alive());
    });
}

#[test]
fn pid_ppid_and_process_identity() {
    each_method(|m| {
        let mut p = builder(m).name("identity").target(
            |()| {
                let me = process::current_process();
                let parent = process::parent_process().map(|p| p.pid);
                (
                    std::process::id(),
                    rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32),
                    me.name,
                    parent,
                )
            },
            (),
        );
        p.start().unwrap();
        let child_pid = p.pid().unwrap();
        let (pid, ppid, name, parent) = p.join().unwrap();
        assert_eq!(pid, child_pid);
        assert_eq!(name, "identity");
        assert_eq!(
            parent,
            Some(std::process::id()),
            "parent_process() is the starting process"
        );
        if m == StartMethod::Forkserver {
            assert_eq!(
                ppid,
                process::forkserver_pid(),
                "a forkserver child's OS parent is the server"
            );
        } else {
            assert_eq!(ppid, Some(std::process::id()));
        }
        assert_eq!(process::current_process().name, "MainProcess");
        assert!(process::parent_process().is_none());
    });
}

#[test]
fn thread_inside_a_child_process() {
    each_method(|m| {
        let mut p = builder(m).target(
            |s: String| {
                let t = multiproc::thread::spawn(move || format!("Thread {s}"));
                (t.join().unwrap(), multiproc::thread::active_count())
            },
            "World".to_string(),
        );
        p.start().unwrap();
        let (msg, _count) = p.join().unwrap();
        assert_eq!(msg, "Thread World");
    });
}

#[test]
fn misuse_errors() {
    each_method(|m| {
        let mut p = builder(m).target(add, (1, 1));
        assert!(matches!(p.join(), Err(ProcessError::NotStarted)));
        assert!(matches!(p.terminate(), Err(ProcessError::NotStarted)));
        assert!(p.sentinel().is_err());
        p.start().unwrap();
        assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)));
        assert_eq!(p.join().unwrap(), 2);
        assert!(matches!(p.join(), Err(ProcessError::AlreadyJoined)));
        p.close().unwrap();
        p.close().unwrap();
        assert!(matches!(p.join(), Err(ProcessError::Closed)));

        let mut p = builder(m).target(sleeper, 60);
        p.start().unwrap();
        assert!(matches!(p.close(), Err(ProcessError::StillRunning)));
        p.kill().unwrap();
        let _ = p.join();
        p.close().unwrap();
    });
}

/// A value whose decoding fails in the child: the parent gets a typed error, promptly.
#[derive(Debug, Serialize)]
struct Picky(u32);

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        if v == 13 {
            Err(serde::de::Error::custom("13 is refused"))
        } else {
            Ok(Picky(v))
        }
    }
}

#[test]
fn args_that_fail_to_decode_in_the_child_are_a_typed_error() {
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        watchdog(30, move || {
            let mut p = builder(m).target(|p: Picky| p.0, Picky(13));
            p.start().unwrap();
            match p.join_timeout(Duration::from_secs(20)) {
                Err(ProcessError::BadArgs(msg)) => {
                    assert!(msg.contains("Picky"), "{msg}")
                }
                other => panic!("{m}: {other:?}"),
            }
            assert_eq!(p.exitcode(), Some(1));
        });
    }
}

#[test]
fn capturing_closures_need_fork() {
    watchdog(30, || {
        let captured: Vec<i32> = (1..=3).collect(); // heap data the child sees by fork
        let mut p = Process::builder().fork_target(move || captured.iter().sum::<i32>());
        assert_eq!(p.start_method(), StartMethod::Fork);
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 6);
        let s = String::from("x");
        let mut p = Process::builder()
            .start_method(StartMethod::Spawn)
            .fork_target(move || s.len());
        assert!(matches!(
            p.start(),
            Err(ProcessError::NeedsFork(StartMethod::Spawn))
        ));
    })
}

#[test]
fn daemon_processes_cannot_have_children() {
    each_method(|m| {
        let mut p = builder(m).daemon(true).target(
            |()| {
                let mut inner = Process::builder()
                    .start_method(StartMethod::Fork)
                    .target(add, (1, 2));
                inner.start().map_err(|e| e.to_string())
            },
            (),
        );
        p.start().unwrap();
        assert_eq!(
            p.join().unwrap(),
            Err("daemonic processes are not allowed to have children".to_string())
        );
    });
}

#[test]
fn active_children_reaps() {
    each_method(|m| {
        let mut p = builder(m).target(sleeper, 60);
        p.start().unwrap();
        let pid = p.pid().unwrap();
        assert!(process::active_children().iter().any(|c| c.pid == pid));
        p.kill().unwrap();
        let _ = p.join();
        assert!(!process::active_children().iter().any(|c| c.pid == pid));
    });
}

#[test]
fn sentinel_becomes_readable_at_exit() {
    each_method(|m| {
        let mut p = builder(m).target(sleeper, 60);
        p.start().unwrap();
        let fd = p.sentinel().unwrap();
        let mut pfd = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        assert_eq!(
            rustix::event::poll(&mut pfd, Some(&zero)).unwrap(),
            0,
            "readable while running"
        );
        p.kill().unwrap();
        let ten = rustix::time::Timespec {
            tv_sec: 10,
            tv_nsec: 0,
        };
        let mut pfd = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        assert_eq!(rustix::event::poll(&mut pfd, Some(&ten)).unwrap(), 1);
        let _ = p.join();
    });
}

#[test]
fn contexts_and_start_methods() {
    assert_eq!(
        process::get_all_start_methods().map(|m| m.name()),
        ["fork", "spawn", "forkserver"]
    );
    assert_eq!("spawn".parse::<StartMethod>().unwrap(), StartMethod::Spawn);
    let e = "bogus".parse::<StartMethod>().unwrap_err();
    assert_eq!(e.to_string(), "cannot find context for 'bogus'");
    let ctx = process::get_context(Some(StartMethod::Fork));
    assert_eq!(ctx.get_start_method(), StartMethod::Fork);
    let mut p = ctx.process().target(add, (2, 3));
    watchdog(30, move || {
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 5);
    });
    assert!(process::cpu_count() >= 1);
}

#[test]
fn ten_processes_in_parallel() {
    each_method(|m| {
        let mut ps: Vec<_> = (0..10u64)
            .map(|i| builder(m).target(add, (i, 100)))
            .collect();
        for p in &mut ps {
            p.start().unwrap();
        }
        let mut got: Vec<u64> = ps.iter_mut().map(|p| p.join().unwrap()).collect();
        got.sort();
        assert_eq!(got, (100..110).collect::<Vec<_>>());
    });
}

/// Regression: a raw `fork()` child that exits through `std::process::exit` runs the exit
/// handlers it copied; they used to walk the parent's children and read their results, so
/// the parent's `join` saw no value (`Exited(0)`).
#[test]
fn raw_fork_child_exit_does_not_steal_results() {
    each_method(|m| {
        let mut p = builder(m).target(
            |x: u64| {
                std::thread::sleep(Duration::from_millis(200));
                x * 2
            },
            21,
        );
        p.start().unwrap();
        // SAFETY: the child only calls `exit`. Not `std::process::exit`: that flushes Rust's
        // stdout, whose lock another test thread may have held at the fork and never releases
        // in the child. libc's `exit` still runs the atexit handlers this test is about.
        match unsafe { process::fork() }.unwrap() {
            // SAFETY: `exit` in the child of a fork; see above for why not std's.
            process::Fork::Child => unsafe { libc::exit(0) },
            process::Fork::Parent(pid) => assert_eq!(process::waitpid(pid).unwrap(), 0),
        }
        assert_eq!(p.join().unwrap(), 42, "{m}");
    });
}
