#!/usr/bin/env python3
"""Text from a remote party that is not UTF-8 never stops the daemon: header values (ETag,
Last-Modified, Retry-After, Location), table cells and error texts reach the state file,
--once --json and the next start as UTF-8. Before the fix a 200 with such an ETag aborted
the daemon in its state save ("out of memory"), at every poll."""

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "faults"))
import lwtest  # noqa: E402
import rawhttp  # noqa: E402

LITELLM = b'{"sample_spec": {}, "caf\\u00e9-model": {"litellm_provider": "openai"}}\n'
MARKDOWN = (b"| Model | Region |\n|---|---|\n| Caf\xe9 Model 9 | east\xe9us |\n"
            b"| gpt-4o | eastus |\n")
HTML = (b"<html><head><meta charset=\"utf-8\"></head><body><table><tr><th>Model</th>"
        b"<th>Region</th></tr><tr><td>Caf\xe9 Model 9</td><td>east\xe9us</td></tr>"
        b"<tr><td>gpt-4o</td><td>eastus</td></tr></table></body></html>")
BAD_HEADERS = [(b"ETag", b'"caf\xe9"'), (b"Last-Modified", b"Wed, 21 Oct 2015 07:28:00 GM\xe9")]


def all_strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from all_strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from all_strings(x)


class HostileTextTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lwtest.require_daemon()

    def setUp(self):
        self.tmp = lwtest.TempDir()
        self.addCleanup(self.tmp.cleanup)
        self.state = self.tmp.mkdir("state")
        self.up = rawhttp.RawServer({
            "/litellm": rawhttp.fixed(200, LITELLM, BAD_HEADERS),
            "/md": rawhttp.fixed(200, MARKDOWN, BAD_HEADERS),
            "/html": rawhttp.fixed(200, HTML, BAD_HEADERS),
            "/busy": rawhttp.fixed(503, b"busy", [(b"Retry-After", b"\xe9\xff 12")]),
            "/away": rawhttp.fixed(302, b"", [(b"Location", b"http://caf\xe9.invalid/x")]),
        })
        self.addCleanup(self.up.stop)
        self.conf = lwtest.write_config(self.tmp, {"retries": 0, "connect_timeout": "2s"}, [
            ("lit", {"url": self.up.url("/litellm"), "format": "litellm"}),
            ("md", {"url": self.up.url("/md"), "format": "markdown-table",
                    "provider": "azure", "columns": "Model:name, Region:regions"}),
            ("html", {"url": self.up.url("/html"), "format": "html-table",
                      "provider": "gcp", "columns": "Model:name, Region:regions"}),
            ("busy", {"url": self.up.url("/busy"), "format": "litellm"}),
            ("away", {"url": self.up.url("/away"), "format": "litellm"}),
        ])

    def once(self, *extra):
        run = lwtest.run_daemon(["--once", "--config", self.conf,
                                 "--rules-dir", os.path.join(lwtest.source_dir(), "rules"),
                                 "--state-dir", self.state] + list(extra))
        self.assertFalse(run.timed_out, run.describe())
        self.assertIsNone(lwtest.sanitizer_report(run), run.describe())
        self.assertNotIn("out of memory", run.stderr, run.describe())
        # Two sources fail on purpose (503, an unresolvable redirect): exit 1, not a crash.
        self.assertEqual(run.returncode, 1, run.describe())
        return run

    def read_state(self):
        # Every text is decoded as UTF-8, strictly: any byte that is not raises.
        return lwtest.read_state(self.state)

    def test_state_json_and_restart(self):
        self.once()
        st = self.read_state()
        for name in ("lit", "md", "html"):
            src = st["sources"][name]
            self.assertEqual(src["status"], "ok", src)
            # Validators that are not UTF-8 are dropped, never repaired and sent back.
            self.assertIsNone(src["etag"], src)
            self.assertIsNone(src["last_modified"], src)
        self.assertEqual(st["sources"]["busy"]["last_result"], "http-503")
        self.assertEqual(st["sources"]["away"]["status"], "degraded")
        # The transitions went to the history store beside it, repaired the same way.
        messages = []
        hist = os.path.join(self.state, "history")
        for name in sorted(os.listdir(hist)):
            if name.endswith(".seg"):
                with open(os.path.join(hist, name), "rb") as f:
                    raw = f.read()
                raw.decode("utf-8")
                messages += [json.loads(l.split(b" ", 2)[2]).get("message") or ""
                             for l in raw.splitlines()]
        self.assertTrue(any("Caf? Model 9" in m for m in messages), messages)
        # The next start reads that state instead of setting it aside.
        run = self.once()
        self.assertNotIn("set aside", run.stderr, run.describe())
        self.assertEqual(lwtest.state_files(self.state), ["state.log", "state.snapshot"])
        self.assertTrue(os.path.isdir(os.path.join(self.state, "history")))
        self.assertEqual(self.read_state()["sources"]["md"]["polls"], "2")

    def test_once_json(self):
        run = self.once("--json")
        doc = json.loads(run.stdout)
        for s in all_strings(doc):
            self.assertNotIn("\ufffd", s)
        # The cell that nothing maps is there, under its repaired name.
        self.assertIn("unmapped/caf-model-9", run.stdout)
        md = [s for s in doc["sources"] if s["name"] == "md"][0]
        self.assertEqual(md["unmapped"], ["azure Caf? Model 9"], md)

if __name__ == "__main__":
    lwtest.main()
