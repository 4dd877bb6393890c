//! `multiproc bench`: multiproc's headline figures beside CPython's and beside the machine's
//! raw limits, measured in one sitting, and a self-contained HTML report with plots.
//!
//! Each round runs every measurement of `measure.rs` in this process, then CPython's script
//! (`bench/python/cli_bench.py`, built into this binary and run with `python3` when it is
//! there): A B A B. Each figure is the median of the rounds, with their spread (min–max),
//! and the machine's load average is recorded before and after. The same keys name a
//! measurement on both sides, so the table and the plots line up.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

mod html;
mod measure;

use measure::Scale;

/// The CPython side, shipped inside the binary so the command runs from anywhere.
const PYTHON_SCRIPT: &str = include_str!("../../../../bench/python/cli_bench.py");

/// How much to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The full run (under 10 minutes).
    Full,
    /// `--quick` (under a minute).
    Quick,
    /// `--smoke`: seconds; for checking that the report is produced, not for figures.
    Smoke,
}

/// What to run and where the report goes.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub out: std::path::PathBuf,
    pub python: bool,
}

/// One row of the table.
#[derive(Debug, Clone)]
struct Row {
    label: String,
    ours: String,
    python: String,
    ratio: String,
    raw: String,
}

/// Everything the report shows.
struct Summary {
    machine: String,
    rows: Vec<Row>,
    /// Medians by key.
    ours: BTreeMap<String, f64>,
    python: BTreeMap<String, f64>,
    max_workers: usize,
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs CPython's side once; its figures by key, or why not.
fn python_round(scale: Scale, max_workers: usize) -> Result<BTreeMap<String, f64>, String> {
    let dir = std::env::temp_dir().join(format!("multiproc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let script = dir.join("cli_bench.py");
    std::fs::write(&script, PYTHON_SCRIPT).map_err(|e| e.to_string())?;
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args(["--bytes", &scale.bytes.to_string()])
        .args(["--trips", &scale.trips.to_string()])
        .args(["--tasks", &scale.tasks.to_string()])
        .args(["--starts", &scale.starts.to_string()])
        .args(["--max-workers", &max_workers.to_string()])
        .output()
        .map_err(|e| format!("python3 did not run: {e}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        return Err(format!(
            "python3 failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("bad JSON from python3: {e}"))?;
    Ok(v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_f64().map(|f| (k.clone(), f)))
                .collect()
        })
        .unwrap_or_default())
}

/// Whether more is better for this key's figure.
fn higher_is_better(key: &str) -> bool {
    key.contains("items_s") || key.contains("tasks_s") || key.contains("gib_s")
}

/// A row of the table: its label, the key both sides measure, the unit, and the raw limits
/// beside it (each its key and name).
type RowSpec = (String, String, &'static str, Vec<Limit>);
type Limit = (String, &'static str);

/// The table's rows.
fn rows(cpus: usize) -> Vec<RowSpec> {
    let mut r = Vec::new();
    r.push((
        "Queue throughput, u64 items".into(),
        "queue.u64_items_s".into(),
        "items/s",
        vec![("ring.u64_items_s".into(), "raw SPSC ring")],
    ));
    for (what, name) in [("queue", "Queue"), ("pipe", "Pipe")] {
        for (size, s) in [
            (8, "8 B"),
            (1024, "1 KiB"),
            (65536, "64 KiB"),
            (1 << 20, "1 MiB"),
        ] {
            r.push((
                format!("{name} throughput, {s} items"),
                format!("{what}.items_s@{size}"),
                "items/s",
                (size == 1 << 20)
                    .then(|| ("memcpy.cold_items_s".into(), "cold memcpy"))
                    .into_iter()
                    .collect(),
            ));
        }
    }
    for (what, raw, name) in [
        ("queue", "socketpair", "Queue"),
        ("pipe", "socketpair", "Pipe"),
        ("pipe_1cpu", "socketpair_1cpu", "Pipe, one CPU"),
    ] {
        for p in ["p50", "p99"] {
            r.push((
                format!("{name} round trip, {p}"),
                format!("rtt.{what}.{p}_us"),
                "µs",
                vec![(format!("rtt.{raw}.{p}_us"), "socketpair")],
            ));
        }
    }
    for (what, name) in [("thread", "ThreadPool"), ("process", "Pool")] {
        r.push((
            format!("{name}({cpus}), CPU-bound tasks"),
            format!("pool.{what}.tasks_s@{cpus}"),
            "tasks/s",
            vec![(format!("pool.rayon.tasks_s@{cpus}"), "rayon")],
        ));
    }
    for m in ["fork", "forkserver", "spawn"] {
        r.push((
            format!("start + join, {m}"),
            format!("start.{m}_ms"),
            "ms",
            vec![("start.raw_fork_ms".into(), "fork + waitpid")],
        ));
    }
    r.push((
        "Lock acquire + release, uncontended".into(),
        "lock.ns".into(),
        "ns",
        vec![
            ("lock.std_ns".into(), "std Mutex"),
            ("lock.parking_lot_ns".into(), "parking_lot Mutex"),
        ],
    ));
    r
}

fn summarize(
    ours: &BTreeMap<String, Vec<f64>>,
    py: &BTreeMap<String, Vec<f64>>,
    machine: String,
    max_workers: usize,
) -> Summary {
    let cpus = multiproc::process::cpu_count().min(max_workers).max(1);
    let med = |m: &BTreeMap<String, Vec<f64>>| -> BTreeMap<String, f64> {
        m.iter().map(|(k, v)| (k.clone(), median(v))).collect()
    };
    let (ours_med, py_med) = (med(ours), med(py));
    let rows = rows(cpus)
        .into_iter()
        .filter_map(|(label, key, unit, raw)| {
            let v = ours.get(&key)?;
            let m = median(v);
            let (lo, hi) = v
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            let p = py_med.get(&key).copied();
            let ratio = p.map_or(String::new(), |p| {
                let r = if higher_is_better(&key) { m / p } else { p / m };
                format!("{r:.1}× CPython")
            });
            Some(Row {
                label,
                ours: format!(
                    "{} {unit} ({}–{})",
                    html::human(m),
                    html::human(lo),
                    html::human(hi)
                ),
                python: p.map_or("—".into(), |p| format!("{} {unit}", html::human(p))),
                ratio,
                raw: raw
                    .iter()
                    .filter_map(|(k, what)| {
                        let v = ours_med.get(k)?;
                        Some(format!("{} {unit} ({what})", html::human(*v)))
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            })
        })
        .collect();
    Summary {
        machine,
        rows,
        ours: ours_med,
        python: py_med,
        max_workers,
    }
}

/// Runs the bench; `Err` if the report cannot be written.
pub fn run(opts: &Options) -> std::io::Result<()> {
    let (scale, rounds) = match opts.mode {
        Mode::Full => (
            Scale {
                bytes: 64 << 20,
                trips: 20_000,
                tasks: 64,
                starts: 10,
            },
            5,
        ),
        Mode::Quick => (
            Scale {
                bytes: 16 << 20,
                trips: 2_000,
                tasks: 32,
                starts: 3,
            },
            3,
        ),
        Mode::Smoke => (
            Scale {
                bytes: 1 << 20,
                trips: 100,
                tasks: 4,
                starts: 1,
            },
            2,
        ),
    };
    let cpus = multiproc::process::cpu_count();
    let max_workers = if opts.mode == Mode::Smoke {
        2
    } else {
        2 * cpus
    };
    let started = Instant::now();
    let load_before = load();
    type Step = (&'static str, Box<dyn Fn() -> measure::Figures>);
    let steps: Vec<Step> = vec![
        ("throughput", Box::new(move || measure::throughput(scale))),
        ("small items", Box::new(move || measure::small_items(scale))),
        ("latency", Box::new(move || measure::latency(scale))),
        (
            "pools",
            Box::new(move || measure::pools(scale, max_workers)),
        ),
        ("starts", Box::new(move || measure::starts(scale))),
        ("locks", Box::new(measure::locks_and_memcpy)),
    ];
    let total = rounds * (steps.len() + usize::from(opts.python));
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut ours: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut py: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut python_note = None;
    for round in 1..=rounds {
        for (name, step) in &steps {
            bar.set_message(format!("round {round}: multiproc {name}"));
            for (k, v) in step() {
                ours.entry(k).or_default().push(v);
            }
            bar.inc(1);
        }
        if opts.python && python_note.is_none() {
            bar.set_message(format!("round {round}: CPython"));
            match python_round(scale, max_workers) {
                Ok(figures) => {
                    for (k, v) in figures {
                        py.entry(k).or_default().push(v);
                    }
                }
                Err(why) => python_note = Some(why),
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let python_line = match (&python_note, opts.python) {
        (_, false) => "CPython: not run (--no-python)".to_string(),
        (Some(why), _) => format!("CPython: skipped ({why})"),
        (None, true) => "CPython: python3, same rounds, interleaved".to_string(),
    };
    let machine = format!(
        "{cpus} CPUs, Linux {}; {rounds} rounds interleaved ({:?} mode), medians with their spread; load average {load_before} before, {} after; {:.0} s in all. {python_line}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        opts.mode,
        load(),
        started.elapsed().as_secs_f64()
    );
    let summary = summarize(&ours, &py, machine, max_workers);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", summary.machine)?;
    writeln!(out)?;
    for r in &summary.rows {
        writeln!(
            out,
            "{:<36} {:<34} {:<18} {:<16} {}",
            r.label, r.ours, r.python, r.ratio, r.raw
        )?;
    }
    std::fs::write(&opts.out, html::report(&summary))?;
    writeln!(out, "\nreport: {}", opts.out.display())?;
    Ok(())
}
