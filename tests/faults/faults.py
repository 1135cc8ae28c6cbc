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
        return self.notify.wait_for(lambda m: "READY=1" in m.split("\n"), WAIT) is not None

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


def write_atomic(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.replace(tmp, path)


def announcements(text, word):
    """Lines announcing the alert ([firing] or [resolved]) in a daemon's stderr."""
    return re.findall(r"(?m)^lockwatchd: \w+: \[%s\] %s .*$" % (re.escape(word), RULE), text)


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
    state_path = os.path.join(state, "state.json")
    logs = []
    key = "anthropic/claude-opus-4-7"

    def start():
        d = Daemon(tmp, conf, state, rules_dir)
        if not d.ready():
            d.close()
            raise RuntimeError("no READY=1\n" + d.stderr())
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
    filler = fill(state)
    write_atomic(snap, json.dumps(narrowing_snapshot(set())))  # opus leaves gcp
    d = start()
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
    ("disk", group_disk),
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
    misses = print_table()
    print("fault suite: %.0f s" % (time.monotonic() - start))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
