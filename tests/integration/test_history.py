#!/usr/bin/env python3
"""The history store through the real daemon and lockwatchctl.

- The real Bedrock history (mirai73's daily list-foundation-models captures in
  ../shared/fixtures/aws-bedrock-api-regions, each step timed by its commit) is replayed into a
  state directory; a daemon started on it answers `lockwatchctl history` with the day Claude
  Opus 4 left Bedrock, `matrix --at` differs in that cell before and after (a small matrix
  comes in one part, with or without "more", and prints as it did when it was one reply:
  golden), and `timeline` draws it (golden at 80 and 60 columns, UTF-8 and ASCII).
- A history of 20,000 records streams in full with "more", 500 events a reply, while a reply
  without "more" holds the newest 2,000; a request pipelined behind a stream is answered after
  it.
- The ring an older state file kept is moved into the store once and no longer written; a
  record torn by a kill is dropped at the next start and appends go on.

Set LW_UPDATE_GOLDEN=1 to rewrite tests/data/ctl/timeline-*.txt and matrix-at-*.txt (then
review them)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import zlib
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402

LOCKWATCHD = os.environ.get("LOCKWATCHD", "build/lockwatchd")
LOCKWATCHCTL = os.environ.get("LOCKWATCHCTL", "build/lockwatchctl")
SRC = os.environ.get("LW_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
GOLDEN = os.path.join(SRC, "tests", "data", "ctl")
WAIT = 60.0
SANITIZER = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

CONF = """\
[daemon]
providers = {src}/data/providers.conf
aliases = {src}/data/aliases.conf
rules = none

[source bedrock]
url = file:///dev/null
enabled = {enabled}
format = json
provider = bedrock
authoritative = yes
rows = *
columns = @key:model, regions[*]:regions, model_lifecycle_status:lifecycle
"""


def write_conf(directory, enabled="no"):
    path = os.path.join(directory, "lockwatch-%s.conf" % enabled)
    with open(path, "w") as f:
        f.write(CONF.format(src=os.path.abspath(SRC), enabled=enabled))
    return path


class Daemon:
    """lockwatchd on a state directory, with a control socket, until stop()."""

    def __init__(self, tmp, conf, state):
        self.socket = os.path.join(tmp, "io.lockwatch")
        self.log = open(os.path.join(tmp, "stderr-%d" % time.monotonic_ns()), "w+")
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("JOURNAL_STREAM", None)
        self.proc = subprocess.Popen([LOCKWATCHD, "--config", conf, "--state-dir", state,
                                      "--socket", self.socket],
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.ctl("status", check=False).returncode == 0:
                return
            time.sleep(0.05)
        raise AssertionError("lockwatchd did not start:\n" + self.stderr())

    def stderr(self):
        self.log.seek(0)
        return self.log.read()

    def ctl(self, *args, columns=80, utf8=True, check=True):
        env = dict(os.environ, COLUMNS=str(columns), LC_ALL="C.UTF-8" if utf8 else "C")
        env.pop("LOCKWATCH_SOCKET", None)
        r = subprocess.run([LOCKWATCHCTL, "--socket", self.socket, *args], capture_output=True,
                           text=True, timeout=WAIT, env=env)
        if check and r.returncode != 0:
            raise AssertionError("lockwatchctl %s: %d\n%s%s" % (" ".join(args), r.returncode,
                                                                r.stdout, r.stderr))
        return r

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=WAIT)
        log = self.stderr()
        self.log.close()
        for s in SANITIZER:
            if s in log:
                raise AssertionError("sanitizer report in the daemon's log:\n" + log)
        if sig == signal.SIGTERM and code != 0:
            raise AssertionError("lockwatchd exited %s:\n%s" % (code, log))
        return log


def varlink(path, *calls):
    """Send the calls in one write; return every reply until the last call's last one."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(WAIT)
    s.connect(path)
    s.sendall(b"".join(json.dumps(c).encode() + b"\0" for c in calls))
    buf, replies, finished = b"", [], 0
    while finished < len(calls):
        chunk = s.recv(1 << 20)
        if not chunk:
            raise AssertionError("the daemon closed the connection")
        buf += chunk
        while b"\0" in buf:
            msg, buf = buf.split(b"\0", 1)
            r = json.loads(msg)
            replies.append(r)
            if not r.get("continues"):
                finished += 1
    s.close()
    return replies


def record(t, obj):
    payload = ("%d " % t + json.dumps(obj, separators=(",", ":"))).encode()
    return b"%08x " % zlib.crc32(payload) + payload + b"\n"


def golden(test, name, text):
    path = os.path.join(GOLDEN, name)
    if os.environ.get("LW_UPDATE_GOLDEN"):
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        test.assertEqual(text, f.read(), "output differs from %s" % path)


FIXTURES = lwtest.fixtures_dir()


@unittest.skipUnless(FIXTURES, "the shared fixtures are absent (LW_FIXTURES)")
class BedrockHistoryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lw-history-")
        steps = os.path.join(cls.tmp, "steps")
        os.mkdir(steps)
        # Each capture at the time of the commit that made it (PROVENANCE.md), read in place.
        with open(os.path.join(FIXTURES, "PROVENANCE.md")) as f:
            rows = [l for l in f if l.startswith("| `aws-bedrock-api-regions/")]
        for line in rows:
            cols = [c.strip() for c in line.split("|")]
            name, when = cols[1].strip("`"), cols[4]
            t = datetime.fromisoformat(when).astimezone(timezone.utc)
            step = os.path.join(steps, t.strftime("%Y-%m-%dT%H:%M:%SZ"))
            os.mkdir(step)
            os.symlink(os.path.join(FIXTURES, name), os.path.join(step, "bedrock.json"))
        assert len(rows) >= 40, rows
        # The daemon polls nothing afterwards: what it serves is what the replay recorded.
        conf = write_conf(cls.tmp)
        cls.state = os.path.join(cls.tmp, "state")
        r = subprocess.run([LOCKWATCHD, "--replay", steps, "--config",
                            write_conf(cls.tmp, "yes"), "--state-dir",
                            cls.state], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise AssertionError("replay failed:\n" + r.stderr)
        cls.replay_out = r.stdout
        cls.d = Daemon(cls.tmp, conf, cls.state)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_opus_4_left_bedrock(self):
        left = ("2026-07-01T22:56:18Z  cell      [cell] anthropic/claude-opus-4 on aws: "
                "available -> unavailable (source bedrock)")
        self.assertIn(left[22:].split("  ", 1)[1].strip(), self.replay_out)
        out = self.d.ctl("history", "claude-opus-4").stdout.splitlines()
        self.assertEqual(out, ["2026-02-13T14:59:01Z  cell      [cell] anthropic/claude-opus-4 on "
                               "aws: unknown -> available (not announced)", left])
        self.assertEqual(self.d.ctl("history", "anthropic/claude-opus-4", "--since",
                                    "2026-07-01").stdout.splitlines(), [left])
        self.assertEqual(self.d.ctl("history", "claude-opus-4", "--until",
                                    "2026-06-30").stdout.splitlines(), out[:1])
        self.assertEqual(self.d.ctl("history", "claude-opus-4", "--since", "2026-07-02T00:00Z",
                                    "--until", "2026-07-02T12:00+02:00").stdout, "no events\n")
        # Without MODEL only announced transitions, as before.
        plain = self.d.ctl("history", "--model", "anthropic/claude-opus-4").stdout
        self.assertEqual(plain.splitlines(), [left])
        doc = json.loads(self.d.ctl("history", "claude-opus-4", "--json").stdout)
        self.assertEqual([e["state"] for e in doc["events"]], ["available", "unavailable"])
        self.assertTrue(doc["events"][0]["quiet"])

    def cell_at(self, when):
        doc = json.loads(self.d.ctl("matrix", "--at", when, "anthropic/claude-opus-4",
                                    "--json").stdout)
        rows = [m for m in doc["matrix"]["models"] if m["id"] == "anthropic/claude-opus-4"]
        self.assertEqual(len(rows), 1, doc)
        return rows[0]["cells"]["aws"]["state"]

    def test_matrix_at(self):
        self.assertEqual(self.cell_at("2026-06-30"), "available")
        self.assertEqual(self.cell_at("2026-07-01T22:56:17Z"), "available")
        self.assertEqual(self.cell_at("2026-07-01T22:56:18Z"), "unavailable")
        self.assertEqual(self.cell_at("2026-07-02"), "unavailable")
        before = self.d.ctl("matrix", "--at", "2026-06-30", "--ascii").stdout
        after = self.d.ctl("matrix", "--at", "2026-07-02", "--ascii").stdout
        self.assertTrue(before.startswith("as it was at 2026-06-30T23:59:59Z\n"), before)
        row = [l for l in before.splitlines() if l.startswith("anthropic/claude-opus-4 ")]
        self.assertIn("+", row[0])
        row = [l for l in after.splitlines() if l.startswith("anthropic/claude-opus-4 ")]
        self.assertIn("x", row[0])
        # Before the history begins nothing is known, and the client says so.
        r = self.d.ctl("matrix", "--at", "2026-01-01", check=False)
        self.assertIn("the history begins at 2026-02-13T14:59:01Z", r.stderr)
        r = self.d.ctl("matrix", "--at", "yesterday-ish", check=False)
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_matrix_at_in_one_part_as_before(self):
        # 2026-06-30 as lockwatchctl takes a date for --at: its last microsecond.
        at = int(datetime(2026, 7, 1, tzinfo=timezone.utc).timestamp()) * 10**6 - 1
        call = {"method": "io.lockwatch.GetMatrixAt",
                "parameters": {"at": at, "model": "anthropic/*"}}
        whole = varlink(self.d.socket, call)
        # Small enough for one part: the stream is that one reply, the same as without "more".
        self.assertEqual(varlink(self.d.socket, dict(call, more=True)), whole)
        params = whole[0]["parameters"]
        self.assertEqual(list(params), ["at", "from", "shown", "matrix"])
        self.assertEqual(params["at"], at)
        self.assertEqual(params["shown"], len(params["matrix"]["models"]))
        self.assertGreater(params["shown"], 3)
        r = self.d.ctl("matrix", "--at", "2026-06-30", "anthropic/*", "--json")
        self.assertEqual(r.stdout, json.dumps(params, indent=2, ensure_ascii=False) + "\n")
        # The grid lockwatchctl prints is the daemon's, under the line saying when; golden
        # as lockwatchctl printed it when the reply was made whole.
        text = varlink(self.d.socket, {"method": "io.lockwatch.GetMatrixAt", "more": True,
                                       "parameters": {"at": at, "model": "anthropic/*",
                                                      "text": True, "ascii": True, "width": 80}})
        self.assertEqual(len(text), 1)
        out = self.d.ctl("matrix", "--at", "2026-06-30", "anthropic/*", "--ascii").stdout
        self.assertEqual(out, "as it was at 2026-06-30T23:59:59Z\n" + text[0]["parameters"]["text"])
        golden(self, "matrix-at-80-ascii.txt", out)

    def test_timeline_golden(self):
        for cols, utf8, name in ((80, True, "timeline-80.txt"), (60, True, "timeline-60.txt"),
                                 (60, False, "timeline-60-ascii.txt")):
            out = self.d.ctl("timeline", "claude-opus-4", "--until", "2026-08-21",
                             columns=cols, utf8=utf8).stdout
            for line in out.splitlines():
                self.assertLessEqual(len(line), cols, (cols, line))
            golden(self, name, out)
        # A window: the state at its start is drawn from the first column on.
        out = self.d.ctl("timeline", "anthropic/claude-opus-4", "--since", "2026-04-01",
                         "--until", "2026-08-21", "--ascii").stdout
        bar = out.splitlines()[2]
        self.assertTrue(bar.startswith("aws  #"), bar)
        self.assertTrue(bar.endswith("x"), bar)
        r = self.d.ctl("timeline", "anthropic/*", check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("more than one model", r.stderr)
        r = self.d.ctl("timeline", "nobody/none", check=False)
        self.assertEqual(r.returncode, 4, r.stderr)

    def test_streamed_pages(self):
        call = {"method": "io.lockwatch.GetHistory", "parameters": {"quiet": True}, "more": True}
        status = {"method": "io.lockwatch.GetStatus", "parameters": {}}
        replies = varlink(self.d.socket, call, status)
        pages = replies[:-1]
        self.assertIn("status", replies[-1]["parameters"])  # answered after the stream
        self.assertTrue(all(p.get("continues") for p in pages[:-1]))
        self.assertFalse(pages[-1].get("continues"))
        events = [e for p in pages for e in p["parameters"]["events"]]
        self.assertTrue(all(len(p["parameters"]["events"]) <= 500 for p in pages))
        times = [e["time"] for e in events]
        self.assertEqual(times, sorted(times))
        whole = varlink(self.d.socket, {"method": "io.lockwatch.GetHistory",
                                        "parameters": {"quiet": True}})[0]["parameters"]["events"]
        self.assertEqual(whole, events[-len(whole):])
        limited = varlink(self.d.socket, dict(call, parameters={"quiet": True, "limit": 3}))
        self.assertEqual([e for p in limited for e in p["parameters"]["events"]], events[-3:])


class StoreTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lw-history-")
        self.conf = write_conf(self.tmp)
        self.state = os.path.join(self.tmp, "state")
        os.mkdir(self.state)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_long_history_streams_whole(self):
        hist = os.path.join(self.state, "history")
        os.mkdir(hist, 0o700)
        t0 = 1767225600 * 10**6  # 2026-01-01
        with open(os.path.join(hist, "00000001-2026-01.seg"), "wb") as f:
            for i in range(20000):
                f.write(record(t0 + i * 10**6, {
                    "kind": "cell", "model": "v/m-%d" % (i % 50), "provider": "aws",
                    "state": "unavailable" if i % 2 else "available",
                    "previous_state": "available" if i % 2 else "unavailable",
                    "message": "[cell] change %d" % i}))
        d = Daemon(self.tmp, self.conf, self.state)
        try:
            pages = varlink(d.socket, {"method": "io.lockwatch.GetHistory", "parameters": {},
                                       "more": True})
            events = [e for p in pages for e in p["parameters"]["events"]]
            self.assertEqual(len(events), 20000)
            self.assertEqual(len(pages), 20000 // 500 + 1)
            self.assertEqual(events[-1]["message"], "[cell] change 19999")
            one = varlink(d.socket, {"method": "io.lockwatch.GetHistory", "parameters": {}})
            self.assertEqual(len(one), 1)
            got = one[0]["parameters"]["events"]
            self.assertEqual(len(got), 2000)
            self.assertEqual(got[0]["message"], "[cell] change 18000")
            mine = varlink(d.socket, {"method": "io.lockwatch.GetHistory",
                                      "parameters": {"model": "v/m-7"}, "more": True})
            self.assertEqual(sum(len(p["parameters"]["events"]) for p in mine), 400)
            out = d.ctl("history", "--model", "v/m-7", "--limit", "2").stdout.splitlines()
            self.assertEqual(len(out), 2)
            self.assertTrue(out[1].endswith("[cell] change 19957"), out)
        finally:
            d.stop()

    def test_timeline_of_the_bundled_replay(self):
        # claude-opus-4-7 leaves Azure, then Google Cloud: one line per column, each change
        # dated under its line. The daemon polls afterwards; --until keeps that out.
        conf = os.path.join(SRC, "data", "timeline", "lockwatch.conf")
        r = subprocess.run([LOCKWATCHD, "--replay", os.path.join(SRC, "data", "timeline"),
                            "--config", conf, "--state-dir", self.state],
                           capture_output=True, text=True, timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = Daemon(self.tmp, conf, self.state)
        try:
            for cols, utf8, name, since in ((80, True, "timeline-replay-80.txt", None),
                                            (60, True, "timeline-replay-60.txt", "2026-05-25"),
                                            (60, False, "timeline-replay-60-ascii.txt", None)):
                args = ["timeline", "claude-opus-4-7", "--until", "2026-07-10"]
                if since:
                    args += ["--since", since]
                out = d.ctl(*args, columns=cols, utf8=utf8).stdout
                for line in out.splitlines():
                    self.assertLessEqual(len(line), cols, (cols, line))
                golden(self, name, out)
        finally:
            d.stop()

    def test_ring_moves_into_store_and_torn_tail(self):
        # A state file an older version wrote: its ring of transitions, no store beside it.
        polling = write_conf(self.tmp, "yes")  # a source that fails: the state is saved anyway
        subprocess.run([LOCKWATCHD, "--once", "--config", polling, "--state-dir", self.state],
                       capture_output=True, timeout=WAIT)
        shutil.rmtree(os.path.join(self.state, "history"))
        # Written the way an older version wrote it: one state.json, no snapshot or log.
        st = lwtest.read_state(self.state)
        for name in lwtest.state_files(self.state):
            os.unlink(os.path.join(self.state, name))
        path = os.path.join(self.state, "state.json")
        st["history"] = [{"time": "1780000000000000", "kind": "alert", "rule": "OneCloud",
                          "model": "v/old", "provider": None, "source": None,
                          "state": "firing", "previous_state": None,
                          "message": "[firing] OneCloud v/old: from the ring"}]
        with open(path, "w") as f:
            json.dump(st, f)
        d = Daemon(self.tmp, polling, self.state)
        try:
            out = d.ctl("history").stdout
            self.assertIn("[firing] OneCloud v/old: from the ring", out)

            # The next save (after the first poll) writes the state without the ring.
            def saved_without_ring():
                try:
                    st = lwtest.read_state(self.state)
                    return st is not None and not st.get("history")
                except (OSError, ValueError):
                    return False
            self.assertTrue(lwtest.wait_until(saved_without_ring, WAIT))
        finally:
            log = d.stop()
        self.assertIn("moved 1 of 1 transition(s)", log)

        # A kill in the middle of an append: half a record at the end of the segment.
        seg = sorted(n for n in os.listdir(os.path.join(self.state, "history"))
                     if n.endswith(".seg"))[-1]
        with open(os.path.join(self.state, "history", seg), "ab") as f:
            f.write(record(1780000001000000, {"kind": "alert", "state": "firing"})[:30])
        d = Daemon(self.tmp, self.conf, self.state)
        try:
            self.assertIn("from the ring", d.ctl("history").stdout)
        finally:
            log = d.stop()
        self.assertIn("dropped 30 byte(s) of a record cut short", log)
        # Moved once: a restart does not move (or duplicate) anything.
        self.assertNotIn("moved", log)


if __name__ == "__main__":
    if not os.path.exists(LOCKWATCHD):
        print("lockwatchd not built", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
