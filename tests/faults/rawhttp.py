"""A raw-bytes HTTP upstream for tests that need what http.server cannot send: header values
that are not UTF-8, bodies cut mid-way, lying Content-Lengths, broken chunking, gzip bombs.

RawServer(routes) serves routes: {path: handler}; a handler gets the request head (bytes)
and the socket and writes whatever it likes. Helpers build common answers.
"""

import gzip
import socket
import threading
import time


def response(status=200, body=b"", headers=(), length=True, reason=b"OK"):
    """The bytes of one HTTP/1.1 response; headers are (bytes, bytes) pairs."""
    head = b"HTTP/1.1 %d %s\r\n" % (status, reason)
    for k, v in headers:
        head += k + b": " + v + b"\r\n"
    if length:
        head += b"Content-Length: %d\r\n" % len(body)
    head += b"Connection: close\r\n\r\n"
    return head + body


def fixed(status=200, body=b"", headers=(), length=True):
    """A handler that sends one fixed response."""
    data = response(status, body, headers, length)

    def handle(head, sock):
        sock.sendall(data)
    return handle


def gzip_bomb(n):
    """A handler sending n zero bytes gzip-compressed (a few KiB on the wire)."""
    body = gzip.compress(b"\0" * n, compresslevel=9)

    def handle(head, sock):
        sock.sendall(response(200, body, [(b"Content-Encoding", b"gzip")]))
    return handle


class RawServer:
    def __init__(self, routes=None):
        self.routes = dict(routes or {})
        self.hits = {}
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def count(self, path):
        with self.lock:
            return self.hits.get(path, 0)

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        try:
            conn.settimeout(30)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].split()
            path = line[1].decode("latin-1") if len(line) > 1 else "/"
            key = path.split("?", 1)[0]
            with self.lock:
                self.hits[key] = self.hits.get(key, 0) + 1
                handler = self.routes.get(key)
            if handler is None:
                conn.sendall(response(404, b"no such route\n"))
            else:
                handler(head, conn)
        except OSError:
            pass
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass


def drip(data, interval):
    """A handler sending a 200 with data one byte every interval seconds."""
    def handle(head, sock):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data))
        for b in data:
            sock.sendall(bytes([b]))
            time.sleep(interval)
    return handle
