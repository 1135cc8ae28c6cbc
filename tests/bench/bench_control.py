#!/usr/bin/env python3
"""GetStatus round trips over the control socket with 64 concurrent clients for about two
seconds; prints the p50 and p99 latency. Not a test: it reports figures.

Starts a daemon on the bundled data, then runs the C client bench_control (built next to the
daemon) so the figure is the server's, not Python's; --python measures with the slower
in-process client below instead.

With --matrix it measures GetMatrix instead: a daemon on the bundled offline demo config,
then one on every real capture of the fixtures directory (as bench_daemon.py configures
it), each with the environment of lockwatchd.service; five GetMatrix calls each whole
(JSON), streamed with "more", and as the grid, the time of each, and VmRSS from
/proc/PID/status before and after every five.

  LOCKWATCHD=build/lockwatchd python3 tests/bench/bench_control.py [--clients N] [--seconds S]
  LOCKWATCHD=build/lockwatchd python3 tests/bench/bench_control.py --matrix [FIXTURES_DIR]
"""

import argparse
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from lwtest import demo_config  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("LW_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "..", ".."))
DATA = os.path.join(SRC, "data")
LOCKWATCHD = os.environ.get("LOCKWATCHD", os.path.join(SRC, "build", "lockwatchd"))
REQUEST = json.dumps({"method": "io.lockwatch.GetStatus", "parameters": {}}).encode() + b"\0"


def wait_ready(path, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("lockwatchd exited early")
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.sendall(REQUEST)
            buf = b""
            while not buf.endswith(b"\0"):
                buf += s.recv(1 << 16)
            s.close()
            st = json.loads(buf[:-1])["parameters"]["status"]
            if all(x["polls"] >= 1 for x in st["sources"]):
                return
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        time.sleep(0.1)
    sys.exit("lockwatchd did not finish its first round")


def bench(path, clients, seconds):
    """Each client keeps one request outstanding; the clock runs from send to full reply."""
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(clients):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.setblocking(False)
        state = {"sock": s, "buf": b"", "t0": 0.0}
        conns.append(state)
        sel.register(s, selectors.EVENT_READ, state)
    lat = []
    end = time.monotonic() + seconds
    for st in conns:
        st["t0"] = time.perf_counter()
        st["sock"].sendall(REQUEST)
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=1.0):
            st = key.data
            st["buf"] += st["sock"].recv(1 << 16)
            while b"\0" in st["buf"]:
                _, _, st["buf"] = st["buf"].partition(b"\0")
                lat.append(time.perf_counter() - st["t0"])
                st["t0"] = time.perf_counter()
                st["sock"].sendall(REQUEST)
    for st in conns:
        st["sock"].close()
    return sorted(lat)


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def rss_parts(pid):
    """VmRSS split as the kernel counts it: the daemon's own memory and mapped files."""
    got = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k = line.split(":")[0]
            if k in ("RssAnon", "RssFile", "RssShmem"):
                got[k] = int(line.split()[1]) / 1024.0
    return "its own %.1f, files (libraries) %.1f MiB" % (got.get("RssAnon", 0),
                                                         got.get("RssFile", 0))


def get_matrix(path, parameters, more):
    """One GetMatrix call; returns (seconds, replies, bytes)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    msg = {"method": "io.lockwatch.GetMatrix", "parameters": parameters}
    if more:
        msg["more"] = True
    t0 = time.perf_counter()
    s.sendall(json.dumps(msg).encode() + b"\0")
    buf, replies, size = b"", 0, 0
    while True:
        data = s.recv(1 << 20)
        if not data:
            sys.exit("the daemon closed the connection")
        buf += data
        while b"\0" in buf:
            m, _, buf = buf.partition(b"\0")
            replies += 1
            size += len(m) + 1
            r = json.loads(m)
            if "error" in r:
                sys.exit("GetMatrix: %s" % r)
            if not r.get("continues"):
                s.close()
                return time.perf_counter() - t0, replies, size


def bench_matrix(label, conf, tmp):
    sys.path.insert(0, HERE)
    import bench_daemon
    env = dict(os.environ, **bench_daemon.unit_environment())
    state = tempfile.mkdtemp(dir=tmp)
    sock = os.path.join(state, "io.lockwatch")
    proc = subprocess.Popen([LOCKWATCHD, "--config", conf, "--state-dir", state, "--socket",
                             sock, "--log-level", "warning", "--rules-dir",
                             os.path.join(SRC, "rules")],
                            stdout=subprocess.DEVNULL, env=env)
    try:
        wait_ready(sock, proc, timeout=300)
        models = json.loads(status_reply(sock))["parameters"]["status"]["models"]
        print("%s: %d models; VmRSS %.1f MiB before any GetMatrix (%s)" % (
            label, models, rss(proc.pid), rss_parts(proc.pid)))
        for what, params, more in (("whole (JSON)", {}, False), ("with more (JSON)", {}, True),
                                   ("the grid, with more", {"text": True}, True)):
            times = []
            for _ in range(5):
                secs, replies, size = get_matrix(sock, params, more)
                times.append(secs)
            print("  GetMatrix %s x5: %.3f to %.3f s each, %d reply(s) of %.2f MB in all; "
                  "VmRSS after: %.1f MiB (budget 16; %s)" % (
                      what, min(times), max(times), replies, size / 1e6, rss(proc.pid),
                      rss_parts(proc.pid)))
    finally:
        proc.terminate()
        proc.wait()


def status_reply(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(REQUEST)
    buf = b""
    while not buf.endswith(b"\0"):
        buf += s.recv(1 << 16)
    s.close()
    return buf[:-1]


def main_matrix(fixtures):
    sys.path.insert(0, HERE)
    import bench_daemon
    tmp = tempfile.mkdtemp(prefix="lw-bench-matrix-")
    try:
        demo = tempfile.mkdtemp(dir=tmp)
        bench_matrix("the bundled offline demo config", demo_config(demo), tmp)
        if not os.path.isdir(fixtures):
            print("fixtures absent: %s" % fixtures)
            return
        real = tempfile.mkdtemp(dir=tmp)
        conf = bench_daemon.write_config(real, fixtures, bench_daemon.SOURCES)
        bench_matrix("%d real captures" % len(bench_daemon.SOURCES), conf, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--python", action="store_true", help="use the Python client")
    ap.add_argument("--matrix", nargs="?", const=os.path.join(SRC, "..", "shared", "fixtures"),
                    metavar="FIXTURES_DIR", help="measure GetMatrix time and memory instead")
    args = ap.parse_args()
    if args.matrix:
        return main_matrix(os.path.abspath(args.matrix))
    client = os.path.join(os.path.dirname(os.path.abspath(LOCKWATCHD)), "tests", "bench_control")
    tmp = tempfile.mkdtemp(prefix="lw-bench-control-")
    sock = os.path.join(tmp, "io.lockwatch")
    proc = subprocess.Popen([LOCKWATCHD, "--config", demo_config(tmp), "--state-dir", tmp,
                             "--socket", sock, "--log-level", "warning"],
                            stdout=subprocess.DEVNULL)
    try:
        wait_ready(sock, proc)
        if not args.python and os.access(client, os.X_OK):
            r = subprocess.run([client, sock, str(args.clients), str(args.seconds)])
            sys.exit(r.returncode)
        lat = bench(sock, args.clients, args.seconds)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    if not lat:
        sys.exit("no replies")
    p50 = lat[len(lat) // 2] * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    print("GetStatus round trip with %d concurrent clients: p50 %.3f ms, p99 %.3f ms "
          "(budget p99 2 ms); %d calls in %.1f s" % (args.clients, p50, p99, len(lat),
                                                     args.seconds))


if __name__ == "__main__":
    main()
