#!/usr/bin/env python3
"""Benchmark (prints figures, asserts nothing): how a poll round scales with the number of
models and of sources. For each combination, synthetic LiteLLM-format sources on file://
URLs split M models among S sources; `lockwatchd --once --state-dir` is one poll round
(every source fetched, parsed, merged and saved, then one rule evaluation and its save),
run R times on the same state directory. Printed per combination, in a first table:

  round s       wall time of a steady round (median of three after the counted ones)
  RSS MiB       peak resident set of those rounds (getrusage)
  state MB      the state's size: its snapshot after the last compaction (or the first save)
  written MB    bytes written into the state directory in the first round, and per steady
                round (mean and max of rounds 2..R, every one counted, so compactions are
                in the mean), from the write(2) calls strace -y shows
  x state       steady bytes written per round over the state size, mean/max (budget: 2)
  rules ms      CPU time of the rule evaluation (the poller_evaluate call) in a steady
                round. The daemon neither logs nor exposes it, so --eval-rounds more rounds
                run under gdb: a breakpoint on its entry, `finish` to its return, and the
                thread's CPU time (/proc/PID/task/TID/schedstat) read at both stops; the
                median is printed, each round's figure less the cost of the two stops,
                measured the same way there on a clock read (util_now_mono; the footnote
                gives that cost). CPU time, not wall: the thread's waits for a CPU on a
                shared machine are not in it, and the evaluation writes nothing (it logs
                only an alert changing state). "-" without gdb
  Ir            instructions of one steady round (valgrind --tool=callgrind; only where
                M <= --callgrind-max, none with --no-callgrind), with the shares spent
                loading the state, saving it, and in the history store (opening it, bringing
                it up to the matrix, appending transitions: history_open, history_sync and
                history_append), their sum (the budget: at most 10% at 10,000 models), and
                the instructions of the rule evaluation

and then, in a second table with the same keys, GetMatrix: after those rounds the daemon is
started in the foreground on the combination's state directory and config (it loads the
saved matrix and, its sources polled moments ago, polls nothing), and once its control socket
answers GetStatus it is called with {"more": true} over raw Varlink:

  ready s       from starting the daemon to its first GetStatus answer (the state loaded)
  MB, parts     the bytes of every reply (NUL terminators counted) and how many replies
  shown         the replies' `shown`; a warning is printed when it or the rows received is
                not the model count, when a reply says `changed`, or when the daemon
                polled a source meanwhile
  first ms      from sending the call to the first whole reply, and
  last ms       to the last one (each the median of --matrix-calls calls)
  GetStatus ms  the longest a GetStatus waited for its answer on a second connection, sent
                one after another while one more GetMatrix streamed (of how many)

The daemon is then stopped with SIGTERM and waited for; it never overlaps a round.

--compare OTHER_LOCKWATCHD runs the written-bytes rounds with another build as well (the
version before the change log, say) and prints its figures in the same table.

Usage: bench_scale.py [--models 1000,10000,100000] [--sources 1,10,100,256] [--rounds 7]
                      [--callgrind-max 10000] [--no-callgrind] [--eval-rounds 3]
                      [--matrix-calls 3] [--compare BIN [--compare-max 10000]]
                      [--max-seconds 120] LOCKWATCHD
"""

import argparse
import json
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))

# Ids the built-in normalization maps (anthropic.*, vertex_ai/...@default, azure_ai/...),
# so rows are mapped models spread over the three clouds, as in a real matrix.
KEYS = ["anthropic.claude-synth-%06d", "vertex_ai/claude-synth-%06d@default",
        "azure_ai/claude-synth-%06d"]
PROVIDERS = ["bedrock_converse", "vertex_ai-anthropic_models", "azure_ai"]


def generate(root, models, sources):
    os.makedirs(root, exist_ok=True)
    conf = ["[daemon]", "providers = %s/data/providers.conf" % SRC,
            "aliases = %s/data/aliases.conf" % SRC, "interval = 1d", "max_body = 64M",
            "max_rows = 200000", ""]
    for j in range(sources):
        d = {}
        for i in range(j * models // sources, (j + 1) * models // sources):
            d[KEYS[i % 3] % i] = {"litellm_provider": PROVIDERS[i % 3], "mode": "chat",
                                  "input_cost_per_token": (i % 97 + 1) * 1e-7,
                                  "output_cost_per_token": (i % 89 + 1) * 5e-7}
        path = os.path.join(root, "s%03d.json" % j)
        with open(path, "w") as f:
            json.dump(d, f)
        conf += ["[source s%03d]" % j, "url = file://%s" % path, "format = litellm", ""]
    path = os.path.join(root, "lockwatch.conf")
    with open(path, "w") as f:
        f.write("\n".join(conf))
    return path


def once_args(binary, conf, state):
    return [binary, "--once", "--config", conf, "--state-dir", state,
            "--rules-dir", os.path.join(SRC, "rules")]


def timed_round(binary, conf, state):
    """Wall seconds and peak RSS (MiB) of one round."""
    t0 = time.monotonic()
    p = subprocess.Popen(once_args(binary, conf, state), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    return time.monotonic() - t0, ru.ru_maxrss / 1024.0


WRITE = re.compile(r'^\d+\s+(?:write|pwrite64|writev)\((\d+)<([^>]*)>.*=\s+(\d+)$')


def written_round(binary, conf, state, trace):
    """Bytes one round writes into files of the state directory."""
    subprocess.run(["strace", "--seccomp-bpf", "-f", "-qq", "-y", "-e",
                    "trace=write,pwrite64,writev", "-e", "signal=none", "-o", trace]
                   + once_args(binary, conf, state),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    total = 0
    prefix = os.path.realpath(state) + "/"
    with open(trace, errors="replace") as f:
        for line in f:
            m = WRITE.match(line.strip())
            if m and m.group(2).startswith(prefix):
                total += int(m.group(3))
    return total


def state_size(state):
    """The state's size: its snapshot (or the state.json of a build before the log)."""
    for name in ("state.snapshot", "state.json"):
        p = os.path.join(state, name)
        if os.path.exists(p):
            return os.path.getsize(p)
    return 0


def callgrind_round(binary, conf, state, out):
    subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
                   + once_args(binary, conf, state),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Every function: by default callgrind_annotate lists them only until 99% of the count is
    # covered, which with inclusive costs comes early and left the history store out. Without
    # source annotation: with it, a function's inclusive count left out what it inlined from
    # a header (the state log's field readers in history_open, a quarter of it).
    ann = subprocess.run(["callgrind_annotate", "--auto=no", "--inclusive=yes", "--threshold=100",
                          out],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    figures = {}
    for line in ann.splitlines():
        m = re.match(r"^\s*([\d,]+) \([\s\d.]+%\)\s+(\S+)", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        where = m.group(2)
        if "PROGRAM" in line and "TOTALS" in line:
            figures["total"] = n
        for key, fn in (("load", ":state_load"), ("save", ":state_save"),
                        ("rules", ":poller_evaluate"), ("hopen", ":history_open"),
                        ("hsync", ":history_sync"), ("happend", ":history_append")):
            if where.endswith(fn) and key not in figures:
                figures[key] = n
    return figures


# Run by gdb: the CPU time the thread running poller_evaluate in a --once round spends from a
# breakpoint on its entry to the return `finish` stops at, then, the same way, in the next
# util_now_mono call (a clock read: what the two stops and `finish` cost by themselves). The
# thread's CPU time is its /proc/PID/task/TID/schedstat runtime, read while it is stopped:
# neither gdb's own work nor the time the thread waits for a CPU on a loaded machine is in it
# (wall time across the two stops is, and is useless on a shared machine).
GDB_SCRIPT = """
import gdb, json, os
got = {"eval": [], "overhead": []}
gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute("set print frame-info short-location")
gdb.execute("set print frame-arguments none")
gdb.Breakpoint("poller_evaluate", internal=True)

def cpu():
    pid, lwp, _ = gdb.selected_thread().ptid
    with open("/proc/%d/task/%d/schedstat" % (pid, lwp or pid)) as f:
        return int(f.read().split()[0]) / 1e9

def finish():
    c0 = cpu()
    gdb.execute("finish", to_string=True)
    return cpu() - c0

def alive():
    inferior = gdb.selected_inferior()
    return inferior.pid != 0 and inferior.threads()

gdb.execute("run", to_string=True)
while alive():
    name = gdb.selected_frame().name()
    if name == "poller_evaluate":
        got["eval"].append(finish())
        gdb.Breakpoint("util_now_mono", internal=True, temporary=True)
    elif name == "util_now_mono":
        got["overhead"].append(finish())
    gdb.execute("continue", to_string=True)
with open(os.environ["LW_EVAL_OUT"], "w") as f:
    json.dump(got, f)
"""


def eval_rounds(binary, conf, state, work, n, timeout):
    """CPU seconds of the rule evaluation in n rounds, each less the cost of measuring it in
    the same round: (the median, the median cost), or None when gdb is missing or failed."""
    if n <= 0 or not shutil.which("gdb"):
        return None
    script = os.path.join(work, "evaltime.py")
    out = os.path.join(work, "evaltime.json")
    with open(script, "w") as f:
        f.write(GDB_SCRIPT)
    net, cost = [], []
    for _ in range(n):
        if os.path.exists(out):
            os.unlink(out)
        p = subprocess.Popen(["gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off",
                              "-ex", "set startup-with-shell off", "-x", script, "--args"]
                             + once_args(binary, conf, state),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True,
                             env=dict(os.environ, LW_EVAL_OUT=out))
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            return None
        if not os.path.exists(out):
            return None
        with open(out) as f:
            r = json.load(f)
        if len(r["eval"]) != 1 or len(r["overhead"]) != 1:
            return None
        net.append(r["eval"][0] - r["overhead"][0])
        cost.append(r["overhead"][0])
    return statistics.median(net), statistics.median(cost)


CONTINUES = re.compile(rb'"continues"\s*:\s*true')
GET_STATUS = json.dumps({"method": "io.lockwatch.GetStatus", "parameters": {}}).encode() + b"\0"
GET_MATRIX = json.dumps({"method": "io.lockwatch.GetMatrix", "parameters": {},
                         "more": True}).encode() + b"\0"


class Replies:
    """Splits a connection's bytes into Varlink messages (a JSON object and a NUL each)."""

    def __init__(self):
        self.buf = bytearray()
        self.scan = 0

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            i = self.buf.find(b"\0", self.scan)
            if i < 0:
                self.scan = len(self.buf)
                return out
            out.append(bytes(self.buf[:i]))
            del self.buf[:i + 1]
            self.scan = 0


def varlink_call(path, request, timeout):
    """One request, one reply (blocking, bounded by timeout); the decoded reply."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(request)
        r = Replies()
        while True:
            data = s.recv(1 << 16)
            if not data:
                raise ConnectionResetError("the daemon closed the connection")
            got = r.feed(data)
            if got:
                return json.loads(got[0])
    finally:
        s.close()


def start_daemon(binary, conf, state, log, timeout):
    """The daemon in the foreground on the state directory: (process, socket, seconds until
    GetStatus answered, its status). Connects again and again until it answers, up to
    timeout seconds."""
    sock = os.path.join(state, "io.lockwatch")
    env = dict(os.environ)
    for k in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        env.pop(k, None)
    t0 = time.monotonic()
    proc = subprocess.Popen([binary, "--config", conf, "--state-dir", state, "--socket", sock,
                             "--rules-dir", os.path.join(SRC, "rules")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                            env=env)
    deadline = t0 + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError("lockwatchd exited with %s before it answered" % proc.returncode)
        try:
            r = varlink_call(sock, GET_STATUS, max(0.1, deadline - time.monotonic()))
            if "error" in r:
                raise RuntimeError("GetStatus: %s" % r)
            return proc, sock, time.monotonic() - t0, r["parameters"]["status"]
        except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError,
                BrokenPipeError, socket.timeout):
            pass
        if time.monotonic() >= deadline:
            stop_daemon(proc, timeout)
            raise RuntimeError("lockwatchd did not answer within %.0f s" % timeout)
        time.sleep(0.01)


def stop_daemon(proc, timeout):
    """SIGTERM and wait; the exit status (None when it had to be killed)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
    return proc.returncode


def stream_matrix(path, timeout, probe=False):
    """One GetMatrix with "more", read as fast as it comes: (seconds to the first whole reply,
    to the last, the raw replies, GetStatus waits). With probe, a second connection sends
    GetStatus, one after another, from the call until the stream has ended (the one still
    out then is awaited too)."""
    sel = selectors.DefaultSelector()
    m = socket.socket(socket.AF_UNIX)
    m.settimeout(timeout)
    m.connect(path)
    st = None
    if probe:
        st = socket.socket(socket.AF_UNIX)
        st.settimeout(timeout)
        st.connect(path)
    replies, waits = [], []
    first = last = None
    mr, sr = Replies(), Replies()
    deadline = time.monotonic() + timeout
    try:
        t0 = time.perf_counter()
        m.sendall(GET_MATRIX)
        m.setblocking(False)
        sel.register(m, selectors.EVENT_READ, "matrix")
        if st:
            sent = time.perf_counter()
            st.sendall(GET_STATUS)
            st.setblocking(False)
            sel.register(st, selectors.EVENT_READ, "status")
        status_out = bool(st)
        while last is None or status_out:
            if time.monotonic() > deadline:
                raise RuntimeError("GetMatrix did not end within %.0f s" % timeout)
            for key, _ in sel.select(timeout=1.0):
                data = key.fileobj.recv(1 << 20)
                now = time.perf_counter()
                if not data:
                    raise RuntimeError("the daemon closed the connection")
                if key.data == "status":
                    for _ in sr.feed(data):
                        waits.append(now - sent)
                        status_out = False
                        if last is None:
                            sent = time.perf_counter()
                            st.sendall(GET_STATUS)
                            status_out = True
                    continue
                for msg in mr.feed(data):
                    replies.append(msg)
                    if first is None:
                        first = now - t0
                    if not CONTINUES.search(msg):
                        last = now - t0
    finally:
        sel.close()
        m.close()
        if st:
            st.close()
    return first, last, replies, waits


def check_matrix(replies, models):
    """Warnings about one streamed reply: an error, shown or the rows received not being the
    model count, `changed`. Returns (bytes, parts, shown, warnings)."""
    warnings, rows, shown = [], 0, None
    for i, raw in enumerate(replies):
        r = json.loads(raw)
        if "error" in r:
            return 0, 0, None, ["GetMatrix: %s" % raw[:200].decode(errors="replace")]
        par = r["parameters"]
        shown = par.get("shown")
        rows += len(par.get("matrix", {}).get("models", []))
        if par.get("changed"):
            warnings.append("the matrix changed while it streamed")
    if shown != models:
        warnings.append("shown is %s, not the %d models" % (shown, models))
    if rows != models:
        warnings.append("%d rows received, not the %d models" % (rows, models))
    return sum(len(x) + 1 for x in replies), len(replies), shown, warnings


def measure_matrix(binary, conf, state, work, models, calls, timeout):
    """GetMatrix figures of a daemon started on the state directory (see the docstring)."""
    log_path = os.path.join(work, "daemon.log")
    with open(log_path, "w") as log:
        proc, sock, ready, status = start_daemon(binary, conf, state, log, timeout)
        try:
            warnings = []
            if status.get("models") != models:
                warnings.append("GetStatus says %s models, not %d" % (status.get("models"),
                                                                      models))
            firsts, lasts, sizes = [], [], set()
            for _ in range(calls):
                first, last, replies, _ = stream_matrix(sock, timeout)
                size, parts, shown, w = check_matrix(replies, models)
                warnings += w
                sizes.add((size, parts))
                firsts.append(first)
                lasts.append(last)
            _, _, replies, waits = stream_matrix(sock, timeout, probe=True)
            warnings += check_matrix(replies, models)[3]
            if len(sizes) > 1:
                warnings.append("the calls' sizes differ: %s" % sorted(sizes))
            after = varlink_call(sock, GET_STATUS, timeout)["parameters"]["status"]
            polls = sum(x["polls"] for x in after["sources"]) \
                - sum(x["polls"] for x in status["sources"])
            if polls:
                warnings.append("the daemon polled %d time(s) while it was measured" % polls)
        finally:
            code = stop_daemon(proc, timeout)
    if code != 0:
        with open(log_path, errors="replace") as f:
            tail = f.read()[-2000:]
        warnings.append("lockwatchd exited with %s; its log ends:\n%s" % (code, tail))
    size, parts = max(sizes)
    return {"ready": ready, "size": size, "parts": parts, "shown": shown,
            "first": statistics.median(firsts), "last": statistics.median(lasts),
            "status_max": max(waits), "status_n": len(waits),
            "warnings": list(dict.fromkeys(warnings))}


def measure(binary, conf, work, rounds, with_callgrind, eval_n, timeout):
    state = os.path.join(work, "state")
    shutil.rmtree(state, ignore_errors=True)
    trace = os.path.join(work, "trace")
    first = written_round(binary, conf, state, trace)
    # Every steady round counted, one after another: a compaction comes every few rounds,
    # and the mean over them is what a round costs.
    steady = [written_round(binary, conf, state, trace) for _ in range(rounds - 1)]
    walls, rss = [], []
    for _ in range(3):
        w, r = timed_round(binary, conf, state)
        walls.append(w)
        rss.append(r)
    size = state_size(state)
    cg = callgrind_round(binary, conf, state, os.path.join(work, "cg.out")) \
        if with_callgrind else {}
    ev = eval_rounds(binary, conf, state, work, eval_n, timeout) if eval_n else None
    return {"first": first, "steady": steady, "wall": statistics.median(walls),
            "rss": max(rss), "size": size, "cg": cg, "eval": ev}


def mb(n):
    return "%.2f" % (n / 1e6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lockwatchd")
    ap.add_argument("--models", default="1000,10000,100000")
    ap.add_argument("--sources", default="1,10,100,256")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--callgrind-max", type=int, default=10000)
    ap.add_argument("--no-callgrind", action="store_true",
                    help="count no instructions (valgrind is ~50x slower than a round)")
    ap.add_argument("--eval-rounds", type=int, default=3,
                    help="rounds run under gdb to time the rule evaluation (0: none)")
    ap.add_argument("--matrix-calls", type=int, default=3,
                    help="timed GetMatrix calls per combination (0: no GetMatrix figures)")
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="the longest to wait for a round under gdb, the daemon's first "
                         "answer, a GetMatrix stream or its exit")
    ap.add_argument("--compare")
    ap.add_argument("--compare-max", type=int, default=10000,
                    help="run the --compare build only up to this many models (it writes "
                         "the whole state once per source: slow past that)")
    ap.add_argument("--max-seconds", type=float, default=120.0,
                    help="skip the larger combinations once a round takes longer than this")
    args = ap.parse_args()
    if not shutil.which("strace"):
        sys.exit("bench_scale: strace is needed to count the bytes written")
    cg_ok = shutil.which("valgrind") and shutil.which("callgrind_annotate") \
        and not args.no_callgrind
    if args.eval_rounds > 0 and not shutil.which("gdb"):
        print("gdb not found: no rule evaluation times", flush=True)

    work = tempfile.mkdtemp(prefix="lw-bench-scale-")
    print("%-7s %-7s %-7s %-8s %-8s %-9s %-18s %-9s %-8s %s" % (
        "models", "sources", "round s", "RSS MiB", "state MB", "1st MB", "steady MB mean/max",
        "x state", "rules ms", "Ir (state load / save / history, their sum / rules)"), flush=True)
    skipped, matrix_rows, costs = [], [], []
    try:
        for m in [int(x) for x in args.models.split(",")]:
            slow = False
            for s in [int(x) for x in args.sources.split(",")]:
                if s > m:
                    continue
                if slow:
                    skipped.append("%d x %d" % (m, s))
                    continue
                d = os.path.join(work, "m%d-s%d" % (m, s))
                conf = generate(os.path.join(d, "src"), m, s)
                builds = [("", args.lockwatchd)] + ([("before", args.compare)]
                                                   if args.compare and m <= args.compare_max
                                                   else [])
                for label, binary in builds:
                    r = measure(binary, conf, d, args.rounds,
                                cg_ok and m <= args.callgrind_max and not label,
                                0 if label else args.eval_rounds, args.timeout)
                    mean, top = statistics.mean(r["steady"]), max(r["steady"])
                    cg = r["cg"]
                    ir = "-"
                    if cg.get("total"):
                        t = cg["total"]
                        hist = cg.get("hopen", 0) + cg.get("hsync", 0) + cg.get("happend", 0)
                        load, save = cg.get("load", 0), cg.get("save", 0)
                        ir = "%.2fG (%.1f%% / %.1f%% / %.1f%%, persistence %.1f%% / %.2fG)" % (
                            t / 1e9, 100.0 * load / t, 100.0 * save / t, 100.0 * hist / t,
                            100.0 * (load + save + hist) / t, cg.get("rules", 0) / 1e9)
                    rules = "-"
                    if r["eval"]:
                        rules = "%.2f" % (r["eval"][0] * 1e3)
                        costs.append(r["eval"][1])
                    print("%-7d %-7s %-7.2f %-8.1f %-8s %-9s %-18s %4.2f/%-4.2f %-8s %s" % (
                        m, "%d%s" % (s, " " + label if label else ""), r["wall"], r["rss"],
                        mb(r["size"]), mb(r["first"]), "%s/%s" % (mb(mean), mb(top)),
                        mean / r["size"] if r["size"] else 0,
                        top / r["size"] if r["size"] else 0, rules, ir), flush=True)
                    if not label and args.matrix_calls > 0:
                        # The daemon runs on the state these rounds left, before any other
                        # build's rounds replace it.
                        try:
                            matrix_rows.append((m, s, measure_matrix(
                                binary, conf, os.path.join(d, "state"), d, m,
                                args.matrix_calls, args.timeout)))
                        except (RuntimeError, OSError) as e:
                            matrix_rows.append((m, s, {"error": str(e)}))
                    if not label and r["wall"] > args.max_seconds:
                        slow = True
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if skipped:
        print("skipped (a smaller one took over %.0f s a round): %s"
              % (args.max_seconds, ", ".join(skipped)))
    if args.no_callgrind:
        print("instructions: none (--no-callgrind)")
    else:
        print("instructions only where models <= %d (valgrind is ~50x slower)"
              % args.callgrind_max)
    if costs:
        print("rules ms: CPU time in poller_evaluate, median of %d rounds under gdb, each "
              "less the cost of its two stops (%.3f to %.3f ms)" % (
                  args.eval_rounds, min(costs) * 1e3, max(costs) * 1e3))
    if not matrix_rows:
        return
    print()
    print("GetMatrix with \"more\" on a daemon started on each state (first/last: median of "
          "%d calls)" % args.matrix_calls)
    print("%-7s %-7s %-7s %-8s %-6s %-7s %-9s %-9s %s" % (
        "models", "sources", "ready s", "MB", "parts", "shown", "first ms", "last ms",
        "GetStatus ms max (of n)"))
    for m, s, g in matrix_rows:
        if "error" in g:
            print("%-7d %-7d failed: %s" % (m, s, g["error"]))
            continue
        print("%-7d %-7d %-7.2f %-8s %-6d %-7s %-9.1f %-9.1f %.1f (%d)" % (
            m, s, g["ready"], mb(g["size"]), g["parts"], g["shown"], g["first"] * 1e3,
            g["last"] * 1e3, g["status_max"] * 1e3, g["status_n"]))
        for w in g["warnings"]:
            print("  warning: %s" % w)


if __name__ == "__main__":
    main()
