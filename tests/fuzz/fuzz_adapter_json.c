/* libFuzzer target: the json adapter over arbitrary bytes with fixed specs: the default
 * rows through fuzz_adapter.h's check, and rows paths with '*', [*], [N] and @key
 * through the same checks here (fuzz_adapter.h sets no rows). */
#include "fuzz_adapter.h"

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define COLUMNS                                                                                    \
        "id:model, name:name, host[*]:provider, owned_by:vendor, regions[*]:regions, "             \
        "status:lifecycle, retires:eol, pricing.prompt:price_in_per_token, "                       \
        "pricing.completion:price_out_per_token, ok:available"

static void fuzz_json_rows(const char *rows, const char *columns, const uint8_t *data, size_t size)
{
        const AdapterOptions opts = {.rows = rows,
                                     .columns = columns,
                                     .provider = "p",
                                     .max_rows = 64,
                                     .max_bytes = 1 << 20};
        ObservationList l = {0};
        AdapterError err;

        if (adapter_parse(adapter_find("json"), (const char *)data, size, &opts, &l, &err) < 0) {
                if (err.message[0] == '\0' || l.n != 0)
                        abort();
                return;
        }
        if (l.n == 0 || l.n > opts.max_rows || l.fingerprint == 0)
                abort();
        for (size_t i = 0; i < l.n; i++) {
                const Observation *o = &l.items[i];

                if (!o->model || !o->model[0] || strlen(o->model) > ADAPTER_MAX_ID_LEN)
                        abort();
                if (!o->provider || !o->provider[0] || strlen(o->provider) > ADAPTER_MAX_ID_LEN)
                        abort();
                if (o->n_regions > ADAPTER_MAX_REGIONS)
                        abort();
                if (o->price_in < 0 || o->price_out < 0 || o->eol < 0)
                        abort();
        }
        observation_list_clear(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* Loading the document is most of the cost: one more parse per input, its rows
         * spec picked by the input's length, keeps the fuzzer fast. */
        static const char *const specs[][2] = {
            {"data[*]", COLUMNS},
            {"*", "@key:model, litellm_provider:provider, "
                  "input_cost_per_token:price_in_per_token, supported_regions:regions"},
            {"$.*.models.*", "@key:model, cost.input:price_in, $:name"},
            {"[0][*]", "[1]:model, [0]:provider, @key:name"},
        };
        size_t k = size % ELEMENTSOF(specs);

        fuzz_adapter_check("json", "p", COLUMNS, data, size);
        fuzz_json_rows(specs[k][0], specs[k][1], data, size);
        return 0;
}
