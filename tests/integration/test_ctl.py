#!/usr/bin/env python3
"""lockwatchctl against a running lockwatchd: golden human outputs (times and versions
masked) for status, matrix, alerts, explain and history; --json output that parses; watch;
and every documented exit code (0 to 5).

Set LW_UPDATE_GOLDEN=1 to rewrite tests/data/ctl/ from the current output (then review it)."""

import json
import os
import pwd
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

LOCKWATCHD = os.environ.get("LOCKWATCHD", "build/lockwatchd")
LOCKWATCHCTL = os.environ.get("LOCKWATCHCTL", "build/lockwatchctl")
SRC = os.environ.get("LW_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(SRC, "data")
GOLDEN = os.path.join(SRC, "tests", "data", "ctl")
WAIT = 60.0
SANITIZER = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

# One rule with no `for`, so alerts fire in the first round and the output is fixed.
RULES = """\
alert OneCloud {
    where    not (vendor in ["amazon", "google", "microsoft"])
    when     clouds(available) == 1
    severity warning
    summary  "{model} is callable only on {clouds(available)}"
}
"""

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


AGE = re.compile(r"\b\d+[smhd] ago\b")


def mask(text):
    text = TIME.sub("<time>", text)
    text = AGE.sub("<age>  ", text)
    return re.sub(r"lockwatchd \d+\.\d+\.\d+", "lockwatchd <version>", text)


def setup_config(tmp):
    snaps = os.path.join(tmp, "snapshots")
    shutil.copytree(os.path.join(DATA, "snapshots"), snaps)
    rules = os.path.join(tmp, "rules")
    os.mkdir(rules)
    with open(os.path.join(rules, "test.rules"), "w") as f:
        f.write(RULES)
    with open(os.path.join(DATA, "lockwatch.conf")) as f:
        text = f.read()
    for name in ("providers.conf", "aliases.conf"):
        text = text.replace("= " + name, "= " + os.path.join(DATA, name))
    text = text.replace("url = snapshots/", "url = " + snaps + "/")
    text = text.replace("rules = ../rules/*.rules", "rules = " + os.path.join(rules, "*.rules"))
    path = os.path.join(tmp, "lockwatch.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


class CtlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lw-ctl-")
        os.chmod(cls.tmp, 0o755)
        conf = setup_config(cls.tmp)
        cls.socket = os.path.join(cls.tmp, "run", "io.lockwatch")
        state = os.path.join(cls.tmp, "state")
        os.mkdir(state)
        cls.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        cls.notify.bind(os.path.join(cls.tmp, "notify"))
        env = dict(os.environ, NOTIFY_SOCKET=os.path.join(cls.tmp, "notify"))
        env.pop("JOURNAL_STREAM", None)
        cls.err = open(os.path.join(cls.tmp, "stderr"), "w+")
        cls.proc = subprocess.Popen([LOCKWATCHD, "--config", conf, "--state-dir", state,
                                     "--socket", cls.socket],
                                    env=env, stdout=subprocess.DEVNULL, stderr=cls.err)
        deadline = time.monotonic() + WAIT
        ready = False
        while not ready and time.monotonic() < deadline and cls.proc.poll() is None:
            cls.notify.settimeout(0.2)
            try:
                ready = "READY=1" in cls.notify.recv(4096).decode()
            except socket.timeout:
                pass
        if not ready:
            raise AssertionError("lockwatchd did not start")
        while time.monotonic() < deadline:
            r = cls.ctl_raw("status", "--json")
            if r.returncode == 0:
                st = json.loads(r.stdout)["status"]
                if all(s["polls"] >= 1 for s in st["sources"]):
                    return
            time.sleep(0.1)
        raise AssertionError("the first poll round did not finish")

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        code = cls.proc.wait(timeout=WAIT)
        cls.notify.close()
        cls.err.seek(0)
        log = cls.err.read()
        cls.err.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        for s in SANITIZER:
            if s in log:
                raise AssertionError("sanitizer report in the daemon's log:\n" + log)
        if code != 0:
            raise AssertionError("lockwatchd exited %s:\n%s" % (code, log))

    @classmethod
    def ctl_raw(cls, *args, env=None, preexec_fn=None, binary=None):
        e = dict(os.environ)
        e.pop("LOCKWATCH_SOCKET", None)
        # Human output is golden at 80 columns, in a UTF-8 locale, unless a test says else.
        e["COLUMNS"] = "80"
        e["LC_ALL"] = "C.UTF-8"
        e.update(env or {})
        argv = [binary or LOCKWATCHCTL, "--socket", cls.socket, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=WAIT, env=e,
                              preexec_fn=preexec_fn)

    def ctl(self, *args, code=0, **kw):
        r = self.ctl_raw(*args, **kw)
        self.assertEqual(r.returncode, code, "lockwatchctl %s\n%s%s" % (" ".join(args), r.stdout,
                                                                       r.stderr))
        return r

    def golden(self, name, text):
        path = os.path.join(GOLDEN, name)
        if os.environ.get("LW_UPDATE_GOLDEN"):
            os.makedirs(GOLDEN, exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        with open(path) as f:
            self.assertEqual(text, f.read(), "output differs from %s" % path)

    # ---- golden human outputs (these run first: test names sort) ----------------------------

    def test_1_status(self):
        self.golden("status.txt", mask(self.ctl("status").stdout))

    def test_1_matrix(self):
        self.golden("matrix-ascii.txt", mask(self.ctl("matrix", "--ascii").stdout))
        self.golden("matrix-wide.txt", mask(self.ctl("matrix", "--wide").stdout))
        self.golden("matrix-narrow.txt", mask(self.ctl("matrix", env={"COLUMNS": "60"}).stdout))
        # Every line fits the width asked for.
        for cols, args in ((60, ("matrix",)), (60, ("matrix", "--wide")), (80, ("matrix",)),
                           (80, ("matrix", "--wide")), (80, ("status",)), (80, ("alerts",))):
            if True:
                out = self.ctl(*args, env={"COLUMNS": str(cols)}).stdout
                for line in out.splitlines():
                    self.assertLessEqual(len(line), cols, (args, cols, line))
        self.golden("matrix-anthropic.txt", mask(self.ctl("matrix", "anthropic/*").stdout))
        self.golden("matrix-wide-aws.txt",
                    mask(self.ctl("matrix", "--wide", "--ascii", "--provider", "aws").stdout))

    def test_1_alerts(self):
        self.golden("alerts.txt", mask(self.ctl("alerts").stdout))

    def test_1_explain(self):
        self.golden("explain.txt", mask(self.ctl("explain", "anthropic/claude-opus-4-7").stdout))

    def test_1_history(self):
        self.golden("history.txt", mask(self.ctl("history").stdout))
        last = self.ctl("history", "--limit", "1").stdout
        self.assertEqual(len(last.splitlines()), 1)
        self.assertEqual(last, self.ctl("history").stdout.splitlines(True)[-1])
        self.assertEqual(self.ctl("history", "--model", "nobody/*").stdout, "no events\n")

    # ---- --json -----------------------------------------------------------------------------

    def test_2_json(self):
        st = json.loads(self.ctl("status", "--json").stdout)
        # gemini is on one cloud too, but the rule leaves first-party models out
        self.assertEqual(st["status"]["alerts_firing"], 2)
        m = json.loads(self.ctl("matrix", "--json", "openai/*").stdout)
        self.assertEqual(m["schema"], "lockwatch.matrix/1")
        self.assertEqual([x["id"] for x in m["models"]], ["openai/gpt-5-5"])
        a = json.loads(self.ctl("alerts", "--json").stdout)["alerts"]
        self.assertEqual(sorted(x["key"] for x in a),
                         ["anthropic/claude-mythos-preview", "openai/gpt-5-5"])
        e = json.loads(self.ctl("explain", "--json", "openai/gpt-5-5").stdout)
        self.assertEqual(e["model"]["id"], "openai/gpt-5-5")
        h = json.loads(self.ctl("history", "--json").stdout)
        self.assertTrue(all("time" in ev and "kind" in ev for ev in h["events"]))
        self.assertEqual(json.loads(self.ctl("poll", "--json", "openrouter").stdout), {})

    # ---- exit codes -------------------------------------------------------------------------

    def test_3_exit_codes(self):
        self.ctl("status", code=0)
        self.ctl("alerts", code=0)
        self.ctl("alerts", "--exit-status", code=1)
        self.ctl("alerts", "--exit-status", "--state", "pending", code=0)
        for args in (("bogus",), (), ("explain",), ("explain", "a", "b"), ("history", "--limit", "x"),
                     ("--no-such-option", "status"), ("status", "extra")):
            r = self.ctl(*args, code=2)
            self.assertTrue(r.stderr.startswith("lockwatchctl: ") or "Try" in r.stderr, r.stderr)
        r = self.ctl_raw("status")
        r = subprocess.run([LOCKWATCHCTL, "--socket", os.path.join(self.tmp, "nope"), "status"],
                           capture_output=True, text=True, timeout=WAIT)
        self.assertEqual(r.returncode, 3)
        self.assertIn("cannot connect", r.stderr)
        r = self.ctl("explain", "nobody/nothing", code=4)
        self.assertEqual(r.stderr, "lockwatchctl: no such model: nobody/nothing\n")
        r = self.ctl("poll", "nope", code=4)
        self.assertEqual(r.stderr, "lockwatchctl: no such source: nope\n")
        self.ctl("alerts", "--state", "angry", code=4)

    def test_3_people(self):
        # Options that do not apply are usage errors.
        for args in (("matrix", "--limit", "3"), ("status", "--model", "x"),
                     ("explain", "a/b", "--wide"), ("alerts", "--on", "aws")):
            r = self.ctl(*args, code=2)
            self.assertRegex(r.stderr, r"^lockwatchctl: --[a-z-]+ does not apply to '[a-z]+'\n")
        # A pattern that matches nothing says so.
        r = self.ctl("matrix", "claude*", code=4)
        self.assertIn("no model matches 'claude*'", r.stderr)
        self.assertIn("try '*/claude*'", r.stderr)
        self.ctl("matrix", "--on", "nowhere", code=4)
        # explain takes raw upstream ids and any case, and suggests near ids.
        for asked in ("ANTHROPIC/Claude-Opus-4-7", "claude-opus-4-7",
                      "us.anthropic.claude-opus-4-7"):
            out = self.ctl("explain", asked).stdout
            self.assertTrue(out.startswith("(%s is anthropic/claude-opus-4-7)\n" % asked), out)
        r = self.ctl("explain", "anthropic/claude-opus-4-8", code=4)
        self.assertIn("did you mean anthropic/claude-opus-4-7", r.stderr)
        # Filters choose rows; the summaries stay those of the whole row.
        ids = lambda out: [l.split()[0] for l in out.splitlines()[2:] if "/" in l.split()[0]]
        self.assertEqual(ids(self.ctl("matrix", "--clouds", "1").stdout),
                         ["anthropic/claude-mythos-preview", "google/gemini-3-pro-preview",
                          "openai/gpt-5-5"])
        self.assertEqual(ids(self.ctl("matrix", "--on", "azure", "--not-on", "gcp").stdout),
                         ["mistral/mistral-large-2407", "openai/gpt-5-5"])
        self.ctl("matrix", "--single-cloud", code=4)
        # No UTF-8 marks under a locale that is not UTF-8.
        out = self.ctl("matrix", env={"LC_ALL": "C"}).stdout
        self.assertFalse(any(ord(c) > 127 for c in out), out)
        self.assertIn("legend: + available", out)

    def test_3_pager(self):
        import pty
        # On a terminal, long output goes through $PAGER; piped output never does.
        master, slave = pty.openpty()
        env = dict(os.environ, COLUMNS="80", LC_ALL="C.UTF-8", PAGER="sed s/^/paged:/")
        env.pop("LOCKWATCH_SOCKET", None)
        p = subprocess.Popen([LOCKWATCHCTL, "--socket", self.socket, "status"], stdout=slave,
                             stderr=subprocess.PIPE, env=env)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        self.assertEqual(p.wait(timeout=WAIT), 0)
        lines = out.decode().splitlines()
        self.assertTrue(lines and all(l.startswith("paged:") for l in lines), lines)
        self.assertNotIn("paged:", self.ctl("status", env={"PAGER": "sed s/^/paged:/"}).stdout)
        p = subprocess.run([LOCKWATCHCTL, "--socket", self.socket, "--no-pager", "status"],
                           capture_output=True, text=True, env=env)
        self.assertNotIn("paged:", p.stdout)

    def test_3_environment_socket(self):
        r = subprocess.run([LOCKWATCHCTL, "status", "--json"], capture_output=True, text=True,
                           timeout=WAIT, env=dict(os.environ, LOCKWATCH_SOCKET=self.socket))
        self.assertEqual(r.returncode, 0, r.stderr)
        json.loads(r.stdout)

    def test_3_permission_denied(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to switch to nobody")
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")
        run = os.path.dirname(self.socket)
        os.chown(run, 0, nobody.pw_gid)
        os.chmod(run, 0o750)
        os.chown(self.socket, 0, nobody.pw_gid)

        def drop():
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)

        # The build tree may sit where nobody cannot enter (a checkout under /root, mode
        # 700): nobody runs a copy from a directory of its own reach.
        copy_dir = tempfile.mkdtemp(prefix="lwctl-")
        self.addCleanup(shutil.rmtree, copy_dir, True)
        os.chmod(copy_dir, 0o755)
        ctl = os.path.join(copy_dir, "lockwatchctl")
        shutil.copy(LOCKWATCHCTL, ctl)
        os.chmod(ctl, 0o755)

        r = self.ctl("poll", code=5, preexec_fn=drop, binary=ctl)
        self.assertIn("permission denied", r.stderr)
        self.ctl("reload", code=5, preexec_fn=drop, binary=ctl)
        self.ctl("status", code=0, preexec_fn=drop, binary=ctl)
        self.ctl("reload", code=0)
        self.ctl("poll", code=0)

    def test_3_help_and_version(self):
        r = self.ctl("--help")
        for word in ("status", "matrix", "alerts", "explain", "history", "watch", "poll",
                     "reload", "--socket", "--json", "--ascii", "--wide", "--exit-status",
                     "--model", "--limit", "--version", "Exit status"):
            self.assertIn(word, r.stdout)
        for code in range(6):
            self.assertRegex(r.stdout, r"\n  %d  " % code)
        self.assertRegex(self.ctl("--version").stdout, r"^lockwatchctl \d+\.\d+\.\d+\n$")

    # ---- watch (last: it breaks and mends a source) -------------------------------------------

    def test_9_watch(self):
        path = os.path.join(self.tmp, "snapshots", "openrouter.json")
        with open(path) as f:
            good = f.read()
        w = subprocess.Popen([LOCKWATCHCTL, "--socket", self.socket, "watch", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Break and mend the source until the subscription (set up asynchronously)
            # has seen a transition: every toggle announces one.
            broken = False
            line = ""
            deadline = time.monotonic() + WAIT
            while not line and time.monotonic() < deadline:
                broken = not broken
                with open(path, "w") as f:
                    f.write("{not json" if broken else good)
                self.ctl("poll", "openrouter")
                r, _, _ = select.select([w.stdout], [], [], 0.5)
                if r:
                    line = w.stdout.readline()
            self.assertTrue(line, "watch printed nothing")
            ev = json.loads(line)
            self.assertEqual(ev["kind"], "source")
            self.assertEqual(ev["source"], "openrouter")
            self.assertIn(ev["state"], ("degraded", "ok"))
        finally:
            with open(path, "w") as f:
                f.write(good)
            self.ctl("poll", "openrouter")
            w.terminate()
            w.wait(timeout=WAIT)
            w.stdout.close()
            w.stderr.close()


if __name__ == "__main__":
    for p in (LOCKWATCHD, LOCKWATCHCTL):
        if not os.path.exists(p):
            print("not built: %s" % p)
            sys.exit(1)
    unittest.main(verbosity=2)
