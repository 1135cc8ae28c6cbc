/* html-table and markdown-table over small hand-written pages in
 * tests/data/adapters/tables/, plus the column spec parser and the cell helpers. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "lockwatch/adapter.h"
#include "lockwatch/table.h"
#include "lockwatch/util.h"

#define DATA LW_TEST_DATA "/adapters/tables/"

static void assert_near(double got, double want)
{
        if (!(fabs(got - want) <= 1e-9 * MAX(1.0, fabs(want))))
                fail_msg("got %.12g, want %.12g", got, want);
}

typedef struct Want {
        const char *model;
        const char *name;
        const char *provider; /* NULL: the case's provider */
        const char *vendor;
        Lifecycle lifecycle;
        bool unavailable;
        const char *regions; /* joined with '|', NULL for none */
        bool priced;         /* false: both prices must be NAN */
        double price_in, price_out;
        int64_t eol;
} Want;

typedef struct Case {
        const char *title;
        const char *format;
        const char *file;
        const char *columns;
        const char *vendor;
        size_t max_rows;
        const char *error; /* expected message; NULL when the parse succeeds */
        unsigned error_line;
        const Want *want;
        size_t n_want;
} Case;

#define WANT(...)                                                                                  \
        .want = (const Want[]){__VA_ARGS__},                                                       \
        .n_want = sizeof((const Want[]){__VA_ARGS__}) / sizeof(Want)

static const Case cases[] = {
    {
        "thead, header order differs from the spec, extra column, nested table ignored",
        "html-table",
        "thead.html",
        "Model ID:model, Regions:regions, Lifecycle stage:lifecycle",
        WANT({.model = "claude-opus-4-5",
              .lifecycle = LIFECYCLE_ACTIVE,
              .regions = "East US 2|Sweden Central|West US 3"},
             {.model = "Meta-Llama-3.1-405B-Instruct",
              .lifecycle = LIFECYCLE_PREVIEW,
              .regions = "eastus|westeurope|japaneast"},
             {.model = "Phi\u20113 & co", .lifecycle = LIFECYCLE_RETIRED, .unavailable = true}),
    },
    {
        "a nested table is a table of its own",
        "html-table",
        "thead.html",
        "Model ID:model, Regions:regions",
        WANT({.model = "claude-opus-4-5", .regions = "East US 2|Sweden Central|West US 3"},
             {.model = "Meta-Llama-3.1-405B-Instruct", .regions = "eastus|westeurope|japaneast"},
             {.model = "Phi\u20113 & co"}, {.model = "inner-model", .regions = "Nowhere"}),
    },
    {
        "entities and nested markup flattened; nested table text kept out of the cell",
        "html-table",
        "thead.html",
        "Model ID:model, Notes:name",
        .vendor = "Anthropic",
        WANT({.model = "claude-opus-4-5",
              .name = "Text & images \u2014 see note",
              .vendor = "Anthropic"},
             {.model = "Meta-Llama-3.1-405B-Instruct", .vendor = "Anthropic"},
             {.model = "Phi\u20113 & co", .vendor = "Anthropic"}),
    },
    {
        "td header row without thead, &nbsp; collapsed, empty model skipped",
        "html-table",
        "td-header.html",
        "model id:model, REGIONS:regions",
        WANT({.model = "gpt-5.5", .regions = "East US|North Europe"},
             {.model = "mistral-large-2411", .regions = "West US"},
             {.model = "o4-mini", .regions = "Global"}),
    },
    {
        "rowspan carried down, colspan repeated, tfoot skipped",
        "html-table",
        "spans.html",
        "Model ID:model, Regions:regions, Vendor:vendor",
        .vendor = "ignored",
        WANT({.model = "claude-sonnet-4-5", .vendor = "Anthropic", .regions = "East US 2"},
             {.model = "claude-haiku-4-5", .vendor = "Anthropic", .regions = "Sweden Central"},
             {.model = "llama-4-scout", .vendor = "Meta", .regions = "llama-4-scout"}),
    },
    {
        "prices, lifecycle words, dates, provider column with fallback",
        "html-table",
        "prices.html",
        "Provider:provider, Model:model, Input (per 1M tokens):price_in, "
        "Output (per 1M tokens):price_out, Status:lifecycle, Retirement date:eol",
        WANT({.model = "anthropic.claude-3-haiku-20240307-v1:0",
              .provider = "bedrock",
              .lifecycle = LIFECYCLE_LEGACY,
              .priced = true,
              .price_in = 0.25,
              .price_out = 1.25,
              .eol = 1772323200},
             {.model = "anthropic.claude-opus-4-5",
              .lifecycle = LIFECYCLE_ACTIVE,
              .priced = true,
              .price_in = 5,
              .price_out = 25,
              .eol = 1803859200},
             {.model = "anthropic.claude-v2",
              .provider = "bedrock_converse",
              .lifecycle = LIFECYCLE_RETIRED,
              .unavailable = true}),
    },
    {
        "renamed header",
        "html-table",
        "renamed.html",
        "Model ID:model, Regions:regions",
        .error = "no table has the headers: Model ID, Regions",
    },
    {
        "more than half of a chosen table's rows malformed",
        "html-table",
        "malformed.html",
        "Model ID:model, Regions:regions",
        .error = "table at line 3: 2 of 3 rows do not have the header's 2 cells",
        .error_line = 3,
    },
    {
        "row cap",
        "html-table",
        "thead.html",
        "Model ID:model, Regions:regions",
        .max_rows = 2,
        .error = "more than 2 rows",
        .error_line = 29,
    },
    {
        "malformed spec reaches the adapter",
        "html-table",
        "thead.html",
        "Model ID:model, Regions",
        .error = "column 2 (\"Regions\") has no ':' between header and field",
    },
    {
        "front matter, fences, monikers, links, code, escapes, <br>, no outer pipes",
        "markdown-table",
        "basic.md",
        "Model ID:model, Regions:regions, Notes:name",
        WANT({.model = "claude-opus-4-5",
              .name = "Text & images \u2014 see the note",
              .lifecycle = LIFECYCLE_PREVIEW,
              .regions = "East US 2|Sweden Central"},
             {.model = "Meta-Llama-3.1-405B-Instruct",
              .name = "pipes | inside",
              .regions = "eastus|westeurope|japaneast"},
             {.model = "gpt-5.5", .name = "no leading pipe", .regions = "East US|North Europe"}),
    },
    {
        "every table with the headers is used, pipe-less header and delimiter rows",
        "markdown-table",
        "basic.md",
        "Regions:regions, Model ID:model",
        WANT({.model = "claude-opus-4-5",
              .lifecycle = LIFECYCLE_PREVIEW,
              .regions = "East US 2|Sweden Central"},
             {.model = "Meta-Llama-3.1-405B-Instruct", .regions = "eastus|westeurope|japaneast"},
             {.model = "gpt-5.5", .regions = "East US|North Europe"},
             {.model = "claude-opus-4-5", .regions = "East US 2"}),
    },
    {
        "renamed Markdown header",
        "markdown-table",
        "renamed.md",
        "Model ID:model, Regions:regions",
        .error = "no table has the headers: Model ID, Regions",
    },
    {
        "a cell listing several models gives a row each; notes in parentheses are not ids",
        "markdown-table",
        "multi.md",
        "Model:model, Display name:name, Regions:regions",
        WANT({.model = "Phi-4-reasoning", .name = "Phi 4 reasoning", .regions = "East US"},
             {.model = "Phi-4-mini-reasoning", .name = "Phi 4 mini reasoning",
              .regions = "East US"},
             {.model = "gpt-5.5", .name = "GPT-5.5", .lifecycle = LIFECYCLE_PREVIEW,
              .regions = "West US"},
             {.model = "Llama-3.3-70B", .name = "Meta Llama", .regions = "Sweden Central"},
             {.model = "Llama-3.1-8B", .name = "Meta Llama", .regions = "Sweden Central"}),
    },
    {
        "one malformed row of three is skipped",
        "markdown-table",
        "malformed-ok.md",
        "Model ID:model, Regions:regions",
        WANT({.model = "claude-opus-4-5", .regions = "East US 2"},
             {.model = "claude-haiku-4-5", .regions = "Sweden Central"}),
    },
    {
        "two malformed rows of three fail the parse",
        "markdown-table",
        "malformed.md",
        "Model ID:model, Regions:regions",
        .error = "table at line 7: 2 of 3 rows do not have the header's 2 cells",
        .error_line = 7,
    },
    {
        "Markdown row cap",
        "markdown-table",
        "basic.md",
        "Regions:regions, Model ID:model",
        .max_rows = 3,
        .error = "more than 3 rows",
        .error_line = 28,
    },
};

static void join_regions(const Observation *o, char *buf, size_t size)
{
        size_t used = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < o->n_regions; i++)
                used +=
                    (size_t)snprintf(buf + used, size - used, "%s%s", i ? "|" : "", o->regions[i]);
}

static void check_case(const Case *c)
{
        _cleanup_free_ char *path = xasprintf(DATA "%s", c->file), *buf = NULL;
        const AdapterOptions opts = {
            .provider = "azure_ai",
            .vendor = c->vendor,
            .columns = c->columns,
            .max_rows = c->max_rows,
        };
        ObservationList l = {0};
        AdapterError err;
        size_t len;
        int r;

        print_message("case: %s\n", c->title);
        assert_int_equal(util_read_file(path, 1 << 20, &buf, &len), 0);
        r = adapter_parse(adapter_find(c->format), buf, len, &opts, &l, &err);
        if (c->error) {
                assert_true(r < 0);
                assert_string_equal(err.message, c->error);
                assert_int_equal(err.line, c->error_line);
                assert_int_equal(l.n, 0);
                return;
        }
        if (r < 0)
                fail_msg("%s: %s", c->title, err.message);
        assert_int_equal(l.n, c->n_want);
        for (size_t i = 0; i < l.n; i++) {
                const Observation *o = &l.items[i];
                const Want *w = &c->want[i];
                char regions[1024];

                assert_string_equal(o->model, w->model);
                assert_true(streq_ptr(o->name, w->name));
                assert_string_equal(o->provider, w->provider ? w->provider : "azure_ai");
                assert_true(streq_ptr(o->vendor, w->vendor));
                assert_int_equal(o->lifecycle, w->lifecycle);
                assert_int_equal(o->available, !w->unavailable);
                join_regions(o, regions, sizeof(regions));
                assert_string_equal(regions, w->regions ? w->regions : "");
                if (w->priced) {
                        assert_near(o->price_in, w->price_in);
                        assert_near(o->price_out, w->price_out);
                } else {
                        assert_true(isnan(o->price_in) && isnan(o->price_out));
                }
                assert_int_equal(o->eol, w->eol);
        }
        assert_true(l.fingerprint != 0);
        observation_list_clear(&l);
}

static void test_cases(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                check_case(&cases[i]);
}

static void test_columns_parse(void **state)
{
        static const struct {
                const char *spec;
                const char *error; /* NULL: valid */
                size_t n;
                size_t error_offset;
        } specs[] = {
            {"Model:model, Regions:regions", NULL, 2, 0},
            {"Model ID:model, Serverless API regions:regions, Lifecycle:lifecycle", NULL, 3, 0},
            {"  Display name : NAME  ", NULL, 1, 0},
            {"Price\\: input \\(USD\\, 1M\\):price_in, Model:model", NULL, 2, 0},
            {"Model:model, Model:name", NULL, 2, 0},
            {"Model ID", "column 1 (\"Model ID\") has no ':' between header and field", 0, 0},
            {"Model:model,Regions:regoins",
             "column 2 (\"Regions\"): unknown field \"regoins\" (did you mean regions?)", 0, 12},
            {"Model:model, Foo:zzzzzzzz",
             "column 2 (\"Foo\"): unknown field \"zzzzzzzz\" (one of model, name, regions, "
             "provider, vendor, lifecycle, price_in, price_out, eol)",
             0, 12},
            {"Model:model, Other:model",
             "column 2 (\"Other\"): field model is already given by column 1", 0, 12},
            {"Model:model, :regions", "column 2 has an empty header before ':regions'", 0, 12},
            {"Model:model, -- :regions", "column 2: header \"--\" has no text to match", 0, 12},
            {"Model:", "column 1 (\"Model\") has no field after ':'", 0, 0},
            {"Model:model,", "column 2 is empty", 0, 12},
            {"", "empty column spec", 0, 0},
            {"Regions:regions", "the column spec has no model or name column", 0, 0},
            {"a:model,b:name,c:regions,d:provider,e:vendor,f:lifecycle,g:price_in,"
             "h:price_out,i:eol,j:x",
             "column 10 (\"j\"): unknown field \"x\" (one of model, name, regions, provider, "
             "vendor, lifecycle, price_in, price_out, eol)",
             0, 86},
        };

        for (size_t i = 0; i < ELEMENTSOF(specs); i++) {
                TableColumns *c = NULL;
                AdapterError err = {0};
                int r = table_columns_parse(specs[i].spec, &c, &err);

                print_message("spec: %s\n", specs[i].spec);
                if (specs[i].error) {
                        assert_true(r < 0);
                        assert_null(c);
                        assert_string_equal(err.message, specs[i].error);
                        assert_int_equal(err.offset, specs[i].error_offset);
                        continue;
                }
                assert_int_equal(r, 0);
                assert_int_equal(c->n, specs[i].n);
                table_columns_free(c);
        }

        /* Fields, headers and escapes come out as written. */
        TableColumns *c = NULL;
        AdapterError err;
        assert_int_equal(table_columns_parse("Price\\: input \\(USD\\, 1M\\):price_in, "
                                             "  Display name : NAME",
                                             &c, &err),
                         0);
        assert_string_equal(c->columns[0].header, "Price: input (USD, 1M)");
        assert_string_equal(c->columns[0].key, "price: input (usd, 1m");
        assert_int_equal(c->columns[0].field, TABLE_FIELD_PRICE_IN);
        assert_string_equal(c->columns[1].header, "Display name");
        assert_int_equal(c->columns[1].field, TABLE_FIELD_NAME);
        table_columns_free(c);
}

static void test_columns_too_many(void **state)
{
        _cleanup_free_ char *spec = xstrdup("h0:model");
        TableColumns *c = NULL;
        AdapterError err;

        for (int i = 1; i <= TABLE_MAX_COLUMNS; i++) {
                char *next = xasprintf("%s,h%d:regions", spec, i);
                free(spec);
                spec = next;
        }
        assert_true(table_columns_parse(spec, &c, &err) < 0);
        assert_null(c);
        assert_string_equal(err.message, "more than 16 columns");
        /* An escaped comma belongs to a header and is not counted: 16 columns here. */
        free(spec);
        spec = xstrdup("h0\\,x:model");
        for (int i = 1; i < TABLE_MAX_COLUMNS; i++) {
                char *next = xasprintf("%s,h%d:regions", spec, i);
                free(spec);
                spec = next;
        }
        assert_true(table_columns_parse(spec, &c, &err) < 0);
        assert_string_equal(err.message, "column 3 (\"h2\"): field regions is already given by "
                                         "column 2");
}

static void test_header_key(void **state)
{
        static const struct {
                const char *in, *out;
        } keys[] = {
            {"Model ID", "model id"},
            {"  Model\n\t ID ", "model id"},
            {"Model\xc2\xa0ID", "model id"},
            {"**Model**", "model"},
            {"Regions:", "regions"},
            {"Price ($/1M)", "price ($/1m"},
            {"Hub/Project Region for Deployment", "hub/project region for deployment"},
            {"R\xc3\xa9gion", "r\xc3\xa9gion"},
            {"Mo\xe2\x80\x8b"
             "del",
             "model"},
            {"---", ""},
        };

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                _cleanup_free_ char *k = table_header_key(keys[i].in);
                assert_string_equal(k, keys[i].out);
        }
}

static void test_price(void **state)
{
        static const struct {
                const char *in;
                double out; /* NAN: unparseable */
        } prices[] = {
            {"3", 3},
            {"$3.00", 3},
            {" $ 0.15 ", 0.15},
            {"USD 15", 15},
            {"$1,250.50", 1250.5},
            {"$3 /1M tokens", 3},
            {"$0.003 per 1K tokens", 3},
            {"0.000003 per token", 3},
            {"~$2", 2},
            {"-1", NAN},
            {"$-1", NAN},
            {"free", NAN},
            {"", NAN},
            {"1,25", 1},
            {"12345678901234567890", NAN},
        };

        for (size_t i = 0; i < ELEMENTSOF(prices); i++) {
                double v = table_parse_price(prices[i].in);
                print_message("price: \"%s\"\n", prices[i].in);
                if (isnan(prices[i].out))
                        assert_true(isnan(v));
                else
                        assert_near(v, prices[i].out);
        }
        assert_true(isnan(table_parse_price(NULL)));
}

static void test_date(void **state)
{
        static const struct {
                const char *in;
                int64_t out; /* -1: invalid */
        } dates[] = {
            {"1970-01-01", 0},
            {"2026-03-01", 1772323200},
            {"2000-02-29", 951782400},
            {"2024-12-31", 1735603200},
            {"March 1, 2027", 1803859200},
            {"Mar 1, 2027", 1803859200},
            {"mar. 01, 2027", 1803859200},
            {"December 31, 2024", 1735603200},
            {"2026-03-01 (planned)", 1772323200},
            {"2025-02-29", -1},
            {"2025-13-01", -1},
            {"1969-12-31", -1},
            {"2026-3-1", -1},
            {"Smarch 1, 2027", -1},
            {"March 1 2027", -1},
            {"March 32, 2027", -1},
            {"20260301", -1},
            {"", -1},
        };

        for (size_t i = 0; i < ELEMENTSOF(dates); i++) {
                int64_t t = -1;
                int r = table_parse_date(dates[i].in, &t);
                print_message("date: \"%s\"\n", dates[i].in);
                if (dates[i].out < 0) {
                        assert_true(r < 0);
                        assert_int_equal(t, -1);
                } else {
                        assert_int_equal(r, 0);
                        assert_int_equal(t, dates[i].out);
                }
        }
}

static void test_entities(void **state)
{
        static const struct {
                const char *in;
                size_t used;
                const char *out;
        } ents[] = {
            {"&amp;x", 5, "&"},
            {"&nbsp;", 6, "\xc2\xa0"},
            {"&#x2014;", 8, "\xe2\x80\x94"},
            {"&#8212;", 7, "\xe2\x80\x94"},
            {"&#0;", 4, "\xef\xbf\xbd"},
            {"&#x110000;", 10, "\xef\xbf\xbd"},
            {"&#xD800;", 8, "\xef\xbf\xbd"},
            {"&bogus;", 0, NULL},
            {"&amp", 0, NULL},
            {"& amp;", 0, NULL},
            {"&#;", 0, NULL},
        };

        for (size_t i = 0; i < ELEMENTSOF(ents); i++) {
                char out[8];
                size_t n = 0, used = table_decode_entity(ents[i].in, strlen(ents[i].in), out, &n);
                assert_int_equal(used, ents[i].used);
                if (ents[i].out) {
                        assert_int_equal(n, strlen(ents[i].out));
                        assert_memory_equal(out, ents[i].out, n);
                }
        }
}

static uint64_t fingerprint(const char *format, const char *page, const char *columns)
{
        const AdapterOptions opts = {.provider = "azure_ai", .columns = columns};
        ObservationList l = {0};
        AdapterError err;
        uint64_t h;

        if (adapter_parse(adapter_find(format), page, strlen(page), &opts, &l, &err) < 0)
                fail_msg("%s", err.message);
        h = l.fingerprint;
        observation_list_clear(&l);
        return h;
}

static void test_fingerprint(void **state)
{
        static const struct {
                const char *format;
                const char *base, *more_rows, *renamed_extra, *added_column;
        } pages[] = {
            {
                "html-table",
                "<table><tr><th>Model</th><th>Regions</th><th>Notes</th></tr>"
                "<tr><td>a</td><td>x</td><td></td></tr></table>",
                "<table><tr><th>Model</th><th>Regions</th><th>Notes</th></tr>"
                "<tr><td>a</td><td>x</td><td></td></tr>"
                "<tr><td>b</td><td>y</td><td>new</td></tr></table>"
                "<table><tr><th>Model</th><th>Regions</th><th>Notes</th></tr>"
                "<tr><td>c</td><td>z</td><td></td></tr></table>",
                "<table><tr><th>Model</th><th>Regions</th><th>Remarks</th></tr>"
                "<tr><td>a</td><td>x</td><td></td></tr></table>",
                "<table><tr><th>Model</th><th>Regions</th><th>Notes</th><th>Tier</th>"
                "</tr><tr><td>a</td><td>x</td><td></td><td></td></tr></table>",
            },
            {
                "markdown-table",
                "| Model | Regions | Notes |\n|---|---|---|\n| a | x | |\n",
                "| Model | Regions | Notes |\n|---|---|---|\n| a | x | |\n| b | y | z |\n"
                "\n| Model | Regions | Notes |\n|---|---|---|\n| c | z | |\n",
                "| Model | Regions | Remarks |\n|---|---|---|\n| a | x | |\n",
                "| Model | Regions | Notes | Tier |\n|---|---|---|---|\n| a | x | | |\n",
            },
        };
        const char *columns = "Model:model, Regions:regions";

        for (size_t i = 0; i < ELEMENTSOF(pages); i++) {
                uint64_t base = fingerprint(pages[i].format, pages[i].base, columns);

                assert_int_equal(fingerprint(pages[i].format, pages[i].more_rows, columns), base);
                assert_int_not_equal(fingerprint(pages[i].format, pages[i].renamed_extra, columns),
                                     base);
                assert_int_not_equal(fingerprint(pages[i].format, pages[i].added_column, columns),
                                     base);
        }

        /* One of two tables renaming a column the spec uses is a structure change too. */
        assert_int_not_equal(
            fingerprint("html-table",
                        "<table><tr><th>Model</th><th>Regions</th></tr></table>"
                        "<table><tr><th>Model</th><th>Regions</th></tr></table>",
                        columns),
            fingerprint("html-table",
                        "<table><tr><th>Model</th><th>Regions</th></tr></table>"
                        "<table><tr><th>Model</th><th>Region list</th></tr></table>",
                        columns));
        /* The same table as HTML and as Markdown has one structure. */
        assert_int_equal(fingerprint(pages[0].format, pages[0].base, columns),
                         fingerprint(pages[1].format, pages[1].base, columns));
}

static char *nested_page(unsigned depth)
{
        size_t cap = depth * 11 + 256, used = 0;
        char *p = xmalloc(cap);

        used += (size_t)snprintf(p + used, cap - used, "<html><body>");
        for (unsigned i = 0; i < depth; i++)
                used += (size_t)snprintf(p + used, cap - used, "<div>");
        used += (size_t)snprintf(p + used, cap - used,
                                 "<table><tr><th>Model</th></tr><tr><td>m</td></tr></table>");
        for (unsigned i = 0; i < depth; i++)
                used += (size_t)snprintf(p + used, cap - used, "</div>");
        return p;
}

static void test_html_depth(void **state)
{
        const AdapterOptions opts = {.provider = "azure_ai", .columns = "Model:model"};
        ObservationList l = {0};
        AdapterError err;
        int r;

        _cleanup_free_ char *shallow = nested_page(TABLE_MAX_TREE_DEPTH - 10);
        r = adapter_parse(adapter_find("html-table"), shallow, strlen(shallow), &opts, &l, &err);
        assert_int_equal(r, 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.items[0].model, "m");
        observation_list_clear(&l);

        _cleanup_free_ char *deep = nested_page(20000);
        r = adapter_parse(adapter_find("html-table"), deep, strlen(deep), &opts, &l, &err);
        assert_int_equal(r, -ELOOP);
        assert_string_equal(err.message, "HTML nested deeper than 192 elements");
        assert_int_equal(l.n, 0);
}

static void test_limits(void **state)
{
        static const char page[] = "| Model |\n|---|\n| m |\n";
        static const char *const formats[] = {"html-table", "markdown-table"};
        AdapterOptions opts = {.provider = "p", .columns = "Model:model", .max_bytes = 8};
        ObservationList l = {0};
        AdapterError err;

        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                assert_int_equal(
                    adapter_parse(adapter_find(formats[i]), page, strlen(page), &opts, &l, &err),
                    -EFBIG);
                /* The adapter itself checks the cap too, for callers that skip adapter_parse. */
                memset(&err, 0, sizeof(err));
                assert_int_equal(
                    adapter_find(formats[i])->parse(page, strlen(page), &opts, &l, &err), -EFBIG);
                assert_true(strstr(err.message, "exceeds the cap") != NULL);
        }

        /* An empty page has no table with the headers: never "zero models". */
        opts.max_bytes = 0;
        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                assert_true(adapter_parse(adapter_find(formats[i]), "", 0, &opts, &l, &err) < 0);
                assert_string_equal(err.message, "no table has the headers: Model");
        }

        /* A model id over the cap is skipped, the row next to it is not. */
        _cleanup_free_ char *long_id = xmalloc(ADAPTER_MAX_ID_LEN + 2);
        memset(long_id, 'x', ADAPTER_MAX_ID_LEN + 1);
        long_id[ADAPTER_MAX_ID_LEN + 1] = '\0';
        _cleanup_free_ char *md = xasprintf("| Model |\n|---|\n| %s |\n| ok |\n", long_id);
        assert_int_equal(
            adapter_parse(adapter_find("markdown-table"), md, strlen(md), &opts, &l, &err), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.items[0].model, "ok");
        observation_list_clear(&l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_cases),
            cmocka_unit_test(test_columns_parse),
            cmocka_unit_test(test_columns_too_many),
            cmocka_unit_test(test_header_key),
            cmocka_unit_test(test_price),
            cmocka_unit_test(test_date),
            cmocka_unit_test(test_entities),
            cmocka_unit_test(test_fingerprint),
            cmocka_unit_test(test_html_depth),
            cmocka_unit_test(test_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
