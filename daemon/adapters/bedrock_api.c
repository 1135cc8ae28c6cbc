/* bedrock-api: a ListFoundationModels ({"modelSummaries":[...]}) or ListInferenceProfiles
 * ({"inferenceProfileSummaries":[...]}) response, as the API or `aws bedrock` prints it,
 * told apart by the top-level key. See docs/adapters-clouds.md and
 * docs/adapters-official.md (endpoint, paging). */
#include <errno.h>
#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define BEDROCK_API_MAX_MEMBERS      256
#define BEDROCK_API_MAX_REGION       64
#define BEDROCK_API_MAX_TEXT         1024
#define BEDROCK_API_MAX_ARN          2048
#define BEDROCK_API_DEFAULT_PROVIDER "bedrock"
#define BEDROCK_API_SHAPE_ERROR                                                                    \
        "expected an object with a \"modelSummaries\" or \"inferenceProfileSummaries\" array"

/* Field names the adapter relies on, sorted: the structure fingerprint hashes the
 * ones present, so a renamed field moves it while a new model does not. */
enum {
        BEDROCK_API_F_PROFILE_ID,
        BEDROCK_API_F_PROFILE_NAME,
        BEDROCK_API_F_PROFILE_SUMMARIES,
        BEDROCK_API_F_MODEL_ARN,
        BEDROCK_API_F_MODEL_ID,
        BEDROCK_API_F_MODEL_LIFECYCLE,
        BEDROCK_API_F_MODEL_NAME,
        BEDROCK_API_F_MODEL_SUMMARIES,
        BEDROCK_API_F_MODELS,
        BEDROCK_API_F_PROVIDER_NAME,
        BEDROCK_API_F_STATUS,
        BEDROCK_API_F_TYPE,
        _BEDROCK_API_F_MAX,
};

static const char *const bedrock_api_fields[_BEDROCK_API_F_MAX] = {
    [BEDROCK_API_F_PROFILE_ID] = "inferenceProfileId",
    [BEDROCK_API_F_PROFILE_NAME] = "inferenceProfileName",
    [BEDROCK_API_F_PROFILE_SUMMARIES] = "inferenceProfileSummaries",
    [BEDROCK_API_F_MODEL_ARN] = "modelArn",
    [BEDROCK_API_F_MODEL_ID] = "modelId",
    [BEDROCK_API_F_MODEL_LIFECYCLE] = "modelLifecycle",
    [BEDROCK_API_F_MODEL_NAME] = "modelName",
    [BEDROCK_API_F_MODEL_SUMMARIES] = "modelSummaries",
    [BEDROCK_API_F_MODELS] = "models",
    [BEDROCK_API_F_PROVIDER_NAME] = "providerName",
    [BEDROCK_API_F_STATUS] = "status",
    [BEDROCK_API_F_TYPE] = "type",
};

static json_t *bedrock_api_get(json_t *obj, int field, uint64_t *seen)
{
        return adapter_json_field(obj, bedrock_api_fields, (unsigned)field, seen);
}

/* The string at field if it is one of 1..max bytes, else NULL. */
static const char *bedrock_api_str(json_t *obj, int field, size_t max, uint64_t *seen)
{
        return adapter_json_field_string(obj, bedrock_api_fields, (unsigned)field, max, seen);
}

/* Region field of "arn:PARTITION:bedrock:REGION:ACCOUNT:RESOURCE" into buf (may be empty). */
static int bedrock_api_arn_region(const char *arn, char *buf, size_t size)
{
        const char *p = startswith(arn, "arn:"), *end;
        size_t n;

        if (!p)
                return -EINVAL;
        p = strchr(p, ':');
        if (!p || !startswith(p + 1, "bedrock:"))
                return -EINVAL;
        p += strlen(":bedrock:");
        end = strchr(p, ':');
        if (!end)
                return -EINVAL;
        n = (size_t)(end - p);
        if (n >= size)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-'))
                        return -EINVAL;
        memcpy(buf, p, n);
        buf[n] = '\0';
        return 0;
}

static void bedrock_api_add_arn_region(Observation *o, const char *arn)
{
        char region[BEDROCK_API_MAX_REGION + 1];

        /* A global profile lists "arn:aws:bedrock:::foundation-model/..." (no region):
         * the other members name the regions, so the empty one adds nothing. */
        if (arn && bedrock_api_arn_region(arn, region, sizeof(region)) >= 0)
                observation_add_region(o, region);
}

static int bedrock_api_new(ObservationList *out, const AdapterOptions *opts, const char *model,
                           AdapterError *err, Observation **ret)
{
        Observation *o;
        int r;

        r = adapter_add_observation(out, opts, err, &o);
        if (r < 0)
                return r;
        o->provider = xstrdup(opts->provider ? opts->provider : BEDROCK_API_DEFAULT_PROVIDER);
        o->model = xstrdup(model);
        *ret = o;
        return 0;
}

static int bedrock_api_foundation_model(json_t *m, const AdapterOptions *opts, ObservationList *out,
                                        AdapterError *err, uint64_t *seen)
{
        const char *id, *vendor;
        json_t *life;
        Observation *o;
        int r;

        id = bedrock_api_str(m, BEDROCK_API_F_MODEL_ID, ADAPTER_MAX_ID_LEN, seen);
        if (!id)
                return 0;
        r = bedrock_api_new(out, opts, id, err, &o);
        if (r < 0)
                return r;
        vendor = bedrock_api_str(m, BEDROCK_API_F_PROVIDER_NAME, BEDROCK_API_MAX_TEXT, seen);
        o->vendor = xstrdup(vendor ? vendor : opts->vendor);
        o->name = xstrdup(bedrock_api_str(m, BEDROCK_API_F_MODEL_NAME, BEDROCK_API_MAX_TEXT, seen));
        bedrock_api_add_arn_region(
            o, bedrock_api_str(m, BEDROCK_API_F_MODEL_ARN, BEDROCK_API_MAX_ARN, seen));
        /* The listing is per region: an entry whose ARN names none was listed by the
         * region the source fetched it from. */
        if (o->n_regions == 0)
                observation_add_region(o, opts->region);

        life = bedrock_api_get(m, BEDROCK_API_F_MODEL_LIFECYCLE, seen);
        if (json_is_object(life)) {
                json_t *eol = json_object_get(life, "endOfLifeTime");

                o->lifecycle = lifecycle_from_string(
                    bedrock_api_str(life, BEDROCK_API_F_STATUS, BEDROCK_API_MAX_TEXT, seen));
                /* Optional in the API; its presence depends on the model, so it stays out
                 * of the fingerprint. An unreadable date leaves the end of life unknown.
                 * The CLI prints an ISO 8601 string; a JSON protocol may send seconds
                 * since the epoch: both are read, as the day they fall on. */
                if (json_is_number(eol)) {
                        double t = json_number_value(eol);

                        o->eol = t > 0 && t < 253402300800.0 /* 10000-01-01 */
                                     ? (int64_t)(t / 86400) * 86400
                                     : 0;
                } else if (adapter_parse_date(adapter_json_string(eol, 0, BEDROCK_API_MAX_TEXT),
                                              ADAPTER_DATE_TIME_SUFFIX | ADAPTER_DATE_FROM_EPOCH,
                                              &o->eol) < 0)
                        o->eol = 0;
        }
        if (o->lifecycle == LIFECYCLE_RETIRED)
                o->available = false;
        return 0;
}

static int bedrock_api_profile(json_t *p, const AdapterOptions *opts, ObservationList *out,
                               AdapterError *err, uint64_t *seen)
{
        const char *id, *type;
        json_t *members, *member;
        Observation *o;
        size_t i;
        int r;

        /* Application profiles are account-local copies, not part of the catalogue. */
        type = bedrock_api_str(p, BEDROCK_API_F_TYPE, BEDROCK_API_MAX_TEXT, seen);
        if (type && !streq(type, "SYSTEM_DEFINED"))
                return 0;
        id = bedrock_api_str(p, BEDROCK_API_F_PROFILE_ID, ADAPTER_MAX_ID_LEN, seen);
        if (!id)
                return 0;
        r = bedrock_api_new(out, opts, id, err, &o);
        if (r < 0)
                return r;
        o->vendor = xstrdup(opts->vendor);
        o->name =
            xstrdup(bedrock_api_str(p, BEDROCK_API_F_PROFILE_NAME, BEDROCK_API_MAX_TEXT, seen));
        o->lifecycle = lifecycle_from_string(
            bedrock_api_str(p, BEDROCK_API_F_STATUS, BEDROCK_API_MAX_TEXT, seen));

        members = bedrock_api_get(p, BEDROCK_API_F_MODELS, seen);
        if (json_is_array(members))
                json_array_foreach(members, i, member)
                {
                        if (i >= BEDROCK_API_MAX_MEMBERS)
                                break;
                        if (!json_is_object(member))
                                continue;
                        bedrock_api_add_arn_region(o,
                                                   bedrock_api_str(member, BEDROCK_API_F_MODEL_ARN,
                                                                   BEDROCK_API_MAX_ARN, seen));
                }
        if (o->n_regions == 0)
                observation_add_region(o, opts->region);
        if (o->lifecycle == LIFECYCLE_RETIRED)
                o->available = false;
        return 0;
}

int adapter_bedrock_api_parse(const char *data, size_t len, const AdapterOptions *opts,
                              ObservationList *out, AdapterError *err)
{
        _cleanup_(adapter_json_decrefp) json_t *root = NULL;
        json_t *list, *item;
        bool profiles = false;
        uint64_t seen = 0;
        size_t i;
        int r;

        r = adapter_json_load(data, len, ADAPTER_JSON_DEPTH_EBADMSG, &root, err);
        if (r < 0)
                return r;
        if (!json_is_object(root))
                return adapter_error(err, 0, BEDROCK_API_SHAPE_ERROR);
        list = bedrock_api_get(root, BEDROCK_API_F_MODEL_SUMMARIES, &seen);
        if (!list) {
                list = bedrock_api_get(root, BEDROCK_API_F_PROFILE_SUMMARIES, &seen);
                profiles = true;
        }
        if (!json_is_array(list))
                return adapter_error(err, 0, BEDROCK_API_SHAPE_ERROR);

        json_array_foreach(list, i, item)
        {
                if (!json_is_object(item))
                        continue;
                r = profiles ? bedrock_api_profile(item, opts, out, err, &seen)
                             : bedrock_api_foundation_model(item, opts, out, err, &seen);
                if (r < 0)
                        return r;
        }
        /* Entries that all lack the id field mean the layout moved, not "no models". */
        if (json_array_size(list) > 0 &&
            !(seen &
              (UINT64_C(1) << (profiles ? BEDROCK_API_F_PROFILE_ID : BEDROCK_API_F_MODEL_ID))))
                return adapter_error(err, 0, "no entry has a \"%s\"",
                                     bedrock_api_fields[profiles ? BEDROCK_API_F_PROFILE_ID
                                                                 : BEDROCK_API_F_MODEL_ID]);
        out->fingerprint = adapter_fingerprint_fields("bedrock-api:object", bedrock_api_fields,
                                                      _BEDROCK_API_F_MAX, seen);
        return 0;
}

int adapter_bedrock_api_next_page(const char *data, size_t len, const char *url, const char *body,
                                  char **ret_url, char **ret_body, AdapterError *err)
{
        /* ListInferenceProfiles pages with nextToken (maxResults at most 1000);
         * ListFoundationModels answers in one page and carries none. */
        if (ret_body)
                *ret_body = NULL;
        return adapter_next_page_query(data, len, url, "nextToken", "nextToken", ret_url, err);
}
