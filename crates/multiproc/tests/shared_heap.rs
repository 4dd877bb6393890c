//! `mempool::SharedHeap`: the pool's geometry in shared memory. A shadow model on threads
//! and processes (every block distinct, aligned, inside the heap, contents intact), blocks
//! handed between processes exactly once, typed refusal of bad offsets, and processes killed
//! at any moment (holding only their cache, inside the heap lock, and at random mid-run)
//! after which the dead caches come back and the totals reconcile.

mod common;

use std::alloc::Layout;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{eventually, watchdog};
use multiproc::mempool::{RawBlock, SharedHeap};
use multiproc::process::{Process, Queue, StartMethod};
use multiproc::shared::Shared;
use multiproc::sync::Event;

/// xorshift64*: deterministic, per seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random layout: mostly small (1–512 bytes, alignment 1–64), now and then large.
fn random_layout(rng: &mut Rng, large: bool) -> Layout {
    let align = 1usize << rng.below(7);
    let size = if large && rng.below(200) == 0 {
        600 + rng.below(3 << 20) as usize
    } else {
        1 + rng.below(512) as usize
    };
    Layout::from_size_align(size, align).unwrap()
}

fn fill_byte(off: u64, tag: u64) -> u8 {
    ((off >> 4) ^ tag.wrapping_mul(0x9e37_79b9)) as u8 | 1
}

/// The model: live blocks by offset, shared by all threads of the test.
type Model = Arc<Mutex<BTreeMap<u64, usize>>>;

fn insert_checked(model: &Model, heap: &SharedHeap, off: u64, len: usize) {
    let mut m = model.lock().unwrap();
    assert!(
        off as usize + len <= heap.capacity(),
        "block past the heap's end"
    );
    if let Some((&prev, &plen)) = m.range(..=off).next_back() {
        assert!(
            prev + plen as u64 <= off,
            "block {off} overlaps {prev}+{plen}"
        );
    }
    if let Some((&next, _)) = m.range(off..).next() {
        assert!(
            off + len as u64 <= next,
            "block {off}+{len} overlaps {next}"
        );
    }
    m.insert(off, len);
}

/// One worker of the shadow model: `ops` random allocations and frees, each block filled and
/// checked; frees everything at the end and returns its cache.
fn churn(heap: &SharedHeap, model: Option<&Model>, seed: u64, ops: usize, large: bool) {
    let mut rng = Rng(seed | 1);
    let mut live: Vec<(std::ptr::NonNull<u8>, Layout, u8)> = Vec::new();
    let free = |heap: &SharedHeap, (p, l, byte): (std::ptr::NonNull<u8>, Layout, u8)| {
        // SAFETY: `p` is a live block of `l.size()` bytes that this worker filled.
        let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), l.size()) };
        assert!(
            bytes.iter().all(|&b| b == byte),
            "block at {} changed while in use",
            heap.offset_of(p)
        );
        if let Some(m) = model {
            m.lock().unwrap().remove(&heap.offset_of(p));
        }
        // SAFETY: allocated from `heap` with `l`, dropped from the live set.
        unsafe { heap.dealloc(p, l) };
    };
    for _ in 0..ops {
        if live.len() < 1000 && (live.is_empty() || rng.below(100) < 55) {
            let l = random_layout(&mut rng, large);
            let p = heap.alloc(l).expect("the heap has room");
            assert_eq!(p.as_ptr() as usize % l.align(), 0, "misaligned {l:?}");
            let off = heap.offset_of(p);
            if let Some(m) = model {
                insert_checked(m, heap, off, l.size());
            }
            let byte = fill_byte(off, seed);
            // SAFETY: a fresh block of `l.size()` bytes.
            unsafe { p.as_ptr().write_bytes(byte, l.size()) };
            live.push((p, l, byte));
        } else {
            let i = rng.below(live.len() as u64) as usize;
            free(heap, live.swap_remove(i));
        }
    }
    for b in live {
        free(heap, b);
    }
    heap.trim();
}

#[test]
fn shadow_model_on_four_threads_then_everything_returns() {
    watchdog(120, || {
        let heap = SharedHeap::new(256 << 20).unwrap();
        let model: Model = Arc::default();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (heap, model) = (&heap, &model);
                s.spawn(move || churn(heap, Some(model), 0x1234 + t, 60_000, true));
            }
        });
        assert!(model.lock().unwrap().is_empty());
        let st = heap.stats();
        let in_use = st.pools.blocks_in_use();
        assert_eq!(in_use, 0, "{st}");
        assert_eq!(st.blocks_cached(), 0, "{st}");
        assert_eq!(st.caching_threads, 0, "{st}");
        assert_eq!(st.large_blocks, 0, "{st}");
        assert!(st.pools.arenas <= 1, "empty arenas go back: {st}");
        assert!(st.pools.arenas_allocated_total >= 2, "{st}");
        assert!(st.to_string().contains("blocks in use"));
    });
}

#[test]
fn shadow_model_on_four_processes() {
    watchdog(240, || {
        let heap = SharedHeap::new(128 << 20).unwrap();
        let mut kids: Vec<Process<()>> = (0..4u64)
            .map(|k| {
                let method = [StartMethod::Fork, StartMethod::Spawn][k as usize % 2];
                let mut p = Process::builder().start_method(method).target(
                    |(heap, k): (SharedHeap, u64)| churn(&heap, None, 0x5678 + k, 40_000, true),
                    (heap.clone(), k),
                );
                p.start().unwrap();
                p
            })
            .collect();
        // Meanwhile this process churns too, with the model over its own blocks.
        churn(&heap, Some(&Arc::default()), 0x9999, 40_000, false);
        for p in &mut kids {
            p.join().unwrap();
        }
        let st = heap.stats();
        let in_use = st.pools.blocks_in_use();
        assert_eq!(in_use, 0, "{st}");
        assert_eq!(st.blocks_cached(), 0, "{st}");
        assert_eq!(st.large_blocks, 0, "{st}");
    });
}

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Msg {
    producer: u64,
    seq: u64,
    check: u64,
    pad: [u64; 3],
}

fn check_of(producer: u64, seq: u64) -> u64 {
    (producer << 32 | seq).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Producers in two processes allocate, the parent frees: every block arrives once, intact,
/// and all of them are free again at the end.
#[test]
fn blocks_handed_between_processes_arrive_exactly_once() {
    watchdog(240, || {
        const N: u64 = 30_000;
        let heap = SharedHeap::new(64 << 20).unwrap();
        let q: Queue<RawBlock> = Queue::new(0).unwrap();
        let mut kids: Vec<Process<()>> = (1..=2u64)
            .map(|producer| {
                let mut p = Process::new(
                    |(heap, q, producer): (SharedHeap, Queue<RawBlock>, u64)| {
                        for seq in 0..N {
                            let b = heap
                                .boxed(Msg {
                                    producer,
                                    seq,
                                    check: check_of(producer, seq),
                                    pad: [seq; 3],
                                })
                                .unwrap();
                            q.put(b.into_raw()).unwrap();
                        }
                    },
                    (heap.clone(), q.clone(), producer),
                );
                p.start().unwrap();
                p
            })
            .collect();
        let mut next = [0u64; 3];
        let mut sum = 0u64;
        let mut offsets = std::collections::HashSet::new();
        for _ in 0..2 * N {
            let raw = q.get_timeout(Duration::from_secs(60)).unwrap();
            // SAFETY: each block is sent once, by a producer that gave it up.
            let m = unsafe { heap.from_raw::<Msg>(raw) }.unwrap();
            assert_eq!(m.check, check_of(m.producer, m.seq), "{m:?}");
            assert_eq!(m.seq, next[m.producer as usize], "FIFO per producer");
            next[m.producer as usize] += 1;
            sum += m.seq;
            offsets.insert(raw.offset);
        }
        assert_eq!(sum, 2 * (N * (N - 1) / 2));
        assert!(offsets.len() > 1);
        for p in &mut kids {
            p.join().unwrap();
        }
        // The producers' caches: released at exit, or recovered once they are gone.
        heap.recover();
        heap.trim();
        let st = heap.stats();
        let in_use = st.pools.blocks_in_use();
        assert_eq!(in_use, 0, "{st}");
        assert_eq!(st.blocks_cached(), 0, "{st}");
    });
}

#[test]
fn from_raw_refuses_what_is_not_a_block_of_that_type() {
    watchdog(60, || {
        let heap = SharedHeap::new(8 << 20).unwrap();
        let b = heap.boxed(7u64).unwrap();
        let off = b.offset();
        let raw = b.into_raw();
        let bad = [
            RawBlock { offset: 0, size: 8 },
            RawBlock {
                offset: 64,
                size: 8,
            },
            RawBlock {
                offset: off + 1,
                size: 8,
            },
            RawBlock {
                offset: off + 16 * 1000,
                size: 8,
            },
            RawBlock {
                offset: u64::MAX - 7,
                size: 8,
            },
            RawBlock {
                offset: off,
                size: 4,
            },
        ];
        for r in bad {
            // SAFETY: refused before any access.
            let e = unsafe { heap.from_raw::<u64>(r) }.unwrap_err();
            assert_eq!(e.offset, r.offset);
        }
        // A block of another size class is not a `[u64; 8]`.
        let other = RawBlock {
            offset: off,
            size: 64,
        };
        // SAFETY: refused.
        let refused = unsafe { heap.from_raw::<[u64; 8]>(other) };
        assert!(refused.is_err());
        // The real one still comes back, intact.
        // SAFETY: given up by `into_raw` above, taken once.
        let back = unsafe { heap.from_raw::<u64>(raw) }.unwrap();
        assert_eq!(*back, 7);
        // Large blocks take whole arenas, until the heap is full.
        let big = Layout::from_size_align(4 << 20, 8).unwrap();
        let p = heap.alloc(big).unwrap();
        assert_eq!(heap.stats().large_bytes, 4 << 20);
        // SAFETY: allocated just above.
        unsafe { heap.dealloc(p, big) };
        let small = SharedHeap::new(1).unwrap();
        let one = small.boxed([7u8; 1024]).unwrap();
        let e = small.boxed([0u8; 1024]).unwrap_err();
        assert_eq!(e.requested, 1024);
        drop(one);
        assert!(small.boxed([0u8; 1024]).is_ok(), "room again once freed");
    });
}

/// Fills a child's cache (allocates and frees enough blocks of several sizes), then waits.
fn cache_filler(heap: &SharedHeap) {
    for size in [16usize, 48, 200, 512] {
        let l = Layout::from_size_align(size, 8).unwrap();
        let blocks: Vec<_> = (0..300).map(|_| heap.alloc(l).unwrap()).collect();
        for b in blocks {
            // SAFETY: allocated just above with `l`.
            unsafe { heap.dealloc(b, l) };
        }
    }
}

#[test]
fn a_killed_process_cache_comes_back() {
    watchdog(60, || {
        let heap = SharedHeap::new(16 << 20).unwrap();
        let ready = Shared::new(Event::new()).unwrap();
        let mut child = Process::new(
            |(heap, ready): (SharedHeap, Shared<Event>)| -> () {
                cache_filler(&heap);
                ready.set();
                loop {
                    std::thread::park();
                }
            },
            (heap.clone(), ready.clone()),
        );
        child.start().unwrap();
        assert!(ready.wait_timeout(Duration::from_secs(30)));
        let st = heap.stats();
        assert_eq!(st.caching_threads, 1, "{st}");
        let cached = st.blocks_cached();
        assert!(cached > 0, "{st}");
        let in_use = st.pools.blocks_in_use();
        assert_eq!(in_use, cached, "only the cache holds blocks: {st}");
        child.kill().unwrap();
        let _ = child.join();
        let got = heap.recover();
        assert_eq!(got.slots, 1);
        assert_eq!(got.blocks, cached);
        let st = heap.stats();
        let in_use = st.pools.blocks_in_use();
        assert_eq!(in_use, 0, "{st}");
        assert_eq!(st.caching_threads, 0, "{st}");
        assert_eq!(st.blocks_recovered_total, cached as u64);
        assert_eq!(heap.recover(), Default::default(), "nothing twice");
    });
}

#[test]
fn death_inside_the_heap_lock_is_repaired() {
    watchdog(60, || {
        for method in [StartMethod::Fork, StartMethod::Spawn] {
            let heap = SharedHeap::new(16 << 20).unwrap();
            let mut child = Process::builder().start_method(method).target(
                |heap: SharedHeap| -> () {
                    cache_filler(&heap);
                    // Empty the 64-byte stack so the next block comes from a pool.
                    heap.trim();
                    heap.__die_mid_refill(64)
                },
                heap.clone(),
            );
            child.start().unwrap();
            let _ = child.join();
            assert_eq!(child.exitcode(), Some(0));
            // The next locker finds the owner dead, finishes the move, rebuilds the rest.
            let st = heap.stats();
            let in_use = st.pools.blocks_in_use();
            assert_eq!(in_use, 0, "{st}");
            assert_eq!(st.blocks_cached(), 0, "{st}");
            assert!(st.blocks_recovered_total >= 1, "the block in flight: {st}");
            // And the heap works on.
            churn(&heap, Some(&Arc::default()), 42, 20_000, false);
            let st = heap.stats();
            let in_use = st.pools.blocks_in_use();
            assert_eq!(in_use, 0, "{st}");
        }
    });
}

/// Per child in the ledger: a progress counter, then its live blocks (0 = empty entry).
const LEDGER: usize = 1 + 1024;

fn pack(off: u64, l: Layout) -> u64 {
    off << 16 | (l.align().trailing_zeros() as u64) << 12 | l.size() as u64
}

fn unpack(e: u64) -> (u64, Layout) {
    let l = Layout::from_size_align((e & 0xfff) as usize, 1 << ((e >> 12) & 0xf)).unwrap();
    (e >> 16, l)
}

fn ledger(heap: &SharedHeap, raw: RawBlock, k: usize) -> &[AtomicU64] {
    let p = heap.at(raw.offset).cast::<AtomicU64>();
    // SAFETY: the ledger block holds 4 * LEDGER u64s, zeroed, and is only accessed atomically.
    unsafe { std::slice::from_raw_parts(p.as_ptr().add(k * LEDGER), LEDGER) }
}

/// A ledgered worker: random churn of small blocks, each one recorded in the ledger after it
/// is allocated and removed before it is freed.
fn ledgered_churn(heap: &SharedHeap, raw: RawBlock, k: usize, ops: u64) {
    let led = ledger(heap, raw, k);
    let mut rng = Rng(0xabc + k as u64);
    let mut live: Vec<(usize, std::ptr::NonNull<u8>, Layout)> = Vec::new();
    for i in 0..ops {
        if live.len() < 1000 && (live.is_empty() || rng.below(100) < 55) {
            let l = random_layout(&mut rng, false);
            let p = heap.alloc(l).unwrap();
            let off = heap.offset_of(p);
            // SAFETY: a fresh block of `l.size()` bytes.
            unsafe { p.as_ptr().write_bytes(fill_byte(off, k as u64), l.size()) };
            let slot = (1..LEDGER)
                .find(|&j| led[j].load(Ordering::Relaxed) == 0)
                .unwrap();
            led[slot].store(pack(off, l), Ordering::Relaxed);
            live.push((slot, p, l));
        } else {
            let (slot, p, l) = live.swap_remove(rng.below(live.len() as u64) as usize);
            let off = heap.offset_of(p);
            // SAFETY: a live block of ours.
            let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), l.size()) };
            assert!(bytes.iter().all(|&b| b == fill_byte(off, k as u64)));
            led[slot].store(0, Ordering::Relaxed);
            // SAFETY: allocated from `heap` with `l`.
            unsafe { heap.dealloc(p, l) };
        }
        led[0].store(i + 1, Ordering::Relaxed);
    }
    for (slot, p, l) in live {
        led[slot].store(0, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { heap.dealloc(p, l) };
    }
}

/// Four processes churn the heap; one is SIGKILLed mid-run. The others finish, checking
/// every block's contents; then the dead one's cache comes back, and what is still in use
/// is exactly what its ledger says it held (plus at most the one block it was recording).
#[test]
fn four_processes_one_killed_mid_run_totals_reconcile() {
    watchdog(240, || {
        for round in 0..3u64 {
            let heap = SharedHeap::new(128 << 20).unwrap();
            let led_layout = Layout::array::<u64>(4 * LEDGER).unwrap();
            let p = heap.alloc(led_layout).unwrap();
            // SAFETY: a fresh block of that layout.
            unsafe { p.as_ptr().write_bytes(0, led_layout.size()) };
            let led = RawBlock {
                offset: heap.offset_of(p),
                size: led_layout.size() as u64,
            };
            let mut kids: Vec<Process<()>> = (0..4usize)
                .map(|k| {
                    let ops = if k == 0 { u64::MAX } else { 60_000 };
                    let mut p = Process::new(
                        |(heap, led, k, ops): (SharedHeap, RawBlock, usize, u64)| {
                            ledgered_churn(&heap, led, k, ops)
                        },
                        (heap.clone(), led, k, ops),
                    );
                    p.start().unwrap();
                    p
                })
                .collect();
            // Kill the endless one at a point that differs per round.
            let at = 5_000 + round * 7_919;
            assert!(eventually(60, || ledger(&heap, led, 0)[0]
                .load(Ordering::Relaxed)
                >= at));
            kids[0].kill().unwrap();
            let _ = kids[0].join();
            for p in &mut kids[1..] {
                p.join().unwrap();
            }
            // The dead process's cache comes back here, or already did in a survivor if it
            // died holding the heap lock (the next locker recovers then).
            heap.recover();
            let st = heap.stats();
            assert!(st.slots_recovered_total >= 1, "{st}");
            assert_eq!(st.blocks_cached(), 0, "{st}");
            let in_use = st.pools.blocks_in_use();
            let held: Vec<u64> = ledger(&heap, led, 0)[1..]
                .iter()
                .map(|e| e.load(Ordering::Relaxed))
                .filter(|&e| e != 0)
                .collect();
            assert!(
                in_use == held.len() || in_use == held.len() + 1,
                "in use {in_use}, ledger {}: {st}",
                held.len()
            );
            // Free what the dead process held: nothing else is in use (but that one block).
            for e in held {
                let (off, l) = unpack(e);
                // SAFETY: a block the dead process allocated with `l` and can no longer use.
                unsafe { heap.dealloc(heap.at(off), l) };
            }
            heap.trim();
            let st = heap.stats();
            let in_use = st.pools.blocks_in_use();
            assert!(in_use <= 1, "{st}");
            // SAFETY: the ledger, allocated above with this layout.
            unsafe { heap.dealloc(heap.at(led.offset), led_layout) };
        }
    });
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Runs `count` in a spawned process, where no other test opens files meanwhile (the fd
/// table is per process, and this binary runs tests in parallel).
fn fds_in_a_fresh_process(count: fn(()) -> (usize, usize)) -> (usize, usize) {
    let mut p = Process::builder()
        .start_method(StartMethod::Spawn)
        .target(count, ());
    p.start().unwrap();
    p.join().unwrap()
}

/// Open fds before and after making 5,000 `Lock`s, 1,000 `Value`s and an `Array` in a heap.
fn fds_for_objects(_: ()) -> (usize, usize) {
    use multiproc::shared::{Array, Value};
    use multiproc::sync::Lock;
    let heap = SharedHeap::new(64 << 20).unwrap();
    let before = open_fds();
    let locks: Vec<Shared<Lock>> = (0..5000)
        .map(|_| Shared::new_in(&heap, Lock::new()).unwrap())
        .collect();
    let values: Vec<Value<u64>> = (0..1000u64)
        .map(|i| Value::new_in(&heap, i).unwrap())
        .collect();
    let arr = Array::<u32>::zeroed_in(&heap, 100).unwrap();
    let after = open_fds();
    drop((locks, values, arr));
    (before, after)
}

/// 10 queues with 64 KiB rings in `heap`.
fn ten_queues_in(heap: &SharedHeap) -> Vec<Queue<u64>> {
    use multiproc::queue::process::Builder;
    (0..10)
        .map(|_| {
            Builder::new()
                .capacity(64 << 10)
                .heap(heap)
                .queue()
                .unwrap()
        })
        .collect()
}

/// Open fds before and after making 10 queues with their rings in a heap.
fn fds_for_queues(_: ()) -> (usize, usize) {
    let heap = SharedHeap::new(64 << 20).unwrap();
    let before = open_fds();
    let many = ten_queues_in(&heap);
    let after = open_fds();
    drop(many);
    (before, after)
}

fn blocks_in_use(heap: &SharedHeap) -> usize {
    heap.stats().pools.blocks_in_use()
}

/// `Shared`, `Value` and `Array` placed in a heap: thousands of them take no file descriptor
/// each, travel to children of every start method (one fd for the whole heap), work there,
/// and their blocks are free again once the last handle in every process is gone.
#[test]
fn thousands_of_shared_objects_in_a_heap_take_no_fd_each() {
    use multiproc::shared::{Array, Value};
    use multiproc::sync::Lock;
    watchdog(120, || {
        let (before, after) = fds_in_a_fresh_process(fds_for_objects);
        assert!(after <= before, "no fd per object: {before} -> {after}");
        let heap = SharedHeap::new(64 << 20).unwrap();
        let locks: Vec<Shared<Lock>> = (0..5000)
            .map(|_| Shared::new_in(&heap, Lock::new()).unwrap())
            .collect();
        let counters: Vec<Value<u64>> = (0..1000u64)
            .map(|i| Value::new_in(&heap, i).unwrap())
            .collect();
        let arr = Array::<u32>::from_slice_in(&heap, &[1, 2, 3]).unwrap();
        for method in [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::Forkserver,
        ] {
            let mut p = Process::builder().start_method(method).target(
                |(locks, counters, arr): (Vec<Shared<Lock>>, Vec<Value<u64>>, Array<u32>)| {
                    for c in &counters {
                        c.with(|v| *v += 1);
                    }
                    locks[4999].acquire().leak();
                    arr.with(|a| a[0] += 100);
                    locks.len()
                },
                (locks.clone(), counters.clone(), arr.clone()),
            );
            p.start().unwrap();
            assert_eq!(p.join().unwrap(), 5000);
            assert!(locks[4999].locked(), "the child's acquire is seen here");
            locks[4999].release().unwrap();
            assert!(!locks[0].locked());
        }
        for (i, c) in counters.iter().enumerate() {
            assert_eq!(c.get(), i as u64 + 3);
        }
        assert_eq!(arr.to_vec(), [301, 2, 3]);
        assert!(blocks_in_use(&heap) >= 6001);
        drop((locks, counters, arr));
        heap.recover();
        heap.trim();
        assert_eq!(blocks_in_use(&heap), 0, "{}", heap.stats());
    });
}

/// A handle moved into a child is a reference of its own: the object outlives every handle
/// of the parent, even while the parent allocates anew (a premature free would hand the same
/// block out again and the child would read another value).
#[test]
fn a_heap_object_moved_to_a_child_outlives_the_parent_handles() {
    use multiproc::shared::Value;
    watchdog(120, || {
        for method in [StartMethod::Fork, StartMethod::Spawn] {
            let heap = SharedHeap::new(16 << 20).unwrap();
            let go = Shared::new(Event::new()).unwrap();
            let v = Value::new_in(&heap, 41u64).unwrap();
            let mut p = Process::builder().start_method(method).target(
                |(v, go): (Value<u64>, Shared<Event>)| {
                    assert!(go.wait_timeout(Duration::from_secs(60)));
                    v.with(|x| *x += 1);
                    v.get()
                },
                (v, go.clone()),
            );
            p.start().unwrap();
            let others: Vec<Value<u64>> = (0..2000)
                .map(|_| Value::new_in(&heap, 0).unwrap())
                .collect();
            go.set();
            assert_eq!(p.join().unwrap(), 42);
            drop(others);
            heap.recover();
            heap.trim();
            assert_eq!(blocks_in_use(&heap), 0, "{}", heap.stats());
        }
    });
}

/// A heap that is full but for the cache of a killed process: the next allocation recovers
/// that cache by itself and is served from it, block for block.
#[test]
fn a_full_heap_takes_back_a_dead_process_cache_on_its_own() {
    watchdog(60, || {
        let heap = SharedHeap::new(1).unwrap(); // one arena of pools
        let ready = Shared::new(Event::new()).unwrap();
        let mut child = Process::new(
            |(heap, ready): (SharedHeap, Shared<Event>)| -> () {
                let l = Layout::from_size_align(512, 16).unwrap();
                let mut all = Vec::new();
                while let Some(p) = heap.alloc(l) {
                    all.push(p);
                }
                // Free 8: fewer than a cache keeps, so all 8 stay in this process's cache.
                for p in all.drain(..8) {
                    // SAFETY: allocated above with `l`.
                    unsafe { heap.dealloc(p, l) };
                }
                ready.set();
                loop {
                    std::thread::park();
                }
            },
            (heap.clone(), ready.clone()),
        );
        child.start().unwrap();
        assert!(ready.wait_timeout(Duration::from_secs(30)));
        let l = Layout::from_size_align(512, 16).unwrap();
        child.kill().unwrap();
        let _ = child.join();
        let got: Vec<_> = std::iter::from_fn(|| heap.alloc(l)).take(100).collect();
        assert_eq!(got.len(), 8, "exactly the dead cache's blocks");
        let st = heap.stats();
        assert_eq!(st.blocks_recovered_total, 8, "{st}");
        for p in got {
            // SAFETY: allocated above with `l`.
            unsafe { heap.dealloc(p, l) };
        }
    });
}

#[allow(dead_code)]
#[path = "../examples/shared_heap.rs"]
mod shared_heap_example;

#[test]
fn the_shared_heap_example_hands_over_every_reading_and_recovers_the_dead_cache() {
    watchdog(120, || {
        let n = 20_000;
        let (_, sum, st) = shared_heap_example::run(n);
        assert_eq!(sum, n * (n - 1) / 2);
        assert_eq!(st.slots_recovered_total, 1, "{st}");
        assert!(st.blocks_recovered_total >= 50, "{st}");
        let in_use = st.pools.blocks_in_use();
        assert_eq!(in_use, 0, "{st}");
    });
}

/// Queue rings placed in a heap: no fd each, they work between processes (streamed messages
/// too), and their arenas go back when the last handle goes.
#[test]
fn queues_with_their_rings_in_a_heap() {
    use multiproc::process::JoinableQueue;
    use multiproc::queue::process::Builder;
    watchdog(120, || {
        let (before, after) = fds_in_a_fresh_process(fds_for_queues);
        assert!(after <= before, "no fd per queue: {before} -> {after}");
        let heap = SharedHeap::new(64 << 20).unwrap();
        let many = ten_queues_in(&heap);
        assert_eq!(heap.stats().large_blocks, 10);
        let q: Queue<Vec<u8>> = Builder::new()
            .capacity(64 << 10)
            .heap(&heap)
            .queue()
            .unwrap();
        let done: JoinableQueue<u64> = Builder::new().heap(&heap).joinable_queue().unwrap();
        for method in [StartMethod::Fork, StartMethod::Spawn] {
            let mut p = Process::builder().start_method(method).target(
                |(q, done, many): (Queue<Vec<u8>>, JoinableQueue<u64>, Vec<Queue<u64>>)| {
                    q.put(vec![3u8; 1 << 20]).unwrap(); // streams through the 64 KiB ring
                    for (i, m) in many.iter().enumerate() {
                        m.put(i as u64).unwrap();
                    }
                    done.put(7).unwrap();
                    done.join();
                },
                (q.clone(), done.clone(), many.clone()),
            );
            p.start().unwrap();
            let big = q.get_timeout(Duration::from_secs(60)).unwrap();
            assert!(big.len() == 1 << 20 && big.iter().all(|&b| b == 3));
            for (i, m) in many.iter().enumerate() {
                assert_eq!(m.get_timeout(Duration::from_secs(60)).unwrap(), i as u64);
            }
            assert_eq!(done.get_timeout(Duration::from_secs(60)).unwrap(), 7);
            done.task_done().unwrap();
            p.join().unwrap();
        }
        drop((many, q, done));
        heap.recover();
        let st = heap.stats();
        assert_eq!(st.large_blocks, 0, "{st}");
        assert!(st.pools.arenas <= 1, "{st}");
    });
}
