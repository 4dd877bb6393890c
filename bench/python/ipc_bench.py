"""CPython's figures for the operations in crates/multiproc/benches/ipc.rs.

Run: python3 bench/python/ipc_bench.py
"""
import multiprocessing as mp
import socket
import statistics
import sys
import time


# The forked child inherits the parent's end too, so it would never see EOF (the seed's own
# lesson): an empty message / a NUL byte tells it to stop.
def echo(conn):
    while True:
        m = conn.recv_bytes()
        if not m:
            break
        conn.send_bytes(m)


def raw_echo(sock):
    while True:
        b = sock.recv(1)
        if not b or b == b"\0":
            break
        sock.sendall(b)


def pipe_rtt(n=20_000):
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    p = ctx.Process(target=echo, args=(b,))
    p.start()
    b.close()
    t0 = time.perf_counter()
    for _ in range(n):
        a.send_bytes(b"ping")
        a.recv_bytes()
    d = time.perf_counter() - t0
    a.send_bytes(b"")
    p.join()
    return d / n * 1e6


def raw_rtt(n=20_000):
    ctx = mp.get_context("fork")
    a, b = socket.socketpair()
    p = ctx.Process(target=raw_echo, args=(b,))
    p.start()
    b.close()
    t0 = time.perf_counter()
    for _ in range(n):
        a.sendall(b"x")
        a.recv(1)
    d = time.perf_counter() - t0
    a.sendall(b"\0")
    p.join()
    return d / n * 1e6


def pipe_mib(n=200):
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    p = ctx.Process(target=echo, args=(b,))
    p.start()
    b.close()
    block = bytes(1 << 20)
    t0 = time.perf_counter()
    for _ in range(n):
        a.send_bytes(block)
        a.recv_bytes()
    d = time.perf_counter() - t0
    a.send_bytes(b"")
    p.join()
    return 2 * n / 1024 / d


def queue_consumer(q, ack):
    while True:
        m = q.get()
        if m == b"":
            ack.put(0)
        elif m == b"\0":
            break


def queue_rate(size, n):
    """Messages per second and bytes per second, producer here, consumer in a child."""
    ctx = mp.get_context("fork")
    q, ack = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=queue_consumer, args=(q, ack))
    p.start()
    block = bytes([7]) * size
    t0 = time.perf_counter()
    for _ in range(n):
        q.put(block)
    q.put(b"")
    ack.get()
    d = time.perf_counter() - t0
    q.put(b"\0")
    p.join()
    return n / d, n * size / d


def main():
    print(f"CPython {sys.version.split()[0]}, median of 5")
    print(f"raw socketpair ping-pong (1 byte)     {statistics.median(raw_rtt() for _ in range(5)):8.2f} us")
    print(f"mp.Pipe send_bytes/recv_bytes round trip {statistics.median(pipe_rtt() for _ in range(5)):8.2f} us")
    print(f"mp.Pipe 1 MiB echoed                  {statistics.median(pipe_mib() for _ in range(5)):8.2f} GiB/s")
    small = statistics.median(queue_rate(8, 100_000)[0] for _ in range(5))
    print(f"mp.Queue 8-byte messages              {small / 1e3:8.1f} k msgs/s")
    kib = statistics.median(queue_rate(1024, 100_000)[1] for _ in range(5))
    print(f"mp.Queue 1 KiB messages               {kib / 2**20:8.1f} MiB/s")
    mib = statistics.median(queue_rate(1 << 20, 300)[1] for _ in range(5))
    print(f"mp.Queue 1 MiB messages               {mib / 2**30:8.2f} GiB/s")


if __name__ == "__main__":
    main()
