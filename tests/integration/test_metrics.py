#!/usr/bin/env python3
"""/metrics against the real Prometheus programs (Debian's prometheus and promtool).

- On the bundled snapshot set: `promtool check metrics` passes on what /metrics serves; a
  real prometheus scrapes it, and its HTTP API gives the cloud count of
  anthropic/claude-opus-4-7 that the matrix (lockwatchctl matrix --json) gives.
- `promtool check rules` passes on the example rule file data/prometheus/lockwatch.rules.yml.
- The responder's caps: GET and HEAD only, a request head of 8 KiB, 16 connections, a
  connection's life bounded.
- Socket activation: a listening socket passed with FileDescriptorName=metrics serves
  /metrics without metrics_listen, and the control socket still works beside it.
"""

import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402
import sinks  # noqa: E402
from sinks import WAIT  # noqa: E402

OPUS = "anthropic/claude-opus-4-7"
RULES_FILE = os.path.join(lwtest.source_dir(), "data", "prometheus", "lockwatch.rules.yml")


def raw(port, data, timeout=15):
    """Send data on a new connection; return everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def matrix_clouds(socket_path, model):
    ctl = os.environ.get("LOCKWATCHCTL") or os.path.join(
        os.path.dirname(lwtest.lockwatchd()), "lockwatchctl")
    r = subprocess.run([ctl, "--socket", socket_path, "--json", "matrix", model],
                       capture_output=True, text=True, timeout=WAIT)
    if r.returncode != 0:
        return None
    doc = json.loads(r.stdout)
    doc = doc.get("matrix", doc)
    for m in doc["models"]:
        if m["id"] == model:
            return m["clouds_available"]
    return None


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lwtest.require_daemon()

    def setUp(self):
        self.tmp = lwtest.TempDir("lw-metrics-")
        self.addCleanup(self.tmp.cleanup)
        self.state_dir = self.tmp.mkdir("state")
        self.socket = self.tmp.join("control")
        self.port = sinks.free_port()

    def demo(self, listen=True):
        conf = lwtest.demo_config(self.tmp.path)
        with open(conf) as f:
            text = f.read()
        if listen:
            text = text.replace("[daemon]\n", "[daemon]\nmetrics_listen = 127.0.0.1:%d\n"
                                % self.port, 1)
            self.assertIn("metrics_listen", text)
        with open(conf, "w") as f:
            f.write(text)
        return conf

    def start(self, conf, wrapper=None, wait=True):
        d = sinks.Daemon(self.tmp, conf, self.state_dir,
                         os.path.join(lwtest.source_dir(), "rules"), self.socket,
                         wrapper=wrapper)
        self.addCleanup(d.stop)
        if wait:
            self.assertIsNotNone(d.wait_ready(), d.stderr())
        return d

    def scrape(self):
        status, text = sinks.http_get("http://127.0.0.1:%d/metrics" % self.port)
        return text if status == 200 else None

    def test_prometheus_scrapes_the_matrix(self):
        if not sinks.have_prometheus():
            self.skipTest("prometheus and promtool are not installed")
        d = self.start(self.demo())
        text = lwtest.wait_until(
            lambda: (t := self.scrape()) and ('lockwatch_model_clouds{model="%s"}' % OPUS) in t
            and t, WAIT, step=0.1)
        self.assertTrue(text, "no model metrics\n" + d.stderr())
        lint = subprocess.run(["promtool", "check", "metrics"], input=text,
                              capture_output=True, text=True, timeout=WAIT)
        self.assertEqual((lint.returncode, lint.stdout, lint.stderr), (0, "", ""))
        for family in ("lockwatch_build_info", "lockwatch_source_up",
                       "lockwatch_source_last_success_timestamp_seconds",
                       "lockwatch_source_rows", "lockwatch_source_polls_total",
                       "lockwatch_model_clouds", "lockwatch_alerts",
                       "lockwatch_alert_transitions_total",
                       "lockwatch_state_save_duration_seconds"):
            self.assertIn("# TYPE %s " % family, text)

        # The matrix is settled once every source has been polled (the demo polls every
        # 15 minutes): read its value then, and take only scrapes made after that.
        settled = lwtest.wait_until(
            lambda: (st := d.status()) and all(x["polls"] >= 1 for x in st["sources"]), WAIT,
            step=0.1)
        self.assertTrue(settled, d.stderr())
        want = matrix_clouds(self.socket, OPUS)
        since = time.time()
        self.assertIsNotNone(want)
        self.assertGreater(want, 0)
        prom = sinks.Prometheus(self.tmp, "127.0.0.1:%d" % self.port)
        self.addCleanup(prom.stop)
        expr = 'lockwatch_model_clouds{model="%s"}' % OPUS
        got = lwtest.wait_until(lambda: prom.query_after(expr, since), WAIT, step=0.2)
        self.assertTrue(got, "prometheus has no sample of %s" % expr)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0][1], float(want))
        up = prom.query('up{job="lockwatch"}')
        self.assertEqual([v for _, v in up], [1.0])

    def test_example_rule_file(self):
        if not sinks.have_prometheus():
            self.skipTest("promtool is not installed")
        r = subprocess.run(["promtool", "check", "rules", RULES_FILE], capture_output=True,
                           text=True, timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: 5 rules found", r.stdout)
        with open(RULES_FILE) as f:
            self.assertIn("lockwatch_model_clouds == 1", f.read())

    def test_caps(self):
        d = self.start(self.demo())
        self.assertTrue(lwtest.wait_until(self.scrape, WAIT, step=0.1), d.stderr())
        post = raw(self.port, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
        self.assertTrue(post.startswith(b"HTTP/1.1 405 "), post)
        head = raw(self.port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        self.assertTrue(head.endswith(b"\r\n\r\n"), head[-200:])
        self.assertTrue(raw(self.port, b"GET /nothing HTTP/1.1\r\n\r\n")
                        .startswith(b"HTTP/1.1 404 "))
        self.assertTrue(raw(self.port, b"\x16\x03\x01garbage\r\n\r\n")
                        .startswith(b"HTTP/1.1 400 "))
        big = b"GET /metrics HTTP/1.1\r\nX-Fill: " + b"a" * 9000 + b"\r\n\r\n"
        self.assertTrue(raw(self.port, big).startswith(b"HTTP/1.1 431 "))

        # 16 idle connections are held; the 17th is closed at once.
        idle = [socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)
                for _ in range(16)]
        try:
            extra = socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)
            self.assertEqual(extra.recv(100), b"")
            extra.close()
            # An idle connection does not live forever (10 s): the server closes it.
            start = time.monotonic()
            idle[0].settimeout(WAIT)
            self.assertEqual(idle[0].recv(100), b"")
            self.assertLess(time.monotonic() - start, 30)
        finally:
            for s in idle:
                s.close()
        # Once they are gone, scrapes are served again.
        self.assertTrue(lwtest.wait_until(self.scrape, WAIT, step=0.1))

    def test_socket_activation(self):
        conf = self.demo(listen=False)
        # systemd-socket-activate, like PID 1, starts the daemon at the first connection:
        # the first scrape waits in the socket's backlog until the daemon serves it.
        d = self.start(conf, wrapper=["systemd-socket-activate", "-l",
                                      "127.0.0.1:%d" % self.port, "--fdname=metrics",
                                      "-E", "NOTIFY_SOCKET"],
                       wait=False)
        text = lwtest.wait_until(self.scrape, WAIT, step=0.1)
        self.assertTrue(text, d.stderr())
        self.assertIsNotNone(d.wait_ready(), d.stderr())
        self.assertIn("lockwatch_build_info", text)
        self.assertIsNotNone(d.status(), "the control socket does not answer beside it")


if __name__ == "__main__":
    lwtest.main()
