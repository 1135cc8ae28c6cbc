/* bedrock-model-cards: the nightly scrape of the AWS Bedrock model cards,
 * {source, generatedAt, modelCount, models:[card...]}. See docs/adapters-clouds.md. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>

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

static void bedrock_cards_decrefp(json_t **p)
{
        json_decref(*p);
}

/* Reject deep nesting before jansson builds the tree, so the error carries an offset. */
static int bedrock_cards_check_depth(const char *data, size_t len, AdapterError *err)
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

/* The string at key if it is one and at most max bytes long, else NULL; marks the field seen. */
static const char *bedrock_cards_str(json_t *obj, int field, size_t max, uint32_t *seen)
{
        json_t *v = json_object_get(obj, bedrock_cards_fields[field]);

        if (!v)
                return NULL;
        *seen |= UINT32_C(1) << field;
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
                return NULL;
        return json_string_value(v);
}

static bool bedrock_cards_flag(json_t *obj, int field, uint32_t *seen)
{
        json_t *v = json_object_get(obj, bedrock_cards_fields[field]);

        if (v)
                *seen |= UINT32_C(1) << field;
        return json_is_true(v);
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
static void bedrock_cards_regions(json_t *regions, Observation *o, uint32_t *seen)
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
static size_t bedrock_cards_ids(json_t *card, const char **ids, uint32_t *seen)
{
        json_t *access =
            json_object_get(card, bedrock_cards_fields[BEDROCK_CARDS_F_PROGRAMMATIC_ACCESS]);
        json_t *entry;
        size_t i, n = 0;

        if (!access)
                return 0;
        *seen |= UINT32_C(1) << BEDROCK_CARDS_F_PROGRAMMATIC_ACCESS;
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
                              AdapterError *err, uint32_t *seen)
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
        regions = json_object_get(card, bedrock_cards_fields[BEDROCK_CARDS_F_REGIONS]);
        if (regions)
                *seen |= UINT32_C(1) << BEDROCK_CARDS_F_REGIONS;

        for (size_t k = 0; k < n_ids; k++) {
                Observation *o;

                if (observation_list_add(out, opts->max_rows, &o) < 0)
                        return adapter_error(err, 0, "more than %zu rows", opts->max_rows), -E2BIG;
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

                        for (size_t r = 0; r < f->n_regions; r++)
                                observation_add_region(o, f->regions[r]);
                }
                /* A card that names regions but none callable is a positive "not offered". */
                if ((json_is_object(regions) && o->n_regions == 0) ||
                    o->lifecycle == LIFECYCLE_RETIRED)
                        o->available = false;
        }
        return 0;
}

static uint64_t bedrock_cards_fingerprint(uint32_t seen)
{
        static const char shape[] = "bedrock-model-cards:object";
        uint64_t h = util_fnv1a(UTIL_FNV_INIT, shape, sizeof(shape));

        for (int f = 0; f < _BEDROCK_CARDS_F_MAX; f++)
                if (seen & (UINT32_C(1) << f))
                        h = util_fnv1a(h, bedrock_cards_fields[f],
                                       strlen(bedrock_cards_fields[f]) + 1);
        return h;
}

int adapter_bedrock_cards_parse(const char *data, size_t len, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err)
{
        _cleanup_(bedrock_cards_decrefp) json_t *root = NULL;
        json_error_t jerr;
        json_t *models, *count, *card;
        uint32_t seen = 0;
        size_t i;
        int r;

        r = bedrock_cards_check_depth(data, len, err);
        if (r < 0)
                return r;
        root = json_loadb(data, len, 0, &jerr);
        if (!root) {
                r = adapter_error(err, (size_t)jerr.position, "invalid JSON: %s", jerr.text);
                err->line = jerr.line > 0 ? (unsigned)jerr.line : 0;
                err->col = jerr.column > 0 ? (unsigned)jerr.column : 0;
                return r;
        }
        models = json_object_get(root, "models");
        if (!json_is_object(root) || !json_is_array(models))
                return adapter_error(err, 0, "expected an object with a \"models\" array");
        seen |= UINT32_C(1) << BEDROCK_CARDS_F_MODELS;

        /* A short models array under a larger count is a truncated scrape, not removals. */
        count = json_object_get(root, "modelCount");
        if (count) {
                seen |= UINT32_C(1) << BEDROCK_CARDS_F_MODEL_COUNT;
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
        if (json_array_size(models) > 0 && !(seen & (UINT32_C(1) << BEDROCK_CARDS_F_MODEL_ID)))
                return adapter_error(err, 0, "no card has a programmaticAccess modelId");
        out->fingerprint = bedrock_cards_fingerprint(seen);
        return 0;
}
