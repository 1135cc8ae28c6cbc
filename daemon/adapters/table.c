#include "lockwatch/table.h"
#include "lockwatch/adapter.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "lockwatch/util.h"

static const char *const field_names[_TABLE_FIELD_MAX] = {
    [TABLE_FIELD_MODEL] = "model",       [TABLE_FIELD_NAME] = "name",
    [TABLE_FIELD_REGIONS] = "regions",   [TABLE_FIELD_PROVIDER] = "provider",
    [TABLE_FIELD_VENDOR] = "vendor",     [TABLE_FIELD_LIFECYCLE] = "lifecycle",
    [TABLE_FIELD_PRICE_IN] = "price_in", [TABLE_FIELD_PRICE_OUT] = "price_out",
    [TABLE_FIELD_EOL] = "eol",
};

const char *table_field_name(TableField f)
{
        if (f < 0 || f >= _TABLE_FIELD_MAX)
                return NULL;
        return field_names[f];
}

int table_field_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (int f = 0; f < _TABLE_FIELD_MAX; f++)
                if (streq(field_names[f], s))
                        return f;
        return -EINVAL;
}

static bool is_ascii_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_ascii_punct(char c)
{
        return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
               (c >= '{' && c <= '~');
}

static char ascii_lower(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* U+00A0 is how "&nbsp;" arrives; pages use it between words of headers and regions. */
static size_t space_len(const char *s, size_t n)
{
        if (n >= 1 && is_ascii_space(s[0]))
                return 1;
        if (n >= 2 && (unsigned char)s[0] == 0xc2 && (unsigned char)s[1] == 0xa0)
                return 2;
        return 0;
}

/* U+200B and U+FEFF only hint line breaks or encodings: they are not part of any name. */
static size_t invisible_len(const char *s, size_t n)
{
        if (n >= 3 && (unsigned char)s[0] == 0xe2 && (unsigned char)s[1] == 0x80 &&
            (unsigned char)s[2] == 0x8b)
                return 3;
        if (n >= 3 && (unsigned char)s[0] == 0xef && (unsigned char)s[1] == 0xbb &&
            (unsigned char)s[2] == 0xbf)
                return 3;
        return 0;
}

char *table_header_key(const char *text)
{
        size_t n = strlen(text), len = 0, start = 0;
        char *k = xmalloc(n + 1);
        bool space = false;

        for (size_t i = 0; i < n;) {
                size_t l = space_len(text + i, n - i);
                if (l > 0) {
                        space = true;
                        i += l;
                        continue;
                }
                l = invisible_len(text + i, n - i);
                if (l > 0) {
                        i += l;
                        continue;
                }
                if (space && len > 0)
                        k[len++] = ' ';
                space = false;
                k[len++] = ascii_lower(text[i++]);
        }
        while (len > 0 && (is_ascii_punct(k[len - 1]) || k[len - 1] == ' '))
                len--;
        while (start < len && (is_ascii_punct(k[start]) || k[start] == ' '))
                start++;
        memmove(k, k + start, len - start);
        k[len - start] = '\0';
        return k;
}

void table_columns_free(TableColumns *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++) {
                free(c->columns[i].header);
                free(c->columns[i].key);
        }
        free(c);
}

static char *trim_copy(const char *s, size_t n)
{
        while (n > 0 && is_ascii_space(*s)) {
                s++;
                n--;
        }
        while (n > 0 && is_ascii_space(s[n - 1]))
                n--;
        return xstrndup(s, n);
}

static const char *field_suggestion(const char *word)
{
        const char *best = NULL;
        unsigned best_d = 3;

        for (int f = 0; f < _TABLE_FIELD_MAX; f++) {
                unsigned d = util_edit_distance(word, field_names[f], best_d);
                if (d < best_d) {
                        best_d = d;
                        best = field_names[f];
                }
        }
        return best;
}

static int columns_add(TableColumns *c, const char *item, size_t n, ssize_t colon, size_t offset,
                       AdapterError *err)
{
        _cleanup_free_ char *header = NULL, *word = NULL, *key = NULL;
        size_t col = c->n + 1;

        header = trim_copy(item, colon < 0 ? n : (size_t)colon);
        if (colon < 0) {
                if (header[0] == '\0')
                        return adapter_error(err, offset, "column %zu is empty", col);
                return adapter_error(err, offset,
                                     "column %zu (\"%s\") has no ':' between header and field", col,
                                     header);
        }
        word = trim_copy(item + colon + 1, n - (size_t)colon - 1);
        if (header[0] == '\0')
                return adapter_error(err, offset, "column %zu has an empty header before ':%s'",
                                     col, word);
        if (strlen(header) > TABLE_MAX_HEADER_LEN)
                return adapter_error(err, offset, "column %zu has a header longer than %d bytes",
                                     col, TABLE_MAX_HEADER_LEN);
        key = table_header_key(header);
        if (key[0] == '\0')
                return adapter_error(err, offset, "column %zu: header \"%s\" has no text to match",
                                     col, header);
        if (word[0] == '\0')
                return adapter_error(err, offset, "column %zu (\"%s\") has no field after ':'", col,
                                     header);

        int f = -EINVAL;
        for (int i = 0; i < _TABLE_FIELD_MAX; i++)
                if (strcasecmp(word, field_names[i]) == 0)
                        f = i;
        if (f < 0) {
                const char *hint = field_suggestion(word);
                if (hint)
                        return adapter_error(err, offset,
                                             "column %zu (\"%s\"): unknown field \"%s\" (did you "
                                             "mean %s?)",
                                             col, header, word, hint);
                return adapter_error(err, offset,
                                     "column %zu (\"%s\"): unknown field \"%s\" (one of model, "
                                     "name, regions, provider, vendor, lifecycle, price_in, "
                                     "price_out, eol)",
                                     col, header, word);
        }
        for (size_t i = 0; i < c->n; i++)
                if (c->columns[i].field == (TableField)f)
                        return adapter_error(err, offset,
                                             "column %zu (\"%s\"): field %s is already given by "
                                             "column %zu",
                                             col, header, field_names[f], i + 1);
        c->columns[c->n++] = (TableColumn){
            .header = TAKE_PTR(header),
            .key = TAKE_PTR(key),
            .field = (TableField)f,
        };
        return 0;
}

int table_columns_parse(const char *spec, TableColumns **ret, AdapterError *err)
{
        _cleanup_(table_columns_freep) TableColumns *c = NULL;
        _cleanup_free_ char *item = NULL;
        size_t len, n = 0, start = 0;
        ssize_t colon = -1;
        int r;

        if (!spec)
                return adapter_error(err, 0, "no column spec");
        len = strlen(spec);
        if (len > TABLE_MAX_SPEC_LEN)
                return adapter_error(err, 0, "column spec longer than %d bytes",
                                     TABLE_MAX_SPEC_LEN);
        _cleanup_free_ char *trimmed = trim_copy(spec, len);
        if (trimmed[0] == '\0')
                return adapter_error(err, 0, "empty column spec");

        /* Counted first: past the cap, repeated fields would only hide the real problem. */
        for (size_t i = 0, items = 1; i < len; i++) {
                if (spec[i] == '\\')
                        i++;
                else if (spec[i] == ',' && ++items > TABLE_MAX_COLUMNS)
                        return adapter_error(err, i + 1, "more than %d columns", TABLE_MAX_COLUMNS);
        }

        c = xcalloc(1, sizeof(*c));
        item = xmalloc(len + 1);
        for (size_t i = 0; i <= len; i++) {
                char ch = spec[i];

                if (ch == '\\' && i + 1 < len) {
                        item[n++] = spec[++i];
                        continue;
                }
                if (ch == ':') {
                        colon = (ssize_t)n;
                        item[n++] = ch;
                        continue;
                }
                if (ch != ',' && ch != '\0') {
                        item[n++] = ch;
                        continue;
                }
                r = columns_add(c, item, n, colon, start, err);
                if (r < 0)
                        return r;
                n = 0;
                colon = -1;
                start = i + 1;
        }

        bool named = false;
        for (size_t i = 0; i < c->n; i++)
                if (c->columns[i].field == TABLE_FIELD_MODEL ||
                    c->columns[i].field == TABLE_FIELD_NAME)
                        named = true;
        if (!named)
                return adapter_error(err, 0, "the column spec has no model or name column");

        *ret = TAKE_PTR(c);
        return 0;
}

static void text_reserve(TableText *t, size_t extra)
{
        util_grow((void **)&t->buf, &t->cap, t->len + extra + 1, 1);
}

static void text_put(TableText *t, char ch)
{
        if (t->len >= TABLE_MAX_CELL_LEN)
                return;
        if (t->pending_space && t->len > 0 && t->buf[t->len - 1] != TABLE_ITEM_SEP) {
                text_reserve(t, 2);
                t->buf[t->len++] = ' ';
        }
        t->pending_space = false;
        text_reserve(t, 1);
        t->buf[t->len++] = ch;
        t->buf[t->len] = '\0';
}

void table_text_append(TableText *t, const char *s, size_t n)
{
        for (size_t i = 0; i < n;) {
                size_t l = space_len(s + i, n - i);
                if (l > 0) {
                        t->pending_space = true;
                        i += l;
                        continue;
                }
                l = invisible_len(s + i, n - i);
                if (l > 0) {
                        i += l;
                        continue;
                }
                if (s[i] != '\0')
                        text_put(t, s[i]);
                i++;
        }
}

void table_text_break(TableText *t)
{
        t->pending_space = false;
        if (t->len >= TABLE_MAX_CELL_LEN)
                return;
        text_reserve(t, 1);
        t->buf[t->len++] = TABLE_ITEM_SEP;
        t->buf[t->len] = '\0';
}

char *table_text_steal(TableText *t)
{
        char *s;

        if (!t->buf)
                return xstrdup("");
        /* A cut at the cap may split a UTF-8 sequence: drop the partial character. */
        if (t->len >= TABLE_MAX_CELL_LEN) {
                size_t l = t->len;
                while (l > 0 && ((unsigned char)t->buf[l - 1] & 0xc0) == 0x80)
                        l--;
                if (l > 0 && ((unsigned char)t->buf[l - 1] & 0x80))
                        l--;
                t->len = l;
                t->buf[l] = '\0';
        }
        s = t->buf;
        *t = (TableText){0};
        return s;
}

void table_text_done(TableText *t)
{
        free(t->buf);
        *t = (TableText){0};
}

static size_t utf8_encode(uint32_t cp, char out[static 8])
{
        if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                cp = 0xfffd;
        if (cp < 0x80) {
                out[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char)(0xc0 | (cp >> 6));
                out[1] = (char)(0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char)(0xe0 | (cp >> 12));
                out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char)(0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        return 4;
}

size_t table_decode_entity(const char *s, size_t n, char out[static 8], size_t *ret_len)
{
        static const struct {
                const char *name;
                uint32_t cp;
        } named[] = {
            {"amp", '&'},       {"lt", '<'},       {"gt", '>'},       {"quot", '"'},
            {"apos", '\''},     {"nbsp", 0xa0},    {"ndash", 0x2013}, {"mdash", 0x2014},
            {"hellip", 0x2026}, {"rsquo", 0x2019}, {"lsquo", 0x2018}, {"rdquo", 0x201d},
            {"ldquo", 0x201c},  {"bull", 0x2022},  {"middot", 0xb7},  {"times", 0xd7},
            {"copy", 0xa9},     {"reg", 0xae},     {"trade", 0x2122}, {"zwsp", 0x200b},
        };
        size_t end;

        if (n < 3 || s[0] != '&')
                return 0;
        for (end = 1; end < n && end < 12 && s[end] != ';'; end++)
                ;
        if (end >= n || s[end] != ';')
                return 0;

        if (s[1] == '#') {
                bool hex = end > 2 && (s[2] == 'x' || s[2] == 'X');
                size_t i = hex ? 3 : 2;
                uint32_t cp = 0;

                if (i >= end)
                        return 0;
                for (; i < end; i++) {
                        char ch = s[i];
                        unsigned d;
                        if (ch >= '0' && ch <= '9')
                                d = (unsigned)(ch - '0');
                        else if (hex && ch >= 'a' && ch <= 'f')
                                d = (unsigned)(ch - 'a' + 10);
                        else if (hex && ch >= 'A' && ch <= 'F')
                                d = (unsigned)(ch - 'A' + 10);
                        else
                                return 0;
                        cp = cp * (hex ? 16 : 10) + d;
                        if (cp > 0x10ffff)
                                cp = 0x110000;
                }
                *ret_len = utf8_encode(cp, out);
                return end + 1;
        }
        for (size_t k = 0; k < ELEMENTSOF(named); k++)
                if (strlen(named[k].name) == end - 1 &&
                    memcmp(s + 1, named[k].name, end - 1) == 0) {
                        *ret_len = utf8_encode(named[k].cp, out);
                        return end + 1;
                }
        return 0;
}

bool table_tag_breaks(const char *name, size_t n)
{
        static const char *const tags[] = {"br", "p",  "div", "li", "ul", "ol", "dt", "dd",
                                           "h1", "h2", "h3",  "h4", "h5", "h6", "hr"};
        for (size_t i = 0; i < ELEMENTSOF(tags); i++)
                if (strlen(tags[i]) == n && strncasecmp(tags[i], name, n) == 0)
                        return true;
        return false;
}

double table_parse_price(const char *s)
{
        static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                                       1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
        uint64_t mant = 0;
        unsigned digits = 0, frac = 0;
        const char *p = s, *q;
        double v;

        if (!s)
                return NAN;
        while (*p && (is_ascii_space(*p) || *p == '~'))
                p++;
        if ((q = startswith_no_case(p, "usd")))
                p = q;
        while (*p == ' ')
                p++;
        if (*p == '$')
                p++;
        while (*p == ' ')
                p++;
        if (*p < '0' || *p > '9')
                return NAN;
        for (; *p; p++) {
                if (*p >= '0' && *p <= '9') {
                        if (digits >= 18)
                                return NAN;
                        mant = mant * 10 + (uint64_t)(*p - '0');
                        digits++;
                        if (frac)
                                frac++;
                        continue;
                }
                /* A comma groups thousands only when exactly three digits follow. */
                if (*p == ',' && !frac && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
                    p[2] <= '9' && p[3] >= '0' && p[3] <= '9' && !(p[4] >= '0' && p[4] <= '9'))
                        continue;
                if (*p == '.' && !frac && p[1] >= '0' && p[1] <= '9') {
                        frac = 1;
                        continue;
                }
                break;
        }
        v = (double)mant / pow10[frac ? frac - 1 : 0];

        _cleanup_free_ char *rest = xstrdup(p);
        for (char *c = rest; *c; c++)
                *c = ascii_lower(*c);
        if (strstr(rest, "1k") || strstr(rest, "1,000 ") || strstr(rest, "1000 ") ||
            strstr(rest, "thousand") || strstr(rest, "/k"))
                v *= 1e3;
        else if (strstr(rest, "/token") || strstr(rest, "per token") || strstr(rest, "/tok"))
                v *= 1e6;
        return v;
}

static const char *const month_names[12] = {
    "january", "february", "march",     "april",   "may",      "june",
    "july",    "august",   "september", "october", "november", "december",
};

static unsigned days_in_month(unsigned y, unsigned m)
{
        static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return m == 2 && leap ? 29 : dim[m - 1];
}

static const char *parse_digits(const char *p, unsigned min, unsigned max, unsigned *ret)
{
        unsigned v = 0, n = 0;
        while (*p >= '0' && *p <= '9' && n < max) {
                v = v * 10 + (unsigned)(*p - '0');
                p++;
                n++;
        }
        if (n < min || (*p >= '0' && *p <= '9'))
                return NULL;
        *ret = v;
        return p;
}

int table_parse_date(const char *s, int64_t *ret)
{
        unsigned y = 0, m = 0, d = 0;
        const char *p = s;

        if (!s)
                return -EINVAL;
        while (is_ascii_space(*p))
                p++;
        if (*p >= '0' && *p <= '9') {
                p = parse_digits(p, 4, 4, &y);
                if (!p || *p != '-')
                        return -EINVAL;
                p = parse_digits(p + 1, 2, 2, &m);
                if (!p || *p != '-')
                        return -EINVAL;
                p = parse_digits(p + 1, 2, 2, &d);
                if (!p)
                        return -EINVAL;
        } else {
                for (unsigned i = 0; i < 12 && !m; i++) {
                        const char *q = startswith_no_case(p, month_names[i]);
                        /* Three-letter abbreviations, optionally with a dot ("Jan.", "Sep"). */
                        if (!q && strncasecmp(p, month_names[i], 3) == 0 &&
                            !(p[3] >= 'a' && p[3] <= 'z') && !(p[3] >= 'A' && p[3] <= 'Z'))
                                q = p[3] == '.' ? p + 4 : p + 3;
                        if (q) {
                                m = i + 1;
                                p = q;
                        }
                }
                if (!m || *p != ' ')
                        return -EINVAL;
                while (*p == ' ')
                        p++;
                p = parse_digits(p, 1, 2, &d);
                if (!p || *p != ',')
                        return -EINVAL;
                p++;
                while (*p == ' ')
                        p++;
                p = parse_digits(p, 4, 4, &y);
                if (!p)
                        return -EINVAL;
        }
        if (y < 1970 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
                return -EINVAL;
        *ret = adapter_days_from_civil(y, m, d) * 86400;
        return 0;
}

struct TableReader {
        TableColumns *cols;
        const AdapterOptions *opts;
        ObservationList *out;
        AdapterError *err;
        int field_col[_TABLE_FIELD_MAX]; /* configured column per field, or -1 */

        bool in_table;
        size_t index[TABLE_MAX_COLUMNS]; /* header cell of each configured column */
        size_t n_cells, rows, malformed;
        size_t table_offset;
        unsigned table_line;

        size_t n_chosen;
        uint64_t *shapes; /* one hash per header row that shares a configured header */
        size_t n_shapes, cap_shapes;
};

void table_reader_free(TableReader *r)
{
        if (!r)
                return;
        table_columns_free(r->cols);
        free(r->shapes);
        free(r);
}

int table_reader_new(const AdapterOptions *opts, ObservationList *out, AdapterError *err,
                     TableReader **ret)
{
        _cleanup_(table_reader_freep) TableReader *r = xcalloc(1, sizeof(*r));
        int ret_code;

        ret_code = table_columns_parse(opts->columns, &r->cols, err);
        if (ret_code < 0)
                return ret_code;
        for (int f = 0; f < _TABLE_FIELD_MAX; f++)
                r->field_col[f] = -1;
        for (size_t i = 0; i < r->cols->n; i++)
                r->field_col[r->cols->columns[i].field] = (int)i;
        r->opts = opts;
        r->out = out;
        r->err = err;
        *ret = TAKE_PTR(r);
        return 0;
}

int table_reader_header(TableReader *r, char *const *cells, size_t n, size_t offset, unsigned line)
{
        size_t found = 0;
        uint64_t h = UTIL_FNV_INIT;
        bool any = false;

        r->in_table = false;
        if (n == 0 || n > TABLE_MAX_CELLS)
                return 0;
        for (size_t c = 0; c < r->cols->n; c++)
                r->index[c] = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *key = table_header_key(cells[i]);

                h = util_fnv1a(h, key, strlen(key) + 1);
                for (size_t c = 0; c < r->cols->n; c++)
                        if (r->index[c] == SIZE_MAX && streq(key, r->cols->columns[c].key)) {
                                r->index[c] = i;
                                found++;
                                any = true;
                        }
        }
        if (!any)
                return 0;

        bool chosen = found == r->cols->n;
        /* Near misses count too: a renamed column in one of several tables must show. */
        h = util_fnv1a(h, chosen ? "C" : "P", 1);
        util_grow((void **)&r->shapes, &r->cap_shapes, r->n_shapes + 1, sizeof(uint64_t));
        r->shapes[r->n_shapes++] = h;
        if (!chosen)
                return 0;

        r->in_table = true;
        r->n_cells = n;
        r->rows = r->malformed = 0;
        r->table_offset = offset;
        r->table_line = line;
        r->n_chosen++;
        return 1;
}

bool table_reader_wants(const TableReader *r, size_t col)
{
        for (size_t c = 0; r->in_table && c < r->cols->n; c++)
                if (r->index[c] == col)
                        return true;
        return false;
}

static const char *row_cell(TableReader *r, char *const *cells, TableField f)
{
        int c = r->field_col[f];
        if (c < 0)
                return NULL;
        return cells[r->index[c]];
}

/* The first non-empty list item of a cell, or NULL. */
static char *first_item(const char *text)
{
        if (!text)
                return NULL;
        for (const char *p = text; *p;) {
                size_t l = strcspn(p, "\n");
                if (l > 0)
                        return xstrndup(p, l);
                p += l;
                if (*p)
                        p++;
        }
        return NULL;
}

/* Strip a trailing "(preview)" marker; true if there was one. */
static bool strip_preview(char *s)
{
        static const char marker[] = "(preview)";
        size_t n = s ? strlen(s) : 0, m = sizeof(marker) - 1;

        if (n < m || strcasecmp(s + n - m, marker) != 0)
                return false;
        n -= m;
        while (n > 0 && s[n - 1] == ' ')
                n--;
        s[n] = '\0';
        return true;
}

/* A list item that only says "(Preview)", as Azure puts under a model id. */
static bool has_preview_item(const char *text)
{
        if (!text)
                return false;
        for (const char *p = text; *p;) {
                size_t l = strcspn(p, "\n");
                _cleanup_free_ char *item = xstrndup(p, l);
                _cleanup_free_ char *k = table_header_key(item);

                if (streq(k, "preview"))
                        return true;
                p += l;
                if (*p)
                        p++;
        }
        return false;
}

static bool is_placeholder(const char *s)
{
        static const char *const words[] = {
            "-",           "n/a", "na", "none", "not available", "not applicable", "\xe2\x80\x94",
            "\xe2\x80\x93"};
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (strcasecmp(s, words[i]) == 0)
                        return true;
        return false;
}

static void add_regions(Observation *o, const char *text)
{
        for (const char *p = text; *p;) {
                size_t l = strcspn(p, "\n,;");
                _cleanup_free_ char *region = trim_copy(p, l);

                size_t rl = strlen(region);
                bool note = rl >= 2 && region[0] == '(' && region[rl - 1] == ')';
                if (region[0] && !note && !is_placeholder(region))
                        observation_add_region(o, region);
                p += l;
                if (*p)
                        p++;
        }
}

static Lifecycle parse_lifecycle(const char *text)
{
        _cleanup_free_ char *item = first_item(text), *compact = NULL;
        Lifecycle l;
        size_t n = 0;

        if (!item)
                return LIFECYCLE_UNKNOWN;
        /* "Generally available" must meet the table's "generallyavailable". */
        compact = xmalloc(strlen(item) + 1);
        for (const char *p = item; *p; p++)
                if (*p != ' ' && *p != '-' && *p != '_')
                        compact[n++] = *p;
        compact[n] = '\0';
        l = lifecycle_from_string(compact);
        if (l != LIFECYCLE_UNKNOWN)
                return l;
        /* "Public preview", "Deprecated (2026-01-31)": any word that is a lifecycle. */
        for (char *save = NULL, *w = strtok_r(item, " ", &save); w;
             w = strtok_r(NULL, " ", &save)) {
                _cleanup_free_ char *k = table_header_key(w);
                l = lifecycle_from_string(k);
                if (l != LIFECYCLE_UNKNOWN)
                        return l;
        }
        return LIFECYCLE_UNKNOWN;
}

static double cell_price(const char *text)
{
        _cleanup_free_ char *item = first_item(text);
        return table_parse_price(item);
}

static char *mfree_str(char *s)
{
        free(s);
        return NULL;
}

/* The n-th non-empty list item of a cell, or NULL. Items wholly in parentheses,
 * such as "(Preview)" or "(legacy name)", annotate the id above them: they are
 * not ids. */
static char *nth_id_item(const char *text, size_t nth)
{
        if (!text)
                return NULL;
        for (const char *p = text; *p;) {
                size_t l = strcspn(p, "\n");
                if (l > 0) {
                        _cleanup_free_ char *item = xstrndup(p, l);
                        _cleanup_free_ char *t = trim_copy(item, strlen(item));
                        size_t tl = strlen(t);
                        bool note = tl >= 2 && t[0] == '(' && t[tl - 1] == ')';
                        if (!note && t[0] && nth-- == 0)
                                return TAKE_PTR(t);
                }
                p += l;
                if (*p)
                        p++;
        }
        return NULL;
}

/* One observation for one model id of a row; the other columns are shared. */
static int row_add(TableReader *r, char *const *cells, char *model, char *name, bool preview,
                   size_t offset, unsigned line)
{
        _cleanup_free_ char *provider = NULL, *vendor = NULL;
        size_t max_rows = r->opts->max_rows ? r->opts->max_rows : ADAPTER_MAX_ROWS_DEFAULT;
        Observation *o;
        int k;

        /* Both run: each strips its own marker. */
        if (strip_preview(model))
                preview = true;
        if (strip_preview(name))
                preview = true;
        if (name && !name[0])
                name = mfree_str(name);
        if (model && !model[0])
                model = mfree_str(model);
        if (!model && name)
                model = xstrdup(name);
        if (!model || strlen(model) > ADAPTER_MAX_ID_LEN) {
                free(model);
                free(name);
                return 0;
        }

        provider = first_item(row_cell(r, cells, TABLE_FIELD_PROVIDER));
        if (!provider)
                provider = xstrdup(r->opts->provider);
        if (provider && strlen(provider) > ADAPTER_MAX_ID_LEN) {
                free(model);
                free(name);
                return 0;
        }
        vendor = first_item(row_cell(r, cells, TABLE_FIELD_VENDOR));
        if (!vendor)
                vendor = xstrdup(r->opts->vendor);

        k = observation_list_add(r->out, max_rows, &o);
        if (k < 0) {
                free(model);
                free(name);
                adapter_error(r->err, offset, "more than %zu rows", max_rows);
                r->err->line = line;
                return k;
        }
        o->model = model;
        o->name = name;
        o->provider = TAKE_PTR(provider);
        o->vendor = TAKE_PTR(vendor);
        o->lifecycle = parse_lifecycle(row_cell(r, cells, TABLE_FIELD_LIFECYCLE));
        if (o->lifecycle == LIFECYCLE_UNKNOWN && preview)
                o->lifecycle = LIFECYCLE_PREVIEW;
        o->available = o->lifecycle != LIFECYCLE_RETIRED;
        if (row_cell(r, cells, TABLE_FIELD_REGIONS))
                add_regions(o, row_cell(r, cells, TABLE_FIELD_REGIONS));
        o->price_in = cell_price(row_cell(r, cells, TABLE_FIELD_PRICE_IN));
        o->price_out = cell_price(row_cell(r, cells, TABLE_FIELD_PRICE_OUT));
        if (row_cell(r, cells, TABLE_FIELD_EOL)) {
                _cleanup_free_ char *item = first_item(row_cell(r, cells, TABLE_FIELD_EOL));
                int64_t t;
                if (item && table_parse_date(item, &t) >= 0)
                        o->eol = t;
        }
        return 0;
}

int table_reader_row(TableReader *r, char *const *cells, size_t n, size_t offset, unsigned line)
{
        if (!r->in_table)
                return 0;
        r->rows++;
        if (n != r->n_cells) {
                r->malformed++;
                return 0;
        }

        const char *model_cell = row_cell(r, cells, TABLE_FIELD_MODEL);
        const char *name_cell = row_cell(r, cells, TABLE_FIELD_NAME);
        bool preview = has_preview_item(model_cell) || has_preview_item(name_cell);
        /* A docs cell may list several models ("Phi-4-reasoning <br> Phi-4-mini-reasoning"):
         * each is a row of its own. Names pair with ids by position when both list
         * several; otherwise the first name serves them all. */
        const char *id_cell = model_cell ? model_cell : name_cell;
        for (size_t i = 0; i < TABLE_MAX_ITEMS_PER_CELL; i++) {
                char *id = nth_id_item(id_cell, i);
                if (!id)
                        break;
                char *model = model_cell ? id : NULL;
                char *name = model_cell ? nth_id_item(name_cell, i) : id;
                if (model_cell && !name && i > 0)
                        name = nth_id_item(name_cell, 0);
                int k = row_add(r, cells, model, name, preview, offset, line);
                if (k < 0)
                        return k;
        }
        return 0;
}

int table_reader_end_table(TableReader *r)
{
        if (!r->in_table)
                return 0;
        r->in_table = false;
        if (r->malformed * 2 > r->rows) {
                adapter_error(r->err, r->table_offset,
                              "table at line %u: %zu of %zu rows do not have the header's %zu "
                              "cells",
                              r->table_line, r->malformed, r->rows, r->n_cells);
                r->err->line = r->table_line;
                return -EBADMSG;
        }
        return 0;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

int table_reader_finish(TableReader *r)
{
        uint64_t h = UTIL_FNV_INIT;

        if (r->n_chosen == 0) {
                char list[200] = "";
                size_t used = 0;

                for (size_t i = 0; i < r->cols->n; i++) {
                        int w = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
                                         r->cols->columns[i].header);
                        if (w < 0 || (size_t)w >= sizeof(list) - used)
                                break;
                        used += (size_t)w;
                }
                return adapter_error(r->err, 0, "no table has the headers: %s", list);
        }

        /* Repeated tables (one per section or moniker) are one shape: only the set counts. */
        qsort(r->shapes, r->n_shapes, sizeof(uint64_t), cmp_u64);
        for (size_t i = 0; i < r->n_shapes; i++)
                if (i == 0 || r->shapes[i] != r->shapes[i - 1])
                        h = util_fnv1a(h, &r->shapes[i], sizeof(uint64_t));
        r->out->fingerprint = h;
        return 0;
}
