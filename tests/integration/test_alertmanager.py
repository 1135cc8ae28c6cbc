#!/usr/bin/env python3
"""lockwatchd against two real Alertmanagers (Debian's prometheus-alertmanager) clustered on
127.0.0.1, with a webhook receiver written here as their only receiver.

One story, in order: a SingleCloud alert fires in lockwatchd and shows up in both
Alertmanagers with the documented labels, annotations, startsAt and a lease for endsAt; the
cluster notifies the receiver exactly once; lockwatchd is killed with SIGKILL while the alert
fires and started again: the Alertmanagers keep the alert with its original startsAt and the
receiver hears no resolve-and-refire; the resolve reaches both Alertmanagers and the receiver;
one Alertmanager is killed and a new alert still reaches the receiver through the other,
while `lockwatchctl status` shows the dead one failing.

Skipped when prometheus-alertmanager is not installed (scripts/deps installs it).
"""

import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402
import sinks  # noqa: E402
from sinks import WAIT, find_alert  # noqa: E402

OPUS = "anthropic/claude-opus-4-7"
HAIKU = "anthropic/claude-haiku-4-5"
RESEND = 20  # seconds: the lease is 4 x 20 s, far longer than any resolve takes


def notifications(receiver, model):
    """(status, alert status) of each notification the receiver got about model's alert."""
    out = []
    for body in receiver.bodies():
        for a in body.get("alerts", []):
            if a["labels"].get("model") == model:
                out.append((body["status"], a["status"]))
    return out


class AlertmanagerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lwtest.require_daemon()
        if not sinks.have_alertmanager():
            raise unittest.SkipTest("prometheus-alertmanager is not installed")

    def setUp(self):
        self.tmp = lwtest.TempDir("lw-am-")
        self.addCleanup(self.tmp.cleanup)
        self.receiver = sinks.Receiver()
        self.addCleanup(self.receiver.stop)
        c1, c2 = sinks.free_port(), sinks.free_port()
        self.am1 = sinks.Alertmanager(self.tmp, "one", self.receiver.url("/am"), c1, [c2])
        self.addCleanup(self.am1.stop)
        self.am2 = sinks.Alertmanager(self.tmp, "two", self.receiver.url("/am"), c2, [c1])
        self.addCleanup(self.am2.stop)
        ready = lwtest.wait_until(lambda: all(
            (s := am.status()) and s["cluster"]["status"] == "ready" and
            len(s["cluster"]["peers"]) == 2 for am in (self.am1, self.am2)), WAIT, step=0.2)
        self.assertTrue(ready, "the two Alertmanagers did not form a cluster")

        self.state_dir = self.tmp.mkdir("state")
        self.rules_dir = self.tmp.mkdir("no-shipped-rules")
        self.snap = self.tmp.join("snapshots", "litellm.json")
        sinks.write_atomic(self.snap, sinks.snapshot())
        rules = self.tmp.write("rules/sc.rules", sinks.RULES)
        self.conf = self.tmp.write("lockwatch.conf", lwtest.config_text(
            dict(lwtest.shipped_tables(), rules=rules, interval="1s", evaluation_interval="1s",
                 retries=0, instance="lwtest", max_removal="50%"),
            [("litellm", {"url": "file://" + self.snap, "format": "litellm"})]) + (
            "\n[alertmanager one]\nurl = %s\nresend_delay = %ds\n"
            "generator_url = https://lockwatch.example/alerts\n"
            "\n[alertmanager two]\nurl = %s/\nresend_delay = %ds\n"
            % (self.am1.url(), RESEND, self.am2.url(), RESEND)))
        self.daemon = None

    def start(self):
        if self.daemon:
            self.daemon.stop()
        self.daemon = sinks.Daemon(self.tmp, self.conf, self.state_dir, self.rules_dir,
                                   self.tmp.join("control"))
        self.addCleanup(self.daemon.stop)
        self.assertIsNotNone(self.daemon.wait_ready(), self.daemon.stderr())

    def both(self, model):
        """The alert about model in each Alertmanager, when both hold it."""
        a = [find_alert(am.alerts(), {"alertname": "SingleCloud", "model": model})
             for am in (self.am1, self.am2)]
        return a if all(a) else None

    def test_ha_story(self):
        self.start()
        # Fire: opus leaves gcp.
        sinks.write_atomic(self.snap, sinks.snapshot(on_gcp=("claude-haiku-4-5",)))
        held = lwtest.wait_until(lambda: self.both(OPUS), WAIT, step=0.1)
        self.assertTrue(held, "the alert did not reach both Alertmanagers\n" +
                        self.daemon.stderr())
        a1, a2 = held
        self.assertEqual(a1["labels"], {"alertname": "SingleCloud", "model": OPUS,
                                        "vendor": "anthropic", "severity": "critical",
                                        "instance": "lwtest", "team": "procurement"})
        self.assertEqual(a2["labels"], a1["labels"])
        self.assertEqual(a1["annotations"]["summary"], OPUS + " is callable only on aws")
        self.assertEqual(a1["annotations"]["description"], OPUS + ": check the other clouds")
        self.assertEqual(a1["startsAt"], a2["startsAt"])
        self.assertEqual(a1["generatorURL"], "https://lockwatch.example/alerts"
                         "?rule=SingleCloud&key=anthropic%2Fclaude-opus-4-7")
        starts = a1["startsAt"]
        # The lease: endsAt lies 4 x resend_delay ahead, not at some default.
        lease = (parse_time(a1["endsAt"]) - parse_time(a1["updatedAt"]))
        self.assertGreater(lease, 3.5 * RESEND)
        self.assertLess(lease, 4.5 * RESEND)

        # Exactly once: both Alertmanagers have run their notification pipeline for the
        # group (each queries the notification log before deciding), and the receiver heard
        # one firing notification.
        done = lwtest.wait_until(lambda: notifications(self.receiver, OPUS) and all(
            (am.metric("alertmanager_nflog_queries_total") or 0) >= 1
            for am in (self.am1, self.am2)), WAIT, step=0.1)
        self.assertTrue(done, "no notification: %r" % self.receiver.bodies())
        self.assertEqual(notifications(self.receiver, OPUS), [("firing", "firing")])

        # kill -9 while firing, and start again on the same state.
        before = self.daemon.sink("one")["sent"]
        self.assertGreaterEqual(before, 1)
        killed_at = time.time()
        self.daemon.kill9()
        self.start()
        resent = lwtest.wait_until(
            lambda: (a := self.both(OPUS)) and all(parse_time(x["updatedAt"]) > killed_at
                                                   for x in a) and a, WAIT, step=0.1)
        self.assertTrue(resent, "the restarted daemon did not re-send the firing alert\n" +
                        self.daemon.stderr())
        self.assertEqual([x["startsAt"] for x in resent], [starts, starts])

        # Resolve: opus is back on gcp. Both Alertmanagers drop it from their active
        # alerts long before its lease would have run out, and the receiver hears it.
        resolve_started = time.monotonic()
        sinks.write_atomic(self.snap, sinks.snapshot())
        gone = lwtest.wait_until(lambda: all(
            (al := am.alerts()) is not None and not find_alert(al, {"model": OPUS})
            for am in (self.am1, self.am2)), WAIT, step=0.1)
        self.assertTrue(gone, "the resolve did not reach both Alertmanagers")
        self.assertLess(time.monotonic() - resolve_started, 2 * RESEND)
        heard = lwtest.wait_until(
            lambda: ("resolved", "resolved") in notifications(self.receiver, OPUS), WAIT,
            step=0.1)
        self.assertTrue(heard, "no resolved notification: %r" % self.receiver.bodies())
        # No resolve-and-refire from the kill: one firing, then the real resolve.
        self.assertEqual(notifications(self.receiver, OPUS),
                         [("firing", "firing"), ("resolved", "resolved")])

        # One Alertmanager dies: a new alert still reaches the receiver through the other.
        self.am1.kill()
        sinks.write_atomic(self.snap, sinks.snapshot(on_gcp=("claude-opus-4-7",)))
        via_two = lwtest.wait_until(
            lambda: ("firing", "firing") in notifications(self.receiver, HAIKU), WAIT, step=0.1)
        self.assertTrue(via_two, "no notification through the surviving Alertmanager\n" +
                        self.daemon.stderr())
        self.assertTrue(find_alert(self.am2.alerts(), {"model": HAIKU}))
        failing = lwtest.wait_until(
            lambda: (s := self.daemon.sink("one")) and s["state"] == "failing" and s, WAIT,
            step=0.1)
        self.assertTrue(failing, "the dead Alertmanager does not show as failing")
        self.assertTrue(failing["last_error"].startswith("connect"), failing["last_error"])
        self.assertEqual(self.daemon.sink("two")["state"], "ok")
        self.assertNotIn("Bearer", self.daemon.stderr())


class ReadmeExampleTest(unittest.TestCase):
    """README "Getting paged": the lockwatch configuration is accepted, and the Alertmanager
    route is valid and pages for a critical SingleCloud, chats for the rest."""

    def section(self):
        with open(os.path.join(lwtest.source_dir(), "README.md")) as f:
            text = f.read()
        start = text.index("## Getting paged")
        return text[start:text.index("\n## ", start + 1)]

    def block(self, lang):
        sec = self.section()
        start = sec.index("```%s\n" % lang) + len(lang) + 4
        return sec[start:sec.index("```", start)]

    def test_lockwatch_config(self):
        lwtest.require_daemon()
        tmp = lwtest.TempDir("lw-readme-")
        self.addCleanup(tmp.cleanup)
        conf = tmp.write("lockwatch.conf", self.block("ini").replace(
            "[daemon]\n", "[daemon]\nproviders = %s\naliases = %s\nrules = %s\n" % (
                lwtest.shipped_tables()["providers"], lwtest.shipped_tables()["aliases"],
                os.path.join(lwtest.source_dir(), "rules", "*.rules")), 1))
        r = lwtest.run_daemon(["--check-config", "--config", conf])
        # What the README names, systemd must give: without it the check says so.
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertIn("LoadCredential=", r.stderr)
        r = lwtest.run_daemon(["--check-config", "--config", conf],
                              env=lwtest.credentials_env(tmp.path, open(conf).read()))
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertTrue(r.stdout.endswith("\nconfiguration OK\n"), r.describe())

    def test_alertmanager_route(self):
        if not shutil.which("amtool"):
            self.skipTest("amtool (prometheus-alertmanager) is not installed")
        tmp = lwtest.TempDir("lw-readme-")
        self.addCleanup(tmp.cleanup)
        conf = tmp.write("alertmanager.yml", self.block("yaml"))
        r = subprocess.run(["amtool", "check-config", conf], capture_output=True, text=True,
                           timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for labels, want in ((["alertname=SingleCloud", "severity=critical",
                               "model=anthropic/claude-opus-4-7"], "procurement-pager"),
                             (["alertname=SingleCloud", "severity=warning"], "lockwatch-chat"),
                             (["alertname=SourceStale", "source=litellm"], "lockwatch-chat")):
            r = subprocess.run(["amtool", "config", "routes", "test", "--config.file", conf] +
                               labels, capture_output=True, text=True, timeout=WAIT)
            self.assertEqual(r.stdout.strip(), want, r.stderr)
        self.assertIn("$ amtool config routes test --config.file alertmanager.yml "
                      "alertname=SingleCloud severity=critical model=anthropic/claude-opus-4-7\n"
                      "procurement-pager\n", self.section())


def parse_time(text):
    """Seconds since the epoch of an RFC 3339 time as Alertmanager writes it."""
    from datetime import datetime
    t = text.replace("Z", "+00:00")
    if "." in t:
        head, rest = t.split(".", 1)
        frac, tz = rest[:rest.index("+")], rest[rest.index("+"):]
        t = "%s.%s%s" % (head, (frac + "000000")[:6], tz)
    return datetime.fromisoformat(t).timestamp()


if __name__ == "__main__":
    lwtest.main()
