//! The threading experiments. Each one is an example of the library
//! (`crates/multiproc/examples/`), compiled in here so the tour runs exactly the code that
//! `cargo run --example` runs and the tests check.

use std::time::Duration;

use super::{Tour, secs};

macro_rules! example {
    ($name:ident, $path:literal) => {
        #[allow(dead_code)]
        #[path = $path]
        mod $name;
    };
}

example!(
    bounded_semaphore,
    "../../../multiproc/examples/bounded_semaphore.rs"
);
example!(counter_race, "../../../multiproc/examples/counter_race.rs");
example!(
    daemon_threads,
    "../../../multiproc/examples/daemon_threads.rs"
);
example!(deadlock, "../../../multiproc/examples/deadlock.rs");
example!(event_gate, "../../../multiproc/examples/event_gate.rs");
example!(interleave, "../../../multiproc/examples/interleave.rs");
example!(join_timing, "../../../multiproc/examples/join_timing.rs");
example!(active_count, "../../../multiproc/examples/active_count.rs");
example!(lock_print, "../../../multiproc/examples/lock_print.rs");
example!(
    queue_thread_limiter,
    "../../../multiproc/examples/queue_thread_limiter.rs"
);
example!(
    rlock_nesting,
    "../../../multiproc/examples/rlock_nesting.rs"
);
example!(shared_data, "../../../multiproc/examples/shared_data.rs");
example!(
    sleep_serial_vs_threads,
    "../../../multiproc/examples/sleep_serial_vs_threads.rs"
);
example!(
    thread_subclass,
    "../../../multiproc/examples/thread_subclass.rs"
);

pub fn run(t: &mut Tour) {
    t.start("10 sleeps of 0.20 s", "线程的调度与优化");
    let nap = Duration::from_millis(200);

    let (serial, _) = sleep_serial_vs_threads::serial(10, nap);
    let (threaded, _) = sleep_serial_vs_threads::threaded(10, nap);
    t.done(
        format!("serial {}, 10 threads {}", secs(serial), secs(threaded)),
        "sleeping (like I/O) does not hold the CPU, so threads overlap it",
    );

    t.start(
        "20 threads of 0.05 s: join() inside the start loop vs after starting all",
        "join()",
    );
    let short = Duration::from_millis(50);
    let in_loop = join_timing::join_in_loop(20, short);
    let after = join_timing::join_after_all_started(20, short);
    t.done(
        format!(
            "join in loop {}, join after all {}",
            secs(in_loop),
            secs(after)
        ),
        "join() blocks the caller; joining in the loop makes the threads run one after another",
    );

    t.start(
        "LoopThread(name='loop_thread'), a Thread subclass",
        "实现一个线程",
    );
    let lines = thread_subclass::run(Duration::from_millis(10));
    t.done(
        format!("{} lines, first '{}'", lines.len() - 1, lines[1]),
        "a type implementing Run is Python's Thread subclass with run() overridden",
    );

    t.start("2 threads × 1,000,000 `global_num += 1`", "python GIL");
    let per = 1_000_000;
    let racy = counter_race::two_threads(per, false);
    let locked = counter_race::two_threads(per, true);
    t.done(
        format!(
            "no lock: {racy} ({} updates lost), with Lock: {locked}",
            2 * per - racy
        ),
        "read-modify-write is not atomic; a Lock makes the total exact",
    );
    t.start("100 threads each `number += 1` under a Lock", "互斥锁");
    t.done(
        format!("number = {}", counter_race::hundred_threads_with_lock()),
        "a Lock serialises the critical section",
    );

    t.start(
        "num += n; sleep; num -= n; print(num) in 2 threads",
        "多线程并发 / 多线程中的锁",
    );
    let racy = interleave::run(3, Duration::from_millis(20), false);
    let locked = interleave::run(3, Duration::from_millis(20), true);
    t.done(
        format!("no lock printed {racy:?}, with Lock printed {locked:?}"),
        "without a lock threads see each other's half-done updates",
    );

    t.start("lock.acquire() twice in one thread", "产生死锁");
    let d = deadlock::run(Duration::from_millis(200));
    t.done(
        format!(
            "Lock: second acquire gave up after {} (would hang); RLock: re-acquired = {}",
            secs(d.waited),
            d.rlock_reacquired
        ),
        "a Lock is not re-entrant; acquire_timeout turns the deadlock into an answer",
    );

    t.start("run3 → run1 + run2 under one RLock, 10 threads", "递归锁");
    let ((num, num2), _) = rlock_nesting::run(10);
    t.done(
        format!("num = {num}, num2 = {num2}"),
        "an RLock can be taken again by the thread that holds it",
    );

    t.start(
        "BoundedSemaphore(5) over 20 threads holding 0.10 s",
        "信号量",
    );
    let s = bounded_semaphore::run(5, 20, Duration::from_millis(100));
    t.done(
        format!(
            "{} ran, at most {} at once, {}",
            s.ran,
            s.max_inside,
            secs(s.elapsed)
        ),
        "a semaphore admits at most N holders; 20 × 0.1 s / 5 ≈ 0.4 s",
    );

    t.start("10 threads wait on one Event", "Event");
    let gate = event_gate::start(10);
    let held = !gate.event.wait_timeout(Duration::from_millis(100));
    let passed_before = gate.ended.load(std::sync::atomic::Ordering::SeqCst);
    gate.event.set();
    for t in gate.threads {
        let _ = t.join();
    }
    t.done(
        format!(
            "held for 0.10 s: {held}, passed before set(): {passed_before}, after set(): {}",
            gate.ended.load(std::sync::atomic::Ordering::SeqCst)
        ),
        "Event.wait() blocks until set(); set() releases every waiter",
    );

    t.start(
        "active_count() with one thread started",
        "查看当前进程的活动线程个数",
    );
    let a = active_count::run();
    t.done(
        format!(
            "before {}, while running {}; child {:?}, caller {:?}",
            a.active_before, a.active_while_running, a.in_child, a.in_caller
        ),
        "enumerate()/active_count() list the live threads, the main thread included",
    );

    t.start(
        "50 daemon threads sleeping 2 s + 1 ordinary thread sleeping 0.1 s",
        "守护线程",
    );
    let waited = daemon_threads::run(50, Duration::from_secs(2), Duration::from_millis(100));
    t.done(
        format!("shutdown() waited {}", secs(waited)),
        "at exit, ordinary threads are waited for, daemon threads are abandoned",
    );

    t.start(
        "two myThread objects print 3 lines each under threadLock",
        "同步",
    );
    let lines = lock_print::run(Duration::from_millis(20));
    let ticks: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("tick"))
        .map(|l| l.split(':').next().unwrap_or(""))
        .collect();
    t.done(
        format!("print order: {}", ticks.join(" ")),
        "holding the lock keeps each thread's lines together",
    );

    t.start("a thread does n -= 1 on n = 100", "数据隔离性测试");
    let (n, in_thread, in_main) = shared_data::run();
    t.done(
        format!("main sees n = {n}; pid in thread {in_thread}, in main {in_main}"),
        "threads share their process's memory and pid",
    );

    t.start(
        "30 tasks through a queue.Queue of 5 thread tokens",
        "线程池 简单实现",
    );
    let (done, max) = queue_thread_limiter::run(5, 30, Duration::from_millis(50));
    t.done(
        format!("{done} tasks, at most {max} running at once"),
        "a queue of tokens bounds how many threads run",
    );
}
