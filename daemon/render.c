#include "lockwatch/render.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <time.h>

#include "lockwatch/util.h"

#define RENDER_MODEL_WIDTH_MAX 48 /* the model column never grows past this */

#define ANSI_GREEN  "\033[32m"
#define ANSI_RED    "\033[31m"
#define ANSI_DIM    "\033[2m"
#define ANSI_YELLOW "\033[1;33m"
#define ANSI_RESET  "\033[0m"

typedef struct RenderMarks {
        const char *available, *unavailable, *unknown, *ellipsis;
        size_t ellipsis_width;
} RenderMarks;

static const RenderMarks render_utf8 = {"\u25cf", "\u2715", "\u00b7", "\u2026", 1};
static const RenderMarks render_ascii = {"+", "x", ".", "...", 3};

static const char *const render_group_labels[_PROVIDER_KIND_MAX] = {
    [PROVIDER_CLOUD] = "clouds",
    [PROVIDER_DIRECT] = "direct",
    [PROVIDER_AGGREGATOR] = "aggregators",
};

/* normalize.c owns provider_kind_name(); the published schema must not depend on it. */
static const char *render_kind_name(ProviderKind k)
{
        switch (k) {
        case PROVIDER_CLOUD:
                return "cloud";
        case PROVIDER_DIRECT:
                return "direct";
        default:
                return "aggregator";
        }
}

bool render_model_selected(const RenderOptions *o, const char *model_id)
{
        if (!model_id)
                return false;
        if (!o || !o->model_glob)
                return true;
        return fnmatch(o->model_glob, model_id, FNM_CASEFOLD) == 0;
}

static bool render_provider_selected(const RenderOptions *o, const char *provider)
{
        return !o || !o->provider_glob || fnmatch(o->provider_glob, provider, FNM_CASEFOLD) == 0;
}

/* Whether the row is available on some provider whose id matches glob. */
static bool render_available_on(const Matrix *m, const MatrixModel *mm, const char *glob)
{
        for (size_t k = 0; k < mm->n_cells; k++)
                if (mm->cells[k].state == CELL_AVAILABLE &&
                    fnmatch(glob, m->providers[mm->cells[k].provider].id, FNM_CASEFOLD) == 0)
                        return true;
        return false;
}

bool render_row_selected(const Matrix *m, const RenderOptions *o, const MatrixModel *mm)
{
        if (!mm || !render_model_selected(o, mm->id))
                return false;
        if (o && o->vendor_glob && fnmatch(o->vendor_glob, mm->vendor ? mm->vendor : "",
                                           FNM_CASEFOLD) != 0)
                return false;
        if (!o)
                return true;
        if (o->by_clouds &&
            matrix_count_providers(m, mm, PROVIDER_CLOUD, CELL_AVAILABLE) != (size_t)o->clouds)
                return false;
        if (o->single_cloud &&
            (matrix_count_providers(m, mm, PROVIDER_CLOUD, CELL_AVAILABLE) != 1 ||
             matrix_count_providers(m, mm, PROVIDER_CLOUD, CELL_UNAVAILABLE) == 0))
                return false;
        if (o->on_glob && !render_available_on(m, mm, o->on_glob))
                return false;
        if (o->not_on_glob && render_available_on(m, mm, o->not_on_glob))
                return false;
        if (!o->provider_glob)
                return true;
        for (size_t k = 0; k < mm->n_cells; k++)
                if (mm->cells[k].n_evidence > 0 &&
                    render_provider_selected(o, m->providers[mm->cells[k].provider].id))
                        return true;
        return false;
}

size_t render_rows_selected(const Matrix *m, const RenderOptions *o)
{
        size_t n = 0;

        for (size_t i = 0; m && i < m->n_models; i++)
                n += render_row_selected(m, o, m->models[i]);
        return n;
}

/* A line under construction: padded cells are easier to build than to printf, because a
 * UTF-8 mark is one column but several bytes. */
typedef struct RenderLine {
        char *buf;
        size_t n, cap;
} RenderLine;

static void render_put(RenderLine *l, const char *s, size_t len)
{
        util_grow((void **)&l->buf, &l->cap, l->n + len + 1, 1);
        memcpy(l->buf + l->n, s, len);
        l->n += len;
        l->buf[l->n] = '\0';
}

static void render_puts(RenderLine *l, const char *s)
{
        render_put(l, s, strlen(s));
}

static void render_spaces(RenderLine *l, size_t n)
{
        while (n-- > 0)
                render_put(l, " ", 1);
}

/* Display columns of s: one per character (ids are not expected to hold wide glyphs). */
static size_t render_width(const char *s)
{
        size_t w = 0;

        for (; *s; s++)
                if (((unsigned char)*s & 0xc0) != 0x80)
                        w++;
        return w;
}

/* Put up to max columns of s, ending with an ellipsis when cut; control characters (and, in
 * ASCII mode, anything non-ASCII) become '?'. Returns the columns used. */
static size_t render_text(RenderLine *l, const char *s, size_t max, const RenderMarks *mk,
                          bool ascii)
{
        size_t w = render_width(s), used = 0, keep = w;

        if (w > max)
                keep = max > mk->ellipsis_width ? max - mk->ellipsis_width : 0;
        while (*s && used < keep) {
                unsigned char c = (unsigned char)*s;
                size_t n = 1;

                while (c >= 0x80 && (s[n] & 0xc0) == 0x80)
                        n++;
                if (c < 0x20 || c == 0x7f || (ascii && c >= 0x80))
                        render_put(l, "?", 1);
                else
                        render_put(l, s, n);
                s += n;
                used++;
        }
        if (w > max) {
                render_puts(l, mk->ellipsis);
                used += mk->ellipsis_width;
        }
        return used;
}

static void render_mark(RenderLine *l, CellState st, const RenderMarks *mk, bool color)
{
        const char *mark = st == CELL_AVAILABLE     ? mk->available
                           : st == CELL_UNAVAILABLE ? mk->unavailable
                                                    : mk->unknown;
        const char *ansi = st == CELL_AVAILABLE     ? ANSI_GREEN
                           : st == CELL_UNAVAILABLE ? ANSI_RED
                                                    : ANSI_DIM;

        if (color)
                render_puts(l, ansi);
        render_puts(l, mark);
        if (color)
                render_puts(l, ANSI_RESET);
}

static int render_flush(FILE *f, RenderLine *l)
{
        while (l->n > 0 && l->buf[l->n - 1] == ' ')
                l->n--;
        render_put(l, "\n", 1);
        if (fwrite(l->buf, 1, l->n, f) != l->n)
                return -EIO;
        l->n = 0;
        return 0;
}

/* Flush l folded at spaces to width columns (0: one line); continuation lines are
 * indented by two. A line holding ANSI colour codes is never folded. */
static int render_flush_wrap(FILE *f, RenderLine *l, size_t width)
{
        RenderLine rest = {0};
        int r = 0;

        if (width == 0 || render_width(l->buf ? l->buf : "") <= width ||
            (l->buf && strchr(l->buf, '\033')))
                return render_flush(f, l);
        for (;;) {
                const char *s = l->buf;
                size_t cols = 0, cut = 0, i;

                for (i = 0; s[i]; i++) {
                        if (((unsigned char)s[i] & 0xc0) == 0x80)
                                continue;
                        if (cols == width)
                                break;
                        if (s[i] == ' ')
                                cut = i;
                        cols++;
                }
                if (!s[i] || cut == 0) {
                        r = render_flush(f, l);
                        break;
                }
                rest.n = 0;
                render_puts(&rest, "  ");
                render_puts(&rest, s + cut + 1);
                l->n = cut;
                l->buf[cut] = '\0';
                r = render_flush(f, l);
                if (r < 0)
                        break;
                l->n = 0;
                render_puts(l, rest.buf);
        }
        free(rest.buf);
        return r;
}

/* The note under a grid that had to leave columns out to fit. */
static int render_left_out(FILE *f, RenderLine *l, size_t left_out, size_t width)
{
        char buf[160];

        if (left_out == 0)
                return 0;
        snprintf(buf, sizeof(buf),
                 "(%zu provider column%s left out to fit %zu columns; --json has every cell)",
                 left_out, left_out == 1 ? "" : "s", width);
        render_puts(l, buf);
        return render_flush_wrap(f, l, width);
}

typedef struct RenderLayout {
        size_t model_width;
        size_t *widths; /* per column of the grid */
        size_t *cols;   /* grid columns shown, in column order */
        size_t n_cols;
        size_t left_out; /* columns left out to fit the width */
        size_t group_start[_PROVIDER_KIND_MAX], group_len[_PROVIDER_KIND_MAX]; /* into cols */
} RenderLayout;

/* A grid keeps the provider columns it was started with, by id: a matrix that gains or
 * loses a provider while a grid is drawn in parts (the control socket streams one) moves
 * the columns' indices, never what a column of the grid means. */
struct RenderGrid {
        RenderOptions o; /* the globs are the caller's */
        const RenderMarks *mk;
        size_t n_prov;
        char **ids;          /* every provider of the matrix at the start, in its order */
        ProviderKind *kinds; /* of each */
        bool *seen;          /* some measured row has evidence in the column */
        size_t *index;       /* each column's index in the matrix last synced, or SIZE_MAX */
        size_t *column;      /* the reverse: a matrix index's column, or SIZE_MAX */
        size_t n_column;
        size_t measured_width; /* widest id of a measured row */
        RenderLayout lay;      /* made by render_grid_head() */
        RenderLine line;
};

#define RENDER_MODEL_WIDTH_MIN  16 /* the model column is never cut below this to fit */
#define RENDER_MODEL_WIDTH_SOFT 28 /* ... nor below this while columns can go instead */

static size_t render_group_span(const RenderLayout *lay, int g)
{
        size_t span = lay->group_len[g] - 1;

        for (size_t i = 0; i < lay->group_len[g]; i++)
                span += lay->widths[lay->cols[lay->group_start[g] + i]];
        return span;
}

/* Group runs over lay->cols, and column widths: each id's, the last of a group widened
 * so the group's label fits over it. */
static void render_groups(const RenderGrid *g, RenderLayout *lay)
{
        for (size_t i = 0; i < g->n_prov; i++)
                lay->widths[i] = MAX(render_width(g->ids[i]), (size_t)1);
        /* Columns are ordered by kind, so each group is one contiguous run. */
        for (int k = 0; k < _PROVIDER_KIND_MAX; k++) {
                size_t span, label;

                lay->group_start[k] = lay->n_cols;
                lay->group_len[k] = 0;
                for (size_t c = 0; c < lay->n_cols; c++) {
                        if (g->kinds[lay->cols[c]] != (ProviderKind)k)
                                continue;
                        if (lay->group_len[k] == 0)
                                lay->group_start[k] = c;
                        lay->group_len[k]++;
                }
                if (lay->group_len[k] == 0)
                        continue;
                span = render_group_span(lay, k);
                label = strlen(render_group_labels[k]);
                if (label > span)
                        lay->widths[lay->cols[lay->group_start[k] + lay->group_len[k] - 1]] +=
                            label - span;
        }
}

/* Columns of a row of the full grid. */
static size_t render_wide_width(const RenderLayout *lay)
{
        size_t w = lay->model_width;
        bool first = true;

        for (int g = 0; g < _PROVIDER_KIND_MAX; g++) {
                if (lay->group_len[g] == 0)
                        continue;
                w += (first ? 2 : 3) + render_group_span(lay, g);
                first = false;
        }
        return w + strlen("  clouds") + strlen(" ?");
}

/* Columns of a row of the compact grid, whose summary columns have fixed widths. */
static size_t render_compact_width(const RenderLayout *lay)
{
        size_t span = lay->group_len[PROVIDER_CLOUD] ? render_group_span(lay, PROVIDER_CLOUD) : 0;

        return lay->model_width + 2 + MAX(span, strlen(render_group_labels[PROVIDER_CLOUD])) +
               strlen(" | direct | aggregators  clouds") + strlen(" ?");
}

/* The layout from what the measured rows showed. */
static void render_layout(const RenderGrid *g, RenderLayout *lay)
{
        const RenderOptions *o = &g->o;
        bool compact = o->compact;

        lay->model_width = MIN(g->measured_width, (size_t)RENDER_MODEL_WIDTH_MAX);
        lay->widths = xcalloc(MAX(g->n_prov, (size_t)1), sizeof(size_t));

        /* A column no selected row has evidence in is all unknown: leave it out, or real
         * catalogues with dozens of providers make the grid unreadable. The clouds count
         * still covers every column. */
        lay->cols = xcalloc(MAX(g->n_prov, (size_t)1), sizeof(size_t));
        lay->n_cols = 0;
        for (size_t i = 0; i < g->n_prov; i++) {
                if (!render_provider_selected(o, g->ids[i]))
                        continue;
                if (compact && g->kinds[i] != PROVIDER_CLOUD)
                        continue;
                if (g->seen[i])
                        lay->cols[lay->n_cols++] = i;
        }
        render_groups(g, lay);

        /* To fit a terminal: first cut long model ids (with an ellipsis), then leave out
         * provider columns from the right, aggregators first; the summaries still count
         * every column. */
        if (o->width == 0)
                return;
        for (;;) {
                size_t w = compact ? render_compact_width(lay) : render_wide_width(lay);
                /* In the full grid ids stay readable to RENDER_MODEL_WIDTH_SOFT; below
                 * that, columns go first, and only then the ids shrink further. The compact
                 * grid's few columns are the clouds, its point: ids shrink first there. */
                size_t floor = lay->n_cols > 1 && !compact ? RENDER_MODEL_WIDTH_SOFT
                                                           : RENDER_MODEL_WIDTH_MIN;
                if (w <= o->width)
                        return;
                if (lay->model_width > floor) {
                        lay->model_width -= MIN(w - o->width, lay->model_width - floor);
                        continue;
                }
                if (lay->n_cols <= 1)
                        return;
                lay->n_cols--;
                lay->left_out++;
                render_groups(g, lay);
        }
}

static void render_group_sep(RenderLine *l, bool first)
{
        render_puts(l, first ? "  " : " | ");
}

/* The last columns of a row: the count of clouds available (in width, highlighted when
 * it is the one cloud this tool watches for), and the unmapped marker. */
static void render_row_end(RenderLine *l, const Matrix *m, const MatrixModel *mm, int width,
                           bool color)
{
        size_t clouds = matrix_count_providers(m, mm, PROVIDER_CLOUD, CELL_AVAILABLE);
        char num[32];

        snprintf(num, sizeof(num), "%*zu", width, clouds);
        if (color && clouds == 1)
                render_puts(l, ANSI_YELLOW);
        render_puts(l, num);
        if (color && clouds == 1)
                render_puts(l, ANSI_RESET);
        if (!mm->mapped)
                render_puts(l, " ?");
}

/* The legend line: the three marks, then what the summary columns mean. */
static void render_legend(RenderLine *l, const RenderMarks *mk, bool color, const char *columns)
{
        render_puts(l, "legend: ");
        render_mark(l, CELL_AVAILABLE, mk, color);
        render_puts(l, " available  ");
        render_mark(l, CELL_UNAVAILABLE, mk, color);
        render_puts(l, " unavailable  ");
        render_mark(l, CELL_UNKNOWN, mk, color);
        render_puts(l, " unknown  ? unmapped id");
        render_puts(l, columns);
}

/* The merged state of a model over every provider of one kind: available if any is,
 * else unavailable if any is, else unknown. */
static CellState render_kind_state(const Matrix *m, const MatrixModel *mm, ProviderKind k)
{
        if (matrix_count_providers(m, mm, (int)k, CELL_AVAILABLE) > 0)
                return CELL_AVAILABLE;
        if (matrix_count_providers(m, mm, (int)k, CELL_UNAVAILABLE) > 0)
                return CELL_UNAVAILABLE;
        return CELL_UNKNOWN;
}

static const char render_direct_label[] = "direct", render_aggr_label[] = "aggregators";

/* The state of grid column i in row mm (unknown when the matrix lost the provider). */
static CellState render_grid_state(const RenderGrid *g, const MatrixModel *mm, size_t i)
{
        return g->index[i] == SIZE_MAX ? CELL_UNKNOWN : matrix_cell(mm, g->index[i])->state;
}

/* The compact grid: real catalogues name dozens of direct APIs and resellers, but the
 * question the grid answers is "on which clouds, and is there any other way in". */
static int render_compact_head(RenderGrid *g, FILE *f)
{
        const RenderLayout *lay = &g->lay;
        RenderLine *l = &g->line;
        size_t cloud_span =
            lay->group_len[PROVIDER_CLOUD] ? render_group_span(lay, PROVIDER_CLOUD) : 0;
        int r;

        /* Line 1: the group label over the cloud columns. */
        render_spaces(l, lay->model_width);
        render_puts(l, "  ");
        if (lay->group_len[PROVIDER_CLOUD])
                render_puts(l, render_group_labels[PROVIDER_CLOUD]);
        r = render_flush(f, l);
        if (r < 0)
                return r;

        /* Line 2: cloud ids, then the two summary columns. */
        render_puts(l, "model");
        render_spaces(l, lay->model_width - strlen("model"));
        render_puts(l, "  ");
        for (size_t k = 0; k < lay->group_len[PROVIDER_CLOUD]; k++) {
                size_t i = lay->cols[lay->group_start[PROVIDER_CLOUD] + k];
                if (k > 0)
                        render_spaces(l, 1);
                size_t w = render_text(l, g->ids[i], SIZE_MAX, g->mk, g->o.ascii);
                render_spaces(l, lay->widths[i] - w);
        }
        if (cloud_span < strlen(render_group_labels[PROVIDER_CLOUD]) &&
            lay->group_len[PROVIDER_CLOUD])
                render_spaces(l, strlen(render_group_labels[PROVIDER_CLOUD]) - cloud_span);
        render_puts(l, " | ");
        render_puts(l, render_direct_label);
        render_puts(l, " | ");
        render_puts(l, render_aggr_label);
        render_puts(l, "  clouds");
        return render_flush(f, l);
}

static int render_compact_row(RenderGrid *g, const Matrix *m, const MatrixModel *mm, FILE *f)
{
        const RenderLayout *lay = &g->lay;
        const RenderMarks *mk = g->mk;
        RenderLine *l = &g->line;
        size_t cloud_span =
            lay->group_len[PROVIDER_CLOUD] ? render_group_span(lay, PROVIDER_CLOUD) : 0;
        char num[32];

        render_spaces(l,
                      lay->model_width - render_text(l, mm->id, lay->model_width, mk, g->o.ascii));
        render_puts(l, "  ");
        for (size_t k = 0; k < lay->group_len[PROVIDER_CLOUD]; k++) {
                size_t i = lay->cols[lay->group_start[PROVIDER_CLOUD] + k], w = lay->widths[i];
                size_t left = (w - 1) / 2;
                if (k > 0)
                        render_spaces(l, 1);
                render_spaces(l, left);
                render_mark(l, render_grid_state(g, mm, i), mk, g->o.color);
                render_spaces(l, w - 1 - left);
        }
        if (cloud_span < strlen(render_group_labels[PROVIDER_CLOUD]) &&
            lay->group_len[PROVIDER_CLOUD])
                render_spaces(l, strlen(render_group_labels[PROVIDER_CLOUD]) - cloud_span);
        render_puts(l, " | ");
        render_spaces(l, (sizeof(render_direct_label) - 2) / 2);
        render_mark(l, render_kind_state(m, mm, PROVIDER_DIRECT), mk, g->o.color);
        render_spaces(l, sizeof(render_direct_label) - 2 - (sizeof(render_direct_label) - 2) / 2);
        snprintf(num, sizeof(num), " | %*zu", (int)(sizeof(render_aggr_label) - 1),
                 matrix_count_providers(m, mm, PROVIDER_AGGREGATOR, CELL_AVAILABLE));
        render_puts(l, num);
        render_row_end(l, m, mm, 8, g->o.color);
        return render_flush(f, l);
}

static int render_wide_head(RenderGrid *g, FILE *f)
{
        const RenderLayout *lay = &g->lay;
        RenderLine *l = &g->line;
        bool first, any_column;
        int r = 0;

        /* Line 1: group labels over their columns (none without columns). */
        any_column = lay->group_len[0] || lay->group_len[1] || lay->group_len[2];
        if (any_column)
                render_spaces(l, lay->model_width);
        first = true;
        for (int k = 0; k < _PROVIDER_KIND_MAX; k++) {
                if (lay->group_len[k] == 0)
                        continue;
                render_group_sep(l, first);
                first = false;
                render_puts(l, render_group_labels[k]);
                render_spaces(l, render_group_span(lay, k) - strlen(render_group_labels[k]));
        }
        if (any_column)
                r = render_flush(f, l);
        if (r < 0)
                return r;

        /* Line 2: provider ids. */
        render_puts(l, "model");
        render_spaces(l, lay->model_width - strlen("model"));
        first = true;
        for (int k = 0; k < _PROVIDER_KIND_MAX; k++) {
                if (lay->group_len[k] == 0)
                        continue;
                render_group_sep(l, first);
                first = false;
                for (size_t c = 0; c < lay->group_len[k]; c++) {
                        size_t i = lay->cols[lay->group_start[k] + c], w;

                        if (c > 0)
                                render_spaces(l, 1);
                        w = render_text(l, g->ids[i], SIZE_MAX, g->mk, g->o.ascii);
                        render_spaces(l, lay->widths[i] - w);
                }
        }
        render_puts(l, "  clouds");
        return render_flush(f, l);
}

static int render_wide_row(RenderGrid *g, const Matrix *m, const MatrixModel *mm, FILE *f)
{
        const RenderLayout *lay = &g->lay;
        RenderLine *l = &g->line;
        bool first = true;

        render_spaces(l, lay->model_width -
                             render_text(l, mm->id, lay->model_width, g->mk, g->o.ascii));
        for (int k = 0; k < _PROVIDER_KIND_MAX; k++) {
                if (lay->group_len[k] == 0)
                        continue;
                render_group_sep(l, first);
                first = false;
                for (size_t c = 0; c < lay->group_len[k]; c++) {
                        size_t i = lay->cols[lay->group_start[k] + c], w = lay->widths[i];
                        size_t left = (w - 1) / 2;

                        if (c > 0)
                                render_spaces(l, 1);
                        render_spaces(l, left);
                        render_mark(l, render_grid_state(g, mm, i), g->mk, g->o.color);
                        render_spaces(l, w - 1 - left);
                }
        }
        render_puts(l, "  ");
        render_row_end(l, m, mm, 6, g->o.color);
        return render_flush(f, l);
}

int render_grid_new(const Matrix *m, const RenderOptions *o, RenderGrid **ret)
{
        RenderGrid *g;

        if (!m || !ret)
                return -EINVAL;
        g = xcalloc(1, sizeof(*g));
        if (o)
                g->o = *o;
        g->mk = g->o.ascii ? &render_ascii : &render_utf8;
        g->n_prov = m->n_providers;
        g->ids = xcalloc(MAX(g->n_prov, (size_t)1), sizeof(char *));
        g->kinds = xcalloc(MAX(g->n_prov, (size_t)1), sizeof(ProviderKind));
        g->seen = xcalloc(MAX(g->n_prov, (size_t)1), sizeof(bool));
        g->index = xcalloc(MAX(g->n_prov, (size_t)1), sizeof(size_t));
        for (size_t i = 0; i < g->n_prov; i++) {
                g->ids[i] = xstrdup(m->providers[i].id);
                g->kinds[i] = m->providers[i].kind;
        }
        g->measured_width = strlen("model");
        render_grid_sync(g, m);
        *ret = g;
        return 0;
}

void render_grid_free(RenderGrid *g)
{
        if (!g)
                return;
        for (size_t i = 0; i < g->n_prov; i++)
                free(g->ids[i]);
        free(g->ids);
        free(g->kinds);
        free(g->seen);
        free(g->index);
        free(g->column);
        free(g->lay.widths);
        free(g->lay.cols);
        free(g->line.buf);
        free(g);
}

void render_grid_sync(RenderGrid *g, const Matrix *m)
{
        bool same = m->n_providers == g->n_column;

        for (size_t i = 0; same && i < g->n_prov; i++)
                same = g->index[i] == SIZE_MAX ? matrix_provider_index(m, g->ids[i]) < 0
                                               : g->index[i] < m->n_providers &&
                                                     streq(m->providers[g->index[i]].id, g->ids[i]);
        if (same && g->column)
                return;
        free(g->column);
        g->n_column = m->n_providers;
        g->column = xcalloc(MAX(g->n_column, (size_t)1), sizeof(size_t));
        for (size_t k = 0; k < g->n_column; k++)
                g->column[k] = SIZE_MAX;
        for (size_t i = 0; i < g->n_prov; i++) {
                int k = matrix_provider_index(m, g->ids[i]);
                g->index[i] = k < 0 ? SIZE_MAX : (size_t)k;
                if (k >= 0)
                        g->column[k] = i;
        }
}

void render_grid_measure(RenderGrid *g, const MatrixModel *mm)
{
        g->measured_width = MAX(g->measured_width, render_width(mm->id));
        for (size_t k = 0; k < mm->n_cells; k++) {
                size_t p = mm->cells[k].provider;
                if (mm->cells[k].n_evidence > 0 && p < g->n_column && g->column[p] != SIZE_MAX)
                        g->seen[g->column[p]] = true;
        }
}

int render_grid_head(RenderGrid *g, FILE *f)
{
        if (!g || !f)
                return -EINVAL;
        free(g->lay.widths);
        free(g->lay.cols);
        g->lay = (RenderLayout){0};
        render_layout(g, &g->lay);
        return g->o.compact ? render_compact_head(g, f) : render_wide_head(g, f);
}

int render_grid_row(RenderGrid *g, const Matrix *m, const MatrixModel *mm, FILE *f)
{
        if (!g || !m || !mm || !f || !g->lay.widths)
                return -EINVAL;
        return g->o.compact ? render_compact_row(g, m, mm, f) : render_wide_row(g, m, mm, f);
}

int render_grid_tail(RenderGrid *g, FILE *f)
{
        int r;

        if (!g || !f)
                return -EINVAL;
        r = render_left_out(f, &g->line, g->lay.left_out, g->o.width);
        if (r < 0)
                return r;
        render_legend(&g->line, g->mk, g->o.color,
                      g->o.compact ? "; direct = any direct API (e.g. the vendor's own), "
                                     "aggregators = how many resell it, clouds = cloud providers "
                                     "available"
                                   : "  clouds = cloud providers available");
        r = render_flush_wrap(f, &g->line, g->o.width);
        if (r >= 0 && fflush(f) != 0)
                r = -EIO;
        return r;
}

int render_matrix_text(FILE *f, const Matrix *m, const RenderOptions *o)
{
        RenderGrid *g = NULL;
        int r;

        if (!f || !m)
                return -EINVAL;
        r = render_grid_new(m, o, &g);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_models; i++)
                if (render_row_selected(m, o, m->models[i]))
                        render_grid_measure(g, m->models[i]);
        r = render_grid_head(g, f);
        for (size_t i = 0; r >= 0 && i < m->n_models; i++)
                if (render_row_selected(m, o, m->models[i]))
                        r = render_grid_row(g, m, m->models[i], f);
        if (r >= 0)
                r = render_grid_tail(g, f);
        render_grid_free(g);
        return r;
}

/* ---- JSON ----------------------------------------------------------------------------- */

static json_t *render_time(uint64_t usec)
{
        time_t t;
        struct tm tm;
        char buf[64];

        if (usec == 0 || usec / USEC_PER_SEC > (uint64_t)INT64_MAX)
                return json_null();
        t = (time_t)(usec / USEC_PER_SEC);
        if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return json_null();
        return json_string(buf);
}

static json_t *render_date(int64_t sec)
{
        time_t t = (time_t)sec;
        struct tm tm;
        char buf[64];

        if (sec <= 0 || !gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%d", &tm) == 0)
                return json_null();
        return json_string(buf);
}

static json_t *render_price(double p)
{
        return isfinite(p) ? json_real(p) : json_null();
}

static int render_set(json_t *o, const char *key, json_t *v)
{
        if (!v || json_object_set_new(o, key, v) < 0)
                return -ENOMEM;
        return 0;
}

static int render_regions(char *const *regions, size_t n, json_t **ret)
{
        json_t *a = json_array();

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (json_array_append_new(a, json_string(regions[i])) < 0) {
                        json_decref(a);
                        return -ENOMEM;
                }
        *ret = a;
        return 0;
}

static int render_cell(const Cell *c, json_t **ret)
{
        json_t *o = json_object(), *regions = NULL, *sources = json_array();
        int r = -ENOMEM;

        if (!o || !sources)
                goto fail;
        for (size_t i = 0; i < c->n_evidence; i++) {
                const Evidence *e = &c->evidence[i];
                json_t *s = json_object();

                if (!s || json_array_append_new(sources, s) < 0)
                        goto fail;
                if ((r = render_set(s, "source", json_string(e->source))) < 0 ||
                    (r = render_set(s, "said", json_string(cell_state_name(e->said)))) < 0 ||
                    (r = render_set(s, "raw_id", json_string(e->raw_id ? e->raw_id : ""))) < 0 ||
                    (r = render_set(s, "last_seen", render_time(e->last_seen))) < 0 ||
                    (r = render_set(s, "missing", json_integer(e->missing))) < 0)
                        goto fail;
        }
        r = render_regions(c->regions, c->n_regions, &regions);
        if (r < 0)
                goto fail;
        if ((r = render_set(o, "state", json_string(cell_state_name(c->state)))) < 0 ||
            (r = render_set(o, "regions", TAKE_PTR(regions))) < 0 ||
            (r = render_set(o, "price_in", render_price(matrix_cell_price(c, false)))) < 0 ||
            (r = render_set(o, "price_out", render_price(matrix_cell_price(c, true)))) < 0 ||
            (r = render_set(o, "lifecycle", json_string(lifecycle_name(c->lifecycle)))) < 0 ||
            (r = render_set(o, "eol", render_date(c->eol))) < 0 ||
            (r = render_set(o, "first_seen", render_time(matrix_cell_first_seen(c)))) < 0 ||
            (r = render_set(o, "last_seen", render_time(matrix_cell_last_seen(c)))) < 0 ||
            (r = render_set(o, "sources", TAKE_PTR(sources))) < 0)
                goto fail;
        *ret = o;
        return 0;
fail:
        json_decref(regions);
        json_decref(sources);
        json_decref(o);
        return r;
}

static int render_model(const Matrix *m, const MatrixModel *mm, json_t **ret)
{
        json_t *o = json_object(), *cells = json_object();
        size_t clouds = matrix_count_providers(m, mm, PROVIDER_CLOUD, CELL_AVAILABLE);
        int r = -ENOMEM;

        if (!o || !cells)
                goto fail;
        /* A cell without evidence is left out: readers take an absent provider as unknown. */
        for (size_t i = 0; i < m->n_providers; i++) {
                const Cell *c = matrix_cell(mm, i);
                json_t *cj = NULL;

                if (c->n_evidence == 0)
                        continue;
                r = render_cell(c, &cj);
                if (r < 0)
                        goto fail;
                if ((r = render_set(cells, m->providers[i].id, cj)) < 0)
                        goto fail;
        }
        if ((r = render_set(o, "id", json_string(mm->id))) < 0 ||
            (r = render_set(o, "vendor", json_string(mm->vendor ? mm->vendor : ""))) < 0 ||
            (r = render_set(o, "mapped", json_boolean(mm->mapped))) < 0 ||
            (r = render_set(o, "clouds_available", json_integer((json_int_t)clouds))) < 0 ||
            (r = render_set(o, "cells", TAKE_PTR(cells))) < 0)
                goto fail;
        *ret = o;
        return 0;
fail:
        json_decref(cells);
        json_decref(o);
        return r;
}

int render_model_json(const Matrix *m, const MatrixModel *mm, json_t **ret)
{
        if (!m || !mm || !ret)
                return -EINVAL;
        return render_model(m, mm, ret);
}

int render_providers_json(const Matrix *m, json_t **ret)
{
        json_t *providers;
        int r;

        if (!m || !ret)
                return -EINVAL;
        providers = json_array();
        if (!providers)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_providers; i++) {
                json_t *p = json_object();
                if (!p || json_array_append_new(providers, p) < 0) {
                        json_decref(providers);
                        return -ENOMEM;
                }
                if ((r = render_set(p, "id", json_string(m->providers[i].id))) < 0 ||
                    (r = render_set(p, "kind",
                                    json_string(render_kind_name(m->providers[i].kind)))) < 0) {
                        json_decref(providers);
                        return r;
                }
        }
        *ret = providers;
        return 0;
}

int render_matrix_json(const Matrix *m, const RenderOptions *o, json_t **ret)
{
        json_t *doc, *providers = NULL, *models;
        int r;

        if (!m || !ret)
                return -EINVAL;
        doc = json_object();
        if (!doc)
                return -ENOMEM;
        r = render_providers_json(m, &providers);
        if (r < 0) {
                json_decref(doc);
                return r;
        }
        models = json_array();
        if ((r = render_set(doc, "schema", json_string(RENDER_SCHEMA))) < 0 ||
            (r = render_set(doc, "providers", providers)) < 0 ||
            (r = render_set(doc, "models", models)) < 0)
                goto fail;
        for (size_t i = 0; i < m->n_models; i++) {
                json_t *mj = NULL;
                if (!render_row_selected(m, o, m->models[i]))
                        continue;
                r = render_model(m, m->models[i], &mj);
                if (r < 0)
                        goto fail;
                if (json_array_append_new(models, mj) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        *ret = doc;
        return 0;
fail:
        json_decref(doc);
        return r;
}
