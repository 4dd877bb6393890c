//! `active_count()` and `enumerate()` (the seed's "线程个数: 2"). Kept in its own test binary so
//! no other test's threads come and go while it counts.

mod common;

use std::sync::Arc;

use common::watchdog;
use multiproc::sync::Event;
use multiproc::thread;

#[test]
fn active_count_and_enumerate_track_started_threads() {
    watchdog(20, || {
        // This body runs on a thread multiproc did not start: asking who it is registers its
        // Dummy entry (as CPython's current_thread() does), so count after that.
        let me = thread::current_thread();
        assert!(me.name().starts_with("Dummy-"));
        let before = thread::active_count();
        assert_eq!(before, thread::enumerate().len());
        assert!(thread::enumerate().iter().any(|t| t.name() == "MainThread"));
        let gate = Arc::new(Event::new());
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let g = gate.clone();
                thread::Builder::new()
                    .name(format!("counted-{i}"))
                    .spawn(move || g.wait())
                    .unwrap()
            })
            .collect();
        assert_eq!(thread::active_count(), before + 3);
        let names: Vec<String> = thread::enumerate()
            .iter()
            .map(|t| t.name().to_owned())
            .collect();
        for i in 0..3 {
            assert!(names.contains(&format!("counted-{i}")), "{names:?}");
        }
        gate.set();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(thread::active_count(), before);
    })
}
