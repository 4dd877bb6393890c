//! Seed: "获取启动进程的 PID" — `info()` prints the process name, the parent's pid and its own,
//! once in the parent and once in a child: the child's parent pid is the parent's pid.
//!
//! `cargo run --example process_pids`

use multiproc::process::{self, Process, StartMethod};

/// What the seed's `info(title)` prints: (title, process name, ppid, pid).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Info {
    /// The title passed in.
    pub title: String,
    /// `current_process().name` (Python printed `__name__`: `__main__` vs `__mp_main__`).
    pub name: String,
    /// `os.getppid()`.
    pub ppid: u32,
    /// `os.getpid()`.
    pub pid: u32,
}

fn info(title: String) -> Info {
    let i = Info {
        title,
        name: process::current_process().name,
        ppid: rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u32),
        pid: std::process::id(),
    };
    println!(
        "{}\nprocess name: {}\n父进程的PID: {}\n子进程的PID: {}\n",
        i.title, i.name, i.ppid, i.pid
    );
    i
}

/// `info` in this process, then in a child started with `method`.
pub fn run(method: StartMethod) -> (Info, Info) {
    let parent = info("TheParentProcess".into());
    let mut p = Process::builder()
        .start_method(method)
        .target(info, "ChildProcess".to_string());
    p.start().expect("start");
    (parent, p.join().expect("join"))
}

fn main() {
    run(StartMethod::Spawn);
}
