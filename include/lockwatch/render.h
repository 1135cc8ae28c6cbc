/* Rendering the matrix for people (a provider-by-model grid) and for machines
 * (a stable JSON schema, docs/json-schema.md). Shared by lockwatchd --once and
 * lockwatchctl. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "lockwatch/matrix.h"

typedef struct RenderOptions {
        const char *model_glob;    /* fnmatch(3) filter on canonical ids, NULL = all */
        const char *vendor_glob;   /* on the vendor part of the id, NULL = all */
        const char *provider_glob; /* on provider ids: the columns shown, and rows with a
                                      cell there; summaries still count every column */
        const char *on_glob;       /* rows available on some provider matching it */
        const char *not_on_glob;   /* rows available on no provider matching it */
        bool by_clouds;            /* only rows available on exactly `clouds` clouds */
        unsigned clouds;
        bool single_cloud;         /* rows on one cloud that another cloud dropped */
        size_t width;              /* terminal columns to fit (0 = no limit): the model
                                      column is cut, then provider columns left out */
        bool color;             /* ANSI colours (only when writing to a terminal) */
        bool ascii;             /* marks in plain ASCII instead of UTF-8 symbols */
        bool compact;           /* one column per cloud, then one "direct" summary column
                                   and an aggregator count, instead of every provider */
} RenderOptions;

#define RENDER_SCHEMA "lockwatch.matrix/1" /* the JSON document's "schema" */

/* A grid drawn in parts: measure every selected row, then the head, each selected row
 * (in matrix order), and the tail. Its columns are the providers of the matrix it was
 * started on, kept by id. */
typedef struct RenderGrid RenderGrid;

/* Print the grid: rows models, columns providers grouped clouds | direct | aggregators
 * (or, with o->compact, clouds | a direct summary | an aggregator count). */
int render_matrix_text(FILE *f, const Matrix *m, const RenderOptions *o);
/* Start a grid of m under o (copied; its globs stay the caller's). */
int render_grid_new(const Matrix *m, const RenderOptions *o, RenderGrid **ret);
/* Free a grid; NULL is fine. */
void render_grid_free(RenderGrid *g);
/* Find the grid's columns in m again: call before measuring or drawing rows of a matrix
 * that may have changed since the last call (a provider added or gone). */
void render_grid_sync(RenderGrid *g, const Matrix *m);
/* Count one selected row into the layout (the model column's width, the columns shown). */
void render_grid_measure(RenderGrid *g, const MatrixModel *mm);
/* Fit the layout to the options' width and print the heading lines. */
int render_grid_head(RenderGrid *g, FILE *f);
/* Print one selected row of m. */
int render_grid_row(RenderGrid *g, const Matrix *m, const MatrixModel *mm, FILE *f);
/* Print what follows the rows (columns left out, the legend) and flush f. */
int render_grid_tail(RenderGrid *g, FILE *f);
/* Build the JSON document of the matrix (schema in docs/json-schema.md). */
int render_matrix_json(const Matrix *m, const RenderOptions *o, json_t **ret);
/* Build the document's "providers" array: every column of m with its kind. */
int render_providers_json(const Matrix *m, json_t **ret);
/* Build one entry of the document's "models" array: the row mm of m. */
int render_model_json(const Matrix *m, const MatrixModel *mm, json_t **ret);
/* True if model id passes the options' model filter. */
bool render_model_selected(const RenderOptions *o, const char *model_id);
/* True if the row passes every filter of the options (model, vendor, provider, clouds). */
bool render_row_selected(const Matrix *m, const RenderOptions *o, const MatrixModel *mm);
/* How many rows pass the options' filters. */
size_t render_rows_selected(const Matrix *m, const RenderOptions *o);
