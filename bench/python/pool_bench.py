"""CPython's figures for the operations in crates/multiproc/benches/pool.rs: pools and
executors of 2 workers on trivial tasks, map over a million ints, and the latency of a
sequential apply.

Run: python3 bench/python/pool_bench.py [--quick]
"""
import concurrent.futures as cf
import multiprocessing as mp
import statistics
import sys
import time
from multiprocessing.pool import ThreadPool


def ident(x):
    return x


def sqr(x):
    return x * x


def rate(submit_all, n):
    t0 = time.perf_counter()
    submit_all(n)
    return n / (time.perf_counter() - t0)


def apply_async_rate(pool, n):
    def go(n):
        rs = [pool.apply_async(ident, (i,)) for i in range(n)]
        for r in rs:
            r.get()
    return rate(go, n)


def submit_rate(ex, n):
    def go(n):
        fs = [ex.submit(ident, i) for i in range(n)]
        for f in fs:
            f.result()
    return rate(go, n)


def map_rate(pool, n, chunksize=None):
    data = list(range(n))
    t0 = time.perf_counter()
    out = pool.map(sqr, data, chunksize) if chunksize else pool.map(sqr, data)
    d = time.perf_counter() - t0
    assert len(out) == n
    return n / d


def imap_rate(pool, n, how="imap"):
    t0 = time.perf_counter()
    count = sum(1 for _ in getattr(pool, how)(sqr, range(n)))
    d = time.perf_counter() - t0
    assert count == n
    return n / d


def apply_latency(pool, n):
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        pool.apply(ident, (i,))
        lat.append(time.perf_counter() - t0)
    lat.sort()
    return lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6, lat[-1] * 1e6


def med(f, k):
    return statistics.median(f() for _ in range(k))


def main():
    quick = "--quick" in sys.argv
    k = 3 if quick else 5
    n = 5_000 if quick else 20_000
    ctx = mp.get_context("fork")
    print(f"CPython {sys.version.split()[0]}, 2 workers, median of {k}")
    with ctx.Pool(2) as p:
        print(f"Pool(2).apply_async trivial              {med(lambda: apply_async_rate(p, n), k) / 1e3:9.1f} k tasks/s")
        print(f"Pool(2).map 1M ints, default chunksize   {med(lambda: map_rate(p, 1_000_000), k) / 1e6:9.2f} M items/s")
        print(f"Pool(2).map 100k ints, chunksize 1       {med(lambda: map_rate(p, 100_000, 1), k) / 1e3:9.1f} k items/s")
        print(f"Pool(2).imap 100k ints                   {med(lambda: imap_rate(p, 100_000), k) / 1e3:9.1f} k items/s")
        print(f"Pool(2).imap_unordered 100k ints         {med(lambda: imap_rate(p, 100_000, 'imap_unordered'), k) / 1e3:9.1f} k items/s")
        p50, p99, mx = apply_latency(p, 2_000 if quick else 10_000)
        print(f"Pool(2).apply sequential latency         p50 {p50:7.1f} us  p99 {p99:7.1f} us  max {mx:8.1f} us")
    with ThreadPool(2) as p:
        print(f"ThreadPool(2).apply_async trivial        {med(lambda: apply_async_rate(p, n), k) / 1e3:9.1f} k tasks/s")
        print(f"ThreadPool(2).map 1M ints                {med(lambda: map_rate(p, 1_000_000), k) / 1e6:9.2f} M items/s")
    with cf.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        print(f"ProcessPoolExecutor(2).submit trivial    {med(lambda: submit_rate(ex, n // 4), k) / 1e3:9.1f} k tasks/s")
    with cf.ThreadPoolExecutor(2) as ex:
        print(f"ThreadPoolExecutor(2).submit trivial     {med(lambda: submit_rate(ex, n), k) / 1e3:9.1f} k tasks/s")


if __name__ == "__main__":
    main()
