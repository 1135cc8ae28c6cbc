/* html-table: tables of any HTML page, each chosen by its header names (docs/adapters-tables.md).
 */
#include <errno.h>
#include <limits.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "lockwatch/adapter.h"
#include "lockwatch/table.h"
#include "lockwatch/util.h"

typedef struct HtmlSpan {
        char *text;
        unsigned left; /* rows still covered by a rowspan */
} HtmlSpan;

typedef struct HtmlRow {
        xmlNode *tr;
        bool head; /* in <thead> */
        bool foot; /* in <tfoot> */
} HtmlRow;

static void html_xml_freep(xmlChar **p)
{
        if (*p)
                xmlFree(*p);
}

static void *mfree(void *p)
{
        free(p);
        return NULL;
}

static bool html_is(const xmlNode *n, const char *name)
{
        return n->type == XML_ELEMENT_NODE && n->name && streq((const char *)n->name, name);
}

static bool html_is_cell(const xmlNode *n)
{
        return html_is(n, "td") || html_is(n, "th");
}

/* Content that never belongs to the cell holding it: nested tables have their own rows. */
static bool html_skipped(const xmlNode *n)
{
        return html_is(n, "table") || html_is(n, "script") || html_is(n, "style") ||
               html_is(n, "template");
}

static bool html_breaks(const xmlNode *n)
{
        return n->type == XML_ELEMENT_NODE && n->name &&
               table_tag_breaks((const char *)n->name, strlen((const char *)n->name));
}

static unsigned html_line(const xmlNode *n)
{
        long l = xmlGetLineNo(n);
        return l > 0 && l < INT_MAX ? (unsigned)l : 0;
}

/* Text of a cell: text nodes in document order; <br> and block elements end list items. */
static char *html_cell_text(xmlNode *cell)
{
        TableText t = {0};
        xmlNode *n = cell->children;

        while (n) {
                bool descend = false;

                if (n->type == XML_ELEMENT_NODE && !html_skipped(n)) {
                        if (html_breaks(n))
                                table_text_break(&t);
                        descend = n->children != NULL;
                } else if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) &&
                           n->content) {
                        table_text_append(&t, (const char *)n->content,
                                          strlen((const char *)n->content));
                }
                if (descend) {
                        n = n->children;
                        continue;
                }
                if (html_breaks(n) && !html_skipped(n))
                        table_text_break(&t);
                while (!n->next) {
                        n = n->parent;
                        if (!n || n == cell)
                                return table_text_steal(&t);
                        if (html_breaks(n))
                                table_text_break(&t);
                }
                n = n->next;
        }
        return table_text_steal(&t);
}

static unsigned html_span(xmlNode *cell, const char *attr)
{
        _cleanup_(html_xml_freep) xmlChar *v = NULL;
        unsigned long x = 0;

        /* Most cells have no attributes: skip the lookup and its allocation. */
        if (!cell->properties)
                return 1;
        v = xmlGetProp(cell, (const xmlChar *)attr);
        if (!v)
                return 1;
        for (const xmlChar *p = v; *p >= '0' && *p <= '9'; p++) {
                x = x * 10 + (unsigned long)(*p - '0');
                if (x > TABLE_MAX_SPAN)
                        x = TABLE_MAX_SPAN;
        }
        return x == 0 ? 1 : (unsigned)x;
}

static void html_spans_clear(HtmlSpan *spans)
{
        for (size_t i = 0; i <= TABLE_MAX_CELLS; i++) {
                free(spans[i].text);
                spans[i] = (HtmlSpan){0};
        }
}

/* Cells of one row, with colspan repeated across columns and rowspan carried down
 * through spans (NULL for a header row, which carries nothing into the body). */
static size_t html_row_cells(const TableReader *r, xmlNode *tr, HtmlSpan *spans, char **cells)
{
        size_t n = 0;
        xmlNode *c = tr->children;

        for (;;) {
                while (spans && n <= TABLE_MAX_CELLS && spans[n].left > 0) {
                        cells[n] = xstrdup(spans[n].text);
                        if (--spans[n].left == 0)
                                spans[n].text = mfree(spans[n].text);
                        n++;
                }
                while (c && !html_is_cell(c))
                        c = c->next;
                if (!c || n > TABLE_MAX_CELLS)
                        break;

                unsigned cols = html_span(c, "colspan");
                unsigned rows = spans ? html_span(c, "rowspan") : 1;
                bool wanted = !spans;
                for (unsigned j = 0; j < cols && !wanted; j++)
                        wanted = table_reader_wants(r, n + j);
                /* Long cells no configured column reads (descriptions) are not worth
                 * flattening; the header row is always read in full. */
                _cleanup_free_ char *text = wanted ? html_cell_text(c) : xstrdup("");
                for (unsigned j = 0; j < cols && n <= TABLE_MAX_CELLS; j++, n++) {
                        cells[n] = xstrdup(text);
                        if (rows > 1) {
                                free(spans[n].text);
                                spans[n] = (HtmlSpan){xstrdup(text), rows - 1};
                        }
                }
                c = c->next;
        }
        return n;
}

static void html_cells_free(char **cells, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(cells[i]);
}

/* The rows of a table, not those of tables nested in its cells. */
static void html_collect_rows(xmlNode *table, HtmlRow **rows, size_t *n, size_t *cap)
{
        xmlNode *node = table->children;

        while (node) {
                bool descend = false;

                if (html_is(node, "tr")) {
                        bool head = false, foot = false;
                        for (xmlNode *p = node->parent; p && p != table; p = p->parent) {
                                head |= html_is(p, "thead");
                                foot |= html_is(p, "tfoot");
                        }
                        util_grow((void **)rows, cap, *n + 1, sizeof(HtmlRow));
                        (*rows)[(*n)++] = (HtmlRow){node, head, foot};
                } else if (node->type == XML_ELEMENT_NODE && !html_is(node, "table")) {
                        descend = node->children != NULL;
                }
                if (descend) {
                        node = node->children;
                        continue;
                }
                while (!node->next) {
                        node = node->parent;
                        if (!node || node == table)
                                return;
                }
                node = node->next;
        }
}

static int html_table(TableReader *r, xmlNode *table)
{
        _cleanup_free_ HtmlRow *rows = NULL;
        _cleanup_free_ HtmlSpan *spans = NULL;
        char *cells[TABLE_MAX_CELLS + 1];
        size_t n_rows = 0, cap = 0, header = SIZE_MAX, n;
        int k;

        html_collect_rows(table, &rows, &n_rows, &cap);
        for (size_t i = 0; i < n_rows && header == SIZE_MAX; i++)
                if (rows[i].head)
                        header = i;
        if (header == SIZE_MAX && n_rows > 0)
                header = 0;
        if (header == SIZE_MAX)
                return 0;

        n = html_row_cells(r, rows[header].tr, NULL, cells);
        k = table_reader_header(r, cells, n, 0, html_line(rows[header].tr));
        html_cells_free(cells, n);
        if (k <= 0)
                return k;

        spans = xcalloc(TABLE_MAX_CELLS + 1, sizeof(HtmlSpan));
        for (size_t i = 0; i < n_rows; i++) {
                /* Extra <thead> rows are sub-headers and <tfoot> often repeats the header. */
                if (i == header || rows[i].head || rows[i].foot)
                        continue;
                n = html_row_cells(r, rows[i].tr, spans, cells);
                k = table_reader_row(r, cells, n, 0, html_line(rows[i].tr));
                html_cells_free(cells, n);
                if (k < 0)
                        break;
        }
        html_spans_clear(spans);
        if (k < 0)
                return k;
        return table_reader_end_table(r);
}

/* Every <table> in document order, nested ones after the table holding them. */
static int html_find_tables(xmlNode *root, xmlNode ***tables, size_t *n, AdapterError *err)
{
        size_t cap = 0;
        unsigned depth = 0;
        xmlNode *node = root->children;

        while (node) {
                if (html_is(node, "table")) {
                        util_grow((void **)tables, &cap, *n + 1, sizeof(xmlNode *));
                        (*tables)[(*n)++] = node;
                }
                if (node->type == XML_ELEMENT_NODE && node->children) {
                        if (++depth > TABLE_MAX_TREE_DEPTH) {
                                adapter_error(err, 0, "HTML nested deeper than %d elements",
                                              TABLE_MAX_TREE_DEPTH);
                                err->line = html_line(node);
                                return -ELOOP;
                        }
                        node = node->children;
                        continue;
                }
                while (!node->next) {
                        node = node->parent;
                        depth--;
                        if (!node || node == root)
                                return 0;
                }
                node = node->next;
        }
        return 0;
}

static void html_doc_freep(htmlDocPtr *doc)
{
        if (*doc)
                xmlFreeDoc(*doc);
}

int adapter_html_table_parse(const char *data, size_t len, const AdapterOptions *opts,
                             ObservationList *out, AdapterError *err)
{
        _cleanup_(table_reader_freep) TableReader *r = NULL;
        _cleanup_(html_doc_freep) htmlDocPtr doc = NULL;
        _cleanup_free_ xmlNode **tables = NULL;
        size_t max_bytes = opts->max_bytes ? opts->max_bytes : ADAPTER_MAX_BYTES_DEFAULT;
        size_t n_tables = 0;
        int k;

        if (len > max_bytes || len > INT_MAX)
                return adapter_error(err, 0, "input of %zu bytes exceeds the cap of %zu", len,
                                     MIN(max_bytes, (size_t)INT_MAX)),
                       -EFBIG;
        k = table_reader_new(opts, out, err, &r);
        if (k < 0)
                return k;

        if (len > 0) {
                doc = htmlReadMemory(data, (int)len, NULL, "UTF-8",
                                     HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR |
                                         HTML_PARSE_NOWARNING | HTML_PARSE_NOBLANKS);
                if (!doc)
                        return adapter_error(err, 0, "not a parseable HTML document");
                k = html_find_tables((xmlNode *)doc, &tables, &n_tables, err);
                if (k < 0)
                        return k;
        }
        for (size_t i = 0; i < n_tables; i++) {
                k = html_table(r, tables[i]);
                if (k < 0)
                        return k;
        }
        return table_reader_finish(r);
}
