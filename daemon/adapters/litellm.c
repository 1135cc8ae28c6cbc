/* LiteLLM model_prices_and_context_window.json: an object keyed by model id whose
 * values carry litellm_provider, mode, per-token prices and optional deprecation
 * dates and regions. See docs/adapters-catalogues.md for the mapping. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

/* Fields whose presence makes up the structure fingerprint, sorted by name. Rare
 * optional fields (deprecation_date, supported_regions) are read but left out:
 * whether any entry carries them depends on content, not on layout. */
static const char *const litellm_fp_fields[] = {
    "input_cost_per_token",
    "litellm_provider",
    "mode",
    "output_cost_per_token",
};
enum {
        LITELLM_FP_INPUT = 1u << 0,
        LITELLM_FP_PROVIDER = 1u << 1,
        LITELLM_FP_MODE = 1u << 2,
        LITELLM_FP_OUTPUT = 1u << 3,
};

/* jansson accepts 2048 levels; the cap is ours, checked on the raw bytes before any
 * tree is built so a hostile page costs one linear scan. */
static int litellm_check_depth(const char *data, size_t len, AdapterError *err)
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

static int litellm_load(const char *data, size_t len, json_t **ret, AdapterError *err)
{
        json_error_t jerr;
        json_t *root;
        int r;

        r = litellm_check_depth(data, len, err);
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
static int64_t litellm_days_from_civil(int64_t y, unsigned m, unsigned d)
{
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned)(y - era * 400);
        unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

        return era * 146097 + (int64_t)doe - 719468;
}

static int litellm_parse_date(const char *s, int64_t *ret)
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
        *ret = litellm_days_from_civil(y, m, d) * 86400;
        return 0;
}

/* USD per token (a JSON number) to USD per million tokens; anything else is unknown. */
static double litellm_price(json_t *v)
{
        double p;

        if (!json_is_number(v))
                return NAN;
        p = json_number_value(v);
        if (!isfinite(p) || p < 0)
                return NAN;
        p *= 1e6;
        /* Drop binary noise (2.5e-05 * 1e6 is not exactly 25) so equal prices compare
         * equal across sources; a millionth of a dollar per Mtok is far below any tariff. */
        if (p < 1e6)
                p = round(p * 1e6) / 1e6;
        return p;
}

static bool litellm_text_mode(const char *mode)
{
        static const char *const modes[] = {"chat", "completion", "responses"};

        if (!mode)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(modes); i++)
                if (streq(mode, modes[i]))
                        return true;
        return false;
}

/* "us-east-1", "us-gov-west-1", "ap-southeast-3": two letters, optional "-gov",
 * a word, a number. */
static bool litellm_is_aws_region(const char *s, size_t n)
{
        size_t i = 0, start;

        if (n < 6 || n > 32)
                return false;
        if (!(s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z' && s[2] == '-'))
                return false;
        i = 3;
        if (n > 7 && strncmp(s + i, "gov-", 4) == 0)
                i += 4;
        start = i;
        while (i < n && s[i] >= 'a' && s[i] <= 'z')
                i++;
        if (i == start || i >= n || s[i] != '-')
                return false;
        start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
        return i > start && i == n;
}

/* The key itself can name where the model runs: "bedrock/us-gov-east-1/<id>" and
 * "azure/eu/<id>" are priced separately from the unqualified id. */
static void litellm_key_region(Observation *o, const char *key)
{
        static const char *const geos[] = {"eu", "us", "global"};
        const char *seg, *end;
        bool aws;
        size_t n;

        seg = startswith(key, "bedrock/");
        aws = seg;
        if (!seg)
                seg = startswith(key, "azure/");
        if (!seg)
                seg = startswith(key, "azure_ai/");
        if (!seg)
                return;
        end = strchr(seg, '/');
        if (!end || end[1] == '\0')
                return;
        n = (size_t)(end - seg);

        if (aws) {
                if (litellm_is_aws_region(seg, n)) {
                        _cleanup_free_ char *r = xstrndup(seg, n);
                        observation_add_region(o, r);
                }
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(geos); i++)
                if (strlen(geos[i]) == n && strncmp(seg, geos[i], n) == 0)
                        observation_add_region(o, geos[i]);
}

static const char *litellm_string(json_t *obj, const char *field)
{
        const char *s = json_string_value(json_object_get(obj, field));

        if (s && strlen(s) > ADAPTER_MAX_ID_LEN)
                return NULL;
        return s;
}

static int litellm_add_entry(const char *key, json_t *entry, const AdapterOptions *opts,
                             ObservationList *out, unsigned *present, AdapterError *err)
{
        json_t *v, *mode_v, *regions;
        const char *provider, *mode = NULL;
        Observation *o;
        int64_t eol = 0;
        int r;

        v = json_object_get(entry, "litellm_provider");
        if (v)
                *present |= LITELLM_FP_PROVIDER;
        mode_v = json_object_get(entry, "mode");
        if (mode_v)
                *present |= LITELLM_FP_MODE;
        if (json_object_get(entry, "input_cost_per_token"))
                *present |= LITELLM_FP_INPUT;
        if (json_object_get(entry, "output_cost_per_token"))
                *present |= LITELLM_FP_OUTPUT;

        /* Without a provider the entry names nothing callable (the 2026 files carry a
         * "fallback_generalizations" rule block at top level). */
        provider = litellm_string(entry, "litellm_provider");
        if (!provider || !*provider)
                return 0;
        if (mode_v && !json_is_null(mode_v)) {
                mode = json_string_value(mode_v);
                if (!mode)
                        return 0;
        }
        if (!litellm_text_mode(mode))
                return 0;

        r = observation_list_add(out, opts->max_rows, &o);
        if (r == -E2BIG)
                return adapter_error(err, 0, "more than %zu rows", opts->max_rows), r;
        if (r < 0)
                return r;

        o->provider = xstrdup(provider);
        o->model = xstrdup(key);
        o->vendor = xstrdup(opts->vendor);
        o->price_in = litellm_price(json_object_get(entry, "input_cost_per_token"));
        o->price_out = litellm_price(json_object_get(entry, "output_cost_per_token"));

        v = json_object_get(entry, "deprecation_date");
        if (json_is_string(v) && litellm_parse_date(json_string_value(v), &eol) >= 0) {
                o->eol = eol;
                o->lifecycle = LIFECYCLE_DEPRECATED;
        }

        litellm_key_region(o, key);
        regions = json_object_get(entry, "supported_regions");
        for (size_t i = 0; i < json_array_size(regions) && i < ADAPTER_MAX_REGIONS; i++) {
                const char *s = json_string_value(json_array_get(regions, i));

                if (s && strlen(s) <= ADAPTER_MAX_ID_LEN)
                        observation_add_region(o, s);
        }
        return 0;
}

int adapter_litellm_parse(const char *data, size_t len, const AdapterOptions *opts,
                          ObservationList *out, AdapterError *err)
{
        static const AdapterOptions defaults = {0};
        static const char shape[] = "litellm:object-of-objects";
        json_t *root = NULL;
        unsigned present = 0;
        size_t entries = 0;
        uint64_t h;
        int r;

        if (!opts)
                opts = &defaults;
        r = litellm_load(data, len, &root, err);
        if (r < 0)
                return r;
        if (!json_is_object(root)) {
                json_decref(root);
                return adapter_error(err, 0, "top level is not an object keyed by model id");
        }

        for (void *it = json_object_iter(root); it; it = json_object_iter_next(root, it)) {
                const char *key = json_object_iter_key(it);
                json_t *entry = json_object_iter_value(it);

                if (!json_is_object(entry) || streq(key, "sample_spec"))
                        continue;
                entries++;
                if (!*key || strlen(key) > ADAPTER_MAX_ID_LEN)
                        continue;
                r = litellm_add_entry(key, entry, opts, out, &present, err);
                if (r < 0) {
                        json_decref(root);
                        return r;
                }
        }
        json_decref(root);

        /* Entries that all lost litellm_provider (or a new wrapper object around them)
         * mean the layout moved: that must not read as "every model is gone". */
        if (entries > 0 && !(present & LITELLM_FP_PROVIDER))
                return adapter_error(err, 0, "no entry has a litellm_provider field");

        h = util_fnv1a(UTIL_FNV_INIT, shape, sizeof(shape));
        for (size_t i = 0; i < ELEMENTSOF(litellm_fp_fields); i++)
                if (present & (1u << i))
                        h = util_fnv1a(h, litellm_fp_fields[i], strlen(litellm_fp_fields[i]) + 1);
        out->fingerprint = h;
        return 0;
}
