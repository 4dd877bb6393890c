//! Seed: "同步" — two `myThread` objects (a `threading.Thread` subclass with an id, a name and a
//! delay) each take `threadLock` and print their name and the time three times; the lock keeps
//! each thread's three lines together.
//!
//! `cargo run --example lock_print`

use multiproc::sync::Lock;
use multiproc::thread::{Builder, Run};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The seed's `myThread`.
#[derive(Debug)]
pub struct MyThread {
    thread_id: u32,
    name: String,
    counter: u32,
    lock: Arc<Lock>,
    out: Arc<Mutex<Vec<String>>>,
    delay: Duration,
}

impl Run for MyThread {
    type Output = ();

    fn run(self) {
        self.out
            .lock()
            .unwrap()
            .push(format!("开启线程： {} (#{})", self.name, self.thread_id));
        let _held = self.lock.acquire(); // threadLock.acquire()
        for i in 0..3 {
            // print_time(self.name, self.counter, 3)
            std::thread::sleep(self.delay * self.counter);
            self.out
                .lock()
                .unwrap()
                .push(format!("{}: tick {i}", self.name));
        }
    } // threadLock.release()
}

/// Starts both threads together (the seed starts and joins them in one loop, which hides the
/// lock's effect; starting both first shows it). Returns the printed lines.
pub fn run(delay: Duration) -> Vec<String> {
    let lock = Arc::new(Lock::new());
    let out = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = [(1, "Thread-1", 1), (2, "Thread-2", 2)]
        .into_iter()
        .map(|(thread_id, name, counter)| {
            let t = MyThread {
                thread_id,
                name: name.into(),
                counter,
                lock: lock.clone(),
                out: out.clone(),
                delay,
            };
            Builder::new().name(name).start(t).expect("start")
        })
        .collect();
    for t in threads {
        t.join().expect("thread panicked");
    }
    out.lock().unwrap().push("退出主线程".into());
    out.lock().unwrap().clone()
}

fn main() {
    for line in run(Duration::from_millis(100)) {
        println!("{line}");
    }
}
