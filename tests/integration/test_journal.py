#!/usr/bin/env python3
"""Alerts and source events in a real journal (DESIGN 9).

A systemd-journald runs standalone in a private mount namespace (a tmpfs /run, its
journal files bound to a directory of the test, volatile storage so nothing reaches the
host's /var/log/journal). lockwatchd runs in daemon mode until its first round has fired an
alert and a source has degraded, then gets SIGTERM; the entries are read back with
`journalctl -D DIR -o json` and their structured fields checked.

The syslog(3) fallback is checked the same way: the journal socket is removed and a private
/dev holds /dev/log -> journald's dev-log socket, so lockwatchd logs through syslog and the
entries arrive with the syslog transport (and without the structured fields).

Needs root (mount namespaces) and /lib/systemd/systemd-journald; skipped (77) otherwise.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402

JOURNALD = "/lib/systemd/systemd-journald"
WAIT = 90

MSG_FIRING = "e557b04a8a1e461ca006ba39e0abd722"
MSG_SOURCE_DEGRADED = "4fa126142f934a0997a47105a8ce0f1b"
SINGLE = "anthropic/claude-haiku-4-5"
DOUBLE = "anthropic/claude-opus-4-7"

RULES = """\
alert OneCloud {
    when     clouds(available) == 1
    severity critical
    summary  "{model} only on {clouds(available)}"
}

alert SourceDown on source {
    when     state == degraded
    severity error
    summary  "source {source} is down"
}
"""

# Runs inside `unshare --mount --propagation private`. Arguments: the daemon's argv.
NAMESPACE_SCRIPT = r"""
set -eu
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal
mount --bind "$LW_JOURNAL_DIR" /run/log/journal
if [ -e /etc/systemd/journald.conf ]; then
        mount --bind "$LW_JOURNALD_CONF" /etc/systemd/journald.conf
fi
if [ -d /var/log/journal ]; then
        mount -t tmpfs -o mode=755 tmpfs /var/log/journal
fi
"$LW_JOURNALD" & J=$!
n=0
until [ -S /run/systemd/journal/socket ] && [ -S /run/systemd/journal/dev-log ]; do
        n=$((n + 1))
        if [ $n -gt 1200 ] || ! kill -0 $J 2>/dev/null; then
                echo "systemd-journald did not come up" >&2
                exit 90
        fi
        sleep 0.05
done
if [ "$LW_MODE" = syslog ]; then
        # No journal socket: lockwatchd must fall back to syslog(3), which glibc sends to
        # /dev/log. A private /dev keeps the host's untouched.
        rm /run/systemd/journal/socket
        mkdir /run/host-dev
        mount --bind /dev /run/host-dev
        mount -t tmpfs -o mode=755 tmpfs /dev
        for d in null zero random urandom; do
                touch /dev/$d
                mount --bind /run/host-dev/$d /dev/$d
        done
        ln -s /run/systemd/journal/dev-log /dev/log
fi
"$@" 2>"$LW_ERR" </dev/null >/dev/null & L=$!
echo $L >"$LW_PIDFILE"
rc=0
wait $L || rc=$?
echo $rc >"$LW_RCFILE"
n=0
until [ -e "$LW_STOPFILE" ] || [ $n -gt 2400 ]; do
        n=$((n + 1))
        sleep 0.05
done
kill $J
wait $J || true
"""


def prerequisites():
    """Why this test cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root: a private mount namespace for journald needs CAP_SYS_ADMIN"
    if not os.access(JOURNALD, os.X_OK):
        return "%s not found" % JOURNALD
    for tool in ("unshare", "journalctl", "mount"):
        if not shutil.which(tool):
            return "%s not found" % tool
    return None


class JournalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = prerequisites()
        if why:
            print("test_journal: skipping: %s" % why, file=sys.stderr)
            raise unittest.SkipTest(why)

    def setUp(self):
        self.tmp = lwtest.TempDir("lw-journal-")
        self.addCleanup(self.tmp.cleanup)
        snap = self.tmp.write("snapshots/litellm.json", json.dumps({
            "anthropic.claude-opus-4-7": {"litellm_provider": "bedrock_converse", "mode": "chat"},
            "vertex_ai/claude-opus-4-7@default": {
                "litellm_provider": "vertex_ai-anthropic_models", "mode": "chat"},
            "anthropic.claude-haiku-4-5": {"litellm_provider": "bedrock_converse",
                                           "mode": "chat"},
        }))
        rules = self.tmp.write("rules/journal.rules", RULES)
        self.missing = self.tmp.join("snapshots", "gone.json")
        # interval 1h: the first round runs as soon as both sources have answered once.
        self.conf = lwtest.write_config(
            self.tmp, {"rules": rules, "interval": "1h", "retries": 0},
            [("litellm", {"url": snap, "format": "litellm"}),
             ("mirror", {"url": self.missing, "format": "litellm"})])
        self.rules_dir = self.tmp.mkdir("no-shipped-rules")
        self.state_dir = self.tmp.mkdir("state")

    def run_in_namespace(self, mode):
        """Run the daemon under a private journald until its first round has fired, stop it
        with SIGTERM, and return (stderr of the daemon, journal entries of lockwatchd)."""
        jdir = self.tmp.mkdir("journal-" + mode)
        files = {k: self.tmp.join("%s.%s" % (k, mode)) for k in ("err", "pid", "rc", "stop")}
        env = dict(os.environ,
                   LW_MODE=mode, LW_JOURNALD=JOURNALD, LW_JOURNAL_DIR=jdir,
                   LW_JOURNALD_CONF=self.tmp.write("journald.conf",
                                                   "[Journal]\nStorage=volatile\n"),
                   LW_ERR=files["err"], LW_PIDFILE=files["pid"], LW_RCFILE=files["rc"],
                   LW_STOPFILE=files["stop"])
        env.pop("JOURNAL_STREAM", None)
        env.pop("NOTIFY_SOCKET", None)
        argv = [lwtest.lockwatchd(), "--config", self.conf, "--state-dir", self.state_dir,
                "--rules-dir", self.rules_dir, "--socket", self.tmp.join("control")]
        out = open(self.tmp.join("namespace.%s.out" % mode), "w+")
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private",
                                 "bash", "-c", NAMESPACE_SCRIPT, "lw-namespace"] + argv,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)

        def finish():
            open(files["stop"], "w").close()
            try:
                proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            out.close()
        self.addCleanup(finish)

        def err_text():
            try:
                with open(files["err"], encoding="utf-8", errors="replace") as f:
                    return f.read()
            except FileNotFoundError:
                return ""

        def describe():
            out.seek(0)
            return "namespace output:\n%s\nlockwatchd stderr:\n%s" % (out.read(), err_text())

        def fired():
            if proc.poll() is not None:
                return "exited"
            t = err_text()
            return ("[firing] OneCloud %s:" % SINGLE in t and "[firing] SourceDown mirror:" in t
                    and "[degraded] source mirror:" in t)
        state = lwtest.wait_until(fired, WAIT)
        self.assertTrue(state and state != "exited", "the first round never fired\n" + describe())

        with open(files["pid"]) as f:
            os.kill(int(f.read()), signal.SIGTERM)
        def read_rc():
            try:
                with open(files["rc"]) as f:
                    return f.read()
            except FileNotFoundError:
                return None
        rc = lwtest.wait_until(read_rc, WAIT)
        self.assertEqual(rc and rc.strip(), "0", describe())

        def entries():
            dirs = [d for d in glob.glob(os.path.join(jdir, "*")) if os.path.isdir(d)]
            if not dirs:
                return None
            r = subprocess.run(["journalctl", "--no-pager", "-o", "json", "-D", dirs[0],
                                "SYSLOG_IDENTIFIER=lockwatchd"],
                               capture_output=True, text=True, timeout=WAIT)
            got = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
            stopping = any("stopping" in e.get("MESSAGE", "") for e in got)
            return got if stopping else None
        got = lwtest.wait_until(entries, WAIT, step=0.2)
        self.assertTrue(got, "no lockwatchd entries in the journal\n" + describe())
        return err_text(), got

    def one(self, entries, **fields):
        match = [e for e in entries if all(e.get(k) == v for k, v in fields.items())]
        self.assertEqual(len(match), 1, "entries with %r: %s" % (
            fields, json.dumps([e.get("MESSAGE") for e in entries], indent=1)))
        return match[0]

    def test_alerts_and_source_events_carry_their_fields(self):
        log, entries = self.run_in_namespace("journal")
        self.assertIsNone(lwtest.sanitizer_report(lwtest.Run([], 0, "", log, 0, False)), log)

        alert = self.one(entries, MESSAGE_ID=MSG_FIRING, LOCKWATCH_RULE="OneCloud")
        self.assertEqual(alert["PRIORITY"], "2")
        self.assertEqual(alert["LOCKWATCH_MODEL"], SINGLE)
        self.assertEqual(alert["LOCKWATCH_CLOUDS"], "aws")
        self.assertEqual(alert["LOCKWATCH_STATE"], "firing")
        self.assertEqual(alert["SYSLOG_IDENTIFIER"], "lockwatchd")
        self.assertEqual(alert["_TRANSPORT"], "journal")
        self.assertEqual(alert["MESSAGE"],
                         "[firing] OneCloud %s: %s only on aws" % (SINGLE, SINGLE))
        self.assertNotIn("LOCKWATCH_SOURCE", alert)
        # A model on two clouds raised nothing.
        self.assertFalse([e for e in entries if e.get("LOCKWATCH_MODEL") == DOUBLE])

        degraded = self.one(entries, MESSAGE_ID=MSG_SOURCE_DEGRADED)
        self.assertEqual(degraded["LOCKWATCH_SOURCE"], "mirror")
        self.assertEqual(degraded["LOCKWATCH_STATE"], "degraded")
        self.assertEqual(degraded["PRIORITY"], "4")
        result = degraded.get("LOCKWATCH_RESULT")
        self.assertTrue(result, degraded)
        self.assertTrue(degraded["MESSAGE"].startswith("[degraded] source mirror: %s" % result),
                        degraded["MESSAGE"])
        self.assertNotIn("LOCKWATCH_MODEL", degraded)

        down = self.one(entries, MESSAGE_ID=MSG_FIRING, LOCKWATCH_RULE="SourceDown")
        self.assertEqual((down["PRIORITY"], down["LOCKWATCH_SOURCE"], down["LOCKWATCH_STATE"]),
                         ("3", "mirror", "firing"))
        self.assertEqual(down["MESSAGE"], "[firing] SourceDown mirror: source mirror is down")
        self.assertNotIn("LOCKWATCH_MODEL", down)

        # The same lines went to stderr (foreground, not under systemd).
        self.assertIn("lockwatchd: crit: " + alert["MESSAGE"], log)

    def test_syslog_fallback_without_a_journal_socket(self):
        log, entries = self.run_in_namespace("syslog")
        self.assertIsNone(lwtest.sanitizer_report(lwtest.Run([], 0, "", log, 0, False)), log)
        self.assertTrue(entries)
        self.assertEqual({e["_TRANSPORT"] for e in entries}, {"syslog"})
        alert = self.one(entries, MESSAGE="[firing] OneCloud %s: %s only on aws"
                         % (SINGLE, SINGLE))
        self.assertEqual(alert["PRIORITY"], "2")
        self.assertEqual(alert["SYSLOG_FACILITY"], "3")
        # syslog(3) carries text only: the structured fields are the journal's.
        self.assertFalse([k for k in alert if k.startswith("LOCKWATCH_") or k == "MESSAGE_ID"],
                         alert)
        degraded = [e for e in entries if e["MESSAGE"].startswith("[degraded] source mirror: ")]
        self.assertEqual(len(degraded), 1, entries)
        self.assertEqual(degraded[0]["PRIORITY"], "4")


if __name__ == "__main__":
    lwtest.require_daemon()
    lwtest.main()
