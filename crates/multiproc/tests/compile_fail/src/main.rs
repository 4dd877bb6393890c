//! A thread queue handed to a child process: refused by `cargo check` in multiproc's words.
use multiproc::process::Process;
use multiproc::queue::Queue;

fn worker(q: Queue<u32>) {
    q.put(1);
}

fn main() {
    let _ = Process::new(worker, Queue::new(0));
}
