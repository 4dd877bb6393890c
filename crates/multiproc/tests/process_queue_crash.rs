//! Process queues when a producer or a consumer is killed with SIGKILL in the middle of a
//! message: the others never read a half message, never wedge, and keep their order.

mod common;

use std::time::Duration;

use common::{eventually, pattern, watchdog};
use multiproc::process::{Process, Queue};
use multiproc::queue::process::Builder;
use multiproc::shared::Shared;
use multiproc::sync::Event;

const BIG: usize = 64 << 20;

fn signal(pid: u32, sig: i32) {
    // SAFETY: plain kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

/// The process state letter from /proc (R, S, T, Z, ...).
fn state(pid: u32) -> char {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()?
                .split_whitespace()
                .next()?
                .chars()
                .next()
        })
        .unwrap_or('?')
}

/// Starts a producer that puts one `BIG` message into `q` (a small ring, no reader), waits
/// until it is blocked on the full ring (so the message's first records are in the ring, the
/// rest still to come), and freezes it there with SIGSTOP.
fn frozen_mid_put(q: &Queue<Vec<u8>>, then_markers: u64) -> Process<()> {
    let started = Shared::new(Event::new()).unwrap();
    let mut producer = Process::new(
        |(q, started, markers): (Queue<Vec<u8>>, Shared<Event>, u64)| {
            started.set();
            q.put(pattern(1, BIG)).unwrap();
            for i in 0..markers {
                q.put(pattern(100 + i, 1000 + i as usize)).unwrap();
            }
        },
        (q.clone(), started.clone(), then_markers),
    );
    producer.start().unwrap();
    assert!(started.wait_timeout(Duration::from_secs(30)));
    let pid = producer.pid().unwrap();
    // After `started`, its only sleep is the wait for ring space.
    assert!(
        eventually(30, || state(pid) == 'S'),
        "producer never blocked"
    );
    signal(pid, libc::SIGSTOP);
    assert!(eventually(30, || state(pid) == 'T'));
    producer
}

/// A consumer killed in the middle of streaming a message out: the rest of that message is
/// skipped by the next reader, the producer (blocked on the full ring meanwhile) finishes,
/// and every later message arrives whole and in order.
#[test]
fn killed_consumer_mid_message_neither_corrupts_nor_wedges() {
    watchdog(120, || {
        let q: Queue<Vec<u8>> = Builder::new().capacity(64 << 10).queue().unwrap();
        let mut producer = frozen_mid_put(&q, 50);
        let reading = Shared::new(Event::new()).unwrap();
        let mut consumer = Process::new(
            |(q, reading): (Queue<Vec<u8>>, Shared<Event>)| -> () {
                reading.set();
                let _ = q.get();
                unreachable!("the producer is frozen mid-message");
            },
            (q.clone(), reading.clone()),
        );
        consumer.start().unwrap();
        assert!(reading.wait_timeout(Duration::from_secs(30)));
        // It reads what the ring holds, then sleeps in the middle of the message.
        let cpid = consumer.pid().unwrap();
        assert!(eventually(30, || state(cpid) == 'S'));
        consumer.kill().unwrap();
        let _ = consumer.join();
        signal(producer.pid().unwrap(), libc::SIGCONT);
        // The big message's head died with the consumer; its tail is skipped, and the
        // producer, unblocked by that, delivers the rest intact and in order.
        for i in 0..50 {
            let v = q.get_timeout(Duration::from_secs(30)).expect("not wedged");
            assert_ne!(
                v.len(),
                BIG,
                "the rest of a half-read message was delivered"
            );
            assert_eq!(v, pattern(100 + i, 1000 + i as usize));
        }
        producer.join().unwrap();
        assert!(q.empty());
    });
}

/// A producer killed in the middle of a streamed put: a reader already inside that message
/// notices within its 100 ms check, drops the half it has (a `get_timeout` then times out
/// instead of hanging or returning half a message), and the next producer takes the dead
/// one's lock over.
#[test]
fn killed_producer_mid_put_leaves_no_half_message() {
    watchdog(120, || {
        let q: Queue<Vec<u8>> = Builder::new().capacity(64 << 10).queue().unwrap();
        let mut producer = frozen_mid_put(&q, 0);
        let reader = {
            let q = q.clone();
            std::thread::spawn(move || q.get_timeout(Duration::from_secs(2)))
        };
        producer.kill().unwrap();
        let _ = producer.join();
        match reader.join().unwrap() {
            Err(multiproc::GetError::Empty) => {}
            Ok(v) => panic!("a half message was delivered ({} bytes)", v.len()),
            Err(e) => panic!("{e}"),
        }
        q.put(b"after".to_vec()).unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(30)).unwrap(), b"after");
        assert!(q.empty());
        // The queue goes on working, streamed messages included.
        let q2 = q.clone();
        let writer = std::thread::spawn(move || q2.put(vec![9; 300_000]).unwrap());
        assert_eq!(q.get().unwrap(), vec![9; 300_000]);
        writer.join().unwrap();
    });
}

/// The next producer takes the lock of a producer killed mid-put over, ending its message.
#[test]
fn next_producer_recovers_the_lock_of_one_killed_mid_put() {
    watchdog(120, || {
        let q: Queue<Vec<u8>> = Builder::new().capacity(64 << 10).queue().unwrap();
        let mut producer = frozen_mid_put(&q, 0);
        producer.kill().unwrap();
        let _ = producer.join();
        // No reader was inside the message: the put lock is taken over by this put, which
        // waits for a reader to clear the abandoned records out of the full ring.
        let q2 = q.clone();
        let writer = std::thread::spawn(move || q2.put(b"after".to_vec()).unwrap());
        let v = q.get_timeout(Duration::from_secs(30)).unwrap();
        writer.join().unwrap();
        assert_eq!(v, b"after", "{} bytes", v.len());
        assert!(q.empty());
    });
}
/// Producers killed while blocked on a full queue (holding or waiting for the put lock):
/// other producers carry on.
#[test]
fn killed_blocked_producers_do_not_block_others() {
    watchdog(120, || {
        let q: Queue<u64> = Queue::new(2).unwrap();
        q.put(0).unwrap();
        q.put(1).unwrap();
        let mut blocked: Vec<_> = (0..2)
            .map(|i| {
                let mut p = Process::new(
                    |(q, i): (Queue<u64>, u64)| q.put(100 + i).unwrap(),
                    (q.clone(), i),
                );
                p.start().unwrap();
                p
            })
            .collect();
        for p in &blocked {
            let pid = p.pid().unwrap();
            assert!(eventually(30, || state(pid) == 'S'));
        }
        for p in &mut blocked {
            p.kill().unwrap();
            let _ = p.join();
        }
        assert_eq!(q.get().unwrap(), 0);
        assert_eq!(q.get().unwrap(), 1);
        // Nothing from the killed producers was half written; the next put goes through.
        q.put_timeout(2, Duration::from_secs(30)).unwrap();
        assert_eq!(q.get_nowait().unwrap(), 2);
        assert!(q.empty());
    });
}

// ------------------------------------------------------------------ the biased side locks

/// Starts `owner`, waits until it has set `started` and then sleeps (blocked inside a queue
/// call), and SIGKILLs it.
fn kill_once_asleep(mut owner: Process<()>, started: &Shared<Event>) {
    owner.start().unwrap();
    assert!(started.wait_timeout(Duration::from_secs(30)));
    let pid = owner.pid().unwrap();
    assert!(eventually(30, || state(pid) == 'S'), "owner never blocked");
    owner.kill().unwrap();
    let _ = owner.join();
}

/// A producer that holds its queue's put side through the bias (its second put onwards takes
/// no lock) is killed while blocked inside a put on a full queue: another producer takes the
/// side over (the dead owner's `busy` mark is recognised) and the queue goes on in order.
#[test]
fn killed_bias_owner_blocked_inside_is_taken_over() {
    watchdog(120, || {
        let q: Queue<u64> = Queue::new(2).unwrap();
        let started = Shared::new(Event::new()).unwrap();
        let owner = Process::new(
            |(q, started): (Queue<u64>, Shared<Event>)| {
                q.put(0).unwrap(); // takes the bias (the slow way)
                q.put(1).unwrap(); // through the bias: the queue is now full
                started.set();
                q.put(2).unwrap(); // blocks inside, through the bias
            },
            (q.clone(), started.clone()),
        );
        kill_once_asleep(owner, &started);
        // Another producer, in this process, while the queue is still full: it must wait for
        // room, not for the dead owner.
        let q2 = q.clone();
        let writer = std::thread::spawn(move || q2.put_timeout(3, Duration::from_secs(30)));
        assert_eq!(q.get_timeout(Duration::from_secs(30)).unwrap(), 0);
        writer.join().unwrap().unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(30)).unwrap(), 1);
        assert_eq!(q.get_timeout(Duration::from_secs(30)).unwrap(), 3);
        assert!(q.empty());
        // And the side keeps working for several threads at once.
        let q3 = q.clone();
        let w = std::thread::spawn(move || (10..1010).for_each(|i| q3.put(i).unwrap()));
        let mut got: Vec<u64> = (0..1000).map(|_| q.get().unwrap()).collect();
        w.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, (10..1010).collect::<Vec<_>>());
    });
}

/// The consumer side too: a consumer holding the get side through the bias, killed while
/// blocked inside a get on an empty queue, does not keep the next consumer out.
#[test]
fn killed_bias_owner_blocked_in_get_is_taken_over() {
    watchdog(120, || {
        let q: Queue<u64> = Queue::new(0).unwrap();
        q.put(7).unwrap();
        let started = Shared::new(Event::new()).unwrap();
        let owner = Process::new(
            |(q, started): (Queue<u64>, Shared<Event>)| {
                assert_eq!(q.get().unwrap(), 7); // takes the bias
                started.set();
                let _ = q.get(); // blocks inside, through the bias
            },
            (q.clone(), started.clone()),
        );
        kill_once_asleep(owner, &started);
        q.put(8).unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(30)).unwrap(), 8);
        assert!(q.empty());
    });
}
