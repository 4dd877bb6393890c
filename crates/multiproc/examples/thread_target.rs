//! Seed: "直接调用" — `threading.Thread(target=Princ, args=('t1',))`, three threads started one
//! after another; each prints `task <arg>` and sleeps. The main thread goes on without waiting
//! (`print("ending!")` comes first), and the program still waits for the threads at exit.
//!
//! A Python `target` with `args` is a closure that captures its arguments.
//!
//! `cargo run --example thread_target`

use multiproc::thread::{self, JoinHandle};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The seed's `Princ(String)`: print, then sleep.
fn princ(arg: &str, log: &Mutex<Vec<String>>, nap: Duration) {
    log.lock().unwrap().push(format!("task {arg}"));
    std::thread::sleep(nap);
}

/// Starts one thread per argument and, without joining, records `ending!`; returns the handles
/// and the shared log.
pub fn run(args: &[&str], nap: Duration) -> (Vec<JoinHandle<()>>, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let handles = args
        .iter()
        .map(|a| {
            let (a, log) = (a.to_string(), log.clone());
            thread::spawn(move || princ(&a, &log, nap))
        })
        .collect();
    log.lock().unwrap().push("ending!".into());
    (handles, log)
}

fn main() {
    // Python's exit rule: wait for non-daemon threads when main ends.
    let _threads = thread::join_on_exit();
    let (_handles, log) = run(&["t1", "t2", "t3"], Duration::from_millis(500));
    println!("{}", log.lock().unwrap().join("\n"));
}
