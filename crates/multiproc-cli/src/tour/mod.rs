//! `multiproc tour`: the tutorials' experiments, run live. Each section runs a group of
//! experiments; each experiment is announced when it starts and reported when it ends (what
//! it measured on this machine, and the fact it demonstrates), through [`report::Tour`].

mod ipc;
mod memory;
mod pools;
mod processes;
mod remote;
pub mod report;
mod threads;

pub use report::{Options, Tour, secs};

type Section = (&'static str, &'static str, fn(&mut Tour));

const SECTIONS: &[Section] = &[
    (
        "threads",
        "threading: locks, events, semaphores, daemon threads",
        threads::run,
    ),
    (
        "processes",
        "multiprocessing: start methods, CPU-bound work, shared memory, fork",
        processes::run,
    ),
    ("ipc", "pipes and process queues", ipc::run),
    ("pools", "process and thread pools", pools::run),
    (
        "memory",
        "the memory pool, in one process and in shared memory",
        memory::run,
    ),
    (
        "remote",
        "beyond one machine: the same objects and pool on Redis",
        remote::run,
    ),
];

/// The names of the sections, in order.
pub fn section_names() -> Vec<&'static str> {
    SECTIONS.iter().map(|s| s.0).collect()
}

/// Runs the sections whose names contain `filter` (all when `None`); false if none matched.
pub fn run(filter: Option<&str>, opts: Options) -> bool {
    let chosen: Vec<&Section> = SECTIONS
        .iter()
        .filter(|(n, _, _)| filter.is_none_or(|f| n.contains(f)))
        .collect();
    if chosen.is_empty() {
        return false;
    }
    let mut t = Tour::new(opts);
    t.intro("multiproc tour: the tutorials' experiments, run live on this machine");
    for (name, about, section) in chosen {
        t.section(name, about);
        section(&mut t);
    }
    t.finish();
    true
}
