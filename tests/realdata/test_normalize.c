/* Normalization over the real captures: every catalogue and Bedrock fixture goes through
 * its adapter, then the shipped provider and alias tables. Prints per file the rows per
 * provider, the unlisted upstream names and the ids no step or alias could place, and
 * checks facts verified by hand against the captures. LW_ALL=1 lists every unmapped id,
 * LW_DUMP=1 prints every mapping. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lockwatch/adapter.h"
#include "lockwatch/normalize.h"
#include "lockwatch/util.h"

#define MAX_FIXTURE (64u * 1024u * 1024u)

static unsigned failures;

#define CHECK(cond, ...)                                                                           \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        failures++;                                                                \
                        printf("FAIL %s:%d: ", __FILE__, __LINE__);                                \
                        printf(__VA_ARGS__);                                                       \
                        printf("\n");                                                              \
                }                                                                                  \
        } while (0)

typedef struct Count {
        char *name;
        size_t n;
} Count;

typedef struct Counts {
        Count *items;
        size_t n, cap;
} Counts;

static void counts_add(Counts *c, const char *name)
{
        for (size_t i = 0; i < c->n; i++)
                if (streq(c->items[i].name, name)) {
                        c->items[i].n++;
                        return;
                }
        util_grow((void **)&c->items, &c->cap, c->n + 1, sizeof(*c->items));
        c->items[c->n++] = (Count){xstrdup(name), 1};
}

static bool counts_has(const Counts *c, const char *name)
{
        for (size_t i = 0; i < c->n; i++)
                if (streq(c->items[i].name, name))
                        return true;
        return false;
}

static size_t counts_total(const Counts *c)
{
        size_t t = 0;
        for (size_t i = 0; i < c->n; i++)
                t += c->items[i].n;
        return t;
}

static int count_cmp(const void *a, const void *b)
{
        const Count *x = a, *y = b;
        if (x->n != y->n)
                return x->n < y->n ? 1 : -1;
        return strcmp(x->name, y->name);
}

static void counts_print(const char *title, Counts *c, size_t limit)
{
        if (c->n > 0)
                qsort(c->items, c->n, sizeof(*c->items), count_cmp);
        printf("  %s (%zu rows, %zu names):", title, counts_total(c), c->n);
        for (size_t i = 0; i < c->n && i < limit; i++)
                printf(" %s=%zu", c->items[i].name, c->items[i].n);
        if (c->n > limit)
                printf(" ...");
        printf("\n");
}

static void counts_clear(Counts *c)
{
        for (size_t i = 0; i < c->n; i++)
                free(c->items[i].name);
        free(c->items);
        *c = (Counts){0};
}

/* Where each canonical model was seen: "canonical provider" pairs of one file. */
typedef struct FileResult {
        Counts per_provider, unlisted, unmapped, pairs, vendors;
        size_t total, ignored;
} FileResult;

static void file_result_clear(FileResult *r)
{
        counts_clear(&r->per_provider);
        counts_clear(&r->unlisted);
        counts_clear(&r->unmapped);
        counts_clear(&r->pairs);
        counts_clear(&r->vendors);
}

static bool seen_on(const FileResult *r, const char *canonical, const char *provider)
{
        _cleanup_free_ char *k = xasprintf("%s %s", canonical, provider);
        return counts_has(&r->pairs, k);
}

/* Providers (sorted, comma-separated) that list canonical in r. */
static char *providers_of(const FileResult *r, const char *canonical)
{
        char buf[1024] = "";
        size_t o = 0, l = strlen(canonical);
        Counts sorted = {0};

        for (size_t i = 0; i < r->pairs.n; i++) {
                const char *k = r->pairs.items[i].name;
                if (strncmp(k, canonical, l) == 0 && k[l] == ' ')
                        counts_add(&sorted, k + l + 1);
        }
        for (size_t i = 0; i < sorted.n; i++)
                for (size_t j = i + 1; j < sorted.n; j++)
                        if (strcmp(sorted.items[j].name, sorted.items[i].name) < 0) {
                                Count t = sorted.items[i];
                                sorted.items[i] = sorted.items[j];
                                sorted.items[j] = t;
                        }
        for (size_t i = 0; i < sorted.n; i++)
                o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? "," : "",
                                      sorted.items[i].name);
        counts_clear(&sorted);
        return xstrdup(buf);
}

static const ProviderMap *providers;
static const AliasTable *aliases;

/* Returns 0 on success, negative on error (already counted as a failure). */
static int run_file(const char *format, const char *path, FileResult *res)
{
        _cleanup_free_ char *data = NULL;
        ObservationList list = {0};
        AdapterError aerr;
        size_t len;
        int r;

        r = util_read_file(path, MAX_FIXTURE, &data, &len);
        if (r < 0) {
                CHECK(false, "cannot read %s: %s", path, strerror(-r));
                return r;
        }
        r = adapter_parse(adapter_find(format), data, len, NULL, &list, &aerr);
        if (r < 0) {
                CHECK(false, "%s: %s adapter failed: %s", path, format, aerr.message);
                return r;
        }

        for (size_t i = 0; i < list.n; i++) {
                const Observation *o = &list.items[i];
                const char *prov = NULL;
                ProviderKind kind;
                _cleanup_free_ char *canonical = NULL, *pair = NULL;
                char vbuf[NORMALIZE_MAX_ID + 1];
                bool mapped = false;

                res->total++;
                r = provider_map_lookup(providers, o->provider ? o->provider : "", &prov, &kind);
                if (r == -ESRCH) {
                        res->ignored++;
                        continue;
                }
                if (r < 0) {
                        counts_add(&res->unlisted, o->provider ? o->provider : "(none)");
                        continue;
                }
                counts_add(&res->per_provider, prov);
                r = normalize_model(aliases, prov, o->model, o->vendor, &canonical, &mapped);
                if (r < 0) {
                        CHECK(false, "%s: normalize_model(%s) failed: %s", path, o->model,
                              strerror(-r));
                        continue;
                }
                CHECK(normalize_canonical_valid(canonical), "%s: invalid canonical '%s' from '%s'",
                      path, canonical, o->model);
                if (!mapped)
                        counts_add(&res->unmapped, o->model);
                if (getenv("LW_DUMP"))
                        printf("MAP %s %s %s -> %s\n", prov, o->vendor ? o->vendor : "-", o->model,
                               canonical);
                counts_add(&res->vendors, normalize_vendor_of(canonical, vbuf, sizeof(vbuf)));
                pair = xasprintf("%s %s", canonical, prov);
                counts_add(&res->pairs, pair);
        }
        observation_list_clear(&list);

        printf("%s (%s): %zu observations, %zu ignored\n", path, format, res->total, res->ignored);
        counts_print("per provider", &res->per_provider, 40);
        counts_print("unlisted upstream providers, top 10", &res->unlisted, 10);
        counts_print("vendors, top 25", &res->vendors, 25);
        printf("  unmapped ids: %zu distinct (%zu rows):", res->unmapped.n,
               counts_total(&res->unmapped));
        for (size_t i = 0; i < res->unmapped.n && i < (getenv("LW_ALL") ? 100000u : 30u); i++)
                printf(" %s", res->unmapped.items[i].name);
        printf("\n");
        return 0;
}

typedef void (*facts_fn)(const char *file, const FileResult *r);

static void facts_litellm(const char *file, const FileResult *r)
{
        _cleanup_free_ char *opus = NULL, *mythos = NULL;

        if (!strstr(file, "2026-07-24"))
                return;
        opus = providers_of(r, "anthropic/claude-opus-4-7");
        printf("  fact: anthropic/claude-opus-4-7 on %s\n", opus);
        CHECK(seen_on(r, "anthropic/claude-opus-4-7", "aws"), "opus 4.7 not on aws");
        CHECK(seen_on(r, "anthropic/claude-opus-4-7", "gcp"), "opus 4.7 not on gcp");
        CHECK(seen_on(r, "anthropic/claude-opus-4-7", "azure"), "opus 4.7 not on azure");
        CHECK(seen_on(r, "anthropic/claude-opus-4-7", "anthropic"), "opus 4.7 not on anthropic");
        CHECK(seen_on(r, "anthropic/claude-opus-4-7", "openrouter"), "opus 4.7 not on openrouter");
        mythos = providers_of(r, "anthropic/claude-mythos-preview");
        printf("  fact: anthropic/claude-mythos-preview on %s\n", mythos);
        CHECK(streq(mythos, "aws"), "mythos preview on %s, expected aws only", mythos);
        /* The v2 revision of Claude 3.5 Sonnet meets across clouds and stays its own row. */
        CHECK(seen_on(r, "anthropic/claude-3-5-sonnet-v2", "aws"), "3.5 sonnet v2 not on aws");
        CHECK(seen_on(r, "meta/llama-3-1-405b-instruct", "aws"), "llama 3.1 405b not on aws");
}

static void facts_models_dev(const char *file, const FileResult *r)
{
        _cleanup_free_ char *opus46 = providers_of(r, "anthropic/claude-opus-4-6");
        printf("  fact: anthropic/claude-opus-4-6 on %s\n", opus46);
        CHECK(seen_on(r, "anthropic/claude-opus-4-6", "aws"), "opus 4.6 not on aws");
        CHECK(seen_on(r, "anthropic/claude-opus-4-6", "gcp"), "opus 4.6 not on gcp");
        CHECK(seen_on(r, "anthropic/claude-opus-4-6", "azure"), "opus 4.6 not on azure");
        CHECK(seen_on(r, "anthropic/claude-opus-4-6", "anthropic"), "opus 4.6 not on anthropic");
        CHECK(seen_on(r, "meta/llama-3-3-70b-instruct", "aws"), "llama 3.3 70b not on aws");
        CHECK(seen_on(r, "meta/llama-3-3-70b-instruct", "gcp"), "llama 3.3 70b not on gcp");
}

static void facts_openrouter(const char *file, const FileResult *r)
{
        CHECK(seen_on(r, "anthropic/claude-opus-4-7", "openrouter"), "opus 4.7 not on openrouter");
        CHECK(seen_on(r, "openai/gpt-5-5", "openrouter"), "gpt-5.5 not on openrouter");
        CHECK(seen_on(r, "xai/grok-4", "openrouter"), "grok-4 not on openrouter");
}

static void facts_cards(const char *file, const FileResult *r)
{
        /* Meta Llama 3.1 405B Instruct left Bedrock between the two snapshots. */
        bool has = seen_on(r, "meta/llama-3-1-405b-instruct", "aws");
        if (strstr(file, "2026-08-19"))
                CHECK(has, "llama 3.1 405b missing from %s", file);
        if (strstr(file, "2026-08-22"))
                CHECK(!has, "llama 3.1 405b still in %s", file);
        CHECK(seen_on(r, "anthropic/claude-opus-4-7", "aws"), "opus 4.7 not on aws in %s", file);
}

static void facts_bedrock_api(const char *file, const FileResult *r)
{
        CHECK(seen_on(r, "anthropic/claude-3-5-sonnet-v2", "aws"), "3.5 sonnet v2 not listed");
        CHECK(seen_on(r, "anthropic/claude-3-5-sonnet", "aws"), "3.5 sonnet not listed");
        CHECK(seen_on(r, "meta/llama-3-2-90b-instruct", "aws"), "llama 3.2 90b not listed");
}

static const struct {
        const char *dir, *format;
        facts_fn facts;
        size_t max_unmapped; /* distinct unmapped ids tolerated per file */
} sources[] = {
    {"litellm", "litellm", facts_litellm, 25},
    {"models.dev-api", "models-dev", facts_models_dev, 45},
    {"openrouter", "openrouter", facts_openrouter, 5},
    {"aws-bedrock-model-cards", "bedrock-model-cards", facts_cards, 0},
    {"aws-bedrock-api", "bedrock-api", facts_bedrock_api, 0},
    {"azure-api", "azure-models", NULL, 5},
};

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_table(const char *name, char **ret, size_t *ret_len)
{
        _cleanup_free_ char *path = xasprintf("%s/data/%s", LW_SOURCE_DIR, name);
        int r = util_read_file(path, 1u << 20, ret, ret_len);
        if (r < 0)
                printf("cannot read %s: %s\n", path, strerror(-r));
        return r;
}

int main(int argc, char **argv)
{
        _cleanup_free_ char *ptext = NULL, *atext = NULL;
        ProviderMap *pm = NULL;
        AliasTable *at = NULL;
        NormalizeError nerr;
        size_t plen, alen, files = 0;
        struct stat st;

        if (argc < 2 || stat(argv[1], &st) < 0 || !S_ISDIR(st.st_mode))
                return 77;
        if (load_table("providers.conf", &ptext, &plen) < 0 ||
            load_table("aliases.conf", &atext, &alen) < 0)
                return 1;
        if (provider_map_parse("providers.conf", ptext, plen, &pm, &nerr) < 0) {
                printf("%s\n", nerr.message);
                return 1;
        }
        if (alias_table_parse("aliases.conf", atext, alen, &at, &nerr) < 0) {
                printf("%s\n", nerr.message);
                provider_map_free(pm);
                return 1;
        }
        providers = pm;
        aliases = at;

        for (size_t s = 0; s < ELEMENTSOF(sources); s++) {
                _cleanup_free_ char *dir = xasprintf("%s/%s", argv[1], sources[s].dir);
                char *names[64];
                size_t n = 0;
                DIR *d = opendir(dir);

                CHECK(d, "cannot open %s", dir);
                if (!d)
                        continue;
                for (struct dirent *de; (de = readdir(d)) && n < ELEMENTSOF(names);)
                        if (endswith(de->d_name, ".json"))
                                names[n++] = xstrdup(de->d_name);
                closedir(d);
                if (n > 0)
                        qsort(names, n, sizeof(*names), name_cmp);
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]);
                        FileResult res = {0};
                        int r = run_file(sources[s].format, path, &res);
                        if (r == 0) {
                                files++;
                                CHECK(res.total > 0, "%s: no observations", path);
                                CHECK(res.unmapped.n <= sources[s].max_unmapped,
                                      "%s: %zu unmapped ids (at most %zu expected)", path,
                                      res.unmapped.n, sources[s].max_unmapped);
                                if (sources[s].facts)
                                        sources[s].facts(names[i], &res);
                        }
                        file_result_clear(&res);
                        free(names[i]);
                }
        }
        alias_table_free(at);
        provider_map_free(pm);
        printf("%zu files, %u failures\n", files, failures);
        CHECK(files > 0, "no fixture was parsed");
        return failures ? 1 : 0;
}
