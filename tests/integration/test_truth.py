"""One truth from many sources (docs/matrix.md "Authority"): the production feed set replayed
over the real captures in date order, and each way a source could once say `ok` having told
nothing, or fire on a change that was not upstream.

The backtest lays the captures out as a replay timeline of symbolic links (one step per
capture date, each source reading its latest capture as of that day) and runs
`lockwatchd --replay` with the shipped rules. It prints every SingleCloud, LastStop and
AvailabilityNarrowed it fired, for a person to judge against the cloud's own listing.
"""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402

DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
EVENT = re.compile(r"^(\S+) \[(firing|resolved)\] (\S+) (\S+): (.*)$")

# The production feed set of data/lockwatch.conf.example, minus the Azure docs table (one
# undated capture, added to every step) and with the formats' default authority.
FEEDS = [
    ("litellm", "litellm", "litellm/*.json", {}),
    ("models-dev", "models-dev", "models.dev-api*/api.jq-sorted.*.json", {}),
    ("openrouter", "openrouter", "openrouter/*.json", {}),
    ("bedrock-cards", "bedrock-model-cards", "aws-bedrock-model-cards*/*.json", {}),
]
AZURE = ("azure-regions", "markdown-table", "azure-docs/region-availability-maas.md",
         {"provider": "azure",
          "columns": "Model:name, Hub/Project Region for Deployment:regions"})


def captures(fixtures, pattern):
    out = []
    for path in glob.glob(os.path.join(fixtures, pattern)):
        m = DATE.search(os.path.basename(path))
        if m:
            out.append((m.group(1), path))
    return sorted(out)


def lay_out(tmp, fixtures, feeds, start, extra=(), back_fill=()):
    """A replay timeline in tmp/timeline from start on; returns (dir, config path). Sources
    named in back_fill read their earliest capture at the steps before it."""
    caps = {name: captures(fixtures, pattern) for name, _, pattern, _ in feeds}
    dates = sorted({d for c in caps.values() for d, _ in c if d >= start})
    root = tmp.mkdir("timeline")
    for day in dates:
        step = tmp.mkdir("timeline", day + "T00:00Z")
        for name, _, _, _ in feeds:
            have = [p for d, p in caps[name] if d <= day]
            if not have and name in back_fill:
                have = [caps[name][0][1]]
            if have:
                os.symlink(have[-1], os.path.join(step, name + ".json"))
        for name, _, path, _ in extra:
            os.symlink(os.path.join(fixtures, path), os.path.join(step, name + ".md"))
    sources = []
    for name, fmt, _, keys in list(feeds) + list(extra):
        k = {"url": os.path.join(root, dates[0] + "T00:00Z", name), "format": fmt}
        k.update(keys)
        sources.append((name, k))
    rules = os.path.join(lwtest.source_dir(), "rules", "*.rules")
    conf = lwtest.write_config(tmp, {"rules": rules, "removal_polls": 2}, sources)
    return root, conf


def replay(root, conf):
    run = lwtest.run_daemon(["--replay", root, "--config", conf], timeout=600)
    events = []
    for line in run.stdout.splitlines():
        m = EVENT.match(line)
        if m:
            events.append({"time": m.group(1), "event": m.group(2), "rule": m.group(3),
                           "key": m.group(4), "text": m.group(5)})
    return run, events


@unittest.skipUnless(lwtest.fixtures_dir(), "the real captures (../shared/fixtures) are absent")
class Backtest(unittest.TestCase):
    """The production feed set over the captures from the first Bedrock model-card capture
    on (2026-07-03), when the aws column first has its authority."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = lwtest.TempDir()
        root, conf = lay_out(cls.tmp, lwtest.fixtures_dir(), FEEDS, "2026-07-03", [AZURE])
        cls.replayed, cls.events = replay(root, conf)
        fired = [e for e in cls.events if e["event"] == "firing" and e["rule"] in
                 ("SingleCloud", "LastStop", "AvailabilityNarrowed")]
        print("\nbacktest: %d alert transitions, %d SingleCloud/LastStop/AvailabilityNarrowed "
              "fired:" % (len(cls.events), len(fired)), file=sys.stderr)
        for e in fired:
            print("  %s %s %s: %s" % (e["time"][:10], e["rule"], e["key"], e["text"]),
                  file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def fired(self, rule, key):
        return [e for e in self.events
                if e["event"] == "firing" and e["rule"] == rule and e["key"] == key]

    def test_replay_ran(self):
        self.assertEqual(self.replayed.returncode, 0, self.replayed.describe())

    def test_litellm_lag_does_not_hide_opus_4_leaving_bedrock(self):
        # LiteLLM 2026-07-24 still lists anthropic.claude-opus-4-20250514-v1:0 on bedrock;
        # no Bedrock model card since 2026-07-03 lists Claude Opus 4; Vertex still serves
        # it, marked deprecated (models.dev 2026-06-12: google-vertex claude-opus-4@20250514
        # "status": "deprecated"): its last stop, not lock-in of an active model.
        self.assertTrue(self.fired("LastStop", "anthropic/claude-opus-4"),
                        "LastStop never fired for anthropic/claude-opus-4")
        self.assertEqual(self.fired("SingleCloud", "anthropic/claude-opus-4"), [])

    def test_unconfirmed_launch_is_not_read_as_gone(self):
        # LiteLLM 2026-07-24 lists openai.gpt-5.6-luna on bedrock_mantle; AWS's own Mantle
        # list (official-model-lists/bedrock_mantle_models.2026-07-29.json) has it too, but
        # the model-card scrape has not published it by 2026-08-22. A launch the authority
        # has not confirmed is unknown on aws, never "gone from aws".
        for key in ("openai/gpt-5-6-luna", "openai/gpt-5-6-sol", "openai/gpt-5-6-terra"):
            self.assertEqual(self.fired("SingleCloud", key), [], key)

    def test_models_dev_drop_does_not_fire_for_what_bedrock_still_lists(self):
        # models.dev 2026-06-09 dropped Claude 3.5 Haiku and Claude Sonnet 4 from
        # amazon-bedrock; the Bedrock model cards still list both (Legacy).
        for key in ("anthropic/claude-3-5-haiku", "anthropic/claude-sonnet-4"):
            self.assertEqual(self.fired("SingleCloud", key), [], key)
            self.assertEqual(self.fired("AvailabilityNarrowed", key), [], key)

    def test_lagging_is_one_alert_per_source(self):
        lag = [e for e in self.events if e["event"] == "firing" and e["rule"] == "SourceLagging"]
        keys = [e["key"] for e in lag]
        self.assertIn("litellm", keys)
        self.assertEqual(len(keys), len(set(keys)), keys)


def wrap_foundry(tmp, fixtures):
    """The Azure Foundry captures (kept keyed by name) in the API's wire shape, one page each;
    returns their glob."""
    out = tmp.mkdir("foundry")
    for day, path in captures(fixtures, "official-model-lists/azure_foundry_models.*.json"):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        with open(os.path.join(out, "azure_foundry_models.%s.json" % day), "w") as f:
            json.dump({"summaries": list(doc.values())}, f)
    return os.path.join(out, "*.json")


@unittest.skipUnless(lwtest.fixtures_dir(), "the real captures (../shared/fixtures) are absent")
class OfficialBacktest(unittest.TestCase):
    """The same feed set with the two official lists the example configuration polls without
    an account: the per-region Bedrock API merge (aws) and the Azure Foundry catalog (azure),
    from 2026-07-29, the first day both were captured."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = lwtest.TempDir()
        fixtures = lwtest.fixtures_dir()
        feeds = FEEDS + [
            ("bedrock-regions", "bedrock-api-regions", "aws-bedrock-api-regions/*.json", {}),
            ("azure-foundry", "azure-foundry", wrap_foundry(cls.tmp, fixtures), {}),
        ]
        root, conf = lay_out(cls.tmp, fixtures, feeds, "2026-07-29", [AZURE])
        cls.replayed, cls.events = replay(root, conf)
        fired = [e for e in cls.events if e["event"] == "firing" and e["rule"] in
                 ("SingleCloud", "LastStop", "AvailabilityNarrowed")]
        print("\nofficial backtest: %d alert transitions, %d SingleCloud/LastStop/"
              "AvailabilityNarrowed fired:" % (len(cls.events), len(fired)), file=sys.stderr)
        for e in fired:
            print("  %s %s %s: %s" % (e["time"][:10], e["rule"], e["key"], e["text"]),
                  file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def fired(self, rule, key):
        return [e for e in self.events
                if e["event"] == "firing" and e["rule"] == rule and e["key"] == key]

    def test_replay_ran(self):
        self.assertEqual(self.replayed.returncode, 0, self.replayed.describe())

    def test_headline_case_still_fires(self):
        self.assertTrue(self.fired("LastStop", "anthropic/claude-opus-4"))

    def test_retirement_date_gone_by_is_retired(self):
        # azure_foundry_models.2026-07-30.json: Llama-3.2-90B-Vision-Instruct version 3,
        # lifecycle "Retired"; 2026-07-31, 08-04, 08-06 and 08-10 list version 5 instead, with
        # no lifecycle and inferenceRetirementDate 2026-06-13. A date gone by is retired: the
        # cell must not come back on those days and be "lost" again the day after.
        self.assertEqual(self.fired("AvailabilityNarrowed", "meta/llama-3-2-90b-vision-instruct"),
                         [])
        # Stable Image Ultra: Generally Available with retirement date 2026-07-31 in the
        # 07-29 to 07-31 files: it leaves azure on the first step after that date.
        lost = self.fired("AvailabilityNarrowed", "stability/stable-image-ultra")
        self.assertEqual([e["time"][:10] for e in lost], ["2026-08-01"], lost)

    def test_foundry_retirement_is_a_narrowing(self):
        # Claude Opus 4.1: Generally Available on 2026-08-06, Retired on 2026-08-07
        # (azure_foundry_models.2026-08-07.json); Bedrock and Vertex still serve it.
        lost = self.fired("AvailabilityNarrowed", "anthropic/claude-opus-4-1")
        self.assertEqual([e["time"][:10] for e in lost], ["2026-08-07"], lost)
        self.assertIn("now on aws, gcp", lost[0]["text"])


@unittest.skipUnless(lwtest.fixtures_dir(), "the real captures (../shared/fixtures) are absent")
class CatalogueDrop(unittest.TestCase):
    """models.dev with the Bedrock model cards, from models.dev's 2026-04-01 capture on. The
    earliest model-card capture (2026-07-03) stands in for the cards before it."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = lwtest.TempDir()
        feeds = [f for f in FEEDS if f[0] in ("models-dev", "bedrock-cards")]
        root, conf = lay_out(cls.tmp, lwtest.fixtures_dir(), feeds, "2026-04-01",
                             back_fill=("bedrock-cards",))
        cls.replayed, cls.events = replay(root, conf)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_models_dev_drop_is_lag_not_narrowing(self):
        self.assertEqual(self.replayed.returncode, 0, self.replayed.describe())
        # models.dev 2026-06-09 dropped Claude 3.5 Haiku and Claude Sonnet 4 from
        # amazon-bedrock; the model cards list both (Legacy) throughout.
        for key in ("anthropic/claude-3-5-haiku", "anthropic/claude-sonnet-4"):
            bad = [e for e in self.events if e["event"] == "firing" and e["key"] == key and
                   e["rule"] in ("SingleCloud", "AvailabilityNarrowed", "LastStop")]
            self.assertEqual(bad, [], key)
        lag = [e for e in self.events if e["event"] == "firing" and e["rule"] == "SourceLagging"
               and e["key"] == "models-dev"]
        self.assertTrue(lag, "models-dev was never reported as lagging")


@unittest.skipUnless(lwtest.fixtures_dir(), "the real captures (../shared/fixtures) are absent")
class FirstStart(unittest.TestCase):
    """The first start on the production feed set (the newest capture of each): few alert
    transitions, each one worth reading."""

    def test_first_start_is_quiet(self):
        tmp = lwtest.TempDir()
        self.addCleanup(tmp.cleanup)
        fixtures = lwtest.fixtures_dir()
        sources = []
        for name, fmt, pattern, keys in FEEDS + [AZURE]:
            found = captures(fixtures, pattern) or [("", os.path.join(fixtures, pattern))]
            k = {"url": found[-1][1], "format": fmt}
            k.update(keys)
            sources.append((name, k))
        rules = os.path.join(lwtest.source_dir(), "rules", "*.rules")
        conf = lwtest.write_config(tmp, {"rules": rules}, sources)
        run = lwtest.run_daemon(["--once", "--config", conf, "--state-dir", tmp.mkdir("s")],
                                timeout=300)
        self.assertEqual(run.returncode, 0, run.describe())
        firing = [l.strip() for l in run.stdout.splitlines() if l.startswith("  firing ")]
        print("\nfirst start: %d alert(s) firing" % len(firing), file=sys.stderr)
        for line in firing:
            print("  " + line[:160], file=sys.stderr)
        self.assertLessEqual(len(firing), 10, "\n".join(firing))
        self.assertFalse([l for l in firing if " UnmappedModel " in l])


LITELLM_ROWS = {
    "azure_ai/claude-opus-4-7": {"litellm_provider": "azure_ai"},
    "azure_ai/mistral-large-2407": {"litellm_provider": "azure_ai"},
    "anthropic.claude-opus-4-7": {"litellm_provider": "bedrock"},
    "vertex_ai/claude-opus-4-7": {"litellm_provider": "vertex_ai-anthropic_models"},
    "vertex_ai/mistral-large-2407": {"litellm_provider": "vertex_ai-mistral_models"},
}


class Sources(unittest.TestCase):
    """Nothing says ok having applied nothing; a column id names a provider; a relabel
    upstream is a structure change, never a removal; a removed source retires quietly."""

    def setUp(self):
        self.tmp = lwtest.TempDir()
        self.addCleanup(self.tmp.cleanup)

    def once(self, sources, state="state"):
        conf = lwtest.write_config(self.tmp, {}, sources)
        return lwtest.run_daemon(["--once", "--config", conf, "--state-dir",
                                  self.tmp.mkdir(state)])

    def test_provider_column_ids(self):
        body = self.tmp.write("t.md", "| Model | Regions |\n|---|---|\n"
                                      "| Claude Opus 4.7 | us-east-1, eu-west-1 |\n")
        for column in ("aws", "gcp", "AWS"):
            run = self.once([("t", {"url": body, "format": "markdown-table",
                                    "provider": column, "columns": "Model:name, Regions:regions"})],
                            state="state-" + column)
            self.assertEqual(run.returncode, 0, run.describe())
            self.assertRegex(run.stdout, r"^t ok .* rows=1 unlisted=0 ")

    def test_unknown_provider_is_a_config_error(self):
        conf = lwtest.write_config(self.tmp, {}, [("t", {
            "url": self.tmp.write("t.md", "x"), "format": "markdown-table", "provider": "awz",
            "columns": "Model:name"})])
        run = lwtest.run_daemon(["--check-config", "--config", conf])
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertRegex(run.stderr, r"lockwatch\.conf:\d+:\d+: \[source t\]: provider 'awz' "
                                     r"is neither a provider column nor an upstream name .*"
                                     r"did you mean 'aws'\?")
        self.assertNotIn("configuration OK", run.stdout)

    def test_empty_first_body_is_never_ok(self):
        cases = [("litellm", "{}"), ("openrouter", '{"data":[]}'), ("models-dev", "{}")]
        for fmt, text in cases:
            body = self.tmp.write("empty-%s.json" % fmt, text)
            run = self.once([("e", {"url": body, "format": fmt})])
            self.assertEqual(run.returncode, 1, run.describe())
            self.assertRegex(run.stdout, r"^e suspect-empty .* rows=0 ", fmt)
            self.assertIn("suspect-empty: parsed to no rows", run.stdout)
        # No baseline was taken from the empty body: the real feed applies afterwards.
        body = self.tmp.write("good.json", json.dumps(LITELLM_ROWS))
        run = self.once([("e", {"url": body, "format": "litellm"})])
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertRegex(run.stdout, r"^e ok .* rows=5 ")

    def test_304_without_validators_is_an_error(self):
        up = lwtest.Upstream(self.tmp)
        self.addCleanup(up.stop)
        run = self.once([("u", {"url": up.url("/status/304"), "format": "litellm",
                                "retries": 0})])
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertRegex(run.stdout, r"^u http-304 ")

    def test_relabelled_provider_is_suspect_not_removal(self):
        relabelled = {k: dict(v, litellm_provider="azure_ai_foundry")
                      if v["litellm_provider"] == "azure_ai" else v
                      for k, v in LITELLM_ROWS.items()}
        root = self.tmp.mkdir("timeline")
        for i, rows in enumerate([LITELLM_ROWS, relabelled, relabelled, relabelled]):
            step = self.tmp.mkdir("timeline", "2026-07-0%dT00:00Z" % (i + 1))
            with open(os.path.join(step, "litellm.json"), "w") as f:
                json.dump(rows, f)
        rules = os.path.join(lwtest.source_dir(), "rules", "*.rules")
        conf = lwtest.write_config(self.tmp, {"rules": rules}, [("litellm", {
            "url": os.path.join(root, "2026-07-01T00:00Z", "litellm"), "format": "litellm"})])
        run = lwtest.run_daemon(["--replay", root, "--config", conf])
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertRegex(run.stdout, r"\[suspect\] source litellm: suspect-provider: 2 rows "
                                     r"mapped before now map to no provider \(upstream provider "
                                     r"names? now: azure_ai_foundry\)")
        self.assertNotRegex(run.stdout, r"\[cell\] .* on azure: available -> unavailable")
        self.assertNotRegex(run.stdout, r"\[firing\] (SingleCloud|AvailabilityNarrowed)")

    def test_removed_source_retires_without_model_alerts(self):
        a = self.tmp.write("a.json", json.dumps({
            "anthropic.claude-opus-4-7": {"litellm_provider": "bedrock"}}))
        b = self.tmp.write("b.json", json.dumps({
            "vertex_ai/claude-opus-4-7": {"litellm_provider": "vertex_ai-anthropic_models"},
            "azure_ai/claude-opus-4-7": {"litellm_provider": "azure_ai"}}))
        rules = os.path.join(lwtest.source_dir(), "rules", "*.rules")
        daemon = {"rules": rules, "evaluation_interval": "1s", "jitter": "0%"}
        both = [("a", {"url": a, "format": "litellm"}), ("b", {"url": b, "format": "litellm"})]
        conf = lwtest.write_config(self.tmp, daemon, both)
        state = self.tmp.mkdir("state")
        # Every save appends to the change log (or starts a new one).
        path = os.path.join(state, "state.log")
        err = open(self.tmp.join("stderr"), "w+")
        self.addCleanup(err.close)
        p = subprocess.Popen([lwtest.lockwatchd(), "--config", conf, "--state-dir", state,
                              "--socket", self.tmp.join("sock")],
                             stdout=subprocess.DEVNULL, stderr=err)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))

        def log():
            err.seek(0)
            return err.read()

        def evaluations(n):
            # Each evaluation round writes the state: wait for n writes.
            seen = [None]
            count = [0]

            def changed():
                try:
                    st = os.stat(path).st_mtime_ns
                except FileNotFoundError:
                    return False
                if st != seen[0]:
                    seen[0] = st
                    count[0] += 1
                return count[0] > n
            return lwtest.wait_until(changed, 30)

        self.assertTrue(lwtest.wait_until(lambda: "opus" in json.dumps(
            lwtest.read_state(state) or {}), 30), log())
        self.assertTrue(evaluations(2), log())
        lwtest.write_config(self.tmp, daemon, both[:1])
        p.send_signal(signal.SIGHUP)
        self.assertTrue(lwtest.wait_until(lambda: "configuration reloaded" in log(), 30), log())
        self.assertTrue(evaluations(3), log())
        self.assertIsNone(p.poll(), log())
        self.assertNotRegex(log(), r"\[firing\] (AvailabilityNarrowed|SingleCloud|LastStop)")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=30), 0, log())


if __name__ == "__main__":
    lwtest.require_daemon()
    lwtest.main()
