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


def main():
    print(f"CPython {sys.version.split()[0]}, median of 5")
    print(f"raw socketpair ping-pong (1 byte)     {statistics.median(raw_rtt() for _ in range(5)):8.2f} us")
    print(f"mp.Pipe send_bytes/recv_bytes round trip {statistics.median(pipe_rtt() for _ in range(5)):8.2f} us")
    print(f"mp.Pipe 1 MiB echoed                  {statistics.median(pipe_mib() for _ in range(5)):8.2f} GiB/s")


if __name__ == "__main__":
    main()
