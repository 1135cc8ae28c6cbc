/* The rule evaluator. One evaluation walks the matrix rows once (rows outer, model rules
 * inner, so per-row facts such as the state sets are computed once and shared by every
 * rule) and then the source rules over the source views. Values are stack structs that
 * borrow their strings; provider sets are inline bitsets over a provider numbering the
 * engine keeps stable across evaluations. Nothing on the per-row path allocates except
 * a changed string or list kept in look-back history, a new alert, and an announcement. */
#include "lockwatch/rules_eval.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "lockwatch/util.h"

#define SET_WORDS  (RULES_EVAL_MAX_PROVIDERS / 64)
#define REG_HASH   (RULES_EVAL_MAX_PROVIDERS * 2)
#define N_KINDS    _PROVIDER_KIND_MAX
#define N_STATES   _CELL_STATE_MAX
#define MAX_COLS   MATRIX_MAX_PROVIDERS
#define MAX_NAME   MATRIX_MAX_ID
#define MAX_STRING RULES_MAX_STRING
#define MAX_GEOS   32u /* geographies whose sets are cached per row */
#define LIT_CACHE  64u /* provider-name literals whose numbers are cached */

/* ---- provider sets and the stable provider numbering ----------------------------------- */

typedef struct ProvSet {
        uint64_t w[SET_WORDS];
} ProvSet;

static void set_add(ProvSet *s, unsigned i)
{
        s->w[i / 64] |= UINT64_C(1) << (i % 64);
}

static bool set_has(const ProvSet *s, int i)
{
        return i >= 0 && i < (int)RULES_EVAL_MAX_PROVIDERS &&
               (s->w[(unsigned)i / 64] >> ((unsigned)i % 64)) & 1;
}

static unsigned set_count(const ProvSet *s)
{
        /* A member at a time: sets hold a few providers, and without a popcount
         * instruction in the baseline x86-64 each word cost a library call. */
        unsigned n = 0;
        for (size_t k = 0; k < SET_WORDS; k++)
                for (uint64_t w = s->w[k]; w; w &= w - 1)
                        n++;
        return n;
}

static bool set_equal(const ProvSet *a, const ProvSet *b)
{
        return memcmp(a, b, sizeof(*a)) == 0;
}

static ProvSet set_minus(const ProvSet *a, const ProvSet *b)
{
        ProvSet r;
        for (size_t k = 0; k < SET_WORDS; k++)
                r.w[k] = a->w[k] & ~b->w[k];
        return r;
}

static ProvSet set_union(const ProvSet *a, const ProvSet *b)
{
        ProvSet r;
        for (size_t k = 0; k < SET_WORDS; k++)
                r.w[k] = a->w[k] | b->w[k];
        return r;
}

/* Provider ids get a number the first time they are seen and keep it: matrix columns
 * move when a provider is inserted, but history compares sets across evaluations. */
typedef struct Registry {
        char *names[RULES_EVAL_MAX_PROVIDERS];
        ProviderKind kinds[RULES_EVAL_MAX_PROVIDERS];
        unsigned n;
        uint16_t hash[REG_HASH]; /* number + 1; 0 is an empty bucket */
} Registry;

static int registry_find(const Registry *r, const char *name)
{
        size_t h = util_fnv1a(UTIL_FNV_INIT, name, strlen(name)) % REG_HASH;

        for (size_t k = 0; k < REG_HASH; k++) {
                uint16_t v = r->hash[(h + k) % REG_HASH];
                if (!v)
                        return -ENOENT;
                if (streq(r->names[v - 1], name))
                        return v - 1;
        }
        return -ENOENT;
}

static int registry_add(Registry *r, const char *name, ProviderKind kind)
{
        int i = registry_find(r, name);
        size_t h;

        if (i >= 0) {
                r->kinds[i] = kind;
                return i;
        }
        if (r->n >= RULES_EVAL_MAX_PROVIDERS)
                return -ENOSPC;
        h = util_fnv1a(UTIL_FNV_INIT, name, strlen(name)) % REG_HASH;
        while (r->hash[h])
                h = (h + 1) % REG_HASH;
        r->names[r->n] = xstrdup(name);
        r->kinds[r->n] = kind;
        r->hash[h] = (uint16_t)(r->n + 1);
        return (int)r->n++;
}

static void registry_clear(Registry *r)
{
        for (unsigned i = 0; i < r->n; i++)
                free(r->names[i]);
        memset(r, 0, sizeof(*r));
}

/* ---- values ---------------------------------------------------------------------------- */

/* A value during evaluation. Numbers and durations (usec) live in num, NaN meaning missing;
 * a list is a literal (elements evaluated on access), or borrowed strings or numbers. */
typedef struct Value {
        RulesKind kind, elem;
        bool missing; /* no value (README "Missing values"); numbers also use NaN */
        bool b;
        int word; /* CellState, ProviderKind, SourceStatus or RulesIdent (set names) */
        double num;
        const char *str;
        ProvSet set;
        const Expr *list;
        char *const *strs;
        const double *nums;
        size_t n;
} Value;

/* A value kept from the previous evaluation; owns its strings. Every model keeps one per
 * look-back slot, so it holds only what its kind needs (16 bytes while a provider set is
 * one word). */
typedef struct HVal {
        bool has;
        bool missing;
        int8_t kind, elem; /* RulesKind */
        uint32_t n;        /* list length, at most RULES_EVAL_MAX_LIST */
        union {
                bool b;
                int word;
                double num;
                char *str;    /* RULES_KIND_STRING */
                ProvSet set;  /* RULES_KIND_PROVIDER_SET */
                char **strs;  /* a list of strings */
                double *nums; /* a list of numbers or durations */
        };
} HVal;

static bool hval_strings(const HVal *h)
{
        return h->kind == RULES_KIND_LIST && h->elem == RULES_KIND_STRING;
}

static void hval_clear(HVal *h)
{
        if (h->kind == RULES_KIND_STRING)
                free(h->str);
        else if (hval_strings(h)) {
                for (size_t i = 0; h->strs && i < h->n; i++)
                        free(h->strs[i]);
                free(h->strs);
        } else if (h->kind == RULES_KIND_LIST)
                free(h->nums);
        *h = (HVal){0};
}

/* ---- engine ---------------------------------------------------------------------------- */

/* What a look-back slot stores, to tell after a reload or restart whether kept history
 * still fits the rule. */
typedef struct SlotSig {
        RulesFunc func;
        RulesKind kind, elem;
} SlotSig;

typedef struct RuleState {
        const Rule *rule;
        char *name;
        unsigned n_slots;
        size_t hist_off;    /* offset of this rule's slots in KeyEntry.hist */
        const Expr **slots; /* the look-back call of each slot */
        SlotSig *sigs;
        AlertTiming timing;
} RuleState;

/* One allocation per model, the id and the look-back values after the entry (key_id(),
 * key_hist()): every model has one, and at 10,000 models three allocations each were a third
 * of a load. The clouds of the previous evaluation are a word while their numbers are below
 * 64 (every deployment seen), so the entry is 24 bytes, not 56. */
typedef struct KeyEntry {
        uint64_t prev_low; /* the clouds at the previous evaluation, when prev_all is NULL */
        ProvSet *prev_all; /* the same when one of them is numbered 64 or more */
        uint16_t id_len;
        bool has_prev;
        bool has_hist; /* total_slots values follow the id */
} KeyEntry;

static char *key_id(const KeyEntry *k)
{
        return (char *)(uintptr_t)(k + 1);
}

/* The values start at the first multiple of 8 past the id's NUL. */
static size_t key_id_room(size_t len)
{
        return (len + 1 + 7) & ~(size_t)7;
}

static HVal *key_hist(const KeyEntry *k)
{
        return k->has_hist ? (HVal *)(uintptr_t)(key_id(k) + key_id_room(k->id_len)) : NULL;
}

/* The clouds at the previous evaluation (empty if there was none). */
static ProvSet key_prev(const KeyEntry *k)
{
        ProvSet s = {{0}};

        if (k->prev_all)
                return *k->prev_all;
        s.w[0] = k->prev_low;
        return s;
}

static void key_set_prev(KeyEntry *k, const ProvSet *s)
{
        bool low = true;

        for (size_t w = 1; w < SET_WORDS; w++)
                low = low && s->w[w] == 0;
        if (low) {
                free(k->prev_all);
                k->prev_all = NULL;
                k->prev_low = s->w[0];
        } else {
                if (!k->prev_all)
                        k->prev_all = xmalloc(sizeof(ProvSet));
                *k->prev_all = *s;
        }
        k->has_prev = true;
}

typedef struct SourceSeen {
        char *name;
        uint64_t first_seen;
} SourceSeen;

struct RulesEngine {
        const RuleSet *rules;
        RuleState *rs;
        size_t n_rs;
        size_t total_slots, max_slots;
        uint64_t repeat_interval;
        uint64_t first_eval; /* realtime usec of the first evaluation ever (persisted) */
        AlertTable alerts;
        Registry reg;
        KeyEntry **keys; /* in matrix row order (sorted by id) */
        size_t n_keys;
        SourceSeen *srcs; /* sorted by name */
        size_t n_srcs;

        /* Scratch of one evaluation. */
        Value *cur;        /* current value of each slot of the rule being evaluated */
        uint8_t *computed; /* cur[slot] is filled */
        size_t *cursor;    /* per rule: position in the alert table during the row walk */
        int16_t col_of[RULES_EVAL_MAX_PROVIDERS];
        int16_t stable_of[MAX_COLS];

        /* Provider-name literals of the rules resolved to numbers, by syntax node; cleared
         * whenever the rules or the numbering are replaced. */
        struct {
                const Expr *x;
                int stable;
                unsigned reg_n; /* registry size when a miss was cached */
        } lit[LIT_CACHE];
};

/* Facts about one row, computed on first use and shared by every rule. */
typedef struct RowCache {
        bool sets_done, age_done, price_done;
        uint32_t geo_done[N_STATES];    /* bit g: geo[g][state] is filled */
        uint32_t geo_unknown[N_STATES]; /* bit g: a cloud in that state has no region data */
        ProvSet by[N_KINDS][N_STATES];
        ProvSet geo[MAX_GEOS][N_STATES];
        double age;
        /* min/max price over available cells, per provider kind and over all kinds
         * (index _PROVIDER_KIND_MAX); [side] is input, output */
        double lo[_PROVIDER_KIND_MAX + 1][2], hi[_PROVIDER_KIND_MAX + 1][2];
} RowCache;

typedef struct Ctx {
        RulesEngine *e;
        const Matrix *m;
        const MatrixModel *mm; /* NULL for an alert whose model left the matrix */
        const char *key;
        KeyEntry *entry; /* NULL: no history (orphaned alert, source rule) */
        RowCache *rc;
        const RulesSourceView *src; /* source rules; NULL for an orphaned alert */
        uint64_t src_first;
        const RuleState *rs;
        uint64_t now;
} Ctx;

static const Cell no_cell = {.state = CELL_UNKNOWN};

static void eval(Ctx *c, const Expr *x, Value *out);

static const RowCache *row_cache_sets(Ctx *c)
{
        RowCache *rc = c->rc;

        if (rc->sets_done)
                return rc;
        memset(rc->by, 0, sizeof(rc->by));
        if (c->mm) {
                size_t n = MIN(c->m->n_providers, (size_t)MAX_COLS);
                for (size_t col = 0; col < n; col++) {
                        int s = c->e->stable_of[col];
                        ProviderKind k = c->m->providers[col].kind;
                        CellState st = matrix_cell(c->mm, col)->state;
                        if (s < 0 || k < 0 || k >= N_KINDS || st < 0 || st >= N_STATES)
                                continue;
                        set_add(&rc->by[k][st], (unsigned)s);
                }
        }
        rc->sets_done = true;
        return rc;
}

static ProvSet available_of(Ctx *c, bool clouds_only)
{
        const RowCache *rc = row_cache_sets(c);
        ProvSet s = rc->by[PROVIDER_CLOUD][CELL_AVAILABLE];

        if (clouds_only)
                return s;
        for (int k = 0; k < N_KINDS; k++)
                if (k != PROVIDER_CLOUD)
                        s = set_union(&s, &rc->by[k][CELL_AVAILABLE]);
        return s;
}

static int provider_number(Ctx *c, const Expr *x)
{
        RulesEngine *e = c->e;
        size_t h;
        Value v;

        if (x->type != EXPR_STRING || !x->string) {
                eval(c, x, &v);
                return v.kind == RULES_KIND_STRING && !v.missing ? registry_find(&e->reg, v.str)
                                                                 : -ENOENT;
        }
        h = ((uintptr_t)x >> 4) % LIT_CACHE;
        if (e->lit[h].x == x && (e->lit[h].stable >= 0 || e->lit[h].reg_n == e->reg.n))
                return e->lit[h].stable;
        e->lit[h].x = x;
        e->lit[h].stable = registry_find(&e->reg, x->string);
        e->lit[h].reg_n = e->reg.n;
        return e->lit[h].stable;
}

static const Cell *cell_of(Ctx *c, const Expr *provider)
{
        int s, col;

        if (!c->mm)
                return &no_cell;
        s = provider_number(c, provider);
        if (s < 0)
                return &no_cell;
        col = c->e->col_of[s];
        if (col < 0)
                return &no_cell;
        return matrix_cell(c->mm, (size_t)col);
}

static double row_age(Ctx *c)
{
        RowCache *rc = c->rc;
        uint64_t first = 0;

        if (rc->age_done)
                return rc->age;
        for (size_t i = 0; c->mm && i < c->m->n_providers; i++) {
                uint64_t fs = matrix_cell_first_seen(matrix_cell(c->mm, i));
                if (fs && (!first || fs < first))
                        first = fs;
        }
        rc->age = !first ? NAN : c->now > first ? (double)(c->now - first) : 0.0;
        rc->age_done = true;
        return rc->age;
}

static void row_prices(Ctx *c)
{
        RowCache *rc = c->rc;

        if (rc->price_done)
                return;
        for (int k = 0; k <= _PROVIDER_KIND_MAX; k++)
                for (int side = 0; side < 2; side++)
                        rc->lo[k][side] = rc->hi[k][side] = NAN;
        for (size_t i = 0; c->mm && i < c->m->n_providers; i++) {
                const Cell *cell = matrix_cell(c->mm, i);
                int kind = (int)c->m->providers[i].kind;
                if (cell->state != CELL_AVAILABLE)
                        continue;
                for (int side = 0; side < 2; side++) {
                        double p = matrix_cell_price(cell, side);
                        if (isnan(p))
                                continue;
                        for (int k = 0; k < 2; k++) {
                                int slot = k ? _PROVIDER_KIND_MAX : kind;
                                if (isnan(rc->lo[slot][side]) || p < rc->lo[slot][side])
                                        rc->lo[slot][side] = p;
                                if (isnan(rc->hi[slot][side]) || p > rc->hi[slot][side])
                                        rc->hi[slot][side] = p;
                        }
                }
        }
        rc->price_done = true;
}

static bool is_missing(const Value *v)
{
        return v->missing ||
               ((v->kind == RULES_KIND_NUMBER || v->kind == RULES_KIND_DURATION) && isnan(v->num));
}

static double num_of(const Value *v)
{
        if (v->missing)
                return NAN;
        return v->kind == RULES_KIND_PROVIDER_SET ? (double)set_count(&v->set) : v->num;
}

static void list_elem(Ctx *c, const Value *v, size_t i, Value *out)
{
        if (v->list) {
                eval(c, v->list->children[i], out);
                return;
        }
        *out = (Value){.kind = v->elem};
        if (v->strs)
                out->str = v->strs[i];
        else if (v->nums)
                out->num = v->nums[i];
}

/* Identity, for changed() and for keeping history: unknown equals unknown here. */
static bool value_same(Ctx *c, const Value *a, const Value *b)
{
        if (a->kind != b->kind || is_missing(a) != is_missing(b))
                return false;
        if (is_missing(a))
                return true;
        switch (a->kind) {
        case RULES_KIND_NUMBER:
        case RULES_KIND_DURATION:
                return a->num == b->num;
        case RULES_KIND_STRING:
                return streq(a->str, b->str);
        case RULES_KIND_BOOL:
                return a->b == b->b;
        case RULES_KIND_PROVIDER_SET:
                return set_equal(&a->set, &b->set);
        case RULES_KIND_LIST:
                if (a->n != b->n)
                        return false;
                for (size_t i = 0; i < a->n; i++) {
                        Value x, y;
                        list_elem(c, a, i, &x);
                        list_elem(c, b, i, &y);
                        if (!value_same(c, &x, &y))
                                return false;
                }
                return true;
        default:
                return a->word == b->word;
        }
}

/* Element equality for lists and `in`: an unknown number equals nothing. */
static bool elem_equal(const Value *a, const Value *b)
{
        if (a->kind == RULES_KIND_STRING || b->kind == RULES_KIND_STRING)
                return a->kind == b->kind && streq(a->str, b->str);
        return a->num == b->num;
}

static bool list_contains(Ctx *c, const Value *list, const Value *x)
{
        for (size_t i = 0; i < list->n; i++) {
                Value y;
                list_elem(c, list, i, &y);
                if (elem_equal(x, &y))
                        return true;
        }
        return false;
}

/* The language's ==: false for both == and != when a missing value takes part. */
static bool value_equal(Ctx *c, const Value *a, const Value *b, bool *known)
{
        bool na = a->kind == RULES_KIND_NUMBER || a->kind == RULES_KIND_PROVIDER_SET;
        bool nb = b->kind == RULES_KIND_NUMBER || b->kind == RULES_KIND_PROVIDER_SET;

        *known = !is_missing(a) && !is_missing(b);
        if (!*known)
                return false;
        if (a->kind == RULES_KIND_PROVIDER_SET && b->kind == RULES_KIND_PROVIDER_SET)
                return set_equal(&a->set, &b->set);
        if ((na && nb) || a->kind == RULES_KIND_DURATION) {
                double x = num_of(a), y = num_of(b);
                if (isnan(x) || isnan(y)) {
                        *known = false;
                        return false;
                }
                return x == y;
        }
        if (a->kind != b->kind)
                return false;
        switch (a->kind) {
        case RULES_KIND_STRING:
                return streq(a->str, b->str);
        case RULES_KIND_BOOL:
                return a->b == b->b;
        case RULES_KIND_LIST:
                /* Lists compare as sets: region lists come sorted, literals as written. */
                for (size_t i = 0; i < a->n; i++) {
                        Value x;
                        list_elem(c, a, i, &x);
                        if (!list_contains(c, b, &x))
                                return false;
                }
                for (size_t i = 0; i < b->n; i++) {
                        Value y;
                        list_elem(c, b, i, &y);
                        if (!list_contains(c, a, &y))
                                return false;
                }
                return true;
        default:
                return a->word == b->word;
        }
}

/* ---- look-back slots ------------------------------------------------------------------- */

static bool slot_ok(const Ctx *c, const Expr *call)
{
        return call->slot < c->rs->n_slots && c->rs->slots[call->slot] == call;
}

static void slot_compute(Ctx *c, const Expr *call, Value *v)
{
        switch (call->func->id) {
        case RULES_FN_LOST:
        case RULES_FN_GAINED:
                *v = (Value){.kind = RULES_KIND_PROVIDER_SET};
                v->set = available_of(c, call->children[0]->ident &&
                                             call->children[0]->ident->id == RULES_ID_CLOUDS);
                break;
        default:
                eval(c, call->children[0], v);
                break;
        }
}

/* The slot's value now, computed at most once per rule and key. */
static const Value *slot_current(Ctx *c, const Expr *call, Value *tmp)
{
        unsigned s = call->slot;

        if (!slot_ok(c, call)) {
                slot_compute(c, call, tmp);
                return tmp;
        }
        if (!c->e->computed[s]) {
                slot_compute(c, call, &c->e->cur[s]);
                c->e->computed[s] = 1;
        }
        return &c->e->cur[s];
}

/* The Value h keeps; its texts stay h's. */
static void hval_value(const HVal *h, Value *out)
{
        *out = (Value){.kind = h->kind, .elem = h->elem, .missing = h->missing, .num = NAN};
        if (h->missing && h->kind != RULES_KIND_NUMBER && h->kind != RULES_KIND_DURATION)
                return;
        switch (h->kind) {
        case RULES_KIND_NUMBER:
        case RULES_KIND_DURATION:
                out->num = h->num;
                break;
        case RULES_KIND_STRING:
                out->str = h->str;
                break;
        case RULES_KIND_BOOL:
                out->b = h->b;
                break;
        case RULES_KIND_PROVIDER_SET:
                out->set = h->set;
                break;
        case RULES_KIND_LIST:
                out->n = h->n;
                if (hval_strings(h))
                        out->strs = h->strs;
                else
                        out->nums = h->nums;
                break;
        default:
                out->word = h->word;
                break;
        }
}

static bool slot_previous(Ctx *c, const Expr *call, Value *out)
{
        const HVal *h;

        if (!c->entry || !key_hist(c->entry) || !slot_ok(c, call))
                return false;
        h = &key_hist(c->entry)[c->rs->hist_off + call->slot];
        if (!h->has)
                return false;
        hval_value(h, out);
        return true;
}

static void hval_store(Ctx *c, HVal *h, const Value *v)
{
        Value old;

        if (h->has && h->kind == v->kind) {
                hval_value(h, &old);
                if (value_same(c, &old, v))
                        return;
        }
        hval_clear(h);
        h->has = true;
        h->kind = (int8_t)v->kind;
        h->elem = (int8_t)v->elem;
        h->missing = is_missing(v);
        switch (v->kind) {
        case RULES_KIND_NUMBER:
        case RULES_KIND_DURATION:
                h->num = v->num;
                return;
        case RULES_KIND_BOOL:
                h->b = !h->missing && v->b;
                return;
        case RULES_KIND_PROVIDER_SET:
                if (!h->missing)
                        h->set = v->set;
                return;
        case RULES_KIND_STRING:
                if (!h->missing)
                        h->str = xstrndup(v->str, strnlen(v->str, MAX_STRING));
                return;
        case RULES_KIND_LIST:
                break;
        default:
                if (!h->missing)
                        h->word = v->word;
                return;
        }
        if (h->missing)
                return;
        size_t n = MIN(v->n, (size_t)RULES_EVAL_MAX_LIST);
        if (n && hval_strings(h))
                h->strs = xcalloc(n, sizeof(char *));
        else if (n)
                h->nums = xcalloc(n, sizeof(double));
        for (size_t i = 0; i < n; i++) {
                Value x;
                list_elem(c, v, i, &x);
                if (hval_strings(h))
                        h->strs[i] = xstrndup(x.str, strnlen(x.str, MAX_STRING));
                else
                        h->nums[i] = x.num;
        }
        h->n = (uint32_t)n;
}

/* ---- evaluation ------------------------------------------------------------------------ */

static void eval_ident(Ctx *c, const Expr *x, Value *out)
{
        RulesIdent id = x->ident ? x->ident->id : _RULES_ID_MAX;

        *out = (Value){.kind = x->kind, .num = NAN, .str = ""};
        switch (id) {
        case RULES_ID_MODEL:
                out->str = c->mm ? c->mm->id : c->key;
                break;
        case RULES_ID_VENDOR:
                out->str = c->mm && c->mm->vendor ? c->mm->vendor : "";
                break;
        case RULES_ID_AGE:
                out->num = row_age(c);
                break;
        case RULES_ID_MAPPED:
                out->b = c->mm && c->mm->mapped;
                break;
        case RULES_ID_NEW: {
                /* Launched while lockwatch watched: what was there at the first evaluation
                 * was not "new", however recently lockwatch was installed. */
                double age = row_age(c);
                out->b = !isnan(age) && c->e->first_eval &&
                         (double)c->now - age > (double)c->e->first_eval;
                break;
        }
        case RULES_ID_SOURCE:
                out->str = c->src && c->src->name ? c->src->name : c->key ? c->key : "";
                break;
        case RULES_ID_STATE:
                out->word = c->src ? (int)c->src->status : (int)SOURCE_NEW;
                break;
        case RULES_ID_STALE_FOR:
                if (c->src) {
                        uint64_t since = c->src->last_ok ? c->src->last_ok : c->src_first;
                        out->num = c->now > since ? (double)(c->now - since) : 0.0;
                }
                break;
        case RULES_ID_CONSECUTIVE_FAILURES:
                if (c->src)
                        out->num = (double)c->src->consecutive_failures;
                break;
        case RULES_ID_AVAILABLE:
                out->word = CELL_AVAILABLE;
                break;
        case RULES_ID_UNAVAILABLE:
                out->word = CELL_UNAVAILABLE;
                break;
        case RULES_ID_UNKNOWN:
                out->word = CELL_UNKNOWN;
                break;
        case RULES_ID_CLOUD:
                out->word = PROVIDER_CLOUD;
                break;
        case RULES_ID_DIRECT:
                out->word = PROVIDER_DIRECT;
                break;
        case RULES_ID_AGGREGATOR:
                out->word = PROVIDER_AGGREGATOR;
                break;
        case RULES_ID_OK:
                out->word = SOURCE_OK;
                break;
        case RULES_ID_DEGRADED:
                out->word = SOURCE_DEGRADED;
                break;
        case RULES_ID_SUSPECT:
                out->word = SOURCE_SUSPECT;
                break;
        case RULES_ID_CLOUDS:
        case RULES_ID_PROVIDERS:
                out->word = (int)id;
                break;
        case RULES_ID_LAGGING:
                if (c->src)
                        out->num = (double)c->src->lagging;
                break;
        case RULES_ID_LAGGING_EXAMPLES:
                out->str = c->src && c->src->lagging_examples ? c->src->lagging_examples : "";
                break;
        case RULES_ID_UNMAPPED:
                if (c->src)
                        out->num = (double)c->src->unmapped;
                break;
        case RULES_ID_UNMAPPED_EXAMPLES:
                out->str = c->src && c->src->unmapped_examples ? c->src->unmapped_examples : "";
                break;
        case _RULES_ID_MAX:
                break;
        }
}

static const char *arg_string(Ctx *c, const Expr *x)
{
        Value v;

        eval(c, x, &v);
        return v.kind == RULES_KIND_STRING && v.str ? v.str : "";
}

static int arg_word(Ctx *c, const Expr *x)
{
        Value v;

        eval(c, x, &v);
        return v.word;
}

static ProvSet clouds_in_geo(Ctx *c, CellState st, const char *geo_name, bool *ret_unknown)
{
        const RulesGeo *geo = rules_geo_find(geo_name), *all;
        ProvSet s = {{0}};
        bool unlocated = false;
        size_t n, g;

        *ret_unknown = false;
        if (!geo || !c->mm)
                return s;
        all = rules_geos(&n);
        g = (size_t)(geo - all);
        if (g < MAX_GEOS && (c->rc->geo_done[st] & (UINT32_C(1) << g))) {
                *ret_unknown = c->rc->geo_unknown[st] & (UINT32_C(1) << g);
                return c->rc->geo[g][st];
        }
        n = MIN(c->m->n_providers, (size_t)MAX_COLS);
        for (size_t col = 0; col < n; col++) {
                const Cell *cell;
                if (c->m->providers[col].kind != PROVIDER_CLOUD || c->e->stable_of[col] < 0)
                        continue;
                cell = matrix_cell(c->mm, col);
                if (cell->state != st)
                        continue;
                /* Unknown regions are not "outside": with one such cloud the set itself is
                 * unknown (missing), so no comparison on it holds (rules/README.md). */
                if (cell->n_regions == 0)
                        unlocated = true;
                for (size_t r = 0; r < cell->n_regions; r++)
                        if (rules_geo_match(geo, cell->regions[r])) {
                                set_add(&s, (unsigned)c->e->stable_of[col]);
                                break;
                        }
        }
        if (g < MAX_GEOS) {
                c->rc->geo[g][st] = s;
                c->rc->geo_done[st] |= UINT32_C(1) << g;
                if (unlocated)
                        c->rc->geo_unknown[st] |= UINT32_C(1) << g;
        }
        *ret_unknown = unlocated;
        return s;
}

static void eval_call(Ctx *c, const Expr *x, Value *out)
{
        const Expr *const *a = (const Expr *const *)x->children;
        RulesFunc f = x->func ? x->func->id : _RULES_FN_MAX;
        const Value *cur;
        Value tmp, prev;
        const Cell *cell;

        *out = (Value){.kind = x->kind, .elem = x->elem_kind, .num = NAN, .str = ""};
        if (x->func && x->n_children < x->func->min_args)
                return;
        switch (f) {
        case RULES_FN_CLOUDS: {
                int st = arg_word(c, a[0]);
                if (st < 0 || st >= N_STATES)
                        break;
                if (x->kwargs[0])
                        out->set = clouds_in_geo(c, (CellState)st, arg_string(c, x->kwargs[0]),
                                                 &out->missing);
                else
                        out->set = row_cache_sets(c)->by[PROVIDER_CLOUD][st];
                break;
        }
        case RULES_FN_PROVIDERS: {
                int k = arg_word(c, a[0]), st = arg_word(c, a[1]);
                if (k >= 0 && k < N_KINDS && st >= 0 && st < N_STATES)
                        out->set = row_cache_sets(c)->by[k][st];
                break;
        }
        case RULES_FN_ON:
                out->b = cell_of(c, a[0])->state == CELL_AVAILABLE;
                break;
        case RULES_FN_REGIONS_KNOWN:
                out->b = cell_of(c, a[0])->n_regions > 0;
                break;
        case RULES_FN_REGIONS:
                cell = cell_of(c, a[0]);
                out->elem = RULES_KIND_STRING;
                out->strs = cell->regions;
                out->n = cell->regions ? cell->n_regions : 0;
                break;
        case RULES_FN_PRICE:
                cell = cell_of(c, a[0]);
                out->num = matrix_cell_price(cell, streq(arg_string(c, a[1]), "output"));
                break;
        case RULES_FN_MIN_PRICE:
        case RULES_FN_MAX_PRICE: {
                int side = streq(arg_string(c, a[0]), "output");
                int kind = _PROVIDER_KIND_MAX;
                if (x->kwargs[0]) {
                        Value kv;
                        eval(c, x->kwargs[0], &kv);
                        kind = kv.word;
                }
                row_prices(c);
                out->num = f == RULES_FN_MIN_PRICE ? c->rc->lo[kind][side] : c->rc->hi[kind][side];
                break;
        }
        case RULES_FN_PREVIOUS:
                (void)slot_current(c, x, &tmp);
                if (!slot_previous(c, x, out))
                        *out = (Value){.kind = x->kind,
                                       .elem = x->elem_kind,
                                       .missing = true,
                                       .num = NAN,
                                       .str = ""};
                break;
        case RULES_FN_CHANGED:
                cur = slot_current(c, x, &tmp);
                out->b = slot_previous(c, x, &prev) && !is_missing(&prev) && !is_missing(cur) &&
                         !value_same(c, &prev, cur);
                break;
        case RULES_FN_LOST:
        case RULES_FN_GAINED:
                cur = slot_current(c, x, &tmp);
                if (!slot_previous(c, x, &prev) || prev.kind != RULES_KIND_PROVIDER_SET)
                        break;
                out->set = f == RULES_FN_LOST ? set_minus(&prev.set, &cur->set)
                                              : set_minus(&cur->set, &prev.set);
                break;
        case RULES_FN_LIFECYCLE: {
                Lifecycle l = cell_of(c, a[0])->lifecycle;
                out->missing = l == LIFECYCLE_UNKNOWN;
                out->str = lifecycle_name(l);
                break;
        }
        case RULES_FN_EOL_WITHIN: {
                Value d;
                cell = cell_of(c, a[0]);
                eval(c, a[1], &d);
                if (cell->eol <= 0 || cell->eol > INT64_MAX / (int64_t)USEC_PER_SEC || isnan(d.num))
                        break;
                out->b = (double)(cell->eol * (int64_t)USEC_PER_SEC) - (double)c->now <= d.num;
                break;
        }
        case RULES_FN_COUNT:
                eval(c, a[0], &tmp);
                out->num = tmp.missing                   ? NAN
                           : tmp.kind == RULES_KIND_LIST ? (double)tmp.n
                                                         : num_of(&tmp);
                break;
        case _RULES_FN_MAX:
                break;
        }
}

static bool compare(RulesOp op, double x, double y)
{
        if (isnan(x) || isnan(y))
                return false;
        switch (op) {
        case RULES_OP_LT:
                return x < y;
        case RULES_OP_LE:
                return x <= y;
        case RULES_OP_GT:
                return x > y;
        case RULES_OP_GE:
                return x >= y;
        default:
                return false;
        }
}

static void eval_binary(Ctx *c, const Expr *x, Value *out)
{
        Value l, r;
        bool known, eq;
        double a, b;

        *out = (Value){.kind = x->kind, .num = NAN, .str = ""};
        eval(c, x->children[0], &l);
        if (x->op == RULES_OP_AND || x->op == RULES_OP_OR) {
                if (l.b == (x->op == RULES_OP_OR)) {
                        out->b = l.b;
                        return;
                }
                eval(c, x->children[1], &r);
                out->b = r.b;
                return;
        }
        eval(c, x->children[1], &r);
        switch (x->op) {
        case RULES_OP_EQ:
        case RULES_OP_NE:
                eq = value_equal(c, &l, &r, &known);
                out->b = known && (x->op == RULES_OP_EQ ? eq : !eq);
                break;
        case RULES_OP_LT:
        case RULES_OP_LE:
        case RULES_OP_GT:
        case RULES_OP_GE:
                out->b = compare(x->op, num_of(&l), num_of(&r));
                break;
        case RULES_OP_IN:
                if (is_missing(&l) || is_missing(&r))
                        break;
                if (r.kind == RULES_KIND_PROVIDER_SET)
                        out->b = l.kind == RULES_KIND_STRING &&
                                 set_has(&r.set, x->children[0]->type == EXPR_STRING
                                                     ? provider_number(c, x->children[0])
                                                     : registry_find(&c->e->reg, l.str));
                else if (r.kind == RULES_KIND_LIST)
                        out->b = list_contains(c, &r, &l);
                break;
        case RULES_OP_ADD:
        case RULES_OP_SUB:
        case RULES_OP_MUL:
        case RULES_OP_DIV:
                a = num_of(&l);
                b = num_of(&r);
                out->num = x->op == RULES_OP_ADD   ? a + b
                           : x->op == RULES_OP_SUB ? a - b
                           : x->op == RULES_OP_MUL ? a * b
                           : b == 0                ? NAN
                                                   : a / b;
                break;
        default:
                break;
        }
}

static void eval(Ctx *c, const Expr *x, Value *out)
{
        switch (x->type) {
        case EXPR_NUMBER:
                *out = (Value){.kind = RULES_KIND_NUMBER, .num = x->number};
                return;
        case EXPR_DURATION:
                *out = (Value){.kind = RULES_KIND_DURATION, .num = (double)x->usec};
                return;
        case EXPR_STRING:
                *out = (Value){.kind = RULES_KIND_STRING, .str = x->string ? x->string : ""};
                return;
        case EXPR_BOOL:
                *out = (Value){.kind = RULES_KIND_BOOL, .b = x->boolean};
                return;
        case EXPR_LIST:
                *out = (Value){
                    .kind = RULES_KIND_LIST, .elem = x->elem_kind, .list = x, .n = x->n_children};
                return;
        case EXPR_IDENT:
                eval_ident(c, x, out);
                return;
        case EXPR_CALL:
                eval_call(c, x, out);
                return;
        case EXPR_UNARY: {
                Value v;
                eval(c, x->children[0], &v);
                if (x->op == RULES_OP_NOT)
                        *out = (Value){
                            .kind = RULES_KIND_BOOL, .missing = v.missing, .b = !v.missing && !v.b};
                else
                        *out = (Value){.kind = x->kind, .num = -num_of(&v)};
                return;
        }
        case EXPR_BINARY:
                eval_binary(c, x, out);
                return;
        case _EXPR_TYPE_MAX:
                break;
        }
        *out = (Value){.kind = x->kind, .num = NAN, .str = ""};
}

static bool eval_bool(Ctx *c, const Expr *x)
{
        Value v;

        eval(c, x, &v);
        return v.kind == RULES_KIND_BOOL && !v.missing && v.b;
}

/* ---- rendering ------------------------------------------------------------------------- */

typedef struct Buf {
        char *p;
        size_t n, cap;
        bool full;
} Buf;

static void buf_put(Buf *b, const char *s, size_t len)
{
        static const char ellipsis[] = "...";

        size_t room;

        if (b->full)
                return;
        /* Until full, n never passes the cap; written so the compiler can see it too. */
        room = b->n < RULES_EVAL_MAX_TEXT ? RULES_EVAL_MAX_TEXT - b->n : 0;
        if (len > room) {
                len = room;
                b->full = true;
        }
        util_grow((void **)&b->p, &b->cap, b->n + len + sizeof(ellipsis), 1);
        memcpy(b->p + b->n, s, len);
        b->n += len;
        if (b->full) {
                memcpy(b->p + b->n, ellipsis, sizeof(ellipsis) - 1);
                b->n += sizeof(ellipsis) - 1;
        }
        b->p[b->n] = '\0';
}

static void buf_puts(Buf *b, const char *s)
{
        buf_put(b, s, strlen(s));
}

static const char *buf_str(Buf *b)
{
        if (!b->p) {
                util_grow((void **)&b->p, &b->cap, 1, 1);
                b->p[0] = '\0';
        }
        return b->p;
}

static void render_number(Buf *b, double v)
{
        char tmp[64];
        int n;

        if (isnan(v)) {
                buf_puts(b, "unknown");
                return;
        }
        if (v == 0)
                v = 0; /* no "-0" */
        if (!isfinite(v) || fabs(v) >= 1e15) {
                snprintf(tmp, sizeof(tmp), "%g", v);
                buf_puts(b, tmp);
                return;
        }
        n = snprintf(tmp, sizeof(tmp), "%.6f", v);
        while (n > 0 && tmp[n - 1] == '0')
                tmp[--n] = '\0';
        if (n > 0 && tmp[n - 1] == '.')
                tmp[--n] = '\0';
        buf_puts(b, streq(tmp, "-0") ? "0" : tmp);
}

static void render_duration(Buf *b, double usec)
{
        char tmp[96];

        if (isnan(usec)) {
                buf_puts(b, "unknown");
                return;
        }
        if (usec < 0) {
                buf_puts(b, "-");
                usec = -usec;
        }
        if (!(usec < 1e18)) {
                render_number(b, usec / (double)USEC_PER_DAY);
                buf_puts(b, "d");
                return;
        }
        /* Whole seconds read better in a message than "2h3m4s567ms891us". */
        if (usec >= (double)USEC_PER_SEC)
                usec = round(usec / (double)USEC_PER_SEC) * (double)USEC_PER_SEC;
        buf_puts(b, util_format_duration(tmp, sizeof(tmp), (uint64_t)llround(usec)));
}

static void render_set(Buf *b, const Registry *reg, const ProvSet *s, const char *sep,
                       const char *none)
{
        unsigned idx[RULES_EVAL_MAX_PROVIDERS], n = 0;

        for (unsigned i = 0; i < reg->n; i++)
                if (set_has(s, (int)i))
                        idx[n++] = i;
        /* The matrix's column order: clouds, direct, aggregators, each by id. */
        for (unsigned i = 1; i < n; i++)
                for (unsigned j = i; j > 0; j--) {
                        unsigned x = idx[j - 1], y = idx[j];
                        int cmp = reg->kinds[x] != reg->kinds[y]
                                      ? (int)reg->kinds[x] - (int)reg->kinds[y]
                                      : strcmp(reg->names[x], reg->names[y]);
                        if (cmp <= 0)
                                break;
                        idx[j - 1] = y;
                        idx[j] = x;
                }
        if (!n)
                buf_puts(b, none);
        for (unsigned i = 0; i < n; i++) {
                if (i)
                        buf_puts(b, sep);
                buf_puts(b, reg->names[idx[i]]);
        }
}

static void render_value(Ctx *c, Buf *b, const Value *v)
{
        if (is_missing(v)) {
                buf_puts(b, "unknown");
                return;
        }
        switch (v->kind) {
        case RULES_KIND_NUMBER:
                render_number(b, v->num);
                break;
        case RULES_KIND_DURATION:
                render_duration(b, v->num);
                break;
        case RULES_KIND_STRING:
                buf_puts(b, v->str ? v->str : "");
                break;
        case RULES_KIND_BOOL:
                buf_puts(b, v->b ? "true" : "false");
                break;
        case RULES_KIND_PROVIDER_SET:
                render_set(b, &c->e->reg, &v->set, ", ", "none");
                break;
        case RULES_KIND_LIST:
                if (!v->n)
                        buf_puts(b, "none");
                for (size_t i = 0; i < v->n && !b->full; i++) {
                        Value x;
                        if (i)
                                buf_puts(b, ", ");
                        list_elem(c, v, i, &x);
                        render_value(c, b, &x);
                }
                break;
        case RULES_KIND_CELL_STATE:
                buf_puts(b, cell_state_name((CellState)v->word));
                break;
        case RULES_KIND_PROVIDER_KIND:
                buf_puts(b, provider_kind_name((ProviderKind)v->word));
                break;
        case RULES_KIND_SOURCE_STATE:
                buf_puts(b, source_status_name((SourceStatus)v->word));
                break;
        default:
                break;
        }
}

static void render_template(Ctx *c, Buf *b, const Template *t)
{
        for (size_t i = 0; i < t->n_parts && !b->full; i++) {
                const TemplatePart *p = &t->parts[i];
                if (p->literal) {
                        buf_puts(b, p->literal);
                } else if (p->expr) {
                        Value v;
                        eval(c, p->expr, &v);
                        render_value(c, b, &v);
                }
        }
}

static void announce(Ctx *c, Alert *a, AlertEvent ev, rules_event_fn cb, void *userdata)
{
        const Rule *rule = c->rs->rule;
        bool model = rule->target == RULE_TARGET_MODEL;
        Buf summary = {0}, description = {0}, clouds = {0}, previous = {0};

        if (ev != ALERT_EVENT_FIRING && ev != ALERT_EVENT_REPEAT && ev != ALERT_EVENT_RESOLVED)
                return;
        /* A resolve says what fired, not what the values are now ("only on none"). */
        if (ev == ALERT_EVENT_RESOLVED && a->summary) {
                buf_puts(&summary, a->summary);
        } else if (rule->summary) {
                render_template(c, &summary, rule->summary);
        } else {
                buf_puts(&summary, rule->name);
                buf_puts(&summary, " for ");
                buf_puts(&summary, c->key);
        }
        if (rule->description)
                render_template(c, &description, rule->description);
        if (model) {
                ProvSet now = available_of(c, true);
                ProvSet then = c->entry && c->entry->has_prev ? key_prev(c->entry) : now;
                render_set(&clouds, &c->e->reg, &now, ",", "");
                render_set(&previous, &c->e->reg, &then, ",", "");
        }

        free(a->summary);
        a->summary = xstrdup(buf_str(&summary));
        /* Kept, so a sink re-sending the alert after a restart says what it said. */
        free(a->description);
        a->description = rule->description ? xstrdup(buf_str(&description)) : NULL;
        free(a->clouds);
        a->clouds = model ? xstrdup(buf_str(&clouds)) : NULL;
        if (cb) {
                RulesEvent re = {
                    .rule = rule,
                    .key = c->key,
                    .event = ev,
                    .phase = a->phase,
                    .summary = a->summary,
                    .description = rule->description ? buf_str(&description) : NULL,
                    .clouds = model ? buf_str(&clouds) : NULL,
                    /* No previous evaluation, no previous clouds. */
                    .previous_clouds =
                        model && c->entry && c->entry->has_prev ? buf_str(&previous) : NULL,
                    .now = c->now,
                };
                cb(&re, userdata);
        }
        free(summary.p);
        free(description.p);
        free(clouds.p);
        free(previous.p);
}

/* ---- rule states ----------------------------------------------------------------------- */

static void collect_slots(const Expr *x, const Expr **slots, unsigned n)
{
        if (!x)
                return;
        if (x->type == EXPR_CALL && x->func && x->func->lookback && x->slot < n &&
            x->n_children >= 1)
                slots[x->slot] = x;
        for (size_t i = 0; i < x->n_children; i++)
                collect_slots(x->children[i], slots, n);
        for (size_t i = 0; i < RULES_MAX_KWARGS; i++)
                collect_slots(x->kwargs[i], slots, n);
}

static void collect_template_slots(const Template *t, const Expr **slots, unsigned n)
{
        for (size_t i = 0; t && i < t->n_parts; i++)
                collect_slots(t->parts[i].expr, slots, n);
}

static void rule_states_free(RuleState *rs, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(rs[i].name);
                free(rs[i].slots);
                free(rs[i].sigs);
        }
        free(rs);
}

static RuleState *rule_states_build(const RuleSet *rules, uint64_t repeat, size_t *ret_n,
                                    size_t *ret_total, size_t *ret_max)
{
        size_t n = rules ? rules->n_rules : 0, total = 0, max = 0;
        RuleState *rs = xcalloc(MAX(n, (size_t)1), sizeof(RuleState));

        for (size_t i = 0; i < n; i++) {
                const Rule *r = rules->rules[i];
                RuleState *s = &rs[i];
                s->rule = r;
                s->name = xstrdup(r->name);
                s->n_slots = r->n_slots;
                s->hist_off = total;
                s->slots = xcalloc(MAX(r->n_slots, 1u), sizeof(Expr *));
                s->sigs = xcalloc(MAX(r->n_slots, 1u), sizeof(SlotSig));
                collect_slots(r->where, s->slots, r->n_slots);
                collect_slots(r->when, s->slots, r->n_slots);
                collect_template_slots(r->summary, s->slots, r->n_slots);
                collect_template_slots(r->description, s->slots, r->n_slots);
                for (unsigned k = 0; k < r->n_slots; k++) {
                        const Expr *call = s->slots[k];
                        if (!call) {
                                s->sigs[k] =
                                    (SlotSig){_RULES_FN_MAX, RULES_KIND_NONE, RULES_KIND_NONE};
                        } else if (call->func->id == RULES_FN_LOST ||
                                   call->func->id == RULES_FN_GAINED) {
                                s->sigs[k] = (SlotSig){call->func->id, RULES_KIND_PROVIDER_SET,
                                                       RULES_KIND_NONE};
                        } else {
                                s->sigs[k] = (SlotSig){call->func->id, call->children[0]->kind,
                                                       call->children[0]->elem_kind};
                        }
                }
                s->timing = (AlertTiming){
                    .for_polls = r->for_polls,
                    .for_usec = r->for_usec,
                    .keep_firing_for_usec = r->keep_firing_for_usec,
                    .repeat_interval_usec = repeat,
                };
                total += r->n_slots;
                max = MAX(max, (size_t)r->n_slots);
        }
        *ret_n = n;
        *ret_total = total;
        *ret_max = max;
        return rs;
}

static bool sigs_match(const RuleState *a, const RuleState *b)
{
        if (a->n_slots != b->n_slots)
                return false;
        for (unsigned k = 0; k < a->n_slots; k++)
                if (a->sigs[k].func != b->sigs[k].func || a->sigs[k].kind != b->sigs[k].kind ||
                    a->sigs[k].elem != b->sigs[k].elem)
                        return false;
        return true;
}

static const RuleState *rule_state_find(const RulesEngine *e, const char *name)
{
        for (size_t i = 0; i < e->n_rs; i++)
                if (streq(e->rs[i].name, name))
                        return &e->rs[i];
        return NULL;
}

/* A key named by the len bytes at id (at most MAX_NAME), with total_slots empty look-back
 * values. */
static KeyEntry *key_new_n(const char *id, size_t len, size_t total_slots)
{
        size_t room = key_id_room(len), hist = total_slots * sizeof(HVal);
        KeyEntry *k;

        if (len > UINT16_MAX)
                abort();
        k = xcalloc(1, sizeof(KeyEntry) + room + hist);
        k->id_len = (uint16_t)len;
        k->has_hist = total_slots > 0;
        memcpy(key_id(k), id, len);
        return k;
}

static KeyEntry *key_new(const char *id, size_t total_slots)
{
        return key_new_n(id, strlen(id), total_slots);
}

static void key_free(KeyEntry *k, size_t total_slots)
{
        HVal *hist;

        if (!k)
                return;
        hist = key_hist(k);
        for (size_t s = 0; hist && s < total_slots; s++)
                hval_clear(&hist[s]);
        free(k->prev_all);
        free(k);
}

static void keys_free(KeyEntry **keys, size_t n, size_t total_slots)
{
        for (size_t i = 0; i < n; i++)
                key_free(keys[i], total_slots);
        free(keys);
}

static void sources_free(SourceSeen *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(s[i].name);
        free(s);
}

static void scratch_alloc(RulesEngine *e)
{
        free(e->cur);
        free(e->computed);
        free(e->cursor);
        e->cur = xcalloc(MAX(e->max_slots, (size_t)1), sizeof(Value));
        e->computed = xcalloc(MAX(e->max_slots, (size_t)1), 1);
        e->cursor = xcalloc(MAX(e->n_rs, (size_t)1), sizeof(size_t));
}

static void prune_alerts(AlertTable *t, const RuleState *rs, size_t n)
{
        const char **keep = xcalloc(n + 1, sizeof(char *));

        for (size_t i = 0; i < n; i++)
                keep[i] = rs[i].name;
        alert_table_prune(t, keep);
        free(keep);
}

int rules_engine_new(const RuleSet *rules, uint64_t repeat_interval_usec, RulesEngine **ret)
{
        RulesEngine *e;

        if (!ret)
                return -EINVAL;
        e = xcalloc(1, sizeof(RulesEngine));
        e->repeat_interval = repeat_interval_usec;
        e->rules = rules;
        e->rs = rule_states_build(rules, repeat_interval_usec, &e->n_rs, &e->total_slots,
                                  &e->max_slots);
        scratch_alloc(e);
        *ret = e;
        return 0;
}

void rules_engine_free(RulesEngine *e)
{
        if (!e)
                return;
        keys_free(e->keys, e->n_keys, e->total_slots);
        sources_free(e->srcs, e->n_srcs);
        alert_table_clear(&e->alerts);
        registry_clear(&e->reg);
        rule_states_free(e->rs, e->n_rs);
        free(e->cur);
        free(e->computed);
        free(e->cursor);
        free(e);
}

int rules_engine_set_rules(RulesEngine *e, const RuleSet *rules)
{
        size_t n, total, max;
        RuleState *rs;
        const RuleState **from;

        if (!e)
                return -EINVAL;
        rs = rule_states_build(rules, e->repeat_interval, &n, &total, &max);
        /* Which old rule's history each new rule inherits: same name, same slots. */
        from = xcalloc(MAX(n, (size_t)1), sizeof(RuleState *));
        for (size_t i = 0; i < n; i++) {
                const RuleState *old = rule_state_find(e, rs[i].name);
                if (old && sigs_match(old, &rs[i]))
                        from[i] = old;
        }
        for (size_t k = 0; k < e->n_keys; k++) {
                KeyEntry *key = e->keys[k], *moved = key_new(key_id(key), total);
                HVal *key_h = key_hist(key), *moved_h = key_hist(moved);
                if (key->has_prev) {
                        ProvSet prev = key_prev(key);
                        key_set_prev(moved, &prev);
                }
                for (size_t i = 0; i < n && key_h; i++) {
                        if (!from[i])
                                continue;
                        for (unsigned s = 0; s < rs[i].n_slots; s++) {
                                HVal *h = &key_h[from[i]->hist_off + s];
                                moved_h[rs[i].hist_off + s] = *h;
                                *h = (HVal){0};
                        }
                }
                key_free(key, e->total_slots);
                e->keys[k] = moved;
        }
        free(from);
        prune_alerts(&e->alerts, rs, n);
        rule_states_free(e->rs, e->n_rs);
        e->rs = rs;
        e->n_rs = n;
        e->total_slots = total;
        e->max_slots = max;
        e->rules = rules;
        memset(e->lit, 0, sizeof(e->lit));
        scratch_alloc(e);
        return 0;
}

int rules_engine_set_repeat_interval(RulesEngine *e, uint64_t repeat_interval_usec)
{
        if (!e)
                return -EINVAL;
        e->repeat_interval = repeat_interval_usec;
        for (size_t i = 0; i < e->n_rs; i++)
                e->rs[i].timing.repeat_interval_usec = repeat_interval_usec;
        return 0;
}

const AlertTable *rules_engine_alerts(const RulesEngine *e)
{
        return e ? &e->alerts : NULL;
}

/* ---- one evaluation -------------------------------------------------------------------- */

static void map_providers(RulesEngine *e, const Matrix *m)
{
        size_t n = m ? MIN(m->n_providers, (size_t)MAX_COLS) : 0;

        for (size_t s = 0; s < RULES_EVAL_MAX_PROVIDERS; s++)
                e->col_of[s] = -1;
        for (size_t col = 0; col < n; col++) {
                int s = registry_add(&e->reg, m->providers[col].id, m->providers[col].kind);
                e->stable_of[col] = (int16_t)(s < 0 ? -1 : s);
                if (s >= 0)
                        e->col_of[s] = (int16_t)col;
        }
}

/* Make keys[i] the history of m->models[i]; rows that left the matrix lose theirs. */
static void sync_keys(RulesEngine *e, const Matrix *m)
{
        size_t n = m ? m->n_models : 0, a = 0;
        bool same = e->n_keys == n;
        KeyEntry **keys;

        for (size_t i = 0; i < n && same; i++)
                same = streq(key_id(e->keys[i]), m->models[i]->id);
        if (same)
                return;
        keys = xcalloc(MAX(n, (size_t)1), sizeof(KeyEntry *));
        for (size_t i = 0; i < n; i++) {
                const char *id = m->models[i]->id;
                while (a < e->n_keys && strcmp(key_id(e->keys[a]), id) < 0)
                        key_free(e->keys[a++], e->total_slots);
                if (a < e->n_keys && streq(key_id(e->keys[a]), id))
                        keys[i] = e->keys[a++];
                else
                        keys[i] = key_new(id, e->total_slots);
        }
        while (a < e->n_keys)
                key_free(e->keys[a++], e->total_slots);
        free(e->keys);
        e->keys = keys;
        e->n_keys = n;
}

static int source_cmp(const void *a, const void *b)
{
        return strcmp(((const SourceSeen *)a)->name, ((const SourceSeen *)b)->name);
}

static SourceSeen *source_find(const RulesEngine *e, const char *name)
{
        SourceSeen key = {.name = (char *)name};

        if (!e->n_srcs)
                return NULL;
        return bsearch(&key, e->srcs, e->n_srcs, sizeof(SourceSeen), source_cmp);
}

static bool source_dup(const RulesSourceView *v, size_t i)
{
        for (size_t j = 0; j < i; j++)
                if (streq(v[j].name, v[i].name))
                        return true;
        return false;
}

/* Remember when each source was first seen, for stale_for of a source never polled. */
static void sync_sources(RulesEngine *e, const RulesSourceView *v, size_t n, uint64_t now)
{
        size_t found = 0, w = 0;
        SourceSeen *srcs;

        for (size_t i = 0; i < n; i++)
                if (source_find(e, v[i].name))
                        found++;
        if (found == n && n == e->n_srcs)
                return;
        srcs = xcalloc(MAX(n, (size_t)1), sizeof(SourceSeen));
        for (size_t i = 0; i < n; i++) {
                const SourceSeen *old = source_find(e, v[i].name);
                srcs[w].name = xstrdup(v[i].name);
                srcs[w++].first_seen = old ? old->first_seen : now;
        }
        qsort(srcs, w, sizeof(SourceSeen), source_cmp);
        /* Duplicate views of one source keep one sighting. */
        size_t u = 0;
        for (size_t i = 0; i < w; i++) {
                if (u && streq(srcs[u - 1].name, srcs[i].name)) {
                        free(srcs[i].name);
                        continue;
                }
                srcs[u++] = srcs[i];
        }
        sources_free(e->srcs, e->n_srcs);
        e->srcs = srcs;
        e->n_srcs = u;
}

static size_t alert_lower_bound(const AlertTable *t, const char *rule, const char *key)
{
        size_t lo = 0, hi = t->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const Alert *a = t->alerts[mid];
                int c = strcmp(a->rule, rule);
                if (!c)
                        c = strcmp(a->key, key);
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static void step_orphan(RulesEngine *e, const RuleState *rs, Alert *a, const Matrix *m,
                        uint64_t now, rules_event_fn cb, void *userdata)
{
        RowCache rc = {.sets_done = true, .age_done = true, .price_done = true, .age = NAN};
        Ctx c = {.e = e, .m = m, .key = a->key, .rc = &rc, .rs = rs, .now = now};
        AlertEvent ev;

        for (int k = 0; k <= _PROVIDER_KIND_MAX; k++)
                for (int side = 0; side < 2; side++)
                        rc.lo[k][side] = rc.hi[k][side] = NAN;
        memset(e->computed, 0, MAX(rs->n_slots, 1u));
        ev = alert_step(a, &rs->timing, false, now);
        announce(&c, a, ev, cb, userdata);
}

/* The alert of rule ri for key (NULL if none), stepping the rule's alerts for keys that
 * sort before it: their rows are gone, so their condition no longer holds. */
static Alert *cursor_alert(RulesEngine *e, size_t ri, const Matrix *m, const char *key,
                           uint64_t now, rules_event_fn cb, void *userdata)
{
        const RuleState *rs = &e->rs[ri];
        AlertTable *t = &e->alerts;

        while (e->cursor[ri] < t->n) {
                Alert *a = t->alerts[e->cursor[ri]];
                int c;
                if (!streq(a->rule, rs->name))
                        return NULL;
                c = strcmp(a->key, key);
                if (c == 0)
                        return a;
                if (c > 0)
                        return NULL;
                step_orphan(e, rs, a, m, now, cb, userdata);
                e->cursor[ri]++;
        }
        return NULL;
}

static Alert *cursor_insert(RulesEngine *e, size_t ri, const char *key)
{
        size_t pos = e->cursor[ri];
        Alert *a = alert_table_get(&e->alerts, e->rs[ri].name, key);

        if (pos >= e->alerts.n || e->alerts.alerts[pos] != a)
                for (pos = 0; pos < e->alerts.n && e->alerts.alerts[pos] != a; pos++)
                        ;
        for (size_t j = 0; j < e->n_rs; j++)
                if (e->cursor[j] >= pos)
                        e->cursor[j]++;
        e->cursor[ri] = pos + 1;
        return a;
}

static void slots_fill(Ctx *c)
{
        Value tmp;

        for (unsigned s = 0; s < c->rs->n_slots; s++)
                if (!c->e->computed[s] && c->rs->slots[s])
                        (void)slot_current(c, c->rs->slots[s], &tmp);
}

static void slots_commit(Ctx *c)
{
        HVal *hist;

        if (!c->entry || !key_hist(c->entry))
                return;
        hist = key_hist(c->entry) + c->rs->hist_off;
        for (unsigned s = 0; s < c->rs->n_slots; s++)
                if (c->e->computed[s])
                        hval_store(c, &hist[s], &c->e->cur[s]);
}

/* A row outside where is not evaluated and keeps no history: when it comes back, the
 * rule sees it for the first time. */
static void slots_forget(Ctx *c)
{
        if (!c->entry || !key_hist(c->entry))
                return;
        for (unsigned s = 0; s < c->rs->n_slots; s++)
                hval_clear(&key_hist(c->entry)[c->rs->hist_off + s]);
}

static void eval_model_rule(Ctx *c, size_t ri, rules_event_fn cb, void *userdata)
{
        RulesEngine *e = c->e;
        const RuleState *rs = &e->rs[ri];
        const Rule *rule = rs->rule;
        Alert *a;
        bool excluded, cond;

        a = cursor_alert(e, ri, c->m, c->key, c->now, cb, userdata);
        c->rs = rs;
        memset(e->computed, 0, MAX(rs->n_slots, 1u));
        excluded = rule->where && !eval_bool(c, rule->where);
        cond = !excluded && eval_bool(c, rule->when);
        /* Slots that and/or skipped are still brought up to date: previous() means the
         * previous evaluation, not the previous one that happened to need the value. */
        if (!excluded)
                slots_fill(c);
        if (!a && cond)
                a = cursor_insert(e, ri, c->key);
        else if (a)
                e->cursor[ri]++;
        if (a)
                announce(c, a, alert_step(a, &rs->timing, cond, c->now), cb, userdata);
        if (excluded)
                slots_forget(c);
        else
                slots_commit(c);
}

static void eval_source_rule(RulesEngine *e, size_t ri, const RulesSourceView *v, size_t n,
                             uint64_t now, rules_event_fn cb, void *userdata)
{
        const RuleState *rs = &e->rs[ri];
        AlertTable *t = &e->alerts;

        for (size_t k = alert_lower_bound(t, rs->name, "");
             k < t->n && streq(t->alerts[k]->rule, rs->name); k++) {
                bool present = false;
                for (size_t i = 0; i < n && !present; i++)
                        present = streq(v[i].name, t->alerts[k]->key);
                if (!present)
                        step_orphan(e, rs, t->alerts[k], NULL, now, cb, userdata);
        }
        for (size_t i = 0; i < n; i++) {
                const SourceSeen *seen = source_find(e, v[i].name);
                RowCache rc = {0};
                Ctx c = {.e = e,
                         .key = v[i].name,
                         .rc = &rc,
                         .src = &v[i],
                         .src_first = seen ? seen->first_seen : now,
                         .rs = rs,
                         .now = now};
                Alert *a;
                bool cond;

                if (source_dup(v, i))
                        continue;
                memset(e->computed, 0, MAX(rs->n_slots, 1u));
                cond = (!rs->rule->where || eval_bool(&c, rs->rule->where)) &&
                       eval_bool(&c, rs->rule->when);
                a = cond ? alert_table_get(t, rs->name, v[i].name)
                         : alert_table_find(t, rs->name, v[i].name);
                if (a)
                        announce(&c, a, alert_step(a, &rs->timing, cond, now), cb, userdata);
        }
}

/* The context for evaluating row i of m at now, with an empty row cache. */
static void row_ctx_init(Ctx *c, RowCache *rc, RulesEngine *e, const Matrix *m, size_t i,
                         uint64_t now)
{
        *c = (Ctx){.e = e,
                   .m = m,
                   .mm = m->models[i],
                   .key = m->models[i]->id,
                   .entry = e->keys[i],
                   .rc = rc,
                   .now = now};
        rc->sets_done = rc->age_done = rc->price_done = false;
        memset(rc->geo_done, 0, sizeof(rc->geo_done));
        memset(rc->geo_unknown, 0, sizeof(rc->geo_unknown));
}

int rules_engine_evaluate(RulesEngine *e, const Matrix *m, const RulesSourceView *sources,
                          size_t n_sources, uint64_t now, rules_event_fn cb, void *userdata)
{
        if (!e || (n_sources && !sources))
                return -EINVAL;
        if (n_sources > RULES_EVAL_MAX_SOURCES)
                return -E2BIG;
        for (size_t i = 0; i < n_sources; i++)
                if (!sources[i].name || strnlen(sources[i].name, MAX_NAME + 1) > MAX_NAME)
                        return -EINVAL;

        if (!e->first_eval)
                e->first_eval = now;
        map_providers(e, m);
        sync_keys(e, m);
        sync_sources(e, sources, n_sources, now);

        for (size_t ri = 0; ri < e->n_rs; ri++)
                e->cursor[ri] = alert_lower_bound(&e->alerts, e->rs[ri].name, "");
        for (size_t i = 0; i < e->n_keys; i++) {
                RowCache rc;
                Ctx c;

                row_ctx_init(&c, &rc, e, m, i, now);
                for (size_t ri = 0; ri < e->n_rs; ri++)
                        if (e->rs[ri].rule->target == RULE_TARGET_MODEL)
                                eval_model_rule(&c, ri, cb, userdata);
                ProvSet avail = available_of(&c, true);
                key_set_prev(e->keys[i], &avail);
        }
        for (size_t ri = 0; ri < e->n_rs; ri++) {
                if (e->rs[ri].rule->target != RULE_TARGET_MODEL)
                        continue;
                /* Alerts past the last row belong to rows that are gone. */
                for (; e->cursor[ri] < e->alerts.n; e->cursor[ri]++) {
                        Alert *a = e->alerts.alerts[e->cursor[ri]];
                        if (!streq(a->rule, e->rs[ri].name))
                                break;
                        step_orphan(e, &e->rs[ri], a, m, now, cb, userdata);
                }
        }
        for (size_t ri = 0; ri < e->n_rs; ri++)
                if (e->rs[ri].rule->target == RULE_TARGET_SOURCE)
                        eval_source_rule(e, ri, sources, n_sources, now, cb, userdata);
        return 0;
}

int rules_engine_rebase(RulesEngine *e, const Matrix *m, uint64_t now)
{
        if (!e || !m)
                return -EINVAL;
        map_providers(e, m);
        sync_keys(e, m);
        for (size_t i = 0; i < e->n_keys; i++) {
                RowCache rc;
                Ctx c;

                /* A row never evaluated keeps having no past. */
                if (!e->keys[i]->has_prev)
                        continue;
                row_ctx_init(&c, &rc, e, m, i, now);
                for (size_t ri = 0; ri < e->n_rs; ri++) {
                        const RuleState *rs = &e->rs[ri];
                        if (rs->rule->target != RULE_TARGET_MODEL)
                                continue;
                        c.rs = rs;
                        memset(e->computed, 0, MAX(rs->n_slots, 1u));
                        if (rs->rule->where && !eval_bool(&c, rs->rule->where))
                                continue;
                        slots_fill(&c);
                        slots_commit(&c);
                }
                ProvSet avail = available_of(&c, true);
                key_set_prev(e->keys[i], &avail);
        }
        return 0;
}

/* ---- state file ------------------------------------------------------------------------ */

static const char *const hkind_names[_RULES_KIND_MAX] = {
    [RULES_KIND_NUMBER] = "number",
    [RULES_KIND_DURATION] = "duration",
    [RULES_KIND_STRING] = "string",
    [RULES_KIND_BOOL] = "bool",
    [RULES_KIND_LIST] = "list",
    [RULES_KIND_PROVIDER_SET] = "provider-set",
    [RULES_KIND_CELL_STATE] = "cell-state",
    [RULES_KIND_PROVIDER_KIND] = "provider-kind",
    [RULES_KIND_SOURCE_STATE] = "source-state",
};

static int hkind_from(const char *s, bool allow_none, RulesKind *ret)
{
        if (!s)
                return -EBADMSG;
        if (allow_none && streq(s, "none")) {
                *ret = RULES_KIND_NONE;
                return 0;
        }
        for (int k = 0; k < _RULES_KIND_MAX; k++)
                if (hkind_names[k] && streq(s, hkind_names[k])) {
                        *ret = (RulesKind)k;
                        return 0;
                }
        return -EBADMSG;
}

static const char *word_name(RulesKind kind, int w)
{
        switch (kind) {
        case RULES_KIND_CELL_STATE:
                return cell_state_name((CellState)w);
        case RULES_KIND_PROVIDER_KIND:
                return provider_kind_name((ProviderKind)w);
        default:
                return source_status_name((SourceStatus)w);
        }
}

static int word_from(RulesKind kind, const char *s, int *ret)
{
        int n = kind == RULES_KIND_CELL_STATE      ? _CELL_STATE_MAX
                : kind == RULES_KIND_PROVIDER_KIND ? _PROVIDER_KIND_MAX
                                                   : _SOURCE_STATUS_MAX;

        for (int w = 0; s && w < n; w++)
                if (streq(s, word_name(kind, w))) {
                        *ret = w;
                        return 0;
                }
        return -EBADMSG;
}

/* A history text that is not UTF-8 is saved repaired, never taken for memory exhaustion. */
static json_t *text_json(const char *s)
{
        json_t *j = json_string(s);

        if (!j) {
                _cleanup_free_ char *clean = util_utf8_dup(s, SIZE_MAX);
                j = json_string(clean);
        }
        return j;
}

static json_t *oom_check(json_t *j)
{
        if (!j)
                util_oom();
        return j;
}

static json_t *u64_to_json(uint64_t v)
{
        char buf[32];

        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return oom_check(json_string(buf));
}

static json_t *num_to_json(double v)
{
        return oom_check(isfinite(v) ? json_real(v) : json_null());
}

static json_t *set_to_json(const Registry *reg, const ProvSet *s)
{
        json_t *arr = oom_check(json_array());

        for (unsigned i = 0; i < reg->n; i++)
                if (set_has(s, (int)i))
                        json_array_append_new(arr, oom_check(json_string(reg->names[i])));
        return arr;
}

static json_t *hval_to_json(const Registry *reg, const HVal *h)
{
        json_t *o, *v;

        if (!h->has || h->kind < 0 || h->kind >= _RULES_KIND_MAX || !hkind_names[h->kind])
                return oom_check(json_null());
        if (h->missing) {
                o = oom_check(json_pack("{s:s, s:n}", "kind", hkind_names[h->kind], "value"));
                if (h->kind == RULES_KIND_LIST)
                        json_object_set_new(o, "elem", oom_check(json_string("none")));
                return o;
        }
        switch (h->kind) {
        case RULES_KIND_NUMBER:
        case RULES_KIND_DURATION:
                v = num_to_json(h->num);
                break;
        case RULES_KIND_STRING:
                v = oom_check(text_json(h->str ? h->str : ""));
                break;
        case RULES_KIND_BOOL:
                v = oom_check(json_boolean(h->b));
                break;
        case RULES_KIND_PROVIDER_SET:
                v = set_to_json(reg, &h->set);
                break;
        case RULES_KIND_LIST:
                v = oom_check(json_array());
                for (size_t i = 0; i < h->n; i++)
                        json_array_append_new(v, hval_strings(h) ? oom_check(text_json(h->strs[i]))
                                                                 : num_to_json(h->nums[i]));
                break;
        default:
                v = oom_check(json_string(word_name(h->kind, h->word)));
                break;
        }
        o = oom_check(json_pack("{s:s, s:o}", "kind", hkind_names[h->kind], "value", v));
        if (h->kind == RULES_KIND_LIST)
                json_object_set_new(o, "elem",
                                    oom_check(json_string(h->elem >= 0 && hkind_names[h->elem]
                                                              ? hkind_names[h->elem]
                                                              : "none")));
        return o;
}

int rules_engine_to_json(const RulesEngine *e, json_t **ret)
{
        json_t *root, *alerts = NULL, *providers, *sources, *models;
        int r;

        if (!e || !ret)
                return -EINVAL;
        r = alert_table_to_json(&e->alerts, &alerts);
        if (r < 0)
                return r;
        providers = oom_check(json_array());
        for (unsigned i = 0; i < e->reg.n; i++)
                json_array_append_new(
                    providers, oom_check(json_pack("{s:s, s:s}", "id", e->reg.names[i], "kind",
                                                   provider_kind_name(e->reg.kinds[i]))));
        sources = oom_check(json_array());
        for (size_t i = 0; i < e->n_srcs; i++)
                json_array_append_new(
                    sources,
                    oom_check(json_pack("{s:s, s:o}", "name", e->srcs[i].name, "first_seen",
                                        u64_to_json(e->srcs[i].first_seen))));
        models = oom_check(json_array());
        for (size_t i = 0; i < e->n_keys; i++) {
                const KeyEntry *k = e->keys[i];
                json_t *o = oom_check(json_pack("{s:s}", "id", key_id(k)));
                json_t *hist = oom_check(json_object());
                if (k->has_prev) {
                        ProvSet prev = key_prev(k);
                        json_object_set_new(o, "clouds", set_to_json(&e->reg, &prev));
                }
                for (size_t ri = 0; ri < e->n_rs && key_hist(k); ri++) {
                        const RuleState *rs = &e->rs[ri];
                        json_t *slots;
                        if (!rs->n_slots)
                                continue;
                        slots = oom_check(json_array());
                        for (unsigned s = 0; s < rs->n_slots; s++)
                                json_array_append_new(
                                    slots, hval_to_json(&e->reg, &key_hist(k)[rs->hist_off + s]));
                        json_object_set_new(hist, rs->name, slots);
                }
                json_object_set_new(o, "history", hist);
                json_array_append_new(models, o);
        }
        root = oom_check(json_pack("{s:i, s:o, s:o, s:o, s:o, s:o}", "version", 1, "alerts", alerts,
                                   "providers", providers, "sources", sources, "models", models,
                                   "first_evaluation", u64_to_json(e->first_eval)));
        *ret = root;
        return 0;
}

static const char *json_str_max(const json_t *v, size_t max)
{
        const char *s = json_string_value(v);

        if (!s || json_string_length(v) > max || strlen(s) != json_string_length(v))
                return NULL;
        /* JSON leaves DEL unescaped: no text this engine stores holds one (ids are clean,
         * rule strings refuse it), so a state file that does was not written by it. */
        if (memchr(s, 0x7f, json_string_length(v)))
                return NULL;
        return s;
}

static int u64_from_json(const json_t *v, uint64_t *ret)
{
        const char *s = json_str_max(v, 20);

        if (!s || util_parse_uint(s, ret) < 0)
                return -EBADMSG;
        return 0;
}

static int num_from_json(const json_t *v, double *ret)
{
        if (json_is_null(v)) {
                *ret = NAN;
                return 0;
        }
        if (!json_is_number(v))
                return -EBADMSG;
        *ret = json_number_value(v);
        return isfinite(*ret) ? 0 : -EBADMSG;
}

static int set_from_json(const Registry *reg, const json_t *v, ProvSet *ret)
{
        ProvSet s = {{0}};
        size_t i;
        json_t *x;

        if (!json_is_array(v) || json_array_size(v) > RULES_EVAL_MAX_PROVIDERS)
                return -EBADMSG;
        json_array_foreach(v, i, x)
        {
                const char *name = json_str_max(x, MAX_NAME);
                int p = name ? registry_find(reg, name) : -ENOENT;
                if (p < 0)
                        return -EBADMSG;
                set_add(&s, (unsigned)p);
        }
        *ret = s;
        return 0;
}

/* Parse one history value into h (cleared by the caller on failure). */
static int hval_from_json(const Registry *reg, const json_t *o, HVal *h)
{
        const json_t *v = json_object_get(o, "value");
        RulesKind kind, elem = RULES_KIND_NONE;
        size_t i;
        json_t *x;
        int r;

        if (json_is_null(o))
                return 0;
        if (!json_is_object(o) || !v ||
            hkind_from(json_string_value(json_object_get(o, "kind")), false, &kind) < 0)
                return -EBADMSG;
        h->has = true;
        h->kind = (int8_t)kind;
        h->elem = RULES_KIND_NONE;
        if (json_is_null(v) && kind != RULES_KIND_NUMBER && kind != RULES_KIND_DURATION) {
                h->missing = true;
                if (kind != RULES_KIND_LIST)
                        return 0;
                r = hkind_from(json_string_value(json_object_get(o, "elem")), true, &elem);
                h->elem = (int8_t)elem;
                return r < 0 ? -EBADMSG : 0;
        }
        switch (kind) {
        case RULES_KIND_NUMBER:
        case RULES_KIND_DURATION:
                r = num_from_json(v, &h->num);
                h->missing = isnan(h->num);
                return r;
        case RULES_KIND_STRING: {
                const char *s = json_str_max(v, MAX_STRING);
                if (!s)
                        return -EBADMSG;
                h->str = xstrdup(s);
                return 0;
        }
        case RULES_KIND_BOOL:
                if (!json_is_boolean(v))
                        return -EBADMSG;
                h->b = json_is_true(v);
                return 0;
        case RULES_KIND_PROVIDER_SET:
                return set_from_json(reg, v, &h->set);
        case RULES_KIND_LIST:
                if (hkind_from(json_string_value(json_object_get(o, "elem")), true, &elem) < 0 ||
                    !json_is_array(v) || json_array_size(v) > RULES_EVAL_MAX_LIST)
                        return -EBADMSG;
                h->elem = (int8_t)elem;
                if (h->elem != RULES_KIND_STRING && h->elem != RULES_KIND_NUMBER &&
                    h->elem != RULES_KIND_DURATION &&
                    !(h->elem == RULES_KIND_NONE && json_array_size(v) == 0))
                        return -EBADMSG;
                if (!json_array_size(v))
                        return 0;
                if (hval_strings(h))
                        h->strs = xcalloc(json_array_size(v), sizeof(char *));
                else
                        h->nums = xcalloc(json_array_size(v), sizeof(double));
                json_array_foreach(v, i, x)
                {
                        if (hval_strings(h)) {
                                const char *s = json_str_max(x, MAX_STRING);
                                if (!s)
                                        return -EBADMSG;
                                h->strs[i] = xstrdup(s);
                        } else if (num_from_json(x, &h->nums[i]) < 0) {
                                return -EBADMSG;
                        }
                        h->n = (uint32_t)(i + 1);
                }
                return 0;
        default:
                return word_from(kind, json_string_value(v), &h->word);
        }
}

static bool hval_fits(const HVal *h, const SlotSig *sig)
{
        if (!h->has)
                return true;
        if (h->kind != sig->kind)
                return false;
        return h->kind != RULES_KIND_LIST || h->missing || h->n == 0 || h->elem == sig->elem ||
               sig->elem == RULES_KIND_NONE;
}

/* One model's history: hist is laid out for e's rules. Rules no longer known, or whose
 * slots changed shape since the file was written, start over rather than fail. */
static int key_history_from_json(const RulesEngine *e, const Registry *reg, const json_t *o,
                                 HVal *hist)
{
        const char *name;
        json_t *slots;

        if (!json_is_object(o))
                return -EBADMSG;
        json_object_foreach((json_t *)o, name, slots)
        {
                const RuleState *rs = rule_state_find(e, name);
                size_t i;
                json_t *x;
                bool fits = true;

                if (!json_is_array(slots) || json_array_size(slots) > RULES_EVAL_MAX_SLOTS)
                        return -EBADMSG;
                json_array_foreach(slots, i, x)
                {
                        HVal h = {0};
                        if (hval_from_json(reg, x, &h) < 0) {
                                hval_clear(&h);
                                return -EBADMSG;
                        }
                        if (rs && hist && json_array_size(slots) == rs->n_slots &&
                            hval_fits(&h, &rs->sigs[i]) && fits) {
                                hval_clear(&hist[rs->hist_off + i]);
                                hist[rs->hist_off + i] = h;
                        } else {
                                fits = false;
                                hval_clear(&h);
                        }
                }
                if (!fits && rs && hist)
                        for (unsigned s = 0; s < rs->n_slots; s++)
                                hval_clear(&hist[rs->hist_off + s]);
        }
        return 0;
}

static int key_cmp(const void *a, const void *b)
{
        return strcmp(key_id((*(KeyEntry *const *)a)), key_id((*(KeyEntry *const *)b)));
}

/* Put a state read whole (from JSON or the binary form) in place of the engine's own. */
static void engine_replace(RulesEngine *e, uint64_t first_eval, KeyEntry **keys, size_t n_keys,
                           SourceSeen *srcs, size_t n_srcs, AlertTable *alerts, Registry *reg)
{
        prune_alerts(alerts, e->rs, e->n_rs);
        e->first_eval = first_eval;
        keys_free(e->keys, e->n_keys, e->total_slots);
        sources_free(e->srcs, e->n_srcs);
        alert_table_clear(&e->alerts);
        registry_clear(&e->reg);
        e->keys = keys;
        e->n_keys = n_keys;
        e->srcs = srcs;
        e->n_srcs = n_srcs;
        e->alerts = *alerts;
        e->reg = *reg;
        memset(e->lit, 0, sizeof(e->lit));
        free(reg);
}

int rules_engine_from_json(RulesEngine *e, const json_t *j)
{
        Registry *reg = xcalloc(1, sizeof(Registry));
        AlertTable alerts = {0};
        KeyEntry **keys = NULL;
        SourceSeen *srcs = NULL;
        size_t n_keys = 0, n_srcs = 0, i;
        const json_t *providers, *sources, *models;
        json_t *x;
        int r = -EBADMSG;

        if (!e || !j)
                goto fail_inval;
        providers = json_object_get(j, "providers");
        sources = json_object_get(j, "sources");
        models = json_object_get(j, "models");
        if (!json_is_object(j) || json_integer_value(json_object_get(j, "version")) != 1 ||
            !json_is_array(providers) || json_array_size(providers) > RULES_EVAL_MAX_PROVIDERS ||
            !json_is_array(sources) || json_array_size(sources) > RULES_EVAL_MAX_SOURCES ||
            !json_is_array(models) || json_array_size(models) > MATRIX_MAX_MODELS)
                goto fail;
        if (alert_table_from_json(json_object_get(j, "alerts"), &alerts) < 0)
                goto fail;

        json_array_foreach(providers, i, x)
        {
                const char *id = json_str_max(json_object_get(x, "id"), MAX_NAME);
                ProviderKind kind;
                if (!id || !*id || registry_find(reg, id) >= 0 ||
                    provider_kind_from_string(json_string_value(json_object_get(x, "kind")),
                                              &kind) < 0 ||
                    registry_add(reg, id, kind) < 0)
                        goto fail;
        }

        srcs = xcalloc(MAX(json_array_size(sources), (size_t)1), sizeof(SourceSeen));
        json_array_foreach(sources, i, x)
        {
                const char *name = json_str_max(json_object_get(x, "name"), MAX_NAME);
                if (!name ||
                    u64_from_json(json_object_get(x, "first_seen"), &srcs[n_srcs].first_seen) < 0)
                        goto fail;
                srcs[n_srcs++].name = xstrdup(name);
        }
        qsort(srcs, n_srcs, sizeof(SourceSeen), source_cmp);
        for (i = 1; i < n_srcs; i++)
                if (streq(srcs[i - 1].name, srcs[i].name))
                        goto fail;

        keys = xcalloc(MAX(json_array_size(models), (size_t)1), sizeof(KeyEntry *));
        json_array_foreach(models, i, x)
        {
                const char *id = json_str_max(json_object_get(x, "id"), MAX_NAME);
                const json_t *clouds = json_object_get(x, "clouds");
                const json_t *hist = json_object_get(x, "history");
                KeyEntry *k;
                if (!id || !*id)
                        goto fail;
                k = keys[n_keys++] = key_new(id, e->total_slots);
                if (clouds) {
                        ProvSet prev;
                        if (set_from_json(reg, clouds, &prev) < 0)
                                goto fail;
                        key_set_prev(k, &prev);
                }
                if (hist && key_history_from_json(e, reg, hist, key_hist(k)) < 0)
                        goto fail;
        }
        qsort(keys, n_keys, sizeof(KeyEntry *), key_cmp);
        for (i = 1; i < n_keys; i++)
                if (streq(key_id(keys[i - 1]), key_id(keys[i])))
                        goto fail;

        uint64_t first_eval = 0;
        const json_t *fej = json_object_get(j, "first_evaluation");
        if (fej && u64_from_json(fej, &first_eval) < 0)
                goto fail;

        engine_replace(e, first_eval, keys, n_keys, srcs, n_srcs, &alerts, reg);
        return 0;

fail_inval:
        r = -EINVAL;
fail:
        keys_free(keys, n_keys, e ? e->total_slots : 0);
        sources_free(srcs, n_srcs);
        alert_table_clear(&alerts);
        registry_clear(reg);
        free(reg);
        return r;
}

/* ---- the binary form, for the state's change log ---------------------------------------
 *
 * What rules_engine_to_json() holds, without JSON's cost: that text was nine tenths of what
 * a state load and save spent at 10,000 models (docs/decisions.md). Provider sets are
 * numbers into the provider table written first; a model's look-back is its rules' slots
 * in the order of the rule table written before the models. */

#define ENGINE_BIN_VERSION 1u

static void set_put(StateLogBuf *b, const Registry *reg, const ProvSet *s)
{
        /* The count, then the members in ascending order, found a word at a time: a set
         * holds a few of up to RULES_EVAL_MAX_PROVIDERS numbers, and a few are written per
         * row at every save. Numbers below 128 are their own one-byte LEB128, so most sets
         * go out as one run of bytes. */
        uint8_t *p = statelog_room(b, 1 + RULES_EVAL_MAX_PROVIDERS);
        unsigned members[RULES_EVAL_MAX_PROVIDERS], n = 0;
        bool small = true;

        for (unsigned k = 0; k < SET_WORDS; k++)
                for (uint64_t w = s->w[k]; w; w &= w - 1) {
                        unsigned i = k * 64 + (unsigned)__builtin_ctzll(w);
                        if (i < reg->n) {
                                members[n++] = i;
                                small &= i < 0x80;
                        }
                }
        if (small && n < 0x80) {
                p[0] = (uint8_t)n;
                for (unsigned i = 0; i < n; i++)
                        p[1 + i] = (uint8_t)members[i];
                b->len += 1 + (size_t)n;
                return;
        }
        statelog_put_uint(b, n);
        for (unsigned i = 0; i < n; i++)
                statelog_put_uint(b, members[i]);
}

static void text_put(StateLogBuf *b, const char *s)
{
        if (util_utf8_valid(s, strlen(s))) {
                statelog_put_str(b, s);
                return;
        }
        _cleanup_free_ char *clean = util_utf8_dup(s, SIZE_MAX);
        statelog_put_str(b, clean);
}

static bool hkind_valid(int k)
{
        return k >= 0 && k < _RULES_KIND_MAX && hkind_names[k];
}

static void hval_put(StateLogBuf *b, const Registry *reg, const HVal *h)
{
        if (!h->has || !hkind_valid(h->kind)) {
                statelog_put_u8(b, 0);
                return;
        }
        statelog_put_u8(b, (uint8_t)h->kind + 1);
        statelog_put_u8(b, (uint8_t)(h->missing | (h->kind == RULES_KIND_BOOL && h->b) << 1));
        if (h->missing && h->kind != RULES_KIND_NUMBER && h->kind != RULES_KIND_DURATION)
                return;
        switch (h->kind) {
        case RULES_KIND_NUMBER:
        case RULES_KIND_DURATION:
                statelog_put_double(b, h->num);
                break;
        case RULES_KIND_STRING:
                text_put(b, h->str ? h->str : "");
                break;
        case RULES_KIND_BOOL:
                break;
        case RULES_KIND_PROVIDER_SET:
                set_put(b, reg, &h->set);
                break;
        case RULES_KIND_LIST:
                statelog_put_u8(b, hkind_valid(h->elem) ? (uint8_t)h->elem + 1 : 0);
                statelog_put_uint(b, h->n);
                for (size_t i = 0; i < h->n; i++) {
                        if (hval_strings(h))
                                text_put(b, h->strs[i]);
                        else
                                statelog_put_double(b, h->nums[i]);
                }
                break;
        default:
                statelog_put_uint(b, (uint64_t)h->word);
                break;
        }
}

void rules_engine_save(const RulesEngine *e, StateLogBuf *b)
{
        json_t *alerts = NULL;
        size_t n_rules = 0;

        statelog_put_uint(b, ENGINE_BIN_VERSION);
        /* The alert table is small (one entry per alert ever firing and not yet pruned) and
         * read by the tools that read the state: it stays JSON. */
        if (alert_table_to_json(&e->alerts, &alerts) < 0)
                util_oom();
        _cleanup_free_ char *text = json_dumps(alerts, JSON_COMPACT);
        json_decref(alerts);
        if (!text)
                util_oom();
        statelog_put_str(b, text);
        statelog_put_uint(b, e->first_eval);

        statelog_put_uint(b, e->reg.n);
        for (unsigned i = 0; i < e->reg.n; i++) {
                statelog_put_str(b, e->reg.names[i]);
                statelog_put_u8(b, (uint8_t)e->reg.kinds[i]);
        }
        statelog_put_uint(b, e->n_srcs);
        for (size_t i = 0; i < e->n_srcs; i++) {
                statelog_put_str(b, e->srcs[i].name);
                statelog_put_uint(b, e->srcs[i].first_seen);
        }
        for (size_t ri = 0; ri < e->n_rs; ri++)
                n_rules += e->rs[ri].n_slots > 0;
        statelog_put_uint(b, n_rules);
        for (size_t ri = 0; ri < e->n_rs; ri++)
                if (e->rs[ri].n_slots > 0) {
                        statelog_put_str(b, e->rs[ri].name);
                        statelog_put_uint(b, e->rs[ri].n_slots);
                }
        statelog_put_uint(b, e->n_keys);
        for (size_t i = 0; i < e->n_keys; i++) {
                const KeyEntry *k = e->keys[i];
                statelog_put_str(b, key_id(k));
                statelog_put_u8(b, k->has_prev);
                if (k->has_prev) {
                        ProvSet prev = key_prev(k);
                        set_put(b, &e->reg, &prev);
                }
                for (size_t ri = 0; ri < e->n_rs; ri++) {
                        const RuleState *rs = &e->rs[ri];
                        for (unsigned s = 0; s < rs->n_slots; s++)
                                hval_put(b, &e->reg,
                                         key_hist(k) ? &key_hist(k)[rs->hist_off + s] : &(HVal){0});
                }
        }
}

static int set_get(StateLogReader *r, unsigned n_providers, ProvSet *ret)
{
        ProvSet s = {{0}};
        uint64_t n;

        /* What set_put() writes as one run of bytes (numbers below 128), read as one. */
        if (!r->failed && r->p < r->end && *r->p < 0x80 && *r->p <= n_providers &&
            (size_t)(r->end - r->p) > *r->p) {
                const uint8_t *p = r->p + 1, *end = p + *r->p;
                for (; p < end && *p < 0x80 && *p < n_providers; p++)
                        set_add(&s, *p);
                if (p == end) {
                        r->p = end;
                        *ret = s;
                        return 0;
                }
                s = (ProvSet){{0}};
        }
        n = statelog_get_uint_max(r, n_providers);

        for (uint64_t i = 0; i < n && !r->failed; i++) {
                uint64_t p = statelog_get_uint_max(r, n_providers ? n_providers - 1 : 0);
                if (!n_providers)
                        return -EBADMSG;
                set_add(&s, (unsigned)p);
        }
        if (r->failed)
                return -EBADMSG;
        *ret = s;
        return 0;
}

/* A text as rules_engine_from_json() accepts one, where the reader holds it: at most max
 * bytes of UTF-8 (*ret_len of them), no NUL; NULL if it is not one. */
static const char *text_view(StateLogReader *r, size_t max, size_t *ret_len)
{
        size_t len = 0;
        const char *s = statelog_get_strn(r, max, &len);

        /* util_utf8_valid() refuses a NUL as it does every control character. */
        if (!s || !util_utf8_valid(s, len))
                return NULL;
        *ret_len = len;
        return s;
}

/* The same, copied. */
static char *text_get(StateLogReader *r, size_t max, bool *ok)
{
        size_t len = 0;
        const char *s = text_view(r, max, &len);

        if (!s) {
                *ok = false;
                return NULL;
        }
        return xstrndup(s, len);
}

/* One look-back value into h (cleared by the caller on failure). */
static int hval_get(StateLogReader *r, unsigned n_providers, HVal *h)
{
        unsigned tag = statelog_get_u8(r);
        unsigned flags;
        bool ok = true;

        if (tag == 0)
                return r->failed ? -EBADMSG : 0;
        if (!hkind_valid((int)tag - 1))
                return -EBADMSG;
        h->has = true;
        h->kind = (int8_t)(tag - 1);
        h->elem = RULES_KIND_NONE;
        flags = statelog_get_u8(r);
        if (flags > 3)
                return -EBADMSG;
        h->missing = flags & 1;
        if (h->kind == RULES_KIND_BOOL)
                h->b = flags & 2;
        if (h->missing && h->kind != RULES_KIND_NUMBER && h->kind != RULES_KIND_DURATION)
                return r->failed ? -EBADMSG : 0;
        switch (h->kind) {
        case RULES_KIND_NUMBER:
        case RULES_KIND_DURATION:
                h->num = statelog_get_double(r);
                if (isinf(h->num))
                        return -EBADMSG;
                h->missing = isnan(h->num);
                break;
        case RULES_KIND_STRING:
                h->str = text_get(r, MAX_STRING, &ok);
                break;
        case RULES_KIND_BOOL:
                break;
        case RULES_KIND_PROVIDER_SET:
                return set_get(r, n_providers, &h->set);
        case RULES_KIND_LIST: {
                unsigned elem = statelog_get_u8(r);
                uint64_t n = statelog_get_uint_max(r, RULES_EVAL_MAX_LIST);
                if (elem == 0 ? n > 0 : !hkind_valid((int)elem - 1))
                        return -EBADMSG;
                h->elem = elem ? (int8_t)(elem - 1) : RULES_KIND_NONE;
                if (h->elem != RULES_KIND_NONE && h->elem != RULES_KIND_STRING &&
                    h->elem != RULES_KIND_NUMBER && h->elem != RULES_KIND_DURATION)
                        return -EBADMSG;
                if (n == 0)
                        break;
                if (hval_strings(h))
                        h->strs = xcalloc(n, sizeof(char *));
                else
                        h->nums = xcalloc(n, sizeof(double));
                for (size_t i = 0; i < n && ok && !r->failed; i++) {
                        if (hval_strings(h))
                                h->strs[i] = text_get(r, MAX_STRING, &ok);
                        else if (!isfinite(h->nums[i] = statelog_get_double(r)))
                                ok = false;
                        h->n = (uint32_t)(i + 1);
                }
                break;
        }
        default: {
                int n = h->kind == RULES_KIND_CELL_STATE      ? _CELL_STATE_MAX
                        : h->kind == RULES_KIND_PROVIDER_KIND ? _PROVIDER_KIND_MAX
                                                              : _SOURCE_STATUS_MAX;
                h->word = (int)statelog_get_uint_max(r, (uint64_t)n - 1);
                break;
        }
        }
        return ok && !r->failed ? 0 : -EBADMSG;
}

int rules_engine_load(RulesEngine *e, StateLogReader *r)
{
        Registry *reg = xcalloc(1, sizeof(Registry));
        AlertTable alerts = {0};
        KeyEntry **keys = NULL;
        SourceSeen *srcs = NULL;
        const RuleState **saved = NULL;
        unsigned *saved_slots = NULL;
        size_t n_keys = 0, n_srcs = 0, n_saved = 0;
        uint64_t first_eval, n;
        bool ok = true;
        int ret = -EBADMSG;

        if (!e || !r) {
                free(reg);
                return -EINVAL;
        }
        if (statelog_get_uint(r) != ENGINE_BIN_VERSION)
                goto fail;
        {
                size_t len = 0;
                const char *text = statelog_get_strn(r, STATELOG_MAX_FRAME, &len);
                json_t *j = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
                int k = j ? alert_table_from_json(j, &alerts) : -EBADMSG;
                json_decref(j);
                if (k < 0)
                        goto fail;
        }
        first_eval = statelog_get_uint(r);

        n = statelog_get_uint_max(r, RULES_EVAL_MAX_PROVIDERS);
        for (uint64_t i = 0; i < n && !r->failed; i++) {
                _cleanup_free_ char *id = text_get(r, MAX_NAME, &ok);
                unsigned kind = statelog_get_u8(r);
                if (!ok || !id || !*id || kind >= _PROVIDER_KIND_MAX ||
                    registry_find(reg, id) >= 0 || registry_add(reg, id, (ProviderKind)kind) < 0)
                        goto fail;
        }

        n = statelog_get_uint_max(r, RULES_EVAL_MAX_SOURCES);
        srcs = xcalloc(MAX(n, (uint64_t)1), sizeof(SourceSeen));
        for (uint64_t i = 0; i < n && !r->failed; i++) {
                char *name = text_get(r, MAX_NAME, &ok);
                if (!ok || !name) {
                        free(name);
                        goto fail;
                }
                srcs[n_srcs].name = name;
                srcs[n_srcs++].first_seen = statelog_get_uint(r);
        }
        qsort(srcs, n_srcs, sizeof(SourceSeen), source_cmp);
        for (size_t i = 1; i < n_srcs; i++)
                if (streq(srcs[i - 1].name, srcs[i].name))
                        goto fail;

        /* The saved rule table: each entry is the rule that now has that name and as many
         * slots, or NULL: its values are read and dropped (a rule changed or gone starts
         * over rather than fail the load). */
        n = statelog_get_uint_max(r, RULES_MAX_ALERTS);
        saved = xcalloc(MAX(n, (uint64_t)1), sizeof(*saved));
        saved_slots = xcalloc(MAX(n, (uint64_t)1), sizeof(*saved_slots));
        for (uint64_t i = 0; i < n && !r->failed; i++) {
                _cleanup_free_ char *name = text_get(r, MAX_NAME, &ok);
                const RuleState *rs = name ? rule_state_find(e, name) : NULL;
                saved_slots[i] = (unsigned)statelog_get_uint_max(r, RULES_EVAL_MAX_SLOTS);
                if (!ok || !name || !saved_slots[i])
                        goto fail;
                saved[i] = rs && rs->n_slots == saved_slots[i] ? rs : NULL;
                n_saved++;
        }

        n = statelog_get_uint_max(r, MATRIX_MAX_MODELS);
        keys = xcalloc(MAX(n, (uint64_t)1), sizeof(KeyEntry *));
        for (uint64_t i = 0; i < n && !r->failed; i++) {
                size_t len = 0;
                const char *id = text_view(r, MAX_NAME, &len);
                KeyEntry *k;
                if (!id || len == 0)
                        goto fail;
                k = keys[n_keys++] = key_new_n(id, len, e->total_slots);
                if (statelog_get_u8(r)) {
                        ProvSet prev;
                        if (set_get(r, reg->n, &prev) < 0)
                                goto fail;
                        key_set_prev(k, &prev);
                }
                for (size_t ri = 0; ri < n_saved; ri++) {
                        const RuleState *rs = saved[ri];
                        bool fits = true;
                        for (unsigned s = 0; s < saved_slots[ri]; s++) {
                                HVal h = {0};
                                if (hval_get(r, reg->n, &h) < 0) {
                                        hval_clear(&h);
                                        goto fail;
                                }
                                if (rs && key_hist(k) && fits && hval_fits(&h, &rs->sigs[s])) {
                                        hval_clear(&key_hist(k)[rs->hist_off + s]);
                                        key_hist(k)[rs->hist_off + s] = h;
                                } else {
                                        fits = false;
                                        hval_clear(&h);
                                }
                        }
                        if (!fits && rs && key_hist(k))
                                for (unsigned s = 0; s < rs->n_slots; s++)
                                        hval_clear(&key_hist(k)[rs->hist_off + s]);
                }
        }
        if (!statelog_reader_done(r))
                goto fail;
        /* A save writes them sorted: sorting is for a record that was not. */
        bool sorted = true;
        for (size_t i = 1; i < n_keys && sorted; i++)
                sorted = key_cmp(&keys[i - 1], &keys[i]) < 0;
        if (!sorted) {
                qsort(keys, n_keys, sizeof(KeyEntry *), key_cmp);
                for (size_t i = 1; i < n_keys; i++)
                        if (streq(key_id(keys[i - 1]), key_id(keys[i])))
                                goto fail;
        }

        engine_replace(e, first_eval, keys, n_keys, srcs, n_srcs, &alerts, reg);
        free(saved);
        free(saved_slots);
        return 0;

fail:
        keys_free(keys, n_keys, e->total_slots);
        sources_free(srcs, n_srcs);
        alert_table_clear(&alerts);
        registry_clear(reg);
        free(reg);
        free(saved);
        free(saved_slots);
        return ret;
}
