/* azure-foundry: one page of the Azure AI Foundry model catalog (POST
 * asset-gallery/v1.0/models), {"summaries":[...],"continuationToken":...}.
 * See docs/adapters-official.md. */
#include <errno.h>
#include <jansson.h>
#include <strings.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define AZURE_FOUNDRY_MAX_TEXT         1024
#define AZURE_FOUNDRY_MAX_LIST         64 /* entries read of deploymentOptions, azureOffers */
#define AZURE_FOUNDRY_DEFAULT_PROVIDER "azure_ai"
#define AZURE_FOUNDRY_TOKEN            "continuationToken"
#define AZURE_FOUNDRY_SHAPE_ERROR      "expected an object with a \"summaries\" array"

/* Field names the adapter relies on, sorted (see the structure fingerprint). */
enum {
        AZURE_FOUNDRY_F_OFFERS,
        AZURE_FOUNDRY_F_DEPLOYMENT_OPTIONS,
        AZURE_FOUNDRY_F_DEPRECATION,
        AZURE_FOUNDRY_F_DISPLAY_NAME,
        AZURE_FOUNDRY_F_RETIREMENT,
        AZURE_FOUNDRY_F_LIFECYCLE,
        AZURE_FOUNDRY_F_NAME,
        AZURE_FOUNDRY_F_PUBLISHER,
        AZURE_FOUNDRY_F_SUMMARIES,
        _AZURE_FOUNDRY_F_MAX,
};

static const char *const azure_foundry_fields[_AZURE_FOUNDRY_F_MAX] = {
    [AZURE_FOUNDRY_F_OFFERS] = "azureOffers",
    [AZURE_FOUNDRY_F_DEPLOYMENT_OPTIONS] = "deploymentOptions",
    [AZURE_FOUNDRY_F_DEPRECATION] = "deprecation",
    [AZURE_FOUNDRY_F_DISPLAY_NAME] = "displayName",
    [AZURE_FOUNDRY_F_RETIREMENT] = "inferenceRetirementDate",
    [AZURE_FOUNDRY_F_LIFECYCLE] = "lifecycle",
    [AZURE_FOUNDRY_F_NAME] = "name",
    [AZURE_FOUNDRY_F_PUBLISHER] = "publisher",
    [AZURE_FOUNDRY_F_SUMMARIES] = "summaries",
};

/* Deployment options and offers that are an API Azure runs and bills per token or per
 * provisioned unit. The others (MaaP, VM: managed compute) put the weights on the
 * customer's own virtual machines: that is hosting, not the model's API. */
static const char *const azure_foundry_api_options[] = {
    "AOAI",
    "Serverless API",
    "ServerlessMaaS",
    "UnifiedEndpointMaaS",
};
static const char *const azure_foundry_api_offers[] = {
    "standard-paygo",
    "batch-paygo",
    "PTU",
};

static json_t *azure_foundry_get(json_t *obj, int field, uint64_t *seen)
{
        return adapter_json_field(obj, azure_foundry_fields, (unsigned)field, seen);
}

static const char *azure_foundry_str(json_t *obj, int field, size_t max, uint64_t *seen)
{
        return adapter_json_field_string(obj, azure_foundry_fields, (unsigned)field, max, seen);
}

/* Whether the array list holds one of the words (compared exactly). */
static bool azure_foundry_has_any(json_t *list, const char *const *words, size_t n)
{
        json_t *v;
        size_t i;

        if (!json_is_array(list))
                return false;
        json_array_foreach(list, i, v)
        {
                const char *s = adapter_json_string(v, 1, AZURE_FOUNDRY_MAX_TEXT);

                if (i >= AZURE_FOUNDRY_MAX_LIST)
                        break;
                for (size_t k = 0; s && k < n; k++)
                        if (streq(s, words[k]))
                                return true;
        }
        return false;
}

/* The catalog writes "Generally Available", "Generally available", "Preview",
 * "Deprecated", "Retired", "Legacy": compared without case and blanks. */
static Lifecycle azure_foundry_lifecycle(const char *s)
{
        char word[64];
        size_t n = 0;

        if (!s)
                return LIFECYCLE_UNKNOWN;
        for (; *s; s++) {
                if (*s == ' ' || *s == '_' || *s == '-')
                        continue;
                if (n + 1 >= sizeof(word))
                        return LIFECYCLE_UNKNOWN;
                word[n++] = *s;
        }
        word[n] = '\0';
        return lifecycle_from_string(word);
}

static void azure_foundry_drop_last(ObservationList *l)
{
        Observation *o = &l->items[--l->n];

        free(o->provider);
        free(o->model);
        free(o->vendor);
        free(o->name);
        for (size_t i = 0; i < o->n_regions; i++)
                free(o->regions[i]);
        free(o->regions);
        *o = (Observation){0};
}

/* Order of preference when one page lists a model twice (two versions). */
static int azure_foundry_rank(const Observation *o)
{
        return o->available ? (o->lifecycle == LIFECYCLE_DEPRECATED ? 1 : 2) : 0;
}

static int azure_foundry_model(json_t *m, const AdapterOptions *opts, ObservationList *out,
                               AdapterError *err, uint64_t *seen)
{
        const char *name, *publisher;
        json_t *dep, *options, *offers;
        Observation *o;
        int r;

        name = azure_foundry_str(m, AZURE_FOUNDRY_F_NAME, ADAPTER_MAX_ID_LEN, seen);
        if (!name)
                return 0;
        r = adapter_add_observation(out, opts, err, &o);
        if (r < 0)
                return r;
        o->provider = xstrdup(opts->provider ? opts->provider : AZURE_FOUNDRY_DEFAULT_PROVIDER);
        o->model = xstrdup(name);
        publisher = azure_foundry_str(m, AZURE_FOUNDRY_F_PUBLISHER, AZURE_FOUNDRY_MAX_TEXT, seen);
        o->vendor = xstrdup(publisher ? publisher : opts->vendor);
        o->name = xstrdup(
            azure_foundry_str(m, AZURE_FOUNDRY_F_DISPLAY_NAME, AZURE_FOUNDRY_MAX_TEXT, seen));
        o->lifecycle = azure_foundry_lifecycle(
            azure_foundry_str(m, AZURE_FOUNDRY_F_LIFECYCLE, AZURE_FOUNDRY_MAX_TEXT, seen));

        dep = azure_foundry_get(m, AZURE_FOUNDRY_F_DEPRECATION, seen);
        if (json_is_object(dep)) {
                /* null until a date is announced: that is "unknown", not an error. */
                const char *date = adapter_json_string(
                    adapter_json_field(dep, azure_foundry_fields, AZURE_FOUNDRY_F_RETIREMENT, seen),
                    1, AZURE_FOUNDRY_MAX_TEXT);

                if (adapter_parse_date(date, ADAPTER_DATE_TIME_SUFFIX | ADAPTER_DATE_FROM_EPOCH,
                                       &o->eol) < 0)
                        o->eol = 0;
        }

        /* Azure OpenAI models carry an empty azureOffers and say "AOAI" in
         * deploymentOptions; partner models say it in both. Either is enough. */
        options = azure_foundry_get(m, AZURE_FOUNDRY_F_DEPLOYMENT_OPTIONS, seen);
        offers = azure_foundry_get(m, AZURE_FOUNDRY_F_OFFERS, seen);
        if ((options || offers) &&
            !azure_foundry_has_any(options, azure_foundry_api_options,
                                   ELEMENTSOF(azure_foundry_api_options)) &&
            !azure_foundry_has_any(offers, azure_foundry_api_offers,
                                   ELEMENTSOF(azure_foundry_api_offers)))
                o->available = false;
        if (o->lifecycle == LIFECYCLE_RETIRED)
                o->available = false;

        /* One summary per version: keep one observation per name, the best version's. */
        for (size_t i = 0; i + 1 < out->n; i++) {
                Observation *prev = &out->items[i];

                if (strcasecmp(prev->model, o->model) != 0)
                        continue;
                if (azure_foundry_rank(o) > azure_foundry_rank(prev)) {
                        Observation tmp = *prev;

                        *prev = *o;
                        *o = tmp;
                }
                azure_foundry_drop_last(out);
                break;
        }
        return 0;
}

int adapter_azure_foundry_parse(const char *data, size_t len, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err)
{
        static const AdapterListPage page = {
            .shape = "azure-foundry:object",
            .shape_error = AZURE_FOUNDRY_SHAPE_ERROR,
            .fields = azure_foundry_fields,
            .n_fields = _AZURE_FOUNDRY_F_MAX,
            .list_field = AZURE_FOUNDRY_F_SUMMARIES,
            .id_field = AZURE_FOUNDRY_F_NAME,
            .also_field = -1,
            .list_may_be_absent = false,
            .entry = azure_foundry_model,
        };

        return adapter_list_page_parse(&page, data, len, opts, out, err);
}

int adapter_azure_foundry_next_page(const char *data, size_t len, const char *url, const char *body,
                                    char **ret_url, char **ret_body, AdapterError *err)
{
        _cleanup_free_ char *token = NULL, *next_url = NULL, *next_body = NULL;
        _cleanup_(adapter_json_decrefp) json_t *req = NULL;
        AdapterError req_err;
        int r;

        *ret_url = NULL;
        *ret_body = NULL;
        r = adapter_json_page_token(data, len, AZURE_FOUNDRY_TOKEN, &token, err);
        if (r <= 0)
                return r;
        if (!url)
                return adapter_error(err, 0, "no request URL to page from"), -EINVAL;
        /* A server that hands back the token it was given would page forever. */
        if (body &&
            adapter_json_load(body, strlen(body), ADAPTER_JSON_DEPTH_EBADMSG, &req, &req_err) >=
                0 &&
            streq_ptr(json_string_value(json_object_get(req, AZURE_FOUNDRY_TOKEN)), token))
                return adapter_error(err, 0, "\"%s\" repeats the token of this request",
                                     AZURE_FOUNDRY_TOKEN);
        r = adapter_json_body_set(body, AZURE_FOUNDRY_TOKEN, token, &next_body);
        if (r < 0)
                return adapter_error(err, 0, "cannot add the token to the request body"), r;
        next_url = xstrdup(url);
        *ret_url = TAKE_PTR(next_url);
        *ret_body = TAKE_PTR(next_body);
        return 1;
}
