/* Tests of the configuration parser: tables of good files with the values they must
 * produce, and of bad files with the exact message each must report. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "lockwatch/config.h"
#include "lockwatch/util.h"

#define GOOD_DIR LW_TEST_DATA "/config/good/"
#define BAD_DIR  LW_TEST_DATA "/config/bad/"
#define NONE     SIZE_MAX

/* A small source that passes validation, for cases about other things. */
#define SRC(name) "[source " name "]\nurl = https://example.com/" name "\nformat = litellm\n"

typedef enum FieldKind {
        F_STR,
        F_DURATION,
        F_U64,
        F_UINT,
        F_BOOL,
} FieldKind;

typedef struct Field {
        const char *name;
        FieldKind kind;
        size_t daemon_off, source_off;
} Field;

#define DF(n, k, f)                                                                                \
        {                                                                                          \
                n, k, offsetof(Config, f), NONE                                                    \
        }
#define SF(n, k, f)                                                                                \
        {                                                                                          \
                n, k, NONE, offsetof(SourceConfig, f)                                              \
        }
#define BF(n, k, f)                                                                                \
        {                                                                                          \
                n, k, offsetof(Config, f), offsetof(SourceConfig, f)                               \
        }
#define LF(n, k, f) BF(n, k, limits.f)

static const Field fields[] = {
    DF("state_dir", F_STR, state_dir),
    DF("socket", F_STR, socket_path),
    DF("aliases", F_STR, aliases_path),
    DF("providers", F_STR, providers_path),
    DF("rules", F_STR, rules),
    BF("interval", F_DURATION, interval_usec),
    DF("jitter", F_U64, jitter_percent),
    DF("removal_polls", F_U64, removal_polls),
    DF("max_removal", F_U64, max_removal_percent),
    DF("max_rows", F_U64, max_rows),
    DF("user_agent_extra", F_STR, user_agent_extra),
    SF("name", F_STR, name),
    SF("url", F_STR, url),
    SF("format", F_STR, format),
    SF("provider", F_STR, provider),
    SF("columns", F_STR, columns),
    SF("rows", F_STR, rows),
    SF("vendor", F_STR, vendor),
    SF("enabled", F_BOOL, enabled),
    SF("line", F_UINT, line),
    LF("connect_timeout", F_DURATION, connect_timeout_usec),
    LF("timeout", F_DURATION, timeout_usec),
    LF("low_speed_time", F_DURATION, low_speed_time_usec),
    LF("low_speed_limit", F_U64, low_speed_limit),
    LF("max_body", F_U64, max_body),
    LF("max_redirects", F_U64, max_redirects),
    LF("retries", F_U64, retries),
    LF("retry_backoff", F_DURATION, retry_backoff_usec),
    LF("retry_backoff_max", F_DURATION, retry_backoff_max_usec),
    LF("ca_file", F_STR, ca_file),
};

/* "key" reads [daemon], "source/key" reads a source, "n_sources" counts them. */
static char *field_get(const Config *c, const char *spec)
{
        const char *slash = strchr(spec, '/');
        const void *base = c;
        const char *key = spec;
        bool source = false;

        if (streq(spec, "n_sources"))
                return xasprintf("%zu", c->n_sources);
        if (slash) {
                _cleanup_free_ char *name = xstrndup(spec, (size_t)(slash - spec));
                base = config_find_source(c, name);
                if (!base)
                        return xasprintf("<no source '%s'>", name);
                key = slash + 1;
                source = true;
        }
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                const Field *f = &fields[i];
                size_t off = source ? f->source_off : f->daemon_off;
                if (!streq(f->name, key) || off == NONE)
                        continue;
                const char *p = (const char *)base + off;
                char buf[64];
                switch (f->kind) {
                case F_STR: {
                        const char *s = *(const char *const *)p;
                        return xstrdup(s ? s : "(null)");
                }
                case F_DURATION:
                        return xstrdup(
                            util_format_duration(buf, sizeof(buf), *(const uint64_t *)p));
                case F_U64:
                        return xasprintf("%llu", (unsigned long long)*(const uint64_t *)p);
                case F_UINT:
                        return xasprintf("%u", *(const unsigned *)p);
                case F_BOOL:
                        return xstrdup(*(const bool *)p ? "yes" : "no");
                }
        }
        return xasprintf("<no field '%s'>", spec);
}

/* Expected values may say $CWD for the test's working directory. */
static char *expand_cwd(const char *s)
{
        const char *at = strstr(s, "$CWD");
        if (!at)
                return xstrdup(s);
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        assert_non_null(cwd);
        return xasprintf("%.*s%s%s", (int)(at - s), s, cwd, at + 4);
}

typedef struct Expect {
        const char *field;
        const char *value;
} Expect;

typedef struct GoodCase {
        const char *name;
        const char *path; /* the name handed to config_parse, or the file for config_load */
        const char *text; /* NULL: load path from disk */
        Expect expect[40];
} GoodCase;

static const GoodCase good_cases[] = {
    {"defaults",
     "lockwatch.conf",
     SRC("a"),
     {
         {"n_sources", "1"},
         {"state_dir", "/var/lib/lockwatch"},
         {"socket", "/run/lockwatch/io.lockwatch"},
         {"aliases", "/etc/lockwatch/aliases.conf"},
         {"providers", "/etc/lockwatch/providers.conf"},
         {"rules", "/etc/lockwatch/rules.d/*.rules"},
         {"interval", "6h"},
         {"jitter", "10"},
         {"removal_polls", "2"},
         {"max_removal", "20"},
         {"max_rows", "100000"},
         {"user_agent_extra", "(null)"},
         {"connect_timeout", "10s"},
         {"timeout", "1m"},
         {"low_speed_time", "20s"},
         {"low_speed_limit", "64"},
         {"max_body", "33554432"},
         {"max_redirects", "5"},
         {"retries", "3"},
         {"retry_backoff", "2s"},
         {"retry_backoff_max", "5m"},
         {"ca_file", "(null)"},
         {"a/name", "a"},
         {"a/url", "https://example.com/a"},
         {"a/format", "litellm"},
         {"a/provider", "(null)"},
         {"a/columns", "(null)"},
         {"a/rows", "(null)"},
         {"a/vendor", "(null)"},
         {"a/enabled", "yes"},
         {"a/line", "1"},
         {"a/interval", "6h"},
         {"a/connect_timeout", "10s"},
         {"a/timeout", "1m"},
         {"a/max_body", "33554432"},
         {"a/retry_backoff_max", "5m"},
         {"a/ca_file", "(null)"},
     }},
    {"empty input", "lockwatch.conf", "", {{"n_sources", "0"}, {"interval", "6h"}}},
    {"comments and blank lines only",
     "lockwatch.conf",
     "# a comment\n   ; another\n\n\t\n#[source x]\n",
     {{"n_sources", "0"}, {"max_rows", "100000"}}},
    {"sources inherit [daemon] whatever the order",
     "lockwatch.conf",
     "[source early]\n"
     "url = https://e.example/x\n"
     "format = openrouter\n"
     "timeout = 5s\n"
     "\n"
     "[daemon]\n"
     "timeout = 90s\n"
     "interval = 1h\n"
     "max_body = 4M\n"
     "retries = 7\n"
     "ca_file = /etc/ssl/custom.pem\n"
     "\n"
     "[source late]\n"
     "url = https://l.example/x\n"
     "format = models-dev\n"
     "ca_file =\n"
     "interval = 15m\n"
     "retries = 0\n",
     {
         {"timeout", "1m30s"},
         {"early/timeout", "5s"},
         {"early/max_body", "4194304"},
         {"early/interval", "1h"},
         {"early/retries", "7"},
         {"early/ca_file", "/etc/ssl/custom.pem"},
         {"early/connect_timeout", "10s"},
         {"late/timeout", "1m30s"},
         {"late/ca_file", "(null)"},
         {"late/interval", "15m"},
         {"late/retries", "0"},
         {"late/line", "13"},
     }},
    {"quoting",
     "lockwatch.conf",
     "[daemon]\n"
     "user_agent_extra = \"ops \\\"team\\\" \\\\ x\"\n"
     "state_dir = \"/var/lib/lock watch\"\n"
     "[source q]\n"
     "url = \"https://example.com/a#frag\"\n"
     "format = \"html-table\"\n"
     "provider = \" aws \"\n"
     "columns = Model ID:model, Regions:regions\n"
     "vendor = \"#not a comment\"  \n",
     {
         {"user_agent_extra", "ops \"team\" \\ x"},
         {"state_dir", "/var/lib/lock watch"},
         {"q/url", "https://example.com/a#frag"},
         {"q/format", "html-table"},
         {"q/provider", " aws "},
         {"q/columns", "Model ID:model, Regions:regions"},
         {"q/vendor", "#not a comment"},
     }},
    {"unquoted value keeps '#' and inner quotes",
     "lockwatch.conf",
     SRC("a") "vendor = say \"hi\" # not a comment\n",
     {{"a/vendor", "say \"hi\" # not a comment"}}},
    {"CRLF line endings",
     "lockwatch.conf",
     "[daemon]\r\ninterval = 30m\r\n\r\n[source c]\r\nurl = http://h/x\r\nformat = "
     "bedrock-api\r\n",
     {{"interval", "30m"}, {"c/url", "http://h/x"}, {"c/format", "bedrock-api"}}},
    {"UTF-8 byte order mark",
     "lockwatch.conf",
     "\xef\xbb\xbf[daemon]\nmax_rows = 7\n",
     {{"max_rows", "7"}}},
    {"whitespace everywhere, no final newline",
     "lockwatch.conf",
     "  # c\n\t; c2\n  [  source   s.1-x_Y  ]  \n\turl\t=\thttps://x/y  \n "
     "format=azure-models",
     {{"s.1-x_Y/url", "https://x/y"}, {"s.1-x_Y/format", "azure-models"}}},
    {"sizes, durations, percentages and booleans",
     "lockwatch.conf",
     "[daemon]\n"
     "max_body = 1G\n"
     "low_speed_limit = 0\n"
     "interval = 1h30m\n"
     "retry_backoff = 0\n"
     "connect_timeout = 500ms\n"
     "retries = 0\n"
     "max_redirects = 20\n"
     "jitter = 50%\n"
     "max_removal = 100\n"
     "removal_polls = 100\n"
     "max_rows = 10000000\n"
     "low_speed_time = 1s\n"
     "retry_backoff_max = 1d\n"
     "[source s]\n"
     "url = https://x/\n"
     "format = litellm\n"
     "max_body = 512KiB\n"
     "interval = 90\n"
     "enabled = OFF\n"
     "[source t]\n"
     "url = https://x/\n"
     "format = litellm\n"
     "max_body = 1K\n"
     "enabled = 1\n"
     "interval = 1s\n",
     {
         {"max_body", "1073741824"},     {"low_speed_limit", "0"},
         {"interval", "1h30m"},          {"retry_backoff", "0s"},
         {"connect_timeout", "500ms"},   {"retries", "0"},
         {"max_redirects", "20"},        {"jitter", "50"},
         {"max_removal", "100"},         {"removal_polls", "100"},
         {"max_rows", "10000000"},       {"low_speed_time", "1s"},
         {"retry_backoff_max", "1d"},    {"s/max_body", "524288"},
         {"s/interval", "1m30s"},        {"s/enabled", "no"},
         {"s/connect_timeout", "500ms"}, {"t/max_body", "1024"},
         {"t/enabled", "yes"},           {"t/interval", "1s"},
     }},
    {"URL schemes are case-insensitive",
     "lockwatch.conf",
     "[source a]\nurl = HTTPS://EXAMPLE.com/x?y=1\nformat = litellm\n"
     "[source b]\nurl = file:///srv/x.json\nformat = litellm\n",
     {{"a/url", "HTTPS://EXAMPLE.com/x?y=1"}, {"b/url", "file:///srv/x.json"}}},
    {"bare paths resolve against the config file's directory",
     "/etc/lockwatch/lockwatch.conf",
     "[daemon]\n"
     "state_dir = state\n"
     "rules = rules.d/*.rules\n"
     "ca_file = ./certs//ca.pem\n"
     "socket = /run/x.sock\n"
     "[source a]\nurl = feeds/litellm.json\nformat = litellm\n"
     "[source b]\nurl = ../share/a b%#?.json\nformat = litellm\n"
     "[source c]\nurl = /abs/feed.json\nformat = litellm\n"
     "[source d]\nurl = ../../../../x.json\nformat = litellm\n",
     {
         {"state_dir", "/etc/lockwatch/state"},
         {"rules", "/etc/lockwatch/rules.d/*.rules"},
         {"ca_file", "/etc/lockwatch/certs/ca.pem"},
         {"socket", "/run/x.sock"},
         {"a/url", "file:///etc/lockwatch/feeds/litellm.json"},
         {"b/url", "file:///etc/share/a%20b%25%23%3F.json"},
         {"c/url", "file:///abs/feed.json"},
         {"d/url", "file:///x.json"},
         {"a/ca_file", "/etc/lockwatch/certs/ca.pem"},
     }},
    {"relative config path is anchored at the working directory",
     "conf/lockwatch.conf",
     SRC("a") "[source b]\nurl = feeds/b.json\nformat = litellm\n",
     {{"b/url", "file://$CWD/conf/feeds/b.json"}}},
    {"config path without a directory",
     "lockwatch.conf",
     "[source b]\nurl = b.json\nformat = litellm\n",
     {{"b/url", "file://$CWD/b.json"}}},
    {"a complete file",
     GOOD_DIR "full.conf",
     NULL,
     {
         {"n_sources", "3"},
         {"state_dir", "/srv/lockwatch/state"},
         {"socket", "/srv/lockwatch/io.lockwatch"},
         {"aliases", GOOD_DIR "aliases.conf"},
         {"providers", "/srv/lockwatch/providers.conf"},
         {"rules", GOOD_DIR "rules.d/*.rules"},
         {"interval", "4h"},
         {"jitter", "15"},
         {"removal_polls", "3"},
         {"max_removal", "25"},
         {"max_rows", "50000"},
         {"user_agent_extra", "ops@example.com"},
         {"connect_timeout", "5s"},
         {"timeout", "45s"},
         {"low_speed_time", "30s"},
         {"low_speed_limit", "1024"},
         {"max_body", "16777216"},
         {"max_redirects", "3"},
         {"retries", "2"},
         {"retry_backoff", "1s"},
         {"retry_backoff_max", "2m"},
         {"ca_file", GOOD_DIR "certs/ca.pem"},
         {"litellm/line", "4"},
         {"litellm/timeout", "2m"},
         {"litellm/max_body", "67108864"},
         {"litellm/interval", "4h"},
         {"litellm/retries", "2"},
         {"litellm/ca_file", GOOD_DIR "certs/ca.pem"},
         {"models.dev/url", "file://" GOOD_DIR "feeds/models%20dev.json"},
         {"models.dev/interval", "30m"},
         {"models.dev/enabled", "no"},
         {"models.dev/retries", "0"},
         {"models.dev/timeout", "45s"},
         {"aws-docs/format", "html-table"},
         {"aws-docs/provider", "aws"},
         {"aws-docs/vendor", "Anthropic"},
         {"aws-docs/columns", "Model ID:model, Regions supported:regions"},
         {"aws-docs/ca_file", "(null)"},
         {"aws-docs/enabled", "yes"},
     }},
    {"a json source",
     "lockwatch.conf",
     "[source feed]\n"
     "url = https://example.com/models.json\n"
     "format = json\n"
     "provider = azure\n"
     "rows = data[*]\n"
     "columns = id:model, regions[*]:regions, pricing.prompt:price_in_per_token, "
     "status:lifecycle\n"
     "[source keyed]\n"
     "columns = @key:model, litellm_provider:provider\n"
     "rows = *\n"
     "format = json\n"
     "url = https://example.com/prices.json\n"
     "[source quoted]\n"
     "url = https://example.com/q.json\n"
     "format = json\n"
     "columns = \"\\\"a.b\\\":model, host:provider\"\n"
     "[source table]\n"
     "url = https://example.com/t.html\n"
     "format = html-table\n"
     "provider = aws\n"
     "columns = Model ID:model\n",
     {
         {"feed/format", "json"},
         {"feed/provider", "azure"},
         {"feed/rows", "data[*]"},
         {"feed/columns",
          "id:model, regions[*]:regions, pricing.prompt:price_in_per_token, status:lifecycle"},
         {"keyed/rows", "*"},
         {"keyed/provider", "(null)"},
         {"keyed/columns", "@key:model, litellm_provider:provider"},
         {"quoted/rows", "(null)"},
         {"quoted/columns", "\"a.b\":model, host:provider"},
         {"table/rows", "(null)"},
     }},
    {"a CRLF file",
     GOOD_DIR "crlf.conf",
     NULL,
     {{"interval", "2h"}, {"crlf/url", "file:///srv/feeds/a.json"}, {"crlf/line", "5"}}},
};

static void test_good(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(good_cases); i++) {
                const GoodCase *g = &good_cases[i];
                ConfigError err = {0};
                Config *c = NULL;
                int r;

                if (g->text)
                        r = config_parse(g->path, g->text, strlen(g->text), &c, &err);
                else
                        r = config_load(g->path, &c, &err);
                if (r < 0)
                        fail_msg("case '%s': %s", g->name, err.message);
                assert_non_null(c);
                assert_string_equal(c->path, g->path);
                assert_string_equal(err.message, "");
                for (const Expect *e = g->expect; e->field; e++) {
                        _cleanup_free_ char *got = field_get(c, e->field);
                        _cleanup_free_ char *want = expand_cwd(e->value);
                        if (!streq(got, want))
                                fail_msg("case '%s': %s is '%s', expected '%s'", g->name, e->field,
                                         got, want);
                }
                config_free(c);
        }
}

typedef struct BadCase {
        const char *file; /* under tests/data/config/bad/, read with config_load; or NULL */
        const char *text;
        size_t len; /* 0: strlen(text) */
        int ret;
        const char *message;
} BadCase;

#define LONG65 "a123456789b123456789c123456789d123456789e123456789f123456789g1234"

static const BadCase bad_cases[] = {
    {NULL, "interval = 1h\n", 0, -EINVAL,
     "lockwatch.conf:1:1: key 'interval' is outside any section; put it under [daemon], "
     "[source NAME], [alertmanager NAME] or [webhook NAME]"},
    {NULL, "\n  [daemon\n", 0, -EINVAL,
     "lockwatch.conf:2:3: section header is missing its closing ']'"},
    {NULL, "[daemon] # no inline comments\n", 0, -EINVAL,
     "lockwatch.conf:1:1: unexpected text after ']' in section header"},
    {NULL, "[ ]\n", 0, -EINVAL,
     "lockwatch.conf:1:1: empty section header; use [daemon] or [source NAME]"},
    {NULL, "[deamon]\n", 0, -EINVAL,
     "lockwatch.conf:1:1: unknown section 'deamon'; did you mean 'daemon'?"},
    {NULL, "[sources x]\n", 0, -EINVAL,
     "lockwatch.conf:1:1: unknown section 'sources'; did you mean 'source'?"},
    {NULL, "[global]\n", 0, -EINVAL,
     "lockwatch.conf:1:1: unknown section 'global' (use [daemon], [source NAME], "
     "[alertmanager NAME] or [webhook NAME])"},
    {NULL, "[alertmanger a]\n", 0, -EINVAL,
     "lockwatch.conf:1:1: unknown section 'alertmanger'; did you mean 'alertmanager'?"},
    {NULL, "[alertmanager]\n", 0, -EINVAL,
     "lockwatch.conf:1:1: section [alertmanager] needs a name, e.g. [alertmanager primary]"},
    {NULL, "[alertmanager a]\ntimeout = 1s\n", 0, -EINVAL,
     "lockwatch.conf:1:1: [alertmanager a]: missing required key 'url'"},
    {NULL, "[alertmanager a]\nurl = /tmp/x\n", 0, -EINVAL,
     "lockwatch.conf:2:7: [alertmanager a]: 'url' must be http:// or https://"},
    {NULL, "[alertmanager a]\nurl = http://h/\n[alertmanager a]\nurl = http://h/\n", 0,
     -EINVAL, "lockwatch.conf:3:1: duplicate alertmanager 'a'; first defined at line 1"},
    {NULL, "[alertmanager a]\nurl = http://h/\nresend_dlay = 1m\n", 0, -EINVAL,
     "lockwatch.conf:3:1: unknown key 'resend_dlay' in [alertmanager a]; did you mean "
     "'resend_delay'?"},
    {NULL, "[webhook w]\nurl = http://h/\nresend_delay = 1m\n", 0, -EINVAL,
     "lockwatch.conf:3:1: key 'resend_delay' belongs in [alertmanager NAME], not in [webhook w]"},
    {NULL, "[alertmanager a]\nurl = http://h/\nformat = litellm\n", 0, -EINVAL,
     "lockwatch.conf:3:1: key 'format' belongs in [source NAME], not in [alertmanager a]"},
    {NULL, "[webhook w]\nurl = http://h/\nbasic_auth_user = u\n", 0, -EINVAL,
     "lockwatch.conf:3:1: [webhook w]: 'basic_auth_user' and 'basic_auth_password_file' go "
     "together"},
    {NULL, "[webhook w]\nurl = http://h/\nbearer_token_file = credential:a/b\n", 0, -EINVAL,
     "lockwatch.conf:3:21: invalid credential name 'a/b' for 'bearer_token_file' (use "
     "credential:NAME, as in LoadCredential=NAME:...)"},
    {NULL, "[webhook w]\nurl = http://h/\nmax_queue = 0\n", 0, -EINVAL,
     "lockwatch.conf:3:13: 'max_queue' must be between 1 and 100000, got '0'"},
    {NULL, "[daemon]\nmetrics_listen = localhost:9464\n", 0, -EINVAL,
     "lockwatch.conf:2:18: invalid listen address 'localhost:9464' for 'metrics_listen' (use "
     "ADDRESS:PORT, e.g. 127.0.0.1:9464 or [::1]:9464)"},
    {NULL, "[daemon]\nmetrics_listen = 127.0.0.1:0\n", 0, -EINVAL,
     "lockwatch.conf:2:18: invalid listen address '127.0.0.1:0' for 'metrics_listen' (use "
     "ADDRESS:PORT, e.g. 127.0.0.1:9464 or [::1]:9464)"},
    {NULL, "[daemon main]\n", 0, -EINVAL,
     "lockwatch.conf:1:1: section [daemon] takes no name, got 'main'"},
    {NULL, "[source]\n", 0, -EINVAL,
     "lockwatch.conf:1:1: section [source] needs a name, e.g. [source litellm]"},
    {NULL, "[source bad/name]\n", 0, -EINVAL,
     "lockwatch.conf:1:1: invalid source name 'bad/name' (use 1 to 64 characters from A-Z "
     "a-z 0-9 _ . -)"},
    {NULL, "[source two words]\n", 0, -EINVAL,
     "lockwatch.conf:1:1: invalid source name 'two words' (use 1 to 64 characters from A-Z "
     "a-z 0-9 _ . -)"},
    {NULL, "[source " LONG65 "]\n", 0, -EINVAL,
     "lockwatch.conf:1:1: invalid source name '" LONG65
     "' (use 1 to 64 characters from A-Z a-z 0-9 _ . -)"},
    {NULL, "[daemon]\n[daemon]\n", 0, -EINVAL,
     "lockwatch.conf:2:1: duplicate section [daemon]; first defined at line 1"},
    {NULL, SRC("a") SRC("b") SRC("a"), 0, -EINVAL,
     "lockwatch.conf:7:1: duplicate source 'a'; first defined at line 1"},
    {NULL, "[daemon]\njust words\n", 0, -EINVAL,
     "lockwatch.conf:2:1: expected 'key = value', a [section] header or a # comment"},
    {NULL, "[daemon]\n = 5\n", 0, -EINVAL, "lockwatch.conf:2:2: missing key before '='"},
    {NULL,
     "# sources\n\n[source litellm]\nurl = https://example.com/x\nformat = litellm\n\n"
     "intervall = 1h\n",
     0, -EINVAL,
     "lockwatch.conf:7:1: unknown key 'intervall' in [source litellm]; did you mean "
     "'interval'?"},
    {NULL, "[daemon]\nInterval = 1h\n", 0, -EINVAL,
     "lockwatch.conf:2:1: unknown key 'Interval' in [daemon]; did you mean 'interval'?"},
    {NULL, "[daemon]\n  max_bdy = 1M\n", 0, -EINVAL,
     "lockwatch.conf:2:3: unknown key 'max_bdy' in [daemon]; did you mean 'max_body'?"},
    {NULL, "[daemon]\ncolour = blue\n", 0, -EINVAL,
     "lockwatch.conf:2:1: unknown key 'colour' in [daemon]"},
    {NULL, "[daemon]\n\x01x = 1\n", 0, -EINVAL,
     "lockwatch.conf:2:1: unknown key '\\x01x' in [daemon]"},
    {NULL, "[daemon]\nurl = http://x/\n", 0, -EINVAL,
     "lockwatch.conf:2:1: key 'url' belongs in [source NAME], [alertmanager NAME] or "
     "[webhook NAME], not in [daemon]"},
    {NULL, SRC("a") "state_dir = /tmp\n", 0, -EINVAL,
     "lockwatch.conf:4:1: key 'state_dir' belongs in [daemon], not in [source a]"},
    {NULL, "[daemon]\ninterval = 1h\ninterval = 2h\n", 0, -EINVAL,
     "lockwatch.conf:3:1: duplicate key 'interval' in [daemon]; first set at line 2"},
    {NULL, SRC("a") "timeout = 1s\ntimeout = 2s\n", 0, -EINVAL,
     "lockwatch.conf:5:1: duplicate key 'timeout' in [source a]; first set at line 4"},
    {NULL, "[daemon]\n# poll\ninterval = 5 minutes\n", 0, -EINVAL,
     "lockwatch.conf:3:12: invalid duration '5 minutes' for 'interval' (use e.g. 90s, 15m, "
     "6h)"},
    {NULL, "[daemon]\r\ninterval = soon\r\n", 0, -EINVAL,
     "lockwatch.conf:2:12: invalid duration 'soon' for 'interval' (use e.g. 90s, 15m, 6h)"},
    {NULL, "[daemon]\ninterval = 500ms\n", 0, -EINVAL,
     "lockwatch.conf:2:12: 'interval' must be between 1s and 365d, got '500ms'"},
    {NULL, SRC("a") "interval = 0\n", 0, -EINVAL,
     "lockwatch.conf:4:12: 'interval' must be between 1s and 365d, got '0'"},
    {NULL, "[daemon]\ntimeout = 0\n", 0, -EINVAL,
     "lockwatch.conf:2:11: 'timeout' must be between 1ms and 1d, got '0'"},
    {NULL, "[daemon]\nconnect_timeout = 99999999999999999999s\n", 0, -EINVAL,
     "lockwatch.conf:2:19: 'connect_timeout' must be between 1ms and 1d, got "
     "'99999999999999999999s'"},
    {NULL, "[daemon]\nmax_body = 2G\n", 0, -EINVAL,
     "lockwatch.conf:2:12: 'max_body' must be between 1K and 1G, got '2G'"},
    {NULL, "[daemon]\nmax_body = 1023\n", 0, -EINVAL,
     "lockwatch.conf:2:12: 'max_body' must be between 1K and 1G, got '1023'"},
    {NULL, "[daemon]\nmax_body = lots\n", 0, -EINVAL,
     "lockwatch.conf:2:12: invalid size 'lots' for 'max_body' (use e.g. 512K, 32M, 1G)"},
    {NULL, "[daemon]\nretries = 11\n", 0, -EINVAL,
     "lockwatch.conf:2:11: 'retries' must be between 0 and 10, got '11'"},
    {NULL, "[daemon]\nretries = -1\n", 0, -EINVAL,
     "lockwatch.conf:2:11: invalid number '-1' for 'retries' (use a whole number from 0 to "
     "10)"},
    {NULL, "[daemon]\nmax_redirects = 21\n", 0, -EINVAL,
     "lockwatch.conf:2:17: 'max_redirects' must be between 0 and 20, got '21'"},
    {NULL, "[daemon]\nmax_rows = 99999999999999999999999\n", 0, -EINVAL,
     "lockwatch.conf:2:12: 'max_rows' must be between 1 and 10000000, got "
     "'99999999999999999999999'"},
    {NULL, "[daemon]\nremoval_polls = 0\n", 0, -EINVAL,
     "lockwatch.conf:2:17: 'removal_polls' must be between 1 and 100, got '0'"},
    {NULL, "[daemon]\njitter = 60%\n", 0, -EINVAL,
     "lockwatch.conf:2:10: 'jitter' must be between 0% and 50%, got '60%'"},
    {NULL, "[daemon]\njitter = 10 %\n", 0, -EINVAL,
     "lockwatch.conf:2:10: invalid percentage '10 %' for 'jitter' (use a whole number, e.g. "
     "10 or 10%)"},
    {NULL, "[daemon]\nmax_removal = 0%\n", 0, -EINVAL,
     "lockwatch.conf:2:15: 'max_removal' must be between 1% and 100%, got '0%'"},
    {NULL, SRC("a") "enabled = maybe\n", 0, -EINVAL,
     "lockwatch.conf:4:11: invalid boolean 'maybe' for 'enabled' (use yes/no, true/false, "
     "on/off or 1/0)"},
    {NULL, "[source a]\nurl = ftp://example.com/x\nformat = litellm\n", 0, -EINVAL,
     "lockwatch.conf:2:7: unsupported URL scheme 'ftp' for 'url' (use http://, https://, "
     "file:// or a file path)"},
    {NULL, "[source a]\nurl = http://\n", 0, -EINVAL,
     "lockwatch.conf:2:7: invalid URL 'http://' for 'url' (use http://HOST/PATH, "
     "https://HOST/PATH, file:///PATH or a file path)"},
    {NULL, "[source a]\nurl = https:example.com\n", 0, -EINVAL,
     "lockwatch.conf:2:7: invalid URL 'https:example.com' for 'url' (use http://HOST/PATH, "
     "https://HOST/PATH, file:///PATH or a file path)"},
    {NULL, "[source a]\nurl = file://feeds/x.json\n", 0, -EINVAL,
     "lockwatch.conf:2:7: invalid URL 'file://feeds/x.json' for 'url' (use "
     "http://HOST/PATH, https://HOST/PATH, file:///PATH or a file path)"},
    {NULL, "[source a]\nurl = https://x/a b\n", 0, -EINVAL,
     "lockwatch.conf:2:7: URL 'https://x/a b' for 'url' contains a space; write it as %20"},
    {NULL, "[source a]\nurl = https://x/\nformat = litelm\n", 0, -EINVAL,
     "lockwatch.conf:3:10: unknown format 'litelm' (known: litellm, models-dev, openrouter, "
     "bedrock-model-cards, bedrock-api, bedrock-api-regions, azure-models, azure-foundry, "
     "vertex-model-garden, anthropic-models, openai-models, gemini-models, html-table, "
     "markdown-table, json); did you mean 'litellm'?"},
    {NULL, "[source a]\nurl = https://x/\nformat = xml\n", 0, -EINVAL,
     "lockwatch.conf:3:10: unknown format 'xml' (known: litellm, models-dev, openrouter, "
     "bedrock-model-cards, bedrock-api, bedrock-api-regions, azure-models, azure-foundry, "
     "vertex-model-garden, anthropic-models, openai-models, gemini-models, html-table, "
     "markdown-table, json)"},
    {NULL, "[source t]\nurl = https://x/\nformat = html-table\nprovider = azure\ncolumns = Model\n",
     0, -EINVAL,
     "lockwatch.conf:5:11: invalid columns: column 1 (\"Model\") has no ':' between header and "
     "field"},
    {NULL,
     "[source t]\nurl = https://x/\nformat = html-table\nprovider = azure\n"
     "columns = Model:modle\n",
     0, -EINVAL, "lockwatch.conf:5:11: invalid columns: column 1 (\"Model\"): unknown field \"modle\" (did "
     "you mean model?)"},
    {NULL, "[source a]\nformat = litellm\n", 0, -EINVAL,
     "lockwatch.conf:1:1: [source a]: missing required key 'url'"},
    /* rows and columns are checked once the section is complete, against its format. */
    {NULL, SRC("a") "rows = data[*]\n", 0, -EINVAL,
     "lockwatch.conf:4:1: 'rows' applies only to format json"},
    {NULL, "[source t]\nurl = https://x/\nformat = markdown-table\nprovider = azure\n"
           "columns = Model:model\n  rows = x\n",
     0, -EINVAL, "lockwatch.conf:6:3: 'rows' applies only to format json"},
    {NULL, SRC("a") "columns = id:model\n", 0, -EINVAL,
     "lockwatch.conf:4:1: 'columns' applies only to formats html-table, markdown-table, json"},
    {NULL, "[source j]\ncolumns = id:model\nurl = https://x/\nformat = openrouter\n", 0,
     -EINVAL,
     "lockwatch.conf:2:1: 'columns' applies only to formats html-table, markdown-table, json"},
    {NULL, "[source j]\nurl = https://x/\nformat = json\nprovider = p\n", 0, -EINVAL,
     "lockwatch.conf:1:1: [source j]: missing required key 'columns' (format 'json' needs it)"},
    {NULL,
     "[source j]\nurl = https://x/\nformat = json\nprovider = p\nrows = data[\n"
     "columns = id:model\n",
     0, -EINVAL,
     "lockwatch.conf:5:8: invalid rows: byte 6: expected '*' or an index after '[', got the "
     "end"},
    {NULL,
     "[source j]\nurl = https://x/\nformat = json\nprovider = p\nrows = data[*]\n"
     "columns = id:modle\n",
     0, -EINVAL,
     "lockwatch.conf:6:11: invalid columns: column 1 (\"id\"): unknown field \"modle\" (did "
     "you mean model?)"},
    {NULL,
     "[source j]\nurl = https://x/\nformat = json\nprovider = p\n"
     "columns = \"id:model, regions[*:regions\"\n",
     0, -EINVAL,
     "lockwatch.conf:5:11: invalid columns: column 2 (\"regions[*\"): byte 20: expected ']', "
     "got the end"},
    {NULL, "[source j]\nurl = https://x/\nformat = json\ncolumns = id:model\n", 0, -EINVAL,
     "lockwatch.conf:4:11: invalid columns: the column spec has no provider column, and the "
     "source sets no provider"},
    {NULL, "[source j]\nurl = https://x/\nformat = json\nrows = @key\ncolumns = id:model\n",
     0, -EINVAL,
     "lockwatch.conf:4:8: invalid rows: byte 1: unexpected '@' (only a column's path may be "
     "@key, alone)"},
    /* Both wrong: the one higher in the file is reported. */
    {NULL,
     "[source j]\nurl = https://x/\nformat = json\nprovider = p\ncolumns = id\nrows = a..b\n", 0,
     -EINVAL,
     "lockwatch.conf:5:11: invalid columns: column 1 (\"id\") has no ':' between path and "
     "field"},
    {NULL,
     "[source j]\nurl = https://x/\nformat = json\nprovider = p\nrows = a..b\ncolumns = id\n", 0,
     -EINVAL,
     "lockwatch.conf:5:8: invalid rows: byte 3: expected a name, a quoted name or '*' after "
     "'.', got '.'"},
    /* A table column spec under json is read with json's grammar. */
    {NULL,
     "[source j]\nurl = https://x/\nformat = json\nprovider = p\n"
     "columns = Model ID:model\n",
     0, -EINVAL,
     "lockwatch.conf:5:11: invalid columns: column 1 (\"Model ID\"): byte 6: expected '.' or "
     "'[', got ' '"},
    /* Checked when the section ends: a later error in the same section comes first. */
    {NULL,
     "[source t]\nurl = https://x/\nformat = html-table\nprovider = azure\ncolumns = Model\n"
     "bogus = 1\n",
     0, -EINVAL, "lockwatch.conf:6:1: unknown key 'bogus' in [source t]"},
    {NULL,
     "[source t]\nurl = https://x/\nformat = html-table\nprovider = azure\ncolumns = Model\n"
     "[daemon]\nbogus = 1\n",
     0, -EINVAL,
     "lockwatch.conf:5:11: invalid columns: column 1 (\"Model\") has no ':' between header "
     "and field"},
    {NULL,
     "[daemon]\ninterval = 1h\n\n" SRC("litellm") "\n# AWS\n[source bedrock]\nurl = https://x/\n",
     0, -EINVAL, "lockwatch.conf:9:1: [source bedrock]: missing required key 'format'"},
    {NULL, "[daemon]\n\n  [source b]\nurl = https://x/\n", 0, -EINVAL,
     "lockwatch.conf:3:3: [source b]: missing required key 'format'"},
    {NULL, "[source t]\nurl = https://x/\nformat = html-table\ncolumns = Model:model\n", 0, -EINVAL,
     "lockwatch.conf:1:1: [source t]: missing required key 'provider' (format 'html-table' "
     "needs it)"},
    {NULL, "[source t]\nurl = https://x/\nformat = markdown-table\nprovider = gcp\n", 0, -EINVAL,
     "lockwatch.conf:1:1: [source t]: missing required key 'columns' (format "
     "'markdown-table' needs it)"},
    {NULL, SRC("a") "provider = \"aws\n", 0, -EINVAL,
     "lockwatch.conf:4:12: unterminated quoted value for 'provider'"},
    {NULL, SRC("a") "provider = \"aws\\\"\n", 0, -EINVAL,
     "lockwatch.conf:4:12: unterminated quoted value for 'provider'"},
    {NULL, SRC("a") "provider = \"a\\nb\"\n", 0, -EINVAL,
     "lockwatch.conf:4:14: unknown escape '\\n' in the value of 'provider' (only \\\" and "
     "\\\\ are allowed)"},
    {NULL, SRC("a") "provider = \"aws\" x\n", 0, -EINVAL,
     "lockwatch.conf:4:18: unexpected text after the closing quote of 'provider'"},
    {NULL, SRC("a") "provider =\n", 0, -EINVAL, "lockwatch.conf:4:11: empty value for 'provider'"},
    {NULL, "[daemon]\nstate_dir = \"\"\n", 0, -EINVAL,
     "lockwatch.conf:2:13: empty value for 'state_dir'"},
    {NULL, SRC("a") "vendor = a\tb\n", 0, -EINVAL,
     "lockwatch.conf:4:10: control character in the value of 'vendor'"},
    {NULL,
     "[daemon]\nuser_agent_extra = "
     "x123456789x123456789x123456789x123456789x123456789x123456789x123456789x123456789x1234"
     "56789x123456789x123456789x123456789x123456789x123456789x123456789x123456789x123456789"
     "x123456789x123456789x123456789x123456789x123456789x123456789x123456789x123456789x1234"
     "56789x\n",
     0, -EINVAL, "lockwatch.conf:2:20: 'user_agent_extra' is longer than 256 bytes"},
    {NULL, "[daemon]\nstate\0_dir = x\n", 24, -EINVAL, "lockwatch.conf:2:6: NUL byte in input"},
    /* Only the first error is reported. */
    {NULL, "[daemon]\nbogus = 1\n[source a]\n", 0, -EINVAL,
     "lockwatch.conf:2:1: unknown key 'bogus' in [daemon]"},
    {NULL, "[source a]\nformat = litellm\n[oops\n", 0, -EINVAL,
     "lockwatch.conf:1:1: [source a]: missing required key 'url'"},
    {"missing-format.conf", NULL, 0, -EINVAL,
     BAD_DIR "missing-format.conf:4:1: [source bedrock]: missing required key 'format'"},
    {"nul.conf", NULL, 0, -EINVAL, BAD_DIR "nul.conf:3:6: NUL byte in input"},
    {"unknown-key.conf", NULL, 0, -EINVAL,
     BAD_DIR "unknown-key.conf:7:1: unknown key 'intervall' in [source litellm]; did you "
             "mean 'interval'?"},
    {"does-not-exist.conf", NULL, 0, -ENOENT,
     BAD_DIR "does-not-exist.conf: cannot read: No such file or directory"},
    {".", NULL, 0, -EISDIR, BAD_DIR ".: cannot read: Is a directory"},
};

static void check_error(const char *what, const char *path, int r, int want_r, const Config *c,
                        const Config *sentinel, const ConfigError *err, const char *want)
{
        unsigned line = 0, col = 0;
        size_t pl = strlen(path);

        if (!streq(err->message, want))
                fail_msg("%s:\n got  '%s'\n want '%s'", what, err->message, want);
        if (r != want_r)
                fail_msg("%s: returned %d, expected %d", what, r, want_r);
        assert_ptr_equal(c, sentinel);
        assert_memory_equal(want, path, pl);
        if (want[pl] == ':' && isdigit((unsigned char)want[pl + 1]))
                assert_int_equal(sscanf(want + pl, ":%u:%u:", &line, &col), 2);
        if (err->line != line || err->col != col)
                fail_msg("%s: err at %u:%u, message says %u:%u", what, err->line, err->col, line,
                         col);
}

static void test_bad(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                const BadCase *b = &bad_cases[i];
                _cleanup_free_ char *path = NULL;
                Config sentinel;
                Config *c = &sentinel;
                ConfigError err;
                int r;

                memset(&err, 0x55, sizeof(err));
                if (b->file) {
                        path = xasprintf("%s%s", BAD_DIR, b->file);
                        r = config_load(path, &c, &err);
                } else {
                        path = xstrdup("lockwatch.conf");
                        r = config_parse(path, b->text, b->len ? b->len : strlen(b->text), &c,
                                         &err);
                }
                _cleanup_free_ char *what = xasprintf("bad case %zu", i);
                check_error(what, path, r, b->ret, c, &sentinel, &err, b->message);
        }
}

static char *repeat_source(size_t n)
{
        size_t cap = 0, len = 0;
        char *text = NULL;

        for (size_t i = 0; i < n; i++) {
                char buf[128];
                int l = snprintf(buf, sizeof(buf),
                                 "[source s%zu]\nurl = https://x/%zu\nformat = litellm\n", i, i);
                util_grow((void **)&text, &cap, len + (size_t)l + 1, 1);
                memcpy(text + len, buf, (size_t)l + 1);
                len += (size_t)l;
        }
        return text;
}

/* Inputs at and just past each cap: the cap itself parses, one more fails. */
static void test_caps(void **state)
{
        Config sentinel;
        ConfigError err;
        Config *c;
        int r;

        _cleanup_free_ char *many = repeat_source(CONFIG_MAX_SOURCES);
        c = NULL;
        r = config_parse("lockwatch.conf", many, strlen(many), &c, &err);
        assert_int_equal(r, 0);
        assert_int_equal(c->n_sources, CONFIG_MAX_SOURCES);
        assert_non_null(config_find_source(c, "s255"));
        config_free(c);

        _cleanup_free_ char *too_many = repeat_source(CONFIG_MAX_SOURCES + 1);
        c = &sentinel;
        r = config_parse("lockwatch.conf", too_many, strlen(too_many), &c, &err);
        check_error("too many sources", "lockwatch.conf", r, -E2BIG, c, &sentinel, &err,
                    "lockwatch.conf:769:1: too many sources (the limit is 256)");

        /* A line of exactly CONFIG_MAX_LINE bytes, then one a byte longer. */
        _cleanup_free_ char *line = xmalloc(CONFIG_MAX_LINE + 16);
        memset(line, 'x', CONFIG_MAX_LINE + 2);
        line[0] = '#';
        line[CONFIG_MAX_LINE] = '\r';
        line[CONFIG_MAX_LINE + 1] = '\n';
        c = NULL;
        r = config_parse("lockwatch.conf", line, CONFIG_MAX_LINE + 2, &c, &err);
        assert_int_equal(r, 0);
        config_free(c);
        line[CONFIG_MAX_LINE] = 'x';
        c = &sentinel;
        r = config_parse("lockwatch.conf", line, CONFIG_MAX_LINE + 2, &c, &err);
        check_error("long line", "lockwatch.conf", r, -E2BIG, c, &sentinel, &err,
                    "lockwatch.conf:1:1: line is longer than 4096 bytes");

        /* The whole input: CONFIG_MAX_BYTES of comments parse, one byte more does not. */
        _cleanup_free_ char *big = xmalloc(CONFIG_MAX_BYTES + 1);
        for (size_t i = 0; i < CONFIG_MAX_BYTES + 1; i++)
                big[i] = i % 64 == 63 ? '\n' : i % 64 == 0 ? '#' : 'y';
        c = NULL;
        r = config_parse("lockwatch.conf", big, CONFIG_MAX_BYTES, &c, &err);
        assert_int_equal(r, 0);
        config_free(c);
        c = &sentinel;
        r = config_parse("lockwatch.conf", big, CONFIG_MAX_BYTES + 1, &c, &err);
        check_error("input too big", "lockwatch.conf", r, -EFBIG, c, &sentinel, &err,
                    "lockwatch.conf: larger than the limit of 1048576 bytes");
}

static void test_find_source(void **state)
{
        static const struct {
                const char *name;
                bool found;
        } lookups[] = {
            {"a", true}, {"b.c", true}, {"B.C", false}, {"", false}, {"d", false},
        };
        const char *text = SRC("a") SRC("b.c");
        Config *c = NULL;

        assert_int_equal(config_parse("x.conf", text, strlen(text), &c, NULL), 0);
        for (size_t i = 0; i < ELEMENTSOF(lookups); i++) {
                const SourceConfig *s = config_find_source(c, lookups[i].name);
                if (lookups[i].found) {
                        assert_non_null(s);
                        assert_string_equal(s->name, lookups[i].name);
                } else {
                        assert_null(s);
                }
        }
        assert_null(config_find_source(NULL, "a"));
        assert_null(config_find_source(c, NULL));
        config_free(c);
        config_free(NULL);
}

static void test_sinks(void **state)
{
        const char *text = "[daemon]\nmetrics_listen = [::1]:9464\ninstance = host-a\n"
                           "[alertmanager one]\nurl = https://am1:9093\n"
                           "bearer_token_file = credential:am-token\nresend_delay = 30s\n"
                           "generator_url = https://lw.example/\nca_file = ca.pem\n"
                           "[webhook chat]\nurl = http://hook/x\ntext = yes\nmax_queue = 5\n"
                           "basic_auth_user = bot\nbasic_auth_password_file = /run/pw\n"
                           "timeout = 3s\n"
                           "[alertmanager two]\nurl = http://am2:9093\n";
        Config *c = NULL;
        ConfigError err;

        if (config_parse("/etc/lockwatch/x.conf", text, strlen(text), &c, &err) < 0)
                fail_msg("%s", err.message);
        assert_string_equal(c->metrics_listen, "[::1]:9464");
        assert_string_equal(c->instance, "host-a");
        assert_int_equal(c->n_sinks, 3);
        const SinkConfig *a = &c->sinks[0], *w = &c->sinks[1], *b = &c->sinks[2];
        assert_int_equal(a->kind, SINK_ALERTMANAGER);
        assert_string_equal(a->name, "one");
        assert_string_equal(a->bearer_token_file, "credential:am-token");
        assert_int_equal(a->resend_delay_usec, 30 * USEC_PER_SEC);
        assert_string_equal(a->ca_file, "/etc/lockwatch/ca.pem");
        assert_string_equal(a->generator_url, "https://lw.example/");
        assert_int_equal(a->timeout_usec, 10 * USEC_PER_SEC);
        assert_int_equal(w->kind, SINK_WEBHOOK);
        assert_true(w->text);
        assert_int_equal(w->max_queue, 5);
        assert_string_equal(w->basic_auth_user, "bot");
        assert_string_equal(w->basic_auth_password_file, "/run/pw");
        assert_int_equal(w->timeout_usec, 3 * USEC_PER_SEC);
        assert_int_equal(b->resend_delay_usec, USEC_PER_MIN);
        assert_int_equal(b->max_queue, 1000);
        assert_null(b->ca_file);
        assert_string_equal(config_sink_kind_name(w->kind), "webhook");
        config_free(c);
}

/* The example in docs/config.md must stay a valid configuration. */
static void test_docs_example(void **state)
{
        _cleanup_free_ char *doc = NULL;
        size_t len;

        assert_int_equal(util_read_file(LW_SOURCE_DIR "/docs/config.md", 1 << 20, &doc, &len), 0);
        const char *start = strstr(doc, "```ini\n");
        assert_non_null(start);
        start += strlen("```ini\n");
        const char *end = strstr(start, "```");
        assert_non_null(end);

        ConfigError err = {0};
        Config *c = NULL;
        int r =
            config_parse("/etc/lockwatch/lockwatch.conf", start, (size_t)(end - start), &c, &err);
        if (r < 0)
                fail_msg("docs/config.md example: %s", err.message);
        assert_true(c->n_sources >= 3);
        config_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_good),         cmocka_unit_test(test_bad),
            cmocka_unit_test(test_caps),         cmocka_unit_test(test_find_source),
            cmocka_unit_test(test_docs_example), cmocka_unit_test(test_sinks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
