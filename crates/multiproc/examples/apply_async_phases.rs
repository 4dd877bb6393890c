//! Where a burst of `Pool(2).apply_async` calls spends its time: batches of 10,000 trivial
//! tasks, as the criterion bench submits them (all submitted, then every result taken),
//! each printed with how long its two phases took and what the pool did while the caller
//! was still submitting: the tasks the workers ran and the results the handler settled
//! (from `Pool::stats`). `docs/PERFORMANCE.md` ("Where `apply_async`'s time goes") says
//! what it showed on a 2-vCPU VM: some batches overlap the two phases, others run nothing
//! until the caller stops submitting.
//!
//! `cargo run --release --example apply_async_phases [batches]`

use multiproc::pool::Pool;
use multiproc::process::StartMethod;
use std::time::Instant;

/// Tasks per batch (the bench's).
const BATCH: u64 = 10_000;

/// A trivial task.
fn ident(x: u64) -> u64 {
    x
}

/// The median and the 10th and 90th percentiles of `v`.
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let q = |f: f64| v[((v.len() as f64 * f) as usize).min(v.len() - 1)];
    (q(0.5), q(0.1), q(0.9))
}

fn main() {
    let batches: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(300)
        .max(1);
    let pool = Pool::builder()
        .processes(2)
        .start_method(StartMethod::Fork)
        .build()
        .unwrap();
    // (submit µs, get µs, tasks run while submitting, results settled while submitting)
    let mut seen = Vec::with_capacity(batches);
    for _ in 0..batches {
        let before = pool.stats();
        let t0 = Instant::now();
        let rs: Vec<_> = (0..BATCH)
            .map(|i| pool.apply_async(ident, i).unwrap())
            .collect();
        let submitted = t0.elapsed();
        let at_end = pool.stats();
        let t1 = Instant::now();
        for r in rs {
            r.get().unwrap();
        }
        seen.push((
            submitted.as_secs_f64() * 1e6,
            t1.elapsed().as_secs_f64() * 1e6,
            at_end.total.tasks - before.total.tasks,
            at_end.tasks_done - before.tasks_done,
        ));
    }
    println!("{batches} batches of {BATCH} apply_async, then every get; the first 20:");
    println!("submit µs   get µs   run while submitting   settled while submitting");
    for &(s, g, ran, settled) in seen.iter().take(20) {
        println!("{s:8.0} {g:8.0} {ran:22} {settled:26}");
    }
    let share = |n: usize| 100.0 * n as f64 / batches as f64;
    let none = seen.iter().filter(|b| b.2 == 0).count();
    let unsettled = seen.iter().filter(|b| b.2 > 0 && b.3 == 0).count();
    let (all, _, _) = spread(seen.iter().map(|b| b.0 + b.1).collect());
    let (s, s10, s90) = spread(seen.iter().map(|b| b.0).collect());
    let (g, g10, g90) = spread(seen.iter().map(|b| b.1).collect());
    println!(
        "median batch {all:.0} µs ({:.2} M tasks/s); submit {s:.0} µs (p10 {s10:.0}, p90 {s90:.0}); \
         get {g:.0} µs (p10 {g10:.0}, p90 {g90:.0})",
        BATCH as f64 / all
    );
    let both = batches - none - unsettled;
    println!("while the caller submitted:");
    for (what, n) in [
        ("the workers ran nothing", none),
        ("the workers ran tasks, the handler settled none", unsettled),
        ("both ran", both),
    ] {
        println!("  {what:<48} {n:4} batches ({:.0} %)", share(n));
    }
}
