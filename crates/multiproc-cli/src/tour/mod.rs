//! `multiproc tour`: each section runs a group of seed experiments and prints one line per
//! experiment: what ran, what it measured, and the fact it demonstrates.

use std::time::{Duration, Instant};

mod ipc;
mod memory;
mod pools;
mod processes;
mod threads;

/// One line of the report.
pub struct Finding {
    /// The experiment, as the seed names it.
    pub experiment: String,
    /// What was measured on this machine.
    pub measured: String,
    /// The fact it demonstrates.
    pub fact: String,
}

impl Finding {
    fn new(
        experiment: impl Into<String>,
        measured: impl Into<String>,
        fact: impl Into<String>,
    ) -> Self {
        Finding {
            experiment: experiment.into(),
            measured: measured.into(),
            fact: fact.into(),
        }
    }
}

type Section = (&'static str, fn() -> Vec<Finding>);

const SECTIONS: &[Section] = &[
    ("threads", threads::run),
    ("processes", processes::run),
    ("ipc", ipc::run),
    ("pools", pools::run),
    ("memory", memory::run),
];

/// Seconds with two decimals, as the report prints them.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub fn run(filter: Option<&str>) {
    let t0 = Instant::now();
    println!("multiproc tour: the seed tutorials' experiments, run live on this machine\n");
    for (name, section) in SECTIONS
        .iter()
        .filter(|(n, _)| filter.is_none_or(|f| n.contains(f)))
    {
        println!("== {name} ==");
        let started = Instant::now();
        for f in section() {
            println!("  {}", f.experiment);
            println!("      measured: {}", f.measured);
            println!("      shows:    {}", f.fact);
        }
        println!("  ({} for this section)\n", secs(started.elapsed()));
    }
    println!("tour finished in {}", secs(t0.elapsed()));
}
