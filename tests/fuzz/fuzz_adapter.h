/* What every adapter fuzz target checks: one parse of arbitrary bytes with a small row
 * cap; a failed parse yields nothing and says why; a good one respects every cap. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockwatch/adapter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_adapter_check(const char *format, const char *provider,
                                      const char *columns, const uint8_t *data, size_t size)
{
        const AdapterOptions opts = {
                .provider = provider, .columns = columns, .max_rows = 64, .max_bytes = 1 << 20};
        const Adapter *a = adapter_find(format);
        ObservationList l = {0};
        AdapterError err;

        if (!a)
                abort();
        if (adapter_parse(a, (const char *)data, size, &opts, &l, &err) < 0) {
                if (err.message[0] == '\0' || l.n != 0)
                        abort();
                return;
        }
        if (l.n > opts.max_rows)
                abort();
        for (size_t i = 0; i < l.n; i++) {
                const Observation *o = &l.items[i];

                if (!o->model || !o->model[0] || strlen(o->model) > ADAPTER_MAX_ID_LEN)
                        abort();
                if (o->provider && strlen(o->provider) > ADAPTER_MAX_ID_LEN)
                        abort();
                if (o->n_regions > ADAPTER_MAX_REGIONS)
                        abort();
                if (o->price_in < 0 || o->price_out < 0 || o->eol < 0)
                        abort();
        }
        observation_list_clear(&l);
}
