#!/usr/bin/env python3
"""The man pages and the bash completion against the programs they describe.

- Every option printed by `lockwatchd --help` and `lockwatchctl --help` (read from the built
  binaries, so an option added later is checked too) has an entry (a .TP tag) in its page.
- Every key of the configuration parser's key table (daemon/config.c), and every source
  format `lockwatchd --help` lists, has an entry in lockwatch.conf(5).
- Every identifier, function and geography of the rule parser's tables
  (daemon/rules_parse.c) is in lockwatch.rules(5).
- groff renders every page without a warning at 60, 80 and 100 columns, and so does
  `man -l` (each skipped, saying so, where the program is absent).
- The examples in the pages run: the rules and their test in lockwatch.rules(5) pass
  `--test-rules`, the configuration in lockwatch.conf(5) passes `--check-config`.
- `cmake --install` puts the pages in man1, man5 and man8 and the completions where
  bash-completion looks for them.
- The completion scripts, sourced in bash, offer commands, options and option arguments,
  and the model ids of a running daemon (started on the bundled demo snapshots).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwtest  # noqa: E402

SRC = lwtest.source_dir()
MAN = os.path.join(SRC, "man")
COMPLETION = os.path.join(SRC, "completion")
LOCKWATCHD = lwtest.lockwatchd()
LOCKWATCHCTL = os.environ.get("LOCKWATCHCTL") or os.path.join(os.path.dirname(LOCKWATCHD),
                                                                "lockwatchctl")
PAGES = ["lockwatchd.8", "lockwatchctl.1", "lockwatch.conf.5", "lockwatch.rules.5"]
WAIT = 60.0

# An option as --help prints it: "-c, --config PATH", "--once", "--test-rules FILE...".
HELP_OPTION = re.compile(r"^\s+(?:(-[A-Za-z]),\s+)?(--[a-z][a-z0-9-]*)", re.M)


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=WAIT, **kw)


def help_options(binary):
    """(long options, short options) listed by BINARY --help."""
    r = run([binary, "--help"])
    if r.returncode != 0:
        raise AssertionError("%s --help exited %d:\n%s" % (binary, r.returncode, r.stderr))
    longs, shorts = [], []
    for m in HELP_OPTION.finditer(r.stdout):
        if m.group(1):
            shorts.append(m.group(1))
        longs.append(m.group(2))
    return longs, shorts


def roff_plain(text):
    """Roff source with the escapes that hide option spellings removed: \\- is a minus,
    font changes and zero-width marks vanish, macro argument quotes go."""
    text = text.replace("\\-", "-").replace("\\&", "").replace("\\%", "")
    text = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", text)
    return text


def tag_lines(page):
    """The tags of a page's .TP (and .TQ) entries, as plain text: the words an entry
    defines, rather than every place a word is mentioned."""
    with open(os.path.join(MAN, page), encoding="utf-8") as f:
        lines = f.read().split("\n")
    tags = []
    for i, line in enumerate(lines[:-1]):
        if line.split()[:1] in ([".TP"], [".TQ"]):
            tag = roff_plain(lines[i + 1])
            tag = re.sub(r"^\.[A-Z]{1,2}\s+", "", tag)
            tags.append(tag.replace('"', " "))
    return tags


def defined_words(page):
    """Every option-like word (-x, --name) and first word of each tag of PAGE."""
    words = set()
    for tag in tag_lines(page):
        words.update(re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", tag))
        first = tag.split()
        if first:
            words.add(first[0])
    return words


def config_keys():
    """The keys of daemon/config.c's key table: DAEMON_KEY, SOURCE_KEY and FETCH_KEY
    entries and the explicit {.name = "..."} ones."""
    with open(os.path.join(SRC, "daemon", "config.c"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"static const KeyDef keys\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
    if not m:
        raise AssertionError("daemon/config.c: the KeyDef keys[] table was not found")
    table = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    keys = re.findall(r"\b(?:DAEMON|SOURCE|FETCH)_KEY\(\s*\"([^\"]+)\"", table)
    keys += re.findall(r"\.name\s*=\s*\"([^\"]+)\"", table)
    return keys


def page_section(page, name):
    """The roff source of section NAME (up to the next .SH) of PAGE."""
    with open(os.path.join(MAN, page), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^\.SH %s\n(.*?)(?=^\.SH |\Z)" % re.escape(name), text, re.S | re.M)
    if not m:
        raise AssertionError("%s has no %s section" % (page, name))
    return m.group(1)


def examples(page):
    """The .EX/.EE blocks of PAGE's EXAMPLES section, as the reader sees them."""
    blocks = re.findall(r"^\.EX\n(.*?)^\.EE$", page_section(page, "EXAMPLES"), re.S | re.M)
    out = []
    for b in blocks:
        b = b.replace("\\(aq", "'").replace("\\(dq", '"').replace("\\-", "-")
        b = b.replace("\\e", "\\")
        out.append(b)
    return out


class OptionsDocumented(unittest.TestCase):
    def check(self, binary, page):
        longs, shorts = help_options(binary)
        # A help text that parsed to nothing would make the test pass vacuously.
        self.assertGreaterEqual(len(longs), 5, "%s --help: too few options found" % binary)
        defined = defined_words(page)
        missing = [o for o in longs + shorts if o not in defined]
        self.assertEqual(missing, [], "options of %s --help without an entry in man/%s"
                         % (os.path.basename(binary), page))

    def test_lockwatchd(self):
        self.check(LOCKWATCHD, "lockwatchd.8")

    def test_lockwatchctl(self):
        self.check(LOCKWATCHCTL, "lockwatchctl.1")

    def test_lockwatchctl_commands(self):
        r = run([LOCKWATCHCTL, "--help"])
        block = r.stdout.split("Commands:", 1)[1].split("\n\n", 1)[0]
        commands = re.findall(r"^  ([a-z]+)\b", block, re.M)
        self.assertGreaterEqual(len(commands), 5, block)
        defined = defined_words("lockwatchctl.1")
        self.assertEqual([c for c in commands if c not in defined], [],
                         "commands of lockwatchctl --help without an entry in its page")

    def test_config_keys(self):
        keys = config_keys()
        self.assertGreaterEqual(len(keys), 20, "too few keys parsed from daemon/config.c")
        defined = defined_words("lockwatch.conf.5")
        self.assertEqual([k for k in keys if k not in defined], [],
                         "keys of daemon/config.c without an entry in man/lockwatch.conf.5")

    def test_source_formats(self):
        # lockwatchd --help lists the adapter table: a new format needs its entry too.
        r = run([LOCKWATCHD, "--help"])
        block = r.stdout.split("Source formats", 1)[1].split("\n", 1)[1].split("\n\n", 1)[0]
        formats = re.findall(r"^  ([a-z][a-z0-9-]*)\s", block, re.M)
        self.assertGreaterEqual(len(formats), 5, block)
        defined = defined_words("lockwatch.conf.5")
        self.assertEqual([f for f in formats if f not in defined], [],
                         "formats of lockwatchd --help without an entry in lockwatch.conf.5")

    def test_checker_fails_on_a_missing_option(self):
        # The check must be able to fail: an option that no page defines is reported.
        self.assertNotIn("--no-such-option", defined_words("lockwatchctl.1"))
        self.assertNotIn("intervall", defined_words("lockwatch.conf.5"))


def c_table(path, declaration):
    """The text of the C initializer that follows DECLARATION in PATH, comments removed."""
    with open(os.path.join(SRC, path), encoding="utf-8") as f:
        text = f.read()
    start = text.find(declaration)
    if start < 0:
        raise AssertionError("%s: %r not found" % (path, declaration))
    end = text.find("};", start)
    return re.sub(r"/\*.*?\*/", "", text[start:end], flags=re.S)


def page_plain(page):
    with open(os.path.join(MAN, page), encoding="utf-8") as f:
        return roff_plain(f.read())


class RuleLanguageDocumented(unittest.TestCase):
    """The rule parser's own tables against lockwatch.rules(5): a new identifier, function
    or geography needs its entry."""

    def test_identifiers(self):
        table = c_table("daemon/rules_parse.c", "static const RulesIdentifier identifiers[")
        names = re.findall(r"\]\s*=\s*\{\s*\"([a-z_]+)\"", table)
        self.assertGreaterEqual(len(names), 15, table[:200])
        text = page_plain("lockwatch.rules.5")
        self.assertEqual([n for n in names if not re.search(r"\b%s\b" % n, text)], [])

    def test_functions(self):
        table = c_table("daemon/rules_parse.c", "static const RulesFunction functions[")
        names = re.findall(r"\.name\s*=\s*\"([a-z_]+)\"", table)
        self.assertGreaterEqual(len(names), 10, table[:200])
        defined = " ".join(tag_lines("lockwatch.rules.5"))
        self.assertEqual([n for n in names if not re.search(r"\b%s\(" % n, defined)], [])

    def test_geographies(self):
        table = c_table("daemon/rules_parse.c", "static const char *const geo_names[")
        names = re.findall(r"\"([a-z]+)\"", table)
        self.assertGreaterEqual(len(names), 5)
        defined = roff_plain(page_section("lockwatch.rules.5", "GEOGRAPHIES"))
        self.assertEqual([n for n in names if not re.search(r"^\.B %s$" % n, defined, re.M)],
                         [])


class Rendering(unittest.TestCase):
    def test_groff_has_no_warnings(self):
        groff = shutil.which("groff")
        if not groff:
            self.skipTest("groff is not installed: rendering not checked")
        # Terminals differ: a line that fits at 80 columns may not be adjustable at 60.
        for page in PAGES:
            for width in (60, 80, 100):
                with self.subTest(page=page, width=width):
                    r = run([groff, "-man", "-Tutf8", "-ww", "-z", "-rLL=%dn" % width,
                             os.path.join(MAN, page)])
                    self.assertEqual((r.returncode, r.stderr), (0, ""),
                                     "groff -man -ww -rLL=%dn on man/%s" % (width, page))

    def test_man_renders_cleanly(self):
        man = shutil.which("man")
        if not man:
            self.skipTest("man is not installed: man -l not checked")
        env = dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat", LC_ALL="C.UTF-8")
        for page in PAGES:
            with self.subTest(page=page):
                r = run([man, "-l", os.path.join(MAN, page)], env=env)
                self.assertEqual((r.returncode, r.stderr), (0, ""), "man -l man/%s" % page)
                name = page.rsplit(".", 1)[0]
                self.assertIn(name.upper(), r.stdout.split("\n", 1)[0])

    def test_version_in_the_title_line(self):
        # The pages are not generated: a release that bumps the version must bump them.
        version = run([LOCKWATCHD, "--version"]).stdout.split()[-1]
        for page in PAGES:
            with open(os.path.join(MAN, page), encoding="utf-8") as f:
                th = [line for line in f if line.startswith(".TH ")]
            self.assertEqual(len(th), 1, page)
            self.assertIn('"lockwatch %s"' % version, th[0], page)

    def test_each_page_has_its_sections(self):
        for page in PAGES:
            with self.subTest(page=page):
                for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "FILES", "EXAMPLES",
                                "SEE ALSO"):
                    page_section(page, section)
        for page in ("lockwatchd.8", "lockwatchctl.1"):
            page_section(page, "EXIT STATUS")


class ExamplesRun(unittest.TestCase):
    def setUp(self):
        self.tmp = lwtest.TempDir("lwman-")
        self.addCleanup(self.tmp.cleanup)

    def test_rules_example_and_its_test(self):
        rules, test = examples("lockwatch.rules.5")
        self.tmp.write("site.rules", rules)
        path = self.tmp.write("site.test", test)
        self.assertIn("rules site.rules", test)
        r = run([LOCKWATCHD, "--test-rules", path])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("1 passed, 0 failed", r.stdout)

    def test_config_example(self):
        (conf,) = examples("lockwatch.conf.5")
        path = self.tmp.write("lockwatch.conf", conf)
        tables = lwtest.shipped_tables()
        r = run([LOCKWATCHD, "--check-config", "--config", path,
                 "--providers", tables["providers"], "--aliases", tables["aliases"],
                 "--rules-dir", os.path.join(SRC, "rules")])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class Installed(unittest.TestCase):
    def test_install_layout(self):
        build = os.environ.get("LW_BUILD_DIR")
        if not build or not shutil.which("cmake"):
            self.skipTest("no build directory (LW_BUILD_DIR) or no cmake")
        tmp = lwtest.TempDir("lwman-install-")
        self.addCleanup(tmp.cleanup)
        r = run(["cmake", "--install", build], env=dict(os.environ, DESTDIR=tmp.path))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        found = {}
        for d, _, files in os.walk(tmp.path):
            for f in files:
                found.setdefault(f, []).append(os.path.relpath(d, tmp.path))
        for page in PAGES:
            want = "man" + page.rsplit(".", 1)[1]
            self.assertTrue(any(os.path.basename(d) == want for d in found.get(page, [])),
                            "%s not installed into a %s directory: %s"
                            % (page, want, found.get(page)))
        for prog in ("lockwatchd", "lockwatchctl"):
            self.assertTrue(any(d.endswith("share/bash-completion/completions")
                                for d in found.get(prog, [])),
                            "no completion for %s installed: %s" % (prog, found.get(prog)))


BASH_HARNESS = r"""
source "$1"; shift
fn=$1; shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$fn"
printf '%s\n' "${COMPREPLY[@]}"
"""


def complete(script, function, words, env=None):
    """COMPREPLY of FUNCTION from completion/SCRIPT for the command line WORDS (the last
    one is the word being completed)."""
    r = run(["bash", "--norc", "--noprofile", "-c", BASH_HARNESS, "bash",
             os.path.join(COMPLETION, script), function] + list(words), env=env)
    if r.returncode != 0 or r.stderr:
        raise AssertionError("bash completion failed (%d): %s" % (r.returncode, r.stderr))
    return [w for w in r.stdout.split("\n") if w]


@unittest.skipUnless(shutil.which("bash"), "bash is not installed")
class Completion(unittest.TestCase):
    def ctl(self, *words):
        return complete("lockwatchctl", "_lockwatchctl", [LOCKWATCHCTL] + list(words))

    def d(self, *words):
        return complete("lockwatchd", "_lockwatchd", [LOCKWATCHD] + list(words))

    def test_ctl_commands(self):
        r = run([LOCKWATCHCTL, "--help"])
        block = r.stdout.split("Commands:", 1)[1].split("\n\n", 1)[0]
        commands = re.findall(r"^  ([a-z]+)\b", block, re.M)
        self.assertIn("explain", commands)
        self.assertEqual(self.ctl(""), commands)
        self.assertEqual(self.ctl("--json", ""), commands)
        self.assertEqual(self.ctl("ex"), ["explain"])

    def test_ctl_options_follow_help(self):
        longs, _ = help_options(LOCKWATCHCTL)
        self.assertEqual(sorted(self.ctl("--")), sorted(longs))
        self.assertEqual(self.ctl("matrix", "--single"), ["--single-cloud"])
        self.assertEqual(self.ctl("matrix", "--no-"), ["--no-pager"])

    def test_ctl_options_of_the_command_only(self):
        # lockwatchctl rejects options that do not apply, so they are not offered.
        self.assertEqual(self.ctl("alerts", "--st"), ["--state"])
        self.assertEqual(self.ctl("history", "--st"), [])
        self.assertNotIn("--limit", self.ctl("matrix", "--"))

    def test_ctl_state_values(self):
        self.assertEqual(self.ctl("alerts", "--state", ""),
                         ["pending", "firing", "resolved", "inactive"])
        self.assertEqual(self.ctl("alerts", "--state", "f"), ["firing"])
        self.assertEqual(self.ctl("alerts", "--state", "=", "r"), ["resolved"])

    def test_ctl_no_daemon_gives_nothing(self):
        tmp = lwtest.TempDir("lwman-")
        self.addCleanup(tmp.cleanup)
        start = time.monotonic()
        self.assertEqual(self.ctl("--socket", tmp.join("absent"), "explain", ""), [])
        self.assertLess(time.monotonic() - start, 10)

    def test_daemon_options_and_arguments(self):
        longs, _ = help_options(LOCKWATCHD)
        self.assertEqual(sorted(self.d("--")), sorted(longs))
        self.assertEqual(self.d("--log-level", ""), ["err", "warning", "notice", "info",
                                                     "debug"])
        data = os.path.join(SRC, "data")
        self.assertIn(os.path.join(data, "lockwatch.conf"),
                      self.d("--config", os.path.join(data, "lockwatch.c")))
        self.assertIn(os.path.join(SRC, "rules", "tests", "availability.test"),
                      self.d("--test-rules", os.path.join(SRC, "rules", "tests", "av")))
        self.assertEqual(self.d("--state-dir", os.path.join(SRC, "dat")),
                         [os.path.join(SRC, "data")])


@unittest.skipUnless(shutil.which("bash"), "bash is not installed")
class CompletionFromDaemon(unittest.TestCase):
    """Model ids, providers and sources offered from a daemon on the demo snapshots."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = lwtest.TempDir("lwman-daemon-")
        conf = lwtest.demo_config(cls.tmp.path)
        cls.socket = cls.tmp.join("io.lockwatch")
        state = cls.tmp.mkdir("state")
        cls.notify = lwtest.NotifySocket(cls.tmp)
        env = dict(os.environ, NOTIFY_SOCKET=cls.notify.path)
        env.pop("JOURNAL_STREAM", None)
        cls.err = open(cls.tmp.join("stderr"), "w+")
        cls.proc = subprocess.Popen([LOCKWATCHD, "--config", conf, "--state-dir", state,
                                     "--socket", cls.socket],
                                    env=env, stdout=subprocess.DEVNULL, stderr=cls.err)
        try:
            if not cls.notify.wait_for(lambda m: "READY=1" in m, WAIT):
                raise AssertionError("lockwatchd did not become ready")
            cls.models = lwtest.wait_until(cls.polled_models, WAIT, step=0.1)
            if not cls.models:
                raise AssertionError("the first poll round did not finish")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def polled_models(cls):
        r = run([LOCKWATCHCTL, "--socket", cls.socket, "status", "--json"])
        if r.returncode != 0:
            return None
        if not all(s["polls"] >= 1 for s in json.loads(r.stdout)["status"]["sources"]):
            return None
        r = run([LOCKWATCHCTL, "--socket", cls.socket, "matrix", "--json"])
        return [m["id"] for m in json.loads(r.stdout)["models"]] if r.returncode == 0 else None

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.terminate()
            cls.proc.wait(timeout=WAIT)
        cls.notify.close()
        cls.err.close()
        cls.tmp.cleanup()

    def ctl(self, *words, env=None):
        return complete("lockwatchctl", "_lockwatchctl", [LOCKWATCHCTL] + list(words), env=env)

    def test_explain_offers_model_ids(self):
        self.assertGreater(len(self.models), 1)
        self.assertEqual(self.ctl("--socket", self.socket, "explain", ""), self.models)
        first = self.models[0]
        got = self.ctl("--socket", self.socket, "explain", first[:-1])
        self.assertIn(first, got)
        self.assertTrue(all(m.startswith(first[:-1]) for m in got), got)

    def test_socket_from_the_environment(self):
        env = dict(os.environ, LOCKWATCH_SOCKET=self.socket)
        self.assertEqual(self.ctl("explain", "", env=env), self.models)

    def test_providers_and_sources(self):
        r = run([LOCKWATCHCTL, "--socket", self.socket, "matrix", "--json"])
        providers = [p["id"] for p in json.loads(r.stdout)["providers"]]
        self.assertEqual(self.ctl("--socket", self.socket, "matrix", "--not-on", ""),
                         providers)
        r = run([LOCKWATCHCTL, "--socket", self.socket, "status", "--json"])
        sources = [s["name"] for s in json.loads(r.stdout)["status"]["sources"]]
        self.assertEqual(self.ctl("--socket", self.socket, "poll", ""), sources)


if __name__ == "__main__":
    lwtest.require_daemon()
    lwtest.main()
