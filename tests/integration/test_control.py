#!/usr/bin/env python3
"""The control socket seen by a raw Varlink client written here: the service interface,
every io.lockwatch method's reply shape, framing (pipelined and split requests), protocol
errors, limits (message size, clients, a client that stops reading), peer credentials for
Poll and Reload, and Subscribe streaming a transition caused by a Poll."""

import grp
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402

LOCKWATCHD = os.environ.get("LOCKWATCHD", "build/lockwatchd")
SRC = os.environ.get("LW_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(SRC, "data")
WAIT = 60.0  # upper bound for any wait (sanitizer builds are slow); never a sleep
SANITIZER = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def demo_config(tmp):
    """The bundled config reading snapshots copied into tmp, so a test can rewrite them."""
    snaps = os.path.join(tmp, "snapshots")
    shutil.copytree(os.path.join(DATA, "snapshots"), snaps)
    return lwtest.demo_config(tmp, snaps)


class Conn:
    """A raw Varlink connection: NUL-terminated JSON objects both ways."""

    def __init__(self, path, timeout=WAIT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, method, parameters=None, **flags):
        msg = {"method": method}
        if parameters is not None:
            msg["parameters"] = parameters
        msg.update(flags)
        self.send_raw(json.dumps(msg).encode() + b"\0")

    def recv(self):
        """The next message, or None at end of stream."""
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

    def at_eof(self):
        """True once the server has closed (after any queued messages)."""
        while True:
            data = self.sock.recv(1 << 20)
            if not data:
                return True
            self.buf += data

    def close(self):
        self.sock.close()


class Daemon:
    def __init__(self, tmp, config):
        self.socket = os.path.join(tmp, "run", "io.lockwatch")
        state = os.path.join(tmp, "state")
        os.makedirs(state, exist_ok=True)
        self.notify_path = os.path.join(tmp, "notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        env.pop("JOURNAL_STREAM", None)
        self.err_path = os.path.join(tmp, "stderr")
        self.err = open(self.err_path, "w+")
        self.proc = subprocess.Popen([LOCKWATCHD, "--config", config, "--state-dir", state,
                                      "--socket", self.socket],
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.err)
        self.wait_notify("READY=1")

    def wait_notify(self, what):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("lockwatchd exited: %s" % self.stderr())
            self.notify.settimeout(0.2)
            try:
                if what in self.notify.recv(4096).decode():
                    return
            except socket.timeout:
                pass
        raise AssertionError("no %s from lockwatchd" % what)

    def wait_first_round(self):
        """Every source polled once (the rules run right after the last of them)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            c = Conn(self.socket)
            st = c.call("io.lockwatch.GetStatus")["parameters"]["status"]
            c.close()
            if all(s["polls"] >= 1 for s in st["sources"]):
                return st
            time.sleep(0.1)
        raise AssertionError("the first poll round did not finish")

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.notify.close()
        log = self.stderr()
        self.err.close()
        return log


class ControlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lw-control-")
        os.chmod(cls.tmp, 0o755)  # the unprivileged client must reach the socket
        cls.config = demo_config(cls.tmp)
        cls.daemon = Daemon(cls.tmp, cls.config)
        cls.status = cls.daemon.wait_first_round()

    @classmethod
    def tearDownClass(cls):
        log = cls.daemon.stop()
        code = cls.daemon.proc.returncode
        shutil.rmtree(cls.tmp, ignore_errors=True)
        for s in SANITIZER:
            if s in log:
                raise AssertionError("sanitizer report in the daemon's log:\n" + log)
        if code != 0:
            raise AssertionError("lockwatchd exited %s:\n%s" % (code, log))

    def conn(self):
        c = Conn(self.daemon.socket)
        self.addCleanup(c.close)
        return c

    def call(self, method, parameters=None, **flags):
        return self.conn().call(method, parameters, **flags)

    def assertError(self, reply, error, parameters=None):
        self.assertEqual(reply.get("error"), error, reply)
        if parameters is not None:
            self.assertEqual(reply["parameters"], parameters)

    # ---- the service interface ----------------------------------------------------------

    def test_socket_mode(self):
        st = os.stat(self.daemon.socket)
        self.assertEqual(st.st_mode & 0o777, 0o660)

    def test_get_info(self):
        r = self.call("org.varlink.service.GetInfo", {})
        self.assertNotIn("error", r)
        p = r["parameters"]
        self.assertEqual(p["vendor"], "lockwatch")
        self.assertEqual(p["product"], "lockwatchd")
        self.assertRegex(p["version"], r"^\d+\.\d+\.\d+")
        self.assertRegex(p["url"], r"^file:///.*/control\.md$")
        self.assertEqual(p["interfaces"], ["org.varlink.service", "io.lockwatch"])

    def test_interface_description(self):
        r = self.call("org.varlink.service.GetInterfaceDescription", {"interface": "io.lockwatch"})
        d = r["parameters"]["description"]
        self.assertIn("\ninterface io.lockwatch\n", "\n" + d)
        for decl in ("type Status (", "type Source (", "type Cell (", "type Evidence (",
                     "type Model (", "type Alert (", "type Event (",
                     "method GetStatus() -> (status: Status)",
                     "method ListAlerts(state: ?string) -> (alerts: []Alert)",
                     "method Explain(model: string) -> (model: Model)",
                     "method GetHistory(\n  since: ?int,\n  until: ?int,\n  model: ?string,\n"
                     "  limit: ?int,\n  quiet: ?bool\n) -> (events: []Event)",
                     "method GetMatrixAt(\n  at: int,\n",
                     "method Subscribe() -> (event: Event)",
                     "method Poll(source: ?string, accept: ?bool) -> ()", "method Reload() -> ()",
                     "error NoSuchModel (model: string, suggestions: ?[]string)", "error NoSuchSource (source: string)",
                     "error PermissionDenied ()", "error ReloadFailed (message: string)"):
            self.assertIn(decl, d)
        r = self.call("org.varlink.service.GetInterfaceDescription",
                      {"interface": "org.varlink.service"})
        self.assertIn("interface org.varlink.service", r["parameters"]["description"])
        self.assertError(self.call("org.varlink.service.GetInterfaceDescription",
                                   {"interface": "org.example.nope"}),
                         "org.varlink.service.InterfaceNotFound", {"interface": "org.example.nope"})
        self.assertError(self.call("org.varlink.service.GetInterfaceDescription", {}),
                         "org.varlink.service.InvalidParameter", {"parameter": "interface"})

    def test_interface_description_parses_with_an_independent_parser(self):
        """The IDL text as served, read by the Varlink project's own Go parser (Debian's
        varlink-go): it generates bindings only from a description it accepts."""
        gen = shutil.which("varlink-go-interface-generator")
        if not gen:
            self.skipTest("varlink-go-interface-generator not found (apt-get install varlink-go)")
        d = self.call("org.varlink.service.GetInterfaceDescription",
                      {"interface": "io.lockwatch"})["parameters"]["description"]
        work = tempfile.mkdtemp(prefix="lw-idl-")
        try:
            def generate(name, text):
                path = os.path.join(work, name)
                with open(path, "w") as f:
                    f.write(text)
                return subprocess.run([gen, path], capture_output=True, text=True, timeout=60,
                                      cwd=work)

            r = generate("io.lockwatch.varlink", d)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(os.path.join(work, "iolockwatch.go")) as f:
                go = f.read()
            for name in ("GetStatus", "GetMatrix", "ListAlerts", "Explain", "GetHistory",
                         "Subscribe", "Poll", "Reload", "NoSuchModel", "PermissionDenied"):
                self.assertIn(name, go)
            # The parser bites: the same text with one method's output cut off is refused.
            broken = d.replace("method Reload() -> ()", "method Reload() ->", 1)
            self.assertNotEqual(broken, d)
            self.assertNotEqual(generate("broken.varlink", broken).returncode, 0)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # ---- each method's reply -------------------------------------------------------------

    def test_get_status(self):
        st = self.call("io.lockwatch.GetStatus", {})["parameters"]["status"]
        for k in ("version", "start_time", "models", "single_cloud", "sources_degraded",
                  "alerts_firing", "alerts_pending", "status", "sources"):
            self.assertIn(k, st)
        self.assertGreater(st["models"], 0)
        self.assertEqual(st["status"], "%d models, %d single-cloud, %d source%s degraded" % (
            st["models"], st["single_cloud"], st["sources_degraded"],
            "" if st["sources_degraded"] == 1 else "s"))
        self.assertLessEqual(st["start_time"], time.time() * 1e6)
        names = [s["name"] for s in st["sources"]]
        self.assertEqual(names, ["litellm", "bedrock-cards", "vertex-docs", "azure-docs", "openrouter"])
        for s in st["sources"]:
            self.assertEqual(set(s), {"name", "enabled", "status", "last_result", "last_error",
                                      "last_attempt", "last_ok", "consecutive_failures", "polls",
                                      "rows", "unlisted", "authoritative", "lagging"})
            self.assertIsInstance(s["polls"], int)
            self.assertIsInstance(s["lagging"], int)
            self.assertEqual(s["authoritative"], s["name"] == "bedrock-cards")
            self.assertIsInstance(s["consecutive_failures"], int)

    def test_get_matrix(self):
        m = self.call("io.lockwatch.GetMatrix", {})["parameters"]["matrix"]
        self.assertEqual(m["schema"], "lockwatch.matrix/1")
        ids = [x["id"] for x in m["models"]]
        self.assertIn("anthropic/claude-opus-4-7", ids)
        self.assertEqual(ids, sorted(ids))

        m = self.call("io.lockwatch.GetMatrix", {"model": "anthropic/*"})["parameters"]["matrix"]
        self.assertTrue(m["models"])
        self.assertTrue(all(x["id"].startswith("anthropic/") for x in m["models"]))

        m = self.call("io.lockwatch.GetMatrix", {"vendor": "meta"})["parameters"]["matrix"]
        self.assertEqual({x["vendor"] for x in m["models"]}, {"meta"})

        m = self.call("io.lockwatch.GetMatrix", {"provider": "aws"})["parameters"]["matrix"]
        self.assertEqual([p["id"] for p in m["providers"]], ["aws"])
        self.assertTrue(m["models"])
        for x in m["models"]:
            self.assertEqual(set(x["cells"]), {"aws"})

        t = self.call("io.lockwatch.GetMatrix", {"text": True, "ascii": True, "vendor": "anthropic"})
        text = t["parameters"]["text"]
        self.assertNotIn("matrix", t["parameters"])
        self.assertIn("anthropic/claude-opus-4-7", text)
        self.assertNotIn("openai/", text)
        self.assertIn("legend: + available", text)

        self.assertError(self.call("io.lockwatch.GetMatrix", {"model": 3}),
                         "org.varlink.service.InvalidParameter", {"parameter": "model"})
        self.assertError(self.call("io.lockwatch.GetMatrix", {"colour": True}),
                         "org.varlink.service.InvalidParameter", {"parameter": "colour"})

    def test_list_alerts(self):
        a = self.call("io.lockwatch.ListAlerts", {})["parameters"]["alerts"]
        self.assertIsInstance(a, list)
        for x in a:
            self.assertEqual(set(x), {"rule", "key", "state", "pending_since", "fired_at",
                                      "last_notified", "resolved_at", "summary", "clouds"})
            self.assertIn(x["state"], ("pending", "firing", "resolved"))
        pending = self.call("io.lockwatch.ListAlerts", {"state": "pending"})["parameters"]["alerts"]
        self.assertEqual(pending, [x for x in a if x["state"] == "pending"])
        self.assertError(self.call("io.lockwatch.ListAlerts", {"state": "angry"}),
                         "org.varlink.service.InvalidParameter", {"parameter": "state"})

    def test_explain(self):
        m = self.call("io.lockwatch.Explain", {"model": "anthropic/claude-opus-4-7"})["parameters"]["model"]
        self.assertEqual(m["id"], "anthropic/claude-opus-4-7")
        self.assertEqual(m["vendor"], "anthropic")
        self.assertEqual(m["clouds_available"], 3)
        cells = {c["provider"]: c for c in m["cells"]}
        self.assertEqual(cells["aws"]["kind"], "cloud")
        self.assertEqual(cells["aws"]["state"], "available")
        sources = {e["source"] for e in cells["aws"]["evidence"]}
        self.assertEqual(sources, {"litellm", "bedrock-cards"})
        # The model cards are AWS's own listing: they decide the aws column.
        self.assertEqual(cells["aws"]["authorities"], ["bedrock-cards"])
        self.assertEqual({e["source"]: e["standing"] for e in cells["aws"]["evidence"]},
                         {"bedrock-cards": "decides", "litellm": "agrees"})
        self.assertEqual(cells["gcp"]["authorities"], [])
        self.assertEqual({e["standing"] for e in cells["gcp"]["evidence"]}, {"counts"})
        for e in cells["aws"]["evidence"]:
            for k in ("said", "raw_id", "regions", "price_in", "price_out", "first_seen",
                      "last_seen", "missing"):
                self.assertIn(k, e)
            self.assertIsInstance(e["first_seen"], int)

    def test_explain_errors(self):
        self.assertError(self.call("io.lockwatch.Explain", {"model": "nobody/nothing"}),
                         "io.lockwatch.NoSuchModel", {"model": "nobody/nothing", "suggestions": []})
        # A near miss comes with the nearest ids, closest first.
        self.assertError(self.call("io.lockwatch.Explain", {"model": "anthropic/claude-opus-4-8"}),
                         "io.lockwatch.NoSuchModel",
                         {"model": "anthropic/claude-opus-4-8",
                          "suggestions": ["anthropic/claude-opus-4-7",
                                          "anthropic/claude-sonnet-4-6"]})
        self.assertError(self.call("io.lockwatch.Explain", {}),
                         "org.varlink.service.InvalidParameter", {"parameter": "model"})
        self.assertError(self.call("io.lockwatch.Explain"),
                         "org.varlink.service.InvalidParameter", {"parameter": "model"})

    def test_get_history_shape(self):
        ev = self.call("io.lockwatch.GetHistory", {})["parameters"]["events"]
        self.assertIsInstance(ev, list)
        self.assertEqual(self.call("io.lockwatch.GetHistory", {"limit": 0})["parameters"]["events"], [])
        self.assertError(self.call("io.lockwatch.GetHistory", {"limit": -1}),
                         "org.varlink.service.InvalidParameter", {"parameter": "limit"})
        self.assertError(self.call("io.lockwatch.GetHistory", {"since": "yesterday"}),
                         "org.varlink.service.InvalidParameter", {"parameter": "since"})

    def test_unknown_method_and_interface(self):
        self.assertError(self.call("io.lockwatch.Nope", {}), "org.varlink.service.MethodNotFound",
                         {"method": "io.lockwatch.Nope"})
        self.assertError(self.call("org.example.Thing", {}),
                         "org.varlink.service.InterfaceNotFound", {"interface": "org.example"})
        self.assertError(self.call("io.lockwatch.GetStatus", {"x": 1}),
                         "org.varlink.service.InvalidParameter", {"parameter": "x"})
        self.assertError(self.call("io.lockwatch.Subscribe", {}), "org.varlink.service.ExpectedMore")

    # ---- framing --------------------------------------------------------------------------

    def test_pipelined_requests_answered_in_order(self):
        c = self.conn()
        calls = [("org.varlink.service.GetInfo", {}),
                 ("io.lockwatch.Explain", {"model": "nobody/x"}),
                 ("io.lockwatch.GetStatus", {}),
                 ("io.lockwatch.Nope", {}),
                 ("io.lockwatch.ListAlerts", {})]
        c.send_raw(b"".join(json.dumps({"method": m, "parameters": p}).encode() + b"\0"
                            for m, p in calls))
        replies = [c.recv() for _ in calls]
        self.assertEqual(replies[0]["parameters"]["product"], "lockwatchd")
        self.assertEqual(replies[1]["error"], "io.lockwatch.NoSuchModel")
        self.assertIn("status", replies[2]["parameters"])
        self.assertEqual(replies[3]["error"], "org.varlink.service.MethodNotFound")
        self.assertIn("alerts", replies[4]["parameters"])

    def test_oneway_gets_no_reply(self):
        c = self.conn()
        c.send("io.lockwatch.GetStatus", {}, oneway=True)
        c.send("org.varlink.service.GetInfo", {})
        self.assertEqual(c.recv()["parameters"]["product"], "lockwatchd")

    def test_request_split_across_writes(self):
        c = self.conn()
        wire = json.dumps({"method": "io.lockwatch.Explain",
                           "parameters": {"model": "anthropic/claude-opus-4-7"}}).encode() + b"\0"
        for i in range(0, len(wire), 7):
            c.send_raw(wire[i:i + 7])
            time.sleep(0.01)
        self.assertEqual(c.recv()["parameters"]["model"]["id"], "anthropic/claude-opus-4-7")

    # ---- protocol errors and limits --------------------------------------------------------

    def test_bad_json_gets_an_error_then_disconnect(self):
        for garbage in (b"{nope\0", b"[1,2]\0", b"{\"parameters\":{}}\0", b"\0"):
            c = self.conn()
            c.send_raw(garbage + json.dumps({"method": "org.varlink.service.GetInfo"}).encode() + b"\0")
            r = c.recv()
            self.assertEqual(r["error"], "io.lockwatch.ProtocolError", garbage)
            self.assertIsNone(c.recv(), "the connection stayed open after %r" % garbage)

    def test_oversized_message(self):
        c = self.conn()
        try:
            c.send_raw(b'{"method":"io.lockwatch.GetStatus","parameters":{"x":"' + b"x" * 200000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.recv()
        self.assertEqual(r["error"], "io.lockwatch.ProtocolError")
        self.assertEqual(r["parameters"]["reason"], "message too long")
        # Closed with our unread bytes still queued: an end of stream or a reset.
        try:
            self.assertIsNone(c.recv())
        except ConnectionResetError:
            pass

    def test_200_concurrent_clients(self):
        conns = [Conn(self.daemon.socket) for _ in range(200)]
        try:
            for c in conns:
                c.send("io.lockwatch.GetStatus", {})
            for c in conns:
                r = c.recv()
                self.assertEqual(r["parameters"]["status"]["models"], self.status["models"])
        finally:
            for c in conns:
                c.close()

    def test_clients_beyond_the_cap_are_closed(self):
        conns = []
        try:
            for _ in range(256 + 8):
                conns.append(Conn(self.daemon.socket, timeout=10))
            # Every connection is accepted in order; the ones past the cap are told why and
            # closed at once.
            closed = 0
            for c in conns:
                try:
                    c.send_raw(json.dumps({"method": "org.varlink.service.GetInfo"}).encode()
                               + b"\0")
                except BrokenPipeError:
                    pass  # closed already: what it was told is still there to read
                try:
                    r = c.recv()
                except ConnectionResetError:
                    r = None
                if r is None or r.get("error") == "io.lockwatch.TooManyConnections":
                    if r is not None:
                        self.assertEqual(r["parameters"], {"limit": 256, "per_user": False})
                    closed += 1
                else:
                    self.assertEqual(r["parameters"]["product"], "lockwatchd")
            self.assertGreaterEqual(closed, 8)
            self.assertLessEqual(closed, 8 + 4)  # connections of other tests may linger briefly
        finally:
            for c in conns:
                c.close()
        deadline = time.monotonic() + WAIT
        while True:  # the slots come back once the server has seen the closes
            c = Conn(self.daemon.socket)
            try:
                r = c.call("org.varlink.service.GetInfo")
            except (ConnectionResetError, BrokenPipeError):
                r = None  # still over the cap: closed with our request unread
            finally:
                c.close()
            if r is not None and r.get("error") == "io.lockwatch.TooManyConnections":
                r = None  # still over the cap
            if r is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(r["parameters"]["product"], "lockwatchd")

    def test_client_that_stops_reading_is_paused_not_dropped(self):
        flood = self.conn()
        wire = json.dumps({"method": "io.lockwatch.GetMatrix", "parameters": {}}).encode() + b"\0"
        calls = 1000
        # The replies (about 16 MB) pass any queue: the server stops reading this client's
        # requests, so its writes block, until it reads again.
        sender = threading.Thread(target=lambda: flood.sock.sendall(wire * calls))
        sender.start()
        try:
            # Meanwhile another client is answered promptly, every time.
            worst = 0.0
            for _ in range(20):
                t0 = time.monotonic()
                r = self.call("io.lockwatch.GetStatus", {})
                worst = max(worst, time.monotonic() - t0)
                self.assertIn("status", r["parameters"])
            # A loop that waited on the flooder would stall for good; the bound leaves room
            # for a sanitizer build sharing two cores with other tests.
            self.assertLess(worst, 5.0)
            # It reads at last, and gets every reply, in order.
            for i in range(calls):
                r = flood.recv()
                self.assertIsNotNone(r, "dropped after %d replies" % i)
                self.assertEqual(r["parameters"]["matrix"]["schema"], "lockwatch.matrix/1")
        finally:
            sender.join(WAIT)

    # ---- credentials ----------------------------------------------------------------------

    def as_nobody(self, calls):
        """Connect as nobody (credentials are taken at connect time) and make calls;
        returns the replies."""
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")
        if os.geteuid() != 0:
            self.skipTest("needs root to switch to nobody")
        os.chown(os.path.dirname(self.daemon.socket), 0, nobody.pw_gid)
        os.chmod(os.path.dirname(self.daemon.socket), 0o750)
        os.chown(self.daemon.socket, 0, nobody.pw_gid)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(rfd)
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                c = Conn(self.daemon.socket)
                out = [c.call(m, p) for m, p in calls]
                os.write(wfd, json.dumps(out).encode())
                os._exit(0)
            except BaseException as e:  # report anything to the parent
                os.write(wfd, json.dumps({"exception": repr(e)}).encode())
                os._exit(1)
        os.close(wfd)
        data = b""
        while True:
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            data += chunk
        os.close(rfd)
        os.waitpid(pid, 0)
        out = json.loads(data)
        self.assertIsInstance(out, list, out)
        return out

    def test_privileged_methods_refused_to_another_uid(self):
        out = self.as_nobody([("io.lockwatch.Poll", {}), ("io.lockwatch.Reload", {}),
                              ("io.lockwatch.Poll", {"source": "litellm"}),
                              ("io.lockwatch.GetStatus", {})])
        for r in out[:3]:
            self.assertError(r, "io.lockwatch.PermissionDenied", {})
        self.assertIn("status", out[3]["parameters"])

    def test_privileged_methods_allowed_to_root(self):
        if os.geteuid() != 0:
            self.skipTest("not root")
        self.assertEqual(self.call("io.lockwatch.Poll", {"source": "openrouter"}), {"parameters": {}})
        self.assertError(self.call("io.lockwatch.Poll", {"source": "nope"}),
                         "io.lockwatch.NoSuchSource", {"source": "nope"})
        self.assertEqual(self.call("io.lockwatch.Reload", {}), {"parameters": {}})

    def test_reload_failure_names_the_place(self):
        if os.geteuid() != 0:
            self.skipTest("not root")
        with open(self.config) as f:
            good = f.read()
        try:
            with open(self.config, "w") as f:
                f.write(good.replace("interval = 15m", "interval = soon"))
            r = self.call("io.lockwatch.Reload", {})
            self.assertEqual(r.get("error"), "io.lockwatch.ReloadFailed", r)
            self.assertRegex(r["parameters"]["message"],
                             r"lockwatch\.conf:\d+:\d+: invalid duration 'soon' for 'interval'.*"
                             r"the previous configuration keeps running")
            # The old configuration still answers.
            self.assertIn("status", self.call("io.lockwatch.GetStatus", {})["parameters"])
        finally:
            with open(self.config, "w") as f:
                f.write(good)
        self.assertEqual(self.call("io.lockwatch.Reload", {}), {"parameters": {}})

    def test_suspect_source_held_until_accepted(self):
        if os.geteuid() != 0:
            self.skipTest("not root")
        self.assertError(self.call("io.lockwatch.Poll", {"accept": True}),
                         "org.varlink.service.InvalidParameter", {"parameter": "accept"})
        path = os.path.join(self.tmp, "snapshots", "openrouter.json")
        with open(path) as f:
            original = f.read()
        doc = json.loads(original)
        gone = [m["id"] for m in doc["data"][:2]]  # half the rows: over max_removal
        doc["data"] = doc["data"][2:]

        def cell(model):
            m = self.call("io.lockwatch.Explain", {"model": model})["parameters"]["model"]
            return [c for c in m["cells"] if c["provider"] == "openrouter"][0]
        try:
            with open(path, "w") as f:
                json.dump(doc, f)
            for _ in range(2):  # the breaker holds, poll after poll
                self.poll_and_wait("openrouter")
                st = self.source_status("openrouter")
                self.assertEqual(st["status"], "suspect", st)
                self.assertEqual(st["last_result"], "suspect-removal", st)
                self.assertEqual(cell("anthropic/claude-opus-4-7")["state"], "available")
            # The operator vouches for the page: applied, one miss counted.
            self.poll_and_wait("openrouter", accept=True)
            self.assertEqual(self.source_status("openrouter")["status"], "ok")
            self.assertEqual(cell("anthropic/claude-opus-4-7")["state"], "available")
            # The next ordinary parse completes the removal (removal_polls = 2) instead of
            # tripping the breaker again on rows already judged.
            self.poll_and_wait("openrouter")
            self.assertEqual(self.source_status("openrouter")["status"], "ok")
            self.assertEqual(cell("anthropic/claude-opus-4-7")["state"], "unavailable")
            self.assertTrue(gone[0].startswith("anthropic/claude-opus-4"), gone)
        finally:
            with open(path, "w") as f:
                f.write(original)
            self.poll_and_wait("openrouter")
        self.assertEqual(cell("anthropic/claude-opus-4-7")["state"], "available")

    # ---- Subscribe ------------------------------------------------------------------------

    def test_subscribe_streams_a_cell_change(self):
        sub = self.conn()
        sub.send("io.lockwatch.Subscribe", {}, more=True)
        # Requests on one connection are handled in order: once this answers, the
        # subscription is in place.
        sub.send("org.varlink.service.GetInfo", {})
        self.assertEqual(sub.recv()["parameters"]["product"], "lockwatchd")

        # gemini's cell at its direct provider rests on litellm alone: two good parses of
        # litellm without it turn it unavailable (removal_polls = 2), which is news.
        path = os.path.join(self.tmp, "snapshots", "litellm.json")
        with open(path) as f:
            original = f.read()
        doc = json.loads(original)
        del doc["gemini-3-pro-preview"]
        try:
            for indent in (1, 2):  # different bytes each time, so each poll parses
                with open(path, "w") as f:
                    json.dump(doc, f, indent=indent)
                self.poll_and_wait("litellm")
            while True:
                r = sub.recv()
                self.assertIsNotNone(r, "the subscription ended")
                self.assertTrue(r.get("continues"), r)
                ev = r["parameters"]["event"]
                self.assertEqual(set(ev), {"time", "kind", "rule", "model", "provider", "source",
                                           "state", "previous_state", "message"})
                if ev["kind"] == "cell" and ev["model"] == "google/gemini-3-pro-preview":
                    break
            self.assertEqual(ev["provider"], "google")
            self.assertEqual(ev["state"], "unavailable")
            self.assertEqual(ev["previous_state"], "available")
            self.assertEqual(ev["source"], "litellm")
            hist = self.call("io.lockwatch.GetHistory",
                             {"model": "google/*"})["parameters"]["events"]
            self.assertIn(ev, hist)
            self.assertTrue(all(e["model"].startswith("google/") for e in hist))
            since = self.call("io.lockwatch.GetHistory", {"since": ev["time"] + 1})["parameters"]
            self.assertNotIn(ev, since["events"])
            last = self.call("io.lockwatch.GetHistory", {"limit": 1})["parameters"]["events"]
            self.assertEqual(len(last), 1)
        finally:
            with open(path, "w") as f:
                f.write(original)
            self.poll_and_wait("litellm")

    def source_status(self, source):
        st = self.call("io.lockwatch.GetStatus")["parameters"]["status"]
        return [s for s in st["sources"] if s["name"] == source][0]

    def poll_and_wait(self, source, accept=False):
        """Poll source and wait until that poll has been recorded."""
        def polls():
            return self.source_status(source)["polls"]
        before = polls()
        params = {"source": source, "accept": True} if accept else {"source": source}
        self.assertEqual(self.call("io.lockwatch.Poll", params), {"parameters": {}})
        deadline = time.monotonic() + WAIT
        while polls() == before:
            self.assertLess(time.monotonic(), deadline, "the poll of %s never finished" % source)
            time.sleep(0.02)


if __name__ == "__main__":
    if not os.path.exists(LOCKWATCHD):
        print("lockwatchd not built at %s" % LOCKWATCHD)
        sys.exit(1)
    unittest.main(verbosity=2)
