/* Unit tests of the cloud API adapters: bedrock-model-cards, bedrock-api, azure-models. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define DATA_DIR LW_TEST_DATA "/adapters/clouds/"

static char *load(const char *file, size_t *ret_len)
{
        _cleanup_free_ char *path = xasprintf("%s%s", DATA_DIR, file);
        char *buf = NULL;
        size_t len = 0;

        assert_int_equal(util_read_file(path, 1024 * 1024, &buf, &len), 0);
        *ret_len = len;
        return buf;
}

static int parse(const char *format, const char *data, size_t len, const AdapterOptions *opts,
                 ObservationList *out, AdapterError *err)
{
        const Adapter *a = adapter_find(format);

        assert_non_null(a);
        return adapter_parse(a, data, len, opts, out, err);
}

static int parse_file(const char *format, const char *file, const AdapterOptions *opts,
                      ObservationList *out, AdapterError *err)
{
        size_t len;
        _cleanup_free_ char *buf = load(file, &len);

        return parse(format, buf, len, opts, out, err);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regions sorted and joined with ',' so expectations do not depend on object order. */
static char *regions_joined(const Observation *o)
{
        _cleanup_free_ char **v = xcalloc(o->n_regions + 1, sizeof(char *));
        char *s = xstrdup("");

        if (o->n_regions > 0)
                memcpy(v, o->regions, o->n_regions * sizeof(char *));
        qsort(v, o->n_regions, sizeof(char *), cmp_str);
        for (size_t i = 0; i < o->n_regions; i++) {
                char *t = xasprintf("%s%s%s", s, i ? "," : "", v[i]);
                free(s);
                s = t;
        }
        return s;
}

typedef struct Expect {
        const char *model;
        const char *provider;
        const char *vendor;
        const char *name;
        bool available;
        Lifecycle lifecycle;
        int64_t eol;
        const char *regions;
} Expect;

static void check_observations(const ObservationList *l, const Expect *e, size_t n)
{
        assert_int_equal(l->n, n);
        for (size_t i = 0; i < n; i++) {
                const Observation *o = &l->items[i];
                _cleanup_free_ char *regions = regions_joined(o);

                assert_string_equal(o->model, e[i].model);
                assert_string_equal(o->provider, e[i].provider);
                if (e[i].vendor)
                        assert_string_equal(o->vendor, e[i].vendor);
                else
                        assert_null(o->vendor);
                if (e[i].name)
                        assert_string_equal(o->name, e[i].name);
                else
                        assert_null(o->name);
                assert_int_equal(o->available, e[i].available);
                assert_string_equal(lifecycle_name(o->lifecycle), lifecycle_name(e[i].lifecycle));
                assert_int_equal(o->eol, e[i].eol);
                assert_string_equal(regions, e[i].regions);
                assert_true(isnan(o->price_in));
                assert_true(isnan(o->price_out));
        }
}

static const Expect cards_good[] = {
    {"anthropic.claude-test-1-20260101-v1:0", "bedrock", "Anthropic", "Claude Test 1", true,
     LIFECYCLE_ACTIVE, 0, "ap-south-1,eu-west-1,us-east-1,us-gov-west-1"},
    {"anthropic.claude-test-1", "bedrock", "Anthropic", "Claude Test 1", true, LIFECYCLE_ACTIVE, 0,
     "ap-south-1,eu-west-1,us-east-1,us-gov-west-1"},
    {"meta.llama-test-70b-v1:0", "bedrock", "Meta", "Llama Test 70B", false, LIFECYCLE_LEGACY, 0,
     ""},
    {"stability.image-test-v1:0", "bedrock", "Stability AI", "Image Test Preview", true,
     LIFECYCLE_PREVIEW, 0, "us-gov-east-1,us-west-2"},
};

static const Expect api_foundation_models[] = {
    {"anthropic.claude-test-1-20260101-v1:0", "bedrock", "Anthropic", "Claude Test 1", true,
     LIFECYCLE_ACTIVE, 0, "us-east-1"},
    {"anthropic.claude-test-0-v2:1:200k", "bedrock", "Anthropic", "Claude Test 0", true,
     LIFECYCLE_LEGACY, 1772323200 /* 2026-03-01 */, "us-east-1"},
    {"meta.llama-test-8b-v1:0", "bedrock", "Meta", "Llama Test 8B", true, LIFECYCLE_ACTIVE, 0,
     "us-gov-west-1"},
    {"amazon.titan-test-v1", "bedrock", "Amazon", "Titan Test", true, LIFECYCLE_ACTIVE, 0, ""},
};

static const Expect api_inference_profiles[] = {
    {"us.anthropic.claude-test-1-20260101-v1:0", "bedrock", NULL, "US Anthropic Claude Test 1",
     true, LIFECYCLE_ACTIVE, 0, "us-east-1,us-east-2,us-west-2"},
    {"global.anthropic.claude-test-1-20260101-v1:0", "bedrock", NULL,
     "GLOBAL Anthropic Claude Test 1", true, LIFECYCLE_ACTIVE, 0, "us-east-1"},
};

static const Expect azure_models[] = {
    {"gpt-test", "azure", "OpenAI", NULL, true, LIFECYCLE_ACTIVE, 1772323200 /* 2026-03-01 */, ""},
    {"Llama-Test-70B-Instruct", "azure", "Meta", NULL, true, LIFECYCLE_ACTIVE, 0, ""},
    {"mistral-test", "azure", "Mistral AI", NULL, true, LIFECYCLE_PREVIEW,
     1771113600 /* 2026-02-15 */, ""},
    {"grok-test", "azure", "xAI", NULL, false, LIFECYCLE_RETIRED, 1720137600 /* 2024-07-05 */, ""},
};

static const Expect api_profiles_with_options[] = {
    {"us.anthropic.claude-test-1-20260101-v1:0", "aws-gov", "Fallback",
     "US Anthropic Claude Test 1", true, LIFECYCLE_ACTIVE, 0, "us-east-1,us-east-2,us-west-2"},
    {"global.anthropic.claude-test-1-20260101-v1:0", "aws-gov", "Fallback",
     "GLOBAL Anthropic Claude Test 1", true, LIFECYCLE_ACTIVE, 0, "us-east-1"},
};

static const struct {
        const char *format;
        const char *file;
        AdapterOptions opts;
        const Expect *expect;
        size_t n;
} good_cases[] = {
    {"bedrock-model-cards", "cards-good.json", {0}, cards_good, ELEMENTSOF(cards_good)},
    {"bedrock-api",
     "api-foundation-models.json",
     {0},
     api_foundation_models,
     ELEMENTSOF(api_foundation_models)},
    {"bedrock-api",
     "api-inference-profiles.json",
     {0},
     api_inference_profiles,
     ELEMENTSOF(api_inference_profiles)},
    {"bedrock-api",
     "api-inference-profiles.json",
     {.provider = "aws-gov", .vendor = "Fallback"},
     api_profiles_with_options,
     ELEMENTSOF(api_profiles_with_options)},
    {"azure-models", "azure-models.json", {0}, azure_models, ELEMENTSOF(azure_models)},
};

static void test_good_inputs(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(good_cases); i++) {
                ObservationList l = {0};
                AdapterError err;

                print_message("good: %s %s\n", good_cases[i].format, good_cases[i].file);
                assert_int_equal(parse_file(good_cases[i].format, good_cases[i].file,
                                            &good_cases[i].opts, &l, &err),
                                 0);
                check_observations(&l, good_cases[i].expect, good_cases[i].n);
                assert_true(l.fingerprint != 0);
                observation_list_clear(&l);
        }
}

enum { SRC_INLINE, SRC_FILE, SRC_TRUNCATED, SRC_NESTED };

static const struct {
        const char *format;
        int src;
        const char *text; /* inline text or file name */
        size_t depth;     /* for SRC_NESTED */
        size_t max_rows;
        int ret;
        const char *message;
        bool prefix; /* message is a prefix: the rest is jansson's wording */
} bad_cases[] = {
    /* bedrock-model-cards */
    {"bedrock-model-cards", SRC_INLINE, "<html>not json</html>", 0, 0, -EBADMSG,
     "invalid JSON: ", true},
    {"bedrock-model-cards", SRC_TRUNCATED, "cards-good.json", 0, 0, -EBADMSG,
     "invalid JSON: ", true},
    {"bedrock-model-cards", SRC_INLINE, "[]", 0, 0, -EBADMSG,
     "expected an object with a \"models\" array", false},
    {"bedrock-model-cards", SRC_INLINE, "{\"data\": {\"models\": []}}", 0, 0, -EBADMSG,
     "expected an object with a \"models\" array", false},
    {"bedrock-model-cards", SRC_INLINE, "{\"models\": {}}", 0, 0, -EBADMSG,
     "expected an object with a \"models\" array", false},
    {"bedrock-model-cards", SRC_FILE, "cards-bad-count.json", 0, 0, -EBADMSG,
     "modelCount says 116, models has 2", false},
    {"bedrock-model-cards", SRC_INLINE, "{\"modelCount\": \"0\", \"models\": []}", 0, 0, -EBADMSG,
     "modelCount is not an integer", false},
    {"bedrock-model-cards", SRC_INLINE,
     "{\"models\": [{\"provider\": \"Meta\", \"programmaticAccess\": [{\"id\": \"x\"}]}]}", 0, 0,
     -EBADMSG, "no card has a programmaticAccess modelId", false},
    {"bedrock-model-cards", SRC_NESTED, NULL, ADAPTER_MAX_DEPTH + 1, 0, -EBADMSG,
     "JSON nested deeper than 64 levels", false},
    /* Exactly at the cap the nesting is accepted and the shape check speaks. */
    {"bedrock-model-cards", SRC_NESTED, NULL, ADAPTER_MAX_DEPTH, 0, -EBADMSG,
     "expected an object with a \"models\" array", false},
    {"bedrock-model-cards", SRC_FILE, "cards-good.json", 0, 1, -E2BIG, "more than 1 rows", false},
    /* bedrock-api */
    {"bedrock-api", SRC_INLINE, "modelSummaries", 0, 0, -EBADMSG, "invalid JSON: ", true},
    {"bedrock-api", SRC_TRUNCATED, "api-inference-profiles.json", 0, 0, -EBADMSG,
     "invalid JSON: ", true},
    {"bedrock-api", SRC_INLINE, "[{\"modelId\": \"a.b\"}]", 0, 0, -EBADMSG,
     "expected an object with a \"modelSummaries\" or \"inferenceProfileSummaries\" array", false},
    {"bedrock-api", SRC_INLINE, "{\"models\": []}", 0, 0, -EBADMSG,
     "expected an object with a \"modelSummaries\" or \"inferenceProfileSummaries\" array", false},
    {"bedrock-api", SRC_INLINE, "{\"modelSummaries\": {\"modelId\": \"a.b\"}}", 0, 0, -EBADMSG,
     "expected an object with a \"modelSummaries\" or \"inferenceProfileSummaries\" array", false},
    {"bedrock-api", SRC_INLINE, "{\"modelSummaries\": [{\"id\": \"a.b\"}]}", 0, 0, -EBADMSG,
     "no entry has a \"modelId\"", false},
    {"bedrock-api", SRC_INLINE, "{\"inferenceProfileSummaries\": [{\"id\": \"us.a.b\"}]}", 0, 0,
     -EBADMSG, "no entry has a \"inferenceProfileId\"", false},
    {"bedrock-api", SRC_NESTED, NULL, ADAPTER_MAX_DEPTH + 1, 0, -EBADMSG,
     "JSON nested deeper than 64 levels", false},
    {"bedrock-api", SRC_FILE, "api-foundation-models.json", 0, 2, -E2BIG, "more than 2 rows",
     false},
    /* azure-models */
    {"azure-models", SRC_INLINE, "", 0, 0, -EBADMSG, "invalid JSON: ", true},
    {"azure-models", SRC_TRUNCATED, "azure-models.json", 0, 0, -EBADMSG, "invalid JSON: ", true},
    {"azure-models", SRC_INLINE, "{\"value\": []}", 0, 0, -EBADMSG,
     "expected a JSON array of models", false},
    {"azure-models", SRC_INLINE, "[{\"kind\": \"OpenAI\", \"skuName\": \"S0\"}]", 0, 0, -EBADMSG,
     "no entry has a \"model\" object", false},
    {"azure-models", SRC_NESTED, NULL, ADAPTER_MAX_DEPTH + 1, 0, -EBADMSG,
     "JSON nested deeper than 64 levels", false},
    {"azure-models", SRC_FILE, "azure-models.json", 0, 2, -E2BIG, "more than 2 rows", false},
};

static char *nested(size_t depth, size_t *ret_len)
{
        char *s = xmalloc(2 * depth + 1);

        memset(s, '[', depth);
        memset(s + depth, ']', depth);
        s[2 * depth] = '\0';
        *ret_len = 2 * depth;
        return s;
}

static void test_bad_inputs(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                AdapterOptions opts = {.max_rows = bad_cases[i].max_rows};
                ObservationList l = {0};
                AdapterError err;
                _cleanup_free_ char *buf = NULL;
                size_t len = 0;
                int r;

                print_message("bad %zu: %s\n", i, bad_cases[i].format);
                switch (bad_cases[i].src) {
                case SRC_INLINE:
                        buf = xstrdup(bad_cases[i].text);
                        len = strlen(buf);
                        break;
                case SRC_FILE:
                        buf = load(bad_cases[i].text, &len);
                        break;
                case SRC_TRUNCATED:
                        buf = load(bad_cases[i].text, &len);
                        len /= 2;
                        break;
                case SRC_NESTED:
                        buf = nested(bad_cases[i].depth, &len);
                        break;
                }
                r = parse(bad_cases[i].format, buf, len, &opts, &l, &err);
                assert_int_equal(r, bad_cases[i].ret);
                if (bad_cases[i].prefix) {
                        assert_non_null(startswith(err.message, bad_cases[i].message));
                        assert_true(strlen(err.message) > strlen(bad_cases[i].message));
                        assert_true(err.line >= 1);
                } else {
                        assert_string_equal(err.message, bad_cases[i].message);
                }
                if (bad_cases[i].src == SRC_NESTED && bad_cases[i].depth > ADAPTER_MAX_DEPTH)
                        assert_int_equal(err.offset, ADAPTER_MAX_DEPTH);
                /* A failed parse yields nothing. */
                assert_int_equal(l.n, 0);
                observation_list_clear(&l);
        }
}

/* Brackets inside strings are text, not nesting. */
static void test_brackets_in_strings(void **state)
{
        static const struct {
                const char *format, *before, *after;
        } cases[] = {
            {"bedrock-model-cards", "{\"models\": [], \"note\": \"", "\"}"},
            {"bedrock-api", "{\"modelSummaries\": [], \"note\": \"", "\"}"},
            {"azure-models", "[{\"kind\": \"",
             "\", \"model\": {\"name\": \"m\", \"capabilities\": {}}}]"},
        };
        char deep[2 * ADAPTER_MAX_DEPTH + 8];

        memset(deep, '[', sizeof(deep) - 1);
        deep[sizeof(deep) - 1] = '\0';
        deep[0] = '\\';
        deep[1] = '"';
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = NULL;
                ObservationList l = {0};
                AdapterError err;

                text = xasprintf("%s%s%s", cases[i].before, deep, cases[i].after);
                assert_int_equal(parse(cases[i].format, text, strlen(text), NULL, &l, &err), 0);
                assert_int_equal(l.n, 0);
                observation_list_clear(&l);
        }
}

static const struct {
        const char *format;
        const char *a, *b;
        bool equal;
} fingerprint_cases[] = {
    {"bedrock-model-cards", "cards-good.json", "cards-content.json", true},
    {"bedrock-model-cards", "cards-content.json", "cards-renamed.json", false},
    {"bedrock-api", "api-foundation-models.json", "api-foundation-models-content.json", true},
    {"bedrock-api", "api-foundation-models-content.json", "api-foundation-models-renamed.json",
     false},
    {"bedrock-api", "api-foundation-models.json", "api-inference-profiles.json", false},
    {"azure-models", "azure-models.json", "azure-models-content.json", true},
    {"azure-models", "azure-models-content.json", "azure-models-renamed.json", false},
};

static void test_fingerprint(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(fingerprint_cases); i++) {
                ObservationList a = {0}, b = {0};
                AdapterError err;

                print_message("fingerprint: %s vs %s\n", fingerprint_cases[i].a,
                              fingerprint_cases[i].b);
                assert_int_equal(
                    parse_file(fingerprint_cases[i].format, fingerprint_cases[i].a, NULL, &a, &err),
                    0);
                assert_int_equal(
                    parse_file(fingerprint_cases[i].format, fingerprint_cases[i].b, NULL, &b, &err),
                    0);
                assert_true(a.n > 0 && b.n > 0);
                if (fingerprint_cases[i].equal)
                        assert_true(a.fingerprint == b.fingerprint);
                else
                        assert_true(a.fingerprint != b.fingerprint);
                observation_list_clear(&a);
                observation_list_clear(&b);
        }
}

/* The date arithmetic must agree with the calendar at edges: leap days, epoch, and the
 * Azure placeholder year that means "no date". */
static void test_dates(void **state)
{
        static const struct {
                const char *date;
                int64_t eol;
        } cases[] = {
            {"1970-01-01T00:00:00Z", 0}, {"2000-02-29T00:00:00Z", 951782400},
            {"2026-03-01", 1772323200},  {"2099-12-31T00:00:00Z", 0},
            {"2025-02-29T00:00:00Z", 0}, /* not a date: unknown */
            {"next tuesday", 0},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *az =
                    xasprintf("[{\"model\": {\"name\": \"m\", \"format\": \"OpenAI\", "
                              "\"capabilities\": {\"chatCompletion\": \"true\"}, "
                              "\"deprecation\": {\"inference\": \"%s\"}}}]",
                              cases[i].date);
                _cleanup_free_ char *aws =
                    xasprintf("{\"modelSummaries\": [{\"modelId\": \"a.m\", \"modelLifecycle\": "
                              "{\"status\": \"LEGACY\", \"endOfLifeTime\": \"%s\"}}]}",
                              cases[i].date);
                ObservationList l = {0};
                AdapterError err;

                print_message("date %s\n", cases[i].date);
                assert_int_equal(parse("azure-models", az, strlen(az), NULL, &l, &err), 0);
                assert_int_equal(l.n, 1);
                assert_int_equal(l.items[0].eol, cases[i].eol);
                observation_list_clear(&l);
                /* Only Azure has the placeholder year. */
                if (startswith(cases[i].date, "2099"))
                        continue;
                assert_int_equal(parse("bedrock-api", aws, strlen(aws), NULL, &l, &err), 0);
                assert_int_equal(l.n, 1);
                assert_int_equal(l.items[0].eol, cases[i].eol);
                observation_list_clear(&l);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_good_inputs),
            cmocka_unit_test(test_bad_inputs),
            cmocka_unit_test(test_brackets_in_strings),
            cmocka_unit_test(test_fingerprint),
            cmocka_unit_test(test_dates),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
