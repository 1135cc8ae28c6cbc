#!/usr/bin/env python3
"""lockwatchd as a process: --check-config, --once on the bundled snapshot set,
and the daemon's life cycle seen through a real sd_notify socket: READY=1,
STATUS=, a failed and a good SIGHUP reload, SIGTERM, and the state file."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lwtest import demo_config, read_state  # noqa: E402

LOCKWATCHD = os.environ.get("LOCKWATCHD", "build/lockwatchd")
SRC = os.environ.get("LW_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(SRC, "data")
WAIT = 60.0  # upper bound for any wait (sanitizer builds are slow); never a sleep


class NotifySocket:
    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def wait_for(self, predicate, what):
        deadline = time.monotonic() + WAIT
        for m in self.messages:
            if predicate(m):
                return m
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            self.messages.append(data)
            if predicate(data):
                return data
        raise AssertionError("no sd_notify message %s; got %r" % (what, self.messages))

    def close(self):
        self.sock.close()


class DaemonTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lw-daemon-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_lw(self, *args, timeout=WAIT):
        return subprocess.run([LOCKWATCHD, *args], capture_output=True, text=True, timeout=timeout)

    def test_check_config_ok(self):
        conf = demo_config(self.tmp)
        r = self.run_lw("--check-config", "--config", conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        # It says what it loaded: a missing table or rules directory shows here.
        self.assertTrue(r.stdout.endswith("\nconfiguration OK\n"), r.stdout)
        self.assertIn("configuration: %s\n" % conf, r.stdout)
        self.assertIn("sources: 5 (5 enabled, 1 authoritative)\n", r.stdout)
        self.assertIn("  bedrock-cards: bedrock-model-cards, authoritative\n", r.stdout)
        self.assertRegex(r.stdout, r"provider table: \d+ lines from .*/data/providers\.conf\n")
        self.assertRegex(r.stdout, r"alias table: \d+ aliases from .*/data/aliases\.conf\n")
        self.assertRegex(r.stdout, r"rules: 1\d from 4 files \(shipped: none; rules = .*\)\n")

    def test_check_config_no_rules_is_an_error_unless_meant(self):
        conf = demo_config(self.tmp)
        text = open(conf).read()
        rules_line = [l for l in text.splitlines() if l.startswith("rules = ")][0]
        with open(conf, "w") as f:
            f.write(text.replace(rules_line, "rules = %s/nowhere/*.rules" % self.tmp))
        r = self.run_lw("--check-config", "--config", conf)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("no rule files", r.stderr)
        self.assertIn("'rules = none'", r.stderr)
        with open(conf, "w") as f:
            f.write(text.replace(rules_line, "rules = none\nlog_level = debug"))
        r = self.run_lw("--check-config", "--config", conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("rules: 0 from 0 files", r.stdout)
        self.assertIn("log level: debug", r.stdout)
        with open(conf, "w") as f:
            f.write(text.replace(rules_line, "log_level = loud"))
        r = self.run_lw("--check-config", "--config", conf)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"lockwatch\.conf:\d+:\d+: invalid log level 'loud'")

    def test_check_config_error_names_the_place(self):
        conf = demo_config(self.tmp)
        with open(conf, "a") as f:
            f.write("\n[source broken]\nurl = x.json\nformatt = litellm\n")
        lines = open(conf).read().split("\n")
        lineno = lines.index("formatt = litellm") + 1
        r = self.run_lw("--check-config", "--config", conf)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("%s:%d:1: unknown key 'formatt'" % (conf, lineno), r.stderr)
        self.assertIn("did you mean 'format'?", r.stderr)

    def test_usage_errors_exit_2(self):
        self.assertEqual(self.run_lw("--json").returncode, 2)
        self.assertEqual(self.run_lw("--no-such-option").returncode, 2)
        r = self.run_lw("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--once", r.stdout)
        # Every format the config accepts is listed, from the adapter table itself.
        formats = r.stdout.split("Source formats", 1)[1].splitlines()[1:]
        names = [line.split()[0] for line in formats if line.startswith("  ")]
        self.assertEqual(names, ["litellm", "models-dev", "openrouter", "bedrock-model-cards",
                                 "bedrock-api", "bedrock-api-regions", "azure-models",
                                 "azure-foundry", "vertex-model-garden", "anthropic-models",
                                 "openai-models", "gemini-models", "html-table",
                                 "markdown-table", "json"])

    def test_once_shows_the_bundled_matrix(self):
        r = self.run_lw("--once", "--config", demo_config(self.tmp))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        head, _, grid = r.stdout.partition("\n\n")
        names = [line.split()[0] for line in head.splitlines()]
        self.assertEqual(names, ["litellm", "bedrock-cards", "vertex-docs", "azure-docs", "openrouter"])
        for line in head.splitlines():
            self.assertEqual(line.split()[1], "ok", line)
        self.assertIn("anthropic/claude-opus-4-7", grid)

        r = self.run_lw("--once", "--json", "--config", demo_config(self.tmp))
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        models = {m["id"]: m for m in doc["matrix"]["models"]}
        opus = models["anthropic/claude-opus-4-7"]
        self.assertEqual(opus["clouds_available"], 3)
        for p in ("aws", "gcp", "azure", "anthropic", "openrouter"):
            self.assertEqual(opus["cells"][p]["state"], "available", p)
        mythos = models["anthropic/claude-mythos-preview"]
        self.assertEqual(mythos["clouds_available"], 1)
        self.assertEqual(set(mythos["cells"]), {"aws"})

    def test_once_filters_by_model(self):
        r = self.run_lw("--once", "--json", "--model", "openai/*", "--config", demo_config(self.tmp))
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        ids = [m["id"] for m in doc["matrix"]["models"]]
        self.assertTrue(ids)
        self.assertTrue(all(i.startswith("openai/") for i in ids), ids)
        # The alerts follow the filter: only those about the models shown.
        r = self.run_lw("--once", "--json", "--config", demo_config(self.tmp))
        keys = [a["key"] for a in json.loads(r.stdout)["alerts"]]
        self.assertTrue(any(not k.startswith("anthropic/") for k in keys), keys)
        r = self.run_lw("--once", "--model", "anthropic/*", "--config", demo_config(self.tmp))
        self.assertEqual(r.returncode, 0, r.stderr)
        tail = r.stdout.split("\nalerts: ", 1)[1].splitlines()
        shown = [line.split()[2] for line in tail[1:] if line.startswith("  ")]
        self.assertTrue(shown)
        self.assertTrue(all(k.startswith("anthropic/") for k in shown), tail)
        self.assertRegex(tail[0], r"^\d+ firing, \d+ pending$")
        self.assertEqual(sum(int(n) for n in re.findall(r"\d+", tail[0])), len(shown))

    def test_state_dir_created_or_refused_at_start(self):
        conf = demo_config(self.tmp)
        fresh = os.path.join(self.tmp, "fresh")
        r = self.run_lw("--once", "--config", conf, "--state-dir", fresh)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.stat(fresh).st_mode & 0o777, 0o700)
        self.assertTrue(os.path.isfile(os.path.join(fresh, "state.snapshot")))

        # A missing parent is a typo, not a wish: refused before any polling.
        deep = os.path.join(self.tmp, "no", "such")
        r = self.run_lw("--once", "--config", conf, "--state-dir", deep)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("cannot create the state directory %s: No such file or directory" % deep,
                      r.stderr)
        self.assertFalse(os.path.exists(os.path.dirname(deep)))

        plain = os.path.join(self.tmp, "plain")
        open(plain, "w").close()
        r = self.run_lw("--once", "--config", conf, "--state-dir", plain)
        self.assertEqual(r.returncode, 1)
        self.assertIn("state directory %s: Not a directory" % plain, r.stderr)

    def test_socket_path_relative_or_too_long(self):
        conf = demo_config(self.tmp)
        notify = NotifySocket(self.tmp)
        env = dict(os.environ, NOTIFY_SOCKET=notify.path)
        env.pop("JOURNAL_STREAM", None)
        # A relative --socket is taken from the working directory, as any path argument.
        p = subprocess.Popen([LOCKWATCHD, "--config", conf, "--state-dir", "st",
                              "--socket", "st/io.lockwatch"], cwd=self.tmp, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            notify.wait_for(lambda m: "READY=1" in m, "READY=1")
            path = os.path.join(self.tmp, "st", "io.lockwatch")
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.settimeout(WAIT)
            c.connect(path)
            c.sendall(b'{"method":"org.varlink.service.GetInfo"}\0')
            reply = b""
            while not reply.endswith(b"\0"):
                chunk = c.recv(65536)
                self.assertTrue(chunk, "connection closed without a reply")
                reply += chunk
            c.close()
            self.assertEqual(json.loads(reply[:-1])["parameters"]["product"], "lockwatchd")
        finally:
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate(timeout=WAIT)
        self.assertEqual(p.returncode, 0, err)

        long_path = "/tmp/" + "x" * 120 + "/io.lockwatch"
        r = self.run_lw("--config", conf, "--state-dir", os.path.join(self.tmp, "st2"),
                        "--socket", long_path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot listen on %s: a socket path has at most 107 bytes" % long_path,
                      r.stderr)

    def test_daemon_life_cycle(self):
        conf = demo_config(self.tmp)
        state = os.path.join(self.tmp, "state")
        os.mkdir(state)
        notify = NotifySocket(self.tmp)
        env = dict(os.environ, NOTIFY_SOCKET=notify.path)
        env.pop("JOURNAL_STREAM", None)
        err = open(os.path.join(self.tmp, "stderr"), "w+")
        p = subprocess.Popen([LOCKWATCHD, "--config", conf, "--state-dir", state],
                             env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            notify.wait_for(lambda m: "READY=1" in m, "READY=1")
            # Sources never polled are polled at once; STATUS= follows the matrix.
            notify.wait_for(lambda m: "STATUS=" in m and not m.startswith("STATUS=0 models"),
                            "STATUS= with models")
            status = [m for m in notify.messages if m.startswith("STATUS=")][-1]
            self.assertRegex(status, r"^STATUS=\d+ models, \d+ single-cloud, \d+ sources? degraded$")

            good = open(conf).read()
            with open(conf, "w") as f:
                f.write(good.replace("interval = 15m", "interval = 15 minutes"))
            n = len(notify.messages)
            p.send_signal(signal.SIGHUP)
            notify.wait_for(lambda m: "RELOADING=1" in m and "MONOTONIC_USEC=" in m, "RELOADING=1")
            notify.messages = notify.messages[n:]
            notify.wait_for(lambda m: "READY=1" in m, "READY=1 after a failed reload")
            self.assertIsNone(p.poll(), "the daemon died on a bad reload")
            err.seek(0)
            log = err.read()
            self.assertRegex(log, r"lockwatch\.conf:\d+:\d+: invalid duration '15 minutes'")
            self.assertIn("previous configuration keeps running", log)

            with open(conf, "w") as f:
                f.write(good)
            p.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                err.seek(0)
                if "configuration reloaded" in err.read():
                    break
                notify.sock.settimeout(0.2)
                try:
                    notify.messages.append(notify.sock.recv(4096).decode())
                except socket.timeout:
                    pass
            err.seek(0)
            self.assertIn("configuration reloaded", err.read())

            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=WAIT), 0)
            notify.wait_for(lambda m: "STOPPING=1" in m, "STOPPING=1")
            saved = read_state(state)
            self.assertEqual(saved["version"], 1)
            self.assertIn("litellm", saved["sources"])
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            notify.close()
            err.close()

    def test_stop_while_a_name_lookup_hangs(self):
        """A stop never waits for a name lookup: with a nameserver that never answers, a
        daemon whose first poll is still resolving exits at once on SIGTERM (libcurl would
        otherwise join its resolver thread, here for 30 s; under systemd the watchdog fires
        first and the stop ends in 'failed')."""
        if os.geteuid() != 0 or not shutil.which("unshare"):
            self.skipTest("needs root and unshare(1) to give the daemon its own resolv.conf")
        dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            dns.bind(("127.0.0.53", 53))
        except OSError as e:
            dns.close()
            self.skipTest("cannot bind a nameserver on 127.0.0.53:53: %s" % e)
        resolv = os.path.join(self.tmp, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("nameserver 127.0.0.53\noptions timeout:30 attempts:1\n")
        conf = os.path.join(self.tmp, "lockwatch.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\nrules = none\nproviders = %s/providers.conf\n"
                    "aliases = %s/aliases.conf\n[source far]\n"
                    "url = https://models.example.invalid/api.json\nformat = models-dev\n"
                    % (DATA, DATA))
        state = os.path.join(self.tmp, "state")
        os.mkdir(state)
        script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
        p = subprocess.Popen(["unshare", "-m", "sh", "-c", script, "sh", resolv, LOCKWATCHD,
                              "--config", conf, "--state-dir", state,
                              "--socket", os.path.join(self.tmp, "sock")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            dns.settimeout(WAIT)
            dns.recvfrom(4096)  # the first poll is resolving now
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=WAIT)
            took = time.monotonic() - t0
            self.assertEqual(rc, 0, p.stderr.read())
            self.assertLess(took, 10.0, "the stop waited %.1f s for a name lookup" % took)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stderr.close()
            dns.close()


if __name__ == "__main__":
    if not os.path.exists(LOCKWATCHD):
        print("lockwatchd not built at %s" % LOCKWATCHD)
        sys.exit(1)
    unittest.main(verbosity=2)
