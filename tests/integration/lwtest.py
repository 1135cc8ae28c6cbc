"""Shared helpers for lockwatch's integration tests.

Everything here works from the environment ctest provides: LOCKWATCHD (the built daemon),
LW_SOURCE_DIR, LW_BUILD_DIR and LW_FIXTURES. Nothing sleeps in the hope that something has
happened: waits are bounded loops over a real condition.
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM = os.path.join(HERE, "upstream.py")

SKIP = 77  # ctest's SKIP_RETURN_CODE for the integration suite


def lockwatchd():
    """Path of the daemon under test, from $LOCKWATCHD (or the conventional build dir)."""
    path = os.environ.get("LOCKWATCHD")
    if not path:
        build = os.environ.get("LW_BUILD_DIR", os.path.join(HERE, "..", "..", "build"))
        path = os.path.join(build, "lockwatchd")
    return path


def source_dir():
    return os.environ.get("LW_SOURCE_DIR", os.path.normpath(os.path.join(HERE, "..", "..")))


def fixtures_dir():
    """The shared real-data captures, or None when absent."""
    path = os.environ.get("LW_FIXTURES")
    return path if path and os.path.isdir(path) else None


class TempDir:
    """A temporary directory removed on cleanup (or kept when LW_KEEP_TMP is set)."""

    def __init__(self, prefix="lwtest-"):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def mkdir(self, *parts):
        p = self.join(*parts)
        os.makedirs(p, exist_ok=True)
        return p

    def write(self, name, text, mode=0o644):
        p = self.join(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def cleanup(self):
        if os.environ.get("LW_KEEP_TMP"):
            print("keeping %s" % self.path, file=sys.stderr)
            return
        shutil.rmtree(self.path, ignore_errors=True)


def _ini_value(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def config_text(daemon=None, sources=()):
    """INI text: a [daemon] section from a dict, and [source NAME] sections from
    (name, dict) pairs, in order."""
    lines = ["[daemon]"]
    for k, v in (daemon or {}).items():
        lines.append("%s = %s" % (k, _ini_value(v)))
    for name, keys in sources:
        lines.append("")
        lines.append("[source %s]" % name)
        for k, v in keys.items():
            lines.append("%s = %s" % (k, _ini_value(v)))
    return "\n".join(lines) + "\n"


def demo_config(directory, snapshots=None):
    """Write directory/lockwatch.conf: the bundled offline config with absolute paths, its
    sources read from snapshots (default: the bundled data/snapshots). Returns the path."""
    src = source_dir()
    data = os.path.join(src, "data")
    with open(os.path.join(data, "lockwatch.conf")) as f:
        text = f.read()
    for name in ("providers.conf", "aliases.conf"):
        text = text.replace("= " + name, "= " + os.path.join(data, name))
    text = text.replace("url = snapshots/",
                        "url = " + (snapshots or os.path.join(data, "snapshots")) + "/")
    text = text.replace("rules = ../rules/*.rules",
                        "rules = " + os.path.join(src, "rules", "*.rules"))
    path = os.path.join(directory, "lockwatch.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def shipped_tables():
    """[daemon] keys naming the provider and alias tables shipped in data/, so a test config
    does not depend on /etc/lockwatch."""
    data = os.path.join(source_dir(), "data")
    return {"providers": os.path.join(data, "providers.conf"),
            "aliases": os.path.join(data, "aliases.conf")}


def write_config(tmp, daemon=None, sources=(), name="lockwatch.conf", tables=True):
    """Write a config file into the TempDir tmp and return its path. With tables, the
    shipped provider and alias tables are used unless daemon names others."""
    d = dict(shipped_tables()) if tables else {}
    # A configuration without rules must say so (lockwatchd refuses to run rule-less by
    # accident); a test that wants rules names them.
    d["rules"] = "none"
    d.update(daemon or {})
    return tmp.write(name, config_text(d, sources))


class Run:
    """The outcome of one daemon run."""

    def __init__(self, args, returncode, stdout, stderr, seconds, timed_out):
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds
        self.timed_out = timed_out

    def describe(self):
        return "command: %s\nexit: %s%s (%.2f s)\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(self.args), self.returncode, " (timed out)" if self.timed_out else "",
            self.seconds, self.stdout, self.stderr)


SANITIZER_REPORT = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error: "
                              r"|==\d+== (Invalid|Conditional jump|\d+ bytes in)")


def sanitizer_report(run):
    """The first line of a sanitizer or valgrind complaint in run's stderr, or None."""
    m = SANITIZER_REPORT.search(run.stderr)
    if not m:
        return None
    start = run.stderr.rfind("\n", 0, m.start()) + 1
    end = run.stderr.find("\n", m.end())
    return run.stderr[start:end if end >= 0 else None]


def run_daemon(args, timeout=60, env=None, wrapper=None):
    """Run lockwatchd with args, killing it after timeout seconds. Returns a Run.
    wrapper is an optional argv prefix (e.g. valgrind)."""
    argv = list(wrapper or []) + [lockwatchd()] + list(args)
    full_env = dict(os.environ)
    full_env.update(env or {})
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full_env)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        out, err = proc.communicate()
    return Run(argv, proc.returncode, out, err, time.monotonic() - start, timed_out)


def credentials_env(directory, config_text):
    """The environment systemd's LoadCredential= would give a configuration: a
    CREDENTIALS_DIRECTORY holding a stand-in file for every credential it names
    (credential:NAME of the sinks, credential = NAME of the sources)."""
    names = set(re.findall(r"credential:([A-Za-z0-9_.-]+)", config_text))
    names |= set(re.findall(r"^\s*credential\s*=\s*([A-Za-z0-9_.-]+)\s*$", config_text,
                            re.M))
    creds = os.path.join(directory, "credentials")
    os.makedirs(creds, exist_ok=True)
    for n in names:
        with open(os.path.join(creds, n), "w") as f:
            f.write("stand-in-%s\n" % n)
    return {"CREDENTIALS_DIRECTORY": creds}


ONCE_LINE = re.compile(r"^(?P<name>\S+) (?P<klass>\S+) bytes=(?P<bytes>\d+) ms=(?P<ms>\d+) "
                       r"attempts=(?P<attempts>\d+) etag=(?P<etag>-|\".*\") "
                       r"last-modified=(?P<last_modified>-|\"[^\"]*\")(?: (?P<extra>.*))?$")


def _unquote(v):
    """'-' is absent; a quoted value loses its outer quotes (and nothing else)."""
    if v == "-":
        return None
    return v[1:-1]


def parse_once_text(stdout):
    """Parse `--once --fetch-only` text output into {name: {field: value}}, keeping order.
    Raises ValueError on any line that does not follow the contract."""
    results = {}
    for line in stdout.splitlines():
        m = ONCE_LINE.match(line)
        if not m:
            raise ValueError("unexpected output line %r" % line)
        name = m.group("name")
        if name in results:
            raise ValueError("source %s reported twice" % name)
        results[name] = {
            "class": m.group("klass"),
            "bytes": int(m.group("bytes")),
            "ms": int(m.group("ms")),
            "attempts": int(m.group("attempts")),
            "etag": _unquote(m.group("etag")),
            "last_modified": _unquote(m.group("last_modified")),
        }
        for kv in (m.group("extra") or "").split():
            k, _, v = kv.partition("=")
            results[name][k] = v
    return results


def run_once_fetch(conf, state_dir, json_output=False, timeout=60, extra_args=(), wrapper=None):
    """Run `lockwatchd --once --fetch-only` and return (Run, parsed results)."""
    args = ["--once", "--fetch-only", "--config", conf, "--state-dir", state_dir]
    if json_output:
        args.append("--json")
    args += list(extra_args)
    run = run_daemon(args, timeout=timeout, wrapper=wrapper)
    parsed = None
    if not run.timed_out:
        try:
            if json_output:
                parsed = {s["name"]: s for s in json.loads(run.stdout)["sources"]}
            else:
                parsed = parse_once_text(run.stdout)
        except (ValueError, KeyError, TypeError) as e:
            parsed = None
            run.stderr += "\n(lwtest: cannot parse stdout: %s)" % e
    return run, parsed


class Upstream:
    """A running tests/integration/upstream.py."""

    def __init__(self, tmp, bind="127.0.0.1", tls=None, name="upstream", ready_timeout=10):
        self.bind = bind
        self.tls = tls
        self.log_path = tmp.join("%s.%s.log" % (name, bind))
        self.stderr_path = tmp.join("%s.%s.err" % (name, bind))
        argv = [sys.executable, UPSTREAM, "--bind", bind, "--log", self.log_path]
        if tls:
            argv += ["--tls", tls.cert, tls.key]
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True)
        self.port = self._read_ready(ready_timeout)

    def _read_ready(self, timeout):
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], deadline - time.monotonic())
            if not r:
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("READY "):
                return int(line.split()[1])
        self.stop()
        with open(self.stderr_path) as f:
            raise RuntimeError("upstream did not become ready (got %r): %s" % (line, f.read()))

    def url(self, path, host=None):
        scheme = "https" if self.tls else "http"
        return "%s://%s:%d%s" % (scheme, host or self.bind, self.port, path)

    def entries(self, event=None):
        """Log entries so far, optionally only those of one event type."""
        out = []
        try:
            with open(self.log_path, encoding="utf-8") as f:
                for line in f:
                    if line.endswith("\n"):
                        e = json.loads(line)
                        if event is None or e.get("event") == event:
                            out.append(e)
        except FileNotFoundError:
            pass
        return out

    def requests(self, path=None):
        return [e for e in self.entries("request") if path is None or e["path"] == path]

    def wait_done(self, count, path=None, timeout=10):
        """Wait until at least count requests (to path) have finished server-side."""
        deadline = time.monotonic() + timeout
        while True:
            done = [e for e in self.entries("done") if path is None or e["path"] == path]
            if len(done) >= count or time.monotonic() >= deadline:
                return done
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()


class TLSFiles:
    """A throwaway CA and a server certificate it signed, valid for localhost and 127.0.0.1."""

    def __init__(self, tmp):
        d = tmp.mkdir("tls")
        self.ca = os.path.join(d, "ca.pem")
        self.ca_key = os.path.join(d, "ca.key")
        self.cert = os.path.join(d, "server.pem")
        self.key = os.path.join(d, "server.key")
        csr = os.path.join(d, "server.csr")
        ext = os.path.join(d, "server.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                    "basicConstraints=critical,CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n")

        def openssl(*args):
            subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=60)

        openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-keyout", self.ca_key, "-out", self.ca,
                "-days", "2", "-subj", "/CN=lockwatch test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        openssl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-keyout", self.key, "-out", csr,
                "-subj", "/CN=localhost")
        openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                "-CAcreateserial", "-out", self.cert, "-days", "2", "-extfile", ext)


def require_daemon():
    """Exit with the skip code when the daemon binary is missing."""
    if not os.access(lockwatchd(), os.X_OK):
        print("lockwatchd not found at %s: skipping" % lockwatchd(), file=sys.stderr)
        sys.exit(SKIP)


def main():
    """unittest.main() that exits 77 when every test was skipped."""
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    if not res.wasSuccessful():
        sys.exit(1)
    # A class skipped in setUpClass counts one skip and no test run: that is all skipped too.
    if res.skipped and len(res.skipped) >= res.testsRun:
        sys.exit(SKIP)
    sys.exit(0)


def wait_until(predicate, timeout, step=0.02):
    """Poll predicate() until it returns a true value (returned) or timeout seconds pass
    (None is returned). The bound is on a real condition, not a guess at how long it takes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(step)


def read_state(state_dir):
    """The state a lockwatchd keeps in state_dir (its snapshot with the change log replayed
    over it) as one JSON document in the shape of the old state.json, or None when there is
    none. A state that is damaged other than at the log's end raises ValueError."""
    import statefile
    return statefile.read_state(state_dir)


def state_files(state_dir):
    """The files a state directory holds that are the state (not the lock)."""
    return sorted(f for f in os.listdir(state_dir) if f.startswith("state."))


def read_json(path):
    """The parsed JSON document at path, or None when the file does not exist. A file that
    exists but does not parse raises ValueError."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    return json.loads(text)


class NotifySocket:
    """An sd_notify receiver: a datagram socket whose path goes into NOTIFY_SOCKET."""

    def __init__(self, tmp, name="notify"):
        import socket as _socket
        self._socket = _socket
        self.path = tmp.join(name)
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def drain(self):
        """Collect whatever has arrived, without waiting."""
        self.sock.setblocking(False)
        try:
            while True:
                self.messages.append(self.sock.recv(65536).decode())
        except (BlockingIOError, InterruptedError):
            pass
        finally:
            self.sock.setblocking(True)

    def wait_for(self, predicate, timeout, start=0):
        """The first message from index start on that satisfies predicate, waiting up to
        timeout seconds; None if none came."""
        deadline = time.monotonic() + timeout
        seen = start
        while True:
            for m in self.messages[seen:]:
                if predicate(m):
                    return m
            seen = max(seen, len(self.messages))
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(65536).decode())
            except self._socket.timeout:
                return None

    def close(self):
        self.sock.close()
