//! A context builds everything (≈ `BaseContext`), and a child started from a context reports
//! that start method and gives it to its own children (CPython: `get_context('spawn')`'s child
//! says `spawn`), after `_test_multiprocessing.TestStartMethod`.

mod common;

use std::time::Duration;

use common::watchdog;
use multiproc::process::{Process, StartMethod, get_context, get_start_method};

fn report(_: ()) -> (String, String) {
    // The child's own default, and what its own default child reports.
    let mine = get_start_method().name().to_owned();
    let mut p = Process::builder().target(|_: ()| get_start_method().name().to_owned(), ());
    p.start().unwrap();
    let child = p.join_timeout(Duration::from_secs(30)).unwrap();
    (mine, child)
}

#[test]
fn a_child_reports_the_method_that_started_it_and_passes_it_on() {
    watchdog(120, || {
        for m in [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::Forkserver,
        ] {
            let mut p = get_context(Some(m)).process().target(report, ());
            p.start().unwrap();
            let (mine, child) = p.join_timeout(Duration::from_secs(60)).unwrap();
            assert_eq!((mine.as_str(), child.as_str()), (m.name(), m.name()), "{m}");
        }
    });
}

#[test]
fn a_context_makes_every_shared_object() {
    watchdog(60, || {
        let ctx = get_context(Some(StartMethod::Fork));
        let lock = ctx.lock().unwrap();
        let rlock = ctx.rlock().unwrap();
        let sem = ctx.semaphore(2).unwrap();
        let bsem = ctx.bounded_semaphore(1).unwrap();
        let event = ctx.event().unwrap();
        let barrier = ctx.barrier(2).unwrap();
        let value = ctx.value(0u64).unwrap();
        let array = ctx.array(&[1u32, 2, 3]).unwrap();
        let zeros = ctx.array_zeroed::<u8>(16).unwrap();
        let q = ctx.queue::<u32>(0).unwrap();
        let jq = ctx.joinable_queue::<u32>(0).unwrap();
        let sq = ctx.simple_queue::<u32>().unwrap();
        let _cond = ctx.condition().unwrap();
        let (mut a, mut b) = ctx.pipe(true).unwrap();
        let mut p = ctx.process().fork_target({
            let (lock, rlock, sem, bsem, event, barrier) = (
                lock.clone(),
                rlock.clone(),
                sem.clone(),
                bsem.clone(),
                event.clone(),
                barrier.clone(),
            );
            let (value, array, zeros, q, jq, sq) = (
                value.clone(),
                array.clone(),
                zeros.clone(),
                q.clone(),
                jq.clone(),
                sq.clone(),
            );
            move || {
                lock.acquire().leak();
                std::mem::forget(rlock.acquire());
                sem.acquire().leak();
                bsem.acquire().leak();
                value.set(7);
                array.set(0, 10);
                zeros.set(15, 1);
                q.put(1).unwrap();
                jq.put(2).unwrap();
                sq.put(3).unwrap();
                event.set();
                barrier.wait_timeout(Duration::from_secs(30)).unwrap();
                b.send(&"done").unwrap();
            }
        });
        p.start().unwrap();
        assert!(event.wait_timeout(Duration::from_secs(30)));
        barrier.wait_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(a.recv::<String>().unwrap(), "done");
        p.join_timeout(Duration::from_secs(30)).unwrap();
        assert!(lock.locked());
        assert_eq!(sem.try_acquire().map(|g| g.leak()), Some(()));
        assert!(sem.try_acquire().is_none() && bsem.try_acquire().is_none());
        assert_eq!(
            (value.get(), array.to_vec(), zeros.get(15)),
            (7, vec![10, 2, 3], Some(1))
        );
        assert_eq!(
            (q.get().unwrap(), jq.get().unwrap(), sq.get().unwrap()),
            (1, 2, 3)
        );
        assert_eq!(
            rlock.try_acquire_checked().map(|r| r.is_err()),
            Some(true),
            "its holder exited"
        );
    });
}
