/* libFuzzer target: the bedrock-model-cards adapter on arbitrary bytes, with a small row cap. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lockwatch/adapter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const Adapter *a;
        AdapterOptions opts = {.max_rows = 64, .max_bytes = 1024 * 1024};
        ObservationList l = {0};
        AdapterError err;

        if (!a)
                a = adapter_find("bedrock-model-cards");
        if (!a)
                abort();
        if (adapter_parse(a, (const char *)data, size, &opts, &l, &err) < 0 && l.n != 0)
                abort(); /* a failed parse must yield nothing */
        for (size_t i = 0; i < l.n; i++)
                if (!l.items[i].model || !l.items[i].provider ||
                    l.items[i].n_regions > ADAPTER_MAX_REGIONS)
                        abort();
        if (l.n > opts.max_rows)
                abort();
        observation_list_clear(&l);
        return 0;
}
