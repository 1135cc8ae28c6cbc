#!/usr/bin/env python3
"""The rule tooling from the command line: `--test-rules` (passing and failing test files,
broken test files, broken rule files), `--replay` of snapshot timelines (text and JSON
transitions, a bad step directory, a source with no file, a page that loses 30% of its rows)
and `--check-config` on a broken rule file.

Replays are deterministic (a simulated clock), so their whole stdout is asserted.
"""

import glob
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402

SRC = lwtest.source_dir()
RULETEST = os.path.join(SRC, "tests", "data", "ruletest")
TIMELINES = os.path.join(SRC, "tests", "data", "timelines")
BUNDLED = os.path.join(SRC, "data", "timeline")
WAIT = 120  # bound on one run; sanitizer builds are slow

# data/timeline: claude-opus-4-7 leaves azure, then gcp (see data/timeline/lockwatch.conf).
BUNDLED_TRANSITIONS = [
    "2026-06-15T00:00:00Z [cell] anthropic/claude-opus-4-7 on azure: available -> unavailable "
    "(source litellm)",
    "2026-06-15T00:00:00Z [firing] AvailabilityNarrowed anthropic/claude-opus-4-7: "
    "anthropic/claude-opus-4-7 lost azure; now on aws, gcp",
    "2026-06-22T00:00:00Z [resolved] AvailabilityNarrowed anthropic/claude-opus-4-7: "
    "the condition no longer holds; now on aws, gcp",
    "2026-06-29T00:00:00Z [cell] anthropic/claude-opus-4-7 on gcp: available -> unavailable "
    "(source litellm)",
    "2026-06-29T00:00:00Z [firing] AvailabilityNarrowed anthropic/claude-opus-4-7: "
    "anthropic/claude-opus-4-7 lost gcp; now on aws",
    "2026-07-06T00:00:00Z [firing] SingleCloud anthropic/claude-opus-4-7: "
    "anthropic/claude-opus-4-7 is callable only on aws (gone from azure, gcp)",
    "2026-07-06T00:00:00Z [resolved] AvailabilityNarrowed anthropic/claude-opus-4-7: "
    "the condition no longer holds; now on aws",
]

# tests/data/timelines/source-missing: vertex has no file at 06:00, 12:00 and 18:00.
SOURCE_MISSING_TRANSITIONS = [
    "2026-06-01T06:00:00Z [degraded] source vertex: error: no file for vertex in "
    "2026-06-01T06:00Z; its rows keep their last good state",
    "2026-06-01T18:00:00Z [firing] SourceDegraded vertex: source vertex has failed 3 polls "
    "in a row; its rows keep their last good state",
    "2026-06-02T00:00:00Z [recovered] source vertex after 3 failed poll(s): ok",
    "2026-06-02T00:00:00Z [resolved] SourceDegraded vertex: the condition no longer holds",
]

# tests/data/timelines/mass-removal: 3 of 10 rows gone from 06:00 to 18:00.
MASS_REMOVAL_TRANSITIONS = [
    "2026-06-01T06:00:00Z [suspect] source litellm: suspect-removal: would remove 3 of 10 "
    "rows (30.0% > 20%); its rows keep their last good state",
    "2026-06-01T06:00:00Z [firing] SourceSuspect litellm: source litellm parsed to something "
    "unbelievable and was quarantined; check the page by hand",
    "2026-06-02T00:00:00Z [recovered] source litellm after 3 failed poll(s): ok",
    "2026-06-02T00:00:00Z [resolved] SourceSuspect litellm: the condition no longer holds",
]

MODEL_RULES = ("SingleCloud", "AvailabilityNarrowed", "ExclusiveLaunch", "RegionConcentration",
               "PredictedNarrowing", "CloudPriceSpread", "UnmappedModel")


def count_tests(path):
    """Tests in a rule test file: one per `test` line, or one unnamed test without any."""
    with open(path, encoding="utf-8") as f:
        n = sum(1 for line in f if line.startswith("test "))
    return max(n, 1)


class RulesCliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = lwtest.TempDir("lw-rulescli-")
        self.addCleanup(self.tmp.cleanup)
        # No installed copy of the shipped rules may join in: every config names its rules.
        self.rules_dir = self.tmp.mkdir("no-shipped-rules")

    def run_lw(self, *args):
        run = lwtest.run_daemon(list(args), timeout=WAIT)
        self.assertFalse(run.timed_out, run.describe())
        self.assertIsNone(lwtest.sanitizer_report(run), run.describe())
        return run

    def replay(self, timeline, conf=None, *extra):
        conf = conf or os.path.join(timeline, "lockwatch.conf")
        return self.run_lw("--replay", timeline, "--config", conf, "--rules-dir",
                           self.rules_dir, *extra)

    def timeline_conf(self, name, **daemon):
        """A config for tests/data/timelines/NAME in the temp dir, with absolute paths and
        the [daemon] keys given (for control runs)."""
        with open(os.path.join(TIMELINES, name, "lockwatch.conf"), encoding="utf-8") as f:
            text = f.read()
        text = text.replace("= ../../../../", "= " + SRC + "/")
        for k, v in daemon.items():
            text = re.sub(r"(?m)^%s = .*$" % k, "", text)
            text = text.replace("[daemon]\n", "[daemon]\n%s = %s\n" % (k, v), 1)
        return self.tmp.write("%s.conf" % name, text)

    # --test-rules

    def test_shipped_rule_tests_pass(self):
        files = sorted(glob.glob(os.path.join(SRC, "rules", "tests", "*.test")))
        self.assertTrue(files, "no shipped rule tests found")
        run = self.run_lw("--test-rules", *files)
        self.assertEqual(run.returncode, 0, run.describe())
        lines = run.stdout.splitlines()
        total = sum(count_tests(f) for f in files)
        self.assertEqual(lines[-1], "rule tests: %d passed, 0 failed" % total, run.describe())
        for f in files:
            self.assertRegex(run.stdout, r"(?m)^ok   %s: %d test\(s\), [1-9]\d* step\(s\)$"
                             % (re.escape(f), count_tests(f)))
        self.assertNotIn("FAIL", run.stdout)

    def test_load_puts_a_body_through_the_pipeline(self):
        f = os.path.join(RULETEST, "load.test")
        run = self.run_lw("--test-rules", f)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stdout, "ok   %s: 1 test(s), 1 step(s)\nrule tests: 1 passed, 0 failed\n"
                         % f)

    def test_load_failure_names_the_place(self):
        f = os.path.join(RULETEST, "load-bad.test")
        run = self.run_lw("--test-rules", f)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertIn('%s:8:11: %s: parse-error rows "catalogue.items[*]" matched nothing: '
                      '"catalogue" has no member "items"'
                      % (f, os.path.join(RULETEST, "catalogue.json")), run.stdout + run.stderr)

    def test_wrong_expectations_print_the_diff(self):
        f = os.path.join(RULETEST, "wrong-expectation.test")
        run = self.run_lw("--test-rules", f)
        self.assertEqual(run.returncode, 1, run.describe())
        header = re.compile(r'^%s:(\d+): FAIL "([^"]*)" at (\S+) \(([^)]*)\):$'
                            % re.escape(f))
        got = []
        for line in run.stdout.splitlines():
            m = header.match(line)
            got.append(("FAIL",) + m.groups() if m else line)
        self.assertEqual(got, [
            ("FAIL", "7", "OneCloud needs two rounds, not one", "0h", "2026-01-01T00:00:00Z"),
            "  - expected (line 10): firing OneCloud acme/model-a",
            ("FAIL", "12", "OneCloud needs two rounds, not one", "6h", "2026-01-01T06:00:00Z"),
            '  + got:                firing OneCloud acme/model-a "acme/model-a only on aws"',
            ("FAIL", "22", "a summary that does not match", "6h", "2026-01-01T06:00:00Z"),
            '  - expected (line 24): firing Narrowed acme/model-b "acme/model-b lost azure"',
            '  + got:                firing Narrowed acme/model-b "acme/model-b lost gcp"',
            "FAIL %s: 3 test(s), 6 step(s)" % f,
            "rule tests: 1 passed, 2 failed",
        ], run.describe())

    def test_fail_line_names_the_step_once(self):
        # The header reads `at 0h`, not `at at 0h`.
        f = os.path.join(RULETEST, "wrong-expectation.test")
        run = self.run_lw("--test-rules", f)
        self.assertIn('%s:7: FAIL "OneCloud needs two rounds, not one" at 0h '
                      "(2026-01-01T00:00:00Z):" % f, run.stdout.splitlines())

    def test_failures_in_one_file_do_not_hide_the_others(self):
        good = os.path.join(SRC, "rules", "tests", "sources.test")
        bad = os.path.join(RULETEST, "wrong-expectation.test")
        run = self.run_lw("--test-rules", good, bad)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertIn("ok   %s: %d test(s)," % (good, count_tests(good)), run.stdout)
        self.assertIn("FAIL %s: 3 test(s), 6 step(s)" % bad, run.stdout)
        self.assertEqual(run.stdout.splitlines()[-1],
                         "rule tests: %d passed, 2 failed" % (count_tests(good) + 1))

    def test_syntax_error_in_a_test_file(self):
        f = os.path.join(RULETEST, "syntax-error.test")
        run = self.run_lw("--test-rules", f)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertEqual(run.stdout.splitlines(), [
            "%s:8:1: unknown line 'expcet' (test, rules, provider, tables, start, "
            "repeat_interval, removal_polls, at, model, source, load, expect)" % f,
            "FAIL %s: 1 test(s), 0 step(s)" % f,
            "rule tests: 0 passed, 1 failed",
        ], run.describe())

    def test_syntax_errors_name_line_and_column(self):
        cases = [
            # (file text, line, column, message start)
            ('test "x"\nrules %s\nat 0h\nmodel a/b aws=maybe\n', 4, 11,
             "cell state must be available or unavailable, got 'maybe'"),
            ('test "x"\nrules %s\nat 0h\n  expect firing OneCloud "a/b\n', 4, 26,
             "unterminated string"),
            ('test "x"\nrules %s\nat 6h\nat 1h\n', 4, 4, "steps must go forward in time"),
            ('test "x"\nrules %s\nmodel a/b aws=available\n', 3, 1,
             "'model' must follow an `at` line"),
            ('test "x"\nrules %s\nat 0h\nsource s broken\n', 4, 10,
             "unknown source state 'broken'"),
        ]
        rules = os.path.join(RULETEST, "narrowing.rules")
        for i, (text, line, col, msg) in enumerate(cases):
            with self.subTest(msg=msg):
                f = self.tmp.write("case%d.test" % i, text % rules)
                run = self.run_lw("--test-rules", f)
                self.assertEqual(run.returncode, 1, run.describe())
                self.assertTrue(run.stdout.startswith("%s:%d:%d: %s" % (f, line, col, msg)),
                                run.describe())
                self.assertEqual(run.stdout.splitlines()[-1], "rule tests: 0 passed, 1 failed")

    def test_broken_rules_file_referenced_by_a_test(self):
        f = os.path.join(RULETEST, "bad-rules.test")
        rules = os.path.join(RULETEST, "broken.rules")
        run = self.run_lw("--test-rules", f)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertEqual(run.stdout.splitlines(), [
            "%s:5:21: unknown identifier 'availble' (did you mean 'available'?)" % rules,
            "    when     clouds(availble) == 1",
            "                    ^",
            "FAIL %s: 1 test(s), 0 step(s)" % f,
            "rule tests: 0 passed, 1 failed",
        ], run.describe())

    def test_missing_test_file(self):
        f = self.tmp.join("absent.test")
        run = self.run_lw("--test-rules", f)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertIn("%s: cannot read: No such file or directory" % f, run.stdout)

    # --check-config

    def test_check_config_reports_a_broken_rule_file(self):
        rules = os.path.join(RULETEST, "broken.rules")
        conf = lwtest.write_config(self.tmp, {"rules": rules})
        run = self.run_lw("--check-config", "--config", conf, "--rules-dir", self.rules_dir)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertEqual(run.stdout, "")
        self.assertIn("%s:5:21: unknown identifier 'availble' (did you mean 'available'?)\n"
                      "    when     clouds(availble) == 1\n"
                      "                    ^\n" % rules, run.stderr)

        ok = lwtest.write_config(self.tmp, {"rules": os.path.join(RULETEST, "narrowing.rules")},
                                 name="ok.conf")
        run = self.run_lw("--check-config", "--config", ok, "--rules-dir", self.rules_dir)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertTrue(run.stdout.endswith("\nconfiguration OK\n"), run.describe())
        self.assertIn("(shipped: %s; rules = %s)" % (self.rules_dir,
                                                     os.path.join(RULETEST, "narrowing.rules")),
                      run.stdout)

    # --replay

    def test_replay_bundled_timeline(self):
        run = self.replay(BUNDLED)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stdout.splitlines(), BUNDLED_TRANSITIONS, run.describe())
        self.assertIn("replayed 6 step(s)", run.stderr)

    def test_replay_bundled_timeline_json(self):
        text = self.replay(BUNDLED).stdout.splitlines()
        self.assertEqual(text, BUNDLED_TRANSITIONS)
        run = self.replay(BUNDLED, None, "--json")
        self.assertEqual(run.returncode, 0, run.describe())
        lines = run.stdout.splitlines()
        self.assertEqual(len(lines), len(text), run.describe())
        alerts = []
        for line, expected in zip(lines, text):
            obj = json.loads(line)
            self.assertIsInstance(obj, dict)
            for key in ("time", "model", "state", "message_id", "priority", "message"):
                self.assertIn(key, obj, line)
            self.assertEqual("%s %s" % (obj["time"], obj["message"]), expected)
            m = re.match(r"^\S+ \[(firing|resolved)\] (\S+) (\S+): ", expected)
            if not m:
                # A cell that changed: no rule, the cell's new state.
                self.assertNotIn("rule", obj)
                self.assertEqual((obj["state"], obj["message_id"]),
                                 ("unavailable", "7bdf10f8867b4ddb89c1f31d4ccd61d7"), line)
                continue
            alerts.append(obj)
            self.assertEqual((obj["state"], obj["rule"], obj["model"]), m.groups())
            firing = obj["state"] == "firing"
            self.assertEqual(obj["message_id"], "e557b04a8a1e461ca006ba39e0abd722" if firing
                             else "4eae587110634a25ad2a57c3e2194ba4")
        self.assertEqual(len(alerts), 5)
        single = [a for a in alerts if a["rule"] == "SingleCloud"]
        self.assertEqual([(a["priority"], a["clouds"]) for a in single], [(2, "aws")])
        narrowed = alerts[0]
        self.assertEqual((narrowed["priority"], narrowed["clouds"], narrowed["previous_clouds"]),
                         (4, "aws,gcp", "aws,azure,gcp"))

    def test_replay_rejects_a_badly_named_step(self):
        bad = self.tmp.mkdir("timeline")
        for step in sorted(os.listdir(BUNDLED)):
            if os.path.isdir(os.path.join(BUNDLED, step)):
                os.symlink(os.path.join(BUNDLED, step), os.path.join(bad, step))
        self.tmp.write("timeline/week-7/litellm.json", "{}\n")
        run = self.replay(bad, os.path.join(BUNDLED, "lockwatch.conf"))
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertEqual(run.stdout, "", "no transition may be printed before the error")
        self.assertIn("%s: step directory 'week-7' is not named by a time "
                      "(e.g. 2026-06-09T00:00Z)" % bad, run.stderr)

        for name in ("2026-13-01T00:00Z", "2026-06-01T00:00", "2026-06-01 00:00Z"):
            with self.subTest(step=name):
                d = self.tmp.mkdir("t-" + name)
                self.tmp.write(os.path.join("t-" + name, name, "litellm.json"), "{}\n")
                run = self.replay(d, os.path.join(BUNDLED, "lockwatch.conf"))
                self.assertEqual(run.returncode, 1, run.describe())
                self.assertIn("step directory '%s' is not named by a time" % name, run.stderr)

    def test_replay_of_an_empty_directory(self):
        d = self.tmp.mkdir("empty-timeline")
        run = self.replay(d, os.path.join(BUNDLED, "lockwatch.conf"))
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertIn("%s: no step directories" % d, run.stderr)

    def load_state(self, state_dir):
        return lwtest.read_state(state_dir)

    def cells(self, state, model):
        """{provider: set of what the sources said} for one model of a state file."""
        m = state["matrix"]
        names = [p["id"] for p in m["providers"]]
        for row in m["models"]:
            if row["id"] == model:
                return {names[c["provider"]]: {e["said"] for e in c["evidence"]}
                        for c in row["cells"]}
        self.fail("model %s not in the state file" % model)

    def test_replay_missing_source_is_a_failed_fetch(self):
        timeline = os.path.join(TIMELINES, "source-missing")
        run = self.replay(timeline)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stdout.splitlines(), SOURCE_MISSING_TRANSITIONS, run.describe())

        # Stop at 18:00, the third failure, and look at the matrix the daemon would keep.
        part = self.tmp.mkdir("first-four")
        steps = sorted(s for s in os.listdir(timeline) if s.startswith("2026-"))
        for s in steps[:4]:
            os.symlink(os.path.join(timeline, s), os.path.join(part, s))
        state_dir = self.tmp.mkdir("state")
        run = self.replay(part, os.path.join(timeline, "lockwatch.conf"), "--state-dir",
                          state_dir, "--json")
        self.assertEqual(run.returncode, 0, run.describe())
        events = [json.loads(line) for line in run.stdout.splitlines()]
        self.assertEqual([(e.get("rule"), e.get("source"), e["state"]) for e in events],
                         [(None, "vertex", "degraded"), ("SourceDegraded", "vertex", "firing")])
        self.assertEqual(events[0]["message_id"], "4fa126142f934a0997a47105a8ce0f1b")
        self.assertEqual(events[0]["result"], "error")
        state = self.load_state(state_dir)
        vertex = state["sources"]["vertex"]
        self.assertEqual((vertex["status"], vertex["consecutive_failures"]), ("degraded", "3"))
        for model in ("anthropic/claude-opus-4-7", "anthropic/claude-3-opus"):
            cells = self.cells(state, model)
            self.assertEqual(cells.get("gcp"), {"available"}, (model, cells))
            self.assertEqual(cells.get("azure"), {"available"}, (model, cells))
        self.assertEqual(self.cells(state, "anthropic/claude-opus-4-7").get("aws"), {"available"})

    def test_replay_missing_source_control(self):
        # The same rounds, but "vertex" answers with a page that no longer lists
        # claude-opus-4-7: a clean parse without it, twice, does take it off gcp and
        # azure, and SingleCloud fires. So the quiet run above is the failure handling.
        timeline = os.path.join(TIMELINES, "source-missing")
        ctl = self.tmp.mkdir("control")
        steps = sorted(s for s in os.listdir(timeline) if s.startswith("2026-"))
        with open(os.path.join(timeline, steps[0], "vertex.json"), encoding="utf-8") as f:
            vertex = json.load(f)
        without = {k: v for k, v in vertex.items() if "claude-opus-4-7" not in k}
        self.assertEqual(len(vertex) - len(without), 2)
        for i, s in enumerate(steps):
            self.tmp.mkdir("control", s)
            os.symlink(os.path.join(timeline, s, "litellm.json"),
                       os.path.join(ctl, s, "litellm.json"))
            self.tmp.write(os.path.join("control", s, "vertex.json"),
                           json.dumps(vertex if i in (0, len(steps) - 1) else without))
        run = self.replay(ctl, os.path.join(timeline, "lockwatch.conf"))
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertIn("2026-06-01T18:00:00Z [firing] SingleCloud anthropic/claude-opus-4-7: "
                      "anthropic/claude-opus-4-7 is callable only on aws (gone from azure, gcp)",
                      run.stdout.splitlines(), run.describe())
        self.assertNotIn("[degraded]", run.stdout)

    def test_replay_mass_removal_is_suspect(self):
        timeline = os.path.join(TIMELINES, "mass-removal")
        run = self.replay(timeline)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stdout.splitlines(), MASS_REMOVAL_TRANSITIONS, run.describe())
        for rule in MODEL_RULES:
            self.assertNotIn(" %s " % rule, run.stdout)

        run = self.replay(timeline, None, "--json")
        events = [json.loads(line) for line in run.stdout.splitlines()]
        self.assertEqual(events[0]["message_id"], "19592aded03e44c6a594652e34965e27")
        self.assertEqual((events[0]["source"], events[0]["state"], events[0]["result"]),
                         ("litellm", "suspect", "suspect-removal"))
        self.assertTrue(all("model" not in e for e in events), events)

    def test_replay_mass_removal_control(self):
        # With the breaker opened to 50% the same pages are applied, and the three models
        # that lost gcp narrow to aws: the quiet run above is the breaker's doing.
        timeline = os.path.join(TIMELINES, "mass-removal")
        run = self.replay(timeline, self.timeline_conf("mass-removal", max_removal="50%"))
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertNotIn("[suspect]", run.stdout)
        fired = re.findall(r"\[firing\] (SingleCloud|AvailabilityNarrowed) (\S+):", run.stdout)
        self.assertEqual(sorted(set(m for r, m in fired if r == "SingleCloud")),
                         ["anthropic/claude-haiku-4-5", "anthropic/claude-opus-4-7",
                          "anthropic/claude-sonnet-4-6"], run.describe())


if __name__ == "__main__":
    lwtest.require_daemon()
    lwtest.main()
