/* anthropic-models: one page of Anthropic's GET /v1/models,
 * {"data":[{"id","display_name","created_at","type"}],"has_more","first_id","last_id"}.
 * See docs/adapters-official.md. */
#include <errno.h>
#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define ANTHROPIC_MODELS_MAX_TEXT         1024
#define ANTHROPIC_MODELS_DEFAULT_PROVIDER "anthropic"
#define ANTHROPIC_MODELS_VENDOR           "Anthropic"
#define ANTHROPIC_MODELS_SHAPE_ERROR      "expected an object with a \"data\" array"

/* Field names the adapter relies on, sorted (see the structure fingerprint). */
enum {
        ANTHROPIC_MODELS_F_DATA,
        ANTHROPIC_MODELS_F_DISPLAY_NAME,
        ANTHROPIC_MODELS_F_HAS_MORE,
        ANTHROPIC_MODELS_F_ID,
        ANTHROPIC_MODELS_F_LAST_ID,
        ANTHROPIC_MODELS_F_TYPE,
        _ANTHROPIC_MODELS_F_MAX,
};

static const char *const anthropic_models_fields[_ANTHROPIC_MODELS_F_MAX] = {
    [ANTHROPIC_MODELS_F_DATA] = "data",         [ANTHROPIC_MODELS_F_DISPLAY_NAME] = "display_name",
    [ANTHROPIC_MODELS_F_HAS_MORE] = "has_more", [ANTHROPIC_MODELS_F_ID] = "id",
    [ANTHROPIC_MODELS_F_LAST_ID] = "last_id",   [ANTHROPIC_MODELS_F_TYPE] = "type",
};

static const char *anthropic_models_str(json_t *obj, int field, size_t max, uint64_t *seen)
{
        return adapter_json_field_string(obj, anthropic_models_fields, (unsigned)field, max, seen);
}

static int anthropic_models_entry(json_t *m, const AdapterOptions *opts, ObservationList *out,
                                  AdapterError *err, uint64_t *seen)
{
        const char *id, *type;
        Observation *o;
        int r;

        /* Every entry of this list is a model today; "type" says so, and another type
         * would be another object. */
        type = anthropic_models_str(m, ANTHROPIC_MODELS_F_TYPE, ANTHROPIC_MODELS_MAX_TEXT, seen);
        if (type && !streq(type, "model"))
                return 0;
        id = anthropic_models_str(m, ANTHROPIC_MODELS_F_ID, ADAPTER_MAX_ID_LEN, seen);
        if (!id)
                return 0;
        r = adapter_add_observation(out, opts, err, &o);
        if (r < 0)
                return r;
        o->provider = xstrdup(opts->provider ? opts->provider : ANTHROPIC_MODELS_DEFAULT_PROVIDER);
        o->model = xstrdup(id);
        o->vendor = xstrdup(opts->vendor ? opts->vendor : ANTHROPIC_MODELS_VENDOR);
        o->name = xstrdup(anthropic_models_str(m, ANTHROPIC_MODELS_F_DISPLAY_NAME,
                                               ANTHROPIC_MODELS_MAX_TEXT, seen));
        return 0;
}

int adapter_anthropic_models_parse(const char *data, size_t len, const AdapterOptions *opts,
                                   ObservationList *out, AdapterError *err)
{
        static const AdapterListPage page = {
            .shape = "anthropic-models:object",
            .shape_error = ANTHROPIC_MODELS_SHAPE_ERROR,
            .fields = anthropic_models_fields,
            .n_fields = _ANTHROPIC_MODELS_F_MAX,
            .list_field = ANTHROPIC_MODELS_F_DATA,
            .id_field = ANTHROPIC_MODELS_F_ID,
            .also_field = ANTHROPIC_MODELS_F_HAS_MORE,
            .list_may_be_absent = false,
            .entry = anthropic_models_entry,
        };

        return adapter_list_page_parse(&page, data, len, opts, out, err);
}

int adapter_anthropic_models_next_page(const char *data, size_t len, const char *url,
                                       const char *body, char **ret_url, char **ret_body,
                                       AdapterError *err)
{
        _cleanup_(adapter_json_decrefp) json_t *root = NULL;
        json_t *more;
        int r;

        *ret_url = NULL;
        if (ret_body)
                *ret_body = NULL;
        r = adapter_json_load(data, len, ADAPTER_JSON_INT_AS_REAL | ADAPTER_JSON_DEPTH_EBADMSG,
                              &root, err);
        if (r < 0)
                return r;
        if (!json_is_object(root))
                return adapter_error(err, 0, ANTHROPIC_MODELS_SHAPE_ERROR);
        more = json_object_get(root, "has_more");
        if (!more || json_is_false(more))
                return 0;
        if (!json_is_true(more))
                return adapter_error(err, 0, "\"has_more\" is not a boolean");
        /* The next page starts after the last id of this one. */
        r = adapter_next_page_query(data, len, url, "last_id", "after_id", ret_url, err);
        if (r == 0)
                return adapter_error(err, 0, "\"has_more\" is true but there is no \"last_id\"");
        return r;
}
