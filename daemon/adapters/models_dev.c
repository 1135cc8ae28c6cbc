/* models.dev api.json: an object keyed by provider id, each with a "models" object
 * keyed by model id; costs are already USD per million tokens. See
 * docs/adapters-catalogues.md for the mapping. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
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

/* jansson accepts 2048 levels; the cap is ours, checked on the raw bytes before any
 * tree is built so a hostile page costs one linear scan. */
static int models_dev_check_depth(const char *data, size_t len, AdapterError *err)
{
        unsigned depth = 0;

        for (size_t i = 0; i < len; i++) {
                char c = data[i];

                if (c == '"') {
                        /* Jump to the closing quote: one preceded by an even run of
                         * backslashes. */
                        for (;;) {
                                const char *q = memchr(data + i + 1, '"', len - i - 1);
                                size_t bs = 0;

                                if (!q)
                                        return 0; /* unterminated: jansson reports it */
                                i = (size_t)(q - data);
                                while (bs < i && data[i - 1 - bs] == '\\')
                                        bs++;
                                if (bs % 2 == 0)
                                        break;
                        }
                } else if (c == '{' || c == '[') {
                        if (++depth > ADAPTER_MAX_DEPTH) {
                                unsigned line = 1, col = 1;

                                for (size_t k = 0; k < i; k++) {
                                        col++;
                                        if (data[k] == '\n') {
                                                line++;
                                                col = 1;
                                        }
                                }
                                adapter_error(err, i, "JSON nested deeper than %d levels",
                                              ADAPTER_MAX_DEPTH);
                                err->line = line;
                                err->col = col;
                                return -ELOOP;
                        }
                } else if ((c == '}' || c == ']') && depth > 0) {
                        depth--;
                }
        }
        return 0;
}

static int models_dev_load(const char *data, size_t len, json_t **ret, AdapterError *err)
{
        json_error_t jerr;
        json_t *root;
        int r;

        r = models_dev_check_depth(data, len, err);
        if (r < 0)
                return r;
        /* Integers as reals: an oversized integer in a field we ignore must not fail
         * the whole page. */
        root = json_loadb(data, len, JSON_DECODE_INT_AS_REAL, &jerr);
        if (!root) {
                r = adapter_error(err, jerr.position > 0 ? (size_t)jerr.position : 0,
                                  "invalid JSON: %s", jerr.text);
                err->line = jerr.line > 0 ? (unsigned)jerr.line : 0;
                err->col = jerr.column > 0 ? (unsigned)jerr.column : 0;
                return r;
        }
        *ret = root;
        return 0;
}

/* Already USD per million tokens; a negative or non-numeric cost is unknown. */
static double models_dev_price(json_t *v)
{
        double p;

        if (!json_is_number(v))
                return NAN;
        p = json_number_value(v);
        if (!isfinite(p) || p < 0)
                return NAN;
        return p;
}

static Lifecycle models_dev_lifecycle(const char *status)
{
        /* models.dev marks early access as "alpha" or "beta"; both mean preview here. */
        if (status && strcasecmp(status, "alpha") == 0)
                return LIFECYCLE_PREVIEW;
        return lifecycle_from_string(status);
}

static int models_dev_add_model(const char *provider, const char *key, json_t *model,
                                const AdapterOptions *opts, ObservationList *out, unsigned *present,
                                AdapterError *err)
{
        json_t *cost, *v;
        const char *name;
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

        r = observation_list_add(out, opts->max_rows, &o);
        if (r == -E2BIG)
                return adapter_error(err, 0, "more than %zu rows", opts->max_rows), r;
        if (r < 0)
                return r;

        o->provider = xstrdup(provider);
        o->model = xstrdup(key);
        o->vendor = xstrdup(opts->vendor);
        name = json_string_value(v);
        if (name && strlen(name) <= ADAPTER_MAX_ID_LEN)
                o->name = xstrdup(name);
        o->price_in = models_dev_price(json_object_get(cost, "input"));
        o->price_out = models_dev_price(json_object_get(cost, "output"));
        o->lifecycle = models_dev_lifecycle(json_string_value(json_object_get(model, "status")));
        return 0;
}

int adapter_models_dev_parse(const char *data, size_t len, const AdapterOptions *opts,
                             ObservationList *out, AdapterError *err)
{
        static const AdapterOptions defaults = {0};
        static const char shape[] = "models-dev:object-of-providers";
        json_t *root = NULL;
        unsigned present = 0;
        size_t with_models = 0;
        uint64_t h;
        int r = 0;

        if (!opts)
                opts = &defaults;
        r = models_dev_load(data, len, &root, err);
        if (r < 0)
                return r;
        if (!json_is_object(root)) {
                json_decref(root);
                return adapter_error(err, 0, "top level is not an object keyed by provider id");
        }

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
                                goto finish;
                }
        }

        /* Providers that all lost their "models" object mean the layout moved: that must
         * not read as "every model is gone". */
        if (json_object_size(root) > 0 && with_models == 0) {
                r = adapter_error(err, 0, "no provider has a \"models\" object");
                goto finish;
        }

        h = util_fnv1a(UTIL_FNV_INIT, shape, sizeof(shape));
        for (size_t i = 0; i < ELEMENTSOF(models_dev_fp_fields); i++)
                if (present & (1u << i))
                        h = util_fnv1a(h, models_dev_fp_fields[i],
                                       strlen(models_dev_fp_fields[i]) + 1);
        out->fingerprint = h;
finish:
        json_decref(root);
        return r < 0 ? r : 0;
}
