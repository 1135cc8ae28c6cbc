/* Shared by the html-table and markdown-table adapters: the column spec
 * ("Header:field, Header:field"), header matching, and turning one row of cell
 * texts into observations. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define TABLE_MAX_COLUMNS    16            /* configured columns per spec */
#define TABLE_MAX_SPEC_LEN   4096          /* bytes of a column spec */
#define TABLE_MAX_HEADER_LEN 256           /* bytes of one header in a spec */
#define TABLE_MAX_CELLS      256           /* cells per table row, after colspan */
#define TABLE_MAX_CELL_LEN   (64u * 1024u) /* bytes of one cell's text; the rest is dropped */
#define TABLE_MAX_SPAN       1000          /* colspan/rowspan values are clamped to this */
#define TABLE_MAX_ITEMS_PER_CELL 16    /* models listed in one cell (<br>-separated) */
/* HTML element nesting; deeper pages fail. Below libxml2's own limit of 256 open
 * elements, where it silently stops parsing: ours must fire first, with a clear error. */
#define TABLE_MAX_TREE_DEPTH 192

/* Cell texts separate list items (from <br>, block elements) with this byte. */
#define TABLE_ITEM_SEP '\n'

typedef enum TableField {
        TABLE_FIELD_MODEL,
        TABLE_FIELD_NAME,
        TABLE_FIELD_REGIONS,
        TABLE_FIELD_PROVIDER,
        TABLE_FIELD_VENDOR,
        TABLE_FIELD_LIFECYCLE,
        TABLE_FIELD_PRICE_IN,
        TABLE_FIELD_PRICE_OUT,
        TABLE_FIELD_EOL,
        _TABLE_FIELD_MAX,
} TableField;

typedef struct TableColumn {
        char *header;     /* as written in the spec, escapes resolved, trimmed */
        char *key;        /* the header as table_header_key() normalizes it */
        TableField field; /* what the cells of this column give */
} TableColumn;

/* A parsed column spec. */
typedef struct TableColumns {
        TableColumn columns[TABLE_MAX_COLUMNS];
        size_t n;
} TableColumns;

/* Accumulates one cell's text: collapses whitespace, caps the length. */
typedef struct TableText {
        char *buf;
        size_t len, cap;
        bool pending_space; /* whitespace seen since the last byte kept */
} TableText;

typedef struct TableReader TableReader;

/* Name of a field as written in specs ("price_in"), or NULL if out of range. */
const char *table_field_name(TableField f);
/* Field for a spec word (exact, lower case), or -EINVAL. */
int table_field_from_string(const char *s);

/* Parse "Header:field, Header:field"; on error err says which column and why. */
int table_columns_parse(const char *spec, TableColumns **ret, AdapterError *err);
/* Free a parsed spec; NULL is fine. */
void table_columns_free(TableColumns *c);
DEFINE_FREEP(TableColumns, table_columns_free)

/* Header text normalized for matching: ASCII lower case, whitespace collapsed,
 * punctuation and markup residue trimmed at both ends. */
char *table_header_key(const char *text);

/* Append n bytes of text (NUL bytes ignored) to a cell, collapsing whitespace. */
void table_text_append(TableText *t, const char *s, size_t n);
/* End the current list item of a cell (a <br>, a block element). */
void table_text_break(TableText *t);
/* Take the finished cell text ("" when empty) and reset t for the next cell. */
char *table_text_steal(TableText *t);
/* Free whatever t holds. */
void table_text_done(TableText *t);
/* Decode an HTML entity at s (which starts with '&'); returns bytes consumed, 0 if none. */
size_t table_decode_entity(const char *s, size_t n, char out[static 8], size_t *ret_len);

/* True if an element of this name (lower case, n bytes) ends a list item in a cell. */
bool table_tag_breaks(const char *name, size_t n);

/* USD per million tokens from a price cell ("$3", "3.00 /1M", "$0.003 per 1K"); NAN if none. */
double table_parse_price(const char *s);
/* A date cell, "2026-01-31" or "January 31, 2026", as seconds since the epoch (UTC). */
int table_parse_date(const char *s, int64_t *ret);

/* Start reading tables for one parse: parses opts->columns (errors go to err). */
int table_reader_new(const AdapterOptions *opts, ObservationList *out, AdapterError *err,
                     TableReader **ret);
/* Free a reader; NULL is fine. */
void table_reader_free(TableReader *r);
DEFINE_FREEP(TableReader, table_reader_free)
/* Offer a table's header cells; 1 if the table is chosen (feed its rows), 0 if not. */
int table_reader_header(TableReader *r, char *const *cells, size_t n, size_t offset, unsigned line);
/* True if cell col of the chosen table's rows feeds a configured column (others may be ""). */
bool table_reader_wants(const TableReader *r, size_t col);
/* Feed one body row of the chosen table; negative only on a fatal error (row cap). */
int table_reader_row(TableReader *r, char *const *cells, size_t n, size_t offset, unsigned line);
/* End the chosen table; fails if more than half of its rows were malformed. */
int table_reader_end_table(TableReader *r);
/* End the page: fails if no table was chosen; sets the list's fingerprint. */
int table_reader_finish(TableReader *r);
