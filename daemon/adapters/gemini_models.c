/* gemini-models: one page of the Gemini API's models.list (v1beta),
 * {"models":[{"name":"models/ID","displayName","version",...}],"nextPageToken":...}.
 * See docs/adapters-official.md. */
#include <errno.h>
#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define GEMINI_MODELS_MAX_TEXT         1024
#define GEMINI_MODELS_DEFAULT_PROVIDER "gemini"
#define GEMINI_MODELS_VENDOR           "Google"
#define GEMINI_MODELS_SHAPE_ERROR      "expected an object with a \"models\" array"

/* Field names the adapter relies on, sorted (see the structure fingerprint). */
enum {
        GEMINI_MODELS_F_DISPLAY_NAME,
        GEMINI_MODELS_F_MODELS,
        GEMINI_MODELS_F_NAME,
        _GEMINI_MODELS_F_MAX,
};

static const char *const gemini_models_fields[_GEMINI_MODELS_F_MAX] = {
    [GEMINI_MODELS_F_DISPLAY_NAME] = "displayName",
    [GEMINI_MODELS_F_MODELS] = "models",
    [GEMINI_MODELS_F_NAME] = "name",
};

static int gemini_models_entry(json_t *m, const AdapterOptions *opts, ObservationList *out,
                               AdapterError *err, uint64_t *seen)
{
        const char *name, *id;
        Observation *o;
        int r;

        /* The resource name is "models/ID"; the id is what a request names. */
        name = adapter_json_field_string(m, gemini_models_fields, GEMINI_MODELS_F_NAME,
                                         ADAPTER_MAX_ID_LEN + 7, seen);
        id = name ? startswith(name, "models/") : NULL;
        if (!id || !*id || strchr(id, '/') || strlen(id) > ADAPTER_MAX_ID_LEN)
                return 0;
        r = adapter_add_observation(out, opts, err, &o);
        if (r < 0)
                return r;
        o->provider = xstrdup(opts->provider ? opts->provider : GEMINI_MODELS_DEFAULT_PROVIDER);
        o->model = xstrdup(id);
        o->vendor = xstrdup(opts->vendor ? opts->vendor : GEMINI_MODELS_VENDOR);
        o->name = xstrdup(adapter_json_field_string(
            m, gemini_models_fields, GEMINI_MODELS_F_DISPLAY_NAME, GEMINI_MODELS_MAX_TEXT, seen));
        return 0;
}

int adapter_gemini_models_parse(const char *data, size_t len, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err)
{
        static const AdapterListPage page = {
            .shape = "gemini-models:object",
            .shape_error = GEMINI_MODELS_SHAPE_ERROR,
            .fields = gemini_models_fields,
            .n_fields = _GEMINI_MODELS_F_MAX,
            .list_field = GEMINI_MODELS_F_MODELS,
            .id_field = GEMINI_MODELS_F_NAME,
            .also_field = -1,
            .list_may_be_absent = true,
            .entry = gemini_models_entry,
        };

        return adapter_list_page_parse(&page, data, len, opts, out, err);
}

int adapter_gemini_models_next_page(const char *data, size_t len, const char *url, const char *body,
                                    char **ret_url, char **ret_body, AdapterError *err)
{
        if (ret_body)
                *ret_body = NULL;
        return adapter_next_page_query(data, len, url, "nextPageToken", "pageToken", ret_url, err);
}
