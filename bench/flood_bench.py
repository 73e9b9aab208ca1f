#!/usr/bin/env python3
"""flood_bench: does a PS task keep serving its workers while it is flooded?

  python3 bench/flood_bench.py BUILD_DIR [--seconds 3] [--flood 2000] [--loris 200]

Starts a real psflow-ps (token "bench") on 127.0.0.1 and, from this
process, measures a worker-like client's Status round trips (one
authenticated connection, one call at a time) and the time a new
connection takes to be answered (connect, challenge, Hello, first call):
  - undisturbed;
  - under a flood: --flood TCP connections that never send a byte, opened
    as fast as the machine allows and opened again as the PS closes them;
  - under slow-loris peers: --loris connections that hold the token, then
    announce a 16 MiB header and a 4 GiB payload and send nothing more.
Prints each phase's round trips/s, p99 latency, new-connection time, the
PS's resident memory and open descriptors, and whether it survived.
"""
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import hostile_peer as hp  # noqa: E402

TOKEN = "bench"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def status_conn(addr):
    s, nonce = hp.connect(addr)
    s.sendall(hp.hello(TOKEN, nonce, task="worker:0"))
    return s


def call(s, rid):
    s.sendall(hp.frame(hp.header("Status", task="worker:0", request_id=rid)))
    r = hp.read_frame(s)
    if r is None or r[0] != 0:
        raise RuntimeError(f"Status failed: {r}")


def measure(addr, seconds):
    s = status_conn(addr)
    lat = []
    t_end = time.monotonic() + seconds
    rid = 1
    while time.monotonic() < t_end:
        t0 = time.monotonic()
        call(s, rid)
        lat.append(time.monotonic() - t0)
        rid += 1
    s.close()
    t0 = time.monotonic()
    fresh = status_conn(addr)  # a task (re)connecting now
    call(fresh, 1)
    connect_ms = (time.monotonic() - t0) * 1e3
    fresh.close()
    lat.sort()
    return len(lat) / seconds, lat[int(len(lat) * 0.99)] * 1e3, connect_ms


def proc_stats(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) // 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds


def main(argv):
    build = argv[1]
    seconds, flood_n, loris_n = 3.0, 2000, 200
    args = argv[2:]
    for i in range(0, len(args) - 1, 2):
        if args[i] == "--seconds":
            seconds = float(args[i + 1])
        elif args[i] == "--flood":
            flood_n = int(args[i + 1])
        elif args[i] == "--loris":
            loris_n = int(args[i + 1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    tmp = tempfile.mkdtemp(prefix="flood_bench")
    port = free_port()
    job = os.path.join(tmp, "job.yaml")
    with open(job, "w") as f:
        f.write(f"""cluster: {{ps: ["127.0.0.1:{port}"], chief: ["127.0.0.1:{free_port()}"]}}
model: {{type: dnn_classifier, hidden_units: [16], n_classes: 10}}
data: {{train: {{format: idx, images: x, labels: y}}}}
run: {{model_dir: {tmp}/model, train_steps: 1, token: {TOKEN}}}
""")
    env = dict(os.environ, PSFLOW_MIN_LOG_LEVEL="1")
    ps = subprocess.Popen([os.path.join(build, "ps", "psflow-ps"), "--config", job, "--task_type", "ps",
                           "--task_index", "0"], stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "ps.log"), "w"),
                          env=env)
    addr = f"127.0.0.1:{port}"
    for _ in range(100):
        try:
            status_conn(addr).close()
            break
        except (OSError, SystemExit):
            time.sleep(0.1)
    print(f"flood_bench: psflow-ps on {addr}; a client's Status calls, one at a time, {seconds:.0f} s per phase")
    print(f"{'phase':<34} {'calls/s':>9} {'p99 ms':>8} {'new conn ms':>12} {'PS RSS MiB':>11} {'PS fds':>7}")

    def report(name):
        rate, p99, conn = measure(addr, seconds)
        rss, fds = proc_stats(ps.pid)
        print(f"{name:<34} {rate:9.0f} {p99:8.2f} {conn:12.2f} {rss:11d} {fds:7d}", flush=True)
        return rate

    base = report("undisturbed")
    stop = threading.Event()
    opened = [0]

    def flood():
        held = []
        while not stop.is_set():
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=5)
                held.append(c)
                opened[0] += 1
                if len(held) >= flood_n:
                    old = held.pop(0)
                    old.close()
            except OSError:
                time.sleep(0.01)
        for c in held:
            c.close()

    t = threading.Thread(target=flood)
    t.start()
    time.sleep(1.0)
    under_flood = report(f"flood ({flood_n} silent connections)")
    stop.set()
    t.join()
    print(f"  the flood opened {opened[0]} connections")
    time.sleep(0.5)
    loris = []
    for _ in range(loris_n):
        s = status_conn(addr)
        s.sendall(b"PSFL" + hp.struct.pack("<HHIQ", hp.WIRE_VERSION, 0, 16 << 20, 4 << 30))
        loris.append(s)
    time.sleep(0.5)
    under_loris = report(f"slow loris ({loris_n} stalled frames)")
    for s in loris:
        s.close()
    alive = ps.poll() is None
    print(f"PS alive: {'yes' if alive else 'no'}; calls/s under flood {under_flood / base:.2f} and under slow loris "
          f"{under_loris / base:.2f} of undisturbed")
    ps.terminate()
    ps.wait()
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
