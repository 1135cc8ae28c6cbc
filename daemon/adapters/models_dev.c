/* models.dev api.json: an object keyed by provider id, each with a "models" object
 * keyed by model id; costs are already USD per million tokens. See
 * docs/adapters-catalogues.md for the mapping. */
#include <jansson.h>
#include <strings.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

/* Fields whose presence makes up the structure fingerprint, sorted by path. "status"
 * is read but left out: only a few models carry it, so its presence is content. */
static const char *const models_dev_fp_fields[] = {
    "models", "models.*.cost", "models.*.cost.input", "models.*.cost.output", "models.*.name",
};
enum {
        MODELS_DEV_FP_MODELS = 1u << 0,
        MODELS_DEV_FP_COST = 1u << 1,
        MODELS_DEV_FP_COST_INPUT = 1u << 2,
        MODELS_DEV_FP_COST_OUTPUT = 1u << 3,
        MODELS_DEV_FP_NAME = 1u << 4,
};

static Lifecycle models_dev_lifecycle(const char *status)
{
        /* models.dev marks early access as "alpha" or "beta"; both mean preview here. */
        if (status && strcasecmp(status, "alpha") == 0)
                return LIFECYCLE_PREVIEW;
        return lifecycle_from_string(status);
}

static int models_dev_add_model(const char *provider, const char *key, json_t *model,
                                const AdapterOptions *opts, ObservationList *out, uint64_t *present,
                                AdapterError *err)
{
        json_t *cost, *v;
        Observation *o;
        int r;

        v = json_object_get(model, "name");
        if (v)
                *present |= MODELS_DEV_FP_NAME;
        cost = json_object_get(model, "cost");
        if (cost) {
                *present |= MODELS_DEV_FP_COST;
                if (json_object_get(cost, "input"))
                        *present |= MODELS_DEV_FP_COST_INPUT;
                if (json_object_get(cost, "output"))
                        *present |= MODELS_DEV_FP_COST_OUTPUT;
        }

        r = adapter_add_observation(out, opts, err, &o);
        if (r < 0)
                return r;

        o->provider = xstrdup(provider);
        o->model = xstrdup(key);
        o->vendor = xstrdup(opts->vendor);
        o->name = xstrdup(adapter_json_string(v, 0, ADAPTER_MAX_ID_LEN));
        /* Already USD per million tokens. */
        o->price_in = adapter_json_price(json_object_get(cost, "input"), 0);
        o->price_out = adapter_json_price(json_object_get(cost, "output"), 0);
        o->lifecycle = models_dev_lifecycle(json_string_value(json_object_get(model, "status")));
        return 0;
}

int adapter_models_dev_parse(const char *data, size_t len, const AdapterOptions *opts,
                             ObservationList *out, AdapterError *err)
{
        static const AdapterOptions defaults = {0};
        _cleanup_(adapter_json_decrefp) json_t *root = NULL;
        uint64_t present = 0;
        size_t with_models = 0;
        int r;

        if (!opts)
                opts = &defaults;
        r = adapter_json_load(data, len, ADAPTER_JSON_INT_AS_REAL, &root, err);
        if (r < 0)
                return r;
        if (!json_is_object(root))
                return adapter_error(err, 0, "top level is not an object keyed by provider id");

        for (void *it = json_object_iter(root); it; it = json_object_iter_next(root, it)) {
                const char *pkey = json_object_iter_key(it);
                json_t *prov = json_object_iter_value(it);
                json_t *models;

                if (!json_is_object(prov))
                        continue;
                models = json_object_get(prov, "models");
                if (models)
                        present |= MODELS_DEV_FP_MODELS;
                if (!json_is_object(models))
                        continue;
                with_models++;
                if (strlen(pkey) == 0 || strlen(pkey) > ADAPTER_MAX_ID_LEN)
                        continue;

                for (void *mit = json_object_iter(models); mit;
                     mit = json_object_iter_next(models, mit)) {
                        const char *mkey = json_object_iter_key(mit);
                        json_t *model = json_object_iter_value(mit);

                        if (!json_is_object(model))
                                continue;
                        if (strlen(mkey) == 0 || strlen(mkey) > ADAPTER_MAX_ID_LEN)
                                continue;
                        r = models_dev_add_model(pkey, mkey, model, opts, out, &present, err);
                        if (r < 0)
                                return r;
                }
        }

        /* Providers that all lost their "models" object mean the layout moved: that must
         * not read as "every model is gone". */
        if (json_object_size(root) > 0 && with_models == 0)
                return adapter_error(err, 0, "no provider has a \"models\" object");

        out->fingerprint =
            adapter_fingerprint_fields("models-dev:object-of-providers", models_dev_fp_fields,
                                       ELEMENTSOF(models_dev_fp_fields), present);
        return 0;
}
