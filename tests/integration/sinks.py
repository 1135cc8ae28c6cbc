"""Real receivers for the alert sink tests: Debian's prometheus-alertmanager (one or a
two-node cluster on 127.0.0.1), Debian's prometheus, and a webhook receiver written here
that records every POST and can refuse its first attempts. Every wait is a bounded loop
over a real condition (lwtest.wait_until)."""

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402

WAIT = 60


def free_port():
    """A TCP port free on 127.0.0.1 now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    """(status, body text) of a GET, or (None, error text) when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


def get_json(url):
    status, text = http_get(url)
    if status != 200:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class Receiver:
    """A webhook receiver on 127.0.0.1: every POST is recorded (time, path, headers, JSON
    body); the first `fail_first` requests are answered with fail_status instead of 200."""

    def __init__(self, fail_first=0, fail_status=503, port=0, tls=None):
        self.posts = []
        self.attempts = []
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with outer.lock:
                    outer.attempts.append(time.monotonic())
                    fail = len(outer.attempts) <= outer.fail_first
                    if not fail:
                        outer.posts.append({"time": time.monotonic(), "path": self.path,
                                            "headers": dict(self.headers),
                                            "body": json.loads(body)})
                self.send_response(outer.fail_status if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.tls = tls
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls.cert, tls.key)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/"):
        return "%s://127.0.0.1:%d%s" % ("https" if self.tls else "http", self.port, path)

    def bodies(self):
        with self.lock:
            return [p["body"] for p in self.posts]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def have_alertmanager():
    return shutil.which("prometheus-alertmanager") is not None


def have_prometheus():
    return shutil.which("prometheus") is not None and shutil.which("promtool") is not None


class Alertmanager:
    """One prometheus-alertmanager on 127.0.0.1, optionally clustered with peers."""

    def __init__(self, tmp, name, receiver_url, cluster_port=None, peers=(),
                 peer_timeout="3s"):
        self.name = name
        self.port = free_port()
        d = tmp.mkdir("am-" + name)
        conf = os.path.join(d, "am.yml")
        with open(conf, "w") as f:
            f.write("route:\n"
                    "  receiver: hook\n"
                    "  group_by: ['alertname', 'model']\n"
                    "  group_wait: 1s\n"
                    "  group_interval: 1s\n"
                    "  repeat_interval: 1h\n"
                    "receivers:\n"
                    "  - name: hook\n"
                    "    webhook_configs:\n"
                    "      - url: %s\n"
                    "        send_resolved: true\n" % receiver_url)
        argv = ["prometheus-alertmanager", "--config.file=" + conf,
                "--storage.path=" + os.path.join(d, "data"),
                "--web.listen-address=127.0.0.1:%d" % self.port]
        if cluster_port:
            argv += ["--cluster.listen-address=127.0.0.1:%d" % cluster_port,
                     "--cluster.peer-timeout=" + peer_timeout,
                     "--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=1s",
                     "--cluster.settle-timeout=2s"]
            argv += ["--cluster.peer=127.0.0.1:%d" % p for p in peers]
        else:
            argv.append("--cluster.listen-address=")
        self.log = open(os.path.join(d, "log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def status(self):
        return get_json(self.url("/api/v2/status"))

    def alerts(self):
        """Active alerts (resolved ones are not listed by Alertmanager), or None."""
        return get_json(self.url("/api/v2/alerts"))

    def metric(self, name):
        """The sum of every sample of metric name on the Alertmanager's own /metrics."""
        status, text = http_get(self.url("/metrics"))
        if status != 200:
            return None
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=WAIT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def find_alert(alerts, labels):
    """The alert of alerts whose labels include every item of labels, or None."""
    for a in alerts or []:
        if all(a["labels"].get(k) == v for k, v in labels.items()):
            return a
    return None


class Prometheus:
    """A prometheus scraping one target every second."""

    def __init__(self, tmp, target):
        self.port = free_port()
        d = tmp.mkdir("prometheus")
        conf = os.path.join(d, "p.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: lockwatch\n"
                    "    static_configs:\n      - targets: ['%s']\n" % target)
        self.log = open(os.path.join(d, "log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + conf,
             "--storage.tsdb.path=" + os.path.join(d, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def query(self, expr):
        """The instant vector of expr as [(labels, value)], or None."""
        q = urllib.parse.urlencode({"query": expr})
        doc = get_json("http://127.0.0.1:%d/api/v1/query?%s" % (self.port, q))
        if not doc or doc.get("status") != "success":
            return None
        return [(r["metric"], float(r["value"][1])) for r in doc["data"]["result"]]

    def query_after(self, expr, since):
        """Like query(), but only once the newest sample was scraped at or after since (epoch
        seconds); the samples' timestamps are what Prometheus recorded at the scrape."""
        q = urllib.parse.urlencode({"query": "timestamp(%s)" % expr})
        doc = get_json("http://127.0.0.1:%d/api/v1/query?%s" % (self.port, q))
        if not doc or doc.get("status") != "success" or not doc["data"]["result"]:
            return None
        if any(float(r["value"][1]) < since for r in doc["data"]["result"]):
            return None
        return self.query(expr)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


import urllib.parse  # noqa: E402  (after the classes that use it at call time)


class Daemon:
    """lockwatchd in daemon mode on conf and state_dir, its stderr in a file."""

    count = 0

    def __init__(self, tmp, conf, state_dir, rules_dir, socket_path, wrapper=None, env=None):
        Daemon.count += 1
        self.tmp = tmp
        self.socket = socket_path
        self.notify = lwtest.NotifySocket(tmp, "notify-%d" % Daemon.count)
        self.err_path = tmp.join("lockwatchd-%d.err" % Daemon.count)
        self.err = open(self.err_path, "w")
        full = dict(os.environ, NOTIFY_SOCKET=self.notify.path)
        full.pop("JOURNAL_STREAM", None)
        full.update(env or {})
        argv = list(wrapper or []) + [lwtest.lockwatchd(), "--config", conf, "--state-dir",
                                      state_dir, "--rules-dir", rules_dir, "--socket",
                                      socket_path]
        self.proc = subprocess.Popen(argv, env=full, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.err,
                                     pass_fds=getattr(self, "pass_fds", ()))

    def stderr(self):
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_ready(self):
        return self.notify.wait_for(lambda m: "READY=1" in m.split("\n"), WAIT)

    def status(self):
        """GetStatus through lockwatchctl, or None."""
        ctl = os.environ.get("LOCKWATCHCTL") or os.path.join(
            os.path.dirname(lwtest.lockwatchd()), "lockwatchctl")
        r = subprocess.run([ctl, "--socket", self.socket, "--json", "status"],
                           capture_output=True, text=True, timeout=WAIT)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)["status"]

    def status_text(self):
        """`lockwatchctl status` as people read it."""
        ctl = os.environ.get("LOCKWATCHCTL") or os.path.join(
            os.path.dirname(lwtest.lockwatchd()), "lockwatchctl")
        r = subprocess.run([ctl, "--socket", self.socket, "status"], capture_output=True,
                           text=True, timeout=WAIT)
        return r.stdout if r.returncode == 0 else None

    def sink(self, name):
        st = self.status()
        for s in (st or {}).get("sinks", []):
            if s["name"] == name:
                return s
        return None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=WAIT)

    def stop(self):
        """Stop the daemon (SIGTERM); a sanitizer or valgrind report in its stderr fails the
        test that ran it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.err.closed:
            return
        self.err.close()
        self.notify.close()
        run = lwtest.Run([], self.proc.returncode, "", self.stderr(), 0, False)
        report = lwtest.sanitizer_report(run)
        if report:
            raise AssertionError("lockwatchd: %s\n%s" % (report, run.stderr[-4000:]))


def litellm_entry(provider):
    return {"litellm_provider": provider, "mode": "chat",
            "input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06}


def snapshot(on_gcp=("claude-opus-4-7", "claude-haiku-4-5")):
    """A LiteLLM price map: both models on aws, and those named in on_gcp on gcp too."""
    d = {}
    for m in ("claude-opus-4-7", "claude-haiku-4-5"):
        d["anthropic.%s" % m] = litellm_entry("bedrock_converse")
        if m in on_gcp:
            d["vertex_ai/%s@default" % m] = litellm_entry("vertex_ai-anthropic_models")
    return d


RULES = """\
alert SingleCloud {
    when     clouds(available) == 1
    severity critical
    label    team "procurement"
    summary  "{model} is callable only on {clouds(available)}"
    description "{model}: check the other clouds"
}
"""


def write_atomic(path, doc):
    """Replace a snapshot atomically, so a poll never reads half a file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.rename(tmp, path)
