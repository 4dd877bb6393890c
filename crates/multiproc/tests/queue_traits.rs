//! Every queue of the crate speaks one vocabulary (`Put`, `Get`, `Size`, `Tasks`): the same
//! generic checks, after CPython's `test_queue.BaseQueueTestMixin`, run on thread and process
//! queues alike.

mod common;

use std::time::Duration;

use common::watchdog;
use multiproc::process;
use multiproc::queue::{Get, LifoQueue, PriorityQueue, Put, Queue, SimpleQueue, Tasks};
use multiproc::{GetError, PutError};

/// A bounded queue of 2, empty: fills it, sees Full with the item back, drains it, sees Empty.
fn bounded(q: &(impl Put<u32> + Get<u32>), name: &str) {
    assert!(q.empty() && !q.full() && q.maxsize() == 2, "{name}");
    q.put(1).unwrap();
    q.put_timeout(2, Duration::from_millis(10)).unwrap();
    assert!(q.full() && q.qsize() == 2, "{name}");
    assert!(matches!(q.put_nowait(3), Err(PutError::Full(3))), "{name}");
    assert!(
        matches!(
            q.put_timeout(4, Duration::from_millis(10)),
            Err(PutError::Full(4))
        ),
        "{name}"
    );
    let mut got = vec![q.get().unwrap(), q.get_nowait().unwrap()];
    got.sort();
    assert_eq!(got, [1, 2], "{name}");
    assert!(matches!(q.get_nowait(), Err(GetError::Empty)), "{name}");
    assert!(
        matches!(
            q.get_timeout(Duration::from_millis(10)),
            Err(GetError::Empty)
        ),
        "{name}"
    );
}

fn unbounded(q: &(impl Put<u32> + Get<u32>), name: &str) {
    assert!(q.empty() && !q.full() && q.maxsize() == 0, "{name}");
    for i in 0..100 {
        q.put_nowait(i).unwrap();
    }
    assert_eq!(q.qsize(), 100, "{name}");
    let got: u32 = (0..100)
        .map(|_| q.get_timeout(Duration::from_secs(5)).unwrap())
        .sum();
    assert_eq!(got, 4950, "{name}");
    assert!(matches!(q.get_nowait(), Err(GetError::Empty)), "{name}");
}

fn tasks(q: &(impl Put<u32> + Get<u32> + Tasks), name: &str) {
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert_eq!(q.unfinished_tasks(), 2, "{name}");
    q.get().unwrap();
    q.task_done().unwrap();
    assert!(q.join_timeout(Duration::from_millis(10)).is_err(), "{name}");
    q.get().unwrap();
    q.task_done().unwrap();
    q.join();
    assert!(q.task_done().is_err(), "{name}: one task_done too many");
}

#[test]
fn every_queue_speaks_the_same_vocabulary() {
    watchdog(60, || {
        bounded(&Queue::new(2), "Queue");
        bounded(&LifoQueue::new(2), "LifoQueue");
        bounded(&PriorityQueue::new(2), "PriorityQueue");
        bounded(&process::Queue::new(2).unwrap(), "process::Queue");
        bounded(
            &process::JoinableQueue::new(2).unwrap(),
            "process::JoinableQueue",
        );
        unbounded(&Queue::new(0), "Queue(0)");
        unbounded(&SimpleQueue::new(), "SimpleQueue");
        unbounded(&process::Queue::new(0).unwrap(), "process::Queue(0)");
        unbounded(
            &process::SimpleQueue::new().unwrap(),
            "process::SimpleQueue",
        );
        tasks(&Queue::new(0), "Queue");
        tasks(&LifoQueue::new(0), "LifoQueue");
        tasks(&PriorityQueue::new(0), "PriorityQueue");
        tasks(
            &process::JoinableQueue::new(0).unwrap(),
            "process::JoinableQueue",
        );
    });
}
