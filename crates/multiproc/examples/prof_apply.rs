#![allow(missing_docs)]
use multiproc::pool::{Pool, ThreadPool};
use multiproc::process::StartMethod;
fn ident(x: u64) -> u64 {
    x
}
fn main() {
    let kind = std::env::args().nth(1).unwrap_or("pool".into());
    let t = std::time::Instant::now();
    let n = 300u64;
    if kind == "pool" {
        let pool = Pool::builder()
            .processes(2)
            .start_method(StartMethod::Fork)
            .build()
            .unwrap();
        for _ in 0..n {
            let rs: Vec<_> = (0..10_000)
                .map(|i| pool.apply_async(ident, i).unwrap())
                .collect();
            for r in rs {
                r.get().unwrap();
            }
        }
    } else if kind == "rayon" {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for _ in 0..n {
            let (tx, rx) = crossbeam_channel::unbounded();
            for i in 0..10_000u64 {
                let tx = tx.clone();
                pool.spawn(move || tx.send(ident(i)).unwrap());
            }
            drop(tx);
            assert_eq!(rx.iter().count(), 10_000);
        }
    } else {
        let pool = ThreadPool::new(2).unwrap();
        for _ in 0..n {
            let rs: Vec<_> = (0..10_000)
                .map(|i| pool.apply_async(ident, i).unwrap())
                .collect();
            for r in rs {
                r.get().unwrap();
            }
        }
    }
    let d = t.elapsed();
    eprintln!(
        "{kind}: {:.0} k tasks/s",
        (n * 10_000) as f64 / d.as_secs_f64() / 1e3
    );
}
