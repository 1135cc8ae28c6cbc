/* Provider table, alias table and canonical model ids (DESIGN section 4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "lockwatch/normalize.h"
#include "lockwatch/util.h"

#define DATA_DIR LW_TEST_DATA "/normalize/"

static char *load(const char *path, size_t *ret_len)
{
        char *buf = NULL;
        int r = util_read_file(path, 1u << 20, &buf, ret_len);
        if (r < 0)
                fail_msg("cannot read %s: %s", path, strerror(-r));
        return buf;
}

static AliasTable *load_aliases(const char *path)
{
        _cleanup_free_ char *text = NULL;
        AliasTable *t = NULL;
        NormalizeError err;
        size_t len;

        text = load(path, &len);
        if (alias_table_parse(path, text, len, &t, &err) < 0)
                fail_msg("%s", err.message);
        return t;
}

static ProviderMap *load_providers(const char *path)
{
        _cleanup_free_ char *text = NULL;
        ProviderMap *m = NULL;
        NormalizeError err;
        size_t len;

        text = load(path, &len);
        if (provider_map_parse(path, text, len, &m, &err) < 0)
                fail_msg("%s", err.message);
        return m;
}

typedef struct Case {
        const char *provider;
        const char *raw;
        const char *hint;
        const char *canonical;
        bool mapped;
} Case;

/* Every example of DESIGN section 4, plus the steps the shipped tables rely on. */
static const Case design_cases[] = {
    /* Bedrock */
    {"aws", "anthropic.claude-opus-4-7", NULL, "anthropic/claude-opus-4-7", true},
    {"aws", "us.anthropic.claude-opus-4-7", NULL, "anthropic/claude-opus-4-7", true},
    {"aws", "global.anthropic.claude-opus-4-7", NULL, "anthropic/claude-opus-4-7", true},
    {"aws", "anthropic.claude-3-5-sonnet-20240620-v1:0", NULL, "anthropic/claude-3-5-sonnet", true},
    {"aws", "anthropic.claude-opus-4-6-v1", NULL, "anthropic/claude-opus-4-6", true},
    {"aws", "anthropic.claude-opus-4-6-v1:0:200k", NULL, "anthropic/claude-opus-4-6", true},
    {"aws", "anthropic.claude-3-sonnet-20240229-v1:0:28k", NULL, "anthropic/claude-3-sonnet", true},
    {"aws", "bedrock/us-gov-east-1/anthropic.claude-3-5-sonnet-20240620-v1:0", NULL,
     "anthropic/claude-3-5-sonnet", true},
    {"aws", "bedrock/us-east-1/1-month-commitment/anthropic.claude-3-5-sonnet-20240620-v1:0", NULL,
     "anthropic/claude-3-5-sonnet", true},
    {"aws", "anthropic.claude-3-5-sonnet-20241022-v2:0", NULL, "anthropic/claude-3-5-sonnet-v2",
     true},
    {"aws", "apac.anthropic.claude-3-5-sonnet-20241022-v2:0", NULL,
     "anthropic/claude-3-5-sonnet-v2", true},
    {"aws", "meta.llama3-1-405b-instruct-v1:0", NULL, "meta/llama-3-1-405b-instruct", true},
    {"aws", "us-gov.meta.llama3-2-90b-instruct-v1:0", NULL, "meta/llama-3-2-90b-instruct", true},
    {"aws", "amazon.titan-embed-text-v2:0:8k", NULL, "amazon/titan-embed-text-v2", true},
    {"aws", "amazon.titan-embed-text-v1", NULL, "amazon/titan-embed-text", true},
    {"aws", "openai.gpt-oss-120b-1:0", NULL, "openai/gpt-oss-120b", true},
    {"aws", "cohere.rerank-v3-5:0", NULL, "cohere/rerank-v3-5", true},
    {"aws", "mistral.mistral-7b-instruct-v0:2", NULL, "mistral/mistral-7b-instruct", true},
    {"aws", "twelvelabs.pegasus-1-2-v1:0", "TwelveLabs", "twelvelabs/pegasus-1-2", true},
    /* Vertex */
    {"gcp", "claude-opus-4-7@default", NULL, "anthropic/claude-opus-4-7", true},
    {"gcp", "vertex_ai/claude-opus-4-7", NULL, "anthropic/claude-opus-4-7", true},
    {"gcp", "vertex_ai/claude-opus-4-7@default", NULL, "anthropic/claude-opus-4-7", true},
    {"gcp", "claude-3-5-sonnet-v2@20241022", NULL, "anthropic/claude-3-5-sonnet-v2", true},
    {"gcp", "claude-opus-4@20250514", NULL, "anthropic/claude-opus-4", true},
    {"gcp", "chat-bison@002", NULL, "google/chat-bison", true},
    {"gcp", "meta/llama-3.3-70b-instruct-maas", NULL, "meta/llama-3-3-70b-instruct", true},
    {"gcp", "vertex_ai/meta/llama-3.1-405b-instruct-maas", NULL, "meta/llama-3-1-405b-instruct",
     true},
    {"gcp", "zai-org/glm-5-maas", NULL, "zhipuai/glm-5", true},
    /* Azure */
    {"azure", "azure_ai/claude-opus-4-7", NULL, "anthropic/claude-opus-4-7", true},
    {"azure", "azure/eu/gpt-5.5", NULL, "openai/gpt-5-5", true},
    {"azure", "azure/global/gpt-4o-2024-08-06", NULL, "openai/gpt-4o", true},
    {"azure", "Claude Opus 4.5 (preview)", NULL, "anthropic/claude-opus-4-5", true},
    {"azure", "Meta-Llama-3.1-405B-Instruct", "Meta", "meta/llama-3-1-405b-instruct", true},
    {"azure", "cohere-command-a", NULL, "cohere/command-a", true},
    {"azure", "Phi-4-mini-instruct", "Microsoft", "microsoft/phi-4-mini-instruct", true},
    /* OpenRouter and other gateways */
    {"openrouter", "anthropic/claude-opus-4.7", NULL, "anthropic/claude-opus-4-7", true},
    {"openrouter", "openrouter/anthropic/claude-opus-4.7", NULL, "anthropic/claude-opus-4-7", true},
    {"openrouter", "meta-llama/llama-3.1-405b-instruct", NULL, "meta/llama-3-1-405b-instruct",
     true},
    {"openrouter", "meta/llama-3.1-405b-instruct", NULL, "meta/llama-3-1-405b-instruct", true},
    {"openrouter", "x-ai/grok-4.20", NULL, "xai/grok-4-20", true},
    {"openrouter", "openai/gpt-oss-20b:free", NULL, "openai/gpt-oss-20b", true},
    {"openrouter", "~anthropic/claude-opus-latest", NULL, "anthropic/claude-opus-latest", true},
    {"openrouter", "perceptron/perceptron-mk1", NULL, "perceptron/perceptron-mk1", true},
    {"fireworks", "fireworks_ai/accounts/fireworks/models/llama-v3p1-405b-instruct", NULL,
     "meta/llama-3-1-405b-instruct", true},
    {"databricks", "databricks/databricks-meta-llama-3-1-8b-instruct", NULL,
     "meta/llama-3-1-8b-instruct", true},
    /* Direct APIs */
    {"anthropic", "claude-opus-4-7-20260416", NULL, "anthropic/claude-opus-4-7", true},
    {"anthropic", "claude-opus-4-7", NULL, "anthropic/claude-opus-4-7", true},
    {"openai", "gpt-4o-2024-05-13", NULL, "openai/gpt-4o", true},
    {"mistral", "mistral/mistral-large-2411", NULL, "mistral/mistral-large-2411", true},
    {"deepseek", "deepseek-r1", NULL, "deepseek/deepseek-r1", true},
    /* Vendor from the hint, through the publisher table */
    {"aws", "jamba-1-5-large", "AI21 Labs", "ai21/jamba-1-5-large", true},
    {"aws", "some-model", "Mistral AI", "mistral/some-model", true},
    {"aws", "another-model", "Moonshot AI", "moonshotai/another-model", true},
    /* Vendor from the provider when it is a vendor's own API */
    {"cohere", "brand-new-thing", NULL, "cohere/brand-new-thing", true},
    /* Nothing knows the vendor */
    {"openrouter", "openrouter/auto", NULL, "unmapped/auto", false},
    {"aws", "Totally New Model", NULL, "unmapped/totally-new-model", false},
};

static void test_design_examples(void **state)
{
        _cleanup_(alias_table_freep) AliasTable *t = NULL;
        /* the shipped table: aliases must not change any built-in answer above */
        t = load_aliases(LW_SOURCE_DIR "/data/aliases.conf");

        for (size_t i = 0; i < ELEMENTSOF(design_cases); i++) {
                const Case *c = &design_cases[i];
                _cleanup_free_ char *canonical = NULL;
                bool mapped = !c->mapped;
                int r = normalize_model(t, c->provider, c->raw, c->hint, &canonical, &mapped);
                if (r < 0)
                        fail_msg("%s: %s", c->raw, strerror(-r));
                if (!streq(canonical, c->canonical) || mapped != c->mapped)
                        fail_msg("%s -> %s (%s), expected %s (%s)", c->raw, canonical,
                                 mapped ? "mapped" : "unmapped", c->canonical,
                                 c->mapped ? "mapped" : "unmapped");
                assert_true(normalize_canonical_valid(canonical));
        }
}

/* Steps that need the shipped alias table: the date is the only difference. */
static const Case alias_cases[] = {
    {"anthropic", "claude-3-5-sonnet-20241022", NULL, "anthropic/claude-3-5-sonnet-v2", true},
    {"vercel", "vercel_ai_gateway/anthropic/claude-3-5-sonnet-20241022", NULL,
     "anthropic/claude-3-5-sonnet-v2", true},
    {"anthropic", "claude-3-5-sonnet-20240620", NULL, "anthropic/claude-3-5-sonnet", true},
    {"aws", "anthropic.claude-v2:1:200k", NULL, "anthropic/claude-2-1", true},
    {"aws", "anthropic.claude-v2", NULL, "anthropic/claude-2", true},
    {"aws", "deepseek.v3-v1:0", "DeepSeek", "deepseek/deepseek-v3", true},
    {"aws", "us.deepseek.r1-v1:0", NULL, "deepseek/deepseek-r1", true},
    {"azure", "gpt-35-turbo-16k", NULL, "openai/gpt-3-5-turbo-16k", true},
};

static void test_shipped_aliases(void **state)
{
        _cleanup_(alias_table_freep) AliasTable *t =
            load_aliases(LW_SOURCE_DIR "/data/aliases.conf");

        for (size_t i = 0; i < ELEMENTSOF(alias_cases); i++) {
                const Case *c = &alias_cases[i];
                _cleanup_free_ char *canonical = NULL;
                bool mapped = false;
                assert_int_equal(
                    normalize_model(t, c->provider, c->raw, c->hint, &canonical, &mapped), 0);
                if (!streq(canonical, c->canonical) || mapped != c->mapped)
                        fail_msg("%s -> %s, expected %s", c->raw, canonical, c->canonical);
        }
        /* Without the table the v2 direct-API id collapses onto the June model: the alias
         * is what keeps them apart. */
        _cleanup_free_ char *bare = NULL;
        bool mapped = false;
        assert_int_equal(
            normalize_model(NULL, "anthropic", "claude-3-5-sonnet-20241022", NULL, &bare, &mapped),
            0);
        assert_string_equal(bare, "anthropic/claude-3-5-sonnet");
}

static void test_alias_precedence(void **state)
{
        _cleanup_(alias_table_freep) AliasTable *t = load_aliases(DATA_DIR "aliases.conf");
        static const Case cases[] = {
            /* glob on the id as published */
            {"anthropic", "claude-3-5-sonnet-20241022", NULL, "anthropic/claude-3-5-sonnet-v2",
             true},
            /* exact on the derived id */
            {"aws", "deepseek.v3-v1:0", NULL, "deepseek/deepseek-v3", true},
            /* exact (derived) beats an earlier glob that also matches */
            {"opencode", "big-pickle", NULL, "opencode/big-pickle", true},
            /* the glob still applies when no exact key does */
            {"opencode", "small-pickle", NULL, "nobody/never", true},
            /* exact on the published id, matched lower-cased */
            {"x", "Mystery-Model", NULL, "acme/mystery", true},
            /* no alias: built-in steps */
            {"x", "claude-opus-4-7", NULL, "anthropic/claude-opus-4-7", true},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *canonical = NULL;
                bool mapped = false;
                assert_int_equal(
                    normalize_model(t, cases[i].provider, cases[i].raw, NULL, &canonical, &mapped),
                    0);
                if (!streq(canonical, cases[i].canonical))
                        fail_msg("%s -> %s, expected %s", cases[i].raw, canonical,
                                 cases[i].canonical);
                assert_true(mapped);
        }
}

static void test_normalize_limits(void **state)
{
        char raw[NORMALIZE_MAX_ID + 2];
        char *canonical = NULL;
        bool mapped = true;

        memset(raw, 'a', sizeof(raw) - 1);
        raw[sizeof(raw) - 1] = '\0';
        assert_int_equal(normalize_model(NULL, "aws", raw, NULL, &canonical, &mapped), -EINVAL);
        assert_null(canonical);
        assert_true(mapped); /* outputs untouched on failure */
        assert_int_equal(normalize_model(NULL, "aws", "", NULL, &canonical, &mapped), -EINVAL);
        assert_int_equal(normalize_model(NULL, "aws", "///", NULL, &canonical, &mapped), -EINVAL);
        assert_int_equal(normalize_model(NULL, "aws", "~", NULL, &canonical, &mapped), -EINVAL);
        assert_int_equal(normalize_model(NULL, "aws", NULL, NULL, &canonical, &mapped), -EINVAL);

        /* exactly at the cap is fine */
        raw[NORMALIZE_MAX_ID] = '\0';
        raw[0] = 'x';
        int r = normalize_model(NULL, "aws", raw, NULL, &canonical, &mapped);
        /* "unmapped/" plus 256 characters exceeds the output cap */
        assert_int_equal(r, -EINVAL);
        raw[NORMALIZE_MAX_ID - 20] = '\0';
        assert_int_equal(normalize_model(NULL, "aws", raw, NULL, &canonical, &mapped), 0);
        assert_true(strlen(canonical) <= NORMALIZE_MAX_ID);
        assert_false(mapped);
        free(canonical);
}

static void test_vendor_of(void **state)
{
        char buf[32];
        assert_string_equal(normalize_vendor_of("anthropic/claude-opus-4-7", buf, sizeof(buf)),
                            "anthropic");
        assert_string_equal(normalize_vendor_of("unmapped/foo", buf, sizeof(buf)), "unmapped");
        assert_string_equal(normalize_vendor_of("noslash", buf, sizeof(buf)), "");
        assert_string_equal(normalize_vendor_of("verylongvendorname/x", buf, 5), "very");
}

static void test_canonical_valid(void **state)
{
        static const struct {
                const char *s;
                bool ok;
        } cases[] = {
            {"anthropic/claude-opus-4-7", true},
            {"z.ai/glm-5", true},
            {"01-ai/yi-large", true},
            {"Anthropic/claude", false},
            {"anthropic/claude.4", false},
            {"anthropic/", false},
            {"/claude", false},
            {"anthropic", false},
            {"-x/y", false},
            {"x/-y", false},
            {"x/y/z", false},
            {"x/y_z", false},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                if (normalize_canonical_valid(cases[i].s) != cases[i].ok)
                        fail_msg("%s: expected %s", cases[i].s, cases[i].ok ? "valid" : "invalid");
}

static void test_provider_lookup(void **state)
{
        _cleanup_(provider_map_freep) ProviderMap *m = load_providers(DATA_DIR "providers.conf");
        static const struct {
                const char *upstream;
                int r;
                const char *provider;
                ProviderKind kind;
        } cases[] = {
            {"bedrock_converse", 0, "aws", PROVIDER_CLOUD},
            {"BEDROCK", 0, "aws", PROVIDER_CLOUD}, /* case-insensitive */
            {"bedrock_mantle", 0, "aws", PROVIDER_CLOUD},
            {"vertex_ai-anthropic_models", 0, "gcp", PROVIDER_CLOUD},
            {"vertex_ai", 0, "catchall", PROVIDER_AGGREGATOR}, /* "vertex_ai-*" needs the dash */
            {"azure_ai", 0, "azure", PROVIDER_CLOUD},
            {"anthropic", 0, "anthropic", PROVIDER_DIRECT},
            {"openrouter", 0, "openrouter", PROVIDER_AGGREGATOR},
            {"google_pse", -ESRCH, NULL, 0},
            {"anything-else", 0, "catchall", PROVIDER_AGGREGATOR},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *p = NULL;
                ProviderKind k = _PROVIDER_KIND_MAX;
                int r = provider_map_lookup(m, cases[i].upstream, &p, &k);
                if (r != cases[i].r)
                        fail_msg("%s: %d, expected %d", cases[i].upstream, r, cases[i].r);
                if (r == 0) {
                        assert_string_equal(p, cases[i].provider);
                        assert_int_equal(k, cases[i].kind);
                } else
                        assert_null(p);
        }

        ProviderKind k;
        assert_int_equal(provider_map_kind(m, "gcp", &k), 0);
        assert_int_equal(k, PROVIDER_CLOUD);
        assert_int_equal(provider_map_kind(m, "openrouter", &k), 0);
        assert_int_equal(k, PROVIDER_AGGREGATOR);
        assert_int_equal(provider_map_kind(m, "bedrock", &k), -ENOENT);
}

static void test_provider_unlisted(void **state)
{
        static const char text[] = "bedrock = aws cloud\n";
        _cleanup_(provider_map_freep) ProviderMap *m = NULL;
        NormalizeError err;
        const char *p = "untouched";

        assert_int_equal(provider_map_parse("t", text, sizeof(text) - 1, &m, &err), 0);
        assert_int_equal(provider_map_lookup(m, "azure", &p, NULL), -ENOENT);
        assert_string_equal(p, "untouched");
}

static void test_kind_names(void **state)
{
        ProviderKind k;
        for (unsigned i = 0; i < _PROVIDER_KIND_MAX; i++) {
                assert_int_equal(provider_kind_from_string(provider_kind_name(i), &k), 0);
                assert_int_equal(k, i);
        }
        assert_string_equal(provider_kind_name(PROVIDER_DIRECT), "direct");
        assert_int_equal(provider_kind_from_string("Cloud", &k), -EINVAL);
        assert_int_equal(provider_kind_from_string(NULL, &k), -EINVAL);
}

typedef struct ErrCase {
        const char *text;
        const char *message;
} ErrCase;

static const ErrCase provider_errors[] = {
    {"bedrock aws cloud\n", "p.conf:1:18: expected '=' (lines read 'NAME = VALUE')"},
    {"# c\n  = aws cloud\n", "p.conf:2:3: missing name before '='"},
    {"bedrock =   \n", "p.conf:1:10: missing value after '='"},
    {"bedrock = AWS cloud\n",
     "p.conf:1:11: invalid provider id 'AWS' (expected [a-z0-9][a-z0-9_-]*)"},
    {"bedrock = aws.com cloud\n",
     "p.conf:1:11: invalid provider id 'aws.com' (expected [a-z0-9][a-z0-9_-]*)"},
    {"bedrock = aws\n", "p.conf:1:14: missing kind after 'aws' (cloud, direct or aggregator)"},
    {"bedrock = aws clowd\n", "p.conf:1:15: unknown kind 'clowd' (did you mean 'cloud'?)"},
    {"x = y agregator\n", "p.conf:1:7: unknown kind 'agregator' (did you mean 'aggregator'?)"},
    {"x = y hyperscaler\n",
     "p.conf:1:7: unknown kind 'hyperscaler' (expected cloud, direct or aggregator)"},
    {"x = y cloud extra\n", "p.conf:1:13: unexpected text after the kind"},
    {"bedrock = aws cloud\nbedrock_converse = aws aggregator\n",
     "p.conf:2:24: provider 'aws' is cloud on line 1 but aggregator here"},
    {"bed rock = aws cloud\n", "p.conf:1:1: upstream name must not contain spaces"},
    {"x = y cloud\n\0z = w cloud\n", "p.conf:2:1: NUL byte"},
};

static void check_errors(const ErrCase *cases, size_t n, bool aliases)
{
        for (size_t i = 0; i < n; i++) {
                NormalizeError err;
                ProviderMap *m = (ProviderMap *)0x1;
                AliasTable *t = (AliasTable *)0x1;
                size_t len = strlen(cases[i].text);
                int r;

                /* one case carries an embedded NUL: measure past it */
                if (strstr(cases[i].message, "NUL byte"))
                        len += 1 + strlen(cases[i].text + len + 1);
                if (aliases)
                        r = alias_table_parse("a.conf", cases[i].text, len, &t, &err);
                else
                        r = provider_map_parse("p.conf", cases[i].text, len, &m, &err);
                assert_int_equal(r, -EINVAL);
                if (!streq(err.message, cases[i].message))
                        fail_msg("case %zu: got \"%s\", expected \"%s\"", i, err.message,
                                 cases[i].message);
                /* the line and column fields agree with the message */
                char prefix[64];
                snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", aliases ? "a.conf" : "p.conf",
                         err.line, err.col);
                assert_non_null(startswith(err.message, prefix));
                assert_ptr_equal(m, (ProviderMap *)0x1);
                assert_ptr_equal(t, (AliasTable *)0x1);
        }
}

static void test_provider_errors(void **state)
{
        check_errors(provider_errors, ELEMENTSOF(provider_errors), false);
}

static void test_provider_error_file(void **state)
{
        _cleanup_free_ char *text = NULL;
        ProviderMap *m = NULL;
        NormalizeError err;
        size_t len;

        text = load(DATA_DIR "bad-kind.conf", &len);
        assert_int_equal(provider_map_parse("bad-kind.conf", text, len, &m, &err), -EINVAL);
        assert_string_equal(err.message,
                            "bad-kind.conf:2:17: unknown kind 'clowd' (did you mean 'cloud'?)");
        assert_int_equal(err.line, 2);
        assert_int_equal(err.col, 17);
        assert_null(m);
}

static const ErrCase alias_errors[] = {
    {"claude-x anthropic/claude-x\n", "a.conf:1:28: expected '=' (lines read 'NAME = VALUE')"},
    {"claude-x = claude-x\n",
     "a.conf:1:12: invalid canonical id 'claude-x' (expected vendor/model: "
     "[a-z0-9][a-z0-9.-]*/[a-z0-9][a-z0-9-]*)"},
    {"claude-x = anthropic/claude.x\n",
     "a.conf:1:12: invalid canonical id 'anthropic/claude.x' (expected vendor/model: "
     "[a-z0-9][a-z0-9.-]*/[a-z0-9][a-z0-9-]*)"},
    {"a = x/y\n\nA = x/z\n", "a.conf:3:1: 'a' already maps to 'x/y' on line 1"},
};

static void test_alias_errors(void **state)
{
        check_errors(alias_errors, ELEMENTSOF(alias_errors), true);
}

static void test_alias_error_file(void **state)
{
        _cleanup_free_ char *text = NULL;
        AliasTable *t = NULL;
        NormalizeError err;
        size_t len;

        text = load(DATA_DIR "bad-alias.conf", &len);
        assert_int_equal(alias_table_parse("bad-alias.conf", text, len, &t, &err), -EINVAL);
        assert_string_equal(err.message,
                            "bad-alias.conf:2:12: invalid canonical id 'Anthropic/Claude_Y' "
                            "(expected vendor/model: [a-z0-9][a-z0-9.-]*/[a-z0-9][a-z0-9-]*)");
        assert_null(t);
}

static void test_alias_duplicate_same_target(void **state)
{
        static const char text[] = "a = x/y\na = x/y\n";
        _cleanup_(alias_table_freep) AliasTable *t = NULL;
        NormalizeError err;
        assert_int_equal(alias_table_parse("a", text, sizeof(text) - 1, &t, &err), 0);
}

/* Caps shared by both tables: line count and line length. */
static void test_caps(void **state)
{
        _cleanup_free_ char *many = NULL, *longline = NULL;
        size_t n = 0;
        NormalizeError err;
        ProviderMap *m = NULL;
        AliasTable *t = NULL;

        many = xmalloc(4097 * 4 + 1);
        for (unsigned i = 0; i < 4097; i++) {
                memcpy(many + n, "#c\n", 3);
                n += 3;
        }
        many[n] = '\0';
        assert_int_equal(provider_map_parse("p", many, n, &m, &err), -EINVAL);
        assert_string_equal(err.message, "p:4097:1: more than 4096 lines");
        assert_int_equal(alias_table_parse("a", many, n, &t, &err), -EINVAL);
        assert_string_equal(err.message, "a:4097:1: more than 4096 lines");
        /* exactly 4096 lines is accepted */
        assert_int_equal(provider_map_parse("p", many, n - 3, &m, &err), 0);
        provider_map_free(m);
        m = NULL;

        longline = xmalloc(1100);
        memset(longline, 'x', 1030);
        memcpy(longline, "a = b/c #", 9);
        longline[1030] = '\n';
        assert_int_equal(alias_table_parse("a", longline, 1031, &t, &err), -EINVAL);
        assert_string_equal(err.message, "a:1:1025: line longer than 1024 bytes");
        /* 1024 bytes is still a line */
        memcpy(longline + 1024, "\n", 1);
        assert_int_equal(alias_table_parse("a", longline, 1025, &t, &err), 0);
        alias_table_free(t);
}

static void test_empty_and_comments(void **state)
{
        static const char text[] = "\n# only comments\n   \t\n# bedrock = aws cloud\r\n";
        _cleanup_(provider_map_freep) ProviderMap *m = NULL;
        NormalizeError err;
        assert_int_equal(provider_map_parse("p", text, sizeof(text) - 1, &m, &err), 0);
        assert_int_equal(provider_map_lookup(m, "bedrock", NULL, NULL), -ENOENT);
        provider_map_free(m);
        m = NULL;
        assert_int_equal(provider_map_parse("p", NULL, 0, &m, &err), 0);
}

/* The shipped provider table parses and answers for the names the captures use. */
static void test_shipped_providers(void **state)
{
        _cleanup_(provider_map_freep) ProviderMap *m =
            load_providers(LW_SOURCE_DIR "/data/providers.conf");
        static const struct {
                const char *upstream, *provider;
                ProviderKind kind;
        } cases[] = {
            {"bedrock", "aws", PROVIDER_CLOUD},
            {"bedrock_converse", "aws", PROVIDER_CLOUD},
            {"amazon-bedrock", "aws", PROVIDER_CLOUD},
            {"vertex_ai-anthropic_models", "gcp", PROVIDER_CLOUD},
            {"vertex_ai", "gcp", PROVIDER_CLOUD},
            {"google-vertex-anthropic", "gcp", PROVIDER_CLOUD},
            {"azure", "azure", PROVIDER_CLOUD},
            {"azure_ai", "azure", PROVIDER_CLOUD},
            {"azure-cognitive-services", "azure", PROVIDER_CLOUD},
            {"anthropic", "anthropic", PROVIDER_DIRECT},
            {"text-completion-openai", "openai", PROVIDER_DIRECT},
            {"gemini", "google", PROVIDER_DIRECT},
            {"moonshot", "moonshotai", PROVIDER_DIRECT},
            {"openrouter", "openrouter", PROVIDER_AGGREGATOR},
            {"vercel_ai_gateway", "vercel", PROVIDER_AGGREGATOR},
            {"together_ai", "together", PROVIDER_AGGREGATOR},
            {"togetherai", "together", PROVIDER_AGGREGATOR},
            {"oci", "oci", PROVIDER_AGGREGATOR},
            {"watsonx", "ibm", PROVIDER_AGGREGATOR},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *p = NULL;
                ProviderKind k;
                if (provider_map_lookup(m, cases[i].upstream, &p, &k) < 0)
                        fail_msg("%s is not mapped", cases[i].upstream);
                if (!streq(p, cases[i].provider) || k != cases[i].kind)
                        fail_msg("%s -> %s %s", cases[i].upstream, p, provider_kind_name(k));
        }
        assert_int_equal(provider_map_lookup(m, "google_pse", NULL, NULL), -ESRCH);
        assert_int_equal(provider_map_lookup(m, "no-such-host-anywhere", NULL, NULL), -ENOENT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_design_examples),
            cmocka_unit_test(test_shipped_aliases),
            cmocka_unit_test(test_alias_precedence),
            cmocka_unit_test(test_normalize_limits),
            cmocka_unit_test(test_vendor_of),
            cmocka_unit_test(test_canonical_valid),
            cmocka_unit_test(test_provider_lookup),
            cmocka_unit_test(test_provider_unlisted),
            cmocka_unit_test(test_kind_names),
            cmocka_unit_test(test_provider_errors),
            cmocka_unit_test(test_provider_error_file),
            cmocka_unit_test(test_alias_errors),
            cmocka_unit_test(test_alias_error_file),
            cmocka_unit_test(test_alias_duplicate_same_target),
            cmocka_unit_test(test_caps),
            cmocka_unit_test(test_empty_and_comments),
            cmocka_unit_test(test_shipped_providers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
