#include "lockwatch/matrix.h"

#include <limits.h>
#include <math.h>
#include <stddef.h>

#include "lockwatch/util.h"

/* During one apply, `missing` of every evidence the parse touched holds this value, so the
 * pass over untouched evidence needs no side table. It never survives an apply. */
#define MISSING_TOUCHED UINT_MAX

#define STATE_FORMAT "lockwatch.matrix-state/1"

/* The narrow counters of Cell and Evidence rely on these caps. */
_Static_assert(MATRIX_MAX_PROVIDERS - 1 <= UINT16_MAX, "Cell.provider is 16 bits");
_Static_assert(MATRIX_MAX_PROVIDERS <= UINT16_MAX, "MatrixModel.n_cells is 16 bits");
_Static_assert(MATRIX_MAX_REGIONS <= UINT16_MAX, "n_regions is 16 bits");
_Static_assert(MATRIX_MAX_EVIDENCE <= UINT16_MAX, "Cell.n_evidence is 16 bits");
_Static_assert(MATRIX_MAX_MISSING < UINT_MAX, "MISSING_TOUCHED must stay out of range");
_Static_assert(_CELL_STATE_MAX <= 8 && _LIFECYCLE_MAX <= 8,
               "Cell and Evidence keep them in 4 bits");
_Static_assert(sizeof(void *) != 8 || sizeof(Cell) == 32, "a Cell is 32 bytes");

/* Sources and regions repeat across thousands of cells: each distinct text is stored once,
 * with a count of the evidence that holds it, and freed with the last holder. */
struct MatrixAtom {
        struct MatrixAtom *next;
        size_t refs;
        uint32_t hash;
        uint32_t len;
        char text[];
};
typedef struct MatrixAtom MatrixAtom;

static const Cell unknown_cell = {
    .state = CELL_UNKNOWN,
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

static const char *const source_status_names[_SOURCE_STATUS_MAX] = {
    [SOURCE_NEW] = "new",
    [SOURCE_OK] = "ok",
    [SOURCE_DEGRADED] = "degraded",
    [SOURCE_SUSPECT] = "suspect",
};

const char *source_status_name(SourceStatus st)
{
        if (st < 0 || st >= _SOURCE_STATUS_MAX)
                return "unknown";
        return source_status_names[st];
}

/* Text the matrix stores and serializes: at most MATRIX_MAX_ID bytes of valid UTF-8 without
 * control characters (ids end up in JSON and on terminals). len excludes the NUL. */
static bool matrix_text_valid_len(const char *s, size_t len, bool allow_empty)
{
        if (len > MATRIX_MAX_ID || (len == 0 && !allow_empty))
                return false;
        return util_utf8_valid(s, len);
}

static bool matrix_text_valid(const char *s, bool allow_empty)
{
        if (!s)
                return false;
        return matrix_text_valid_len(s, strnlen(s, MATRIX_MAX_ID + 1), allow_empty);
}

/* Copy remote text into the stored form in buf (MATRIX_MAX_ID + 1 bytes): invalid bytes and
 * control characters become '?', and the copy stops at MATRIX_MAX_ID bytes on a character
 * boundary. Returns the length. */
static size_t matrix_text_clean(const char *s, char *buf)
{
        size_t len, o = 0;

        if (!s) {
                buf[0] = '\0';
                return 0;
        }
        len = strnlen(s, MATRIX_MAX_ID * 4);
        for (size_t i = 0; i < len;) {
                size_t n = util_utf8_char_len((const unsigned char *)s + i, len - i);
                if (n == 0 || util_is_control((unsigned char)s[i])) {
                        if (o + 1 > MATRIX_MAX_ID)
                                break;
                        buf[o++] = '?';
                        i++;
                        continue;
                }
                if (o + n > MATRIX_MAX_ID)
                        break;
                memcpy(buf + o, s + i, n);
                o += n;
                i += n;
        }
        buf[o] = '\0';
        return o;
}

static int matrix_provider_cmp(ProviderKind ka, const char *a, ProviderKind kb, const char *b)
{
        if (ka != kb)
                return ka < kb ? -1 : 1;
        return strcmp(a, b);
}

/* ---- shared texts -------------------------------------------------------------------- */

static MatrixAtom *matrix_atom_of(const char *text)
{
        return (MatrixAtom *)(uintptr_t)(text - offsetof(MatrixAtom, text));
}

static uint32_t matrix_atom_hash(const char *s, size_t len)
{
        return (uint32_t)util_hash64(UTIL_FNV_INIT, s, len);
}

static MatrixAtom *matrix_atom_lookup(const Matrix *m, const char *s, size_t len, uint32_t h)
{
        if (m->n_atom_buckets == 0)
                return NULL;
        for (MatrixAtom *a = m->atoms[h & (m->n_atom_buckets - 1)]; a; a = a->next)
                if (a->hash == h && a->len == len && memcmp(a->text, s, len) == 0)
                        return a;
        return NULL;
}

static void matrix_atoms_grow(Matrix *m)
{
        size_t n = m->n_atom_buckets ? m->n_atom_buckets * 2 : 64;
        MatrixAtom **b = xcalloc(n, sizeof(*b));

        for (size_t i = 0; i < m->n_atom_buckets; i++) {
                MatrixAtom *a = m->atoms[i], *next;
                for (; a; a = next) {
                        next = a->next;
                        a->next = b[a->hash & (n - 1)];
                        b[a->hash & (n - 1)] = a;
                }
        }
        free(m->atoms);
        m->atoms = b;
        m->n_atom_buckets = n;
}

/* A reference to the shared copy of the len bytes at s (valid stored text), made on first use. */
static char *matrix_atom_get(Matrix *m, const char *s, size_t len)
{
        uint32_t h = matrix_atom_hash(s, len);
        MatrixAtom *a = matrix_atom_lookup(m, s, len, h);

        if (!a) {
                /* Two texts a bucket on average before the table doubles: its pointers
                 * were an eighth of a matrix's shared texts, for lookups as quick. */
                if (m->n_atoms >= 2 * m->n_atom_buckets)
                        matrix_atoms_grow(m);
                a = xmalloc(offsetof(MatrixAtom, text) + len + 1);
                a->refs = 0;
                a->hash = h;
                a->len = (uint32_t)len;
                memcpy(a->text, s, len);
                a->text[len] = '\0';
                a->next = m->atoms[h & (m->n_atom_buckets - 1)];
                m->atoms[h & (m->n_atom_buckets - 1)] = a;
                m->n_atoms++;
        }
        a->refs++;
        return a->text;
}

static char *matrix_atom_ref(char *text)
{
        matrix_atom_of(text)->refs++;
        return text;
}

static void matrix_atom_put(Matrix *m, char *text)
{
        MatrixAtom *a, **p;

        if (!text)
                return;
        a = matrix_atom_of(text);
        if (--a->refs > 0)
                return;
        for (p = &m->atoms[a->hash & (m->n_atom_buckets - 1)]; *p != a; p = &(*p)->next)
                ;
        *p = a->next;
        m->n_atoms--;
        free(a);
}

/* The shared copy of s if any evidence holds it: then evidence compares by address. */
static char *matrix_atom_find(const Matrix *m, const char *s)
{
        size_t len = strlen(s);
        MatrixAtom *a = matrix_atom_lookup(m, s, len, matrix_atom_hash(s, len));

        return a ? a->text : NULL;
}

static void matrix_atoms_free(Matrix *m)
{
        for (size_t i = 0; i < m->n_atom_buckets; i++) {
                MatrixAtom *a = m->atoms[i], *next;
                for (; a; a = next) {
                        next = a->next;
                        free(a);
                }
        }
        free(m->atoms);
        m->atoms = NULL;
        m->n_atoms = m->n_atom_buckets = 0;
}

/* ---- rows and cells ------------------------------------------------------------------ */

/* m NULL: the whole matrix is going away and its shared texts with it. */
static void matrix_evidence_done(Matrix *m, Evidence *e)
{
        if (m) {
                matrix_atom_put(m, e->source);
                matrix_atom_put(m, e->raw_id);
                for (size_t i = 0; i < e->n_regions; i++)
                        matrix_atom_put(m, e->regions[i]);
        }
        free(e->regions);
        *e = (Evidence){0};
}

static void matrix_cell_done(Matrix *m, Cell *c)
{
        for (size_t i = 0; i < c->n_evidence; i++)
                matrix_evidence_done(m, &c->evidence[i]);
        free(c->evidence);
        if (!c->regions_borrowed)
                free(c->regions);
        *c = unknown_cell;
}

static void matrix_model_free(Matrix *m, MatrixModel *mm)
{
        if (!mm)
                return;
        for (size_t i = 0; i < mm->n_cells; i++)
                matrix_cell_done(m, &mm->cells[i]);
        free(mm->cells);
        free(mm);
}

/* One allocation per row: the struct, then id, then vendor. */
static MatrixModel *matrix_model_alloc(const char *id, bool mapped)
{
        const char *slash = strchr(id, '/');
        size_t len = strlen(id), vlen = slash ? (size_t)(slash - id) : 0;
        MatrixModel *mm = xmalloc(sizeof(*mm) + len + 1 + vlen + 1);
        char *text = (char *)(mm + 1);

        memcpy(text, id, len + 1);
        memcpy(text + len + 1, id, vlen);
        text[len + 1 + vlen] = '\0';
        *mm = (MatrixModel){.id = text, .vendor = text + len + 1, .mapped = mapped};
        return mm;
}

/* Versions are drawn from one count for every matrix: a reader that saw version v of one
 * matrix never takes another (or one made later at the same address) for unchanged. */
static uint64_t matrix_version_clock;

static void matrix_states_moved(Matrix *m)
{
        m->states_version = ++matrix_version_clock;
}

int matrix_new(Matrix **ret)
{
        if (!ret)
                return -EINVAL;
        *ret = xcalloc(1, sizeof(Matrix));
        matrix_states_moved(*ret);
        return 0;
}

void matrix_free(Matrix *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->n_models; i++)
                matrix_model_free(NULL, m->models[i]);
        free(m->models);
        for (size_t i = 0; i < m->n_providers; i++) {
                free(m->providers[i].id);
                free(m->providers[i].authorities);
        }
        free(m->providers);
        free(m->authoritative);
        matrix_atoms_free(m);
        free(m);
}

DEFINE_FREEP(Matrix, matrix_free)

/* Index of the first row of [lo, hi) whose id is >= id (hi if none is). */
static size_t matrix_model_lower_bound(const Matrix *m, const char *id, size_t lo, size_t hi)
{
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
        i = matrix_model_lower_bound(m, id, 0, m->n_models);
        if (i < m->n_models && streq(m->models[i]->id, id))
                return m->models[i];
        return NULL;
}

/* matrix_find_model() for ids asked in ascending order, *at where the last one was looked
 * for (0 to begin): the row there is tried first, then the rest in doubling steps and
 * halving. A snapshot's or a parse's rows come sorted, so most cost
 * one comparison where a search from scratch took 14 at 10,000 rows. */
static MatrixModel *matrix_seek_model(const Matrix *m, size_t *at, const char *id)
{
        size_t n = m->n_models, lo = MIN(*at, n), hi, step = 1;
        int c;

        /* *at is just past the row last found: the same id again is that row; an id below
         * it means the order was not kept, and the search starts from 0. */
        if (lo > 0) {
                c = strcmp(m->models[lo - 1]->id, id);
                if (c == 0)
                        return m->models[lo - 1];
                if (c > 0)
                        lo = 0;
        }
        if (lo < n) {
                c = strcmp(m->models[lo]->id, id);
                if (c >= 0) {
                        *at = lo + (c == 0);
                        return c == 0 ? m->models[lo] : NULL;
                }
        }
        /* models[lo] < id, or lo is the end: gallop to a row >= id, then halve. */
        hi = lo + 1;
        while (hi < n && strcmp(m->models[hi]->id, id) < 0) {
                lo = hi;
                step *= 2;
                hi = lo + step;
        }
        lo = matrix_model_lower_bound(m, id, lo, MIN(hi, n));
        if (lo < n && streq(m->models[lo]->id, id)) {
                *at = lo + 1;
                return m->models[lo];
        }
        *at = lo;
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

/* Position in mm->cells of the cell at column i, or where it would go. */
static size_t matrix_cell_lower_bound(const MatrixModel *mm, size_t i)
{
        size_t lo = 0, hi = mm->n_cells;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (mm->cells[mid].provider < i)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

const Cell *matrix_cell(const MatrixModel *mm, size_t i)
{
        size_t k;

        if (!mm)
                return &unknown_cell;
        k = matrix_cell_lower_bound(mm, i);
        if (k < mm->n_cells && mm->cells[k].provider == i)
                return &mm->cells[k];
        return &unknown_cell;
}

/* The cell at column i for writing, made if the row has none there yet. Moves the row's
 * other cells: pointers into mm->cells do not survive it. */
static Cell *matrix_cell_mut(MatrixModel *mm, size_t i)
{
        size_t k = matrix_cell_lower_bound(mm, i);

        if (k < mm->n_cells && mm->cells[k].provider == i)
                return &mm->cells[k];
        mm->cells = xreallocarray(mm->cells, (size_t)mm->n_cells + 1, sizeof(Cell));
        memmove(&mm->cells[k + 1], &mm->cells[k], (mm->n_cells - k) * sizeof(Cell));
        mm->cells[k] = unknown_cell;
        mm->cells[k].provider = (uint16_t)i;
        mm->n_cells++;
        return &mm->cells[k];
}

/* Drop the cell at position k of the row (its evidence is gone). */
static void matrix_cell_remove(Matrix *m, MatrixModel *mm, size_t k)
{
        matrix_states_moved(m);
        matrix_cell_done(m, &mm->cells[k]);
        memmove(&mm->cells[k], &mm->cells[k + 1], (mm->n_cells - k - 1) * sizeof(Cell));
        if (--mm->n_cells == 0) {
                free(mm->cells);
                mm->cells = NULL;
        } else
                mm->cells = xreallocarray(mm->cells, mm->n_cells, sizeof(Cell));
}

/* Insert a provider column at its place in the order; cells past it renumber. */
static void matrix_add_provider(Matrix *m, const char *id, ProviderKind kind)
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

        if (pos + 1 == m->n_providers)
                return;
        for (size_t r = 0; r < m->n_models; r++) {
                MatrixModel *mm = m->models[r];
                for (size_t k = matrix_cell_lower_bound(mm, pos); k < mm->n_cells; k++)
                        mm->cells[k].provider++;
        }
}

/* source is a shared text, so the match is by address. */
static Evidence *matrix_cell_evidence(const Cell *c, const char *source)
{
        if (!source)
                return NULL;
        for (size_t i = 0; i < c->n_evidence; i++)
                if (c->evidence[i].source == source)
                        return &c->evidence[i];
        return NULL;
}

static int matrix_strp_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort shared texts and drop repeats (equal text is the same address); with m, each dropped
 * repeat gives its reference back. */
static size_t matrix_atoms_uniq(Matrix *m, char **v, size_t n)
{
        size_t o = 0;

        if (n == 0)
                return 0;
        qsort(v, n, sizeof(char *), matrix_strp_cmp);
        for (size_t i = 0; i < n; i++) {
                if (o > 0 && v[o - 1] == v[i]) {
                        if (m)
                                matrix_atom_put(m, v[i]);
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

static bool matrix_is_authority(const Matrix *m, const char *source)
{
        for (size_t i = 0; m && i < m->n_authoritative; i++)
                if (m->authoritative[i] == source)
                        return true;
        return false;
}

static bool matrix_column_closed(const Matrix *m, size_t col)
{
        return m && col < m->n_providers && m->providers[col].n_authorities > 0;
}

/* The regions of the evidence in mask (bit i: c->evidence[i]) as the cell's. When one
 * evidence alone contributes regions, its (sorted, unique, capped) array is the union and
 * is borrowed rather than copied. */
static void matrix_cell_regions(Cell *c, uint64_t mask)
{
        size_t n_regions = 0, n_sources = 0;
        const Evidence *only = NULL;
        char **regions;

        for (size_t i = 0; i < c->n_evidence; i++)
                if ((mask & (UINT64_C(1) << i)) && c->evidence[i].n_regions > 0) {
                        n_regions += c->evidence[i].n_regions;
                        n_sources++;
                        only = &c->evidence[i];
                }
        if (n_regions == 0)
                return;
        if (n_sources == 1) {
                c->regions = only->regions;
                c->n_regions = only->n_regions;
                c->regions_borrowed = true;
                return;
        }
        regions = xcalloc(n_regions, sizeof(char *));
        n_regions = 0;
        for (size_t i = 0; i < c->n_evidence; i++) {
                const Evidence *e = &c->evidence[i];
                if (!(mask & (UINT64_C(1) << i)))
                        continue;
                for (size_t k = 0; k < e->n_regions; k++)
                        regions[n_regions++] = e->regions[k];
        }
        n_regions = matrix_atoms_uniq(NULL, regions, n_regions);
        n_regions = MIN(n_regions, (size_t)MATRIX_MAX_REGIONS);
        c->regions = xreallocarray(regions, n_regions, sizeof(char *));
        c->n_regions = (uint16_t)n_regions;
}

static bool matrix_mask_has_regions(const Cell *c, uint64_t mask)
{
        for (size_t i = 0; i < c->n_evidence; i++)
                if ((mask & (UINT64_C(1) << i)) && c->evidence[i].n_regions > 0)
                        return true;
        return false;
}

static void matrix_cell_lifecycle(Cell *c, uint64_t mask)
{
        for (size_t i = 0; i < c->n_evidence; i++) {
                const Evidence *e = &c->evidence[i];
                if (!(mask & (UINT64_C(1) << i)))
                        continue;
                c->lifecycle = matrix_lifecycle_worst(c->lifecycle, e->lifecycle);
                c->eol = matrix_eol_min(c->eol, e->eol);
        }
}

static bool matrix_claim_unconfirmed(const Matrix *m, const Cell *c, const Evidence *e)
{
        return e->said == CELL_AVAILABLE && e->later &&
               e->first_seen > m->providers[c->provider].closed_since;
}

/* Whether every claim in mask (available, non-authoritative evidence) is unconfirmed. */
static bool matrix_claims_unconfirmed(const Matrix *m, const Cell *c, uint64_t mask)
{
        for (size_t i = 0; i < c->n_evidence; i++)
                if ((mask & (UINT64_C(1) << i)) && !matrix_claim_unconfirmed(m, c, &c->evidence[i]))
                        return false;
        return true;
}

/* Recompute the merged fields of a cell from its evidence (docs/matrix.md). In a column
 * an authoritative source speaks for, only authoritative evidence decides the state, and
 * the cell is unavailable unless it shows the model (the listing is complete). */
static void matrix_cell_merge(const Matrix *m, Cell *c)
{
        bool closed = matrix_column_closed(m, c->provider), unavail = false;
        uint64_t deciding = 0, others = 0;

        if (!c->regions_borrowed)
                free(c->regions);
        c->regions = NULL;
        c->n_regions = 0;
        c->regions_borrowed = false;
        c->lifecycle = LIFECYCLE_UNKNOWN;
        c->eol = 0;

        for (size_t i = 0; i < c->n_evidence; i++) {
                const Evidence *e = &c->evidence[i];
                bool decides = !closed || matrix_is_authority(m, e->source);

                if (e->said != CELL_AVAILABLE) {
                        unavail = unavail || (decides && e->said == CELL_UNAVAILABLE);
                        continue;
                }
                if (decides)
                        deciding |= UINT64_C(1) << i;
                else
                        others |= UINT64_C(1) << i;
        }
        c->state = deciding ? CELL_AVAILABLE : unavail || closed ? CELL_UNAVAILABLE : CELL_UNKNOWN;
        /* A closed column's authority does not list the model. What catalogues claimed
         * before it spoke for the column, it overrules; a launch a catalogue announced
         * since, it has not published yet: unknown until it lists it or a source drops it. */
        if (!deciding && !unavail && closed && others && matrix_claims_unconfirmed(m, c, others))
                c->state = CELL_UNKNOWN;
        if (!deciding)
                return;

        /* Prices (matrix_cell_price()) are not availability: any source that shows the
         * cell available may publish them. Regions and lifecycle come from the deciding
         * sources, and from the overruled ones only where the authority publishes none. */
        matrix_cell_regions(c, matrix_mask_has_regions(c, deciding) ? deciding : others);
        matrix_cell_lifecycle(c, deciding);
        if (c->lifecycle == LIFECYCLE_UNKNOWN && c->eol == 0)
                matrix_cell_lifecycle(c, others);
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
static void matrix_cell_settle(Matrix *m, const MatrixModel *mm, Cell *c, MatrixChanges *changes)
{
        CellState from = c->state;

        matrix_cell_merge(m, c);
        if (c->state != from) {
                matrix_states_moved(m);
                matrix_change_add(changes, mm->id, m->providers[c->provider].id, from, c->state);
        }
}

/* Provider ids to columns for one apply, which looks up a column per input. */
#define MATRIX_COLUMN_SLOTS (2 * MATRIX_MAX_PROVIDERS)
typedef struct MatrixColumns {
        int16_t slots[MATRIX_COLUMN_SLOTS]; /* column index, or -1 */
} MatrixColumns;

static size_t matrix_column_hash(const char *id)
{
        return (size_t)util_hash64(UTIL_FNV_INIT, id, strlen(id)) & (MATRIX_COLUMN_SLOTS - 1);
}

static void matrix_columns_build(const Matrix *m, MatrixColumns *t)
{
        memset(t->slots, 0xff, sizeof(t->slots));
        for (size_t i = 0; i < m->n_providers; i++) {
                size_t h = matrix_column_hash(m->providers[i].id);
                while (t->slots[h] >= 0)
                        h = (h + 1) & (MATRIX_COLUMN_SLOTS - 1);
                t->slots[h] = (int16_t)i;
        }
}

static int matrix_columns_find(const Matrix *m, const MatrixColumns *t, const char *id)
{
        for (size_t h = matrix_column_hash(id);; h = (h + 1) & (MATRIX_COLUMN_SLOTS - 1)) {
                int s = t->slots[h];
                if (s < 0)
                        return -ENOENT;
                if (streq(m->providers[s].id, id))
                        return s;
        }
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
        char **regions; /* shared texts, one reference each */
        size_t n_regions;
        double price_in, price_out;
        Lifecycle lifecycle;
        int64_t eol;
} MatrixGroup;

static void matrix_group_build(Matrix *m, const MatrixInput *in, const size_t *idx, size_t n,
                               MatrixGroup *g)
{
        char buf[MATRIX_MAX_ID + 1];
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
                        size_t len = matrix_text_clean(o->regions[r], buf);
                        if (len > 0)
                                g->regions[g->n_regions++] = matrix_atom_get(m, buf, len);
                }
        }
        g->n_regions = matrix_atoms_uniq(m, g->regions, g->n_regions);
        while (g->n_regions > MATRIX_MAX_REGIONS)
                matrix_atom_put(m, g->regions[--g->n_regions]);
        if (g->n_regions == 0) {
                free(g->regions);
                g->regions = NULL;
        } else if (g->n_regions < total)
                g->regions = xreallocarray(g->regions, g->n_regions, sizeof(char *));
}

/* Checks that need no change to m: an apply either merges completely or not at all. */
static int matrix_apply_check(const Matrix *m, const MatrixColumns *cols, const char *source,
                              const MatrixInput *in, const size_t *idx, size_t n)
{
        size_t new_models = 0, new_providers = 0;
        const char *new_provider_ids[MATRIX_MAX_PROVIDERS];
        const char *src = matrix_atom_find(m, source);
        const MatrixModel *mm = NULL;
        size_t at = 0;

        for (size_t k = 0; k < n; k++) {
                const MatrixInput *i = &in[idx[k]];
                int p;

                if (k == 0 || !streq(i->model, in[idx[k - 1]].model)) {
                        mm = matrix_seek_model(m, &at, i->model);
                        if (!mm)
                                new_models++;
                }
                p = matrix_columns_find(m, cols, i->provider);
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
                        if (c->n_evidence >= MATRIX_MAX_EVIDENCE && !matrix_cell_evidence(c, src))
                                return -E2BIG;
                }
        }
        if (m->n_models + new_models > MATRIX_MAX_MODELS)
                return -E2BIG;
        return 0;
}

/* Add the rows the parse names that the matrix lacks, in one sorted merge. */
/* Merge the n_add new rows of add (sorted by id, none in the matrix yet) into the rows. */
static void matrix_merge_rows(Matrix *m, MatrixModel *const *add, size_t n_add)
{
        MatrixModel **merged;
        size_t a = 0, b = 0, o = 0;

        if (n_add == 0)
                return;
        merged = xcalloc(m->n_models + n_add, sizeof(*merged));
        while (a < m->n_models || b < n_add) {
                if (b == n_add || (a < m->n_models && strcmp(m->models[a]->id, add[b]->id) < 0))
                        merged[o++] = m->models[a++];
                else
                        merged[o++] = add[b++];
        }
        free(m->models);
        m->models = merged;
        m->n_models = o;
        m->cap_models = o;
}

static void matrix_add_models(Matrix *m, const MatrixInput *in, const size_t *idx, size_t n)
{
        MatrixModel **add = NULL;
        size_t n_add = 0, cap_add = 0, at = 0;

        for (size_t k = 0; k < n; k++) {
                const MatrixInput *i = &in[idx[k]];
                if (n_add > 0 && streq(add[n_add - 1]->id, i->model)) {
                        add[n_add - 1]->mapped |= i->mapped;
                        continue;
                }
                if (matrix_seek_model(m, &at, i->model))
                        continue;
                util_grow((void **)&add, &cap_add, n_add + 1, sizeof(*add));
                add[n_add++] = matrix_model_alloc(i->model, i->mapped);
        }
        /* idx is sorted by model, so add is too. */
        matrix_merge_rows(m, add, n_add);
        free(add);
}

/* Add the rows of the n sorted, distinct models in that are not there yet (row_of[k] NULL,
 * n_new of them) and set row_of for them: the caller has looked every one up already. */
static void matrix_insert_rows(Matrix *m, const MatrixInput *in, MatrixModel **row_of, size_t n,
                               size_t n_new)
{
        _cleanup_free_ MatrixModel **add = xcalloc(MAX(n_new, (size_t)1), sizeof(*add));
        size_t n_add = 0;

        for (size_t b = 0; b < n; b++)
                if (!row_of[b])
                        add[n_add++] = row_of[b] = matrix_model_alloc(in[b].model, in[b].mapped);
        matrix_merge_rows(m, add, n_add);
}

static bool matrix_atoms_equal(char *const *a, size_t n_a, char *const *b, size_t n_b)
{
        if (n_a != n_b)
                return false;
        for (size_t i = 0; i < n_a; i++)
                if (a[i] != b[i])
                        return false;
        return true;
}

static void matrix_evidence_take(Matrix *m, Evidence *e, MatrixGroup *g, uint64_t now, bool fresh)
{
        if (fresh || e->said != g->said)
                e->changed = now;
        e->said = g->said;
        /* Most parses repeat the regions: keep the array the cell may be borrowing. */
        if (matrix_atoms_equal(e->regions, e->n_regions, g->regions, g->n_regions)) {
                for (size_t i = 0; i < g->n_regions; i++)
                        matrix_atom_put(m, g->regions[i]);
                free(g->regions);
        } else {
                for (size_t i = 0; i < e->n_regions; i++)
                        matrix_atom_put(m, e->regions[i]);
                free(e->regions);
                e->regions = g->regions;
                e->n_regions = (uint16_t)g->n_regions;
        }
        g->regions = NULL;
        e->price_in = g->price_in;
        e->price_out = g->price_out;
        e->lifecycle = g->lifecycle;
        e->eol = g->eol;
        e->last_seen = now;
        e->missing = MISSING_TOUCHED;
}

/* Recompute which authoritative sources speak for each column (hold evidence in it),
 * leaving out the evidence of `without` (a source being forgotten; NULL for none). dirty
 * (n_providers entries) gets true for each column whose closed-world status changed: every
 * cell there needs a re-merge. */
static void matrix_authority_refresh(Matrix *m, const char *without, bool *dirty)
{
        size_t n_auth = m->n_authoritative, n_cols = m->n_providers;
        _cleanup_free_ bool *seen = NULL;
        _cleanup_free_ uint64_t *since = xcalloc(MAX(n_cols, (size_t)1), sizeof(uint64_t));

        if (n_auth > 0) {
                seen = xcalloc(n_cols * n_auth, sizeof(bool));
                for (size_t r = 0; r < m->n_models; r++) {
                        const MatrixModel *mm = m->models[r];
                        for (size_t k = 0; k < mm->n_cells; k++) {
                                const Cell *c = &mm->cells[k];
                                for (size_t i = 0; i < c->n_evidence; i++) {
                                        const Evidence *e = &c->evidence[i];
                                        if (e->source == without)
                                                continue;
                                        for (size_t a = 0; a < n_auth; a++) {
                                                if (m->authoritative[a] != e->source)
                                                        continue;
                                                seen[c->provider * n_auth + a] = true;
                                                if (since[c->provider] == 0 ||
                                                    e->first_seen < since[c->provider])
                                                        since[c->provider] = e->first_seen;
                                        }
                                }
                        }
                }
        }
        for (size_t col = 0; col < n_cols; col++) {
                MatrixProvider *p = &m->providers[col];
                size_t n = 0;
                bool was = p->n_authorities > 0;

                for (size_t i = 0; i < p->n_authorities; i++)
                        matrix_atom_put(m, p->authorities[i]);
                free(p->authorities);
                p->authorities = NULL;
                for (size_t a = 0; a < n_auth; a++)
                        n += seen[col * n_auth + a];
                if (n > 0) {
                        p->authorities = xcalloc(n, sizeof(char *));
                        n = 0;
                        for (size_t a = 0; a < n_auth; a++)
                                if (seen[col * n_auth + a])
                                        p->authorities[n++] = matrix_atom_ref(m->authoritative[a]);
                }
                p->n_authorities = (uint16_t)n;
                if (dirty && (was != (n > 0) || p->closed_since != since[col]))
                        dirty[col] = true;
                p->closed_since = n > 0 ? since[col] : 0;
        }
}

int matrix_apply(Matrix *m, const char *source, const MatrixInput *in, size_t n, uint64_t now,
                 unsigned removal_polls, MatrixChanges *changes)
{
        _cleanup_free_ size_t *idx = NULL;
        _cleanup_free_ MatrixColumns *cols = NULL;
        _cleanup_free_ bool *dirty = NULL;
        char buf[MATRIX_MAX_ID + 1];
        MatrixModel *mm = NULL;
        size_t at = 0;
        bool later;
        char *src;
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

        cols = xmalloc(sizeof(*cols));
        matrix_columns_build(m, cols);
        r = matrix_apply_check(m, cols, source, in, idx, n);
        if (r < 0)
                return r;

        /* From here on nothing can fail. New columns first, so indices stay put below. */
        for (size_t k = 0; k < n; k++)
                if (matrix_columns_find(m, cols, in[k].provider) < 0) {
                        matrix_add_provider(m, in[k].provider, in[k].kind);
                        matrix_columns_build(m, cols);
                }
        matrix_add_models(m, in, idx, n);
        /* A source the matrix holds no text of has never been applied: this is its first
         * parse, its baseline. Everything it adds later is news. */
        later = matrix_atom_find(m, source) != NULL;
        /* Held to the end, so the pass below can match by address even if every piece of
         * this source's evidence is gone. */
        src = matrix_atom_get(m, source, strlen(source));

        for (size_t k = 0; k < n;) {
                const MatrixInput *first = &in[idx[k]];
                size_t end = k + 1;
                MatrixGroup g;
                Evidence *e;
                Cell *c;
                bool fresh = false;

                while (end < n && streq(in[idx[end]].model, first->model) &&
                       streq(in[idx[end]].provider, first->provider))
                        end++;

                if (!mm || !streq(mm->id, first->model))
                        mm = matrix_seek_model(m, &at, first->model);
                for (size_t q = k; q < end; q++)
                        mm->mapped |= in[idx[q]].mapped;
                c = matrix_cell_mut(mm, (size_t)matrix_columns_find(m, cols, first->provider));
                e = matrix_cell_evidence(c, src);
                if (!e) {
                        size_t len = matrix_text_clean(first->obs->model, buf);
                        c->evidence =
                            xreallocarray(c->evidence, (size_t)c->n_evidence + 1, sizeof(Evidence));
                        e = &c->evidence[c->n_evidence++];
                        *e = (Evidence){
                            .source = matrix_atom_ref(src),
                            .raw_id = matrix_atom_get(m, buf, len),
                            .first_seen = now,
                            .later = later,
                        };
                        fresh = true;
                }
                matrix_group_build(m, in, idx + k, end - k, &g);
                matrix_evidence_take(m, e, &g, now, fresh);
                k = end;
        }

        /* An authoritative source's first parse in a column closes it: every cell there is
         * re-merged, not only those holding this source's evidence. */
        dirty = xcalloc(m->n_providers, sizeof(bool));
        matrix_authority_refresh(m, NULL, dirty);

        /* DESIGN 6.2: evidence this parse did not touch counts a miss; only K misses in a
         * row turn it unavailable. Every cell holding this source's evidence is re-merged. */
        for (size_t r_ = 0; r_ < m->n_models; r_++) {
                MatrixModel *row = m->models[r_];
                for (size_t i = 0; i < row->n_cells; i++) {
                        Cell *c = &row->cells[i];
                        Evidence *e = matrix_cell_evidence(c, src);
                        if (!e) {
                                if (dirty[c->provider])
                                        matrix_cell_settle(m, row, c, changes);
                                continue;
                        }
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
                        matrix_cell_settle(m, row, c, changes);
                }
        }
        matrix_atom_put(m, src);
        return 0;
}

typedef struct MatrixPairSet {
        const MatrixInput **slots;
        size_t mask;
} MatrixPairSet;

static uint64_t matrix_pair_hash(const char *model, const char *provider)
{
        uint64_t h = util_hash64(UTIL_FNV_INIT, model, strlen(model) + 1);
        return util_hash64(h, provider, strlen(provider));
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
        MatrixPairSet set = {0};
        size_t size = 16, rows = 0, absent = 0;
        const char *src;

        if (!m || !source || (n > 0 && !in))
                return -EINVAL;
        src = matrix_atom_find(m, source);
        if (src) {
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
        }

        for (size_t r = 0; src && r < m->n_models; r++) {
                const MatrixModel *mm = m->models[r];
                for (size_t i = 0; i < mm->n_cells; i++) {
                        const Cell *c = &mm->cells[i];
                        const Evidence *e = matrix_cell_evidence(c, src);
                        if (!e || e->said != CELL_AVAILABLE)
                                continue;
                        rows++;
                        /* A row already on its way out (missed by an applied parse) was
                         * judged then; only new absences count against this parse. */
                        if (e->missing == 0 &&
                            !matrix_pair_set_has(&set, mm->id, m->providers[c->provider].id))
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
        size_t count = 0, k = 0, n_cells = mm ? mm->n_cells : 0;

        if (!m)
                return 0;
        /* Columns and the row's cells are both in column order: one walk over each. */
        for (size_t i = 0; i < m->n_providers; i++) {
                const Cell *c = &unknown_cell;

                while (k < n_cells && mm->cells[k].provider < i)
                        k++;
                if (k < n_cells && mm->cells[k].provider == i)
                        c = &mm->cells[k];
                if (kind >= 0 && m->providers[i].kind != (ProviderKind)kind)
                        continue;
                if (c->state == st)
                        count++;
        }
        return count;
}

int matrix_forget_source(Matrix *m, const char *source, MatrixChanges *changes)
{
        _cleanup_free_ bool *dirty = NULL;
        char *src;

        if (!m || !source)
                return -EINVAL;
        matrix_states_moved(m);
        src = matrix_atom_find(m, source);
        if (!src)
                return 0;
        /* The last piece of evidence going must not free the text compared against. */
        matrix_atom_ref(src);
        /* An authority leaving a column opens it again: every cell there is re-merged. */
        dirty = xcalloc(MAX(m->n_providers, (size_t)1), sizeof(bool));
        matrix_authority_refresh(m, src, dirty);
        for (size_t r = 0; r < m->n_models; r++) {
                MatrixModel *mm = m->models[r];
                for (size_t k = 0; k < mm->n_cells;) {
                        Cell *c = &mm->cells[k];
                        Evidence *e = matrix_cell_evidence(c, src);
                        size_t at;

                        if (!e) {
                                if (dirty[c->provider])
                                        matrix_cell_settle(m, mm, c, changes);
                                k++;
                                continue;
                        }
                        at = (size_t)(e - c->evidence);
                        matrix_evidence_done(m, e);
                        memmove(&c->evidence[at], &c->evidence[at + 1],
                                (c->n_evidence - at - 1) * sizeof(Evidence));
                        if (--c->n_evidence == 0) {
                                free(c->evidence);
                                c->evidence = NULL;
                        } else
                                c->evidence =
                                    xreallocarray(c->evidence, c->n_evidence, sizeof(Evidence));
                        matrix_cell_settle(m, mm, c, changes);
                        if (c->n_evidence == 0)
                                matrix_cell_remove(m, mm, k);
                        else
                                k++;
                }
        }
        matrix_atom_put(m, src);
        return 0;
}

int matrix_set_authoritative(Matrix *m, const char *const *sources, size_t n,
                             MatrixChanges *changes)
{
        char **set = NULL;

        if (!m || (n > 0 && !sources))
                return -EINVAL;
        /* No version moves here by itself: a cell whose state the new set changes moves it
         * as it settles, and a start that names the same sources again (every start does)
         * leaves the next history sync nothing to walk. */
        for (size_t i = 0; i < n; i++)
                if (!matrix_text_valid(sources[i], false))
                        return -EINVAL;
        if (n > 0) {
                set = xcalloc(n, sizeof(char *));
                for (size_t i = 0; i < n; i++)
                        set[i] = matrix_atom_get(m, sources[i], strlen(sources[i]));
                n = matrix_atoms_uniq(m, set, n);
        }
        for (size_t i = 0; i < m->n_authoritative; i++)
                matrix_atom_put(m, m->authoritative[i]);
        free(m->authoritative);
        m->authoritative = set;
        m->n_authoritative = n;

        matrix_authority_refresh(m, NULL, NULL);
        for (size_t r = 0; r < m->n_models; r++) {
                MatrixModel *mm = m->models[r];
                for (size_t k = 0; k < mm->n_cells; k++)
                        matrix_cell_settle(m, mm, &mm->cells[k], changes);
        }
        return 0;
}

bool matrix_source_authoritative(const Matrix *m, const char *source)
{
        return m && source && matrix_is_authority(m, matrix_atom_find(m, source));
}

bool matrix_evidence_overruled(const Matrix *m, const Cell *c, const Evidence *e)
{
        if (!c || !e || !matrix_column_closed(m, c->provider) || matrix_is_authority(m, e->source))
                return false;
        if (c->state == CELL_UNKNOWN)
                return false;
        return (e->said == CELL_AVAILABLE) != (c->state == CELL_AVAILABLE);
}

bool matrix_evidence_unconfirmed(const Matrix *m, const Cell *c, const Evidence *e)
{
        if (!c || !e || !matrix_column_closed(m, c->provider) || matrix_is_authority(m, e->source))
                return false;
        return c->state == CELL_UNKNOWN && matrix_claim_unconfirmed(m, c, e);
}

int matrix_source_lagging(const Matrix *m, const char *source, size_t *ret_count,
                          char **ret_examples, size_t n_examples)
{
        const char *src;
        size_t count = 0;

        if (!m || !source || !ret_count || (n_examples > 0 && !ret_examples))
                return -EINVAL;
        src = matrix_atom_find(m, source);
        for (size_t r = 0; src && r < m->n_models; r++) {
                const MatrixModel *mm = m->models[r];
                for (size_t k = 0; k < mm->n_cells; k++) {
                        const Cell *c = &mm->cells[k];
                        if (!matrix_evidence_overruled(m, c, matrix_cell_evidence(c, src)))
                                continue;
                        if (count < n_examples)
                                ret_examples[count] =
                                    xasprintf("%s on %s", mm->id, m->providers[c->provider].id);
                        count++;
                }
        }
        *ret_count = count;
        return 0;
}

int matrix_source_unmapped(const Matrix *m, const char *source, size_t *ret_count,
                           char **ret_examples, size_t n_examples)
{
        const char *src;
        size_t count = 0;

        if (!m || !source || !ret_count || (n_examples > 0 && !ret_examples))
                return -EINVAL;
        src = matrix_atom_find(m, source);
        for (size_t r = 0; src && r < m->n_models; r++) {
                const MatrixModel *mm = m->models[r];
                bool shown = false;
                if (mm->mapped)
                        continue;
                for (size_t k = 0; k < mm->n_cells && !shown; k++) {
                        const Evidence *e = matrix_cell_evidence(&mm->cells[k], src);
                        shown = e && e->said == CELL_AVAILABLE;
                }
                if (!shown)
                        continue;
                if (count < n_examples)
                        ret_examples[count] = xstrdup(mm->id);
                count++;
        }
        *ret_count = count;
        return 0;
}

typedef struct MatrixWanted {
        char *atom;
        size_t index; /* into the caller's ids */
} MatrixWanted;

static int matrix_wanted_cmp(const void *a, const void *b)
{
        uintptr_t x = (uintptr_t)((const MatrixWanted *)a)->atom;
        uintptr_t y = (uintptr_t)((const MatrixWanted *)b)->atom;
        return x < y ? -1 : x > y;
}

size_t matrix_source_raw_ids_known(const Matrix *m, const char *source, const char *const *ids,
                                   size_t n, bool *ret_known)
{
        _cleanup_free_ MatrixWanted *want = NULL;
        _cleanup_free_ bool *hit = NULL;
        size_t n_want = 0, known = 0;
        const char *src;

        if (ret_known)
                memset(ret_known, 0, n * sizeof(bool));
        if (!m || !source || n == 0 || !ids)
                return 0;
        src = matrix_atom_find(m, source);
        if (!src)
                return 0;
        /* Raw ids are shared texts: an id the matrix holds nowhere is no match. */
        want = xcalloc(n, sizeof(*want));
        for (size_t i = 0; i < n; i++) {
                char *a = ids[i] ? matrix_atom_find(m, ids[i]) : NULL;
                if (a)
                        want[n_want++] = (MatrixWanted){a, i};
        }
        if (n_want == 0)
                return 0;
        qsort(want, n_want, sizeof(*want), matrix_wanted_cmp);
        hit = xcalloc(n_want, sizeof(bool));
        for (size_t r = 0; r < m->n_models; r++) {
                const MatrixModel *mm = m->models[r];
                for (size_t k = 0; k < mm->n_cells; k++) {
                        const Evidence *e = matrix_cell_evidence(&mm->cells[k], src);
                        MatrixWanted key, *at;
                        if (!e || !e->raw_id)
                                continue;
                        key.atom = e->raw_id;
                        at = bsearch(&key, want, n_want, sizeof(*want), matrix_wanted_cmp);
                        if (at)
                                hit[at - want] = true;
                }
        }
        /* bsearch finds one of a run of equal ids: spread its hit over the run, then count
         * each distinct id once. */
        for (size_t i = 1; i < n_want; i++)
                if (want[i].atom == want[i - 1].atom)
                        hit[i] = hit[i] || hit[i - 1];
        for (size_t i = n_want; i-- > 1;)
                if (want[i].atom == want[i - 1].atom)
                        hit[i - 1] = hit[i - 1] || hit[i];
        for (size_t i = 0; i < n_want; i++) {
                if (hit[i] && ret_known)
                        ret_known[want[i].index] = true;
                if (hit[i] && (i == 0 || want[i].atom != want[i - 1].atom))
                        known++;
        }
        return known;
}

/* ---- state file ---------------------------------------------------------------------- */

/* Serializing: stored text is valid already (cleaned or checked on the way in), so it skips
 * jansson's checks, and each shared text or name becomes one json_t that every node using it
 * references. */
#define MATRIX_WRITER_NUMBERS 1024u
typedef struct MatrixWriter {
        const char **keys; /* shared texts, open addressing by address */
        json_t **values;
        size_t mask;
        json_t *said[_CELL_STATE_MAX];
        json_t *lifecycle[_LIFECYCLE_MAX];
        /* Times and prices repeat too (a parse stamps all its rows alike): a direct-mapped
         * cache, where a collision just makes a value of its own. */
        json_t *ints[MATRIX_WRITER_NUMBERS];
        json_t *reals[MATRIX_WRITER_NUMBERS];
} MatrixWriter;

static void matrix_writer_init(MatrixWriter *w, const Matrix *m)
{
        size_t size = 16;

        while (size < 2 * m->n_atoms)
                size *= 2;
        *w = (MatrixWriter){
            .keys = xcalloc(size, sizeof(char *)),
            .values = xcalloc(size, sizeof(json_t *)),
            .mask = size - 1,
        };
}

static void matrix_writer_done(MatrixWriter *w)
{
        for (size_t i = 0; i <= w->mask; i++)
                json_decref(w->values[i]);
        for (size_t i = 0; i < _CELL_STATE_MAX; i++)
                json_decref(w->said[i]);
        for (size_t i = 0; i < _LIFECYCLE_MAX; i++)
                json_decref(w->lifecycle[i]);
        for (size_t i = 0; i < MATRIX_WRITER_NUMBERS; i++) {
                json_decref(w->ints[i]);
                json_decref(w->reals[i]);
        }
        free(w->keys);
        free(w->values);
}

/* The json_t of a shared text (borrowed from w), or NULL if out of memory. */
static json_t *matrix_writer_text(MatrixWriter *w, const char *atom)
{
        size_t i = (size_t)(((uint64_t)(uintptr_t)atom * UINT64_C(0x9e3779b97f4a7c15)) >> 32);

        for (i &= w->mask; w->keys[i]; i = (i + 1) & w->mask)
                if (w->keys[i] == atom)
                        return w->values[i];
        w->values[i] = json_stringn_nocheck(atom, matrix_atom_of(atom)->len);
        if (w->values[i])
                w->keys[i] = atom;
        return w->values[i];
}

static json_t *matrix_writer_said(MatrixWriter *w, CellState s)
{
        size_t i = s >= 0 && s < _CELL_STATE_MAX ? (size_t)s : CELL_UNKNOWN;

        if (!w->said[i])
                w->said[i] = json_string(cell_state_name(s));
        return w->said[i];
}

static json_t *matrix_writer_lifecycle(MatrixWriter *w, Lifecycle l)
{
        size_t i = l >= 0 && l < _LIFECYCLE_MAX ? (size_t)l : LIFECYCLE_UNKNOWN;

        if (!w->lifecycle[i])
                w->lifecycle[i] = json_string(lifecycle_name((Lifecycle)i));
        return w->lifecycle[i];
}

static size_t matrix_writer_slot(uint64_t x)
{
        return (size_t)((x * UINT64_C(0x9e3779b97f4a7c15)) >> 54) & (MATRIX_WRITER_NUMBERS - 1);
}

/* An integer to store (borrowed from w, or new with ret_owned set), NULL if out of memory. */
static json_t *matrix_writer_int(MatrixWriter *w, json_int_t x, bool *ret_owned)
{
        json_t **slot = &w->ints[matrix_writer_slot((uint64_t)x)];

        *ret_owned = false;
        if (!*slot)
                *slot = json_integer(x);
        else if (json_integer_value(*slot) != x) {
                *ret_owned = true;
                return json_integer(x);
        }
        return *slot;
}

static json_t *matrix_writer_price(MatrixWriter *w, double p, bool *ret_owned)
{
        json_t **slot;
        uint64_t bits;

        *ret_owned = false;
        if (!matrix_price_ok(p))
                return json_null();
        memcpy(&bits, &p, sizeof(bits));
        slot = &w->reals[matrix_writer_slot(bits)];
        if (!*slot)
                *slot = json_real(p);
        else if (memcmp(&(double){json_real_value(*slot)}, &p, sizeof(p)) != 0) {
                *ret_owned = true;
                return json_real(p);
        }
        return *slot;
}

static int matrix_put(json_t *o, const char *key, json_t *v)
{
        if (!v || json_object_set_new_nocheck(o, key, v) < 0)
                return -ENOMEM;
        return 0;
}

/* Like matrix_put(), for a value the writer keeps a reference to. */
static int matrix_put_shared(json_t *o, const char *key, json_t *v)
{
        if (!v || json_object_set_nocheck(o, key, v) < 0)
                return -ENOMEM;
        return 0;
}

static int matrix_put_number(json_t *o, const char *key, json_t *v, bool owned)
{
        return owned ? matrix_put(o, key, v) : matrix_put_shared(o, key, v);
}

static int matrix_put_int(MatrixWriter *w, json_t *o, const char *key, json_int_t x)
{
        bool owned;
        json_t *v = matrix_writer_int(w, x, &owned);

        return matrix_put_number(o, key, v, owned);
}

static int matrix_put_price(MatrixWriter *w, json_t *o, const char *key, double p)
{
        bool owned;
        json_t *v = matrix_writer_price(w, p, &owned);

        return matrix_put_number(o, key, v, owned);
}

static int matrix_put_time(MatrixWriter *w, json_t *o, const char *key, uint64_t t)
{
        if (t > (uint64_t)INT64_MAX)
                return -ERANGE;
        return matrix_put_int(w, o, key, (json_int_t)t);
}

static int matrix_evidence_to_json(MatrixWriter *w, const Evidence *e, json_t **ret)
{
        json_t *o = json_object(), *regions = json_array();
        int r = -ENOMEM;

        if (!o || !regions)
                goto fail;
        for (size_t i = 0; i < e->n_regions; i++) {
                json_t *v = matrix_writer_text(w, e->regions[i]);
                if (!v || json_array_append(regions, v) < 0)
                        goto fail;
        }
        if ((r = matrix_put_shared(o, "source", matrix_writer_text(w, e->source))) < 0 ||
            (r = matrix_put_shared(o, "said", matrix_writer_said(w, e->said))) < 0 ||
            (r = matrix_put(o, "raw_id", json_string_nocheck(e->raw_id ? e->raw_id : ""))) < 0 ||
            (r = matrix_put(o, "regions", TAKE_PTR(regions))) < 0 ||
            (r = matrix_put_price(w, o, "price_in", e->price_in)) < 0 ||
            (r = matrix_put_price(w, o, "price_out", e->price_out)) < 0 ||
            (r = matrix_put_shared(o, "lifecycle", matrix_writer_lifecycle(w, e->lifecycle))) < 0 ||
            (r = matrix_put_int(w, o, "eol", e->eol)) < 0 ||
            (r = matrix_put_time(w, o, "first_seen", e->first_seen)) < 0 ||
            (r = matrix_put_time(w, o, "last_seen", e->last_seen)) < 0 ||
            (r = matrix_put_time(w, o, "changed", e->changed)) < 0 ||
            (r = matrix_put_int(w, o, "missing", e->missing)) < 0)
                goto fail;
        /* Written only when set: a state from before the flag reads as baseline. */
        if (e->later && (r = matrix_put(o, "later", json_true())) < 0)
                goto fail;
        *ret = o;
        return 0;
fail:
        json_decref(regions);
        json_decref(o);
        return r;
}

static int matrix_model_to_json(MatrixWriter *w, const MatrixModel *mm, json_t **ret)
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
                if ((r = matrix_put_int(w, cell, "provider", c->provider)) < 0 ||
                    (r = matrix_put(cell, "evidence", ev)) < 0)
                        goto fail;
                for (size_t k = 0; k < c->n_evidence; k++) {
                        json_t *e;
                        r = matrix_evidence_to_json(w, &c->evidence[k], &e);
                        if (r < 0)
                                goto fail;
                        if (json_array_append_new(ev, e) < 0) {
                                r = -ENOMEM;
                                goto fail;
                        }
                }
        }
        if ((r = matrix_put(o, "id", json_string_nocheck(mm->id))) < 0 ||
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
        MatrixWriter w;
        int r;

        if (!m || !ret)
                return -EINVAL;
        o = json_object();
        if (!o)
                return -ENOMEM;
        matrix_writer_init(&w, m);
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
                if ((r = matrix_put(p, "id", json_string_nocheck(m->providers[i].id))) < 0 ||
                    (r = matrix_put(p, "kind",
                                    json_string(matrix_kind_name(m->providers[i].kind)))) < 0)
                        goto fail;
        }
        for (size_t i = 0; i < m->n_models; i++) {
                json_t *mj = NULL;
                r = matrix_model_to_json(&w, m->models[i], &mj);
                if (r < 0)
                        goto fail;
                if (json_array_append_new(models, mj) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        matrix_writer_done(&w);
        *ret = o;
        return 0;
fail:
        matrix_writer_done(&w);
        json_decref(o);
        return r;
}

/* v's string if it is text the matrix may store (see matrix_text_valid()). */
static const char *matrix_text_of(const json_t *v, bool allow_empty, size_t *ret_len)
{
        const char *s = json_string_value(v);
        size_t len;

        if (!s)
                return NULL;
        len = json_string_length(v);
        if (memchr(s, '\0', len) || !matrix_text_valid_len(s, len, allow_empty))
                return NULL;
        if (ret_len)
                *ret_len = len;
        return s;
}

static const char *matrix_get_text(const json_t *o, const char *key, bool allow_empty)
{
        return matrix_text_of(json_object_get(o, key), allow_empty, NULL);
}

static int matrix_uint_of(const json_t *v, uint64_t max, uint64_t *ret)
{
        json_int_t x;

        if (!json_is_integer(v))
                return -EBADMSG;
        x = json_integer_value(v);
        if (x < 0 || (uint64_t)x > max)
                return -EBADMSG;
        *ret = (uint64_t)x;
        return 0;
}

static int matrix_price_of(const json_t *v, double *ret)
{
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

static int matrix_lifecycle_index(const char *s)
{
        if (!s)
                return -EBADMSG;
        for (int i = 0; i < _LIFECYCLE_MAX; i++)
                if (streq(s, lifecycle_name((Lifecycle)i)))
                        return i;
        return -EBADMSG;
}

enum {
        EVIDENCE_SOURCE,
        EVIDENCE_SAID,
        EVIDENCE_RAW_ID,
        EVIDENCE_REGIONS,
        EVIDENCE_PRICE_IN,
        EVIDENCE_PRICE_OUT,
        EVIDENCE_LIFECYCLE,
        EVIDENCE_EOL,
        EVIDENCE_FIRST_SEEN,
        EVIDENCE_LAST_SEEN,
        EVIDENCE_CHANGED,
        EVIDENCE_MISSING,
        _EVIDENCE_MAX,
};

/* In the order matrix_evidence_to_json() writes them. */
static const char *const evidence_keys[_EVIDENCE_MAX] = {
    [EVIDENCE_SOURCE] = "source",         [EVIDENCE_SAID] = "said",
    [EVIDENCE_RAW_ID] = "raw_id",         [EVIDENCE_REGIONS] = "regions",
    [EVIDENCE_PRICE_IN] = "price_in",     [EVIDENCE_PRICE_OUT] = "price_out",
    [EVIDENCE_LIFECYCLE] = "lifecycle",   [EVIDENCE_EOL] = "eol",
    [EVIDENCE_FIRST_SEEN] = "first_seen", [EVIDENCE_LAST_SEEN] = "last_seen",
    [EVIDENCE_CHANGED] = "changed",       [EVIDENCE_MISSING] = "missing",
};

/* The members of an evidence object, in one walk over it: a loaded state file is far larger
 * than the caches, and a walk touches each member once where a lookup per key would touch
 * the buckets too. Unknown keys are ignored, missing ones stay NULL. */
static bool matrix_key_is(const char *key, size_t len, const char *name)
{
        return strlen(name) == len && memcmp(key, name, len) == 0;
}

static void matrix_evidence_fields(const json_t *j, const json_t **f)
{
        json_t *o = (json_t *)(uintptr_t)j;
        size_t next = 0;

        for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
                const char *key = json_object_iter_key(it);
                size_t len = json_object_iter_key_len(it), i = next;

                if (i >= _EVIDENCE_MAX || !matrix_key_is(key, len, evidence_keys[i]))
                        for (i = 0; i < _EVIDENCE_MAX && !matrix_key_is(key, len, evidence_keys[i]);
                             i++)
                                ;
                if (i < _EVIDENCE_MAX)
                        f[i] = json_object_iter_value(it);
                next = i + 1;
        }
}

/* Fill e (zeroed by the caller, freed by the caller's cleanup on failure) from j. */
static int matrix_evidence_from_json(Matrix *m, const json_t *j, Evidence *e)
{
        static const char *const said_names[] = {"available", "unavailable"};
        const json_t *f[_EVIDENCE_MAX] = {0}, *regions;
        const char *s;
        size_t len, n;
        uint64_t u;
        int r;

        if (!json_is_object(j))
                return -EBADMSG;
        matrix_evidence_fields(j, f);
        if (!(s = matrix_text_of(f[EVIDENCE_SOURCE], false, &len)))
                return -EBADMSG;
        e->source = matrix_atom_get(m, s, len);
        r = matrix_name_index(json_string_value(f[EVIDENCE_SAID]), said_names, 2);
        if (r < 0)
                return r;
        e->said = r == 0 ? CELL_AVAILABLE : CELL_UNAVAILABLE;
        if (!(s = matrix_text_of(f[EVIDENCE_RAW_ID], true, &len)))
                return -EBADMSG;
        e->raw_id = matrix_atom_get(m, s, len);
        {
                const json_t *later = json_object_get(j, "later");
                if (later && !json_is_boolean(later))
                        return -EBADMSG;
                e->later = json_is_true(later);
        }

        regions = f[EVIDENCE_REGIONS];
        if (!json_is_array(regions) || json_array_size(regions) > MATRIX_MAX_REGIONS)
                return -EBADMSG;
        n = json_array_size(regions);
        if (n > 0)
                e->regions = xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                if (!(s = matrix_text_of(json_array_get(regions, i), false, &len)))
                        return -EBADMSG;
                /* Stored sorted and unique, so anything else was not written by us. */
                if (i > 0 && strcmp(e->regions[i - 1], s) >= 0)
                        return -EBADMSG;
                e->regions[e->n_regions++] = matrix_atom_get(m, s, len);
        }

        if (matrix_price_of(f[EVIDENCE_PRICE_IN], &e->price_in) < 0 ||
            matrix_price_of(f[EVIDENCE_PRICE_OUT], &e->price_out) < 0)
                return -EBADMSG;
        r = matrix_lifecycle_index(json_string_value(f[EVIDENCE_LIFECYCLE]));
        if (r < 0)
                return r;
        e->lifecycle = (Lifecycle)r;
        if (matrix_uint_of(f[EVIDENCE_EOL], INT64_MAX, &u) < 0)
                return -EBADMSG;
        e->eol = (int64_t)u;
        if (matrix_uint_of(f[EVIDENCE_FIRST_SEEN], INT64_MAX, &e->first_seen) < 0 ||
            matrix_uint_of(f[EVIDENCE_LAST_SEEN], INT64_MAX, &e->last_seen) < 0 ||
            matrix_uint_of(f[EVIDENCE_CHANGED], INT64_MAX, &e->changed) < 0 ||
            matrix_uint_of(f[EVIDENCE_MISSING], MATRIX_MAX_MISSING, &u) < 0)
                return -EBADMSG;
        e->missing = (unsigned)u;
        return 0;
}

static int matrix_cell_from_json(Matrix *m, const json_t *j, Cell *c)
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
                r = matrix_evidence_from_json(m, json_array_get(ev, k), &c->evidence[k]);
                if (r < 0)
                        return r;
                for (size_t q = 0; q < k; q++)
                        if (c->evidence[q].source == c->evidence[k].source)
                                return -EBADMSG;
        }
        matrix_cell_merge(m, c);
        return 0;
}

static int matrix_model_from_json(Matrix *m, const json_t *j, MatrixModel *mm)
{
        const json_t *cells = json_object_get(j, "cells");
        int64_t prev = -1;
        size_t n;

        if (!json_is_array(cells) || json_array_size(cells) > m->n_providers)
                return -EBADMSG;
        n = json_array_size(cells);
        if (n > 0)
                mm->cells = xcalloc(n, sizeof(Cell));
        for (size_t k = 0; k < n; k++) {
                const json_t *cj = json_array_get(cells, k), *pj;
                json_int_t p;
                Cell *c;
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
                /* Columns come in order, so the row is built by appending. Counted before
                 * filling, so the caller's cleanup frees a half-built cell. */
                c = &mm->cells[mm->n_cells++];
                *c = unknown_cell;
                c->provider = (uint16_t)p;
                r = matrix_cell_from_json(m, cj, c);
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
        matrix_states_moved(m);
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
                int r = matrix_append_state_row(m, json_array_get(models, i));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

int matrix_append_state_row(Matrix *m, const json_t *mj)
{
        const json_t *mapped = json_object_get(mj, "mapped");
        const char *id;

        if (!m)
                return -EINVAL;
        matrix_states_moved(m);
        if (!json_is_object(mj) || !(id = matrix_get_text(mj, "id", false)) ||
            !json_is_boolean(mapped))
                return -EBADMSG;
        if (m->n_models >= MATRIX_MAX_MODELS ||
            (m->n_models > 0 && strcmp(m->models[m->n_models - 1]->id, id) >= 0))
                return -EBADMSG;
        util_grow((void **)&m->models, &m->cap_models, m->n_models + 1, sizeof(MatrixModel *));
        /* Counted before it is filled, so freeing m frees a row left half-built. */
        m->models[m->n_models++] = matrix_model_alloc(id, json_is_true(mapped));
        return matrix_model_from_json(m, mj, m->models[m->n_models - 1]);
}

/* ---- the state's change log: one source's evidence at a time ------------------------- */

int matrix_foreach_evidence(const Matrix *m,
                            int (*fn)(const MatrixModel *mm, const MatrixProvider *p,
                                      const Evidence *e, void *userdata),
                            void *userdata)
{
        if (!m || !fn)
                return -EINVAL;
        for (size_t r = 0; r < m->n_models; r++) {
                const MatrixModel *mm = m->models[r];
                for (size_t k = 0; k < mm->n_cells; k++) {
                        const Cell *c = &mm->cells[k];
                        for (size_t i = 0; i < c->n_evidence; i++) {
                                int ret =
                                    fn(mm, &m->providers[c->provider], &c->evidence[i], userdata);
                                if (ret < 0)
                                        return ret;
                        }
                }
        }
        return 0;
}

int matrix_source_seen(Matrix *m, const char *source, uint64_t when)
{
        int n = 0;

        if (!m || !source)
                return -EINVAL;
        for (size_t r = 0; r < m->n_models; r++) {
                MatrixModel *mm = m->models[r];
                for (size_t k = 0; k < mm->n_cells; k++) {
                        Cell *c = &mm->cells[k];
                        for (size_t i = 0; i < c->n_evidence; i++)
                                if (streq(c->evidence[i].source, source)) {
                                        c->evidence[i].last_seen = when;
                                        n += n < INT_MAX;
                                }
                }
        }
        return n;
}

double matrix_cell_price(const Cell *c, bool output)
{
        double p = NAN;

        /* Available means some evidence that decides says so (matrix_cell_merge()): every
         * piece that says available, deciding or overruled, may name a price. */
        if (!c || c->state != CELL_AVAILABLE)
                return NAN;
        for (size_t i = 0; i < c->n_evidence; i++)
                if (c->evidence[i].said == CELL_AVAILABLE)
                        p = matrix_price_min(p, output ? c->evidence[i].price_out
                                                       : c->evidence[i].price_in);
        return p;
}

uint64_t matrix_cell_first_seen(const Cell *c)
{
        uint64_t t = 0;

        for (size_t i = 0; c && i < c->n_evidence; i++) {
                uint64_t f = c->evidence[i].first_seen;
                if (f && (t == 0 || f < t))
                        t = f;
        }
        return t;
}

uint64_t matrix_cell_last_seen(const Cell *c)
{
        uint64_t t = 0;

        for (size_t i = 0; c && i < c->n_evidence; i++)
                t = MAX(t, c->evidence[i].last_seen);
        return t;
}

/* What matrix_evidence_from_json() accepts, for evidence handed over as a struct. */
static bool matrix_entry_evidence_valid(const Evidence *e)
{
        if (!e->raw_id || !matrix_text_valid(e->raw_id, true) ||
            (e->said != CELL_AVAILABLE && e->said != CELL_UNAVAILABLE) ||
            e->lifecycle >= _LIFECYCLE_MAX || e->n_regions > MATRIX_MAX_REGIONS ||
            (e->n_regions > 0 && !e->regions) || e->eol < 0 ||
            e->first_seen > (uint64_t)INT64_MAX || e->last_seen > (uint64_t)INT64_MAX ||
            e->changed > (uint64_t)INT64_MAX || e->missing > MATRIX_MAX_MISSING)
                return false;
        if (!isnan(e->price_in) && !matrix_price_ok(e->price_in))
                return false;
        if (!isnan(e->price_out) && !matrix_price_ok(e->price_out))
                return false;
        for (size_t i = 0; i < e->n_regions; i++) {
                if (!matrix_text_valid(e->regions[i], false))
                        return false;
                /* Stored sorted and unique, so anything else was not written by us. */
                if (i > 0 && strcmp(e->regions[i - 1], e->regions[i]) >= 0)
                        return false;
        }
        return true;
}

/* Set dst, the evidence of src in its cell, to what in says. */
static void matrix_evidence_assign(Matrix *m, Evidence *dst, char *src, const Evidence *in)
{
        char *raw_id = matrix_atom_get(m, in->raw_id, strlen(in->raw_id));
        char **regions = NULL;

        if (in->n_regions > 0) {
                regions = xcalloc(in->n_regions, sizeof(char *));
                for (size_t i = 0; i < in->n_regions; i++)
                        regions[i] = matrix_atom_get(m, in->regions[i], strlen(in->regions[i]));
        }
        if (dst->source)
                matrix_evidence_done(m, dst);
        *dst = *in;
        dst->source = matrix_atom_ref(src);
        dst->raw_id = raw_id;
        dst->regions = regions;
}

/* Drop the evidence of src from cell k of the row, and the cell if that was its last. */
static void matrix_row_drop_evidence(Matrix *m, MatrixModel *mm, size_t k, char *src)
{
        Cell *c = &mm->cells[k];
        Evidence *e = matrix_cell_evidence(c, src);
        size_t at;

        if (!e)
                return;
        at = (size_t)(e - c->evidence);
        matrix_evidence_done(m, e);
        memmove(&c->evidence[at], &c->evidence[at + 1],
                (c->n_evidence - at - 1) * sizeof(Evidence));
        if (--c->n_evidence == 0) {
                free(c->evidence);
                c->evidence = NULL;
        }
}

/* One row's part of matrix_replace_source(): in (n entries of this row, their columns in
 * cols, ascending) become src's evidence in the row; src's evidence elsewhere in the row
 * goes. Only the cells that changed are re-merged: a replay visits every row. */
static int matrix_row_replace(Matrix *m, MatrixModel *mm, char *src, const MatrixEntry *in,
                              const int *cols, size_t n)
{
        _cleanup_free_ uint16_t *dropped = NULL;
        size_t j = 0, n_dropped = 0, d = 0;

        for (size_t k = 0; k < mm->n_cells; k++) {
                while (j < n && (size_t)cols[j] < mm->cells[k].provider)
                        j++;
                if ((j < n && (size_t)cols[j] == mm->cells[k].provider) ||
                    !matrix_cell_evidence(&mm->cells[k], src))
                        continue;
                if (!dropped)
                        dropped = xcalloc(mm->n_cells, sizeof(uint16_t));
                dropped[n_dropped++] = mm->cells[k].provider;
                matrix_row_drop_evidence(m, mm, k, src);
        }
        if (n == 0 && n_dropped == 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                Cell *c = matrix_cell_mut(mm, (size_t)cols[i]);
                Evidence *e = matrix_cell_evidence(c, src);
                if (!e) {
                        if (c->n_evidence >= MATRIX_MAX_EVIDENCE)
                                return -EBADMSG;
                        c->evidence =
                            xreallocarray(c->evidence, (size_t)c->n_evidence + 1, sizeof(Evidence));
                        e = &c->evidence[c->n_evidence++];
                        *e = (Evidence){0};
                }
                matrix_evidence_assign(m, e, src, in[i].evidence);
        }
        j = 0;
        for (size_t k = 0; k < mm->n_cells;) {
                size_t col = mm->cells[k].provider;
                bool touched;

                while (j < n && (size_t)cols[j] < col)
                        j++;
                while (d < n_dropped && dropped[d] < col)
                        d++;
                touched = (j < n && (size_t)cols[j] == col) || (d < n_dropped && dropped[d] == col);
                if (mm->cells[k].n_evidence == 0) {
                        matrix_cell_remove(m, mm, k);
                        continue;
                }
                if (touched)
                        matrix_cell_settle(m, mm, &mm->cells[k], NULL);
                k++;
        }
        return 0;
}

static bool matrix_entries_valid(const char *source, const MatrixEntry *in, size_t n)
{
        const char *prev = NULL;

        for (size_t k = 0; k < n; k++) {
                const MatrixEntry *e = &in[k];
                if (e->model && !matrix_text_valid(e->model, false))
                        return false;
                if (e->provider && (!matrix_text_valid(e->provider, false) || e->kind < 0 ||
                                    e->kind >= _PROVIDER_KIND_MAX))
                        return false;
                if (source ? !e->model || !e->provider || !e->evidence ||
                                 !matrix_entry_evidence_valid(e->evidence)
                           : e->evidence != NULL)
                        return false;
                if (e->model) {
                        if (prev && strcmp(prev, e->model) > 0)
                                return false;
                        prev = e->model;
                }
        }
        return true;
}

int matrix_replace_source(Matrix *m, const char *source, const MatrixEntry *in, size_t n)
{
        _cleanup_free_ MatrixColumns *cols = NULL;
        _cleanup_free_ MatrixInput *rows = NULL;
        _cleanup_free_ int *col_of = NULL;
        _cleanup_free_ bool *dirty = NULL;
        _cleanup_free_ MatrixModel **row_of = NULL;
        size_t n_rows = 0, new_rows = 0;
        bool had;
        char *src;
        int r = 0;

        if (!m || (n > 0 && !in))
                return -EINVAL;
        matrix_states_moved(m);
        if ((source && !matrix_text_valid(source, false)) || !matrix_entries_valid(source, in, n))
                return -EBADMSG;

        cols = xmalloc(sizeof(*cols));
        matrix_columns_build(m, cols);
        col_of = xcalloc(MAX(n, (size_t)1), sizeof(int));
        bool inserted = false;
        for (size_t k = 0; k < n; k++) {
                if (!in[k].provider) {
                        col_of[k] = -1;
                        continue;
                }
                int p = matrix_columns_find(m, cols, in[k].provider);
                if (p < 0) {
                        if (m->n_providers >= MATRIX_MAX_PROVIDERS)
                                return -EBADMSG;
                        matrix_add_provider(m, in[k].provider, in[k].kind);
                        matrix_columns_build(m, cols);
                        inserted = true;
                } else if (m->providers[p].kind != in[k].kind)
                        return -EBADMSG;
                col_of[k] = p;
        }
        /* Columns move as others are inserted: indices are taken again once all exist. */
        for (size_t k = 0; inserted && k < n; k++)
                if (in[k].provider)
                        col_of[k] = matrix_columns_find(m, cols, in[k].provider);

        /* Each row named is looked up once (and once more if it is new): a snapshot's
         * evidence names every row of the matrix. */
        rows = xcalloc(MAX(n, (size_t)1), sizeof(MatrixInput));
        row_of = xcalloc(MAX(n, (size_t)1), sizeof(MatrixModel *));
        size_t at = 0;
        for (size_t k = 0; k < n; k++) {
                if (!in[k].model)
                        continue;
                if (n_rows == 0 || !streq(rows[n_rows - 1].model, in[k].model)) {
                        row_of[n_rows] = matrix_seek_model(m, &at, in[k].model);
                        new_rows += !row_of[n_rows];
                        rows[n_rows] = (MatrixInput){.model = in[k].model, .mapped = in[k].mapped};
                        n_rows++;
                } else
                        rows[n_rows - 1].mapped |= in[k].mapped;
        }
        if (m->n_models + new_rows > MATRIX_MAX_MODELS)
                return -EBADMSG;
        if (new_rows > 0)
                matrix_insert_rows(m, rows, row_of, n_rows, new_rows);
        for (size_t k = 0; k < n_rows; k++)
                row_of[k]->mapped |= rows[k].mapped;
        if (!source)
                return 0;

        /* Without a shared copy of the name no evidence is the source's yet: only the rows
         * named need a visit. */
        had = matrix_atom_find(m, source) != NULL;
        src = matrix_atom_get(m, source, strlen(source));
        for (size_t k = 0, ri = 0; r >= 0 && (had ? ri < m->n_models : k < n);) {
                MatrixModel *mm = had ? m->models[ri++] : row_of[ri++];
                size_t end = k;

                while (end < n && streq(in[end].model, mm->id)) {
                        if (end > k && col_of[end] <= col_of[end - 1]) {
                                r = -EBADMSG;
                                break;
                        }
                        end++;
                }
                if (r < 0)
                        break;
                if (end > k || had)
                        r = matrix_row_replace(m, mm, src, in + k, col_of + k, end - k);
                k = end;
        }
        /* A source's first or last evidence in a column opens or closes it to authority. */
        dirty = xcalloc(MAX(m->n_providers, (size_t)1), sizeof(bool));
        matrix_authority_refresh(m, NULL, dirty);
        for (size_t i = 0; i < m->n_providers; i++)
                if (dirty[i]) {
                        for (size_t ri = 0; ri < m->n_models; ri++) {
                                MatrixModel *mm = m->models[ri];
                                for (size_t k = 0; k < mm->n_cells; k++)
                                        if (dirty[mm->cells[k].provider])
                                                matrix_cell_settle(m, mm, &mm->cells[k], NULL);
                        }
                        break;
                }
        matrix_atom_put(m, src);
        return r;
}
