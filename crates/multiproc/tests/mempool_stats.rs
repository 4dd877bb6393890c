//! Pool statistics and arena reclamation. Alone in its test binary: the statistics are
//! process-wide, so no other test may allocate from the pool meanwhile.

mod common;

use std::alloc::Layout;

use common::watchdog;
use multiproc::mempool::{self, ARENA_SIZE};

#[test]
fn statistics_reconcile_and_empty_arenas_go_back_to_the_system() {
    watchdog(60, || {
        let before = mempool::stats();
        // 3 MiB of 512-byte blocks, on a thread that then exits (its cache is flushed).
        let layout = Layout::from_size_align(512, 16).unwrap();
        let n = 3 * ARENA_SIZE / 512;
        let blocks: Vec<usize> = std::thread::spawn(move || {
            (0..n)
                .map(|_| mempool::alloc(layout).unwrap().as_ptr() as usize)
                .collect()
        })
        .join()
        .unwrap();
        let during = mempool::stats();
        let class = &during.classes[31];
        assert_eq!(class.size, 512);
        assert!(class.blocks_in_use >= n, "{class:?}");
        assert!(during.arenas >= 3, "{during:?}");
        assert!(during.bytes_in_use() >= n * 512);
        assert_eq!(
            during.bytes_wasted(),
            during.arenas * ARENA_SIZE - during.bytes_in_use()
        );
        let text = during.to_string();
        assert!(text.contains("blocks in use"), "{text}");
        // Free them on another thread, which then exits.
        std::thread::spawn(move || {
            for b in blocks {
                // SAFETY: each came from `mempool::alloc(layout)`.
                unsafe { mempool::dealloc(std::ptr::NonNull::new(b as *mut u8).unwrap(), layout) };
            }
        })
        .join()
        .unwrap();
        let after = mempool::stats();
        assert_eq!(after.classes[31].blocks_in_use, 0, "{after:?}");
        assert!(
            after.arenas_freed_total >= before.arenas_freed_total + 2,
            "empty arenas returned: {after:?}"
        );
        assert!(after.arenas <= 1, "{after:?}");
    });
}
