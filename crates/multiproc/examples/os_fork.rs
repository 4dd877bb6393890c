//! Seed: "类UNIX系统 os.fork()" — `pid = os.fork()`; the branch where `pid == 0` is the child.
//! A raw fork's child is not tied to its parent (it may outlive it), unlike a `Process`.
//!
//! `cargo run --example os_fork`

use multiproc::process::{Fork, fork, waitpid};

/// Forks; the child exits with `child_code`. Returns what the parent saw: the child's pid and
/// exit code.
pub fn run(child_code: i32) -> (u32, i32) {
    // SAFETY: the child only prints and exits.
    match unsafe { fork() }.expect("fork") {
        Fork::Child => {
            println!("----子进程-----");
            std::process::exit(child_code)
        }
        Fork::Parent(pid) => {
            println!("---父进程--- (child {pid})");
            (pid, waitpid(pid).expect("waitpid"))
        }
    }
}

fn main() {
    run(0);
}
