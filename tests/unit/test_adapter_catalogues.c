/* The catalogue adapters (litellm, models-dev, openrouter) over small hand-written
 * inputs in tests/data/adapters/catalogues/ and inline strings. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define DATA_DIR LW_TEST_DATA "/adapters/catalogues/"

typedef struct Expect {
        const char *provider;
        const char *model;
        const char *vendor; /* NULL: expect NULL */
        const char *name;   /* NULL: expect NULL */
        double price_in;    /* NAN: expect NAN */
        double price_out;
        Lifecycle lifecycle;
        int64_t eol;
        const char *regions; /* comma-separated in order, "" for none */
} Expect;

static char *load(const char *file, size_t *ret_len)
{
        _cleanup_free_ char *path = xasprintf("%s%s", DATA_DIR, file);
        char *buf = NULL;
        int r;

        r = util_read_file(path, 1u << 20, &buf, ret_len);
        if (r < 0)
                fail_msg("cannot read %s: %s", path, strerror(-r));
        return buf;
}

static int parse(const char *format, const char *data, size_t len, const AdapterOptions *opts,
                 ObservationList *out, AdapterError *err)
{
        const Adapter *a = adapter_find(format);

        assert_non_null(a);
        return adapter_parse(a, data, len, opts, out, err);
}

static const Observation *find(const ObservationList *l, const char *provider, const char *model)
{
        for (size_t i = 0; i < l->n; i++)
                if (streq_ptr(l->items[i].provider, provider) && streq(l->items[i].model, model))
                        return &l->items[i];
        return NULL;
}

static void check_price(const char *model, const char *what, double got, double want)
{
        if (isnan(want)) {
                if (!isnan(got))
                        fail_msg("%s %s: want NAN, got %.9g", model, what, got);
                return;
        }
        if (isnan(got) || fabs(got - want) > 1e-9)
                fail_msg("%s %s: want %.9g, got %.9g", model, what, want, got);
}

static void check_expect(const ObservationList *l, const Expect *e)
{
        const Observation *o = find(l, e->provider, e->model);
        char joined[512] = "";
        size_t used = 0;

        if (!o)
                fail_msg("no observation for %s / %s", e->provider, e->model);
        if (!streq_ptr(o->vendor, e->vendor))
                fail_msg("%s vendor: want %s, got %s", e->model, e->vendor ?: "(null)",
                         o->vendor ?: "(null)");
        if (!streq_ptr(o->name, e->name))
                fail_msg("%s name: want %s, got %s", e->model, e->name ?: "(null)",
                         o->name ?: "(null)");
        assert_true(o->available);
        check_price(e->model, "price_in", o->price_in, e->price_in);
        check_price(e->model, "price_out", o->price_out, e->price_out);
        if (o->lifecycle != e->lifecycle)
                fail_msg("%s lifecycle: want %s, got %s", e->model, lifecycle_name(e->lifecycle),
                         lifecycle_name(o->lifecycle));
        if (o->eol != e->eol)
                fail_msg("%s eol: want %lld, got %lld", e->model, (long long)e->eol,
                         (long long)o->eol);
        for (size_t i = 0; i < o->n_regions; i++)
                used += (size_t)snprintf(joined + used, sizeof(joined) - used, "%s%s", i ? "," : "",
                                         o->regions[i]);
        if (!streq(joined, e->regions))
                fail_msg("%s regions: want \"%s\", got \"%s\"", e->model, e->regions, joined);
}

/* Seconds since the epoch of the dates below, from Python's calendar.timegm(). */
#define EOL_2025_03_31 INT64_C(1743379200)
#define EOL_2026_02_27 INT64_C(1772150400)
#define EOL_2026_05_15 INT64_C(1778803200)

static const Expect litellm_expect[] = {
    {"bedrock_converse", "anthropic.claude-opus-4-7", NULL, NULL, 5.0, 25.0, LIFECYCLE_UNKNOWN, 0,
     ""},
    {"bedrock", "bedrock/us-gov-east-1/anthropic.claude-3-5-sonnet-20240620-v1:0", NULL, NULL, 3.6,
     18.0, LIFECYCLE_UNKNOWN, 0, "us-gov-east-1"},
    {"bedrock", "bedrock/ap-northeast-1/1-month-commitment/anthropic.claude-v2:1", NULL, NULL, 8.0,
     24.0, LIFECYCLE_UNKNOWN, 0, "ap-northeast-1"},
    /* Second segments that are not AWS regions give no region. */
    {"bedrock", "bedrock/invoke/anthropic.claude-3-5-sonnet-20240620-v1:0", NULL, NULL, 3.0, 15.0,
     LIFECYCLE_UNKNOWN, 0, ""},
    {"bedrock", "bedrock/us-east-1-preview/meta.llama3-8b-instruct-v1:0", NULL, NULL, NAN, NAN,
     LIFECYCLE_UNKNOWN, 0, ""},
    {"bedrock", "bedrock/*/1-month-commitment/cohere.command-text-v14", NULL, NULL, NAN, NAN,
     LIFECYCLE_UNKNOWN, 0, ""},
    {"azure", "azure/eu/gpt-5.5", NULL, NULL, 5.5, 44.0, LIFECYCLE_UNKNOWN, 0, "eu"},
    {"azure", "azure/global-standard/gpt-4o-mini", NULL, NULL, 0.165, 0.66, LIFECYCLE_DEPRECATED,
     EOL_2026_02_27, ""},
    {"azure", "azure/gpt-3.5-turbo-0125", NULL, NULL, 0.5, 1.5, LIFECYCLE_DEPRECATED,
     EOL_2025_03_31, ""},
    {"vertex_ai-qwen_models", "vertex_ai/qwen/qwen3-235b-a22b-instruct-2507-maas", NULL, NULL, 0.25,
     1.0, LIFECYCLE_UNKNOWN, 0, "global,us-south1"},
    {"openai", "gpt-5.1-codex", NULL, NULL, 1.25, 10.0, LIFECYCLE_UNKNOWN, 0, ""},
    {"text-completion-codestral", "text-completion-codestral/codestral-latest", NULL, NULL, 0.0,
     NAN, LIFECYCLE_UNKNOWN, 0, ""},
    {"fireworks_ai", "fireworks-ai-up-to-4b", NULL, NULL, 0.2, NAN, LIFECYCLE_UNKNOWN, 0, ""},
    {"anthropic", "bad-date", NULL, NULL, NAN, NAN, LIFECYCLE_UNKNOWN, 0, ""},
};

static const Expect models_dev_expect[] = {
    {"amazon-bedrock", "anthropic.claude-opus-4-8", NULL, "Claude Opus 4.8", 5.0, 25.0,
     LIFECYCLE_UNKNOWN, 0, ""},
    {"amazon-bedrock", "meta.llama3-70b-instruct-v1:0", NULL, "Llama 3 70B Instruct", 2.65, 3.5,
     LIFECYCLE_DEPRECATED, 0, ""},
    {"google-vertex-anthropic", "claude-opus-4-8@default", NULL, "Claude Opus 4.8", 5.0, 25.0,
     LIFECYCLE_UNKNOWN, 0, ""},
    {"google-vertex-anthropic", "claude-free@preview", NULL, "Claude Free", NAN, NAN,
     LIFECYCLE_PREVIEW, 0, ""},
    {"azure", "claude-opus-4-6", NULL, "Claude Opus 4.6", NAN, NAN, LIFECYCLE_PREVIEW, 0, ""},
};

static const Expect openrouter_expect[] = {
    {"openrouter", "anthropic/claude-opus-4.7", "anthropic", "Anthropic: Claude Opus 4.7", 5.0,
     25.0, LIFECYCLE_UNKNOWN, 0, ""},
    {"openrouter", "openrouter/auto", "openrouter", "Auto Router", NAN, NAN, LIFECYCLE_UNKNOWN, 0,
     ""},
    {"openrouter", "meta-llama/llama-3.1-405b-instruct", "meta-llama",
     "Meta: Llama 3.1 405B Instruct", 4.0, NAN, LIFECYCLE_DEPRECATED, EOL_2026_05_15, ""},
    {"openrouter", "nopricing", NULL, "No Pricing", NAN, NAN, LIFECYCLE_UNKNOWN, 0, ""},
};

typedef struct GoodCase {
        const char *format;
        const char *file;
        const Expect *expect;
        size_t n_expect;
        const char *absent[8]; /* models that must have been skipped */
} GoodCase;

static const GoodCase good_cases[] = {
    {"litellm",
     "litellm-good.json",
     litellm_expect,
     ELEMENTSOF(litellm_expect),
     {"sample_spec", "text-embedding-3-large", "dall-e-3", "no-provider-here", "not-an-object",
      "last_updated", NULL}},
    {"models-dev",
     "models-dev-good.json",
     models_dev_expect,
     ELEMENTSOF(models_dev_expect),
     {"broken-entry", "no-models-provider", "scalar-provider", NULL}},
    {"openrouter",
     "openrouter-good.json",
     openrouter_expect,
     ELEMENTSOF(openrouter_expect),
     {"no id", NULL}},
};

static void test_good_inputs(void **state)
{
        for (size_t c = 0; c < ELEMENTSOF(good_cases); c++) {
                const GoodCase *gc = &good_cases[c];
                _cleanup_free_ char *data = NULL;
                ObservationList l = {0};
                AdapterError err;
                size_t len;
                int r;

                data = load(gc->file, &len);
                r = parse(gc->format, data, len, NULL, &l, &err);
                if (r < 0)
                        fail_msg("%s: %s", gc->file, err.message);
                if (l.n != gc->n_expect)
                        fail_msg("%s: want %zu observations, got %zu", gc->file, gc->n_expect, l.n);
                for (size_t i = 0; i < gc->n_expect; i++)
                        check_expect(&l, &gc->expect[i]);
                for (size_t i = 0; gc->absent[i]; i++)
                        for (size_t j = 0; j < l.n; j++)
                                if (streq(l.items[j].model, gc->absent[i]))
                                        fail_msg("%s: %s should be skipped", gc->file,
                                                 gc->absent[i]);
                assert_int_not_equal(l.fingerprint, 0);
                observation_list_clear(&l);
        }
}

static void test_openrouter_provider_option(void **state)
{
        AdapterOptions opts = {.provider = "openrouter-eu", .vendor = "fallback"};
        _cleanup_free_ char *data = NULL;
        ObservationList l = {0};
        AdapterError err;
        size_t len;

        data = load("openrouter-good.json", &len);
        assert_int_equal(parse("openrouter", data, len, &opts, &l, &err), 0);
        assert_int_equal(l.n, 4);
        for (size_t i = 0; i < l.n; i++)
                assert_string_equal(l.items[i].provider, "openrouter-eu");
        /* An id without "/" names no vendor: the source's hint fills in. */
        assert_string_equal(find(&l, "openrouter-eu", "nopricing")->vendor, "fallback");
        assert_string_equal(find(&l, "openrouter-eu", "openrouter/auto")->vendor, "openrouter");
        observation_list_clear(&l);
}

static char *nested(const char *prefix, unsigned levels, const char *suffix)
{
        size_t np = strlen(prefix), ns = strlen(suffix);
        char *s = xmalloc(np + 2 * levels + ns + 1);

        memcpy(s, prefix, np);
        memset(s + np, '[', levels);
        memset(s + np + levels, ']', levels);
        memcpy(s + np + 2 * levels, suffix, ns + 1);
        return s;
}

typedef struct BadCase {
        const char *format;
        const char *input; /* NULL: built by the test (see below) */
        const char *message;
        int error;
        bool has_line;
} BadCase;

static const BadCase bad_cases[] = {
    {"litellm", "hello", "invalid JSON: ", -EBADMSG, true},
    {"models-dev", "<html>moved</html>", "invalid JSON: ", -EBADMSG, true},
    {"openrouter", "", "invalid JSON: ", -EBADMSG, true},
    {"litellm", "[{\"litellm_provider\": \"openai\"}]",
     "top level is not an object keyed by model id", -EBADMSG, false},
    {"models-dev", "[]", "top level is not an object keyed by provider id", -EBADMSG, false},
    {"openrouter", "[{\"id\": \"a/b\"}]", "top level is not an object", -EBADMSG, false},
    {"openrouter", "{\"models\": []}", "no \"data\" member at top level", -EBADMSG, false},
    {"openrouter", "{\"data\": {\"data\": []}}", "\"data\" is not an array", -EBADMSG, false},
    {"openrouter", "{\"data\": [{\"slug\": \"a/b\"}]}", "no entry of \"data\" has an \"id\"",
     -EBADMSG, false},
    {"litellm", "{\"models\": {\"gpt-5\": {\"litellm_provider\": \"openai\"}}}",
     "no entry has a litellm_provider field", -EBADMSG, false},
    {"litellm", "{\"gpt-5\": {\"provider\": \"openai\", \"mode\": \"chat\"}}",
     "no entry has a litellm_provider field", -EBADMSG, false},
    {"models-dev", "{\"openai\": {\"id\": \"openai\", \"items\": {}}}",
     "no provider has a \"models\" object", -EBADMSG, false},
    {"openrouter", "{\"data\": [{\"id\": \"a/b\", \"pricing\": {\"prompt\": \"1\"}}",
     "invalid JSON: ", -EBADMSG, true},
};

static void check_bad(const char *format, const char *input, size_t len, const AdapterOptions *opts,
                      const char *message, int error, bool has_line)
{
        ObservationList l = {0};
        AdapterError err;
        int r;

        r = parse(format, input, len, opts, &l, &err);
        if (r != error)
                fail_msg("%s on \"%.40s\": want %d, got %d (%s)", format, input, error, r,
                         err.message);
        if (!startswith(err.message, message))
                fail_msg("%s on \"%.40s\": want message \"%s...\", got \"%s\"", format, input,
                         message, err.message);
        if (has_line && err.line == 0)
                fail_msg("%s on \"%.40s\": no line in the error", format, input);
        /* A failed parse yields nothing. */
        assert_int_equal(l.n, 0);
        assert_null(l.items);
}

static void test_bad_inputs(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                const BadCase *bc = &bad_cases[i];
                check_bad(bc->format, bc->input, strlen(bc->input), NULL, bc->message, bc->error,
                          bc->has_line);
        }
}

/* Truncation in the middle of each good file, and the row cap, for every format. */
static void test_truncated_and_row_cap(void **state)
{
        for (size_t c = 0; c < ELEMENTSOF(good_cases); c++) {
                const GoodCase *gc = &good_cases[c];
                AdapterOptions opts = {.max_rows = gc->n_expect - 1};
                _cleanup_free_ char *data = NULL, *want = NULL;
                ObservationList l = {0};
                AdapterError err;
                size_t len;

                data = load(gc->file, &len);
                check_bad(gc->format, data, len / 2, NULL, "invalid JSON: ", -EBADMSG, true);
                check_bad(gc->format, data, len - 2, NULL, "invalid JSON: ", -EBADMSG, true);

                want = xasprintf("more than %zu rows", opts.max_rows);
                check_bad(gc->format, data, len, &opts, want, -E2BIG, false);

                /* Exactly at the cap is fine. */
                opts.max_rows = gc->n_expect;
                assert_int_equal(parse(gc->format, data, len, &opts, &l, &err), 0);
                assert_int_equal(l.n, gc->n_expect);
                observation_list_clear(&l);
        }
}

static void test_depth_cap(void **state)
{
        static const struct {
                const char *format, *prefix, *suffix;
        } shapes[] = {
            /* The outer object is level 1, so N brackets make depth N + 1. */
            {"litellm", "{\"x\": {\"litellm_provider\": \"p\"}, \"deep\": ", "}"},
            {"models-dev", "{\"p\": {\"models\": {}}, \"deep\": ", "}"},
            {"openrouter", "{\"data\": [], \"deep\": ", "}"},
            /* An escaped backslash right before a closing quote ends the string. */
            {"litellm", "{\"x\\\\\": {\"litellm_provider\": \"p\\\\\"}, \"deep\": ", "}"},
        };

        for (size_t i = 0; i < ELEMENTSOF(shapes); i++) {
                _cleanup_free_ char *ok = NULL, *deep = NULL, *quoted = NULL;
                ObservationList l = {0};
                AdapterError err;
                int r;

                ok = nested(shapes[i].prefix, ADAPTER_MAX_DEPTH - 1, shapes[i].suffix);
                r = parse(shapes[i].format, ok, strlen(ok), NULL, &l, &err);
                if (r < 0)
                        fail_msg("%s at the depth cap: %s", shapes[i].format, err.message);
                observation_list_clear(&l);

                deep = nested(shapes[i].prefix, ADAPTER_MAX_DEPTH, shapes[i].suffix);
                check_bad(shapes[i].format, deep, strlen(deep), NULL, "JSON nested deeper than 64",
                          -ELOOP, true);
                /* The offset names the first bracket past the cap. */
                r = parse(shapes[i].format, deep, strlen(deep), NULL, &l, &err);
                assert_int_equal(r, -ELOOP);
                assert_int_equal(err.offset, strlen(shapes[i].prefix) + ADAPTER_MAX_DEPTH - 1);
                assert_int_equal(deep[err.offset], '[');

                /* Brackets inside strings are text, not nesting. */
                _cleanup_free_ char *brackets = xmalloc(200);
                memset(brackets, '[', 199);
                brackets[199] = '\0';
                quoted = xasprintf("%s\"%s\\\"[\"%s", shapes[i].prefix, brackets, shapes[i].suffix);
                r = parse(shapes[i].format, quoted, strlen(quoted), NULL, &l, &err);
                if (r < 0)
                        fail_msg("%s with brackets in a string: %s", shapes[i].format, err.message);
                observation_list_clear(&l);
        }
}

typedef struct FingerprintCase {
        const char *format;
        const char *base;
        const char *same;    /* other content, same structure */
        const char *renamed; /* a relied-on field renamed */
} FingerprintCase;

static const FingerprintCase fingerprint_cases[] = {
    {"litellm",
     "{\"a\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\", \"input_cost_per_token\": "
     "1e-06, \"output_cost_per_token\": 2e-06}}",
     "{\"b\": {\"litellm_provider\": \"bedrock\", \"mode\": \"chat\", "
     "\"input_cost_per_token\": 3e-06, \"output_cost_per_token\": 4e-06}, \"c\": "
     "{\"litellm_provider\": \"azure\", \"mode\": \"embedding\", \"input_cost_per_token\": 0, "
     "\"output_cost_per_token\": 0, \"deprecation_date\": \"2026-01-01\"}}",
     "{\"a\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\", \"input_cost_per_tok\": "
     "1e-06, \"output_cost_per_token\": 2e-06}}"},
    {"models-dev",
     "{\"p\": {\"id\": \"p\", \"models\": {\"m\": {\"id\": \"m\", \"name\": \"M\", \"cost\": "
     "{\"input\": 1, \"output\": 2}}}}}",
     "{\"q\": {\"id\": \"q\", \"models\": {\"n\": {\"id\": \"n\", \"name\": \"N\", \"cost\": "
     "{\"input\": 3, \"output\": 4}, \"status\": \"deprecated\"}, \"o\": {\"id\": \"o\", "
     "\"name\": \"O\", \"cost\": {\"input\": 5, \"output\": 6}}}}}",
     "{\"p\": {\"id\": \"p\", \"models\": {\"m\": {\"id\": \"m\", \"name\": \"M\", \"pricing\": "
     "{\"input\": 1, \"output\": 2}}}}}"},
    {"openrouter",
     "{\"data\": [{\"id\": \"a/b\", \"name\": \"B\", \"pricing\": {\"prompt\": \"0.1\", "
     "\"completion\": \"0.2\"}, \"expiration_date\": null}]}",
     "{\"data\": [{\"id\": \"c/d\", \"name\": \"D\", \"pricing\": {\"prompt\": \"0.3\", "
     "\"completion\": \"0.4\"}, \"expiration_date\": \"2026-01-01\"}, {\"id\": \"e/f\", "
     "\"name\": \"F\", \"pricing\": {\"prompt\": \"-1\", \"completion\": \"-1\"}, "
     "\"expiration_date\": null}]}",
     "{\"data\": [{\"id\": \"a/b\", \"name\": \"B\", \"pricing\": {\"input\": \"0.1\", "
     "\"completion\": \"0.2\"}, \"expiration_date\": null}]}"},
};

static uint64_t fingerprint_of(const char *format, const char *input)
{
        ObservationList l = {0};
        AdapterError err;
        uint64_t h;

        if (parse(format, input, strlen(input), NULL, &l, &err) < 0)
                fail_msg("%s: %s on %s", format, err.message, input);
        assert_true(l.n > 0);
        h = l.fingerprint;
        observation_list_clear(&l);
        return h;
}

static void test_fingerprint(void **state)
{
        uint64_t seen[ELEMENTSOF(fingerprint_cases)];

        for (size_t i = 0; i < ELEMENTSOF(fingerprint_cases); i++) {
                const FingerprintCase *fc = &fingerprint_cases[i];
                uint64_t base = fingerprint_of(fc->format, fc->base);

                assert_int_not_equal(base, 0);
                if (fingerprint_of(fc->format, fc->same) != base)
                        fail_msg("%s: content change moved the fingerprint", fc->format);
                if (fingerprint_of(fc->format, fc->renamed) == base)
                        fail_msg("%s: a renamed field kept the fingerprint", fc->format);
                seen[i] = base;
        }
        /* The formats' fingerprints do not collide with each other. */
        for (size_t i = 0; i < ELEMENTSOF(seen); i++)
                for (size_t j = i + 1; j < ELEMENTSOF(seen); j++)
                        assert_int_not_equal(seen[i], seen[j]);
}

static void test_long_ids_skipped(void **state)
{
        char id[ADAPTER_MAX_ID_LEN + 2];
        _cleanup_free_ char *lit = NULL, *md = NULL, *orr = NULL;
        ObservationList l = {0};
        AdapterError err;

        memset(id, 'x', sizeof(id) - 1);
        id[sizeof(id) - 1] = '\0';
        lit = xasprintf("{\"%s\": {\"litellm_provider\": \"openai\"}, \"ok\": "
                        "{\"litellm_provider\": \"openai\"}}",
                        id);
        md = xasprintf("{\"p\": {\"models\": {\"%s\": {}, \"ok\": {}}}}", id);
        orr = xasprintf("{\"data\": [{\"id\": \"%s\"}, {\"id\": \"ok\"}]}", id);

        const struct {
                const char *format, *input;
        } cases[] = {{"litellm", lit}, {"models-dev", md}, {"openrouter", orr}};
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_int_equal(
                    parse(cases[i].format, cases[i].input, strlen(cases[i].input), NULL, &l, &err),
                    0);
                assert_int_equal(l.n, 1);
                assert_string_equal(l.items[0].model, "ok");
                observation_list_clear(&l);
        }
}

/* The input is not NUL-terminated: bytes after len must not be read as JSON. */
static void test_length_respected(void **state)
{
        static const char buf[] = "{\"data\": [{\"id\": \"a/b\"}]}GARBAGE";
        ObservationList l = {0};
        AdapterError err;

        assert_int_equal(parse("openrouter", buf, strlen(buf) - 7, NULL, &l, &err), 0);
        assert_int_equal(l.n, 1);
        observation_list_clear(&l);
        assert_int_equal(parse("openrouter", buf, strlen(buf), NULL, &l, &err), -EBADMSG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_good_inputs),
            cmocka_unit_test(test_openrouter_provider_option),
            cmocka_unit_test(test_bad_inputs),
            cmocka_unit_test(test_truncated_and_row_cap),
            cmocka_unit_test(test_depth_cap),
            cmocka_unit_test(test_fingerprint),
            cmocka_unit_test(test_long_ids_skipped),
            cmocka_unit_test(test_length_respected),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
