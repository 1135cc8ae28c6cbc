#!/usr/bin/env python3
"""The fetcher, driven through `lockwatchd --once --fetch-only` against local upstreams.

Each test starts its own scripted server (upstream.py) so its request log belongs to that
test alone, and asserts both what the daemon reports and what the server saw.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402

OK_BODY_LEN = 76  # len(upstream.OK_BODY)
OK_ETAG = '"ok-v1"'
FIXED_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"

DAEMON_DEFAULTS = {
    "connect_timeout": "2s",
    "timeout": "10s",
    "low_speed_time": "10s",
    "low_speed_limit": 1,
    "max_body": "1M",
    "max_redirects": 5,
    "retries": 2,
    "retry_backoff": "100ms",
    "retry_backoff_max": "5s",
}


class FetchTest(unittest.TestCase):
    def setUp(self):
        self.tmp = lwtest.TempDir()
        self.addCleanup(self.tmp.cleanup)
        self.state = self.tmp.mkdir("state")
        self.up = self.start_upstream()

    def start_upstream(self, **kw):
        up = lwtest.Upstream(self.tmp, **kw)
        self.addCleanup(up.stop)
        return up

    def source(self, url, **overrides):
        keys = {"url": url, "format": "litellm", "interval": "1h"}
        keys.update(overrides)
        return keys

    def run_sources(self, sources, daemon=None, json_output=False, timeout=60, state=None):
        d = dict(DAEMON_DEFAULTS)
        d.update(daemon or {})
        conf = lwtest.write_config(self.tmp, d, sources)
        run, parsed = lwtest.run_once_fetch(conf, state or self.state, json_output=json_output,
                                            timeout=timeout)
        self.assertFalse(run.timed_out, run.describe())
        self.assertIsNone(lwtest.sanitizer_report(run), run.describe())
        self.assertIsNotNone(parsed, run.describe())
        self.assertEqual(list(parsed), [name for name, _ in sources],
                         "one line per source, in config order\n" + run.describe())
        return run, parsed

    def run_one(self, url, daemon=None, **overrides):
        run, parsed = self.run_sources([("s", self.source(url, **overrides))], daemon)
        return run, parsed["s"]

    def assertExit(self, run, code):
        self.assertEqual(run.returncode, code, run.describe())

    # -- success and conditional GET -------------------------------------------------------

    def test_ok(self):
        run, r = self.run_one(self.up.url("/ok"), {"user_agent_extra": "fleet-7"})
        self.assertExit(run, 0)
        self.assertEqual(r["class"], "ok", run.describe())
        self.assertEqual(r["bytes"], OK_BODY_LEN)
        self.assertEqual(r["attempts"], 1)
        self.assertEqual(r["etag"], OK_ETAG)
        self.assertEqual(r["last_modified"], FIXED_DATE)
        reqs = self.up.requests("/ok")
        self.assertEqual(len(reqs), 1)
        ua = reqs[0]["headers"].get("user-agent", "")
        self.assertTrue(ua.startswith("lockwatch/"), ua)
        self.assertTrue(ua.endswith(" fleet-7"), ua)
        self.assertNotIn("if-none-match", reqs[0]["headers"])
        self.assertNotIn("if-modified-since", reqs[0]["headers"])

    def test_json_output(self):
        sources = [("good", self.source(self.up.url("/ok"))),
                   ("missing", self.source(self.up.url("/status/404")))]
        run, parsed = self.run_sources(sources, json_output=True)
        self.assertExit(run, 1)
        good, missing = parsed["good"], parsed["missing"]
        self.assertEqual(good["result"], "ok")
        self.assertEqual(good["http_status"], 200)
        self.assertEqual(good["bytes"], OK_BODY_LEN)
        self.assertEqual(good["attempts"], 1)
        self.assertEqual(good["etag"], OK_ETAG)
        self.assertEqual(good["last_modified"], FIXED_DATE)
        self.assertIsNone(good["error"])
        self.assertIsInstance(good["ms"], int)
        self.assertEqual(missing["result"], "http-404")
        self.assertEqual(missing["http_status"], 404)
        self.assertIsNone(missing["etag"])
        self.assertIsNone(missing["last_modified"])

    def test_not_modified_via_etag(self):
        run, r = self.run_one(self.up.url("/etag?tag=abc"))
        self.assertExit(run, 0)
        self.assertEqual(r["class"], "ok", run.describe())
        self.assertEqual(r["etag"], '"abc"')
        run, r = self.run_one(self.up.url("/etag?tag=abc"))
        self.assertExit(run, 0)
        self.assertEqual(r["class"], "not-modified", run.describe())
        self.assertEqual(r["etag"], '"abc"', "a 304 keeps the stored validator")
        reqs = self.up.requests("/etag")
        self.assertEqual(len(reqs), 2)
        self.assertNotIn("if-none-match", reqs[0]["headers"])
        self.assertEqual(reqs[1]["headers"].get("if-none-match"), '"abc"')

    def test_not_modified_via_last_modified(self):
        run, r = self.run_one(self.up.url("/lastmod"))
        self.assertExit(run, 0)
        self.assertEqual(r["class"], "ok", run.describe())
        self.assertEqual(r["last_modified"], FIXED_DATE)
        self.assertIsNone(r["etag"])
        run, r = self.run_one(self.up.url("/lastmod"))
        self.assertExit(run, 0)
        self.assertEqual(r["class"], "not-modified", run.describe())
        reqs = self.up.requests("/lastmod")
        self.assertEqual(len(reqs), 2)
        self.assertNotIn("if-modified-since", reqs[0]["headers"])
        self.assertEqual(reqs[1]["headers"].get("if-modified-since"), FIXED_DATE)

    def test_validators_are_per_source(self):
        # The second source never had a good response: it must not borrow another's ETag.
        run, _ = self.run_sources([("a", self.source(self.up.url("/etag?tag=one")))])
        self.assertExit(run, 0)
        run, parsed = self.run_sources([("a", self.source(self.up.url("/etag?tag=one"))),
                                        ("b", self.source(self.up.url("/etag?tag=one&b=1")))])
        self.assertExit(run, 0)
        self.assertEqual(parsed["a"]["class"], "not-modified", run.describe())
        self.assertEqual(parsed["b"]["class"], "ok", run.describe())
        b_reqs = [e for e in self.up.requests("/etag") if "b=1" in e["query"]]
        self.assertEqual(len(b_reqs), 1)
        self.assertNotIn("if-none-match", b_reqs[0]["headers"])

    # -- HTTP errors and retries -------------------------------------------------------------

    def test_404_is_not_retried(self):
        run, r = self.run_one(self.up.url("/status/404"))
        self.assertExit(run, 1)
        self.assertEqual(r["class"], "http-404", run.describe())
        self.assertEqual(r["attempts"], 1)
        self.assertEqual(len(self.up.requests("/status/404")), 1)

    def test_500_is_retried(self):
        run, r = self.run_one(self.up.url("/status/500"), retries=2)
        self.assertExit(run, 1)
        self.assertEqual(r["class"], "http-500", run.describe())
        self.assertEqual(r["attempts"], 3)
        reqs = self.up.requests("/status/500")
        self.assertEqual(len(reqs), 3)
        # Backoff: 100 ms then 200 ms, each +/-20%; retries never come back to back.
        gaps = [b["t"] - a["t"] for a, b in zip(reqs, reqs[1:])]
        self.assertGreaterEqual(gaps[0], 0.079, gaps)
        self.assertGreaterEqual(gaps[1], 0.159, gaps)

    def test_retry_after_is_honoured(self):
        run, r = self.run_one(self.up.url("/retry-after?secs=2"), retry_backoff_max="5s")
        self.assertExit(run, 0)
        self.assertEqual(r["class"], "ok", run.describe())
        self.assertEqual(r["attempts"], 2)
        reqs = self.up.requests("/retry-after")
        self.assertEqual(len(reqs), 2)
        gap = reqs[1]["t"] - reqs[0]["t"]
        self.assertGreaterEqual(gap, 2.0, "second request came %.3f s after the 429" % gap)
        self.assertGreaterEqual(r["ms"], 2000)

    def test_retry_after_as_http_date(self):
        run, r = self.run_one(self.up.url("/retry-after?secs=3&date=1&status=503"),
                              retry_backoff_max="5s")
        self.assertExit(run, 0)
        self.assertEqual(r["class"], "ok", run.describe())
        self.assertEqual(r["attempts"], 2)
        reqs = self.up.requests("/retry-after")
        self.assertEqual(len(reqs), 2)
        # The date has whole seconds: "now + 3 s", truncated, is still 2 s or more away.
        gap = reqs[1]["t"] - reqs[0]["t"]
        self.assertGreaterEqual(gap, 2.0, "second request came %.3f s after the 503" % gap)
        self.assertLess(gap, 4.5)

    def test_retry_after_beyond_backoff_max_stops_retrying(self):
        run, r = self.run_one(self.up.url("/retry-after?secs=3600&status=503"),
                              retry_backoff_max="1s", retries=3)
        self.assertExit(run, 1)
        self.assertEqual(r["class"], "http-503", run.describe())
        self.assertEqual(r["attempts"], 1)
        self.assertLess(run.seconds, 30)
        self.assertEqual(len(self.up.requests("/retry-after")), 1)

    # -- caps and broken transfers -----------------------------------------------------------

    def test_slow_body_times_out(self):
        run, r = self.run_one(self.up.url("/slow?bytes=20&interval=0.5"), timeout="1s",
                              retries=0)
        self.assertExit(run, 1)
        self.assertEqual(r["class"], "timeout", run.describe())
        self.assertEqual(r["attempts"], 1)
        self.assertGreaterEqual(r["ms"], 900)
        self.assertLess(r["ms"], 5000)

    def test_body_over_cap(self):
        sources = [("small", self.source(self.up.url("/big?bytes=1000"))),
                   ("big", self.source(self.up.url("/big?bytes=200000"))),
                   ("gzip", self.source(self.up.url("/big?bytes=200000&gzip=1")))]
        run, parsed = self.run_sources(sources, {"max_body": "64K"})
        self.assertExit(run, 1)
        self.assertEqual(parsed["small"]["class"], "ok", run.describe())
        self.assertEqual(parsed["small"]["bytes"], 1000)
        self.assertEqual(parsed["big"]["class"], "too-large", run.describe())
        self.assertEqual(parsed["big"]["attempts"], 1)
        # The compressed body is tiny; the cap applies to what it decodes to.
        self.assertEqual(parsed["gzip"]["class"], "too-large", run.describe())
        gz = [e for e in self.up.requests("/big") if "gzip=1" in e["query"]]
        self.assertIn("gzip", gz[0]["headers"].get("accept-encoding", ""))

    def test_truncated_body(self):
        run, r = self.run_one(self.up.url("/truncated?announce=1000&send=100"), retries=1)
        self.assertExit(run, 1)
        self.assertEqual(r["class"], "truncated", run.describe())
        self.assertEqual(r["attempts"], 2, "a truncated body is retried")
        self.assertEqual(len(self.up.requests("/truncated")), 2)

    def test_redirects(self):
        sources = [("loop", self.source(self.up.url("/redirect-loop"))),
                   ("hop", self.source(self.up.url("/redirect?to=/ok"))),
                   ("tofile", self.source(self.up.url("/redirect?to=file:///etc/hostname")))]
        run, parsed = self.run_sources(sources, {"max_redirects": 3})
        self.assertExit(run, 1)
        self.assertEqual(parsed["loop"]["class"], "redirects", run.describe())
        self.assertEqual(parsed["loop"]["attempts"], 1)
        self.assertEqual(len(self.up.requests("/redirect-loop")), 4, "first + 3 redirects")
        self.assertEqual(parsed["hop"]["class"], "ok", run.describe())
        self.assertEqual(parsed["hop"]["etag"], OK_ETAG)
        self.assertEqual(parsed["tofile"]["class"], "error", run.describe())

    # -- TLS, connection, file:// ------------------------------------------------------------

    def test_tls(self):
        tls = lwtest.TLSFiles(self.tmp)
        up = self.start_upstream(tls=tls, name="tls")
        sources = [("trusted", self.source(up.url("/ok"), ca_file=tls.ca)),
                   ("untrusted", self.source(up.url("/ok"), retries=0))]
        # Also as the systemd unit runs it: GnuTLS (loaded only through librtmp) left
        # uninitialised must not matter to HTTPS, which goes through OpenSSL.
        for env in ({}, {"GNUTLS_NO_IMPLICIT_INIT": "1"}):
            with self.subTest(env=env), mock.patch.dict(os.environ, env):
                before = len(up.requests("/ok"))
                run, parsed = self.run_sources(sources)
                self.assertExit(run, 1)
                self.assertEqual(parsed["trusted"]["class"], "ok", run.describe())
                self.assertEqual(parsed["trusted"]["bytes"], OK_BODY_LEN)
                self.assertEqual(parsed["untrusted"]["class"], "tls", run.describe())
                self.assertEqual(parsed["untrusted"]["attempts"], 1)
                # Only the verified connection got as far as an HTTP request.
                self.assertEqual(len(up.requests("/ok")) - before, 1)

    def test_connection_refused(self):
        # A bound socket that never listens: connecting to it is refused, and no other
        # process can take the port while we hold it.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        run, r = self.run_one("http://127.0.0.1:%d/ok" % port, retries=1)
        self.assertExit(run, 1)
        self.assertEqual(r["class"], "connect", run.describe())
        self.assertEqual(r["attempts"], 2, "connection failures are retried")

    def test_file_urls(self):
        body = '{"sample_spec": {}}\n'
        path = self.tmp.write("feed.json", body)
        sources = [("present", self.source("file://" + path)),
                   ("absent", self.source("file://" + self.tmp.join("nope.json")))]
        run, parsed = self.run_sources(sources, json_output=True)
        self.assertExit(run, 1)
        self.assertEqual(parsed["present"]["result"], "ok")
        self.assertEqual(parsed["present"]["bytes"], len(body))
        self.assertEqual(parsed["absent"]["result"], "error")
        self.assertTrue(parsed["absent"]["error"], "an error carries curl's message")

    # -- politeness and concurrency ----------------------------------------------------------

    def test_one_request_in_flight_per_host(self):
        names = ["p%d" % i for i in range(3)]
        sources = [(n, self.source(self.up.url("/delay?ms=400&src=%s" % n))) for n in names]
        run, parsed = self.run_sources(sources)
        self.assertExit(run, 0)
        for n in names:
            self.assertEqual(parsed[n]["class"], "ok", run.describe())
        done = sorted(self.up.wait_done(3, "/delay"), key=lambda e: e["t"])
        self.assertEqual(len(done), 3)
        for a, b in zip(done, done[1:]):
            self.assertIsNotNone(a["t_respond"])
            self.assertGreaterEqual(b["t"], a["t_respond"],
                                    "request %d started before %d was answered" % (b["id"],
                                                                                   a["id"]))
        self.assertGreaterEqual(run.seconds, 1.2, "three 400 ms requests ran one at a time")

    def test_concurrency_across_hosts(self):
        ups = [self.start_upstream(bind="127.0.0.%d" % i, name="c") for i in range(1, 9)]
        sources = [("h%d" % i, self.source(up.url("/delay?ms=1000"), retries=0))
                   for i, up in enumerate(ups, 1)]
        start = time.monotonic()
        run, parsed = self.run_sources(sources)
        elapsed = time.monotonic() - start
        print("concurrency: 8 sources x 1 s delay finished in %.2f s" % elapsed, flush=True)
        self.assertExit(run, 0)
        for name, _ in sources:
            self.assertEqual(parsed[name]["class"], "ok", run.describe())
        self.assertLess(elapsed, 4.0)
        # Every upstream had its request before any upstream answered: all eight in flight.
        done = [up.wait_done(1, "/delay")[0] for up in ups]
        latest_start = max(e["t"] for e in done)
        earliest_answer = min(e["t_respond"] for e in done)
        self.assertLess(latest_start, earliest_answer)

    def test_stop_with_requests_queued_on_a_host(self):
        """SIGTERM while one request holds a host's slot and two wait behind it: the
        cancelled requests fail nothing. Releasing the slot once started the next queued
        request from inside the teardown; it could not start (the loop had exited) and was
        reported as a failed poll of a half-freed source, its source saved as degraded."""
        sources = [("q%d" % i, self.source(self.up.url("/delay?ms=20000&n=%d" % i),
                                           retries=0)) for i in (1, 2, 3)]
        conf = lwtest.write_config(self.tmp, dict(DAEMON_DEFAULTS, jitter="0"), sources)
        err = open(self.tmp.join("stderr"), "w+")
        self.addCleanup(err.close)
        p = subprocess.Popen([lwtest.lockwatchd(), "--config", conf, "--state-dir",
                              self.state, "--socket", self.tmp.join("io.lockwatch")],
                             stdout=subprocess.DEVNULL, stderr=err)
        try:
            self.assertTrue(lwtest.wait_until(lambda: self.up.requests("/delay"), 10),
                            "no request reached the upstream")
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
        err.seek(0)
        log = err.read()
        self.assertEqual(p.returncode, 0, log)
        self.assertIn("stopping", log)
        after = log[log.index("stopping"):]
        self.assertNotIn("degraded", after, log)
        self.assertNotIn("cannot", after, log)
        # One request was in flight; the two queued behind it were never sent.
        self.assertEqual(len(self.up.requests("/delay")), 1)
        st = lwtest.read_state(self.state) or {}
        for name, src in (st.get("sources") or {}).items():
            self.assertNotEqual(src.get("status"), "degraded", name)


if __name__ == "__main__":
    lwtest.require_daemon()
    lwtest.main()
