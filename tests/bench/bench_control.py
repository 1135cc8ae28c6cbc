#!/usr/bin/env python3
"""GetStatus round trips over the control socket with 64 concurrent clients for about two
seconds; prints the p50 and p99 latency. Not a test: it reports a figure.

Starts a daemon on the bundled data, then runs the C client bench_control (built next to the
daemon) so the figure is the server's, not Python's; --python measures with the slower
in-process client below instead.

  LOCKWATCHD=build/lockwatchd python3 tests/bench/bench_control.py [--clients N] [--seconds S]
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--python", action="store_true", help="use the Python client")
    args = ap.parse_args()
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
