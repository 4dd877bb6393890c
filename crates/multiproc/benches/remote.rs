//! The remote backend on a private `redis-server` (loopback): one Redis round trip (the
//! floor) beside a remote call, a task's whole round trip (submit, run on a worker, result),
//! submission throughput, tiny-task throughput over worker processes (slots and prefetch),
//! and a claim + ack cycle with an empty queue against one with 100,000 tasks waiting.
//! `redis-benchmark` and RQ/Celery figures for the same: `bench/python/remote_bench.py`,
//! `docs/PERFORMANCE.md`.
//!
//! `cargo bench -p multiproc --bench remote`

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use multiproc::process::Process;
use multiproc::remote::backend::{Ack, Wait};
use multiproc::remote::{self, RedisServer, Remote};

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

fn noop(x: u64) -> u64 {
    x
}

fn worker((url, ns, slots, prefetch): (String, String, usize, usize)) {
    let r = remote::connect(&url, &ns).unwrap();
    let _ = remote::Worker::new(&r)
        .concurrency(slots)
        .prefetch(prefetch)
        .stop_on_sigterm()
        .unwrap()
        .run();
}

fn workers(url: &str, ns: &str, n: usize, slots: usize, prefetch: usize) -> Vec<Process<()>> {
    (0..n)
        .map(|_| {
            let mut p = Process::builder()
                .daemon(true)
                .target(worker, (url.to_string(), ns.to_string(), slots, prefetch));
            p.start().unwrap();
            p
        })
        .collect()
}

fn stop(ws: Vec<Process<()>>) {
    for mut w in ws {
        let _ = w.terminate();
        let _ = w.join_timeout(Duration::from_secs(10));
    }
}

fn round_trips(c: &mut Criterion, url: &str) {
    let mut g = c.benchmark_group("remote_round_trip");
    let r = remote::connect(url, "rt").unwrap();
    r.backend().set("floor", None, b"1", None).unwrap();
    g.throughput(Throughput::Elements(1));
    g.bench_function("one Redis round trip (GET)", |b| {
        b.iter(|| r.backend().get("floor", None).unwrap())
    });
    let d = r.dict::<u64, u64>("d").unwrap();
    g.bench_function("dict insert", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            d.insert(i & 1023, i).unwrap()
        })
    });
    let q = r.queue::<u64>("q", 0).unwrap();
    g.bench_function("queue put + get", |b| {
        b.iter(|| {
            q.put(1).unwrap();
            q.get().unwrap()
        })
    });
    let l = r.lock("l").unwrap();
    g.bench_function("lock acquire + release", |b| {
        b.iter(|| {
            l.acquire().unwrap();
            l.release().unwrap();
        })
    });
    let ws = workers(url, "rt", 1, 1, 1);
    let pool = r.pool().unwrap();
    pool.apply(noop, 0).unwrap();
    g.bench_function("task: submit, run on a worker, result", |b| {
        b.iter(|| pool.apply(noop, 7).unwrap())
    });
    stop(ws);
    g.finish();
}

fn throughput(c: &mut Criterion, url: &str) {
    let mut g = c.benchmark_group("remote_throughput");
    let r = remote::connect(url, "tp").unwrap();
    let pool = r.pool().unwrap();
    let n = 10_000u64;
    g.throughput(Throughput::Elements(n));
    g.bench_function("submit 10,000 tasks (no worker)", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let rs = pool.submit_many(noop, 0..n).unwrap();
                took += t.elapsed();
                pool.purge().unwrap();
                drop(rs);
            }
            took
        })
    });
    for (procs, slots, prefetch) in [(1, 1, 1), (2, 4, 1), (2, 4, 64), (8, 1, 64)] {
        let ns = format!("tp-{procs}-{slots}-{prefetch}");
        let r = remote::connect(url, &ns).unwrap();
        let ws = workers(url, &ns, procs, slots, prefetch);
        let pool = r.pool().unwrap();
        pool.map(noop, 0..100).unwrap();
        let n = if prefetch > 1 { 20_000 } else { 2_000 };
        g.throughput(Throughput::Elements(n));
        g.bench_function(
            format!(
                "map {n} tiny tasks: {procs} worker processes x {slots} slots, prefetch {prefetch}"
            ),
            |b| b.iter(|| pool.map(noop, 0..n).unwrap()),
        );
        stop(ws);
    }
    g.finish();
}

fn claim_ack(g: &mut BenchmarkGroup<'_, WallTime>, r: &Remote, backlog: u64) {
    let b = r.backend();
    let queue = format!("claim-ack-{backlog}");
    let worker = format!("mp:{{bench}}:w:{backlog}");
    b.extend(
        "mp:{bench}:workers",
        &worker,
        Duration::from_secs(600),
        true,
    )
    .unwrap();
    let filler: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_le_bytes().to_vec()).collect();
    for _ in 0..backlog / 1000 {
        b.push(&queue, &filler, false, None, None).unwrap();
    }
    g.bench_function(format!("claim + ack, {backlog} tasks waiting"), |bench| {
        bench.iter(|| {
            // One pushed at the head, claimed, acked: the backlog stays as it is.
            b.push(&queue, &[b"t".to_vec()], true, None, None).unwrap();
            let leases = b.claim(&queue, &worker, 1, Wait::No).unwrap();
            let acks: Vec<Ack<'_>> = leases
                .iter()
                .map(|l| Ack {
                    lease: l,
                    id: "x",
                    reply: "mp:{bench}:reply",
                    result: b"r",
                })
                .collect();
            b.ack(&acks, Duration::from_secs(1)).unwrap();
        })
    });
}

fn backlog(c: &mut Criterion, url: &str) {
    let mut g = c.benchmark_group("remote_claim_ack");
    let r = remote::connect(url, "bench").unwrap();
    g.throughput(Throughput::Elements(1));
    claim_ack(&mut g, &r, 0);
    claim_ack(&mut g, &r, 100_000);
    g.finish();
}

fn all(c: &mut Criterion) {
    let server = RedisServer::start().expect("redis-server (apt-get install -y redis-server)");
    round_trips(c, &server.url());
    throughput(c, &server.url());
    backlog(c, &server.url());
}

criterion_group! {
    name = benches;
    config = config();
    targets = all
}
criterion_main!(benches);
