/* Rendering: the grid for people and the JSON document for machines, compared with golden
 * files under tests/data/render/. The matrix is built through matrix_apply, as the daemon
 * builds it. Run with LW_UPDATE_GOLDEN=1 to rewrite the golden files (then review them). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "lockwatch/matrix.h"
#include "lockwatch/render.h"
#include "lockwatch/util.h"

#define T0   (UINT64_C(1780272000) * USEC_PER_SEC) /* 2026-06-01T00:00:00Z */
#define STEP USEC_PER_HOUR
#define NP   .pin = NAN, .pout = NAN

typedef struct Row {
        const char *provider;
        ProviderKind kind;
        const char *model;
        const char *raw;
        bool gone;
        const char *regions[4];
        double pin, pout;
        Lifecycle lc;
        int64_t eol;
        bool unmapped;
} Row;

static void apply_rows(Matrix *m, const char *source, const Row *rows, size_t n, uint64_t now)
{
        Observation obs[16];
        MatrixInput in[16];

        assert_true(n <= ELEMENTSOF(obs));
        for (size_t i = 0; i < n; i++) {
                size_t nr = 0;
                while (nr < ELEMENTSOF(rows[i].regions) && rows[i].regions[nr])
                        nr++;
                obs[i] = (Observation){
                    .model = (char *)(rows[i].raw ? rows[i].raw : rows[i].model),
                    .available = !rows[i].gone,
                    .regions = (char **)rows[i].regions,
                    .n_regions = nr,
                    .price_in = rows[i].pin,
                    .price_out = rows[i].pout,
                    .lifecycle = rows[i].lc,
                    .eol = rows[i].eol,
                };
                in[i] = (MatrixInput){rows[i].provider, rows[i].kind, rows[i].model,
                                      !rows[i].unmapped, &obs[i]};
        }
        assert_int_equal(matrix_apply(m, source, in, n, now, 2, NULL), 0);
}

#define LONG_ID "meta/llama-3-1-405b-instruct-with-a-context-window-variant-1m"

/* Three clouds, two direct APIs, one aggregator; one model on three clouds, two narrowed to a
 * single cloud, one that lost a cloud after two misses, one unmapped row, one overlong id. */
static Matrix *sample_matrix(void)
{
        const Row litellm[] = {
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "anthropic.claude-opus-4-7",
             .regions = {"us-east-1", "us-west-2"}, .pin = 5, .pout = 25, .lc = LIFECYCLE_ACTIVE},
            {"gcp", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "claude-opus-4-7@default",
             .regions = {"us-east5"}, .pin = 5, .pout = 25, .lc = LIFECYCLE_ACTIVE},
            {"azure", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "azure_ai/claude-opus-4-7",
             .pin = 5, .pout = 25, .lc = LIFECYCLE_PREVIEW},
            {"anthropic", PROVIDER_DIRECT, "anthropic/claude-opus-4-7", "claude-opus-4-7", .pin = 5,
             .pout = 25},
            {"azure", PROVIDER_CLOUD, "openai/gpt-5-5", "azure/eu/gpt-5.5",
             .regions = {"swedencentral"}, .pin = 1.25, .pout = 10},
            {"openai", PROVIDER_DIRECT, "openai/gpt-5-5", "gpt-5.5", .pin = 1.25, .pout = 10},
            {"aws", PROVIDER_CLOUD, "anthropic/claude-3-haiku",
             "anthropic.claude-3-haiku-20240307-v1:0", .regions = {"us-east-1"}, .pin = 0.25,
             .pout = 1.25, .lc = LIFECYCLE_DEPRECATED, .eol = 1795996800},
            {"aws", PROVIDER_CLOUD, LONG_ID, "meta.llama3-1-405b-instruct-v1:0", NP},
            {"gcp", PROVIDER_CLOUD, "anthropic/claude-3-haiku", "claude-3-haiku@20240307",
             .pin = 0.25, .pout = 1.25},
            {"anthropic", PROVIDER_DIRECT, "anthropic/claude-3-haiku", "claude-3-haiku-20240307",
             .gone = true, NP, .lc = LIFECYCLE_RETIRED},
        };
        const Row openrouter[] = {
            {"openrouter", PROVIDER_AGGREGATOR, "anthropic/claude-opus-4-7",
             "anthropic/claude-opus-4.7", .pin = 5, .pout = 25},
            {"openrouter", PROVIDER_AGGREGATOR, "openai/gpt-5-5", "openai/gpt-5.5", .pin = 1.25,
             .pout = 10},
            {"openrouter", PROVIDER_AGGREGATOR, "unmapped/caf\xc3\xa9-lm-2",
             "someone/Caf\xc3\xa9 LM 2", .unmapped = true, .pin = 3, .pout = 15},
        };
        Matrix *m = NULL;

        assert_int_equal(matrix_new(&m), 0);
        apply_rows(m, "litellm", litellm, ELEMENTSOF(litellm), T0);
        apply_rows(m, "openrouter", openrouter, ELEMENTSOF(openrouter), T0 + STEP);
        /* gcp drops claude-3-haiku for two good parses: K = 2 turns it unavailable. */
        apply_rows(m, "litellm", litellm, 8, T0 + 2 * STEP);
        apply_rows(m, "litellm", litellm, 8, T0 + 3 * STEP);
        return m;
}

static void check_golden(const char *name, const char *got)
{
        _cleanup_free_ char *path = xasprintf("%s/render/%s", LW_TEST_DATA, name);
        _cleanup_free_ char *want = NULL;
        size_t len;

        if (getenv("LW_UPDATE_GOLDEN")) {
                assert_int_equal(util_write_file_atomic(path, got, strlen(got), 0644), 0);
                return;
        }
        assert_int_equal(util_read_file(path, 1 << 20, &want, &len), 0);
        if (!streq(want, got)) {
                fprintf(stderr, "---- %s: got ----\n%s---- end ----\n", name, got);
                fail_msg("%s differs from the golden file", name);
        }
}

static char *render_text_to_string(const Matrix *m, const RenderOptions *o)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        assert_int_equal(render_matrix_text(f, m, o), 0);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static void test_text_golden(void **state)
{
        static const struct {
                const char *golden;
                RenderOptions o;
        } cases[] = {
            {"grid-utf8.txt", {.model_glob = NULL, .color = false, .ascii = false, .compact = false}},
            {"grid-ascii.txt", {.model_glob = NULL, .color = false, .ascii = true, .compact = false}},
            {"grid-color.txt", {.model_glob = NULL, .color = true, .ascii = false, .compact = false}},
            {"grid-filter-ascii.txt", {.model_glob = "ANTHROPIC/*", .color = false, .ascii = true, .compact = false}},
            {"grid-none-selected.txt", {.model_glob = "nothing/*", .color = false, .ascii = true, .compact = false}},
            {"grid-compact-utf8.txt", {.model_glob = NULL, .color = false, .ascii = false, .compact = true}},
            {"grid-compact-ascii.txt", {.model_glob = "*/*", .color = false, .ascii = true, .compact = true}},
        };
        Matrix *m = sample_matrix();

        for (size_t t = 0; t < ELEMENTSOF(cases); t++) {
                _cleanup_free_ char *got = render_text_to_string(m, &cases[t].o);
                check_golden(cases[t].golden, got);
        }
        matrix_free(m);
}

static void test_text_empty(void **state)
{
        RenderOptions o = {.ascii = true};
        Matrix *m = NULL;
        _cleanup_free_ char *got = NULL;

        assert_int_equal(matrix_new(&m), 0);
        got = render_text_to_string(m, &o);
        check_golden("grid-empty.txt", got);
        matrix_free(m);
}

/* Properties of the grid that must hold whatever the golden file says. */
static void test_text_shape(void **state)
{
        RenderOptions o = {.ascii = true};
        Matrix *m = sample_matrix();
        _cleanup_free_ char *got = render_text_to_string(m, &o);
        size_t width = 0, lines = 0;

        for (char *line = got, *end; *line; line = end + 1) {
                end = strchr(line, '\n');
                assert_non_null(end);
                lines++;
                /* ASCII mode prints nothing but ASCII, and no trailing blanks. */
                for (char *c = line; c < end; c++)
                        assert_true((unsigned char)*c < 0x80);
                assert_true(end == line || end[-1] != ' ');
                /* Rows and the provider header line up to the clouds column. */
                if (lines >= 2 && lines <= 2 + m->n_models) {
                        char *clouds = end;
                        if (end - line > 2 && end[-1] == '?')
                                clouds = end - 2;
                        if (width == 0)
                                width = (size_t)(clouds - line);
                        assert_int_equal((size_t)(clouds - line), width);
                }
        }
        assert_int_equal(lines, 2 + m->n_models + 1);
        /* The overlong id is cut to 48 columns with an ellipsis. */
        assert_non_null(strstr(got, "meta/llama-3-1-405b-instruct-with-a-context-w..."));
        assert_null(strstr(got, LONG_ID));
        matrix_free(m);
}

static void test_json_golden(void **state)
{
        static const struct {
                const char *golden;
                RenderOptions o;
        } cases[] = {
            {"matrix.json", {.model_glob = NULL, .color = false, .ascii = false, .compact = false}},
            {"matrix-filter.json", {.model_glob = "openai/*", .color = false, .ascii = false, .compact = false}},
        };
        Matrix *m = sample_matrix();

        for (size_t t = 0; t < ELEMENTSOF(cases); t++) {
                json_t *doc = NULL;
                _cleanup_free_ char *text = NULL, *nl = NULL;

                assert_int_equal(render_matrix_json(m, &cases[t].o, &doc), 0);
                text = json_dumps(doc, JSON_INDENT(2));
                assert_non_null(text);
                nl = xasprintf("%s\n", text);
                check_golden(cases[t].golden, nl);
                json_decref(doc);
        }
        matrix_free(m);
}

/* The JSON document agrees with the matrix it came from. */
static void test_json_consistent(void **state)
{
        Matrix *m = sample_matrix();
        json_t *doc = NULL, *models, *providers;

        assert_int_equal(render_matrix_json(m, NULL, &doc), 0);
        assert_string_equal(json_string_value(json_object_get(doc, "schema")),
                            "lockwatch.matrix/1");
        providers = json_object_get(doc, "providers");
        models = json_object_get(doc, "models");
        assert_int_equal(json_array_size(providers), m->n_providers);
        assert_int_equal(json_array_size(models), m->n_models);
        for (size_t r = 0; r < m->n_models; r++) {
                const MatrixModel *mm = m->models[r];
                json_t *mj = json_array_get(models, r), *cells = json_object_get(mj, "cells");
                size_t present = 0;

                assert_string_equal(json_string_value(json_object_get(mj, "id")), mm->id);
                assert_int_equal(json_integer_value(json_object_get(mj, "clouds_available")),
                                 matrix_count_providers(m, mm, PROVIDER_CLOUD, CELL_AVAILABLE));
                for (size_t i = 0; i < m->n_providers; i++) {
                        const Cell *c = matrix_cell(mm, i);
                        json_t *cj = json_object_get(cells, m->providers[i].id);
                        if (c->n_evidence == 0) {
                                assert_null(cj);
                                continue;
                        }
                        present++;
                        assert_string_equal(json_string_value(json_object_get(cj, "state")),
                                            cell_state_name(c->state));
                        assert_int_equal(json_array_size(json_object_get(cj, "sources")),
                                         c->n_evidence);
                        if (isnan(matrix_cell_price(c, false)))
                                assert_true(json_is_null(json_object_get(cj, "price_in")));
                        else
                                assert_true(json_real_value(json_object_get(cj, "price_in")) ==
                                            matrix_cell_price(c, false));
                }
                assert_int_equal(json_object_size(cells), present);
        }
        json_decref(doc);
        matrix_free(m);
}

static void test_model_selected(void **state)
{
        static const struct {
                const char *glob, *id;
                bool want;
        } cases[] = {
            {NULL, "anthropic/claude-opus-4-7", true},
            {"anthropic/*", "anthropic/claude-opus-4-7", true},
            {"ANTHROPIC/*", "anthropic/claude-opus-4-7", true},
            {"anthropic/*", "openai/gpt-5-5", false},
            {"*opus*", "anthropic/claude-opus-4-7", true},
            {"*/gpt-5-?", "openai/gpt-5-5", true},
            {"*/gpt-5-?", "openai/gpt-5-55", false},
            {"openai/gpt-[45]-5", "openai/gpt-5-5", true},
            {"", "openai/gpt-5-5", false},
            {"*", NULL, false},
        };

        for (size_t t = 0; t < ELEMENTSOF(cases); t++) {
                RenderOptions o = {.model_glob = cases[t].glob};
                assert_int_equal(render_model_selected(&o, cases[t].id), cases[t].want);
        }
        assert_true(render_model_selected(NULL, "x/y"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_text_golden),     cmocka_unit_test(test_text_empty),
            cmocka_unit_test(test_text_shape),      cmocka_unit_test(test_json_golden),
            cmocka_unit_test(test_json_consistent), cmocka_unit_test(test_model_selected),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
