//! An idle manager and an idle client use no CPU: a manager with objects, a client that has
//! used them over both transports (so its connections, the server's threads and the
//! shared-memory rings all exist), then 10 s of nothing, measured from `/proc`.
//!
//! `cargo run --release -p multiproc --example manager_idle`

use std::time::Duration;

use multiproc::manager::{Manager, Transport};

/// CPU time (user + system) of a process so far, in clock ticks.
fn ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc");
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn main() {
    let m = Manager::start().unwrap();
    let socket = Manager::connect_with(
        m.address(),
        &multiproc::process::authkey(),
        Transport::Socket,
    )
    .unwrap();
    let d = m.dict::<u64, u64>().unwrap();
    let q = socket.queue::<u64>(0).unwrap();
    for i in 0..10_000 {
        d.insert(i, i).unwrap();
        q.put(i).unwrap();
        q.get().unwrap();
    }
    let (server, me) = (m.pid().unwrap(), std::process::id());
    let (s0, c0) = (ticks(server), ticks(me));
    let secs = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10u64);
    std::thread::sleep(Duration::from_secs(secs));
    let (s1, c1) = (ticks(server), ticks(me));
    println!(
        "idle for {secs} s: manager process {} ticks, client process {} ticks (of {} per CPU)",
        s1 - s0,
        c1 - c0,
        secs * 100
    );
}
