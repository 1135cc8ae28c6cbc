/* OpenRouter GET /api/v1/models: {"data":[{id, name, pricing:{prompt, completion},
 * expiration_date, ...}]} with prices as decimal strings in USD per token. See
 * docs/adapters-catalogues.md for the mapping. */
#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

/* Fields whose presence makes up the structure fingerprint, sorted by path. */
static const char *const openrouter_fp_fields[] = {
    "data[].expiration_date",
    "data[].id",
    "data[].name",
    "data[].pricing",
    "data[].pricing.completion",
    "data[].pricing.prompt",
};
enum {
        OPENROUTER_FP_EXPIRATION = 1u << 0,
        OPENROUTER_FP_ID = 1u << 1,
        OPENROUTER_FP_NAME = 1u << 2,
        OPENROUTER_FP_PRICING = 1u << 3,
        OPENROUTER_FP_COMPLETION = 1u << 4,
        OPENROUTER_FP_PROMPT = 1u << 5,
};

static int openrouter_add_model(json_t *m, const AdapterOptions *opts, ObservationList *out,
                                uint64_t *present, AdapterError *err)
{
        json_t *id_v, *name_v, *pricing, *exp;
        const char *id, *slash;
        Observation *o;
        int64_t eol = 0;
        int r;

        id_v = json_object_get(m, "id");
        if (id_v)
                *present |= OPENROUTER_FP_ID;
        name_v = json_object_get(m, "name");
        if (name_v)
                *present |= OPENROUTER_FP_NAME;
        exp = json_object_get(m, "expiration_date");
        if (exp)
                *present |= OPENROUTER_FP_EXPIRATION;
        pricing = json_object_get(m, "pricing");
        if (pricing) {
                *present |= OPENROUTER_FP_PRICING;
                if (json_object_get(pricing, "prompt"))
                        *present |= OPENROUTER_FP_PROMPT;
                if (json_object_get(pricing, "completion"))
                        *present |= OPENROUTER_FP_COMPLETION;
        }

        id = adapter_json_string(id_v, 1, ADAPTER_MAX_ID_LEN);
        if (!id)
                return 0;

        r = adapter_add_observation(out, opts, err, &o);
        if (r < 0)
                return r;

        o->provider = xstrdup(opts->provider ?: "openrouter");
        o->model = xstrdup(id);
        slash = strchr(id, '/');
        if (slash && slash != id)
                o->vendor = xstrndup(id, (size_t)(slash - id));
        else
                o->vendor = xstrdup(opts->vendor);
        o->name = xstrdup(adapter_json_string(name_v, 0, ADAPTER_MAX_ID_LEN));
        /* USD per token as a decimal string ("0.000005"; "-1" for routers whose price
         * depends on the model picked). */
        o->price_in = adapter_json_price(json_object_get(pricing, "prompt"),
                                         ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING);
        o->price_out = adapter_json_price(json_object_get(pricing, "completion"),
                                          ADAPTER_PRICE_PER_TOKEN | ADAPTER_PRICE_STRING);
        /* A scheduled expiration is OpenRouter announcing the model's end of life. */
        if (adapter_parse_date(json_string_value(exp), ADAPTER_DATE_FROM_EPOCH, &eol) >= 0) {
                o->eol = eol;
                o->lifecycle = LIFECYCLE_DEPRECATED;
        }
        return 0;
}

int adapter_openrouter_parse(const char *data, size_t len, const AdapterOptions *opts,
                             ObservationList *out, AdapterError *err)
{
        static const AdapterOptions defaults = {0};
        _cleanup_(adapter_json_decrefp) json_t *root = NULL;
        json_t *list;
        uint64_t present = 0;
        int r;

        if (!opts)
                opts = &defaults;
        r = adapter_json_load(data, len, ADAPTER_JSON_INT_AS_REAL, &root, err);
        if (r < 0)
                return r;
        if (!json_is_object(root))
                return adapter_error(err, 0, "top level is not an object");
        list = json_object_get(root, "data");
        if (!list)
                return adapter_error(err, 0, "no \"data\" member at top level");
        if (!json_is_array(list))
                return adapter_error(err, 0, "\"data\" is not an array");

        for (size_t i = 0; i < json_array_size(list); i++) {
                json_t *m = json_array_get(list, i);

                if (!json_is_object(m))
                        continue;
                r = openrouter_add_model(m, opts, out, &present, err);
                if (r < 0)
                        return r;
        }

        /* Entries that all lost "id" mean the layout moved: that must not read as
         * "every model is gone". */
        if (json_array_size(list) > 0 && !(present & OPENROUTER_FP_ID))
                return adapter_error(err, 0, "no entry of \"data\" has an \"id\"");

        out->fingerprint = adapter_fingerprint_fields("openrouter:object.data-array-of-objects",
                                                      openrouter_fp_fields,
                                                      ELEMENTSOF(openrouter_fp_fields), present);
        return 0;
}
