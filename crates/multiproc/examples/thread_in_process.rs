//! Seed: "在进程内启动一个线程" — a process prints `hello World`, then starts a thread in itself
//! that prints `Thread World`.
//!
//! `cargo run --example thread_in_process`

use multiproc::process::{Process, StartMethod};

fn proces(s: String) -> (String, String, u32, u32) {
    let first = format!("hello {s}");
    println!("{first}");
    let pid = std::process::id();
    let t = multiproc::thread::spawn(move || {
        let line = format!("Thread {s}");
        println!("{line}");
        (line, std::process::id())
    });
    let (second, thread_pid) = t.join().expect("thread");
    (first, second, pid, thread_pid)
}

/// Runs the seed; returns both lines and the pid seen by the process and by its thread.
pub fn run(method: StartMethod) -> (String, String, u32, u32) {
    let mut p = Process::builder()
        .start_method(method)
        .target(proces, "World".to_string());
    p.start().expect("start");
    p.join().expect("join")
}

fn main() {
    run(multiproc::process::get_start_method());
}
