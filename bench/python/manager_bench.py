"""CPython's figures for the operations in crates/multiproc/benches/manager.rs: a
Manager().dict() operation from a child process (the server is another child), beside a raw
socketpair round trip between two processes in the same run.

Run: python3 bench/python/manager_bench.py
"""
import multiprocessing as mp
import statistics
import sys
import time

from ipc_bench import raw_rtt  # the same floor as the IPC figures


def client(d, n, out):
    """In a child process: n set, n get, n `+=` (two round trips, and racy), n/100 updates
    of 100 keys; per operation, in microseconds."""
    t0 = time.perf_counter()
    for i in range(n):
        d[i & 1023] = i
    t1 = time.perf_counter()
    for _ in range(n):
        d[1]
    t2 = time.perf_counter()
    d["hits"] = 0
    for _ in range(n // 10):
        d["hits"] += 1
    t3 = time.perf_counter()
    batch = {k: k for k in range(100)}
    for _ in range(n // 100):
        d.update(batch)
    t4 = time.perf_counter()
    out.put(
        (
            (t1 - t0) / n * 1e6,
            (t2 - t1) / n * 1e6,
            (t3 - t2) / (n // 10) * 1e6,
            (t4 - t3) / (n // 100 * 100) * 1e6,
        )
    )


def manager_ops(n=20_000):
    ctx = mp.get_context("fork")
    with ctx.Manager() as m:
        d = m.dict()
        out = ctx.Queue()
        p = ctx.Process(target=client, args=(d, n, out))
        p.start()
        r = out.get()
        p.join()
        return r


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"CPython {sys.version.split()[0]}, median (min-max) of {rounds}")
    raw, sets, gets, incs, upd = [], [], [], [], []
    for _ in range(rounds):
        raw.append(raw_rtt())
        s, g, i, u = manager_ops()
        sets.append(s)
        gets.append(g)
        incs.append(i)
        upd.append(u)

    def show(name, xs):
        print(f"{name:44s} {statistics.median(xs):8.2f} us  ({min(xs):.2f}-{max(xs):.2f})")

    show("raw socketpair ping-pong (1 byte)", raw)
    show("Manager().dict() d[k] = v, from a child", sets)
    show("Manager().dict() d[k], from a child", gets)
    show("Manager().dict() d[k] += 1 (2 round trips)", incs)
    show("Manager().dict() update(100 keys), per key", upd)


if __name__ == "__main__":
    main()
