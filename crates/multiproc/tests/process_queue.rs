//! Process queues (`multiprocessing.Queue`, `SimpleQueue`, `JoinableQueue`), after CPython's
//! `_test_multiprocessing` `_TestQueue`/`_TestSimpleQueue`, plus exactly-once load tests
//! between processes, large messages, and bad input.

mod common;

use std::time::{Duration, Instant};

use common::{each_method, pattern, watchdog};
use multiproc::connection::Pipe;
use multiproc::process::{JoinableQueue, Process, Queue, SimpleQueue};
use multiproc::queue::process::Builder;
use multiproc::{GetError, PutError};

#[test]
fn fifo_qsize_empty_full_as_python() {
    watchdog(30, || {
        let q: Queue<u32> = Queue::new(3).unwrap();
        assert!(q.empty());
        assert!(!q.full());
        assert_eq!(q.maxsize(), 3);
        for i in 0..3 {
            q.put(i).unwrap();
        }
        assert_eq!(q.qsize(), 3);
        assert!(q.full());
        match q.put_nowait(99) {
            Err(PutError::Full(item)) => assert_eq!(item, 99, "the item comes back"),
            other => panic!("{other:?}"),
        }
        for i in 0..3 {
            assert_eq!(q.get().unwrap(), i);
        }
        assert!(q.empty());
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
    });
}

#[test]
fn timeouts_wait_at_least_their_time() {
    watchdog(30, || {
        let q: Queue<u8> = Queue::new(1).unwrap();
        let t0 = Instant::now();
        assert!(matches!(
            q.get_timeout(Duration::from_millis(200)),
            Err(GetError::Empty)
        ));
        assert!(t0.elapsed() >= Duration::from_millis(200));
        q.put(1).unwrap();
        let t0 = Instant::now();
        assert!(matches!(
            q.put_timeout(2, Duration::from_millis(200)),
            Err(PutError::Full(2))
        ));
        assert!(t0.elapsed() >= Duration::from_millis(200));
        assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), 1);
    });
}

#[test]
fn close_refuses_this_handle_only() {
    watchdog(30, || {
        let q: Queue<u8> = Queue::new(0).unwrap();
        let other = q.clone();
        q.put(7).unwrap();
        q.close();
        assert!(matches!(q.put(1), Err(PutError::Closed(1))));
        assert!(matches!(q.get(), Err(GetError::Closed)));
        assert_eq!(other.get().unwrap(), 7, "a put before close is delivered");
    });
}

#[test]
fn threads_share_a_queue_blocking_get_wakes() {
    watchdog(30, || {
        let q: Queue<String> = Queue::new(0).unwrap();
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.get().unwrap());
        // The getter may or may not be asleep yet; either way it must get the item.
        q.put("hello".to_string()).unwrap();
        assert_eq!(t.join().unwrap(), "hello");
    });
}

#[test]
fn blocked_put_proceeds_when_a_consumer_takes() {
    watchdog(30, || {
        let q: Queue<u64> = Queue::new(2).unwrap();
        q.put(1).unwrap();
        q.put(2).unwrap();
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.put(3).unwrap());
        assert_eq!(q.get().unwrap(), 1);
        t.join().unwrap();
        assert_eq!(q.get().unwrap(), 2);
        assert_eq!(q.get().unwrap(), 3);
    });
}

/// The seed: a child puts a list, the parent gets it; with every start method.
#[test]
fn child_puts_a_list_parent_gets_it() {
    each_method(|m| {
        let q: Queue<Vec<String>> = Queue::new(0).unwrap();
        let mut p = Process::builder().start_method(m).target(
            |q: Queue<Vec<String>>| {
                q.put(vec!["A".into(), "B".into(), "C".into()]).unwrap();
            },
            q.clone(),
        );
        p.start().unwrap();
        assert_eq!(
            q.get_timeout(Duration::from_secs(30)).unwrap(),
            ["A", "B", "C"]
        );
        p.join().unwrap();
    });
}

#[test]
fn a_put_that_returned_survives_the_producer_exiting_at_once() {
    // CPython's feeder thread can lose this (gh-85927); here the bytes are in shared memory.
    each_method(|m| {
        let q: Queue<Vec<u8>> = Queue::new(0).unwrap();
        let mut p = Process::builder().start_method(m).target(
            |q: Queue<Vec<u8>>| -> () {
                for i in 0..100u8 {
                    q.put(vec![i; 1000]).unwrap();
                }
                // Exit without any flush or join_thread.
                unsafe extern "C" {
                    fn _exit(code: i32) -> !;
                }
                // SAFETY: ends the process at once, as `os._exit` does.
                unsafe { _exit(0) }
            },
            q.clone(),
        );
        p.start().unwrap();
        let _ = p.join();
        for i in 0..100u8 {
            assert_eq!(q.get_nowait().unwrap(), vec![i; 1000]);
        }
        assert!(q.empty());
    });
}

#[test]
fn queue_travels_inside_a_connection_message() {
    watchdog(60, || {
        let q: Queue<u64> = Queue::new(0).unwrap();
        let (mut a, b) = Pipe(true).unwrap();
        let mut p = Process::new(
            |mut conn: multiproc::connection::Connection| {
                let q: Queue<u64> = conn.recv().unwrap();
                q.put(4242).unwrap();
            },
            b,
        );
        p.start().unwrap();
        a.send(&q).unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(30)).unwrap(), 4242);
        p.join().unwrap();
    });
}

#[test]
fn joinable_queue_task_done_and_join() {
    each_method(|m| {
        let q: JoinableQueue<u32> = JoinableQueue::new(0).unwrap();
        assert!(q.task_done().is_err(), "task_done() called too many times");
        let mut workers: Vec<_> = (0..2)
            .map(|_| {
                let mut p = Process::builder().start_method(m).target(
                    |q: JoinableQueue<u32>| {
                        let mut n = 0;
                        while let Ok(x) = q.get() {
                            if x == u32::MAX {
                                q.task_done().unwrap();
                                break;
                            }
                            n += x as u64;
                            q.task_done().unwrap();
                        }
                        n
                    },
                    q.clone(),
                );
                p.start().unwrap();
                p
            })
            .collect();
        for i in 0..100 {
            q.put(i).unwrap();
        }
        q.join_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(q.unfinished_tasks(), 0);
        q.put(u32::MAX).unwrap();
        q.put(u32::MAX).unwrap();
        let total: u64 = workers.iter_mut().map(|p| p.join().unwrap()).sum();
        assert_eq!(total, (0..100u64).sum());
        assert_eq!(q.unfinished_tasks(), 0);
    });
}

#[test]
fn join_timeout_with_unfinished_tasks() {
    watchdog(30, || {
        let q: JoinableQueue<u8> = JoinableQueue::new(0).unwrap();
        q.put(1).unwrap();
        let t0 = Instant::now();
        assert!(q.join_timeout(Duration::from_millis(200)).is_err());
        assert!(t0.elapsed() >= Duration::from_millis(200));
        q.get().unwrap();
        q.task_done().unwrap();
        q.join_timeout(Duration::from_secs(10)).unwrap();
    });
}

#[test]
fn simple_queue_put_get_empty() {
    watchdog(60, || {
        let q: SimpleQueue<(u8, String)> = SimpleQueue::new().unwrap();
        assert!(q.empty());
        let mut p = Process::new(
            |q: SimpleQueue<(u8, String)>| q.put((1, "one".into())).unwrap(),
            q.clone(),
        );
        p.start().unwrap();
        assert_eq!(
            q.get_timeout(Duration::from_secs(30)).unwrap(),
            (1, "one".to_string())
        );
        assert!(q.empty());
        p.join().unwrap();
    });
}

#[test]
fn a_64_mib_message_streams_through_a_small_ring() {
    watchdog(120, || {
        let q: Queue<Vec<u8>> = Builder::new().capacity(64 << 10).queue().unwrap();
        let mut p = Process::new(
            |q: Queue<Vec<u8>>| {
                q.put(pattern(1, 64 << 20)).unwrap();
                q.put(pattern(2, 10)).unwrap();
            },
            q.clone(),
        );
        p.start().unwrap();
        let big = q.get_timeout(Duration::from_secs(60)).unwrap();
        assert_eq!(big.len(), 64 << 20);
        assert!(big == pattern(1, 64 << 20));
        assert_eq!(q.get().unwrap(), pattern(2, 10));
        p.join().unwrap();
    });
}

#[test]
fn large_typed_messages_stream_too() {
    watchdog(60, || {
        let q: Queue<(String, Vec<u64>)> = Builder::new().capacity(16 << 10).queue().unwrap();
        let v: Vec<u64> = (0..100_000).collect();
        let q2 = q.clone();
        let v2 = v.clone();
        let t = std::thread::spawn(move || q2.put(("big".into(), v2)).unwrap());
        let (s, got) = q.get().unwrap();
        assert_eq!(s, "big");
        assert_eq!(got, v);
        t.join().unwrap();
    });
}

#[test]
fn too_large_is_refused_and_returns_the_item() {
    watchdog(30, || {
        let q: Queue<Vec<u8>> = Builder::new().max_message(1000).queue().unwrap();
        match q.put(vec![0; 2000]) {
            Err(PutError::TooLarge { item, len, max }) => {
                assert_eq!((item.len(), len, max), (2000, 2000, 1000));
            }
            other => panic!("{other:?}"),
        }
        q.put(vec![1; 1000]).unwrap();
        assert_eq!(q.get().unwrap(), vec![1; 1000]);
    });
}

#[test]
fn undecodable_message_is_a_typed_error_and_the_queue_stays_usable() {
    watchdog(30, || {
        // Two definitions of `Msg` (as two programs could have): the type check compares
        // names, so they pass it, and the bytes of one do not decode as the other.
        mod ours {
            #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
            pub struct Msg(pub Vec<u8>);
        }
        mod theirs {
            #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
            pub struct Msg(pub String);
        }
        let bytes: Queue<ours::Msg> = Queue::new(0).unwrap();
        let (mut a, mut b) = Pipe(true).unwrap();
        a.send(&bytes).unwrap();
        let strings: Queue<theirs::Msg> = b.recv().unwrap();
        bytes.put(ours::Msg(vec![0xff, 0xfe])).unwrap(); // invalid UTF-8
        match strings.get_nowait() {
            Err(GetError::Decode { type_name, .. }) => assert!(type_name.contains("Msg")),
            other => panic!("{other:?}"),
        }
        strings.put(theirs::Msg("fine".into())).unwrap();
        assert_eq!(strings.get().unwrap(), theirs::Msg("fine".into()));
        assert!(strings.empty());
    });
}

#[test]
fn shared_objects_cannot_be_put_on_a_queue() {
    watchdog(30, || {
        let q: Queue<multiproc::shared::Shared<multiproc::sync::Lock>> = Queue::new(0).unwrap();
        let lock = multiproc::shared::Shared::new(multiproc::sync::Lock::new()).unwrap();
        match q.put(lock) {
            Err(PutError::Encode { reason, .. }) => assert!(reason.contains("Queue"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(q.empty());
    });
}

// ------------------------------------------------------------------ exactly-once under load

const PRODUCERS: u64 = 4;
const STOP: u64 = u64::MAX;

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Consumer: counts, sums and hashes what it gets, and checks each producer's items arrive in
/// order (FIFO per producer), until a STOP.
fn consume(q: Queue<u64>) -> (u64, u64, u64) {
    let mut last = [None::<u64>; PRODUCERS as usize];
    let (mut n, mut sum, mut hash) = (0u64, 0u64, 0u64);
    loop {
        let x = q.get().unwrap();
        if x == STOP {
            return (n, sum, hash);
        }
        let (p, i) = ((x >> 32) as usize, x & 0xffff_ffff);
        assert!(last[p].is_none_or(|l| l < i), "producer {p} out of order");
        last[p] = Some(i);
        n += 1;
        sum = sum.wrapping_add(x);
        hash = hash.wrapping_add(mix(x));
    }
}

fn produce((q, id, n): (Queue<u64>, u64, u64)) {
    for i in 0..n {
        q.put(id << 32 | i).unwrap();
    }
}

fn exactly_once(maxsize: usize, per_producer: u64) {
    let q: Queue<u64> = Queue::new(maxsize).unwrap();
    let mut consumers: Vec<_> = (0..2)
        .map(|_| {
            let mut p = Process::new(consume, q.clone());
            p.start().unwrap();
            p
        })
        .collect();
    let mut producers: Vec<_> = (0..PRODUCERS)
        .map(|id| {
            let mut p = Process::new(produce, (q.clone(), id, per_producer));
            p.start().unwrap();
            p
        })
        .collect();
    for p in &mut producers {
        p.join().unwrap();
    }
    q.put(STOP).unwrap();
    q.put(STOP).unwrap();
    let (mut n, mut sum, mut hash) = (0u64, 0u64, 0u64);
    for c in &mut consumers {
        let (cn, cs, ch) = c.join().unwrap();
        n += cn;
        sum = sum.wrapping_add(cs);
        hash = hash.wrapping_add(ch);
    }
    let (mut want_sum, mut want_hash) = (0u64, 0u64);
    for id in 0..PRODUCERS {
        for i in 0..per_producer {
            let x = id << 32 | i;
            want_sum = want_sum.wrapping_add(x);
            want_hash = want_hash.wrapping_add(mix(x));
        }
    }
    assert_eq!(n, PRODUCERS * per_producer, "count");
    assert_eq!(sum, want_sum, "sum");
    assert_eq!(hash, want_hash, "checksum");
    assert!(q.empty());
}

#[test]
fn exactly_once_4_producers_x_250k_into_2_consumers() {
    watchdog(240, || exactly_once(0, 250_000));
}

#[test]
fn exactly_once_with_maxsize_8_backpressure() {
    watchdog(240, || exactly_once(8, 250_000));
}

fn produce_sized((q, id, n): (Queue<Vec<u8>>, u64, u64)) {
    const SIZES: [usize; 8] = [0, 1, 7, 100, 4096, 300_000, 1 << 20, 8 << 20];
    for i in 0..n {
        let len = SIZES[(mix(id << 32 | i) % SIZES.len() as u64) as usize];
        let mut v = pattern(id << 32 | i, len + 12);
        v[..8].copy_from_slice(&(id << 32 | i).to_le_bytes());
        v[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        q.put(v).unwrap();
    }
}

fn consume_sized(q: Queue<Vec<u8>>) -> (u64, u64, u64) {
    let (mut n, mut bytes, mut hash) = (0u64, 0u64, 0u64);
    loop {
        let v = q.get().unwrap();
        if v.is_empty() {
            return (n, bytes, hash);
        }
        let id = u64::from_le_bytes(v[..8].try_into().unwrap());
        let len = u32::from_le_bytes(v[8..12].try_into().unwrap()) as usize;
        assert_eq!(v.len(), len + 12, "length of item {id:#x}");
        let want = pattern(id, len + 12);
        assert!(v[12..] == want[12..], "content of item {id:#x}");
        n += 1;
        bytes += len as u64;
        hash = hash.wrapping_add(mix(id));
    }
}

#[test]
fn exactly_once_mixed_sizes_0_to_8_mib() {
    watchdog(240, || {
        let per_producer = 24;
        let q: Queue<Vec<u8>> = Builder::new().maxsize(8).queue().unwrap();
        let mut consumers: Vec<_> = (0..2)
            .map(|_| {
                let mut p = Process::new(consume_sized, q.clone());
                p.start().unwrap();
                p
            })
            .collect();
        let mut producers: Vec<_> = (0..PRODUCERS)
            .map(|id| {
                let mut p = Process::new(produce_sized, (q.clone(), id, per_producer));
                p.start().unwrap();
                p
            })
            .collect();
        for p in &mut producers {
            p.join().unwrap();
        }
        q.put(Vec::new()).unwrap();
        q.put(Vec::new()).unwrap();
        let (mut n, mut hash) = (0, 0u64);
        for c in &mut consumers {
            let (cn, _, ch) = c.join().unwrap();
            n += cn;
            hash = hash.wrapping_add(ch);
        }
        let want_hash = (0..PRODUCERS)
            .flat_map(|id| (0..per_producer).map(move |i| mix(id << 32 | i)))
            .fold(0u64, u64::wrapping_add);
        assert_eq!(n, PRODUCERS * per_producer);
        assert_eq!(hash, want_hash);
    });
}

// ------------------------------------------------------------------ the biased side locks

/// One thread takes each side's bias, then three more threads put and get at the same time,
/// revoking it while the owner is busy inside: exactly once, in order per producer, and no
/// record ever torn (which a broken hand-over would show as a corrupt or undecodable item).
#[test]
fn bias_revoked_under_load_keeps_exactly_once() {
    watchdog(60, || {
        const N: u64 = 50_000;
        let q: Queue<u64> = Queue::new(64).unwrap();
        // Producer 0 puts alone first, so its side is biased to it; it goes on putting (and
        // soon sleeps inside, on the full queue) while the others join in and revoke.
        let (tx, rx) = std::sync::mpsc::channel();
        let mut producers = vec![{
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..N {
                    q.put(i).unwrap();
                    if i == 10 {
                        tx.send(()).unwrap();
                    }
                }
            })
        }];
        rx.recv().unwrap();
        producers.extend((1..3u64).map(|id| {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..N {
                    q.put(id << 32 | i).unwrap();
                }
            })
        }));
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut last = [None::<u64>; 3];
                    let (mut n, mut sum) = (0u64, 0u64);
                    loop {
                        let x = q.get().unwrap();
                        if x == STOP {
                            return (n, sum);
                        }
                        let (p, i) = ((x >> 32) as usize, x & 0xffff_ffff);
                        assert!(last[p].is_none_or(|l| l < i), "producer {p} out of order");
                        last[p] = Some(i);
                        n += 1;
                        sum = sum.wrapping_add(mix(x));
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        q.put(STOP).unwrap();
        q.put(STOP).unwrap();
        let (mut n, mut sum) = (0u64, 0u64);
        for c in consumers {
            let (cn, cs) = c.join().unwrap();
            n += cn;
            sum = sum.wrapping_add(cs);
        }
        let want: u64 = (0..3u64)
            .flat_map(|id| (0..N).map(move |i| mix(id << 32 | i)))
            .fold(0, u64::wrapping_add);
        assert_eq!(n, 3 * N, "count");
        assert_eq!(sum, want, "checksum");
        assert!(q.empty());
    });
}

/// While the bias owner sleeps inside (a get on an empty queue), another thread's
/// `get_nowait` answers `Empty` instead of waiting for the owner, and its `put` wakes the
/// owner.
#[test]
fn nowait_beside_a_sleeping_bias_owner() {
    watchdog(60, || {
        let q: Queue<u64> = Queue::new(0).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let q2 = q.clone();
        let owner = std::thread::spawn(move || {
            q2.put(1).unwrap();
            assert_eq!(q2.get().unwrap(), 1); // this thread now owns both sides' bias
            // SAFETY: gettid(2) has no preconditions.
            tx.send(unsafe { libc::gettid() }).unwrap();
            q2.get_timeout(Duration::from_secs(30))
        });
        let tid = rx.recv().unwrap();
        let asleep = || {
            std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
                .is_ok_and(|s| s.rsplit(')').next().unwrap().trim_start().starts_with('S'))
        };
        assert!(common::eventually(30, asleep), "the owner never slept");
        let t0 = Instant::now();
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "get_nowait waited for the owner"
        );
        q.put(42).unwrap();
        assert_eq!(owner.join().unwrap().unwrap(), 42);
        // The side was revoked: both threads still use it.
        q.put(43).unwrap();
        assert_eq!(q.get_nowait().unwrap(), 43);
    });
}
