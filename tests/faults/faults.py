#!/usr/bin/env python3
"""The permanent fault suite: hostile bodies, HTTP and header faults, kill -9 over a live
narrowing timeline, a full and a read-only state directory, control socket abuse. Every
fault has an expected outcome; the run prints a table "fault / expected / observed", how many
faults it tried, and fails on any miss.

  faults.py [--group NAME]...     run some groups (default: all); exit 1 on any miss
  LW_SEED=N                       repeat the random kill schedule of an earlier run

Groups that need root (the disk group mounts a small tmpfs in a private mount namespace)
report their faults as skipped without it. Every wait is bounded and waits on a condition
(a state file, a notify message, a line of stderr, a control reply), never on a guess.
"""

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import lwtest  # noqa: E402
import rawhttp  # noqa: E402

WAIT = 60  # bound on any single wait

ROWS = []  # (group, fault, expected, observed, ok)
DAEMON_LOGS = []  # stderr of every daemon run in daemon mode, checked at the end


def record(group, fault, expected, observed, ok=None):
    if ok is None:
        ok = expected == observed
    ROWS.append((group, fault, expected, observed, ok))
    return ok


def litellm_entry(provider):
    return {"litellm_provider": provider, "mode": "chat",
            "input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06}


def narrowing_snapshot(on_gcp, n=10):
    """claude-opus-4-7 on aws, and on gcp if "opus" is in on_gcp; n llama models on both
    (so one model leaving gcp stays well under the guard's max_removal); llama-K in on_gcp
    names llama models that stay on gcp when on_gcp holds any "llama-" names."""
    d = {"anthropic.claude-opus-4-7": litellm_entry("bedrock_converse")}
    if "opus" in on_gcp:
        d["vertex_ai/claude-opus-4-7@default"] = litellm_entry("vertex_ai-anthropic_models")
    some = any(x.startswith("llama-") for x in on_gcp)
    for i in range(n):
        name = "llama-%03d" % i
        d["meta.%s" % name] = litellm_entry("bedrock_converse")
        if not some or name in on_gcp:
            d["vertex_ai/meta/%s" % name] = litellm_entry("vertex_ai-llama_models")
    return d


RULE = "OneCloud"
RULES = """\
alert %s {
    when     clouds(available) == 1
    for      1 polls
    severity critical
    summary  "{model} only on {clouds(available)}"
}
""" % RULE


class Conn:
    """A raw Varlink connection: NUL-terminated JSON objects both ways."""

    def __init__(self, path, timeout=WAIT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def send(self, method, parameters=None, **flags):
        msg = {"method": method}
        if parameters is not None:
            msg["parameters"] = parameters
        msg.update(flags)
        self.sock.sendall(json.dumps(msg).encode() + b"\0")

    def recv(self):
        while b"\0" not in self.buf:
            data = self.sock.recv(1 << 20)
            if not data:
                return None
            self.buf += data
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method, parameters=None, **flags):
        self.send(method, parameters, **flags)
        return self.recv()

    def close(self):
        self.sock.close()


class Daemon:
    """lockwatchd in daemon mode with its own notify socket, stderr file and control
    socket."""

    count = 0

    def __init__(self, tmp, conf, state_dir, rules_dir, extra=()):
        Daemon.count += 1
        n = Daemon.count
        self.notify = lwtest.NotifySocket(tmp, "notify-%d" % n)
        self.err_path = tmp.join("stderr-%d" % n)
        self.err = open(self.err_path, "w")
        self.control = tmp.join("control-%d" % n)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path)
        env.pop("JOURNAL_STREAM", None)
        self.proc = subprocess.Popen(
            [lwtest.lockwatchd(), "--config", conf, "--state-dir", state_dir,
             "--rules-dir", rules_dir, "--socket", self.control] + list(extra),
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err)

    def stderr(self):
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def ready(self):
        """READY=1 within WAIT; False at once when the daemon has exited instead."""
        deadline = time.monotonic() + WAIT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.notify.wait_for(lambda m: "READY=1" in m.split("\n"),
                                    min(left, 0.5)) is not None:
                return True
            if self.proc.poll() is not None:
                return False

    def why_not_ready(self):
        """One line for a start that gave no READY=1: how it ended, and its last word."""
        rc = self.proc.poll()
        lines = [x for x in self.stderr().splitlines() if x.strip()]
        last = lines[-1] if lines else "(nothing on stderr)"
        how = ("still running after %d s" % WAIT if rc is None
               else "killed by signal %d" % -rc if rc < 0 else "exited with %d" % rc)
        return "no READY=1, %s: %s" % (how, last)

    def status_line(self, predicate, timeout=WAIT):
        """The first STATUS= value satisfying predicate, or None."""
        def match(m):
            for line in m.split("\n"):
                if line.startswith("STATUS=") and predicate(line[7:]):
                    return True
            return False
        m = self.notify.wait_for(match, timeout)
        if m is None:
            return None
        return [x[7:] for x in m.split("\n") if x.startswith("STATUS=")][0]

    def call(self, method, parameters=None):
        c = Conn(self.control)
        try:
            return c.call(method, parameters)
        finally:
            c.close()

    def alive(self):
        return self.proc.poll() is None

    def kill9(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=WAIT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=WAIT)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()
        self.notify.close()
        DAEMON_LOGS.append(self.stderr())


def write_atomic(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.replace(tmp, path)


def announcements(text, word):
    """Lines announcing the alert ([firing] or [resolved]) in a daemon's stderr."""
    return re.findall(r"(?m)^lockwatchd: \w+: \[%s\] %s .*$" % (re.escape(word), RULE), text)


# ---- bodies: every format, every bad body, on a first poll and after a good one --------------

DATA = os.path.join(lwtest.source_dir(), "tests", "data")
MAX_BODY = 30 * 1024 * 1024


def table_rows(n=10):
    return [("Model %02d" % i, "east us %d" % i) for i in range(n)]


def markdown(rows, header=("Model", "Regions")):
    out = "# Availability\n\n| %s | %s |\n|---|---|\n" % header
    for name, region in rows:
        out += "| %s | %s |\n" % (name, region)
    return out.encode()


def html(rows, header=("Model", "Regions")):
    out = ("<html><head><meta charset=\"utf-8\"></head><body><table><tr><th>%s</th>"
           "<th>%s</th></tr>\n" % header)
    for name, region in rows:
        out += "<tr><td>%s</td><td>%s</td></tr>\n" % (name, region)
    return (out + "</table></body></html>\n").encode()


def read(rel):
    with open(os.path.join(DATA, rel), "rb") as f:
        return f.read()


def drop(seq, share):
    """seq without share of its items (at least one kept unless share is 1)."""
    keep = len(seq) - int(round(len(seq) * share))
    return seq[:keep]


def rows_of(fmt, doc):
    """(container, keys) of the rows of doc: the dict or list the format reads rows from."""
    if fmt == "litellm":
        return [(doc, [k for k in doc if k != "sample_spec"])]
    if fmt == "bedrock-api-regions":
        return [(doc, list(doc))]
    if fmt == "models-dev":
        return [(p["models"], list(p["models"])) for p in doc.values()
                if isinstance(p, dict) and isinstance(p.get("models"), dict)]
    key = ROW_KEYS.get(fmt)
    lst = doc if key is None else doc[key]
    return [(lst, list(range(len(lst))))]


def remove_rows(fmt, good, share):
    doc = json.loads(good)
    for container, keys in rows_of(fmt, doc):
        gone = keys[len(drop(keys, share)):]
        if isinstance(container, dict):
            for k in gone:
                del container[k]
        else:
            del container[len(container) - len(gone):]
    if fmt == "bedrock-model-cards":
        doc["modelCount"] = len(doc["models"])
    return json.dumps(doc).encode()


def rename_key(fmt, good):
    """The key the format finds its rows (or its ids) under, renamed."""
    doc = json.loads(good)
    if fmt == "litellm":
        for v in doc.values():
            if isinstance(v, dict) and "litellm_provider" in v:
                v["provider_name"] = v.pop("litellm_provider")
    elif fmt == "models-dev":
        for v in doc.values():
            if isinstance(v, dict) and "models" in v:
                v["model_list"] = v.pop("models")
    elif fmt == "azure-models":
        for v in doc:
            if isinstance(v, dict) and "model" in v:
                v["mdl"] = v.pop("model")
    elif fmt == "bedrock-api-regions":
        for v in doc.values():
            for k in ("regions", "inference_types"):
                if k in v:
                    v[k + "_v2"] = v.pop(k)
    else:
        key = ROW_KEYS[fmt]
        doc[key + "_v2"] = doc.pop(key)
    return json.dumps(doc).encode()


def duplicate_keys(good):
    """The document's text with its first object member written twice."""
    doc = json.loads(good)
    obj = doc if isinstance(doc, dict) else doc[0]
    k = next(iter(obj))
    dup = json.dumps(k) + ": " + json.dumps(obj[k]) + ", "
    text = json.dumps(doc)
    i = text.index("{") + 1
    return (text[:i] + dup + text[i:]).encode()


def huge_string(good):
    doc = json.loads(good)
    big = "x" * (25 * 1024 * 1024)
    if isinstance(doc, dict):
        doc["zz-huge"] = big
    else:
        doc.append(big)
    return json.dumps(doc).encode()


ERROR_PAGE = (b"<html><head><title>503 Service Unavailable</title></head><body><h1>Service "
              b"Unavailable</h1><p>Please retry later.</p></body></html>\n")

# Where each format with a top-level row list keeps it.
ROW_KEYS = {"openrouter": "data", "bedrock-model-cards": "models", "bedrock-api": "modelSummaries",
            "json": "data", "azure-foundry": "summaries", "vertex-model-garden": "publisherModels",
            "anthropic-models": "data", "openai-models": "data", "gemini-models": "models"}
# What says "there is another page": a body read from a file is the whole listing.
PAGING_KEYS = ("nextToken", "continuationToken", "nextPageToken", "has_more", "first_id",
               "last_id", "totalCount")

JSON_FORMATS = [
    ("litellm", "catalogues/litellm-good.json", {}),
    ("models-dev", "catalogues/models-dev-good.json", {}),
    ("openrouter", "catalogues/openrouter-good.json", {}),
    ("bedrock-model-cards", "clouds/cards-good.json", {}),
    ("bedrock-api", "clouds/api-foundation-models.json", {}),
    ("azure-models", "clouds/azure-models.json", {}),
    # The official lists: the small wire-shaped seeds built from the captures.
    ("bedrock-api-regions", "../../fuzz/seeds/official-bedrock-regions.json", {}),
    ("azure-foundry", "../../fuzz/seeds/official-azure-foundry.json", {}),
    ("vertex-model-garden", "../../fuzz/seeds/official-vertex-garden.json", {}),
    ("anthropic-models", "../../fuzz/seeds/official-anthropic-models.json", {}),
    ("openai-models", "../../fuzz/seeds/official-openai-models.json", {}),
    ("gemini-models", "../../fuzz/seeds/official-gemini-models.json", {}),
    ("json", "../json/feed.json", {"rows": "data[*]", "provider": "azure",
                                   "columns": "id:model, host:provider, regions:regions"}),
]
TABLE_OPTS = {"provider": "azure", "columns": "Model:name, Regions:regions"}


def body_cases(fmt):
    """[(case, bytes, applied_on_first_poll)] for one format; the good body is first."""
    if fmt in ("markdown-table", "html-table"):
        mk = markdown if fmt == "markdown-table" else html
        rows = table_rows()
        good = mk(rows)
        deep = (b"<div>" * 100000) if fmt == "html-table" else (b"> " * 100000 + b"x\n")
        return good, [
            ("empty", b"", False), ("{}", b"{}", False), ("[]", b"[]", False),
            # A table cut short is a shorter table: on a first poll its rows are all there
            # is to go by; after a good poll the guard sees the removal.
            ("null", b"null", False), ("truncated", good[:len(good) // 3], True),
            ("HTML error page, status 200", ERROR_PAGE, False),
            ("renamed header", mk(rows, ("Model name", "Region list")), False),
            ("60% of rows removed", mk(drop(rows, 0.6)), True),
            ("100% of rows removed", mk([]), False),
            ("UTF-8 BOM", b"\xef\xbb\xbf" + good, True),
            ("invalid UTF-8 in a cell", good.replace(b"Model 03", b"Mod\xe9l 03"), True),
            ("oversize", good + b" " * (MAX_BODY + 1), False),
            ("nesting 100,000 deep", deep, False),
            ("a 25 MB cell", mk(rows + [("y" * (25 * 1024 * 1024), "east us")]), True),
            ("a row twice", mk(rows + rows[:1]), True),
        ]
    rel, _ = [(r, o) for f, r, o in JSON_FORMATS if f == fmt][0]
    good = read(os.path.join("adapters", rel))
    doc = json.loads(good)
    if isinstance(doc, dict) and any(k in doc for k in PAGING_KEYS):
        good = json.dumps({k: v for k, v in doc.items() if k not in PAGING_KEYS}).encode()
    return good, [
        ("empty", b"", False), ("{}", b"{}", False), ("[]", b"[]", False),
        ("null", b"null", False), ("truncated", good[:len(good) // 2], False),
        ("HTML error page, status 200", ERROR_PAGE, False),
        ("renamed key", rename_key(fmt, good), False),
        ("60% of rows removed", remove_rows(fmt, good, 0.6), True),
        ("100% of rows removed", remove_rows(fmt, good, 1.0), False),
        ("UTF-8 BOM", b"\xef\xbb\xbf" + good, True),
        ("invalid UTF-8", good.replace(b'"', b'"\xe9', 3), False),
        ("oversize", good + b" " * (MAX_BODY + 1), False),
        ("nesting 100,000 deep", b"[" * 100000 + b"]" * 100000, False),
        ("a 25 MB string", huge_string(good), True),
        ("duplicate keys", duplicate_keys(good), True),
    ]


def projection(doc):
    """The matrix as cells and what they say, without times."""
    out = {}
    for m in doc["matrix"]["models"]:
        out[m["id"]] = {p: (c["state"], tuple(c.get("regions") or ()))
                        for p, c in m["cells"].items()}
    return out


def once_json(conf, state):
    run = lwtest.run_daemon(["--once", "--json", "--config", conf, "--state-dir", state,
                             "--rules-dir", lwtest.source_dir() + "/rules"], timeout=WAIT)
    crash = None
    if run.timed_out:
        crash = "timed out"
    elif run.returncode not in (0, 1):
        crash = "exit %s" % run.returncode
    elif lwtest.sanitizer_report(run):
        crash = lwtest.sanitizer_report(run)
    elif "out of memory" in run.stderr:
        crash = "out of memory"
    if crash:
        return crash, None, None
    doc = json.loads(run.stdout)
    return None, projection(doc), doc["sources"][0]["result"]


def group_bodies():
    tmp = lwtest.TempDir("lw-faults-bodies-")
    try:
        formats = [f for f, _, _ in JSON_FORMATS] + ["markdown-table", "html-table"]
        for fmt in formats:
            opts = dict([(f, o) for f, _, o in JSON_FORMATS] or [])\
                .get(fmt, TABLE_OPTS if fmt.endswith("table") else {})
            good, cases = body_cases(fmt)
            for case, bad, applies in cases:
                d = tmp.mkdir(fmt, re.sub(r"\W+", "-", case))
                body = os.path.join(d, "body")
                keys = {"url": body, "format": fmt}
                keys.update(opts)
                conf = lwtest.write_config(tmp, {"max_body": str(MAX_BODY)},
                                           [("src", keys)],
                                           name=os.path.join(os.path.relpath(d, tmp.path),
                                                             "lw.conf"))
                # First poll.
                state = os.path.join(d, "first")
                write_atomic(body, bad)
                crash, p, result = once_json(conf, state)
                want = "applied" if applies else "nothing applied"
                got = crash or ("applied" if p else "nothing applied")
                record("bodies", "%s: %s, first poll" % (fmt, case), want,
                       got if got != want else want, got == want)
                # After a good poll.
                state = os.path.join(d, "after")
                write_atomic(body, good)
                crash0, p0, r0 = once_json(conf, state)
                write_atomic(body, bad)
                crash, p1, result = once_json(conf, state)
                if crash0 or not p0:
                    got = "good poll failed: %s" % (crash0 or r0)
                elif crash:
                    got = crash
                elif case == "invalid UTF-8 in a cell":
                    extra = set(p1) - set(p0)
                    # The cell's id, repaired, is a row of its own; the old one waits
                    # out removal_polls.
                    got = ("one new row, ids UTF-8" if p1 and len(extra) == 1
                           and set(p0) <= set(p1) else "changed: %s" % sorted(extra))
                else:
                    got = "unchanged" if p1 == p0 else "changed (%s)" % result
                want = ("one new row, ids UTF-8" if case == "invalid UTF-8 in a cell"
                        else "unchanged")
                record("bodies", "%s: %s, after a good poll" % (fmt, case), want,
                       got if got == want else "%s [%s]" % (got, result), got == want)
    finally:
        tmp.cleanup()


# ---- http and headers: what a server can do wrong, after a good poll -----------------------

GOOD = read("adapters/catalogues/litellm-good.json") if os.path.isdir(DATA) else b""


def reset_mid_body(head, sock):
    import struct
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(GOOD) + GOOD[:100])
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def chunked_cut(head, sock):
    sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 + b"%x\r\n" % 200 + GOOD[:200] + b"\r\n" + b"%x\r\n" % 500 + GOOD[200:300])


def length_short(head, sock):
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                 % (len(GOOD) // 2) + GOOD)


def corrupt_gzip(head, sock):
    import gzip
    z = bytearray(gzip.compress(GOOD))
    for i in range(20, min(len(z) - 8, 60)):
        z[i] ^= 0x5a
    sock.sendall(rawhttp.response(200, bytes(z), [(b"Content-Encoding", b"gzip")]))


def http_faults(server):
    """[(fault, handler, allowed result classes)]."""
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 5))
    return [
        ("500", rawhttp.fixed(500, b"oops"), {"http-500"}),
        ("503, Retry-After in seconds", rawhttp.fixed(503, b"busy", [(b"Retry-After", b"5")]),
         {"http-503"}),
        ("429, Retry-After as a date",
         rawhttp.fixed(429, b"slow down", [(b"Retry-After", date.encode())]), {"http-429"}),
        ("reset mid-body", reset_mid_body, {"truncated", "error"}),
        ("Content-Length too long", rawhttp.fixed(200, GOOD, [(b"Content-Length",
                                                               b"%d" % (len(GOOD) * 2))],
                                                  length=False), {"truncated", "error"}),
        ("Content-Length too short", length_short, {"parse-error"}),
        ("chunked body cut", chunked_cut, {"truncated", "error"}),
        ("slow drip", rawhttp.drip(GOOD, 0.6), {"timeout"}),
        ("redirect loop", rawhttp.fixed(302, b"", [(b"Location", b"/fault")]),
         {"redirects"}),
        ("redirect to another host",
         rawhttp.fixed(302, b"", [(b"Location", ("http://localhost:%d/good" % server.port)
                                   .encode())]), {"ok"}),
        ("redirect to file://", rawhttp.fixed(302, b"", [(b"Location", b"file:///etc/passwd")]),
         {"error", "redirects"}),
        ("corrupt gzip", corrupt_gzip, {"error"}),
        ("gzip bomb", rawhttp.gzip_bomb(64 * 1024 * 1024), {"too-large"}),
        ("304 without validators", rawhttp.fixed(304, b"", length=False),
         {"not-modified", "error", "http-304"}),
    ]


def header_faults():
    ok = {"ok"}
    return [
        ("ETag not UTF-8", [(b"ETag", b'"caf\xe9"')], ok),
        ("Last-Modified not UTF-8", [(b"Last-Modified", b"Wed, 21 Oct 2015 07:28:00 GM\xe9")],
         ok),
        ("ETag of 4 KiB", [(b"ETag", b'"' + b"e" * 4096 + b'"')], ok),
        ("ETag with a control character", [(b"ETag", b'"a\x01b"')], ok),
        ("two ETags", [(b"ETag", b'"one"'), (b"ETag", b'"two"')], ok),
        ("Retry-After garbage on a 200", [(b"Retry-After", b"\xff\xfe soon")], ok),
        ("Retry-After 10^20 s on a 200", [(b"Retry-After", b"1" + b"0" * 20)], ok),
        ("1,000 headers", [(b"X-H%d" % i, b"v") for i in range(1000)], ok),
        ("a header line of 90 KiB", [(b"X-Big", b"b" * (90 * 1024))], ok),
        ("a header without a colon", [(b"NoColonHere", b"")], ok),
    ]


def group_http():
    tmp = lwtest.TempDir("lw-faults-http-")
    server = rawhttp.RawServer({"/good": rawhttp.fixed(200, GOOD)})
    try:
        daemon = {"retries": 1, "retry_backoff": "100ms", "retry_backoff_max": "1s",
                  "timeout": "10s", "low_speed_time": "1s", "low_speed_limit": 100,
                  "max_redirects": 5, "max_body": "16M", "connect_timeout": "2s"}
        cases = [("http", f, h, allowed, []) for f, h, allowed in http_faults(server)]
        cases += [("headers", f, rawhttp.fixed(200, GOOD, hdrs), allowed, hdrs)
                  for f, hdrs, allowed in header_faults()]
        for i, (group, fault, handler, allowed, hdrs) in enumerate(cases):
            server.routes["/fault"] = handler
            state = tmp.mkdir("s%d" % i, "state")
            good = lwtest.write_config(tmp, daemon, [("src", {"url": server.url("/good"),
                                                              "format": "litellm"})],
                                       name="s%d/good.conf" % i)
            bad = lwtest.write_config(tmp, daemon, [("src", {"url": server.url("/fault"),
                                                             "format": "litellm"})],
                                      name="s%d/bad.conf" % i)
            crash0, p0, _ = once_json(good, state)
            crash, p1, result = once_json(bad, state)
            want = "unchanged, " + "/".join(sorted(allowed))
            if crash0 or not p0:
                got = "good poll failed: %s" % crash0
            elif crash:
                got = crash
            else:
                got = "%s, %s" % ("unchanged" if p1 == p0 else "changed", result)
            ok = got.startswith("unchanged, ") and result in allowed
            if ok and group == "headers":
                # Whatever was kept of the headers is UTF-8, and the next start reads it.
                try:
                    src = lwtest.read_state(state)["sources"]["src"]
                except (UnicodeDecodeError, ValueError, KeyError) as e:
                    ok, got = False, "state file: %s" % e
                else:
                    etag = src["etag"]
                    if fault.startswith("two ETags") and etag != '"two"':
                        ok, got = False, "etag %r" % etag
                    elif (fault.startswith("ETag") or fault.startswith("Last-Modified")) \
                            and (etag or src["last_modified"]):
                        ok, got = False, "validator kept: %r %r" % (etag, src["last_modified"])
            record(group, fault, want, got, ok)
    finally:
        server.stop()
        tmp.cleanup()


# ---- kills: random kill -9 over a live narrowing timeline -----------------------------------

N_LLAMA = 10


def timeline(step):
    """Step k: llama-000 .. llama-(k-1) have left gcp (one model per step, 5% of the rows)."""
    stay = {"opus"} | {"llama-%03d" % i for i in range(step, N_LLAMA)} | {"llama-none"}
    return narrowing_snapshot(stay, n=N_LLAMA)


def saved_alert(state_dir, key):
    try:
        st = lwtest.read_state(state_dir)
    except ValueError:
        return "torn"
    if not st:
        return None
    for a in st["alerts"]["alerts"]:
        if a["rule"] == RULE and a["key"] == key:
            return a["phase"]
    return None


def group_kills():
    seed = int(os.environ.get("LW_SEED") or random.SystemRandom().randrange(1 << 32))
    rnd = random.Random(seed)
    tmp = lwtest.TempDir("lw-faults-kills-")
    logs, torn, ready_missed = [], 0, 0
    kills = 50
    try:
        state = tmp.mkdir("state")
        snap = tmp.join("snapshots", "litellm.json")
        rules_dir = tmp.mkdir("no-shipped-rules")
        rules = tmp.write("rules/one.rules", RULES)
        conf = lwtest.write_config(tmp, {"rules": rules, "interval": "1s",
                                         "evaluation_interval": "1s", "retries": 0},
                                   [("litellm", {"url": "file://" + snap,
                                                 "format": "litellm"})])
        step = 1
        write_atomic(snap, json.dumps(timeline(step)))
        for _ in range(kills):
            d = Daemon(tmp, conf, state, rules_dir)
            if not d.ready():
                ready_missed += 1
            time.sleep(rnd.uniform(0.3, 3.0))  # the kill moment is the random input
            d.kill9()
            logs.append(d.stderr())
            d.close()
            phase = saved_alert(state, "meta/llama-%03d" % (step - 1))
            torn += phase == "torn"
            # The next model narrows once the last one's alert is saved as firing.
            if phase == "firing" and step < N_LLAMA:
                step += 1
                write_atomic(snap, json.dumps(timeline(step)))
        # A last daemon runs until the last step's alert fires, then stops cleanly.
        d = Daemon(tmp, conf, state, rules_dir)
        d.ready()
        last = "meta/llama-%03d" % (step - 1)
        done = lwtest.wait_until(lambda: saved_alert(state, last) == "firing", WAIT)
        d.stop()
        logs.append(d.stderr())
        d.close()
    finally:
        tmp.cleanup()

    counts = {}
    for log in logs:
        for line in announcements(log, "firing"):
            key = line.split("[firing] %s " % RULE, 1)[1].split(":", 1)[0]
            counts[key] = counts.get(key, 0) + 1
    narrowed = ["meta/llama-%03d" % i for i in range(step)]
    dup = sorted(k for k, n in counts.items() if n > 1)
    lost = sorted(k for k in narrowed if k not in counts)
    stray = sorted(k for k in counts if k not in narrowed)
    record("kills", "%d random kill -9 (LW_SEED=%d): torn state files" % (kills, seed),
           "0", "%d" % torn)
    record("kills", "%d random kill -9: models narrowed" % kills, "at least 3 of %d"
           % N_LLAMA, "%d of %d" % (step, N_LLAMA), step >= 3 and bool(done))
    record("kills", "%d random kill -9: duplicate announcements" % kills, "none",
           "none" if not dup else "%s" % ", ".join("%s x%d" % (k, counts[k]) for k in dup))
    record("kills", "%d random kill -9: lost announcements" % kills, "none",
           "none" if not lost and not stray else "lost %s, stray %s" % (lost, stray))


# ---- control: abuse of the control socket -------------------------------------------------

def group_control():
    tmp = lwtest.TempDir("lw-faults-control-")
    d = None
    held = []
    try:
        state = tmp.mkdir("state")
        snap = tmp.join("snapshots", "litellm.json")
        write_atomic(snap, json.dumps(timeline(0)))
        rules_dir = tmp.mkdir("no-shipped-rules")
        rules = tmp.write("rules/one.rules", RULES)
        conf = lwtest.write_config(tmp, {"rules": rules, "interval": "1s",
                                         "evaluation_interval": "1s", "retries": 0},
                                   [("litellm", {"url": "file://" + snap,
                                                 "format": "litellm"})])
        d = Daemon(tmp, conf, state, rules_dir)
        if not d.ready():
            record("control", "start", "ready", "no READY=1", False)
            return

        def answers():
            try:
                r = d.call("io.lockwatch.GetStatus")
                return bool(r and "status" in r.get("parameters", {}))
            except OSError:
                return False

        def verdict(extra=""):
            return ("alive, answers" if d.alive() and answers()
                    else "alive=%s answers=False%s" % (d.alive(), extra))

        # 300 clients at once, each asking; more than the cap are closed at once.
        conns, replies = [], 0
        for _ in range(300):
            try:
                c = Conn(d.control, timeout=10)
                c.send("io.lockwatch.GetStatus")
                conns.append(c)
            except OSError:
                pass
        for c in conns:
            try:
                replies += c.recv() is not None
            except (OSError, ValueError):
                pass
            c.close()
        record("control", "300 clients at once", "alive, answers",
               verdict(" (%d replies)" % replies))

        # Idle clients hold their slots, and a new one is still answered.
        for _ in range(100):
            held.append(Conn(d.control, timeout=10))
        record("control", "100 idle clients", "alive, answers", verdict())
        for c in held:
            c.close()
        held = []

        # Half a message, then the client goes away.
        c = Conn(d.control)
        c.sock.sendall(b'{"method":"io.lockwatch.GetSta')
        c.close()
        record("control", "half a message, then close", "alive, answers", verdict())

        # 10 MB without a terminator: the server drops the client, not itself.
        c = Conn(d.control, timeout=WAIT)
        dropped = False
        try:
            c.sock.sendall(b'{"method":"' + b"x" * (10 * 1024 * 1024))
            r = c.recv()  # an error reply, or the end of the stream
            dropped = r is None or "error" in r
        except (OSError, ValueError):
            dropped = True  # reset while sending: dropped too
        c.close()
        record("control", "a 10 MB message", "dropped; alive, answers",
               ("dropped; " if dropped else "kept; ") + verdict())

        # Pipelining: 100 calls in one write, 100 replies in order.
        c = Conn(d.control)
        c.sock.sendall(b"".join(json.dumps({"method": "io.lockwatch.GetStatus"}).encode()
                                + b"\0" for _ in range(100)))
        got = 0
        try:
            for _ in range(100):
                r = c.recv()
                got += bool(r and "status" in r.get("parameters", {}))
        except (OSError, ValueError):
            pass
        c.close()
        record("control", "100 pipelined calls", "100 replies", "%d replies" % got)

        # A subscriber that never reads, while transitions happen: others are served.
        sub = Conn(d.control)
        sub.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sub.send("io.lockwatch.Subscribe", more=True)
        held.append(sub)
        for step in range(1, 6):
            write_atomic(snap, json.dumps(timeline(step)))
            for _ in range(20):
                try:
                    d.call("io.lockwatch.Poll")
                    d.call("io.lockwatch.GetHistory")
                except OSError:
                    pass
        record("control", "a subscriber that never reads", "alive, answers", verdict())
    finally:
        for c in held:
            c.close()
        if d:
            d.stop()
            d.close()
        tmp.cleanup()


# ---- disk: a full and a read-only state directory ------------------------------------------

def group_disk():
    if os.geteuid() != 0:
        for f in ("state directory full", "state directory read-only"):
            record("disk", f, "recovered, announced once", "skipped (needs root)", True)
        return
    # The tmpfs lives in a private mount namespace: run the group's body inside one.
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                          os.path.abspath(__file__), "--inner-disk"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=600)
    rows = []
    for line in out.stdout.splitlines():
        if line.startswith("ROW "):
            rows.append(json.loads(line[4:]))
    if not rows or out.returncode != 0:
        record("disk", "state directory faults", "ran", "failed to run: rc %d" % out.returncode,
               False)
    if not rows or out.returncode != 0 or not all(r[4] for r in rows):
        sys.stderr.write(out.stderr[-5000:])
    for r in rows:
        record(*r)


def fill(path):
    """Fill the file system holding path; returns the filler's path."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def inner_disk():
    tmp = lwtest.TempDir("lw-faults-disk-")
    try:
        state = tmp.mkdir("state")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", state],
                       check=True)
        try:
            disk_scenario(tmp, state)
        except Exception as e:  # the rows so far still count, and this one misses
            record("disk", "scenario", "runs to the end", "%s: %s" % (type(e).__name__, e),
                   False)
        finally:
            subprocess.run(["umount", "-l", state])
    finally:
        tmp.cleanup()
    reports = [r for r in (lwtest.sanitizer_report(lwtest.Run([], 0, "", log, 0, False))
                           for log in DAEMON_LOGS) if r]
    record("disk", "sanitizer reports in %d daemon runs" % len(DAEMON_LOGS), "none",
           "none" if not reports else reports[0])
    for r in ROWS:
        print("ROW " + json.dumps(r[:4] + (bool(r[4]),)))


def disk_scenario(tmp, state):
    snap = tmp.join("snapshots", "litellm.json")
    write_atomic(snap, json.dumps(narrowing_snapshot({"opus"})))
    rules_dir = tmp.mkdir("no-shipped-rules")
    rules = tmp.write("rules/one.rules", RULES)
    conf = lwtest.write_config(tmp, {"rules": rules, "interval": "1s",
                                     "evaluation_interval": "1s", "retries": 0},
                               [("litellm", {"url": "file://" + snap, "format": "litellm"})])
    state_path = os.path.join(state, "state.snapshot")
    logs = []
    key = "anthropic/claude-opus-4-7"

    def start():
        d = Daemon(tmp, conf, state, rules_dir)
        if not d.ready():
            why = d.why_not_ready()
            sys.stderr.write(d.stderr()[-5000:])
            d.close()
            raise RuntimeError(why)
        return d

    def firing_now(d):
        r = d.call("io.lockwatch.ListAlerts", {"state": "firing"})
        alerts = (r or {}).get("parameters", {}).get("alerts", [])
        return any(a.get("key") == key for a in alerts)

    def resolved_now(d):
        r = d.call("io.lockwatch.ListAlerts", {"state": "firing"})
        alerts = (r or {}).get("parameters", {}).get("alerts", [])
        return not any(a.get("key") == key for a in alerts)

    # A first daemon saves a healthy state.
    d = start()
    ok = lwtest.wait_until(lambda: os.path.exists(state_path), WAIT)
    d.kill9()
    logs.append(d.stderr())
    d.close()
    if not ok:
        record("disk", "healthy start", "state saved", "never saved", False)
        return

    # -- full ----------------------------------------------------------------------------
    # A kill between a state save and its history write leaves the history behind the
    # state: made here by taking the history's records away, then the disk fills.
    hist = os.path.join(state, "history")
    for name in os.listdir(hist):
        os.unlink(os.path.join(hist, name))
    filler = fill(state)
    write_atomic(snap, json.dumps(narrowing_snapshot(set())))  # opus leaves gcp
    d = start()

    def recorded(d):
        """meta/llama-000 in the matrix rebuilt from the history as of now."""
        r = d.call("io.lockwatch.GetMatrixAt", {"at": int(time.time() * 1e6) + 1,
                                                  "model": "meta/llama-000"})
        return (r or {}).get("parameters", {}).get("shown") == 1

    behind = recorded(d)
    fired = lwtest.wait_until(lambda: firing_now(d), WAIT)
    status = d.status_line(lambda s: "state not saved since" in s)
    gs = d.call("io.lockwatch.GetStatus")["parameters"]["status"]
    record("disk", "full: STATUS= while saves fail", "says since when and why",
           "says since when and why" if status and "No space left on device" in status
           else "STATUS=%r" % status)
    record("disk", "full: GetStatus while saves fail",
           "state_saved false, error, held > 0",
           "state_saved false, error, held > 0" if fired and not gs["state_saved"]
           and "No space left" in (gs["state_error"] or "") and gs["held_announcements"] > 0
           and gs["state_unsaved_since"] else json.dumps(gs)[:300])
    log = d.stderr()
    record("disk", "full: the failure is announced", "one [unsaved] line",
           "%d [unsaved] line(s)" % len(re.findall(r"\[unsaved\]", log))
           if len(re.findall(r"\[unsaved\]", log)) != 1 else "one [unsaved] line")
    record("disk", "full: the alert waits for its state", "0 [firing] lines",
           "%d [firing] lines" % len(announcements(log, "firing")))
    d.kill9()
    logs.append(d.stderr())
    d.close()

    # Restarted still full: it evaluates again and holds again; then space returns.
    d = start()
    lwtest.wait_until(lambda: firing_now(d), WAIT)
    os.unlink(filler)
    saved = lwtest.wait_until(lambda: announcements(d.stderr(), "firing"), WAIT)
    status = d.status_line(lambda s: "not saved" not in s, timeout=WAIT)
    record("disk", "full, then space returns (same process)", "saved, alert announced, "
           "STATUS= clear",
           "saved, alert announced, STATUS= clear" if saved and status and "[saved]" in
           d.stderr() else "saved=%r status=%r" % (bool(saved), status))
    caught = lwtest.wait_until(lambda: recorded(d), WAIT)
    record("disk", "full: a start with the history behind the state",
           "starts; history written once space returns",
           "starts; history written once space returns" if not behind and caught
           else "in the history while full: %r; after: %r" % (behind, bool(caught)))
    d.kill9()
    logs.append(d.stderr())
    d.close()

    # A kill -9 after the recovery: nothing announced again.
    d = start()
    gen = lwtest.wait_until(lambda: firing_now(d), WAIT)
    rounds = d.status_line(lambda s: True)
    time.sleep(0)  # nothing to wait for: the evaluation that could re-announce is done
    d.stop()
    logs.append(d.stderr())
    d.close()
    total = sum(len(announcements(x, "firing")) for x in logs)
    record("disk", "full: kill -9 while held, restarts", "announced exactly once",
           "announced exactly once" if total == 1 and gen and rounds is not None
           else "announced %d times" % total)

    # -- read-only ---------------------------------------------------------------------
    logs = []
    d = start()
    lwtest.wait_until(lambda: firing_now(d), WAIT)
    subprocess.run(["mount", "-o", "remount,ro", state], check=True)
    write_atomic(snap, json.dumps(narrowing_snapshot({"opus"})))  # back on gcp: resolves
    lwtest.wait_until(lambda: resolved_now(d), WAIT)
    status = d.status_line(lambda s: "state not saved since" in s)
    record("disk", "read-only: STATUS= while saves fail", "says since when and why",
           "says since when and why" if status and "Read-only file system" in status
           else "STATUS=%r" % status)
    record("disk", "read-only: the resolution waits for its state", "0 [resolved] lines",
           "%d [resolved] lines" % len(announcements(d.stderr(), "resolved")))
    d.kill9()
    logs.append(d.stderr())
    d.close()

    # A start on a read-only state directory is refused with one line saying what to do.
    run = lwtest.run_daemon(["--config", conf, "--state-dir", state, "--rules-dir", rules_dir,
                             "--socket", tmp.join("control-refused")], timeout=WAIT)
    lines = [x for x in run.stderr.splitlines() if x.strip()]
    record("disk", "read-only: a start", "refused, one line naming the fix",
           "refused, one line naming the fix" if run.returncode not in (0, None)
           and len(lines) == 1 and "not writable" in lines[0] and "make it writable" in lines[0]
           else "rc %r: %r" % (run.returncode, lines[:3]))

    subprocess.run(["mount", "-o", "remount,rw", state], check=True)
    d = start()
    resolved = lwtest.wait_until(lambda: announcements(d.stderr(), "resolved"), WAIT)
    # In the same process: read-only, a transition held, writable again.
    subprocess.run(["mount", "-o", "remount,ro", state], check=True)
    write_atomic(snap, json.dumps(narrowing_snapshot(set())))
    held = lwtest.wait_until(lambda: firing_now(d), WAIT)
    silent = not announcements(d.stderr(), "firing")
    subprocess.run(["mount", "-o", "remount,rw", state], check=True)
    saved = lwtest.wait_until(lambda: announcements(d.stderr(), "firing"), WAIT)
    status = d.status_line(lambda s: "not saved" not in s, timeout=WAIT)
    record("disk", "read-only, then writable (same process)", "held, then announced",
           "held, then announced" if resolved and held and silent and saved and status
           else "resolved=%r held=%r silent=%r saved=%r status=%r"
           % (bool(resolved), bool(held), silent, bool(saved), status))
    d.kill9()
    logs.append(d.stderr())
    d.close()
    d = start()
    lwtest.wait_until(lambda: firing_now(d), WAIT)
    d.stop()
    logs.append(d.stderr())
    d.close()
    for word in ("resolved", "firing"):
        total = sum(len(announcements(x, word)) for x in logs)
        record("disk", "read-only: kill -9 while held, restarts", "%s exactly once" % word,
               "%s exactly once" % word if total == 1 else "%s %d times" % (word, total))


# ---- the run -----------------------------------------------------------------------------

GROUPS = [
    ("bodies", group_bodies),
    ("http", group_http),
    ("kills", group_kills),
    ("disk", group_disk),
    ("control", group_control),
]


def print_table():
    wf = max([len("fault")] + [len(r[0]) + 2 + len(r[1]) for r in ROWS])
    we = max([len("expected")] + [len(r[2]) for r in ROWS])
    print("%-*s  %-*s  %s" % (wf, "fault", we, "expected", "observed"))
    for group, fault, expected, observed, ok in ROWS:
        first = observed.split("\n")[0]
        print("%-*s  %-*s  %s%s" % (wf, group + ": " + fault, we, expected, first,
                                    "" if ok else "   <-- MISS"))
    misses = sum(1 for r in ROWS if not r[4])
    print("%d faults tried, %d as expected, %d missed" % (len(ROWS), len(ROWS) - misses, misses))
    return misses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--group", action="append", default=[])
    ap.add_argument("--inner-disk", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    lwtest.require_daemon()
    if args.inner_disk:
        inner_disk()
        return 0
    chosen = args.group or [g for g, _ in GROUPS]
    start = time.monotonic()
    for name, fn in GROUPS:
        if name in chosen:
            fn()
    if DAEMON_LOGS:
        reports = [r for r in (lwtest.sanitizer_report(lwtest.Run([], 0, "", log, 0, False))
                               for log in DAEMON_LOGS) if r]
        record("all", "sanitizer reports in %d daemon runs" % len(DAEMON_LOGS), "none",
               "none" if not reports else reports[0])
    misses = print_table()
    print("fault suite: %.0f s" % (time.monotonic() - start))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
