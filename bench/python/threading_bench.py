"""CPython's figures for the operations in crates/multiproc/benches/threading.rs.

Run: python3 bench/python/threading_bench.py
Prints the median of several runs for each figure, in the same units as the criterion bench.
"""
import queue
import statistics
import sys
import threading
import time

RUNS = 5


def median(f):
    return statistics.median(f() for _ in range(RUNS))


def lock_uncontended(n=1_000_000):
    lock = threading.Lock()
    t0 = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        lock.release()
    return n / (time.perf_counter() - t0)


def lock_contended(n=500_000):
    lock = threading.Lock()
    box = [0]
    start = threading.Barrier(3)

    def work():
        start.wait()
        for _ in range(n // 2):
            with lock:
                box[0] += 1

    ts = [threading.Thread(target=work) for _ in range(2)]
    for t in ts:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    assert box[0] == n // 2 * 2
    return n / (time.perf_counter() - t0)


def event_hop(n=20_000):
    ping, pong = threading.Event(), threading.Event()

    def other():
        for _ in range(n):
            ping.wait()
            ping.clear()
            pong.set()

    t = threading.Thread(target=other)
    t.start()
    t0 = time.perf_counter()
    for _ in range(n):
        ping.set()
        pong.wait()
        pong.clear()
    d = time.perf_counter() - t0
    t.join()
    return d / n / 2 * 1e6  # microseconds per one-way hop


def queue_spsc(n=200_000, cap=1024):
    q = queue.Queue(cap)

    def producer():
        for i in range(n):
            q.put(i)

    t0 = time.perf_counter()
    p = threading.Thread(target=producer)
    p.start()
    s = 0
    for _ in range(n):
        s += q.get()
    p.join()
    assert s == n * (n - 1) // 2
    return n / (time.perf_counter() - t0)


def main():
    print(f"CPython {sys.version.split()[0]}, median of {RUNS} runs")
    print(f"lock_uncontended          threading.Lock acquire+release: {median(lock_uncontended) / 1e6:8.2f} M ops/s")
    print(f"lock_contended_2_threads  increments under threading.Lock: {median(lock_contended) / 1e6:8.2f} M incr/s")
    print(f"event_set_to_wake         one hop of an Event ping-pong:   {median(event_hop):8.2f} us")
    print(f"queue_spsc_u64            queue.Queue(1024), 1 prod/1 cons: {median(queue_spsc) / 1e6:8.3f} M msgs/s")


if __name__ == "__main__":
    main()
