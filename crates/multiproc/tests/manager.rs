//! Managers, modelled on CPython's `_TestContainers` (dict, list, Namespace, nested
//! proxies), `_TestMyManager` and `_TestRemoteManager` (serve, connect, rapid restart), and
//! the proxied `queue`/`threading` objects' tests; the tutorial's ten-process dict/list; and
//! what Python's manager gets wrong (lost updates, dead lock holders). Each under a watchdog.

mod common;

use std::time::{Duration, Instant};

use multiproc::ManagerError;
use multiproc::manager::{DictProxy, ListProxy, Manager, QueueProxy};
use multiproc::process::{Process, current_process, get_context};

fn manager() -> Manager {
    Manager::start().expect("manager starts")
}

#[test]
fn dict_has_pythons_methods_and_errors() {
    common::watchdog(60, || {
        let m = manager();
        let d = m.dict::<String, i64>().unwrap();
        assert!(d.is_empty().unwrap());
        for (i, k) in ["b", "a", "c"].iter().enumerate() {
            d.insert(k.to_string(), i as i64).unwrap();
        }
        // Insertion order, as Python 3.7+'s dict.
        assert_eq!(d.keys().unwrap(), ["b", "a", "c"]);
        assert_eq!(d.values().unwrap(), [0, 1, 2]);
        assert_eq!(
            d.iter().unwrap().collect::<Vec<_>>()[1],
            ("a".to_string(), 1)
        );
        assert!(d.contains(&"a".into()).unwrap());
        assert!(!d.contains(&"z".into()).unwrap());
        assert_eq!(d.get(&"z".into()).unwrap(), None);
        match d.get_item(&"z".into()) {
            Err(ManagerError::KeyError(k)) => assert_eq!(k, "\"z\""),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            d.del_item(&"z".into()),
            Err(ManagerError::KeyError(_))
        ));
        assert_eq!(d.pop(&"a".into()).unwrap(), 1);
        assert_eq!(d.pop_or(&"a".into(), -1).unwrap(), -1);
        assert_eq!(d.remove(&"a".into()).unwrap(), None);
        assert_eq!(d.setdefault("s".into(), 7).unwrap(), 7);
        assert_eq!(d.setdefault("s".into(), 8).unwrap(), 7);
        d.update([("x".to_string(), 10), ("y".to_string(), 11)])
            .unwrap();
        assert_eq!(d.len().unwrap(), 5);
        assert_eq!(d.popitem().unwrap(), ("y".to_string(), 11));
        assert_eq!(
            d.get_many(&["x".into(), "nope".into(), "b".into()])
                .unwrap(),
            [Some(10), None, Some(0)]
        );
        assert_eq!(d.copy().unwrap().len(), 4);
        d.clear().unwrap();
        match d.popitem() {
            Err(ManagerError::KeyError(m)) => assert!(m.contains("dictionary is empty"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Structured keys and values.
        let t = m.dict::<(u8, String), Vec<Option<f64>>>().unwrap();
        t.insert((1, "k".into()), vec![Some(1.5), None]).unwrap();
        assert_eq!(
            t.get(&(1, "k".into())).unwrap(),
            Some(vec![Some(1.5), None])
        );
    });
}

#[test]
fn list_has_pythons_methods_and_errors() {
    common::watchdog(60, || {
        let m = manager();
        let l = m.list_from([5u32, 1, 4]).unwrap();
        l.append(2).unwrap();
        l.extend([3, 3]).unwrap();
        l.insert(0, 9).unwrap();
        assert_eq!(l.to_vec().unwrap(), [9, 5, 1, 4, 2, 3, 3]);
        assert_eq!(l.count(&3).unwrap(), 2);
        assert_eq!(l.index(&4).unwrap(), 3);
        assert!(
            matches!(l.index(&42), Err(ManagerError::ValueError(m)) if m == "42 is not in list")
        );
        l.remove(&3).unwrap();
        assert!(matches!(l.remove(&42), Err(ManagerError::ValueError(_))));
        assert_eq!(l.pop().unwrap(), 3);
        assert_eq!(l.pop_at(0).unwrap(), 9);
        l.sort().unwrap();
        assert_eq!(l.to_vec().unwrap(), [1, 2, 4, 5]);
        l.sort_reverse().unwrap();
        assert_eq!(l.to_vec().unwrap(), [5, 4, 2, 1]);
        l.reverse().unwrap();
        assert_eq!(l.get(0).unwrap(), 1);
        assert_eq!(l.get(-1).unwrap(), 5);
        assert!(
            matches!(l.get(4), Err(ManagerError::IndexError(m)) if m == "list index out of range")
        );
        l.set(-1, 50).unwrap();
        assert_eq!(l.slice(Some(1), None).unwrap(), [2, 4, 50]);
        assert_eq!(l.slice(Some(-2), Some(100)).unwrap(), [4, 50]);
        l.set_slice(Some(0), Some(2), [7, 7, 7]).unwrap();
        assert_eq!(l.to_vec().unwrap(), [7, 7, 7, 4, 50]);
        l.delete(0).unwrap();
        assert_eq!(l.add_at(0, 3).unwrap(), 10);
        assert_eq!(l.iter().unwrap().sum::<u32>(), 10 + 7 + 4 + 50);
        l.clear().unwrap();
        assert!(matches!(l.pop(), Err(ManagerError::IndexError(m)) if m == "pop from empty list"));

        let a = m.array([0i32; 4]).unwrap();
        a.set(2, 5).unwrap();
        assert_eq!(a.add_at(2, -1).unwrap(), 4);
        assert_eq!(a.to_vec().unwrap(), [0, 0, 4, 0]);
        assert!(matches!(
            a.set_slice(None, None, [1]),
            Err(ManagerError::ValueError(_))
        ));
        a.set_slice(Some(1), Some(3), [8, 9]).unwrap();
        assert_eq!(a.to_vec().unwrap(), [0, 8, 9, 0]);
        assert_eq!(a.len().unwrap(), 4);
    });
}

#[test]
fn namespace_and_value() {
    common::watchdog(60, || {
        let m = manager();
        let ns = m.namespace().unwrap();
        ns.set("name", "job").unwrap();
        ns.set("count", 1u64).unwrap();
        ns.set("_private", true).unwrap();
        assert_eq!(ns.get::<String>("name").unwrap(), "job");
        assert_eq!(ns.add("count", 2u64).unwrap(), 3);
        assert!(ns.has("name").unwrap());
        // Python's repr hides private fields (test_namespace).
        assert_eq!(ns.repr().unwrap(), "Namespace(count=3, name=\"job\")");
        assert_eq!(ns.fields().unwrap(), ["name", "count", "_private"]);
        ns.del("name").unwrap();
        match ns.get::<String>("name") {
            Err(e @ ManagerError::AttributeError(_)) => assert_eq!(
                e.to_string(),
                "AttributeError: 'Namespace' object has no attribute 'name'"
            ),
            other => panic!("{other:?}"),
        }
        // A field of another type: a typed error, the namespace untouched.
        assert!(matches!(
            ns.get::<String>("count"),
            Err(ManagerError::Data(_))
        ));

        let v = m.value(u8::MAX - 1).unwrap();
        assert_eq!(v.add(1).unwrap(), u8::MAX);
        assert!(
            matches!(v.add(1), Err(ManagerError::ValueError(_))),
            "overflow refused"
        );
        assert_eq!(v.get().unwrap(), u8::MAX);
        assert!(!v.compare_and_set(&0, 1).unwrap());
        assert!(v.compare_and_set(&u8::MAX, 1).unwrap());
        let s = m.value(String::from("x")).unwrap();
        assert!(matches!(s.add("y".into()), Err(ManagerError::TypeError(_))));
    });
}

fn append_through_nested((outer, n): (DictProxy<String, ListProxy<u32>>, u32)) {
    let inner = outer.get(&"inner".into()).unwrap().expect("stored");
    inner.append(n).unwrap();
}

#[test]
fn nested_proxies_stay_proxies_in_every_process() {
    common::watchdog(60, || {
        let m = manager();
        let outer = m.dict::<String, ListProxy<u32>>().unwrap();
        let inner = m.list::<u32>().unwrap();
        outer.insert("inner".into(), inner.clone()).unwrap();
        let back = outer.get(&"inner".into()).unwrap().unwrap();
        assert!(back.same_object(&inner));
        back.append(1).unwrap();
        for method in common::METHODS {
            let mut p = get_context(Some(method))
                .process()
                .target(append_through_nested, (outer.clone(), 2));
            p.start().unwrap();
            p.join().unwrap();
        }
        assert_eq!(inner.to_vec().unwrap(), [1, 2, 2, 2]);
        // A list of dicts (test_dict_proxy_nested's other half).
        let rows = m.list::<DictProxy<String, u32>>().unwrap();
        let row = m.dict::<String, u32>().unwrap();
        rows.append(row.clone()).unwrap();
        rows.get(0).unwrap().insert("a".into(), 1).unwrap();
        assert_eq!(row.get(&"a".into()).unwrap(), Some(1));
    });
}

fn tutorial_worker((i, d, l): (u32, DictProxy<String, String>, ListProxy<u32>)) {
    d.insert(i.to_string(), (i + 1).to_string()).unwrap();
    d.insert("name".into(), format!("process {i}")).unwrap();
    l.append(current_process().pid).unwrap();
}

#[test]
fn the_tutorials_ten_processes_share_a_dict_and_a_list() {
    common::each_method(|method| {
        let m = Manager::builder()
            .context(get_context(Some(method)))
            .start()
            .unwrap();
        let d = m.dict::<String, String>().unwrap();
        let l = m.list::<u32>().unwrap();
        let ctx = get_context(Some(method));
        let mut ps: Vec<_> = (0..10)
            .map(|i| {
                ctx.process()
                    .target(tutorial_worker, (i, d.clone(), l.clone()))
            })
            .collect();
        for p in &mut ps {
            p.start().unwrap();
        }
        let pids: Vec<u32> = ps.iter().map(|p| p.pid().unwrap()).collect();
        for p in &mut ps {
            p.join().unwrap();
        }
        assert_eq!(d.len().unwrap(), 11, "{method}");
        for i in 0..10u32 {
            assert_eq!(d.get(&i.to_string()).unwrap(), Some((i + 1).to_string()));
        }
        assert!(
            d.get(&"name".into())
                .unwrap()
                .unwrap()
                .starts_with("process ")
        );
        let mut got = l.to_vec().unwrap();
        got.sort();
        let mut want = pids;
        want.sort();
        assert_eq!(got, want, "each child appended its own pid once");
    });
}

fn updates((d, worker, n): (DictProxy<String, u64>, u64, u64)) {
    for i in 0..n {
        d.add("count".into(), 1).unwrap();
        d.add("sum".into(), worker * n + i).unwrap();
    }
}

#[test]
fn concurrent_atomic_updates_lose_nothing() {
    common::watchdog(120, || {
        let m = manager();
        let d = m.dict::<String, u64>().unwrap();
        let (workers, n) = (8u64, 10_000u64);
        let mut ps: Vec<_> = (0..workers)
            .map(|w| Process::new(updates, (d.clone(), w, n)))
            .collect();
        for p in &mut ps {
            p.start().unwrap();
        }
        for p in &mut ps {
            p.join().unwrap();
        }
        let total = workers * n;
        assert_eq!(d.get(&"count".into()).unwrap(), Some(total), "count");
        assert_eq!(
            d.get(&"sum".into()).unwrap(),
            Some(total * (total - 1) / 2),
            "checksum: every update applied exactly once"
        );
    });
}

#[test]
fn batches_answer_each_operation_in_one_round_trip() {
    common::watchdog(60, || {
        let m = manager();
        let d = m.dict::<String, u64>().unwrap();
        let v = m.value(0u64).unwrap();
        let mut b = m.batch();
        let hits: Vec<_> = (0..100)
            .map(|_| b.add(&d, "hits".into(), 1).unwrap())
            .collect();
        let bad = b.get(&d, &"x".into()).unwrap();
        let stored = b.store(&v, 5).unwrap();
        let load = b.load(&v).unwrap();
        assert_eq!(b.len(), 103);
        let mut out = b.run().unwrap();
        let seen: Vec<u64> = hits.into_iter().map(|h| out.take(h).unwrap()).collect();
        assert_eq!(seen, (1..=100).collect::<Vec<_>>(), "in order, each once");
        assert_eq!(out.take(bad).unwrap(), None);
        out.take(stored).unwrap();
        assert_eq!(out.take(load).unwrap(), 5);
        // A batch cannot mix managers.
        let other = manager();
        let od = other.dict::<String, u64>().unwrap();
        assert!(matches!(b_misuse(&m, &od), Err(ManagerError::Misuse(_))));
    });
}

fn b_misuse(m: &Manager, d: &DictProxy<String, u64>) -> Result<(), ManagerError> {
    let mut b = m.batch();
    b.get(d, &"k".into()).map(|_| ())
}

#[test]
fn queue_and_joinable_queue() {
    common::watchdog(60, || {
        let m = manager();
        let q = m.queue::<u32>(2).unwrap();
        assert!(q.empty().unwrap());
        q.put(1).unwrap();
        q.put_nowait(2).unwrap();
        assert!(q.full().unwrap());
        assert!(matches!(q.put_nowait(3), Err(ManagerError::Full)));
        let t = Instant::now();
        assert!(matches!(
            q.put_timeout(3, Duration::from_millis(100)),
            Err(ManagerError::Full)
        ));
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert_eq!(q.qsize().unwrap(), 2);
        assert_eq!(q.get().unwrap(), 1);
        assert_eq!(q.get_nowait().unwrap(), 2);
        assert!(matches!(q.get_nowait(), Err(ManagerError::Empty)));
        let t = Instant::now();
        assert!(matches!(
            q.get_timeout(Duration::from_millis(100)),
            Err(ManagerError::Empty)
        ));
        assert!(t.elapsed() >= Duration::from_millis(100));
        // Through the queue traits.
        use multiproc::queue::{Get, Put};
        Put::put(&q, 7).unwrap();
        assert_eq!(Get::get(&q).unwrap(), 7);

        let j = m.joinable_queue::<u32>(0).unwrap();
        j.put(1).unwrap();
        j.put(2).unwrap();
        assert!(matches!(
            j.join_timeout(Duration::from_millis(50)),
            Err(ManagerError::Timeout)
        ));
        let worker = {
            let j = j.clone();
            std::thread::spawn(move || {
                for _ in 0..2 {
                    j.get().unwrap();
                    j.task_done().unwrap();
                }
            })
        };
        j.join().unwrap();
        worker.join().unwrap();
        assert_eq!(j.unfinished_tasks().unwrap(), 0);
        assert!(matches!(j.task_done(), Err(ManagerError::Misuse(m)) if m.contains("too many")));
    });
}

fn square_into((x, results): (u64, QueueProxy<(u64, u64)>)) -> u64 {
    results.put((x, x * x)).unwrap();
    x
}

#[test]
fn a_manager_queue_feeds_a_pools_workers() {
    common::watchdog(120, || {
        let m = manager();
        let results = m.queue::<(u64, u64)>(0).unwrap();
        let pool = multiproc::pool::Pool::new(2).unwrap();
        let args: Vec<_> = (0..50).map(|x| (x, results.clone())).collect();
        let done = pool.map(square_into, args).unwrap();
        assert_eq!(done.len(), 50);
        let mut got: Vec<_> = (0..50).map(|_| results.get().unwrap()).collect();
        got.sort();
        assert_eq!(got, (0..50).map(|x| (x, x * x)).collect::<Vec<_>>());
        assert!(results.empty().unwrap());
    });
}

#[test]
fn proxies_travel_inside_process_queue_messages() {
    common::watchdog(60, || {
        let m = manager();
        let d = m.dict::<String, u32>().unwrap();
        let q = multiproc::process::Queue::<Vec<DictProxy<String, u32>>>::new(0).unwrap();
        let mut p = Process::new(
            |q: multiproc::process::Queue<Vec<DictProxy<String, u32>>>| {
                for d in q.get().unwrap() {
                    d.add("seen".into(), 1).unwrap();
                }
            },
            q.clone(),
        );
        p.start().unwrap();
        q.put(vec![d.clone(), d.clone()]).unwrap();
        p.join().unwrap();
        assert_eq!(d.get(&"seen".into()).unwrap(), Some(2));
    });
}

#[test]
fn locks_semaphores_and_their_misuse() {
    common::watchdog(60, || {
        let m = manager();
        let lock = m.lock().unwrap();
        assert_eq!(lock.typeid(), "Lock");
        assert!(
            matches!(lock.release(), Err(ManagerError::Misuse(s)) if s == "release unlocked lock")
        );
        lock.acquire().unwrap();
        assert!(!lock.try_acquire().unwrap());
        let t = Instant::now();
        assert!(!lock.acquire_timeout(Duration::from_millis(100)).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(100));
        // Another thread may release a Lock (threading.Lock semantics).
        let l2 = lock.clone();
        std::thread::spawn(move || l2.release().unwrap())
            .join()
            .unwrap();
        assert!(!lock.locked().unwrap());

        let r = m.rlock().unwrap();
        r.acquire().unwrap();
        r.acquire().unwrap();
        let r2 = r.clone();
        let other = std::thread::spawn(move || {
            let refused = r2.release();
            let taken = r2.try_acquire().unwrap();
            (refused, taken)
        })
        .join()
        .unwrap();
        assert!(
            matches!(other.0, Err(ManagerError::Misuse(s)) if s == "cannot release un-acquired lock")
        );
        assert!(!other.1, "held by another thread");
        r.release().unwrap();
        r.release().unwrap();
        assert!(matches!(r.release(), Err(ManagerError::Misuse(_))));

        let s = m.semaphore(2).unwrap();
        assert!(s.try_acquire().unwrap());
        assert!(s.try_acquire().unwrap());
        assert!(!s.try_acquire().unwrap());
        s.release().unwrap();
        s.release().unwrap();
        s.release().unwrap(); // an unbounded semaphore may go above its start
        assert_eq!(s.value().unwrap(), 3);
        let b = m.bounded_semaphore(1).unwrap();
        b.acquire().unwrap();
        b.release().unwrap();
        assert!(
            matches!(b.release(), Err(ManagerError::ValueError(s)) if s == "Semaphore released too many times")
        );
    });
}

fn locked_increments(
    (lock, v, n): (
        multiproc::manager::AcquirerProxy,
        multiproc::manager::ValueProxy<u64>,
        u64,
    ),
) {
    for _ in 0..n {
        let _held = lock.hold().unwrap();
        // A non-atomic read-modify-write, made safe by the lock.
        let x = v.get().unwrap();
        v.set(x + 1).unwrap();
    }
}

#[test]
fn a_manager_lock_excludes_across_processes() {
    common::watchdog(120, || {
        let m = manager();
        let lock = m.lock().unwrap();
        let v = m.value(0u64).unwrap();
        let mut ps: Vec<_> = (0..4)
            .map(|_| Process::new(locked_increments, (lock.clone(), v.clone(), 300)))
            .collect();
        for p in &mut ps {
            p.start().unwrap();
        }
        for p in &mut ps {
            p.join().unwrap();
        }
        assert_eq!(v.get().unwrap(), 1200);
    });
}

#[test]
fn condition_event_barrier() {
    common::watchdog(60, || {
        let m = manager();
        let c = m.condition().unwrap();
        let items = m.list::<u32>().unwrap();
        assert!(matches!(c.notify(1), Err(ManagerError::Misuse(_))));
        assert!(matches!(
            c.wait_timeout(Duration::from_millis(1)),
            Err(ManagerError::Misuse(_))
        ));
        let consumer = {
            let (c, items) = (c.clone(), items.clone());
            std::thread::spawn(move || {
                c.acquire().unwrap();
                let ok = c
                    .wait_for(|| !items.is_empty().unwrap(), Some(Duration::from_secs(20)))
                    .unwrap();
                let got = items.pop().unwrap();
                c.release().unwrap();
                (ok, got)
            })
        };
        {
            let _g = c.hold().unwrap();
            items.append(42).unwrap();
            c.notify_all().unwrap();
        }
        assert_eq!(consumer.join().unwrap(), (true, 42));
        c.acquire().unwrap();
        let t = Instant::now();
        assert!(!c.wait_timeout(Duration::from_millis(100)).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(100));
        c.release().unwrap();

        let e = m.event().unwrap();
        assert!(!e.is_set().unwrap());
        assert!(!e.wait_timeout(Duration::from_millis(50)).unwrap());
        let mut p = Process::new(
            |e: multiproc::manager::EventProxy| e.set().unwrap(),
            e.clone(),
        );
        p.start().unwrap();
        assert!(e.wait().unwrap());
        p.join().unwrap();
        e.clear().unwrap();
        assert!(!e.is_set().unwrap());

        let b = m.barrier(3).unwrap();
        assert_eq!(b.parties().unwrap(), 3);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || b.wait().unwrap())
            })
            .collect();
        let mut idx: Vec<usize> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        idx.sort();
        assert_eq!(idx, [0, 1, 2]);
        // A timeout breaks it for everyone, as in Python.
        assert!(matches!(
            b.wait_timeout(Duration::from_millis(50)),
            Err(ManagerError::BrokenBarrier)
        ));
        assert!(b.broken().unwrap());
        assert!(matches!(b.wait(), Err(ManagerError::BrokenBarrier)));
        b.reset().unwrap();
        assert!(!b.broken().unwrap());
        assert_eq!(b.n_waiting().unwrap(), 0);
    });
}

#[test]
fn both_transports_serve_the_same_calls() {
    use multiproc::manager::Transport;
    common::watchdog(60, || {
        let m = Manager::builder().authkey(b"t").start().unwrap();
        for t in [Transport::Socket, Transport::SharedMemory, Transport::Auto] {
            let c = Manager::connect_with(m.address(), b"t", t).unwrap();
            let d = c.dict::<String, Vec<u8>>().unwrap();
            // A value larger than a ring (256 KiB) streams through it.
            let big = vec![7u8; 600 << 10];
            d.insert("big".into(), big.clone()).unwrap();
            assert_eq!(d.get(&"big".into()).unwrap(), Some(big), "{t:?}");
            assert_eq!(d.append_to("log".into(), 1u8).unwrap(), 1);
            let q = c.queue::<u32>(0).unwrap();
            let q2 = q.clone();
            let producer = std::thread::spawn(move || q2.put(5).unwrap());
            assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), 5, "{t:?}");
            producer.join().unwrap();
            let l = c.lock().unwrap();
            let _g = l.hold().unwrap();
            assert!(!l.try_acquire().unwrap(), "{t:?}");
        }
        // Shared memory needs a server on this machine.
        let tcp = Manager::builder()
            .address("127.0.0.1:0".parse().unwrap())
            .start()
            .unwrap();
        assert!(matches!(
            Manager::connect_with(
                tcp.address(),
                &multiproc::process::authkey(),
                Transport::SharedMemory
            ),
            Err(ManagerError::Refused(_))
        ));
        let over_tcp = tcp.dict::<u8, u8>().unwrap();
        over_tcp.insert(1, 2).unwrap();
        assert_eq!(over_tcp.get(&1).unwrap(), Some(2));
    });
}

/// A registered type (CPython's `_TestMyManager`: `FooBar` with `f`, `g` raising, `_h`
/// not exposed).
#[derive(Debug)]
pub struct FooBar {
    calls: u64,
    log: Vec<String>,
}

impl FooBar {
    fn f(&mut self) -> String {
        self.calls += 1;
        "f()".into()
    }
    fn g(&mut self) -> u64 {
        panic!("g() always fails")
    }
    fn checked(&mut self, x: i64) -> Result<i64, String> {
        if x < 0 {
            Err(format!("{x} is negative"))
        } else {
            Ok(x * 2)
        }
    }
    /// Two fields changed together: atomic for every client (the server's transaction).
    fn record(&mut self, who: String) -> u64 {
        self.calls += 1;
        self.log.push(who);
        self.calls
    }
    fn state(&self) -> (u64, usize) {
        (self.calls, self.log.len())
    }
    #[allow(dead_code)]
    fn h(&mut self) -> u64 {
        unreachable!("not exposed")
    }
}

multiproc::served! {
    /// A FooBar on a manager.
    pub proxy FooBarProxy for FooBar as "FooBar" {
        fn f() -> String;
        fn g() -> u64;
        fn checked(x: i64) -> Result<i64, String>;
        fn record(who: String) -> u64;
        fn state() -> (u64, usize);
    }
}

fn new_foobar(calls: u64) -> FooBar {
    FooBar {
        calls,
        log: Vec::new(),
    }
}

fn record_many((p, who): (FooBarProxy, String)) {
    for _ in 0..500 {
        p.record(who.clone()).unwrap();
    }
}

#[test]
fn registered_types_expose_only_their_methods_and_errors_come_back_typed() {
    use multiproc::manager::Served;
    common::watchdog(60, || {
        assert_eq!(
            <FooBar as Served>::EXPOSED,
            ["f", "g", "checked", "record", "state"]
        );
        let m = Manager::builder().register(new_foobar).start().unwrap();
        let p: FooBarProxy = m.create(10u64).unwrap();
        assert_eq!(p.f().unwrap(), "f()");
        assert_eq!(p.state().unwrap(), (11, 0));
        match p.g() {
            Err(ManagerError::Panicked(msg)) => {
                assert!(
                    msg.contains("FooBar.g") && msg.contains("g() always fails"),
                    "{msg}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.f().unwrap(), "f()", "the object and the server go on");
        assert_eq!(p.checked(4).unwrap(), Ok(8));
        assert_eq!(p.checked(-1).unwrap(), Err("-1 is negative".to_string()));
        // A method that is not exposed cannot be called, whatever a client sends.
        match p.raw().call_method::<_, u64>("h", &()) {
            Err(ManagerError::Refused(msg)) => assert!(msg.contains("not exposed"), "{msg}"),
            other => panic!("{other:?}"),
        }
        // Wrong argument types: a typed error, not a crash.
        assert!(matches!(
            p.raw().call_method::<_, i64>("checked", &("not a number",)),
            Err(ManagerError::Data(_))
        ));
        // A type the server does not know.
        let plain = manager();
        assert!(matches!(
            plain.create::<FooBarProxy, _>(0u64),
            Err(ManagerError::Refused(_))
        ));
        // Methods are atomic on the server: 4 processes x 500 two-field updates.
        let mut ps: Vec<_> = (0..4)
            .map(|i| Process::new(record_many, (p.clone(), format!("p{i}"))))
            .collect();
        for q in &mut ps {
            q.start().unwrap();
        }
        for q in &mut ps {
            q.join().unwrap();
        }
        assert_eq!(p.state().unwrap(), (12 + 2000, 2000));
    });
}

fn remote_foobar((address, key): (multiproc::connection::Address, Vec<u8>)) -> String {
    let m = Manager::connect(&address, &key).unwrap();
    let p: FooBarProxy = m.create(0u64).unwrap();
    p.f().unwrap()
}

#[test]
fn a_server_in_this_program_serves_registered_types_to_another_process() {
    common::watchdog(60, || {
        let server =
            multiproc::manager::Server::bind(Some("127.0.0.1:0".parse().unwrap()), b"k").unwrap();
        server.register(new_foobar).unwrap();
        let address = server.address().clone();
        let serving = std::thread::spawn(move || server.serve_forever());
        let mut p = get_context(Some(multiproc::process::StartMethod::Spawn))
            .process()
            .target(remote_foobar, (address.clone(), b"k".to_vec()));
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), "f()");
        Manager::connect(&address, b"k")
            .unwrap()
            .shutdown()
            .unwrap();
        serving.join().unwrap().unwrap();
    });
}

fn square(x: u64) -> u64 {
    x * x
}

fn panics(x: u64) -> u64 {
    panic!("task {x} fails on purpose")
}

fn dies(code: i32) -> u64 {
    std::process::exit(code)
}

fn slow(ms: u64) -> u64 {
    // The task's workload: it takes this long.
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn pool_from_a_child(
    (pool, r): (
        multiproc::manager::PoolProxy,
        multiproc::manager::ManagedResult<u64>,
    ),
) -> (u64, Vec<u64>, u64) {
    (
        pool.apply(square, 12).unwrap(),
        pool.map(square, [1u64, 2, 3]).unwrap(),
        r.get().unwrap(),
    )
}

#[test]
fn a_managers_pool_runs_functions_by_name_for_every_process() {
    common::watchdog(120, || {
        let m = manager();
        let pool = m.pool(2).unwrap();
        assert_eq!(pool.apply(square, 7).unwrap(), 49);
        assert_eq!(
            pool.map(square, 0..10u64).unwrap(),
            (0..10).map(|x| x * x).collect::<Vec<_>>()
        );
        assert!(pool.map(square, Vec::<u64>::new()).unwrap().is_empty());
        // A result taken in another process (spawned: a fresh image of this program).
        let r = pool.apply_async(square, 11).unwrap();
        let mut p = get_context(Some(multiproc::process::StartMethod::Spawn))
            .process()
            .target(pool_from_a_child, (pool.clone(), r.clone()));
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), (144, vec![1, 4, 9], 121));
        assert!(matches!(r.get(), Err(ManagerError::Task(m)) if m.contains("already taken")));
        // A panicking task, a dying worker: that call fails, typed; the pool goes on.
        match pool.apply(panics, 3) {
            Err(ManagerError::Task(msg)) => {
                assert!(msg.contains("task 3 fails on purpose"), "{msg}")
            }
            other => panic!("{other:?}"),
        }
        match pool.apply(dies, 7) {
            Err(ManagerError::Task(msg)) => assert!(msg.contains("exit status 7"), "{msg}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(pool.apply(square, 3).unwrap(), 9);
        // A result not ready in time.
        let r = pool.apply_async(slow, 300).unwrap();
        assert!(!r.ready().unwrap());
        assert!(matches!(
            r.get_timeout(Duration::from_millis(10)),
            Err(ManagerError::Timeout)
        ));
        assert_eq!(r.get_timeout(Duration::from_secs(20)).unwrap(), 300);
        pool.close().unwrap();
        pool.join().unwrap();
        assert!(matches!(pool.apply(square, 1), Err(ManagerError::Task(_))));
    });
}

#[test]
fn a_server_refuses_pools_unless_told() {
    common::watchdog(60, || {
        let server =
            multiproc::manager::Server::bind(Some("127.0.0.1:0".parse().unwrap()), b"k").unwrap();
        let address = server.address().clone();
        let serving = std::thread::spawn(move || server.serve_forever());
        let mut m = Manager::connect(&address, b"k").unwrap();
        match m.pool(1) {
            Err(ManagerError::Refused(msg)) => assert!(msg.contains("does not run pools"), "{msg}"),
            other => panic!("{other:?}"),
        }
        m.shutdown().unwrap();
        serving.join().unwrap().unwrap();
    });
}

fn forget_a_manager(_: ()) -> u32 {
    let m = Manager::start().unwrap();
    let pid = m.pid().unwrap();
    // Never shut down or dropped: the exit must stop it, not wait for it.
    std::mem::forget(m);
    pid
}

#[test]
fn a_process_that_forgets_its_manager_still_exits_and_stops_it() {
    common::watchdog(60, || {
        let mut p = Process::new(forget_a_manager, ());
        p.start().unwrap();
        let server = p.join_timeout(Duration::from_secs(30)).unwrap();
        assert!(
            common::eventually(10, || !common::alive(server)),
            "the manager process {server} outlived its parent"
        );
    });
}
