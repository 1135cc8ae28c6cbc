/* libFuzzer target: the markdown-table adapter over arbitrary bytes, with two column specs
 * (one per shape of the real pages) and a small row cap; kept rows must respect the caps. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockwatch/adapter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const specs[] = {
    "Model:model, Type:name, Capabilities:regions",
    "Model:name, Hub/Project Region for Deployment:regions, Lifecycle:lifecycle, "
    "Price:price_in, Output:price_out, Retirement:eol, Vendor:vendor, Provider:provider",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const Adapter *a = adapter_find("markdown-table");

        for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
                const AdapterOptions opts = {.provider = "p", .columns = specs[s], .max_rows = 64};
                ObservationList l = {0};
                AdapterError err;

                if (adapter_parse(a, (const char *)data, size, &opts, &l, &err) < 0) {
                        if (err.message[0] == '\0' || l.n != 0)
                                abort();
                        continue;
                }
                if (l.n > opts.max_rows)
                        abort();
                for (size_t i = 0; i < l.n; i++) {
                        const Observation *o = &l.items[i];

                        if (!o->model || !o->model[0] || strlen(o->model) > ADAPTER_MAX_ID_LEN)
                                abort();
                        if (!o->provider || strlen(o->provider) > ADAPTER_MAX_ID_LEN)
                                abort();
                        if (o->n_regions > ADAPTER_MAX_REGIONS)
                                abort();
                        if (o->price_in < 0 || o->price_out < 0 || o->eol < 0)
                                abort();
                }
                observation_list_clear(&l);
        }
        return 0;
}
