#include "lockwatch/matrix.h"

#include <limits.h>
#include <math.h>

#include "lockwatch/util.h"

/* During one apply, `missing` of every evidence the parse touched holds this value, so the
 * pass over untouched evidence needs no side table. It never survives an apply. */
#define MISSING_TOUCHED UINT_MAX

#define STATE_FORMAT "lockwatch.matrix-state/1"

static const Cell unknown_cell = {
    .state = CELL_UNKNOWN,
    .price_in = NAN,
    .price_out = NAN,
};

static const char *const cell_state_names[_CELL_STATE_MAX] = {
    [CELL_UNKNOWN] = "unknown",
    [CELL_AVAILABLE] = "available",
    [CELL_UNAVAILABLE] = "unavailable",
};

static const char *const matrix_kind_names[_PROVIDER_KIND_MAX] = {
    [PROVIDER_CLOUD] = "cloud",
    [PROVIDER_DIRECT] = "direct",
    [PROVIDER_AGGREGATOR] = "aggregator",
};

/* normalize.c owns provider_kind_name(); the state file must not depend on its wording. */
static const char *matrix_kind_name(ProviderKind k)
{
        if (k < 0 || k >= _PROVIDER_KIND_MAX)
                return "aggregator";
        return matrix_kind_names[k];
}

const char *cell_state_name(CellState s)
{
        if (s < 0 || s >= _CELL_STATE_MAX)
                return "unknown";
        return cell_state_names[s];
}

/* Length of the UTF-8 sequence at s (at most left bytes), or 0 if it is not one that jansson
 * accepts: no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t matrix_utf8_len(const unsigned char *s, size_t left)
{
        unsigned char c = s[0];
        uint32_t cp;
        size_t n;

        if (c < 0x80)
                return 1;
        if (c < 0xc2 || c > 0xf4)
                return 0;
        n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        if (n > left)
                return 0;
        cp = c & (0xff >> (n + 1));
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

static bool matrix_is_control(unsigned char c)
{
        return c < 0x20 || c == 0x7f;
}

/* Text the matrix stores and serializes: at most MATRIX_MAX_ID bytes of valid UTF-8 without
 * control characters (ids end up in JSON and on terminals). */
static bool matrix_text_valid(const char *s, bool allow_empty)
{
        size_t len;

        if (!s)
                return false;
        len = strlen(s);
        if (len > MATRIX_MAX_ID || (len == 0 && !allow_empty))
                return false;
        for (size_t i = 0; i < len;) {
                size_t n = matrix_utf8_len((const unsigned char *)s + i, len - i);
                if (n == 0 || matrix_is_control((unsigned char)s[i]))
                        return false;
                i += n;
        }
        return true;
}

/* Copy remote text into the stored form: invalid bytes and control characters become '?',
 * and the copy stops at MATRIX_MAX_ID bytes on a character boundary. */
static char *matrix_text_clean(const char *s)
{
        size_t len, o = 0;
        char *r;

        if (!s)
                return xstrdup("");
        len = strnlen(s, MATRIX_MAX_ID * 4);
        r = xmalloc(MIN(len, (size_t)MATRIX_MAX_ID) + 1);
        for (size_t i = 0; i < len;) {
                size_t n = matrix_utf8_len((const unsigned char *)s + i, len - i);
                if (n == 0 || matrix_is_control((unsigned char)s[i])) {
                        if (o + 1 > MATRIX_MAX_ID)
                                break;
                        r[o++] = '?';
                        i++;
                        continue;
                }
                if (o + n > MATRIX_MAX_ID)
                        break;
                memcpy(r + o, s + i, n);
                o += n;
                i += n;
        }
        r[o] = '\0';
        return r;
}

static int matrix_provider_cmp(ProviderKind ka, const char *a, ProviderKind kb, const char *b)
{
        if (ka != kb)
                return ka < kb ? -1 : 1;
        return strcmp(a, b);
}

static void matrix_strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static void matrix_evidence_done(Evidence *e)
{
        free(e->source);
        free(e->raw_id);
        matrix_strv_free(e->regions, e->n_regions);
        *e = (Evidence){0};
}

static void matrix_cell_done(Cell *c)
{
        for (size_t i = 0; i < c->n_evidence; i++)
                matrix_evidence_done(&c->evidence[i]);
        free(c->evidence);
        matrix_strv_free(c->regions, c->n_regions);
        *c = unknown_cell;
}

static void matrix_model_free(MatrixModel *mm)
{
        if (!mm)
                return;
        for (size_t i = 0; i < mm->n_cells; i++)
                matrix_cell_done(&mm->cells[i]);
        free(mm->cells);
        free(mm->id);
        free(mm->vendor);
        free(mm);
}

static MatrixModel *matrix_model_alloc(const char *id, bool mapped)
{
        MatrixModel *mm = xcalloc(1, sizeof(*mm));
        const char *slash = strchr(id, '/');

        mm->id = xstrdup(id);
        mm->vendor = slash ? xstrndup(id, (size_t)(slash - id)) : xstrdup("");
        mm->mapped = mapped;
        return mm;
}

int matrix_new(Matrix **ret)
{
        if (!ret)
                return -EINVAL;
        *ret = xcalloc(1, sizeof(Matrix));
        return 0;
}

void matrix_free(Matrix *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->n_models; i++)
                matrix_model_free(m->models[i]);
        free(m->models);
        for (size_t i = 0; i < m->n_providers; i++)
                free(m->providers[i].id);
        free(m->providers);
        free(m);
}

DEFINE_FREEP(Matrix, matrix_free)

/* Index of the first row whose id is >= id. */
static size_t matrix_model_lower_bound(const Matrix *m, const char *id)
{
        size_t lo = 0, hi = m->n_models;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(m->models[mid]->id, id) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

MatrixModel *matrix_find_model(const Matrix *m, const char *id)
{
        size_t i;

        if (!m || !id)
                return NULL;
        i = matrix_model_lower_bound(m, id);
        if (i < m->n_models && streq(m->models[i]->id, id))
                return m->models[i];
        return NULL;
}

int matrix_provider_index(const Matrix *m, const char *provider)
{
        if (!m || !provider)
                return -ENOENT;
        for (size_t i = 0; i < m->n_providers; i++)
                if (streq(m->providers[i].id, provider))
                        return (int)i;
        return -ENOENT;
}

const Cell *matrix_cell(const MatrixModel *mm, size_t i)
{
        if (!mm || i >= mm->n_cells)
                return &unknown_cell;
        return &mm->cells[i];
}

/* The cell at column i for writing; a lagging row grows to the full width first. */
static Cell *matrix_cell_mut(const Matrix *m, MatrixModel *mm, size_t i)
{
        if (i >= mm->n_cells) {
                mm->cells = xreallocarray(mm->cells, m->n_providers, sizeof(Cell));
                for (size_t k = mm->n_cells; k < m->n_providers; k++)
                        mm->cells[k] = unknown_cell;
                mm->n_cells = m->n_providers;
        }
        return &mm->cells[i];
}

/* Insert a provider column at its place in the order; rows that reach past it shift. */
static size_t matrix_add_provider(Matrix *m, const char *id, ProviderKind kind)
{
        size_t pos = 0;

        while (pos < m->n_providers &&
               matrix_provider_cmp(m->providers[pos].kind, m->providers[pos].id, kind, id) < 0)
                pos++;
        util_grow((void **)&m->providers, &m->cap_providers, m->n_providers + 1,
                  sizeof(MatrixProvider));
        memmove(&m->providers[pos + 1], &m->providers[pos],
                (m->n_providers - pos) * sizeof(MatrixProvider));
        m->providers[pos] = (MatrixProvider){.id = xstrdup(id), .kind = kind};
        m->n_providers++;

        for (size_t r = 0; r < m->n_models; r++) {
                MatrixModel *mm = m->models[r];
                if (mm->n_cells <= pos)
                        continue;
                mm->cells = xreallocarray(mm->cells, mm->n_cells + 1, sizeof(Cell));
                memmove(&mm->cells[pos + 1], &mm->cells[pos], (mm->n_cells - pos) * sizeof(Cell));
                mm->cells[pos] = unknown_cell;
                mm->n_cells++;
        }
        return pos;
}

static Evidence *matrix_cell_evidence(const Cell *c, const char *source)
{
        for (size_t i = 0; i < c->n_evidence; i++)
                if (streq(c->evidence[i].source, source))
                        return &c->evidence[i];
        return NULL;
}

static int matrix_strp_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and deduplicate v in place (pointers only; duplicates are freed if owned). */
static size_t matrix_strv_uniq(char **v, size_t n, bool owned)
{
        size_t o = 0;

        if (n == 0)
                return 0;
        qsort(v, n, sizeof(char *), matrix_strp_cmp);
        for (size_t i = 0; i < n; i++) {
                if (o > 0 && streq(v[o - 1], v[i])) {
                        if (owned)
                                free(v[i]);
                        continue;
                }
                v[o++] = v[i];
        }
        return o;
}

static bool matrix_price_ok(double p)
{
        return isfinite(p) && p >= 0;
}

static double matrix_price_min(double cur, double p)
{
        if (!matrix_price_ok(p))
                return cur;
        if (isnan(cur) || p < cur)
                return p;
        return cur;
}

static int64_t matrix_eol_min(int64_t cur, int64_t eol)
{
        if (eol <= 0)
                return cur;
        if (cur == 0 || eol < cur)
                return eol;
        return cur;
}

static Lifecycle matrix_lifecycle_worst(Lifecycle cur, Lifecycle l)
{
        /* The enum is ordered by severity: retired > deprecated > legacy > preview > active. */
        if (l < 0 || l >= _LIFECYCLE_MAX)
                return cur;
        return l > cur ? l : cur;
}

/* Recompute the merged fields of a cell from its evidence (docs/matrix.md). */
static void matrix_cell_merge(Cell *c)
{
        size_t n_regions = 0;
        char **regions = NULL;
        bool avail = false, unavail = false;

        matrix_strv_free(c->regions, c->n_regions);
        c->regions = NULL;
        c->n_regions = 0;
        c->price_in = c->price_out = NAN;
        c->lifecycle = LIFECYCLE_UNKNOWN;
        c->eol = 0;
        c->first_seen = c->last_seen = 0;

        for (size_t i = 0; i < c->n_evidence; i++) {
                const Evidence *e = &c->evidence[i];

                if (e->first_seen && (c->first_seen == 0 || e->first_seen < c->first_seen))
                        c->first_seen = e->first_seen;
                if (e->last_seen > c->last_seen)
                        c->last_seen = e->last_seen;
                if (e->said != CELL_AVAILABLE) {
                        unavail = unavail || e->said == CELL_UNAVAILABLE;
                        continue;
                }
                avail = true;
                n_regions += e->n_regions;
                c->price_in = matrix_price_min(c->price_in, e->price_in);
                c->price_out = matrix_price_min(c->price_out, e->price_out);
                c->lifecycle = matrix_lifecycle_worst(c->lifecycle, e->lifecycle);
                c->eol = matrix_eol_min(c->eol, e->eol);
        }
        c->state = avail ? CELL_AVAILABLE : unavail ? CELL_UNAVAILABLE : CELL_UNKNOWN;

        if (n_regions == 0)
                return;
        regions = xcalloc(n_regions, sizeof(char *));
        n_regions = 0;
        for (size_t i = 0; i < c->n_evidence; i++) {
                const Evidence *e = &c->evidence[i];
                if (e->said != CELL_AVAILABLE)
                        continue;
                for (size_t k = 0; k < e->n_regions; k++)
                        regions[n_regions++] = e->regions[k];
        }
        n_regions = matrix_strv_uniq(regions, n_regions, false);
        n_regions = MIN(n_regions, (size_t)MATRIX_MAX_REGIONS);
        for (size_t k = 0; k < n_regions; k++)
                regions[k] = xstrdup(regions[k]);
        c->regions = regions;
        c->n_regions = n_regions;
}

static void matrix_change_add(MatrixChanges *changes, const char *model, const char *provider,
                              CellState from, CellState to)
{
        if (!changes)
                return;
        util_grow((void **)&changes->items, &changes->cap, changes->n + 1, sizeof(MatrixChange));
        changes->items[changes->n++] = (MatrixChange){
            .model = xstrdup(model),
            .provider = xstrdup(provider),
            .from = from,
            .to = to,
        };
}

void matrix_changes_clear(MatrixChanges *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++) {
                free(c->items[i].model);
                free(c->items[i].provider);
        }
        free(c->items);
        *c = (MatrixChanges){0};
}

/* Re-merge a cell and report it if its state moved. */
static void matrix_cell_settle(const Matrix *m, const MatrixModel *mm, size_t i, Cell *c,
                               MatrixChanges *changes)
{
        CellState from = c->state;

        matrix_cell_merge(c);
        if (c->state != from)
                matrix_change_add(changes, mm->id, m->providers[i].id, from, c->state);
}

static bool matrix_input_valid(const MatrixInput *in)
{
        return in->obs && in->kind >= 0 && in->kind < _PROVIDER_KIND_MAX &&
               matrix_text_valid(in->provider, false) && matrix_text_valid(in->model, false);
}

/* Inputs grouped by cell, in input order within a cell (the first one names raw_id). */
static int matrix_input_cmp(const void *a, const void *b, void *userdata)
{
        const MatrixInput *base = userdata;
        size_t x = *(const size_t *)a, y = *(const size_t *)b;
        int r = strcmp(base[x].model, base[y].model);

        if (r == 0)
                r = strcmp(base[x].provider, base[y].provider);
        if (r == 0)
                r = x < y ? -1 : x > y ? 1 : 0;
        return r;
}

/* What one parse says about one cell, merged over its duplicates the way a cell merges its
 * evidence: when any duplicate shows the model available, only those count. */
typedef struct MatrixGroup {
        CellState said;
        char **regions;
        size_t n_regions;
        double price_in, price_out;
        Lifecycle lifecycle;
        int64_t eol;
} MatrixGroup;

static void matrix_group_build(const MatrixInput *in, const size_t *idx, size_t n, MatrixGroup *g)
{
        size_t total = 0;

        *g = (MatrixGroup){.said = CELL_UNAVAILABLE, .price_in = NAN, .price_out = NAN};
        for (size_t k = 0; k < n; k++)
                if (in[idx[k]].obs->available)
                        g->said = CELL_AVAILABLE;
        for (size_t k = 0; k < n; k++) {
                const Observation *o = in[idx[k]].obs;
                if (g->said == CELL_AVAILABLE && !o->available)
                        continue;
                total += MIN(o->n_regions, (size_t)MATRIX_MAX_REGIONS);
                g->price_in = matrix_price_min(g->price_in, o->price_in);
                g->price_out = matrix_price_min(g->price_out, o->price_out);
                g->lifecycle = matrix_lifecycle_worst(g->lifecycle, o->lifecycle);
                g->eol = matrix_eol_min(g->eol, o->eol);
        }
        if (total == 0)
                return;
        g->regions = xcalloc(total, sizeof(char *));
        for (size_t k = 0; k < n; k++) {
                const Observation *o = in[idx[k]].obs;
                if (g->said == CELL_AVAILABLE && !o->available)
                        continue;
                for (size_t r = 0; r < o->n_regions && r < MATRIX_MAX_REGIONS; r++) {
                        char *s = matrix_text_clean(o->regions[r]);
                        if (*s == '\0') {
                                free(s);
                                continue;
                        }
                        g->regions[g->n_regions++] = s;
                }
        }
        g->n_regions = matrix_strv_uniq(g->regions, g->n_regions, true);
        while (g->n_regions > MATRIX_MAX_REGIONS)
                free(g->regions[--g->n_regions]);
}

/* Checks that need no change to m: an apply either merges completely or not at all. */
static int matrix_apply_check(const Matrix *m, const char *source, const MatrixInput *in,
                              const size_t *idx, size_t n)
{
        size_t new_models = 0, new_providers = 0;
        const char *new_provider_ids[MATRIX_MAX_PROVIDERS];

        const MatrixModel *mm = NULL;

        for (size_t k = 0; k < n; k++) {
                const MatrixInput *i = &in[idx[k]];
                int p;

                if (k == 0 || !streq(i->model, in[idx[k - 1]].model)) {
                        mm = matrix_find_model(m, i->model);
                        if (!mm)
                                new_models++;
                }
                p = matrix_provider_index(m, i->provider);
                if (p < 0) {
                        bool seen = false;
                        for (size_t q = 0; q < new_providers; q++)
                                if (streq(new_provider_ids[q], i->provider))
                                        seen = true;
                        if (!seen) {
                                if (m->n_providers + new_providers >= MATRIX_MAX_PROVIDERS)
                                        return -E2BIG;
                                new_provider_ids[new_providers++] = i->provider;
                        }
                } else if (mm) {
                        const Cell *c = matrix_cell(mm, (size_t)p);
                        if (c->n_evidence >= MATRIX_MAX_EVIDENCE &&
                            !matrix_cell_evidence(c, source))
                                return -E2BIG;
                }
        }
        if (m->n_models + new_models > MATRIX_MAX_MODELS)
                return -E2BIG;
        return 0;
}

/* Add the rows the parse names that the matrix lacks, in one sorted merge. */
static void matrix_add_models(Matrix *m, const MatrixInput *in, const size_t *idx, size_t n)
{
        MatrixModel **add = NULL, **merged;
        size_t n_add = 0, a = 0, b = 0, o = 0;

        for (size_t k = 0; k < n; k++) {
                const MatrixInput *i = &in[idx[k]];
                if (n_add > 0 && streq(add[n_add - 1]->id, i->model)) {
                        add[n_add - 1]->mapped |= i->mapped;
                        continue;
                }
                if (matrix_find_model(m, i->model))
                        continue;
                add = xreallocarray(add, n_add + 1, sizeof(*add));
                add[n_add++] = matrix_model_alloc(i->model, i->mapped);
        }
        if (n_add == 0)
                return;

        /* idx is sorted by model, so add is too. */
        merged = xcalloc(m->n_models + n_add, sizeof(*merged));
        while (a < m->n_models || b < n_add) {
                if (b == n_add || (a < m->n_models && strcmp(m->models[a]->id, add[b]->id) < 0))
                        merged[o++] = m->models[a++];
                else
                        merged[o++] = add[b++];
        }
        free(m->models);
        free(add);
        m->models = merged;
        m->n_models = o;
        m->cap_models = o;
}

static void matrix_evidence_take(Evidence *e, MatrixGroup *g, uint64_t now, bool fresh)
{
        if (fresh || e->said != g->said)
                e->changed = now;
        e->said = g->said;
        matrix_strv_free(e->regions, e->n_regions);
        e->regions = TAKE_PTR(g->regions);
        e->n_regions = g->n_regions;
        e->price_in = g->price_in;
        e->price_out = g->price_out;
        e->lifecycle = g->lifecycle;
        e->eol = g->eol;
        e->last_seen = now;
        e->missing = MISSING_TOUCHED;
}

int matrix_apply(Matrix *m, const char *source, const MatrixInput *in, size_t n, uint64_t now,
                 unsigned removal_polls, MatrixChanges *changes)
{
        _cleanup_free_ size_t *idx = NULL;
        int r;

        if (!m || !matrix_text_valid(source, false) || (n > 0 && !in))
                return -EINVAL;
        for (size_t k = 0; k < n; k++)
                if (!matrix_input_valid(&in[k]))
                        return -EINVAL;
        if (removal_polls == 0)
                removal_polls = 1;

        idx = xcalloc(MAX(n, (size_t)1), sizeof(size_t));
        for (size_t k = 0; k < n; k++)
                idx[k] = k;
        qsort_r(idx, n, sizeof(size_t), matrix_input_cmp, (void *)in);

        r = matrix_apply_check(m, source, in, idx, n);
        if (r < 0)
                return r;

        /* From here on nothing can fail. New columns first, so indices stay put below. */
        for (size_t k = 0; k < n; k++)
                if (matrix_provider_index(m, in[k].provider) < 0)
                        matrix_add_provider(m, in[k].provider, in[k].kind);
        matrix_add_models(m, in, idx, n);

        for (size_t k = 0; k < n;) {
                const MatrixInput *first = &in[idx[k]];
                size_t end = k + 1;
                MatrixModel *mm;
                MatrixGroup g;
                Evidence *e;
                Cell *c;
                bool fresh = false;

                while (end < n && streq(in[idx[end]].model, first->model) &&
                       streq(in[idx[end]].provider, first->provider))
                        end++;

                mm = matrix_find_model(m, first->model);
                for (size_t q = k; q < end; q++)
                        mm->mapped |= in[idx[q]].mapped;
                c = matrix_cell_mut(m, mm, (size_t)matrix_provider_index(m, first->provider));
                e = matrix_cell_evidence(c, source);
                if (!e) {
                        c->evidence =
                            xreallocarray(c->evidence, c->n_evidence + 1, sizeof(Evidence));
                        e = &c->evidence[c->n_evidence++];
                        *e = (Evidence){
                            .source = xstrdup(source),
                            .raw_id = matrix_text_clean(first->obs->model),
                            .first_seen = now,
                        };
                        fresh = true;
                }
                matrix_group_build(in, idx + k, end - k, &g);
                matrix_evidence_take(e, &g, now, fresh);
                k = end;
        }

        /* DESIGN 6.2: evidence this parse did not touch counts a miss; only K misses in a
         * row turn it unavailable. Every cell holding this source's evidence is re-merged. */
        for (size_t r_ = 0; r_ < m->n_models; r_++) {
                MatrixModel *mm = m->models[r_];
                for (size_t i = 0; i < mm->n_cells; i++) {
                        Cell *c = &mm->cells[i];
                        Evidence *e = matrix_cell_evidence(c, source);
                        if (!e)
                                continue;
                        if (e->missing == MISSING_TOUCHED)
                                e->missing = 0;
                        else {
                                if (e->missing < MATRIX_MAX_MISSING)
                                        e->missing++;
                                if (e->missing >= removal_polls && e->said == CELL_AVAILABLE) {
                                        e->said = CELL_UNAVAILABLE;
                                        e->changed = now;
                                }
                        }
                        matrix_cell_settle(m, mm, i, c, changes);
                }
        }
        return 0;
}

typedef struct MatrixPairSet {
        const MatrixInput **slots;
        size_t mask;
} MatrixPairSet;

static uint64_t matrix_pair_hash(const char *model, const char *provider)
{
        uint64_t h = util_fnv1a(UTIL_FNV_INIT, model, strlen(model) + 1);
        return util_fnv1a(h, provider, strlen(provider));
}

static bool matrix_pair_set_has(const MatrixPairSet *s, const char *model, const char *provider)
{
        for (size_t i = matrix_pair_hash(model, provider) & s->mask;; i = (i + 1) & s->mask) {
                const MatrixInput *x = s->slots[i];
                if (!x)
                        return false;
                if (streq(x->model, model) && streq(x->provider, provider))
                        return true;
        }
}

int matrix_count_absent(const Matrix *m, const char *source, const MatrixInput *in, size_t n,
                        size_t *ret_rows, size_t *ret_absent)
{
        _cleanup_free_ const MatrixInput **slots = NULL;
        MatrixPairSet set;
        size_t size = 16, rows = 0, absent = 0;

        if (!m || !source || (n > 0 && !in))
                return -EINVAL;
        while (size < 2 * n)
                size *= 2;
        slots = xcalloc(size, sizeof(*slots));
        set = (MatrixPairSet){.slots = slots, .mask = size - 1};
        for (size_t k = 0; k < n; k++) {
                if (!in[k].model || !in[k].provider ||
                    matrix_pair_set_has(&set, in[k].model, in[k].provider))
                        continue;
                size_t i = matrix_pair_hash(in[k].model, in[k].provider) & set.mask;
                while (slots[i])
                        i = (i + 1) & set.mask;
                slots[i] = &in[k];
        }

        for (size_t r = 0; r < m->n_models; r++) {
                const MatrixModel *mm = m->models[r];
                for (size_t i = 0; i < mm->n_cells; i++) {
                        const Evidence *e = matrix_cell_evidence(&mm->cells[i], source);
                        if (!e || e->said != CELL_AVAILABLE)
                                continue;
                        rows++;
                        if (!matrix_pair_set_has(&set, mm->id, m->providers[i].id))
                                absent++;
                }
        }
        if (ret_rows)
                *ret_rows = rows;
        if (ret_absent)
                *ret_absent = absent;
        return 0;
}

size_t matrix_count_providers(const Matrix *m, const MatrixModel *mm, int kind, CellState st)
{
        size_t count = 0;

        if (!m)
                return 0;
        for (size_t i = 0; i < m->n_providers; i++) {
                if (kind >= 0 && m->providers[i].kind != (ProviderKind)kind)
                        continue;
                if (matrix_cell(mm, i)->state == st)
                        count++;
        }
        return count;
}

int matrix_forget_source(Matrix *m, const char *source, MatrixChanges *changes)
{
        if (!m || !source)
                return -EINVAL;
        for (size_t r = 0; r < m->n_models; r++) {
                MatrixModel *mm = m->models[r];
                for (size_t i = 0; i < mm->n_cells; i++) {
                        Cell *c = &mm->cells[i];
                        Evidence *e = matrix_cell_evidence(c, source);
                        size_t at;

                        if (!e)
                                continue;
                        at = (size_t)(e - c->evidence);
                        matrix_evidence_done(e);
                        memmove(&c->evidence[at], &c->evidence[at + 1],
                                (c->n_evidence - at - 1) * sizeof(Evidence));
                        if (--c->n_evidence == 0) {
                                free(c->evidence);
                                c->evidence = NULL;
                        }
                        matrix_cell_settle(m, mm, i, c, changes);
                }
        }
        return 0;
}

/* ---- state file ---------------------------------------------------------------------- */

static int matrix_put(json_t *o, const char *key, json_t *v)
{
        if (!v || json_object_set_new(o, key, v) < 0)
                return -ENOMEM;
        return 0;
}

static json_t *matrix_json_price(double p)
{
        return matrix_price_ok(p) ? json_real(p) : json_null();
}

static int matrix_json_time(json_t *o, const char *key, uint64_t t)
{
        if (t > (uint64_t)INT64_MAX)
                return -ERANGE;
        return matrix_put(o, key, json_integer((json_int_t)t));
}

static int matrix_evidence_to_json(const Evidence *e, json_t **ret)
{
        json_t *o = json_object(), *regions = json_array();
        int r = -ENOMEM;

        if (!o || !regions)
                goto fail;
        for (size_t i = 0; i < e->n_regions; i++)
                if (json_array_append_new(regions, json_string(e->regions[i])) < 0)
                        goto fail;
        if ((r = matrix_put(o, "source", json_string(e->source))) < 0 ||
            (r = matrix_put(o, "said", json_string(cell_state_name(e->said)))) < 0 ||
            (r = matrix_put(o, "raw_id", json_string(e->raw_id ? e->raw_id : ""))) < 0 ||
            (r = matrix_put(o, "regions", TAKE_PTR(regions))) < 0 ||
            (r = matrix_put(o, "price_in", matrix_json_price(e->price_in))) < 0 ||
            (r = matrix_put(o, "price_out", matrix_json_price(e->price_out))) < 0 ||
            (r = matrix_put(o, "lifecycle", json_string(lifecycle_name(e->lifecycle)))) < 0 ||
            (r = matrix_put(o, "eol", json_integer(e->eol))) < 0 ||
            (r = matrix_json_time(o, "first_seen", e->first_seen)) < 0 ||
            (r = matrix_json_time(o, "last_seen", e->last_seen)) < 0 ||
            (r = matrix_json_time(o, "changed", e->changed)) < 0 ||
            (r = matrix_put(o, "missing", json_integer(e->missing))) < 0)
                goto fail;
        *ret = o;
        return 0;
fail:
        json_decref(regions);
        json_decref(o);
        return r;
}

static int matrix_model_to_json(const MatrixModel *mm, json_t **ret)
{
        json_t *o = json_object(), *cells = json_array();
        int r = -ENOMEM;

        if (!o || !cells)
                goto fail;
        for (size_t i = 0; i < mm->n_cells; i++) {
                const Cell *c = &mm->cells[i];
                json_t *cell, *ev;

                if (c->n_evidence == 0)
                        continue;
                cell = json_object();
                ev = json_array();
                if (!cell || !ev || json_array_append_new(cells, cell) < 0) {
                        json_decref(ev);
                        r = -ENOMEM;
                        goto fail;
                }
                if ((r = matrix_put(cell, "provider", json_integer((json_int_t)i))) < 0 ||
                    (r = matrix_put(cell, "evidence", ev)) < 0)
                        goto fail;
                for (size_t k = 0; k < c->n_evidence; k++) {
                        json_t *e;
                        r = matrix_evidence_to_json(&c->evidence[k], &e);
                        if (r < 0)
                                goto fail;
                        if (json_array_append_new(ev, e) < 0) {
                                r = -ENOMEM;
                                goto fail;
                        }
                }
        }
        if ((r = matrix_put(o, "id", json_string(mm->id))) < 0 ||
            (r = matrix_put(o, "mapped", json_boolean(mm->mapped))) < 0 ||
            (r = matrix_put(o, "cells", TAKE_PTR(cells))) < 0)
                goto fail;
        *ret = o;
        return 0;
fail:
        json_decref(cells);
        json_decref(o);
        return r;
}

int matrix_to_state_json(const Matrix *m, json_t **ret)
{
        json_t *o, *providers, *models;
        int r;

        if (!m || !ret)
                return -EINVAL;
        o = json_object();
        if (!o)
                return -ENOMEM;
        providers = json_array();
        models = json_array();
        r = matrix_put(o, "format", json_string(STATE_FORMAT));
        if (r < 0 || (r = matrix_put(o, "providers", providers)) < 0 ||
            (r = matrix_put(o, "models", models)) < 0)
                goto fail;
        for (size_t i = 0; i < m->n_providers; i++) {
                json_t *p = json_object();
                if (!p || json_array_append_new(providers, p) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                if ((r = matrix_put(p, "id", json_string(m->providers[i].id))) < 0 ||
                    (r = matrix_put(p, "kind",
                                    json_string(matrix_kind_name(m->providers[i].kind)))) < 0)
                        goto fail;
        }
        for (size_t i = 0; i < m->n_models; i++) {
                json_t *mj = NULL;
                r = matrix_model_to_json(m->models[i], &mj);
                if (r < 0)
                        goto fail;
                if (json_array_append_new(models, mj) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        *ret = o;
        return 0;
fail:
        json_decref(o);
        return r;
}

static const char *matrix_get_text(const json_t *o, const char *key, bool allow_empty)
{
        const char *s = json_string_value(json_object_get(o, key));

        if (!s || strlen(s) != json_string_length(json_object_get(o, key)) ||
            !matrix_text_valid(s, allow_empty))
                return NULL;
        return s;
}

static int matrix_get_uint(const json_t *o, const char *key, uint64_t max, uint64_t *ret)
{
        const json_t *v = json_object_get(o, key);
        json_int_t x;

        if (!json_is_integer(v))
                return -EBADMSG;
        x = json_integer_value(v);
        if (x < 0 || (uint64_t)x > max)
                return -EBADMSG;
        *ret = (uint64_t)x;
        return 0;
}

static int matrix_get_price(const json_t *o, const char *key, double *ret)
{
        const json_t *v = json_object_get(o, key);

        if (json_is_null(v)) {
                *ret = NAN;
                return 0;
        }
        if (!json_is_number(v) || !matrix_price_ok(json_number_value(v)))
                return -EBADMSG;
        *ret = json_number_value(v);
        return 0;
}

static int matrix_name_index(const char *s, const char *const *names, size_t n)
{
        if (!s)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++)
                if (names[i] && streq(s, names[i]))
                        return (int)i;
        return -EBADMSG;
}

/* Fill e (zeroed by the caller, freed by the caller's cleanup on failure) from j. */
static int matrix_evidence_from_json(const json_t *j, Evidence *e)
{
        static const char *const said_names[] = {"available", "unavailable"};
        const char *lifecycle_names[_LIFECYCLE_MAX];
        const json_t *regions;
        const char *s;
        uint64_t u;
        int r;

        if (!json_is_object(j))
                return -EBADMSG;
        if (!(s = matrix_get_text(j, "source", false)))
                return -EBADMSG;
        e->source = xstrdup(s);
        r = matrix_name_index(json_string_value(json_object_get(j, "said")), said_names, 2);
        if (r < 0)
                return r;
        e->said = r == 0 ? CELL_AVAILABLE : CELL_UNAVAILABLE;
        if (!(s = matrix_get_text(j, "raw_id", true)))
                return -EBADMSG;
        e->raw_id = xstrdup(s);

        regions = json_object_get(j, "regions");
        if (!json_is_array(regions) || json_array_size(regions) > MATRIX_MAX_REGIONS)
                return -EBADMSG;
        e->regions = xcalloc(MAX(json_array_size(regions), (size_t)1), sizeof(char *));
        for (size_t i = 0; i < json_array_size(regions); i++) {
                const json_t *v = json_array_get(regions, i);
                s = json_string_value(v);
                if (!s || strlen(s) != json_string_length(v) || !matrix_text_valid(s, false))
                        return -EBADMSG;
                /* Stored sorted and unique, so anything else was not written by us. */
                if (i > 0 && strcmp(e->regions[i - 1], s) >= 0)
                        return -EBADMSG;
                e->regions[e->n_regions++] = xstrdup(s);
        }

        if (matrix_get_price(j, "price_in", &e->price_in) < 0 ||
            matrix_get_price(j, "price_out", &e->price_out) < 0)
                return -EBADMSG;
        for (size_t i = 0; i < _LIFECYCLE_MAX; i++)
                lifecycle_names[i] = lifecycle_name((Lifecycle)i);
        r = matrix_name_index(json_string_value(json_object_get(j, "lifecycle")), lifecycle_names,
                              _LIFECYCLE_MAX);
        if (r < 0)
                return r;
        e->lifecycle = (Lifecycle)r;
        if (matrix_get_uint(j, "eol", INT64_MAX, &u) < 0)
                return -EBADMSG;
        e->eol = (int64_t)u;
        if (matrix_get_uint(j, "first_seen", INT64_MAX, &e->first_seen) < 0 ||
            matrix_get_uint(j, "last_seen", INT64_MAX, &e->last_seen) < 0 ||
            matrix_get_uint(j, "changed", INT64_MAX, &e->changed) < 0 ||
            matrix_get_uint(j, "missing", MATRIX_MAX_MISSING, &u) < 0)
                return -EBADMSG;
        e->missing = (unsigned)u;
        return 0;
}

static int matrix_cell_from_json(const json_t *j, Cell *c)
{
        const json_t *ev = json_object_get(j, "evidence");
        size_t n;

        if (!json_is_array(ev))
                return -EBADMSG;
        n = json_array_size(ev);
        if (n == 0 || n > MATRIX_MAX_EVIDENCE)
                return -EBADMSG;
        c->evidence = xcalloc(n, sizeof(Evidence));
        for (size_t k = 0; k < n; k++) {
                int r;
                /* Counted before filling, so the caller's cleanup frees a half-built one. */
                c->n_evidence++;
                r = matrix_evidence_from_json(json_array_get(ev, k), &c->evidence[k]);
                if (r < 0)
                        return r;
                for (size_t q = 0; q < k; q++)
                        if (streq(c->evidence[q].source, c->evidence[k].source))
                                return -EBADMSG;
        }
        matrix_cell_merge(c);
        return 0;
}

static int matrix_model_from_json(const Matrix *m, const json_t *j, MatrixModel *mm)
{
        const json_t *cells = json_object_get(j, "cells");
        int64_t prev = -1;

        if (!json_is_array(cells) || json_array_size(cells) > m->n_providers)
                return -EBADMSG;
        for (size_t k = 0; k < json_array_size(cells); k++) {
                const json_t *cj = json_array_get(cells, k), *pj;
                json_int_t p;
                int r;

                if (!json_is_object(cj))
                        return -EBADMSG;
                pj = json_object_get(cj, "provider");
                if (!json_is_integer(pj))
                        return -EBADMSG;
                p = json_integer_value(pj);
                if (p <= prev || p < 0 || (uint64_t)p >= m->n_providers)
                        return -EBADMSG;
                prev = p;
                r = matrix_cell_from_json(cj, matrix_cell_mut(m, mm, (size_t)p));
                if (r < 0)
                        return r;
        }
        return 0;
}

int matrix_from_state_json(const json_t *j, Matrix **ret)
{
        _cleanup_(matrix_freep) Matrix *m = NULL;
        const json_t *providers, *models;
        const char *format;
        size_t n;

        if (!ret)
                return -EINVAL;
        if (!json_is_object(j))
                return -EBADMSG;
        format = json_string_value(json_object_get(j, "format"));
        if (!format || !streq(format, STATE_FORMAT))
                return -EBADMSG;
        providers = json_object_get(j, "providers");
        models = json_object_get(j, "models");
        if (!json_is_array(providers) || json_array_size(providers) > MATRIX_MAX_PROVIDERS ||
            !json_is_array(models) || json_array_size(models) > MATRIX_MAX_MODELS)
                return -EBADMSG;

        m = xcalloc(1, sizeof(Matrix));
        n = json_array_size(providers);
        m->providers = xcalloc(MAX(n, (size_t)1), sizeof(MatrixProvider));
        m->cap_providers = MAX(n, (size_t)1);
        for (size_t i = 0; i < n; i++) {
                const json_t *p = json_array_get(providers, i);
                const char *id;
                int kind;

                if (!json_is_object(p) || !(id = matrix_get_text(p, "id", false)))
                        return -EBADMSG;
                kind = matrix_name_index(json_string_value(json_object_get(p, "kind")),
                                         matrix_kind_names, _PROVIDER_KIND_MAX);
                if (kind < 0)
                        return -EBADMSG;
                if (matrix_provider_index(m, id) >= 0)
                        return -EBADMSG;
                if (i > 0 && matrix_provider_cmp(m->providers[i - 1].kind, m->providers[i - 1].id,
                                                 (ProviderKind)kind, id) >= 0)
                        return -EBADMSG;
                m->providers[m->n_providers++] =
                    (MatrixProvider){.id = xstrdup(id), .kind = (ProviderKind)kind};
        }

        n = json_array_size(models);
        m->models = xcalloc(MAX(n, (size_t)1), sizeof(MatrixModel *));
        m->cap_models = MAX(n, (size_t)1);
        for (size_t i = 0; i < n; i++) {
                const json_t *mj = json_array_get(models, i);
                const json_t *mapped = json_object_get(mj, "mapped");
                const char *id;
                int r;

                if (!json_is_object(mj) || !(id = matrix_get_text(mj, "id", false)) ||
                    !json_is_boolean(mapped))
                        return -EBADMSG;
                if (i > 0 && strcmp(m->models[i - 1]->id, id) >= 0)
                        return -EBADMSG;
                m->models[m->n_models++] = matrix_model_alloc(id, json_is_true(mapped));
                r = matrix_model_from_json(m, mj, m->models[i]);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(m);
        return 0;
}
