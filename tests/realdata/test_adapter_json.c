/* The generic json adapter against the dedicated adapters, on the same real captures
 * (fixtures directory in argv[1]): configured with paths, it must find the same model ids
 * with the same prices. Also the worked examples of docs/adapters-json.md. */
#include <jansson.h>
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

#define OPENROUTER      "openrouter/api-v1-models.2026-05-15.json"
#define LITELLM_2025_11 "litellm/model_prices_and_context_window.upstream.2025-11-21.json"
#define LITELLM_2026_07 "litellm/model_prices_and_context_window.rocry-mirror.2026-07-24.json"
#define MODELS_DEV      "models.dev-api/api.jq-sorted.2026-06-09.json"
#define BEDROCK_API     "aws-bedrock-api/list-foundation-models.us-east-1.2026-01-01.json"
#define AZURE_API       "azure-api/az-cognitiveservices-model-list.2025-05-25.json"

static char *read_fixture(const char *rel, size_t *ret_len)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", fixtures, rel);
        char *data = NULL;
        int r;

        r = util_read_file(path, ADAPTER_MAX_BYTES_DEFAULT, &data, ret_len);
        if (r < 0)
                fail_msg("cannot read %s: %s", path, strerror(-r));
        return data;
}

static void parse_with(const char *format, const AdapterOptions *opts, const char *rel,
                       const char *data, size_t len, ObservationList *out)
{
        AdapterError err;
        int r;

        r = adapter_parse(adapter_find(format), data, len, opts, out, &err);
        if (r < 0)
                fail_msg("%s as %s: %s", rel, format, err.message);
        assert_true(out->n > 0);
        assert_int_not_equal(out->fingerprint, 0);
}

static int cmp_obs(const void *a, const void *b)
{
        const Observation *x = *(const Observation *const *)a, *y = *(const Observation *const *)b;
        int c = strcmp(x->provider ?: "", y->provider ?: "");

        return c ? c : strcmp(x->model, y->model);
}

/* The observations sorted by (provider, model), as pointers into l. */
static const Observation **sorted(const ObservationList *l)
{
        const Observation **v = xcalloc(l->n ? l->n : 1, sizeof(*v));

        for (size_t i = 0; i < l->n; i++)
                v[i] = &l->items[i];
        qsort(v, l->n, sizeof(*v), cmp_obs);
        return v;
}

static bool same_price(double a, double b)
{
        return (isnan(a) && isnan(b)) || fabs(a - b) <= 1e-9;
}

/* Walk both sorted lists. Every dedicated observation must have a generic twin with the
 * same prices (and name, when asked); each generic one without a twin goes to extra(),
 * which fails the test unless it says the dedicated adapter skips it on purpose. Returns
 * how many such extras there were. */
static size_t compare(const char *what, const ObservationList *dedicated,
                      const ObservationList *generic, bool names,
                      bool (*extra)(const Observation *o, void *userdata), void *userdata)
{
        _cleanup_free_ const Observation **d = sorted(dedicated);
        _cleanup_free_ const Observation **g = sorted(generic);
        size_t i = 0, j = 0, extras = 0;

        while (i < dedicated->n || j < generic->n) {
                int c = i >= dedicated->n ? 1 : j >= generic->n ? -1 : cmp_obs(&d[i], &g[j]);

                if (c < 0)
                        fail_msg("%s: the generic adapter has no %s / %s", what, d[i]->provider,
                                 d[i]->model);
                if (c > 0) {
                        if (!extra || !extra(g[j], userdata))
                                fail_msg("%s: the generic adapter alone has %s / %s", what,
                                         g[j]->provider, g[j]->model);
                        extras++;
                        j++;
                        continue;
                }
                if (!same_price(d[i]->price_in, g[j]->price_in) ||
                    !same_price(d[i]->price_out, g[j]->price_out))
                        fail_msg("%s: %s / %s: prices %.9g/%.9g, generic %.9g/%.9g", what,
                                 d[i]->provider, d[i]->model, d[i]->price_in, d[i]->price_out,
                                 g[j]->price_in, g[j]->price_out);
                if (names && !streq_ptr(d[i]->name, g[j]->name))
                        fail_msg("%s: %s / %s: name %s, generic %s", what, d[i]->provider,
                                 d[i]->model, d[i]->name ?: "(null)", g[j]->name ?: "(null)");
                i++;
                j++;
        }
        return extras;
}

static void test_openrouter(void **state)
{
        const AdapterOptions opts = {
            .rows = "data[*]",
            .columns = "id:model, pricing.prompt:price_in_per_token, "
                       "pricing.completion:price_out_per_token",
            .provider = "openrouter",
        };
        _cleanup_free_ char *data = NULL;
        ObservationList d = {0}, g = {0};
        size_t len, priced = 0;

        data = read_fixture(OPENROUTER, &len);
        parse_with("openrouter", NULL, OPENROUTER, data, len, &d);
        parse_with("json", &opts, OPENROUTER, data, len, &g);
        assert_int_equal(g.n, d.n);
        assert_int_equal(compare("openrouter", &d, &g, false, NULL, NULL), 0);
        for (size_t i = 0; i < g.n; i++)
                priced += !isnan(g.items[i].price_in);
        printf("%s: openrouter %zu, json %zu observations (%zu priced), all equal\n", OPENROUTER,
               d.n, g.n, priced);
        observation_list_clear(&d);
        observation_list_clear(&g);
}

/* What the litellm adapter skips on purpose: the sample entry, and modes that are not
 * text generation. The generic adapter has no such rule. */
static bool litellm_extra(const Observation *o, void *userdata)
{
        json_t *root = userdata, *entry = json_object_get(root, o->model);
        json_t *mode = json_object_get(entry, "mode");
        const char *m = json_string_value(mode);

        if (streq(o->model, "sample_spec"))
                return true;
        if (!mode || json_is_null(mode))
                return false;
        return !m || !(streq(m, "chat") || streq(m, "completion") || streq(m, "responses"));
}

static void test_litellm(void **state)
{
        static const char *const files[] = {LITELLM_2025_11, LITELLM_2026_07};
        const AdapterOptions opts = {
            .rows = "*",
            .columns = "@key:model, litellm_provider:provider, "
                       "input_cost_per_token:price_in_per_token, "
                       "output_cost_per_token:price_out_per_token",
        };

        for (size_t f = 0; f < ELEMENTSOF(files); f++) {
                _cleanup_free_ char *data = NULL;
                ObservationList d = {0}, g = {0};
                json_error_t jerr;
                json_t *root;
                size_t len, extras;

                data = read_fixture(files[f], &len);
                root = json_loadb(data, len, JSON_DECODE_INT_AS_REAL, &jerr);
                assert_non_null(root);
                parse_with("litellm", NULL, files[f], data, len, &d);
                parse_with("json", &opts, files[f], data, len, &g);
                extras = compare(files[f], &d, &g, false, litellm_extra, root);
                assert_int_equal(g.n, d.n + extras);
                printf("%s: litellm %zu, json %zu observations; the %zu more are sample_spec and "
                       "non-text modes\n",
                       files[f], d.n, g.n, extras);
                json_decref(root);
                observation_list_clear(&d);
                observation_list_clear(&g);
        }
}

/* models.dev names each provider only by the key above its "models": one provider at a
 * time, the generic adapter reads the same models, names and prices. */
static void test_models_dev_per_provider(void **state)
{
        static const char *const providers[] = {
            "amazon-bedrock", "anthropic", "azure", "google-vertex", "openrouter", "wafer.ai",
        };
        _cleanup_free_ char *data = NULL;
        ObservationList d = {0};
        size_t len;

        data = read_fixture(MODELS_DEV, &len);
        parse_with("models-dev", NULL, MODELS_DEV, data, len, &d);

        for (size_t p = 0; p < ELEMENTSOF(providers); p++) {
                _cleanup_free_ char *rows = xasprintf("\"%s\".models.*", providers[p]);
                const AdapterOptions opts = {
                    .rows = rows,
                    .columns = "@key:model, name:name, cost.input:price_in, cost.output:price_out",
                    .provider = providers[p],
                };
                ObservationList g = {0}, mine = {0};
                size_t n = 0;

                parse_with("json", &opts, MODELS_DEV, data, len, &g);
                /* The dedicated adapter's rows of this provider, as a list of their own. */
                for (size_t i = 0; i < d.n; i++)
                        if (streq(d.items[i].provider, providers[p]))
                                n++;
                mine.items = xcalloc(n ? n : 1, sizeof(Observation));
                for (size_t i = 0; i < d.n; i++)
                        if (streq(d.items[i].provider, providers[p]))
                                mine.items[mine.n++] = d.items[i];
                assert_int_equal(g.n, mine.n);
                assert_int_equal(compare(rows, &mine, &g, true, NULL, NULL), 0);
                printf("%s rows %s: models-dev %zu, json %zu observations, all equal\n", MODELS_DEV,
                       rows, mine.n, g.n);
                free(mine.items); /* the observations themselves belong to d */
                observation_list_clear(&g);
        }
        observation_list_clear(&d);
}

/* The worked examples of docs/adapters-json.md, with counts made independently. */
static void test_doc_examples(void **state)
{
        static const struct {
                const char *file, *rows, *columns, *provider;
                size_t n;
                const char *model, *check_provider, *name;
                Lifecycle lifecycle;
        } cases[] = {
            /* Python: len(d["modelSummaries"]) */
            {BEDROCK_API, "modelSummaries[*]",
             "modelId:model, modelName:name, providerName:vendor, modelLifecycle.status:lifecycle",
             "bedrock", 126, "anthropic.claude-3-haiku-20240307-v1:0", "bedrock", "Claude 3 Haiku",
             LIFECYCLE_ACTIVE},
            /* Python: len(d), every entry has model.name */
            {AZURE_API, NULL,
             "model.name:model, kind:vendor, model.lifecycleStatus:lifecycle, "
             "model.deprecation.inference:eol",
             "azure", 298, "dall-e-3", "azure", NULL, LIFECYCLE_ACTIVE},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const AdapterOptions opts = {.rows = cases[i].rows,
                                             .columns = cases[i].columns,
                                             .provider = cases[i].provider};
                _cleanup_free_ char *data = NULL;
                ObservationList g = {0};
                const Observation *o = NULL;
                size_t len;

                data = read_fixture(cases[i].file, &len);
                parse_with("json", &opts, cases[i].file, data, len, &g);
                assert_int_equal(g.n, cases[i].n);
                for (size_t j = 0; j < g.n && !o; j++)
                        if (streq(g.items[j].model, cases[i].model))
                                o = &g.items[j];
                if (!o)
                        fail_msg("%s: no %s", cases[i].file, cases[i].model);
                assert_string_equal(o->provider, cases[i].check_provider);
                assert_true(streq_ptr(o->name, cases[i].name));
                assert_int_equal(o->lifecycle, cases[i].lifecycle);
                printf("%s: %zu observations, fingerprint %016llx\n", cases[i].file, g.n,
                       (unsigned long long)g.fingerprint);
                observation_list_clear(&g);
        }
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_openrouter),
            cmocka_unit_test(test_litellm),
            cmocka_unit_test(test_models_dev_per_provider),
            cmocka_unit_test(test_doc_examples),
        };
        struct stat st;

        if (argc < 2 || stat(argv[1], &st) < 0 || !S_ISDIR(st.st_mode)) {
                fprintf(stderr, "fixtures directory absent, skipping\n");
                return 77;
        }
        fixtures = argv[1];
        return cmocka_run_group_tests(tests, NULL, NULL);
}
