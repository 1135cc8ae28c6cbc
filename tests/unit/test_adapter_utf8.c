/* Hostile text through every format: bytes that are not UTF-8 and control characters in
 * every field a format reads come out of adapter_parse() as UTF-8 ('?' for each bad
 * byte), and a page that fails to parse gets an error message that is UTF-8 too. A byte
 * order mark is not content. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

static char *read_data(const char *rel, size_t *ret_len)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", LW_TEST_DATA, rel);
        char *buf = NULL;

        assert_int_equal(util_read_file(path, 4 * 1024 * 1024, &buf, ret_len), 0);
        return buf;
}

/* A copy of a JSON document with `insert` (raw bytes, or an escape) put at the start of
 * every string value, and with id_keys of every id-like key whose value is an object (the
 * formats keyed by model or provider id); other keys, and a value equal to keep (a word the
 * format selects rows by), are left alone so the document keeps its shape. */
static char *poison_json(const char *in, size_t len, const char *insert, bool id_keys,
                         const char *keep, size_t *ret_len)
{
        size_t il = strlen(insert), o = 0;
        char *out = xmalloc(len * (il + 1) + 1);

        for (size_t i = 0; i < len; i++) {
                if (in[i] != '"') {
                        out[o++] = in[i];
                        continue;
                }
                size_t end = i + 1;
                while (end < len && in[end] != '"')
                        end += in[end] == '\\' ? 2 : 1;
                size_t k = end + 1;
                while (k < len && (in[k] == ' ' || in[k] == '\n' || in[k] == '\t'))
                        k++;
                bool key = k < len && in[k] == ':', object = false;
                if (key) {
                        size_t v = k + 1;
                        while (v < len && (in[v] == ' ' || in[v] == '\n' || in[v] == '\t'))
                                v++;
                        /* Field names are plain words; ids have dots, dashes, digits. */
                        object = v < len && in[v] == '{' &&
                                 strspn(in + i + 1, "abcdefghijklmnopqrstuvwxyz_") < end - i - 1;
                }
                bool kept = keep && end - i - 1 == strlen(keep) &&
                            memcmp(in + i + 1, keep, end - i - 1) == 0;
                out[o++] = '"';
                if ((!key && !kept) || (id_keys && object)) {
                        memcpy(out + o, insert, il);
                        o += il;
                }
                memcpy(out + o, in + i + 1, end - i);
                o += end - i;
                i = end;
        }
        out[o] = '\0';
        *ret_len = o;
        return out;
}

static bool text_ok(const char *s)
{
        return !s || util_utf8_valid(s, strlen(s));
}

/* Every text of every observation is UTF-8; returns how many model ids show a '?'. */
static size_t check_list(const ObservationList *l)
{
        size_t marked = 0;

        for (size_t i = 0; i < l->n; i++) {
                const Observation *o = &l->items[i];
                assert_true(text_ok(o->provider));
                assert_true(text_ok(o->model));
                assert_true(text_ok(o->vendor));
                assert_true(text_ok(o->name));
                for (size_t k = 0; k < o->n_regions; k++)
                        assert_true(text_ok(o->regions[k]));
                if (o->model && strchr(o->model, '?'))
                        marked++;
        }
        return marked;
}

static const struct {
        const char *format, *file;
        AdapterOptions opts;
        bool id_keys;
        const char *keep;
} json_cases[] = {
    {"litellm", "adapters/catalogues/litellm-good.json", {0}, true, NULL},
    {"models-dev", "adapters/catalogues/models-dev-good.json", {0}, true, NULL},
    {"openrouter", "adapters/catalogues/openrouter-good.json", {0}, false, NULL},
    {"bedrock-model-cards", "adapters/clouds/cards-good.json", {0}, false, NULL},
    {"bedrock-api", "adapters/clouds/api-foundation-models.json", {0}, false, NULL},
    {"bedrock-api", "adapters/clouds/api-inference-profiles.json", {0}, false, "SYSTEM_DEFINED"},
    {"azure-models", "adapters/clouds/azure-models.json", {0}, false, NULL},
    {"json",
     "json/feed.json",
     {.rows = "data[*]",
      .columns = "id:model, display.name:name, owned_by:vendor, host:provider, "
                 "regions:regions, status:lifecycle, retires:eol, "
                 "pricing.prompt:price_in_per_token, pricing.completion:price_out_per_token, "
                 "offered:available",
      .provider = "azure"},
     false,
     NULL},
};

/* A control character is valid JSON as an escape: the page parses, and every field
 * carries it; none reaches the output. */
static void test_json_control_escapes(void **unused)
{
        (void)unused;
        for (size_t i = 0; i < ELEMENTSOF(json_cases); i++) {
                const Adapter *a = adapter_find(json_cases[i].format);
                size_t len, plen;
                _cleanup_free_ char *good = read_data(json_cases[i].file, &len);
                _cleanup_free_ char *bad = poison_json(
                    good, len, "\\u0007\\u001b", json_cases[i].id_keys, json_cases[i].keep, &plen);
                ObservationList l = {0};
                AdapterError err;

                assert_non_null(a);
                int r = adapter_parse(a, bad, plen, &json_cases[i].opts, &l, &err);
                if (r < 0)
                        fail_msg("%s %s: %s", json_cases[i].format, json_cases[i].file,
                                 err.message);
                assert_true(l.n > 0);
                if (check_list(&l) == 0)
                        fail_msg("%s: no model id carried the poison", json_cases[i].format);
                observation_list_clear(&l);
        }
}

/* Raw bytes that are not UTF-8 make JSON invalid: the page fails, and the message that
 * quotes it is UTF-8. */
static void test_json_raw_bytes(void **unused)
{
        (void)unused;
        for (size_t i = 0; i < ELEMENTSOF(json_cases); i++) {
                const Adapter *a = adapter_find(json_cases[i].format);
                size_t len, plen;
                _cleanup_free_ char *good = read_data(json_cases[i].file, &len);
                _cleanup_free_ char *bad = poison_json(
                    good, len, "Caf\xe9\xff", json_cases[i].id_keys, json_cases[i].keep, &plen);
                ObservationList l = {0};
                AdapterError err;

                int r = adapter_parse(a, bad, plen, &json_cases[i].opts, &l, &err);
                assert_true(r < 0);
                assert_int_equal(l.n, 0);
                assert_true(err.message[0] != '\0');
                if (!text_ok(err.message))
                        fail_msg("%s: message not UTF-8", json_cases[i].format);
        }
}

static void parse_table(const char *format, const char *body, const char *columns,
                        ObservationList *l)
{
        const AdapterOptions opts = {.provider = "azure", .columns = columns};
        AdapterError err;

        int r = adapter_parse(adapter_find(format), body, strlen(body), &opts, l, &err);
        if (r < 0)
                fail_msg("%s: %s", format, err.message);
}

#define TABLE_COLUMNS                                                                              \
        "Model ID:model, Name:name, Vendor:vendor, Host:provider, Regions:regions, "               \
        "Stage:lifecycle"

static void check_table(const ObservationList *l)
{
        assert_int_equal(l->n, 1);
        assert_int_equal(check_list(l), 1);
        const Observation *o = &l->items[0];
        assert_string_equal(o->model, "Caf? Model 9");
        assert_non_null(strchr(o->name, '?'));
        assert_non_null(strchr(o->vendor, '?'));
        assert_non_null(strchr(o->provider, '?'));
        assert_true(o->n_regions >= 1);
        for (size_t k = 0; k < o->n_regions; k++)
                assert_non_null(strchr(o->regions[k], '?'));
}

static void test_markdown_cells(void **unused)
{
        ObservationList l = {0};
        (void)unused;

        parse_table("markdown-table",
                    "| Model ID | Name | Vendor | Host | Regions | Stage |\n"
                    "|---|---|---|---|---|---|\n"
                    "| Caf\xe9 Model 9 | N\xc3\xa4me \xed\xa0\x80 | Ven\xff | ho\x01st | "
                    "east\xe9us, west\xc0\xafus | G\xe9"
                    "A |\n",
                    TABLE_COLUMNS, &l);
        check_table(&l);
        observation_list_clear(&l);
}

static void test_html_cells(void **unused)
{
        ObservationList l = {0};
        (void)unused;

        /* Declared UTF-8, so libxml2 does not reinterpret the bytes as Latin-1. */
        parse_table("html-table",
                    "<html><head><meta charset=\"utf-8\"></head><body><table>"
                    "<tr><th>Model ID</th><th>Name</th><th>Vendor</th><th>Host</th>"
                    "<th>Regions</th><th>Stage</th></tr>"
                    "<tr><td>Caf\xe9 Model 9</td><td>N\xe4me</td><td>Ven\xff</td>"
                    "<td>ho&#1;st\x01</td><td>east\xe9us</td><td>G\xe9"
                    "A</td></tr>"
                    "</table></body></html>",
                    TABLE_COLUMNS, &l);
        check_list(&l);
        assert_int_equal(l.n, 1);
        observation_list_clear(&l);
}

/* A feed that starts with a UTF-8 byte order mark reads as it does without one (it was a
 * parse error at every poll); an error's offset still counts the mark. */
static void test_bom(void **unused)
{
        (void)unused;
        for (size_t i = 0; i < ELEMENTSOF(json_cases); i++) {
                const Adapter *a = adapter_find(json_cases[i].format);
                size_t len;
                _cleanup_free_ char *good = read_data(json_cases[i].file, &len);
                _cleanup_free_ char *bom = xasprintf("\xef\xbb\xbf%s", good);
                ObservationList plain = {0}, marked = {0};
                AdapterError err;

                assert_int_equal(adapter_parse(a, good, len, &json_cases[i].opts, &plain, &err), 0);
                if (adapter_parse(a, bom, len + 3, &json_cases[i].opts, &marked, &err) < 0)
                        fail_msg("%s with a BOM: %s", json_cases[i].format, err.message);
                assert_int_equal(marked.n, plain.n);
                assert_string_equal(marked.items[0].model, plain.items[0].model);
                assert_true(marked.fingerprint == plain.fingerprint);
                observation_list_clear(&plain);
                observation_list_clear(&marked);
        }

        const char *md = "\xef\xbb\xbf| Model ID | Regions |\n|---|---|\n| m-1 | eastus |\n";
        const AdapterOptions opts = {.provider = "azure",
                                     .columns = "Model ID:model, Regions:regions"};
        ObservationList l = {0};
        AdapterError err;
        assert_int_equal(
            adapter_parse(adapter_find("markdown-table"), md, strlen(md), &opts, &l, &err), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.items[0].model, "m-1");
        observation_list_clear(&l);

        /* The offset of an error counts the mark. */
        assert_true(adapter_parse(adapter_find("litellm"), "[1, x]", 6, NULL, &l, &err) < 0);
        size_t plain_offset = err.offset;
        assert_true(plain_offset > 0);
        assert_true(
            adapter_parse(adapter_find("litellm"), "\xef\xbb\xbf[1, x]", 9, NULL, &l, &err) < 0);
        assert_int_equal(err.offset, plain_offset + 3);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_json_control_escapes),
            cmocka_unit_test(test_json_raw_bytes),
            cmocka_unit_test(test_markdown_cells),
            cmocka_unit_test(test_html_cells),
            cmocka_unit_test(test_bom),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
