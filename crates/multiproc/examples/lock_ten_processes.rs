//! Seed: "锁(Lock)" — one `multiprocessing.Lock` shared by ten processes, each printing
//! `hello world i` while holding it: no two are inside at once.
//!
//! `cargo run --example lock_ten_processes`

use multiproc::process::{Process, StartMethod};
use multiproc::shared::{Shared, Value};
use multiproc::sync::Lock;

type Args = (Shared<Lock>, Value<u32>, Value<u32>, u32);

fn child_process((l, inside, order, i): Args) -> (u32, u32) {
    let _held = l.acquire(); // l.acquire()
    let now = inside.with(|n| {
        *n += 1;
        *n
    });
    println!("hello world {i}");
    let my_turn = order.with(|o| {
        *o += 1;
        *o - 1
    });
    inside.with(|n| *n -= 1);
    (now, my_turn) // l.release() when the guard drops
}

/// Ten processes; returns for each (processes inside at once when it printed, its turn).
pub fn run(method: StartMethod) -> Vec<(u32, u32)> {
    let lock = Shared::new(Lock::new()).expect("shared lock");
    let inside = Value::new(0u32).expect("value");
    let order = Value::new(0u32).expect("value");
    let mut ps: Vec<_> = (0..10)
        .map(|num| {
            let args = (lock.clone(), inside.clone(), order.clone(), num);
            Process::builder()
                .start_method(method)
                .target(child_process, args)
        })
        .collect();
    for p in &mut ps {
        p.start().expect("start");
    }
    ps.iter_mut().map(|p| p.join().expect("join")).collect()
}

fn main() {
    run(multiproc::process::get_start_method());
}
