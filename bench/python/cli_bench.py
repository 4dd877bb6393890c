"""CPython's side of `multiproc bench`: the same measurements under the same keys
(crates/multiproc-cli/src/bench/measure.rs), printed as one JSON object.

Run: python3 bench/python/cli_bench.py --bytes N --trips N --tasks N --starts N --max-workers N
"""
import argparse
import json
import multiprocessing as mp
import os
import threading
import time
from multiprocessing.pool import ThreadPool

SIZES = [8, 1024, 64 * 1024, 1 << 20]
WORK = 20_000


def items_for(total, size):
    return max(200, min(200_000, total // size))


def drain_queue(q, done, n):
    done.put(0)
    for _ in range(n):
        q.get()
    done.put(1)


def drain_pipe(c, n):
    c.send_bytes(b"ready")
    for _ in range(n):
        c.recv_bytes()
    c.send_bytes(b"done")


def throughput(ctx, total):
    out = {}
    for size in SIZES:
        n = items_for(total, size)
        item = b"\x07" * size
        q, done = ctx.Queue(), ctx.Queue()
        p = ctx.Process(target=drain_queue, args=(q, done, n))
        p.start()
        done.get()
        t0 = time.perf_counter()
        for _ in range(n):
            q.put(item)
        done.get()
        out[f"queue.items_s@{size}"] = n / (time.perf_counter() - t0)
        p.join()
        a, b = ctx.Pipe()
        p = ctx.Process(target=drain_pipe, args=(b, n))
        p.start()
        a.recv_bytes()
        t0 = time.perf_counter()
        for _ in range(n):
            a.send_bytes(item)
        a.recv_bytes()
        out[f"pipe.items_s@{size}"] = n / (time.perf_counter() - t0)
        p.join()
    return out


def drain_ints(q, done, n):
    s = 0
    for _ in range(n):
        s += q.get()
    done.put(s)


def small_items(ctx, total):
    """Ints through mp.Queue (the key multiproc's Queue<u64> figure uses)."""
    n = max(10_000, min(200_000, total // 8))
    q, done = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=drain_ints, args=(q, done, n))
    p.start()
    t0 = time.perf_counter()
    for i in range(n):
        q.put(i)
    done.get()
    rate = n / (time.perf_counter() - t0)
    p.join()
    return {"queue.u64_items_s": rate}


def echo_queue(i, o):
    while True:
        x = i.get()
        if x is None:
            break
        o.put(x)


def echo_pipe(c):
    while True:
        b = c.recv_bytes()
        if b == b"stop":
            break
        c.send_bytes(b)


def percentiles(key, lat):
    lat.sort()
    at = lambda q: lat[min(int(len(lat) * q), len(lat) - 1)]
    return {
        f"rtt.{key}.p50_us": at(0.5) * 1e6,
        f"rtt.{key}.p99_us": at(0.99) * 1e6,
        f"rtt.{key}.max_us": lat[-1] * 1e6,
    }


def timed(n, f):
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        lat.append(time.perf_counter() - t0)
    return lat


def latency(ctx, trips):
    out = {}
    i, o = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=echo_queue, args=(i, o))
    p.start()
    out.update(percentiles("queue", timed(trips, lambda: (i.put(1), o.get()))))
    i.put(None)
    p.join()
    out.update(pipe_latency(ctx, trips, ""))
    # Both processes on one CPU (the child inherits the pin): see measure.rs in the CLI.
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        out.update(pipe_latency(ctx, trips, "_1cpu"))
    finally:
        os.sched_setaffinity(0, allowed)
    return out


def pipe_latency(ctx, trips, suffix):
    a, b = ctx.Pipe()
    p = ctx.Process(target=echo_pipe, args=(b,))
    p.start()
    out = percentiles("pipe" + suffix, timed(trips, lambda: (a.send_bytes(b"ping"), a.recv_bytes())))
    a.send_bytes(b"stop")
    p.join()
    return out


def work(n):
    s = 0
    for i in range(n):
        s += i * i
    return s


def pools(ctx, tasks, max_workers):
    out = {}
    items = [WORK] * tasks
    for w in range(1, max_workers + 1):
        with ThreadPool(w) as tp:
            t0 = time.perf_counter()
            tp.map(work, items, 1)
            out[f"pool.thread.tasks_s@{w}"] = tasks / (time.perf_counter() - t0)
        with ctx.Pool(w) as pp:
            t0 = time.perf_counter()
            pp.map(work, items, 1)
            out[f"pool.process.tasks_s@{w}"] = tasks / (time.perf_counter() - t0)
    return out


def one(x):
    return x + 1


def starts(n):
    out = {}
    for m in ["fork", "forkserver", "spawn"]:
        ctx = mp.get_context(m)
        t0 = time.perf_counter()
        for _ in range(n):
            p = ctx.Process(target=one, args=(1,))
            p.start()
            p.join()
        out[f"start.{m}_ms"] = (time.perf_counter() - t0) * 1e3 / n
    return out


def locks():
    n = 1_000_000
    lock = threading.Lock()
    t0 = time.perf_counter()
    for _ in range(n):
        with lock:
            pass
    return {"lock.ns": (time.perf_counter() - t0) * 1e9 / n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bytes", type=int, default=64 << 20)
    ap.add_argument("--trips", type=int, default=5000)
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--starts", type=int, default=10)
    ap.add_argument("--max-workers", type=int, default=2 * os.cpu_count())
    a = ap.parse_args()
    ctx = mp.get_context("fork")
    out = {"python": __import__("sys").version.split()[0]}
    out.update(throughput(ctx, a.bytes))
    out.update(small_items(ctx, a.bytes))
    out.update(latency(ctx, a.trips))
    out.update(pools(ctx, a.tasks, a.max_workers))
    out.update(starts(a.starts))
    out.update(locks())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
