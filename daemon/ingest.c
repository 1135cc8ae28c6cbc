#include "lockwatch/ingest.h"

#include <stdio.h>

#include "lockwatch/util.h"

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void report_name(char **list, size_t *n, const char *name)
{
        for (size_t i = 0; i < *n; i++)
                if (streq(list[i], name))
                        return;
        if (*n < INGEST_MAX_REPORTED)
                list[(*n)++] = xstrdup(name);
}

/* Upstream provider names repeat on nearly every row: remember the last few
 * answers instead of matching every row against every glob of the table. */
#define PROVIDER_CACHE 16

typedef struct ProviderCacheEntry {
        const char *upstream; /* borrowed from the observation list */
        const char *provider;
        ProviderKind kind;
        int r;
} ProviderCacheEntry;

static int provider_lookup_cached(ProviderCacheEntry *cache, size_t *next, const ProviderMap *pm,
                                  const char *upstream, const char **ret_provider,
                                  ProviderKind *ret_kind)
{
        for (size_t i = 0; i < PROVIDER_CACHE; i++)
                if (cache[i].upstream && streq(cache[i].upstream, upstream)) {
                        *ret_provider = cache[i].provider;
                        *ret_kind = cache[i].kind;
                        return cache[i].r;
                }
        ProviderCacheEntry *e = &cache[*next];
        *next = (*next + 1) % PROVIDER_CACHE;
        *e = (ProviderCacheEntry){.upstream = upstream};
        e->r = provider_map_lookup(pm, upstream, &e->provider, &e->kind);
        *ret_provider = e->provider;
        *ret_kind = e->kind;
        return e->r;
}

static int cmp_cstr(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keep the ids of ids[] (with their names[]) that no input of in[] carries as its raw id;
 * returns how many. */
static size_t drop_mapped_ids(const char **ids, const char **names, size_t n,
                              const MatrixInput *in, size_t n_in)
{
        _cleanup_free_ const char **mapped = NULL;
        size_t o = 0;

        if (n == 0 || n_in == 0)
                return n;
        mapped = xcalloc(n_in, sizeof(char *));
        for (size_t i = 0; i < n_in; i++)
                mapped[i] = in[i].obs->model;
        qsort(mapped, n_in, sizeof(char *), cmp_cstr);
        for (size_t i = 0; i < n; i++)
                if (!bsearch(&ids[i], mapped, n_in, sizeof(char *), cmp_cstr)) {
                        names[o] = names[i];
                        ids[o++] = ids[i];
                }
        return o;
}

/* Parse every page into one list: a poll of many regions or pages is one listing, judged
 * whole by the guard. A page that fails fails the parse, named by its region and number. */
static int ingest_parse_pages(const Adapter *a, const AdapterOptions *base, const IngestPage *pages,
                              size_t n_pages, ObservationList *obs, AdapterError *err)
{
        bool have_fp = false;
        int r;

        for (size_t k = 0; k < n_pages; k++) {
                AdapterOptions opts = *base;
                ObservationList one = {0};

                opts.region = pages[k].region;
                r = adapter_parse(a, pages[k].body, pages[k].len, &opts, &one, err);
                if (r >= 0 && obs->n + one.n > (base->max_rows ? base->max_rows
                                                                : ADAPTER_MAX_ROWS_DEFAULT)) {
                        observation_list_clear(&one);
                        r = adapter_error(err, 0, "more than %zu rows in %zu pages",
                                          base->max_rows ? base->max_rows
                                                         : (size_t)ADAPTER_MAX_ROWS_DEFAULT,
                                          k + 1);
                }
                if (r < 0) {
                        if (n_pages > 1) {
                                _cleanup_free_ char *m = xasprintf(
                                    "%s%s%spage %zu: %s", pages[k].region ? "region " : "",
                                    pages[k].region ? pages[k].region : "",
                                    pages[k].region ? ", " : "", pages[k].page + 1, err->message);
                                snprintf(err->message, sizeof(err->message), "%s", m);
                                util_utf8_fix_truncated(err->message);
                        }
                        observation_list_clear(obs);
                        return r;
                }
                /* Every page of one API has one layout: the first page with rows says it. */
                if (!have_fp && (one.n > 0 || k == 0)) {
                        obs->fingerprint = one.fingerprint;
                        have_fp = one.n > 0;
                }
                if (one.n > 0) {
                        obs->items = xreallocarray(obs->items, obs->n + one.n, sizeof(Observation));
                        memcpy(obs->items + obs->n, one.items, one.n * sizeof(Observation));
                        obs->n += one.n;
                        obs->cap = obs->n;
                }
                free(one.items);
        }
        return 0;
}

int ingest_body(Matrix *m, const IngestParams *p, const IngestMemory *mem, const char *body,
                size_t len, MatrixChanges *changes, IngestReport *ret)
{
        IngestPage page = {.body = body, .len = len};
        return ingest_pages(m, p, mem, &page, 1, changes, ret);
}

int ingest_pages(Matrix *m, const IngestParams *p, const IngestMemory *mem,
                 const IngestPage *pages, size_t n_pages, MatrixChanges *changes,
                 IngestReport *ret)
{
        const SourceConfig *src = p->source;
        ObservationList obs = {0};
        IngestReport rep = {0};
        MatrixInput *in = NULL;
        char **canon = NULL, **unmapped = NULL;
        const char **unlisted_ids = NULL, **unlisted_names = NULL;
        size_t n_in = 0, n_unmapped = 0, n_unlisted_ids = 0, cache_next = 0;
        ProviderCacheEntry cache[PROVIDER_CACHE] = {0};
        char names[128] = "";
        int r;

        const Adapter *a = adapter_find(src->format);
        if (!a)
                return -EINVAL;

        AdapterOptions opts = {
                .provider = src->provider,
                .vendor = src->vendor,
                .columns = src->columns,
                .rows = src->rows,
                .max_bytes = src->limits.max_body ? (size_t)src->limits.max_body : 0,
                .max_rows = p->max_rows,
        };
        r = ingest_parse_pages(a, &opts, pages, n_pages, &obs, &rep.parse_error);
        if (r < 0) {
                rep.status = INGEST_PARSE_ERROR;
                *ret = rep;
                return 0;
        }
        rep.fingerprint = obs.fingerprint;
        rep.observations = obs.n;
        /* A provider's own listing that dates a model's end of life in the past has retired
         * it, whatever else the entry says (the Foundry catalog serves a version without a
         * lifecycle whose retirement date has gone by). Catalogues' dates are not taken as
         * facts: only an authority's. */
        if (src->authoritative)
                for (size_t i = 0; i < obs.n; i++) {
                        Observation *o = &obs.items[i];
                        if (o->eol > 0 && (uint64_t)o->eol * USEC_PER_SEC < p->now) {
                                o->available = false;
                                o->lifecycle = LIFECYCLE_RETIRED;
                        }
                }

        in = xcalloc(obs.n ? obs.n : 1, sizeof(MatrixInput));
        canon = xcalloc(obs.n ? obs.n : 1, sizeof(char *));
        unmapped = xcalloc(obs.n ? obs.n : 1, sizeof(char *));
        unlisted_ids = xcalloc(obs.n ? obs.n : 1, sizeof(char *));
        unlisted_names = xcalloc(obs.n ? obs.n : 1, sizeof(char *));
        for (size_t i = 0; i < obs.n; i++) {
                const Observation *o = &obs.items[i];
                const char *upstream = o->provider ? o->provider : src->provider;
                const char *provider;
                ProviderKind kind;
                bool mapped;

                if (!upstream || !o->model) {
                        rep.unlisted++;
                        continue;
                }
                r = provider_lookup_cached(cache, &cache_next, p->providers, upstream, &provider,
                                           &kind);
                if (r == -ESRCH) {
                        rep.ignored++;
                        continue;
                }
                if (r < 0) {
                        rep.unlisted++;
                        report_name(rep.unlisted_names, &rep.n_unlisted_names, upstream);
                        unlisted_names[n_unlisted_ids] = upstream;
                        unlisted_ids[n_unlisted_ids++] = o->model;
                        continue;
                }
                r = normalize_model(p->aliases, provider, o->model,
                                    o->vendor ? o->vendor : src->vendor, &canon[n_in], &mapped);
                if (r < 0) {
                        /* An id the normalizer refuses (over-long, empty) is not a model. */
                        rep.unlisted++;
                        continue;
                }
                if (!mapped)
                        unmapped[n_unmapped++] = xasprintf("%s %s", provider, o->model);
                in[n_in] = (MatrixInput){
                        .provider = provider,
                        .kind = kind,
                        .model = canon[n_in],
                        .mapped = mapped,
                        .obs = o,
                };
                n_in++;
        }
        rep.applied = n_in;

        qsort(unmapped, n_unmapped, sizeof(char *), cmp_str);
        for (size_t i = 0; i < n_unmapped; i++) {
                if (i > 0 && streq(unmapped[i], unmapped[i - 1]))
                        continue;
                if (rep.n_unmapped < INGEST_MAX_REPORTED)
                        rep.unmapped[rep.n_unmapped] = xstrdup(unmapped[i]);
                rep.n_unmapped++;
        }

        r = matrix_count_absent(m, src->name, in, n_in, &rep.rows, &rep.absent);
        if (r < 0)
                goto finish;
        /* Rows this source mapped before that now map to no provider: a provider renamed
         * upstream, not models leaving. A catalogue of many providers lists one id under
         * several of them: an id this parse still maps elsewhere has not moved. */
        n_unlisted_ids = drop_mapped_ids(unlisted_ids, unlisted_names, n_unlisted_ids, in, n_in);
        {
                _cleanup_free_ bool *known = xcalloc(MAX(n_unlisted_ids, (size_t)1), sizeof(bool));
                size_t used = 0;

                rep.remapped = matrix_source_raw_ids_known(m, src->name, unlisted_ids,
                                                           n_unlisted_ids, known);
                /* Name the upstream providers those rows carry now, each once. */
                for (size_t i = 0; i < n_unlisted_ids && used + 1 < sizeof(names); i++) {
                        bool seen = false;
                        int w;
                        if (!known[i])
                                continue;
                        for (size_t j = 0; j < i && !seen; j++)
                                seen = known[j] && streq(unlisted_names[j], unlisted_names[i]);
                        if (seen)
                                continue;
                        w = snprintf(names + used, sizeof(names) - used, "%s%s", used ? ", " : "",
                                     unlisted_names[i]);
                        if (w < 0)
                                break;
                        used = MIN(used + (size_t)w, sizeof(names) - 1);
                }
        }

        GuardInput gi = {
                .has_previous = mem && mem->has_previous,
                .prev_fingerprint = mem ? mem->fingerprint : 0,
                .fingerprint = obs.fingerprint,
                .rows = rep.rows,
                .absent = rep.absent,
                .new_rows = n_in,
                .remapped = rep.remapped,
                .remapped_names = names,
                .max_removal_percent = p->max_removal_percent,
        };
        rep.verdict = guard_check(&gi, rep.detail, sizeof(rep.detail));
        /* An operator may vouch for any parse but one that holds nothing to apply. */
        if (rep.verdict != GUARD_APPLY && (!p->force || (n_in == 0 && rep.rows == 0))) {
                rep.status = INGEST_SUSPECT;
                r = 0;
                goto finish;
        }

        r = matrix_apply(m, src->name, in, n_in, p->now, p->removal_polls, changes);
        if (r < 0)
                goto finish;
        rep.status = INGEST_APPLIED;

finish:
        for (size_t i = 0; i < n_in; i++)
                free(canon[i]);
        for (size_t i = 0; i < n_unmapped; i++)
                free(unmapped[i]);
        free(canon);
        free(unmapped);
        free(unlisted_ids);
        free(unlisted_names);
        free(in);
        observation_list_clear(&obs);
        if (r < 0) {
                ingest_report_clear(&rep);
                return r;
        }
        *ret = rep;
        return 0;
}

void ingest_report_clear(IngestReport *r)
{
        size_t n = MIN(r->n_unmapped, (size_t)INGEST_MAX_REPORTED);
        for (size_t i = 0; i < n; i++)
                free(r->unmapped[i]);
        for (size_t i = 0; i < r->n_unlisted_names; i++)
                free(r->unlisted_names[i]);
        *r = (IngestReport){0};
}

const char *ingest_status_name(IngestStatus s)
{
        switch (s) {
        case INGEST_APPLIED:
                return "applied";
        case INGEST_PARSE_ERROR:
                return "parse-error";
        case INGEST_SUSPECT:
                return "suspect";
        }
        return "unknown";
}
