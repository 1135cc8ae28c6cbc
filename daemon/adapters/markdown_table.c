/* markdown-table: GFM pipe tables, each chosen by its header names (docs/adapters-tables.md). */
#include <errno.h>

#include "lockwatch/adapter.h"
#include "lockwatch/table.h"
#include "lockwatch/util.h"

/* Inline constructs are searched for their end only this far, so a cell full of
 * unmatched brackets or backticks costs linear time. */
#define MD_SCAN_LIMIT 4096

typedef struct MdLine {
        const char *s; /* leading and trailing whitespace removed */
        size_t n;
        size_t offset; /* of the line's first byte in the input */
        unsigned no;
} MdLine;

typedef struct MdCells {
        char *cells[TABLE_MAX_CELLS + 1];
        size_t n;
} MdCells;

static void md_cells_clear(MdCells *c)
{
        for (size_t i = 0; i < c->n; i++)
                free(c->cells[i]);
        c->n = 0;
}

static bool md_is_punct(char c)
{
        return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
               (c >= '{' && c <= '~');
}

static bool md_is_alpha(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Find the ']' closing the '[' at open, and the end of the "(url)" or "[ref]" after it. */
static bool md_link(const char *s, size_t n, size_t open, size_t *ret_close, size_t *ret_end)
{
        size_t limit = MIN(n, open + MD_SCAN_LIMIT), close = SIZE_MAX;
        unsigned depth = 0;

        for (size_t i = open + 1; i < limit; i++) {
                if (s[i] == '\\') {
                        i++;
                        continue;
                }
                if (s[i] == '[')
                        depth++;
                else if (s[i] == ']' && depth-- == 0) {
                        close = i;
                        break;
                }
        }
        if (close == SIZE_MAX || close + 1 >= n || (s[close + 1] != '(' && s[close + 1] != '['))
                return false;

        char opener = s[close + 1], closer = opener == '(' ? ')' : ']';
        limit = MIN(n, close + 1 + MD_SCAN_LIMIT);
        depth = 0;
        for (size_t i = close + 2; i < limit; i++) {
                if (s[i] == '\\') {
                        i++;
                        continue;
                }
                if (s[i] == opener)
                        depth++;
                else if (s[i] == closer && depth-- == 0) {
                        *ret_close = close;
                        *ret_end = i + 1;
                        return true;
                }
        }
        return false;
}

/* Length of an inline HTML tag or comment at s, 0 if s does not start one. */
static size_t md_tag(const char *s, size_t n, bool *ret_breaks)
{
        size_t limit = MIN(n, MD_SCAN_LIMIT), i = 1, name;

        *ret_breaks = false;
        if (n >= 4 && memcmp(s, "<!--", 4) == 0) {
                for (i = 4; i + 3 <= limit; i++)
                        if (memcmp(s + i, "-->", 3) == 0)
                                return i + 3;
                return 0;
        }
        if (i < n && s[i] == '/')
                i++;
        if (i >= n || !md_is_alpha(s[i]))
                return 0;
        name = i;
        while (i < n && (md_is_alpha(s[i]) || (s[i] >= '0' && s[i] <= '9')))
                i++;
        size_t name_len = i - name;
        if (i < n && s[i] != '>' && s[i] != '/' && s[i] != ' ' && s[i] != '\t')
                return 0;
        for (; i < limit; i++) {
                if (s[i] == '<')
                        return 0;
                if (s[i] == '>') {
                        *ret_breaks = table_tag_breaks(s + name, name_len);
                        return i + 1;
                }
        }
        return 0;
}

/* Cell source -> cell text: links to their text, code spans to their content,
 * "**" dropped, HTML tags dropped (<br> and block tags end a list item), entities decoded. */
static void md_inline(TableText *t, const char *s, size_t n)
{
        size_t link_close = SIZE_MAX, link_end = 0;

        for (size_t i = 0; i < n;) {
                char c = s[i];

                if (link_close != SIZE_MAX && i >= link_close) {
                        i = MAX(i, link_end);
                        link_close = SIZE_MAX;
                        continue;
                }
                if (c == '\\' && i + 1 < n && md_is_punct(s[i + 1])) {
                        table_text_append(t, s + i + 1, 1);
                        i += 2;
                        continue;
                }
                if (c == '`') {
                        size_t k = 0, close = SIZE_MAX;
                        while (i + k < n && s[i + k] == '`')
                                k++;
                        for (size_t j = i + k, limit = MIN(n, i + k + MD_SCAN_LIMIT); j < limit;) {
                                size_t m = 0;
                                while (j + m < n && s[j + m] == '`')
                                        m++;
                                if (m == k) {
                                        close = j;
                                        break;
                                }
                                j += m ? m : 1;
                        }
                        if (close == SIZE_MAX) {
                                table_text_append(t, s + i, k);
                                i += k;
                                continue;
                        }
                        table_text_append(t, s + i + k, close - i - k);
                        i = close + k;
                        continue;
                }
                if (c == '*' && i + 1 < n && s[i + 1] == '*') {
                        i += 2;
                        continue;
                }
                if (link_close == SIZE_MAX &&
                    (c == '[' || (c == '!' && i + 1 < n && s[i + 1] == '['))) {
                        size_t open = c == '!' ? i + 1 : i, close, end;
                        if (md_link(s, n, open, &close, &end)) {
                                link_close = close;
                                link_end = end;
                                i = open + 1;
                                continue;
                        }
                }
                if (c == '<') {
                        bool breaks;
                        size_t l = md_tag(s + i, n - i, &breaks);
                        if (l > 0) {
                                if (breaks)
                                        table_text_break(t);
                                i += l;
                                continue;
                        }
                }
                if (c == '&') {
                        char buf[8];
                        size_t blen, l = table_decode_entity(s + i, n - i, buf, &blen);
                        if (l > 0) {
                                table_text_append(t, buf, blen);
                                i += l;
                                continue;
                        }
                }
                table_text_append(t, s + i, 1);
                i++;
        }
}

static bool md_has_pipe(const MdLine *l)
{
        for (size_t i = 0; i < l->n; i++) {
                if (l->s[i] == '\\')
                        i++;
                else if (l->s[i] == '|')
                        return true;
        }
        return false;
}

/* Split a row at unescaped pipes; raw cell sources get "\|" turned into "|". With
 * want_text, each cell becomes its text (only the cells r reads, when r is given: the
 * others are ""); else the raw source is kept. */
static void md_split(const MdLine *l, bool want_text, const TableReader *r, MdCells *ret)
{
        const char *s = l->s;
        size_t n = l->n, start = 0;
        _cleanup_free_ char *raw = xmalloc(n + 1);
        size_t rn = 0;

        md_cells_clear(ret);
        if (n > 0 && s[0] == '|')
                start = 1;
        if (n > start && s[n - 1] == '|' && !(n >= 2 && s[n - 2] == '\\'))
                n--;
        for (size_t i = start; i <= n; i++) {
                if (i < n && s[i] == '\\' && i + 1 < n && s[i + 1] == '|') {
                        raw[rn++] = '|';
                        i++;
                        continue;
                }
                if (i < n && s[i] != '|') {
                        raw[rn++] = s[i];
                        continue;
                }
                if (ret->n > TABLE_MAX_CELLS)
                        return;
                if (want_text && (!r || table_reader_wants(r, ret->n))) {
                        TableText t = {0};
                        md_inline(&t, raw, rn);
                        ret->cells[ret->n++] = table_text_steal(&t);
                } else if (want_text) {
                        ret->cells[ret->n++] = xstrdup("");
                } else {
                        ret->cells[ret->n++] = xstrndup(raw, rn);
                }
                rn = 0;
        }
}

static bool md_is_delimiter_row(const MdLine *l, size_t want)
{
        MdCells c = {0};
        bool ok;

        if (!md_has_pipe(l))
                return false;
        md_split(l, false, NULL, &c);
        ok = c.n == want;
        for (size_t i = 0; ok && i < c.n; i++) {
                const char *p = c.cells[i];
                size_t dashes = 0;
                while (*p == ' ' || *p == '\t')
                        p++;
                if (*p == ':')
                        p++;
                while (*p == '-') {
                        p++;
                        dashes++;
                }
                if (*p == ':')
                        p++;
                while (*p == ' ' || *p == '\t')
                        p++;
                ok = dashes > 0 && *p == '\0';
        }
        md_cells_clear(&c);
        return ok;
}

static size_t md_fence(const MdLine *l, char *ret_ch)
{
        size_t k = 0;
        if (l->n < 3 || (l->s[0] != '`' && l->s[0] != '~'))
                return 0;
        while (k < l->n && l->s[k] == l->s[0])
                k++;
        if (k < 3)
                return 0;
        *ret_ch = l->s[0];
        return k;
}

static bool md_ends_table(const MdLine *l)
{
        char ch;
        return l->n == 0 || !md_has_pipe(l) || l->s[0] == '#' || l->s[0] == '>' ||
               (l->n >= 3 && memcmp(l->s, ":::", 3) == 0) || md_fence(l, &ch) > 0;
}

typedef struct MdScanner {
        const char *data;
        size_t len, pos;
        unsigned no;
} MdScanner;

static bool md_next_line(MdScanner *sc, MdLine *ret)
{
        if (sc->pos >= sc->len)
                return false;
        const char *s = sc->data + sc->pos;
        const char *nl = memchr(s, '\n', sc->len - sc->pos);
        size_t n = nl ? (size_t)(nl - s) : sc->len - sc->pos;

        ret->offset = sc->pos;
        ret->no = ++sc->no;
        sc->pos += n + (nl ? 1 : 0);
        while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
                n--;
        while (n > 0 && (s[0] == ' ' || s[0] == '\t')) {
                s++;
                n--;
        }
        ret->s = s;
        ret->n = n;
        return true;
}

static bool md_line_is(const MdLine *l, const char *word)
{
        return l->n == strlen(word) && memcmp(l->s, word, l->n) == 0;
}

int adapter_markdown_table_parse(const char *data, size_t len, const AdapterOptions *opts,
                                 ObservationList *out, AdapterError *err)
{
        _cleanup_(table_reader_freep) TableReader *r = NULL;
        size_t max_bytes = opts->max_bytes ? opts->max_bytes : ADAPTER_MAX_BYTES_DEFAULT;
        MdScanner sc = {.data = data, .len = len};
        MdCells cells = {0};
        MdLine line, next;
        bool in_table = false, have_next = false;
        char fence_ch = 0;
        size_t fence_len = 0;
        int k;

        if (len > max_bytes)
                return adapter_error(err, 0, "input of %zu bytes exceeds the cap of %zu", len,
                                     max_bytes),
                       -EFBIG;
        k = table_reader_new(opts, out, err, &r);
        if (k < 0)
                return k;

        /* YAML front matter: its "---" closer must not read as a delimiter row. */
        if (md_next_line(&sc, &line)) {
                if (line.offset == 0 && md_line_is(&line, "---")) {
                        while (md_next_line(&sc, &line))
                                if (md_line_is(&line, "---") || md_line_is(&line, "..."))
                                        break;
                } else {
                        have_next = true;
                        next = line;
                }
        }

        for (;;) {
                if (have_next) {
                        line = next;
                        have_next = false;
                } else if (!md_next_line(&sc, &line)) {
                        break;
                }

                if (fence_len > 0) {
                        char ch;
                        size_t f = md_fence(&line, &ch);
                        /* Only a bare run of the same character, at least as long, closes. */
                        if (f >= fence_len && ch == fence_ch && f == line.n)
                                fence_len = 0;
                        continue;
                }
                if (in_table) {
                        if (!md_ends_table(&line)) {
                                md_split(&line, true, r, &cells);
                                k = table_reader_row(r, cells.cells, cells.n, line.offset, line.no);
                                md_cells_clear(&cells);
                                if (k < 0)
                                        return k;
                                continue;
                        }
                        in_table = false;
                        k = table_reader_end_table(r);
                        if (k < 0)
                                return k;
                }
                fence_len = md_fence(&line, &fence_ch);
                if (fence_len > 0 || !md_has_pipe(&line) || line.s[0] == '>')
                        continue;

                /* A header needs a delimiter row with as many cells right below it. */
                if (!md_next_line(&sc, &next))
                        break;
                md_split(&line, true, NULL, &cells);
                if (!md_is_delimiter_row(&next, cells.n)) {
                        md_cells_clear(&cells);
                        have_next = true;
                        continue;
                }
                k = table_reader_header(r, cells.cells, cells.n, line.offset, line.no);
                md_cells_clear(&cells);
                if (k < 0)
                        return k;
                in_table = true;
        }
        if (in_table) {
                k = table_reader_end_table(r);
                if (k < 0)
                        return k;
        }
        return table_reader_finish(r);
}
