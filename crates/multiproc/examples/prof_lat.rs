#![allow(missing_docs)]
use multiproc::pool::Pool;
use std::time::{Duration, Instant};
fn ident(x: u64) -> u64 {
    x
}
fn main() {
    for m in ["fork", "spawn", "forkserver"] {
        let pool = Pool::builder()
            .processes(2)
            .start_method(m.parse().unwrap())
            .build()
            .unwrap();
        for i in 0..1000 {
            pool.apply(ident, i).unwrap();
        }
        let mut lat: Vec<Duration> = (0..20_000)
            .map(|i| {
                let t = Instant::now();
                pool.apply(ident, i).unwrap();
                t.elapsed()
            })
            .collect();
        lat.sort();
        println!(
            "{m}: p50 {:?} p99 {:?} max {:?}",
            lat[lat.len() / 2],
            lat[lat.len() * 99 / 100],
            lat[lat.len() - 1]
        );
    }
}
