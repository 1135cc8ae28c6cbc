/* lockwatch.conf: INI text in, a Config or exactly one "path:line:col: message" out.
 * Pure apart from one getcwd() to anchor relative paths when the config path is relative. */
#include "lockwatch/config.h"

#include <syslog.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <unistd.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

/* Longest token echoed into a message: the message buffer is 512 bytes. */
#define TOKEN_MAX  80
#define UA_MAX     256
#define NO_OFFSET  SIZE_MAX
#define WHITESPACE " \t\r\f\v"

typedef enum KeyType {
        KEY_PATH,
        KEY_TEXT,
        KEY_URL,
        KEY_FORMAT,
        KEY_DURATION,
        KEY_SIZE,
        KEY_UINT,
        KEY_PERCENT,
        KEY_BOOL,
        KEY_SECRET, /* a file path, or credential:NAME in $CREDENTIALS_DIRECTORY */
        KEY_LISTEN, /* ADDRESS:PORT */
} KeyType;

enum {
        SECTION_NONE = 0,
        SECTION_DAEMON = 1 << 0,
        SECTION_SOURCE = 1 << 1,
        SECTION_ALERTMANAGER = 1 << 2,
        SECTION_WEBHOOK = 1 << 3,
        SECTION_SINKS = SECTION_ALERTMANAGER | SECTION_WEBHOOK,
};

enum {
        KF_EMPTY_OK = 1 << 0, /* an empty value resets the setting to "none" */
        KF_INHERIT = 1 << 1,  /* a [source] that does not set it takes the [daemon] value */
};

typedef struct KeyDef {
        const char *name;
        unsigned where;
        KeyType type;
        uint64_t min, max; /* ranges; for KEY_TEXT max is a length cap (0 = none) */
        unsigned flags;
        size_t daemon_off, source_off;
        size_t sink_off; /* into SinkConfig, for the SECTION_SINKS bits of where */
} KeyDef;

#define DAEMON_KEY(n, t, lo, hi, fl, field)                                                        \
        {                                                                                          \
                .name = n, .where = SECTION_DAEMON, .type = t, .min = lo, .max = hi, .flags = fl,  \
                .daemon_off = offsetof(Config, field), .source_off = NO_OFFSET,                    \
        }
#define SOURCE_KEY(n, t, field)                                                                    \
        {                                                                                          \
                .name = n, .where = SECTION_SOURCE, .type = t, .daemon_off = NO_OFFSET,            \
                .source_off = offsetof(SourceConfig, field),                                       \
        }
#define FETCH_KEY(n, t, lo, hi, fl, field)                                                         \
        {                                                                                          \
                .name = n, .where = SECTION_DAEMON | SECTION_SOURCE, .type = t, .min = lo,         \
                .max = hi, .flags = (fl) | KF_INHERIT,                                             \
                .daemon_off = offsetof(Config, limits.field),                                      \
                .source_off = offsetof(SourceConfig, limits.field),                                \
        }

#define SINK_KEY(n, w, t, lo, hi, fl, field)                                                       \
        {                                                                                          \
                .name = n, .where = w, .type = t, .min = lo, .max = hi, .flags = fl,               \
                .daemon_off = NO_OFFSET, .source_off = NO_OFFSET,                                  \
                .sink_off = offsetof(SinkConfig, field),                                           \
        }

#define KIB (UINT64_C(1) << 10)
#define GIB (UINT64_C(1) << 30)

/* Table order is the order of "did you mean" candidates and of docs/config.md. */
static const KeyDef keys[] = {
    DAEMON_KEY("state_dir", KEY_PATH, 0, 0, 0, state_dir),
    DAEMON_KEY("socket", KEY_PATH, 0, 0, 0, socket_path),
    DAEMON_KEY("aliases", KEY_PATH, 0, 0, 0, aliases_path),
    DAEMON_KEY("providers", KEY_PATH, 0, 0, 0, providers_path),
    DAEMON_KEY("rules", KEY_PATH, 0, 0, 0, rules),
    {
        .name = "interval",
        .where = SECTION_DAEMON | SECTION_SOURCE,
        .type = KEY_DURATION,
        .min = USEC_PER_SEC,
        .max = 365 * USEC_PER_DAY,
        .flags = KF_INHERIT,
        .daemon_off = offsetof(Config, interval_usec),
        .source_off = offsetof(SourceConfig, interval_usec),
    },
    DAEMON_KEY("jitter", KEY_PERCENT, 0, 50, 0, jitter_percent),
    DAEMON_KEY("removal_polls", KEY_UINT, 1, 100, 0, removal_polls),
    DAEMON_KEY("max_removal", KEY_PERCENT, 1, 100, 0, max_removal_percent),
    DAEMON_KEY("max_rows", KEY_UINT, 1, 10000000, 0, max_rows),
    DAEMON_KEY("evaluation_interval", KEY_DURATION, 0, 365 * USEC_PER_DAY, 0,
               evaluation_interval_usec),
    DAEMON_KEY("repeat_interval", KEY_DURATION, 0, 365 * USEC_PER_DAY, 0,
               repeat_interval_usec),
    DAEMON_KEY("user_agent_extra", KEY_TEXT, 0, UA_MAX, KF_EMPTY_OK, user_agent_extra),
    DAEMON_KEY("log_level", KEY_TEXT, 0, 16, 0, log_level),
    DAEMON_KEY("metrics_listen", KEY_LISTEN, 0, 0, KF_EMPTY_OK, metrics_listen),
    DAEMON_KEY("instance", KEY_TEXT, 0, 256, KF_EMPTY_OK, instance),
    DAEMON_KEY("history_retention", KEY_DURATION, USEC_PER_DAY, 100 * 365 * USEC_PER_DAY, 0,
               history_retention_usec),
    DAEMON_KEY("history_max_size", KEY_SIZE, UINT64_C(1) << 20, UINT64_C(1) << 40, 0,
               history_max_size),
    {
        .name = "url",
        .where = SECTION_SOURCE | SECTION_SINKS,
        .type = KEY_URL,
        .daemon_off = NO_OFFSET,
        .source_off = offsetof(SourceConfig, url),
        .sink_off = offsetof(SinkConfig, url),
    },
    SOURCE_KEY("format", KEY_FORMAT, format),
    SOURCE_KEY("provider", KEY_TEXT, provider),
    SOURCE_KEY("columns", KEY_TEXT, columns),
    SOURCE_KEY("rows", KEY_TEXT, rows),
    SOURCE_KEY("vendor", KEY_TEXT, vendor),
    SOURCE_KEY("enabled", KEY_BOOL, enabled),
    SOURCE_KEY("authoritative", KEY_BOOL, authoritative),
    SOURCE_KEY("endpoint", KEY_URL, endpoint),
    SOURCE_KEY("regions", KEY_TEXT, regions),
    SOURCE_KEY("auth", KEY_TEXT, auth),
    SOURCE_KEY("credential", KEY_TEXT, credential),
    /* curl counts timeouts in milliseconds and the low-speed window in seconds: anything
     * smaller would round to zero, which curl reads as "no limit". */
    FETCH_KEY("connect_timeout", KEY_DURATION, USEC_PER_MSEC, USEC_PER_DAY, 0,
              connect_timeout_usec),
    {
        .name = "timeout",
        .where = SECTION_DAEMON | SECTION_SOURCE | SECTION_SINKS,
        .type = KEY_DURATION,
        .min = USEC_PER_MSEC,
        .max = USEC_PER_DAY,
        .flags = KF_INHERIT,
        .daemon_off = offsetof(Config, limits.timeout_usec),
        .source_off = offsetof(SourceConfig, limits.timeout_usec),
        .sink_off = offsetof(SinkConfig, timeout_usec),
    },
    FETCH_KEY("low_speed_time", KEY_DURATION, USEC_PER_SEC, USEC_PER_DAY, 0, low_speed_time_usec),
    FETCH_KEY("low_speed_limit", KEY_SIZE, 0, GIB, 0, low_speed_limit),
    FETCH_KEY("max_body", KEY_SIZE, KIB, GIB, 0, max_body),
    FETCH_KEY("max_redirects", KEY_UINT, 0, 20, 0, max_redirects),
    FETCH_KEY("retries", KEY_UINT, 0, 10, 0, retries),
    FETCH_KEY("retry_backoff", KEY_DURATION, 0, USEC_PER_DAY, 0, retry_backoff_usec),
    FETCH_KEY("retry_backoff_max", KEY_DURATION, USEC_PER_SEC, USEC_PER_DAY, 0,
              retry_backoff_max_usec),
    {
        .name = "ca_file",
        .where = SECTION_DAEMON | SECTION_SOURCE | SECTION_SINKS,
        .type = KEY_PATH,
        .flags = KF_EMPTY_OK | KF_INHERIT,
        .daemon_off = offsetof(Config, limits.ca_file),
        .source_off = offsetof(SourceConfig, limits.ca_file),
        .sink_off = offsetof(SinkConfig, ca_file),
    },
    /* Secrets are named, never written here: the file is read when the sink starts. */
    SINK_KEY("bearer_token_file", SECTION_SINKS, KEY_SECRET, 0, 0, 0, bearer_token_file),
    SINK_KEY("basic_auth_user", SECTION_SINKS, KEY_TEXT, 0, 256, 0, basic_auth_user),
    SINK_KEY("basic_auth_password_file", SECTION_SINKS, KEY_SECRET, 0, 0, 0,
             basic_auth_password_file),
    SINK_KEY("resend_delay", SECTION_ALERTMANAGER, KEY_DURATION, USEC_PER_SEC, USEC_PER_DAY, 0,
             resend_delay_usec),
    SINK_KEY("generator_url", SECTION_ALERTMANAGER, KEY_URL, 0, 0, 0, generator_url),
    SINK_KEY("max_queue", SECTION_WEBHOOK, KEY_UINT, 1, 100000, 0, max_queue),
    SINK_KEY("text", SECTION_WEBHOOK, KEY_BOOL, 0, 0, 0, text),
};

_Static_assert(ELEMENTSOF(keys) <= 64, "a source's set-keys mask is one uint64_t");

typedef struct Parser {
        const char *path;
        char *dir; /* absolute directory of the config file, computed on first use */
        ConfigError *err;
        Config *c;

        unsigned section;
        unsigned section_line, section_col;
        char section_label[CONFIG_MAX_NAME + 16];
        unsigned seen[ELEMENTSOF(keys)]; /* line each key was set on in this section, or 0 */
        unsigned seen_kcol[ELEMENTSOF(keys)], seen_vcol[ELEMENTSOF(keys)]; /* its key, value */
        unsigned daemon_line;

        size_t sources_cap;
        size_t sinks_cap;
        uint64_t set_mask[CONFIG_MAX_SOURCES]; /* per source: bit i = keys[i] was set */
} Parser;

/* A user-supplied token made safe and short enough to quote in a message. */
typedef struct Token {
        char s[TOKEN_MAX * 4 + 4];
} Token;

static Token token(const char *s)
{
        Token t;
        size_t o = 0, n = strlen(s), lim = n;

        if (n > TOKEN_MAX) {
                lim = TOKEN_MAX;
                /* Cut at a character boundary, never inside a UTF-8 sequence. */
                while (lim > 0 && ((unsigned char)s[lim] & 0xC0) == 0x80)
                        lim--;
        }
        for (size_t i = 0; i < lim; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (ch < 0x20 || ch == 0x7f)
                        o += (size_t)snprintf(t.s + o, sizeof(t.s) - o, "\\x%02x", ch);
                else
                        t.s[o++] = (char)ch;
        }
        if (lim < n) {
                memcpy(t.s + o, "...", 3);
                o += 3;
        }
        t.s[o] = '\0';
        return t;
}

_printf_(5, 6) static int fail(Parser *p, int r, unsigned line, unsigned col, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (!p->err)
                return r;
        p->err->line = line;
        p->err->col = col;
        if (line > 0)
                n = snprintf(p->err->message, sizeof(p->err->message), "%s:%u:%u: ", p->path, line,
                             col);
        else
                n = snprintf(p->err->message, sizeof(p->err->message), "%s: ", p->path);
        if (n < 0 || (size_t)n >= sizeof(p->err->message))
                return r;
        va_start(ap, fmt);
        vsnprintf(p->err->message + n, sizeof(p->err->message) - (size_t)n, fmt, ap);
        va_end(ap);
        return r;
}

typedef struct Hint {
        const char *best;
        unsigned dist;
} Hint;

static void hint_add(Hint *h, const char *word, const char *candidate)
{
        unsigned d = util_edit_distance(word, candidate, 3);
        if (d <= 2 && (!h->best || d < h->dist)) {
                h->best = candidate;
                h->dist = d;
        }
}

static const KeyDef *key_find(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (streq(keys[i].name, name))
                        return &keys[i];
        return NULL;
}

static char *skip_ws(char *s)
{
        return s + strspn(s, WHITESPACE);
}

static void rtrim(char *s)
{
        size_t n = strlen(s);
        while (n > 0 && strchr(WHITESPACE, s[n - 1]))
                s[--n] = '\0';
}

static bool source_name_valid(const char *s)
{
        size_t n = strlen(s);
        if (n < 1 || n > CONFIG_MAX_NAME)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
                        return false;
        return true;
}

static const char *format_size(char *buf, size_t size, uint64_t v)
{
        if (v >= GIB && v % GIB == 0)
                snprintf(buf, size, "%lluG", (unsigned long long)(v / GIB));
        else if (v >= (UINT64_C(1) << 20) && v % (UINT64_C(1) << 20) == 0)
                snprintf(buf, size, "%lluM", (unsigned long long)(v >> 20));
        else if (v >= KIB && v % KIB == 0)
                snprintf(buf, size, "%lluK", (unsigned long long)(v / KIB));
        else
                snprintf(buf, size, "%llu", (unsigned long long)v);
        return buf;
}

/* Drop "." and empty segments and apply ".." lexically, as curl does for URLs. */
static char *path_normalize(const char *abs)
{
        char *out = xmalloc(strlen(abs) + 2);
        size_t o = 0;

        for (const char *s = abs; *s;) {
                s += strspn(s, "/");
                if (!*s)
                        break;
                const char *e = strchrnul(s, '/');
                size_t l = (size_t)(e - s);
                if (l == 1 && s[0] == '.') {
                        /* nothing */
                } else if (l == 2 && s[0] == '.' && s[1] == '.') {
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o > 0)
                                o--;
                } else {
                        out[o++] = '/';
                        memcpy(out + o, s, l);
                        o += l;
                }
                s = e;
        }
        if (o == 0)
                out[o++] = '/';
        out[o] = '\0';
        return out;
}

static int parser_dir(Parser *p, const char **ret)
{
        if (!p->dir) {
                const char *slash = strrchr(p->path, '/');

                if (p->path[0] == '/') {
                        p->dir = xstrndup(p->path, (size_t)(slash - p->path));
                } else {
                        _cleanup_free_ char *cwd = getcwd(NULL, 0);
                        if (!cwd)
                                return -errno;
                        if (slash)
                                p->dir = xasprintf("%s/%.*s", cwd, (int)(slash - p->path), p->path);
                        else
                                p->dir = xstrdup(cwd);
                }
        }
        *ret = p->dir;
        return 0;
}

/* An absolute path as given, or a relative one anchored at the config file's directory. */
int config_log_level(const char *name)
{
        static const struct {
                const char *name;
                int level;
        } levels[] = {{"err", LOG_ERR},         {"error", LOG_ERR}, {"warning", LOG_WARNING},
                      {"notice", LOG_NOTICE},   {"info", LOG_INFO}, {"debug", LOG_DEBUG}};

        for (size_t i = 0; name && i < ELEMENTSOF(levels); i++)
                if (streq(levels[i].name, name))
                        return levels[i].level;
        return -EINVAL;
}

static int resolve_path(Parser *p, const char *key, const char *v, unsigned line, unsigned col,
                        char **ret)
{
        const char *dir = NULL;
        int r;

        if (v[0] == '/') {
                *ret = xstrdup(v);
                return 0;
        }
        r = parser_dir(p, &dir);
        if (r < 0)
                return fail(p, r, line, col,
                            "cannot resolve relative path '%s' for '%s': current directory: %s",
                            token(v).s, key, strerror(-r));
        _cleanup_free_ char *joined = xasprintf("%s/%s", dir, v);
        *ret = path_normalize(joined);
        return 0;
}

static char *file_url(const char *abs)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(abs);
        char *out = xmalloc(strlen("file://") + 3 * n + 1);
        size_t o = 0;

        memcpy(out, "file://", 7);
        o = 7;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)abs[i];
                if (isalnum(ch) || strchr("-._~/!$&'()*+,;=:@", ch)) {
                        out[o++] = (char)ch;
                } else {
                        out[o++] = '%';
                        out[o++] = hex[ch >> 4];
                        out[o++] = hex[ch & 15];
                }
        }
        out[o] = '\0';
        return out;
}

/* Length of an RFC 3986 scheme followed by ':', or 0 if v does not start with one. */
static size_t scheme_len(const char *v)
{
        size_t i = 0;

        if (!isalpha((unsigned char)v[0]))
                return 0;
        while (isalnum((unsigned char)v[i]) || (v[i] && strchr("+-.", v[i])))
                i++;
        return v[i] == ':' ? i : 0;
}

/* "us-east-1, eu-west-1": AWS and Google region names are lower-case words and digits. */
static int parse_regions(Parser *p, const char *v, unsigned line, unsigned col)
{
        SourceConfig *s = &p->c->sources[p->c->n_sources - 1];
        _cleanup_free_ char *copy = xstrdup(v);
        char *save = NULL;

        for (char *w = strtok_r(copy, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save)) {
                size_t n = strlen(w);
                bool ok = n > 0 && n <= CONFIG_MAX_REGION;
                for (size_t i = 0; ok && i < n; i++)
                        ok = (w[i] >= 'a' && w[i] <= 'z') || (w[i] >= '0' && w[i] <= '9') ||
                             w[i] == '-';
                if (!ok)
                        return fail(p, -EINVAL, line, col,
                                    "invalid region '%s' (use names such as us-east-1 or "
                                    "europe-west4: a-z, 0-9 and '-', at most %d bytes)",
                                    token(w).s, CONFIG_MAX_REGION);
                for (size_t i = 0; i < s->n_regions; i++)
                        if (streq(s->regions[i], w))
                                return fail(p, -EINVAL, line, col, "region '%s' is listed twice",
                                            token(w).s);
                if (s->n_regions >= CONFIG_MAX_REGIONS)
                        return fail(p, -EINVAL, line, col, "more than %d regions in one source",
                                    CONFIG_MAX_REGIONS);
                s->regions = xreallocarray(s->regions, s->n_regions + 1, sizeof(char *));
                s->regions[s->n_regions++] = xstrdup(w);
        }
        if (s->n_regions == 0)
                return fail(p, -EINVAL, line, col, "empty value for 'regions'");
        return 0;
}

/* credential = NAME (systemd's LoadCredential=NAME:...) or a file path. */
static int parse_credential(Parser *p, const char *v, unsigned line, unsigned col)
{
        SourceConfig *s = &p->c->sources[p->c->n_sources - 1];
        _cleanup_free_ char *path = NULL;
        int r;

        if (strchr(v, '/')) {
                r = resolve_path(p, "credential", v, line, col, &path);
                if (r < 0)
                        return r;
                free(s->credential);
                s->credential = TAKE_PTR(path);
                return 0;
        }
        if (strlen(v) > 255 || streq(v, ".") || streq(v, ".."))
                return fail(p, -EINVAL, line, col,
                            "invalid credential name '%s' (a LoadCredential= name, or a file "
                            "path)",
                            token(v).s);
        free(s->credential);
        s->credential = xasprintf("credential:%s", v);
        return 0;
}

static int parse_url(Parser *p, const char *key, const char *v, unsigned line, unsigned col,
                     char **ret)
{
        size_t sl = scheme_len(v);
        int r;

        if (sl == 0) {
                _cleanup_free_ char *abs = NULL;
                r = resolve_path(p, key, v, line, col, &abs);
                if (r < 0)
                        return r;
                *ret = file_url(abs);
                return 0;
        }

        const char *rest = v + sl + 1;
        bool is_file = sl == 4 && strncasecmp(v, "file", 4) == 0;
        bool is_http = (sl == 4 && strncasecmp(v, "http", 4) == 0) ||
                       (sl == 5 && strncasecmp(v, "https", 5) == 0);
        if (!is_file && !is_http)
                return fail(p, -EINVAL, line, col,
                            "unsupported URL scheme '%.*s' for '%s' (use http://, https://, "
                            "file:// or a file path)",
                            (int)MIN(sl, (size_t)TOKEN_MAX), v, key);
        if (strchr(v, ' '))
                return fail(p, -EINVAL, line, col,
                            "URL '%s' for '%s' contains a space; write it as %%20", token(v).s,
                            key);

        const char *after = startswith(rest, "//");
        bool ok;
        if (!after)
                ok = false;
        else if (is_file)
                ok = after[0] == '/';
        else
                ok = strcspn(after, "/?#") > 0;
        if (!ok)
                return fail(p, -EINVAL, line, col,
                            "invalid URL '%s' for '%s' (use http://HOST/PATH, "
                            "https://HOST/PATH, file:///PATH or a file path)",
                            token(v).s, key);
        *ret = xstrdup(v);
        return 0;
}

static int parse_format(Parser *p, const char *key, const char *v, unsigned line, unsigned col,
                        char **ret)
{
        char known[400];
        size_t o = 0;
        Hint h = {0};

        if (adapter_find(v)) {
                *ret = xstrdup(v);
                return 0;
        }
        known[0] = '\0';
        for (const Adapter *const *a = adapter_all(); *a; a++) {
                int n = snprintf(known + o, sizeof(known) - o, "%s%s", o ? ", " : "", (*a)->name);
                if (n < 0 || (size_t)n >= sizeof(known) - o)
                        break;
                o += (size_t)n;
                hint_add(&h, v, (*a)->name);
        }
        return fail(p, -EINVAL, line, col, "unknown format '%s' (known: %s)%s%s%s", token(v).s,
                    known, h.best ? "; did you mean '" : "", h.best ? h.best : "",
                    h.best ? "'?" : "");
}

static int parse_bool(const char *v, bool *ret)
{
        static const char *const yes[] = {"yes", "true", "on", "1"};
        static const char *const no[] = {"no", "false", "off", "0"};

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(v, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

static int parse_number(Parser *p, const KeyDef *k, const char *v, unsigned line, unsigned col,
                        uint64_t *ret)
{
        char lo[32], hi[32];
        uint64_t x = 0;
        int r;

        switch (k->type) {
        case KEY_DURATION:
                r = util_parse_duration(v, &x);
                if (r == -EINVAL)
                        return fail(p, r, line, col,
                                    "invalid duration '%s' for '%s' (use e.g. 90s, 15m, 6h)",
                                    token(v).s, k->name);
                if (r >= 0 && x >= k->min && x <= k->max)
                        break;
                return fail(p, -EINVAL, line, col, "'%s' must be between %s and %s, got '%s'",
                            k->name, util_format_duration(lo, sizeof(lo), k->min),
                            util_format_duration(hi, sizeof(hi), k->max), token(v).s);
        case KEY_SIZE:
                r = util_parse_size(v, &x);
                if (r == -EINVAL)
                        return fail(p, r, line, col,
                                    "invalid size '%s' for '%s' (use e.g. 512K, 32M, 1G)",
                                    token(v).s, k->name);
                if (r >= 0 && x >= k->min && x <= k->max)
                        break;
                return fail(p, -EINVAL, line, col, "'%s' must be between %s and %s, got '%s'",
                            k->name, format_size(lo, sizeof(lo), k->min),
                            format_size(hi, sizeof(hi), k->max), token(v).s);
        case KEY_PERCENT: {
                _cleanup_free_ char *digits = xstrdup(v);
                size_t n = strlen(digits);
                if (n > 0 && digits[n - 1] == '%')
                        digits[n - 1] = '\0';
                r = util_parse_uint(digits, &x);
                if (r == -EINVAL)
                        return fail(p, r, line, col,
                                    "invalid percentage '%s' for '%s' (use a whole number, "
                                    "e.g. 10 or 10%%)",
                                    token(v).s, k->name);
                if (r >= 0 && x >= k->min && x <= k->max)
                        break;
                return fail(p, -EINVAL, line, col,
                            "'%s' must be between %llu%% and %llu%%, got '%s'", k->name,
                            (unsigned long long)k->min, (unsigned long long)k->max, token(v).s);
        }
        default:
                r = util_parse_uint(v, &x);
                if (r == -EINVAL)
                        return fail(p, r, line, col,
                                    "invalid number '%s' for '%s' (use a whole number from "
                                    "%llu to %llu)",
                                    token(v).s, k->name, (unsigned long long)k->min,
                                    (unsigned long long)k->max);
                if (r >= 0 && x >= k->min && x <= k->max)
                        break;
                return fail(p, -EINVAL, line, col, "'%s' must be between %llu and %llu, got '%s'",
                            k->name, (unsigned long long)k->min, (unsigned long long)k->max,
                            token(v).s);
        }
        *ret = x;
        return 0;
}

static void set_string(void *base, size_t off, char *v)
{
        char **slot = (char **)((char *)base + off);
        free(*slot);
        *slot = v;
}

static int apply_value(Parser *p, const KeyDef *k, const char *v, unsigned line, unsigned col)
{
        void *base;
        size_t off;
        char *s = NULL;
        int r;

        if (p->section == SECTION_DAEMON) {
                base = p->c;
                off = k->daemon_off;
        } else if (p->section & SECTION_SINKS) {
                base = &p->c->sinks[p->c->n_sinks - 1];
                off = k->sink_off;
        } else {
                base = &p->c->sources[p->c->n_sources - 1];
                off = k->source_off;
        }

        if (v[0] == '\0') {
                if (!(k->flags & KF_EMPTY_OK))
                        return fail(p, -EINVAL, line, col, "empty value for '%s'", k->name);
                set_string(base, off, NULL);
                return 0;
        }

        switch (k->type) {
        case KEY_TEXT:
                if (k->max > 0 && strlen(v) > k->max)
                        return fail(p, -EINVAL, line, col, "'%s' is longer than %llu bytes",
                                    k->name, (unsigned long long)k->max);
                if (streq(k->name, "regions"))
                        return parse_regions(p, v, line, col);
                if (streq(k->name, "auth")) {
                        int a = adapter_auth_from_string(v);
                        if (a < 0)
                                return fail(p, -EINVAL, line, col,
                                            "invalid auth '%s' (use none, bearer, x-api-key, "
                                            "goog-api-key or aws)",
                                            token(v).s);
                        p->c->sources[p->c->n_sources - 1].auth = a;
                        return 0;
                }
                if (streq(k->name, "credential"))
                        return parse_credential(p, v, line, col);
                if (streq(k->name, "log_level") && config_log_level(v) < 0)
                        return fail(p, -EINVAL, line, col,
                                    "invalid log level '%s' (use err, warning, notice, info or "
                                    "debug)",
                                    token(v).s);
                set_string(base, off, xstrdup(v));
                return 0;
        case KEY_PATH:
                /* "rules = none" says, explicitly, that no rule is wanted. */
                if (streq(k->name, "rules") && streq(v, "none")) {
                        set_string(base, off, xstrdup(v));
                        return 0;
                }
                r = resolve_path(p, k->name, v, line, col, &s);
                break;
        case KEY_SECRET: {
                const char *cred = startswith(v, "credential:");
                if (!cred) {
                        r = resolve_path(p, k->name, v, line, col, &s);
                        break;
                }
                /* systemd's LoadCredential= names: one path component. */
                if (!*cred || strlen(cred) > 255 || strchr(cred, '/') || streq(cred, ".") ||
                    streq(cred, ".."))
                        return fail(p, -EINVAL, line, col,
                                    "invalid credential name '%s' for '%s' (use "
                                    "credential:NAME, as in LoadCredential=NAME:...)",
                                    token(cred).s, k->name);
                s = xstrdup(v);
                r = 0;
                break;
        }
        case KEY_LISTEN:
                if (util_parse_listen(v, NULL, NULL) < 0)
                        return fail(p, -EINVAL, line, col,
                                    "invalid listen address '%s' for '%s' (use ADDRESS:PORT, "
                                    "e.g. 127.0.0.1:9464 or [::1]:9464)",
                                    token(v).s, k->name);
                set_string(base, off, xstrdup(v));
                return 0;
        case KEY_URL:
                r = parse_url(p, k->name, v, line, col, &s);
                break;
        case KEY_FORMAT:
                r = parse_format(p, k->name, v, line, col, &s);
                break;
        case KEY_BOOL: {
                bool b;
                if (parse_bool(v, &b) < 0)
                        return fail(p, -EINVAL, line, col,
                                    "invalid boolean '%s' for '%s' (use yes/no, true/false, "
                                    "on/off or 1/0)",
                                    token(v).s, k->name);
                *(bool *)((char *)base + off) = b;
                return 0;
        }
        default: {
                uint64_t x = 0;
                r = parse_number(p, k, v, line, col, &x);
                if (r < 0)
                        return r;
                *(uint64_t *)((char *)base + off) = x;
                return 0;
        }
        }
        if (r < 0)
                return r;
        set_string(base, off, s);
        return 0;
}

/* Unquote (or copy) the value starting at v into out, which holds at least strlen(v) + 1. */
static int value_extract(Parser *p, const char *key, char *linebuf, char *v, unsigned line,
                         char *out)
{
        unsigned col = (unsigned)(v - linebuf) + 1;
        size_t o = 0;

        if (*v != '"') {
                strcpy(out, v);
                rtrim(out);
        } else {
                char *s = v + 1;
                for (;; s++) {
                        if (*s == '\0')
                                return fail(p, -EINVAL, line, col,
                                            "unterminated quoted value for '%s'", key);
                        if (*s == '"')
                                break;
                        if (*s == '\\') {
                                if (s[1] != '"' && s[1] != '\\') {
                                        if (s[1] == '\0')
                                                return fail(p, -EINVAL, line, col,
                                                            "unterminated quoted value for '%s'",
                                                            key);
                                        char esc[3] = {'\\', s[1], '\0'};
                                        return fail(p, -EINVAL, line, (unsigned)(s - linebuf) + 1,
                                                    "unknown escape '%s' in the value of '%s' "
                                                    "(only \\\" and \\\\ are allowed)",
                                                    token(esc).s, key);
                                }
                                s++;
                        }
                        out[o++] = *s;
                }
                out[o] = '\0';
                s = skip_ws(s + 1);
                if (*s)
                        return fail(p, -EINVAL, line, (unsigned)(s - linebuf) + 1,
                                    "unexpected text after the closing quote of '%s'", key);
        }
        for (const char *c = out; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                        return fail(p, -EINVAL, line, col, "control character in the value of '%s'",
                                    key);
        return 0;
}

/* `columns` and `rows` mean what the format says, known only once the section is complete.
 * A bad spec is a config error, found now, not at the first poll hours later. Each option
 * is checked alone, in file order, so the message lands on the right value. */
static int source_check_options(Parser *p, const SourceConfig *s, const Adapter *a)
{
        static const char *const names[] = {"columns", "rows"};
        size_t idx[ELEMENTSOF(names)], n = 0;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                size_t k = (size_t)(key_find(names[i]) - keys);
                if (p->seen[k])
                        idx[n++] = k;
        }
        if (n == 2 && p->seen[idx[1]] < p->seen[idx[0]]) {
                size_t t = idx[0];
                idx[0] = idx[1];
                idx[1] = t;
        }

        for (size_t i = 0; i < n; i++) {
                const KeyDef *k = &keys[idx[i]];
                unsigned line = p->seen[idx[i]];
                bool rows = streq(k->name, "rows");
                AdapterOptions o = {.provider = s->provider, .vendor = s->vendor};
                AdapterError aerr = {0};

                if (!rows && !a->needs_columns) {
                        char known[200];
                        size_t used = 0;

                        known[0] = '\0';
                        for (const Adapter *const *f = adapter_all(); *f; f++) {
                                int w;
                                if (!(*f)->needs_columns)
                                        continue;
                                w = snprintf(known + used, sizeof(known) - used, "%s%s",
                                             used ? ", " : "", (*f)->name);
                                if (w < 0 || (size_t)w >= sizeof(known) - used)
                                        break;
                                used += (size_t)w;
                        }
                        return fail(p, -EINVAL, line, p->seen_kcol[idx[i]],
                                    "'columns' applies only to formats %s", known);
                }
                /* Only the json format reads a path to its rows. */
                if (rows && !streq(a->name, "json"))
                        return fail(p, -EINVAL, line, p->seen_kcol[idx[i]],
                                    "'rows' applies only to format json");
                if (!a->check)
                        continue;
                if (rows)
                        o.rows = s->rows;
                else
                        o.columns = s->columns;
                if (a->check(&o, &aerr) < 0)
                        return fail(p, -EINVAL, line, p->seen_vcol[idx[i]], "invalid %s: %s",
                                    k->name, aerr.message);
        }
        return 0;
}

/* DESIGN 5a: the cloud's own listing is authoritative unless the operator says no; a
 * catalogue of many providers never is; a generic format is when the operator vouches. */
static int source_check_authority(Parser *p, SourceConfig *s, const Adapter *a)
{
        size_t k = (size_t)(key_find("authoritative") - keys);

        if (!p->seen[k]) {
                s->authoritative = a->authority == ADAPTER_AUTHORITY_DEFAULT;
                return 0;
        }
        if (s->authoritative && a->authority == ADAPTER_AUTHORITY_NEVER)
                return fail(p, -EINVAL, p->seen[k], p->seen_vcol[k],
                            "format '%s' is a catalogue of many providers, not a provider's own "
                            "listing: it cannot be authoritative",
                            a->name);
        return 0;
}

static unsigned seen_line(const Parser *p, const char *key, unsigned *ret_vcol)
{
        size_t k = (size_t)(key_find(key) - keys);
        if (ret_vcol)
                *ret_vcol = p->seen_vcol[k];
        return p->seen[k];
}

/* The keys of a provider's own API: where (endpoint, regions) and as whom (auth, credential). */
static int source_check_api(Parser *p, SourceConfig *s, const Adapter *a)
{
        const AdapterEndpoint *e = a ? a->endpoint : NULL;
        unsigned line, col;
        bool templated = s->url ? strstr(s->url, "{region}") != NULL : false;

        if (e && e->urls && e->urls[0])
                for (size_t i = 0; !s->url && e->urls[i]; i++)
                        templated = templated || strstr(e->urls[i], "{region}");
        line = seen_line(p, "endpoint", &col);
        if (s->endpoint && !e)
                return fail(p, -EINVAL, line, col,
                            "%s: 'endpoint' applies only to formats that name their API "
                            "(format '%s' does not; use 'url')",
                            p->section_label, s->format);
        if (s->endpoint && s->url)
                return fail(p, -EINVAL, line, col,
                            "%s: use either 'url' (one URL polled as is) or 'endpoint' (the "
                            "API's own paths under another host), not both",
                            p->section_label);
        if (s->endpoint && strpbrk(s->endpoint, "?#"))
                return fail(p, -EINVAL, line, col,
                            "%s: 'endpoint' is scheme://host[/prefix], without a query",
                            p->section_label);
        line = seen_line(p, "regions", &col);
        if (s->n_regions > 0 && !templated)
                return fail(p, -EINVAL, line, col,
                            "%s: 'regions' needs a URL with {region} in it (format '%s' lists "
                            "every region in one document)",
                            p->section_label, s->format);
        if (s->n_regions == 0 && templated)
                return fail(p, -EINVAL, p->section_line, p->section_col,
                            "%s: missing required key 'regions' (format '%s' lists models per "
                            "region, e.g. regions = %s)",
                            p->section_label, s->format,
                            e && e->sigv4_service ? "us-east-1, eu-west-1"
                                                  : "us-central1, europe-west4");
        /* The format's own auth belongs to the API's own endpoint: a 'url' is a capture, a mirror
         * or a proxy the operator chose, read without a key unless 'auth' says otherwise. */
        if (!seen_line(p, "auth", NULL))
                s->auth = e && !s->url ? (int)e->auth : ADAPTER_AUTH_NONE;
        line = seen_line(p, "auth", &col);
        if (s->auth == ADAPTER_AUTH_AWS && !(e && e->sigv4_service))
                return fail(p, -EINVAL, line, col,
                            "%s: auth = aws applies only to AWS APIs (format bedrock-api)",
                            p->section_label);
        if (s->auth != ADAPTER_AUTH_NONE && !s->credential) {
                /* An API that needs a key is no use without one: say which, and how. */
                if (!line)
                        line = p->section_line, col = p->section_col;
                return fail(p, -EINVAL, line, col,
                            "%s: missing required key 'credential' (auth %s needs a key: "
                            "credential = NAME with LoadCredential=NAME:/path/to/file in the "
                            "unit, or credential = /path/to/file)",
                            p->section_label, adapter_auth_name((AdapterAuth)s->auth));
        }
        line = seen_line(p, "credential", &col);
        if (s->credential && s->auth == ADAPTER_AUTH_NONE)
                return fail(p, -EINVAL, line, col,
                            "%s: 'credential' is not used with auth none (set auth = bearer, "
                            "x-api-key, goog-api-key or aws)",
                            p->section_label);
        const char *where = s->url ? s->url : s->endpoint;
        if (s->credential && where && startswith_no_case(where, "http://") &&
            !util_url_is_loopback(where)) {
                line = seen_line(p, s->url ? "url" : "endpoint", &col);
                return fail(p, -EINVAL, line, col,
                            "%s: a credential is only sent over https:// (or to a loopback "
                            "address)",
                            p->section_label);
        }
        return 0;
}

/* A sink delivers over HTTP(S) only; its credentials come in exactly one form. */
static int sink_check(Parser *p, const SinkConfig *s)
{
        unsigned line, col;

        if (!s->url)
                return fail(p, -EINVAL, p->section_line, p->section_col,
                            "%s: missing required key 'url'", p->section_label);
        line = seen_line(p, "url", &col);
        if (!startswith_no_case(s->url, "http://") && !startswith_no_case(s->url, "https://"))
                return fail(p, -EINVAL, line, col, "%s: 'url' must be http:// or https://",
                            p->section_label);
        line = seen_line(p, "generator_url", &col);
        if (s->generator_url && !startswith_no_case(s->generator_url, "http://") &&
            !startswith_no_case(s->generator_url, "https://"))
                return fail(p, -EINVAL, line, col,
                            "%s: 'generator_url' must be http:// or https://", p->section_label);
        if (!!s->basic_auth_user != !!s->basic_auth_password_file) {
                line = seen_line(p, s->basic_auth_user ? "basic_auth_user"
                                                       : "basic_auth_password_file",
                                 NULL);
                return fail(p, -EINVAL, line, 1,
                            "%s: 'basic_auth_user' and 'basic_auth_password_file' go together",
                            p->section_label);
        }
        if (s->basic_auth_user && s->bearer_token_file)
                return fail(p, -EINVAL, seen_line(p, "bearer_token_file", NULL), 1,
                            "%s: use either 'bearer_token_file' or basic auth, not both",
                            p->section_label);
        return 0;
}

static int section_close(Parser *p)
{
        if (p->section == SECTION_SOURCE) {
                size_t idx = p->c->n_sources - 1;
                SourceConfig *s = &p->c->sources[idx];
                const Adapter *a;
                uint64_t mask = 0;

                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (p->seen[i])
                                mask |= UINT64_C(1) << i;
                p->set_mask[idx] = mask;

                const char *missing = NULL;
                a = s->format ? adapter_find(s->format) : NULL;
                if (!s->format)
                        missing = "format";
                else if (!s->url && !(a && a->endpoint))
                        missing = "url";
                if (missing)
                        return fail(p, -EINVAL, p->section_line, p->section_col,
                                    "%s: missing required key '%s'", p->section_label, missing);
                a = adapter_find(s->format);
                if (a && a->needs_provider && !s->provider)
                        missing = "provider";
                else if (a && a->needs_columns && !s->columns)
                        missing = "columns";
                if (missing)
                        return fail(p, -EINVAL, p->section_line, p->section_col,
                                    "%s: missing required key '%s' (format '%s' needs it)",
                                    p->section_label, missing, s->format);
                if (a) {
                        int r = source_check_options(p, s, a);
                        if (r < 0)
                                return r;
                        r = source_check_authority(p, s, a);
                        if (r < 0)
                                return r;
                }
                {
                        int r = source_check_api(p, s, a);
                        if (r < 0)
                                return r;
                }
                {
                        size_t k = (size_t)(key_find("provider") - keys);
                        s->provider_line = p->seen[k];
                        s->provider_col = p->seen_vcol[k];
                }
        }
        if (p->section & SECTION_SINKS) {
                int r = sink_check(p, &p->c->sinks[p->c->n_sinks - 1]);
                if (r < 0)
                        return r;
        }
        p->section = SECTION_NONE;
        memset(p->seen, 0, sizeof(p->seen));
        memset(p->seen_kcol, 0, sizeof(p->seen_kcol));
        memset(p->seen_vcol, 0, sizeof(p->seen_vcol));
        return 0;
}

static int section_open(Parser *p, char *linebuf, char *open, unsigned line)
{
        unsigned col = (unsigned)(open - linebuf) + 1;
        char *close = strchr(open, ']');
        int r;

        /* Any '[' line ends the section above it, whose errors come earlier in the file. */
        r = section_close(p);
        if (r < 0)
                return r;
        if (!close)
                return fail(p, -EINVAL, line, col, "section header is missing its closing ']'");
        if (*skip_ws(close + 1))
                return fail(p, -EINVAL, line, col, "unexpected text after ']' in section header");
        *close = '\0';

        char *kind = skip_ws(open + 1);
        char *name = kind + strcspn(kind, WHITESPACE);
        if (*name) {
                *name = '\0';
                name = skip_ws(name + 1);
        }
        rtrim(name);

        if (kind[0] == '\0')
                return fail(p, -EINVAL, line, col,
                            "empty section header; use [daemon] or [source NAME]");
        if (streq(kind, "daemon")) {
                if (*name)
                        return fail(p, -EINVAL, line, col,
                                    "section [daemon] takes no name, got '%s'", token(name).s);
                if (p->daemon_line)
                        return fail(p, -EINVAL, line, col,
                                    "duplicate section [daemon]; first defined at line %u",
                                    p->daemon_line);
                p->daemon_line = line;
                p->section = SECTION_DAEMON;
                snprintf(p->section_label, sizeof(p->section_label), "[daemon]");
        } else if (streq(kind, "source")) {
                Config *c = p->c;

                if (!*name)
                        return fail(p, -EINVAL, line, col,
                                    "section [source] needs a name, e.g. [source litellm]");
                if (!source_name_valid(name))
                        return fail(p, -EINVAL, line, col,
                                    "invalid source name '%s' (use 1 to %d characters from "
                                    "A-Z a-z 0-9 _ . -)",
                                    token(name).s, CONFIG_MAX_NAME);
                for (size_t i = 0; i < c->n_sources; i++)
                        if (streq(c->sources[i].name, name))
                                return fail(p, -EINVAL, line, col,
                                            "duplicate source '%s'; first defined at line %u", name,
                                            c->sources[i].line);
                if (c->n_sources >= CONFIG_MAX_SOURCES)
                        return fail(p, -E2BIG, line, col, "too many sources (the limit is %d)",
                                    CONFIG_MAX_SOURCES);
                util_grow((void **)&c->sources, &p->sources_cap, c->n_sources + 1,
                          sizeof(SourceConfig));
                SourceConfig *s = &c->sources[c->n_sources++];
                *s = (SourceConfig){
                    .name = xstrdup(name),
                    .enabled = true,
                    .line = line,
                };
                p->section = SECTION_SOURCE;
                snprintf(p->section_label, sizeof(p->section_label), "[source %s]", name);
        } else if (streq(kind, "alertmanager") || streq(kind, "webhook")) {
                Config *c = p->c;
                SinkKind sk = streq(kind, "webhook") ? SINK_WEBHOOK : SINK_ALERTMANAGER;

                if (!*name)
                        return fail(p, -EINVAL, line, col,
                                    "section [%s] needs a name, e.g. [%s primary]", kind, kind);
                if (!source_name_valid(name))
                        return fail(p, -EINVAL, line, col,
                                    "invalid %s name '%s' (use 1 to %d characters from "
                                    "A-Z a-z 0-9 _ . -)",
                                    kind, token(name).s, CONFIG_MAX_NAME);
                for (size_t i = 0; i < c->n_sinks; i++)
                        if (c->sinks[i].kind == sk && streq(c->sinks[i].name, name))
                                return fail(p, -EINVAL, line, col,
                                            "duplicate %s '%s'; first defined at line %u", kind,
                                            name, c->sinks[i].line);
                if (c->n_sinks >= CONFIG_MAX_SINKS)
                        return fail(p, -E2BIG, line, col,
                                    "too many [alertmanager] and [webhook] sections (the limit "
                                    "is %d)",
                                    CONFIG_MAX_SINKS);
                util_grow((void **)&c->sinks, &p->sinks_cap, c->n_sinks + 1, sizeof(SinkConfig));
                c->sinks[c->n_sinks++] = (SinkConfig){
                    .name = xstrdup(name),
                    .kind = sk,
                    .timeout_usec = 10 * USEC_PER_SEC,
                    .resend_delay_usec = USEC_PER_MIN,
                    .max_queue = 1000,
                    .line = line,
                };
                p->section = sk == SINK_WEBHOOK ? SECTION_WEBHOOK : SECTION_ALERTMANAGER;
                snprintf(p->section_label, sizeof(p->section_label), "[%s %s]", kind, name);
        } else {
                Hint h = {0};
                hint_add(&h, kind, "daemon");
                hint_add(&h, kind, "source");
                hint_add(&h, kind, "alertmanager");
                hint_add(&h, kind, "webhook");
                if (h.best)
                        return fail(p, -EINVAL, line, col,
                                    "unknown section '%s'; did you mean '%s'?", token(kind).s,
                                    h.best);
                return fail(p, -EINVAL, line, col,
                            "unknown section '%s' (use [daemon], [source NAME], "
                            "[alertmanager NAME] or [webhook NAME])",
                            token(kind).s);
        }
        p->section_line = line;
        p->section_col = col;
        return 0;
}

static int key_value(Parser *p, char *linebuf, char *start, unsigned line)
{
        unsigned kcol = (unsigned)(start - linebuf) + 1;
        char value[CONFIG_MAX_LINE + 1];
        char *eq = strchr(start, '=');
        const KeyDef *k;
        int r;

        if (!eq)
                return fail(p, -EINVAL, line, kcol,
                            "expected 'key = value', a [section] header or a # comment");
        if (eq == start)
                return fail(p, -EINVAL, line, kcol, "missing key before '='");
        *eq = '\0';
        rtrim(start);

        if (p->section == SECTION_NONE)
                return fail(p, -EINVAL, line, kcol,
                            "key '%s' is outside any section; put it under [daemon], "
                            "[source NAME], [alertmanager NAME] or [webhook NAME]",
                            token(start).s);

        k = key_find(start);
        if (k && !(k->where & p->section)) {
                static const struct {
                        unsigned bit;
                        const char *text;
                } names[] = {
                    {SECTION_DAEMON, "[daemon]"},
                    {SECTION_SOURCE, "[source NAME]"},
                    {SECTION_ALERTMANAGER, "[alertmanager NAME]"},
                    {SECTION_WEBHOOK, "[webhook NAME]"},
                };
                char where[128] = "";
                size_t o = 0, n = 0, total = 0;

                for (size_t i = 0; i < ELEMENTSOF(names); i++)
                        total += !!(k->where & names[i].bit);
                for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                        if (!(k->where & names[i].bit))
                                continue;
                        n++;
                        o += (size_t)snprintf(where + o, sizeof(where) - o, "%s%s",
                                              n == 1 ? "" : n == total ? " or " : ", ",
                                              names[i].text);
                }
                return fail(p, -EINVAL, line, kcol, "key '%s' belongs in %s, not in %s", k->name,
                            where, p->section_label);
        }
        if (!k) {
                Hint h = {0};
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (keys[i].where & p->section)
                                hint_add(&h, start, keys[i].name);
                return fail(p, -EINVAL, line, kcol, "unknown key '%s' in %s%s%s%s", token(start).s,
                            p->section_label, h.best ? "; did you mean '" : "",
                            h.best ? h.best : "", h.best ? "'?" : "");
        }

        size_t idx = (size_t)(k - keys);
        if (p->seen[idx])
                return fail(p, -EINVAL, line, kcol,
                            "duplicate key '%s' in %s; first set at line %u", k->name,
                            p->section_label, p->seen[idx]);

        char *v = skip_ws(eq + 1);
        r = value_extract(p, k->name, linebuf, v, line, value);
        if (r < 0)
                return r;
        r = apply_value(p, k, value, line, (unsigned)(v - linebuf) + 1);
        if (r < 0)
                return r;
        p->seen[idx] = line;
        p->seen_kcol[idx] = kcol;
        p->seen_vcol[idx] = (unsigned)(v - linebuf) + 1;
        return 0;
}

static int parse_line(Parser *p, char *linebuf, unsigned line)
{
        char *s = skip_ws(linebuf);

        if (*s == '\0' || *s == '#' || *s == ';')
                return 0;
        if (*s == '[')
                return section_open(p, linebuf, s, line);
        return key_value(p, linebuf, s, line);
}

/* After the whole file: a [daemon] section below the sources still provides their defaults. */
static void inherit(Parser *p)
{
        Config *c = p->c;

        for (size_t i = 0; i < c->n_sources; i++) {
                for (size_t j = 0; j < ELEMENTSOF(keys); j++) {
                        const KeyDef *k = &keys[j];
                        if (!(k->flags & KF_INHERIT) || (p->set_mask[i] & (UINT64_C(1) << j)))
                                continue;
                        const char *from = (const char *)c + k->daemon_off;
                        char *to = (char *)&c->sources[i] + k->source_off;
                        if (k->type == KEY_PATH || k->type == KEY_TEXT)
                                set_string(&c->sources[i], k->source_off,
                                           xstrdup(*(char *const *)from));
                        else
                                memcpy(to, from, sizeof(uint64_t));
                }
        }
}

static Config *config_new_defaults(const char *path)
{
        Config *c = xcalloc(1, sizeof(*c));

        c->path = xstrdup(path);
        c->state_dir = xstrdup("/var/lib/lockwatch");
        c->socket_path = xstrdup("/run/lockwatch/io.lockwatch");
        c->aliases_path = xstrdup("/etc/lockwatch/aliases.conf");
        c->providers_path = xstrdup("/etc/lockwatch/providers.conf");
        c->rules = xstrdup("/etc/lockwatch/rules.d/*.rules");
        c->interval_usec = 6 * USEC_PER_HOUR;
        c->jitter_percent = 10;
        c->removal_polls = 2;
        c->max_removal_percent = 20;
        c->max_rows = 100000;
        c->repeat_interval_usec = USEC_PER_DAY;
        c->history_retention_usec = 2 * 365 * USEC_PER_DAY;
        c->history_max_size = UINT64_C(256) << 20;
        c->limits = (FetchLimits){
            .connect_timeout_usec = 10 * USEC_PER_SEC,
            .timeout_usec = 60 * USEC_PER_SEC,
            .low_speed_time_usec = 20 * USEC_PER_SEC,
            .low_speed_limit = 64,
            .max_body = UINT64_C(32) << 20,
            .max_redirects = 5,
            .retries = 3,
            .retry_backoff_usec = 2 * USEC_PER_SEC,
            .retry_backoff_max_usec = 5 * USEC_PER_MIN,
        };
        return c;
}

void config_free(Config *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n_sources; i++) {
                SourceConfig *s = &c->sources[i];
                free(s->name);
                free(s->url);
                free(s->format);
                free(s->provider);
                free(s->columns);
                free(s->rows);
                free(s->vendor);
                free(s->limits.ca_file);
                free(s->endpoint);
                free(s->credential);
                for (size_t j = 0; j < s->n_regions; j++)
                        free(s->regions[j]);
                free(s->regions);
        }
        free(c->sources);
        for (size_t i = 0; i < c->n_sinks; i++) {
                SinkConfig *s = &c->sinks[i];
                free(s->name);
                free(s->url);
                free(s->ca_file);
                free(s->bearer_token_file);
                free(s->basic_auth_user);
                free(s->basic_auth_password_file);
                free(s->generator_url);
        }
        free(c->sinks);
        free(c->metrics_listen);
        free(c->instance);
        free(c->path);
        free(c->state_dir);
        free(c->socket_path);
        free(c->aliases_path);
        free(c->providers_path);
        free(c->rules);
        free(c->log_level);
        free(c->user_agent_extra);
        free(c->limits.ca_file);
        free(c);
}

DEFINE_FREEP(Config, config_free)

int config_parse(const char *path, const char *text, size_t len, Config **ret, ConfigError *err)
{
        _cleanup_(config_freep) Config *c = NULL;
        char linebuf[CONFIG_MAX_LINE + 1];
        unsigned line = 0;
        size_t off = 0;
        int r;

        if (!path)
                path = "<config>";
        Parser p = {.path = path, .err = err};
        if (err)
                *err = (ConfigError){0};
        if (len > CONFIG_MAX_BYTES)
                return fail(&p, -EFBIG, 0, 0, "larger than the limit of %d bytes",
                            CONFIG_MAX_BYTES);

        c = config_new_defaults(path);
        p.c = c;

        if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
                off = 3;
        while (off < len) {
                const char *start = text + off;
                const char *nl = memchr(start, '\n', len - off);
                size_t n = nl ? (size_t)(nl - start) : len - off;
                const char *nul = memchr(start, '\0', n);

                line++;
                off += n + (nl ? 1 : 0);
                if (nul) {
                        r = fail(&p, -EINVAL, line, (unsigned)(nul - start) + 1,
                                 "NUL byte in input");
                        goto out;
                }
                if (n > 0 && start[n - 1] == '\r')
                        n--;
                if (n > CONFIG_MAX_LINE) {
                        r = fail(&p, -E2BIG, line, 1, "line is longer than %d bytes",
                                 CONFIG_MAX_LINE);
                        goto out;
                }
                memcpy(linebuf, start, n);
                linebuf[n] = '\0';
                r = parse_line(&p, linebuf, line);
                if (r < 0)
                        goto out;
        }
        r = section_close(&p);
        if (r < 0)
                goto out;
        inherit(&p);
        *ret = TAKE_PTR(c);
        r = 0;
out:
        free(p.dir);
        return r;
}

int config_load(const char *path, Config **ret, ConfigError *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r;

        r = util_read_file(path, CONFIG_MAX_BYTES, &text, &len);
        if (r < 0) {
                Parser p = {.path = path, .err = err};
                if (r == -EFBIG)
                        return fail(&p, r, 0, 0, "larger than the limit of %d bytes",
                                    CONFIG_MAX_BYTES);
                return fail(&p, r, 0, 0, "cannot read: %s", strerror(-r));
        }
        return config_parse(path, text, len, ret, err);
}

const SourceConfig *config_find_source(const Config *c, const char *name)
{
        if (!c || !name)
                return NULL;
        for (size_t i = 0; i < c->n_sources; i++)
                if (streq(c->sources[i].name, name))
                        return &c->sources[i];
        return NULL;
}

const char *config_sink_kind_name(SinkKind k)
{
        return k == SINK_WEBHOOK ? "webhook" : "alertmanager";
}
