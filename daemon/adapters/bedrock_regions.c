/* bedrock-api-regions: the daily merge of ListFoundationModels and ListInferenceProfiles
 * over every Bedrock region, {MODEL_ID: {regions, inference_types{REGION: [TYPE...]},
 * model_lifecycle_status, ...}}. See docs/adapters-official.md. */
#include <errno.h>
#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define BEDROCK_REGIONS_MAX_TEXT         1024
#define BEDROCK_REGIONS_MAX_REGION       64
#define BEDROCK_REGIONS_MAX_TYPES        32 /* inference types per region */
#define BEDROCK_REGIONS_DEFAULT_PROVIDER "bedrock"
#define BEDROCK_REGIONS_SHAPE_ERROR      "expected an object of models keyed by model id"

/* Field names the adapter relies on, sorted (see the structure fingerprint). */
enum {
        BEDROCK_REGIONS_F_INFERENCE_TYPES,
        BEDROCK_REGIONS_F_LIFECYCLE,
        BEDROCK_REGIONS_F_REGIONS,
        _BEDROCK_REGIONS_F_MAX,
};

static const char *const bedrock_regions_fields[_BEDROCK_REGIONS_F_MAX] = {
    [BEDROCK_REGIONS_F_INFERENCE_TYPES] = "inference_types",
    [BEDROCK_REGIONS_F_LIFECYCLE] = "model_lifecycle_status",
    [BEDROCK_REGIONS_F_REGIONS] = "regions",
};

static bool bedrock_regions_region_ok(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > BEDROCK_REGIONS_MAX_REGION)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

/* Whether a region's inference types make the model callable there. ON_DEMAND is an
 * in-region call; a geography (US, EU, APAC, GLOBAL, ...) is a cross-region profile that
 * accepts calls made in this region. PROVISIONED alone needs purchased throughput for
 * one custom deployment: not an API anyone can call. */
static bool bedrock_regions_callable(json_t *types)
{
        json_t *t;
        size_t i;

        if (!json_is_array(types))
                return false;
        json_array_foreach(types, i, t)
        {
                const char *s = adapter_json_string(t, 1, BEDROCK_REGIONS_MAX_TEXT);

                if (i >= BEDROCK_REGIONS_MAX_TYPES)
                        break;
                if (s && !streq(s, "PROVISIONED"))
                        return true;
        }
        return false;
}

static int bedrock_regions_model(const char *id, json_t *m, const AdapterOptions *opts,
                                 ObservationList *out, AdapterError *err, uint64_t *seen)
{
        json_t *types, *regions, *v;
        const char *region;
        Observation *o;
        size_t i;
        int r;

        if (strlen(id) == 0 || strlen(id) > ADAPTER_MAX_ID_LEN || !json_is_object(m))
                return 0;
        r = adapter_add_observation(out, opts, err, &o);
        if (r < 0)
                return r;
        o->provider = xstrdup(opts->provider ? opts->provider : BEDROCK_REGIONS_DEFAULT_PROVIDER);
        o->model = xstrdup(id);
        o->vendor = xstrdup(opts->vendor);
        o->lifecycle = lifecycle_from_string(
            adapter_json_field_string(m, bedrock_regions_fields, BEDROCK_REGIONS_F_LIFECYCLE,
                                      BEDROCK_REGIONS_MAX_TEXT, seen));

        types =
            adapter_json_field(m, bedrock_regions_fields, BEDROCK_REGIONS_F_INFERENCE_TYPES, seen);
        regions = adapter_json_field(m, bedrock_regions_fields, BEDROCK_REGIONS_F_REGIONS, seen);
        if (json_is_object(types)) {
                json_object_foreach(types, region, v)
                {
                        if (bedrock_regions_region_ok(region) && bedrock_regions_callable(v))
                                observation_add_region(o, region);
                }
                /* Listed, but callable nowhere: only provisioned throughput, or an empty
                 * type list. The list says so positively. */
                if (o->n_regions == 0)
                        o->available = false;
        } else if (json_is_array(regions)) {
                /* Without the per-region types, regions[] is where the model was listed. */
                json_array_foreach(regions, i, v)
                {
                        const char *s = adapter_json_string(v, 1, BEDROCK_REGIONS_MAX_REGION);

                        if (s && bedrock_regions_region_ok(s))
                                observation_add_region(o, s);
                }
        }
        if (o->lifecycle == LIFECYCLE_RETIRED)
                o->available = false;
        return 0;
}

int adapter_bedrock_regions_parse(const char *data, size_t len, const AdapterOptions *opts,
                                  ObservationList *out, AdapterError *err)
{
        _cleanup_(adapter_json_decrefp) json_t *root = NULL;
        uint64_t seen = 0;
        const char *id;
        json_t *m;
        int r;

        r = adapter_json_load(data, len, ADAPTER_JSON_INT_AS_REAL | ADAPTER_JSON_DEPTH_EBADMSG,
                              &root, err);
        if (r < 0)
                return r;
        if (!json_is_object(root))
                return adapter_error(err, 0, BEDROCK_REGIONS_SHAPE_ERROR);
        json_object_foreach(root, id, m)
        {
                r = bedrock_regions_model(id, m, opts, out, err, &seen);
                if (r < 0)
                        return r;
        }
        /* Models that all lack both region fields mean the layout moved, not "no regions". */
        if (json_object_size(root) > 0 &&
            !(seen & ((UINT64_C(1) << BEDROCK_REGIONS_F_INFERENCE_TYPES) |
                      (UINT64_C(1) << BEDROCK_REGIONS_F_REGIONS))))
                return adapter_error(err, 0, "no model has \"inference_types\" or \"regions\"");
        out->fingerprint = adapter_fingerprint_fields(
            "bedrock-api-regions:object", bedrock_regions_fields, _BEDROCK_REGIONS_F_MAX, seen);
        return 0;
}
