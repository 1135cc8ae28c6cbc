/* openai-models: OpenAI's GET /v1/models, {"object":"list","data":[{"id","object",
 * "created","owned_by"}]}, and OpenAI-compatible lists of the same shape (Amazon Bedrock's
 * Mantle endpoint). See docs/adapters-official.md. */
#include <errno.h>
#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define OPENAI_MODELS_MAX_TEXT         1024
#define OPENAI_MODELS_DEFAULT_PROVIDER "openai"
#define OPENAI_MODELS_VENDOR           "OpenAI"
#define OPENAI_MODELS_SHAPE_ERROR      "expected an object with a \"data\" array"

/* Field names the adapter relies on, sorted (see the structure fingerprint). */
enum {
        OPENAI_MODELS_F_DATA,
        OPENAI_MODELS_F_ID,
        OPENAI_MODELS_F_OBJECT,
        _OPENAI_MODELS_F_MAX,
};

static const char *const openai_models_fields[_OPENAI_MODELS_F_MAX] = {
    [OPENAI_MODELS_F_DATA] = "data",
    [OPENAI_MODELS_F_ID] = "id",
    [OPENAI_MODELS_F_OBJECT] = "object",
};

static int openai_models_entry(json_t *m, const AdapterOptions *opts, ObservationList *out,
                               AdapterError *err, uint64_t *seen)
{
        const char *id, *object;
        Observation *o;
        int r;

        object = adapter_json_field_string(m, openai_models_fields, OPENAI_MODELS_F_OBJECT,
                                           OPENAI_MODELS_MAX_TEXT, seen);
        if (object && !streq(object, "model"))
                return 0;
        id = adapter_json_field_string(m, openai_models_fields, OPENAI_MODELS_F_ID,
                                       ADAPTER_MAX_ID_LEN, seen);
        if (!id)
                return 0;
        r = adapter_add_observation(out, opts, err, &o);
        if (r < 0)
                return r;
        o->provider = xstrdup(opts->provider ? opts->provider : OPENAI_MODELS_DEFAULT_PROVIDER);
        o->model = xstrdup(id);
        /* owned_by names an account ("system", "openai-internal"), not a vendor. On
         * OpenAI's own list every model is OpenAI's; an OpenAI-compatible list of another
         * provider (Bedrock Mantle) carries other vendors' models, named by their ids. */
        if (opts->vendor)
                o->vendor = xstrdup(opts->vendor);
        else if (!opts->provider || streq(opts->provider, OPENAI_MODELS_DEFAULT_PROVIDER))
                o->vendor = xstrdup(OPENAI_MODELS_VENDOR);
        return 0;
}

int adapter_openai_models_parse(const char *data, size_t len, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err)
{
        static const AdapterListPage page = {
            .shape = "openai-models:object",
            .shape_error = OPENAI_MODELS_SHAPE_ERROR,
            .fields = openai_models_fields,
            .n_fields = _OPENAI_MODELS_F_MAX,
            .list_field = OPENAI_MODELS_F_DATA,
            .id_field = OPENAI_MODELS_F_ID,
            .also_field = -1,
            .list_may_be_absent = false,
            .entry = openai_models_entry,
        };

        return adapter_list_page_parse(&page, data, len, opts, out, err);
}
