//! What `multiproc bench` measures in this process: multiproc's headline operations and the
//! machine's raw limits beside them. Every function returns `(key, value)` pairs; the keys
//! are the ones `bench/python/cli_bench.py` prints for CPython, so the two line up.

use std::time::{Duration, Instant};

use multiproc::connection::{Connection, Pipe};
use multiproc::pool::{MapOptions, Pool, ThreadPool};
use multiproc::process::{Process, Queue, StartMethod};

/// How much work each measurement does.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Bytes moved per throughput measurement.
    pub bytes: usize,
    /// Round trips per latency distribution.
    pub trips: usize,
    /// Tasks per pool measurement.
    pub tasks: usize,
    /// Starts per start method.
    pub starts: u32,
}

/// Message sizes of the throughput curves.
pub const SIZES: [usize; 4] = [8, 1024, 64 * 1024, 1 << 20];

pub type Figures = Vec<(String, f64)>;

fn items_for(scale: Scale, size: usize) -> usize {
    (scale.bytes / size).clamp(200, 200_000)
}

fn drain_queue((q, done, n): (Queue<Vec<u8>>, Queue<u8>, usize)) {
    done.put(0).expect("ready");
    for _ in 0..n {
        q.get().expect("get");
    }
    done.put(1).expect("done");
}

fn drain_pipe((mut c, n): (Connection, usize)) {
    c.send_bytes(b"ready").expect("ready");
    for _ in 0..n {
        c.recv_bytes().expect("recv");
    }
    c.send_bytes(b"done").expect("done");
}

/// Items per second through a process `Queue` and a `Pipe`, per message size, to a
/// consumer process.
pub fn throughput(scale: Scale) -> Figures {
    let mut out = Vec::new();
    for size in SIZES {
        let n = items_for(scale, size);
        let item = vec![7u8; size];
        let q: Queue<Vec<u8>> = Queue::new(0).expect("queue");
        let done: Queue<u8> = Queue::new(0).expect("queue");
        let mut p = Process::builder()
            .start_method(StartMethod::Fork)
            .target(drain_queue, (q.clone(), done.clone(), n));
        p.start().expect("start");
        done.get().expect("ready");
        let t0 = Instant::now();
        for _ in 0..n {
            q.put(item.clone()).expect("put");
        }
        done.get().expect("done");
        out.push((
            format!("queue.items_s@{size}"),
            n as f64 / t0.elapsed().as_secs_f64(),
        ));
        p.join().expect("join");

        let (mut a, b) = Pipe(true).expect("pipe");
        let mut p = Process::builder()
            .start_method(StartMethod::Fork)
            .target(drain_pipe, (b, n));
        p.start().expect("start");
        a.recv_bytes().expect("ready");
        let t0 = Instant::now();
        for _ in 0..n {
            a.send_bytes(&item).expect("send");
        }
        a.recv_bytes().expect("done");
        out.push((
            format!("pipe.items_s@{size}"),
            n as f64 / t0.elapsed().as_secs_f64(),
        ));
        p.join().expect("join");
    }
    out
}

/// Slots of the raw ring: 512 KiB of them, as the queue's default 1 MiB ring holds 64 Ki
/// `u64` items (16 bytes each with its header). A ring that fits in L1 (4 Ki slots) runs
/// 3–4× faster here and would be no fair limit for a queue that streams through L2.
const RING_SLOTS: usize = 1 << 16;

/// The raw limit for small items: a bare single-producer single-consumer ring of `u64` in
/// shared memory (no lock, no length header, no encoding, spinning on both sides), to a
/// forked consumer; items per second.
fn raw_ring(n: usize) -> f64 {
    use multiproc::shared::Shared;
    use std::sync::atomic::{AtomicU64, Ordering};
    let slots = Shared::new([const { AtomicU64::new(0) }; RING_SLOTS]).expect("ring");
    let (head, tail) = (
        Shared::new(AtomicU64::new(0)).expect("head"),
        Shared::new(AtomicU64::new(0)).expect("tail"),
    );
    let n = n as u64;
    let mut p = Process::builder()
        .start_method(StartMethod::Fork)
        .fork_target({
            let (slots, head, tail) = (slots.clone(), head.clone(), tail.clone());
            move || {
                let (mut h, mut t) = (0u64, 0u64);
                let mut sum = 0u64;
                while h < n {
                    if h == t {
                        t = tail.load(Ordering::Acquire);
                        if h == t {
                            std::hint::spin_loop();
                            continue;
                        }
                    }
                    sum = sum.wrapping_add(slots[h as usize % RING_SLOTS].load(Ordering::Relaxed));
                    h += 1;
                    head.store(h, Ordering::Release);
                }
                std::hint::black_box(sum);
            }
        });
    p.start().expect("start");
    let t0 = Instant::now();
    let mut h = 0u64;
    for t in 0..n {
        while t - h == RING_SLOTS as u64 {
            h = head.load(Ordering::Acquire);
            std::hint::spin_loop();
        }
        slots[t as usize % RING_SLOTS].store(t, Ordering::Relaxed);
        tail.store(t + 1, Ordering::Release);
    }
    while head.load(Ordering::Acquire) != n {
        std::hint::spin_loop();
    }
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    p.join().expect("join");
    rate
}

/// `u64` items through a process `Queue` to a forked consumer: the same shape as
/// [`raw_ring`], so the two compare; items per second.
fn queue_u64(n: usize) -> f64 {
    let (q, done): (Queue<u64>, Queue<u64>) =
        (Queue::new(0).expect("q"), Queue::new(0).expect("q"));
    let mut p = Process::builder().start_method(StartMethod::Fork).target(
        |(q, done, n): (Queue<u64>, Queue<u64>, usize)| {
            let mut sum = 0u64;
            for _ in 0..n {
                sum = sum.wrapping_add(q.get().expect("get"));
            }
            done.put(sum).expect("done");
        },
        (q.clone(), done.clone(), n),
    );
    p.start().expect("start");
    let t0 = Instant::now();
    for i in 0..n as u64 {
        q.put(i).expect("put");
    }
    done.get().expect("done");
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    p.join().expect("join");
    rate
}

/// `u64` items per second through a process `Queue` and through the raw ring beside it.
pub fn small_items(scale: Scale) -> Figures {
    let n = (scale.bytes / 8).clamp(10_000, 4_000_000);
    vec![
        ("queue.u64_items_s".into(), queue_u64(n)),
        ("ring.u64_items_s".into(), raw_ring(n)),
    ]
}

fn echo_queue((inq, outq): (Queue<u64>, Queue<u64>)) {
    while let Ok(x) = inq.get() {
        if x == u64::MAX {
            break;
        }
        outq.put(x).expect("put");
    }
}

/// Echoes until an empty message (a forked child holds a copy of the other end too, so it
/// would never see the end of the stream).
fn echo_pipe(mut c: Connection) {
    while let Ok(b) = c.recv_bytes() {
        if b.is_empty() || c.send_bytes(&b).is_err() {
            break;
        }
    }
}

fn percentiles(key: &str, mut lat: Vec<Duration>) -> Figures {
    lat.sort();
    let at = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    vec![
        (format!("rtt.{key}.p50_us"), us(at(0.5))),
        (format!("rtt.{key}.p99_us"), us(at(0.99))),
        (format!("rtt.{key}.max_us"), us(lat[lat.len() - 1])),
    ]
}

fn timed(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

/// Round-trip latency distributions: a process `Queue` pair, a `Pipe`, and (the raw limit)
/// a bare socketpair, each to an echoing child process; then the `Pipe` and the socketpair
/// again with both processes pinned to one CPU (keys `pipe_1cpu`, `socketpair_1cpu`).
///
/// Why both: a blocking round trip between two CPUs wakes the other side's CPU, and on a VM
/// an idle vCPU halts, so each wake-up costs the hypervisor's wake latency (about 25 µs each
/// way here, the same for CPython's pipe and for a raw socketpair). On one CPU the wake-up is
/// a context switch. The spinning `Queue` is measured across CPUs only.
pub fn latency(scale: Scale) -> Figures {
    let mut out = Vec::new();
    let (to, from): (Queue<u64>, Queue<u64>) =
        (Queue::new(0).expect("q"), Queue::new(0).expect("q"));
    let mut p = Process::builder()
        .start_method(StartMethod::Fork)
        .target(echo_queue, (to.clone(), from.clone()));
    p.start().expect("start");
    let lat = timed(scale.trips, || {
        to.put(1).expect("put");
        from.get().expect("get");
    });
    to.put(u64::MAX).expect("stop");
    p.join().expect("join");
    out.extend(percentiles("queue", lat));
    out.extend(blocking_round_trips(scale, None));
    // On a thread of its own, so the pin does not outlive the measurement.
    let cpu = multiproc::process::sched_getaffinity()
        .ok()
        .and_then(|c| c.first().copied());
    if let Some(cpu) = cpu {
        out.extend(
            std::thread::spawn(move || blocking_round_trips(scale, Some(cpu)))
                .join()
                .expect("pinned round trips"),
        );
    }
    out
}

/// Pins the calling thread or process to `cpu`, if given.
fn pin(cpu: Option<usize>) {
    if let Some(c) = cpu {
        multiproc::process::sched_setaffinity(&[c]).expect("sched_setaffinity");
    }
}

/// Echoes until an empty message, on `cpu` when given.
fn echo_pipe_on((c, cpu): (Connection, Option<usize>)) {
    pin(cpu);
    echo_pipe(c);
}

/// The `Pipe` and the socketpair round trips, with this thread and the echoing child both on
/// `cpu` when it is given.
fn blocking_round_trips(scale: Scale, cpu: Option<usize>) -> Figures {
    use std::io::{Read, Write};
    pin(cpu);
    let suffix = if cpu.is_some() { "_1cpu" } else { "" };
    let mut out = Vec::new();
    let (mut a, b) = Pipe(true).expect("pipe");
    let mut p = Process::builder()
        .start_method(StartMethod::Fork)
        .target(echo_pipe_on, (b, cpu));
    p.start().expect("start");
    let lat = timed(scale.trips, || {
        a.send_bytes(b"ping").expect("send");
        a.recv_bytes().expect("recv");
    });
    a.send_bytes(b"").expect("stop");
    p.join().expect("join");
    out.extend(percentiles(&format!("pipe{suffix}"), lat));

    let (mut a, b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let mut p = Process::builder()
        .start_method(StartMethod::Fork)
        .fork_target(move || {
            pin(cpu);
            let mut b = b;
            let mut buf = [0u8; 8];
            while b.read_exact(&mut buf).is_ok() && &buf != b"stop!!!!" {
                if b.write_all(&buf).is_err() {
                    break;
                }
            }
        });
    p.start().expect("start");
    let mut buf = [0u8; 8];
    let lat = timed(scale.trips, || {
        a.write_all(b"pingpong").expect("write");
        a.read_exact(&mut buf).expect("read");
    });
    a.write_all(b"stop!!!!").expect("stop");
    p.join().expect("join");
    out.extend(percentiles(&format!("socketpair{suffix}"), lat));
    out
}

/// The CPU-bound task of the pool measurements: a sum of squares.
fn work(n: u64) -> u64 {
    (0..n).fold(0u64, |s, i| s.wrapping_add(std::hint::black_box(i * i)))
}

/// Work per pool task.
pub const WORK: u64 = 20_000;

/// Tasks per second through `ThreadPool(w)` and `Pool(w)` for w in 1..=`max`, and through
/// rayon with w threads (the raw limit): the tutorial's ThreadPool-against-Pool table.
pub fn pools(scale: Scale, max: usize) -> Figures {
    let mut out = Vec::new();
    let tasks = vec![WORK; scale.tasks];
    for w in 1..=max {
        let tp = ThreadPool::new(w).expect("ThreadPool");
        let t0 = Instant::now();
        tp.map_with(work, tasks.clone(), MapOptions::new().chunksize(1))
            .expect("map");
        out.push((
            format!("pool.thread.tasks_s@{w}"),
            scale.tasks as f64 / t0.elapsed().as_secs_f64(),
        ));
        drop(tp);
        let pp = Pool::builder()
            .processes(w)
            .start_method(StartMethod::Fork)
            .build()
            .expect("Pool");
        let t0 = Instant::now();
        pp.map_with(work, tasks.clone(), MapOptions::new().chunksize(1))
            .expect("map");
        out.push((
            format!("pool.process.tasks_s@{w}"),
            scale.tasks as f64 / t0.elapsed().as_secs_f64(),
        ));
        drop(pp);
        let rp = rayon::ThreadPoolBuilder::new()
            .num_threads(w)
            .build()
            .expect("rayon");
        let t0 = Instant::now();
        let _: Vec<u64> = rp.install(|| {
            use rayon::prelude::*;
            tasks.par_iter().map(|&n| work(n)).collect()
        });
        out.push((
            format!("pool.rayon.tasks_s@{w}"),
            scale.tasks as f64 / t0.elapsed().as_secs_f64(),
        ));
    }
    out
}

/// Start + join of a process per start method, and a raw `fork` + `waitpid`, in ms.
pub fn starts(scale: Scale) -> Figures {
    let mut out = Vec::new();
    for m in [
        StartMethod::Fork,
        StartMethod::Forkserver,
        StartMethod::Spawn,
    ] {
        let t0 = Instant::now();
        for _ in 0..scale.starts {
            let mut p = Process::builder().start_method(m).target(|x: u32| x + 1, 1);
            p.start().expect("start");
            p.join().expect("join");
        }
        out.push((
            format!("start.{m}_ms"),
            t0.elapsed().as_secs_f64() * 1e3 / f64::from(scale.starts),
        ));
    }
    let t0 = Instant::now();
    for _ in 0..scale.starts {
        // SAFETY: the child only exits.
        match unsafe { multiproc::process::fork() }.expect("fork") {
            multiproc::process::Fork::Child => std::process::exit(0),
            multiproc::process::Fork::Parent(pid) => {
                multiproc::process::waitpid(pid).expect("waitpid");
            }
        }
    }
    out.push((
        "start.raw_fork_ms".into(),
        t0.elapsed().as_secs_f64() * 1e3 / f64::from(scale.starts),
    ));
    out
}

/// Uncontended lock + unlock, in ns: multiproc's `Lock`, and std's and parking_lot's
/// mutexes (the raw limits); and `memcpy` bandwidth of 1 MiB blocks, in GiB/s.
pub fn locks_and_memcpy() -> Figures {
    const N: u32 = 2_000_000;
    let per = |t: Instant| t.elapsed().as_secs_f64() * 1e9 / f64::from(N);
    let lock = multiproc::sync::Lock::new();
    let t0 = Instant::now();
    for _ in 0..N {
        drop(std::hint::black_box(lock.acquire()));
    }
    let mp = per(t0);
    let m = std::sync::Mutex::new(0u64);
    let t0 = Instant::now();
    for _ in 0..N {
        *std::hint::black_box(m.lock().expect("mutex")) += 1;
    }
    let st = per(t0);
    let m = parking_lot::Mutex::new(0u64);
    let t0 = Instant::now();
    for _ in 0..N {
        *std::hint::black_box(m.lock()) += 1;
    }
    let pl = per(t0);
    let cold = memcpy(256 << 20);
    vec![
        ("lock.ns".into(), mp),
        ("lock.std_ns".into(), st),
        ("lock.parking_lot_ns".into(), pl),
        ("memcpy.gib_s".into(), memcpy(1 << 20)),
        ("memcpy.cold_gib_s".into(), cold),
        // The same, as 1 MiB items per second, beside the 1 MiB rows.
        ("memcpy.cold_items_s".into(), cold * 1024.0),
    ]
}

/// GiB/s of 1 MiB copies whose sources walk through `span` bytes: 1 MiB copies one block
/// again and again (the caches' bandwidth), 256 MiB reads every block from DRAM (cold: what a
/// 1 MiB item read by another process costs).
fn memcpy(span: usize) -> f64 {
    const BLOCK: usize = 1 << 20;
    let src = vec![1u8; span];
    let mut dst = vec![0u8; BLOCK];
    let blocks = 512;
    let mut at = 0;
    let t0 = Instant::now();
    for _ in 0..blocks {
        dst.copy_from_slice(std::hint::black_box(&src[at..at + BLOCK]));
        std::hint::black_box(&dst);
        at = (at + BLOCK) % span;
    }
    blocks as f64 / 1024.0 / t0.elapsed().as_secs_f64()
}
