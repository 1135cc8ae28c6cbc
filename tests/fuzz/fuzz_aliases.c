/* Arbitrary bytes as an alias table, then a few ids through normalize_model with it; the
 * input's first line is also normalized as a raw id. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockwatch/normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const AliasTable *t, const char *raw)
{
        char *canonical = NULL;
        bool mapped = false;

        if (normalize_model(t, "aws", raw, "Meta Llama", &canonical, &mapped) < 0)
                return;
        if (!normalize_canonical_valid(canonical))
                abort();
        free(canonical);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const ids[] = {
            "us.anthropic.claude-opus-4-7",
            "bedrock/us-gov-east-1/anthropic.claude-3-5-sonnet-20240620-v1:0",
            "claude-3-5-sonnet-v2@20241022",
            "Claude Opus 4.5 (preview)",
            "fireworks_ai/accounts/fireworks/models/llama-v3p1-405b-instruct",
            "openrouter/auto",
        };
        AliasTable *t = NULL;
        NormalizeError err;
        char raw[512];
        size_t n;

        /* the raw bytes as an id, with and without a table */
        n = size < sizeof(raw) - 1 ? size : sizeof(raw) - 1;
        memcpy(raw, data, n);
        raw[n] = '\0';
        check(NULL, raw);

        if (alias_table_parse("fuzz", (const char *)data, size, &t, &err) < 0) {
                if (err.line == 0 || err.message[0] == '\0')
                        abort();
                return 0;
        }
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
                check(t, ids[i]);
        check(t, raw);
        alias_table_free(t);
        return 0;
}
