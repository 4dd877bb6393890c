//! `multiproc::remote` against a real `redis-server` (started per test on a free loopback
//! port): queues, dict, list, Value, Namespace, locks, events, conditions, barriers, with
//! CPython's `_TestQueue`/`_TestLock`/`_TestEvent`/`_TestBarrier` cases where they apply.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use multiproc::queue::{Get, Put, Size, Tasks};
use multiproc::remote::{self, Remote};
use multiproc::{GetError, PutError, RemoteError};

fn connect(s: &RedisServer, ns: &str) -> Remote {
    remote::connect(&s.url(), ns).unwrap()
}

#[test]
fn queue_is_fifo_bounded_and_times_out() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "q");
        let q = r.queue::<u32>("fifo", 3).unwrap();
        assert_eq!(q.maxsize(), 3);
        for i in 0..3 {
            q.put(i).unwrap();
        }
        assert!(q.full().unwrap());
        assert!(matches!(q.put_nowait(9), Err(PutError::Full(9))));
        let t = Instant::now();
        assert!(matches!(
            q.put_timeout(9, Duration::from_millis(300)),
            Err(PutError::Full(9))
        ));
        assert!(t.elapsed() >= Duration::from_millis(300));
        assert_eq!(q.qsize().unwrap(), 3);
        assert_eq!(
            (q.get().unwrap(), q.get().unwrap(), q.get().unwrap()),
            (0, 1, 2)
        );
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
        let t = Instant::now();
        assert!(matches!(
            q.get_timeout(Duration::from_millis(300)),
            Err(GetError::Empty)
        ));
        assert!(t.elapsed() >= Duration::from_millis(300));
        // Another handle sees the bound the first fixed.
        assert_eq!(r.queue::<u32>("fifo", 0).unwrap().maxsize(), 3);
    });
}

#[test]
fn a_blocked_put_proceeds_when_a_get_makes_room_and_a_blocked_get_when_a_put_comes() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "q");
        let q = r.queue::<u64>("room", 1).unwrap();
        q.put(1).unwrap();
        let q2 = q.clone();
        let putter = std::thread::spawn(move || q2.put_timeout(2, Duration::from_secs(20)));
        // The putter is blocked on a full queue: take one, and it gets in.
        assert_eq!(q.get_timeout(Duration::from_secs(20)).unwrap(), 1);
        putter.join().unwrap().unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(20)).unwrap(), 2);
        let q3 = q.clone();
        let getter = std::thread::spawn(move || q3.get_timeout(Duration::from_secs(20)));
        q.put(3).unwrap();
        assert_eq!(getter.join().unwrap().unwrap(), 3);
    });
}

/// Moves everything waiting in `from` to `to`: written once for any queue.
fn drain<T>(from: &impl Get<T>, to: &impl Put<T>) -> usize {
    let mut n = 0;
    while let Ok(item) = from.get_nowait() {
        to.put(item).map_err(|_| ()).unwrap();
        n += 1;
    }
    n
}

#[test]
fn remote_queues_speak_the_local_queue_traits() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "traits");
        let local = multiproc::queue::Queue::new(0);
        for i in 0..5u32 {
            local.put(i);
        }
        let remote_q = r.queue::<u32>("t", 0).unwrap();
        assert_eq!(drain(&local, &remote_q), 5);
        assert_eq!(Size::qsize(&remote_q), 5);
        let back = multiproc::queue::Queue::new(0);
        assert_eq!(drain(&remote_q, &back), 5);
        assert_eq!(back.get(), 0);
    });
}

#[test]
fn joinable_queue_counts_tasks_across_threads() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "jq");
        let q = r.joinable_queue::<u32>("work", 0).unwrap();
        assert!(
            q.task_done().is_err(),
            "task_done on an empty queue is TaskDoneError"
        );
        for i in 0..20 {
            q.put(i).unwrap();
        }
        assert_eq!(q.unfinished_tasks().unwrap(), 20);
        assert!(matches!(
            q.join_timeout(Duration::from_millis(200)),
            Err(RemoteError::Timeout)
        ));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut sum = 0;
                    while let Ok(v) = q.get_timeout(Duration::from_millis(500)) {
                        sum += v;
                        q.task_done().unwrap();
                    }
                    sum
                })
            })
            .collect();
        q.join_timeout(Duration::from_secs(30)).unwrap();
        let total: u32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(total, (0..20).sum());
        assert_eq!(Tasks::unfinished_tasks(&q), 0);
    });
}

#[test]
fn dict_list_value_namespace_behave_as_pythons() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "objs");
        let d = r.dict::<String, i64>("d").unwrap();
        assert_eq!(d.get(&"x".into()).unwrap(), None);
        assert!(matches!(d.get_item(&"x".into()), Err(RemoteError::KeyError(k)) if k == "\"x\""));
        d.insert("x".into(), 1).unwrap();
        d.update([("y".to_string(), 2), ("z".to_string(), 3)])
            .unwrap();
        assert_eq!(d.len().unwrap(), 3);
        assert_eq!(d.add("x".into(), 10).unwrap(), 11);
        assert_eq!(d.setdefault("x".into(), 99).unwrap(), 11);
        assert_eq!(d.setdefault("w".into(), 5).unwrap(), 5);
        assert_eq!(
            d.get_many(&["y".into(), "nope".into()]).unwrap(),
            vec![Some(2), None]
        );
        assert_eq!(d.remove(&"y".into()).unwrap(), Some(2));
        assert!(d.del_item(&"y".into()).is_err());
        let mut items = d.items().unwrap();
        items.sort();
        assert_eq!(
            items,
            vec![("w".into(), 5), ("x".into(), 11), ("z".into(), 3)]
        );
        assert!(!d.compare_and_set(&"x".into(), Some(&1), 0).unwrap());
        assert!(d.compare_and_set(&"x".into(), Some(&11), 0).unwrap());
        d.clear().unwrap();
        assert!(d.is_empty().unwrap());

        let l = r.list::<u32>("l").unwrap();
        l.extend([1, 2, 3, 2]).unwrap();
        l.append(4).unwrap();
        assert_eq!(l.get(-1).unwrap(), 4);
        assert!(matches!(l.get(10), Err(RemoteError::IndexError(_))));
        l.set(0, 10).unwrap();
        assert!(matches!(l.set(10, 0), Err(RemoteError::IndexError(_))));
        assert_eq!(l.index(&2).unwrap(), 1);
        assert_eq!(l.count(&2).unwrap(), 2);
        l.remove(&2).unwrap();
        assert!(matches!(l.remove(&99), Err(RemoteError::ValueError(_))));
        assert_eq!(l.pop().unwrap(), 4);
        assert_eq!(l.to_vec().unwrap(), vec![10, 3, 2]);

        let v = r.value("v", 5u64).unwrap();
        assert_eq!(v.get().unwrap(), 5);
        // `initial` only applies to a value never set.
        assert_eq!(r.value("v", 0u64).unwrap().get().unwrap(), 5);
        assert_eq!(v.add(2).unwrap(), 7);
        assert!(v.compare_and_set(&7, 8).unwrap());

        let ns = r.namespace_object("n").unwrap();
        ns.set("x", 1u8).unwrap();
        ns.set("name", "ada").unwrap();
        assert_eq!(ns.get::<String>("name").unwrap(), "ada");
        assert!(matches!(
            ns.get::<u8>("nope"),
            Err(RemoteError::AttributeError(_))
        ));
        let mut f = ns.fields().unwrap();
        f.sort();
        assert_eq!(f, vec!["name", "x"]);
    });
}

#[test]
fn an_object_opened_as_another_type_is_a_data_error_not_a_misread() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "types");
        r.list::<String>("names")
            .unwrap()
            .append("ada".into())
            .unwrap();
        assert!(matches!(r.list::<u64>("names"), Err(RemoteError::Data(_))));
        r.delete("names").unwrap();
        assert!(r.list::<u64>("names").is_ok());
    });
}

#[test]
fn threads_increment_under_a_lock_without_losing_updates() {
    common::watchdog(120, || {
        let s = common::redis::start(false);
        let r = connect(&s, "lock");
        let lock = r.lock("l").unwrap();
        let total = r.value("n", 0u64).unwrap();
        let ts: Vec<_> = (0..4)
            .map(|_| {
                let (lock, total) = (r.lock("l").unwrap(), total.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let held = lock.hold().unwrap();
                        let v = total.get().unwrap();
                        total.set_fenced(&held, v + 1).unwrap();
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(total.get().unwrap(), 800);
        assert!(lock.try_acquire().unwrap());
        assert!(!r.lock("l").unwrap().try_acquire().unwrap());
        lock.release().unwrap();
        assert!(matches!(lock.release(), Err(RemoteError::Misuse(_))));
    });
}

#[test]
fn rlock_is_reentrant_for_its_thread_only() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "rlock");
        let l = r.rlock("r").unwrap();
        l.acquire().unwrap();
        l.acquire().unwrap();
        let l2 = l.clone();
        let other = std::thread::spawn(move || {
            (
                l2.try_acquire().unwrap(),
                matches!(l2.release(), Err(RemoteError::Misuse(_))),
            )
        });
        assert_eq!(other.join().unwrap(), (false, true));
        l.release().unwrap();
        let l3 = l.clone();
        assert!(
            !std::thread::spawn(move || l3.try_acquire().unwrap())
                .join()
                .unwrap()
        );
        l.release().unwrap();
        let l4 = l.clone();
        assert!(
            std::thread::spawn(move || {
                let ok = l4.try_acquire().unwrap();
                l4.release().unwrap();
                ok
            })
            .join()
            .unwrap()
        );
    });
}

#[test]
fn semaphore_bounds_holders_and_bounded_refuses_extra_releases() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "sem");
        let sem = r.semaphore("s", 2).unwrap();
        assert!(sem.try_acquire().unwrap());
        assert!(sem.try_acquire().unwrap());
        assert!(!sem.try_acquire().unwrap());
        let t = Instant::now();
        assert!(!sem.acquire_timeout(Duration::from_millis(300)).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(300));
        sem.release().unwrap();
        assert!(sem.try_acquire().unwrap());
        sem.release().unwrap();
        sem.release().unwrap();
        // An extra release adds a unit (Python's Semaphore).
        sem.release().unwrap();
        for _ in 0..3 {
            assert!(sem.try_acquire().unwrap());
        }
        let b = r.bounded_semaphore("b", 1).unwrap();
        assert!(matches!(b.release(), Err(RemoteError::Misuse(_))));
    });
}

#[test]
fn event_wakes_a_waiter_in_another_thread() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "ev");
        let e = r.event("e").unwrap();
        assert!(!e.is_set().unwrap());
        let t = Instant::now();
        assert!(!e.wait_timeout(Duration::from_millis(300)).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(300));
        let e2 = e.clone();
        let waiter = std::thread::spawn(move || e2.wait_timeout(Duration::from_secs(20)).unwrap());
        e.set().unwrap();
        assert!(waiter.join().unwrap());
        e.clear().unwrap();
        assert!(!e.is_set().unwrap());
    });
}

#[test]
fn condition_notify_wakes_waiters_and_wait_requires_the_lock() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "cond");
        let c = r.condition("c").unwrap();
        assert!(matches!(
            c.wait_timeout(Duration::from_millis(10)),
            Err(RemoteError::Misuse(_))
        ));
        let flag = r.value("ready", false).unwrap();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (c, flag) = (r.condition("c").unwrap(), flag.clone());
                std::thread::spawn(move || {
                    c.acquire().unwrap();
                    let ok = c
                        .wait_for(|| flag.get().unwrap(), Some(Duration::from_secs(30)))
                        .unwrap();
                    c.release().unwrap();
                    ok
                })
            })
            .collect();
        // Timed-out waits while nobody notifies; the lock is held again after each.
        c.acquire().unwrap();
        assert!(!c.wait_timeout(Duration::ZERO).unwrap());
        assert!(
            c.lock().fence().is_some(),
            "wait(0) must leave the lock held"
        );
        assert!(!c.wait_timeout(Duration::from_millis(200)).unwrap());
        assert!(c.lock().fence().is_some());
        flag.set(true).unwrap();
        c.notify_all().unwrap();
        c.release().unwrap();
        for w in waiters {
            assert!(w.join().unwrap());
        }
    });
}

#[test]
fn barrier_releases_all_parties_with_distinct_indexes_and_breaks_on_timeout() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "bar");
        let parties = 3;
        for _round in 0..2 {
            let ts: Vec<_> = (0..parties)
                .map(|_| {
                    let b = r.barrier("b", parties).unwrap();
                    std::thread::spawn(move || b.wait_timeout(Duration::from_secs(30)).unwrap())
                })
                .collect();
            let mut idx: Vec<usize> = ts.into_iter().map(|t| t.join().unwrap()).collect();
            idx.sort();
            assert_eq!(idx, vec![0, 1, 2]);
        }
        let b = r.barrier("b", parties).unwrap();
        assert!(matches!(
            b.wait_timeout(Duration::from_millis(200)),
            Err(RemoteError::BrokenBarrier)
        ));
        assert!(b.broken().unwrap());
        assert!(matches!(b.wait(), Err(RemoteError::BrokenBarrier)));
        b.reset().unwrap();
        assert!(!b.broken().unwrap());
        assert_eq!(b.n_waiting().unwrap(), 0);
    });
}

#[test]
fn handles_travel_by_reference_to_child_processes() {
    fn child((d, q): (remote::Dict<String, u32>, remote::Queue<u32>)) {
        d.insert("from-child".into(), std::process::id()).unwrap();
        q.put(7).unwrap();
    }
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "handles");
        let d = r.dict::<String, u32>("d").unwrap();
        let q = r.queue::<u32>("q", 0).unwrap();
        for m in common::METHODS {
            let mut p = multiproc::process::get_context(Some(m))
                .process()
                .target(child, (d.clone(), q.clone()));
            p.start().unwrap();
            p.join().unwrap();
            assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), 7);
            assert!(d.contains(&"from-child".into()).unwrap());
        }
    });
}

#[test]
fn a_stopped_server_gives_timeouts_within_the_deadline_then_the_run_goes_on() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = Remote::builder(&s.url(), "stop")
            .op_timeout(Duration::from_millis(500))
            .connect()
            .unwrap();
        let q = r.queue::<u32>("q", 0).unwrap();
        q.put(1).unwrap();
        common::redis::signal(&s, libc::SIGSTOP);
        let t = Instant::now();
        assert!(matches!(q.qsize(), Err(RemoteError::Timeout)));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        let t = Instant::now();
        assert!(matches!(
            q.get_timeout(Duration::from_millis(800)),
            Err(GetError::Unavailable(_) | GetError::Empty)
        ));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        common::redis::signal(&s, libc::SIGCONT);
        // Nothing lost; the handle reconnects by itself.
        assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), 1);
    });
}

/// `FLUSHALL` keeps the connections open, so only the epoch tells a waiting get that its
/// queue is gone: it gives up as `BackendLost`, within about a second, not at its timeout.
#[test]
fn a_flushed_server_ends_a_waiting_get_as_backend_lost() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "flushed");
        let q = r.queue::<u32>("q", 0).unwrap();
        let t = Instant::now();
        let waiter = std::thread::spawn(move || q.get_timeout(Duration::from_secs(30)));
        let mut c = redis::Client::open(s.url())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(10))
            .unwrap();
        let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
        let got = waiter.join().unwrap();
        assert!(
            matches!(got, Err(GetError::Unavailable(ref m)) if m.contains("lost")),
            "{got:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(matches!(r.check(), Err(RemoteError::BackendLost)));
    });
}

#[test]
fn a_server_restarted_without_persistence_is_backend_lost_and_with_aof_nothing_is_lost() {
    common::watchdog(90, || {
        let mut s = common::redis::start(false);
        let r = connect(&s, "lost");
        let q = r.queue::<u32>("q", 0).unwrap();
        q.put(1).unwrap();
        s.restart().unwrap();
        let t = Instant::now();
        let got = q.get_timeout(Duration::from_secs(5));
        assert!(
            matches!(got, Err(GetError::Unavailable(ref m)) if m.contains("lost")),
            "{got:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(6));
        assert!(matches!(r.check(), Err(RemoteError::BackendLost)));
        // A fresh connection starts afresh.
        let r2 = connect(&s, "lost");
        assert_eq!(r2.queue::<u32>("q", 0).unwrap().qsize().unwrap(), 0);

        let mut s = common::redis::start(true);
        let r = connect(&s, "aof");
        let q = r.queue::<u32>("q", 0).unwrap();
        for i in 0..100 {
            q.put(i).unwrap();
        }
        // AOF is fsynced every second: give it that long before the crash.
        std::thread::sleep(Duration::from_millis(1500));
        s.restart().unwrap();
        let got: Vec<u32> = (0..100)
            .map(|_| q.get_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        r.check().unwrap();
    });
}

#[test]
fn bad_urls_and_names_are_typed_errors() {
    assert!(matches!(
        remote::connect("http://x", "ns"),
        Err(RemoteError::Invalid(_))
    ));
    assert!(matches!(
        remote::connect("redis://127.0.0.1:1/0", "a{b}"),
        Err(RemoteError::Invalid(_))
    ));
    let refused = Remote::builder("redis://127.0.0.1:1/0", "ns")
        .op_timeout(Duration::from_secs(2))
        .connect();
    assert!(
        matches!(refused, Err(RemoteError::Unreachable(_))),
        "{refused:?}"
    );
    let _ = Arc::new(());
}

#[test]
fn an_acl_user_and_password_in_the_url_are_used_and_a_wrong_one_is_a_typed_error() {
    common::watchdog(60, || {
        let s = multiproc::remote::RedisServer::start_with_args(
            false,
            &[
                "--user", "default", "off", "--user", "alice", "on", ">s3cret", "~*", "&*", "+@all",
            ],
        )
        .unwrap();
        let url = format!("redis://alice:s3cret@127.0.0.1:{}/0", s.port());
        let r = remote::connect(&url, "acl").unwrap();
        // The password stays out of what is shown.
        assert_eq!(
            r.server(),
            format!("redis://alice@127.0.0.1:{}/0", s.port())
        );
        assert!(!format!("{r:?}").contains("s3cret"));
        let q = r.queue::<u32>("q", 0).unwrap();
        q.put(5).unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(5)).unwrap(), 5);
        // Pub/sub waits log in too.
        let e = r.event("e").unwrap();
        assert!(!e.wait_timeout(Duration::from_millis(100)).unwrap());
        let bad = format!("redis://alice:wrong@127.0.0.1:{}/0", s.port());
        let refused = remote::connect(&bad, "acl");
        assert!(
            matches!(refused, Err(RemoteError::Authentication(_))),
            "{refused:?}"
        );
        let anonymous = format!("redis://127.0.0.1:{}/0", s.port());
        let refused = remote::connect(&anonymous, "acl");
        assert!(
            matches!(refused, Err(RemoteError::Authentication(_))),
            "{refused:?}"
        );
    });
}

#[test]
fn a_get_whose_answer_is_lost_loses_no_item() {
    common::watchdog(60, || {
        let s = common::redis::start(false);
        let r = connect(&s, "lost-answer");
        let q = r.queue::<u32>("q", 0).unwrap();
        q.put_many(vec![1, 2]).unwrap();
        // The server moves item 1 to this consumer, and the answer never arrives.
        remote::lose_next_get_answer();
        assert!(matches!(
            q.get_timeout(Duration::from_secs(5)),
            Err(GetError::Unavailable(_))
        ));
        // The next get of this consumer gets it: nothing lost, order kept.
        assert_eq!(q.get_timeout(Duration::from_secs(5)).unwrap(), 1);
        assert_eq!(q.get_timeout(Duration::from_secs(5)).unwrap(), 2);
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
        // Another consumer's lost answer is its own: this one is not handed it.
        q.put(3).unwrap();
        let other = q.clone();
        remote::lose_next_get_answer();
        assert!(other.get_timeout(Duration::from_secs(5)).is_err());
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
        assert_eq!(other.get_nowait().unwrap(), 3);
    });
}
