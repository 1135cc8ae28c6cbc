/* Arbitrary bytes as a provider table: parse, then look a few names up. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lockwatch/normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const names[] = {"bedrock", "vertex_ai-anthropic_models", "AZURE", "",
                                            "openrouter"};
        ProviderMap *m = NULL;
        NormalizeError err;

        if (provider_map_parse("fuzz", (const char *)data, size, &m, &err) < 0) {
                /* a rejected table always says where */
                if (err.line == 0 || err.message[0] == '\0')
                        abort();
                return 0;
        }
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                const char *p = NULL;
                ProviderKind k;
                int r = provider_map_lookup(m, names[i], &p, &k);
                if (r == 0 && (!p || provider_map_kind(m, p, &k) < 0))
                        abort();
        }
        provider_map_free(m);
        return 0;
}
