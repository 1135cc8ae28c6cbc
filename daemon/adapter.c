#include "lockwatch/adapter.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "lockwatch/util.h"

static const Adapter adapters[] = {
        {"litellm", "LiteLLM model_prices_and_context_window.json", false, false,
         adapter_litellm_parse},
        {"models-dev", "models.dev api.json (providers -> models)", false, false,
         adapter_models_dev_parse},
        {"openrouter", "OpenRouter GET /api/v1/models", false, false, adapter_openrouter_parse},
        {"bedrock-model-cards", "scrape of the AWS Bedrock model cards", false, false,
         adapter_bedrock_cards_parse},
        {"bedrock-api", "aws bedrock list-foundation-models / list-inference-profiles", false,
         false, adapter_bedrock_api_parse},
        {"azure-models", "az cognitiveservices model list", false, false,
         adapter_azure_models_parse},
        {"html-table", "an HTML table chosen by its header names", true, true,
         adapter_html_table_parse},
        {"markdown-table", "a Markdown pipe table chosen by its header names", true, true,
         adapter_markdown_table_parse},
};

static const Adapter *const adapter_table[] = {
        &adapters[0], &adapters[1], &adapters[2], &adapters[3],
        &adapters[4], &adapters[5], &adapters[6], &adapters[7], NULL,
};

const Adapter *adapter_find(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(adapters); i++)
                if (streq(adapters[i].name, name))
                        return &adapters[i];
        return NULL;
}

const Adapter *const *adapter_all(void)
{
        return adapter_table;
}

int adapter_parse(const Adapter *a, const char *data, size_t len, const AdapterOptions *opts,
                  ObservationList *out, AdapterError *err)
{
        AdapterOptions o = opts ? *opts : (AdapterOptions){0};
        int r;

        if (o.max_bytes == 0)
                o.max_bytes = ADAPTER_MAX_BYTES_DEFAULT;
        if (o.max_rows == 0)
                o.max_rows = ADAPTER_MAX_ROWS_DEFAULT;
        memset(err, 0, sizeof(*err));
        observation_list_clear(out);

        if (len > o.max_bytes)
                return adapter_error(err, 0, "input of %zu bytes exceeds the cap of %zu", len,
                                     o.max_bytes),
                       -EFBIG;
        if (a->needs_provider && !o.provider)
                return adapter_error(err, 0, "format %s needs a provider", a->name), -EINVAL;
        if (a->needs_columns && !o.columns)
                return adapter_error(err, 0, "format %s needs columns", a->name), -EINVAL;

        r = a->parse(data, len, &o, out, err);
        if (r < 0) {
                /* A failed parse yields nothing: half a list must never be merged. */
                observation_list_clear(out);
                if (err->message[0] == '\0')
                        snprintf(err->message, sizeof(err->message), "%s", strerror(-r));
                return r;
        }
        return 0;
}

int observation_list_add(ObservationList *l, size_t max_rows, Observation **ret)
{
        if (max_rows && l->n >= max_rows)
                return -E2BIG;
        util_grow((void **)&l->items, &l->cap, l->n + 1, sizeof(Observation));
        Observation *o = &l->items[l->n++];
        *o = (Observation){
                .available = true,
                .price_in = NAN,
                .price_out = NAN,
        };
        *ret = o;
        return 0;
}

void observation_add_region(Observation *o, const char *region)
{
        if (!region || !*region || o->n_regions >= ADAPTER_MAX_REGIONS)
                return;
        for (size_t i = 0; i < o->n_regions; i++)
                if (streq(o->regions[i], region))
                        return;
        o->regions = xreallocarray(o->regions, o->n_regions + 1, sizeof(char *));
        o->regions[o->n_regions++] = xstrdup(region);
}

void observation_list_clear(ObservationList *l)
{
        for (size_t i = 0; i < l->n; i++) {
                Observation *o = &l->items[i];
                free(o->provider);
                free(o->model);
                free(o->vendor);
                free(o->name);
                for (size_t j = 0; j < o->n_regions; j++)
                        free(o->regions[j]);
                free(o->regions);
        }
        free(l->items);
        *l = (ObservationList){0};
}

int adapter_error(AdapterError *err, size_t offset, const char *fmt, ...)
{
        va_list ap;

        err->offset = offset;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

static const char *const lifecycle_names[_LIFECYCLE_MAX] = {
        [LIFECYCLE_UNKNOWN] = "unknown",       [LIFECYCLE_ACTIVE] = "active",
        [LIFECYCLE_PREVIEW] = "preview",       [LIFECYCLE_LEGACY] = "legacy",
        [LIFECYCLE_DEPRECATED] = "deprecated", [LIFECYCLE_RETIRED] = "retired",
};

const char *lifecycle_name(Lifecycle l)
{
        if (l < 0 || l >= _LIFECYCLE_MAX)
                return "unknown";
        return lifecycle_names[l];
}

Lifecycle lifecycle_from_string(const char *s)
{
        static const struct {
                const char *word;
                Lifecycle l;
        } words[] = {
                {"active", LIFECYCLE_ACTIVE},         {"ga", LIFECYCLE_ACTIVE},
                {"generallyavailable", LIFECYCLE_ACTIVE}, {"stable", LIFECYCLE_ACTIVE},
                {"preview", LIFECYCLE_PREVIEW},       {"beta", LIFECYCLE_PREVIEW},
                {"legacy", LIFECYCLE_LEGACY},         {"deprecated", LIFECYCLE_DEPRECATED},
                {"deprecating", LIFECYCLE_DEPRECATED}, {"retired", LIFECYCLE_RETIRED},
                {"retiring", LIFECYCLE_DEPRECATED},   {"eol", LIFECYCLE_RETIRED},
        };

        if (!s)
                return LIFECYCLE_UNKNOWN;
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (strcasecmp(s, words[i].word) == 0)
                        return words[i].l;
        return LIFECYCLE_UNKNOWN;
}
