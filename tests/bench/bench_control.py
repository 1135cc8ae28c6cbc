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

With --stream MODELS (10000 when no number is given) it measures GetStatus while GetMatrix
streams, the budget of "GetStatus p99 with 64 concurrent clients while a 10k-model GetMatrix
streams: under 2 ms":

  1. one synthetic LiteLLM source of MODELS rows on a file:// URL (bench_scale.py's
     generate()), polled once by `lockwatchd --once --state-dir`; the daemon is then started
     in the foreground on that config and state with a socket of its own (interval 1d: it
     polls nothing while measured). It is ready when GetStatus counts MODELS models and a
     GetMatrix with "more" brings MODELS rows (retried until --timeout); three more
     GetMatrix calls, alone, give the time a stream takes on an otherwise idle daemon;
  2. the C client alone on that daemon: the baseline;
  3. --streamers K processes (default 1), each calling GetMatrix with "more" on its own
     connection again and again, reading every part as it comes (split at its NUL, nothing
     decoded), until told to stop; once each has finished a first stream the C client runs
     again, with --window so it prints the monotonic times its measurement began and ended;
  4. the C client alone once more (the load of a shared machine drifts).

Printed: the three GetStatus lines of the C client (p50, p99, max), the daemon's CPU over
each run, and for every streamer the full streams (the size of the verified one) that ended
inside the measurement window, how many began inside it too, their mean duration, and the
share of the window in which one of its streams was in flight; a streamer that completed
none, or was idle for more than a tenth of the window, is called out. The load average is
printed at the start, with each run and at the end.

  LOCKWATCHD=build/lockwatchd python3 tests/bench/bench_control.py [--clients N] [--seconds S]
  LOCKWATCHD=build/lockwatchd python3 tests/bench/bench_control.py --matrix [FIXTURES_DIR]
  LOCKWATCHD=build/lockwatchd python3 tests/bench/bench_control.py --stream [MODELS]
                                      [--streamers K] [--clients N] [--seconds S] [--timeout T]
"""

import argparse
import json
import os
import re
import resource
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
sys.path.insert(0, HERE)
import bench_scale  # noqa: E402
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


# ---- --stream: GetStatus while GetMatrix streams ---------------------------------------------

LAST_OF_MANY = b',"continues":true}'


def read_stream(s, stop=None):
    """One GetMatrix with "more" on the connected socket s, every part read as it comes and
    split at its NUL (only the end of each part is looked at, for "continues"). Returns
    (start, end, bytes, parts, whole) in time.monotonic() seconds; whole is False when stop
    was set before the last part came (then end is when that was seen)."""
    t0 = time.monotonic()
    s.sendall(bench_scale.GET_MATRIX)
    size = parts = 0
    tail = b""
    while True:
        if stop is not None and stop.is_set():
            return t0, time.monotonic(), size, parts, False
        try:
            data = s.recv(1 << 20)
        except socket.timeout:
            continue
        if not data:
            raise ConnectionResetError("the daemon closed the streaming connection")
        size += len(data)
        at = 0
        while True:
            i = data.find(b"\0", at)
            if i < 0:
                tail = (tail + data[max(at, len(data) - 32):])[-32:]
                break
            end = (tail + data[max(at, i - 32):i])[-32:]
            tail = b""
            parts += 1
            at = i + 1
            if not end.endswith(LAST_OF_MANY):
                if at != len(data):
                    raise RuntimeError("bytes after the last part of a stream")
                return t0, time.monotonic(), size, parts, True


def streamer(path, stop, started, out):
    """A process of its own: GetMatrix with "more" again and again on one connection, as fast
    as the parts come, until stop is set; started is set when the first part arrived. Sends
    back the list of streams (read_stream's tuples) and this process's CPU seconds."""
    records, error = [], None
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.settimeout(0.1)
        while not stop.is_set():
            r = read_stream(s, stop)
            records.append(r)
            started.set()
        s.close()
    except Exception as e:  # reported by the parent, which decides
        error = "%s: %s" % (type(e).__name__, e)
        started.set()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out.send({"streams": records, "cpu": ru.ru_utime + ru.ru_stime, "error": error})
    out.close()


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_client(client, sock, clients, seconds, daemon_pid):
    """The C client once: (its figures line, window start and end in monotonic seconds, the
    daemon's CPU seconds over the client's run, the client's wall seconds)."""
    c0, w0 = cpu_seconds(daemon_pid), time.monotonic()
    r = subprocess.run([client, "--window", sock, str(clients), str(seconds)],
                       stdout=subprocess.PIPE, text=True)
    w1, c1 = time.monotonic(), cpu_seconds(daemon_pid)
    if r.returncode != 0:
        raise RuntimeError("bench_control exited with %d" % r.returncode)
    lines = r.stdout.splitlines()
    window = [x for x in lines if x.startswith("window ")]
    if not window:
        raise RuntimeError("bench_control printed no window: %r" % r.stdout)
    _, start, end, _ = window[0].split()
    figures = [x for x in lines if not x.startswith("window ")]
    return "\n".join(figures), int(start) / 1e6, int(end) / 1e6, c1 - c0, w1 - w0


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def covered(intervals, a, b):
    """Seconds of [a, b] inside the union of the intervals."""
    total, reach = 0.0, a
    for s, e in sorted(intervals):
        s, e = max(s, reach), min(e, b)
        if e > s:
            total += e - s
            reach = e
    return total


def main_stream(args, client):
    import multiprocessing
    if not os.access(client, os.X_OK):
        sys.exit("--stream needs the C client: %s (make bench_control)" % client)
    models, timeout = args.stream, args.timeout
    tmp = tempfile.mkdtemp(prefix="lw-bench-stream-")
    proc = None
    try:
        print("load average at start: %s" % loadavg())
        # 1. the state: one synthetic LiteLLM source of MODELS rows, polled once.
        conf = bench_scale.generate(os.path.join(tmp, "src"), models, 1)
        state = os.path.join(tmp, "state")
        t0 = time.monotonic()
        r = subprocess.run(bench_scale.once_args(LOCKWATCHD, conf, state),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            sys.exit("lockwatchd --once exited with %d:\n%s" % (r.returncode, r.stderr[-2000:]))
        print("state of %d synthetic models made by lockwatchd --once in %.1f s" % (
            models, time.monotonic() - t0))
        log = open(os.path.join(tmp, "daemon.log"), "w")
        proc, sock, ready, status = bench_scale.start_daemon(LOCKWATCHD, conf, state, log,
                                                             timeout)
        # Ready when GetStatus counts every model and one GetMatrix brings every row.
        deadline = time.monotonic() + timeout
        while True:
            status = bench_scale.varlink_call(sock, bench_scale.GET_STATUS,
                                              timeout)["parameters"]["status"]
            warnings = ["GetStatus says %s models" % status.get("models")] \
                if status.get("models") != models else []
            if not warnings:
                _, _, replies, _ = bench_scale.stream_matrix(sock, timeout)
                size, parts, _, warnings = bench_scale.check_matrix(replies, models)
            if not warnings:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.exit("the daemon is not ready: %s" % "; ".join(warnings))
            time.sleep(0.2)
        polls = sum(x["polls"] for x in status["sources"])
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        s.settimeout(timeout)
        alone = []
        for _ in range(3):
            a, b, n, k, whole = read_stream(s)
            if not whole or n != size:
                sys.exit("a GetMatrix alone brought %d bytes, not %d" % (n, size))
            alone.append(b - a)
        s.close()
        print("daemon ready in %.2f s: %d models; GetMatrix with more: %d parts, %.1f MB; "
              "alone it streams in %.3f s (median of 3, from %.3f to %.3f)" % (
                  ready, models, parts, size / 1e6, sorted(alone)[1], min(alone), max(alone)))

        def client_run(label):
            line, a, b, cpu, wall = run_client(client, sock, args.clients, args.seconds,
                                               proc.pid)
            print("%s (load average %s):\n  %s\n  daemon CPU over the client's run: %.0f%% "
                  "of one core" % (label, loadavg(), line, 100 * cpu / wall))
            return line, a, b

        # 4. the baseline: the same client, the same daemon, nothing streaming.
        before = client_run("GetStatus alone, before")

        # 2. K streamers, each a process of its own, streaming until told to stop.
        ctx = multiprocessing.get_context("fork")
        stop = ctx.Event()
        workers = []
        for _ in range(args.streamers):
            started, (recv_end, send_end) = ctx.Event(), ctx.Pipe(duplex=False)
            p = ctx.Process(target=streamer, args=(sock, stop, started, send_end))
            p.start()
            send_end.close()
            workers.append((p, started, recv_end))
        try:
            for _, started, _ in workers:
                if not started.wait(timeout):
                    sys.exit("a streamer did not finish a first stream within %.0f s" % timeout)
            # 3. the measurement, while every streamer is between two streams or in one.
            during = client_run("GetStatus while %d streamer(s) stream GetMatrix of %d models"
                                % (args.streamers, models))
        finally:
            stop.set()
            results = []
            for p, _, recv_end in workers:
                results.append(recv_end.recv() if recv_end.poll(timeout) else
                               {"streams": [], "cpu": 0.0, "error": "no report"})
                p.join(timeout)
        after = client_run("GetStatus alone, after")

        _, ws, we = during
        span = we - ws
        print("the window: %.2f s" % span)
        for i, res in enumerate(results):
            if res["error"]:
                print("  streamer %d failed: %s" % (i + 1, res["error"]))
            streams = res["streams"]
            bad = [x for x in streams if x[4] and x[2] != size]
            full = [x for x in streams if x[4] and x[2] == size and ws <= x[1] <= we]
            inside = [x for x in full if x[0] >= ws]
            busy = covered([(x[0], x[1]) for x in streams], ws, we)
            if full:
                d = [x[1] - x[0] for x in full]
                what = ("%d full stream(s) ended inside it (%d of them also began inside it), "
                        "mean %.3f s (%.3f to %.3f)" % (len(full), len(inside),
                                                        sum(d) / len(d), min(d), max(d)))
            else:
                what = "NO full stream ended inside it"
            print("  streamer %d: %s; a stream was in flight for %.0f%% of the window; %d "
                  "stream(s) in all, CPU %.2f s" % (i + 1, what, 100 * busy / span,
                                                    len([x for x in streams if x[4]]),
                                                    res["cpu"]))
            if busy < 0.9 * span:
                print("  warning: streamer %d was idle for %.0f%% of the window" % (
                    i + 1, 100 * (1 - busy / span)))
            if bad:
                print("  warning: %d stream(s) of streamer %d brought another size than %d "
                      "bytes" % (len(bad), i + 1, size))
        p99 = [float(re.search(r"p99 ([0-9.]+) ms", x[0]).group(1))
               for x in (before, during, after)]
        print("p99 while streaming / alone before: %.1fx (/ alone after: %.1fx)" % (
            p99[1] / p99[0], p99[1] / p99[2]))
        status = bench_scale.varlink_call(sock, bench_scale.GET_STATUS,
                                          timeout)["parameters"]["status"]
        if sum(x["polls"] for x in status["sources"]) != polls:
            print("warning: the daemon polled a source while it was measured")
        print("load average at the end: %s" % loadavg())
    finally:
        if proc is not None:
            code = bench_scale.stop_daemon(proc, timeout)
            if code != 0:
                print("warning: lockwatchd exited with %s" % code)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--python", action="store_true", help="use the Python client")
    ap.add_argument("--matrix", nargs="?", const=os.path.join(SRC, "..", "shared", "fixtures"),
                    metavar="FIXTURES_DIR", help="measure GetMatrix time and memory instead")
    ap.add_argument("--stream", nargs="?", type=int, const=10000, metavar="MODELS",
                    help="measure GetStatus while GetMatrix of MODELS synthetic models "
                         "streams (default 10000)")
    ap.add_argument("--streamers", type=int, default=1, metavar="K",
                    help="--stream: how many clients stream GetMatrix at once (default 1)")
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="--stream: the bound on every wait, in seconds (default 300)")
    args = ap.parse_args()
    if args.matrix:
        return main_matrix(os.path.abspath(args.matrix))
    client = os.path.join(os.path.dirname(os.path.abspath(LOCKWATCHD)), "tests", "bench_control")
    if args.stream is not None:
        if args.stream < 1 or args.streamers < 1:
            sys.exit("--stream and --streamers need a positive number")
        return main_stream(args, client)
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
