/* vertex-model-garden: one page of Vertex AI publishers.models.list (v1beta1, every
 * publisher) in one region, {"publisherModels":[...],"nextPageToken":...}.
 * See docs/adapters-official.md. */
#include <errno.h>
#include <jansson.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define VERTEX_GARDEN_MAX_TEXT         1024
#define VERTEX_GARDEN_MAX_NAME         1024
#define VERTEX_GARDEN_DEFAULT_PROVIDER "vertex_ai"
#define VERTEX_GARDEN_SHAPE_ERROR      "expected an object with a \"publisherModels\" array"

/* Field names the adapter relies on, sorted (see the structure fingerprint). */
enum {
        VERTEX_GARDEN_F_LAUNCH_STAGE,
        VERTEX_GARDEN_F_NAME,
        VERTEX_GARDEN_F_TEMPLATE,
        VERTEX_GARDEN_F_PUBLISHER_MODELS,
        VERTEX_GARDEN_F_ACTIONS,
        VERTEX_GARDEN_F_VERSION_ID,
        _VERTEX_GARDEN_F_MAX,
};

static const char *const vertex_garden_fields[_VERTEX_GARDEN_F_MAX] = {
    [VERTEX_GARDEN_F_LAUNCH_STAGE] = "launchStage",
    [VERTEX_GARDEN_F_NAME] = "name",
    [VERTEX_GARDEN_F_TEMPLATE] = "publisherModelTemplate",
    [VERTEX_GARDEN_F_PUBLISHER_MODELS] = "publisherModels",
    [VERTEX_GARDEN_F_ACTIONS] = "supportedActions",
    [VERTEX_GARDEN_F_VERSION_ID] = "versionId",
};

static json_t *vertex_garden_get(json_t *obj, int field, uint64_t *seen)
{
        return adapter_json_field(obj, vertex_garden_fields, (unsigned)field, seen);
}

/* PublisherModel.LaunchStage. */
static Lifecycle vertex_garden_lifecycle(const char *s)
{
        static const struct {
                const char *stage;
                Lifecycle l;
        } stages[] = {
            {"GA", LIFECYCLE_ACTIVE},
            {"PUBLIC_PREVIEW", LIFECYCLE_PREVIEW},
            {"PRIVATE_PREVIEW", LIFECYCLE_PREVIEW},
            {"EXPERIMENTAL", LIFECYCLE_PREVIEW},
            {"DEPRECATED", LIFECYCLE_DEPRECATED},
        };

        for (size_t i = 0; s && i < ELEMENTSOF(stages); i++)
                if (streq(s, stages[i].stage))
                        return stages[i].l;
        return LIFECYCLE_UNKNOWN;
}

/* Whether Google serves the model as an API. supportedActions names what the console
 * offers: a model that can only be deployed (deploy, deployGke, multiDeployVertex) runs
 * on the customer's own endpoint and machines; a served one opens in the studio, asks
 * for access, or has a publisherModelTemplate, and MaaS ids end in "-maas". Without
 * supportedActions the entry says nothing against being served. */
static bool vertex_garden_served(json_t *m, const char *id, uint64_t *seen)
{
        json_t *actions = vertex_garden_get(m, VERTEX_GARDEN_F_ACTIONS, seen);

        if (!json_is_object(actions))
                return true;
        if (json_object_get(actions, "deploy") || json_object_get(actions, "deployGke") ||
            json_object_get(actions, "multiDeployVertex"))
                return false;
        return endswith(id, "-maas") || json_object_get(actions, "openGenerationAiStudio") ||
               json_object_get(actions, "requestAccess") ||
               vertex_garden_get(m, VERTEX_GARDEN_F_TEMPLATE, seen);
}

static int vertex_garden_model(json_t *m, const AdapterOptions *opts, ObservationList *out,
                               AdapterError *err, uint64_t *seen)
{
        const char *name, *publisher, *slash, *id;
        Observation *o;
        size_t n;
        int r;

        /* "publishers/PUBLISHER/models/MODEL" */
        name = adapter_json_field_string(m, vertex_garden_fields, VERTEX_GARDEN_F_NAME,
                                         VERTEX_GARDEN_MAX_NAME, seen);
        publisher = name ? startswith(name, "publishers/") : NULL;
        slash = publisher ? strchr(publisher, '/') : NULL;
        id = slash ? startswith(slash, "/models/") : NULL;
        if (!id || slash == publisher || !*id || strchr(id, '/') || strlen(id) > ADAPTER_MAX_ID_LEN)
                return 0;
        n = (size_t)(slash - publisher);
        if (n > ADAPTER_MAX_ID_LEN)
                return 0;
        /* Read (and fingerprinted) for every entry; the matrix tracks models, not
         * versions. */
        (void)vertex_garden_get(m, VERTEX_GARDEN_F_VERSION_ID, seen);
        if (!vertex_garden_served(m, id, seen))
                return 0;

        r = adapter_add_observation(out, opts, err, &o);
        if (r < 0)
                return r;
        o->provider = xstrdup(opts->provider ? opts->provider : VERTEX_GARDEN_DEFAULT_PROVIDER);
        o->model = xstrdup(id);
        o->vendor = xstrndup(publisher, n);
        o->lifecycle = vertex_garden_lifecycle(adapter_json_field_string(
            m, vertex_garden_fields, VERTEX_GARDEN_F_LAUNCH_STAGE, VERTEX_GARDEN_MAX_TEXT, seen));
        /* Entries do not name their region: the listing is that of the region asked. */
        observation_add_region(o, opts->region);
        return 0;
}

int adapter_vertex_garden_parse(const char *data, size_t len, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err)
{
        static const AdapterListPage page = {
            .shape = "vertex-model-garden:object",
            .shape_error = VERTEX_GARDEN_SHAPE_ERROR,
            .fields = vertex_garden_fields,
            .n_fields = _VERTEX_GARDEN_F_MAX,
            .list_field = VERTEX_GARDEN_F_PUBLISHER_MODELS,
            .id_field = VERTEX_GARDEN_F_NAME,
            .also_field = -1,
            .list_may_be_absent = true,
            .entry = vertex_garden_model,
        };

        return adapter_list_page_parse(&page, data, len, opts, out, err);
}

int adapter_vertex_garden_next_page(const char *data, size_t len, const char *url, const char *body,
                                    char **ret_url, char **ret_body, AdapterError *err)
{
        if (ret_body)
                *ret_body = NULL;
        return adapter_next_page_query(data, len, url, "nextPageToken", "pageToken", ret_url, err);
}
