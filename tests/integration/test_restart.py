#!/usr/bin/env python3
"""Restart safety (DESIGN 6.5): the daemon is killed with SIGKILL at chosen and at random
moments and started again on the same state directory. A firing alert is never announced
again, a pending alert keeps its count, the state file is never torn, no model is forgotten,
and a corrupt state file is set aside, reported and not trusted.

The daemon runs as it would in production (daemon mode, sd_notify to a socket of the test)
on file:// snapshots that the test writes and rewrites atomically. Rounds are 2 s apart; every
wait is a bounded loop over the state file, the notify socket or stderr.

LW_SEED=N repeats the random kill schedule of an earlier run (the seed is printed).
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402

WAIT = 90  # bound on any single wait; sanitizer builds start and poll slowly
RULE = "OneCloud"
SINGLE = "anthropic/claude-haiku-4-5"  # on aws only: OneCloud holds for it from the start

RULES = """\
alert %s {
    when     clouds(available) == 1
    for      2 polls
    severity critical
    summary  "{model} only on {clouds(available)}"
}
""" % RULE


def litellm_entry(provider):
    return {"litellm_provider": provider, "mode": "chat",
            "input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06}


def snapshot(extra=(), gcp=()):
    """A LiteLLM price map: claude-opus-4-7 on aws and gcp, claude-haiku-4-5 on aws only,
    and each name in extra on aws (and on gcp when also in gcp)."""
    d = {
        "anthropic.claude-opus-4-7": litellm_entry("bedrock_converse"),
        "vertex_ai/claude-opus-4-7@default": litellm_entry("vertex_ai-anthropic_models"),
        "anthropic.claude-haiku-4-5": litellm_entry("bedrock_converse"),
    }
    for name in extra:
        d["meta.%s" % name] = litellm_entry("bedrock_converse")
        if name in gcp:
            d["vertex_ai/meta/%s" % name] = litellm_entry("vertex_ai-llama_models")
    return d


class Daemon:
    """One lockwatchd process in daemon mode with its own notify socket and stderr file."""

    count = 0

    def __init__(self, test, conf, state_dir, rules_dir):
        Daemon.count += 1
        tmp = test.tmp
        self.notify = lwtest.NotifySocket(tmp, "notify-%d" % Daemon.count)
        self.err_path = tmp.join("stderr-%d" % Daemon.count)
        self.err = open(self.err_path, "w")
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path)
        env.pop("JOURNAL_STREAM", None)
        self.proc = subprocess.Popen(
            [lwtest.lockwatchd(), "--config", conf, "--state-dir", state_dir,
             "--rules-dir", rules_dir, "--socket", tmp.join("control")],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err)
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


class RestartTest(unittest.TestCase):
    def setUp(self):
        self.tmp = lwtest.TempDir("lw-restart-")
        self.addCleanup(self.tmp.cleanup)
        self.state_dir = self.tmp.mkdir("state")
        self.state_path = os.path.join(self.state_dir, "state.json")
        self.rules_dir = self.tmp.mkdir("no-shipped-rules")
        self.snap = self.tmp.join("snapshots", "litellm.json")
        self.write_snapshot(snapshot())
        rules = self.tmp.write("rules/restart.rules", RULES)
        self.conf = lwtest.write_config(
            self.tmp,
            {"rules": rules, "interval": "2s", "evaluation_interval": "2s", "retries": 0},
            [("litellm", {"url": "file://" + self.snap, "format": "litellm"})])

    def write_snapshot(self, doc):
        """Replace the snapshot atomically, so a poll never reads half a file."""
        os.makedirs(os.path.dirname(self.snap), exist_ok=True)
        tmp = self.snap + ".new"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.replace(tmp, self.snap)

    def start(self):
        d = Daemon(self, self.conf, self.state_dir, self.rules_dir)
        self.assertTrue(d.wait_ready(), "no READY=1\n" + d.stderr())
        return d

    def state(self):
        return lwtest.read_state(self.state_dir)

    @staticmethod
    def alert(state, key=SINGLE):
        if not state:
            return None
        for a in state["alerts"]["alerts"]:
            if a["rule"] == RULE and a["key"] == key:
                return a
        return None

    @staticmethod
    def model_ids(state):
        return {m["id"] for m in state["matrix"]["models"]} if state else set()

    def wait_alert(self, predicate, what, daemon):
        a = lwtest.wait_until(lambda: (lambda x: x if x and predicate(x) else None)(
            self.alert(self.state())), WAIT)
        self.assertIsNotNone(a, "%s never happened; state alert %r\n%s"
                             % (what, self.alert(self.state()), daemon.stderr()))
        return a

    def firing_lines(self, text, key=SINGLE):
        return re.findall(r"(?m)^lockwatchd: crit: \[firing\] %s %s: .*$"
                          % (RULE, re.escape(key)), text)

    def test_a_kill_while_firing_does_not_fire_again(self):
        d = self.start()
        before = self.wait_alert(lambda a: a["phase"] == "firing", "firing", d)
        self.assertEqual(len(self.firing_lines(d.stderr())), 1, d.stderr())
        self.assertEqual(d.kill9(), -signal.SIGKILL)
        ids_before = self.model_ids(self.state())
        self.assertIn(SINGLE, ids_before)

        # New data while it was down: the restarted daemon must poll and evaluate it.
        self.write_snapshot(snapshot(extra=["llama-4-maverick-17b-instruct"],
                                     gcp=["llama-4-maverick-17b-instruct"]))
        d2 = self.start()
        seen = {before["last_true"]}
        self.wait_alert(lambda a: seen.add(a["last_true"]) or len(seen) >= 3,
                        "two evaluations after the restart", d2)
        self.assertTrue(lwtest.wait_until(
            lambda: len(self.model_ids(self.state())) > len(ids_before), WAIT),
            "the new snapshot was never applied\n" + d2.stderr())
        self.assertEqual(d2.stop(), 0, d2.stderr())

        log = d2.stderr()
        self.assertEqual(self.firing_lines(log), [], log)
        self.assertNotIn("[firing]", log)
        after = self.alert(self.state())
        self.assertEqual(after["phase"], "firing", after)
        self.assertEqual(after["fired_at"], before["fired_at"])
        self.assertLessEqual(ids_before, self.model_ids(self.state()))

    def test_b_kill_while_pending_keeps_the_count(self):
        for attempt in range(3):
            d = self.start()
            pending = self.wait_alert(lambda a: a["phase"] in ("pending", "firing"),
                                      "pending", d)
            d.kill9()
            pending = self.alert(self.state())
            if pending["phase"] == "pending":
                break
            # The second round came between the look and the kill: start over.
            for f in lwtest.state_files(self.state_dir):
                os.unlink(os.path.join(self.state_dir, f))
        self.assertEqual((pending["phase"], pending["count"]), ("pending", "1"), pending)
        self.assertEqual(self.firing_lines(d.stderr()), [])

        d2 = self.start()
        first = self.wait_alert(lambda a: a["last_true"] != pending["last_true"],
                                "an evaluation after the restart", d2)
        # The first round after the restart is the second in a row: it fires. (A slow look
        # may come a round later and see 3; the kept pending_since is what shows the count
        # went on rather than starting over.)
        self.assertEqual(first["phase"], "firing", first)
        self.assertGreaterEqual(int(first["count"]), 2, first)
        self.assertEqual(first["pending_since"], pending["pending_since"])
        self.assertTrue(lwtest.wait_until(lambda: self.firing_lines(d2.stderr()), WAIT))
        self.assertEqual(d2.stop(), 0, d2.stderr())
        self.assertEqual(len(self.firing_lines(d2.stderr())), 1, d2.stderr())

    def test_c_random_kills_never_tear_the_state(self):
        seed = int(os.environ.get("LW_SEED") or random.SystemRandom().randrange(1 << 32))
        print("test_c: LW_SEED=%d" % seed, file=sys.stderr)
        rnd = random.Random(seed)
        names = ["llama-%03d" % i for i in range(150)]
        known = set()  # every model id a state file has shown so far
        kills = 20
        rewritten = 0  # kills after which the state file was not the one before
        previous = None
        # Rounds every second, so most kills land after at least one state write.
        self.conf = lwtest.write_config(
            self.tmp, {"rules": self.tmp.join("rules", "restart.rules"), "interval": "1s",
                       "evaluation_interval": "1s", "retries": 0},
            [("litellm", {"url": "file://" + self.snap, "format": "litellm"})],
            name="fast.conf")

        for i in range(kills):
            # Rows only ever grow, or a few move on and off gcp (well under max_removal).
            extra = names[:100 + 2 * i]
            gcp = set(rnd.sample(extra, 10))
            self.write_snapshot(snapshot(extra=extra, gcp=gcp))
            d = self.start()
            log = d.stderr()
            self.assertNotIn("corrupt", log, "seed %d, kill %d" % (seed, i))
            if i % 2 == 0:
                # Every other kill waits for a state write first (a slow sanitizer build may
                # not reach one within the random delay), so the test always has some.
                self.assertTrue(lwtest.wait_until(
                    lambda: self.state() not in (None, previous), WAIT),
                    "seed %d, kill %d: no state write\n%s" % (seed, i, d.stderr()))
            time.sleep(rnd.uniform(0.2, 3.5))  # the kill moment itself is the random input
            d.kill9()
            try:
                state = self.state()
            except ValueError as e:
                self.fail("seed %d, kill %d: torn state file: %s" % (seed, i, e))
            if state is None:
                continue
            rewritten += state != previous
            previous = state
            self.assertEqual(state["version"], 1)
            ids = self.model_ids(state)
            self.assertLessEqual(known, ids, "seed %d, kill %d: models forgotten: %s"
                                 % (seed, i, sorted(known - ids)))
            known |= ids
            self.assertIsNone(lwtest.sanitizer_report(lwtest.Run([], 0, "", d.stderr(), 0, False)))

        d = self.start()
        self.assertTrue(lwtest.wait_until(
            lambda: (lambda s: s and self.model_ids(s) >= known | {SINGLE})(self.state()), WAIT),
            "seed %d: the last start never wrote its state\n%s" % (seed, d.stderr()))
        self.assertEqual(d.stop(), 0, d.stderr())
        log = d.stderr()
        self.assertNotIn("corrupt", log)
        self.assertIsNone(lwtest.sanitizer_report(lwtest.Run([], 0, "", log, 0, False)), log)
        self.assertLessEqual(known, self.model_ids(self.state()))
        self.assertFalse([f for f in os.listdir(self.state_dir) if ".corrupt-" in f])
        print("test_c: the state file changed across %d of %d kills" % (rewritten, kills),
              file=sys.stderr)
        self.assertGreaterEqual(rewritten, 3, "seed %d: too few kills met a state write to "
                                "say anything" % seed)
        leftovers = [f for f in os.listdir(self.state_dir) if ".tmp" in f]
        if leftovers:
            print("test_c: %d temporary state file(s) left by kills: %s"
                  % (len(leftovers), leftovers), file=sys.stderr)

    def valid_state_with_ghost(self):
        """A complete state file whose matrix holds a model the snapshot never lists (a
        ghost), made by a replay."""
        tl = self.tmp.mkdir("ghost-timeline", "2026-06-01T00:00Z")
        doc = snapshot()
        doc["meta.ghost-llama-9"] = litellm_entry("bedrock_converse")
        with open(os.path.join(tl, "litellm.json"), "w") as f:
            json.dump(doc, f)
        sd = self.tmp.mkdir("ghost-state")
        run = lwtest.run_daemon(["--replay", os.path.dirname(tl), "--config", self.conf,
                                 "--rules-dir", self.rules_dir, "--state-dir", sd], timeout=WAIT)
        self.assertEqual(run.returncode, 0, run.describe())
        # The state as the JSON text of the version before the log, which a start still reads.
        data = json.dumps(lwtest.read_state(sd)).encode()
        ghosts = {i for i in self.model_ids(json.loads(data)) if "ghost" in i}
        self.assertTrue(ghosts, "the replay did not record the ghost model")
        return data, ghosts

    def test_d_corrupt_state_is_set_aside(self):
        good, ghosts = self.valid_state_with_ghost()
        doc = json.loads(good)
        no_alerts = dict(doc)
        del no_alerts["alerts"]
        bad_matrix = dict(doc, matrix={"format": "lockwatch.matrix-state/1", "models": 5})
        cases = [
            ("truncated", good[:len(good) // 2]),
            ("garbage", b"\x00\xff\xfe not json at all \x01"),
            ("empty", b""),
            ("wrong version", json.dumps(dict(doc, version=99)).encode()),
            ("no alert table", json.dumps(no_alerts).encode()),
            ("inconsistent matrix", json.dumps(bad_matrix).encode()),
        ]
        for name, data in cases:
            with self.subTest(case=name):
                for f in os.listdir(self.state_dir):
                    path = os.path.join(self.state_dir, f)
                    if os.path.isdir(path):  # the history store
                        shutil.rmtree(path)
                    else:
                        os.unlink(path)
                with open(self.state_path, "wb") as f:
                    f.write(data)
                t0 = int(time.time())
                d = self.start()
                t1 = int(time.time()) + 1
                log = d.stderr()
                m = re.search(r"state file is corrupt and was not trusted: %s: .*; set aside as "
                              r"(%s\.corrupt-(\d+)); starting empty"
                              % (re.escape(self.state_path), re.escape(self.state_path)), log)
                self.assertIsNotNone(m, log)
                self.assertTrue(t0 <= int(m.group(2)) <= t1, (t0, m.group(2), t1))
                with open(m.group(1), "rb") as f:
                    self.assertEqual(f.read(), data, "the corrupt file was not kept as it was")

                # It starts empty: its first state holds what the snapshot says, no ghost.
                fresh = lwtest.wait_until(
                    lambda: (lambda s: s if s and SINGLE in self.model_ids(s) else None)(
                        self.state()), WAIT)
                self.assertIsNotNone(fresh, "no state written after the start\n" + log)
                self.assertFalse(ghosts & self.model_ids(fresh), self.model_ids(fresh))
                self.assertEqual(d.stop(), 0, d.stderr())
                self.assertIsNone(lwtest.sanitizer_report(
                    lwtest.Run([], 0, "", d.stderr(), 0, False)), d.stderr())


if __name__ == "__main__":
    lwtest.require_daemon()
    lwtest.main()
