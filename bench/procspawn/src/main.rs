//! procspawn's `Pool(2)` on trivial tasks, the same figures `bench/python/pool_bench.py`
//! prints for CPython and `crates/multiproc/benches/pool.rs` measures for multiproc:
//! `spawn` of 4,000 trivial tasks then every `join` (as `apply_async` then every `get`),
//! a million ints squared in 8 chunks (Python's default chunksize for 2 workers: the closest
//! procspawn has to `map`, which it lacks), and the latency of a sequential `spawn` + `join`
//! (as `apply`): p50, p99, max.
//!
//! 4,000 and not the 20,000 of the CPython script: each task procspawn's pool has in flight
//! holds two IPC channels (four descriptors) until it is joined, and `Pool::spawn` unwraps
//! their creation, so 20,000 in flight under this machine's limit of 20,000 descriptors
//! panics with "Too many open files" (EMFILE) in the caller.
//!
//! `cargo run --release --manifest-path bench/procspawn/Cargo.toml [-- --quick]`

use std::time::Instant;

use procspawn::Pool;

fn ident(x: u64) -> u64 {
    x
}

fn sqr_all(xs: Vec<u64>) -> Vec<u64> {
    xs.into_iter().map(|x| x * x).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Tasks a second for `spawn` of `n` trivial tasks, then every `join`.
fn spawn_rate(pool: &Pool, n: u64) -> f64 {
    let t0 = Instant::now();
    let handles: Vec<_> = (0..n).map(|i| pool.spawn(i, ident)).collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), i as u64);
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

/// Items a second for a million ints squared, 8 chunks of 125,000 (`Pool(2).map`'s default).
fn map_rate(pool: &Pool, n: u64, chunks: u64) -> f64 {
    let data: Vec<u64> = (0..n).collect();
    let t0 = Instant::now();
    let per = n.div_ceil(chunks) as usize;
    let handles: Vec<_> = data
        .chunks(per)
        .map(|c| pool.spawn(c.to_vec(), sqr_all))
        .collect();
    let mut out = Vec::with_capacity(n as usize);
    for h in handles {
        out.extend(h.join().unwrap());
    }
    let d = t0.elapsed().as_secs_f64();
    assert_eq!(out.len() as u64, n);
    assert_eq!(out[3], 9);
    n as f64 / d
}

/// p50, p99 and max of a sequential `spawn` + `join`, in µs.
fn latency(pool: &Pool, n: u64) -> (f64, f64, f64) {
    let mut lat: Vec<f64> = (0..n)
        .map(|i| {
            let t0 = Instant::now();
            let got = pool.spawn(i, ident).join().unwrap();
            let d = t0.elapsed().as_secs_f64() * 1e6;
            assert_eq!(got, i);
            d
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let at = |q: f64| lat[((lat.len() as f64) * q) as usize];
    (at(0.5), at(0.99), lat[lat.len() - 1])
}

fn main() {
    procspawn::init();
    let quick = std::env::args().any(|a| a == "--quick");
    let k = if quick { 3 } else { 5 };
    let n = 4_000;
    let pool = Pool::new(2).unwrap();
    spawn_rate(&pool, 1_000); // both workers up and warm
    println!("procspawn 1, Pool::new(2), median of {k}");
    let r = median((0..k).map(|_| spawn_rate(&pool, n)).collect());
    println!(
        "Pool(2).spawn 4,000 trivial, then join   {:9.1} k tasks/s",
        r / 1e3
    );
    let r = median((0..k).map(|_| map_rate(&pool, 1_000_000, 8)).collect());
    println!(
        "Pool(2) 1M ints in 8 chunks              {:9.2} M items/s",
        r / 1e6
    );
    let (p50, p99, max) = latency(&pool, if quick { 2_000 } else { 10_000 });
    println!(
        "Pool(2).spawn + join sequential latency  p50 {p50:7.1} us  p99 {p99:7.1} us  max {max:8.1} us"
    );
    pool.shutdown();
}
