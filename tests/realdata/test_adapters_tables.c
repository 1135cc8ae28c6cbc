/* The html-table and markdown-table adapters against the real Microsoft Learn pages
 * (fixtures directory in argv[1]): the facts checked by hand against the files hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

static const char *fixtures;

static const char *const claude_ids[] = {
    "claude-opus-4-6",   "claude-opus-4-5",  "claude-opus-4-1",
    "claude-sonnet-4-5", "claude-haiku-4-5",
};

static void parse_fixture(const char *format, const char *rel, const char *columns,
                          ObservationList *out)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", fixtures, rel);
        _cleanup_free_ char *buf = NULL;
        const AdapterOptions opts = {.provider = "azure_ai", .columns = columns};
        AdapterError err;
        size_t len;
        int r;

        assert_int_equal(util_read_file(path, ADAPTER_MAX_BYTES_DEFAULT, &buf, &len), 0);
        r = adapter_parse(adapter_find(format), buf, len, &opts, out, &err);
        if (r < 0)
                fail_msg("%s: %s (line %u)", rel, err.message, err.line);
        assert_true(out->n > 0);
        assert_true(out->fingerprint != 0);

        printf("%s (%s, columns \"%s\"): %zu observations, fingerprint %016llx\n", rel, format,
               columns, out->n, (unsigned long long)out->fingerprint);
        for (size_t i = 0; i < out->n; i++) {
                const Observation *o = &out->items[i];
                printf("  %-40s %-10s %-8s", o->model, o->provider, lifecycle_name(o->lifecycle));
                for (size_t j = 0; j < o->n_regions; j++)
                        printf("%s%s", j ? " | " : " regions: ", o->regions[j]);
                printf("\n");
        }
}

static size_t count_model(const ObservationList *l, const char *model)
{
        size_t n = 0;
        for (size_t i = 0; i < l->n; i++)
                n += streq(l->items[i].model, model);
        return n;
}

static void assert_claude_models(const ObservationList *l)
{
        for (size_t i = 0; i < ELEMENTSOF(claude_ids); i++) {
                if (count_model(l, claude_ids[i]) == 0)
                        fail_msg("%s not found", claude_ids[i]);
                for (size_t j = 0; j < l->n; j++) {
                        const Observation *o = &l->items[j];
                        if (!streq(o->model, claude_ids[i]))
                                continue;
                        /* Each id sits above a "(Preview)" line in its cell. */
                        assert_int_equal(o->lifecycle, LIFECYCLE_PREVIEW);
                        assert_string_equal(o->provider, "azure_ai");
                        assert_true(o->available);
                }
        }
}

static void test_partners_html(void **state)
{
        ObservationList l = {0};

        parse_fixture("html-table", "azure-docs-html/models-from-partners.pandoc.html",
                      "Model:model, Type:name", &l);
        assert_claude_models(&l);
        /* The Anthropic section shows the table twice (two monikers). */
        assert_int_equal(count_model(&l, "claude-opus-4-6"), 2);
        for (size_t i = 0; i < l.n; i++) {
                assert_non_null(l.items[i].name);
                assert_int_equal(l.items[i].n_regions, 0);
        }
        observation_list_clear(&l);
}

static void test_partners_md_matches_html(void **state)
{
        ObservationList md = {0}, html = {0};

        parse_fixture("markdown-table", "azure-docs/models-from-partners.md",
                      "Model:model, Type:name", &md);
        parse_fixture("html-table", "azure-docs-html/models-from-partners.pandoc.html",
                      "Model:model, Type:name", &html);
        assert_claude_models(&md);
        /* The HTML is pandoc's rendering of this Markdown: both readings must agree row by row. */
        assert_int_equal(md.n, html.n);
        for (size_t i = 0; i < md.n; i++) {
                assert_string_equal(md.items[i].model, html.items[i].model);
                assert_string_equal(md.items[i].name, html.items[i].name);
                assert_int_equal(md.items[i].lifecycle, html.items[i].lifecycle);
        }
        assert_int_equal(md.fingerprint, html.fingerprint);
        observation_list_clear(&md);
        observation_list_clear(&html);
}

static void test_region_availability(void **state)
{
        static const char *const names[] = {"Claude Haiku 4.5", "Claude Opus 4.1",
                                            "Claude Sonnet 4.5", "Claude Opus 4.5"};
        ObservationList l = {0};
        size_t claude = 0;

        parse_fixture("markdown-table", "azure-docs/region-availability-maas.md",
                      "Model:name, Hub/Project Region for Deployment:regions", &l);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                size_t found = 0;
                for (size_t j = 0; j < l.n; j++) {
                        const Observation *o = &l.items[j];
                        if (!streq(o->name, names[i]))
                                continue;
                        found++;
                        assert_string_equal(o->model, names[i]);
                        assert_int_equal(o->lifecycle, LIFECYCLE_PREVIEW);
                        assert_int_equal(o->n_regions, 2);
                        assert_string_equal(o->regions[0], "East US 2");
                        assert_string_equal(o->regions[1], "Sweden Central");
                }
                assert_int_equal(found, 1);
        }
        for (size_t j = 0; j < l.n; j++)
                claude += startswith(l.items[j].model, "Claude") != NULL;
        assert_int_equal(claude, ELEMENTSOF(names));

        /* Rows without a leading pipe still count: Cohere's table has only those. */
        for (size_t j = 0; j < l.n; j++)
                if (streq(l.items[j].model, "Cohere Command R+ 08-2024")) {
                        assert_int_equal(l.items[j].n_regions, 7);
                        assert_string_equal(l.items[j].regions[6], "West US 3");
                        claude = SIZE_MAX;
                }
        assert_true(claude == SIZE_MAX);
        observation_list_clear(&l);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_partners_html),
            cmocka_unit_test(test_partners_md_matches_html),
            cmocka_unit_test(test_region_availability),
        };
        struct stat st;

        if (argc < 2 || stat(argv[1], &st) < 0 || !S_ISDIR(st.st_mode))
                return 77;
        fixtures = argv[1];
        return cmocka_run_group_tests(tests, NULL, NULL);
}
