//! The small-object pool against a shadow model: random sizes and lifetimes, on several
//! threads, with blocks freed by other threads than the allocating one. Every block must be
//! aligned, inside a pool (or from the system above 512 bytes), disjoint from every other live
//! block, and keep its contents until freed.

mod common;

use std::alloc::Layout;
use std::collections::BTreeMap;
use std::ptr::NonNull;

use common::watchdog;
use multiproc::mempool::{self, POOL_SIZE, Pool, Pooled};

/// xorshift: deterministic per thread.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

struct Live {
    ptr: NonNull<u8>,
    layout: Layout,
    tag: u8,
}

// SAFETY: a block is plain memory owned by whoever holds its `Live`.
unsafe impl Send for Live {}

fn check_and_free(b: Live) {
    let p = b.ptr.as_ptr();
    // SAFETY: `p` points to `size` bytes we filled with `tag` and own.
    let bytes = unsafe { std::slice::from_raw_parts(p, b.layout.size()) };
    assert!(
        bytes.iter().all(|&x| x == b.tag),
        "contents changed while live"
    );
    // SAFETY: from `mempool::alloc` with this layout, freed once.
    unsafe { mempool::dealloc(b.ptr, b.layout) };
}

fn alloc_checked(rng: &mut Rng, live: &mut BTreeMap<usize, Live>) {
    let size = match rng.next() % 10 {
        0 => 513 + (rng.next() % 2000) as usize, // system allocator
        _ => 1 + (rng.next() % 512) as usize,
    };
    let align = [1, 2, 4, 8, 16][(rng.next() % 5) as usize];
    let layout = Layout::from_size_align(size, align).unwrap();
    let ptr = mempool::alloc(layout).expect("memory");
    let addr = ptr.as_ptr() as usize;
    assert_eq!(addr % align, 0, "misaligned");
    if size <= 512 {
        assert_eq!(addr % 16, 0, "pool blocks are 16-aligned");
        let pool = addr & !(POOL_SIZE - 1);
        assert!(addr >= pool + 64, "block overlaps its pool header");
        assert!(addr + size <= pool + POOL_SIZE, "block runs past its pool");
    }
    // Disjoint from the neighbours below and above.
    if let Some((&a, b)) = live.range(..=addr).next_back() {
        assert!(
            a + b.layout.size() <= addr,
            "handed out twice / overlapping"
        );
    }
    if let Some((&a, _)) = live.range(addr..).next() {
        assert!(addr + size <= a, "overlaps the next live block");
    }
    let tag = (rng.next() % 251) as u8 + 1;
    // SAFETY: a fresh block of `size` bytes.
    unsafe { ptr.as_ptr().write_bytes(tag, size) };
    live.insert(addr, Live { ptr, layout, tag });
}

#[test]
fn random_sizes_and_lifetimes_against_a_shadow_model() {
    watchdog(120, || {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t + 1));
                    let mut live = BTreeMap::new();
                    for _ in 0..100_000 {
                        if live.len() < 2000 && (live.is_empty() || !rng.next().is_multiple_of(3)) {
                            alloc_checked(&mut rng, &mut live);
                        } else {
                            let k = *live
                                .keys()
                                .nth((rng.next() % live.len() as u64) as usize)
                                .unwrap();
                            check_and_free(live.remove(&k).unwrap());
                        }
                    }
                    for (_, b) in live {
                        check_and_free(b);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn blocks_freed_by_another_thread() {
    watchdog(120, || {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Live>>(4);
        let consumer = std::thread::spawn(move || {
            let mut n = 0;
            for batch in rx {
                for b in batch {
                    check_and_free(b);
                    n += 1;
                }
            }
            n
        });
        let mut rng = Rng(42);
        let mut total = 0;
        for _ in 0..200 {
            let mut live = BTreeMap::new();
            for _ in 0..500 {
                alloc_checked(&mut rng, &mut live);
            }
            total += live.len();
            tx.send(live.into_values().collect()).unwrap();
        }
        drop(tx);
        assert_eq!(consumer.join().unwrap(), total);
    });
}

#[test]
fn pooled_drops_exactly_once_and_handles_every_shape() {
    watchdog(30, || {
        use std::rc::Rc;
        let counter = Rc::new(());
        {
            let pool = Pool::<(Rc<()>, u64)>::new();
            assert!(pool.is_pooled());
            let a = pool.alloc((counter.clone(), 1));
            let b = Pooled::new((counter.clone(), 2));
            assert_eq!(Rc::strong_count(&counter), 3);
            let (rc, n) = Pooled::into_inner(b);
            assert_eq!(n, 2);
            drop(rc);
            assert_eq!(Rc::strong_count(&counter), 2);
            assert_eq!(a.1, 1);
        }
        assert_eq!(Rc::strong_count(&counter), 1, "dropped exactly once");

        // Zero-size, large (system allocator), over-aligned.
        let z = Pooled::new(());
        assert_eq!(*z, ());
        assert!(!Pool::<[u8; 600]>::new().is_pooled());
        let big = Pooled::new([7u8; 600]);
        assert!(big.iter().all(|&x| x == 7));
        #[repr(align(64))]
        #[derive(Debug, PartialEq)]
        struct Wide(u8);
        assert!(!Pool::<Wide>::new().is_pooled());
        let w = Pooled::new(Wide(3));
        assert_eq!(&*w as *const Wide as usize % 64, 0);
        let mut s = Pooled::new(String::from("pooled"));
        s.push('!');
        assert_eq!(*s, "pooled!");
    });
}

/// Forking while another thread has pools of its own: the child (one thread) adopts them as
/// orphans and serves, frees and reuses blocks normally; the parent's thread is unaffected.
#[test]
fn a_forked_child_adopts_the_pools_of_threads_it_does_not_have() {
    use multiproc::process::Process;
    use std::sync::mpsc;
    watchdog(60, || {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let held: Vec<Pooled<[u64; 2]>> = (0..20_000u64).map(|i| Pooled::new([i, i])).collect();
            // Free half, so its pools have free blocks (usable, owned by this thread).
            let kept: Vec<_> = held.into_iter().step_by(2).collect();
            ready_tx.send(()).unwrap();
            done_rx.recv().unwrap();
            assert!(kept.iter().enumerate().all(|(k, b)| b[0] == 2 * k as u64));
        });
        ready_rx.recv().unwrap();
        let mut child = Process::builder().fork_target(|| {
            let mut rng = Rng(99);
            let mut live = BTreeMap::new();
            for _ in 0..50_000 {
                if live.len() < 2_000 && rng.next() % 100 < 55 {
                    alloc_checked(&mut rng, &mut live);
                } else if let Some(&k) = live.keys().next() {
                    check_and_free(live.remove(&k).unwrap());
                }
            }
            for (_, b) in live {
                check_and_free(b);
            }
            7u32
        });
        child.start().unwrap();
        assert_eq!(child.join().unwrap(), 7);
        done_tx.send(()).unwrap();
        holder.join().unwrap();
    });
}
