//! Seed: "Event" — ten threads print `Start...`, wait on one `Event`, and print `End...` only
//! after the main thread calls `set()` (the seed asks `True/False?` on stdin first).
//!
//! `cargo run --example event_gate` (type `True` to release them)

use multiproc::sync::Event;
use multiproc::thread::{self, JoinHandle};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

/// The threads and their counters, before the event is set.
#[derive(Debug)]
pub struct Gate {
    /// The event the threads wait for.
    pub event: Arc<Event>,
    /// How many printed `Start...`.
    pub started: Arc<AtomicU32>,
    /// How many printed `End...`.
    pub ended: Arc<AtomicU32>,
    /// The waiting threads.
    pub threads: Vec<JoinHandle<()>>,
}

/// Starts `n` threads that wait on a cleared event.
pub fn start(n: u32) -> Gate {
    let event = Arc::new(Event::new());
    let started = Arc::new(AtomicU32::new(0));
    let ended = Arc::new(AtomicU32::new(0));
    let threads = (0..n)
        .map(|_| {
            let (event, started, ended) = (event.clone(), started.clone(), ended.clone());
            thread::spawn(move || {
                started.fetch_add(1, SeqCst); // print("Start...")
                event.wait();
                ended.fetch_add(1, SeqCst); // print("End...")
            })
        })
        .collect();
    event.clear();
    Gate {
        event,
        started,
        ended,
        threads,
    }
}

fn main() {
    let gate = start(10);
    println!("10 threads: Start...");
    let mut inp = String::new();
    println!("True/False?>> ");
    let _ = std::io::stdin().read_line(&mut inp);
    if inp.trim() == "True" {
        gate.event.set();
        for t in gate.threads {
            t.join().expect("thread panicked");
        }
        println!("End... x{}", gate.ended.load(SeqCst));
    } else {
        println!("not released; the waiting threads are abandoned at exit");
    }
}
