/* LiteLLM model_prices_and_context_window.json: an object keyed by model id whose
 * values carry litellm_provider, mode, per-token prices and optional deprecation
 * dates and regions. See docs/adapters-catalogues.md for the mapping. */
#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

/* Fields whose presence makes up the structure fingerprint, sorted by name. Rare
 * optional fields (deprecation_date, supported_regions) are read but left out:
 * whether any entry carries them depends on content, not on layout. */
enum {
        LITELLM_F_INPUT,
        LITELLM_F_PROVIDER,
        LITELLM_F_MODE,
        LITELLM_F_OUTPUT,
        _LITELLM_F_MAX,
};

static const char *const litellm_fields[_LITELLM_F_MAX] = {
    [LITELLM_F_INPUT] = "input_cost_per_token",
    [LITELLM_F_PROVIDER] = "litellm_provider",
    [LITELLM_F_MODE] = "mode",
    [LITELLM_F_OUTPUT] = "output_cost_per_token",
};

/* Language models, however they are called. LiteLLM moved gpt-realtime and the
 * gpt-4o-realtime previews from "chat" to "realtime" in 2026: left out, they read as Azure
 * dropping them (Azure's own catalog still lists them as generally available). */
static bool litellm_text_mode(const char *mode)
{
        static const char *const modes[] = {"chat", "completion", "responses", "realtime"};

        if (!mode)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(modes); i++)
                if (streq(mode, modes[i]))
                        return true;
        return false;
}

/* "us-east-1", "us-gov-west-1", "ap-southeast-3": two letters, optional "-gov",
 * a word, a number. */
static bool litellm_is_aws_region(const char *s, size_t n)
{
        size_t i = 0, start;

        if (n < 6 || n > 32)
                return false;
        if (!(s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z' && s[2] == '-'))
                return false;
        i = 3;
        if (n > 7 && strncmp(s + i, "gov-", 4) == 0)
                i += 4;
        start = i;
        while (i < n && s[i] >= 'a' && s[i] <= 'z')
                i++;
        if (i == start || i >= n || s[i] != '-')
                return false;
        start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
        return i > start && i == n;
}

/* The key itself can name where the model runs: "bedrock/us-gov-east-1/<id>" and
 * "azure/eu/<id>" are priced separately from the unqualified id. */
static void litellm_key_region(Observation *o, const char *key)
{
        static const char *const geos[] = {"eu", "us", "global"};
        const char *seg, *end;
        bool aws;
        size_t n;

        seg = startswith(key, "bedrock/");
        aws = seg;
        if (!seg)
                seg = startswith(key, "azure/");
        if (!seg)
                seg = startswith(key, "azure_ai/");
        if (!seg)
                return;
        end = strchr(seg, '/');
        if (!end || end[1] == '\0')
                return;
        n = (size_t)(end - seg);

        if (aws) {
                if (litellm_is_aws_region(seg, n)) {
                        _cleanup_free_ char *r = xstrndup(seg, n);
                        observation_add_region(o, r);
                }
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(geos); i++)
                if (strlen(geos[i]) == n && strncmp(seg, geos[i], n) == 0)
                        observation_add_region(o, geos[i]);
}

static int litellm_add_entry(const char *key, json_t *entry, const AdapterOptions *opts,
                             ObservationList *out, uint64_t *present, AdapterError *err)
{
        json_t *provider_v, *mode_v, *in_v, *out_v, *regions;
        const char *provider, *mode = NULL;
        Observation *o;
        int64_t eol = 0;
        int r;

        provider_v = adapter_json_field(entry, litellm_fields, LITELLM_F_PROVIDER, present);
        mode_v = adapter_json_field(entry, litellm_fields, LITELLM_F_MODE, present);
        in_v = adapter_json_field(entry, litellm_fields, LITELLM_F_INPUT, present);
        out_v = adapter_json_field(entry, litellm_fields, LITELLM_F_OUTPUT, present);

        /* Without a provider the entry names nothing callable (the 2026 files carry a
         * "fallback_generalizations" rule block at top level). */
        provider = adapter_json_string(provider_v, 1, ADAPTER_MAX_ID_LEN);
        if (!provider)
                return 0;
        if (mode_v && !json_is_null(mode_v)) {
                mode = json_string_value(mode_v);
                if (!mode)
                        return 0;
        }
        if (!litellm_text_mode(mode))
                return 0;

        r = adapter_add_observation(out, opts, err, &o);
        if (r < 0)
                return r;

        o->provider = xstrdup(provider);
        o->model = xstrdup(key);
        o->vendor = xstrdup(opts->vendor);
        o->price_in = adapter_json_price(in_v, ADAPTER_PRICE_PER_TOKEN);
        o->price_out = adapter_json_price(out_v, ADAPTER_PRICE_PER_TOKEN);

        if (adapter_parse_date(json_string_value(json_object_get(entry, "deprecation_date")),
                               ADAPTER_DATE_FROM_EPOCH, &eol) >= 0) {
                o->eol = eol;
                o->lifecycle = LIFECYCLE_DEPRECATED;
        }

        litellm_key_region(o, key);
        regions = json_object_get(entry, "supported_regions");
        for (size_t i = 0; i < json_array_size(regions) && i < ADAPTER_MAX_REGIONS; i++)
                observation_add_region(
                    o, adapter_json_string(json_array_get(regions, i), 0, ADAPTER_MAX_ID_LEN));
        return 0;
}

int adapter_litellm_parse(const char *data, size_t len, const AdapterOptions *opts,
                          ObservationList *out, AdapterError *err)
{
        static const AdapterOptions defaults = {0};
        _cleanup_(adapter_json_decrefp) json_t *root = NULL;
        uint64_t present = 0;
        size_t entries = 0;
        int r;

        if (!opts)
                opts = &defaults;
        r = adapter_json_load(data, len, ADAPTER_JSON_INT_AS_REAL, &root, err);
        if (r < 0)
                return r;
        if (!json_is_object(root))
                return adapter_error(err, 0, "top level is not an object keyed by model id");

        for (void *it = json_object_iter(root); it; it = json_object_iter_next(root, it)) {
                const char *key = json_object_iter_key(it);
                json_t *entry = json_object_iter_value(it);

                if (!json_is_object(entry) || streq(key, "sample_spec"))
                        continue;
                entries++;
                if (!*key || strlen(key) > ADAPTER_MAX_ID_LEN)
                        continue;
                r = litellm_add_entry(key, entry, opts, out, &present, err);
                if (r < 0)
                        return r;
        }

        /* Entries that all lost litellm_provider (or a new wrapper object around them)
         * mean the layout moved: that must not read as "every model is gone". */
        if (entries > 0 && !(present & (UINT64_C(1) << LITELLM_F_PROVIDER)))
                return adapter_error(err, 0, "no entry has a litellm_provider field");

        out->fingerprint = adapter_fingerprint_fields("litellm:object-of-objects", litellm_fields,
                                                      _LITELLM_F_MAX, present);
        return 0;
}
