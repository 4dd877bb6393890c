//! Seed: "进程的实现" / "启动一个进程" — `Process(target=run, args=('my process',))`, `start()`,
//! `join()`: the child prints its name, works, prints "进程完成".
//!
//! `cargo run --example process_start_join`

use multiproc::process::{Process, StartMethod};
use std::time::Duration;

/// The seed's `run(name)`: what it prints, returned so callers can check it.
fn run_target((name, work_ms): (String, u64)) -> Vec<String> {
    let mut out = vec![format!("进程名称：{name}")];
    println!("{}", out[0]);
    std::thread::sleep(Duration::from_millis(work_ms));
    out.push("进程完成".into());
    println!("{}", out[1]);
    out
}

/// Starts and joins one process; returns its lines and exit code.
pub fn run(method: StartMethod, work: Duration) -> (Vec<String>, Option<i32>) {
    let mut p = Process::builder().start_method(method).target(
        run_target,
        ("my process".to_string(), work.as_millis() as u64),
    );
    p.start().expect("start");
    let lines = p.join().expect("join");
    (lines, p.exitcode())
}

fn main() {
    run(
        multiproc::process::get_start_method(),
        Duration::from_secs(1),
    );
}
