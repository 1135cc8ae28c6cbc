#!/usr/bin/env python3
"""Benchmark (prints figures, asserts nothing): how a poll round scales with the number of
models and of sources. For each combination, synthetic LiteLLM-format sources on file://
URLs split M models among S sources; `lockwatchd --once --state-dir` is one poll round
(every source fetched, parsed, merged and saved, then one rule evaluation and its save),
run R times on the same state directory. Printed per combination:

  round s       wall time of a steady round (median of three after the counted ones)
  RSS MiB       peak resident set of those rounds (getrusage)
  state MB      the state's size: its snapshot after the last compaction (or the first save)
  written MB    bytes written into the state directory in the first round, and per steady
                round (mean and max of rounds 2..R, every one counted, so compactions are
                in the mean), from the write(2) calls strace -y shows
  x state       steady bytes written per round over the state size, mean/max (budget: 2)
  Ir            instructions of one steady round (valgrind --tool=callgrind; only where
                M <= --callgrind-max), with the share spent loading and saving the state and
                the instructions of the rule evaluation

--compare OTHER_LOCKWATCHD runs the written-bytes rounds with another build as well (the
version before the change log, say) and prints its figures in the same table.

Usage: bench_scale.py [--models 1000,10000,100000] [--sources 1,10,100,256] [--rounds 7]
                      [--callgrind-max 10000] [--compare BIN [--compare-max 10000]]
                      [--max-seconds 120] LOCKWATCHD
"""

import argparse
import json
import os
import re
import resource
import shutil
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
    per = models // sources
    conf = ["[daemon]", "providers = %s/data/providers.conf" % SRC,
            "aliases = %s/data/aliases.conf" % SRC, "interval = 1d", "max_body = 64M",
            "max_rows = 200000", ""]
    for j in range(sources):
        d = {}
        for i in range(j * per, (j + 1) * per):
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
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", out],
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
                        ("rules", ":poller_evaluate")):
            if where.endswith(fn) and key not in figures:
                figures[key] = n
    return figures


def measure(binary, conf, work, rounds, with_callgrind):
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
    return {"first": first, "steady": steady, "wall": statistics.median(walls),
            "rss": max(rss), "size": size, "cg": cg}


def mb(n):
    return "%.2f" % (n / 1e6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lockwatchd")
    ap.add_argument("--models", default="1000,10000,100000")
    ap.add_argument("--sources", default="1,10,100,256")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--callgrind-max", type=int, default=10000)
    ap.add_argument("--compare")
    ap.add_argument("--compare-max", type=int, default=10000,
                    help="run the --compare build only up to this many models (it writes "
                         "the whole state once per source: slow past that)")
    ap.add_argument("--max-seconds", type=float, default=120.0,
                    help="skip the larger combinations once a round takes longer than this")
    args = ap.parse_args()
    if not shutil.which("strace"):
        sys.exit("bench_scale: strace is needed to count the bytes written")
    cg_ok = shutil.which("valgrind") and shutil.which("callgrind_annotate")

    work = tempfile.mkdtemp(prefix="lw-bench-scale-")
    print("%-7s %-7s %-7s %-8s %-8s %-9s %-18s %-9s %s" % (
        "models", "sources", "round s", "RSS MiB", "state MB", "1st MB", "steady MB mean/max",
        "x state", "Ir (state load / save / rules)"))
    skipped = []
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
                                cg_ok and m <= args.callgrind_max and not label)
                    mean, top = statistics.mean(r["steady"]), max(r["steady"])
                    cg = r["cg"]
                    ir = "-"
                    if cg.get("total"):
                        t = cg["total"]
                        ir = "%.2fG (%.0f%% / %.0f%% / %.2fG)" % (
                            t / 1e9, 100.0 * cg.get("load", 0) / t,
                            100.0 * cg.get("save", 0) / t, cg.get("rules", 0) / 1e9)
                    print("%-7d %-7s %-7.2f %-8.1f %-8s %-9s %-18s %4.2f/%-4.2f %s" % (
                        m, "%d%s" % (s, " " + label if label else ""), r["wall"], r["rss"],
                        mb(r["size"]), mb(r["first"]), "%s/%s" % (mb(mean), mb(top)),
                        mean / r["size"] if r["size"] else 0,
                        top / r["size"] if r["size"] else 0, ir), flush=True)
                    if not label and r["wall"] > args.max_seconds:
                        slow = True
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if skipped:
        print("skipped (a smaller one took over %.0f s a round): %s"
              % (args.max_seconds, ", ".join(skipped)))
    print("instructions only where models <= %d (valgrind is ~50x slower)" % args.callgrind_max)


if __name__ == "__main__":
    main()
