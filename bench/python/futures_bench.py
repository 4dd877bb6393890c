"""CPython's figures for the operations in crates/multiproc/benches/futures.rs: executors of
2 workers on trivial calls (10,000 in flight, then every result()), what awaiting a future
costs over blocking on it (submit + result() against submit + await asyncio.wrap_future),
and what 10,000 futures in flight cost in memory.

Run: python3 bench/python/futures_bench.py [--quick]
"""
import asyncio
import concurrent.futures as cf
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time


def ident(x):
    return x


def wait_file(path):
    while not os.path.exists(path):
        time.sleep(0.001)


def submit_rate(ex, n):
    t0 = time.perf_counter()
    fs = [ex.submit(ident, i) for i in range(n)]
    for f in fs:
        f.result()
    return n / (time.perf_counter() - t0)


def pct(lat, q):
    lat = sorted(lat)
    return lat[min(int(len(lat) * q), len(lat) - 1)] * 1e6


def await_overhead(ex, rounds, per_round):
    loop = asyncio.new_event_loop()
    for i in range(200):
        ex.submit(ident, i).result()
    blocking, awaited = [], []
    for _ in range(rounds):
        for i in range(per_round):
            t0 = time.perf_counter()
            ex.submit(ident, i).result()
            blocking.append(time.perf_counter() - t0)
        for i in range(per_round):
            t0 = time.perf_counter()
            loop.run_until_complete(asyncio.wrap_future(ex.submit(ident, i), loop=loop))
            awaited.append(time.perf_counter() - t0)
    loop.close()
    return blocking, awaited


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def memory(ex, n, holder):
    for i in range(100):
        ex.submit(ident, i).result()
    held = holder()
    before = rss()
    fs = [ex.submit(ident, i) for i in range(n)]
    after = rss()
    return fs, held, after - before


def main():
    quick = "--quick" in sys.argv
    k = 3 if quick else 5
    n = 2_000 if quick else 10_000
    rounds, per_round = (3, 300) if quick else (5, 1_000)
    ctx = mp.get_context("fork")
    print(f"CPython {sys.version.split()[0]}, 2 workers, median of {k}")
    with cf.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        r = statistics.median(submit_rate(ex, n) for _ in range(k))
        print(f"ProcessPoolExecutor(2).submit trivial    {r / 1e3:9.2f} k calls/s")
    with cf.ThreadPoolExecutor(2) as ex:
        r = statistics.median(submit_rate(ex, n) for _ in range(k))
        print(f"ThreadPoolExecutor(2).submit trivial     {r / 1e3:9.2f} k calls/s")
    for name, make in [
        ("ThreadPoolExecutor(2)", lambda: cf.ThreadPoolExecutor(2)),
        ("ProcessPoolExecutor(2)", lambda: cf.ProcessPoolExecutor(2, mp_context=ctx)),
    ]:
        with make() as ex:
            b, a = await_overhead(ex, rounds, per_round)
            print(
                f"{name} sequential submit+wait: result() p50 {pct(b, .5):7.1f} us p99 {pct(b, .99):7.1f} us"
                f" | await wrap_future p50 {pct(a, .5):7.1f} us p99 {pct(a, .99):7.1f} us"
            )
    gate = threading.Event()
    with cf.ThreadPoolExecutor(1) as ex:
        fs, held, grew = memory(ex, 10_000, lambda: ex.submit(gate.wait))
        print(f"ThreadPoolExecutor(1): 10000 futures in flight: +{grew / 2**20:.2f} MiB resident")
        gate.set()
        held.result()
        [f.result() for f in fs]
    path = f"/tmp/multiproc-py-gate-{os.getpid()}"
    with cf.ProcessPoolExecutor(1, mp_context=ctx) as ex:
        fs, held, grew = memory(ex, 10_000, lambda: ex.submit(wait_file, path))
        print(f"ProcessPoolExecutor(1): 10000 futures in flight: +{grew / 2**20:.2f} MiB resident")
        open(path, "w").close()
        held.result()
        [f.result() for f in fs]
    os.remove(path)


if __name__ == "__main__":
    main()
