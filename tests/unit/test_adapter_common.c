/* The helpers the JSON adapters share (daemon/adapter.c): nesting cap, JSON loading,
 * dates, prices, string getters, structure fingerprints and the row cap. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>
#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

/* before + unit * n + closer * n + after */
static char *build(const char *before, const char *unit, unsigned n, const char *closer,
                   const char *after)
{
        size_t ul = strlen(unit), cl = strlen(closer), bl = strlen(before), al = strlen(after);
        char *s = xmalloc(bl + n * (ul + cl) + al + 1), *p = s;

        memcpy(p, before, bl);
        p += bl;
        for (unsigned i = 0; i < n; i++, p += ul)
                memcpy(p, unit, ul);
        for (unsigned i = 0; i < n; i++, p += cl)
                memcpy(p, closer, cl);
        memcpy(p, after, al);
        p[al] = '\0';
        return s;
}

static const struct {
        const char *what;
        const char *before, *unit;
        unsigned n;
        const char *closer, *after;
        unsigned flags;
        int ret;
        size_t offset; /* of the first bracket past the cap */
        unsigned line, col;
} depth_cases[] = {
    {"arrays at the cap", "", "[", ADAPTER_MAX_DEPTH, "]", "", 0, 0, 0, 0, 0},
    {"arrays one past the cap", "", "[", ADAPTER_MAX_DEPTH + 1, "]", "", 0, -ELOOP,
     ADAPTER_MAX_DEPTH, 1, ADAPTER_MAX_DEPTH + 1},
    {"one past the cap, as a malformed page", "", "[", ADAPTER_MAX_DEPTH + 1, "]", "",
     ADAPTER_JSON_DEPTH_EBADMSG, -EBADMSG, ADAPTER_MAX_DEPTH, 1, ADAPTER_MAX_DEPTH + 1},
    {"objects one past the cap", "", "{\"k\":", ADAPTER_MAX_DEPTH + 1, "}", "", 0, -ELOOP,
     5 * ADAPTER_MAX_DEPTH, 1, 5 * ADAPTER_MAX_DEPTH + 1},
    /* The outer object is level 1; the error names line 2, counted from its start. */
    {"past the cap on line 2", "{\"a\":\n  ", "[", ADAPTER_MAX_DEPTH, "]", "}", 0, -ELOOP,
     8 + ADAPTER_MAX_DEPTH - 1, 2, 2 + ADAPTER_MAX_DEPTH},
    {"brackets inside a string", "[\"", "[{", 3 * ADAPTER_MAX_DEPTH, "}]", "\"]", 0, 0, 0, 0, 0},
    {"escaped quote keeps the string open", "[\"\\\"", "[", 2 * ADAPTER_MAX_DEPTH, "]", "\"]", 0, 0,
     0, 0, 0},
    {"three backslashes keep the string open", "[\"\\\\\\\"", "[", 2 * ADAPTER_MAX_DEPTH, "]",
     "\"]", 0, 0, 0, 0, 0},
    /* "\\" is one escaped backslash: the quote after it closes the string. */
    {"escaped backslash closes the string", "[\"\\\\\", ", "[", ADAPTER_MAX_DEPTH, "]", "]", 0,
     -ELOOP, 7 + ADAPTER_MAX_DEPTH - 1, 1, 7 + ADAPTER_MAX_DEPTH},
    {"unterminated string", "\"", "[", 3 * ADAPTER_MAX_DEPTH, "]", "", 0, 0, 0, 0, 0},
    {"stray closers do not lend depth", "]]]]", "[", ADAPTER_MAX_DEPTH, "]", "", 0, 0, 0, 0, 0},
    {"stray closers then past the cap", "]]]]", "[", ADAPTER_MAX_DEPTH + 1, "]", "", 0, -ELOOP,
     4 + ADAPTER_MAX_DEPTH, 1, 5 + ADAPTER_MAX_DEPTH},
};

static void test_check_depth(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(depth_cases); i++) {
                _cleanup_free_ char *s =
                    build(depth_cases[i].before, depth_cases[i].unit, depth_cases[i].n,
                          depth_cases[i].closer, depth_cases[i].after);
                AdapterError err = {0};
                int r;

                print_message("depth %zu: %s\n", i, depth_cases[i].what);
                r = adapter_json_check_depth(s, strlen(s), depth_cases[i].flags, &err);
                assert_int_equal(r, depth_cases[i].ret);
                if (r == 0) {
                        assert_string_equal(err.message, "");
                        continue;
                }
                assert_string_equal(err.message, "JSON nested deeper than 64 levels");
                assert_int_equal(err.offset, depth_cases[i].offset);
                assert_true(s[err.offset] == '[' || s[err.offset] == '{');
                assert_int_equal(err.line, depth_cases[i].line);
                assert_int_equal(err.col, depth_cases[i].col);
        }
}

/* Bytes past len are not part of the input, brackets included. */
static void test_check_depth_length(void **state)
{
        _cleanup_free_ char *s = build("", "[", ADAPTER_MAX_DEPTH + 1, "]", "");
        AdapterError err = {0};

        assert_int_equal(adapter_json_check_depth(s, ADAPTER_MAX_DEPTH, 0, &err), 0);
        assert_int_equal(adapter_json_check_depth(s, ADAPTER_MAX_DEPTH + 1, 0, &err), -ELOOP);
        assert_int_equal(adapter_json_check_depth(NULL, 0, 0, &err), 0);
}

static const struct {
        const char *what;
        const char *text;
        size_t len; /* 0: strlen(text) */
        unsigned flags;
        int ret;
        const char *message; /* prefix */
        unsigned line, col;  /* expected when ret < 0; 0 = not checked */
        json_type type;      /* of the first array element when ret == 0 */
} load_cases[] = {
    {"trailing comma", "{\"a\":\n  [1, 2,\n   ]}", 0, 0, -EBADMSG, "invalid JSON: ", 3, 4, 0},
    {"html instead of JSON", "<html>moved</html>", 0, 0, -EBADMSG, "invalid JSON: ", 1, 1, 0},
    {"truncated", "[1, 2", 0, 0, -EBADMSG, "invalid JSON: ", 1, 0, 0},
    {"only the first len bytes", "[1]GARBAGE", 3, 0, 0, NULL, 0, 0, JSON_INTEGER},
    {"bytes past len count when included", "[1]GARBAGE", 4, 0, -EBADMSG, "invalid JSON: ", 1, 4, 0},
    {"integer", "[5]", 0, 0, 0, NULL, 0, 0, JSON_INTEGER},
    {"integer as real", "[5]", 0, ADAPTER_JSON_INT_AS_REAL, 0, NULL, 0, 0, JSON_REAL},
    {"oversized integer", "[123456789012345678901234567890]", 0, 0, -EBADMSG,
     "invalid JSON: too big integer", 1, 0, 0},
    {"oversized integer as real", "[123456789012345678901234567890]", 0, ADAPTER_JSON_INT_AS_REAL,
     0, NULL, 0, 0, JSON_REAL},
    {"string", "[\"x\"]", 0, ADAPTER_JSON_INT_AS_REAL, 0, NULL, 0, 0, JSON_STRING},
};

static void test_load(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(load_cases); i++) {
                size_t len = load_cases[i].len ?: strlen(load_cases[i].text);
                _cleanup_(adapter_json_decrefp) json_t *root = NULL;
                AdapterError err = {0};
                int r;

                print_message("load %zu: %s\n", i, load_cases[i].what);
                r = adapter_json_load(load_cases[i].text, len, load_cases[i].flags, &root, &err);
                assert_int_equal(r, load_cases[i].ret);
                if (r < 0) {
                        assert_null(root);
                        assert_non_null(startswith(err.message, load_cases[i].message));
                        assert_true(strlen(err.message) > strlen("invalid JSON: "));
                        assert_int_equal(err.line, load_cases[i].line);
                        if (load_cases[i].col)
                                assert_int_equal(err.col, load_cases[i].col);
                        assert_true(err.offset <= len);
                        continue;
                }
                assert_true(json_is_array(root));
                assert_int_equal(json_array_size(root), 1);
                assert_int_equal(json_typeof(json_array_get(root, 0)), load_cases[i].type);
        }
}

/* The nesting cap applies before jansson sees the bytes, with the flag's errno. */
static void test_load_depth(void **state)
{
        _cleanup_free_ char *ok = build("", "[", ADAPTER_MAX_DEPTH, "]", "");
        _cleanup_free_ char *deep = build("", "[", ADAPTER_MAX_DEPTH + 1, "]", "");
        _cleanup_(adapter_json_decrefp) json_t *root = NULL;
        json_t *none = NULL;
        AdapterError err = {0};

        assert_int_equal(adapter_json_load(ok, strlen(ok), 0, &root, &err), 0);
        assert_true(json_is_array(root));
        assert_int_equal(adapter_json_load(deep, strlen(deep), 0, &none, &err), -ELOOP);
        assert_null(none);
        assert_int_equal(err.offset, ADAPTER_MAX_DEPTH);
        assert_int_equal(
            adapter_json_load(deep, strlen(deep), ADAPTER_JSON_DEPTH_EBADMSG, &none, &err),
            -EBADMSG);
        assert_null(none);
        assert_string_equal(err.message, "JSON nested deeper than 64 levels");
}

static const struct {
        const char *text;
        unsigned flags;
        int ret;
        int64_t when; /* seconds since the epoch, from the calendar */
} date_cases[] = {
    {"1970-01-01", 0, 0, 0},
    {"1970-01-01", ADAPTER_DATE_FROM_EPOCH, 0, 0},
    {"2024-02-29", 0, 0, 1709164800},                      /* leap year */
    {"2000-02-29", ADAPTER_DATE_FROM_EPOCH, 0, 951782400}, /* divisible by 400 */
    {"2100-02-28", 0, 0, 4107456000},
    {"2100-02-29", 0, -EINVAL, 0}, /* divisible by 100, not 400 */
    {"1900-02-29", 0, -EINVAL, 0},
    {"2023-02-29", 0, -EINVAL, 0},
    {"2025-04-31", 0, -EINVAL, 0},
    {"2025-13-01", 0, -EINVAL, 0},
    {"2025-00-10", 0, -EINVAL, 0},
    {"2025-01-00", 0, -EINVAL, 0},
    {"2025-1-01", 0, -EINVAL, 0},
    {"2025/01/01", 0, -EINVAL, 0},
    {"+025-01-01", 0, -EINVAL, 0},
    {"2025-01-0", 0, -EINVAL, 0},
    {"2025", 0, -EINVAL, 0},
    {"", 0, -EINVAL, 0},
    {"1969-12-31", 0, 0, -86400},
    {"1969-12-31", ADAPTER_DATE_FROM_EPOCH, -EINVAL, 0},
    {"1600-02-29", 0, 0, -11670998400},
    {"2025-03-01T10:20:30Z", 0, -EINVAL, 0},
    {"2025-03-01T10:20:30Z", ADAPTER_DATE_TIME_SUFFIX, 0, 1740787200},
    {"2025-03-01 10:20", ADAPTER_DATE_TIME_SUFFIX, 0, 1740787200},
    {"2025-03-01T", ADAPTER_DATE_TIME_SUFFIX | ADAPTER_DATE_FROM_EPOCH, 0, 1740787200},
    {"2025-03-01X", ADAPTER_DATE_TIME_SUFFIX, -EINVAL, 0},
    {"2025-03-01 ", 0, -EINVAL, 0},
    {"2025-02-30T00:00:00Z", ADAPTER_DATE_TIME_SUFFIX, -EINVAL, 0},
};

static void test_parse_date(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(date_cases); i++) {
                int64_t when = 42;
                int r;

                print_message("date %zu: \"%s\" flags %u\n", i, date_cases[i].text,
                              date_cases[i].flags);
                r = adapter_parse_date(date_cases[i].text, date_cases[i].flags, &when);
                assert_int_equal(r, date_cases[i].ret);
                /* On failure the output is left alone. */
                assert_int_equal(when, r < 0 ? 42 : date_cases[i].when);
        }
        assert_int_equal(adapter_parse_date(NULL, ADAPTER_DATE_TIME_SUFFIX, &(int64_t){0}),
                         -EINVAL);
}

/* Walk the calendar day by day, across the year 0 and the 400-year eras: each day is one
 * more than the one before, and 1970-01-01 is day 0. */
static void test_days_from_civil(void **state)
{
        static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int64_t prev = adapter_days_from_civil(-801, 12, 31);

        for (int64_t y = -800; y <= 2800; y++) {
                bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);

                for (unsigned m = 1; m <= 12; m++) {
                        unsigned n = mdays[m - 1] + (m == 2 && leap);

                        for (unsigned d = 1; d <= n; d++) {
                                int64_t days = adapter_days_from_civil(y, m, d);

                                if (days != prev + 1)
                                        fail_msg("%lld-%02u-%02u is day %lld after %lld",
                                                 (long long)y, m, d, (long long)days,
                                                 (long long)prev);
                                prev = days;
                        }
                }
        }
        assert_int_equal(adapter_days_from_civil(1970, 1, 1), 0);
        assert_int_equal(adapter_days_from_civil(2000, 3, 1), 11017);
}

static const struct {
        double per_token;
        double want; /* NAN: expect NAN */
} mtok_cases[] = {
    {2.5e-05, 25.0}, /* 2.5e-05 * 1e6 is 25.000000000000004 before rounding */
    {3e-06, 3.0},
    {1.5e-07, 0.15},
    {1.1e-05, 11.0},
    {0.0, 0.0},
    {1.2345678e-06, 1.234568}, /* a millionth of a dollar is the resolution */
    {1e-13, 0.0},
    {2.0, 2e6},
    {-1.0, NAN},
    {-1e-9, NAN},
    {INFINITY, NAN},
    {-INFINITY, NAN},
    {NAN, NAN},
};

static void test_price_per_mtok(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(mtok_cases); i++) {
                double p = adapter_price_per_mtok(mtok_cases[i].per_token);

                print_message("per token %g\n", mtok_cases[i].per_token);
                if (isnan(mtok_cases[i].want))
                        assert_true(isnan(p));
                else if (p != mtok_cases[i].want)
                        fail_msg("%.17g per token gave %.17g per Mtok, want %.17g",
                                 mtok_cases[i].per_token, p, mtok_cases[i].want);
        }
}

static const struct {
        const char *json; /* one array element, or NULL for no value at all */
        unsigned flags;
        double want;
} price_cases[] = {
    {"2.5e-05", ADAPTER_PRICE_PER_TOKEN, 25.0},
    {"3", 0, 3.0}, /* already per million: no scaling */
    {"0.15", 0, 0.15},
    {"-1", 0, NAN},
    {"-1", ADAPTER_PRICE_PER_TOKEN, NAN},
    {"\"0.000005\"", ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, 5.0},
    {"\"1e-6\"", ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, 1.0},
    {"\"0\"", ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, 0.0},
    {"\"0.000005\"", ADAPTER_PRICE_PER_TOKEN, NAN}, /* strings only with the flag */
    {"\"-1\"", ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, NAN},
    {"\" 1\"", ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, NAN},
    {"\"inf\"", ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, NAN},
    {"\"nan\"", ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, NAN},
    {"\"0x1p-3\"", ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, NAN},
    {"\"1e999\"", ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, NAN},
    {"\"1.2.3\"", ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, NAN},
    /* 64 bytes are the most a price string may have. */
    {"\"0.000000000000000000000000000000"
     "00000000000000000000000000000001\"",
     ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, 0.0},
    {"\"0.000000000000000000000000000000"
     "000000000000000000000000000000001\"",
     ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, NAN},
    {"null", ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, NAN},
    {"true", 0, NAN},
    {"{}", 0, NAN},
    {NULL, ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING, NAN},
};

static void test_json_price(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(price_cases); i++) {
                _cleanup_(adapter_json_decrefp) json_t *root = NULL;
                json_t *v = NULL;
                double p;

                print_message("price %zu: %s\n", i, price_cases[i].json ?: "(none)");
                if (price_cases[i].json) {
                        _cleanup_free_ char *text = xasprintf("[%s]", price_cases[i].json);

                        root = json_loads(text, 0, NULL);
                        assert_non_null(root);
                        v = json_array_get(root, 0);
                }
                p = adapter_json_price(v, price_cases[i].flags);
                if (isnan(price_cases[i].want))
                        assert_true(isnan(p));
                else if (p != price_cases[i].want)
                        fail_msg("%s gave %.17g, want %.17g", price_cases[i].json, p,
                                 price_cases[i].want);
        }
}

static void test_json_string(void **state)
{
        static const struct {
                const char *json;
                size_t min, max;
                const char *want; /* NULL: expect NULL */
        } cases[] = {
            {"\"abc\"", 0, 3, "abc"}, {"\"abc\"", 0, 2, NULL}, {"\"abc\"", 3, 3, "abc"},
            {"\"abc\"", 4, 9, NULL},  {"\"\"", 0, 5, ""},      {"\"\"", 1, 5, NULL},
            {"1", 0, 5, NULL},        {"null", 0, 5, NULL},    {"[\"a\"]", 0, 5, NULL},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = xasprintf("[%s]", cases[i].json);
                _cleanup_(adapter_json_decrefp) json_t *root = json_loads(text, 0, NULL);
                const char *s;

                assert_non_null(root);
                s = adapter_json_string(json_array_get(root, 0), cases[i].min, cases[i].max);
                if (cases[i].want)
                        assert_string_equal(s, cases[i].want);
                else
                        assert_null(s);
        }
        assert_null(adapter_json_string(NULL, 0, 10));
}

enum { F_ALPHA, F_BETA, F_GAMMA, F_DELTA, _F_MAX };
static const char *const field_names[_F_MAX] = {
    [F_ALPHA] = "alpha", [F_BETA] = "beta", [F_GAMMA] = "gamma", [F_DELTA] = "delta"};

static void test_json_field(void **state)
{
        _cleanup_(adapter_json_decrefp) json_t *obj =
            json_loads("{\"alpha\": \"a\", \"beta\": null, \"gamma\": \"\"}", 0, NULL);
        _cleanup_(adapter_json_decrefp) json_t *arr = json_loads("[\"alpha\"]", 0, NULL);
        uint64_t seen = 0;

        assert_non_null(obj);
        assert_string_equal(adapter_json_field_string(obj, field_names, F_ALPHA, 1, &seen), "a");
        assert_null(adapter_json_field_string(obj, field_names, F_ALPHA, 0, &seen));
        /* Present but null or empty: no value, yet the field is part of the layout. */
        assert_true(json_is_null(adapter_json_field(obj, field_names, F_BETA, &seen)));
        assert_null(adapter_json_field_string(obj, field_names, F_GAMMA, 10, &seen));
        assert_null(adapter_json_field(obj, field_names, F_DELTA, &seen));
        assert_int_equal(seen, (1u << F_ALPHA) | (1u << F_BETA) | (1u << F_GAMMA));

        seen = 0;
        assert_null(adapter_json_field(arr, field_names, F_ALPHA, &seen));
        assert_null(adapter_json_field_string(NULL, field_names, F_ALPHA, 10, &seen));
        assert_int_equal(seen, 0);
}

/* The hash chains the shape and the present names, each with its NUL, in table order. */
static void test_fingerprint(void **state)
{
        static const char shape[] = "test:object";
        uint64_t want, all, none;

        want = util_fnv1a(UTIL_FNV_INIT, shape, sizeof(shape));
        want = util_fnv1a(want, "alpha", sizeof("alpha"));
        want = util_fnv1a(want, "gamma", sizeof("gamma"));
        assert_int_equal(adapter_fingerprint_fields(shape, field_names, _F_MAX,
                                                    (1u << F_ALPHA) | (1u << F_GAMMA)),
                         want);
        /* Bits past the table are not names. */
        assert_int_equal(
            adapter_fingerprint_fields(shape, field_names, _F_MAX,
                                       (1u << F_ALPHA) | (1u << F_GAMMA) | (UINT64_C(1) << 40)),
            want);

        none = adapter_fingerprint_fields(shape, field_names, _F_MAX, 0);
        all = adapter_fingerprint_fields(shape, field_names, _F_MAX, (1u << _F_MAX) - 1);
        assert_int_equal(none, util_fnv1a(UTIL_FNV_INIT, shape, sizeof(shape)));
        assert_true(all != none && all != want && want != none);
        assert_true(adapter_fingerprint_fields("test:array", field_names, _F_MAX, 0) != none);
        /* "alpha" then "beta" must differ from one field "alphabeta". */
        assert_true(adapter_fingerprint_fields(shape, field_names, 2, 3) !=
                    adapter_fingerprint_fields(shape, (const char *const[]){"alphabeta"}, 1, 1));
}

static void test_add_observation(void **state)
{
        static const size_t caps[] = {1, 3};
        ObservationList l = {0};

        for (size_t c = 0; c < ELEMENTSOF(caps); c++) {
                AdapterOptions opts = {.max_rows = caps[c]};
                _cleanup_free_ char *want = xasprintf("more than %zu rows", caps[c]);
                AdapterError err = {0};
                Observation *o = NULL;

                for (size_t i = 0; i < caps[c]; i++) {
                        assert_int_equal(adapter_add_observation(&l, &opts, &err, &o), 0);
                        assert_ptr_equal(o, &l.items[l.n - 1]);
                        assert_true(o->available);
                        assert_true(isnan(o->price_in) && isnan(o->price_out));
                }
                o = NULL;
                assert_int_equal(adapter_add_observation(&l, &opts, &err, &o), -E2BIG);
                assert_null(o);
                assert_int_equal(l.n, caps[c]);
                assert_string_equal(err.message, want);
                observation_list_clear(&l);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_check_depth),    cmocka_unit_test(test_check_depth_length),
            cmocka_unit_test(test_load),           cmocka_unit_test(test_load_depth),
            cmocka_unit_test(test_parse_date),     cmocka_unit_test(test_days_from_civil),
            cmocka_unit_test(test_price_per_mtok), cmocka_unit_test(test_json_price),
            cmocka_unit_test(test_json_string),    cmocka_unit_test(test_json_field),
            cmocka_unit_test(test_fingerprint),    cmocka_unit_test(test_add_observation),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
