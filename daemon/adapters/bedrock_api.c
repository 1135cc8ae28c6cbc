/* bedrock-api: raw `aws bedrock list-foundation-models` ({"modelSummaries":[...]}) or
 * `aws bedrock list-inference-profiles` ({"inferenceProfileSummaries":[...]}) output, told
 * apart by the top-level key. See docs/adapters-clouds.md. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>

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

static void bedrock_api_decrefp(json_t **p)
{
        json_decref(*p);
}

/* Reject deep nesting before jansson builds the tree, so the error carries an offset. */
static int bedrock_api_check_depth(const char *data, size_t len, AdapterError *err)
{
        unsigned depth = 0;
        bool in_str = false, esc = false;

        for (size_t i = 0; i < len; i++) {
                char c = data[i];

                if (in_str) {
                        if (esc)
                                esc = false;
                        else if (c == '\\')
                                esc = true;
                        else if (c == '"')
                                in_str = false;
                } else if (c == '"') {
                        in_str = true;
                } else if (c == '[' || c == '{') {
                        if (++depth > ADAPTER_MAX_DEPTH)
                                return adapter_error(err, i, "JSON nested deeper than %d levels",
                                                     ADAPTER_MAX_DEPTH);
                } else if ((c == ']' || c == '}') && depth > 0) {
                        depth--;
                }
        }
        return 0;
}

static json_t *bedrock_api_get(json_t *obj, int field, uint32_t *seen)
{
        json_t *v = json_object_get(obj, bedrock_api_fields[field]);

        if (v)
                *seen |= UINT32_C(1) << field;
        return v;
}

/* The string at field if it is one and at most max bytes long, else NULL. */
static const char *bedrock_api_str(json_t *obj, int field, size_t max, uint32_t *seen)
{
        json_t *v = bedrock_api_get(obj, field, seen);

        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
                return NULL;
        return json_string_value(v);
}

static bool bedrock_api_digits(const char *s, int n, int *ret)
{
        int v = 0;

        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return true;
}

/* "YYYY-MM-DD[T...]" to seconds since the epoch at 00:00 UTC, without locale or clock. */
static int bedrock_api_date(const char *s, int64_t *ret)
{
        static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int y, m, d;
        int64_t yy, era, yoe, doy, doe, days;

        if (!s || strlen(s) < 10 || s[4] != '-' || s[7] != '-' || !bedrock_api_digits(s, 4, &y) ||
            !bedrock_api_digits(s + 5, 2, &m) || !bedrock_api_digits(s + 8, 2, &d))
                return -EINVAL;
        if (s[10] != '\0' && s[10] != 'T' && s[10] != ' ')
                return -EINVAL;
        if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
                return -EINVAL;
        if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
                return -EINVAL;
        /* Days from the civil date (proleptic Gregorian, eras of 400 years). */
        yy = m <= 2 ? y - 1 : y;
        era = (yy >= 0 ? yy : yy - 399) / 400;
        yoe = yy - era * 400;
        doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        days = era * 146097 + doe - 719468;
        *ret = days * 86400;
        return 0;
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

        if (observation_list_add(out, opts->max_rows, &o) < 0)
                return adapter_error(err, 0, "more than %zu rows", opts->max_rows), -E2BIG;
        o->provider = xstrdup(opts->provider ? opts->provider : BEDROCK_API_DEFAULT_PROVIDER);
        o->model = xstrdup(model);
        *ret = o;
        return 0;
}

static int bedrock_api_foundation_model(json_t *m, const AdapterOptions *opts, ObservationList *out,
                                        AdapterError *err, uint32_t *seen)
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

        life = bedrock_api_get(m, BEDROCK_API_F_MODEL_LIFECYCLE, seen);
        if (json_is_object(life)) {
                json_t *eol = json_object_get(life, "endOfLifeTime");

                o->lifecycle = lifecycle_from_string(
                    bedrock_api_str(life, BEDROCK_API_F_STATUS, BEDROCK_API_MAX_TEXT, seen));
                /* Optional in the API; its presence depends on the model, so it stays out
                 * of the fingerprint. */
                if (json_is_string(eol) && json_string_length(eol) <= BEDROCK_API_MAX_TEXT &&
                    bedrock_api_date(json_string_value(eol), &o->eol) < 0)
                        o->eol = 0;
        }
        if (o->lifecycle == LIFECYCLE_RETIRED)
                o->available = false;
        return 0;
}

static int bedrock_api_profile(json_t *p, const AdapterOptions *opts, ObservationList *out,
                               AdapterError *err, uint32_t *seen)
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
        if (o->lifecycle == LIFECYCLE_RETIRED)
                o->available = false;
        return 0;
}

static uint64_t bedrock_api_fingerprint(uint32_t seen)
{
        static const char shape[] = "bedrock-api:object";
        uint64_t h = util_fnv1a(UTIL_FNV_INIT, shape, sizeof(shape));

        for (int f = 0; f < _BEDROCK_API_F_MAX; f++)
                if (seen & (UINT32_C(1) << f))
                        h = util_fnv1a(h, bedrock_api_fields[f], strlen(bedrock_api_fields[f]) + 1);
        return h;
}

int adapter_bedrock_api_parse(const char *data, size_t len, const AdapterOptions *opts,
                              ObservationList *out, AdapterError *err)
{
        _cleanup_(bedrock_api_decrefp) json_t *root = NULL;
        json_error_t jerr;
        json_t *list, *item;
        bool profiles = false;
        uint32_t seen = 0;
        size_t i;
        int r;

        r = bedrock_api_check_depth(data, len, err);
        if (r < 0)
                return r;
        root = json_loadb(data, len, 0, &jerr);
        if (!root) {
                r = adapter_error(err, (size_t)jerr.position, "invalid JSON: %s", jerr.text);
                err->line = jerr.line > 0 ? (unsigned)jerr.line : 0;
                err->col = jerr.column > 0 ? (unsigned)jerr.column : 0;
                return r;
        }
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
              (UINT32_C(1) << (profiles ? BEDROCK_API_F_PROFILE_ID : BEDROCK_API_F_MODEL_ID))))
                return adapter_error(err, 0, "no entry has a \"%s\"",
                                     bedrock_api_fields[profiles ? BEDROCK_API_F_PROFILE_ID
                                                                 : BEDROCK_API_F_MODEL_ID]);
        out->fingerprint = bedrock_api_fingerprint(seen);
        return 0;
}
