//! Seed: "守护进程" — `p.daemon = True; p.start(); print("end")`: the program does not wait
//! for a daemon process; it is terminated when the parent exits. And a process may not
//! outlive a parent that is killed (unlike a raw `os.fork()` child).
//!
//! `cargo run --example daemon_process`

use multiproc::process::{Process, StartMethod};
use std::time::Duration;

fn runprocess(arg: u32) {
    println!("{arg}");
    std::thread::sleep(Duration::from_secs(2));
    println!("never printed: the daemon is terminated when main ends");
}

/// Starts the daemon process and returns it (the caller ends, and the daemon with it).
pub fn start(method: StartMethod) -> Process<()> {
    let mut p = Process::builder()
        .daemon(true)
        .start_method(method)
        .target(runprocess, 11);
    p.start().expect("start");
    p
}

fn main() {
    let _p = start(multiproc::process::get_start_method());
    println!("end");
}
