#include "lockwatch/ruletest.h"

#include <ctype.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>

#include "lockwatch/ingest.h"
#include "lockwatch/journal.h"
#include "lockwatch/replay.h"
#include "lockwatch/rules_eval.h"
#include "lockwatch/util.h"

#define RULETEST_MAX_BYTES  (4u * 1024u * 1024u)
#define RULETEST_MAX_TOKENS 64
#define RULETEST_SOURCE     "test" /* the source that inline model lines speak for */

/* 2026-01-01T00:00:00Z: the default epoch of a test's `at` offsets. */
#define RULETEST_EPOCH (UINT64_C(1767225600) * USEC_PER_SEC)

typedef struct Tok {
        char *s;
        unsigned col;
} Tok;

typedef struct Expect {
        char *event; /* firing, resolved, repeat */
        char *rule;
        char *key;
        char *summary; /* NULL: not checked */
        unsigned line;
        bool matched;
} Expect;

typedef struct Got {
        char *event, *rule, *key, *summary;
        bool matched;
} Got;

typedef struct SourceLine {
        char *name;
        SourceStatus status;
        uint64_t failures;
        bool has_last_ok;
        bool never_ok;
        uint64_t last_ok_ago;
        uint64_t lagging, unmapped;
        char *lagging_examples, *unmapped_examples;
} SourceLine;

typedef struct KnownSource {
        char *name;
        uint64_t last_ok;
} KnownSource;

typedef struct Runner {
        FILE *out;
        const char *path;
        char *dir; /* of the test file, for relative paths */

        /* the current test */
        char *name;
        unsigned test_line;
        RuleSet *rules;
        RulesEngine *engine;
        Matrix *matrix;
        uint64_t epoch;
        uint64_t repeat_interval;
        uint64_t removal_polls;
        char **provider_names;
        ProviderKind *provider_kinds;
        size_t n_providers;
        ProviderMap *providers; /* for `load` */
        AliasTable *aliases;

        /* the current step */
        bool in_step;
        bool steps_in_test_now; /* an `at` line was seen in this test */
        uint64_t now;
        unsigned step_line;
        char *step_text;
        MatrixInput *in;
        Observation *obs;
        char **canon;
        size_t n_in;
        SourceLine *srcs;
        size_t n_srcs;
        Expect *expects;
        size_t n_expects;
        bool expect_none;
        KnownSource *known;
        size_t n_known;

        /* results */
        bool test_failed;
        unsigned passed, failed, steps;
} Runner;

static int fail_at(Runner *r, unsigned line, unsigned col, const char *fmt, ...)
        _printf_(4, 5);

static int fail_at(Runner *r, unsigned line, unsigned col, const char *fmt, ...)
{
        va_list ap;

        fprintf(r->out, "%s:%u:%u: ", r->path, line, col);
        va_start(ap, fmt);
        vfprintf(r->out, fmt, ap);
        va_end(ap);
        fputc('\n', r->out);
        return -EINVAL;
}

/* Split a line into tokens: words, or "quoted strings" with \" and \\ escapes. */
static int tokenize(Runner *r, char *line, unsigned lineno, Tok *toks, size_t *ret_n)
{
        size_t n = 0;
        char *p = line;

        while (*p) {
                while (*p == ' ' || *p == '\t')
                        p++;
                if (!*p || *p == '#')
                        break;
                if (n >= RULETEST_MAX_TOKENS)
                        return fail_at(r, lineno, (unsigned)(p - line) + 1, "too many words");
                unsigned col = (unsigned)(p - line) + 1;
                if (*p == '"') {
                        char *w = ++p, *o = p;
                        while (*p && *p != '"') {
                                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                                        p++;
                                *o++ = *p++;
                        }
                        if (*p != '"')
                                return fail_at(r, lineno, col, "unterminated string");
                        p++;
                        *o = '\0';
                        toks[n++] = (Tok){w, col};
                        continue;
                }
                char *w = p;
                while (*p && *p != ' ' && *p != '\t')
                        p++;
                if (*p)
                        *p++ = '\0';
                toks[n++] = (Tok){w, col};
        }
        *ret_n = n;
        return 0;
}

static char *resolve(const Runner *r, const char *p)
{
        return p[0] == '/' ? xstrdup(p) : xasprintf("%s/%s", r->dir, p);
}

static void step_clear(Runner *r)
{
        for (size_t i = 0; i < r->n_in; i++) {
                free(r->canon[i]);
                Observation *o = &r->obs[i];
                free(o->model);
                free(o->name);
                for (size_t k = 0; k < o->n_regions; k++)
                        free(o->regions[k]);
                free(o->regions);
        }
        free(r->in);
        free(r->obs);
        free(r->canon);
        r->in = NULL;
        r->obs = NULL;
        r->canon = NULL;
        r->n_in = 0;
        for (size_t i = 0; i < r->n_srcs; i++) {
                free(r->srcs[i].name);
                free(r->srcs[i].lagging_examples);
                free(r->srcs[i].unmapped_examples);
        }
        free(r->srcs);
        r->srcs = NULL;
        r->n_srcs = 0;
        for (size_t i = 0; i < r->n_expects; i++) {
                free(r->expects[i].event);
                free(r->expects[i].rule);
                free(r->expects[i].key);
                free(r->expects[i].summary);
        }
        free(r->expects);
        r->expects = NULL;
        r->n_expects = 0;
        r->expect_none = false;
        free(r->step_text);
        r->step_text = NULL;
        r->in_step = false;
}

static void test_clear(Runner *r)
{
        step_clear(r);
        rules_engine_free(r->engine);
        rules_set_free(r->rules);
        matrix_free(r->matrix);
        provider_map_free(r->providers);
        alias_table_free(r->aliases);
        for (size_t i = 0; i < r->n_providers; i++)
                free(r->provider_names[i]);
        free(r->provider_names);
        free(r->provider_kinds);
        for (size_t i = 0; i < r->n_known; i++)
                free(r->known[i].name);
        free(r->known);
        free(r->name);
        r->engine = NULL;
        r->rules = NULL;
        r->matrix = NULL;
        r->providers = NULL;
        r->aliases = NULL;
        r->provider_names = NULL;
        r->provider_kinds = NULL;
        r->n_providers = 0;
        r->known = NULL;
        r->n_known = 0;
        r->name = NULL;
        r->test_failed = false;
        r->steps_in_test_now = false;
        r->now = 0;
}

static ProviderKind provider_kind(const Runner *r, const char *p)
{
        for (size_t i = 0; i < r->n_providers; i++)
                if (streq(r->provider_names[i], p))
                        return r->provider_kinds[i];
        if (streq(p, "aws") || streq(p, "gcp") || streq(p, "azure"))
                return PROVIDER_CLOUD;
        if (streq(p, "openrouter"))
                return PROVIDER_AGGREGATOR;
        return PROVIDER_DIRECT;
}

static int parse_offset(const char *s, uint64_t *ret)
{
        return util_parse_duration(s, ret);
}

/* One "PROVIDER=STATE[,regions=a|b][,in=N][,out=N][,lifecycle=W][,eol=YYYY-MM-DD]". */
static int parse_cell(Runner *r, const Tok *t, unsigned line, const char *model)
{
        _cleanup_free_ char *copy = xstrdup(t->s);
        char *eq = strchr(copy, '=');
        if (!eq || eq == copy)
                return fail_at(r, line, t->col, "expected PROVIDER=STATE, got '%s'", t->s);
        *eq = '\0';
        char *rest = eq + 1, *save = NULL;
        char *state = strtok_r(rest, ",", &save);
        if (!state || (!streq(state, "available") && !streq(state, "unavailable")))
                return fail_at(r, line, t->col,
                               "cell state must be available or unavailable, got '%s'",
                               state ? state : "");

        r->in = xreallocarray(r->in, r->n_in + 1, sizeof(MatrixInput));
        r->obs = xreallocarray(r->obs, r->n_in + 1, sizeof(Observation));
        r->canon = xreallocarray(r->canon, r->n_in + 1, sizeof(char *));
        Observation *o = &r->obs[r->n_in];
        *o = (Observation){
                .model = xstrdup(model),
                .available = streq(state, "available"),
                .price_in = NAN,
                .price_out = NAN,
        };
        r->canon[r->n_in] = xstrdup(model);
        /* The normalizer's convention: an id it could not map lives under "unmapped/". */
        r->in[r->n_in] = (MatrixInput){.kind = provider_kind(r, copy),
                                       .mapped = !startswith(model, "unmapped/")};
        size_t idx = r->n_in++;

        for (char *a = strtok_r(NULL, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
                char *v = strchr(a, '=');
                if (!v)
                        return fail_at(r, line, t->col, "expected ATTRIBUTE=VALUE, got '%s'", a);
                *v++ = '\0';
                if (streq(a, "regions")) {
                        char *s2 = NULL;
                        for (char *g = strtok_r(v, "|", &s2); g; g = strtok_r(NULL, "|", &s2))
                                observation_add_region(o, g);
                } else if (streq(a, "in") || streq(a, "out")) {
                        char *end;
                        double d = strtod(v, &end);
                        if (*end || end == v || d < 0)
                                return fail_at(r, line, t->col, "bad price '%s'", v);
                        if (streq(a, "in"))
                                o->price_in = d;
                        else
                                o->price_out = d;
                } else if (streq(a, "lifecycle")) {
                        o->lifecycle = lifecycle_from_string(v);
                        if (o->lifecycle == LIFECYCLE_UNKNOWN)
                                return fail_at(r, line, t->col, "unknown lifecycle '%s'", v);
                } else if (streq(a, "eol")) {
                        uint64_t u;
                        if (replay_parse_time(v, &u) < 0)
                                return fail_at(r, line, t->col, "bad date '%s' (YYYY-MM-DD)", v);
                        o->eol = (int64_t)(u / USEC_PER_SEC);
                } else {
                        return fail_at(r, line, t->col,
                                       "unknown cell attribute '%s' (regions, in, out, "
                                       "lifecycle, eol)",
                                       a);
                }
        }
        /* MatrixInput only borrows its strings: the observation's name field keeps the
         * provider id alive until step_run() points the input at it. */
        r->in[idx].provider = NULL;
        o->name = xstrdup(copy);
        return 0;
}

static KnownSource *known_source(Runner *r, const char *name)
{
        for (size_t i = 0; i < r->n_known; i++)
                if (streq(r->known[i].name, name))
                        return &r->known[i];
        r->known = xreallocarray(r->known, r->n_known + 1, sizeof(KnownSource));
        r->known[r->n_known] = (KnownSource){.name = xstrdup(name)};
        return &r->known[r->n_known++];
}

static int cmp_got(const void *a, const void *b)
{
        const Got *x = a, *y = b;
        int c = strcmp(x->rule, y->rule);
        if (!c)
                c = strcmp(x->key, y->key);
        return c ? c : strcmp(x->event, y->event);
}

typedef struct Collect {
        Got *items;
        size_t n;
} Collect;

static void on_event(const RulesEvent *ev, void *userdata)
{
        Collect *c = userdata;
        c->items = xreallocarray(c->items, c->n + 1, sizeof(Got));
        c->items[c->n++] = (Got){
                .event = xstrdup(ev->event == ALERT_EVENT_RESOLVED ? "resolved"
                                 : ev->event == ALERT_EVENT_REPEAT ? "repeat"
                                                                   : "firing"),
                .rule = xstrdup(ev->rule->name),
                .key = xstrdup(ev->key),
                .summary = xstrdup(ev->summary),
        };
}

/* Apply the step's matrix and sources, evaluate, and compare. */
static int step_run(Runner *r)
{
        Collect got = {0};
        int k;

        if (!r->engine)
                return fail_at(r, r->step_line, 1, "no rules: a test needs a `rules` line first");

        for (size_t i = 0; i < r->n_in; i++) {
                r->in[i].model = r->canon[i];
                r->in[i].provider = r->obs[i].name;
                r->in[i].obs = &r->obs[i];
        }
        if (r->n_in > 0 || r->n_srcs == 0) {
                k = matrix_apply(r->matrix, RULETEST_SOURCE, r->in, r->n_in, r->now,
                                 (unsigned)r->removal_polls, NULL);
                if (k < 0)
                        return fail_at(r, r->step_line, 1, "the step's matrix is invalid: %s",
                                       strerror(-k));
        }

        RulesSourceView *views = xcalloc(r->n_srcs ? r->n_srcs : 1, sizeof(*views));
        for (size_t i = 0; i < r->n_srcs; i++) {
                SourceLine *sl = &r->srcs[i];
                KnownSource *ks = known_source(r, sl->name);
                if (sl->status == SOURCE_OK)
                        ks->last_ok = r->now;
                if (sl->has_last_ok)
                        ks->last_ok = sl->never_ok ? 0
                                      : sl->last_ok_ago > r->now ? 0
                                                                 : r->now - sl->last_ok_ago;
                views[i] = (RulesSourceView){
                        .name = sl->name,
                        .status = sl->status,
                        .last_ok = ks->last_ok,
                        .consecutive_failures = sl->failures,
                        .lagging = sl->lagging,
                        .lagging_examples = sl->lagging_examples,
                        .unmapped = sl->unmapped,
                        .unmapped_examples = sl->unmapped_examples,
                };
        }
        k = rules_engine_evaluate(r->engine, r->matrix, views, r->n_srcs, r->now, on_event, &got);
        free(views);
        if (k < 0)
                return fail_at(r, r->step_line, 1, "evaluation failed: %s", strerror(-k));
        r->steps++;

        /* Match expectations to events, order-insensitively. */
        bool ok = true;
        for (size_t e = 0; e < r->n_expects; e++) {
                Expect *x = &r->expects[e];
                for (size_t g = 0; g < got.n && !x->matched; g++) {
                        Got *y = &got.items[g];
                        if (y->matched || !streq(x->event, y->event) || !streq(x->rule, y->rule) ||
                            !streq(x->key, y->key))
                                continue;
                        if (x->summary && !streq(x->summary, y->summary))
                                continue;
                        x->matched = y->matched = true;
                }
                if (!x->matched)
                        ok = false;
        }
        for (size_t g = 0; g < got.n; g++)
                if (!got.items[g].matched)
                        ok = false;

        if (!ok) {
                char when[64];
                fprintf(r->out, "%s:%u: FAIL \"%s\" %s (%s):\n", r->path, r->step_line,
                        r->name ? r->name : "(unnamed)", r->step_text,
                        journal_format_time(when, sizeof(when), r->now));
                if (got.n > 1)
                        qsort(got.items, got.n, sizeof(Got), cmp_got);
                for (size_t e = 0; e < r->n_expects; e++)
                        if (!r->expects[e].matched)
                                fprintf(r->out, "  - expected (line %u): %s %s %s%s%s%s\n",
                                        r->expects[e].line, r->expects[e].event,
                                        r->expects[e].rule, r->expects[e].key,
                                        r->expects[e].summary ? " \"" : "",
                                        r->expects[e].summary ? r->expects[e].summary : "",
                                        r->expects[e].summary ? "\"" : "");
                for (size_t g = 0; g < got.n; g++)
                        if (!got.items[g].matched)
                                fprintf(r->out, "  + got:                %s %s %s \"%s\"\n",
                                        got.items[g].event, got.items[g].rule, got.items[g].key,
                                        got.items[g].summary);
                r->test_failed = true;
        }
        for (size_t g = 0; g < got.n; g++) {
                free(got.items[g].event);
                free(got.items[g].rule);
                free(got.items[g].key);
                free(got.items[g].summary);
        }
        free(got.items);
        step_clear(r);
        return 0;
}

static void test_finish(Runner *r)
{
        if (r->in_step)
                (void)step_run(r);
        if (r->engine || r->name) {
                if (r->test_failed)
                        r->failed++;
                else
                        r->passed++;
        }
        test_clear(r);
}

static int load_tables(Runner *r, const Tok *t, unsigned line)
{
        char *text;
        size_t len;
        NormalizeError nerr;
        _cleanup_free_ char *pp = resolve(r, t[1].s), *ap = resolve(r, t[2].s);

        if (util_read_file(pp, 4u << 20, &text, &len) < 0)
                return fail_at(r, line, t[1].col, "cannot read %s", pp);
        int k = provider_map_parse(pp, text, len, &r->providers, &nerr);
        free(text);
        if (k < 0)
                return fail_at(r, line, t[1].col, "%s", nerr.message);
        if (util_read_file(ap, 4u << 20, &text, &len) < 0)
                return fail_at(r, line, t[2].col, "cannot read %s", ap);
        k = alias_table_parse(ap, text, len, &r->aliases, &nerr);
        free(text);
        if (k < 0)
                return fail_at(r, line, t[2].col, "%s", nerr.message);
        return 0;
}

/* load FORMAT PATH [as=NAME] [provider=P] [columns=SPEC] [rows=PATH]: a real body through the
 * whole ingest pipeline, as source NAME. */
static int load_body(Runner *r, const Tok *t, size_t n, unsigned line)
{
        if (!r->providers)
                return fail_at(r, line, t[0].col,
                               "`load` needs `tables PROVIDERS ALIASES` earlier in the test");
        _cleanup_free_ char *path = resolve(r, t[2].s), *body = NULL;
        _cleanup_free_ char *as = NULL;
        SourceConfig sc = {.format = t[1].s, .limits.max_body = 64u << 20};
        size_t len;

        if (!adapter_find(t[1].s))
                return fail_at(r, line, t[1].col, "unknown format '%s'", t[1].s);
        for (size_t i = 3; i < n; i++) {
                if (startswith(t[i].s, "as="))
                        as = xstrdup(t[i].s + 3);
                else if (startswith(t[i].s, "provider="))
                        sc.provider = t[i].s + 9;
                else if (startswith(t[i].s, "columns="))
                        sc.columns = t[i].s + 8;
                else if (startswith(t[i].s, "rows="))
                        sc.rows = t[i].s + 5;
                else
                        return fail_at(r, line, t[i].col, "unknown option '%s'", t[i].s);
        }
        if (!as) {
                _cleanup_free_ char *copy = xstrdup(t[2].s);
                as = xstrdup(basename(copy));
                char *dot = strchr(as, '.');
                if (dot)
                        *dot = '\0';
        }
        sc.name = as;
        if (util_read_file(path, 64u << 20, &body, &len) < 0)
                return fail_at(r, line, t[2].col, "cannot read %s", path);
        IngestParams p = {.source = &sc, .providers = r->providers, .aliases = r->aliases,
                          .now = r->now, .removal_polls = (unsigned)r->removal_polls,
                          .max_removal_percent = 100,
                          .max_rows = 100000};
        IngestReport rep;
        int k = ingest_body(r->matrix, &p, NULL, body, len, NULL, &rep);
        if (k < 0)
                return fail_at(r, line, t[2].col, "ingest failed: %s", strerror(-k));
        if (rep.status != INGEST_APPLIED) {
                fail_at(r, line, t[2].col, "%s: %s %s", path, ingest_status_name(rep.status),
                        rep.parse_error.message);
                ingest_report_clear(&rep);
                return -EINVAL;
        }
        ingest_report_clear(&rep);
        return 0;
}

static int run_line(Runner *r, Tok *t, size_t n, unsigned line)
{
        const char *w = t[0].s;

        if (streq(w, "test")) {
                if (n != 2)
                        return fail_at(r, line, t[0].col, "usage: test \"NAME\"");
                test_finish(r);
                r->name = xstrdup(t[1].s);
                r->test_line = line;
                r->epoch = RULETEST_EPOCH;
                r->repeat_interval = 0;
                r->removal_polls = 2;
                return matrix_new(&r->matrix);
        }
        if (!r->matrix) {
                /* A file without `test` lines is one unnamed test. */
                r->epoch = RULETEST_EPOCH;
                r->removal_polls = 2;
                int k = matrix_new(&r->matrix);
                if (k < 0)
                        return k;
        }
        if (streq(w, "rules")) {
                if (n < 2)
                        return fail_at(r, line, t[0].col, "usage: rules FILE...");
                if (r->engine)
                        return fail_at(r, line, t[0].col, "`rules` given twice in one test");
                int k = rules_set_new(&r->rules);
                if (k < 0)
                        return k;
                for (size_t i = 1; i < n; i++) {
                        _cleanup_free_ char *p = resolve(r, t[i].s), *text = NULL;
                        size_t len;
                        RulesError err;
                        if (util_read_file(p, RULES_MAX_INPUT + 1, &text, &len) < 0)
                                return fail_at(r, line, t[i].col, "cannot read %s", p);
                        if (rules_parse(r->rules, p, text, len, &err) < 0) {
                                fprintf(r->out, "%s\n", err.message);
                                return -EINVAL;
                        }
                }
                k = rules_engine_new(r->rules, r->repeat_interval, &r->engine);
                return k;
        }
        if (streq(w, "provider")) {
                ProviderKind kind;
                if (n != 3 || provider_kind_from_string(t[2].s, &kind) < 0)
                        return fail_at(r, line, t[0].col,
                                       "usage: provider NAME cloud|direct|aggregator");
                r->provider_names =
                        xreallocarray(r->provider_names, r->n_providers + 1, sizeof(char *));
                r->provider_kinds =
                        xreallocarray(r->provider_kinds, r->n_providers + 1, sizeof(ProviderKind));
                r->provider_names[r->n_providers] = xstrdup(t[1].s);
                r->provider_kinds[r->n_providers++] = kind;
                return 0;
        }
        if (streq(w, "start")) {
                if (n != 2 || replay_parse_time(t[1].s, &r->epoch) < 0)
                        return fail_at(r, line, t[0].col, "usage: start 2026-06-09T00:00Z");
                return 0;
        }
        if (streq(w, "repeat_interval")) {
                if (n != 2 || util_parse_duration(t[1].s, &r->repeat_interval) < 0)
                        return fail_at(r, line, t[0].col, "usage: repeat_interval DURATION");
                if (r->engine)
                        rules_engine_set_repeat_interval(r->engine, r->repeat_interval);
                return 0;
        }
        if (streq(w, "removal_polls")) {
                if (n != 2 || util_parse_uint(t[1].s, &r->removal_polls) < 0 ||
                    r->removal_polls < 1 || r->removal_polls > 100)
                        return fail_at(r, line, t[0].col, "usage: removal_polls N (1 to 100)");
                return 0;
        }
        if (streq(w, "tables")) {
                if (n != 3)
                        return fail_at(r, line, t[0].col, "usage: tables PROVIDERS ALIASES");
                return load_tables(r, t, line);
        }
        if (streq(w, "at")) {
                uint64_t off;
                if (r->in_step) {
                        int k = step_run(r);
                        if (k < 0)
                                return k;
                }
                if (n != 2 || parse_offset(t[1].s, &off) < 0)
                        return fail_at(r, line, t[0].col, "usage: at OFFSET (e.g. at 6h)");
                uint64_t when = r->epoch + off;
                if (r->steps_in_test_now && when <= r->now)
                        return fail_at(r, line, t[1].col, "steps must go forward in time");
                r->now = when;
                r->in_step = true;
                r->steps_in_test_now = true;
                r->step_line = line;
                r->step_text = xasprintf("at %s", t[1].s);
                return 0;
        }
        if (!r->in_step)
                return fail_at(r, line, t[0].col, "'%s' must follow an `at` line", w);
        if (streq(w, "model")) {
                if (n < 2)
                        return fail_at(r, line, t[0].col, "usage: model ID PROVIDER=STATE...");
                for (size_t i = 2; i < n; i++) {
                        int k = parse_cell(r, &t[i], line, t[1].s);
                        if (k < 0)
                                return k;
                }
                return 0;
        }
        if (streq(w, "source")) {
                _cleanup_free_ char *lex = NULL, *uex = NULL;
                SourceLine sl = {0};
                if (n < 3)
                        return fail_at(r, line, t[0].col,
                                       "usage: source NAME ok|degraded|suspect [failures=N] "
                                       "[last_ok=-DURATION|never] [lagging=N] "
                                       "[lagging_examples=TEXT] [unmapped=N] "
                                       "[unmapped_examples=TEXT]");
                if (streq(t[2].s, "ok"))
                        sl.status = SOURCE_OK;
                else if (streq(t[2].s, "degraded"))
                        sl.status = SOURCE_DEGRADED;
                else if (streq(t[2].s, "suspect"))
                        sl.status = SOURCE_SUSPECT;
                else
                        return fail_at(r, line, t[2].col, "unknown source state '%s'", t[2].s);
                for (size_t i = 3; i < n; i++) {
                        if (startswith(t[i].s, "failures=")) {
                                if (util_parse_uint(t[i].s + 9, &sl.failures) < 0)
                                        return fail_at(r, line, t[i].col, "bad number");
                        } else if (startswith(t[i].s, "lagging=")) {
                                if (util_parse_uint(t[i].s + 8, &sl.lagging) < 0)
                                        return fail_at(r, line, t[i].col, "bad number");
                        } else if (startswith(t[i].s, "unmapped=")) {
                                if (util_parse_uint(t[i].s + 9, &sl.unmapped) < 0)
                                        return fail_at(r, line, t[i].col, "bad number");
                        } else if (startswith(t[i].s, "lagging_examples=")) {
                                free(lex);
                                lex = xstrdup(t[i].s + 17);
                        } else if (startswith(t[i].s, "unmapped_examples=")) {
                                free(uex);
                                uex = xstrdup(t[i].s + 18);
                        } else if (streq(t[i].s, "last_ok=never")) {
                                sl.has_last_ok = sl.never_ok = true;
                        } else if (startswith(t[i].s, "last_ok=-")) {
                                if (util_parse_duration(t[i].s + 9, &sl.last_ok_ago) < 0)
                                        return fail_at(r, line, t[i].col, "bad duration");
                                sl.has_last_ok = true;
                        } else {
                                return fail_at(r, line, t[i].col, "unknown option '%s'", t[i].s);
                        }
                }
                sl.name = xstrdup(t[1].s);
                sl.lagging_examples = TAKE_PTR(lex);
                sl.unmapped_examples = TAKE_PTR(uex);
                r->srcs = xreallocarray(r->srcs, r->n_srcs + 1, sizeof(SourceLine));
                r->srcs[r->n_srcs++] = sl;
                return 0;
        }
        if (streq(w, "load")) {
                if (n < 3)
                        return fail_at(r, line, t[0].col,
                                       "usage: load FORMAT PATH [as=NAME] [provider=P] "
                                       "[columns=SPEC] [rows=PATH]");
                return load_body(r, t, n, line);
        }
        if (streq(w, "expect")) {
                if (n == 2 && streq(t[1].s, "none")) {
                        r->expect_none = true;
                        return 0;
                }
                if ((n != 4 && n != 5) ||
                    (!streq(t[1].s, "firing") && !streq(t[1].s, "resolved") &&
                     !streq(t[1].s, "repeat")))
                        return fail_at(r, line, t[0].col,
                                       "usage: expect firing|resolved|repeat RULE KEY "
                                       "[\"SUMMARY\"], or expect none");
                r->expects = xreallocarray(r->expects, r->n_expects + 1, sizeof(Expect));
                r->expects[r->n_expects++] = (Expect){
                        .event = xstrdup(t[1].s),
                        .rule = xstrdup(t[2].s),
                        .key = xstrdup(t[3].s),
                        .summary = n == 5 ? xstrdup(t[4].s) : NULL,
                        .line = line,
                };
                return 0;
        }
        return fail_at(r, line, t[0].col,
                       "unknown line '%s' (test, rules, provider, tables, start, "
                       "repeat_interval, removal_polls, at, model, source, load, expect)",
                       w);
}

static int run_file(Runner *r, const char *path)
{
        _cleanup_free_ char *text = NULL, *copy = xstrdup(path);
        size_t len;
        int k;

        r->path = path;
        r->dir = xstrdup(dirname(copy));
        k = util_read_file(path, RULETEST_MAX_BYTES, &text, &len);
        if (k < 0) {
                fprintf(r->out, "%s: cannot read: %s\n", path, strerror(-k));
                goto out;
        }
        unsigned lineno = 0;
        for (char *save = NULL, *p = text, *line; (line = strsep(&p, "\n"));) {
                (void)save;
                Tok toks[RULETEST_MAX_TOKENS];
                size_t n = 0;

                lineno++;
                size_t l = strlen(line);
                if (l && line[l - 1] == '\r')
                        line[l - 1] = '\0';
                k = tokenize(r, line, lineno, toks, &n);
                if (k < 0)
                        goto out;
                if (n == 0)
                        continue;
                k = run_line(r, toks, n, lineno);
                if (k < 0)
                        goto out;
        }
        test_finish(r);
        k = 0;
out:
        if (k < 0) {
                /* A broken test file counts as a failed test. */
                r->failed++;
                test_clear(r);
        }
        free(r->dir);
        r->dir = NULL;
        return k;
}

int ruletest_run_files(const char *const *paths, size_t n, FILE *out)
{
        Runner r = {.out = out};
        unsigned total_failed = 0, total_passed = 0;

        for (size_t i = 0; i < n; i++) {
                unsigned before_failed = r.failed, before_passed = r.passed;
                r.steps = 0;
                (void)run_file(&r, paths[i]);
                unsigned f = r.failed - before_failed, p = r.passed - before_passed;
                fprintf(out, "%s %s: %u test(s), %u step(s)%s\n", f ? "FAIL" : "ok  ", paths[i],
                        f + p, r.steps, f ? "" : "");
        }
        total_failed = r.failed;
        total_passed = r.passed;
        fprintf(out, "rule tests: %u passed, %u failed\n", total_passed, total_failed);
        return (int)total_failed;
}
