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
# Cross-region profiles: five in the US (three pages of two), three in the EU.
PROFILED = [OPUS, HAIKU, "anthropic.claude-sonnet-4-20250514-v1:0",
            "meta.llama3-1-405b-instruct-v1:0", "mistral.mistral-large-2407-v1:0"]


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
            "profiles": [oa.bedrock_profile("us." + m, ["us-east-1", "us-west-2"], m)
                         for m in PROFILED],
        }
        api.bedrock["eu-west-1"] = {
            "models": [oa.bedrock_model("eu-west-1", OPUS)],
            "profiles": [oa.bedrock_profile("eu." + m, ["eu-west-1", "eu-central-1"], m)
                         for m in PROFILED[:3]],
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
        opus = [m for m in doc["matrix"]["models"] if m["id"] == "anthropic/claude-opus-4"]
        self.assertEqual(len(opus), 1, [m["id"] for m in doc["matrix"]["models"]])
        self.assertIn(opus[0]["cells"]["aws"]["sources"][0]["raw_id"],
                      (OPUS, "us." + OPUS, "eu." + OPUS))
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


def pages(items, size, query_token, body_token=None):
    """A route serving items size at a time: the token is the next offset, written so a URL
    must escape it."""
    def route(query, headers, body):
        token = query.get(query_token) if query_token else \
            json.loads(body or b"{}").get(body_token)
        start = int(token.rstrip("=")) if token else 0
        nxt = start + size if start + size < len(items) else None
        return start, items[start:start + size], (None if nxt is None else "%d==" % nxt)
    return route


class VendorsAndClouds(unittest.TestCase):
    """The other official formats, each through its auth and its way of paging."""

    def setUp(self):
        lwtest.require_daemon()
        self.tmp = lwtest.TempDir("lw-official-")
        self.addCleanup(self.tmp.cleanup)
        self.srv = oa.Server()
        self.addCleanup(self.srv.stop)

    def run_source(self, section):
        key = self.tmp.write("key", "sk-test-0123456789\n", mode=0o600)
        conf = self.tmp.write("lockwatch.conf", (
            "[daemon]\nrules = none\nproviders = %s\naliases = %s\nretries = 0\n\n"
            "[source s]\n%s\n" % (lwtest.shipped_tables()["providers"],
                                  lwtest.shipped_tables()["aliases"],
                                  section.replace("KEY", key).replace("BASE", self.srv.base()))))
        r = lwtest.run_daemon(["--once", "--json", "--config", conf], timeout=WAIT)
        doc = json.loads(r.stdout)
        return r, doc["sources"][0], doc

    def test_anthropic_key_version_and_after_id(self):
        items = [{"id": "claude-opus-4-%d" % i, "display_name": "Claude %d" % i,
                  "created_at": "2026-01-01T00:00:00Z", "type": "model"} for i in range(5)]

        def anthropic(query, headers, body):
            if headers.get("x-api-key") != "sk-test-0123456789" or \
                    headers.get("anthropic-version") != "2023-06-01":
                return 401, {"type": "error"}
            # after_id names the last id of the previous page.
            after = query.get("after_id")
            start = [i["id"] for i in items].index(after) + 1 if after else 0
            page = items[start:start + 2]
            return 200, {"data": page, "has_more": start + 2 < len(items),
                         "first_id": page[0]["id"], "last_id": page[-1]["id"]}
        self.srv.api.json_routes["/v1/models"] = anthropic
        r, src, _ = self.run_source("format = anthropic-models\nendpoint = BASE\n"
                                    "credential = KEY\n")
        self.assertEqual((src["result"], src["observations"]), ("ok", 5), r.describe())
        afters = [q["query"] for q in self.srv.requests()]
        self.assertEqual(len(afters), 3, afters)
        self.assertIn("after_id=claude-opus-4-1", afters[1])
        self.assertIn("after_id=claude-opus-4-3", afters[2])

    def test_gemini_key_in_a_header_never_in_the_url(self):
        items = [{"name": "models/gemini-2.%d-flash" % i, "displayName": "Gemini",
                  "version": "2", "supportedGenerationMethods": ["generateContent"]}
                 for i in range(3)]
        route = pages(items, 2, "pageToken")

        def gemini(query, headers, body):
            if headers.get("x-goog-api-key") != "sk-test-0123456789":
                return 403, {"error": {"code": 403}}
            _, page, nxt = route(query, headers, body)
            out = {"models": page}
            if nxt:
                out["nextPageToken"] = nxt
            return 200, out
        self.srv.api.json_routes["/v1beta/models"] = gemini
        r, src, _ = self.run_source("format = gemini-models\nendpoint = BASE\n"
                                    "credential = KEY\n")
        self.assertEqual((src["result"], src["observations"]), ("ok", 3), r.describe())
        reqs = self.srv.requests()
        self.assertEqual(len(reqs), 2)
        self.assertIn("pageToken=2%3D%3D", reqs[1]["query"])
        for q in reqs:
            self.assertNotIn("sk-test", q["path"] + q["query"])

    def test_openai_bearer_and_refusal(self):
        def openai(query, headers, body):
            if headers.get("authorization") != "Bearer sk-test-0123456789":
                return 401, {"error": {"message": "bad key"}}
            return 200, {"object": "list", "data": [
                {"id": "gpt-5", "object": "model", "created": 1, "owned_by": "openai"}]}
        self.srv.api.json_routes["/v1/models"] = openai
        r, src, _ = self.run_source("format = openai-models\nendpoint = BASE\n"
                                    "credential = KEY\n")
        self.assertEqual((src["result"], src["observations"]), ("ok", 1), r.describe())
        self.srv.api.refuse = 401
        r, src, _ = self.run_source("format = openai-models\nendpoint = BASE\n"
                                    "credential = KEY\n")
        self.assertEqual((r.returncode, src["result"]), (1, "auth"), r.describe())

    def test_vertex_regions_bearer_and_page_token(self):
        def model(name, stage="GA"):
            return {"name": "publishers/anthropic/models/%s" % name, "versionId": "001",
                    "launchStage": stage}
        per_region = {"us-central1": [model("claude-opus-4-7"), model("claude-sonnet-4-6"),
                                      model("claude-haiku-4-5")],
                      "europe-west4": [model("claude-opus-4-7")]}
        for region, items in per_region.items():
            route = pages(items, 2, "pageToken")

            def vertex(query, headers, body, route=route):
                if headers.get("authorization") != "Bearer sk-test-0123456789":
                    return 401, {}
                _, page, nxt = route(query, headers, body)
                out = {"publisherModels": page}
                if nxt:
                    out["nextPageToken"] = nxt
                return 200, out
            self.srv.api.json_routes["/%s/v1beta1/publishers/*/models" % region] = vertex
        r, src, doc = self.run_source("format = vertex-model-garden\nendpoint = BASE/{region}\n"
                                      "regions = us-central1, europe-west4\ncredential = KEY\n")
        self.assertEqual((src["result"], src["observations"]), ("ok", 4), r.describe())
        self.assertEqual(len(self.srv.requests()), 3)  # two pages in one region, one in the other
        cells = {m["id"]: m["cells"]["gcp"] for m in doc["matrix"]["models"]}
        self.assertEqual(cells["anthropic/claude-opus-4-7"]["regions"],
                         ["europe-west4", "us-central1"])
        self.assertEqual(cells["anthropic/claude-haiku-4-5"]["regions"], ["us-central1"])

    def test_azure_post_with_continuation_token(self):
        items = [{"name": "model-%d" % i, "displayName": "Model %d" % i, "publisher": "Meta",
                  "lifecycle": "Generally Available", "deploymentOptions": ["Serverless API"],
                  "azureOffers": ["standard-paygo"], "deprecation": {}} for i in range(5)]
        route = pages(items, 2, None, "continuationToken")
        bodies = []

        def azure(query, headers, body):
            bodies.append(json.loads(body))
            if headers.get("content-type") != "application/json":
                return 415, {}
            _, page, nxt = route(query, headers, body)
            out = {"summaries": page, "totalCount": len(items)}
            if nxt:
                out["continuationToken"] = nxt
            return 200, out
        self.srv.api.json_routes["/asset-gallery/v1.0/models"] = azure
        r, src, _ = self.run_source("format = azure-foundry\nendpoint = BASE\n")
        self.assertEqual((src["result"], src["observations"]), ("ok", 5), r.describe())
        self.assertEqual([q["method"] for q in self.srv.requests()], ["POST"] * 3)
        # The same request each time, with the token the last page gave.
        self.assertNotIn("continuationToken", bodies[0])
        self.assertEqual([b.get("continuationToken") for b in bodies[1:]], ["2==", "4=="])
        self.assertEqual({json.dumps(dict(b, continuationToken=None), sort_keys=True)
                          for b in bodies}.__len__(), 1)
        # A server that hands back the same token would page forever: the poll fails.
        self.srv.api.log.clear()
        bodies.clear()
        self.srv.api.json_routes["/asset-gallery/v1.0/models"] = \
            lambda q, h, b: (200, {"summaries": items[:2], "continuationToken": "same"})
        r, src, _ = self.run_source("format = azure-foundry\nendpoint = BASE\n")
        self.assertEqual(src["result"], "error", r.describe())
        self.assertIn("repeats", src["error"])
        self.assertLessEqual(len(self.srv.requests()), 2)


if __name__ == "__main__":
    lwtest.main()
