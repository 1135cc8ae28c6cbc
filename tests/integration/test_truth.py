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


if __name__ == "__main__":
    lwtest.require_daemon()
    lwtest.main()
