"""CPython's figures for the operations in crates/multiproc/benches/process.rs.

Run: python3 bench/python/process_bench.py
Prints the median of several runs for each figure.
"""
import multiprocessing as mp
import os
import statistics
import sys
import time


def inc(x):
    return x + 1


def target(q, x):
    q.put(x + 1)


def start_join(method, n):
    ctx = mp.get_context(method)
    times = []
    for _ in range(n):
        q = ctx.SimpleQueue()
        t0 = time.perf_counter()
        p = ctx.Process(target=target, args=(q, 1))
        p.start()
        assert q.get() == 2  # the result comes back, as in the Rust bench
        p.join()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def raw_fork(n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def lock_uncontended(n=1_000_000):
    lock = mp.Lock()
    t0 = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        lock.release()
    return n / (time.perf_counter() - t0)


def worker(lock, v, n, start):
    start.wait()
    for _ in range(n):
        with lock:
            v.value += 1


def lock_contended(n=200_000):
    ctx = mp.get_context("fork")
    lock = ctx.Lock()
    v = ctx.Value("q", 0, lock=False)
    start = ctx.Event()
    ps = [ctx.Process(target=worker, args=(lock, v, n // 2, start)) for _ in range(2)]
    for p in ps:
        p.start()
    t0 = time.perf_counter()
    start.set()
    for p in ps:
        p.join()
    d = time.perf_counter() - t0
    assert v.value == n // 2 * 2
    return n / d


def value_increment(n=500_000):
    v = mp.Value("q", 0)
    t0 = time.perf_counter()
    for _ in range(n):
        with v.get_lock():
            v.value += 1
    return n / (time.perf_counter() - t0)


def main():
    print(f"CPython {sys.version.split()[0]}, medians")
    print(f"raw os.fork+waitpid                 {raw_fork(200):8.3f} ms")
    for method, n in [("fork", 50), ("forkserver", 30), ("spawn", 10)]:
        print(f"start+join {method:<11}              {start_join(method, n):8.3f} ms")
    print(f"mp.Lock uncontended acquire+release {statistics.median(lock_uncontended() for _ in range(3)) / 1e6:8.2f} M ops/s")
    print(f"mp.Lock 2 processes contending      {statistics.median(lock_contended() for _ in range(3)) / 1e6:8.2f} M incr/s")
    print(f"Value += 1 under get_lock()         {statistics.median(value_increment() for _ in range(3)) / 1e6:8.2f} M ops/s")


if __name__ == "__main__":
    main()
