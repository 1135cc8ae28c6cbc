#!/usr/bin/env python3
"""A scripted HTTP(S) upstream for the fetcher's integration tests.

Binds 127.0.0.1 (or --bind ADDR) on a free port, prints "READY <port>" on stdout once it is
listening, and appends one JSON line per request event to --log:

  {"event": "request", "id": N, "t": T, "path": ..., "query": ..., "headers": {...}}
  {"event": "done", "id": N, "t": T, "t_respond": T2, "t_end": T3, "status": S}

T values are time.monotonic() (CLOCK_MONOTONIC, comparable between processes on Linux).
t_respond is taken just before the response's first byte is written, so a request that the
client sent only after reading this response always has a later "t".

Routes (query parameters in brackets):
  /ok                       200, fixed body, ETag and Last-Modified       [body]
  /etag                     304 when If-None-Match matches, else 200      [tag]
  /lastmod                  304 when If-Modified-Since matches, else 200  [date]
  /status/N                 status N with a short body
  /retry-after              first request per key: 429 (or [status]) with Retry-After: secs,
                            then 200; date=1 sends it as an HTTP-date  [secs, key, status, date]
  /delay                    sleep ms, then 200                            [ms]
  /slow                     drips one byte every interval seconds         [bytes, interval]
  /big                      N bytes of 'x'; gzip=1 sends them compressed  [bytes, gzip]
  /truncated                Content-Length larger than the body, then close [announce, send]
  /redirect-loop            302 to itself, forever
  /redirect                 302 to the given URL                          [to]
"""

import argparse
import email.utils
import gzip
import http.server
import json
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse

MAX_DELAY_MS = 60_000
MAX_BIG_BYTES = 256 * 1024 * 1024
MAX_SLOW_BYTES = 1000
MAX_RETRY_AFTER = 86400

OK_BODY = b'{"sample_spec": {}, "lockwatch-test-model": {"litellm_provider": "openai"}}\n'
OK_ETAG = '"ok-v1"'
FIXED_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"


class Log:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.file = open(path, "a", encoding="utf-8") if path else None
        self.next_id = 0

    def new_id(self):
        with self.lock:
            self.next_id += 1
            return self.next_id

    def write(self, obj):
        if not self.file:
            return
        line = json.dumps(obj, sort_keys=True) + "\n"
        with self.lock:
            self.file.write(line)
            self.file.flush()


def int_param(q, name, default, lo, hi):
    try:
        v = int(q.get(name, [str(default)])[0])
    except ValueError:
        v = default
    return max(lo, min(hi, v))


def float_param(q, name, default, lo, hi):
    try:
        v = float(q.get(name, [str(default)])[0])
    except ValueError:
        v = default
    return max(lo, min(hi, v))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lockwatch-test-upstream"
    sys_version = ""

    def setup(self):
        ctx = self.server.tls_context
        if ctx is not None:
            self.request.settimeout(10)
            self.request = ctx.wrap_socket(self.request, server_side=True)
            self.request.settimeout(None)
        super().setup()

    def log_message(self, fmt, *args):
        pass

    # -- plumbing ------------------------------------------------------------------------

    def respond(self, status, body=b"", headers=None, content_length=None):
        self.t_respond = time.monotonic()
        self.status = status
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(body) if content_length is None
                                                  else content_length))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.t_respond = None
        self.status = None
        req_id = self.server.log.new_id()
        t = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        self.server.log.write({
            "event": "request",
            "id": req_id,
            "t": t,
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "server_port": self.server.server_address[1],
            "headers": {k.lower(): v for k, v in self.headers.items()},
        })
        try:
            self.route(url.path, q)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        finally:
            self.server.log.write({
                "event": "done",
                "id": req_id,
                "t": t,
                "t_respond": self.t_respond,
                "t_end": time.monotonic(),
                "path": url.path,
                "status": self.status,
            })

    # -- routes --------------------------------------------------------------------------

    def route(self, path, q):
        if path == "/ok":
            body = q.get("body", [None])[0]
            body = body.encode() if body is not None else OK_BODY
            self.respond(200, body, {"ETag": OK_ETAG, "Last-Modified": FIXED_DATE,
                                     "Content-Type": "application/json"})
        elif path == "/etag":
            tag = '"%s"' % q.get("tag", ["v1"])[0]
            if self.headers.get("If-None-Match") == tag:
                self.respond(304, headers={"ETag": tag})
            else:
                self.respond(200, OK_BODY, {"ETag": tag})
        elif path == "/lastmod":
            date = q.get("date", [FIXED_DATE])[0]
            if self.headers.get("If-Modified-Since") == date:
                self.respond(304)
            else:
                self.respond(200, OK_BODY, {"Last-Modified": date})
        elif path.startswith("/status/"):
            try:
                code = int(path[len("/status/"):])
            except ValueError:
                code = 400
            if not 200 <= code <= 599:
                code = 400
            self.respond(code, b"status %d\n" % code)
        elif path == "/retry-after":
            secs = int_param(q, "secs", 1, 0, MAX_RETRY_AFTER)
            key = q.get("key", ["default"])[0]
            status = int_param(q, "status", 429, 400, 599)
            with self.server.state_lock:
                first = key not in self.server.retry_seen
                self.server.retry_seen.add(key)
            if first:
                if q.get("date", ["0"])[0] == "1":
                    value = email.utils.formatdate(time.time() + secs, usegmt=True)
                else:
                    value = str(secs)
                self.respond(status, b"slow down\n", {"Retry-After": value})
            else:
                self.respond(200, OK_BODY)
        elif path == "/delay":
            ms = int_param(q, "ms", 1000, 0, MAX_DELAY_MS)
            time.sleep(ms / 1000.0)
            self.respond(200, OK_BODY)
        elif path == "/slow":
            n = int_param(q, "bytes", 20, 1, MAX_SLOW_BYTES)
            interval = float_param(q, "interval", 0.5, 0.01, 10.0)
            self.t_respond = time.monotonic()
            self.status = 200
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            self.wfile.flush()
            for _ in range(n):
                time.sleep(interval)
                self.wfile.write(b"x")
                self.wfile.flush()
        elif path == "/big":
            n = int_param(q, "bytes", 1024, 0, MAX_BIG_BYTES)
            if q.get("gzip", ["0"])[0] == "1":
                body = gzip.compress(b"x" * n)
                self.respond(200, body, {"Content-Encoding": "gzip"})
            else:
                self.t_respond = time.monotonic()
                self.status = 200
                self.send_response(200)
                self.send_header("Content-Length", str(n))
                self.end_headers()
                chunk = b"x" * 65536
                left = n
                while left > 0:
                    k = min(left, len(chunk))
                    self.wfile.write(chunk[:k])
                    left -= k
                self.wfile.flush()
        elif path == "/truncated":
            announce = int_param(q, "announce", 1000, 1, 1 << 20)
            send = int_param(q, "send", 100, 0, announce - 1)
            self.respond(200, b"y" * send, {"Connection": "close"}, content_length=announce)
            self.close_connection = True
        elif path == "/redirect-loop":
            n = int_param(q, "n", 0, 0, 1 << 30)
            self.respond(302, b"", {"Location": "/redirect-loop?n=%d" % (n + 1)})
        elif path == "/redirect":
            to = q.get("to", ["/ok"])[0]
            self.respond(302, b"", {"Location": to})
        else:
            self.respond(404, b"no such route\n")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        print("upstream: %s: %s" % (type(exc).__name__, exc), file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float, default=600.0,
                    help="exit after this many seconds even if nobody stops us")
    args = ap.parse_args()

    server = Server((args.bind, args.port), Handler)
    server.log = Log(args.log)
    server.state_lock = threading.Lock()
    server.retry_seen = set()
    server.tls_context = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        server.tls_context = ctx

    def on_term(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGALRM, on_term)
    signal.setitimer(signal.ITIMER_REAL, args.lifetime)

    print("READY %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
