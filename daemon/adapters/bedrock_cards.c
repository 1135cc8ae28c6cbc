/* bedrock-model-cards: the nightly scrape of the AWS Bedrock model cards,
 * {source, generatedAt, modelCount, models:[card...]}. See docs/adapters-clouds.md. */
#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

/* A card lists one id per endpoint; more than this is not a card any more. */
#define BEDROCK_CARDS_MAX_IDS          16
#define BEDROCK_CARDS_MAX_REGION       64
#define BEDROCK_CARDS_MAX_TEXT         1024
#define BEDROCK_CARDS_DEFAULT_PROVIDER "bedrock"

/* Field names the adapter relies on, sorted: the structure fingerprint hashes the
 * ones present, so a renamed field moves it while a new model does not. */
enum {
        BEDROCK_CARDS_F_GEO,
        BEDROCK_CARDS_F_GLOBAL,
        BEDROCK_CARDS_F_IN_REGION,
        BEDROCK_CARDS_F_MODEL_COUNT,
        BEDROCK_CARDS_F_MODEL_ID,
        BEDROCK_CARDS_F_MODEL_LIFECYCLE,
        BEDROCK_CARDS_F_MODEL_NAME,
        BEDROCK_CARDS_F_MODELS,
        BEDROCK_CARDS_F_PROGRAMMATIC_ACCESS,
        BEDROCK_CARDS_F_PROVIDER,
        BEDROCK_CARDS_F_REGIONS,
        _BEDROCK_CARDS_F_MAX,
};

static const char *const bedrock_cards_fields[_BEDROCK_CARDS_F_MAX] = {
    [BEDROCK_CARDS_F_GEO] = "geo",
    [BEDROCK_CARDS_F_GLOBAL] = "global",
    [BEDROCK_CARDS_F_IN_REGION] = "inRegion",
    [BEDROCK_CARDS_F_MODEL_COUNT] = "modelCount",
    [BEDROCK_CARDS_F_MODEL_ID] = "modelId",
    [BEDROCK_CARDS_F_MODEL_LIFECYCLE] = "modelLifecycle",
    [BEDROCK_CARDS_F_MODEL_NAME] = "modelName",
    [BEDROCK_CARDS_F_MODELS] = "models",
    [BEDROCK_CARDS_F_PROGRAMMATIC_ACCESS] = "programmaticAccess",
    [BEDROCK_CARDS_F_PROVIDER] = "provider",
    [BEDROCK_CARDS_F_REGIONS] = "regions",
};

/* The string at field if it is one of 1..max bytes, else NULL; marks the field seen. */
static const char *bedrock_cards_str(json_t *obj, int field, size_t max, uint64_t *seen)
{
        return adapter_json_field_string(obj, bedrock_cards_fields, (unsigned)field, max, seen);
}

static bool bedrock_cards_flag(json_t *obj, int field, uint64_t *seen)
{
        return json_is_true(adapter_json_field(obj, bedrock_cards_fields, (unsigned)field, seen));
}

/* Cards say "Legacy (certain regions)": the leading word is the state. */
static Lifecycle bedrock_cards_lifecycle(const char *s)
{
        char word[32];
        size_t n = 0;

        if (!s)
                return LIFECYCLE_UNKNOWN;
        while (n < sizeof(word) - 1 &&
               ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z')))
                n++;
        memcpy(word, s, n);
        word[n] = '\0';
        return lifecycle_from_string(word);
}

static bool bedrock_cards_region_ok(const char *r)
{
        size_t n = strlen(r);

        if (n == 0 || n > BEDROCK_CARDS_MAX_REGION)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
                        return false;
        return true;
}

/* Every region the card marks callable by some means: in-region, geo or global profile. */
static void bedrock_cards_regions(json_t *regions, Observation *o, uint64_t *seen)
{
        const char *key;
        json_t *v;

        json_object_foreach(regions, key, v)
        {
                bool in_region, geo, global;

                if (!json_is_object(v) || !bedrock_cards_region_ok(key))
                        continue;
                in_region = bedrock_cards_flag(v, BEDROCK_CARDS_F_IN_REGION, seen);
                geo = bedrock_cards_flag(v, BEDROCK_CARDS_F_GEO, seen);
                global = bedrock_cards_flag(v, BEDROCK_CARDS_F_GLOBAL, seen);
                if (!in_region && !geo && !global)
                        continue;
                /* The scraper's region regex drops the "us-g" of GovCloud names. */
                if (startswith(key, "ov-")) {
                        _cleanup_free_ char *fixed = xasprintf("us-gov-%s", key + 3);
                        observation_add_region(o, fixed);
                } else {
                        observation_add_region(o, key);
                }
        }
}

/* Distinct base model ids of a card, one per endpoint, in card order. */
static size_t bedrock_cards_ids(json_t *card, const char **ids, uint64_t *seen)
{
        json_t *access = adapter_json_field(card, bedrock_cards_fields,
                                            BEDROCK_CARDS_F_PROGRAMMATIC_ACCESS, seen);
        json_t *entry;
        size_t i, n = 0;

        if (!json_is_array(access))
                return 0;
        json_array_foreach(access, i, entry)
        {
                const char *id;
                bool dup = false;

                if (n >= BEDROCK_CARDS_MAX_IDS)
                        break;
                if (!json_is_object(entry))
                        continue;
                id = bedrock_cards_str(entry, BEDROCK_CARDS_F_MODEL_ID, ADAPTER_MAX_ID_LEN, seen);
                if (!id)
                        continue;
                for (size_t j = 0; j < n && !dup; j++)
                        dup = streq(ids[j], id);
                if (!dup)
                        ids[n++] = id;
        }
        return n;
}

static int bedrock_cards_card(json_t *card, const AdapterOptions *opts, ObservationList *out,
                              AdapterError *err, uint64_t *seen)
{
        const char *ids[BEDROCK_CARDS_MAX_IDS];
        const char *vendor, *name, *lifecycle;
        json_t *regions;
        size_t n_ids, first = out->n;

        n_ids = bedrock_cards_ids(card, ids, seen);
        if (n_ids == 0)
                return 0;
        vendor = bedrock_cards_str(card, BEDROCK_CARDS_F_PROVIDER, BEDROCK_CARDS_MAX_TEXT, seen);
        name = bedrock_cards_str(card, BEDROCK_CARDS_F_MODEL_NAME, BEDROCK_CARDS_MAX_TEXT, seen);
        lifecycle =
            bedrock_cards_str(card, BEDROCK_CARDS_F_MODEL_LIFECYCLE, BEDROCK_CARDS_MAX_TEXT, seen);
        regions = adapter_json_field(card, bedrock_cards_fields, BEDROCK_CARDS_F_REGIONS, seen);

        for (size_t k = 0; k < n_ids; k++) {
                Observation *o;

                int r = adapter_add_observation(out, opts, err, &o);

                if (r < 0)
                        return r;
                o->provider =
                    xstrdup(opts->provider ? opts->provider : BEDROCK_CARDS_DEFAULT_PROVIDER);
                o->model = xstrdup(ids[k]);
                o->vendor = xstrdup(vendor ? vendor : opts->vendor);
                o->name = xstrdup(name);
                o->lifecycle = bedrock_cards_lifecycle(lifecycle);
                if (k == 0) {
                        if (json_is_object(regions))
                                bedrock_cards_regions(regions, o, seen);
                } else {
                        const Observation *f = &out->items[first];

                        for (size_t j = 0; j < f->n_regions; j++)
                                observation_add_region(o, f->regions[j]);
                }
                /* A card that names regions but none callable is a positive "not offered". */
                if ((json_is_object(regions) && o->n_regions == 0) ||
                    o->lifecycle == LIFECYCLE_RETIRED)
                        o->available = false;
        }
        return 0;
}

int adapter_bedrock_cards_parse(const char *data, size_t len, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err)
{
        _cleanup_(adapter_json_decrefp) json_t *root = NULL;
        json_t *models, *count, *card;
        uint64_t seen = 0;
        size_t i;
        int r;

        /* Integers stay integers: modelCount must be one. */
        r = adapter_json_load(data, len, ADAPTER_JSON_DEPTH_EBADMSG, &root, err);
        if (r < 0)
                return r;
        models = json_object_get(root, "models");
        if (!json_is_object(root) || !json_is_array(models))
                return adapter_error(err, 0, "expected an object with a \"models\" array");
        seen |= UINT64_C(1) << BEDROCK_CARDS_F_MODELS;

        /* A short models array under a larger count is a truncated scrape, not removals. */
        count = adapter_json_field(root, bedrock_cards_fields, BEDROCK_CARDS_F_MODEL_COUNT, &seen);
        if (count) {
                if (!json_is_integer(count))
                        return adapter_error(err, 0, "modelCount is not an integer");
                if (json_integer_value(count) < 0 ||
                    (uint64_t)json_integer_value(count) != json_array_size(models))
                        return adapter_error(err, 0, "modelCount says %lld, models has %zu",
                                             (long long)json_integer_value(count),
                                             json_array_size(models));
        }

        json_array_foreach(models, i, card)
        {
                if (!json_is_object(card))
                        continue;
                r = bedrock_cards_card(card, opts, out, err, &seen);
                if (r < 0)
                        return r;
        }
        /* Cards that all lack the id field mean the layout moved, not "no models". */
        if (json_array_size(models) > 0 && !(seen & (UINT64_C(1) << BEDROCK_CARDS_F_MODEL_ID)))
                return adapter_error(err, 0, "no card has a programmaticAccess modelId");
        out->fingerprint = adapter_fingerprint_fields(
            "bedrock-model-cards:object", bedrock_cards_fields, _BEDROCK_CARDS_F_MAX, seen);
        return 0;
}
