//! A child forked while another thread of the parent is replacing the excepthook (holding the
//! hook's lock for writing) must still report a thread's panic: the lock is reset in the
//! child, as CPython reinitialises its locks after fork. Alone in its binary, so that the
//! thread swapping hooks does not disturb other tests.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::watchdog;
use multiproc::process::{Process, StartMethod};
use multiproc::thread;

/// In the child: a multiproc thread panics (its excepthook runs), and the child goes on.
fn child(x: u32) -> u32 {
    let t = thread::spawn(|| -> u32 { panic!("on purpose") });
    assert!(t.join().is_err());
    x * 2
}

#[test]
fn forking_while_another_thread_sets_the_excepthook_does_not_hang_the_child() {
    watchdog(120, || {
        let stop = Arc::new(AtomicBool::new(false));
        let setter = std::thread::spawn({
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::Relaxed) {
                    thread::set_excepthook(|_| {});
                    thread::reset_excepthook();
                }
            }
        });
        for i in 0..200u32 {
            let mut p = Process::builder()
                .start_method(StartMethod::Fork)
                .target(child, i);
            p.start().unwrap();
            assert_eq!(p.join_timeout(Duration::from_secs(30)).unwrap(), i * 2);
        }
        stop.store(true, Ordering::Relaxed);
        setter.join().unwrap();
    });
}
