#![allow(missing_docs)]
use multiproc::pool::{MapOptions, Pool, ThreadPool};
use multiproc::process::StartMethod;
fn sqr(x: u64) -> u64 {
    x.wrapping_mul(x)
}
fn main() {
    let kind = std::env::args().nth(1).unwrap_or("pool".into());
    let data: Vec<u64> = (0..1_000_000).collect();
    let n = 40;
    let t = std::time::Instant::now();
    match kind.as_str() {
        "pool" => {
            let p = Pool::builder()
                .processes(2)
                .start_method(StartMethod::Fork)
                .build()
                .unwrap();
            for _ in 0..n {
                assert_eq!(p.map(sqr, data.iter().copied()).unwrap().len(), 1_000_000);
            }
        }
        "c1" => {
            let p = Pool::builder()
                .processes(2)
                .start_method(StartMethod::Fork)
                .build()
                .unwrap();
            for _ in 0..n / 4 {
                assert_eq!(
                    p.map_with(sqr, 0..100_000u64, MapOptions::new().chunksize(1))
                        .unwrap()
                        .len(),
                    100_000
                );
            }
        }
        _ => {
            let p = ThreadPool::new(2).unwrap();
            for _ in 0..n {
                assert_eq!(p.map(sqr, data.iter().copied()).unwrap().len(), 1_000_000);
            }
        }
    }
    let d = t.elapsed();
    let items = if kind == "c1" {
        (n / 4) as f64 * 1e5
    } else {
        n as f64 * 1e6
    };
    eprintln!("{kind}: {:.1} M items/s", items / d.as_secs_f64() / 1e6);
}
