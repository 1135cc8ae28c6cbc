#!/usr/bin/env python3
"""The control socket under load, against a real daemon holding a large matrix (20,000
synthetic models from a generated LiteLLM price map read through a file:// URL): GetMatrix,
GetMatrixAt (the matrix rebuilt from the history its first poll wrote) and GetHistory
streamed with "more" (raw Varlink and lockwatchctl), a reply too large to send whole, a
matrix that changes while it streams, GetStatus latency while big streams run (and the
longest wait of a GetStatus caller while GetMatrixAt rebuilds and sends 20,000 models), the
idle timeout, the per-uid connection cap with root still let in, and a pipelining client
that reads slowly (paused, never dropped)."""

import json
import multiprocessing
import os
import pwd
import select
import socket
import subprocess
import sys
import threading
import time
import unittest
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402
from test_control import Conn, Daemon  # noqa: E402

LOCKWATCHCTL = os.environ.get("LOCKWATCHCTL", "build/lockwatchctl")
WAIT = 120.0  # upper bound for any wait (sanitizer builds are slow); never a sleep
MODELS = 20000
IDLE = 5.0  # the daemon's idle timeout here, seconds
CHUNK_ROWS = 500  # CONTROL_CHUNK_ROWS
MAX_OUTPUT = 4 * 1024 * 1024  # CONTROL_MAX_OUTPUT
PART_BYTES = 256 * 1024 + 64 * 1024  # CONTROL_CHUNK_BYTES and one row, generously


def price_map(models, drop=()):
    """A LiteLLM price map: each synthetic model on its vendor's API, Bedrock and Vertex."""
    doc = {}
    for i in range(models):
        name = "claude-synth-%05d" % i
        if i not in drop:
            doc[name] = {"litellm_provider": "anthropic", "mode": "chat",
                         "input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06}
        doc["anthropic." + name] = {"litellm_provider": "bedrock_converse", "mode": "chat"}
        doc["vertex_ai/%s@default" % name] = {"litellm_provider": "vertex_ai-anthropic_models",
                                              "mode": "chat"}
    return doc


def stream(conn, method, parameters=None):
    """Call with "more" and collect every reply up to the one without "continues"."""
    conn.send(method, parameters or {}, more=True)
    replies = []
    while True:
        r = conn.recv()
        if r is None:
            raise AssertionError("the stream ended without a last reply after %d" % len(replies))
        replies.append(r)
        if "error" in r or not r.get("continues"):
            return replies


def as_uid(uid, path, count, pipes):
    """In a child: become uid, open count connections, check each answers, then report
    {answered, refused: the first refusal} on the report pipe and keep the connections until
    the hold pipe's writing end is closed. pipes: (hold_r, hold_w, report_r, report_w)."""
    hold_r, hold_w, report_r, report_w = pipes
    pid = os.fork()
    if pid:
        return pid
    os.close(hold_w)  # else the child itself would keep its hold pipe open
    os.close(report_r)
    out = {"answered": 0, "refused": None}
    conns = []
    try:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(uid)
        for _ in range(count):
            c = Conn(path, timeout=WAIT)
            conns.append(c)
            try:
                r = c.call("org.varlink.service.GetInfo", {})
            except (BrokenPipeError, ConnectionResetError):
                r = c.recv()
            if r is not None and "error" not in r:
                out["answered"] += 1
            elif out["refused"] is None:
                out["refused"] = r
        os.write(report_w, json.dumps(out).encode() + b"\n")
        os.read(hold_r, 1)  # returns when the parent closes its end
        os._exit(0)
    except BaseException as e:  # report anything to the parent
        os.write(report_w, json.dumps({"exception": repr(e)}).encode() + b"\n")
        os._exit(1)


def status_caller(path, stop, ready, out):
    """In a child: GetStatus, one call after another, until stop is set; then send out, for
    every call but the first, the monotonic times of the reply before it and of its own reply.
    ready is set after the tenth."""
    c = Conn(path, timeout=WAIT)
    times = []
    while not stop.is_set():
        t = time.monotonic()
        c.call("io.lockwatch.GetStatus")
        times.append((t, time.monotonic()))
        if len(times) == 10:
            ready.set()
    # Each call is sent as soon as the reply before it came: it waits from that reply on.
    out.send([(times[i - 1][1], times[i][1]) for i in range(1, len(times))])
    c.close()


def read_line(fd):
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return json.loads(data)


class StreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lwtest.require_daemon()
        cls.tmp = lwtest.TempDir("lw-stream-")
        os.chmod(cls.tmp.path, 0o755)  # other uids must reach the socket
        cls.body = cls.tmp.join("synth.json")
        with open(cls.body, "w") as f:
            json.dump(price_map(MODELS), f)
        conf = lwtest.write_config(cls.tmp, {"interval": "1d", "max_body": "64M"},
                                   [("synth", {"url": "file://" + cls.body,
                                               "format": "litellm"})])
        os.environ["LOCKWATCH_CONTROL_IDLE_TIMEOUT"] = "%gs" % IDLE
        try:
            cls.daemon = Daemon(cls.tmp.path, conf)
        finally:
            del os.environ["LOCKWATCH_CONTROL_IDLE_TIMEOUT"]
        cls.status = cls.daemon.wait_first_round()
        os.chmod(os.path.dirname(cls.daemon.socket), 0o755)
        os.chmod(cls.daemon.socket, 0o666)

    @classmethod
    def tearDownClass(cls):
        log = cls.daemon.stop()
        code = cls.daemon.proc.returncode
        cls.tmp.cleanup()
        for s in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if s in log:
                raise AssertionError("sanitizer report in the daemon's log:\n" + log)
        if code != 0:
            raise AssertionError("lockwatchd exited %s:\n%s" % (code, log))

    def conn(self):
        c = Conn(self.daemon.socket, timeout=WAIT)
        self.addCleanup(c.close)
        return c

    def ctl(self, *args):
        env = dict(os.environ)
        env.pop("COLUMNS", None)  # no width: the grid as the raw calls get it
        return subprocess.run([LOCKWATCHCTL, "--socket", self.daemon.socket] + list(args),
                              capture_output=True, timeout=WAIT, env=env)

    def models(self):
        return self.conn().call("io.lockwatch.GetStatus")["parameters"]["status"]["models"]

    # ---- streaming ------------------------------------------------------------------------

    def test_matrix_streams_in_parts(self):
        self.assertGreaterEqual(self.status["models"], MODELS)
        parts = stream(self.conn(), "io.lockwatch.GetMatrix")
        self.assertGreaterEqual(len(parts), self.status["models"] // CHUNK_ROWS)
        first = parts[0]["parameters"]["matrix"]
        self.assertEqual(first["schema"], "lockwatch.matrix/1")
        self.assertEqual({p["id"] for p in first["providers"]}, {"anthropic", "aws", "gcp"})
        ids = []
        for i, p in enumerate(parts):
            self.assertEqual(p.get("continues", False), i < len(parts) - 1)
            self.assertEqual(p["parameters"]["shown"], self.status["models"])
            m = p["parameters"]["matrix"]
            if i > 0:
                self.assertEqual(set(m), {"models"})
            self.assertLessEqual(len(m["models"]), CHUNK_ROWS)
            self.assertLessEqual(len(json.dumps(p, separators=(",", ":"))), PART_BYTES)
            ids += [x["id"] for x in m["models"]]
        self.assertNotIn("changed", parts[-1]["parameters"])
        self.assertEqual(len(ids), self.status["models"])
        self.assertEqual(ids, sorted(set(ids)))
        # The same rows, in the same form, as a filtered call that fits one reply.
        one = self.conn().call("io.lockwatch.GetMatrix", {"model": "*-0001?"})
        few = one["parameters"]["matrix"]["models"]
        self.assertEqual(len(few), 10)
        byid = {x["id"]: x for p in parts for x in p["parameters"]["matrix"]["models"]}
        for x in few:
            self.assertEqual(x, byid[x["id"]])

    def test_too_large_without_more_is_an_error(self):
        c = self.conn()
        r = c.call("io.lockwatch.GetMatrix", {})
        self.assertEqual(r, {"error": "io.lockwatch.ReplyTooLarge",
                             "parameters": {"limit": MAX_OUTPUT, "more": True}})
        # The connection goes on: the next call is answered.
        self.assertEqual(c.call("org.varlink.service.GetInfo")["parameters"]["product"],
                         "lockwatchd")

    def test_grid_streams_in_parts(self):
        parts = stream(self.conn(), "io.lockwatch.GetMatrix", {"text": True, "ascii": True})
        self.assertGreater(len(parts), 1)
        text = "".join(p["parameters"]["text"] for p in parts)
        lines = text.splitlines()
        self.assertEqual(len(lines), self.status["models"] + 3)  # two heading lines, legend
        self.assertTrue(lines[1].startswith("model"), lines[:2])
        self.assertTrue(lines[-1].startswith("legend:"), lines[-1])
        rows = [ln.split()[0] for ln in lines[2:-1]]
        self.assertEqual(rows, sorted(set(rows)))
        # lockwatchctl prints what the parts hold, as they come.
        r = self.ctl("matrix", "--ascii", "--no-pager")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), text)

    def test_lockwatchctl_json_is_one_document(self):
        r = self.ctl("matrix", "--json", "--provider", "aws")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["schema"], "lockwatch.matrix/1")
        self.assertEqual(len(doc["models"]), self.status["models"])
        parts = stream(self.conn(), "io.lockwatch.GetMatrix", {"provider": "aws"})
        self.assertGreater(len(parts), 1)
        self.assertEqual(doc["models"], [x for p in parts for x in p["parameters"]["matrix"]["models"]])
        self.assertEqual(doc["providers"], parts[0]["parameters"]["matrix"]["providers"])

    def test_history_streams_and_changes_mid_stream(self):
        if os.geteuid() != 0:
            self.skipTest("Poll needs root or the daemon's uid")
        drop = set(range(0, MODELS, 20))  # 1,000 direct cells, two misses each to go
        parts = stream(self.conn(), "io.lockwatch.GetMatrix", {"model": "anthropic/*"})
        before = len(parts)
        # Written before the stream starts: the reader below must not stop for long.
        bodies = []
        for indent in (None, 1):  # different bytes, so each poll parses
            bodies.append(self.tmp.join("synth-%s.json" % indent))
            with open(bodies[-1], "w") as f:
                json.dump(price_map(MODELS, drop), f, indent=indent)
        # A stream read in part only, while polls change the matrix under it.
        slow = self.conn()
        slow.send("io.lockwatch.GetMatrix", {}, more=True)
        got = [slow.recv()]
        self.assertTrue(got[0].get("continues"))

        def trickle():
            # Read a little at each check: the stream goes on, slower than the polls.
            slow.sock.settimeout(WAIT)
            slow.buf += slow.sock.recv(16384)
        try:
            for body in bodies:
                os.replace(body, self.body)
                self.poll_and_wait(trickle)
            while got[-1].get("continues"):
                got.append(slow.recv())
            ids = [x["id"] for p in got for x in p["parameters"]["matrix"]["models"]]
            self.assertEqual(ids, sorted(set(ids)))  # in order, none twice
            self.assertTrue(got[-1]["parameters"].get("changed"), got[-1]["parameters"].keys())
            self.assertNotIn("changed", got[0]["parameters"])

            # 1,000 cells turned unavailable: the history holds them; in parts with "more".
            whole = self.conn().call("io.lockwatch.GetHistory", {})["parameters"]["events"]
            cells = [e for e in whole if e["kind"] == "cell" and e["state"] == "unavailable"]
            self.assertEqual(len(cells), len(drop))
            hp = stream(self.conn(), "io.lockwatch.GetHistory", {})
            self.assertGreaterEqual(len(hp), 2)
            for p in hp:
                self.assertLessEqual(len(p["parameters"]["events"]), CHUNK_ROWS)
            self.assertEqual([e for p in hp for e in p["parameters"]["events"]], whole)
            empty = stream(self.conn(), "io.lockwatch.GetHistory", {"limit": 0})
            self.assertEqual(empty, [{"parameters": {"events": []}}])
            r = self.ctl("history", "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.decode(),
                             json.dumps({"events": whole}, indent=2, ensure_ascii=False) + "\n")
            r = self.ctl("history", "--model", "anthropic/claude-synth-0000?")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(r.stdout.splitlines()),
                             len([e for e in whole if (e["model"] or "").startswith(
                                 "anthropic/claude-synth-0000")]))
        finally:
            with open(self.body, "w") as f:
                json.dump(price_map(MODELS), f)
            self.poll_and_wait()
        self.assertEqual(len(stream(self.conn(), "io.lockwatch.GetMatrix",
                                    {"model": "anthropic/*"})), before)

    # ---- the matrix at a time ---------------------------------------------------------------

    @classmethod
    def past(cls):
        """A whole second after the first poll's cells are in the history: (at in usec, the
        same as lockwatchctl takes it). Found once; later polls are recorded after it."""
        if getattr(cls, "_past", None):
            return cls._past
        last = "anthropic/claude-synth-%05d" % (MODELS - 1)

        def recorded():
            c = Conn(cls.daemon.socket, timeout=WAIT)
            try:
                r = c.call("io.lockwatch.GetMatrixAt", {"at": int(time.time() * 1e6) + 1,
                                                        "model": last})
            finally:
                c.close()
            return r["parameters"]["shown"] == 1
        assert lwtest.wait_until(recorded, WAIT), "the first poll never reached the history"
        second = int(time.time()) + 1
        assert lwtest.wait_until(lambda: time.time() > second + 0.01, WAIT)
        cls._past = (second * 1000000,
                     datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return cls._past

    def test_matrix_at_streams_in_parts(self):
        at, _ = self.past()
        parts = stream(self.conn(), "io.lockwatch.GetMatrixAt", {"at": at})
        self.assertGreaterEqual(len(parts), MODELS // CHUNK_ROWS)
        first = parts[0]["parameters"]["matrix"]
        self.assertEqual(first["schema"], "lockwatch.matrix/1")
        self.assertEqual({p["id"] for p in first["providers"]}, {"anthropic", "aws", "gcp"})
        rows = []
        for i, p in enumerate(parts):
            self.assertEqual(p.get("continues", False), i < len(parts) - 1)
            params = p["parameters"]
            # Every part says when, since when the history knows, and how many rows in all.
            self.assertEqual(params["at"], at)
            self.assertIsInstance(params["from"], int)
            self.assertLessEqual(params["from"], at)
            self.assertEqual(params["shown"], MODELS)
            self.assertNotIn("changed", params)
            if i > 0:
                self.assertEqual(set(params["matrix"]), {"models"})
            self.assertLessEqual(len(params["matrix"]["models"]), CHUNK_ROWS)
            self.assertLessEqual(len(json.dumps(p, separators=(",", ":"))), PART_BYTES)
            rows += params["matrix"]["models"]
        ids = [x["id"] for x in rows]
        self.assertEqual(ids, ["anthropic/claude-synth-%05d" % i for i in range(MODELS)])
        for x in rows:
            self.assertEqual(sorted(x["cells"]), ["anthropic", "aws", "gcp"])
            for cell in x["cells"].values():
                self.assertEqual(cell["state"], "available")
                self.assertEqual([e["source"] for e in cell["sources"]], ["history"])
        # The same rows, in the same form, as a filtered call answered in one reply.
        one = self.conn().call("io.lockwatch.GetMatrixAt", {"at": at, "model": "*-0001?"})
        self.assertNotIn("continues", one)
        few = one["parameters"]["matrix"]["models"]
        self.assertEqual(len(few), 10)
        self.assertEqual(one["parameters"]["shown"], 10)
        self.assertEqual(one["parameters"]["from"], parts[0]["parameters"]["from"])
        byid = {x["id"]: x for x in rows}
        for x in few:
            self.assertEqual(x, byid[x["id"]])
        # lockwatchctl prints the one document the parts make, as it prints a whole reply.
        _, iso = self.past()
        r = self.ctl("matrix", "--at", iso, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        whole = dict(parts[0]["parameters"])
        whole["matrix"] = dict(first, models=rows)
        self.assertEqual(r.stdout.decode(), json.dumps(whole, indent=2, ensure_ascii=False) + "\n")

    def test_matrix_at_too_large_without_more_is_an_error(self):
        at, _ = self.past()
        c = self.conn()
        r = c.call("io.lockwatch.GetMatrixAt", {"at": at})
        self.assertEqual(r, {"error": "io.lockwatch.ReplyTooLarge",
                             "parameters": {"limit": MAX_OUTPUT, "more": True}})
        # The connection goes on: the next call is answered.
        self.assertEqual(c.call("org.varlink.service.GetInfo")["parameters"]["product"],
                         "lockwatchd")

    def test_matrix_at_grid_streams_in_parts(self):
        at, iso = self.past()
        params = {"at": at, "text": True, "ascii": True}
        parts = stream(self.conn(), "io.lockwatch.GetMatrixAt", params)
        self.assertGreater(len(parts), 1)
        for p in parts:
            self.assertEqual((p["parameters"]["at"], p["parameters"]["shown"]), (at, MODELS))
            self.assertLessEqual(len(json.dumps(p, separators=(",", ":"))), PART_BYTES)
        text = "".join(p["parameters"]["text"] for p in parts)
        lines = text.splitlines()
        self.assertEqual(len(lines), MODELS + 3)  # two heading lines, legend
        self.assertTrue(lines[-1].startswith("legend:"), lines[-1])
        # The grid fits one reply (1.5 MiB): made whole, it is the same text.
        one = self.conn().call("io.lockwatch.GetMatrixAt", params)
        self.assertNotIn("continues", one)
        self.assertEqual(one["parameters"]["text"], text)
        # lockwatchctl prints the parts as they come, under the line saying when.
        r = self.ctl("matrix", "--at", iso, "--ascii", "--no-pager")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), "as it was at %s\n%s" % (iso, text))

    def test_status_waits_little_while_matrix_at_rebuilds(self):
        # A caller in a process of its own keeps one GetStatus outstanding while GetMatrixAt
        # rebuilds and streams all 20,000 models: the longest wait between its replies is
        # how long the loop was held. Made in one turn, the rebuild and its encoding held it
        # for 2 s on the build machine. Two runs, and the better one counts: a stall of this
        # shared machine's own is seldom in both.
        at, _ = self.past()
        runs = [self.status_gaps_during(lambda: stream(self.conn(), "io.lockwatch.GetMatrixAt",
                                                        {"at": at}))
                for _ in range(2)]
        for parts, took, answered, longest in runs:
            self.assertEqual(sum(len(p["parameters"]["matrix"]["models"]) for p in parts),
                             MODELS)
            self.assertGreater(answered, 0)
            print("\nGetMatrixAt of %d models in %d parts took %.2f s; a GetStatus caller got "
                  "%d replies meanwhile, the longest wait %.1f ms" % (
                      MODELS, len(parts), took, answered, longest * 1000), file=sys.stderr)
        # The bound tells sliced work (a few ms a turn) from work done in one turn (2 s here)
        # with room for a loaded or sanitized machine; the figure itself is printed above.
        self.assertLess(min(r[3] for r in runs), 1.0)

    def status_gaps_during(self, work):
        """Run work() while a child process calls GetStatus one call after another; return
        (what work returned, its seconds, the replies the child got meanwhile, the longest
        time between two of its replies that overlaps it)."""
        ctx = multiprocessing.get_context("fork")
        stop, ready = ctx.Event(), ctx.Event()
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=status_caller, args=(self.daemon.socket, stop, ready, sender))
        child.start()
        try:
            self.assertTrue(ready.wait(WAIT), "the GetStatus caller never got going")
            t0 = time.monotonic()
            result = work()
            t1 = time.monotonic()
        finally:
            stop.set()
            gaps = receiver.recv() if receiver.poll(WAIT) else []
            child.join(WAIT)
        self.assertTrue(gaps, "the GetStatus caller reported nothing")
        during = [(a, b) for a, b in gaps if b > t0 and a < t1]
        answered = sum(1 for a, b in during if b < t1)
        return result, t1 - t0, answered, max((b - a for a, b in during), default=t1 - t0)

    def poll_and_wait(self, tick=lambda: None):
        c = self.conn()

        def polls():
            # One connection for every look: a new one per look stayed open until the test
            # ended, and a long poll (a sanitized build) ran into the per-uid cap.
            tick()
            st = c.call("io.lockwatch.GetStatus")["parameters"]["status"]
            return st["sources"][0]["polls"]
        n = polls()
        self.assertEqual(self.conn().call("io.lockwatch.Poll", {"source": "synth"}),
                         {"parameters": {}})
        self.assertTrue(lwtest.wait_until(lambda: polls() > n, WAIT), "the poll never ended")

    def test_documented_interface_is_the_served_one(self):
        served = self.conn().call("org.varlink.service.GetInterfaceDescription",
                                  {"interface": "io.lockwatch"})["parameters"]["description"]
        with open(os.path.join(lwtest.source_dir(), "docs", "control.md")) as f:
            doc = f.read()
        marker = "text lives in `daemon/varlink.c`):\n\n```\n"
        start = doc.index(marker) + len(marker)
        self.assertEqual(doc[start:doc.index("```\n", start)], served)
        for decl in ("error ReplyTooLarge (limit: int, more: bool)",
                     "error TooManyConnections (limit: int, per_user: bool)",
                     ") -> (matrix: ?object, text: ?string, shown: int, changed: ?bool)"):
            self.assertIn(decl, served)

    # ---- the loop stays free --------------------------------------------------------------

    def test_status_latency_while_matrix_streams(self):
        # The streams are lockwatchctl processes, so the figure is not this process's.
        done = threading.Event()
        streams = []

        def streamer():
            while not done.is_set():
                t0 = time.monotonic()
                r = self.ctl("matrix", "--json", "--no-pager")
                if r.returncode == 0 and len(r.stdout) > MODELS * 100:
                    streams.append((t0, time.monotonic()))

        threads = [threading.Thread(target=streamer) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            self.assertTrue(lwtest.wait_until(lambda: streams, WAIT), "no stream finished")
            lat, answered = self.status_callers(64, 3.0)
        finally:
            done.set()
            for t in threads:
                t.join(WAIT)
        # Counted once every stream has ended: one still running when the callers stopped is
        # only in `streams` after it finishes.
        answered_during = sum(1 for t in answered for a, b in streams if a < t < b)
        lat.sort()
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        print("\nGetStatus with 64 concurrent callers while 2 lockwatchctl stream GetMatrix of %d "
              "models: %d calls, p50 %.2f ms, p99 %.2f ms, max %.2f ms; %d streams finished, "
              "the fastest in %.2f s" % (self.status["models"], len(lat), p50, p99,
                                         lat[-1] * 1000, len(streams),
                                         min(b - a for a, b in streams)),
              file=sys.stderr)
        # Ordering, not timing (the figures above are what bench_control.py --stream measures
        # without Python in the way): calls were answered while a stream was between its parts.
        self.assertGreater(answered_during, 0)

    def status_callers(self, n, seconds):
        """n clients each keeping one GetStatus outstanding for about `seconds`; returns the
        latencies and the time each call was answered."""
        conns = [Conn(self.daemon.socket, timeout=WAIT) for _ in range(n)]
        wire = json.dumps({"method": "io.lockwatch.GetStatus"}).encode() + b"\0"
        lat, answered = [], []
        import selectors
        sel = selectors.DefaultSelector()
        t0 = {}
        try:
            for c in conns:
                sel.register(c.sock, selectors.EVENT_READ, c)
                t0[c] = time.monotonic()
                c.send_raw(wire)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for key, _ in sel.select(timeout=WAIT):
                    c = key.data
                    c.buf += c.sock.recv(1 << 16)
                    while b"\0" in c.buf:
                        _, _, c.buf = c.buf.partition(b"\0")
                        now = time.monotonic()
                        lat.append(now - t0[c])
                        answered.append(now)
                        t0[c] = now
                        c.send_raw(wire)
        finally:
            for c in conns:
                c.close()
        return lat, answered

    # ---- back-pressure ---------------------------------------------------------------------

    def test_pipelining_slow_reader_gets_every_reply(self):
        c = self.conn()
        calls = 10000
        wire = json.dumps({"method": "io.lockwatch.GetStatus"}).encode() + b"\0"
        # 10,000 replies are more than the 4 MiB a reply may have: the server pauses this
        # client's requests (its writes then block) instead of dropping it.
        sender = threading.Thread(target=lambda: c.sock.sendall(wire * calls))
        sender.start()
        got = reads = 0
        try:
            while got < calls:
                data = c.sock.recv(4096)  # slowly: a page at a time
                self.assertTrue(data, "dropped after %d replies" % got)
                got += data.count(b"\0")
                reads += 1
                if reads % 64 == 0:
                    time.sleep(0.005)
        finally:
            sender.join(WAIT)
        self.assertEqual(got, calls)
        self.assertEqual(c.call("org.varlink.service.GetInfo")["parameters"]["product"],
                         "lockwatchd")

    def test_pipelined_streams_stay_whole_and_in_order(self):
        c = self.conn()
        globs = ["anthropic/claude-synth-%02d*" % d for d in range(20)]
        c.send_raw(b"".join(json.dumps({"method": "io.lockwatch.GetMatrix", "more": True,
                                        "parameters": {"model": g}}).encode() + b"\0"
                            for g in globs))
        for g in globs:
            ids = []
            while True:
                r = c.recv()
                ids += [x["id"] for x in r["parameters"]["matrix"]["models"]]
                if not r.get("continues"):
                    break
            prefix = g[:-1]
            self.assertTrue(ids and all(i.startswith(prefix) for i in ids), (g, ids[:3]))
            self.assertEqual(len(ids), 1000)

    # ---- idle clients ----------------------------------------------------------------------

    def test_idle_clients_are_closed_subscribers_are_not(self):
        sub = self.conn()
        sub.send("io.lockwatch.Subscribe", {}, more=True)
        idle = self.conn()
        half = self.conn()
        half.send_raw(b'{"method":"io.lockwatch.GetSta')
        t0 = time.monotonic()
        for c in (idle, half):
            c.sock.settimeout(WAIT)
            self.assertEqual(c.sock.recv(1), b"", "an idle client was answered")
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, IDLE * 0.9)
        # One more timeout, measured by a client that comes later, and the subscriber,
        # waiting for events all along, is still served.
        later = self.conn()
        later.sock.settimeout(WAIT)
        self.assertEqual(later.sock.recv(1), b"")
        self.assertEqual(sub.call("org.varlink.service.GetInfo")["parameters"]["product"],
                         "lockwatchd")

    def test_a_reply_slower_to_make_than_the_timeout_is_not_idle(self):
        """The matrix at a time is rebuilt from the history before its first part is sent;
        here (a second daemon, a 50 ms idle timeout) that takes longer than the timeout. The
        client waits on the daemon, not the daemon on it: it gets its reply."""
        quick = 0.05
        tmp = lwtest.TempDir("lw-slow-")
        self.addCleanup(tmp.cleanup)
        conf = lwtest.write_config(tmp, {"interval": "1d", "max_body": "64M"},
                                   [("synth", {"url": "file://" + self.body,
                                               "format": "litellm"})])
        os.environ["LOCKWATCH_CONTROL_IDLE_TIMEOUT"] = "%gms" % (quick * 1000)
        try:
            daemon = Daemon(tmp.path, conf)
        finally:
            del os.environ["LOCKWATCH_CONTROL_IDLE_TIMEOUT"]
        stopped = []

        def stop():
            if not stopped:
                stopped.append(daemon.stop())
            return stopped[0]
        self.addCleanup(stop)

        def call(method, params):
            # A connection can be closed before its request is read if this process is
            # descheduled for longer than the short timeout: that is tried again, three
            # times in all. A reply never made is the same on every try.
            for _ in range(3):
                c = Conn(daemon.socket, timeout=WAIT)
                t0 = time.monotonic()
                try:
                    r = c.call(method, params)
                except (BrokenPipeError, ConnectionResetError):
                    r = None
                finally:
                    c.close()
                if r is not None:
                    return r, time.monotonic() - t0
            return None, 0.0

        last = "anthropic/claude-synth-%05d" % (MODELS - 1)
        self.assertTrue(lwtest.wait_until(
            lambda: (call("io.lockwatch.GetStatus", {})[0] or {}).get(
                "parameters", {}).get("status", {}).get("sources", [{}])[0].get("polls", 0) >= 1,
            WAIT), "the first poll never ended")
        r, took = call("io.lockwatch.GetMatrixAt", {"at": int(time.time() * 1e6) + 1,
                                                    "model": last})
        self.assertIsNotNone(r, "the connection was closed while its reply was being made")
        self.assertEqual(r["parameters"]["shown"], 1, r)
        print("\nGetMatrixAt of one model out of a history of %d: reply after %.0f ms "
              "(idle timeout %.0f ms)" % (MODELS, took * 1000, quick * 1000), file=sys.stderr)
        log = stop()
        self.assertEqual(daemon.proc.returncode, 0, log)

    def test_reader_that_stops_is_closed_after_the_timeout(self):
        c = self.conn()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.send("io.lockwatch.GetMatrix", {}, more=True)
        # It reads nothing: the stream waits on it, then the idle timeout closes it.
        t0 = time.monotonic()
        self.assertTrue(lwtest.wait_until(lambda: self.closed(c), WAIT))
        self.assertGreaterEqual(time.monotonic() - t0, IDLE * 0.9)

    @staticmethod
    def closed(c):
        """Whether the server closed c, seen without reading (reading is what it waits for)."""
        p = select.poll()
        p.register(c.sock, select.POLLRDHUP)
        return any(ev & (select.POLLRDHUP | select.POLLHUP) for _, ev in p.poll(0))

    # ---- connection caps -------------------------------------------------------------------

    def test_per_uid_cap_and_room_for_root(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to connect as other uids")
        try:
            nobody = pwd.getpwnam("nobody").pw_uid
        except KeyError:
            self.skipTest("no user nobody")
        pipes = os.pipe() + os.pipe()
        report_r = pipes[2]
        kids = []
        try:
            # nobody: 64 connections answered, the 65th refused, saying why.
            kids.append(as_uid(nobody, self.daemon.socket, 65, pipes))
            out = read_line(report_r)
            self.assertEqual(out.get("answered"), 64, out)
            self.assertEqual(out["refused"], {"error": "io.lockwatch.TooManyConnections",
                                              "parameters": {"limit": 64, "per_user": True}})
            # Three more uids fill the 240 slots other uids share, and a fifth is refused...
            for uid in (60001, 60002):
                kids.append(as_uid(uid, self.daemon.socket, 64, pipes))
                self.assertEqual(read_line(report_r).get("answered"), 64)
            # (Connections of earlier tests the server has not seen close yet count too.)
            kids.append(as_uid(60003, self.daemon.socket, 64, pipes))
            out = read_line(report_r)
            self.assertGreaterEqual(out.get("answered"), 40, out)
            self.assertEqual(out["refused"], {"error": "io.lockwatch.TooManyConnections",
                                              "parameters": {"limit": 240, "per_user": False}})
            kids.append(as_uid(60004, self.daemon.socket, 1, pipes))
            out = read_line(report_r)
            self.assertEqual(out["refused"], {"error": "io.lockwatch.TooManyConnections",
                                              "parameters": {"limit": 240, "per_user": False}})
            # ... while root still gets in, and so does lockwatchctl.
            self.assertEqual(self.conn().call("org.varlink.service.GetInfo")["parameters"]
                             ["product"], "lockwatchd")
            r = self.ctl("status")
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            for fd in pipes:
                os.close(fd)
            for pid in kids:
                os.waitpid(pid, 0)
        # The slots come back once the server has seen the closes.
        self.assertTrue(lwtest.wait_until(lambda: self.nobody_gets_in(nobody), WAIT))

    def nobody_gets_in(self, uid):
        pipes = os.pipe() + os.pipe()
        pid = as_uid(uid, self.daemon.socket, 1, pipes)
        try:
            return read_line(pipes[2]).get("answered") == 1
        finally:
            for fd in pipes:
                os.close(fd)
            os.waitpid(pid, 0)


if __name__ == "__main__":
    lwtest.main()
