#!/usr/bin/env python3
"""The webhook sink against a receiver written here.

- A receiver that refuses its first three attempts (503) still gets the document, after
  retries whose gaps grow (backoff); status counts the failures.
- The document follows the documented schema (docs/alerting.md), with the plain-text field.
- At least once across restarts: with the receiver down, a transition is queued in the state
  directory; lockwatchd is killed with SIGKILL, the receiver comes up, and the restarted
  daemon delivers the queued document. A bearer token read through $CREDENTIALS_DIRECTORY
  is sent and is in neither the log nor any file of the state directory.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402
import sinks  # noqa: E402
from sinks import WAIT  # noqa: E402

OPUS = "anthropic/claude-opus-4-7"
TOKEN = "s3cr3t-t0ken-for-the-hook"
SCHEMA_KEYS = ["version", "id", "event", "rule", "severity", "target", "model", "vendor",
               "source", "clouds", "previous_clouds", "labels", "summary", "description", "time",
               "starts_at", "instance", "text"]


class WebhookTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lwtest.require_daemon()

    def setUp(self):
        self.tmp = lwtest.TempDir("lw-hook-")
        self.addCleanup(self.tmp.cleanup)
        self.state_dir = self.tmp.mkdir("state")
        self.rules_dir = self.tmp.mkdir("no-shipped-rules")
        self.creds = self.tmp.mkdir("credentials")
        self.tmp.write("credentials/hook-token", TOKEN + "\n", mode=0o600)
        self.snap = self.tmp.join("snapshots", "litellm.json")
        sinks.write_atomic(self.snap, sinks.snapshot())
        self.rules = self.tmp.write("rules/sc.rules", sinks.RULES)
        self.daemons = []

    def config(self, url, extra=""):
        return self.tmp.write("lockwatch.conf", lwtest.config_text(
            dict(lwtest.shipped_tables(), rules=self.rules, interval="1s",
                 evaluation_interval="1s", retries=0, instance="lwtest", max_removal="50%"),
            [("litellm", {"url": "file://" + self.snap, "format": "litellm"})]) + (
            "\n[webhook chat]\nurl = %s\ntext = yes\ntimeout = 2s\n"
            "bearer_token_file = credential:hook-token\n" % url) + extra)

    def start(self, conf):
        d = sinks.Daemon(self.tmp, conf, self.state_dir, self.rules_dir,
                         self.tmp.join("control"), env={"CREDENTIALS_DIRECTORY": self.creds})
        self.addCleanup(d.stop)
        self.assertIsNotNone(d.wait_ready(), d.stderr())
        return d

    def test_retried_with_backoff(self):
        receiver = sinks.Receiver(fail_first=3)
        self.addCleanup(receiver.stop)
        d = self.start(self.config(receiver.url("/hook")))
        sinks.write_atomic(self.snap, sinks.snapshot(on_gcp=("claude-haiku-4-5",)))
        got = lwtest.wait_until(lambda: receiver.bodies(), WAIT, step=0.05)
        self.assertTrue(got, "nothing delivered\n" + d.stderr())
        self.assertEqual(len(receiver.attempts), 4)
        gaps = [b - a for a, b in zip(receiver.attempts, receiver.attempts[1:])]
        # 1 s, 2 s, 4 s, each +/-20%: every wait is longer than the one before.
        self.assertGreater(gaps[0], 0.7)
        self.assertGreater(gaps[1], gaps[0])
        self.assertGreater(gaps[2], gaps[1])

        doc = got[0]
        self.assertEqual(list(doc), SCHEMA_KEYS)
        self.assertEqual(doc["version"], 1)
        self.assertEqual(doc["event"], "firing")
        self.assertEqual(doc["rule"], "SingleCloud")
        self.assertEqual(doc["severity"], "critical")
        self.assertEqual(doc["target"], "model")
        self.assertEqual(doc["model"], OPUS)
        self.assertEqual(doc["vendor"], "anthropic")
        self.assertIsNone(doc["source"])
        self.assertEqual(doc["clouds"], ["aws"])
        self.assertEqual(doc["labels"], {"team": "procurement"})
        self.assertEqual(doc["summary"], OPUS + " is callable only on aws")
        self.assertEqual(doc["instance"], "lwtest")
        self.assertEqual(doc["text"], "[firing] SingleCloud %s: %s is callable only on aws"
                         % (OPUS, OPUS))
        self.assertEqual(doc["starts_at"], doc["time"])
        self.assertEqual(receiver.posts[0]["headers"]["Authorization"], "Bearer " + TOKEN)
        self.assertEqual(receiver.posts[0]["headers"]["Content-Type"], "application/json")

        sink = lwtest.wait_until(lambda: (s := d.sink("chat")) and s["sent"] == 1 and s, WAIT)
        self.assertTrue(sink)
        self.assertEqual((sink["state"], sink["failures"], sink["queued"]), ("ok", 3, 0))
        text = d.status_text()
        header = [x for x in text.splitlines() if x.startswith("SINK ")]
        row = [x.split() for x in text.splitlines() if x.startswith("chat ")]
        self.assertEqual(header[0].split(), ["SINK", "KIND", "STATE", "LAST", "SUCCESS",
                                             "FAILURES", "QUEUED", "ERROR"])
        self.assertEqual((row[0][:3], row[0][-3:]),
                         (["chat", "webhook", "ok"], ["0", "0", "-"]))

        # Resolve: a second document, in order.
        sinks.write_atomic(self.snap, sinks.snapshot())
        both = lwtest.wait_until(lambda: len(receiver.bodies()) >= 2 and receiver.bodies(),
                                 WAIT)
        self.assertTrue(both)
        self.assertEqual([b["event"] for b in both], ["firing", "resolved"])
        self.assertEqual(both[1]["starts_at"], doc["starts_at"])
        self.assertNotEqual(both[1]["id"], doc["id"])

    def test_at_least_once_across_kill(self):
        port = sinks.free_port()  # nobody listens yet: every attempt fails to connect
        conf = self.config("http://127.0.0.1:%d/hook" % port)
        d = self.start(conf)
        sinks.write_atomic(self.snap, sinks.snapshot(on_gcp=("claude-haiku-4-5",)))
        queue = os.path.join(self.state_dir, "webhook-chat.queue.json")
        queued = lwtest.wait_until(
            lambda: (q := lwtest.read_json(queue)) and len(q["queue"]) == 1 and q, WAIT)
        self.assertTrue(queued, "no queued transition\n" + d.stderr())
        self.assertEqual(json.loads(queued["queue"][0]["document"])["model"], OPUS)
        failing = lwtest.wait_until(
            lambda: (s := d.sink("chat")) and s["state"] == "failing" and s, WAIT)
        self.assertTrue(failing)
        self.assertEqual(failing["queued"], 1)
        d.kill9()

        receiver = sinks.Receiver(port=port)
        self.addCleanup(receiver.stop)
        d2 = self.start(conf)
        got = lwtest.wait_until(lambda: receiver.bodies(), WAIT, step=0.05)
        self.assertTrue(got, "the queued transition was not delivered after the restart\n" +
                        d2.stderr())
        self.assertEqual(got[0]["model"], OPUS)
        self.assertEqual(got[0]["event"], "firing")
        emptied = lwtest.wait_until(
            lambda: (q := lwtest.read_json(queue)) is not None and q["queue"] == [], WAIT)
        self.assertTrue(emptied)
        # The secret went out in the header, and nowhere else.
        self.assertEqual(receiver.posts[0]["headers"]["Authorization"], "Bearer " + TOKEN)
        for dd in (d, d2):
            self.assertNotIn(TOKEN, dd.stderr())
        for top, _, names in os.walk(self.state_dir):  # the history store's files too
            for name in names:
                with open(os.path.join(top, name), "rb") as f:
                    self.assertNotIn(TOKEN.encode(), f.read(), name)

    def test_tls_with_ca_file(self):
        tls = lwtest.TLSFiles(self.tmp)
        receiver = sinks.Receiver(tls=tls)
        self.addCleanup(receiver.stop)
        # Without the CA the certificate is refused: the sink fails with a TLS error.
        d = self.start(self.config(receiver.url("/hook")))
        sinks.write_atomic(self.snap, sinks.snapshot(on_gcp=("claude-haiku-4-5",)))
        failing = lwtest.wait_until(
            lambda: (s := d.sink("chat")) and s["state"] == "failing" and s, WAIT)
        self.assertTrue(failing, d.stderr())
        self.assertTrue(failing["last_error"].startswith("tls"), failing["last_error"])
        self.assertEqual(receiver.bodies(), [])
        d.stop()
        # With ca_file, the queued transition goes through.
        d = self.start(self.config(receiver.url("/hook"), "ca_file = %s\n" % tls.ca))
        got = lwtest.wait_until(lambda: receiver.bodies(), WAIT, step=0.05)
        self.assertTrue(got, d.stderr())
        self.assertEqual(got[0]["model"], OPUS)

    def test_unreadable_credential_shows_in_status(self):
        receiver = sinks.Receiver()
        self.addCleanup(receiver.stop)
        os.unlink(os.path.join(self.creds, "hook-token"))
        d = self.start(self.config(receiver.url("/hook")))
        sink = lwtest.wait_until(lambda: d.sink("chat"), WAIT)
        self.assertEqual(sink["state"], "misconfigured")
        self.assertIn("hook-token", sink["last_error"])


if __name__ == "__main__":
    lwtest.main()
