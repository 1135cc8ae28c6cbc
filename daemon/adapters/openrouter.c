/* OpenRouter GET /api/v1/models: {"data":[{id, name, pricing:{prompt, completion},
 * expiration_date, ...}]} with prices as decimal strings in USD per token. See
 * docs/adapters-catalogues.md for the mapping. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

/* Fields whose presence makes up the structure fingerprint, sorted by path. */
static const char *const openrouter_fp_fields[] = {
    "data[].expiration_date",
    "data[].id",
    "data[].name",
    "data[].pricing",
    "data[].pricing.completion",
    "data[].pricing.prompt",
};
enum {
        OPENROUTER_FP_EXPIRATION = 1u << 0,
        OPENROUTER_FP_ID = 1u << 1,
        OPENROUTER_FP_NAME = 1u << 2,
        OPENROUTER_FP_PRICING = 1u << 3,
        OPENROUTER_FP_COMPLETION = 1u << 4,
        OPENROUTER_FP_PROMPT = 1u << 5,
};

/* jansson accepts 2048 levels; the cap is ours, checked on the raw bytes before any
 * tree is built so a hostile page costs one linear scan. */
static int openrouter_check_depth(const char *data, size_t len, AdapterError *err)
{
        unsigned depth = 0;

        for (size_t i = 0; i < len; i++) {
                char c = data[i];

                if (c == '"') {
                        /* Jump to the closing quote: one preceded by an even run of
                         * backslashes. */
                        for (;;) {
                                const char *q = memchr(data + i + 1, '"', len - i - 1);
                                size_t bs = 0;

                                if (!q)
                                        return 0; /* unterminated: jansson reports it */
                                i = (size_t)(q - data);
                                while (bs < i && data[i - 1 - bs] == '\\')
                                        bs++;
                                if (bs % 2 == 0)
                                        break;
                        }
                } else if (c == '{' || c == '[') {
                        if (++depth > ADAPTER_MAX_DEPTH) {
                                unsigned line = 1, col = 1;

                                for (size_t k = 0; k < i; k++) {
                                        col++;
                                        if (data[k] == '\n') {
                                                line++;
                                                col = 1;
                                        }
                                }
                                adapter_error(err, i, "JSON nested deeper than %d levels",
                                              ADAPTER_MAX_DEPTH);
                                err->line = line;
                                err->col = col;
                                return -ELOOP;
                        }
                } else if ((c == '}' || c == ']') && depth > 0) {
                        depth--;
                }
        }
        return 0;
}

static int openrouter_load(const char *data, size_t len, json_t **ret, AdapterError *err)
{
        json_error_t jerr;
        json_t *root;
        int r;

        r = openrouter_check_depth(data, len, err);
        if (r < 0)
                return r;
        /* Integers as reals: an oversized integer in a field we ignore must not fail
         * the whole page. */
        root = json_loadb(data, len, JSON_DECODE_INT_AS_REAL, &jerr);
        if (!root) {
                r = adapter_error(err, jerr.position > 0 ? (size_t)jerr.position : 0,
                                  "invalid JSON: %s", jerr.text);
                err->line = jerr.line > 0 ? (unsigned)jerr.line : 0;
                err->col = jerr.column > 0 ? (unsigned)jerr.column : 0;
                return r;
        }
        *ret = root;
        return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil
 * arithmetic): no timegm(), no TZ, no locale. */
static int64_t openrouter_days_from_civil(int64_t y, unsigned m, unsigned d)
{
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned)(y - era * 400);
        unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

        return era * 146097 + (int64_t)doe - 719468;
}

static int openrouter_parse_date(const char *s, int64_t *ret)
{
        static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        unsigned y = 0, m = 0, d = 0;

        if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
                return -EINVAL;
        for (size_t i = 0; i < 10; i++) {
                if (i == 4 || i == 7)
                        continue;
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                unsigned v = (unsigned)(s[i] - '0');
                if (i < 4)
                        y = y * 10 + v;
                else if (i < 7)
                        m = m * 10 + v;
                else
                        d = d * 10 + v;
        }
        if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
                return -EINVAL;
        if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
                return -EINVAL;
        *ret = openrouter_days_from_civil(y, m, d) * 86400;
        return 0;
}

/* USD per token, published as a decimal string ("0.000005"; "-1" for routers whose
 * price depends on the model picked), to USD per million tokens. */
static double openrouter_price(json_t *v)
{
        const char *s;
        char *end;
        double p;

        if (json_is_number(v)) {
                p = json_number_value(v);
        } else if ((s = json_string_value(v))) {
                /* strtod skips leading blanks and accepts "inf"/"nan"/hex: only a
                 * plain decimal is a price. */
                if (!*s || strlen(s) > 64 || strspn(s, "0123456789.-+eE") != strlen(s))
                        return NAN;
                errno = 0;
                p = strtod(s, &end);
                if (errno != 0 || *end != '\0')
                        return NAN;
        } else {
                return NAN;
        }
        if (!isfinite(p) || p < 0)
                return NAN;
        p *= 1e6;
        /* Drop binary noise so equal prices compare equal across sources; a millionth
         * of a dollar per Mtok is far below any tariff. */
        if (p < 1e6)
                p = round(p * 1e6) / 1e6;
        return p;
}

static int openrouter_add_model(json_t *m, const AdapterOptions *opts, ObservationList *out,
                                unsigned *present, AdapterError *err)
{
        json_t *id_v, *name_v, *pricing, *exp;
        const char *id, *name, *slash;
        Observation *o;
        int64_t eol = 0;
        int r;

        id_v = json_object_get(m, "id");
        if (id_v)
                *present |= OPENROUTER_FP_ID;
        name_v = json_object_get(m, "name");
        if (name_v)
                *present |= OPENROUTER_FP_NAME;
        exp = json_object_get(m, "expiration_date");
        if (exp)
                *present |= OPENROUTER_FP_EXPIRATION;
        pricing = json_object_get(m, "pricing");
        if (pricing) {
                *present |= OPENROUTER_FP_PRICING;
                if (json_object_get(pricing, "prompt"))
                        *present |= OPENROUTER_FP_PROMPT;
                if (json_object_get(pricing, "completion"))
                        *present |= OPENROUTER_FP_COMPLETION;
        }

        id = json_string_value(id_v);
        if (!id || !*id || strlen(id) > ADAPTER_MAX_ID_LEN)
                return 0;

        r = observation_list_add(out, opts->max_rows, &o);
        if (r == -E2BIG)
                return adapter_error(err, 0, "more than %zu rows", opts->max_rows), r;
        if (r < 0)
                return r;

        o->provider = xstrdup(opts->provider ?: "openrouter");
        o->model = xstrdup(id);
        slash = strchr(id, '/');
        if (slash && slash != id)
                o->vendor = xstrndup(id, (size_t)(slash - id));
        else
                o->vendor = xstrdup(opts->vendor);
        name = json_string_value(name_v);
        if (name && strlen(name) <= ADAPTER_MAX_ID_LEN)
                o->name = xstrdup(name);
        o->price_in = openrouter_price(json_object_get(pricing, "prompt"));
        o->price_out = openrouter_price(json_object_get(pricing, "completion"));
        /* A scheduled expiration is OpenRouter announcing the model's end of life. */
        if (json_is_string(exp) && openrouter_parse_date(json_string_value(exp), &eol) >= 0) {
                o->eol = eol;
                o->lifecycle = LIFECYCLE_DEPRECATED;
        }
        return 0;
}

int adapter_openrouter_parse(const char *data, size_t len, const AdapterOptions *opts,
                             ObservationList *out, AdapterError *err)
{
        static const AdapterOptions defaults = {0};
        static const char shape[] = "openrouter:object.data-array-of-objects";
        json_t *root = NULL, *list;
        unsigned present = 0;
        uint64_t h;
        int r = 0;

        if (!opts)
                opts = &defaults;
        r = openrouter_load(data, len, &root, err);
        if (r < 0)
                return r;
        if (!json_is_object(root)) {
                r = adapter_error(err, 0, "top level is not an object");
                goto finish;
        }
        list = json_object_get(root, "data");
        if (!list) {
                r = adapter_error(err, 0, "no \"data\" member at top level");
                goto finish;
        }
        if (!json_is_array(list)) {
                r = adapter_error(err, 0, "\"data\" is not an array");
                goto finish;
        }

        for (size_t i = 0; i < json_array_size(list); i++) {
                json_t *m = json_array_get(list, i);

                if (!json_is_object(m))
                        continue;
                r = openrouter_add_model(m, opts, out, &present, err);
                if (r < 0)
                        goto finish;
        }

        /* Entries that all lost "id" mean the layout moved: that must not read as
         * "every model is gone". */
        if (json_array_size(list) > 0 && !(present & OPENROUTER_FP_ID)) {
                r = adapter_error(err, 0, "no entry of \"data\" has an \"id\"");
                goto finish;
        }

        h = util_fnv1a(UTIL_FNV_INIT, shape, sizeof(shape));
        for (size_t k = 0; k < ELEMENTSOF(openrouter_fp_fields); k++)
                if (present & (1u << k))
                        h = util_fnv1a(h, openrouter_fp_fields[k],
                                       strlen(openrouter_fp_fields[k]) + 1);
        out->fingerprint = h;
finish:
        json_decref(root);
        return r < 0 ? r : 0;
}
