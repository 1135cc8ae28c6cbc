/* libFuzzer target: the models-dev adapter over arbitrary bytes, with a small row cap so
 * the cap path is reached too; every observation it keeps must respect the caps. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockwatch/adapter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const AdapterOptions opts = {.max_rows = 64};
        const Adapter *a = adapter_find("models-dev");
        ObservationList l = {0};
        AdapterError err;

        if (adapter_parse(a, (const char *)data, size, &opts, &l, &err) < 0) {
                if (err.message[0] == '\0' || l.n != 0)
                        abort();
                return 0;
        }
        if (l.n > opts.max_rows)
                abort();
        for (size_t i = 0; i < l.n; i++) {
                const Observation *o = &l.items[i];

                if (!o->model || strlen(o->model) > ADAPTER_MAX_ID_LEN)
                        abort();
                if (o->n_regions > ADAPTER_MAX_REGIONS)
                        abort();
                if (o->price_in < 0 || o->price_out < 0 || o->eol < 0)
                        abort();
        }
        observation_list_clear(&l);
        return 0;
}
