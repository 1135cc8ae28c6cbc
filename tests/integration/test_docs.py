#!/usr/bin/env python3
"""Docs that run: every configuration and rule snippet in README.md, docs/*.md and
rules/README.md is checked by the daemon itself.

A snippet is a fenced block (``` or ~~~), whatever its info string. It is
- a configuration snippet when it has a [daemon] or [source NAME] section header line;
  it is checked with `lockwatchd --check-config`;
- a rule snippet when it has an `alert NAME {` (or `alert NAME on KIND {`) line; it is
  written to a .rules file and checked with `lockwatchd --test-rules` on a test file that
  loads it and runs one empty step (a rule file that does not parse fails that test; see
  rules/README.md, "Rule unit tests").

Snippets name files that exist on an installed machine, not here, so a configuration
snippet is rewritten before the check, and only in these ways:
- `providers = ...` and `aliases = ...` name the repository's data/providers.conf and
  data/aliases.conf, and the command line passes the same files with --providers and
  --aliases (a snippet without those keys would read /etc/lockwatch, or nothing in a build
  tree);
- `rules = ...` names the repository's rules/*.rules (`rules = none` is kept: it is a
  statement, not a path), and --rules-dir names rules/ as the shipped rules;
- `url = PATH` (a bare path or a file:// URL) in a [source NAME] section names a file of its
  own, TMP/sources/NAME, which exists (an empty file: --check-config does not fetch);
  http(s) URLs are kept, so their syntax is checked as written;
- `ca_file = PATH` (not empty) names an existing PEM file of its own.
Nothing else is changed: keys, values, comments and syntax are checked as written.

A snippet that is meant as a fragment of a file rather than a whole one is skipped only
when the line just before its opening fence is the marker `<!-- fragment -->` (invisible
in rendered Markdown). A skipped snippet is reported as skipped, never as passed.

The checker itself must be able to fail: BrokenSnippets feeds it a broken configuration
and a broken rule file and expects both to be reported.
"""

import glob
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402

SRC = lwtest.source_dir()
LOCKWATCHD = lwtest.lockwatchd()
DATA = os.path.join(SRC, "data")
RULES = os.path.join(SRC, "rules")
FRAGMENT_MARKER = "<!-- fragment -->"
WAIT = 60

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
CONFIG_SECTION = re.compile(r"^\s*\[(daemon|source\s+[^\]]+)\]\s*$", re.M)
ALERT = re.compile(r"^\s*alert\s+[A-Za-z_]\w*(\s+on\s+\w+)?\s*\{", re.M)
SETTING = re.compile(r"^(\s*)([a-z_]+)(\s*=\s*)(.*?)\s*$")
SECTION = re.compile(r"^\s*\[\s*(daemon|source)(?:\s+([^\]]*?))?\s*\]\s*$")


def doc_files():
    files = [os.path.join(SRC, "README.md")]
    files += sorted(glob.glob(os.path.join(SRC, "docs", "**", "*.md"), recursive=True))
    files.append(os.path.join(RULES, "README.md"))
    return files


class Snippet:
    def __init__(self, path, line, kind, text, fragment):
        self.path = path
        self.line = line  # of the opening fence, counted from 1
        self.kind = kind  # "config" or "rules"
        self.text = text
        self.fragment = fragment

    @property
    def where(self):
        return "%s:%d" % (os.path.relpath(self.path, SRC), self.line)


def snippets_in(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, start = m.group(2), i
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence[0] * len(fence)):
            body.append(lines[i])
            i += 1
        i += 1
        text = "\n".join(body) + "\n"
        before = lines[start - 1].strip() if start > 0 else ""
        fragment = before == FRAGMENT_MARKER
        if CONFIG_SECTION.search(text):
            out.append(Snippet(path, start + 1, "config", text, fragment))
        elif ALERT.search(text):
            out.append(Snippet(path, start + 1, "rules", text, fragment))
    return out


def all_snippets():
    return [s for path in doc_files() for s in snippets_in(path)]


def rewrite_config(text, tmp):
    """The snippet with the rewrites the module docstring lists, and a list of what was
    rewritten (for the failure message)."""
    out, notes = [], []
    section = None
    for n, line in enumerate(text.split("\n"), 1):
        sm = SECTION.match(line)
        if sm:
            section = sm.group(2) if sm.group(1) == "source" else "daemon"
            out.append(line)
            continue
        m = SETTING.match(line)
        if not m or line.lstrip().startswith(("#", ";")):
            out.append(line)
            continue
        indent, key, eq, value = m.groups()
        new = None
        if key == "providers":
            new = os.path.join(DATA, "providers.conf")
        elif key == "aliases":
            new = os.path.join(DATA, "aliases.conf")
        elif key == "rules" and value != "none":
            new = os.path.join(RULES, "*.rules")
        elif (key == "url" and section and section != "daemon"
              and (value.startswith("file://") or not re.match(r"[A-Za-z][\w+.-]*://", value))):
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", section) or "source"
            new = tmp.write(os.path.join("sources", name), "")
        elif key == "ca_file" and value not in ("", '""'):
            new = tmp.write("ca-%d.pem" % n, CA_PEM)
        if new is None:
            out.append(line)
        else:
            notes.append("line %d: %s = %s -> %s" % (n, key, value, new))
            out.append(indent + key + eq + new)
    return "\n".join(out), notes


# A well-formed certificate, so a ca_file that the daemon opens and parses is satisfied.
CA_PEM = None


def make_ca(tmp):
    global CA_PEM
    if CA_PEM is None:
        CA_PEM = open(lwtest.TLSFiles(tmp).ca).read()


def check_config(text, tmp):
    """Run --check-config on the rewritten snippet; returns (ok, report)."""
    conf_dir = tmp.mkdir("conf")
    rewritten, notes = rewrite_config(text, tmp)
    path = os.path.join(conf_dir, "lockwatch.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(rewritten)
    run = lwtest.run_daemon(["--check-config", "--config", path,
                             "--providers", os.path.join(DATA, "providers.conf"),
                             "--aliases", os.path.join(DATA, "aliases.conf"),
                             "--rules-dir", RULES], timeout=WAIT,
                            env=lwtest.credentials_env(conf_dir, rewritten))
    ok = run.returncode == 0 and not run.timed_out and "configuration OK" in run.stdout
    report = "rewrites:\n  %s\n--- as checked\n%s\n%s" % (
        "\n  ".join(notes) or "(none)", rewritten, run.describe())
    return ok, report


RULE_TEST = """\
test "the snippet parses"
rules snippet.rules

at 0h
expect none
"""


def check_rules(text, tmp):
    """Run --test-rules on a test that loads the snippet; returns (ok, report)."""
    d = tmp.mkdir("rules")
    with open(os.path.join(d, "snippet.rules"), "w", encoding="utf-8") as f:
        f.write(text)
    test = os.path.join(d, "snippet.test")
    with open(test, "w", encoding="utf-8") as f:
        f.write(RULE_TEST)
    run = lwtest.run_daemon(["--test-rules", test], timeout=WAIT)
    ok = run.returncode == 0 and not run.timed_out and "1 passed, 0 failed" in run.stdout
    return ok, "--- snippet.rules\n%s%s" % (text, run.describe())


def check(snippet, tmp):
    if snippet.kind == "config":
        return check_config(snippet.text, tmp)
    return check_rules(snippet.text, tmp)


class DocSnippets(unittest.TestCase):
    """One test per snippet, named after its file and line (added below)."""

    def setUp(self):
        self.tmp = lwtest.TempDir("lwdocs-")
        self.addCleanup(self.tmp.cleanup)

    def run_snippet(self, snippet):
        if snippet.fragment:
            self.skipTest("%s is marked %s" % (snippet.where, FRAGMENT_MARKER))
        if snippet.kind == "config" and "ca_file" in snippet.text:
            make_ca(self.tmp)
        ok, report = check(snippet, self.tmp)
        if not ok:
            self.fail("%s snippet at %s fails:\n%s" % (snippet.kind, snippet.where, report))


def _add_snippet_tests():
    seen = set()
    for s in all_snippets():
        name = "test_%s_%d_%s" % (re.sub(r"\W", "_", os.path.relpath(s.path, SRC)), s.line,
                                  s.kind)
        assert name not in seen
        seen.add(name)
        setattr(DocSnippets, name, lambda self, s=s: self.run_snippet(s))


_add_snippet_tests()


class Coverage(unittest.TestCase):
    def test_snippets_found(self):
        # The extraction must see the snippets the documents are known to hold, or a
        # change in fencing would silently check nothing.
        found = all_snippets()
        kinds = {(os.path.relpath(s.path, SRC), s.kind) for s in found}
        for want in [("README.md", "config"), ("README.md", "rules"),
                     ("docs/config.md", "config"), ("rules/README.md", "rules")]:
            self.assertIn(want, kinds)
        self.assertGreaterEqual(len(found), 8)


class BrokenSnippets(unittest.TestCase):
    """The checks must fail on a broken snippet, or every green run means nothing."""

    def setUp(self):
        self.tmp = lwtest.TempDir("lwdocs-broken-")
        self.addCleanup(self.tmp.cleanup)

    def test_broken_config_fails(self):
        good = "[daemon]\ninterval = 6h\n\n[source litellm]\nurl = x.json\nformat = litellm\n"
        ok, report = check_config(good, self.tmp)
        self.assertTrue(ok, report)
        for broken in (good.replace("interval = 6h", "interval = 6h  # end-of-line comment"),
                       good.replace("interval", "intervall"),
                       good.replace("format = litellm", "format = litelm")):
            ok, report = check_config(broken, self.tmp)
            self.assertFalse(ok, "a broken snippet passed:\n" + report)

    def test_broken_rules_fail(self):
        good = 'alert X {\n    when vendor == "x"\n}\n'
        ok, report = check_rules(good, self.tmp)
        self.assertTrue(ok, report)
        for broken in (good.replace("vendor", "vendr"), good.replace("==", "="),
                       good.replace("}", "")):
            ok, report = check_rules(broken, self.tmp)
            self.assertFalse(ok, "a broken snippet passed:\n" + report)

    def test_fragment_marker_is_honoured_only_where_placed(self):
        doc = self.tmp.write("x.md", "text\n\n```\n[daemon]\nbogus = 1\n```\n\n%s\n```\n"
                             "[daemon]\nbogus = 1\n```\n" % FRAGMENT_MARKER)
        got = [(s.line, s.fragment) for s in snippets_in(doc)]
        self.assertEqual(got, [(3, False), (9, True)])


if __name__ == "__main__":
    lwtest.require_daemon()
    lwtest.main()
