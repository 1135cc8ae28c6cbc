#!/usr/bin/env python3
"""Official model lists as sources, against a stand-in API on loopback
(tests/integration/officialapi.py): Bedrock per region with SigV4 (the signature recomputed by
the server from AWS's documented algorithm) or an API key, pages followed to the end, a
refused key as the `auth` result, throttling, a failing region, credentials read at every
poll and never shown. The formats' pages themselves are tested in tests/unit and
tests/realdata; this is the poll around them."""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402
import officialapi as oa  # noqa: E402
import sinks  # noqa: E402

WAIT = 60.0
AKID = "AKIDLOCKWATCHTEST"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYsecretKEY"
SESSION = "FwoGZXIvYXdzEBYaDsession/token+=="
OPUS = "anthropic.claude-opus-4-20250514-v1:0"
HAIKU = "anthropic.claude-3-5-haiku-20241022-v1:0"
REGIONS = ("us-east-1", "eu-west-1")


def ctl_path():
    return os.environ.get("LOCKWATCHCTL") or os.path.join(
        os.path.dirname(lwtest.lockwatchd()), "lockwatchctl")


class Bedrock(unittest.TestCase):
    def setUp(self):
        lwtest.require_daemon()
        self.tmp = lwtest.TempDir("lw-official-")
        self.addCleanup(self.tmp.cleanup)
        self.srv = oa.Server()
        self.addCleanup(self.srv.stop)
        api = self.srv.api
        api.aws_keys = {AKID: SECRET}
        api.session_token = SESSION
        api.bedrock["us-east-1"] = {
            "models": [oa.bedrock_model("us-east-1", OPUS),
                       oa.bedrock_model("us-east-1", HAIKU, status="LEGACY")],
            "profiles": [oa.bedrock_profile("us.anthropic.claude-p%d" % i,
                                            ["us-east-1", "us-west-2"], OPUS)
                         for i in range(5)],
        }
        api.bedrock["eu-west-1"] = {
            "models": [oa.bedrock_model("eu-west-1", OPUS)],
            "profiles": [oa.bedrock_profile("eu.anthropic.claude-p%d" % i,
                                            ["eu-west-1", "eu-central-1"], OPUS)
                         for i in range(3)],
        }
        self.keyfile = self.tmp.write(
            "aws-credentials", "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
            "aws_session_token = %s\n" % (AKID, SECRET, SESSION), mode=0o600)

    def config(self, credential=None, extra="", rules="none"):
        text = ("[daemon]\nrules = %s\nproviders = %s\naliases = %s\nretries = 2\n"
                "retry_backoff = 100ms\n\n[source bedrock]\nformat = bedrock-api\n"
                "endpoint = %s/{region}\nregions = %s\ncredential = %s\n%s" % (
                    rules, lwtest.shipped_tables()["providers"],
                    lwtest.shipped_tables()["aliases"], self.srv.base(), ", ".join(REGIONS),
                    credential or self.keyfile, extra))
        return self.tmp.write("lockwatch.conf", text)

    def once(self, conf, state=None):
        args = ["--once", "--json", "--config", conf]
        if state:
            args += ["--state-dir", state]
        r = lwtest.run_daemon(args, timeout=WAIT)
        self.assertFalse(r.timed_out, r.describe())
        return r, json.loads(r.stdout)

    def cell(self, doc, model, provider="aws"):
        for m in doc["matrix"]["models"]:
            if m["id"] == model:
                return m["cells"].get(provider)
        return None

    def test_sigv4_every_region_every_page(self):
        r, doc = self.once(self.config())
        src = doc["sources"][0]
        self.assertEqual((r.returncode, src["result"]), (0, "ok"), r.describe())
        reqs = self.srv.requests()
        self.assertEqual([q["auth_error"] for q in reqs], [None] * len(reqs))
        self.assertTrue(all(q["headers"].get("x-amz-security-token") == SESSION for q in reqs))
        # The scope names the region each request asks about.
        for q in reqs:
            region = q["path"].split("/")[1]
            self.assertIn("/%s/bedrock/aws4_request" % region, q["headers"]["authorization"])
        # One foundation-model list per region; the profiles page by page to the end.
        paths = sorted((q["path"], q["query"]) for q in reqs)
        self.assertEqual([p for p in paths if p[0].endswith("foundation-models")],
                         [("/eu-west-1/foundation-models", ""),
                          ("/us-east-1/foundation-models", "")])
        pages = {reg: [p[1] for p in paths if p[0] == "/%s/inference-profiles" % reg]
                 for reg in REGIONS}
        self.assertEqual(len(pages["us-east-1"]), 3, pages)  # 5 profiles, 2 a page
        self.assertEqual(len(pages["eu-west-1"]), 2, pages)  # 3 profiles
        self.assertTrue(any("nextToken=4%2B%2F%3D" in q for q in pages["us-east-1"]), pages)
        self.assertEqual(src["observations"], 3 + 8)
        # One model, several regions' listings: its aws cell has every region.
        opus = [m for m in doc["matrix"]["models"]
                if any(s.get("raw_id") == OPUS for c in m["cells"].values()
                       for s in c.get("sources", []))]
        self.assertEqual(len(opus), 1, [m["id"] for m in doc["matrix"]["models"]])
        aws = opus[0]["cells"]["aws"]
        self.assertEqual(aws["state"], "available")
        for region in ("us-east-1", "eu-west-1", "us-west-2", "eu-central-1"):
            self.assertIn(region, aws["regions"])

    def test_bedrock_api_key_is_a_bearer_token(self):
        self.srv.api.bearer = {"ABSKbedrockapikey0123456789"}
        key = self.tmp.write("bedrock-key", "ABSKbedrockapikey0123456789\n", mode=0o600)
        r, doc = self.once(self.config(credential=key))
        self.assertEqual(doc["sources"][0]["result"], "ok", r.describe())
        for q in self.srv.requests():
            self.assertEqual(q["headers"]["authorization"], "Bearer ABSKbedrockapikey0123456789")
            self.assertNotIn("x-amz-date", q["headers"])

    def test_refused_is_auth_and_changes_nothing(self):
        state = self.tmp.mkdir("state")
        conf = self.config()
        r, before = self.once(conf, state)
        self.assertEqual(before["sources"][0]["result"], "ok", r.describe())
        for status in (401, 403):
            self.srv.api.refuse = status
            n = len(self.srv.requests())
            r, after = self.once(conf, state)
            src = after["sources"][0]
            self.assertEqual((r.returncode, src["result"], src["http_status"]),
                             (1, "auth", status), r.describe())
            self.assertIn("refused the credentials", src["error"])
            # Refused is not retried (no request asked twice), and no region's rows moved.
            asked = [(q["path"], q["query"]) for q in self.srv.requests()[n:]]
            self.assertEqual(len(asked), len(set(asked)), asked)
            self.assertEqual(after["matrix"]["models"], before["matrix"]["models"])
        # A wrong signature is refused by the server like any bad key: same class.
        self.srv.api.refuse = None
        self.srv.api.aws_keys = {AKID: "another-secret"}
        r, after = self.once(conf, state)
        self.assertEqual(after["sources"][0]["result"], "auth", r.describe())
        self.assertTrue(any("signature mismatch" in (q["auth_error"] or "")
                            for q in self.srv.requests()))

    def test_throttled_then_answered(self):
        self.srv.api.throttle = 1
        r, doc = self.once(self.config())
        src = doc["sources"][0]
        self.assertEqual(src["result"], "ok", r.describe())
        self.assertGreater(src["attempts"], 2 * len(REGIONS))
        self.assertEqual(sum(1 for q in self.srv.requests()), src["attempts"])

    def test_a_failing_region_fails_the_poll(self):
        state = self.tmp.mkdir("state")
        conf = self.config()
        r, before = self.once(conf, state)
        self.assertEqual(before["sources"][0]["result"], "ok", r.describe())
        # eu-west-1 fails: the poll is degraded, and no model leaves eu-west-1 (or anywhere).
        self.srv.api.fail_region = "eu-west-1"
        r, after = self.once(conf, state)
        src = after["sources"][0]
        self.assertEqual((r.returncode, src["result"]), (1, "http-500"), r.describe())
        self.assertIn("region eu-west-1", src["error"])
        self.assertEqual(after["matrix"]["models"], before["matrix"]["models"])

    def test_missing_credential_names_the_fix(self):
        conf = self.config(credential="bedrock-keys")
        env = {"CREDENTIALS_DIRECTORY": ""}
        r = lwtest.run_daemon(["--check-config", "--config", conf], env=env)
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertIn("[source bedrock]: credential 'bedrock-keys'", r.stderr)
        self.assertIn("LoadCredential=bedrock-keys:", r.stderr)
        creds = self.tmp.mkdir("creds")
        r = lwtest.run_daemon(["--check-config", "--config", conf],
                              env={"CREDENTIALS_DIRECTORY": creds})
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertIn("cannot read %s/bedrock-keys" % creds, r.stderr)
        # At run time the poll fails as auth; nothing is asked of the API without a key.
        r = lwtest.run_daemon(["--once", "--json", "--config", conf],
                              env={"CREDENTIALS_DIRECTORY": creds})
        src = json.loads(r.stdout)["sources"][0]
        self.assertEqual((r.returncode, src["result"]), (1, "auth"), r.describe())
        self.assertIn("credential:", src["error"])
        self.assertEqual(self.srv.requests(), [])
        with open(os.path.join(creds, "bedrock-keys"), "w") as f:
            with open(self.keyfile) as k:
                f.write(k.read())
        r = lwtest.run_daemon(["--check-config", "--config", conf],
                              env={"CREDENTIALS_DIRECTORY": creds})
        self.assertEqual(r.returncode, 0, r.describe())

    def test_keys_only_over_https_or_loopback(self):
        conf = self.tmp.write("remote.conf", (
            "[daemon]\nrules = none\n[source bedrock]\nformat = bedrock-api\n"
            "endpoint = http://bedrock.example.com/{region}\nregions = us-east-1\n"
            "credential = %s\n") % self.keyfile)
        r = lwtest.run_daemon(["--check-config", "--config", conf])
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertIn("remote.conf:5:12: ", r.stderr)  # the endpoint line
        self.assertIn("only sent over https://", r.stderr)

    def test_key_file_reread_and_never_shown(self):
        self.srv.api.bearer = {"ABSKfirstkey"}
        key = self.tmp.write("bedrock-key", "ABSKfirstkey\n", mode=0o600)
        conf = self.config(credential=key)
        state = self.tmp.mkdir("state")
        sock = self.tmp.join("sock")
        d = sinks.Daemon(self.tmp, conf, state, self.tmp.mkdir("rules"), sock)
        self.addCleanup(d.stop)
        d.wait_ready()

        def polled(n):
            st = d.status()
            src = [s for s in (st or {}).get("sources", []) if s["name"] == "bedrock"]
            return src and src[0].get("polls", 0) >= n and src[0]

        src = lwtest.wait_until(lambda: polled(1), WAIT)
        self.assertEqual(src["last_result"], "ok", d.stderr())
        # A timer refreshes the key: the next poll uses the new one, no reload needed.
        self.srv.api.bearer = {"ABSKsecondkey"}
        with open(key + ".new", "w") as f:
            f.write("ABSKsecondkey\n")
        os.rename(key + ".new", key)
        subprocess.run([ctl_path(), "--socket", sock, "poll", "bedrock"], check=True,
                       capture_output=True, timeout=WAIT)
        src = lwtest.wait_until(lambda: polled(2), WAIT)
        self.assertEqual(src["last_result"], "ok", d.stderr())
        self.assertEqual(self.srv.requests()[-1]["headers"]["authorization"],
                         "Bearer ABSKsecondkey")
        # Nothing shows a key: status, explain, the matrix, the journal lines, the state.
        model = None
        out = []
        for args in (["status"], ["--json", "status"], ["--json", "matrix"], ["matrix"]):
            r = subprocess.run([ctl_path(), "--socket", sock] + args, capture_output=True,
                               text=True, timeout=WAIT)
            out.append(r.stdout + r.stderr)
            if args == ["--json", "matrix"]:
                model = json.loads(r.stdout)["models"][0]["id"]
        self.assertTrue(model)
        for args in (["explain", model], ["--json", "explain", model]):
            r = subprocess.run([ctl_path(), "--socket", sock] + args,
                               capture_output=True, text=True, timeout=WAIT)
            out.append(r.stdout + r.stderr)
        # explain names the API and the regions asked behind the cell.
        self.assertIn("from Amazon Bedrock ListFoundationModels", out[-2])
        self.assertIn("(regions asked: us-east-1 eu-west-1)", out[-2])
        ev = json.loads(out[-1])["model"]["cells"][0]["evidence"][0]
        self.assertEqual(ev["api"], "Amazon Bedrock ListFoundationModels + ListInferenceProfiles")
        self.assertEqual(ev["asked_regions"], list(REGIONS))
        d.stop()
        out.append(d.stderr())
        for root, _, files in os.walk(state):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    out.append(fh.read().decode("utf-8", "replace"))
        text = "\n".join(out)
        for secret in ("ABSKfirstkey", "ABSKsecondkey", SECRET, SESSION):
            self.assertNotIn(secret, text)
        self.assertIn("bedrock", text)


if __name__ == "__main__":
    lwtest.main()
