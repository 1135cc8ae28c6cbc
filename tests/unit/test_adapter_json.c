/* The generic json adapter: the path grammar and the column spec (through the check
 * hook, with exact messages), every field, fan-out, skipped rows, every failure, the
 * caps and the fingerprint, over inline documents and tests/data/json/. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define DATA LW_TEST_DATA "/json/"

/* Seconds since the epoch, from Python's calendar.timegm(). */
#define EOL_2027_01_31 INT64_C(1801353600)
#define EOL_2026_06_30 INT64_C(1782777600)

static char *load(const char *file, size_t *ret_len)
{
        _cleanup_free_ char *path = xasprintf("%s%s", DATA, file);
        char *buf = NULL;
        int r;

        r = util_read_file(path, 1u << 20, &buf, ret_len);
        if (r < 0)
                fail_msg("cannot read %s: %s", path, strerror(-r));
        return buf;
}

static const Adapter *json_adapter(void)
{
        const Adapter *a = adapter_find("json");

        assert_non_null(a);
        assert_non_null(a->check);
        assert_false(a->needs_provider);
        assert_true(a->needs_columns);
        return a;
}

static int parse(const AdapterOptions *opts, const char *data, size_t len, ObservationList *out,
                 AdapterError *err)
{
        return adapter_parse(json_adapter(), data, len, opts, out, err);
}

/* Parse that must succeed. */
static void parse_ok(const AdapterOptions *opts, const char *data, ObservationList *out)
{
        AdapterError err;
        int r = parse(opts, data, strlen(data), out, &err);

        if (r < 0)
                fail_msg("parse failed (%d): %s", r, err.message);
        assert_int_not_equal(out->fingerprint, 0);
}

static void parse_file_ok(const AdapterOptions *opts, const char *file, ObservationList *out)
{
        _cleanup_free_ char *data = NULL;
        size_t len;

        data = load(file, &len);
        parse_ok(opts, data, out);
}

/* Parse that must fail with exactly this message and error; a failure yields nothing.
 * len SIZE_MAX: strlen(data). */
static void parse_bad(const AdapterOptions *opts, const char *data, size_t len, int error,
                      const char *message)
{
        ObservationList l = {0};
        AdapterError err;
        int r;

        if (len == SIZE_MAX)
                len = strlen(data);
        r = parse(opts, data, len, &l, &err);
        if (r != error || !streq(err.message, message))
                fail_msg("on \"%.60s\":\n got  %d \"%s\"\n want %d \"%s\"", data, r, err.message,
                         error, message);
        assert_int_equal(l.n, 0);
        assert_null(l.items);
}

static const Observation *find(const ObservationList *l, const char *provider, const char *model)
{
        for (size_t i = 0; i < l->n; i++)
                if (streq_ptr(l->items[i].provider, provider) && streq(l->items[i].model, model))
                        return &l->items[i];
        fail_msg("no observation %s / %s", provider, model);
        return NULL;
}

static size_t count_model(const ObservationList *l, const char *model)
{
        size_t n = 0;

        for (size_t i = 0; i < l->n; i++)
                n += streq(l->items[i].model, model);
        return n;
}

static void assert_price(double got, double want)
{
        if (isnan(want) ? !isnan(got) : !(fabs(got - want) <= 1e-9))
                fail_msg("price %.12g, want %.12g", got, want);
}

static void assert_regions(const Observation *o, const char *want)
{
        char joined[512] = "";
        size_t used = 0;

        for (size_t i = 0; i < o->n_regions; i++)
                used += (size_t)snprintf(joined + used, sizeof(joined) - used, "%s%s", i ? "|" : "",
                                         o->regions[i]);
        if (!streq(joined, want))
                fail_msg("%s regions \"%s\", want \"%s\"", o->model, joined, want);
}

/* The check hook on one option at a time, as the config checker calls it. */
static void check_spec(const char *rows, const char *columns, const char *provider,
                       const char *message, size_t offset)
{
        const AdapterOptions opts = {.rows = rows, .columns = columns, .provider = provider};
        AdapterError err = {0};
        int r = json_adapter()->check(&opts, &err);

        if (!message) {
                if (r < 0)
                        fail_msg("rows \"%s\" columns \"%s\": %s", rows ?: "(null)",
                                 columns ?: "(null)", err.message);
                return;
        }
        if (r != -EBADMSG || !streq(err.message, message))
                fail_msg("rows \"%s\" columns \"%s\":\n got  %d \"%s\"\n want \"%s\"",
                         rows ?: "(null)", columns ?: "(null)", r, err.message, message);
        if (offset != SIZE_MAX && err.offset != offset)
                fail_msg("rows \"%s\" columns \"%s\": offset %zu, want %zu", rows ?: "(null)",
                         columns ?: "(null)", err.offset, offset);
}

static char *repeat(const char *unit, size_t n, const char *tail)
{
        size_t ul = strlen(unit), tl = strlen(tail);
        char *s = xmalloc(ul * n + tl + 1);

        for (size_t i = 0; i < n; i++)
                memcpy(s + i * ul, unit, ul);
        memcpy(s + ul * n, tail, tl + 1);
        return s;
}

static void test_path_grammar_good(void **state)
{
        static const char *const rows[] = {
            "data[*]",
            "providers.*.models.*",
            "a.\"b.c\"[0]",
            "$",
            "",
            "$.data[*]",
            "$[0]",
            "$.*",
            "*",
            "[*]",
            "[3].x",
            "[0][1][*]",
            "\"\"",
            "\"a\\\"b\\\\c\"",
            "\"sp ace\".\"c:d\".\"e, f\".\"[x]\"",
            "model_info.max-tokens.0",
            "caf\xc3\xa9.x",
            "a[999999999]",
        };
        static const char *const columns[] = {
            "id:model",
            "$:model",
            "@key:model, litellm_provider:provider",
            " id : model , regions[*] : regions ",
            "id:MODEL, Host:Provider",
            "\"a:b\".\"c,d\":model, x:name",
            "a.\"b\\\"c\":model",
            ("id:model, name:name, host:provider, owner:vendor, regions:regions, status:lifecycle, "
             "eol:eol, p.in:price_in, p.out:price_out_per_token, ok:available"),
            "id:model, a:price_in_per_token, b:price_out",
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                check_spec(rows[i], NULL, NULL, NULL, 0);
        for (size_t i = 0; i < ELEMENTSOF(columns); i++)
                check_spec(NULL, columns[i], "p", NULL, 0);
        /* Nothing set: nothing to check. */
        check_spec(NULL, NULL, NULL, NULL, 0);
}

static void test_path_grammar_bad(void **state)
{
        static const struct {
                const char *rows, *message;
                size_t offset;
        } rows[] = {
            {"data[", "byte 6: expected '*' or an index after '[', got the end", 5},
            {"data[*", "byte 7: expected ']', got the end", 6},
            {"data[x]", "byte 6: expected '*' or an index after '[', got 'x'", 5},
            {"data[]", "byte 6: expected '*' or an index after '[', got ']'", 5},
            {"data[-1]", "byte 6: expected '*' or an index after '[', got '-'", 5},
            {"data[1", "byte 7: expected ']', got the end", 6},
            {"data..x", "byte 6: expected a name, a quoted name or '*' after '.', got '.'", 5},
            {"data.", "byte 6: expected a name, a quoted name or '*' after '.', got the end", 5},
            {".data", "byte 1: expected a name, a quoted name, '*', '[' or '$', got '.'", 0},
            {"data x", "byte 5: expected '.' or '[', got ' '", 4},
            {"$data", "byte 2: expected '.' or '[', got 'd'", 1},
            {"a*", "byte 2: expected '.' or '[', got '*'", 1},
            {"a[*]x", "byte 5: expected '.' or '[', got 'x'", 4},
            {"a:b", "byte 2: expected '.' or '[', got ':'", 1},
            {"a.$", "byte 3: expected a name, a quoted name or '*' after '.', got '$'", 2},
            {"$$", "byte 2: expected '.' or '[', got '$'", 1},
            {"a\tb", "byte 2: expected '.' or '[', got byte 0x09", 1},
            {"a.\"b", "byte 3: unterminated quoted name", 2},
            {"\"b\\", "byte 1: unterminated quoted name", 0},
            {"a.\"b\\n\"", "byte 5: unknown escape '\\n' in a quoted name (only \\\" and \\\\)", 4},
            {"a[1234567890]", "byte 3: index larger than 999999999", 2},
            {"a[1000000000]", "byte 3: index larger than 999999999", 2},
            {"@key", "byte 1: unexpected '@' (only a column's path may be @key, alone)", 0},
            {"a.@key", "byte 3: expected a name, a quoted name or '*' after '.', got '@'", 2},
        };
        static const struct {
                const char *columns, *message;
                size_t offset;
        } columns[] = {
            {"id", "column 1 (\"id\") has no ':' between path and field", 0},
            {"id:model, regions[*:regions",
             "column 2 (\"regions[*\"): byte 20: expected ']', got the end", 19},
            {"id:modle", "column 1 (\"id\"): unknown field \"modle\" (did you mean model?)", 0},
            {"id:model, x:price_in_per_tok",
             "column 2 (\"x\"): unknown field \"price_in_per_tok\" (did you mean "
             "price_in_per_token?)",
             9},
            {"id:model, x:colour",
             "column 2 (\"x\"): unknown field \"colour\" (one of model, name, provider, vendor, "
             "regions, lifecycle, eol, price_in, price_out, price_in_per_token, "
             "price_out_per_token, available)",
             9},
            {"id:model, name:model",
             "column 2 (\"name\"): field model is already given by column 1", 9},
            {"id:model, a:price_in, b:price_in_per_token",
             "column 3 (\"b\"): field price_in_per_token and column 2's price_in set the same "
             "price",
             21},
            {"id:model, a:price_out_per_token, b:price_out",
             "column 3 (\"b\"): field price_out and column 2's price_out_per_token set the same "
             "price",
             32},
            {":model", "column 1 has an empty path before ':model' (write $ for the row itself)",
             0},
            {"id:", "column 1 (\"id\") has no field after ':'", 0},
            {"id:model,", "column 2 is empty", 9},
            {"id:model, ,x:name", "column 2 is empty", 9},
            {"name:name", "the column spec has no model column", 0},
            {"", "empty column spec", 0},
            {"  ", "empty column spec", 0},
            {"\"a:b,c:model", "column 1 (\"\"a:b,c:model\"): byte 1: unterminated quoted name", 0},
            {"@keys:model",
             "column 1 (\"@keys\"): byte 1: unexpected '@' (only a column's path may be @key, "
             "alone)",
             0},
            {"id:model, a b:name", "column 2 (\"a b\"): byte 12: expected '.' or '[', got ' '", 11},
            {"id.:model",
             "column 1 (\"id.\"): byte 4: expected a name, a quoted name or '*' after "
             "'.', got the end",
             3},
            {"a:b:model", "column 1 (\"a:b\"): byte 2: expected '.' or '[', got ':'", 1},
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                check_spec(rows[i].rows, NULL, NULL, rows[i].message, rows[i].offset);
        for (size_t i = 0; i < ELEMENTSOF(columns); i++)
                check_spec(NULL, columns[i].columns, "p", columns[i].message, columns[i].offset);
        /* Rows may name their provider; without a column for it the source must. */
        check_spec(NULL, "id:model", NULL,
                   "the column spec has no provider column, and the source sets no provider", 0);
        check_spec(NULL, "id:model, host:provider", NULL, NULL, 0);
}

/* At each cap and one past it. */
static void test_path_caps(void **state)
{
        _cleanup_free_ char *at_len = repeat("a", ADAPTER_JSONPATH_MAX_LEN, "");
        _cleanup_free_ char *over_len = repeat("a", ADAPTER_JSONPATH_MAX_LEN + 1, "");
        _cleanup_free_ char *at_steps = repeat("a.", ADAPTER_JSONPATH_MAX_STEPS - 1, "a");
        _cleanup_free_ char *over_steps = repeat("a.", ADAPTER_JSONPATH_MAX_STEPS, "a");
        _cleanup_free_ char *at_idx = repeat("[0]", ADAPTER_JSONPATH_MAX_STEPS, "");
        _cleanup_free_ char *over_idx = repeat("[0]", ADAPTER_JSONPATH_MAX_STEPS, "[*]");
        _cleanup_free_ char *col_len = xasprintf("id:model, %s:name", over_len);
        _cleanup_free_ char *col_steps = xasprintf("id:model, %s:name", over_steps);
        _cleanup_free_ char *many = repeat("a:name,", 16, "id:model");
        _cleanup_free_ char *long_spec = repeat(" ", 4097, "id:model");
        _cleanup_free_ char *at_spec = repeat(" ", 4096 - 8, "id:model");

        check_spec(at_len, NULL, NULL, NULL, 0);
        check_spec(over_len, NULL, NULL, "path longer than 256 bytes", 0);
        check_spec(at_steps, NULL, NULL, NULL, 0);
        check_spec(over_steps, NULL, NULL, "byte 32: more than 16 steps", 31);
        check_spec(at_idx, NULL, NULL, NULL, 0);
        check_spec(over_idx, NULL, NULL, "byte 49: more than 16 steps", 48);
        /* A long path is cut in the message so that the reason still shows. */
        check_spec(NULL, col_len, "p",
                   "column 2 (\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"): path longer "
                   "than 256 bytes",
                   10);
        check_spec(NULL, col_steps, "p",
                   "column 2 (\"a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a\"): byte 42: "
                   "more than 16 steps",
                   41);
        check_spec(NULL, many, "p", "more than 16 columns", 112);
        check_spec(NULL, at_spec, "p", NULL, 0);
        check_spec(NULL, long_spec, "p", "column spec longer than 4096 bytes", 0);
}

/* Every field from one row each, as published in feed.json. */
static void test_fields(void **state)
{
        const AdapterOptions opts = {
            .rows = "data[*]",
            .columns = "id:model, display.name:name, owned_by:vendor, host:provider, "
                       "regions:regions, status:lifecycle, retires:eol, "
                       "pricing.prompt:price_in_per_token, pricing.completion:price_out_per_token, "
                       "offered:available",
            .provider = "azure",
            .vendor = "fallback-vendor",
        };
        ObservationList l = {0};
        const Observation *o;

        parse_file_ok(&opts, "feed.json", &l);
        assert_int_equal(l.n, 4);

        o = find(&l, "azure_ai", "acme/m-large");
        assert_string_equal(o->name, "Acme Large");
        assert_string_equal(o->vendor, "Acme");
        /* A number, a repeat and an empty string are not regions. */
        assert_regions(o, "eastus|westus");
        /* "Generally Available" reads as the word "generallyavailable". */
        assert_int_equal(o->lifecycle, LIFECYCLE_ACTIVE);
        assert_int_equal(o->eol, EOL_2027_01_31);
        assert_price(o->price_in, 3.0);
        assert_price(o->price_out, 15.0);
        assert_true(o->available);

        o = find(&l, "bedrock", "acme/m-small");
        assert_null(o->name);
        assert_string_equal(o->vendor, "fallback-vendor");
        assert_regions(o, "swedencentral");
        assert_int_equal(o->lifecycle, LIFECYCLE_PREVIEW);
        assert_int_equal(o->eol, EOL_2026_06_30);
        /* "-1" and "free" are no prices. */
        assert_price(o->price_in, NAN);
        assert_price(o->price_out, NAN);
        assert_false(o->available);

        /* No host: the source's provider. Retired: positively not offered. */
        o = find(&l, "azure", "acme/m-old");
        assert_int_equal(o->lifecycle, LIFECYCLE_RETIRED);
        assert_false(o->available);
        assert_int_equal(o->eol, 0); /* 2026-02-30 is no day */
        assert_regions(o, "");

        /* An explicit availability wins over the lifecycle. */
        o = find(&l, "azure", "acme/m-back");
        assert_int_equal(o->lifecycle, LIFECYCLE_RETIRED);
        assert_true(o->available);

        /* Skipped: a number, an empty id, no id, a string row, a provider too long to keep
         * (the default must not stand in for it), an id too long. */
        assert_int_equal(count_model(&l, "acme/m-longhost"), 0);
        observation_list_clear(&l);
}

static void test_prices_per_million(void **state)
{
        const AdapterOptions opts = {
            .rows = "data[*]",
            .columns = "id:model, per_million.in:price_in, per_million.out:price_out",
            .provider = "p",
        };
        ObservationList l = {0};
        const Observation *o;

        parse_file_ok(&opts, "feed.json", &l);
        /* Without a provider column every row with a model counts, long host or not. */
        assert_int_equal(l.n, 5);
        o = find(&l, "p", "acme/m-large");
        assert_price(o->price_in, 3.0);
        assert_price(o->price_out, 15.5);
        o = find(&l, "p", "acme/m-small");
        assert_price(o->price_in, 0.25);
        assert_price(o->price_out, NAN);
        o = find(&l, "p", "acme/m-longhost");
        assert_price(o->price_in, NAN);
        assert_null(o->vendor);
        assert_null(o->name);
        assert_int_equal(o->lifecycle, LIFECYCLE_UNKNOWN);
        observation_list_clear(&l);
}

/* A LiteLLM-like object keyed by model id. */
static void test_key(void **state)
{
        AdapterOptions opts = {
            .rows = "*",
            .columns = "@key:model, litellm_provider:provider, "
                       "input_cost_per_token:price_in_per_token, "
                       "output_cost_per_token:price_out_per_token",
        };
        ObservationList l = {0};
        const Observation *o;

        parse_file_ok(&opts, "keyed.json", &l);
        assert_int_equal(l.n, 4);
        o = find(&l, "openai", "gpt-5");
        assert_price(o->price_in, 1.25);
        assert_price(o->price_out, 10.0);
        o = find(&l, "bedrock", "bedrock/us-east-1/anthropic.claude-opus-4-7");
        assert_price(o->price_in, 5.0);
        assert_price(o->price_out, NAN);
        o = find(&l, "azure", "azure/eu/gpt-5.5");
        assert_price(o->price_in, 5.5);
        find(&l, "one of the providers", "sample_spec");
        observation_list_clear(&l);

        /* With a default provider, rows that name none take it, even a plain string. */
        opts.provider = "litellm";
        parse_file_ok(&opts, "keyed.json", &l);
        assert_int_equal(l.n, 6);
        find(&l, "litellm", "no-provider");
        find(&l, "litellm", "last_updated");
        observation_list_clear(&l);

        /* An array index is the key of an element; "$" is the row itself. */
        opts = (AdapterOptions){.columns = "$:model, @key:name", .provider = "p"};
        parse_ok(&opts, "[\"a\", \"b\", 7]", &l);
        assert_int_equal(l.n, 2);
        assert_string_equal(find(&l, "p", "a")->name, "0");
        assert_string_equal(find(&l, "p", "b")->name, "1");
        observation_list_clear(&l);

        /* The document itself was reached by no step: it has no key. */
        opts = (AdapterOptions){.rows = "$", .columns = "@key:model", .provider = "p"};
        parse_bad(&opts, "{\"a\": 1}", 8, -EBADMSG, "no row has a string at \"@key\"");
}

/* "*", quoted names and "[N]" over a models.dev-like document. */
static void test_members_and_quoting(void **state)
{
        AdapterOptions opts = {
            .rows = "*.models.*",
            .columns = "@key:model, name:name, cost.input:price_in, cost.output:price_out",
            .provider = "models-dev",
        };
        ObservationList l = {0};
        const Observation *o;

        parse_file_ok(&opts, "nested.json", &l);
        assert_int_equal(l.n, 3);
        o = find(&l, "models-dev", "anthropic.claude-opus-4-8");
        assert_string_equal(o->name, "Claude Opus 4.8");
        assert_price(o->price_in, 5.0);
        assert_price(o->price_out, 25.0);
        o = find(&l, "models-dev", "meta.llama3-70b");
        assert_price(o->price_in, 2.65);
        assert_price(o->price_out, NAN);
        find(&l, "models-dev", "claude-opus-4-8@default");
        observation_list_clear(&l);

        /* A name with a '.' must be quoted; [N] picks one element. */
        opts.rows = "\"google.vertex\".models.*";
        opts.columns = "@key:model, tags[1]:vendor, tags[0]:name, tags[2]:regions";
        parse_file_ok(&opts, "nested.json", &l);
        assert_int_equal(l.n, 1);
        o = find(&l, "models-dev", "claude-opus-4-8@default");
        assert_string_equal(o->vendor, "frontier");
        assert_string_equal(o->name, "anthropic");
        assert_regions(o, "");
        observation_list_clear(&l);

        opts.rows = "\"amazon-bedrock\".models.\"meta.llama3-70b\"";
        opts.columns = "@key:model";
        parse_file_ok(&opts, "nested.json", &l);
        assert_int_equal(l.n, 1);
        find(&l, "models-dev", "meta.llama3-70b");
        observation_list_clear(&l);

        /* Quoted names may hold ':', ',', spaces, '"' and '\'. */
        opts = (AdapterOptions){
            .rows = "rows[0]",
            .columns = "\"a.b\".\"c:d\":model, \"a.b\".\"e, f\":name, \"a.b\".\"sp ace\":vendor, "
                       "\"a.b\".\"q\\\"uote\":provider, $.\"a.b\".\"back\\\\slash\":regions",
        };
        parse_ok(&opts,
                 "{\"rows\": [{\"a.b\": {\"c:d\": \"m1\", \"e, f\": \"n1\", \"sp ace\": \"v\", "
                 "\"q\\\"uote\": \"p1\", \"back\\\\slash\": \"r1\"}}, {}]}",
                 &l);
        assert_int_equal(l.n, 1);
        o = find(&l, "p1", "m1");
        assert_string_equal(o->name, "n1");
        assert_string_equal(o->vendor, "v");
        assert_regions(o, "r1");
        observation_list_clear(&l);
}

/* Several models or providers in one row: one observation each, cartesian. */
static void test_fan_out(void **state)
{
        static const char doc[] =
            "{\"items\": [{\"ids\": [\"m1\", \"m2\"], \"hosts\": [\"p1\", \"p2\", \"p3\"], "
            "\"name\": \"N\", \"regions\": [[\"r1\", \"r2\"], \"r3\"]}, {\"ids\": [\"m3\", 4], "
            "\"hosts\": []}]}";
        AdapterOptions opts = {
            .rows = "items[*]",
            .columns = "ids[*]:model, hosts[*]:provider, name:name, regions[*]:regions",
            .provider = "dflt",
        };
        ObservationList l = {0};

        parse_ok(&opts, doc, &l);
        assert_int_equal(l.n, 7);
        for (size_t m = 1; m <= 2; m++)
                for (size_t p = 1; p <= 3; p++) {
                        char model[8], provider[8];

                        snprintf(model, sizeof(model), "m%zu", m);
                        snprintf(provider, sizeof(provider), "p%zu", p);
                        const Observation *o = find(&l, provider, model);
                        assert_string_equal(o->name, "N");
                        /* An array among the values gives its strings too. */
                        assert_regions(o, "r1|r2|r3");
                }
        find(&l, "dflt", "m3");
        observation_list_clear(&l);

        /* Exactly at the cap, and one past it. */
        opts.max_rows = 7;
        parse_ok(&opts, doc, &l);
        observation_list_clear(&l);
        opts.max_rows = 6;
        parse_bad(&opts, doc, strlen(doc), -E2BIG, "more than 6 rows");

        /* More values than rows allowed in one row: the walk stops at once. */
        opts = (AdapterOptions){.columns = "ids[*]:model", .provider = "p", .max_rows = 3};
        parse_bad(&opts, "[{\"ids\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}]", SIZE_MAX, -E2BIG,
                  "more than 3 rows");
}

static void test_available(void **state)
{
        static const struct {
                const char *model;
                bool available;
        } want[] = {
            {"t", true},   {"f", false},   {"st", true},    {"sf", false},
            {"yes", true}, {"no", false},  {"odd", true},   {"num", true},
            {"nul", true}, {"none", true}, {"gone", false},
        };
        const AdapterOptions opts = {.columns = "id:model, ok:available, life:lifecycle",
                                     .provider = "p"};
        ObservationList l = {0};

        parse_ok(&opts,
                 "[{\"id\": \"t\", \"ok\": true}, {\"id\": \"f\", \"ok\": false}, "
                 "{\"id\": \"st\", \"ok\": \"true\"}, {\"id\": \"sf\", \"ok\": \"False\"}, "
                 "{\"id\": \"yes\", \"ok\": \"Yes\"}, {\"id\": \"no\", \"ok\": \"NO\"}, "
                 "{\"id\": \"odd\", \"ok\": \"maybe\"}, {\"id\": \"num\", \"ok\": 0}, "
                 "{\"id\": \"nul\", \"ok\": null}, {\"id\": \"none\"}, "
                 "{\"id\": \"gone\", \"life\": \"Retired\"}]",
                 &l);
        assert_int_equal(l.n, ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                if (find(&l, "p", want[i].model)->available != want[i].available)
                        fail_msg("%s: available %d, want %d", want[i].model, !want[i].available,
                                 want[i].available);
        observation_list_clear(&l);
}

static void test_failures(void **state)
{
        static const struct {
                const char *rows, *columns, *provider, *input, *message;
        } cases[] = {
            {"data[*]", "id:model", "p", "{\"models\": []}",
             "rows \"data[*]\" matched nothing: the top level has no member \"data\""},
            {"data[*]", "id:model", "p", "{\"data\": {\"a\": 1}}",
             "rows \"data[*]\" matched nothing: \"data\" is an object, not an array"},
            {"data[*]", "id:model", "p", "{\"data\": []}",
             "rows \"data[*]\" matched nothing: \"data\" is an empty array"},
            {"data[5]", "id:model", "p", "{\"data\": [1, 2]}",
             "rows \"data[5]\" matched nothing: \"data\" has 2 elements, no [5]"},
            {"x.*", "id:model", "p", "{\"x\": {}}",
             "rows \"x.*\" matched nothing: \"x\" is an empty object"},
            {"x.*", "id:model", "p", "{\"x\": [1]}",
             "rows \"x.*\" matched nothing: \"x\" is an array, not an object"},
            {NULL, "id:model", "p", "{\"a\": 1}",
             "rows \"[*]\" (the default) matched nothing: the top level is an object, not an "
             "array"},
            {NULL, "id:model", "p", "[]",
             "rows \"[*]\" (the default) matched nothing: the top level is an empty array"},
            {"$[*].a.b.c", "id:model", "p", "[{\"a\": {\"b\": \"s\"}}]",
             "rows \"[*].a.b.c\" matched nothing: \"[*].a.b\" is a string, not an object"},
            {"a.\"b c\"", "id:model", "p", "{\"a\": null}",
             "rows \"a.\"b c\"\" matched nothing: \"a\" is null, not an object"},
            {"a.b", "id:model", "p", "{\"a\": {\"c\": 1}}",
             "rows \"a.b\" matched nothing: \"a\" has no member \"b\""},
            {NULL, "id:model", "p", "[{\"name\": \"x\"}, {\"id\": 5}, {\"id\": \"\"}]",
             "no row has a string at \"id\""},
            {NULL, "id:model", "p", "[[1, 2], [3]]",
             "no row has a string at \"id\" (the rows are arrays; did you mean rows = "
             "[*][*]?)"},
            {"data", "id:model", "p", "{\"data\": [{\"id\": \"x\"}]}",
             "no row has a string at \"id\" (the rows are arrays; did you mean rows = "
             "data[*]?)"},
            {NULL, "[0]:model", "p", "[[1, 2], [3]]", "no row has a string at \"[0]\""},
            {NULL, "id:model, host:provider", NULL,
             "[{\"id\": \"m\", \"host\": 3}, {\"id\": \"n\"}]",
             "no row with a model has a string at \"host\", and the source sets no provider"},
            {"data[", "id:model", "p", "[]",
             "invalid rows: byte 6: expected '*' or an index after '[', got the end"},
            {NULL, "id", "p", "[]",
             "invalid columns: column 1 (\"id\") has no ':' between path and field"},
            {NULL, "id:model", NULL, "[]",
             "invalid columns: the column spec has no provider column, and the source sets no "
             "provider"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const AdapterOptions opts = {.rows = cases[i].rows,
                                             .columns = cases[i].columns,
                                             .provider = cases[i].provider};
                parse_bad(&opts, cases[i].input, strlen(cases[i].input), -EBADMSG,
                          cases[i].message);
        }
}

static void test_not_json_and_caps(void **state)
{
        const AdapterOptions opts = {.columns = "$:model", .provider = "p", .max_rows = 2};
        static const char *const not_json[] = {"hello", "", "[\"a\", ", "{\"a\": 1} x"};
        ObservationList l = {0};
        AdapterError err;

        for (size_t i = 0; i < ELEMENTSOF(not_json); i++) {
                assert_int_equal(parse(&opts, not_json[i], strlen(not_json[i]), &l, &err),
                                 -EBADMSG);
                if (!startswith(err.message, "invalid JSON: "))
                        fail_msg("\"%s\": %s", not_json[i], err.message);
                assert_int_not_equal(err.line, 0);
                assert_int_equal(l.n, 0);
        }

        /* Rows past max_rows fail, even before any model is looked at. */
        parse_ok(&opts, "[\"a\", \"b\"]", &l);
        observation_list_clear(&l);
        parse_bad(&opts, "[\"a\", \"b\", \"c\"]", 15, -E2BIG, "more than 2 rows");
        parse_bad(&opts, "[1, 2, 3]", 9, -E2BIG, "more than 2 rows");

        /* The columns are required; the provider is not. */
        const AdapterOptions none = {.provider = "p"};
        parse_bad(&none, "[]", 2, -EINVAL, "format json needs columns");

        /* Nesting: the row object is level 3, so N brackets in it make depth N + 3. */
        for (size_t n = ADAPTER_MAX_DEPTH - 3; n <= ADAPTER_MAX_DEPTH - 2; n++) {
                _cleanup_free_ char *open = repeat("[", n, ""), *close = repeat("]", n, "");
                _cleanup_free_ char *doc =
                    xasprintf("{\"data\": [{\"id\": \"m\", \"deep\": %s%s}]}", open, close);
                const AdapterOptions d = {
                    .rows = "data[*]", .columns = "id:model", .provider = "p"};
                int r = parse(&d, doc, strlen(doc), &l, &err);

                if (n + 3 <= ADAPTER_MAX_DEPTH) {
                        assert_int_equal(r, 0);
                        assert_int_equal(l.n, 1);
                        observation_list_clear(&l);
                } else {
                        assert_int_equal(r, -ELOOP);
                        assert_string_equal(err.message, "JSON nested deeper than 64 levels");
                        assert_int_equal(l.n, 0);
                }
        }
}

static uint64_t fingerprint(const char *rows, const char *columns, const char *doc)
{
        const AdapterOptions opts = {.rows = rows, .columns = columns, .provider = "p"};
        ObservationList l = {0};
        uint64_t fp;

        parse_ok(&opts, doc, &l);
        fp = l.fingerprint;
        observation_list_clear(&l);
        return fp;
}

static void test_fingerprint(void **state)
{
        static const char cols[] = "id:model, pricing.prompt:price_in_per_token, status:lifecycle";
        static const char base[] = "{\"data\": [{\"id\": \"a\", \"pricing\": {\"prompt\": "
                                   "\"0.1\"}, \"status\": \"active\"}]}";
        /* Other values, more rows, a field missing from some rows: the same structure. */
        static const char same[] =
            "{\"data\": [{\"id\": \"b\", \"pricing\": {\"prompt\": \"0.3\"}, \"status\": "
            "\"preview\", \"extra\": 1}, {\"id\": \"c\", \"pricing\": {\"prompt\": null}}]}";
        static const char renamed[] = "{\"data\": [{\"id\": \"a\", \"pricing\": {\"input\": "
                                      "\"0.1\"}, \"status\": \"active\"}]}";
        static const char dropped[] =
            "{\"data\": [{\"id\": \"a\", \"pricing\": {\"prompt\": \"0.1\"}}]}";
        uint64_t fp = fingerprint("data[*]", cols, base);

        assert_int_equal(fingerprint("data[*]", cols, same), fp);
        assert_int_not_equal(fingerprint("data[*]", cols, renamed), fp);
        assert_int_not_equal(fingerprint("data[*]", cols, dropped), fp);
        /* Which field went missing shows too. */
        assert_int_not_equal(fingerprint("data[*]", cols, renamed),
                             fingerprint("data[*]", cols, dropped));
        /* The same paths spelled otherwise, in another order: the same fingerprint. */
        assert_int_equal(fingerprint("$.\"data\"[*]",
                                     "status:lifecycle, \"id\":model, "
                                     "$.pricing.\"prompt\":price_in_per_token",
                                     base),
                         fp);
        /* Another way to the rows is another structure. */
        assert_int_not_equal(fingerprint("data[0]", cols, base), fp);
}

/* The table formats check their column spec through the same hook; the rest take none. */
static void test_check_hook_other_formats(void **state)
{
        static const char *const tables[] = {"html-table", "markdown-table"};
        AdapterError err = {0};

        for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
                const Adapter *a = adapter_find(tables[i]);
                AdapterOptions opts = {.columns = "Model"};

                assert_non_null(a->check);
                assert_int_equal(a->check(&opts, &err), -EBADMSG);
                assert_string_equal(err.message,
                                    "column 1 (\"Model\") has no ':' between header and field");
                opts.columns = "Model ID:model, Regions:regions";
                assert_int_equal(a->check(&opts, &err), 0);
                opts.columns = NULL;
                assert_int_equal(a->check(&opts, &err), 0);
        }
        for (const Adapter *const *a = adapter_all(); *a; a++)
                if (!(*a)->needs_columns)
                        assert_null((*a)->check);
        assert_ptr_equal(adapter_find("json"), json_adapter());
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_path_grammar_good),
            cmocka_unit_test(test_path_grammar_bad),
            cmocka_unit_test(test_path_caps),
            cmocka_unit_test(test_fields),
            cmocka_unit_test(test_prices_per_million),
            cmocka_unit_test(test_key),
            cmocka_unit_test(test_members_and_quoting),
            cmocka_unit_test(test_fan_out),
            cmocka_unit_test(test_available),
            cmocka_unit_test(test_failures),
            cmocka_unit_test(test_not_json_and_caps),
            cmocka_unit_test(test_fingerprint),
            cmocka_unit_test(test_check_hook_other_formats),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
