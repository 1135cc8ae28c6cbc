"""A stand-in for the providers' own model-list APIs, on loopback, for the tests: it
serves wire-shaped pages, checks each request's credentials the way the real API does
(Bedrock's SigV4 signature is recomputed here from AWS's documented algorithm), and can
be told to refuse (401, 403), to throttle (429) or to fail one region."""

import hashlib
import hmac
import http.server
import json
import threading
import urllib.parse


def _uri_encode(s, keep_slash=False):
    # SigV4: every byte but A-Z a-z 0-9 - _ . ~ is %XX with upper-case hex.
    safe = "-_.~" + ("/" if keep_slash else "")
    return urllib.parse.quote(s, safe=safe)


def sigv4_canonical_query(raw_query):
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        pairs.append((_uri_encode(urllib.parse.unquote(name)),
                      _uri_encode(urllib.parse.unquote(value))))
    pairs.sort()
    return "&".join("%s=%s" % p for p in pairs)


def sigv4_check(method, raw_path, headers, body, keys):
    """None if the request carries a valid AWS SigV4 signature by one of keys
    ({access key id: secret}); else why not."""
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "not a SigV4 Authorization header: %r" % auth[:40]
    fields = {}
    for item in auth[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = item.strip().partition("=")
        fields[k] = v
    try:
        akid, date, region, service, term = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        signature = fields["Signature"]
    except (KeyError, ValueError):
        return "malformed Authorization header"
    if akid not in keys:
        return "unknown access key %s" % akid
    if term != "aws4_request":
        return "credential scope does not end in aws4_request"
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(date):
        return "x-amz-date %r is not of the scope's day %s" % (amz_date, date)
    if "host" not in signed or "x-amz-date" not in signed:
        return "host and x-amz-date must be signed"
    path, _, query = raw_path.partition("?")
    canon_uri = _uri_encode(urllib.parse.unquote(path), keep_slash=True)
    canon_headers = "".join("%s:%s\n" % (h, " ".join((headers.get(h) or "").split()))
                            for h in signed)
    payload = hashlib.sha256(body or b"").hexdigest()
    canonical = "\n".join([method, canon_uri, sigv4_canonical_query(query), canon_headers,
                           ";".join(signed), payload])
    scope = "/".join([date, region, service, term])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])

    def h(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    k = h(("AWS4" + keys[akid]).encode(), date)
    k = h(k, region)
    k = h(k, service)
    k = h(k, term)
    want = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, signature):
        return "signature mismatch (canonical request %r)" % canonical
    return None


class Api:
    """The fake API's behaviour, changed by the test between polls."""

    def __init__(self):
        self.lock = threading.Lock()
        self.log = []           # one dict per request
        self.refuse = None      # 401 or 403 for every request
        self.throttle = 0       # answer this many next requests with 429
        self.fail_region = None  # a region whose requests answer 500
        self.aws_keys = {}      # access key id -> secret
        self.bearer = set()     # accepted bearer tokens / API keys
        self.session_token = None
        self.bedrock = {}       # region -> {"models": [...], "profiles": [...]}
        self.page_size = 2
        self.json_routes = {}   # path -> callable(query dict, headers) -> (status, obj)


def _paged(items, token, size):
    start = int(token) if token else 0
    page = items[start:start + size]
    nxt = start + size if start + size < len(items) else None
    return page, nxt


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, obj, extra=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method):
        api = self.server.api
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path, _, query = self.path.partition("?")
        entry = {"method": method, "path": path, "query": query,
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body": body.decode("utf-8", "replace"), "auth_error": None}
        with api.lock:
            api.log.append(entry)
            refuse, api_throttle = api.refuse, api.throttle
            if api.throttle:
                api.throttle -= 1
        if refuse:
            return self._send(refuse, {"message": "refused"})
        if api_throttle:
            return self._send(429, {"message": "slow down"}, {"Retry-After": "1"})
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[1] in ("foundation-models", "inference-profiles"):
            return self._bedrock(parts[0], parts[1], query, body, entry)
        route = api.json_routes.get(path)
        if route:
            status, obj = route(dict(urllib.parse.parse_qsl(query)), entry["headers"],
                                body)
            return self._send(status, obj)
        return self._send(404, {"message": "no such path"})

    def _bedrock(self, region, what, query, body, entry):
        api = self.server.api
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            err = None if auth[7:] in api.bearer else "unknown bearer key"
        else:
            err = sigv4_check("GET", self.path, self.headers, body, api.aws_keys)
            if err is None and api.session_token is not None and \
                    self.headers.get("x-amz-security-token") != api.session_token:
                err = "missing or wrong x-amz-security-token"
        entry["auth_error"] = err
        if err:
            return self._send(403, {"message": err})
        if region == api.fail_region:
            return self._send(500, {"message": "internal error"})
        data = api.bedrock.get(region, {"models": [], "profiles": []})
        q = dict(urllib.parse.parse_qsl(query))
        if what == "foundation-models":
            return self._send(200, {"modelSummaries": data["models"]})
        page, nxt = _paged(data["profiles"], q.get("nextToken", "").strip("+/="),
                           api.page_size)
        out = {"inferenceProfileSummaries": page}
        if nxt is not None:
            # A token with characters a URL must escape, as AWS's are.
            out["nextToken"] = "%d+/=" % nxt
        return self._send(200, out)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")


class Server:
    def __init__(self):
        self.api = Api()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.api = self.api
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def requests(self):
        with self.api.lock:
            return list(self.api.log)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def bedrock_model(region, model_id, provider="Anthropic", status="ACTIVE"):
    return {
        "modelArn": "arn:aws:bedrock:%s::foundation-model/%s" % (region, model_id),
        "modelId": model_id,
        "modelName": model_id,
        "providerName": provider,
        "modelLifecycle": {"status": status},
        "inferenceTypesSupported": ["ON_DEMAND"],
    }


def bedrock_profile(profile_id, regions, model_id):
    return {
        "inferenceProfileId": profile_id,
        "inferenceProfileName": profile_id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
        "models": [{"modelArn": "arn:aws:bedrock:%s::foundation-model/%s" % (r, model_id)}
                   for r in regions],
    }
