/* Tests of the rule language's parser: good files with the syntax trees they must
 * produce (printed fully parenthesized), bad files with the exact message each must
 * report, the caps, and the tables shared with the evaluator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "lockwatch/rules.h"
#include "lockwatch/util.h"

#define RULES_DIR LW_TEST_DATA "/rules/"

/* One line per rule: header, then each clause present. */
static char *describe_rule(const Rule *r)
{
        char where[4096] = "", when[4096] = "", summary[4096] = "", description[4096] = "";
        char forbuf[64] = "-", keep[64] = "-";

        if (r->where)
                assert_int_equal(rules_expr_format(r->where, where, sizeof(where)), 0);
        assert_int_equal(rules_expr_format(r->when, when, sizeof(when)), 0);
        if (r->summary)
                assert_int_equal(rules_template_format(r->summary, summary, sizeof(summary)), 0);
        if (r->description)
                assert_int_equal(
                    rules_template_format(r->description, description, sizeof(description)), 0);
        if (r->for_polls)
                snprintf(forbuf, sizeof(forbuf), "%u polls", r->for_polls);
        else if (r->for_usec)
                util_format_duration(forbuf, sizeof(forbuf), r->for_usec);
        if (r->keep_firing_for_usec)
                util_format_duration(keep, sizeof(keep), r->keep_firing_for_usec);
        return xasprintf("%s on %s at %s:%u:%u severity=%s for=%s keep=%s slots=%u%s%s | when "
                         "%s%s%s%s%s",
                         r->name, rules_target_name(r->target), r->file, r->line, r->col,
                         rules_severity_name(r->severity), forbuf, keep, r->n_slots,
                         r->where ? " | where " : "", where, when, r->summary ? " | summary " : "",
                         summary, r->description ? " | description " : "", description);
}

typedef struct GoodCase {
        const char *name;
        const char *text;
        const char *rules[6];
} GoodCase;

static const GoodCase good_cases[] = {
    {"empty file", "", {NULL}},
    {"comments and blank lines only", "# nothing here\n\n   # indented\n\t\n", {NULL}},
    {"the smallest alert",
     "alert A { when true }",
     {"A on model at t.rules:1:7 severity=warning for=- keep=- slots=0 | when true"}},
    {"explicit model target and every severity",
     "alert C on model { when true severity critical }\n"
     "alert E { when true severity error }\n"
     "alert W { when true severity warning }\n"
     "alert N { when true severity notice }\n"
     "alert I { when true severity info }\n",
     {"C on model at t.rules:1:7 severity=critical for=- keep=- slots=0 | when true",
      "E on model at t.rules:2:7 severity=error for=- keep=- slots=0 | when true",
      "W on model at t.rules:3:7 severity=warning for=- keep=- slots=0 | when true",
      "N on model at t.rules:4:7 severity=notice for=- keep=- slots=0 | when true",
      "I on model at t.rules:5:7 severity=info for=- keep=- slots=0 | when true"}},
    {"precedence with known identifiers",
     "alert P {\n"
     "    when not mapped or 1 + 2 * 3 > -4 - 5 / 6 and false\n"
     "}\n",
     {"P on model at t.rules:1:7 severity=warning for=- keep=- slots=0 | when ((not mapped) or "
      "(((1 + (2 * 3)) > ((-4) - (5 / 6))) and false))"}},
    {"left associativity and parentheses",
     "alert L { when 1 - 2 - 3 == 1 - (2 - 3) and 8 / 4 / 2 < 8 / (4 / 2) }",
     {"L on model at t.rules:1:7 severity=warning for=- keep=- slots=0 | when ((((1 - 2) - 3) "
      "== (1 - (2 - 3))) and (((8 / 4) / 2) < (8 / (4 / 2))))"}},
    {"not binds looser than comparison, in is a comparison",
     "alert N { when not vendor in [\"a\", \"b\"] and not not true }",
     {"N on model at t.rules:1:7 severity=warning for=- keep=- slots=0 | when ((not (vendor in "
      "[\"a\", \"b\"])) and (not (not true)))"}},
    {"durations, compound and scaled",
     "alert D { when age > 1h30m + 2 * 15m and age / 1d >= 0.5 and 90s < 2m and 500ms < 1s "
     "for 45m keep_firing_for 1w }",
     {"D on model at t.rules:1:7 severity=warning for=45m keep=7d slots=0 | when ((((age > (1h30m "
      "+ (2 * 15m))) and ((age / 1d) >= 0.5)) and (1m30s < 2m)) and (500ms < 1s))"}},
    {"provider-sets compare with numbers and with each other",
     "alert S { when clouds(available) >= 2 and 1 < clouds(available, geo=\"us\") and "
     "clouds(unknown) == providers(cloud, unknown) and \"aws\" in clouds(available) and "
     "clouds(available) - 1 < count(providers(direct, available)) }",
     {"S on model at t.rules:1:7 severity=warning for=- keep=- slots=0 | when "
      "(((((clouds(available) "
      ">= 2) and (1 < clouds(available, geo=\"us\"))) and (clouds(unknown) == "
      "providers(cloud, unknown))) and (\"aws\" in clouds(available))) and ((clouds(available) - "
      "1) < count(providers(direct, available))))"}},
    {"look-back calls get one history slot each, in order",
     "alert H {\n"
     "    where changed(vendor)\n"
     "    when previous(age) < age and count(lost(clouds)) > 0\n"
     "    summary \"{gained(providers)} {previous(clouds(available))}\"\n"
     "}\n",
     {"H on model at t.rules:1:7 severity=warning for=- keep=- slots=5 | where changed(vendor) | "
      "when ((previous(age) < age) and (count(lost(clouds)) > 0)) | summary "
      "\"{gained(providers)} {previous(clouds(available))}\""}},
    {"templates: escapes, literal braces, nested strings",
     "alert T {\n"
     "    when true\n"
     "    summary \"say \\\"hi\\\" \\\\ \\{x\\}\\n{price(\"aws\", \"input\") * 2}\"\n"
     "    description \"\"\n"
     "}\n",
     {"T on model at t.rules:1:7 severity=warning for=- keep=- slots=0 | when true | summary "
      "\"say \\\"hi\\\" \\\\ \\{x\\}\\n{(price(\"aws\", \"input\") * 2)}\" | description \"\""}},
    {"a source rule with count() and state words",
     "alert Src on source {\n"
     "    when state == degraded and consecutive_failures > 2 or stale_for >= 12h\n"
     "    for 3 polls\n"
     "    summary \"{source}: {state} for {stale_for}\"\n"
     "}\n",
     {"Src on source at t.rules:1:7 severity=warning for=3 polls keep=- slots=0 | when (((state "
      "== degraded) and (consecutive_failures > 2)) or (stale_for >= 12h)) | summary "
      "\"{source}: {state} for {stale_for}\""}},
    {"clauses in any order, on one line",
     "alert O { severity info summary \"x\" for 1 polls when true keep_firing_for 1m where true }",
     {"O on model at t.rules:1:7 severity=info for=1 polls keep=1m slots=0 | where true | when "
      "true | summary \"x\""}},
    {"byte order mark, CRLF and tabs",
     "\xef\xbb\xbf"
     "alert\tB\r\n{\r\n\twhen\ton(\"azure\")\r\n}\r\n",
     {"B on model at t.rules:1:7 severity=warning for=- keep=- slots=0 | when on(\"azure\")"}},
    {"lists of numbers and durations, empty lists",
     "alert Li { when 3 in [1, 2, 3] and age in [1d, 2d] and \"x\" in [] and regions(\"aws\") "
     "!= [] and \"eu-west-1\" in regions(\"aws\") }",
     {"Li on model at t.rules:1:7 severity=warning for=- keep=- slots=0 | when (((((3 in [1, 2, "
      "3]) and (age in [1d, 2d])) and (\"x\" in [])) and (regions(\"aws\") != [])) and "
      "(\"eu-west-1\" in regions(\"aws\")))"}},
    {"keywords are not names, names may contain keywords",
     "alert alerting { when true }\nalert on_call { when true }\n",
     {"alerting on model at t.rules:1:7 severity=warning for=- keep=- slots=0 | when true",
      "on_call on model at t.rules:2:7 severity=warning for=- keep=- slots=0 | when true"}},
};

typedef struct BadCase {
        const char *name;
        const char *text;
        const char *message;
} BadCase;

/* Every message in full, with its source line and caret. */
static const BadCase bad_cases[] = {
    {"andand", "alert A {\n    when true && false\n}\n",
     "t.rules:2:15: unexpected '&' (write 'and')\n    when true && false\n              ^"},
    {"arith bool", "alert A {\n    when true + 1 > 0\n}\n",
     "t.rules:2:15: cannot apply '+' to true/false and a number\n    when true + 1 > 0\n           "
     "   ^"},
    {"assign", "alert A {\n    when vendor = \"x\"\n}\n",
     "t.rules:2:17: '=' is not a comparison (write '==')\n    when vendor = \"x\"\n                "
     "^"},
    {"backslash in braces",
     "alert A {\n    when true\n    summary \"{price(\\\"aws\\\", \\\"input\\\")}\"\n}\n",
     "t.rules:3:21: unexpected '\\' (quotes inside '{...}' need no escaping)\n    summary "
     "\"{price(\\\"aws\\\", \\\"input\\\")}\"\n                    ^"},
    {"bad duration", "alert A {\n    when age > 5x\n}\n",
     "t.rules:2:16: invalid duration '5x' (units: ms, s, m, h, d, w, as in 1h30m)\n    when age > "
     "5x\n               ^"},
    {"bad escape", "alert A {\n    when vendor == \"a\\tb\"\n}\n",
     "t.rules:2:22: unknown escape '\\t' (known: \\\" \\\\ \\n \\{ \\})\n    when vendor == "
     "\"a\\tb\"\n                     ^"},
    {"bare clouds", "alert A {\n    when clouds == 1\n}\n",
     "t.rules:2:10: 'clouds' is a function: call it as clouds(state[, geo=STRING])\n    when "
     "clouds == 1\n         ^"},
    {"brace in expr", "alert A {\n    where vendor == \"a{vendor}\"\n    when true\n}\n",
     "t.rules:2:23: '{...}' expands only in summary and description (write \\{ for a literal "
     "brace)\n    where vendor == \"a{vendor}\"\n                      ^"},
    {"chain", "alert A {\n    when 1 < 2 < 3\n}\n",
     "t.rules:2:16: comparisons do not chain (write 'a < b and b < c')\n    when 1 < 2 < 3\n       "
     "        ^"},
    {"changed in prev", "alert A {\n    when previous(changed(vendor))\n}\n",
     "t.rules:2:19: changed() cannot be used inside previous(): only one evaluation of history is "
     "kept\n    when previous(changed(vendor))\n                  ^"},
    {"clause suggest", "alert A {\n    when true\n    sumary \"x\"\n}\n",
     "t.rules:3:5: unknown clause 'sumary' (did you mean 'summary'?)\n    sumary \"x\"\n    ^"},
    {"label reserved", "alert A {\n    when true\n    label model \"x\"\n}\n",
     "t.rules:3:11: label 'model' is set by lockwatch itself (alertname, model, vendor, source, "
     "severity and instance are)\n    label model \"x\"\n          ^"},
    {"label dup", "alert A {\n    when true\n    label team \"a\"\n    label team \"b\"\n}\n",
     "t.rules:4:11: duplicate label 'team' in alert 'A'\n    label team \"b\"\n          ^"},
    {"label number", "alert A {\n    when true\n    label team 5\n}\n",
     "t.rules:3:16: label 'team' takes a string value, found '5'\n    label team 5\n"
     "               ^"},
    {"label template", "alert A {\n    when true\n    label team \"{model}\"\n}\n",
     "t.rules:3:17: '{...}' expands only in summary and description (write \\{ for a literal "
     "brace)\n    label team \"{model}\"\n                ^"},
    {"close brace str", "alert A {\n    when true\n    summary \"a } b\"\n}\n",
     "t.rules:3:16: unmatched '}' in a string (write \\} for a literal brace)\n    summary \"a } "
     "b\"\n               ^"},
    {"close paren", "alert A {\n    when (true and)\n}\n",
     "t.rules:2:19: expected an expression, found ')'\n    when (true and)\n                  ^"},
    {"cmp after eq", "alert A {\n    when 1 == 1 == true\n}\n",
     "t.rules:2:17: comparisons do not chain (write 'a < b and b < c')\n    when 1 == 1 == true\n  "
     "              ^"},
    {"decimal duration", "alert A {\n    when age > 1.5h\n}\n",
     "t.rules:2:16: a duration takes whole numbers: '1.5h' (write 90m, not 1.5h)\n    when age > "
     "1.5h\n               ^"},
    {"description number", "alert A {\n    when true\n    description 5\n}\n",
     "t.rules:3:17: 'description' takes a string, found '5'\n    description 5\n                ^"},
    {"dollar", "alert A {\n    when $x\n}\n",
     "t.rules:2:10: unexpected character '$'\n    when $x\n         ^"},
    {"dup alert", "alert A {\n    when true\n}\n\nalert A {\n    when false\n}\n",
     "t.rules:5:7: duplicate alert 'A' (first defined at t.rules:1:7)\nalert A {\n      ^"},
    {"dup clause", "alert A {\n    when true\n    severity info\n    severity critical\n}\n",
     "t.rules:4:5: duplicate 'severity' clause in alert 'A' (first at 3:5)\n    severity "
     "critical\n    ^"},
    {"empty braces", "alert A {\n    when true\n    summary \"a {} b\"\n}\n",
     "t.rules:3:16: empty '{}' in a string (write \\{\\} for literal braces)\n    summary \"a {} "
     "b\"\n               ^"},
    {"eof", "alert A {\n    when true\n",
     "t.rules:3:1: expected '}' to close alert 'A' (opened at 1:9), found end of file\n\n^"},
    {"eol kind", "alert A {\n    when eol_within(\"aws\", 5)\n}\n",
     "t.rules:2:28: argument 2 of eol_within() must be a duration, found a number\n    when "
     "eol_within(\"aws\", 5)\n                           ^"},
    {"expr garbage", "alert A {\n    when true false\n}\n",
     "t.rules:2:15: expected a clause or '}' in alert 'A', found 'false'\n    when true false\n    "
     "          ^"},
    {"for fraction", "alert A {\n    when true\n    for 1.5 polls\n}\n",
     "t.rules:3:9: 'for' takes a whole number of polls\n    for 1.5 polls\n        ^"},
    {"for no polls", "alert A {\n    when true\n    for 2\n    severity info\n}\n",
     "t.rules:4:5: expected 'polls' after the number (or write a duration such as 30m), found "
     "'severity'\n    severity info\n    ^"},
    {"for zero", "alert A {\n    when true\n    for 0 polls\n}\n",
     "t.rules:3:9: 'for 0 polls' never waits: use at least 1, or leave 'for' out\n    for 0 "
     "polls\n        ^"},
    {"for zero dur", "alert A {\n    when true\n    for 0s\n}\n",
     "t.rules:3:9: a zero 'for' never waits: leave 'for' out\n    for 0s\n        ^"},
    {"func in src", "alert S on source {\n    when clouds(available) == 1\n}\n",
     "t.rules:2:10: function 'clouds' is only defined in model rules (alert 'S' is on source)\n    "
     "when clouds(available) == 1\n         ^"},
    {"func suggest", "alert A {\n    when cloud(available) == 1\n}\n",
     "t.rules:2:10: 'cloud' is not a function (did you mean 'clouds'?)\n    when cloud(available) "
     "== 1\n         ^"},
    {"func unknown", "alert A {\n    when frobnicate(1)\n}\n",
     "t.rules:2:10: unknown function 'frobnicate'\n    when frobnicate(1)\n         ^"},
    {"ident quotes", "alert A {\n    when on(aws)\n}\n",
     "t.rules:2:13: unknown identifier 'aws' (strings take quotes: \"aws\")\n    when on(aws)\n    "
     "        ^"},
    {"ident suggest", "alert A {\n    when vendr == \"x\"\n}\n",
     "t.rules:2:10: unknown identifier 'vendr' (did you mean 'vendor'?)\n    when vendr == \"x\"\n "
     "        ^"},
    {"in string", "alert A {\n    when \"aws\" in vendor\n}\n",
     "t.rules:2:16: 'in' needs a list or a provider-set on its right, found a string\n    when "
     "\"aws\" in vendor\n               ^"},
    {"keep number", "alert A {\n    when true\n    keep_firing_for 6\n}\n",
     "t.rules:3:21: 'keep_firing_for' takes a duration such as 6h, found '6'\n    keep_firing_for "
     "6\n                    ^"},
    {"kw geo", "alert A {\n    when clouds(available, geo=\"europe\") == 1\n}\n",
     "t.rules:2:32: geo= of clouds() must be \"us\", \"ca\", \"latam\", \"eu\", \"me\", \"af\" or "
     "\"apac\"\n    when clouds(available, geo=\"europe\") == 1\n                               ^"},
    {"kw none", "alert A {\n    when on(\"aws\", geo=\"eu\")\n}\n",
     "t.rules:2:20: on() takes no keyword arguments\n    when on(\"aws\", geo=\"eu\")\n            "
     "       ^"},
    {"kw positional", "alert A {\n    when clouds(geo=\"eu\", available) == 1\n}\n",
     "t.rules:2:27: positional argument after keyword argument\n    when clouds(geo=\"eu\", "
     "available) == 1\n                          ^"},
    {"kw twice", "alert A {\n    when clouds(available, geo=\"eu\", geo=\"us\") == 1\n}\n",
     "t.rules:2:38: keyword argument 'geo' given twice\n    when clouds(available, geo=\"eu\", "
     "geo=\"us\") == 1\n                                     ^"},
    {"kw unknown", "alert A {\n    when clouds(available, region=\"eu\") == 1\n}\n",
     "t.rules:2:28: unknown keyword argument 'region' for clouds() (expected geo)\n    when "
     "clouds(available, region=\"eu\") == 1\n                           ^"},
    {"list bool", "alert A {\n    when true in [true]\n}\n",
     "t.rules:2:19: list elements are numbers, durations or strings, found true/false\n    when "
     "true in [true]\n                  ^"},
    {"list mixed", "alert A {\n    when vendor in [\"a\", 1]\n}\n",
     "t.rules:2:26: list elements must share one kind: a number among strings\n    when vendor in "
     "[\"a\", 1]\n                         ^"},
    {"lost in changed", "alert A {\n    when changed(lost(clouds))\n}\n",
     "t.rules:2:18: lost() cannot be used inside changed(): only one evaluation of history is "
     "kept\n    when changed(lost(clouds))\n                 ^"},
    {"lost state", "alert A {\n    when count(lost(available)) > 0\n}\n",
     "t.rules:2:21: lost() takes the word clouds or providers\n    when count(lost(available)) > "
     "0\n                    ^"},
    {"missing brace", "alert A\n    when true\n}\n",
     "t.rules:2:5: expected '{' to open alert 'A', found 'when'\n    when true\n    ^"},
    {"missing when", "alert A {\n    severity info\n}\n",
     "t.rules:1:7: alert 'A' has no 'when' clause\nalert A {\n      ^"},
    {"model ident in src", "alert S on source {\n    when vendor == \"x\"\n}\n",
     "t.rules:2:10: 'vendor' is only defined in model rules (alert 'S' is on source)\n    when "
     "vendor == \"x\"\n         ^"},
    {"name keyword", "alert when {\n    when true\n}\n",
     "t.rules:1:7: expected an alert name after 'alert', found 'when'\nalert when {\n      ^"},
    {"neg string", "alert A {\n    when -vendor == 1\n}\n",
     "t.rules:2:10: cannot negate a string\n    when -vendor == 1\n         ^"},
    {"not number", "alert A {\n    when not 1\n}\n",
     "t.rules:2:10: 'not' needs true/false, found a number\n    when not 1\n         ^"},
    {"ok in model", "alert A {\n    when ok\n}\n",
     "t.rules:2:10: 'ok' is only defined in source rules (alert 'A' is on model)\n    when ok\n    "
     "     ^"},
    {"on target", "alert A on cloud {\n    when true\n}\n",
     "t.rules:1:12: expected 'model' or 'source' after 'on', found 'cloud'\nalert A on cloud {\n   "
     "        ^"},
    {"order strings", "alert A {\n    when vendor < \"b\"\n}\n",
     "t.rules:2:17: '<' orders numbers and durations, not strings\n    when vendor < \"b\"\n       "
     "         ^"},
    {"polls glued", "alert A {\n    when true\n    for 2polls\n}\n",
     "t.rules:3:9: write a space between the number and 'polls'\n    for 2polls\n        ^"},
    {"prev as ident", "alert A {\n    when previous > 1\n}\n",
     "t.rules:2:10: 'previous' is a function: call it as previous(expr)\n    when previous > 1\n   "
     "      ^"},
    {"prev prev", "alert A {\n    when previous(previous(clouds(available))) > 1\n}\n",
     "t.rules:2:19: previous() cannot be used inside previous(): only one evaluation of history is "
     "kept\n    when previous(previous(clouds(available))) > 1\n                  ^"},
    {"price choice", "alert A {\n    when price(\"aws\", \"cached\") > 1\n}\n",
     "t.rules:2:23: argument 2 of price() must be \"input\" or \"output\"\n    when price(\"aws\", "
     "\"cached\") > 1\n                      ^"},
    {"severity unknown", "alert A {\n    when true\n    severity warn\n}\n",
     "t.rules:3:14: unknown severity 'warn' (expected critical, error, warning, notice or info)\n  "
     "  severity warn\n             ^"},
    {"single quote", "alert A {\n    when vendor == 'x'\n}\n",
     "t.rules:2:20: strings take double quotes\n    when vendor == 'x'\n                   ^"},
    {"src ident in model", "alert A {\n    when stale_for > 1h\n}\n",
     "t.rules:2:10: 'stale_for' is only defined in source rules (alert 'A' is on model)\n    when "
     "stale_for > 1h\n         ^"},
    {"state word string", "alert S on source {\n    when state == \"degraded\"\n}\n",
     "t.rules:2:16: cannot compare a source state (ok, degraded or suspect) with a string\n    "
     "when state == \"degraded\"\n               ^"},
    {"str vs num", "alert A {\n    when vendor == 1\n}\n",
     "t.rules:2:17: cannot compare a string with a number\n    when vendor == 1\n                "
     "^"},
    {"tab caret", "alert A {\n\twhen\tvendr == \"x\"\n}\n",
     "t.rules:2:7: unknown identifier 'vendr' (did you mean 'vendor'?)\n\twhen\tvendr == \"x\"\n\t "
     "   \t^"},
    {"template ident",
     "alert A {\n    when true\n    summary \"{model} is on {clouds(availabel)}\"\n}\n",
     "t.rules:3:36: unknown identifier 'availabel' (did you mean 'available'?)\n    summary "
     "\"{model} is on {clouds(availabel)}\"\n                                   ^"},
    {"template open", "alert A {\n    when true\n    summary \"{model is gone\"\n}\n",
     "t.rules:3:14: unclosed '{' in a string (write \\{ for a literal brace)\n    summary \"{model "
     "is gone\"\n             ^"},
    {"too few", "alert A {\n    when providers(cloud) == 1\n}\n",
     "t.rules:2:25: too few arguments: providers() takes 2, got 1 (providers(kind, state))\n    "
     "when providers(cloud) == 1\n                        ^"},
    {"too many", "alert A {\n    when price(\"aws\", \"input\", 3) > 1\n}\n",
     "t.rules:2:32: too many arguments: price() takes 2, got 3 (price(provider, "
     "\"input\"|\"output\"))\n    when price(\"aws\", \"input\", 3) > 1\n                          "
     "     ^"},
    {"toplevel", "alrt A {\n    when true\n}\n",
     "t.rules:1:1: expected 'alert', found 'alrt'\nalrt A {\n^"},
    {"trailing comma", "alert A {\n    when clouds(available,) == 1\n}\n",
     "t.rules:2:27: expected an argument after ','\n    when clouds(available,) == 1\n             "
     "             ^"},
    {"unterminated", "alert A {\n    when vendor == \"anthropic\n}\n",
     "t.rules:2:20: unterminated string\n    when vendor == \"anthropic\n                   ^"},
    {"utf8 caret",
     "alert A {\n    when true\n    summary \"h\xc3"
     "\xa9"
     "llo w\xc3"
     "\xb6"
     "rld {vendr}\"\n}\n",
     "t.rules:3:29: unknown identifier 'vendr' (did you mean 'vendor'?)\n    summary \"h\xc3"
     "\xa9"
     "llo w\xc3"
     "\xb6"
     "rld {vendr}\"\n                          ^"},
    {"value called", "alert A {\n    when vendor(\"x\")\n}\n",
     "t.rules:2:10: 'vendor' is not a function\n    when vendor(\"x\")\n         ^"},
    {"when not bool", "alert A {\n    when clouds(available)\n}\n",
     "t.rules:2:10: 'when' needs a true/false condition, found a provider-set\n    when "
     "clouds(available)\n         ^"},
    {"where dup", "alert A {\n    where true\n    when true\n    where false\n}\n",
     "t.rules:4:5: duplicate 'where' clause in alert 'A' (first at 2:5)\n    where false\n    ^"},
    {"where in src", "alert S on source {\n    where state == ok\n    when stale_for > 1h\n}\n",
     "t.rules:2:5: 'where' is only for model rules (alert 'S' is on source)\n    where state == "
     "ok\n    ^"},
};

static RuleSet *parse_ok(const char *path, const char *text)
{
        RuleSet *s = NULL;
        RulesError err;
        assert_int_equal(rules_set_new(&s), 0);
        int r = rules_parse(s, path, text, strlen(text), &err);
        if (r < 0)
                fail_msg("%s", err.message);
        return s;
}

static void check_rules(const RuleSet *s, const char *const *want, size_t max, const char *name)
{
        size_t n = 0;
        while (n < max && want[n])
                n++;
        if (s->n_rules != n)
                fail_msg("%s: %zu rules, want %zu", name, s->n_rules, n);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *got = describe_rule(s->rules[i]);
                if (!streq(got, want[i]))
                        fail_msg("%s: rule %zu\n got: %s\nwant: %s", name, i, got, want[i]);
        }
}

static void test_good(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(good_cases); i++) {
                RuleSet *s = parse_ok("t.rules", good_cases[i].text);
                check_rules(s, good_cases[i].rules, ELEMENTSOF(good_cases[i].rules),
                            good_cases[i].name);
                rules_set_free(s);
        }
}

static void test_labels(void **state)
{
        static const char text[] = "alert A {\n    when true\n    label team \"procurement\"\n"
                                   "    label tier \"1\"\n}\n";
        RuleSet *rs = NULL;
        RulesError err;

        assert_int_equal(rules_set_new(&rs), 0);
        if (rules_parse(rs, "t.rules", text, strlen(text), &err) < 0)
                fail_msg("%s", err.message);
        assert_int_equal(rs->rules[0]->n_labels, 2);
        assert_string_equal(rs->rules[0]->labels[0].name, "team");
        assert_string_equal(rs->rules[0]->labels[0].value, "procurement");
        assert_string_equal(rs->rules[0]->labels[1].name, "tier");
        assert_string_equal(rs->rules[0]->labels[1].value, "1");
        rules_set_free(rs);
}

static void test_bad(void **state)
{
        assert_true(ELEMENTSOF(bad_cases) >= 30);
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                const BadCase *b = &bad_cases[i];
                RuleSet *s = NULL;
                RulesError err;
                unsigned line, col;

                assert_int_equal(rules_set_new(&s), 0);
                int r = rules_parse(s, "t.rules", b->text, strlen(b->text), &err);
                if (r != -EINVAL)
                        fail_msg("%s: rules_parse() = %d, want -EINVAL", b->name, r);
                if (!streq(err.message, b->message))
                        fail_msg("%s:\n got: %s\nwant: %s", b->name, err.message, b->message);
                /* line and col agree with the message's prefix */
                assert_int_equal(sscanf(b->message, "t.rules:%u:%u:", &line, &col), 2);
                assert_int_equal(err.line, line);
                assert_int_equal(err.col, col);
                /* a failed file adds nothing */
                assert_int_equal(s->n_rules, 0);
                rules_set_free(s);
        }
}

static int load(RuleSet *s, const char *name, RulesError *err)
{
        _cleanup_free_ char *path = xasprintf(RULES_DIR "%s", name);
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = util_read_file(path, RULES_MAX_INPUT, &text, &len);
        assert_int_equal(r, 0);
        return rules_parse(s, name, text, len, err);
}

static void test_files(void **state)
{
        static const char *const want[] = {
            "SingleCloud on model at good/examples.rules:2:7 severity=critical for=2 polls keep=6h "
            "slots=0 | where (vendor != \"google\") | when (clouds(available) == 1) | summary "
            "\"{model} is callable only on {clouds(available)}\"",
            "AvailabilityNarrowed on model at good/examples.rules:11:7 severity=warning for=- "
            "keep=- slots=2 | when (clouds(available) < previous(clouds(available))) | summary "
            "\"{model} lost {lost(clouds)}; now on {clouds(available)}\"",
            "SourceStale on source at good/examples.rules:17:7 severity=warning for=- keep=- "
            "slots=0 | when (stale_for > 2h)",
            "EveryFunction on model at good/everything.rules:2:7 severity=error for=1h30m keep=14d "
            "slots=4 | where ((mapped and (age >= 1d)) and (not (vendor in [\"meta\", "
            "\"mistral\"]))) | when ((((((((((providers(direct, available) == 0) and "
            "(count(regions(\"aws\")) > 2)) and (on(\"gcp\") or (\"azure\" in "
            "clouds(available, geo=\"eu\")))) and (price(\"aws\", \"input\") <= "
            "(min_price(\"input\") * 1.5))) and ((max_price(\"output\") - "
            "min_price(\"output\")) < 10.25)) and (lifecycle(\"aws\") != \"legacy\")) and (not "
            "eol_within(\"gcp\", 90d))) and changed(clouds(unavailable))) and "
            "((count(gained(providers)) + count(lost(clouds))) >= 0)) and "
            "(providers(aggregator, unknown) != clouds(unknown))) | summary \"{model} ({vendor}): "
            "\\\"{count(regions(\"aws\"))}\\\" AWS regions\" | description \"gcp input "
            "{price(\"gcp\", \"input\")} USD/Mtok\\nwas {previous(clouds(available))} "
            "\\{literal\\}\"",
            "Notice on model at good/everything.rules:21:7 severity=notice for=- keep=- slots=0 | "
            "when true",
            "Info on source at good/everything.rules:22:7 severity=info for=- keep=- slots=0 | "
            "when (((state != ok) and (consecutive_failures >= 3)) or ((state == suspect) and "
            "(count([1, 2]) == 2))) | description \"{source} is {state}, stale for {stale_for}\"",
            "Crlf on model at good/crlf.rules:1:7 severity=warning for=3 polls keep=- slots=0 | "
            "when (vendor == \"x\")",
        };
        RuleSet *s = NULL;
        RulesError err;

        assert_int_equal(rules_set_new(&s), 0);
        assert_int_equal(load(s, "good/examples.rules", &err), 0);
        assert_int_equal(load(s, "good/everything.rules", &err), 0);
        assert_int_equal(load(s, "good/crlf.rules", &err), 0);
        check_rules(s, want, ELEMENTSOF(want), "files");
        assert_ptr_equal(rules_set_find(s, "Info"), s->rules[5]);
        assert_null(rules_set_find(s, "info"));
        rules_set_free(s);
}

static void test_duplicate_across_files(void **state)
{
        RuleSet *s = NULL;
        RulesError err;

        assert_int_equal(rules_set_new(&s), 0);
        assert_int_equal(load(s, "bad/duplicate-a.rules", &err), 0);
        assert_int_equal(s->n_rules, 2);
        assert_int_equal(load(s, "bad/duplicate-b.rules", &err), -EINVAL);
        assert_string_equal(err.message, "bad/duplicate-b.rules:6:11: duplicate alert 'Shared' "
                                         "(first defined at bad/duplicate-a.rules:5:7)\n"
                                         "  alert   Shared on model {\n"
                                         "          ^");
        /* FromB parsed fine before the error, but a failed file adds nothing */
        assert_int_equal(s->n_rules, 2);
        assert_null(rules_set_find(s, "FromB"));
        /* the same file parsed twice collides with itself */
        assert_int_equal(load(s, "bad/duplicate-a.rules", &err), -EINVAL);
        assert_string_equal(err.message, "bad/duplicate-a.rules:1:7: duplicate alert 'FromA' "
                                         "(first defined at bad/duplicate-a.rules:1:7)\n"
                                         "alert FromA {\n"
                                         "      ^");
        rules_set_free(s);
}

static void test_template_error_file(void **state)
{
        RuleSet *s = NULL;
        RulesError err;

        assert_int_equal(rules_set_new(&s), 0);
        assert_int_equal(load(s, "bad/template.rules", &err), -EINVAL);
        assert_string_equal(err.message,
                            "bad/template.rules:3:36: unknown identifier 'availble' (did you "
                            "mean 'available'?)\n"
                            "    summary \"{model} is on {clouds(availble)}\"\n"
                            "                                   ^");
        assert_int_equal(err.line, 3);
        assert_int_equal(err.col, 36);
        rules_set_free(s);
}

static int parse_text(const char *path, const char *text, size_t len, RulesError *err,
                      size_t *ret_rules)
{
        RuleSet *s = NULL;
        assert_int_equal(rules_set_new(&s), 0);
        int r = rules_parse(s, path, text, len, err);
        *ret_rules = s->n_rules;
        rules_set_free(s);
        return r;
}

static void test_nul_and_size(void **state)
{
        static const char nul[] = "alert A {\n    when true\0\n}\n";
        RulesError err;
        size_t n;

        assert_int_equal(parse_text("t.rules", nul, sizeof(nul) - 1, &err, &n), -EINVAL);
        assert_string_equal(err.message, "t.rules:2:14: NUL byte in a rule file\n"
                                         "    when true \n"
                                         "             ^");

        _cleanup_free_ char *big = xmalloc(RULES_MAX_INPUT + 1);
        memset(big, ' ', RULES_MAX_INPUT + 1);
        assert_int_equal(parse_text("t.rules", big, RULES_MAX_INPUT + 1, &err, &n), -EFBIG);
        assert_string_equal(err.message,
                            "t.rules:1:1: file too large (1048577 bytes, at most 1048576)\n\n^");
        /* exactly at the cap is fine */
        memcpy(big, "alert A { when true }", 21);
        assert_int_equal(parse_text("t.rules", big, RULES_MAX_INPUT, &err, &n), 0);
        assert_int_equal(n, 1);

        /* no set, no error struct */
        assert_int_equal(rules_parse(NULL, "t", "", 0, &err), -EINVAL);
        assert_int_equal(parse_text("t.rules", "alert", 5, NULL, &n), -EINVAL);
}

/* The caret line for a message at column col of a line without tabs. */
static char *caret(unsigned col)
{
        char *s = xmalloc(col + 1);
        memset(s, ' ', col - 1);
        s[col - 1] = '^';
        s[col] = '\0';
        return s;
}

static void expect_error(const char *text, const char *want_prefix)
{
        RulesError err;
        size_t n;
        int r = parse_text("t.rules", text, strlen(text), &err, &n);
        if (r != -EINVAL || !startswith(err.message, want_prefix))
                fail_msg("got %d: %s\nwant: %s", r, err.message, want_prefix);
}

static void expect_ok(const char *text)
{
        RulesError err;
        size_t n;
        if (parse_text("t.rules", text, strlen(text), &err, &n) < 0)
                fail_msg("%s", err.message);
        assert_int_equal(n, 1);
}

static void test_caps(void **state)
{
        _cleanup_free_ char *want = NULL, *c = NULL;
        char buf[8192];

        /* nesting: 64 levels parse, the 65th '(' is refused */
        snprintf(buf, sizeof(buf), "alert D { when %.*s%s%.*s }", 64,
                 "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((", "true", 64,
                 "))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))");
        expect_ok(buf);
        snprintf(buf, sizeof(buf), "alert D { when %.*s%s%.*s }", 65,
                 "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((", "true", 65,
                 "))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))");
        c = caret(80);
        want = xasprintf("t.rules:1:80: expression nested too deeply (at most 64 levels)\n%s\n%s",
                         buf, c);
        expect_error(buf, want);
        /* "not" and unary minus nest too */
        snprintf(buf, sizeof(buf), "alert D { when ");
        for (int i = 0; i < 65; i++)
                strcat(buf, "not ");
        strcat(buf, "true }");
        expect_error(buf, "t.rules:1:272: expression nested too deeply (at most 64 levels)\n");

        /* nodes: 1 + 1 ... == 0 with 126 additions is 255 nodes, with 127 it is 257 */
        snprintf(buf, sizeof(buf), "alert N { when 1");
        for (int i = 0; i < 126; i++)
                strcat(buf, " + 1");
        strcat(buf, " == 0 }");
        expect_ok(buf);
        snprintf(buf, sizeof(buf), "alert N { when 1");
        for (int i = 0; i < 127; i++)
                strcat(buf, " + 1");
        strcat(buf, " == 0 }");
        expect_error(buf, "t.rules:1:526: expression too large (at most 256 nodes)\n...");
        /* each clause has its own budget */
        snprintf(buf, sizeof(buf), "alert N { where 1");
        for (int i = 0; i < 126; i++)
                strcat(buf, " + 1");
        strcat(buf, " == 0 when 1");
        for (int i = 0; i < 126; i++)
                strcat(buf, " + 1");
        strcat(buf, " == 0 }");
        expect_ok(buf);

        /* names */
        snprintf(buf, sizeof(buf), "alert %.*s { when true }", 64,
                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        expect_ok(buf);
        snprintf(buf, sizeof(buf), "alert %.*s { when true }", 65,
                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        expect_error(buf, "t.rules:1:7: name too long (at most 64 bytes)\n");

        /* strings: 4096 decoded bytes (an escape is one) */
        snprintf(buf, sizeof(buf), "alert S { when vendor == \"\\\\");
        for (int i = 1; i < 4096; i++)
                strcat(buf, "x");
        strcat(buf, "\" }");
        expect_ok(buf);
        buf[strlen(buf) - 3] = '\0';
        strcat(buf, "xy\" }");
        expect_error(buf, "t.rules:1:26: string too long (at most 4096 bytes)\n");

        /* lists */
        snprintf(buf, sizeof(buf), "alert L { when 1 in [0");
        for (int i = 1; i < 64; i++)
                strcat(buf, ", 1");
        strcat(buf, "] }");
        expect_ok(buf);
        buf[strlen(buf) - 3] = '\0';
        strcat(buf, ", 2] }");
        expect_error(buf, "t.rules:1:214: list too long (at most 64 elements)\n");

        /* template parts */
        snprintf(buf, sizeof(buf), "alert T { when true summary \"");
        for (int i = 0; i < 32; i++)
                strcat(buf, "{model} ");
        strcat(buf, "\" }");
        expect_ok(buf);
        buf[strlen(buf) - 3] = '\0';
        strcat(buf, "{vendor}\" }");
        expect_error(buf, "t.rules:1:286: template has too many parts (at most 64)\n");

        /* polls and durations */
        expect_ok("alert P { when true for 1000000 polls keep_firing_for 3650d }");
        expect_error("alert P { when true for 1000001 polls }",
                     "t.rules:1:25: too many polls (at most 1000000)\n");
        expect_error("alert P { when true keep_firing_for 3651d }",
                     "t.rules:1:37: duration too long: '3651d' (at most 3650d)\n");
        expect_error("alert P { when age > 99999999999999999999999s }",
                     "t.rules:1:22: duration too long: '99999999999999999999999s' (at most "
                     "3650d)\n");
        expect_error("alert P { when age > 123456789012345678901234567890123456789012h }",
                     "t.rules:1:22: number too long (at most 39 characters)\n");
        /* A literal past the integers a double holds exactly is refused where it is
         * written: before, this one reached a float-to-integer conversion out of range. */
        expect_error("alert P { when true for 10000000000000000000000000 polls }",
                     "t.rules:1:25: number too large: '10000000000000000000000000' (at most "
                     "1000000000000000)\n");
        expect_error("alert P { when true for 2.5 polls }",
                     "t.rules:1:25: 'for' takes a whole number of polls\n");
        expect_ok("alert P { when clouds(available) > 1000000000000000 }");
        expect_error("alert P { when clouds(available) > 1000000000000001 }",
                     "t.rules:1:36: number too large: '1000000000000001' (at most "
                     "1000000000000000)\n");
        expect_error("alert P {\n  when clouds(available) > 99999999999999999999.5\n}",
                     "t.rules:2:28: number too large: '99999999999999999999.5' (at most "
                     "1000000000000000)\n");

        /* alerts per set, over files */
        size_t len = 0;
        char *many = xmalloc(1000 * 32);
        for (int i = 0; i < 1000; i++)
                len += (size_t)sprintf(many + len, "alert A%d { when true }\n", i);
        RuleSet *s = NULL;
        RulesError err;
        assert_int_equal(rules_set_new(&s), 0);
        assert_int_equal(rules_parse(s, "t.rules", many, len, &err), 0);
        assert_int_equal(s->n_rules, 1000);
        assert_int_equal(rules_parse(s, "u.rules", "\nalert Z { when true }", 22, &err), -EINVAL);
        assert_string_equal(err.message, "u.rules:2:1: too many alerts (at most 1000 in all rule "
                                         "files)\nalert Z { when true }\n^");
        assert_int_equal(s->n_rules, 1000);
        rules_set_free(s);
        free(many);
}

static void test_long_line_window(void **state)
{
        char buf[2048];
        RulesError err;
        size_t n;

        /* the error sits far right on a long line: a window around it is shown */
        snprintf(buf, sizeof(buf), "alert W { when true");
        for (int i = 0; i < 100; i++)
                strcat(buf, " and true");
        strcat(buf, " and vendr }");
        assert_int_equal(parse_text("t.rules", buf, strlen(buf), &err, &n), -EINVAL);
        assert_true(startswith(err.message, "t.rules:1:925: unknown identifier 'vendr'"));
        const char *line2 = strchr(err.message, '\n') + 1;
        const char *line3 = strchr(line2, '\n') + 1;
        assert_true(startswith(line2, "...nd true and true"));
        assert_true(strstr(line2, " and vendr }") != NULL);
        /* the caret points at the 'v' of vendr in the shown window */
        size_t caret_at = strlen(line3) - 1;
        assert_int_equal(line3[caret_at], '^');
        assert_int_equal(line2[caret_at], 'v');
        assert_true(strlen(err.message) < sizeof(err.message) - 1);
}

static void test_positions(void **state)
{
        RuleSet *s = parse_ok("t.rules", "alert Pos {\n"
                                         "    when 1 +\n"
                                         "\t2 == clouds(available)\n"
                                         "    summary \"a {model} b\"\n"
                                         "}\n");
        const Rule *r = s->rules[0];
        const Expr *eq = r->when;

        assert_int_equal(eq->type, EXPR_BINARY);
        assert_int_equal(eq->op, RULES_OP_EQ);
        assert_int_equal(eq->kind, RULES_KIND_BOOL);
        assert_int_equal(eq->line, 3);
        assert_int_equal(eq->col, 4);
        const Expr *add = eq->children[0];
        assert_int_equal(add->op, RULES_OP_ADD);
        assert_int_equal(add->kind, RULES_KIND_NUMBER);
        assert_int_equal(add->line, 2);
        assert_int_equal(add->col, 12);
        assert_int_equal(add->children[1]->line, 3);
        assert_int_equal(add->children[1]->col, 2);
        const Expr *call = eq->children[1];
        assert_int_equal(call->type, EXPR_CALL);
        assert_ptr_equal(call->func, &rules_functions(NULL)[RULES_FN_CLOUDS]);
        assert_int_equal(call->kind, RULES_KIND_PROVIDER_SET);
        assert_null(call->kwargs[0]);
        assert_int_equal(call->n_children, 1);
        assert_int_equal(call->children[0]->ident->id, RULES_ID_AVAILABLE);
        assert_int_equal(call->col, 7);

        assert_int_equal(r->summary->line, 4);
        assert_int_equal(r->summary->col, 13);
        assert_int_equal(r->summary->n_parts, 3);
        assert_string_equal(r->summary->parts[0].literal, "a ");
        assert_null(r->summary->parts[0].expr);
        assert_null(r->summary->parts[1].literal);
        assert_int_equal(r->summary->parts[1].expr->ident->id, RULES_ID_MODEL);
        assert_int_equal(r->summary->parts[1].expr->line, 4);
        assert_int_equal(r->summary->parts[1].expr->col, 17);
        assert_string_equal(r->summary->parts[2].literal, " b");
        rules_set_free(s);

        /* previous() takes its argument's kind; lists keep their element kind */
        s = parse_ok("t.rules", "alert K { when previous(regions(\"aws\")) == regions(\"aws\") "
                                "and previous(age) > 1h }");
        eq = s->rules[0]->when->children[0];
        assert_int_equal(eq->children[0]->kind, RULES_KIND_LIST);
        assert_int_equal(eq->children[0]->elem_kind, RULES_KIND_STRING);
        assert_int_equal(eq->children[0]->slot, 0);
        assert_int_equal(s->rules[0]->when->children[1]->children[0]->kind, RULES_KIND_DURATION);
        assert_int_equal(s->rules[0]->when->children[1]->children[0]->slot, 1);
        assert_int_equal(s->rules[0]->n_slots, 2);
        rules_set_free(s);
}

static void test_format_buffer(void **state)
{
        RuleSet *s =
            parse_ok("t.rules", "alert F { when clouds(available) == 1 summary \"x{model}\" }");
        char buf[64];

        assert_int_equal(rules_expr_format(s->rules[0]->when, buf, 10), -ENOBUFS);
        assert_string_equal(buf, "(clouds(a");
        assert_int_equal(rules_expr_format(s->rules[0]->when, buf, 0), -ENOBUFS);
        assert_int_equal(rules_expr_format(s->rules[0]->when, buf, 29), 0);
        assert_string_equal(buf, "(clouds(available) == 1)");
        assert_int_equal(rules_template_format(s->rules[0]->summary, buf, 5), -ENOBUFS);
        assert_int_equal(rules_template_format(s->rules[0]->summary, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "\"x{model}\"");
        rules_set_free(s);
}

typedef struct GeoCase {
        const char *geo;
        const char *region;
} GeoCase;

/* Each region lies in exactly the geography named (none for NULL). */
static const GeoCase geo_cases[] = {
    {"us", "us-east-1"},
    {"us", "us-gov-west-1"},
    {"us", "us-central1"},
    {"us", "eastus2"},
    {"us", "northcentralus"},
    {"us", "West US 3"},
    {"ca", "ca-central-1"},
    {"ca", "northamerica-northeast1"},
    {"ca", "canadacentral"},
    {"latam", "sa-east-1"},
    {"latam", "mx-central-1"},
    {"latam", "southamerica-east1"},
    {"latam", "northamerica-south1"},
    {"latam", "brazilsouth"},
    {"latam", "mexicocentral"},
    {"eu", "eu-west-1"},
    {"eu", "EU-Central-2"},
    {"eu", "europe-west4"},
    {"eu", "westeurope"},
    {"eu", "West Europe"},
    {"eu", "swedencentral"},
    {"eu", "uksouth"},
    {"eu", "francecentral"},
    {"eu", "germanywestcentral"},
    {"eu", "switzerlandnorth"},
    {"eu", "norwayeast"},
    {"eu", "polandcentral"},
    {"eu", "italynorth"},
    {"eu", "spaincentral"},
    {"me", "me-central-1"},
    {"me", "il-central-1"},
    {"me", "me-west1"},
    {"me", "uaenorth"},
    {"me", "qatarcentral"},
    {"me", "israelcentral"},
    {"af", "af-south-1"},
    {"af", "africa-south1"},
    {"af", "southafricanorth"},
    {"apac", "ap-northeast-1"},
    {"apac", "ap-southeast-2"},
    {"apac", "asia-east1"},
    {"apac", "australia-southeast1"},
    {"apac", "japaneast"},
    {"apac", "australiaeast"},
    {"apac", "koreacentral"},
    {"apac", "southeastasia"},
    {"apac", "centralindia"},
    {"apac", "cn-north-1"},
    {NULL, "global"},
    {NULL, ""},
    {NULL, "us"},
};

static void test_geos(void **state)
{
        size_t n;
        const RulesGeo *g = rules_geos(&n);

        assert_int_equal(n, 7);
        for (size_t i = 0; i < ELEMENTSOF(geo_cases); i++) {
                for (size_t j = 0; j < n; j++) {
                        bool want = geo_cases[i].geo && streq(geo_cases[i].geo, g[j].name);
                        if (rules_geo_match(&g[j], geo_cases[i].region) != want)
                                fail_msg("region '%s' in geo '%s': want %s", geo_cases[i].region,
                                         g[j].name, want ? "yes" : "no");
                }
        }
        assert_ptr_equal(rules_geo_find("eu"), &g[3]);
        assert_null(rules_geo_find("EU"));
        assert_false(rules_geo_match(NULL, "eu-west-1"));
        assert_false(rules_geo_match(&g[3], NULL));
        /* every geography is a valid geo= value */
        for (size_t j = 0; j < n; j++) {
                _cleanup_free_ char *text =
                    xasprintf("alert G { when clouds(available, geo=\"%s\") == 1 }", g[j].name);
                expect_ok(text);
        }
}

static void test_tables(void **state)
{
        size_t n;
        const RulesFunction *f = rules_functions(&n);
        const RulesIdentifier *id;

        assert_int_equal(n, _RULES_FN_MAX);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(f[i].id, i);
                assert_ptr_equal(rules_function_find(f[i].name), &f[i]);
                assert_true(startswith(f[i].signature, f[i].name));
                assert_int_equal(f[i].signature[strlen(f[i].name)], '(');
                assert_true(f[i].doc && *f[i].doc);
                assert_true(f[i].min_args <= f[i].max_args && f[i].max_args <= RULES_MAX_ARGS);
                assert_true(f[i].targets & RULES_TARGET_BIT(RULE_TARGET_MODEL));
        }
        assert_null(rules_function_find("nope"));
        assert_true(f[RULES_FN_COUNT].targets & RULES_TARGET_BIT(RULE_TARGET_SOURCE));
        assert_false(f[RULES_FN_CLOUDS].targets & RULES_TARGET_BIT(RULE_TARGET_SOURCE));

        id = rules_identifiers(&n);
        assert_int_equal(n, _RULES_ID_MAX);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(id[i].id, i);
                assert_true(id[i].doc && *id[i].doc);
        }

        static const struct {
                RuleSeverity s;
                const char *name;
                int priority;
        } sev[] = {
            {RULE_SEVERITY_CRITICAL, "critical", 2}, {RULE_SEVERITY_ERROR, "error", 3},
            {RULE_SEVERITY_WARNING, "warning", 4},   {RULE_SEVERITY_NOTICE, "notice", 5},
            {RULE_SEVERITY_INFO, "info", 6},
        };
        for (size_t i = 0; i < ELEMENTSOF(sev); i++) {
                assert_string_equal(rules_severity_name(sev[i].s), sev[i].name);
                assert_int_equal(rules_severity_priority(sev[i].s), sev[i].priority);
        }
        assert_string_equal(rules_kind_name(RULES_KIND_PROVIDER_SET), "provider-set");
        assert_string_equal(rules_kind_name(RULES_KIND_NONE), "nothing");
        assert_string_equal(rules_op_name(RULES_OP_NEG), "-");
        assert_string_equal(rules_op_name(RULES_OP_IN), "in");
        assert_string_equal(rules_target_name(RULE_TARGET_SOURCE), "source");
}

/* Every function, called well from a model rule, parses; from a source rule only count(). */
static void test_every_function_call(void **state)
{
        static const char *const calls[_RULES_FN_MAX] = {
            [RULES_FN_CLOUDS] = "clouds(available) == 1",
            [RULES_FN_PROVIDERS] = "providers(cloud, unavailable) == 0",
            [RULES_FN_ON] = "on(\"aws\")",
            [RULES_FN_REGIONS] = "\"x\" in regions(\"gcp\")",
            [RULES_FN_PRICE] = "price(\"azure\", \"output\") > 0",
            [RULES_FN_MIN_PRICE] = "min_price(\"input\") > 0",
            [RULES_FN_MAX_PRICE] = "max_price(\"output\") > 0",
            [RULES_FN_PREVIOUS] = "previous(mapped)",
            [RULES_FN_CHANGED] = "changed(lifecycle(\"aws\"))",
            [RULES_FN_LOST] = "lost(providers) != 0",
            [RULES_FN_GAINED] = "gained(clouds) == 1",
            [RULES_FN_LIFECYCLE] = "lifecycle(\"gcp\") == \"legacy\"",
            [RULES_FN_EOL_WITHIN] = "eol_within(\"aws\", 90d)",
            [RULES_FN_COUNT] = "count([\"a\"]) == 1",
            [RULES_FN_REGIONS_KNOWN] = "regions_known(\"azure\")",
        };
        for (size_t i = 0; i < _RULES_FN_MAX; i++) {
                _cleanup_free_ char *model = xasprintf("alert M { when %s }", calls[i]);
                _cleanup_free_ char *source = xasprintf("alert S on source { when %s }", calls[i]);
                RulesError err;
                size_t n;
                assert_non_null(calls[i]);
                expect_ok(model);
                int r = parse_text("t.rules", source, strlen(source), &err, &n);
                assert_int_equal(r, i == RULES_FN_COUNT ? 0 : -EINVAL);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_good),
            cmocka_unit_test(test_bad), cmocka_unit_test(test_labels),
            cmocka_unit_test(test_files),
            cmocka_unit_test(test_duplicate_across_files),
            cmocka_unit_test(test_template_error_file),
            cmocka_unit_test(test_nul_and_size),
            cmocka_unit_test(test_caps),
            cmocka_unit_test(test_long_line_window),
            cmocka_unit_test(test_positions),
            cmocka_unit_test(test_format_buffer),
            cmocka_unit_test(test_geos),
            cmocka_unit_test(test_tables),
            cmocka_unit_test(test_every_function_call),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
