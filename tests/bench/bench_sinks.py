#!/usr/bin/env python3
"""The alert sinks' two budgets (DESIGN 9a, issue "Alerts reach people"). Not a test: it
prints figures.

1. Steady RSS growth with two Alertmanagers (Debian's prometheus-alertmanager), a webhook and
   /metrics enabled: lockwatchd on the bundled data with the shipped rules, rounds and
   re-sends every second and /metrics scraped five times a second; VmRSS after a warm-up and
   again after --seconds. Budget: at most 1 MiB of growth.
2. GetStatus p99 with 64 clients while an Alertmanager stalls: a fake Alertmanager written here
   accepts the POST and answers only after 30 s; during the stall the C client bench_control
   (built next to the daemon) measures GetStatus round trips, and again with no stall in the
   same run. Budget: p99 under 2 ms.

  LOCKWATCHD=build/lockwatchd python3 tests/bench/bench_sinks.py [--seconds S]
"""

import argparse
import json
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import lwtest  # noqa: E402
import sinks  # noqa: E402

SRC = lwtest.source_dir()
LOCKWATCHD = lwtest.lockwatchd()
STALL = 30.0


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))


def demo_with(tmp, extra_daemon, sections, interval=None):
    conf = lwtest.demo_config(tmp)
    with open(conf) as f:
        text = f.read()
    if interval:
        text = re.sub(r"(?m)^interval = .*$", "interval = " + interval, text)
    text = text.replace("[daemon]\n", "[daemon]\n" + extra_daemon, 1)
    with open(conf, "w") as f:
        f.write(text + sections)
    return conf


def start(tmp, conf):
    sock = os.path.join(tmp, "io.lockwatch")
    proc = subprocess.Popen([LOCKWATCHD, "--config", conf, "--state-dir", tmp, "--socket", sock,
                             "--rules-dir", os.path.join(SRC, "rules"), "--log-level",
                             "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, sock


def wait_polled(sock, proc):
    ctl = os.path.join(os.path.dirname(LOCKWATCHD), "lockwatchctl")

    def polled():
        if proc.poll() is not None:
            sys.exit("lockwatchd exited early")
        r = subprocess.run([ctl, "--socket", sock, "--json", "status"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            return None
        st = json.loads(r.stdout)["status"]
        return st if all(s["polls"] >= 1 for s in st["sources"]) else None
    st = lwtest.wait_until(polled, 60, step=0.1)
    if not st:
        sys.exit("lockwatchd did not finish its first round")
    return st


def budget_rss(seconds):
    if not sinks.have_alertmanager():
        print("RSS budget: skipped (prometheus-alertmanager is not installed)")
        return
    tmp = tempfile.mkdtemp(prefix="lw-bench-sinks-")
    receiver = sinks.Receiver()
    t = lwtest.TempDir("lw-bench-am-")
    ams = [sinks.Alertmanager(t, n, receiver.url("/am")) for n in ("one", "two")]
    port = sinks.free_port()
    conf = demo_with(tmp, "evaluation_interval = 1s\nmetrics_listen = "
                     "127.0.0.1:%d\n" % port,
                     "".join("\n[alertmanager %s]\nurl = %s\nresend_delay = 1s\n"
                             % (a.name, a.url()) for a in ams) +
                     "\n[webhook hook]\nurl = %s\ntext = yes\n" % receiver.url("/hook"),
                     interval="2s")
    proc, sock = start(tmp, conf)
    stop = threading.Event()

    def scraper():
        while not stop.is_set():
            sinks.http_get("http://127.0.0.1:%d/metrics" % port)
            time.sleep(0.2)
    th = threading.Thread(target=scraper, daemon=True)
    try:
        st = wait_polled(sock, proc)
        th.start()
        time.sleep(10)  # warm-up: every source polled, sinks sent, allocator settled
        before = rss_kib(proc.pid)
        time.sleep(seconds)
        after = rss_kib(proc.pid)
        st = wait_polled(sock, proc)
        sent = {s["name"]: s["sent"] for s in st["sinks"]}
        print("steady RSS with 2 Alertmanagers, a webhook and /metrics: %.2f MiB after the "
              "warm-up, %.2f MiB %d s later: growth %+.2f MiB (budget +1 MiB); deliveries %s, "
              "%d alerts firing" % (before / 1024, after / 1024, seconds,
                                    (after - before) / 1024, sent, st["alerts_firing"]))
    finally:
        stop.set()
        proc.terminate()
        proc.wait()
        for a in ams:
            a.stop()
        receiver.stop()
        t.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


class StallingAlertmanager:
    """Accepts POST /api/v2/alerts and answers 200 only after STALL seconds."""

    def __init__(self):
        self.stalled = threading.Event()

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.stalled.set()
                time.sleep(STALL)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def p99_line(client, sock, seconds):
    r = subprocess.run([client, sock, "64", str(seconds)], capture_output=True, text=True)
    return r.stdout.strip()


def budget_stall():
    client = os.path.join(os.path.dirname(LOCKWATCHD), "tests", "bench_control")
    if not os.access(client, os.X_OK):
        print("stall budget: skipped (bench_control is not built)")
        return
    tmp = tempfile.mkdtemp(prefix="lw-bench-stall-")
    am = StallingAlertmanager()
    conf = demo_with(tmp, "evaluation_interval = 1s\n",
                     "\n[alertmanager stalling]\nurl = http://127.0.0.1:%d\ntimeout = 45s\n"
                     "resend_delay = 1s\n" % am.port)
    proc, sock = start(tmp, conf)
    try:
        wait_polled(sock, proc)
        if not am.stalled.wait(60):
            sys.exit("lockwatchd never posted to the Alertmanager")
        t0 = time.monotonic()
        during = p99_line(client, sock, 5)
        inside = time.monotonic() - t0 < STALL
        # After the stall: the POST has been answered.
        time.sleep(max(0.0, STALL + 1 - (time.monotonic() - t0)))
        after = p99_line(client, sock, 5)
        print("GetStatus, 64 clients, while an Alertmanager stalls %d s%s: %s" %
              (STALL, "" if inside else " (the measure outlasted the stall!)", during))
        print("GetStatus, 64 clients, same daemon once the stall is over: %s" % after)
    finally:
        proc.terminate()
        proc.wait()
        am.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    args = ap.parse_args()
    budget_rss(args.seconds)
    budget_stall()


if __name__ == "__main__":
    main()
