/* The catalogue adapters over the real captures in ../shared/fixtures (read in place):
 * every file parses, per-provider counts are printed, and hand-checked facts hold. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

static const char *fixtures;

#define LITELLM_2025_11 "litellm/model_prices_and_context_window.upstream.2025-11-21.json"
#define LITELLM_2026_03 "litellm/model_prices_and_context_window.rocry-mirror.2026-03-01.json"
#define LITELLM_2026_07 "litellm/model_prices_and_context_window.rocry-mirror.2026-07-24.json"
#define MODELS_DEV      "models.dev-api/api.jq-sorted.2026-06-09.json"
#define OPENROUTER      "openrouter/api-v1-models.2026-05-15.json"

typedef struct ProviderCount {
        const char *provider;
        size_t n;
} ProviderCount;

static int count_cmp(const void *a, const void *b)
{
        const ProviderCount *x = a, *y = b;

        if (x->n != y->n)
                return x->n < y->n ? 1 : -1;
        return strcmp(x->provider, y->provider);
}

static void print_counts(const char *file, const ObservationList *l)
{
        _cleanup_free_ ProviderCount *counts = NULL;
        size_t n = 0, cap = 0;

        for (size_t i = 0; i < l->n; i++) {
                const char *p = l->items[i].provider ?: "(default)";
                size_t j;

                for (j = 0; j < n; j++)
                        if (streq(counts[j].provider, p))
                                break;
                if (j == n) {
                        util_grow((void **)&counts, &cap, n + 1, sizeof(*counts));
                        counts[n++] = (ProviderCount){p, 0};
                }
                counts[j].n++;
        }
        qsort(counts, n, sizeof(*counts), count_cmp);
        printf("%s: %zu observations, %zu providers; top %zu:\n", file, l->n, n, MIN(n, 15));
        for (size_t i = 0; i < n && i < 15; i++)
                printf("  %6zu  %s\n", counts[i].n, counts[i].provider);
}

static void parse_file(const char *format, const char *file, ObservationList *out)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", fixtures, file);
        _cleanup_free_ char *data = NULL;
        AdapterError err;
        size_t len;
        int r;

        r = util_read_file(path, ADAPTER_MAX_BYTES_DEFAULT, &data, &len);
        if (r < 0)
                fail_msg("cannot read %s: %s", path, strerror(-r));
        r = adapter_parse(adapter_find(format), data, len, NULL, out, &err);
        if (r < 0)
                fail_msg("%s: %s at %zu (%u:%u)", file, err.message, err.offset, err.line, err.col);
        assert_true(out->n > 0);
        assert_int_not_equal(out->fingerprint, 0);
        print_counts(file, out);
}

static const Observation *find(const ObservationList *l, const char *provider, const char *model)
{
        for (size_t i = 0; i < l->n; i++)
                if (streq_ptr(l->items[i].provider, provider) && streq(l->items[i].model, model))
                        return &l->items[i];
        return NULL;
}

static const Observation *expect(const ObservationList *l, const char *provider, const char *model,
                                 double price_in)
{
        const Observation *o = find(l, provider, model);

        if (!o)
                fail_msg("no observation %s / %s", provider, model);
        if (!(fabs(o->price_in - price_in) < 1e-9))
                fail_msg("%s / %s: price_in %.9g, want %.9g", provider, model, o->price_in,
                         price_in);
        assert_true(o->available);
        return o;
}

static bool has_region(const Observation *o, const char *region)
{
        for (size_t i = 0; i < o->n_regions; i++)
                if (streq(o->regions[i], region))
                        return true;
        return false;
}

static size_t count_model(const ObservationList *l, const char *model)
{
        size_t n = 0;

        for (size_t i = 0; i < l->n; i++)
                n += streq(l->items[i].model, model);
        return n;
}

/* Every LiteLLM capture parses; skipped keys never show up as models. */
static void test_litellm_all(void **state)
{
        static const char *const files[] = {LITELLM_2025_11, LITELLM_2026_03, LITELLM_2026_07};
        /* Counted independently with a Python filter applying the documented rules
         * (object value, not sample_spec, string litellm_provider, a language-model mode
         * -- chat, completion, responses, realtime -- or none). */
        static const size_t want[] = {1483, 2128, 2442};
        uint64_t fp = 0;

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                ObservationList l = {0};

                parse_file("litellm", files[i], &l);
                assert_int_equal(l.n, want[i]);
                assert_int_equal(count_model(&l, "sample_spec"), 0);
                assert_int_equal(count_model(&l, "last_updated"), 0);
                /* Embedding models are not text generation. */
                assert_int_equal(count_model(&l, "text-embedding-3-large"), 0);
                /* One structure across the upstream file and the mirror copies. */
                if (i > 0)
                        assert_int_equal(l.fingerprint, fp);
                fp = l.fingerprint;
                observation_list_clear(&l);
        }
}

static void test_litellm_2026_07(void **state)
{
        ObservationList l = {0};
        const Observation *o;

        parse_file("litellm", LITELLM_2026_07, &l);
        expect(&l, "bedrock_converse", "anthropic.claude-opus-4-7", 5.0);
        expect(&l, "vertex_ai-anthropic_models", "vertex_ai/claude-opus-4-7", 5.0);
        expect(&l, "azure_ai", "azure_ai/claude-opus-4-7", 5.0);
        o = expect(&l, "anthropic", "claude-opus-4-7", 5.0);
        assert_true(fabs(o->price_out - 25.0) < 1e-9);
        assert_int_equal(o->lifecycle, LIFECYCLE_UNKNOWN);

        /* Regions carried by the key. */
        o = find(&l, "bedrock", "bedrock/us-gov-east-1/anthropic.claude-3-5-sonnet-20240620-v1:0");
        assert_non_null(o);
        assert_true(has_region(o, "us-gov-east-1"));
        o = find(&l, "azure", "azure/eu/gpt-5.5");
        assert_non_null(o);
        assert_true(has_region(o, "eu"));
        assert_int_equal(o->n_regions, 1);

        /* Regions from supported_regions. */
        o = find(&l, "vertex_ai-qwen_models", "vertex_ai/qwen/qwen3-235b-a22b-instruct-2507-maas");
        assert_non_null(o);
        assert_true(has_region(o, "global"));
        assert_true(has_region(o, "us-south1"));

        /* deprecation_date 2025-03-31 in every capture. */
        o = find(&l, "azure", "azure/gpt-3.5-turbo-0125");
        assert_non_null(o);
        assert_int_equal(o->lifecycle, LIFECYCLE_DEPRECATED);
        assert_int_equal(o->eol, INT64_C(1743379200));
        observation_list_clear(&l);
}

static void test_models_dev(void **state)
{
        static const struct {
                const char *provider, *model;
        } opus48[] = {
            {"amazon-bedrock", "anthropic.claude-opus-4-8"},
            {"amazon-bedrock", "us.anthropic.claude-opus-4-8"},
            {"amazon-bedrock", "global.anthropic.claude-opus-4-8"},
            {"google-vertex", "claude-opus-4-8@default"},
            {"google-vertex-anthropic", "claude-opus-4-8@default"},
            {"anthropic", "claude-opus-4-8"},
        };
        static const char *const azure_providers[] = {"azure", "azure-cognitive-services"};
        ObservationList l = {0};
        const Observation *o;

        parse_file("models-dev", MODELS_DEV, &l);
        /* Every model of every provider (Python: sum of len(p["models"])). */
        assert_int_equal(l.n, 5153);
        for (size_t i = 0; i < ELEMENTSOF(opus48); i++) {
                o = expect(&l, opus48[i].provider, opus48[i].model, 5.0);
                assert_true(fabs(o->price_out - 25.0) < 1e-9);
        }
        /* Azure lists Opus up to 4.6 and no 4.8 under any spelling. */
        for (size_t i = 0; i < ELEMENTSOF(azure_providers); i++) {
                assert_non_null(find(&l, azure_providers[i], "claude-opus-4-6"));
                for (size_t j = 0; j < l.n; j++)
                        if (streq(l.items[j].provider, azure_providers[i]) &&
                            (strstr(l.items[j].model, "opus-4-8") ||
                             strstr(l.items[j].model, "opus-4.8")))
                                fail_msg("%s lists %s", azure_providers[i], l.items[j].model);
        }
        o = find(&l, "anthropic", "claude-opus-4-7");
        assert_non_null(o);
        assert_string_equal(o->name, "Claude Opus 4.7");
        /* status "deprecated" stays available. */
        o = find(&l, "anthropic", "claude-3-5-sonnet-20240620");
        assert_non_null(o);
        assert_int_equal(o->lifecycle, LIFECYCLE_DEPRECATED);
        assert_true(o->available);
        observation_list_clear(&l);
}

static void test_openrouter(void **state)
{
        ObservationList l = {0};
        const Observation *o;

        parse_file("openrouter", OPENROUTER, &l);
        assert_int_equal(l.n, 364);
        o = expect(&l, "openrouter", "anthropic/claude-opus-4.7", 5.0);
        assert_true(fabs(o->price_out - 25.0) < 1e-9);
        assert_string_equal(o->vendor, "anthropic");
        assert_string_equal(o->name, "Anthropic: Claude Opus 4.7");
        /* The auto router publishes "-1": unknown, not negative. */
        o = find(&l, "openrouter", "openrouter/auto");
        assert_non_null(o);
        assert_true(isnan(o->price_in));
        observation_list_clear(&l);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_litellm_all),
            cmocka_unit_test(test_litellm_2026_07),
            cmocka_unit_test(test_models_dev),
            cmocka_unit_test(test_openrouter),
        };
        struct stat st;

        if (argc < 2 || stat(argv[1], &st) < 0 || !S_ISDIR(st.st_mode)) {
                fprintf(stderr, "fixtures directory absent, skipping\n");
                return 77;
        }
        fixtures = argv[1];
        return cmocka_run_group_tests(tests, NULL, NULL);
}
