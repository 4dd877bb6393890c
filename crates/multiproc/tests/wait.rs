//! `connection::wait` over connections, process sentinels and process queues together:
//! level-triggered readiness, timeouts as lower bounds, queues filled from other threads and
//! processes, a streamed message that must wake the waiter before it is complete, no helper
//! thread left behind, and a poller killed while waiting.

mod common;

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use common::{eventually, watchdog};
use multiproc::connection::{Pipe, Waitable, wait};
use multiproc::process::{JoinableQueue, Process, Queue, SimpleQueue};
use multiproc::queue::process::Builder;
use multiproc::shared::Shared;
use multiproc::sync::Event;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn nothing_ready_times_out_after_at_least_the_timeout() {
    watchdog(60, || {
        let (a, _b) = Pipe(true).unwrap();
        let q: Queue<u32> = Queue::new(0).unwrap();
        let q2: SimpleQueue<u32> = SimpleQueue::new().unwrap();
        for objects in [
            vec![Waitable::from(&a), Waitable::from(&q)],
            vec![Waitable::from(&q)],
            vec![Waitable::from(&q), Waitable::from(&q2)],
        ] {
            let t0 = Instant::now();
            let ready = wait(&objects, Some(Duration::from_millis(150))).unwrap();
            assert!(ready.is_empty(), "{ready:?}");
            assert!(t0.elapsed() >= Duration::from_millis(150));
        }
        // Zero timeout: a poll.
        assert!(
            wait(&[Waitable::from(&q)], Some(Duration::ZERO))
                .unwrap()
                .is_empty()
        );
    });
}

#[test]
fn ready_is_level_triggered_and_in_order() {
    watchdog(60, || {
        let (a, mut b) = Pipe(true).unwrap();
        let q: Queue<u32> = Queue::new(0).unwrap();
        let j: JoinableQueue<u32> = JoinableQueue::new(0).unwrap();
        let objs = [Waitable::from(&j), Waitable::from(&a), Waitable::from(&q)];
        q.put(1).unwrap();
        b.send(&5u8).unwrap();
        for _ in 0..3 {
            // Nothing consumed: still ready, every time.
            assert_eq!(wait(&objs, Some(Duration::from_secs(5))).unwrap(), [1, 2]);
        }
        assert_eq!(q.get().unwrap(), 1);
        assert_eq!(wait(&objs, Some(Duration::from_secs(5))).unwrap(), [1]);
        j.put(9).unwrap();
        assert_eq!(wait(&objs, None).unwrap(), [0, 1]);
        // The old form, a slice of descriptors, still works.
        assert_eq!(
            wait(&[a.as_fd()], Some(Duration::from_secs(5))).unwrap(),
            [0]
        );
    });
}

#[test]
fn wakes_for_a_queue_filled_by_another_process_among_connections_and_sentinels() {
    watchdog(120, || {
        let (a, _b) = Pipe(true).unwrap();
        let q: Queue<String> = Queue::new(0).unwrap();
        let other: Queue<u8> = Queue::new(0).unwrap();
        let go = Shared::new(Event::new()).unwrap();
        let mut child = Process::new(
            |(q, go): (Queue<String>, Shared<Event>)| {
                assert!(go.wait_timeout(Duration::from_secs(60)));
                q.put("from the child".into()).unwrap();
            },
            (q.clone(), go.clone()),
        );
        child.start().unwrap();
        let before = threads();
        let waiter = std::thread::spawn({
            let (q, other) = (q.clone(), other.clone());
            let a = a;
            move || {
                let objs = [
                    Waitable::from(&a),
                    Waitable::from(&other),
                    Waitable::from(&q),
                ];
                wait(&objs, Some(Duration::from_secs(60))).unwrap()
            }
        });
        go.set();
        assert_eq!(waiter.join().unwrap(), [2]);
        assert_eq!(q.get().unwrap(), "from the child");
        // Then the child's sentinel.
        let sentinel = child.sentinel().unwrap();
        let ready = wait(
            &[Waitable::from(sentinel), Waitable::from(&q)],
            Some(Duration::from_secs(60)),
        )
        .unwrap();
        assert_eq!(ready, [0]);
        child.join().unwrap();
        assert!(
            eventually(10, || threads() <= before),
            "the helper threads end with the wait"
        );
    });
}

#[test]
fn a_streamed_message_wakes_the_waiter_before_it_is_complete() {
    watchdog(60, || {
        // 1 MiB through a 64 KiB ring: the producer blocks until someone reads, so a wait
        // that only woke for whole messages would never return.
        let q: Queue<Vec<u8>> = Builder::new().capacity(64 << 10).queue().unwrap();
        let producer = std::thread::spawn({
            let q = q.clone();
            move || q.put(vec![7u8; 1 << 20]).unwrap()
        });
        let (_a, b) = Pipe(true).unwrap();
        let ready = wait(
            &[Waitable::from(&b), Waitable::from(&q)],
            Some(Duration::from_secs(30)),
        )
        .unwrap();
        assert_eq!(ready, [1]);
        assert_eq!(q.get().unwrap().len(), 1 << 20);
        producer.join().unwrap();
    });
}

#[test]
fn a_poller_killed_while_waiting_leaves_the_queue_working() {
    watchdog(60, || {
        let q: Queue<u64> = Queue::new(0).unwrap();
        let waiting = Shared::new(Event::new()).unwrap();
        let mut poller = Process::new(
            |(q, waiting): (Queue<u64>, Shared<Event>)| {
                waiting.set();
                let _ = wait(&[Waitable::from(&q)], None);
            },
            (q.clone(), waiting.clone()),
        );
        poller.start().unwrap();
        assert!(waiting.wait_timeout(Duration::from_secs(30)));
        poller.kill().unwrap();
        let _ = poller.join();
        for i in 0..10_000 {
            q.put(i).unwrap();
            assert_eq!(q.get().unwrap(), i);
        }
        q.put(1).unwrap();
        assert_eq!(
            wait(&[Waitable::from(&q)], Some(Duration::from_secs(5))).unwrap(),
            [0]
        );
    });
}
