#!/usr/bin/env python3
"""The state directory as a whole (docs/state.md): one daemon at a time holds it, a kill -9
at any step of a compaction forgets no model and repeats no announcement, and a snapshot or
log that cannot be the state is set aside while the daemon starts.

Compaction is made to happen often (LOCKWATCH_STATE_LOG_SLACK=0) and the daemon stops
itself (SIGSTOP) at a chosen step of it (LOCKWATCH_STATE_COMPACT_STOP=N): the test kills it
exactly there. Every wait is bounded and on a condition.
"""

import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402
from test_restart import RULE, RULES, SINGLE, snapshot  # noqa: E402

WAIT = 90


def stopped(pid):
    """Whether the process is stopped by a signal (state T in /proc/PID/stat)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"
    except FileNotFoundError:
        return False


class Daemon:
    count = 0

    def __init__(self, test, conf, state_dir, env=None):
        Daemon.count += 1
        tmp = test.tmp
        self.notify = lwtest.NotifySocket(tmp, "notify-%d" % Daemon.count)
        self.err_path = tmp.join("stderr-%d" % Daemon.count)
        self.err = open(self.err_path, "w")
        e = dict(os.environ, NOTIFY_SOCKET=self.notify.path, **(env or {}))
        e.pop("JOURNAL_STREAM", None)
        self.proc = subprocess.Popen(
            [lwtest.lockwatchd(), "--config", conf, "--state-dir", state_dir,
             "--rules-dir", test.rules_dir, "--socket", tmp.join("control-%d" % Daemon.count)],
            env=e, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err)
        test.addCleanup(self.cleanup)

    def stderr(self):
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_ready(self):
        return self.notify.wait_for(lambda m: "READY=1" in m.split("\n"), WAIT)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=WAIT)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=WAIT)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()
        self.notify.close()


class StateDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = lwtest.TempDir("lw-state-")
        self.addCleanup(self.tmp.cleanup)
        self.state_dir = self.tmp.mkdir("state")
        self.rules_dir = self.tmp.mkdir("no-shipped-rules")
        self.snap = self.tmp.join("snapshots", "litellm.json")
        self.write_snapshot(snapshot())
        rules = self.tmp.write("rules/state.rules", RULES)
        self.conf = lwtest.write_config(
            self.tmp, {"rules": rules, "interval": "1s", "evaluation_interval": "1s",
                       "retries": 0},
            [("litellm", {"url": "file://" + self.snap, "format": "litellm"})])

    def write_snapshot(self, doc):
        import json
        os.makedirs(os.path.dirname(self.snap), exist_ok=True)
        with open(self.snap + ".new", "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.replace(self.snap + ".new", self.snap)

    def state(self):
        return lwtest.read_state(self.state_dir)

    @staticmethod
    def model_ids(state):
        return {m["id"] for m in state["matrix"]["models"]} if state else set()

    def firing_lines(self, text):
        return re.findall(r"(?m)^lockwatchd: crit: \[firing\] %s %s: .*$"
                          % (RULE, re.escape(SINGLE)), text)

    def test_a_second_daemon_is_refused(self):
        d = Daemon(self, self.conf, self.state_dir)
        self.assertTrue(d.wait_ready(), d.stderr())
        for args in (["--config", self.conf, "--state-dir", self.state_dir,
                      "--rules-dir", self.rules_dir, "--socket", self.tmp.join("other")],
                     ["--once", "--config", self.conf, "--state-dir", self.state_dir,
                      "--rules-dir", self.rules_dir]):
            run = lwtest.run_daemon(args, timeout=WAIT)
            self.assertNotEqual(run.returncode, 0, run.describe())
            lines = [line for line in run.stderr.splitlines() if line.strip()]
            self.assertEqual(len(lines), 1, run.describe())
            self.assertIn("state directory %s is in use by another lockwatchd (pid %d)"
                          % (self.state_dir, d.proc.pid), lines[0])
            self.assertNotIn(" ok bytes=", run.stdout)
        self.assertIsNone(d.proc.poll(), "the first daemon did not keep running")
        self.assertEqual(d.stop(), 0, d.stderr())
        # Released with the process: the next one starts.
        run = lwtest.run_daemon(["--once", "--config", self.conf, "--state-dir",
                                 self.state_dir, "--rules-dir", self.rules_dir], timeout=WAIT)
        self.assertEqual(run.returncode, 0, run.describe())

    def test_b_kill_at_every_step_of_a_compaction(self):
        names = ["llama-%03d" % i for i in range(60)]
        known = set()
        logs = []
        kills = 0
        was_firing = False
        for i in range(9):
            step = 1 + i % 3
            extra = names[:20 + 5 * i]
            self.write_snapshot(snapshot(extra=extra, gcp=set(extra[::4])))
            d = Daemon(self, self.conf, self.state_dir,
                       {"LOCKWATCH_STATE_LOG_SLACK": "0",
                        "LOCKWATCH_STATE_COMPACT_STOP": str(step)})
            at_stop = lwtest.wait_until(lambda: stopped(d.proc.pid) or d.proc.poll() is not None,
                                        WAIT)
            self.assertTrue(at_stop and d.proc.poll() is None,
                            "kill %d: never stopped at compaction step %d\n%s"
                            % (i, step, d.stderr()))
            d.kill9()
            kills += 1
            log = d.stderr()
            logs.append(log)
            self.assertNotIn("corrupt", log)
            state = self.state()
            if state is None:
                # Stopped before the very first save was in place: nothing to keep yet.
                self.assertFalse(known, "kill %d (step %d): the state is gone" % (i, step))
                continue
            ids = self.model_ids(state)
            self.assertLessEqual(known, ids, "kill %d (step %d): forgotten: %s"
                                 % (i, step, sorted(known - ids)))
            known |= ids
            # Step 1 is before the new snapshot is in place: what the interrupted save held
            # is not saved, so a firing the state shows was announced by an earlier save.
            # (Past step 1 the save is in place and its announcements had not gone out yet:
            # they are not made again, the price of never repeating one.)
            firing = any(a["key"] == SINGLE and a["phase"] == "firing"
                         for a in (state["alerts"] or {}).get("alerts", []))
            if step == 1 and firing and not was_firing:
                self.assertEqual(len(self.firing_lines("\n".join(logs))), 1,
                                 "kill %d: firing in the state, never announced" % i)
            was_firing = firing

        # A last start without the hooks takes it all in and writes it.
        d = Daemon(self, self.conf, self.state_dir)
        self.assertTrue(d.wait_ready(), d.stderr())
        want = known | {"meta/" + n for n in extra}
        done = lwtest.wait_until(lambda: (lambda s: s and self.model_ids(s) >= want
                                          and s["alerts"] and any(
                                              a["key"] == SINGLE and a["phase"] == "firing"
                                              for a in s["alerts"]["alerts"]))(self.state()),
                                 WAIT)
        self.assertTrue(done, d.stderr())
        self.assertEqual(d.stop(), 0, d.stderr())
        logs.append(d.stderr())
        everything = "\n".join(logs)
        self.assertNotIn("corrupt", everything)
        self.assertIsNone(lwtest.sanitizer_report(lwtest.Run([], 0, "", everything, 0, False)))
        # Never announced twice over all the kills.
        self.assertLessEqual(len(self.firing_lines(everything)), 1, everything)
        self.assertFalse([f for f in os.listdir(self.state_dir) if ".tmp" in f])
        print("test_b: %d kills, each during a compaction" % kills, file=sys.stderr)

    def start_on(self, name, data):
        """A daemon started on a state directory whose file name holds data: it must say
        the state was set aside, set both files aside, and start empty."""
        for f in lwtest.state_files(self.state_dir):
            os.unlink(os.path.join(self.state_dir, f))
        # Two runs: a snapshot, then a log that extends it.
        for _ in range(2):
            run = lwtest.run_daemon(["--once", "--config", self.conf, "--state-dir",
                                     self.state_dir, "--rules-dir", self.rules_dir],
                                    timeout=WAIT)
            self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(lwtest.state_files(self.state_dir), ["state.log", "state.snapshot"])
        with open(os.path.join(self.state_dir, name), "r+b") as f:
            new = data(f.read())
            f.seek(0)
            f.truncate()
            f.write(new)
        d = Daemon(self, self.conf, self.state_dir)
        self.assertTrue(d.wait_ready(), d.stderr())
        # It starts empty and saves what it polls.
        self.assertTrue(lwtest.wait_until(
            lambda: SINGLE in self.model_ids(self.state()), WAIT), d.stderr())
        self.assertEqual(d.stop(), 0, d.stderr())
        log = d.stderr()
        path = os.path.join(self.state_dir, name)
        self.assertRegex(log, r"state file is corrupt and was not trusted: %s: .*; set aside as "
                         r"%s\.corrupt-\d+ \(the snapshot and the log were set aside together\)"
                         % (re.escape(path), re.escape(path)))
        aside = sorted(f for f in os.listdir(self.state_dir) if ".corrupt-" in f)
        self.assertEqual([f.split(".corrupt-")[0] for f in aside],
                         ["state.log", "state.snapshot"])

    def test_d_an_unchanged_poll_logs_one_time(self):
        """A poll that moves only last_seen appends a SEEN record (the source and a time), not
        its evidence again, and the daemon reads it back into every piece; a changed poll
        appends the evidence."""
        import json
        import statefile

        def once(conf, *extra):
            r = subprocess.run([lwtest.lockwatchd(), "--once", "--config", conf, "--state-dir",
                                self.state_dir, "--rules-dir", self.rules_dir] + list(extra),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=WAIT)
            self.assertIsNone(lwtest.sanitizer_report(r), r.stderr)
            return r

        def last_frame_types():
            with open(os.path.join(self.state_dir, "state.log"), "rb") as f:
                payloads = list(statefile.frames(f.read(), True))
            return [rec[0] for rec in statefile.records(payloads[-1])]

        def last_seen(state):
            return {e["last_seen"] for m in state["matrix"]["models"] for c in m["cells"]
                    for e in c["evidence"] if e["source"] == "litellm"}

        self.assertEqual(once(self.conf).returncode, 0)
        first = last_seen(self.state())
        self.assertEqual(len(first), 1)
        self.assertEqual(once(self.conf).returncode, 0)
        types = last_frame_types()
        self.assertIn(statefile.SEEN, types)
        self.assertNotIn(statefile.EVIDENCE, types)
        second = last_seen(self.state())
        self.assertEqual(len(second), 1)
        self.assertGreater(second.pop(), first.pop())
        seen = last_seen(self.state()).pop()

        # The daemon's own reading: a poll that fails keeps the evidence as loaded.
        with open(self.conf) as f:
            text = f.read()
        broken = self.tmp.write("broken.conf", text.replace(
            "file://" + self.snap, "file://" + self.snap + ".missing"))
        r = once(broken, "--json")
        doc = json.loads(r.stdout)
        want = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seen // 1000000))
        cells = [c for m in doc["matrix"]["models"] for c in m["cells"].values()]
        self.assertTrue(cells)
        for c in cells:
            self.assertEqual(c["last_seen"], want, c)

        # A changed listing writes the evidence again.
        self.write_snapshot(snapshot(extra=("llama-9",)))
        self.assertEqual(once(self.conf).returncode, 0)
        types = last_frame_types()
        self.assertIn(statefile.EVIDENCE, types)
        self.assertNotIn(statefile.SEEN, types)

    def test_c_damaged_files_are_set_aside(self):
        self.start_on("state.snapshot", lambda b: b[:len(b) // 2])
        for f in os.listdir(self.state_dir):
            if ".corrupt-" in f:
                os.unlink(os.path.join(self.state_dir, f))
        # A byte flipped in the log's header frame, which whole frames follow.
        self.start_on("state.log", lambda b: b[:12] + bytes([b[12] ^ 1]) + b[13:] + b)


if __name__ == "__main__":
    lwtest.require_daemon()
    lwtest.main()
