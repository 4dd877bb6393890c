//! What the memory-pool benchmarks share: the allocators compared behind one interface, and
//! the random-lifetime window they all run (included by `mempool.rs` and `mempool_scaling.rs`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr::NonNull;
use std::sync::OnceLock;

use multiproc::mempool::{self, SharedHeap};

/// The allocators compared, behind one interface.
#[derive(Clone, Copy)]
pub enum Which {
    Pool,
    Shared,
    Glibc,
    Mimalloc,
    Jemalloc,
}

pub const ALL: [(Which, &str); 5] = [
    (Which::Pool, "multiproc mempool"),
    (Which::Shared, "multiproc SharedHeap"),
    (Which::Glibc, "glibc malloc (System)"),
    (Which::Mimalloc, "mimalloc"),
    (Which::Jemalloc, "jemalloc"),
];

impl Which {
    #[inline(always)]
    pub fn alloc(self, l: Layout) -> *mut u8 {
        // SAFETY: every layout here has a non-zero size.
        unsafe {
            match self {
                Which::Pool => mempool::alloc(l).unwrap().as_ptr(),
                Which::Shared => heap().alloc(l).unwrap().as_ptr(),
                Which::Glibc => System.alloc(l),
                Which::Mimalloc => mimalloc::MiMalloc.alloc(l),
                Which::Jemalloc => tikv_jemallocator::Jemalloc.alloc(l),
            }
        }
    }

    /// # Safety
    /// `p` came from `self.alloc(l)`.
    #[inline(always)]
    pub unsafe fn free(self, p: *mut u8, l: Layout) {
        // SAFETY: the caller's.
        unsafe {
            match self {
                Which::Pool => mempool::dealloc(NonNull::new_unchecked(p), l),
                Which::Shared => heap().dealloc(NonNull::new_unchecked(p), l),
                Which::Glibc => System.dealloc(p, l),
                Which::Mimalloc => mimalloc::MiMalloc.dealloc(p, l),
                Which::Jemalloc => tikv_jemallocator::Jemalloc.dealloc(p, l),
            }
        }
    }
}

pub const SIZES: [usize; 4] = [16, 32, 48, 64];

/// The shared heap of this run (a forked child inherits its mapping).
pub fn heap() -> &'static SharedHeap {
    static HEAP: OnceLock<SharedHeap> = OnceLock::new();
    HEAP.get_or_init(|| SharedHeap::new(1 << 30).unwrap())
}

/// A window of 1,000 live objects; each step frees a pseudo-random one and allocates anew.
pub fn window(w: Which, steps: usize) {
    let l = |s: usize| Layout::from_size_align(SIZES[s & 3], 8).unwrap();
    let mut live: Vec<(*mut u8, usize)> = (0..1000).map(|i| (w.alloc(l(i)), i)).collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in 0..steps {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = (x % 1000) as usize;
        let (p, s) = live[k];
        // SAFETY: allocated with `l(s)` and not freed since.
        unsafe { w.free(p, l(s)) };
        live[k] = (w.alloc(l(i)), i);
    }
    for (p, s) in live {
        // SAFETY: as above.
        unsafe { w.free(p, l(s)) };
    }
}

/// Steps each thread (or process) runs in the scaling benchmarks: long enough that starting
/// the thread and filling its cache do not weigh.
pub const STEPS: usize = 1_000_000;
