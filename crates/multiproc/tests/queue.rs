//! Thread queues, after CPython's `test_queue`: one body over `Queue`, `LifoQueue` and
//! `PriorityQueue`, then order-specific and load tests.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::watchdog;
use multiproc::queue::{LifoQueue, PriorityQueue, Queue, SimpleQueue};
use multiproc::sync::Event;
use multiproc::{Empty, Full, TaskDoneError, Timeout};

const SHORT: Duration = Duration::from_millis(60);

/// The Python queue API, so one test body can drive every queue type.
trait PyQueue: Send + Sync + 'static {
    fn make(maxsize: usize) -> Self;
    fn put(&self, v: u64);
    fn put_nowait(&self, v: u64) -> Result<(), Full<u64>>;
    fn put_timeout(&self, v: u64, t: Duration) -> Result<(), Full<u64>>;
    fn get(&self) -> u64;
    fn get_nowait(&self) -> Result<u64, Empty>;
    fn get_timeout(&self, t: Duration) -> Result<u64, Empty>;
    fn qsize(&self) -> usize;
    fn empty(&self) -> bool;
    fn full(&self) -> bool;
    fn task_done(&self) -> Result<(), TaskDoneError>;
    fn join(&self);
    fn join_timeout(&self, t: Duration) -> Result<(), Timeout>;
}

macro_rules! py_queue {
    ($($ty:ident),*) => {$(
        impl PyQueue for $ty<u64> {
            fn make(maxsize: usize) -> Self { $ty::new(maxsize) }
            fn put(&self, v: u64) { $ty::put(self, v) }
            fn put_nowait(&self, v: u64) -> Result<(), Full<u64>> { $ty::put_nowait(self, v) }
            fn put_timeout(&self, v: u64, t: Duration) -> Result<(), Full<u64>> { $ty::put_timeout(self, v, t) }
            fn get(&self) -> u64 { $ty::get(self) }
            fn get_nowait(&self) -> Result<u64, Empty> { $ty::get_nowait(self) }
            fn get_timeout(&self, t: Duration) -> Result<u64, Empty> { $ty::get_timeout(self, t) }
            fn qsize(&self) -> usize { $ty::qsize(self) }
            fn empty(&self) -> bool { $ty::empty(self) }
            fn full(&self) -> bool { $ty::full(self) }
            fn task_done(&self) -> Result<(), TaskDoneError> { $ty::task_done(self) }
            fn join(&self) { $ty::join(self) }
            fn join_timeout(&self, t: Duration) -> Result<(), Timeout> { $ty::join_timeout(self, t) }
        }
    )*};
}
py_queue!(Queue, LifoQueue, PriorityQueue);

/// The seed's `Queue(3)`: qsize, put, get, and get_nowait failing on empty.
fn basic<Q: PyQueue>() {
    let q = Q::make(3);
    assert!(q.empty());
    assert_eq!(q.qsize(), 0);
    q.put(111);
    q.put(333);
    q.put(222);
    assert_eq!(q.qsize(), 3);
    assert!(q.full());
    assert_eq!(
        q.put_nowait(444),
        Err(Full(444)),
        "the refused item comes back"
    );
    let mut got = vec![q.get(), q.get(), q.get()];
    got.sort();
    assert_eq!(got, [111, 222, 333]);
    assert!(q.empty());
    assert_eq!(q.get_nowait(), Err(Empty));
}

fn timeouts_wait_at_least<Q: PyQueue>() {
    let q = Q::make(1);
    let t0 = Instant::now();
    assert_eq!(q.get_timeout(SHORT), Err(Empty));
    assert!(t0.elapsed() >= SHORT);
    q.put(1);
    let t0 = Instant::now();
    assert_eq!(q.put_timeout(2, SHORT), Err(Full(2)));
    assert!(t0.elapsed() >= SHORT);
    assert_eq!(q.qsize(), 1);
}

/// A put blocked on a full queue proceeds once a get makes room (test_put_blocking).
fn blocking_put_unblocks<Q: PyQueue>() {
    let q = Arc::new(Q::make(1));
    q.put(1);
    let done = Arc::new(Event::new());
    let t = {
        let (q, done) = (q.clone(), done.clone());
        std::thread::spawn(move || {
            q.put(2);
            done.set();
        })
    };
    assert!(!done.wait_timeout(SHORT), "put returned on a full queue");
    assert_eq!(q.get(), 1);
    assert!(done.wait_timeout(Duration::from_secs(10)));
    t.join().unwrap();
    assert_eq!(q.get(), 2);
}

/// A get blocked on an empty queue proceeds once an item is put.
fn blocking_get_unblocks<Q: PyQueue>() {
    let q = Arc::new(Q::make(0));
    let done = Arc::new(Event::new());
    let (q2, done2) = (q.clone(), done.clone());
    let t = std::thread::spawn(move || {
        let v = q2.get();
        done2.set();
        v
    });
    assert!(!done.wait_timeout(SHORT), "get returned on an empty queue");
    q.put(9);
    assert_eq!(t.join().unwrap(), 9);
}

/// test_task_done / join.
fn task_done_and_join<Q: PyQueue>() {
    let q = Arc::new(Q::make(0));
    assert_eq!(q.task_done(), Err(TaskDoneError));
    for i in 0..10 {
        q.put(i);
    }
    assert_eq!(
        q.join_timeout(SHORT),
        Err(Timeout),
        "join returned with tasks pending"
    );
    let q2 = q.clone();
    let worker = std::thread::spawn(move || {
        for _ in 0..10 {
            q2.get();
            q2.task_done().unwrap();
        }
    });
    q.join();
    worker.join().unwrap();
    assert_eq!(
        q.task_done(),
        Err(TaskDoneError),
        "more task_done than items"
    );
    // A refused put_nowait does not count as a task.
    let bounded = Q::make(1);
    bounded.put(1);
    assert!(bounded.put_nowait(2).is_err());
    bounded.get();
    bounded.task_done().unwrap();
    bounded.join_timeout(Duration::from_secs(1)).unwrap();
}

/// Exactly-once delivery under load: 4 producers × 25,000 into 4 consumers through maxsize 8.
fn mpmc_exactly_once<Q: PyQueue>() {
    const P: u64 = 4;
    const PER: u64 = 25_000;
    let q = Arc::new(Q::make(8));
    let sum = Arc::new(AtomicU64::new(0));
    let count = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..P)
        .map(|p| {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    q.put(p * PER + i + 1);
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let (q, sum, count) = (q.clone(), sum.clone(), count.clone());
            std::thread::spawn(move || {
                loop {
                    let v = q.get();
                    q.task_done().unwrap();
                    if v == 0 {
                        return;
                    }
                    sum.fetch_add(v, Ordering::Relaxed);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.join();
    for _ in 0..4 {
        q.put(0);
    }
    for c in consumers {
        c.join().unwrap();
    }
    let n = P * PER;
    assert_eq!(count.load(Ordering::Relaxed), n);
    assert_eq!(sum.load(Ordering::Relaxed), n * (n + 1) / 2);
}

macro_rules! queue_tests {
    ($($mod:ident => $ty:ty),*) => {$(
        mod $mod {
            use super::*;
            #[test] fn basic() { watchdog(10, super::basic::<$ty>) }
            #[test] fn timeouts_wait_at_least() { watchdog(10, super::timeouts_wait_at_least::<$ty>) }
            #[test] fn blocking_put_unblocks() { watchdog(10, super::blocking_put_unblocks::<$ty>) }
            #[test] fn blocking_get_unblocks() { watchdog(10, super::blocking_get_unblocks::<$ty>) }
            #[test] fn task_done_and_join() { watchdog(10, super::task_done_and_join::<$ty>) }
            #[test] fn mpmc_exactly_once() { watchdog(120, super::mpmc_exactly_once::<$ty>) }
        }
    )*};
}

queue_tests!(fifo => Queue<u64>, lifo => LifoQueue<u64>, priority => PriorityQueue<u64>);

#[test]
fn orders() {
    let f = Queue::new(0);
    let l = LifoQueue::new(0);
    let p = PriorityQueue::new(0);
    for v in [3, 1, 2] {
        f.put(v);
        l.put(v);
        p.put(v);
    }
    assert_eq!([f.get(), f.get(), f.get()], [3, 1, 2]);
    assert_eq!([l.get(), l.get(), l.get()], [2, 1, 3]);
    assert_eq!([p.get(), p.get(), p.get()], [1, 2, 3]);
}

#[test]
fn unbounded_never_full() {
    let q = Queue::new(0);
    for i in 0..10_000 {
        q.put_nowait(i).unwrap();
    }
    assert!(!q.full());
    assert_eq!(q.maxsize(), 0);
    assert_eq!(q.qsize(), 10_000);
}

#[test]
fn simple_queue() {
    watchdog(10, || {
        let q = Arc::new(SimpleQueue::new());
        assert_eq!(q.get_nowait(), Err(Empty));
        let t0 = Instant::now();
        assert_eq!(q.get_timeout(SHORT), Err(Empty));
        assert!(t0.elapsed() >= SHORT);
        let q2 = q.clone();
        let t = std::thread::spawn(move || (q2.get(), q2.get()));
        q.put("a");
        q.put("b");
        assert_eq!(t.join().unwrap(), ("a", "b"));
        assert!(q.empty());
    })
}
