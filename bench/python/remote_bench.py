"""The Python side of crates/multiproc/benches/remote.rs: RQ and Celery on the same Redis
for the same job mix (tiny tasks that return their argument), and redis-benchmark's figures
for the commands underneath, in one sitting on a private redis-server.

    python3 -m venv /tmp/pyvenv && /tmp/pyvenv/bin/pip install rq celery redis
    /tmp/pyvenv/bin/python bench/python/remote_bench.py [--rounds 3]

Prints, per round: a task's sequential round trip (submit, run on one worker, result) and
the throughput of 2,000 tiny tasks on 2 worker processes (RQ: SimpleWorker, no fork per job;
Celery: the threads pool, 4 threads each), and redis-benchmark's PING (1 client), LPUSH
(50 clients) and LPUSH with -P 16. Medians and spread at the end.
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def noop(x):
    return x


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_redis():
    port, d = free_port(), tempfile.mkdtemp(prefix="remote-bench-")
    p = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            break
        except OSError:
            time.sleep(0.02)
    return p, port, d


def redis_benchmark(port):
    def rate(args):
        out = subprocess.run(["redis-benchmark", "-p", str(port), "-q", *args],
                             capture_output=True, text=True).stdout
        # "LPUSH: 75187.97 requests per second, p50=0.335 msec"
        line = [l for l in out.replace("\r", "\n").splitlines() if "requests per second" in l][-1]
        return float(line.split(":")[1].split()[0])
    ping_1 = rate(["-t", "ping", "-c", "1", "-n", "20000"])
    lpush = rate(["-t", "lpush", "-n", "100000"])
    lpush_p16 = rate(["-t", "lpush", "-n", "300000", "-P", "16"])
    return {"PING rtt, 1 client (us)": 1e6 / ping_1, "LPUSH, 50 clients (k/s)": lpush / 1e3,
            "LPUSH -P 16 (k/s)": lpush_p16 / 1e3}


# --- RQ ---------------------------------------------------------------------------------

def rq_worker(port, name):
    from redis import Redis
    from rq import Queue, SimpleWorker
    conn = Redis(host="127.0.0.1", port=port)
    SimpleWorker([Queue("bench", connection=conn)], connection=conn, name=name).work(
        burst=False, logging_level="ERROR", with_scheduler=False)


def rq_round(port, n):
    import multiprocessing as mp
    from redis import Redis
    from rq import Queue
    conn = Redis(host="127.0.0.1", port=port)
    q = Queue("bench", connection=conn)
    ws = [mp.Process(target=rq_worker, args=(port, f"w{i}-{time.time_ns()}")) for i in range(2)]
    for w in ws:
        w.start()
    job = q.enqueue("remote_bench.noop", 0)
    while job.get_status(refresh=True) != "finished":
        time.sleep(0.001)
    # Sequential round trips: submit, wait for the result (RQ polls; 1 ms steps).
    k = 50
    t0 = time.perf_counter()
    for i in range(k):
        job = q.enqueue("remote_bench.noop", i)
        while job.get_status(refresh=True) != "finished":
            time.sleep(0.0005)
    rtt = (time.perf_counter() - t0) / k * 1e6
    t0 = time.perf_counter()
    jobs = q.enqueue_many([Queue.prepare_data("remote_bench.noop", (i,)) for i in range(n)])
    pending = {j.id for j in jobs}
    while pending:
        done = set(q.finished_job_registry.get_job_ids())
        pending -= done
        if pending:
            time.sleep(0.005)
    rate = n / (time.perf_counter() - t0)
    for w in ws:
        w.terminate()
        w.join()
    conn.flushdb()
    return rtt, rate


# --- Celery -----------------------------------------------------------------------------

CELERY_APP = '''
import os
from celery import Celery
port = os.environ["BENCH_REDIS_PORT"]
app = Celery("celery_bench", broker=f"redis://127.0.0.1:{port}/0", backend=f"redis://127.0.0.1:{port}/1")
app.conf.update(worker_prefetch_multiplier=4, task_acks_late=False, result_expires=600,
                broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)

@app.task
def noop(x):
    return x
'''


def celery_round(port, n):
    d = tempfile.mkdtemp(prefix="celery-bench-")
    with open(os.path.join(d, "celery_bench.py"), "w") as f:
        f.write(CELERY_APP)
    env = dict(os.environ, BENCH_REDIS_PORT=str(port), PYTHONPATH=d)
    celery = os.path.join(os.path.dirname(sys.executable), "celery")
    ws = [subprocess.Popen([celery, "-A", "celery_bench", "worker", "-P", "threads", "-c", "4",
                            "--loglevel=ERROR", "-n", f"w{i}@%h", "--without-gossip",
                            "--without-mingle", "--without-heartbeat"],
                           env=env, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
          for i in range(2)]
    sys.path.insert(0, d)
    os.environ["BENCH_REDIS_PORT"] = str(port)
    import importlib
    mod = importlib.import_module("celery_bench")
    importlib.reload(mod)
    mod.noop.delay(0).get(timeout=60)
    k = 50
    t0 = time.perf_counter()
    for i in range(k):
        mod.noop.delay(i).get(timeout=30)
    rtt = (time.perf_counter() - t0) / k * 1e6
    t0 = time.perf_counter()
    rs = [mod.noop.delay(i) for i in range(n)]
    for r in rs:
        r.get(timeout=120)
    rate = n / (time.perf_counter() - t0)
    for w in ws:
        w.terminate()
        w.wait()
    shutil.rmtree(d, ignore_errors=True)
    return rtt, rate


def main():
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    n = 2000
    rows = {}
    for r in range(rounds):
        p, port, d = start_redis()
        try:
            figures = redis_benchmark(port)
            rtt, rate = rq_round(port, n)
            figures["RQ round trip (us)"] = rtt
            figures["RQ 2,000 tiny tasks, 2 workers (tasks/s)"] = rate
            rtt, rate = celery_round(port, n)
            figures["Celery round trip (us)"] = rtt
            figures["Celery 2,000 tiny tasks, 2 workers x 4 threads (tasks/s)"] = rate
        finally:
            p.kill()
            p.wait()
            shutil.rmtree(d, ignore_errors=True)
        print(f"round {r + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in figures.items()), flush=True)
        for k, v in figures.items():
            rows.setdefault(k, []).append(v)
    print()
    for k, vs in rows.items():
        print(f"{k:60} median {statistics.median(vs):10.1f}   spread {min(vs):.1f}-{max(vs):.1f}")


if __name__ == "__main__":
    main()
