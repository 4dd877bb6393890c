//! A child forked while another thread of the parent is inside a panic hook (holding std's
//! panic-hook lock) must still run and report: the parent installs multiproc's recording hook
//! before forking, so the child never asks for that lock. Alone in its binary: the hook is
//! installed once per process, and this test needs it not installed yet.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::watchdog;
use multiproc::process::{Process, StartMethod};

#[test]
fn forking_while_another_thread_panics_does_not_hang_the_child() {
    watchdog(120, || {
        // A hook that lingers, so the panicking thread holds the hook lock most of the time.
        std::panic::set_hook(Box::new(|_| {
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(200) {
                std::hint::spin_loop();
            }
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let panicker = std::thread::spawn({
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::panic::catch_unwind(|| panic!("on purpose"));
                }
            }
        });
        for i in 0..20u32 {
            let mut p = Process::builder()
                .start_method(StartMethod::Fork)
                .target(|x: u32| x * 2, i);
            p.start().unwrap();
            assert_eq!(p.join_timeout(Duration::from_secs(30)).unwrap(), i * 2);
        }
        stop.store(true, Ordering::Relaxed);
        panicker.join().unwrap();
        let _ = std::panic::take_hook();
    });
}
