/* azure-models: `az cognitiveservices model list` output, a JSON array of
 * {kind, skuName, model:{format, name, version, lifecycleStatus, deprecation, capabilities,
 * skus}}. Versions of one model name merge into one observation. See docs/adapters-clouds.md. */
#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define AZURE_MODELS_MAX_TEXT         1024
#define AZURE_MODELS_DEFAULT_PROVIDER "azure"
/* Azure writes 2099-12-31 where a model has no retirement date yet. */
#define AZURE_MODELS_PLACEHOLDER_YEAR 2099

/* Field names the adapter relies on, sorted: the structure fingerprint hashes the
 * ones present, so a renamed field moves it while a new model does not. */
enum {
        AZURE_MODELS_F_CAPABILITIES,
        AZURE_MODELS_F_DEPRECATION,
        AZURE_MODELS_F_FORMAT,
        AZURE_MODELS_F_INFERENCE,
        AZURE_MODELS_F_LIFECYCLE_STATUS,
        AZURE_MODELS_F_MODEL,
        AZURE_MODELS_F_NAME,
        _AZURE_MODELS_F_MAX,
};

static const char *const azure_models_fields[_AZURE_MODELS_F_MAX] = {
    [AZURE_MODELS_F_CAPABILITIES] = "capabilities",
    [AZURE_MODELS_F_DEPRECATION] = "deprecation",
    [AZURE_MODELS_F_FORMAT] = "format",
    [AZURE_MODELS_F_INFERENCE] = "inference",
    [AZURE_MODELS_F_LIFECYCLE_STATUS] = "lifecycleStatus",
    [AZURE_MODELS_F_MODEL] = "model",
    [AZURE_MODELS_F_NAME] = "name",
};

/* Capabilities that make a model a text model the matrix tracks. */
static const char *const azure_models_text_caps[] = {"chatCompletion", "completion", "responses"};

/* Open-addressing index from model name to its observation, so merging stays linear. */
typedef struct AzureModelsIndex {
        size_t *slots; /* index into the list, SIZE_MAX when empty */
        size_t cap;    /* power of two */
        size_t n;
} AzureModelsIndex;

static void azure_models_index_done(AzureModelsIndex *ix)
{
        free(ix->slots);
}

static size_t azure_models_slot(const AzureModelsIndex *ix, const ObservationList *l,
                                const char *name)
{
        size_t mask = ix->cap - 1;
        size_t s = (size_t)util_fnv1a(UTIL_FNV_INIT, name, strlen(name)) & mask;

        while (ix->slots[s] != SIZE_MAX && !streq(l->items[ix->slots[s]].model, name))
                s = (s + 1) & mask;
        return s;
}

static void azure_models_index_grow(AzureModelsIndex *ix, const ObservationList *l)
{
        size_t *old = ix->slots, old_cap = ix->cap;

        ix->cap = old_cap ? old_cap * 2 : 64;
        ix->slots = xcalloc(ix->cap, sizeof(size_t));
        for (size_t i = 0; i < ix->cap; i++)
                ix->slots[i] = SIZE_MAX;
        for (size_t i = 0; i < old_cap; i++)
                if (old[i] != SIZE_MAX)
                        ix->slots[azure_models_slot(ix, l, l->items[old[i]].model)] = old[i];
        free(old);
}

static json_t *azure_models_get(json_t *obj, int field, uint64_t *seen)
{
        return adapter_json_field(obj, azure_models_fields, (unsigned)field, seen);
}

static const char *azure_models_str(json_t *obj, int field, size_t max, uint64_t *seen)
{
        return adapter_json_field_string(obj, azure_models_fields, (unsigned)field, max, seen);
}

/* "YYYY-MM-DD[T...]" to seconds since the epoch; the placeholder year gives 0 (no known
 * end of life), as does a date that does not parse. */
static int64_t azure_models_eol(const char *s)
{
        int64_t eol;

        if (adapter_parse_date(s, ADAPTER_DATE_TIME_SUFFIX | ADAPTER_DATE_FROM_EPOCH, &eol) < 0 ||
            eol >= adapter_days_from_civil(AZURE_MODELS_PLACEHOLDER_YEAR, 1, 1) * 86400)
                return 0;
        return eol;
}

static bool azure_models_is_text(json_t *caps)
{
        if (!json_is_object(caps))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(azure_models_text_caps); i++) {
                json_t *v = json_object_get(caps, azure_models_text_caps[i]);

                /* The CLI prints capability flags as the strings "true"/"false". */
                if (json_is_true(v) || (json_is_string(v) && streq(json_string_value(v), "true")))
                        return true;
        }
        return false;
}

/* Order of preference among versions: not deprecated first, then the latest end of life
 * (none known counts as latest). */
static bool azure_models_better(Lifecycle l, int64_t eol, const Observation *than)
{
        bool live = l != LIFECYCLE_DEPRECATED && l != LIFECYCLE_RETIRED;
        bool than_live =
            than->lifecycle != LIFECYCLE_DEPRECATED && than->lifecycle != LIFECYCLE_RETIRED;
        int64_t a = eol ? eol : INT64_MAX, b = than->eol ? than->eol : INT64_MAX;

        if (live != than_live)
                return live;
        return a > b;
}

static int azure_models_entry(json_t *entry, const AdapterOptions *opts, ObservationList *out,
                              AzureModelsIndex *ix, AdapterError *err, uint64_t *seen)
{
        const char *name, *vendor;
        json_t *model, *caps, *dep;
        Lifecycle lifecycle;
        int64_t eol = 0;
        Observation *o;
        size_t slot;

        model = azure_models_get(entry, AZURE_MODELS_F_MODEL, seen);
        if (!json_is_object(model))
                return 0;
        name = azure_models_str(model, AZURE_MODELS_F_NAME, ADAPTER_MAX_ID_LEN, seen);
        caps = azure_models_get(model, AZURE_MODELS_F_CAPABILITIES, seen);
        if (!name || !azure_models_is_text(caps))
                return 0;
        vendor = azure_models_str(model, AZURE_MODELS_F_FORMAT, AZURE_MODELS_MAX_TEXT, seen);
        lifecycle = lifecycle_from_string(
            azure_models_str(model, AZURE_MODELS_F_LIFECYCLE_STATUS, AZURE_MODELS_MAX_TEXT, seen));
        dep = azure_models_get(model, AZURE_MODELS_F_DEPRECATION, seen);
        if (json_is_object(dep))
                eol = azure_models_eol(
                    azure_models_str(dep, AZURE_MODELS_F_INFERENCE, AZURE_MODELS_MAX_TEXT, seen));

        if (ix->cap == 0 || (ix->n + 1) * 2 > ix->cap)
                azure_models_index_grow(ix, out);
        slot = azure_models_slot(ix, out, name);
        if (ix->slots[slot] != SIZE_MAX) {
                o = &out->items[ix->slots[slot]];
                if (!azure_models_better(lifecycle, eol, o))
                        return 0;
                free(o->vendor);
        } else {
                int r = adapter_add_observation(out, opts, err, &o);

                if (r < 0)
                        return r;
                ix->slots[slot] = out->n - 1;
                ix->n++;
                o->provider =
                    xstrdup(opts->provider ? opts->provider : AZURE_MODELS_DEFAULT_PROVIDER);
                o->model = xstrdup(name);
        }
        o->vendor = xstrdup(vendor ? vendor : opts->vendor);
        o->lifecycle = lifecycle;
        o->eol = eol;
        o->available = lifecycle != LIFECYCLE_RETIRED;
        return 0;
}

int adapter_azure_models_parse(const char *data, size_t len, const AdapterOptions *opts,
                               ObservationList *out, AdapterError *err)
{
        _cleanup_(adapter_json_decrefp) json_t *root = NULL;
        _cleanup_(azure_models_index_done) AzureModelsIndex ix = {0};
        json_t *entry;
        uint64_t seen = 0;
        size_t i;
        int r;

        r = adapter_json_load(data, len, ADAPTER_JSON_DEPTH_EBADMSG, &root, err);
        if (r < 0)
                return r;
        if (!json_is_array(root))
                return adapter_error(err, 0, "expected a JSON array of models");

        json_array_foreach(root, i, entry)
        {
                if (!json_is_object(entry))
                        continue;
                r = azure_models_entry(entry, opts, out, &ix, err, &seen);
                if (r < 0)
                        return r;
        }
        /* Entries that all lack the model object mean the layout moved, not "no models". */
        if (json_array_size(root) > 0 && !(seen & (UINT64_C(1) << AZURE_MODELS_F_MODEL)))
                return adapter_error(err, 0, "no entry has a \"model\" object");
        out->fingerprint = adapter_fingerprint_fields("azure-models:array", azure_models_fields,
                                                      _AZURE_MODELS_F_MAX, seen);
        return 0;
}
