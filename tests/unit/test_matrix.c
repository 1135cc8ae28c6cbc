/* Invariants of the matrix: the merge rule of docs/matrix.md, DESIGN 6.2 (K misses before a
 * removal), change lists, the state-file round trip and its refusal of corrupt documents. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "lockwatch/matrix.h"
#include "lockwatch/util.h"

#define T0   (UINT64_C(1780272000) * USEC_PER_SEC) /* 2026-06-01T00:00:00Z */
#define STEP USEC_PER_HOUR
#define NP   .pin = NAN, .pout = NAN /* no price published */

/* One row a source publishes, in the shape the normalizer hands to the matrix. */
typedef struct Row {
        const char *provider;
        ProviderKind kind;
        const char *model;
        const char *raw;
        bool gone; /* positively shown unavailable */
        const char *regions[6];
        double pin, pout;
        Lifecycle lc;
        int64_t eol;
        bool unmapped;
} Row;

static int apply_rows(Matrix *m, const char *source, const Row *rows, size_t n, uint64_t now,
                      unsigned k, MatrixChanges *ch)
{
        Observation *obs = xcalloc(MAX(n, (size_t)1), sizeof(Observation));
        MatrixInput *in = xcalloc(MAX(n, (size_t)1), sizeof(MatrixInput));
        int r;

        for (size_t i = 0; i < n; i++) {
                size_t nr = 0;
                while (nr < ELEMENTSOF(rows[i].regions) && rows[i].regions[nr])
                        nr++;
                obs[i] = (Observation){
                    .model = (char *)(rows[i].raw ? rows[i].raw : rows[i].model),
                    .available = !rows[i].gone,
                    .regions = (char **)rows[i].regions,
                    .n_regions = nr,
                    .price_in = rows[i].pin,
                    .price_out = rows[i].pout,
                    .lifecycle = rows[i].lc,
                    .eol = rows[i].eol,
                };
                in[i] = (MatrixInput){
                    .provider = rows[i].provider,
                    .kind = rows[i].kind,
                    .model = rows[i].model,
                    .mapped = !rows[i].unmapped,
                    .obs = &obs[i],
                };
        }
        r = matrix_apply(m, source, in, n, now, k, ch);
        free(obs);
        free(in);
        return r;
}

static const Cell *cell_of(const Matrix *m, const char *model, const char *provider)
{
        const MatrixModel *mm = matrix_find_model(m, model);
        int i = matrix_provider_index(m, provider);

        assert_non_null(mm);
        assert_true(i >= 0);
        return matrix_cell(mm, (size_t)i);
}

static const Evidence *evidence_of(const Matrix *m, const char *model, const char *provider,
                                   const char *source)
{
        const Cell *c = cell_of(m, model, provider);

        for (size_t i = 0; i < c->n_evidence; i++)
                if (streq(c->evidence[i].source, source))
                        return &c->evidence[i];
        return NULL;
}

static void assert_price(double got, double want)
{
        if (isnan(want))
                assert_true(isnan(got));
        else
                assert_true(got == want);
}

static void assert_regions(char *const *got, size_t n, const char *const *want)
{
        size_t nw = 0;

        while (want[nw])
                nw++;
        assert_int_equal(n, nw);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(got[i], want[i]);
}

typedef struct WantChange {
        const char *model, *provider;
        CellState from, to;
} WantChange;

static void assert_changes(const MatrixChanges *ch, const WantChange *want, size_t n)
{
        assert_int_equal(ch->n, n);
        for (size_t i = 0; i < n; i++) {
                assert_string_equal(ch->items[i].model, want[i].model);
                assert_string_equal(ch->items[i].provider, want[i].provider);
                assert_int_equal(ch->items[i].from, want[i].from);
                assert_int_equal(ch->items[i].to, want[i].to);
        }
}

static void test_apply_basics(void **state)
{
        _cleanup_(matrix_changes_clear) MatrixChanges ch = {0};
        Matrix *m = NULL;
        const Row rows[] = {
            {"openrouter", PROVIDER_AGGREGATOR, "anthropic/claude-opus-4-7",
             "anthropic/claude-opus-4.7", .pin = 5, .pout = 25},
            {"gcp", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "claude-opus-4-7@default",
             .regions = {"us-east5"}, .pin = 5, .pout = 25, .lc = LIFECYCLE_ACTIVE},
            {"anthropic", PROVIDER_DIRECT, "anthropic/claude-opus-4-7", "claude-opus-4-7", NP},
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "anthropic.claude-opus-4-7",
             .regions = {"us-west-2", "us-east-1"}, .pin = 5, .pout = 25},
            {"aws", PROVIDER_CLOUD, "meta/llama-3-1-405b-instruct",
             "meta.llama3-1-405b-instruct-v1:0", .gone = true, NP, .lc = LIFECYCLE_RETIRED},
        };
        static const WantChange want[] = {
            {"anthropic/claude-opus-4-7", "aws", CELL_UNKNOWN, CELL_AVAILABLE},
            {"anthropic/claude-opus-4-7", "gcp", CELL_UNKNOWN, CELL_AVAILABLE},
            {"anthropic/claude-opus-4-7", "anthropic", CELL_UNKNOWN, CELL_AVAILABLE},
            {"anthropic/claude-opus-4-7", "openrouter", CELL_UNKNOWN, CELL_AVAILABLE},
            {"meta/llama-3-1-405b-instruct", "aws", CELL_UNKNOWN, CELL_UNAVAILABLE},
        };
        static const char *const order[] = {"aws", "gcp", "anthropic", "openrouter"};
        const Evidence *e;
        const Cell *c;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "litellm", rows, ELEMENTSOF(rows), T0, 2, &ch), 0);

        assert_int_equal(m->n_providers, ELEMENTSOF(order));
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                assert_string_equal(m->providers[i].id, order[i]);
        assert_int_equal(m->n_models, 2);
        assert_string_equal(m->models[0]->id, "anthropic/claude-opus-4-7");
        assert_string_equal(m->models[0]->vendor, "anthropic");
        assert_true(m->models[0]->mapped);
        assert_string_equal(m->models[1]->vendor, "meta");

        c = cell_of(m, "anthropic/claude-opus-4-7", "aws");
        assert_int_equal(c->state, CELL_AVAILABLE);
        assert_regions(c->regions, c->n_regions,
                       (const char *const[]){"us-east-1", "us-west-2", NULL});
        assert_price(matrix_cell_price(c, false), 5);
        assert_price(matrix_cell_price(c, true), 25);
        assert_int_equal(matrix_cell_first_seen(c), T0);
        assert_int_equal(matrix_cell_last_seen(c), T0);
        assert_int_equal(c->n_evidence, 1);
        e = &c->evidence[0];
        assert_string_equal(e->source, "litellm");
        assert_string_equal(e->raw_id, "anthropic.claude-opus-4-7");
        assert_int_equal(e->said, CELL_AVAILABLE);
        assert_int_equal(e->first_seen, T0);
        assert_int_equal(e->last_seen, T0);
        assert_int_equal(e->changed, T0);
        assert_int_equal(e->missing, 0);

        c = cell_of(m, "anthropic/claude-opus-4-7", "anthropic");
        assert_price(matrix_cell_price(c, false), NAN);
        assert_int_equal(c->n_regions, 0);

        c = cell_of(m, "meta/llama-3-1-405b-instruct", "aws");
        assert_int_equal(c->state, CELL_UNAVAILABLE);
        /* Lifecycle, regions and prices come from available evidence only. */
        assert_int_equal(c->lifecycle, LIFECYCLE_UNKNOWN);
        assert_int_equal(c->evidence[0].lifecycle, LIFECYCLE_RETIRED);
        /* A row that never reached a column reads as unknown. */
        assert_int_equal(cell_of(m, "meta/llama-3-1-405b-instruct", "gcp")->state, CELL_UNKNOWN);
        assert_null(matrix_find_model(m, "meta/llama-4"));
        assert_int_equal(matrix_provider_index(m, "oci"), -ENOENT);

        assert_changes(&ch, want, ELEMENTSOF(want));
        matrix_free(m);
}

static void test_provider_order(void **state)
{
        /* Columns: clouds, then direct, then aggregators, each by id; a kind is fixed on
         * first sight even if a later input claims another. */
        static const struct {
                const char *id;
                ProviderKind kind;
        } seen[] = {
            {"openrouter", PROVIDER_AGGREGATOR},
            {"openai", PROVIDER_DIRECT},
            {"gcp", PROVIDER_CLOUD},
            {"azure", PROVIDER_CLOUD},
            {"anthropic", PROVIDER_DIRECT},
            {"aws", PROVIDER_CLOUD},
            {"oci", PROVIDER_CLOUD},
            {"azure", PROVIDER_AGGREGATOR},
            {"bedrock-proxy", PROVIDER_AGGREGATOR},
        };
        static const struct {
                const char *id;
                ProviderKind kind;
        } want[] = {
            {"aws", PROVIDER_CLOUD},
            {"azure", PROVIDER_CLOUD},
            {"gcp", PROVIDER_CLOUD},
            {"oci", PROVIDER_CLOUD},
            {"anthropic", PROVIDER_DIRECT},
            {"openai", PROVIDER_DIRECT},
            {"bedrock-proxy", PROVIDER_AGGREGATOR},
            {"openrouter", PROVIDER_AGGREGATOR},
        };
        Matrix *m = NULL;

        assert_int_equal(matrix_new(&m), 0);
        /* One parse per provider, so columns are inserted into existing rows one by one. */
        for (size_t i = 0; i < ELEMENTSOF(seen); i++) {
                Row r = {seen[i].id, seen[i].kind, "x/model", NP};
                Row r2 = {seen[i].id, seen[i].kind, "a/model", NP};
                char src[32];
                snprintf(src, sizeof(src), "s%zu", i);
                assert_int_equal(apply_rows(m, src, &r, 1, T0, 2, NULL), 0);
                if (i % 2)
                        assert_int_equal(apply_rows(m, src, &r2, 1, T0, 2, NULL), 0);
        }
        assert_int_equal(m->n_providers, ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                assert_string_equal(m->providers[i].id, want[i].id);
                assert_int_equal(m->providers[i].kind, want[i].kind);
                /* Each column's cell still belongs to its provider after the shifts. */
                const Cell *c = matrix_cell(matrix_find_model(m, "x/model"), i);
                assert_int_equal(c->state, CELL_AVAILABLE);
        }
        matrix_free(m);
}

static void test_duplicates_merge(void **state)
{
        /* LiteLLM lists the base id and its geo variants for aws; the fact to keep is the
         * lowest price (5 USD/Mtok) and every region. */
        const Row rows[] = {
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "us.anthropic.claude-opus-4-7",
             .regions = {"us-east-1", "us-west-2"}, .pin = 5.5, .pout = 27.5,
             .lc = LIFECYCLE_ACTIVE},
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "anthropic.claude-opus-4-7",
             .pin = 5, .pout = 25, .lc = LIFECYCLE_ACTIVE},
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "global.anthropic.claude-opus-4-7",
             .regions = {"eu-west-1", "us-east-1"}, .pin = 5.5, .pout = NAN, .lc = LIFECYCLE_LEGACY,
             .eol = 1806451200},
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "eu.anthropic.claude-opus-4-7",
             .regions = {"eu-central-1"}, .pin = NAN, .pout = 24, .eol = 1795996800},
            /* A positively-unavailable duplicate does not outvote available ones, and
             * its cheaper price and region do not leak into the evidence. */
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "apac.anthropic.claude-opus-4-7",
             .gone = true, .regions = {"ap-south-1"}, .pin = 1, .pout = 1, .lc = LIFECYCLE_RETIRED},
        };
        _cleanup_(matrix_changes_clear) MatrixChanges ch = {0};
        static const WantChange want[] = {
            {"anthropic/claude-opus-4-7", "aws", CELL_UNKNOWN, CELL_AVAILABLE},
        };
        Matrix *m = NULL;
        const Evidence *e;
        const Cell *c;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "litellm", rows, ELEMENTSOF(rows), T0, 2, &ch), 0);
        assert_changes(&ch, want, 1);
        c = cell_of(m, "anthropic/claude-opus-4-7", "aws");
        assert_int_equal(c->n_evidence, 1);
        e = &c->evidence[0];
        assert_int_equal(e->said, CELL_AVAILABLE);
        assert_string_equal(e->raw_id, "us.anthropic.claude-opus-4-7"); /* first in input order */
        assert_price(e->price_in, 5);
        assert_price(e->price_out, 24);
        assert_regions(
            e->regions, e->n_regions,
            (const char *const[]){"eu-central-1", "eu-west-1", "us-east-1", "us-west-2", NULL});
        assert_int_equal(e->lifecycle, LIFECYCLE_LEGACY);
        assert_int_equal(e->eol, 1795996800);
        assert_price(matrix_cell_price(c, false), 5);
        assert_int_equal(c->n_regions, 4);

        /* All duplicates gone: the evidence says unavailable and keeps what they say. */
        const Row gone[] = {
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "x", .gone = true, NP,
             .regions = {"b"}},
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "y", .gone = true, .pin = 3,
             .pout = NAN, .regions = {"a"}},
        };
        assert_int_equal(apply_rows(m, "litellm", gone, ELEMENTSOF(gone), T0 + STEP, 2, NULL), 0);
        e = evidence_of(m, "anthropic/claude-opus-4-7", "aws", "litellm");
        assert_int_equal(e->said, CELL_UNAVAILABLE);
        assert_string_equal(e->raw_id, "us.anthropic.claude-opus-4-7"); /* first ever seen */
        assert_regions(e->regions, e->n_regions, (const char *const[]){"a", "b", NULL});
        assert_price(e->price_in, 3);
        assert_int_equal(e->changed, T0 + STEP);
        matrix_free(m);
}

static void test_regions_replaced_each_parse(void **state)
{
        const Row p1 = {"aws",    PROVIDER_CLOUD, "a/m", .regions = {"us-east-1", "eu-west-1"},
                        .pin = 2, .pout = 4};
        const Row p2 = {"aws",    PROVIDER_CLOUD, "a/m", .regions = {"ap-south-1"},
                        .pin = 3, .pout = NAN};
        Matrix *m = NULL;
        const Evidence *e;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "cards", &p1, 1, T0, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "cards", &p2, 1, T0 + STEP, 2, NULL), 0);
        e = evidence_of(m, "a/m", "aws", "cards");
        assert_regions(e->regions, e->n_regions, (const char *const[]){"ap-south-1", NULL});
        /* Prices are what the latest parse says, not a running minimum. */
        assert_price(e->price_in, 3);
        assert_price(e->price_out, NAN);
        assert_int_equal(e->first_seen, T0);
        assert_int_equal(e->last_seen, T0 + STEP);
        assert_int_equal(e->changed, T0);
        matrix_free(m);
}

/* DESIGN 6.2 with K=2, as a timeline of parses of one source: 'P' shows the model, '-' is a
 * good parse without it. The AWS model cards once dropped a model for a day and brought it
 * back: that must never reach the cell. */
static void test_removal_after_k(void **state)
{
        static const struct {
                const char *timeline;
                unsigned k;
                const char *states;  /* cell state after each parse: A, U */
                const char *missing; /* evidence counter after each parse */
                int last_present;    /* index of the last 'P' (last_seen) */
                int flipped;         /* index of the parse that turned it unavailable, -1 */
        } cases[] = {
            {"P--", 2, "AAU", "012", 0, 2},
            {"P-P--", 2, "AAAAU", "01012", 2, 4},
            {"P-P-P-", 2, "AAAAAA", "010101", 4, -1},
            {"P---", 3, "AAAU", "0123", 0, 3},
            {"P-", 1, "AU", "01", 0, 1},
            {"P-", 0, "AU", "01", 0, 1}, /* 0 behaves as 1 */
            {"P--P", 2, "AAUA", "0120", 3, 2},
            {"P----", 2, "AAUUU", "01234", 0, 2},
        };

        for (size_t t = 0; t < ELEMENTSOF(cases); t++) {
                const Row keep = {"aws", PROVIDER_CLOUD, "other/model", NP};
                const Row both[] = {keep, {"aws", PROVIDER_CLOUD, "anthropic/claude-3-haiku", NP}};
                Matrix *m = NULL;
                uint64_t flip_time = 0;

                assert_int_equal(matrix_new(&m), 0);
                for (size_t i = 0; cases[t].timeline[i]; i++) {
                        _cleanup_(matrix_changes_clear) MatrixChanges ch = {0};
                        bool present = cases[t].timeline[i] == 'P';
                        uint64_t now = T0 + i * STEP;
                        const Evidence *e;
                        const Cell *c;

                        assert_int_equal(apply_rows(m, "cards", present ? both : &keep,
                                                    present ? 2 : 1, now, cases[t].k, &ch),
                                         0);
                        c = cell_of(m, "anthropic/claude-3-haiku", "aws");
                        e = &c->evidence[0];
                        assert_int_equal(c->state, cases[t].states[i] == 'A' ? CELL_AVAILABLE
                                                                             : CELL_UNAVAILABLE);
                        assert_int_equal(e->missing, (unsigned)(cases[t].missing[i] - '0'));
                        /* A change is reported exactly when the cell flips. */
                        bool flipped = i > 0 && cases[t].states[i] != cases[t].states[i - 1];
                        /* The first parse also brings other/model into the matrix. */
                        assert_int_equal(ch.n, i == 0 ? 2 : flipped ? 1 : 0);
                        if ((int)i == cases[t].flipped)
                                flip_time = now;
                }
                const Evidence *e = evidence_of(m, "anthropic/claude-3-haiku", "aws", "cards");
                /* last_seen is when the source last showed it, not when it was dropped. */
                assert_int_equal(e->last_seen, T0 + (uint64_t)cases[t].last_present * STEP);
                assert_int_equal(e->first_seen, T0);
                if (cases[t].flipped >= 0 && cases[t].states[strlen(cases[t].states) - 1] == 'U')
                        assert_int_equal(e->changed, flip_time);
                assert_int_equal(cell_of(m, "other/model", "aws")->state, CELL_AVAILABLE);
                matrix_free(m);
        }
}

static void test_two_sources_one_drops(void **state)
{
        const Row both[] = {
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", .regions = {"us-east-1"}, .pin = 5,
             .pout = 25},
            {"aws", PROVIDER_CLOUD, "z/keep", NP},
        };
        const Row cards[] = {
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", .regions = {"eu-west-1"}, .pin = 6,
             .pout = 30},
        };
        _cleanup_(matrix_changes_clear) MatrixChanges ch = {0};
        Matrix *m = NULL;
        const Cell *c;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "litellm", both, 2, T0, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "cards", cards, 1, T0, 2, NULL), 0);
        for (int i = 1; i <= 3; i++) {
                assert_int_equal(apply_rows(m, "litellm", &both[1], 1, T0 + i * STEP, 2, &ch), 0);
                assert_int_equal(ch.n, 0);
        }
        c = cell_of(m, "anthropic/claude-opus-4-7", "aws");
        assert_int_equal(c->state, CELL_AVAILABLE);
        assert_int_equal(evidence_of(m, "anthropic/claude-opus-4-7", "aws", "litellm")->said,
                         CELL_UNAVAILABLE);
        /* Only the evidence still saying available feeds regions and prices. */
        assert_regions(c->regions, c->n_regions, (const char *const[]){"eu-west-1", NULL});
        assert_price(matrix_cell_price(c, false), 6);
        assert_int_equal(matrix_cell_first_seen(c), T0);
        assert_int_equal(matrix_cell_last_seen(c), T0);

        /* When the second source drops it too, the cell flips once. */
        assert_int_equal(apply_rows(m, "cards", NULL, 0, T0 + 4 * STEP, 2, &ch), 0);
        assert_int_equal(ch.n, 0);
        assert_int_equal(apply_rows(m, "cards", NULL, 0, T0 + 5 * STEP, 2, &ch), 0);
        static const WantChange want[] = {
            {"anthropic/claude-opus-4-7", "aws", CELL_AVAILABLE, CELL_UNAVAILABLE},
        };
        assert_changes(&ch, want, 1);
        assert_price(matrix_cell_price(cell_of(m, "anthropic/claude-opus-4-7", "aws"), false), NAN);
        matrix_free(m);
}

/* The cell merge over evidence of several sources. */
static void test_cell_merge(void **state)
{
        static const struct {
                const char *said; /* per source: A available, U positively unavailable */
                CellState want;
        } cases[] = {
            {"A", CELL_AVAILABLE},  {"U", CELL_UNAVAILABLE},  {"AU", CELL_AVAILABLE},
            {"UA", CELL_AVAILABLE}, {"UU", CELL_UNAVAILABLE}, {"UUA", CELL_AVAILABLE},
            {"", CELL_UNKNOWN},
        };

        for (size_t t = 0; t < ELEMENTSOF(cases); t++) {
                Matrix *m = NULL;
                const Row anchor = {"gcp", PROVIDER_CLOUD, "v/m", NP};

                assert_int_equal(matrix_new(&m), 0);
                assert_int_equal(apply_rows(m, "anchor", &anchor, 1, T0, 2, NULL), 0);
                for (size_t i = 0; cases[t].said[i]; i++) {
                        char src[8];
                        Row r = {"aws", PROVIDER_CLOUD, "v/m", .gone = cases[t].said[i] == 'U', NP};
                        snprintf(src, sizeof(src), "s%zu", i);
                        assert_int_equal(apply_rows(m, src, &r, 1, T0 + i, 2, NULL), 0);
                }
                if (cases[t].said[0])
                        assert_int_equal(cell_of(m, "v/m", "aws")->state, cases[t].want);
                else
                        assert_int_equal(matrix_provider_index(m, "aws"), -ENOENT);
                matrix_free(m);
        }
}

static void test_merge_fields(void **state)
{
        static const struct {
                const char *source;
                Row row;
        } ev[] = {
            {"a",
             {"aws", PROVIDER_CLOUD, "v/m", .regions = {"us-west-2", "us-east-1"}, .pin = 3,
              .pout = 15, .lc = LIFECYCLE_ACTIVE, .eol = 0}},
            {"b",
             {"aws", PROVIDER_CLOUD, "v/m", .regions = {"eu-west-1", "us-east-1"}, .pin = 2.5,
              .pout = NAN, .lc = LIFECYCLE_LEGACY, .eol = 1806451200}},
            {"c",
             {"aws", PROVIDER_CLOUD, "v/m", .regions = {"ap-south-1"}, .pin = NAN, .pout = 14,
              .lc = LIFECYCLE_PREVIEW, .eol = 1795996800}},
            /* Unavailable evidence contributes nothing but times. */
            {"d",
             {"aws", PROVIDER_CLOUD, "v/m", .gone = true, .regions = {"zz-9"}, .pin = 0.1,
              .pout = 0.1, .lc = LIFECYCLE_RETIRED, .eol = 1}},
        };
        Matrix *m = NULL;
        const Cell *c;

        assert_int_equal(matrix_new(&m), 0);
        for (size_t i = 0; i < ELEMENTSOF(ev); i++)
                assert_int_equal(apply_rows(m, ev[i].source, &ev[i].row, 1, T0 + i * STEP, 2, NULL),
                                 0);
        c = cell_of(m, "v/m", "aws");
        assert_int_equal(c->state, CELL_AVAILABLE);
        assert_int_equal(c->n_evidence, 4);
        assert_regions(
            c->regions, c->n_regions,
            (const char *const[]){"ap-south-1", "eu-west-1", "us-east-1", "us-west-2", NULL});
        assert_price(matrix_cell_price(c, false), 2.5);
        assert_price(matrix_cell_price(c, true), 14);
        assert_int_equal(c->lifecycle, LIFECYCLE_LEGACY);
        assert_int_equal(c->eol, 1795996800);
        assert_int_equal(matrix_cell_first_seen(c), T0);
        assert_int_equal(matrix_cell_last_seen(c), T0 + 3 * STEP);
        matrix_free(m);
}

static void test_count_absent(void **state)
{
        const Row rows[] = {
            {"aws", PROVIDER_CLOUD, "a/1", NP}, {"aws", PROVIDER_CLOUD, "a/2", NP},
            {"gcp", PROVIDER_CLOUD, "a/2", NP}, {"aws", PROVIDER_CLOUD, "a/3", .gone = true, NP},
            {"gcp", PROVIDER_CLOUD, "a/4", NP},
        };
        static const struct {
                const char *keep; /* which rows the new parse still has, by index */
                size_t rows, absent;
        } cases[] = {
            {"01234", 4, 0}, {"0", 4, 3}, {"", 4, 4}, {"124", 4, 1}, {"3", 4, 4},
        };
        Matrix *m = NULL;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "s", rows, ELEMENTSOF(rows), T0, 2, NULL), 0);
        for (size_t t = 0; t < ELEMENTSOF(cases); t++) {
                Observation obs = {.available = true, .price_in = NAN, .price_out = NAN};
                MatrixInput in[ELEMENTSOF(rows) + 1];
                size_t n = 0, got_rows = 99, got_absent = 99;

                for (const char *k = cases[t].keep; *k; k++) {
                        const Row *r = &rows[*k - '0'];
                        in[n++] = (MatrixInput){r->provider, r->kind, r->model, true, &obs};
                }
                /* A row of another provider or an unknown model is not one of the source's. */
                in[n++] = (MatrixInput){"azure", PROVIDER_CLOUD, "a/1", true, &obs};
                assert_int_equal(matrix_count_absent(m, "s", in, n, &got_rows, &got_absent), 0);
                assert_int_equal(got_rows, cases[t].rows);
                assert_int_equal(got_absent, cases[t].absent);
        }
        /* An applied parse that misses rows 0 and 1 (a/1 and a/2 on aws): they stay
         * available (K = 2) but were judged then, so the next parse that lacks them again
         * counts only what is newly absent. */
        {
                Observation obs = {.available = true, .price_in = NAN, .price_out = NAN};
                MatrixInput in[] = {
                    {"gcp", PROVIDER_CLOUD, "a/2", true, &obs},
                    {"gcp", PROVIDER_CLOUD, "a/4", true, &obs},
                };
                size_t got_rows = 99, got_absent = 99;
                assert_int_equal(matrix_apply(m, "s", in, 2, T0 + STEP, 2, NULL), 0);
                assert_int_equal(matrix_count_absent(m, "s", in, 2, &got_rows, &got_absent), 0);
                assert_int_equal(got_rows, 4);
                assert_int_equal(got_absent, 0);
                assert_int_equal(matrix_count_absent(m, "s", in, 1, &got_rows, &got_absent), 0);
                assert_int_equal(got_absent, 1); /* a/4 on gcp, newly absent */
        }
        size_t rws = 99, abs = 99;
        assert_int_equal(matrix_count_absent(m, "other", NULL, 0, &rws, &abs), 0);
        assert_int_equal(rws, 0);
        assert_int_equal(abs, 0);
        matrix_free(m);
}

static void test_count_providers(void **state)
{
        const Row rows[] = {
            {"aws", PROVIDER_CLOUD, "a/1", NP},
            {"gcp", PROVIDER_CLOUD, "a/1", .gone = true, NP},
            {"azure", PROVIDER_CLOUD, "a/2", NP},
            {"anthropic", PROVIDER_DIRECT, "a/1", NP},
            {"openrouter", PROVIDER_AGGREGATOR, "a/1", NP},
            {"openrouter", PROVIDER_AGGREGATOR, "a/2", .gone = true, NP},
        };
        static const struct {
                const char *model;
                int kind;
                CellState st;
                size_t want;
        } cases[] = {
            {"a/1", PROVIDER_CLOUD, CELL_AVAILABLE, 1},
            {"a/1", PROVIDER_CLOUD, CELL_UNAVAILABLE, 1},
            {"a/1", PROVIDER_CLOUD, CELL_UNKNOWN, 1},
            {"a/1", -1, CELL_AVAILABLE, 3},
            {"a/1", PROVIDER_DIRECT, CELL_AVAILABLE, 1},
            {"a/2", PROVIDER_CLOUD, CELL_AVAILABLE, 1},
            {"a/2", PROVIDER_CLOUD, CELL_UNKNOWN, 2},
            {"a/2", PROVIDER_AGGREGATOR, CELL_UNAVAILABLE, 1},
            {"a/2", -1, CELL_UNKNOWN, 3},
        };
        Matrix *m = NULL;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "s", rows, ELEMENTSOF(rows), T0, 2, NULL), 0);
        for (size_t t = 0; t < ELEMENTSOF(cases); t++)
                assert_int_equal(matrix_count_providers(m, matrix_find_model(m, cases[t].model),
                                                        cases[t].kind, cases[t].st),
                                 cases[t].want);
        matrix_free(m);
}

static void test_forget_source(void **state)
{
        const Row r1[] = {
            {"aws", PROVIDER_CLOUD, "a/1", .regions = {"r1"}, .pin = 1, .pout = 2},
            {"gcp", PROVIDER_CLOUD, "a/1", NP},
        };
        const Row r2[] = {
            {"aws", PROVIDER_CLOUD, "a/1", .regions = {"r2"}, .pin = 3, .pout = 4},
        };
        _cleanup_(matrix_changes_clear) MatrixChanges ch = {0};
        static const WantChange want[] = {
            {"a/1", "gcp", CELL_AVAILABLE, CELL_UNKNOWN},
        };
        Matrix *m = NULL;
        const Cell *c;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "one", r1, 2, T0, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "two", r2, 1, T0 + STEP, 2, NULL), 0);
        assert_int_equal(matrix_forget_source(m, "one", &ch), 0);
        assert_changes(&ch, want, 1);
        c = cell_of(m, "a/1", "aws");
        assert_int_equal(c->n_evidence, 1);
        assert_string_equal(c->evidence[0].source, "two");
        assert_regions(c->regions, c->n_regions, (const char *const[]){"r2", NULL});
        assert_price(matrix_cell_price(c, false), 3);
        assert_int_equal(matrix_cell_first_seen(c), T0 + STEP);
        c = cell_of(m, "a/1", "gcp");
        assert_int_equal(c->n_evidence, 0);
        assert_int_equal(matrix_cell_first_seen(c), 0);
        /* Forgetting a source that never spoke changes nothing. */
        matrix_changes_clear(&ch);
        assert_int_equal(matrix_forget_source(m, "never", &ch), 0);
        assert_int_equal(ch.n, 0);
        matrix_free(m);
}

static void test_mapped_flag(void **state)
{
        const Row rows[] = {
            {"aws", PROVIDER_CLOUD, "unmapped/foo", .unmapped = true, NP},
            {"aws", PROVIDER_CLOUD, "v/m", .unmapped = true, NP},
            {"gcp", PROVIDER_CLOUD, "v/m", NP},
        };
        Matrix *m = NULL;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "s", rows, ELEMENTSOF(rows), T0, 2, NULL), 0);
        assert_false(matrix_find_model(m, "unmapped/foo")->mapped);
        assert_true(matrix_find_model(m, "v/m")->mapped);
        assert_string_equal(matrix_find_model(m, "unmapped/foo")->vendor, "unmapped");
        matrix_free(m);
}

/* Invalid input is refused whole: the matrix is left exactly as it was. */
static void test_apply_refuses(void **state)
{
        char long_id[MATRIX_MAX_ID + 2];
        const Row good = {"aws", PROVIDER_CLOUD, "v/m", NP};
        const struct {
                const char *source, *provider, *model;
                int kind;
        } cases[] = {
            {NULL, "aws", "v/x", PROVIDER_CLOUD},
            {"", "aws", "v/x", PROVIDER_CLOUD},
            {"s", "", "v/x", PROVIDER_CLOUD},
            {"s", "aws", "", PROVIDER_CLOUD},
            {"s", NULL, "v/x", PROVIDER_CLOUD},
            {"s", "aws", NULL, PROVIDER_CLOUD},
            {"s", "aws", "v/\xff", PROVIDER_CLOUD},
            {"s", "aws", "v/\xc0\xaf", PROVIDER_CLOUD},     /* overlong */
            {"s", "aws", "v/\xed\xa0\x80", PROVIDER_CLOUD}, /* surrogate */
            {"s", "aws", "v/a\nb", PROVIDER_CLOUD},
            {"s", "a\x1b[31m", "v/x", PROVIDER_CLOUD},
            {"s", "aws", long_id, PROVIDER_CLOUD},
            {"s", "aws", "v/x", 7},
            {"s", "aws", "v/x", -1},
        };
        Matrix *m = NULL;

        memset(long_id, 'a', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "s", &good, 1, T0, 2, NULL), 0);
        for (size_t t = 0; t < ELEMENTSOF(cases); t++) {
                Observation obs = {
                    .model = "raw", .available = true, .price_in = NAN, .price_out = NAN};
                MatrixInput in[2] = {
                    {"aws", PROVIDER_CLOUD, "v/m", true, &obs},
                    {cases[t].provider, (ProviderKind)cases[t].kind, cases[t].model, true, &obs},
                };
                _cleanup_(matrix_changes_clear) MatrixChanges ch = {0};
                assert_int_equal(matrix_apply(m, cases[t].source, in, 2, T0 + STEP, 2, &ch),
                                 -EINVAL);
                assert_int_equal(ch.n, 0);
                assert_int_equal(m->n_models, 1);
                assert_int_equal(m->n_providers, 1);
                assert_int_equal(evidence_of(m, "v/m", "aws", "s")->last_seen, T0);
        }
        /* A missing observation is refused too. */
        MatrixInput noobs = {"aws", PROVIDER_CLOUD, "v/m", true, NULL};
        assert_int_equal(matrix_apply(m, "s", &noobs, 1, T0, 2, NULL), -EINVAL);
        matrix_free(m);
}

static void test_raw_text_cleaned(void **state)
{
        char raw[600];
        const Row r = {"aws", PROVIDER_CLOUD,
                       "v/m", .raw = "an\x1b[2Jid\xff",
                       NP,    .regions = {"us\teast", "", "ok"}};
        Matrix *m = NULL;
        const Evidence *e;

        memset(raw, 'r', sizeof(raw) - 1);
        raw[sizeof(raw) - 1] = '\0';
        const Row rl = {"gcp", PROVIDER_CLOUD, "v/m", .raw = raw, NP};
        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "s", &r, 1, T0, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "t", &rl, 1, T0, 2, NULL), 0);
        e = evidence_of(m, "v/m", "aws", "s");
        assert_string_equal(e->raw_id, "an?[2Jid?");
        assert_regions(e->regions, e->n_regions, (const char *const[]){"ok", "us?east", NULL});
        assert_int_equal(strlen(evidence_of(m, "v/m", "gcp", "t")->raw_id), MATRIX_MAX_ID);
        matrix_free(m);
}

static void test_caps(void **state)
{
        Matrix *m = NULL;
        char ids[MATRIX_MAX_PROVIDERS + 1][16];
        Row rows[MATRIX_MAX_PROVIDERS + 1];

        assert_int_equal(matrix_new(&m), 0);
        for (size_t i = 0; i <= MATRIX_MAX_PROVIDERS; i++) {
                snprintf(ids[i], sizeof(ids[i]), "p%03zu", i);
                rows[i] = (Row){ids[i], PROVIDER_CLOUD, "v/m", NP};
        }
        assert_int_equal(apply_rows(m, "s", rows, MATRIX_MAX_PROVIDERS + 1, T0, 2, NULL), -E2BIG);
        assert_int_equal(m->n_providers, 0);
        assert_int_equal(m->n_models, 0);
        assert_int_equal(apply_rows(m, "s", rows, MATRIX_MAX_PROVIDERS, T0, 2, NULL), 0);
        assert_int_equal(m->n_providers, MATRIX_MAX_PROVIDERS);
        matrix_free(m);

        /* Evidence per cell. */
        assert_int_equal(matrix_new(&m), 0);
        for (unsigned i = 0; i < MATRIX_MAX_EVIDENCE; i++) {
                char src[16];
                snprintf(src, sizeof(src), "src%u", i);
                assert_int_equal(apply_rows(m, src, rows, 1, T0, 2, NULL), 0);
        }
        assert_int_equal(apply_rows(m, "one-too-many", rows, 1, T0, 2, NULL), -E2BIG);
        assert_int_equal(apply_rows(m, "src0", rows, 1, T0 + 1, 2, NULL), 0);
        assert_int_equal(cell_of(m, "v/m", "p000")->n_evidence, MATRIX_MAX_EVIDENCE);
        matrix_free(m);
}

static int model_id_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Up to ~20,000 rows, in shuffled order, over several parses: rows stay sorted and findable. */
static void test_many_rows(void **state)
{
        enum { N = 20000 };
        char **ids = xcalloc(N, sizeof(char *));
        Row *rows = xcalloc(N, sizeof(Row));
        Matrix *m = NULL;
        uint64_t x = 88172645463325252ull;

        for (size_t i = 0; i < N; i++)
                ids[i] = xasprintf("vendor%zu/model-%zu", i % 17, i);
        for (size_t i = N - 1; i > 0; i--) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                size_t j = x % (i + 1);
                char *t = ids[i];
                ids[i] = ids[j], ids[j] = t;
        }
        for (size_t i = 0; i < N; i++)
                rows[i] = (Row){i % 3 ? "aws" : "gcp", PROVIDER_CLOUD, ids[i], NP};
        assert_int_equal(matrix_new(&m), 0);
        /* Half first, then all: the second parse merges new rows into existing ones. */
        assert_int_equal(apply_rows(m, "s", rows, N / 2, T0, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "s", rows, N, T0 + STEP, 2, NULL), 0);
        assert_int_equal(m->n_models, N);
        for (size_t i = 1; i < m->n_models; i++)
                assert_true(strcmp(m->models[i - 1]->id, m->models[i]->id) < 0);
        for (size_t i = 0; i < N; i++)
                assert_int_equal(cell_of(m, ids[i], rows[i].provider)->state, CELL_AVAILABLE);
        qsort(ids, N, sizeof(char *), model_id_cmp);
        for (size_t i = 0; i < N; i++) {
                assert_string_equal(m->models[i]->id, ids[i]);
                free(ids[i]);
        }
        free(ids);
        free(rows);
        matrix_free(m);
}

static void assert_evidence_equal(const Evidence *a, const Evidence *b)
{
        assert_string_equal(a->source, b->source);
        assert_int_equal(a->said, b->said);
        assert_string_equal(a->raw_id, b->raw_id);
        assert_int_equal(a->n_regions, b->n_regions);
        for (size_t i = 0; i < a->n_regions; i++)
                assert_string_equal(a->regions[i], b->regions[i]);
        assert_price(a->price_in, b->price_in);
        assert_price(a->price_out, b->price_out);
        assert_int_equal(a->lifecycle, b->lifecycle);
        assert_int_equal(a->eol, b->eol);
        assert_int_equal(a->first_seen, b->first_seen);
        assert_int_equal(a->last_seen, b->last_seen);
        assert_int_equal(a->changed, b->changed);
        assert_int_equal(a->missing, b->missing);
}

static void assert_matrix_equal(const Matrix *a, const Matrix *b)
{
        assert_int_equal(a->n_providers, b->n_providers);
        for (size_t i = 0; i < a->n_providers; i++) {
                assert_string_equal(a->providers[i].id, b->providers[i].id);
                assert_int_equal(a->providers[i].kind, b->providers[i].kind);
        }
        assert_int_equal(a->n_models, b->n_models);
        for (size_t r = 0; r < a->n_models; r++) {
                const MatrixModel *x = a->models[r], *y = b->models[r];
                assert_string_equal(x->id, y->id);
                assert_string_equal(x->vendor, y->vendor);
                assert_int_equal(x->mapped, y->mapped);
                for (size_t i = 0; i < a->n_providers; i++) {
                        const Cell *c = matrix_cell(x, i), *d = matrix_cell(y, i);
                        assert_int_equal(c->state, d->state);
                        assert_int_equal(c->n_regions, d->n_regions);
                        for (size_t k = 0; k < c->n_regions; k++)
                                assert_string_equal(c->regions[k], d->regions[k]);
                        assert_price(matrix_cell_price(c, false), matrix_cell_price(d, false));
                        assert_price(matrix_cell_price(c, true), matrix_cell_price(d, true));
                        assert_int_equal(c->lifecycle, d->lifecycle);
                        assert_int_equal(c->eol, d->eol);
                        assert_int_equal(matrix_cell_first_seen(c), matrix_cell_first_seen(d));
                        assert_int_equal(matrix_cell_last_seen(c), matrix_cell_last_seen(d));
                        assert_int_equal(c->n_evidence, d->n_evidence);
                        for (size_t k = 0; k < c->n_evidence; k++)
                                assert_evidence_equal(&c->evidence[k], &d->evidence[k]);
                }
        }
}

static Matrix *rich_matrix(void)
{
        const Row litellm[] = {
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "anthropic.claude-opus-4-7",
             .pin = 5, .pout = 25},
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "us.anthropic.claude-opus-4-7",
             .regions = {"us-east-1"}, .pin = 5.5, .pout = 27.5},
            {"gcp", PROVIDER_CLOUD, "anthropic/claude-opus-4-7", "claude-opus-4-7@default",
             .pin = 0.1, .pout = NAN, .lc = LIFECYCLE_PREVIEW},
            {"anthropic", PROVIDER_DIRECT, "anthropic/claude-3-haiku", "claude-3-haiku",
             .pin = 0.25, .pout = 1.25, .lc = LIFECYCLE_DEPRECATED, .eol = 1795996800},
            {"aws", PROVIDER_CLOUD, "anthropic/claude-3-haiku", NP},
            {"openrouter", PROVIDER_AGGREGATOR, "unmapped/weird-thing", .unmapped = true,
             .raw = "Weird Thing \xc3\xa9", NP},
        };
        const Row cards[] = {
            {"aws", PROVIDER_CLOUD, "anthropic/claude-opus-4-7",
             .regions = {"eu-west-1", "ap-south-1"}, NP, .lc = LIFECYCLE_ACTIVE},
            {"aws", PROVIDER_CLOUD, "meta/llama-3-1-405b-instruct", .gone = true, NP,
             .lc = LIFECYCLE_RETIRED, .eol = 1780272000},
            {"azure", PROVIDER_CLOUD, "anthropic/claude-3-haiku", NP},
        };
        Matrix *m = NULL;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "litellm", litellm, ELEMENTSOF(litellm), T0, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "cards", cards, ELEMENTSOF(cards), T0 + STEP, 2, NULL), 0);
        /* Leave missing counters at 1 and 2 and a flipped evidence behind. */
        assert_int_equal(apply_rows(m, "litellm", litellm, 3, T0 + 2 * STEP, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "litellm", litellm, 2, T0 + 3 * STEP, 2, NULL), 0);
        return m;
}

static void test_state_round_trip(void **state)
{
        Matrix *m = rich_matrix(), *back = NULL, *empty = NULL, *empty_back = NULL;
        json_t *j = NULL, *j2 = NULL, *parsed;
        char *text, *text2;
        json_error_t err;

        assert_int_equal(evidence_of(m, "anthropic/claude-3-haiku", "aws", "litellm")->missing, 2);
        assert_int_equal(evidence_of(m, "anthropic/claude-opus-4-7", "gcp", "litellm")->missing, 1);
        assert_int_equal(matrix_to_state_json(m, &j), 0);
        text = json_dumps(j, JSON_COMPACT);
        assert_non_null(text);
        parsed = json_loads(text, 0, &err);
        assert_non_null(parsed);
        assert_int_equal(matrix_from_state_json(parsed, &back), 0);
        assert_matrix_equal(m, back);
        /* And the second generation serializes to the same bytes. */
        assert_int_equal(matrix_to_state_json(back, &j2), 0);
        text2 = json_dumps(j2, JSON_COMPACT);
        assert_string_equal(text, text2);

        assert_int_equal(matrix_new(&empty), 0);
        json_decref(j);
        assert_int_equal(matrix_to_state_json(empty, &j), 0);
        assert_int_equal(matrix_from_state_json(j, &empty_back), 0);
        assert_matrix_equal(empty, empty_back);

        free(text);
        free(text2);
        json_decref(j);
        json_decref(j2);
        json_decref(parsed);
        matrix_free(m);
        matrix_free(back);
        matrix_free(empty);
        matrix_free(empty_back);
}

/* Replace (or with value NULL, delete) the node at a slash-separated path of keys and indices. */
static void json_edit(json_t *root, const char *path, json_t *value)
{
        _cleanup_free_ char *p = xstrdup(path);
        char *save = NULL, *tok, *next;
        json_t *node = root;

        tok = strtok_r(p, "/", &save);
        while (tok) {
                next = strtok_r(NULL, "/", &save);
                if (!next) {
                        if (json_is_array(node)) {
                                size_t i = strtoul(tok, NULL, 10);
                                if (value)
                                        assert_int_equal(json_array_set_new(node, i, value), 0);
                                else
                                        assert_int_equal(json_array_remove(node, i), 0);
                        } else if (value)
                                assert_int_equal(json_object_set_new(node, tok, value), 0);
                        else
                                assert_int_equal(json_object_del(node, tok), 0);
                        return;
                }
                node = json_is_array(node) ? json_array_get(node, strtoul(tok, NULL, 10))
                                           : json_object_get(node, tok);
                assert_non_null(node);
                tok = next;
        }
}

static json_t *repeat_array(size_t n, const char *item_json)
{
        json_t *a = json_array();
        json_t *item = json_loads(item_json, JSON_DECODE_ANY, NULL);

        assert_non_null(item);
        for (size_t i = 0; i < n; i++)
                json_array_append(a, item);
        json_decref(item);
        return a;
}

static void test_state_corrupt(void **state)
{
        /* Paths into the document of tests/data/matrix/state-valid.json. */
        static const struct {
                const char *path, *value; /* value NULL: delete the node */
        } cases[] = {
            {"format", "\"lockwatch.matrix-state/999\""},
            {"format", NULL},
            {"providers", "{}"},
            {"providers", NULL},
            {"models", "7"},
            {"providers/0/kind", "\"hyperscaler\""},
            {"providers/0/kind", "1"},
            {"providers/0/id", "\"\""},
            {"providers/0/id", "42"},
            {"providers/1/id", "\"aws\""},     /* duplicate */
            {"providers/0/id", "\"zzz\""},     /* out of order */
            {"providers/2/kind", "\"cloud\""}, /* direct among clouds: out of order */
            {"models/0", "[]"},
            {"models/0/id", "\"zzz/last\""},                  /* rows out of order */
            {"models/1/id", "\"anthropic/claude-opus-4-7\""}, /* duplicate row */
            {"models/0/id", "\"a\\u0000b\""},                 /* embedded NUL */
            {"models/0/id", "\"a\\u001bb\""},                 /* control character */
            {"models/0/mapped", "\"yes\""},
            {"models/0/mapped", NULL},
            {"models/0/cells", "{}"},
            {"models/0/cells/0/provider", "4"}, /* out of range (4 providers) */
            {"models/0/cells/0/provider", "-1"},
            {"models/0/cells/0/provider", "1.5"},
            {"models/0/cells/0/provider", "99999999999"},
            {"models/0/cells/1/provider", "0"}, /* repeated column */
            {"models/0/cells/0/evidence", "[]"},
            {"models/0/cells/0/evidence", "{}"},
            {"models/0/cells/0/evidence/0", "\"x\""},
            {"models/0/cells/0/evidence/0/said", "\"unknown\""},
            {"models/0/cells/0/evidence/0/said", "\"maybe\""},
            {"models/0/cells/0/evidence/0/said", NULL},
            {"models/0/cells/0/evidence/0/source", "\"\""},
            {"models/0/cells/0/evidence/0/source", NULL},
            {"models/0/cells/0/evidence/0/raw_id", "null"},
            {"models/0/cells/0/evidence/0/regions", "\"us-east-1\""},
            {"models/0/cells/0/evidence/0/regions", "[\"b\", \"a\"]"},
            {"models/0/cells/0/evidence/0/regions", "[\"a\", \"a\"]"},
            {"models/0/cells/0/evidence/0/regions", "[\"\"]"},
            {"models/0/cells/0/evidence/0/regions", "[1]"},
            {"models/0/cells/0/evidence/0/price_in", "\"5\""},
            {"models/0/cells/0/evidence/0/price_in", "-1"},
            {"models/0/cells/0/evidence/0/price_out", NULL},
            {"models/0/cells/0/evidence/0/lifecycle", "\"Active\""},
            {"models/0/cells/0/evidence/0/lifecycle", "\"ga\""},
            {"models/0/cells/0/evidence/0/eol", "-5"},
            {"models/0/cells/0/evidence/0/eol", "null"},
            {"models/0/cells/0/evidence/0/first_seen", "-1"},
            {"models/0/cells/0/evidence/0/last_seen", "1.0"},
            {"models/0/cells/0/evidence/0/changed", "\"now\""},
            {"models/0/cells/0/evidence/0/missing", "-1"},
            {"models/0/cells/0/evidence/0/missing", "4294967296"},
            {"models/0/cells/0/evidence/0/missing", "1000000001"},
            {"models/0/cells/1/evidence/1/source", "\"litellm\""}, /* duplicate source */
        };
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_t *base;
        Matrix *m = NULL;
        size_t len;

        path = xasprintf("%s/matrix/state-valid.json", LW_TEST_DATA);
        assert_int_equal(util_read_file(path, 1 << 20, &text, &len), 0);
        base = json_loadb(text, len, 0, NULL);
        assert_non_null(base);
        /* The base document itself is good: every case below breaks exactly one thing. */
        assert_int_equal(matrix_from_state_json(base, &m), 0);
        assert_int_equal(m->n_providers, 4);
        matrix_free(m);

        for (size_t t = 0; t < ELEMENTSOF(cases); t++) {
                json_t *doc = json_deep_copy(base);
                json_t *v = cases[t].value
                                ? json_loads(cases[t].value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
                                : NULL;
                if (cases[t].value)
                        assert_non_null(v);
                json_edit(doc, cases[t].path, v);
                m = (Matrix *)0x1;
                if (matrix_from_state_json(doc, &m) != -EBADMSG)
                        fail_msg("case %zu (%s) was accepted", t, cases[t].path);
                assert_ptr_equal(m, (Matrix *)0x1); /* ret untouched on failure */
                json_decref(doc);
        }

        /* Absurd sizes, each one past its cap. */
        static const struct {
                const char *path, *item;
                size_t n;
        } sizes[] = {
            {"models", "0", MATRIX_MAX_MODELS + 1},
            {"providers", "{\"id\":\"aws\",\"kind\":\"cloud\"}", MATRIX_MAX_PROVIDERS + 1},
            {"models/0/cells/0/evidence", "{}", MATRIX_MAX_EVIDENCE + 1},
            {"models/0/cells/0/evidence/0/regions", "\"r\"", MATRIX_MAX_REGIONS + 1},
            {"models/0/cells", "{}", 5},
        };
        for (size_t t = 0; t < ELEMENTSOF(sizes); t++) {
                json_t *doc = json_deep_copy(base);
                json_edit(doc, sizes[t].path, repeat_array(sizes[t].n, sizes[t].item));
                assert_int_equal(matrix_from_state_json(doc, &m), -EBADMSG);
                json_decref(doc);
        }

        /* Ids one byte over the cap. */
        char long_id[MATRIX_MAX_ID + 2];
        memset(long_id, 'x', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        static const char *const id_paths[] = {
            "providers/3/id",
            "models/2/id",
            "models/0/cells/0/evidence/0/source",
            "models/0/cells/0/evidence/0/raw_id",
            "models/0/cells/0/evidence/0/regions/0",
        };
        for (size_t t = 0; t < ELEMENTSOF(id_paths); t++) {
                json_t *doc = json_deep_copy(base);
                json_edit(doc, id_paths[t], json_string(long_id));
                assert_int_equal(matrix_from_state_json(doc, &m), -EBADMSG);
                json_decref(doc);
        }

        json_t *not_obj = json_array();
        assert_int_equal(matrix_from_state_json(not_obj, &m), -EBADMSG);
        assert_int_equal(matrix_from_state_json(NULL, &m), -EBADMSG);
        json_decref(not_obj);
        json_decref(base);
}

/* Every row holds only the cells that have evidence, in column order, whatever order the
 * columns arrived in; the other columns read as the unknown cell. */
static void assert_rows_sparse(const Matrix *m)
{
        for (size_t r = 0; r < m->n_models; r++) {
                const MatrixModel *mm = m->models[r];
                size_t k = 0;

                for (size_t i = 0; i < mm->n_cells; i++) {
                        assert_true(mm->cells[i].n_evidence > 0);
                        assert_true(mm->cells[i].provider < m->n_providers);
                        if (i > 0)
                                assert_true(mm->cells[i - 1].provider < mm->cells[i].provider);
                }
                for (size_t i = 0; i < m->n_providers; i++) {
                        const Cell *c = matrix_cell(mm, i);
                        if (c->n_evidence == 0) {
                                assert_int_equal(c->state, CELL_UNKNOWN);
                                continue;
                        }
                        assert_int_equal(c->provider, i);
                        k++;
                }
                assert_int_equal(k, mm->n_cells);
                assert_int_equal(matrix_cell(mm, m->n_providers)->n_evidence, 0);
        }
}

static void test_sparse_rows(void **state)
{
        /* Parses in an order that inserts columns before, between and after existing ones. */
        static const struct {
                const char *source;
                Row row;
        } steps[] = {
            {"s1", {"openrouter", PROVIDER_AGGREGATOR, "v/a", NP}},
            {"s1", {"gcp", PROVIDER_CLOUD, "v/a", .gone = true, NP}},
            {"s2", {"aws", PROVIDER_CLOUD, "v/b", NP}},
            {"s3", {"anthropic", PROVIDER_DIRECT, "v/a", NP}},
            {"s3", {"zeta", PROVIDER_AGGREGATOR, "v/c", NP}},
            {"s4", {"azure", PROVIDER_CLOUD, "v/a", NP}},
            {"s4", {"aws", PROVIDER_CLOUD, "v/a", NP}},
        };
        static const struct {
                const char *model, *provider;
                CellState want;
        } cells[] = {
            {"v/a", "aws", CELL_AVAILABLE},        {"v/a", "azure", CELL_AVAILABLE},
            {"v/a", "gcp", CELL_UNAVAILABLE},      {"v/a", "anthropic", CELL_AVAILABLE},
            {"v/a", "openrouter", CELL_AVAILABLE}, {"v/a", "zeta", CELL_UNKNOWN},
            {"v/b", "aws", CELL_AVAILABLE},        {"v/b", "gcp", CELL_UNKNOWN},
            {"v/b", "openrouter", CELL_UNKNOWN},   {"v/c", "zeta", CELL_AVAILABLE},
            {"v/c", "aws", CELL_UNKNOWN},
        };
        static const struct {
                const char *model;
                size_t n_cells;
        } widths[] = {{"v/a", 5}, {"v/b", 1}, {"v/c", 1}};
        Matrix *m = NULL, *back = NULL;
        json_t *j = NULL;

        assert_int_equal(matrix_new(&m), 0);
        /* Each step is its own parse of its source, and sources repeat what they said. */
        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                Row rows[ELEMENTSOF(steps)];
                size_t n = 0;
                for (size_t k = 0; k <= i; k++)
                        if (streq(steps[k].source, steps[i].source))
                                rows[n++] = steps[k].row;
                assert_int_equal(apply_rows(m, steps[i].source, rows, n, T0 + i, 2, NULL), 0);
                assert_rows_sparse(m);
        }
        for (size_t t = 0; t < ELEMENTSOF(cells); t++)
                assert_int_equal(cell_of(m, cells[t].model, cells[t].provider)->state,
                                 cells[t].want);
        for (size_t t = 0; t < ELEMENTSOF(widths); t++)
                assert_int_equal(matrix_find_model(m, widths[t].model)->n_cells, widths[t].n_cells);
        assert_int_equal(
            matrix_count_providers(m, matrix_find_model(m, "v/a"), PROVIDER_CLOUD, CELL_AVAILABLE),
            2);
        assert_int_equal(matrix_count_providers(m, matrix_find_model(m, "v/a"), -1, CELL_UNKNOWN),
                         1);
        assert_int_equal(matrix_count_providers(m, NULL, -1, CELL_UNKNOWN), m->n_providers);

        /* A loaded row is sparse the same way. */
        assert_int_equal(matrix_to_state_json(m, &j), 0);
        assert_int_equal(matrix_from_state_json(j, &back), 0);
        assert_rows_sparse(back);
        assert_matrix_equal(m, back);
        json_decref(j);
        matrix_free(back);
        matrix_free(m);
}

static void test_forget_drops_cells(void **state)
{
        const Row one[] = {
            {"aws", PROVIDER_CLOUD, "v/a", .regions = {"us-east-1"}, NP},
            {"gcp", PROVIDER_CLOUD, "v/a", NP},
            {"gcp", PROVIDER_CLOUD, "v/b", NP},
        };
        const Row two[] = {
            {"gcp", PROVIDER_CLOUD, "v/a", .regions = {"europe-west4"}, NP},
        };
        Matrix *m = NULL;
        json_t *j = NULL;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "one", one, ELEMENTSOF(one), T0, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "two", two, ELEMENTSOF(two), T0, 2, NULL), 0);
        assert_int_equal(matrix_forget_source(m, "one", NULL), 0);
        assert_rows_sparse(m);
        /* The row keeps its id but no cell where only the forgotten source spoke. */
        assert_int_equal(matrix_find_model(m, "v/a")->n_cells, 1);
        assert_int_equal(matrix_find_model(m, "v/b")->n_cells, 0);
        assert_int_equal(cell_of(m, "v/a", "aws")->n_evidence, 0);
        assert_regions(cell_of(m, "v/a", "gcp")->regions, cell_of(m, "v/a", "gcp")->n_regions,
                       (const char *const[]){"europe-west4", NULL});
        assert_int_equal(matrix_to_state_json(m, &j), 0);
        assert_int_equal(json_array_size(json_object_get(
                             json_array_get(json_object_get(j, "models"), 1), "cells")),
                         0);
        json_decref(j);
        assert_int_equal(matrix_forget_source(m, "two", NULL), 0);
        assert_int_equal(matrix_find_model(m, "v/a")->n_cells, 0);
        /* Nothing holds a source name or a region any more. */
        assert_int_equal(m->n_atoms, 0);
        matrix_free(m);
}

/* Source names, regions and raw ids are stored once however many cells repeat them, and
 * let go of when nothing holds them. */
static void test_shared_texts(void **state)
{
        const Row wide[] = {
            {"aws", PROVIDER_CLOUD, "v/a", .regions = {"us-east-1", "eu-west-1"}, NP},
            {"aws", PROVIDER_CLOUD, "v/b", .regions = {"eu-west-1", "us-east-1"}, NP},
            {"gcp", PROVIDER_CLOUD, "v/b", .regions = {"us-east-1"}, NP},
        };
        const Row narrow[] = {
            {"aws", PROVIDER_CLOUD, "v/a", .regions = {"us-east-1"}, NP},
            {"aws", PROVIDER_CLOUD, "v/b", .regions = {"us-east-1"}, NP},
            {"gcp", PROVIDER_CLOUD, "v/b", .regions = {"us-east-1"}, NP},
        };
        const Evidence *a, *b, *g;
        Matrix *m = NULL;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "cards", wide, ELEMENTSOF(wide), T0, 2, NULL), 0);
        a = evidence_of(m, "v/a", "aws", "cards");
        b = evidence_of(m, "v/b", "aws", "cards");
        g = evidence_of(m, "v/b", "gcp", "cards");
        assert_ptr_equal(a->source, b->source);
        assert_ptr_equal(a->source, g->source);
        assert_regions(a->regions, a->n_regions,
                       (const char *const[]){"eu-west-1", "us-east-1", NULL});
        assert_ptr_equal(a->regions[0], b->regions[0]);
        assert_ptr_equal(a->regions[1], b->regions[1]);
        assert_ptr_equal(a->regions[1], g->regions[0]);
        /* The cell shows its one source's regions. */
        assert_regions(cell_of(m, "v/a", "aws")->regions, cell_of(m, "v/a", "aws")->n_regions,
                       (const char *const[]){"eu-west-1", "us-east-1", NULL});
        /* "cards", "eu-west-1", "us-east-1", and the raw ids "v/a", "v/b" */
        assert_int_equal(m->n_atoms, 5);
        assert_string_equal(b->raw_id, "v/b");
        assert_ptr_equal(b->raw_id, g->raw_id);

        assert_int_equal(apply_rows(m, "cards", narrow, ELEMENTSOF(narrow), T0 + STEP, 2, NULL), 0);
        assert_int_equal(m->n_atoms, 4);
        assert_regions(cell_of(m, "v/b", "aws")->regions, cell_of(m, "v/b", "aws")->n_regions,
                       (const char *const[]){"us-east-1", NULL});
        /* A second source naming the same region shares it too. */
        assert_int_equal(apply_rows(m, "cli", narrow, 1, T0 + STEP, 2, NULL), 0);
        assert_int_equal(m->n_atoms, 5);
        assert_ptr_equal(evidence_of(m, "v/a", "aws", "cli")->regions[0],
                         evidence_of(m, "v/a", "aws", "cards")->regions[0]);
        assert_ptr_equal(evidence_of(m, "v/a", "aws", "cli")->raw_id,
                         evidence_of(m, "v/a", "aws", "cards")->raw_id);
        assert_int_equal(matrix_forget_source(m, "cards", NULL), 0);
        assert_int_equal(m->n_atoms, 3); /* "cli", "us-east-1", "v/a" */
        assert_int_equal(matrix_forget_source(m, "cli", NULL), 0);
        assert_int_equal(m->n_atoms, 0);
        matrix_free(m);
}

/* A cell's regions follow its evidence through every change of who says what. */
static void test_cell_regions_follow_evidence(void **state)
{
        static const struct {
                const char *source;
                Row row;
                const char *forget;
                const char *want[6];
        } steps[] = {
            {"a", {"aws", PROVIDER_CLOUD, "v/m", .regions = {"r2", "r1"}, NP}, NULL, {"r1", "r2"}},
            {"b", {"aws", PROVIDER_CLOUD, "v/m", NP}, NULL, {"r1", "r2"}},
            {"b",
             {"aws", PROVIDER_CLOUD, "v/m", .regions = {"r3", "r1"}, NP},
             NULL,
             {"r1", "r2", "r3"}},
            {"a",
             {"aws", PROVIDER_CLOUD, "v/m", .gone = true, .regions = {"r9"}, NP},
             NULL,
             {"r1", "r3"}},
            {"a", {"aws", PROVIDER_CLOUD, "v/m", .regions = {"r4"}, NP}, NULL, {"r1", "r3", "r4"}},
            {NULL, {0}, "b", {"r4"}},
            {"a", {"aws", PROVIDER_CLOUD, "v/m", NP}, NULL, {NULL}},
            {"c", {"aws", PROVIDER_CLOUD, "v/m", .regions = {"r5"}, NP}, NULL, {"r5"}},
            {NULL, {0}, "a", {"r5"}},
        };
        Matrix *m = NULL;

        assert_int_equal(matrix_new(&m), 0);
        for (size_t t = 0; t < ELEMENTSOF(steps); t++) {
                Matrix *back = NULL;
                json_t *j = NULL;
                const Cell *c;

                if (steps[t].forget)
                        assert_int_equal(matrix_forget_source(m, steps[t].forget, NULL), 0);
                else
                        assert_int_equal(
                            apply_rows(m, steps[t].source, &steps[t].row, 1, T0 + t, 2, NULL), 0);
                c = cell_of(m, "v/m", "aws");
                assert_regions(c->regions, c->n_regions, steps[t].want);
                assert_int_equal(matrix_to_state_json(m, &j), 0);
                assert_int_equal(matrix_from_state_json(j, &back), 0);
                assert_matrix_equal(m, back);
                json_decref(j);
                matrix_free(back);
        }
        matrix_free(m);
}

/* Loading the state file and writing it again gives the same document. */
static void test_state_file_identical(void **state)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_t *doc, *out = NULL;
        Matrix *m = NULL;
        size_t len;

        path = xasprintf("%s/matrix/state-valid.json", LW_TEST_DATA);
        assert_int_equal(util_read_file(path, 1 << 20, &text, &len), 0);
        doc = json_loadb(text, len, 0, NULL);
        assert_non_null(doc);
        assert_int_equal(matrix_from_state_json(doc, &m), 0);
        assert_int_equal(matrix_to_state_json(m, &out), 0);
        assert_true(json_equal(doc, out));
        json_decref(out);
        json_decref(doc);
        matrix_free(m);
}

/* Many distinct prices and times: the serializer's sharing of repeated values must never
 * hand one value's node to another. */
static void test_state_many_values(void **state)
{
        enum { N = 3000 };
        Row *rows = xcalloc(N, sizeof(Row));
        char **ids = xcalloc(N, sizeof(char *));
        Matrix *m = NULL, *back = NULL;
        json_t *j = NULL, *j2 = NULL;
        char *a, *b;

        for (size_t i = 0; i < N; i++) {
                ids[i] = xasprintf("v/m%05zu", i);
                rows[i] = (Row){i % 2 ? "aws" : "gcp",
                                PROVIDER_CLOUD,
                                ids[i],
                                .pin = 0.125 * (double)i,
                                .pout = 1e-3 * (double)(i % 97),
                                .eol = 1780272000 + (int64_t)i * 7};
        }
        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "s", rows, N, T0, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "s", rows, N / 3, T0 + 1, 5, NULL), 0);
        assert_int_equal(matrix_to_state_json(m, &j), 0);
        assert_int_equal(matrix_from_state_json(j, &back), 0);
        assert_matrix_equal(m, back);
        for (size_t i = 0; i < N; i++) {
                const Evidence *e = evidence_of(back, ids[i], rows[i].provider, "s");
                assert_price(e->price_in, rows[i].pin);
                assert_price(e->price_out, rows[i].pout);
                assert_int_equal(e->eol, rows[i].eol);
                assert_int_equal(e->last_seen, i < N / 3 ? T0 + 1 : T0);
                assert_int_equal(e->missing, i < N / 3 ? 0 : 1);
        }
        assert_int_equal(matrix_to_state_json(back, &j2), 0);
        a = json_dumps(j, JSON_COMPACT);
        b = json_dumps(j2, JSON_COMPACT);
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a, b);
        free(a);
        free(b);
        json_decref(j);
        json_decref(j2);
        matrix_free(back);
        matrix_free(m);
        for (size_t i = 0; i < N; i++)
                free(ids[i]);
        free(ids);
        free(rows);
}

/* ---- authority (docs/matrix.md "Authority") ---------------------------------------------- */

#define CLOUD(p) .provider = p, .kind = PROVIDER_CLOUD

/* The merge table, both ways: the cloud's own listing beats a lagging catalogue that still
 * lists a model it dropped, and beats a catalogue that dropped a model it still lists. */
static void test_authority_both_ways(void **state)
{
        Matrix *m = NULL;
        MatrixChanges ch = {0};
        const char *auth[] = {"cards"};
        /* The catalogue lists opus-4 on aws (lagging) and dropped haiku from aws. */
        const Row cat[] = {
            {CLOUD("aws"), "anthropic/claude-opus-4", NP, .regions = {"us-east-1"}},
            {CLOUD("gcp"), "anthropic/claude-opus-4", NP},
            {CLOUD("aws"), "anthropic/claude-3-5-haiku", .gone = true, NP},
            {CLOUD("aws"), "anthropic/claude-new", .pin = 3, .pout = 15},
        };
        /* The cards: haiku on aws as legacy, claude-new on aws, no opus-4. */
        const Row cards[] = {
            {CLOUD("aws"), "anthropic/claude-3-5-haiku", NP, .lc = LIFECYCLE_LEGACY,
             .regions = {"us-west-2"}},
            {CLOUD("aws"), "anthropic/claude-new", NP, .regions = {"eu-west-1"}},
        };
        const Cell *c;
        (void)state;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(matrix_set_authoritative(m, auth, 1, NULL), 0);
        assert_true(matrix_source_authoritative(m, "cards"));
        assert_false(matrix_source_authoritative(m, "catalogue"));
        assert_int_equal(apply_rows(m, "catalogue", cat, ELEMENTSOF(cat), T0, 2, NULL), 0);
        /* No authority has spoken for aws yet: the catalogue decides, availability wins. */
        assert_int_equal(cell_of(m, "anthropic/claude-opus-4", "aws")->state, CELL_AVAILABLE);
        assert_int_equal(cell_of(m, "anthropic/claude-3-5-haiku", "aws")->state, CELL_UNAVAILABLE);

        assert_int_equal(apply_rows(m, "cards", cards, ELEMENTSOF(cards), T0 + STEP, 2, &ch), 0);
        /* The aws column is closed: opus-4, which the cards do not list, is unavailable at
         * once (the catalogue's evidence is overruled); haiku, listed as legacy, is available
         * although the catalogue dropped it. gcp has no authority: untouched. */
        c = cell_of(m, "anthropic/claude-opus-4", "aws");
        assert_int_equal(c->state, CELL_UNAVAILABLE);
        assert_int_equal(c->n_regions, 0);
        assert_true(matrix_evidence_overruled(
            m, c, evidence_of(m, "anthropic/claude-opus-4", "aws", "catalogue")));
        c = cell_of(m, "anthropic/claude-3-5-haiku", "aws");
        assert_int_equal(c->state, CELL_AVAILABLE);
        assert_int_equal(c->lifecycle, LIFECYCLE_LEGACY);
        assert_true(matrix_evidence_overruled(
            m, c, evidence_of(m, "anthropic/claude-3-5-haiku", "aws", "catalogue")));
        assert_false(matrix_evidence_overruled(
            m, c, evidence_of(m, "anthropic/claude-3-5-haiku", "aws", "cards")));
        assert_int_equal(cell_of(m, "anthropic/claude-opus-4", "gcp")->state, CELL_AVAILABLE);
        /* Agreeing evidence is not overruled; the authority's regions replace the
         * catalogue's; prices still come from the catalogue. */
        c = cell_of(m, "anthropic/claude-new", "aws");
        assert_int_equal(c->state, CELL_AVAILABLE);
        assert_false(matrix_evidence_overruled(
            m, c, evidence_of(m, "anthropic/claude-new", "aws", "catalogue")));
        assert_regions(c->regions, c->n_regions, (const char *const[]){"eu-west-1", NULL});
        assert_price(matrix_cell_price(c, false), 3);

        const WantChange want[] = {
            {"anthropic/claude-3-5-haiku", "aws", CELL_UNAVAILABLE, CELL_AVAILABLE},
            {"anthropic/claude-opus-4", "aws", CELL_AVAILABLE, CELL_UNAVAILABLE},
        };
        assert_changes(&ch, want, ELEMENTSOF(want));
        matrix_changes_clear(&ch);

        size_t lag = 0;
        char *ex[1] = {NULL};
        assert_int_equal(matrix_source_lagging(m, "catalogue", &lag, ex, 1), 0);
        assert_int_equal(lag, 2);
        assert_string_equal(ex[0], "anthropic/claude-3-5-haiku on aws");
        free(ex[0]);
        assert_int_equal(matrix_source_lagging(m, "cards", &lag, NULL, 0), 0);
        assert_int_equal(lag, 0);

        /* A catalogue parse later changes nothing the authority decides. */
        assert_int_equal(apply_rows(m, "catalogue", cat, ELEMENTSOF(cat), T0 + 2 * STEP, 2, &ch),
                         0);
        assert_int_equal(ch.n, 0);
        matrix_free(m);
}

/* Naming the authorities again moves the states' version only where a cell changes. */
static void test_authority_version(void **state)
{
        Matrix *m = NULL;
        const char *auth[] = {"cards"};
        const Row cat[] = {{CLOUD("aws"), "a/x", NP}, {CLOUD("aws"), "a/y", NP}};
        const Row cards[] = {{CLOUD("aws"), "a/y", NP}};
        uint64_t v;
        (void)state;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "catalogue", cat, 2, T0, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "cards", cards, 1, T0 + STEP, 2, NULL), 0);
        v = m->states_version;
        assert_int_equal(matrix_set_authoritative(m, NULL, 0, NULL), 0);
        assert_int_equal(m->states_version, v);
        /* The cards decide aws now: a/x, which they do not list, goes unavailable. */
        assert_int_equal(matrix_set_authoritative(m, auth, 1, NULL), 0);
        assert_int_equal(cell_of(m, "a/x", "aws")->state, CELL_UNAVAILABLE);
        assert_true(m->states_version != v);
        v = m->states_version;
        assert_int_equal(matrix_set_authoritative(m, auth, 1, NULL), 0);
        assert_int_equal(m->states_version, v);
        matrix_free(m);
}

/* A model the authority listed leaves only after K clean parses without it; a degraded
 * authority (no parse) keeps deciding with its last good one. */
static void test_authority_removal_after_k(void **state)
{
        Matrix *m = NULL;
        const char *auth[] = {"cards"};
        const Row both[] = {
            {CLOUD("aws"), "a/x", NP},
            {CLOUD("aws"), "a/y", NP},
        };
        const Row only_y[] = {{CLOUD("aws"), "a/y", NP}};
        const Row cat[] = {{CLOUD("aws"), "a/x", NP}, {CLOUD("aws"), "a/y", NP}};
        (void)state;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(matrix_set_authoritative(m, auth, 1, NULL), 0);
        assert_int_equal(apply_rows(m, "catalogue", cat, 2, T0, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "cards", both, 2, T0 + STEP, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "cards", only_y, 1, T0 + 2 * STEP, 2, NULL), 0);
        /* One miss of K = 2: the authority's evidence still says available. */
        assert_int_equal(cell_of(m, "a/x", "aws")->state, CELL_AVAILABLE);
        assert_int_equal(apply_rows(m, "cards", only_y, 1, T0 + 3 * STEP, 2, NULL), 0);
        assert_int_equal(cell_of(m, "a/x", "aws")->state, CELL_UNAVAILABLE);
        /* The catalogue still lists it: overruled, the cell stays unavailable. */
        assert_int_equal(apply_rows(m, "catalogue", cat, 2, T0 + 4 * STEP, 2, NULL), 0);
        assert_int_equal(cell_of(m, "a/x", "aws")->state, CELL_UNAVAILABLE);
        matrix_free(m);
}

/* Several authorities in one column: available if any lists it. Authority set by the
 * config: turning it off re-opens the column (reported as changes); forgetting the
 * authoritative source re-opens it too. */
static void test_authority_several_and_changes(void **state)
{
        Matrix *m = NULL;
        MatrixChanges ch = {0};
        const char *two[] = {"api-us", "api-eu"};
        const Row us[] = {{CLOUD("aws"), "a/x", NP, .regions = {"us-east-1"}}};
        const Row eu[] = {{CLOUD("aws"), "a/z", NP, .regions = {"eu-west-1"}}};
        const Row cat[] = {
            {CLOUD("aws"), "a/x", NP}, {CLOUD("aws"), "a/y", NP}, {CLOUD("aws"), "a/z", NP}};
        (void)state;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(matrix_set_authoritative(m, two, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "catalogue", cat, 3, T0, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "api-us", us, 1, T0, 2, NULL), 0);
        assert_int_equal(apply_rows(m, "api-eu", eu, 1, T0, 2, NULL), 0);
        assert_int_equal(cell_of(m, "a/x", "aws")->state, CELL_AVAILABLE);
        assert_int_equal(cell_of(m, "a/y", "aws")->state, CELL_UNAVAILABLE);
        assert_int_equal(cell_of(m, "a/z", "aws")->state, CELL_AVAILABLE);
        assert_int_equal(m->providers[0].n_authorities, 2);
        assert_string_equal(m->providers[0].authorities[0], "api-eu");

        /* The operator makes neither authoritative: the catalogue decides again. */
        assert_int_equal(matrix_set_authoritative(m, NULL, 0, &ch), 0);
        assert_int_equal(m->providers[0].n_authorities, 0);
        const WantChange back[] = {{"a/y", "aws", CELL_UNAVAILABLE, CELL_AVAILABLE}};
        assert_changes(&ch, back, 1);
        matrix_changes_clear(&ch);

        /* Authority back; then one authority removed from the config: the other still
         * closes the column, and y stays unavailable; forgetting both re-opens it. */
        assert_int_equal(matrix_set_authoritative(m, two, 2, &ch), 0);
        assert_int_equal(ch.n, 1);
        matrix_changes_clear(&ch);
        assert_int_equal(matrix_forget_source(m, "api-eu", &ch), 0);
        assert_int_equal(cell_of(m, "a/z", "aws")->state, CELL_UNAVAILABLE);
        assert_int_equal(cell_of(m, "a/y", "aws")->state, CELL_UNAVAILABLE);
        matrix_changes_clear(&ch);
        assert_int_equal(matrix_forget_source(m, "api-us", &ch), 0);
        assert_int_equal(cell_of(m, "a/y", "aws")->state, CELL_AVAILABLE);
        assert_int_equal(cell_of(m, "a/z", "aws")->state, CELL_AVAILABLE);
        const WantChange open[] = {{"a/y", "aws", CELL_UNAVAILABLE, CELL_AVAILABLE},
                                   {"a/z", "aws", CELL_UNAVAILABLE, CELL_AVAILABLE}};
        assert_changes(&ch, open, 2);
        matrix_changes_clear(&ch);
        assert_int_equal(matrix_set_authoritative(m, (const char *[]){""}, 1, NULL), -EINVAL);
        matrix_free(m);
}

/* Rows a source mapped before, found again among its unlisted rows (a provider relabelled
 * upstream), and the unmapped rows it shows. */
static void test_source_raw_ids_and_unmapped(void **state)
{
        Matrix *m = NULL;
        const Row rows[] = {
            {CLOUD("azure"), "a/x", .raw = "azure_ai/x", NP},
            {CLOUD("azure"), "unmapped/q", .raw = "azure_ai/q", NP, .unmapped = true},
        };
        const char *ids[] = {"azure_ai/x", "azure_ai/x", "azure_ai/new", "azure_ai/q"};
        size_t n = 0;
        char *ex[2] = {NULL, NULL};
        (void)state;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(apply_rows(m, "litellm", rows, 2, T0, 2, NULL), 0);
        bool known[4];
        assert_int_equal(matrix_source_raw_ids_known(m, "litellm", ids, 4, known), 2);
        assert_true(known[0] && known[1] && !known[2] && known[3]);
        assert_int_equal(matrix_source_raw_ids_known(m, "other", ids, 4, NULL), 0);
        assert_int_equal(matrix_source_unmapped(m, "litellm", &n, ex, 2), 0);
        assert_int_equal(n, 1);
        assert_string_equal(ex[0], "unmapped/q");
        free(ex[0]);
        matrix_free(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_apply_basics),
            cmocka_unit_test(test_provider_order),
            cmocka_unit_test(test_duplicates_merge),
            cmocka_unit_test(test_regions_replaced_each_parse),
            cmocka_unit_test(test_removal_after_k),
            cmocka_unit_test(test_two_sources_one_drops),
            cmocka_unit_test(test_cell_merge),
            cmocka_unit_test(test_merge_fields),
            cmocka_unit_test(test_count_absent),
            cmocka_unit_test(test_count_providers),
            cmocka_unit_test(test_forget_source),
            cmocka_unit_test(test_mapped_flag),
            cmocka_unit_test(test_apply_refuses),
            cmocka_unit_test(test_raw_text_cleaned),
            cmocka_unit_test(test_caps),
            cmocka_unit_test(test_many_rows),
            cmocka_unit_test(test_state_round_trip),
            cmocka_unit_test(test_state_corrupt),
            cmocka_unit_test(test_sparse_rows),
            cmocka_unit_test(test_forget_drops_cells),
            cmocka_unit_test(test_shared_texts),
            cmocka_unit_test(test_cell_regions_follow_evidence),
            cmocka_unit_test(test_state_file_identical),
            cmocka_unit_test(test_state_many_values),
            cmocka_unit_test(test_authority_both_ways),
            cmocka_unit_test(test_authority_version),
            cmocka_unit_test(test_authority_removal_after_k),
            cmocka_unit_test(test_authority_several_and_changes),
            cmocka_unit_test(test_source_raw_ids_and_unmapped),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
