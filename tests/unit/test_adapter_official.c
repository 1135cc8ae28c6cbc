/* Unit tests of the official model list adapters (bedrock-api's endpoint and paging,
 * bedrock-api-regions, azure-foundry, vertex-model-garden, anthropic-models,
 * openai-models, gemini-models) and of the paging functions they share. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>
#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

static int parse(const char *format, const char *text, const AdapterOptions *opts,
                 ObservationList *out, AdapterError *err)
{
        const Adapter *a = adapter_find(format);

        assert_non_null(a);
        return adapter_parse(a, text, strlen(text), opts, out, err);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regions sorted and joined with ',' so expectations do not depend on object order. */
static char *regions_joined(const Observation *o)
{
        _cleanup_free_ char **v = xcalloc(o->n_regions + 1, sizeof(char *));
        char *s = xstrdup("");

        if (o->n_regions > 0)
                memcpy(v, o->regions, o->n_regions * sizeof(char *));
        qsort(v, o->n_regions, sizeof(char *), cmp_str);
        for (size_t i = 0; i < o->n_regions; i++) {
                char *t = xasprintf("%s%s%s", s, i ? "," : "", v[i]);
                free(s);
                s = t;
        }
        return s;
}

typedef struct Expect {
        const char *model;
        const char *provider;
        const char *vendor;
        const char *name;
        bool available;
        Lifecycle lifecycle;
        int64_t eol;
        const char *regions;
} Expect;

static void check_observations(const ObservationList *l, const Expect *e, size_t n)
{
        assert_int_equal(l->n, n);
        for (size_t i = 0; i < n; i++) {
                const Observation *o = &l->items[i];
                _cleanup_free_ char *regions = regions_joined(o);

                print_message("    %s\n", o->model);
                assert_string_equal(o->model, e[i].model);
                assert_string_equal(o->provider, e[i].provider);
                if (e[i].vendor)
                        assert_string_equal(o->vendor, e[i].vendor);
                else
                        assert_null(o->vendor);
                if (e[i].name)
                        assert_string_equal(o->name, e[i].name);
                else
                        assert_null(o->name);
                assert_int_equal(o->available, e[i].available);
                assert_string_equal(lifecycle_name(o->lifecycle), lifecycle_name(e[i].lifecycle));
                assert_int_equal(o->eol, e[i].eol);
                assert_string_equal(regions, e[i].regions);
                assert_true(isnan(o->price_in));
                assert_true(isnan(o->price_out));
        }
}

/* ---- pages, in each API's wire shape ---- */

static const char bedrock_fm_page[] =
    "{\"modelSummaries\": ["
    "{\"modelArn\": \"arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-test-v1:0\","
    " \"modelId\": \"anthropic.claude-test-v1:0\", \"modelName\": \"Claude Test\","
    " \"providerName\": \"Anthropic\", \"inferenceTypesSupported\": [\"INFERENCE_PROFILE\"],"
    " \"modelLifecycle\": {\"status\": \"LEGACY\", \"endOfLifeTime\": \"2026-03-01T00:00:00Z\"}},"
    "{\"modelId\": \"meta.llama-test-v1:0\", \"modelName\": \"Llama Test\","
    " \"providerName\": \"Meta\", \"modelLifecycle\": {\"status\": \"ACTIVE\"}},"
    /* A timestamp as seconds since the epoch: 2026-07-30T08:00:00Z. */
    "{\"modelId\": \"anthropic.claude-epoch-v1:0\", \"modelArn\": "
    "\"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-epoch-v1:0\","
    " \"modelLifecycle\": {\"status\": \"LEGACY\", \"endOfLifeTime\": 1785398400}}]}";

static const Expect bedrock_fm_region[] = {
    {"anthropic.claude-test-v1:0", "bedrock", "Anthropic", "Claude Test", true, LIFECYCLE_LEGACY,
     1772323200 /* 2026-03-01 */, "eu-west-1"},
    /* No ARN: the region the page was fetched from. */
    {"meta.llama-test-v1:0", "bedrock", "Meta", "Llama Test", true, LIFECYCLE_ACTIVE, 0,
     "ap-south-1"},
    {"anthropic.claude-epoch-v1:0", "bedrock", NULL, NULL, true, LIFECYCLE_LEGACY,
     1785369600 /* 2026-07-30 */, "us-east-1"},
};

static const Expect bedrock_fm_no_region[] = {
    {"anthropic.claude-test-v1:0", "bedrock", "Anthropic", "Claude Test", true, LIFECYCLE_LEGACY,
     1772323200, "eu-west-1"},
    {"meta.llama-test-v1:0", "bedrock", "Meta", "Llama Test", true, LIFECYCLE_ACTIVE, 0, ""},
    {"anthropic.claude-epoch-v1:0", "bedrock", NULL, NULL, true, LIFECYCLE_LEGACY, 1785369600,
     "us-east-1"},
};

static const char bedrock_regions_page[] =
    "{\"anthropic.claude-test-v1:0\": {\"regions\": [\"us-east-1\", \"eu-west-1\", "
    "\"me-central-1\"],"
    "  \"inference_types\": {\"us-east-1\": [\"ON_DEMAND\", \"US\"], \"eu-west-1\": [\"EU\"],"
    "  \"me-central-1\": []}, \"model_lifecycle_status\": \"ACTIVE\","
    "  \"inferenceProfile\": {\"US\": {\"us-east-1\": [\"us-east-1\", \"us-west-2\"]}}},"
    " \"amazon.canvas-test-v1:0\": {\"regions\": [\"us-east-1\"],"
    "  \"inference_types\": {\"us-east-1\": [\"PROVISIONED\"]},"
    "  \"model_lifecycle_status\": \"ACTIVE\"},"
    " \"anthropic.claude-old-v1:0\": {\"regions\": [\"us-east-1\"],"
    "  \"inference_types\": {\"us-east-1\": [\"GLOBAL\", \"PROVISIONED\"], \"Bad Region\": "
    "[\"ON_DEMAND\"]}, \"model_lifecycle_status\": \"LEGACY\"},"
    " \"meta.list-only-v1:0\": {\"regions\": [\"us-west-2\", 7, \"\"],"
    "  \"model_lifecycle_status\": \"ACTIVE\"},"
    " \"not-an-object\": [1, 2]}";

static const Expect bedrock_regions_expect[] = {
    {"anthropic.claude-test-v1:0", "bedrock", NULL, NULL, true, LIFECYCLE_ACTIVE, 0,
     "eu-west-1,us-east-1"},
    {"amazon.canvas-test-v1:0", "bedrock", NULL, NULL, false, LIFECYCLE_ACTIVE, 0, ""},
    {"anthropic.claude-old-v1:0", "bedrock", NULL, NULL, true, LIFECYCLE_LEGACY, 0, "us-east-1"},
    {"meta.list-only-v1:0", "bedrock", NULL, NULL, true, LIFECYCLE_ACTIVE, 0, "us-west-2"},
};

static const char azure_page[] =
    "{\"summaries\": ["
    "{\"name\": \"claude-test-4\", \"displayName\": \"Claude Test 4\", \"publisher\": "
    "\"Anthropic\", \"lifecycle\": \"Generally Available\", \"deploymentOptions\": [\"Serverless "
    "API\", \"UnifiedEndpointMaaS\"], \"azureOffers\": [\"standard-paygo\"], \"deprecation\": "
    "{\"inferenceRetirementDate\": null}, \"labels\": [\"latest\"]},"
    "{\"name\": \"gpt-test\", \"displayName\": \"gpt-test\", \"publisher\": \"OpenAI\","
    " \"lifecycle\": \"Generally available\", \"deploymentOptions\": [\"AOAI\"], \"azureOffers\": "
    "[], \"deprecation\": {\"inferenceRetirementDate\": \"2026-10-15T00:00:00+00:00\"}},"
    "{\"name\": \"Jamba-Test\", \"publisher\": \"AI21 Labs\", \"lifecycle\": \"Retired\","
    " \"deploymentOptions\": [\"Serverless API\"], \"azureOffers\": [\"standard-paygo\"],"
    " \"deprecation\": {\"inferenceRetirementDate\": \"2025-03-01T00:00:00+00:00\"}},"
    "{\"name\": \"Phi-Test-vision\", \"publisher\": \"Microsoft\", \"lifecycle\": null,"
    " \"deploymentOptions\": [\"MaaP\"], \"azureOffers\": [\"VM\"], \"deprecation\": {}},"
    "{\"name\": \"FW-Test-120B\", \"publisher\": \"Fireworks\", \"lifecycle\": \"Preview\","
    " \"deploymentOptions\": [], \"azureOffers\": [\"PTU\"]},"
    "{\"name\": \"mistral-test\", \"publisher\": \"Mistral AI\", \"lifecycle\": \"Deprecated\","
    " \"deploymentOptions\": [\"Serverless API\"], \"deprecation\": {\"inferenceRetirementDate\": "
    "\"2026-09-01T00:00:00+00:00\"}},"
    /* An older version, listed again under another case: the better one stays. */
    "{\"name\": \"MISTRAL-TEST\", \"publisher\": \"Mistral AI\", \"lifecycle\": \"Retired\","
    " \"deploymentOptions\": [\"Serverless API\"]},"
    "{\"name\": \"gpt-test\", \"publisher\": \"OpenAI\", \"lifecycle\": \"Legacy\","
    " \"deploymentOptions\": [\"MaaP\"]},"
    /* A retired version first, then the current one: the current one takes its place. */
    "{\"name\": \"swap-test\", \"publisher\": \"Cohere\", \"lifecycle\": \"Retired\"},"
    "{\"name\": \"swap-test\", \"publisher\": \"Cohere\", \"lifecycle\": \"Preview\","
    " \"deploymentOptions\": [\"ServerlessMaaS\"]},"
    "{\"displayName\": \"no name\"}, 42],"
    " \"totalCount\": 9, \"continuationToken\": \"eyJOZXh0U2tpcCI6MTAwfQ==\"}";

static const Expect azure_expect[] = {
    {"claude-test-4", "azure_ai", "Anthropic", "Claude Test 4", true, LIFECYCLE_ACTIVE, 0, ""},
    {"gpt-test", "azure_ai", "OpenAI", "gpt-test", true, LIFECYCLE_ACTIVE,
     1792022400 /* 2026-10-15 */, ""},
    {"Jamba-Test", "azure_ai", "AI21 Labs", NULL, false, LIFECYCLE_RETIRED,
     1740787200 /* 2025-03-01 */, ""},
    {"Phi-Test-vision", "azure_ai", "Microsoft", NULL, false, LIFECYCLE_UNKNOWN, 0, ""},
    {"FW-Test-120B", "azure_ai", "Fireworks", NULL, true, LIFECYCLE_PREVIEW, 0, ""},
    {"mistral-test", "azure_ai", "Mistral AI", NULL, true, LIFECYCLE_DEPRECATED,
     1788220800 /* 2026-09-01 */, ""},
    {"swap-test", "azure_ai", "Cohere", NULL, true, LIFECYCLE_PREVIEW, 0, ""},
};

static const char vertex_page[] =
    "{\"publisherModels\": ["
    "{\"name\": \"publishers/anthropic/models/claude-test-4\", \"versionId\": \"001\","
    " \"launchStage\": \"GA\", \"openSourceCategory\": \"PROPRIETARY\", \"supportedActions\": "
    "{\"openGenerationAiStudio\": {}, \"requestAccess\": {}}},"
    "{\"name\": \"publishers/meta/models/llama-test-70b-maas\", \"versionId\": \"001\","
    " \"launchStage\": \"PUBLIC_PREVIEW\", \"publisherModelTemplate\": \"projects/{project}/x\"},"
    "{\"name\": \"publishers/qwen/models/qwen-test-maas\", \"launchStage\": \"EXPERIMENTAL\"},"
    "{\"name\": \"publishers/google/models/gemini-test\", \"launchStage\": \"DEPRECATED\","
    " \"supportedActions\": {\"openGenerationAiStudio\": {}}},"
    "{\"name\": \"publishers/mistralai/models/mistral-test\", \"launchStage\": \"LAUNCH_STAGE_X\","
    " \"publisherModelTemplate\": \"t\"},"
    /* Self-deploy only, or no sign of being served: not an API on Vertex. */
    "{\"name\": \"publishers/meta/models/llama3-test\", \"launchStage\": \"GA\","
    " \"supportedActions\": {\"deploy\": {}, \"openGenerationAiStudio\": {}}},"
    "{\"name\": \"publishers/google/models/vision-test\", \"supportedActions\": "
    "{\"viewRestApi\": {}}},"
    /* Not a publisher model name. */
    "{\"name\": \"models/claude-test-4\"}, {\"name\": \"publishers//models/x\"},"
    "{\"name\": \"publishers/a/models/\"}, {\"name\": \"publishers/a/models/b/c\"}],"
    " \"nextPageToken\": \"CgkKB2FudGhyb3Bp\"}";

static const Expect vertex_expect[] = {
    {"claude-test-4", "vertex_ai", "anthropic", NULL, true, LIFECYCLE_ACTIVE, 0, "us-east5"},
    {"llama-test-70b-maas", "vertex_ai", "meta", NULL, true, LIFECYCLE_PREVIEW, 0, "us-east5"},
    {"qwen-test-maas", "vertex_ai", "qwen", NULL, true, LIFECYCLE_PREVIEW, 0, "us-east5"},
    {"gemini-test", "vertex_ai", "google", NULL, true, LIFECYCLE_DEPRECATED, 0, "us-east5"},
    {"mistral-test", "vertex_ai", "mistralai", NULL, true, LIFECYCLE_UNKNOWN, 0, "us-east5"},
};

static const char anthropic_page[] =
    "{\"data\": ["
    "{\"type\": \"model\", \"id\": \"claude-test-4-5-20260101\", \"display_name\": \"Claude Test "
    "4.5\", \"created_at\": \"2026-01-01T00:00:00Z\", \"capabilities\": {\"batch\": "
    "{\"supported\": true}}, \"max_input_tokens\": 200000, \"max_tokens\": 64000},"
    "{\"type\": \"model\", \"id\": \"claude-test-3-haiku-20240307\"},"
    "{\"type\": \"adapter\", \"id\": \"not-a-model\"}, {\"display_name\": \"no id\"}],"
    " \"has_more\": true, \"first_id\": \"claude-test-4-5-20260101\","
    " \"last_id\": \"claude-test-3-haiku-20240307\"}";

static const Expect anthropic_expect[] = {
    {"claude-test-4-5-20260101", "anthropic", "Anthropic", "Claude Test 4.5", true,
     LIFECYCLE_UNKNOWN, 0, ""},
    {"claude-test-3-haiku-20240307", "anthropic", "Anthropic", NULL, true, LIFECYCLE_UNKNOWN, 0,
     ""},
};

static const char openai_page[] =
    "{\"object\": \"list\", \"data\": ["
    "{\"id\": \"gpt-test-5\", \"object\": \"model\", \"created\": 1754425777, \"owned_by\": "
    "\"system\"},"
    "{\"id\": \"whisper-test\", \"object\": \"model\", \"created\": 1677532384, \"owned_by\": "
    "\"openai-internal\"},"
    "{\"id\": \"file-abc\", \"object\": \"file\"}, {\"object\": \"model\"}]}";

static const Expect openai_expect[] = {
    {"gpt-test-5", "openai", "OpenAI", NULL, true, LIFECYCLE_UNKNOWN, 0, ""},
    {"whisper-test", "openai", "OpenAI", NULL, true, LIFECYCLE_UNKNOWN, 0, ""},
};

/* Bedrock's Mantle endpoint answers in the same shape, with other vendors' models. */
static const char mantle_page[] =
    "{\"object\": \"list\", \"data\": [{\"id\": \"anthropic.claude-test-4-5\", \"object\": "
    "\"model\", \"created\": 1759276800, \"owned_by\": \"system\", \"status\": \"available\"}]}";

static const Expect mantle_expect[] = {
    {"anthropic.claude-test-4-5", "bedrock_mantle", NULL, NULL, true, LIFECYCLE_UNKNOWN, 0, ""},
};

static const char gemini_page[] =
    "{\"models\": ["
    "{\"name\": \"models/gemini-test-2.5-pro\", \"displayName\": \"Gemini Test 2.5 Pro\","
    " \"version\": \"2.5\", \"inputTokenLimit\": 1048576, \"supportedGenerationMethods\": "
    "[\"generateContent\", \"countTokens\"]},"
    "{\"name\": \"models/embedding-test-001\", \"version\": \"001\"},"
    "{\"name\": \"tunedModels/mine\"}, {\"name\": \"models/\"}, {\"name\": \"models/a/b\"}],"
    " \"nextPageToken\": \"Chdtb2RlbHMvZ2VtaW5pLTIuNS1wcm8=\"}";

static const Expect gemini_expect[] = {
    {"gemini-test-2.5-pro", "gemini", "Google", "Gemini Test 2.5 Pro", true, LIFECYCLE_UNKNOWN, 0,
     ""},
    {"embedding-test-001", "gemini", "Google", NULL, true, LIFECYCLE_UNKNOWN, 0, ""},
};

static const struct {
        const char *format;
        const char *page;
        AdapterOptions opts;
        const Expect *expect;
        size_t n;
} good_cases[] = {
    {"bedrock-api",
     bedrock_fm_page,
     {.region = "ap-south-1"},
     bedrock_fm_region,
     ELEMENTSOF(bedrock_fm_region)},
    {"bedrock-api", bedrock_fm_page, {0}, bedrock_fm_no_region, ELEMENTSOF(bedrock_fm_no_region)},
    {"bedrock-api-regions",
     bedrock_regions_page,
     {.region = "ignored-1"},
     bedrock_regions_expect,
     ELEMENTSOF(bedrock_regions_expect)},
    {"azure-foundry", azure_page, {0}, azure_expect, ELEMENTSOF(azure_expect)},
    {"vertex-model-garden",
     vertex_page,
     {.region = "us-east5"},
     vertex_expect,
     ELEMENTSOF(vertex_expect)},
    {"anthropic-models", anthropic_page, {0}, anthropic_expect, ELEMENTSOF(anthropic_expect)},
    {"openai-models", openai_page, {0}, openai_expect, ELEMENTSOF(openai_expect)},
    {"openai-models",
     mantle_page,
     {.provider = "bedrock_mantle"},
     mantle_expect,
     ELEMENTSOF(mantle_expect)},
    {"gemini-models", gemini_page, {0}, gemini_expect, ELEMENTSOF(gemini_expect)},
};

static void test_good_pages(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(good_cases); i++) {
                ObservationList l = {0};
                AdapterError err;

                print_message("good %zu: %s\n", i, good_cases[i].format);
                assert_int_equal(
                    parse(good_cases[i].format, good_cases[i].page, &good_cases[i].opts, &l, &err),
                    0);
                check_observations(&l, good_cases[i].expect, good_cases[i].n);
                assert_true(l.fingerprint != 0);
                observation_list_clear(&l);
        }
}

/* A source's provider and vendor override the format's defaults. */
static void test_options(void **state)
{
        static const struct {
                const char *format, *page;
        } cases[] = {
            {"bedrock-api-regions", bedrock_regions_page},
            {"azure-foundry", azure_page},
            {"vertex-model-garden", vertex_page},
            {"anthropic-models", anthropic_page},
            {"openai-models", openai_page},
            {"gemini-models", gemini_page},
        };
        const AdapterOptions opts = {.provider = "elsewhere", .vendor = "Fallback"};

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ObservationList l = {0};
                AdapterError err;

                assert_int_equal(parse(cases[i].format, cases[i].page, &opts, &l, &err), 0);
                assert_true(l.n > 0);
                for (size_t k = 0; k < l.n; k++) {
                        assert_string_equal(l.items[k].provider, "elsewhere");
                        /* A vendor the entry publishes wins over the hint. */
                        if (!streq(cases[i].format, "azure-foundry") &&
                            !streq(cases[i].format, "vertex-model-garden"))
                                assert_string_equal(l.items[k].vendor, "Fallback");
                }
                observation_list_clear(&l);
        }
}

static char *nested(size_t depth)
{
        char *s = xmalloc(2 * depth + 1);

        memset(s, '[', depth);
        memset(s + depth, ']', depth);
        s[2 * depth] = '\0';
        return s;
}

static const struct {
        const char *format;
        const char *text; /* NULL: nesting past the cap */
        size_t max_rows;
        int ret;
        const char *message;
        bool prefix; /* message is a prefix: the rest is jansson's wording */
} bad_cases[] = {
    {"bedrock-api-regions", "[]", 0, -EBADMSG, "expected an object of models keyed by model id",
     false},
    {"bedrock-api-regions", "{\"a.b\": {\"model_lifecycle_status\": \"ACTIVE\"}}", 0, -EBADMSG,
     "no model has \"inference_types\" or \"regions\"", false},
    {"bedrock-api-regions", "{\"a.b\": {\"regions\": [\"us-east-1\"]", 0, -EBADMSG,
     "invalid JSON: ", true},
    {"bedrock-api-regions", bedrock_regions_page, 2, -E2BIG, "more than 2 rows", false},
    {"bedrock-api-regions", NULL, 0, -EBADMSG, "JSON nested deeper than 64 levels", false},
    {"azure-foundry", "{\"value\": []}", 0, -EBADMSG,
     "expected an object with a \"summaries\" array", false},
    {"azure-foundry", "{\"summaries\": {}}", 0, -EBADMSG,
     "expected an object with a \"summaries\" array", false},
    {"azure-foundry", "{\"summaries\": [{\"displayName\": \"x\"}]}", 0, -EBADMSG,
     "no entry has a \"name\"", false},
    {"azure-foundry", azure_page, 3, -E2BIG, "more than 3 rows", false},
    {"azure-foundry", NULL, 0, -EBADMSG, "JSON nested deeper than 64 levels", false},
    {"vertex-model-garden", "{\"models\": []}", 0, -EBADMSG,
     "expected an object with a \"publisherModels\" array", false},
    {"vertex-model-garden", "{\"publisherModels\": \"none\"}", 0, -EBADMSG,
     "expected an object with a \"publisherModels\" array", false},
    {"vertex-model-garden", "{\"error\": {\"code\": 403}}", 0, -EBADMSG,
     "expected an object with a \"publisherModels\" array", false},
    {"vertex-model-garden", "{\"publisherModels\": [{\"id\": \"x\"}]}", 0, -EBADMSG,
     "no entry has a \"name\"", false},
    {"vertex-model-garden", vertex_page, 1, -E2BIG, "more than 1 rows", false},
    {"anthropic-models", "[{\"id\": \"claude\"}]", 0, -EBADMSG,
     "expected an object with a \"data\" array", false},
    {"anthropic-models", "{\"data\": [{\"name\": \"claude\"}]}", 0, -EBADMSG,
     "no entry has an \"id\"", false},
    {"anthropic-models", "{\"data\": [", 0, -EBADMSG, "invalid JSON: ", true},
    {"openai-models", "{\"object\": \"list\", \"models\": []}", 0, -EBADMSG,
     "expected an object with a \"data\" array", false},
    {"openai-models", "{\"data\": [{\"model\": \"gpt\"}]}", 0, -EBADMSG, "no entry has an \"id\"",
     false},
    {"openai-models", NULL, 0, -EBADMSG, "JSON nested deeper than 64 levels", false},
    {"gemini-models", "{\"data\": []}", 0, -EBADMSG, "expected an object with a \"models\" array",
     false},
    {"gemini-models", "{\"models\": [{\"displayName\": \"Gemini\"}]}", 0, -EBADMSG,
     "no entry has a \"name\"", false},
    {"gemini-models", gemini_page, 1, -E2BIG, "more than 1 rows", false},
};

static void test_bad_pages(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                AdapterOptions opts = {.max_rows = bad_cases[i].max_rows};
                _cleanup_free_ char *text =
                    bad_cases[i].text ? xstrdup(bad_cases[i].text) : nested(ADAPTER_MAX_DEPTH + 1);
                ObservationList l = {0};
                AdapterError err;

                print_message("bad %zu: %s\n", i, bad_cases[i].format);
                assert_int_equal(parse(bad_cases[i].format, text, &opts, &l, &err),
                                 bad_cases[i].ret);
                if (bad_cases[i].prefix) {
                        assert_non_null(startswith(err.message, bad_cases[i].message));
                        assert_true(strlen(err.message) > strlen(bad_cases[i].message));
                } else {
                        assert_string_equal(err.message, bad_cases[i].message);
                }
                assert_int_equal(l.n, 0);
        }
}

/* Google's JSON leaves an empty repeated field out: {} is an empty page, not an error. */
static void test_empty_pages(void **state)
{
        static const struct {
                const char *format, *text;
        } cases[] = {
            {"vertex-model-garden", "{}"},
            {"vertex-model-garden", "{\"nextPageToken\": \"x\"}"},
            {"gemini-models", "{}"},
            {"azure-foundry", "{\"summaries\": [], \"totalCount\": 0}"},
            {"anthropic-models", "{\"data\": [], \"has_more\": false}"},
            {"openai-models", "{\"object\": \"list\", \"data\": []}"},
            {"bedrock-api-regions", "{}"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ObservationList l = {0};
                AdapterError err;

                assert_int_equal(parse(cases[i].format, cases[i].text, NULL, &l, &err), 0);
                assert_int_equal(l.n, 0);
        }
}

/* Hostile sizes: over-long ids are skipped, more regions than the cap are cut. */
static void test_hostile_sizes(void **state)
{
        _cleanup_free_ char *long_id = xmalloc(ADAPTER_MAX_ID_LEN + 2);
        ObservationList l = {0};
        AdapterError err;
        FILE *f;
        _cleanup_free_ char *text = NULL;
        size_t text_len = 0;

        memset(long_id, 'x', ADAPTER_MAX_ID_LEN + 1);
        long_id[ADAPTER_MAX_ID_LEN + 1] = '\0';
        {
                _cleanup_free_ char *page =
                    xasprintf("{\"data\": [{\"id\": \"%s\"}, {\"id\": \"ok\"}]}", long_id);

                assert_int_equal(parse("anthropic-models", page, NULL, &l, &err), 0);
                assert_int_equal(l.n, 1);
                assert_string_equal(l.items[0].model, "ok");
                observation_list_clear(&l);
                assert_int_equal(parse("openai-models", page, NULL, &l, &err), 0);
                assert_int_equal(l.n, 1);
                observation_list_clear(&l);
        }
        {
                _cleanup_free_ char *page =
                    xasprintf("{\"publisherModels\": [{\"name\": \"publishers/p/models/%s\"},"
                              "{\"name\": \"publishers/%s/models/m\"}, {\"name\": "
                              "\"publishers/p/models/ok\"}]}",
                              long_id, long_id);

                assert_int_equal(parse("vertex-model-garden", page, NULL, &l, &err), 0);
                assert_int_equal(l.n, 1);
                assert_string_equal(l.items[0].model, "ok");
                observation_list_clear(&l);
        }

        /* 300 callable regions: the observation keeps ADAPTER_MAX_REGIONS of them. */
        f = open_memstream(&text, &text_len);
        assert_non_null(f);
        fputs("{\"m.x\": {\"inference_types\": {", f);
        for (int i = 0; i < 300; i++)
                fprintf(f, "%s\"r-%d\": [\"ON_DEMAND\"]", i ? "," : "", i);
        fputs("}}}", f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(parse("bedrock-api-regions", text, NULL, &l, &err), 0);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.items[0].n_regions, ADAPTER_MAX_REGIONS);
        observation_list_clear(&l);
}

/* The structure fingerprint follows field names, not content. */
static void test_fingerprint(void **state)
{
        static const struct {
                const char *format, *a, *b;
                bool equal;
        } cases[] = {
            {"anthropic-models", "{\"data\": [{\"type\": \"model\", \"id\": \"a\"}]}",
             "{\"data\": [{\"type\": \"model\", \"id\": \"a\"}, {\"type\": \"model\", \"id\": "
             "\"b\"}]}",
             true},
            {"anthropic-models", "{\"data\": [{\"type\": \"model\", \"id\": \"a\"}]}",
             "{\"data\": [{\"kind\": \"model\", \"id\": \"a\"}]}", false},
            {"gemini-models", "{\"models\": [{\"name\": \"models/a\", \"displayName\": \"A\"}]}",
             "{\"models\": [{\"name\": \"models/b\", \"displayName\": \"B\"}]}", true},
            {"gemini-models", "{\"models\": [{\"name\": \"models/a\", \"displayName\": \"A\"}]}",
             "{\"models\": [{\"name\": \"models/a\", \"display_name\": \"A\"}]}", false},
            {"azure-foundry", "{\"summaries\": [{\"name\": \"a\", \"lifecycle\": \"Preview\"}]}",
             "{\"summaries\": [{\"name\": \"b\", \"lifecycle\": \"Retired\"}]}", true},
            {"azure-foundry", "{\"summaries\": [{\"name\": \"a\", \"lifecycle\": \"Preview\"}]}",
             "{\"summaries\": [{\"name\": \"a\", \"lifecycleStatus\": \"Preview\"}]}", false},
            {"bedrock-api-regions",
             "{\"a\": {\"inference_types\": {\"us-east-1\": [\"ON_DEMAND\"]}}}",
             "{\"b\": {\"inference_types\": {\"eu-west-1\": [\"EU\"]}}}", true},
            {"bedrock-api-regions",
             "{\"a\": {\"inference_types\": {\"us-east-1\": [\"ON_DEMAND\"]}}}",
             "{\"a\": {\"inferenceTypes\": {}, \"regions\": [\"us-east-1\"]}}", false},
            {"vertex-model-garden",
             "{\"publisherModels\": [{\"name\": \"publishers/a/models/b\", \"launchStage\": "
             "\"GA\"}]}",
             "{\"publisherModels\": [{\"name\": \"publishers/c/models/d\", \"launchStage\": "
             "\"EXPERIMENTAL\"}]}",
             true},
            {"openai-models", "{\"data\": [{\"id\": \"a\", \"object\": \"model\"}]}",
             "{\"data\": [{\"id\": \"a\"}]}", false},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ObservationList a = {0}, b = {0};
                AdapterError err;

                print_message("fingerprint %zu: %s\n", i, cases[i].format);
                assert_int_equal(parse(cases[i].format, cases[i].a, NULL, &a, &err), 0);
                assert_int_equal(parse(cases[i].format, cases[i].b, NULL, &b, &err), 0);
                assert_true(a.n > 0 && b.n > 0);
                assert_int_equal(a.fingerprint == b.fingerprint, cases[i].equal);
                observation_list_clear(&a);
                observation_list_clear(&b);
        }
}

/* ---- shared paging and request functions ---- */

static void test_url_set_query(void **state)
{
        static const struct {
                const char *url, *name, *value, *want;
        } cases[] = {
            {"https://h/p", "pageToken", "abc", "https://h/p?pageToken=abc"},
            {"https://h/p?", "a", "1", "https://h/p?a=1"},
            {"https://h/p?pageSize=200", "pageToken", "abc",
             "https://h/p?pageSize=200&pageToken=abc"},
            /* Replaced wherever it is, bare or repeated; a longer name is another one. */
            {"https://h/p?nextToken=old&x=1&nextToken&nextTokenX=2", "nextToken", "new",
             "https://h/p?x=1&nextTokenX=2&nextToken=new"},
            {"https://h/p?a=1&&b=2", "c", "3", "https://h/p?a=1&b=2&c=3"},
            /* Everything outside the unreserved set is escaped, '%' and '+' too. */
            {"https://h/p", "t", "a b+c/d=e&f%g~h_i.j-k",
             "https://h/p?t=a%20b%2Bc%2Fd%3De%26f%25g~h_i.j-k"},
            {"https://h/p", "t", "\xc3\xa9", "https://h/p?t=%C3%A9"},
            {"https://h/p", "t", "", "https://h/p?t="},
            /* A fragment stays last; a '?' after it is not a query. */
            {"https://h/p?a=1#frag?x", "t", "2", "https://h/p?a=1&t=2#frag?x"},
        };
        _cleanup_free_ char *huge = xmalloc(ADAPTER_URL_MAX + 1);
        char *s;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_int_equal(
                    adapter_url_set_query(cases[i].url, cases[i].name, cases[i].value, &s), 0);
                assert_string_equal(s, cases[i].want);
                free(s);
        }
        assert_int_equal(adapter_url_set_query("https://h/p", "a=b", "1", &s), -EINVAL);
        assert_int_equal(adapter_url_set_query("https://h/p", "", "1", &s), -EINVAL);
        assert_int_equal(adapter_url_set_query(NULL, "a", "1", &s), -EINVAL);
        memset(huge, 'a', ADAPTER_URL_MAX);
        huge[ADAPTER_URL_MAX] = '\0';
        assert_int_equal(adapter_url_set_query("https://h/p", "t", huge, &s), -E2BIG);
}

static void test_json_body_set(void **state)
{
        char *s;

        assert_int_equal(adapter_json_body_set(NULL, "continuationToken", "t1", &s), 0);
        assert_string_equal(s, "{\"continuationToken\":\"t1\"}");
        free(s);
        assert_int_equal(adapter_json_body_set("", "k", "v", &s), 0);
        assert_string_equal(s, "{\"k\":\"v\"}");
        free(s);
        /* Members keep their order; the token is replaced in place. */
        assert_int_equal(adapter_json_body_set("{\"filters\": [1], \"continuationToken\": \"t1\", "
                                               "\"pageSize\": 100}",
                                               "continuationToken", "t\"2", &s),
                         0);
        assert_string_equal(s,
                            "{\"filters\":[1],\"continuationToken\":\"t\\\"2\",\"pageSize\":100}");
        free(s);
        assert_int_equal(adapter_json_body_set("[1]", "k", "v", &s), -EINVAL);
        assert_int_equal(adapter_json_body_set("{\"a\":", "k", "v", &s), -EINVAL);
        assert_int_equal(adapter_json_body_set("{}", "k", "\xff", &s), -EINVAL);
}

static void test_page_token(void **state)
{
        static const struct {
                const char *page;
                int ret;
                const char *token, *message;
        } cases[] = {
            {"{\"nextPageToken\": \"abc\"}", 1, "abc", NULL},
            {"{\"models\": []}", 0, NULL, NULL},
            {"{\"nextPageToken\": null}", 0, NULL, NULL},
            {"{\"nextPageToken\": \"\"}", 0, NULL, NULL},
            {"{\"nextPageToken\": 12}", -EBADMSG, NULL, "\"nextPageToken\" is not a string"},
            {"{\"nextPageToken\": \"a\\nb\"}", -EBADMSG, NULL,
             "\"nextPageToken\" holds a control character"},
            {"[\"nextPageToken\"]", -EBADMSG, NULL, "expected an object with \"nextPageToken\""},
        };
        _cleanup_free_ char *long_token = xmalloc(ADAPTER_PAGE_TOKEN_MAX + 2);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                AdapterError err = {0};
                char *t = (char *)"unset";

                assert_int_equal(adapter_json_page_token(cases[i].page, strlen(cases[i].page),
                                                         "nextPageToken", &t, &err),
                                 cases[i].ret);
                if (cases[i].ret >= 0) {
                        if (cases[i].token)
                                assert_string_equal(t, cases[i].token);
                        else
                                assert_null(t);
                        free(t);
                } else {
                        assert_string_equal(err.message, cases[i].message);
                }
        }
        memset(long_token, 'a', ADAPTER_PAGE_TOKEN_MAX + 1);
        long_token[ADAPTER_PAGE_TOKEN_MAX + 1] = '\0';
        {
                _cleanup_free_ char *page = xasprintf("{\"nextToken\": \"%s\"}", long_token);
                AdapterError err = {0};
                char *t = NULL;

                assert_int_equal(adapter_json_page_token(page, strlen(page), "nextToken", &t, &err),
                                 -EBADMSG);
                assert_string_equal(err.message, "\"nextToken\" is longer than 4096 bytes");
                /* At the cap it is still a token. */
                long_token[ADAPTER_PAGE_TOKEN_MAX] = '\0';
                free(page);
                page = xasprintf("{\"nextToken\": \"%s\"}", long_token);
                assert_int_equal(adapter_json_page_token(page, strlen(page), "nextToken", &t, &err),
                                 1);
                free(t);
        }
}

/* ---- paging, format by format ---- */

typedef struct PageCase {
        const char *format;
        const char *page;
        const char *url, *body;
        int ret;
        const char *want_url, *want_body; /* or the error message when ret < 0 */
} PageCase;

#define BEDROCK_IP "https://bedrock.us-east-1.amazonaws.com/inference-profiles"
#define VERTEX     "https://us-east5-aiplatform.googleapis.com/v1beta1/publishers/*/models"
#define GEMINI     "https://generativelanguage.googleapis.com/v1beta/models"
#define ANTHROPIC  "https://api.anthropic.com/v1/models"
#define AZURE      "https://api.catalog.azureml.ms/asset-gallery/v1.0/models"

static const PageCase page_cases[] = {
    {"bedrock-api", "{\"inferenceProfileSummaries\": [], \"nextToken\": \"eyJh/+=\"}",
     BEDROCK_IP "?typeEquals=SYSTEM_DEFINED&maxResults=1000", NULL, 1,
     BEDROCK_IP "?typeEquals=SYSTEM_DEFINED&maxResults=1000&nextToken=eyJh%2F%2B%3D", NULL},
    /* The second page's token replaces the first's. */
    {"bedrock-api", "{\"inferenceProfileSummaries\": [], \"nextToken\": \"two\"}",
     BEDROCK_IP "?typeEquals=SYSTEM_DEFINED&nextToken=one&maxResults=1000", NULL, 1,
     BEDROCK_IP "?typeEquals=SYSTEM_DEFINED&maxResults=1000&nextToken=two", NULL},
    {"bedrock-api", "{\"modelSummaries\": []}", BEDROCK_IP, NULL, 0, NULL, NULL},
    {"bedrock-api", "{\"inferenceProfileSummaries\": [], \"nextToken\": \"one\"}",
     BEDROCK_IP "?nextToken=one", NULL, -EBADMSG, "\"nextToken\" repeats the token of this request",
     NULL},
    {"bedrock-api", "{\"inferenceProfileSummaries\": [], \"nextToken\": [\"one\"]}", BEDROCK_IP,
     NULL, -EBADMSG, "\"nextToken\" is not a string", NULL},
    {"bedrock-api", "{\"nextToken\": \"x\"", BEDROCK_IP, NULL, -EBADMSG, NULL, NULL},
    {"vertex-model-garden", "{\"publisherModels\": [], \"nextPageToken\": \"CgkK\"}",
     VERTEX "?pageSize=200&filter=is_hf_wildcard%28false%29", NULL, 1,
     VERTEX "?pageSize=200&filter=is_hf_wildcard%28false%29&pageToken=CgkK", NULL},
    {"vertex-model-garden", "{\"publisherModels\": []}", VERTEX "?pageToken=CgkK", NULL, 0, NULL,
     NULL},
    {"gemini-models", "{\"models\": [], \"nextPageToken\": \"Chdt=\"}", GEMINI "?pageSize=1000",
     NULL, 1, GEMINI "?pageSize=1000&pageToken=Chdt%3D", NULL},
    {"gemini-models", "{\"models\": [], \"nextPageToken\": \"Chdt=\"}",
     GEMINI "?pageSize=1000&pageToken=Chdt%3D", NULL, -EBADMSG,
     "\"nextPageToken\" repeats the token of this request", NULL},
    {"anthropic-models", "{\"data\": [], \"has_more\": true, \"last_id\": \"claude-3-haiku\"}",
     ANTHROPIC "?limit=1000", NULL, 1, ANTHROPIC "?limit=1000&after_id=claude-3-haiku", NULL},
    {"anthropic-models", "{\"data\": [], \"has_more\": true, \"last_id\": \"b\"}",
     ANTHROPIC "?after_id=a&limit=1000", NULL, 1, ANTHROPIC "?limit=1000&after_id=b", NULL},
    {"anthropic-models", "{\"data\": [], \"has_more\": false, \"last_id\": \"b\"}", ANTHROPIC, NULL,
     0, NULL, NULL},
    {"anthropic-models", "{\"data\": []}", ANTHROPIC, NULL, 0, NULL, NULL},
    {"anthropic-models", "{\"data\": [], \"has_more\": \"true\", \"last_id\": \"b\"}", ANTHROPIC,
     NULL, -EBADMSG, "\"has_more\" is not a boolean", NULL},
    {"anthropic-models", "{\"data\": [], \"has_more\": true, \"last_id\": null}", ANTHROPIC, NULL,
     -EBADMSG, "\"has_more\" is true but there is no \"last_id\"", NULL},
    {"anthropic-models", "{\"data\": [], \"has_more\": true, \"last_id\": \"b\"}",
     ANTHROPIC "?after_id=b", NULL, -EBADMSG, "\"last_id\" repeats the token of this request",
     NULL},
    {"azure-foundry", "{\"summaries\": [], \"continuationToken\": \"eyJOZXh0U2tpcCI6MTAwfQ==\"}",
     AZURE, "{\"filters\":[],\"pageSize\":100}", 1, AZURE,
     "{\"filters\":[],\"pageSize\":100,\"continuationToken\":\"eyJOZXh0U2tpcCI6MTAwfQ==\"}"},
    {"azure-foundry", "{\"summaries\": [], \"continuationToken\": \"t2\"}", AZURE,
     "{\"continuationToken\":\"t1\",\"pageSize\":100}", 1, AZURE,
     "{\"continuationToken\":\"t2\",\"pageSize\":100}"},
    {"azure-foundry", "{\"summaries\": [], \"continuationToken\": null}", AZURE, "{}", 0, NULL,
     NULL},
    {"azure-foundry", "{\"summaries\": [], \"continuationToken\": \"\"}", AZURE, "{}", 0, NULL,
     NULL},
    {"azure-foundry", "{\"summaries\": [], \"continuationToken\": \"t1\"}", AZURE,
     "{\"continuationToken\":\"t1\"}", -EBADMSG,
     "\"continuationToken\" repeats the token of this request", NULL},
    {"azure-foundry", "{\"summaries\": [], \"continuationToken\": {\"NextSkip\": 100}}", AZURE,
     "{}", -EBADMSG, "\"continuationToken\" is not a string", NULL},
    {"azure-foundry", "{\"summaries\": [], \"continuationToken\": \"t1\"}", AZURE, "[1]", -EINVAL,
     "cannot add the token to the request body", NULL},
};

static void test_next_page(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(page_cases); i++) {
                const PageCase *c = &page_cases[i];
                const Adapter *a = adapter_find(c->format);
                char *url = (char *)"unset", *body = (char *)"unset";
                AdapterError err = {0};
                int r;

                print_message("page %zu: %s\n", i, c->format);
                assert_non_null(a);
                assert_non_null(a->next_page);
                r = a->next_page(c->page, strlen(c->page), c->url, c->body, &url, &body, &err);
                assert_int_equal(r, c->ret);
                if (r < 0) {
                        if (c->want_url)
                                assert_string_equal(err.message, c->want_url);
                        else
                                assert_true(err.message[0] != '\0');
                        continue;
                }
                if (r == 0) {
                        assert_null(url);
                        continue;
                }
                assert_string_equal(url, c->want_url);
                if (c->want_body)
                        assert_string_equal(body, c->want_body);
                else
                        assert_null(body);
                free(url);
                if (c->want_body)
                        free(body);
        }
        /* OpenAI's list has no pages. */
        assert_null(adapter_find("openai-models")->next_page);
        assert_null(adapter_find("bedrock-api-regions")->next_page);
}

/* Paging a whole listing: each page's request comes from the one before, until the
 * last; the pages together hold every model once. */
static void test_paging_walk(void **state)
{
        static const char *const pages[] = {
            "{\"data\": [{\"id\": \"m1\"}, {\"id\": \"m2\"}], \"has_more\": true, "
            "\"first_id\": \"m1\", \"last_id\": \"m2\"}",
            "{\"data\": [{\"id\": \"m3\"}], \"has_more\": true, \"first_id\": \"m3\", "
            "\"last_id\": \"m3\"}",
            "{\"data\": [{\"id\": \"m4\"}], \"has_more\": false, \"first_id\": \"m4\", "
            "\"last_id\": \"m4\"}",
        };
        static const char *const urls[] = {
            ANTHROPIC "?limit=2",
            ANTHROPIC "?limit=2&after_id=m2",
            ANTHROPIC "?limit=2&after_id=m3",
        };
        const Adapter *a = adapter_find("anthropic-models");
        _cleanup_free_ char *url = xstrdup(urls[0]);
        size_t models = 0;

        for (size_t i = 0; i < ELEMENTSOF(pages); i++) {
                ObservationList l = {0};
                AdapterError err;
                char *next = NULL, *body = NULL;
                int r;

                assert_string_equal(url, urls[i]);
                assert_int_equal(parse("anthropic-models", pages[i], NULL, &l, &err), 0);
                models += l.n;
                observation_list_clear(&l);
                r = a->next_page(pages[i], strlen(pages[i]), url, NULL, &next, &body, &err);
                assert_int_equal(r, i + 1 < ELEMENTSOF(pages) ? 1 : 0);
                if (r == 0)
                        break;
                free(url);
                url = next;
        }
        assert_int_equal(models, 4);
}

/* The endpoints are self-consistent: what the poller relies on holds for each. */
static void test_endpoints(void **state)
{
        static const struct {
                const char *format;
                AdapterAuth auth;
                bool regional, paged, post;
        } want[] = {
            {"bedrock-api", ADAPTER_AUTH_AWS, true, true, false},
            {"bedrock-api-regions", ADAPTER_AUTH_NONE, false, false, false},
            {"azure-foundry", ADAPTER_AUTH_NONE, false, true, true},
            {"vertex-model-garden", ADAPTER_AUTH_BEARER, true, true, false},
            {"anthropic-models", ADAPTER_AUTH_X_API_KEY, false, true, false},
            {"openai-models", ADAPTER_AUTH_BEARER, false, false, false},
            {"gemini-models", ADAPTER_AUTH_GOOG_API_KEY, false, true, false},
        };
        size_t with_endpoint = 0;

        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                const Adapter *a = adapter_find(want[i].format);
                const AdapterEndpoint *e;

                print_message("endpoint: %s\n", want[i].format);
                assert_non_null(a);
                e = a->endpoint;
                assert_non_null(e);
                assert_int_equal(a->authority, ADAPTER_AUTHORITY_DEFAULT);
                assert_false(a->needs_provider);
                assert_false(a->needs_columns);
                assert_int_equal(e->auth, want[i].auth);
                assert_int_equal(e->regional, want[i].regional);
                assert_int_equal(a->next_page != NULL, want[i].paged);
                assert_non_null(e->api);
                assert_non_null(e->urls);
                assert_non_null(e->urls[0]);
                for (size_t k = 0; e->urls[k]; k++) {
                        assert_non_null(startswith(e->urls[k], "https://"));
                        assert_int_equal(strstr(e->urls[k], "{region}") != NULL, e->regional);
                        assert_null(strchr(e->urls[k], ' '));
                }
                assert_int_equal(e->sigv4_service != NULL, e->auth == ADAPTER_AUTH_AWS);
                if (want[i].post) {
                        _cleanup_(adapter_json_decrefp) json_t *body = NULL;
                        AdapterError err;

                        assert_string_equal(e->method, "POST");
                        assert_non_null(e->body);
                        assert_int_equal(
                            adapter_json_load(e->body, strlen(e->body), 0, &body, &err), 0);
                        assert_true(json_is_object(body));
                } else {
                        assert_null(e->method);
                        assert_null(e->body);
                }
                for (size_t k = 0; e->headers && e->headers[k]; k++)
                        assert_non_null(strstr(e->headers[k], ": "));
        }
        assert_string_equal(adapter_find("bedrock-api")->endpoint->sigv4_service, "bedrock");
        assert_string_equal(adapter_find("anthropic-models")->endpoint->headers[0],
                            "anthropic-version: 2023-06-01");
        for (const Adapter *const *a = adapter_all(); *a; a++)
                with_endpoint += (*a)->endpoint != NULL;
        assert_int_equal(with_endpoint, ELEMENTSOF(want));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_good_pages),    cmocka_unit_test(test_options),
            cmocka_unit_test(test_bad_pages),     cmocka_unit_test(test_empty_pages),
            cmocka_unit_test(test_hostile_sizes), cmocka_unit_test(test_fingerprint),
            cmocka_unit_test(test_url_set_query), cmocka_unit_test(test_json_body_set),
            cmocka_unit_test(test_page_token),    cmocka_unit_test(test_next_page),
            cmocka_unit_test(test_paging_walk),   cmocka_unit_test(test_endpoints),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
