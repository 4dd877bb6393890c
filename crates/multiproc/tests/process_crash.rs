//! Crash paths, tested from outside (as rayon's stack-overflow test does): this test binary is
//! re-executed as a parent process, which starts children with every start method; the test
//! kills that parent with SIGKILL and checks through /proc that no child survives.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use multiproc::process::{self, Process, StartMethod};

const HELPER_ENV: &str = "MULTIPROC_TEST_CRASH_HELPER";

fn sleeper(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

/// Runs only when re-executed by the test below: starts one sleeping child per start method
/// (from a short-lived thread, to check the children are tied to the process, not the
/// thread), prints the pids, and waits to be killed.
#[test]
#[ignore = "helper process for killing_the_parent_kills_every_child"]
fn crash_helper_parent() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    let children = std::thread::spawn(|| {
        let mut ps = Vec::new();
        for m in [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::Forkserver,
        ] {
            let mut p = Process::builder().start_method(m).target(sleeper, 600);
            p.start().unwrap();
            ps.push(p);
        }
        ps
    })
    .join()
    .unwrap();
    // The starting thread is gone; the children must still be alive.
    for p in &children {
        assert!(p.is_alive(), "a child died with the thread that started it");
        println!("CHILD {}", p.pid().unwrap());
    }
    println!("CHILD {}", process::forkserver_pid().unwrap());
    println!("READY");
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn killing_the_parent_kills_every_child() {
    common::watchdog(60, || {
        let mut helper = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_helper_parent",
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
            // libtest prints "test name ... " without a newline first, so search within lines.
            if let Some(at) = line.find("CHILD ") {
                pids.push(line[at + 6..].trim().parse::<u32>().unwrap());
            }
            if line.contains("READY") {
                break;
            }
        }
        assert_eq!(pids.len(), 4, "three children and the forkserver: {pids:?}");
        assert!(pids.iter().all(|&p| common::alive(p)));
        helper.kill().unwrap(); // SIGKILL
        helper.wait().unwrap();
        assert!(
            common::eventually(20, || pids.iter().all(|&p| !common::alive(p))),
            "survivors: {:?}",
            pids.iter()
                .filter(|&&p| common::alive(p))
                .collect::<Vec<_>>()
        );
    })
}

/// Every child is reaped: after killed, panicked and normal children are joined, none of them
/// is left as a zombie under this process, and `active_children()` is empty of them.
#[test]
fn no_zombies_after_join() {
    common::each_method(|m| {
        let mut pids = Vec::new();
        let mut a = Process::builder().start_method(m).target(sleeper, 600);
        a.start().unwrap();
        a.kill().unwrap();
        let _ = a.join();
        pids.push(a.pid().unwrap());
        let mut b = Process::builder()
            .start_method(m)
            .target(|()| -> () { panic!("boom") }, ());
        b.start().unwrap();
        let _ = b.join();
        pids.push(b.pid().unwrap());
        let mut c = Process::builder().start_method(m).target(|x: u32| x, 1);
        c.start().unwrap();
        c.join().unwrap();
        pids.push(c.pid().unwrap());
        for pid in &pids {
            assert!(!common::alive(*pid), "{m}: {pid} still exists");
            // Ours are reaped by `join`; a forkserver child by the server, just after.
            let gone = || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_err();
            assert!(common::eventually(10, gone), "{m}: {pid} left as a zombie");
        }
        let live: Vec<u32> = process::active_children().iter().map(|c| c.pid).collect();
        assert!(pids.iter().all(|p| !live.contains(p)));
    });
}
